/* The convolutional classifier ("cnn"), Kim (2014) CNN-rand:
 *   Embedding(V, D) -> for each width w_k: Conv1d(D -> F, w_k) -> ReLU -> max over time
 *   -> concatenation [K*F] -> dropout -> Dense(O)
 * Documents are ragged: each is convolved over its own positions only (the first max_len tokens),
 * and one shorter than the widest filter (an empty one included) is zero-padded to that width.
 * With wide = 1 (the padding of Kim's code) a document's tokens get w_max - 1 zero positions at
 * each end; width w_k convolves the w_k - 1 of them next to the tokens on each side, so its windows
 * are every window that holds at least one token (L + w_k - 1 of them).
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
    int64_t wide;
} cnn_config;

static const tcd_model_param cnn_params[] = {
    {"dim", TCD_MP_I64, offsetof(cnn_config, dim), 1, 65536, "128", "embedding dimension"},
    {"filters", TCD_MP_I64, offsetof(cnn_config, filters), 1, 65536, "100", "convolution filters per width"},
    {"widths", TCD_MP_I64_LIST, offsetof(cnn_config, widths), 1, 64, "3,4,5", "convolution widths (a list)"},
    {"dropout", TCD_MP_F64, offsetof(cnn_config, dropout), 0, 0.9, "0.5",
     "dropout rate while training (cnn: on the pooled features; transformer: on the residual branches)"},
    {"max_len", TCD_MP_I64, offsetof(cnn_config, max_len), 1, 1e9, "400",
     "use at most the first N tokens of a document"},
    {"wide", TCD_MP_I64, offsetof(cnn_config, wide), 0, 1, "0",
     "1: wide convolution, each document zero-padded by width-1 positions at both ends (Kim's code); 0: only "
     "the document's own windows"},
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

/* Memory. Forward keeps, per document, only its pooled features and their argmax positions (K*F
 * each), its length and where its rows would start; the token vectors live in per-thread scratch
 * for one group of documents at a time. Backward recomputes what is cheap: the dropout output from
 * the pooled features (the mask is a pure function), and each document's token vectors, gathered
 * again from the embedding table. It runs in waves of n_threads chunks: the token gradients of a
 * wave's chunks (the rows that the embedding update needs), then the wave's dense partials added in
 * chunk order and its embedding rows in document order, then the next wave. So the activation
 * memory is bounded by the documents in flight (n_threads chunks of TCD_CHUNK), not by the batch,
 * and every sum runs in the order it ran when the whole batch was kept: the same bits. */

/* One thread's scratch: the im2col matrix and the convolution's output of a group of documents,
 * the token vectors of a group (forward) or of one document (backward) and, in deterministic mode,
 * that document's token gradients; the dropout output and its gradient of a chunk. */
typedef struct {
    int64_t cap_p;       /* positions col and y hold */
    float *col, *y;      /* [cap_p x wmax*D], [cap_p x F] */
    int64_t cap_x;       /* rows x (and dx) hold */
    float *x, *dx;       /* [cap_x x D] */
    float *hd, *dh;      /* [TCD_CHUNK x KF] */
    char pad[8];         /* one cache line per slot */
} cnn_scratch;

typedef struct {
    int64_t cap;            /* documents the per-document arrays hold */
    float *pool;            /* [cap x KF] relu(max over time) */
    int32_t *arg;           /* [cap x KF] argmax position per filter */
    int64_t *len;           /* [cap] real positions used (after --max-len) */
    int64_t *xrow;          /* [cap + 1] first row of each document, were the batch's rows back to back */
    int64_t cap_wrows;      /* rows wdx (and fix_x) hold */
    float *wdx;             /* [wave rows x D] the token gradients of a wave's documents */
    int64_t *fix_x;         /* deterministic: [wave rows x D] the same, rounded */
    int64_t fix_rows;
    int n_slots;            /* wave width: chunks in flight */
    float *partials;        /* [n_slots x dense_stride] the dense gradients of a wave's chunks */
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
    int64_t pad;                   /* zero rows before a document's tokens (wide: wmax - 1) */
    int64_t w[TCD_MP_MAX_LIST];
    int64_t trim[TCD_MP_MAX_LIST]; /* rows of each end of a document's block that width k skips */
    const float *emb, *Wc[TCD_MP_MAX_LIST], *bc[TCD_MP_MAX_LIST], *Wo, *bo;
    int64_t off_Wc[TCD_MP_MAX_LIST], off_bc[TCD_MP_MAX_LIST], off_Wo, off_bo; /* from the first dense one */
    float p;
} cnn_view;

