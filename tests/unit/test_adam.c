/* Adam / AdamW against hand-derived values, lr schedules, norms, and thread independence. */
#include "check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adam.h"
#include "train/exchange.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

/* Expected values from the formula in adam.h, evaluated in double (python):
 *   lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
 *   p -= lr * wd * p;  p -= lr_t * m / (sqrt(v) + eps)
 * with p0 = [0.5, -1.0], g1 = [0.1, -0.2], g2 = [0.3, 0.05], g3 = [-0.1, 0.4], lr = 0.01,
 * b1 = 0.9, b2 = 0.999, eps = 1e-7. E.g. step 1: m = 0.1 g, v = 0.001 g^2, lr_t = 0.01 *
 * sqrt(0.001) / 0.1, so p -= 0.01 * sign(g) * |g| / (|g| + 1e-7 / sqrt(0.001)) ~= 0.01 sign(g). */
static const float G[3][2] = {{0.1f, -0.2f}, {0.3f, 0.05f}, {-0.1f, 0.4f}};
static const double P_ADAM[3][2] = {{0.4900003162, -0.9900001581}, {0.4808225968, -0.9853055484},
                                    {0.4759857245, -0.9893237662}};
static const double P_ADAMW[3][2] = {{0.4895003162, -0.9890001581}, {0.4798330965, -0.9833165483},
                                     {0.4745163911, -0.9863514495}};

static void test_hand(double wd, const double expect[3][2]) {
    tcd_adam_config c;
    tcd_adam_config_default(&c);
    CHECK(c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-7 && c.weight_decay == 0.0);
    c.weight_decay = wd;
    tcd_adam a;
    tcd_adam_init(&a, &c, 2);
    float p[2] = {0.5f, -1.0f};
    for (int t = 0; t < 3; t++) {
        tcd_adam_step(&a, p, G[t], 0.01, 1);
        CHECK(a.t == t + 1);
        for (int i = 0; i < 2; i++) {
            if (!NEAR(p[i], expect[t][i], 2e-7)) {
                fprintf(stderr, "wd=%g step %d p[%d] = %.10f, expected %.10f\n", wd, t + 1, i, p[i], expect[t][i]);
                CHECK(0);
            }
        }
    }
    CHECK(NEAR(a.m[0], 0.0251, 1e-8) && NEAR(a.m[1], 0.0283, 1e-8));
    CHECK(NEAR(a.v[0], 0.00010989001, 1e-10) && NEAR(a.v[1], 0.00020241754, 2e-10));
    tcd_adam_free(&a);
}

/* The SIMD body and the scalar tail must give the same bits, and so must any thread count. */
static void test_paths_and_threads(void) {
    const int64_t n = 100003; /* several work blocks and a tail that is not a multiple of 4 */
    float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *pr = malloc(n * sizeof(float)), *mr = calloc(n, sizeof(float)), *vr = calloc(n, sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        p1[i] = p2[i] = pr[i] = (float)sin(0.001 * (double)i);
        g[i] = (float)cos(0.37 * (double)i) * 0.1f;
    }
    tcd_adam_config c;
    tcd_adam_config_default(&c);
    c.weight_decay = 0.01;
    tcd_adam a1, a2;
    tcd_adam_init(&a1, &c, n);
    tcd_adam_init(&a2, &c, n);
    for (int s = 0; s < 3; s++) {
        tcd_adam_step(&a1, p1, g, 0.003, 1);
        tcd_adam_step(&a2, p2, g, 0.003, 3);
        /* scalar reference in float, the same operations in the same order */
        const double t = s + 1;
        const float lr_t = (float)(0.003 * sqrt(1.0 - pow(0.999, t)) / (1.0 - pow(0.9, t)));
        const float decay = (float)(0.003 * 0.01), b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
        for (int64_t i = 0; i < n; i++) {
            const float mi = b1 * mr[i] + (float)(1.0 - 0.9) * g[i];
            const float vi = b2 * vr[i] + (float)(1.0 - 0.999) * g[i] * g[i];
            mr[i] = mi;
            vr[i] = vi;
            const float pi = pr[i] - decay * pr[i];
            pr[i] = pi - lr_t * mi / (sqrtf(vi) + eps);
        }
    }
    CHECK(memcmp(p1, p2, n * sizeof(float)) == 0);
    CHECK(memcmp(a1.m, a2.m, n * sizeof(float)) == 0 && memcmp(a1.v, a2.v, n * sizeof(float)) == 0);
    CHECK(memcmp(p1, pr, n * sizeof(float)) == 0);
    tcd_adam_free(&a1);
    tcd_adam_free(&a2);
    free(p1), free(p2), free(g), free(pr), free(mr), free(vr);
}

