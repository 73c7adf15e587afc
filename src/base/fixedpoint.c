/* Conversions between float and the int64 fixed point of fixedpoint.h. */
#include "base/fixedpoint.h"

#include <string.h>

int tcd_float_to_fixed(int64_t *out, const float *x, int64_t n, int64_t *bad_index) {
    for (int64_t i = 0; i < n; i++) {
        const double v = (double)x[i] * TCD_FIX_ONE;
        if (!(fabs(v) < TCD_FIX_LIMIT)) { /* also catches NaN */
            if (bad_index) *bad_index = i;
            return -1;
        }
        out[i] = tcd_fix_round(v);
    }
    return 0;
}

void tcd_fixed_to_float(float *out, const int64_t *acc, int64_t n, int n_threads) {
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] = (float)((double)acc[i] * (1.0 / TCD_FIX_ONE));
}

void tcd_fixed_to_float_zero(float *out, int64_t *acc, int64_t n, int n_threads) {
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        out[i] = (float)((double)acc[i] * (1.0 / TCD_FIX_ONE));
        acc[i] = 0;
    }
}

void tcd_fixed_zero(int64_t *acc, int64_t n, int n_threads) {
    const int64_t blk = 1 << 15, n_blk = (n + blk - 1) / blk;
    if (n_threads < 1) n_threads = 1;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_blk > 1)
    for (int64_t k = 0; k < n_blk; k++) {
        const int64_t lo = k * blk, hi = lo + blk < n ? lo + blk : n;
        memset(acc + lo, 0, (size_t)(hi - lo) * sizeof(int64_t));
    }
}
