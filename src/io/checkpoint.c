/* Checkpoints; see checkpoint.h for the layout and the run-dir rules.
 *
 * Reading always streams the whole file through the checksum (params, m, v in slices of
 * CKPT_SLICE_FLOATS), so a damaged byte anywhere in the data is an error, never a silent resume. */
#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5.h"
#include "io/model_file.h"
#include "base/hash64.h"
#include "base/sha256.h"
#include "base/util.h"

#define CKPT_SLICE_FLOATS ((int64_t)1 << 20) /* floats per read while streaming */
#define CKPT_DIR "checkpoints"
#define CKPT_LATEST "latest"

/* ---- fault injection (tests): TCDIST_FAULT=killwrite:RANK:N ---- */

/* The N of killwrite:R:N, or 0 when not asked for. Other fault kinds belong to train. */
static long long fault_killwrite_n(void) {
    static int parsed;
    static long long n;
    if (!parsed) {
        parsed = 1;
        const char *s = getenv("TCDIST_FAULT");
        char kind[16];
        int rank;
        long long k;
        if (s && sscanf(s, "%15[a-z]:%d:%lld", kind, &rank, &k) == 3 && !strcmp(kind, "killwrite") && k > 0) n = k;
    }
    return n;
}

/* ---- what the root attributes say ---- */

typedef struct {
    int64_t version;
    const tcd_model_kind *kind;
    void *cfg;
    char *model_config;        /* as stored (version 2): hashed exactly as written */
    int64_t v1_dim, v1_hidden; /* version 1's description of the bag model */
    int ova;                   /* the root attribute loss = "ova" (one-vs-all head); hashed when set */
    int64_t n_classes, n_embeddings, n_params, vocab_size, n_buckets;
    int64_t step, epoch, step_in_epoch, adam_t, seed, epoch_docs, tokens_total;
    double epoch_loss, elapsed_s;
    /* --early-stop's state, absent from other checkpoints (has_best 0); best_dst: where a load puts
     * the best parameters (NULL: verify only) */
    int has_best;
    int64_t best_step, bad_evals;
    double best_metric;
    float *best_dst;
    char data_sha[65], vocab_sha[65], params_sha[65], state_sha[65];
    char checksum[17]; /* hash64, hex */
    char *config;
    tcd_model layout; /* the tensor table (no buffers) */
    int have_layout;
} ck_meta;

static void ck_meta_free(ck_meta *k) {
    free(k->cfg);
    free(k->model_config);
    free(k->config);
    if (k->have_layout) tcd_model_free(&k->layout);
    memset(k, 0, sizeof *k);
}

/* The counters and sizes in one canonical text, hashed into the checksum. */
static void ck_state_text(const ck_meta *k, tcd_buf *b) {
    if (k->version == 1)
        tcd_buf_printf(b, "format=%s;version=1;dim=%lld;hidden=%lld;", TCD_CKPT_FORMAT, (long long)k->v1_dim,
                       (long long)k->v1_hidden);
    else
        tcd_buf_printf(b, "format=%s;version=%lld;model_config=%s;", TCD_CKPT_FORMAT, (long long)k->version,
                       k->model_config);
    tcd_buf_printf(b,
                   "n_classes=%lld;n_embeddings=%lld;vocab_size=%lld;n_buckets=%lld;n_params=%lld;step=%lld;epoch=%lld;"
                   "step_in_epoch=%lld;seed=%llu;epoch_loss=%.17g;epoch_docs=%lld;tokens_total=%lld;elapsed_s=%.17g;"
                   "adam_t=%lld",
                   (long long)k->n_classes, (long long)k->n_embeddings, (long long)k->vocab_size,
                   (long long)k->n_buckets, (long long)k->n_params, (long long)k->step, (long long)k->epoch,
                   (long long)k->step_in_epoch, (unsigned long long)(uint64_t)k->seed, k->epoch_loss,
                   (long long)k->epoch_docs, (long long)k->tokens_total, k->elapsed_s, (long long)k->adam_t);
    if (k->has_best)
        tcd_buf_printf(b, ";best_step=%lld;bad_evals=%lld;best_metric=%.17g", (long long)k->best_step,
                       (long long)k->bad_evals, k->best_metric);
    if (k->ova) tcd_buf_printf(b, ";loss=ova");
}

static void field_header(tcd_sha256 *s, uint64_t n_bytes) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n_bytes >> (8 * i));
    tcd_sha256_update(s, len, 8);
}

static void field_i64(tcd_sha256 *s, int64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    tcd_sha256_field(s, b, 8);
}

/* The checksum is a hash64 (fast: several GB/s) over length-prefixed fields: params, m, v, then
 * the state text, metrics, words, labels, corpus hashes and config. The sha256s of the parameters
 * and of the optimizer state that inspect shows are computed when reading, not at every write. */
static void field_header64(tcd_hash64 *s, uint64_t n_bytes) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n_bytes >> (8 * i));
    tcd_hash64_update(s, len, 8);
}

static void field_i64_64(tcd_hash64 *s, int64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    tcd_hash64_field(s, b, 8);
}

