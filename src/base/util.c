/* Shared helpers: messages, allocation, buffers, number parsing, durable file writes. */
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

int tcd_log_rank = 0;
int tcd_log_world = 1;

static void (*cleanup_fn)(void *);
static void *cleanup_arg;
static void (*abort_fn)(int);

void tcd_set_cleanup(void (*fn)(void *), void *arg) {
    cleanup_fn = fn;
    cleanup_arg = arg;
}

void tcd_set_abort(void (*fn)(int)) { abort_fn = fn; }

static void vmsg(FILE *f, const char *kind, const char *fmt, va_list ap) {
    char line[4096];
    int n = 0;
    if (tcd_log_world > 1)
        n = snprintf(line, sizeof line, "tcdist[rank %d]: %s: ", tcd_log_rank, kind);
    else
        n = snprintf(line, sizeof line, "tcdist: %s: ", kind);
    if (n < 0) n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* one write per message so that ranks' lines do not interleave mid-line */
    fprintf(f, "%s\n", line);
    fflush(f);
}

void tcd_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(stderr, "error", fmt, ap);
    va_end(ap);
}

void tcd_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(stderr, "warning", fmt, ap);
    va_end(ap);
}

void tcd_info(const char *fmt, ...) {
    if (tcd_log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void tcd_die_at(const char *file, int line, const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tcd_error("%s (at %s:%d)", msg, file, line);
    if (cleanup_fn) {
        void (*fn)(void *) = cleanup_fn;
        cleanup_fn = NULL;
        fn(cleanup_arg);
    }
    if (abort_fn) abort_fn(1);
    exit(1);
}

void *tcd_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) tcd_die("out of memory allocating %zu bytes", n);
    return p;
}

void *tcd_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) tcd_die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *tcd_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) tcd_die("out of memory growing a buffer to %zu bytes", n);
    return q;
}

void *tcd_aligned_alloc(size_t n) {
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        tcd_die("out of memory allocating %zu aligned bytes", n);
    return p;
}

char *tcd_strdup(const char *s) { return tcd_strndup(s, strlen(s)); }

char *tcd_strndup(const char *s, size_t n) {
    char *p = tcd_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *tcd_sprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) tcd_die("bad format string");
    char *p = tcd_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void tcd_buf_reserve(tcd_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = tcd_realloc(b->data, cap);
    b->cap = cap;
}

void tcd_buf_append(tcd_buf *b, const void *p, size_t n) {
    tcd_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void tcd_buf_putc(tcd_buf *b, char c) { tcd_buf_append(b, &c, 1); }

double tcd_json_number(const char *text, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = text ? strstr(text, pat) : NULL;
    if (!p) return NAN;
    p += strlen(pat);
    char *end;
    const double v = strtod(p, &end);
    return end == p ? NAN : v;
}

void tcd_buf_printf(tcd_buf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) tcd_die("bad format string");
    tcd_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void tcd_buf_free(tcd_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int tcd_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, char *err, size_t errlen) {
    if (!s || !*s) {
        snprintf(err, errlen, "empty value, expected an integer");
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != 0) {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        snprintf(err, errlen, "%s is out of range [%lld, %lld]", s, (long long)lo, (long long)hi);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int tcd_parse_f64(const char *s, double lo, double hi, double *out, char *err, size_t errlen) {
    if (!s || !*s) {
        snprintf(err, errlen, "empty value, expected a number");
        return -1;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != 0 || isnan(v)) {
        snprintf(err, errlen, "'%s' is not a number", s);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        snprintf(err, errlen, "%s is out of range [%g, %g]", s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

double tcd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tcd_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static char *parent_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return tcd_strdup(".");
    if (slash == path) return tcd_strdup("/");
    return tcd_strndup(path, (size_t)(slash - path));
}

int tcd_fsync_parent(const char *path) {
    char *dir = parent_of(path);
    int rc = tcd_fsync_path(dir);
    free(dir);
    return rc;
}

int tcd_mkdir_p(const char *path) {
    char *p = tcd_strdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                free(p);
                errno = e;
                return -1;
            }
            p[i] = c;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int tcd_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *tcd_tmp_path_for(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return tcd_sprintf(".%s.tmp.%ld", path, (long)getpid());
    return tcd_sprintf("%.*s/.%s.tmp.%ld", (int)(slash - path), path, slash + 1, (long)getpid());
}

int tcd_check_space(const char *path, double n_bytes, char *err, size_t errlen) {
    char *dir = parent_of(path);
    struct statvfs v;
    int rc = 0;
    if (statvfs(dir, &v) == 0) {
        const double free_bytes = (double)v.f_bavail * (double)v.f_frsize;
        if (free_bytes < n_bytes) {
            snprintf(err, errlen, "disk full: %.1f MB free in %s, %.1f MB needed", free_bytes / 1e6, dir,
                     n_bytes / 1e6);
            rc = -1;
        }
    }
    free(dir);
    return rc;
}

int tcd_commit_file(const char *tmp, const char *final_path) {
    if (tcd_fsync_path(tmp) != 0) return -1;
    if (rename(tmp, final_path) != 0) return -1;
    return tcd_fsync_parent(final_path);
}

char *tcd_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    tcd_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) tcd_buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        tcd_buf_free(&b);
        errno = EIO;
        return NULL;
    }
    if (!b.data) tcd_buf_append(&b, "", 0);
    if (len) *len = b.len;
    return b.data;
}

void tcd_hex(const uint8_t *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

void tcd_buf_json_string(tcd_buf *b, const char *s, size_t n) {
    tcd_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': tcd_buf_append(b, "\\\"", 2); break;
        case '\\': tcd_buf_append(b, "\\\\", 2); break;
        case '\n': tcd_buf_append(b, "\\n", 2); break;
        case '\r': tcd_buf_append(b, "\\r", 2); break;
        case '\t': tcd_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20)
                tcd_buf_printf(b, "\\u%04x", c);
            else
                tcd_buf_putc(b, (char)c);
        }
    }
    tcd_buf_putc(b, '"');
}
