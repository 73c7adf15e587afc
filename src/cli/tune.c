/* tcdist tune: its flags and their checks; the search itself is train/tune.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/args.h"
#include "tcdist.h"
#include "train/dist.h"
#include "train/space.h"
#include "train/trainer.h"
#include "train/tune.h"

static const char *USAGE =
    "tcdist tune --data TRAIN.h5 [--valid VALID.h5 | --valid-split F] --run-dir DIR [--budget SECONDS]\n"
    "                   [--trials N] [--space FILE] [--metric M] [--seed S] [--ranks-per-trial R] [--threads T]";
static const char *DESCRIPTION =
    "Searches hyperparameters: --trials quasi-random points of the search space (--space FILE, else the default\n"
    "space; docs/tuning.md), trained by successive halving: every point for --min-epochs epochs, then the best\n"
    "1/--eta of them for --eta times as many, and so on up to --max-epochs, each trial with early stopping on the\n"
    "validation set. With --budget and no --trials, the number of points follows the budget: brackets of\n"
    "successive halving, each as large as the time left allows, one after another until the budget is spent.\n"
    "Under mpirun the ranks split into groups that train trials side by side. Writes\n"
    "DIR/trials.jsonl (one record per finished trial), DIR/trials/<id>/ (each trial's run dir) and DIR/best/ (the\n"
    "best trial's run dir: eval, predict and serve take it). Run the same command again to continue a killed tune.";

static int check(const tcd_tune_config *c) {
    if (!c->data || !c->run_dir) {
        tcd_error("--data and --run-dir are required (see tcdist tune --help)");
        return -1;
    }
    if (c->valid && tcd_args_given("--valid-split")) {
        tcd_error("--valid-split and --valid: give one (--valid-split holds out part of --data, --valid is a "
                  "separate corpus)");
        return -1;
    }
    if (c->valid_split >= 1 || (!c->valid && c->valid_split <= 0)) {
        tcd_error("--valid-split %g: must be between 0 and 1 exclusive (a fraction of --data)", c->valid_split);
        return -1;
    }
    if (c->min_epochs > c->max_epochs) {
        tcd_error("--min-epochs %lld is above --max-epochs %lld", (long long)c->min_epochs, (long long)c->max_epochs);
        return -1;
    }
    return 0;
}

int tcd_cmd_tune(int argc, char **argv) {
    tcd_tune_config c = {.metric = "accuracy", .valid_split = 0.1, .trials = 27, .seed = 1, .min_epochs = 1,
                         .max_epochs = 9, .eta = 3, .patience = 2};
    const tcd_opt opts[] = {
        {"--data", TCD_OPT_STR, &c.data, "TRAIN.h5", "training corpus (from tcdist prepare)"},
        {"--valid", TCD_OPT_STR, &c.valid, "VALID.h5", "validation corpus (prepared with --vocab TRAIN.h5)"},
        {"--valid-split", TCD_OPT_F64, &c.valid_split, "F",
         "without --valid: validate on this fraction of --data (the same documents for every trial)", 0, 1},
        {"--run-dir", TCD_OPT_STR, &c.run_dir, "DIR", "trials.jsonl, trials/<id>/ and best/ go here"},
        {"--budget", TCD_OPT_F64, &c.budget, "SECONDS",
         "wall-clock limit of this run: a running trial stops at its next step (0: none)", 0, 1e12},
        {"--trials", TCD_OPT_I64, &c.trials, "N",
         "points of the space in the first rung (one bracket); with --budget and no --trials, brackets of as many "
         "points as the budget allows", 1, 100000},
        {"--space", TCD_OPT_STR, &c.space_path, "FILE", "the search space (docs/tuning.md); default: the built-in one"},
        {"--metric", TCD_OPT_CHOICE, &c.metric, "M", "what the trials are ranked by (loss is minimised)", 0, 0,
         "accuracy|macro_f1|loss"},
        {"--seed", TCD_OPT_I64, &c.seed, "S", "the points, and every trial's initialisation and shuffling", 0,
         (double)INT64_MAX},
        {"--ranks-per-trial", TCD_OPT_I64, &c.ranks_per_trial, "R",
         "ranks that train one trial together (0: one per 200000 training documents)", 0, 1 << 20},
        {"--threads", TCD_OPT_I64, &c.threads, "T", "OpenMP threads per rank (0: OMP_NUM_THREADS or all cores)", 0, 4096},
        {"--min-epochs", TCD_OPT_I64, &c.min_epochs, "N", "epochs of the first rung", 1, 1000000},
        {"--max-epochs", TCD_OPT_I64, &c.max_epochs, "N", "epochs of the last rung", 1, 1000000},
        {"--eta", TCD_OPT_I64, &c.eta, "K", "each rung keeps the best 1/K and trains them K times longer", 2, 100},
        {"--patience", TCD_OPT_I64, &c.patience, "N", "early stopping: epochs without improvement", 1, 1000000},
        {"--deterministic", TCD_OPT_FLAG, &c.deterministic, NULL,
         "every trial bit-identical for any ranks and threads (train --deterministic)"},
        {"--quiet", TCD_OPT_FLAG, &c.quiet, NULL, "no line per trial (the table is printed)"},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse(USAGE, DESCRIPTION, opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (n_pos) {
        tcd_error("unexpected argument '%s' (see tcdist tune --help)", pos[0]);
        free(pos);
        return TCD_EXIT_USAGE;
    }
    free(pos);
    if (c.valid && !tcd_args_given("--valid-split")) c.valid_split = 0;
    if (c.budget > 0 && !tcd_args_given("--trials")) c.trials = 0; /* sized by the budget (train/tune.h) */
    if (check(&c) != 0) return TCD_EXIT_USAGE;
    tcd_space space;
    char err[1536];
    if (tcd_space_load(&space, c.space_path, err, sizeof err) != 0) {
        tcd_error("--space %s", err);
        return TCD_EXIT_USAGE;
    }
    c.space = &space;
    /* a stop signal ends the running trials at a step boundary with a checkpoint (train's) */
    tcd_train_install_signals();
    tcd_dist dist;
    tcd_dist_init(&dist, &argc, &argv);
    int rc = tcd_tune_run(&c, &dist);
    tcd_dist_finalize(&dist);
    tcd_space_free(&space);
    return rc;
}
