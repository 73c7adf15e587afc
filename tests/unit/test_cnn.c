/* The convolutional model (models/cnn.c) and its layers: conv1d, max over time, dropout and the
 * sequence embedding against plain references and finite differences; the whole model's gradient
 * (two and four classes, dropout on, ragged, empty and truncated documents) against finite
 * differences and its forward against a double-precision reference; bit-identical gradients for
 * 1-4 threads; --deterministic fixed-point gradients identical for any split of a batch, close to
 * the float ones, with per-document probabilities that do not depend on the batch. */
#include "check.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "layers/layers.h"
#include "models/model.h"

static uint64_t rng_state = 4242;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double urand(void) { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
static float frand(float lo, float hi) { return (float)(lo + (hi - lo) * urand()); }

static const double RTOL = 1e-2, ATOL = 1e-4;

static int mismatch(const char *what, int64_t i, double num, double ana, int *printed) {
    const double tol = RTOL * fmax(fabs(num), fabs(ana)) + ATOL;
    if (fabs(num - ana) <= tol) return 0;
    if ((*printed)++ < 5) fprintf(stderr, "  %s[%lld]: numeric %.6g analytic %.6g\n", what, (long long)i, num, ana);
    return 1;
}

static int check_param(const char *name, float *x, int64_t n, const float *ana, double (*loss)(void *), void *ctx,
                       float eps) {
    int bad = 0, printed = 0;
    for (int64_t k = 0; k < n; k++) {
        const float save = x[k];
        x[k] = save + eps;
        const double lp = loss(ctx);
        x[k] = save - eps;
        const double lm = loss(ctx);
        x[k] = save;
        bad += mismatch(name, k, (lp - lm) / (2.0 * eps), ana[k], &printed);
    }
    return bad;
}

static double max_rel_diff(const float *a, const float *b, int64_t n) {
    double mx = 0, err = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) err = fmax(err, fabs((double)a[i] - b[i]));
    return mx > 0 ? err / mx : err;
}

/* ---------------- conv1d ---------------- */
enum { CL = 7, CD = 3, CW = 3, CF = 4, CP = CL - CW + 1 };
typedef struct {
    float *x, *W, *b, *R;
} conv_ctx;
static double conv_loss(void *p) {
    conv_ctx *c = p;
    float out[CP * CF];
    conv1d_forward_ref(out, c->x, c->W, c->b, CL, CD, CW, CF);
    double L = 0;
    for (int i = 0; i < CP * CF; i++) L += (double)out[i] * c->R[i];
    return L;
}