/* --emb-lr: elements below emb_end take p = (p - decay p) - lr * scale * g in float and keep m = v
 * = 0; the rest take Adam's bits. The same through the whole step (any thread count), through the
 * shared exchange's slices, and through tcd_adam_update over pieces that straddle emb_end. */
static void test_sgd_rows(void) {
    const int64_t n = 70001, emb_end = 40003; /* work blocks of 16384: the boundary inside one */
    float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float)), *p3 = malloc(n * sizeof(float));
    float *g = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float)), *pa = malloc(n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        p1[i] = p2[i] = p3[i] = pa[i] = (float)sin(0.002 * (double)i);
        g[i] = (float)cos(0.29 * (double)i) * 0.05f;
    }
    tcd_adam_config c;
    tcd_adam_config_default(&c);
    c.weight_decay = 0.01;
    tcd_adam adam_only, a1, a2, a3;
    tcd_adam_init(&adam_only, &c, n);
    c.emb_lr_scale = 250.0;
    c.emb_end = emb_end;
    tcd_adam_init(&a1, &c, n);
    tcd_adam_init(&a2, &c, n);
    tcd_adam_init(&a3, &c, n);
    const double lr = 0.002;
    for (int s = 0; s < 3; s++) {
        const float want_lr = (float)(lr * 250.0), decay = (float)(lr * 0.01);
        float *ref = malloc(n * sizeof(float));
        for (int64_t i = 0; i < emb_end; i++) {
            const float pi = p1[i] - decay * p1[i];
            ref[i] = pi - want_lr * g[i];
        }
        memcpy(g1, g, n * sizeof(float));
        tcd_adam_step_zero_grad(&a1, p1, g1, lr, 1);
        for (int64_t i = 0; i < n; i++) CHECK(g1[i] == 0.0f);
        tcd_adam_step(&a2, p2, g, lr, 3);
        tcd_adam_step(&adam_only, pa, g, lr, 1);
        /* pieces of 1000 that cross emb_end, as the shared exchange's blocks do */
        const tcd_adam_step_consts k = tcd_adam_begin(&a3, lr);
        for (int64_t at = 0; at < n; at += 1000) {
            const int64_t len = at + 1000 < n ? 1000 : n - at;
            tcd_adam_update(&k, p3 + at, g + at, a3.m + at, a3.v + at, at, len);
        }
        CHECK(memcmp(p1, ref, emb_end * sizeof(float)) == 0);
        CHECK(memcmp(p1 + emb_end, pa + emb_end, (n - emb_end) * sizeof(float)) == 0);
        CHECK(memcmp(p1, p2, n * sizeof(float)) == 0 && memcmp(p1, p3, n * sizeof(float)) == 0);
        for (int64_t i = 0; i < emb_end; i++) CHECK(a1.m[i] == 0.0f && a1.v[i] == 0.0f && a3.v[i] == 0.0f);
        CHECK(memcmp(a1.m + emb_end, adam_only.m + emb_end, (n - emb_end) * sizeof(float)) == 0);
        free(ref);
    }
    tcd_adam_free(&adam_only);
    tcd_adam_free(&a1);
    tcd_adam_free(&a2);
    tcd_adam_free(&a3);
    free(p1), free(p2), free(p3), free(g), free(g1), free(pa);
}

/* The shared exchange's update: slices [lo, hi) of one buffer, each rank summing 3 gradient buffers
 * (float, and int64 fixed point), give the bits of one whole step on the summed gradient, leave
 * the sources as they were (their writers clear them), and touch nothing outside the slice. */
