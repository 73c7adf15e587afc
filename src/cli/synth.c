/* tcdist synth: options and their checks, then the generator (text/synth.c) writes the corpus to
 * a temporary file renamed into place when complete, or to stdout. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "tcdist.h"
#include "text/synth.h"
#include "base/util.h"

/* "2G", "500M", "64k", "1000": bytes (K/M/G/T are powers of 1024; optional trailing B/iB). */
static int parse_size(const char *s, int64_t *out, char *err, size_t errlen) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) {
        snprintf(err, errlen, "'%s' is not a size (e.g. 500M, 2G, 100000)", s);
        return -1;
    }
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mult > 1 && (*end == 'i' || *end == 'I')) end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end != 0) {
        snprintf(err, errlen, "'%s' is not a size (e.g. 500M, 2G, 100000)", s);
        return -1;
    }
    double bytes = v * mult;
    if (bytes < 1 || bytes > 9.0e18) {
        snprintf(err, errlen, "'%s' is out of range (1 byte .. 8 EiB)", s);
        return -1;
    }
    *out = (int64_t)bytes;
    return 0;
}

/* The flags as given. */
typedef struct {
    const char *out_path, *bytes_str, *format;
    int64_t n_docs, n_classes, vocab, seed, part, threads, labels_per_doc;
    double mean_len, zipf_s, signal;
} synth_flags;

/* Checks the flags and turns them into generator settings. Returns 0, or an exit code (message
 * printed). */
static int check_flags(const synth_flags *fl, char **pos, int n_pos, tcd_synth_opts *so) {
    if (n_pos) {
        tcd_error("synth: unexpected argument '%s' (the output goes with -o FILE)", pos[0]);
        return TCD_EXIT_USAGE;
    }
    if (!fl->out_path || !*fl->out_path) {
        tcd_error("synth: -o FILE is required ('-' writes to stdout)");
        return TCD_EXIT_USAGE;
    }
    int64_t max_bytes = -1;
    if (fl->bytes_str) {
        if (tcd_args_given("--docs")) {
            tcd_error("synth: give either --docs or --bytes, not both");
            return TCD_EXIT_USAGE;
        }
        char err[160];
        if (parse_size(fl->bytes_str, &max_bytes, err, sizeof err)) {
            tcd_error("option '--bytes': %s", err);
            return TCD_EXIT_USAGE;
        }
    }
    int64_t topic_size = fl->vocab / 20 > 0 ? fl->vocab / 20 : 1;
    if (topic_size * fl->n_classes > TCD_SYNTH_MAX_TOPIC_ENTRIES) {
        tcd_error("synth: --classes %lld x (--vocab %lld / 20) topic words is too many (limit %lld); "
                  "lower --classes or --vocab",
                  (long long)fl->n_classes, (long long)fl->vocab, (long long)TCD_SYNTH_MAX_TOPIC_ENTRIES);
        return TCD_EXIT_USAGE;
    }
    if (fl->labels_per_doc > fl->n_classes) {
        tcd_error("synth: --labels-per-doc %lld is more than --classes %lld", (long long)fl->labels_per_doc,
                  (long long)fl->n_classes);
        return TCD_EXIT_USAGE;
    }
    *so = (tcd_synth_opts){
        .labels_per_doc = fl->labels_per_doc,
        .seed = (uint64_t)fl->seed,
        .part = fl->part,
        .n_docs = fl->n_docs,
        .max_bytes = max_bytes,
        .n_classes = fl->n_classes,
        .vocab = fl->vocab,
        .mean_len = fl->mean_len,
        .zipf_s = fl->zipf_s,
        .signal = fl->signal,
        .format = TCD_FMT_TSV,
    };
    tcd_format_parse(fl->format, &so->format); /* one of the choices in the option table */
    so->threads = fl->threads > 0 ? (int)fl->threads : omp_get_max_threads();
    if (so->threads < 1) so->threads = 1;
    return 0;
}

static void remove_tmp(void *path) {
    if (path) unlink((const char *)path);
}

/* Writes the corpus to out_path ("-": stdout) through a temporary file renamed into place when
 * complete. Returns the exit code. */