static int test_conv1d(void) {
    float x[CL * CD], W[CF * CW * CD], b[CF], R[CP * CF], out[CP * CF], out_ref[CP * CF], col[CP * CW * CD];
    for (int i = 0; i < CL * CD; i++) x[i] = frand(-1, 1);
    for (int i = 0; i < CF * CW * CD; i++) W[i] = frand(-1, 1);
    for (int i = 0; i < CF; i++) b[i] = frand(-1, 1);
    for (int i = 0; i < CP * CF; i++) R[i] = frand(-1, 1);
    /* forward: BLAS against the plain loops, and one output against the definition */
    conv1d_forward(out, col, x, W, b, CL, CD, CW, CF);
    conv1d_forward_ref(out_ref, x, W, b, CL, CD, CW, CF);
    CHECK(max_rel_diff(out, out_ref, CP * CF) < 1e-6);
    double s = b[2];
    for (int j = 0; j < CW; j++)
        for (int d = 0; d < CD; d++) s += (double)W[2 * CW * CD + j * CD + d] * x[(3 + j) * CD + d];
    CHECK(NEAR(out_ref[3 * CF + 2], s, 1e-5));
    /* the BLAS-free kernel (--deterministic, inference) */
    float Wt[CW * CD * CF], out_rows[CP * CF];
    conv1d_transpose(Wt, W, CF, CW * CD);
    CHECK(Wt[5 * CF + 2] == W[2 * CW * CD + 5]);
    conv1d_forward_rows(out_rows, x, Wt, b, CL, CD, CW, CF);
    CHECK(max_rel_diff(out_rows, out_ref, CP * CF) < 1e-6);
    for (int t = 0; t < CP; t++) { /* a position's bits do not depend on the others (blocks of 4) */
        float one[CF];
        conv1d_forward_rows(one, x + t * CD, Wt, b, CW, CD, CW, CF);
        CHECK(memcmp(one, out_rows + t * CF, sizeof one) == 0);
    }
    /* backward: BLAS against the plain loops (both ADD), then finite differences */
    float dx[CL * CD], dW[CF * CW * CD], db[CF], dx2[CL * CD], dW2[CF * CW * CD], db2[CF];
    for (int i = 0; i < CL * CD; i++) dx[i] = dx2[i] = 0.5f;
    for (int i = 0; i < CF * CW * CD; i++) dW[i] = dW2[i] = -0.25f;
    for (int i = 0; i < CF; i++) db[i] = db2[i] = 1.0f;
    conv1d_backward(dx, dW, db, col, R, x, W, CL, CD, CW, CF);
    conv1d_backward_ref(dx2, dW2, db2, R, x, W, CL, CD, CW, CF);
    CHECK(max_rel_diff(dx, dx2, CL * CD) < 1e-6 && max_rel_diff(dW, dW2, CF * CW * CD) < 1e-6 &&
          max_rel_diff(db, db2, CF) < 1e-6);
    for (int i = 0; i < CL * CD; i++) dx[i] = 0;
    for (int i = 0; i < CF * CW * CD; i++) dW[i] = 0;
    for (int i = 0; i < CF; i++) db[i] = 0;
    conv1d_backward(dx, dW, db, col, R, x, W, CL, CD, CW, CF);
    conv_ctx c = {x, W, b, R};
    int bad = check_param("conv1d dW", W, CF * CW * CD, dW, conv_loss, &c, 1e-2f) +
              check_param("conv1d db", b, CF, db, conv_loss, &c, 1e-2f) +
              check_param("conv1d dx", x, CL * CD, dx, conv_loss, &c, 1e-2f);
    /* several sequences in one sgemm: sequences of 3, 7 (all of x) and 4 rows, rows counted from 10 */
    {
        const int64_t rows[4] = {10, 13, 20, 24};
        float xs[14 * CD], outs[(1 + 5 + 2) * CF], cols[8 * CW * CD], want[8 * CF];
        for (int i = 0; i < 14 * CD; i++) xs[i] = frand(-1, 1);
        conv1d_forward_seqs(outs, cols, xs, rows, 3, 0, W, b, CD, CW, CF);
        int64_t o = 0;
        for (int i = 0; i < 3; i++) {
            const int64_t Li = rows[i + 1] - rows[i];
            conv1d_forward_ref(want + o * CF, xs + (rows[i] - rows[0]) * CD, W, b, Li, CD, CW, CF);
            o += Li - CW + 1;
        }
        CHECK(o == 8 && max_rel_diff(outs, want, 8 * CF) < 1e-6);
        /* trim 1: each block without its first and last row; the 3- and 4-row blocks then have no window */
        conv1d_forward_seqs(outs, cols, xs, rows, 3, 1, W, b, CD, CW, CF);
        conv1d_forward_ref(want, xs + 4 * CD, W, b, 5, CD, CW, CF);
        CHECK(max_rel_diff(outs, want, (5 - CW + 1) * CF) < 1e-6);
    }
    /* a window as wide as the input: one position */
    float o1[CF], o1r[CF], col1[CL * CD], W1[CF * CL * CD];
    for (int i = 0; i < CF * CL * CD; i++) W1[i] = frand(-1, 1);
    conv1d_forward(o1, col1, x, W1, b, CL, CD, CL, CF);
    conv1d_forward_ref(o1r, x, W1, b, CL, CD, CL, CF);
    CHECK(max_rel_diff(o1, o1r, CF) < 1e-6);
    printf("conv1d: %d mismatches\n", bad);
    return bad;
}

/* ---------------- max over time, and the fused max-pooled conv backward ---------------- */
typedef struct {
    float *y, *R;
} pool_ctx;
static double pool_loss(void *p) {
    pool_ctx *c = p;
    float out[CF];
    int32_t arg[CF];
    maxtime_forward(out, arg, c->y, CP, CF);
    double L = 0;
    for (int f = 0; f < CF; f++) L += (double)out[f] * c->R[f];
    return L;
}

static int test_maxtime(void) {
    float y[CP * CF], R[CF], out[CF], dy[CP * CF] = {0};
    int32_t arg[CF];
    for (int i = 0; i < CP * CF; i++) y[i] = (float)(i * 7 % 13) * 0.1f - 0.6f; /* distinct per column */
    for (int f = 0; f < CF; f++) R[f] = frand(-1, 1);
    maxtime_forward(out, arg, y, CP, CF);
    for (int f = 0; f < CF; f++) {
        float mx = -INFINITY;
        int at = -1;
        for (int t = 0; t < CP; t++)
            if (y[t * CF + f] > mx) mx = y[t * CF + f], at = t;
        CHECK(out[f] == mx && arg[f] == at);
    }
    maxtime_backward(dy, R, arg, CP, CF);
    pool_ctx c = {y, R};
    int bad = check_param("maxtime dy", y, CP * CF, dy, pool_loss, &c, 1e-3f);
    /* ties: the first position wins */
    float tie[3 * 1] = {0.5f, 0.5f, 0.1f};
    float o;
    int32_t a;
    maxtime_forward(&o, &a, tie, 3, 1);
    CHECK(o == 0.5f && a == 0);
    printf("maxtime: %d mismatches\n", bad);
    return bad;
}

/* conv1d_maxpool_backward = maxtime_backward into a dense dout + conv1d_backward_ref; the fixed
 * variant rounds each of those products. */
