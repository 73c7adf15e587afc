/* Evaluation over a corpus: confusion matrix and loss, and the metrics derived from them. */
#ifndef TCD_EVALUATE_H
#define TCD_EVALUATE_H

#include <stdint.h>

#include "data/loader.h"
#include "models/model.h"
#include "base/util.h"

typedef struct {
    int64_t n_classes;
    int64_t n_docs;
    double loss_sum;
    int64_t *confusion; /* [C x C]: row = true label, column = predicted (multi-label: the first label) */
    /* Multi-label (a one-vs-all model, or a multi-label corpus): counts at the threshold and at the
     * top k, all integers so that ranks sum them exactly. ml [3C + 4]: true positives [C], false
     * positives [C], false negatives [C] per class (a class is predicted when its probability >=
     * threshold), then hits@1, hits@k (gold labels among the k most probable classes), gold labels,
     * predicted labels. NULL: single-label evaluation. */
    int64_t *ml;
    int64_t ml_len;
    double threshold;
    int64_t top_k;
} tcd_eval_counts;

void tcd_eval_counts_init(tcd_eval_counts *e, int64_t n_classes);
/* Asks for the multi-label counts even before tcd_evaluate_range decides (threshold in (0, 1), k >= 1
 * clamped to C). tcd_evaluate_range turns them on by itself, with threshold 0.5 and k 5, for a
 * one-vs-all model or a multi-label corpus. */
void tcd_eval_counts_multi(tcd_eval_counts *e, double threshold, int64_t top_k);
/* Multi-label metrics (0 when the counts are single-label). */
double tcd_eval_p_at(const tcd_eval_counts *e, int at_k); /* at_k 0: P@1, 1: P@k */
double tcd_eval_r_at(const tcd_eval_counts *e, int at_k);
double tcd_eval_micro_f1(const tcd_eval_counts *e);
void tcd_eval_counts_free(tcd_eval_counts *e);
/* Adds documents [doc0, doc1) of the loader's corpus. Summing counts of disjoint ranges (e.g. one
 * per rank) gives the counts of their union: each document is counted exactly once. */
void tcd_evaluate_range(tcd_model *m, tcd_loader *l, int64_t doc0, int64_t doc1, int64_t batch, int n_threads,
                        tcd_eval_counts *e);
/* Single-label: accuracy; multi-label: P@1. */
double tcd_eval_accuracy(const tcd_eval_counts *e);
double tcd_eval_loss(const tcd_eval_counts *e);
/* The mean over classes of each class's F1 (0 for a class never true nor predicted); multi-label:
 * of the per-class F1 at the threshold. */
double tcd_eval_macro_f1(const tcd_eval_counts *e);
/* Appends the report to b: JSON (json=1) or a human table. */
void tcd_eval_report(tcd_buf *b, const tcd_eval_counts *e, char *const *label_names, int json);

#endif
