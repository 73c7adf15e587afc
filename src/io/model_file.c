/* Model file save/load; see model_file.h. Nothing here knows a model's shapes: tensors come from
 * the model's tensor table, the kind and its parameters from the registry. */
#include "io/model_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "base/util.h"
#include "io/corpus_write.h"
#include "io/h5.h"

void tcd_params_sha256(const tcd_model *m, char out[65]) {
    tcd_sha256 s;
    tcd_sha256_init(&s);
    tcd_sha256_update(&s, m->params, sizeof(float) * (size_t)m->n_params);
    tcd_sha256_hex(&s, out);
}

/* The kind's scalar parameters as attributes of their own, for h5py users: on the /params group
 * always, and at the root (where version 1 kept the bag model's dim and hidden) unless the root
 * already has an attribute of that name (a tokenizer setting such as max_len, say): written after
 * every other root attribute, they can never replace one. Readers use model_config only. */
static int write_param_attrs(hid_t f, const tcd_model *m) {
    int rc = 0;
    hid_t g = tcd_h5_group(f, "params");
    if (g < 0) return -1;
    for (const tcd_model_param *p = m->kind->params; p->name; p++) {
        const void *v = (const char *)m->cfg + p->offset;
        const int root = !tcd_h5_attr_exists(f, p->name);
        if (p->type == TCD_MP_I64) {
            rc |= tcd_h5_attr_set_i64(g, p->name, *(const int64_t *)v);
            if (root) rc |= tcd_h5_attr_set_i64(f, p->name, *(const int64_t *)v);
        }
        if (p->type == TCD_MP_F64) {
            rc |= tcd_h5_attr_set_f64(g, p->name, *(const double *)v);
            if (root) rc |= tcd_h5_attr_set_f64(f, p->name, *(const double *)v);
        }
    }
    H5Gclose(g);
    return rc;
}

int tcd_model_write_into(hid_t f, const tcd_model *m, int64_t step, const tcd_corpus *train,
                         const char *config_json, int with_params_sha) {
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const tcd_tensor *t = &m->tensors[i];
        char name[64];
        snprintf(name, sizeof name, "params/%s", t->name);
        int64_t dims[2] = {t->rows, t->cols};
        rc = tcd_h5_write(f, name, H5T_NATIVE_FLOAT, t->rank, dims, m->params + t->offset);
    }
    int64_t n_words = 0, n_labels = 0, *counts = NULL;
    char **words = rc == 0 ? tcd_corpus_read_vocab(train, &n_words, &counts) : NULL;
    char **labels = words ? tcd_corpus_read_label_names(train, &n_labels) : NULL;
    if (rc == 0 && (!words || !labels)) {
        char why[1024];
        snprintf(why, sizeof why, "%s", tcd_h5_errmsg());
        tcd_h5_seterr("reading the vocabulary of %s: %s", train->path, why);
        rc = -1;
    }
    if (rc == 0) rc = tcd_h5_write_strtable(f, "vocab/words", (const char *const *)words, n_words);
    if (rc == 0) rc = tcd_h5_write(f, "vocab/counts", H5T_NATIVE_INT64, 1, &n_words, counts);
    if (rc == 0) rc = tcd_h5_write_strtable(f, "label_names", (const char *const *)labels, n_labels);
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    free(counts);
    if (rc) return -1;
    char *mc = tcd_model_config_json(m->kind, m->cfg);
    rc |= tcd_h5_attr_set_str(f, "format", TCD_MODEL_FORMAT);
    rc |= tcd_h5_attr_set_i64(f, "version", m->shape.ova ? 3 : 2);
    rc |= tcd_h5_attr_set_str(f, "model", m->kind->name);
    rc |= tcd_h5_attr_set_str(f, "model_config", mc);
    if (m->shape.ova) rc |= tcd_h5_attr_set_str(f, "loss", "ova"); /* absent: sigmoid/softmax, as before */
    rc |= tcd_h5_attr_set_i64(f, "n_classes", m->shape.n_classes);
    rc |= tcd_h5_attr_set_i64(f, "n_embeddings", m->shape.n_embeddings);
    rc |= tcd_h5_attr_set_i64(f, "vocab_size", train->vocab_size);
    rc |= tcd_h5_attr_set_i64(f, "n_buckets", train->n_buckets);
    rc |= tcd_h5_attr_set_i64(f, "seed", (int64_t)m->seed);
    rc |= tcd_h5_attr_set_i64(f, "step", step);
    rc |= tcd_tok_opts_write_attrs(f, &train->tok);
    rc |= tcd_h5_attr_set_str(f, "data_content_sha256", train->content_sha256);
    rc |= tcd_h5_attr_set_str(f, "vocab_sha256", train->vocab_sha256);
    if (with_params_sha) {
        char psha[65];
        tcd_params_sha256(m, psha);
        rc |= tcd_h5_attr_set_str(f, "params_sha256", psha);
    }
    rc |= tcd_h5_attr_set_str(f, "config", config_json ? config_json : "{}");
    rc |= tcd_h5_attr_set_str(f, "created_by", "tcdist " TCDIST_VERSION);
    rc |= write_param_attrs(f, m);
    free(mc);
    return rc ? -1 : 0;
}

