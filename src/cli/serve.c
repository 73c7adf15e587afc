/* tcdist serve: the models as an HTTP service (docs/serving.md). The main thread owns the signals
 * and the reloads: it polls the model files a few times a second (training replaces model.h5 by
 * an atomic rename), reloads all on SIGHUP, and drains on SIGTERM or SIGINT. The requests run on
 * libmicrohttpd's thread pool (serve/http.c). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/args.h"
#include "serve/handlers.h"
#include "serve/http.h"
#include "serve/metrics.h"
#include "serve/models.h"
#include "tcdist.h"

/* The token file's first line, without surrounding blanks. NULL (and a message) if unreadable or empty. */
static char *read_token(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tcd_error("--token-file %s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = buf, *e;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    for (e = s; *e && *e != '\n' && *e != '\r'; e++) {
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *e = 0;
    if (!*s) {
        tcd_error("--token-file %s: empty (put the token on its first line)", path);
        return NULL;
    }
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
            tcd_error("--token-file %s: the token has a blank or non-ASCII byte at byte %ld; "
                      "use printable ASCII without spaces", path, (long)(c - buf));
            return NULL;
        }
    return tcd_strdup(s);
}

/* A signal taken by a thread that does not block it: threads a library started before main (OpenBLAS's
 * pool) have every signal unblocked, and where the main thread is not in sigtimedwait the kernel hands
 * a process-wide SIGTERM to one of them; without a handler its default action ended the server
 * instead of draining it. The handler records it for serve_loop. */
static volatile sig_atomic_t caught_stop, caught_hup;

static void on_signal(int sig) {
    if (sig == SIGHUP)
        caught_hup = 1;
    else
        caught_stop = sig;
}

/* Waits for signals and polls the model files until SIGTERM or SIGINT. */
static int serve_loop(tcd_model_set *set, const sigset_t *sigs) {
    for (;;) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig != SIGTERM && sig != SIGINT && caught_stop) sig = caught_stop;
        if (sig == SIGTERM || sig == SIGINT) return sig;
        const int hup = sig == SIGHUP || caught_hup;
        caught_hup = 0;
        tcd_models_poll(set, hup);
    }
}

int tcd_cmd_serve(int argc, char **argv) {
    tcd_str_list models = {0};
    const char *listen = "127.0.0.1:8080", *token_file = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t threads = ncpu > 1 ? ncpu : 1, max_batch = 64, max_delay_us = 0, max_docs = 1024,
            max_body = 8 << 20, timeout_s = 15, max_conns = 512, drain_s = 30;
    int quiet = 0;
    const tcd_opt opts[] = {
        {"--model", TCD_OPT_LIST, &models, "[NAME=]RUN_DIR|MODEL.h5",
         "a model to serve (repeatable); NAME defaults to the run dir's name or the file's name"},
        {"--listen", TCD_OPT_STR, &listen, "HOST:PORT", "address to bind (port 0: a free port, printed)"},
        {"--threads", TCD_OPT_I64, &threads, "N", "request threads", 1, 1024},
        {"--max-batch", TCD_OPT_I64, &max_batch, "N", "documents coalesced into one forward", 1, 1 << 20},
        {"--max-delay-us", TCD_OPT_I64, &max_delay_us, "U",
         "wait up to U microseconds for more documents, only while other requests are arriving", 0, 1000000},
        {"--max-docs", TCD_OPT_I64, &max_docs, "N", "documents per request (more: 413)", 1, 1 << 20},
        {"--max-body", TCD_OPT_I64, &max_body, "BYTES", "request body size (more: 413)", 64, 1LL << 32},
        {"--timeout", TCD_OPT_I64, &timeout_s, "SECONDS", "close a connection idle this long", 1, 3600},
        {"--max-connections", TCD_OPT_I64, &max_conns, "N", "open connections at most", 1, 65536},
        {"--drain-timeout", TCD_OPT_I64, &drain_s, "SECONDS", "on SIGTERM, wait this long for requests in flight",
         0, 3600},
        {"--token-file", TCD_OPT_STR, &token_file, "FILE", "require 'Authorization: Bearer TOKEN' (health exempt)"},
        {"--quiet", TCD_OPT_FLAG, &quiet, NULL, "no access log lines"},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse("tcdist serve --model [NAME=]RUN_DIR|MODEL.h5 [--model ...] [--listen HOST:PORT] "
                             "[--threads N] [--max-batch N] [--max-delay-us U] [--token-file F]",
                             "Serves the models over HTTP: the Open Inference Protocol v2 (/v2/...), a TF Serving\n"
                             "style /v1/models/NAME:predict, and /metrics. Reloads a model when its file is\n"
                             "replaced or on SIGHUP; drains and exits 0 on SIGTERM. See docs/serving.md.",
                             opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (n_pos) {
        tcd_error("unexpected argument '%s' (models are given with --model)", pos[0]);
        free(pos);
        return TCD_EXIT_USAGE;
    }
    free(pos);
    if (!models.n) {
        tcd_error("--model is required (see tcdist serve --help)");
        return TCD_EXIT_USAGE;
    }
    char err[1024];
    if (tcd_http_check_listen(listen, err, sizeof err) != 0) {
        tcd_error("%s", err);
        return TCD_EXIT_USAGE;
    }
    char *token = NULL;
    if (token_file && !(token = read_token(token_file))) return TCD_EXIT_ERROR;

    /* the signals go to the main thread: block them before any thread of ours starts (and catch
     * them in the threads a library started earlier, on_signal) */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    tcd_serve_metrics *metrics = tcd_serve_metrics_new();
    tcd_model_set set = {.max_batch = max_batch, .max_delay_us = max_delay_us, .forward_threads = 1,
                         .quiet = quiet, .metrics = metrics};
    const int mrc = tcd_models_open(&set, (char *const *)models.v, models.n, err, sizeof err);
    if (mrc != 0) {
        tcd_error("%s", err);
        tcd_models_close(&set);
        tcd_serve_metrics_free(metrics);
        free(token);
        return mrc == -2 ? TCD_EXIT_USAGE : TCD_EXIT_ERROR;
    }
    tcd_handler_ctx ctx = {.models = &set, .metrics = metrics, .max_docs = max_docs};
    tcd_http_opts ho = {.listen = listen, .threads = (int)threads, .max_body = max_body, .token = token,
                        .quiet = quiet, .timeout_s = (unsigned)timeout_s, .max_conns = (unsigned)max_conns,
                        .ctx = &ctx};
    tcd_http *http = tcd_http_start(&ho, err, sizeof err);
    if (!http) {
        tcd_error("%s", err);
        tcd_models_close(&set);
        tcd_serve_metrics_free(metrics);
        free(token);
        return TCD_EXIT_ERROR;
    }
    tcd_buf names = {0};
    tcd_models_names(&set, &names);
    fprintf(stderr, "tcdist serve: listening on http://%s (models: %s; %lld threads%s)\n", tcd_http_address(http),
            names.data, (long long)threads, token ? "; bearer token required" : "");
    tcd_buf_free(&names);

    const int sig = serve_loop(&set, &sigs);
    fprintf(stderr, "tcdist serve: %s: draining (new connections refused)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    const int left = tcd_http_drain(http, (double)drain_s);
    if (left) tcd_error("serve: %d request(s) still in flight after --drain-timeout %llds", left, (long long)drain_s);
    else fprintf(stderr, "tcdist serve: drained; exiting\n");
    tcd_models_close(&set);
    tcd_serve_metrics_free(metrics);
    free(token);
    return left ? TCD_EXIT_ERROR : TCD_EXIT_OK;
}
