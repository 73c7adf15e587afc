/* What a training run reports, kept apart from the loop: the phase timers of each rank,
 * metrics.jsonl (rank 0 writes it; a checkpoint carries its text so far, and a resumed run starts
 * from that copy), the progress line, and summary.json. */
#ifndef TCD_METRICS_H
#define TCD_METRICS_H

#include <stdint.h>

#include "train/dist.h"

enum { TCD_PH_DATA, TCD_PH_FORWARD, TCD_PH_BACKWARD, TCD_PH_COMM, TCD_PH_OPTIM, TCD_PH_CKPT, TCD_PH_N };

typedef struct tcd_metrics tcd_metrics;

typedef struct {
    const char *run_dir;
    const char *resumed_text; /* metrics.jsonl of the checkpoint resumed from, or NULL */
    int quiet;
    int tty;               /* progress as one rewritten line (a terminal), else plain lines */
    double progress_secs;  /* interval of the plain lines */
    int64_t epochs, total_steps, log_every;
    int64_t step0, tokens0; /* where this process started (a resume) */
    double elapsed0;        /* training seconds before this process */
} tcd_metrics_opts;

/* Collective (rank 0 opens metrics.jsonl). NULL with a message in err on failure. */
tcd_metrics *tcd_metrics_open(const tcd_metrics_opts *o, const tcd_dist *d, char *err, size_t errlen);
void tcd_metrics_close(tcd_metrics *mt);

/* Moves the mark to now (time since the last mark belongs to no phase). */
void tcd_metrics_mark(tcd_metrics *mt);
/* Adds the time since the last mark to `phase` and moves the mark to now. */
void tcd_metrics_phase(tcd_metrics *mt, int phase);
/* Adds seconds to a phase's total directly (work outside the step, e.g. an epoch-end checkpoint). */
void tcd_metrics_add_total(tcd_metrics *mt, int phase, double seconds);

/* One finished step: the global loss sum, documents and tokens (summed over ranks), this rank's
 * documents and tokens, and its MPI bytes. */
void tcd_metrics_step(tcd_metrics *mt, double loss_sum, int64_t n_global, int64_t tokens_global, int64_t docs_local,
                      int64_t tokens_local, int64_t bytes);
/* Collective when due (every log_every steps and at `last`): gathers the ranks' phase times and
 * writes a "train" and a "ranks" record. */
void tcd_metrics_log(tcd_metrics *mt, int64_t step_done, int64_t epoch, double lr, int last);
/* The progress line (rank 0): epoch, step, the epoch's mean loss, tokens/s and ETA. */
void tcd_metrics_progress(tcd_metrics *mt, int64_t epoch, int64_t step_done, double epoch_loss_mean,
                          int64_t tokens_total, int last);
/* Ends the progress line before other output (a terminal's rewritten line needs a newline). */
void tcd_metrics_progress_end(tcd_metrics *mt);
/* A validation record (rank 0). */
void tcd_metrics_valid(tcd_metrics *mt, int64_t step, int64_t epoch, double loss, double acc, int64_t n_docs,
                       int64_t correct);

/* metrics.jsonl so far (rank 0; "" elsewhere), written out first. */
const char *tcd_metrics_text(tcd_metrics *mt);
/* Seconds since the process started training, plus elapsed0 (frozen by tcd_metrics_stop_clock). */
double tcd_metrics_elapsed(const tcd_metrics *mt);
/* The training time ends here: writing the model and the summary is not training. */
void tcd_metrics_stop_clock(tcd_metrics *mt);

typedef struct {
    int64_t steps, epochs, tokens_total;
    double final_loss, valid_acc, valid_loss; /* NaN when absent */
    int have_valid;
    /* --early-stop: the metric watched, the best evaluation (model.h5's parameters) and whether
     * the patience ran out */
    int early_stop, stopped_early;
    const char *valid_metric;
    int64_t best_step;
    double best_metric;
    char params_sha256[65];
    int world, threads;
} tcd_run_summary;
/* summary.json's text (malloc'd). */
char *tcd_metrics_summary(tcd_metrics *mt, const tcd_run_summary *s);
/* The end-of-run line with the time of each phase (rank 0, unless quiet). */
void tcd_metrics_print_phases(const tcd_metrics *mt, int64_t tokens_total);

#endif
