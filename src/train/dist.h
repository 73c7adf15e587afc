/* The only module that talks MPI. Under mpirun/srun every process is a rank of MPI_COMM_WORLD;
 * started alone (no launcher in the environment), tcdist runs as one rank without initialising
 * MPI at all, which saves the singleton start-up. Every tcd_dist has its own communicators:
 * tcd_dist_split cuts one into groups whose collectives run apart (`tcdist tune`: one trial per
 * group), and every call below works within the tcd_dist it is given. */
#ifndef TCD_DIST_H
#define TCD_DIST_H

#include <stddef.h>
#include <stdint.h>

struct tcd_comms; /* dist.c's MPI communicators */

typedef struct {
    struct tcd_comms *comms; /* NULL without MPI */
    int rank, world;
    int mpi; /* 1 when MPI was initialised */
    /* Nodes: the ranks that share memory (MPI_COMM_TYPE_SHARED), or, with TCDIST_NODE_SIZE=K in
     * the environment, pretend nodes of K consecutive ranks (for tests on one machine: nothing is
     * shared between pretend nodes). Node numbers follow the lowest rank of each node. */
    int node, n_nodes;             /* this rank's node, and how many */
    int local_rank, local_size;    /* within the node */
    int uniform;                   /* every node has local_size ranks */
} tcd_dist;

/* The groups of ranks a collective can run over. */
typedef enum {
    TCD_WORLD, /* every rank */
    TCD_NODE,  /* the ranks of this rank's node */
    TCD_CROSS, /* the ranks with this rank's local_rank, one per node (uniform layouts) */
} tcd_group;

/* Initialises (once). Sets tcd_log_rank/world for messages and makes tcd_die abort all ranks. */
void tcd_dist_init(tcd_dist *d, int *argc, char ***argv);
void tcd_dist_finalize(tcd_dist *d);
/* Collective over d: the ranks of d with the same color form *out (ranks in d's order, nodes found
 * again within the group). Without MPI, *out is one rank. Free with tcd_dist_free before finalize. */
void tcd_dist_split(const tcd_dist *d, int color, tcd_dist *out);
void tcd_dist_free(tcd_dist *d);

/* In-place sum over ranks (float / double / int64); counts of any size (sent in chunks). */
void tcd_dist_sum_f32(const tcd_dist *d, float *x, int64_t n);
void tcd_dist_sum_f64(const tcd_dist *d, double *x, int64_t n);
void tcd_dist_sum_i64(const tcd_dist *d, int64_t *x, int64_t n);
/* The same over a group (TCD_CROSS: node order). */
void tcd_dist_sum_f32_in(const tcd_dist *d, tcd_group g, float *x, int64_t n);
void tcd_dist_sum_i64_in(const tcd_dist *d, tcd_group g, int64_t *x, int64_t n);
/* Every rank's n_local int32 values, concatenated in rank order, into *out (grown as needed, cap in
 * elements); returns the total count. */
int64_t tcd_dist_allgatherv_i32(const tcd_dist *d, const int32_t *local, int64_t n_local, int32_t **out,
                                int64_t *cap);
int64_t tcd_dist_allgatherv_i32_in(const tcd_dist *d, tcd_group g, const int32_t *local, int64_t n_local,
                                   int32_t **out, int64_t *cap);
/* One uint64 per rank, in rank order, on every rank. out has world entries. */
void tcd_dist_allgather_u64(const tcd_dist *d, uint64_t v, uint64_t *out);
/* n doubles from every rank to rank 0: out (world x n, rank order) is filled on rank 0 only. */
void tcd_dist_gather_f64(const tcd_dist *d, const double *v, int n, double *out);
/* Every rank's n_local floats, concatenated in rank order, into out on rank 0 (which must hold the
 * total; out is not used on the other ranks). Each rank's n_local must fit an int. */
void tcd_dist_gatherv_f32(const tcd_dist *d, const float *local, int64_t n_local, float *out);
/* Rank 0's bytes to everyone. */
void tcd_dist_bcast(const tcd_dist *d, void *buf, int64_t n_bytes);
/* Rank 0 decided whether to go on: returns the verdict everywhere (0 = ok). */
int tcd_dist_agree(const tcd_dist *d, int verdict);
void tcd_dist_barrier(const tcd_dist *d);

/* ---- node-shared memory (MPI-3 shared windows), for `train --exchange shared` ----
 * When every rank runs on one node, the ranks can hold one copy of the parameters and of the
 * optimizer state instead of one each, and sum their gradients in place: each rank reduces and
 * updates its own slice of the flat buffers, reading the other ranks' gradient buffers directly.
 * That is the reduce-scatter half of an allreduce; the allgather half costs nothing, because the
 * updated slices are already where every rank reads them. */

typedef struct tcd_shm tcd_shm;
/* Collective over the node. Makes n_bufs node-shared buffers among the ranks of this rank's node:
 * in buffer k, this rank contributes bytes[k] (0 allowed); the contributions are contiguous in
 * local-rank order, so local rank 0's part is the start of one array. One mapping of one file in the backing directory (Open MPI's osc_sm_backing_directory,
 * /dev/shm by default), made by rank 0 with every byte reserved (posix_fallocate) before any rank
 * maps it, then unlinked: a folder that fills up later (another job) cannot turn a store into a
 * SIGBUS in the middle of a step. Returns NULL on every rank, with the reason in why, when the
 * buffers cannot be made (no room: the caller falls back to another exchange). */
tcd_shm *tcd_shm_create(const tcd_dist *d, int n_bufs, const int64_t *bytes, char *why, size_t why_len);
/* Local rank r's part of buffer k (NULL when it contributed 0 bytes). */
void *tcd_shm_part(const tcd_shm *s, int k, int local_rank);
/* Every write to the buffers made by any rank of the node before this call is visible to every
 * rank of the node after it (fence, barrier, fence). Collective over the node. */
void tcd_shm_barrier(tcd_shm *s);
/* A full memory fence only: around a collective that already synchronises the ranks. */
void tcd_shm_fence(tcd_shm *s);
void tcd_shm_free(tcd_shm *s);

#endif
