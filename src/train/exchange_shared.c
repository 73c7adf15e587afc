/* The shared exchange: the ranks of a node hold one copy of the parameters and of Adam's m and v,
 * in node-shared memory (dist.c: one reserved mapping), instead of one each. A step:
 *   1. backward: each rank adds its batch's gradient into its own gradient buffer (node-shared),
 *      and marks, one bit per row, the rows of the embedding table its batch used;
 *   2. the step's small stats allreduce doubles as the barrier after which every buffer is complete;
 *   3. the ranks sum every rank's gradient over the flat buffers, block by block, in rank order (or
 *      exactly in int64 with --deterministic), and apply Adam to each block from the sum while it
 *      is in cache. Each rank starts with the blocks of its own slice and then helps with the
 *      others' (block claims), so a rank whose slice costs more does not hold the step;
 *   4. a barrier; then each rank clears the rows it used in its own buffer.
 * That is the reduce-scatter half of an allreduce done in place; the allgather half costs nothing,
 * since the updated parameters are where every rank reads them. Dense Adam's sweep is split over
 * the ranks instead of repeated by each, and only the stats travel through MPI.
 *
 * Why the marks, and why a rank clears its own buffer (measured on a 2-core AMD EPYC, where the
 * first version of this exchange ran at 0.6x of one process with 2 threads; docs/distributed.md):
 * summing every source densely read a whole gradient buffer per rank per step, mostly zeros; and a
 * reader that cleared what it read took the cache lines from the core that wrote them, which had to
 * take them back at its next backward. Now a row no rank used is not read at all (it is zero in
 * every buffer), a row is read only from the ranks that used it, and only its writer writes it.
 *
 * A bag model instead hands its embedding backward over, and each rank then adds every rank's
 * documents into one buffer of its own slice's rows (owner computes, below), which Adam then reads
 * directly, as one process's threads do: no row is gathered, no line of m, v or of the sums moves
 * between cores (of p, only the rows other ranks' documents read), and there are no claims (a
 * helper's block is a block whose lines the owner has to take back at the next step, which cost
 * more than the imbalance it evened out; the slices are cut by cost instead). TCDIST_SHARED_PATH=ranks forces the first path for such a model too. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "base/util.h"
#include "train/exchange_impl.h"

/* ---- the sum of a block over the sources ------------------------------------------------ */

/* Elements per block: the sum of a block goes to a small per-thread buffer (in L1) and is
 * consumed there by the update. */
#define SUM_BLOCK 2048

/* g[0..n) (float) or s[0..n) (fixed) = the sum over every source of src[r] + [at, at + n), in rank
 * order (the dense tensors). */
static void sum_dense(float *restrict g, int64_t *restrict s, void *const *srcs, int n_src, int fixed, int64_t at,
                      int64_t n) {
    for (int r = 0; r < n_src; r++) {
        if (fixed) {
            const int64_t *restrict x = (const int64_t *)srcs[r] + at;
            if (r == 0)
                memcpy(s, x, sizeof(int64_t) * (size_t)n);
            else
                for (int64_t i = 0; i < n; i++) s[i] += x[i];
        } else {
            const float *restrict x = (const float *)srcs[r] + at;
            if (r == 0)
                memcpy(g, x, sizeof(float) * (size_t)n);
            else
                for (int64_t i = 0; i < n; i++) g[i] += x[i];
        }
    }
}

/* The rows of the row-sparse table in [at, end) (g and s start at flat element b_lo): each row is
 * the sum of the sources that marked it, in rank order; a row no rank marked is zero. Rows are
 * taken 64 at a time, a word of marks, with bit operations: only marked rows are touched.
 * In float, a source left out holds +0 in that row, and leaving +0 terms out of a sum changes at
 * most the sign of a zero result (the full sum is never -0 when it has a +0 term): adding +0 to the
 * rows that some source left out restores it, so the result is the full sum's, bit for bit. */
static void sum_marked(float *restrict g, int64_t *restrict s, void *const *srcs, int64_t src_off, int n_src, int fixed,
                       const tcd_row_marks *mk, int64_t b_lo, int64_t at, int64_t end) {
    const int64_t L = mk->row_len;
    if (fixed)
        memset(s + (at - b_lo), 0, sizeof(int64_t) * (size_t)(end - at));
    else
        memset(g + (at - b_lo), 0, sizeof(float) * (size_t)(end - at));
    const int64_t row_a = at / L, row_b = (end - 1) / L; /* inclusive; the end rows may be cut */
    for (int64_t w = row_a >> 6; w <= row_b >> 6; w++) {
        uint64_t range = ~(uint64_t)0;
        if (w == row_a >> 6) range &= ~(uint64_t)0 << (row_a & 63);
        if (w == row_b >> 6 && (row_b & 63) != 63) range &= ((uint64_t)1 << ((row_b & 63) + 1)) - 1;
        uint64_t seen = 0, all = range;
        for (int r = 0; r < n_src; r++) {
            const uint64_t mine = mk->bits[r][w] & range;
            all &= mine;
            for (uint64_t m = mine; m; m &= m - 1) {
                const int64_t row = w * 64 + __builtin_ctzll(m);
                int64_t e0 = row * L, e1 = e0 + L;
                if (e0 < at) e0 = at;
                if (e1 > end) e1 = end;
                const int first = !((seen >> (row & 63)) & 1u);
                if (fixed) {
                    const int64_t *restrict x = (const int64_t *)srcs[r] + (e0 - src_off);
                    int64_t *restrict y = s + (e0 - b_lo);
                    for (int64_t i = 0; i < e1 - e0; i++) y[i] = first ? x[i] : y[i] + x[i];
                } else {
                    const float *restrict x = (const float *)srcs[r] + (e0 - src_off);
                    float *restrict y = g + (e0 - b_lo);
                    if (first)
                        memcpy(y, x, sizeof(float) * (size_t)(e1 - e0));
                    else
                        for (int64_t i = 0; i < e1 - e0; i++) y[i] += x[i];
                }
            }
            seen |= mine;
        }
        if (fixed) continue;
        for (uint64_t m = seen & ~all; m; m &= m - 1) { /* used by some sources, left out of others */
            const int64_t row = w * 64 + __builtin_ctzll(m);
            int64_t e0 = row * L, e1 = e0 + L;
            if (e0 < at) e0 = at;
            if (e1 > end) e1 = end;
            float *restrict y = g + (e0 - b_lo);
            for (int64_t i = 0; i < e1 - e0; i++) y[i] += 0.0f;
        }
    }
}

