/* Shared by the C unit tests: checks that stay on in every build (unlike assert, which Release's
 * NDEBUG removes), tolerance comparisons, and small builders for test models. */
#ifndef TCD_TEST_CHECK_H
#define TCD_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/model.h"

/* A failed CHECK ends the test at once, naming the file, the line and the condition. */
#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

/* A failed EXPECT is counted and reported, and the test goes on (tcd_test_finish exits 1). */
static int tcd_test_failures;
#define EXPECT(cond)                                                                            \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: expectation failed: %s\n", __FILE__, __LINE__, #cond);      \
            tcd_test_failures++;                                                                \
        }                                                                                       \
    } while (0)

/* |a - b| <= tol */
#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

/* The exit status of a test that used EXPECT: 0, or 1 after saying how many failed. */
static inline int tcd_test_finish(const char *name) {
    if (tcd_test_failures) {
        fprintf(stderr, "%s: %d expectation(s) failed\n", name, tcd_test_failures);
        return 1;
    }
    printf("%s: all expectations held\n", name);
    return 0;
}

/* A bag-of-embeddings model (models/bow.c) with buffers of its own and initialised parameters.
 * Returns what tcd_model_build returns. */
static inline int tcd_test_bow(tcd_model *m, int64_t vocab, int64_t dim, int64_t hidden, int64_t n_classes,
                               uint64_t seed) {
    const tcd_model_kind *k = tcd_model_kind_find("bow");
    CHECK(k);
    void *cfg = tcd_model_config_new(k);
    char v[32], err[512];
    snprintf(v, sizeof v, "%lld", (long long)dim);
    int rc = tcd_model_config_set(k, cfg, tcd_model_param_find(k, "dim"), v, err, sizeof err);
    snprintf(v, sizeof v, "%lld", (long long)hidden);
    if (rc == 0) rc = tcd_model_config_set(k, cfg, tcd_model_param_find(k, "hidden"), v, err, sizeof err);
    const tcd_model_shape shape = {.n_embeddings = vocab, .n_classes = n_classes};
    if (rc == 0) rc = tcd_model_build(m, k, cfg, &shape, seed, err, sizeof err);
    free(cfg);
    if (rc != 0) return rc;
    tcd_model_alloc(m);
    tcd_model_init_params(m, m->params);
    return 0;
}

/* The same from one struct, as the tests describe their models. */
typedef struct {
    int64_t vocab, dim, hidden, n_classes;
    uint64_t seed;
} tcd_test_bow_cfg;
static inline int tcd_test_bow_init(tcd_model *m, const tcd_test_bow_cfg *c) {
    return tcd_test_bow(m, c->vocab, c->dim, c->hidden, c->n_classes, c->seed);
}

/* The bag model's dimensions, read from its tensor table. */
static inline int64_t tcd_test_dim(const tcd_model *m) { return tcd_model_tensor(m, "embedding")->cols; }
static inline int64_t tcd_test_hidden(const tcd_model *m) {
    const tcd_tensor *t = tcd_model_tensor(m, "hidden.bias");
    return t ? t->rows : 0;
}

#endif
