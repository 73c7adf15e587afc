/* MPI wrapper; see dist.h. */
#include "train/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/util.h"

/* Largest element count per MPI call: MPI counts are int. */
#define CHUNK ((int64_t)1 << 30)

static void mpi_abort(int status) { MPI_Abort(MPI_COMM_WORLD, status); }

/* A tcd_dist's communicators: all its ranks, the node's ranks and the ranks of the same local rank
 * on every node (tcd_group). Each instance has its own, so that a split (tcd_dist_split) runs its
 * collectives apart from the other groups. */
struct tcd_comms {
    MPI_Comm all, node, cross;
    int cross_size; /* n_nodes when the nodes are even; fewer for the last ranks of uneven ones */
};

static MPI_Comm comm_of(const tcd_dist *d, tcd_group g) {
    return g == TCD_NODE ? d->comms->node : g == TCD_CROSS ? d->comms->cross : d->comms->all;
}

static int group_size(const tcd_dist *d, tcd_group g) {
    return g == TCD_NODE ? d->local_size : g == TCD_CROSS ? d->comms->cross_size : d->world;
}

/* TCDIST_NODE_SIZE: pretend nodes of K consecutive ranks (0: unset). */
static int pretend_node_size(void) {
    const char *v = getenv("TCDIST_NODE_SIZE");
    if (!v || !*v) return 0;
    char *end = NULL;
    errno = 0;
    long k = strtol(v, &end, 10);
    if (errno || *end || k < 1 || k > 1 << 20) return -1;
    return (int)k;
}

/* Splits the ranks into nodes and the cross-node groups; fills the node fields of d. */
static void find_nodes(tcd_dist *d) {
    struct tcd_comms *cm = d->comms;
    MPI_Comm all = cm->all;
    const int k = pretend_node_size();
    if (k < 0) { /* every rank reads the same environment: all of them stop here */
        if (d->rank == 0)
            tcd_error("TCDIST_NODE_SIZE=%s: expected a positive number of ranks per pretend node",
                      getenv("TCDIST_NODE_SIZE"));
        MPI_Finalize();
        exit(2);
    }
    if (k > 0) {
        if (MPI_Comm_split(all, d->rank / k, d->rank, &cm->node) != MPI_SUCCESS)
            tcd_die("MPI_Comm_split failed");
    } else if (MPI_Comm_split_type(all, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &cm->node) !=
               MPI_SUCCESS)
        tcd_die("MPI_Comm_split_type failed");
    MPI_Comm_rank(cm->node, &d->local_rank);
    MPI_Comm_size(cm->node, &d->local_size);
    /* nodes are numbered in the order of their lowest ranks */
    int leader = d->rank;
    MPI_Bcast(&leader, 1, MPI_INT, 0, cm->node);
    int *is_leader = tcd_malloc(sizeof(int) * (size_t)d->world), mine = d->local_rank == 0;
    MPI_Allgather(&mine, 1, MPI_INT, is_leader, 1, MPI_INT, all);
    d->node = 0;
    d->n_nodes = 0;
    for (int r = 0; r < d->world; r++) {
        if (is_leader[r] && r < leader) d->node++;
        d->n_nodes += is_leader[r];
    }
    free(is_leader);
    int sizes[2] = {d->local_size, -d->local_size};
    MPI_Allreduce(MPI_IN_PLACE, sizes, 2, MPI_INT, MPI_MIN, all);
    d->uniform = sizes[0] == -sizes[1];
    if (MPI_Comm_split(all, d->local_rank, d->node, &cm->cross) != MPI_SUCCESS)
        tcd_die("MPI_Comm_split failed");
    MPI_Comm_size(cm->cross, &cm->cross_size);
}

static int launched_by_mpi(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void tcd_dist_init(tcd_dist *d, int *argc, char ***argv) {
    memset(d, 0, sizeof *d);
    d->world = 1;
    d->n_nodes = d->local_size = d->uniform = 1;
    const char *force = getenv("TCDIST_FORCE_MPI");
    if (!launched_by_mpi() && !(force && *force == '1')) return;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        tcd_die("MPI_Init_thread failed");
    d->mpi = 1;
    d->comms = tcd_calloc(1, sizeof *d->comms);
    d->comms->all = MPI_COMM_WORLD;
    d->comms->node = d->comms->cross = MPI_COMM_NULL;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->world);
    tcd_log_rank = d->rank;
    tcd_log_world = d->world;
    if (d->world > 1) tcd_set_abort(mpi_abort);
    find_nodes(d);
}

