/* tcdist prepare's pipeline: raw labelled text -> records -> tokens -> ids -> vocabulary -> corpus
 * file (prepare.h). */
#include "text/prepare.h"

#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "io/corpus_write.h"
#include "io/h5util.h"
#include "text/vocab.h"

#define MAX_WARNINGS 10
#define MAX_CLASSES 100000 /* more distinct labels almost surely means a wrong --label-field */

/* ---------------------------------------------------------------- per-chunk results */

typedef struct {
    int64_t line;
    int64_t id_off;     /* into chunk ids */
    int64_t n_words, n_ngrams;
    int64_t new_off;    /* first entry in chunk news (training mode) */
    size_t label_off;   /* into chunk bytes */
    size_t label_n;
    size_t err_off;     /* into chunk bytes (NUL-terminated), SIZE_MAX if the record is fine */
} rec_out;

typedef struct {
    size_t off;
    size_t len;
    uint64_t hash;
} new_word;

typedef struct {
    rec_out *recs;
    int64_t n_recs, cap_recs;
    int32_t *ids;
    int64_t n_ids, cap_ids;
    new_word *news;
    int64_t n_news, cap_news;
    tcd_buf bytes;
    char pad[64]; /* keep neighbouring chunks off one cache line */
} chunk_out;

typedef struct {
    tcd_tokens toks;
    tcd_buf text;
    tcd_parse_scratch ps;
    char pad[64];
} thread_state;

typedef struct {
    /* settings */
    tcd_tok_opts tok;
    const tcd_fields *fields;
    const tcd_vocab *vocab; /* raw (training) or final (--vocab) */
    int training;
    int64_t ngram_base; /* --vocab mode: the final vocabulary size */
} parse_ctx;

static void chunk_reserve_ids(chunk_out *c, int64_t extra) {
    if (c->n_ids + extra <= c->cap_ids) return;
    int64_t cap = c->cap_ids ? c->cap_ids : 4096;
    while (cap < c->n_ids + extra) cap *= 2;
    c->ids = tcd_realloc(c->ids, (size_t)cap * sizeof *c->ids);
    c->cap_ids = cap;
}

