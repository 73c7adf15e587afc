/* Raw labelled-text input for `tcdist prepare`: TSV, CSV (RFC 4180), fastText and JSONL.
 *
 * A tcd_reader reads one file (or stdin) in large blocks and hands out whole records, carrying a
 * partial record over to the next block; record splitting is sequential and cheap (memchr, or a
 * quote-aware scan for CSV). Field extraction (tcd_parse_record) is pure and thread-safe, so the
 * caller can parse the records of a block in parallel. */
#ifndef TCD_READER_H
#define TCD_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/util.h"

typedef enum { TCD_FMT_TSV = 0, TCD_FMT_CSV, TCD_FMT_FASTTEXT, TCD_FMT_JSONL } tcd_format;

const char *tcd_format_name(tcd_format f);
/* "tsv", "csv", "fasttext", "jsonl" -> format; 0, or -1 if unknown. */
int tcd_format_parse(const char *name, tcd_format *out);
/* From the file name: .tsv, .csv, .jsonl/.json, .ft/.fasttext; 0, or -1 if it says nothing. */
int tcd_format_from_path(const char *path, tcd_format *out);

/* Longest record accepted; longer ones are an error (for CSV usually a runaway quote). */
#define TCD_MAX_RECORD_BYTES ((size_t)64 << 20)

/* One record: bytes [p, p + n) without the line terminator (a trailing \r is removed for the
 * line formats; CSV keeps quoted newlines inside), starting at 1-based line `line` of its file. */
typedef struct {
    const char *p;
    size_t n;
    int64_t line;
} tcd_record;

typedef struct {
    FILE *f;
    int is_stdin;
    char *path; /* as given ("-" for stdin) */
    tcd_format fmt;
    char *buf;
    size_t len, cap;    /* bytes held in buf */
    size_t start;       /* first byte of buf not yet handed out as a record */
    size_t block_bytes; /* bytes read per fread */
    int eof, at_start;
    int64_t line;          /* line number at buf[start] */
    int64_t n_bytes_read;  /* raw input bytes so far */
    tcd_record *recs;
    int64_t cap_recs;
} tcd_reader;

/* Opens path ("-": stdin). Returns 0, or -1 with a message naming the file in err. */
int tcd_reader_open(tcd_reader *r, const char *path, tcd_format fmt, size_t block_bytes, char *err,
                    size_t errlen);
/* The next batch of whole records (blank lines are skipped). Returns how many (> 0), 0 at the end
 * of the input, or -1 with "FILE:LINE: reason" in err (read error, record over the limit). The
 * records point into the reader's buffer and stay valid until the next call. */
int64_t tcd_reader_next(tcd_reader *r, const tcd_record **recs, char *err, size_t errlen);
void tcd_reader_close(tcd_reader *r);

/* Which fields of a record hold the text and the label, for one file. */
#define TCD_MAX_TEXT_FIELDS 16
typedef struct {
    tcd_format fmt;
    int n_text;
    int64_t text_col[TCD_MAX_TEXT_FIELDS]; /* TSV/CSV: 0-based columns */
    int64_t label_col;
    char *text_name[TCD_MAX_TEXT_FIELDS]; /* for messages; JSONL: the keys (malloc'd) */
    char *label_name;
    char *label_prefix; /* fastText */
    size_t label_prefix_len;
    int replace_surrogates; /* JSONL: a lone \uD800-\uDFFF escape becomes U+FFFD (else an error) */
    char label_sep;         /* TSV/CSV --label-sep: the label field is a list split on it (0: one label) */
} tcd_fields;

/* Resolves the --text-field / --label-field specs for one file. text_spec is a comma list; each
 * item (and label_spec) is a 0-based column index if all digits, else a column name looked up in
 * the header record (NULL with --no-header, where names are an error). NULL specs take the
 * defaults (header: "text"/"label"; no header: text 1, label 0; JSONL: keys "text"/"label").
 * Returns 0, or -1 with a message in err (naming the file and, for a missing column, listing the
 * header's columns). */
int tcd_fields_resolve(tcd_fields *fs, tcd_format fmt, const char *text_spec, const char *label_spec,
                       const char *label_prefix, const tcd_record *header, const char *path,
                       char *err, size_t errlen);
void tcd_fields_free(tcd_fields *fs);

/* Per-thread scratch for tcd_parse_record. */
typedef struct {
    size_t *span; /* field i: [span[3i], span[3i]+span[3i+1]) with span[3i+2] = quoted flag */
    int64_t cap;
    tcd_buf key; /* JSONL: the key being compared */
} tcd_parse_scratch;
void tcd_parse_scratch_free(tcd_parse_scratch *s);

/* Extracts one record: the text (text fields joined with one space) is written to out->data[0,
 * *text_n) and the label (ASCII blanks trimmed) to out->data[*label_off, +*label_n); out is reset
 * first. A record with several labels (fastText: several label tokens; JSONL: a list; TSV/CSV with
 * label_sep: the field split on it) gives them all, each trimmed and non-empty, joined by NUL bytes
 * in that span. Returns 0, or -1 with a reason (no file:line prefix) in err: missing field, broken quote,
 * invalid JSON, empty label, fastText label problems. Thread-safe. */
int tcd_parse_record(const tcd_fields *fs, const char *p, size_t n, tcd_parse_scratch *s, tcd_buf *out,
                     size_t *text_n, size_t *label_off, size_t *label_n, char *err, size_t errlen);

#endif
