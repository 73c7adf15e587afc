/* tcdist prepare: the options and their checks, then the pipeline (text/prepare.h) writes the
 * corpus. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/args.h"
#include "io/corpus.h"
#include "tcdist.h"
#include "text/prepare.h"
#include "text/reader.h"
#include "text/tokenize.h"
#include "text/vocab.h"

/* The flags as given. */
typedef struct {
    const char *format, *text_field, *label_field, *vocab_path, *invalid_utf8, *labels, *label_prefix, *label_sep, *out;
    int no_header, no_lowercase, drop_punct, skip_bad;
    int64_t min_count, max_vocab, max_len, ngrams, buckets, threads, block_kb;
} prep_flags;

/* The format of the inputs: --format, else from their names (all alike). Returns 0 or -1 (message
 * printed). */
static int input_format(const prep_flags *o, char **pos, int n_pos, tcd_format *fmt) {
    *fmt = TCD_FMT_TSV;
    if (o->format) {
        tcd_format_parse(o->format, fmt);
        return 0;
    }
    for (int i = 0; i < n_pos; i++) {
        tcd_format f;
        if (tcd_format_from_path(pos[i], &f) < 0) {
            tcd_error("cannot tell the format of '%s' from its name; pass --format tsv|csv|fasttext|jsonl", pos[i]);
            return -1;
        }
        if (i > 0 && f != *fmt) {
            tcd_error("inputs have different formats ('%s' is %s, '%s' is %s); pass --format", pos[0],
                      tcd_format_name(*fmt), pos[i], tcd_format_name(f));
            return -1;
        }
        *fmt = f;
    }
    return 0;
}

/* --vocab: the tokenizer settings and labels come from the training corpus; a flag that says
 * otherwise is an error rather than silently ignored. */