static void free_comms(tcd_dist *d) {
    struct tcd_comms *cm = d->comms;
    if (!cm) return;
    if (cm->node != MPI_COMM_NULL) MPI_Comm_free(&cm->node);
    if (cm->cross != MPI_COMM_NULL) MPI_Comm_free(&cm->cross);
    if (cm->all != MPI_COMM_WORLD && cm->all != MPI_COMM_NULL) MPI_Comm_free(&cm->all);
    free(cm);
    d->comms = NULL;
}

void tcd_dist_finalize(tcd_dist *d) {
    if (d->mpi) {
        free_comms(d);
        MPI_Finalize();
    }
    d->mpi = 0;
}

void tcd_dist_split(const tcd_dist *d, int color, tcd_dist *out) {
    memset(out, 0, sizeof *out);
    out->world = 1;
    out->n_nodes = out->local_size = out->uniform = 1;
    if (!d->mpi) return;
    out->mpi = 1;
    out->comms = tcd_calloc(1, sizeof *out->comms);
    out->comms->node = out->comms->cross = MPI_COMM_NULL;
    if (MPI_Comm_split(d->comms->all, color, d->rank, &out->comms->all) != MPI_SUCCESS) tcd_die("MPI_Comm_split failed");
    MPI_Comm_rank(out->comms->all, &out->rank);
    MPI_Comm_size(out->comms->all, &out->world);
    find_nodes(out);
}

void tcd_dist_free(tcd_dist *d) {
    if (d->mpi) free_comms(d);
    d->mpi = 0;
}

static void sum(const tcd_dist *d, tcd_group g, void *x, int64_t n, MPI_Datatype t, size_t elem) {
    if (!d->mpi || group_size(d, g) == 1) return;
    char *p = x;
    for (int64_t done = 0; done < n; done += CHUNK) {
        int64_t k = n - done < CHUNK ? n - done : CHUNK;
        if (MPI_Allreduce(MPI_IN_PLACE, p + (size_t)done * elem, (int)k, t, MPI_SUM, comm_of(d, g)) != MPI_SUCCESS)
            tcd_die("MPI_Allreduce failed");
    }
}

void tcd_dist_sum_f32(const tcd_dist *d, float *x, int64_t n) { sum(d, TCD_WORLD, x, n, MPI_FLOAT, sizeof(float)); }
void tcd_dist_sum_f64(const tcd_dist *d, double *x, int64_t n) { sum(d, TCD_WORLD, x, n, MPI_DOUBLE, sizeof(double)); }
void tcd_dist_sum_i64(const tcd_dist *d, int64_t *x, int64_t n) {
    sum(d, TCD_WORLD, x, n, MPI_INT64_T, sizeof(int64_t));
}
void tcd_dist_sum_f32_in(const tcd_dist *d, tcd_group g, float *x, int64_t n) {
    sum(d, g, x, n, MPI_FLOAT, sizeof(float));
}
void tcd_dist_sum_i64_in(const tcd_dist *d, tcd_group g, int64_t *x, int64_t n) {
    sum(d, g, x, n, MPI_INT64_T, sizeof(int64_t));
}

int64_t tcd_dist_allgatherv_i32(const tcd_dist *d, const int32_t *local, int64_t n_local, int32_t **out,
                                int64_t *cap) {
    return tcd_dist_allgatherv_i32_in(d, TCD_WORLD, local, n_local, out, cap);
}

int64_t tcd_dist_allgatherv_i32_in(const tcd_dist *d, tcd_group g, const int32_t *local, int64_t n_local,
                                   int32_t **out, int64_t *cap) {
    const int size = group_size(d, g);
    if (!d->mpi || size == 1) {
        if (n_local > *cap) {
            *cap = n_local * 2;
            *out = tcd_realloc(*out, sizeof(int32_t) * (size_t)*cap);
        }
        if (n_local) memcpy(*out, local, sizeof(int32_t) * (size_t)n_local);
        return n_local;
    }
    if (n_local > INT_MAX) tcd_die("a rank touched %lld rows in one step: too many for MPI_Allgatherv", (long long)n_local);
    int *counts = tcd_malloc(sizeof(int) * (size_t)size);
    int *displs = tcd_malloc(sizeof(int) * (size_t)size);
    int mine = (int)n_local;
    if (MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm_of(d, g)) != MPI_SUCCESS)
        tcd_die("MPI_Allgather failed");
    int64_t total = 0;
    for (int r = 0; r < size; r++) {
        if (total > INT_MAX) tcd_die("row ids of one step exceed MPI's int counts");
        displs[r] = (int)total;
        total += counts[r];
    }
    if (total > *cap) {
        *cap = total * 2;
        *out = tcd_realloc(*out, sizeof(int32_t) * (size_t)*cap);
    }
    if (MPI_Allgatherv(local, mine, MPI_INT32_T, *out, counts, displs, MPI_INT32_T, comm_of(d, g)) != MPI_SUCCESS)
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
    if (MPI_Allgather(&v, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, d->comms->all) != MPI_SUCCESS)
        tcd_die("MPI_Allgather failed");
}

