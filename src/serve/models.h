/* The models `tcdist serve` holds: one slot per --model, each with the version now serving.
 *
 * Batching: requests for one model version are queued as jobs; the first waiting request whose
 * model is idle becomes the leader, takes queued jobs up to max_batch documents into one forward,
 * and hands each job its rows. So a lone request on an idle server runs at once, and requests that
 * arrive during a forward share the next one. With max_delay_us > 0 the leader waits up to that
 * long for more documents, but only while other requests are being encoded.
 *
 * Reload: tcd_models_poll (the main thread, a few times a second, or at once on SIGHUP) notices
 * a replaced model file, loads and verifies it away from the request path, checks that its label
 * set is the old one, and swaps it in; requests already holding the old version finish on it. */
#ifndef TCD_SERVE_MODELS_H
#define TCD_SERVE_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "io/model_file.h"
#include "serve/metrics.h"

typedef struct tcd_served tcd_served; /* one loaded version; reference counted */
typedef struct tcd_slot tcd_slot;

typedef struct {
    tcd_slot *slots;
    int n;
    int64_t max_batch, max_delay_us;
    int forward_threads;
    int quiet;
    tcd_serve_metrics *metrics;
} tcd_model_set;

/* specs: "NAME=PATH" or "PATH" (a run dir or a model file; NAME defaults to the run dir's name,
 * or the file's name without .h5). Returns 0, or with a message naming the spec -2 for a bad
 * command line (a name given twice or not allowed) and -1 for a model that cannot be served. */
int tcd_models_open(tcd_model_set *set, char *const *specs, int n, char *err, size_t errlen);
void tcd_models_close(tcd_model_set *set);

/* The version now serving under NAME (a new reference), or NULL for an unknown name. */
tcd_served *tcd_models_acquire(tcd_model_set *set, const char *name, size_t name_len);
void tcd_served_release(tcd_served *s);
const tcd_model_file *tcd_served_file(const tcd_served *s);
const char *tcd_served_name(const tcd_served *s);

/* Encodes n texts and runs them through the batcher. probs: n x C. why[i] is NULL for a
 * predicted document, or a static message (the document had no tokens, invalid UTF-8); its row
 * of probs is zero. Returns the number of documents predicted. */
int64_t tcd_served_predict(tcd_model_set *set, tcd_served *s, int64_t n, const char *const *text,
                           const size_t *len, float *probs, const char **why);

/* Reloads every slot whose file changed (force: every slot, as on SIGHUP). */
void tcd_models_poll(tcd_model_set *set, int force);

/* Names of the models, comma-separated, for error messages. */
void tcd_models_names(const tcd_model_set *set, tcd_buf *out);
/* Prometheus lines: tcdist_model_info, tcdist_model_reloads_total. */
void tcd_models_metrics(const tcd_model_set *set, tcd_buf *out);

#endif
