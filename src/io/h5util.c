/* HDF5 helpers; see h5util.h. */
#include "io/h5.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static char errmsg[1024];

void tcd_h5_seterr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
}
#define seterr tcd_h5_seterr

const char *tcd_h5_errmsg(void) { return errmsg; }

/* The innermost message of HDF5's error stack (printing is off, the stack is still kept), e.g.
 * "data error detected by Fletcher32 checksum", for our own messages. */
static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0 && e->desc) snprintf((char *)data, 160, "%s", e->desc);
    return 0;
}

static const char *h5_cause(void) {
    static char cause[160];
    cause[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, cause);
    for (char *c = cause; *c; c++)
        if ((unsigned char)*c < 0x20) *c = ' ';
    return cause[0] ? cause : "HDF5 gave no reason";
}

/* The dataset's path in its file, for messages. */
static const char *ds_name(hid_t ds) {
    static char name[256];
    if (H5Iget_name(ds, name, sizeof name) <= 0) snprintf(name, sizeof name, "?");
    return name[0] == '/' ? name + 1 : name;
}

/* Creation properties of every chunked dataset: HDF5's Fletcher32 checksum on each chunk, so that
 * a damaged chunk is a read error instead of silently wrong numbers. */
static hid_t chunked_dcpl(int rank, const hsize_t *chunk) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_fletcher32(dcpl);
    /* every element is written before it is read: no fill pass over each new chunk */
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    return dcpl;
}