static void test_sum_slices(void) {
    const int64_t n = 10007, cut[4] = {0, 3072, 3073, n}; /* the middle slice has one element */
    enum { NS = 3 };
    float *p_ref = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float)), *g_ref = calloc(n, sizeof(float));
    float *src[NS];
    int64_t *fix[NS];
    for (int r = 0; r < NS; r++) src[r] = malloc(n * sizeof(float)), fix[r] = malloc(n * sizeof(int64_t));
    tcd_adam_config c;
    tcd_adam_config_default(&c);
    tcd_adam ref, sl[3];
    tcd_adam_init(&ref, &c, n);
    for (int k = 0; k < 3; k++) tcd_adam_init(&sl[k], &c, n);
    /* the slices share one p, m and v, as the ranks of a node do */
    for (int k = 1; k < 3; k++) free(sl[k].m), free(sl[k].v), sl[k].m = sl[0].m, sl[k].v = sl[0].v;
    for (int64_t i = 0; i < n; i++) p_ref[i] = p[i] = (float)sin(0.01 * (double)i);
    for (int fixed = 0; fixed < 2; fixed++)
        for (int s = 0; s < 2; s++) {
            for (int64_t i = 0; i < n; i++) {
                g_ref[i] = 0;
                int64_t acc = 0;
                for (int r = 0; r < NS; r++) {
                    const float x = (float)cos(0.3 * (double)i + r + s) * 0.01f * (float)(r + 1);
                    src[r][i] = x;
                    fix[r][i] = (int64_t)llrint((double)x * 0x1p40);
                    acc += fix[r][i];
                    if (!fixed) g_ref[i] += x; /* rank order, in float */
                }
                if (fixed) g_ref[i] = (float)((double)acc * 0x1p-40);
            }
            tcd_adam_step(&ref, p_ref, g_ref, 0.01, 1);
            for (int k = 0; k < 3; k++) {
                if (fixed)
                    tcd_shared_sum_update_fixed(&sl[k], p, fix, NS, NULL, cut[k], cut[k + 1], 0.01, 2);
                else
                    tcd_shared_sum_update(&sl[k], p, src, NS, NULL, cut[k], cut[k + 1], 0.01, 2);
            }
            CHECK(memcmp(p, p_ref, n * sizeof(float)) == 0);
            CHECK(memcmp(sl[0].m, ref.m, n * sizeof(float)) == 0 && memcmp(sl[0].v, ref.v, n * sizeof(float)) == 0);
            for (int r = 0; r < NS; r++)
                for (int64_t i = 0; i < n; i++)
                    CHECK(fixed ? fix[r][i] == (int64_t)llrint((double)src[r][i] * 0x1p40)
                                : src[r][i] == (float)cos(0.3 * (double)i + r + s) * 0.01f * (float)(r + 1));
        }
    CHECK(sl[0].t == 4 && sl[2].t == 4);
    for (int k = 1; k < 3; k++) sl[k].m = sl[k].v = NULL;
    for (int k = 0; k < 3; k++) tcd_adam_free(&sl[k]);
    tcd_adam_free(&ref);
    for (int r = 0; r < NS; r++) free(src[r]), free(fix[r]);
    free(p_ref), free(p), free(g_ref);
}

/* With row marks: each source holds values only in the rows it marked (others +0, not read), some
 * of them -0; slices cut rows and the last slice runs into the dense tail. The result is the full
 * rank-order sum's step bit for bit, sign of zero included; tcd_clear_marked leaves a source zero
 * with its marks cleared. */
