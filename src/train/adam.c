/* Adam / AdamW on one flat buffer, global norms, and learning-rate schedules (see adam.h). */
#include "train/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TCD_HAVE_AVX2_PATH 1
#endif

void tcd_adam_config_default(tcd_adam_config *c) {
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-7; /* Keras' default */
    c->weight_decay = 0.0;
    c->clip_norm = 0.0;
    c->emb_lr_scale = 0.0;
    c->emb_end = 0;
}

void tcd_adam_init(tcd_adam *a, const tcd_adam_config *c, int64_t n) {
    TCD_CHECK(n >= 0);
    float *m = tcd_aligned_alloc((size_t)n * sizeof(float));
    float *v = tcd_aligned_alloc((size_t)n * sizeof(float));
    memset(m, 0, (size_t)n * sizeof(float));
    memset(v, 0, (size_t)n * sizeof(float));
    tcd_adam_bind(a, c, n, m, v);
    a->owns = 1;
}

void tcd_adam_bind(tcd_adam *a, const tcd_adam_config *c, int64_t n, float *m, float *v) {
    memset(a, 0, sizeof *a);
    a->cfg = *c;
    a->n = n;
    a->t = 0;
    a->m = m;
    a->v = v;
}

void tcd_adam_free(tcd_adam *a) {
    if (a->owns) {
        free(a->m);
        free(a->v);
    }
    a->m = a->v = NULL;
    a->owns = 0;
}

/* The per-element update, in float. GCC will not vectorise sqrtf while it must keep errno
 * (-fmath-errno, the default), so on x86-64 the loop is written with SSE2 intrinsics; the scalar
 * tail does the same operations in the same order (no FMA contraction in ISO C mode), so every
 * element gets the same bits whichever path it takes. */
static inline float adam_one(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                             int64_t i, float b1, float b2, float c1, float c2, float lr_t, float eps,
                             float decay) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float pi = p[i] - decay * p[i];
    return pi - lr_t * mi / (sqrtf(vi) + eps);
}

static void adam_range(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                       int64_t lo, int64_t hi, float b1, float b2, float c1, float c2, float lr_t, float eps,
                       float decay) {
    int64_t i = lo;
#if defined(__SSE2__)
    const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), vc1 = _mm_set1_ps(c1), vc2 = _mm_set1_ps(c2);
    const __m128 vlr = _mm_set1_ps(lr_t), veps = _mm_set1_ps(eps), vdec = _mm_set1_ps(decay);
    for (; i + 4 <= hi; i += 4) {
        const __m128 gi = _mm_loadu_ps(g + i);
        const __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vc1, gi));
        const __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(vc2, gi), gi));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        const __m128 p0 = _mm_loadu_ps(p + i);
        const __m128 pi = _mm_sub_ps(p0, _mm_mul_ps(vdec, p0));
        const __m128 step = _mm_div_ps(_mm_mul_ps(vlr, mi), _mm_add_ps(_mm_sqrt_ps(vi), veps));
        _mm_storeu_ps(p + i, _mm_sub_ps(pi, step));
    }
#endif
    for (; i < hi; i++) p[i] = adam_one(p, g, m, v, i, b1, b2, c1, c2, lr_t, eps, decay);
}

#ifdef TCD_HAVE_AVX2_PATH
/* The same operations 8 wide, compiled for AVX2 and chosen at run time when the CPU has it (the
 * default build targets baseline x86-64). mul, add, sub, div and sqrt are correctly rounded IEEE
 * operations at any width and nothing is fused, so every element gets the bits of adam_one. */
