/* Batches for a rank. No MPI here: which documents form global batch `step` of `epoch` is a pure
 * function of (seed, epoch, step, batch), the same for any number of ranks; a rank holds only the
 * documents it owns (a contiguous shard of the corpus, read with hyperslab reads, never the rest)
 * and takes, from each global batch, the documents that are in its shard. So a resume needs only
 * counters, and the loader is testable alone.
 *
 * The order of an epoch is a keyed pseudo-random permutation of [0, n_docs): a 4-round Feistel
 * network over the smallest even power of two >= n_docs, keyed by (seed, epoch), with cycle-walking
 * back into range. It costs O(1) memory whatever the corpus size.
 *
 * Streaming (tcd_loader_open_stream), for corpora larger than the memory budget: documents form
 * blocks of TCD_BLOCK_DOCS; each epoch permutes the blocks, cuts the permuted sequence into windows
 * of `window_blocks` blocks, and permutes the documents inside each window. A rank holds its shard's
 * part of at most two windows. The window size comes from the budget and the corpus alone, so the
 * order is still a function of (seed, epoch) and the same for any number of ranks. */
#ifndef TCD_LOADER_H
#define TCD_LOADER_H

#include <stdint.h>

#include "io/corpus.h"
#include "data/batch.h"

typedef struct {
    uint64_t key[4]; /* round keys */
    int half_bits;   /* each half of the Feistel block */
    int64_t n;       /* domain size */
    int identity;    /* no shuffling */
} tcd_perm;

/* The permutation of epoch `epoch` over n items (identity when shuffle is 0). */
void tcd_perm_init(tcd_perm *p, int64_t n, uint64_t seed, int64_t epoch, int shuffle);
int64_t tcd_perm_at(const tcd_perm *p, int64_t i);

#define TCD_BLOCK_DOCS 1024

/* One loaded window of the streaming mode: this rank's documents of its blocks. */
typedef struct {
    int64_t window;     /* -1: empty */
    int64_t n_docs, n_tokens, cap_docs, cap_tokens;
    int64_t *offsets;   /* [n_docs + 1], local */
    int32_t *tokens, *labels;
    /* per block of the window (in window order): the first document of it in this shard, and its
     * local index (-1: none of the block's documents is in this shard) */
    int64_t *block_doc0, *block_local;
    int64_t cap_blocks;
} tcd_window;

typedef struct {
    int64_t n_docs_total;   /* in the corpus */
    int64_t doc_lo, doc_hi; /* this rank's shard: documents [doc_lo, doc_hi) */
    int64_t n_tokens;       /* in the shard */
    int64_t *offsets;       /* [shard docs + 1], relative to the shard's first token */
    int32_t *tokens;
    int32_t *labels;
    uint64_t seed;
    int shuffle;
    tcd_perm perm;
    int64_t perm_epoch;
    /* the assembled batch */
    int64_t *bdocs;
    int32_t *btok;
    int64_t btok_cap;
    int64_t *boff;
    int32_t *blab;
    int64_t *bids; /* the batch's documents' indices in the corpus */
    int64_t bdoc_cap, bdocs_cap;
    /* streaming mode: window_blocks > 0 */
    const tcd_corpus *corpus;
    int64_t window_blocks, n_blocks, n_windows, stream_epoch;
    tcd_perm block_perm;
    int64_t *win_start; /* [n_windows + 1]: first epoch position of each window */
    tcd_window win[2];
    /* the block list of one window and the prefix sums of its block sizes, built once per window */
    int64_t map_window, *map_blocks, *map_prefix, map_cap;
    /* a held-out validation split (tcd_loader_hold_out): the trained documents, global and sorted,
     * and the held-out documents of this shard, local; NULL when there is none */
    int64_t *sel, n_sel, *held, n_held;
    /* a multi-label corpus: the label sets of the whole corpus (batches point at them) */
    tcd_multilabels ml;
    int has_ml;
} tcd_loader;

/* Whether document `doc` is held out for validation by --valid-split `frac` under `seed`: a pure
 * function of (doc, seed), the same for any number of ranks or threads. */
int tcd_held_out(int64_t doc, uint64_t seed, double frac);

/* Holds out the documents tcd_held_out picks: global batches are then cut from a permutation of
 * the others only (the same for any -np), and tcd_loader_range reads the held-out documents of
 * this shard (0 .. n_held). Not for the streaming mode. Returns the number of trained documents. */
int64_t tcd_loader_hold_out(tcd_loader *l, double frac);

/* Documents [*lo, *hi) of n that belong to `rank` of `world`: an even split, the first ranks one
 * more when world does not divide n. Used for shards of a corpus. */
void tcd_batch_share(int64_t n, int rank, int world, int64_t *lo, int64_t *hi);

/* Reads documents [doc_lo, doc_hi) of the corpus (tokens, offsets, labels) and checks every id
 * against the corpus sizes. Returns 0, or -1 with a message naming the file. */
int tcd_loader_open(tcd_loader *l, const tcd_corpus *c, int64_t doc_lo, int64_t doc_hi, uint64_t seed, int shuffle,
                    char *err, size_t errlen);
void tcd_loader_free(tcd_loader *l);
/* Streaming mode over documents [doc_lo, doc_hi): nothing is read until a batch needs it. The corpus
 * must stay open while the loader is used. */
int tcd_loader_open_stream(tcd_loader *l, const tcd_corpus *c, int64_t doc_lo, int64_t doc_hi, uint64_t seed,
                           int shuffle, int64_t window_blocks, char *err, size_t errlen);
/* Blocks per window for a memory budget (two windows, whole corpus, as if one rank: so that the
 * order does not depend on the number of ranks); 0 when the corpus fits the budget in memory. */
int64_t tcd_stream_window_blocks(const tcd_corpus *c, double budget_bytes);

static inline int64_t tcd_steps_per_epoch(int64_t n_docs, int64_t batch) { return (n_docs + batch - 1) / batch; }

/* The documents of global batch `step` of `epoch` that are in this loader's shard, in batch order.
 * *n_global is the size of the whole global batch (the last batch of an epoch may be short). */
void tcd_loader_batch(tcd_loader *l, int64_t epoch, int64_t step, int64_t batch, tcd_batch *out, int64_t *n_global);
/* The most tokens a batch of at most `batch` documents of this shard can hold (the sum of its
 * `batch` longest documents), or -1 in streaming mode (the shard is not in memory). */
int64_t tcd_loader_max_batch_tokens(const tcd_loader *l, int64_t batch);
/* Shard documents [doc0, doc0 + n), counted from the shard's start (evaluation). */
void tcd_loader_range(tcd_loader *l, int64_t doc0, int64_t n, tcd_batch *out);

#endif
