/* A document's token vectors as a sequence [L x D], zero-padded to Lp rows, and the row-sparse
 * gradient back into the table (threads own row ranges; each row's sum runs in document and
 * position order whatever the thread count). */
#include <string.h>

#include "layers/layers.h"

void embedding_seq_forward(float *restrict out, const float *restrict emb, const int32_t *restrict tokens, int64_t L,
                           int64_t Lp, int64_t D) {
    for (int64_t i = 0; i < L; i++) memcpy(out + i * D, emb + (int64_t)tokens[i] * D, (size_t)D * sizeof(float));
    if (Lp > L) memset(out + L * D, 0, (size_t)((Lp - L) * D) * sizeof(float));
}

void embedding_seq_backward(float *restrict demb, const float *restrict dx, const int64_t *restrict xrow,
                            const int64_t *restrict lens, const int32_t *restrict tokens,
                            const int64_t *restrict offsets, int64_t B, int64_t D, int64_t row_lo, int64_t row_hi) {
    const int64_t base = offsets[0];
    const uint64_t span = (uint64_t)(row_hi - row_lo);
    if (row_hi <= row_lo) return;
    for (int64_t b = 0; b < B; b++) {
        const int32_t *restrict tok = tokens + (offsets[b] - base);
        const float *restrict g0 = dx + (xrow[b] - xrow[0]) * D;
        for (int64_t i = 0; i < lens[b]; i++) {
            const int64_t t = tok[i];
            if ((uint64_t)(t - row_lo) >= span) continue; /* another thread's row */
            float *restrict row = demb + t * D;
            const float *restrict g = g0 + i * D;
            for (int64_t d = 0; d < D; d++) row[d] += g[d];
        }
    }
}

void embedding_seq_backward_fixed(int64_t *restrict acc, const int64_t *restrict fx, const int64_t *restrict xrow,
                                  const int64_t *restrict lens, const int32_t *restrict tokens,
                                  const int64_t *restrict offsets, int64_t B, int64_t D, int64_t row_lo,
                                  int64_t row_hi) {
    const int64_t base = offsets[0];
    const uint64_t span = (uint64_t)(row_hi - row_lo);
    if (row_hi <= row_lo) return;
    for (int64_t b = 0; b < B; b++) {
        const int32_t *restrict tok = tokens + (offsets[b] - base);
        const int64_t *restrict g0 = fx + (xrow[b] - xrow[0]) * D;
        for (int64_t i = 0; i < lens[b]; i++) {
            const int64_t t = tok[i];
            if ((uint64_t)(t - row_lo) >= span) continue;
            int64_t *restrict row = acc + t * D;
            const int64_t *restrict g = g0 + i * D;
            for (int64_t d = 0; d < D; d++) row[d] += g[d];
        }
    }
}