static void test_sum_marked(void) {
    enum { NS = 3, L = 5, ROWS = 700 };
    const int64_t sparse_end = (int64_t)ROWS * L, n = sparse_end + 333;
    const int64_t cut[4] = {0, 1027, 2049, n}; /* not at row boundaries */
    float *p_ref = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float)), *g_ref = malloc(n * sizeof(float));
    float *src[NS];
    int64_t *fix[NS];
    uint64_t *bits[NS];
    for (int r = 0; r < NS; r++) {
        src[r] = calloc(n, sizeof(float));
        fix[r] = calloc(n, sizeof(int64_t));
        bits[r] = calloc((ROWS + 63) / 64, sizeof(uint64_t));
    }
    tcd_adam_config c;
    tcd_adam_config_default(&c);
    for (int fixed = 0; fixed < 2; fixed++) {
        tcd_adam ref, sl[3];
        tcd_adam_init(&ref, &c, n);
        for (int k = 0; k < 3; k++) tcd_adam_init(&sl[k], &c, n);
        for (int k = 1; k < 3; k++) free(sl[k].m), free(sl[k].v), sl[k].m = sl[0].m, sl[k].v = sl[0].v;
        for (int64_t i = 0; i < n; i++) p_ref[i] = p[i] = (float)sin(0.01 * (double)i);
        for (int step = 0; step < 3; step++) {
            uint64_t h = 0x9e3779b97f4a7c15ull * (uint64_t)(step + 1 + 10 * fixed);
            for (int r = 0; r < NS; r++) {
                int32_t toks[ROWS];
                int nt = 0;
                for (int64_t row = 0; row < ROWS; row++) {
                    h = h * 6364136223846793005ull + 1442695040888963407ull;
                    /* frequent rows are used by every rank, rare ones seldom; some whole words empty */
                    const int used = row < 100 ? (h >> 60) != 0 : (row >= 320 && row < 448) ? 0 : (h >> 62) == 0;
                    if (!used) continue;
                    toks[nt++] = (int32_t)row;
                    for (int64_t e = row * L; e < row * L + L; e++) {
                        h = h * 6364136223846793005ull + 1442695040888963407ull;
                        float x = (h >> 61) == 0 ? -0.0f : (float)((double)(h >> 40) / 16777216.0 - 0.5) * 0.01f;
                        src[r][e] = x;
                        fix[r][e] = (int64_t)llrint((double)x * 0x1p40);
                    }
                }
                tcd_row_marks_set(bits[r], toks, nt);
                for (int64_t e = sparse_end; e < n; e++) {
                    src[r][e] = (float)cos(0.1 * (double)e + r + step) * 0.01f;
                    fix[r][e] = (int64_t)llrint((double)src[r][e] * 0x1p40);
                }
            }
            for (int64_t e = 0; e < n; e++) {
                if (fixed) {
                    int64_t acc = 0;
                    for (int r = 0; r < NS; r++) acc += fix[r][e];
                    g_ref[e] = (float)((double)acc * 0x1p-40);
                } else {
                    float acc = src[0][e];
                    for (int r = 1; r < NS; r++) acc += src[r][e]; /* the full sum, +0 terms included */
                    g_ref[e] = acc;
                }
            }
            tcd_adam_step(&ref, p_ref, g_ref, 0.01, 1);
            const tcd_row_marks mk = {.bits = (const uint64_t *const *)bits, .n_ranks = NS, .row_len = L,
                                      .sparse_end = sparse_end};
            for (int k = 0; k < 3; k++) {
                if (fixed)
                    tcd_shared_sum_update_fixed(&sl[k], p, fix, NS, &mk, cut[k], cut[k + 1], 0.01, 2);
                else
                    tcd_shared_sum_update(&sl[k], p, src, NS, &mk, cut[k], cut[k + 1], 0.01, 2);
            }
            CHECK(memcmp(p, p_ref, n * sizeof(float)) == 0);
            CHECK(memcmp(sl[0].m, ref.m, n * sizeof(float)) == 0 && memcmp(sl[0].v, ref.v, n * sizeof(float)) == 0);
            for (int r = 0; r < NS; r++) {
                tcd_clear_marked(src[r], sizeof(float), bits[r], ROWS, L);
                for (int64_t w = 0; w < (ROWS + 63) / 64; w++) CHECK(bits[r][w] == 0);
                tcd_row_marks_set(bits[r], (const int32_t[]){0}, 0);
                for (int64_t e = 0; e < sparse_end; e++) CHECK(src[r][e] == 0.0f && !signbit(src[r][e]));
                memset(fix[r], 0, sizeof(int64_t) * (size_t)n);
            }
        }
        for (int k = 1; k < 3; k++) sl[k].m = sl[k].v = NULL;
        for (int k = 0; k < 3; k++) tcd_adam_free(&sl[k]);
        tcd_adam_free(&ref);
    }
    for (int r = 0; r < NS; r++) free(src[r]), free(fix[r]), free(bits[r]);
    free(p_ref), free(p), free(g_ref);
}

