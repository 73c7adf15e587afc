/* The bag-of-embeddings classifier: flat parameter/gradient buffers, initialisation, and the
 * forward and backward passes in chunks of TCD_CHUNK documents (see model.h). */
#include "models/model.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layers.h"
#include "base/util.h"

/* Activations for the docs of the last forward and per-chunk scratch. Every [docs x k] array is
 * 64-byte aligned and a chunk holds 64 docs, so chunk slices never share a cache line. */
struct tcd_model_ws {
    int64_t cap_docs;    /* documents the arrays below can hold */
    float *emb_out;      /* [cap x D] mean embedding */
    float *hid;          /* [cap x H] after ReLU (NULL when H = 0) */
    float *logits;       /* [cap x O] */
    float *probs;        /* [cap x O] sigmoid or softmax */
    float *dlogits;      /* [cap x O] */
    float *dhid;         /* [cap x H] */
    float *demb_out;     /* [cap x D] gradient of the mean embedding */
    float *partials;     /* [n_chunks x dense_stride] per-chunk dense gradients */
    double *chunk_loss;  /* [n_chunks x 8]: one cache line per chunk */
    int64_t dense_off;   /* first dense parameter (after the embedding) */
    int64_t dense_n;     /* dense parameters */
    int64_t dense_stride;/* dense_n rounded up to 16 floats (64 bytes) */
    /* the last forward with labels, checked by backward */
    int64_t last_n;
    const int32_t *last_tokens, *last_labels;
    const int64_t *last_offsets;
    int last_det;        /* the last forward ran in deterministic mode */
    /* deterministic backward (allocated on first use) */
    int64_t *fix_emb;    /* [fix_cap x D] fixed(de[j] / len) per document */
    int64_t fix_cap;
    int64_t *fix_part;   /* [fix_nt x dense_stride] per-thread dense gradients */
    int fix_nt;
};

/* ---- counter-based initialisation ------------------------------------------------------
 * Recipe (exact, so other tools can reproduce it):
 *   mix(z)     = the SplitMix64 finaliser: z += 0x9E3779B97F4A7C15;
 *                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *                return z ^ (z >> 31)   (all arithmetic mod 2^64)
 *   stream(k)  = mix(seed ^ mix(k)) for tensor k (its index in m->tensors: 0 = embedding, ...)
 *   u(k, i)    = (mix(stream(k) + i * 0x9E3779B97F4A7C15) >> 40) * 2^-24   in [0, 1), 24 bits
 *   value      = (float)(-limit + 2 * limit * u)   computed in double, rounded once to float
 * with limit = 0.05 for the embedding (Keras' RandomUniform default) and
 * sqrt(6 / (fan_in + fan_out)) for dense kernels (Glorot uniform; fan_in = cols, fan_out = rows
 * of the [out x in] weight). Biases are zero. Each value depends only on (seed, k, i), never on
 * the number or schedule of threads. */
static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void init_uniform(float *x, int64_t n, uint64_t seed, int tensor_index, double limit) {
    const uint64_t stream = mix64(seed ^ mix64((uint64_t)tensor_index));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const double u = (double)(mix64(stream + (uint64_t)i * 0x9E3779B97F4A7C15ULL) >> 40) * (1.0 / 16777216.0);
        x[i] = (float)(-limit + 2.0 * limit * u);
    }
}

static void add_tensor(tcd_model *m, const char *name, int64_t rows, int64_t cols) {
    TCD_CHECK(m->n_tensors < TCD_MAX_TENSORS);
    tcd_tensor *t = &m->tensors[m->n_tensors++];
    t->name = name;
    t->rows = rows;
    t->cols = cols;
    t->offset = m->n_params;
    m->n_params += rows * cols;
}

