/* See handlers.h. */
#include "serve/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/predictor.h"
#include "serve/request.h"
#include "tcdist.h"

static void answer_error(tcd_answer *a, int status, const char *msg) {
    a->status = status;
    a->body.len = 0;
    tcd_buf_printf(&a->body, "{\"error\": ");
    tcd_buf_json_string(&a->body, msg, strlen(msg));
    tcd_buf_printf(&a->body, "}\n");
}

/* "/v2/models/NAME[/rest]" or "/v1/models/NAME[:rest]": the name's span and what follows it */
static int model_path(const char *path, const char *prefix, char sep, const char **name, size_t *name_len,
                      const char **rest) {
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0) return 0;
    const char *n = path + pl, *e = n;
    while (*e && *e != '/' && *e != sep) e++;
    if (e == n) return 0;
    *name = n;
    *name_len = (size_t)(e - n);
    *rest = e;
    return 1;
}

tcd_endpoint tcd_route(const char *path, int *is_post) {
    const char *name, *rest;
    size_t nl;
    *is_post = 0;
    if (!strcmp(path, "/v2/health/live")) return TCD_EP_LIVE;
    if (!strcmp(path, "/v2/health/ready")) return TCD_EP_READY;
    if (!strcmp(path, "/v2") || !strcmp(path, "/v2/")) return TCD_EP_SERVER;
    if (!strcmp(path, "/metrics")) return TCD_EP_METRICS;
    if (model_path(path, "/v2/models/", 0, &name, &nl, &rest)) {
        if (!*rest) return TCD_EP_METADATA;
        if (!strcmp(rest, "/ready")) return TCD_EP_MODEL_READY;
        if (!strcmp(rest, "/infer")) return (*is_post = 1), TCD_EP_INFER;
    }
    if (model_path(path, "/v1/models/", ':', &name, &nl, &rest)) {
        if (!strcmp(rest, ":predict")) return (*is_post = 1), TCD_EP_PREDICT;
        if (!*rest) return TCD_EP_METADATA;
    }
    return TCD_EP_OTHER;
}

static void json_labels(tcd_buf *b, const tcd_model_file *mf) {
    tcd_buf_printf(b, "[");
    for (int64_t c = 0; c < mf->n_classes; c++) {
        if (c) tcd_buf_printf(b, ", ");
        tcd_buf_json_string(b, mf->labels[c], strlen(mf->labels[c]));
    }
    tcd_buf_printf(b, "]");
}

static void answer_metadata(tcd_answer *a, tcd_served *s, int v1) {
    const tcd_model_file *mf = tcd_served_file(s);
    tcd_buf *b = &a->body;
    a->status = 200;
    if (v1) { /* the TF Serving model status shape */
        tcd_buf_printf(b, "{\"model_version_status\": [{\"version\": \"%s\", \"state\": \"AVAILABLE\", "
                          "\"status\": {\"error_code\": \"OK\", \"error_message\": \"\"}}]}\n",
                       mf->params_sha256);
        return;
    }
    tcd_buf_printf(b, "{\"name\": ");
    tcd_buf_json_string(b, tcd_served_name(s), strlen(tcd_served_name(s)));
    tcd_buf_printf(b, ", \"versions\": [\"%s\"], \"platform\": \"tcdist\", "
                      "\"inputs\": [{\"name\": \"text\", \"datatype\": \"BYTES\", \"shape\": [-1]}], "
                      "\"outputs\": [{\"name\": \"label\", \"datatype\": \"BYTES\", \"shape\": [-1]}, "
                      "{\"name\": \"probabilities\", \"datatype\": \"FP32\", \"shape\": [-1, %lld]}], "
                      "\"parameters\": {\"version\": \"%s\", \"step\": %lld, \"labels\": ",
                   mf->params_sha256, (long long)mf->n_classes, mf->params_sha256, (long long)mf->step);
    json_labels(b, mf);
    if (mf->model.shape.ova) tcd_buf_printf(b, ", \"loss\": \"ova\""); /* independent class probabilities */
    tcd_buf_printf(b, ", \"model_config\": %s, \"path\": ", mf->model_config ? mf->model_config : "null");
    tcd_buf_json_string(b, mf->path, strlen(mf->path));
    tcd_buf_printf(b, "}}\n");
}

