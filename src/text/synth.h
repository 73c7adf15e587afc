/* A seeded synthetic labelled corpus, generated as text (`tcdist synth`).
 *
 * The "language" is a pure function of the seed: V pseudo-words spelled from their index in a
 * bijective base over a seed-shuffled syllable table (so rank 0, the most frequent word, is the
 * shortest), a shared Zipf(S) distribution over all V words, and per class a topic distribution
 * (Zipf(S) over ~V/20 words drawn by the seed). A word of a class-c document comes from c's topic
 * with probability P, else from the shared distribution. With K labels per document, each word's
 * topic is that of one of the document's K classes.
 *
 * Documents are made in blocks of TCD_SYNTH_BLOCK_DOCS; block b draws from an RNG seeded from
 * (seed, part, b) only, so the output bytes do not depend on the number of threads and each part
 * is an independent stream over the same language. Blocks are generated in parallel in rounds and
 * written in order; nothing but one round of blocks is held in memory. */
#ifndef TCD_SYNTH_H
#define TCD_SYNTH_H

#include <stdint.h>
#include <stdio.h>

#include "text/reader.h"

#define TCD_SYNTH_BLOCK_DOCS 4096
#define TCD_SYNTH_MAX_LABELS 16 /* --labels-per-doc */
#define TCD_SYNTH_MAX_TOPIC_ENTRIES ((int64_t)1 << 27) /* classes * topic words (vocab / 20): bounds memory */

typedef struct {
    uint64_t seed;     /* the language: words, topics, distributions */
    int64_t part;      /* which independent stream of documents */
    int64_t n_docs;    /* documents to write (when max_bytes < 0) */
    int64_t max_bytes; /* >= 0: instead of n_docs, stop at the first document end at or past this many bytes */
    int64_t n_classes; /* labels "0" .. "C-1" (>= 2) */
    int64_t labels_per_doc; /* K distinct classes per document (multi-label when > 1; <= n_classes): each
                             * word's topic is one of the K, drawn uniformly; fastText writes K __label__
                             * tokens, JSONL a list, TSV/CSV the labels joined by '|' (prepare --label-sep
                             * '|'). 0 or 1: single-label, the output exactly as before. */
    int64_t vocab;     /* distinct words (>= 20; vocab / 20 * n_classes <= TCD_SYNTH_MAX_TOPIC_ENTRIES) */
    double mean_len;   /* mean document length in words (1 + geometric), >= 1 */
    double zipf_s;     /* Zipf exponent of the word distributions */
    double signal;     /* probability that a word comes from its class's topic */
    tcd_format format; /* TSV and CSV start with the header "text<sep>label" */
    int threads;       /* generator threads, >= 1 */
} tcd_synth_opts;

/* Generates the corpus and writes it to f with fwrite (f is not flushed). Returns 0, or -1 when a
 * write failed (errno as the failed call left it). *n_docs and *n_bytes: what was written. */
int tcd_synth_write(const tcd_synth_opts *o, FILE *f, int64_t *n_docs, int64_t *n_bytes);

#endif
