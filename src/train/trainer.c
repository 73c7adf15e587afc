/* The training loop; see trainer.h. The step reads as a recipe:
 *   next batch -> forward -> backward -> exchange -> finite check -> optimizer -> log / checkpoint / stop
 * and knows no model, exchange or optimizer variant: those live behind models/model.h and
 * train/exchange.h. */
#include "train/trainer.h"

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "data/loader.h"
#include "infer/evaluate.h"
#include "io/checkpoint.h"
#include "io/corpus.h"
#include "io/h5util.h"
#include "io/model_file.h"
#include "tcdist.h"
#include "train/adam.h"
#include "train/exchange.h"
#include "train/faults.h"
#include "train/metrics.h"
#include "train/setup.h"
#include "train/truncation.h"

void tcd_train_config_default(tcd_train_config *c) {
    memset(c, 0, sizeof *c);
    c->schedule = "linear";
    c->exchange = "auto";
    c->loss = "auto";
    c->epochs = 0; /* 0: the corpus rule chooses them (tcd_setup_apply_rule) */
    c->batch = 0;  /* 0: the corpus rule chooses it */
    c->seed = 1;
    c->lr = 0;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-7;
    c->progress_secs = 10;
    c->keep = 3;
    c->checkpoint_secs = 1800;
    c->max_memory_mb = 512;
    c->valid_metric = "accuracy";
}

/* ---- signals ---- */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
    if (sig == SIGINT && stop_signal == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    stop_signal = sig;
}

void tcd_train_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int tcd_train_stop_requested(void) { return stop_signal != 0; }

/* ---- the run's state ---- */

/* The step's numbers that every rank must agree on: summed over ranks by the exchange. */
enum { ST_LOSS, ST_TOKENS, ST_STOP, ST_BAD, ST_LATE, ST_N };

typedef struct {
    const tcd_train_config *c; /* &cfg */
    tcd_train_config cfg;      /* the caller's, with the corpus rule's epochs and lr filled in ... */
    void *model_cfg;           /* ... and model_cfg pointing here: its "auto" values set for the corpus */
    tcd_setup_rule rule;
    const tcd_dist *d;
    int threads;
    tcd_corpus train, valid;
    tcd_loader loader, vloader;
    tcd_loader *vl;  /* what validate reads: vloader (--valid) or loader's held-out part (--valid-split) */
    int64_t vlo, vhi, window_blocks, n_train;
    tcd_model model;
    tcd_adam adam;
    tcd_exchange *xch;
    tcd_flat flat;
    tcd_lr_schedule sched;
    tcd_metrics *mt;
    tcd_fault fault;
    char *cfg_json, *resume_path;
    tcd_ckpt_info resume_info; /* rank 0: the checkpoint resume_path names, verified once */
    tcd_ckpt_state resumed;
    int64_t spe, total_steps;
    /* progress */
    int64_t step, epoch, s, epochs_done, epoch_docs, tokens_total;
    double epoch_loss, final_loss, valid_acc, valid_loss, last_ckpt;
    int stopped_by, late, rc;
    uint64_t *digests;
    /* --early-stop: the best evaluation so far (best: its parameters, rank 0 only) */
    float *best;
    int64_t best_step, bad_evals;
    double best_metric;
    int early_stopped;
} trainer;

/* ---- open ---- */

/* Rank 0 checks everything and finds the checkpoint to resume from; every rank learns the verdict
 * and the path. */
static int preflight(trainer *t) {
    const tcd_train_config *c = t->c;
    int verdict = 0;
    char err[1024];
    if (t->d->rank == 0) {
        verdict = tcd_setup_check(c, &t->train, &t->valid);
        if (verdict == 0) tcd_ckpt_sweep_tmp(c->run_dir); /* what a killed run's writers left */
        /* a run dir that holds checkpoints continues from the newest good one */
        if (verdict == 0 && !c->overwrite && tcd_ckpt_any(c->run_dir)) {
            int found_bad = 0;
            t->resume_path = tcd_ckpt_find_info(c->run_dir, &found_bad, &t->resume_info, err, sizeof err);
            if (!t->resume_path) {
                tcd_error("%s: no checkpoint to resume from verifies: %s (use --overwrite to start over)", c->run_dir,
                          err);
                verdict = -1;
            } else if (tcd_setup_check_resume(c, &t->train, &t->resume_info, t->resume_path) != 0)
                verdict = -1;
        }
    }
    if (tcd_dist_agree(t->d, verdict) != 0) return -1;
    int64_t len = t->resume_path ? (int64_t)strlen(t->resume_path) + 1 : 0;
    tcd_dist_bcast(t->d, &len, sizeof len);
    if (len && !t->resume_path) t->resume_path = tcd_malloc((size_t)len);
    if (len) tcd_dist_bcast(t->d, t->resume_path, len);
    if (t->d->rank != 0) {
        /* rank 0 checked them; a failure here is an I/O problem on this node */
        if (tcd_corpus_open(&t->train, c->data, err, sizeof err) != 0) tcd_die("--data: %s", err);
        if (c->valid && tcd_corpus_open(&t->valid, c->valid, err, sizeof err) != 0) tcd_die("--valid: %s", err);
    }
    return 0;
}

