/* Adam / AdamW on flat buffers, and learning-rate schedules.
 * Update (Keras' form; equals PyTorch's with eps_torch = eps * sqrt(1 - beta2^t)):
 *   t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
 *   lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t);  p -= lr_t * m / (sqrt(v) + eps)
 * AdamW (weight_decay > 0): before that, p -= lr * weight_decay * p (decoupled, PyTorch's AdamW).
 * SGD rows (emb_end > 0, emb_lr_scale > 0): the first emb_end elements (the embedding table) take a
 * plain SGD step instead, p -= lr * emb_lr_scale * g after the same decay; their m and v stay 0.
 * Arithmetic per element is in float with lr_t computed in double; the loop is split across
 * threads by index and is elementwise, so results do not depend on the thread count. */
#ifndef TCD_ADAM_H
#define TCD_ADAM_H

#include <stdint.h>

typedef struct {
    double beta1, beta2, eps, weight_decay;
    double clip_norm; /* > 0: the whole gradient's L2 norm is clipped to it before a full step */
    /* > 0: elements [0, emb_end) take SGD steps of lr * emb_lr_scale (the trainer's --emb-lr); 0: Adam */
    double emb_lr_scale;
    int64_t emb_end;
} tcd_adam_config;

/* m and v belong to whoever allocated them: tcd_adam_init allocates (and tcd_adam_free frees)
 * its own; tcd_adam_bind uses buffers another module owns (the exchange, in training). */
typedef struct {
    tcd_adam_config cfg;
    int64_t n; /* parameters */
    int64_t t; /* steps taken */
    float *m, *v;
    int owns;
} tcd_adam;

void tcd_adam_config_default(tcd_adam_config *c); /* 0.9, 0.999, 1e-7, 0, no clipping, Adam everywhere */
void tcd_adam_init(tcd_adam *a, const tcd_adam_config *c, int64_t n); /* m = v = 0 */
void tcd_adam_bind(tcd_adam *a, const tcd_adam_config *c, int64_t n, float *m, float *v);
void tcd_adam_free(tcd_adam *a);
/* One step with learning rate lr (from the schedule); increments t. */
void tcd_adam_step(tcd_adam *a, float *params, const float *grads, double lr, int n_threads);
/* The step over a whole summed gradient as training takes it: clipped first when clip_norm > 0,
 * and the gradients are zeroed as they are consumed (saves a separate pass over a buffer as large
 * as the embedding table). */
void tcd_adam_step_zero_grad(tcd_adam *a, float *params, float *grads, double lr, int n_threads);

/* Lazy Adam: updates (and zeroes the gradients of) only the listed rows of the embedding table,
 * rows[k] * row_len .. + row_len, and the dense tail [dense_from, n). Rows not listed keep their m,
 * v and value. The step count t (bias correction) is global, as in TensorFlow's LazyAdam. Clips
 * first, as tcd_adam_step_zero_grad. */
void tcd_adam_step_rows(tcd_adam *a, float *params, float *grads, double lr, int n_threads, const int32_t *rows,
                        int64_t n_rows, int64_t row_len, int64_t dense_from);

/* The step block by block, for a caller that forms the gradient of each block itself (the shared
 * exchange sums the ranks' gradients of a block in cache, then updates it): tcd_adam_begin
 * advances t and fixes the step's constants; tcd_adam_update updates len elements at p, m, v
 * (already offset) from g, `at` being the index of p[0] in the whole buffer (which elements take SGD
 * rows' step depends on it). No clipping here. */
typedef struct {
    float b1, b2, c1, c2, lr_t, eps, decay;
    float sgd_lr;   /* the SGD rows' step, lr * emb_lr_scale */
    int64_t sgd_end; /* elements [0, sgd_end) take it; 0: none */
    int avx2;
} tcd_adam_step_consts;
tcd_adam_step_consts tcd_adam_begin(tcd_adam *a, double lr);
void tcd_adam_update(const tcd_adam_step_consts *k, float *p, const float *g, float *m, float *v, int64_t at,
                     int64_t len);

/* Global L2 norm of a flat buffer (double accumulation, fixed order). */
double tcd_l2_norm(const float *x, int64_t n);
void tcd_scale(float *x, int64_t n, float s);

typedef enum { TCD_LR_CONSTANT, TCD_LR_LINEAR, TCD_LR_COSINE } tcd_lr_kind;
typedef struct {
    tcd_lr_kind kind;
    double lr;           /* peak */
    int64_t warmup;      /* steps of linear warmup from 0 (cosine; also honoured by linear) */
    int64_t total_steps; /* of the whole run */
    double min_lr;       /* where linear/cosine end */
} tcd_lr_schedule;
/* Learning rate for step s (0-based: the step about to be taken). */
double tcd_lr_at(const tcd_lr_schedule *s, int64_t step);
/* "constant" | "linear" | "cosine" -> kind; -1 if unknown. */
int tcd_lr_kind_parse(const char *name);

#endif
