/* The bag-of-embeddings classifier ("bow"), fastText's model with an optional hidden layer:
 *   Embedding(V, D) -> mean over the document's tokens -> [Dense(H) -> ReLU] -> Dense(O)
 * H = 0 drops the hidden layer (a linear classifier over the mean embedding, as fastText). The
 * default H is "auto": 16 for two classes (one sigmoid output, a single direction, to which the
 * ReLU layer adds a non-linearity: IMDB 0.887 against 0.863 without), 0 for three or more
 * outputs (softmax or one-vs-all), where 16 ReLU units in front of C outputs are a bottleneck
 * (AG News 0.888 against 0.872; 20 and 50 synthetic classes +0.6 to +13 points), measured in
 * tests/bench/results/2026-12-06-panel.md.
 * Tensors: embedding [V x D] (row-sparse), hidden.weight [H x D], hidden.bias [H], out.weight
 * [O x H'], out.bias [O], where H' = H, or D when H = 0 (no hidden tensors then). */
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "base/util.h"
#include "layers/layers.h"
#include "models/model.h"

typedef struct {
    int64_t dim, hidden;
} bow_config;

static const tcd_model_param bow_params[] = {
    {"dim", TCD_MP_I64, offsetof(bow_config, dim), 1, 65536, "16", "embedding dimension"},
    {"hidden", TCD_MP_I64, offsetof(bow_config, hidden), 0, 65536, "auto",
     "hidden units (0: linear classifier over the mean embedding; auto: 16 for two classes, 0 for more)"},
    {0},
};

/* Activations of the last forward and per-chunk scratch. Every [docs x k] array is 64-byte
 * aligned and a chunk holds 64 docs, so chunk slices never share a cache line. */
typedef struct {
    int64_t cap;         /* documents the arrays hold */
    float *emb_out;      /* [cap x D] mean embedding */
    float *hid;          /* [cap x H] after ReLU (NULL when H = 0) */
    float *dhid;         /* [cap x H] */
    float *demb_out;     /* [cap x D] gradient of the mean embedding */
    float *partials;     /* [chunks x dense_stride] per-chunk dense gradients */
    int64_t dense_off;   /* first dense parameter (after the embedding) */
    int64_t dense_n;     /* dense parameters */
    int64_t dense_stride;/* dense_n rounded up to 16 floats (64 bytes) */
    int64_t *fix_emb;    /* deterministic: [cap x D] fixed(de[j] / len) per document */
    int64_t fix_cap;
    int64_t *fix_part;   /* deterministic: [fix_nt x dense_stride] per-thread dense gradients */
    int fix_nt;
} bow_ws;

/* The tensors a pass needs, looked up once. */
typedef struct {
    int64_t D, H, O, I_out; /* I_out: the output layer's input width */
    const float *emb, *Wh, *bh, *Wo, *bo;
    int64_t off_Wh, off_bh, off_Wo, off_bo; /* relative to the first dense parameter */
} bow_view;

static bow_view view_of(const tcd_model *m) {
    const bow_config *c = m->cfg;
    const bow_ws *ws = m->ws;
    bow_view v = {.D = c->dim, .H = c->hidden, .O = m->n_out, .I_out = c->hidden > 0 ? c->hidden : c->dim};
    v.emb = m->params;
    if (v.H > 0) {
        v.Wh = tcd_model_view(m, m->params, "hidden.weight");
        v.bh = tcd_model_view(m, m->params, "hidden.bias");
        v.off_Wh = tcd_model_tensor(m, "hidden.weight")->offset - ws->dense_off;
        v.off_bh = tcd_model_tensor(m, "hidden.bias")->offset - ws->dense_off;
    }
    v.Wo = tcd_model_view(m, m->params, "out.weight");
    v.bo = tcd_model_view(m, m->params, "out.bias");
    v.off_Wo = tcd_model_tensor(m, "out.weight")->offset - ws->dense_off;
    v.off_bo = tcd_model_tensor(m, "out.bias")->offset - ws->dense_off;
    return v;
}

