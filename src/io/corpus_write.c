/* Corpus file, write side; see corpus_write.h and the layout in corpus.h. */
#include "io/corpus_write.h"

#include "io/h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/corpus.h"
#include "base/util.h"

#define TOKEN_CHUNK ((int64_t)1 << 18) /* /tokens chunk, elements (1 MiB: HDF5's default chunk cache) */
#define DOC_CHUNK ((int64_t)1 << 16)   /* /offsets and /labels chunk, elements */

/* Hash the little-endian bytes of n values of `size` bytes each. */
static void sha_le(tcd_sha256 *s, const void *data, int64_t n, size_t size) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    tcd_sha256_update(s, data, (size_t)n * size);
#else
    const unsigned char *p = data;
    unsigned char tmp[8];
    for (int64_t i = 0; i < n; i++) {
        for (size_t b = 0; b < size; b++) tmp[b] = p[i * size + size - 1 - b];
        tcd_sha256_update(s, tmp, size);
    }
#endif
}

int tcd_cw_create(tcd_corpus_writer *w, const char *path, int final_ids) {
    memset(w, 0, sizeof *w);
    w->tokens.ds = w->offsets.ds = w->labels.ds = -1;
    w->final_ids = final_ids;
    tcd_sha256_init(&w->sha_tokens);
    tcd_sha256_init(&w->sha_offsets);
    tcd_sha256_init(&w->sha_labels);
    w->file = tcd_h5_create(path);
    if (w->file < 0) return -1;
    if (tcd_h5_appender_create(&w->tokens, w->file, "tokens", H5T_NATIVE_INT32, TOKEN_CHUNK) < 0 ||
        tcd_h5_appender_create(&w->offsets, w->file, "offsets", H5T_NATIVE_INT64, DOC_CHUNK) < 0 ||
        tcd_h5_appender_create(&w->labels, w->file, "labels", H5T_NATIVE_INT32, DOC_CHUNK) < 0) {
        tcd_cw_abort(w);
        return -1;
    }
    w->tok_cap = TOKEN_CHUNK;
    w->tok_buf = tcd_malloc((size_t)w->tok_cap * sizeof(int32_t));
    w->doc_cap = DOC_CHUNK;
    w->off_buf = tcd_malloc((size_t)(w->doc_cap + 1) * sizeof(int64_t)); /* + offsets[0] */
    w->lab_buf = tcd_malloc((size_t)w->doc_cap * sizeof(int32_t));
    /* offsets[0] = 0, appended with the first documents (one append: see tcd_h5_appender) */
    w->doc_n = 0;
    int64_t zero = 0;
    sha_le(&w->sha_offsets, &zero, 1, sizeof zero);
    return 0;
}

static int flush_tokens(tcd_corpus_writer *w) {
    if (w->final_ids) sha_le(&w->sha_tokens, w->tok_buf, w->tok_n, sizeof(int32_t));
    int rc = tcd_h5_append(&w->tokens, w->tok_buf, w->tok_n);
    w->tok_n = 0;
    return rc;
}

/* off_buf[1..doc_n] are the ends of the buffered documents; off_buf[0] is offsets[0] = 0, written
 * only with the first flush. */
static int flush_docs(tcd_corpus_writer *w) {
    sha_le(&w->sha_offsets, w->off_buf + 1, w->doc_n, sizeof(int64_t));
    if (w->final_ids) sha_le(&w->sha_labels, w->lab_buf, w->doc_n, sizeof(int32_t));
    const int first = w->offsets.n == 0;
    w->off_buf[0] = 0;
    int rc = tcd_h5_append(&w->offsets, w->off_buf + (first ? 0 : 1), w->doc_n + first);
    if (rc == 0) rc = tcd_h5_append(&w->labels, w->lab_buf, w->doc_n);
    w->doc_n = 0;
    return rc;
}

int tcd_cw_add(tcd_corpus_writer *w, const int32_t *ids, int64_t n, int32_t label) {
    return tcd_cw_add_multi(w, ids, n, &label, 1);
}

