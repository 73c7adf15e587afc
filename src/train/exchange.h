/* The gradient exchange: how the ranks of a data-parallel run add up their gradients and who
 * applies the optimizer to which parameters. One interface, several strategies:
 *   private (`sparse`, `dense`): every rank keeps its own replica of the parameters and of Adam's
 *     state; the gradient sums are allreduced (only the embedding rows some rank touched, plus
 *     the dense tensors; or the whole buffer) and every rank applies the same full step.
 *   shared: the ranks of a node hold ONE copy of the parameters, m and v in shared memory; each
 *     rank sums every rank's gradient over its own slice and updates that slice (a reduce-scatter
 *     done in place; the allgather half costs nothing).
 *   hier: shared inside each node; then each rank sums its slice with the ranks that hold the same
 *     slice on the other nodes (the slice's touched embedding rows and its dense part) and updates
 *     it in its node's copy.
 * Each has a --deterministic variant, where gradients arrive as int64 fixed point (exact sums).
 *
 * The exchange owns the training buffers (tcd_flat): it places them in private or shared memory
 * and frees them. The model and the optimizer are bound to them and never free them. A step is
 *   backward (into flat.grads or flat.acc) -> tcd_exchange_reduce -> check -> tcd_exchange_apply
 * and the optimizer itself never sees ranks. No MPI here: dist.c does the collectives. */
#ifndef TCD_EXCHANGE_H
#define TCD_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"
#include "train/adam.h"
#include "train/dist.h"

typedef struct {
    const char *kind;  /* "auto" | "shared" | "hier" | "sparse" | "dense" */
    int deterministic; /* gradients arrive in flat.acc as fixed point */
    int lazy_adam;     /* the optimizer updates only the embedding rows some rank touched */
    int replicas;      /* each rank needs its own replica and the whole summed gradient
                        * (--clip-norm, --check-replicas): auto never picks shared */
    int quiet;
    /* the embedding hand-over (tcd_model_bind_bag), for a model that offers it: the most documents
     * and tokens of one rank's batch (0 documents: not offered) */
    int64_t bag_docs, bag_tokens;
    /* and, per row of the table, the tokens a step adds to it from this rank's shard (the shard's
     * count x batch / documents), to cut the slices by cost; NULL: even slices */
    const double *bag_row_load;
} tcd_exchange_opts;

/* The flat training buffers, in the model's layout. */
typedef struct {
    float *params, *grads, *m, *v; /* [n_params] each; grads start zeroed */
    int64_t *acc;                  /* deterministic: [n_params] fixed-point gradient, zeroed; else NULL */
    /* when the exchange takes over the embedding backward (bag_cap > 0): where the model puts each
     * document's embedding-gradient vector (tcd_model_bind_bag); the exchange adds them into the rows */
    float *bag_vec;
    int64_t *bag_fix;
    int64_t bag_cap;
} tcd_flat;

typedef struct tcd_exchange tcd_exchange;

/* Collective. Resolves the kind ("auto": shared when every rank is on one node and shared memory
 * has room, hier when the ranks span several nodes with the same number of ranks each, else
 * sparse), then allocates the buffers into *flat. NULL with a message in err when
 * an explicitly requested kind cannot be had. */
tcd_exchange *tcd_exchange_open(const tcd_exchange_opts *o, const tcd_dist *d, const tcd_model *layout,
                                tcd_flat *flat, char *err, size_t errlen);
/* The kind in use: "shared", "hier", "sparse" or "dense". */
const char *tcd_exchange_name(const tcd_exchange *x);
/* Installs the initial or resumed state, the same on every rank: each rank copies what it owns.
 * Collective. */
void tcd_exchange_load(tcd_exchange *x, const float *params, const float *m, const float *v);
/* Before each step's forward, on every rank: 1 when the model hands its embedding backward over
 * this step (tcd_model_hand_over), 0 when it adds the rows itself. The same on every rank. */
int tcd_exchange_begin_step(tcd_exchange *x);
/* Collective: after it, the step's gradient sums over all ranks are ready for the optimizer, and
 * stats[0..n_stats) hold the sum over ranks of every rank's stats. b is this rank's batch (the
 * sparse exchange lists the rows it touched). */
void tcd_exchange_reduce(tcd_exchange *x, const tcd_batch *b, double *stats, int n_stats, int n_threads);
/* Applies the optimizer to the parameters this rank updates (all of them, or its slice), from the
 * summed gradients, and leaves every gradient buffer zeroed. Collective for shared. */
void tcd_exchange_apply(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads);
/* Drops this step's gradients instead (a skipped non-finite batch). Collective for shared. */
void tcd_exchange_discard(tcd_exchange *x, int n_threads);
/* MPI bytes this rank sent for the last reduce (row ids + values reduced). */
int64_t tcd_exchange_bytes(const tcd_exchange *x);
/* Collective for shared. Frees the buffers. */
void tcd_exchange_close(tcd_exchange *x);

/* ---- the shared exchange's update, exposed for the unit tests ----
 * Which rows of the row-sparse table (the first sparse_end floats, rows of row_len) each rank's
 * batch used this step: bit i of bits[r] (bits[r][i / 64] >> i % 64) for row i and rank r. A row
 * that a rank did not mark must be zero in that rank's gradient buffer: it is not read. */
typedef struct {
    const uint64_t *const *bits; /* [n_ranks][(rows + 63) / 64] */
    int n_ranks;
    int64_t row_len, sparse_end;
} tcd_row_marks;

/* One optimizer step over [lo, hi) of the flat buffers where the gradient is the sum of n_src
 * buffers srcs[0] + srcs[1] + ... (added in that order, in float; or exactly in int64 fixed point
 * and then converted as tcd_fixed_to_float does). The sum of a block is formed in cache and
 * consumed there by tcd_adam_update. The sources are only read: their writers clear them
 * (tcd_clear_marked). marks may be NULL (every element of every source is read). */
void tcd_shared_sum_update(tcd_adam *a, float *params, float *const *srcs, int n_src, const tcd_row_marks *marks,
                           int64_t lo, int64_t hi, double lr, int n_threads);
void tcd_shared_sum_update_fixed(tcd_adam *a, float *params, int64_t *const *srcs, int n_src,
                                 const tcd_row_marks *marks, int64_t lo, int64_t hi, double lr, int n_threads);
/* Sets the bits of the n token ids (rows) in bits. */
void tcd_row_marks_set(uint64_t *bits, const int32_t *tokens, int64_t n);
/* Zeroes the marked rows (row_len elements of elem bytes each) of buf and clears the bits. */
void tcd_clear_marked(void *buf, size_t elem, uint64_t *bits, int64_t rows, int64_t row_len);

#endif