/* --valid-split: the held-out documents are those of tcd_held_out, the same on every rank; rank 0
 * lists them in RUN_DIR/valid_split.txt. Every rank decides the same, so a refusal is everyone's. */
static void hold_out(trainer *t) {
    const tcd_train_config *c = t->c;
    if (t->window_blocks > 0)
        tcd_die("--valid-split is not supported when the corpus is streamed (it exceeds --max-memory %g MB); "
                "raise --max-memory, or prepare a separate --valid corpus",
                c->max_memory_mb);
    t->n_train = tcd_loader_hold_out(&t->loader, c->valid_split);
    const int64_t n_held = t->train.n_docs - t->n_train;
    if (t->n_train == 0 || n_held == 0)
        tcd_die("--valid-split %g of %lld documents leaves %lld to train on and %lld to validate on; both must be "
                "at least 1",
                c->valid_split, (long long)t->train.n_docs, (long long)t->n_train, (long long)n_held);
    t->vl = &t->loader;
    t->vlo = 0;
    t->vhi = t->loader.n_held;
    if (t->d->rank != 0) return;
    tcd_buf b = {0};
    for (int64_t d = 0; d < t->train.n_docs; d++)
        if (tcd_held_out(d, (uint64_t)c->seed, c->valid_split)) tcd_buf_printf(&b, "%lld\n", (long long)d);
    char err[1024];
    char *p = tcd_sprintf("%s/valid_split.txt", c->run_dir);
    if (tcd_write_text_atomic(p, b.data ? b.data : "", err, sizeof err) != 0) tcd_die("%s", err);
    free(p);
    free(b.data);
}

/* Each rank reads only its shard of the training and validation documents. */
static void open_loaders(trainer *t) {
    const tcd_train_config *c = t->c;
    char err[1024];
    int64_t lo, hi;
    tcd_batch_share(t->train.n_docs, t->d->rank, t->d->world, &lo, &hi);
    /* the window size depends on the budget and the corpus only: the same order for any -np */
    t->window_blocks = tcd_stream_window_blocks(&t->train, c->max_memory_mb * 1e6);
    if (t->window_blocks > 0) {
        if (tcd_loader_open_stream(&t->loader, &t->train, lo, hi, (uint64_t)c->seed, !c->no_shuffle,
                                   t->window_blocks, err, sizeof err) != 0)
            tcd_die("%s", err);
    } else if (tcd_loader_open(&t->loader, &t->train, lo, hi, (uint64_t)c->seed, !c->no_shuffle, err, sizeof err) !=
               0)
        tcd_die("%s", err);
    t->n_train = t->train.n_docs;
    if (c->valid) {
        tcd_batch_share(t->valid.n_docs, t->d->rank, t->d->world, &t->vlo, &t->vhi);
        if (tcd_loader_open(&t->vloader, &t->valid, t->vlo, t->vhi, 0, 0, err, sizeof err) != 0) tcd_die("%s", err);
        t->vl = &t->vloader;
    } else if (c->valid_split > 0)
        hold_out(t);
}

/* One-vs-all: the output bias starts at each class's prior log-odds, log(p / (1 - p)) with
 * p = (documents with the class + 1) / (documents + 2), so that training does not first spend its
 * steps pushing every class's probability from 0.5 down to its rate. The counts come from the whole
 * training corpus (its label sets, or /labels), the same on every rank. A kind without a tensor
 * "out.bias" of C rows keeps its initialisation. */
static void ova_prior_bias(trainer *t, float *params) {
    const tcd_tensor *bias = tcd_model_tensor(&t->model, "out.bias");
    const int64_t C = t->model.shape.n_classes, N = t->train.n_docs;
    if (!bias || bias->rows * bias->cols != C) return;
    int64_t *count = tcd_calloc((size_t)C, sizeof(int64_t));
    if (t->loader.has_ml) {
        for (int64_t k = 0; k < t->loader.ml.off[N]; k++) count[t->loader.ml.ids[k]]++;
    } else {
        const int64_t slice = (int64_t)1 << 20;
        int32_t *lab = tcd_malloc(sizeof(int32_t) * (size_t)slice);
        for (int64_t d = 0; d < N; d += slice) {
            const int64_t n = N - d < slice ? N - d : slice;
            if (tcd_corpus_read_labels(&t->train, d, n, lab) != 0) tcd_die("%s: %s", t->train.path, tcd_h5_errmsg());
            for (int64_t i = 0; i < n; i++) count[lab[i]]++;
        }
        free(lab);
    }
    for (int64_t c = 0; c < C; c++) {
        const double p = ((double)count[c] + 1.0) / ((double)N + 2.0);
        params[bias->offset + c] = (float)log(p / (1.0 - p));
    }
    free(count);
}

/* The model, the exchange that owns its buffers, the optimizer bound to them, and the initial
 * state: fresh, or every rank reads the checkpoint. */
