/* The bag-of-embeddings classifier ("bow"):
 *   Embedding(V, D) -> mean over the document's tokens -> [Dense(H) -> ReLU] -> Dense(O)
 * with O = 1 (sigmoid + binary cross-entropy) for 2 classes, O = C (softmax + cross-entropy) for
 * more. H = 0 drops the hidden layer (a linear classifier over the mean embedding, as fastText).
 *
 * Parameters, gradients (and, in adam.c, m and v) live in one flat float buffer each, with named
 * tensors at fixed offsets, so that the allreduce and the optimizer are single loops.
 * Tensor order: embedding [V x D], hidden.weight [H x D], hidden.bias [H], out.weight [O x H'],
 * out.bias [O], where H' = H or D when H = 0 (no hidden tensors then).
 *
 * Threads: a batch is cut into fixed chunks of TCD_CHUNK documents (independent of the thread
 * count); dense gradients are summed per chunk and then over chunks in chunk order, and the
 * embedding gradient is split by rows. So gradients do not depend on the number of threads. */
#ifndef TCD_MODEL_H
#define TCD_MODEL_H

#include <stdint.h>

#include "base/fixedpoint.h"

#define TCD_CHUNK 64
#define TCD_MAX_TENSORS 8

typedef struct {
    int64_t vocab;     /* embedding rows (corpus n_embeddings: words + n-gram buckets) */
    int64_t dim;       /* D */
    int64_t hidden;    /* H; 0: no hidden layer */
    int64_t n_classes; /* C >= 2 */
    uint64_t seed;     /* initialisation */
} tcd_model_config;

typedef struct {
    const char *name; /* "embedding", "hidden.weight", "hidden.bias", "out.weight", "out.bias" */
    int64_t rows, cols; /* cols = 1 for vectors */
    int64_t offset;     /* into the flat buffers, in floats */
} tcd_tensor;

/* One batch in memory: documents back to back. */
typedef struct {
    int64_t n;              /* documents */
    const int32_t *tokens;  /* ids */
    const int64_t *offsets; /* [n+1]; document i is tokens[offsets[i] - offsets[0] ...] */
    const int32_t *labels;  /* [n], or NULL when predicting */
} tcd_batch;

typedef struct tcd_model_ws tcd_model_ws; /* activations and per-chunk scratch (model.c) */

typedef struct {
    tcd_model_config cfg;
    int64_t n_out; /* O */
    int n_tensors;
    tcd_tensor tensors[TCD_MAX_TENSORS];
    int64_t n_params;
    float *params; /* [n_params], 64-byte aligned */
    float *grads;  /* [n_params] */
    tcd_model_ws *ws;
    int have_forward; /* backward refuses to run without a forward pass with labels */
    int deterministic; /* tcd_model_set_deterministic */
} tcd_model;

/* Allocates and initialises as Keras does: embedding U(-0.05, 0.05), dense weights Glorot-uniform
 * U(-sqrt(6/(fan_in+fan_out)), +...), biases 0. The values depend only on cfg (seed included),
 * never on threads. Returns 0, or -1 (bad config: message printed). */
int tcd_model_init(tcd_model *m, const tcd_model_config *cfg);
void tcd_model_free(tcd_model *m);
const tcd_tensor *tcd_model_tensor(const tcd_model *m, const char *name); /* NULL if absent */

/* Forward over a batch. Writes class probabilities into probs [n x C] when probs != NULL (for 2
 * classes: [1-p, p]). When the batch has labels, returns the SUM of the per-document losses and
 * keeps the activations for backward; otherwise returns 0. */
double tcd_model_forward(tcd_model *m, const tcd_batch *b, float *probs, int n_threads);
/* Adds to m->grads the gradient of scale * (sum of the batch's losses). The batch must be the one
 * of the last forward. */
void tcd_model_backward(tcd_model *m, const tcd_batch *b, float scale, int n_threads);
void tcd_model_zero_grad(tcd_model *m);

/* ---- deterministic mode (train --deterministic) ----
 * on = 1: forward runs the dense layers with the plain-loop kernels (linear_forward_ref: each row
 * summed in one fixed order, no BLAS, no FMA contraction in ISO C mode), so every document's
 * activations, probabilities and loss are bit-identical whatever the other documents of the
 * batch, its chunking or the thread count. on = 0 (the default): BLAS, faster.
 * tcd_model_backward still works after a deterministic forward. */
void tcd_model_set_deterministic(tcd_model *m, int on);
/* ADDS into acc [m->n_params] (same layout as params/grads) the fixed-point (fixedpoint.h) gradient
 * of scale * (sum of the batch's losses), as a sum over documents of each document's own
 * contribution: computed in float exactly as a one-document batch would (dlogits = (p - y) * scale,
 * weight entries dz[o] * x[i] as float products, biases dz, the mean-embedding gradient de via the
 * reference kernels, and fixed(de[j] * (1/len)) once per token for embedding rows), each contribution
 * rounded to fixed point on its own and summed in int64. Hence for any partition of a global batch
 * into sub-batches (ranks, steps of the loader, in any order) and any n_threads, the sum of the
 * calls' acc is bit-identical. The last forward must have been on this batch, with labels, in
 * deterministic mode (else tcd_die). m->grads is not touched.
 * scale must lie in (0, 1]: it is 1 / (documents of the global batch). Overflow: a document's
 * contribution to any one element must stay below 2^62 * scale in fixed units (its unscaled
 * gradient below 2^22 ~ 4.2e6, and finite), else tcd_die names the tensor. Then as long as acc
 * receives at most 1/scale documents in all (one global batch, over all calls and ranks) before it
 * is zeroed, no sum can overflow. */
void tcd_model_backward_fixed(tcd_model *m, const tcd_batch *b, float scale, int n_threads, int64_t *acc);

#endif
