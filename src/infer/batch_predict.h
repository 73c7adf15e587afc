/* Batch inference over a prepared corpus (`tcdist predict --data CORPUS.h5 -o OUT`), alone or
 * under mpirun/srun.
 *
 * The corpus is read in windows of `batch` documents (whole chunks of TCD_CHUNK = 64 documents).
 * Each window is split among the ranks in contiguous runs of whole chunks; every rank reads only
 * its run (the loader's hyperslab reads), labels it, and rank 0 gathers the window's probabilities
 * in rank order, which is document order, and appends them to the output. So memory is bounded by
 * the window whatever the corpus size, no rank needs to see the output folder but rank 0, and
 * every document is forwarded in the same 64-document chunk (the model's unit of work) for any
 * number of ranks and as `tcdist predict` forwards the same texts one per line: the probabilities
 * are identical bit for bit.
 *
 * The output is written by rank 0 under a temporary name and renamed over OUT at the end: JSONL
 * (one line per document, {"doc", "label", "prob"[, "top"]}) or, for OUT.h5, the predictions file
 * (io/predictions.h). Nothing half-written is ever left at OUT. */
#ifndef TCD_BATCH_PREDICT_H
#define TCD_BATCH_PREDICT_H

#include <stdint.h>

#include "train/dist.h"

typedef struct {
    const char *model_path, *data_path, *out_path;
    int out_h5;      /* 1: the HDF5 predictions file; 0: JSONL */
    int64_t top_k;   /* JSONL: a "top" array of the K most probable labels; 0: none */
    double threshold; /* JSONL of a one-vs-all model (or has_threshold): "labels", those >= threshold */
    int has_threshold;
    int64_t batch;   /* documents per window (all ranks together), rounded up to whole chunks */
    int n_threads;
    int quiet;       /* no progress on stderr */
} tcd_batch_predict_opts;

/* Runs on every rank; returns the exit status (TCD_EXIT_OK, or TCD_EXIT_ERROR after a message that
 * names the file at fault), the same on every rank. */
int tcd_batch_predict(const tcd_batch_predict_opts *o, const tcd_dist *d);

#endif
