/* tcdist train: the training loop. Each rank takes its share of every global batch, the gradient
 * sums are added over ranks (dist.c), divided by the global batch size, and every rank applies the
 * same Adam step. Alone (no mpirun) it is one rank with OpenMP threads. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <stdarg.h>
#include <unistd.h>

#include "train/adam.h"
#include "io/checkpoint.h"
#include "cli/args.h"
#include "io/corpus.h"
#include "train/dist.h"
#include "infer/evaluate.h"
#include "train/exchange.h"
#include "data/loader.h"
#include "models/model.h"
#include "io/model_file.h"
#include "tcdist.h"
#include "base/util.h"

typedef struct {
    const char *data, *valid, *run_dir, *model_kind, *schedule;
    int64_t dim, hidden, epochs, batch, seed, threads, warmup, log_every, max_steps;
    double lr, min_lr, beta1, beta2, eps, weight_decay, clip_norm, progress_secs;
    int no_shuffle, overwrite, quiet, save_init, deterministic, lazy_adam, resume, force, skip_nonfinite, no_checkpoint;
    const char *exchange;
    int64_t check_replicas, checkpoint_every, keep;
    double checkpoint_secs, max_memory_mb;
} train_opts;

static const char *USAGE =
    "tcdist train --data TRAIN.h5 [--valid VALID.h5] --run-dir DIR [--model bow] [--dim N] [--hidden N]\n"
    "                    [--epochs N] [--batch N] [--lr X] [--seed N] [--threads N] [options]";
static const char *DESCRIPTION =
    "Trains Embedding -> mean -> Dense(hidden, relu) -> Dense(1, sigmoid) (2 classes) or Dense(C, softmax)\n"
    "with Adam. --batch is the GLOBAL batch: under mpirun each rank takes its share of every batch and the\n"
    "gradients are averaged over all ranks before each step. Writes DIR/config.json, DIR/metrics.jsonl,\n"
    "DIR/summary.json and DIR/model.h5 (what eval and predict read).";

/* The run's settings as JSON, written to config.json and stored in the model. */
static char *config_json(const train_opts *o, const char *exchange, const tcd_corpus *c, int world, int threads) {
    tcd_buf b = {0};
    tcd_buf_printf(&b, "{\"data\": ");
    tcd_buf_json_string(&b, o->data, strlen(o->data));
    tcd_buf_printf(&b, ", \"valid\": ");
    if (o->valid)
        tcd_buf_json_string(&b, o->valid, strlen(o->valid));
    else
        tcd_buf_printf(&b, "null");
    tcd_buf_printf(&b, ", \"data_content_sha256\": \"%s\", \"model\": \"%s\", \"dim\": %lld, \"hidden\": %lld, "
                       "\"n_classes\": %lld, \"n_embeddings\": %lld, \"epochs\": %lld, \"batch\": %lld, "
                       "\"lr\": %.9g, \"schedule\": \"%s\", \"warmup\": %lld, \"min_lr\": %.9g, \"beta1\": %.9g, "
                       "\"beta2\": %.9g, \"eps\": %.9g, \"weight_decay\": %.9g, \"clip_norm\": %.9g, "
                       "\"seed\": %lld, \"shuffle\": %s, \"max_steps\": %lld, \"deterministic\": %s, "
                       "\"exchange\": \"%s\", \"lazy_adam\": %s, \"max_memory_mb\": %g, \"world\": %d, \"threads\": %d, "
                       "\"version\": \"%s\"}",
                   c->content_sha256, o->model_kind, (long long)o->dim, (long long)o->hidden,
                   (long long)c->n_classes, (long long)c->n_embeddings, (long long)o->epochs, (long long)o->batch,
                   o->lr, o->schedule, (long long)o->warmup, o->min_lr, o->beta1, o->beta2, o->eps,
                   o->weight_decay, o->clip_norm, (long long)o->seed, o->no_shuffle ? "false" : "true",
                   (long long)o->max_steps, o->deterministic ? "true" : "false", exchange,
                   o->lazy_adam ? "true" : "false", o->max_memory_mb, world, threads, TCDIST_VERSION);
    return b.data;
}

