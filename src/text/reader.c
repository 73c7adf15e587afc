/* Raw input formats for `tcdist prepare`; see reader.h. */
#include "text/reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_names[] = {"tsv", "csv", "fasttext", "jsonl"};

const char *tcd_format_name(tcd_format f) {
    return (unsigned)f < 4 ? format_names[f] : "?";
}

int tcd_format_parse(const char *name, tcd_format *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, format_names[i])) {
            *out = (tcd_format)i;
            return 0;
        }
    return -1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    if (m > n) return 0;
    for (size_t i = 0; i < m; i++) {
        char c = s[n - m + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suffix[i]) return 0;
    }
    return 1;
}

int tcd_format_from_path(const char *path, tcd_format *out) {
    if (ends_with(path, ".tsv")) *out = TCD_FMT_TSV;
    else if (ends_with(path, ".csv")) *out = TCD_FMT_CSV;
    else if (ends_with(path, ".jsonl") || ends_with(path, ".json")) *out = TCD_FMT_JSONL;
    else if (ends_with(path, ".ft") || ends_with(path, ".fasttext")) *out = TCD_FMT_FASTTEXT;
    else return -1;
    return 0;
}

/* ---------------------------------------------------------------- block reader */

int tcd_reader_open(tcd_reader *r, const char *path, tcd_format fmt, size_t block_bytes, char *err,
                    size_t errlen) {
    memset(r, 0, sizeof *r);
    r->path = tcd_strdup(path);
    r->fmt = fmt;
    r->block_bytes = block_bytes < 4096 ? 4096 : block_bytes;
    r->line = 1;
    r->at_start = 1;
    if (!strcmp(path, "-")) {
        r->f = stdin;
        r->is_stdin = 1;
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) {
            snprintf(err, errlen, "%s: cannot open input: %s", path, strerror(errno));
            free(r->path);
            r->path = NULL;
            return -1;
        }
    }
    r->cap = r->block_bytes + 1;
    r->buf = tcd_malloc(r->cap);
    return 0;
}

void tcd_reader_close(tcd_reader *r) {
    if (r->f && !r->is_stdin) fclose(r->f);
    r->f = NULL;
    free(r->buf);
    free(r->recs);
    free(r->path);
    memset(r, 0, sizeof *r);
}

/* Moves the unread tail to the front and reads one more block behind it. */
static int reader_fill(tcd_reader *r, char *err, size_t errlen) {
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->cap < r->len + r->block_bytes + 1) {
        r->cap = r->len + r->block_bytes + 1;
        r->buf = tcd_realloc(r->buf, r->cap);
    }
    size_t got = fread(r->buf + r->len, 1, r->block_bytes, r->f);
    if (got < r->block_bytes) {
        if (ferror(r->f)) {
            snprintf(err, errlen, "%s: read error: %s", r->path, strerror(errno));
            return -1;
        }
        r->eof = 1;
    }
    r->len += got;
    r->n_bytes_read += (int64_t)got;
    if (r->at_start && (r->len >= 3 || r->eof)) {
        r->at_start = 0;
        if (r->len >= 3 && !memcmp(r->buf, "\xEF\xBB\xBF", 3)) r->start = 3; /* UTF-8 byte order mark */
    }
    return 0;
}

static void push_record(tcd_reader *r, int64_t *n_recs, const char *p, size_t n, int64_t line) {
    if (n > 0 && p[n - 1] == '\r') n--;
    if (n == 0) return; /* blank lines are skipped */
    if (*n_recs == r->cap_recs) {
        r->cap_recs = r->cap_recs ? 2 * r->cap_recs : 4096;
        r->recs = tcd_realloc(r->recs, (size_t)r->cap_recs * sizeof *r->recs);
    }
    r->recs[*n_recs] = (tcd_record){p, n, line};
    (*n_recs)++;
}

