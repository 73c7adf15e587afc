/* The HTTP transport of `tcdist serve`: libmicrohttpd with its own epoll thread pool. Reads each
 * request body up to a cap, checks the bearer token, hands (method, path, body) to handlers.c,
 * counts the answer in the metrics and writes the access log line. The only file that includes
 * microhttpd.h. */
#ifndef TCD_SERVE_HTTP_H
#define TCD_SERVE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "serve/handlers.h"

typedef struct {
    const char *listen;   /* "HOST:PORT" (an IPv4 address or "localhost"; port 0 picks a free one) */
    int threads;          /* the pool that reads requests and runs them */
    int64_t max_body;     /* bytes; larger bodies get 413 */
    const char *token;    /* bearer token, or NULL for no auth */
    int quiet;            /* no access log */
    unsigned timeout_s;   /* an idle or slow connection is closed after this */
    unsigned max_conns;
    tcd_handler_ctx *ctx;
} tcd_http_opts;

typedef struct tcd_http tcd_http;

/* Is s a --listen address (HOST:PORT) at all? 0, or -1 with why in err (a usage error: nothing is
 * bound). */
int tcd_http_check_listen(const char *s, char *err, size_t errlen);
/* Binds and starts serving. NULL with a message in err (address in use, bad --listen). */
tcd_http *tcd_http_start(const tcd_http_opts *o, char *err, size_t errlen);
/* The bound address, "IP:PORT". */
const char *tcd_http_address(const tcd_http *h);
/* Stops accepting (the listening socket is closed, so new connections are refused), waits up to
 * timeout_s for the requests in flight to be answered, then stops. Returns the number of requests
 * still in flight when it gave up (0 on a clean drain). Frees h. */
int tcd_http_drain(tcd_http *h, double timeout_s);

#endif
