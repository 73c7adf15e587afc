/* Paired forward/backward kernels, one file per layer family. Conventions (as in llm.c):
 * outputs first, inputs const, shapes in the comment, backward ADDS into gradients (+=).
 * Row-major everywhere. Only linear.c and attention.c call BLAS (conv1d.c reaches it through linear.c).
 * Fixed-point variants (--deterministic) sit beside the float kernels of their layer. */
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

/* ---- embedding_seq.c: a document's token vectors as a sequence (for convolutions) ----
 * out [Lp x D]: row i = emb[tokens[i]] for i < L, zero for L <= i < Lp (padding). */
void embedding_seq_forward(float *out, const float *emb, const int32_t *tokens, int64_t L, int64_t Lp, int64_t D);
/* demb [V x D] += for each document b (in order) and position i < lens[b]: dx[(xrow[b] - xrow[0] + i)
 * * D ...], added to row tokens[offsets[b] - offsets[0] + i], but only for rows in [row_lo, row_hi)
 * (threads own row ranges, as embedding_bag_backward). dx holds document b's positions from row
 * xrow[b] - xrow[0] (xrow[0] and offsets[0] may be nonzero: a slice of a batch's documents). */
void embedding_seq_backward(float *demb, const float *dx, const int64_t *xrow, const int64_t *lens,
                            const int32_t *tokens, const int64_t *offsets, int64_t B, int64_t D, int64_t row_lo,
                            int64_t row_hi);
/* The same in fixed point: fx holds each position's vector already rounded. */
void embedding_seq_backward_fixed(int64_t *acc, const int64_t *fx, const int64_t *xrow, const int64_t *lens,
                                  const int32_t *tokens, const int64_t *offsets, int64_t B, int64_t D,
                                  int64_t row_lo, int64_t row_hi);

/* ---- conv1d.c: 1-D convolution of width w over a sequence of vectors (im2col + sgemm) ----
 * x [L x D] (row t: position t), W [F x w*D] (filter f, offset j, component d at j*D + d), b [F],
 * out [P x F] with P = L - w + 1 >= 1:   out[t, f] = b[f] + sum_{j<w, d<D} W[f, j*D + d] x[t+j, d].
 * col: scratch [P x w*D] (the im2col matrix: row t is x[t .. t+w) flattened). */
void conv1d_forward(float *out, float *col, const float *x, const float *W, const float *b, int64_t L, int64_t D,
                    int64_t w, int64_t F);
/* conv1d_forward over n sequences at once, one sgemm for all their windows (no window crosses two
 * sequences): sequence i is rows [rows[i] - rows[0] + trim, rows[i+1] - rows[0] - trim) of x (at
 * least w rows; trim rows of each block's two ends are left out); out: the sequences' [P_i x F]
 * outputs back to back; col: scratch [sum_i P_i x w*D]. */
void conv1d_forward_seqs(float *out, float *col, const float *x, const int64_t *rows, int64_t n, int64_t trim,
                         const float *W, const float *b, int64_t D, int64_t w, int64_t F);
/* dx [L x D] += the gradient through the convolution (skipped when NULL), dW [F x w*D] += dout^T col,
 * db [F] += column sums of dout; dout [P x F]; col: scratch [P x w*D] (overwritten). */
void conv1d_backward(float *dx, float *dW, float *db, float *col, const float *dout, const float *x, const float *W,
                     int64_t L, int64_t D, int64_t w, int64_t F);
/* The same convolution without BLAS, vectorised across the filters: each output is its bias, then
 * the products added in window order (j, then d), as conv1d_forward_ref sums them. Its result for a
 * position depends on nothing else, and on no BLAS kernel (the same on every CPU): for
 * --deterministic and inference. Wt [w*D x F]: W transposed by conv1d_transpose. */
void conv1d_forward_rows(float *out, const float *x, const float *Wt, const float *b, int64_t L, int64_t D, int64_t w,
                         int64_t F);
/* Wt [K x F] = W^T, W [F x K] */
void conv1d_transpose(float *Wt, const float *W, int64_t F, int64_t K);
/* Plain-loop references of the same (no scratch), for the tests. */
void conv1d_forward_ref(float *out, const float *x, const float *W, const float *b, int64_t L, int64_t D, int64_t w,
                        int64_t F);
void conv1d_backward_ref(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W, int64_t L,
                         int64_t D, int64_t w, int64_t F);
/* conv1d_backward when the convolution was max-pooled over time: dout is zero except
 * dout[arg[f], f] = dpool[f], so the gradient costs O(F w D), not O(P F w D):
 * dW[f] += dpool[f] x[arg[f] .. arg[f]+w), db[f] += dpool[f], dx[arg[f]+j] += dpool[f] W[f, j]
 * (filters in order; dx, dW, db each skipped when NULL). */
void conv1d_maxpool_backward(float *dx, float *dW, float *db, const float *dpool, const int32_t *arg, const float *x,
                             const float *W, int64_t D, int64_t w, int64_t F);