/* Line formats: one record per '\n'. */
static int64_t split_lines(tcd_reader *r) {
    int64_t n_recs = 0;
    size_t pos = r->start;
    const char *b = r->buf;
    while (pos < r->len) {
        const char *q = memchr(b + pos, '\n', r->len - pos);
        if (!q) break;
        size_t end = (size_t)(q - b);
        push_record(r, &n_recs, b + pos, end - pos, r->line);
        r->line++;
        pos = end + 1;
    }
    if (r->eof && pos < r->len) {
        push_record(r, &n_recs, b + pos, r->len - pos, r->line);
        r->line++;
        pos = r->len;
    }
    r->start = pos;
    return n_recs;
}

/* CSV: a record ends at a newline outside quotes. Only a quote at the start of a field opens a
 * quoted field, so a stray quote inside an unquoted field does not swallow the next lines (the
 * field parser reports it). At end of file an unclosed quoted field takes the rest of the file. */
static int64_t split_csv(tcd_reader *r) {
    enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED };
    int64_t n_recs = 0;
    const char *b = r->buf;
    size_t pos = r->start;
    while (pos < r->len) {
        size_t rec_start = pos;
        int64_t newlines = 0;
        int state = FIELD_START, done = 0;
        size_t i = pos;
        for (; i < r->len; i++) {
            char c = b[i];
            if (state == QUOTED) {
                /* fast skip to the next quote, counting newlines */
                const char *q = memchr(b + i, '"', r->len - i);
                size_t stop = q ? (size_t)(q - b) : r->len;
                for (const char *nl = memchr(b + i, '\n', stop - i); nl; nl = memchr(nl + 1, '\n', (size_t)(b + stop - nl - 1)))
                    newlines++;
                i = stop;
                if (!q) break;
                state = QUOTE_IN_QUOTED;
                continue;
            }
            if (c == '\n') {
                done = 1;
                break;
            }
            if (state == FIELD_START) state = c == '"' ? QUOTED : c == ',' ? FIELD_START : UNQUOTED;
            else if (state == QUOTE_IN_QUOTED) state = c == '"' ? QUOTED : c == ',' ? FIELD_START : UNQUOTED;
            else if (c == ',') state = FIELD_START;
        }
        if (!done) {
            if (!r->eof) break; /* incomplete record: wait for more input */
            push_record(r, &n_recs, b + rec_start, r->len - rec_start, r->line);
            r->line += newlines + 1;
            pos = r->len;
            break;
        }
        push_record(r, &n_recs, b + rec_start, i - rec_start, r->line);
        r->line += newlines + 1;
        pos = i + 1;
    }
    r->start = pos;
    return n_recs;
}

int64_t tcd_reader_next(tcd_reader *r, const tcd_record **recs, char *err, size_t errlen) {
    for (;;) {
        int64_t n = (r->len > r->start || r->eof) && !r->at_start
                        ? (r->fmt == TCD_FMT_CSV ? split_csv(r) : split_lines(r))
                        : 0;
        if (n > 0) {
            *recs = r->recs;
            return n;
        }
        if (r->eof && r->start >= r->len) return 0;
        if (r->len - r->start > TCD_MAX_RECORD_BYTES) {
            snprintf(err, errlen, "%s:%lld: record longer than %zu MiB%s", r->path, (long long)r->line,
                     TCD_MAX_RECORD_BYTES >> 20,
                     r->fmt == TCD_FMT_CSV ? " (broken quote: probably a quoted field that is never closed)"
                                           : "");
            return -1;
        }
        if (reader_fill(r, err, errlen) < 0) return -1;
    }
}

