/* `tcdist tune`; see tune.h. */
#include "train/tune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "io/corpus.h"
#include "tcdist.h"
#include "train/setup.h"
#include "train/trainer.h"

/* A trial's state; the numbers travel between the groups as doubles (R_*). */
enum { TS_NONE, TS_DONE, TS_EARLY, TS_BUDGET, TS_FAILED, TS_STOPPED };
static const char *STATUS[] = {"not_run", "done", "early_stopped", "budget", "failed", "stopped"};
enum { R_STATUS, R_METRIC, R_STEPS, R_EPOCHS, R_SECONDS, R_WALL, R_N };

typedef struct {
    int64_t point, rung, max_epochs;
    char id[32];
    int status;
    double metric, seconds, wall; /* seconds: the trainer's; wall: the whole trial's (setup, writes) */
    int64_t steps, epochs;
    int journaled; /* taken from DIR/trials.jsonl */
    char *config;  /* the point's JSON */
} trial;

typedef struct {
    const tcd_tune_config *c;
    const tcd_dist *world;
    tcd_dist grp;
    int group, n_groups, lower;
    double start, deadline;
    char *journal; /* DIR/trials.jsonl's complete lines, on every rank */
    char *brackets; /* DIR/brackets.jsonl's complete lines (a budget-driven tune), on every rank */
    trial *t;
    int n, cap;
} tuner;

/* ---- the journal ---- */

