/* tcdist: data-parallel neural text classifiers for CPU clusters.
 * Public entry points of the core library (libtcdist_core). Each subcommand is a function
 * taking argc/argv after the subcommand name; it returns a process exit status. */
#ifndef TCDIST_H
#define TCDIST_H

#ifndef TCDIST_VERSION
#define TCDIST_VERSION "0.0.0"
#endif

/* Exit statuses shared by every subcommand (documented in README.md). */
enum {
    TCD_EXIT_OK = 0,
    TCD_EXIT_ERROR = 1,       /* bad input, bad configuration, I/O failure */
    TCD_EXIT_USAGE = 2,       /* unknown or malformed flag */
    TCD_EXIT_INTERRUPTED = 3, /* stopped by a signal after writing a checkpoint; resumable */
};

int tcd_cmd_prepare(int argc, char **argv);
int tcd_cmd_inspect(int argc, char **argv);
int tcd_cmd_synth(int argc, char **argv);
int tcd_cmd_train(int argc, char **argv);
int tcd_cmd_tune(int argc, char **argv);
int tcd_cmd_eval(int argc, char **argv);
int tcd_cmd_predict(int argc, char **argv);
int tcd_cmd_plot(int argc, char **argv);
int tcd_cmd_serve(int argc, char **argv);

#endif
