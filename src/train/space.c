/* The search space of `tcdist tune`; see space.h. */
#include "train/space.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"

/* docs/tuning.md shows this text: keep them alike */
static const char DEFAULT_SPACE[] = "lr log 0.001 0.1\n"
                                    "batch choice 32 64 128\n"
                                    "dim choice 16 32 64\n"
                                    "hidden choice 0 16 64\n"
                                    "dropout uniform 0 0.5\n"
                                    "weight_decay choice 0 0.0001 0.001\n"
                                    "emb_lr choice 0 0.1 0.3 1\n";

static const char *TYPES[] = {"log", "uniform", "int", "choice"};

/* The training settings a space may set, and their ranges (as their flags'). */
static const struct {
    const char *name;
    double lo, hi;
    int whole;
} TRAIN_DIMS[] = {{"lr", 1e-12, 1e6, 0}, {"batch", 1, 1 << 24, 1}, {"weight_decay", 0, 1e6, 0},
                  {"emb_lr", 0, 1e6, 0}};
#define N_TRAIN_DIMS 4

static int train_dim(const char *name) {
    for (int i = 0; i < N_TRAIN_DIMS; i++)
        if (!strcmp(name, TRAIN_DIMS[i].name)) return i;
    return -1;
}

/* Does any kind of the registry have a parameter of this name? */
static int model_param_known(const char *name) {
    for (int k = 0; k < tcd_model_n_kinds(); k++)
        if (tcd_model_param_find(tcd_model_kind_at(k), name)) return 1;
    return 0;
}

static void known_names(tcd_buf *b) {
    tcd_buf_printf(b, "lr, batch, weight_decay, emb_lr, model");
    for (int k = 0; k < tcd_model_n_kinds(); k++)
        for (const tcd_model_param *p = tcd_model_kind_at(k)->params; p->name; p++) {
            int seen = 0;
            for (int j = 0; j < k && !seen; j++) seen = tcd_model_param_find(tcd_model_kind_at(j), p->name) != NULL;
            if (!seen) tcd_buf_printf(b, ", %s", p->name);
        }
}

/* A value of the dimension, as its flag would take it: 0, or -1 with why in err. The values of a
 * model kind's parameter are checked once the file is read (check_model_values). */
