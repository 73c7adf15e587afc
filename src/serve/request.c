/* See request.h. Every field is checked for its JSON type before use; nothing is asserted. */
#include "serve/request.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define TOP_K_MAX 1024

static int fail(int status, char *err, size_t errlen, const char *fmt, ...) TCD_PRINTF(4, 5);
static int fail(int status, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

/* parameters.top_k when present: an integer >= 1 */
static int read_params(const json_t *root, tcd_request *req, char *err, size_t errlen) {
    const json_t *params = json_object_get(root, "parameters");
    if (!params || json_is_null(params)) return 0;
    if (!json_is_object(params)) return fail(400, err, errlen, "%s: must be an object", "parameters");
    const json_t *k = json_object_get(params, "top_k");
    if (!k || json_is_null(k)) return 0;
    if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > TOP_K_MAX)
        return fail(400, err, errlen, "%s: must be an integer from 1 to %d", "parameters.top_k", TOP_K_MAX);
    req->top_k = (int64_t)json_integer_value(k);
    return 0;
}

static int alloc_texts(tcd_request *req, size_t n, int64_t max_docs, char *err, size_t errlen) {
    if (n == 0) return fail(400, err, errlen, "%s: no documents", "the request");
    if ((int64_t)n > max_docs)
        return fail(413, err, errlen, "%s: more than %lld documents in one request", "the request", (long long)max_docs);
    req->n = (int64_t)n;
    req->text = tcd_calloc(n, sizeof *req->text);
    req->len = tcd_calloc(n, sizeof *req->len);
    return 0;
}

static int parse_v1(json_t *root, int64_t max_docs, tcd_request *req, char *err, size_t errlen) {
    const json_t *inst = json_object_get(root, "instances");
    if (!inst) return fail(400, err, errlen, "%s: missing (expected {\"instances\": [\"text\", ...]})", "instances");
    if (!json_is_array(inst)) return fail(400, err, errlen, "%s: must be an array", "instances");
    int rc = alloc_texts(req, json_array_size(inst), max_docs, err, errlen);
    if (rc) return rc;
    for (size_t i = 0; i < json_array_size(inst); i++) {
        const json_t *t = json_array_get(inst, i);
        if (json_is_object(t)) t = json_object_get(t, "text");
        if (!json_is_string(t))
            return fail(400, err, errlen, "%s[%lld]: must be a string or an object with a string \"text\"", "instances",
                        (long long)i);
        req->text[i] = json_string_value(t);
        req->len[i] = json_string_length(t);
    }
    return read_params(root, req, err, errlen);
}

/* shape must be [N] or [N, 1] with N the number of data elements */
static int check_shape(const json_t *shape, size_t n, char *err, size_t errlen) {
    if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 2)
        return fail(400, err, errlen, "%s: must be [N] or [N, 1]", "inputs[0].shape");
    long long prod = 1;
    for (size_t d = 0; d < json_array_size(shape); d++) {
        const json_t *v = json_array_get(shape, d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return fail(400, err, errlen, "inputs[0].shape[%lld]: must be a non-negative integer", (long long)d);
        if (d == 1 && json_integer_value(v) != 1)
            return fail(400, err, errlen, "%s: must be [N] or [N, 1]", "inputs[0].shape");
        if (d == 0) prod = (long long)json_integer_value(v);
    }
    if (prod != (long long)n)
        return fail(400, err, errlen, "inputs[0].shape: says %lld elements but data has %lld", prod, (long long)n);
    return 0;
}

static int parse_v2(json_t *root, int64_t max_docs, tcd_request *req, char *err, size_t errlen) {
    const json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) != 1)
        return fail(400, err, errlen, "%s: must be an array with one BYTES input of texts", "inputs");
    const json_t *in = json_array_get(inputs, 0);
    if (!json_is_object(in)) return fail(400, err, errlen, "%s: must be an object", "inputs[0]");
    const json_t *name = json_object_get(in, "name"), *dt = json_object_get(in, "datatype");
    const json_t *shape = json_object_get(in, "shape"), *data = json_object_get(in, "data");
    if (!json_is_string(name)) return fail(400, err, errlen, "%s: must be a string", "inputs[0].name");
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "BYTES") != 0)
        return fail(400, err, errlen, "%s: must be \"BYTES\" (texts)", "inputs[0].datatype");
    if (!json_is_array(data)) return fail(400, err, errlen, "%s: must be an array of strings", "inputs[0].data");
    int rc = check_shape(shape, json_array_size(data), err, errlen);
    if (rc) return rc;
    rc = alloc_texts(req, json_array_size(data), max_docs, err, errlen);
    if (rc) return rc;
    for (size_t i = 0; i < json_array_size(data); i++) {
        const json_t *t = json_array_get(data, i);
        if (!json_is_string(t))
            return fail(400, err, errlen, "%s[%lld]: must be a string", "inputs[0].data", (long long)i);
        req->text[i] = json_string_value(t);
        req->len[i] = json_string_length(t);
    }
    req->input_name = tcd_strdup(json_string_value(name));
    const json_t *id = json_object_get(root, "id");
    if (id && !json_is_null(id)) {
        if (!json_is_string(id)) return fail(400, err, errlen, "%s: must be a string", "id");
        req->id = tcd_strdup(json_string_value(id));
    }
    return read_params(root, req, err, errlen);
}

int tcd_request_parse(tcd_req_kind kind, const char *body, size_t len, int64_t max_docs, tcd_request *req,
                      char *err, size_t errlen) {
    memset(req, 0, sizeof *req);
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at byte %d (line %d, column %d): %s", je.position, je.line, je.column,
                 je.text);
        return 400;
    }
    req->root_ = root;
    int rc = !json_is_object(root) ? fail(400, err, errlen, "%s: must be a JSON object", "the body")
             : kind == TCD_REQ_V1_PREDICT ? parse_v1(root, max_docs, req, err, errlen)
                                          : parse_v2(root, max_docs, req, err, errlen);
    if (rc) tcd_request_free(req);
    return rc;
}

void tcd_request_free(tcd_request *req) {
    free(req->text);
    free(req->len);
    free(req->id);
    free(req->input_name);
    if (req->root_) json_decref((json_t *)req->root_);
    memset(req, 0, sizeof *req);
}
