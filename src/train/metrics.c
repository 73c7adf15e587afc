/* Phase timers, metrics.jsonl, the progress line and summary.json (see metrics.h). */
#include "train/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const phase_names[TCD_PH_N] = {"data", "forward", "backward", "comm", "optim", "checkpoint"};

struct tcd_metrics {
    tcd_metrics_opts o;
    const tcd_dist *d;
    FILE *f;          /* metrics.jsonl (rank 0) */
    tcd_buf text;     /* everything written to it */
    size_t written;
    double t0, mark, last_print, interval_t0;
    double ph[TCD_PH_N], ph_total[TCD_PH_N]; /* this rank: since the last record, and in all */
    int64_t ph_docs, ph_tokens, bytes_interval, bytes_total;
    double interval_loss;
    int64_t interval_docs, interval_tokens, samples_total, steps_done;
    double *ph_all; /* rank 0: [world x (TCD_PH_N + 3)] */
    double stopped; /* tcd_metrics_stop_clock: the training time, frozen (0: still running) */
};

static void mlog(tcd_metrics *mt, const char *fmt, ...) TCD_PRINTF(2, 3);
static void mlog(tcd_metrics *mt, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[1024];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        tcd_buf_append(&mt->text, small, (size_t)n);
    } else {
        char *big = tcd_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tcd_buf_append(&mt->text, big, (size_t)n);
        free(big);
    }
}

/* Writes what mlog gathered since the last flush to metrics.jsonl. */
static void mflush(tcd_metrics *mt) {
    if (mt->f && mt->text.len > mt->written) {
        fwrite(mt->text.data + mt->written, 1, mt->text.len - mt->written, mt->f);
        fflush(mt->f);
        mt->written = mt->text.len;
    }
}

tcd_metrics *tcd_metrics_open(const tcd_metrics_opts *o, const tcd_dist *d, char *err, size_t errlen) {
    tcd_metrics *mt = tcd_calloc(1, sizeof *mt);
    mt->o = *o;
    mt->d = d;
    mt->t0 = mt->mark = mt->last_print = mt->interval_t0 = tcd_now();
    tcd_buf_reserve(&mt->text, 1);
    mt->text.data[0] = 0;
    if (d->rank == 0) {
        char *path = tcd_sprintf("%s/metrics.jsonl", o->run_dir);
        mt->f = fopen(path, "w");
        if (!mt->f) snprintf(err, errlen, "%s: cannot write (%s)", path, strerror(errno));
        free(path);
        if (!mt->f) {
            tcd_metrics_close(mt);
            return NULL;
        }
        /* the records up to the checkpoint, not those of the lost steps after it */
        if (o->resumed_text) tcd_buf_append(&mt->text, o->resumed_text, strlen(o->resumed_text));
        mflush(mt);
        mt->ph_all = tcd_malloc(sizeof(double) * (size_t)d->world * (TCD_PH_N + 3));
    }
    return mt;
}

void tcd_metrics_close(tcd_metrics *mt) {
    if (!mt) return;
    mflush(mt);
    if (mt->f) fclose(mt->f);
    tcd_buf_free(&mt->text);
    free(mt->ph_all);
    free(mt);
}

void tcd_metrics_mark(tcd_metrics *mt) { mt->mark = tcd_now(); }

void tcd_metrics_phase(tcd_metrics *mt, int phase) {
    const double now = tcd_now();
    mt->ph[phase] += now - mt->mark;
    mt->mark = now;
}

void tcd_metrics_add_total(tcd_metrics *mt, int phase, double seconds) { mt->ph_total[phase] += seconds; }

void tcd_metrics_step(tcd_metrics *mt, double loss_sum, int64_t n_global, int64_t tokens_global, int64_t docs_local,
                      int64_t tokens_local, int64_t bytes) {
    mt->ph_docs += docs_local;
    mt->ph_tokens += tokens_local;
    mt->bytes_interval += bytes;
    mt->bytes_total += bytes;
    mt->interval_loss += loss_sum;
    mt->interval_docs += n_global;
    mt->samples_total += n_global;
    mt->interval_tokens += tokens_global;
    mt->steps_done++;
}

static double per_s(double x, double secs) { return x / (secs > 1e-9 ? secs : 1e-9); }

