/* In-memory corpus and the batch order; see loader.h. */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "util.h"

/* splitmix64: a small, well-mixed generator; the shuffle is defined by it exactly. */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) without modulo bias (Lemire's method with rejection). */
static uint64_t below(uint64_t *s, uint64_t n) {
    for (;;) {
        uint64_t x = splitmix64(s);
        __uint128_t m = (__uint128_t)x * n;
        uint64_t low = (uint64_t)m;
        if (low >= n || low >= (0 - n) % n) return (uint64_t)(m >> 64);
    }
}

#define READ_SLICE ((int64_t)1 << 24)

int tcd_loader_open(tcd_loader *l, const tcd_corpus *c, uint64_t seed, int shuffle, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->n_docs = c->n_docs;
    l->n_tokens = c->n_tokens;
    l->seed = seed;
    l->shuffle = shuffle;
    l->perm_epoch = -1;
    l->offsets = tcd_malloc(sizeof(int64_t) * (size_t)(c->n_docs + 1));
    l->tokens = tcd_malloc(sizeof(int32_t) * (size_t)(c->n_tokens ? c->n_tokens : 1));
    l->labels = tcd_malloc(sizeof(int32_t) * (size_t)(c->n_docs ? c->n_docs : 1));
    int rc = tcd_corpus_read_offsets(c, 0, c->n_docs, l->offsets);
    for (int64_t t = 0; rc == 0 && t < c->n_tokens; t += READ_SLICE) {
        int64_t k = c->n_tokens - t < READ_SLICE ? c->n_tokens - t : READ_SLICE;
        rc = tcd_corpus_read_tokens(c, t, k, l->tokens + t);
    }
    if (rc == 0) rc = tcd_corpus_read_labels(c, 0, c->n_docs, l->labels);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
        tcd_loader_free(l);
        return -1;
    }
    /* A damaged or hand-edited file must not index outside the model. */
    if (l->offsets[0] != 0 || l->offsets[c->n_docs] != c->n_tokens) {
        snprintf(err, errlen, "%s: damaged corpus: offsets do not span the tokens", c->path);
        tcd_loader_free(l);
        return -1;
    }
    for (int64_t i = 0; i < c->n_docs; i++) {
        if (l->offsets[i + 1] < l->offsets[i] || l->labels[i] < 0 || l->labels[i] >= c->n_classes) {
            snprintf(err, errlen, "%s: damaged corpus at document %lld (offsets or label out of range)", c->path,
                     (long long)i);
            tcd_loader_free(l);
            return -1;
        }
    }
    int64_t bad = -1;
    const int32_t *tok = l->tokens;
    int64_t n_emb = c->n_embeddings;
#pragma omp parallel for reduction(max : bad) schedule(static)
    for (int64_t t = 0; t < c->n_tokens; t++)
        if (tok[t] < 0 || tok[t] >= n_emb) bad = t > bad ? t : bad;
    if (bad >= 0) {
        snprintf(err, errlen, "%s: damaged corpus: token %lld has id %d outside [0, %lld)", c->path, (long long)bad,
                 l->tokens[bad], (long long)n_emb);
        tcd_loader_free(l);
        return -1;
    }
    return 0;
}

void tcd_loader_free(tcd_loader *l) {
    free(l->offsets);
    free(l->tokens);
    free(l->labels);
    free(l->perm);
    free(l->btok);
    free(l->boff);
    free(l->blab);
    memset(l, 0, sizeof *l);
}

void tcd_batch_share(int64_t n_in_batch, int rank, int world, int64_t *lo, int64_t *hi) {
    int64_t base = n_in_batch / world, extra = n_in_batch % world;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

static void make_perm(tcd_loader *l, int64_t epoch) {
    if (l->perm_epoch == epoch) return;
    if (!l->perm) l->perm = tcd_malloc(sizeof(int64_t) * (size_t)(l->n_docs ? l->n_docs : 1));
    for (int64_t i = 0; i < l->n_docs; i++) l->perm[i] = i;
    if (l->shuffle) {
        /* Fisher-Yates with a stream that depends only on (seed, epoch). */
        uint64_t s = l->seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)epoch + 1) * 0xD1B54A32D192ED03ull;
        for (int64_t i = l->n_docs - 1; i > 0; i--) {
            int64_t j = (int64_t)below(&s, (uint64_t)i + 1);
            int64_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->perm_epoch = epoch;
}

static void assemble(tcd_loader *l, const int64_t *docs, int64_t n, int64_t contiguous_from, tcd_batch *out) {
    if (n > l->bdoc_cap) {
        l->bdoc_cap = n * 2;
        l->boff = tcd_realloc(l->boff, sizeof(int64_t) * (size_t)(l->bdoc_cap + 1));
        l->blab = tcd_realloc(l->blab, sizeof(int32_t) * (size_t)l->bdoc_cap);
    }
    int64_t n_tok = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t d = docs ? docs[i] : contiguous_from + i;
        n_tok += l->offsets[d + 1] - l->offsets[d];
    }
    if (n_tok > l->btok_cap) {
        l->btok_cap = n_tok * 2 + 1024;
        free(l->btok);
        l->btok = tcd_malloc(sizeof(int32_t) * (size_t)l->btok_cap);
    }
    int64_t pos = 0;
    l->boff[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t d = docs ? docs[i] : contiguous_from + i;
        int64_t len = l->offsets[d + 1] - l->offsets[d];
        memcpy(l->btok + pos, l->tokens + l->offsets[d], sizeof(int32_t) * (size_t)len);
        pos += len;
        l->boff[i + 1] = pos;
        l->blab[i] = l->labels[d];
    }
    out->n = n;
    out->tokens = l->btok;
    out->offsets = l->boff;
    out->labels = l->blab;
}

void tcd_loader_batch(tcd_loader *l, int64_t epoch, int64_t step, int64_t batch, int rank, int world,
                      tcd_batch *out, int64_t *n_global) {
    make_perm(l, epoch);
    int64_t start = step * batch;
    int64_t end = start + batch < l->n_docs ? start + batch : l->n_docs;
    TCD_CHECK(start < end);
    int64_t lo, hi;
    tcd_batch_share(end - start, rank, world, &lo, &hi);
    *n_global = end - start;
    assemble(l, l->perm + start + lo, hi - lo, 0, out);
}

void tcd_loader_range(tcd_loader *l, int64_t doc0, int64_t n, tcd_batch *out) {
    TCD_CHECK(doc0 >= 0 && doc0 + n <= l->n_docs);
    assemble(l, NULL, n, doc0, out);
}
