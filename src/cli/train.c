/* tcdist train: the option table and its validation; the run itself is train/trainer.c. The model
 * flags come from the registry: each kind's parameters are flags here, and a flag of another kind
 * is a usage error. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/args.h"
#include "models/model.h"
#include "tcdist.h"
#include "train/dist.h"
#include "train/trainer.h"

static const char *USAGE =
    "tcdist train --data TRAIN.h5 [--valid VALID.h5] --run-dir DIR [--model KIND] [model options]\n"
    "                    [--epochs N] [--batch N] [--lr X] [--seed N] [--threads N] [options]";
static const char *DESCRIPTION =
    "Trains a text classifier with Adam: the model (--model KIND; the kinds are listed below, their own options\n"
    "last) ends in Dense(1, sigmoid) for 2 classes or Dense(C, softmax). --batch is the GLOBAL batch: under mpirun each rank takes its share of\n"
    "every batch and the gradients are averaged over all ranks before each step. Writes DIR/config.json,\n"
    "DIR/metrics.jsonl, DIR/summary.json and DIR/model.h5 (what eval and predict read).";

#define MAX_MODEL_FLAGS 64
#define MAX_OPTS 96

/* Every kind's parameters as flags: one slot per distinct name. */
typedef struct {
    int n;
    const char *name[MAX_MODEL_FLAGS]; /* "--dim" */
    char flag[MAX_MODEL_FLAGS][48];
    char help[MAX_MODEL_FLAGS][320];
    const char *value[MAX_MODEL_FLAGS]; /* as given, or NULL */
} model_flags;

static void collect_model_flags(model_flags *mf) {
    memset(mf, 0, sizeof *mf);
    for (int k = 0; k < tcd_model_n_kinds(); k++) {
        const tcd_model_kind *kind = tcd_model_kind_at(k);
        for (const tcd_model_param *p = kind->params; p->name; p++) {
            char flag[48];
            snprintf(flag, sizeof flag, "--%s", p->name);
            for (char *c = flag; *c; c++)
                if (*c == '_') *c = '-';
            int i = 0;
            while (i < mf->n && strcmp(mf->flag[i], flag) != 0) i++;
            if (i == mf->n) {
                TCD_CHECK(mf->n < MAX_MODEL_FLAGS);
                snprintf(mf->flag[i], sizeof mf->flag[i], "%s", flag);
                snprintf(mf->help[i], sizeof mf->help[i], "%s [", p->help);
                mf->name[i] = mf->flag[i];
                mf->n++;
            }
            size_t len = strlen(mf->help[i]);
            snprintf(mf->help[i] + len, sizeof mf->help[i] - len, "%s%s %s", mf->help[i][len - 1] == '[' ? "" : ", ",
                     kind->name, p->def);
        }
    }
    for (int i = 0; i < mf->n; i++) {
        size_t len = strlen(mf->help[i]);
        snprintf(mf->help[i] + len, sizeof mf->help[i] - len, "]");
    }
}

/* The kind's config from its defaults and the model flags given. 0, or -1 (printed: a usage error). */
static int model_config(const tcd_model_kind *kind, const model_flags *mf, void **cfg_out) {
    void *cfg = tcd_model_config_new(kind);
    char err[512];
    for (int i = 0; i < mf->n; i++) {
        if (!mf->value[i]) continue;
        const tcd_model_param *p = tcd_model_param_find(kind, mf->flag[i] + 2);
        if (!p) {
            tcd_buf own = {0};
            for (const tcd_model_param *q = kind->params; q->name; q++) {
                tcd_buf_printf(&own, "%s--", q == kind->params ? "" : ", ");
                for (const char *c = q->name; *c; c++) tcd_buf_putc(&own, *c == '_' ? '-' : *c); /* the flag's spelling */
            }
            tcd_error("option '%s' does not apply to --model %s (its options: %s)", mf->flag[i], kind->name,
                      own.data ? own.data : "none");
            tcd_buf_free(&own);
            free(cfg);
            return -1;
        }
        if (tcd_model_config_set(kind, cfg, p, mf->value[i], err, sizeof err) != 0) {
            tcd_error("%s", err);
            free(cfg);
            return -1;
        }
    }
    /* cross-field checks against a nominal shape: the real one is checked when the data is open */
    const tcd_model_shape nominal = {.n_embeddings = 2, .n_classes = 2};
    if (tcd_model_config_check(kind, cfg, &nominal, err, sizeof err) != 0) {
        tcd_error("%s", err);
        free(cfg);
        return -1;
    }
    *cfg_out = cfg;
    return 0;
}