/* ---------------------------------------------------------------- fields */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static int all_digits(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

void tcd_parse_scratch_free(tcd_parse_scratch *s) {
    free(s->span);
    tcd_buf_free(&s->key);
    memset(s, 0, sizeof *s);
}

static void add_span(tcd_parse_scratch *s, int64_t *nf, size_t start, size_t len, size_t quoted) {
    if (*nf == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->span = tcd_realloc(s->span, (size_t)s->cap * 3 * sizeof(size_t));
    }
    s->span[3 * *nf] = start;
    s->span[3 * *nf + 1] = len;
    s->span[3 * *nf + 2] = quoted;
    (*nf)++;
}

/* Splits a TSV or CSV record into field spans. CSV follows RFC 4180 and rejects broken quotes. */
static int split_fields(tcd_format fmt, const char *p, size_t n, tcd_parse_scratch *s, int64_t *nf,
                        char *err, size_t errlen) {
    *nf = 0;
    size_t pos = 0;
    if (fmt == TCD_FMT_TSV) {
        for (;;) {
            const char *q = memchr(p + pos, '\t', n - pos);
            size_t end = q ? (size_t)(q - p) : n;
            add_span(s, nf, pos, end - pos, 0);
            if (!q) return 0;
            pos = end + 1;
        }
    }
    for (;;) {
        if (pos < n && p[pos] == '"') {
            size_t start = ++pos;
            for (;;) {
                const char *q = memchr(p + pos, '"', n - pos);
                if (!q) {
                    snprintf(err, errlen,
                             "broken quote: quoted field %lld is still open at the end of the file",
                             (long long)*nf + 1);
                    return -1;
                }
                pos = (size_t)(q - p) + 1;
                if (pos < n && p[pos] == '"') {
                    pos++;
                    continue;
                }
                break;
            }
            add_span(s, nf, start, pos - 1 - start, 1);
            if (pos < n && p[pos] != ',') {
                snprintf(err, errlen, "broken quote: text after the closing quote of field %lld",
                         (long long)*nf);
                return -1;
            }
        } else {
            size_t start = pos;
            while (pos < n && p[pos] != ',') pos++;
            if (memchr(p + start, '"', pos - start)) {
                snprintf(err, errlen,
                         "broken quote: stray quote in unquoted field %lld (quote the whole field and "
                         "double the quotes inside)",
                         (long long)*nf + 1);
                return -1;
            }
            add_span(s, nf, start, pos - start, 0);
        }
        if (pos >= n) return 0;
        pos++; /* the comma */
    }
}

/* Appends field f's value, undoing CSV "" escapes. */
static void copy_field(const char *p, const tcd_parse_scratch *s, int64_t f, tcd_buf *out) {
    const char *v = p + s->span[3 * f];
    size_t len = s->span[3 * f + 1];
    if (!s->span[3 * f + 2]) {
        tcd_buf_append(out, v, len);
        return;
    }
    tcd_buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        out->data[out->len++] = v[i];
        if (v[i] == '"') i++; /* inside a quoted field every quote is doubled */
    }
}

static void trim_span(const char *p, size_t *off, size_t *len) {
    while (*len > 0 && is_blank(p[*off])) {
        (*off)++;
        (*len)--;
    }
    while (*len > 0 && is_blank(p[*off + *len - 1])) (*len)--;
}

void tcd_fields_free(tcd_fields *fs) {
    for (int i = 0; i < fs->n_text; i++) free(fs->text_name[i]);
    free(fs->label_name);
    free(fs->label_prefix);
    memset(fs, 0, sizeof *fs);
}

/* Finds one column spec in the header (or parses an index); name_out is malloc'd for messages. */
static int resolve_col(const char *spec, size_t spec_n, const char *flag, const tcd_record *header,
                       const tcd_parse_scratch *hs, int64_t n_cols, tcd_format fmt, const char *path,
                       int64_t *col, char **name_out, char *err, size_t errlen) {
    if (all_digits(spec, spec_n)) {
        char e[64];
        char *tmp = tcd_strndup(spec, spec_n);
        int bad = tcd_parse_i64(tmp, 0, 1000000, col, e, sizeof e);
        free(tmp);
        if (bad) {
            snprintf(err, errlen, "%s '%.*s': %s", flag, (int)spec_n, spec, e);
            return -1;
        }
        if (header && *col < n_cols) {
            tcd_buf b = {0};
            copy_field(header->p, hs, *col, &b);
            tcd_buf_putc(&b, 0);
            *name_out = tcd_sprintf("'%s' (column %lld)", b.data, (long long)*col);
            tcd_buf_free(&b);
        } else {
            *name_out = tcd_sprintf("column %lld", (long long)*col);
        }
        return 0;
    }
    if (!header) {
        snprintf(err, errlen,
                 "%s '%.*s' is a column name, but the input has no header (--no-header); give a "
                 "0-based column index",
                 flag, (int)spec_n, spec);
        return -1;
    }
    tcd_buf b = {0};
    for (int64_t c = 0; c < n_cols; c++) {
        b.len = 0;
        copy_field(header->p, hs, c, &b);
        size_t off = 0, len = b.len;
        trim_span(b.data ? b.data : "", &off, &len);
        if (len == spec_n && !memcmp(b.data + off, spec, spec_n)) {
            *col = c;
            *name_out = tcd_sprintf("'%.*s' (column %lld)", (int)spec_n, spec, (long long)c);
            tcd_buf_free(&b);
            return 0;
        }
    }
    tcd_buf list = {0};
    for (int64_t c = 0; c < n_cols; c++) {
        b.len = 0;
        copy_field(header->p, hs, c, &b);
        if (c) tcd_buf_append(&list, ", ", 2);
        tcd_buf_append(&list, b.data, b.len);
    }
    tcd_buf_putc(&list, 0);
    snprintf(err, errlen, "%s: the header (line %lld) has no column '%.*s' (its columns: %s); pass %s NAME or a 0-based INDEX%s",
             path, (long long)header->line, (int)spec_n, spec, list.data, flag,
             fmt == TCD_FMT_TSV || fmt == TCD_FMT_CSV ? ", or --no-header if the first line is data" : "");
    tcd_buf_free(&list);
    tcd_buf_free(&b);
    (void)fmt;
    return -1;
}

