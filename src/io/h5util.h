/* What the rest of tcdist may use of the file layer's HDF5 helpers: messages and string arrays. No
 * HDF5 type appears here: only src/io includes <hdf5.h> (through io/h5.h), so nothing outside the
 * file modules compiles against HDF5. HDF5 ids are int64_t here (hid_t is int64_t since HDF5 1.10;
 * io/h5.h checks it). */
#ifndef TCD_H5UTIL_H
#define TCD_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Silences HDF5's own error stack printing (we print our own messages). Idempotent. */
void tcd_h5_init(void);
/* Last error message from the file helpers (static buffer); the file modules set it too. */
const char *tcd_h5_errmsg(void);
void tcd_h5_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The root `format` attribute of a file (malloc'd). NULL with *is_hdf5 = 0 when the file cannot be
 * opened as HDF5 (message in tcd_h5_errmsg), NULL with *is_hdf5 = 1 when it has no such attribute. */
char *tcd_h5_file_format(const char *path, int *is_hdf5);
/* Frees what tcd_h5_read_strtable (and the corpus and model readers) return. */
void tcd_h5_free_strings(char **strs, int64_t n);
/* Is s[0..n) valid UTF-8 (no overlongs, surrogates or NUL)? 1, or 0 with the offending offset. */
int tcd_utf8_valid(const unsigned char *s, size_t n, size_t *bad_at);

/* A 1-D dataset that grows by appending (io/h5.h has its functions). */
typedef struct {
    int64_t ds;   /* hid_t; < 0 until the first append creates the dataset */
    int64_t type; /* hid_t */
    int64_t n;    /* elements written so far */
    int64_t loc;  /* hid_t: where the dataset goes */
    char name[64];
    int64_t chunk;
} tcd_h5_appender;

#endif
