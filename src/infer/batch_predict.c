/* Batch inference over a prepared corpus; see batch_predict.h. */
#include "infer/batch_predict.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "data/loader.h"
#include "infer/predictor.h"
#include "io/corpus.h"
#include "io/predictions.h"
#include "models/model.h"
#include "tcdist.h"

/* At most this many probabilities in one window (256 MiB of float32 per buffer; the gather's counts are ints). */
#define MAX_WINDOW_VALUES ((int64_t)1 << 26)

typedef struct {
    const tcd_batch_predict_opts *o;
    const tcd_dist *d;
    tcd_predictor *pred;
    const tcd_model_file *mf;
    tcd_corpus c;
    int have_corpus;
    int64_t N, C, window;
    float *probs;     /* this rank's share of a window [window x C] */
    /* rank 0: the window in document order, and the output under its temporary name */
    float *probs_all; /* [window x C] */
    int32_t *labels;  /* [window] */
    char *tmp;
    FILE *jsonl;
    tcd_pred_file *h5;
    double t0, last_print;
} bp_state;

/* Collective: 1 when any rank failed. The lowest failed rank prints its message (once: every rank
 * usually fails alike, on the same file). */
static int any_failed(const tcd_dist *d, int failed, const char *msg) {
    int64_t *v = tcd_calloc((size_t)d->world, sizeof(int64_t));
    v[d->rank] = failed ? 1 : 0;
    tcd_dist_sum_i64(d, v, d->world);
    int first = -1;
    for (int r = 0; r < d->world && first < 0; r++)
        if (v[r]) first = r;
    free(v);
    if (first < 0) return 0;
    if (d->rank == first) tcd_error("%s", msg);
    return 1;
}

/* The corpus's token ids must be the model's: the same words in the same order (vocab_sha256), the
 * same n-gram hashing and the same tokenizer rules. */
static int check_match(const tcd_corpus *c, const tcd_model_file *mf, char *err, size_t errlen) {
    char what[256] = "";
    if (strcmp(c->vocab_sha256, mf->vocab_sha256) != 0)
        snprintf(what, sizeof what, "vocabularies (vocab_sha256 %.12s... and %.12s...)", c->vocab_sha256,
                 mf->vocab_sha256);
    else if (c->tok.ngrams != mf->tok.ngrams || c->n_buckets != mf->n_buckets ||
             c->n_embeddings != mf->model.shape.n_embeddings)
        snprintf(what, sizeof what, "n-gram settings (ngrams %d and %d, buckets %lld and %lld)", c->tok.ngrams,
                 mf->tok.ngrams, (long long)c->n_buckets, (long long)mf->n_buckets);
    else if (c->tok.lowercase != mf->tok.lowercase || c->tok.keep_punct != mf->tok.keep_punct)
        snprintf(what, sizeof what, "tokenizer settings (lowercase %d and %d, punct %s and %s)", c->tok.lowercase,
                 mf->tok.lowercase, c->tok.keep_punct ? "keep" : "drop", mf->tok.keep_punct ? "keep" : "drop");
    if (!what[0]) return 0;
    snprintf(err, errlen,
             "--data %s and --model %s have different %s: the corpus's token ids are not the model's; prepare "
             "the texts with 'tcdist prepare --vocab TRAIN.h5 ...' using the training corpus of the model",
             c->path, mf->path, what);
    return -1;
}

/* -o must not name an input: the rename at the end would replace it. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Every rank: the model and the corpus, checked against each other. 0 or -1 (message in err). */
static int open_inputs(bp_state *s, char *err, size_t errlen) {
    const tcd_batch_predict_opts *o = s->o;
    char why[1024];
    s->pred = tcd_predictor_open(o->model_path, why, sizeof why);
    if (!s->pred) {
        snprintf(err, errlen, "--model: %s", why);
        return -1;
    }
    s->mf = tcd_predictor_file(s->pred);
    if (tcd_corpus_open(&s->c, o->data_path, why, sizeof why) != 0) {
        snprintf(err, errlen, "--data: %s", why);
        return -1;
    }
    s->have_corpus = 1;
    if (check_match(&s->c, s->mf, err, errlen) != 0) return -1;
    if (same_file(o->out_path, o->data_path) || same_file(o->out_path, s->mf->path)) {
        snprintf(err, errlen, "-o %s is an input of this command; write the predictions to another file", o->out_path);
        return -1;
    }
    s->N = s->c.n_docs;
    s->C = s->mf->n_classes;
    int64_t w = o->batch < 1 ? 1 : o->batch;
    if (w * s->C > MAX_WINDOW_VALUES) w = MAX_WINDOW_VALUES / s->C;
    s->window = (w + TCD_CHUNK - 1) / TCD_CHUNK * TCD_CHUNK;
    s->probs = tcd_malloc(sizeof(float) * (size_t)(s->window * s->C));
    return 0;
}