static void ml_push(tcd_corpus_writer *w, const int32_t *labels, int64_t n_labels) {
    if (w->n_docs + 2 > w->ml_off_cap) {
        w->ml_off_cap = w->ml_off_cap ? 2 * w->ml_off_cap : 65536;
        w->ml_off = tcd_realloc(w->ml_off, (size_t)w->ml_off_cap * sizeof(int64_t));
    }
    if (w->ml_n + n_labels > w->ml_cap) {
        w->ml_cap = w->ml_cap ? 2 * w->ml_cap : 65536;
        while (w->ml_cap < w->ml_n + n_labels) w->ml_cap *= 2;
        w->ml_ids = tcd_realloc(w->ml_ids, (size_t)w->ml_cap * sizeof(int32_t));
    }
    w->ml_off[w->n_docs] = w->ml_n;
    memcpy(w->ml_ids + w->ml_n, labels, (size_t)n_labels * sizeof(int32_t));
    w->ml_n += n_labels;
    w->ml_off[w->n_docs + 1] = w->ml_n;
    if (n_labels != 1) w->multi = 1;
}

int tcd_cw_add_multi(tcd_corpus_writer *w, const int32_t *ids, int64_t n, const int32_t *labels, int64_t n_labels) {
    TCD_CHECK(n_labels >= 1);
    ml_push(w, labels, n_labels);
    const int32_t label = labels[0];
    while (n > 0) {
        int64_t room = w->tok_cap - w->tok_n;
        int64_t k = n < room ? n : room;
        memcpy(w->tok_buf + w->tok_n, ids, (size_t)k * sizeof(int32_t));
        w->tok_n += k;
        ids += k;
        n -= k;
        w->n_tokens += k;
        if (w->tok_n == w->tok_cap && flush_tokens(w) < 0) return -1;
    }
    w->off_buf[w->doc_n + 1] = w->n_tokens;
    w->lab_buf[w->doc_n] = label;
    w->doc_n++;
    w->n_docs++;
    if (w->doc_n == w->doc_cap && flush_docs(w) < 0) return -1;
    return 0;
}

int tcd_cw_flush(tcd_corpus_writer *w) {
    if (w->tok_n > 0 && flush_tokens(w) < 0) return -1;
    if ((w->doc_n > 0 || w->offsets.n == 0) && flush_docs(w) < 0) return -1; /* offsets[0] at least */
    return 0;
}

int tcd_cw_remap(tcd_corpus_writer *w, const int32_t *word_remap, int64_t n_raw_words, int64_t vocab_size,
                 const int32_t *label_remap, int64_t n_raw_labels) {
    TCD_CHECK(!w->final_ids);
    if (tcd_cw_flush(w) < 0) return -1;
    int32_t *buf = w->tok_buf;
    for (int64_t start = 0; start < w->n_tokens; start += w->tok_cap) {
        int64_t n = w->n_tokens - start < w->tok_cap ? w->n_tokens - start : w->tok_cap;
        if (tcd_h5_appender_read_at(&w->tokens, start, buf, n) < 0) return -1;
        for (int64_t i = 0; i < n; i++) {
            int32_t x = buf[i];
            if (x >= 0) {
                TCD_CHECK(x < n_raw_words);
                buf[i] = word_remap[x];
            } else {
                buf[i] = (int32_t)(vocab_size + (-(int64_t)x - 1));
            }
        }
        sha_le(&w->sha_tokens, buf, n, sizeof(int32_t));
        if (tcd_h5_appender_write_at(&w->tokens, start, buf, n) < 0) return -1;
    }
    int32_t *lab = w->lab_buf;
    for (int64_t start = 0; start < w->n_docs; start += w->doc_cap) {
        int64_t n = w->n_docs - start < w->doc_cap ? w->n_docs - start : w->doc_cap;
        if (tcd_h5_appender_read_at(&w->labels, start, lab, n) < 0) return -1;
        if (label_remap)
            for (int64_t i = 0; i < n; i++) {
                TCD_CHECK(lab[i] >= 0 && lab[i] < n_raw_labels);
                lab[i] = label_remap[lab[i]];
            }
        sha_le(&w->sha_labels, lab, n, sizeof(int32_t));
        if (label_remap && tcd_h5_appender_write_at(&w->labels, start, lab, n) < 0) return -1;
    }
    if (label_remap)
        for (int64_t i = 0; i < w->ml_n; i++) {
            TCD_CHECK(w->ml_ids[i] >= 0 && w->ml_ids[i] < n_raw_labels);
            w->ml_ids[i] = label_remap[w->ml_ids[i]];
        }
    w->final_ids = 1; /* hashes now cover everything */
    return 0;
}

