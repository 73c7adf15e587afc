/* Unit tests of the vocabulary: add/find, insertion-order ids, counts, growth to 1e6 words,
 * finalize (ordering with ties, min_count, max_vocab, reserved ids, <unk> count, remap),
 * from_words round trip and concurrent finds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenize.h"
#include "base/util.h"
#include "check.h"
#include "text/vocab.h"


static int32_t add(tcd_vocab *v, const char *w, int64_t c) {
    return tcd_vocab_add(v, w, strlen(w), tcd_word_hash(w, strlen(w)), c);
}
static int32_t find(const tcd_vocab *v, const char *w) {
    return tcd_vocab_find(v, w, strlen(w), tcd_word_hash(w, strlen(w)));
}
static int word_is(const tcd_vocab *v, int32_t id, const char *w) {
    size_t len = 0;
    const char *s = tcd_vocab_word(v, id, &len);
    return len == strlen(w) && memcmp(s, w, len) == 0 && s[len] == 0;
}

static void test_basic(void) {
    tcd_vocab *v = tcd_vocab_new();
    EXPECT(tcd_vocab_size(v) == 0);
    EXPECT(find(v, "a") == -1);
    EXPECT(add(v, "the", 1) == 0);
    EXPECT(add(v, "cat", 2) == 1);
    EXPECT(add(v, "the", 3) == 0);
    EXPECT(add(v, "", 1) == 2); /* the empty word is a word like any other */
    EXPECT(add(v, "th", 1) == 3);
    EXPECT(tcd_vocab_size(v) == 4);
    EXPECT(find(v, "the") == 0 && find(v, "cat") == 1 && find(v, "") == 2 && find(v, "th") == 3);
    EXPECT(find(v, "thee") == -1 && find(v, "t") == -1);
    EXPECT(tcd_vocab_count(v, 0) == 4 && tcd_vocab_count(v, 1) == 2 && tcd_vocab_count(v, 3) == 1);
    EXPECT(word_is(v, 0, "the") && word_is(v, 1, "cat") && word_is(v, 2, ""));
    /* words with embedded NUL and high bytes are kept by length */
    EXPECT(tcd_vocab_add(v, "a\0b", 3, tcd_word_hash("a\0b", 3), 1) == 4);
    EXPECT(tcd_vocab_find(v, "a\0c", 3, tcd_word_hash("a\0c", 3)) == -1);
    EXPECT(tcd_vocab_find(v, "a\0b", 3, tcd_word_hash("a\0b", 3)) == 4);
    /* same hash, different bytes: a forced collision must not merge words */
    EXPECT(tcd_vocab_add(v, "x", 1, 42, 1) == 5);
    EXPECT(tcd_vocab_add(v, "y", 1, 42, 1) == 6);
    EXPECT(tcd_vocab_find(v, "x", 1, 42) == 5 && tcd_vocab_find(v, "y", 1, 42) == 6);
    EXPECT(tcd_vocab_find(v, "z", 1, 42) == -1);
    tcd_vocab_free(v);
}

static void test_growth(void) {
    const int n = 1000000;
    tcd_vocab *v = tcd_vocab_new();
    char w[32];
    double t0 = tcd_now();
    for (int i = 0; i < n; i++) {
        int l = snprintf(w, sizeof w, "w%d", i);
        if (tcd_vocab_add(v, w, (size_t)l, tcd_word_hash(w, (size_t)l), i % 7) != i) {
            tcd_test_failures++;
            fprintf(stderr, "growth: wrong id for word %d\n", i);
            break;
        }
    }
    /* second pass: all found with their ids, counts accumulate */
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int l = snprintf(w, sizeof w, "w%d", i);
        if (tcd_vocab_add(v, w, (size_t)l, tcd_word_hash(w, (size_t)l), 1) != i) bad++;
    }
    double t1 = tcd_now();
    EXPECT(bad == 0);
    EXPECT(tcd_vocab_size(v) == n);
    for (int i = 0; i < n; i += 9973) {
        int l = snprintf(w, sizeof w, "w%d", i);
        EXPECT(tcd_vocab_find(v, w, (size_t)l, tcd_word_hash(w, (size_t)l)) == i);
        EXPECT(tcd_vocab_count(v, i) == i % 7 + 1);
        EXPECT(word_is(v, i, w));
        l = snprintf(w, sizeof w, "v%d", i);
        EXPECT(tcd_vocab_find(v, w, (size_t)l, tcd_word_hash(w, (size_t)l)) == -1);
    }
    printf("growth: 2 x %d adds in %.3f s\n", n, t1 - t0);

    /* finalize of a big table: remap is consistent with the new table */
    int32_t *remap = NULL;
    tcd_vocab *f = tcd_vocab_finalize(v, 5, 100000, &remap);
    EXPECT(tcd_vocab_size(f) == 100002);
    int64_t kept = 0;
    for (int i = 0; i < n; i++) {
        if (remap[i] == 1) continue;
        kept++;
        size_t a, b;
        const char *wa = tcd_vocab_word(v, i, &a), *wb = tcd_vocab_word(f, remap[i], &b);
        if (a != b || memcmp(wa, wb, a) != 0 || tcd_vocab_count(f, remap[i]) != tcd_vocab_count(v, i)) {
            tcd_test_failures++;
            break;
        }
    }
    EXPECT(kept == 100000);
    /* all kept words have count 7 (i % 7 == 6) and come in byte order */
    for (int32_t id = 3; id < 100002; id += 777) {
        size_t a, b;
        const char *pa = tcd_vocab_word(f, id - 1, &a), *pb = tcd_vocab_word(f, id, &b);
        EXPECT(tcd_vocab_count(f, id) == 7);
        size_t m = a < b ? a : b;
        int c = memcmp(pa, pb, m);
        EXPECT(c < 0 || (c == 0 && a < b));
    }
    free(remap);
    tcd_vocab_free(f);
    tcd_vocab_free(v);
}

