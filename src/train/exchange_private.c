/* The private exchanges: every rank keeps its own replica of the parameters and of Adam's state,
 * the gradient sums are allreduced, and every rank applies the same full step.
 *   sparse: only the embedding rows some rank's batch touched travel, plus the dense tensors. Each
 *     rank lists the rows its documents used; the lists are gathered into one union, in the same
 *     order on every rank; the gradients of those rows and of the dense tensors are packed and
 *     summed in one allreduce. The bytes per step grow with the tokens per batch, not with the
 *     vocabulary.
 *   dense: the whole buffer in one allreduce (for comparison).
 * With one rank nothing travels; the sparse variant still lists the touched rows for --lazy-adam. */
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "base/util.h"
#include "train/exchange_impl.h"

typedef struct {
    int sparse;
    int use_rows;           /* the union of touched rows is needed: sparse over ranks, or lazy Adam */
    int32_t *stamp;         /* [rows]: the step a row was last listed in, to list it once */
    int32_t stamp_now;
    int32_t *local;         /* rows this rank's batch touched, first-use order */
    int64_t n_local, cap_local;
    int32_t *gathered;      /* every rank's list, rank order */
    int64_t n_gathered, cap_gathered;
    int32_t *rows_union;    /* union, first-appearance order in `gathered`: the same on all ranks */
    int64_t n_union, cap_union;
    void *pack;             /* packed values for the allreduce */
    int64_t cap_pack_bytes;
} private_state;

static void grow_i32(int32_t **p, int64_t *cap, int64_t need) {
    if (need <= *cap) return;
    *cap = need * 2 + 1024;
    *p = tcd_realloc(*p, sizeof(int32_t) * (size_t)*cap);
}

/* Next stamp value; restarts the marks when the counter would wrap. */
static int32_t next_stamp(private_state *s, int64_t rows) {
    if (s->stamp_now == INT32_MAX) {
        memset(s->stamp, 0xff, sizeof(int32_t) * (size_t)rows);
        s->stamp_now = 0;
    }
    return ++s->stamp_now;
}

/* Lists the rows used by this rank's batch, then forms the union over all ranks (collective). */
static void list_rows(tcd_exchange *x, const tcd_batch *b) {
    private_state *s = x->impl;
    const int64_t n_tok = b->n ? b->offsets[b->n] - b->offsets[0] : 0;
    int32_t st = next_stamp(s, x->rows);
    s->n_local = 0;
    grow_i32(&s->local, &s->cap_local, n_tok);
    for (int64_t i = 0; i < n_tok; i++) {
        const int32_t t = b->tokens[i];
        if (s->stamp[t] != st) {
            s->stamp[t] = st;
            s->local[s->n_local++] = t;
        }
    }
    s->n_gathered = tcd_dist_allgatherv_i32(x->d, s->local, s->n_local, &s->gathered, &s->cap_gathered);
    st = next_stamp(s, x->rows);
    s->n_union = 0;
    grow_i32(&s->rows_union, &s->cap_union, s->n_gathered);
    for (int64_t i = 0; i < s->n_gathered; i++) {
        const int32_t t = s->gathered[i];
        if (s->stamp[t] != st) {
            s->stamp[t] = st;
            s->rows_union[s->n_union++] = t;
        }
    }
}

static void *pack_buf(private_state *s, int64_t bytes) {
    if (bytes > s->cap_pack_bytes) {
        free(s->pack);
        s->cap_pack_bytes = bytes + bytes / 2;
        s->pack = tcd_aligned_alloc((size_t)s->cap_pack_bytes);
    }
    return s->pack;
}

/* Packs the union rows and the dense tail, sums them over ranks, unpacks: one function per element
 * type, written once through a macro so the two cannot drift apart. Rows outside the union are
 * zero on every rank and stay so. */
#define SPARSE_SUM(NAME, T, SUMFN)                                                                   \
    static void NAME(tcd_exchange *x, T *g) {                                                        \
        private_state *s = x->impl;                                                                  \
        const int64_t L = x->row_len, dense0 = x->dense0, n_dense = x->n_params - dense0;            \
        const int64_t n = s->n_union * L + n_dense;                                                  \
        T *buf = pack_buf(s, n * (int64_t)sizeof(T));                                                \
        for (int64_t k = 0; k < s->n_union; k++)                                                     \
            memcpy(buf + k * L, g + (int64_t)s->rows_union[k] * L, sizeof(T) * (size_t)L);           \
        memcpy(buf + s->n_union * L, g + dense0, sizeof(T) * (size_t)n_dense);                       \
        SUMFN(x->d, buf, n);                                                                         \
        for (int64_t k = 0; k < s->n_union; k++)                                                     \
            memcpy(g + (int64_t)s->rows_union[k] * L, buf + k * L, sizeof(T) * (size_t)L);           \
        memcpy(g + dense0, buf + s->n_union * L, sizeof(T) * (size_t)n_dense);                       \
        x->bytes = s->n_local * (int64_t)sizeof(int32_t) + n * (int64_t)sizeof(T);                   \
    }

