/* tcdist predict: raw text, one document per line, -> label and probability (or the top K). The text
 * is tokenized with the model's own vocabulary and tokenizer settings. A bad line is reported on
 * stderr with its file:line; it gets an empty output line (plain) or an "error" record (JSON), so
 * outputs stay aligned with inputs, and the other lines are still predicted.
 * With --data CORPUS.h5 -o OUT, a prepared corpus instead, alone or under mpirun/srun
 * (infer/batch_predict.h). */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/args.h"
#include "infer/batch_predict.h"
#include "infer/predictor.h"
#include "tcdist.h"

#define PRED_BATCH 512

typedef struct {
    tcd_predictor *pred;
    const tcd_model_file *mf;
    int64_t top_k;
    int json, n_threads;
    int ova;            /* a one-vs-all (multi-label) model: print the labels at or above the threshold */
    int has_threshold;  /* --threshold given (single-label models: filters the top K) */
    double threshold;
    int64_t *order;     /* [C] */
    /* the pending batch */
    const char *file[PRED_BATCH];
    int64_t line[PRED_BATCH];
    char *error[PRED_BATCH]; /* NULL for a good line */
    int n;
    int32_t *tokens;
    int64_t n_tokens, cap_tokens;
    int64_t offsets[PRED_BATCH + 1];
    int64_t good[PRED_BATCH]; /* index into the forward batch, or -1 */
    int n_good;
    float *probs;
    int64_t n_bad;
    tcd_encoder enc;
} predict_state;

static void push_tokens(predict_state *p, const int32_t *ids, int64_t n) {
    if (p->n_tokens + n > p->cap_tokens) {
        p->cap_tokens = (p->n_tokens + n) * 2 + 1024;
        p->tokens = tcd_realloc(p->tokens, sizeof(int32_t) * (size_t)p->cap_tokens);
    }
    memcpy(p->tokens + p->n_tokens, ids, sizeof(int32_t) * (size_t)n);
    p->n_tokens += n;
}

static void print_error(predict_state *p, tcd_buf *out, int i) {
    if (p->json) {
        tcd_buf_printf(out, "{\"file\": ");
        tcd_buf_json_string(out, p->file[i], strlen(p->file[i]));
        tcd_buf_printf(out, ", \"line\": %lld, \"error\": ", (long long)p->line[i]);
        tcd_buf_json_string(out, p->error[i], strlen(p->error[i]));
        tcd_buf_printf(out, "}\n");
    } else {
        tcd_buf_printf(out, "\n");
    }
}

static void print_prediction(predict_state *p, tcd_buf *out, int i) {
    const int64_t C = p->mf->n_classes;
    const float *pr = p->probs + p->good[i] * C;
    int64_t *order = p->order;
    if (p->ova || p->has_threshold) {
        /* labels at or above the threshold, at most --top-k (ova default: no limit) */
        const int64_t n = tcd_select_labels(pr, C, p->threshold, p->top_k, order);
        if (!p->json) {
            for (int64_t j = 0; j < n; j++)
                tcd_buf_printf(out, "%s%s\t%.6f", j ? "\t" : "", p->mf->labels[order[j]], pr[order[j]]);
            tcd_buf_printf(out, "\n");
            return;
        }
        tcd_buf_printf(out, "{\"file\": ");
        tcd_buf_json_string(out, p->file[i], strlen(p->file[i]));
        tcd_buf_printf(out, ", \"line\": %lld, \"labels\": [", (long long)p->line[i]);
        for (int64_t j = 0; j < n; j++) {
            const char *lab = p->mf->labels[order[j]];
            tcd_buf_printf(out, "%s{\"label\": ", j ? ", " : "");
            tcd_buf_json_string(out, lab, strlen(lab));
            tcd_buf_printf(out, ", \"prob\": %.6f}", pr[order[j]]);
        }
        tcd_buf_printf(out, "]}\n");
        return;
    }
    const int64_t k = p->top_k < C ? p->top_k : C;
    tcd_top_k(pr, C, k, order);
    if (!p->json) {
        for (int64_t j = 0; j < k; j++)
            tcd_buf_printf(out, "%s%s\t%.6f", j ? "\t" : "", p->mf->labels[order[j]], pr[order[j]]);
        tcd_buf_printf(out, "\n");
        return;
    }
    tcd_buf_printf(out, "{\"file\": ");
    tcd_buf_json_string(out, p->file[i], strlen(p->file[i]));
    tcd_buf_printf(out, ", \"line\": %lld, \"label\": ", (long long)p->line[i]);
    const char *lab = p->mf->labels[order[0]];
    tcd_buf_json_string(out, lab, strlen(lab));
    tcd_buf_printf(out, ", \"prob\": %.6f", pr[order[0]]);
    if (p->top_k > 1) {
        tcd_buf_printf(out, ", \"top\": [");
        for (int64_t j = 0; j < k; j++) {
            tcd_buf_printf(out, "%s{\"label\": ", j ? ", " : "");
            lab = p->mf->labels[order[j]];
            tcd_buf_json_string(out, lab, strlen(lab));
            tcd_buf_printf(out, ", \"prob\": %.6f}", pr[order[j]]);
        }
        tcd_buf_printf(out, "]");
    }
    tcd_buf_printf(out, "}\n");
}