static void test_maxpool_backward(void) {
    float x[CL * CD], W[CF * CW * CD], y[CP * CF], pool[CF], dpool[CF], dout[CP * CF] = {0};
    int32_t arg[CF];
    for (int i = 0; i < CL * CD; i++) x[i] = frand(-1, 1);
    for (int i = 0; i < CF * CW * CD; i++) W[i] = frand(-1, 1);
    conv1d_forward_ref(y, x, W, NULL, CL, CD, CW, CF);
    maxtime_forward(pool, arg, y, CP, CF);
    for (int f = 0; f < CF; f++) dpool[f] = f == 1 ? 0.0f : frand(-1, 1);
    maxtime_backward(dout, dpool, arg, CP, CF);
    float dx[CL * CD] = {0}, dW[CF * CW * CD] = {0}, db[CF] = {0};
    float dx2[CL * CD] = {0}, dW2[CF * CW * CD] = {0}, db2[CF] = {0};
    conv1d_maxpool_backward(dx, dW, db, dpool, arg, x, W, CD, CW, CF);
    conv1d_backward_ref(dx2, dW2, db2, dout, x, W, CL, CD, CW, CF);
    CHECK(max_rel_diff(dx, dx2, CL * CD) < 1e-6 && max_rel_diff(dW, dW2, CF * CW * CD) < 1e-6 &&
          max_rel_diff(db, db2, CF) < 1e-6);
    int64_t fW[CF * CW * CD] = {0}, fb[CF] = {0};
    CHECK(conv1d_maxpool_backward_fixed(fW, fb, dpool, arg, x, CD, CW, CF, TCD_FIX_LIMIT) == 0);
    for (int i = 0; i < CF * CW * CD; i++) CHECK(fW[i] == tcd_fix_round((double)dW[i] * TCD_FIX_ONE));
    for (int f = 0; f < CF; f++) CHECK(fb[f] == tcd_fix_round((double)db[f] * TCD_FIX_ONE));
    dpool[0] = 1e30f;
    CHECK(conv1d_maxpool_backward_fixed(fW, fb, dpool, arg, x, CD, CW, CF, TCD_FIX_LIMIT) == 1);
    printf("conv1d_maxpool_backward: matches the dense backward\n");
}

/* ---------------- dropout ---------------- */
static void test_dropout(void) {
    enum { N = 20000 };
    float *in = malloc(N * sizeof(float)), *out = malloc(N * sizeof(float)), *out2 = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) in[i] = frand(-1, 1);
    const float p = 0.3f, k = (float)(1.0 / 0.7);
    dropout_forward(out, in, N, p, 9, 5, 123);
    int64_t kept = 0;
    for (int i = 0; i < N; i++) {
        const float s = dropout_scale(p, 9, 5, 123, i);
        CHECK(s == 0.0f || s == k);
        CHECK(out[i] == in[i] * s);
        kept += s != 0.0f;
    }
    CHECK(fabs((double)kept / N - 0.7) < 0.02);
    /* a pure function of (seed, step, doc, unit): the same again, and different for another step,
     * document or seed */
    dropout_forward(out2, in, N, p, 9, 5, 123);
    CHECK(memcmp(out, out2, N * sizeof(float)) == 0);
    const int64_t args[3][3] = {{10, 5, 123}, {9, 6, 123}, {9, 5, 124}};
    for (int a = 0; a < 3; a++) {
        dropout_forward(out2, in, N, p, (uint64_t)args[a][0], args[a][1], args[a][2]);
        CHECK(memcmp(out, out2, N * sizeof(float)) != 0);
    }
    /* backward applies the same mask (linear: the gradient of sum(out * R) is R * mask) */
    dropout_backward(out2, in, N, p, 9, 5, 123);
    CHECK(memcmp(out, out2, N * sizeof(float)) == 0);
    /* p = 0: the identity */
    dropout_forward(out2, in, N, 0.0f, 9, 5, 123);
    CHECK(memcmp(in, out2, N * sizeof(float)) == 0);
    free(in);
    free(out);
    free(out2);
    printf("dropout: kept %.4f of the units at p = 0.3\n", (double)kept / N);
}

/* ---------------- embedding_seq ---------------- */
static void test_embedding_seq(void) {
    enum { V = 9, D = 3 };
    float emb[V * D], out[6 * D];
    for (int i = 0; i < V * D; i++) emb[i] = frand(-1, 1);
    const int32_t tok[] = {4, 2, 4, 8, 1, 0};
    embedding_seq_forward(out, emb, tok, 4, 6, D);
    for (int i = 0; i < 4; i++) CHECK(memcmp(out + i * D, emb + tok[i] * D, D * sizeof(float)) == 0);
    for (int i = 4 * D; i < 6 * D; i++) CHECK(out[i] == 0.0f);
    /* two documents: rows 0..3 of dx are doc 0 (3 used), rows 4..7 doc 1 (1 used); offsets start at 50 */
    const int64_t off[3] = {50, 54, 56}, xrow[3] = {0, 4, 8}, lens[2] = {3, 1};
    float dx[8 * D], demb[V * D] = {0}, ref[V * D] = {0};
    int64_t fx[8 * D], acc[V * D] = {0};
    for (int i = 0; i < 8 * D; i++) dx[i] = frand(-1, 1), fx[i] = (int64_t)(next_u64() % 1000) - 500;
    const int rows_used[4][2] = {{0, 0}, {1, 1}, {2, 2}, {4, 4}}; /* (dx row, token index) */
    int64_t aref[V * D] = {0};
    for (int r = 0; r < 4; r++)
        for (int d = 0; d < D; d++) {
            ref[tok[rows_used[r][1]] * D + d] += dx[rows_used[r][0] * D + d];
            aref[tok[rows_used[r][1]] * D + d] += fx[rows_used[r][0] * D + d];
        }
    embedding_seq_backward(demb, dx, xrow, lens, tok, off, 2, D, 0, 5);
    embedding_seq_backward(demb, dx, xrow, lens, tok, off, 2, D, 5, V);
    CHECK(max_rel_diff(demb, ref, V * D) < 1e-6);
    embedding_seq_backward_fixed(acc, fx, xrow, lens, tok, off, 2, D, 0, 3);
    embedding_seq_backward_fixed(acc, fx, xrow, lens, tok, off, 2, D, 3, V);
    CHECK(memcmp(acc, aref, sizeof acc) == 0);
    /* a slice of the batch (document 1 alone, as a wave of the backward passes it): its rows of dx
     * from row 0 (xrow[1] - xrow[1]), its tokens from offsets[1] - offsets[1] */
    float slice[V * D] = {0}, sref[V * D] = {0};
    int64_t sacc[V * D] = {0}, saref[V * D] = {0};
    for (int d = 0; d < D; d++) sref[tok[4] * D + d] += dx[4 * D + d], saref[tok[4] * D + d] += fx[4 * D + d];
    embedding_seq_backward(slice, dx + 4 * D, xrow + 1, lens + 1, tok + 4, off + 1, 1, D, 0, V);
    embedding_seq_backward_fixed(sacc, fx + 4 * D, xrow + 1, lens + 1, tok + 4, off + 1, 1, D, 0, V);
    CHECK(memcmp(slice, sref, sizeof slice) == 0);
    CHECK(memcmp(sacc, saref, sizeof sacc) == 0);
    printf("embedding_seq: ok\n");
}

