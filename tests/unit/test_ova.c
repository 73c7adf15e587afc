/* The one-vs-all (multi-label) head: the loss and its dlogits against a reference and finite
 * differences; a whole bag model with shape.ova and label sets (looked up through doc_ids) against
 * finite differences, for C = 2 (C logits, not one) and C = 4; and in deterministic mode the
 * fixed-point gradient of a batch equals the sum of those of its two halves, bit for bit. */
#include "check.h"

#include <string.h>

#include "base/util.h"
#include "layers/layers.h"

static uint64_t rng = 99;
static double unif(void) {
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

enum { B = 5, C = 3, MV = 20, MD = 4, MB = 6 };
static const uint8_t tgt[B * C] = {1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0};

static int bad;
/* central differences of f at x[i] against ana[i] */
static void fd_check(const char *what, float *x, int n, const float *ana, double (*f)(void *), void *ctx, float h) {
    for (int i = 0; i < n; i++) {
        const float x0 = x[i];
        x[i] = x0 + h;
        const double lp = f(ctx);
        x[i] = x0 - h;
        const double lm = f(ctx);
        x[i] = x0;
        const double num = (lp - lm) / (2.0 * h);
        if (fabs(num - ana[i]) > 1e-2 * fmax(fabs(num), fabs(ana[i])) + 2e-4) {
            fprintf(stderr, "%s[%d]: numeric %.6g analytic %.6g\n", what, i, num, (double)ana[i]);
            bad++;
        }
    }
}

static double loss_of(void *z) {
    float p[B * C];
    return ova_bce_forward(p, z, tgt, B, C);
}

static void test_loss(void) {
    float z[B * C], p[B * C], dz[B * C];
    for (int i = 0; i < B * C; i++) z[i] = (float)(6 * unif() - 3);
    const double L = ova_bce_forward(p, z, tgt, B, C);
    double ref = 0;
    for (int i = 0; i < B * C; i++) {
        const double q = 1.0 / (1.0 + exp(-(double)z[i]));
        CHECK(NEAR(p[i], q, 1e-6));
        ref += tgt[i] ? -log(q) : -log(1 - q);
    }
    CHECK(NEAR(L, ref, 1e-9 * fmax(1.0, ref)));
    CHECK(ova_bce_forward(p, z, NULL, B, C) == 0.0);
    ova_bce_backward(dz, p, tgt, B, C, 1.0f);
    fd_check("ova dz", z, B * C, dz, loss_of, z, 1e-3f);
    float zz[2] = {200.0f, -200.0f}, pp[2];
    uint8_t yy[2] = {0, 1};
    const double big = ova_bce_forward(pp, zz, yy, 1, 2);
    CHECK(isfinite(big) && NEAR(big, 400.0, 1e-6));
}

typedef struct {
    tcd_model *m;
    tcd_batch *b;
} mctx;
static double model_loss(void *p) {
    mctx *c = p;
    return tcd_model_forward(c->m, c->b, NULL, 1);
}

/* a bag model with the one-vs-all head */
static void ova_model(tcd_model *m, int64_t n_classes, int64_t hidden) {
    const tcd_model_kind *k = tcd_model_kind_find("bow");
    void *cfg = tcd_model_config_new(k);
    char v[32], err[256];
    snprintf(v, sizeof v, "%d", MD);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "dim"), v, err, sizeof err) == 0);
    snprintf(v, sizeof v, "%lld", (long long)hidden);
    CHECK(tcd_model_config_set(k, cfg, tcd_model_param_find(k, "hidden"), v, err, sizeof err) == 0);
    const tcd_model_shape shape = {.n_embeddings = MV, .n_classes = n_classes, .ova = 1};
    CHECK(tcd_model_build(m, k, cfg, &shape, 3, err, sizeof err) == 0);
    free(cfg);
    tcd_model_alloc(m);
    for (int64_t i = 0; i < m->n_params; i++) m->params[i] = (float)(1.4 * unif() - 0.7);
    CHECK(m->n_out == n_classes);
}

