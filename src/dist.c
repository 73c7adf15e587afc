/* MPI wrapper; see dist.h. */
#include "dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Largest element count per MPI call: MPI counts are int. */
#define CHUNK ((int64_t)1 << 30)

static void mpi_abort(int status) { MPI_Abort(MPI_COMM_WORLD, status); }

static int launched_by_mpi(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void tcd_dist_init(tcd_dist *d, int *argc, char ***argv) {
    memset(d, 0, sizeof *d);
    d->world = 1;
    const char *force = getenv("TCDIST_FORCE_MPI");
    if (!launched_by_mpi() && !(force && *force == '1')) return;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        tcd_die("MPI_Init_thread failed");
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->world);
    tcd_log_rank = d->rank;
    tcd_log_world = d->world;
    if (d->world > 1) tcd_set_abort(mpi_abort);
}

void tcd_dist_finalize(tcd_dist *d) {
    if (d->mpi) MPI_Finalize();
    d->mpi = 0;
}

static void sum(const tcd_dist *d, void *x, int64_t n, MPI_Datatype t, size_t elem) {
    if (!d->mpi || d->world == 1) return;
    char *p = x;
    for (int64_t done = 0; done < n; done += CHUNK) {
        int64_t k = n - done < CHUNK ? n - done : CHUNK;
        if (MPI_Allreduce(MPI_IN_PLACE, p + (size_t)done * elem, (int)k, t, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            tcd_die("MPI_Allreduce failed");
    }
}

void tcd_dist_sum_f32(const tcd_dist *d, float *x, int64_t n) { sum(d, x, n, MPI_FLOAT, sizeof(float)); }
void tcd_dist_sum_f64(const tcd_dist *d, double *x, int64_t n) { sum(d, x, n, MPI_DOUBLE, sizeof(double)); }
void tcd_dist_sum_i64(const tcd_dist *d, int64_t *x, int64_t n) { sum(d, x, n, MPI_INT64_T, sizeof(int64_t)); }

int64_t tcd_dist_allgatherv_i32(const tcd_dist *d, const int32_t *local, int64_t n_local, int32_t **out,
                                int64_t *cap) {
    if (!d->mpi || d->world == 1) {
        if (n_local > *cap) {
            *cap = n_local * 2;
            *out = tcd_realloc(*out, sizeof(int32_t) * (size_t)*cap);
        }
        if (n_local) memcpy(*out, local, sizeof(int32_t) * (size_t)n_local);
        return n_local;
    }
    if (n_local > INT_MAX) tcd_die("a rank touched %lld rows in one step: too many for MPI_Allgatherv", (long long)n_local);
    int *counts = tcd_malloc(sizeof(int) * (size_t)d->world);
    int *displs = tcd_malloc(sizeof(int) * (size_t)d->world);
    int mine = (int)n_local;
    if (MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD) != MPI_SUCCESS)
        tcd_die("MPI_Allgather failed");
    int64_t total = 0;
    for (int r = 0; r < d->world; r++) {
        if (total > INT_MAX) tcd_die("row ids of one step exceed MPI's int counts");
        displs[r] = (int)total;
        total += counts[r];
    }
    if (total > *cap) {
        *cap = total * 2;
        *out = tcd_realloc(*out, sizeof(int32_t) * (size_t)*cap);
    }
    if (MPI_Allgatherv(local, mine, MPI_INT32_T, *out, counts, displs, MPI_INT32_T, MPI_COMM_WORLD) != MPI_SUCCESS)
        tcd_die("MPI_Allgatherv failed");
    free(counts);
    free(displs);
    return total;
}

void tcd_dist_allgather_u64(const tcd_dist *d, uint64_t v, uint64_t *out) {
    if (!d->mpi || d->world == 1) {
        out[0] = v;
        return;
    }
    if (MPI_Allgather(&v, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, MPI_COMM_WORLD) != MPI_SUCCESS)
        tcd_die("MPI_Allgather failed");
}

void tcd_dist_gather_f64(const tcd_dist *d, const double *v, int n, double *out) {
    if (!d->mpi || d->world == 1) {
        memcpy(out, v, sizeof(double) * (size_t)n);
        return;
    }
    if (MPI_Gather(v, n, MPI_DOUBLE, out, n, MPI_DOUBLE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        tcd_die("MPI_Gather failed");
}

void tcd_dist_bcast(const tcd_dist *d, void *buf, int64_t n_bytes) {
    if (!d->mpi || d->world == 1) return;
    char *p = buf;
    for (int64_t done = 0; done < n_bytes; done += CHUNK) {
        int64_t k = n_bytes - done < CHUNK ? n_bytes - done : CHUNK;
        if (MPI_Bcast(p + done, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) tcd_die("MPI_Bcast failed");
    }
}

int tcd_dist_agree(const tcd_dist *d, int verdict) {
    int v = verdict;
    tcd_dist_bcast(d, &v, sizeof v);
    return v;
}

void tcd_dist_barrier(const tcd_dist *d) {
    if (d->mpi && d->world > 1) MPI_Barrier(MPI_COMM_WORLD);
}