/* Where the rows of the table come from when the slice's owner computed them (owner_scatter):
 * mk.n_ranks partial sums over the slice's rows, srcs[k][e - off] for flat element e, with the
 * marks mk. */
typedef struct {
    tcd_row_marks mk;
    void *const *srcs;
    int64_t off;
} owned_rows;

/* g (or s) [0..len) = the summed gradient of the flat elements [b_lo, b_lo + len): the dense part
 * over the n_src sources srcs; the rows of the table over the same sources with the marks mk, or
 * (own not NULL) over the owner's partial sums. */
static void gather_block(float *restrict g, int64_t *restrict s, void *const *srcs, int n_src, int fixed,
                         const tcd_row_marks *mk, const owned_rows *own, int64_t b_lo, int64_t len) {
    const int64_t b_hi = b_lo + len;
    int64_t at = b_lo;
    if (mk && at < mk->sparse_end) {
        const int64_t end = b_hi < mk->sparse_end ? b_hi : mk->sparse_end;
        if (own)
            sum_marked(g, s, own->srcs, own->off, own->mk.n_ranks, fixed, &own->mk, b_lo, at, end);
        else
            sum_marked(g, s, srcs, 0, n_src, fixed, mk, b_lo, at, end);
        at = end;
    }
    if (at < b_hi) sum_dense(g + (at - b_lo), s + (at - b_lo), srcs, n_src, fixed, at, b_hi - at);
    if (fixed) tcd_fixed_to_float(g, s, len, 1);
}

/* Work sharing over the node's slices: rank w owns [slice_lo[w], slice_hi[w]) and claims its
 * blocks from its counter first, then helps the others by claiming from theirs. A block is summed
 * and updated by exactly one thread of one rank, and every element's result depends only on the
 * sources, so who does a block changes no bit. */
typedef struct {
    int64_t *const *next; /* [n_ranks]: the next unclaimed block of each slice (a cache line each) */
    const int64_t *slice_lo, *slice_hi;
    int n_ranks, me;
    /* the owners compute the table's rows (owner_scatter): slice w's rows are read from rank w's
     * partial sums own[w]; NULL: from every rank's gradient buffer */
    const owned_rows *own;
} slice_claims;

#define CLAIM_DONE ((int64_t)1 << 60) /* beyond every block number: nothing to claim */

static void update_block(const tcd_adam_step_consts *k, tcd_adam *a, float *params, void *const *srcs, int n_src,
                         int fixed, const tcd_row_marks *mk, const owned_rows *own, float *g, int64_t *s,
                         int64_t b_lo, int64_t hi) {
    int64_t len = b_lo + SUM_BLOCK < hi ? SUM_BLOCK : hi - b_lo;
    if (own && !fixed && mk) {
        /* owner computes, in float: the table's rows of the block are the owner's one buffer of
         * sums, which Adam reads in place and which is left zero for the next step */
        const int64_t end = b_lo + len < mk->sparse_end ? b_lo + len : mk->sparse_end;
        if (end > b_lo) {
            float *sum = (float *)own->srcs[0] + (b_lo - own->off);
            tcd_adam_update(k, params + b_lo, sum, a->m + b_lo, a->v + b_lo, b_lo, end - b_lo);
            memset(sum, 0, sizeof(float) * (size_t)(end - b_lo));
            len -= end - b_lo;
            b_lo = end;
        }
        if (len == 0) return;
    }
    gather_block(g, s, srcs, n_src, fixed, mk, own, b_lo, len);
    tcd_adam_update(k, params + b_lo, g, a->m + b_lo, a->v + b_lo, b_lo, len);
}

/* One optimizer step from the summed sources: over [lo, hi) statically split over the threads
 * (cl NULL), or over every slice of the node by claims. */
static void sum_update(tcd_adam *a, float *params, void *const *srcs, int n_src, int fixed,
                       const tcd_row_marks *mk, const slice_claims *cl, int64_t lo, int64_t hi, double lr,
                       int n_threads) {
    const tcd_adam_step_consts k = tcd_adam_begin(a, lr);
    if (n_threads < 1) n_threads = 1;
    const int64_t n_blocks = hi > lo ? (hi - lo + SUM_BLOCK - 1) / SUM_BLOCK : 0;
#pragma omp parallel num_threads(n_threads) if (n_blocks > 1 || cl)
    {
        int64_t s[SUM_BLOCK] __attribute__((aligned(64)));
        float g[SUM_BLOCK] __attribute__((aligned(64)));
        if (!cl) {
#pragma omp for schedule(static)
            for (int64_t b = 0; b < n_blocks; b++)
                update_block(&k, a, params, srcs, n_src, fixed, mk, NULL, g, s, lo + b * SUM_BLOCK, hi);
        } else {
            /* owner computes: each rank its own slice only (the slices are cut by cost) */
            const int n_slices = cl->own ? 1 : cl->n_ranks;
            for (int j = 0; j < n_slices; j++) {
                const int w = (cl->me + j) % cl->n_ranks;
                const int64_t w_lo = cl->slice_lo[w], w_hi = cl->slice_hi[w];
                const int64_t w_blocks = w_hi > w_lo ? (w_hi - w_lo + SUM_BLOCK - 1) / SUM_BLOCK : 0;
                const owned_rows *w_own = cl->own ? &cl->own[w] : NULL;
                for (;;) {
                    /* acquire: a claim that sees the owner's opening store sees its rows too */
                    const int64_t b = __atomic_fetch_add(cl->next[w], 1, __ATOMIC_ACQUIRE);
                    if (b >= w_blocks) break;
                    update_block(&k, a, params, srcs, n_src, fixed, mk, w_own, g, s, w_lo + b * SUM_BLOCK, w_hi);
                }
            }
        }
    }
}

