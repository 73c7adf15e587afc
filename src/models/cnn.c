/* The convolutional classifier ("cnn"), Kim (2014) CNN-rand:
 *   Embedding(V, D) -> for each width w_k: Conv1d(D -> F, w_k) -> ReLU -> max over time
 *   -> concatenation [K*F] -> dropout -> Dense(O)
 * Documents are ragged: each is convolved over its own positions only (the first max_len tokens),
 * and one shorter than the widest filter (an empty one included) is zero-padded to that width.
 * ReLU is applied after the max (relu(max_t y) = max_t relu(y): ReLU is monotonic).
 * Tensors: embedding [V x D] (row-sparse), conv<k>.weight [F x w_k*D] (filter f, offset j,
 * component d at j*D + d), conv<k>.bias [F], out.weight [O x K*F], out.bias [O]. Training convolves
 * groups of a chunk's documents with one im2col + sgemm per width (no window crosses documents);
 * deterministic mode and inference use a BLAS-free kernel per document, whose sums have one fixed
 * order on every CPU, so that a document's activations never depend on its batch companions. */
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "base/util.h"
#include "layers/layers.h"
#include "models/model.h"

typedef struct {
    int64_t dim, filters;
    tcd_i64_list widths;
    double dropout;
    int64_t max_len;
} cnn_config;

static const tcd_model_param cnn_params[] = {
    {"dim", TCD_MP_I64, offsetof(cnn_config, dim), 1, 65536, "128", "embedding dimension"},
    {"filters", TCD_MP_I64, offsetof(cnn_config, filters), 1, 65536, "100", "convolution filters per width"},
    {"widths", TCD_MP_I64_LIST, offsetof(cnn_config, widths), 1, 64, "3,4,5", "convolution widths (a list)"},
    {"dropout", TCD_MP_F64, offsetof(cnn_config, dropout), 0, 0.9, "0.5",
     "dropout rate on the pooled features while training"},
    {"max_len", TCD_MP_I64, offsetof(cnn_config, max_len), 1, 1e9, "400",
     "use at most the first N tokens of a document"},
    {0},
};

static int cnn_check(const void *cfg, const tcd_model_shape *shape, char *err, size_t errlen) {
    const cnn_config *c = cfg;
    int64_t sum_w = 0;
    for (int64_t k = 0; k < c->widths.n; k++) sum_w += c->widths.v[k];
    /* every tensor and every im2col row stays well inside BLAS' int dimensions */
    if (c->filters * c->widths.n > (1 << 20) || c->dim * sum_w > (1 << 24)) {
        snprintf(err, errlen, "model cnn: --filters %lld x %lld widths or --dim %lld x the widths is too large",
                 (long long)c->filters, (long long)c->widths.n, (long long)c->dim);
        return -1;
    }
    (void)shape;
    return 0;
}

static int64_t max_width(const cnn_config *c) {
    int64_t w = 1;
    for (int64_t k = 0; k < c->widths.n; k++)
        if (c->widths.v[k] > w) w = c->widths.v[k];
    return w;
}

static void cnn_layout(tcd_model *m) {
    const cnn_config *c = m->cfg;
    tcd_model_add_tensor(m, "embedding", m->shape.n_embeddings, c->dim, 2, TCD_INIT_UNIFORM, 0.05);
    m->tensors[0].sparse_rows = 1;
    for (int64_t k = 0; k < c->widths.n; k++) {
        char w[TCD_TENSOR_NAME], b[TCD_TENSOR_NAME];
        snprintf(w, sizeof w, "conv%lld.weight", (long long)k);
        snprintf(b, sizeof b, "conv%lld.bias", (long long)k);
        tcd_model_add_tensor(m, w, c->filters, c->widths.v[k] * c->dim, 2, TCD_INIT_GLOROT, 0);
        tcd_model_add_tensor(m, b, c->filters, 1, 1, TCD_INIT_ZERO, 0);
    }
    tcd_model_add_tensor(m, "out.weight", m->n_out, c->filters * c->widths.n, 2, TCD_INIT_GLOROT, 0);
    tcd_model_add_tensor(m, "out.bias", m->n_out, 1, 1, TCD_INIT_ZERO, 0);
}