int tcd_model_init(tcd_model *m, const tcd_model_config *cfg) {
    memset(m, 0, sizeof *m);
    /* limits keep every count well inside int64 and BLAS' int dimensions */
    if (cfg->vocab < 1 || cfg->vocab > (int64_t)INT32_MAX) {
        tcd_error("model: vocabulary size %lld out of range [1, %d]", (long long)cfg->vocab, INT32_MAX);
        return -1;
    }
    if (cfg->dim < 1 || cfg->dim > 100000) {
        tcd_error("model: embedding dimension %lld out of range [1, 100000]", (long long)cfg->dim);
        return -1;
    }
    if (cfg->hidden < 0 || cfg->hidden > 100000) {
        tcd_error("model: hidden size %lld out of range [0, 100000]", (long long)cfg->hidden);
        return -1;
    }
    if (cfg->n_classes < 2 || cfg->n_classes > 1000000) {
        tcd_error("model: number of classes %lld out of range [2, 1000000]", (long long)cfg->n_classes);
        return -1;
    }
    if (cfg->vocab > ((int64_t)1 << 40) / cfg->dim) {
        tcd_error("model: embedding table %lld x %lld is too large", (long long)cfg->vocab, (long long)cfg->dim);
        return -1;
    }
    linear_blas_single_thread();

    m->cfg = *cfg;
    m->n_out = cfg->n_classes == 2 ? 1 : cfg->n_classes;
    const int64_t D = cfg->dim, H = cfg->hidden, O = m->n_out;
    add_tensor(m, "embedding", cfg->vocab, D);
    if (H > 0) {
        add_tensor(m, "hidden.weight", H, D);
        add_tensor(m, "hidden.bias", H, 1);
    }
    add_tensor(m, "out.weight", O, H > 0 ? H : D);
    add_tensor(m, "out.bias", O, 1);

    m->params = tcd_aligned_alloc((size_t)m->n_params * sizeof(float));
    m->grads = tcd_aligned_alloc((size_t)m->n_params * sizeof(float));
    memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
    for (int k = 0; k < m->n_tensors; k++) {
        const tcd_tensor *t = &m->tensors[k];
        float *x = m->params + t->offset;
        const int64_t n = t->rows * t->cols;
        if (k == 0)
            init_uniform(x, n, cfg->seed, k, 0.05);
        else if (t->cols == 1)
            memset(x, 0, (size_t)n * sizeof(float));
        else
            init_uniform(x, n, cfg->seed, k, sqrt(6.0 / (double)(t->rows + t->cols)));
    }

    tcd_model_ws *ws = tcd_calloc(1, sizeof *ws);
    ws->dense_off = m->tensors[1].offset;
    ws->dense_n = m->n_params - ws->dense_off;
    ws->dense_stride = (ws->dense_n + 15) & ~(int64_t)15;
    m->ws = ws;
    m->have_forward = 0;
    return 0;
}

static void ws_free_arrays(tcd_model_ws *ws) {
    free(ws->emb_out);
    free(ws->hid);
    free(ws->logits);
    free(ws->probs);
    free(ws->dlogits);
    free(ws->dhid);
    free(ws->demb_out);
    free(ws->partials);
    free(ws->chunk_loss);
    free(ws->fix_emb);
    ws->fix_emb = NULL;
    ws->fix_cap = 0;
    ws->emb_out = ws->hid = ws->logits = ws->probs = ws->dlogits = ws->dhid = ws->demb_out = NULL;
    ws->partials = NULL;
    ws->chunk_loss = NULL;
}

void tcd_model_free(tcd_model *m) {
    if (m->ws) {
        ws_free_arrays(m->ws);
        free(m->ws->fix_part);
        free(m->ws);
    }
    free(m->params);
    free(m->grads);
    memset(m, 0, sizeof *m);
}

const tcd_tensor *tcd_model_tensor(const tcd_model *m, const char *name) {
    for (int k = 0; k < m->n_tensors; k++)
        if (!strcmp(m->tensors[k].name, name)) return &m->tensors[k];
    return NULL;
}

