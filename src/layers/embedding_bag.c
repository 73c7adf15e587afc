/* Mean-of-embeddings ("bag") layer. The inner loops run over D with restrict pointers so that the
 * compiler vectorises them; the mean multiplies by 1/len (one division per document). */
#include <string.h>

#include "layers/layers.h"

/* Sums the rows of tokens[lo..hi) over columns [d0, d0 + 16) into acc: a fixed width the compiler
 * keeps in vector registers (no store/reload of the output per token). */
static inline void sum_rows16(float *restrict acc, const float *restrict emb, const int32_t *restrict tokens,
                              int64_t lo, int64_t hi, int64_t D, int64_t d0) {
    float a[16] = {0};
    for (int64_t i = lo; i < hi; i++) {
        const float *restrict row = emb + (int64_t)tokens[i] * D + d0;
        for (int d = 0; d < 16; d++) a[d] += row[d];
    }
    for (int d = 0; d < 16; d++) acc[d] = a[d];
}

/* out [B x D], emb [V x D]; document b is tokens[offsets[b] - offsets[0] .. offsets[b+1] - offsets[0]).
 * Each element is the sum of the rows in token order, times 1/len. */
void embedding_bag_forward(float *restrict out, const float *restrict emb, const int32_t *restrict tokens,
                           const int64_t *restrict offsets, int64_t B, int64_t D) {
    const int64_t base = offsets[0];
    for (int64_t b = 0; b < B; b++) {
        float *restrict o = out + b * D;
        const int64_t lo = offsets[b] - base, hi = offsets[b + 1] - base;
        int64_t d0 = 0;
        for (; d0 + 16 <= D; d0 += 16) sum_rows16(o + d0, emb, tokens, lo, hi, D, d0);
        if (d0 < D) {
            for (int64_t d = d0; d < D; d++) o[d] = 0.0f;
            for (int64_t i = lo; i < hi; i++) {
                const float *restrict row = emb + (int64_t)tokens[i] * D;
                for (int64_t d = d0; d < D; d++) o[d] += row[d];
            }
        }
        if (hi <= lo) continue; /* empty document: zero row */
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

/* acc rows [row_lo, row_hi) of the table += fe[d] for each token of document d in those rows (fe:
 * [B x D], one fixed-point vector per document). Integer adds: any order gives the same sum. */
void embedding_bag_backward_fixed(int64_t *restrict acc, const int64_t *restrict fe, const int32_t *restrict tokens,
                                  const int64_t *restrict offsets, int64_t B, int64_t D, int64_t row_lo,
                                  int64_t row_hi) {
    const int64_t base = offsets[0];
    const uint64_t span = (uint64_t)(row_hi - row_lo);
    if (row_hi <= row_lo) return;
    for (int64_t d = 0; d < B; d++) {
        const int64_t lo = offsets[d] - base, hi = offsets[d + 1] - base;
        const int64_t *restrict g = fe + d * D;
        for (int64_t i = lo; i < hi; i++) {
            const int64_t t = tokens[i];
            if ((uint64_t)(t - row_lo) >= span) continue; /* another thread's row */
            int64_t *restrict row = acc + t * D;
            for (int64_t j = 0; j < D; j++) row[j] += g[j];
        }
    }
}
