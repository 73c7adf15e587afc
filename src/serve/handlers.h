/* The endpoints of `tcdist serve`, as functions from (method, path, body) to an answer: routing,
 * the JSON of each answer, per-item errors. No HTTP library here (http.c does the transport). */
#ifndef TCD_SERVE_HANDLERS_H
#define TCD_SERVE_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "serve/metrics.h"
#include "serve/models.h"

typedef struct {
    int status;
    tcd_buf body;
    const char *content_type;
    const char *allow; /* for 405: the methods the path takes */
    tcd_endpoint ep;
    int64_t docs;      /* documents in the request, for the access log */
    int draining;      /* set by the server while it drains (ready answers 503) */
} tcd_answer;

typedef struct {
    tcd_model_set *models;
    tcd_serve_metrics *metrics;
    int64_t max_docs;
} tcd_handler_ctx;

/* Which endpoint a path is, and whether it needs a body (POST). */
tcd_endpoint tcd_route(const char *path, int *is_post);
/* Answers one request; a->body is to be freed by the caller. */
void tcd_handle(tcd_handler_ctx *ctx, const char *method, const char *path, const char *body, size_t len,
                tcd_answer *a);

#endif