/* ---------------- the model ---------------- */
/* 1: the tests below build `--wide 1` models (and their references pad as Kim's code does) */
static int g_wide;

static int cnn_build(tcd_model *m, int64_t V, int64_t C, const char *dim, const char *filters, const char *widths,
                     const char *dropout, const char *max_len, uint64_t seed) {
    const tcd_model_kind *k = tcd_model_kind_find("cnn");
    CHECK(k);
    void *cfg = tcd_model_config_new(k);
    char err[512];
    const char *names[] = {"dim", "filters", "widths", "dropout", "max_len", "wide"};
    const char *vals[] = {dim, filters, widths, dropout, max_len, g_wide ? "1" : "0"};
    for (int i = 0; i < 6; i++)
        if (tcd_model_config_set(k, cfg, tcd_model_param_find(k, names[i]), vals[i], err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            free(cfg);
            return -1;
        }
    const tcd_model_shape shape = {.n_embeddings = V, .n_classes = C};
    const int rc = tcd_model_build(m, k, cfg, &shape, seed, err, sizeof err);
    free(cfg);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return rc;
    }
    tcd_model_alloc(m);
    tcd_model_init_params(m, m->params);
    return 0;
}

enum { MV = 30, MD = 4, MF = 3, MB = 8, MAXLEN = 7, NW = 2 };
static const int64_t mwidths[NW] = {2, 3};

/* Double-precision forward of the model from its definition; also the smallest distance of the
 * finite-difference step to a kink (a max that changes hands, a pooled value at 0). */
static double ref_forward(const tcd_model *m, const tcd_batch *b, double *probs, double *margin, float p) {
    const int64_t O = m->n_out, C = m->shape.n_classes, KF = MF * NW;
    const float *E = m->params, *Wo = tcd_model_view(m, m->params, "out.weight");
    const float *bo = tcd_model_view(m, m->params, "out.bias");
    double total = 0;
    *margin = INFINITY;
    for (int64_t i = 0; i < b->n; i++) {
        const int32_t *tok = b->tokens + (b->offsets[i] - b->offsets[0]);
        int64_t L = b->offsets[i + 1] - b->offsets[i];
        L = L < MAXLEN ? L : MAXLEN;
        /* wide: the widest filter (3) less one zero rows at each end; a width-2 filter skips one of them */
        const int64_t pad = g_wide ? 2 : 0, Lp = L + 2 * pad > 3 ? L + 2 * pad : 3;
        double x[MAXLEN + 7][MD] = {{0}}, h[KF], z[8];
        for (int64_t t = 0; t < L; t++)
            for (int d = 0; d < MD; d++) x[pad + t][d] = E[tok[t] * MD + d];
        for (int k = 0; k < NW; k++) {
            char name[32];
            snprintf(name, sizeof name, "conv%d.weight", k);
            const float *W = tcd_model_view(m, m->params, name);
            snprintf(name, sizeof name, "conv%d.bias", k);
            const float *bc = tcd_model_view(m, m->params, name);
            const int64_t w = mwidths[k], o = g_wide ? 3 - w : 0;
            for (int f = 0; f < MF; f++) {
                double best = -INFINITY, second = -INFINITY;
                for (int64_t t = o; t + w <= Lp - o; t++) {
                    double s = bc[f];
                    for (int64_t j = 0; j < w; j++)
                        for (int d = 0; d < MD; d++) s += W[f * w * MD + j * MD + d] * x[t + j][d];
                    /* an exact tie is an identical window (repeated tokens, padding): every
                     * step moves both alike, so it is no kink */
                    if (s > best) second = best, best = s;
                    else if (s < best && s > second) second = s;
                }
                if (second > -INFINITY) *margin = fmin(*margin, best - second);
                *margin = fmin(*margin, fabs(best));
                h[k * MF + f] = best > 0 ? best : 0;
            }
        }
        for (int u = 0; u < KF; u++)
            h[u] *= m->training ? dropout_scale(p, m->seed, m->step, b->doc_ids[i], u) : 1.0f;
        for (int64_t o = 0; o < O; o++) {
            double s = bo[o];
            for (int u = 0; u < KF; u++) s += Wo[o * KF + u] * h[u];
            z[o] = s;
        }
        if (O == 1) {
            const double q = 1 / (1 + exp(-z[0]));
            probs[2 * i] = 1 - q;
            probs[2 * i + 1] = q;
            total += b->labels[i] ? -log(q) : -log(1 - q);
        } else {
            double mx = z[0], s = 0;
            for (int64_t c = 1; c < C; c++) mx = fmax(mx, z[c]);
            for (int64_t c = 0; c < C; c++) s += exp(z[c] - mx);
            for (int64_t c = 0; c < C; c++) probs[i * C + c] = exp(z[c] - mx) / s;
            total += mx + log(s) - z[b->labels[i]];
        }
    }
    return total;
}