void tcd_shared_sum_update(tcd_adam *a, float *params, float *const *srcs, int n_src, const tcd_row_marks *marks,
                           int64_t lo, int64_t hi, double lr, int n_threads) {
    sum_update(a, params, (void *const *)srcs, n_src, 0, marks, NULL, lo, hi, lr, n_threads);
}

void tcd_shared_sum_update_fixed(tcd_adam *a, float *params, int64_t *const *srcs, int n_src,
                                 const tcd_row_marks *marks, int64_t lo, int64_t hi, double lr, int n_threads) {
    sum_update(a, params, (void *const *)srcs, n_src, 1, marks, NULL, lo, hi, lr, n_threads);
}

void tcd_row_marks_set(uint64_t *bits, const int32_t *tokens, int64_t n) {
    for (int64_t i = 0; i < n; i++) bits[tokens[i] >> 6] |= (uint64_t)1 << (tokens[i] & 63);
}

void tcd_clear_marked(void *buf, size_t elem, uint64_t *bits, int64_t rows, int64_t row_len) {
    const int64_t words = (rows + 63) / 64;
    for (int64_t w = 0; w < words; w++) {
        uint64_t m = bits[w];
        while (m) {
            const int64_t row = w * 64 + __builtin_ctzll(m);
            m &= m - 1;
            memset((char *)buf + (size_t)(row * row_len) * elem, 0, elem * (size_t)row_len);
        }
        bits[w] = 0;
    }
}

/* ---- the exchange ------------------------------------------------------------------------ */

/* The node-shared buffers: one array per node of p, m and v (each rank holds the part it owns),
 * and each rank's own gradient buffer, row marks, block counter and (--deterministic) fixed-point
 * accumulator. */
enum { B_PARAMS, B_M, B_V, B_GRADS, B_MARKS, B_CLAIM, B_ACC, B_BAG, N_BUFS };

/* The embedding hand-over (owner computes): rank w's part of B_BAG holds the sums of its slice's
 * rows that it computes (part_len elements from the slice's first element), then its batch as the model handed it over: the number of documents, each document's
 * vector (float, or int64 fixed point), and, for each owner, the offsets and the tokens of the rows
 * that owner holds. Every rank can compute every rank's layout (the caps are the same on all). */
typedef struct {
    int64_t *n;   /* documents this step */
    int64_t *off; /* [world][cap_docs + 1]: for owner w, the offsets of ... */
    void *vec;    /* [cap_docs x row_len] float or int64 */
    int32_t *tok; /* [world][cap_tokens]: ... the batch's tokens whose rows w owns (in document order) */
    void *part;   /* [part_len] float or int64 */
    int64_t part_len;
} bag_part;

static int64_t up64(int64_t b) { return (b + 63) & ~(int64_t)63; }

/* The layout of a part of B_BAG (offsets into it; the last is its size, whole pages). */
typedef struct {
    int64_t n, off, vec, tok, bytes;
} bag_layout;

static bag_layout bag_layout_of(int64_t part_len, size_t elem, int64_t cap_docs, int64_t cap_tokens,
                                int64_t row_len, int W) {
    bag_layout b;
    b.n = up64(part_len * (int64_t)elem);
    b.off = b.n + 64;
    b.vec = up64(b.off + W * (cap_docs + 1) * (int64_t)sizeof(int64_t));
    b.tok = up64(b.vec + cap_docs * row_len * (int64_t)elem);
    b.bytes = (b.tok + W * cap_tokens * (int64_t)sizeof(int32_t) + 4095) & ~(int64_t)4095;
    return b;
}

/* The rows of [lo, hi) (flat elements) before dense0, padded to whole cache lines of floats. */
static int64_t owned_len(int64_t lo, int64_t hi, int64_t dense0) {
    const int64_t e = (hi < dense0 ? hi : dense0) - lo;
    return e > 0 ? (e + 15) & ~(int64_t)15 : 0;
}

enum { PATH_RANKS = 0, PATH_OWNER = 1 };

typedef struct {
    tcd_shm *shm;
    int64_t lo, hi;    /* this rank's slice of the flat buffers */
    float **grads_all; /* [world] every rank's gradient buffer */
    int64_t **acc_all; /* [world] every rank's fixed-point accumulator (--deterministic) */
    uint64_t **bits;   /* [world][words]: the rows each rank's batch used this step */
    tcd_row_marks marks;
    int64_t **next, *slice_lo, *slice_hi;
    int64_t *even_lo, *even_hi; /* even slices, for the claims of PATH_RANKS (the same as the
                                 * slices where the owners do not compute) */
    slice_claims claims;
    /* the owner computes its slice's rows from every rank's handed-over batch (owner_scatter), into
     * one buffer of sums: the source ranks' documents added in rank order, each rank's in
     * document order (in float another order than the ranks' buffers summed; fixed point: any
     * order gives the same) */
    int owner;
    bag_part *bag;            /* [world] */
    int64_t cap_docs, cap_tokens;
    void **part_ptrs;         /* [world]: each rank's sums */
    uint64_t **part_bits;     /* [world]: the rows of its slice that each rank's sums hold */
    owned_rows *own;          /* [world] */
    /* Which path a step takes when the model can hand its embedding backward over (owner): the
     * owners compute their rows from every rank's handed-over batch (PATH_OWNER), unless
     * TCDIST_SHARED_PATH=ranks says that the model adds its own batch into its rank's buffer and
     * the owners sum those buffers (PATH_RANKS, the path of the models without a hand-over). In
     * float the two add in different orders (docs/distributed.md); with --deterministic, the same. */
    int path, forced;         /* this step's path; the forced one, or -1 */
    /* hier (several nodes): this slice's node sums, their rows, and the exchange with the ranks that
     * hold the same slice on the other nodes */
    int cross;
    void *gs;              /* [hi - lo] floats or (--deterministic) int64 */
    float *gf;             /* [hi - lo] --deterministic: the converted sums */
    uint64_t *seen;        /* [words] scratch for the union of rows */
    int32_t *ids, *ids_all, *ids_union;
    int64_t cap_ids, cap_all, cap_union;
    void *pack;
    int64_t cap_pack;
} shared_state;

