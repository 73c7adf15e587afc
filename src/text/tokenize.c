/* Raw text -> normalized word tokens (rule "tcdist-v1", documented in docs/formats.md, "Tokenizer tcdist-v1").
 *
 * Summary of the rule:
 *  - Strict UTF-8 decoding (no overlongs, no surrogates, nothing above U+10FFFF, no truncated
 *    sequences). Under TCD_UTF8_REPLACE each maximal invalid subpart (Unicode 15, section 3.9)
 *    becomes U+FFFD, a word character; under TCD_UTF8_ERROR the call fails.
 *  - Separators (dropped): U+0000-U+0020, U+007F, U+0085, U+00A0, U+1680, U+2000-U+200B, U+2028,
 *    U+2029, U+202F, U+205F, U+3000, U+FEFF.
 *  - Punctuation (a one-character token when keep_punct, else dropped; ends a word either way):
 *    ASCII !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ (not the apostrophe), U+00A1, U+00AB, U+00BB, U+00BF,
 *    U+2010-U+2015, U+2018, U+201C, U+201D, U+2026, U+3001, U+3002.
 *  - Everything else is a word character (apostrophes ' and U+2019 included).
 *  - Lowercasing: A-Z, U+00C0-U+00DE but U+00D7, Greek U+0391-U+03A9 but U+03A2 (+0x20),
 *    Cyrillic U+0410-U+042F (+0x20) and U+0400-U+040F (+0x50). Lengths in UTF-8 never change.
 *  - A word is cut to the longest prefix of whole code points of at most TCD_MAX_WORD_BYTES
 *    bytes; the rest of that run of word characters is dropped.
 *  - max_len > 0 keeps the first max_len tokens (punctuation tokens included).
 *
 * Speed: ASCII bytes go through a class table and a tight copy loop; only bytes >= 0x80 are
 * decoded. Output buffers belong to the caller and only ever grow. */
#include "text/tokenize.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

enum { C_WORD = 0, C_SEP = 1, C_PUNCT = 2 };

/* Class of each ASCII byte: 's' separator, 'p' punctuation, 'w' word character. */
static const char ascii_class[129] =
    "sssssssssssssssssssssssssssssssss" /* 0x00-0x20: controls and space */
    "pppppp"                            /* ! " # $ % & */
    "w"                                 /* ' */
    "pppppppp"                          /* ( ) * + , - . / */
    "wwwwwwwwww"                        /* 0-9 */
    "ppppppp"                           /* : ; < = > ? @ */
    "wwwwwwwwwwwwwwwwwwwwwwwwww"        /* A-Z */
    "pppppp"                            /* [ \ ] ^ _ ` */
    "wwwwwwwwwwwwwwwwwwwwwwwwww"        /* a-z */
    "pppp"                              /* { | } ~ */
    "s";                                /* 0x7F */

void tcd_tok_opts_default(tcd_tok_opts *o) {
    o->lowercase = 1;
    o->keep_punct = 1;
    o->invalid_utf8 = TCD_UTF8_ERROR;
    o->ngrams = 1;
    o->buckets = 2000000;
    o->max_len = 0;
}

void tcd_tokens_free(tcd_tokens *t) {
    free(t->bytes);
    free(t->start);
    free(t->len);
    free(t->hash);
    memset(t, 0, sizeof *t);
}

