/* GELU, the exact form: x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (no BLAS). */
#include <math.h>

#include "layers/layers.h"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

void gelu_forward(float *restrict out, const float *restrict inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double x = inp[i];
        out[i] = (float)(0.5 * x * (1.0 + erf(x * INV_SQRT2)));
    }
}

void gelu_backward(float *restrict dinp, const float *restrict dout, const float *restrict inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double x = inp[i];
        const double d = 0.5 * (1.0 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
        dinp[i] = (float)(dout[i] * d);
    }
}
