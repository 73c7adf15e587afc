/* The transformer encoder classifier ("transformer"):
 *   x_0 = Embedding(V, D)[tokens] + PositionEmbedding(max_len, D)[positions]
 *   for each of --layers pre-LayerNorm blocks:
 *     x = x + Dropout(Attention(LN1(x)))        multi-head self-attention, --heads heads
 *     x = x + Dropout(W2 GELU(W1 LN2(x) + b1) + b2)   GELU exact (erf), width --ffn
 *   h = mean over positions of LN(x) -> Dense(O)
 * Documents are ragged: each is processed at its own length (its first max_len tokens), so no
 * position is padding and attention needs no mask. An empty document is one position with no
 * token vector (its position vector alone). Dropout (--dropout) is on the two residual branches of
 * each block; its mask is a pure function of (seed, step, document, layer, branch, position, unit).
 * Tensors: embedding [V x D] (row-sparse), pos_embedding [max_len x D], per block l:
 * layer<l>.ln1.scale/bias [D], layer<l>.attn.qkv.weight [3D x D] (rows: q, then k, then v; head h
 * at rows h*D/H ..), layer<l>.attn.qkv.bias [3D], layer<l>.attn.out.weight [D x D], .bias [D],
 * layer<l>.ln2.scale/bias [D], layer<l>.ffn.in.weight [F x D], .bias [F], layer<l>.ffn.out.weight
 * [D x F], .bias [D]; then ln.scale/bias [D], out.weight [O x D], out.bias [O].
 * Forward keeps only each document's pooled vector; backward recomputes a document's activations
 * (in the thread's scratch) and goes back through them, so activation memory is one document per
 * thread. The backward runs in waves of n_threads chunks of TCD_CHUNK documents (as the CNN's):
 * the token gradients and dense partials of a wave's chunks, then the wave's partials added in
 * chunk order and its embedding rows in document order, then the next wave. So the token gradients
 * (positions x D) and the dense partials are bounded by the documents in flight, not by the batch,
 * and every float sum runs in the order it ran when the whole batch was kept: the same bits.
 * Deterministic mode goes through the batch in waves of as many documents (its sums are int64,
 * exact in any order). Training uses sgemm; deterministic mode and inference use the plain-loop
 * kernels, so a document's activations never depend on its batch. */
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
    int64_t dim, heads, ffn, layers;
    double dropout;
    int64_t max_len;
} trf_config;

/* positions per document at most (--max-len's ceiling): also the stride of the dropout units */
#define TRF_MAX_POS 2048
#define TRF_MAX_LAYERS 4

static const tcd_model_param trf_params[] = {
    {"dim", TCD_MP_I64, offsetof(trf_config, dim), 1, 4096, "64", "embedding dimension"},
    {"heads", TCD_MP_I64, offsetof(trf_config, heads), 1, 256, "4", "attention heads (must divide --dim)"},
    {"ffn", TCD_MP_I64, offsetof(trf_config, ffn), 1, 65536, "128", "width of the feed-forward layer of a block"},
    {"layers", TCD_MP_I64, offsetof(trf_config, layers), 1, TRF_MAX_LAYERS, "2", "transformer blocks"},
    {"dropout", TCD_MP_F64, offsetof(trf_config, dropout), 0, 0.9, "0.1",
     "dropout rate on the residual branches while training"},
    {"max_len", TCD_MP_I64, offsetof(trf_config, max_len), 1, TRF_MAX_POS, "256",
     "use at most the first N tokens of a document"},
    {0},
};

static int trf_check(const void *cfg, const tcd_model_shape *shape, char *err, size_t errlen) {
    const trf_config *c = cfg;
    if (c->dim % c->heads != 0) {
        snprintf(err, errlen, "model transformer: --heads %lld does not divide --dim %lld", (long long)c->heads,
                 (long long)c->dim);
        return -1;
    }
    (void)shape;
    return 0;
}

/* tensor indices: 0 embedding, 1 pos_embedding, then 12 per block, then the final norm and output */
enum { T_LN1_G, T_LN1_B, T_QKV_W, T_QKV_B, T_AO_W, T_AO_B, T_LN2_G, T_LN2_B, T_F1_W, T_F1_B, T_F2_W, T_F2_B, T_PER };
#define T_BLOCK(l, k) (2 + (l) * T_PER + (k))