static void test_schedules(void) {
    tcd_lr_schedule s = {TCD_LR_CONSTANT, 0.5, 10, 110, 0.1};
    CHECK(tcd_lr_at(&s, 0) == 0.5 && tcd_lr_at(&s, 50) == 0.5 && tcd_lr_at(&s, 1000) == 0.5);
    /* linear: warmup lr * step / 10, then from 1.0 at step 10 down to 0.1 at step 110 */
    s = (tcd_lr_schedule){TCD_LR_LINEAR, 1.0, 10, 110, 0.1};
    CHECK(NEAR(tcd_lr_at(&s, 0), 0.0, 1e-12));
    CHECK(NEAR(tcd_lr_at(&s, 5), 0.5, 1e-12));
    CHECK(NEAR(tcd_lr_at(&s, 10), 1.0, 1e-12));
    CHECK(NEAR(tcd_lr_at(&s, 60), 0.55, 1e-12)); /* 0.1 + 0.9 * (1 - 0.5) */
    CHECK(NEAR(tcd_lr_at(&s, 35), 0.775, 1e-12)); /* 0.1 + 0.9 * 0.75 */
    CHECK(NEAR(tcd_lr_at(&s, 109), 0.109, 1e-12));
    CHECK(tcd_lr_at(&s, 110) == 0.1 && tcd_lr_at(&s, 5000) == 0.1);
    /* linear without warmup starts at the peak */
    s.warmup = 0;
    CHECK(NEAR(tcd_lr_at(&s, 0), 1.0, 1e-12));
    /* cosine: same warmup, then min + (lr - min) (1 + cos(pi progress)) / 2 */
    s = (tcd_lr_schedule){TCD_LR_COSINE, 1.0, 10, 110, 0.1};
    CHECK(NEAR(tcd_lr_at(&s, 0), 0.0, 1e-12));
    CHECK(NEAR(tcd_lr_at(&s, 3), 0.3, 1e-12));
    CHECK(NEAR(tcd_lr_at(&s, 10), 1.0, 1e-12));
    CHECK(NEAR(tcd_lr_at(&s, 35), 0.8681980515339464, 1e-12)); /* progress 1/4 */
    CHECK(NEAR(tcd_lr_at(&s, 60), 0.55, 1e-12));
    CHECK(tcd_lr_at(&s, 110) == 0.1 && tcd_lr_at(&s, 111) == 0.1);
    /* total_steps shorter than warmup: clamped, no division by zero */
    s = (tcd_lr_schedule){TCD_LR_COSINE, 1.0, 10, 5, 0.0};
    CHECK(NEAR(tcd_lr_at(&s, 2), 0.2, 1e-12) && tcd_lr_at(&s, 7) == 0.0);
    CHECK(tcd_lr_kind_parse("constant") == TCD_LR_CONSTANT && tcd_lr_kind_parse("linear") == TCD_LR_LINEAR &&
           tcd_lr_kind_parse("cosine") == TCD_LR_COSINE && tcd_lr_kind_parse("Cosine") == -1 &&
           tcd_lr_kind_parse("") == -1);
}

static void test_norms(void) {
    float a[2] = {3.0f, 4.0f};
    CHECK(tcd_l2_norm(a, 2) == 5.0);
    CHECK(tcd_l2_norm(a, 0) == 0.0);
    float *x = malloc(1000 * sizeof(float));
    for (int i = 0; i < 1000; i++) x[i] = (float)(i * 0.001);
    /* python: sqrt(sum(float32(i * 0.001)^2)) */
    CHECK(NEAR(tcd_l2_norm(x, 1000), 18.243724948602, 1e-9));
    /* a length that leaves a tail after the 8-wide body */
    double ref = 0;
    for (int i = 0; i < 13; i++) ref += (double)x[i] * x[i];
    CHECK(NEAR(tcd_l2_norm(x, 13), sqrt(ref), 1e-15));
    tcd_scale(x, 1000, 0.5f);
    CHECK(x[999] == (float)(0.999) * 0.5f && x[1] == (float)0.001 * 0.5f);
    free(x);
}

int main(void) {
    test_hand(0.0, P_ADAM);
    test_hand(0.1, P_ADAMW);
    test_paths_and_threads();
    test_sgd_rows();
    test_sum_slices();
    test_sum_marked();
    test_schedules();
    test_norms();
    printf("adam: ok\n");
    return 0;
}