static void shared_load(tcd_exchange *x, const float *params, const float *m, const float *v) {
    shared_state *s = x->impl;
    /* each rank copies in its own slice (its pages are first touched by the rank that owns them) */
    const size_t n = sizeof(float) * (size_t)(s->hi - s->lo);
    if (n) {
        memcpy(x->flat.params + s->lo, params + s->lo, n);
        memcpy(x->flat.m + s->lo, m + s->lo, n);
        memcpy(x->flat.v + s->lo, v + s->lo, n);
    }
    tcd_shm_barrier(s->shm);
}

/* The path of the step that begins now. */
static int step_path(const shared_state *s) {
    if (!s->owner) return PATH_RANKS;
    return s->forced >= 0 ? s->forced : PATH_OWNER;
}

/* Before the step's forward: its path, and whether the model hands its embedding backward over. */
static int shared_begin(tcd_exchange *x) {
    shared_state *s = x->impl;
    s->path = step_path(s);
    s->claims.own = s->path == PATH_OWNER ? s->own : NULL;
    s->claims.slice_lo = s->path == PATH_OWNER ? s->slice_lo : s->even_lo;
    s->claims.slice_hi = s->path == PATH_OWNER ? s->slice_hi : s->even_hi;
    return s->path == PATH_OWNER;
}

/* Marks the rows this rank's batch used; then the stats' allreduce is also the barrier after which
 * every rank's gradients and marks are complete. */
static void shared_reduce(tcd_exchange *x, const tcd_batch *b, double *stats, int n_stats, int n_threads) {
    shared_state *s = x->impl;
    (void)n_threads;
    if (s->path == PATH_OWNER) { /* publish the batch; the model wrote the vectors */
        const bag_part *p = &s->bag[x->d->local_rank];
        const int64_t n = b->n, n_tok = n > 0 ? b->offsets[n] - b->offsets[0] : 0;
        if (n > s->cap_docs || n_tok > s->cap_tokens)
            tcd_die("exchange: a batch of %lld documents and %lld tokens exceeds the hand-over's %lld and %lld",
                    (long long)n, (long long)n_tok, (long long)s->cap_docs, (long long)s->cap_tokens);
        /* sorted by owner here, where the tokens are in this core's cache, so that an owner reads only
         * the tokens of its rows (a row cut by a slice's edge goes to both owners) */
        const int W = x->d->local_size;
        const int64_t L = x->row_len;
        for (int w = 0; w < W; w++) {
            int64_t *off = p->off + w * (s->cap_docs + 1);
            int32_t *tok = p->tok + w * s->cap_tokens;
            const int64_t e_lo = s->slice_lo[w], e_hi = s->slice_hi[w] < x->dense0 ? s->slice_hi[w] : x->dense0;
            const int64_t r0 = e_lo / L, r1 = e_hi > e_lo ? (e_hi - 1) / L + 1 : r0;
            const uint64_t span = (uint64_t)(r1 - r0);
            int64_t k = 0;
            for (int64_t d = 0; d < n; d++) {
                off[d] = k;
                for (int64_t i = b->offsets[d] - b->offsets[0]; i < b->offsets[d + 1] - b->offsets[0]; i++)
                    if ((uint64_t)(b->tokens[i] - r0) < span) tok[k++] = b->tokens[i];
            }
            off[n] = k;
        }
        *p->n = n;
    } else if (x->rows > 0 && b->n > 0)
        tcd_row_marks_set(s->bits[x->d->local_rank], b->tokens, b->offsets[b->n] - b->offsets[0]);
    tcd_shm_fence(s->shm);
    tcd_dist_sum_f64(x->d, stats, n_stats);
    tcd_shm_fence(s->shm);
    x->bytes = (int64_t)sizeof(double) * n_stats;
}

/* This rank's own gradient buffer back to zero: the rows it marked and the dense tensors. */
static void clear_own(tcd_exchange *x) {
    shared_state *s = x->impl;
    const int r = x->d->local_rank;
    void *buf = x->opts.deterministic ? (void *)x->flat.acc : (void *)x->flat.grads;
    const size_t elem = x->opts.deterministic ? sizeof(int64_t) : sizeof(float);
    if (x->rows > 0) tcd_clear_marked(buf, elem, s->bits[r], x->rows, x->row_len);
    memset((char *)buf + (size_t)x->dense0 * elem, 0, elem * (size_t)(x->n_params - x->dense0));
}

/* ---- several nodes (hier) ----------------------------------------------------------------
 * Rank r of a node owns the same slice as rank r of every other node. After the node's gradients
 * are complete, each rank sums its slice over the node's ranks (as above, into gs), lists the
 * slice's rows that the node used, gathers those lists from the same-slice ranks of the other
 * nodes, and allreduces, between nodes, the union's rows plus the slice's dense part: sparse rows
 * and dense tensors, 1/local_size of the model per rank (Horovod's hierarchical allreduce without
 * the final broadcast, since the node shares memory). Then each rank updates its slice of the
 * node's copy; every node's copy gets the same update. */

static void grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return;
    *cap = need + need / 2 + 256;
    free(*p);
    *p = tcd_malloc(elem * (size_t)*cap);
}

