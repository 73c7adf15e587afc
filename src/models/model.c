/* The model object shared by every kind: tensor table, buffers, initialisation, the output head
 * and the forward/backward protocol (see model.h). */
#include "models/model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "base/rng.h"
#include "base/util.h"
#include "layers/layers.h"

/* The output head: probabilities of the last forward and the per-chunk loss sums. */
struct tcd_head_ws {
    int64_t cap;       /* documents the arrays hold */
    float *logits;     /* [cap x n_out] */
    float *probs;      /* [cap x n_out]: sigmoid or softmax */
    float *dlogits;    /* [cap x n_out] */
    uint8_t *targets;  /* one-vs-all: [cap x C] 0/1 targets of the last forward with labels */
    double *chunk_loss;/* [chunks x 8]: one cache line per chunk */
};

/* ---- building ---------------------------------------------------------------------------- */

void tcd_model_add_tensor(tcd_model *m, const char *name, int64_t rows, int64_t cols, int rank, tcd_init_kind init,
                          double init_arg) {
    TCD_CHECK(m->n_tensors < TCD_MAX_TENSORS && strlen(name) < TCD_TENSOR_NAME && rows >= 0 && cols >= 1);
    tcd_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->cols = cols;
    t->rank = rank;
    t->offset = m->n_params;
    t->init = init;
    t->init_arg = init_arg;
    m->n_params += rows * cols;
}

int tcd_model_build(tcd_model *m, const tcd_model_kind *k, const void *cfg, const tcd_model_shape *shape,
                    uint64_t seed, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (shape->n_embeddings < 1 || shape->n_embeddings > (int64_t)INT32_MAX) {
        snprintf(err, errlen, "model: %lld embedding rows is out of range [1, %d]", (long long)shape->n_embeddings,
                 INT32_MAX);
        return -1;
    }
    if (shape->n_classes < 2 || shape->n_classes > 1000000) {
        snprintf(err, errlen, "model: %lld classes is out of range [2, 1000000]", (long long)shape->n_classes);
        return -1;
    }
    if (tcd_model_config_check(k, cfg, shape, err, errlen) != 0) return -1;
    m->kind = k;
    m->cfg = tcd_model_config_resolved(k, cfg, shape);
    m->shape = *shape;
    m->seed = seed;
    m->n_out = shape->n_classes == 2 && !shape->ova ? 1 : shape->n_classes;
    k->layout(m);
    for (int i = 0; i < m->n_tensors; i++)
        TCD_CHECK(!m->tensors[i].sparse_rows || (i == 0 && m->tensors[i].offset == 0));
    /* every count stays inside int64 and BLAS' int dimensions */
    if (m->n_params > ((int64_t)1 << 40)) {
        snprintf(err, errlen, "model: %lld parameters is too many", (long long)m->n_params);
        tcd_model_free(m);
        return -1;
    }
    linear_blas_single_thread();
    m->ws = k->ws_new(m);
    m->head = tcd_calloc(1, sizeof *m->head);
    return 0;
}

void tcd_model_alloc(tcd_model *m) {
    TCD_CHECK(!m->params);
    m->params = tcd_aligned_alloc((size_t)m->n_params * sizeof(float));
    m->grads = tcd_aligned_alloc((size_t)m->n_params * sizeof(float));
    memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
    m->owns_buffers = 1;
}

void tcd_model_bind(tcd_model *m, float *params, float *grads, int64_t *acc) {
    TCD_CHECK(!m->owns_buffers);
    m->params = params;
    m->grads = grads;
    m->acc = acc;
}

int tcd_model_has_bag(const tcd_model *m) { return m->kind->embedding_bag; }

void tcd_model_bind_bag(tcd_model *m, float *vec, int64_t *fix, int64_t cap_docs) {
    TCD_CHECK(m->kind->embedding_bag && cap_docs > 0 && (m->deterministic ? fix != NULL : vec != NULL));
    m->bag_vec = vec;
    m->bag_fix = fix;
    m->bag_cap = cap_docs;
    m->bag_on = 1;
}

void tcd_model_hand_over(tcd_model *m, int on) {
    TCD_CHECK(!on || m->bag_cap > 0);
    m->bag_on = on;
}

static void head_free(struct tcd_head_ws *h) {
    if (!h) return;
    free(h->logits);
    free(h->probs);
    free(h->dlogits);
    free(h->targets);
    free(h->chunk_loss);
    free(h);
}

void tcd_model_free(tcd_model *m) {
    if (m->kind && m->ws) m->kind->ws_free(m->ws);
    head_free(m->head);
    if (m->owns_buffers) {
        free(m->params);
        free(m->grads);
    }
    free(m->cfg);
    memset(m, 0, sizeof *m);
}

