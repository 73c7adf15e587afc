/* Raw text -> word tokens -> ids. The exact rule is documented in docs/formats.md ("Tokenizer tcdist-v1").
 * Thread-safe: all state is in the caller's tcd_tokens. */
#ifndef TCD_TOKENIZE_H
#define TCD_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#define TCD_TOKENIZER_NAME "tcdist-v1" /* bump when the rule changes: stored in every file */
#define TCD_PAD_ID 0
#define TCD_UNK_ID 1
#define TCD_MAX_WORD_BYTES 256 /* longer words are cut at a UTF-8 boundary */

typedef enum { TCD_UTF8_ERROR = 0, TCD_UTF8_REPLACE = 1 } tcd_utf8_policy;

typedef struct {
    int lowercase;      /* 1 (default): lowercase ASCII, Latin-1, Greek and Cyrillic letters */
    int keep_punct;     /* 1 (default): each punctuation character is a token; 0: dropped */
    int invalid_utf8;   /* tcd_utf8_policy */
    int ngrams;         /* 1: words only; N >= 2: also hashed 2..N-grams of consecutive words */
    int64_t buckets;    /* hash buckets for n-grams (> 0 when ngrams >= 2) */
    int64_t max_len;    /* keep at most this many words of a document; 0: no limit */
} tcd_tok_opts;

void tcd_tok_opts_default(tcd_tok_opts *o);

/* Words of one document. bytes holds the normalized words back to back (not NUL-separated);
 * word i is bytes[start[i] .. start[i]+len[i]) and has hash[i] = tcd_word_hash(word). */
typedef struct {
    char *bytes;
    size_t n_bytes, cap_bytes;
    uint32_t *start, *len;
    uint64_t *hash;
    int64_t n_words, cap_words;
    int64_t n_truncated; /* words dropped by max_len in the last call */
} tcd_tokens;

void tcd_tokens_free(tcd_tokens *t);

/* Tokenizes text[0..n). Returns 0, or -1 for invalid UTF-8 under TCD_UTF8_ERROR (or a document
 * over 1 GiB), with *err set to a reason in a thread-local buffer, valid until the thread's next
 * call, e.g. "invalid UTF-8 (byte 0xC3, truncated sequence) at byte 17 of the text" (0-based
 * offset of the first byte of the invalid sequence). On -1, out holds no tokens. */
int tcd_tokenize(const tcd_tok_opts *o, const char *text, size_t n, tcd_tokens *out, const char **err);

/* 64-bit hash of a word's bytes (FNV-1a 64). Used by the vocabulary and for n-grams. */
uint64_t tcd_word_hash(const char *s, size_t n);

/* Number of n-gram ids a document of n_words words gets: sum over k=2..ngrams of max(0, n_words-k+1). */
int64_t tcd_n_ngram_ids(const tcd_tok_opts *o, int64_t n_words);
/* Writes those ids: for k = 2..ngrams, for each window of k consecutive words (in order),
 * id = base + (combined hash of the k word hashes) % buckets. base = the vocabulary size.
 * Combined hash of window i..i+k-1: h = hash[i]; h = h * 116049371 + hash[i+j] for j = 1..k-1
 * (mod 2^64); h ^= h >> 31. All 2-grams come first, then all 3-grams, and so on.
 * base + buckets - 1 must fit in int32_t (checked). */
void tcd_ngram_ids(const tcd_tok_opts *o, const uint64_t *word_hash, int64_t n_words, int64_t base,
                   int32_t *out);

#endif