static void ck_hash_tail(tcd_hash64 *s, const ck_meta *k, const char *metrics, char *const *words, int64_t n_words,
                         char *const *labels, int64_t n_labels) {
    tcd_buf b = {0};
    ck_state_text(k, &b);
    tcd_hash64_field(s, b.data, b.len);
    tcd_buf_free(&b);
    tcd_hash64_field(s, metrics, strlen(metrics));
    field_i64_64(s, n_words);
    for (int64_t i = 0; i < n_words; i++) tcd_hash64_field(s, words[i], strlen(words[i]));
    field_i64_64(s, n_labels);
    for (int64_t i = 0; i < n_labels; i++) tcd_hash64_field(s, labels[i], strlen(labels[i]));
    tcd_hash64_field(s, k->data_sha, strlen(k->data_sha));
    tcd_hash64_field(s, k->vocab_sha, strlen(k->vocab_sha));
    tcd_hash64_field(s, k->config, strlen(k->config));
}

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

/* ---- writing ---- */

/* What the root attributes will say, from the model, the optimizer, the counters and the corpus. */
static void meta_for_write(ck_meta *k, const tcd_model *m, const tcd_ckpt_optim *o, const tcd_ckpt_state *st,
                           const tcd_corpus *train, const char *config_json) {
    memset(k, 0, sizeof *k);
    k->version = m->shape.ova ? 3 : 2; /* 3: an older tcdist must not resume a one-vs-all model */
    k->model_config = tcd_model_config_json(m->kind, m->cfg);
    k->ova = m->shape.ova;
    k->n_classes = m->shape.n_classes;
    k->n_embeddings = m->shape.n_embeddings;
    k->n_params = m->n_params;
    k->vocab_size = train->vocab_size;
    k->n_buckets = train->n_buckets;
    k->step = st->step;
    k->epoch = st->epoch;
    k->step_in_epoch = st->step_in_epoch;
    k->adam_t = o->t;
    k->seed = (int64_t)st->seed;
    k->epoch_loss = st->epoch_loss;
    k->epoch_docs = st->epoch_docs;
    k->tokens_total = st->tokens_total;
    k->elapsed_s = st->elapsed_s;
    k->has_best = st->best != NULL;
    k->best_step = st->best_step;
    k->bad_evals = st->bad_evals;
    k->best_metric = st->best_metric;
    memcpy(k->data_sha, train->content_sha256, 65);
    memcpy(k->vocab_sha, train->vocab_sha256, 65);
    k->config = tcd_strdup(config_json ? config_json : "{}");
}

/* The checkpoint's own root attributes (the model's come from tcd_model_write_into). */
static int write_state_attrs(hid_t f, const ck_meta *k) {
    int rc = 0;
    rc |= tcd_h5_attr_set_str(f, "format", TCD_CKPT_FORMAT);
    rc |= tcd_h5_attr_set_i64(f, "version", k->version);
    rc |= tcd_h5_attr_set_i64(f, "step", k->step);
    rc |= tcd_h5_attr_set_i64(f, "epoch", k->epoch);
    rc |= tcd_h5_attr_set_i64(f, "step_in_epoch", k->step_in_epoch);
    rc |= tcd_h5_attr_set_i64(f, "adam_t", k->adam_t);
    rc |= tcd_h5_attr_set_i64(f, "seed", k->seed);
    rc |= tcd_h5_attr_set_f64(f, "epoch_loss", k->epoch_loss);
    rc |= tcd_h5_attr_set_i64(f, "epoch_docs", k->epoch_docs);
    rc |= tcd_h5_attr_set_i64(f, "tokens_total", k->tokens_total);
    rc |= tcd_h5_attr_set_f64(f, "elapsed_s", k->elapsed_s);
    if (k->has_best) {
        rc |= tcd_h5_attr_set_i64(f, "best_step", k->best_step);
        rc |= tcd_h5_attr_set_i64(f, "bad_evals", k->bad_evals);
        rc |= tcd_h5_attr_set_f64(f, "best_metric", k->best_metric);
    }
    rc |= tcd_h5_attr_set_str(f, "checksum", k->checksum);
    return rc;
}