/* Flag combinations that cannot work. 0, or -1 (printed). */
static int check_combinations(const tcd_train_config *c) {
    if (!c->data || !c->run_dir) {
        tcd_error("--data and --run-dir are required (see tcdist train --help)");
        return -1;
    }
    if ((!strcmp(c->exchange, "shared") || !strcmp(c->exchange, "hier")) &&
        (c->lazy_adam || c->clip_norm > 0 || c->check_replicas > 0)) {
        tcd_error("--exchange %s: not with %s (the ranks of a node hold one copy of the model and each updates "
                  "only its slice); use --exchange sparse",
                  c->exchange, c->lazy_adam ? "--lazy-adam" : c->clip_norm > 0 ? "--clip-norm" : "--check-replicas");
        return -1;
    }
    if (c->valid_split > 0 && c->valid) {
        tcd_error("--valid-split and --valid: give one (--valid-split holds out part of --data, --valid is a "
                  "separate corpus)");
        return -1;
    }
    if ((c->early_stop > 0 || c->valid_every > 0) && !c->valid && c->valid_split <= 0) {
        tcd_error("%s needs a validation set: --valid VALID.h5 or --valid-split F",
                  c->early_stop > 0 ? "--early-stop" : "--valid-every");
        return -1;
    }
    if (strcmp(c->valid_metric, "accuracy") != 0 && c->early_stop <= 0) {
        tcd_error("--valid-metric %s: only --early-stop uses it; add --early-stop PATIENCE", c->valid_metric);
        return -1;
    }
    if (c->valid_split >= 1) {
        tcd_error("--valid-split %g: must be between 0 and 1 exclusive (a fraction of --data)", c->valid_split);
        return -1;
    }
    return 0;
}

