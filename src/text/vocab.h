/* Word <-> id table: an open-addressing hash table over interned word bytes. Not thread-safe
 * for writes; concurrent tcd_vocab_find calls are safe. */
#ifndef TCD_VOCAB_H
#define TCD_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct tcd_vocab tcd_vocab;

tcd_vocab *tcd_vocab_new(void);
void tcd_vocab_free(tcd_vocab *v);
/* Adds `count` occurrences of a word (hash h = tcd_word_hash(w, n)); returns its id. New words get
 * the next id (insertion order). */
int32_t tcd_vocab_add(tcd_vocab *v, const char *w, size_t n, uint64_t h, int64_t count);
/* Id of a word, or -1. */
int32_t tcd_vocab_find(const tcd_vocab *v, const char *w, size_t n, uint64_t h);
int64_t tcd_vocab_size(const tcd_vocab *v);
/* The word's bytes (also NUL-terminated; len may be NULL). Valid until the next add or free. */
const char *tcd_vocab_word(const tcd_vocab *v, int32_t id, size_t *len);
int64_t tcd_vocab_count(const tcd_vocab *v, int32_t id);

/* The final vocabulary of a training corpus: "<pad>" (id 0), "<unk>" (id 1), then the words with
 * count >= min_count, by count descending, ties by byte order ascending, at most max_vocab words
 * (0: no limit; the two reserved ids are not counted). remap[old_id] = new id (TCD_UNK_ID for a
 * dropped word); malloc'd, tcd_vocab_size(raw) entries. The <unk> count is the sum of the dropped
 * words' counts. remap may be NULL. A raw word spelled "<pad>" or "<unk>" is dropped (-> <unk>).
 * Deterministic: the order is total, so it does not depend on the raw ids or the sort. */
tcd_vocab *tcd_vocab_finalize(const tcd_vocab *raw, int64_t min_count, int64_t max_vocab, int32_t **remap);

/* Builds a table from a stored word list (ids = positions), e.g. for --vocab TRAIN.h5 or predict.
 * counts may be NULL (all 0). Returns NULL when a word occurs twice (a corrupt list). */
tcd_vocab *tcd_vocab_from_words(char *const *words, const int64_t *counts, int64_t n);
/* The same, and on a duplicate sets *dup_pos to the index of its second occurrence, so that the
 * caller can name it in its error message. */
tcd_vocab *tcd_vocab_from_words_checked(char *const *words, const int64_t *counts, int64_t n, int64_t *dup_pos);

#endif
