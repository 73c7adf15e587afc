/* A training run: open (check inputs, load data, build the model, place its buffers, resume) ->
 * steps -> end of each epoch (validation, checkpoint) -> finish (model.h5, summary.json). Each
 * rank takes its share of every global batch; the exchange adds the gradient sums over ranks,
 * divided by the global batch size, and every parameter gets the same Adam step on every rank.
 * Alone (no mpirun) it is one rank with OpenMP threads. */
#ifndef TCD_TRAINER_H
#define TCD_TRAINER_H

#include <stdint.h>

#include "models/model.h"
#include "train/dist.h"

/* Everything `tcdist train` takes (cli/train.c parses and validates the flags). */
typedef struct {
    const char *data, *valid, *run_dir;
    const tcd_model_kind *kind;
    const void *model_cfg; /* the kind's config struct */
    const char *schedule;  /* constant | linear | cosine */
    const char *exchange;  /* auto | shared | sparse | dense */
    int64_t epochs, batch, seed, threads, warmup, log_every, max_steps;
    double lr, min_lr, beta1, beta2, eps, weight_decay, clip_norm, progress_secs;
    double emb_lr; /* > 0: the embedding table takes plain SGD steps, emb_lr per document (0: Adam) */
    int no_shuffle, overwrite, quiet, save_init, deterministic, lazy_adam, resume, force, skip_nonfinite,
        no_checkpoint;
    int64_t check_replicas, checkpoint_every, keep;
    double checkpoint_secs, max_memory_mb;
    double valid_split; /* 0: none; else the fraction of --data held out for validation */
    int64_t early_stop;       /* patience in evaluations (0: off) */
    int64_t valid_every;      /* also evaluate every N steps (0: at epoch ends only) */
    const char *valid_metric; /* accuracy | macro_f1 | loss: what --early-stop watches */
    const char *loss;         /* auto | ova | softmax: the output head (auto: ova for a multi-label corpus) */
    double deadline;          /* tcd_now() time after which the run stops at the next step boundary, as a stop
                               * signal would (checkpoint, TCD_EXIT_INTERRUPTED); 0: none. Each rank reads its
                               * clock and the step's stop verdict is summed over the ranks, so all agree. */
} tcd_train_config;

/* What a run ended with, the same on every rank (tcd_train_run_result). */
typedef struct {
    int64_t steps, epochs;
    double best_metric; /* --early-stop: the best evaluation's valid_metric (NAN: none) */
    double valid_acc, valid_loss; /* the last evaluation (NAN: none) */
    double seconds;     /* training time */
    int stopped_early;  /* --early-stop ended it */
    int late;           /* the deadline ended it (not finished: a checkpoint to resume from) */
} tcd_train_result;

/* The defaults of every setting but the model's (kind NULL, paths NULL). */
void tcd_train_config_default(tcd_train_config *c);

/* SIGUSR1, SIGTERM and SIGINT then only ask the run to stop at the next step boundary, where all
 * ranks agree, rank 0 writes a checkpoint and the run ends with TCD_EXIT_INTERRUPTED. A second
 * SIGINT aborts at once. Install before loading anything, so that an early signal is a request. */
void tcd_train_install_signals(void);
/* Has a stop signal come (a caller between runs, `tcdist tune`, stops too)? */
int tcd_train_stop_requested(void);

/* The whole run on the ranks of d. Returns the process exit status (the same on every rank). */
int tcd_train_run(const tcd_train_config *c, const tcd_dist *d);
/* The same, and what it ended with in *res (filled whatever the exit status). */
int tcd_train_run_result(const tcd_train_config *c, const tcd_dist *d, tcd_train_result *res);

#endif