static void hier_apply(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads) {
    shared_state *s = x->impl;
    const tcd_dist *d = x->d;
    const int det = x->opts.deterministic, W = d->local_size;
    const int64_t lo = s->lo, hi = s->hi, n = hi - lo, L = x->row_len;
    const size_t elem = det ? sizeof(int64_t) : sizeof(float);
    void *const *srcs = det ? (void *const *)s->acc_all : (void *const *)s->grads_all;
    const tcd_row_marks *mk = x->rows > 0 ? &s->marks : NULL;
    if (n_threads < 1) n_threads = 1;
    /* 1. the node's sums over this slice, exact int64 with --deterministic; a rank alone on its node
     * works in its own gradient buffer (its slice is the whole model) */
    const int alone = W == 1;
    char *gs = alone ? (char *)(det ? (void *)x->flat.acc : (void *)x->flat.grads) : (char *)s->gs;
    const int64_t n_blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_blocks > 1 && !alone)
    for (int64_t b = 0; b < (alone ? 0 : n_blocks); b++) {
        const int64_t at = lo + b * SUM_BLOCK, len = at + SUM_BLOCK < hi ? SUM_BLOCK : hi - at;
        float *g = det ? NULL : (float *)s->gs + (at - lo);
        int64_t *q = det ? (int64_t *)s->gs + (at - lo) : NULL;
        int64_t end = at;
        if (mk && at < mk->sparse_end) {
            end = at + len < mk->sparse_end ? at + len : mk->sparse_end;
            sum_marked(g ? g : NULL, q, srcs, 0, W, det, mk, at, at, end);
        }
        if (end < at + len) sum_dense(g ? g + (end - at) : NULL, q ? q + (end - at) : NULL, srcs, W, det, end, at + len - end);
    }
    /* 2. the rows of this slice that this node used, in increasing order */
    const int64_t sp_end = x->rows > 0 ? (hi < x->dense0 ? hi : x->dense0) : lo;
    int64_t n_ids = 0, n_union = 0;
    if (sp_end > lo) {
        const int64_t row_a = lo / L, row_b = (sp_end - 1) / L;
        grow((void **)&s->ids, &s->cap_ids, row_b - row_a + 1, sizeof(int32_t));
        for (int64_t w = row_a >> 6; w <= row_b >> 6; w++) {
            uint64_t u = 0;
            for (int r = 0; r < W; r++) u |= s->bits[r][w];
            if (w == row_a >> 6) u &= ~(uint64_t)0 << (row_a & 63);
            if (w == row_b >> 6 && (row_b & 63) != 63) u &= ((uint64_t)1 << ((row_b & 63) + 1)) - 1;
            for (; u; u &= u - 1) s->ids[n_ids++] = (int32_t)(w * 64 + __builtin_ctzll(u));
        }
        /* 3. the union over the nodes, in increasing order (the same on every node) */
        const int64_t n_all = tcd_dist_allgatherv_i32_in(d, TCD_CROSS, s->ids, n_ids, &s->ids_all, &s->cap_all);
        grow((void **)&s->ids_union, &s->cap_union, row_b - row_a + 1, sizeof(int32_t));
        for (int64_t i = 0; i < n_all; i++) s->seen[s->ids_all[i] >> 6] |= (uint64_t)1 << (s->ids_all[i] & 63);
        for (int64_t w = row_a >> 6; w <= row_b >> 6; w++) {
            for (uint64_t u = s->seen[w]; u; u &= u - 1) s->ids_union[n_union++] = (int32_t)(w * 64 + __builtin_ctzll(u));
            s->seen[w] = 0;
        }
    }
    /* 4. those rows (cut to the slice) and the slice's dense part, summed between nodes */
    const int64_t dense_lo = sp_end > lo ? sp_end : lo;
    int64_t n_pack = hi - dense_lo;
    for (int64_t k = 0; k < n_union; k++) {
        const int64_t e0 = (int64_t)s->ids_union[k] * L, e1 = e0 + L;
        n_pack += (e1 < sp_end ? e1 : sp_end) - (e0 > lo ? e0 : lo);
    }
    grow(&s->pack, &s->cap_pack, n_pack, elem);
    char *pk = s->pack;
    int64_t at = 0;
    for (int pass = 0; pass < 2; pass++) {
        at = 0;
        for (int64_t k = 0; k < n_union; k++) {
            int64_t e0 = (int64_t)s->ids_union[k] * L, e1 = e0 + L;
            if (e0 < lo) e0 = lo;
            if (e1 > sp_end) e1 = sp_end;
            if (pass == 0)
                memcpy(pk + (size_t)at * elem, gs + (size_t)(e0 - lo) * elem, elem * (size_t)(e1 - e0));
            else
                memcpy(gs + (size_t)(e0 - lo) * elem, pk + (size_t)at * elem, elem * (size_t)(e1 - e0));
            at += e1 - e0;
        }
        if (pass == 0)
            memcpy(pk + (size_t)at * elem, gs + (size_t)(dense_lo - lo) * elem, elem * (size_t)(hi - dense_lo));
        else
            memcpy(gs + (size_t)(dense_lo - lo) * elem, pk + (size_t)at * elem, elem * (size_t)(hi - dense_lo));
        if (pass == 0 && n_pack > 0) {
            if (det)
                tcd_dist_sum_i64_in(d, TCD_CROSS, s->pack, n_pack);
            else
                tcd_dist_sum_f32_in(d, TCD_CROSS, s->pack, n_pack);
        }
    }
    x->bytes += n_ids * (int64_t)sizeof(int32_t) + n_pack * (int64_t)elem; /* reduce counted the stats */
    /* 5. the update of this slice */
    const float *g = det ? s->gf : (const float *)gs;
    if (det) tcd_fixed_to_float(s->gf, (const int64_t *)gs, n, n_threads);
    const tcd_adam_step_consts kc = tcd_adam_begin(opt, lr);
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_blocks > 1)
    for (int64_t b = 0; b < n_blocks; b++) {
        const int64_t a0 = lo + b * SUM_BLOCK, len = a0 + SUM_BLOCK < hi ? SUM_BLOCK : hi - a0;
        tcd_adam_update(&kc, x->flat.params + a0, g + (a0 - lo), opt->m + a0, opt->v + a0, a0, len);
    }
    tcd_shm_barrier(s->shm);
    if (!alone) {
        clear_own(x);
        return;
    }
    /* alone: the buffer now holds the union's rows (other nodes' too) and the dense part */
    for (int64_t k = 0; k < n_union; k++)
        memset(gs + (size_t)((int64_t)s->ids_union[k] * L) * elem, 0, elem * (size_t)L);
    memset(gs + (size_t)dense_lo * elem, 0, elem * (size_t)(hi - dense_lo));
    if (x->rows > 0) memset(s->bits[0], 0, sizeof(uint64_t) * (size_t)((x->rows + 63) / 64));
}

/* Owner computes: this rank adds up the embedding gradient of every row of its slice, from every
 * rank's handed-over batch, into its buffer of sums (the source ranks in rank order, each in
 * document order), and marks those rows. Threads own
 * ranges of rows (whole words of marks), and each scans every batch, as the model's own backward
 * does. A row cut by the slice's edge gets only the slice's elements (its neighbour adds the rest).
 * Nobody else writes these rows, so no cache line of them moves between cores; only the batches
 * (tokens and one vector per document) are read across. */
