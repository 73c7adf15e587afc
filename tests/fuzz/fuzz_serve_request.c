/* The server's request bodies (src/serve/request.c, jansson) and its router (handlers.c): the
 * first byte picks the kind (v2 infer or v1 :predict) and a document cap, the rest is the body.
 * Checks what the handlers rely on: on success 1 <= n <= cap and every text readable over its
 * length; on failure a status of 400 or 413 with a message. The same bytes, NUL-terminated, are
 * routed as a path. */
#include "fuzz_common.h"
#include "serve/handlers.h"
#include "serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const tcd_req_kind kind = (data[0] & 1) ? TCD_REQ_V1_PREDICT : TCD_REQ_V2_INFER;
    const int64_t cap = 1 + (data[0] >> 1);
    tcd_request rq;
    char err[512] = "";
    int st = tcd_request_parse(kind, (const char *)data + 1, size - 1, cap, &rq, err, sizeof err);
    if (st == 0) {
        if (rq.n < 1 || rq.n > cap || rq.top_k < 0) abort();
        unsigned sum = 0;
        for (int64_t i = 0; i < rq.n; i++)
            for (size_t j = 0; j < rq.len[i]; j++) sum += (unsigned char)rq.text[i][j];
        if (sum == 0xdeadbeef) fprintf(stderr, "%u\n", sum); /* keep the reads */
        tcd_request_free(&rq);
    } else if ((st != 400 && st != 413) || !err[0]) {
        abort();
    }
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = 0;
    int is_post;
    tcd_endpoint ep = tcd_route(path, &is_post);
    if (ep < 0 || ep >= TCD_EP_COUNT) abort();
    free(path);
    return 0;
}