/* One document's dW and db of the same in fixed point, each product rounded on its own. Returns 1
 * when a contribution is not finite or reaches lim, else 0. */
int conv1d_maxpool_backward_fixed(int64_t *dW, int64_t *db, const float *dpool, const int32_t *arg, const float *x,
                                  int64_t D, int64_t w, int64_t F, double lim);

/* ---- pool.c: max over time ----
 * y [P x F], P >= 1: out [F] = max_t y[t, f], arg [F] = the first t that reaches it. */
void maxtime_forward(float *out, int32_t *arg, const float *y, int64_t P, int64_t F);
/* The same over more positions of the same sequence: y [P x F] holds positions t0 .. t0+P, merged
 * into out and arg from a maxtime_forward of the earlier positions (a later position wins only
 * when strictly larger, so the first position still wins ties). */
void maxtime_update(float *out, int32_t *arg, const float *y, int64_t P, int64_t F, int64_t t0);
/* dy [P x F] += dout[f] at (arg[f], f) only. */
void maxtime_backward(float *dy, const float *dout, const int32_t *arg, int64_t P, int64_t F);

/* ---- dropout.c: inverted dropout with a counter-based mask ----
 * Unit u of document doc at global step `step` is kept when
 *   tcd_unit24(tcd_mix64(stream + u * 0x9E3779B97F4A7C15)) >= p,
 *   stream = tcd_mix64(tcd_mix64(tcd_mix64(seed ^ 0xD120C0DE) + step) + doc),
 * and a kept unit is scaled by 1 / (1 - p): a pure function of (seed, step, doc, u), never of the
 * thread or rank. out [n] = inp * mask (out may alias inp); p in [0, 1). */
void dropout_forward(float *out, const float *inp, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc);
/* dinp [n] = dout * the same mask (overwritten; may alias dout). */
void dropout_backward(float *dinp, const float *dout, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc);
/* The mask's factor for one unit: 0 or 1 / (1 - p). */
float dropout_scale(float p, uint64_t seed, int64_t step, int64_t doc, int64_t u);
/* The same over units u0 .. u0+n of the document (out[i] takes unit u0 + i): for a model that
 * drops out several tensors of one document, each in its own range of units. */
void dropout_forward_at(float *out, const float *inp, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc,
                        int64_t u0);
void dropout_backward_at(float *dinp, const float *dout, int64_t n, float p, uint64_t seed, int64_t step,
                         int64_t doc, int64_t u0);

/* ---- layernorm.c: layer normalisation of each row (no BLAS) ----
 * out [N x D] = (inp - mean) * rstd * g + b per row, rstd = 1 / sqrt(var + LAYERNORM_EPS) (the
 * biased variance, as PyTorch); mean [N], rstd [N] are kept for backward. */
#define LAYERNORM_EPS 1e-5
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g, const float *b,
                       int64_t N, int64_t D);
/* dinp [N x D] += the gradient through the normalisation (ADDED: the residual stream's gradient is
 * already there), dg [D] += sum_r dout * xhat, db [D] += sum_r dout. */
void layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp, const float *g,
                        const float *mean, const float *rstd, int64_t N, int64_t D);

/* ---- gelu.c: the exact GELU, x (1 + erf(x / sqrt 2)) / 2 ----
 * out [n]; dinp [n] = dout * gelu'(inp) (overwritten; may alias dout). */
void gelu_forward(float *out, const float *inp, int64_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

/* ---- posembed.c: token plus learned position embeddings ----
 * out [Lp x D]: row i = emb[tokens[i]] + pos[i] for i < L, pos[i] alone for L <= i < Lp (an empty
 * document is one position without a token). demb goes through embedding_seq_backward. */
void posembed_forward(float *out, const float *emb, const float *pos, const int32_t *tokens, int64_t L, int64_t Lp,
                      int64_t D);
/* dpos [Lp x D] += dx [Lp x D] */
void posembed_backward(float *dpos, const float *dx, int64_t Lp, int64_t D);

/* ---- attention.c: multi-head self-attention over one sequence, every position seeing every other ----
 * qkv [L x 3D]: row i = (q_i, k_i, v_i), head h at columns h*dh .. (h+1)*dh of each (dh = D / H).
 * att [H x L x L]: P_h = softmax_rows(Q_h K_h^T / sqrt dh), kept for backward; out [L x D]: head h's
 * P_h V_h at columns h*dh. QK^T and PV through sgemm. */
void attention_forward(float *out, float *att, const float *qkv, int64_t L, int64_t D, int64_t H);
/* dqkv [L x 3D] = the gradient with respect to qkv (overwritten); dp: scratch [L x L]. */
void attention_backward(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att, int64_t L,
                        int64_t D, int64_t H);
/* Plain-loop twins (each sum in one fixed order, no BLAS: for the tests, --deterministic and
 * inference); dp: scratch [L]. */
void attention_forward_ref(float *out, float *att, const float *qkv, int64_t L, int64_t D, int64_t H);
void attention_backward_ref(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att,
                            int64_t L, int64_t D, int64_t H);

#endif