static void test_finalize(void) {
    tcd_vocab *v = tcd_vocab_new();
    /* ids:      0       1      2       3      4       5     6      7      8 */
    add(v, "b", 5);
    add(v, "a", 5);
    add(v, "ab", 5);
    add(v, "rare", 1);
    add(v, "top", 9);
    add(v, "c", 2);
    add(v, "é", 5);
    add(v, "A", 5);
    add(v, "rare2", 1);
    int32_t *remap = NULL;
    tcd_vocab *f = tcd_vocab_finalize(v, 1, 0, &remap);
    /* count desc; ties by bytes: "A"(0x41) < "a" < "ab" < "b" < "é"(0xC3) ; "a" before "ab" */
    const char *want[] = {"<pad>", "<unk>", "top", "A", "a", "ab", "b", "é", "c", "rare", "rare2"};
    EXPECT(tcd_vocab_size(f) == 11);
    for (int i = 0; i < 11 && i < tcd_vocab_size(f); i++) {
        if (!word_is(f, i, want[i])) {
            fprintf(stderr, "finalize order: id %d is \"%s\", want \"%s\"\n", i, tcd_vocab_word(f, i, NULL), want[i]);
            tcd_test_failures++;
        }
    }
    EXPECT(tcd_vocab_count(f, TCD_PAD_ID) == 0 && tcd_vocab_count(f, TCD_UNK_ID) == 0);
    EXPECT(remap[0] == 6 && remap[1] == 4 && remap[2] == 5 && remap[3] == 9 && remap[4] == 2 && remap[5] == 8 &&
           remap[6] == 7 && remap[7] == 3 && remap[8] == 10);
    EXPECT(find(f, "top") == 2 && find(f, "<pad>") == TCD_PAD_ID && find(f, "<unk>") == TCD_UNK_ID);
    free(remap);
    tcd_vocab_free(f);

    /* min_count 2: rare and rare2 go to <unk> with their counts */
    f = tcd_vocab_finalize(v, 2, 0, &remap);
    EXPECT(tcd_vocab_size(f) == 9);
    EXPECT(tcd_vocab_count(f, TCD_UNK_ID) == 2);
    EXPECT(remap[3] == TCD_UNK_ID && remap[8] == TCD_UNK_ID && remap[5] == 8);
    EXPECT(find(f, "rare") == -1);
    free(remap);
    tcd_vocab_free(f);

    /* max_vocab 3: top, A, a; the rest (5+5+5+2+1+1 = 19) is <unk> */
    f = tcd_vocab_finalize(v, 1, 3, &remap);
    EXPECT(tcd_vocab_size(f) == 5);
    EXPECT(word_is(f, 2, "top") && word_is(f, 3, "A") && word_is(f, 4, "a"));
    EXPECT(tcd_vocab_count(f, TCD_UNK_ID) == 19);
    EXPECT(remap[4] == 2 && remap[7] == 3 && remap[1] == 4 && remap[0] == 1 && remap[2] == 1);
    free(remap);
    tcd_vocab_free(f);

    /* min_count above everything: only the reserved ids; remap may be NULL */
    f = tcd_vocab_finalize(v, 100, 0, NULL);
    EXPECT(tcd_vocab_size(f) == 2 && tcd_vocab_count(f, TCD_UNK_ID) == 38);
    tcd_vocab_free(f);

    /* determinism: a different insertion order gives the same final table */
    tcd_vocab *v2 = tcd_vocab_new();
    for (int32_t id = (int32_t)tcd_vocab_size(v) - 1; id >= 0; id--) {
        size_t l;
        const char *w = tcd_vocab_word(v, id, &l);
        tcd_vocab_add(v2, w, l, tcd_word_hash(w, l), tcd_vocab_count(v, id));
    }
    tcd_vocab *f1 = tcd_vocab_finalize(v, 2, 4, NULL), *f2 = tcd_vocab_finalize(v2, 2, 4, NULL);
    EXPECT(tcd_vocab_size(f1) == tcd_vocab_size(f2));
    for (int32_t id = 0; id < tcd_vocab_size(f1); id++) {
        size_t a, b;
        const char *wa = tcd_vocab_word(f1, id, &a), *wb = tcd_vocab_word(f2, id, &b);
        EXPECT(a == b && memcmp(wa, wb, a) == 0 && tcd_vocab_count(f1, id) == tcd_vocab_count(f2, id));
    }
    tcd_vocab_free(f1);
    tcd_vocab_free(f2);
    tcd_vocab_free(v2);

    /* a raw word spelled "<unk>" is dropped into <unk>, not duplicated */
    add(v, "<unk>", 50);
    f = tcd_vocab_finalize(v, 1, 0, &remap);
    EXPECT(tcd_vocab_size(f) == 11 && remap[9] == TCD_UNK_ID && tcd_vocab_count(f, TCD_UNK_ID) == 50);
    free(remap);
    tcd_vocab_free(f);

    /* empty raw table */
    tcd_vocab *e = tcd_vocab_new();
    f = tcd_vocab_finalize(e, 1, 0, &remap);
    EXPECT(tcd_vocab_size(f) == 2 && word_is(f, 0, "<pad>") && word_is(f, 1, "<unk>"));
    free(remap);
    tcd_vocab_free(f);
    tcd_vocab_free(e);
    tcd_vocab_free(v);
}