uint64_t tcd_word_hash(const char *s, size_t n) {
    uint64_t h = 14695981039346656037ULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Class of a non-ASCII code point (see the list at the top of this file). */
static int cp_class(uint32_t c) {
    if (c < 0x2000) {
        if (c == 0x85 || c == 0xA0 || c == 0x1680) return C_SEP;
        if (c == 0xA1 || c == 0xAB || c == 0xBB || c == 0xBF) return C_PUNCT;
        return C_WORD;
    }
    if (c <= 0x205F) {
        if (c <= 0x200B || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F) return C_SEP;
        if ((c >= 0x2010 && c <= 0x2015) || c == 0x2018 || c == 0x201C || c == 0x201D || c == 0x2026)
            return C_PUNCT;
        return C_WORD;
    }
    if (c == 0x3000 || c == 0xFEFF) return C_SEP;
    if (c == 0x3001 || c == 0x3002) return C_PUNCT;
    return C_WORD;
}

/* Lowercase mapping of a non-ASCII code point (only the ranges of the rule change). */
static uint32_t cp_lower(uint32_t c) {
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    return c;
}

/* Writes code point c (a valid scalar value, >= 0x80) as UTF-8; returns the number of bytes. */
static size_t utf8_put(unsigned char *d, uint32_t c) {
    if (c < 0x800) {
        d[0] = (unsigned char)(0xC0 | (c >> 6));
        d[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (c >> 12));
        d[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (c >> 18));
    d[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* Decodes the sequence that starts at s[0] (>= 0x80), with n >= 1 bytes available. Returns the
 * number of bytes consumed. On success *cp is the code point; on failure *cp = UINT32_MAX, the
 * return value is the length of the maximal invalid subpart (>= 1) and *why says what is wrong. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, const char **why) {
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
    const char *range_why = NULL;  /* why a first continuation byte outside [lo, hi] is wrong */
    uint32_t v;
    *cp = UINT32_MAX;
    if (c < 0xC0) {
        *why = "unexpected continuation byte";
        return 1;
    } else if (c < 0xC2) {
        *why = "overlong encoding";
        return 1;
    } else if (c < 0xE0) {
        need = 1;
        v = c & 0x1F;
    } else if (c < 0xF0) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0, range_why = "overlong encoding";
        if (c == 0xED) hi = 0x9F, range_why = "UTF-16 surrogate";
    } else if (c < 0xF5) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90, range_why = "overlong encoding";
        if (c == 0xF4) hi = 0x8F, range_why = "code point above U+10FFFF";
    } else {
        *why = "byte never valid in UTF-8";
        return 1;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n) {
            *why = "truncated sequence at end of text";
            return k;
        }
        unsigned b = s[k];
        if (k == 1 && (b < lo || b > hi)) {
            *why = (range_why && b >= 0x80 && b <= 0xBF) ? range_why : "truncated sequence";
            return 1;
        }
        if (k > 1 && (b < 0x80 || b > 0xBF)) {
            *why = "truncated sequence";
            return k;
        }
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return need + 1;
}

static _Thread_local char tok_err[160];

/* Grows the byte buffer to hold at least `need` bytes (geometric growth). */
static void reserve_bytes(tcd_tokens *t, size_t need) {
    if (need <= t->cap_bytes) return;
    size_t cap = t->cap_bytes ? t->cap_bytes : 1024;
    while (cap < need) cap *= 2;
    t->bytes = tcd_realloc(t->bytes, cap);
    t->cap_bytes = cap;
}

static void grow_words(tcd_tokens *t) {
    int64_t cap = t->cap_words ? t->cap_words * 2 : 256;
    t->start = tcd_realloc(t->start, (size_t)cap * sizeof *t->start);
    t->len = tcd_realloc(t->len, (size_t)cap * sizeof *t->len);
    t->hash = tcd_realloc(t->hash, (size_t)cap * sizeof *t->hash);
    t->cap_words = cap;
}

/* Records the token bytes[start .. pos) unless max_len is reached; returns the new write
 * position (start again when the token was dropped). */
static size_t emit(tcd_tokens *t, int64_t max_len, size_t start, size_t pos) {
    if (max_len > 0 && t->n_words >= max_len) {
        t->n_truncated++;
        return start;
    }
    if (t->n_words == t->cap_words) grow_words(t);
    int64_t i = t->n_words++;
    t->start[i] = (uint32_t)start;
    t->len[i] = (uint32_t)(pos - start);
    t->hash[i] = tcd_word_hash(t->bytes + start, pos - start);
    return pos;
}

/* ---- tcd_tokenize's steps: static inline, so that the loop compiles as one function ---- */

/* Where the tokenizer writes: the state of one tcd_tokenize call, kept in registers. */
typedef struct {
    size_t pos;    /* next free byte of out->bytes */
    size_t wstart; /* first byte of the open word in out->bytes */
    int in_word;   /* a word is open (a run of word characters) */
    int cut;       /* the open word reached TCD_MAX_WORD_BYTES: the rest of its run is dropped */
} tok_state;

/* One decoded non-ASCII character, normalized. */
typedef struct {
    unsigned char enc[4]; /* its UTF-8 bytes after lowercasing or U+FFFD replacement */
    size_t len;
    int cls; /* C_WORD, C_SEP or C_PUNCT */
} tok_char;

/* Empties out and returns -1: a failed call leaves no tokens. */
static int tok_fail(tcd_tokens *out, const char **err) {
    if (err) *err = tok_err;
    out->n_bytes = 0;
    out->n_words = 0;
    out->n_truncated = 0;
    return -1;
}

static inline void word_open(tok_state *st) {
    if (!st->in_word) {
        st->in_word = 1;
        st->cut = 0;
        st->wstart = st->pos;
    }
}

/* Closes the open word, if any, as a token. */
static inline void word_close(tcd_tokens *out, int64_t max_len, tok_state *st) {
    if (st->in_word) {
        st->pos = emit(out, max_len, st->wstart, st->pos);
        st->in_word = 0;
    }
}

/* Appends the run of ASCII word bytes that starts at s[i] to the open word (lowercased when
 * lower), dropping the bytes past TCD_MAX_WORD_BYTES; returns the index just past the run. The
 * two copies of the loop keep the lowercase test out of it. */
static inline size_t ascii_word_run(const unsigned char *s, size_t i, size_t n, int lower, tcd_tokens *out,
                                    tok_state *st) {
    unsigned char *d = (unsigned char *)out->bytes + st->pos;
    size_t room = st->cut ? 0 : TCD_MAX_WORD_BYTES - (st->pos - st->wstart);
    size_t j = i;
    if (lower) {
        while (j < n) {
            unsigned b = s[j];
            if (b >= 0x80 || ascii_class[b] != 'w') break;
            if (room) {
                *d++ = (unsigned char)(b + (((unsigned)(b - 'A') < 26u) << 5));
                room--;
            }
            j++;
        }
    } else {
        while (j < n) {
            unsigned b = s[j];
            if (b >= 0x80 || ascii_class[b] != 'w') break;
            if (room) {
                *d++ = (unsigned char)b;
                room--;
            }
            j++;
        }
    }
    st->pos = (size_t)(d - (unsigned char *)out->bytes);
    return j;
}

/* Decodes the sequence at s[i] (>= 0x80) into ch: classified, lowercased when lower and a word
 * character, U+FFFD when invalid and replace (reserving room for the growth). Returns the number of
 * input bytes consumed, or 0 for invalid UTF-8 without replace (the reason is in tok_err). */
static inline size_t decode_char(const unsigned char *s, size_t i, size_t n, int lower, int replace,
                                 tcd_tokens *out, size_t pos, tok_char *ch) {
    uint32_t cp;
    const char *why = NULL;
    size_t L = utf8_decode(s + i, n - i, &cp, &why);
    if (cp == UINT32_MAX) {
        if (!replace) {
            snprintf(tok_err, sizeof tok_err, "invalid UTF-8 (byte 0x%02X, %s) at byte %zu of the text", s[i],
                     why, i);
            return 0;
        }
        ch->len = utf8_put(ch->enc, 0xFFFD);
        ch->cls = C_WORD;
        reserve_bytes(out, pos + ch->len + (n - i - L) + 8);
        return L;
    }
    ch->cls = cp_class(cp);
    uint32_t lc = lower && ch->cls == C_WORD ? cp_lower(cp) : cp;
    if (lc != cp) {
        ch->len = utf8_put(ch->enc, lc);
    } else {
        memcpy(ch->enc, s + i, L);
        ch->len = L;
    }
    return L;
}

/* Adds a decoded character: to the open word (unless it is cut), or as a punctuation token. */
static inline void put_char(tcd_tokens *out, int64_t max_len, int keep_punct, tok_state *st, const tok_char *ch) {
    if (ch->cls == C_WORD) {
        word_open(st);
        if (!st->cut) {
            if (st->pos - st->wstart + ch->len <= TCD_MAX_WORD_BYTES) {
                memcpy(out->bytes + st->pos, ch->enc, ch->len);
                st->pos += ch->len;
            } else {
                st->cut = 1;
            }
        }
        return;
    }
    word_close(out, max_len, st);
    if (ch->cls == C_PUNCT && keep_punct) {
        memcpy(out->bytes + st->pos, ch->enc, ch->len);
        st->pos = emit(out, max_len, st->pos, st->pos + ch->len);
    }
}

int tcd_tokenize(const tcd_tok_opts *o, const char *text, size_t n, tcd_tokens *out, const char **err) {
    const unsigned char *s = (const unsigned char *)text;
    /* copied once: stores through out->bytes may alias *o, so the loop must not read it */
    const int lower = o->lowercase, keep_punct = o->keep_punct;
    const int replace = o->invalid_utf8 == TCD_UTF8_REPLACE;
    const int64_t max_len = o->max_len;
    out->n_bytes = 0;
    out->n_words = 0;
    out->n_truncated = 0;
    if (n > ((size_t)1 << 30)) {
        /* starts are 32-bit and U+FFFD replacement can triple the size: 1 GiB keeps them exact */
        snprintf(tok_err, sizeof tok_err, "document of %zu bytes is larger than the 1 GiB limit", n);
        return tok_fail(out, err);
    }
    /* Invariant: cap_bytes - pos >= n - i (output never outgrows the input consumed, except for
     * U+FFFD replacements, which reserve more where they happen). */
    reserve_bytes(out, n + 8);

    tok_state st = {0, 0, 0, 0};
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            char k = ascii_class[c];
            if (k == 'w') {
                word_open(&st);
                i = ascii_word_run(s, i, n, lower, out, &st);
                continue;
            }
            word_close(out, max_len, &st);
            if (k == 'p' && keep_punct) {
                out->bytes[st.pos] = (char)c;
                st.pos = emit(out, max_len, st.pos, st.pos + 1);
            }
            i++;
            continue;
        }
        tok_char ch;
        size_t L = decode_char(s, i, n, lower, replace, out, st.pos, &ch);
        if (L == 0) return tok_fail(out, err);
        i += L;
        put_char(out, max_len, keep_punct, &st, &ch);
    }
    word_close(out, max_len, &st);
    out->n_bytes = st.pos;
    return 0;
}

