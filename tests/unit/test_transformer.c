/* The transformer (models/transformer.c) and its layers: layer norm, GELU, attention (sgemm against
 * its plain-loop twin) and the position embedding against finite differences; dropout over a range
 * of units; the whole model's gradient (two and four classes, dropout on, ragged, empty and
 * truncated documents) against finite differences; bit-identical gradients for 1-4 threads;
 * --deterministic fixed-point gradients identical for any split of a batch and close to the float
 * ones, with per-document probabilities that do not depend on the batch; the configuration's checks. */
#include "check.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "layers/layers.h"
#include "models/model.h"

static uint64_t rng_state = 777;
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

/* sum(out * R) of a layer, for finite differences */
typedef struct {
    int which; /* 0 layernorm, 1 gelu, 2 attention */
    float *x, *g, *b, *R, *out, *st1, *st2;
    int64_t N, D, H;
} layer_ctx;

static double layer_loss(void *p) {
    layer_ctx *c = p;
    int64_t n = c->N * c->D;
    if (c->which == 0) layernorm_forward(c->out, c->st1, c->st2, c->x, c->g, c->b, c->N, c->D);
    if (c->which == 1) gelu_forward(c->out, c->x, n);
    if (c->which == 2) attention_forward_ref(c->out, c->st1, c->x, c->N, c->D, c->H);
    double L = 0;
    for (int64_t i = 0; i < n; i++) L += (double)c->out[i] * c->R[i];
    return L;
}

static int test_layernorm_gelu(void) {
    enum { N = 5, D = 6 };
    float x[N * D], g[D], b[D], R[N * D], out[N * D], mean[N], rstd[N], dx[N * D], dg[D] = {0}, db[D] = {0};
    for (int i = 0; i < N * D; i++) x[i] = frand(-2, 2), R[i] = frand(-1, 1), dx[i] = 0.5f;
    for (int i = 0; i < D; i++) g[i] = frand(0.5f, 1.5f), b[i] = frand(-1, 1);
    layer_ctx c = {0, x, g, b, R, out, mean, rstd, N, D, 1};
    layer_loss(&c);
    for (int r = 0; r < N; r++) { /* normalised rows: mean b, and the definition */
        double mu = 0, var = 0;
        for (int j = 0; j < D; j++) mu += x[r * D + j];
        mu /= D;
        for (int j = 0; j < D; j++) var += (x[r * D + j] - mu) * (x[r * D + j] - mu);
        var /= D;
        for (int j = 0; j < D; j++)
            CHECK(fabs(out[r * D + j] - ((x[r * D + j] - mu) / sqrt(var + 1e-5) * g[j] + b[j])) < 1e-5);
    }
    layernorm_backward(dx, dg, db, R, x, g, mean, rstd, N, D);
    for (int i = 0; i < N * D; i++) dx[i] -= 0.5f; /* backward adds into dinp */
    int bad = check_param("layernorm x", x, N * D, dx, layer_loss, &c, 1e-2f) +
              check_param("layernorm scale", g, D, dg, layer_loss, &c, 1e-2f) +
              check_param("layernorm bias", b, D, db, layer_loss, &c, 1e-2f);
    /* GELU: the definition and finite differences */
    c.which = 1;
    gelu_forward(out, x, N * D);
    for (int i = 0; i < N * D; i++) CHECK(fabs(out[i] - 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)))) < 1e-6);
    gelu_backward(dx, R, x, N * D);
    bad += check_param("gelu x", x, N * D, dx, layer_loss, &c, 1e-2f);
    printf("layernorm, gelu: %d mismatches\n", bad);
    return bad;
}

