/* The only module that talks MPI. Under mpirun/srun every process is a rank of MPI_COMM_WORLD;
 * started alone (no launcher in the environment), tcdist runs as one rank without initialising
 * MPI at all, which saves the singleton start-up. */
#ifndef TCD_DIST_H
#define TCD_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, world;
    int mpi; /* 1 when MPI was initialised */
} tcd_dist;

/* Initialises (once). Sets tcd_log_rank/world for messages and makes tcd_die abort all ranks. */
void tcd_dist_init(tcd_dist *d, int *argc, char ***argv);
void tcd_dist_finalize(tcd_dist *d);

/* In-place sum over ranks (float / double / int64); counts of any size (sent in chunks). */
void tcd_dist_sum_f32(const tcd_dist *d, float *x, int64_t n);
void tcd_dist_sum_f64(const tcd_dist *d, double *x, int64_t n);
void tcd_dist_sum_i64(const tcd_dist *d, int64_t *x, int64_t n);
/* Every rank's n_local int32 values, concatenated in rank order, into *out (grown as needed, cap in
 * elements); returns the total count. */
int64_t tcd_dist_allgatherv_i32(const tcd_dist *d, const int32_t *local, int64_t n_local, int32_t **out,
                                int64_t *cap);
/* One uint64 per rank, in rank order, on every rank. out has world entries. */
void tcd_dist_allgather_u64(const tcd_dist *d, uint64_t v, uint64_t *out);
/* n doubles from every rank to rank 0: out (world x n, rank order) is filled on rank 0 only. */
void tcd_dist_gather_f64(const tcd_dist *d, const double *v, int n, double *out);
/* Rank 0's bytes to everyone. */
void tcd_dist_bcast(const tcd_dist *d, void *buf, int64_t n_bytes);
/* Rank 0 decided whether to go on: returns the verdict everywhere (0 = ok). */
int tcd_dist_agree(const tcd_dist *d, int verdict);
void tcd_dist_barrier(const tcd_dist *d);

#endif
