/* Exact fixed-point gradient sums for `train --deterministic`.
 * A float value v is held as the int64 round-to-nearest-even(v * 2^TCD_FIX_SHIFT). Integer addition
 * is associative, so a sum of such values has the same bits however the terms are split over
 * threads, chunks or MPI ranks (MPI_SUM on MPI_INT64_T is exact), and in any order.
 *
 * Shift 40: resolution 2^-40 ~ 9.1e-13 (far below a float ulp of typical gradient sums, ~1e-10
 * at 1e-3), range +-2^23 ~ 8.4e6 in an int64. Single values are limited to |v| < 2^22
 * (|v * 2^40| < TCD_FIX_LIMIT = 2^62), which leaves a factor 2 of headroom for rounding. */
#ifndef TCD_FIXEDPOINT_H
#define TCD_FIXEDPOINT_H

#include <math.h>
#include <stdint.h>

#define TCD_FIX_SHIFT 40
#define TCD_FIX_ONE 0x1p40    /* 2^TCD_FIX_SHIFT as a double */
#define TCD_FIX_LIMIT 0x1p62  /* largest magnitude (exclusive) of one value, in fixed units */

/* x is already in fixed units (v * 2^40, computed in double: exact for any float v). Rounds to
 * nearest, ties to even: the same as llrint(x) in the default rounding mode, but inline (glibc's
 * llrint is a library call under -fmath-errno). Adding 2^52 to a in [0, 2^52) leaves a sum in
 * [2^52, 2^53), whose ulp is 1, so the addition itself rounds a to an integer (ties to the even
 * sum, and 2^52 is even); from 2^52 on, doubles are integers already. Values the caller will
 * reject (not finite or not below TCD_FIX_LIMIT) give 0 rather than an undefined conversion. */
static inline int64_t tcd_fix_round(double x) {
    double a = fabs(x);
    if (!(a < TCD_FIX_LIMIT)) a = 0.0;
    const double r = a < 0x1p52 ? (a + 0x1p52) - 0x1p52 : a;
    const int64_t i = (int64_t)r;
    return x < 0.0 ? -i : i;
}

/* out[i] = fixed(x[i]). Returns -1 (out unspecified from that point) at the first value that is
 * not finite or not below 2^22 in magnitude, writing its index into *bad_index when not NULL;
 * else 0. */
int tcd_float_to_fixed(int64_t *out, const float *x, int64_t n, int64_t *bad_index);
/* out[i] = (float)(acc[i] * 2^-40): in double, rounded once to float (the int64 -> double step is
 * exact below 2^53, i.e. |v| < 8192). Elementwise, threads split by index. */
void tcd_fixed_to_float(float *out, const int64_t *acc, int64_t n, int n_threads);
/* The same, and acc is zeroed as it is read: saves a separate pass over the accumulator each step. */
void tcd_fixed_to_float_zero(float *out, int64_t *acc, int64_t n, int n_threads);
/* acc[0..n) = 0 with threads (the accumulator is as large as the embedding table). */
void tcd_fixed_zero(int64_t *acc, int64_t n, int n_threads);

#endif
