/* The predictor: raw text -> token ids (the model's own vocabulary and tokenizer settings) ->
 * forward -> class probabilities. One module for `predict`, `eval` and the server, so that they
 * agree bit for bit.
 *
 * Threads: encoding is thread-safe (each caller brings its own tcd_encoder); the forward pass
 * uses the model's workspace and runs one batch at a time per predictor. */
#ifndef TCD_PREDICTOR_H
#define TCD_PREDICTOR_H

#include <stddef.h>
#include <stdint.h>

#include "data/batch.h"
#include "io/model_file.h"
#include "text/tokenize.h"
#include "text/vocab.h"

typedef struct tcd_predictor tcd_predictor;

/* Loads MODEL.h5 (or RUN_DIR/model.h5) and builds its word table. NULL with a message in err. */
tcd_predictor *tcd_predictor_open(const char *path, char *err, size_t errlen);
void tcd_predictor_free(tcd_predictor *p);
/* The loaded file: labels, n_classes, params_sha256, step, config, path. */
const tcd_model_file *tcd_predictor_file(const tcd_predictor *p);
int64_t tcd_predictor_n_classes(const tcd_predictor *p);
/* The model itself, for evaluation over a prepared corpus (infer/evaluate.h). */
tcd_model *tcd_predictor_model(tcd_predictor *p);

/* Per-caller scratch for encoding. Zero-initialise; free with tcd_encoder_free. */
typedef struct {
    tcd_tokens tk;
    int32_t *ids;
    int64_t cap;
} tcd_encoder;
void tcd_encoder_free(tcd_encoder *e);

/* One document's ids: words (unknown ones as <unk>), then its hashed n-grams, exactly as prepare
 * made the training corpus. Returns the number of ids (> 0) with *ids valid until the encoder's
 * next use, or -1 with *why set (invalid UTF-8 under the model's setting, or no tokens). */
int64_t tcd_predictor_encode(const tcd_predictor *p, tcd_encoder *e, const char *text, size_t n,
                             const int32_t **ids, const char **why);

/* probs [b->n x C] for a batch of encoded documents (b->labels may be NULL). */
void tcd_predictor_forward(tcd_predictor *p, const tcd_batch *b, float *probs, int n_threads);

/* The k most probable classes of one row, most probable first, ties to the lower id. */
void tcd_top_k(const float *probs, int64_t C, int64_t k, int64_t *order);
/* The classes with probability >= threshold, most probable first, at most max_k of them, into
 * order (room for max_k, clamped to C); returns how many. (Multi-label prediction.) */
int64_t tcd_select_labels(const float *probs, int64_t C, double threshold, int64_t max_k, int64_t *order);

#endif
