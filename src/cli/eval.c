/* tcdist eval: accuracy, loss, per-class precision/recall/F1, macro-F1 and the confusion matrix of a
 * trained model on a prepared corpus. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "io/corpus.h"
#include "infer/evaluate.h"
#include "io/h5util.h"
#include "data/loader.h"
#include "infer/predictor.h"
#include "tcdist.h"
#include "base/util.h"

int tcd_cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL;
    int json = 0;
    int64_t threads = 0, batch = 1024, top_k = 5;
    double threshold = 0.5;
    const tcd_opt opts[] = {
        {"--model", TCD_OPT_STR, &model_path, "RUN_DIR|MODEL.h5", "a run dir (uses its model.h5) or a model file"},
        {"--data", TCD_OPT_STR, &data, "TEST.h5", "corpus prepared with --vocab of the training corpus"},
        {"--json", TCD_OPT_FLAG, &json, NULL, "one JSON object (accuracy, loss, n_docs, macro_f1, classes, confusion; multi-label: p_at_1, r_at_1, "
                                           "p_at_k, r_at_k, micro_f1, macro_f1, ...)"},
        {"--threads", TCD_OPT_I64, &threads, "N", "OpenMP threads (0: OMP_NUM_THREADS or all cores)", 0, 4096},
        {"--batch", TCD_OPT_I64, &batch, "N", "documents per forward pass", 1, 1 << 24},
        {"--threshold", TCD_OPT_F64, &threshold, "T",
         "multi-label: a class is predicted when its probability is at least T (micro/macro F1)", 0, 1},
        {"--top-k", TCD_OPT_I64, &top_k, "K", "multi-label: also report P@K and R@K (besides P@1, R@1)", 1, 1000000},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse("tcdist eval --model RUN_DIR|MODEL.h5 --data TEST.h5 [--json]",
                             "Evaluates a trained model on a prepared corpus.", opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    free(pos);
    if (n_pos || !model_path || !data) {
        tcd_error("--model and --data are required, and nothing else (see tcdist eval --help)");
        return TCD_EXIT_USAGE;
    }
    int n_threads = threads > 0 ? (int)threads : omp_get_max_threads();
    char err[1024];
    tcd_predictor *pred = tcd_predictor_open(model_path, err, sizeof err);
    if (!pred) {
        tcd_error("--model: %s", err);
        return TCD_EXIT_ERROR;
    }
    const tcd_model_file *mf = tcd_predictor_file(pred);
    tcd_corpus c;
    if (tcd_corpus_open(&c, data, err, sizeof err) != 0) {
        tcd_error("--data: %s", err);
        tcd_predictor_free(pred);
        return TCD_EXIT_ERROR;
    }
    int compatible = strcmp(c.vocab_sha256, mf->vocab_sha256) == 0 && c.n_buckets == mf->n_buckets &&
                     c.n_classes == mf->n_classes && c.n_embeddings == mf->model.shape.n_embeddings;
    if (compatible) {
        int64_t n_labels = 0;
        char **labels = tcd_corpus_read_label_names(&c, &n_labels);
        for (int64_t i = 0; labels && i < n_labels && compatible; i++)
            compatible = strcmp(labels[i], mf->labels[i]) == 0;
        if (!labels) compatible = 0;
        tcd_h5_free_strings(labels, n_labels);
    }
    if (!compatible) {
        tcd_error("--data %s was not prepared with the model's vocabulary and labels; prepare it with "
                  "'tcdist prepare --vocab TRAIN.h5 ...' using the training corpus of %s",
                  data, mf->path);
        tcd_corpus_close(&c);
        tcd_predictor_free(pred);
        return TCD_EXIT_ERROR;
    }
    tcd_loader l;
    if (tcd_loader_open(&l, &c, 0, c.n_docs, 0, 0, err, sizeof err) != 0) {
        tcd_error("%s", err);
        tcd_corpus_close(&c);
        tcd_predictor_free(pred);
        return TCD_EXIT_ERROR;
    }
    tcd_eval_counts e;
    tcd_eval_counts_init(&e, mf->n_classes);
    /* a one-vs-all model or a multi-label corpus: P@k, R@k, micro and macro F1 at the threshold */
    const int multi = tcd_predictor_model(pred)->shape.ova || c.multi_label;
    if (multi) tcd_eval_counts_multi(&e, threshold, top_k);
    else if (tcd_args_given("--threshold") || tcd_args_given("--top-k"))
        tcd_warn("--threshold and --top-k apply to multi-label evaluation (a one-vs-all model or a multi-label "
                 "corpus); this is neither");
    tcd_evaluate_range(tcd_predictor_model(pred), &l, 0, c.n_docs, batch, n_threads, &e);
    tcd_buf out = {0};
    if (!json) tcd_buf_printf(&out, "model      %s\ndata       %s\n", mf->path, data);
    tcd_eval_report(&out, &e, mf->labels, json);
    fputs(out.data, stdout);
    tcd_buf_free(&out);
    tcd_eval_counts_free(&e);
    tcd_loader_free(&l);
    tcd_corpus_close(&c);
    tcd_predictor_free(pred);
    return TCD_EXIT_OK;
}
