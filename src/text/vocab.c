/* Word <-> id table: open addressing with linear probing over a power-of-two slot array.
 * Each slot holds the word's 64-bit hash and its id; the words' bytes live in one arena
 * (each followed by a NUL, so tcd_vocab_word can be printed directly). */
#include "text/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "text/tokenize.h"
#include "base/util.h"

typedef struct {
    uint64_t hash;
    int32_t id; /* -1: empty */
} slot;

struct tcd_vocab {
    slot *slots;
    uint64_t cap_slots; /* power of two */
    int shift;          /* 64 - log2(cap_slots), for Fibonacci hashing */
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *off; /* per id: offset of the word in the arena */
    uint32_t *len;
    uint64_t *hash;
    int64_t *count;
    int64_t n, cap_ids;
};

/* FNV-1a's low bits are weak; spread the whole hash over the slot index. */
static inline uint64_t slot_of(const tcd_vocab *v, uint64_t h) {
    return (h * 0x9E3779B97F4A7C15ULL) >> v->shift;
}

static void alloc_slots(tcd_vocab *v, uint64_t cap) {
    v->slots = tcd_malloc(cap * sizeof *v->slots);
    for (uint64_t i = 0; i < cap; i++) v->slots[i].id = -1;
    v->cap_slots = cap;
    int lg = 0;
    while (((uint64_t)1 << lg) < cap) lg++;
    v->shift = 64 - lg;
}

tcd_vocab *tcd_vocab_new(void) {
    tcd_vocab *v = tcd_calloc(1, sizeof *v);
    alloc_slots(v, 1024);
    return v;
}

void tcd_vocab_free(tcd_vocab *v) {
    if (!v) return;
    free(v->slots);
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->hash);
    free(v->count);
    free(v);
}

/* Doubles the slot array and reinserts every id (in id order, so the layout is deterministic). */
static void grow_slots(tcd_vocab *v) {
    free(v->slots);
    alloc_slots(v, v->cap_slots * 2);
    const uint64_t mask = v->cap_slots - 1;
    for (int64_t id = 0; id < v->n; id++) {
        uint64_t i = slot_of(v, v->hash[id]);
        while (v->slots[i].id >= 0) i = (i + 1) & mask;
        v->slots[i].hash = v->hash[id];
        v->slots[i].id = (int32_t)id;
    }
}

int32_t tcd_vocab_find(const tcd_vocab *v, const char *w, size_t n, uint64_t h) {
    const uint64_t mask = v->cap_slots - 1;
    for (uint64_t i = slot_of(v, h);; i = (i + 1) & mask) {
        const slot *s = &v->slots[i];
        if (s->id < 0) return -1;
        if (s->hash == h && v->len[s->id] == n && memcmp(v->arena + v->off[s->id], w, n) == 0) return s->id;
    }
}

int32_t tcd_vocab_add(tcd_vocab *v, const char *w, size_t n, uint64_t h, int64_t count) {
    const uint64_t mask = v->cap_slots - 1;
    uint64_t i = slot_of(v, h);
    for (;; i = (i + 1) & mask) {
        slot *s = &v->slots[i];
        if (s->id < 0) break;
        if (s->hash == h && v->len[s->id] == n && memcmp(v->arena + v->off[s->id], w, n) == 0) {
            v->count[s->id] += count;
            return s->id;
        }
    }
    /* a new word */
    if (v->n >= INT32_MAX) tcd_die("vocabulary has more than %d distinct words", INT32_MAX);
    if (n > UINT32_MAX - 1) tcd_die("word of %zu bytes is too long for the vocabulary", n);
    if (v->n == v->cap_ids) {
        int64_t cap = v->cap_ids ? v->cap_ids * 2 : 1024;
        v->off = tcd_realloc(v->off, (size_t)cap * sizeof *v->off);
        v->len = tcd_realloc(v->len, (size_t)cap * sizeof *v->len);
        v->hash = tcd_realloc(v->hash, (size_t)cap * sizeof *v->hash);
        v->count = tcd_realloc(v->count, (size_t)cap * sizeof *v->count);
        v->cap_ids = cap;
    }
    if (v->arena_len + n + 1 > v->arena_cap) {
        size_t cap = v->arena_cap ? v->arena_cap : 16384;
        while (cap < v->arena_len + n + 1) cap *= 2;
        v->arena = tcd_realloc(v->arena, cap);
        v->arena_cap = cap;
    }
    int32_t id = (int32_t)v->n++;
    if (n) memcpy(v->arena + v->arena_len, w, n);
    v->arena[v->arena_len + n] = 0;
    v->off[id] = v->arena_len;
    v->len[id] = (uint32_t)n;
    v->hash[id] = h;
    v->count[id] = count;
    v->arena_len += n + 1;
    v->slots[i].hash = h;
    v->slots[i].id = id;
    /* keep the load factor at most 0.6 */
    if ((uint64_t)v->n * 5 > v->cap_slots * 3) grow_slots(v);
    return id;
}