const tcd_tensor *tcd_model_tensor(const tcd_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

float *tcd_model_view(const tcd_model *m, float *buf, const char *name) {
    const tcd_tensor *t = tcd_model_tensor(m, name);
    if (!t) tcd_die("model %s has no tensor '%s'", m->kind->name, name);
    return buf + t->offset;
}

/* ---- initialisation ----------------------------------------------------------------------
 * Recipe (exact, so other tools can reproduce it), with mix = tcd_mix64 (base/rng.h):
 *   stream(k)  = mix(seed ^ mix(k)) for tensor k (its index in the tensor table)
 *   u(k, i)    = (mix(stream(k) + i * 0x9E3779B97F4A7C15) >> 40) * 2^-24   in [0, 1), 24 bits
 *   value      = (float)(-limit + 2 * limit * u)   computed in double, rounded once to float
 * with limit = init_arg for TCD_INIT_UNIFORM (0.05 for embeddings, Keras' RandomUniform default)
 * and sqrt(6 / (fan_in + fan_out)) for TCD_INIT_GLOROT (fan_in = cols, fan_out = rows of the
 * [out x in] weight). Zeros and ones are exact. Each value depends only on (seed, k, i). */
static void init_uniform(float *x, int64_t n, uint64_t seed, int tensor_index, double limit) {
    const uint64_t stream = tcd_mix64(seed ^ tcd_mix64((uint64_t)tensor_index));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const double u = tcd_unit24(tcd_mix64(stream + (uint64_t)i * TCD_GOLDEN_GAMMA));
        x[i] = (float)(-limit + 2.0 * limit * u);
    }
}

void tcd_model_init_params(const tcd_model *m, float *params) {
    for (int k = 0; k < m->n_tensors; k++) {
        const tcd_tensor *t = &m->tensors[k];
        float *x = params + t->offset;
        const int64_t n = t->rows * t->cols;
        switch (t->init) {
        case TCD_INIT_ZERO: memset(x, 0, (size_t)n * sizeof(float)); break;
        case TCD_INIT_ONE:
            for (int64_t i = 0; i < n; i++) x[i] = 1.0f;
            break;
        case TCD_INIT_UNIFORM: init_uniform(x, n, m->seed, k, t->init_arg); break;
        case TCD_INIT_GLOROT: init_uniform(x, n, m->seed, k, sqrt(6.0 / (double)(t->rows + t->cols))); break;
        }
    }
}

/* ---- the output head ----------------------------------------------------------------------
 * Two classes: one logit, sigmoid + binary cross-entropy; more: softmax + cross-entropy. The loss
 * is summed per chunk of TCD_CHUNK documents in document order, then over chunks in order. */

static void head_reserve(tcd_model *m, int64_t n) {
    struct tcd_head_ws *h = m->head;
    if (n <= h->cap) return;
    /* whole chunks, with headroom so that slowly growing batches do not reallocate every step */
    const int64_t cap = (n + n / 2 + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK, O = m->n_out, chunks = (cap + TCD_CHUNK - 1) / TCD_CHUNK;
    free(h->logits);
    free(h->probs);
    free(h->dlogits);
    free(h->targets);
    free(h->chunk_loss);
    h->targets = m->shape.ova ? tcd_malloc((size_t)(cap * O)) : NULL;
    h->logits = tcd_aligned_alloc((size_t)(cap * O) * sizeof(float));
    h->probs = tcd_aligned_alloc((size_t)(cap * O) * sizeof(float));
    h->dlogits = tcd_aligned_alloc((size_t)(cap * O) * sizeof(float));
    h->chunk_loss = tcd_aligned_alloc((size_t)(chunks * 8) * sizeof(double));
    h->cap = cap;
}

/* One-vs-all targets of a batch with labels: each document's label set (b->multi, by its corpus
 * index) or its one label. */
static void head_targets(tcd_model *m, const tcd_batch *b) {
    const int64_t C = m->n_out;
    uint8_t *t = m->head->targets;
    memset(t, 0, (size_t)(b->n * C));
    for (int64_t i = 0; i < b->n; i++) {
        if (b->multi) {
            const int64_t d = b->doc_ids[i];
            for (int64_t k = b->multi->off[d]; k < b->multi->off[d + 1]; k++) t[i * C + b->multi->ids[k]] = 1;
        } else {
            t[i * C + b->labels[i]] = 1;
        }
    }
}

static double head_forward(tcd_model *m, const int32_t *labels, int64_t n, int n_threads) {
    struct tcd_head_ws *h = m->head;
    const int64_t O = m->n_out, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    if (m->shape.ova) {
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_chunks > 1)
        for (int64_t c = 0; c < n_chunks; c++) {
            const int64_t d0 = c * TCD_CHUNK, nb = d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0;
            h->chunk_loss[c * 8] =
                ova_bce_forward(h->probs + d0 * O, h->logits + d0 * O, labels ? h->targets + d0 * O : NULL, nb, O);
        }
        double loss = 0.0;
        for (int64_t c = 0; c < n_chunks; c++) loss += h->chunk_loss[c * 8];
        return labels ? loss : 0.0;
    }
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_chunks > 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0;
        const float *z = h->logits + d0 * O;
        float *p = h->probs + d0 * O;
        const int32_t *y = labels ? labels + d0 : NULL;
        h->chunk_loss[c * 8] = O == 1 ? sigmoid_bce_forward(p, z, y, nb) : softmax_xent_forward(p, z, y, nb, O);
    }
    double loss = 0.0;
    for (int64_t c = 0; c < n_chunks; c++) loss += h->chunk_loss[c * 8];
    return labels ? loss : 0.0;
}