/* Zeroes the gradient buffer with all threads (it is as large as the embedding table). */
void tcd_model_zero_grad(tcd_model *m) {
    const int64_t blk = 1 << 16, n_blk = (m->n_params + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (n_blk > 1)
    for (int64_t k = 0; k < n_blk; k++) {
        const int64_t lo = k * blk, hi = lo + blk < m->n_params ? lo + blk : m->n_params;
        memset(m->grads + lo, 0, (size_t)(hi - lo) * sizeof(float));
    }
}

static float *ws_array(int64_t n_floats) { return tcd_aligned_alloc((size_t)(n_floats > 0 ? n_floats : 1) * sizeof(float)); }

/* Grows the workspace to hold n documents (rounded up to whole chunks, with 50% headroom so that
 * slowly growing batches do not reallocate every step). Contents are not kept. */
static void ws_reserve(tcd_model *m, int64_t n) {
    tcd_model_ws *ws = m->ws;
    if (n <= ws->cap_docs) return;
    int64_t cap = n + n / 2;
    cap = (cap + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK;
    const int64_t D = m->cfg.dim, H = m->cfg.hidden, O = m->n_out;
    const int64_t n_chunks = cap / TCD_CHUNK;
    ws_free_arrays(ws);
    ws->emb_out = ws_array(cap * D);
    ws->hid = H > 0 ? ws_array(cap * H) : NULL;
    ws->dhid = H > 0 ? ws_array(cap * H) : NULL;
    ws->logits = ws_array(cap * O);
    ws->probs = ws_array(cap * O);
    ws->dlogits = ws_array(cap * O);
    ws->demb_out = ws_array(cap * D);
    ws->partials = ws_array(n_chunks * ws->dense_stride);
    ws->chunk_loss = tcd_aligned_alloc((size_t)n_chunks * 8 * sizeof(double));
    ws->cap_docs = cap;
}

/* Token ids and labels come from files: check them before they index memory. */
static void check_batch(const tcd_model *m, const tcd_batch *b) {
    if (b->n < 0) tcd_die("model: negative batch size %lld", (long long)b->n);
    const int64_t base = b->offsets[0];
    for (int64_t i = 0; i < b->n; i++)
        if (b->offsets[i + 1] < b->offsets[i])
            tcd_die("model: document %lld of the batch has decreasing offsets (%lld > %lld)", (long long)i,
                    (long long)b->offsets[i], (long long)b->offsets[i + 1]);
    const int64_t n_tokens = b->offsets[b->n] - base;
    const uint32_t V = (uint32_t)m->cfg.vocab;
    int64_t bad = -1;
    for (int64_t i = 0; i < n_tokens; i++)
        if ((uint32_t)b->tokens[i] >= V) {
            bad = i;
            break;
        }
    if (bad >= 0)
        tcd_die("model: token id %d at batch position %lld is outside the embedding table [0, %lld)",
                b->tokens[bad], (long long)bad, (long long)m->cfg.vocab);
    if (b->labels)
        for (int64_t i = 0; i < b->n; i++)
            if (b->labels[i] < 0 || b->labels[i] >= m->cfg.n_classes)
                tcd_die("model: label %d of batch document %lld is outside [0, %lld)", b->labels[i], (long long)i,
                        (long long)m->cfg.n_classes);
}

double tcd_model_forward(tcd_model *m, const tcd_batch *b, float *probs, int n_threads) {
    check_batch(m, b);
    ws_reserve(m, b->n);
    tcd_model_ws *ws = m->ws;
    const int64_t D = m->cfg.dim, H = m->cfg.hidden, O = m->n_out, C = m->cfg.n_classes, n = b->n;
    const int64_t n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    const float *emb = m->params;
    const tcd_tensor *tw_out = tcd_model_tensor(m, "out.weight"), *tb_out = tcd_model_tensor(m, "out.bias");
    const float *Wh = H > 0 ? m->params + tcd_model_tensor(m, "hidden.weight")->offset : NULL;
    const float *bh = H > 0 ? m->params + tcd_model_tensor(m, "hidden.bias")->offset : NULL;
    const float *Wo = m->params + tw_out->offset, *bo = m->params + tb_out->offset;
    const int64_t I_out = H > 0 ? H : D;
    if (n_threads < 1) n_threads = 1;
    /* deterministic: fixed-order loops whose result for a row does not depend on B or the row */
    void (*const linear_fwd)(float *, const float *, const float *, const float *, int64_t, int64_t, int64_t) =
        m->deterministic ? linear_forward_ref : linear_forward;

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        const int64_t *off = b->offsets + d0;
        const int32_t *tok = b->tokens + (off[0] - b->offsets[0]);
        float *e = ws->emb_out + d0 * D;
        embedding_bag_forward(e, emb, tok, off, nb, D);
        const float *x = e;
        if (H > 0) {
            float *h = ws->hid + d0 * H;
            linear_fwd(h, e, Wh, bh, nb, D, H);
            relu_forward(h, h, nb * H);
            x = h;
        }
        float *z = ws->logits + d0 * O, *p = ws->probs + d0 * O;
        linear_fwd(z, x, Wo, bo, nb, I_out, O);
        const int32_t *y = b->labels ? b->labels + d0 : NULL;
        ws->chunk_loss[c * 8] = O == 1 ? sigmoid_bce_forward(p, z, y, nb) : softmax_xent_forward(p, z, y, nb, O);
    }

    if (probs) {
        if (O == 1)
            for (int64_t i = 0; i < n; i++) {
                probs[2 * i] = 1.0f - ws->probs[i];
                probs[2 * i + 1] = ws->probs[i];
            }
        else
            memcpy(probs, ws->probs, (size_t)(n * C) * sizeof(float));
    }
    if (!b->labels) {
        m->have_forward = 0;
        return 0.0;
    }
    double loss = 0.0;
    for (int64_t c = 0; c < n_chunks; c++) loss += ws->chunk_loss[c * 8];
    m->have_forward = 1;
    ws->last_n = n;
    ws->last_tokens = b->tokens;
    ws->last_offsets = b->offsets;
    ws->last_labels = b->labels;
    ws->last_det = m->deterministic;
    return loss;
}

/* The embedding gradient with several threads. Rows belong to threads (tcd_row_owner). Each thread
 * takes a contiguous run of documents holding about 1/nt of the batch's tokens and sorts its tokens
 * by owner (a stable counting pass: no unpredictable branches); then each thread adds the entries
 * of its own rows, source runs in order, so every row's sum runs in document order exactly as in
 * the one-thread embedding_bag_backward. Bit-identical for any thread count. */
/* Backward needs the activations of a forward with labels on this very batch, once. */
static void consume_forward(tcd_model *m, const tcd_batch *b) {
    const tcd_model_ws *ws = m->ws;
    if (!m->have_forward)
        tcd_die("model: backward called without a preceding forward pass with labels on this batch");
    if (b->n != ws->last_n || b->tokens != ws->last_tokens || b->offsets != ws->last_offsets ||
        b->labels != ws->last_labels)
        tcd_die("model: backward called on a different batch than the last forward pass");
    m->have_forward = 0; /* one backward per forward */
}

void tcd_model_backward(tcd_model *m, const tcd_batch *b, float scale, int n_threads) {
    tcd_model_ws *ws = m->ws;
    consume_forward(m, b);

    const int64_t D = m->cfg.dim, H = m->cfg.hidden, O = m->n_out, V = m->cfg.vocab, n = b->n;
    const int64_t n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    const int64_t I_out = H > 0 ? H : D;
    const int64_t off_Wh = H > 0 ? tcd_model_tensor(m, "hidden.weight")->offset - ws->dense_off : 0;
    const int64_t off_bh = H > 0 ? tcd_model_tensor(m, "hidden.bias")->offset - ws->dense_off : 0;
    const int64_t off_Wo = tcd_model_tensor(m, "out.weight")->offset - ws->dense_off;
    const int64_t off_bo = tcd_model_tensor(m, "out.bias")->offset - ws->dense_off;
    const float *Wh = m->params + ws->dense_off + off_Wh, *Wo = m->params + ws->dense_off + off_Wo;
    if (n_threads < 1) n_threads = 1;

    /* 1. dense layers per chunk, gradients into the chunk's own partial buffer */
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        float *part = ws->partials + c * ws->dense_stride;
        memset(part, 0, (size_t)ws->dense_n * sizeof(float));
        float *dz = ws->dlogits + d0 * O;
        const float *p = ws->probs + d0 * O;
        if (O == 1)
            sigmoid_bce_backward(dz, p, b->labels + d0, nb, scale);
        else
            softmax_xent_backward(dz, p, b->labels + d0, nb, O, scale);
        const float *e = ws->emb_out + d0 * D;
        float *de = ws->demb_out + d0 * D;
        if (H > 0) {
            const float *h = ws->hid + d0 * H;
            float *dh = ws->dhid + d0 * H;
            linear_backward(dh, part + off_Wo, part + off_bo, dz, h, Wo, nb, I_out, O);
            relu_backward(dh, dh, h, nb * H);
            linear_backward(de, part + off_Wh, part + off_bh, dh, e, Wh, nb, D, H);
        } else {
            linear_backward(de, part + off_Wo, part + off_bo, dz, e, Wo, nb, D, O);
        }
    }

    /* 2. dense gradients: add the chunks' partials in chunk order (threads split the elements) */
    float *gd = m->grads + ws->dense_off;
    const int64_t blk = 1024, n_blk = (ws->dense_n + blk - 1) / blk;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_blk > 1)
    for (int64_t k = 0; k < n_blk; k++) {
        const int64_t lo = k * blk, hi = lo + blk < ws->dense_n ? lo + blk : ws->dense_n;
        for (int64_t c = 0; c < n_chunks; c++) {
            const float *restrict part = ws->partials + c * ws->dense_stride;
            float *restrict g = gd;
            for (int64_t j = lo; j < hi; j++) g[j] += part[j];
        }
    }

    /* 3. embedding gradient: threads own row ranges, each scans the whole batch in order */
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t lo = V * t / nt, hi = V * (t + 1) / nt;
        embedding_bag_backward(m->grads, ws->demb_out, b->tokens, b->offsets, n, D, lo, hi);
    }
}

