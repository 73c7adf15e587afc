/* tcdist inspect: summary of a tcdist file (human table or one JSON object).
 *
 * The root attribute `format` picks the summariser from `inspectors` below; to support another
 * file kind, write one `static int inspect_xxx(const char *path, int json)` and add a row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "io/checkpoint.h"
#include "io/corpus.h"
#include "io/h5util.h"
#include "io/model_file.h"
#include "tcdist.h"
#include "base/util.h"

#define INSPECT_SLICE_DOCS ((int64_t)1 << 20) /* documents per read of /offsets or /labels */
#define INSPECT_HIST_MAX_LEN ((int64_t)1 << 24) /* exact quantiles by histogram up to this length */
#define INSPECT_TOP_WORDS 10

/* ---- output helpers: the same calls build either a table or a JSON object ---- */

typedef struct {
    tcd_buf b;
    int json;
    int first; /* no comma needed before the next JSON member */
} report;

static void rep_key(report *r, const char *key) {
    if (!r->first) tcd_buf_putc(&r->b, ',');
    r->first = 0;
    tcd_buf_json_string(&r->b, key, strlen(key));
    tcd_buf_putc(&r->b, ':');
}

static void rep_str(report *r, const char *key, const char *value) {
    if (!value) value = "";
    if (r->json) {
        rep_key(r, key);
        tcd_buf_json_string(&r->b, value, strlen(value));
    } else
        tcd_buf_printf(&r->b, "%-16s %s\n", key, value);
}

static void rep_i64(report *r, const char *key, int64_t v) {
    if (r->json) {
        rep_key(r, key);
        tcd_buf_printf(&r->b, "%lld", (long long)v);
    } else
        tcd_buf_printf(&r->b, "%-16s %lld\n", key, (long long)v);
}

/* The model kind, each of its parameters as a field of its own, and its config as JSON. */
static void rep_model(report *r, const tcd_model_kind *kind, const void *cfg, const char *model_config) {
    rep_str(r, "model", kind->name);
    for (const tcd_model_param *p = kind->params; p->name; p++) {
        const void *v = (const char *)cfg + p->offset;
        if (p->type == TCD_MP_I64) rep_i64(r, p->name, *(const int64_t *)v);
    }
    if (r->json) {
        rep_key(r, "model_config");
        tcd_buf_printf(&r->b, "%s", model_config);
    } else {
        rep_str(r, "model_config", model_config);
    }
}

/* ---- corpus files ---- */

/* n_classes, and for a multi-label corpus its labels in all (/label_sets/ids). */
static void rep_classes(report *r, const tcd_corpus *c) {
    rep_i64(r, "n_classes", c->n_classes);
    if (c->multi_label) rep_i64(r, "multi_label_labels", c->n_label_ids);
}

typedef struct {
    int64_t min, max, median, p90, p99;
    double mean;
} length_stats;