static void trf_layout(tcd_model *m) {
    const trf_config *c = m->cfg;
    const int64_t D = c->dim, F = c->ffn;
    tcd_model_add_tensor(m, "embedding", m->shape.n_embeddings, D, 2, TCD_INIT_UNIFORM, 0.05);
    m->tensors[0].sparse_rows = 1;
    tcd_model_add_tensor(m, "pos_embedding", c->max_len, D, 2, TCD_INIT_UNIFORM, 0.05);
    for (int64_t l = 0; l < c->layers; l++) {
        char n[64]; /* "layer<l>.attn.qkv.weight" fits TCD_TENSOR_NAME */
#define ADD(suffix, rows, cols, rank, init, arg)                                                                      \
    do {                                                                                                              \
        snprintf(n, sizeof n, "layer%lld.%s", (long long)l, suffix);                                                  \
        tcd_model_add_tensor(m, n, rows, cols, rank, init, arg);                                                      \
    } while (0)
        ADD("ln1.scale", D, 1, 1, TCD_INIT_ONE, 0);
        ADD("ln1.bias", D, 1, 1, TCD_INIT_ZERO, 0);
        /* Glorot of each [D x D] projection, not of the packed [3D x D] */
        ADD("attn.qkv.weight", 3 * D, D, 2, TCD_INIT_UNIFORM, sqrt(3.0 / (double)D));
        ADD("attn.qkv.bias", 3 * D, 1, 1, TCD_INIT_ZERO, 0);
        ADD("attn.out.weight", D, D, 2, TCD_INIT_GLOROT, 0);
        ADD("attn.out.bias", D, 1, 1, TCD_INIT_ZERO, 0);
        ADD("ln2.scale", D, 1, 1, TCD_INIT_ONE, 0);
        ADD("ln2.bias", D, 1, 1, TCD_INIT_ZERO, 0);
        ADD("ffn.in.weight", F, D, 2, TCD_INIT_GLOROT, 0);
        ADD("ffn.in.bias", F, 1, 1, TCD_INIT_ZERO, 0);
        ADD("ffn.out.weight", D, F, 2, TCD_INIT_GLOROT, 0);
        ADD("ffn.out.bias", D, 1, 1, TCD_INIT_ZERO, 0);
#undef ADD
    }
    tcd_model_add_tensor(m, "ln.scale", D, 1, 1, TCD_INIT_ONE, 0);
    tcd_model_add_tensor(m, "ln.bias", D, 1, 1, TCD_INIT_ZERO, 0);
    tcd_model_add_tensor(m, "out.weight", m->n_out, D, 2, TCD_INIT_GLOROT, 0);
    tcd_model_add_tensor(m, "out.bias", m->n_out, 1, 1, TCD_INIT_ZERO, 0);
}

/* One thread's scratch: a document's activations (forward, kept for its backward) and the
 * gradients of its backward; a chunk's pooled vectors' gradients. */
typedef struct {
    int64_t cap_pos;   /* positions act and the gradient buffers hold */
    float *act;        /* see act_of */
    float *d1, *d2;    /* [cap x D] */
    float *dt;         /* deterministic: the token vectors' gradients [cap x D] */
    float *d3;         /* [cap x max(3D, F)] */
    float *dp;         /* [cap x cap] */
    float *dh;         /* [TCD_CHUNK x D] */
    float *dpart;      /* deterministic: one document's dense gradients [dense_n] */
    int64_t *fix_part; /* deterministic: this thread's int64 sums [dense_n] */
    int64_t bad_at;    /* deterministic: a dense element whose contribution was out of range, or -1 */
    int bad_emb;
    char pad[40];
} trf_scratch;

typedef struct {
    int64_t cap;          /* documents */
    float *pooled;        /* [cap x D] h of each document */
    int64_t *len, *xrow;  /* [cap], [cap + 1]: real positions, first row of each were they back to back */
    int64_t cap_rows;
    float *dx;            /* [wave rows x D] the gradient of each of a wave's documents' token vectors */
    int64_t *fix_x;       /* deterministic: the same, rounded */
    int64_t n_slots;      /* wave width: chunks in flight */
    float *partials;      /* [n_slots x dense_stride] the dense gradients of a wave's chunks */
    int64_t dense_off, dense_n, dense_stride;
    int n_scr;
    trf_scratch *scr;
    int dropout_on;
} trf_ws;