int tcd_ckpt_write(const char *path, const tcd_model *m, const tcd_ckpt_optim *o, const tcd_ckpt_state *st,
                   const tcd_corpus *train, const char *config_json, char *err, size_t errlen) {
    static long long n_calls;
    n_calls++;
    long long kill_at = fault_killwrite_n();

    ck_meta k;
    meta_for_write(&k, m, o, st, train, config_json);
    const char *metrics = st->metrics ? st->metrics : "";

    int64_t n_words = 0, n_labels = 0;
    char **words = tcd_corpus_read_vocab(train, &n_words, NULL);
    char **labels = words ? tcd_corpus_read_label_names(train, &n_labels) : NULL;
    if (!words || !labels) {
        snprintf(err, errlen, "%s: cannot write a checkpoint: reading the vocabulary of %s failed (%s)", path,
                 train->path, tcd_h5_errmsg());
        tcd_h5_free_strings(words, n_words);
        ck_meta_free(&k);
        return -1;
    }

    /* the checksum first, from memory: it goes into the file as an attribute */
    size_t n_bytes = sizeof(float) * (size_t)m->n_params;
    tcd_hash64 sum;
    tcd_hash64_init(&sum, 0);
    tcd_hash64_field(&sum, m->params, n_bytes);
    tcd_hash64_field(&sum, o->m, n_bytes);
    tcd_hash64_field(&sum, o->v, n_bytes);
    if (st->best) tcd_hash64_field(&sum, st->best, n_bytes);
    ck_hash_tail(&sum, &k, metrics, words, n_words, labels, n_labels);
    hex64(tcd_hash64_final(&sum), k.checksum);

    /* the file: params, m and v, the vocabulary and labels (bytes + HDF5's per-string overhead),
     * the metrics, and slack for HDF5's own structures */
    double words_bytes = 0;
    for (int64_t i = 0; i < n_words; i++) words_bytes += (double)strlen(words[i]) + 32.0;
    const double need = (st->best ? 4.0 : 3.0) * (double)n_bytes + words_bytes + 8.0 * (double)n_words + (double)strlen(metrics) +
                        (double)strlen(k.config) + (1 << 20);
    char space_err[512];
    if (tcd_check_space(path, need, space_err, sizeof space_err) != 0) {
        snprintf(err, errlen, "%s: %s; nothing was written", path, space_err);
        tcd_h5_free_strings(words, n_words);
        tcd_h5_free_strings(labels, n_labels);
        ck_meta_free(&k);
        return -1;
    }
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    char *tmp = tcd_tmp_path_for(path);
    const char *stage = "create the temporary file";
    int64_t n = m->n_params;
    hid_t f = tcd_h5_create(tmp);
    if (f < 0) goto fail;
    stage = "write the parameters";
    if (tcd_model_write_into(f, m, k.step, train, k.config, 0) != 0) goto fail;
    stage = "write the optimizer state";
    if (tcd_h5_write(f, "optimizer/m", H5T_NATIVE_FLOAT, 1, &n, o->m) != 0) goto fail;
    if (kill_at && n_calls == kill_at) {
        /* a crash halfway: params and m are (partly) on disk, v and the attributes are not */
        H5Fflush(f, H5F_SCOPE_GLOBAL);
        fprintf(stderr, "tcdist: fault injection (TCDIST_FAULT): SIGKILL while writing checkpoint %lld (%s)\n",
                n_calls, tmp);
        fflush(stderr);
        kill(getpid(), SIGKILL);
    }
    if (tcd_h5_write(f, "optimizer/v", H5T_NATIVE_FLOAT, 1, &n, o->v) != 0) goto fail;
    stage = "write the best parameters";
    if (st->best && tcd_h5_write(f, "early_stop/best_params", H5T_NATIVE_FLOAT, 1, &n, st->best) != 0) goto fail;
    stage = "write the metrics";
    if (tcd_h5_write_text(f, "metrics", metrics) != 0) goto fail;
    stage = "write the attributes";
    if (write_state_attrs(f, &k) != 0) goto fail;
    stage = "flush and close";
    int close_rc = tcd_h5_close(f);
    f = -1;
    if (close_rc != 0) goto fail;
    stage = "fsync and rename";
    if (tcd_commit_file(tmp, path) != 0) {
        snprintf(err, errlen, "%s: could not %s the checkpoint (%s); nothing was replaced", path, stage,
                 strerror(errno));
        unlink(tmp);
        free(tmp);
        ck_meta_free(&k);
        return -1;
    }
    free(tmp);
    ck_meta_free(&k);
    return 0;

fail:
    snprintf(err, errlen, "%s: could not %s of the checkpoint (%s); nothing was replaced", path, stage,
             tcd_h5_errmsg());
    if (f >= 0) H5Fclose(f);
    unlink(tmp);
    free(tmp);
    ck_meta_free(&k);
    return -1;
}

/* ---- reading ---- */

/* The model kind and its tensor table: from model_config (version 2) or from the bag model's
 * dim and hidden attributes (version 1). */