typedef struct {
    tcd_model *m;
    tcd_batch *b;
} model_ctx;
static double model_loss(void *p) {
    model_ctx *c = p;
    return tcd_model_forward(c->m, c->b, NULL, 1);
}

static int test_model(int64_t C, int training) {
    tcd_model m;
    CHECK(cnn_build(&m, MV, C, "4", "3", "2,3", "0.3", "7", 7) == 0);
    CHECK(m.n_tensors == 1 + 2 * NW + 2 && m.tensors[0].sparse_rows);
    int32_t tokens[200], labels[MB];
    int64_t offsets[MB + 1], ids[MB];
    const int lens[MB] = {3, 0, 1, 9, 5, 2, 12, 7}; /* empty, shorter than the widest filter, truncated */
    int pos = 0;
    offsets[0] = 100;
    for (int i = 0; i < MB; i++) {
        for (int j = 0; j < lens[i]; j++, pos++) tokens[pos] = (j % 3 == 2) ? tokens[pos - 2] : (int32_t)(urand() * MV);
        offsets[i + 1] = 100 + pos;
        labels[i] = (int32_t)(urand() * (double)C);
        ids[i] = 1000 + 17 * i;
    }
    tcd_batch b = {.n = MB, .tokens = tokens, .offsets = offsets, .labels = labels, .doc_ids = ids};
    tcd_model_set_training(&m, training, 3);
    float probs[MB * 8];
    double rprobs[MB * 8], margin = 0;
    int tries = 0;
    do {
        for (int64_t k = 0; k < m.n_params; k++) m.params[k] = frand(-0.8f, 0.8f);
        ref_forward(&m, &b, rprobs, &margin, 0.3f);
        CHECK(++tries < 5000);
    } while (margin < 0.03);
    const double L = tcd_model_forward(&m, &b, probs, 1), Lref = ref_forward(&m, &b, rprobs, &margin, 0.3f);
    CHECK(fabs(L - Lref) <= 1e-5 * fmax(1.0, fabs(Lref)));
    for (int i = 0; i < MB * C; i++) CHECK(fabs(probs[i] - rprobs[i]) < 1e-5);

    tcd_model_zero_grad(&m);
    tcd_model_forward(&m, &b, NULL, 1);
    tcd_model_backward(&m, &b, 1.0f, 1);
    float *ana = malloc((size_t)m.n_params * sizeof(float));
    memcpy(ana, m.grads, (size_t)m.n_params * sizeof(float));
    /* the embedding gradient is zero in every row no token of the batch names */
    for (int64_t r = 0; r < MV; r++) {
        int used = 0;
        for (int i = 0; i < pos; i++) used |= tokens[i] == r;
        for (int d = 0; d < MD && !used; d++) CHECK(ana[r * MD + d] == 0.0f);
    }
    model_ctx c = {&m, &b};
    int bad = 0;
    for (int k = 0; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        char name[128];
        snprintf(name, sizeof name, "cnn(C=%lld, training %d) %s", (long long)C, training, t->name);
        bad += check_param(name, m.params + t->offset, t->rows * t->cols, ana + t->offset, model_loss, &c, 1e-2f);
    }
    free(ana);
    tcd_model_free(&m);
    printf("cnn model C=%lld training=%d: %d mismatches (%d draws for a margin of %.3f)\n", (long long)C, training,
           bad, tries, margin);
    return bad;
}

/* ---------------- threads and --deterministic ---------------- */
typedef struct {
    int64_t n;
    int32_t *tokens, *labels;
    int64_t *offsets, *ids;
} owned_batch;

static owned_batch make_batch(int64_t n, int64_t V, int maxlen, int64_t C, int64_t base) {
    owned_batch o = {.n = n};
    o.offsets = malloc((size_t)(n + 1) * sizeof(int64_t));
    o.labels = malloc((size_t)n * sizeof(int32_t));
    o.ids = malloc((size_t)n * sizeof(int64_t));
    o.tokens = malloc((size_t)(n * maxlen + 1) * sizeof(int32_t));
    int64_t pos = 0;
    o.offsets[0] = base;
    for (int64_t i = 0; i < n; i++) {
        const int len = (int)(next_u64() % (uint64_t)(maxlen + 1));
        for (int j = 0; j < len; j++) o.tokens[pos++] = (int32_t)(pow((double)V, urand())) - 1;
        o.offsets[i + 1] = base + pos;
        o.labels[i] = (int32_t)(next_u64() % (uint64_t)C);
        o.ids[i] = 5000 + 3 * i;
    }
    return o;
}