static int test_attention(void) {
    enum { L = 7, D = 6, H = 3 };
    float qkv[L * 3 * D], R[L * D], out[L * D], out_ref[L * D], att[H * L * L], att_ref[H * L * L], dp[L * L];
    float dq[L * 3 * D], dq_ref[L * 3 * D];
    for (int i = 0; i < L * 3 * D; i++) qkv[i] = frand(-1.5f, 1.5f);
    for (int i = 0; i < L * D; i++) R[i] = frand(-1, 1);
    attention_forward(out, att, qkv, L, D, H);
    attention_forward_ref(out_ref, att_ref, qkv, L, D, H);
    CHECK(max_rel_diff(out, out_ref, L * D) < 1e-5 && max_rel_diff(att, att_ref, H * L * L) < 1e-5);
    /* one output against the definition: head 1, position 2 */
    {
        const int h = 1, i = 2, dh = D / H;
        double s[L], z = 0, mx = -1e30;
        for (int j = 0; j < L; j++) {
            s[j] = 0;
            for (int e = 0; e < dh; e++) s[j] += (double)qkv[i * 3 * D + h * dh + e] * qkv[j * 3 * D + D + h * dh + e];
            s[j] /= sqrt((double)dh);
            mx = fmax(mx, s[j]);
        }
        for (int j = 0; j < L; j++) z += exp(s[j] - mx);
        for (int e = 0; e < dh; e++) {
            double o = 0;
            for (int j = 0; j < L; j++) o += exp(s[j] - mx) / z * qkv[j * 3 * D + 2 * D + h * dh + e];
            CHECK(fabs(o - out[i * D + h * dh + e]) < 1e-5);
        }
    }
    attention_backward(dq, dp, R, qkv, att, L, D, H);
    attention_backward_ref(dq_ref, dp, R, qkv, att_ref, L, D, H);
    CHECK(max_rel_diff(dq, dq_ref, L * 3 * D) < 1e-5);
    layer_ctx c = {2, qkv, NULL, NULL, R, out_ref, att_ref, NULL, L, D, H};
    int bad = check_param("attention qkv", qkv, L * 3 * D, dq_ref, layer_loss, &c, 1e-2f);
    /* one position: a softmax over itself */
    float o1[D], a1[H], d1[3 * D], p1[1];
    attention_forward_ref(o1, a1, qkv, 1, D, H);
    for (int e = 0; e < D; e++) CHECK(o1[e] == qkv[2 * D + e]);
    attention_backward_ref(d1, p1, R, qkv, a1, 1, D, H);
    for (int e = 0; e < 2 * D; e++) CHECK(d1[e] == 0.0f);
    printf("attention: sgemm = plain loops to 1e-5; %d finite-difference mismatches\n", bad);
    return bad;
}

static void test_posembed_dropout(void) {
    enum { V = 6, D = 3, LP = 4, N = 300 };
    float emb[V * D], pos[LP * D], out[LP * D], dx[LP * D], dpos[LP * D] = {0};
    for (int i = 0; i < V * D; i++) emb[i] = frand(-1, 1);
    for (int i = 0; i < LP * D; i++) pos[i] = frand(-1, 1), dx[i] = frand(-1, 1);
    const int32_t tok[2] = {5, 1};
    posembed_forward(out, emb, pos, tok, 2, LP, D);
    for (int i = 0; i < LP; i++)
        for (int j = 0; j < D; j++)
            CHECK(out[i * D + j] == (i < 2 ? emb[tok[i] * D + j] + pos[i * D + j] : pos[i * D + j]));
    posembed_backward(dpos, dx, LP, D);
    posembed_backward(dpos, dx, LP, D);
    for (int i = 0; i < LP * D; i++) CHECK(dpos[i] == 2 * dx[i]);
    /* dropout over units u0 ..: unit u0 + i of the document, and u0 = 0 is dropout_forward */
    float in[N], a[N], b[N];
    for (int i = 0; i < N; i++) in[i] = frand(-1, 1);
    dropout_forward_at(a, in, N, 0.25f, 4, 9, 33, 1000);
    for (int i = 0; i < N; i++) CHECK(a[i] == in[i] * dropout_scale(0.25f, 4, 9, 33, 1000 + i));
    dropout_backward_at(b, in, N, 0.25f, 4, 9, 33, 1000);
    CHECK(memcmp(a, b, sizeof a) == 0);
    dropout_forward_at(a, in, N, 0.25f, 4, 9, 33, 0);
    dropout_forward(b, in, N, 0.25f, 4, 9, 33);
    CHECK(memcmp(a, b, sizeof a) == 0);
    printf("posembed, dropout over a range of units: ok\n");
}