int tcd_fields_resolve(tcd_fields *fs, tcd_format fmt, const char *text_spec, const char *label_spec,
                       const char *label_prefix, const tcd_record *header, const char *path,
                       char *err, size_t errlen) {
    memset(fs, 0, sizeof *fs);
    fs->fmt = fmt;
    if (fmt == TCD_FMT_FASTTEXT) {
        if (text_spec || label_spec) {
            snprintf(err, errlen, "--text-field and --label-field do not apply to fastText input (labels "
                                  "are the leading %s tokens)",
                     label_prefix ? label_prefix : "__label__");
            return -1;
        }
        fs->label_prefix = tcd_strdup(label_prefix ? label_prefix : "__label__");
        fs->label_prefix_len = strlen(fs->label_prefix);
        if (fs->label_prefix_len == 0) {
            snprintf(err, errlen, "--label-prefix must not be empty");
            return -1;
        }
        return 0;
    }
    if (fmt == TCD_FMT_JSONL) {
        const char *t = text_spec ? text_spec : "text";
        for (;;) {
            const char *c = strchr(t, ',');
            size_t len = c ? (size_t)(c - t) : strlen(t);
            if (len == 0 || fs->n_text == TCD_MAX_TEXT_FIELDS) {
                snprintf(err, errlen, "--text-field '%s': %s", text_spec,
                         len == 0 ? "empty key in the list" : "too many keys");
                tcd_fields_free(fs);
                return -1;
            }
            fs->text_name[fs->n_text++] = tcd_strndup(t, len);
            if (!c) break;
            t = c + 1;
        }
        fs->label_name = tcd_strdup(label_spec ? label_spec : "label");
        if (!fs->label_name[0]) {
            snprintf(err, errlen, "--label-field must not be empty");
            tcd_fields_free(fs);
            return -1;
        }
        return 0;
    }
    /* TSV / CSV */
    tcd_parse_scratch hs = {0};
    int64_t n_cols = 0;
    if (header && split_fields(fmt, header->p, header->n, &hs, &n_cols, err, errlen) < 0) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", err);
        snprintf(err, errlen, "%s:%lld: header: %s", path, (long long)header->line, reason);
        tcd_parse_scratch_free(&hs);
        return -1;
    }
    const char *t = text_spec ? text_spec : header ? "text" : "1";
    const char *l = label_spec ? label_spec : header ? "label" : "0";
    int rc = 0;
    for (;;) {
        const char *c = strchr(t, ',');
        size_t len = c ? (size_t)(c - t) : strlen(t);
        if (len == 0 || fs->n_text == TCD_MAX_TEXT_FIELDS) {
            snprintf(err, errlen, "--text-field '%s': %s", text_spec,
                     len == 0 ? "empty item in the list" : "too many fields");
            rc = -1;
            break;
        }
        if (resolve_col(t, len, "--text-field", header, &hs, n_cols, fmt, path, &fs->text_col[fs->n_text],
                        &fs->text_name[fs->n_text], err, errlen) < 0) {
            rc = -1;
            break;
        }
        fs->n_text++;
        if (!c) break;
        t = c + 1;
    }
    if (rc == 0)
        rc = resolve_col(l, strlen(l), "--label-field", header, &hs, n_cols, fmt, path, &fs->label_col,
                         &fs->label_name, err, errlen);
    tcd_parse_scratch_free(&hs);
    if (rc) tcd_fields_free(fs);
    return rc;
}