static void bow_layout(tcd_model *m) {
    const bow_config *c = m->cfg;
    const int64_t D = c->dim, H = c->hidden, O = m->n_out;
    tcd_model_add_tensor(m, "embedding", m->shape.n_embeddings, D, 2, TCD_INIT_UNIFORM, 0.05);
    m->tensors[0].sparse_rows = 1;
    if (H > 0) {
        tcd_model_add_tensor(m, "hidden.weight", H, D, 2, TCD_INIT_GLOROT, 0);
        tcd_model_add_tensor(m, "hidden.bias", H, 1, 1, TCD_INIT_ZERO, 0);
    }
    tcd_model_add_tensor(m, "out.weight", O, H > 0 ? H : D, 2, TCD_INIT_GLOROT, 0);
    tcd_model_add_tensor(m, "out.bias", O, 1, 1, TCD_INIT_ZERO, 0);
}

static void *bow_ws_new(const tcd_model *m) {
    bow_ws *ws = tcd_calloc(1, sizeof *ws);
    ws->dense_off = m->tensors[1].offset;
    ws->dense_n = m->n_params - ws->dense_off;
    ws->dense_stride = (ws->dense_n + 15) & ~(int64_t)15;
    return ws;
}

static void ws_free_arrays(bow_ws *ws) {
    free(ws->emb_out);
    free(ws->hid);
    free(ws->dhid);
    free(ws->demb_out);
    free(ws->partials);
    ws->emb_out = ws->hid = ws->dhid = ws->demb_out = ws->partials = NULL;
}

static void bow_ws_free(void *p) {
    bow_ws *ws = p;
    ws_free_arrays(ws);
    free(ws->fix_emb);
    free(ws->fix_part);
    free(ws);
}

/* Grows the workspace to hold n documents (whole chunks, 50% headroom). Contents are not kept. */
static void ws_reserve(const tcd_model *m, bow_ws *ws, int64_t n) {
    if (n <= ws->cap) return;
    const bow_config *c = m->cfg;
    int64_t cap = n + n / 2;
    cap = (cap + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK;
    const int64_t D = c->dim, H = c->hidden;
    ws_free_arrays(ws);
    ws->emb_out = tcd_ws_array(cap * D, sizeof(float));
    ws->hid = H > 0 ? tcd_ws_array(cap * H, sizeof(float)) : NULL;
    ws->dhid = H > 0 ? tcd_ws_array(cap * H, sizeof(float)) : NULL;
    ws->demb_out = tcd_ws_array(cap * D, sizeof(float));
    ws->partials = tcd_ws_array(cap / TCD_CHUNK * ws->dense_stride, sizeof(float));
    ws->cap = cap;
}

static void bow_forward(tcd_model *m, const tcd_batch *b, float *logits, int n_threads) {
    bow_ws *ws = m->ws;
    ws_reserve(m, ws, b->n);
    const bow_view v = view_of(m);
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    /* deterministic: fixed-order loops whose result for a row does not depend on B or the row */
    void (*const linear_fwd)(float *, const float *, const float *, const float *, int64_t, int64_t, int64_t) =
        m->deterministic ? linear_forward_rows : linear_forward;

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        const int64_t *off = b->offsets + d0;
        const int32_t *tok = b->tokens + (off[0] - b->offsets[0]);
        float *e = ws->emb_out + d0 * v.D;
        embedding_bag_forward(e, v.emb, tok, off, nb, v.D);
        const float *x = e;
        if (v.H > 0) {
            float *h = ws->hid + d0 * v.H;
            linear_fwd(h, e, v.Wh, v.bh, nb, v.D, v.H);
            relu_forward(h, h, nb * v.H);
            x = h;
        }
        linear_fwd(logits + d0 * v.O, x, v.Wo, v.bo, nb, v.I_out, v.O);
    }
}