/* What a pass needs, looked up once. */
typedef struct {
    int64_t D, H, F, NL, O, max_len;
    float p;
    const float *t[TCD_MAX_TENSORS]; /* parameters of tensor k */
    int64_t off[TCD_MAX_TENSORS];    /* tensor k in a dense partial (from the first dense tensor) */
} trf_view;

static trf_view view_of(const tcd_model *m) {
    const trf_config *c = m->cfg;
    const trf_ws *ws = m->ws;
    trf_view v = {.D = c->dim, .H = c->heads, .F = c->ffn, .NL = c->layers, .O = m->n_out, .max_len = c->max_len,
                  .p = (float)c->dropout};
    for (int k = 0; k < m->n_tensors; k++) {
        v.t[k] = m->params + m->tensors[k].offset;
        v.off[k] = m->tensors[k].offset - ws->dense_off;
    }
    return v;
}

static void *trf_ws_new(const tcd_model *m) {
    trf_ws *ws = tcd_calloc(1, sizeof *ws);
    ws->dense_off = m->tensors[1].offset;
    ws->dense_n = m->n_params - ws->dense_off;
    ws->dense_stride = (ws->dense_n + 15) & ~(int64_t)15;
    return ws;
}

static void scratch_free(trf_scratch *s) {
    free(s->act);
    free(s->d1);
    free(s->d2);
    free(s->dt);
    free(s->d3);
    free(s->dp);
    free(s->dh);
    free(s->dpart);
    free(s->fix_part);
}

static void trf_ws_free(void *p) {
    trf_ws *ws = p;
    free(ws->pooled);
    free(ws->len);
    free(ws->xrow);
    free(ws->dx);
    free(ws->fix_x);
    free(ws->partials);
    for (int t = 0; t < ws->n_scr; t++) scratch_free(&ws->scr[t]);
    free(ws->scr);
    free(ws);
}

