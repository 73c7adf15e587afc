/* HDF5 helpers; see h5util.h. */
#include "io/h5.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static char errmsg[1024];

static void seterr(const char *fmt, ...) TCD_PRINTF(1, 2);
static void seterr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
}

const char *tcd_h5_errmsg(void) { return errmsg; }

void tcd_h5_init(void) {
    static int done;
    if (done) return;
    done = 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

hid_t tcd_h5_create(const char *path) {
    tcd_h5_init();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) seterr("%s: cannot create HDF5 file", path);
    return f;
}

hid_t tcd_h5_open_ro(const char *path) {
    tcd_h5_init();
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        seterr("%s: cannot open (does it exist?)", path);
        return -1;
    }
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) {
        seterr("%s: not an HDF5 file (or it is damaged)", path);
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) seterr("%s: cannot open as HDF5", path);
    return f;
}

char *tcd_h5_file_format(const char *path, int *is_hdf5) {
    hid_t f = tcd_h5_open_ro(path);
    *is_hdf5 = f >= 0;
    if (f < 0) return NULL;
    char *format = tcd_h5_attr_get_str(f, "format");
    H5Fclose(f);
    return format;
}

int tcd_h5_check_format(hid_t f, const char *path, const char *want, int64_t max_version, const char *hint,
                        int64_t *version, char *err, size_t errlen) {
    char *fmt = tcd_h5_attr_get_str(f, "format");
    int rc = -1;
    *version = 0;
    /* "tcdist-model" -> "tcdist model", for messages */
    char noun[64], found[64];
    snprintf(noun, sizeof noun, "%s", want);
    snprintf(found, sizeof found, "%s", fmt ? fmt : "");
    for (char *c = noun; *c; c++)
        if (*c == '-') *c = ' ';
    for (char *c = found; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    if (!fmt)
        snprintf(err, errlen, "%s: not a %s: the file has no root 'format' attribute (%s)", path, noun, hint);
    else if (strcmp(fmt, want) != 0)
        snprintf(err, errlen, "%s: not a %s: its format is '%s' (%s)", path, noun, found, hint);
    else if (tcd_h5_attr_get_i64(f, "version", version) < 0 || *version < 1)
        snprintf(err, errlen, "%s: damaged %s file: the 'version' attribute is missing or invalid", path, want);
    else if (*version > max_version)
        snprintf(err, errlen,
                 "%s: %s version %lld was written by a newer tcdist; this tcdist (%s) reads versions 1 to %lld: "
                 "upgrade tcdist",
                 path, want, (long long)*version, TCDIST_VERSION, (long long)max_version);
    else
        rc = 0;
    free(fmt);
    return rc;
}

int tcd_h5_close(hid_t file) {
    if (file < 0) return 0;
    int rc = 0;
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) rc = -1;
    if (H5Fclose(file) < 0) rc = -1;
    if (rc) seterr("failed to flush/close HDF5 file");
    return rc;
}

static int attr_write(hid_t loc, const char *name, hid_t type, const void *v) {
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a >= 0 && H5Awrite(a, type, v) >= 0) ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    if (rc) seterr("cannot write attribute '%s'", name);
    return rc;
}

static hid_t utf8_vlen_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int tcd_h5_attr_set_str(hid_t loc, const char *name, const char *value) {
    hid_t t = utf8_vlen_type();
    int rc = attr_write(loc, name, t, &value);
    H5Tclose(t);
    return rc;
}

int tcd_h5_attr_set_i64(hid_t loc, const char *name, int64_t value) {
    return attr_write(loc, name, H5T_NATIVE_INT64, &value);
}

int tcd_h5_attr_set_f64(hid_t loc, const char *name, double value) {
    return attr_write(loc, name, H5T_NATIVE_DOUBLE, &value);
}

int tcd_h5_attr_exists(hid_t loc, const char *name) { return H5Aexists(loc, name) > 0; }