static int write_text_atomic(const char *path, const char *text, char *err, size_t errlen) {
    char *tmp = tcd_tmp_path_for(path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && tcd_commit_file(tmp, path) != 0) ok = 0;
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write (%s)", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

/* Everything that can be checked before step 0, on rank 0. Returns 0 or -1 (message printed). */
static int validate(const train_opts *o, tcd_corpus *train, tcd_corpus *valid) {
    char err[1024];
    if (strcmp(o->model_kind, "bow") != 0) {
        tcd_error("--model %s: only 'bow' exists in this version", o->model_kind);
        return -1;
    }
    if (tcd_corpus_open(train, o->data, err, sizeof err) != 0) {
        tcd_error("--data: %s", err);
        return -1;
    }
    if (train->n_docs == 0) {
        tcd_error("--data %s: the corpus has no documents", o->data);
        return -1;
    }
    if (train->n_classes < 2) {
        tcd_error("--data %s: %lld class(es); a classifier needs at least 2", o->data, (long long)train->n_classes);
        return -1;
    }
    if (o->valid) {
        if (tcd_corpus_open(valid, o->valid, err, sizeof err) != 0) {
            tcd_error("--valid: %s", err);
            return -1;
        }
        if (strcmp(valid->vocab_sha256, train->vocab_sha256) != 0 || valid->n_buckets != train->n_buckets ||
            valid->n_classes != train->n_classes) {
            tcd_error("--valid %s was not prepared with the vocabulary and labels of %s; "
                      "prepare it with: tcdist prepare --vocab %s ...",
                      o->valid, o->data, o->data);
            return -1;
        }
    }
    if (tcd_mkdir_p(o->run_dir) != 0) {
        tcd_error("--run-dir %s: cannot create the folder (%s)", o->run_dir, strerror(errno));
        return -1;
    }
    char *probe = tcd_sprintf("%s/.write-test.%ld", o->run_dir, (long)getpid());
    FILE *f = fopen(probe, "w");
    int writable = f && fputs("ok\n", f) >= 0;
    if (f && fclose(f) != 0) writable = 0;
    unlink(probe);
    free(probe);
    if (!writable) {
        tcd_error("--run-dir %s: not writable (%s)", o->run_dir, strerror(errno));
        return -1;
    }
    char *model_path = tcd_sprintf("%s/model.h5", o->run_dir);
    int exists = tcd_file_exists(model_path);
    free(model_path);
    if (exists && !o->overwrite) {
        tcd_error("--run-dir %s already holds a trained model.h5; use another --run-dir, or --overwrite", o->run_dir);
        return -1;
    }
    if (o->overwrite && tcd_ckpt_remove_all(o->run_dir) != 0) {
        tcd_error("--run-dir %s: cannot remove the old checkpoints (%s)", o->run_dir, strerror(errno));
        return -1;
    }
    if (!o->no_checkpoint) {
        /* a checkpoint holds the parameters and Adam's m and v (float32 each) and the vocabulary;
         * the final model.h5 a third of that: refuse now rather than fail at the first write */
        const int64_t O = train->n_classes == 2 ? 1 : train->n_classes, in = o->hidden > 0 ? o->hidden : o->dim;
        const double n_params = (double)train->n_embeddings * (double)o->dim +
                                (o->hidden > 0 ? (double)o->hidden * (double)(o->dim + 1) : 0.0) + (double)O * (double)(in + 1);
        const double need = 4.0 * 4.0 * n_params + 64.0 * (double)train->vocab_size + (1 << 20);
        struct statvfs vfs;
        if (statvfs(o->run_dir, &vfs) == 0 && (double)vfs.f_bavail * (double)vfs.f_frsize < need) {
            tcd_error("--run-dir %s: %.1f MB free, but a checkpoint and the model need about %.1f MB "
                      "(free some space, use another --run-dir, or --no-checkpoint)",
                      o->run_dir, (double)vfs.f_bavail * (double)vfs.f_frsize / 1e6, need / 1e6);
            return -1;
        }
    }
    if (o->resume && !tcd_ckpt_any(o->run_dir)) {
        tcd_error("--resume: %s/checkpoints holds no checkpoint to resume from", o->run_dir);
        return -1;
    }
    return 0;
}

/* Resume checks (rank 0): the checkpoint must come from the same data, vocabulary and model shape,
 * unless --force. Differences in other settings only break bit-exactness: a warning. */
static int check_resume(const train_opts *o, const tcd_corpus *train, const char *path) {
    char err[1024];
    tcd_ckpt_info info;
    if (tcd_ckpt_read_info(path, &info, err, sizeof err) != 0) {
        tcd_error("%s", err);
        return -1;
    }
    char why[512] = "";
    if (strcmp(info.data_sha256, train->content_sha256) != 0)
        snprintf(why, sizeof why, "the training data differs (content_sha256 %.12s... in the checkpoint, %.12s... in %s)",
                 info.data_sha256, train->content_sha256, o->data);
    else if (strcmp(info.vocab_sha256, train->vocab_sha256) != 0)
        snprintf(why, sizeof why, "the vocabulary differs");
    else if (info.dim != o->dim || info.hidden != o->hidden || info.n_classes != train->n_classes ||
             info.n_embeddings != train->n_embeddings)
        snprintf(why, sizeof why,
                 "the model's shape differs (checkpoint: dim %lld, hidden %lld, %lld classes, %lld embeddings; "
                 "now: dim %lld, hidden %lld, %lld classes, %lld embeddings)",
                 (long long)info.dim, (long long)info.hidden, (long long)info.n_classes, (long long)info.n_embeddings,
                 (long long)o->dim, (long long)o->hidden, (long long)train->n_classes, (long long)train->n_embeddings);
    int rc = 0;
    if (why[0]) {
        if (o->force)
            tcd_warn("resuming from %s although %s (--force)", path, why);
        else {
            tcd_error("refusing to resume from %s: %s. Use --overwrite to start a new run in this dir, or --force "
                      "if you know why",
                      path, why);
            rc = -1;
        }
    }
    tcd_ckpt_info_free(&info);
    return rc;
}

static void fmt_duration(char *out, size_t n, double s) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_rate(char *out, size_t n, double r) {
    if (r >= 1e6)
        snprintf(out, n, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(out, n, "%.1fk", r / 1e3);
    else
        snprintf(out, n, "%.0f", r);
}

/* Fault injection for the tests: TCDIST_FAULT="kill:R:S" makes rank R kill itself (SIGKILL) at
 * step S, "exit:R:S" exit with status 5 without finalising MPI, "perturb:R:S" nudge one of its parameters after
 * the update of step S (so that --check-replicas must notice), "signal:R:S" send itself SIGUSR1 before
 * step S, "nan:R:S" make its loss and gradients NaN at step S; "killwrite:0:N" (checkpoint.c) kills
 * the writer in the middle of its N-th checkpoint. */
typedef struct {
    char kind[16];
    int rank;
    long long step;
} fault_spec;

static int parse_fault(fault_spec *f) {
    const char *s = getenv("TCDIST_FAULT");
    memset(f, 0, sizeof *f);
    f->rank = -1;
    if (!s || !*s) return 0;
    if (sscanf(s, "%15[a-z]:%d:%lld", f->kind, &f->rank, &f->step) != 3 ||
        (strcmp(f->kind, "kill") && strcmp(f->kind, "exit") && strcmp(f->kind, "perturb") &&
         strcmp(f->kind, "signal") && strcmp(f->kind, "nan") && strcmp(f->kind, "killwrite"))) {
        tcd_error("TCDIST_FAULT='%s': expected KIND:RANK:STEP with KIND one of kill, exit, perturb, signal, nan, "
                  "killwrite",
                  s);
        return -1;
    }
    if (!strcmp(f->kind, "killwrite")) f->rank = -1; /* checkpoint.c handles it */
    return 0;
}

/* A cheap 64-bit digest of the parameters for --check-replicas (not cryptographic). */
static uint64_t params_digest(const float *p, int64_t n) {
    const uint32_t *w = (const uint32_t *)p;
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; i++) h = (h ^ w[i]) * 1099511628211ull;
    return h;
}

/* Signals: SIGUSR1, SIGTERM and SIGINT only set a flag; the loop checks it at the step boundary,
 * where all ranks agree, rank 0 writes a checkpoint and the job exits with TCD_EXIT_INTERRUPTED.
 * A second SIGINT restores the default action and re-raises: an immediate abort. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
    if (sig == SIGINT && stop_signal == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    stop_signal = sig;
}

static void install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Seconds per phase on this rank since the last report. */
enum { PH_DATA, PH_FORWARD, PH_BACKWARD, PH_COMM, PH_OPTIM, PH_CKPT, PH_N };
static const char *const phase_names[PH_N] = {"data", "forward", "backward", "comm", "optim", "checkpoint"};

/* metrics.jsonl on rank 0, also kept in memory: a checkpoint carries the metrics so far, and a
 * resumed run starts its metrics.jsonl from the checkpoint's copy. */
typedef struct {
    FILE *f;
    tcd_buf text;
} metrics_log;

static void mlog(metrics_log *ml, const char *fmt, ...) TCD_PRINTF(2, 3);
static void mlog(metrics_log *ml, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[1024];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        tcd_buf_append(&ml->text, small, (size_t)n);
    } else {
        char *big = tcd_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tcd_buf_append(&ml->text, big, (size_t)n);
        free(big);
    }
}

/* Writes what mlog gathered since the last flush to metrics.jsonl. */
static void mflush(metrics_log *ml, size_t *written) {
    if (ml->text.len > *written) {
        fwrite(ml->text.data + *written, 1, ml->text.len - *written, ml->f);
        fflush(ml->f);
        *written = ml->text.len;
    }
}

/* Rank 0 writes a checkpoint of the state after `step` steps, the next step being step s_next of
 * epoch `epoch`. Returns 0, or -1 (message printed; the previous checkpoint is kept). */
