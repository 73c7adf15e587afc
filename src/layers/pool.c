/* Max over time: each filter's largest response over a document's positions, and where it was. */
#include "layers/layers.h"

void maxtime_forward(float *restrict out, int32_t *restrict arg, const float *restrict y, int64_t P, int64_t F) {
    for (int64_t f = 0; f < F; f++) {
        out[f] = y[f];
        arg[f] = 0;
    }
    for (int64_t t = 1; t < P; t++) {
        const float *restrict row = y + t * F;
        for (int64_t f = 0; f < F; f++)
            if (row[f] > out[f]) { /* strictly: the first position wins ties */
                out[f] = row[f];
                arg[f] = (int32_t)t;
            }
    }
}

void maxtime_update(float *restrict out, int32_t *restrict arg, const float *restrict y, int64_t P, int64_t F,
                    int64_t t0) {
    for (int64_t t = 0; t < P; t++) {
        const float *restrict row = y + t * F;
        for (int64_t f = 0; f < F; f++)
            if (row[f] > out[f]) {
                out[f] = row[f];
                arg[f] = (int32_t)(t0 + t);
            }
    }
}

void maxtime_backward(float *dy, const float *dout, const int32_t *arg, int64_t P, int64_t F) {
    for (int64_t f = 0; f < F; f++)
        if (arg[f] >= 0 && arg[f] < P) dy[(int64_t)arg[f] * F + f] += dout[f];
}