void tcd_metrics_log(tcd_metrics *mt, int64_t step_done, int64_t epoch, double lr, int last) {
    const int64_t every = mt->o.log_every;
    if (step_done % every != 0 && !last) return;
    /* per-rank phase times, to see a straggler: gathered on rank 0 */
    double mine[TCD_PH_N + 3];
    for (int k = 0; k < TCD_PH_N; k++) mine[k] = mt->ph[k];
    mine[TCD_PH_N] = (double)mt->ph_docs;
    mine[TCD_PH_N + 1] = (double)mt->ph_tokens;
    mine[TCD_PH_N + 2] = (double)mt->bytes_interval;
    tcd_dist_gather_f64(mt->d, mine, TCD_PH_N + 3, mt->ph_all);
    for (int k = 0; k < TCD_PH_N; k++) {
        mt->ph_total[k] += mt->ph[k];
        mt->ph[k] = 0;
    }
    mt->ph_docs = mt->ph_tokens = 0;
    if (mt->d->rank == 0) {
        const double now = tcd_now(), secs = now - mt->interval_t0;
        const int64_t steps_in = step_done % every ? step_done % every : every;
        mlog(mt,
             "{\"type\": \"train\", \"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"lr\": %.9g, "
             "\"tokens_per_s\": %.1f, \"samples_per_s\": %.1f, \"elapsed_s\": %.3f, \"comm_bytes_per_step\": %.0f}\n",
             (long long)step_done, (long long)epoch, mt->interval_loss / (double)mt->interval_docs, lr,
             per_s((double)mt->interval_tokens, secs), per_s((double)mt->interval_docs, secs),
             tcd_metrics_elapsed(mt), (double)mt->bytes_interval / (double)steps_in);
        mlog(mt, "{\"type\": \"ranks\", \"step\": %lld, \"ranks\": [", (long long)step_done);
        for (int r = 0; r < mt->d->world; r++) {
            const double *v = mt->ph_all + (size_t)r * (TCD_PH_N + 3);
            mlog(mt, "%s{\"rank\": %d", r ? ", " : "", r);
            for (int k = 0; k < TCD_PH_N; k++) mlog(mt, ", \"%s_s\": %.6f", phase_names[k], v[k]);
            mlog(mt, ", \"docs\": %.0f, \"tokens\": %.0f, \"comm_bytes\": %.0f}", v[TCD_PH_N], v[TCD_PH_N + 1],
                 v[TCD_PH_N + 2]);
        }
        mlog(mt, "]}\n");
        mflush(mt);
        mt->interval_t0 = now;
    }
    mt->interval_loss = 0;
    mt->interval_docs = mt->interval_tokens = mt->bytes_interval = 0;
}

