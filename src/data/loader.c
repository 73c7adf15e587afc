/* In-memory corpus and the batch order; see loader.h. */
#include "data/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "io/h5util.h"
#include "base/util.h"

void tcd_perm_init(tcd_perm *p, int64_t n, uint64_t seed, int64_t epoch, int shuffle) {
    p->n = n;
    p->identity = !shuffle || n < 2;
    int bits = 2;
    while (bits < 62 && ((int64_t)1 << bits) < n) bits += 2;
    p->half_bits = bits / 2;
    uint64_t k = tcd_mix64(seed ^ tcd_mix64((uint64_t)epoch + 0x51ED270B4A5F3C1Dull));
    for (int r = 0; r < 4; r++) p->key[r] = k = tcd_mix64(k + (uint64_t)r);
}

/* One Feistel pass over a 2*half_bits-bit block: a bijection of [0, 2^(2*half_bits)). */
static uint64_t feistel(const tcd_perm *p, uint64_t x) {
    const uint64_t mask = ((uint64_t)1 << p->half_bits) - 1;
    uint64_t left = x >> p->half_bits, right = x & mask;
    for (int r = 0; r < 4; r++) {
        const uint64_t f = tcd_mix64(right ^ p->key[r]) & mask;
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

/* A multi-label corpus: its label sets, whole (tiny beside the tokens). */
static int open_label_sets(tcd_loader *l, const tcd_corpus *c, char *err, size_t errlen) {
    if (!c->multi_label) return 0;
    if (tcd_corpus_read_label_sets(c, &l->ml) != 0) {
        snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
        tcd_loader_free(l);
        return -1;
    }
    l->has_ml = 1;
    return 0;
}

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
    /* the corpus reads checked the offsets (in order, within the tokens), the token ids and the labels */
    for (int64_t i = 0; i <= n; i++) l->offsets[i] -= tok0;
    return open_label_sets(l, c, err, errlen);
}

static void window_free(tcd_window *w) {
    free(w->offsets);
    free(w->tokens);
    free(w->labels);
    free(w->block_doc0);
    free(w->block_local);
}

void tcd_loader_free(tcd_loader *l) {
    window_free(&l->win[0]);
    window_free(&l->win[1]);
    free(l->win_start);
    free(l->map_blocks);
    free(l->map_prefix);
    free(l->offsets);
    free(l->tokens);
    free(l->labels);
    free(l->bdocs);
    free(l->btok);
    free(l->boff);
    free(l->blab);
    free(l->bids);
    free(l->sel);
    free(l->held);
    if (l->has_ml) tcd_multilabels_free(&l->ml);
    memset(l, 0, sizeof *l);
}

void tcd_batch_share(int64_t n_in_batch, int rank, int world, int64_t *lo, int64_t *hi) {
    int64_t base = n_in_batch / world, extra = n_in_batch % world;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

/* A min-heap of the `batch` longest lengths seen so far. */
int64_t tcd_loader_max_batch_tokens(const tcd_loader *l, int64_t batch) {
    if (l->window_blocks > 0 || !l->offsets) return -1;
    const int64_t n = l->doc_hi - l->doc_lo;
    if (batch >= n) return l->offsets[n] - l->offsets[0];
    int64_t *h = tcd_malloc(sizeof(int64_t) * (size_t)(batch > 0 ? batch : 1)), k = 0, sum = 0;
    for (int64_t d = 0; d < n && batch > 0; d++) {
        int64_t len = l->offsets[d + 1] - l->offsets[d];
        if (k < batch) { /* sift up */
            int64_t i = k++;
            for (; i > 0 && h[(i - 1) / 2] > len; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
            h[i] = len;
            sum += len;
        } else if (len > h[0]) { /* replace the smallest, sift down */
            sum += len - h[0];
            int64_t i = 0;
            for (;;) {
                int64_t c = 2 * i + 1;
                if (c >= k) break;
                if (c + 1 < k && h[c + 1] < h[c]) c++;
                if (h[c] >= len) break;
                h[i] = h[c];
                i = c;
            }
            h[i] = len;
        }
    }
    free(h);
    return sum;
}

static void assemble(tcd_loader *l, const int64_t *docs, int64_t n, int64_t contiguous_from, tcd_batch *out) {
    if (n > l->bdoc_cap) {
        l->bdoc_cap = n * 2;
        l->boff = tcd_realloc(l->boff, sizeof(int64_t) * (size_t)(l->bdoc_cap + 1));
        l->blab = tcd_realloc(l->blab, sizeof(int32_t) * (size_t)l->bdoc_cap);
        l->bids = tcd_realloc(l->bids, sizeof(int64_t) * (size_t)l->bdoc_cap);
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
        if (len > 0) memcpy(l->btok + pos, l->tokens + l->offsets[d], sizeof(int32_t) * (size_t)len);
        pos += len;
        l->boff[i + 1] = pos;
        l->blab[i] = l->labels[d];
        l->bids[i] = l->doc_lo + d;
    }
    out->n = n;
    out->tokens = l->btok;
    out->offsets = l->boff;
    out->labels = l->blab;
    out->doc_ids = l->bids;
    out->multi = l->has_ml ? &l->ml : NULL;
}

static void stream_batch(tcd_loader *l, int64_t epoch, int64_t start, int64_t end, tcd_batch *out);

void tcd_loader_batch(tcd_loader *l, int64_t epoch, int64_t step, int64_t batch, tcd_batch *out, int64_t *n_global) {
    if (l->window_blocks > 0) {
        const int64_t start = step * batch;
        const int64_t end = start + batch < l->n_docs_total ? start + batch : l->n_docs_total;
        TCD_CHECK(start < end);
        *n_global = end - start;
        stream_batch(l, epoch, start, end, out);
        return;
    }
    const int64_t n_epoch = l->sel ? l->n_sel : l->n_docs_total;
    if (l->perm_epoch != epoch) {
        tcd_perm_init(&l->perm, n_epoch, l->seed, epoch, l->shuffle);
        l->perm_epoch = epoch;
    }
    const int64_t start = step * batch;
    const int64_t end = start + batch < n_epoch ? start + batch : n_epoch;
    TCD_CHECK(start < end);
    if (end - start > l->bdoc_cap) {
        l->bdoc_cap = (end - start) * 2;
        l->boff = tcd_realloc(l->boff, sizeof(int64_t) * (size_t)(l->bdoc_cap + 1));
        l->blab = tcd_realloc(l->blab, sizeof(int32_t) * (size_t)l->bdoc_cap);
        l->bids = tcd_realloc(l->bids, sizeof(int64_t) * (size_t)l->bdoc_cap);
    }
    if (end - start > l->bdocs_cap) { /* its own capacity: evaluation batches grow the others alone */
        l->bdocs_cap = l->bdoc_cap;
        l->bdocs = tcd_realloc(l->bdocs, sizeof(int64_t) * (size_t)l->bdocs_cap);
    }
    int64_t n = 0;
    for (int64_t i = start; i < end; i++) {
        const int64_t p = tcd_perm_at(&l->perm, i);
        const int64_t d = l->sel ? l->sel[p] : p;
        if (d >= l->doc_lo && d < l->doc_hi) l->bdocs[n++] = d - l->doc_lo;
    }
    *n_global = end - start;
    assemble(l, l->bdocs, n, 0, out);
}

void tcd_loader_range(tcd_loader *l, int64_t doc0, int64_t n, tcd_batch *out) {
    if (l->held) {
        TCD_CHECK(doc0 >= 0 && doc0 + n <= l->n_held);
        assemble(l, l->held + doc0, n, 0, out);
        return;
    }
    TCD_CHECK(doc0 >= 0 && doc0 + n <= l->doc_hi - l->doc_lo);
    assemble(l, NULL, n, doc0, out);
}

int tcd_held_out(int64_t doc, uint64_t seed, double frac) {
    const uint64_t r = tcd_mix64(tcd_mix64(seed ^ 0x76616c6964ULL) + (uint64_t)doc);
    return (double)(r >> 11) * (1.0 / 9007199254740992.0) < frac;
}

int64_t tcd_loader_hold_out(tcd_loader *l, double frac) {
    TCD_CHECK(l->window_blocks == 0 && !l->sel);
    l->sel = tcd_malloc(sizeof(int64_t) * (size_t)(l->n_docs_total ? l->n_docs_total : 1));
    l->held = tcd_malloc(sizeof(int64_t) * (size_t)(l->doc_hi > l->doc_lo ? l->doc_hi - l->doc_lo : 1));
    for (int64_t d = 0; d < l->n_docs_total; d++) {
        if (!tcd_held_out(d, l->seed, frac))
            l->sel[l->n_sel++] = d;
        else if (d >= l->doc_lo && d < l->doc_hi)
            l->held[l->n_held++] = d - l->doc_lo;
    }
    l->perm_epoch = -1;
    return l->n_sel;
}

/* ---- streaming mode ---- */

int64_t tcd_stream_window_blocks(const tcd_corpus *c, double budget_bytes) {
    const double bytes = 4.0 * (double)c->n_tokens + 12.0 * (double)c->n_docs;
    if (bytes <= budget_bytes || c->n_docs == 0) return 0;
    const int64_t n_blocks = (c->n_docs + TCD_BLOCK_DOCS - 1) / TCD_BLOCK_DOCS;
    const double per_block = bytes / (double)n_blocks;
    int64_t w = (int64_t)(budget_bytes / 2.0 / per_block); /* two windows are held at a time */
    return w < 1 ? 1 : w;
}

int tcd_loader_open_stream(tcd_loader *l, const tcd_corpus *c, int64_t doc_lo, int64_t doc_hi, uint64_t seed,
                           int shuffle, int64_t window_blocks, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    TCD_CHECK(0 <= doc_lo && doc_lo <= doc_hi && doc_hi <= c->n_docs && window_blocks > 0);
    l->corpus = c;
    l->n_docs_total = c->n_docs;
    l->doc_lo = doc_lo;
    l->doc_hi = doc_hi;
    l->seed = seed;
    l->shuffle = shuffle;
    l->window_blocks = window_blocks;
    l->n_blocks = (c->n_docs + TCD_BLOCK_DOCS - 1) / TCD_BLOCK_DOCS;
    l->n_windows = (l->n_blocks + window_blocks - 1) / window_blocks;
    l->win_start = tcd_malloc(sizeof(int64_t) * (size_t)(l->n_windows + 1));
    l->stream_epoch = -1;
    l->win[0].window = l->win[1].window = -1;
    l->map_window = -1;
    return open_label_sets(l, c, err, errlen);
}

static int64_t block_size(const tcd_loader *l, int64_t b) {
    const int64_t lo = b * TCD_BLOCK_DOCS, hi = lo + TCD_BLOCK_DOCS < l->n_docs_total ? lo + TCD_BLOCK_DOCS : l->n_docs_total;
    return hi - lo;
}

/* The epoch's block order and the first position of every window. */
static void stream_epoch(tcd_loader *l, int64_t epoch) {
    if (l->stream_epoch == epoch) return;
    tcd_perm_init(&l->block_perm, l->n_blocks, l->seed ^ 0xB10C5EED5EEDB10Cull, epoch, l->shuffle);
    l->win_start[0] = 0;
    for (int64_t w = 0; w < l->n_windows; w++) {
        int64_t m = 0;
        for (int64_t t = w * l->window_blocks; t < (w + 1) * l->window_blocks && t < l->n_blocks; t++)
            m += block_size(l, tcd_perm_at(&l->block_perm, t));
        l->win_start[w + 1] = l->win_start[w] + m;
    }
    TCD_CHECK(l->win_start[l->n_windows] == l->n_docs_total);
    l->stream_epoch = epoch;
    l->win[0].window = l->win[1].window = -1; /* a new epoch has new windows */
    l->map_window = -1;
}

/* The blocks of window w in order and the prefix sums of their sizes (cached: one window at a time,
 * since positions are visited in order). */
static void window_map(tcd_loader *l, int64_t w) {
    if (l->map_window == w) return;
    if (l->map_cap < l->window_blocks + 1) {
        l->map_cap = l->window_blocks + 1;
        l->map_blocks = tcd_realloc(l->map_blocks, sizeof(int64_t) * (size_t)l->map_cap);
        l->map_prefix = tcd_realloc(l->map_prefix, sizeof(int64_t) * (size_t)l->map_cap);
    }
    int64_t k = 0;
    l->map_prefix[0] = 0;
    for (int64_t t = w * l->window_blocks; t < (w + 1) * l->window_blocks && t < l->n_blocks; t++, k++) {
        l->map_blocks[k] = tcd_perm_at(&l->block_perm, t);
        l->map_prefix[k + 1] = l->map_prefix[k] + block_size(l, l->map_blocks[k]);
    }
    l->map_window = w;
}

/* The document at position i of the epoch, its window, and its block's index in the window. */
static int64_t stream_doc_at(tcd_loader *l, int64_t epoch, int64_t i, int64_t *window, int64_t *block_in_window) {
    int64_t lo = 0, hi = l->n_windows; /* last window with win_start <= i */
    while (hi - lo > 1) {
        const int64_t mid = (lo + hi) / 2;
        if (l->win_start[mid] <= i) lo = mid; else hi = mid;
    }
    const int64_t w = lo, m = l->win_start[w + 1] - l->win_start[w];
    tcd_perm p;
    tcd_perm_init(&p, m, l->seed ^ tcd_mix64((uint64_t)w + 0x77), epoch, l->shuffle);
    const int64_t q = tcd_perm_at(&p, i - l->win_start[w]);
    window_map(l, w);
    int64_t a = 0, b = (w + 1) * l->window_blocks < l->n_blocks ? l->window_blocks : l->n_blocks - w * l->window_blocks;
    while (b - a > 1) { /* the block whose prefix range holds q */
        const int64_t mid = (a + b) / 2;
        if (l->map_prefix[mid] <= q) a = mid; else b = mid;
    }
    *window = w;
    *block_in_window = a;
    return l->map_blocks[a] * TCD_BLOCK_DOCS + (q - l->map_prefix[a]);
}

/* Reads this rank's documents of window w into slot x (checking them as the in-memory loader does). */
static void load_window(tcd_loader *l, tcd_window *x, int64_t w) {
    const tcd_corpus *c = l->corpus;
    x->window = w;
    x->n_docs = x->n_tokens = 0;
    if (x->cap_blocks < l->window_blocks) {
        x->cap_blocks = l->window_blocks;
        x->block_doc0 = tcd_realloc(x->block_doc0, sizeof(int64_t) * (size_t)x->cap_blocks);
        x->block_local = tcd_realloc(x->block_local, sizeof(int64_t) * (size_t)x->cap_blocks);
    }
    for (int64_t t = w * l->window_blocks; t < (w + 1) * l->window_blocks && t < l->n_blocks; t++) {
        const int64_t a = t - w * l->window_blocks;
        const int64_t b = tcd_perm_at(&l->block_perm, t);
        int64_t d0 = b * TCD_BLOCK_DOCS, d1 = d0 + block_size(l, b);
        if (d0 < l->doc_lo) d0 = l->doc_lo;
        if (d1 > l->doc_hi) d1 = l->doc_hi;
        x->block_local[a] = -1;
        if (d0 >= d1) continue;
        const int64_t n = d1 - d0;
        if (x->n_docs + n + 1 > x->cap_docs) {
            x->cap_docs = (x->n_docs + n + 1) * 2;
            x->offsets = tcd_realloc(x->offsets, sizeof(int64_t) * (size_t)x->cap_docs);
            x->labels = tcd_realloc(x->labels, sizeof(int32_t) * (size_t)x->cap_docs);
        }
        int64_t *off = x->offsets + x->n_docs; /* n + 1 values; off[0] becomes the previous end again */
        if (tcd_corpus_read_offsets(c, d0, n, off) != 0 || tcd_corpus_read_labels(c, d0, n, x->labels + x->n_docs) != 0)
            tcd_die("%s: %s", c->path, tcd_h5_errmsg());
        const int64_t tok0 = off[0], n_tok = off[n] - tok0;
        if (x->n_tokens + n_tok > x->cap_tokens) {
            x->cap_tokens = (x->n_tokens + n_tok) * 2 + 1024;
            x->tokens = tcd_realloc(x->tokens, sizeof(int32_t) * (size_t)x->cap_tokens);
        }
        if (n_tok && tcd_corpus_read_tokens(c, tok0, n_tok, x->tokens + x->n_tokens) != 0)
            tcd_die("%s: %s", c->path, tcd_h5_errmsg());
        /* the corpus reads checked offsets, token ids and labels */
        for (int64_t k = n; k >= 0; k--) off[k] = off[k] - tok0 + x->n_tokens; /* local, continuing */
        x->block_doc0[a] = d0;
        x->block_local[a] = x->n_docs;
        x->n_docs += n;
        x->n_tokens += n_tok;
    }
}

/* The slot holding window w, loading it into the other slot (the older window) when needed. */
static tcd_window *window_slot(tcd_loader *l, int64_t w) {
    if (l->win[0].window == w) return &l->win[0];
    if (l->win[1].window == w) return &l->win[1];
    tcd_window *x = l->win[0].window < l->win[1].window ? &l->win[0] : &l->win[1];
    load_window(l, x, w);
    return x;
}

static void stream_batch(tcd_loader *l, int64_t epoch, int64_t start, int64_t end, tcd_batch *out) {
    stream_epoch(l, epoch);
    const int64_t n_max = end - start;
    if (n_max > l->bdoc_cap) {
        l->bdoc_cap = n_max * 2;
        l->boff = tcd_realloc(l->boff, sizeof(int64_t) * (size_t)(l->bdoc_cap + 1));
        l->blab = tcd_realloc(l->blab, sizeof(int32_t) * (size_t)l->bdoc_cap);
        l->bdocs = tcd_realloc(l->bdocs, sizeof(int64_t) * (size_t)l->bdoc_cap);
        l->bids = tcd_realloc(l->bids, sizeof(int64_t) * (size_t)l->bdoc_cap);
    }
    int64_t n = 0, pos = 0;
    l->boff[0] = 0;
    for (int64_t i = start; i < end; i++) {
        int64_t w, a;
        const int64_t d = stream_doc_at(l, epoch, i, &w, &a);
        if (d < l->doc_lo || d >= l->doc_hi) continue;
        const tcd_window *x = window_slot(l, w);
        TCD_CHECK(x->block_local[a] >= 0 && d >= x->block_doc0[a]);
        const int64_t k = x->block_local[a] + (d - x->block_doc0[a]), len = x->offsets[k + 1] - x->offsets[k];
        if (pos + len > l->btok_cap) {
            l->btok_cap = (pos + len) * 2 + 1024;
            l->btok = tcd_realloc(l->btok, sizeof(int32_t) * (size_t)l->btok_cap);
        }
        memcpy(l->btok + pos, x->tokens + x->offsets[k], sizeof(int32_t) * (size_t)len);
        pos += len;
        l->blab[n] = x->labels[k];
        l->bids[n] = d;
        l->boff[++n] = pos;
    }
    out->n = n;
    out->tokens = l->btok;
    out->offsets = l->boff;
    out->labels = l->blab;
    out->doc_ids = l->bids;
    out->multi = l->has_ml ? &l->ml : NULL;
}
