/* tcdist: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "tcdist.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"synth", tcd_cmd_synth, "generate a seeded synthetic labelled corpus (text)"},
    {"prepare", tcd_cmd_prepare, "raw text (TSV, CSV, fastText, JSONL) -> tokenized corpus (HDF5)"},
    {"inspect", tcd_cmd_inspect, "summarise a corpus, model or checkpoint file"},
    {"train", tcd_cmd_train, "train a classifier (alone, or under mpirun/srun: data-parallel)"},
    {"tune", tcd_cmd_tune, "search hyperparameters: quasi-random points, successive halving, parallel trials"},
    {"eval", tcd_cmd_eval, "accuracy, loss, per-class P/R/F1 and confusion matrix on a corpus"},
    {"predict", tcd_cmd_predict, "label raw text (one document per line) or a prepared corpus (--data)"},
    {"plot", tcd_cmd_plot, "training loss and validation accuracy of one or more runs, as SVG"},
    {"serve", tcd_cmd_serve, "serve models over HTTP (Open Inference Protocol v2, TF Serving style, metrics)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: tcdist COMMAND [options]   (tcdist COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n  --version  print the version\n  --help     this text\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return TCD_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return TCD_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("tcdist %s\n", TCDIST_VERSION);
        return TCD_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tcdist: error: unknown command '%s'\n", cmd);
    usage(stderr);
    return TCD_EXIT_USAGE;
}