/* ---- deterministic mode: exact fixed-point gradients ---------------------------------- */

void tcd_model_set_deterministic(tcd_model *m, int on) { m->deterministic = on ? 1 : 0; }

enum { BAD_EMB = 1, BAD_HIDDEN = 2, BAD_OUT = 4 }; /* which gradient left the fixed-point range */

/* One document's dense-layer gradient, in fixed point: dW [O x I] += fixed(dout[o] * inp[i]) and
 * db [O] += fixed(dout[o]), each a float product converted on its own. Returns 1 when some
 * contribution is not finite or reaches lim (fixed units), else 0. */
static int outer_fixed(int64_t *restrict dW, int64_t *restrict db, const float *restrict dout,
                       const float *restrict inp, int64_t I, int64_t O, double lim) {
    int bad = 0;
    for (int64_t o = 0; o < O; o++) {
        const float g = dout[o];
        const double xb = (double)g * TCD_FIX_ONE;
        bad |= !(fabs(xb) < lim);
        db[o] += tcd_fix_round(xb);
        if (g == 0.0f) continue; /* a zero row adds exact zeros (e.g. an inactive ReLU unit) */
        int64_t *restrict w = dW + o * I;
        for (int64_t i = 0; i < I; i++) {
            const double x = (double)(g * inp[i]) * TCD_FIX_ONE;
            bad |= !(fabs(x) < lim);
            w[i] += tcd_fix_round(x);
        }
    }
    return bad;
}

