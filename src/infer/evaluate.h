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
    int64_t *confusion; /* [C x C]: row = true label, column = predicted */
} tcd_eval_counts;

void tcd_eval_counts_init(tcd_eval_counts *e, int64_t n_classes);
void tcd_eval_counts_free(tcd_eval_counts *e);
/* Adds documents [doc0, doc1) of the loader's corpus. Summing counts of disjoint ranges (e.g. one
 * per rank) gives the counts of their union: each document is counted exactly once. */
void tcd_evaluate_range(tcd_model *m, tcd_loader *l, int64_t doc0, int64_t doc1, int64_t batch, int n_threads,
                        tcd_eval_counts *e);
double tcd_eval_accuracy(const tcd_eval_counts *e);
double tcd_eval_loss(const tcd_eval_counts *e);
/* The mean over classes of each class's F1 (0 for a class never true nor predicted). */
double tcd_eval_macro_f1(const tcd_eval_counts *e);
/* Appends the report to b: JSON (json=1) or a human table. */
void tcd_eval_report(tcd_buf *b, const tcd_eval_counts *e, char *const *label_names, int json);

#endif
