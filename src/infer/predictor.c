/* Text -> ids -> probabilities; see predictor.h. */
#include "infer/predictor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct tcd_predictor {
    tcd_model_file mf;
    tcd_vocab *vocab;
};

tcd_predictor *tcd_predictor_open(const char *path, char *err, size_t errlen) {
    tcd_predictor *p = tcd_calloc(1, sizeof *p);
    if (tcd_model_load(&p->mf, path, err, errlen) != 0) {
        free(p->mf.path);
        free(p);
        return NULL;
    }
    int64_t dup = -1;
    p->vocab = tcd_vocab_from_words_checked(p->mf.vocab, NULL, p->mf.vocab_size, &dup);
    if (!p->vocab) {
        snprintf(err, errlen, "%s: damaged model: the word '%.200s' appears twice in /vocab/words (id %lld)", p->mf.path,
                 dup >= 0 ? p->mf.vocab[dup] : "?", (long long)dup);
        tcd_model_file_free(&p->mf);
        free(p);
        return NULL;
    }
    /* a document's probabilities must not depend on the documents batched with it (predict's
     * batches of 512, the server's coalesced requests): the row-invariant dense layers */
    tcd_model_set_deterministic(&p->mf.model, 1);
    return p;
}

void tcd_predictor_free(tcd_predictor *p) {
    if (!p) return;
    tcd_vocab_free(p->vocab);
    tcd_model_file_free(&p->mf);
    free(p);
}

const tcd_model_file *tcd_predictor_file(const tcd_predictor *p) { return &p->mf; }

int64_t tcd_predictor_n_classes(const tcd_predictor *p) { return p->mf.n_classes; }

tcd_model *tcd_predictor_model(tcd_predictor *p) { return &p->mf.model; }

void tcd_encoder_free(tcd_encoder *e) {
    tcd_tokens_free(&e->tk);
    free(e->ids);
    memset(e, 0, sizeof *e);
}

int64_t tcd_predictor_encode(const tcd_predictor *p, tcd_encoder *e, const char *text, size_t n,
                             const int32_t **ids, const char **why) {
    const tcd_tok_opts *o = &p->mf.tok;
    if (tcd_tokenize(o, text, n, &e->tk, why) != 0) {
        if (!*why) *why = "invalid text";
        return -1;
    }
    if (e->tk.n_words == 0) {
        *why = "empty text (no tokens)";
        return -1;
    }
    const int64_t n_ng = tcd_n_ngram_ids(o, e->tk.n_words), need = e->tk.n_words + n_ng;
    if (need > e->cap) {
        e->cap = need * 2;
        e->ids = tcd_realloc(e->ids, sizeof(int32_t) * (size_t)e->cap);
    }
    for (int64_t w = 0; w < e->tk.n_words; w++) {
        int32_t id = tcd_vocab_find(p->vocab, e->tk.bytes + e->tk.start[w], e->tk.len[w], e->tk.hash[w]);
        e->ids[w] = id < 0 ? TCD_UNK_ID : id;
    }
    if (n_ng) tcd_ngram_ids(o, e->tk.hash, e->tk.n_words, p->mf.vocab_size, e->ids + e->tk.n_words);
    *ids = e->ids;
    return need;
}

void tcd_predictor_forward(tcd_predictor *p, const tcd_batch *b, float *probs, int n_threads) {
    if (b->n > 0) tcd_model_forward(&p->mf.model, b, probs, n_threads);
}

void tcd_top_k(const float *probs, int64_t C, int64_t k, int64_t *order) {
    /* one pass keeping the k best, sorted; a class replaces a kept one only when strictly more
     * probable, so ties go to the lower id (seen first) */
    if (k > C) k = C;
    int64_t n = 0;
    for (int64_t c = 0; c < C; c++) {
        if (n == k && !(probs[c] > probs[order[n - 1]])) continue;
        int64_t i = n < k ? n++ : n - 1;
        while (i > 0 && probs[c] > probs[order[i - 1]]) {
            order[i] = order[i - 1];
            i--;
        }
        order[i] = c;
    }
}

int64_t tcd_select_labels(const float *probs, int64_t C, double threshold, int64_t max_k, int64_t *order) {
    if (max_k > C) max_k = C;
    if (max_k < 1) return 0;
    tcd_top_k(probs, C, max_k, order);
    int64_t n = 0;
    while (n < max_k && (double)probs[order[n]] >= threshold) n++;
    return n;
}
