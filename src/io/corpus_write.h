/* The write side of the corpus file (layout in corpus.h), used by `tcdist prepare`.
 *
 * Documents are appended in order through buffered HDF5 appenders. A training corpus is written
 * with provisional ids (words by first appearance, n-grams as -(bucket + 1), labels by first
 * appearance) and rewritten in place by tcd_cw_remap once the vocabulary is final; a corpus made
 * with a fixed vocabulary is written with final ids. The content hash streams over the final
 * bytes either way. HDF5 is used from the calling thread only. */
#ifndef TCD_CORPUS_WRITE_H
#define TCD_CORPUS_WRITE_H

#include <stdint.h>

#include "io/h5util.h"
#include "base/sha256.h"
#include "text/tokenize.h"

typedef struct {
    int64_t file; /* hid_t */
    tcd_h5_appender tokens, offsets, labels;
    int32_t *tok_buf;
    int64_t tok_n, tok_cap;
    int64_t *off_buf;
    int32_t *lab_buf;
    int64_t doc_n, doc_cap; /* buffered documents (off_buf and lab_buf) */
    int64_t n_docs, n_tokens;
    int final_ids; /* ids are final when appended: hash tokens and labels on the fly */
    /* every document's label set, kept in memory (12 bytes a document); written as /label_sets
     * only when some document has more than one label (multi) */
    int64_t *ml_off, ml_off_cap;
    int32_t *ml_ids;
    int64_t ml_n, ml_cap;
    int multi;
    tcd_sha256 sha_tokens, sha_offsets, sha_labels;
} tcd_corpus_writer;

/* Creates (truncates) the file at path. Returns 0, or -1 (message via tcd_h5_errmsg()). */
int tcd_cw_create(tcd_corpus_writer *w, const char *path, int final_ids);
/* Appends one document: n ids and its label. Returns 0 or -1. */
int tcd_cw_add(tcd_corpus_writer *w, const int32_t *ids, int64_t n, int32_t label);
/* The same with a label set: labels[0 .. n_labels) distinct, n_labels >= 1; /labels gets labels[0]. */
int tcd_cw_add_multi(tcd_corpus_writer *w, const int32_t *ids, int64_t n, const int32_t *labels, int64_t n_labels);
int tcd_cw_flush(tcd_corpus_writer *w);
/* Training corpus: rewrites /tokens and /labels in place, in blocks. A word id x >= 0 becomes
 * word_remap[x] (x < n_raw_words), an n-gram -(b + 1) becomes vocab_size + b, a label y becomes
 * label_remap[y] (label_remap NULL: unchanged). Returns 0 or -1. */
int tcd_cw_remap(tcd_corpus_writer *w, const int32_t *word_remap, int64_t n_raw_words, int64_t vocab_size,
                 const int32_t *label_remap, int64_t n_raw_labels);

/* Everything stored besides the documents. */
typedef struct {
    const tcd_tok_opts *tok;       /* buckets must be 0 when ngrams == 1 */
    const char *const *words;      /* [vocab_size], id order, NUL-terminated */
    const int64_t *counts;         /* [vocab_size] */
    int64_t vocab_size;
    const char *const *label_names; /* [n_classes] */
    int64_t n_classes;
    int64_t min_count, max_vocab, n_skipped;
    const char *input_format, *sources;
} tcd_corpus_meta;

/* Writes /vocab, /label_names and the root attributes (with both hashes, also returned as hex),
 * then closes the file. Returns 0 or -1. */
int tcd_cw_finish(tcd_corpus_writer *w, const tcd_corpus_meta *m, char content_sha256[65],
                  char vocab_sha256[65]);
/* Closes the file without finishing it (the caller removes it). */
void tcd_cw_abort(tcd_corpus_writer *w);

/* The canonical tokenizer settings string hashed into content_sha256:
 * "tokenizer=tcdist-v1;lowercase=%d;punct=%s;invalid_utf8=%s;ngrams=%d;buckets=%lld;max_len=%lld". */
void tcd_corpus_settings_string(const tcd_tok_opts *o, char *out, size_t n);
/* content_sha256: over the magic "tcdist-corpus-v1", the settings string, the vocabulary's sha256,
 * the label names joined by '\n', and the sha256s of the little-endian bytes of /tokens, /offsets
 * and /labels, each a length-prefixed field; a multi-label corpus adds one more field, ml_hex (the
 * sha256 of /label_sets/offsets then /label_sets/ids); NULL for a single-label corpus. */
void tcd_corpus_content_sha256(const tcd_tok_opts *tok, const char vocab_hex[65], const char *const *label_names,
                               int64_t n_classes, const char tok_hex[65], const char off_hex[65],
                               const char lab_hex[65], const char *ml_hex, char out[65]);
/* Adds the little-endian bytes of n values of `size` bytes each to s. */
void tcd_sha256_le(tcd_sha256 *s, const void *data, int64_t n, size_t size);
/* sha256 over the words in id order, each a length-prefixed field. */
void tcd_corpus_vocab_sha256(const char *const *words, int64_t n, char hex[65]);

#endif
