/* The MPI figures of docs/distributed.md's cost model, on this machine: ping-pong latency and
 * bandwidth between two ranks, and allreduce times. A measuring tool for the network, not part of
 * tcdist (whose MPI lives in src/train/dist.c only). Run: mpirun -np 2 build/tests/bench/bench_mpi
 * (optionally with -x TCDIST_NODE_SIZE... has no effect here: this talks to the transport directly). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double pingpong(int rank, char *buf, int bytes, int reps) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int i = 0; i < reps; i++) {
        if (rank == 0) {
            MPI_Send(buf, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / reps / 2; /* one way */
}

static double allreduce(float *buf, int n, int reps) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int i = 0; i < reps; i++) MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return (MPI_Wtime() - t0) / reps;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (world < 2) {
        if (rank == 0) fprintf(stderr, "bench_mpi: run with 2 or more ranks\n");
        MPI_Finalize();
        return 2;
    }
    const int big = 16 << 20;
    char *buf = calloc(1, (size_t)big);
    float *fb = calloc((size_t)big / sizeof(float), sizeof(float));
    pingpong(rank, buf, 8, 1000); /* warm up */
    const double lat = pingpong(rank, buf, 8, 20000);
    const double t1m = pingpong(rank, buf, 1 << 20, 200), t16m = pingpong(rank, buf, big, 20);
    const double ar8 = allreduce(fb, 8, 20000), ar1m = allreduce(fb, (1 << 20) / 4, 200);
    if (rank == 0)
        printf("{\"ranks\": %d, \"latency_us\": %.2f, \"bandwidth_1MiB_GBps\": %.2f, \"bandwidth_16MiB_GBps\": %.2f, "
               "\"allreduce_32B_us\": %.2f, \"allreduce_1MiB_ms\": %.3f}\n",
               world, lat * 1e6, (1 << 20) / t1m / 1e9, big / t16m / 1e9, ar8 * 1e6, ar1m * 1e3);
    free(buf);
    free(fb);
    MPI_Finalize();
    return 0;
}
