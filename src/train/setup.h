/* Before step 0 (rank 0): the inputs, the run dir and a resume are checked, so that a bad path or
 * a mismatched checkpoint fails in the first second, not after an hour. Also the run's settings
 * as JSON (config.json, and stored in every model and checkpoint file). */
#ifndef TCD_SETUP_H
#define TCD_SETUP_H

#include "io/checkpoint.h"
#include "io/corpus.h"
#include "train/trainer.h"

/* Opens the corpora (train, and valid when given), checks they fit each other, and that the run
 * dir can be written and has room. 0, or -1 with the message printed. */
/* --loss: whether the run trains a one-vs-all head (ova, or auto on a multi-label corpus). */
int tcd_setup_ova(const tcd_train_config *c, const tcd_corpus *train);
/* The model config with its "auto" values set for this corpus (malloc'd). */
void *tcd_setup_model_cfg(const tcd_train_config *c, const tcd_corpus *train);
int tcd_setup_check(const tcd_train_config *c, tcd_corpus *train, tcd_corpus *valid);
/* A resume must come from the same data, vocabulary and model, unless --force; 0 or -1 (printed).
 * ck: the checkpoint's info (tcd_ckpt_find_info), path its file, for the messages. */
int tcd_setup_check_resume(const tcd_train_config *c, const tcd_corpus *train, const tcd_ckpt_info *ck,
                           const char *ckpt_path);
/* --batch, --epochs and --lr left out (0 in the config) get their defaults here. For a kind with
 * corpus_rule, they are functions of the training documents N and the classes C, so that a small
 * corpus gets enough optimizer steps (docs/training.md#defaults):
 *   batch  = 192, or for N < 23,040: N x 5 / 600 rounded down to a multiple of 8, within 32..192
 *   epochs = clamp(ceil(600 / steps_per_epoch), 5, 25)
 *   lr     = 0.004, raised to 0.004 x 600 x f / (epochs x steps_per_epoch) when that is above
 *            0.004, at most 0.1; f = log2 C for a softmax over C > 2 classes, else 1
 * with steps_per_epoch = ceil(N / batch); a two-class corpus of >= 23,040 documents gets batch
 * 192, 5 epochs and 0.004. For other kinds: 192, 5 and 0.004. Fills *r with what the rule set. */
typedef struct {
    int batch, epochs, lr; /* set by the rule */
    int64_t train_docs, steps_per_epoch;
} tcd_setup_rule;
void tcd_setup_apply_rule(tcd_train_config *c, int64_t train_docs, int64_t n_classes, int ova, tcd_setup_rule *r);
/* On a resume: where a value the rule set (r) differs from the checkpoint's run (a checkpoint of
 * an older tcdist, whose defaults differed), the checkpoint's is kept and the name is cleared in
 * r, so that the run continues as it began. note gets what was kept, and what the rule would give
 * ("" when nothing differs). ck: the checkpoint's info. */
void tcd_setup_keep_resumed(tcd_train_config *c, tcd_setup_rule *r, const tcd_ckpt_info *ck, char *note,
                            size_t n);
/* On a resume, after tcd_setup_keep_resumed: the training settings (epochs, batch, lr, schedule,
 * warmup, min_lr, Adam's betas and eps, weight decay, clip norm, emb_lr, seed) that differ from the
 * checkpoint's run, as "--flag now (the checkpoint's run: was)" joined by ", "; empty when none.
 * The flags given win; the caller warns, since the run can no longer match an uninterrupted one. */
void tcd_setup_resume_changes(const tcd_train_config *c, const tcd_ckpt_info *ck, char *note, size_t n);
/* What the rule set (batch, epochs, lr, in that order), each as PRE name, joined by SEP and the
 * last by LAST, into out[n]: "--batch, --epochs and --lr", or "\"epochs\", \"lr\"". */
void tcd_setup_rule_names(const tcd_setup_rule *r, const char *pre, const char *post, const char *sep,
                          const char *last, char *out, size_t n);
/* The run's settings as one JSON object (malloc'd); rule: what the corpus rule set (NULL: nothing). */
char *tcd_setup_config_json(const tcd_train_config *c, const tcd_setup_rule *rule, const char *exchange,
                            const tcd_corpus *train, int world, int threads);
/* Writes text to path atomically (temporary name, fsync, rename). 0, or -1 with a message. */
int tcd_write_text_atomic(const char *path, const char *text, char *err, size_t errlen);

#endif
