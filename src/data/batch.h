/* One batch in memory: what the loader hands out and a model consumes. */
#ifndef TCD_BATCH_H
#define TCD_BATCH_H

#include <stdint.h>

/* The label sets of a multi-label corpus, for the whole corpus (indexed by document id): document
 * d has the classes ids[off[d] .. off[d+1]), sorted, distinct, at least one. */
typedef struct {
    int64_t n_docs;
    int64_t *off; /* [n_docs + 1] */
    int32_t *ids;
} tcd_multilabels;

typedef struct {
    int64_t n;              /* documents */
    const int32_t *tokens;  /* ids */
    const int64_t *offsets; /* [n+1]; document i is tokens[offsets[i] - offsets[0] ...] */
    const int32_t *labels;  /* [n], or NULL when predicting */
    const int64_t *doc_ids; /* [n]: each document's index in its corpus (dropout masks are a function
                             * of it, never of the rank or thread that holds it), or NULL */
    const tcd_multilabels *multi; /* a multi-label corpus: the label sets, looked up by doc_ids (labels[i]
                                   * is then the first of document i's labels); NULL: labels only */
} tcd_batch;

#endif