static int read_model(hid_t f, const char *path, ck_meta *k, char *err, size_t errlen) {
    char why[512];
    if (k->version == 1 && (tcd_h5_attr_get_i64(f, "dim", &k->v1_dim) < 0 ||
                            tcd_h5_attr_get_i64(f, "hidden", &k->v1_hidden) < 0)) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        return -1;
    }
    if (k->version >= 2 && !(k->model_config = tcd_h5_attr_get_str(f, "model_config"))) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        return -1;
    }
    const int krc = tcd_model_read_kind(f, k->version, &k->kind, &k->cfg, why, sizeof why);
    if (krc != 0) {
        snprintf(err, errlen, "%s: %s%s", path, krc == -2 ? "" : "damaged checkpoint: ", why);
        return -1;
    }
    if (!k->model_config) k->model_config = tcd_model_config_json(k->kind, k->cfg);
    tcd_model_shape shape = {.n_embeddings = k->n_embeddings, .n_classes = k->n_classes};
    if (tcd_model_read_ova(f, &shape.ova, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    k->ova = shape.ova;
    if (tcd_model_build(&k->layout, k->kind, k->cfg, &shape, (uint64_t)k->seed, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, why);
        return -1;
    }
    k->have_layout = 1;
    k->n_params = k->layout.n_params;
    return 0;
}

/* Root attributes, with format/version and size checks. */
static int read_meta(hid_t f, const char *path, ck_meta *k, char *err, size_t errlen) {
    memset(k, 0, sizeof *k);
    if (tcd_h5_check_format(f, path, TCD_CKPT_FORMAT, TCD_CKPT_VERSION,
                            "checkpoints are what 'tcdist train' writes in RUN_DIR/checkpoints", &k->version, err,
                            errlen) != 0)
        return -1;
    static const char *const i64_names[] = {"n_classes", "n_embeddings", "vocab_size", "n_buckets", "step", "epoch",
                                            "step_in_epoch", "adam_t", "seed", "epoch_docs", "tokens_total"};
    int64_t *i64_dst[] = {&k->n_classes,     &k->n_embeddings, &k->vocab_size, &k->n_buckets,
                          &k->step,          &k->epoch,        &k->step_in_epoch, &k->adam_t,
                          &k->seed,          &k->epoch_docs,   &k->tokens_total};
    for (size_t i = 0; i < sizeof i64_names / sizeof i64_names[0]; i++)
        if (tcd_h5_attr_get_i64(f, i64_names[i], i64_dst[i]) < 0) {
            snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
            return -1;
        }
    k->has_best = tcd_h5_attr_exists(f, "best_step") > 0;
    if (k->has_best &&
        (tcd_h5_attr_get_i64(f, "best_step", &k->best_step) < 0 || tcd_h5_attr_get_i64(f, "bad_evals", &k->bad_evals) < 0 ||
         tcd_h5_attr_get_f64(f, "best_metric", &k->best_metric) < 0)) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        return -1;
    }
    if (tcd_h5_attr_get_f64(f, "epoch_loss", &k->epoch_loss) < 0 ||
        tcd_h5_attr_get_f64(f, "elapsed_s", &k->elapsed_s) < 0) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        return -1;
    }
    static const char *const hex_names[] = {"data_content_sha256", "vocab_sha256"};
    char *hex_dst[] = {k->data_sha, k->vocab_sha};
    for (size_t i = 0; i < sizeof hex_names / sizeof hex_names[0]; i++)
        if (tcd_h5_attr_get_sha256(f, hex_names[i], hex_dst[i]) < 0) {
            snprintf(err, errlen, "%s: damaged checkpoint: attribute '%s' is missing or not a sha256", path,
                     hex_names[i]);
            return -1;
        }
    char *ck = tcd_h5_attr_get_str(f, "checksum");
    int ck_ok = ck && strlen(ck) == 16;
    if (ck_ok) memcpy(k->checksum, ck, 17);
    free(ck);
    if (!ck_ok) {
        snprintf(err, errlen, "%s: damaged checkpoint: attribute 'checksum' is missing or malformed", path);
        return -1;
    }
    k->config = tcd_h5_attr_get_str(f, "config");
    if (!k->config) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        return -1;
    }
    /* a file that passes its checksum can still be edited by hand: every count in the range a run
     * writes (an epoch or a step inside one has a step of its own, so neither exceeds the step) */
    const int64_t big = (int64_t)1 << 40;
    const struct {
        const char *name;
        int64_t v, lo, hi;
    } range[] = {{"n_classes", k->n_classes, 2, big},   {"n_embeddings", k->n_embeddings, 1, big},
                 {"vocab_size", k->vocab_size, 0, big}, {"n_buckets", k->n_buckets, 0, big},
                 {"step", k->step, 0, big},             {"epoch", k->epoch, 0, k->step},
                 {"step_in_epoch", k->step_in_epoch, 0, k->step}, {"adam_t", k->adam_t, 0, big},
                 {"epoch_docs", k->epoch_docs, 0, big}, {"tokens_total", k->tokens_total, 0, INT64_MAX}};
    for (size_t i = 0; i < sizeof range / sizeof *range; i++)
        if (range[i].v < range[i].lo || range[i].v > range[i].hi) {
            snprintf(err, errlen, "%s: damaged checkpoint: attribute '%s' is %lld, out of range [%lld, %lld]", path,
                     range[i].name, (long long)range[i].v, (long long)range[i].lo, (long long)range[i].hi);
            return -1;
        }
    if (k->vocab_size + k->n_buckets != k->n_embeddings) {
        snprintf(err, errlen, "%s: damaged checkpoint: vocab_size %lld + n_buckets %lld is not n_embeddings %lld", path,
                 (long long)k->vocab_size, (long long)k->n_buckets, (long long)k->n_embeddings);
        return -1;
    }
    if (read_model(f, path, k, err, errlen) != 0) return -1;
    /* params, m and v are stored uncompressed: a file smaller than them is truncated (and a
     * damaged size attribute must not make us allocate terabytes) */
    struct stat sb;
    if (stat(path, &sb) == 0 && (double)k->n_params * 12.0 > (double)sb.st_size) {
        snprintf(err, errlen, "%s: damaged checkpoint: %lld parameters cannot fit in %lld bytes (truncated?)", path,
                 (long long)k->n_params, (long long)sb.st_size);
        return -1;
    }
    return 0;
}

/* Streams a 1-D or 2-D float dataset of rows x cols into the hashes (and dst when not NULL). */
/* What stream_floats requires of every value: nothing more, finite, or finite and not negative. */
enum { ANY_FLOAT, FINITE, FINITE_NONNEG };

static int stream_floats(hid_t f, const char *path, const char *name, int64_t rows, int64_t cols, float *dst,
                         int need, tcd_hash64 *sum, tcd_sha256 *s2, char *err, size_t errlen) {
    int64_t d[2];
    int rank = tcd_h5_dims(f, name, d);
    if (rank < 0 || d[0] != rows || d[1] != cols) {
        snprintf(err, errlen, "%s: damaged checkpoint: dataset '%s' is missing or has the wrong shape (expected [%lld, %lld])",
                 path, name, (long long)rows, (long long)cols);
        return -1;
    }
    int64_t rows_per = CKPT_SLICE_FLOATS / cols;
    if (rows_per < 1) rows_per = 1;
    if (rows_per > rows) rows_per = rows;
    float *slice = dst ? NULL : tcd_malloc(sizeof(float) * (size_t)(rows_per * cols > 0 ? rows_per * cols : 1));
    for (int64_t r0 = 0; r0 < rows; r0 += rows_per) {
        int64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
        float *out = dst ? dst + r0 * cols : slice;
        if (tcd_h5_read_rows(f, name, H5T_NATIVE_FLOAT, r0, nr, out) < 0) {
            snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
            free(slice);
            return -1;
        }
        /* a file that passes its checksum can still hold state no run writes (edited by hand):
         * a non-finite value would train on as NaN and end in a model.h5 of NaNs */
        for (int64_t i = 0; need != ANY_FLOAT && i < nr * cols; i++)
            if (!isfinite(out[i]) || (need == FINITE_NONNEG && out[i] < 0)) {
                snprintf(err, errlen,
                         "%s: damaged checkpoint: dataset '%s' holds %g at element %lld (no run writes %s)", path,
                         name, (double)out[i], (long long)(r0 * cols + i),
                         need == FINITE_NONNEG ? "a negative or non-finite value there" : "a non-finite value");
                free(slice);
                return -1;
            }
        size_t nb = sizeof(float) * (size_t)(nr * cols);
        tcd_hash64_update(sum, out, nb);
        if (s2) tcd_sha256_update(s2, out, nb);
    }
    free(slice);
    return 0;
}

