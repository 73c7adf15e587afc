/* Checkpoint write (and read) time on a real corpus: the default model of that corpus, random Adam
 * state, a 20 KB metrics text; writes the checkpoint N times into a folder and prints the median.
 *   bench_ckpt CORPUS.h5 OUT_DIR [N]
 * The file API is the same in tcdist 0.1 and now, so the same source builds against both trees
 * (docs/robustness.md: before/after the checksummed format). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "io/checkpoint.h"
#include "io/corpus.h"
#include "models/model.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_ckpt CORPUS.h5 OUT_DIR [N]\n");
        return 2;
    }
    const int n = argc > 3 ? atoi(argv[3]) : 10;
    char err[2048];
    tcd_corpus c;
    if (tcd_corpus_open(&c, argv[1], err, sizeof err) != 0) tcd_die("%s", err);
    const tcd_model_kind *kind = tcd_model_kind_find("bow");
    void *cfg = tcd_model_config_new(kind);
    tcd_model_shape shape = {.n_embeddings = c.n_embeddings, .n_classes = c.n_classes};
    tcd_model m;
    if (tcd_model_build(&m, kind, cfg, &shape, 1, err, sizeof err) != 0) tcd_die("%s", err);
    tcd_model_alloc(&m);
    tcd_model_init_params(&m, m.params);
    float *mo = tcd_malloc(sizeof(float) * (size_t)m.n_params), *vo = tcd_malloc(sizeof(float) * (size_t)m.n_params);
    for (int64_t i = 0; i < m.n_params; i++) {
        mo[i] = (float)(i % 101) * 1e-4f;
        vo[i] = (float)(i % 37) * 1e-6f;
    }
    tcd_buf metrics = {0};
    while (metrics.len < 20000)
        tcd_buf_printf(&metrics, "{\"step\": %zu, \"loss\": 0.693147, \"lr\": 0.001, \"docs_per_s\": 12345.6}\n",
                       metrics.len);
    tcd_ckpt_state st = {.step = 100, .epoch = 1, .step_in_epoch = 3, .seed = 1, .metrics = metrics.data};
    tcd_ckpt_optim o = {.m = mo, .v = vo, .t = 100};
    double *w = tcd_malloc(sizeof(double) * (size_t)(n + 1)), *r = tcd_malloc(sizeof(double) * (size_t)(n + 1));
    char *path = tcd_sprintf("%s/bench-ckpt.h5", argv[2]);
    for (int i = 0; i <= n; i++) { /* the first is a warm-up (the corpus's vocabulary is read and cached) */
        double t0 = tcd_now();
        if (tcd_ckpt_write(path, &m, &o, &st, &c, "{\"bench\": 1}", err, sizeof err) != 0) tcd_die("%s", err);
        double t1 = tcd_now();
        tcd_ckpt_info info;
        if (tcd_ckpt_read_info(path, &info, err, sizeof err) != 0) tcd_die("%s", err);
        tcd_ckpt_info_free(&info);
        w[i] = t1 - t0;
        r[i] = tcd_now() - t1;
    }
    qsort(w + 1, (size_t)n, sizeof(double), cmp_d);
    qsort(r + 1, (size_t)n, sizeof(double), cmp_d);
    printf("checkpoint of %lld params, vocabulary %lld words: write median %.1f ms (min %.1f, max %.1f), "
           "read+verify median %.1f ms, n=%d\n",
           (long long)m.n_params, (long long)c.vocab_size, 1e3 * w[1 + n / 2], 1e3 * w[1], 1e3 * w[n], 1e3 * r[1 + n / 2],
           n);
    free(path);
    return 0;
}
