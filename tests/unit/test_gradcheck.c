/* Finite-difference gradient checks for every layer alone and for the whole model, a double
 * precision reference of the model's forward pass, and the model's lifecycle checks. */
#include "check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layers/layers.h"
#include "models/model.h"

static uint64_t rng_state = 12345;
static double urand(void) { /* splitmix64 -> [0,1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
static float frand(float lo, float hi) { return (float)(lo + (hi - lo) * urand()); }

static const double RTOL = 1e-2, ATOL = 1e-4;
static int n_checked;

/* 1 if analytic and numeric derivatives disagree beyond tolerance (and prints the first few). */
static int mismatch(const char *what, int64_t i, double num, double ana, int *printed) {
    n_checked++;
    const double tol = RTOL * fmax(fabs(num), fabs(ana)) + ATOL;
    if (fabs(num - ana) <= tol) return 0;
    if ((*printed)++ < 5) fprintf(stderr, "  %s[%lld]: numeric %.6g analytic %.6g\n", what, (long long)i, num, ana);
    return 1;
}

/* ---------------- embedding_bag ---------------- */
enum { EV = 12, ED = 5, EB = 4 };
static const int32_t e_tok[] = {3, 3, 7, 1, /* doc1 empty */ 5, 2, 9, 9, 9, 0, 11};
static const int64_t e_off[EB + 1] = {10, 14, 14, 15, 21}; /* offsets[0] != 0: relative to tokens */

static double emb_loss(const float *emb, const float *R) {
    float out[EB * ED];
    embedding_bag_forward(out, emb, e_tok, e_off, EB, ED);
    double L = 0;
    for (int i = 0; i < EB * ED; i++) L += (double)out[i] * R[i];
    return L;
}

static int test_embedding_bag(void) {
    float emb[EV * ED], R[EB * ED], out[EB * ED], demb[EV * ED] = {0}, demb2[EV * ED] = {0};
    for (int i = 0; i < EV * ED; i++) emb[i] = frand(-1, 1);
    for (int i = 0; i < EB * ED; i++) R[i] = frand(-1, 1);
    /* forward against a double mean */
    embedding_bag_forward(out, emb, e_tok, e_off, EB, ED);
    for (int b = 0; b < EB; b++) {
        int64_t lo = e_off[b] - e_off[0], hi = e_off[b + 1] - e_off[0];
        for (int d = 0; d < ED; d++) {
            double s = 0;
            for (int64_t i = lo; i < hi; i++) s += emb[e_tok[i] * ED + d];
            double mean = hi > lo ? s / (double)(hi - lo) : 0.0;
            CHECK(fabs(out[b * ED + d] - mean) <= 1e-6);
        }
    }
    for (int d = 0; d < ED; d++) CHECK(out[1 * ED + d] == 0.0f); /* empty doc: zero row */
    embedding_bag_backward(demb, R, e_tok, e_off, EB, ED, 0, EV);
    /* rows split across "threads" give the same bits */
    embedding_bag_backward(demb2, R, e_tok, e_off, EB, ED, 0, 4);
    embedding_bag_backward(demb2, R, e_tok, e_off, EB, ED, 4, 9);
    embedding_bag_backward(demb2, R, e_tok, e_off, EB, ED, 9, EV);
    CHECK(memcmp(demb, demb2, sizeof demb) == 0);
    int bad = 0, printed = 0;
    const float eps = 1e-2f;
    for (int k = 0; k < EV * ED; k++) {
        float save = emb[k];
        emb[k] = save + eps;
        double lp = emb_loss(emb, R);
        emb[k] = save - eps;
        double lm = emb_loss(emb, R);
        emb[k] = save;
        bad += mismatch("embedding_bag demb", k, (lp - lm) / (2.0 * eps), demb[k], &printed);
    }
    /* rows of unused tokens (4, 6, 8, 10) get no gradient */
    for (int d = 0; d < ED; d++) CHECK(demb[4 * ED + d] == 0.0f && demb[10 * ED + d] == 0.0f);
    /* backward accumulates */
    embedding_bag_backward(demb2, R, e_tok, e_off, EB, ED, 0, EV);
    for (int k = 0; k < EV * ED; k++) CHECK(fabsf(demb2[k] - 2.0f * demb[k]) <= 1e-6f);
    printf("embedding_bag: %d mismatches\n", bad);
    return bad;
}

/* The forward's 16-wide tiles and their tail, against a double mean, for widths around 16. */
static void test_embedding_bag_widths(void) {
    const int64_t widths[] = {1, 15, 16, 17, 32, 37};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const int64_t D = widths[w];
        float *emb = malloc((size_t)(EV * D) * sizeof(float)), *out = malloc((size_t)(EB * D) * sizeof(float));
        for (int64_t i = 0; i < EV * D; i++) emb[i] = frand(-1, 1);
        embedding_bag_forward(out, emb, e_tok, e_off, EB, D);
        for (int b = 0; b < EB; b++) {
            int64_t lo = e_off[b] - e_off[0], hi = e_off[b + 1] - e_off[0];
            for (int64_t d = 0; d < D; d++) {
                double s = 0;
                for (int64_t i = lo; i < hi; i++) s += emb[e_tok[i] * D + d];
                CHECK(fabs(out[b * D + d] - (hi > lo ? s / (double)(hi - lo) : 0.0)) <= 1e-6);
            }
        }
        free(emb);
        free(out);
    }
    printf("embedding_bag widths: ok\n");
}