static void ws_reserve(const trf_view *v, trf_ws *ws, int64_t n, int n_threads) {
    if (n > ws->cap) {
        free(ws->pooled);
        free(ws->len);
        free(ws->xrow);
        int64_t cap = n + n / 2;
        cap = (cap + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK;
        ws->pooled = tcd_ws_array(cap * v->D, sizeof(float));
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

/* A document's activations at Lp positions, carved from one buffer. */
typedef struct {
    float *x0;
    struct {
        float *a, *qkv, *P, *o, *x1, *c, *hdn, *g, *x2, *mean1, *rstd1, *mean2, *rstd2;
    } l[TRF_MAX_LAYERS];
    float *y, *meanf, *rstdf, *tmp;
} trf_act;

static int64_t act_floats(const trf_view *v, int64_t Lp) {
    const int64_t D = v->D, per = Lp * (8 * D + 2 * v->F + 4) + v->H * Lp * Lp;
    return Lp * D + v->NL * per + 2 * Lp * D + 2 * Lp;
}

static trf_act act_of(const trf_view *v, float *buf, int64_t Lp) {
    const int64_t D = v->D, F = v->F;
    trf_act a;
    float *p = buf;
#define TAKE(dst, n)                                                                                                  \
    do {                                                                                                              \
        dst = p;                                                                                                      \
        p += (n);                                                                                                     \
    } while (0)
    TAKE(a.x0, Lp * D);
    for (int64_t l = 0; l < v->NL; l++) {
        TAKE(a.l[l].a, Lp * D);
        TAKE(a.l[l].qkv, 3 * Lp * D);
        TAKE(a.l[l].P, v->H * Lp * Lp);
        TAKE(a.l[l].o, Lp * D);
        TAKE(a.l[l].x1, Lp * D);
        TAKE(a.l[l].c, Lp * D);
        TAKE(a.l[l].hdn, Lp * F);
        TAKE(a.l[l].g, Lp * F);
        TAKE(a.l[l].x2, Lp * D);
        TAKE(a.l[l].mean1, Lp);
        TAKE(a.l[l].rstd1, Lp);
        TAKE(a.l[l].mean2, Lp);
        TAKE(a.l[l].rstd2, Lp);
    }
    TAKE(a.y, Lp * D);
    TAKE(a.meanf, Lp);
    TAKE(a.rstdf, Lp);
    TAKE(a.tmp, Lp * D);
#undef TAKE
    return a;
}

/* The calling thread's slot, with room for a document of Lp positions (and, with grad, its backward). */
static trf_scratch *slot(const trf_view *v, trf_ws *ws, int64_t Lp, int grad) {
    trf_scratch *s = &ws->scr[omp_get_thread_num()];
    if (Lp > s->cap_pos || (grad && !s->d1)) {
        const int64_t cap = Lp > s->cap_pos ? Lp + Lp / 4 + 8 : s->cap_pos, wide = 3 * v->D > v->F ? 3 * v->D : v->F;
        free(s->act);
        free(s->d1);
        free(s->d2);
        free(s->dt);
        free(s->d3);
        free(s->dp);
        s->act = tcd_ws_array(act_floats(v, cap), sizeof(float));
        s->d1 = grad ? tcd_ws_array(cap * v->D, sizeof(float)) : NULL;
        s->d2 = grad ? tcd_ws_array(cap * v->D, sizeof(float)) : NULL;
        s->dt = grad ? tcd_ws_array(cap * v->D, sizeof(float)) : NULL;
        s->d3 = grad ? tcd_ws_array(cap * wide, sizeof(float)) : NULL;
        s->dp = grad ? tcd_ws_array(cap * cap, sizeof(float)) : NULL;
        s->cap_pos = cap;
    }
    if (grad && !s->dh) s->dh = tcd_ws_array(TCD_CHUNK * v->D, sizeof(float));
    return s;
}

/* the first dropout unit of block l's branch (0: attention, 1: feed-forward) */
static int64_t unit0(const trf_view *v, int64_t l, int branch) { return (2 * l + branch) * TRF_MAX_POS * v->D; }

typedef void (*lin_fwd_fn)(float *, const float *, const float *, const float *, int64_t, int64_t, int64_t);
typedef void (*lin_bwd_fn)(float *, float *, float *, const float *, const float *, const float *, int64_t, int64_t,
                           int64_t);
typedef void (*att_fwd_fn)(float *, float *, const float *, int64_t, int64_t, int64_t);
typedef void (*att_bwd_fn)(float *, float *, const float *, const float *, const float *, int64_t, int64_t, int64_t);

/* Document d (L real positions, Lp >= 1 in all) forward into a, its pooled vector into h. */
static void doc_forward(const tcd_model *m, const trf_view *v, const trf_ws *ws, const tcd_batch *b, int64_t d,
                        const trf_act *a, float *h) {
    const int64_t D = v->D, F = v->F, L = ws->len[d], Lp = ws->xrow[d + 1] - ws->xrow[d];
    const lin_fwd_fn lin = m->deterministic ? linear_forward_rows : linear_forward;
    const att_fwd_fn att = m->deterministic ? attention_forward_ref : attention_forward;
    posembed_forward(a->x0, v->t[0], v->t[1], b->tokens + (b->offsets[d] - b->offsets[0]), L, Lp, D);
    const float *x = a->x0;
    for (int64_t l = 0; l < v->NL; l++) {
        const float *const *t = v->t + T_BLOCK(l, 0);
        layernorm_forward(a->l[l].a, a->l[l].mean1, a->l[l].rstd1, x, t[T_LN1_G], t[T_LN1_B], Lp, D);
        lin(a->l[l].qkv, a->l[l].a, t[T_QKV_W], t[T_QKV_B], Lp, D, 3 * D);
        att(a->l[l].o, a->l[l].P, a->l[l].qkv, Lp, D, v->H);
        lin(a->tmp, a->l[l].o, t[T_AO_W], t[T_AO_B], Lp, D, D);
        if (ws->dropout_on)
            dropout_forward_at(a->tmp, a->tmp, Lp * D, v->p, m->seed, m->step, b->doc_ids[d], unit0(v, l, 0));
        for (int64_t k = 0; k < Lp * D; k++) a->l[l].x1[k] = x[k] + a->tmp[k];
        layernorm_forward(a->l[l].c, a->l[l].mean2, a->l[l].rstd2, a->l[l].x1, t[T_LN2_G], t[T_LN2_B], Lp, D);
        lin(a->l[l].hdn, a->l[l].c, t[T_F1_W], t[T_F1_B], Lp, D, F);
        gelu_forward(a->l[l].g, a->l[l].hdn, Lp * F);
        lin(a->tmp, a->l[l].g, t[T_F2_W], t[T_F2_B], Lp, F, D);
        if (ws->dropout_on)
            dropout_forward_at(a->tmp, a->tmp, Lp * D, v->p, m->seed, m->step, b->doc_ids[d], unit0(v, l, 1));
        for (int64_t k = 0; k < Lp * D; k++) a->l[l].x2[k] = a->l[l].x1[k] + a->tmp[k];
        x = a->l[l].x2;
    }
    const int ti = T_BLOCK(v->NL, 0);
    layernorm_forward(a->y, a->meanf, a->rstdf, x, v->t[ti], v->t[ti + 1], Lp, D);
    for (int64_t j = 0; j < D; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < Lp; i++) s += a->y[i * D + j];
        h[j] = (float)(s / (double)Lp);
    }
}

/* Document d back from dh [D] (the gradient of its pooled vector) through the activations a:
 * dense gradients ADDED into part (a dense partial), the gradient of its Lp positions' token
 * vectors into dtok [Lp x D] (overwritten). */
static void doc_backward(const tcd_model *m, const trf_view *v, const trf_ws *ws, trf_scratch *s,
                         const tcd_batch *b, int64_t d, const trf_act *a, const float *dh, float *part, float *dtok) {
    const int64_t D = v->D, F = v->F, Lp = ws->xrow[d + 1] - ws->xrow[d];
    const lin_bwd_fn lin = m->deterministic ? linear_backward_ref : linear_backward;
    const att_bwd_fn att = m->deterministic ? attention_backward_ref : attention_backward;
    float *dx = dtok, *d1 = s->d1, *d2 = s->d2, *d3 = s->d3;
    const float inv = (float)(1.0 / (double)Lp);
    for (int64_t i = 0; i < Lp; i++)
        for (int64_t j = 0; j < D; j++) d1[i * D + j] = dh[j] * inv;
    memset(dx, 0, (size_t)(Lp * D) * sizeof(float));
    const int tf = T_BLOCK(v->NL, 0);
    const float *xl = v->NL > 0 ? a->l[v->NL - 1].x2 : a->x0;
    layernorm_backward(dx, part + v->off[tf], part + v->off[tf + 1], d1, xl, v->t[tf], a->meanf, a->rstdf, Lp, D);
    for (int64_t l = v->NL - 1; l >= 0; l--) {
        const float *const *t = v->t + T_BLOCK(l, 0);
        const int64_t *off = v->off + T_BLOCK(l, 0);
        const float *xin = l > 0 ? a->l[l - 1].x2 : a->x0;
        /* feed-forward branch: dx is the gradient of x2 = x1 + branch */
        if (ws->dropout_on)
            dropout_backward_at(d1, dx, Lp * D, v->p, m->seed, m->step, b->doc_ids[d], unit0(v, l, 1));
        else
            memcpy(d1, dx, (size_t)(Lp * D) * sizeof(float));
        lin(d3, part + off[T_F2_W], part + off[T_F2_B], d1, a->l[l].g, t[T_F2_W], Lp, F, D);
        gelu_backward(d3, d3, a->l[l].hdn, Lp * F);
        lin(d1, part + off[T_F1_W], part + off[T_F1_B], d3, a->l[l].c, t[T_F1_W], Lp, D, F);
        layernorm_backward(dx, part + off[T_LN2_G], part + off[T_LN2_B], d1, a->l[l].x1, t[T_LN2_G], a->l[l].mean2,
                           a->l[l].rstd2, Lp, D);
        /* attention branch: dx is now the gradient of x1 = x + branch */
        if (ws->dropout_on)
            dropout_backward_at(d1, dx, Lp * D, v->p, m->seed, m->step, b->doc_ids[d], unit0(v, l, 0));
        else
            memcpy(d1, dx, (size_t)(Lp * D) * sizeof(float));
        lin(d2, part + off[T_AO_W], part + off[T_AO_B], d1, a->l[l].o, t[T_AO_W], Lp, D, D);
        att(d3, s->dp, d2, a->l[l].qkv, a->l[l].P, Lp, D, v->H);
        lin(d1, part + off[T_QKV_W], part + off[T_QKV_B], d3, a->l[l].a, t[T_QKV_W], Lp, D, 3 * D);
        layernorm_backward(dx, part + off[T_LN1_G], part + off[T_LN1_B], d1, xin, t[T_LN1_G], a->l[l].mean1,
                           a->l[l].rstd1, Lp, D);
    }
    posembed_backward(part + v->off[1], dx, Lp, D);
}

/* The key bias adds q_i . b to every score of row i, which the softmax ignores: its gradient is zero
 * in exact arithmetic, and in float only rounding noise, which Adam (dividing by sqrt(v)) would turn
 * into full-size steps. It is set to exactly zero, so the key bias stays at its initial value. */
static void zero_key_bias(const trf_view *v, float *part) {
    for (int64_t l = 0; l < v->NL; l++) memset(part + v->off[T_BLOCK(l, T_QKV_B)] + v->D, 0, (size_t)v->D * sizeof(float));
}

static void trf_forward(tcd_model *m, const tcd_batch *b, float *logits, int n_threads) {
    trf_ws *ws = m->ws;
    const trf_view v0 = view_of(m);
    const trf_view *v = &v0;
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK;
    ws_reserve(v, ws, n, n_threads);
    ws->xrow[0] = 0;
    for (int64_t d = 0; d < n; d++) {
        const int64_t len = b->offsets[d + 1] - b->offsets[d], L = len < v->max_len ? len : v->max_len;
        ws->len[d] = L;
        ws->xrow[d + 1] = ws->xrow[d] + (L > 1 ? L : 1);
    }
    ws->dropout_on = m->training && v->p > 0.0f;
    TCD_CHECK(!ws->dropout_on || b->doc_ids);
    const lin_fwd_fn lin = m->deterministic ? linear_forward_rows : linear_forward;
    const int ti = T_BLOCK(v->NL, 2);

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
        for (int64_t d = d0; d < d0 + nb; d++) {
            trf_scratch *s = slot(v, ws, ws->xrow[d + 1] - ws->xrow[d], 0);
            const trf_act a = act_of(v, s->act, ws->xrow[d + 1] - ws->xrow[d]);
            doc_forward(m, v, ws, b, d, &a, ws->pooled + d * v->D);
        }
        lin(logits + d0 * v->O, ws->pooled + d0 * v->D, v->t[ti], v->t[ti + 1], nb, v->D, v->O);
    }
}

/* The backward's wave buffers: `rows` token gradients (float, or in deterministic mode int64) and
 * `slots` dense partials (float mode). */
static void wave_reserve(const trf_view *v, trf_ws *ws, int64_t rows, int64_t slots, int fixed) {
    if (rows > ws->cap_rows || (fixed ? !ws->fix_x : !ws->dx)) {
        const int64_t cap = rows > ws->cap_rows ? rows + rows / 4 + 64 : ws->cap_rows;
        free(ws->dx);
        free(ws->fix_x);
        ws->dx = fixed ? NULL : tcd_ws_array(cap * v->D, sizeof(float));
        ws->fix_x = fixed ? tcd_ws_array(cap * v->D, sizeof(int64_t)) : NULL;
        ws->cap_rows = cap;
    }
    if (!fixed && slots > ws->n_slots) {
        free(ws->partials);
        ws->partials = tcd_ws_array(slots * ws->dense_stride, sizeof(float));
        ws->n_slots = slots;
    }
}

static void trf_backward(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads) {
    trf_ws *ws = m->ws;
    const trf_view v0 = view_of(m);
    const trf_view *v = &v0;
    const int64_t n = b->n, n_chunks = (n + TCD_CHUNK - 1) / TCD_CHUNK, V = m->shape.n_embeddings, D = v->D;
    const int64_t width = n_threads; /* chunks per wave */
    const int ti = T_BLOCK(v->NL, 2);
    ws_reserve(v, ws, n, n_threads);
    wave_reserve(v, ws, tcd_wave_rows(ws->xrow, n, width * TCD_CHUNK), width, 0);
    float *gd = m->grads + ws->dense_off;

    for (int64_t c0 = 0; c0 < n_chunks; c0 += width) {
        const int64_t c1 = c0 + width < n_chunks ? c0 + width : n_chunks, d_lo = c0 * TCD_CHUNK,
                      d_hi = c1 * TCD_CHUNK < n ? c1 * TCD_CHUNK : n, r0 = ws->xrow[d_lo];
#pragma omp parallel num_threads(n_threads)
        {
            /* 1. each chunk of the wave into its own partial: the output layer, then each document
             * recomputed and back (its token gradients at its rows of the wave) */
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = c0; c < c1; c++) {
                const int64_t d0 = c * TCD_CHUNK, nb = (d0 + TCD_CHUNK <= n ? TCD_CHUNK : n - d0);
                float *part = ws->partials + (c - c0) * ws->dense_stride;
                memset(part, 0, (size_t)ws->dense_n * sizeof(float));
                trf_scratch *s = slot(v, ws, 1, 1);
                linear_backward(s->dh, part + v->off[ti], part + v->off[ti + 1], dlogits + d0 * v->O,
                                ws->pooled + d0 * D, v->t[ti], nb, D, v->O);
                for (int64_t d = d0; d < d0 + nb; d++) {
                    const int64_t Lp = ws->xrow[d + 1] - ws->xrow[d];
                    s = slot(v, ws, Lp, 1);
                    const trf_act a = act_of(v, s->act, Lp);
                    doc_forward(m, v, ws, b, d, &a, s->d2); /* its pooled vector is already in ws->pooled */
                    doc_backward(m, v, ws, s, b, d, &a, s->dh + (d - d0) * D, part, ws->dx + (ws->xrow[d] - r0) * D);
                }
                zero_key_bias(v, part);
            }
            /* 2. dense gradients: the wave's partials added in chunk order (threads split the elements) */
            tcd_add_partials(gd, ws->partials, c1 - c0, ws->dense_stride, ws->dense_n);
            /* 3. embedding: threads own row ranges and scan the wave in document and position order */
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            embedding_seq_backward(m->grads, ws->dx, ws->xrow + d_lo, ws->len + d_lo,
                                   b->tokens + (b->offsets[d_lo] - b->offsets[0]), b->offsets + d_lo, d_hi - d_lo, D,
                                   V * t / nt, V * (t + 1) / nt);
        }
    }
}

