/* Table-driven flag parsing; see args.h. */
#include "cli/args.h"

#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_GIVEN 128
static const char *given[MAX_GIVEN];
static int n_given;

static int name_matches(const char *names, const char *arg, size_t arg_len) {
    const char *p = names;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == arg_len && strncmp(p, arg, n) == 0) return 1;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int tcd_args_given(const char *name) {
    for (int i = 0; i < n_given; i++)
        if (name_matches(given[i], name, strlen(name))) return 1;
    return 0;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    const char *p = choices;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        if (!bar) return 0;
        p = bar + 1;
    }
}

static void print_help(const char *usage, const char *description, const tcd_opt *opts) {
    printf("usage: %s\n\n%s\n\noptions:\n", usage, description);
    for (const tcd_opt *o = opts; o->name; o++) {
        char left[128];
        if (o->metavar)
            snprintf(left, sizeof left, "%s %s", o->name, o->metavar);
        else
            snprintf(left, sizeof left, "%s", o->name);
        char def[96] = "";
        switch (o->type) {
        case TCD_OPT_I64: snprintf(def, sizeof def, " [%lld]", (long long)*(int64_t *)o->ptr); break;
        case TCD_OPT_F64: snprintf(def, sizeof def, " [%g]", *(double *)o->ptr); break;
        case TCD_OPT_STR:
        case TCD_OPT_CHOICE:
            if (*(const char **)o->ptr) snprintf(def, sizeof def, " [%s]", *(const char **)o->ptr);
            break;
        default: break;
        }
        printf("  %-28s %s%s\n", left, o->help, def);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help and exit");
}

int tcd_args_parse(const char *usage, const char *description, const tcd_opt *opts, int argc,
                   char **argv, char ***pos, int *n_pos) {
    n_given = 0;
    char **positional = tcd_calloc((size_t)argc + 1, sizeof(char *));
    int np = 0;
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
            positional[np++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help(usage, description, opts);
            free(positional);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const tcd_opt *o = opts;
        for (; o->name; o++)
            if (name_matches(o->name, a, name_len)) break;
        if (!o->name) {
            fprintf(stderr, "tcdist: error: unknown option '%.*s'\nusage: %s\n(see --help)\n",
                    (int)name_len, a, usage);
            free(positional);
            return 2;
        }
        if (n_given < MAX_GIVEN) given[n_given++] = o->name;
        if (o->type == TCD_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "tcdist: error: option '%.*s' takes no value\n", (int)name_len, a);
                free(positional);
                return 2;
            }
            *(int *)o->ptr = 1;
            continue;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "tcdist: error: option '%s' needs a value (%s)\n", a,
                    o->metavar ? o->metavar : "VALUE");
            free(positional);
            return 2;
        }
        char err[256];
        int bad = 0;
        if (o->type == TCD_OPT_I64) {
            int64_t lo = INT64_MIN, hi = INT64_MAX;
            if (o->lo != 0 || o->hi != 0) {
                /* bounds are doubles in the table: clamp before converting (INT64_MAX rounds up) */
                lo = o->lo <= -9.2e18 ? INT64_MIN : (int64_t)o->lo;
                hi = o->hi >= 9.2e18 ? INT64_MAX : (int64_t)o->hi;
            }
            bad = tcd_parse_i64(val, lo, hi, (int64_t *)o->ptr, err, sizeof err);
        } else if (o->type == TCD_OPT_F64) {
            double lo = -DBL_MAX, hi = DBL_MAX;
            if (o->lo != 0 || o->hi != 0) {
                lo = o->lo;
                hi = o->hi;
            }
            bad = tcd_parse_f64(val, lo, hi, (double *)o->ptr, err, sizeof err);
        } else if (o->type == TCD_OPT_CHOICE) {
            if (!choice_ok(o->choices, val)) {
                snprintf(err, sizeof err, "'%s' is not one of %s", val, o->choices);
                bad = -1;
            } else
                *(const char **)o->ptr = val;
        } else if (o->type == TCD_OPT_LIST) {
            tcd_str_list *l = o->ptr;
            if (l->n == TCD_LIST_MAX) {
                snprintf(err, sizeof err, "given more than %d times", TCD_LIST_MAX);
                bad = -1;
            } else
                l->v[l->n++] = val;
        } else {
            *(const char **)o->ptr = val;
        }
        if (bad) {
            fprintf(stderr, "tcdist: error: option '%.*s': %s\n", (int)name_len, a, err);
            free(positional);
            return 2;
        }
    }
    *pos = positional;
    *n_pos = np;
    return 0;
}
