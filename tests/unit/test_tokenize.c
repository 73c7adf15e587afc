/* Unit tests of the tokenizer (rule tcdist-v1): exact splits, lowercasing, UTF-8 errors and
 * replacement, the word cut, max_len, n-grams, a comparison with a slow reference on random
 * bytes, and a throughput print (no assertion on speed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenize.h"
#include "base/util.h"
#include "check.h"


static tcd_tokens tk;

/* Tokens joined with '|', e.g. "hello|,|world"; "ERR" when tokenize fails. */
static const char *join(const tcd_tok_opts *o, const char *s, size_t n) {
    static char buf[65536];
    const char *err = NULL;
    if (tcd_tokenize(o, s, n, &tk, &err) != 0) return "ERR";
    size_t p = 0;
    for (int64_t i = 0; i < tk.n_words; i++) {
        if (i) buf[p++] = '|';
        memcpy(buf + p, tk.bytes + tk.start[i], tk.len[i]);
        p += tk.len[i];
        if (tcd_word_hash(tk.bytes + tk.start[i], tk.len[i]) != tk.hash[i]) return "BADHASH";
    }
    buf[p] = 0;
    return buf;
}

static void expect_tokens(const tcd_tok_opts *o, const char *in, const char *want, int line) {
    const char *got = join(o, in, strlen(in));
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s:%d: tokens of \"%s\": got \"%s\", want \"%s\"\n", __FILE__, line, in, got, want);
        tcd_test_failures++;
    }
}
#define TOK(o, in, want) expect_tokens(o, in, want, __LINE__)

static void test_ascii(void) {
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    TOK(&o, "Hello, World!", "hello|,|world|!");
    TOK(&o, "  a  b\tc\nd\r\ne\x01" "f\x7fg ", "a|b|c|d|e|f|g");
    TOK(&o, "x-ray (1999): \"ok\"...", "x|-|ray|(|1999|)|:|\"|ok|\"|.|.|.");
    TOK(&o, "a!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~b", "a|!|\"|#|$|%|&|(|)|*|+|,|-|.|/|:|;|<|=|>|?|@|[|\\|]|^|_|`|{|||}|~|b");
    TOK(&o, "Don't stop, it's John's 'quote' rock'n'roll n't", "don't|stop|,|it's|john's|'quote'|rock'n'roll|n't");
    TOK(&o, "", "");
    TOK(&o, " \t\r\n  ", "");
    TOK(&o, "abc", "abc");
    /* NUL is a separator */
    EXPECT(strcmp(join(&o, "ab\0cd", 5), "ab|cd") == 0);
    o.keep_punct = 0;
    TOK(&o, "Hello, World!", "hello|world");
    TOK(&o, "a.b,c;;d", "a|b|c|d");
    TOK(&o, "!!! ???", "");
    o.keep_punct = 1;
    o.lowercase = 0;
    TOK(&o, "Hello WORLD", "Hello|WORLD");
    /* every ASCII byte's class */
    for (int c = 0; c < 128; c++) {
        char in[4] = {'a', (char)c, 'b', 0};
        const char *got = join(&o, in, 3);
        char want[8];
        if (c <= 0x20 || c == 0x7f)
            strcpy(want, "a|b");
        else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'')
            snprintf(want, sizeof want, "a%cb", c);
        else
            snprintf(want, sizeof want, "a|%c|b", c);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "byte 0x%02x: got \"%s\", want \"%s\"\n", c, got, want);
            tcd_test_failures++;
        }
    }
}

