/* Sparse gradient exchange; see exchange.h. */
#include "train/exchange.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void tcd_exchange_init(tcd_exchange *x, const tcd_model *m) {
    memset(x, 0, sizeof *x);
    const tcd_tensor *e = tcd_model_tensor(m, "embedding");
    TCD_CHECK(e && e->offset == 0);
    x->rows = e->rows;
    x->row_len = e->cols;
    x->n_params = m->n_params;
    x->stamp = tcd_malloc(sizeof(int32_t) * (size_t)x->rows);
    memset(x->stamp, 0xff, sizeof(int32_t) * (size_t)x->rows); /* -1: never */
}

void tcd_exchange_free(tcd_exchange *x) {
    free(x->stamp);
    free(x->local);
    free(x->gathered);
    free(x->rows_union);
    free(x->pack);
    memset(x, 0, sizeof *x);
}

static void grow_i32(int32_t **p, int64_t *cap, int64_t need) {
    if (need <= *cap) return;
    *cap = need * 2 + 1024;
    *p = tcd_realloc(*p, sizeof(int32_t) * (size_t)*cap);
}

/* Next stamp value; restarts the marks when the counter would wrap. */
static int32_t next_stamp(tcd_exchange *x) {
    if (x->stamp_now == INT32_MAX) {
        memset(x->stamp, 0xff, sizeof(int32_t) * (size_t)x->rows);
        x->stamp_now = 0;
    }
    return ++x->stamp_now;
}

void tcd_exchange_rows(tcd_exchange *x, const tcd_dist *d, const tcd_batch *b) {
    const int64_t n_tok = b->n ? b->offsets[b->n] - b->offsets[0] : 0;
    int32_t s = next_stamp(x);
    x->n_local = 0;
    grow_i32(&x->local, &x->cap_local, n_tok);
    for (int64_t i = 0; i < n_tok; i++) {
        const int32_t t = b->tokens[i];
        if (x->stamp[t] != s) {
            x->stamp[t] = s;
            x->local[x->n_local++] = t;
        }
    }
    x->n_gathered = tcd_dist_allgatherv_i32(d, x->local, x->n_local, &x->gathered, &x->cap_gathered);
    s = next_stamp(x);
    x->n_union = 0;
    grow_i32(&x->rows_union, &x->cap_union, x->n_gathered);
    for (int64_t i = 0; i < x->n_gathered; i++) {
        const int32_t t = x->gathered[i];
        if (x->stamp[t] != s) {
            x->stamp[t] = s;
            x->rows_union[x->n_union++] = t;
        }
    }
}

static void *pack_buf(tcd_exchange *x, int64_t bytes) {
    if (bytes > x->cap_pack_bytes) {
        free(x->pack);
        x->cap_pack_bytes = bytes + bytes / 2;
        x->pack = tcd_aligned_alloc((size_t)x->cap_pack_bytes);
    }
    return x->pack;
}

/* Packs the union rows and the dense tail, sums them over ranks, unpacks: one function per element
 * type, written once through a macro so the two cannot drift apart. */
#define EXCHANGE_SUM(NAME, T, SUMFN)                                                                 \
    void NAME(tcd_exchange *x, const tcd_dist *d, T *g) {                                            \
        const int64_t L = x->row_len, dense0 = x->rows * L, n_dense = x->n_params - dense0;          \
        const int64_t n = x->n_union * L + n_dense;                                                  \
        T *buf = pack_buf(x, n * (int64_t)sizeof(T));                                                \
        for (int64_t k = 0; k < x->n_union; k++)                                                     \
            memcpy(buf + k * L, g + (int64_t)x->rows_union[k] * L, sizeof(T) * (size_t)L);           \
        memcpy(buf + x->n_union * L, g + dense0, sizeof(T) * (size_t)n_dense);                       \
        SUMFN(d, buf, n);                                                                            \
        for (int64_t k = 0; k < x->n_union; k++)                                                     \
            memcpy(g + (int64_t)x->rows_union[k] * L, buf + k * L, sizeof(T) * (size_t)L);           \
        memcpy(g + dense0, buf + x->n_union * L, sizeof(T) * (size_t)n_dense);                       \
        x->bytes = x->n_local * (int64_t)sizeof(int32_t) + n * (int64_t)sizeof(T);                   \
    }

EXCHANGE_SUM(tcd_exchange_sum_f32, float, tcd_dist_sum_f32)
EXCHANGE_SUM(tcd_exchange_sum_i64, int64_t, tcd_dist_sum_i64)

void tcd_exchange_dense_f32(tcd_exchange *x, const tcd_dist *d, float *g) {
    tcd_dist_sum_f32(d, g, x->n_params);
    x->bytes = x->n_params * (int64_t)sizeof(float);
}

void tcd_exchange_dense_i64(tcd_exchange *x, const tcd_dist *d, int64_t *g) {
    tcd_dist_sum_i64(d, g, x->n_params);
    x->bytes = x->n_params * (int64_t)sizeof(int64_t);
}