/* Reads and verifies everything after the attributes. With params/mo/vo non-NULL the data lands
 * there (flat, tensor order); metrics_out (optional) gets the metrics text. */
static int verify_data(hid_t f, const char *path, ck_meta *k, float *params, float *mo, float *vo,
                       char **metrics_out, int want_sha, char *err, size_t errlen) {
    int rc = -1;
    char *metrics = NULL;
    char **words = NULL, **labels = NULL;
    int64_t n_words = 0, n_labels = 0;
    size_t n_bytes = sizeof(float) * (size_t)k->n_params;
    tcd_hash64 sum;
    tcd_sha256 state, psum;
    tcd_hash64_init(&sum, 0);
    tcd_sha256_init(&state);
    tcd_sha256_init(&psum);

    field_header64(&sum, n_bytes);
    for (int i = 0; i < k->layout.n_tensors; i++) {
        const tcd_tensor *t = &k->layout.tensors[i];
        char name[64];
        snprintf(name, sizeof name, "params/%s", t->name);
        if (stream_floats(f, path, name, t->rows, t->cols, params ? params + t->offset : NULL, FINITE, &sum,
                          want_sha ? &psum : NULL, err, errlen) < 0)
            goto out;
    }
    field_header64(&sum, n_bytes);
    field_header(&state, n_bytes);
    if (stream_floats(f, path, "optimizer/m", k->n_params, 1, mo, FINITE, &sum, want_sha ? &state : NULL, err,
                      errlen) < 0)
        goto out;
    field_header64(&sum, n_bytes);
    field_header(&state, n_bytes);
    if (stream_floats(f, path, "optimizer/v", k->n_params, 1, vo, FINITE_NONNEG, &sum, want_sha ? &state : NULL,
                      err, errlen) < 0)
        goto out;
    field_i64(&state, k->adam_t);
    if (k->has_best) {
        field_header64(&sum, n_bytes);
        if (stream_floats(f, path, "early_stop/best_params", k->n_params, 1, k->best_dst, FINITE, &sum, NULL, err,
                          errlen) < 0)
            goto out;
    }

    /* the texts: checked string tables (version 2), or variable-length strings (version 1), read
     * only now that everything else was read and checked */
    if (k->version >= 2) {
        metrics = tcd_h5_read_text(f, "metrics");
        words = metrics ? tcd_h5_read_strtable(f, "vocab/words", k->vocab_size, &n_words) : NULL;
        labels = words ? tcd_h5_read_strtable(f, "label_names", k->n_classes, &n_labels) : NULL;
    } else {
        metrics = tcd_h5_read_vlen_string(f, "metrics");
        words = metrics ? tcd_h5_read_vlen_strings(f, "vocab/words", &n_words) : NULL;
        labels = words ? tcd_h5_read_vlen_strings(f, "label_names", &n_labels) : NULL;
    }
    if (!metrics) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        goto out;
    }
    if (!words || !labels) {
        snprintf(err, errlen, "%s: damaged checkpoint: %s", path, tcd_h5_errmsg());
        goto out;
    }
    if (n_words != k->vocab_size || n_labels != k->n_classes) {
        snprintf(err, errlen, "%s: damaged checkpoint: %lld words and %lld labels, the attributes say %lld and %lld",
                 path, (long long)n_words, (long long)n_labels, (long long)k->vocab_size, (long long)k->n_classes);
        goto out;
    }
    ck_hash_tail(&sum, k, metrics, words, n_words, labels, n_labels);
    char hex[17];
    hex64(tcd_hash64_final(&sum), hex);
    if (strcmp(hex, k->checksum) != 0) {
        snprintf(err, errlen, "%s: damaged checkpoint: checksum mismatch (stored %s, computed %s)", path, k->checksum,
                 hex);
        goto out;
    }
    if (want_sha) {
        tcd_sha256_hex(&psum, k->params_sha);
        tcd_sha256_hex(&state, k->state_sha);
    }
    rc = 0;
    if (metrics_out) {
        *metrics_out = metrics;
        metrics = NULL;
    }
out:
    free(metrics);
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    return rc;
}