/* ---------------------------------------------------------------- JSON */

typedef struct {
    const char *p;
    size_t n, pos;
    int replace_surrogates;
    char *err;
    size_t errlen;
} jctx;

static int jfail(jctx *j, const char *what) {
    snprintf(j->err, j->errlen, "invalid JSON at column %zu: %s", j->pos + 1, what);
    return -1;
}

static void jws(jctx *j) {
    while (j->pos < j->n && (j->p[j->pos] == ' ' || j->p[j->pos] == '\t' || j->p[j->pos] == '\n' ||
                             j->p[j->pos] == '\r'))
        j->pos++;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(tcd_buf *out, unsigned cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tcd_buf_append(out, b, n);
}

/* A string at j->pos (which is at the opening quote); decoded into out unless out is NULL. */
static int jstring(jctx *j, tcd_buf *out) {
    j->pos++;
    for (;;) {
        size_t run = j->pos;
        while (run < j->n && j->p[run] != '"' && j->p[run] != '\\' && (unsigned char)j->p[run] >= 0x20) run++;
        if (out) tcd_buf_append(out, j->p + j->pos, run - j->pos);
        j->pos = run;
        if (j->pos >= j->n) return jfail(j, "unterminated string");
        char c = j->p[j->pos];
        if (c == '"') {
            j->pos++;
            return 0;
        }
        if (c != '\\') return jfail(j, "control character in a string (escape it)");
        if (j->pos + 1 >= j->n) return jfail(j, "unterminated string");
        char e = j->p[j->pos + 1];
        const char *simple = NULL;
        switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u': break;
        default: return jfail(j, "invalid escape in a string");
        }
        if (simple) {
            if (out) tcd_buf_putc(out, simple[0]);
            j->pos += 2;
            continue;
        }
        unsigned cp;
        if (j->pos + 6 > j->n || hex4(j->p + j->pos + 2, &cp) < 0) return jfail(j, "invalid \\u escape");
        size_t esc_pos = j->pos;
        j->pos += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (j->pos + 6 <= j->n && j->p[j->pos] == '\\' && j->p[j->pos + 1] == 'u' &&
                hex4(j->p + j->pos + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                j->pos += 6;
            } else {
                cp = 0xFFFFFFFFu;
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFFFFFFu;
        }
        if (cp == 0xFFFFFFFFu) {
            if (!j->replace_surrogates) {
                snprintf(j->err, j->errlen,
                         "invalid UTF-8: lone surrogate escape \\%.5s at column %zu (use --invalid-utf8 "
                         "replace to accept it)",
                         j->p + esc_pos + 1, esc_pos + 1);
                return -1;
            }
            cp = 0xFFFD;
        }
        if (out) put_utf8(out, cp);
    }
}

static int jnumber(jctx *j) {
    size_t i = j->pos;
    if (i < j->n && j->p[i] == '-') i++;
    if (i >= j->n || j->p[i] < '0' || j->p[i] > '9') {
        j->pos = i;
        return jfail(j, "invalid number");
    }
    if (j->p[i] == '0') i++;
    else
        while (i < j->n && j->p[i] >= '0' && j->p[i] <= '9') i++;
    if (i < j->n && j->p[i] == '.') {
        i++;
        size_t d = i;
        while (i < j->n && j->p[i] >= '0' && j->p[i] <= '9') i++;
        if (i == d) {
            j->pos = i;
            return jfail(j, "invalid number (digits expected after '.')");
        }
    }
    if (i < j->n && (j->p[i] == 'e' || j->p[i] == 'E')) {
        i++;
        if (i < j->n && (j->p[i] == '+' || j->p[i] == '-')) i++;
        size_t d = i;
        while (i < j->n && j->p[i] >= '0' && j->p[i] <= '9') i++;
        if (i == d) {
            j->pos = i;
            return jfail(j, "invalid number (digits expected in the exponent)");
        }
    }
    j->pos = i;
    return 0;
}

static int jliteral(jctx *j, const char *word) {
    size_t n = strlen(word);
    if (j->pos + n > j->n || memcmp(j->p + j->pos, word, n)) return jfail(j, "unexpected character");
    j->pos += n;
    return 0;
}

#define JSON_MAX_DEPTH 512

/* Skips one value (validating it). */
static int jskip(jctx *j, int depth) {
    jws(j);
    if (j->pos >= j->n) return jfail(j, "value expected");
    char c = j->p[j->pos];
    if (c == '"') return jstring(j, NULL);
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(j);
    if (c == 't') return jliteral(j, "true");
    if (c == 'f') return jliteral(j, "false");
    if (c == 'n') return jliteral(j, "null");
    if (c != '{' && c != '[') return jfail(j, "unexpected character");
    if (depth >= JSON_MAX_DEPTH) return jfail(j, "nested deeper than 512 levels");
    char close = c == '{' ? '}' : ']';
    j->pos++;
    jws(j);
    if (j->pos < j->n && j->p[j->pos] == close) {
        j->pos++;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            jws(j);
            if (j->pos >= j->n || j->p[j->pos] != '"') return jfail(j, "expected '\"' (an object key)");
            if (jstring(j, NULL) < 0) return -1;
            jws(j);
            if (j->pos >= j->n || j->p[j->pos] != ':') return jfail(j, "expected ':'");
            j->pos++;
        }
        if (jskip(j, depth + 1) < 0) return -1;
        jws(j);
        if (j->pos < j->n && j->p[j->pos] == ',') {
            j->pos++;
            continue;
        }
        if (j->pos < j->n && j->p[j->pos] == close) {
            j->pos++;
            return 0;
        }
        return jfail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* Finds the wanted keys of one top-level object: value_pos[k] = start of key k's value (last
 * occurrence), or SIZE_MAX. Keys 0..n_text-1 are the text keys, n_text the label key. */
static int json_find(const tcd_fields *fs, jctx *j, tcd_buf *key, size_t *value_pos) {
    for (int k = 0; k <= fs->n_text; k++) value_pos[k] = SIZE_MAX;
    jws(j);
    if (j->pos >= j->n || j->p[j->pos] != '{') return jfail(j, "expected '{' (each line must be one JSON object)");
    j->pos++;
    jws(j);
    if (j->pos < j->n && j->p[j->pos] == '}') {
        j->pos++;
    } else {
        for (;;) {
            jws(j);
            if (j->pos >= j->n || j->p[j->pos] != '"') return jfail(j, "expected '\"' (an object key)");
            key->len = 0;
            if (jstring(j, key) < 0) return -1;
            jws(j);
            if (j->pos >= j->n || j->p[j->pos] != ':') return jfail(j, "expected ':'");
            j->pos++;
            jws(j);
            for (int k = 0; k <= fs->n_text; k++) {
                const char *want = k < fs->n_text ? fs->text_name[k] : fs->label_name;
                if (strlen(want) == key->len && !memcmp(want, key->data, key->len)) value_pos[k] = j->pos;
            }
            if (jskip(j, 1) < 0) return -1;
            jws(j);
            if (j->pos < j->n && j->p[j->pos] == ',') {
                j->pos++;
                continue;
            }
            if (j->pos < j->n && j->p[j->pos] == '}') {
                j->pos++;
                break;
            }
            return jfail(j, "expected ',' or '}'");
        }
    }
    jws(j);
    if (j->pos < j->n) return jfail(j, "unexpected text after the object");
    return 0;
}

/* NUL joins the labels of a list, so a label may not hold one (\u0000). */
static int json_nul(const tcd_fields *fs, char *err, size_t errlen) {
    snprintf(err, errlen, "field '%s': a label holds a NUL character (\\u0000)", fs->label_name);
    return -1;
}

static int parse_json(const tcd_fields *fs, const char *p, size_t n, tcd_parse_scratch *s, tcd_buf *out,
                      size_t *text_n, size_t *label_off, size_t *label_n, char *err, size_t errlen) {
    jctx j = {p, n, 0, fs->replace_surrogates, err, errlen};
    size_t value_pos[TCD_MAX_TEXT_FIELDS + 1];
    if (json_find(fs, &j, &s->key, value_pos) < 0) return -1;
    for (int k = 0; k < fs->n_text; k++) {
        if (value_pos[k] == SIZE_MAX) {
            snprintf(err, errlen, "field '%s' missing", fs->text_name[k]);
            return -1;
        }
        if (p[value_pos[k]] != '"') {
            snprintf(err, errlen, "field '%s' is not a string", fs->text_name[k]);
            return -1;
        }
        if (k) tcd_buf_putc(out, ' ');
        j.pos = value_pos[k];
        if (jstring(&j, out) < 0) return -1;
    }
    *text_n = out->len;
    size_t lp = value_pos[fs->n_text];
    if (lp == SIZE_MAX) {
        snprintf(err, errlen, "field '%s' missing", fs->label_name);
        return -1;
    }
    *label_off = out->len;
    char c = p[lp];
    j.pos = lp;
    if (c == '"') {
        if (jstring(&j, out) < 0) return -1;
        if (out->len > *label_off && memchr(out->data + *label_off, 0, out->len - *label_off))
            return json_nul(fs, err, errlen);
    } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f') {
        jskip(&j, 0); /* validated already */
        tcd_buf_append(out, p + lp, j.pos - lp);
    } else if (c == '[') {
        /* a list of labels: strings, numbers or booleans, joined by NUL */
        j.pos++;
        int n_items = 0;
        for (;;) {
            jws(&j);
            if (j.pos < n && p[j.pos] == ']' && n_items == 0) break;
            const size_t ip = j.pos;
            const char ic = ip < n ? p[ip] : 0;
            if (n_items) tcd_buf_putc(out, 0);
            const size_t item = out->len;
            if (ic == '"') {
                if (jstring(&j, out) < 0) return -1;
                if (out->len > item && memchr(out->data + item, 0, out->len - item))
                    return json_nul(fs, err, errlen);
            } else if (ic == '-' || (ic >= '0' && ic <= '9') || ic == 't' || ic == 'f') {
                jskip(&j, 0);
                tcd_buf_append(out, p + ip, j.pos - ip);
            } else {
                snprintf(err, errlen, "field '%s': item %d of the list is %s, not a string, number or bool",
                         fs->label_name, n_items + 1, ic == 'n' ? "null" : ic == '{' ? "an object" : "a list");
                return -1;
            }
            n_items++;
            jws(&j);
            if (j.pos < n && p[j.pos] == ',') {
                j.pos++;
                continue;
            }
            break; /* ']' (validated already) */
        }
        if (n_items == 0) {
            snprintf(err, errlen, "field '%s' is an empty list (every document needs at least one label)",
                     fs->label_name);
            return -1;
        }
    } else {
        snprintf(err, errlen, "field '%s' is %s, not a string, number, bool or list of them", fs->label_name,
                 c == 'n' ? "null" : "an object");
        return -1;
    }
    *label_n = out->len - *label_off;
    return 0;
}