static int write_output(const char *out_path, const tcd_synth_opts *so, const char *format) {
    int to_stdout = !strcmp(out_path, "-");
    char *tmp = NULL;
    FILE *f = stdout;
    if (!to_stdout) {
        tmp = tcd_tmp_path_for(out_path);
        f = fopen(tmp, "wb");
        if (!f) {
            tcd_error("synth: cannot create '%s': %s", out_path, strerror(errno));
            free(tmp);
            return TCD_EXIT_ERROR;
        }
        tcd_set_cleanup(remove_tmp, tmp);
    }
    static char fbuf[1 << 20];
    setvbuf(f, fbuf, _IOFBF, sizeof fbuf);

    double t0 = tcd_now();
    int64_t n_docs = 0, n_bytes = 0;
    int io_failed = tcd_synth_write(so, f, &n_docs, &n_bytes) < 0;
    if (fflush(f) != 0 || ferror(f)) io_failed = 1;
    if (to_stdout) {
        if (io_failed) {
            tcd_error("synth: writing to stdout failed: %s", strerror(errno));
            return TCD_EXIT_ERROR;
        }
        return TCD_EXIT_OK;
    }
    int close_failed = fclose(f) != 0;
    if (io_failed || close_failed || tcd_commit_file(tmp, out_path) != 0) {
        tcd_error("synth: writing '%s' failed: %s", out_path, strerror(errno));
        unlink(tmp);
        tcd_set_cleanup(NULL, NULL);
        free(tmp);
        return TCD_EXIT_ERROR;
    }
    tcd_set_cleanup(NULL, NULL);
    free(tmp);
    double dt = tcd_now() - t0;
    tcd_info("synth: wrote %lld documents, %lld bytes (%s) to %s in %.2f s (%.0f MB/s)", (long long)n_docs,
             (long long)n_bytes, format, out_path, dt, dt > 0 ? (double)n_bytes / dt / 1e6 : 0.0);
    return TCD_EXIT_OK;
}

int tcd_cmd_synth(int argc, char **argv) {
    synth_flags fl = {.format = "tsv", .n_docs = 20000, .n_classes = 2, .vocab = 20000, .seed = 1, .labels_per_doc = 1,
                      .mean_len = 40, .zipf_s = 1.1, .signal = 0.15};
    const tcd_opt opts[] = {
        {"-o,--output", TCD_OPT_STR, &fl.out_path, "FILE", "output file, '-' for stdout (required)", 0, 0, NULL},
        {"--docs", TCD_OPT_I64, &fl.n_docs, "N", "number of documents", 1, 1e15, NULL},
        {"--bytes", TCD_OPT_STR, &fl.bytes_str, "SIZE",
         "instead of --docs: stop at the first document end at or past SIZE bytes (500M, 2G)", 0, 0, NULL},
        {"--classes", TCD_OPT_I64, &fl.n_classes, "C", "number of classes (labels \"0\"..\"C-1\")", 2, 10000, NULL},
        {"--labels-per-doc", TCD_OPT_I64, &fl.labels_per_doc, "K",
         "K distinct classes per document (multi-label; each word from one of their topics); fastText writes K "
         "__label__ tokens, JSONL a list, TSV/CSV 'a|b' (prepare --label-sep '|')",
         1, TCD_SYNTH_MAX_LABELS, NULL},
        {"--vocab", TCD_OPT_I64, &fl.vocab, "V", "number of distinct words", 20, 10000000, NULL},
        {"--mean-len", TCD_OPT_F64, &fl.mean_len, "L", "mean document length in words (1 + geometric)", 1, 1e5, NULL},
        {"--zipf", TCD_OPT_F64, &fl.zipf_s, "S", "Zipf exponent of the word distributions", 0, 5, NULL},
        {"--signal", TCD_OPT_F64, &fl.signal, "P", "probability that a word comes from its class's topic", 0, 1,
         NULL},
        {"--seed", TCD_OPT_I64, &fl.seed, "S", "seed of the language (words, topics, distributions)", 0, 9.2e18, NULL},
        {"--part", TCD_OPT_I64, &fl.part, "K", "independent document stream of the same language (train 0, test 1)",
         0, 9.2e18, NULL},
        {"--format", TCD_OPT_CHOICE, &fl.format, "FMT", "output format", 0, 0, "tsv|fasttext|jsonl|csv"},
        {"--threads", TCD_OPT_I64, &fl.threads, "N", "generator threads; 0: OpenMP default (output is the same)", 0,
         1024, NULL},
        {NULL, 0, NULL, NULL, NULL, 0, 0, NULL},
    };
    char **pos = NULL;
    int n_pos = 0;
    int rc = tcd_args_parse("tcdist synth -o FILE|- [--docs N | --bytes SIZE] [options]",
                            "Writes a seeded synthetic labelled corpus as text. The same --seed gives the same\n"
                            "language; --part selects an independent stream of documents (train = 0, test = 1).\n"
                            "The bytes do not depend on --threads.",
                            opts, argc, argv, &pos, &n_pos);
    if (rc == 1) return TCD_EXIT_OK;
    if (rc) return TCD_EXIT_USAGE;
    tcd_synth_opts so;
    rc = check_flags(&fl, pos, n_pos, &so);
    free(pos);
    if (rc) return rc;
    return write_output(fl.out_path, &so, fl.format);
}