/* acc rows [row_lo, row_hi) of the embedding table += fe[d] for each token of document d in those
 * rows (fe: [B x D], one fixed vector per document). Integer adds: any order gives the same sum. */
static void embedding_fixed_rows(int64_t *restrict acc, const int64_t *restrict fe, const int32_t *restrict tokens,
                                 const int64_t *restrict offsets, int64_t B, int64_t D, int64_t row_lo,
                                 int64_t row_hi) {
    const int64_t base = offsets[0];
    const uint64_t span = (uint64_t)(row_hi - row_lo);
    if (row_hi <= row_lo) return;
    for (int64_t d = 0; d < B; d++) {
        const int64_t lo = offsets[d] - base, hi = offsets[d + 1] - base;
        const int64_t *restrict g = fe + d * D;
        for (int64_t i = lo; i < hi; i++) {
            const int64_t t = tokens[i];
            if ((uint64_t)(t - row_lo) >= span) continue; /* another thread's row */
            int64_t *restrict row = acc + t * D;
            for (int64_t j = 0; j < D; j++) row[j] += g[j];
        }
    }
}

static void fix_reserve(tcd_model *m, int64_t n, int nt) {
    tcd_model_ws *ws = m->ws;
    if (ws->fix_cap < ws->cap_docs) { /* cap_docs >= n after the forward */
        free(ws->fix_emb);
        ws->fix_emb = tcd_aligned_alloc((size_t)(ws->cap_docs * m->cfg.dim) * sizeof(int64_t));
        ws->fix_cap = ws->cap_docs;
    }
    TCD_CHECK(ws->fix_cap >= n);
    if (ws->fix_nt < nt) {
        free(ws->fix_part);
        ws->fix_part = tcd_aligned_alloc((size_t)((int64_t)nt * ws->dense_stride) * sizeof(int64_t));
        ws->fix_nt = nt;
    }
}

