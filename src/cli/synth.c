/* tcdist synth: a seeded synthetic labelled corpus, streamed as text.
 *
 * The "language" is a pure function of --seed: V pseudo-words spelled from their index in a
 * bijective base over a seed-shuffled syllable table (so rank 0, the most frequent word, is the
 * shortest), a shared Zipf(S) distribution over all V words, and per class a topic distribution
 * (Zipf(S) over ~V/20 words drawn by the seed). A word of a class-c document comes from c's topic
 * with probability P, else from the shared distribution.
 *
 * Documents are made in blocks of SYNTH_BLOCK_DOCS; block b draws from an RNG seeded from
 * (seed, part, b) only, so the output bytes do not depend on --threads and --part K is an
 * independent stream over the same language. Blocks are generated in parallel in rounds and
 * written in order; nothing but one round of blocks is held in memory. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rng.h"
#include "cli/args.h"
#include "tcdist.h"
#include "base/util.h"

#define SYNTH_BLOCK_DOCS 4096
#define SYNTH_MAX_TOPIC_ENTRIES ((int64_t)1 << 27) /* classes * topic words, bounds memory */

/* ---- random numbers: SplitMix64 (base/rng.h) for seeding, xoshiro256** for streams ---- */


typedef struct {
    uint64_t s[4];
} rng_t;

static void rng_seed(rng_t *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = tcd_splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng_t *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, n) from the high 32 bits (n < 2^32; bias < n / 2^32, irrelevant here). */
static inline uint32_t rng_below(uint64_t r, uint32_t n) { return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32); }