static int check_conflicts(const prep_flags *o, const tcd_corpus *c) {
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


static void free_labels(char *const *names, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free((void *)names);
}

/* --labels A,B,..: the classes in id order, as malloc'd strings (free with free_labels). Returns 0
 * or -1 (message printed: an empty or repeated label, or fewer than 2). */
static int parse_labels(const char *list, char ***names, int64_t *n) {
    tcd_vocab *seen = tcd_vocab_new();
    char **v = NULL;
    int64_t k = 0;
    int rc = 0;
    for (const char *p = list;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        uint64_t h = tcd_word_hash(p, len);
        if (len == 0 || tcd_vocab_find(seen, p, len, h) >= 0) {
            tcd_error("--labels '%s': %s", list, len == 0 ? "empty label in the list" : "a label is repeated");
            rc = -1;
            break;
        }
        tcd_vocab_add(seen, p, len, h, 0);
        v = tcd_realloc(v, (size_t)(k + 1) * sizeof *v);
        v[k++] = tcd_strndup(p, len);
        if (!c) break;
        p = c + 1;
    }
    tcd_vocab_free(seen);
    if (rc == 0 && k < 2) {
        tcd_error("--labels '%s': a classifier needs at least 2 classes", list);
        rc = -1;
    }
    if (rc < 0) {
        free_labels(v, k);
        return -1;
    }
    *names = v;
    *n = k;
    return 0;
}

/* The checks that need no input read: formats, readable inputs, --vocab against the other flags,
 * --labels. Fills p (the training corpus, when opened, in *train). Returns 0, or an exit code
 * (message printed). */
static int check_flags(const prep_flags *o, char **pos, int n_pos, tcd_prepare_opts *p, tcd_corpus *train) {
    if (input_format(o, pos, n_pos, &p->format) < 0) return TCD_EXIT_ERROR;
    if (o->label_prefix && p->format != TCD_FMT_FASTTEXT) {
        tcd_error("--label-prefix applies to fastText input only");
        return TCD_EXIT_ERROR;
    }
    if (o->label_sep && p->format != TCD_FMT_TSV && p->format != TCD_FMT_CSV) {
        tcd_error("--label-sep applies to TSV and CSV input only (fastText: put several %s tokens on a line; "
                  "JSONL: make the label a list, [\"a\", \"b\"])",
                  o->label_prefix ? o->label_prefix : "__label__");
        return TCD_EXIT_USAGE;
    }
    if (o->label_sep && (strlen(o->label_sep) != 1 || o->label_sep[0] == '\n' || o->label_sep[0] == '\r' ||
                         (o->label_sep[0] == '\t' && p->format == TCD_FMT_TSV))) {
        tcd_error("--label-sep '%s': give one character that is not the field delimiter or a line break (e.g. "
                  "'|' or ';')",
                  o->label_sep);
        return TCD_EXIT_USAGE;
    }
    p->label_sep = o->label_sep ? o->label_sep[0] : 0;
    /* Check each input up front so that a typo fails before minutes of work. */
    for (int i = 0; i < n_pos; i++) {
        if (strcmp(pos[i], "-") && access(pos[i], R_OK) != 0) {
            tcd_error("%s: cannot read input (does it exist?)", pos[i]);
            return TCD_EXIT_ERROR;
        }
    }
    tcd_tok_opts_default(&p->tok);
    p->tok.max_len = o->max_len;
    if (o->vocab_path) {
        char err[1024];
        if (tcd_corpus_open(train, o->vocab_path, err, sizeof err) < 0) {
            tcd_error("--vocab: %s", err);
            return TCD_EXIT_ERROR;
        }
        p->train = train;
        return check_conflicts(o, train) < 0 ? TCD_EXIT_ERROR : 0;
    }
    p->tok.lowercase = !o->no_lowercase;
    p->tok.keep_punct = !o->drop_punct;
    p->tok.invalid_utf8 = strcmp(o->invalid_utf8, "replace") == 0 ? TCD_UTF8_REPLACE : TCD_UTF8_ERROR;
    p->tok.ngrams = (int)o->ngrams;
    p->tok.buckets = o->ngrams > 1 ? o->buckets : 0;
    if (tcd_args_given("--buckets") && o->ngrams <= 1) tcd_warn("--buckets has no effect without --ngrams 2 or more");
    if (o->labels) {
        char **names;
        if (parse_labels(o->labels, &names, &p->n_labels) < 0) return TCD_EXIT_USAGE;
        p->labels = names;
    }
    return 0;
}

int tcd_cmd_prepare(int argc, char **argv) {
    prep_flags flags = {.invalid_utf8 = "error",
                        .min_count = 1,
                        .buckets = 200000, /* rows of the embedding table: dense Adam sweeps them all every step */
                        .ngrams = 1,
                        .block_kb = 16384};
    prep_flags *o = &flags;
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
        {"--label-sep", TCD_OPT_STR, &o->label_sep, "C",
         "TSV/CSV: the label field is a list of labels separated by C (multi-label; e.g. '|')", 0, 0, NULL},
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
    tcd_prepare_opts p = {
        .out = o->out,
        .inputs = pos,
        .n_inputs = n_pos,
        .header = !o->no_header,
        .text_field = o->text_field,
        .label_field = o->label_field,
        .label_prefix = o->label_prefix,
        .min_count = o->min_count,
        .max_vocab = o->max_vocab,
        .skip_bad = o->skip_bad,
        .threads = o->threads > 0 ? (int)o->threads : omp_get_max_threads(),
        .block_bytes = (size_t)o->block_kb << 10,
    };
    if (p.threads < 1) p.threads = 1;
    tcd_corpus train;
    int rc = check_flags(o, pos, n_pos, &p, &train);
    if (rc == 0) rc = tcd_prepare(&p) == 0 ? TCD_EXIT_OK : TCD_EXIT_ERROR;
    if (p.train) tcd_corpus_close(&train);
    free_labels(p.labels, p.n_labels);
    free(pos);
    return rc;
}
