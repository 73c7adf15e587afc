/* Predictions file; see predictions.h. */
#include "io/predictions.h"

#include "io/h5.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "tcdist.h"

struct tcd_pred_file {
    hid_t file, labels, probs;
    int64_t n_docs, n_classes;
};

/* A fixed-size dataset of rank 1 ([rows]) or 2 ([rows, cols]), chunked by about 256 Ki elements
 * with a Fletcher32 checksum (as every tcdist dataset). */
static hid_t create_ds(hid_t f, const char *name, hid_t type, int rank, int64_t rows, int64_t cols) {
    hsize_t d[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t sp = H5Screate_simple(rank, d, NULL);
    hid_t dcpl = H5P_DEFAULT;
    if (rows > 0 && cols > 0) {
        hsize_t per_row = rank > 1 ? (hsize_t)cols : 1, c_rows = ((hsize_t)1 << 18) / per_row;
        if (c_rows < 1) c_rows = 1;
        if (c_rows > d[0]) c_rows = d[0];
        hsize_t c[2] = {c_rows, per_row};
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, rank, c);
        H5Pset_fletcher32(dcpl);
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every row is written */
    }
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
    H5Sclose(sp);
    return ds;
}

static int write_attrs(hid_t f, const tcd_pred_meta *m) {
    int rc = 0;
    rc |= tcd_h5_attr_set_str(f, "format", TCD_PREDICTIONS_FORMAT);
    rc |= tcd_h5_attr_set_i64(f, "version", TCD_PREDICTIONS_VERSION);
    rc |= tcd_h5_attr_set_i64(f, "n_docs", m->n_docs);
    rc |= tcd_h5_attr_set_i64(f, "n_classes", m->n_classes);
    rc |= tcd_h5_attr_set_str(f, "model", m->model_path);
    rc |= tcd_h5_attr_set_str(f, "params_sha256", m->params_sha256);
    rc |= tcd_h5_attr_set_str(f, "data", m->data_path);
    rc |= tcd_h5_attr_set_str(f, "data_content_sha256", m->data_content_sha256);
    rc |= tcd_h5_attr_set_str(f, "created_by", "tcdist " TCDIST_VERSION);
    rc |= tcd_h5_write_strtable(f, "label_names", (const char *const *)m->label_names, m->n_classes);
    return rc ? -1 : 0;
}

tcd_pred_file *tcd_pred_file_create(const char *path, const tcd_pred_meta *meta, char *err, size_t errlen) {
    hid_t f = tcd_h5_create(path);
    if (f < 0) {
        snprintf(err, errlen, "%s", tcd_h5_errmsg());
        return NULL;
    }
    tcd_pred_file *p = tcd_calloc(1, sizeof *p);
    p->file = f;
    p->n_docs = meta->n_docs;
    p->n_classes = meta->n_classes;
    p->labels = create_ds(f, "labels", H5T_NATIVE_INT32, 1, meta->n_docs, 1);
    p->probs = create_ds(f, "probabilities", H5T_NATIVE_FLOAT, 2, meta->n_docs, meta->n_classes);
    if (p->labels < 0 || p->probs < 0 || write_attrs(f, meta) != 0) {
        snprintf(err, errlen, "%s: cannot write the predictions file (disk full?)", path);
        char ignore[128];
        tcd_pred_file_close(p, ignore, sizeof ignore);
        return NULL;
    }
    return p;
}

/* rows [doc0, doc0 + n) of a dataset of `cols` columns (rank 1 when cols is 0) */
static int write_rows(hid_t ds, hid_t type, int64_t doc0, int64_t n, int64_t cols, const void *data) {
    const int rank = cols > 0 ? 2 : 1;
    hsize_t start[2] = {(hsize_t)doc0, 0}, count[2] = {(hsize_t)n, (hsize_t)(cols > 0 ? cols : 1)};
    hid_t fs = H5Dget_space(ds);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    int rc = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        rc = H5Dwrite(ds, type, ms, fs, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc;
}

int tcd_pred_file_write(tcd_pred_file *p, int64_t doc0, int64_t n, const int32_t *labels, const float *probs,
                        char *err, size_t errlen) {
    TCD_CHECK(doc0 >= 0 && n >= 0 && doc0 + n <= p->n_docs);
    if (n == 0) return 0;
    if (write_rows(p->labels, H5T_NATIVE_INT32, doc0, n, 0, labels) != 0 ||
        write_rows(p->probs, H5T_NATIVE_FLOAT, doc0, n, p->n_classes, probs) != 0) {
        snprintf(err, errlen, "cannot write rows %lld..%lld of the predictions (disk full?)", (long long)doc0,
                 (long long)(doc0 + n - 1));
        return -1;
    }
    return 0;
}

int tcd_pred_file_close(tcd_pred_file *p, char *err, size_t errlen) {
    if (!p) return 0;
    int rc = 0;
    if (p->labels >= 0) H5Dclose(p->labels);
    if (p->probs >= 0) H5Dclose(p->probs);
    if (tcd_h5_close(p->file) < 0) {
        snprintf(err, errlen, "cannot finish the predictions file (disk full?)");
        rc = -1;
    }
    free(p);
    return rc;
}
