/* tcdist synth's generator: a seeded synthetic labelled corpus, streamed as text (synth.h). */
#include "text/synth.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"

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
    int64_t labels_per_doc; /* classes per document (1: single-label) */
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

typedef struct {
    tcd_buf text;
    size_t *doc_end; /* [n_docs] byte offset in text just after each document's line */
    int64_t n_docs;
} block_out;

/* Generates block `b` (n_docs documents) of stream (seed, part) into out. */
static void gen_block(const language *L, uint64_t seed, int64_t part, int64_t b, int64_t n_docs, tcd_format fmt,
                      block_out *out) {
    rng_t r;
    rng_seed(&r, stream_seed(seed, 2, (uint64_t)part, (uint64_t)b));
    out->text.len = 0;
    out->n_docs = n_docs;
    for (int64_t d = 0; d < n_docs; d++) {
        uint32_t label = rng_below(rng_next(&r), (uint32_t)L->n_classes);
        /* --labels-per-doc K > 1: K distinct classes (more draws; K = 1 leaves the stream as it was) */
        uint32_t labs[TCD_SYNTH_MAX_LABELS];
        int64_t K = 1;
        labs[0] = label;
        while (K < L->labels_per_doc) {
            uint32_t x = rng_below(rng_next(&r), (uint32_t)L->n_classes);
            int dup = 0;
            for (int64_t k = 0; k < K && !dup; k++) dup = labs[k] == x;
            if (!dup) labs[K++] = x;
        }
        for (int64_t i = 1; i < K; i++) /* ascending */
            for (int64_t j = i; j > 0 && labs[j - 1] > labs[j]; j--) {
                uint32_t t = labs[j];
                labs[j] = labs[j - 1];
                labs[j - 1] = t;
            }
        int64_t n_words = 1;
        if (L->geo_log_q < 0) n_words += (int64_t)floor(log(rng_unit(&r)) / L->geo_log_q);
        char lab[TCD_SYNTH_MAX_LABELS * 24];
        int lab_len = 0;
        for (int64_t k = 0; k < K; k++) {
            const char *sep = !k ? "" : fmt == TCD_FMT_FASTTEXT ? " __label__" : fmt == TCD_FMT_JSONL ? "\",\"" : "|";
            lab_len += snprintf(lab + lab_len, sizeof lab - (size_t)lab_len, "%s%u", sep, labs[k]);
        }
        /* worst case: words of up to 2*8 chars + separators + framing */
        tcd_buf_reserve(&out->text, (size_t)n_words * 17 + 64 + (size_t)lab_len);
        char *p = out->text.data + out->text.len;
        if (fmt == TCD_FMT_FASTTEXT) {
            memcpy(p, "__label__", 9);
            p += 9;
            memcpy(p, lab, (size_t)lab_len);
            p += lab_len;
            *p++ = ' ';
        } else if (fmt == TCD_FMT_JSONL) {
            memcpy(p, "{\"text\":\"", 9);
            p += 9;
        }
        const uint32_t *topic = L->topic_words + (int64_t)label * L->topic_size;
        for (int64_t w = 0; w < n_words; w++) {
            if (K > 1) topic = L->topic_words + (int64_t)labs[rng_below(rng_next(&r), (uint32_t)K)] * L->topic_size;
            uint64_t u = rng_next(&r);
            uint64_t v = rng_next(&r);
            uint32_t id = (u < L->signal_u64) ? topic[alias_sample(&L->topic, v)] : alias_sample(&L->shared, v);
            if (w) *p++ = ' ';
            memcpy(p, L->chars + L->start[id], L->len[id]);
            p += L->len[id];
        }
        switch (fmt) {
        case TCD_FMT_TSV: *p++ = '\t'; break;
        case TCD_FMT_CSV: *p++ = ','; break;
        case TCD_FMT_JSONL:
            if (K > 1) {
                memcpy(p, "\",\"label\":[\"", 12);
                p += 12;
            } else {
                memcpy(p, "\",\"label\":\"", 11);
                p += 11;
            }
            break;
        case TCD_FMT_FASTTEXT: break;
        }
        if (fmt != TCD_FMT_FASTTEXT) {
            memcpy(p, lab, (size_t)lab_len);
            p += lab_len;
        }
        if (fmt == TCD_FMT_JSONL && K > 1) {
            memcpy(p, "\"]}", 3);
            p += 3;
        } else if (fmt == TCD_FMT_JSONL) {
            memcpy(p, "\"}", 2);
            p += 2;
        }
        *p++ = '\n';
        out->text.len = (size_t)(p - out->text.data);
        out->doc_end[d] = out->text.len;
    }
}