/* Opens path and reads + checks the attributes. Returns the file id or -1 (err set). */
static hid_t open_meta(const char *path, ck_meta *k, char *err, size_t errlen) {
    memset(k, 0, sizeof *k);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot open the checkpoint (%s)", path, strerror(errno));
        return -1;
    }
    if (sb.st_size == 0) {
        snprintf(err, errlen, "%s: damaged checkpoint: the file is empty", path);
        return -1;
    }
    hid_t f = tcd_h5_open_ro(path);
    if (f < 0) {
        snprintf(err, errlen, "%s: damaged checkpoint or not a checkpoint: %s", path, tcd_h5_errmsg());
        return -1;
    }
    if (read_meta(f, path, k, err, errlen) < 0) {
        ck_meta_free(k);
        H5Fclose(f);
        return -1;
    }
    return f;
}

int tcd_ckpt_read_info(const char *path, tcd_ckpt_info *info, char *err, size_t errlen) {
    memset(info, 0, sizeof *info);
    ck_meta k;
    hid_t f = open_meta(path, &k, err, errlen);
    if (f < 0) return -1;
    int rc = verify_data(f, path, &k, NULL, NULL, NULL, NULL, 1, err, errlen);
    if (H5Fclose(f) < 0 && rc == 0) {
        snprintf(err, errlen, "%s: damaged checkpoint: cannot close the file", path);
        rc = -1;
    }
    if (rc == 0) {
        info->version = k.version;
        info->step = k.step;
        info->epoch = k.epoch;
        info->step_in_epoch = k.step_in_epoch;
        info->adam_t = k.adam_t;
        info->n_classes = k.n_classes;
        info->n_embeddings = k.n_embeddings;
        info->n_params = k.n_params;
        memcpy(info->data_sha256, k.data_sha, 65);
        memcpy(info->vocab_sha256, k.vocab_sha, 65);
        memcpy(info->params_sha256, k.params_sha, 65);
        memcpy(info->state_sha256, k.state_sha, 65);
        info->model_config = tcd_model_config_json(k.kind, k.cfg);
        info->config_json = k.config;
        k.config = NULL;
    }
    ck_meta_free(&k);
    return rc;
}

void tcd_ckpt_info_free(tcd_ckpt_info *info) {
    free(info->config_json);
    free(info->model_config);
    memset(info, 0, sizeof *info);
}

/* The caller's model against the file's, tensor by tensor. */
static int same_layout(const char *path, const tcd_model *m, const tcd_model *k, char *err, size_t errlen) {
    if (m->shape.ova != k->shape.ova) {
        snprintf(err, errlen, "%s: the checkpoint does not fit this model: it was trained with the %s loss, this run "
                 "uses %s (--loss)",
                 path, k->shape.ova ? "one-vs-all (ova)" : "softmax/sigmoid", m->shape.ova ? "ova" : "softmax");
        return -1;
    }
    for (int i = 0; i < m->n_tensors || i < k->n_tensors; i++) {
        const tcd_tensor *mt = i < m->n_tensors ? &m->tensors[i] : NULL;
        const tcd_tensor *kt = i < k->n_tensors ? &k->tensors[i] : NULL;
        if (!mt || !kt || strcmp(mt->name, kt->name) != 0 || mt->rows != kt->rows || mt->cols != kt->cols) {
            snprintf(err, errlen,
                     "%s: the checkpoint does not fit this model: tensor %d is '%s' [%lld, %lld] in the checkpoint "
                     "but '%s' [%lld, %lld] in the model (model settings, classes or vocabulary differ)",
                     path, i, kt ? kt->name : "(none)", (long long)(kt ? kt->rows : 0), (long long)(kt ? kt->cols : 0),
                     mt ? mt->name : "(none)", (long long)(mt ? mt->rows : 0), (long long)(mt ? mt->cols : 0));
            return -1;
        }
    }
    return 0;
}

int tcd_ckpt_load(const char *path, const tcd_model *m, float *params, tcd_ckpt_optim *o, tcd_ckpt_state *st,
                  char *err, size_t errlen) {
    ck_meta k;
    hid_t f = open_meta(path, &k, err, errlen);
    if (f < 0) return -1;
    int rc = -1;
    if (same_layout(path, m, &k.layout, err, errlen) != 0) goto out;
    TCD_CHECK(k.n_params == m->n_params);
    /* verify first (streaming), then read into the caller's buffers, verifying again */
    if (verify_data(f, path, &k, NULL, NULL, NULL, NULL, 0, err, errlen) < 0) goto out;
    char *metrics = NULL;
    float *best = k.has_best ? tcd_malloc(sizeof(float) * (size_t)(k.n_params ? k.n_params : 1)) : NULL;
    k.best_dst = best;
    if (verify_data(f, path, &k, params, o->m, o->v, &metrics, 0, err, errlen) < 0) {
        free(best);
        goto out;
    }
    o->t = k.adam_t;
    memset(st, 0, sizeof *st);
    st->step = k.step;
    st->epoch = k.epoch;
    st->step_in_epoch = k.step_in_epoch;
    st->seed = (uint64_t)k.seed;
    st->epoch_loss = k.epoch_loss;
    st->epoch_docs = k.epoch_docs;
    st->tokens_total = k.tokens_total;
    st->elapsed_s = k.elapsed_s;
    st->metrics = metrics;
    st->best = best;
    st->best_step = k.has_best ? k.best_step : -1;
    st->bad_evals = k.bad_evals;
    st->best_metric = k.best_metric;
    rc = 0;
out:
    H5Fclose(f);
    ck_meta_free(&k);
    return rc;
}

void tcd_ckpt_state_free(tcd_ckpt_state *st) {
    free(st->metrics);
    free(st->best);
    st->metrics = NULL;
    st->best = NULL;
}

/* ---- run dir ---- */