static void fmt_duration(char *out, size_t n, double s) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_rate(char *out, size_t n, double r) {
    if (r >= 1e6)
        snprintf(out, n, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(out, n, "%.1fk", r / 1e3);
    else
        snprintf(out, n, "%.0f", r);
}

void tcd_metrics_progress(tcd_metrics *mt, int64_t epoch, int64_t step_done, double epoch_loss_mean,
                          int64_t tokens_total, int last) {
    if (mt->o.quiet || mt->d->rank != 0) return;
    const double now = tcd_now();
    const int tty = mt->o.tty;
    if (!((tty && now - mt->last_print >= 0.2) || (!tty && now - mt->last_print >= mt->o.progress_secs) ||
          (tty && last)))
        return;
    /* this process's own work: after a resume the counters also hold earlier runs' */
    const double rate = (double)(tokens_total - mt->o.tokens0) / (now - mt->t0);
    const double eta =
        (now - mt->t0) / (double)(step_done - mt->o.step0) * (double)(mt->o.total_steps - step_done);
    char r[32], e[32];
    fmt_rate(r, sizeof r, rate);
    fmt_duration(e, sizeof e, eta);
    if (tty)
        printf("\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  %s tok/s  ETA %s", (long long)epoch + 1,
               (long long)mt->o.epochs, (long long)step_done, (long long)mt->o.total_steps, epoch_loss_mean, r, e);
    else
        printf("epoch %lld/%lld step %lld/%lld loss %.4f %s tok/s ETA %s\n", (long long)epoch + 1,
               (long long)mt->o.epochs, (long long)step_done, (long long)mt->o.total_steps, epoch_loss_mean, r, e);
    fflush(stdout);
    mt->last_print = now;
}

void tcd_metrics_progress_end(tcd_metrics *mt) {
    if (!mt->o.quiet && mt->d->rank == 0 && mt->o.tty) printf("\n");
}

void tcd_metrics_valid(tcd_metrics *mt, int64_t step, int64_t epoch, double loss, double acc, int64_t n_docs,
                       int64_t correct) {
    if (mt->d->rank != 0) return;
    mlog(mt,
         "{\"type\": \"valid\", \"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"accuracy\": %.6f, \"n_docs\": %lld, "
         "\"correct\": %lld, \"elapsed_s\": %.3f}\n",
         (long long)step, (long long)epoch, loss, acc, (long long)n_docs, (long long)correct,
         tcd_metrics_elapsed(mt));
    mflush(mt);
}

const char *tcd_metrics_text(tcd_metrics *mt) {
    mflush(mt);
    return mt->text.data;
}

double tcd_metrics_elapsed(const tcd_metrics *mt) {
    return mt->stopped > 0 ? mt->stopped : mt->o.elapsed0 + tcd_now() - mt->t0;
}

void tcd_metrics_stop_clock(tcd_metrics *mt) { mt->stopped = mt->o.elapsed0 + tcd_now() - mt->t0; }

char *tcd_metrics_summary(tcd_metrics *mt, const tcd_run_summary *s) {
    const double train_seconds = tcd_metrics_elapsed(mt), own = train_seconds - mt->o.elapsed0;
    tcd_buf b = {0};
    tcd_buf_printf(&b,
                   "{\"steps\": %lld, \"epochs\": %lld, \"train_seconds\": %.3f, \"tokens\": %lld, \"tokens_per_s\": "
                   "%.1f, ",
                   (long long)s->steps, (long long)s->epochs, train_seconds, (long long)s->tokens_total,
                   per_s((double)s->tokens_total, train_seconds));
    if (isfinite(s->final_loss))
        tcd_buf_printf(&b, "\"final_loss\": %.6f, ", s->final_loss);
    else
        tcd_buf_printf(&b, "\"final_loss\": null, ");
    if (s->have_valid)
        tcd_buf_printf(&b, "\"valid_accuracy\": %.6f, \"valid_loss\": %.6f, ", s->valid_acc, s->valid_loss);
    else
        tcd_buf_printf(&b, "\"valid_accuracy\": null, ");
    if (s->early_stop)
        tcd_buf_printf(&b, "\"best_step\": %lld, \"best_%s\": %.6f, \"stopped_early\": %s, ", (long long)s->best_step,
                       s->valid_metric, s->best_metric, s->stopped_early ? "true" : "false");
    tcd_buf_printf(&b, "\"samples_per_s\": %.1f, \"comm_bytes_per_step\": %.0f, \"phase_seconds\": {",
                   per_s((double)mt->samples_total, own),
                   s->steps ? (double)mt->bytes_total / (double)s->steps : 0.0);
    for (int k = 0; k < TCD_PH_N; k++)
        tcd_buf_printf(&b, "%s\"%s\": %.4f", k ? ", " : "", phase_names[k], mt->ph_total[k]);
    tcd_buf_printf(&b, "}, \"params_sha256\": \"%s\", \"world\": %d, \"threads\": %d, \"model\": \"model.h5\"}\n",
                   s->params_sha256, s->world, s->threads);
    return b.data;
}

void tcd_metrics_print_phases(const tcd_metrics *mt, int64_t tokens_total) {
    if (mt->o.quiet || mt->d->rank != 0) return;
    const double train_seconds = tcd_metrics_elapsed(mt), own = train_seconds - mt->o.elapsed0;
    const double *p = mt->ph_total;
    tcd_info("time per phase (rank 0): data %.3f s, forward %.3f s, backward %.3f s, communication %.3f s, "
             "optimizer %.3f s, checkpoints %.3f s; %.0f samples/s, %.2fM tokens/s overall",
             p[TCD_PH_DATA], p[TCD_PH_FORWARD], p[TCD_PH_BACKWARD], p[TCD_PH_COMM], p[TCD_PH_OPTIM], p[TCD_PH_CKPT],
             per_s((double)mt->samples_total, own), (double)tokens_total / train_seconds / 1e6);
}