static void open_model(trainer *t) {
    const tcd_train_config *c = t->c;
    char err[1024];
    const tcd_model_shape shape = {.n_embeddings = t->train.n_embeddings, .n_classes = t->train.n_classes,
                                   .ova = tcd_setup_ova(c, &t->train)};
    if (tcd_model_build(&t->model, c->kind, c->model_cfg, &shape, (uint64_t)c->seed, err, sizeof err) != 0)
        tcd_die("%s", err);
    tcd_model_set_deterministic(&t->model, c->deterministic);
    const int64_t n = t->model.n_params;
    float *p0 = tcd_aligned_alloc(sizeof(float) * (size_t)n);
    float *m0 = tcd_calloc((size_t)(n ? n : 1), sizeof(float));
    float *v0 = tcd_calloc((size_t)(n ? n : 1), sizeof(float));
    tcd_ckpt_optim o = {.m = m0, .v = v0, .t = 0};
    if (t->resume_path) {
        if (tcd_ckpt_load(t->resume_path, &t->model, p0, &o, &t->resumed, err, sizeof err) != 0) tcd_die("%s", err);
        if (!c->quiet)
            tcd_info("resuming from %s: step %lld (epoch %lld, step %lld of it)", t->resume_path,
                     (long long)t->resumed.step, (long long)t->resumed.epoch + 1, (long long)t->resumed.step_in_epoch);
    } else {
        tcd_model_init_params(&t->model, p0);
        if (t->model.shape.ova) ova_prior_bias(t, p0);
    }
    /* the embedding hand-over needs room for a rank's largest batch (unknown when streaming) */
    const int64_t bag_tokens = tcd_loader_max_batch_tokens(&t->loader, c->batch);
    /* ... and the tokens a step adds to each row, from this rank's shard, to cut the slices by cost */
    double *row_load = NULL;
    if (bag_tokens >= 0 && t->d->world > 1 && tcd_model_has_bag(&t->model)) {
        const int64_t V = t->model.tensors[0].rows;
        const double per_step = (double)c->batch / (double)(t->n_train > 0 ? t->n_train : 1);
        row_load = tcd_calloc((size_t)(V > 0 ? V : 1), sizeof(double));
        for (int64_t i = 0; i < t->loader.n_tokens; i++) row_load[t->loader.tokens[i]] += per_step;
    }
    const tcd_exchange_opts xo = {.kind = c->exchange, .deterministic = c->deterministic, .lazy_adam = c->lazy_adam,
                                  .replicas = c->clip_norm > 0 || c->check_replicas > 0, .quiet = c->quiet,
                                  .bag_docs = bag_tokens >= 0 ? c->batch : 0, .bag_tokens = bag_tokens,
                                  .bag_row_load = row_load};
    t->xch = tcd_exchange_open(&xo, t->d, &t->model, &t->flat, err, sizeof err);
    free(row_load);
    if (!t->xch) tcd_die("%s", err);
    tcd_exchange_load(t->xch, p0, m0, v0);
    free(p0);
    free(m0);
    free(v0);
    tcd_model_bind(&t->model, t->flat.params, t->flat.grads, t->flat.acc);
    if (t->flat.bag_cap > 0) tcd_model_bind_bag(&t->model, t->flat.bag_vec, t->flat.bag_fix, t->flat.bag_cap);
    tcd_adam_config ac;
    tcd_adam_config_default(&ac);
    ac.beta1 = c->beta1;
    ac.beta2 = c->beta2;
    ac.eps = c->eps;
    ac.weight_decay = c->weight_decay;
    ac.clip_norm = c->clip_norm;
    /* --emb-lr is per document and follows the schedule: the batch's mean gradient times the batch */
    const tcd_tensor *t0 = t->model.n_tensors ? &t->model.tensors[0] : NULL;
    if (c->emb_lr > 0 && t0 && t0->sparse_rows) {
        ac.emb_lr_scale = c->emb_lr * (double)c->batch / c->lr;
        ac.emb_end = t0->rows * t0->cols;
    }
    tcd_adam_bind(&t->adam, &ac, n, t->flat.m, t->flat.v);
    t->adam.t = o.t;
}

static void announce(trainer *t) {
    const tcd_train_config *c = t->c;
    if (c->quiet || t->d->rank != 0) return;
    char *desc = tcd_model_config_describe(c->kind, c->model_cfg);
    tcd_info("train: %lld docs, %lld tokens, %lld classes, %lld embeddings, model %s, %lld params | %d ranks x %d "
             "threads%s%s | batch %lld, %lld steps/epoch, %lld steps, lr %g%s%s",
             (long long)t->train.n_docs, (long long)t->train.n_tokens, (long long)t->train.n_classes,
             (long long)t->train.n_embeddings, desc, (long long)t->model.n_params, t->d->world, t->threads,
             t->d->world > 1 ? ", exchange " : "", t->d->world > 1 ? tcd_exchange_name(t->xch) : "",
             (long long)c->batch, (long long)t->spe, (long long)t->total_steps, c->lr,
             t->model.shape.ova ? " | one-vs-all loss" : "", c->deterministic ? " | deterministic" : "");
    free(desc);
    if (t->rule.batch || t->rule.epochs || t->rule.lr) {
        char set[64];
        tcd_setup_rule_names(&t->rule, "--", "", ", ", " and ", set, sizeof set);
        tcd_info("train: %s from the corpus rule (%lld training documents, %lld classes, %lld steps/epoch; see "
                 "docs/training.md#defaults)",
                 set, (long long)t->rule.train_docs, (long long)t->train.n_classes, (long long)t->rule.steps_per_epoch);
    }
    const int64_t max_len = tcd_model_max_len(c->kind, c->model_cfg);
    int64_t n_long = 0;
    char err[1024];
    if (max_len > 0) {
        if (tcd_corpus_count_longer(&t->train, max_len, &n_long, err, sizeof err) != 0) tcd_die("%s", err);
        tcd_info("train: --max-len %lld truncates %lld of the %lld training documents (%.2f%%)", (long long)max_len,
                 (long long)n_long, (long long)t->train.n_docs,
                 t->train.n_docs ? 100.0 * (double)n_long / (double)t->train.n_docs : 0.0);
    }
    if (t->window_blocks > 0)
        tcd_info("train: the corpus exceeds --max-memory %g MB: streaming it in windows of %lld blocks of %d "
                 "documents",
                 c->max_memory_mb, (long long)t->window_blocks, TCD_BLOCK_DOCS);
}