static void remove_tmp(void *path) {
    if (path) unlink((const char *)path);
}

/* Rank 0's temporary output, removed when a signal ends the process (scancel, a time limit, ^C). */
static const char *volatile g_tmp_path;

static void on_signal(int sig) {
    const char *p = g_tmp_path;
    if (p) unlink(p);
    _exit(128 + sig);
}

static void set_signals(void (*h)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* Rank 0: the output under a temporary name beside OUT. 0 or -1 (message in err). */
static int create_output(bp_state *s, char *err, size_t errlen) {
    const tcd_batch_predict_opts *o = s->o;
    s->probs_all = tcd_malloc(sizeof(float) * (size_t)(s->window * s->C));
    s->labels = tcd_malloc(sizeof(int32_t) * (size_t)s->window);
    s->tmp = tcd_tmp_path_for(o->out_path);
    g_tmp_path = s->tmp;
    set_signals(on_signal);
    if (!o->out_h5) {
        s->jsonl = fopen(s->tmp, "wb");
        if (!s->jsonl) {
            snprintf(err, errlen, "-o %s: cannot create %s (%s)", o->out_path, s->tmp, strerror(errno));
            return -1;
        }
    } else {
        char why[512];
        if (tcd_check_space(o->out_path, (double)s->N * (double)(4 * s->C + 4) * 1.05 + 1e6, why, sizeof why) != 0) {
            snprintf(err, errlen, "-o %s: %s", o->out_path, why);
            return -1;
        }
        const tcd_pred_meta meta = {.model_path = s->mf->path,
                                    .params_sha256 = s->mf->params_sha256,
                                    .data_path = o->data_path,
                                    .data_content_sha256 = s->c.content_sha256,
                                    .label_names = s->mf->labels,
                                    .n_docs = s->N,
                                    .n_classes = s->C};
        s->h5 = tcd_pred_file_create(s->tmp, &meta, why, sizeof why);
        if (!s->h5) {
            snprintf(err, errlen, "-o %s: %s", o->out_path, why);
            return -1;
        }
    }
    tcd_set_cleanup(remove_tmp, s->tmp);
    return 0;
}

/* Rank `rank`'s documents [*a, *b) of window [g0, g1): a contiguous run of whole chunks, so that
 * every chunk starts at a multiple of TCD_CHUNK in the corpus whatever the number of ranks. */
static void share_of(int64_t g0, int64_t g1, int rank, int world, int64_t *a, int64_t *b) {
    int64_t lo, hi;
    tcd_batch_share((g1 - g0 + TCD_CHUNK - 1) / TCD_CHUNK, rank, world, &lo, &hi);
    *a = g0 + lo * TCD_CHUNK < g1 ? g0 + lo * TCD_CHUNK : g1;
    *b = g0 + hi * TCD_CHUNK < g1 ? g0 + hi * TCD_CHUNK : g1;
}

/* This rank's share of a window: read (only these documents) and forward into s->probs. */
static int forward_share(bp_state *s, int64_t a, int64_t b, char *err, size_t errlen) {
    if (b <= a) return 0;
    tcd_loader l;
    if (tcd_loader_open(&l, &s->c, a, b, 0, 0, err, errlen) != 0) return -1;
    tcd_batch bt;
    tcd_loader_range(&l, 0, b - a, &bt);
    bt.labels = NULL; /* the corpus's labels play no part in a prediction */
    tcd_predictor_forward(s->pred, &bt, s->probs, s->o->n_threads);
    tcd_loader_free(&l);
    return 0;
}

static void jsonl_record(tcd_buf *out, const tcd_model_file *mf, int64_t doc, const float *pr, int64_t top_k,
                         const tcd_batch_predict_opts *o, int64_t *order) {
    const int64_t C = mf->n_classes, k = top_k < 1 ? 1 : top_k < C ? top_k : C;
    if (mf->model.shape.ova || o->has_threshold) {
        /* multi-label: the labels at or above the threshold, at most --top-k */
        const int64_t n = tcd_select_labels(pr, C, o->has_threshold || !o->threshold ? o->threshold : 0.5,
                                            top_k > 0 ? top_k : C, order);
        tcd_buf_printf(out, "{\"doc\": %lld, \"labels\": [", (long long)doc);
        for (int64_t j = 0; j < n; j++) {
            const char *lab = mf->labels[order[j]];
            tcd_buf_printf(out, "%s{\"label\": ", j ? ", " : "");
            tcd_buf_json_string(out, lab, strlen(lab));
            tcd_buf_printf(out, ", \"prob\": %.6f}", pr[order[j]]);
        }
        tcd_buf_printf(out, "]}\n");
        return;
    }
    tcd_top_k(pr, C, k, order);
    const char *lab = mf->labels[order[0]];
    tcd_buf_printf(out, "{\"doc\": %lld, \"label\": ", (long long)doc);
    tcd_buf_json_string(out, lab, strlen(lab));
    tcd_buf_printf(out, ", \"prob\": %.6f", pr[order[0]]);
    if (top_k > 0) {
        tcd_buf_printf(out, ", \"top\": [");
        for (int64_t j = 0; j < k; j++) {
            lab = mf->labels[order[j]];
            tcd_buf_printf(out, "%s{\"label\": ", j ? ", " : "");
            tcd_buf_json_string(out, lab, strlen(lab));
            tcd_buf_printf(out, ", \"prob\": %.6f}", pr[order[j]]);
        }
        tcd_buf_printf(out, "]");
    }
    tcd_buf_printf(out, "}\n");
}

/* Rank 0: documents [g0, g1), in order, into the output. 0 or -1 (message in err). */
static int write_window(bp_state *s, int64_t g0, int64_t g1, char *err, size_t errlen) {
    const int64_t n = g1 - g0, C = s->C;
    if (s->h5) {
        for (int64_t i = 0; i < n; i++) {
            int64_t best;
            tcd_top_k(s->probs_all + i * C, C, 1, &best);
            s->labels[i] = (int32_t)best;
        }
        char why[512];
        if (tcd_pred_file_write(s->h5, g0, n, s->labels, s->probs_all, why, sizeof why) == 0) return 0;
        snprintf(err, errlen, "-o %s: %s", s->o->out_path, why);
        return -1;
    }
    tcd_buf out = {0};
    int64_t *order = tcd_malloc(sizeof(int64_t) * (size_t)C);
    for (int64_t i = 0; i < n; i++) jsonl_record(&out, s->mf, g0 + i, s->probs_all + i * C, s->o->top_k, s->o, order);
    free(order);
    const int ok = out.len == 0 || fwrite(out.data, 1, out.len, s->jsonl) == out.len;
    tcd_buf_free(&out);
    if (ok) return 0;
    snprintf(err, errlen, "-o %s: cannot write %s (%s)", s->o->out_path, s->tmp, strerror(errno));
    return -1;
}

/* Rank 0, on stderr: a line that updates in place on a terminal, else one every 10 s. */
static void progress(bp_state *s, int64_t done) {
    if (s->o->quiet || s->d->rank != 0) return;
    const double now = tcd_now();
    const int tty = !s->d->mpi && isatty(STDERR_FILENO);
    if (now - s->last_print < (tty ? 0.2 : 10.0)) return;
    const double el = now - s->t0, rate = el > 0 ? (double)done / el : 0;
    const double eta = rate > 0 ? (double)(s->N - done) / rate : 0;
    fprintf(stderr, "%spredict %lld/%lld documents (%.1f%%)  %.0f docs/s  ETA %.0f s%s", tty ? "\r\033[K" : "",
            (long long)done, (long long)s->N, s->N ? 100.0 * (double)done / (double)s->N : 100.0, rate, eta,
            tty ? "" : "\n");
    fflush(stderr);
    s->last_print = now;
}

/* Every window: forward the shares, gather to rank 0, write. 0, or -1 once any rank failed (the
 * message already printed). */
static int run_windows(bp_state *s) {
    const tcd_dist *d = s->d;
    char err[1024] = "";
    for (int64_t g0 = 0; g0 < s->N; g0 += s->window) {
        const int64_t g1 = g0 + s->window < s->N ? g0 + s->window : s->N;
        int64_t a, b;
        share_of(g0, g1, d->rank, d->world, &a, &b);
        const int rc = forward_share(s, a, b, err, sizeof err);
        if (any_failed(d, rc != 0, err)) return -1;
        tcd_dist_gatherv_f32(d, s->probs, (b - a) * s->C, s->probs_all);
        const int wrc = d->rank == 0 ? write_window(s, g0, g1, err, sizeof err) : 0;
        if (any_failed(d, wrc != 0, err)) return -1;
        progress(s, g1);
    }
    return 0;
}

/* Rank 0: completes the temporary file and renames it over OUT. 0 or -1 (message in err). */
static int commit_output(bp_state *s, char *err, size_t errlen) {
    const char *out = s->o->out_path;
    int bad = 0;
    char why[512] = "";
    if (s->jsonl) {
        bad = fflush(s->jsonl) != 0 || ferror(s->jsonl);
        if (bad) snprintf(why, sizeof why, "%s", strerror(errno));
        if (fclose(s->jsonl) != 0 && !bad) {
            bad = 1;
            snprintf(why, sizeof why, "%s", strerror(errno));
        }
        s->jsonl = NULL;
    } else {
        bad = tcd_pred_file_close(s->h5, why, sizeof why) != 0;
        s->h5 = NULL;
    }
    if (!bad && tcd_commit_file(s->tmp, out) != 0) {
        bad = 1;
        snprintf(why, sizeof why, "cannot rename %s over it (%s)", s->tmp, strerror(errno));
    }
    if (bad) snprintf(err, errlen, "-o %s: %s; nothing was written", out, why);
    return bad ? -1 : 0;
}

static void close_all(bp_state *s) {
    if (s->jsonl) fclose(s->jsonl);
    if (s->h5) {
        char ignore[128];
        tcd_pred_file_close(s->h5, ignore, sizeof ignore);
    }
    if (s->tmp) {
        set_signals(SIG_DFL);
        g_tmp_path = NULL;
        tcd_set_cleanup(NULL, NULL);
        unlink(s->tmp); /* gone already after a commit */
        free(s->tmp);
    }
    if (s->have_corpus) tcd_corpus_close(&s->c);
    tcd_predictor_free(s->pred);
    free(s->probs);
    free(s->probs_all);
    free(s->labels);
}

int tcd_batch_predict(const tcd_batch_predict_opts *o, const tcd_dist *d) {
    bp_state s = {.o = o, .d = d};
    char err[2048] = "";
    int failed = any_failed(d, open_inputs(&s, err, sizeof err) != 0, err);
    if (!failed && d->rank == 0 && s.c.tok.max_len != s.mf->tok.max_len)
        tcd_warn("--data %s keeps at most %lld words per document (0: all), the model's tokenizer %lld: the "
                 "documents are predicted as the corpus holds them",
                 o->data_path, (long long)s.c.tok.max_len, (long long)s.mf->tok.max_len);
    if (!failed) failed = any_failed(d, d->rank == 0 && create_output(&s, err, sizeof err) != 0, err);
    s.t0 = s.last_print = tcd_now();
    if (!failed) failed = run_windows(&s) != 0;
    if (!failed) failed = any_failed(d, d->rank == 0 && commit_output(&s, err, sizeof err) != 0, err);
    if (!failed && d->rank == 0 && !o->quiet) {
        const double el = tcd_now() - s.t0;
        fprintf(stderr, "%spredicted %lld documents in %.2f s (%.0f docs/s, %d rank%s): %s\n",
                !d->mpi && isatty(STDERR_FILENO) ? "\r\033[K" : "", (long long)s.N, el,
                el > 0 ? (double)s.N / el : 0.0, d->world, d->world > 1 ? "s" : "", o->out_path);
    }
    close_all(&s);
    return failed ? TCD_EXIT_ERROR : TCD_EXIT_OK;
}