/* "ckpt-<digits>.h5" exactly -> step; -1 for any other name (temporary files start with '.'). */
static int64_t ckpt_name_step(const char *name) {
    if (strncmp(name, "ckpt-", 5) != 0) return -1;
    const char *p = name + 5;
    int64_t step = 0;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
        if (step > (INT64_MAX - 9) / 10) return -1;
        step = step * 10 + (*p - '0');
        p++;
        n++;
    }
    if (n == 0 || strcmp(p, ".h5") != 0) return -1;
    return step;
}

typedef struct {
    char *name;
    int64_t step;
} ck_entry;

static int cmp_entry_desc(const void *a, const void *b) {
    const ck_entry *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Checkpoint files of dir, newest step first. Returns the count (0 when dir is missing). */
static int64_t list_ckpts(const char *dir, ck_entry **out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int64_t n = 0, cap = 0;
    ck_entry *v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t step = ckpt_name_step(e->d_name);
        if (step < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = tcd_realloc(v, sizeof *v * (size_t)cap);
        }
        v[n].name = tcd_strdup(e->d_name);
        v[n].step = step;
        n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_entry_desc);
    *out = v;
    return n;
}

static void free_entries(ck_entry *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(v[i].name);
    free(v);
}

/* Replaces dir/latest atomically with "name\n". */
static int write_latest(const char *dir, const char *name, char *err, size_t errlen) {
    char *path = tcd_sprintf("%s/%s", dir, CKPT_LATEST);
    char *tmp = tcd_tmp_path_for(path);
    int rc = -1;
    FILE *fp = fopen(tmp, "wb");
    if (fp) {
        int ok = fprintf(fp, "%s\n", name) > 0;
        if (fflush(fp) != 0) ok = 0;
        if (fclose(fp) != 0) ok = 0;
        if (ok && tcd_commit_file(tmp, path) == 0) rc = 0;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: could not update (%s); it still names the previous checkpoint", path,
                 strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}

int tcd_ckpt_save(const char *run_dir, int64_t keep, const tcd_model *m, const tcd_ckpt_optim *o,
                  const tcd_ckpt_state *st, const tcd_corpus *train, const char *config_json, char *err,
                  size_t errlen) {
    TCD_CHECK(keep >= 1 && st->step >= 0);
    char *dir = tcd_sprintf("%s/%s", run_dir, CKPT_DIR);
    if (tcd_mkdir_p(dir) != 0) {
        snprintf(err, errlen, "%s: cannot create the checkpoint folder (%s)", dir, strerror(errno));
        free(dir);
        return -1;
    }
    char name[64];
    snprintf(name, sizeof name, "ckpt-%08lld.h5", (long long)st->step);
    char *path = tcd_sprintf("%s/%s", dir, name);
    int rc = tcd_ckpt_write(path, m, o, st, train, config_json, err, errlen);
    if (rc == 0) rc = write_latest(dir, name, err, errlen);
    if (rc == 0) {
        /* the one just written counts towards keep and is never removed, whatever its step */
        ck_entry *v;
        int64_t n = list_ckpts(dir, &v), kept = 1;
        int removed = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!strcmp(v[i].name, name)) continue;
            if (kept < keep) {
                kept++;
                continue;
            }
            char *old = tcd_sprintf("%s/%s", dir, v[i].name);
            if (unlink(old) != 0)
                tcd_warn("%s: cannot remove an old checkpoint (%s)", old, strerror(errno));
            else
                removed = 1;
            free(old);
        }
        free_entries(v, n);
        if (removed) tcd_fsync_path(dir);
    }
    free(path);
    free(dir);
    return rc;
}

/* Hands a verified checkpoint's info to the caller (when it wants it), else frees it. */
static void keep_info(tcd_ckpt_info *info, tcd_ckpt_info *out) {
    if (out)
        *out = *info;
    else
        tcd_ckpt_info_free(info);
}

char *tcd_ckpt_find_info(const char *run_dir, int *found_bad, tcd_ckpt_info *found, char *err, size_t errlen) {
    *found_bad = 0;
    if (found) memset(found, 0, sizeof *found);
    char *dir = tcd_sprintf("%s/%s", run_dir, CKPT_DIR);
    char *latest_path = tcd_sprintf("%s/%s", dir, CKPT_LATEST);
    ck_entry *v;
    int64_t n = list_ckpts(dir, &v);
    int have_latest = tcd_file_exists(latest_path);
    char *result = NULL, *tried = NULL;
    char why[1024] = "";
    int n_bad = 0;

    if (have_latest) {
        size_t len = 0;
        char *txt = tcd_read_file(latest_path, &len);
        if (txt) {
            while (len > 0 && (txt[len - 1] == '\n' || txt[len - 1] == '\r')) txt[--len] = 0;
        }
        if (!txt || ckpt_name_step(txt) < 0 || strlen(txt) != len) {
            snprintf(why, sizeof why, "%s: does not name a checkpoint file", latest_path);
            tcd_warn("%s; trying the checkpoints in %s from the newest", why, dir);
            n_bad++;
        } else {
            char *p = tcd_sprintf("%s/%s", dir, txt);
            tcd_ckpt_info info;
            if (tcd_ckpt_read_info(p, &info, why, sizeof why) == 0) {
                keep_info(&info, found);
                result = p;
            } else {
                tcd_warn("%s (named by %s); trying older checkpoints", why, latest_path);
                n_bad++;
                free(p);
            }
            tried = tcd_strdup(txt);
        }
        free(txt);
    } else if (n > 0) {
        snprintf(why, sizeof why, "%s is missing", latest_path);
        tcd_warn("%s; trying the checkpoints in %s from the newest", why, dir);
    }
    for (int64_t i = 0; i < n && !result; i++) {
        if (tried && !strcmp(tried, v[i].name)) continue;
        char *p = tcd_sprintf("%s/%s", dir, v[i].name);
        tcd_ckpt_info info;
        if (tcd_ckpt_read_info(p, &info, why, sizeof why) == 0) {
            keep_info(&info, found);
            result = p;
            if (n_bad || !have_latest) tcd_warn("falling back to %s", p);
        } else {
            tcd_warn("%s; trying older checkpoints", why);
            n_bad++;
            free(p);
        }
    }
    if (!result) {
        if (n > 0 || have_latest) {
            *found_bad = 1;
            snprintf(err, errlen, "%s: none of the %lld checkpoint file(s) verifies (last problem: %.700s)", dir,
                     (long long)n, why[0] ? why : "?");
        } else {
            snprintf(err, errlen, "%s: no checkpoint", dir);
        }
    }
    free(tried);
    free_entries(v, n);
    free(latest_path);
    free(dir);
    return result;
}