int64_t tcd_n_ngram_ids(const tcd_tok_opts *o, int64_t n_words) {
    int64_t total = 0;
    for (int k = 2; k <= o->ngrams; k++)
        if (n_words - k + 1 > 0) total += n_words - k + 1;
    return total;
}

/* n-gram ids. For k = 2..ngrams (all 2-grams first, then all 3-grams, ...), for each window
 * i..i+k-1 of consecutive tokens:
 *     h = word_hash[i];  for j = 1..k-1: h = h * 116049371 + word_hash[i+j]   (mod 2^64)
 *     h ^= h >> 31;      id = base + (int32_t)(h % buckets)
 * The multiply-add is order dependent, so "a b" and "b a" get different ids. */
void tcd_ngram_ids(const tcd_tok_opts *o, const uint64_t *word_hash, int64_t n_words, int64_t base,
                   int32_t *out) {
    if (o->ngrams < 2) return;
    TCD_CHECK(o->buckets > 0 && base >= 0 && base + o->buckets - 1 <= INT32_MAX);
    const uint64_t buckets = (uint64_t)o->buckets;
    int64_t w = 0;
    for (int k = 2; k <= o->ngrams; k++) {
        for (int64_t i = 0; i + k <= n_words; i++) {
            uint64_t h = word_hash[i];
            for (int j = 1; j < k; j++) h = h * 116049371ULL + word_hash[i + j];
            h ^= h >> 31;
            out[w++] = (int32_t)(base + (int64_t)(h % buckets));
        }
    }
}
