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
    free(e->ml);
    e->confusion = NULL;
    e->ml = NULL;
}

void tcd_eval_counts_multi(tcd_eval_counts *e, double threshold, int64_t top_k) {
    const int64_t C = e->n_classes;
    if (!e->ml) {
        e->ml_len = 3 * C + 4;
        e->ml = tcd_calloc((size_t)e->ml_len, sizeof(int64_t));
    }
    e->threshold = threshold;
    e->top_k = top_k < 1 ? 1 : top_k > C ? C : top_k;
}

/* One document's multi-label counts: gold [n_gold] sorted distinct class ids, p [C]. */
static void count_multi(tcd_eval_counts *e, const float *p, const int32_t *gold, int64_t n_gold, int64_t *order) {
    const int64_t C = e->n_classes, K = e->top_k;
    int64_t *tp = e->ml, *fp = e->ml + C, *fn = e->ml + 2 * C, *tail = e->ml + 3 * C;
    int64_t g = 0;
    for (int64_t c = 0; c < C; c++) {
        const int is_gold = g < n_gold && gold[g] == c;
        if (is_gold) g++;
        const int pred = p[c] >= e->threshold;
        if (pred && is_gold) tp[c]++;
        else if (pred) fp[c]++;
        else if (is_gold) fn[c]++;
        tail[3] += pred;
    }
    /* the K most probable classes (ties: the lower id), by partial selection */
    for (int64_t c = 0; c < C; c++) order[c] = c;
    for (int64_t r = 0; r < K; r++) {
        int64_t best = r;
        for (int64_t c = r + 1; c < C; c++)
            if (p[order[c]] > p[order[best]] || (p[order[c]] == p[order[best]] && order[c] < order[best])) best = c;
        const int64_t t = order[r];
        order[r] = order[best];
        order[best] = t;
        int hit = 0;
        for (int64_t k = 0; k < n_gold && !hit; k++) hit = gold[k] == order[r];
        if (hit) {
            if (r == 0) tail[0]++;
            tail[1]++;
        }
    }
    tail[2] += n_gold;
}