static void head_backward(tcd_model *m, const int32_t *labels, int64_t n, float scale) {
    struct tcd_head_ws *h = m->head;
    if (m->shape.ova)
        ova_bce_backward(h->dlogits, h->probs, h->targets, n, m->n_out, scale);
    else if (m->n_out == 1)
        sigmoid_bce_backward(h->dlogits, h->probs, labels, n, scale);
    else
        softmax_xent_backward(h->dlogits, h->probs, labels, n, m->n_out, scale);
}

/* ---- forward / backward ------------------------------------------------------------------- */

/* Token ids and labels come from files: check them before they index memory. */
static void check_batch(const tcd_model *m, const tcd_batch *b) {
    if (b->n < 0) tcd_die("model: negative batch size %lld", (long long)b->n);
    const int64_t base = b->offsets[0];
    for (int64_t i = 0; i < b->n; i++)
        if (b->offsets[i + 1] < b->offsets[i])
            tcd_die("model: document %lld of the batch has decreasing offsets (%lld > %lld)", (long long)i,
                    (long long)b->offsets[i], (long long)b->offsets[i + 1]);
    const int64_t n_tokens = b->offsets[b->n] - base;
    const uint32_t V = (uint32_t)m->shape.n_embeddings;
    int64_t bad = -1;
    for (int64_t i = 0; i < n_tokens; i++)
        if ((uint32_t)b->tokens[i] >= V) {
            bad = i;
            break;
        }
    if (bad >= 0)
        tcd_die("model: token id %d at batch position %lld is outside the embedding table [0, %lld)",
                b->tokens[bad], (long long)bad, (long long)m->shape.n_embeddings);
    if (b->labels)
        for (int64_t i = 0; i < b->n; i++)
            if (b->labels[i] < 0 || b->labels[i] >= m->shape.n_classes)
                tcd_die("model: label %d of batch document %lld is outside [0, %lld)", b->labels[i], (long long)i,
                        (long long)m->shape.n_classes);
    if (b->labels && b->multi) {
        if (!b->doc_ids) tcd_die("model: a multi-label batch without document ids");
        for (int64_t i = 0; i < b->n; i++) {
            const int64_t d = b->doc_ids[i];
            if (d < 0 || d >= b->multi->n_docs) tcd_die("model: batch document %lld has no label set", (long long)i);
            for (int64_t k = b->multi->off[d]; k < b->multi->off[d + 1]; k++)
                if (b->multi->ids[k] < 0 || b->multi->ids[k] >= m->shape.n_classes)
                    tcd_die("model: label %d of corpus document %lld is outside [0, %lld)", b->multi->ids[k],
                            (long long)d, (long long)m->shape.n_classes);
        }
    }
}

double tcd_model_forward(tcd_model *m, const tcd_batch *b, float *probs, int n_threads) {
    TCD_CHECK(m->params);
    check_batch(m, b);
    if (n_threads < 1) n_threads = 1;
    head_reserve(m, b->n);
    m->kind->forward(m, b, m->head->logits, n_threads);
    if (m->shape.ova && b->labels) head_targets(m, b);
    const double loss = head_forward(m, b->labels, b->n, n_threads);
    const int64_t O = m->n_out, C = m->shape.n_classes;
    if (probs) {
        const float *p = m->head->probs;
        if (O == 1 && !m->shape.ova)
            for (int64_t i = 0; i < b->n; i++) {
                probs[2 * i] = 1.0f - p[i];
                probs[2 * i + 1] = p[i];
            }
        else
            memcpy(probs, p, (size_t)(b->n * C) * sizeof(float));
    }
    m->have_forward = b->labels != NULL;
    m->last_n = b->n;
    m->last_tokens = b->tokens;
    m->last_offsets = b->offsets;
    m->last_labels = b->labels;
    m->last_det = m->deterministic;
    return loss;
}