/* One thread's scratch: the im2col matrix and the convolution's output of a group of documents. */
typedef struct {
    int64_t cap_p;       /* positions the arrays hold */
    float *col, *y;      /* [cap_p x wmax*D], [cap_p x F] */
    char pad[40];        /* one cache line per slot */
} cnn_scratch;

typedef struct {
    int64_t cap;            /* documents the per-document arrays hold */
    float *pool;            /* [cap x KF] relu(max over time) */
    float *hdrop;           /* [cap x KF] after dropout (the output layer's input) */
    float *dh;              /* [cap x KF] */
    int32_t *arg;           /* [cap x KF] argmax position per filter */
    int64_t *len;           /* [cap] real positions used (after --max-len) */
    int64_t *xrow;          /* [cap + 1] first row of each document in x / dx */
    int64_t cap_rows;       /* rows x and dx hold */
    float *x;               /* [rows x D] each document's (padded) token vectors */
    float *dx;              /* [rows x D] their gradients */
    int64_t *fix_x;         /* deterministic: [rows x D] the rounded gradients */
    int64_t fix_rows;
    float *partials;        /* [chunks x dense_stride] */
    int64_t dense_off, dense_n, dense_stride;
    int64_t *fix_part;      /* deterministic: [fix_nt x dense_stride] */
    int fix_nt;
    int n_scr;
    cnn_scratch *scr;       /* [n_scr], one per thread */
    int dropout_on;         /* the last forward used dropout */
    float *wt;              /* deterministic forward: each conv<k>.weight transposed, [w_k*D x F] back to back */
} cnn_ws;

/* The tensors a pass needs, looked up once. */
typedef struct {
    int64_t D, F, K, KF, O, wmax, max_len;
    int64_t w[TCD_MP_MAX_LIST];
    const float *emb, *Wc[TCD_MP_MAX_LIST], *bc[TCD_MP_MAX_LIST], *Wo, *bo;
    int64_t off_Wc[TCD_MP_MAX_LIST], off_bc[TCD_MP_MAX_LIST], off_Wo, off_bo; /* from the first dense one */
    float p;
} cnn_view;

static cnn_view view_of(const tcd_model *m) {
    const cnn_config *c = m->cfg;
    const cnn_ws *ws = m->ws;
    cnn_view v = {.D = c->dim, .F = c->filters, .K = c->widths.n, .KF = c->filters * c->widths.n, .O = m->n_out,
                  .wmax = max_width(c), .max_len = c->max_len, .p = (float)c->dropout};
    v.emb = m->params;
    for (int64_t k = 0; k < v.K; k++) {
        const tcd_tensor *tw = &m->tensors[1 + 2 * k], *tb = &m->tensors[2 + 2 * k];
        v.w[k] = c->widths.v[k];
        v.Wc[k] = m->params + tw->offset;
        v.bc[k] = m->params + tb->offset;
        v.off_Wc[k] = tw->offset - ws->dense_off;
        v.off_bc[k] = tb->offset - ws->dense_off;
    }
    v.Wo = tcd_model_view(m, m->params, "out.weight");
    v.bo = tcd_model_view(m, m->params, "out.bias");
    v.off_Wo = tcd_model_tensor(m, "out.weight")->offset - ws->dense_off;
    v.off_bo = tcd_model_tensor(m, "out.bias")->offset - ws->dense_off;
    return v;
}

static void *cnn_ws_new(const tcd_model *m) {
    cnn_ws *ws = tcd_calloc(1, sizeof *ws);
    ws->dense_off = m->tensors[1].offset;
    ws->dense_n = m->n_params - ws->dense_off;
    ws->dense_stride = (ws->dense_n + 15) & ~(int64_t)15;
    int64_t n_wt = 0;
    for (int k = 1; k < m->n_tensors; k++)
        if (m->tensors[k].rank == 2 && strncmp(m->tensors[k].name, "conv", 4) == 0)
            n_wt += m->tensors[k].rows * m->tensors[k].cols;
    ws->wt = tcd_aligned_alloc((size_t)(n_wt > 0 ? n_wt : 1) * sizeof(float));
    return ws;
}