/* ---------------- linear ---------------- */
enum { LB = 3, LI = 4, LO = 5 };
static double lin_loss(const float *inp, const float *W, const float *b, const float *R) {
    float out[LB * LO];
    linear_forward(out, inp, W, b, LB, LI, LO);
    double L = 0;
    for (int i = 0; i < LB * LO; i++) L += (double)out[i] * R[i];
    return L;
}

static int check_param(const char *name, float *x, int n, const float *ana, double (*loss)(void *), void *ctx,
                       float eps) {
    int bad = 0, printed = 0;
    for (int k = 0; k < n; k++) {
        float save = x[k];
        x[k] = save + eps;
        double lp = loss(ctx);
        x[k] = save - eps;
        double lm = loss(ctx);
        x[k] = save;
        bad += mismatch(name, k, (lp - lm) / (2.0 * eps), ana[k], &printed);
    }
    return bad;
}

typedef struct {
    float *inp, *W, *b, *R;
} lin_ctx;
static double lin_loss_ctx(void *p) {
    lin_ctx *c = p;
    return lin_loss(c->inp, c->W, c->b, c->R);
}

static int test_linear(void) {
    float inp[LB * LI], W[LO * LI], b[LO], R[LB * LO], dinp[LB * LI], dW[LO * LI] = {0}, db[LO] = {0};
    for (int i = 0; i < LB * LI; i++) inp[i] = frand(-1, 1);
    for (int i = 0; i < LO * LI; i++) W[i] = frand(-1, 1);
    for (int i = 0; i < LO; i++) b[i] = frand(-1, 1);
    for (int i = 0; i < LB * LO; i++) R[i] = frand(-1, 1);
    linear_backward(dinp, dW, db, R, inp, W, LB, LI, LO);
    lin_ctx c = {inp, W, b, R};
    int bad = check_param("linear dW", W, LO * LI, dW, lin_loss_ctx, &c, 1e-2f) +
              check_param("linear db", b, LO, db, lin_loss_ctx, &c, 1e-2f) +
              check_param("linear dinp", inp, LB * LI, dinp, lin_loss_ctx, &c, 1e-2f);
    printf("linear: %d mismatches\n", bad);
    return bad;
}

/* ---------------- relu ---------------- */
enum { RN = 20 };
typedef struct {
    float *x, *R;
} relu_ctx;
static double relu_loss(void *p) {
    relu_ctx *c = p;
    float out[RN];
    relu_forward(out, c->x, RN);
    double L = 0;
    for (int i = 0; i < RN; i++) L += (double)out[i] * c->R[i];
    return L;
}

