/* See http.h. */
#include "serve/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tcd_http {
    struct MHD_Daemon *d;
    tcd_http_opts o;
    char address[80];
    atomic_int in_flight;
    atomic_int draining;
};

typedef struct {
    double t0;
    tcd_endpoint ep;
    int early;      /* 1 once an answer was queued before the body was read (401, 413) */
    int deferred;   /* 401 or 413, known from the headers or from a chunked body passing --max-body:
                     * answered once the rest of the body is read and dropped */
    char msg[160];  /* the deferred answer's message */
    uint64_t dropped; /* body bytes read and dropped */
    tcd_buf body;
} request;

/* A request whose answer (401, 413) is known from its headers still has its body read and dropped,
 * up to this many bytes, before the answer goes out: a client that sends the body without waiting
 * (curl does below 1 MiB, with no "Expect: 100-continue") would otherwise meet the closed
 * connection while still sending, and see a broken pipe or a reset instead of the answer. A longer
 * body, or one the client holds back until "100 Continue", gets the answer at once, and the
 * connection closes. */
#define DRAIN_BYTES ((uint64_t)16 << 20)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "HOST:PORT": an IPv4 address, "localhost", or "[IPv6]" */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *v6, char *err, size_t errlen) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) {
        snprintf(err, errlen, "--listen '%s': give HOST:PORT, such as 127.0.0.1:8080", s);
        return -1;
    }
    int64_t port;
    char perr[128];
    if (tcd_parse_i64(colon + 1, 0, 65535, &port, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "--listen '%s': port: %s", s, perr);
        return -1;
    }
    char host[64];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host) hl = sizeof host - 1;
    memcpy(host, s, hl);
    host[hl] = 0;
    memset(ss, 0, sizeof *ss);
    *v6 = host[0] == '[';
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        size_t L = strlen(host);
        if (L < 3 || host[L - 1] != ']') {
            snprintf(err, errlen, "--listen '%s': an IPv6 address goes in brackets, such as [::1]:8080", s);
            return -1;
        }
        host[L - 1] = 0;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) {
            snprintf(err, errlen, "--listen '%s': '%s' is not an IPv6 address", s, host + 1);
            return -1;
        }
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        snprintf(err, errlen, "--listen '%s': '%s' is not an IPv4 address (or localhost)", s, host);
        return -1;
    }
    return 0;
}

int tcd_http_check_listen(const char *s, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    int v6;
    return parse_listen(s, &ss, &v6, err, errlen);
}

/* MHD's own messages (a broken client, a failed accept), unless --quiet */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    const tcd_http *h = cls;
    if (h->o.quiet) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t L = strlen(msg);
    while (L && (msg[L - 1] == '\n' || msg[L - 1] == '\r')) msg[--L] = 0;
    fprintf(stderr, "tcdist serve: http: %s\n", msg);
}

/* "Bearer TOKEN" against the token, in time that does not depend on where they differ */
static int token_ok(const tcd_http *h, struct MHD_Connection *c) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!v || strncmp(v, "Bearer ", 7) != 0) return 0;
    v += 7;
    const char *t = h->o.token;
    const size_t vl = strlen(v), tl = strlen(t);
    unsigned diff = vl != tl;
    for (size_t i = 0; i < tl; i++) diff |= (unsigned)(unsigned char)t[i] ^ (unsigned)(unsigned char)(i < vl ? v[i] : 0);
    return diff == 0;
}

/* the path for the log: printable ASCII, the rest as \xHH, at most ~200 bytes */
static void log_safe(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') out[o++] = (char)ch;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    out[o] = 0;
}

static void access_log(const tcd_http *h, struct MHD_Connection *c, const char *method, const char *url,
                       const char *version, int status, size_t bytes, double ms, int64_t docs) {
    if (h->o.quiet) return;
    char ip[INET6_ADDRSTRLEN] = "-", path[224], meth[40];
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    }
    log_safe(path, sizeof path, url);
    log_safe(meth, sizeof meth, method);
    fprintf(stderr, "%s \"%s %s %s\" %d %zu %.3fms docs=%lld\n", ip, meth, path, version, status, bytes, ms,
            (long long)docs);
}

static enum MHD_Result send_answer(tcd_http *h, struct MHD_Connection *c, request *r, const char *method,
                                   const char *url, const char *version, tcd_answer *a) {
    const size_t bytes = a->body.len;
    struct MHD_Response *resp =
        bytes ? MHD_create_response_from_buffer(bytes, a->body.data, MHD_RESPMEM_MUST_FREE)
              : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        tcd_buf_free(&a->body);
        return MHD_NO;
    }
    a->body.data = NULL; /* MHD frees it */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type ? a->content_type : "application/json");
    if (a->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a->allow);
    if (a->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"tcdist\"");
    if (atomic_load(&h->draining)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    const double dt = now_s() - r->t0;
    tcd_serve_metrics_request(h->o.ctx->metrics, a->ep, a->status, dt);
    access_log(h, c, method, url, version, a->status, bytes, dt * 1e3, a->docs);
    return ret;
}