static void free_docs(cnn_ws *ws) {
    free(ws->pool);
    free(ws->hdrop);
    free(ws->dh);
    free(ws->arg);
    free(ws->len);
    free(ws->xrow);
    free(ws->partials);
    ws->pool = ws->hdrop = ws->dh = ws->partials = NULL;
    ws->arg = NULL;
    ws->len = ws->xrow = NULL;
    ws->cap = 0;
}

static void cnn_ws_free(void *p) {
    cnn_ws *ws = p;
    free_docs(ws);
    free(ws->x);
    free(ws->dx);
    free(ws->fix_x);
    free(ws->fix_part);
    free(ws->wt);
    for (int t = 0; t < ws->n_scr; t++) {
        free(ws->scr[t].col);
        free(ws->scr[t].y);
    }
    free(ws->scr);
    free(ws);
}

static void *ws_array(int64_t n, size_t size) { return tcd_aligned_alloc((size_t)(n > 0 ? n : 1) * size); }

/* Room for n documents of `rows` padded positions in all, and n_threads scratch slots. */
static void ws_reserve(const cnn_view *v, cnn_ws *ws, int64_t n, int64_t rows, int n_threads) {
    if (n > ws->cap) {
        free_docs(ws);
        int64_t cap = n + n / 2;
        cap = (cap + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK;
        ws->pool = ws_array(cap * v->KF, sizeof(float));
        ws->hdrop = ws_array(cap * v->KF, sizeof(float));
        ws->dh = ws_array(cap * v->KF, sizeof(float));
        ws->arg = ws_array(cap * v->KF, sizeof(int32_t));
        ws->len = ws_array(cap, sizeof(int64_t));
        ws->xrow = ws_array(cap + 1, sizeof(int64_t));
        ws->partials = ws_array(cap / TCD_CHUNK * ws->dense_stride, sizeof(float));
        ws->cap = cap;
    }
    if (rows > ws->cap_rows) {
        free(ws->x);
        free(ws->dx);
        const int64_t cap = rows + rows / 2 + 64;
        ws->x = ws_array(cap * v->D, sizeof(float));
        ws->dx = ws_array(cap * v->D, sizeof(float));
        ws->cap_rows = cap;
    }
    if (n_threads > ws->n_scr) {
        ws->scr = tcd_realloc(ws->scr, (size_t)n_threads * sizeof *ws->scr);
        memset(ws->scr + ws->n_scr, 0, (size_t)(n_threads - ws->n_scr) * sizeof *ws->scr);
        ws->n_scr = n_threads;
    }
}

/* Documents of a chunk are convolved in groups of up to this many padded positions in all (at least
 * one document), and a longer document in blocks of this many positions: the scratch stays bounded. */
#define GROUP_ROWS 1024

/* A thread's scratch for P positions (its own slot: no other thread touches it). */
static cnn_scratch *scratch(const cnn_view *v, cnn_ws *ws, int64_t P) {
    cnn_scratch *s = &ws->scr[omp_get_thread_num()];
    if (P > s->cap_p) {
        free(s->col);
        free(s->y);
        const int64_t cap = P < GROUP_ROWS ? P + P / 2 + 16 : GROUP_ROWS;
        s->col = ws_array(cap * v->wmax * v->D, sizeof(float));
        s->y = ws_array(cap * v->F, sizeof(float));
        s->cap_p = cap;
    }
    return s;
}

/* Document d, longer than GROUP_ROWS positions, width k: the convolution in blocks of GROUP_ROWS
 * positions, each block's max over time merged into the running one. wt: the width's transposed
 * weights (deterministic mode). */
static void long_doc_conv(const tcd_model *m, const cnn_view *v, cnn_ws *ws, cnn_scratch *s, int64_t d, int64_t k,
                          const float *wt) {
    const int64_t D = v->D, F = v->F, w = v->w[k], P = ws->xrow[d + 1] - ws->xrow[d] - w + 1;
    const float *x = ws->x + ws->xrow[d] * D;
    float *pool = ws->pool + d * v->KF + k * F;
    int32_t *arg = ws->arg + d * v->KF + k * F;
    for (int64_t t0 = 0; t0 < P; t0 += GROUP_ROWS) {
        const int64_t Pb = P - t0 < GROUP_ROWS ? P - t0 : GROUP_ROWS;
        if (m->deterministic)
            conv1d_forward_rows(s->y, x + t0 * D, wt, v->bc[k], Pb + w - 1, D, w, F);
        else
            conv1d_forward(s->y, s->col, x + t0 * D, v->Wc[k], v->bc[k], Pb + w - 1, D, w, F);
        if (t0 == 0)
            maxtime_forward(pool, arg, s->y, Pb, F);
        else
            maxtime_update(pool, arg, s->y, Pb, F, t0);
    }
}

/* Documents g0 .. g1 of a chunk (their rows are contiguous in ws->x): token vectors; the
 * convolutions, one sgemm per width over all their windows (thread-independent: the groups are a
 * function of the chunk), or in deterministic mode the BLAS-free kernel document by document (a
 * document's result then depends on nothing else); max over time, ReLU, dropout. */
static void group_forward(const tcd_model *m, const cnn_view *v, cnn_ws *ws, const tcd_batch *b, int64_t g0,
                          int64_t g1) {
    const int64_t D = v->D, F = v->F, KF = v->KF;
    for (int64_t d = g0; d < g1; d++)
        embedding_seq_forward(ws->x + ws->xrow[d] * D, v->emb, b->tokens + (b->offsets[d] - b->offsets[0]),
                              ws->len[d], ws->xrow[d + 1] - ws->xrow[d], D);
    const int64_t rows = ws->xrow[g1] - ws->xrow[g0];
    cnn_scratch *s = scratch(v, ws, rows < GROUP_ROWS ? rows : GROUP_ROWS);
    const float *wt = ws->wt;
    for (int64_t k = 0; k < v->K; k++) {
        const int64_t w = v->w[k];
        if (rows > GROUP_ROWS) { /* one long document (a group holds one when it exceeds GROUP_ROWS) */
            long_doc_conv(m, v, ws, s, g0, k, wt);
            wt += w * D * F;
            continue;
        }
        if (!m->deterministic)
            conv1d_forward_seqs(s->y, s->col, ws->x + ws->xrow[g0] * D, ws->xrow + g0, g1 - g0, v->Wc[k], v->bc[k], D,
                                w, F);
        const float *y = s->y;
        for (int64_t d = g0; d < g1; d++) {
            const int64_t Lp = ws->xrow[d + 1] - ws->xrow[d], P = Lp - w + 1;
            if (m->deterministic) { /* no BLAS: the same bits on every CPU */
                conv1d_forward_rows(s->y, ws->x + ws->xrow[d] * D, wt, v->bc[k], Lp, D, w, F);
                y = s->y;
            }
            maxtime_forward(ws->pool + d * KF + k * F, ws->arg + d * KF + k * F, y, P, F);
            y += P * F;
        }
        wt += w * D * F;
    }
    for (int64_t d = g0; d < g1; d++) {
        float *pool = ws->pool + d * KF, *h = ws->hdrop + d * KF;
        relu_forward(pool, pool, KF);
        if (ws->dropout_on)
            dropout_forward(h, pool, KF, v->p, m->seed, m->step, b->doc_ids[d]);
        else
            memcpy(h, pool, (size_t)KF * sizeof(float));
    }
}

static void cnn_forward(tcd_model *m, const tcd_batch *b, float *logits, int n_threads) {
    cnn_ws *ws = m->ws;
    const cnn_view v0 = view_of(m);
    const cnn_view *v = &v0;
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    /* the positions each document uses (--max-len), padded to the widest filter, and where its rows start */
    ws_reserve(v, ws, n, 0, n_threads);
    ws->xrow[0] = 0;
    for (int64_t d = 0; d < n; d++) {
        const int64_t len = b->offsets[d + 1] - b->offsets[d], L = len < v->max_len ? len : v->max_len;
        ws->len[d] = L;
        ws->xrow[d + 1] = ws->xrow[d] + (L > v->wmax ? L : v->wmax);
    }
    ws_reserve(v, ws, n, ws->xrow[n], n_threads);
    ws->dropout_on = m->training && v->p > 0.0f;
    TCD_CHECK(!ws->dropout_on || b->doc_ids); /* the loader gives every training batch its ids */
    void (*const linear_fwd)(float *, const float *, const float *, const float *, int64_t, int64_t, int64_t) =
        m->deterministic ? linear_forward_rows : linear_forward;
    if (m->deterministic) {
        float *wt = ws->wt;
        for (int64_t k = 0; k < v->K; k++) {
            conv1d_transpose(wt, v->Wc[k], v->F, v->w[k] * v->D);
            wt += v->w[k] * v->D * v->F;
        }
    }

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        for (int64_t g0 = d0, g1; g0 < d0 + nb; g0 = g1) {
            g1 = g0 + 1;
            while (g1 < d0 + nb && ws->xrow[g1 + 1] - ws->xrow[g0] <= GROUP_ROWS) g1++;
            group_forward(m, v, ws, b, g0, g1);
        }
        linear_fwd(logits + d0 * v->O, ws->hdrop + d0 * v->KF, v->Wo, v->bo, nb, v->KF, v->O);
    }
}

