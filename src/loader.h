/* Batches for a rank, from a corpus held in memory. No MPI here: which documents form batch `step`
 * of `epoch`, and which of them are rank r's, is a pure function of (seed, epoch, step, batch,
 * rank, world), so the loader is testable alone and a resume needs only counters. */
#ifndef TCD_LOADER_H
#define TCD_LOADER_H

#include <stdint.h>

#include "corpus.h"
#include "model.h"

typedef struct {
    int64_t n_docs, n_tokens;
    int64_t *offsets; /* [n_docs + 1] */
    int32_t *tokens;
    int32_t *labels;
    uint64_t seed;
    int shuffle;
    int64_t *perm; /* order of the current epoch */
    int64_t perm_epoch;
    /* the assembled batch */
    int32_t *btok;
    int64_t btok_cap;
    int64_t *boff;
    int32_t *blab;
    int64_t bdoc_cap;
} tcd_loader;

/* Reads the whole corpus (tokens, offsets, labels) and checks every id against the corpus sizes.
 * Returns 0, or -1 with a message naming the file. */
int tcd_loader_open(tcd_loader *l, const tcd_corpus *c, uint64_t seed, int shuffle, char *err, size_t errlen);
void tcd_loader_free(tcd_loader *l);

static inline int64_t tcd_steps_per_epoch(int64_t n_docs, int64_t batch) { return (n_docs + batch - 1) / batch; }

/* Documents [*lo, *hi) of the global batch that belong to `rank` of `world` (an even split; the
 * first ranks get one more when world does not divide the batch). */
void tcd_batch_share(int64_t n_in_batch, int rank, int world, int64_t *lo, int64_t *hi);

/* This rank's share of global batch `step` of `epoch`. *n_global is the number of documents in the
 * whole global batch (the last batch of an epoch may be short). */
void tcd_loader_batch(tcd_loader *l, int64_t epoch, int64_t step, int64_t batch, int rank, int world,
                      tcd_batch *out, int64_t *n_global);
/* Documents [doc0, doc0 + n) in file order (evaluation). */
void tcd_loader_range(tcd_loader *l, int64_t doc0, int64_t n, tcd_batch *out);

#endif