static int save_checkpoint(const train_opts *o, const tcd_model *m, const tcd_adam *a, const tcd_corpus *train,
                           const char *cfg_json, int64_t step, int64_t epoch, int64_t s_next, double epoch_loss,
                           int64_t epoch_docs, int64_t tokens_total, double elapsed, const char *metrics_text) {
    tcd_ckpt_state st = {.step = step, .epoch = epoch, .step_in_epoch = s_next, .seed = (uint64_t)o->seed,
                         .epoch_loss = epoch_loss, .epoch_docs = epoch_docs, .tokens_total = tokens_total,
                         .elapsed_s = elapsed, .metrics = (char *)(metrics_text ? metrics_text : "")};
    char err[1024];
    if (tcd_ckpt_save(o->run_dir, o->keep, m, a, &st, train, cfg_json, err, sizeof err) != 0) {
        tcd_error("checkpoint at step %lld failed: %s (the previous checkpoint is kept)", (long long)step, err);
        return -1;
    }
    return 0;
}

/* The first dense tensor whose gradient holds a NaN or an infinity, or NULL. (The embedding
 * gradient is these values times 1/length, so it is finite when they are.) */
static const char *nonfinite_tensor(const tcd_model *m) {
    for (int i = 0; i < m->n_tensors; i++) {
        const tcd_tensor *t = &m->tensors[i];
        if (!strcmp(t->name, "embedding")) continue;
        const float *g = m->grads + t->offset;
        for (int64_t k = 0; k < t->rows * t->cols; k++)
            if (!isfinite(g[k])) return t->name;
    }
    return NULL;
}

/* --exchange shared: the parameters, m and v exist once per node, in shared memory; each rank
 * updates the slice [lo, hi) of them, summing that slice of every rank's gradient buffer. */
typedef struct {
    tcd_shm *shm;
    int64_t lo, hi;
    float **grads_all; /* [world] every rank's gradient buffer */
    int64_t **acc_all; /* [world] every rank's fixed-point accumulator (--deterministic) */
} shared_model;

/* Decides the exchange ("shared", "sparse" or "dense") and, for shared, moves the model's buffers
 * (already initialised or resumed, identical on every rank) into node-shared memory. Collective. */
static const char *resolve_exchange(const train_opts *o, const tcd_dist *d, tcd_model *m, tcd_adam *a,
                                    int64_t **acc, shared_model *sh) {
    const int want = !strcmp(o->exchange, "shared");
    if (!want && strcmp(o->exchange, "auto")) return o->exchange;
    if (d->world == 1) return want ? "shared" : "sparse"; /* one rank: nothing is exchanged */
    if (!want && (o->lazy_adam || o->clip_norm > 0 || o->check_replicas > 0)) return "sparse";
    /* contiguous slices, aligned to 1024 floats (4 KiB pages) so that no two ranks write one cache
     * line; the sweep's work per element is the same everywhere, so equal slices balance it */
    const int64_t n = m->n_params, align = 1024;
    const int64_t lo = n * d->rank / d->world / align * align;
    const int64_t hi = d->rank == d->world - 1 ? n : n * (d->rank + 1) / d->world / align * align;
    /* p, m, v: this rank's slice of each (one contiguous array per node); its gradients and, with
     * --deterministic, its fixed-point accumulator */
    int64_t bytes[5] = {(hi - lo) * (int64_t)sizeof(float), (hi - lo) * (int64_t)sizeof(float),
                        (hi - lo) * (int64_t)sizeof(float), n * (int64_t)sizeof(float),
                        *acc ? n * (int64_t)sizeof(int64_t) : 0};
    char why[256];
    tcd_shm *shm = tcd_shm_create(d, *acc ? 5 : 4, bytes, why, sizeof why);
    if (!shm) {
        if (want) tcd_die("--exchange shared: %s", why);
        if (d->rank == 0 && !o->quiet) tcd_info("exchange: sparse, since shared memory is not available: %s", why);
        return "sparse";
    }
    float *base[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        for (int r = 0; r < d->world && !base[k]; r++) base[k] = tcd_shm_part(shm, k, r); /* the first non-empty */
        for (int r = 0; r < d->world; r++) {
            const float *p = tcd_shm_part(shm, k, r);
            if (p && p != base[k] + n * r / d->world / align * align)
                tcd_die("--exchange shared: the shared window is not contiguous");
        }
    }
    /* each rank copies in its own slice (its pages are first touched by the rank that updates them) */
    float *own[3] = {m->params, a->m, a->v};
    for (int k = 0; k < 3; k++) {
        if (hi > lo) memcpy(base[k] + lo, own[k] + lo, sizeof(float) * (size_t)(hi - lo));
        free(own[k]);
    }
    m->params = base[0];
    a->m = base[1];
    a->v = base[2];
    free(m->grads);
    m->grads = tcd_shm_part(shm, 3, d->rank); /* zeroed by the caller */
    sh->grads_all = tcd_malloc(sizeof(float *) * (size_t)d->world);
    for (int r = 0; r < d->world; r++) sh->grads_all[r] = tcd_shm_part(shm, 3, r);
    if (*acc) {
        free(*acc);
        *acc = tcd_shm_part(shm, 4, d->rank);
        sh->acc_all = tcd_malloc(sizeof(int64_t *) * (size_t)d->world);
        for (int r = 0; r < d->world; r++) sh->acc_all[r] = tcd_shm_part(shm, 4, r);
    }
    sh->shm = shm;
    sh->lo = lo;
    sh->hi = hi;
    return "shared";
}

/* Collective: hands the shared buffers back (the model must not free them). */
static void shared_model_free(shared_model *sh, tcd_model *m, tcd_adam *a, int64_t **acc) {
    if (!sh->shm) return;
    m->params = m->grads = NULL;
    a->m = a->v = NULL;
    if (sh->acc_all) *acc = NULL;
    tcd_shm_free(sh->shm);
    free(sh->grads_all);
    free(sh->acc_all);
    memset(sh, 0, sizeof *sh);
}

