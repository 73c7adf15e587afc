/* Thread independence: the same batch with 1, 2 and 4 threads gives bit-identical losses,
 * probabilities and gradients; initialisation does not depend on the OpenMP thread count; a batch's
 * gradient equals the sum of its sub-batches' gradients (chunks and batch offsets are handled). */
#include "check.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adam.h"
#include "models/model.h"

static uint64_t rng_state = 2024;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

enum { NDOC = 333, V = 5000 };

static void run_config(int64_t C, int64_t H) {
    tcd_test_bow_cfg cfg = {.vocab = V, .dim = 16, .hidden = H, .n_classes = C, .seed = 42};
    /* init under different OpenMP defaults */
    tcd_model m1, m4;
    omp_set_num_threads(1);
    CHECK(tcd_test_bow_init(&m1, &cfg) == 0);
    omp_set_num_threads(4);
    CHECK(tcd_test_bow_init(&m4, &cfg) == 0);
    CHECK(memcmp(m1.params, m4.params, (size_t)m1.n_params * sizeof(float)) == 0);
    tcd_model_free(&m4);

    /* a batch of NDOC documents of 0..60 tokens, Zipf-like ids (many repeats), with offsets that
     * start at 1000 as they would in the middle of a corpus */
    int64_t *offsets = malloc((NDOC + 1) * sizeof(int64_t));
    int32_t *labels = malloc(NDOC * sizeof(int32_t));
    int32_t *tokens = malloc(NDOC * 61 * sizeof(int32_t));
    int64_t pos = 0;
    offsets[0] = 1000;
    for (int i = 0; i < NDOC; i++) {
        int len = (int)(next_u64() % 61);
        for (int j = 0; j < len; j++) {
            double u = (double)(next_u64() >> 11) / 9007199254740992.0;
            tokens[pos++] = (int32_t)(pow((double)V, u)) - 1; /* log-uniform over [0, V) */
        }
        offsets[i + 1] = 1000 + pos;
        labels[i] = (int32_t)(next_u64() % (uint64_t)C);
    }
    tcd_batch b = {.n = NDOC, .tokens = tokens, .offsets = offsets, .labels = labels};
    const size_t gbytes = (size_t)m1.n_params * sizeof(float);
    float *g_ref = malloc(gbytes), *p_ref = malloc(NDOC * C * sizeof(float)), *probs = malloc(NDOC * C * sizeof(float));
    double loss_ref = 0;
    const int threads[] = {1, 2, 4, 3};
    for (int k = 0; k < 4; k++) {
        tcd_model_zero_grad(&m1);
        double loss = tcd_model_forward(&m1, &b, probs, threads[k]);
        tcd_model_backward(&m1, &b, 1.0f / NDOC, threads[k]);
        if (k == 0) {
            loss_ref = loss;
            memcpy(g_ref, m1.grads, gbytes);
            memcpy(p_ref, probs, NDOC * C * sizeof(float));
            double gn = tcd_l2_norm(m1.grads, m1.n_params);
            CHECK(isfinite(loss) && loss > 0 && gn > 0 && isfinite(gn));
        } else {
            CHECK(loss == loss_ref);
            CHECK(memcmp(p_ref, probs, NDOC * C * sizeof(float)) == 0);
            if (memcmp(g_ref, m1.grads, gbytes) != 0) {
                fprintf(stderr, "C=%lld H=%lld: gradients differ between 1 and %d threads\n", (long long)C,
                        (long long)H, threads[k]);
                CHECK(0);
            }
        }
    }
    /* prediction-only forward gives the same probabilities */
    tcd_batch bp = b;
    bp.labels = NULL;
    CHECK(tcd_model_forward(&m1, &bp, probs, 2) == 0.0);
    CHECK(memcmp(p_ref, probs, NDOC * C * sizeof(float)) == 0);

    /* the batch's gradient = sum of its two sub-batches' gradients (up to rounding) */
    tcd_model_zero_grad(&m1);
    const int cut = 100;
    tcd_batch b1 = {.n = cut, .tokens = tokens, .offsets = offsets, .labels = labels};
    tcd_batch b2 = {.n = NDOC - cut, .tokens = tokens + (offsets[cut] - offsets[0]), .offsets = offsets + cut,
                    .labels = labels + cut};
    double l1 = tcd_model_forward(&m1, &b1, NULL, 2);
    tcd_model_backward(&m1, &b1, 1.0f / NDOC, 2);
    double l2 = tcd_model_forward(&m1, &b2, probs, 2);
    tcd_model_backward(&m1, &b2, 1.0f / NDOC, 2);
    CHECK(fabs(l1 + l2 - loss_ref) <= 1e-9 * loss_ref);
    CHECK(memcmp(probs, p_ref + cut * C, (NDOC - cut) * C * sizeof(float)) == 0);
    double max_err = 0, max_g = 0;
    for (int64_t i = 0; i < m1.n_params; i++) {
        max_err = fmax(max_err, fabs((double)m1.grads[i] - g_ref[i]));
        max_g = fmax(max_g, fabs(g_ref[i]));
    }
    CHECK(max_err <= 1e-5 * max_g);

    /* Adam on these gradients: identical for 1 and 2 threads */
    tcd_adam_config ac;
    tcd_adam_config_default(&ac);
    tcd_adam a1, a2;
    tcd_adam_init(&a1, &ac, m1.n_params);
    tcd_adam_init(&a2, &ac, m1.n_params);
    float *p2 = malloc(gbytes);
    memcpy(p2, m1.params, gbytes);
    tcd_adam_step(&a1, m1.params, g_ref, 1e-3, 1);
    tcd_adam_step(&a2, p2, g_ref, 1e-3, 2);
    CHECK(memcmp(m1.params, p2, gbytes) == 0);
    tcd_adam_free(&a1);
    tcd_adam_free(&a2);
    free(p2);

    printf("C=%lld H=%lld: identical for 1, 2, 3, 4 threads (loss %.6f)\n", (long long)C, (long long)H, loss_ref);
    free(offsets), free(labels), free(tokens), free(g_ref), free(p_ref), free(probs);
    tcd_model_free(&m1);
}

int main(void) {
    run_config(2, 0);
    run_config(2, 8);
    run_config(4, 0);
    run_config(4, 8);
    return 0;
}
