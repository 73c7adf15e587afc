/* The raw-input readers, one binary per format (FUZZ_FORMAT = TCD_FMT_TSV, _CSV, _FASTTEXT,
 * _JSONL): the input's first byte picks the prepare options, the rest is the file. Everything
 * `tcdist prepare` does to a record before the vocabulary runs: block reader, header and field
 * resolution, record parsing (multi-label lists too), tokenizing, n-gram ids. */
#include "fuzz_common.h"
#include "text/reader.h"
#include "text/tokenize.h"

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT TCD_FMT_TSV
#endif

static void tokenize_text(const tcd_tok_opts *tok, const char *text, size_t n, tcd_tokens *toks) {
    const char *terr = NULL;
    if (tcd_tokenize(tok, text ? text : "", n, toks, &terr) != 0) return;
    int64_t ng = tcd_n_ngram_ids(tok, toks->n_words);
    if (ng > 0 && ng < (1 << 20)) {
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)ng);
        tcd_ngram_ids(tok, toks->hash, toks->n_words, 1000, ids);
        for (int64_t i = 0; i < ng; i++)
            if (ids[i] < 1000 || ids[i] >= 1000 + tok->buckets) abort(); /* an id outside its buckets */
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t opt = data[0];
    const char *path = fuzz_tmp_file(data + 1, size - 1, ".txt");
    tcd_format fmt = FUZZ_FORMAT;
    int no_header = opt & 1;
    static const char *const text_specs[] = {NULL, "text", "1", "title,text", "0,2", "body"};
    static const char *const label_specs[] = {NULL, "label", "0", "1"};
    const char *text_spec = text_specs[(opt >> 1) % 6];
    const char *label_spec = label_specs[(opt >> 4) & 3];
    const char *prefix = (opt & 64) ? "__lbl__" : NULL;

    tcd_tok_opts tok;
    tcd_tok_opts_default(&tok);
    tok.invalid_utf8 = (opt & 128) ? TCD_UTF8_REPLACE : TCD_UTF8_ERROR;
    tok.ngrams = (opt & 8) ? 3 : 1;
    tok.buckets = tok.ngrams > 1 ? 5000 : 0;
    tok.max_len = (opt & 32) ? 7 : 0;

    tcd_reader r;
    char err[2048];
    int q = fuzz_quiet_begin();
    if (tcd_reader_open(&r, path, fmt, 4096, err, sizeof err) != 0) {
        fuzz_quiet_end(q);
        return 0;
    }
    tcd_fields fs;
    int have_fields = 0;
    tcd_parse_scratch ps = {0};
    tcd_buf out = {0};
    tcd_tokens toks = {0};
    for (;;) {
        const tcd_record *recs;
        int64_t n = tcd_reader_next(&r, &recs, err, sizeof err);
        if (n <= 0) break;
        if (!have_fields) {
            int header = (fmt == TCD_FMT_TSV || fmt == TCD_FMT_CSV) && !no_header;
            if (tcd_fields_resolve(&fs, fmt, text_spec, label_spec, prefix, header ? &recs[0] : NULL, path, err,
                                   sizeof err) != 0)
                break;
            fs.replace_surrogates = tok.invalid_utf8 == TCD_UTF8_REPLACE;
            fs.label_sep = (opt & 4) ? '|' : 0; /* TSV/CSV: a list of labels (prepare --label-sep '|') */
            have_fields = 1;
            if (header) {
                recs++;
                n--;
            }
        }
        for (int64_t i = 0; i < n; i++) {
            size_t text_n = 0, label_off = 0, label_n = 0;
            if (tcd_parse_record(&fs, recs[i].p, recs[i].n, &ps, &out, &text_n, &label_off, &label_n, err,
                                 sizeof err) != 0)
                continue;
            if (text_n > out.len || label_off + label_n > out.len || label_n == 0) abort();
            /* several labels are joined by NUL: none of them empty */
            const char *lab = out.data + label_off;
            if (lab[0] == 0 || lab[label_n - 1] == 0) abort();
            for (size_t k = 1; k < label_n; k++)
                if (lab[k] == 0 && lab[k - 1] == 0) abort();
            tokenize_text(&tok, out.data, text_n, &toks);
        }
    }
    if (have_fields) tcd_fields_free(&fs);
    tcd_parse_scratch_free(&ps);
    tcd_buf_free(&out);
    tcd_tokens_free(&toks);
    tcd_reader_close(&r);
    fuzz_quiet_end(q);
    return 0;
}
