/* Private to the exchange modules: the state of an exchange and the operations each strategy
 * provides (exchange.c dispatches to them). */
#ifndef TCD_EXCHANGE_IMPL_H
#define TCD_EXCHANGE_IMPL_H

#include "train/exchange.h"

typedef struct {
    void (*load)(tcd_exchange *x, const float *params, const float *m, const float *v);
    void (*reduce)(tcd_exchange *x, const tcd_batch *b, double *stats, int n_stats, int n_threads);
    void (*apply)(tcd_exchange *x, tcd_adam *opt, double lr, int n_threads);
    void (*discard)(tcd_exchange *x, int n_threads);
    void (*close)(tcd_exchange *x);
    int (*begin)(tcd_exchange *x); /* NULL: the model keeps its embedding backward */
} tcd_exchange_ops;

struct tcd_exchange {
    const char *name;
    const tcd_exchange_ops *ops;
    tcd_exchange_opts opts;
    const tcd_dist *d;
    tcd_flat flat;
    int64_t n_params;
    int64_t rows, row_len; /* the row-sparse tensor 0: rows x row_len at offset 0 (0 rows: none) */
    int64_t dense0;        /* first parameter after it */
    int bag;               /* the model can hand over its embedding backward, and opts says how much */
    int64_t bytes;         /* MPI bytes of the last reduce */
    void *impl;            /* the strategy's own state */
};

/* exchange_private.c: one replica per rank, allreduce of the sums (sparse rows, or dense). */
void tcd_exchange_private_open(tcd_exchange *x, int sparse);
/* exchange_shared.c: one copy per node in shared memory. 0, or -1 with the reason in why (the
 * caller falls back to the private exchange or reports it); collective. */
int tcd_exchange_shared_open(tcd_exchange *x, char *why, size_t why_len);

#endif
