/* A kind's configuration, driven by its parameter table: defaults, flags, range checks, and the
 * JSON that model and checkpoint files store (parsed with jansson). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "models/model.h"

static void *field(void *cfg, const tcd_model_param *p) { return (char *)cfg + p->offset; }
static const void *cfield(const void *cfg, const tcd_model_param *p) { return (const char *)cfg + p->offset; }

/* "max-len" and "max_len" name the same parameter. */
static int same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

const tcd_model_param *tcd_model_param_find(const tcd_model_kind *k, const char *name) {
    for (const tcd_model_param *p = k->params; p->name; p++)
        if (same_name(p->name, name)) return p;
    return NULL;
}

/* The flag spelling of a parameter: "max_len" -> "--max-len". */
static void flag_name(const tcd_model_param *p, char *out, size_t n) {
    snprintf(out, n, "--%s", p->name);
    for (char *c = out + 2; *c; c++)
        if (*c == '_') *c = '-';
}

static int parse_list(const char *text, const tcd_model_param *p, tcd_i64_list *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *s = text;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (out->n == TCD_MP_MAX_LIST) {
            snprintf(err, errlen, "at most %d values", TCD_MP_MAX_LIST);
            return -1;
        }
        char item[64];
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errlen, "'%s' is not a comma-separated list of integers", text);
            return -1;
        }
        memcpy(item, s, len);
        item[len] = 0;
        if (tcd_parse_i64(item, (int64_t)p->lo, (int64_t)p->hi, &out->v[out->n], err, errlen) != 0) return -1;
        out->n++;
        if (!comma) return 0;
        s = comma + 1;
    }
}

/* An integer parameter that may be "auto". */
static int can_auto(const tcd_model_param *p) { return p->type == TCD_MP_I64 && !strcmp(p->def, "auto"); }
static int is_auto(const void *cfg, const tcd_model_param *p) {
    return can_auto(p) && *(const int64_t *)cfield(cfg, p) == TCD_MP_AUTO;
}

int tcd_model_config_set(const tcd_model_kind *k, void *cfg, const tcd_model_param *p, const char *text, char *err,
                         size_t errlen) {
    char why[256] = "";
    int rc = 0;
    if (can_auto(p) && !strcmp(text, "auto")) {
        *(int64_t *)field(cfg, p) = TCD_MP_AUTO;
        return 0;
    }
    switch (p->type) {
    case TCD_MP_I64: rc = tcd_parse_i64(text, (int64_t)p->lo, (int64_t)p->hi, field(cfg, p), why, sizeof why); break;
    case TCD_MP_F64: rc = tcd_parse_f64(text, p->lo, p->hi, field(cfg, p), why, sizeof why); break;
    case TCD_MP_I64_LIST: rc = parse_list(text, p, field(cfg, p), why, sizeof why); break;
    }
    if (rc != 0) {
        char flag[64];
        flag_name(p, flag, sizeof flag);
        snprintf(err, errlen, "option '%s': %s (model %s)", flag, why, k->name);
        return -1;
    }
    return 0;
}

void *tcd_model_config_new(const tcd_model_kind *k) {
    void *cfg = tcd_calloc(1, k->cfg_size);
    char err[256];
    for (const tcd_model_param *p = k->params; p->name; p++)
        if (tcd_model_config_set(k, cfg, p, p->def, err, sizeof err) != 0) tcd_die("bad default: %s", err);
    return cfg;
}

void tcd_model_config_resolve(const tcd_model_kind *k, void *cfg, const tcd_model_shape *shape) {
    if (k->resolve) k->resolve(cfg, shape);
    for (const tcd_model_param *p = k->params; p->name; p++) TCD_CHECK(!is_auto(cfg, p));
}

void *tcd_model_config_resolved(const tcd_model_kind *k, const void *cfg, const tcd_model_shape *shape) {
    void *r = tcd_malloc(k->cfg_size);
    memcpy(r, cfg, k->cfg_size);
    tcd_model_config_resolve(k, r, shape);
    return r;
}

static int in_range(const tcd_model_param *p, double v) { return v >= p->lo && v <= p->hi; }

int tcd_model_config_check(const tcd_model_kind *k, const void *cfg, const tcd_model_shape *shape, char *err,
                           size_t errlen) {
    for (const tcd_model_param *p = k->params; p->name; p++) {
        const void *f = cfield(cfg, p);
        if (is_auto(cfg, p)) continue;
        int ok = 1;
        if (p->type == TCD_MP_I64) ok = in_range(p, (double)*(const int64_t *)f);
        if (p->type == TCD_MP_F64) ok = isfinite(*(const double *)f) && in_range(p, *(const double *)f);
        if (p->type == TCD_MP_I64_LIST) {
            const tcd_i64_list *l = f;
            ok = l->n >= 1 && l->n <= TCD_MP_MAX_LIST;
            for (int64_t i = 0; ok && i < l->n; i++) ok = in_range(p, (double)l->v[i]);
        }
        if (!ok) {
            char flag[64];
            flag_name(p, flag, sizeof flag);
            snprintf(err, errlen, "model %s: %s is out of range [%g, %g]", k->name, flag, p->lo, p->hi);
            return -1;
        }
    }
    if (!k->check) return 0;
    void *r = tcd_model_config_resolved(k, cfg, shape);
    const int rc = k->check(r, shape, err, errlen);
    free(r);
    return rc;
}

