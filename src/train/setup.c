/* Checks before step 0 and the run's configuration JSON; see setup.h. */
#include "train/setup.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/util.h"
#include "data/loader.h"
#include "io/checkpoint.h"

int tcd_write_text_atomic(const char *path, const char *text, char *err, size_t errlen) {
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

int tcd_setup_ova(const tcd_train_config *c, const tcd_corpus *train) {
    return !strcmp(c->loss, "ova") || (!strcmp(c->loss, "auto") && train->multi_label);
}

void *tcd_setup_model_cfg(const tcd_train_config *c, const tcd_corpus *train) {
    const tcd_model_shape shape = {.n_embeddings = train->n_embeddings, .n_classes = train->n_classes,
                                   .ova = tcd_setup_ova(c, train)};
    return tcd_model_config_resolved(c->kind, c->model_cfg, &shape);
}

static int check_corpora(const tcd_train_config *c, tcd_corpus *train, tcd_corpus *valid) {
    char err[1024];
    if (tcd_corpus_open(train, c->data, err, sizeof err) != 0) {
        tcd_error("--data: %s", err);
        return -1;
    }
    if (train->n_docs == 0) {
        tcd_error("--data %s: the corpus has no documents", c->data);
        return -1;
    }
    if (train->n_classes < 2) {
        tcd_error("--data %s: %lld class(es); a classifier needs at least 2", c->data, (long long)train->n_classes);
        return -1;
    }
    if (train->multi_label && !strcmp(c->loss, "softmax")) {
        tcd_error("--loss softmax: --data %s is multi-label (some documents have several labels); use --loss ova "
                  "(or auto)",
                  c->data);
        return -1;
    }
    if (!c->valid) return 0;
    if (tcd_corpus_open(valid, c->valid, err, sizeof err) != 0) {
        tcd_error("--valid: %s", err);
        return -1;
    }
    if (strcmp(valid->vocab_sha256, train->vocab_sha256) != 0 || valid->n_buckets != train->n_buckets ||
        valid->n_classes != train->n_classes) {
        tcd_error("--valid %s was not prepared with the vocabulary and labels of %s; "
                  "prepare it with: tcdist prepare --vocab %s ...",
                  c->valid, c->data, c->data);
        return -1;
    }
    return 0;
}

static int check_writable(const char *dir) {
    if (tcd_mkdir_p(dir) != 0) {
        tcd_error("--run-dir %s: cannot create the folder (%s)", dir, strerror(errno));
        return -1;
    }
    char *probe = tcd_sprintf("%s/.write-test.%ld", dir, (long)getpid());
    FILE *f = fopen(probe, "w");
    int writable = f && fputs("ok\n", f) >= 0;
    if (f && fclose(f) != 0) writable = 0;
    unlink(probe);
    free(probe);
    if (!writable) {
        tcd_error("--run-dir %s: not writable (%s)", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A checkpoint holds the parameters and Adam's m and v (float32 each) and the vocabulary; the
 * final model.h5 a third of that: refuse now rather than fail at the first write. */
static int check_room(const tcd_train_config *c, const tcd_corpus *train) {
    tcd_model m;
    char err[512];
    const tcd_model_shape shape = {.n_embeddings = train->n_embeddings, .n_classes = train->n_classes,
                                   .ova = tcd_setup_ova(c, train)};
    if (tcd_model_build(&m, c->kind, c->model_cfg, &shape, (uint64_t)c->seed, err, sizeof err) != 0) {
        tcd_error("%s", err);
        return -1;
    }
    const double need = 4.0 * 4.0 * (double)m.n_params + 64.0 * (double)train->vocab_size + (1 << 20);
    tcd_model_free(&m);
    struct statvfs vfs;
    if (!c->no_checkpoint && statvfs(c->run_dir, &vfs) == 0 && (double)vfs.f_bavail * (double)vfs.f_frsize < need) {
        tcd_error("--run-dir %s: %.1f MB free, but a checkpoint and the model need about %.1f MB "
                  "(free some space, use another --run-dir, or --no-checkpoint)",
                  c->run_dir, (double)vfs.f_bavail * (double)vfs.f_frsize / 1e6, need / 1e6);
        return -1;
    }
    return 0;
}

int tcd_setup_check(const tcd_train_config *c, tcd_corpus *train, tcd_corpus *valid) {
    if (check_corpora(c, train, valid) != 0 || check_writable(c->run_dir) != 0) return -1;
    char *model_path = tcd_sprintf("%s/model.h5", c->run_dir);
    int exists = tcd_file_exists(model_path);
    free(model_path);
    if (exists && !c->overwrite) {
        tcd_error("--run-dir %s already holds a trained model.h5; use another --run-dir, or --overwrite", c->run_dir);
        return -1;
    }
    if (c->overwrite && tcd_ckpt_remove_all(c->run_dir) != 0) {
        tcd_error("--run-dir %s: cannot remove the old checkpoints (%s)", c->run_dir, strerror(errno));
        return -1;
    }
    if (check_room(c, train) != 0) return -1;
    if (c->resume && !tcd_ckpt_any(c->run_dir)) {
        tcd_error("--resume: %s/checkpoints holds no checkpoint to resume from", c->run_dir);
        return -1;
    }
    return 0;
}

/* "bow dim 16 hidden 16" from a model_config JSON (itself when it does not parse). */
static char *describe(const char *model_config) {
    const tcd_model_kind *k = NULL;
    void *cfg = NULL;
    char err[256];
    if (tcd_model_config_parse(model_config, &k, &cfg, err, sizeof err) != 0) return tcd_strdup(model_config);
    char *d = tcd_model_config_describe(k, cfg);
    free(cfg);
    return d;
}

int tcd_setup_check_resume(const tcd_train_config *c, const tcd_corpus *train, const tcd_ckpt_info *ck,
                           const char *path) {
    void *cfg = tcd_setup_model_cfg(c, train);
    char *now = tcd_model_config_json(c->kind, cfg);
    char why[1024] = "";
    if (strcmp(ck->data_sha256, train->content_sha256) != 0)
        snprintf(why, sizeof why, "the training data differs (content_sha256 %.12s... in the checkpoint, %.12s... in %s)",
                 ck->data_sha256, train->content_sha256, c->data);
    else if (strcmp(ck->vocab_sha256, train->vocab_sha256) != 0)
        snprintf(why, sizeof why, "the vocabulary differs");
    else if (strcmp(ck->model_config, now) != 0 || ck->n_classes != train->n_classes ||
             ck->n_embeddings != train->n_embeddings) {
        char *was = describe(ck->model_config), *is = tcd_model_config_describe(c->kind, cfg);
        snprintf(why, sizeof why,
                 "the model's shape differs (checkpoint: %.300s, %lld classes, %lld embeddings; now: %.300s, %lld "
                 "classes, %lld embeddings)",
                 was, (long long)ck->n_classes, (long long)ck->n_embeddings, is, (long long)train->n_classes,
                 (long long)train->n_embeddings);
        free(was);
        free(is);
    }
    free(now);
    free(cfg);
    int rc = 0;
    if (why[0]) {
        if (c->force)
            tcd_warn("resuming from %s although %s (--force)", path, why);
        else {
            tcd_error("refusing to resume from %s: %s. Use --overwrite to start a new run in this dir, or --force "
                      "if you know why",
                      path, why);
            rc = -1;
        }
    }
    return rc;
}

enum { RULE_STEPS = 600, RULE_LONG_STEPS = 3250, RULE_MIN_EPOCHS = 5, RULE_MAX_EPOCHS = 25 };
enum { RULE_BATCH = 192, RULE_MIN_BATCH = 32, RULE_BATCH_STEP = 8 };
#define RULE_LR 0.004
#define RULE_LR_MAX 0.1

void tcd_setup_apply_rule(tcd_train_config *c, int64_t train_docs, int64_t n_classes, int ova, tcd_setup_rule *r) {
    const int on = c->kind && c->kind->corpus_rule;
    *r = (tcd_setup_rule){.batch = on && c->batch == 0, .epochs = on && c->epochs == 0, .lr = on && c->lr == 0,
                          .train_docs = train_docs};
    if (c->batch == 0) {
        /* small corpora: the largest multiple of 8 that gives RULE_STEPS steps in RULE_MIN_EPOCHS epochs */
        int64_t b = train_docs * RULE_MIN_EPOCHS / RULE_STEPS / RULE_BATCH_STEP * RULE_BATCH_STEP;
        c->batch = !on || b > RULE_BATCH ? RULE_BATCH : b < RULE_MIN_BATCH ? RULE_MIN_BATCH : b;
    }
    const int64_t spe = tcd_steps_per_epoch(train_docs, c->batch);
    r->steps_per_epoch = spe;
    if (c->epochs == 0) {
        const int64_t e = spe > 0 ? (RULE_STEPS + spe - 1) / spe : RULE_MIN_EPOCHS;
        c->epochs = !on || e < RULE_MIN_EPOCHS ? RULE_MIN_EPOCHS : e > RULE_MAX_EPOCHS ? RULE_MAX_EPOCHS : e;
    }
    if (c->lr == 0) {
        /* lr x steps is kept between RULE_LR x RULE_STEPS x f and RULE_LR x RULE_LONG_STEPS, lr
         * RULE_LR in between: a softmax over many classes wants more steps (measured:
         * tests/bench/results/2026-12-06-panel-rule.md), and a long run a lower rate
         * (2026-12-07-long-runs.md); where the two disagree (f above 5.4) the first wins */
        const double f = !ova && n_classes > 2 ? log2((double)n_classes) : 1.0;
        const double steps = (double)spe * (double)c->epochs;
        c->lr = RULE_LR;
        if (on && steps > RULE_LONG_STEPS) c->lr = RULE_LR * RULE_LONG_STEPS / steps;
        /* steps x lr below RULE_LR x RULE_STEPS x f, written so that at lr RULE_LR it is the
         * comparison of earlier versions, bit for bit */
        if (on && steps > 0 && steps < RULE_STEPS * f * (RULE_LR / c->lr)) {
            const double raised = RULE_LR * RULE_STEPS * f / steps;
            c->lr = raised < RULE_LR_MAX ? raised : RULE_LR_MAX;
        }
    }
}

void tcd_setup_keep_resumed(tcd_train_config *c, tcd_setup_rule *r, const tcd_ckpt_info *info, char *note,
                            size_t n) {
    note[0] = 0;
    if (!r->batch && !r->epochs && !r->lr) return;
    /* top-level keys of tcd_setup_config_json's object (no member of model_config has these names) */
    const double batch = tcd_json_number(info->config_json, "batch");
    const double epochs = tcd_json_number(info->config_json, "epochs"), lr = tcd_json_number(info->config_json, "lr");
    /* config.json holds lr to 9 significant digits: a kept lr is that close to the run's, not
     * bit-identical (the same tcdist computes the same lr and keeps its own) */
    const int kb = r->batch && batch >= 1 && batch != (double)c->batch;
    const int ke = r->epochs && epochs >= 1 && epochs != (double)c->epochs;
    const int kl = r->lr && lr > 0 && fabs(lr - c->lr) > 1e-8 * c->lr;
    if (!kb && !ke && !kl) return;
    tcd_buf was = {0}, now = {0};
    if (kb) {
        tcd_buf_printf(&was, " --batch %lld", (long long)batch);
        tcd_buf_printf(&now, " --batch %lld", (long long)c->batch);
    }
    if (ke) {
        tcd_buf_printf(&was, " --epochs %lld", (long long)epochs);
        tcd_buf_printf(&now, " --epochs %lld", (long long)c->epochs);
    }
    if (kl) {
        tcd_buf_printf(&was, " --lr %.6g", lr);
        tcd_buf_printf(&now, " --lr %.6g", c->lr);
    }
    snprintf(note, n, "%s as in the checkpoint (the corpus rule now gives%s; give the flags to choose)", was.data + 1,
             now.data);
    free(was.data);
    free(now.data);
    /* the rule's values depend on each other (epochs and lr on the batch): keep all it set */
    if (r->batch && batch >= 1) c->batch = (int64_t)batch, r->batch = 0;
    if (r->epochs && epochs >= 1) c->epochs = (int64_t)epochs, r->epochs = 0;
    if (r->lr && lr > 0) c->lr = lr, r->lr = 0;
    r->steps_per_epoch = tcd_steps_per_epoch(r->train_docs, c->batch);
}

/* Numbers within config.json's 9 significant digits of each other. */
static int same_number(double was, double now) {
    return was == now || fabs(was - now) <= 1e-7 * fmax(fabs(was), fabs(now));
}

void tcd_setup_resume_changes(const tcd_train_config *c, const tcd_ckpt_info *info, char *note, size_t n) {
    note[0] = 0;
    /* the training settings of config.json (top-level keys; a key an older tcdist did not write is
     * skipped, except emb_lr, which is absent when it is 0) */
    const struct {
        const char *key, *flag;
        double now;
    } k[] = {{"epochs", "--epochs", (double)c->epochs},
             {"batch", "--batch", (double)c->batch},
             {"lr", "--lr", c->lr},
             {"warmup", "--warmup", (double)c->warmup},
             {"min_lr", "--min-lr", c->min_lr},
             {"beta1", "--beta1", c->beta1},
             {"beta2", "--beta2", c->beta2},
             {"eps", "--eps", c->eps},
             {"weight_decay", "--weight-decay", c->weight_decay},
             {"clip_norm", "--clip-norm", c->clip_norm},
             {"emb_lr", "--emb-lr", c->emb_lr},
             {"seed", "--seed", (double)c->seed}};
    tcd_buf b = {0};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        double was = tcd_json_number(info->config_json, k[i].key);
        if (isnan(was) && !strcmp(k[i].key, "emb_lr")) was = 0;
        if (isnan(was) || same_number(was, k[i].now)) continue;
        tcd_buf_printf(&b, "%s%s %.9g (the checkpoint's run: %.9g)", b.len ? ", " : "", k[i].flag, k[i].now, was);
    }
    char pat[96];
    snprintf(pat, sizeof pat, "\"schedule\": \"%.60s\"", c->schedule);
    if (info->config_json && strstr(info->config_json, "\"schedule\": \"") && !strstr(info->config_json, pat))
        tcd_buf_printf(&b, "%s--schedule %s (the checkpoint's run had another)", b.len ? ", " : "", c->schedule);
    if (b.len) snprintf(note, n, "%s", b.data);
    free(b.data);
}

void tcd_setup_rule_names(const tcd_setup_rule *r, const char *pre, const char *post, const char *sep,
                          const char *last, char *out, size_t n) {
    const char *names[3];
    int k = 0;
    if (r->batch) names[k++] = "batch";
    if (r->epochs) names[k++] = "epochs";
    if (r->lr) names[k++] = "lr";
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < k && at < n; i++) {
        const int w = snprintf(out + at, n - at, "%s%s%s%s", i == 0 ? "" : i == k - 1 ? last : sep, pre, names[i], post);
        if (w < 0) break;
        at += (size_t)w;
    }
}

char *tcd_setup_config_json(const tcd_train_config *c, const tcd_setup_rule *rule, const char *exchange,
                            const tcd_corpus *train, int world, int threads) {
    tcd_buf b = {0};
    tcd_buf_printf(&b, "{\"data\": ");
    tcd_buf_json_string(&b, c->data, strlen(c->data));
    tcd_buf_printf(&b, ", \"valid\": ");
    if (c->valid)
        tcd_buf_json_string(&b, c->valid, strlen(c->valid));
    else
        tcd_buf_printf(&b, "null");
    if (c->valid_split > 0) tcd_buf_printf(&b, ", \"valid_split\": %.9g", c->valid_split);
    if (c->early_stop > 0 || c->valid_every > 0)
        tcd_buf_printf(&b, ", \"early_stop\": %lld, \"valid_metric\": \"%s\", \"valid_every\": %lld",
                       (long long)c->early_stop, c->valid_metric, (long long)c->valid_every);
    if (rule && (rule->batch || rule->epochs || rule->lr)) {
        char set[64];
        tcd_setup_rule_names(rule, "\"", "\"", ", ", ", ", set, sizeof set);
        tcd_buf_printf(&b, ", \"corpus_rule\": {\"set\": [%s], \"train_docs\": %lld, \"steps_per_epoch\": %lld}", set,
                       (long long)rule->train_docs, (long long)rule->steps_per_epoch);
    }
    char *members = tcd_model_config_members(c->kind, c->model_cfg);
    char *model_config = tcd_model_config_json(c->kind, c->model_cfg);
    /* only for one-vs-all: a single-label run's config.json and model.h5 stay byte-identical */
    if (tcd_setup_ova(c, train)) tcd_buf_printf(&b, ", \"loss\": \"ova\"");
    /* only when set, for the same reason */
    if (c->emb_lr > 0) tcd_buf_printf(&b, ", \"emb_lr\": %.9g", c->emb_lr);
    tcd_buf_printf(&b, ", \"data_content_sha256\": \"%s\", \"model\": \"%s\", %s%s\"n_classes\": %lld, "
                       "\"n_embeddings\": %lld, \"epochs\": %lld, \"batch\": %lld, "
                       "\"lr\": %.9g, \"schedule\": \"%s\", \"warmup\": %lld, \"min_lr\": %.9g, \"beta1\": %.9g, "
                       "\"beta2\": %.9g, \"eps\": %.9g, \"weight_decay\": %.9g, \"clip_norm\": %.9g, "
                       "\"seed\": %lld, \"shuffle\": %s, \"max_steps\": %lld, \"deterministic\": %s, "
                       "\"exchange\": \"%s\", \"lazy_adam\": %s, \"max_memory_mb\": %g, \"world\": %d, \"threads\": %d, "
                       "\"model_config\": %s, \"version\": \"%s\"}",
                   train->content_sha256, c->kind->name, members, members[0] ? ", " : "", (long long)train->n_classes,
                   (long long)train->n_embeddings, (long long)c->epochs, (long long)c->batch, c->lr, c->schedule,
                   (long long)c->warmup, c->min_lr, c->beta1, c->beta2, c->eps, c->weight_decay, c->clip_norm,
                   (long long)c->seed, c->no_shuffle ? "false" : "true", (long long)c->max_steps,
                   c->deterministic ? "true" : "false", exchange, c->lazy_adam ? "true" : "false", c->max_memory_mb,
                   world, threads, model_config, TCDIST_VERSION);
    free(members);
    free(model_config);
    return b.data;
}