static owned_batch sub_batch(const owned_batch *s, const int64_t *idx, int64_t k) {
    owned_batch o = {.n = k};
    o.offsets = malloc((size_t)(k + 1) * sizeof(int64_t));
    o.labels = malloc((size_t)(k ? k : 1) * sizeof(int32_t));
    o.ids = malloc((size_t)(k ? k : 1) * sizeof(int64_t));
    o.tokens = malloc((size_t)(s->offsets[s->n] - s->offsets[0] + 1) * sizeof(int32_t));
    int64_t pos = 0;
    o.offsets[0] = 77;
    for (int64_t i = 0; i < k; i++) {
        const int64_t d = idx[i], lo = s->offsets[d] - s->offsets[0], hi = s->offsets[d + 1] - s->offsets[0];
        for (int64_t t = lo; t < hi; t++) o.tokens[pos++] = s->tokens[t];
        o.offsets[i + 1] = 77 + pos;
        o.labels[i] = s->labels[d];
        o.ids[i] = s->ids[d];
    }
    return o;
}

static void batch_free(owned_batch *o) {
    free(o->tokens);
    free(o->labels);
    free(o->offsets);
    free(o->ids);
}

static tcd_batch view(const owned_batch *o) {
    return (tcd_batch){.n = o->n, .tokens = o->tokens, .offsets = o->offsets, .labels = o->labels, .doc_ids = o->ids};
}

static void backward_fixed(tcd_model *m, const tcd_batch *b, float scale, int nt, int64_t *acc) {
    m->acc = acc;
    tcd_model_backward(m, b, scale, nt);
    m->acc = NULL;
}

enum { TN = 150, TV = 300 };

static void test_threads(tcd_model *m, const owned_batch *full, int64_t C) {
    tcd_batch b = view(full);
    const size_t gbytes = (size_t)m->n_params * sizeof(float), pbytes = (size_t)(TN * C) * sizeof(float);
    float *g_ref = malloc(gbytes), *p_ref = malloc(pbytes), *probs = malloc(pbytes);
    double loss_ref = 0;
    const int threads[] = {1, 2, 4, 3};
    for (int k = 0; k < 4; k++) {
        tcd_model_zero_grad(m);
        const double loss = tcd_model_forward(m, &b, probs, threads[k]);
        tcd_model_backward(m, &b, 1.0f / TN, threads[k]);
        if (k == 0) {
            loss_ref = loss;
            memcpy(g_ref, m->grads, gbytes);
            memcpy(p_ref, probs, pbytes);
            CHECK(isfinite(loss) && loss > 0);
        } else {
            CHECK(loss == loss_ref);
            CHECK(memcmp(p_ref, probs, pbytes) == 0);
            CHECK(memcmp(g_ref, m->grads, gbytes) == 0);
        }
    }
    free(g_ref);
    free(p_ref);
    free(probs);
    printf("cnn C=%lld: 1, 2, 3 and 4 threads give bit-identical losses, probabilities and gradients\n",
           (long long)C);
}

