/* One flag parser for every subcommand: a table of options, --help generated from it with the
 * current (default) values, and errors that name the flag. */
#ifndef TCD_ARGS_H
#define TCD_ARGS_H

#include <stdint.h>

typedef enum {
    TCD_OPT_FLAG,   /* int*: set to 1 when present */
    TCD_OPT_I64,    /* int64_t*, range [lo, hi] */
    TCD_OPT_F64,    /* double*, range [lo, hi] */
    TCD_OPT_STR,    /* const char**: points into argv */
    TCD_OPT_CHOICE, /* const char**: one of the '|'-separated words in `choices` */
    TCD_OPT_LIST,   /* tcd_str_list*: repeatable; each use appends (points into argv) */
} tcd_opt_type;

#define TCD_LIST_MAX 64
typedef struct {
    const char *v[TCD_LIST_MAX];
    int n;
} tcd_str_list;

typedef struct {
    const char *name;  /* "--dim" or "-o"; aliases separated by ',' e.g. "-o,--output" */
    tcd_opt_type type;
    void *ptr;
    const char *metavar; /* "N", "FILE"; NULL for flags */
    const char *help;
    double lo, hi;       /* for numbers; lo == hi == 0 means unbounded */
    const char *choices; /* for TCD_OPT_CHOICE: "tsv|csv|fasttext|jsonl" */
} tcd_opt;

/* Parses argv[1..argc-1] (argv[0] is the subcommand name). Positional arguments are returned in
 * *pos (an array of argv pointers, malloc'd) and *n_pos. Returns 0 on success, 1 if --help was
 * printed (caller exits 0), and 2 on a usage error (already printed, naming the flag). */
int tcd_args_parse(const char *usage, const char *description, const tcd_opt *opts, int argc,
                   char **argv, char ***pos, int *n_pos);

/* Was the option given on the command line in the last parse? (by any of its names) */
int tcd_args_given(const char *name);

#endif
