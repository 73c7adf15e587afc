/* Corpus file, read side, and the tokenizer settings stored as attributes (see corpus.h). */
#include "io/corpus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/corpus_write.h"
#include "io/h5.h"
#include "base/util.h"

int tcd_tok_opts_write_attrs(hid_t loc, const tcd_tok_opts *o) {
    int rc = 0;
    rc |= tcd_h5_attr_set_str(loc, "tokenizer", TCD_TOKENIZER_NAME);
    rc |= tcd_h5_attr_set_i64(loc, "lowercase", o->lowercase);
    rc |= tcd_h5_attr_set_str(loc, "punct", o->keep_punct ? "keep" : "drop");
    rc |= tcd_h5_attr_set_str(loc, "invalid_utf8", o->invalid_utf8 == TCD_UTF8_REPLACE ? "replace" : "error");
    rc |= tcd_h5_attr_set_i64(loc, "ngrams", o->ngrams);
    rc |= tcd_h5_attr_set_i64(loc, "n_buckets", o->buckets);
    rc |= tcd_h5_attr_set_i64(loc, "max_len", o->max_len);
    return rc ? -1 : 0;
}

int tcd_tok_opts_read_attrs(hid_t loc, tcd_tok_opts *o, char *err, size_t errlen) {
    char *name = tcd_h5_attr_get_str(loc, "tokenizer");
    if (!name) {
        snprintf(err, errlen, "tokenizer settings missing (%s)", tcd_h5_errmsg());
        return -1;
    }
    if (strcmp(name, TCD_TOKENIZER_NAME) != 0) {
        snprintf(err, errlen, "made by tokenizer '%s', this tcdist has '%s'", name, TCD_TOKENIZER_NAME);
        free(name);
        return -1;
    }
    free(name);
    int64_t lower, ngrams, buckets, max_len;
    char *punct = tcd_h5_attr_get_str(loc, "punct");
    char *utf8 = tcd_h5_attr_get_str(loc, "invalid_utf8");
    int bad = tcd_h5_attr_get_i64(loc, "lowercase", &lower) < 0 || tcd_h5_attr_get_i64(loc, "ngrams", &ngrams) < 0 ||
              tcd_h5_attr_get_i64(loc, "n_buckets", &buckets) < 0 ||
              tcd_h5_attr_get_i64(loc, "max_len", &max_len) < 0 || !punct || !utf8;
    if (!bad) {
        tcd_tok_opts_default(o);
        o->lowercase = lower != 0;
        o->keep_punct = strcmp(punct, "drop") != 0;
        o->invalid_utf8 = strcmp(utf8, "replace") == 0 ? TCD_UTF8_REPLACE : TCD_UTF8_ERROR;
        o->ngrams = (int)ngrams;
        o->buckets = buckets;
        o->max_len = max_len;
        if (ngrams < 1 || ngrams > 16 || buckets < 0 || (ngrams > 1 && buckets <= 0) || max_len < 0) bad = 1;
    }
    if (bad) snprintf(err, errlen, "tokenizer settings are missing or invalid (%s)", tcd_h5_errmsg());
    free(punct);
    free(utf8);
    return bad ? -1 : 0;
}

struct tcd_corpus_cache {
    char **words, **labels;
    int64_t n_words, n_labels;
    int64_t *counts;
    hid_t ds_tokens, ds_offsets, ds_labels; /* open once: streaming makes thousands of small reads */
};

static char **copy_strings(char *const *src, int64_t n) {
    char **out = tcd_calloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n; i++) out[i] = tcd_strdup(src[i]);
    return out;
}

void tcd_corpus_close(tcd_corpus *c) {
    if (c->cache) {
        if (c->cache->ds_tokens > 0) H5Dclose(c->cache->ds_tokens);
        if (c->cache->ds_offsets > 0) H5Dclose(c->cache->ds_offsets);
        if (c->cache->ds_labels > 0) H5Dclose(c->cache->ds_labels);
        tcd_h5_free_strings(c->cache->words, c->cache->n_words);
        tcd_h5_free_strings(c->cache->labels, c->cache->n_labels);
        free(c->cache->counts);
        free(c->cache);
        c->cache = NULL;
    }
    if (c->file >= 0) H5Fclose(c->file);
    c->file = -1;
    free(c->path);
    free(c->input_format);
    free(c->sources);
    free(c->created_by);
    c->path = c->input_format = c->sources = c->created_by = NULL;
}

