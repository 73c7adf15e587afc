/* ReLU; elementwise, so out may alias inp. */
#include "layers/layers.h"

void relu_forward(float *out, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

/* dinp = dout where the unit was active (out > 0), else 0; dinp may alias dout. */
void relu_backward(float *dinp, const float *dout, const float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}