/* ---------------------------------------------------------------- records */

static int parse_fasttext(const tcd_fields *fs, const char *p, size_t n, tcd_buf *out, size_t *text_n,
                          size_t *label_off, size_t *label_n, char *err, size_t errlen) {
    size_t pos = 0, first = 0, last = 0;
    int n_labels = 0;
    for (;;) {
        while (pos < n && is_blank(p[pos])) pos++;
        if (pos >= n || n - pos < fs->label_prefix_len || memcmp(p + pos, fs->label_prefix, fs->label_prefix_len))
            break;
        size_t end = pos;
        while (end < n && !is_blank(p[end])) end++;
        if (n_labels == 0) first = pos;
        last = end;
        n_labels++;
        pos = end;
    }
    if (n_labels == 0) {
        snprintf(err, errlen, "missing label (the line must start with a %s token)", fs->label_prefix);
        return -1;
    }
    tcd_buf_append(out, p + pos, n - pos);
    *text_n = out->len;
    *label_off = out->len;
    /* every label token without its prefix, joined by NUL */
    for (size_t at = first; at < last;) {
        while (at < last && is_blank(p[at])) at++;
        size_t end = at;
        while (end < last && !is_blank(p[end])) end++;
        if (memchr(p + at, 0, end - at)) {
            snprintf(err, errlen, "NUL byte in a label");
            return -1;
        }
        if (out->len > *label_off) tcd_buf_putc(out, 0);
        tcd_buf_append(out, p + at + fs->label_prefix_len, end - at - fs->label_prefix_len);
        at = end;
    }
    *label_n = out->len - *label_off;
    /* several: an empty one ("__label__a __label__") is caught by the list check in tcd_parse_record */
    return 0;
}

