/* See metrics.h. */
#include "serve/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

static const int codes[] = {200, 400, 401, 404, 405, 413, 500, 503};
#define N_CODES (int)(sizeof codes / sizeof codes[0])
static const double lat_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_LAT (int)(sizeof lat_le / sizeof lat_le[0])
#define N_BATCH 12 /* le 1, 2, 4, ..., 2048 */

struct tcd_serve_metrics {
    atomic_llong requests[TCD_EP_COUNT][N_CODES + 1]; /* the last: any other status */
    atomic_llong lat_bucket[TCD_EP_COUNT][N_LAT + 1];
    atomic_llong lat_sum_ns[TCD_EP_COUNT];
    atomic_llong batch_bucket[N_BATCH + 1];
    atomic_llong batch_sum, batches;
    atomic_llong docs, docs_refused;
};

static const char *const ep_names[TCD_EP_COUNT] = {"health_live", "health_ready", "server_metadata",
                                                   "model_metadata", "model_ready", "infer", "predict",
                                                   "metrics", "other"};

const char *tcd_endpoint_name(tcd_endpoint ep) { return ep < TCD_EP_COUNT ? ep_names[ep] : "other"; }

tcd_serve_metrics *tcd_serve_metrics_new(void) { return tcd_calloc(1, sizeof(tcd_serve_metrics)); }
void tcd_serve_metrics_free(tcd_serve_metrics *m) { free(m); }

void tcd_serve_metrics_request(tcd_serve_metrics *m, tcd_endpoint ep, int status, double seconds) {
    if (ep >= TCD_EP_COUNT) ep = TCD_EP_OTHER;
    int c = 0;
    while (c < N_CODES && codes[c] != status) c++;
    atomic_fetch_add(&m->requests[ep][c], 1);
    int b = 0;
    while (b < N_LAT && seconds > lat_le[b]) b++;
    atomic_fetch_add(&m->lat_bucket[ep][b], 1);
    atomic_fetch_add(&m->lat_sum_ns[ep], (long long)(seconds * 1e9));
}

void tcd_serve_metrics_docs(tcd_serve_metrics *m, int64_t predicted, int64_t refused) {
    atomic_fetch_add(&m->docs, predicted);
    atomic_fetch_add(&m->docs_refused, refused);
}

void tcd_serve_metrics_batch(tcd_serve_metrics *m, int64_t docs) {
    int b = 0;
    while (b < N_BATCH && docs > (1LL << b)) b++;
    atomic_fetch_add(&m->batch_bucket[b], 1);
    atomic_fetch_add(&m->batch_sum, docs);
    atomic_fetch_add(&m->batches, 1);
}

static void write_requests(tcd_serve_metrics *m, tcd_buf *out) {
    tcd_buf_printf(out, "# HELP tcdist_requests_total HTTP requests answered, by endpoint and status.\n"
                        "# TYPE tcdist_requests_total counter\n");
    for (int e = 0; e < TCD_EP_COUNT; e++)
        for (int c = 0; c <= N_CODES; c++) {
            long long v = atomic_load(&m->requests[e][c]);
            if (!v) continue;
            if (c < N_CODES)
                tcd_buf_printf(out, "tcdist_requests_total{endpoint=\"%s\",code=\"%d\"} %lld\n", ep_names[e], codes[c], v);
            else
                tcd_buf_printf(out, "tcdist_requests_total{endpoint=\"%s\",code=\"other\"} %lld\n", ep_names[e], v);
        }
    tcd_buf_printf(out, "# HELP tcdist_request_errors_total HTTP requests answered with a status of 400 or more.\n"
                        "# TYPE tcdist_request_errors_total counter\n");
    for (int e = 0; e < TCD_EP_COUNT; e++) {
        long long v = 0;
        for (int c = 1; c <= N_CODES; c++) v += atomic_load(&m->requests[e][c]);
        tcd_buf_printf(out, "tcdist_request_errors_total{endpoint=\"%s\"} %lld\n", ep_names[e], v);
    }
}

static void write_latency(tcd_serve_metrics *m, tcd_buf *out) {
    tcd_buf_printf(out, "# HELP tcdist_request_duration_seconds Time from a request's arrival to its answer.\n"
                        "# TYPE tcdist_request_duration_seconds histogram\n");
    for (int e = 0; e < TCD_EP_COUNT; e++) {
        long long cum = 0;
        for (int b = 0; b <= N_LAT; b++) {
            cum += atomic_load(&m->lat_bucket[e][b]);
            if (b < N_LAT)
                tcd_buf_printf(out, "tcdist_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %lld\n",
                               ep_names[e], lat_le[b], cum);
            else
                tcd_buf_printf(out, "tcdist_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %lld\n",
                               ep_names[e], cum);
        }
        tcd_buf_printf(out, "tcdist_request_duration_seconds_sum{endpoint=\"%s\"} %.9f\n", ep_names[e],
                       1e-9 * (double)atomic_load(&m->lat_sum_ns[e]));
        tcd_buf_printf(out, "tcdist_request_duration_seconds_count{endpoint=\"%s\"} %lld\n", ep_names[e], cum);
    }
}

void tcd_serve_metrics_write(tcd_serve_metrics *m, tcd_buf *out) {
    write_requests(m, out);
    write_latency(m, out);
    tcd_buf_printf(out, "# HELP tcdist_batch_documents Documents per forward pass (coalesced requests).\n"
                        "# TYPE tcdist_batch_documents histogram\n");
    long long cum = 0;
    for (int b = 0; b <= N_BATCH; b++) {
        cum += atomic_load(&m->batch_bucket[b]);
        if (b < N_BATCH) tcd_buf_printf(out, "tcdist_batch_documents_bucket{le=\"%lld\"} %lld\n", 1LL << b, cum);
        else tcd_buf_printf(out, "tcdist_batch_documents_bucket{le=\"+Inf\"} %lld\n", cum);
    }
    tcd_buf_printf(out, "tcdist_batch_documents_sum %lld\ntcdist_batch_documents_count %lld\n",
                   (long long)atomic_load(&m->batch_sum), (long long)atomic_load(&m->batches));
    tcd_buf_printf(out, "# HELP tcdist_documents_total Documents predicted.\n# TYPE tcdist_documents_total counter\n"
                        "tcdist_documents_total %lld\n"
                        "# HELP tcdist_documents_refused_total Documents answered with a per-item error (no tokens, invalid UTF-8).\n"
                        "# TYPE tcdist_documents_refused_total counter\ntcdist_documents_refused_total %lld\n",
                   (long long)atomic_load(&m->docs), (long long)atomic_load(&m->docs_refused));
}
