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
int tcd_setup_check(const tcd_train_config *c, tcd_corpus *train, tcd_corpus *valid);
/* A resume must come from the same data, vocabulary and model, unless --force; 0 or -1 (printed). */
int tcd_setup_check_resume(const tcd_train_config *c, const tcd_corpus *train, const char *ckpt_path);
/* The run's settings as one JSON object (malloc'd). */
char *tcd_setup_config_json(const tcd_train_config *c, const char *exchange, const tcd_corpus *train, int world,
                            int threads);
/* Writes text to path atomically (temporary name, fsync, rename). 0, or -1 with a message. */
int tcd_write_text_atomic(const char *path, const char *text, char *err, size_t errlen);

#endif