__attribute__((target("avx2"))) static void adam_range_avx2(float *restrict p, const float *restrict g,
                                                             float *restrict m, float *restrict v, int64_t lo,
                                                             int64_t hi, float b1, float b2, float c1, float c2,
                                                             float lr_t, float eps, float decay) {
    int64_t i = lo;
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), vc1 = _mm256_set1_ps(c1);
    const __m256 vc2 = _mm256_set1_ps(c2), vlr = _mm256_set1_ps(lr_t), veps = _mm256_set1_ps(eps);
    const __m256 vdec = _mm256_set1_ps(decay);
    for (; i + 8 <= hi; i += 8) {
        const __m256 gi = _mm256_loadu_ps(g + i);
        const __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
        const __m256 vi =
            _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        const __m256 p0 = _mm256_loadu_ps(p + i);
        const __m256 pi = _mm256_sub_ps(p0, _mm256_mul_ps(vdec, p0));
        const __m256 step = _mm256_div_ps(_mm256_mul_ps(vlr, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), veps));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, step));
    }
    adam_range(p, g, m, v, i, hi, b1, b2, c1, c2, lr_t, eps, decay);
}

static int use_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *off = getenv("TCDIST_NO_AVX2"); /* for comparing the two paths */
        cached = !(off && *off == '1') && __builtin_cpu_supports("avx2");
    }
    return cached;
}
#endif

typedef tcd_adam_step_consts adam_consts;

/* Advances t and computes this step's constants. */
tcd_adam_step_consts tcd_adam_begin(tcd_adam *a, double lr) {
    a->t += 1;
    const double t = (double)a->t;
    const double lr_t = lr * sqrt(1.0 - pow(a->cfg.beta2, t)) / (1.0 - pow(a->cfg.beta1, t));
    adam_consts k;
    k.b1 = (float)a->cfg.beta1;
    k.b2 = (float)a->cfg.beta2;
    k.eps = (float)a->cfg.eps;
    /* 1 - beta in double, then rounded: 1 - 0.999f in float would be off by 1.3e-5 relative */
    k.c1 = (float)(1.0 - a->cfg.beta1);
    k.c2 = (float)(1.0 - a->cfg.beta2);
    k.decay = (float)(lr * a->cfg.weight_decay);
    k.lr_t = (float)lr_t;
    const int sgd = a->cfg.emb_lr_scale > 0 && a->cfg.emb_end > 0;
    k.sgd_lr = sgd ? (float)(lr * a->cfg.emb_lr_scale) : 0.0f;
    k.sgd_end = sgd ? a->cfg.emb_end : 0;
#ifdef TCD_HAVE_AVX2_PATH
    k.avx2 = use_avx2();
#else
    k.avx2 = 0;
#endif
    return k;
}

/* The SGD rows' step over n elements: the decay, then p -= lr * g, in float. Elementwise and
 * without fusion, so any split of the range gives the same bits. */
static void sgd_range(float *restrict p, const float *restrict g, int64_t n, float lr, float decay) {
    for (int64_t i = 0; i < n; i++) {
        const float pi = p[i] - decay * p[i];
        p[i] = pi - lr * g[i];
    }
}

static void adam_part(const adam_consts *k, float *p, const float *g, float *m, float *v, int64_t len) {
#ifdef TCD_HAVE_AVX2_PATH
    if (k->avx2)
        adam_range_avx2(p, g, m, v, 0, len, k->b1, k->b2, k->c1, k->c2, k->lr_t, k->eps, k->decay);
    else
#endif
        adam_range(p, g, m, v, 0, len, k->b1, k->b2, k->c1, k->c2, k->lr_t, k->eps, k->decay);
}

/* Updates len elements at p, m, v from the gradient g (all four already offset; p[0] is element at
 * of the whole buffer): those below k->sgd_end by SGD, the rest by Adam. */
void tcd_adam_update(const tcd_adam_step_consts *k, float *p, const float *g, float *m, float *v, int64_t at,
                     int64_t len) {
    int64_t n_sgd = k->sgd_end - at;
    n_sgd = n_sgd < 0 ? 0 : n_sgd > len ? len : n_sgd;
    if (n_sgd > 0) sgd_range(p, g, n_sgd, k->sgd_lr, k->decay);
    if (n_sgd < len) adam_part(k, p + n_sgd, g + n_sgd, m + n_sgd, v + n_sgd, len - n_sgd);
}

/* Updates [lo, hi) and, when zero_grads is set, clears those gradients while they are in cache. */
static void adam_span(const adam_consts *k, tcd_adam *a, float *params, const float *grads, float *zero_grads,
                      int64_t lo, int64_t hi) {
    tcd_adam_update(k, params + lo, grads + lo, a->m + lo, a->v + lo, lo, hi - lo);
    if (zero_grads) memset(zero_grads + lo, 0, (size_t)(hi - lo) * sizeof(float));
}