/* dh of document d (the gradient of its pooled features), in place: back through dropout and ReLU. */
static void doc_dpool(const tcd_model *m, const cnn_view *v, cnn_ws *ws, const tcd_batch *b, int64_t d) {
    float *dh = ws->dh + d * v->KF;
    if (ws->dropout_on) dropout_backward(dh, dh, v->KF, v->p, m->seed, m->step, b->doc_ids[d]);
    relu_backward(dh, dh, ws->pool + d * v->KF, v->KF);
}

static void cnn_backward(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads) {
    cnn_ws *ws = m->ws;
    const cnn_view v0 = view_of(m);
    const cnn_view *v = &v0;
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK, V = m->shape.n_embeddings;

    /* 1. per chunk: the output layer, then each document's convolutions, into the chunk's partial */
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        float *part = ws->partials + c * ws->dense_stride;
        memset(part, 0, (size_t)ws->dense_n * sizeof(float));
        linear_backward(ws->dh + d0 * v->KF, part + v->off_Wo, part + v->off_bo, dlogits + d0 * v->O,
                        ws->hdrop + d0 * v->KF, v->Wo, nb, v->KF, v->O);
        for (int64_t d = d0; d < d0 + nb; d++) {
            doc_dpool(m, v, ws, b, d);
            const int64_t Lp = ws->xrow[d + 1] - ws->xrow[d];
            const float *x = ws->x + ws->xrow[d] * v->D;
            float *dx = ws->dx + ws->xrow[d] * v->D;
            memset(dx, 0, (size_t)(Lp * v->D) * sizeof(float));
            for (int64_t k = 0; k < v->K; k++)
                conv1d_maxpool_backward(dx, part + v->off_Wc[k], part + v->off_bc[k], ws->dh + d * v->KF + k * v->F,
                                        ws->arg + d * v->KF + k * v->F, x, v->Wc[k], v->D, v->w[k], v->F);
        }
    }

    /* 2. dense gradients: the chunks' partials added in chunk order (threads split the elements) */
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

    /* 3. embedding: threads own row ranges and scan the batch in document and position order */
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        embedding_seq_backward(m->grads, ws->dx, ws->xrow, ws->len, b->tokens, b->offsets, n, v->D, V * t / nt,
                               V * (t + 1) / nt);
    }
}

