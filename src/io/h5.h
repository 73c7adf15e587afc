/* Private to src/io: thin checked helpers over the HDF5 C API, used by the file modules (corpus,
 * model, checkpoint), and the functions those modules share with each other.
 * Every function that can fail on user data returns <0 and leaves a message for tcd_h5_errmsg().
 * HDF5 here is built without thread safety: call these from one thread per process. */
#ifndef TCD_H5_H
#define TCD_H5_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "io/h5util.h"
#include "models/model.h"
#include "text/tokenize.h"

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is int64_t since HDF5 1.10: the public io headers rely on it");


/* truncate/create, in the HDF5 1.10 file format (checksummed metadata); <0 on failure */
hid_t tcd_h5_create(const char *path);
hid_t tcd_h5_open_ro(const char *path);     /* read-only; <0 (message names the file) */
int tcd_h5_close(hid_t file);               /* flush + close; <0 on failure */

/* The root `format` and `version` attributes every tcdist file carries. Returns 0 with the
 * version when format is `want` and 1 <= version <= max_version; else -1 with a message that says
 * what the file is and what to do (`hint` names the command that makes this kind of file; a
 * version above max_version asks for a newer tcdist). */
int tcd_h5_check_format(hid_t f, const char *path, const char *want, int64_t max_version, const char *hint,
                        int64_t *version, char *err, size_t errlen);

/* Attributes on a file/group/dataset (loc). Strings are written with a fixed length (inside the
 * checksummed object header; h5py reads them as bytes); a variable-length string attribute is
 * read only from a version 1 file (one that tcd_h5_check_format or tcd_h5_file_format saw). */
int tcd_h5_attr_set_str(hid_t loc, const char *name, const char *value);
int tcd_h5_attr_set_i64(hid_t loc, const char *name, int64_t value);
int tcd_h5_attr_set_f64(hid_t loc, const char *name, double value);
int tcd_h5_attr_exists(hid_t loc, const char *name);
char *tcd_h5_attr_get_str(hid_t loc, const char *name);            /* malloc'd; NULL if missing/bad */
/* A sha256 stored as 64 hex digits: 0, or -1 when missing or malformed. */
int tcd_h5_attr_get_sha256(hid_t loc, const char *name, char out[65]);
int tcd_h5_attr_get_i64(hid_t loc, const char *name, int64_t *out);  /* <0 if missing/bad */
int tcd_h5_attr_get_f64(hid_t loc, const char *name, double *out);

/* Groups: create (with parents) or open. */
hid_t tcd_h5_group(hid_t file, const char *path);

/* A 1-D dataset of type `type` (H5T_NATIVE_INT32, _INT64, _FLOAT, _UINT8, ...) that grows by
 * appending, chunked with `chunk` elements per chunk, Fletcher32 on each (tcd_h5_appender is in
 * io/h5util.h). The dataset is created at the first append (or at close when nothing was
 * appended), with chunks no larger than that first append: a writer whose first append is also
 * its last (a small corpus) stores one chunk of exactly its data, not a mostly empty 4 MiB one. */
int tcd_h5_appender_create(tcd_h5_appender *a, hid_t loc, const char *name, hid_t type, int64_t chunk);
int tcd_h5_append(tcd_h5_appender *a, const void *data, int64_t n);
/* Overwrite elements [start, start+n) of an appender's dataset (e.g. to remap ids in place). */
int tcd_h5_appender_write_at(tcd_h5_appender *a, int64_t start, const void *data, int64_t n);
int tcd_h5_appender_read_at(tcd_h5_appender *a, int64_t start, void *data, int64_t n);
int tcd_h5_appender_close(tcd_h5_appender *a);

/* Whole dataset of rank 1 or 2 written at once (dims[1] ignored when rank 1). Every non-empty
 * dataset is chunked (rows of at most 256 Ki elements) with HDF5's Fletcher32 checksum, as are the
 * appenders' datasets: a damaged chunk is a read error naming the dataset. */