/* ---------------- the model ---------------- */
static int trf_build(tcd_model *m, int64_t V, int64_t C, const char *dim, const char *heads, const char *ffn,
                     const char *layers, const char *dropout, const char *max_len, uint64_t seed) {
    const tcd_model_kind *k = tcd_model_kind_find("transformer");
    CHECK(k);
    void *cfg = tcd_model_config_new(k);
    char err[512];
    const char *names[] = {"dim", "heads", "ffn", "layers", "dropout", "max_len"};
    const char *vals[] = {dim, heads, ffn, layers, dropout, max_len};
    for (int i = 0; i < 6; i++)
        if (tcd_model_config_set(k, cfg, tcd_model_param_find(k, names[i]), vals[i], err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            free(cfg);
            return -1;
        }
    const tcd_model_shape shape = {.n_embeddings = V, .n_classes = C};
    const int rc = tcd_model_build(m, k, cfg, &shape, seed, err, sizeof err);
    free(cfg);
    if (rc != 0) return rc;
    tcd_model_alloc(m);
    tcd_model_init_params(m, m->params);
    return 0;
}

enum { MV = 20, MD = 4, MB = 6 };

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
    CHECK(trf_build(&m, MV, C, "4", "2", "5", "2", "0.3", "6", 7) == 0);
    CHECK(m.n_tensors == 2 + 12 * 2 + 4 && m.tensors[0].sparse_rows);
    int32_t tokens[100], labels[MB];
    int64_t offsets[MB + 1], ids[MB];
    const int lens[MB] = {3, 0, 1, 9, 5, 2}; /* empty, one token, truncated */
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
    for (int k = 1; k < m.n_tensors; k++) { /* non-zero biases, scales away from 1 */
        const tcd_tensor *t = &m.tensors[k];
        for (int64_t i = 0; i < t->rows * t->cols; i++) m.params[t->offset + i] += frand(-0.15f, 0.15f);
    }
    /* token and position vectors of unit size: layer norm's curvature grows as its input's spread shrinks */
    for (int64_t i = 0; i < m.tensors[2].offset; i++) m.params[i] = frand(-1.0f, 1.0f);
    tcd_model_zero_grad(&m);
    tcd_model_forward(&m, &b, NULL, 1);
    tcd_model_backward(&m, &b, 1.0f, 1);
    float *ana = malloc((size_t)m.n_params * sizeof(float));
    memcpy(ana, m.grads, (size_t)m.n_params * sizeof(float));
    for (int64_t r = 0; r < MV; r++) { /* zero in every row no token of the batch names */
        int used = 0;
        for (int i = 0; i < pos; i++) used |= tokens[i] == r;
        for (int d = 0; d < MD && !used; d++) CHECK(ana[r * MD + d] == 0.0f);
    }
    model_ctx c = {&m, &b};
    int bad = 0;
    for (int k = 0; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        char name[128];
        snprintf(name, sizeof name, "transformer(C=%lld, training %d) %s", (long long)C, training, t->name);
        bad += check_param(name, m.params + t->offset, t->rows * t->cols, ana + t->offset, model_loss, &c, 2e-3f);
    }
    free(ana);
    tcd_model_free(&m);
    printf("transformer model C=%lld training=%d: %d mismatches\n", (long long)C, training, bad);
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
    printf("transformer C=%lld: 1, 2, 3 and 4 threads give bit-identical losses, probabilities and gradients\n",
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
    printf("transformer C=%lld: fixed-point gradients identical for every split, within 1e-5 of the float ones\n",
           (long long)C);
}

static void test_batch_invariance(int64_t C) {
    tcd_model m;
    CHECK(trf_build(&m, TV, C, "8", "2", "12", "2", "0.2", "40", 11) == 0);
    for (int k = 1; k < m.n_tensors; k++) {
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
    const tcd_model_kind *k = tcd_model_kind_find("transformer");
    void *cfg = tcd_model_config_new(k);
    char err[512];
    char *json = tcd_model_config_json(k, cfg);
    CHECK(strstr(json, "\"dim\": 64, \"heads\": 4, \"ffn\": 128, \"layers\": 2, \"dropout\": 0.1, \"max_len\": 256"));
    free(json);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "max-len"), "0", err, sizeof err) != 0);
    CHECK(strstr(err, "--max-len"));
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "max-len"), "2049", err, sizeof err) != 0);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "layers"), "5", err, sizeof err) != 0);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "heads"), "3", err, sizeof err) == 0);
    const tcd_model_shape shape = {.n_embeddings = 2, .n_classes = 2};
    CHECK(tcd_model_config_check(k, cfg, &shape, err, sizeof err) != 0);
    CHECK(strstr(err, "--heads 3 does not divide --dim 64"));
    free(cfg);
    CHECK(tcd_model_param_find(tcd_model_kind_find("cnn"), "heads") == NULL);
    CHECK(tcd_model_param_find(tcd_model_kind_find("bow"), "layers") == NULL);
    /* documents all empty, one layer, one head */
    CHECK(trf_build(&m, 5, 3, "2", "1", "3", "1", "0", "1", 3) == 0);
    int32_t tok[1] = {0}, lab[2] = {1, 2};
    int64_t off[3] = {0, 0, 0};
    tcd_batch b = {.n = 2, .tokens = tok, .offsets = off, .labels = lab};
    float probs[6];
    CHECK(isfinite(tcd_model_forward(&m, &b, probs, 2)));
    tcd_model_backward(&m, &b, 0.5f, 2);
    CHECK(tcd_model_nonfinite_grad(&m) == NULL);
    tcd_model_free(&m);
    printf("transformer config: ranges, heads | dim, JSON, empty documents ok\n");
}

int main(void) {
    int bad = test_layernorm_gelu() + test_attention();
    test_posembed_dropout();
    bad += test_model(2, 0) + test_model(2, 1) + test_model(4, 1);
    test_config();
    test_batch_invariance(2);
    test_batch_invariance(5);
    EXPECT(bad == 0);
    return tcd_test_finish("test_transformer");
}
