/* tcdist prepare: raw labelled text (TSV, CSV, fastText, JSONL) -> tokenized corpus (HDF5).
 *
 * Streaming: each input is read in large blocks and split into records (reader.c); the records of
 * a block are parsed and tokenized in parallel (OpenMP, contiguous chunks, results kept in record
 * order); then one thread assigns ids in record order and appends to the HDF5 file. Memory is
 * bounded by the vocabulary and the block buffers, not by the input size. A training corpus gets
 * provisional ids that are remapped in place once the vocabulary is final. */
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "io/corpus.h"
#include "io/corpus_write.h"
#include "text/reader.h"
#include "tcdist.h"
#include "text/tokenize.h"
#include "base/util.h"
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

/* ---------------------------------------------------------------- the command */

typedef struct {
    const char *format, *text_field, *label_field, *vocab_path, *invalid_utf8, *labels, *label_prefix, *out;
    int no_header, no_lowercase, drop_punct, skip_bad;
    int64_t min_count, max_vocab, max_len, ngrams, buckets, threads, block_kb;
} prep_opts;

typedef struct {
    prep_opts o;
    parse_ctx ctx;
    tcd_vocab *vocab;  /* raw (training) or the training corpus's (--vocab) */
    tcd_vocab *labels; /* label name -> id: provisional (first appearance) or fixed */
    int fixed_labels;
    const char *label_origin; /* "training labels" or "--labels" */
    int64_t *extra_counts;    /* training: occurrences found in the parallel phase, by raw id */
    int64_t cap_extra;
    int64_t *class_docs;      /* documents per label id */
    int64_t cap_class;
    tcd_corpus_writer w;
    int64_t n_skipped, n_docs_in;
    int n_threads, n_chunks;
    chunk_out *chunks;
    thread_state *ts;
} prep_state;