/* config.json, metrics.jsonl, the start line and --save-init. */
static void open_outputs(trainer *t) {
    const tcd_train_config *c = t->c;
    char err[1024];
    t->cfg_json = tcd_setup_config_json(c, &t->rule, tcd_exchange_name(t->xch), &t->train, t->d->world, t->threads);
    if (t->d->rank == 0) {
        char *p = tcd_sprintf("%s/config.json", c->run_dir);
        char *text = tcd_sprintf("%s\n", t->cfg_json);
        if (tcd_write_text_atomic(p, text, err, sizeof err) != 0) tcd_die("%s", err);
        free(p);
        free(text);
    }
    const int64_t log_every = c->log_every > 0 ? c->log_every : (t->total_steps >= 100 ? t->total_steps / 100 : 1);
    /* Open MPI forwards rank 0's output through a pseudo-terminal: under a launcher, isatty()
     * says yes even when the output goes to a file, so only a lone process rewrites its line */
    const tcd_metrics_opts mo = {.run_dir = c->run_dir, .resumed_text = t->resumed.metrics, .quiet = c->quiet,
                                 .tty = !c->quiet && !t->d->mpi && isatty(STDOUT_FILENO),
                                 .progress_secs = c->progress_secs, .epochs = c->epochs,
                                 .total_steps = t->total_steps, .log_every = log_every, .step0 = t->resumed.step,
                                 .tokens0 = t->resumed.tokens_total, .elapsed0 = t->resumed.elapsed_s};
    t->mt = tcd_metrics_open(&mo, t->d, err, sizeof err);
    if (!t->mt) tcd_die("%s", err);
    announce(t);
    if (t->d->rank == 0 && c->save_init) {
        char *p = tcd_sprintf("%s/init.h5", c->run_dir);
        if (tcd_model_save(p, &t->model, 0, &t->train, t->cfg_json, err, sizeof err) != 0) tcd_die("%s", err);
        free(p);
    }
}

/* A resumed run keeps the batch, epochs and lr its checkpoint began with where the corpus rule
 * would now choose otherwise (tcd_setup_keep_resumed; rank 0 decides, every rank follows). */
static void keep_resumed(trainer *t) {
    char note[512] = "";
    if (t->d->rank == 0) tcd_setup_keep_resumed(&t->cfg, &t->rule, &t->resume_info, note, sizeof note);
    tcd_dist_bcast(t->d, &t->cfg.batch, sizeof t->cfg.batch);
    tcd_dist_bcast(t->d, &t->cfg.epochs, sizeof t->cfg.epochs);
    tcd_dist_bcast(t->d, &t->cfg.lr, sizeof t->cfg.lr);
    tcd_dist_bcast(t->d, &t->rule, sizeof t->rule);
    if (t->d->rank != 0) return;
    if (note[0]) tcd_warn("resuming with %s", note);
    /* flags given on the resuming command win; say where they change the run */
    tcd_setup_resume_changes(&t->cfg, &t->resume_info, note, sizeof note);
    if (note[0])
        tcd_warn("resuming with settings that differ from the checkpoint's run: %s; the run will not match an "
                 "uninterrupted one",
                 note);
}

