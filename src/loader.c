/* In-memory corpus and the batch order; see loader.h. */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "util.h"

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tcd_perm_init(tcd_perm *p, int64_t n, uint64_t seed, int64_t epoch, int shuffle) {
    p->n = n;
    p->identity = !shuffle || n < 2;
    int bits = 2;
    while (bits < 62 && ((int64_t)1 << bits) < n) bits += 2;
    p->half_bits = bits / 2;
    uint64_t k = mix64(seed ^ mix64((uint64_t)epoch + 0x51ED270B4A5F3C1Dull));
    for (int r = 0; r < 4; r++) p->key[r] = k = mix64(k + (uint64_t)r);
}

/* One Feistel pass over a 2*half_bits-bit block: a bijection of [0, 2^(2*half_bits)). */
static uint64_t feistel(const tcd_perm *p, uint64_t x) {
    const uint64_t mask = ((uint64_t)1 << p->half_bits) - 1;
    uint64_t left = x >> p->half_bits, right = x & mask;
    for (int r = 0; r < 4; r++) {
        const uint64_t f = mix64(right ^ p->key[r]) & mask;
        const uint64_t t = left ^ f;
        left = right;
        right = t;
    }
    return (left << p->half_bits) | right;
}

int64_t tcd_perm_at(const tcd_perm *p, int64_t i) {
    if (p->identity) return i;
    /* cycle-walk: the block is < 4n, so on average fewer than 4 passes */
    uint64_t x = (uint64_t)i;
    do x = feistel(p, x);
    while (x >= (uint64_t)p->n);
    return (int64_t)x;
}

#define READ_SLICE ((int64_t)1 << 24)

int tcd_loader_open(tcd_loader *l, const tcd_corpus *c, int64_t doc_lo, int64_t doc_hi, uint64_t seed, int shuffle,
                    char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    TCD_CHECK(0 <= doc_lo && doc_lo <= doc_hi && doc_hi <= c->n_docs);
    const int64_t n = doc_hi - doc_lo;
    l->n_docs_total = c->n_docs;
    l->doc_lo = doc_lo;
    l->doc_hi = doc_hi;
    l->seed = seed;
    l->shuffle = shuffle;
    l->perm_epoch = -1;
    l->offsets = tcd_malloc(sizeof(int64_t) * (size_t)(n + 1));
    l->labels = tcd_malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int rc = tcd_corpus_read_offsets(c, doc_lo, n, l->offsets);
    const int64_t tok0 = rc == 0 ? l->offsets[0] : 0;
    if (rc == 0 && (l->offsets[n] < tok0 || l->offsets[n] > c->n_tokens || tok0 < 0 ||
                    (doc_lo == 0 && tok0 != 0) || (doc_hi == c->n_docs && l->offsets[n] != c->n_tokens))) {
        snprintf(err, errlen, "%s: damaged corpus: offsets do not span the tokens", c->path);
        tcd_loader_free(l);
        return -1;
    }
    l->n_tokens = rc == 0 ? l->offsets[n] - tok0 : 0;
    l->tokens = tcd_malloc(sizeof(int32_t) * (size_t)(l->n_tokens ? l->n_tokens : 1));
    for (int64_t t = 0; rc == 0 && t < l->n_tokens; t += READ_SLICE) {
        int64_t k = l->n_tokens - t < READ_SLICE ? l->n_tokens - t : READ_SLICE;
        rc = tcd_corpus_read_tokens(c, tok0 + t, k, l->tokens + t);
    }
    if (rc == 0) rc = tcd_corpus_read_labels(c, doc_lo, n, l->labels);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
        tcd_loader_free(l);
        return -1;
    }
    for (int64_t i = 0; i <= n; i++) l->offsets[i] -= tok0;
    /* A damaged or hand-edited file must not index outside the model. */
    for (int64_t i = 0; i < n; i++) {
        if (l->offsets[i + 1] < l->offsets[i] || l->labels[i] < 0 || l->labels[i] >= c->n_classes) {
            snprintf(err, errlen, "%s: damaged corpus at document %lld (offsets or label out of range)", c->path,
                     (long long)(doc_lo + i));
            tcd_loader_free(l);
            return -1;
        }
    }
    int64_t bad = -1;
    const int32_t *tok = l->tokens;
    const int64_t n_emb = c->n_embeddings, n_tok = l->n_tokens;
#pragma omp parallel for reduction(max : bad) schedule(static)
    for (int64_t t = 0; t < n_tok; t++)
        if (tok[t] < 0 || tok[t] >= n_emb) bad = t > bad ? t : bad;
    if (bad >= 0) {
        snprintf(err, errlen, "%s: damaged corpus: token %lld has id %d outside [0, %lld)", c->path,
                 (long long)(tok0 + bad), l->tokens[bad], (long long)n_emb);
        tcd_loader_free(l);
        return -1;
    }
    return 0;
}

void tcd_loader_free(tcd_loader *l) {
    free(l->offsets);
    free(l->tokens);
    free(l->labels);
    free(l->bdocs);
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

void tcd_loader_batch(tcd_loader *l, int64_t epoch, int64_t step, int64_t batch, tcd_batch *out, int64_t *n_global) {
    if (l->perm_epoch != epoch) {
        tcd_perm_init(&l->perm, l->n_docs_total, l->seed, epoch, l->shuffle);
        l->perm_epoch = epoch;
    }
    const int64_t start = step * batch;
    const int64_t end = start + batch < l->n_docs_total ? start + batch : l->n_docs_total;
    TCD_CHECK(start < end);
    if (end - start > l->bdoc_cap) {
        l->bdoc_cap = (end - start) * 2;
        l->boff = tcd_realloc(l->boff, sizeof(int64_t) * (size_t)(l->bdoc_cap + 1));
        l->blab = tcd_realloc(l->blab, sizeof(int32_t) * (size_t)l->bdoc_cap);
        l->bdocs = tcd_realloc(l->bdocs, sizeof(int64_t) * (size_t)l->bdoc_cap);
    }
    int64_t n = 0;
    for (int64_t i = start; i < end; i++) {
        const int64_t d = tcd_perm_at(&l->perm, i);
        if (d >= l->doc_lo && d < l->doc_hi) l->bdocs[n++] = d - l->doc_lo;
    }
    *n_global = end - start;
    assemble(l, l->bdocs, n, 0, out);
}

void tcd_loader_range(tcd_loader *l, int64_t doc0, int64_t n, tcd_batch *out) {
    TCD_CHECK(doc0 >= 0 && doc0 + n <= l->doc_hi - l->doc_lo);
    assemble(l, NULL, n, doc0, out);
}