/* Nearest-rank quantile (the value at 1-based rank ceil(q*n)) from a histogram of lengths. */
static int64_t hist_quantile(const int64_t *hist, int64_t n_bins, int64_t n, double q) {
    int64_t rank = (int64_t)((double)n * q);
    if ((double)rank < (double)n * q) rank++;
    if (rank < 1) rank = 1;
    int64_t seen = 0;
    for (int64_t v = 0; v < n_bins; v++) {
        seen += hist[v];
        if (seen >= rank) return v;
    }
    return n_bins - 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t sorted_quantile(const int64_t *v, int64_t n, double q) {
    int64_t rank = (int64_t)((double)n * q);
    if ((double)rank < (double)n * q) rank++;
    if (rank < 1) rank = 1;
    return v[rank - 1];
}

/* Document lengths in tokens from /offsets, read in slices: a first pass for min/max/mean, a
 * second for exact quantiles (a histogram when lengths are small, else a sort). */
static int corpus_length_stats(const tcd_corpus *c, length_stats *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    if (c->n_docs == 0) return 0;
    int64_t *off = tcd_malloc((size_t)(INSPECT_SLICE_DOCS + 1) * sizeof(int64_t));
    s->min = INT64_MAX;
    s->max = 0;
    for (int64_t d0 = 0; d0 < c->n_docs; d0 += INSPECT_SLICE_DOCS) {
        int64_t n = c->n_docs - d0 < INSPECT_SLICE_DOCS ? c->n_docs - d0 : INSPECT_SLICE_DOCS;
        if (tcd_corpus_read_offsets(c, d0, n, off) < 0) {
            snprintf(err, errlen, "%s: reading /offsets: %s", c->path, tcd_h5_errmsg());
            free(off);
            return -1;
        }
        if (d0 == 0 && off[0] != 0) {
            snprintf(err, errlen, "%s: damaged corpus: offsets[0] is %lld, not 0", c->path, (long long)off[0]);
            free(off);
            return -1;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t len = off[i + 1] - off[i];
            if (len < 0 || off[i + 1] > c->n_tokens) {
                snprintf(err, errlen, "%s: damaged corpus: offsets of document %lld are out of order or range",
                         c->path, (long long)(d0 + i));
                free(off);
                return -1;
            }
            if (len < s->min) s->min = len;
            if (len > s->max) s->max = len;
        }
    }
    s->mean = (double)c->n_tokens / (double)c->n_docs;
    int use_hist = s->max <= INSPECT_HIST_MAX_LEN;
    int64_t *hist = use_hist ? tcd_calloc((size_t)s->max + 1, sizeof(int64_t)) : NULL;
    int64_t *all = use_hist ? NULL : tcd_malloc((size_t)c->n_docs * sizeof(int64_t));
    for (int64_t d0 = 0; d0 < c->n_docs; d0 += INSPECT_SLICE_DOCS) {
        int64_t n = c->n_docs - d0 < INSPECT_SLICE_DOCS ? c->n_docs - d0 : INSPECT_SLICE_DOCS;
        if (tcd_corpus_read_offsets(c, d0, n, off) < 0) {
            snprintf(err, errlen, "%s: reading /offsets: %s", c->path, tcd_h5_errmsg());
            free(off);
            free(hist);
            free(all);
            return -1;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t len = off[i + 1] - off[i];
            if (use_hist)
                hist[len]++;
            else
                all[d0 + i] = len;
        }
    }
    if (use_hist) {
        s->median = hist_quantile(hist, s->max + 1, c->n_docs, 0.5);
        s->p90 = hist_quantile(hist, s->max + 1, c->n_docs, 0.9);
        s->p99 = hist_quantile(hist, s->max + 1, c->n_docs, 0.99);
    } else {
        qsort(all, (size_t)c->n_docs, sizeof(int64_t), cmp_i64);
        s->median = sorted_quantile(all, c->n_docs, 0.5);
        s->p90 = sorted_quantile(all, c->n_docs, 0.9);
        s->p99 = sorted_quantile(all, c->n_docs, 0.99);
    }
    free(off);
    free(hist);
    free(all);
    return 0;
}

/* Documents per class from /labels, read in slices. counts has n_classes entries. */
static int corpus_class_counts(const tcd_corpus *c, int64_t *counts, char *err, size_t errlen) {
    int32_t *lab = tcd_malloc((size_t)INSPECT_SLICE_DOCS * sizeof(int32_t));
    for (int64_t d0 = 0; d0 < c->n_docs; d0 += INSPECT_SLICE_DOCS) {
        int64_t n = c->n_docs - d0 < INSPECT_SLICE_DOCS ? c->n_docs - d0 : INSPECT_SLICE_DOCS;
        if (tcd_corpus_read_labels(c, d0, n, lab) < 0) {
            snprintf(err, errlen, "%s: reading /labels: %s", c->path, tcd_h5_errmsg());
            free(lab);
            return -1;
        }
        for (int64_t i = 0; i < n; i++) {
            if (lab[i] < 0 || lab[i] >= c->n_classes) {
                snprintf(err, errlen, "%s: damaged corpus: label %d of document %lld is outside 0..%lld", c->path,
                         lab[i], (long long)(d0 + i), (long long)(c->n_classes - 1));
                free(lab);
                return -1;
            }
            counts[lab[i]]++;
        }
    }
    free(lab);
    return 0;
}

static int inspect_corpus(const char *path, int json) {
    char err[1024];
    tcd_corpus c;
    if (tcd_corpus_open(&c, path, err, sizeof err) < 0) {
        tcd_error("inspect: %s", err);
        return TCD_EXIT_ERROR;
    }
    int64_t n_names = 0;
    char **names = tcd_corpus_read_label_names(&c, &n_names);
    int64_t n_vocab = 0, *vcounts = NULL;
    char **words = tcd_corpus_read_vocab(&c, &n_vocab, &vcounts);
    if (!names || n_names != c.n_classes || !words || n_vocab != c.vocab_size) {
        tcd_error("inspect: %s: cannot read %s: %s", path, !names || n_names != c.n_classes ? "/label_names" : "/vocab",
                  tcd_h5_errmsg());
        if (names) tcd_h5_free_strings(names, n_names);
        if (words) tcd_h5_free_strings(words, n_vocab);
        free(vcounts);
        tcd_corpus_close(&c);
        return TCD_EXIT_ERROR;
    }
    int64_t *class_counts = tcd_calloc((size_t)c.n_classes, sizeof(int64_t));
    length_stats ls;
    int rc = TCD_EXIT_OK;
    if (corpus_class_counts(&c, class_counts, err, sizeof err) < 0 ||
        corpus_length_stats(&c, &ls, err, sizeof err) < 0) {
        tcd_error("inspect: %s", err);
        rc = TCD_EXIT_ERROR;
        goto done;
    }

    /* most frequent words (ids >= 2: <pad> and <unk> are reserved), by count then id */
    int64_t top[INSPECT_TOP_WORDS];
    int n_top = 0;
    for (int64_t id = 2; id < n_vocab; id++) {
        int pos = n_top;
        while (pos > 0 && vcounts[top[pos - 1]] < vcounts[id]) pos--;
        if (pos >= INSPECT_TOP_WORDS) continue;
        if (n_top < INSPECT_TOP_WORDS) n_top++;
        memmove(top + pos + 1, top + pos, (size_t)(n_top - 1 - pos) * sizeof(int64_t));
        top[pos] = id;
    }

    report r = {.json = json, .first = 1};
    if (json) tcd_buf_putc(&r.b, '{');
    rep_str(&r, "file", path);
    rep_str(&r, "format", TCD_CORPUS_FORMAT);
    rep_i64(&r, "version", c.version);
    rep_i64(&r, "n_docs", c.n_docs);
    rep_i64(&r, "n_tokens", c.n_tokens);
    rep_i64(&r, "vocab_size", c.vocab_size);
    rep_i64(&r, "n_buckets", c.n_buckets);
    rep_i64(&r, "n_embeddings", c.n_embeddings);
    rep_i64(&r, "n_skipped", c.n_skipped);
    rep_classes(&r, &c);
    if (json) {
        rep_key(&r, "classes");
        tcd_buf_putc(&r.b, '[');
        for (int64_t k = 0; k < c.n_classes; k++) {
            tcd_buf_printf(&r.b, "%s{\"name\":", k ? "," : "");
            tcd_buf_json_string(&r.b, names[k], strlen(names[k]));
            tcd_buf_printf(&r.b, ",\"id\":%lld,\"count\":%lld}", (long long)k, (long long)class_counts[k]);
        }
        tcd_buf_putc(&r.b, ']');
        rep_key(&r, "length");
        tcd_buf_printf(&r.b, "{\"unit\":\"tokens\",\"min\":%lld,\"max\":%lld,\"mean\":%.6g,\"median\":%lld,\"p90\":%lld,"
                             "\"p99\":%lld}",
                       (long long)ls.min, (long long)ls.max, ls.mean, (long long)ls.median, (long long)ls.p90,
                       (long long)ls.p99);
        rep_key(&r, "tokenizer");
        tcd_buf_printf(&r.b, "{\"tokenizer\":\"%s\",\"lowercase\":%s,\"punct\":\"%s\",\"invalid_utf8\":\"%s\","
                             "\"ngrams\":%d,\"buckets\":%lld,\"max_len\":%lld,\"min_count\":%lld,\"max_vocab\":%lld}",
                       TCD_TOKENIZER_NAME, c.tok.lowercase ? "true" : "false", c.tok.keep_punct ? "keep" : "drop",
                       c.tok.invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error", c.tok.ngrams,
                       (long long)c.tok.buckets, (long long)c.tok.max_len, (long long)c.min_count,
                       (long long)c.max_vocab);
        rep_key(&r, "top_words");
        tcd_buf_putc(&r.b, '[');
        for (int i = 0; i < n_top; i++) {
            tcd_buf_printf(&r.b, "%s{\"word\":", i ? "," : "");
            tcd_buf_json_string(&r.b, words[top[i]], strlen(words[top[i]]));
            tcd_buf_printf(&r.b, ",\"id\":%lld,\"count\":%lld}", (long long)top[i], (long long)vcounts[top[i]]);
        }
        tcd_buf_putc(&r.b, ']');
    } else {
        tcd_buf_printf(&r.b, "%-16s %-24s %6s %12s %8s\n", "classes", "name", "id", "count", "share");
        for (int64_t k = 0; k < c.n_classes; k++)
            tcd_buf_printf(&r.b, "%-16s %-24s %6lld %12lld %7.2f%%\n", "", names[k], (long long)k,
                           (long long)class_counts[k],
                           c.n_docs ? 100.0 * (double)class_counts[k] / (double)c.n_docs : 0.0);
        tcd_buf_printf(&r.b, "%-16s min %lld  max %lld  mean %.2f  median %lld  p90 %lld  p99 %lld\n",
                       "length (tokens)", (long long)ls.min, (long long)ls.max, ls.mean, (long long)ls.median,
                       (long long)ls.p90, (long long)ls.p99);
        tcd_buf_printf(&r.b, "%-16s %s  lowercase=%d punct=%s invalid_utf8=%s ngrams=%d buckets=%lld max_len=%lld\n",
                       "tokenizer", TCD_TOKENIZER_NAME, c.tok.lowercase, c.tok.keep_punct ? "keep" : "drop",
                       c.tok.invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error", c.tok.ngrams,
                       (long long)c.tok.buckets, (long long)c.tok.max_len);
        tcd_buf_printf(&r.b, "%-16s min_count=%lld max_vocab=%lld\n", "vocabulary", (long long)c.min_count,
                       (long long)c.max_vocab);
        tcd_buf_printf(&r.b, "%-16s", "top words");
        for (int i = 0; i < n_top; i++)
            tcd_buf_printf(&r.b, " %s(%lld)", words[top[i]], (long long)vcounts[top[i]]);
        tcd_buf_putc(&r.b, '\n');
    }
    rep_str(&r, "input_format", c.input_format);
    rep_str(&r, "sources", c.sources);
    rep_str(&r, "content_sha256", c.content_sha256);
    rep_str(&r, "vocab_sha256", c.vocab_sha256);
    rep_str(&r, "created_by", c.created_by);
    if (json) tcd_buf_append(&r.b, "}\n", 2);
    fwrite(r.b.data, 1, r.b.len, stdout);
    if (fflush(stdout) != 0) rc = TCD_EXIT_ERROR;
    tcd_buf_free(&r.b);

done:
    free(class_counts);
    tcd_h5_free_strings(names, n_names);
    tcd_h5_free_strings(words, n_vocab);
    free(vcounts);
    tcd_corpus_close(&c);
    return rc;
}

/* ---- model files ---- */

/* Loading verifies the parameters against their stored sha256, so a damaged model is an error. */
static int inspect_model(const char *path, int json) {
    char err[1024];
    tcd_model_file mf;
    if (tcd_model_load(&mf, path, err, sizeof err) < 0) {
        tcd_error("inspect: %s", err);
        return TCD_EXIT_ERROR;
    }
    const tcd_model *m = &mf.model;
    report r = {.json = json, .first = 1};
    if (json) tcd_buf_putc(&r.b, '{');
    rep_str(&r, "file", mf.path);
    rep_str(&r, "format", TCD_MODEL_FORMAT);
    rep_i64(&r, "version", mf.version);
    rep_model(&r, m->kind, m->cfg, mf.model_config);
    rep_str(&r, "loss", m->shape.ova ? "ova" : m->shape.n_classes == 2 ? "sigmoid" : "softmax");
    rep_i64(&r, "step", mf.step);
    rep_i64(&r, "n_classes", m->shape.n_classes);
    rep_i64(&r, "n_embeddings", m->shape.n_embeddings);
    rep_i64(&r, "vocab_size", mf.vocab_size);
    rep_i64(&r, "n_buckets", mf.n_buckets);
    rep_i64(&r, "n_params", m->n_params);
    if (json) {
        rep_key(&r, "labels");
        tcd_buf_putc(&r.b, '[');
        for (int64_t k = 0; k < mf.n_classes; k++) {
            if (k) tcd_buf_putc(&r.b, ',');
            tcd_buf_json_string(&r.b, mf.labels[k], strlen(mf.labels[k]));
        }
        tcd_buf_putc(&r.b, ']');
        rep_key(&r, "tensors");
        tcd_buf_putc(&r.b, '[');
        for (int i = 0; i < m->n_tensors; i++)
            tcd_buf_printf(&r.b, "%s{\"name\":\"%s\",\"rows\":%lld,\"cols\":%lld}", i ? "," : "", m->tensors[i].name,
                           (long long)m->tensors[i].rows, (long long)m->tensors[i].cols);
        tcd_buf_putc(&r.b, ']');
        rep_key(&r, "tokenizer");
        tcd_buf_printf(&r.b, "{\"tokenizer\":\"%s\",\"lowercase\":%s,\"punct\":\"%s\",\"invalid_utf8\":\"%s\","
                             "\"ngrams\":%d,\"buckets\":%lld,\"max_len\":%lld}",
                       TCD_TOKENIZER_NAME, mf.tok.lowercase ? "true" : "false", mf.tok.keep_punct ? "keep" : "drop",
                       mf.tok.invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error", mf.tok.ngrams,
                       (long long)mf.tok.buckets, (long long)mf.tok.max_len);
        rep_key(&r, "config"); /* the run's configuration, stored as JSON by train */
        tcd_buf_printf(&r.b, "%s", mf.config_json && *mf.config_json ? mf.config_json : "{}");
    } else {
        tcd_buf_printf(&r.b, "%-16s", "labels");
        for (int64_t k = 0; k < mf.n_classes; k++) tcd_buf_printf(&r.b, " %s", mf.labels[k]);
        tcd_buf_putc(&r.b, '\n');
        for (int i = 0; i < m->n_tensors; i++)
            tcd_buf_printf(&r.b, "%-16s %-14s [%lld, %lld]\n", i ? "" : "tensors", m->tensors[i].name,
                           (long long)m->tensors[i].rows, (long long)m->tensors[i].cols);
        tcd_buf_printf(&r.b, "%-16s %s  lowercase=%d punct=%s invalid_utf8=%s ngrams=%d buckets=%lld max_len=%lld\n",
                       "tokenizer", TCD_TOKENIZER_NAME, mf.tok.lowercase, mf.tok.keep_punct ? "keep" : "drop",
                       mf.tok.invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error", mf.tok.ngrams,
                       (long long)mf.tok.buckets, (long long)mf.tok.max_len);
        rep_str(&r, "config", mf.config_json);
    }
    rep_str(&r, "params_sha256", mf.params_sha256);
    rep_str(&r, "data_content_sha256", mf.data_sha256);
    rep_str(&r, "vocab_sha256", mf.vocab_sha256);
    if (json) tcd_buf_append(&r.b, "}\n", 2);
    fwrite(r.b.data, 1, r.b.len, stdout);
    int rc = fflush(stdout) != 0 ? TCD_EXIT_ERROR : TCD_EXIT_OK;
    tcd_buf_free(&r.b);
    tcd_model_file_free(&mf);
    return rc;
}

/* ---- checkpoints ---- */

/* Reading the info verifies the whole file against its checksum: a damaged checkpoint is an
 * error (exit 1), so "checksum: ok" means every byte of params, m, v and the state was checked. */
static int inspect_checkpoint(const char *path, int json) {
    char err[2048];
    tcd_ckpt_info info;
    if (tcd_ckpt_read_info(path, &info, err, sizeof err) < 0) {
        tcd_error("inspect: %s", err);
        return TCD_EXIT_ERROR;
    }
    const int64_t step = info.step, epoch = info.epoch, step_in_epoch = info.step_in_epoch, adam_t = info.adam_t;
    report r = {.json = json, .first = 1};
    if (json) tcd_buf_putc(&r.b, '{');
    rep_str(&r, "file", path);
    rep_str(&r, "format", TCD_CKPT_FORMAT);
    rep_i64(&r, "version", info.version);
    rep_i64(&r, "step", step);
    rep_i64(&r, "epoch", epoch);
    rep_i64(&r, "step_in_epoch", step_in_epoch);
    rep_i64(&r, "adam_t", adam_t);
    rep_i64(&r, "n_params", info.n_params);
    {
        const tcd_model_kind *kind = NULL;
        void *cfg = NULL;
        char why[256];
        if (tcd_model_config_parse(info.model_config, &kind, &cfg, why, sizeof why) == 0)
            rep_model(&r, kind, cfg, info.model_config);
        free(cfg);
    }
    rep_i64(&r, "n_classes", info.n_classes);
    rep_i64(&r, "n_embeddings", info.n_embeddings);
    rep_str(&r, "params_sha256", info.params_sha256);
    rep_str(&r, "state_sha256", info.state_sha256);
    rep_str(&r, "checksum", "ok");
    rep_str(&r, "data_content_sha256", info.data_sha256);
    rep_str(&r, "vocab_sha256", info.vocab_sha256);
    if (json) {
        rep_key(&r, "config"); /* the run's configuration, stored as JSON by train */
        tcd_buf_printf(&r.b, "%s", info.config_json && *info.config_json ? info.config_json : "{}");
        tcd_buf_append(&r.b, "}\n", 2);
    } else {
        rep_str(&r, "config", info.config_json);
    }
    fwrite(r.b.data, 1, r.b.len, stdout);
    int rc = fflush(stdout) != 0 ? TCD_EXIT_ERROR : TCD_EXIT_OK;
    tcd_buf_free(&r.b);
    tcd_ckpt_info_free(&info);
    return rc;
}

/* ---- dispatch on the root `format` attribute ---- */

typedef struct {
    const char *format;
    int (*fn)(const char *path, int json);
} inspector;

static const inspector inspectors[] = {
    {TCD_CORPUS_FORMAT, inspect_corpus},
    {TCD_MODEL_FORMAT, inspect_model},
    {TCD_CKPT_FORMAT, inspect_checkpoint},
};

/* A file: dispatch on its root `format` attribute. */
static int inspect_file(const char *path, int json) {
    int is_hdf5 = 0;
    char *format = tcd_h5_file_format(path, &is_hdf5);
    if (!is_hdf5) {
        tcd_error("inspect: %s", tcd_h5_errmsg());
        return TCD_EXIT_ERROR;
    }
    if (!format) {
        tcd_error("inspect: %s: an HDF5 file but not a tcdist file (no root 'format' attribute)", path);
        return TCD_EXIT_ERROR;
    }
    for (size_t i = 0; i < sizeof inspectors / sizeof inspectors[0]; i++) {
        if (!strcmp(format, inspectors[i].format)) {
            free(format);
            return inspectors[i].fn(path, json);
        }
    }
    tcd_buf known = {0};
    for (size_t i = 0; i < sizeof inspectors / sizeof inspectors[0]; i++)
        tcd_buf_printf(&known, "%s%s", i ? ", " : "", inspectors[i].format);
    tcd_error("inspect: %s: unknown file format '%s' (this tcdist can inspect: %s)", path, format, known.data);
    tcd_buf_free(&known);
    free(format);
    return TCD_EXIT_ERROR;
}

/* ---- --verify: read everything and recompute every content hash ---- */

static void verified(int json, const char *path, const char *kind, int64_t version, const char *what) {
    if (json) {
        tcd_buf b = {0};
        tcd_buf_append(&b, "{\"file\":", 8);
        tcd_buf_json_string(&b, path, strlen(path));
        tcd_buf_printf(&b, ",\"format\":\"%s\",\"version\":%lld,\"verified\":\"%s\"}\n", kind, (long long)version,
                       what);
        fwrite(b.data, 1, b.len, stdout);
        tcd_buf_free(&b);
    } else {
        printf("%s: %s version %lld: %s\n", path, kind, (long long)version, what);
    }
}

static int verify_file(const char *path, int json) {
    int is_hdf5 = 0;
    char *format = tcd_h5_file_format(path, &is_hdf5);
    char err[2048];
    int rc = -1;
    if (!is_hdf5) {
        snprintf(err, sizeof err, "%s", tcd_h5_errmsg());
    } else if (format && !strcmp(format, TCD_CORPUS_FORMAT)) {
        tcd_corpus c;
        if (tcd_corpus_open(&c, path, err, sizeof err) == 0) {
            rc = tcd_corpus_verify(&c, err, sizeof err);
            if (rc == 0) {
                char what[256];
                snprintf(what, sizeof what, "content_sha256 ok, vocab_sha256 ok (%lld documents, %lld tokens read)",
                         (long long)c.n_docs, (long long)c.n_tokens);
                verified(json, path, TCD_CORPUS_FORMAT, c.version, what);
            }
            tcd_corpus_close(&c);
        }
    } else if (format && !strcmp(format, TCD_MODEL_FORMAT)) {
        tcd_model_file mf;
        rc = tcd_model_load(&mf, path, err, sizeof err); /* checks params_sha256 and vocab_sha256 */
        if (rc == 0) {
            verified(json, path, TCD_MODEL_FORMAT, mf.version, "params_sha256 ok, vocab_sha256 ok");
            tcd_model_file_free(&mf);
        }
    } else if (format && !strcmp(format, TCD_CKPT_FORMAT)) {
        tcd_ckpt_info info;
        rc = tcd_ckpt_read_info(path, &info, err, sizeof err); /* reads everything through the checksum */
        if (rc == 0) {
            verified(json, path, TCD_CKPT_FORMAT, info.version, "checksum ok (params, optimizer state, counters, "
                                                                "metrics, vocabulary, labels, config)");
            tcd_ckpt_info_free(&info);
        }
    } else {
        snprintf(err, sizeof err, "%s: not a tcdist corpus, model or checkpoint", path);
    }
    free(format);
    if (rc != 0) tcd_error("inspect --verify: %s", err);
    return rc == 0 ? TCD_EXIT_OK : TCD_EXIT_ERROR;
}

/* A file, or every file of a run dir (model.h5 and each checkpoint); all are checked, and any
 * failure makes the exit status 1. */
static int verify_path(const char *arg, int json) {
    struct stat st;
    if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) return verify_file(arg, json);
    int rc = TCD_EXIT_OK, n = 0;
    char *model = tcd_sprintf("%s/model.h5", arg);
    if (tcd_file_exists(model)) {
        n++;
        if (verify_file(model, json) != TCD_EXIT_OK) rc = TCD_EXIT_ERROR;
    }
    free(model);
    char **ckpts = NULL;
    int64_t n_ckpts = tcd_ckpt_list(arg, &ckpts);
    for (int64_t i = 0; i < n_ckpts; i++) {
        n++;
        if (verify_file(ckpts[i], json) != TCD_EXIT_OK) rc = TCD_EXIT_ERROR;
        free(ckpts[i]);
    }
    free(ckpts);
    if (n == 0) {
        tcd_error("inspect --verify: %s is a folder with neither a model.h5 nor checkpoints", arg);
        return TCD_EXIT_ERROR;
    }
    return rc;
}