static int open_run(trainer *t) {
    if (tcd_fault_parse(&t->fault) != 0) return TCD_EXIT_USAGE;
    t->train.file = t->valid.file = -1;
    if (preflight(t) != 0) return TCD_EXIT_ERROR;
    open_loaders(t);
    tcd_setup_apply_rule(&t->cfg, t->n_train, t->train.n_classes, tcd_setup_ova(&t->cfg, &t->train), &t->rule);
    if (t->resume_path) keep_resumed(t);
    t->model_cfg = tcd_setup_model_cfg(&t->cfg, &t->train);
    t->cfg.model_cfg = t->model_cfg;
    open_model(t);
    const tcd_train_config *c = t->c;
    t->spe = tcd_steps_per_epoch(t->n_train, c->batch);
    t->total_steps = t->spe * c->epochs;
    if (c->max_steps > 0 && c->max_steps < t->total_steps) t->total_steps = c->max_steps;
    /* the checkpoint's counters are in range (tcd_ckpt_load); inside an epoch of this run is checked
     * here, where its length is known (the same on every rank) */
    if (t->resume_path && t->resumed.step_in_epoch >= t->spe)
        tcd_die("%s: damaged checkpoint: step_in_epoch %lld, but an epoch has %lld steps", t->resume_path,
                (long long)t->resumed.step_in_epoch, (long long)t->spe);
    t->sched = (tcd_lr_schedule){.kind = (tcd_lr_kind)tcd_lr_kind_parse(c->schedule), .lr = c->lr,
                                 .warmup = c->warmup, .total_steps = t->total_steps, .min_lr = c->min_lr};
    open_outputs(t);
    t->step = t->resumed.step;
    t->tokens_total = t->resumed.tokens_total;
    t->epoch_loss = t->resumed.epoch_loss;
    t->epoch_docs = t->resumed.epoch_docs;
    t->final_loss = t->valid_acc = t->valid_loss = NAN;
    t->best_step = -1;
    if (c->early_stop > 0 && t->d->rank == 0)
        t->best = tcd_malloc(sizeof(float) * (size_t)(t->model.n_params ? t->model.n_params : 1));
    if (c->early_stop > 0 && t->resumed.best) {
        if (t->best) memcpy(t->best, t->resumed.best, sizeof(float) * (size_t)t->model.n_params);
        t->best_step = t->resumed.best_step;
        t->bad_evals = t->resumed.bad_evals;
        t->best_metric = t->resumed.best_metric;
        /* stopped, then killed before model.h5 (the last step's evaluation stops nothing: see judge) */
        t->early_stopped = t->bad_evals >= c->early_stop && t->resumed.step < t->total_steps;
    }
    t->last_ckpt = tcd_now();
    t->digests = tcd_malloc(sizeof(uint64_t) * (size_t)t->d->world);
    return TCD_EXIT_OK;
}

/* ---- checkpoints ---- */

/* Rank 0 writes a checkpoint of the state after `step` steps, the next step being step_in_epoch
 * of epoch `epoch`. Returns 0, or -1 (message printed; the previous checkpoint is kept). */
static int save_checkpoint(trainer *t, int64_t epoch, int64_t step_in_epoch, double epoch_loss, int64_t epoch_docs) {
    const tcd_ckpt_state st = {.step = t->step, .epoch = epoch, .step_in_epoch = step_in_epoch,
                               .seed = (uint64_t)t->c->seed, .epoch_loss = epoch_loss, .epoch_docs = epoch_docs,
                               .tokens_total = t->tokens_total, .elapsed_s = tcd_metrics_elapsed(t->mt),
                               .metrics = (char *)tcd_metrics_text(t->mt), .best = t->best,
                               .best_step = t->best_step, .bad_evals = t->bad_evals, .best_metric = t->best_metric};
    const tcd_ckpt_optim o = {.m = t->flat.m, .v = t->flat.v, .t = t->adam.t};
    char err[1024];
    int rc = tcd_ckpt_save(t->c->run_dir, t->c->keep, &t->model, &o, &st, &t->train, t->cfg_json, err, sizeof err);
    if (rc != 0)
        tcd_error("checkpoint at step %lld failed: %s (the previous checkpoint is kept)", (long long)t->step, err);
    t->last_ckpt = tcd_now();
    return rc;
}

/* ---- the step ---- */

/* A NaN or an Inf stops the run (or, with --skip-nonfinite, skips the batch) before the update.
 * Each rank checks its own gradients before the exchange and the verdict is summed with the
 * step's stats, so every rank decides the same. Returns 1 when the batch is to be skipped. */
static int nonfinite(trainer *t, const double *stats, const char *bad_tensor) {
    if (isfinite(stats[ST_LOSS]) && stats[ST_BAD] == 0) return 0;
    const char *what = bad_tensor ? bad_tensor : stats[ST_BAD] > 0 ? "(another rank's)" : "loss";
    const char *grad = bad_tensor || stats[ST_BAD] > 0 ? " gradient" : "";
    if (!t->c->skip_nonfinite)
        tcd_die("non-finite %s%s at step %lld (epoch %lld, loss %g): stopped before the update; lower --lr, set "
                "--clip-norm, or --skip-nonfinite",
                what, grad, (long long)t->step, (long long)t->epoch + 1, stats[ST_LOSS]);
    if (t->d->rank == 0)
        tcd_warn("non-finite %s%s at step %lld: batch skipped (--skip-nonfinite)", what, grad, (long long)t->step);
    tcd_exchange_discard(t->xch, t->threads);
    return 1;
}

/* --check-replicas: every K steps every rank's parameters must hash alike. */
static void check_replicas(trainer *t) {
    const int64_t k = t->c->check_replicas;
    if (k <= 0 || (t->step + 1) % k != 0) return;
    /* a cheap 64-bit digest (FNV-1a over the float bits; not cryptographic) */
    const uint32_t *w = (const uint32_t *)t->model.params;
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < t->model.n_params; i++) h = (h ^ w[i]) * 1099511628211ull;
    tcd_dist_allgather_u64(t->d, h, t->digests);
    for (int r = 1; r < t->d->world; r++)
        if (t->digests[r] != t->digests[0])
            tcd_die("--check-replicas: after step %lld the parameters of rank %d differ from rank 0's",
                    (long long)t->step + 1, r);
}