/* The journal's record of trial `id`, into *t: 1 when there is one. */
static int journal_find(const tuner *u, trial *t) {
    if (!u->journal) return 0;
    char key[64];
    snprintf(key, sizeof key, "{\"id\": \"%s\", ", t->id);
    for (const char *line = u->journal; line && *line;) {
        const char *end = strchr(line, '\n');
        if (!strncmp(line, key, strlen(key))) {
            char *rec = tcd_strndup(line, end ? (size_t)(end - line) : strlen(line));
            const char *st = strstr(rec, "\"status\": \"");
            t->status = TS_FAILED;
            for (int s = TS_DONE; st && s <= TS_FAILED; s++)
                if (!strncmp(st + 11, STATUS[s], strlen(STATUS[s])) && st[11 + strlen(STATUS[s])] == '"') t->status = s;
            t->metric = tcd_json_number(rec, "metric");
            t->steps = (int64_t)tcd_json_number(rec, "steps");
            t->epochs = (int64_t)tcd_json_number(rec, "epochs");
            t->seconds = tcd_json_number(rec, "seconds");
            t->wall = tcd_json_number(rec, "wall");
            if (!isfinite(t->wall)) t->wall = t->seconds;
            t->journaled = 1;
            free(rec);
            return 1;
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

/* Appends trial t's record to DIR/trials.jsonl in one write, then fsyncs it. */
static void journal_append(const tuner *u, const trial *t) {
    tcd_buf b = {0};
    tcd_buf_printf(&b, "{\"id\": \"%s\", \"point\": %lld, \"rung\": %lld, \"config\": %s, ", t->id, (long long)t->point,
                   (long long)t->rung, t->config);
    if (isfinite(t->metric))
        tcd_buf_printf(&b, "\"metric\": %.17g, ", t->metric);
    else
        tcd_buf_printf(&b, "\"metric\": null, ");
    tcd_buf_printf(&b, "\"valid_metric\": \"%s\", \"steps\": %lld, \"epochs\": %lld, \"max_epochs\": %lld, "
                       "\"seconds\": %.3f, \"wall\": %.3f, \"status\": \"%s\"}\n",
                   u->c->metric, (long long)t->steps, (long long)t->epochs, (long long)t->max_epochs, t->seconds,
                   t->wall, STATUS[t->status]);
    char *path = tcd_sprintf("%s/trials.jsonl", u->c->run_dir);
    const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) != 0)
        tcd_die("%s: cannot append trial %s (%s)", path, t->id, strerror(errno));
    close(fd);
    free(path);
    tcd_buf_free(&b);
}

/* ---- setup (world rank 0) ---- */

/* The settings a resumed tune must share with the first run (DIR/tune.json). */
static char *settings_json(const tcd_tune_config *c) {
    tcd_buf b = {0};
    tcd_buf_printf(&b, "{\"data\": ");
    tcd_buf_json_string(&b, c->data, strlen(c->data));
    tcd_buf_printf(&b, ", \"valid\": ");
    if (c->valid)
        tcd_buf_json_string(&b, c->valid, strlen(c->valid));
    else
        tcd_buf_printf(&b, "null");
    char *space = tcd_space_text(c->space);
    tcd_buf_printf(&b, ", \"valid_split\": %.9g, \"seed\": %lld, \"trials\": ", c->valid_split, (long long)c->seed);
    /* a budget-driven count is no setting: "budget" (any --budget may continue it, not --trials N) */
    if (c->trials > 0)
        tcd_buf_printf(&b, "%lld", (long long)c->trials);
    else
        tcd_buf_printf(&b, "\"budget\"");
    tcd_buf_printf(&b, ", \"eta\": %lld, \"min_epochs\": %lld, \"max_epochs\": %lld, \"patience\": %lld, "
                       "\"metric\": \"%s\", \"deterministic\": %s, \"space\": ",
                   (long long)c->eta, (long long)c->min_epochs, (long long)c->max_epochs, (long long)c->patience,
                   c->metric, c->deterministic ? "true" : "false");
    tcd_buf_json_string(&b, space, strlen(space));
    tcd_buf_printf(&b, ", \"version\": \"%s\"}\n", TCDIST_VERSION);
    free(space);
    return b.data;
}

/* DIR/NAME's complete lines (NULL: no file), its torn last line (a kill in the middle of a write)
 * dropped from the file too. 0, or -1 (printed). */
static int read_lines(const char *dir, const char *name, char **text) {
    char *path = tcd_sprintf("%s/%s", dir, name);
    size_t len = 0;
    int rc = 0;
    *text = tcd_file_exists(path) ? tcd_read_file(path, &len) : NULL;
    if (*text && len > 0 && (*text)[len - 1] != '\n') {
        char *nl = strrchr(*text, '\n');
        len = nl ? (size_t)(nl - *text) + 1 : 0;
        (*text)[len] = 0;
        if (truncate(path, (off_t)len) != 0) {
            tcd_error("%s: cannot drop its torn last line (%s)", path, strerror(errno));
            rc = -1;
        }
    }
    free(path);
    return rc;
}

/* Makes DIR and DIR/trials, checks or writes DIR/tune.json, and reads the journal and the brackets
 * (dropping a torn last line). 0, or -1 (printed). */
static int prepare_dir(const tcd_tune_config *c, char **journal, char **brackets) {
    char err[1024];
    char *trials = tcd_sprintf("%s/trials", c->run_dir);
    if (tcd_mkdir_p(trials) != 0) {
        tcd_error("--run-dir %s: cannot create %s (%s)", c->run_dir, trials, strerror(errno));
        free(trials);
        return -1;
    }
    free(trials);
    char *want = settings_json(c), *path = tcd_sprintf("%s/tune.json", c->run_dir);
    char *have = tcd_file_exists(path) ? tcd_read_file(path, NULL) : NULL;
    int rc = 0;
    if (have && strcmp(have, want) != 0) {
        tcd_error("--run-dir %s was tuned with other settings (%s differs from this command's: data, valid, "
                  "seed, trials (a number, or none with --budget), eta, epochs, patience, metric, deterministic or "
                  "the space); use another --run-dir, or the same settings to continue it",
                  c->run_dir, path);
        rc = -1;
    } else if (!have && tcd_write_text_atomic(path, want, err, sizeof err) != 0) {
        tcd_error("%s", err);
        rc = -1;
    }
    free(have);
    free(want);
    free(path);
    if (rc != 0) return rc;
    if (read_lines(c->run_dir, "trials.jsonl", journal) != 0) return -1;
    return read_lines(c->run_dir, "brackets.jsonl", brackets);
}

/* Ranks per trial: --ranks-per-trial, or one rank per 200000 training documents. */
static int ranks_per_trial(const tcd_tune_config *c, const tcd_dist *d) {
    int64_t r = c->ranks_per_trial;
    if (r <= 0) {
        int64_t n_docs = 0;
        if (d->rank == 0) {
            tcd_corpus corpus;
            char err[1024];
            if (tcd_corpus_open(&corpus, c->data, err, sizeof err) != 0) tcd_die("--data: %s", err);
            n_docs = corpus.n_docs;
            tcd_corpus_close(&corpus);
        }
        tcd_dist_bcast(d, &n_docs, sizeof n_docs);
        r = n_docs / 200000;
    }
    return (int)(r < 1 ? 1 : r > d->world ? d->world : r);
}

/* ---- one trial (on the ranks of the group) ---- */

static void run_trial(tuner *u, trial *t) {
    const tcd_tune_config *c = u->c;
    const double t0 = tcd_now();
    tcd_train_config tc;
    tcd_train_config_default(&tc);
    tcd_space_point p = {.lr = tc.lr, .batch = tc.batch, .weight_decay = tc.weight_decay, .emb_lr = tc.emb_lr};
    char err[1024];
    const int bad_point = tcd_space_point_at(c->space, (uint64_t)c->seed, t->point, &p, err, sizeof err) != 0;
    t->config = tcd_strdup(p.json);
    char *dir = tcd_sprintf("%s/trials/%s", c->run_dir, t->id), *model = tcd_sprintf("%s/model.h5", dir);
    t->status = TS_FAILED;
    t->metric = NAN;
    if (bad_point) {
        if (u->grp.rank == 0) tcd_warn("trial %s: %s: skipped", t->id, err);
    } else {
        tc.data = c->data;
        tc.valid = c->valid;
        tc.valid_split = c->valid_split;
        tc.run_dir = dir;
        tc.kind = p.kind;
        tc.model_cfg = p.model_cfg;
        tc.lr = p.lr;
        tc.batch = p.batch;
        tc.weight_decay = p.weight_decay;
        tc.emb_lr = p.emb_lr;
        tc.epochs = t->max_epochs;
        tc.early_stop = c->patience;
        tc.valid_metric = c->metric;
        tc.seed = c->seed;
        tc.threads = c->threads;
        tc.deterministic = c->deterministic;
        tc.quiet = tc.skip_nonfinite = 1;
        tc.keep = 1;
        tc.deadline = u->deadline;
        /* finished, but killed before its record: train it again */
        tc.overwrite = tcd_file_exists(model);
        tcd_train_result res;
        const int rc = tcd_train_run_result(&tc, &u->grp, &res);
        t->steps = res.steps;
        t->epochs = res.epochs;
        t->seconds = res.seconds;
        t->metric = res.best_metric;
        t->status = res.late                          ? TS_BUDGET
                    : rc == TCD_EXIT_INTERRUPTED      ? TS_STOPPED
                    : rc != TCD_EXIT_OK               ? TS_FAILED
                    : !isfinite(t->metric) ? TS_FAILED
                    : res.stopped_early    ? TS_EARLY
                                           : TS_DONE;
    }
    t->wall = tcd_now() - t0;
    if (u->grp.rank == 0 && t->status != TS_BUDGET && t->status != TS_STOPPED) journal_append(u, t);
    if (u->grp.rank == 0 && !c->quiet) {
        printf("trial %-8s group %d: %s %.4f, %s after %lld epochs (%lld steps, %.1f s) %s\n", t->id, u->group,
               c->metric, t->metric, STATUS[t->status], (long long)t->epochs, (long long)t->steps, t->seconds,
               t->config);
        fflush(stdout);
    }
    tcd_space_point_free(&p);
    free(model);
    free(dir);
}

/* ---- the schedule ---- */

static trial *add_trial(tuner *u, int64_t point, int64_t rung, int64_t max_epochs) {
    if (u->n == u->cap) {
        u->cap = u->cap ? 2 * u->cap : 64;
        u->t = tcd_realloc(u->t, sizeof(trial) * (size_t)u->cap);
    }
    trial *t = &u->t[u->n++];
    memset(t, 0, sizeof *t);
    t->point = point;
    t->rung = rung;
    t->max_epochs = max_epochs;
    t->metric = NAN;
    snprintf(t->id, sizeof t->id, "c%03lld-r%lld", (long long)point, (long long)rung);
    return t;
}

/* Is a better than b? Finished trials first, then the metric, then more epochs, then the lower point. */
static int better(const tuner *u, const trial *a, const trial *b) {
    const int fa = a->status == TS_DONE || a->status == TS_EARLY, fb = b->status == TS_DONE || b->status == TS_EARLY;
    if (fa != fb) return fa;
    if (fa && a->metric != b->metric) return u->lower ? a->metric < b->metric : a->metric > b->metric;
    if (a->max_epochs != b->max_epochs) return a->max_epochs > b->max_epochs;
    return a->point < b->point;
}

/* The order of trials[lo, hi), best first (insertion sort: a few hundred at most), into idx. */
static void rank_trials(const tuner *u, int lo, int hi, int *idx) {
    for (int i = lo; i < hi; i++) {
        int j = i - lo;
        while (j > 0 && better(u, &u->t[i], &u->t[idx[j - 1]])) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

/* Trains the trials [lo, hi) of one rung: round-robin over the groups, then every rank learns every
 * result. Returns 1 when the budget cut the rung short. */
static int run_rung(tuner *u, int lo, int hi) {
    const int n = hi - lo;
    double *r = tcd_calloc((size_t)n * R_N, sizeof(double));
    for (int i = lo; i < hi; i++) {
        trial *t = &u->t[i];
        if (journal_find(u, t) || (i - lo) % u->n_groups != u->group) continue;
        const int late =
            tcd_dist_agree(&u->grp, (u->deadline > 0 && tcd_now() >= u->deadline) || tcd_train_stop_requested());
        if (late)
            t->status = TS_NONE; /* not started: the budget is spent */
        else
            run_trial(u, t);
        if (u->grp.rank != 0) continue;
        double *ri = r + (size_t)(i - lo) * R_N;
        ri[R_STATUS] = t->status;
        ri[R_METRIC] = t->metric;
        ri[R_STEPS] = (double)t->steps;
        ri[R_EPOCHS] = (double)t->epochs;
        ri[R_SECONDS] = t->seconds;
        ri[R_WALL] = t->wall;
    }
    tcd_dist_sum_f64(u->world, r, (int64_t)n * R_N);
    int cut = 0;
    for (int i = lo; i < hi; i++) {
        trial *t = &u->t[i];
        if (!t->journaled) {
            const double *ri = r + (size_t)(i - lo) * R_N;
            t->status = (int)ri[R_STATUS];
            t->metric = ri[R_METRIC];
            t->steps = (int64_t)ri[R_STEPS];
            t->epochs = (int64_t)ri[R_EPOCHS];
            t->seconds = ri[R_SECONDS];
            t->wall = ri[R_WALL];
        }
        cut |= t->status == TS_BUDGET || t->status == TS_NONE || t->status == TS_STOPPED;
    }
    free(r);
    return cut;
}

/* The epochs of the rung after one of e epochs. */
static int64_t next_epochs(const tcd_tune_config *c, int64_t e) {
    return e * c->eta < c->max_epochs ? e * c->eta : c->max_epochs;
}

/* Rungs 1, 2, ... of a bracket whose rung 0 (n points, trials [lo, hi)) has run: rung k+1 trains
 * the best n/eta^(k+1) (at least one) of rung k for eta times its epochs, up to max_epochs.
 * Returns 1 when the budget or a stop signal cut a rung short. */
static int halve(tuner *u, int lo, int hi, int64_t n) {
    const tcd_tune_config *c = u->c;
    for (int64_t rung = 0, epochs = c->min_epochs; epochs < c->max_epochs; rung++) {
        n /= c->eta;
        if (n < 1) n = 1;
        epochs = next_epochs(c, epochs);
        int *idx = tcd_malloc(sizeof(int) * (size_t)(hi - lo));
        rank_trials(u, lo, hi, idx);
        int64_t promoted = 0;
        for (int j = 0; j < hi - lo && promoted < n; j++) {
            const trial *t = &u->t[idx[j]];
            if (t->status != TS_DONE && t->status != TS_EARLY) break;
            add_trial(u, t->point, rung + 1, epochs);
            promoted++;
        }
        free(idx);
        if (promoted == 0) return 0;
        lo = hi;
        hi = u->n;
        if (run_rung(u, lo, hi)) return 1;
    }
    return 0;
}

/* --trials N: one bracket of N points. */
static void run_fixed(tuner *u) {
    for (int64_t p = 0; p < u->c->trials; p++) add_trial(u, p, 0, u->c->min_epochs);
    if (!run_rung(u, 0, u->n)) halve(u, 0, u->n, u->c->trials);
}

/* ---- the budget-driven schedule (--budget without --trials) ---- */

/* The rungs of a bracket are planned to end by this fraction of the budget (the estimate of their
 * cost is rough); a new bracket uses what is left. */
#define PLAN_FILL 0.9

/* Wall seconds per trial-epoch of the last `window` trials measured (journaled ones included; a
 * trial's start and writes counted in, so short trials make it an overestimate; the last ones only,
 * as the machine's load changes), and how many trials were measured in all (0: no estimate yet). */
static double epoch_cost(const tuner *u, int window, int *measured) {
    double s = 0, e = 0;
    *measured = 0;
    for (int i = u->n - 1; i >= 0; i--) {
        const trial *t = &u->t[i];
        if ((t->status == TS_DONE || t->status == TS_EARLY || t->status == TS_FAILED) && t->epochs > 0) {
            if (++*measured > window) continue;
            s += t->wall;
            e += (double)t->epochs;
        }
    }
    return e > 0 ? s / e : 0;
}

/* eta^(rungs - 1): the fewest points whose halving keeps a 1/eta at every rung (9 by default). */
static int64_t full_bracket(const tcd_tune_config *c) {
    int64_t n = 1;
    for (int64_t e = c->min_epochs; e < c->max_epochs && n < 1000000; e = next_epochs(c, e)) n *= c->eta;
    return n;
}

/* Expected seconds of rungs 1, 2, ... of a bracket of n points, at `cost` per trial-epoch: each
 * rung is rounds of one trial per group, each trial its full epochs (early stopping only saves). */
static double rest_cost(const tuner *u, int64_t n, double cost) {
    const tcd_tune_config *c = u->c;
    const int64_t g = u->n_groups;
    double s = 0;
    for (int64_t e = c->min_epochs; e < c->max_epochs;) {
        n /= c->eta;
        if (n < 1) n = 1;
        e = next_epochs(c, e);
        s += (double)((n + g - 1) / g) * (double)e * cost;
    }
    return s;
}

/* How many points to add to the open rung 0 of a bracket that has n, decided by world rank 0 from
 * its clock and told to every rank: -1 when the budget is spent; for a new bracket (n = 0) one
 * round (a point per group); while fewer trials than a full bracket (eta^(rungs-1)) have been
 * measured (the first trials of a process are slow, so an estimate from a few is poor) rung 0
 * doubles up to that many; else the most, in whole rounds and at most n (rung 0 doubles), with
 * which the bracket is expected to end by PLAN_FILL of the budget; 0: close rung 0. */
static int64_t grow(const tuner *u, int64_t n) {
    int64_t m = 0;
    if (u->world->rank == 0) {
        const int64_t g = u->n_groups, full = full_bracket(u->c), cap = (n + g - 1) / g * g;
        int measured;
        const double now = tcd_now(), cost = epoch_cost(u, (int)(2 * full), &measured),
                     plan_end = u->start + PLAN_FILL * u->c->budget;
        if (now >= u->deadline || tcd_train_stop_requested())
            m = -1;
        else if (n == 0)
            m = g;
        else if (measured < full && n < full)
            m = cap < full - n ? cap : (full - n + g - 1) / g * g;
        else if (cost > 0)
            for (m = cap; m > 0; m -= g)
                if (now + (double)(m / g) * (double)u->c->min_epochs * cost + rest_cost(u, n + m, cost) <= plan_end)
                    break;
    }
    tcd_dist_bcast(u->world, &m, sizeof m);
    return m;
}

/* Bracket b's last record in DIR/brackets.jsonl: its points so far and whether its rung 0 is
 * closed (0 points: no record). */
static void bracket_find(const tuner *u, int b, int64_t *points, int *closed) {
    *points = 0;
    *closed = 0;
    char key[64];
    snprintf(key, sizeof key, "{\"bracket\": %d, ", b);
    for (const char *line = u->brackets; line && *line;) {
        const char *end = strchr(line, '\n');
        if (!strncmp(line, key, strlen(key))) {
            char *rec = tcd_strndup(line, end ? (size_t)(end - line) : strlen(line));
            const double p = tcd_json_number(rec, "points");
            *points = isfinite(p) && p > 0 ? (int64_t)p : 0;
            *closed = strstr(rec, "\"closed\": true") != NULL;
            free(rec);
        }
        line = end ? end + 1 : NULL;
    }
}

/* Appends bracket b's size to DIR/brackets.jsonl (world rank 0), fsynced before its trials run. */
static void bracket_append(const tuner *u, int b, int64_t first, int64_t points, int closed) {
    char line[256];
    const int len = snprintf(line, sizeof line,
                             "{\"bracket\": %d, \"first\": %lld, \"points\": %lld, \"closed\": %s}\n", b,
                             (long long)first, (long long)points, closed ? "true" : "false");
    char *path = tcd_sprintf("%s/brackets.jsonl", u->c->run_dir);
    const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != (ssize_t)len || fsync(fd) != 0)
        tcd_die("%s: cannot append bracket %d (%s)", path, b, strerror(errno));
    close(fd);
    free(path);
}

/* --budget without --trials: brackets of successive halving one after another until the budget is
 * spent, the points numbered on from one bracket to the next (the same points for a seed; the clock
 * decides only how many). A bracket's rung 0 grows, a round at first and then doubling, while the
 * whole bracket is expected to end by PLAN_FILL of the budget; then it is closed and halved. Each
 * size is journaled in DIR/brackets.jsonl before its trials run, so a continued tune replays the
 * same brackets (and, from trials.jsonl, promotes the same points). */
static void run_budget(tuner *u) {
    const tcd_tune_config *c = u->c;
    int64_t first = 0;
    for (int b = 0;; b++) {
        int64_t n;
        int closed;
        bracket_find(u, b, &n, &closed);
        const int lo = u->n;
        for (int64_t p = first; p < first + n; p++) add_trial(u, p, 0, c->min_epochs);
        if (n > 0 && run_rung(u, lo, u->n)) return;
        while (!closed) {
            const int64_t m = grow(u, n);
            if (m < 0) return; /* the budget is spent (the bracket, if begun, stays open) */
            closed = m == 0;
            if (u->world->rank == 0) bracket_append(u, b, first, n + m, closed);
            if (closed) break;
            const int from = u->n;
            for (int64_t p = first + n; p < first + n + m; p++) add_trial(u, p, 0, c->min_epochs);
            n += m;
            if (run_rung(u, from, u->n)) return;
        }
        int finished = 0;
        for (int i = lo; i < u->n; i++) finished |= u->t[i].status == TS_DONE || u->t[i].status == TS_EARLY;
        if (u->world->rank == 0 && !c->quiet) {
            printf("bracket %d: %lld points (c%03lld..c%03lld) in rung 0, %.1f s of %g used\n", b, (long long)n,
                   (long long)first, (long long)(first + n - 1), tcd_now() - u->start, c->budget);
            fflush(stdout);
        }
        if (!finished) { /* every point of a whole rung failed: more brackets would fail alike */
            if (u->world->rank == 0) tcd_warn("bracket %d: no trial finished; the search ends", b);
            return;
        }
        if (halve(u, lo, u->n, n)) return;
        first += n;
    }
}

/* ---- the results (world rank 0) ---- */

static int copy_file(const char *from, const char *to) {
    size_t len = 0;
    char *data = tcd_read_file(from, &len);
    if (!data) return -1;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(data);
    return ok && tcd_fsync_path(to) == 0 ? 0 : -1;
}

static void remove_flat_dir(const char *dir) {
    DIR *dp = opendir(dir);
    if (!dp) return;
    for (struct dirent *e; (e = readdir(dp));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = tcd_sprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(dp);
    rmdir(dir);
}

/* DIR/best: the best trial's run dir without its checkpoints, made aside and renamed into place. */
static int write_best(const tuner *u, const trial *t) {
    static const char *FILES[] = {"model.h5", "config.json", "summary.json", "metrics.jsonl", "valid_split.txt"};
    const char *dir = u->c->run_dir;
    char *tmp = tcd_sprintf("%s/.best.tmp.%ld", dir, (long)getpid()), *old = tcd_sprintf("%s/.best.old.%ld", dir,
                                                                                              (long)getpid());
    char *best = tcd_sprintf("%s/best", dir);
    remove_flat_dir(tmp);
    int rc = mkdir(tmp, 0755);
    for (size_t i = 0; rc == 0 && i < sizeof FILES / sizeof FILES[0]; i++) {
        char *from = tcd_sprintf("%s/trials/%s/%s", dir, t->id, FILES[i]), *to = tcd_sprintf("%s/%s", tmp, FILES[i]);
        if ((i < 3 || tcd_file_exists(from)) && copy_file(from, to) != 0) {
            tcd_error("%s: cannot copy to %s (%s)", from, to, strerror(errno));
            rc = -1;
        }
        free(from);
        free(to);
    }
    if (rc == 0 && tcd_fsync_path(tmp) == 0) {
        const int had = tcd_file_exists(best);
        if ((had && rename(best, old) != 0) || rename(tmp, best) != 0 || tcd_fsync_path(dir) != 0) {
            tcd_error("%s: cannot put the best trial in place (%s)", best, strerror(errno));
            rc = -1;
        }
        if (had) remove_flat_dir(old);
    } else if (rc == 0) {
        tcd_error("%s: cannot write (%s)", tmp, strerror(errno));
        rc = -1;
    }
    if (rc != 0) remove_flat_dir(tmp);
    free(tmp);
    free(old);
    free(best);
    return rc;
}

/* The table of every trial run, best first; DIR/best. Returns the exit status. */
static int report(const tuner *u) {
    const tcd_tune_config *c = u->c;
    int *idx = tcd_malloc(sizeof(int) * (size_t)(u->n ? u->n : 1)), shown = 0, finished = 0;
    rank_trials(u, 0, u->n, idx);
    printf("%-4s %-9s %-13s %10s %7s %7s %8s  %s\n", "#", "trial", "status", c->metric, "epochs", "steps",
           "seconds", "config");
    for (int j = 0; j < u->n; j++) {
        const trial *t = &u->t[idx[j]];
        if (t->status == TS_NONE) continue;
        finished += t->status == TS_DONE || t->status == TS_EARLY;
        printf("%-4d %-9s %-13s %10.4f %7lld %7lld %8.1f  %s\n", ++shown, t->id, STATUS[t->status], t->metric,
               (long long)t->epochs, (long long)t->steps, t->seconds, t->config ? t->config : "");
    }
    int rc = TCD_EXIT_OK;
    if (finished == 0) {
        tcd_error("no trial finished%s", c->budget > 0 ? " within --budget; raise it" : "");
        rc = TCD_EXIT_ERROR;
    } else if (write_best(u, &u->t[idx[0]]) != 0)
        rc = TCD_EXIT_ERROR;
    else
        printf("best: %s (%s %.4f) -> %s/best; %d trials finished in %.1f s\n", u->t[idx[0]].id, c->metric,
               u->t[idx[0]].metric, c->run_dir, finished, tcd_now() - u->start);
    fflush(stdout);
    free(idx);
    return rc;
}

/* A journaled trial's config is its point's: made again here for the table. */
static void fill_configs(tuner *u) {
    for (int i = 0; i < u->n; i++) {
        if (u->t[i].config) continue;
        tcd_space_point p = {0};
        char err[256];
        tcd_space_point_at(u->c->space, (uint64_t)u->c->seed, u->t[i].point, &p, err, sizeof err);
        u->t[i].config = tcd_strdup(p.json);
        tcd_space_point_free(&p);
    }
}

/* World rank 0's text (NULL or not) to every rank. */
static void bcast_text(const tcd_dist *d, char **text) {
    int64_t len = *text ? (int64_t)strlen(*text) + 1 : 0;
    tcd_dist_bcast(d, &len, sizeof len);
    if (len && !*text) *text = tcd_malloc((size_t)len);
    if (len) tcd_dist_bcast(d, *text, len);
}

int tcd_tune_run(const tcd_tune_config *c, const tcd_dist *d) {
    tuner u = {.c = c, .world = d, .lower = !strcmp(c->metric, "loss"), .start = tcd_now()};
    if (c->budget > 0) u.deadline = u.start + c->budget;
    int verdict = d->rank == 0 ? prepare_dir(c, &u.journal, &u.brackets) : 0;
    if (tcd_dist_agree(d, verdict) != 0) {
        free(u.journal);
        free(u.brackets);
        return TCD_EXIT_ERROR;
    }
    bcast_text(d, &u.journal);
    bcast_text(d, &u.brackets);
    const int r = ranks_per_trial(c, d);
    u.n_groups = d->world / r;
    u.group = d->rank / r < u.n_groups ? d->rank / r : u.n_groups - 1;
    tcd_dist_split(d, u.group, &u.grp);
    if (d->rank == 0) {
        if (c->trials > 0)
            printf("tune: %lld points", (long long)c->trials);
        else
            printf("tune: as many points as --budget %g s allows", c->budget);
        printf(", %d group(s) of %d rank(s), epochs %lld..%lld (eta %lld)%s\n", u.n_groups, r,
               (long long)c->min_epochs, (long long)c->max_epochs, (long long)c->eta,
               u.journal || u.brackets ? "; continuing from trials.jsonl" : "");
        fflush(stdout);
    }
    if (c->trials > 0)
        run_fixed(&u);
    else
        run_budget(&u);
    tcd_dist_free(&u.grp);
    /* a stop signal (Slurm's time limit): the table so far, then the status of a resumable stop */
    int64_t stopped = tcd_train_stop_requested();
    tcd_dist_sum_i64(d, &stopped, 1);
    int rc = TCD_EXIT_OK;
    if (d->rank == 0) {
        fill_configs(&u);
        rc = report(&u);
        if (stopped) {
            tcd_info("stopped by a signal; run the same command to continue (exit status %d)", TCD_EXIT_INTERRUPTED);
            rc = TCD_EXIT_INTERRUPTED;
        }
    }
    rc = tcd_dist_agree(d, rc);
    for (int i = 0; i < u.n; i++) free(u.t[i].config);
    free(u.t);
    free(u.journal);
    free(u.brackets);
    return rc;
}