/* ---- deterministic mode: exact fixed-point gradients ---------------------------------- */

/* Document d alone, as a one-document batch computes it, in float with the plain-loop kernels:
 * its dense gradients rounded into the thread's fix_part, its token vectors' into fix_x (whose row 0
 * is the batch's row r0). */
static void doc_fixed(const tcd_model *m, const trf_view *v, trf_ws *ws, const tcd_batch *b, const float *dlogits,
                      int64_t d, double lim, int64_t r0) {
    const int64_t D = v->D, L = ws->len[d], Lp = ws->xrow[d + 1] - ws->xrow[d];
    const int ti = T_BLOCK(v->NL, 2);
    trf_scratch *s = slot(v, ws, Lp, 1);
    const trf_act a = act_of(v, s->act, Lp);
    float *dp = s->dpart;
    memset(dp, 0, (size_t)ws->dense_n * sizeof(float));
    const float *dz = dlogits + d * v->O, *h = ws->pooled + d * D;
    linear_backward_ref(s->dh, dp + v->off[ti], dp + v->off[ti + 1], dz, h, v->t[ti], 1, D, v->O);
    doc_forward(m, v, ws, b, d, &a, s->d2);
    float *dx = s->dt;
    doc_backward(m, v, ws, s, b, d, &a, s->dh, dp, dx);
    zero_key_bias(v, dp);
    for (int64_t j = 0; j < ws->dense_n; j++) {
        const double y = (double)dp[j] * TCD_FIX_ONE;
        if (!(fabs(y) < lim) && s->bad_at < 0) s->bad_at = j;
        s->fix_part[j] += tcd_fix_round(y);
    }
    if (L == 0) return;
    int64_t *fx = ws->fix_x + (ws->xrow[d] - r0) * D;
    const double lim_pos = lim / (double)L; /* a row may receive all L positions */
    for (int64_t j = 0; j < L * D; j++) {
        const double y = (double)dx[j] * TCD_FIX_ONE;
        if (!(fabs(y) < lim_pos)) s->bad_emb = 1;
        fx[j] = tcd_fix_round(y);
    }
}