int tcd_corpus_open(tcd_corpus *c, const char *path, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->file = tcd_h5_open_ro(path);
    if (c->file < 0) {
        snprintf(err, errlen, "%s", tcd_h5_errmsg());
        return -1;
    }
    c->path = tcd_strdup(path);
    if (tcd_h5_check_format(c->file, path, TCD_CORPUS_FORMAT, TCD_CORPUS_VERSION,
                            "make a corpus from raw text with 'tcdist prepare'", &c->version, err, errlen) != 0) {
        tcd_corpus_close(c);
        return -1;
    }
    struct {
        const char *name;
        int64_t *dst;
    } nums[] = {{"n_docs", &c->n_docs},         {"n_tokens", &c->n_tokens},   {"vocab_size", &c->vocab_size},
                {"n_buckets", &c->n_buckets},   {"n_embeddings", &c->n_embeddings},
                {"n_classes", &c->n_classes},   {"min_count", &c->min_count}, {"max_vocab", &c->max_vocab},
                {"n_skipped", &c->n_skipped}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (tcd_h5_attr_get_i64(c->file, nums[i].name, nums[i].dst) < 0) {
            snprintf(err, errlen, "%s: attribute '%s' missing or not a number", path, nums[i].name);
            tcd_corpus_close(c);
            return -1;
        }
    }
    char terr[256];
    if (tcd_tok_opts_read_attrs(c->file, &c->tok, terr, sizeof terr) < 0) {
        snprintf(err, errlen, "%s: %s", path, terr);
        tcd_corpus_close(c);
        return -1;
    }
    if (tcd_h5_attr_get_sha256(c->file, "content_sha256", c->content_sha256) < 0 ||
        tcd_h5_attr_get_sha256(c->file, "vocab_sha256", c->vocab_sha256) < 0) {
        snprintf(err, errlen, "%s: content_sha256/vocab_sha256 attribute missing", path);
        tcd_corpus_close(c);
        return -1;
    }
    c->input_format = tcd_h5_attr_get_str(c->file, "input_format");
    c->sources = tcd_h5_attr_get_str(c->file, "sources");
    c->created_by = tcd_h5_attr_get_str(c->file, "created_by");
    /* The datasets must agree with the counts, or every later read would be out of bounds. */
    int64_t d[2];
    const char *bad = NULL;
    if (tcd_h5_dims(c->file, "tokens", d) != 1 || d[0] != c->n_tokens) bad = "tokens";
    else if (tcd_h5_dims(c->file, "offsets", d) != 1 || d[0] != c->n_docs + 1) bad = "offsets";
    else if (tcd_h5_dims(c->file, "labels", d) != 1 || d[0] != c->n_docs) bad = "labels";
    else if (c->version == 1 && (tcd_h5_dims(c->file, "vocab/words", d) != 1 || d[0] != c->vocab_size))
        bad = "vocab/words";
    else if (c->version == 1 && (tcd_h5_dims(c->file, "label_names", d) != 1 || d[0] != c->n_classes))
        bad = "label_names";
    else if (c->version >= 2 && (tcd_h5_dims(c->file, "vocab/words/offsets", d) != 1 || d[0] != c->vocab_size + 1))
        bad = "vocab/words/offsets";
    else if (c->version >= 2 && (tcd_h5_dims(c->file, "label_names/offsets", d) != 1 || d[0] != c->n_classes + 1))
        bad = "label_names/offsets";
    else if (tcd_h5_dims(c->file, "vocab/counts", d) != 1 || d[0] != c->vocab_size) bad = "vocab/counts";
    else if (tcd_h5_exists(c->file, "label_sets") == 1 &&
             (tcd_h5_dims(c->file, "label_sets/offsets", d) != 1 || d[0] != c->n_docs + 1 ||
              tcd_h5_dims(c->file, "label_sets/ids", d) != 1 || d[0] < c->n_docs))
        bad = "label_sets";
    else if (c->n_embeddings != c->vocab_size + c->n_buckets || c->vocab_size < 2 || c->n_classes < 1 ||
             c->n_embeddings > INT32_MAX || c->n_classes > INT32_MAX || c->n_docs < 0 || c->n_tokens < 0 ||
             c->n_buckets < 0)
        bad = "sizes";
    else if ((double)c->n_tokens * 4.0 + (double)c->n_docs * 12.0 > (double)tcd_h5_file_size(c->file))
        bad = "file size (truncated?)";
    if (!bad && tcd_h5_exists(c->file, "label_sets") == 1) {
        c->multi_label = 1;
        c->n_label_ids = d[0];
    }
    if (bad) {
        snprintf(err, errlen, "%s: damaged corpus: '%s' does not match the stored counts", path, bad);
        tcd_corpus_close(c);
        return -1;
    }
    /* Version 2: the vocabulary and label names now (checksummed and checked, and every command
     * needs them sooner or later), so that a damaged table fails here and not after hours of
     * training. Version 1 reads its variable-length strings later, when first asked. */
    int64_t n_words = 0, n_labels = 0;
    char **words = c->version >= 2 ? tcd_corpus_read_vocab(c, &n_words, NULL) : NULL;
    char **labels = words ? tcd_corpus_read_label_names(c, &n_labels) : NULL;
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    if (c->version >= 2 && !labels) {
        snprintf(err, errlen, "%s: %s", path, tcd_h5_errmsg());
        tcd_corpus_close(c);
        return -1;
    }
    return 0;
}