void tcd_h5_init(void) {
    static int done;
    if (done) return;
    done = 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

hid_t tcd_h5_create(const char *path) {
    tcd_h5_init();
    /* The HDF5 1.10 file format: superblock, object headers (with the attributes in them) and chunk
     * indexes carry checksums that HDF5 verifies on every read. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) seterr("%s: cannot create HDF5 file", path);
    return f;
}

/* Files whose variable-length strings may be read (version 1 files; see tcd_h5_check_format). HDF5
 * hands out file ids in increasing order, so a stale entry never names a later file. */
#define N_LEGACY 32
static hid_t legacy_files[N_LEGACY];
static int n_legacy;

static void mark_legacy(hid_t f) {
    legacy_files[n_legacy++ % N_LEGACY] = f;
}

static int is_legacy(hid_t loc) {
    hid_t f = H5Iget_file_id(loc);
    if (f < 0) return 0;
    int found = 0;
    for (int i = 0; i < N_LEGACY && i < n_legacy; i++)
        if (legacy_files[i] == f) found = 1;
    H5Fclose(f); /* drops the reference H5Iget_file_id took */
    return found;
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

/* The version attribute (a number: safe to read first), then the format string, which may be a
 * variable-length string only in a version 1 file (or one with no version: not a tcdist file, but
 * its format is worth naming). */
static char *read_format(hid_t f, int64_t *version) {
    *version = 0;
    if (tcd_h5_attr_get_i64(f, "version", version) < 0) *version = 0;
    if (*version < 2) mark_legacy(f);
    return tcd_h5_attr_get_str(f, "format");
}

char *tcd_h5_file_format(const char *path, int *is_hdf5) {
    hid_t f = tcd_h5_open_ro(path);
    *is_hdf5 = f >= 0;
    if (f < 0) return NULL;
    int64_t version;
    char *format = read_format(f, &version);
    H5Fclose(f);
    return format;
}

int tcd_h5_check_format(hid_t f, const char *path, const char *want, int64_t max_version, const char *hint,
                        int64_t *version, char *err, size_t errlen) {
    char *fmt = read_format(f, version);
    int rc = -1;
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
    else if (*version < 1)
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
    /* fixed length, stored inside the (checksummed) object header; never in the global heap */
    size_t n = strlen(value);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, n + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = attr_write(loc, name, t, value);
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
    int refused = 0;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0 && !is_legacy(loc)) {
            refused = 1;
        } else if (H5Tis_variable_str(ft) > 0) {
            hid_t t = utf8_vlen_type();
            char *s = NULL;
            if (H5Aread(a, t, &s) >= 0 && s) {
                out = tcd_strdup(s);
                H5free_memory(s);
            }
            H5Tclose(t);
        } else {
            size_t n = H5Tget_size(ft);
            if (n > ((size_t)1 << 24)) n = 0; /* no tcdist attribute is that long */
            char *s = n ? tcd_calloc(n + 1, 1) : NULL;
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, n ? n : 1);
            H5Tset_cset(t, H5Tget_cset(ft)); /* HDF5 converts no strings between ASCII and UTF-8 */
            if (s && H5Aread(a, t, s) >= 0) out = s;
            else free(s);
            H5Tclose(t);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (refused) seterr("attribute '%s' is a variable-length string, which only version 1 files hold", name);
    else if (!out) seterr("attribute '%s' is not a string", name);
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
    a->ds = -1;
    a->type = type;
    a->n = 0;
    a->loc = loc;
    a->chunk = chunk > 0 ? chunk : 65536;
    if (strlen(name) >= sizeof a->name) {
        seterr("dataset name '%s' is too long", name);
        return -1;
    }
    snprintf(a->name, sizeof a->name, "%s", name);
    return 0;
}

/* Creates the dataset with chunks of min(chunk, first) elements (at least 1). */
static int appender_make(tcd_h5_appender *a, int64_t first) {
    hsize_t c = (hsize_t)(first > 0 && first < a->chunk ? first : a->chunk);
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, cdims[1] = {c};
    hid_t sp = H5Screate_simple(1, dims, maxdims);
    hid_t dcpl = chunked_dcpl(1, cdims);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    a->ds = H5Dcreate2(a->loc, a->name, a->type, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (a->ds < 0) {
        seterr("cannot create dataset '%s'", a->name);
        return -1;
    }
    return 0;
}

int tcd_h5_append(tcd_h5_appender *a, const void *data, int64_t n) {
    if (n <= 0) return 0;
    if (a->ds < 0 && appender_make(a, n) < 0) return -1;
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
    const char *cause = rc < 0 ? h5_cause() : ""; /* before the next call clears HDF5's error stack */
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        if (write)
            seterr("dataset '%s': HDF5 write of %lld elements at %lld failed (disk full?)", ds_name(ds), (long long)n,
                   (long long)start);
        else
            seterr("dataset '%s': reading %lld elements at %lld failed: %s (damaged file?)", ds_name(ds), (long long)n,
                   (long long)start, cause);
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
    if (a->ds < 0 && a->loc > 0 && a->name[0]) rc = appender_make(a, 1); /* an empty dataset still exists */
    a->loc = 0;
    if (a->ds >= 0) rc = H5Dclose(a->ds) < 0 ? -1 : 0;
    a->ds = -1;
    return rc;
}

int tcd_h5_write(hid_t loc, const char *name, hid_t type, int rank, const int64_t *dims, const void *data) {
    hsize_t d[2] = {(hsize_t)dims[0], rank > 1 ? (hsize_t)dims[1] : 1};
    hid_t sp = H5Screate_simple(rank, d, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5P_DEFAULT;
    if (d[0] > 0 && (rank == 1 || d[1] > 0)) {
        /* chunked (for the checksum) by rows of at most 256 Ki elements (1 MiB of float32: the size of
         * HDF5's default chunk cache; 4 MiB chunks made a checkpoint write 4 times slower) */
        hsize_t row = rank > 1 ? d[1] : 1;
        hsize_t rows = (1 << 18) / row;
        if (rows < 1) rows = 1;
        if (rows > d[0]) rows = d[0];
        hsize_t c[2] = {rows, row};
        dcpl = chunked_dcpl(rank, c);
    }
    hid_t ds = H5Dcreate2(loc, name, type, sp, lcpl, dcpl, H5P_DEFAULT);
    int rc = -1;
    if (ds >= 0) {
        rc = (d[0] == 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0 : -1;
        H5Dclose(ds);
    }
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
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
    const char *cause = rc < 0 ? h5_cause() : "";
    H5Sclose(msp);
    H5Sclose(fsp);
    H5Dclose(ds);
    if (rc < 0) {
        seterr("dataset '%s': read failed: %s (damaged file?)", name, cause);
        return -1;
    }
    return 0;
}

int tcd_h5_read_slab(hid_t ds, hid_t type, int64_t start, int64_t count, void *out) {
    if (count <= 0) return 0;
    return slab_io(ds, type, start, count, out, 0);
}

char **tcd_h5_read_vlen_strings(hid_t loc, const char *name, int64_t *n) {
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

char *tcd_h5_read_vlen_string(hid_t loc, const char *name) {
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

int64_t tcd_h5_file_size(hid_t loc) {
    hid_t f = H5Iget_file_id(loc);
    hsize_t size = 0;
    int ok = f >= 0 && H5Fget_filesize(f, &size) >= 0;
    if (f >= 0) H5Fclose(f);
    return ok ? (int64_t)size : -1;
}

/* ---- string tables: name/bytes (uint8, the UTF-8 texts back to back) + name/offsets (int64) ---- */

int tcd_h5_write_strtable(hid_t loc, const char *name, const char *const *strs, int64_t n) {
    int64_t *off = tcd_malloc(sizeof(int64_t) * (size_t)(n + 1));
    off[0] = 0;
    for (int64_t i = 0; i < n; i++) off[i + 1] = off[i] + (int64_t)strlen(strs[i]);
    char *bytes = tcd_malloc((size_t)(off[n] ? off[n] : 1));
    for (int64_t i = 0; i < n; i++) memcpy(bytes + off[i], strs[i], (size_t)(off[i + 1] - off[i]));
    char path[512];
    snprintf(path, sizeof path, "%s/bytes", name);
    int rc = tcd_h5_write(loc, path, H5T_NATIVE_UINT8, 1, &off[n], bytes);
    snprintf(path, sizeof path, "%s/offsets", name);
    int64_t n_off = n + 1;
    if (rc == 0) rc = tcd_h5_write(loc, path, H5T_NATIVE_INT64, 1, &n_off, off);
    free(bytes);
    free(off);
    return rc;
}

int tcd_utf8_valid(const unsigned char *s, size_t n, size_t *bad_at) {
    size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; ok && k < len; k++) {
            ok = (s[i + k] & 0xC0) == 0x80;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                   (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0))
            ok = 0;
        if (!ok) {
            if (bad_at) *bad_at = i;
            return 0;
        }
        i += len;
    }
    return 1;
}

/* A 1-D dataset's length, refused when it is not rank 1, not of the expected class, or larger than
 * the whole file could hold (so that a damaged size never makes us allocate it). */
static int64_t checked_len(hid_t loc, const char *path, H5T_class_t cls, size_t elem) {
    int64_t d[2];
    if (tcd_h5_dims(loc, path, d) != 1) return -1;
    hid_t ds = H5Dopen2(loc, path, H5P_DEFAULT);
    hid_t t = ds >= 0 ? H5Dget_type(ds) : -1;
    int ok = t >= 0 && H5Tget_class(t) == cls;
    if (t >= 0) H5Tclose(t);
    if (ds >= 0) H5Dclose(ds);
    if (!ok) {
        seterr("dataset '%s' has the wrong type", path);
        return -1;
    }
    int64_t fsize = tcd_h5_file_size(loc);
    if (fsize < 0 || (double)d[0] * (double)elem > (double)fsize) {
        seterr("dataset '%s': %lld elements cannot fit in a file of %lld bytes (damaged or truncated)", path,
               (long long)d[0], (long long)fsize);
        return -1;
    }
    return d[0];
}

char **tcd_h5_read_strtable(hid_t loc, const char *name, int64_t expect_n, int64_t *n_out) {
    char pb[512], po[512];
    snprintf(pb, sizeof pb, "%s/bytes", name);
    snprintf(po, sizeof po, "%s/offsets", name);
    int64_t n_bytes = checked_len(loc, pb, H5T_INTEGER, 1);
    int64_t n_off = n_bytes >= 0 ? checked_len(loc, po, H5T_INTEGER, 8) : -1;
    if (n_off < 0) return NULL;
    if (n_off < 1 || (expect_n >= 0 && n_off != expect_n + 1)) {
        seterr("string table '%s': %lld offsets for %lld strings", name, (long long)n_off, (long long)expect_n);
        return NULL;
    }
    const int64_t n = n_off - 1;
    int64_t *off = tcd_malloc(sizeof(int64_t) * (size_t)n_off);
    unsigned char *bytes = tcd_malloc((size_t)(n_bytes ? n_bytes : 1));
    char **out = NULL;
    if (tcd_h5_read_rows(loc, po, H5T_NATIVE_INT64, 0, n_off, off) < 0 ||
        tcd_h5_read_rows(loc, pb, H5T_NATIVE_UINT8, 0, n_bytes, bytes) < 0)
        goto done;
    /* every offset in order and within the bytes, every text valid UTF-8 without NUL */
    if (off[0] != 0 || off[n] != n_bytes) {
        seterr("string table '%s': offsets run from %lld to %lld, the bytes are [0, %lld)", name, (long long)off[0],
               (long long)off[n], (long long)n_bytes);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        size_t bad = 0;
        if (off[i + 1] < off[i] || off[i + 1] > n_bytes) {
            seterr("string table '%s': offset %lld (%lld) is out of order or range", name, (long long)i + 1,
                   (long long)off[i + 1]);
            goto done;
        }
        if (!tcd_utf8_valid(bytes + off[i], (size_t)(off[i + 1] - off[i]), &bad)) {
            seterr("string table '%s': string %lld is not valid UTF-8 (or holds a NUL) at its byte %zu", name,
                   (long long)i, bad);
            goto done;
        }
    }
    out = tcd_calloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n; i++) {
        size_t len = (size_t)(off[i + 1] - off[i]);
        out[i] = tcd_malloc(len + 1);
        memcpy(out[i], bytes + off[i], len);
        out[i][len] = 0;
    }
    *n_out = n;
done:
    free(off);
    free(bytes);
    return out;
}

int tcd_h5_write_text(hid_t loc, const char *name, const char *text) {
    int64_t n = (int64_t)strlen(text);
    return tcd_h5_write(loc, name, H5T_NATIVE_UINT8, 1, &n, text);
}

char *tcd_h5_read_text(hid_t loc, const char *name) {
    int64_t n = checked_len(loc, name, H5T_INTEGER, 1);
    if (n < 0) return NULL;
    char *s = tcd_malloc((size_t)n + 1);
    if (tcd_h5_read_rows(loc, name, H5T_NATIVE_UINT8, 0, n, s) < 0) {
        free(s);
        return NULL;
    }
    s[n] = 0;
    size_t bad = 0;
    if (!tcd_utf8_valid((const unsigned char *)s, (size_t)n, &bad)) {
        seterr("dataset '%s' is not valid UTF-8 text (or holds a NUL) at its byte %zu", name, bad);
        free(s);
        return NULL;
    }
    return s;
}