char *tcd_h5_attr_get_str(hid_t loc, const char *name) {
    if (H5Aexists(loc, name) <= 0) {
        seterr("attribute '%s' is missing", name);
        return NULL;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t t = utf8_vlen_type();
            char *s = NULL;
            if (H5Aread(a, t, &s) >= 0 && s) {
                out = tcd_strdup(s);
                H5free_memory(s);
            }
            H5Tclose(t);
        } else {
            size_t n = H5Tget_size(ft);
            char *s = tcd_calloc(n + 1, 1);
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, n);
            if (H5Aread(a, t, s) >= 0) out = s;
            else free(s);
            H5Tclose(t);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (!out) seterr("attribute '%s' is not a string", name);
    return out;
}

int tcd_h5_attr_get_sha256(hid_t loc, const char *name, char out[65]) {
    char *s = tcd_h5_attr_get_str(loc, name);
    int ok = s && strlen(s) == 64;
    if (ok) memcpy(out, s, 65);
    free(s);
    if (!ok) seterr("attribute '%s' is missing or not a sha256", name);
    return ok ? 0 : -1;
}

static int attr_read_num(hid_t loc, const char *name, hid_t type, void *out) {
    if (H5Aexists(loc, name) <= 0) {
        seterr("attribute '%s' is missing", name);
        return -1;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(ft);
    int rc = -1;
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) rc = H5Aread(a, type, out) >= 0 ? 0 : -1;
    H5Tclose(ft);
    H5Aclose(a);
    if (rc) seterr("attribute '%s' is not a number", name);
    return rc;
}

int tcd_h5_attr_get_i64(hid_t loc, const char *name, int64_t *out) {
    return attr_read_num(loc, name, H5T_NATIVE_INT64, out);
}

int tcd_h5_attr_get_f64(hid_t loc, const char *name, double *out) {
    return attr_read_num(loc, name, H5T_NATIVE_DOUBLE, out);
}

hid_t tcd_h5_group(hid_t file, const char *path) {
    if (H5Lexists(file, path, H5P_DEFAULT) > 0) return H5Gopen2(file, path, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) seterr("cannot create group '%s'", path);
    return g;
}

int tcd_h5_exists(hid_t loc, const char *path) {
    /* H5Lexists needs every intermediate link to exist; walk the path. */
    char buf[512];
    size_t n = strlen(path);
    if (n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            buf[i] = c;
        }
    }
    return 1;
}

int tcd_h5_appender_create(tcd_h5_appender *a, hid_t loc, const char *name, hid_t type, int64_t chunk) {
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, cdims[1] = {(hsize_t)(chunk > 0 ? chunk : 65536)};
    hid_t sp = H5Screate_simple(1, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, cdims);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    a->ds = H5Dcreate2(loc, name, type, sp, lcpl, dcpl, H5P_DEFAULT);
    a->type = type;
    a->n = 0;
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (a->ds < 0) {
        seterr("cannot create dataset '%s'", name);
        return -1;
    }
    return 0;
}

int tcd_h5_append(tcd_h5_appender *a, const void *data, int64_t n) {
    if (n <= 0) return 0;
    hsize_t newdims[1] = {(hsize_t)(a->n + n)};
    if (H5Dset_extent(a->ds, newdims) < 0) {
        seterr("cannot extend dataset (disk full?)");
        return -1;
    }
    a->n += n;
    return tcd_h5_appender_write_at(a, a->n - n, data, n);
}

static int slab_io(hid_t ds, hid_t type, int64_t start, int64_t n, void *data, int write) {
    hid_t fsp = H5Dget_space(ds);
    hsize_t off[1] = {(hsize_t)start}, cnt[1] = {(hsize_t)n};
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, off, NULL, cnt, NULL);
    hid_t msp = H5Screate_simple(1, cnt, NULL);
    herr_t rc = write ? H5Dwrite(ds, type, msp, fsp, H5P_DEFAULT, data)
                      : H5Dread(ds, type, msp, fsp, H5P_DEFAULT, data);
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        seterr("HDF5 %s of %lld elements at %lld failed%s", write ? "write" : "read", (long long)n,
               (long long)start, write ? " (disk full?)" : "");
        return -1;
    }
    return 0;
}

