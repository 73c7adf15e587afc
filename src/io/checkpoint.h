/* Checkpoints (HDF5, written by rank 0): everything a run needs to continue bit-exactly.
 *
 * Layout: the model file's groups and attributes (io/model_file.h: /params, /vocab, /label_names,
 * model, model_config, tokenizer settings, data_content_sha256, vocab_sha256, config, ...) with
 * format "tcdist-checkpoint" (version 2: the HDF5 1.10 file format with checksummed metadata,
 * Fletcher32 on every dataset, string tables; version 1, from tcdist 0.1, is read too), plus
 *   /optimizer/m, /optimizer/v   float32 [n_params]  Adam's moments, flat, in tensor order
 *   /metrics                     uint8 [bytes]       metrics.jsonl as it was at this step (UTF-8)
 *   /early_stop/best_params      float32 [n_params]  only with --early-stop: the best evaluation's
 *                                                    parameters (root attributes best_step, bad_evals,
 *                                                    best_metric; all in the checksum when present)
 *   root attributes: step (steps done), epoch and step_in_epoch (where the next step is),
 *     adam_t, seed, epoch_loss, epoch_docs, tokens_total, elapsed_s (training time so far),
 *     checksum: a hash64 (16 hex digits) over params, m, v, the state attributes, the metrics
 *     text, the vocabulary and label names, the corpus hashes and the config; verified on every
 *     load. (sha256 at every write cost more than the training step itself on IMDB; the sha256s
 *     of the parameters and of the optimizer state are computed by tcd_ckpt_read_info instead.)
 * The order of documents is a pure function of (seed, epoch, step), so these counters are the
 * whole "RNG state".
 *
 * In a run dir: RUN_DIR/checkpoints/ckpt-00000123.h5 (the step, zero-padded) and
 * RUN_DIR/checkpoints/latest, a one-line text file naming the newest complete checkpoint; both are
 * replaced atomically (temporary name in the same folder, fsync, rename, fsync of the folder). */
#ifndef TCD_CHECKPOINT_H
#define TCD_CHECKPOINT_H

#include <stdint.h>

#include "io/corpus.h"
#include "models/model.h"

#define TCD_CKPT_FORMAT "tcdist-checkpoint"
#define TCD_CKPT_VERSION 3 /* the newest read; written: 3 for a one-vs-all model (loss = "ova"), else 2 */

typedef struct {
    int64_t step;          /* global steps completed */
    int64_t epoch;         /* epoch of the next step */
    int64_t step_in_epoch; /* index of the next step inside that epoch */
    uint64_t seed;
    double epoch_loss;     /* loss sum of the current epoch so far (for its mean) */
    int64_t epoch_docs;
    int64_t tokens_total;
    double elapsed_s;      /* training seconds before this checkpoint */
    char *metrics;         /* metrics.jsonl so far (malloc'd when loaded) */
    /* --early-stop: the best evaluation's parameters [n_params] (NULL: none, and in checkpoints
     * written without --early-stop; malloc'd when loaded), its step (-1: none), its metric, and
     * the evaluations since then that did not improve on it */
    float *best;
    int64_t best_step, bad_evals;
    double best_metric;
} tcd_ckpt_state;

/* The optimizer's state, saved beside the parameters: Adam's moments (flat, the model's layout)
 * and its step count. */
typedef struct {
    float *m, *v;
    int64_t t;
} tcd_ckpt_optim;

/* What a checkpoint says about the run that wrote it, for the resume checks and inspect. */
typedef struct {
    int64_t version;
    int64_t step, epoch, step_in_epoch, adam_t;
    int64_t n_classes, n_embeddings, n_params;
    char *model_config; /* {"kind": ..., ...} (malloc'd) */
    char data_sha256[65], vocab_sha256[65], params_sha256[65], state_sha256[65];
    char *config_json;  /* malloc'd */
} tcd_ckpt_info;

/* Writes `path` atomically: the model's parameters (m->params) and the optimizer state. Fault
 * injection for the tests: TCDIST_FAULT=killwrite:0:N makes the writer SIGKILL itself halfway
 * through its N-th checkpoint (counted from 1 in this process). Returns 0, or -1 with a message
 * (e.g. disk full); a failed write leaves no file at `path` changed. */
int tcd_ckpt_write(const char *path, const tcd_model *m, const tcd_ckpt_optim *o, const tcd_ckpt_state *st,
                   const tcd_corpus *train, const char *config_json, char *err, size_t errlen);

/* Reads the metadata and verifies the checksum (the whole file is read). 0, or -1 with a message
 * naming the file and what is wrong (not a checkpoint, truncated, checksum mismatch, ...). */
int tcd_ckpt_read_info(const char *path, tcd_ckpt_info *info, char *err, size_t errlen);
void tcd_ckpt_info_free(tcd_ckpt_info *info);

/* Loads the parameters into params and the optimizer state into o (each [n_params], the layout of
 * model m, which must match the checkpoint's: checked), and the counters into st, verifying the
 * checksum before anything is used. 0, or -1 with a message. */
int tcd_ckpt_load(const char *path, const tcd_model *m, float *params, tcd_ckpt_optim *o, tcd_ckpt_state *st,
                  char *err, size_t errlen);
void tcd_ckpt_state_free(tcd_ckpt_state *st);

/* Run-dir management (rank 0):
 * tcd_ckpt_save: writes RUN_DIR/checkpoints/ckpt-<step>.h5, then points `latest` at it, then
 *   deletes all but the newest `keep` checkpoints (keep >= 1). 0, or -1 with a message; on failure
 *   the previous checkpoint and `latest` are untouched.
 * tcd_ckpt_find: the newest checkpoint that verifies, starting from the one `latest` names and
 *   falling back to older ones (by step) with a warning naming each bad file. Returns a malloc'd
 *   path, or NULL when the run dir holds no checkpoint (*found_bad tells whether some existed but
 *   none verified; err then says why). */
int tcd_ckpt_save(const char *run_dir, int64_t keep, const tcd_model *m, const tcd_ckpt_optim *o,
                  const tcd_ckpt_state *st, const tcd_corpus *train, const char *config_json, char *err,
                  size_t errlen);
char *tcd_ckpt_find(const char *run_dir, int *found_bad, char *err, size_t errlen);
/* tcd_ckpt_find that also hands over the found checkpoint's info (what tcd_ckpt_read_info gives;
 * zeroed when none is found; free it with tcd_ckpt_info_free), so that a resume verifies the
 * file once before loading it. */
char *tcd_ckpt_find_info(const char *run_dir, int *found_bad, tcd_ckpt_info *found, char *err, size_t errlen);
/* Every checkpoint file of the run dir (valid or not), newest step first: malloc'd paths, returns
 * how many (free each and the array). */
int64_t tcd_ckpt_list(const char *run_dir, char ***paths);
/* Does the run dir hold any checkpoint file (valid or not)? */
int tcd_ckpt_any(const char *run_dir);
/* Removes every checkpoint and `latest` from the run dir (train --overwrite). */
int tcd_ckpt_remove_all(const char *run_dir);
/* Removes what a killed writer left: the temporary files of checkpoints (DIR/checkpoints) and of
 * model.h5, config.json, summary.json and valid_split.txt (DIR) whose process is gone. Never
 * touches a finished file. */
void tcd_ckpt_sweep_tmp(const char *run_dir);

#endif