void tcd_dist_gather_f64(const tcd_dist *d, const double *v, int n, double *out) {
    if (!d->mpi || d->world == 1) {
        memcpy(out, v, sizeof(double) * (size_t)n);
        return;
    }
    if (MPI_Gather(v, n, MPI_DOUBLE, out, n, MPI_DOUBLE, 0, d->comms->all) != MPI_SUCCESS)
        tcd_die("MPI_Gather failed");
}

void tcd_dist_gatherv_f32(const tcd_dist *d, const float *local, int64_t n_local, float *out) {
    if (!d->mpi || d->world == 1) {
        if (n_local) memcpy(out, local, sizeof(float) * (size_t)n_local);
        return;
    }
    if (n_local > INT_MAX) tcd_die("a rank has %lld values to gather: too many for MPI_Gatherv", (long long)n_local);
    int mine = (int)n_local, *counts = NULL, *displs = NULL;
    if (d->rank == 0) {
        counts = tcd_malloc(sizeof(int) * (size_t)d->world);
        displs = tcd_malloc(sizeof(int) * (size_t)d->world);
    }
    if (MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, d->comms->all) != MPI_SUCCESS) tcd_die("MPI_Gather failed");
    if (d->rank == 0) {
        int64_t total = 0;
        for (int r = 0; r < d->world; r++) {
            if (total > INT_MAX) tcd_die("%lld values to gather: too many for MPI's int counts", (long long)total);
            displs[r] = (int)total;
            total += counts[r];
        }
    }
    if (MPI_Gatherv(local, mine, MPI_FLOAT, out, counts, displs, MPI_FLOAT, 0, d->comms->all) != MPI_SUCCESS)
        tcd_die("MPI_Gatherv failed");
    free(counts);
    free(displs);
}

void tcd_dist_bcast(const tcd_dist *d, void *buf, int64_t n_bytes) {
    if (!d->mpi || d->world == 1) return;
    char *p = buf;
    for (int64_t done = 0; done < n_bytes; done += CHUNK) {
        int64_t k = n_bytes - done < CHUNK ? n_bytes - done : CHUNK;
        if (MPI_Bcast(p + done, (int)k, MPI_BYTE, 0, d->comms->all) != MPI_SUCCESS) tcd_die("MPI_Bcast failed");
    }
}

int tcd_dist_agree(const tcd_dist *d, int verdict) {
    int v = verdict;
    tcd_dist_bcast(d, &v, sizeof v);
    return v;
}

void tcd_dist_barrier(const tcd_dist *d) {
    if (d->mpi && d->world > 1) MPI_Barrier(d->comms->all);
}

#define SHM_MAX_BUFS 8

struct tcd_shm {
    MPI_Comm node; /* the ranks that share the buffers */
    int n_bufs, world;
    void *map; /* one shared mapping for all buffers */
    size_t map_bytes;
    void **part; /* [n_bufs * world] */
};

/* Where the file behind the shared buffers goes (Open MPI's setting for its shared windows, which
 * these buffers replace). */
static const char *shm_dir(void) {
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    return dir && *dir ? dir : "/dev/shm";
}

#define SHM_ALIGN ((size_t)4096)

/* Rank 0 creates the backing file and reserves every byte of it (posix_fallocate: on tmpfs the
 * pages are allocated now, so that another job filling the folder later cannot make a store into
 * a hole fault with SIGBUS in the middle of a step). Returns the fd or -1 with why set. */
