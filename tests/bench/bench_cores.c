/* What it costs this machine to move cache lines between two cores: the figure that decides whether
 * 2 ranks x 1 thread can keep up with 1 rank x 2 threads (docs/distributed.md, the shared exchange).
 * A measuring tool, not part of tcdist. Run: build/tests/bench/bench_cores [CPU_A CPU_B]
 * (default: the first two CPUs this process may run on).
 *
 *   1. latency: one line bounced between two pinned threads (each waits for the other's store);
 *      half the round trip is the one-way transfer.
 *   2. reading rows another core wrote: core A adds into R random 64-byte rows of a table (as a
 *      rank's embedding backward does), then core B sums them (as the owner of the rows does); ns
 *      per row for B, against the same read when B itself wrote the rows. Independent loads, so
 *      the core overlaps as many misses as it can: this is the exchange's case, not the latency.
 * Each figure is the median of 9 repetitions. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { REPS = 9, BOUNCES = 200000, TABLE_ROWS = 1 << 17, ROWS = 16384, ROW = 16 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ---- shared state of the two threads -------------------------------------------------- */

static _Atomic long turn __attribute__((aligned(64))); /* whose move it is, and which */
static int cpu_b;
static float *table;   /* [TABLE_ROWS x ROW] */
static int32_t *rows;  /* [ROWS] random row ids */
static volatile float sink;

/* B's side of the bounce: answers BOUNCES odd values with the next even one. */
static void bounce_b(void) {
    for (long i = 0; i < BOUNCES; i++) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&turn, 2 * i + 2, memory_order_release);
    }
}

static double bounce_a(void) {
    atomic_store(&turn, 0);
    const double t0 = now();
    for (long i = 0; i < BOUNCES; i++) {
        atomic_store_explicit(&turn, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 2) {
        }
    }
    return (now() - t0) / BOUNCES / 2 * 1e9;
}

static void write_rows(float v) {
    for (int i = 0; i < ROWS; i++) {
        float *r = table + (size_t)rows[i] * ROW;
        for (int j = 0; j < ROW; j++) r[j] += v;
    }
}

static double read_rows(void) {
    float acc[ROW] = {0};
    const double t0 = now();
    for (int i = 0; i < ROWS; i++) {
        const float *r = table + (size_t)rows[i] * ROW;
        for (int j = 0; j < ROW; j++) acc[j] += r[j];
    }
    const double t = (now() - t0) / ROWS * 1e9;
    float s = 0;
    for (int j = 0; j < ROW; j++) s += acc[j];
    sink = s;
    return t;
}

/* Moves of the second thread, set by the first through `turn` (values above the bounce range). */
enum { MOVE_WRITE = 1L << 40, MOVE_DONE = MOVE_WRITE + 1, MOVE_QUIT = MOVE_WRITE + 2 };

static void *thread_b(void *arg) {
    (void)arg;
    if (pin(cpu_b) != 0) { /* both spinning on one CPU would take hours */
        fprintf(stderr, "bench_cores: cannot pin to CPU %d\n", cpu_b);
        exit(1);
    }
    for (int r = 0; r < REPS; r++) bounce_b();
    for (;;) {
        long m;
        while ((m = atomic_load_explicit(&turn, memory_order_acquire)) != MOVE_WRITE && m != MOVE_QUIT) {
        }
        if (m == MOVE_QUIT) return NULL;
        write_rows(1.0f);
        atomic_store_explicit(&turn, MOVE_DONE, memory_order_release);
    }
}

int main(int argc, char **argv) {
    int cpu_a = -1;
    cpu_b = -1;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
    if (argc == 3) {
        cpu_a = atoi(argv[1]);
        cpu_b = atoi(argv[2]);
        for (int k = 0; k < 2; k++) {
            const int c = k ? cpu_b : cpu_a;
            if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed)) {
                fprintf(stderr, "bench_cores: CPU %s is not one this process may run on\n", argv[1 + k]);
                return 2;
            }
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench_cores [CPU_A CPU_B]\n");
        return 2;
    } else {
        for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; c++)
            if (CPU_ISSET(c, &allowed)) {
                if (cpu_a < 0)
                    cpu_a = c;
                else
                    cpu_b = c;
            }
    }
    if (cpu_a < 0 || cpu_b < 0 || cpu_a == cpu_b) {
        fprintf(stderr, "usage: bench_cores [CPU_A CPU_B]: needs two different CPUs (this process may use fewer)\n");
        return 2;
    }
    if (pin(cpu_a) != 0) {
        fprintf(stderr, "bench_cores: cannot pin to CPU %d\n", cpu_a);
        return 1;
    }
    table = aligned_alloc(64, sizeof(float) * (size_t)TABLE_ROWS * ROW);
    rows = malloc(sizeof(int32_t) * ROWS);
    if (!table || !rows) return 1;
    memset(table, 0, sizeof(float) * (size_t)TABLE_ROWS * ROW);
    uint64_t x = 88172645463325252ull; /* xorshift: distinct random rows */
    unsigned char *used = calloc(TABLE_ROWS, 1);
    for (int i = 0; i < ROWS;) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const int32_t r = (int32_t)(x % TABLE_ROWS);
        if (!used[r]) used[r] = 1, rows[i++] = r;
    }
    free(used);

    pthread_t t;
    atomic_store(&turn, 0);
    if (pthread_create(&t, NULL, thread_b, NULL) != 0) return 1;
    double lat[REPS], other[REPS], own[REPS];
    for (int r = 0; r < REPS; r++) lat[r] = bounce_a();
    for (int r = 0; r < REPS; r++) {
        atomic_store_explicit(&turn, MOVE_WRITE, memory_order_release); /* B writes the rows */
        while (atomic_load_explicit(&turn, memory_order_acquire) != MOVE_DONE) {
        }
        other[r] = read_rows();
        write_rows(1.0f); /* A writes them itself (and takes them back from B) */
        own[r] = read_rows();
    }
    atomic_store_explicit(&turn, MOVE_QUIT, memory_order_release);
    pthread_join(t, NULL);
    const double l = median(lat, REPS), o = median(other, REPS), s = median(own, REPS);
    printf("CPUs %d and %d, medians of %d repetitions:\n", cpu_a, cpu_b, REPS);
    printf("  one cache line, one way between the cores: %7.1f ns\n", l);
    printf("  reading a row another core wrote:           %7.2f ns (%d random rows of %d floats)\n", o, ROWS, ROW);
    printf("  reading a row this core wrote:              %7.2f ns (%.1fx less)\n", s, o / s);
    free(table);
    free(rows);
    return 0;
}