int tcd_cmd_train(int argc, char **argv) {
    tcd_train_config c;
    tcd_train_config_default(&c);
    const char *kind_name = "bow";
    model_flags mf;
    collect_model_flags(&mf);
    const tcd_opt common[] = {
        {"--data", TCD_OPT_STR, &c.data, "TRAIN.h5", "training corpus (from tcdist prepare)"},
        {"--valid", TCD_OPT_STR, &c.valid, "VALID.h5", "evaluated at each epoch's end (prepared with --vocab TRAIN.h5)"},
        {"--valid-split", TCD_OPT_F64, &c.valid_split, "F",
         "without --valid: hold out this fraction of --data (0 < F < 1, chosen by a hash of the document index "
         "and --seed; listed in DIR/valid_split.txt) and validate on it",
         0, 1},
        {"--early-stop", TCD_OPT_I64, &c.early_stop, "PATIENCE",
         "stop after PATIENCE evaluations without improvement; model.h5 is then the best evaluation's (0: off)", 0,
         1000000000},
        {"--valid-metric", TCD_OPT_CHOICE, &c.valid_metric, "M", "what --early-stop watches (loss is minimised)", 0, 0,
         "accuracy|macro_f1|loss"},
        {"--valid-every", TCD_OPT_I64, &c.valid_every, "STEPS", "also validate every STEPS steps (0: at epoch ends only)",
         0, (double)INT64_MAX},
        {"--run-dir", TCD_OPT_STR, &c.run_dir, "DIR", "where config, metrics, summary and model.h5 go"},
        {"--model", TCD_OPT_CHOICE, &kind_name, "KIND", "model architecture", 0, 0, tcd_model_kind_names()},
        {"--loss", TCD_OPT_CHOICE, &c.loss, "L",
         "output loss: ova (one-vs-all: an independent sigmoid per class, BCE summed over classes; multi-label), "
         "softmax (sigmoid for 2 classes), auto (ova for a multi-label corpus, else softmax)",
         0, 0, "auto|ova|softmax"},
        {"--epochs", TCD_OPT_I64, &c.epochs, "N", "passes over the training data (default 0: the corpus rule chooses, docs/training.md#defaults)", 1, 1000000},
        {"--batch", TCD_OPT_I64, &c.batch, "N", "global batch size (documents per step, over all ranks; default 0: the corpus rule chooses)", 1, 1 << 24},
        {"--lr", TCD_OPT_F64, &c.lr, "X", "peak learning rate (default 0: the corpus rule chooses)", 1e-12, 1e6},
        {"--schedule", TCD_OPT_CHOICE, &c.schedule, "KIND", "learning-rate schedule", 0, 0, "constant|linear|cosine"},
        {"--warmup", TCD_OPT_I64, &c.warmup, "STEPS", "linear warmup steps (linear, cosine)", 0, (double)(INT64_MAX / 2)},
        {"--min-lr", TCD_OPT_F64, &c.min_lr, "X", "final learning rate of linear/cosine", 0, 1e6},
        {"--beta1", TCD_OPT_F64, &c.beta1, "X", "Adam beta1", 0, 0.999999999},
        {"--beta2", TCD_OPT_F64, &c.beta2, "X", "Adam beta2", 0, 0.999999999},
        {"--eps", TCD_OPT_F64, &c.eps, "X", "Adam epsilon (Keras' placement: added to sqrt(v))", 1e-30, 1},
        {"--weight-decay", TCD_OPT_F64, &c.weight_decay, "X", "decoupled weight decay (AdamW); 0: plain Adam", 0, 1e6},
        {"--emb-lr", TCD_OPT_F64, &c.emb_lr, "X",
         "the embedding table learns by plain SGD at X per document (fastText's rule: rare rows move little), "
         "decaying with --schedule; the other tensors keep Adam (default 0: Adam everywhere)",
         0, 1e6},
        {"--clip-norm", TCD_OPT_F64, &c.clip_norm, "X", "clip the gradient's global L2 norm to X (0: off)", 0, 1e30},
        {"--seed", TCD_OPT_I64, &c.seed, "N", "initialisation and shuffling", 0, (double)INT64_MAX},
        {"--threads", TCD_OPT_I64, &c.threads, "N", "OpenMP threads per rank (0: OMP_NUM_THREADS or all cores)", 0, 4096},
        {"--deterministic", TCD_OPT_FLAG, &c.deterministic, NULL,
         "bit-identical parameters for any number of ranks and threads (fixed-point gradient sums)"},
        {"--exchange", TCD_OPT_CHOICE, &c.exchange, "KIND",
         "gradient exchange between ranks: shared (ranks on one node share one copy of the model and sum "
         "gradients in shared memory), hier (shared inside each node, and each slice summed between nodes: "
         "sparse rows and dense tensors), sparse (allreduce of the touched embedding rows), dense (allreduce "
         "of everything); auto: shared on one node, hier on several, sparse where neither applies",
         0, 0, "auto|shared|hier|sparse|dense"},
        {"--lazy-adam", TCD_OPT_FLAG, &c.lazy_adam, NULL, "update only the embedding rows the batch touched (not dense Adam)"},
        {"--check-replicas", TCD_OPT_I64, &c.check_replicas, "K", "compare a digest of every rank's parameters every K steps (0: off)", 0, (double)INT64_MAX},
        {"--no-shuffle", TCD_OPT_FLAG, &c.no_shuffle, NULL, "keep file order (tests and debugging)"},
        {"--max-memory", TCD_OPT_F64, &c.max_memory_mb, "MB",
         "a corpus larger than this is streamed in windows instead of held in memory", 0.01, 1e9},
        {"--max-steps", TCD_OPT_I64, &c.max_steps, "N", "stop after N steps (0: run all epochs)", 0, (double)INT64_MAX},
        {"--log-every", TCD_OPT_I64, &c.log_every, "STEPS", "metrics.jsonl record interval (0: ~100 per run)", 0, (double)INT64_MAX},
        {"--progress-secs", TCD_OPT_F64, &c.progress_secs, "S", "interval of plain progress lines when not a terminal", 0.1, 1e9},
        {"--overwrite", TCD_OPT_FLAG, &c.overwrite, NULL, "replace a model.h5 already in the run dir"},
        {"--quiet", TCD_OPT_FLAG, &c.quiet, NULL, "no progress output"},
        {"--save-init", TCD_OPT_FLAG, &c.save_init, NULL, "also write the initial parameters as DIR/init.h5"},
        {"--checkpoint-every", TCD_OPT_I64, &c.checkpoint_every, "N", "also checkpoint every N steps (0: off)", 0, (double)INT64_MAX},
        {"--checkpoint-secs", TCD_OPT_F64, &c.checkpoint_secs, "S", "also checkpoint every S seconds (0: off)", 0, 1e12},
        {"--keep", TCD_OPT_I64, &c.keep, "K", "keep the newest K checkpoints", 1, 1000000},
        {"--no-checkpoint", TCD_OPT_FLAG, &c.no_checkpoint, NULL, "write no checkpoints at all (benchmarks)"},
        {"--resume", TCD_OPT_FLAG, &c.resume, NULL, "continue from the run dir's latest checkpoint (an error if there is none)"},
        {"--force", TCD_OPT_FLAG, &c.force, NULL, "resume even if the data, vocabulary or model changed"},
        {"--skip-nonfinite", TCD_OPT_FLAG, &c.skip_nonfinite, NULL, "skip a batch whose loss or gradients are NaN/Inf instead of stopping"},
    };
    const int n_common = (int)(sizeof common / sizeof common[0]);
    tcd_opt opts[MAX_OPTS];
    TCD_CHECK(n_common + mf.n + 1 <= MAX_OPTS);
    memcpy(opts, common, sizeof common);
    for (int i = 0; i < mf.n; i++)
        opts[n_common + i] = (tcd_opt){mf.flag[i], TCD_OPT_STR, &mf.value[i], "V", mf.help[i], 0, 0, NULL};
    memset(&opts[n_common + mf.n], 0, sizeof opts[0]);

    /* the description lists the model kinds of the registry */
    tcd_buf desc = {0};
    tcd_buf_printf(&desc, "%s\n\nmodels (--model KIND; a kind's options apply to it only, defaults by kind in brackets):",
                   DESCRIPTION);
    for (int k = 0; k < tcd_model_n_kinds(); k++)
        tcd_buf_printf(&desc, "\n  %-12s %s", tcd_model_kind_at(k)->name, tcd_model_kind_at(k)->summary);
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse(USAGE, desc.data, opts, argc, argv, &pos, &n_pos);
    tcd_buf_free(&desc);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (n_pos) {
        tcd_error("unexpected argument '%s' (see tcdist train --help)", pos[0]);
        free(pos);
        return TCD_EXIT_USAGE;
    }
    free(pos);
    if (check_combinations(&c) != 0) return TCD_EXIT_USAGE;
    c.kind = tcd_model_kind_find(kind_name);
    void *cfg = NULL;
    if (model_config(c.kind, &mf, &cfg) != 0) return TCD_EXIT_USAGE;
    c.model_cfg = cfg;
    /* from here on a stop signal is a request, honoured at the first step boundary: a SIGUSR1 sent
     * while the data loads (a Slurm job signalled early) must not kill the process */
    tcd_train_install_signals();
    tcd_dist dist;
    tcd_dist_init(&dist, &argc, &argv);
    int rc = tcd_train_run(&c, &dist);
    tcd_dist_finalize(&dist);
    free(cfg);
    return rc;
}
