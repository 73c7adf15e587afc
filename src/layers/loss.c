/* Output losses. Loss values are computed in double from the float logits (stable forms), so that
 * the summed batch loss and the finite-difference checks are not limited by float rounding. */
#include <math.h>

#include "layers/layers.h"

/* Numerically stable logistic function in double. */
static double sigmoid_d(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    const double e = exp(z);
    return e / (1.0 + e);
}

double sigmoid_bce_forward(float *probs, const float *logits, const int32_t *labels, int64_t B) {
    double total = 0.0;
    for (int64_t b = 0; b < B; b++) {
        const double z = logits[b];
        probs[b] = (float)sigmoid_d(z);
        if (labels) {
            const double y = labels[b] ? 1.0 : 0.0;
            total += fmax(z, 0.0) - z * y + log1p(exp(-fabs(z)));
        }
    }
    return total;
}

void sigmoid_bce_backward(float *dlogits, const float *probs, const int32_t *labels, int64_t B, float scale) {
    for (int64_t b = 0; b < B; b++) dlogits[b] = (probs[b] - (labels[b] ? 1.0f : 0.0f)) * scale;
}

double softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int64_t B, int64_t C) {
    double total = 0.0;
    for (int64_t b = 0; b < B; b++) {
        const float *z = logits + b * C;
        float *p = probs + b * C;
        double mx = z[0];
        for (int64_t c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c];
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++) sum += exp((double)z[c] - mx);
        const double inv = 1.0 / sum;
        for (int64_t c = 0; c < C; c++) p[c] = (float)(exp((double)z[c] - mx) * inv);
        if (labels) total += mx + log(sum) - (double)z[labels[b]];
    }
    return total;
}

void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int64_t B, int64_t C,
                           float scale) {
    for (int64_t b = 0; b < B; b++) {
        for (int64_t c = 0; c < C; c++)
            dlogits[b * C + c] = (probs[b * C + c] - (c == labels[b] ? 1.0f : 0.0f)) * scale;
    }
}

double ova_bce_forward(float *probs, const float *logits, const uint8_t *targets, int64_t B, int64_t C) {
    double total = 0.0;
    for (int64_t i = 0; i < B * C; i++) {
        const double z = logits[i];
        probs[i] = (float)sigmoid_d(z);
        if (targets) total += fmax(z, 0.0) - z * (targets[i] ? 1.0 : 0.0) + log1p(exp(-fabs(z)));
    }
    return total;
}

void ova_bce_backward(float *dlogits, const float *probs, const uint8_t *targets, int64_t B, int64_t C, float scale) {
    for (int64_t i = 0; i < B * C; i++) dlogits[i] = (probs[i] - (targets[i] ? 1.0f : 0.0f)) * scale;
}