static void flush(predict_state *p) {
    if (p->n_good > 0) {
        tcd_batch b = {.n = p->n_good, .tokens = p->tokens, .offsets = p->offsets, .labels = NULL};
        tcd_predictor_forward(p->pred, &b, p->probs, p->n_threads);
    }
    tcd_buf out = {0};
    for (int i = 0; i < p->n; i++) {
        if (p->error[i]) {
            print_error(p, &out, i);
            free(p->error[i]);
            p->error[i] = NULL;
        } else {
            print_prediction(p, &out, i);
        }
    }
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    tcd_buf_free(&out);
    p->n = 0;
    p->n_good = 0;
    p->n_tokens = 0;
    p->offsets[0] = 0;
}

static void add_line(predict_state *p, const char *file, int64_t line_no, const char *text, size_t len) {
    int i = p->n++;
    p->file[i] = file;
    p->line[i] = line_no;
    p->error[i] = NULL;
    p->good[i] = -1;
    const char *why = NULL;
    const int32_t *ids = NULL;
    const int64_t n = tcd_predictor_encode(p->pred, &p->enc, text, len, &ids, &why);
    if (n < 0) {
        p->error[i] = tcd_strdup(why);
        tcd_error("%s:%lld: %s", file, (long long)line_no, p->error[i]);
        p->n_bad++;
    } else {
        push_tokens(p, ids, n);
        p->good[i] = p->n_good++;
        p->offsets[p->n_good] = p->n_tokens;
    }
    if (p->n == PRED_BATCH) flush(p);
}