/* A run dir stands for its model.h5, or, before training has finished, its newest checkpoint
 * that verifies (as eval, predict and a resume would pick them). NULL: printed why. */
static char *resolve_path(const char *arg) {
    struct stat st;
    if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) return tcd_strdup(arg);
    char *model = tcd_sprintf("%s/model.h5", arg);
    if (tcd_file_exists(model)) return model;
    free(model);
    if (!tcd_ckpt_any(arg)) {
        tcd_error("inspect: %s is a folder with neither a model.h5 nor checkpoints (give a corpus, model or "
                  "checkpoint file, or a run dir)",
                  arg);
        return NULL;
    }
    char err[1024];
    int found_bad = 0;
    char *ckpt = tcd_ckpt_find(arg, &found_bad, err, sizeof err);
    if (!ckpt) {
        tcd_error("inspect: %s", err);
        return NULL;
    }
    /* on stderr: stdout may be --json */
    fprintf(stderr, "tcdist: %s holds no model.h5 yet; inspecting its newest checkpoint, %s\n", arg, ckpt);
    return ckpt;
}

int tcd_cmd_inspect(int argc, char **argv) {
    int json = 0, verify = 0;
    const tcd_opt opts[] = {
        {"--json", TCD_OPT_FLAG, &json, NULL, "print one JSON object instead of a table", 0, 0, NULL},
        {"--verify", TCD_OPT_FLAG, &verify, NULL,
         "read everything and recompute every content hash (corpus: content_sha256, vocab_sha256; model: "
         "params_sha256, vocab_sha256; checkpoint: checksum); a run dir: model.h5 and every checkpoint",
         0, 0, NULL},
        {NULL, 0, NULL, NULL, NULL, 0, 0, NULL},
    };
    char **pos = NULL;
    int n_pos = 0;
    int rc = tcd_args_parse("tcdist inspect FILE.h5|RUN_DIR [--json] [--verify]",
                            "Summarises a tcdist file (corpus, model or checkpoint). A run dir stands for its model.h5, or\n"
                            "its newest checkpoint before training has finished. Length quantiles are nearest-rank.",
                            opts, argc, argv, &pos, &n_pos);
    if (rc == 1) return TCD_EXIT_OK;
    if (rc) return TCD_EXIT_USAGE;
    if (n_pos != 1) {
        tcd_error("inspect: expected exactly one FILE, got %d (usage: tcdist inspect FILE.h5|RUN_DIR [--json] [--verify])",
                  n_pos);
        free(pos);
        return TCD_EXIT_USAGE;
    }
    if (verify) {
        rc = verify_path(pos[0], json);
        free(pos);
        return rc;
    }
    char *path = resolve_path(pos[0]);
    free(pos);
    if (!path) return TCD_EXIT_ERROR;
    rc = inspect_file(path, json);
    free(path);
    return rc;
}