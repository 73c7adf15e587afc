/* tcdist predict: raw text, one document per line, -> label and probability (or the top K). The text
 * is tokenized with the model's own vocabulary and tokenizer settings. A bad line is reported on
 * stderr with its file:line; it gets an empty output line (plain) or an "error" record (JSON), so
 * outputs stay aligned with inputs, and the other lines are still predicted. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/args.h"
#include "infer/predictor.h"
#include "tcdist.h"

#define PRED_BATCH 512

typedef struct {
    tcd_predictor *pred;
    const tcd_model_file *mf;
    int64_t top_k;
    int json, n_threads;
    /* the pending batch */
    const char *file[PRED_BATCH];
    int64_t line[PRED_BATCH];
    char *error[PRED_BATCH]; /* NULL for a good line */
    int n;
    int32_t *tokens;
    int64_t n_tokens, cap_tokens;
    int64_t offsets[PRED_BATCH + 1];
    int64_t good[PRED_BATCH]; /* index into the forward batch, or -1 */
    int n_good;
    float *probs;
    int64_t n_bad;
    tcd_encoder enc;
} predict_state;

static void push_tokens(predict_state *p, const int32_t *ids, int64_t n) {
    if (p->n_tokens + n > p->cap_tokens) {
        p->cap_tokens = (p->n_tokens + n) * 2 + 1024;
        p->tokens = tcd_realloc(p->tokens, sizeof(int32_t) * (size_t)p->cap_tokens);
    }
    memcpy(p->tokens + p->n_tokens, ids, sizeof(int32_t) * (size_t)n);
    p->n_tokens += n;
}

static void print_error(predict_state *p, tcd_buf *out, int i) {
    if (p->json) {
        tcd_buf_printf(out, "{\"file\": ");
        tcd_buf_json_string(out, p->file[i], strlen(p->file[i]));
        tcd_buf_printf(out, ", \"line\": %lld, \"error\": ", (long long)p->line[i]);
        tcd_buf_json_string(out, p->error[i], strlen(p->error[i]));
        tcd_buf_printf(out, "}\n");
    } else {
        tcd_buf_printf(out, "\n");
    }
}

static void print_prediction(predict_state *p, tcd_buf *out, int i) {
    const int64_t C = p->mf->n_classes;
    const float *pr = p->probs + p->good[i] * C;
    int64_t order[64];
    const int64_t k = p->top_k < C ? p->top_k : C;
    tcd_top_k(pr, C, k, order);
    if (!p->json) {
        for (int64_t j = 0; j < k; j++)
            tcd_buf_printf(out, "%s%s\t%.6f", j ? "\t" : "", p->mf->labels[order[j]], pr[order[j]]);
        tcd_buf_printf(out, "\n");
        return;
    }
    tcd_buf_printf(out, "{\"file\": ");
    tcd_buf_json_string(out, p->file[i], strlen(p->file[i]));
    tcd_buf_printf(out, ", \"line\": %lld, \"label\": ", (long long)p->line[i]);
    const char *lab = p->mf->labels[order[0]];
    tcd_buf_json_string(out, lab, strlen(lab));
    tcd_buf_printf(out, ", \"prob\": %.6f", pr[order[0]]);
    if (p->top_k > 1) {
        tcd_buf_printf(out, ", \"top\": [");
        for (int64_t j = 0; j < k; j++) {
            tcd_buf_printf(out, "%s{\"label\": ", j ? ", " : "");
            lab = p->mf->labels[order[j]];
            tcd_buf_json_string(out, lab, strlen(lab));
            tcd_buf_printf(out, ", \"prob\": %.6f}", pr[order[j]]);
        }
        tcd_buf_printf(out, "]");
    }
    tcd_buf_printf(out, "}\n");
}

static void flush(predict_state *p) {
    if (p->n_good > 0) {
        tcd_batch b = {.n = p->n_good, .tokens = p->tokens, .offsets = p->offsets, .labels = NULL};
        tcd_predictor_forward(p->pred, &b, p->probs, p->n_threads);
    }
    tcd_buf out = {0};
    for (int i = 0; i < p->n; i++) {
        if (p->error[i]) {
            print_error(p, &out, i);
            free(p->error[i]);
            p->error[i] = NULL;
        } else {
            print_prediction(p, &out, i);
        }
    }
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    tcd_buf_free(&out);
    p->n = 0;
    p->n_good = 0;
    p->n_tokens = 0;
    p->offsets[0] = 0;
}

