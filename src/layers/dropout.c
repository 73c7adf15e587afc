/* Inverted dropout whose mask is a pure function of (seed, step, document, unit) through the
 * SplitMix64 finaliser (base/rng.h): the same on any rank and thread, and recomputed in backward
 * rather than stored. */
#include "base/rng.h"
#include "layers/layers.h"

static uint64_t dropout_stream(uint64_t seed, int64_t step, int64_t doc) {
    return tcd_mix64(tcd_mix64(tcd_mix64(seed ^ 0xD120C0DEULL) + (uint64_t)step) + (uint64_t)doc);
}

static inline float keep_scale(float p) { return (float)(1.0 / (1.0 - (double)p)); }

float dropout_scale(float p, uint64_t seed, int64_t step, int64_t doc, int64_t u) {
    if (!(p > 0.0f)) return 1.0f;
    const uint64_t s = dropout_stream(seed, step, doc);
    return tcd_unit24(tcd_mix64(s + (uint64_t)u * TCD_GOLDEN_GAMMA)) >= (double)p ? keep_scale(p) : 0.0f;
}

static void apply(float *out, const float *inp, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc,
                  int64_t u0) {
    if (!(p > 0.0f)) {
        for (int64_t i = 0; i < n; i++) out[i] = inp[i];
        return;
    }
    const uint64_t s = dropout_stream(seed, step, doc);
    const float k = keep_scale(p);
    for (int64_t u = 0; u < n; u++)
        out[u] = tcd_unit24(tcd_mix64(s + (uint64_t)(u0 + u) * TCD_GOLDEN_GAMMA)) >= (double)p ? inp[u] * k : 0.0f;
}

void dropout_forward(float *out, const float *inp, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc) {
    apply(out, inp, n, p, seed, step, doc, 0);
}

void dropout_backward(float *dinp, const float *dout, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc) {
    apply(dinp, dout, n, p, seed, step, doc, 0);
}

void dropout_forward_at(float *out, const float *inp, int64_t n, float p, uint64_t seed, int64_t step, int64_t doc,
                        int64_t u0) {
    apply(out, inp, n, p, seed, step, doc, u0);
}

void dropout_backward_at(float *dinp, const float *dout, int64_t n, float p, uint64_t seed, int64_t step,
                         int64_t doc, int64_t u0) {
    apply(dinp, dout, n, p, seed, step, doc, u0);
}
