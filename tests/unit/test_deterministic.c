/* Deterministic mode: the fixed-point gradient of a batch is bit-identical to the sum of the
 * fixed-point gradients of any partition of it (uneven, scrambled parts) and for any thread count;
 * it agrees with the float gradient; deterministic per-document probabilities do not depend on
 * the batch; out-of-range gradients stop the program; the rounding helper equals llrint.
 * Ends by printing the time of backward_fixed against the float backward (no assertion). */
#include "check.h"

/* The fixed-point backward of deterministic mode, into acc (asked for even when the model's last
 * forward was not deterministic: the model must refuse that). */
static void backward_fixed(tcd_model *m, const tcd_batch *b, float scale, int nt, int64_t *acc) {
    const int was = m->deterministic;
    m->acc = acc;
    m->deterministic = 1;
    tcd_model_backward(m, b, scale, nt);
    m->deterministic = was;
    m->acc = NULL;
}
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/adam.h"
#include "base/fixedpoint.h"
#include "models/model.h"
#include "base/util.h"

static uint64_t rng_state = 77;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double next_unif(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

typedef struct {
    int64_t n;
    int64_t *offsets; /* [n+1] */
    int32_t *tokens, *labels;
} owned_batch;

static void batch_free(owned_batch *o) {
    free(o->offsets);
    free(o->tokens);
    free(o->labels);
}
static tcd_batch view(const owned_batch *o) {
    return (tcd_batch){.n = o->n, .tokens = o->tokens, .offsets = o->offsets, .labels = o->labels};
}

/* n documents of 0..maxlen log-uniform ids in [0, V): many repeated tokens; document 3 is empty and
 * document 5 repeats one token; offsets start at 1000 as in the middle of a corpus */
static owned_batch make_batch(int64_t n, int64_t V, int maxlen, int64_t C) {
    owned_batch o = {.n = n};
    o.offsets = malloc((size_t)(n + 1) * sizeof(int64_t));
    o.labels = malloc((size_t)n * sizeof(int32_t));
    o.tokens = malloc((size_t)(n * maxlen + 1) * sizeof(int32_t));
    int64_t pos = 0;
    o.offsets[0] = 1000;
    for (int64_t i = 0; i < n; i++) {
        int len = (int)(next_u64() % (uint64_t)(maxlen + 1));
        if (i == 3) len = 0;
        for (int j = 0; j < len; j++)
            o.tokens[pos++] = i == 5 ? 7 : (int32_t)(pow((double)V, next_unif())) - 1;
        o.offsets[i + 1] = 1000 + pos;
        o.labels[i] = (int32_t)(next_u64() % (uint64_t)C);
    }
    return o;
}

/* The documents idx[0..k) of src, in that order, as a batch whose offsets start at base. */
static owned_batch sub_batch(const owned_batch *src, const int64_t *idx, int64_t k, int64_t base) {
    owned_batch o = {.n = k};
    o.offsets = malloc((size_t)(k + 1) * sizeof(int64_t));
    o.labels = malloc((size_t)(k > 0 ? k : 1) * sizeof(int32_t));
    const int64_t n_tok = src->offsets[src->n] - src->offsets[0];
    o.tokens = malloc((size_t)(n_tok + 1) * sizeof(int32_t));
    int64_t pos = 0;
    o.offsets[0] = base;
    for (int64_t j = 0; j < k; j++) {
        const int64_t d = idx[j], lo = src->offsets[d] - src->offsets[0], hi = src->offsets[d + 1] - src->offsets[0];
        for (int64_t t = lo; t < hi; t++) o.tokens[pos++] = src->tokens[t];
        o.offsets[j + 1] = base + pos;
        o.labels[j] = src->labels[d];
    }
    return o;
}

static void shuffle(int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)(next_u64() % (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The rounding helper is llrint (default mode), the converters check their range. */
static void test_conversions(void) {
    const double ties[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0x1p52 - 0.5, -(0x1p52 - 0.5), 0x1p52 + 2, 0x1p61 + 4096,
                           -0x1p61, 0.49999999999999994, 4503599627370495.5, 0.0, -0.0};
    for (size_t i = 0; i < sizeof ties / sizeof ties[0]; i++) CHECK(tcd_fix_round(ties[i]) == llrint(ties[i]));
    for (int i = 0; i < 200000; i++) {
        const double x = (next_unif() - 0.5) * ldexp(1.0, (int)(next_u64() % 62));
        CHECK(tcd_fix_round(x) == llrint(x));
    }
    int64_t out[4], bad = -1;
    const float ok[4] = {1.0f, -4194303.75f, 0x1p-41f, 0x1.8p-40f};
    CHECK(tcd_float_to_fixed(out, ok, 4, &bad) == 0);
    CHECK(out[0] == (int64_t)1 << 40 && out[1] == -(int64_t)(4194303.75 * 0x1p40) && out[2] == 0 && out[3] == 2);
    const float too_big[3] = {0.0f, 1.0f, 4194304.0f};
    CHECK(tcd_float_to_fixed(out, too_big, 3, &bad) == -1 && bad == 2);
    const float not_finite[2] = {NAN, 1.0f};
    CHECK(tcd_float_to_fixed(out, not_finite, 2, &bad) == -1 && bad == 0);
    const float inf[1] = {-INFINITY};
    CHECK(tcd_float_to_fixed(out, inf, 1, NULL) == -1);
    /* floats whose ulp is at least 2^-40 round-trip exactly */
    enum { NR = 1000 };
    float x[NR], back[NR];
    int64_t fx[NR];
    for (int i = 0; i < NR; i++) x[i] = (float)((next_u64() & 1 ? -1.0 : 1.0) * (1.0 + next_unif()) * ldexp(1.0, (int)(next_u64() % 37) - 16));
    CHECK(tcd_float_to_fixed(fx, x, NR, NULL) == 0);
    tcd_fixed_to_float(back, fx, NR, 2);
    CHECK(memcmp(x, back, sizeof x) == 0);
    memset(back, 0, sizeof back);
    tcd_fixed_to_float_zero(back, fx, NR, 2);
    CHECK(memcmp(x, back, sizeof x) == 0);
    for (int i = 0; i < NR; i++) CHECK(fx[i] == 0);
    CHECK(tcd_float_to_fixed(fx, x, NR, NULL) == 0);
    tcd_fixed_zero(fx, NR, 2);
    for (int i = 0; i < NR; i++) CHECK(fx[i] == 0);
}

/* One document's probabilities by plain loops in the one order deterministic mode promises:
 * token-order sums, 1/len, then bias + inputs in index order per unit (no FMA: ISO C mode). */
static void ref_probs(float *p, const tcd_model *m, const int32_t *tok, int64_t len) {
    const int64_t D = tcd_test_dim(m), H = tcd_test_hidden(m), O = m->n_out;
    float e[64], h[64], z[64];
    CHECK(D <= 64 && H <= 64 && O <= 64);
    for (int64_t j = 0; j < D; j++) {
        float s = 0.0f;
        for (int64_t t = 0; t < len; t++) s += m->params[(int64_t)tok[t] * D + j];
        e[j] = len > 0 ? s * (1.0f / (float)len) : 0.0f;
    }
    const float *x = e;
    int64_t I = D;
    if (H > 0) {
        const float *W = m->params + tcd_model_tensor(m, "hidden.weight")->offset;
        const float *bias = m->params + tcd_model_tensor(m, "hidden.bias")->offset;
        for (int64_t j = 0; j < H; j++) {
            float s = bias[j];
            for (int64_t k = 0; k < D; k++) s += e[k] * W[j * D + k];
            h[j] = s > 0.0f ? s : 0.0f;
        }
        x = h;
        I = H;
    }
    const float *W = m->params + tcd_model_tensor(m, "out.weight")->offset;
    const float *bias = m->params + tcd_model_tensor(m, "out.bias")->offset;
    for (int64_t j = 0; j < O; j++) {
        float s = bias[j];
        for (int64_t k = 0; k < I; k++) s += x[k] * W[j * I + k];
        z[j] = s;
    }
    if (O == 1) {
        const double zz = z[0], q = zz >= 0 ? 1.0 / (1.0 + exp(-zz)) : exp(zz) / (1.0 + exp(zz));
        p[1] = (float)q;
        p[0] = 1.0f - p[1];
        return;
    }
    double mx = z[0], sum = 0.0;
    for (int64_t c = 1; c < O; c++) mx = z[c] > mx ? z[c] : mx;
    for (int64_t c = 0; c < O; c++) sum += exp((double)z[c] - mx);
    for (int64_t c = 0; c < O; c++) p[c] = (float)(exp((double)z[c] - mx) * (1.0 / sum));
}

/* Fixed-point gradient of the documents idx[0..k) of src, added into acc (forward + backward). */
static void add_fixed(tcd_model *m, const owned_batch *src, const int64_t *idx, int64_t k, float scale, int nt,
                      int64_t *acc, float *probs) {
    owned_batch sb = sub_batch(src, idx, k, (int64_t)(next_u64() % 5000));
    tcd_batch b = view(&sb);
    const double loss = tcd_model_forward(m, &b, probs, nt);
    CHECK(isfinite(loss));
    backward_fixed(m, &b, scale, nt, acc);
    batch_free(&sb);
}

static void run_config(int64_t C, int64_t H, int64_t D) {
    enum { NDOC = 150, V = 300 };
    tcd_test_bow_cfg cfg = {.vocab = V, .dim = D, .hidden = H, .n_classes = C, .seed = 9};
    tcd_model m;
    CHECK(tcd_test_bow_init(&m, &cfg) == 0);
    /* non-zero biases and larger weights, so that every term matters and ReLUs are mixed */
    for (int k = 1; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        for (int64_t i = 0; i < t->rows * t->cols; i++)
            m.params[t->offset + i] += (float)(0.3 * (next_unif() - 0.5));
    }
    for (int64_t i = 0; i < V * D; i++) m.params[i] *= 10.0f;
    owned_batch full = make_batch(NDOC, V, 40, C);
    const size_t abytes = (size_t)m.n_params * sizeof(int64_t);
    int64_t *acc_ref = calloc(1, abytes), *acc = malloc(abytes);
    float *probs_ref = malloc(NDOC * C * sizeof(float)), *probs = malloc(NDOC * C * sizeof(float));
    const float scale = 1.0f / NDOC;
    int64_t idx[NDOC];
    for (int64_t i = 0; i < NDOC; i++) idx[i] = i;

    tcd_model_set_deterministic(&m, 1);
    add_fixed(&m, &full, idx, NDOC, scale, 1, acc_ref, probs_ref);
    for (int64_t d = 0; d < NDOC; d++) {
        float p[64];
        ref_probs(p, &m, full.tokens + (full.offsets[d] - full.offsets[0]), full.offsets[d + 1] - full.offsets[d]);
        CHECK(memcmp(p, probs_ref + d * C, (size_t)C * sizeof(float)) == 0);
    }
    int64_t nonzero = 0;
    for (int64_t i = 0; i < m.n_params; i++) nonzero += acc_ref[i] != 0;
    CHECK(nonzero > m.n_params / 4);

    /* threads */
    const int threads[] = {2, 4, 3};
    for (int k = 0; k < 3; k++) {
        memset(acc, 0, abytes);
        add_fixed(&m, &full, idx, NDOC, scale, threads[k], acc, probs);
        CHECK(memcmp(acc, acc_ref, abytes) == 0);
        CHECK(memcmp(probs, probs_ref, NDOC * C * sizeof(float)) == 0);
    }

    /* partitions into 1, 2, 3, 5, 17 uneven parts of a scrambled order, each part with its own
     * thread count; per-document probabilities must not depend on the part */
    const int n_parts[] = {1, 2, 3, 5, 17};
    for (int r = 0; r < 5; r++) {
        int64_t perm[NDOC], cuts[18];
        for (int64_t i = 0; i < NDOC; i++) perm[i] = i;
        shuffle(perm, NDOC);
        const int p = n_parts[r];
        cuts[0] = 0;
        cuts[p] = NDOC;
        for (int j = 1; j < p; j++) cuts[j] = (int64_t)(next_u64() % (NDOC + 1));
        for (int j = 1; j < p; j++) /* sort the inner cuts (insertion): parts may be empty */
            for (int l = j; l > 1 && cuts[l - 1] > cuts[l]; l--) {
                const int64_t t = cuts[l];
                cuts[l] = cuts[l - 1];
                cuts[l - 1] = t;
            }
        memset(acc, 0, abytes);
        for (int j = 0; j < p; j++) {
            const int64_t k = cuts[j + 1] - cuts[j];
            add_fixed(&m, &full, perm + cuts[j], k, scale, 1 + (j % 4), acc, probs);
            for (int64_t l = 0; l < k; l++)
                CHECK(memcmp(probs + l * C, probs_ref + perm[cuts[j] + l] * C, (size_t)C * sizeof(float)) == 0);
        }
        if (memcmp(acc, acc_ref, abytes) != 0) {
            fprintf(stderr, "C=%lld H=%lld: fixed gradient of a %d-part partition differs\n", (long long)C,
                    (long long)H, p);
            CHECK(0);
        }
    }

    /* against the float path (BLAS, float sums) */
    float *g_fix = malloc((size_t)m.n_params * sizeof(float)), *p_float = malloc(NDOC * C * sizeof(float));
    tcd_fixed_to_float(g_fix, acc_ref, m.n_params, 2);
    tcd_model_set_deterministic(&m, 0);
    tcd_model_zero_grad(&m);
    tcd_batch bf = view(&full);
    tcd_model_forward(&m, &bf, p_float, 2);
    tcd_model_backward(&m, &bf, scale, 2);
    for (int64_t i = 0; i < NDOC * C; i++) CHECK(fabsf(p_float[i] - probs_ref[i]) <= 1e-6f);
    for (int k = 0; k < m.n_tensors; k++) {
        const tcd_tensor *t = &m.tensors[k];
        const int64_t nk = t->rows * t->cols;
        double mx = 0, err = 0, rel = 0;
        for (int64_t i = 0; i < nk; i++) mx = fmax(mx, fabs(m.grads[t->offset + i]));
        for (int64_t i = 0; i < nk; i++) {
            const double a = g_fix[t->offset + i], b = m.grads[t->offset + i], e = fabs(a - b);
            err = fmax(err, e);
            if (fabs(b) > 1e-3 * mx) rel = fmax(rel, e / fabs(b));
            if (!(e <= 2e-6 * fabs(b) + 1e-6 * mx + 1e-11)) {
                fprintf(stderr, "C=%lld H=%lld %s[%lld]: fixed %.9g float %.9g\n", (long long)C, (long long)H,
                        t->name, (long long)i, a, b);
                CHECK(0);
            }
        }
        printf("C=%lld H=%lld D=%lld %-13s max|g| %.3e  max|fixed-float| %.2e  max rel %.2e\n", (long long)C,
               (long long)H, (long long)D, t->name, mx, err, rel);
    }

    /* a fixed-point backward after a non-deterministic forward is refused: see the child test */
    free(g_fix);
    free(p_float);
    free(acc_ref);
    free(acc);
    free(probs_ref);
    free(probs);
    batch_free(&full);
    tcd_model_free(&m);
}

/* A few Adam steps where each global batch is split over R simulated ranks (uneven, scrambled
 * document ownership, different thread counts), whose int64 accumulators are summed as MPI_SUM
 * would: the final parameters are bit-identical for R = 1, 2, 3, 7. */
static void train_ranks(void) {
    enum { NDOC = 96, V = 400, GB = 32, STEPS = NDOC / GB };
    tcd_test_bow_cfg cfg = {.vocab = V, .dim = 8, .hidden = 6, .n_classes = 3, .seed = 5};
    owned_batch data = make_batch(NDOC, V, 30, 3);
    float *ref = NULL;
    const int ranks[] = {1, 2, 3, 7};
    for (int ri = 0; ri < 4; ri++) {
        const int R = ranks[ri];
        tcd_model m;
        CHECK(tcd_test_bow_init(&m, &cfg) == 0);
        tcd_model_set_deterministic(&m, 1);
        tcd_adam_config ac;
        tcd_adam_config_default(&ac);
        tcd_adam opt;
        tcd_adam_init(&opt, &ac, m.n_params);
        int64_t *acc = calloc((size_t)m.n_params * (size_t)R, sizeof(int64_t));
        for (int s = 0; s < STEPS; s++) {
            int64_t own[GB];
            for (int i = 0; i < GB; i++) own[i] = s * GB + i;
            shuffle(own, GB);
            for (int r = 0; r < R; r++) { /* rank r owns own[lo..hi): uneven cuts */
                const int64_t lo = (int64_t)GB * r * r / (R * R), hi = (int64_t)GB * (r + 1) * (r + 1) / (R * R);
                add_fixed(&m, &data, own + lo, hi - lo, 1.0f / GB, 1 + r % 3, acc + (int64_t)r * m.n_params, NULL);
            }
            for (int r = 1; r < R; r++) /* the allreduce */
                for (int64_t i = 0; i < m.n_params; i++) acc[i] += acc[(int64_t)r * m.n_params + i];
            tcd_fixed_to_float_zero(m.grads, acc, m.n_params, 2);
            tcd_fixed_zero(acc + m.n_params, m.n_params * (R - 1), 2);
            tcd_adam_step_zero_grad(&opt, m.params, m.grads, 0.01, 2);
        }
        if (!ref) {
            ref = malloc((size_t)m.n_params * sizeof(float));
            memcpy(ref, m.params, (size_t)m.n_params * sizeof(float));
        } else if (memcmp(ref, m.params, (size_t)m.n_params * sizeof(float)) != 0) {
            fprintf(stderr, "parameters after %d steps differ between 1 and %d ranks\n", STEPS, R);
            CHECK(0);
        }
        free(acc);
        tcd_adam_free(&opt);
        tcd_model_free(&m);
    }
    free(ref);
    batch_free(&data);
}

/* A child whose gradient leaves the fixed-point range (or which breaks the protocol) must exit
 * non-zero through tcd_die. */
static void expect_child_dies(int what) {
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        tcd_test_bow_cfg cfg = {.vocab = 50, .dim = 4, .hidden = 0, .n_classes = 2, .seed = 1};
        tcd_model m;
        if (tcd_test_bow_init(&m, &cfg) != 0) _exit(0);
        owned_batch o = make_batch(20, 50, 10, 2);
        tcd_batch b = view(&o);
        int64_t *acc = calloc((size_t)m.n_params, sizeof(int64_t));
        tcd_model_set_deterministic(&m, what != 1);
        if (what == 0) {
            /* logits 0 (p = 0.5, dz = +-0.5 / n), mean embedding 1e9: unscaled out.weight gradient 5e8 */
            for (int64_t i = 0; i < m.n_params; i++) m.params[i] = i < 50 * 4 ? 1e9f : 0.0f;
        }
        tcd_model_forward(&m, &b, NULL, 2);
        backward_fixed(&m, &b, 1.0f / 20, 2, acc);
        _exit(0); /* not reached when the check works */
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

/* The same batch, large enough to matter, through the float and the fixed-point backward. */
static void bench(void) {
    enum { NDOC = 512, LEN = 230 };
    tcd_test_bow_cfg cfg = {.vocab = 100000, .dim = 16, .hidden = 16, .n_classes = 2, .seed = 3};
    tcd_model m;
    CHECK(tcd_test_bow_init(&m, &cfg) == 0);
    owned_batch o = {.n = NDOC};
    o.offsets = malloc((NDOC + 1) * sizeof(int64_t));
    o.tokens = malloc((size_t)NDOC * LEN * sizeof(int32_t));
    o.labels = malloc(NDOC * sizeof(int32_t));
    o.offsets[0] = 0;
    for (int i = 0; i < NDOC; i++) {
        for (int j = 0; j < LEN; j++) o.tokens[i * LEN + j] = (int32_t)(pow(100000.0, next_unif())) - 1;
        o.offsets[i + 1] = (int64_t)(i + 1) * LEN;
        o.labels[i] = (int32_t)(next_u64() & 1);
    }
    tcd_batch b = view(&o);
    int64_t *acc = calloc((size_t)m.n_params, sizeof(int64_t));
    const int reps = 5;
    for (int nt = 1; nt <= 2; nt++) {
        double t_ff = 0, t_fb = 0, t_df = 0, t_db = 0;
        for (int r = 0; r < reps + 1; r++) { /* the first round warms up */
            tcd_model_set_deterministic(&m, 0);
            double t0 = tcd_now();
            tcd_model_forward(&m, &b, NULL, nt);
            double t1 = tcd_now();
            tcd_model_backward(&m, &b, 1.0f / NDOC, nt);
            double t2 = tcd_now();
            tcd_model_set_deterministic(&m, 1);
            tcd_model_forward(&m, &b, NULL, nt);
            double t3 = tcd_now();
            backward_fixed(&m, &b, 1.0f / NDOC, nt, acc);
            double t4 = tcd_now();
            if (r > 0) {
                t_ff += t1 - t0;
                t_fb += t2 - t1;
                t_df += t3 - t2;
                t_db += t4 - t3;
            }
        }
        printf("bench V=100k D=16 H=16, %d docs x %d tokens, %d thread(s): forward %.2f ms (det %.2f ms), "
               "backward float %.2f ms, backward_fixed %.2f ms (x%.2f)\n",
               NDOC, LEN, nt, 1e3 * t_ff / reps, 1e3 * t_df / reps, 1e3 * t_fb / reps, 1e3 * t_db / reps,
               t_db / t_fb);
    }
    free(acc);
    batch_free(&o);
    tcd_model_free(&m);
}

int main(void) {
    /* children first: libgomp's thread pool does not survive fork(), so the parent must not have
     * started OpenMP threads yet */
    printf("expected errors follow (gradient out of range; fixed backward after a BLAS forward):\n");
    expect_child_dies(0);
    expect_child_dies(1);
    test_conversions();
    const int64_t Cs[] = {2, 4}, Hs[] = {0, 7};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) run_config(Cs[i], Hs[j], j ? 19 : 5);
    train_ranks();
    bench();
    printf("test_deterministic: ok\n");
    return 0;
}