static int test_relu(void) {
    float x[RN], R[RN], out[RN], dx[RN];
    for (int i = 0; i < RN; i++) {
        float a = frand(0.1f, 1.0f); /* away from the kink */
        x[i] = (i % 2) ? a : -a;
        R[i] = frand(-1, 1);
    }
    relu_forward(out, x, RN);
    relu_backward(dx, R, out, RN);
    relu_ctx c = {x, R};
    int bad = check_param("relu dx", x, RN, dx, relu_loss, &c, 1e-3f);
    for (int i = 0; i < RN; i++) CHECK(out[i] == (x[i] > 0 ? x[i] : 0.0f));
    printf("relu: %d mismatches\n", bad);
    return bad;
}

/* ---------------- losses ---------------- */
enum { SB = 6, SC = 4 };
static const int32_t bin_y[SB] = {0, 1, 1, 0, 1, 0};
static const int32_t mc_y[SB] = {0, 3, 1, 2, 2, 0};
static double bce_loss(void *p) {
    float probs[SB];
    return sigmoid_bce_forward(probs, p, bin_y, SB);
}
static double xent_loss(void *p) {
    float probs[SB * SC];
    return softmax_xent_forward(probs, p, mc_y, SB, SC);
}

static int test_losses(void) {
    float z[SB], probs[SB], dz[SB], dz4[SB];
    for (int i = 0; i < SB; i++) z[i] = frand(-3, 3);
    double L = sigmoid_bce_forward(probs, z, bin_y, SB);
    double ref = 0;
    for (int i = 0; i < SB; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i]));
        CHECK(fabs(probs[i] - p) < 1e-6);
        ref += bin_y[i] ? -log(p) : -log(1 - p);
    }
    CHECK(fabs(L - ref) < 1e-9 * fmax(1.0, ref));
    sigmoid_bce_backward(dz, probs, bin_y, SB, 1.0f);
    sigmoid_bce_backward(dz4, probs, bin_y, SB, 0.25f);
    for (int i = 0; i < SB; i++) CHECK(fabs(dz4[i] - 0.25f * dz[i]) <= 1e-7f);
    int bad = check_param("sigmoid_bce dz", z, SB, dz, bce_loss, z, 1e-3f);
    /* stability: huge logits stay finite */
    float zz[2] = {100.0f, -100.0f}, pp[2];
    int32_t yy[2] = {0, 1};
    double big = sigmoid_bce_forward(pp, zz, yy, 2);
    CHECK(isfinite(big) && fabs(big - 200.0) < 1e-6);
    CHECK(sigmoid_bce_forward(pp, zz, NULL, 2) == 0.0);

    float w[SB * SC], pw[SB * SC], dw[SB * SC];
    for (int i = 0; i < SB * SC; i++) w[i] = frand(-3, 3);
    L = softmax_xent_forward(pw, w, mc_y, SB, SC);
    ref = 0;
    for (int b = 0; b < SB; b++) {
        double s = 0, ps = 0;
        for (int c = 0; c < SC; c++) s += exp((double)w[b * SC + c]);
        for (int c = 0; c < SC; c++) {
            CHECK(fabs(pw[b * SC + c] - exp((double)w[b * SC + c]) / s) < 1e-6);
            ps += pw[b * SC + c];
        }
        CHECK(fabs(ps - 1.0) < 1e-6);
        ref += log(s) - (double)w[b * SC + mc_y[b]];
    }
    CHECK(fabs(L - ref) < 1e-9 * fmax(1.0, ref));
    softmax_xent_backward(dw, pw, mc_y, SB, SC, 1.0f);
    bad += check_param("softmax_xent dz", w, SB * SC, dw, xent_loss, w, 1e-3f);
    float zbig[3] = {1000.0f, 0.0f, -1000.0f}, pbig[3];
    int32_t ybig = 1;
    double lbig = softmax_xent_forward(pbig, zbig, &ybig, 1, 3);
    CHECK(isfinite(lbig) && fabs(lbig - 1000.0) < 1e-6);
    CHECK(softmax_xent_forward(pbig, zbig, NULL, 1, 3) == 0.0);
    printf("losses: %d mismatches\n", bad);
    return bad;
}

/* ---------------- whole model ---------------- */
enum { MV = 30, MD = 5, MB = 7 };
typedef struct {
    tcd_model *m;
    tcd_batch *b;
} model_ctx;
static double model_loss(void *p) {
    model_ctx *c = p;
    return tcd_model_forward(c->m, c->b, NULL, 1);
}