static void owner_scatter(tcd_exchange *x, int n_threads) {
    shared_state *s = x->impl;
    const int W = x->d->local_size, me = x->d->local_rank, det = x->opts.deterministic;
    const int64_t L = x->row_len, e_lo = s->lo, e_hi = s->hi < x->dense0 ? s->hi : x->dense0;
    if (e_hi <= e_lo) return;
    const int64_t row_a = e_lo / L, row_end = (e_hi - 1) / L + 1, n_rows = row_end - row_a;
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel num_threads(n_threads) if (n_rows >= 256)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t r0 = row_a + n_rows * t / nt, r1 = row_a + n_rows * (t + 1) / nt;
        r0 = t == 0 ? row_a : (r0 & ~(int64_t)63) > row_a ? (r0 & ~(int64_t)63) : row_a;
        r1 = t == nt - 1 ? row_end : (r1 & ~(int64_t)63) > row_a ? (r1 & ~(int64_t)63) : row_a;
        const uint64_t span = (uint64_t)(r1 - r0);
        for (int r = 0; r < W && span > 0; r++) {
            const bag_part *p = &s->bag[r];
            const int64_t *off = p->off + me * (s->cap_docs + 1); /* rank r's tokens of this slice */
            const int32_t *tok = p->tok + me * s->cap_tokens;
            uint64_t *restrict bits = s->part_bits[me];
            float *gf = s->part_ptrs[me];
            int64_t *gq = s->part_ptrs[me];
            const int64_t n = *p->n;
            for (int64_t d = 0; d < n; d++) {
                for (int64_t i = off[d]; i < off[d + 1]; i++) {
                    const int64_t tk = tok[i];
                    if ((uint64_t)(tk - r0) >= span) continue; /* another thread's or rank's row */
                    bits[tk >> 6] |= (uint64_t)1 << (tk & 63);
                    int64_t j0 = 0, j1 = L; /* the row's elements inside the slice */
                    if (tk * L < e_lo) j0 = e_lo - tk * L;
                    if (tk * L + L > e_hi) j1 = e_hi - tk * L;
                    const int64_t at = tk * L - e_lo; /* of element 0 of the row in the partial */
                    if (det) {
                        const int64_t *restrict v = (const int64_t *)p->vec + d * L;
                        int64_t *restrict y = gq + at;
                        for (int64_t j = j0; j < j1; j++) y[j] += v[j];
                    } else {
                        const float *restrict v = (const float *)p->vec + d * L;
                        float *restrict y = gf + at;
                        for (int64_t j = j0; j < j1; j++) y[j] += v[j];
                    }
                }
            }
        }
    }
}

/* Owner computes: the sums' rows this rank marked back to zero (unless the update left them zero:
 * float, updated), the marks cleared, and the dense part of its gradient buffer (the model's
 * backward wrote it) zeroed. */
static void clear_owned(tcd_exchange *x, int updated) {
    shared_state *s = x->impl;
    const int me = x->d->local_rank, det = x->opts.deterministic;
    const size_t elem = det ? sizeof(int64_t) : sizeof(float);
    const int64_t L = x->row_len, e_lo = s->lo, e_hi = s->hi < x->dense0 ? s->hi : x->dense0;
    if (e_hi > e_lo) {
        const int64_t w_a = (e_lo / L) >> 6, w_b = ((e_hi - 1) / L) >> 6;
        const int rows_zero = updated && !det; /* float: the update left the sums zero */
        uint64_t *bits = s->part_bits[me];
        char *part = s->part_ptrs[me];
        for (int64_t w = w_a; w <= w_b; w++) {
            for (uint64_t m = rows_zero ? 0 : bits[w]; m; m &= m - 1) {
                const int64_t row = w * 64 + __builtin_ctzll(m);
                int64_t e0 = row * L, e1 = e0 + L;
                if (e0 < e_lo) e0 = e_lo;
                if (e1 > e_hi) e1 = e_hi;
                memset(part + (size_t)(e0 - e_lo) * elem, 0, elem * (size_t)(e1 - e0));
            }
            bits[w] = 0;
        }
    }
    void *buf = det ? (void *)x->flat.acc : (void *)x->flat.grads;
    memset((char *)buf + (size_t)x->dense0 * elem, 0, elem * (size_t)(x->n_params - x->dense0));
}

static void shared_apply(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads) {
    shared_state *s = x->impl;
    if (s->cross) {
        hier_apply(x, opt, lr, n_threads);
        return;
    }
    /* owner computes: this slice's rows first; the release store below publishes them to helpers */
    if (s->path == PATH_OWNER) owner_scatter(x, n_threads);
    /* open this rank's slice for claims: every counter was exhausted before the last step's
     * barrier, so no rank claims a block of this slice before this store */
    __atomic_store_n(s->next[x->d->local_rank], 0, __ATOMIC_RELEASE);
    const int det = x->opts.deterministic;
    sum_update(opt, x->flat.params, det ? (void *const *)s->acc_all : (void *const *)s->grads_all, x->d->local_size, det,
               x->rows > 0 ? &s->marks : NULL, &s->claims, 0, 0, lr, n_threads);
    /* every block is updated before any rank clears what it wrote or goes on */
    tcd_shm_barrier(s->shm);
    /* nobody claims now: closed until this rank opens it again (a counter left at the number of
     * blocks would let the next step's helpers in early if that step's slices are longer) */
    __atomic_store_n(s->next[x->d->local_rank], CLAIM_DONE, __ATOMIC_RELAXED);
    if (s->path == PATH_OWNER)
        clear_owned(x, 1);
    else
        clear_own(x);
}

static void shared_discard(tcd_exchange *x, int n_threads) {
    shared_state *s = x->impl;
    (void)n_threads;
    if (s->path == PATH_OWNER)
        clear_owned(x, 0);
    else
        clear_own(x);
    tcd_shm_barrier(s->shm);
}

