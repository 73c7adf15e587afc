/* Choosing the exchange, and the calls every strategy answers (see exchange.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "train/exchange_impl.h"

tcd_exchange *tcd_exchange_open(const tcd_exchange_opts *o, const tcd_dist *d, const tcd_model *layout,
                                tcd_flat *flat, char *err, size_t errlen) {
    tcd_exchange *x = tcd_calloc(1, sizeof *x);
    x->opts = *o;
    x->d = d;
    x->n_params = layout->n_params;
    const tcd_tensor *t0 = layout->n_tensors ? &layout->tensors[0] : NULL;
    if (t0 && t0->sparse_rows) {
        x->rows = t0->rows;
        x->row_len = t0->cols;
    }
    x->dense0 = x->rows * x->row_len;

    const int want_shared = !strcmp(o->kind, "shared"), is_auto = !strcmp(o->kind, "auto");
    int shared = 0;
    /* one rank: nothing is exchanged (the private path, under the name asked for) */
    if (d->world > 1 && (want_shared || (is_auto && !o->lazy_adam && !o->replicas))) {
        char why[256];
        if (tcd_exchange_shared_open(x, why, sizeof why) == 0)
            shared = 1;
        else if (want_shared) {
            snprintf(err, errlen, "--exchange shared: %s", why);
            free(x);
            return NULL;
        } else if (d->rank == 0 && !o->quiet)
            tcd_info("exchange: sparse, since shared memory is not available: %s", why);
    }
    if (!shared) tcd_exchange_private_open(x, strcmp(o->kind, "dense") != 0);
    if (d->world == 1 && want_shared) x->name = "shared";
    *flat = x->flat;
    return x;
}

const char *tcd_exchange_name(const tcd_exchange *x) { return x->name; }

void tcd_exchange_load(tcd_exchange *x, const float *params, const float *m, const float *v) {
    x->ops->load(x, params, m, v);
}

void tcd_exchange_reduce(tcd_exchange *x, const tcd_batch *b, double *stats, int n_stats, int n_threads) {
    x->ops->reduce(x, b, stats, n_stats, n_threads);
}

void tcd_exchange_apply(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads) {
    x->ops->apply(x, opt, lr, n_threads);
}

void tcd_exchange_discard(tcd_exchange *x, int n_threads) { x->ops->discard(x, n_threads); }

int64_t tcd_exchange_bytes(const tcd_exchange *x) { return x->bytes; }

void tcd_exchange_close(tcd_exchange *x) {
    if (!x) return;
    x->ops->close(x);
    free(x);
}