static struct tcd_corpus_cache *cache_of(const tcd_corpus *c) {
    if (!c->cache) ((tcd_corpus *)c)->cache = tcd_calloc(1, sizeof(struct tcd_corpus_cache));
    return c->cache;
}

/* A slab of one of the three big datasets, bounds checked against the counts tcd_corpus_open
 * verified, through a dataset handle kept open (with a chunk cache that holds two chunks, so that
 * small reads do not verify and copy the same checksummed chunk again and again). */
static int read_slab(const tcd_corpus *c, hid_t *ds, const char *name, hid_t type, int64_t len, int64_t start,
                     int64_t n, void *out) {
    if (start < 0 || n < 0 || start + n > len) return tcd_h5_read_rows(c->file, name, type, start, n, out); /* reports it */
    if (*ds <= 0) {
        hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
        H5Pset_chunk_cache(dapl, 521, (size_t)16 << 20, 0.75);
        *ds = H5Dopen2(c->file, name, dapl);
        H5Pclose(dapl);
        if (*ds < 0) return tcd_h5_read_rows(c->file, name, type, start, n, out);
    }
    return tcd_h5_read_slab(*ds, type, start, n, out);
}

int tcd_corpus_read_offsets(const tcd_corpus *c, int64_t doc0, int64_t n_docs, int64_t *out) {
    if (read_slab(c, &cache_of(c)->ds_offsets, "offsets", H5T_NATIVE_INT64, c->n_docs + 1, doc0, n_docs + 1, out) != 0)
        return -1;
    /* in order, within the tokens, and the whole corpus spans exactly [0, n_tokens) */
    for (int64_t i = 0; i <= n_docs; i++) {
        const int64_t at = doc0 + i;
        const int ok = out[i] >= 0 && out[i] <= c->n_tokens && (i == 0 || out[i] >= out[i - 1]) &&
                       (at != 0 || out[i] == 0) && (at != c->n_docs || out[i] == c->n_tokens);
        if (!ok) {
            tcd_h5_seterr("damaged corpus: dataset 'offsets': offsets[%lld] = %lld is out of order or outside [0, %lld]",
                          (long long)at, (long long)out[i], (long long)c->n_tokens);
            return -1;
        }
    }
    return 0;
}

int tcd_corpus_read_tokens(const tcd_corpus *c, int64_t tok0, int64_t n, int32_t *out) {
    if (read_slab(c, &cache_of(c)->ds_tokens, "tokens", H5T_NATIVE_INT32, c->n_tokens, tok0, n, out) != 0) return -1;
    const uint32_t limit = (uint32_t)c->n_embeddings; /* checked to fit int32 at open */
    for (int64_t i = 0; i < n; i++)
        if ((uint32_t)out[i] >= limit) {
            tcd_h5_seterr("damaged corpus: dataset 'tokens': token %lld has id %d, outside the embedding table [0, %lld)",
                          (long long)(tok0 + i), out[i], (long long)c->n_embeddings);
            return -1;
        }
    return 0;
}