static void chunk_push_new(chunk_out *c, const char *w, size_t n, uint64_t h) {
    if (c->n_news == c->cap_news) {
        c->cap_news = c->cap_news ? 2 * c->cap_news : 1024;
        c->news = tcd_realloc(c->news, (size_t)c->cap_news * sizeof *c->news);
    }
    c->news[c->n_news++] = (new_word){c->bytes.len, n, h};
    tcd_buf_append(&c->bytes, w, n);
}

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int k = c >= 0xF0 && c <= 0xF4 ? 3 : (c >= 0xE0 && c <= 0xEF) ? 2 : (c >= 0xC2 && c <= 0xDF) ? 1 : -1;
        if (k < 0 || n - i <= (size_t)k) return 0;
        unsigned cp = c & (0x3Fu >> k);
        for (int j = 1; j <= k; j++) {
            unsigned b = s[i + (size_t)j];
            if ((b & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (b & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

/* Parses and tokenizes one record into the chunk's results (runs in parallel). */
static void process_record(const parse_ctx *ctx, thread_state *ts, chunk_out *c, const tcd_record *rec) {
    if (c->n_recs == c->cap_recs) {
        c->cap_recs = c->cap_recs ? 2 * c->cap_recs : 1024;
        c->recs = tcd_realloc(c->recs, (size_t)c->cap_recs * sizeof *c->recs);
    }
    rec_out *r = &c->recs[c->n_recs++];
    memset(r, 0, sizeof *r);
    r->line = rec->line;
    r->id_off = c->n_ids;
    r->new_off = c->n_news;
    r->err_off = SIZE_MAX;
    char err[512];
    size_t text_n, label_off, label_n;
    const char *reason = NULL;
    if (tcd_parse_record(ctx->fields, rec->p, rec->n, &ts->ps, &ts->text, &text_n, &label_off, &label_n, err,
                         sizeof err) < 0) {
        reason = err;
    } else if (!utf8_valid((const unsigned char *)ts->text.data + label_off, label_n)) {
        reason = "invalid UTF-8 in the label";
    } else {
        const char *terr = NULL;
        if (tcd_tokenize(&ctx->tok, ts->text.data ? ts->text.data : "", text_n, &ts->toks, &terr) < 0) {
            reason = terr ? terr : "tokenizer error";
            if (terr && strstr(terr, "UTF-8")) {
                /* the reason is copied into the record below, so a thread-local buffer suffices */
                static _Thread_local char with_hint[320];
                snprintf(with_hint, sizeof with_hint, "%s (--invalid-utf8 replace substitutes U+FFFD)", terr);
                reason = with_hint;
            }
        }
        else if (ts->toks.n_words == 0)
            reason = text_n == 0 ? "empty text" : "empty text (no tokens after tokenizing)";
    }
    if (reason) {
        r->err_off = c->bytes.len;
        tcd_buf_append(&c->bytes, reason, strlen(reason) + 1);
        return;
    }
    r->label_off = c->bytes.len;
    r->label_n = label_n;
    tcd_buf_append(&c->bytes, ts->text.data + label_off, label_n);

    const tcd_tokens *t = &ts->toks;
    int64_t n_ng = tcd_n_ngram_ids(&ctx->tok, t->n_words);
    chunk_reserve_ids(c, t->n_words + n_ng);
    int32_t *ids = c->ids + c->n_ids;
    for (int64_t i = 0; i < t->n_words; i++) {
        const char *w = t->bytes + t->start[i];
        int32_t id = tcd_vocab_find(ctx->vocab, w, t->len[i], t->hash[i]);
        if (id < 0) {
            if (ctx->training) chunk_push_new(c, w, t->len[i], t->hash[i]);
            else id = TCD_UNK_ID;
        }
        ids[i] = id;
    }
    if (n_ng > 0) {
        int32_t *ng = ids + t->n_words;
        tcd_ngram_ids(&ctx->tok, t->hash, t->n_words, ctx->training ? 0 : ctx->ngram_base, ng);
        if (ctx->training)
            for (int64_t i = 0; i < n_ng; i++) ng[i] = -ng[i] - 1; /* provisional: -(bucket + 1) */
    }
    r->n_words = t->n_words;
    r->n_ngrams = n_ng;
    c->n_ids += t->n_words + n_ng;
}

/* ---------------------------------------------------------------- output file lifetime */

static char *g_tmp_path; /* the temporary output, removed on any failure */

static void remove_tmp(void *arg) {
    (void)arg;
    if (g_tmp_path) unlink(g_tmp_path);
}

static void on_signal(int sig) {
    if (g_tmp_path) unlink(g_tmp_path);
    _exit(128 + sig);
}

static void set_signals(void (*h)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---------------------------------------------------------------- the run */

typedef struct {
    const tcd_prepare_opts *o;
    parse_ctx ctx;
    tcd_vocab *vocab;  /* raw (training) or the training corpus's (--vocab) */
    tcd_vocab *labels; /* label name -> id: provisional (first appearance) or fixed */
    int fixed_labels;
    const char *label_origin; /* "training labels" or "--labels" */
    int64_t *extra_counts;    /* training: occurrences found in the parallel phase, by raw id */
    int64_t cap_extra;
    int64_t *class_docs;      /* documents per label id */
    int32_t *lab_buf;         /* one record's label ids */
    int64_t lab_cap;
    int64_t cap_class;
    tcd_corpus_writer w;
    int64_t n_skipped, n_docs_in;
    int n_threads, n_chunks;
    chunk_out *chunks;
    thread_state *ts;
} prep_state;

/* Reports a bad record. Returns 0 when it is skipped (--skip-bad), -1 when the run must stop. */
static int bad_record(prep_state *st, const char *path, int64_t line, const char *reason) {
    if (!st->o->skip_bad) {
        tcd_error("%s:%lld: %s", path, (long long)line, reason);
        return -1;
    }
    st->n_skipped++;
    if (st->n_skipped <= MAX_WARNINGS)
        tcd_warn("%s:%lld: %s (skipped)", path, (long long)line, reason);
    else if (st->n_skipped == MAX_WARNINGS + 1)
        tcd_warn("more bad records; only the total is reported from here on");
    return 0;
}

static void label_list(const tcd_vocab *v, tcd_buf *b) {
    int64_t n = tcd_vocab_size(v);
    for (int64_t i = 0; i < n && i < 20; i++) {
        if (i) tcd_buf_append(b, ", ", 2);
        size_t len;
        const char *s = tcd_vocab_word(v, (int32_t)i, &len);
        tcd_buf_append(b, s, len);
    }
    if (n > 20) tcd_buf_printf(b, ", ... (%lld in all)", (long long)n);
    tcd_buf_putc(b, 0);
}

/* The label id of record r into *label. Returns 0, 1 when the record is skipped (a label outside a
 * fixed list under --skip-bad), or -1 when the run must stop (message printed). */
static int one_label(prep_state *st, const rec_out *r, const char *lab, size_t lab_n, const char *path,
                     int32_t *label) {
    uint64_t lh = tcd_word_hash(lab, lab_n);
    if (!st->fixed_labels) {
        *label = tcd_vocab_add(st->labels, lab, lab_n, lh, 1);
        if (tcd_vocab_size(st->labels) > MAX_CLASSES) {
            tcd_error("%s:%lld: more than %d distinct labels; is --label-field the right column?", path,
                      (long long)r->line, MAX_CLASSES);
            return -1;
        }
        return 0;
    }
    *label = tcd_vocab_find(st->labels, lab, lab_n, lh);
    if (*label >= 0) return 0;
    tcd_buf names = {0};
    label_list(st->labels, &names);
    char *msg = tcd_sprintf("label '%.*s' is not one of the %s (%s)", (int)lab_n, lab, st->label_origin,
                            names.data);
    tcd_buf_free(&names);
    int rc = bad_record(st, path, r->line, msg);
    free(msg);
    return rc < 0 ? -1 : 1;
}

/* The label ids of record r (several, NUL-separated, for a multi-label record) into labels, distinct
 * and in the order read; *n their number. Returns as one_label. */
static int record_labels(prep_state *st, const chunk_out *c, const rec_out *r, const char *path, int32_t **labels,
                         int64_t *cap, int64_t *n) {
    const char *p = c->bytes.data + r->label_off, *end = p + r->label_n;
    *n = 0;
    while (p <= end) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        if (!z) z = end;
        int32_t id;
        int rc = one_label(st, r, p, (size_t)(z - p), path, &id);
        if (rc) return rc;
        int dup = 0;
        for (int64_t k = 0; k < *n && !dup; k++) dup = (*labels)[k] == id;
        if (!dup) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 16;
                *labels = tcd_realloc(*labels, (size_t)*cap * sizeof(int32_t));
            }
            (*labels)[(*n)++] = id;
        }
        p = z + 1;
    }
    return 0;
}

static void count_class_doc(prep_state *st, int32_t label) {
    if (label >= st->cap_class) {
        int64_t cap = st->cap_class ? st->cap_class : 16;
        while (cap <= label) cap *= 2;
        st->class_docs = tcd_realloc(st->class_docs, (size_t)cap * sizeof(int64_t));
        memset(st->class_docs + st->cap_class, 0, (size_t)(cap - st->cap_class) * sizeof(int64_t));
        st->cap_class = cap;
    }
    st->class_docs[label]++;
}

/* Training: the words of record r that the parallel phase did not find (id < 0) get their raw ids
 * in record order; the words it found are counted here. */
static void assign_word_ids(prep_state *st, const chunk_out *c, const rec_out *r, int32_t *ids) {
    const new_word *nw = c->news + r->new_off;
    for (int64_t i = 0; i < r->n_words; i++) {
        if (ids[i] < 0) {
            ids[i] = tcd_vocab_add(st->vocab, c->bytes.data + nw->off, nw->len, nw->hash, 1);
            nw++;
            if (ids[i] >= st->cap_extra) {
                int64_t cap = st->cap_extra ? 2 * st->cap_extra : 65536;
                st->extra_counts = tcd_realloc(st->extra_counts, (size_t)cap * sizeof(int64_t));
                memset(st->extra_counts + st->cap_extra, 0, (size_t)(cap - st->cap_extra) * sizeof(int64_t));
                st->cap_extra = cap;
            }
        } else {
            st->extra_counts[ids[i]]++;
        }
    }
}

/* Assigns ids in record order and appends the documents. Returns 0 or -1 (message printed). */
static int commit_chunk(prep_state *st, chunk_out *c, const char *path) {
    for (int64_t k = 0; k < c->n_recs; k++) {
        rec_out *r = &c->recs[k];
        if (r->err_off != SIZE_MAX) {
            if (bad_record(st, path, r->line, c->bytes.data + r->err_off) < 0) return -1;
            continue;
        }
        int64_t n_lab;
        int lrc = record_labels(st, c, r, path, &st->lab_buf, &st->lab_cap, &n_lab);
        if (lrc < 0) return -1;
        if (lrc > 0) continue;
        for (int64_t q = 0; q < n_lab; q++) count_class_doc(st, st->lab_buf[q]);
        int32_t *ids = c->ids + r->id_off;
        if (st->ctx.training) assign_word_ids(st, c, r, ids);
        if (tcd_cw_add_multi(&st->w, ids, r->n_words + r->n_ngrams, st->lab_buf, n_lab) < 0) {
            tcd_error("%s: %s", st->o->out, tcd_h5_errmsg());
            return -1;
        }
    }
    return 0;
}

/* Parses a batch of records in parallel, then commits them in order. */
static int process_batch(prep_state *st, const tcd_record *recs, int64_t n, const char *path) {
    int n_chunks = st->n_chunks;
    if (n < n_chunks) n_chunks = (int)n;
    for (int k = 0; k < n_chunks; k++) {
        chunk_out *c = &st->chunks[k];
        c->n_recs = c->n_ids = c->n_news = 0;
        c->bytes.len = 0;
    }
    const parse_ctx *ctx = &st->ctx;
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->n_threads)
    for (int k = 0; k < n_chunks; k++) {
        thread_state *ts = &st->ts[omp_get_thread_num()];
        int64_t lo = n * k / n_chunks, hi = n * (k + 1) / n_chunks;
        for (int64_t i = lo; i < hi; i++) process_record(ctx, ts, &st->chunks[k], &recs[i]);
    }
    st->n_docs_in += n;
    for (int k = 0; k < n_chunks; k++)
        if (commit_chunk(st, &st->chunks[k], path) < 0) return -1;
    return 0;
}

/* Reads one input through. Returns raw bytes read, or -1 (message printed). */
static int64_t process_input(prep_state *st, const char *path, tcd_format fmt) {
    tcd_reader r;
    char err[2048];
    if (tcd_reader_open(&r, path, fmt, st->o->block_bytes, err, sizeof err) < 0) {
        tcd_error("%s", err);
        return -1;
    }
    tcd_fields fs;
    int have_fields = 0;
    int64_t rc = 0;
    for (;;) {
        const tcd_record *recs;
        int64_t n = tcd_reader_next(&r, &recs, err, sizeof err);
        if (n < 0) {
            tcd_error("%s", err);
            rc = -1;
            break;
        }
        if (n == 0) break;
        if (!have_fields) {
            int header = (fmt == TCD_FMT_TSV || fmt == TCD_FMT_CSV) && st->o->header;
            if (tcd_fields_resolve(&fs, fmt, st->o->text_field, st->o->label_field, st->o->label_prefix,
                                   header ? &recs[0] : NULL, path, err, sizeof err) < 0) {
                tcd_error("%s", err);
                rc = -1;
                break;
            }
            fs.replace_surrogates = st->ctx.tok.invalid_utf8 == TCD_UTF8_REPLACE;
            fs.label_sep = st->o->label_sep;
            have_fields = 1;
            st->ctx.fields = &fs;
            if (header) {
                recs++;
                n--;
            }
        }
        if (n > 0 && process_batch(st, recs, n, path) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        rc = r.n_bytes_read;
        if (!have_fields) tcd_warn("%s: no records (empty input)", path);
    }
    if (have_fields) tcd_fields_free(&fs);
    st->ctx.fields = NULL;
    tcd_reader_close(&r);
    return rc;
}

/* Is s an integer literal (optional '-', digits)? */
static int int_literal(const char *s, long long *v) {
    const char *p = s;
    if (*p == '-') p++;
    if (!*p || strlen(p) > 18) return 0;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return 0;
    *v = strtoll(s, NULL, 10);
    return 1;
}

static int g_numeric_labels;
static const char *const *g_sort_names;
static long long *g_sort_vals;

static int cmp_labels(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_numeric_labels && g_sort_vals[x] != g_sort_vals[y]) return g_sort_vals[x] < g_sort_vals[y] ? -1 : 1;
    return strcmp(g_sort_names[x], g_sort_names[y]);
}

/* Label ids of a training corpus: numeric order when every label is an integer, else byte order.
 * Returns remap[provisional id] (malloc'd) and fills sorted names (pointers into the vocab). */
static int32_t *order_labels(const tcd_vocab *labels, const char **names_out) {
    int64_t n = tcd_vocab_size(labels);
    const char **names = tcd_malloc((size_t)n * sizeof *names);
    long long *vals = tcd_malloc((size_t)n * sizeof *vals);
    int32_t *order = tcd_malloc((size_t)n * sizeof *order);
    int numeric = 1;
    for (int64_t i = 0; i < n; i++) {
        names[i] = tcd_vocab_word(labels, (int32_t)i, NULL);
        if (!int_literal(names[i], &vals[i])) numeric = 0;
        order[i] = (int32_t)i;
    }
    g_numeric_labels = numeric;
    g_sort_names = names;
    g_sort_vals = vals;
    qsort(order, (size_t)n, sizeof *order, cmp_labels);
    int32_t *remap = tcd_malloc((size_t)n * sizeof *remap);
    for (int64_t i = 0; i < n; i++) {
        remap[order[i]] = (int32_t)i;
        names_out[i] = names[order[i]];
    }
    free(names);
    free(vals);
    free(order);
    return remap;
}

static void free_state(prep_state *st) {
    for (int k = 0; k < st->n_chunks; k++) {
        chunk_out *c = &st->chunks[k];
        free(c->recs);
        free(c->ids);
        free(c->news);
        tcd_buf_free(&c->bytes);
    }
    free(st->chunks);
    for (int t = 0; t < st->n_threads; t++) {
        tcd_tokens_free(&st->ts[t].toks);
        tcd_buf_free(&st->ts[t].text);
        tcd_parse_scratch_free(&st->ts[t].ps);
    }
    free(st->ts);
    if (st->vocab) tcd_vocab_free(st->vocab);
    if (st->labels) tcd_vocab_free(st->labels);
    free(st->extra_counts);
    free(st->class_docs);
    free(st->lab_buf);
}

/* Removes the temporary output after a failure. */
static void fail_out(prep_state *st) {
    tcd_cw_abort(&st->w);
    remove_tmp(NULL);
    tcd_set_cleanup(NULL, NULL);
    set_signals(SIG_DFL);
}

/* ---------------------------------------------------------------- setting up */

/* A dev/test set: the tokenizer, the vocabulary and the labels of the training corpus. Returns 0
 * or -1 (message printed). */
static int setup_from_train(prep_state *st) {
    const tcd_corpus *train = st->o->train;
    st->ctx.tok = train->tok;
    st->ctx.tok.max_len = st->o->tok.max_len;
    if (st->ctx.tok.ngrams <= 1) st->ctx.tok.buckets = 0;
    int64_t n_words = 0, n_labels = 0, *counts = NULL;
    char **words = tcd_corpus_read_vocab(train, &n_words, &counts);
    char **labels = tcd_corpus_read_label_names(train, &n_labels);
    int64_t dup = -1;
    if (words) st->vocab = tcd_vocab_from_words_checked(words, counts, n_words, &dup);
    if (labels) st->labels = tcd_vocab_from_words_checked(labels, NULL, n_labels, &dup);
    int ok = words && labels && st->vocab && st->labels;
    if (!ok)
        tcd_error("--vocab %s: cannot read its vocabulary and labels (%s)", train->path,
                  dup >= 0 ? "a duplicate entry" : tcd_h5_errmsg());
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    free(counts);
    st->fixed_labels = 1;
    st->label_origin = "training labels";
    st->ctx.training = 0;
    st->ctx.ngram_base = n_words;
    return ok ? 0 : -1;
}

/* A training corpus: the vocabulary grows from the input; the labels are the given list, or grow
 * from the input too. */
static void setup_training(prep_state *st) {
    const tcd_prepare_opts *o = st->o;
    st->ctx.tok = o->tok;
    st->ctx.training = 1;
    st->vocab = tcd_vocab_new();
    if (o->labels) {
        st->labels = tcd_vocab_from_words(o->labels, NULL, o->n_labels);
        TCD_CHECK(st->labels); /* the caller gives distinct labels */
        st->fixed_labels = 1;
        st->label_origin = "--labels";
    } else {
        st->labels = tcd_vocab_new();
    }
}

static void setup_threads(prep_state *st) {
    st->n_threads = st->o->threads;
    st->n_chunks = st->n_threads == 1 ? 1 : 8 * st->n_threads;
    st->chunks = tcd_calloc((size_t)st->n_chunks, sizeof *st->chunks);
    st->ts = tcd_calloc((size_t)st->n_threads, sizeof *st->ts);
}

/* The output: a temporary file, renamed into place only when complete. From here on a failure, a
 * fatal error or a signal removes it. Returns 0 or -1 (message printed). */
static int open_output(prep_state *st) {
    g_tmp_path = tcd_tmp_path_for(st->o->out);
    tcd_set_cleanup(remove_tmp, NULL);
    set_signals(on_signal);
    if (tcd_cw_create(&st->w, g_tmp_path, !st->ctx.training) < 0) {
        tcd_error("%s: cannot create the output (%s); does its folder exist and is it writable?", st->o->out,
                  tcd_h5_errmsg());
        return -1;
    }
    return 0;
}

/* Reads every input through. Returns the raw bytes read, or -1 (message printed). */
static int64_t read_inputs(prep_state *st) {
    int64_t n_bytes = 0;
    for (int i = 0; i < st->o->n_inputs; i++) {
        int64_t got = process_input(st, st->o->inputs[i], st->o->format);
        if (got < 0) return -1;
        n_bytes += got;
    }
    if (st->w.n_docs == 0) {
        tcd_error("no documents in the input%s", st->n_skipped ? " (every record was bad)" : "");
        return -1;
    }
    return n_bytes;
}

/* ---------------------------------------------------------------- finishing */

/* What the corpus holds once the input is read. */
typedef struct {
    tcd_vocab *final;         /* training: the final vocabulary (NULL: the training corpus's, st->vocab) */
    const char **label_names; /* [n_classes] in final id order (pointers into st->labels) */
    int multi;                /* some document has several labels */
    int64_t n_assign;         /* labels of all documents */
    int32_t *label_remap;     /* training without --labels: provisional label id -> final id */
    int64_t n_classes, vocab_size, n_docs, n_tokens;
} outcome;

static void outcome_free(outcome *fin) {
    if (fin->final) tcd_vocab_free(fin->final);
    free(fin->label_remap);
    free(fin->label_names);
}

/* Training: adds the occurrences counted outside the table during the parallel phase. */
static void add_extra_counts(prep_state *st, int64_t n_raw) {
    for (int64_t id = 0; id < n_raw && id < st->cap_extra; id++) {
        if (!st->extra_counts[id]) continue;
        size_t len;
        const char *wd = tcd_vocab_word(st->vocab, (int32_t)id, &len);
        tcd_vocab_add(st->vocab, wd, len, tcd_word_hash(wd, len), st->extra_counts[id]);
    }
}

/* The final vocabulary and label order; a training corpus's ids are rewritten in place to them.
 * Returns 0 or -1 (message printed). */
static int finalize(prep_state *st, outcome *fin) {
    const tcd_prepare_opts *o = st->o;
    int64_t n_classes = fin->n_classes = tcd_vocab_size(st->labels);
    fin->label_names = tcd_malloc((size_t)n_classes * sizeof *fin->label_names);
    if (!st->ctx.training || st->fixed_labels)
        for (int64_t i = 0; i < n_classes; i++) fin->label_names[i] = tcd_vocab_word(st->labels, (int32_t)i, NULL);
    if (!st->ctx.training) return 0;
    if (!st->fixed_labels && n_classes < 2) {
        tcd_error("the input has only 1 class ('%s'); a training corpus needs at least 2 (is --label-field right?)",
                  tcd_vocab_word(st->labels, 0, NULL));
        return -1;
    }
    int64_t n_raw = tcd_vocab_size(st->vocab);
    add_extra_counts(st, n_raw);
    int32_t *remap = NULL;
    fin->final = tcd_vocab_finalize(st->vocab, o->min_count, o->max_vocab, &remap);
    if (!st->fixed_labels) fin->label_remap = order_labels(st->labels, fin->label_names);
    int rc = tcd_cw_remap(&st->w, remap, n_raw, tcd_vocab_size(fin->final), fin->label_remap, n_classes);
    if (rc < 0) tcd_error("%s: %s", o->out, tcd_h5_errmsg());
    free(remap);
    return rc < 0 ? -1 : 0;
}

/* Writes the vocabulary, the labels and the attributes, and moves the finished file into place.
 * Returns 0 or -1 (message printed). */
static int write_file(prep_state *st, outcome *fin, char content_hex[65]) {
    const tcd_prepare_opts *o = st->o;
    const tcd_vocab *fv = fin->final ? fin->final : st->vocab;
    int64_t vocab_size = fin->vocab_size = tcd_vocab_size(fv);
    const char **words = tcd_malloc((size_t)vocab_size * sizeof *words);
    int64_t *counts = tcd_malloc((size_t)vocab_size * sizeof *counts);
    for (int64_t i = 0; i < vocab_size; i++) {
        words[i] = tcd_vocab_word(fv, (int32_t)i, NULL);
        counts[i] = tcd_vocab_count(fv, (int32_t)i);
    }
    tcd_buf sources = {0};
    for (int i = 0; i < o->n_inputs; i++) {
        if (i) tcd_buf_append(&sources, ", ", 2);
        tcd_buf_append(&sources, o->inputs[i], strlen(o->inputs[i]));
    }
    tcd_buf_putc(&sources, 0);
    tcd_corpus_meta meta = {
        .tok = &st->ctx.tok,
        .words = words,
        .counts = counts,
        .vocab_size = vocab_size,
        .label_names = fin->label_names,
        .n_classes = fin->n_classes,
        .min_count = o->train ? o->train->min_count : o->min_count,
        .max_vocab = o->train ? o->train->max_vocab : o->max_vocab,
        .n_skipped = st->n_skipped,
        .input_format = tcd_format_name(o->format),
        .sources = sources.data,
    };
    char vocab_hex[65];
    fin->n_docs = st->w.n_docs;
    fin->n_tokens = st->w.n_tokens;
    fin->multi = st->w.multi;
    fin->n_assign = st->w.ml_n;
    int frc = tcd_cw_finish(&st->w, &meta, content_hex, vocab_hex);
    if (frc == 0 && tcd_commit_file(g_tmp_path, o->out) != 0) {
        tcd_error("%s: cannot move the finished file into place", o->out);
        frc = -1;
    } else if (frc < 0) {
        tcd_error("%s: %s", o->out, tcd_h5_errmsg());
    }
    free(words);
    free(counts);
    tcd_buf_free(&sources);
    return frc < 0 ? -1 : 0;
}

/* "name=documents, ..." in final label order (at most about 50 classes). */
static void class_counts(const prep_state *st, const outcome *fin, tcd_buf *cls) {
    for (int64_t i = 0; i < fin->n_classes; i++) {
        int32_t prov = (int32_t)i;
        if (fin->label_remap)
            for (int64_t j = 0; j < fin->n_classes; j++)
                if (fin->label_remap[j] == i) prov = (int32_t)j;
        tcd_buf_printf(cls, "%s%s=%lld", i ? ", " : "", fin->label_names[i],
                       (long long)(prov < st->cap_class ? st->class_docs[prov] : 0));
        if (i >= 50) {
            tcd_buf_printf(cls, ", ... (%lld classes)", (long long)fin->n_classes);
            break;
        }
    }
    tcd_buf_putc(cls, 0);
}

static void print_summary(const prep_state *st, const outcome *fin, int64_t n_bytes, double secs,
                          const char *content_hex) {
    const tcd_prepare_opts *o = st->o;
    tcd_info("prepared %s (%s, %s mode, %d thread%s)", o->out, tcd_format_name(o->format),
             st->ctx.training ? "training" : "--vocab", st->n_threads, st->n_threads == 1 ? "" : "s");
    tcd_info("  documents   %lld", (long long)fin->n_docs);
    tcd_info("  tokens      %lld", (long long)fin->n_tokens);
    if (st->ctx.tok.ngrams > 1)
        tcd_info("  vocabulary  %lld words + %lld n-gram buckets", (long long)fin->vocab_size,
                 (long long)st->ctx.tok.buckets);
    else
        tcd_info("  vocabulary  %lld words", (long long)fin->vocab_size);
    tcd_buf cls = {0};
    class_counts(st, fin, &cls);
    tcd_info("  classes     %lld: %s", (long long)fin->n_classes, cls.data);
    tcd_buf_free(&cls);
    if (fin->multi)
        tcd_info("  multi-label %lld labels in all, %.2f per document", (long long)fin->n_assign,
                 fin->n_docs ? (double)fin->n_assign / (double)fin->n_docs : 0.0);
    tcd_info("  skipped     %lld bad record%s", (long long)st->n_skipped, st->n_skipped == 1 ? "" : "s");
    tcd_info("  time        %.2f s, %.1f MB/s of raw input (%.1f MB)", secs,
             secs > 0 ? (double)n_bytes / 1e6 / secs : 0.0, (double)n_bytes / 1e6);
    tcd_info("  content_sha256 %s", content_hex);
    if (st->n_skipped > MAX_WARNINGS)
        tcd_warn("%lld bad records were skipped in all (the first %d are listed above)", (long long)st->n_skipped,
                 MAX_WARNINGS);
}

/* ---------------------------------------------------------------- the pipeline */

int tcd_prepare(const tcd_prepare_opts *o) {
    double t0 = tcd_now();
    prep_state st;
    memset(&st, 0, sizeof st);
    st.o = o;
    if (o->train) {
        if (setup_from_train(&st) < 0) {
            free_state(&st);
            return -1;
        }
    } else {
        setup_training(&st);
    }
    st.ctx.vocab = st.vocab;
    setup_threads(&st);

    outcome fin;
    memset(&fin, 0, sizeof fin);
    char content_hex[65];
    int64_t n_bytes = -1;
    int rc = open_output(&st);
    if (rc == 0) rc = (n_bytes = read_inputs(&st)) < 0 ? -1 : 0;
    if (rc == 0) rc = finalize(&st, &fin);
    if (rc == 0) rc = write_file(&st, &fin, content_hex);
    if (rc == 0) {
        tcd_set_cleanup(NULL, NULL);
        set_signals(SIG_DFL);
        print_summary(&st, &fin, n_bytes, tcd_now() - t0, content_hex);
    } else {
        fail_out(&st);
    }
    outcome_free(&fin);
    free(g_tmp_path);
    g_tmp_path = NULL;
    free_state(&st);
    return rc;
}
