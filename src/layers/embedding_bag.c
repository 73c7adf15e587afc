/* Mean-of-embeddings ("bag") layer. The inner loops run over D with restrict pointers so that the
 * compiler vectorises them; the mean multiplies by 1/len (one division per document). */
#include <string.h>

#include "layers/layers.h"

/* out [B x D], emb [V x D]; document b is tokens[offsets[b] - offsets[0] .. offsets[b+1] - offsets[0]). */
void embedding_bag_forward(float *restrict out, const float *restrict emb, const int32_t *restrict tokens,
                           const int64_t *restrict offsets, int64_t B, int64_t D) {
    const int64_t base = offsets[0];
    for (int64_t b = 0; b < B; b++) {
        float *restrict o = out + b * D;
        const int64_t lo = offsets[b] - base, hi = offsets[b + 1] - base;
        for (int64_t d = 0; d < D; d++) o[d] = 0.0f;
        if (hi <= lo) continue; /* empty document: zero row */
        for (int64_t i = lo; i < hi; i++) {
            const float *restrict row = emb + (int64_t)tokens[i] * D;
            for (int64_t d = 0; d < D; d++) o[d] += row[d];
        }
        const float inv_len = 1.0f / (float)(hi - lo);
        for (int64_t d = 0; d < D; d++) o[d] *= inv_len;
    }
}

/* demb [V x D] += dout[b] * (1/len(b)) for each token of b whose id lies in [row_lo, row_hi).
 * Every thread scans all tokens in document order, so each row's sum has one fixed order. */
void embedding_bag_backward(float *restrict demb, const float *restrict dout, const int32_t *restrict tokens,
                            const int64_t *restrict offsets, int64_t B, int64_t D, int64_t row_lo,
                            int64_t row_hi) {
    const int64_t base = offsets[0];
    const uint64_t span = (uint64_t)(row_hi - row_lo);
    if (row_hi <= row_lo) return;
    for (int64_t b = 0; b < B; b++) {
        const int64_t lo = offsets[b] - base, hi = offsets[b + 1] - base;
        if (hi <= lo) continue;
        const float inv_len = 1.0f / (float)(hi - lo);
        const float *restrict g = dout + b * D;
        for (int64_t i = lo; i < hi; i++) {
            const int64_t t = tokens[i];
            if ((uint64_t)(t - row_lo) >= span) continue; /* another thread's row */
            float *restrict row = demb + t * D;
            for (int64_t d = 0; d < D; d++) row[d] += g[d] * inv_len;
        }
    }
}