int64_t tcd_vocab_size(const tcd_vocab *v) { return v->n; }

const char *tcd_vocab_word(const tcd_vocab *v, int32_t id, size_t *len) {
    TCD_CHECK(id >= 0 && id < v->n);
    if (len) *len = v->len[id];
    return v->arena + v->off[id];
}

int64_t tcd_vocab_count(const tcd_vocab *v, int32_t id) {
    TCD_CHECK(id >= 0 && id < v->n);
    return v->count[id];
}

typedef struct {
    int64_t count;
    const char *w;
    uint32_t len;
    int32_t id;
} rank_entry;

/* count descending, then bytes ascending (memcmp), then shorter first: a total order on
 * distinct words, so the result does not depend on the sort algorithm. */
static int rank_cmp(const void *pa, const void *pb) {
    const rank_entry *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    uint32_t m = a->len < b->len ? a->len : b->len;
    int c = m ? memcmp(a->w, b->w, m) : 0;
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int is_reserved(const char *w, size_t n) {
    return (n == 5 && memcmp(w, "<pad>", 5) == 0) || (n == 5 && memcmp(w, "<unk>", 5) == 0);
}

tcd_vocab *tcd_vocab_finalize(const tcd_vocab *raw, int64_t min_count, int64_t max_vocab, int32_t **remap) {
    const int64_t n = raw->n;
    rank_entry *e = tcd_malloc((size_t)(n ? n : 1) * sizeof *e);
    for (int64_t id = 0; id < n; id++) {
        e[id].count = raw->count[id];
        e[id].w = raw->arena + raw->off[id];
        e[id].len = raw->len[id];
        e[id].id = (int32_t)id;
    }
    qsort(e, (size_t)n, sizeof *e, rank_cmp);

    int32_t *map = tcd_malloc((size_t)(n ? n : 1) * sizeof *map);
    tcd_vocab *v = tcd_vocab_new();
    tcd_vocab_add(v, "<pad>", 5, tcd_word_hash("<pad>", 5), 0);
    tcd_vocab_add(v, "<unk>", 5, tcd_word_hash("<unk>", 5), 0);
    int64_t unk_count = 0, kept = 0;
    for (int64_t r = 0; r < n; r++) {
        /* a raw word spelled like a reserved one (the tokenizer never makes one) is dropped */
        int keep = e[r].count >= min_count && (max_vocab <= 0 || kept < max_vocab) && !is_reserved(e[r].w, e[r].len);
        if (keep) {
            map[e[r].id] = tcd_vocab_add(v, e[r].w, e[r].len, raw->hash[e[r].id], e[r].count);
            kept++;
        } else {
            map[e[r].id] = TCD_UNK_ID;
            unk_count += e[r].count;
        }
    }
    v->count[TCD_UNK_ID] = unk_count;
    free(e);
    if (remap)
        *remap = map;
    else
        free(map);
    return v;
}

tcd_vocab *tcd_vocab_from_words_checked(char *const *words, const int64_t *counts, int64_t n, int64_t *dup_pos) {
    tcd_vocab *v = tcd_vocab_new();
    for (int64_t i = 0; i < n; i++) {
        size_t len = strlen(words[i]);
        int32_t id = tcd_vocab_add(v, words[i], len, tcd_word_hash(words[i], len), counts ? counts[i] : 0);
        if (id != i) {
            if (dup_pos) *dup_pos = i;
            tcd_vocab_free(v);
            return NULL;
        }
    }
    return v;
}

tcd_vocab *tcd_vocab_from_words(char *const *words, const int64_t *counts, int64_t n) {
    return tcd_vocab_from_words_checked(words, counts, n, NULL);
}
