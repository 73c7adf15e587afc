/* Counting the documents a kind's --max-len truncates (see truncation.h). */
#include "train/truncation.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "io/h5util.h"

int64_t tcd_model_max_len(const tcd_model_kind *k, const void *cfg) {
    const tcd_model_param *p = tcd_model_param_find(k, "max_len");
    if (!p || p->type != TCD_MP_I64) return 0;
    const int64_t v = *(const int64_t *)((const char *)cfg + p->offset);
    return v > 0 ? v : 0;
}

int tcd_corpus_count_longer(const tcd_corpus *c, int64_t limit, int64_t *n, char *err, size_t errlen) {
    enum { BLOCK = 1 << 16 };
    int64_t *off = tcd_malloc(sizeof(int64_t) * (BLOCK + 1));
    int64_t count = 0;
    for (int64_t d0 = 0; d0 < c->n_docs; d0 += BLOCK) {
        const int64_t nd = c->n_docs - d0 < BLOCK ? c->n_docs - d0 : BLOCK;
        if (tcd_corpus_read_offsets(c, d0, nd, off) != 0) {
            snprintf(err, errlen, "%s: %s", c->path, tcd_h5_errmsg());
            free(off);
            return -1;
        }
        for (int64_t i = 0; i < nd; i++) count += off[i + 1] - off[i] > limit;
    }
    free(off);
    *n = count;
    return 0;
}
