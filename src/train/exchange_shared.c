/* The shared exchange: the ranks of a node hold one copy of the parameters and of Adam's m and v,
 * in node-shared memory (dist.c: one reserved mapping), instead of one each. After backward, the
 * step's small stats allreduce doubles as the barrier; then rank r sums every rank's gradient buffer
 * over its own contiguous slice of the flat buffers, in rank order (or exactly in int64 with
 * --deterministic),
 * clears those gradients and applies Adam to the slice; a barrier ends the step. That is the
 * reduce-scatter half of an allreduce done in place; the allgather half costs nothing, since the
 * updated slices are where every rank reads them. Dense Adam's sweep is split over the ranks
 * instead of repeated by each, and only the stats travel through MPI. */
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "base/util.h"
#include "train/exchange_impl.h"

typedef struct {
    tcd_shm *shm;
    int64_t lo, hi;    /* this rank's slice of the flat buffers */
    float **grads_all; /* [world] every rank's gradient buffer */
    int64_t **acc_all; /* [world] every rank's fixed-point accumulator (--deterministic) */
} shared_state;

/* ---- the update of a slice from every rank's gradients ---------------------------------- */

/* Blocks of SUM_BLOCK elements: the summed gradient of a block goes to a small per-thread buffer
 * (in L1) and is consumed there by the update. The sources are read as dense streams, which the
 * hardware prefetchers follow; skipping the rows no rank touched was measured to be slower (the
 * scattered reads of the touched rows stall). */
#define SUM_BLOCK 2048

/* g[0..len) = the sum over the sources of their elements [b_lo, b_lo + len), each source zeroed
 * as it is read. fixed: the sources are int64 fixed point, summed exactly, then converted. */
static void gather_block(float *restrict g, int64_t *restrict s, void *const *srcs, int n_src, int fixed,
                         int64_t b_lo, int64_t len) {
    if (fixed) {
        int64_t *const *src = (int64_t *const *)srcs;
        memcpy(s, src[0] + b_lo, sizeof(int64_t) * (size_t)len);
        memset(src[0] + b_lo, 0, sizeof(int64_t) * (size_t)len);
        for (int r = 1; r < n_src; r++) {
            int64_t *restrict x = src[r] + b_lo;
            for (int64_t i = 0; i < len; i++) s[i] += x[i];
            memset(x, 0, sizeof(int64_t) * (size_t)len);
        }
        tcd_fixed_to_float(g, s, len, 1);
        return;
    }
    float *const *src = (float *const *)srcs;
    memcpy(g, src[0] + b_lo, sizeof(float) * (size_t)len);
    memset(src[0] + b_lo, 0, sizeof(float) * (size_t)len);
    for (int r = 1; r < n_src; r++) {
        float *restrict x = src[r] + b_lo;
        for (int64_t i = 0; i < len; i++) g[i] += x[i];
        memset(x, 0, sizeof(float) * (size_t)len);
    }
}

static void sum_update(tcd_adam *a, float *params, void *const *srcs, int n_src, int fixed, int64_t lo, int64_t hi,
                       double lr, int n_threads) {
    const tcd_adam_step_consts k = tcd_adam_begin(a, lr);
    if (n_threads < 1) n_threads = 1;
    const int64_t n_blocks = hi > lo ? (hi - lo + SUM_BLOCK - 1) / SUM_BLOCK : 0;
#pragma omp parallel num_threads(n_threads) if (n_blocks > 1)
    {
        int64_t s[SUM_BLOCK] __attribute__((aligned(64)));
        float g[SUM_BLOCK] __attribute__((aligned(64)));
#pragma omp for schedule(static)
        for (int64_t b = 0; b < n_blocks; b++) {
            const int64_t b_lo = lo + b * SUM_BLOCK, len = b_lo + SUM_BLOCK < hi ? SUM_BLOCK : hi - b_lo;
            gather_block(g, s, srcs, n_src, fixed, b_lo, len);
            tcd_adam_update(&k, params + b_lo, g, a->m + b_lo, a->v + b_lo, len);
        }
    }
}

void tcd_shared_sum_update(tcd_adam *a, float *params, float *const *srcs, int n_src, int64_t lo, int64_t hi,
                           double lr, int n_threads) {
    sum_update(a, params, (void *const *)srcs, n_src, 0, lo, hi, lr, n_threads);
}

void tcd_shared_sum_update_fixed(tcd_adam *a, float *params, int64_t *const *srcs, int n_src, int64_t lo,
                                 int64_t hi, double lr, int n_threads) {
    sum_update(a, params, (void *const *)srcs, n_src, 1, lo, hi, lr, n_threads);
}

/* ---- the exchange ------------------------------------------------------------------------ */