/* Backward needs the activations of a forward with labels on this very batch, once. */
static void consume_forward(tcd_model *m, const tcd_batch *b) {
    if (!m->have_forward)
        tcd_die("model: backward called without a preceding forward pass with labels on this batch");
    if (b->n != m->last_n || b->tokens != m->last_tokens || b->offsets != m->last_offsets ||
        b->labels != m->last_labels)
        tcd_die("model: backward called on a different batch than the last forward pass");
    m->have_forward = 0; /* one backward per forward */
}

/* Deterministic mode: each document's contribution to an element must stay below
 * TCD_FIX_LIMIT * scale fixed units (its unscaled gradient below 2^22 ~ 4.2e6, and finite); then
 * as long as acc receives at most 1/scale documents (one global batch, over all calls and ranks)
 * before it is cleared, no sum can overflow. */
static void backward_fixed(tcd_model *m, const tcd_batch *b, float scale, int n_threads) {
    if (!m->last_det)
        tcd_die("model: the fixed-point backward needs a forward pass in deterministic mode");
    if (!(scale > 0.0f && scale <= 1.0f))
        tcd_die("model: fixed-point backward scale %g is outside (0, 1] (it is 1 / global batch size)",
                (double)scale);
    TCD_CHECK(m->acc);
    const char *bad = NULL;
    m->kind->backward_fixed(m, b, m->head->dlogits, n_threads, m->acc, TCD_FIX_LIMIT * (double)scale, &bad);
    if (bad)
        tcd_die("model: gradient of %s is too large for --deterministic fixed point (a document's unscaled "
                "gradient reached 2^22 = 4194304 or is not finite; the model has diverged): lower --lr or use "
                "--clip-norm",
                bad);
}

void tcd_model_backward(tcd_model *m, const tcd_batch *b, float scale, int n_threads) {
    consume_forward(m, b);
    if (m->bag_on && b->n > m->bag_cap)
        tcd_die("model: a batch of %lld documents exceeds the %lld of the embedding hand-over", (long long)b->n,
                (long long)m->bag_cap);
    if (n_threads < 1) n_threads = 1;
    head_backward(m, b->labels, b->n, scale);
    if (m->deterministic)
        backward_fixed(m, b, scale, n_threads);
    else
        m->kind->backward(m, b, m->head->dlogits, n_threads);
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

void tcd_model_set_deterministic(tcd_model *m, int on) { m->deterministic = on ? 1 : 0; }

void tcd_model_set_training(tcd_model *m, int on, int64_t step) {
    m->training = on ? 1 : 0;
    m->step = on ? step : 0;
}

const char *tcd_model_nonfinite_grad(const tcd_model *m) {
    for (int i = 0; i < m->n_tensors; i++) {
        const tcd_tensor *t = &m->tensors[i];
        if (t->sparse_rows) continue;
        const float *g = m->grads + t->offset;
        for (int64_t k = 0; k < t->rows * t->cols; k++)
            if (!isfinite(g[k])) return t->name;
    }
    return NULL;
}

void *tcd_ws_array(int64_t n, size_t size) { return tcd_aligned_alloc((size_t)(n > 0 ? n : 1) * size); }

int64_t tcd_wave_rows(const int64_t *xrow, int64_t n, int64_t docs) {
    int64_t most = 0;
    for (int64_t lo = 0; lo < n; lo += docs) {
        const int64_t hi = lo + docs < n ? lo + docs : n;
        if (xrow[hi] - xrow[lo] > most) most = xrow[hi] - xrow[lo];
    }
    return most;
}

void tcd_add_partials(float *g, const float *parts, int64_t n_parts, int64_t stride, int64_t n) {
    const int64_t blk = 1024, n_blk = (n + blk - 1) / blk;
#pragma omp for schedule(static)
    for (int64_t k = 0; k < n_blk; k++) {
        const int64_t lo = k * blk, hi = lo + blk < n ? lo + blk : n;
        for (int64_t p = 0; p < n_parts; p++) {
            const float *restrict part = parts + p * stride;
            float *restrict gp = g;
            for (int64_t j = lo; j < hi; j++) gp[j] += part[j];
        }
    }
}