static void shuffle(int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(next_u64() % (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void add_fixed(tcd_model *m, const owned_batch *full, const int64_t *idx, int64_t k, int nt, int64_t *acc,
                      float *probs) {
    owned_batch sb = sub_batch(full, idx, k);
    tcd_batch b = view(&sb);
    CHECK(isfinite(tcd_model_forward(m, &b, probs, nt)));
    backward_fixed(m, &b, 1.0f / TN, nt, acc);
    batch_free(&sb);
}

static void test_deterministic(tcd_model *m, const owned_batch *full, int64_t C) {
    const size_t abytes = (size_t)m->n_params * sizeof(int64_t), pbytes = (size_t)(TN * C) * sizeof(float);
    int64_t *acc_ref = calloc(1, abytes), *acc = malloc(abytes);
    float *p_ref = malloc(pbytes), *probs = malloc(pbytes);
    int64_t idx[TN];
    for (int64_t i = 0; i < TN; i++) idx[i] = i;
    tcd_model_set_deterministic(m, 1);
    add_fixed(m, full, idx, TN, 1, acc_ref, p_ref);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < m->n_params; i++) nonzero += acc_ref[i] != 0;
    CHECK(nonzero > 0);
    const int n_parts[] = {1, 2, 3, 5, 17, TN};
    for (int r = 0; r < 6; r++) {
        int64_t perm[TN], cuts[TN + 1];
        for (int64_t i = 0; i < TN; i++) perm[i] = i;
        shuffle(perm, TN);
        const int p = n_parts[r];
        for (int j = 0; j <= p; j++) cuts[j] = (int64_t)TN * j / p;
        if (p > 2) cuts[1] = cuts[0]; /* an empty part */
        memset(acc, 0, abytes);
        for (int j = 0; j < p; j++) {
            const int64_t k = cuts[j + 1] - cuts[j];
            add_fixed(m, full, perm + cuts[j], k, 1 + (j % 4), acc, probs);
            for (int64_t l = 0; l < k; l++)
                CHECK(memcmp(probs + l * C, p_ref + perm[cuts[j] + l] * C, (size_t)C * sizeof(float)) == 0);
        }
        CHECK(memcmp(acc, acc_ref, abytes) == 0);
    }
    /* against the float gradients */
    float *g_fix = malloc((size_t)m->n_params * sizeof(float));
    tcd_fixed_to_float(g_fix, acc_ref, m->n_params, 2);
    tcd_model_set_deterministic(m, 0);
    tcd_model_zero_grad(m);
    tcd_batch bf = view(full);
    tcd_model_forward(m, &bf, probs, 2);
    tcd_model_backward(m, &bf, 1.0f / TN, 2);
    for (int64_t i = 0; i < TN * C; i++) CHECK(fabsf(probs[i] - p_ref[i]) <= 1e-5f);
    for (int k = 0; k < m->n_tensors; k++) {
        const tcd_tensor *t = &m->tensors[k];
        const double rel = max_rel_diff(g_fix + t->offset, m->grads + t->offset, t->rows * t->cols);
        if (!(rel < 1e-5)) fprintf(stderr, "C=%lld %s: fixed vs float max rel %.3g\n", (long long)C, t->name, rel);
        CHECK(rel < 1e-5);
    }
    free(g_fix);
    free(acc_ref);
    free(acc);
    free(p_ref);
    free(probs);
    printf("cnn C=%lld: fixed-point gradients identical for every split, within 1e-5 of the float ones\n",
           (long long)C);
}

/* Documents longer than the convolution's block of positions (1024 in models/cnn.c): the same
 * probabilities as a whole-document reference, in float and deterministic mode; float and
 * fixed-point gradients agree (the winning windows lie in any block). */
static void test_long_documents(void) {
    enum { LV = 50, LD = 3, LF = 4, LC = 3, LB = 4 };
    static const int64_t lw[2] = {2, 5};
    const int lens[LB] = {2600, 3, 1100, 0};
    tcd_model m;
    CHECK(cnn_build(&m, LV, LC, "3", "4", "2,5", "0", "5000", 21) == 0);
    for (int64_t i = 0; i < m.n_params; i++) m.params[i] = frand(-0.5f, 0.5f);
    int32_t *tok = malloc(4000 * sizeof(int32_t)), lab[LB] = {0, 1, 2, 1};
    int64_t off[LB + 1], ids[LB] = {1, 2, 3, 4}, pos = 0;
    off[0] = 0;
    for (int i = 0; i < LB; i++) {
        for (int j = 0; j < lens[i]; j++) tok[pos++] = (int32_t)(next_u64() % LV);
        off[i + 1] = pos;
    }
    tcd_batch b = {.n = LB, .tokens = tok, .offsets = off, .labels = lab, .doc_ids = ids};
    /* the reference: each document whole, plain loops */
    float want[LB * LC], dW_ref[2][LF * 5 * LD] = {{0}};
    float *x = calloc(2608 * LD, sizeof(float)), *y = malloc(2608 * LF * sizeof(float));
    for (int i = 0; i < LB; i++) {
        const int64_t pad = g_wide ? 4 : 0, L = lens[i], Lp = L + 2 * pad > 5 ? L + 2 * pad : 5;
        memset(x, 0, 2608 * LD * sizeof(float));
        for (int64_t t = 0; t < L; t++)
            memcpy(x + (pad + t) * LD, m.params + tok[off[i] + t] * LD, LD * sizeof(float));
        float h[2 * LF], z[LC];
        int32_t arg[2 * LF];
        const float *W[2];
        for (int k = 0; k < 2; k++) {
            char name[32];
            snprintf(name, sizeof name, "conv%d.weight", k);
            W[k] = tcd_model_view(&m, m.params, name);
            snprintf(name, sizeof name, "conv%d.bias", k);
            const int64_t o = g_wide ? 5 - lw[k] : 0; /* width 2 skips 3 of the 4 zero rows at each end */
            conv1d_forward_ref(y, x + o * LD, W[k], tcd_model_view(&m, m.params, name), Lp - 2 * o, LD, lw[k], LF);
            maxtime_forward(h + k * LF, arg + k * LF, y, Lp - 2 * o - lw[k] + 1, LF);
        }
        relu_forward(h, h, 2 * LF);
        linear_forward_ref(z, h, tcd_model_view(&m, m.params, "out.weight"), tcd_model_view(&m, m.params, "out.bias"),
                           1, 2 * LF, LC);
        double mx = fmax(z[0], fmax(z[1], z[2])), sum = 0;
        for (int c = 0; c < LC; c++) sum += exp(z[c] - mx);
        for (int c = 0; c < LC; c++) want[i * LC + c] = (float)(exp(z[c] - mx) / sum);
        /* the convolutions' weight gradients at scale 1/4, through the whole-document argmax */
        const float *Wo = tcd_model_view(&m, m.params, "out.weight");
        float dpool[2 * LF];
        for (int u = 0; u < 2 * LF; u++) {
            double g = 0;
            for (int c = 0; c < LC; c++) g += Wo[c * 2 * LF + u] * (want[i * LC + c] - (c == lab[i])) * 0.25;
            dpool[u] = h[u] > 0 ? (float)g : 0.0f;
        }
        for (int k = 0; k < 2; k++)
            conv1d_maxpool_backward(NULL, dW_ref[k], NULL, dpool + k * LF, arg + k * LF, x + (g_wide ? 5 - lw[k] : 0) * LD,
                                    W[k], LD, lw[k], LF);
    }
    float probs[LB * LC], probs_det[LB * LC];
    const size_t gbytes = (size_t)m.n_params * sizeof(float);
    float *g1 = malloc(gbytes), *g_fix = malloc(gbytes);
    for (int nt = 1; nt <= 2; nt++) {
        tcd_model_zero_grad(&m);
        tcd_model_forward(&m, &b, probs, nt);
        tcd_model_backward(&m, &b, 0.25f, nt);
        if (nt == 1) memcpy(g1, m.grads, gbytes);
        CHECK(memcmp(g1, m.grads, gbytes) == 0);
        for (int i = 0; i < LB * LC; i++) CHECK(fabsf(probs[i] - want[i]) < 1e-5f);
    }
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "conv%d.weight", k);
        CHECK(max_rel_diff(g1 + tcd_model_tensor(&m, name)->offset, dW_ref[k], LF * lw[k] * LD) < 1e-4);
    }
    int64_t *acc = calloc((size_t)m.n_params, sizeof(int64_t));
    tcd_model_set_deterministic(&m, 1);
    tcd_model_forward(&m, &b, probs_det, 2);
    backward_fixed(&m, &b, 0.25f, 2, acc);
    for (int i = 0; i < LB * LC; i++) CHECK(fabsf(probs_det[i] - want[i]) < 1e-5f);
    tcd_fixed_to_float(g_fix, acc, m.n_params, 1);
    for (int k = 0; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        CHECK(max_rel_diff(g_fix + t->offset, g1 + t->offset, t->rows * t->cols) < 1e-5);
    }
    free(acc);
    free(g1);
    free(g_fix);
    free(x);
    free(y);
    free(tok);
    tcd_model_free(&m);
    printf("cnn%s: documents of 2600 and 1100 tokens (blocks of positions) match a whole-document reference\n",
           g_wide ? " --wide 1" : "");
}

