/* Before step 0 (rank 0): the inputs, the run dir and a resume are checked, so that a bad path or
 * a mismatched checkpoint fails in the first second, not after an hour. Also the run's settings
 * as JSON (config.json, and stored in every model and checkpoint file). */
#ifndef TCD_SETUP_H
#define TCD_SETUP_H

#include "io/corpus.h"
#include "train/trainer.h"

/* Opens the corpora (train, and valid when given), checks they fit each other, and that the run
 * dir can be written and has room. 0, or -1 with the message printed. */
/* --loss: whether the run trains a one-vs-all head (ova, or auto on a multi-label corpus). */
int tcd_setup_ova(const tcd_train_config *c, const tcd_corpus *train);
/* The model config with its "auto" values set for this corpus (malloc'd). */
void *tcd_setup_model_cfg(const tcd_train_config *c, const tcd_corpus *train);
int tcd_setup_check(const tcd_train_config *c, tcd_corpus *train, tcd_corpus *valid);
/* A resume must come from the same data, vocabulary and model, unless --force; 0 or -1 (printed). */
int tcd_setup_check_resume(const tcd_train_config *c, const tcd_corpus *train, const char *ckpt_path);
/* --epochs and --lr left out (0 in the config) get their defaults here. For a kind with
 * corpus_rule, they are functions of the training documents, so that a small corpus gets enough
 * optimizer steps (docs/training.md#defaults):
 *   epochs = clamp(ceil(600 / steps_per_epoch), 5, 25)
 *   lr     = 0.004, raised to 0.004 x 600 / (epochs x steps_per_epoch) when that is under 600
 *            steps, at most 0.1
 * with steps_per_epoch = ceil(train_docs / batch); a corpus of >= 23,040 documents at batch 192
 * gets 5 epochs and 0.004. For other kinds: 5 and 0.004. Fills *r with what the rule set. */
typedef struct {
    int epochs, lr; /* set by the rule */
    int64_t train_docs, steps_per_epoch;
} tcd_setup_rule;
void tcd_setup_apply_rule(tcd_train_config *c, int64_t train_docs, tcd_setup_rule *r);
/* The run's settings as one JSON object (malloc'd); rule: what the corpus rule set (NULL: nothing). */
char *tcd_setup_config_json(const tcd_train_config *c, const tcd_setup_rule *rule, const char *exchange,
                            const tcd_corpus *train, int world, int threads);
/* Writes text to path atomically (temporary name, fsync, rename). 0, or -1 with a message. */
int tcd_write_text_atomic(const char *path, const char *text, char *err, size_t errlen);

#endif