void tcd_corpus_settings_string(const tcd_tok_opts *o, char *out, size_t n) {
    snprintf(out, n, "tokenizer=%s;lowercase=%d;punct=%s;invalid_utf8=%s;ngrams=%d;buckets=%lld;max_len=%lld",
             TCD_TOKENIZER_NAME, o->lowercase ? 1 : 0, o->keep_punct ? "keep" : "drop",
             o->invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error", o->ngrams,
             (long long)(o->ngrams > 1 ? o->buckets : 0), (long long)o->max_len);
}

void tcd_corpus_vocab_sha256(const char *const *words, int64_t n, char hex[65]) {
    tcd_sha256 s;
    tcd_sha256_init(&s);
    for (int64_t i = 0; i < n; i++) tcd_sha256_field(&s, words[i], strlen(words[i]));
    tcd_sha256_hex(&s, hex);
}

void tcd_corpus_content_sha256(const tcd_tok_opts *tok, const char vocab_hex[65], const char *const *label_names,
                               int64_t n_classes, const char tok_hex[65], const char off_hex[65],
                               const char lab_hex[65], const char *ml_hex, char out[65]) {
    char settings[512];
    tcd_corpus_settings_string(tok, settings, sizeof settings);
    tcd_buf names = {0};
    for (int64_t i = 0; i < n_classes; i++) {
        if (i) tcd_buf_putc(&names, '\n');
        tcd_buf_append(&names, label_names[i], strlen(label_names[i]));
    }
    tcd_sha256 s;
    tcd_sha256_init(&s);
    const char *magic = "tcdist-corpus-v1";
    tcd_sha256_field(&s, magic, strlen(magic));
    tcd_sha256_field(&s, settings, strlen(settings));
    tcd_sha256_field(&s, vocab_hex, 64);
    tcd_sha256_field(&s, names.data ? names.data : "", names.len);
    tcd_sha256_field(&s, tok_hex, 64);
    tcd_sha256_field(&s, off_hex, 64);
    tcd_sha256_field(&s, lab_hex, 64);
    if (ml_hex) tcd_sha256_field(&s, ml_hex, 64);
    tcd_sha256_hex(&s, out);
    tcd_buf_free(&names);
}

void tcd_sha256_le(tcd_sha256 *s, const void *data, int64_t n, size_t size) { sha_le(s, data, n, size); }

