/* Fault injection for the tests; see faults.h. */
#include "train/faults.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

int tcd_fault_parse(tcd_fault *f) {
    const char *s = getenv("TCDIST_FAULT");
    memset(f, 0, sizeof *f);
    f->rank = -1;
    if (!s || !*s) return 0;
    if (sscanf(s, "%15[a-z]:%d:%lld", f->kind, &f->rank, &f->step) != 3 ||
        (strcmp(f->kind, "kill") && strcmp(f->kind, "exit") && strcmp(f->kind, "perturb") &&
         strcmp(f->kind, "signal") && strcmp(f->kind, "nan") && strcmp(f->kind, "killwrite"))) {
        tcd_error("TCDIST_FAULT='%s': expected KIND:RANK:STEP with KIND one of kill, exit, perturb, signal, nan, "
                  "killwrite",
                  s);
        return -1;
    }
    if (!strcmp(f->kind, "killwrite")) f->rank = -1; /* checkpoint.c handles it */
    return 0;
}

static int now(const tcd_fault *f, int rank, int64_t step, const char *kind) {
    return f->rank == rank && f->step == step && !strcmp(f->kind, kind);
}

void tcd_fault_before_step(const tcd_fault *f, int rank, int64_t step) {
    if (now(f, rank, step, "kill") || now(f, rank, step, "exit")) {
        tcd_error("fault injection (TCDIST_FAULT): rank %d %s at step %lld", rank,
                  f->kind[0] == 'k' ? "kills itself" : "exits", (long long)step);
        if (f->kind[0] == 'k') kill(getpid(), SIGKILL);
        _exit(5);
    }
    if (now(f, rank, step, "signal")) raise(SIGUSR1);
}

void tcd_fault_after_backward(const tcd_fault *f, int rank, int64_t step, double *loss, tcd_model *m) {
    if (!now(f, rank, step, "nan")) return;
    if (m->deterministic) tcd_die("fault injection nan: not available with --deterministic");
    *loss = NAN;
    for (int i = 0; i < m->n_tensors; i++)
        if (!m->tensors[i].sparse_rows) {
            m->grads[m->tensors[i].offset] = NAN; /* the first dense tensor's gradient */
            return;
        }
}

void tcd_fault_after_update(const tcd_fault *f, int rank, int64_t step, tcd_model *m) {
    if (now(f, rank, step, "perturb")) m->params[0] += 1e-3f;
}
