/* `tcdist tune`: hyperparameter search by successive halving over quasi-random points of a search
 * space (train/space.h), each trial a `tcdist train` run with validation and early stopping.
 *
 * Schedule (synchronous brackets): rung 0 trains `trials` points for min_epochs epochs each; rung
 * k+1 trains again, from scratch, the best 1/eta of rung k for eta times the epochs, up to
 * max_epochs. Early stopping ends a trial sooner (patience in epochs). A trial is point P at rung
 * K, id "cPPP-rK", with its run dir in DIR/trials/<id>.
 *
 * Budget-driven (trials 0, budget > 0): brackets of the above one after another, the points numbered
 * on (bracket b+1 starts at the point after bracket b's last), until the budget is spent. A
 * bracket's rung 0 grows in rounds while the seconds per trial-epoch measured so far say that the
 * whole bracket ends by 90% of the budget; then the bracket is halved. The clock decides only how
 * many points run, never which: world rank 0 decides and tells every rank. Each bracket's size is
 * appended to DIR/brackets.jsonl before its trials run, and a continued tune replays it.
 *
 * Parallel trials: under mpirun the ranks split (tcd_dist_split) into groups of ranks_per_trial;
 * the trials of a rung go round-robin to the groups, each group trains its trials data-parallel,
 * and the groups exchange the results at the end of the rung, so that every rank promotes the same
 * trials.
 *
 * DIR/trials.jsonl is the journal: one line per finished trial, appended and fsynced as it ends. A
 * tune run again in the same DIR (after a kill) takes the finished trials from it and trains only
 * the others (a trial cut off in the middle resumes from its checkpoint). */
#ifndef TCD_TUNE_H
#define TCD_TUNE_H

#include <stdint.h>

#include "train/dist.h"
#include "train/space.h"

typedef struct {
    const char *data, *valid, *run_dir, *metric, *space_path;
    const tcd_space *space;
    double valid_split, budget; /* budget: seconds of this run (0: none) */
    int64_t trials; /* points of the one bracket; 0: as many as the budget allows (budget > 0) */
    int64_t seed, ranks_per_trial, threads, min_epochs, max_epochs, eta, patience;
    int deterministic, quiet;
} tcd_tune_config;

/* The whole search on the ranks of d. Returns the process exit status (the same on every rank). */
int tcd_tune_run(const tcd_tune_config *c, const tcd_dist *d);

#endif