/* A list of labels in out->data[*off, +*n), separated by sep (0: by NUL): each item trimmed, none
 * empty, rewritten in place joined by NUL. */
static int split_labels(tcd_buf *out, char sep, size_t *off, size_t *n, char *err, size_t errlen) {
    char *p = out->data + *off;
    size_t w = 0, i = 0, items = 0;
    for (;;) {
        size_t end = i;
        while (end < *n && p[end] != sep) end++;
        size_t a = i, len = end - i;
        trim_span(p, &a, &len);
        if (len == 0) {
            if (sep && items == 0 && end >= *n)
                snprintf(err, errlen, "empty label");
            else
                snprintf(err, errlen, "empty label in the list (item %zu)", items + 1);
            return -1;
        }
        if (items) p[w++] = 0;
        memmove(p + w, p + a, len);
        w += len;
        items++;
        if (end >= *n) break;
        i = end + 1;
    }
    *n = w;
    out->len = *off + w;
    return 0;
}

int tcd_parse_record(const tcd_fields *fs, const char *p, size_t n, tcd_parse_scratch *s, tcd_buf *out,
                     size_t *text_n, size_t *label_off, size_t *label_n, char *err, size_t errlen) {
    out->len = 0;
    int rc;
    if (fs->fmt == TCD_FMT_JSONL) {
        rc = parse_json(fs, p, n, s, out, text_n, label_off, label_n, err, errlen);
    } else if (fs->fmt == TCD_FMT_FASTTEXT) {
        rc = parse_fasttext(fs, p, n, out, text_n, label_off, label_n, err, errlen);
    } else {
        int64_t nf;
        if (split_fields(fs->fmt, p, n, s, &nf, err, errlen) < 0) return -1;
        for (int k = 0; k <= fs->n_text; k++) {
            int64_t col = k < fs->n_text ? fs->text_col[k] : fs->label_col;
            if (col >= nf) {
                snprintf(err, errlen, "missing field: %s %s is needed but the line has %lld field%s%s",
                         k < fs->n_text ? "text" : "label", k < fs->n_text ? fs->text_name[k] : fs->label_name,
                         (long long)nf, nf == 1 ? "" : "s",
                         fs->fmt == TCD_FMT_TSV && nf == 1 ? " (no TAB)" : "");
                return -1;
            }
        }
        for (int k = 0; k < fs->n_text; k++) {
            if (k) tcd_buf_putc(out, ' ');
            copy_field(p, s, fs->text_col[k], out);
        }
        *text_n = out->len;
        *label_off = out->len;
        copy_field(p, s, fs->label_col, out);
        *label_n = out->len - *label_off;
        rc = 0;
    }
    if (rc) return rc;
    const int delimited = fs->fmt == TCD_FMT_TSV || fs->fmt == TCD_FMT_CSV;
    if (delimited && *label_n && memchr(out->data + *label_off, 0, *label_n)) {
        snprintf(err, errlen, "NUL byte in the label");
        return -1;
    }
    const char sep = delimited ? fs->label_sep : 0;
    if (sep || (*label_n && memchr(out->data + *label_off, 0, *label_n)))
        return split_labels(out, sep, label_off, label_n, err, errlen);
    trim_span(out->data, label_off, label_n);
    if (*label_n == 0) {
        snprintf(err, errlen, "empty label");
        return -1;
    }
    return 0;
}