/* Uniform double in (0, 1]. */
static inline double rng_unit(rng_t *r) { return ((double)(rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0); }

/* Seed of an independent stream: mixes every key through splitmix64 in turn. */
static uint64_t stream_seed(uint64_t seed, uint64_t k1, uint64_t k2, uint64_t k3) {
    uint64_t x = seed ^ 0x5EED5EED5EED5EEDULL;
    uint64_t h = tcd_splitmix64(&x);
    x = h ^ (k1 * 0xD6E8FEB86659FD93ULL);
    h = tcd_splitmix64(&x);
    x = h ^ (k2 * 0xA0761D6478BD642FULL);
    h = tcd_splitmix64(&x);
    x = h ^ (k3 * 0xE7037ED1A0B428DBULL);
    return tcd_splitmix64(&x);
}

/* ---- alias tables (Vose): O(1) sampling from a discrete distribution ---- */

typedef struct {
    uint32_t n;
    uint32_t *alias;  /* [n] */
    uint32_t *thresh; /* [n] accept column i when low 32 random bits < thresh[i] */
} alias_t;

/* Zipf(s) weights 1/(r+1)^s over ranks 0..n-1. */
static void alias_build_zipf(alias_t *a, uint32_t n, double s) {
    double *p = tcd_malloc((size_t)n * sizeof(double));
    double total = 0;
    for (uint32_t r = 0; r < n; r++) total += (p[r] = pow((double)r + 1.0, -s));
    uint32_t *small = tcd_malloc((size_t)n * sizeof(uint32_t)), *large = tcd_malloc((size_t)n * sizeof(uint32_t));
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = p[i] * n / total;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    a->n = n;
    a->alias = tcd_malloc((size_t)n * sizeof(uint32_t));
    a->thresh = tcd_malloc((size_t)n * sizeof(uint32_t));
    while (ns && nl) {
        uint32_t l = small[--ns], g = large[nl - 1];
        a->alias[l] = g;
        a->thresh[l] = (uint32_t)fmin(p[l] * 4294967296.0, 4294967295.0);
        p[g] = (p[g] + p[l]) - 1.0;
        if (p[g] < 1.0) {
            nl--;
            small[ns++] = g;
        }
    }
    /* leftovers are 1 up to rounding */
    while (nl) {
        uint32_t g = large[--nl];
        a->alias[g] = g;
        a->thresh[g] = 0xFFFFFFFFu;
    }
    while (ns) {
        uint32_t l = small[--ns];
        a->alias[l] = l;
        a->thresh[l] = 0xFFFFFFFFu;
    }
    free(p);
    free(small);
    free(large);
}

static inline uint32_t alias_sample(const alias_t *a, uint64_t r) {
    uint32_t i = rng_below(r, a->n);
    return ((uint32_t)r < a->thresh[i]) ? i : a->alias[i];
}

static void alias_free(alias_t *a) {
    free(a->alias);
    free(a->thresh);
}

/* ---- the language ---- */

typedef struct {
    int64_t n_words;
    char *chars;       /* all word spellings back to back */
    uint64_t *start;   /* [n_words] */
    uint8_t *len;      /* [n_words] */
    alias_t shared;    /* over word ids */
    alias_t topic;     /* over topic positions 0..topic_size-1 (same Zipf for every class) */
    int64_t topic_size;
    uint32_t *topic_words; /* [n_classes][topic_size] word ids */
    int64_t n_classes;
    uint64_t signal_u64;   /* a word comes from the topic when a random u64 < this */
    double geo_log_q;      /* log(1 - 1/mean_len); 0 for mean_len == 1 */
} language;

static const char *const CONSONANTS = "kmnprstlbdgvzhf"; /* 15 */
static const char *const VOWELS = "aeiou";               /* 5 -> 75 two-letter syllables */
#define N_SYLLABLES 75

static void language_build(language *L, uint64_t seed, int64_t V, int64_t C, double zipf_s, double signal,
                           double mean_len) {
    memset(L, 0, sizeof *L);
    rng_t r;
    rng_seed(&r, stream_seed(seed, 1, 0, 0));

    /* syllable table, shuffled by the seed (Fisher-Yates) */
    char syl[N_SYLLABLES][2];
    for (int i = 0; i < N_SYLLABLES; i++) {
        syl[i][0] = CONSONANTS[i / 5];
        syl[i][1] = VOWELS[i % 5];
    }
    for (int i = N_SYLLABLES - 1; i > 0; i--) {
        int j = (int)rng_below(rng_next(&r), (uint32_t)i + 1);
        char t0 = syl[i][0], t1 = syl[i][1];
        syl[i][0] = syl[j][0];
        syl[i][1] = syl[j][1];
        syl[j][0] = t0;
        syl[j][1] = t1;
    }

    /* word i = bijective base-75 numeral of i+1: distinct, nondecreasing length in i */
    L->n_words = V;
    L->start = tcd_malloc((size_t)V * sizeof(uint64_t));
    L->len = tcd_malloc((size_t)V);
    tcd_buf chars = {0};
    for (int64_t i = 0; i < V; i++) {
        char digits[32];
        int nd = 0;
        int64_t x = i + 1;
        while (x > 0) {
            int64_t d = (x - 1) % N_SYLLABLES;
            digits[nd++] = (char)d;
            x = (x - 1) / N_SYLLABLES;
        }
        L->start[i] = chars.len;
        L->len[i] = (uint8_t)(2 * nd);
        for (int k = nd - 1; k >= 0; k--) tcd_buf_append(&chars, syl[(int)digits[k]], 2);
    }
    L->chars = chars.data;

    alias_build_zipf(&L->shared, (uint32_t)V, zipf_s);
    L->topic_size = V / 20 > 0 ? V / 20 : 1;
    alias_build_zipf(&L->topic, (uint32_t)L->topic_size, zipf_s);

    /* per class: topic_size distinct words drawn uniformly (partial Fisher-Yates over a
     * permutation array reused between classes: each class starts from the identity) */
    L->n_classes = C;
    L->topic_words = tcd_malloc((size_t)(C * L->topic_size) * sizeof(uint32_t));
    uint32_t *perm = tcd_malloc((size_t)V * sizeof(uint32_t));
    for (int64_t c = 0; c < C; c++) {
        for (int64_t i = 0; i < V; i++) perm[i] = (uint32_t)i;
        for (int64_t i = 0; i < L->topic_size; i++) {
            int64_t j = i + (int64_t)rng_below(rng_next(&r), (uint32_t)(V - i));
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            L->topic_words[c * L->topic_size + i] = perm[i];
        }
    }
    free(perm);

    L->signal_u64 = signal >= 1.0 ? UINT64_MAX : (uint64_t)(signal * 18446744073709551616.0);
    L->geo_log_q = mean_len > 1.0 ? log(1.0 - 1.0 / mean_len) : 0.0;
}

static void language_free(language *L) {
    free(L->chars);
    free(L->start);
    free(L->len);
    alias_free(&L->shared);
    alias_free(&L->topic);
    free(L->topic_words);
}

/* ---- documents ---- */

typedef enum { FMT_TSV, FMT_FASTTEXT, FMT_JSONL, FMT_CSV } out_format;

typedef struct {
    tcd_buf text;
    size_t *doc_end; /* [n_docs] byte offset in text just after each document's line */
    int64_t n_docs;
} block_out;

/* Generates block `b` (n_docs documents) of stream (seed, part) into out. */
static void gen_block(const language *L, uint64_t seed, int64_t part, int64_t b, int64_t n_docs, out_format fmt,
                      block_out *out) {
    rng_t r;
    rng_seed(&r, stream_seed(seed, 2, (uint64_t)part, (uint64_t)b));
    out->text.len = 0;
    out->n_docs = n_docs;
    for (int64_t d = 0; d < n_docs; d++) {
        uint32_t label = rng_below(rng_next(&r), (uint32_t)L->n_classes);
        int64_t n_words = 1;
        if (L->geo_log_q < 0) n_words += (int64_t)floor(log(rng_unit(&r)) / L->geo_log_q);
        char lab[24];
        int lab_len = snprintf(lab, sizeof lab, "%u", label);
        /* worst case: words of up to 2*8 chars + separators + framing */
        tcd_buf_reserve(&out->text, (size_t)n_words * 17 + 64);
        char *p = out->text.data + out->text.len;
        if (fmt == FMT_FASTTEXT) {
            memcpy(p, "__label__", 9);
            p += 9;
            memcpy(p, lab, (size_t)lab_len);
            p += lab_len;
            *p++ = ' ';
        } else if (fmt == FMT_JSONL) {
            memcpy(p, "{\"text\":\"", 9);
            p += 9;
        }
        const uint32_t *topic = L->topic_words + (int64_t)label * L->topic_size;
        for (int64_t w = 0; w < n_words; w++) {
            uint64_t u = rng_next(&r);
            uint64_t v = rng_next(&r);
            uint32_t id = (u < L->signal_u64) ? topic[alias_sample(&L->topic, v)] : alias_sample(&L->shared, v);
            if (w) *p++ = ' ';
            memcpy(p, L->chars + L->start[id], L->len[id]);
            p += L->len[id];
        }
        switch (fmt) {
        case FMT_TSV: *p++ = '\t'; break;
        case FMT_CSV: *p++ = ','; break;
        case FMT_JSONL:
            memcpy(p, "\",\"label\":\"", 11);
            p += 11;
            break;
        case FMT_FASTTEXT: break;
        }
        if (fmt != FMT_FASTTEXT) {
            memcpy(p, lab, (size_t)lab_len);
            p += lab_len;
        }
        if (fmt == FMT_JSONL) {
            memcpy(p, "\"}", 2);
            p += 2;
        }
        *p++ = '\n';
        out->text.len = (size_t)(p - out->text.data);
        out->doc_end[d] = out->text.len;
    }
}

/* ---- the command ---- */

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

static void remove_tmp(void *path) {
    if (path) unlink((const char *)path);
}

int tcd_cmd_synth(int argc, char **argv) {
    const char *out_path = NULL, *bytes_str = NULL, *format = "tsv";
    int64_t n_docs = 20000, n_classes = 2, vocab = 20000, seed = 1, part = 0, threads = 0;
    double mean_len = 40, zipf_s = 1.1, signal = 0.15;
    const tcd_opt opts[] = {
        {"-o,--output", TCD_OPT_STR, &out_path, "FILE", "output file, '-' for stdout (required)", 0, 0, NULL},
        {"--docs", TCD_OPT_I64, &n_docs, "N", "number of documents", 1, 1e15, NULL},
        {"--bytes", TCD_OPT_STR, &bytes_str, "SIZE",
         "instead of --docs: stop at the first document end at or past SIZE bytes (500M, 2G)", 0, 0, NULL},
        {"--classes", TCD_OPT_I64, &n_classes, "C", "number of classes (labels \"0\"..\"C-1\")", 2, 10000, NULL},
        {"--vocab", TCD_OPT_I64, &vocab, "V", "number of distinct words", 20, 10000000, NULL},
        {"--mean-len", TCD_OPT_F64, &mean_len, "L", "mean document length in words (1 + geometric)", 1, 1e5, NULL},
        {"--zipf", TCD_OPT_F64, &zipf_s, "S", "Zipf exponent of the word distributions", 0, 5, NULL},
        {"--signal", TCD_OPT_F64, &signal, "P", "probability that a word comes from its class's topic", 0, 1,
         NULL},
        {"--seed", TCD_OPT_I64, &seed, "S", "seed of the language (words, topics, distributions)", 0, 9.2e18, NULL},
        {"--part", TCD_OPT_I64, &part, "K", "independent document stream of the same language (train 0, test 1)",
         0, 9.2e18, NULL},
        {"--format", TCD_OPT_CHOICE, &format, "FMT", "output format", 0, 0, "tsv|fasttext|jsonl|csv"},
        {"--threads", TCD_OPT_I64, &threads, "N", "generator threads; 0: OpenMP default (output is the same)", 0,
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
    if (n_pos) {
        tcd_error("synth: unexpected argument '%s' (the output goes with -o FILE)", pos[0]);
        free(pos);
        return TCD_EXIT_USAGE;
    }
    free(pos);
    if (!out_path || !*out_path) {
        tcd_error("synth: -o FILE is required ('-' writes to stdout)");
        return TCD_EXIT_USAGE;
    }
    int64_t max_bytes = -1;
    if (bytes_str) {
        if (tcd_args_given("--docs")) {
            tcd_error("synth: give either --docs or --bytes, not both");
            return TCD_EXIT_USAGE;
        }
        char err[160];
        if (parse_size(bytes_str, &max_bytes, err, sizeof err)) {
            tcd_error("option '--bytes': %s", err);
            return TCD_EXIT_USAGE;
        }
    }
    int64_t topic_size = vocab / 20 > 0 ? vocab / 20 : 1;
    if (topic_size * n_classes > SYNTH_MAX_TOPIC_ENTRIES) {
        tcd_error("synth: --classes %lld x (--vocab %lld / 20) topic words is too many (limit %lld); "
                  "lower --classes or --vocab",
                  (long long)n_classes, (long long)vocab, (long long)SYNTH_MAX_TOPIC_ENTRIES);
        return TCD_EXIT_USAGE;
    }
    out_format fmt = !strcmp(format, "tsv")        ? FMT_TSV
                     : !strcmp(format, "fasttext") ? FMT_FASTTEXT
                     : !strcmp(format, "jsonl")    ? FMT_JSONL
                                                   : FMT_CSV;
    int n_threads = threads > 0 ? (int)threads : omp_get_max_threads();
    if (n_threads < 1) n_threads = 1;

    /* output: a temporary name beside the final one, renamed when complete */
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
    language L;
    language_build(&L, (uint64_t)seed, vocab, n_classes, zipf_s, signal, mean_len);

    int64_t written = 0, docs_done = 0;
    int io_failed = 0;
    if (fmt == FMT_TSV || fmt == FMT_CSV) {
        const char *hdr = fmt == FMT_TSV ? "text\tlabel\n" : "text,label\n";
        if (fputs(hdr, f) == EOF) io_failed = 1;
        written += (int64_t)strlen(hdr);
    }

    int round = 2 * n_threads; /* blocks per parallel round */
    block_out *blocks = tcd_calloc((size_t)round, sizeof(block_out));
    for (int i = 0; i < round; i++) blocks[i].doc_end = tcd_malloc(SYNTH_BLOCK_DOCS * sizeof(size_t));
    int64_t n_blocks_total = max_bytes >= 0 ? INT64_MAX : (n_docs + SYNTH_BLOCK_DOCS - 1) / SYNTH_BLOCK_DOCS;
    int done = io_failed; /* at least one document, even when the header reaches --bytes */
    for (int64_t b0 = 0; !done && b0 < n_blocks_total; b0 += round) {
        int nb = (int)((n_blocks_total - b0) < round ? (n_blocks_total - b0) : round);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (int i = 0; i < nb; i++) {
            int64_t b = b0 + i;
            int64_t nd = SYNTH_BLOCK_DOCS;
            if (max_bytes < 0 && n_docs - b * SYNTH_BLOCK_DOCS < nd) nd = n_docs - b * SYNTH_BLOCK_DOCS;
            gen_block(&L, (uint64_t)seed, part, b, nd, fmt, &blocks[i]);
        }
        for (int i = 0; i < nb && !done; i++) {
            block_out *bo = &blocks[i];
            size_t len = bo->text.len;
            int64_t nd = bo->n_docs;
            if (max_bytes >= 0 && written + (int64_t)len >= max_bytes) {
                /* stop at the first document end that reaches max_bytes */
                int64_t d = 0;
                while (written + (int64_t)bo->doc_end[d] < max_bytes) d++;
                nd = d + 1;
                len = bo->doc_end[d];
                done = 1;
            }
            if (fwrite(bo->text.data, 1, len, f) != len) {
                io_failed = 1;
                done = 1;
            }
            written += (int64_t)len;
            docs_done += nd;
        }
    }
    for (int i = 0; i < round; i++) {
        tcd_buf_free(&blocks[i].text);
        free(blocks[i].doc_end);
    }
    free(blocks);
    language_free(&L);

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
    tcd_info("synth: wrote %lld documents, %lld bytes (%s) to %s in %.2f s (%.0f MB/s)", (long long)docs_done,
             (long long)written, format, out_path, dt, dt > 0 ? (double)written / dt / 1e6 : 0.0);
    return TCD_EXIT_OK;
}
