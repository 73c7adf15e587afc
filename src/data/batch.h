/* One batch in memory: what the loader hands out and a model consumes. */
#ifndef TCD_BATCH_H
#define TCD_BATCH_H

#include <stdint.h>

typedef struct {
    int64_t n;              /* documents */
    const int32_t *tokens;  /* ids */
    const int64_t *offsets; /* [n+1]; document i is tokens[offsets[i] - offsets[0] ...] */
    const int32_t *labels;  /* [n], or NULL when predicting */
    const int64_t *doc_ids; /* [n]: each document's index in its corpus (dropout masks are a function
                             * of it, never of the rank or thread that holds it), or NULL */
} tcd_batch;

#endif