int tcd_cmd_train(int argc, char **argv) {
    train_opts o = {.model_kind = "bow", .schedule = "linear", .dim = 16, .hidden = 16, .epochs = 5,
                    .batch = 192, .seed = 1, .threads = 0, .lr = 0.004, .beta1 = 0.9, .beta2 = 0.999,
                    .eps = 1e-7, .progress_secs = 10, .exchange = "auto", .keep = 3, .checkpoint_secs = 1800,
                    .max_memory_mb = 512};
    const tcd_opt opts[] = {
        {"--data", TCD_OPT_STR, &o.data, "TRAIN.h5", "training corpus (from tcdist prepare)"},
        {"--valid", TCD_OPT_STR, &o.valid, "VALID.h5", "evaluated at each epoch's end (prepared with --vocab TRAIN.h5)"},
        {"--run-dir", TCD_OPT_STR, &o.run_dir, "DIR", "where config, metrics, summary and model.h5 go"},
        {"--model", TCD_OPT_CHOICE, &o.model_kind, "KIND", "model architecture", 0, 0, "bow"},
        {"--dim", TCD_OPT_I64, &o.dim, "N", "embedding dimension", 1, 65536},
        {"--hidden", TCD_OPT_I64, &o.hidden, "N", "hidden units (0: linear classifier over the mean embedding)", 0, 65536},
        {"--epochs", TCD_OPT_I64, &o.epochs, "N", "passes over the training data", 1, 1000000},
        {"--batch", TCD_OPT_I64, &o.batch, "N", "global batch size (documents per step, over all ranks)", 1, 1 << 24},
        {"--lr", TCD_OPT_F64, &o.lr, "X", "peak learning rate", 1e-12, 1e6},
        {"--schedule", TCD_OPT_CHOICE, &o.schedule, "KIND", "learning-rate schedule", 0, 0, "constant|linear|cosine"},
        {"--warmup", TCD_OPT_I64, &o.warmup, "STEPS", "linear warmup steps (linear, cosine)", 0, INT64_MAX / 2},
        {"--min-lr", TCD_OPT_F64, &o.min_lr, "X", "final learning rate of linear/cosine", 0, 1e6},
        {"--beta1", TCD_OPT_F64, &o.beta1, "X", "Adam beta1", 0, 0.999999999},
        {"--beta2", TCD_OPT_F64, &o.beta2, "X", "Adam beta2", 0, 0.999999999},
        {"--eps", TCD_OPT_F64, &o.eps, "X", "Adam epsilon (Keras' placement: added to sqrt(v))", 1e-30, 1},
        {"--weight-decay", TCD_OPT_F64, &o.weight_decay, "X", "decoupled weight decay (AdamW); 0: plain Adam", 0, 1e6},
        {"--clip-norm", TCD_OPT_F64, &o.clip_norm, "X", "clip the gradient's global L2 norm to X (0: off)", 0, 1e30},
        {"--seed", TCD_OPT_I64, &o.seed, "N", "initialisation and shuffling", 0, INT64_MAX},
        {"--threads", TCD_OPT_I64, &o.threads, "N", "OpenMP threads per rank (0: OMP_NUM_THREADS or all cores)", 0, 4096},
        {"--deterministic", TCD_OPT_FLAG, &o.deterministic, NULL,
         "bit-identical parameters for any number of ranks and threads (fixed-point gradient sums)"},
        {"--exchange", TCD_OPT_CHOICE, &o.exchange, "KIND",
         "gradient exchange between ranks: shared (ranks on one node share one copy of the model and sum "
         "gradients in shared memory), sparse (allreduce of the touched embedding rows), dense (allreduce of "
         "everything); auto: shared where it applies, else sparse",
         0, 0, "auto|shared|sparse|dense"},
        {"--lazy-adam", TCD_OPT_FLAG, &o.lazy_adam, NULL, "update only the embedding rows the batch touched (not dense Adam)"},
        {"--check-replicas", TCD_OPT_I64, &o.check_replicas, "K", "compare a digest of every rank's parameters every K steps (0: off)", 0, INT64_MAX},
        {"--no-shuffle", TCD_OPT_FLAG, &o.no_shuffle, NULL, "keep file order (tests and debugging)"},
        {"--max-memory", TCD_OPT_F64, &o.max_memory_mb, "MB",
         "a corpus larger than this is streamed in windows instead of held in memory", 0.01, 1e9},
        {"--max-steps", TCD_OPT_I64, &o.max_steps, "N", "stop after N steps (0: run all epochs)", 0, INT64_MAX},
        {"--log-every", TCD_OPT_I64, &o.log_every, "STEPS", "metrics.jsonl record interval (0: ~100 per run)", 0, INT64_MAX},
        {"--progress-secs", TCD_OPT_F64, &o.progress_secs, "S", "interval of plain progress lines when not a terminal", 0.1, 1e9},
        {"--overwrite", TCD_OPT_FLAG, &o.overwrite, NULL, "replace a model.h5 already in the run dir"},
        {"--quiet", TCD_OPT_FLAG, &o.quiet, NULL, "no progress output"},
        {"--save-init", TCD_OPT_FLAG, &o.save_init, NULL, "also write the initial parameters as DIR/init.h5"},
        {"--checkpoint-every", TCD_OPT_I64, &o.checkpoint_every, "N", "also checkpoint every N steps (0: off)", 0, INT64_MAX},
        {"--checkpoint-secs", TCD_OPT_F64, &o.checkpoint_secs, "S", "also checkpoint every S seconds (0: off)", 0, 1e12},
        {"--keep", TCD_OPT_I64, &o.keep, "K", "keep the newest K checkpoints", 1, 1000000},
        {"--no-checkpoint", TCD_OPT_FLAG, &o.no_checkpoint, NULL, "write no checkpoints at all (benchmarks)"},
        {"--resume", TCD_OPT_FLAG, &o.resume, NULL, "continue from the run dir's latest checkpoint (an error if there is none)"},
        {"--force", TCD_OPT_FLAG, &o.force, NULL, "resume even if the data, vocabulary or model shape changed"},
        {"--skip-nonfinite", TCD_OPT_FLAG, &o.skip_nonfinite, NULL, "skip a batch whose loss or gradients are NaN/Inf instead of stopping"},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse(USAGE, DESCRIPTION, opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (n_pos) {
        tcd_error("unexpected argument '%s' (see tcdist train --help)", pos[0]);
        free(pos);
        return TCD_EXIT_USAGE;
    }
    free(pos);
    if (!o.data || !o.run_dir) {
        tcd_error("--data and --run-dir are required (see tcdist train --help)");
        return TCD_EXIT_USAGE;
    }
    fault_spec fault;
    if (parse_fault(&fault) != 0) return TCD_EXIT_USAGE;
    /* from here on a stop signal is a request, honoured at the first step boundary: a SIGUSR1 sent
     * while the data loads (a Slurm job signalled early) must not kill the process */
    install_signal_handlers();
    if (!strcmp(o.exchange, "shared") && (o.lazy_adam || o.clip_norm > 0 || o.check_replicas > 0)) {
        tcd_error("--exchange shared: not with %s (the ranks hold one copy of the model and each updates "
                  "only its slice); use --exchange sparse",
                  o.lazy_adam ? "--lazy-adam" : o.clip_norm > 0 ? "--clip-norm" : "--check-replicas");
        return TCD_EXIT_USAGE;
    }

    tcd_dist dist;
    tcd_dist_init(&dist, &argc, &argv);
    int threads = o.threads > 0 ? (int)o.threads : omp_get_max_threads();
    omp_set_num_threads(threads);

    tcd_corpus train = {.file = -1}, valid = {.file = -1};
    int verdict = 0;
    char err[1024];
    char *resume_path = NULL;
    if (dist.rank == 0) {
        verdict = validate(&o, &train, &valid);
        /* a run dir that holds checkpoints continues from the newest good one */
        if (verdict == 0 && !o.overwrite && tcd_ckpt_any(o.run_dir)) {
            int found_bad = 0;
            resume_path = tcd_ckpt_find(o.run_dir, &found_bad, err, sizeof err);
            if (!resume_path) {
                tcd_error("%s: no checkpoint to resume from verifies: %s (use --overwrite to start over)", o.run_dir,
                          err);
                verdict = -1;
            } else if (check_resume(&o, &train, resume_path) != 0)
                verdict = -1;
        }
    }
    if (tcd_dist_agree(&dist, verdict) != 0) {
        free(resume_path);
        tcd_dist_finalize(&dist);
        return TCD_EXIT_ERROR;
    }
    {
        int64_t len = resume_path ? (int64_t)strlen(resume_path) + 1 : 0;
        tcd_dist_bcast(&dist, &len, sizeof len);
        if (len && !resume_path) resume_path = tcd_malloc((size_t)len);
        if (len) tcd_dist_bcast(&dist, resume_path, len);
    }
    if (dist.rank != 0) {
        /* rank 0 checked them; a failure here is an I/O problem on this node */
        if (tcd_corpus_open(&train, o.data, err, sizeof err) != 0) tcd_die("--data: %s", err);
        if (o.valid && tcd_corpus_open(&valid, o.valid, err, sizeof err) != 0) tcd_die("--valid: %s", err);
    }

    /* each rank reads only its shard of the training and validation documents */
    int64_t shard_lo, shard_hi, vlo = 0, vhi = 0;
    tcd_batch_share(train.n_docs, dist.rank, dist.world, &shard_lo, &shard_hi);
    tcd_loader loader, vloader;
    /* the window size depends on the budget and the corpus only: the same order for any -np */
    const int64_t window_blocks = tcd_stream_window_blocks(&train, o.max_memory_mb * 1e6);
    if (window_blocks > 0) {
        if (tcd_loader_open_stream(&loader, &train, shard_lo, shard_hi, (uint64_t)o.seed, !o.no_shuffle,
                                   window_blocks, err, sizeof err) != 0)
            tcd_die("%s", err);
    } else if (tcd_loader_open(&loader, &train, shard_lo, shard_hi, (uint64_t)o.seed, !o.no_shuffle, err,
                               sizeof err) != 0)
        tcd_die("%s", err);
    if (o.valid) {
        tcd_batch_share(valid.n_docs, dist.rank, dist.world, &vlo, &vhi);
        if (tcd_loader_open(&vloader, &valid, vlo, vhi, 0, 0, err, sizeof err) != 0) tcd_die("%s", err);
    }

    tcd_model_config mcfg = {.vocab = train.n_embeddings, .dim = o.dim, .hidden = o.hidden,
                             .n_classes = train.n_classes, .seed = (uint64_t)o.seed};
    tcd_model model;
    if (tcd_model_init(&model, &mcfg) != 0) tcd_die("cannot build the model");
    if (o.deterministic) tcd_model_set_deterministic(&model, 1);
    tcd_adam_config acfg;
    tcd_adam_config_default(&acfg);
    acfg.beta1 = o.beta1;
    acfg.beta2 = o.beta2;
    acfg.eps = o.eps;
    acfg.weight_decay = o.weight_decay;
    tcd_adam adam;
    tcd_adam_init(&adam, &acfg, model.n_params);
    tcd_exchange xch;
    tcd_exchange_init(&xch, &model);
    const int64_t row_len = o.dim, dense0 = xch.rows * row_len;
    /* --deterministic: gradients are summed as int64 fixed point, exactly, then converted */
    int64_t *acc = NULL;
    if (o.deterministic) acc = tcd_calloc((size_t)model.n_params, sizeof(int64_t));

    /* resume: parameters, Adam state and counters from the checkpoint (every rank reads it) */
    tcd_ckpt_state resumed = {0};
    if (resume_path) {
        if (tcd_ckpt_load(resume_path, &model, &adam, &resumed, err, sizeof err) != 0) tcd_die("%s", err);
        if (!o.quiet)
            tcd_info("resuming from %s: step %lld (epoch %lld, step %lld of it)", resume_path, (long long)resumed.step,
                     (long long)resumed.epoch + 1, (long long)resumed.step_in_epoch);
    }
    shared_model sh = {0};
    const char *exchange = resolve_exchange(&o, &dist, &model, &adam, &acc, &sh);
    const int sparse = !strcmp(exchange, "sparse");
    tcd_model_zero_grad(&model); /* from here on, each Adam step leaves the gradients zeroed */
    if (sh.shm) {
        if (acc) memset(acc, 0, sizeof(int64_t) * (size_t)model.n_params);
        tcd_shm_barrier(sh.shm);
    }
    int64_t spe = tcd_steps_per_epoch(train.n_docs, o.batch);
    int64_t total_steps = spe * o.epochs;
    if (o.max_steps > 0 && o.max_steps < total_steps) total_steps = o.max_steps;
    tcd_lr_schedule sched = {.kind = (tcd_lr_kind)tcd_lr_kind_parse(o.schedule), .lr = o.lr, .warmup = o.warmup,
                             .total_steps = total_steps, .min_lr = o.min_lr};
    int64_t log_every = o.log_every > 0 ? o.log_every : (total_steps >= 100 ? total_steps / 100 : 1);

    char *cfg_json = config_json(&o, exchange, &train, dist.world, threads);
    metrics_log ml = {0};
    size_t ml_written = 0;
    char *metrics_path = tcd_sprintf("%s/metrics.jsonl", o.run_dir);
    if (dist.rank == 0) {
        char *p = tcd_sprintf("%s/config.json", o.run_dir);
        char *text = tcd_sprintf("%s\n", cfg_json);
        if (write_text_atomic(p, text, err, sizeof err) != 0) tcd_die("%s", err);
        free(p);
        free(text);
        ml.f = fopen(metrics_path, "w");
        if (!ml.f) tcd_die("%s: cannot write (%s)", metrics_path, strerror(errno));
        if (resumed.metrics) { /* the records up to the checkpoint, not those of the lost steps after it */
            tcd_buf_append(&ml.text, resumed.metrics, strlen(resumed.metrics));
            mflush(&ml, &ml_written);
        }
        if (!o.quiet)
            tcd_info("train: %lld docs, %lld tokens, %lld classes, %lld embeddings x %lld, hidden %lld, "
                     "%lld params | %d ranks x %d threads%s%s | batch %lld, %lld steps/epoch, %lld steps, lr %g%s",
                     (long long)train.n_docs, (long long)train.n_tokens, (long long)train.n_classes,
                     (long long)train.n_embeddings, (long long)o.dim, (long long)o.hidden, (long long)model.n_params,
                     dist.world, threads, dist.world > 1 ? ", exchange " : "", dist.world > 1 ? exchange : "",
                     (long long)o.batch, (long long)spe, (long long)total_steps, o.lr,
                     o.deterministic ? " | deterministic" : "");
        if (!o.quiet && window_blocks > 0)
            tcd_info("train: the corpus exceeds --max-memory %g MB: streaming it in windows of %lld blocks of %d "
                     "documents",
                     o.max_memory_mb, (long long)window_blocks, TCD_BLOCK_DOCS);
    }
    if (dist.rank == 0 && o.save_init) {
        char *p = tcd_sprintf("%s/init.h5", o.run_dir);
        if (tcd_model_save(p, &model, &train, cfg_json, err, sizeof err) != 0) tcd_die("%s", err);
        free(p);
    }

    int tty = !o.quiet && dist.rank == 0 && isatty(STDOUT_FILENO);
    double t0 = tcd_now(), last_print = t0, last_ckpt = t0;
    const double elapsed0 = resumed.elapsed_s; /* training seconds before this process */
    int64_t step = resumed.step, tokens_total = resumed.tokens_total;
    int64_t samples_total = 0; /* documents processed by this process (all ranks) */
    double interval_loss = 0, epoch_loss = resumed.epoch_loss, final_loss = NAN;
    int64_t interval_docs = 0, interval_tokens = 0, epoch_docs = resumed.epoch_docs;
    const int64_t start_epoch = resumed.epoch, start_s = resumed.step_in_epoch;
    int stopped_by = 0; /* the signal that ended the run early */
    int rc = TCD_EXIT_OK;
    double interval_t0 = t0;
    double valid_acc = NAN, valid_loss = NAN;
    int64_t epochs_done = 0;
    double ph[PH_N] = {0}, ph_total[PH_N] = {0};
    int64_t ph_docs = 0, ph_tokens = 0, bytes_interval = 0, bytes_total = 0;
    double *ph_all = dist.rank == 0 ? tcd_malloc(sizeof(double) * (size_t)dist.world * (PH_N + 3)) : NULL;
    uint64_t *digests = tcd_malloc(sizeof(uint64_t) * (size_t)dist.world);
    /* is the union of touched rows needed? */
    const int use_rows = (dist.world > 1 && sparse) || (o.lazy_adam && !sh.shm);
    for (int64_t epoch = start_epoch; epoch < o.epochs && step < total_steps && !stopped_by; epoch++) {
        if (epoch != start_epoch) {
            epoch_loss = 0;
            epoch_docs = 0;
        }
        int64_t s = epoch == start_epoch ? start_s : 0;
        for (; s < spe && step < total_steps; s++, step++) {
            double tp = tcd_now();
            tcd_batch b;
            int64_t n_global;
            tcd_loader_batch(&loader, epoch, s, o.batch, &b, &n_global);
            const int fault_now = fault.rank == dist.rank && fault.step == step;
            if (fault_now && (!strcmp(fault.kind, "kill") || !strcmp(fault.kind, "exit"))) {
                tcd_error("fault injection (TCDIST_FAULT): rank %d %s at step %lld", dist.rank,
                          fault.kind[0] == 'k' ? "kills itself" : "exits", (long long)step);
                if (fault.kind[0] == 'k') kill(getpid(), SIGKILL);
                _exit(5);
            }
            if (fault_now && !strcmp(fault.kind, "signal")) raise(SIGUSR1);
            double tq = tcd_now();
            ph[PH_DATA] += tq - tp;
            tp = tq;

            const double lr = tcd_lr_at(&sched, step);
            const float scale = (float)(1.0 / (double)n_global);
            /* loss sum, tokens, and whether a stop signal arrived: summed over ranks below, so that
             * every rank sees the same verdict at this step boundary */
            double stats[4] = {0, b.n ? (double)(b.offsets[b.n] - b.offsets[0]) : 0.0, 0, 0};
            if (b.n > 0) {
                stats[0] = tcd_model_forward(&model, &b, NULL, threads);
                tq = tcd_now();
                ph[PH_FORWARD] += tq - tp;
                tp = tq;
                if (o.deterministic)
                    tcd_model_backward_fixed(&model, &b, scale, threads, acc);
                else
                    tcd_model_backward(&model, &b, scale, threads);
            }
            if (fault_now && !strcmp(fault.kind, "nan")) {
                stats[0] = NAN;
                model.grads[dense0] = NAN; /* the first dense tensor's gradient */
                if (acc) tcd_die("fault injection nan: not available with --deterministic");
            }
            tq = tcd_now();
            ph[PH_BACKWARD] += tq - tp;
            tp = tq;

            if (use_rows) tcd_exchange_rows(&xch, &dist, &b);
            const char *bad_tensor = NULL;
            if (sh.shm) {
                /* nothing travels: the sums are made in the update below, from every rank's buffer;
                 * each rank checks its own dense gradients (a sum of finite ones stays finite) */
                if (!o.deterministic) bad_tensor = nonfinite_tensor(&model);
                stats[3] = bad_tensor ? 1.0 : 0.0;
                xch.bytes = (int64_t)sizeof stats;
            } else if (o.deterministic) {
                if (use_rows) {
                    if (dist.world > 1) tcd_exchange_sum_i64(&xch, &dist, acc);
                    for (int64_t k = 0; k < xch.n_union; k++) {
                        const int64_t off = (int64_t)xch.rows_union[k] * row_len;
                        tcd_fixed_to_float_zero(model.grads + off, acc + off, row_len, 1);
                    }
                } else {
                    if (dist.world > 1) tcd_exchange_dense_i64(&xch, &dist, acc);
                    tcd_fixed_to_float_zero(model.grads, acc, dense0, threads);
                }
                tcd_fixed_to_float_zero(model.grads + dense0, acc + dense0, model.n_params - dense0, 1);
            } else if (dist.world > 1) {
                if (sparse)
                    tcd_exchange_sum_f32(&xch, &dist, model.grads);
                else
                    tcd_exchange_dense_f32(&xch, &dist, model.grads);
            }
            stats[2] = stop_signal ? 1.0 : 0.0;
            if (sh.shm) tcd_shm_fence(sh.shm); /* the allreduce below is also the barrier: */
            tcd_dist_sum_f64(&dist, stats, 4);  /* every rank's gradients are complete after it */
            if (sh.shm) tcd_shm_fence(sh.shm);
            bytes_interval += xch.bytes;
            bytes_total += xch.bytes;
            tq = tcd_now();
            ph[PH_COMM] += tq - tp;
            tp = tq;

            /* a NaN or Inf stops the run (or skips the batch) before the update is applied */
            if (!sh.shm) bad_tensor = nonfinite_tensor(&model);
            int skip = 0;
            if (!isfinite(stats[0]) || bad_tensor || stats[3] > 0) {
                const char *what = bad_tensor ? bad_tensor : stats[3] > 0 ? "(another rank's)" : "loss";
                if (!o.skip_nonfinite)
                    tcd_die("non-finite %s%s at step %lld (epoch %lld, loss %g): stopped before the update; lower "
                            "--lr, set --clip-norm, or --skip-nonfinite",
                            what, bad_tensor || stats[3] > 0 ? " gradient" : "", (long long)step,
                            (long long)epoch + 1, stats[0]);
                if (dist.rank == 0)
                    tcd_warn("non-finite %s%s at step %lld: batch skipped (--skip-nonfinite)", what,
                             bad_tensor || stats[3] > 0 ? " gradient" : "", (long long)step);
                tcd_model_zero_grad(&model);
                if (sh.shm && acc) memset(acc, 0, sizeof(int64_t) * (size_t)model.n_params);
                stats[0] = 0;
                skip = 1;
            }
            if (!skip && o.clip_norm > 0) {
                double norm = tcd_l2_norm(model.grads, model.n_params);
                if (norm > o.clip_norm) tcd_scale(model.grads, model.n_params, (float)(o.clip_norm / norm));
            }
            if (skip)
                ; /* nothing to apply */
            else if (sh.shm && acc)
                tcd_adam_step_sum_fixed(&adam, model.params, sh.acc_all, dist.world, sh.lo, sh.hi, lr,
                                        threads);
            else if (sh.shm)
                tcd_adam_step_sum(&adam, model.params, sh.grads_all, dist.world, sh.lo, sh.hi, lr, threads);
            else if (o.lazy_adam)
                tcd_adam_step_rows(&adam, model.params, model.grads, lr, threads, xch.rows_union, xch.n_union,
                                   row_len, dense0);
            else
                tcd_adam_step_zero_grad(&adam, model.params, model.grads, lr, threads); /* leaves grads zeroed */
            /* the slices are updated (and every gradient buffer zeroed) before any rank goes on */
            if (sh.shm) tcd_shm_barrier(sh.shm);
            if (fault.rank == dist.rank && fault.step == step && strcmp(fault.kind, "perturb") == 0)
                model.params[0] += 1e-3f;
            if (o.check_replicas > 0 && (step + 1) % o.check_replicas == 0) {
                tcd_dist_allgather_u64(&dist, params_digest(model.params, model.n_params), digests);
                for (int r = 1; r < dist.world; r++)
                    if (digests[r] != digests[0])
                        tcd_die("--check-replicas: after step %lld the parameters of rank %d differ from rank 0's",
                                (long long)step + 1, r);
            }
            tq = tcd_now();
            ph[PH_OPTIM] += tq - tp;
            ph_docs += b.n;
            ph_tokens += (int64_t)(b.n ? b.offsets[b.n] - b.offsets[0] : 0);

            interval_loss += stats[0];
            epoch_loss += stats[0];
            interval_docs += n_global;
            epoch_docs += n_global;
            samples_total += n_global;
            interval_tokens += (int64_t)stats[1];
            tokens_total += (int64_t)stats[1];

            int last = (s == spe - 1) || (step + 1 == total_steps);
            if ((step + 1) % log_every == 0 || last) {
                /* per-rank phase times, to see a straggler: gathered on rank 0 */
                double mine[PH_N + 3];
                for (int k = 0; k < PH_N; k++) mine[k] = ph[k];
                mine[PH_N] = (double)ph_docs;
                mine[PH_N + 1] = (double)ph_tokens;
                mine[PH_N + 2] = (double)bytes_interval;
                tcd_dist_gather_f64(&dist, mine, PH_N + 3, ph_all);
                for (int k = 0; k < PH_N; k++) {
                    ph_total[k] += ph[k];
                    ph[k] = 0;
                }
                ph_docs = ph_tokens = 0;
                if (dist.rank == 0) {
                    double now = tcd_now();
                    double rate = interval_tokens / (now - interval_t0 > 1e-9 ? now - interval_t0 : 1e-9);
                    int64_t steps_in = (step + 1) % log_every ? (step + 1) % log_every : log_every;
                    mlog(&ml,
                            "{\"type\": \"train\", \"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"lr\": %.9g, "
                            "\"tokens_per_s\": %.1f, \"samples_per_s\": %.1f, \"elapsed_s\": %.3f, "
                            "\"comm_bytes_per_step\": %.0f}\n",
                            (long long)(step + 1), (long long)epoch, interval_loss / (double)interval_docs, lr, rate,
                            interval_docs / (now - interval_t0 > 1e-9 ? now - interval_t0 : 1e-9), elapsed0 + now - t0,
                            (double)bytes_interval / (double)steps_in);
                    mlog(&ml, "{\"type\": \"ranks\", \"step\": %lld, \"ranks\": [", (long long)(step + 1));
                    for (int r = 0; r < dist.world; r++) {
                        const double *v = ph_all + (size_t)r * (PH_N + 3);
                        mlog(&ml, "%s{\"rank\": %d", r ? ", " : "", r);
                        for (int k = 0; k < PH_N; k++) mlog(&ml, ", \"%s_s\": %.6f", phase_names[k], v[k]);
                        mlog(&ml, ", \"docs\": %.0f, \"tokens\": %.0f, \"comm_bytes\": %.0f}", v[PH_N],
                                v[PH_N + 1], v[PH_N + 2]);
                    }
                    mlog(&ml, "]}\n");
                    mflush(&ml, &ml_written);
                    interval_t0 = now;
                }
                interval_loss = 0;
                interval_docs = interval_tokens = bytes_interval = 0;
            }
            if (!o.quiet && dist.rank == 0) {
                double now = tcd_now();
                if ((tty && now - last_print >= 0.2) || (!tty && now - last_print >= o.progress_secs) ||
                    (tty && last)) {
                    /* this process's own work: after a resume the counters also hold earlier runs' */
                    double rate = (double)(tokens_total - resumed.tokens_total) / (now - t0);
                    double eta = (now - t0) / (double)(step + 1 - resumed.step) * (double)(total_steps - step - 1);
                    char r[32], e[32];
                    fmt_rate(r, sizeof r, rate);
                    fmt_duration(e, sizeof e, eta);
                    if (tty)
                        printf("\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  %s tok/s  ETA %s",
                               (long long)epoch + 1, (long long)o.epochs, (long long)step + 1,
                               (long long)total_steps, epoch_loss / (double)epoch_docs, r, e);
                    else
                        printf("epoch %lld/%lld step %lld/%lld loss %.4f %s tok/s ETA %s\n", (long long)epoch + 1,
                               (long long)o.epochs, (long long)step + 1, (long long)total_steps,
                               epoch_loss / (double)epoch_docs, r, e);
                    fflush(stdout);
                    last_print = now;
                }
            }

            /* Step boundary: a stop signal on any rank (stats[2]) stops all of them here. Rank 0
             * writes the checkpoints; the others go on and wait only at the next collective. The
             * end of an epoch and of the run are handled after this loop. */
            if (stats[2] > 0 && !stopped_by) stopped_by = stop_signal ? (int)stop_signal : SIGUSR1;
            const int later = s + 1 == spe || step + 1 == total_steps;
            if (!later && dist.rank == 0 && !o.no_checkpoint &&
                (stopped_by || (o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) ||
                 (o.checkpoint_secs > 0 && tcd_now() - last_ckpt >= o.checkpoint_secs))) {
                double tc = tcd_now();
                mflush(&ml, &ml_written);
                if (save_checkpoint(&o, &model, &adam, &train, cfg_json, step + 1, epoch, s + 1, epoch_loss,
                                    epoch_docs, tokens_total, elapsed0 + tc - t0, ml.text.data) != 0 &&
                    stopped_by)
                    rc = TCD_EXIT_ERROR;
                last_ckpt = tcd_now();
                ph[PH_CKPT] += last_ckpt - tc;
            }
            if (stopped_by && !later) {
                step++;
                s++;
                break;
            }
        }
        if (stopped_by && s < spe && step < total_steps) break; /* stopped inside the epoch */
        epochs_done = epoch + 1;
        final_loss = epoch_loss / (double)epoch_docs;
        if (o.valid) {
            /* each rank evaluates its shard of the validation set; the counts are summed, so every
             * document is counted exactly once */
            tcd_eval_counts ec;
            tcd_eval_counts_init(&ec, train.n_classes);
            tcd_evaluate_range(&model, &vloader, 0, vhi - vlo, 1024, threads, &ec);
            tcd_dist_sum_i64(&dist, ec.confusion, ec.n_classes * ec.n_classes);
            tcd_dist_sum_i64(&dist, &ec.n_docs, 1);
            tcd_dist_sum_f64(&dist, &ec.loss_sum, 1);
            valid_acc = tcd_eval_accuracy(&ec);
            valid_loss = tcd_eval_loss(&ec);
            int64_t correct = 0;
            for (int64_t c = 0; c < ec.n_classes; c++) correct += ec.confusion[c * ec.n_classes + c];
            if (dist.rank == 0) {
                mlog(&ml,
                        "{\"type\": \"valid\", \"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"accuracy\": %.6f, "
                        "\"n_docs\": %lld, \"correct\": %lld, \"elapsed_s\": %.3f}\n",
                        (long long)step, (long long)epoch, valid_loss, valid_acc, (long long)ec.n_docs,
                        (long long)correct, elapsed0 + tcd_now() - t0);
                mflush(&ml, &ml_written);
            }
            tcd_eval_counts_free(&ec);
        }
        if (!o.quiet && dist.rank == 0) {
            if (tty) printf("\n");
            if (o.valid)
                printf("epoch %lld/%lld done: train loss %.4f, valid loss %.4f, valid accuracy %.4f\n",
                       (long long)epoch + 1, (long long)o.epochs, final_loss, valid_loss, valid_acc);
            else
                printf("epoch %lld/%lld done: train loss %.4f\n", (long long)epoch + 1, (long long)o.epochs,
                       final_loss);
            fflush(stdout);
        }
        /* the end of an epoch (or of a --max-steps run inside one): always a checkpoint */
        if (dist.rank == 0 && !o.no_checkpoint) {
            const int whole = s == spe;
            double tc = tcd_now();
            mflush(&ml, &ml_written);
            if (save_checkpoint(&o, &model, &adam, &train, cfg_json, step, whole ? epoch + 1 : epoch, whole ? 0 : s,
                                whole ? 0.0 : epoch_loss, whole ? 0 : epoch_docs, tokens_total,
                                elapsed0 + tc - t0, ml.text.data) != 0 &&
                (stopped_by || step == total_steps))
                rc = TCD_EXIT_ERROR;
            last_ckpt = tcd_now();
            ph_total[PH_CKPT] += last_ckpt - tc;
        }
    }
    double train_seconds = elapsed0 + tcd_now() - t0;

    if (stopped_by) {
        /* stopped by a signal: the checkpoint is the result; no model.h5 yet */
        if (dist.rank == 0) {
            mflush(&ml, &ml_written);
            fclose(ml.f);
            if (rc == TCD_EXIT_OK)
                tcd_info("stopped by signal %d after step %lld; checkpoint in %s/checkpoints; run the same command to "
                         "resume (exit status %d)",
                         stopped_by, (long long)step, o.run_dir, TCD_EXIT_INTERRUPTED);
        }
        if (rc == TCD_EXIT_OK) rc = TCD_EXIT_INTERRUPTED;
    } else if (dist.rank == 0) {
        mflush(&ml, &ml_written);
        fclose(ml.f);
        char *model_path = tcd_sprintf("%s/model.h5", o.run_dir);
        if (tcd_model_save(model_path, &model, &train, cfg_json, err, sizeof err) != 0) {
            tcd_error("%s", err);
            rc = TCD_EXIT_ERROR;
        }
        char psha[65];
        tcd_params_sha256(&model, psha);
        tcd_buf s = {0};
        tcd_buf_printf(&s,
                       "{\"steps\": %lld, \"epochs\": %lld, \"train_seconds\": %.3f, \"tokens\": %lld, "
                       "\"tokens_per_s\": %.1f, ",
                       (long long)step, (long long)epochs_done, train_seconds, (long long)tokens_total,
                       tokens_total / (train_seconds > 1e-9 ? train_seconds : 1e-9));
        if (isfinite(final_loss))
            tcd_buf_printf(&s, "\"final_loss\": %.6f, ", final_loss);
        else
            tcd_buf_printf(&s, "\"final_loss\": null, ");
        if (o.valid)
            tcd_buf_printf(&s, "\"valid_accuracy\": %.6f, \"valid_loss\": %.6f, ", valid_acc, valid_loss);
        else
            tcd_buf_printf(&s, "\"valid_accuracy\": null, ");
        tcd_buf_printf(&s, "\"samples_per_s\": %.1f, \"comm_bytes_per_step\": %.0f, \"phase_seconds\": {",
                       samples_total / (train_seconds - elapsed0 > 1e-9 ? train_seconds - elapsed0 : 1e-9),
                       step ? (double)bytes_total / (double)step : 0.0);
        for (int k = 0; k < PH_N; k++) tcd_buf_printf(&s, "%s\"%s\": %.4f", k ? ", " : "", phase_names[k], ph_total[k]);
        tcd_buf_printf(&s, "}, \"params_sha256\": \"%s\", \"world\": %d, \"threads\": %d, \"model\": \"model.h5\"}\n",
                       psha, dist.world, threads);
        char *summary_path = tcd_sprintf("%s/summary.json", o.run_dir);
        if (write_text_atomic(summary_path, s.data, err, sizeof err) != 0) {
            tcd_error("%s", err);
            rc = TCD_EXIT_ERROR;
        }
        if (!o.quiet && rc == TCD_EXIT_OK) {
            tcd_info("trained %lld steps in %.2f s (%.2fM tokens/s); model: %s", (long long)step, train_seconds,
                     tokens_total / train_seconds / 1e6, model_path);
            tcd_info("time per phase (rank 0): data %.3f s, forward %.3f s, backward %.3f s, communication %.3f s, "
                     "optimizer %.3f s, checkpoints %.3f s; %.0f samples/s, %.2fM tokens/s overall",
                     ph_total[PH_DATA], ph_total[PH_FORWARD], ph_total[PH_BACKWARD], ph_total[PH_COMM],
                     ph_total[PH_OPTIM], ph_total[PH_CKPT], samples_total / (train_seconds - elapsed0),
                     tokens_total / train_seconds / 1e6);
        }
        free(summary_path);
        free(model_path);
        tcd_buf_free(&s);
    }
    rc = tcd_dist_agree(&dist, rc);
    shared_model_free(&sh, &model, &adam, &acc);
    free(resume_path);
    free(resumed.metrics);
    tcd_buf_free(&ml.text);
    free(ph_all);
    free(digests);
    free(acc);
    free(metrics_path);
    free(cfg_json);
    tcd_exchange_free(&xch);
    tcd_adam_free(&adam);
    tcd_model_free(&model);
    tcd_loader_free(&loader);
    if (o.valid) tcd_loader_free(&vloader);
    tcd_corpus_close(&train);
    if (o.valid) tcd_corpus_close(&valid);
    tcd_dist_finalize(&dist);
    return rc;
}