static void bow_backward(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads) {
    bow_ws *ws = m->ws;
    const bow_view v = view_of(m);
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK, V = m->shape.n_embeddings;

    /* 1. dense layers per chunk, gradients into the chunk's own partial buffer */
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        float *part = ws->partials + c * ws->dense_stride;
        memset(part, 0, (size_t)ws->dense_n * sizeof(float));
        const float *dz = dlogits + d0 * v.O;
        const float *e = ws->emb_out + d0 * v.D;
        float *de = ws->demb_out + d0 * v.D;
        if (v.H > 0) {
            const float *h = ws->hid + d0 * v.H;
            float *dh = ws->dhid + d0 * v.H;
            linear_backward(dh, part + v.off_Wo, part + v.off_bo, dz, h, v.Wo, nb, v.I_out, v.O);
            relu_backward(dh, dh, h, nb * v.H);
            linear_backward(de, part + v.off_Wh, part + v.off_bh, dh, e, v.Wh, nb, v.D, v.H);
        } else {
            linear_backward(de, part + v.off_Wo, part + v.off_bo, dz, e, v.Wo, nb, v.D, v.O);
        }
    }

    /* 2. dense gradients: add the chunks' partials in chunk order (threads split the elements) */
#pragma omp parallel num_threads(n_threads) if (ws->dense_n > 1024)
    tcd_add_partials(m->grads + ws->dense_off, ws->partials, n_chunks, ws->dense_stride, ws->dense_n);

    /* 3. embedding gradient: threads own row ranges, and each scans the whole batch in document
     *    order, so every row's sum runs in the same order whatever the thread count. Handed over
     *    (tcd_model_bind_bag): each document's vector, de * 1/len, the very term that
     *    embedding_bag_backward adds for each of its tokens */
    if (m->bag_on) {
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n > TCD_CHUNK)
        for (int64_t d = 0; d < n; d++) {
            const int64_t len = b->offsets[d + 1] - b->offsets[d];
            const float inv_len = len > 0 ? 1.0f / (float)len : 0.0f;
            const float *restrict de = ws->demb_out + d * v.D;
            float *restrict out = m->bag_vec + d * v.D;
            for (int64_t j = 0; j < v.D; j++) out[j] = de[j] * inv_len;
        }
        return;
    }
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t lo = V * t / nt, hi = V * (t + 1) / nt;
        embedding_bag_backward(m->grads, ws->demb_out, b->tokens, b->offsets, n, v.D, lo, hi);
    }
}

/* ---- deterministic mode: exact fixed-point gradients ---------------------------------- */

static void fix_reserve(bow_ws *ws, int64_t D, int64_t n, int nt) {
    if (ws->fix_cap < ws->cap) { /* cap >= n after the forward */
        free(ws->fix_emb);
        ws->fix_emb = tcd_aligned_alloc((size_t)(ws->cap * D) * sizeof(int64_t));
        ws->fix_cap = ws->cap;
    }
    TCD_CHECK(ws->fix_cap >= n);
    if (ws->fix_nt < nt) {
        free(ws->fix_part);
        ws->fix_part = tcd_aligned_alloc((size_t)((int64_t)nt * ws->dense_stride) * sizeof(int64_t));
        ws->fix_nt = nt;
    }
}

enum { BAD_EMB = 1, BAD_HIDDEN = 2, BAD_OUT = 4 }; /* which gradient left the fixed-point range */

/* Document d: its dense gradients into part (int64) and its embedding-gradient vector, fixed, into
 * fe. Returns BAD_* flags. */
