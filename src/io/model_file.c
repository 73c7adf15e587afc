/* Model file save/load; see modelio.h. */
#include "io/model_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "base/sha256.h"
#include "base/util.h"

void tcd_params_sha256(const tcd_model *m, char out[65]) {
    tcd_sha256 s;
    tcd_sha256_init(&s);
    tcd_sha256_update(&s, m->params, sizeof(float) * (size_t)m->n_params);
    tcd_sha256_hex(&s, out);
}

int tcd_model_write_into(hid_t f, const tcd_model *m, const tcd_corpus *train, const char *config_json,
                         int with_params_sha) {
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const tcd_tensor *t = &m->tensors[i];
        char name[64];
        snprintf(name, sizeof name, "params/%s", t->name);
        int64_t dims[2] = {t->rows, t->cols};
        int is_vec = strstr(t->name, "bias") != NULL;
        rc = tcd_h5_write(f, name, H5T_NATIVE_FLOAT, is_vec ? 1 : 2, dims, m->params + t->offset);
    }
    int64_t n_words = 0, n_labels = 0, *counts = NULL;
    char **words = rc == 0 ? tcd_corpus_read_vocab(train, &n_words, &counts) : NULL;
    char **labels = words ? tcd_corpus_read_label_names(train, &n_labels) : NULL;
    if (!words || !labels) rc = -1;
    if (rc == 0) rc = tcd_h5_write_strings(f, "vocab/words", (const char *const *)words, n_words);
    if (rc == 0) rc = tcd_h5_write(f, "vocab/counts", H5T_NATIVE_INT64, 1, &n_words, counts);
    if (rc == 0) rc = tcd_h5_write_strings(f, "label_names", (const char *const *)labels, n_labels);
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    free(counts);
    if (rc) return -1;
    rc |= tcd_h5_attr_set_str(f, "format", TCD_MODEL_FORMAT);
    rc |= tcd_h5_attr_set_i64(f, "version", TCD_MODEL_VERSION);
    rc |= tcd_h5_attr_set_str(f, "model", "bow");
    rc |= tcd_h5_attr_set_i64(f, "dim", m->cfg.dim);
    rc |= tcd_h5_attr_set_i64(f, "hidden", m->cfg.hidden);
    rc |= tcd_h5_attr_set_i64(f, "n_classes", m->cfg.n_classes);
    rc |= tcd_h5_attr_set_i64(f, "n_embeddings", m->cfg.vocab);
    rc |= tcd_h5_attr_set_i64(f, "vocab_size", train->vocab_size);
    rc |= tcd_h5_attr_set_i64(f, "n_buckets", train->n_buckets);
    rc |= tcd_h5_attr_set_i64(f, "seed", (int64_t)m->cfg.seed);
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
    return rc ? -1 : 0;
}

int tcd_model_save(const char *path, const tcd_model *m, const tcd_corpus *train, const char *config_json,
                   char *err, size_t errlen) {
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
    int rc = tcd_model_write_into(f, m, train, config_json, 1);
    if (tcd_h5_close(f) < 0) rc = -1;
    if (rc == 0 && tcd_commit_file(tmp, path) != 0) rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "%s: could not write the model (%s); nothing was replaced", path, tcd_h5_errmsg());
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

void tcd_model_file_free(tcd_model_file *mf) {
    tcd_model_free(&mf->model);
    tcd_h5_free_strings(mf->vocab, mf->vocab_size);
    tcd_h5_free_strings(mf->labels, mf->n_classes);
    free(mf->config_json);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}

