/* The gradient exchange of a data-parallel step: only the embedding rows that some rank's batch
 * touched travel, plus the dense layers. Each rank lists the rows its documents used; the lists
 * are gathered (dist.c) into one union, in the same order on every rank; the gradients of those
 * rows and of the dense tensors are packed and summed over ranks in one allreduce. The bytes per
 * step grow with the tokens per batch, not with the vocabulary. A dense mode (whole buffer) exists
 * for comparison. No MPI here: dist.c does the collectives. */
#ifndef TCD_EXCHANGE_H
#define TCD_EXCHANGE_H

#include <stdint.h>

#include "train/dist.h"
#include "models/model.h"

typedef struct {
    int64_t rows, row_len;  /* embedding table: rows x row_len, at offset 0 of the flat buffers */
    int64_t n_params;       /* the dense tensors are [rows * row_len, n_params) */
    int32_t *stamp;         /* [rows]: the step a row was last listed in, to list it once */
    int32_t stamp_now;
    int32_t *local;         /* rows this rank's batch touched, first-use order */
    int64_t n_local, cap_local;
    int32_t *gathered;      /* every rank's list, rank order */
    int64_t n_gathered, cap_gathered;
    int32_t *rows_union;    /* union, first-appearance order in `gathered`: the same on all ranks */
    int64_t n_union, cap_union;
    void *pack;             /* packed values for the allreduce */
    int64_t cap_pack_bytes;
    int64_t bytes;          /* this rank's bytes in the last exchange: row ids sent + values reduced */
} tcd_exchange;

void tcd_exchange_init(tcd_exchange *x, const tcd_model *m);
void tcd_exchange_free(tcd_exchange *x);
/* Lists the rows used by this rank's batch, then forms the union over all ranks (collective). */
void tcd_exchange_rows(tcd_exchange *x, const tcd_dist *d, const tcd_batch *b);
/* Sums, over ranks, the union rows and the dense part of g (float or int64), in place. Rows outside
 * the union are zero on every rank and stay so. */
void tcd_exchange_sum_f32(tcd_exchange *x, const tcd_dist *d, float *g);
void tcd_exchange_sum_i64(tcd_exchange *x, const tcd_dist *d, int64_t *g);
/* The dense alternative: the whole buffer in one allreduce. */
void tcd_exchange_dense_f32(tcd_exchange *x, const tcd_dist *d, float *g);
void tcd_exchange_dense_i64(tcd_exchange *x, const tcd_dist *d, int64_t *g);

#endif