static void validate(trainer *t);

/* After the update: metrics, progress, and a checkpoint at the step boundary when one is due (a
 * stop signal on any rank stops all of them here). Returns 1 when the run must stop now. */
static int after_step(trainer *t, const double *stats, int64_t n_global, const tcd_batch *b, double lr) {
    const tcd_train_config *c = t->c;
    const int64_t tokens_local = b->n ? b->offsets[b->n] - b->offsets[0] : 0;
    tcd_metrics_step(t->mt, stats[ST_LOSS], n_global, (int64_t)stats[ST_TOKENS], b->n, tokens_local,
                     tcd_exchange_bytes(t->xch));
    t->epoch_loss += stats[ST_LOSS];
    t->epoch_docs += n_global;
    t->tokens_total += (int64_t)stats[ST_TOKENS];
    const int last = t->s == t->spe - 1 || t->step + 1 == t->total_steps;
    tcd_metrics_log(t->mt, t->step + 1, t->epoch, lr, last);
    tcd_metrics_progress(t->mt, t->epoch, t->step + 1, t->epoch_loss / (double)t->epoch_docs, t->tokens_total, last);
    if (stats[ST_STOP] > 0 && !t->stopped_by) t->stopped_by = stop_signal ? (int)stop_signal : SIGUSR1;
    if (stats[ST_LATE] > 0 && !t->stopped_by) {
        t->stopped_by = SIGUSR1; /* stops as a signal would, but says why (finish) */
        t->late = 1;
    }
    /* the end of an epoch and of the run are handled by end_epoch */
    const int due = t->stopped_by || (c->checkpoint_every > 0 && (t->step + 1) % c->checkpoint_every == 0) ||
                    (c->checkpoint_secs > 0 && tcd_now() - t->last_ckpt >= c->checkpoint_secs);
    t->step++;
    t->s++;
    if (!last && t->vl && c->valid_every > 0 && t->step % c->valid_every == 0) {
        validate(t);
        if (t->early_stopped) {
            /* the run ends inside this epoch (a stop signal too): model.h5 is next, no checkpoint needed */
            t->stopped_by = t->late = 0;
            t->epochs_done = t->epoch + 1;
            t->final_loss = t->epoch_loss / (double)t->epoch_docs;
            return 1;
        }
    }
    if (!last && due && t->d->rank == 0 && !c->no_checkpoint) {
        if (save_checkpoint(t, t->epoch, t->s, t->epoch_loss, t->epoch_docs) != 0 && t->stopped_by)
            t->rc = TCD_EXIT_ERROR;
        tcd_metrics_phase(t->mt, TCD_PH_CKPT);
    }
    return t->stopped_by && !last;
}

/* One global step. Returns 1 when the run must stop after it. */
static int train_step(trainer *t) {
    tcd_metrics_mark(t->mt);
    tcd_batch b;
    int64_t n_global;
    tcd_loader_batch(&t->loader, t->epoch, t->s, t->c->batch, &b, &n_global);
    tcd_fault_before_step(&t->fault, t->d->rank, t->step);
    tcd_metrics_phase(t->mt, TCD_PH_DATA);

    const double lr = tcd_lr_at(&t->sched, t->step);
    double stats[ST_N] = {0, b.n ? (double)(b.offsets[b.n] - b.offsets[0]) : 0.0, 0, 0, 0};
    const int hand_over = tcd_exchange_begin_step(t->xch);
    if (t->flat.bag_cap > 0) tcd_model_hand_over(&t->model, hand_over);
    if (b.n > 0) {
        tcd_model_set_training(&t->model, 1, t->step);
        stats[ST_LOSS] = tcd_model_forward(&t->model, &b, NULL, t->threads);
        tcd_metrics_phase(t->mt, TCD_PH_FORWARD);
        tcd_model_backward(&t->model, &b, (float)(1.0 / (double)n_global), t->threads);
    }
    tcd_fault_after_backward(&t->fault, t->d->rank, t->step, &stats[ST_LOSS], &t->model);
    const char *bad_tensor = tcd_model_nonfinite_grad(&t->model);
    stats[ST_BAD] = bad_tensor ? 1.0 : 0.0;
    stats[ST_STOP] = stop_signal ? 1.0 : 0.0;
    stats[ST_LATE] = t->c->deadline > 0 && tcd_now() >= t->c->deadline ? 1.0 : 0.0;
    tcd_metrics_phase(t->mt, TCD_PH_BACKWARD);

    tcd_exchange_reduce(t->xch, &b, stats, ST_N, t->threads);
    tcd_metrics_phase(t->mt, TCD_PH_COMM);

    if (!nonfinite(t, stats, bad_tensor)) tcd_exchange_apply(t->xch, &t->adam, lr, t->threads);
    tcd_fault_after_update(&t->fault, t->d->rank, t->step, &t->model);
    check_replicas(t);
    tcd_metrics_phase(t->mt, TCD_PH_OPTIM);
    return after_step(t, stats, n_global, &b, lr);
}

/* ---- the end of an epoch ---- */

/* --early-stop: the evaluation (the same sums on every rank, so every rank decides the same)
 * improves on the best one or counts against the patience. Rank 0 keeps the best parameters. */
