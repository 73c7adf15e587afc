/* See models.h. */
#include "serve/models.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "infer/predictor.h"

typedef struct job {
    int64_t n;             /* documents */
    const int32_t *tokens; /* concatenated ids */
    const int64_t *offsets;
    float *probs;          /* n x C, filled by the leader */
    int done;
    struct job *next;
} job;

struct tcd_served {
    tcd_predictor *pred;
    const tcd_model_file *mf;
    const char *name;
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int64_t queued_docs;
    int busy;
    /* the leader's batch (used by one leader at a time) */
    tcd_buf tokens, offsets;
    float *probs;
    int64_t probs_cap;
};

struct tcd_slot {
    char *name, *path; /* path: the model file watched */
    pthread_mutex_t mu;
    tcd_served *cur;
    struct stat seen;  /* of the file last loaded or refused */
    atomic_llong reloads_ok, reloads_refused;
};

static atomic_int pending_requests;

static void pending(int delta) { atomic_fetch_add(&pending_requests, delta); }

static tcd_served *served_open(const char *name, const char *path, char *err, size_t errlen) {
    tcd_predictor *p = tcd_predictor_open(path, err, errlen);
    if (!p) return NULL;
    tcd_served *s = tcd_calloc(1, sizeof *s);
    s->pred = p;
    s->mf = tcd_predictor_file(p);
    s->name = name;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

void tcd_served_release(tcd_served *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    tcd_predictor_free(s->pred);
    tcd_buf_free(&s->tokens);
    tcd_buf_free(&s->offsets);
    free(s->probs);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

const tcd_model_file *tcd_served_file(const tcd_served *s) { return s->mf; }
const char *tcd_served_name(const tcd_served *s) { return s->name; }

static int same_stat(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* "NAME=PATH" or "PATH"; a directory means PATH/model.h5 */
static int slot_open(tcd_slot *sl, const char *spec, char *err, size_t errlen) {
    const char *eq = strchr(spec, '=');
    const char *path = eq ? eq + 1 : spec;
    char *copy = tcd_strdup(path);
    size_t L = strlen(copy);
    while (L > 1 && copy[L - 1] == '/') copy[--L] = 0;
    struct stat st;
    if (stat(copy, &st) != 0) {
        snprintf(err, errlen, "--model %s: %s: %s", spec, copy, strerror(errno));
        free(copy);
        return -1;
    }
    const char *base = strrchr(copy, '/') ? strrchr(copy, '/') + 1 : copy;
    if (eq) {
        sl->name = tcd_strndup(spec, (size_t)(eq - spec));
    } else {
        sl->name = tcd_strdup(base);
        size_t bl = strlen(sl->name);
        if (!S_ISDIR(st.st_mode) && bl > 3 && !strcmp(sl->name + bl - 3, ".h5")) sl->name[bl - 3] = 0;
    }
    if (S_ISDIR(st.st_mode)) {
        tcd_buf b = {0};
        tcd_buf_printf(&b, "%s/model.h5", copy);
        sl->path = tcd_strdup(b.data);
        tcd_buf_free(&b);
        free(copy);
    } else {
        sl->path = copy;
    }
    for (const char *c = sl->name; *c; c++)
        if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z'))) {
            snprintf(err, errlen, "--model %s: the name '%s' may use only letters, digits, '.', '-' and '_' (give NAME=PATH)",
                     spec, sl->name);
            return -2;
        }
    if (!sl->name[0]) {
        snprintf(err, errlen, "--model %s: empty model name", spec);
        return -2;
    }
    if (stat(sl->path, &sl->seen) != 0) memset(&sl->seen, 0, sizeof sl->seen);
    pthread_mutex_init(&sl->mu, NULL);
    char why[1024];
    sl->cur = served_open(sl->name, sl->path, why, sizeof why);
    if (!sl->cur) {
        snprintf(err, errlen, "--model %s: %s", spec, why);
        return -1;
    }
    return 0;
}

int tcd_models_open(tcd_model_set *set, char *const *specs, int n, char *err, size_t errlen) {
    set->slots = tcd_calloc((size_t)n, sizeof *set->slots);
    for (int i = 0; i < n; i++) {
        set->n = i + 1;
        const int rc = slot_open(&set->slots[i], specs[i], err, errlen);
        if (rc != 0) return rc;
        for (int j = 0; j < i; j++)
            if (!strcmp(set->slots[j].name, set->slots[i].name)) {
                snprintf(err, errlen, "--model %s: the name '%s' is given twice (use NAME=PATH)", specs[i],
                         set->slots[i].name);
                return -2;
            }
    }
    return 0;
}

void tcd_models_close(tcd_model_set *set) {
    for (int i = 0; i < set->n; i++) {
        tcd_slot *sl = &set->slots[i];
        tcd_served_release(sl->cur);
        free(sl->name);
        free(sl->path);
    }
    free(set->slots);
    set->slots = NULL;
    set->n = 0;
}

tcd_served *tcd_models_acquire(tcd_model_set *set, const char *name, size_t name_len) {
    for (int i = 0; i < set->n; i++) {
        tcd_slot *sl = &set->slots[i];
        if (strlen(sl->name) != name_len || memcmp(sl->name, name, name_len) != 0) continue;
        pthread_mutex_lock(&sl->mu);
        tcd_served *s = sl->cur;
        atomic_fetch_add(&s->refs, 1);
        pthread_mutex_unlock(&sl->mu);
        return s;
    }
    return NULL;
}

/* The leader: the queued jobs, up to max_batch documents (at least one job), as one forward.
 * Called and returns with s->mu held; runs the forward without it. */
static void lead(tcd_model_set *set, tcd_served *s) {
    if (set->max_delay_us > 0 && s->queued_docs < set->max_batch && atomic_load(&pending_requests) > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(set->max_delay_us % 1000000) * 1000;
        until.tv_sec += (time_t)(set->max_delay_us / 1000000) + until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        while (s->queued_docs < set->max_batch && atomic_load(&pending_requests) > 0)
            if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
    }
    job *first = s->head, *last = first;
    int64_t docs = first->n;
    while (last->next && docs + last->next->n <= set->max_batch) {
        last = last->next;
        docs += last->n;
    }
    s->head = last->next;
    if (!s->head) s->tail = NULL;
    s->queued_docs -= docs;
    pthread_mutex_unlock(&s->mu);

    const int64_t C = s->mf->n_classes;
    s->tokens.len = 0;
    s->offsets.len = 0;
    int64_t zero = 0;
    tcd_buf_append(&s->offsets, &zero, sizeof zero);
    for (job *j = first;; j = j->next) {
        const int64_t base = (int64_t)(s->tokens.len / sizeof(int32_t));
        tcd_buf_append(&s->tokens, j->tokens, sizeof(int32_t) * (size_t)j->offsets[j->n]);
        for (int64_t d = 1; d <= j->n; d++) {
            int64_t o = base + j->offsets[d];
            tcd_buf_append(&s->offsets, &o, sizeof o);
        }
        if (j == last) break;
    }
    if (docs * C > s->probs_cap) {
        s->probs_cap = docs * C;
        s->probs = tcd_realloc(s->probs, sizeof(float) * (size_t)s->probs_cap);
    }
    tcd_batch b = {.n = docs, .tokens = (int32_t *)s->tokens.data, .offsets = (int64_t *)s->offsets.data};
    tcd_predictor_forward(s->pred, &b, s->probs, set->forward_threads);
    tcd_serve_metrics_batch(set->metrics, docs);

    pthread_mutex_lock(&s->mu);
    int64_t row = 0;
    for (job *j = first, *next; j; j = next) {
        next = j == last ? NULL : j->next; /* read before done: the waiter may leave once we unlock */
        memcpy(j->probs, s->probs + row * C, sizeof(float) * (size_t)(j->n * C));
        row += j->n;
        j->done = 1;
    }
    pthread_cond_broadcast(&s->cv);
}

static void run_job(tcd_model_set *set, tcd_served *s, job *jb) {
    pthread_mutex_lock(&s->mu);
    if (s->tail) s->tail->next = jb;
    else s->head = jb;
    s->tail = jb;
    s->queued_docs += jb->n;
    pending(-1);
    pthread_cond_broadcast(&s->cv); /* a waiting leader may now have enough */
    while (!jb->done) {
        if (!s->busy && s->head) {
            s->busy = 1;
            lead(set, s);
            s->busy = 0;
            pthread_cond_broadcast(&s->cv);
        } else {
            pthread_cond_wait(&s->cv, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

int64_t tcd_served_predict(tcd_model_set *set, tcd_served *s, int64_t n, const char *const *text,
                           const size_t *len, float *probs, const char **why) {
    const int64_t C = s->mf->n_classes;
    pending(1);
    tcd_encoder enc = {0};
    tcd_buf tokens = {0}, offsets = {0};
    int64_t good = 0, zero = 0, *row = tcd_malloc(sizeof(int64_t) * (size_t)n);
    tcd_buf_append(&offsets, &zero, sizeof zero);
    for (int64_t i = 0; i < n; i++) {
        const int32_t *ids = NULL;
        why[i] = NULL;
        const int64_t k = tcd_predictor_encode(s->pred, &enc, text[i], len[i], &ids, &why[i]);
        if (k < 0) {
            row[i] = -1;
            continue;
        }
        tcd_buf_append(&tokens, ids, sizeof(int32_t) * (size_t)k);
        int64_t end = (int64_t)(tokens.len / sizeof(int32_t));
        tcd_buf_append(&offsets, &end, sizeof end);
        row[i] = good++;
    }
    tcd_encoder_free(&enc);
    float *out = good ? tcd_malloc(sizeof(float) * (size_t)(good * C)) : NULL;
    if (good) {
        job jb = {.n = good, .tokens = (const int32_t *)tokens.data, .offsets = (const int64_t *)offsets.data,
                  .probs = out};
        run_job(set, s, &jb);
    } else {
        pending(-1);
    }
    for (int64_t i = 0; i < n; i++) {
        if (row[i] < 0) memset(probs + i * C, 0, sizeof(float) * (size_t)C);
        else memcpy(probs + i * C, out + row[i] * C, sizeof(float) * (size_t)C);
    }
    free(out);
    free(row);
    tcd_buf_free(&tokens);
    tcd_buf_free(&offsets);
    return good;
}

static int same_labels(const tcd_model_file *a, const tcd_model_file *b) {
    if (a->n_classes != b->n_classes) return 0;
    for (int64_t c = 0; c < a->n_classes; c++)
        if (strcmp(a->labels[c], b->labels[c]) != 0) return 0;
    return 1;
}

static void slot_reload(tcd_model_set *set, tcd_slot *sl, const struct stat *st) {
    sl->seen = *st;
    char why[1024];
    tcd_served *fresh = served_open(sl->name, sl->path, why, sizeof why);
    if (fresh && !same_labels(fresh->mf, sl->cur->mf)) {
        snprintf(why, sizeof why, "%s: another label set (%lld classes) than the model serving (%lld classes)",
                 sl->path, (long long)fresh->mf->n_classes, (long long)sl->cur->mf->n_classes);
        tcd_served_release(fresh);
        fresh = NULL;
    }
    if (!fresh) {
        atomic_fetch_add(&sl->reloads_refused, 1);
        tcd_error("serve: model '%s': reload refused, still serving version %.12s: %s", sl->name,
                  sl->cur->mf->params_sha256, why);
        return;
    }
    pthread_mutex_lock(&sl->mu);
    tcd_served *old = sl->cur;
    sl->cur = fresh;
    pthread_mutex_unlock(&sl->mu);
    atomic_fetch_add(&sl->reloads_ok, 1);
    fprintf(stderr, "tcdist serve: model '%s': reloaded %s: version %.12s (step %lld), was %.12s\n", sl->name,
            sl->path, fresh->mf->params_sha256, (long long)fresh->mf->step, old->mf->params_sha256);
    tcd_served_release(old);
}

void tcd_models_poll(tcd_model_set *set, int force) {
    for (int i = 0; i < set->n; i++) {
        tcd_slot *sl = &set->slots[i];
        struct stat st;
        if (stat(sl->path, &st) != 0) continue; /* between an unlink and a rename: look again later */
        if (force || !same_stat(&st, &sl->seen)) slot_reload(set, sl, &st);
    }
}

void tcd_models_names(const tcd_model_set *set, tcd_buf *out) {
    for (int i = 0; i < set->n; i++) tcd_buf_printf(out, "%s%s", i ? ", " : "", set->slots[i].name);
}

void tcd_models_metrics(const tcd_model_set *set, tcd_buf *out) {
    tcd_buf_printf(out, "# HELP tcdist_model_info The model version serving under each name (1).\n"
                        "# TYPE tcdist_model_info gauge\n");
    for (int i = 0; i < set->n; i++) {
        tcd_slot *sl = &set->slots[i];
        pthread_mutex_lock(&sl->mu);
        tcd_buf_printf(out, "tcdist_model_info{model=\"%s\",version=\"%s\",step=\"%lld\"} 1\n", sl->name,
                       sl->cur->mf->params_sha256, (long long)sl->cur->mf->step);
        pthread_mutex_unlock(&sl->mu);
    }
    tcd_buf_printf(out, "# HELP tcdist_model_reloads_total Reloads of a replaced model file, by result.\n"
                        "# TYPE tcdist_model_reloads_total counter\n");
    for (int i = 0; i < set->n; i++) {
        tcd_slot *sl = &set->slots[i];
        tcd_buf_printf(out, "tcdist_model_reloads_total{model=\"%s\",result=\"ok\"} %lld\n", sl->name,
                       (long long)atomic_load(&sl->reloads_ok));
        tcd_buf_printf(out, "tcdist_model_reloads_total{model=\"%s\",result=\"refused\"} %lld\n", sl->name,
                       (long long)atomic_load(&sl->reloads_refused));
    }
}
