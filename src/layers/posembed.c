/* A document's input sequence for the transformer: token vectors plus learned position vectors. */
#include <string.h>

#include "layers/layers.h"

void posembed_forward(float *restrict out, const float *restrict emb, const float *restrict pos,
                      const int32_t *restrict tokens, int64_t L, int64_t Lp, int64_t D) {
    for (int64_t i = 0; i < Lp; i++) {
        float *restrict o = out + i * D;
        const float *restrict p = pos + i * D;
        if (i < L) {
            const float *restrict e = emb + (int64_t)tokens[i] * D;
            for (int64_t j = 0; j < D; j++) o[j] = e[j] + p[j];
        } else {
            memcpy(o, p, (size_t)D * sizeof(float));
        }
    }
}

void posembed_backward(float *restrict dpos, const float *restrict dx, int64_t Lp, int64_t D) {
    for (int64_t k = 0; k < Lp * D; k++) dpos[k] += dx[k];
}