static void shared_close(tcd_exchange *x) {
    shared_state *s = x->impl;
    tcd_shm_free(s->shm); /* collective */
    free(s->grads_all);
    free(s->acc_all);
    free(s->bits);
    free(s->next);
    free(s->slice_lo);
    free(s->slice_hi);
    free(s->gs);
    free(s->gf);
    free(s->seen);
    free(s->ids);
    free(s->ids_all);
    free(s->ids_union);
    free(s->pack);
    free(s->bag);
    free(s->part_ptrs);
    free(s->part_bits);
    free(s->own);
    free(s->even_lo);
    free(s->even_hi);
    free(s);
}

static const tcd_exchange_ops shared_ops = {shared_load,   shared_reduce, shared_apply,
                                            shared_discard, shared_close,  shared_begin};

/* Where the slices start: cut[0 .. W] (cut[W] = n), aligned to 1024 floats (4 KiB pages) so that
 * no two ranks own one cache line or page. Even slices; or, when the owners compute the table's
 * rows (owner), slices of even cost, where a row costs the optimizer's D elements plus
 * ROW_ADD_COST x D for each token of it that a step adds (the tokens' counts in the corpus, scaled
 * to a step): the ids of a vocabulary sorted by frequency put most tokens in the first rows (on
 * IMDB 99% of them in the first half), which even slices would leave to one rank. Who owns a row
 * changes no bit. Collective (owner: the counts are summed over the ranks). */
#define ROW_ADD_COST 0.8 /* adding a row of D floats / D elements of Adam (reading the sums in place),
                          * measured on a 2-core AMD EPYC Zen 5 (tests/bench/results/2026-12-07-dist-owner.md) */

static void slice_cuts(tcd_exchange *x, int owner, int64_t *cut) {
    const tcd_dist *d = x->d;
    const int W = d->local_size;
    const int64_t n = x->n_params, align = 1024, L = x->row_len;
    for (int r = 0; r <= W; r++) cut[r] = r == W ? n : n * r / W / align * align;
    if (!owner || !x->opts.bag_row_load) return;
    double *load = tcd_malloc(sizeof(double) * (size_t)x->rows);
    memcpy(load, x->opts.bag_row_load, sizeof(double) * (size_t)x->rows);
    tcd_dist_sum_f64(d, load, x->rows);
    double total = (double)n;
    for (int64_t i = 0; i < x->rows; i++) total += ROW_ADD_COST * (double)L * load[i];
    double acc = 0;
    int r = 1;
    for (int64_t i = 0; i < x->rows && r < W; i++) {
        acc += (double)L * (1.0 + ROW_ADD_COST * load[i]);
        while (r < W && acc >= total * r / W) {
            const int64_t at = ((i + 1) * L) / align * align;
            cut[r] = at > cut[r - 1] ? at : cut[r - 1];
            r++;
        }
    }
    for (; r < W; r++) { /* the rest of the cost is the dense part: even cuts of what is left */
        const int64_t rest = n - cut[r - 1], at = (cut[r - 1] + rest / (W - r + 1)) / align * align;
        cut[r] = at > cut[r - 1] ? at : cut[r - 1];
    }
    free(load);
}

/* Owner computes: every rank's view of every rank's sums, marks and batch room in B_BAG. */
static void open_owner(tcd_exchange *x, shared_state *s, tcd_shm *shm, size_t elem, int64_t cap_docs,
                       int64_t cap_tokens) {
    const int W = x->d->local_size, me = x->d->local_rank, det = x->opts.deterministic;
    s->cap_docs = cap_docs;
    s->cap_tokens = cap_tokens;
    s->bag = tcd_malloc(sizeof(bag_part) * (size_t)W);
    s->part_ptrs = tcd_malloc(sizeof(void *) * (size_t)W);
    s->part_bits = tcd_malloc(sizeof(uint64_t *) * (size_t)W);
    s->own = tcd_malloc(sizeof(owned_rows) * (size_t)W);
    for (int r = 0; r < W; r++) {
        char *p = tcd_shm_part(shm, B_BAG, r);
        const int64_t len = owned_len(s->slice_lo[r], s->slice_hi[r], x->dense0);
        const bag_layout bl = bag_layout_of(len, elem, cap_docs, cap_tokens, x->row_len, W);
        s->bag[r] = (bag_part){.n = (int64_t *)(p + bl.n), .off = (int64_t *)(p + bl.off), .vec = p + bl.vec,
                               .tok = (int32_t *)(p + bl.tok), .part = p, .part_len = len};
        s->part_ptrs[r] = p;
        s->part_bits[r] = s->bits[r];
        s->own[r] = (owned_rows){.mk = {.bits = (const uint64_t *const *)&s->part_bits[r], .n_ranks = 1,
                                        .row_len = x->row_len, .sparse_end = x->dense0},
                                 .srcs = &s->part_ptrs[r], .off = s->slice_lo[r]};
    }
    memset(s->bag[me].part, 0, (size_t)s->bag[me].part_len * elem);
    *s->bag[me].n = 0;
    s->claims.own = s->own;
    if (det)
        x->flat.bag_fix = s->bag[me].vec;
    else
        x->flat.bag_vec = s->bag[me].vec;
    x->flat.bag_cap = cap_docs;
}

