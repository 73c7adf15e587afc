/* Fully connected layer through OpenBLAS sgemm (row-major), plus plain-loop references and the
 * fixed-point gradient of --deterministic. The only file that calls BLAS; callers keep BLAS at one
 * thread inside their OpenMP regions. */
#include <cblas.h>
/* OpenBLAS' cblas.h pulls in <complex.h>, whose macro I would clash with our dimension names. */
#undef I
#include <math.h>
#include <stdlib.h>

#include "base/fixedpoint.h"
#include "base/util.h"
#include "layers/layers.h"

void linear_blas_single_thread(void) { openblas_set_num_threads(1); }

/* out [B x O] = inp [B x I] W^T [I x O] + b [O] */
void linear_forward(float *out, const float *inp, const float *W, const float *b, int64_t B, int64_t I,
                    int64_t O) {
    if (B <= 0 || O <= 0) return;
    for (int64_t r = 0; r < B; r++) {
        float *restrict o = out + r * O;
        for (int64_t j = 0; j < O; j++) o[j] = b ? b[j] : 0.0f;
    }
    if (I <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)B, (blasint)O, (blasint)I, 1.0f, inp,
                (blasint)I, W, (blasint)I, 1.0f, out, (blasint)O);
}

/* dinp [B x I] = dout [B x O] W [O x I]; dW [O x I] += dout^T inp; db [O] += column sums of dout */
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W,
                     int64_t B, int64_t I, int64_t O) {
    if (B <= 0) return;
    if (dinp) {
        if (O > 0 && I > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)B, (blasint)I, (blasint)O, 1.0f,
                        dout, (blasint)O, W, (blasint)I, 0.0f, dinp, (blasint)I);
        else
            for (int64_t k = 0; k < B * I; k++) dinp[k] = 0.0f;
    }
    if (dW && O > 0 && I > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)O, (blasint)I, (blasint)B, 1.0f, dout,
                    (blasint)O, inp, (blasint)I, 1.0f, dW, (blasint)I);
    if (db)
        for (int64_t r = 0; r < B; r++) {
            const float *restrict g = dout + r * O;
            float *restrict acc = db;
            for (int64_t j = 0; j < O; j++) acc[j] += g[j];
        }
}

void linear_forward_rows(float *out, const float *inp, const float *W, const float *b, int64_t B, int64_t I,
                         int64_t O) {
    if (B <= 0 || O <= 0) return;
    float stack_wt[4096];
    float *wt = I * O <= 4096 ? stack_wt : tcd_malloc(sizeof(float) * (size_t)(I * O)); /* W^T [I x O] */
    for (int64_t j = 0; j < O; j++)
        for (int64_t k = 0; k < I; k++) wt[k * O + j] = W[j * I + k];
    for (int64_t r = 0; r < B; r++) {
        float *restrict o = out + r * O;
        const float *restrict x = inp + r * I;
        for (int64_t j = 0; j < O; j++) o[j] = b ? b[j] : 0.0f;
        for (int64_t k = 0; k < I; k++) {
            const float xk = x[k];
            const float *restrict w = wt + k * O;
            for (int64_t j = 0; j < O; j++) o[j] += xk * w[j];
        }
    }
    if (wt != stack_wt) free(wt);
}

void linear_forward_ref(float *out, const float *inp, const float *W, const float *b, int64_t B, int64_t I,
                        int64_t O) {
    for (int64_t r = 0; r < B; r++)
        for (int64_t j = 0; j < O; j++) {
            float s = b ? b[j] : 0.0f;
            for (int64_t k = 0; k < I; k++) s += inp[r * I + k] * W[j * I + k];
            out[r * O + j] = s;
        }
}

void linear_backward_ref(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                         const float *W, int64_t B, int64_t I, int64_t O) {
    for (int64_t r = 0; r < B; r++) {
        if (dinp)
            for (int64_t k = 0; k < I; k++) {
                float s = 0.0f;
                for (int64_t j = 0; j < O; j++) s += dout[r * O + j] * W[j * I + k];
                dinp[r * I + k] = s;
            }
        for (int64_t j = 0; j < O; j++) {
            const float g = dout[r * O + j];
            if (dW)
                for (int64_t k = 0; k < I; k++) dW[j * I + k] += g * inp[r * I + k];
            if (db) db[j] += g;
        }
    }
}

/* One document's weight and bias gradients in fixed point: dW [O x I] += fixed(dout[o] * inp[i])
 * and db [O] += fixed(dout[o]), each a float product converted on its own. Returns 1 when some
 * contribution is not finite or reaches lim (fixed units), else 0. */
int linear_backward_fixed(int64_t *restrict dW, int64_t *restrict db, const float *restrict dout,
                          const float *restrict inp, int64_t I, int64_t O, double lim) {
    int bad = 0;
    for (int64_t o = 0; o < O; o++) {
        const float g = dout[o];
        const double xb = (double)g * TCD_FIX_ONE;
        bad |= !(fabs(xb) < lim);
        db[o] += tcd_fix_round(xb);
        if (g == 0.0f) continue; /* a zero row adds exact zeros (e.g. an inactive ReLU unit) */
        int64_t *restrict w = dW + o * I;
        for (int64_t i = 0; i < I; i++) {
            const double x = (double)(g * inp[i]) * TCD_FIX_ONE;
            bad |= !(fabs(x) < lim);
            w[i] += tcd_fix_round(x);
        }
    }
    return bad;
}
