/* The option parser (src/cli/args.c): the input, split at NUL bytes, is argv after the
 * subcommand, parsed against a table with every kind of option, aliases and bounds. */
#include "cli/args.h"
#include "fuzz_common.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a NUL-terminated copy, cut into arguments */
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "train";
    for (size_t i = 0; i <= size && argc <= MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;

    int flag = 0;
    int64_t dim = 16, big = 0, any = 0;
    double lr = 0.1, pos = 0, anyf = 0;
    const char *out = NULL, *fmt = "tsv";
    tcd_str_list models = {0};
    const tcd_opt opts[] = {
        {"--flag,-f", TCD_OPT_FLAG, &flag, NULL, "a flag", 0, 0, NULL},
        {"--dim", TCD_OPT_I64, &dim, "N", "bounded", 1, 4096, NULL},
        {"--big", TCD_OPT_I64, &big, "N", "near the int64 ends", -9.3e18, 9.3e18, NULL},
        {"--any", TCD_OPT_I64, &any, "N", "unbounded", 0, 0, NULL},
        {"--lr", TCD_OPT_F64, &lr, "X", "bounded", 1e-9, 10, NULL},
        {"--pos", TCD_OPT_F64, &pos, "X", "non-negative", 0, 1e300, NULL},
        {"--anyf", TCD_OPT_F64, &anyf, "X", "unbounded", 0, 0, NULL},
        {"-o,--output", TCD_OPT_STR, &out, "FILE", "a string", 0, 0, NULL},
        {"--format", TCD_OPT_CHOICE, &fmt, "F", "a choice", 0, 0, "tsv|csv|fasttext|jsonl"},
        {"--model,-m", TCD_OPT_LIST, &models, "M", "repeatable", 0, 0, NULL},
        {NULL, 0, NULL, NULL, NULL, 0, 0, NULL},
    };
    char **positional = NULL;
    int n_pos = 0;
    int saved = fuzz_quiet_begin();
    int saved_out = -1;
    if (saved >= 0) { /* --help prints to stdout */
        fflush(stdout);
        saved_out = dup(1);
        dup2(2, 1);
    }
    int rc = tcd_args_parse("tcdist train [options]", "fuzzing", opts, argc, argv, &positional, &n_pos);
    if (saved_out >= 0) {
        fflush(stdout);
        dup2(saved_out, 1);
        close(saved_out);
    }
    fuzz_quiet_end(saved);
    if (rc != 0 && rc != 1 && rc != 2) abort();
    if (rc == 0) {
        if (n_pos < 0 || n_pos >= argc) abort();
        for (int i = 0; i < n_pos; i++)
            if (!positional[i]) abort();
        if (dim < 1 || dim > 4096 || !(lr >= 1e-9 && lr <= 10) || !(pos >= 0)) abort(); /* bounds hold */
        if (strcmp(fmt, "tsv") && strcmp(fmt, "csv") && strcmp(fmt, "fasttext") && strcmp(fmt, "jsonl")) abort();
        if (models.n < 0 || models.n > TCD_LIST_MAX) abort();
        for (int i = 0; i < models.n; i++)
            if (!models.v[i]) abort();
        (void)tcd_args_given("--dim");
        (void)tcd_args_given("-o");
        free(positional);
    }
    free(buf);
    return 0;
}