void tcd_evaluate_range(tcd_model *m, tcd_loader *l, int64_t doc0, int64_t doc1, int64_t batch, int n_threads,
                        tcd_eval_counts *e) {
    int64_t C = e->n_classes;
    if (!e->ml && (m->shape.ova || l->has_ml)) tcd_eval_counts_multi(e, 0.5, 5);
    float *probs = tcd_malloc(sizeof(float) * (size_t)(batch * C));
    int64_t *order = e->ml ? tcd_malloc(sizeof(int64_t) * (size_t)C) : NULL;
    for (int64_t d = doc0; d < doc1; d += batch) {
        int64_t n = doc1 - d < batch ? doc1 - d : batch;
        tcd_batch b;
        tcd_loader_range(l, d, n, &b);
        e->loss_sum += tcd_model_forward(m, &b, probs, n_threads);
        for (int64_t i = 0; e->ml && i < n; i++) {
            if (b.multi) {
                const int64_t x = b.doc_ids[i];
                count_multi(e, probs + i * C, b.multi->ids + b.multi->off[x], b.multi->off[x + 1] - b.multi->off[x],
                            order);
            } else {
                count_multi(e, probs + i * C, b.labels + i, 1, order);
            }
        }
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
    free(order);
}

double tcd_eval_p_at(const tcd_eval_counts *e, int at_k) {
    if (!e->ml || !e->n_docs) return 0.0;
    const int64_t *tail = e->ml + 3 * e->n_classes;
    return at_k ? (double)tail[1] / ((double)e->n_docs * (double)e->top_k) : (double)tail[0] / (double)e->n_docs;
}

double tcd_eval_r_at(const tcd_eval_counts *e, int at_k) {
    if (!e->ml) return 0.0;
    const int64_t *tail = e->ml + 3 * e->n_classes;
    return tail[2] ? (double)tail[at_k ? 1 : 0] / (double)tail[2] : 0.0;
}

static double f1_of(int64_t tp, int64_t fp, int64_t fn) {
    return tp ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
}

double tcd_eval_micro_f1(const tcd_eval_counts *e) {
    if (!e->ml) return 0.0;
    const int64_t C = e->n_classes;
    int64_t tp = 0, fp = 0, fn = 0;
    for (int64_t c = 0; c < C; c++) {
        tp += e->ml[c];
        fp += e->ml[C + c];
        fn += e->ml[2 * C + c];
    }
    return f1_of(tp, fp, fn);
}

double tcd_eval_accuracy(const tcd_eval_counts *e) {
    if (e->ml) return tcd_eval_p_at(e, 0);
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
    if (e->ml) {
        const int64_t C = e->n_classes;
        for (int64_t c = 0; c < C; c++) macro += f1_of(e->ml[c], e->ml[C + c], e->ml[2 * C + c]);
        return macro / (double)C;
    }
    for (int64_t c = 0; c < e->n_classes; c++) macro += stats_of(e, c).f1;
    return macro / (double)e->n_classes;
}

static void report_multi(tcd_buf *b, const tcd_eval_counts *e, char *const *label_names, int json) {
    const int64_t C = e->n_classes, K = e->top_k;
    const int64_t *tp = e->ml, *fp = e->ml + C, *fn = e->ml + 2 * C, *tail = e->ml + 3 * C;
    const double micro = tcd_eval_micro_f1(e), macro = tcd_eval_macro_f1(e);
    int64_t stp = 0, sfp = 0, sfn = 0;
    for (int64_t c = 0; c < C; c++) stp += tp[c], sfp += fp[c], sfn += fn[c];
    const double mp = stp + sfp ? (double)stp / (double)(stp + sfp) : 0.0;
    const double mr = stp + sfn ? (double)stp / (double)(stp + sfn) : 0.0;
    if (json) {
        tcd_buf_printf(b,
                       "{\"n_docs\": %lld, \"multi_label\": true, \"threshold\": %.6g, \"top_k\": %lld, "
                       "\"p_at_1\": %.6f, \"r_at_1\": %.6f, \"p_at_k\": %.6f, \"r_at_k\": %.6f, \"micro_precision\": %.6f, "
                       "\"micro_recall\": %.6f, \"micro_f1\": %.6f, \"macro_f1\": %.6f, \"loss\": %.6f, "
                       "\"labels_per_doc\": %.6f, \"predicted_per_doc\": %.6f, \"classes\": [",
                       (long long)e->n_docs, e->threshold, (long long)K, tcd_eval_p_at(e, 0), tcd_eval_r_at(e, 0),
                       tcd_eval_p_at(e, 1), tcd_eval_r_at(e, 1), mp, mr, micro, macro, tcd_eval_loss(e),
                       e->n_docs ? (double)tail[2] / (double)e->n_docs : 0.0,
                       e->n_docs ? (double)tail[3] / (double)e->n_docs : 0.0);
        for (int64_t c = 0; c < C; c++) {
            const double p = tp[c] + fp[c] ? (double)tp[c] / (double)(tp[c] + fp[c]) : 0.0;
            const double r = tp[c] + fn[c] ? (double)tp[c] / (double)(tp[c] + fn[c]) : 0.0;
            tcd_buf_printf(b, "%s{\"name\": ", c ? ", " : "");
            tcd_buf_json_string(b, label_names[c], strlen(label_names[c]));
            tcd_buf_printf(b, ", \"id\": %lld, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %lld}",
                           (long long)c, p, r, f1_of(tp[c], fp[c], fn[c]), (long long)(tp[c] + fn[c]));
        }
        tcd_buf_printf(b, "]}\n");
        return;
    }
    tcd_buf_printf(b,
                   "documents  %lld (multi-label: %.2f labels per document, %.2f predicted)\nthreshold  %.4g\n"
                   "P@1        %.4f\nR@1        %.4f\nP@%-8lld %.4f\nR@%-8lld %.4f\n"
                   "micro-P    %.4f\nmicro-R    %.4f\nmicro-F1   %.4f\nmacro-F1   %.4f\nloss       %.4f\n\n",
                   (long long)e->n_docs, e->n_docs ? (double)tail[2] / (double)e->n_docs : 0.0,
                   e->n_docs ? (double)tail[3] / (double)e->n_docs : 0.0, e->threshold, tcd_eval_p_at(e, 0),
                   tcd_eval_r_at(e, 0), (long long)K, tcd_eval_p_at(e, 1), (long long)K, tcd_eval_r_at(e, 1), mp, mr,
                   micro, macro, tcd_eval_loss(e));
    tcd_buf_printf(b, "%-16s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
    for (int64_t c = 0; c < C; c++) {
        const double p = tp[c] + fp[c] ? (double)tp[c] / (double)(tp[c] + fp[c]) : 0.0;
        const double r = tp[c] + fn[c] ? (double)tp[c] / (double)(tp[c] + fn[c]) : 0.0;
        tcd_buf_printf(b, "%-16.16s %9.4f %9.4f %9.4f %9lld\n", label_names[c], p, r, f1_of(tp[c], fp[c], fn[c]),
                       (long long)(tp[c] + fn[c]));
    }
}

void tcd_eval_report(tcd_buf *b, const tcd_eval_counts *e, char *const *label_names, int json) {
    if (e->ml) {
        report_multi(b, e, label_names, json);
        return;
    }
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
