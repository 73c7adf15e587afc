/* Multi-head self-attention of one sequence over all its positions (no mask: the transformer
 * gives each document its own length). QK^T and PV through OpenBLAS sgemm, on strided views of the
 * packed [L x 3D] projections; plain-loop references for the tests, --deterministic and inference. */
#include <cblas.h>
#undef I
#include <math.h>
#include <string.h>

#include "layers/layers.h"

/* row [L] <- softmax(row) */
static void softmax_row(float *restrict row, int64_t L) {
    float mx = row[0];
    for (int64_t j = 1; j < L; j++) mx = row[j] > mx ? row[j] : mx;
    double s = 0.0;
    for (int64_t j = 0; j < L; j++) {
        row[j] = expf(row[j] - mx);
        s += row[j];
    }
    const float inv = (float)(1.0 / s);
    for (int64_t j = 0; j < L; j++) row[j] *= inv;
}

/* ds [L] <- P * (dp - sum(dp * P)) * scale, in place on dp */
static void softmax_row_backward(float *restrict dp, const float *restrict P, int64_t L, float scale) {
    double s = 0.0;
    for (int64_t j = 0; j < L; j++) s += (double)dp[j] * P[j];
    const float sf = (float)s;
    for (int64_t j = 0; j < L; j++) dp[j] = P[j] * (dp[j] - sf) * scale;
}

void attention_forward(float *out, float *att, const float *qkv, int64_t L, int64_t D, int64_t H) {
    const int64_t dh = D / H, ld = 3 * D;
    const float scale = (float)(1.0 / sqrt((double)dh));
    for (int64_t h = 0; h < H; h++) {
        float *P = att + h * L * L;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)L, (blasint)L, (blasint)dh, scale,
                    qkv + h * dh, (blasint)ld, qkv + D + h * dh, (blasint)ld, 0.0f, P, (blasint)L);
        for (int64_t i = 0; i < L; i++) softmax_row(P + i * L, L);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)L, (blasint)dh, (blasint)L, 1.0f, P,
                    (blasint)L, qkv + 2 * D + h * dh, (blasint)ld, 0.0f, out + h * dh, (blasint)D);
    }
}

void attention_backward(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att, int64_t L,
                        int64_t D, int64_t H) {
    const int64_t dh = D / H, ld = 3 * D;
    const float scale = (float)(1.0 / sqrt((double)dh));
    for (int64_t h = 0; h < H; h++) {
        const float *P = att + h * L * L;
        /* dV = P^T dO */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)L, (blasint)dh, (blasint)L, 1.0f, P,
                    (blasint)L, dout + h * dh, (blasint)D, 0.0f, dqkv + 2 * D + h * dh, (blasint)ld);
        /* dP = dO V^T, then dS */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)L, (blasint)L, (blasint)dh, 1.0f,
                    dout + h * dh, (blasint)D, qkv + 2 * D + h * dh, (blasint)ld, 0.0f, dp, (blasint)L);
        for (int64_t i = 0; i < L; i++) softmax_row_backward(dp + i * L, P + i * L, L, scale);
        /* dQ = dS K, dK = dS^T Q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)L, (blasint)dh, (blasint)L, 1.0f, dp,
                    (blasint)L, qkv + D + h * dh, (blasint)ld, 0.0f, dqkv + h * dh, (blasint)ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)L, (blasint)dh, (blasint)L, 1.0f, dp,
                    (blasint)L, qkv + h * dh, (blasint)ld, 0.0f, dqkv + D + h * dh, (blasint)ld);
    }
}

void attention_forward_ref(float *out, float *att, const float *qkv, int64_t L, int64_t D, int64_t H) {
    const int64_t dh = D / H, ld = 3 * D;
    const float scale = (float)(1.0 / sqrt((double)dh));
    for (int64_t h = 0; h < H; h++) {
        float *P = att + h * L * L;
        for (int64_t i = 0; i < L; i++) {
            const float *q = qkv + i * ld + h * dh;
            for (int64_t j = 0; j < L; j++) {
                const float *k = qkv + j * ld + D + h * dh;
                float s = 0.0f;
                for (int64_t e = 0; e < dh; e++) s += q[e] * k[e];
                P[i * L + j] = s * scale;
            }
            softmax_row(P + i * L, L);
            float *o = out + i * D + h * dh;
            for (int64_t e = 0; e < dh; e++) o[e] = 0.0f;
            for (int64_t j = 0; j < L; j++) {
                const float pj = P[i * L + j], *v = qkv + j * ld + 2 * D + h * dh;
                for (int64_t e = 0; e < dh; e++) o[e] += pj * v[e];
            }
        }
    }
}

void attention_backward_ref(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att,
                            int64_t L, int64_t D, int64_t H) {
    const int64_t dh = D / H, ld = 3 * D;
    const float scale = (float)(1.0 / sqrt((double)dh));
    for (int64_t i = 0; i < L; i++) memset(dqkv + i * ld, 0, (size_t)ld * sizeof(float));
    for (int64_t h = 0; h < H; h++) {
        const float *P = att + h * L * L;
        for (int64_t i = 0; i < L; i++) {
            const float *go = dout + i * D + h * dh;
            for (int64_t j = 0; j < L; j++) {
                const float *v = qkv + j * ld + 2 * D + h * dh;
                float *dv = dqkv + j * ld + 2 * D + h * dh;
                const float pij = P[i * L + j];
                float s = 0.0f;
                for (int64_t e = 0; e < dh; e++) {
                    s += go[e] * v[e];
                    dv[e] += pij * go[e];
                }
                dp[j] = s;
            }
            softmax_row_backward(dp, P + i * L, L, scale);
            const float *q = qkv + i * ld + h * dh;
            float *dq = dqkv + i * ld + h * dh;
            for (int64_t j = 0; j < L; j++) {
                const float *k = qkv + j * ld + D + h * dh;
                float *dk = dqkv + j * ld + D + h * dh;
                const float g = dp[j];
                for (int64_t e = 0; e < dh; e++) {
                    dq[e] += g * k[e];
                    dk[e] += g * q[e];
                }
            }
        }
    }
}