int tcd_exchange_shared_open(tcd_exchange *x, char *why, size_t why_len) {
    const tcd_dist *d = x->d;
    const int det = x->opts.deterministic, W = d->local_size, me = d->local_rank;
    if (d->n_nodes > 1 && !d->uniform) {
        snprintf(why, why_len, "the nodes hold different numbers of ranks");
        return -1;
    }
    /* TCDIST_SHARED_PATH: the path of a model that hands its embedding backward over (owner, the
     * default, or ranks); every rank must read the same (a rank whose value differs stops) */
    const char *fp = getenv("TCDIST_SHARED_PATH");
    const int forced = !fp || !*fp ? -1 : !strcmp(fp, "owner") ? PATH_OWNER : !strcmp(fp, "ranks") ? PATH_RANKS : -2;
    if (forced == -2) tcd_die("TCDIST_SHARED_PATH=%s: expected owner or ranks", fp);
    double fsum = forced;
    tcd_dist_sum_f64(d, &fsum, 1);
    if (fsum != (double)forced * d->world)
        tcd_die("TCDIST_SHARED_PATH differs between the ranks (here: %s)", fp ? fp : "unset");
    /* contiguous slices (slice_cuts) */
    const int64_t n = x->n_params, words = (x->rows + 63) / 64;
    const int owner = d->n_nodes == 1 && W > 1 && x->bag;
    int64_t *cut = tcd_malloc(sizeof(int64_t) * (size_t)(W + 1));
    slice_cuts(x, owner, cut);
    const int64_t lo = cut[me], hi = cut[me + 1];
    int64_t bytes[N_BUFS];
    bytes[B_PARAMS] = bytes[B_M] = bytes[B_V] = (hi - lo) * (int64_t)sizeof(float);
    bytes[B_GRADS] = n * (int64_t)sizeof(float);
    bytes[B_MARKS] = (words + 7) / 8 * 64; /* whole cache lines */
    bytes[B_CLAIM] = 64;
    bytes[B_ACC] = det ? n * (int64_t)sizeof(int64_t) : 0;
    /* owner computes (one node, a model that hands over its embedding backward): the partial sums
     * of this slice's rows, one set of marks per partial, and room for a batch */
    const size_t elem = det ? sizeof(int64_t) : sizeof(float);
    const int64_t cap_docs = owner ? x->opts.bag_docs : 0;
    int64_t cap_tokens = 0; /* the largest over the ranks: every rank lays out every rank's part alike */
    if (owner) {
        double *caps = tcd_calloc((size_t)W, sizeof(double));
        caps[me] = (double)x->opts.bag_tokens;
        tcd_dist_sum_f64(d, caps, W); /* one node: the node's ranks are the world's */
        for (int r = 0; r < W; r++)
            if ((int64_t)caps[r] > cap_tokens) cap_tokens = (int64_t)caps[r];
        free(caps);
    }
    bytes[B_BAG] = owner ? bag_layout_of(owned_len(lo, hi, x->dense0), elem, cap_docs, cap_tokens,
                                         x->row_len, W).bytes
                         : 0;
    tcd_shm *shm = tcd_shm_create(d, N_BUFS, bytes, why, why_len);
    if (!shm) {
        free(cut);
        return -1;
    }
    float *base[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        for (int r = 0; r < W && !base[k]; r++) base[k] = tcd_shm_part(shm, k, r); /* the first non-empty */
        for (int r = 0; r < W; r++) {
            const float *p = tcd_shm_part(shm, k, r);
            if (p && p != base[k] + cut[r])
                tcd_die("--exchange shared: the shared buffers are not contiguous");
        }
    }
    shared_state *s = tcd_calloc(1, sizeof *s);
    s->shm = shm;
    s->lo = lo;
    s->hi = hi;
    x->flat.params = base[B_PARAMS];
    x->flat.m = base[B_M];
    x->flat.v = base[B_V];
    x->flat.grads = tcd_shm_part(shm, B_GRADS, me);
    s->grads_all = tcd_malloc(sizeof(float *) * (size_t)W);
    s->bits = tcd_malloc(sizeof(uint64_t *) * (size_t)W);
    s->next = tcd_malloc(sizeof(int64_t *) * (size_t)W);
    s->slice_lo = tcd_malloc(sizeof(int64_t) * (size_t)W);
    s->slice_hi = tcd_malloc(sizeof(int64_t) * (size_t)W);
    for (int r = 0; r < W; r++) {
        s->grads_all[r] = tcd_shm_part(shm, B_GRADS, r);
        s->bits[r] = tcd_shm_part(shm, B_MARKS, r);
        s->next[r] = tcd_shm_part(shm, B_CLAIM, r);
        s->slice_lo[r] = cut[r];
        s->slice_hi[r] = cut[r + 1];
    }
    memset(x->flat.grads, 0, sizeof(float) * (size_t)n);
    memset(s->bits[me], 0, (size_t)bytes[B_MARKS]);
    __atomic_store_n(s->next[me], CLAIM_DONE, __ATOMIC_RELAXED); /* nothing to claim before the first step */
    s->marks = (tcd_row_marks){.bits = (const uint64_t *const *)s->bits, .n_ranks = W, .row_len = x->row_len,
                               .sparse_end = x->dense0};
    s->claims = (slice_claims){.next = s->next, .slice_lo = s->slice_lo, .slice_hi = s->slice_hi, .n_ranks = W,
                               .me = me};
    if (det) {
        x->flat.acc = tcd_shm_part(shm, B_ACC, me);
        s->acc_all = tcd_malloc(sizeof(int64_t *) * (size_t)W);
        for (int r = 0; r < W; r++) s->acc_all[r] = tcd_shm_part(shm, B_ACC, r);
        memset(x->flat.acc, 0, sizeof(int64_t) * (size_t)n);
    }
    s->owner = owner;
    s->path = owner ? PATH_OWNER : PATH_RANKS;
    s->forced = forced;
    if (owner) {
        open_owner(x, s, shm, elem, cap_docs, cap_tokens);
    }
    slice_cuts(x, 0, cut); /* even: where the owners sum the ranks' buffers, cost is even */
    s->even_lo = tcd_malloc(sizeof(int64_t) * (size_t)W);
    s->even_hi = tcd_malloc(sizeof(int64_t) * (size_t)W);
    for (int r = 0; r < W; r++) {
        s->even_lo[r] = cut[r];
        s->even_hi[r] = cut[r + 1];
    }
    free(cut);
    s->cross = d->n_nodes > 1;
    if (s->cross) {
        if (W > 1) s->gs = tcd_calloc((size_t)(hi - lo ? hi - lo : 1), det ? sizeof(int64_t) : sizeof(float));
        if (det) s->gf = tcd_malloc(sizeof(float) * (size_t)(hi - lo ? hi - lo : 1));
        s->seen = tcd_calloc((size_t)(words ? words : 1), sizeof(uint64_t));
    }
    tcd_shm_barrier(shm);
    x->impl = s;
    x->ops = &shared_ops;
    x->name = s->cross ? "hier" : "shared";
    return 0;
}
