/* Fault injection for the tests, from the environment: TCDIST_FAULT="KIND:RANK:STEP".
 *   kill:R:S     rank R kills itself (SIGKILL) before step S
 *   exit:R:S     rank R exits with status 5 without finalising MPI
 *   signal:R:S   rank R sends itself SIGUSR1 before step S (a stop request)
 *   nan:R:S      rank R's loss and gradients become NaN at step S
 *   perturb:R:S  rank R nudges one of its parameters after the update of step S
 *   killwrite:0:N  the checkpoint writer kills itself halfway through its N-th write (io/checkpoint.c) */
#ifndef TCD_FAULTS_H
#define TCD_FAULTS_H

#include <stdint.h>

#include "models/model.h"

typedef struct {
    char kind[16];
    int rank; /* -1: none for this module */
    long long step;
} tcd_fault;

/* 0, or -1 with a message printed (a malformed TCDIST_FAULT). */
int tcd_fault_parse(tcd_fault *f);
void tcd_fault_before_step(const tcd_fault *f, int rank, int64_t step);
/* loss and the model's first dense gradient become NaN. */
void tcd_fault_after_backward(const tcd_fault *f, int rank, int64_t step, double *loss, tcd_model *m);
void tcd_fault_after_update(const tcd_fault *f, int rank, int64_t step, tcd_model *m);

#endif