int tcd_h5_appender_write_at(tcd_h5_appender *a, int64_t start, const void *data, int64_t n) {
    if (n <= 0) return 0;
    return slab_io(a->ds, a->type, start, n, (void *)data, 1);
}

int tcd_h5_appender_read_at(tcd_h5_appender *a, int64_t start, void *data, int64_t n) {
    if (n <= 0) return 0;
    return slab_io(a->ds, a->type, start, n, data, 0);
}

int tcd_h5_appender_close(tcd_h5_appender *a) {
    int rc = 0;
    if (a->ds >= 0) rc = H5Dclose(a->ds) < 0 ? -1 : 0;
    a->ds = -1;
    return rc;
}

int tcd_h5_write(hid_t loc, const char *name, hid_t type, int rank, const int64_t *dims, const void *data) {
    hsize_t d[2] = {(hsize_t)dims[0], rank > 1 ? (hsize_t)dims[1] : 1};
    hid_t sp = H5Screate_simple(rank, d, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (d[0] > 0 && d[0] * (rank > 1 ? d[1] : 1) > 65536) {
        /* chunk big tables by rows so that a slice can be read alone */
        hsize_t row = rank > 1 ? d[1] : 1;
        hsize_t rows = (1 << 20) / (row ? row : 1);
        if (rows < 1) rows = 1;
        if (rows > d[0]) rows = d[0];
        hsize_t c[2] = {rows, row};
        H5Pset_chunk(dcpl, rank, c);
    }
    hid_t ds = H5Dcreate2(loc, name, type, sp, lcpl, dcpl, H5P_DEFAULT);
    int rc = -1;
    if (ds >= 0) {
        rc = (d[0] == 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0 : -1;
        H5Dclose(ds);
    }
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    if (rc) seterr("cannot write dataset '%s' (disk full?)", name);
    return rc;
}

int tcd_h5_write_contiguous(hid_t loc, const char *name, hid_t type, int64_t n, const void *data) {
    hsize_t d[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, d, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(loc, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (ds >= 0) {
        rc = (n == 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0 : -1;
        if (H5Dclose(ds) < 0) rc = -1;
    }
    H5Pclose(lcpl);
    H5Sclose(sp);
    if (rc) seterr("cannot write dataset '%s' (disk full?)", name);
    return rc;
}

int tcd_h5_dims(hid_t loc, const char *name, int64_t *dims) {
    if (!tcd_h5_exists(loc, name)) {
        seterr("dataset '%s' is missing", name);
        return -1;
    }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) {
        seterr("cannot open dataset '%s'", name);
        return -1;
    }
    hid_t sp = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t d[8] = {0};
    if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
    if (rank < 1 || rank > 2) {
        seterr("dataset '%s' has rank %d, expected 1 or 2", name, rank);
        return -1;
    }
    dims[0] = (int64_t)d[0];
    dims[1] = rank == 2 ? (int64_t)d[1] : 1;
    return rank;
}

int tcd_h5_read_rows(hid_t loc, const char *name, hid_t type, int64_t start, int64_t count, void *out) {
    int64_t dims[2];
    int rank = tcd_h5_dims(loc, name, dims);
    if (rank < 0) return -1;
    if (start < 0 || count < 0 || start + count > dims[0]) {
        seterr("dataset '%s': rows [%lld, %lld) out of range (it has %lld)", name, (long long)start,
               (long long)(start + count), (long long)dims[0]);
        return -1;
    }
    if (count == 0) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t fsp = H5Dget_space(ds);
    hsize_t off[2] = {(hsize_t)start, 0}, cnt[2] = {(hsize_t)count, (hsize_t)dims[1]};
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, off, NULL, cnt, NULL);
    hid_t msp = H5Screate_simple(rank, cnt, NULL);
    herr_t rc = H5Dread(ds, type, msp, fsp, H5P_DEFAULT, out);
    H5Sclose(msp);
    H5Sclose(fsp);
    H5Dclose(ds);
    if (rc < 0) {
        seterr("cannot read dataset '%s' (damaged file?)", name);
        return -1;
    }
    return 0;
}

int tcd_h5_read_slab(hid_t ds, hid_t type, int64_t start, int64_t count, void *out) {
    if (count <= 0) return 0;
    return slab_io(ds, type, start, count, out, 0);
}

int tcd_h5_write_strings(hid_t loc, const char *name, const char *const *strs, int64_t n) {
    hid_t t = utf8_vlen_type();
    hsize_t d[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, d, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (n > 4096) {
        hsize_t c[1] = {4096};
        H5Pset_chunk(dcpl, 1, c);
    }
    hid_t ds = H5Dcreate2(loc, name, t, sp, lcpl, dcpl, H5P_DEFAULT);
    int rc = -1;
    if (ds >= 0) {
        rc = (n == 0 || H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs) >= 0) ? 0 : -1;
        H5Dclose(ds);
    }
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    H5Tclose(t);
    if (rc) seterr("cannot write string dataset '%s'", name);
    return rc;
}

char **tcd_h5_read_strings(hid_t loc, const char *name, int64_t *n) {
    int64_t dims[2];
    if (tcd_h5_dims(loc, name, dims) != 1) return NULL;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t ft = H5Dget_type(ds);
    int ok = H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0;
    H5Tclose(ft);
    if (!ok) {
        H5Dclose(ds);
        seterr("dataset '%s' is not a variable-length string list", name);
        return NULL;
    }
    hid_t t = utf8_vlen_type();
    char **raw = tcd_calloc((size_t)dims[0] + 1, sizeof(char *));
    char **out = NULL;
    if (dims[0] == 0 || H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
        out = tcd_calloc((size_t)dims[0] + 1, sizeof(char *));
        for (int64_t i = 0; i < dims[0]; i++) {
            out[i] = tcd_strdup(raw[i] ? raw[i] : "");
            if (raw[i]) H5free_memory(raw[i]);
        }
        *n = dims[0];
    } else {
        seterr("cannot read string dataset '%s'", name);
    }
    free(raw);
    H5Tclose(t);
    H5Dclose(ds);
    return out;
}

void tcd_h5_free_strings(char **strs, int64_t n) {
    if (!strs) return;
    for (int64_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
}

int tcd_h5_write_string(hid_t loc, const char *name, const char *value) {
    hid_t t = utf8_vlen_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(loc, name, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (ds >= 0) {
        const char *v = value ? value : "";
        rc = H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 ? 0 : -1;
        if (H5Dclose(ds) < 0) rc = -1;
    }
    H5Pclose(lcpl);
    H5Sclose(sp);
    H5Tclose(t);
    if (rc) seterr("cannot write string dataset '%s' (disk full?)", name);
    return rc;
}

char *tcd_h5_read_string(hid_t loc, const char *name) {
    if (!tcd_h5_exists(loc, name)) {
        seterr("dataset '%s' is missing", name);
        return NULL;
    }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) {
        seterr("cannot open dataset '%s'", name);
        return NULL;
    }
    hid_t ft = H5Dget_type(ds);
    hid_t sp = H5Dget_space(ds);
    int ok = ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0 &&
             H5Sget_simple_extent_type(sp) == H5S_SCALAR;
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    char *out = NULL;
    if (ok) {
        hid_t t = utf8_vlen_type();
        char *s = NULL;
        if (H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0) {
            out = tcd_strdup(s ? s : "");
            if (s) H5free_memory(s);
        }
        H5Tclose(t);
    }
    H5Dclose(ds);
    if (!out) seterr("cannot read dataset '%s' as a string (damaged file?)", name);
    return out;
}
