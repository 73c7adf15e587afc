/* Paired forward/backward kernels, one file per layer family. Conventions (as in llm.c):
 * outputs first, inputs const, shapes in the comment, backward ADDS into gradients (+=).
 * Row-major everywhere. Only linear.c calls BLAS. Fixed-point variants (--deterministic) sit
 * beside the float kernels of their layer. */
#ifndef TCD_LAYERS_H
#define TCD_LAYERS_H

#include <stdint.h>

/* ---- embedding_bag.c: mean of the embedding rows of each document's tokens ----
 * out [B x D], emb [V x D], tokens: the B documents' ids back to back, offsets [B+1] into tokens
 * (offsets[0] may be nonzero: as in tcd_batch, document b is tokens[offsets[b] - offsets[0] ...
 * offsets[b+1] - offsets[0])). An empty document gives a zero row. Ids must lie in [0, V). */
void embedding_bag_forward(float *out, const float *emb, const int32_t *tokens, const int64_t *offsets,
                           int64_t B, int64_t D);
/* demb [V x D] += for each document b, each of its tokens t: dout[b] / len(b), but only for rows
 * in [row_lo, row_hi): threads split the table by rows, so no two threads write one row, and each
 * row's sum runs in document order whatever the thread count. */
void embedding_bag_backward(float *demb, const float *dout, const int32_t *tokens, const int64_t *offsets,
                            int64_t B, int64_t D, int64_t row_lo, int64_t row_hi);

/* The same for --deterministic (int64 fixed point, base/fixedpoint.h), given each document's
 * gradient vector fe [B x D] already rounded: acc rows in [row_lo, row_hi) += fe[b] per token. */
void embedding_bag_backward_fixed(int64_t *acc, const int64_t *fe, const int32_t *tokens, const int64_t *offsets,
                                  int64_t B, int64_t D, int64_t row_lo, int64_t row_hi);

/* ---- linear.c: out = inp W^T + b (OpenBLAS sgemm; call with BLAS at 1 thread inside OpenMP) ----
 * out [B x O], inp [B x I], W [O x I], b [O] */
void linear_forward(float *out, const float *inp, const float *W, const float *b, int64_t B, int64_t I,
                    int64_t O);
/* dinp [B x I] = dout W (overwritten; skipped when NULL), dW [O x I] += dout^T inp, db [O] += sum_b dout */
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W,
                     int64_t B, int64_t I, int64_t O);
/* The same result as linear_forward_ref, bit for bit (each output is its bias, then the products
 * added in input order), but vectorised across the outputs: a row's result does not depend on B or
 * on the other rows. For --deterministic and for inference, where a document's probabilities must
 * not depend on the documents batched with it. */
void linear_forward_rows(float *out, const float *inp, const float *W, const float *b, int64_t B, int64_t I,
                         int64_t O);
/* BLAS runs inside our OpenMP regions: pin OpenBLAS to one thread so the two never multiply. */
void linear_blas_single_thread(void);
/* Plain-loop references of the same, for the tests. */
void linear_forward_ref(float *out, const float *inp, const float *W, const float *b, int64_t B, int64_t I,
                        int64_t O);
void linear_backward_ref(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                         const float *W, int64_t B, int64_t I, int64_t O);

/* One document's dW [O x I] += fixed(dout[o] * inp[i]), db [O] += fixed(dout[o]) (each float
 * product rounded on its own). Returns 1 when a contribution is not finite or reaches lim. */
int linear_backward_fixed(int64_t *dW, int64_t *db, const float *dout, const float *inp, int64_t I, int64_t O,
                          double lim);

/* ---- relu.c ---- out [n], dinp [n] = dout * (out > 0) (overwritten) */
void relu_forward(float *out, const float *inp, int64_t n);
void relu_backward(float *dinp, const float *dout, const float *out, int64_t n);

/* ---- loss.c ----
 * Binary: logits [B] (one unit), labels in {0,1}. probs [B] = sigmoid(logit). Returns the SUM over
 * the batch of the binary cross-entropy, computed stably from the logits:
 * max(z,0) - z*y + log(1 + exp(-|z|)). labels may be NULL (prediction only: returns 0). */
double sigmoid_bce_forward(float *probs, const float *logits, const int32_t *labels, int64_t B);
/* dlogits [B] = (probs - y) * scale (overwritten). scale is 1/(samples in the global batch). */
void sigmoid_bce_backward(float *dlogits, const float *probs, const int32_t *labels, int64_t B, float scale);
/* Multi-class: logits [B x C]; probs [B x C] = softmax (max-subtracted). Returns the SUM of
 * -log softmax(logits)[y] (computed with log-sum-exp, not log of probs). labels may be NULL
 * (prediction only: returns 0). */
double softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int64_t B, int64_t C);
/* dlogits [B x C] = (probs - onehot(y)) * scale (overwritten). */
void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int64_t B, int64_t C,
                           float scale);
/* One-vs-all (multi-label): logits [B x C], each an independent sigmoid: probs [B x C] =
 * sigmoid(logits). targets [B x C] in {0,1} (NULL: prediction only, returns 0). Returns the SUM over
 * documents and classes of the binary cross-entropy, in the stable form above. */
double ova_bce_forward(float *probs, const float *logits, const uint8_t *targets, int64_t B, int64_t C);
/* dlogits [B x C] = (probs - targets) * scale (overwritten). */
void ova_bce_backward(float *dlogits, const float *probs, const uint8_t *targets, int64_t B, int64_t C, float scale);

#endif
