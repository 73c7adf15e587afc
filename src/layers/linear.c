/* Fully connected layer through OpenBLAS sgemm (row-major), plus plain-loop references.
 * The only file that calls BLAS; callers keep BLAS at one thread inside their OpenMP regions. */
#include <cblas.h>
/* OpenBLAS' cblas.h pulls in <complex.h>, whose macro I would clash with our dimension names. */
#undef I

#include "layers/layers.h"

/* out [B x O] = inp [B x I] W^T [I x O] + b [O] */
void linear_blas_single_thread(void) { openblas_set_num_threads(1); }

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
