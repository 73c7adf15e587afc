/* Batches for a rank. No MPI here: which documents form global batch `step` of `epoch` is a pure
 * function of (seed, epoch, step, batch), the same for any number of ranks; a rank holds only the
 * documents it owns (a contiguous shard of the corpus, read with hyperslab reads, never the rest)
 * and takes, from each global batch, the documents that are in its shard. So a resume needs only
 * counters, and the loader is testable alone.
 *
 * The order of an epoch is a keyed pseudo-random permutation of [0, n_docs): a 4-round Feistel
 * network over the smallest even power of two >= n_docs, keyed by (seed, epoch), with cycle-walking
 * back into range. It costs O(1) memory whatever the corpus size. */
#ifndef TCD_LOADER_H
#define TCD_LOADER_H

#include <stdint.h>

#include "corpus.h"
#include "model.h"

typedef struct {
    uint64_t key[4]; /* round keys */
    int half_bits;   /* each half of the Feistel block */
    int64_t n;       /* domain size */
    int identity;    /* no shuffling */
} tcd_perm;

/* The permutation of epoch `epoch` over n items (identity when shuffle is 0). */
void tcd_perm_init(tcd_perm *p, int64_t n, uint64_t seed, int64_t epoch, int shuffle);
int64_t tcd_perm_at(const tcd_perm *p, int64_t i);

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
    int64_t bdoc_cap;
} tcd_loader;

/* Documents [*lo, *hi) of n that belong to `rank` of `world`: an even split, the first ranks one
 * more when world does not divide n. Used for shards of a corpus. */
void tcd_batch_share(int64_t n, int rank, int world, int64_t *lo, int64_t *hi);

/* Reads documents [doc_lo, doc_hi) of the corpus (tokens, offsets, labels) and checks every id
 * against the corpus sizes. Returns 0, or -1 with a message naming the file. */
int tcd_loader_open(tcd_loader *l, const tcd_corpus *c, int64_t doc_lo, int64_t doc_hi, uint64_t seed, int shuffle,
                    char *err, size_t errlen);
void tcd_loader_free(tcd_loader *l);

static inline int64_t tcd_steps_per_epoch(int64_t n_docs, int64_t batch) { return (n_docs + batch - 1) / batch; }

/* The documents of global batch `step` of `epoch` that are in this loader's shard, in batch order.
 * *n_global is the size of the whole global batch (the last batch of an epoch may be short). */
void tcd_loader_batch(tcd_loader *l, int64_t epoch, int64_t step, int64_t batch, tcd_batch *out, int64_t *n_global);
/* Shard documents [doc0, doc0 + n), counted from the shard's start (evaluation). */
void tcd_loader_range(tcd_loader *l, int64_t doc0, int64_t n, tcd_batch *out);

#endif