/* Double precision forward of the same model, independent of the kernels. */
static double ref_forward(const tcd_model *m, const tcd_batch *b, double *probs) {
    const int64_t D = tcd_test_dim(m), H = tcd_test_hidden(m), O = m->n_out, C = m->shape.n_classes;
    const float *E = m->params;
    const float *Wh = H ? m->params + tcd_model_tensor(m, "hidden.weight")->offset : NULL;
    const float *bh = H ? m->params + tcd_model_tensor(m, "hidden.bias")->offset : NULL;
    const float *Wo = m->params + tcd_model_tensor(m, "out.weight")->offset;
    const float *bo = m->params + tcd_model_tensor(m, "out.bias")->offset;
    double total = 0;
    for (int64_t i = 0; i < b->n; i++) {
        double e[64] = {0}, h[64] = {0}, z[64];
        int64_t lo = b->offsets[i] - b->offsets[0], hi = b->offsets[i + 1] - b->offsets[0];
        for (int64_t t = lo; t < hi; t++)
            for (int64_t d = 0; d < D; d++) e[d] += E[b->tokens[t] * D + d];
        for (int64_t d = 0; d < D; d++) e[d] = hi > lo ? e[d] / (double)(hi - lo) : 0.0;
        const double *x = e;
        int64_t I = D;
        if (H) {
            for (int64_t j = 0; j < H; j++) {
                double s = bh[j];
                for (int64_t d = 0; d < D; d++) s += Wh[j * D + d] * e[d];
                h[j] = s > 0 ? s : 0;
            }
            x = h;
            I = H;
        }
        for (int64_t o = 0; o < O; o++) {
            double s = bo[o];
            for (int64_t k = 0; k < I; k++) s += Wo[o * I + k] * x[k];
            z[o] = s;
        }
        if (O == 1) {
            double p = 1 / (1 + exp(-z[0]));
            probs[2 * i] = 1 - p;
            probs[2 * i + 1] = p;
            total += b->labels[i] ? -log(p) : -log(1 - p);
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

/* Smallest |hidden pre-activation| over the batch: finite differences must not cross a ReLU kink. */
static double relu_margin(const tcd_model *m, const tcd_batch *b) {
    const int64_t D = tcd_test_dim(m), H = tcd_test_hidden(m);
    if (H == 0) return INFINITY;
    const float *E = m->params, *Wh = m->params + tcd_model_tensor(m, "hidden.weight")->offset;
    const float *bh = m->params + tcd_model_tensor(m, "hidden.bias")->offset;
    double margin = INFINITY;
    for (int64_t i = 0; i < b->n; i++) {
        double e[64] = {0};
        int64_t lo = b->offsets[i] - b->offsets[0], hi = b->offsets[i + 1] - b->offsets[0];
        for (int64_t t = lo; t < hi; t++)
            for (int64_t d = 0; d < D; d++) e[d] += E[b->tokens[t] * D + d] / (double)(hi - lo);
        for (int64_t j = 0; j < H; j++) {
            double s = bh[j];
            for (int64_t d = 0; d < D; d++) s += Wh[j * D + d] * e[d];
            margin = fmin(margin, fabs(s));
        }
    }
    return margin;
}

/* Returns mismatches; with `sabotage`, perturbs one analytic gradient first (the check must see it). */
static int test_model(int64_t C, int64_t H, int sabotage) {
    tcd_test_bow_cfg cfg = {.vocab = MV, .dim = MD, .hidden = H, .n_classes = C, .seed = 7};
    tcd_model m;
    CHECK(tcd_test_bow_init(&m, &cfg) == 0);
    CHECK(m.n_out == (C == 2 ? 1 : C));
    /* larger random values than the init (nonzero biases, active ReLUs, non-trivial logits) */
    int32_t tokens[200], labels[MB];
    int64_t offsets[MB + 1];
    const int lens[MB] = {3, 0, 1, 9, 5, 2, 12};
    int pos = 0;
    offsets[0] = 100; /* batches may start anywhere in the corpus */
    for (int i = 0; i < MB; i++) {
        for (int j = 0; j < lens[i]; j++, pos++) tokens[pos] = (j % 3 == 2) ? tokens[pos - 2] : (int32_t)(urand() * MV);
        offsets[i + 1] = 100 + pos;
        labels[i] = (int32_t)(urand() * (double)C);
    }
    tcd_batch b = {.n = MB, .tokens = tokens, .offsets = offsets, .labels = labels};
    /* a step of 1e-2 moves a pre-activation by at most ~1e-2: keep 3x that away from the kink */
    int tries = 0;
    do {
        for (int64_t k = 0; k < m.n_params; k++) m.params[k] = frand(-0.8f, 0.8f);
        CHECK(++tries < 1000);
    } while (relu_margin(&m, &b) < 0.03);

    float probs[MB * 8];
    double rprobs[MB * 8];
    double L = tcd_model_forward(&m, &b, probs, 1);
    double Lref = ref_forward(&m, &b, rprobs);
    CHECK(fabs(L - Lref) <= 1e-5 * fmax(1.0, fabs(Lref)));
    for (int i = 0; i < MB * C; i++) CHECK(fabs(probs[i] - rprobs[i]) < 1e-5);

    tcd_model_zero_grad(&m);
    tcd_model_forward(&m, &b, NULL, 1);
    tcd_model_backward(&m, &b, 1.0f, 1);
    float *ana = malloc((size_t)m.n_params * sizeof(float));
    memcpy(ana, m.grads, (size_t)m.n_params * sizeof(float));
    if (sabotage) {
        const tcd_tensor *t = tcd_model_tensor(&m, "embedding");
        int64_t k = t->offset + tokens[0] * MD + 1; /* a used row */
        ana[k] = ana[k] * 1.1f + 0.01f;
    }
    model_ctx c = {&m, &b};
    int bad = 0;
    for (int k = 0; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        char name[64];
        snprintf(name, sizeof name, "model(C=%lld,H=%lld) %s", (long long)C, (long long)H, t->name);
        bad += check_param(name, m.params + t->offset, (int)(t->rows * t->cols), ana + t->offset, model_loss, &c,
                           1e-2f);
    }
    /* scale: backward with scale s adds s times the gradient */
    tcd_model_zero_grad(&m);
    tcd_model_forward(&m, &b, NULL, 1);
    tcd_model_backward(&m, &b, 0.5f, 1);
    for (int64_t k = 0; k < m.n_params; k++) CHECK(fabs(m.grads[k] - 0.5f * ana[k]) <= 1e-6f || sabotage);
    free(ana);
    tcd_model_free(&m);
    if (!sabotage) printf("model C=%lld H=%lld: %d mismatches\n", (long long)C, (long long)H, bad);
    return bad;
}

static void test_init(void) {
    tcd_test_bow_cfg cfg = {.vocab = 1000, .dim = 16, .hidden = 8, .n_classes = 4, .seed = 1};
    tcd_model m, m2;
    CHECK(tcd_test_bow_init(&m, &cfg) == 0);
    CHECK(m.n_tensors == 5);
    CHECK(m.n_params == 1000 * 16 + 8 * 16 + 8 + 4 * 8 + 4);
    const tcd_tensor *e = tcd_model_tensor(&m, "embedding"), *hw = tcd_model_tensor(&m, "hidden.weight"),
                     *hb = tcd_model_tensor(&m, "hidden.bias"), *ow = tcd_model_tensor(&m, "out.weight");
    CHECK(e && hw && hb && ow && tcd_model_tensor(&m, "nope") == NULL);
    double s = 0, mx = 0;
    for (int64_t i = 0; i < 16000; i++) {
        float v = m.params[e->offset + i];
        CHECK(v >= -0.05f && v <= 0.05f);
        s += v;
        mx = fmax(mx, fabs(v));
    }
    CHECK(fabs(s / 16000) < 0.002 && mx > 0.049); /* centred, fills the range */
    const double lim_h = sqrt(6.0 / (16 + 8)), lim_o = sqrt(6.0 / (8 + 4));
    mx = 0;
    for (int64_t i = 0; i < 128; i++) {
        CHECK(fabs(m.params[hw->offset + i]) <= lim_h);
        mx = fmax(mx, fabs(m.params[hw->offset + i]));
    }
    CHECK(mx > 0.8 * lim_h);
    for (int64_t i = 0; i < 32; i++) CHECK(fabs(m.params[ow->offset + i]) <= lim_o);
    for (int64_t i = 0; i < 8; i++) CHECK(m.params[hb->offset + i] == 0.0f);
    /* the same seed gives the same values, another seed others */
    CHECK(tcd_test_bow_init(&m2, &cfg) == 0);
    CHECK(memcmp(m.params, m2.params, (size_t)m.n_params * sizeof(float)) == 0);
    tcd_model_free(&m2);
    cfg.seed = 2;
    CHECK(tcd_test_bow_init(&m2, &cfg) == 0);
    CHECK(memcmp(m.params, m2.params, 64) != 0);
    tcd_model_free(&m2);
    tcd_model_free(&m);
    /* bad configurations are refused with a message */
    tcd_test_bow_cfg badc = {.vocab = 10, .dim = 4, .hidden = 0, .n_classes = 1, .seed = 0};
    CHECK(tcd_test_bow_init(&m, &badc) == -1);
    badc.n_classes = 2;
    badc.dim = 0;
    CHECK(tcd_test_bow_init(&m, &badc) == -1);
    printf("init: ok\n");
}

/* Runs fn in a child; returns its exit status (tcd_die exits 1). */
static int child_status(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static tcd_model lm;
static int32_t l_tok[4] = {1, 2, 3, 4}, l_lab[2] = {0, 1};
static int64_t l_off[3] = {0, 2, 4};
static void backward_without_forward(void) {
    tcd_batch b = {2, l_tok, l_off, l_lab};
    tcd_model_backward(&lm, &b, 1.0f, 1);
}
static void backward_after_unlabelled_forward(void) {
    tcd_batch b = {2, l_tok, l_off, NULL};
    tcd_model_forward(&lm, &b, NULL, 1);
    b.labels = l_lab;
    tcd_model_backward(&lm, &b, 1.0f, 1);
}
static void backward_twice(void) {
    tcd_batch b = {2, l_tok, l_off, l_lab};
    tcd_model_forward(&lm, &b, NULL, 1);
    tcd_model_backward(&lm, &b, 1.0f, 1);
    tcd_model_backward(&lm, &b, 1.0f, 1);
}
static void token_out_of_range(void) {
    int32_t tok[4] = {1, 2, 10, 4};
    tcd_batch b = {2, tok, l_off, l_lab};
    tcd_model_forward(&lm, &b, NULL, 1);
}
static void forward_backward_ok(void) {
    tcd_batch b = {2, l_tok, l_off, l_lab};
    tcd_model_forward(&lm, &b, NULL, 1);
    tcd_model_backward(&lm, &b, 1.0f, 1);
}

static void test_lifecycle(void) {
    tcd_test_bow_cfg cfg = {.vocab = 10, .dim = 4, .hidden = 3, .n_classes = 2, .seed = 3};
    CHECK(tcd_test_bow_init(&lm, &cfg) == 0);
    CHECK(child_status(forward_backward_ok) == 0);
    CHECK(child_status(backward_without_forward) == 1);
    CHECK(child_status(backward_after_unlabelled_forward) == 1);
    CHECK(child_status(backward_twice) == 1);
    CHECK(child_status(token_out_of_range) == 1);
    tcd_model_free(&lm);
    printf("lifecycle: ok (the errors above are expected)\n");
}

int main(void) {
    int bad = 0;
    bad += test_embedding_bag();
    test_embedding_bag_widths();
    bad += test_linear();
    bad += test_relu();
    bad += test_losses();
    for (int64_t C = 2; C <= 4; C += 2)
        for (int64_t H = 0; H <= 4; H += 4) bad += test_model(C, H, 0);
    /* the checker itself must catch a wrong gradient (its mismatch line is expected) */
    printf("sabotaged check follows: one mismatch expected\n");
    fflush(stdout);
    int caught = test_model(4, 4, 1);
    printf("sabotaged gradient: %d mismatch(es) caught\n", caught);
    CHECK(caught >= 1);
    test_init();
    test_lifecycle();
    printf("%d derivatives checked, %d mismatches\n", n_checked, bad);
    return bad == 0 ? 0 : 1;
}