/* ---- deterministic mode: exact fixed-point gradients ---------------------------------- */

static void fix_reserve(cnn_ws *ws, int64_t D, int nt) {
    if (ws->fix_rows < ws->cap_rows) {
        free(ws->fix_x);
        ws->fix_x = ws_array(ws->cap_rows * D, sizeof(int64_t));
        ws->fix_rows = ws->cap_rows;
    }
    if (ws->fix_nt < nt) {
        free(ws->fix_part);
        ws->fix_part = ws_array((int64_t)nt * ws->dense_stride, sizeof(int64_t));
        ws->fix_nt = nt;
    }
}

enum { BAD_EMB = 1, BAD_CONV = 2, BAD_OUT = 4 };

/* Document d alone, as a one-document batch computes it: dense gradients into part (int64), and
 * the gradient of each of its real positions, rounded, into fix_x. Returns BAD_* flags. */
static int doc_fixed(const tcd_model *m, const cnn_view *v, cnn_ws *ws, const tcd_batch *b, const float *dlogits,
                     int64_t d, int64_t *part, double lim) {
    int bad = 0;
    const float *dz = dlogits + d * v->O, *h = ws->hdrop + d * v->KF;
    float *dh = ws->dh + d * v->KF;
    linear_backward_ref(dh, NULL, NULL, dz, h, v->Wo, 1, v->KF, v->O);
    if (linear_backward_fixed(part + v->off_Wo, part + v->off_bo, dz, h, v->KF, v->O, lim)) bad |= BAD_OUT;
    doc_dpool(m, v, ws, b, d);
    const int64_t L = ws->len[d], Lp = ws->xrow[d + 1] - ws->xrow[d];
    const float *x = ws->x + ws->xrow[d] * v->D;
    float *dx = ws->dx + ws->xrow[d] * v->D; /* the document's own rows: no other thread's */
    memset(dx, 0, (size_t)(Lp * v->D) * sizeof(float));
    for (int64_t k = 0; k < v->K; k++) {
        const float *dp = dh + k * v->F;
        const int32_t *arg = ws->arg + d * v->KF + k * v->F;
        conv1d_maxpool_backward(dx, NULL, NULL, dp, arg, x, v->Wc[k], v->D, v->w[k], v->F);
        if (conv1d_maxpool_backward_fixed(part + v->off_Wc[k], part + v->off_bc[k], dp, arg, x, v->D, v->w[k], v->F,
                                          lim))
            bad |= BAD_CONV;
    }
    if (L == 0) return bad;
    int64_t *fx = ws->fix_x + ws->xrow[d] * v->D;
    const double lim_pos = lim / (double)L; /* a row may receive all L positions */
    for (int64_t j = 0; j < L * v->D; j++) {
        const double y = (double)dx[j] * TCD_FIX_ONE;
        if (!(fabs(y) < lim_pos)) bad |= BAD_EMB;
        fx[j] = tcd_fix_round(y);
    }
    return bad;
}