int tcd_corpus_read_labels(const tcd_corpus *c, int64_t doc0, int64_t n_docs, int32_t *out) {
    if (read_slab(c, &cache_of(c)->ds_labels, "labels", H5T_NATIVE_INT32, c->n_docs, doc0, n_docs, out) != 0) return -1;
    for (int64_t i = 0; i < n_docs; i++)
        if (out[i] < 0 || out[i] >= c->n_classes) {
            tcd_h5_seterr("damaged corpus: dataset 'labels': document %lld has label %d, outside [0, %lld)",
                          (long long)(doc0 + i), out[i], (long long)c->n_classes);
            return -1;
        }
    return 0;
}

void tcd_multilabels_free(tcd_multilabels *m) {
    free(m->off);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

int tcd_corpus_read_label_sets(const tcd_corpus *c, tcd_multilabels *out) {
    memset(out, 0, sizeof *out);
    TCD_CHECK(c->multi_label);
    out->n_docs = c->n_docs;
    out->off = tcd_malloc(sizeof(int64_t) * (size_t)(c->n_docs + 1));
    out->ids = tcd_malloc(sizeof(int32_t) * (size_t)(c->n_label_ids ? c->n_label_ids : 1));
    if (tcd_h5_read_rows(c->file, "label_sets/offsets", H5T_NATIVE_INT64, 0, c->n_docs + 1, out->off) != 0 ||
        tcd_h5_read_rows(c->file, "label_sets/ids", H5T_NATIVE_INT32, 0, c->n_label_ids, out->ids) != 0) {
        tcd_multilabels_free(out);
        return -1;
    }
    if (out->off[0] != 0 || out->off[c->n_docs] != c->n_label_ids) {
        tcd_h5_seterr("damaged corpus: dataset 'label_sets/offsets' does not span 'label_sets/ids'");
        tcd_multilabels_free(out);
        return -1;
    }
    for (int64_t d = 0; d < c->n_docs; d++) {
        const int64_t a = out->off[d], b = out->off[d + 1];
        int ok = a < b && b <= c->n_label_ids;
        for (int64_t k = a; ok && k < b; k++)
            ok = out->ids[k] >= 0 && out->ids[k] < c->n_classes && (k == a || out->ids[k] > out->ids[k - 1]);
        if (!ok) {
            tcd_h5_seterr("damaged corpus: dataset 'label_sets': document %lld has an empty, unsorted or out-of-range "
                          "label set",
                          (long long)d);
            tcd_multilabels_free(out);
            return -1;
        }
    }
    return 0;
}

/* The vocabulary or label names: string tables (version 2) or variable-length strings (version 1,
 * read only now, after the attributes and sizes were checked at open). */
static char **read_names(const tcd_corpus *c, const char *name, int64_t expect, int64_t *n) {
    char **out = c->version >= 2 ? tcd_h5_read_strtable(c->file, name, expect, n)
                                 : tcd_h5_read_vlen_strings(c->file, name, n);
    if (out && *n != expect) {
        tcd_h5_seterr("damaged corpus: '%s' holds %lld names, the attributes say %lld", name, (long long)*n,
                      (long long)expect);
        tcd_h5_free_strings(out, *n);
        return NULL;
    }
    return out;
}

char **tcd_corpus_read_vocab(const tcd_corpus *c, int64_t *n, int64_t **counts) {
    struct tcd_corpus_cache *k = cache_of(c);
    if (!k->words) {
        int64_t nw = 0;
        char **words = read_names(c, "vocab/words", c->vocab_size, &nw);
        if (!words) return NULL;
        int64_t *cnt = tcd_malloc(sizeof(int64_t) * (size_t)(nw ? nw : 1));
        if (tcd_h5_read_rows(c->file, "vocab/counts", H5T_NATIVE_INT64, 0, nw, cnt) < 0) {
            tcd_h5_free_strings(words, nw);
            free(cnt);
            return NULL;
        }
        k->words = words;
        k->n_words = nw;
        k->counts = cnt;
    }
    *n = k->n_words;
    if (counts) {
        *counts = tcd_malloc(sizeof(int64_t) * (size_t)(k->n_words ? k->n_words : 1));
        memcpy(*counts, k->counts, sizeof(int64_t) * (size_t)k->n_words);
    }
    return copy_strings(k->words, k->n_words);
}

char **tcd_corpus_read_label_names(const tcd_corpus *c, int64_t *n) {
    struct tcd_corpus_cache *k = cache_of(c);
    if (!k->labels) {
        k->labels = read_names(c, "label_names", c->n_classes, &k->n_labels);
        if (!k->labels) return NULL;
    }
    *n = k->n_labels;
    return copy_strings(k->labels, k->n_labels);
}

/* sha256 of one whole dataset, read in checked slices (tokens, offsets or labels). */
static int sha_dataset(const tcd_corpus *c, int which, char hex[65]) {
    const int64_t slice = (int64_t)1 << 20;
    const int64_t total = which == 0 ? c->n_tokens : which == 1 ? c->n_docs + 1 : c->n_docs;
    const size_t size = which == 1 ? sizeof(int64_t) : sizeof(int32_t);
    void *buf = tcd_malloc(size * (size_t)(slice + 1));
    tcd_sha256 s;
    tcd_sha256_init(&s);
    int rc = 0;
    for (int64_t at = 0; rc == 0 && at < total; at += slice) {
        int64_t n = total - at < slice ? total - at : slice;
        if (which == 0) rc = tcd_corpus_read_tokens(c, at, n, buf);
        else if (which == 1) rc = tcd_corpus_read_offsets(c, at, n - 1, buf); /* n values: n - 1 documents */
        else rc = tcd_corpus_read_labels(c, at, n, buf);
        tcd_sha256_le(&s, buf, n, size);
    }
    tcd_sha256_hex(&s, hex);
    free(buf);
    return rc;
}

int tcd_corpus_verify(const tcd_corpus *c, char *err, size_t errlen) {
    char hex[3][65];
    for (int i = 0; i < 3; i++)
        if (sha_dataset(c, i, hex[i]) != 0) {
            snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
            return -1;
        }
    int64_t n_words = 0, n_labels = 0;
    char **words = tcd_corpus_read_vocab(c, &n_words, NULL);
    char **labels = words ? tcd_corpus_read_label_names(c, &n_labels) : NULL;
    if (!words || !labels) {
        snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
        tcd_h5_free_strings(words, n_words);
        return -1;
    }
    char vocab[65], content[65], ml_hex[65];
    if (c->multi_label) {
        tcd_multilabels ml;
        if (tcd_corpus_read_label_sets(c, &ml) != 0) {
            snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
            tcd_h5_free_strings(words, n_words);
            tcd_h5_free_strings(labels, n_labels);
            return -1;
        }
        tcd_sha256 s;
        tcd_sha256_init(&s);
        tcd_sha256_le(&s, ml.off, ml.n_docs + 1, sizeof(int64_t));
        tcd_sha256_le(&s, ml.ids, ml.off[ml.n_docs], sizeof(int32_t));
        tcd_sha256_hex(&s, ml_hex);
        tcd_multilabels_free(&ml);
    }
    tcd_corpus_vocab_sha256((const char *const *)words, n_words, vocab);
    tcd_corpus_content_sha256(&c->tok, vocab, (const char *const *)labels, n_labels, hex[0], hex[1], hex[2],
                              c->multi_label ? ml_hex : NULL, content);
    tcd_h5_free_strings(words, n_words);
    tcd_h5_free_strings(labels, n_labels);
    if (strcmp(vocab, c->vocab_sha256) != 0) {
        snprintf(err, errlen, "%s: damaged corpus: the vocabulary's sha256 is %s, the file says %s", c->path, vocab,
                 c->vocab_sha256);
        return -1;
    }
    if (strcmp(content, c->content_sha256) != 0) {
        snprintf(err, errlen, "%s: damaged corpus: the content's sha256 is %s, the file says %s", c->path, content,
                 c->content_sha256);
        return -1;
    }
    return 0;
}