/* documents 10..10+MB of a corpus of 20, each with 1 to n_classes labels */
static int32_t toks[64], blab[MB];
static int64_t offs[MB + 1], ids[MB], ml_off[21];
static int32_t ml_ids[80];
static tcd_multilabels ml = {20, ml_off, ml_ids};
static tcd_batch make_batch(int64_t n_classes) {
    int pos = 0, at = 0;
    offs[0] = 0;
    for (int i = 0; i < MB; i++) {
        const int len = 1 + i % 4;
        for (int j = 0; j < len; j++) toks[pos++] = (int32_t)(unif() * MV);
        offs[i + 1] = pos;
        ids[i] = 10 + i;
    }
    for (int d = 0; d < 20; d++) {
        ml_off[d] = at;
        for (int c = 0; c < n_classes; c++)
            if ((d + c) % 2 == 0 || c == d % n_classes) ml_ids[at++] = c; /* sorted, distinct, >= 1 */
    }
    ml_off[20] = at;
    for (int i = 0; i < MB; i++) blab[i] = ml_ids[ml_off[ids[i]]];
    return (tcd_batch){.n = MB, .tokens = toks, .offsets = offs, .labels = blab, .doc_ids = ids, .multi = &ml};
}

static void test_model(int64_t n_classes, int64_t hidden) {
    tcd_model m;
    ova_model(&m, n_classes, hidden);
    tcd_batch b = make_batch(n_classes);
    /* the loss is the BCE of every class of every document, against the label sets */
    float probs[MB * 8];
    const double L = tcd_model_forward(&m, &b, probs, 1);
    double ref = 0;
    for (int i = 0; i < MB; i++)
        for (int64_t c = 0; c < n_classes; c++) {
            int y = 0;
            for (int64_t k = ml_off[ids[i]]; k < ml_off[ids[i] + 1]; k++) y |= ml_ids[k] == c;
            const double q = probs[i * n_classes + c];
            CHECK(q > 0 && q < 1);
            ref += y ? -log(q) : -log(1 - q);
        }
    CHECK(NEAR(L, ref, 1e-4 * fmax(1.0, ref)));
    tcd_model_zero_grad(&m);
    tcd_model_forward(&m, &b, NULL, 1);
    tcd_model_backward(&m, &b, 1.0f, 1);
    float *ana = malloc(sizeof(float) * (size_t)m.n_params);
    memcpy(ana, m.grads, sizeof(float) * (size_t)m.n_params);
    mctx c = {&m, &b};
    for (int k = 0; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        fd_check(t->name, m.params + t->offset, (int)(t->rows * t->cols), ana + t->offset, model_loss, &c, 1e-2f);
    }
    /* deterministic: the fixed-point gradient of the batch = that of its halves, bit for bit */
    const size_t bytes = sizeof(int64_t) * (size_t)m.n_params;
    int64_t *whole = calloc(1, bytes), *parts = calloc(1, bytes);
    tcd_model_set_deterministic(&m, 1);
    m.acc = whole;
    tcd_model_forward(&m, &b, NULL, 1);
    tcd_model_backward(&m, &b, 1.0f / MB, 1);
    m.acc = parts;
    for (int h = 0; h < 2; h++) {
        tcd_batch hb = b;
        hb.n = h ? MB - 2 : 2;
        hb.offsets = offs + (h ? 2 : 0);
        hb.tokens = toks + offs[h ? 2 : 0];
        hb.labels = blab + (h ? 2 : 0);
        hb.doc_ids = ids + (h ? 2 : 0);
        tcd_model_forward(&m, &hb, NULL, 2);
        tcd_model_backward(&m, &hb, 1.0f / MB, 2);
    }
    CHECK(memcmp(whole, parts, bytes) == 0);
    m.acc = NULL;
    free(whole);
    free(parts);
    free(ana);
    tcd_model_free(&m);
    printf("ova model C=%lld H=%lld checked\n", (long long)n_classes, (long long)hidden);
}

int main(void) {
    test_loss();
    for (int64_t nc = 2; nc <= 4; nc += 2)
        for (int64_t h = 0; h <= 4; h += 4) test_model(nc, h);
    printf("%d mismatches\n", bad);
    return bad ? 1 : 0;
}