static int check_value(const char *name, const char *v, char *err, size_t errlen) {
    const int t = train_dim(name);
    if (t >= 0) {
        double x;
        if (tcd_parse_f64(v, TRAIN_DIMS[t].lo, TRAIN_DIMS[t].hi, &x, err, errlen) != 0) return -1;
        if (TRAIN_DIMS[t].whole && x != floor(x)) {
            snprintf(err, errlen, "'%s' is not a whole number", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "model")) {
        if (tcd_model_kind_find(v)) return 0;
        snprintf(err, errlen, "unknown model kind '%s' (kinds: %s)", v, tcd_model_kind_names());
        return -1;
    }
    return 0; /* a model kind's parameter: checked once the kinds are known (check_model_values) */
}

static void range_text(const tcd_space_dim *d, double x, char *out, size_t n);

/* A model parameter's value, as the flag of one kind would take it. */
static int check_kind_value(const tcd_model_kind *kind, const tcd_model_param *p, const char *v, char *err,
                            size_t errlen) {
    void *cfg = tcd_model_config_new(kind);
    const int rc = tcd_model_config_set(kind, cfg, p, v, err, errlen);
    free(cfg);
    return rc;
}

/* The values of the model kinds' parameters, each against the kinds the space can pick that have
 * it (the `model` choice, or without one the registry's first kind), so that a value only another
 * kind would refuse is no error (`max_len choice 3000` is fine for cnn alone, not with
 * transformer). A parameter of none of the picked kinds does nothing, and is checked against every
 * kind that has it (`dropout uniform 2 3` is an error anywhere). lines[i] is dimension i's line.
 * 0, or -1 with "FILE:LINE: field K ('V'): why" in err. */
static int check_model_values(const tcd_space *s, const int *lines, const char *file, char *err, size_t errlen) {
    const tcd_space_dim *md = NULL;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->dims[i].name, "model")) md = &s->dims[i];
    const tcd_model_kind *picked[TCD_SPACE_MAX_CHOICES];
    int n_picked = 0;
    if (md)
        for (int k = 0; k < md->n_choices; k++) picked[n_picked++] = tcd_model_kind_find(md->choices[k]);
    else
        picked[n_picked++] = tcd_model_kind_at(0);
    for (int i = 0; i < s->n; i++) {
        const tcd_space_dim *d = &s->dims[i];
        if (train_dim(d->name) >= 0 || d == md) continue;
        int any = 0;
        for (int k = 0; k < n_picked; k++) any |= tcd_model_param_find(picked[k], d->name) != NULL;
        const int n_kinds = any ? n_picked : tcd_model_n_kinds();
        for (int k = 0; k < n_kinds; k++) {
            const tcd_model_kind *kind = any ? picked[k] : tcd_model_kind_at(k);
            const tcd_model_param *p = tcd_model_param_find(kind, d->name);
            if (!p) continue;
            const int n_values = d->type == TCD_SP_CHOICE ? d->n_choices : 2;
            for (int j = 0; j < n_values; j++) {
                char text[64], why[512];
                if (d->type != TCD_SP_CHOICE) range_text(d, j == 0 ? d->lo : d->hi, text, sizeof text);
                const char *v = d->type == TCD_SP_CHOICE ? d->choices[j] : text;
                if (check_kind_value(kind, p, v, why, sizeof why) != 0) {
                    snprintf(err, errlen, "%s:%d: field %d ('%s'): %s", file, lines[i], j + 3, v, why);
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* Is the dimension a list-valued model parameter (only a choice can give one)? */
static int list_param(const char *name) {
    for (int k = 0; k < tcd_model_n_kinds(); k++) {
        const tcd_model_param *p = tcd_model_param_find(tcd_model_kind_at(k), name);
        if (p && p->type == TCD_MP_I64_LIST) return 1;
    }
    return 0;
}

/* The text of a value drawn from a range: whole numbers for int and for whole-valued settings
 * (six digits otherwise: a sampled value needs no more). */
static void range_text(const tcd_space_dim *d, double x, char *out, size_t n) {
    int whole = d->type == TCD_SP_INT;
    const int t = train_dim(d->name);
    if (t >= 0) whole |= TRAIN_DIMS[t].whole;
    for (int k = 0; k < tcd_model_n_kinds(); k++) {
        const tcd_model_param *p = tcd_model_param_find(tcd_model_kind_at(k), d->name);
        if (p && p->type == TCD_MP_I64) whole = 1;
    }
    if (whole)
        snprintf(out, n, "%lld", (long long)llround(x));
    else
        snprintf(out, n, "%.6g", x);
}

#define MAX_FIELDS (TCD_SPACE_MAX_CHOICES + 2)

/* One line's fields (split at blanks; '#' starts a comment). Returns their count, or -1 when there
 * are too many. */
static int split_fields(char *line, char **f) {
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    int n = 0;
    for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
        if (n == MAX_FIELDS) return -1;
        f[n++] = tok;
    }
    return n;
}

/* One dimension from its fields. 0, or -1 with "field K ...: why" in why. */
static int parse_dim(const tcd_space *s, char **f, int nf, tcd_space_dim *d, char *why, size_t n) {
    char err[512];
    memset(d, 0, sizeof *d);
    if (train_dim(f[0]) < 0 && strcmp(f[0], "model") != 0 && !model_param_known(f[0])) {
        tcd_buf known = {0};
        known_names(&known);
        snprintf(why, n, "field 1: unknown name '%s' (known: %s)", f[0], known.data);
        tcd_buf_free(&known);
        return -1;
    }
    if (strlen(f[0]) >= sizeof d->name) return snprintf(why, n, "field 1: name too long"), -1;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->dims[i].name, f[0])) return snprintf(why, n, "field 1: '%s' given twice", f[0]), -1;
    snprintf(d->name, sizeof d->name, "%s", f[0]);
    if (nf < 2) return snprintf(why, n, "field 2: missing type (log, uniform, int or choice)"), -1;
    int t = 0;
    while (t < 4 && strcmp(f[1], TYPES[t]) != 0) t++;
    if (t == 4) return snprintf(why, n, "field 2: unknown type '%s' (log, uniform, int or choice)", f[1]), -1;
    d->type = (tcd_sp_type)t;
    if (d->type == TCD_SP_CHOICE) {
        if (nf < 3) return snprintf(why, n, "field 3: choice needs at least one value"), -1;
        for (int i = 2; i < nf; i++)
            if (check_value(d->name, f[i], err, sizeof err) != 0)
                return snprintf(why, n, "field %d ('%s'): %s", i + 1, f[i], err), -1;
        return 0;
    }
    if (!strcmp(d->name, "model") || list_param(d->name))
        return snprintf(why, n, "field 2: '%s' takes choice only", d->name), -1;
    if (nf != 4) return snprintf(why, n, "field %d: %s takes two numbers, LO and HI", nf < 4 ? nf + 1 : 5, f[1]), -1;
    for (int i = 2; i < 4; i++) {
        double *x = i == 2 ? &d->lo : &d->hi;
        if (tcd_parse_f64(f[i], -1e300, 1e300, x, err, sizeof err) != 0)
            return snprintf(why, n, "field %d ('%s'): %s", i + 1, f[i], err), -1;
        char text[64];
        range_text(d, *x, text, sizeof text);
        if (check_value(d->name, text, err, sizeof err) != 0)
            return snprintf(why, n, "field %d ('%s'): %s", i + 1, f[i], err), -1;
    }
    if (!(d->lo < d->hi)) return snprintf(why, n, "field 4 ('%s'): HI must be above LO (%s)", f[3], f[2]), -1;
    if (d->type == TCD_SP_LOG && d->lo <= 0) return snprintf(why, n, "field 3 ('%s'): log needs LO > 0", f[2]), -1;
    return 0;
}

int tcd_space_parse(tcd_space *s, const char *text, const char *file, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    char *copy = tcd_strdup(text);
    int line_no = 0, rc = 0, lines[TCD_SPACE_MAX];
    for (char *line = copy, *next; line && rc == 0; line = next) {
        line_no++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *f[MAX_FIELDS];
        const int nf = split_fields(line, f);
        if (nf == 0) continue;
        char why[1024];
        tcd_space_dim d;
        if (nf < 0)
            snprintf(why, sizeof why, "more than %d fields", MAX_FIELDS);
        else if (s->n == TCD_SPACE_MAX)
            snprintf(why, sizeof why, "more than %d dimensions", TCD_SPACE_MAX);
        if (nf < 0 || s->n == TCD_SPACE_MAX || parse_dim(s, f, nf, &d, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", file, line_no, why);
            rc = -1;
            break;
        }
        if (d.type == TCD_SP_CHOICE) {
            d.n_choices = nf - 2;
            for (int i = 0; i < d.n_choices; i++) d.choices[i] = tcd_strdup(f[i + 2]);
        }
        lines[s->n] = line_no;
        s->dims[s->n++] = d;
    }
    free(copy);
    if (rc == 0 && check_model_values(s, lines, file, err, errlen) != 0) rc = -1;
    if (rc == 0 && s->n == 0) {
        snprintf(err, errlen, "%s: no dimension (one a line: NAME TYPE ARGS..., see docs/tuning.md)", file);
        rc = -1;
    }
    if (rc != 0) tcd_space_free(s);
    return rc;
}

int tcd_space_load(tcd_space *s, const char *path, char *err, size_t errlen) {
    if (!path) return tcd_space_parse(s, DEFAULT_SPACE, "(the default space)", err, errlen);
    size_t len = 0;
    char *text = tcd_read_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read (%s)", path, strerror(errno));
        return -1;
    }
    int rc = strlen(text) != len ? -1 : tcd_space_parse(s, text, path, err, errlen);
    if (strlen(text) != len) snprintf(err, errlen, "%s: not a text file (a NUL byte)", path);
    free(text);
    return rc;
}

void tcd_space_free(tcd_space *s) {
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->dims[i].n_choices; j++) free(s->dims[i].choices[j]);
    memset(s, 0, sizeof *s);
}