static cnn_view view_of(const tcd_model *m) {
    const cnn_config *c = m->cfg;
    const cnn_ws *ws = m->ws;
    cnn_view v = {.D = c->dim, .F = c->filters, .K = c->widths.n, .KF = c->filters * c->widths.n, .O = m->n_out,
                  .wmax = max_width(c), .max_len = c->max_len, .p = (float)c->dropout};
    v.pad = c->wide ? v.wmax - 1 : 0;
    v.emb = m->params;
    for (int64_t k = 0; k < v.K; k++) {
        const tcd_tensor *tw = &m->tensors[1 + 2 * k], *tb = &m->tensors[2 + 2 * k];
        v.w[k] = c->widths.v[k];
        v.trim[k] = c->wide ? v.wmax - v.w[k] : 0;
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
    free(ws->arg);
    free(ws->len);
    free(ws->xrow);
    ws->pool = NULL;
    ws->arg = NULL;
    ws->len = ws->xrow = NULL;
    ws->cap = 0;
}

static void cnn_ws_free(void *p) {
    cnn_ws *ws = p;
    free_docs(ws);
    free(ws->wdx);
    free(ws->partials);
    free(ws->fix_x);
    free(ws->fix_part);
    free(ws->wt);
    for (int t = 0; t < ws->n_scr; t++) {
        cnn_scratch *s = &ws->scr[t];
        free(s->col);
        free(s->y);
        free(s->x);
        free(s->dx);
        free(s->hd);
        free(s->dh);
    }
    free(ws->scr);
    free(ws);
}

/* Room for n documents' pooled features and n_threads scratch slots. */
static void ws_reserve(const cnn_view *v, cnn_ws *ws, int64_t n, int n_threads) {
    if (n > ws->cap) {
        free_docs(ws);
        int64_t cap = n + n / 2;
        cap = (cap + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK;
        ws->pool = tcd_ws_array(cap * v->KF, sizeof(float));
        ws->arg = tcd_ws_array(cap * v->KF, sizeof(int32_t));
        ws->len = tcd_ws_array(cap, sizeof(int64_t));
        ws->xrow = tcd_ws_array(cap + 1, sizeof(int64_t));
        ws->cap = cap;
    }
    if (n_threads > ws->n_scr) {
        ws->scr = tcd_realloc(ws->scr, (size_t)n_threads * sizeof *ws->scr);
        memset(ws->scr + ws->n_scr, 0, (size_t)(n_threads - ws->n_scr) * sizeof *ws->scr);
        ws->n_scr = n_threads;
    }
}

/* The backward's wave buffers: `rows` token gradients (float, or in deterministic mode int64) and
 * `slots` dense partials (float mode). */
static void wave_reserve(const cnn_view *v, cnn_ws *ws, int64_t rows, int slots, int fixed) {
    if (!fixed && rows > ws->cap_wrows) {
        free(ws->wdx);
        const int64_t cap = rows + rows / 4 + 64;
        ws->wdx = tcd_ws_array(cap * v->D, sizeof(float));
        ws->cap_wrows = cap;
    }
    if (fixed && rows > ws->fix_rows) {
        free(ws->fix_x);
        const int64_t cap = rows + rows / 4 + 64;
        ws->fix_x = tcd_ws_array(cap * v->D, sizeof(int64_t));
        ws->fix_rows = cap;
    }
    if (!fixed && slots > ws->n_slots) {
        free(ws->partials);
        ws->partials = tcd_ws_array((int64_t)slots * ws->dense_stride, sizeof(float));
        ws->n_slots = slots;
    }
}

/* Documents of a chunk are convolved in groups of up to this many padded positions in all (at least
 * one document), and a longer document in blocks of this many positions: the scratch stays bounded. */
#define GROUP_ROWS 1024

/* The calling thread's slot (no other thread touches it). */
static cnn_scratch *slot(cnn_ws *ws) { return &ws->scr[omp_get_thread_num()]; }

/* im2col and convolution output for P positions. */
static void scratch_conv(const cnn_view *v, cnn_scratch *s, int64_t P) {
    if (P > s->cap_p) {
        free(s->col);
        free(s->y);
        const int64_t cap = P < GROUP_ROWS ? P + P / 2 + 16 : GROUP_ROWS;
        s->col = tcd_ws_array(cap * v->wmax * v->D, sizeof(float));
        s->y = tcd_ws_array(cap * v->F, sizeof(float));
        s->cap_p = cap;
    }
}

/* Token vectors (and, with grad, their gradients) for `rows` rows; the chunk's [TCD_CHUNK x KF] pair. */
static void scratch_x(const cnn_view *v, cnn_scratch *s, int64_t rows, int grad) {
    if (rows > s->cap_x || (grad && !s->dx)) {
        free(s->x);
        free(s->dx);
        const int64_t cap = rows > s->cap_x ? rows + rows / 2 + 16 : s->cap_x;
        s->x = tcd_ws_array(cap * v->D, sizeof(float));
        s->dx = grad ? tcd_ws_array(cap * v->D, sizeof(float)) : NULL;
        s->cap_x = cap;
    }
    if (!s->hd) {
        s->hd = tcd_ws_array(TCD_CHUNK * v->KF, sizeof(float));
        s->dh = tcd_ws_array(TCD_CHUNK * v->KF, sizeof(float));
    }
}

/* Document d, longer than GROUP_ROWS positions, width k, its token vectors at x: the convolution in
 * blocks of GROUP_ROWS positions, each block's max over time merged into the running one. wt: the
 * width's transposed weights (deterministic mode). */
static void long_doc_conv(const tcd_model *m, const cnn_view *v, cnn_ws *ws, cnn_scratch *s, const float *x, int64_t d,
                          int64_t k, const float *wt) {
    const int64_t D = v->D, F = v->F, w = v->w[k], P = ws->xrow[d + 1] - ws->xrow[d] - 2 * v->trim[k] - w + 1;
    float *pool = ws->pool + d * v->KF + k * F;
    x += v->trim[k] * D;
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

/* h of document d (the output layer's input): its pooled features after dropout. */
static void doc_hidden(const tcd_model *m, const cnn_view *v, const cnn_ws *ws, const tcd_batch *b, int64_t d,
                       float *h) {
    const float *pool = ws->pool + d * v->KF;
    if (ws->dropout_on)
        dropout_forward(h, pool, v->KF, v->p, m->seed, m->step, b->doc_ids[d]);
    else
        memcpy(h, pool, (size_t)v->KF * sizeof(float));
}

/* Document d's token vectors, with their zero rows (v->pad before, the rest after), into x. */
static void doc_tokens(const cnn_view *v, const cnn_ws *ws, const tcd_batch *b, int64_t d, float *x) {
    memset(x, 0, (size_t)(v->pad * v->D) * sizeof(float));
    embedding_seq_forward(x + v->pad * v->D, v->emb, b->tokens + (b->offsets[d] - b->offsets[0]), ws->len[d],
                          ws->xrow[d + 1] - ws->xrow[d] - v->pad, v->D);
}

/* Documents g0 .. g1 of the chunk that starts at d0: token vectors (into the thread's scratch); the
 * convolutions, one sgemm per width over all their windows (thread-independent: the groups are a
 * function of the chunk), or in deterministic mode the BLAS-free kernel document by document (a
 * document's result then depends on nothing else); max over time, ReLU, dropout into s->hd. */
static void group_forward(const tcd_model *m, const cnn_view *v, cnn_ws *ws, cnn_scratch *s, const tcd_batch *b,
                          int64_t d0, int64_t g0, int64_t g1) {
    const int64_t D = v->D, F = v->F, KF = v->KF, rows = ws->xrow[g1] - ws->xrow[g0];
    scratch_x(v, s, rows, 0);
    float *x = s->x;
    for (int64_t d = g0; d < g1; d++) doc_tokens(v, ws, b, d, x + (ws->xrow[d] - ws->xrow[g0]) * D);
    scratch_conv(v, s, rows < GROUP_ROWS ? rows : GROUP_ROWS);
    const float *wt = ws->wt;
    for (int64_t k = 0; k < v->K; k++) {
        const int64_t w = v->w[k];
        if (rows > GROUP_ROWS) { /* one long document (a group holds one when it exceeds GROUP_ROWS) */
            long_doc_conv(m, v, ws, s, x, g0, k, wt);
            wt += w * D * F;
            continue;
        }
        const int64_t o = v->trim[k];
        if (!m->deterministic)
            conv1d_forward_seqs(s->y, s->col, x, ws->xrow + g0, g1 - g0, o, v->Wc[k], v->bc[k], D, w, F);
        const float *y = s->y;
        for (int64_t d = g0; d < g1; d++) {
            const int64_t Lp = ws->xrow[d + 1] - ws->xrow[d] - 2 * o, P = Lp - w + 1;
            if (m->deterministic) { /* no BLAS: the same bits on every CPU */
                conv1d_forward_rows(s->y, x + (ws->xrow[d] - ws->xrow[g0] + o) * D, wt, v->bc[k], Lp, D, w, F);
                y = s->y;
            }
            maxtime_forward(ws->pool + d * KF + k * F, ws->arg + d * KF + k * F, y, P, F);
            y += P * F;
        }
        wt += w * D * F;
    }
    for (int64_t d = g0; d < g1; d++) {
        float *pool = ws->pool + d * KF;
        relu_forward(pool, pool, KF);
        doc_hidden(m, v, ws, b, d, s->hd + (d - d0) * KF);
    }
}

static void cnn_forward(tcd_model *m, const tcd_batch *b, float *logits, int n_threads) {
    cnn_ws *ws = m->ws;
    const cnn_view v0 = view_of(m);
    const cnn_view *v = &v0;
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    /* the positions each document uses (--max-len), with the wide convolution's zero rows, padded to
     * the widest filter, and where its rows start */
    ws_reserve(v, ws, n, n_threads);
    ws->xrow[0] = 0;
    for (int64_t d = 0; d < n; d++) {
        const int64_t len = b->offsets[d + 1] - b->offsets[d], L = len < v->max_len ? len : v->max_len,
                      rows = L + 2 * v->pad;
        ws->len[d] = L;
        ws->xrow[d + 1] = ws->xrow[d] + (rows > v->wmax ? rows : v->wmax);
    }
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
        cnn_scratch *s = slot(ws);
        for (int64_t g0 = d0, g1; g0 < d0 + nb; g0 = g1) {
            g1 = g0 + 1;
            while (g1 < d0 + nb && ws->xrow[g1 + 1] - ws->xrow[g0] <= GROUP_ROWS) g1++;
            group_forward(m, v, ws, s, b, d0, g0, g1);
        }
        linear_fwd(logits + d0 * v->O, s->hd, v->Wo, v->bo, nb, v->KF, v->O);
    }
}

/* dh of document d (the gradient of its pooled features), in place: back through dropout and ReLU. */
static void doc_dpool(const tcd_model *m, const cnn_view *v, cnn_ws *ws, const tcd_batch *b, int64_t d, float *dh) {
    if (ws->dropout_on) dropout_backward(dh, dh, v->KF, v->p, m->seed, m->step, b->doc_ids[d]);
    relu_backward(dh, dh, ws->pool + d * v->KF, v->KF);
}

/* Chunk c: the output layer, then each document's convolutions (its token vectors gathered again),
 * into the dense partial `part`; the token gradients into wdx, whose row 0 is the batch's row r0. */
static void chunk_backward(const tcd_model *m, const cnn_view *v, cnn_ws *ws, const tcd_batch *b,
                           const float *dlogits, int64_t c, float *part, float *wdx, int64_t r0) {
    const int64_t n = b->n, d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0), KF = v->KF;
    cnn_scratch *s = slot(ws);
    scratch_x(v, s, 0, 0);
    memset(part, 0, (size_t)ws->dense_n * sizeof(float));
    for (int64_t d = d0; d < d0 + nb; d++) doc_hidden(m, v, ws, b, d, s->hd + (d - d0) * KF);
    linear_backward(s->dh, part + v->off_Wo, part + v->off_bo, dlogits + d0 * v->O, s->hd, v->Wo, nb, KF, v->O);
    for (int64_t d = d0; d < d0 + nb; d++) {
        float *dh = s->dh + (d - d0) * KF;
        doc_dpool(m, v, ws, b, d, dh);
        const int64_t Lp = ws->xrow[d + 1] - ws->xrow[d];
        scratch_x(v, s, Lp, 0);
        doc_tokens(v, ws, b, d, s->x);
        float *dx = wdx + (ws->xrow[d] - r0) * v->D;
        memset(dx, 0, (size_t)(Lp * v->D) * sizeof(float));
        for (int64_t k = 0; k < v->K; k++) /* arg counts from the width's first row */
            conv1d_maxpool_backward(dx + v->trim[k] * v->D, part + v->off_Wc[k], part + v->off_bc[k], dh + k * v->F,
                                    ws->arg + d * KF + k * v->F, s->x + v->trim[k] * v->D, v->Wc[k], v->D, v->w[k],
                                    v->F);
    }
}

static void cnn_backward(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads) {
    cnn_ws *ws = m->ws;
    const cnn_view v0 = view_of(m);
    const cnn_view *v = &v0;
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK, V = m->shape.n_embeddings;
    const int64_t width = n_threads; /* chunks per wave */
    ws_reserve(v, ws, n, n_threads);
    wave_reserve(v, ws, tcd_wave_rows(ws->xrow, n, width * TCD_CHUNK), (int)width, 0);
    float *gd = m->grads + ws->dense_off;

    for (int64_t c0 = 0; c0 < n_chunks; c0 += width) {
        const int64_t c1 = c0 + width < n_chunks ? c0 + width : n_chunks, d_lo = c0 * TCD_CHUNK,
                      d_hi = c1 * TCD_CHUNK < n ? c1 * TCD_CHUNK : n, r0 = ws->xrow[d_lo];
#pragma omp parallel num_threads(n_threads)
        {
            /* 1. each chunk of the wave into its own partial and rows */
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = c0; c < c1; c++)
                chunk_backward(m, v, ws, b, dlogits, c, ws->partials + (c - c0) * ws->dense_stride, ws->wdx, r0);
            /* 2. dense gradients: the wave's partials added in chunk order (threads split the elements) */
            tcd_add_partials(gd, ws->partials, c1 - c0, ws->dense_stride, ws->dense_n);
            /* 3. embedding: threads own row ranges and scan the wave in document and position order
             * (a document's tokens start v->pad rows into its block) */
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            embedding_seq_backward(m->grads, ws->wdx + v->pad * v->D, ws->xrow + d_lo, ws->len + d_lo,
                                   b->tokens + (b->offsets[d_lo] - b->offsets[0]), b->offsets + d_lo, d_hi - d_lo,
                                   v->D, V * t / nt, V * (t + 1) / nt);
        }
    }
}

