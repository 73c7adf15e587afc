/* Confusion matrix, loss and per-class metrics; see evaluate.h. */
#include "infer/evaluate.h"

#include <stdlib.h>
#include <string.h>

void tcd_eval_counts_init(tcd_eval_counts *e, int64_t n_classes) {
    memset(e, 0, sizeof *e);
    e->n_classes = n_classes;
    e->confusion = tcd_calloc((size_t)(n_classes * n_classes), sizeof(int64_t));
}

void tcd_eval_counts_free(tcd_eval_counts *e) {
    free(e->confusion);
    e->confusion = NULL;
}

void tcd_evaluate_range(tcd_model *m, tcd_loader *l, int64_t doc0, int64_t doc1, int64_t batch, int n_threads,
                        tcd_eval_counts *e) {
    int64_t C = e->n_classes;
    float *probs = tcd_malloc(sizeof(float) * (size_t)(batch * C));
    for (int64_t d = doc0; d < doc1; d += batch) {
        int64_t n = doc1 - d < batch ? doc1 - d : batch;
        tcd_batch b;
        tcd_loader_range(l, d, n, &b);
        e->loss_sum += tcd_model_forward(m, &b, probs, n_threads);
        for (int64_t i = 0; i < n; i++) {
            /* argmax; ties go to the lower class id */
            int64_t best = 0;
            for (int64_t c = 1; c < C; c++)
                if (probs[i * C + c] > probs[i * C + best]) best = c;
            e->confusion[b.labels[i] * C + best]++;
        }
        e->n_docs += n;
    }
    free(probs);
}

double tcd_eval_accuracy(const tcd_eval_counts *e) {
    int64_t right = 0;
    for (int64_t c = 0; c < e->n_classes; c++) right += e->confusion[c * e->n_classes + c];
    return e->n_docs ? (double)right / (double)e->n_docs : 0.0;
}

double tcd_eval_loss(const tcd_eval_counts *e) { return e->n_docs ? e->loss_sum / (double)e->n_docs : 0.0; }

typedef struct {
    double precision, recall, f1;
    int64_t support, predicted;
} class_stats;

static class_stats stats_of(const tcd_eval_counts *e, int64_t c) {
    int64_t C = e->n_classes;
    class_stats s = {0};
    int64_t tp = e->confusion[c * C + c];
    for (int64_t k = 0; k < C; k++) {
        s.support += e->confusion[c * C + k];
        s.predicted += e->confusion[k * C + c];
    }
    s.precision = s.predicted ? (double)tp / (double)s.predicted : 0.0;
    s.recall = s.support ? (double)tp / (double)s.support : 0.0;
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    return s;
}

double tcd_eval_macro_f1(const tcd_eval_counts *e) {
    double macro = 0;
    for (int64_t c = 0; c < e->n_classes; c++) macro += stats_of(e, c).f1;
    return macro / (double)e->n_classes;
}

void tcd_eval_report(tcd_buf *b, const tcd_eval_counts *e, char *const *label_names, int json) {
    int64_t C = e->n_classes;
    const double macro = tcd_eval_macro_f1(e);
    if (json) {
        tcd_buf_printf(b, "{\"n_docs\": %lld, \"accuracy\": %.6f, \"loss\": %.6f, \"macro_f1\": %.6f, \"classes\": [",
                       (long long)e->n_docs, tcd_eval_accuracy(e), tcd_eval_loss(e), macro);
        for (int64_t c = 0; c < C; c++) {
            class_stats s = stats_of(e, c);
            tcd_buf_printf(b, "%s{\"name\": ", c ? ", " : "");
            tcd_buf_json_string(b, label_names[c], strlen(label_names[c]));
            tcd_buf_printf(b, ", \"id\": %lld, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %lld}",
                           (long long)c, s.precision, s.recall, s.f1, (long long)s.support);
        }
        tcd_buf_printf(b, "], \"confusion\": [");
        for (int64_t r = 0; r < C; r++) {
            tcd_buf_printf(b, "%s[", r ? ", " : "");
            for (int64_t k = 0; k < C; k++)
                tcd_buf_printf(b, "%s%lld", k ? ", " : "", (long long)e->confusion[r * C + k]);
            tcd_buf_printf(b, "]");
        }
        tcd_buf_printf(b, "]}\n");
        return;
    }
    tcd_buf_printf(b, "documents  %lld\naccuracy   %.4f\nloss       %.4f\nmacro-F1   %.4f\n\n", (long long)e->n_docs,
                   tcd_eval_accuracy(e), tcd_eval_loss(e), macro);
    tcd_buf_printf(b, "%-16s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
    for (int64_t c = 0; c < C; c++) {
        class_stats s = stats_of(e, c);
        tcd_buf_printf(b, "%-16.16s %9.4f %9.4f %9.4f %9lld\n", label_names[c], s.precision, s.recall, s.f1,
                       (long long)s.support);
    }
    tcd_buf_printf(b, "\nconfusion matrix (rows: true, columns: predicted)\n%-16s", "");
    for (int64_t k = 0; k < C; k++) tcd_buf_printf(b, " %9.9s", label_names[k]);
    tcd_buf_printf(b, "\n");
    for (int64_t r = 0; r < C; r++) {
        tcd_buf_printf(b, "%-16.16s", label_names[r]);
        for (int64_t k = 0; k < C; k++) tcd_buf_printf(b, " %9lld", (long long)e->confusion[r * C + k]);
        tcd_buf_printf(b, "\n");
    }
}