SPARSE_SUM(sparse_sum_f32, float, tcd_dist_sum_f32)
SPARSE_SUM(sparse_sum_i64, int64_t, tcd_dist_sum_i64)

/* --deterministic: the exact int64 sums, then converted to float gradients (acc is zeroed as it is
 * read). Only the rows of the union can be nonzero when the rows are listed. */
static void reduce_fixed(tcd_exchange *x, int n_threads) {
    private_state *s = x->impl;
    const int many = x->d->world > 1;
    float *g = x->flat.grads;
    int64_t *acc = x->flat.acc;
    if (s->use_rows) {
        if (many) sparse_sum_i64(x, acc);
        for (int64_t k = 0; k < s->n_union; k++) {
            const int64_t off = (int64_t)s->rows_union[k] * x->row_len;
            tcd_fixed_to_float_zero(g + off, acc + off, x->row_len, 1);
        }
    } else {
        if (many) {
            tcd_dist_sum_i64(x->d, acc, x->n_params);
            x->bytes = x->n_params * (int64_t)sizeof(int64_t);
        }
        tcd_fixed_to_float_zero(g, acc, x->dense0, n_threads);
    }
    tcd_fixed_to_float_zero(g + x->dense0, acc + x->dense0, x->n_params - x->dense0, 1);
}

static void private_reduce(tcd_exchange *x, const tcd_batch *b, double *stats, int n_stats, int n_threads) {
    private_state *s = x->impl;
    x->bytes = 0;
    if (s->use_rows) list_rows(x, b);
    if (x->opts.deterministic)
        reduce_fixed(x, n_threads);
    else if (x->d->world > 1 && s->sparse)
        sparse_sum_f32(x, x->flat.grads);
    else if (x->d->world > 1) {
        tcd_dist_sum_f32(x->d, x->flat.grads, x->n_params);
        x->bytes = x->n_params * (int64_t)sizeof(float);
    }
    tcd_dist_sum_f64(x->d, stats, n_stats);
}

static void private_apply(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads) {
    private_state *s = x->impl;
    if (x->opts.lazy_adam)
        tcd_adam_step_rows(opt, x->flat.params, x->flat.grads, lr, n_threads, s->rows_union, s->n_union, x->row_len,
                           x->dense0);
    else
        tcd_adam_step_zero_grad(opt, x->flat.params, x->flat.grads, lr, n_threads); /* leaves grads zeroed */
}

static void private_discard(tcd_exchange *x, int n_threads) {
    (void)n_threads;
    memset(x->flat.grads, 0, sizeof(float) * (size_t)x->n_params);
    if (x->flat.acc) memset(x->flat.acc, 0, sizeof(int64_t) * (size_t)x->n_params);
}

static void private_load(tcd_exchange *x, const float *params, const float *m, const float *v) {
    const size_t n = sizeof(float) * (size_t)x->n_params;
    memcpy(x->flat.params, params, n);
    memcpy(x->flat.m, m, n);
    memcpy(x->flat.v, v, n);
}

static void private_close(tcd_exchange *x) {
    private_state *s = x->impl;
    free(x->flat.params);
    free(x->flat.grads);
    free(x->flat.m);
    free(x->flat.v);
    free(x->flat.acc);
    free(s->stamp);
    free(s->local);
    free(s->gathered);
    free(s->rows_union);
    free(s->pack);
    free(s);
}

static const tcd_exchange_ops private_ops = {private_load, private_reduce, private_apply, private_discard,
                                             private_close};

static float *zeroed_floats(int64_t n) {
    float *p = tcd_aligned_alloc(sizeof(float) * (size_t)(n ? n : 1));
    memset(p, 0, sizeof(float) * (size_t)n);
    return p;
}

void tcd_exchange_private_open(tcd_exchange *x, int sparse) {
    private_state *s = tcd_calloc(1, sizeof *s);
    s->sparse = sparse;
    s->use_rows = x->rows > 0 && ((x->d->world > 1 && sparse) || x->opts.lazy_adam);
    s->stamp = tcd_malloc(sizeof(int32_t) * (size_t)(x->rows ? x->rows : 1));
    memset(s->stamp, 0xff, sizeof(int32_t) * (size_t)x->rows); /* -1: never */
    x->impl = s;
    x->ops = &private_ops;
    x->name = sparse ? "sparse" : "dense";
    const int64_t n = x->n_params;
    x->flat.params = zeroed_floats(n);
    x->flat.grads = zeroed_floats(n);
    x->flat.m = zeroed_floats(n);
    x->flat.v = zeroed_floats(n);
    if (x->opts.deterministic) x->flat.acc = tcd_calloc((size_t)(n ? n : 1), sizeof(int64_t));
}