static int doc_fixed(const bow_view *v, bow_ws *ws, const tcd_batch *b, const float *dlogits, int64_t d,
                     int64_t *part, int64_t *fix_emb, double lim) {
    int bad = 0;
    const float *dz = dlogits + d * v->O;
    const float *e = ws->emb_out + d * v->D;
    float *de = ws->demb_out + d * v->D;
    if (v->H > 0) {
        const float *h = ws->hid + d * v->H;
        float *dh = ws->dhid + d * v->H;
        linear_backward_ref(dh, NULL, NULL, dz, h, v->Wo, 1, v->I_out, v->O);
        if (linear_backward_fixed(part + v->off_Wo, part + v->off_bo, dz, h, v->I_out, v->O, lim)) bad |= BAD_OUT;
        relu_backward(dh, dh, h, v->H);
        linear_backward_ref(de, NULL, NULL, dh, e, v->Wh, 1, v->D, v->H);
        if (linear_backward_fixed(part + v->off_Wh, part + v->off_bh, dh, e, v->D, v->H, lim)) bad |= BAD_HIDDEN;
    } else {
        linear_backward_ref(de, NULL, NULL, dz, e, v->Wo, 1, v->D, v->O);
        if (linear_backward_fixed(part + v->off_Wo, part + v->off_bo, dz, e, v->D, v->O, lim)) bad |= BAD_OUT;
    }
    const int64_t len = b->offsets[d + 1] - b->offsets[d];
    if (len == 0) return bad; /* no tokens: its vector is never read */
    int64_t *fe = fix_emb + d * v->D;
    const float inv_len = 1.0f / (float)len; /* as embedding_bag_backward */
    const double lim_tok = lim / (double)len; /* a row may get all len adds */
    for (int64_t j = 0; j < v->D; j++) {
        const double x = (double)(de[j] * inv_len) * TCD_FIX_ONE;
        if (!(fabs(x) < lim_tok)) bad |= BAD_EMB;
        fe[j] = tcd_fix_round(x);
    }
    return bad;
}

static void bow_backward_fixed(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads, int64_t *acc,
                               double lim, const char **bad_tensor) {
    bow_ws *ws = m->ws;
    const bow_view v = view_of(m);
    const int64_t n = b->n, V = m->shape.n_embeddings;
    fix_reserve(ws, v.D, n, n_threads);
    int *bad = tcd_calloc((size_t)n_threads * 16, sizeof(int)); /* one cache line per thread */

#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        /* 1. threads take contiguous document ranges, each into its own int64 partial */
        int64_t *part = ws->fix_part + (int64_t)t * ws->dense_stride;
        memset(part, 0, (size_t)ws->dense_n * sizeof(int64_t));
        int my_bad = 0;
        int64_t *fix_emb = m->bag_on ? m->bag_fix : ws->fix_emb; /* handed over: straight to its owner */
        for (int64_t d = n * t / nt; d < n * (t + 1) / nt; d++)
            my_bad |= doc_fixed(&v, ws, b, dlogits, d, part, fix_emb, lim);
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
        if (!m->bag_on)
            embedding_bag_backward_fixed(acc, ws->fix_emb, b->tokens, b->offsets, n, v.D, V * t / nt, V * (t + 1) / nt);
    }

    int all_bad = 0;
    for (int t = 0; t < n_threads; t++) all_bad |= bad[t * 16];
    free(bad);
    if (all_bad)
        *bad_tensor = all_bad & BAD_OUT ? "out.weight/out.bias" : all_bad & BAD_HIDDEN ? "hidden.weight/hidden.bias"
                                                                                     : "embedding";
}

static void bow_resolve(void *cfg, const tcd_model_shape *shape) {
    bow_config *c = cfg;
    if (c->hidden == TCD_MP_AUTO) c->hidden = shape->n_classes == 2 && !shape->ova ? 16 : 0;
}

const tcd_model_kind tcd_model_bow = {
    .name = "bow",
    .summary = "bag of embeddings: mean of the token embeddings -> [Dense(hidden) -> ReLU] -> output",
    .params = bow_params,
    .cfg_size = sizeof(bow_config),
    .corpus_rule = 1, /* measured: tests/bench/results/2026-12-06-panel.md */
    .check = NULL,
    .resolve = bow_resolve,
    .layout = bow_layout,
    .ws_new = bow_ws_new,
    .ws_free = bow_ws_free,
    .forward = bow_forward,
    .backward = bow_backward,
    .backward_fixed = bow_backward_fixed,
    .embedding_bag = 1,
};