/* v1 :predict: {"predictions": [{"label", "prob", "top": [{"label", "prob"}]} | {"error"}]} */
static void write_v1(tcd_buf *b, const tcd_model_file *mf, const tcd_request *rq, const float *probs,
                     const char **why) {
    const int64_t C = mf->n_classes, k = rq->top_k ? (rq->top_k < C ? rq->top_k : C) : 1;
    int64_t *order = tcd_malloc(sizeof(int64_t) * (size_t)k);
    tcd_buf_printf(b, "{\"predictions\": [");
    for (int64_t i = 0; i < rq->n; i++) {
        if (i) tcd_buf_printf(b, ", ");
        if (why[i]) {
            tcd_buf_printf(b, "{\"error\": ");
            tcd_buf_json_string(b, why[i], strlen(why[i]));
            tcd_buf_printf(b, "}");
            continue;
        }
        const float *p = probs + i * C;
        tcd_top_k(p, C, k, order);
        tcd_buf_printf(b, "{\"label\": ");
        tcd_buf_json_string(b, mf->labels[order[0]], strlen(mf->labels[order[0]]));
        tcd_buf_printf(b, ", \"prob\": %.9g, \"top\": [", (double)p[order[0]]);
        for (int64_t j = 0; j < k; j++) {
            tcd_buf_printf(b, "%s{\"label\": ", j ? ", " : "");
            tcd_buf_json_string(b, mf->labels[order[j]], strlen(mf->labels[order[j]]));
            tcd_buf_printf(b, ", \"prob\": %.9g}", (double)p[order[j]]);
        }
        tcd_buf_printf(b, "]}");
    }
    tcd_buf_printf(b, "], \"model_version\": \"%s\"}\n", mf->params_sha256);
    free(order);
}

static void write_bytes_output(tcd_buf *b, const char *name, int64_t n, int64_t k, const tcd_model_file *mf,
                               const float *probs, const char **why, int errors) {
    const int64_t C = mf->n_classes;
    int64_t *order = tcd_malloc(sizeof(int64_t) * (size_t)(k ? k : 1));
    tcd_buf_printf(b, "{\"name\": \"%s\", \"datatype\": \"BYTES\", \"shape\": [%lld%s", name, (long long)n,
                   k ? "" : "]");
    if (k) tcd_buf_printf(b, ", %lld]", (long long)k);
    tcd_buf_printf(b, ", \"data\": [");
    for (int64_t i = 0; i < n; i++) {
        const int64_t kk = k ? k : 1;
        if (!errors) tcd_top_k(probs + i * C, C, kk, order);
        for (int64_t j = 0; j < kk; j++) {
            if (i || j) tcd_buf_printf(b, ", ");
            const char *s = errors ? (why[i] ? why[i] : "") : why[i] ? "" : mf->labels[order[j]];
            tcd_buf_json_string(b, s, strlen(s));
        }
    }
    tcd_buf_printf(b, "]}");
    free(order);
}

static void write_fp32_output(tcd_buf *b, const char *name, int64_t n, int64_t k, const tcd_model_file *mf,
                              const float *probs) {
    const int64_t C = mf->n_classes, kk = k ? k : C;
    int64_t *order = tcd_malloc(sizeof(int64_t) * (size_t)kk);
    tcd_buf_printf(b, "{\"name\": \"%s\", \"datatype\": \"FP32\", \"shape\": [%lld, %lld], \"data\": [", name,
                   (long long)n, (long long)kk);
    for (int64_t i = 0; i < n; i++) {
        const float *p = probs + i * C;
        if (k) tcd_top_k(p, C, k, order);
        for (int64_t j = 0; j < kk; j++)
            tcd_buf_printf(b, "%s%.9g", i || j ? ", " : "", (double)(k ? p[order[j]] : p[j]));
    }
    tcd_buf_printf(b, "]}");
    free(order);
}

/* v2 infer: outputs label [N], probabilities [N, C]; with top_k also top_k_labels and
 * top_k_probabilities [N, k]; with a failed item also error [N] ("" for the good ones) */
static void write_v2(tcd_buf *b, const tcd_model_file *mf, const char *name, const tcd_request *rq,
                     const float *probs, const char **why, int64_t refused) {
    const int64_t C = mf->n_classes, k = rq->top_k ? (rq->top_k < C ? rq->top_k : C) : 0;
    tcd_buf_printf(b, "{\"model_name\": ");
    tcd_buf_json_string(b, name, strlen(name));
    tcd_buf_printf(b, ", \"model_version\": \"%s\"", mf->params_sha256);
    if (rq->id) {
        tcd_buf_printf(b, ", \"id\": ");
        tcd_buf_json_string(b, rq->id, strlen(rq->id));
    }
    tcd_buf_printf(b, ", \"outputs\": [");
    write_bytes_output(b, "label", rq->n, 0, mf, probs, why, 0);
    tcd_buf_printf(b, ", ");
    write_fp32_output(b, "probabilities", rq->n, 0, mf, probs);
    if (k) {
        tcd_buf_printf(b, ", ");
        write_bytes_output(b, "top_k_labels", rq->n, k, mf, probs, why, 0);
        tcd_buf_printf(b, ", ");
        write_fp32_output(b, "top_k_probabilities", rq->n, k, mf, probs);
    }
    if (refused) {
        tcd_buf_printf(b, ", ");
        write_bytes_output(b, "error", rq->n, 0, mf, probs, why, 1);
    }
    tcd_buf_printf(b, "]}\n");
}

