/* Small shared helpers: error reporting, checked allocation, growable buffers, files. */
#ifndef TCD_UTIL_H
#define TCD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define TCD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define TCD_NORETURN __attribute__((noreturn))
#else
#define TCD_PRINTF(a, b)
#define TCD_NORETURN
#endif

/* Rank and world size of this process, for messages; set by dist.c (0 and 1 otherwise). */
extern int tcd_log_rank;
extern int tcd_log_world;

/* "tcdist: error: ..." on stderr (with "[rank R]" when world > 1). */
void tcd_error(const char *fmt, ...) TCD_PRINTF(1, 2);
void tcd_warn(const char *fmt, ...) TCD_PRINTF(1, 2);
/* Informational line on stdout, from rank 0 only. */
void tcd_info(const char *fmt, ...) TCD_PRINTF(1, 2);
/* Fatal: prints the message with the source location, runs the registered cleanup hook
 * (removes temporary files), aborts all ranks when running under MPI, and exits 1. */
void tcd_die_at(const char *file, int line, const char *fmt, ...) TCD_PRINTF(3, 4) TCD_NORETURN;
#define tcd_die(...) tcd_die_at(__FILE__, __LINE__, __VA_ARGS__)
/* An internal invariant; stays on in release builds. Never use for user input. */
#define TCD_CHECK(cond)                                                                 \
    do {                                                                                \
        if (!(cond)) tcd_die_at(__FILE__, __LINE__, "internal check failed: %s", #cond); \
    } while (0)

/* Hook run by tcd_die before exiting (e.g. remove a half-written output). One at a time. */
void tcd_set_cleanup(void (*fn)(void *), void *arg);
/* Replaces how tcd_die ends the process (dist.c installs MPI_Abort here). */
void tcd_set_abort(void (*fn)(int status));

void *tcd_malloc(size_t n);
void *tcd_calloc(size_t n, size_t size);
void *tcd_realloc(void *p, size_t n);
/* Cache-line (64-byte) aligned allocation; free with free(). */
void *tcd_aligned_alloc(size_t n);
char *tcd_strdup(const char *s);
char *tcd_strndup(const char *s, size_t n);
char *tcd_sprintf(const char *fmt, ...) TCD_PRINTF(1, 2); /* malloc'd */

/* Growable byte buffer. */
typedef struct {
    char *data;
    size_t len, cap;
} tcd_buf;
void tcd_buf_reserve(tcd_buf *b, size_t extra);
void tcd_buf_append(tcd_buf *b, const void *p, size_t n);
void tcd_buf_putc(tcd_buf *b, char c);
void tcd_buf_printf(tcd_buf *b, const char *fmt, ...) TCD_PRINTF(2, 3);
void tcd_buf_free(tcd_buf *b);

/* Number parsing for flags and fields: whole string must parse and be in [lo, hi].
 * On failure returns -1 and writes a reason into err (e.g. "not a number"). */
int tcd_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, char *err, size_t errlen);
int tcd_parse_f64(const char *s, double lo, double hi, double *out, char *err, size_t errlen);

/* The number after "KEY": in a flat JSON text that tcdist wrote itself (a metrics.jsonl or
 * trials.jsonl line, config.json's top level): the first occurrence of the key; NAN when it is
 * absent, null or not a number. Not a JSON parser: for input from users, see models/config.c. */
double tcd_json_number(const char *text, const char *key);

/* Wall clock in seconds (monotonic). */
double tcd_now(void);

/* Files. All return 0 on success, -1 with errno set otherwise. */
int tcd_fsync_path(const char *path);       /* fsync a file or a folder by name */
int tcd_fsync_parent(const char *path);     /* fsync the folder that holds path */
int tcd_mkdir_p(const char *path);          /* mkdir -p */
int tcd_file_exists(const char *path);
/* "DIR/.NAME.tmp.PID": a temporary name beside `path`, on the same file system. malloc'd. */
char *tcd_tmp_path_for(const char *path);
/* Is there room for n_bytes more in the folder that holds path? Returns 0 when there is (or when
 * it cannot be told), else -1 with a message "X MB free, Y MB needed". HDF5's own failure path on
 * a full disk is not robust (a failed close can crash at exit), so writers check first. */
int tcd_check_space(const char *path, double n_bytes, char *err, size_t errlen);
/* fsync tmp, rename it over final, fsync the folder. */
int tcd_commit_file(const char *tmp, const char *final_path);
/* Whole file into memory (NUL-terminated); NULL with errno on failure. */
char *tcd_read_file(const char *path, size_t *len);

/* Lowercase hex of n bytes into out (2n+1 chars). */
void tcd_hex(const uint8_t *bytes, size_t n, char *out);

/* Minimal JSON string escaping into a buffer (adds the quotes). */
void tcd_buf_json_string(tcd_buf *b, const char *s, size_t n);

#endif
