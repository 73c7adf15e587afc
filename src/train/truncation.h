/* What a kind's length limit cuts from the training data: a kind whose configuration has an
 * integer parameter named max_len (the flag --max-len) uses at most that many tokens of each
 * document; the start line of `tcdist train` says how many documents that truncates. */
#ifndef TCD_TRUNCATION_H
#define TCD_TRUNCATION_H

#include <stdint.h>

#include "io/corpus.h"
#include "models/model.h"

/* The kind's max_len (> 0), or 0 when it has none. */
int64_t tcd_model_max_len(const tcd_model_kind *k, const void *cfg);
/* Documents of the corpus with more than limit tokens, into *n: 0, or -1 on a read error (message
 * in err, naming the file). */
int tcd_corpus_count_longer(const tcd_corpus *c, int64_t limit, int64_t *n, char *err, size_t errlen);

#endif
