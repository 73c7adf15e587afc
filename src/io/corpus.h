/* The tokenized corpus file (HDF5): the only module that reads and writes corpus files.
 *
 * Layout (documented for h5py/h5dump users in docs/formats.md, "Corpus file"), version 2: the HDF5
 * 1.10 file format (checksummed metadata), every dataset chunked with a Fletcher32 checksum:
 *   /tokens        int32 [n_tokens]     chunks of 256Ki elements; ids of all documents, back to back
 *   /offsets       int64 [n_docs + 1]   chunks of 64Ki; document i is tokens[offsets[i]:offsets[i+1]]
 *   /labels        int32 [n_docs]       chunks of 64Ki; 0 .. n_classes-1
 *   /vocab/words   string table [vocab_size] (io/h5.h: words/bytes + words/offsets); id -> word;
 *                  0 "<pad>", 1 "<unk>"
 *   /vocab/counts  int64 [vocab_size]   occurrences in the training input
 *   /label_names   string table [n_classes]  id -> label as written in the input
 *   root attributes (fixed-length strings): format "tcdist-corpus", version, n_docs, n_tokens, vocab_size, n_buckets,
 *     n_embeddings (vocab_size + n_buckets: rows of an embedding table), n_classes,
 *     tokenizer "tcdist-v1", lowercase, punct ("keep"|"drop"), invalid_utf8 ("error"|"replace"),
 *     ngrams, max_len, min_count, max_vocab, input_format, sources, n_skipped,
 *     vocab_sha256, content_sha256, created_by.
 * A multi-label corpus (some document with more than one label) adds, with no version bump (older
 * readers ignore them; single-label corpora are written exactly as before):
 *   /label_sets/offsets int64 [n_docs + 1]  document i has the classes ids[offsets[i]:offsets[i+1]]
 *   /label_sets/ids     int32 [n_labels]    sorted and distinct within a document, >= 1 each
 *   root attribute multi_label = 1; /labels holds each document's first label as read.
 * Hashed n-gram ids are vocab_size + bucket. Version 1 (tcdist 0.1) stored the two string lists as
 * variable-length strings, in the HDF5 1.8 format without checksums; it is still read.
 * Every read checks what it hands out: offsets in order and within the tokens, token ids within
 * [0, n_embeddings), labels within [0, n_classes); an error names the file, dataset and position. */
#ifndef TCD_CORPUS_H
#define TCD_CORPUS_H

#include <stdint.h>

#include "data/batch.h"
#include "text/tokenize.h"

#define TCD_CORPUS_FORMAT "tcdist-corpus"
#define TCD_CORPUS_VERSION 2

typedef struct tcd_corpus {
    int64_t file; /* the open HDF5 file (a hid_t; only src/io uses it), < 0 when closed */
    char *path;
    int64_t version;
    int64_t n_docs, n_tokens, vocab_size, n_buckets, n_embeddings, n_classes;
    int64_t min_count, max_vocab, n_skipped;
    int multi_label;          /* /label_sets present */
    int64_t n_label_ids;      /* its length */
    tcd_tok_opts tok;
    char content_sha256[65];
    char vocab_sha256[65];
    char *input_format; /* malloc'd */
    char *sources;      /* malloc'd */
    char *created_by;   /* malloc'd */
    struct tcd_corpus_cache *cache; /* words, counts and labels after their first read (corpus.c) */
} tcd_corpus;

/* Opens and validates (format, version, sizes). Returns 0, or -1 with a message in err that names
 * the file and what is wrong. */
int tcd_corpus_open(tcd_corpus *c, const char *path, char *err, size_t errlen);
void tcd_corpus_close(tcd_corpus *c);

/* Hyperslab reads of a slice, checked (see above); each returns 0 or -1 (message via
 * tcd_h5_errmsg, naming the dataset and position; the caller adds the file). */
int tcd_corpus_read_offsets(const tcd_corpus *c, int64_t doc0, int64_t n_docs, int64_t *out); /* n_docs+1 values */
int tcd_corpus_read_tokens(const tcd_corpus *c, int64_t tok0, int64_t n, int32_t *out);
int tcd_corpus_read_labels(const tcd_corpus *c, int64_t doc0, int64_t n_docs, int32_t *out);
/* A multi-label corpus's label sets, whole and checked (offsets in order, ids in [0, n_classes),
 * each set non-empty, sorted, distinct): 0, or -1 (message via tcd_h5_errmsg). Free with
 * tcd_multilabels_free. */
int tcd_corpus_read_label_sets(const tcd_corpus *c, tcd_multilabels *out);
void tcd_multilabels_free(tcd_multilabels *m);

/* Vocabulary and label names (malloc'd string arrays, free with tcd_h5_free_strings). The file is
 * read once; later calls copy from memory (checkpoints ask for them every time). */
char **tcd_corpus_read_vocab(const tcd_corpus *c, int64_t *n, int64_t **counts /* may be NULL */);
char **tcd_corpus_read_label_names(const tcd_corpus *c, int64_t *n);

/* Reads the whole corpus (every read checked as above) and recomputes vocab_sha256 and
 * content_sha256 against the stored ones (`inspect --verify`). 0, or -1 with a message in err
 * naming the file and what differs. */
int tcd_corpus_verify(const tcd_corpus *c, char *err, size_t errlen);


#endif