int tcd_model_load(tcd_model_file *mf, const char *path, char *err, size_t errlen) {
    memset(mf, 0, sizeof *mf);
    struct stat st;
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir)
        mf->path = tcd_sprintf("%s/model.h5", path);
    else
        mf->path = tcd_strdup(path);
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
    char *fmt = tcd_h5_attr_get_str(f, "format");
    char *kind = NULL;
    int64_t version = 0;
    tcd_model_config cfg = {0};
    int64_t seed = 0;
    if (!fmt || strcmp(fmt, TCD_MODEL_FORMAT) != 0) {
        snprintf(err, errlen, "%s: not a tcdist model (format is %s)", mf->path, fmt ? fmt : "missing");
        goto out;
    }
    if (tcd_h5_attr_get_i64(f, "version", &version) < 0 || version != TCD_MODEL_VERSION) {
        snprintf(err, errlen, "%s: model format version %lld, this tcdist reads %d", mf->path, (long long)version,
                 TCD_MODEL_VERSION);
        goto out;
    }
    kind = tcd_h5_attr_get_str(f, "model");
    if (!kind || strcmp(kind, "bow") != 0) {
        snprintf(err, errlen, "%s: unknown model kind '%s'", mf->path, kind ? kind : "?");
        goto out;
    }
    if (tcd_h5_attr_get_i64(f, "dim", &cfg.dim) < 0 || tcd_h5_attr_get_i64(f, "hidden", &cfg.hidden) < 0 ||
        tcd_h5_attr_get_i64(f, "n_classes", &cfg.n_classes) < 0 ||
        tcd_h5_attr_get_i64(f, "n_embeddings", &cfg.vocab) < 0 || tcd_h5_attr_get_i64(f, "seed", &seed) < 0 ||
        tcd_h5_attr_get_i64(f, "n_buckets", &mf->n_buckets) < 0 ||
        tcd_h5_attr_get_sha256(f, "data_content_sha256", mf->data_sha256) < 0 ||
        tcd_h5_attr_get_sha256(f, "vocab_sha256", mf->vocab_sha256) < 0 ||
        tcd_h5_attr_get_sha256(f, "params_sha256", mf->params_sha256) < 0) {
        snprintf(err, errlen, "%s: damaged model: %s", mf->path, tcd_h5_errmsg());
        goto out;
    }
    cfg.seed = (uint64_t)seed;
    char terr[256];
    if (tcd_tok_opts_read_attrs(f, &mf->tok, terr, sizeof terr) < 0) {
        snprintf(err, errlen, "%s: %s", mf->path, terr);
        goto out;
    }
    if (tcd_model_init(&mf->model, &cfg) != 0) {
        snprintf(err, errlen, "%s: damaged model: invalid shape", mf->path);
        goto out;
    }
    for (int i = 0; i < mf->model.n_tensors; i++) {
        const tcd_tensor *t = &mf->model.tensors[i];
        char name[64];
        snprintf(name, sizeof name, "params/%s", t->name);
        int64_t d[2];
        if (tcd_h5_dims(f, name, d) < 0 || d[0] != t->rows || d[1] != t->cols ||
            tcd_h5_read_rows(f, name, H5T_NATIVE_FLOAT, 0, t->rows, mf->model.params + t->offset) < 0) {
            snprintf(err, errlen, "%s: damaged model: tensor '%s' missing or of the wrong shape", mf->path, name);
            goto out;
        }
    }
    char psha[65];
    tcd_params_sha256(&mf->model, psha);
    if (strcmp(psha, mf->params_sha256) != 0) {
        snprintf(err, errlen, "%s: damaged model: the parameters do not match their stored sha256", mf->path);
        goto out;
    }
    mf->vocab = tcd_h5_read_strings(f, "vocab/words", &mf->vocab_size);
    mf->labels = tcd_h5_read_strings(f, "label_names", &mf->n_classes);
    if (!mf->vocab || !mf->labels || mf->n_classes != cfg.n_classes ||
        mf->vocab_size + mf->n_buckets != cfg.vocab) {
        snprintf(err, errlen, "%s: damaged model: vocabulary or labels do not match the shapes", mf->path);
        goto out;
    }
    mf->config_json = tcd_h5_attr_get_str(f, "config");
    rc = 0;
out:
    free(fmt);
    free(kind);
    H5Fclose(f);
    if (rc != 0) {
        char *p = mf->path;
        mf->path = NULL;
        tcd_model_file_free(mf);
        mf->path = p;
    }
    return rc;
}