static void test_unicode(void) {
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    TOK(&o, "naïve café 日本語 🙂", "naïve|café|日本語|🙂");
    TOK(&o, "ÉCOLE Ωmega ДОМ Ёж ЀЏ ×÷ ÞÝ ẞ Σ", "école|ωmega|дом|ёж|ѐџ|×÷|þý|ẞ|σ");
    TOK(&o, "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ \xce\xa2", "αβγδεζηθικλμνξοπρστυφχψω|\xce\xa2");
    TOK(&o, "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ", "абвгдежзийклмнопрстуфхцчшщъыьэюя");
    TOK(&o, "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞß", "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþß");
    o.lowercase = 0;
    TOK(&o, "ÉCOLE Ωmega ДОМ", "ÉCOLE|Ωmega|ДОМ");
    o.lowercase = 1;
    /* apostrophe U+2019 is a word character; U+2018 is punctuation */
    TOK(&o, "don\xe2\x80\x99t \xe2\x80\x98q\xe2\x80\x99", "don\xe2\x80\x99t|\xe2\x80\x98|q\xe2\x80\x99");
    /* Unicode spaces */
    const char *spaces[] = {"\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x85", "\xe2\x80\x8a",
                            "\xe2\x80\x8b", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f",
                            "\xe3\x80\x80", "\xef\xbb\xbf"};
    for (size_t k = 0; k < sizeof spaces / sizeof *spaces; k++) {
        char in[32];
        snprintf(in, sizeof in, "ab%scd%s", spaces[k], spaces[k]);
        TOK(&o, in, "ab|cd");
    }
    /* not separators: U+200C (ZWNJ) and U+0080 are word characters */
    TOK(&o, "a\xe2\x80\x8c" "b", "a\xe2\x80\x8c" "b");
    /* non-ASCII punctuation */
    TOK(&o, "¡Hola! «x» ¿y? a—b a–b a‐b a―b “q” a…b 日本、語。",
        "¡|hola|!|«|x|»|¿|y|?|a|—|b|a|–|b|a|‐|b|a|―|b|“|q|”|a|…|b|日本|、|語|。");
    o.keep_punct = 0;
    TOK(&o, "«x» a…b 日本、語。", "x|a|b|日本|語");
}

/* One invalid input under both policies. want_repl: tokens under REPLACE; off: byte offset. */
static void check_invalid(const char *in, size_t n, const char *want_repl, size_t off, int line) {
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    const char *err = NULL;
    tk.n_words = 12345;
    int rc = tcd_tokenize(&o, in, n, &tk, &err);
    char want_off[64];
    snprintf(want_off, sizeof want_off, "at byte %zu of the text", off);
    if (rc != -1 || !err || !strstr(err, want_off) || !strstr(err, "invalid UTF-8") || tk.n_words != 0) {
        fprintf(stderr, "%s:%d: ERROR policy: rc=%d err=%s (want offset %zu)\n", __FILE__, line, rc,
                err ? err : "(null)", off);
        tcd_test_failures++;
    }
    o.invalid_utf8 = TCD_UTF8_REPLACE;
    const char *got = join(&o, in, n);
    if (strcmp(got, want_repl) != 0) {
        fprintf(stderr, "%s:%d: REPLACE policy: got \"%s\", want \"%s\"\n", __FILE__, line, got, want_repl);
        tcd_test_failures++;
    }
}
#define INVALID(in, want, off) check_invalid(in, sizeof(in) - 1, want, off, __LINE__)
#define R "\xef\xbf\xbd" /* U+FFFD */