static void add_line(predict_state *p, const char *file, int64_t line_no, const char *text, size_t len) {
    int i = p->n++;
    p->file[i] = file;
    p->line[i] = line_no;
    p->error[i] = NULL;
    p->good[i] = -1;
    const char *why = NULL;
    const int32_t *ids = NULL;
    const int64_t n = tcd_predictor_encode(p->pred, &p->enc, text, len, &ids, &why);
    if (n < 0) {
        p->error[i] = tcd_strdup(why);
        tcd_error("%s:%lld: %s", file, (long long)line_no, p->error[i]);
        p->n_bad++;
    } else {
        push_tokens(p, ids, n);
        p->good[i] = p->n_good++;
        p->offsets[p->n_good] = p->n_tokens;
    }
    if (p->n == PRED_BATCH) flush(p);
}

/* One input file (or stdin): every line is a document. Returns 0, or -1 on a read error. */
static int predict_file(predict_state *p, const char *name) {
    FILE *in = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
    const char *shown = strcmp(name, "-") == 0 ? "<stdin>" : name;
    if (!in) {
        tcd_error("%s: cannot open (%s)", name, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t line_no = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        add_line(p, shown, line_no, line, (size_t)len);
    }
    if (ferror(in)) {
        tcd_error("%s: read error after line %lld", shown, (long long)line_no);
        rc = -1;
    }
    flush(p); /* the file names in the batch must outlive it */
    free(line);
    if (in != stdin) fclose(in);
    return rc;
}

int tcd_cmd_predict(int argc, char **argv) {
    const char *model_path = NULL;
    int json = 0;
    int64_t top_k = 1, threads = 0;
    const tcd_opt opts[] = {
        {"--model", TCD_OPT_STR, &model_path, "RUN_DIR|MODEL.h5", "a run dir (uses its model.h5) or a model file"},
        {"--top-k", TCD_OPT_I64, &top_k, "K", "print the K most probable labels", 1, 64},
        {"--json", TCD_OPT_FLAG, &json, NULL, "JSON lines: {file, line, label, prob[, top]} or {file, line, error}"},
        {"--threads", TCD_OPT_I64, &threads, "N", "OpenMP threads (0: OMP_NUM_THREADS or all cores)", 0, 4096},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse("tcdist predict --model RUN_DIR|MODEL.h5 [--top-k K] [--json] [FILE...]",
                             "Reads raw text, one document per line, from the files or stdin, and prints the\n"
                             "predicted label and its probability per line (tab-separated), or the top K.",
                             opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (!model_path) {
        tcd_error("--model is required (see tcdist predict --help)");
        free(pos);
        return TCD_EXIT_USAGE;
    }
    char err[1024];
    predict_state p = {.top_k = top_k, .json = json};
    p.pred = tcd_predictor_open(model_path, err, sizeof err);
    if (!p.pred) {
        tcd_error("--model: %s", err);
        free(pos);
        return TCD_EXIT_ERROR;
    }
    p.mf = tcd_predictor_file(p.pred);
    p.n_threads = threads > 0 ? (int)threads : omp_get_max_threads();
    p.probs = tcd_malloc(sizeof(float) * PRED_BATCH * (size_t)p.mf->n_classes);
    int rc = TCD_EXIT_OK;
    for (int f = 0; f < (n_pos ? n_pos : 1); f++)
        if (predict_file(&p, n_pos ? pos[f] : "-") != 0) rc = TCD_EXIT_ERROR;
    if (p.n_bad) {
        tcd_error("%lld line(s) could not be predicted (see above)", (long long)p.n_bad);
        rc = TCD_EXIT_ERROR;
    }
    tcd_encoder_free(&p.enc);
    free(p.tokens);
    free(p.probs);
    tcd_predictor_free(p.pred);
    free(pos);
    return rc;
}
