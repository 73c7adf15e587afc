/* Counters of `tcdist serve`, updated with atomics from the request threads and written in the
 * Prometheus text format (version 0.0.4) for GET /metrics. */
#ifndef TCD_SERVE_METRICS_H
#define TCD_SERVE_METRICS_H

#include <stdint.h>

#include "base/util.h"

typedef enum {
    TCD_EP_LIVE, TCD_EP_READY, TCD_EP_SERVER, TCD_EP_METADATA, TCD_EP_MODEL_READY, TCD_EP_INFER, TCD_EP_PREDICT,
    TCD_EP_METRICS, TCD_EP_OTHER, TCD_EP_COUNT
} tcd_endpoint;

typedef struct tcd_serve_metrics tcd_serve_metrics;

tcd_serve_metrics *tcd_serve_metrics_new(void);
void tcd_serve_metrics_free(tcd_serve_metrics *m);
const char *tcd_endpoint_name(tcd_endpoint ep);
/* one answered request: its endpoint, HTTP status and seconds from its first byte to the answer */
void tcd_serve_metrics_request(tcd_serve_metrics *m, tcd_endpoint ep, int status, double seconds);
/* documents predicted and documents refused (no tokens, invalid UTF-8) */
void tcd_serve_metrics_docs(tcd_serve_metrics *m, int64_t predicted, int64_t refused);
/* one forward of `docs` documents */
void tcd_serve_metrics_batch(tcd_serve_metrics *m, int64_t docs);
void tcd_serve_metrics_write(tcd_serve_metrics *m, tcd_buf *out);

#endif