/* zero_grads: the gradient buffer to clear block by block right after its use, or NULL. */
static void adam_step_impl(tcd_adam *a, float *params, const float *grads, double lr, int n_threads,
                           float *zero_grads) {
    const adam_consts k = tcd_adam_begin(a, lr);
    const int64_t n = a->n;
    const int64_t block = 1 << 14; /* elements per work item: 64 KiB of params */
    const int64_t n_blocks = (n + block - 1) / block;
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_blocks > 1)
    for (int64_t b = 0; b < n_blocks; b++) {
        const int64_t lo = b * block, hi = lo + block < n ? lo + block : n;
        adam_span(&k, a, params, grads, zero_grads, lo, hi);
    }
}

static void clip(const tcd_adam *a, float *grads);

void tcd_adam_step_rows(tcd_adam *a, float *params, float *grads, double lr, int n_threads, const int32_t *rows,
                        int64_t n_rows, int64_t row_len, int64_t dense_from) {
    clip(a, grads);
    const adam_consts k = tcd_adam_begin(a, lr);
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows > 4096)
    for (int64_t r = 0; r < n_rows; r++) {
        const int64_t lo = (int64_t)rows[r] * row_len;
        adam_span(&k, a, params, grads, grads, lo, lo + row_len);
    }
    adam_span(&k, a, params, grads, grads, dense_from, a->n);
}

void tcd_adam_step(tcd_adam *a, float *params, const float *grads, double lr, int n_threads) {
    adam_step_impl(a, params, grads, lr, n_threads, NULL);
}

/* Scales the whole gradient so that its L2 norm is at most clip_norm. */
static void clip(const tcd_adam *a, float *grads) {
    if (a->cfg.clip_norm <= 0) return;
    const double norm = tcd_l2_norm(grads, a->n);
    if (norm > a->cfg.clip_norm) tcd_scale(grads, a->n, (float)(a->cfg.clip_norm / norm));
}

void tcd_adam_step_zero_grad(tcd_adam *a, float *params, float *grads, double lr, int n_threads) {
    clip(a, grads);
    adam_step_impl(a, params, grads, lr, n_threads, grads);
}

/* Eight interleaved double accumulators (a fixed pattern, so the result depends only on x),
 * combined pairwise at the end; lets the loop vectorise without reassociation flags. */
double tcd_l2_norm(const float *x, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += (double)x[i] * (double)x[i];
    const double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    return sqrt(s);
}

void tcd_scale(float *x, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

/* Warmup (linear, cosine): lr * step / warmup for step < warmup, so step 0 takes lr 0 and step
 * `warmup` the peak (the convention of the usual PyTorch schedulers). Then, with
 * progress = (step - warmup) / (total_steps - warmup):
 *   linear: min_lr + (lr - min_lr) * (1 - progress)
 *   cosine: min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2
 * Steps at or beyond total_steps get min_lr. Constant ignores warmup and min_lr. */
double tcd_lr_at(const tcd_lr_schedule *s, int64_t step) {
    if (s->kind == TCD_LR_CONSTANT) return s->lr;
    if (step < 0) step = 0;
    if (step >= s->total_steps) return s->min_lr;
    if (step < s->warmup) return s->lr * (double)step / (double)s->warmup;
    const double progress = (double)(step - s->warmup) / (double)(s->total_steps - s->warmup);
    double f;
    if (s->kind == TCD_LR_LINEAR)
        f = 1.0 - progress;
    else
        f = 0.5 * (1.0 + cos(M_PI * progress));
    return s->min_lr + (s->lr - s->min_lr) * f;
}

int tcd_lr_kind_parse(const char *name) {
    if (!strcmp(name, "constant")) return TCD_LR_CONSTANT;
    if (!strcmp(name, "linear")) return TCD_LR_LINEAR;
    if (!strcmp(name, "cosine")) return TCD_LR_COSINE;
    return -1;
}