/* Reports a bad record. Returns 0 when it is skipped (--skip-bad), -1 when the run must stop. */
static int bad_record(prep_state *st, const char *path, int64_t line, const char *reason) {
    if (!st->o.skip_bad) {
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

/* Assigns ids in record order and appends the documents. Returns 0 or -1 (message printed). */
static int commit_chunk(prep_state *st, chunk_out *c, const char *path) {
    for (int64_t k = 0; k < c->n_recs; k++) {
        rec_out *r = &c->recs[k];
        if (r->err_off != SIZE_MAX) {
            if (bad_record(st, path, r->line, c->bytes.data + r->err_off) < 0) return -1;
            continue;
        }
        const char *lab = c->bytes.data + r->label_off;
        uint64_t lh = tcd_word_hash(lab, r->label_n);
        int32_t label;
        if (st->fixed_labels) {
            label = tcd_vocab_find(st->labels, lab, r->label_n, lh);
            if (label < 0) {
                tcd_buf names = {0};
                label_list(st->labels, &names);
                char *msg = tcd_sprintf("label '%.*s' is not one of the %s (%s)", (int)r->label_n, lab,
                                        st->label_origin, names.data);
                tcd_buf_free(&names);
                int rc = bad_record(st, path, r->line, msg);
                free(msg);
                if (rc < 0) return -1;
                continue;
            }
        } else {
            label = tcd_vocab_add(st->labels, lab, r->label_n, lh, 1);
            if (tcd_vocab_size(st->labels) > MAX_CLASSES) {
                tcd_error("%s:%lld: more than %d distinct labels; is --label-field the right column?", path,
                          (long long)r->line, MAX_CLASSES);
                return -1;
            }
        }
        if (label >= st->cap_class) {
            int64_t cap = st->cap_class ? st->cap_class : 16;
            while (cap <= label) cap *= 2;
            st->class_docs = tcd_realloc(st->class_docs, (size_t)cap * sizeof(int64_t));
            memset(st->class_docs + st->cap_class, 0, (size_t)(cap - st->cap_class) * sizeof(int64_t));
            st->cap_class = cap;
        }
        st->class_docs[label]++;
        int32_t *ids = c->ids + r->id_off;
        if (st->ctx.training) {
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
        if (tcd_cw_add(&st->w, ids, r->n_words + r->n_ngrams, label) < 0) {
            tcd_error("%s: %s", st->o.out, tcd_h5_errmsg());
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
    if (tcd_reader_open(&r, path, fmt, (size_t)st->o.block_kb << 10, err, sizeof err) < 0) {
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
            int header = (fmt == TCD_FMT_TSV || fmt == TCD_FMT_CSV) && !st->o.no_header;
            if (tcd_fields_resolve(&fs, fmt, st->o.text_field, st->o.label_field, st->o.label_prefix,
                                   header ? &recs[0] : NULL, path, err, sizeof err) < 0) {
                tcd_error("%s", err);
                rc = -1;
                break;
            }
            fs.replace_surrogates = st->ctx.tok.invalid_utf8 == TCD_UTF8_REPLACE;
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

/* --vocab: the tokenizer settings and labels come from the training corpus; a flag that says
 * otherwise is an error rather than silently ignored. */
static int check_conflicts(const prep_opts *o, const tcd_corpus *c) {
    char msg[256] = "";
    if (tcd_args_given("--no-lowercase") && c->tok.lowercase)
        snprintf(msg, sizeof msg, "--no-lowercase (%s was made with lowercasing)", c->path);
    else if (tcd_args_given("--drop-punct") && c->tok.keep_punct)
        snprintf(msg, sizeof msg, "--drop-punct (%s keeps punctuation)", c->path);
    else if (tcd_args_given("--invalid-utf8") &&
             strcmp(o->invalid_utf8, c->tok.invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error"))
        snprintf(msg, sizeof msg, "--invalid-utf8 %s (%s has %s)", o->invalid_utf8, c->path,
                 c->tok.invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error");
    else if (tcd_args_given("--ngrams") && o->ngrams != c->tok.ngrams)
        snprintf(msg, sizeof msg, "--ngrams %lld (%s has ngrams=%d)", (long long)o->ngrams, c->path, c->tok.ngrams);
    else if (tcd_args_given("--buckets") && o->buckets != c->n_buckets)
        snprintf(msg, sizeof msg, "--buckets %lld (%s has %lld buckets)", (long long)o->buckets, c->path,
                 (long long)c->n_buckets);
    else if (tcd_args_given("--min-count") && o->min_count != c->min_count)
        snprintf(msg, sizeof msg, "--min-count %lld (%s has min_count=%lld)", (long long)o->min_count, c->path,
                 (long long)c->min_count);
    else if (tcd_args_given("--max-vocab") && o->max_vocab != c->max_vocab)
        snprintf(msg, sizeof msg, "--max-vocab %lld (%s has max_vocab=%lld)", (long long)o->max_vocab, c->path,
                 (long long)c->max_vocab);
    else if (tcd_args_given("--labels"))
        snprintf(msg, sizeof msg, "--labels (the labels come from %s)", c->path);
    if (!msg[0]) return 0;
    tcd_error("%s conflicts with --vocab: the vocabulary, labels and tokenizer settings come from the "
              "training corpus (only --max-len may differ)",
              msg);
    return -1;
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
}

static int fail_out(prep_state *st) {
    tcd_cw_abort(&st->w);
    remove_tmp(NULL);
    tcd_set_cleanup(NULL, NULL);
    set_signals(SIG_DFL);
    free(g_tmp_path);
    g_tmp_path = NULL;
    free_state(st);
    return TCD_EXIT_ERROR;
}

int tcd_cmd_prepare(int argc, char **argv) {
    prep_state S;
    memset(&S, 0, sizeof S);
    prep_opts *o = &S.o;
    o->invalid_utf8 = "error";
    o->min_count = 1;
    o->buckets = 200000; /* rows of the embedding table: dense Adam sweeps them all every step */
    o->ngrams = 1;
    o->block_kb = 16384;
    const tcd_opt opts[] = {
        {"-o,--output", TCD_OPT_STR, &o->out, "OUT.h5", "the corpus file to write (required)", 0, 0, NULL},
        {"--format", TCD_OPT_CHOICE, &o->format, "FMT",
         "input format (default: from the file extension: .tsv .csv .jsonl/.json .ft/.fasttext)", 0, 0,
         "tsv|csv|fasttext|jsonl"},
        {"--text-field", TCD_OPT_STR, &o->text_field, "F[,F..]",
         "text column(s) by header name or 0-based index, joined with a space (default: text; no header: 1; "
         "JSONL: key text)",
         0, 0, NULL},
        {"--label-field", TCD_OPT_STR, &o->label_field, "F",
         "label column by name or 0-based index (default: label; no header: 0; JSONL: key label)", 0, 0, NULL},
        {"--no-header", TCD_OPT_FLAG, &o->no_header, NULL, "TSV/CSV: the first line is data, not column names", 0,
         0, NULL},
        {"--vocab", TCD_OPT_STR, &o->vocab_path, "TRAIN.h5",
         "use the vocabulary, labels and tokenizer settings of this training corpus (dev/test sets)", 0, 0, NULL},
        {"--min-count", TCD_OPT_I64, &o->min_count, "N", "keep words seen at least N times", 1, 1e15, NULL},
        {"--max-vocab", TCD_OPT_I64, &o->max_vocab, "N", "keep at most N most frequent words (0: no limit)", 0,
         2e9, NULL},
        {"--max-len", TCD_OPT_I64, &o->max_len, "N", "keep at most N words per document (0: no limit)", 0, 1e15,
         NULL},
        {"--ngrams", TCD_OPT_I64, &o->ngrams, "N", "also hashed word 2..N-grams (1: words only)", 1, 16, NULL},
        {"--buckets", TCD_OPT_I64, &o->buckets, "N", "hash buckets for n-grams (with --ngrams > 1)", 1, 1e9, NULL},
        {"--no-lowercase", TCD_OPT_FLAG, &o->no_lowercase, NULL, "keep letter case", 0, 0, NULL},
        {"--drop-punct", TCD_OPT_FLAG, &o->drop_punct, NULL, "drop punctuation (default: each is a token)", 0, 0,
         NULL},
        {"--invalid-utf8", TCD_OPT_CHOICE, &o->invalid_utf8, "POLICY",
         "invalid UTF-8 in text: error (a bad record) or replace (U+FFFD)", 0, 0, "error|replace"},
        {"--labels", TCD_OPT_STR, &o->labels, "A,B,..", "the classes, in id order (others are bad records)", 0, 0,
         NULL},
        {"--label-prefix", TCD_OPT_STR, &o->label_prefix, "P", "fastText label prefix (default __label__)", 0, 0,
         NULL},
        {"--skip-bad", TCD_OPT_FLAG, &o->skip_bad, NULL, "skip bad records (counted) instead of stopping", 0, 0,
         NULL},
        {"--threads", TCD_OPT_I64, &o->threads, "N", "parsing threads (0: OMP_NUM_THREADS or all cores)", 0, 1024,
         NULL},
        {"--block-kb", TCD_OPT_I64, &o->block_kb, "KB", "input read block size in KiB", 4, 1 << 20, NULL},
        {NULL, 0, NULL, NULL, NULL, 0, 0, NULL},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse("tcdist prepare [options] -o OUT.h5 INPUT...",
                             "Tokenize labelled raw text (TSV, CSV, fastText, JSONL; '-' is stdin) into a corpus "
                             "file for train/eval.",
                             opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (!o->out || n_pos == 0) {
        tcd_error("%s; usage: tcdist prepare [options] -o OUT.h5 INPUT... (see --help)",
                  !o->out ? "no output file (-o OUT.h5)" : "no INPUT file given");
        free(pos);
        return TCD_EXIT_USAGE;
    }
    double t0 = tcd_now();

    /* ---- the input format ---- */
    tcd_format fmt = TCD_FMT_TSV;
    if (o->format) {
        tcd_format_parse(o->format, &fmt);
    } else {
        for (int i = 0; i < n_pos; i++) {
            tcd_format f;
            if (tcd_format_from_path(pos[i], &f) < 0) {
                tcd_error("cannot tell the format of '%s' from its name; pass --format tsv|csv|fasttext|jsonl",
                          pos[i]);
                free(pos);
                return TCD_EXIT_ERROR;
            }
            if (i > 0 && f != fmt) {
                tcd_error("inputs have different formats ('%s' is %s, '%s' is %s); pass --format", pos[0],
                          tcd_format_name(fmt), pos[i], tcd_format_name(f));
                free(pos);
                return TCD_EXIT_ERROR;
            }
            fmt = f;
        }
    }
    if (o->label_prefix && fmt != TCD_FMT_FASTTEXT) {
        tcd_error("--label-prefix applies to fastText input only");
        free(pos);
        return TCD_EXIT_ERROR;
    }
    /* Check each input up front so that a typo fails before minutes of work. */
    for (int i = 0; i < n_pos; i++) {
        if (strcmp(pos[i], "-") && access(pos[i], R_OK) != 0) {
            tcd_error("%s: cannot read input (does it exist?)", pos[i]);
            free(pos);
            return TCD_EXIT_ERROR;
        }
    }

    /* ---- tokenizer, vocabulary, labels ---- */
    tcd_tok_opts_default(&S.ctx.tok);
    tcd_corpus train;
    int have_train = 0;
    char **train_words = NULL, **train_labels = NULL;
    int64_t *train_counts = NULL, n_train_words = 0, n_train_labels = 0;
    if (o->vocab_path) {
        char err[1024];
        if (tcd_corpus_open(&train, o->vocab_path, err, sizeof err) < 0) {
            tcd_error("--vocab: %s", err);
            free(pos);
            return TCD_EXIT_ERROR;
        }
        have_train = 1;
        if (check_conflicts(o, &train) < 0) {
            tcd_corpus_close(&train);
            free(pos);
            return TCD_EXIT_ERROR;
        }
        S.ctx.tok = train.tok;
        S.ctx.tok.max_len = o->max_len;
        if (S.ctx.tok.ngrams <= 1) S.ctx.tok.buckets = 0;
        train_words = tcd_corpus_read_vocab(&train, &n_train_words, &train_counts);
        train_labels = tcd_corpus_read_label_names(&train, &n_train_labels);
        int64_t dup = -1;
        if (train_words) S.vocab = tcd_vocab_from_words_checked(train_words, train_counts, n_train_words, &dup);
        if (train_labels) S.labels = tcd_vocab_from_words_checked(train_labels, NULL, n_train_labels, &dup);
        if (!train_words || !train_labels || !S.vocab || !S.labels) {
            tcd_error("--vocab %s: cannot read its vocabulary and labels (%s)", o->vocab_path,
                      dup >= 0 ? "a duplicate entry" : tcd_h5_errmsg());
            tcd_corpus_close(&train);
            free(pos);
            return TCD_EXIT_ERROR;
        }
        S.fixed_labels = 1;
        S.label_origin = "training labels";
        S.ctx.training = 0;
        S.ctx.ngram_base = n_train_words;
    } else {
        S.ctx.tok.lowercase = !o->no_lowercase;
        S.ctx.tok.keep_punct = !o->drop_punct;
        S.ctx.tok.invalid_utf8 = strcmp(o->invalid_utf8, "replace") == 0 ? TCD_UTF8_REPLACE : TCD_UTF8_ERROR;
        S.ctx.tok.ngrams = (int)o->ngrams;
        S.ctx.tok.buckets = o->ngrams > 1 ? o->buckets : 0;
        S.ctx.tok.max_len = o->max_len;
        if (tcd_args_given("--buckets") && o->ngrams <= 1)
            tcd_warn("--buckets has no effect without --ngrams 2 or more");
        S.vocab = tcd_vocab_new();
        S.labels = tcd_vocab_new();
        S.ctx.training = 1;
        if (o->labels) {
            const char *p = o->labels;
            for (;;) {
                const char *c = strchr(p, ',');
                size_t len = c ? (size_t)(c - p) : strlen(p);
                uint64_t h = tcd_word_hash(p, len);
                if (len == 0 || tcd_vocab_find(S.labels, p, len, h) >= 0) {
                    tcd_error("--labels '%s': %s", o->labels, len == 0 ? "empty label in the list" : "a label is repeated");
                    free_state(&S);
                    free(pos);
                    return TCD_EXIT_USAGE;
                }
                tcd_vocab_add(S.labels, p, len, h, 0);
                if (!c) break;
                p = c + 1;
            }
            if (tcd_vocab_size(S.labels) < 2) {
                tcd_error("--labels '%s': a classifier needs at least 2 classes", o->labels);
                free_state(&S);
                free(pos);
                return TCD_EXIT_USAGE;
            }
            S.fixed_labels = 1;
            S.label_origin = "--labels";
        }
    }
    S.ctx.vocab = S.vocab;

    /* ---- threads and scratch ---- */
    S.n_threads = o->threads > 0 ? (int)o->threads : omp_get_max_threads();
    if (S.n_threads < 1) S.n_threads = 1;
    S.n_chunks = S.n_threads == 1 ? 1 : 8 * S.n_threads;
    S.chunks = tcd_calloc((size_t)S.n_chunks, sizeof *S.chunks);
    S.ts = tcd_calloc((size_t)S.n_threads, sizeof *S.ts);

    /* ---- the output: a temporary file, renamed into place only when complete ---- */
    g_tmp_path = tcd_tmp_path_for(o->out);
    tcd_set_cleanup(remove_tmp, NULL);
    set_signals(on_signal);
    if (tcd_cw_create(&S.w, g_tmp_path, !S.ctx.training) < 0) {
        tcd_error("%s: cannot create the output (%s); does its folder exist and is it writable?", o->out,
                  tcd_h5_errmsg());
        if (have_train) tcd_corpus_close(&train);
        free(pos);
        return fail_out(&S);
    }

    /* ---- read everything ---- */
    int64_t n_bytes = 0;
    for (int i = 0; i < n_pos; i++) {
        int64_t got = process_input(&S, pos[i], fmt);
        if (got < 0) {
            if (have_train) tcd_corpus_close(&train);
            free(pos);
            return fail_out(&S);
        }
        n_bytes += got;
    }
    if (S.w.n_docs == 0) {
        tcd_error("no documents in the input%s", S.n_skipped ? " (every record was bad)" : "");
        if (have_train) tcd_corpus_close(&train);
        free(pos);
        return fail_out(&S);
    }

    /* ---- finalize ---- */
    tcd_vocab *final = NULL;
    const char **label_names = NULL;
    int64_t n_classes = tcd_vocab_size(S.labels);
    int32_t *label_remap = NULL;
    label_names = tcd_malloc((size_t)n_classes * sizeof *label_names);
    if (S.ctx.training) {
        if (!S.fixed_labels && n_classes < 2) {
            tcd_error("the input has only 1 class ('%s'); a training corpus needs at least 2 (is --label-field right?)",
                      tcd_vocab_word(S.labels, 0, NULL));
            free(label_names);
            free(pos);
            return fail_out(&S);
        }
        /* occurrences counted outside the table during the parallel phase */
        int64_t n_raw = tcd_vocab_size(S.vocab);
        for (int64_t id = 0; id < n_raw && id < S.cap_extra; id++) {
            if (!S.extra_counts[id]) continue;
            size_t len;
            const char *wd = tcd_vocab_word(S.vocab, (int32_t)id, &len);
            tcd_vocab_add(S.vocab, wd, len, tcd_word_hash(wd, len), S.extra_counts[id]);
        }
        int32_t *remap = NULL;
        final = tcd_vocab_finalize(S.vocab, o->min_count, o->max_vocab, &remap);
        if (S.fixed_labels) {
            for (int64_t i = 0; i < n_classes; i++) label_names[i] = tcd_vocab_word(S.labels, (int32_t)i, NULL);
        } else {
            label_remap = order_labels(S.labels, label_names);
        }
        if (tcd_cw_remap(&S.w, remap, n_raw, tcd_vocab_size(final), label_remap, n_classes) < 0) {
            tcd_error("%s: %s", o->out, tcd_h5_errmsg());
            free(remap);
            tcd_vocab_free(final);
            free(label_remap);
            free(label_names);
            free(pos);
            return fail_out(&S);
        }
        free(remap);
    } else {
        for (int64_t i = 0; i < n_classes; i++) label_names[i] = tcd_vocab_word(S.labels, (int32_t)i, NULL);
    }
    const tcd_vocab *fv = final ? final : S.vocab;
    int64_t vocab_size = tcd_vocab_size(fv);
    const char **words = tcd_malloc((size_t)vocab_size * sizeof *words);
    int64_t *counts = tcd_malloc((size_t)vocab_size * sizeof *counts);
    for (int64_t i = 0; i < vocab_size; i++) {
        words[i] = tcd_vocab_word(fv, (int32_t)i, NULL);
        counts[i] = tcd_vocab_count(fv, (int32_t)i);
    }
    tcd_buf sources = {0};
    for (int i = 0; i < n_pos; i++) {
        if (i) tcd_buf_append(&sources, ", ", 2);
        tcd_buf_append(&sources, pos[i], strlen(pos[i]));
    }
    tcd_buf_putc(&sources, 0);
    tcd_corpus_meta meta = {
        .tok = &S.ctx.tok,
        .words = words,
        .counts = counts,
        .vocab_size = vocab_size,
        .label_names = label_names,
        .n_classes = n_classes,
        .min_count = have_train ? train.min_count : o->min_count,
        .max_vocab = have_train ? train.max_vocab : o->max_vocab,
        .n_skipped = S.n_skipped,
        .input_format = tcd_format_name(fmt),
        .sources = sources.data,
    };
    char content_hex[65], vocab_hex[65];
    int64_t n_docs = S.w.n_docs, n_tokens = S.w.n_tokens;
    int frc = tcd_cw_finish(&S.w, &meta, content_hex, vocab_hex);
    if (frc == 0 && tcd_commit_file(g_tmp_path, o->out) != 0) {
        tcd_error("%s: cannot move the finished file into place", o->out);
        frc = -1;
    } else if (frc < 0) {
        tcd_error("%s: %s", o->out, tcd_h5_errmsg());
    }
    if (frc < 0) {
        free(words);
        free(counts);
        tcd_buf_free(&sources);
        if (final) tcd_vocab_free(final);
        free(label_remap);
        free(label_names);
        if (have_train) tcd_corpus_close(&train);
        free(pos);
        return fail_out(&S);
    }
    tcd_set_cleanup(NULL, NULL);
    set_signals(SIG_DFL);

    /* ---- summary ---- */
    double secs = tcd_now() - t0;
    tcd_info("prepared %s (%s, %s mode, %d thread%s)", o->out, tcd_format_name(fmt),
             S.ctx.training ? "training" : "--vocab", S.n_threads, S.n_threads == 1 ? "" : "s");
    tcd_info("  documents   %lld", (long long)n_docs);
    tcd_info("  tokens      %lld", (long long)n_tokens);
    if (S.ctx.tok.ngrams > 1)
        tcd_info("  vocabulary  %lld words + %lld n-gram buckets", (long long)vocab_size, (long long)S.ctx.tok.buckets);
    else
        tcd_info("  vocabulary  %lld words", (long long)vocab_size);
    tcd_buf cls = {0};
    for (int64_t i = 0; i < n_classes; i++) {
        int32_t prov = (int32_t)i;
        if (label_remap)
            for (int64_t j = 0; j < n_classes; j++)
                if (label_remap[j] == i) prov = (int32_t)j;
        tcd_buf_printf(&cls, "%s%s=%lld", i ? ", " : "", label_names[i],
                       (long long)(prov < S.cap_class ? S.class_docs[prov] : 0));
        if (i >= 50) {
            tcd_buf_printf(&cls, ", ... (%lld classes)", (long long)n_classes);
            break;
        }
    }
    tcd_buf_putc(&cls, 0);
    tcd_info("  classes     %lld: %s", (long long)n_classes, cls.data);
    tcd_buf_free(&cls);
    tcd_info("  skipped     %lld bad record%s", (long long)S.n_skipped, S.n_skipped == 1 ? "" : "s");
    tcd_info("  time        %.2f s, %.1f MB/s of raw input (%.1f MB)", secs,
             secs > 0 ? (double)n_bytes / 1e6 / secs : 0.0, (double)n_bytes / 1e6);
    tcd_info("  content_sha256 %s", content_hex);
    if (S.n_skipped > MAX_WARNINGS)
        tcd_warn("%lld bad records were skipped in all (the first %d are listed above)", (long long)S.n_skipped,
                 MAX_WARNINGS);

    free(words);
    free(counts);
    tcd_buf_free(&sources);
    if (final) tcd_vocab_free(final);
    free(label_remap);
    free(label_names);
    if (have_train) {
        tcd_corpus_close(&train);
        tcd_h5_free_strings(train_words, n_train_words);
        tcd_h5_free_strings(train_labels, n_train_labels);
        free(train_counts);
    }
    free(g_tmp_path);
    g_tmp_path = NULL;
    free_state(&S);
    free(pos);
    return TCD_EXIT_OK;
}