static void test_invalid_utf8(void) {
    INVALID("ab\x80" "cd", "ab" R "cd", 2);                 /* lone continuation */
    INVALID("x \xbf", "x|" R, 2);                            /* lone continuation at the end */
    INVALID("ab\xc3", "ab" R, 2);                            /* truncated 2-byte at end */
    INVALID("ab\xe2\x82", "ab" R, 2);                        /* truncated 3-byte at end: one U+FFFD */
    INVALID("ab\xf0\x9f\x99", "ab" R, 2);                    /* truncated 4-byte at end */
    INVALID("ab\xe2\x82 cd", "ab" R "|cd", 2);               /* truncated inside the text */
    INVALID("ab\xc3" "A", "ab" R "a", 2);                    /* lead then ASCII */
    INVALID("\xc0\x80", R R, 0);                             /* overlong NUL */
    INVALID("a\xc1\xbf", "a" R R, 1);                        /* overlong */
    INVALID("a\xe0\x80\xaf", "a" R R R, 1);                  /* overlong 3-byte */
    INVALID("a\xf0\x80\x80\xaf", "a" R R R R, 1);            /* overlong 4-byte */
    INVALID("q\xed\xa0\x80", "q" R R R, 1);                  /* surrogate U+D800 */
    INVALID("q\xed\xbf\xbf", "q" R R R, 1);                  /* surrogate U+DFFF */
    INVALID("\xf4\x90\x80\x80", R R R R, 0);                 /* U+110000 */
    INVALID("z\xf5\x80\x80\x80", "z" R R R R, 1);            /* F5 */
    INVALID("z\xff", "z" R, 1);                              /* FF */
    INVALID("z\xfe\xfe", "z" R R, 1);
    INVALID("ok fine \xe6\x97\xa5\xe6\x97", "ok|fine|日" R, 11); /* offset after valid multibyte */
    /* the error message names the byte */
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    const char *err = NULL;
    EXPECT(tcd_tokenize(&o, "abc\xc3", 4, &tk, &err) == -1 && strstr(err, "0xC3"));
    /* valid boundaries are accepted */
    const char *valid = "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf";
    EXPECT(strcmp(join(&o, valid, strlen(valid)),
                  "\xc2\x80|\xdf\xbf|\xe0\xa0\x80|\xed\x9f\xbf|\xee\x80\x80|\xef\xbf\xbf|\xf0\x90\x80\x80|\xf4\x8f\xbf\xbf") == 0);
    /* U+FFFD in valid input is an ordinary word character */
    TOK(&o, "a" R "b", "a" R "b");
}

static void test_cut(void) {
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    char in[2048], want[2048];
    /* 300 ASCII letters: cut to 256, the rest dropped (not a second word) */
    memset(in, 'A', 300);
    strcpy(in + 300, " next");
    memset(want, 'a', 256);
    strcpy(want + 256, "|next");
    TOK(&o, in, want);
    /* exactly 256 bytes: unchanged */
    memset(in, 'b', 256);
    in[256] = 0;
    TOK(&o, in, in);
    /* 255 ASCII + "é" (2 bytes) + "xyz": cut after the 255 ASCII bytes, "xyz" dropped too */
    memset(in, 'c', 255);
    strcpy(in + 255, "\xc3\xa9xyz,q");
    memset(want, 'c', 255);
    strcpy(want + 255, "|,|q");
    TOK(&o, in, want);
    /* 100 x "日" (3 bytes each): 85 fit (255 bytes) */
    size_t p = 0;
    for (int k = 0; k < 100; k++) {
        memcpy(in + p, "\xe6\x97\xa5", 3);
        p += 3;
    }
    in[p] = 0;
    const char *got = join(&o, in, p);
    EXPECT(tk.n_words == 1 && tk.len[0] == 255 && memcmp(got, in, 255) == 0);
    /* 4-byte characters: 64 fit exactly */
    p = 0;
    for (int k = 0; k < 70; k++) {
        memcpy(in + p, "\xf0\x9f\x99\x82", 4);
        p += 4;
    }
    memcpy(in + p, " a", 2);
    p += 2;
    join(&o, in, p);
    EXPECT(tk.n_words == 2 && tk.len[0] == 256 && tk.len[1] == 1);
}

static void test_max_len(void) {
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    o.max_len = 3;
    TOK(&o, "a b, c d e", "a|b|,");
    EXPECT(tk.n_truncated == 3 && tk.n_words == 3);
    TOK(&o, "a b", "a|b");
    EXPECT(tk.n_truncated == 0);
    o.keep_punct = 0;
    TOK(&o, "a b, c d e", "a|b|c");
    EXPECT(tk.n_truncated == 2);
    o.max_len = 0;
    TOK(&o, "a b, c d e", "a|b|c|d|e");
    EXPECT(tk.n_truncated == 0);
}