/* ---- deterministic mode: exact fixed-point gradients ---------------------------------- */

static void fix_reserve(cnn_ws *ws, int nt) {
    if (ws->fix_nt < nt) {
        free(ws->fix_part);
        ws->fix_part = tcd_ws_array((int64_t)nt * ws->dense_stride, sizeof(int64_t));
        ws->fix_nt = nt;
    }
}

enum { BAD_EMB = 1, BAD_CONV = 2, BAD_OUT = 4 };

/* Document d alone, as a one-document batch computes it: dense gradients into part (int64), and
 * the gradient of each of its real positions, rounded, into fix_x (whose row 0 is the batch's row
 * r0). Returns BAD_* flags. */
static int doc_fixed(const tcd_model *m, const cnn_view *v, cnn_ws *ws, const tcd_batch *b, const float *dlogits,
                     int64_t d, int64_t *part, double lim, int64_t r0) {
    int bad = 0;
    cnn_scratch *s = slot(ws);
    const int64_t L = ws->len[d], Lp = ws->xrow[d + 1] - ws->xrow[d];
    scratch_x(v, s, Lp, 1);
    const float *dz = dlogits + d * v->O, *h = s->hd;
    float *dh = s->dh;
    doc_hidden(m, v, ws, b, d, s->hd);
    linear_backward_ref(dh, NULL, NULL, dz, h, v->Wo, 1, v->KF, v->O);
    if (linear_backward_fixed(part + v->off_Wo, part + v->off_bo, dz, h, v->KF, v->O, lim)) bad |= BAD_OUT;
    doc_dpool(m, v, ws, b, d, dh);
    doc_tokens(v, ws, b, d, s->x);
    const float *x = s->x;
    float *dx = s->dx;
    memset(dx, 0, (size_t)(Lp * v->D) * sizeof(float));
    for (int64_t k = 0; k < v->K; k++) {
        const float *dp = dh + k * v->F, *xk = x + v->trim[k] * v->D;
        const int32_t *arg = ws->arg + d * v->KF + k * v->F;
        conv1d_maxpool_backward(dx + v->trim[k] * v->D, NULL, NULL, dp, arg, xk, v->Wc[k], v->D, v->w[k], v->F);
        if (conv1d_maxpool_backward_fixed(part + v->off_Wc[k], part + v->off_bc[k], dp, arg, xk, v->D, v->w[k],
                                          v->F, lim))
            bad |= BAD_CONV;
    }
    if (L == 0) return bad;
    int64_t *fx = ws->fix_x + (ws->xrow[d] - r0) * v->D; /* the real positions only, from the block's row 0 */
    const float *dxt = dx + v->pad * v->D;
    const double lim_pos = lim / (double)L; /* a row may receive all L positions */
    for (int64_t j = 0; j < L * v->D; j++) {
        const double y = (double)dxt[j] * TCD_FIX_ONE;
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
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK, V = m->shape.n_embeddings;
    const int64_t width = n_threads; /* chunks per wave */
    fix_reserve(ws, n_threads);
    ws_reserve(v, ws, n, n_threads);
    wave_reserve(v, ws, tcd_wave_rows(ws->xrow, n, width * TCD_CHUNK), 0, 1);
    int *bad = tcd_calloc((size_t)n_threads * 16, sizeof(int));
    memset(ws->fix_part, 0, (size_t)n_threads * (size_t)ws->dense_stride * sizeof(int64_t));

    /* integer sums: exact in any order, so the chunks go to whichever thread is free */
    for (int64_t c0 = 0; c0 < n_chunks; c0 += width) {
        const int64_t c1 = c0 + width < n_chunks ? c0 + width : n_chunks, d_lo = c0 * TCD_CHUNK,
                      d_hi = c1 * TCD_CHUNK < n ? c1 * TCD_CHUNK : n, r0 = ws->xrow[d_lo];
#pragma omp parallel num_threads(n_threads)
        {
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            int64_t *part = ws->fix_part + (int64_t)t * ws->dense_stride;
            int my_bad = 0;
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = c0; c < c1; c++) {
                const int64_t e = (c + 1) * TCD_CHUNK < n ? (c + 1) * TCD_CHUNK : n;
                for (int64_t d = c * TCD_CHUNK; d < e; d++) my_bad |= doc_fixed(m, v, ws, b, dlogits, d, part, lim, r0);
            }
            bad[t * 16] |= my_bad;
            embedding_seq_backward_fixed(acc, ws->fix_x, ws->xrow + d_lo, ws->len + d_lo,
                                         b->tokens + (b->offsets[d_lo] - b->offsets[0]), b->offsets + d_lo,
                                         d_hi - d_lo, v->D, V * t / nt, V * (t + 1) / nt);
        }
    }

    int64_t *ad = acc + ws->dense_off;
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t e_lo = ws->dense_n * t / nt, e_hi = ws->dense_n * (t + 1) / nt;
        for (int k = 0; k < n_threads; k++) {
            const int64_t *restrict pk = ws->fix_part + (int64_t)k * ws->dense_stride;
            for (int64_t j = e_lo; j < e_hi; j++) ad[j] += pk[j];
        }
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