static void test_batch_invariance(int64_t C) {
    tcd_model m;
    CHECK(cnn_build(&m, TV, C, "8", "6", "2,3,4", "0.4", "40", 11) == 0);
    for (int k = 1; k < m.n_tensors; k++) { /* non-zero biases and larger weights */
        const tcd_tensor *t = &m.tensors[k];
        for (int64_t i = 0; i < t->rows * t->cols; i++) m.params[t->offset + i] += frand(-0.2f, 0.2f);
    }
    owned_batch full = make_batch(TN, TV, 60, C, 900);
    tcd_model_set_training(&m, 1, 12);
    test_threads(&m, &full, C);
    test_deterministic(&m, &full, C);
    batch_free(&full);
    tcd_model_free(&m);
}

static void test_config(void) {
    tcd_model m;
    const tcd_model_kind *k = tcd_model_kind_find("cnn");
    void *cfg = tcd_model_config_new(k);
    char err[512];
    char *json = tcd_model_config_json(k, cfg);
    CHECK(strstr(json, "\"widths\": [3, 4, 5]") && strstr(json, "\"max_len\": 400") && strstr(json, "\"dropout\": 0.5"));
    free(json);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "widths"), "0", err, sizeof err) != 0);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "filters"), "0", err, sizeof err) != 0);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "max-len"), "0", err, sizeof err) != 0);
    CHECK(strstr(err, "--max-len"));
    free(cfg);
    /* a model with one width and one filter, and documents all empty */
    CHECK(cnn_build(&m, 5, 3, "2", "1", "4", "0", "1", 3) == 0);
    int32_t tok[1] = {0}, lab[2] = {1, 2};
    int64_t off[3] = {0, 0, 0};
    tcd_batch b = {.n = 2, .tokens = tok, .offsets = off, .labels = lab};
    float probs[6];
    CHECK(isfinite(tcd_model_forward(&m, &b, probs, 2)));
    tcd_model_backward(&m, &b, 0.5f, 2);
    CHECK(tcd_model_nonfinite_grad(&m) == NULL);
    tcd_model_free(&m);
    printf("cnn config: ranges, JSON, empty documents ok\n");
}

int main(void) {
    int bad = test_conv1d() + test_maxtime();
    test_maxpool_backward();
    test_dropout();
    test_embedding_seq();
    bad += test_model(2, 0) + test_model(2, 1) + test_model(4, 1);
    test_config();
    test_batch_invariance(2);
    test_batch_invariance(5);
    test_long_documents();
    /* the wide convolution: the same tests, against references padded as Kim's code pads */
    g_wide = 1;
    printf("-- --wide 1\n");
    bad += test_model(2, 0) + test_model(2, 1) + test_model(4, 1);
    test_batch_invariance(2);
    test_batch_invariance(5);
    test_long_documents();
    EXPECT(bad == 0);
    return tcd_test_finish("test_cnn");
}