static void test_ngrams(void) {
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    o.ngrams = 3;
    o.buckets = 1000;
    EXPECT(tcd_n_ngram_ids(&o, 0) == 0);
    EXPECT(tcd_n_ngram_ids(&o, 1) == 0);
    EXPECT(tcd_n_ngram_ids(&o, 2) == 1);
    EXPECT(tcd_n_ngram_ids(&o, 5) == 4 + 3);
    o.ngrams = 1;
    EXPECT(tcd_n_ngram_ids(&o, 5) == 0);
    o.ngrams = 3;

    const char *text = "the cat sat on the mat";
    EXPECT(tcd_tokenize(&o, text, strlen(text), &tk, NULL) == 0 && tk.n_words == 6);
    int64_t m = tcd_n_ngram_ids(&o, tk.n_words);
    EXPECT(m == 9);
    int32_t ids[16], ids2[16];
    tcd_ngram_ids(&o, tk.hash, tk.n_words, 500, ids);
    for (int64_t k = 0; k < m; k++) EXPECT(ids[k] >= 500 && ids[k] < 1500);
    /* the formula, written out independently */
    for (int64_t i = 0; i < 5; i++) {
        uint64_t h = tk.hash[i] * 116049371ULL + tk.hash[i + 1];
        h ^= h >> 31;
        EXPECT(ids[i] == 500 + (int32_t)(h % 1000));
    }
    for (int64_t i = 0; i < 4; i++) {
        uint64_t h = (tk.hash[i] * 116049371ULL + tk.hash[i + 1]) * 116049371ULL + tk.hash[i + 2];
        h ^= h >> 31;
        EXPECT(ids[5 + i] == 500 + (int32_t)(h % 1000));
    }
    /* "the" ... "the" at positions 0 and 4: 2-gram "the cat" vs "the mat" differ in general, and
     * the same 2-gram in two places gets the same id */
    tcd_ngram_ids(&o, tk.hash, tk.n_words, 500, ids2);
    EXPECT(memcmp(ids, ids2, sizeof(int32_t) * (size_t)m) == 0);
    /* swapped order gives different ids (with many buckets) */
    o.buckets = 1 << 30;
    uint64_t ab[2] = {tcd_word_hash("good", 4), tcd_word_hash("not", 3)};
    uint64_t ba[2] = {ab[1], ab[0]};
    int32_t x, y;
    tcd_ngram_ids(&o, ab, 2, 0, &x);
    tcd_ngram_ids(&o, ba, 2, 0, &y);
    EXPECT(x != y);
    uint64_t aa[4] = {ab[0], ab[1], ab[0], ab[1]};
    int32_t z[5];
    tcd_ngram_ids(&o, aa, 4, 7, z);
    EXPECT(z[0] == z[2] && z[0] != z[1] && z[0] == x + 7);
    /* FNV-1a 64 test vectors */
    EXPECT(tcd_word_hash("", 0) == 14695981039346656037ULL);
    EXPECT(tcd_word_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    EXPECT(tcd_word_hash("foobar", 6) == 0x85944171f73967e8ULL);
}

/* ---- slow reference implementation of the rule, for random comparisons ---- */

/* Is s[0..k) a valid complete UTF-8 sequence? Decoded naively, then range-checked. */
static int ref_valid(const unsigned char *s, size_t k, uint32_t *cp) {
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t v;
    if (k == 1) return s[0] < 0x80 ? (*cp = s[0], 1) : 0;
    if (k == 2 && (s[0] & 0xE0) == 0xC0) v = s[0] & 0x1F;
    else if (k == 3 && (s[0] & 0xF0) == 0xE0) v = s[0] & 0x0F;
    else if (k == 4 && (s[0] & 0xF8) == 0xF0) v = s[0] & 0x07;
    else return 0;
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[j] & 0x3F);
    }
    if (v < min_cp[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return 1;
}

/* Is s[0..k) the beginning of some valid sequence? Tries completing it with 0x80 and 0xBF. */
static int ref_prefix(const unsigned char *s, size_t k) {
    uint32_t cp;
    for (size_t total = k + 1; total <= 4; total++)
        for (int fill = 0; fill < 2; fill++) {
            unsigned char t[4];
            memcpy(t, s, k);
            for (size_t j = k; j < total; j++) t[j] = fill ? 0xBF : 0x80;
            if (ref_valid(t, total, &cp)) return 1;
        }
    return 0;
}

static int ref_is_sep(uint32_t c) {
    return c <= 0x20 || c == 0x7F || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static int ref_is_punct(uint32_t c) {
    if (c < 0x80) return strchr("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~", (int)c) != NULL && c != 0;
    return c == 0xA1 || c == 0xAB || c == 0xBB || c == 0xBF || (c >= 0x2010 && c <= 0x2015) || c == 0x2018 ||
           c == 0x201C || c == 0x201D || c == 0x2026 || c == 0x3001 || c == 0x3002;
}

static uint32_t ref_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    return c;
}

static size_t ref_encode(uint32_t c, char *d) {
    if (c < 0x80) return d[0] = (char)c, 1;
    if (c < 0x800) return d[0] = (char)(0xC0 | (c >> 6)), d[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000)
        return d[0] = (char)(0xE0 | (c >> 12)), d[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
               d[2] = (char)(0x80 | (c & 0x3F)), 3;
    d[0] = (char)(0xF0 | (c >> 18));
    d[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    d[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Reference tokens joined by '\x01' (not a byte that can be in a token); returns -1 on error. */
static int ref_tokenize(const tcd_tok_opts *o, const unsigned char *s, size_t n, char *outbuf, int64_t *n_tok,
                        int64_t *n_trunc) {
    size_t p = 0;
    char word[300];
    size_t wl = 0;
    int in_word = 0, cut = 0;
    int64_t nt = 0, ntr = 0;
#define REF_PUSH(buf, len)                                  \
    do {                                                    \
        if (o->max_len > 0 && nt >= o->max_len) {          \
            ntr++;                                          \
        } else {                                            \
            if (nt) outbuf[p++] = '\x01';                   \
            memcpy(outbuf + p, buf, len);                   \
            p += len;                                       \
            nt++;                                           \
        }                                                   \
    } while (0)
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t L = 0;
        for (size_t k = 1; k <= 4 && i + k <= n; k++)
            if (ref_valid(s + i, k, &cp)) {
                L = k;
                break;
            }
        if (!L) {
            if (o->invalid_utf8 != TCD_UTF8_REPLACE) return -1;
            L = 1;
            while (L < 3 && i + L < n && ref_prefix(s + i, L + 1)) L++;
            cp = 0xFFFD;
        }
        i += L;
        if (ref_is_sep(cp) || ref_is_punct(cp)) {
            if (in_word) REF_PUSH(word, wl);
            in_word = 0;
            if (ref_is_punct(cp) && o->keep_punct) {
                char e[4];
                size_t el = ref_encode(cp, e);
                REF_PUSH(e, el);
            }
            continue;
        }
        if (!in_word) in_word = 1, wl = 0, cut = 0;
        char e[4];
        size_t el = ref_encode(o->lowercase ? ref_lower(cp) : cp, e);
        if (!cut && wl + el <= TCD_MAX_WORD_BYTES) {
            memcpy(word + wl, e, el);
            wl += el;
        } else {
            cut = 1;
        }
    }
    if (in_word) REF_PUSH(word, wl);
    outbuf[p] = 0;
    *n_tok = nt;
    *n_trunc = ntr;
    return 0;
#undef REF_PUSH
}

static uint64_t rng_state = 0x12345678abcdefULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_random_vs_reference(void) {
    static const char *pieces[] = {"a", "Z", "x", "'", " ", "\t", ",", ".", "\0", "\x7f", "É", "Ω", "Д", "Ѐ",
                                   "×", "日", "🙂", "\xe2\x80\x99", "\xe2\x80\x94", "\xc2\xa0", "\xe3\x80\x80",
                                   "\xef\xbb\xbf", "\xc2\xab", "\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x99",
                                   "\xc0", "\xed\xa0", "\xf4\x90", "\xf5", "\xff", "\xe0\x9f", "\xf0\x8f",
                                   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    static const size_t np = sizeof pieces / sizeof *pieces;
    unsigned char in[4096];
    static char refbuf[65536], fastbuf[65536];
    int n_cmp = 0, n_err = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        size_t n_pieces = (size_t)(rnd() % 60);
        for (size_t k = 0; k < n_pieces; k++) {
            const char *pc = pieces[rnd() % np];
            size_t l = pc[0] ? strlen(pc) : 1;
            if (n + l >= sizeof in) break;
            memcpy(in + n, pc, l);
            n += l;
        }
        tcd_tok_opts o;
        tcd_tok_opts_default(&o);
        o.lowercase = (int)(rnd() % 2);
        o.keep_punct = (int)(rnd() % 2);
        o.invalid_utf8 = (rnd() % 4) ? TCD_UTF8_REPLACE : TCD_UTF8_ERROR;
        o.max_len = (rnd() % 3 == 0) ? (int64_t)(rnd() % 10) : 0;
        int64_t rn = 0, rtr = 0;
        int rrc = ref_tokenize(&o, in, n, refbuf, &rn, &rtr);
        const char *err = NULL;
        int frc = tcd_tokenize(&o, (const char *)in, n, &tk, &err);
        if (rrc != frc) {
            fprintf(stderr, "random %d: reference rc %d, fast rc %d (%s)\n", iter, rrc, frc, err ? err : "");
            tcd_test_failures++;
            continue;
        }
        if (frc != 0) {
            n_err++;
            continue;
        }
        size_t p = 0;
        for (int64_t i = 0; i < tk.n_words; i++) {
            if (i) fastbuf[p++] = '\x01';
            memcpy(fastbuf + p, tk.bytes + tk.start[i], tk.len[i]);
            p += tk.len[i];
        }
        fastbuf[p] = 0;
        if (rn != tk.n_words || rtr != tk.n_truncated || strcmp(refbuf, fastbuf) != 0) {
            fprintf(stderr, "random %d: mismatch (ref %lld tokens, %lld truncated; fast %lld, %lld)\n", iter,
                    (long long)rn, (long long)rtr, (long long)tk.n_words, (long long)tk.n_truncated);
            tcd_test_failures++;
            if (tcd_test_failures > 5) return;
        }
        n_cmp++;
    }
    printf("reference comparison: %d documents equal, %d rejected by both\n", n_cmp, n_err);
    EXPECT(n_cmp > 10000 && n_err > 100);
}

/* English-like ASCII text: Zipf-ish words, punctuation, capitals, newlines. */
static void test_throughput(void) {
    const size_t n = 20u << 20;
    char *text = tcd_malloc(n);
    char words[2000][12];
    for (int w = 0; w < 2000; w++) {
        int l = 1 + (int)(rnd() % 9);
        for (int k = 0; k < l; k++) words[w][k] = (char)('a' + rnd() % 26);
        words[w][l] = 0;
    }
    size_t p = 0;
    while (p + 16 < n) {
        uint64_t r = rnd();
        int w = (int)((r % 2000) * ((r >> 20) % 2000) / 2000); /* skewed towards small ids */
        size_t l = strlen(words[w]);
        memcpy(text + p, words[w], l);
        if ((r >> 40) % 10 == 0) text[p] = (char)(text[p] - 32);
        p += l;
        int q = (int)((r >> 50) % 20);
        if (q == 0) text[p++] = ',';
        if (q == 1) text[p++] = '.';
        text[p++] = q == 2 ? '\n' : ' ';
    }
    size_t len = p;
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    /* as 2 KB documents (like reviews), reusing one tcd_tokens */
    int64_t total = 0;
    double t0 = tcd_now();
    size_t off = 0;
    while (off < len) {
        size_t e = off + 2048 < len ? off + 2048 : len;
        while (e < len && text[e] != ' ') e++;
        EXPECT(tcd_tokenize(&o, text + off, e - off, &tk, NULL) == 0);
        total += tk.n_words;
        off = e;
    }
    double t1 = tcd_now();
    printf("throughput: %.1f MB/s single-threaded (%.1f MB in 2 KB documents, %lld tokens)\n",
           (double)len / 1e6 / (t1 - t0), (double)len / 1e6, (long long)total);
    EXPECT(total > (int64_t)(len / 12));
    free(text);
}

int main(void) {
    test_ascii();
    test_unicode();
    test_invalid_utf8();
    test_cut();
    test_max_len();
    test_ngrams();
    test_random_vs_reference();
    test_throughput();
    tcd_tokens_free(&tk);
    if (tcd_test_failures) {
        fprintf(stderr, "test_tokenize: %d failure(s)\n", tcd_test_failures);
        return 1;
    }
    printf("test_tokenize: all passed\n");
    return 0;
}