int tcd_model_save(const char *path, const tcd_model *m, int64_t step, const tcd_corpus *train,
                   const char *config_json, char *err, size_t errlen) {
    char space_err[512];
    if (tcd_check_space(path, 4.0 * (double)m->n_params + 64.0 * (double)train->vocab_size + (1 << 20), space_err,
                        sizeof space_err) != 0) {
        snprintf(err, errlen, "%s: could not write the model: %s; nothing was replaced", path, space_err);
        return -1;
    }
    char *tmp = tcd_tmp_path_for(path);
    hid_t f = tcd_h5_create(tmp);
    if (f < 0) {
        snprintf(err, errlen, "%s: cannot create (%s)", tmp, tcd_h5_errmsg());
        free(tmp);
        return -1;
    }
    int rc = tcd_model_write_into(f, m, step, train, config_json, 1);
    if (tcd_h5_close(f) < 0) rc = -1;
    if (rc == 0 && tcd_commit_file(tmp, path) != 0) rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "%s: could not write the model (%s); nothing was replaced", path, tcd_h5_errmsg());
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Version 1 files hold only the bag model, described by its dim and hidden attributes. This is
 * the one place that translates them into a model_config. */
static char *legacy_v1_config(hid_t f, char *err, size_t errlen) {
    char *kind = tcd_h5_attr_get_str(f, "model");
    int64_t dim = 0, hidden = 0;
    char *json = NULL;
    if (!kind || strcmp(kind, "bow") != 0)
        snprintf(err, errlen, "unknown model kind '%s' in a version 1 file", kind ? kind : "?");
    else if (tcd_h5_attr_get_i64(f, "dim", &dim) < 0 || tcd_h5_attr_get_i64(f, "hidden", &hidden) < 0)
        snprintf(err, errlen, "damaged: %s", tcd_h5_errmsg());
    else
        json = tcd_sprintf("{\"kind\": \"bow\", \"dim\": %lld, \"hidden\": %lld}", (long long)dim, (long long)hidden);
    free(kind);
    return json;
}

int tcd_model_read_ova(hid_t f, int *ova, char *err, size_t errlen) {
    *ova = 0;
    if (!tcd_h5_attr_exists(f, "loss")) return 0;
    char *loss = tcd_h5_attr_get_str(f, "loss");
    int rc = 0;
    if (loss && !strcmp(loss, "ova"))
        *ova = 1;
    else {
        snprintf(err, errlen, "unknown output loss '%s' (this tcdist knows ova; a newer tcdist wrote this file?)",
                 loss ? loss : "?");
        rc = -2;
    }
    free(loss);
    return rc;
}

int tcd_model_read_kind(hid_t f, int64_t version, const tcd_model_kind **kind, void **cfg, char *err,
                        size_t errlen) {
    char why[512] = "";
    char *json = version == 1 ? legacy_v1_config(f, why, sizeof why) : tcd_h5_attr_get_str(f, "model_config");
    if (!json) {
        snprintf(err, errlen, "%s", why[0] ? why : "the 'model_config' attribute is missing");
        return -1;
    }
    int rc = tcd_model_config_parse(json, kind, cfg, err, errlen);
    free(json);
    return rc;
}