static void judge(trainer *t, const tcd_eval_counts *ec) {
    const tcd_train_config *c = t->c;
    const int lower = !strcmp(c->valid_metric, "loss");
    const double m = lower                                 ? tcd_eval_loss(ec)
                     : !strcmp(c->valid_metric, "macro_f1") ? tcd_eval_macro_f1(ec)
                                                            : tcd_eval_accuracy(ec);
    if (t->best_step < 0 || (lower ? m < t->best_metric : m > t->best_metric)) {
        t->best_metric = m;
        t->best_step = t->step;
        t->bad_evals = 0;
        if (t->best) memcpy(t->best, t->model.params, sizeof(float) * (size_t)t->model.n_params);
    } else if (++t->bad_evals >= c->early_stop && t->step < t->total_steps) {
        /* (the run's last evaluation stops nothing: every step has been trained) */
        t->early_stopped = 1;
        if (!c->quiet && t->d->rank == 0)
            tcd_info("early stop after step %lld: valid %s has not improved on %.6f (step %lld) for %lld evaluations",
                     (long long)t->step, c->valid_metric, t->best_metric, (long long)t->best_step,
                     (long long)t->bad_evals);
    }
}

/* Each rank evaluates its shard of the validation set; the counts are summed, so every document
 * is counted exactly once. */
static void validate(trainer *t) {
    tcd_model_set_training(&t->model, 0, 0);
    tcd_eval_counts ec;
    tcd_eval_counts_init(&ec, t->train.n_classes);
    /* multi-label counts on every rank alike (a rank may hold no validation documents) */
    if (t->model.shape.ova || t->vl->has_ml) tcd_eval_counts_multi(&ec, 0.5, 5);
    tcd_evaluate_range(&t->model, t->vl, 0, t->vhi - t->vlo, 1024, t->threads, &ec);
    tcd_dist_sum_i64(t->d, ec.confusion, ec.n_classes * ec.n_classes);
    if (ec.ml) tcd_dist_sum_i64(t->d, ec.ml, ec.ml_len);
    tcd_dist_sum_i64(t->d, &ec.n_docs, 1);
    tcd_dist_sum_f64(t->d, &ec.loss_sum, 1);
    t->valid_acc = tcd_eval_accuracy(&ec);
    t->valid_loss = tcd_eval_loss(&ec);
    int64_t correct = 0;
    for (int64_t k = 0; k < ec.n_classes; k++) correct += ec.confusion[k * ec.n_classes + k];
    if (ec.ml) correct = ec.ml[3 * ec.n_classes]; /* multi-label: hits@1 (valid accuracy is P@1) */
    tcd_metrics_valid(t->mt, t->step, t->epoch, t->valid_loss, t->valid_acc, ec.n_docs, correct);
    if (t->c->early_stop > 0) judge(t, &ec);
    tcd_eval_counts_free(&ec);
}

/* The end of an epoch (or of a --max-steps run inside one): validation, a line, a checkpoint. */
static void end_epoch(trainer *t) {
    const tcd_train_config *c = t->c;
    t->epochs_done = t->epoch + 1;
    t->final_loss = t->epoch_loss / (double)t->epoch_docs;
    if (t->vl) validate(t);
    if (!c->quiet && t->d->rank == 0) {
        tcd_metrics_progress_end(t->mt);
        if (t->vl)
            printf("epoch %lld/%lld done: train loss %.4f, valid loss %.4f, valid accuracy %.4f\n",
                   (long long)t->epoch + 1, (long long)c->epochs, t->final_loss, t->valid_loss, t->valid_acc);
        else
            printf("epoch %lld/%lld done: train loss %.4f\n", (long long)t->epoch + 1, (long long)c->epochs,
                   t->final_loss);
        fflush(stdout);
    }
    if (t->d->rank == 0 && !c->no_checkpoint) {
        const int whole = t->s == t->spe;
        const double tc = tcd_now();
        if (save_checkpoint(t, whole ? t->epoch + 1 : t->epoch, whole ? 0 : t->s, whole ? 0.0 : t->epoch_loss,
                            whole ? 0 : t->epoch_docs) != 0 &&
            (t->stopped_by || t->step == t->total_steps))
            t->rc = TCD_EXIT_ERROR;
        tcd_metrics_add_total(t->mt, TCD_PH_CKPT, tcd_now() - tc);
    }
}

/* ---- finish ---- */

