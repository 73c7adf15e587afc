/* linear_forward/backward (OpenBLAS) against the plain-loop references on random shapes. */
#include "check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layers.h"

static uint64_t rng_state = 99;
static float frand(void) { /* splitmix64 -> [-1, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / 8388608.0 - 1.0);
}

static float *rand_buf(int64_t n) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

/* |a - b| within 1e-5 of the magnitude `mag` of the terms that were summed (so that cancellation
 * in a dot product does not make a correct result look wrong). */
static int close_rel(float a, float b, double mag) { return fabs((double)a - b) <= 1e-5 * fmax(mag, 1e-30); }

static int bad_count;
static void expect(int ok, const char *what, int64_t i, float a, float b) {
    if (ok) return;
    if (bad_count++ < 10) fprintf(stderr, "  %s[%lld]: blas %.9g ref %.9g\n", what, (long long)i, a, b);
}

static void check_shape(int64_t B, int64_t I, int64_t O) {
    float *inp = rand_buf(B * I), *W = rand_buf(O * I), *b = rand_buf(O), *dout = rand_buf(B * O);
    float *out = rand_buf(B * O), *out_ref = rand_buf(B * O);
    linear_forward(out, inp, W, b, B, I, O);
    linear_forward_ref(out_ref, inp, W, b, B, I, O);
    /* linear_forward_rows: the reference bit for bit, and each row alone gives the same bits */
    float *out_rows = rand_buf(B * O), *one = rand_buf(O);
    linear_forward_rows(out_rows, inp, W, b, B, I, O);
    for (int64_t r = 0; r < B; r++) {
        linear_forward_rows(one, inp + r * I, W, b, 1, I, O);
        for (int64_t j = 0; j < O; j++) {
            expect(memcmp(&out_rows[r * O + j], &out_ref[r * O + j], sizeof(float)) == 0, "rows vs ref", r * O + j,
                   out_rows[r * O + j], out_ref[r * O + j]);
            expect(memcmp(&one[j], &out_rows[r * O + j], sizeof(float)) == 0, "row alone vs in batch", r * O + j,
                   one[j], out_rows[r * O + j]);
        }
    }
    free(out_rows);
    free(one);
    for (int64_t r = 0; r < B; r++)
        for (int64_t j = 0; j < O; j++) {
            double mag = fabs(b[j]);
            for (int64_t k = 0; k < I; k++) mag += fabs((double)inp[r * I + k] * W[j * I + k]);
            expect(close_rel(out[r * O + j], out_ref[r * O + j], mag), "forward", r * O + j, out[r * O + j],
                   out_ref[r * O + j]);
        }
    /* backward: dinp overwritten (start from garbage), dW and db accumulate onto nonzero values */
    float *dinp = rand_buf(B * I), *dinp_ref = rand_buf(B * I);
    float *dW = rand_buf(O * I), *db = rand_buf(O);
    float *dW_ref = malloc((size_t)(O * I) * sizeof(float)), *db_ref = malloc((size_t)O * sizeof(float));
    memcpy(dW_ref, dW, (size_t)(O * I) * sizeof(float));
    memcpy(db_ref, db, (size_t)O * sizeof(float));
    linear_backward(dinp, dW, db, dout, inp, W, B, I, O);
    linear_backward_ref(dinp_ref, dW_ref, db_ref, dout, inp, W, B, I, O);
    for (int64_t r = 0; r < B; r++)
        for (int64_t k = 0; k < I; k++) {
            double mag = 0;
            for (int64_t j = 0; j < O; j++) mag += fabs((double)dout[r * O + j] * W[j * I + k]);
            expect(close_rel(dinp[r * I + k], dinp_ref[r * I + k], mag), "dinp", r * I + k, dinp[r * I + k],
                   dinp_ref[r * I + k]);
        }
    for (int64_t j = 0; j < O; j++) {
        for (int64_t k = 0; k < I; k++) {
            double mag = 1.0; /* the initial value is within [-1, 1) */
            for (int64_t r = 0; r < B; r++) mag += fabs((double)dout[r * O + j] * inp[r * I + k]);
            expect(close_rel(dW[j * I + k], dW_ref[j * I + k], mag), "dW", j * I + k, dW[j * I + k],
                   dW_ref[j * I + k]);
        }
        expect(close_rel(db[j], db_ref[j], 1.0 + B), "db", j, db[j], db_ref[j]);
    }
    /* dinp == NULL skips the input gradient but still accumulates dW, db */
    float *dW2 = malloc((size_t)(O * I) * sizeof(float)), *db2 = calloc((size_t)O, sizeof(float));
    memset(dW2, 0, (size_t)(O * I) * sizeof(float));
    linear_backward(NULL, dW2, db2, dout, inp, W, B, I, O);
    for (int64_t j = 0; j < O; j++) {
        double ref = 0;
        for (int64_t r = 0; r < B; r++) ref += dout[r * O + j];
        expect(fabs(db2[j] - ref) <= 1e-5 * B, "db (dinp NULL)", j, db2[j], (float)ref);
    }
    for (int64_t q = 0; q < O * I; q++) {
        double mag = 0;
        int64_t j = q / I, k = q % I;
        for (int64_t r = 0; r < B; r++) mag += fabs((double)dout[r * O + j] * inp[r * I + k]);
        double ref = 0;
        for (int64_t r = 0; r < B; r++) ref += (double)dout[r * O + j] * inp[r * I + k];
        expect(fabs(dW2[q] - ref) <= 1e-5 * fmax(mag, 1e-30), "dW (dinp NULL)", q, dW2[q], (float)ref);
    }
    free(inp), free(W), free(b), free(dout), free(out), free(out_ref), free(dinp), free(dinp_ref);
    free(dW), free(db), free(dW_ref), free(db_ref), free(dW2), free(db2);
}

int main(void) {
    const int64_t shapes[][3] = {{1, 1, 1},  {3, 4, 5},   {64, 16, 16}, {17, 33, 1}, {50, 7, 9},
                                 {64, 300, 4}, {5, 1, 8}, {2, 128, 64}, {64, 16, 1}, {31, 5, 100}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) check_shape(shapes[s][0], shapes[s][1], shapes[s][2]);
    for (int t = 0; t < 20; t++) { /* random shapes */
        int64_t B = 1 + (int64_t)((frand() + 1) * 40), I = 1 + (int64_t)((frand() + 1) * 60),
                O = 1 + (int64_t)((frand() + 1) * 20);
        check_shape(B, I, O);
    }
    printf("linear vs reference: %d mismatches\n", bad_count);
    return bad_count == 0 ? 0 : 1;
}