static void cnn_backward_fixed(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads, int64_t *acc,
                               double lim, const char **bad_tensor) {
    cnn_ws *ws = m->ws;
    const cnn_view v0 = view_of(m);
    const cnn_view *v = &v0;
    const int64_t n = b->n, V = m->shape.n_embeddings;
    fix_reserve(ws, v->D, n_threads);
    ws_reserve(v, ws, n, 0, n_threads);
    int *bad = tcd_calloc((size_t)n_threads * 16, sizeof(int));

#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t *part = ws->fix_part + (int64_t)t * ws->dense_stride;
        memset(part, 0, (size_t)ws->dense_n * sizeof(int64_t));
        int my_bad = 0;
        for (int64_t d = n * t / nt; d < n * (t + 1) / nt; d++) my_bad |= doc_fixed(m, v, ws, b, dlogits, d, part, lim);
        bad[t * 16] = my_bad;
#pragma omp barrier
        int64_t *ad = acc + ws->dense_off;
        const int64_t e_lo = ws->dense_n * t / nt, e_hi = ws->dense_n * (t + 1) / nt;
        for (int k = 0; k < nt; k++) {
            const int64_t *restrict pk = ws->fix_part + (int64_t)k * ws->dense_stride;
            for (int64_t j = e_lo; j < e_hi; j++) ad[j] += pk[j];
        }
        embedding_seq_backward_fixed(acc, ws->fix_x, ws->xrow, ws->len, b->tokens, b->offsets, n, v->D, V * t / nt,
                                     V * (t + 1) / nt);
    }

    int all_bad = 0;
    for (int t = 0; t < n_threads; t++) all_bad |= bad[t * 16];
    free(bad);
    if (all_bad)
        *bad_tensor = all_bad & BAD_OUT ? "out.weight/out.bias" : all_bad & BAD_CONV ? "conv*.weight/conv*.bias"
                                                                                   : "embedding";
}

const tcd_model_kind tcd_model_cnn = {
    .name = "cnn",
    .summary = "Kim's CNN: convolutions of several widths over the token embeddings -> ReLU -> max over time -> "
               "dropout -> output",
    .params = cnn_params,
    .cfg_size = sizeof(cnn_config),
    .check = cnn_check,
    .layout = cnn_layout,
    .ws_new = cnn_ws_new,
    .ws_free = cnn_ws_free,
    .forward = cnn_forward,
    .backward = cnn_backward,
    .backward_fixed = cnn_backward_fixed,
};