/* ---- writing: rounds of blocks made in parallel, written in order ---- */

typedef struct {
    FILE *f;
    int64_t max_bytes; /* < 0: no byte limit */
    int64_t written, n_docs;
    int done, io_failed;
} synth_out;

/* Makes blocks b0 .. b0+nb-1 of the stream in parallel, block b0+i into blocks[i]. */
static void gen_round(const language *L, const tcd_synth_opts *o, int64_t b0, int nb, block_out *blocks) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(o->threads)
    for (int i = 0; i < nb; i++) {
        int64_t b = b0 + i;
        int64_t nd = TCD_SYNTH_BLOCK_DOCS, left = o->n_docs - b * TCD_SYNTH_BLOCK_DOCS;
        if (o->max_bytes < 0 && left < nd) nd = left;
        gen_block(L, o->seed, o->part, b, nd, o->format, &blocks[i]);
    }
}

/* Writes one block, or with a byte limit the part of it up to the first document end that reaches
 * the limit (then the output is done). */
static void write_block(synth_out *w, const block_out *bo) {
    size_t len = bo->text.len;
    int64_t nd = bo->n_docs;
    if (w->max_bytes >= 0 && w->written + (int64_t)len >= w->max_bytes) {
        int64_t d = 0;
        while (w->written + (int64_t)bo->doc_end[d] < w->max_bytes) d++;
        nd = d + 1;
        len = bo->doc_end[d];
        w->done = 1;
    }
    if (fwrite(bo->text.data, 1, len, w->f) != len) {
        w->io_failed = 1;
        w->done = 1;
    }
    w->written += (int64_t)len;
    w->n_docs += nd;
}

int tcd_synth_write(const tcd_synth_opts *o, FILE *f, int64_t *n_docs, int64_t *n_bytes) {
    language L;
    language_build(&L, o->seed, o->vocab, o->n_classes, o->zipf_s, o->signal, o->mean_len);
    L.labels_per_doc = o->labels_per_doc > 1 ? o->labels_per_doc : 1;
    synth_out w = {.f = f, .max_bytes = o->max_bytes};
    if (o->format == TCD_FMT_TSV || o->format == TCD_FMT_CSV) {
        const char *hdr = o->format == TCD_FMT_TSV ? "text\tlabel\n" : "text,label\n";
        if (fputs(hdr, f) == EOF) w.io_failed = 1;
        w.written += (int64_t)strlen(hdr);
    }
    int round = 2 * o->threads; /* blocks per parallel round */
    block_out *blocks = tcd_calloc((size_t)round, sizeof(block_out));
    for (int i = 0; i < round; i++) blocks[i].doc_end = tcd_malloc(TCD_SYNTH_BLOCK_DOCS * sizeof(size_t));
    int64_t n_blocks =
        o->max_bytes >= 0 ? INT64_MAX : (o->n_docs + TCD_SYNTH_BLOCK_DOCS - 1) / TCD_SYNTH_BLOCK_DOCS;
    w.done = w.io_failed; /* at least one document, even when the header reaches max_bytes */
    for (int64_t b0 = 0; !w.done && b0 < n_blocks; b0 += round) {
        int nb = (int)((n_blocks - b0) < round ? (n_blocks - b0) : round);
        gen_round(&L, o, b0, nb, blocks);
        for (int i = 0; i < nb && !w.done; i++) write_block(&w, &blocks[i]);
    }
    for (int i = 0; i < round; i++) {
        tcd_buf_free(&blocks[i].text);
        free(blocks[i].doc_end);
    }
    free(blocks);
    language_free(&L);
    *n_docs = w.n_docs;
    *n_bytes = w.written;
    return w.io_failed ? -1 : 0;
}
