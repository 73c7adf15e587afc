/* Layer normalisation over the last dimension (no BLAS): each row's mean and variance in double,
 * summed in element order, so a row's result depends on nothing else. */
#include <math.h>

#include "layers/layers.h"

void layernorm_forward(float *restrict out, float *restrict mean, float *restrict rstd, const float *restrict inp,
                       const float *restrict g, const float *restrict b, int64_t N, int64_t D) {
    for (int64_t r = 0; r < N; r++) {
        const float *restrict x = inp + r * D;
        double s = 0.0;
        for (int64_t j = 0; j < D; j++) s += x[j];
        const double mu = s / (double)D;
        double v = 0.0;
        for (int64_t j = 0; j < D; j++) v += (x[j] - mu) * (x[j] - mu);
        const float m = (float)mu, rs = (float)(1.0 / sqrt(v / (double)D + LAYERNORM_EPS));
        mean[r] = m;
        rstd[r] = rs;
        float *restrict o = out + r * D;
        for (int64_t j = 0; j < D; j++) o[j] = (x[j] - m) * rs * g[j] + b[j];
    }
}

void layernorm_backward(float *restrict dinp, float *restrict dg, float *restrict db, const float *restrict dout,
                        const float *restrict inp, const float *restrict g, const float *restrict mean,
                        const float *restrict rstd, int64_t N, int64_t D) {
    for (int64_t r = 0; r < N; r++) {
        const float *restrict x = inp + r * D, *restrict dy = dout + r * D;
        const float m = mean[r], rs = rstd[r];
        double s1 = 0.0, s2 = 0.0; /* mean of dxhat and of dxhat * xhat */
        for (int64_t j = 0; j < D; j++) {
            const float xh = (x[j] - m) * rs, dxh = dy[j] * g[j];
            s1 += dxh;
            s2 += (double)dxh * xh;
            dg[j] += dy[j] * xh;
            db[j] += dy[j];
        }
        const float a = (float)(s1 / (double)D), c = (float)(s2 / (double)D);
        float *restrict dx = dinp + r * D;
        for (int64_t j = 0; j < D; j++) {
            const float xh = (x[j] - m) * rs;
            dx[j] += rs * (dy[j] * g[j] - a - xh * c);
        }
    }
}