static void answer_inference(tcd_handler_ctx *ctx, tcd_answer *a, tcd_served *s, const char *body, size_t len) {
    tcd_request rq;
    char err[512];
    const int v1 = a->ep == TCD_EP_PREDICT;
    int st = tcd_request_parse(v1 ? TCD_REQ_V1_PREDICT : TCD_REQ_V2_INFER, body, len, ctx->max_docs, &rq, err,
                               sizeof err);
    if (st) {
        answer_error(a, st, err);
        return;
    }
    const tcd_model_file *mf = tcd_served_file(s);
    float *probs = tcd_malloc(sizeof(float) * (size_t)(rq.n * mf->n_classes));
    const char **why = tcd_calloc((size_t)rq.n, sizeof *why);
    const int64_t good = tcd_served_predict(ctx->models, s, rq.n, rq.text, rq.len, probs, why);
    tcd_serve_metrics_docs(ctx->metrics, good, rq.n - good);
    a->docs = rq.n;
    a->status = 200;
    if (v1) write_v1(&a->body, mf, &rq, probs, why);
    else write_v2(&a->body, mf, tcd_served_name(s), &rq, probs, why, rq.n - good);
    free(probs);
    free(why);
    tcd_request_free(&rq);
}

static void answer_model(tcd_handler_ctx *ctx, tcd_answer *a, const char *path, const char *body, size_t len) {
    const int v1 = path[2] == '1';
    const char *name = path, *rest = path;
    size_t nl = 0;
    model_path(path, v1 ? "/v1/models/" : "/v2/models/", v1 ? ':' : 0, &name, &nl, &rest);
    tcd_served *s = tcd_models_acquire(ctx->models, name, nl);
    if (!s) {
        tcd_buf names = {0};
        tcd_models_names(ctx->models, &names);
        char msg[768];
        snprintf(msg, sizeof msg, "unknown model '%.*s' (serving: %s)", (int)(nl > 200 ? 200 : nl), name,
                 names.data ? names.data : "");
        tcd_buf_free(&names);
        answer_error(a, 404, msg);
        return;
    }
    if (a->ep == TCD_EP_METADATA) answer_metadata(a, s, v1);
    else if (a->ep == TCD_EP_MODEL_READY) {
        a->status = 200;
        tcd_buf_printf(&a->body, "{\"name\": ");
        tcd_buf_json_string(&a->body, tcd_served_name(s), strlen(tcd_served_name(s)));
        tcd_buf_printf(&a->body, ", \"ready\": true}\n");
    } else answer_inference(ctx, a, s, body, len);
    tcd_served_release(s);
}

void tcd_handle(tcd_handler_ctx *ctx, const char *method, const char *path, const char *body, size_t len,
                tcd_answer *a) {
    int is_post;
    a->ep = tcd_route(path, &is_post);
    a->content_type = "application/json";
    a->docs = 0;
    if (a->ep == TCD_EP_OTHER) return answer_error(a, 404, "no such endpoint (see docs/serving.md)");
    const int allowed = is_post ? !strcmp(method, "POST") : !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!allowed) {
        a->allow = is_post ? "POST" : "GET, HEAD";
        char msg[128];
        snprintf(msg, sizeof msg, "method %.16s not allowed here (allowed: %s)", method, a->allow);
        return answer_error(a, 405, msg);
    }
    a->status = 200;
    switch (a->ep) {
    case TCD_EP_LIVE: tcd_buf_printf(&a->body, "{\"live\": true}\n"); break;
    case TCD_EP_READY:
        if (a->draining) answer_error(a, 503, "draining: the server is shutting down");
        else tcd_buf_printf(&a->body, "{\"ready\": true}\n");
        break;
    case TCD_EP_SERVER:
        tcd_buf_printf(&a->body, "{\"name\": \"tcdist\", \"version\": \"%s\", \"extensions\": []}\n", TCDIST_VERSION);
        break;
    case TCD_EP_METRICS:
        a->content_type = "text/plain; version=0.0.4; charset=utf-8";
        tcd_serve_metrics_write(ctx->metrics, &a->body);
        tcd_models_metrics(ctx->models, &a->body);
        break;
    default: answer_model(ctx, a, path, body, len);
    }
}
