/* UTF-8 decoding and the tokenizer: the first two bytes pick the options, the rest is the text.
 * Checks what the tokenizer promises: words within the byte buffer, at most TCD_MAX_WORD_BYTES
 * bytes, valid UTF-8, hashes that match the bytes, n-gram ids within their buckets. */
#include "fuzz_common.h"
#include "text/tokenize.h"

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return 0;
        unsigned cp = len == 1 ? c : len == 2 ? (c & 31) : len == 3 ? (c & 15) : (c & 7);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 63);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    tcd_tok_opts o;
    tcd_tok_opts_default(&o);
    o.lowercase = data[0] & 1;
    o.keep_punct = (data[0] >> 1) & 1;
    o.invalid_utf8 = (data[0] >> 2) & 1 ? TCD_UTF8_REPLACE : TCD_UTF8_ERROR;
    o.ngrams = 1 + ((data[0] >> 3) & 3);
    o.buckets = o.ngrams > 1 ? 1 + data[1] * 97 : 0;
    o.max_len = (data[0] >> 5) & 1 ? data[1] % 9 : 0;
    size_t n = size - 2;
    char *text = malloc(n ? n : 1);
    memcpy(text, data + 2, n);
    tcd_tokens t = {0};
    const char *err = NULL;
    if (tcd_tokenize(&o, text, n, &t, &err) == 0) {
        if (o.max_len > 0 && t.n_words > o.max_len) abort();
        for (int64_t i = 0; i < t.n_words; i++) {
            if ((size_t)t.start[i] + t.len[i] > t.n_bytes || t.len[i] == 0 || t.len[i] > TCD_MAX_WORD_BYTES) abort();
            const unsigned char *w = (const unsigned char *)t.bytes + t.start[i];
            if (!valid_utf8(w, t.len[i])) abort();
            if (t.hash[i] != tcd_word_hash((const char *)w, t.len[i])) abort();
        }
        int64_t ng = tcd_n_ngram_ids(&o, t.n_words);
        if (ng > 0) {
            int32_t *ids = malloc(sizeof(int32_t) * (size_t)ng);
            tcd_ngram_ids(&o, t.hash, t.n_words, 100, ids);
            for (int64_t i = 0; i < ng; i++)
                if (ids[i] < 100 || ids[i] >= 100 + o.buckets) abort();
            free(ids);
        }
    } else if (!err || !err[0]) {
        abort();
    }
    tcd_tokens_free(&t);
    free(text);
    return 0;
}