void tcd_model_file_free(tcd_model_file *mf) {
    tcd_model_free(&mf->model);
    tcd_h5_free_strings(mf->vocab, mf->vocab_size);
    tcd_h5_free_strings(mf->labels, mf->n_classes);
    free(mf->model_config);
    free(mf->config_json);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}

/* The root attributes: sizes, hashes, tokenizer; then the model is built from its kind. */
static int read_header(hid_t f, tcd_model_file *mf, char *err, size_t errlen) {
    tcd_model_shape shape = {0};
    int64_t seed = 0;
    if (tcd_h5_attr_get_i64(f, "n_classes", &shape.n_classes) < 0 ||
        tcd_h5_attr_get_i64(f, "n_embeddings", &shape.n_embeddings) < 0 || tcd_h5_attr_get_i64(f, "seed", &seed) < 0 ||
        tcd_h5_attr_get_i64(f, "n_buckets", &mf->n_buckets) < 0 ||
        tcd_h5_attr_get_sha256(f, "data_content_sha256", mf->data_sha256) < 0 ||
        tcd_h5_attr_get_sha256(f, "vocab_sha256", mf->vocab_sha256) < 0 ||
        tcd_h5_attr_get_sha256(f, "params_sha256", mf->params_sha256) < 0) {
        snprintf(err, errlen, "%s: damaged model: %s", mf->path, tcd_h5_errmsg());
        return -1;
    }
    if (mf->version >= 2 && tcd_h5_attr_get_i64(f, "step", &mf->step) < 0) {
        snprintf(err, errlen, "%s: damaged model: %s", mf->path, tcd_h5_errmsg());
        return -1;
    }
    char why[512];
    if (tcd_tok_opts_read_attrs(f, &mf->tok, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", mf->path, why);
        return -1;
    }
    const tcd_model_kind *kind = NULL;
    void *cfg = NULL;
    const int krc = tcd_model_read_kind(f, mf->version, &kind, &cfg, why, sizeof why);
    if (krc != 0) {
        snprintf(err, errlen, "%s: %s%s", mf->path, krc == -2 ? "" : "damaged model: ", why);
        return -1;
    }
    if (tcd_model_read_ova(f, &shape.ova, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", mf->path, why);
        free(cfg);
        return -1;
    }
    mf->model_config = tcd_model_config_json(kind, cfg);
    int rc = tcd_model_build(&mf->model, kind, cfg, &shape, (uint64_t)seed, why, sizeof why);
    free(cfg);
    if (rc != 0) {
        snprintf(err, errlen, "%s: damaged model: %s", mf->path, why);
        return -1;
    }
    /* the parameters are stored uncompressed: a damaged shape must not make us allocate more */
    if ((double)mf->model.n_params * 4.0 > (double)tcd_h5_file_size(f)) {
        snprintf(err, errlen, "%s: damaged model: %lld parameters cannot fit in a file of %lld bytes (truncated?)",
                 mf->path, (long long)mf->model.n_params, (long long)tcd_h5_file_size(f));
        return -1;
    }
    if (mf->n_buckets < 0 || mf->n_buckets > shape.n_embeddings) {
        snprintf(err, errlen, "%s: damaged model: n_buckets %lld does not fit %lld embeddings", mf->path,
                 (long long)mf->n_buckets, (long long)shape.n_embeddings);
        return -1;
    }
    tcd_model_alloc(&mf->model);
    return 0;
}

/* The vocabulary and label names, checked against the shapes and the vocabulary's sha256. In a
 * version 1 file they are variable-length strings, read only now that everything else verified. */
static int read_names(hid_t f, tcd_model_file *mf, char *err, size_t errlen) {
    const int64_t want_words = mf->model.shape.n_embeddings - mf->n_buckets, want_labels = mf->model.shape.n_classes;
    if (mf->version >= 2) {
        mf->vocab = tcd_h5_read_strtable(f, "vocab/words", want_words, &mf->vocab_size);
        mf->labels = mf->vocab ? tcd_h5_read_strtable(f, "label_names", want_labels, &mf->n_classes) : NULL;
    } else {
        mf->vocab = tcd_h5_read_vlen_strings(f, "vocab/words", &mf->vocab_size);
        mf->labels = mf->vocab ? tcd_h5_read_vlen_strings(f, "label_names", &mf->n_classes) : NULL;
    }
    if (!mf->vocab || !mf->labels) {
        snprintf(err, errlen, "%s: damaged model: %s", mf->path, tcd_h5_errmsg());
        return -1;
    }
    if (mf->n_classes != want_labels || mf->vocab_size != want_words) {
        snprintf(err, errlen, "%s: damaged model: vocabulary or labels do not match the shapes", mf->path);
        return -1;
    }
    char vsha[65];
    tcd_corpus_vocab_sha256((const char *const *)mf->vocab, mf->vocab_size, vsha);
    if (strcmp(vsha, mf->vocab_sha256) != 0) {
        snprintf(err, errlen, "%s: damaged model: the vocabulary does not match its stored vocab_sha256", mf->path);
        return -1;
    }
    return 0;
}

/* Every tensor of the table, shape-checked, then the whole against params_sha256. */
static int read_params(hid_t f, tcd_model_file *mf, char *err, size_t errlen) {
    tcd_model *m = &mf->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const tcd_tensor *t = &m->tensors[i];
        char name[64];
        snprintf(name, sizeof name, "params/%s", t->name);
        int64_t d[2];
        if (tcd_h5_dims(f, name, d) < 0) {
            snprintf(err, errlen, "%s: damaged model: tensor '%s' missing or unreadable: %s", mf->path, name,
                     tcd_h5_errmsg());
            return -1;
        }
        if (d[0] != t->rows || d[1] != t->cols) {
            snprintf(err, errlen,
                     "%s: damaged model: tensor '%s' is %lld x %lld, its model config makes it %lld x %lld", mf->path,
                     name, (long long)d[0], (long long)d[1], (long long)t->rows, (long long)t->cols);
            return -1;
        }
        if (tcd_h5_read_rows(f, name, H5T_NATIVE_FLOAT, 0, t->rows, m->params + t->offset) < 0) {
            snprintf(err, errlen, "%s: damaged model: %s", mf->path, tcd_h5_errmsg());
            return -1;
        }
        /* no run saves a non-finite parameter; one would print "nan" probabilities (not JSON) */
        const float *x = m->params + t->offset;
        for (int64_t j = 0; j < t->rows * t->cols; j++)
            if (!isfinite(x[j])) {
                snprintf(err, errlen, "%s: damaged model: tensor '%s' holds %g at element %lld", mf->path, name,
                         (double)x[j], (long long)j);
                return -1;
            }
    }
    char psha[65];
    tcd_params_sha256(m, psha);
    if (strcmp(psha, mf->params_sha256) != 0) {
        snprintf(err, errlen, "%s: damaged model: the parameters do not match their stored sha256", mf->path);
        return -1;
    }
    return 0;
}

int tcd_model_load(tcd_model_file *mf, const char *path, char *err, size_t errlen) {
    memset(mf, 0, sizeof *mf);
    struct stat st;
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    mf->path = is_dir ? tcd_sprintf("%s/model.h5", path) : tcd_strdup(path);
    if (stat(mf->path, &st) != 0) {
        snprintf(err, errlen, "%s: no such model file%s", mf->path,
                 is_dir ? " (has training finished in that run dir?)" : "");
        return -1;
    }
    hid_t f = tcd_h5_open_ro(mf->path);
    if (f < 0) {
        snprintf(err, errlen, "%s", tcd_h5_errmsg());
        return -1;
    }
    int rc = -1;
    if (tcd_h5_check_format(f, mf->path, TCD_MODEL_FORMAT, TCD_MODEL_VERSION,
                            "a model is the model.h5 that 'tcdist train' writes in its run dir", &mf->version, err,
                            errlen) != 0 ||
        read_header(f, mf, err, errlen) != 0 || read_params(f, mf, err, errlen) != 0)
        goto out;
    if (read_names(f, mf, err, errlen) != 0) goto out;
    mf->config_json = tcd_h5_attr_get_str(f, "config");
    rc = 0;
out:
    H5Fclose(f);
    if (rc != 0) {
        char *p = mf->path;
        mf->path = NULL;
        tcd_model_file_free(mf);
        mf->path = p;
    }
    return rc;
}