static int shm_reserve(char *path, size_t path_len, size_t bytes, char *why, size_t why_len) {
    static unsigned serial;
    snprintf(path, path_len, "%s/tcdist-shm-%ld-%u", shm_dir(), (long)getpid(), serial++);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(why, why_len, "%s: cannot create the shared-memory file (%s)", path, strerror(errno));
        return -1;
    }
    int e = posix_fallocate(fd, 0, (off_t)bytes);
    if (e != 0) {
        snprintf(why, why_len, "%s: cannot reserve %.1f MB for the shared buffers (%s)", shm_dir(), (double)bytes / 1e6,
                 strerror(e));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

tcd_shm *tcd_shm_create(const tcd_dist *d, int n_bufs, const int64_t *bytes, char *why, size_t why_len) {
    if (!d->mpi || n_bufs < 1 || n_bufs > SHM_MAX_BUFS) {
        snprintf(why, why_len, "shared buffers need MPI");
        return NULL;
    }
    /* every local rank's contribution to every buffer; buffer k is its parts in local-rank order,
     * page aligned */
    const int W = d->local_size, me = d->local_rank;
    MPI_Comm comm = d->comms->node;
    int64_t *all = tcd_malloc(sizeof(int64_t) * (size_t)(W * n_bufs));
    MPI_Allgather(bytes, n_bufs, MPI_INT64_T, all, n_bufs, MPI_INT64_T, comm);
    size_t total = 0;
    size_t *buf_at = tcd_malloc(sizeof(size_t) * (size_t)n_bufs);
    for (int k = 0; k < n_bufs; k++) {
        buf_at[k] = total;
        for (int r = 0; r < W; r++) total += (size_t)all[(size_t)r * (size_t)n_bufs + (size_t)k];
        total = (total + SHM_ALIGN - 1) / SHM_ALIGN * SHM_ALIGN;
    }
    if (total == 0) total = SHM_ALIGN;
    char path[1024] = "";
    int fd = -1, ok = 1;
    if (me == 0) {
        fd = shm_reserve(path, sizeof path, total, why, why_len);
        ok = fd >= 0;
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    MPI_Bcast(path, (int)sizeof path, MPI_CHAR, 0, comm);
    if (!ok) {
        if (me != 0) snprintf(why, why_len, "the node's first rank could not reserve the shared buffers in %s", shm_dir());
        free(all);
        free(buf_at);
        return NULL;
    }
    if (me != 0) fd = open(path, O_RDWR);
    void *map = fd >= 0 ? mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (map == MAP_FAILED) snprintf(why, why_len, "%s: cannot map the shared buffers (%s)", path, strerror(errno));
    if (fd >= 0) close(fd);
    int all_ok = map != MAP_FAILED;
    MPI_Allreduce(MPI_IN_PLACE, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (me == 0) unlink(path); /* every rank has it mapped (or gave up): no file is left behind */
    if (!all_ok) {
        if (map != MAP_FAILED) {
            munmap(map, total);
            snprintf(why, why_len, "another rank could not map the shared buffers in %s", shm_dir());
        }
        free(all);
        free(buf_at);
        return NULL;
    }
    tcd_shm *s = tcd_calloc(1, sizeof *s);
    s->node = comm;
    s->n_bufs = n_bufs;
    s->world = W;
    s->map = map;
    s->map_bytes = total;
    s->part = tcd_calloc((size_t)n_bufs * (size_t)W, sizeof(void *));
    for (int k = 0; k < n_bufs; k++) {
        size_t at = buf_at[k];
        for (int r = 0; r < W; r++) {
            const int64_t b = all[(size_t)r * (size_t)n_bufs + (size_t)k];
            s->part[(size_t)k * (size_t)W + (size_t)r] = b > 0 ? (char *)map + at : NULL;
            at += (size_t)b;
        }
    }
    free(all);
    free(buf_at);
    return s;
}

void *tcd_shm_part(const tcd_shm *s, int k, int rank) { return s->part[(size_t)k * (size_t)s->world + (size_t)rank]; }

void tcd_shm_fence(tcd_shm *s) {
    (void)s;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void tcd_shm_barrier(tcd_shm *s) {
    tcd_shm_fence(s);
    MPI_Barrier(s->node);
    tcd_shm_fence(s);
}

void tcd_shm_free(tcd_shm *s) {
    if (!s) return;
    MPI_Barrier(s->node); /* nobody still reads another rank's part */
    munmap(s->map, s->map_bytes);
    free(s->part);
    free(s);
}