char *tcd_space_text(const tcd_space *s) {
    tcd_buf b = {0};
    for (int i = 0; i < s->n; i++) {
        const tcd_space_dim *d = &s->dims[i];
        tcd_buf_printf(&b, "%s %s", d->name, TYPES[d->type]);
        if (d->type == TCD_SP_CHOICE)
            for (int j = 0; j < d->n_choices; j++) tcd_buf_printf(&b, " %s", d->choices[j]);
        else
            tcd_buf_printf(&b, " %.17g %.17g", d->lo, d->hi);
        tcd_buf_putc(&b, '\n');
    }
    return b.data;
}

/* ---- points ---- */

/* The radical inverse of i in base b: the Halton sequence's element i. */
static double halton(uint64_t i, unsigned b) {
    double f = 1, r = 0;
    while (i > 0) {
        f /= b;
        r += f * (double)(i % b);
        i /= b;
    }
    return r;
}

static const unsigned PRIMES[TCD_SPACE_MAX] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37,
                                               41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89};

/* Dimension d's coordinate of point i, in [0, 1). */
static double coordinate(uint64_t seed, int64_t i, int d) {
    const double shift = (double)(tcd_mix64(tcd_mix64(seed) ^ (uint64_t)(d + 1)) >> 11) * 0x1p-53;
    double u = halton((uint64_t)i + 1, PRIMES[d]) + shift;
    u -= floor(u);
    return u < 1 ? u : 0;
}