static void finish(trainer *t) {
    const tcd_train_config *c = t->c;
    char err[1024];
    if (t->stopped_by) {
        /* stopped by a signal: the checkpoint is the result; no model.h5 yet */
        if (t->d->rank == 0 && t->rc == TCD_EXIT_OK && t->late && !c->quiet)
            tcd_info("stopped at the deadline after step %lld; checkpoint in %s/checkpoints", (long long)t->step,
                     c->run_dir);
        else if (t->d->rank == 0 && t->rc == TCD_EXIT_OK && !t->late)
            tcd_info("stopped by signal %d after step %lld; checkpoint in %s/checkpoints; run the same command to "
                     "resume (exit status %d)",
                     t->stopped_by, (long long)t->step, c->run_dir, TCD_EXIT_INTERRUPTED);
        if (t->rc == TCD_EXIT_OK) t->rc = TCD_EXIT_INTERRUPTED;
        return;
    }
    if (t->d->rank != 0) return;
    char *model_path = tcd_sprintf("%s/model.h5", c->run_dir);
    /* --early-stop: model.h5 is the best evaluation's parameters (the live ones stay untouched) */
    float *live = t->model.params;
    const int use_best = t->best && t->best_step >= 0;
    if (use_best) t->model.params = t->best;
    if (tcd_model_save(model_path, &t->model, use_best ? t->best_step : t->step, &t->train, t->cfg_json, err,
                       sizeof err) != 0) {
        tcd_error("%s", err);
        t->rc = TCD_EXIT_ERROR;
    }
    tcd_run_summary sum = {.steps = t->step, .epochs = t->epochs_done, .tokens_total = t->tokens_total,
                           .final_loss = t->final_loss, .valid_acc = t->valid_acc, .valid_loss = t->valid_loss,
                           .have_valid = t->vl != NULL, .world = t->d->world, .threads = t->threads};
    sum.early_stop = c->early_stop > 0;
    sum.valid_metric = c->valid_metric;
    sum.best_step = t->best_step;
    sum.best_metric = t->best_metric;
    sum.stopped_early = t->early_stopped;
    tcd_params_sha256(&t->model, sum.params_sha256);
    t->model.params = live;
    char *text = tcd_metrics_summary(t->mt, &sum);
    char *summary_path = tcd_sprintf("%s/summary.json", c->run_dir);
    if (tcd_write_text_atomic(summary_path, text, err, sizeof err) != 0) {
        tcd_error("%s", err);
        t->rc = TCD_EXIT_ERROR;
    }
    if (!c->quiet && t->rc == TCD_EXIT_OK) {
        const double secs = tcd_metrics_elapsed(t->mt);
        tcd_info("trained %lld steps in %.2f s (%.2fM tokens/s); model: %s", (long long)t->step, secs,
                 (double)t->tokens_total / secs / 1e6, model_path);
        tcd_metrics_print_phases(t->mt, t->tokens_total);
    }
    free(text);
    free(summary_path);
    free(model_path);
}

static void close_run(trainer *t) {
    tcd_metrics_close(t->mt);
    tcd_exchange_close(t->xch); /* collective for shared */
    tcd_adam_free(&t->adam);
    tcd_model_free(&t->model);
    tcd_loader_free(&t->loader);
    if (t->c->valid) tcd_loader_free(&t->vloader);
    if (t->train.file >= 0) tcd_corpus_close(&t->train);
    if (t->valid.file >= 0) tcd_corpus_close(&t->valid);
    tcd_ckpt_state_free(&t->resumed);
    free(t->resume_path);
    tcd_ckpt_info_free(&t->resume_info);
    free(t->cfg_json);
    free(t->model_cfg);
    free(t->digests);
    free(t->best);
}

int tcd_train_run(const tcd_train_config *c, const tcd_dist *d) { return tcd_train_run_result(c, d, NULL); }

static void result(const trainer *t, tcd_train_result *res) {
    if (!res) return;
    *res = (tcd_train_result){.steps = t->step, .epochs = t->epochs_done, .best_metric = NAN,
                              .valid_acc = t->valid_acc, .valid_loss = t->valid_loss,
                              .seconds = tcd_metrics_elapsed(t->mt), .stopped_early = t->early_stopped,
                              .late = t->late};
    if (t->best_step >= 0) res->best_metric = t->best_metric;
}

int tcd_train_run_result(const tcd_train_config *c, const tcd_dist *d, tcd_train_result *res) {
    trainer t = {.cfg = *c, .d = d};
    t.c = &t.cfg;
    if (res) *res = (tcd_train_result){.best_metric = NAN, .valid_acc = NAN, .valid_loss = NAN};
    t.threads = c->threads > 0 ? (int)c->threads : omp_get_max_threads();
    omp_set_num_threads(t.threads);
    int rc = open_run(&t);
    if (rc != TCD_EXIT_OK) {
        free(t.resume_path);
        tcd_ckpt_info_free(&t.resume_info);
        free(t.model_cfg);
        if (t.train.file >= 0) tcd_corpus_close(&t.train);
        if (t.valid.file >= 0) tcd_corpus_close(&t.valid);
        return rc;
    }
    for (t.epoch = t.resumed.epoch; t.epoch < t.cfg.epochs && t.step < t.total_steps && !t.stopped_by && !t.early_stopped;
         t.epoch++) {
        if (t.epoch != t.resumed.epoch) {
            t.epoch_loss = 0;
            t.epoch_docs = 0;
        }
        t.s = t.epoch == t.resumed.epoch ? t.resumed.step_in_epoch : 0;
        int stop = 0;
        while (!stop && t.s < t.spe && t.step < t.total_steps) stop = train_step(&t);
        if (stop) break; /* stopped inside the epoch: its checkpoint is written */
        end_epoch(&t);
    }
    tcd_metrics_stop_clock(t.mt);
    finish(&t);
    rc = tcd_dist_agree(d, t.rc);
    result(&t, res);
    close_run(&t);
    return rc;
}