void tcd_model_backward_fixed(tcd_model *m, const tcd_batch *b, float scale, int n_threads, int64_t *acc) {
    tcd_model_ws *ws = m->ws;
    consume_forward(m, b);
    if (!ws->last_det)
        tcd_die("model: the fixed-point backward needs a forward pass in deterministic mode "
                "(tcd_model_set_deterministic)");
    if (!(scale > 0.0f && scale <= 1.0f))
        tcd_die("model: fixed-point backward scale %g is outside (0, 1] (it is 1 / global batch size)",
                (double)scale);

    const int64_t D = m->cfg.dim, H = m->cfg.hidden, O = m->n_out, V = m->cfg.vocab, n = b->n;
    const int64_t I_out = H > 0 ? H : D;
    const int64_t off_Wh = H > 0 ? tcd_model_tensor(m, "hidden.weight")->offset - ws->dense_off : 0;
    const int64_t off_bh = H > 0 ? tcd_model_tensor(m, "hidden.bias")->offset - ws->dense_off : 0;
    const int64_t off_Wo = tcd_model_tensor(m, "out.weight")->offset - ws->dense_off;
    const int64_t off_bo = tcd_model_tensor(m, "out.bias")->offset - ws->dense_off;
    const float *Wh = m->params + ws->dense_off + off_Wh, *Wo = m->params + ws->dense_off + off_Wo;
    /* a document's contribution to one element stays below lim: see model.h */
    const double lim = TCD_FIX_LIMIT * (double)scale;
    if (n_threads < 1) n_threads = 1;
    fix_reserve(m, n, n_threads);
    /* BAD_* flags of contributions out of range, one cache line per thread */
    int *bad = tcd_calloc((size_t)n_threads * 16, sizeof(int));

#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int my_bad = 0;
        /* 1. per document, threads take contiguous document ranges: dense gradients into this
         *    thread's int64 partial, and the document's fixed embedding-gradient vector */
        int64_t *part = ws->fix_part + (int64_t)t * ws->dense_stride;
        memset(part, 0, (size_t)ws->dense_n * sizeof(int64_t));
        const int64_t d_lo = n * t / nt, d_hi = n * (t + 1) / nt;
        for (int64_t d = d_lo; d < d_hi; d++) {
            float *dz = ws->dlogits + d * O;
            const float *p = ws->probs + d * O;
            if (O == 1)
                sigmoid_bce_backward(dz, p, b->labels + d, 1, scale);
            else
                softmax_xent_backward(dz, p, b->labels + d, 1, O, scale);
            const float *e = ws->emb_out + d * D;
            float *de = ws->demb_out + d * D;
            if (H > 0) {
                const float *h = ws->hid + d * H;
                float *dh = ws->dhid + d * H;
                linear_backward_ref(dh, NULL, NULL, dz, h, Wo, 1, I_out, O);
                if (outer_fixed(part + off_Wo, part + off_bo, dz, h, I_out, O, lim)) my_bad |= BAD_OUT;
                relu_backward(dh, dh, h, H);
                linear_backward_ref(de, NULL, NULL, dh, e, Wh, 1, D, H);
                if (outer_fixed(part + off_Wh, part + off_bh, dh, e, D, H, lim)) my_bad |= BAD_HIDDEN;
            } else {
                linear_backward_ref(de, NULL, NULL, dz, e, Wo, 1, D, O);
                if (outer_fixed(part + off_Wo, part + off_bo, dz, e, D, O, lim)) my_bad |= BAD_OUT;
            }
            const int64_t len = b->offsets[d + 1] - b->offsets[d];
            int64_t *fe = ws->fix_emb + d * D;
            if (len == 0) continue; /* no tokens: fe is never read */
            const float inv_len = 1.0f / (float)len; /* as embedding_bag_backward */
            const double lim_tok = lim / (double)len; /* a row may get all len adds */
            for (int64_t j = 0; j < D; j++) {
                const double x = (double)(de[j] * inv_len) * TCD_FIX_ONE;
                if (!(fabs(x) < lim_tok)) my_bad |= BAD_EMB;
                fe[j] = tcd_fix_round(x);
            }
        }
        bad[t * 16] = my_bad;
#pragma omp barrier
        /* 2. dense: acc += the threads' partials, threads split the elements */
        int64_t *ad = acc + ws->dense_off;
        const int64_t e_lo = ws->dense_n * t / nt, e_hi = ws->dense_n * (t + 1) / nt;
        for (int k = 0; k < nt; k++) {
            const int64_t *restrict pk = ws->fix_part + (int64_t)k * ws->dense_stride;
            for (int64_t j = e_lo; j < e_hi; j++) ad[j] += pk[j];
        }
        /* 3. embedding: threads own row ranges, each scans the whole batch */
        embedding_fixed_rows(acc, ws->fix_emb, b->tokens, b->offsets, n, D, V * t / nt, V * (t + 1) / nt);
    }

    int all_bad = 0;
    for (int t = 0; t < n_threads; t++) all_bad |= bad[t * 16];
    free(bad);
    if (all_bad) {
        const char *name = all_bad & BAD_OUT ? "out.weight/out.bias"
                           : all_bad & BAD_HIDDEN ? "hidden.weight/hidden.bias" : "embedding";
        tcd_die("model: gradient of %s is too large for --deterministic fixed point (a document's unscaled "
                "gradient reached 2^22 = 4194304 or is not finite; the model has diverged): lower --lr or use "
                "--clip-norm",
                name);
    }
}