static void shared_load(tcd_exchange *x, const float *params, const float *m, const float *v) {
    shared_state *s = x->impl;
    /* each rank copies in its own slice (its pages are first touched by the rank that updates them) */
    const size_t n = sizeof(float) * (size_t)(s->hi - s->lo);
    if (n) {
        memcpy(x->flat.params + s->lo, params + s->lo, n);
        memcpy(x->flat.m + s->lo, m + s->lo, n);
        memcpy(x->flat.v + s->lo, v + s->lo, n);
    }
    tcd_shm_barrier(s->shm);
}

/* Nothing travels but the stats: their allreduce is also the barrier after which every rank's
 * gradients are complete. */
static void shared_reduce(tcd_exchange *x, const tcd_batch *b, double *stats, int n_stats, int n_threads) {
    shared_state *s = x->impl;
    (void)b;
    (void)n_threads;
    tcd_shm_fence(s->shm);
    tcd_dist_sum_f64(x->d, stats, n_stats);
    tcd_shm_fence(s->shm);
    x->bytes = (int64_t)sizeof(double) * n_stats;
}

static void shared_apply(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads) {
    shared_state *s = x->impl;
    if (x->opts.deterministic)
        tcd_shared_sum_update_fixed(opt, x->flat.params, s->acc_all, x->d->world, s->lo, s->hi, lr, n_threads);
    else
        tcd_shared_sum_update(opt, x->flat.params, s->grads_all, x->d->world, s->lo, s->hi, lr, n_threads);
    /* the slices are updated (and every gradient buffer zeroed) before any rank goes on */
    tcd_shm_barrier(s->shm);
}

static void shared_discard(tcd_exchange *x, int n_threads) {
    shared_state *s = x->impl;
    (void)n_threads;
    memset(x->flat.grads, 0, sizeof(float) * (size_t)x->n_params);
    if (x->flat.acc) memset(x->flat.acc, 0, sizeof(int64_t) * (size_t)x->n_params);
    tcd_shm_barrier(s->shm);
}

static void shared_close(tcd_exchange *x) {
    shared_state *s = x->impl;
    tcd_shm_free(s->shm); /* collective */
    free(s->grads_all);
    free(s->acc_all);
    free(s);
}

static const tcd_exchange_ops shared_ops = {shared_load, shared_reduce, shared_apply, shared_discard, shared_close};

int tcd_exchange_shared_open(tcd_exchange *x, char *why, size_t why_len) {
    const tcd_dist *d = x->d;
    const int det = x->opts.deterministic;
    /* contiguous slices, aligned to 1024 floats (4 KiB pages) so that no two ranks write one cache
     * line; the sweep's work per element is the same everywhere, so equal slices balance it */
    const int64_t n = x->n_params, align = 1024;
    const int64_t lo = n * d->rank / d->world / align * align;
    const int64_t hi = d->rank == d->world - 1 ? n : n * (d->rank + 1) / d->world / align * align;
    /* p, m, v: this rank's slice of each (one contiguous array per node); its gradients and, with
     * --deterministic, its fixed-point accumulator */
    const int64_t bytes[5] = {(hi - lo) * (int64_t)sizeof(float), (hi - lo) * (int64_t)sizeof(float),
                              (hi - lo) * (int64_t)sizeof(float), n * (int64_t)sizeof(float),
                              det ? n * (int64_t)sizeof(int64_t) : 0};
    tcd_shm *shm = tcd_shm_create(d, det ? 5 : 4, bytes, why, why_len);
    if (!shm) return -1;
    float *base[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        for (int r = 0; r < d->world && !base[k]; r++) base[k] = tcd_shm_part(shm, k, r); /* the first non-empty */
        for (int r = 0; r < d->world; r++) {
            const float *p = tcd_shm_part(shm, k, r);
            if (p && p != base[k] + n * r / d->world / align * align)
                tcd_die("--exchange shared: the shared buffers are not contiguous");
        }
    }
    shared_state *s = tcd_calloc(1, sizeof *s);
    s->shm = shm;
    s->lo = lo;
    s->hi = hi;
    x->flat.params = base[0];
    x->flat.m = base[1];
    x->flat.v = base[2];
    x->flat.grads = tcd_shm_part(shm, 3, d->rank);
    s->grads_all = tcd_malloc(sizeof(float *) * (size_t)d->world);
    for (int r = 0; r < d->world; r++) s->grads_all[r] = tcd_shm_part(shm, 3, r);
    memset(x->flat.grads, 0, sizeof(float) * (size_t)n);
    if (det) {
        x->flat.acc = tcd_shm_part(shm, 4, d->rank);
        s->acc_all = tcd_malloc(sizeof(int64_t *) * (size_t)d->world);
        for (int r = 0; r < d->world; r++) s->acc_all[r] = tcd_shm_part(shm, 4, r);
        memset(x->flat.acc, 0, sizeof(int64_t) * (size_t)n);
    }
    tcd_shm_barrier(shm);
    x->impl = s;
    x->ops = &shared_ops;
    x->name = "shared";
    return 0;
}
