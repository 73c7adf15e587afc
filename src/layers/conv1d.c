/* 1-D convolution over a document's sequence of token vectors: im2col (row t of the column matrix
 * is the window x[t .. t+w) flattened, which the row-major x already stores contiguously) and one
 * sgemm through linear.c; a BLAS-free kernel vectorised across filters (--deterministic,
 * inference); plain-loop references; the max-pooled backward, which needs only the
 * argmax position of each filter, and its fixed-point variant for --deterministic. */
#include <math.h>
#include <string.h>

#include "base/fixedpoint.h"
#include "layers/layers.h"

/* col [P x w*D]: row t = x[t*D .. (t+w)*D) */
static void im2col(float *restrict col, const float *restrict x, int64_t P, int64_t D, int64_t w) {
    const size_t row = (size_t)(w * D) * sizeof(float);
    for (int64_t t = 0; t < P; t++) memcpy(col + t * w * D, x + t * D, row);
}

void conv1d_forward(float *out, float *col, const float *x, const float *W, const float *b, int64_t L, int64_t D,
                    int64_t w, int64_t F) {
    const int64_t P = L - w + 1;
    if (P <= 0) return;
    im2col(col, x, P, D, w);
    linear_forward(out, col, W, b, P, w * D, F);
}

void conv1d_forward_seqs(float *out, float *col, const float *x, const int64_t *rows, int64_t n, int64_t trim,
                         const float *W, const float *b, int64_t D, int64_t w, int64_t F) {
    int64_t P = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t Pi = rows[i + 1] - rows[i] - 2 * trim - w + 1;
        if (Pi <= 0) continue;
        im2col(col + P * w * D, x + (rows[i] - rows[0] + trim) * D, Pi, D, w);
        P += Pi;
    }
    if (P > 0) linear_forward(out, col, W, b, P, w * D, F);
}

void conv1d_backward(float *dx, float *dW, float *db, float *col, const float *dout, const float *x, const float *W,
                     int64_t L, int64_t D, int64_t w, int64_t F) {
    const int64_t P = L - w + 1, K = w * D;
    if (P <= 0) return;
    im2col(col, x, P, D, w);
    linear_backward(NULL, dW, db, dout, col, W, P, K, F);
    if (!dx) return;
    /* dcol = dout W [P x w*D] (into col, which is no longer needed), then col2im */
    linear_backward(col, NULL, NULL, dout, col, W, P, K, F);
    for (int64_t t = 0; t < P; t++) {
        const float *restrict g = col + t * K;
        float *restrict o = dx + t * D;
        for (int64_t k = 0; k < K; k++) o[k] += g[k];
    }
}

void conv1d_transpose(float *restrict Wt, const float *restrict W, int64_t F, int64_t K) {
    for (int64_t f = 0; f < F; f++)
        for (int64_t k = 0; k < K; k++) Wt[k * F + f] = W[f * K + k];
}

/* Positions go in blocks of 4, which share each load of a row of Wt; every output still gets its
 * bias and then its products in window order, so a position's result does not depend on the block. */
void conv1d_forward_rows(float *out, const float *x, const float *Wt, const float *b, int64_t L, int64_t D, int64_t w,
                         int64_t F) {
    const int64_t K = w * D, P = L - w + 1;
    int64_t t = 0;
    for (; t + 4 <= P; t += 4) {
        float *restrict o0 = out + t * F, *restrict o1 = o0 + F, *restrict o2 = o1 + F, *restrict o3 = o2 + F;
        const float *restrict x0 = x + t * D; /* the windows x[t+i .. t+i+w), contiguous */
        for (int64_t f = 0; f < F; f++) o0[f] = o1[f] = o2[f] = o3[f] = b ? b[f] : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float a0 = x0[k], a1 = x0[k + D], a2 = x0[k + 2 * D], a3 = x0[k + 3 * D];
            const float *restrict wk = Wt + k * F;
            for (int64_t f = 0; f < F; f++) {
                o0[f] += a0 * wk[f];
                o1[f] += a1 * wk[f];
                o2[f] += a2 * wk[f];
                o3[f] += a3 * wk[f];
            }
        }
    }
    for (; t < P; t++) {
        float *restrict o = out + t * F;
        const float *restrict xt = x + t * D;
        for (int64_t f = 0; f < F; f++) o[f] = b ? b[f] : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float xk = xt[k];
            const float *restrict wk = Wt + k * F;
            for (int64_t f = 0; f < F; f++) o[f] += xk * wk[f];
        }
    }
}

void conv1d_forward_ref(float *out, const float *x, const float *W, const float *b, int64_t L, int64_t D, int64_t w,
                        int64_t F) {
    for (int64_t t = 0; t + w <= L; t++)
        for (int64_t f = 0; f < F; f++) {
            float s = b ? b[f] : 0.0f;
            for (int64_t j = 0; j < w; j++)
                for (int64_t d = 0; d < D; d++) s += W[f * w * D + j * D + d] * x[(t + j) * D + d];
            out[t * F + f] = s;
        }
}

void conv1d_backward_ref(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W, int64_t L,
                         int64_t D, int64_t w, int64_t F) {
    for (int64_t t = 0; t + w <= L; t++)
        for (int64_t f = 0; f < F; f++) {
            const float g = dout[t * F + f];
            if (db) db[f] += g;
            for (int64_t j = 0; j < w; j++)
                for (int64_t d = 0; d < D; d++) {
                    if (dW) dW[f * w * D + j * D + d] += g * x[(t + j) * D + d];
                    if (dx) dx[(t + j) * D + d] += g * W[f * w * D + j * D + d];
                }
        }
}

void conv1d_maxpool_backward(float *dx, float *dW, float *db, const float *dpool, const int32_t *arg, const float *x,
                             const float *W, int64_t D, int64_t w, int64_t F) {
    const int64_t K = w * D;
    for (int64_t f = 0; f < F; f++) {
        const float g = dpool[f];
        if (db) db[f] += g;
        if (g == 0.0f) continue; /* an inactive or dropped unit adds nothing */
        const int64_t t = arg[f];
        if (dW) {
            float *restrict o = dW + f * K;
            const float *restrict xi = x + t * D;
            for (int64_t k = 0; k < K; k++) o[k] += g * xi[k];
        }
        if (dx) {
            float *restrict o = dx + t * D;
            const float *restrict wf = W + f * K;
            for (int64_t k = 0; k < K; k++) o[k] += g * wf[k];
        }
    }
}

int conv1d_maxpool_backward_fixed(int64_t *restrict dW, int64_t *restrict db, const float *restrict dpool,
                                  const int32_t *restrict arg, const float *restrict x, int64_t D, int64_t w,
                                  int64_t F, double lim) {
    const int64_t K = w * D;
    int bad = 0;
    for (int64_t f = 0; f < F; f++) {
        const float g = dpool[f];
        const double xb = (double)g * TCD_FIX_ONE;
        bad |= !(fabs(xb) < lim);
        db[f] += tcd_fix_round(xb);
        if (g == 0.0f) continue;
        int64_t *restrict o = dW + f * K;
        const float *restrict xi = x + (int64_t)arg[f] * D;
        for (int64_t k = 0; k < K; k++) {
            const double v = (double)(g * xi[k]) * TCD_FIX_ONE;
            bad |= !(fabs(v) < lim);
            o[k] += tcd_fix_round(v);
        }
    }
    return bad;
}