/* Shortest text that reads back as the same double. */
static void put_f64(tcd_buf *b, double v) {
    char s[64];
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v);
    tcd_buf_printf(b, "%s", s);
}

static void put_value(tcd_buf *b, const void *cfg, const tcd_model_param *p) {
    const void *f = cfield(cfg, p);
    if (is_auto(cfg, p)) {
        tcd_buf_printf(b, "\"auto\"");
        return;
    }
    if (p->type == TCD_MP_I64) tcd_buf_printf(b, "%lld", (long long)*(const int64_t *)f);
    if (p->type == TCD_MP_F64) put_f64(b, *(const double *)f);
    if (p->type == TCD_MP_I64_LIST) {
        const tcd_i64_list *l = f;
        tcd_buf_putc(b, '[');
        for (int64_t i = 0; i < l->n; i++) tcd_buf_printf(b, "%s%lld", i ? ", " : "", (long long)l->v[i]);
        tcd_buf_putc(b, ']');
    }
}

char *tcd_model_config_members(const tcd_model_kind *k, const void *cfg) {
    tcd_buf b = {0};
    tcd_buf_reserve(&b, 64);
    b.data[0] = 0;
    for (const tcd_model_param *p = k->params; p->name; p++) {
        tcd_buf_printf(&b, "%s\"%s\": ", p == k->params ? "" : ", ", p->name);
        put_value(&b, cfg, p);
    }
    return b.data;
}

char *tcd_model_config_json(const tcd_model_kind *k, const void *cfg) {
    char *members = tcd_model_config_members(k, cfg);
    char *s = tcd_sprintf("{\"kind\": \"%s\"%s%s}", k->name, members[0] ? ", " : "", members);
    free(members);
    return s;
}

char *tcd_model_config_describe(const tcd_model_kind *k, const void *cfg) {
    tcd_buf b = {0};
    tcd_buf_printf(&b, "%s", k->name);
    for (const tcd_model_param *p = k->params; p->name; p++) {
        tcd_buf_printf(&b, " %s ", p->name);
        put_value(&b, cfg, p);
    }
    return b.data;
}

/* One JSON value into the parameter's field. 0, or -1 with a reason in why. */
static int json_value(const json_t *v, const tcd_model_param *p, void *f, char *why, size_t n) {
    if (can_auto(p) && json_is_string(v) && !strcmp(json_string_value(v), "auto")) {
        *(int64_t *)f = TCD_MP_AUTO;
        return 0;
    }
    if (p->type == TCD_MP_I64) {
        if (!json_is_integer(v)) return snprintf(why, n, "not an integer"), -1;
        *(int64_t *)f = (int64_t)json_integer_value(v);
        return 0;
    }
    if (p->type == TCD_MP_F64) {
        if (!json_is_number(v)) return snprintf(why, n, "not a number"), -1;
        *(double *)f = json_number_value(v);
        return 0;
    }
    tcd_i64_list *l = f;
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > TCD_MP_MAX_LIST)
        return snprintf(why, n, "not a list of 1 to %d integers", TCD_MP_MAX_LIST), -1;
    l->n = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x)) return snprintf(why, n, "item %zu is not an integer", i), -1;
        l->v[l->n++] = (int64_t)json_integer_value(x);
    }
    return 0;
}

int tcd_model_config_parse(const char *json, const tcd_model_kind **kind, void **cfg, char *err, size_t errlen) {
    *kind = NULL;
    *cfg = NULL;
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "model config: invalid JSON at byte %d: %s", je.position, je.text);
        return -1;
    }
    int rc = -1;
    const json_t *jk = json_object_get(root, "kind");
    const tcd_model_kind *k = NULL;
    if (!json_is_object(root) || !json_is_string(jk)) {
        snprintf(err, errlen, "model config: expected an object with a string \"kind\"");
        goto out;
    }
    k = tcd_model_kind_find(json_string_value(jk));
    if (!k) {
        snprintf(err, errlen, "model kind '%.64s' is unknown to this tcdist %s, which knows %s: a newer tcdist "
                 "wrote this file; upgrade tcdist to read it", json_string_value(jk), TCDIST_VERSION,
                 tcd_model_kind_names());
        rc = -2;
        goto out;
    }
    void *c = tcd_model_config_new(k);
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (!strcmp(key, "kind")) continue;
        const tcd_model_param *p = tcd_model_param_find(k, key);
        char why[128];
        if (!p) {
            snprintf(err, errlen, "model %s has no parameter '%.64s' in this tcdist %s: a newer tcdist wrote this "
                     "file; upgrade tcdist to read it", k->name, key, TCDIST_VERSION);
            free(c);
            rc = -2;
            goto out;
        }
        if (json_value(value, p, field(c, p), why, sizeof why) != 0) {
            snprintf(err, errlen, "model config: %s: %s", p->name, why);
            free(c);
            goto out;
        }
    }
    *kind = k;
    *cfg = c;
    rc = 0;
out:
    json_decref(root);
    return rc;
}