static void trf_backward_fixed(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads, int64_t *acc,
                               double lim, const char **bad_tensor) {
    trf_ws *ws = m->ws;
    const trf_view v0 = view_of(m);
    const trf_view *v = &v0;
    const int64_t n = b->n, V = m->shape.n_embeddings, D = v->D;
    const int64_t wave = (int64_t)n_threads * TCD_CHUNK; /* documents per wave */
    ws_reserve(v, ws, n, n_threads);
    wave_reserve(v, ws, tcd_wave_rows(ws->xrow, n, wave), 0, 1);
    for (int t = 0; t < n_threads; t++) {
        trf_scratch *s = &ws->scr[t];
        if (!s->dpart) {
            s->dpart = tcd_ws_array(ws->dense_stride, sizeof(float));
            s->fix_part = tcd_ws_array(ws->dense_stride, sizeof(int64_t));
        }
        memset(s->fix_part, 0, (size_t)ws->dense_n * sizeof(int64_t));
        s->bad_at = -1;
        s->bad_emb = 0;
    }
    /* integer sums: exact in any order, so documents go to whichever thread is free; the token
     * gradients a wave at a time */
    for (int64_t d_lo = 0; d_lo < n; d_lo += wave) {
        const int64_t d_hi = d_lo + wave < n ? d_lo + wave : n, r0 = ws->xrow[d_lo];
#pragma omp parallel num_threads(n_threads)
        {
#pragma omp for schedule(dynamic, 1)
            for (int64_t d = d_lo; d < d_hi; d++) doc_fixed(m, v, ws, b, dlogits, d, lim, r0);
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            embedding_seq_backward_fixed(acc, ws->fix_x, ws->xrow + d_lo, ws->len + d_lo,
                                         b->tokens + (b->offsets[d_lo] - b->offsets[0]), b->offsets + d_lo,
                                         d_hi - d_lo, D, V * t / nt, V * (t + 1) / nt);
        }
    }
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t *ad = acc + ws->dense_off;
        const int64_t e_lo = ws->dense_n * t / nt, e_hi = ws->dense_n * (t + 1) / nt;
        for (int k = 0; k < n_threads; k++) {
            const int64_t *restrict pk = ws->scr[k].fix_part;
            for (int64_t j = e_lo; j < e_hi; j++) ad[j] += pk[j];
        }
    }
    int64_t bad_at = -1;
    int bad_emb = 0;
    for (int t = 0; t < n_threads; t++) {
        if (ws->scr[t].bad_at >= 0 && (bad_at < 0 || ws->scr[t].bad_at < bad_at)) bad_at = ws->scr[t].bad_at;
        bad_emb |= ws->scr[t].bad_emb;
    }
    if (bad_at >= 0) {
        for (int k = m->n_tensors - 1; k >= 1; k--)
            if (m->tensors[k].offset - ws->dense_off <= bad_at) {
                *bad_tensor = m->tensors[k].name;
                break;
            }
    } else if (bad_emb) {
        *bad_tensor = "embedding";
    }
}

const tcd_model_kind tcd_model_transformer = {
    .name = "transformer",
    .summary = "token + position embeddings -> pre-LayerNorm self-attention/GELU blocks -> LayerNorm -> mean "
               "over positions -> output",
    .params = trf_params,
    .cfg_size = sizeof(trf_config),
    .check = trf_check,
    .layout = trf_layout,
    .ws_new = trf_ws_new,
    .ws_free = trf_ws_free,
    .forward = trf_forward,
    .backward = trf_backward,
    .backward_fixed = trf_backward_fixed,
};
