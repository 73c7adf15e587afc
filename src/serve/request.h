/* Request bodies of `tcdist serve`: the Open Inference Protocol v2 infer body and the TF Serving
 * style :predict body, parsed with jansson into a list of texts. Pure functions of the bytes (no
 * model, no I/O), so that the fuzz target tests/fuzz/fuzz_serve_request.c drives them directly. */
#ifndef TCD_SERVE_REQUEST_H
#define TCD_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TCD_REQ_V2_INFER,   /* {"inputs": [{"name", "datatype": "BYTES", "shape": [N], "data": [...]}], ...} */
    TCD_REQ_V1_PREDICT, /* {"instances": ["text", {"text": "..."}, ...], "parameters": {...}} */
} tcd_req_kind;

typedef struct {
    int64_t n;          /* documents */
    const char **text;  /* n texts (UTF-8 as sent, not NUL-terminated: use len) */
    size_t *len;
    int64_t top_k;      /* parameters.top_k, 0 when absent */
    char *id;           /* v2 "id" to echo, or NULL */
    char *input_name;   /* v2: the BYTES input's name */
    void *root_;        /* the parsed document that text[] points into */
} tcd_request;

/* Parses BODY (LEN bytes, not NUL-terminated). At most MAX_DOCS documents. Returns 0, or the HTTP
 * status to answer (400 malformed, 413 too many documents) with a message in err naming the byte
 * position (JSON syntax) or the field. req is zeroed on failure; free with tcd_request_free. */
int tcd_request_parse(tcd_req_kind kind, const char *body, size_t len, int64_t max_docs, tcd_request *req,
                      char *err, size_t errlen);
void tcd_request_free(tcd_request *req);

#endif
