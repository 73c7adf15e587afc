/* Speed print (not a test): tokens/s of zero_grad + forward + backward + Adam for the bow model,
 * D=16 H=16 V=100000, batches of 512 documents of ~230 tokens, at 1 and 2 threads.
 * Usage: bench_model [steps] [zipf]   (zipf: Zipf-like token ids instead of uniform) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adam.h"
#include "models/model.h"
#include "../unit/check.h"
#include "base/util.h"

static uint64_t rng_state = 77;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    const int steps = argc > 1 ? atoi(argv[1]) : 20;
    const int zipf = argc > 2 && !strcmp(argv[2], "zipf");
    enum { NDOC = 512, V = 100000 };
    int64_t *offsets = malloc((NDOC + 1) * sizeof(int64_t));
    int32_t *labels = malloc(NDOC * sizeof(int32_t));
    int32_t *tokens = malloc((size_t)NDOC * 400 * sizeof(int32_t));
    int64_t pos = 0;
    offsets[0] = 0;
    for (int i = 0; i < NDOC; i++) {
        int len = 130 + (int)(next_u64() % 201); /* 130..330, mean 230 */
        for (int j = 0; j < len; j++) {
            double u = (double)(next_u64() >> 11) / 9007199254740992.0;
            tokens[pos++] = zipf ? (int32_t)pow((double)V, u) - 1 : (int32_t)(u * V);
        }
        offsets[i + 1] = pos;
        labels[i] = (int32_t)(next_u64() & 1);
    }
    tcd_batch b = {.n = NDOC, .tokens = tokens, .offsets = offsets, .labels = labels};
    for (int nt = 1; nt <= 2; nt++) {
        tcd_test_bow_cfg cfg = {.vocab = V, .dim = 16, .hidden = 16, .n_classes = 2, .seed = 1};
        tcd_model m;
        if (tcd_test_bow_init(&m, &cfg) != 0) return 1;
        tcd_adam_config ac;
        tcd_adam_config_default(&ac);
        tcd_adam a;
        tcd_adam_init(&a, &ac, m.n_params);
        double t_fwd = 0, t_bwd = 0, t_opt = 0, loss = 0;
        for (int s = -2; s < steps; s++) { /* two warm-up steps */
            double t0 = tcd_now();
            tcd_model_zero_grad(&m);
            loss = tcd_model_forward(&m, &b, NULL, nt);
            double t1 = tcd_now();
            tcd_model_backward(&m, &b, 1.0f / NDOC, nt);
            double t2 = tcd_now();
            tcd_adam_step(&a, m.params, m.grads, 1e-3, nt);
            double t3 = tcd_now();
            if (s >= 0) t_fwd += t1 - t0, t_bwd += t2 - t1, t_opt += t3 - t2;
        }
        const double tot = t_fwd + t_bwd + t_opt, ntok = (double)pos * steps;
        printf("threads %d (%s ids): %.1f M tokens/s  [zero+fwd %.2f ms, bwd %.2f ms, adam %.2f ms per batch of "
               "%lld tokens] last loss %.4f\n",
               nt, zipf ? "zipf" : "uniform", ntok / tot / 1e6, 1e3 * t_fwd / steps, 1e3 * t_bwd / steps,
               1e3 * t_opt / steps, (long long)pos, loss / NDOC);
        tcd_adam_free(&a);
        tcd_model_free(&m);
    }
    free(offsets), free(labels), free(tokens);
    return 0;
}
