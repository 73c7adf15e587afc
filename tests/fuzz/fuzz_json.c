/* The JSONL record scanner of src/text/reader.c (parse_json through tcd_parse_record): one input
 * is one record; the first byte picks the keys and the surrogate policy. */
#include "fuzz_common.h"
#include "text/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t opt = data[0];
    static const char *const text_specs[] = {NULL, "text", "title,text", "a,b,c,d"};
    static const char *const label_specs[] = {NULL, "label", "y", "text"};
    tcd_fields fs;
    char err[1024];
    if (tcd_fields_resolve(&fs, TCD_FMT_JSONL, text_specs[opt & 3], label_specs[(opt >> 2) & 3], NULL, NULL,
                           "fuzz.jsonl", err, sizeof err) != 0)
        return 0;
    fs.replace_surrogates = (opt >> 4) & 1;
    /* an exact-size copy: a read past the record's end is a sanitizer report */
    size_t n = size - 1;
    char *rec = malloc(n ? n : 1);
    memcpy(rec, data + 1, n);
    tcd_parse_scratch ps = {0};
    tcd_buf out = {0};
    size_t text_n = 0, label_off = 0, label_n = 0;
    if (tcd_parse_record(&fs, rec, n, &ps, &out, &text_n, &label_off, &label_n, err, sizeof err) == 0) {
        if (text_n > out.len || label_off + label_n > out.len || label_n == 0) abort();
    } else if (!err[0]) {
        abort(); /* an error must say why */
    }
    free(rec);
    tcd_buf_free(&out);
    tcd_parse_scratch_free(&ps);
    tcd_fields_free(&fs);
    return 0;
}