int tcd_cw_finish(tcd_corpus_writer *w, const tcd_corpus_meta *m, char content_sha256[65],
                  char vocab_sha256[65]) {
    if (tcd_cw_flush(w) < 0) return -1;
    TCD_CHECK(w->final_ids);
    tcd_corpus_vocab_sha256(m->words, m->vocab_size, vocab_sha256);

    char tok_hex[65], off_hex[65], lab_hex[65], ml_hex[65];
    tcd_sha256_hex(&w->sha_tokens, tok_hex);
    tcd_sha256_hex(&w->sha_offsets, off_hex);
    tcd_sha256_hex(&w->sha_labels, lab_hex);
    if (w->multi) {
        /* each document's set sorted (ids are final now); /labels keeps the first label as read */
        for (int64_t d = 0; d < w->n_docs; d++) {
            int32_t *x = w->ml_ids + w->ml_off[d];
            const int64_t k = w->ml_off[d + 1] - w->ml_off[d];
            for (int64_t i = 1; i < k; i++)
                for (int64_t j = i; j > 0 && x[j - 1] > x[j]; j--) {
                    int32_t t = x[j];
                    x[j] = x[j - 1];
                    x[j - 1] = t;
                }
        }
        tcd_sha256 s;
        tcd_sha256_init(&s);
        sha_le(&s, w->ml_off, w->n_docs + 1, sizeof(int64_t));
        sha_le(&s, w->ml_ids, w->ml_n, sizeof(int32_t));
        tcd_sha256_hex(&s, ml_hex);
    }
    tcd_corpus_content_sha256(m->tok, vocab_sha256, m->label_names, m->n_classes, tok_hex, off_hex, lab_hex,
                              w->multi ? ml_hex : NULL, content_sha256);

    int rc = 0;
    int64_t vdims[1] = {m->vocab_size};
    rc |= tcd_h5_write_strtable(w->file, "vocab/words", m->words, m->vocab_size);
    rc |= tcd_h5_write(w->file, "vocab/counts", H5T_NATIVE_INT64, 1, vdims, m->counts);
    rc |= tcd_h5_write_strtable(w->file, "label_names", m->label_names, m->n_classes);
    if (w->multi) {
        int64_t odims[1] = {w->n_docs + 1}, idims[1] = {w->ml_n};
        rc |= tcd_h5_write(w->file, "label_sets/offsets", H5T_NATIVE_INT64, 1, odims, w->ml_off);
        rc |= tcd_h5_write(w->file, "label_sets/ids", H5T_NATIVE_INT32, 1, idims, w->ml_ids);
    }
    if (rc) return -1;

    hid_t f = w->file;
    int64_t n_buckets = m->tok->ngrams > 1 ? m->tok->buckets : 0;
    rc |= tcd_h5_attr_set_str(f, "format", TCD_CORPUS_FORMAT);
    rc |= tcd_h5_attr_set_i64(f, "version", TCD_CORPUS_VERSION);
    rc |= tcd_h5_attr_set_i64(f, "n_docs", w->n_docs);
    rc |= tcd_h5_attr_set_i64(f, "n_tokens", w->n_tokens);
    rc |= tcd_h5_attr_set_i64(f, "vocab_size", m->vocab_size);
    rc |= tcd_tok_opts_write_attrs(f, m->tok);
    rc |= tcd_h5_attr_set_i64(f, "n_buckets", n_buckets);
    rc |= tcd_h5_attr_set_i64(f, "n_embeddings", m->vocab_size + n_buckets);
    rc |= tcd_h5_attr_set_i64(f, "n_classes", m->n_classes);
    rc |= tcd_h5_attr_set_i64(f, "min_count", m->min_count);
    rc |= tcd_h5_attr_set_i64(f, "max_vocab", m->max_vocab);
    rc |= tcd_h5_attr_set_str(f, "input_format", m->input_format);
    rc |= tcd_h5_attr_set_str(f, "sources", m->sources);
    rc |= tcd_h5_attr_set_i64(f, "n_skipped", m->n_skipped);
    if (w->multi) rc |= tcd_h5_attr_set_i64(f, "multi_label", 1);
    rc |= tcd_h5_attr_set_str(f, "vocab_sha256", vocab_sha256);
    rc |= tcd_h5_attr_set_str(f, "content_sha256", content_sha256);
    rc |= tcd_h5_attr_set_str(f, "created_by", "tcdist " TCDIST_VERSION);
    if (rc) return -1;

    rc |= tcd_h5_appender_close(&w->tokens);
    rc |= tcd_h5_appender_close(&w->offsets);
    rc |= tcd_h5_appender_close(&w->labels);
    rc |= tcd_h5_close(w->file);
    w->file = -1;
    free(w->tok_buf);
    free(w->off_buf);
    free(w->lab_buf);
    free(w->ml_off);
    free(w->ml_ids);
    w->ml_off = NULL;
    w->ml_ids = NULL;
    w->tok_buf = NULL;
    w->off_buf = NULL;
    w->lab_buf = NULL;
    return rc ? -1 : 0;
}

void tcd_cw_abort(tcd_corpus_writer *w) {
    tcd_h5_appender_close(&w->tokens);
    tcd_h5_appender_close(&w->offsets);
    tcd_h5_appender_close(&w->labels);
    if (w->file >= 0) H5Fclose(w->file);
    w->file = -1;
    free(w->tok_buf);
    free(w->off_buf);
    free(w->lab_buf);
    free(w->ml_off);
    free(w->ml_ids);
    w->ml_off = NULL;
    w->ml_ids = NULL;
    w->tok_buf = NULL;
    w->off_buf = NULL;
    w->lab_buf = NULL;
}