static void test_from_words(void) {
    tcd_vocab *v = tcd_vocab_new();
    add(v, "x", 3);
    add(v, "y", 7);
    add(v, "日本", 7);
    add(v, "z", 1);
    tcd_vocab *f = tcd_vocab_finalize(v, 1, 0, NULL);
    int64_t n = tcd_vocab_size(f);
    char **words = tcd_malloc((size_t)n * sizeof *words);
    int64_t *counts = tcd_malloc((size_t)n * sizeof *counts);
    for (int32_t id = 0; id < n; id++) {
        words[id] = tcd_strdup(tcd_vocab_word(f, id, NULL));
        counts[id] = tcd_vocab_count(f, id);
    }
    tcd_vocab *g = tcd_vocab_from_words(words, counts, n);
    EXPECT(g && tcd_vocab_size(g) == n);
    for (int32_t id = 0; g && id < n; id++) {
        EXPECT(word_is(g, id, words[id]) && tcd_vocab_count(g, id) == counts[id]);
        EXPECT(find(g, words[id]) == id);
    }
    EXPECT(g && find(g, "y") == 2 && find(g, "日本") == 3);
    tcd_vocab_free(g);
    /* counts NULL -> 0 */
    g = tcd_vocab_from_words(words, NULL, n);
    EXPECT(g && tcd_vocab_count(g, 3) == 0 && find(g, "x") == 4);
    tcd_vocab_free(g);
    /* a duplicate is reported */
    char *dup[] = {"a", "b", "c", "b"};
    int64_t pos = -1;
    EXPECT(tcd_vocab_from_words(dup, NULL, 4) == NULL);
    EXPECT(tcd_vocab_from_words_checked(dup, NULL, 4, &pos) == NULL && pos == 3);
    for (int64_t i = 0; i < n; i++) free(words[i]);
    free(words);
    free(counts);
    tcd_vocab_free(f);
    tcd_vocab_free(v);
}

/* Concurrent finds from several OpenMP threads on a shared table. */
static void test_concurrent_find(void) {
    tcd_vocab *v = tcd_vocab_new();
    char w[32];
    for (int i = 0; i < 50000; i++) {
        int l = snprintf(w, sizeof w, "k%d", i);
        tcd_vocab_add(v, w, (size_t)l, tcd_word_hash(w, (size_t)l), 1);
    }
    int bad = 0;
#pragma omp parallel for num_threads(4) reduction(+ : bad)
    for (int i = 0; i < 200000; i++) {
        char b[32];
        int l = snprintf(b, sizeof b, "k%d", i);
        int32_t id = tcd_vocab_find(v, b, (size_t)l, tcd_word_hash(b, (size_t)l));
        if (id != (i < 50000 ? i : -1)) bad++;
    }
    EXPECT(bad == 0);
    tcd_vocab_free(v);
}

int main(void) {
    test_basic();
    test_growth();
    test_finalize();
    test_from_words();
    test_concurrent_find();
    if (tcd_test_failures) {
        fprintf(stderr, "test_vocab: %d failure(s)\n", tcd_test_failures);
        return 1;
    }
    printf("test_vocab: all passed\n");
    return 0;
}