/* The text of dimension d's value at u. */
static void value_at(const tcd_space_dim *d, double u, char *out, size_t n) {
    switch (d->type) {
    case TCD_SP_CHOICE: {
        const char *v = d->choices[(int)(u * d->n_choices) % d->n_choices];
        /* a number as JSON writes it (".5" is a number to a flag, not to JSON): checked when read */
        if (strcmp(d->name, "model") != 0 && !list_param(d->name)) {
            char *end = NULL;
            const double x = strtod(v, &end);
            if (x == floor(x) && fabs(x) < 1e15)
                snprintf(out, n, "%lld", (long long)x);
            else
                snprintf(out, n, "%.9g", x);
        } else
            snprintf(out, n, "%s", v);
        return;
    }
    case TCD_SP_LOG: range_text(d, exp(log(d->lo) + u * (log(d->hi) - log(d->lo))), out, n); return;
    case TCD_SP_UNIFORM: range_text(d, d->lo + u * (d->hi - d->lo), out, n); return;
    case TCD_SP_INT: {
        const double span = floor(d->hi) - ceil(d->lo) + 1;
        range_text(d, ceil(d->lo) + fmin(floor(u * span), span - 1), out, n);
        return;
    }
    }
}

int tcd_space_point_at(const tcd_space *s, uint64_t seed, int64_t index, tcd_space_point *p, char *err,
                       size_t errlen) {
    char values[TCD_SPACE_MAX][256];
    p->kind = tcd_model_kind_at(0); /* the registry's first kind, without a model dimension */
    for (int d = 0; d < s->n; d++) {
        value_at(&s->dims[d], coordinate(seed, index, d), values[d], sizeof values[d]);
        if (!strcmp(s->dims[d].name, "model")) p->kind = tcd_model_kind_find(values[d]);
    }
    p->model_cfg = tcd_model_config_new(p->kind);
    tcd_buf b = {0};
    tcd_buf_printf(&b, "{\"model\": \"%s\"", p->kind->name);
    int rc = 0;
    for (int d = 0; d < s->n && rc == 0; d++) {
        const char *name = s->dims[d].name, *v = values[d];
        const tcd_model_param *mp = tcd_model_param_find(p->kind, name);
        if (!strcmp(name, "lr"))
            p->lr = strtod(v, NULL);
        else if (!strcmp(name, "weight_decay"))
            p->weight_decay = strtod(v, NULL);
        else if (!strcmp(name, "emb_lr"))
            p->emb_lr = strtod(v, NULL);
        else if (!strcmp(name, "batch"))
            p->batch = strtoll(v, NULL, 10);
        else if (!mp)
            continue; /* the model kind itself, or a parameter of another kind */
        else
            rc = tcd_model_config_set(p->kind, p->model_cfg, mp, v, err, errlen);
        if (mp && mp->type == TCD_MP_I64_LIST) {
            tcd_buf_printf(&b, ", \"%s\": ", name);
            tcd_buf_json_string(&b, v, strlen(v));
        } else
            tcd_buf_printf(&b, ", \"%s\": %s", name, v);
    }
    tcd_buf_putc(&b, '}');
    p->json = b.data;
    const tcd_model_shape nominal = {.n_embeddings = 2, .n_classes = 2};
    if (rc == 0) rc = tcd_model_config_check(p->kind, p->model_cfg, &nominal, err, errlen);
    return rc;
}

void tcd_space_point_free(tcd_space_point *p) {
    free(p->model_cfg);
    free(p->json);
    p->model_cfg = NULL;
    p->json = NULL;
}