char *tcd_ckpt_find(const char *run_dir, int *found_bad, char *err, size_t errlen) {
    return tcd_ckpt_find_info(run_dir, found_bad, NULL, err, errlen);
}

int64_t tcd_ckpt_list(const char *run_dir, char ***paths) {
    char *dir = tcd_sprintf("%s/%s", run_dir, CKPT_DIR);
    ck_entry *v;
    int64_t n = list_ckpts(dir, &v);
    *paths = tcd_calloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n; i++) (*paths)[i] = tcd_sprintf("%s/%s", dir, v[i].name);
    free_entries(v, n);
    free(dir);
    return n;
}

int tcd_ckpt_any(const char *run_dir) {
    char *dir = tcd_sprintf("%s/%s", run_dir, CKPT_DIR);
    char *latest_path = tcd_sprintf("%s/%s", dir, CKPT_LATEST);
    ck_entry *v;
    int64_t n = list_ckpts(dir, &v);
    int any = n > 0 || tcd_file_exists(latest_path);
    free_entries(v, n);
    free(latest_path);
    free(dir);
    return any;
}

/* Our temporary names: ".ckpt-<step>.h5.tmp.<pid>" and ".latest.tmp.<pid>". */
static int is_our_tmp(const char *name) {
    if (name[0] != '.') return 0;
    const char *t = strstr(name, ".tmp.");
    if (!t) return 0;
    size_t base = (size_t)(t - name - 1);
    char buf[256];
    if (base == 0 || base >= sizeof buf) return 0;
    memcpy(buf, name + 1, base);
    buf[base] = 0;
    return ckpt_name_step(buf) >= 0 || !strcmp(buf, CKPT_LATEST);
}

int tcd_ckpt_remove_all(const char *run_dir) {
    char *dir = tcd_sprintf("%s/%s", run_dir, CKPT_DIR);
    DIR *d = opendir(dir);
    if (!d) {
        int missing = errno == ENOENT;
        free(dir);
        return missing ? 0 : -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (ckpt_name_step(e->d_name) < 0 && strcmp(e->d_name, CKPT_LATEST) != 0 && !is_our_tmp(e->d_name)) continue;
        char *p = tcd_sprintf("%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT) {
            tcd_warn("%s: cannot remove (%s)", p, strerror(errno));
            rc = -1;
        }
        free(p);
    }
    closedir(d);
    tcd_fsync_path(dir);
    free(dir);
    return rc;
}

/* The pid in a temporary name ("...tmp.<pid>"), or -1. */
static long tmp_pid(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || !t[5]) return -1;
    char *end;
    errno = 0;
    const long pid = strtol(t + 5, &end, 10);
    return *end || errno || pid <= 0 ? -1 : pid;
}

/* A writer's temporary file whose process is gone from this machine (a process that is alive, of
 * any program, keeps its file: a pid can be reused, and a run dir may be shared between hosts). */
static int stale(const char *name) {
    const long pid = tmp_pid(name);
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* What tcdist train writes in a run dir through a temporary name ("." NAME ".tmp.<pid>"). */
static int is_run_tmp(const char *name) {
    static const char *const files[] = {"model.h5", "config.json", "summary.json", "valid_split.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const size_t n = strlen(files[i]);
        if (name[0] == '.' && !strncmp(name + 1, files[i], n) && !strncmp(name + 1 + n, ".tmp.", 5)) return 1;
    }
    return 0;
}

static void sweep_dir(const char *dir, int (*ours)(const char *)) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    int any = 0;
    while ((e = readdir(d)) != NULL) {
        if (!ours(e->d_name) || !stale(e->d_name)) continue;
        char *p = tcd_sprintf("%s/%s", dir, e->d_name);
        if (unlink(p) == 0)
            any = 1;
        else if (errno != ENOENT)
            tcd_warn("%s: cannot remove a killed writer's temporary file (%s)", p, strerror(errno));
        free(p);
    }
    closedir(d);
    if (any) tcd_fsync_path(dir);
}

void tcd_ckpt_sweep_tmp(const char *run_dir) {
    char *dir = tcd_sprintf("%s/%s", run_dir, CKPT_DIR);
    sweep_dir(dir, is_our_tmp);
    sweep_dir(run_dir, is_run_tmp);
    free(dir);
}