int tcd_h5_write(hid_t loc, const char *name, hid_t type, int rank, const int64_t *dims, const void *data);
/* Dimensions of a dataset: returns the rank (1 or 2) or <0; dims must hold 2. */
int tcd_h5_dims(hid_t loc, const char *name, int64_t *dims);
/* Read rows [start, start+count) of a dataset (1-D: elements; 2-D: whole rows). */
int tcd_h5_read_rows(hid_t loc, const char *name, hid_t type, int64_t start, int64_t count, void *out);
int tcd_h5_exists(hid_t loc, const char *path);
/* Elements [start, start+count) of an open 1-D dataset (no re-open, no shape lookup: for many small
 * reads; the caller checks the bounds). */
int tcd_h5_read_slab(hid_t ds, hid_t type, int64_t start, int64_t count, void *out);

/* String tables (version 2 files): NAME/bytes, uint8, the UTF-8 texts back to back, and
 * NAME/offsets, int64 [n + 1]: text i is bytes[offsets[i]:offsets[i+1]]. h5py:
 *   b, o = f["NAME/bytes"][()].tobytes(), f["NAME/offsets"][()]
 *   texts = [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)] */
int tcd_h5_write_strtable(hid_t loc, const char *name, const char *const *strs, int64_t n);
/* Reads a table of expect_n texts (-1: any number), checked before use: sizes within the file,
 * offsets from 0 to the byte count in order, each text valid UTF-8 without NUL. Returns a malloc'd
 * array of n malloc'd strings (free with tcd_h5_free_strings), or NULL with a message. */
char **tcd_h5_read_strtable(hid_t loc, const char *name, int64_t expect_n, int64_t *n);
/* One text as a uint8 dataset (e.g. a whole JSONL log), checked like a table's texts. */
int tcd_h5_write_text(hid_t loc, const char *name, const char *text);
char *tcd_h5_read_text(hid_t loc, const char *name); /* malloc'd; NULL with a message */

/* Version 1 files: variable-length UTF-8 strings in HDF5's global heap, which has no checksum: a
 * damaged heap can make HDF5 itself read out of bounds. Read only after everything else in such a
 * file has been checked. Variable-length string attributes are refused in files of later versions. */
char **tcd_h5_read_vlen_strings(hid_t loc, const char *name, int64_t *n);
char *tcd_h5_read_vlen_string(hid_t loc, const char *name); /* scalar; malloc'd; NULL if missing/bad */

/* Size of the file that holds loc, in bytes (-1 on error). */
int64_t tcd_h5_file_size(hid_t loc);

/* Shared between the file modules. */
/* Tokenizer settings as attributes on loc (corpus and model files; corpus.c). */
int tcd_tok_opts_write_attrs(hid_t loc, const tcd_tok_opts *o);
int tcd_tok_opts_read_attrs(hid_t loc, tcd_tok_opts *o, char *err, size_t errlen);
struct tcd_corpus;
/* The datasets and attributes of a model, into an open file (model_file.c; checkpoints carry their
 * own checksum and pass with_params_sha = 0 to skip the sha256 pass). */
int tcd_model_write_into(hid_t f, const tcd_model *m, int64_t step, const struct tcd_corpus *train,
                         const char *config_json, int with_params_sha);
/* The model kind and configuration stored in an open model or checkpoint file of the given version
 * (version 1: from the bag model's dim/hidden attributes). *cfg is malloc'd. Returns 0, -1 (damaged)
 * or -2 (a kind or parameter of a newer tcdist), as tcd_model_config_parse. (model_file.c) */
int tcd_model_read_kind(hid_t f, int64_t version, const tcd_model_kind **kind, void **cfg, char *err,
                        size_t errlen);
/* The output head of a model or checkpoint file: the root attribute `loss` ("ova": one-vs-all),
 * absent for the sigmoid/softmax head (every file before multi-label). Returns 0, or -2 for a loss
 * this tcdist does not know, with a message. (model_file.c) */
int tcd_model_read_ova(hid_t f, int *ova, char *err, size_t errlen);

#endif
