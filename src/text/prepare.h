/* The pipeline of `tcdist prepare`: raw labelled text -> records -> tokens -> ids -> vocabulary ->
 * corpus file (io/corpus_write.h).
 *
 * Streaming: each input is read in large blocks and split into records (reader.h); the records of
 * a block are parsed and tokenized in parallel (OpenMP, contiguous chunks, results kept in record
 * order); then one thread assigns ids in record order and appends to the HDF5 file. Memory is
 * bounded by the vocabulary and the block buffers, not by the input size. A training corpus gets
 * provisional ids that are remapped in place once the vocabulary is final.
 *
 * The output is written under a temporary name and renamed into place only when complete; on any
 * failure, a fatal error, SIGINT or SIGTERM the temporary file is removed, so nothing half-written
 * is left and an existing file of that name is untouched. */
#ifndef TCD_PREPARE_H
#define TCD_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "io/corpus.h"
#include "text/reader.h"
#include "text/tokenize.h"

typedef struct {
    const char *out;          /* the corpus file to write */
    char *const *inputs;      /* [n_inputs] paths, "-" is stdin */
    int n_inputs;
    tcd_format format;        /* of every input */
    int header;               /* TSV/CSV: the first line names the columns */
    const char *text_field, *label_field, *label_prefix; /* as tcd_fields_resolve takes them (NULL: defaults) */
    /* A dev/test set: the vocabulary, the labels and the tokenizer come from this training corpus
     * (only tok.max_len is taken from here). NULL: a training corpus, built from the input. */
    const tcd_corpus *train;
    tcd_tok_opts tok;         /* a training corpus's tokenizer (buckets 0 when ngrams is 1) */
    int64_t min_count, max_vocab;
    char *const *labels;      /* a training corpus's classes in id order (distinct); NULL: from the input */
    int64_t n_labels;
    char label_sep;           /* TSV/CSV: the label field is a list split on it (0: one label) */
    int skip_bad;             /* skip bad records (counted, the first few warned) instead of stopping */
    int threads;              /* parsing threads, >= 1 */
    size_t block_bytes;       /* input read block */
} tcd_prepare_opts;

/* Writes the corpus and prints the summary (tcd_info). Returns 0, or -1 with the message printed
 * (a bad record names FILE:LINE). */
int tcd_prepare(const tcd_prepare_opts *o);

#endif