static enum MHD_Result answer_error(tcd_http *h, struct MHD_Connection *c, request *r, const char *method,
                                    const char *url, const char *version, int status, const char *msg) {
    tcd_answer a = {.status = status, .ep = r->ep, .content_type = "application/json"};
    tcd_buf_printf(&a.body, "{\"error\": ");
    tcd_buf_json_string(&a.body, msg, strlen(msg));
    tcd_buf_printf(&a.body, "}\n");
    return send_answer(h, c, r, method, url, version, &a);
}

static int exempt_from_auth(tcd_endpoint ep) { return ep == TCD_EP_LIVE || ep == TCD_EP_READY; }

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    tcd_http *h = cls;
    request *r = *con_cls;
    if (!r) { /* the headers are in */
        r = tcd_calloc(1, sizeof *r);
        r->t0 = now_s();
        int is_post;
        r->ep = tcd_route(url, &is_post);
        *con_cls = r;
        atomic_fetch_add(&h->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
        const unsigned long long cl_n = cl ? strtoull(cl, NULL, 10) : 0;
        /* a body to drain first: one of known length up to DRAIN_BYTES, or a chunked one (dropped up
         * to DRAIN_BYTES, below); not when the client waits for "100 Continue" before sending it */
        const int drain = expect ? 0 : cl ? cl_n > 0 && cl_n <= DRAIN_BYTES : te != NULL;
        if (h->o.token && !exempt_from_auth(r->ep) && !token_ok(h, c)) {
            r->deferred = 401;
            snprintf(r->msg, sizeof r->msg, "missing or wrong bearer token (send 'Authorization: Bearer TOKEN')");
        } else if (cl && cl_n > (unsigned long long)h->o.max_body) {
            r->deferred = 413;
            snprintf(r->msg, sizeof r->msg, "request body of %.24s bytes is over the limit of %lld bytes (--max-body)",
                     cl, (long long)h->o.max_body);
        }
        if (r->deferred && !drain) {
            r->early = 1;
            return answer_error(h, c, r, method, url, version, r->deferred, r->msg);
        }
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (r->deferred && !r->early) {
            r->dropped += *upload_size;
            *upload_size = 0;
            if (r->dropped <= DRAIN_BYTES) return MHD_YES;
            r->early = 1; /* a body past the drain: answer now, and the connection closes */
            return answer_error(h, c, r, method, url, version, r->deferred, r->msg);
        }
        if (!r->early) {
            if (r->body.len + *upload_size > (size_t)h->o.max_body) { /* chunked, past the cap */
                r->deferred = 413;
                snprintf(r->msg, sizeof r->msg, "request body is over the limit of %lld bytes (--max-body)",
                         (long long)h->o.max_body);
                tcd_buf_free(&r->body);
                r->dropped = *upload_size;
            } else {
                tcd_buf_append(&r->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->early) return MHD_YES;
    if (r->deferred) return answer_error(h, c, r, method, url, version, r->deferred, r->msg);
    tcd_answer a = {.draining = atomic_load(&h->draining)};
    tcd_handle(h->o.ctx, method, url, r->body.data ? r->body.data : "", r->body.len, &a);
    return send_answer(h, c, r, method, url, version, &a);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    tcd_http *h = cls;
    request *r = *con_cls;
    if (!r) return;
    tcd_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&h->in_flight, 1);
}

tcd_http *tcd_http_start(const tcd_http_opts *o, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    int v6;
    if (parse_listen(o->listen, &ss, &v6, err, errlen) != 0) return NULL;
    tcd_http *h = tcd_calloc(1, sizeof *h);
    h->o = *o;
    /* poll(), not epoll: libmicrohttpd 0.9.75 (Debian 12) can abort in MHD_quiesce_daemon on an epoll
     * thread pool ("Failed to remove listen FD from epoll set": the quiescing thread and a worker
     * race to take the listen socket out of the worker's epoll set, and the loser panics); seen once
     * in 100 drains of tests/e2e/damage. With poll() each worker rebuilds its set every turn and
     * quiescing only sets a flag and wakes it. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 1 ? o->threads : 1),
                            MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, o->max_conns,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "--listen %s: cannot listen there (in use, or not an address of this machine?)",
                 o->listen);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    char ip[INET6_ADDRSTRLEN] = "";
    if (v6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
    else inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
    snprintf(h->address, sizeof h->address, v6 ? "[%s]:%u" : "%s:%u", ip, di ? (unsigned)di->port : 0u);
    return h;
}

const char *tcd_http_address(const tcd_http *h) { return h->address; }

int tcd_http_drain(tcd_http *h, double timeout_s) {
    atomic_store(&h->draining, 1);
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    const double until = now_s() + timeout_s;
    while (atomic_load(&h->in_flight) > 0 && now_s() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    const int left = atomic_load(&h->in_flight);
    MHD_stop_daemon(h->d);
    free(h);
    return left;
}