/* One input file (or stdin): every line is a document. Returns 0, or -1 on a read error. */
static int predict_file(predict_state *p, const char *name) {
    FILE *in = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
    const char *shown = strcmp(name, "-") == 0 ? "<stdin>" : name;
    if (!in) {
        tcd_error("%s: cannot open (%s)", name, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t line_no = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        add_line(p, shown, line_no, line, (size_t)len);
    }
    if (ferror(in)) {
        tcd_error("%s: read error after line %lld", shown, (long long)line_no);
        rc = -1;
    }
    flush(p); /* the file names in the batch must outlive it */
    free(line);
    if (in != stdin) fclose(in);
    return rc;
}

/* The file name says the output format: .h5/.hdf5 the predictions file, .jsonl/.json/.ndjson JSON
 * lines. 1, 0, or -1 for another name. */
static int output_is_h5(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return -1;
    if (!strcmp(dot, ".h5") || !strcmp(dot, ".hdf5")) return 1;
    if (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json") || !strcmp(dot, ".ndjson")) return 0;
    return -1;
}

/* --data CORPUS.h5 -o OUT: the flags that go with it, then one call inward on every rank. */
static int predict_corpus(tcd_batch_predict_opts *o, int n_pos, int json, int argc, char **argv) {
    if (n_pos || json) {
        tcd_error("--data predicts a prepared corpus: it takes no FILE and no --json (the output format comes "
                  "from the name given to -o)");
        return TCD_EXIT_USAGE;
    }
    if (!o->out_path) {
        tcd_error("--data needs -o OUT.jsonl or -o OUT.h5 (see tcdist predict --help)");
        return TCD_EXIT_USAGE;
    }
    o->out_h5 = output_is_h5(o->out_path);
    if (o->out_h5 < 0) {
        tcd_error("-o %s: name the output OUT.jsonl (JSON lines) or OUT.h5 (HDF5)", o->out_path);
        return TCD_EXIT_USAGE;
    }
    if (o->out_h5 && (tcd_args_given("--top-k") || tcd_args_given("--threshold"))) {
        tcd_error("--top-k and --threshold are for JSON lines: OUT.h5 holds every class's probability");
        return TCD_EXIT_USAGE;
    }
    tcd_dist dist;
    tcd_dist_init(&dist, &argc, &argv);
    int rc = tcd_batch_predict(o, &dist);
    tcd_dist_finalize(&dist);
    return rc;
}

int tcd_cmd_predict(int argc, char **argv) {
    const char *model_path = NULL;
    int json = 0;
    int64_t top_k = 1, threads = 0;
    double threshold = 0.5;
    tcd_batch_predict_opts bo = {.batch = 16384};
    const tcd_opt opts[] = {
        {"--model", TCD_OPT_STR, &model_path, "RUN_DIR|MODEL.h5", "a run dir (uses its model.h5) or a model file"},
        {"--top-k", TCD_OPT_I64, &top_k, "K",
         "print the K most probable labels (one-vs-all model: at most K of those at or above the threshold)", 1,
         1000000},
        {"--threshold", TCD_OPT_F64, &threshold, "T",
         "print the labels whose probability is at least T (default 0.5 for a one-vs-all model, whose classes "
         "have independent probabilities; for another model it filters the top K)",
         0, 1},
        {"--json", TCD_OPT_FLAG, &json, NULL, "JSON lines: {file, line, label, prob[, top]} or {file, line, error}"},
        {"--threads", TCD_OPT_I64, &threads, "N", "OpenMP threads (0: OMP_NUM_THREADS or all cores)", 0, 4096},
        {"--data", TCD_OPT_STR, &bo.data_path, "CORPUS.h5", "instead of text: a corpus made by 'tcdist prepare --vocab' (with -o)"},
        {"-o,--output", TCD_OPT_STR, &bo.out_path, "OUT.jsonl|OUT.h5", "with --data: where the predictions go"},
        {"--batch", TCD_OPT_I64, &bo.batch, "N", "with --data: documents per window, all ranks together", 1, 1 << 24},
        {"--quiet", TCD_OPT_FLAG, &bo.quiet, NULL, "with --data: no progress on stderr"},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse("tcdist predict --model RUN_DIR|MODEL.h5 [--top-k K] [--threshold T] [--json] [FILE...]\n"
                             "       tcdist predict --model RUN_DIR|MODEL.h5 --data CORPUS.h5 -o OUT.jsonl|OUT.h5 [--top-k K]",
                             "Reads raw text, one document per line, from the files or stdin, and prints the\n"
                             "predicted label and its probability per line (tab-separated), or the top K.\n"
                             "A one-vs-all (multi-label) model prints every label whose probability is at\n"
                             "least --threshold (0.5), most probable first, at most --top-k.\n"
                             "With --data, labels every document of a prepared corpus, alone or under\n"
                             "mpirun/srun, into OUT.jsonl ({doc, label, prob[, top]} per line, in corpus\n"
                             "order) or OUT.h5 (datasets labels and probabilities).",
                             opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (!model_path) {
        tcd_error("--model is required (see tcdist predict --help)");
        free(pos);
        return TCD_EXIT_USAGE;
    }
    if (bo.data_path) {
        free(pos);
        bo.model_path = model_path;
        bo.top_k = tcd_args_given("--top-k") ? top_k : 0;
        bo.threshold = threshold;
        bo.has_threshold = tcd_args_given("--threshold");
        bo.n_threads = threads > 0 ? (int)threads : omp_get_max_threads();
        return predict_corpus(&bo, n_pos, json, argc, argv);
    }
    if (bo.out_path || tcd_args_given("--batch") || bo.quiet) {
        tcd_error("-o, --batch and --quiet go with --data CORPUS.h5 (text input prints to stdout)");
        free(pos);
        return TCD_EXIT_USAGE;
    }
    char err[1024];
    predict_state p = {.top_k = top_k, .json = json, .threshold = threshold,
                       .has_threshold = tcd_args_given("--threshold")};
    p.pred = tcd_predictor_open(model_path, err, sizeof err);
    if (!p.pred) {
        tcd_error("--model: %s", err);
        free(pos);
        return TCD_EXIT_ERROR;
    }
    p.mf = tcd_predictor_file(p.pred);
    p.n_threads = threads > 0 ? (int)threads : omp_get_max_threads();
    p.probs = tcd_malloc(sizeof(float) * PRED_BATCH * (size_t)p.mf->n_classes);
    p.order = tcd_malloc(sizeof(int64_t) * (size_t)p.mf->n_classes);
    p.ova = p.mf->model.shape.ova;
    if (p.ova && !tcd_args_given("--top-k")) p.top_k = p.mf->n_classes;
    int rc = TCD_EXIT_OK;
    for (int f = 0; f < (n_pos ? n_pos : 1); f++)
        if (predict_file(&p, n_pos ? pos[f] : "-") != 0) rc = TCD_EXIT_ERROR;
    if (p.n_bad) {
        tcd_error("%lld line(s) could not be predicted (see above)", (long long)p.n_bad);
        rc = TCD_EXIT_ERROR;
    }
    tcd_encoder_free(&p.enc);
    free(p.tokens);
    free(p.probs);
    free(p.order);
    tcd_predictor_free(p.pred);
    free(pos);
    return rc;
}
