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
    x->bag = x->rows > 0 && o->bag_docs > 0 && o->bag_tokens >= 0 && tcd_model_has_bag(layout);

    /* shared: one node; hier: several (the shared exchange inside each node, plus the exchange of
     * each slice between nodes); both need one copy of the model per node, which --lazy-adam,
     * --clip-norm and --check-replicas do not allow (auto picks sparse for them) */
    const int want_shared = !strcmp(o->kind, "shared"), want_hier = !strcmp(o->kind, "hier");
    const int is_auto = !strcmp(o->kind, "auto");
    int shared = 0;
    if (want_shared && d->n_nodes > 1) {
        snprintf(err, errlen, "--exchange shared: the ranks run on %d nodes; use --exchange hier (or auto)", d->n_nodes);
        free(x);
        return NULL;
    }
    /* one rank: nothing is exchanged (the private path, under the name asked for) */
    if (d->world > 1 && (want_shared || want_hier || (is_auto && !o->lazy_adam && !o->replicas))) {
        char why[256];
        if (tcd_exchange_shared_open(x, why, sizeof why) == 0)
            shared = 1;
        else if (!is_auto) {
            snprintf(err, errlen, "--exchange %s: %s", o->kind, why);
            free(x);
            return NULL;
        } else if (d->rank == 0 && !o->quiet)
            tcd_info("exchange: sparse, since %s is not available: %s", d->n_nodes > 1 ? "hier" : "shared memory",
                     why);
    }
    if (!shared) tcd_exchange_private_open(x, strcmp(o->kind, "dense") != 0);
    if (d->world == 1 && (want_shared || want_hier)) x->name = o->kind;
    *flat = x->flat;
    return x;
}

const char *tcd_exchange_name(const tcd_exchange *x) { return x->name; }

void tcd_exchange_load(tcd_exchange *x, const float *params, const float *m, const float *v) {
    x->ops->load(x, params, m, v);
}

int tcd_exchange_begin_step(tcd_exchange *x) { return x->ops->begin ? x->ops->begin(x) : 0; }

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
