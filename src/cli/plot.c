/* tcdist plot: training loss and validation accuracy against steps, for one run or several
 * overlaid (a sweep), as an SVG file written directly (no plotting library on the nodes). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "tcdist.h"
#include "base/util.h"

typedef struct {
    double *x, *y;
    int64_t n, cap;
} series;

typedef struct {
    const char *name;
    series loss, acc;
} run_curves;

static void series_add(series *s, double x, double y) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = tcd_realloc(s->x, sizeof(double) * (size_t)s->cap);
        s->y = tcd_realloc(s->y, sizeof(double) * (size_t)s->cap);
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

/* The number after "key": in one metrics.jsonl line (written by train, so flat and simple). */
static int field(const char *line, const char *key, double *out) {
    const double v = tcd_json_number(line, key);
    if (!isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int read_run(run_curves *r, const char *dir) {
    char *path = tcd_sprintf("%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        tcd_error("plot: %s: cannot open (%s); is %s a run dir?", path, strerror(errno), dir);
        free(path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int64_t line_no = 0;
    while (getline(&line, &cap, f) >= 0) {
        line_no++;
        double step, v;
        if (strstr(line, "\"type\": \"train\"")) {
            if (field(line, "step", &step) == 0 && field(line, "loss", &v) == 0) series_add(&r->loss, step, v);
        } else if (strstr(line, "\"type\": \"valid\"")) {
            if (field(line, "step", &step) == 0 && field(line, "accuracy", &v) == 0) series_add(&r->acc, step, v);
        }
    }
    free(line);
    fclose(f);
    if (r->loss.n == 0) {
        tcd_error("plot: %s: no training records in %lld lines", path, (long long)line_no);
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks over [lo, hi]. */
static double tick_step(double lo, double hi, int n) {
    double raw = (hi - lo) / n;
    if (!(raw > 0)) return 1;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* One panel: axes, ticks, a polyline per run (runs without data are skipped). */
static void panel(tcd_buf *b, double px, double py, double w, double h, const char *title, run_curves *runs, int n,
                  int acc) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int any = 0;
    for (int i = 0; i < n; i++) {
        series *s = acc ? &runs[i].acc : &runs[i].loss;
        for (int64_t k = 0; k < s->n; k++) {
            x0 = fmin(x0, s->x[k]), x1 = fmax(x1, s->x[k]);
            y0 = fmin(y0, s->y[k]), y1 = fmax(y1, s->y[k]);
            any = 1;
        }
    }
    tcd_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\">%s</text>\n", px + w / 2,
                   py - 8, title);
    tcd_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
                   px, py, w, h);
    if (!any) {
        tcd_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" fill=\"#888\">"
                          "no %s records (train with --valid)</text>\n",
                       px + w / 2, py + h / 2, acc ? "validation" : "training");
        return;
    }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + (fabs(y0) > 0 ? fabs(y0) * 0.1 : 1);
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    double xs = tick_step(x0, x1, 5), ys = tick_step(y0, y1, 5);
    for (double t = ceil(x0 / xs) * xs; t <= x1 + 1e-9 * xs; t += xs) {
        double X = px + (t - x0) / (x1 - x0) * w;
        tcd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                       X, py, X, py + h, X, py + h + 14, t);
    }
    for (double t = ceil(y0 / ys) * ys; t <= y1 + 1e-9 * ys; t += ys) {
        if (fabs(t) < 1e-9 * ys) t = 0; /* not "-0" */
        double Y = py + h - (t - y0) / (y1 - y0) * h;
        tcd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                       px, Y, px + w, Y, px - 5, Y + 4, t);
    }
    tcd_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">step</text>\n", px + w / 2,
                   py + h + 30);
    for (int i = 0; i < n; i++) {
        series *s = acc ? &runs[i].acc : &runs[i].loss;
        if (s->n == 0) continue;
        tcd_buf_printf(b, "<polyline class=\"run%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", i,
                       colors[i % 10]);
        for (int64_t k = 0; k < s->n; k++)
            tcd_buf_printf(b, "%.1f,%.1f ", px + (s->x[k] - x0) / (x1 - x0) * w,
                           py + h - (s->y[k] - y0) / (y1 - y0) * h);
        tcd_buf_printf(b, "\"/>\n");
        if (s->n == 1 || acc)
            for (int64_t k = 0; k < s->n; k++)
                tcd_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                               px + (s->x[k] - x0) / (x1 - x0) * w, py + h - (s->y[k] - y0) / (y1 - y0) * h,
                               colors[i % 10]);
    }
}

/* XML-escaped text. */
static void xml_text(tcd_buf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': tcd_buf_append(b, "&lt;", 4); break;
        case '>': tcd_buf_append(b, "&gt;", 4); break;
        case '&': tcd_buf_append(b, "&amp;", 5); break;
        case '"': tcd_buf_append(b, "&quot;", 6); break;
        default: tcd_buf_putc(b, *s);
        }
    }
}

int tcd_cmd_plot(int argc, char **argv) {
    const char *out = NULL, *title = NULL;
    const tcd_opt opts[] = {
        {"-o,--output", TCD_OPT_STR, &out, "OUT.svg", "where to write (default: RUN_DIR/plot.svg for one run, plot.svg for several)"},
        {"--title", TCD_OPT_STR, &title, "TEXT", "a title above the panels"},
        {0},
    };
    char **pos = NULL;
    int n_pos = 0;
    int prc = tcd_args_parse("tcdist plot RUN_DIR [RUN_DIR...] [-o OUT.svg] [--title TEXT]",
                             "Draws training loss and validation accuracy against steps from each run dir's\n"
                             "metrics.jsonl, several runs overlaid in one SVG (one colour per run).",
                             opts, argc, argv, &pos, &n_pos);
    if (prc == 1) return TCD_EXIT_OK;
    if (prc == 2) return TCD_EXIT_USAGE;
    if (n_pos < 1) {
        tcd_error("plot: give at least one RUN_DIR (see tcdist plot --help)");
        free(pos);
        return TCD_EXIT_USAGE;
    }
    run_curves *runs = tcd_calloc((size_t)n_pos, sizeof(run_curves));
    int rc = TCD_EXIT_OK;
    for (int i = 0; i < n_pos && rc == TCD_EXIT_OK; i++) {
        runs[i].name = pos[i];
        if (read_run(&runs[i], pos[i]) != 0) rc = TCD_EXIT_ERROR;
    }
    char *path = NULL;
    if (rc == TCD_EXIT_OK) {
        const double W = 960, H = 420 + 18.0 * n_pos;
        tcd_buf b = {0};
        tcd_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                           "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                       W, H);
        if (title) {
            tcd_buf_printf(&b, "<text x=\"%.0f\" y=\"22\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
            xml_text(&b, title);
            tcd_buf_printf(&b, "</text>\n");
        }
        panel(&b, 70, 60, 380, 280, "training loss", runs, n_pos, 0);
        panel(&b, 550, 60, 380, 280, "validation accuracy", runs, n_pos, 1);
        for (int i = 0; i < n_pos; i++) {
            double y = 400 + 18.0 * i;
            tcd_buf_printf(&b, "<line x1=\"70\" y1=\"%.0f\" x2=\"95\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"/>"
                               "<text x=\"102\" y=\"%.0f\" font-size=\"12\">",
                           y - 4, y - 4, colors[i % 10], y);
            xml_text(&b, runs[i].name);
            tcd_buf_printf(&b, "</text>\n");
        }
        tcd_buf_printf(&b, "</svg>\n");
        path = out ? tcd_strdup(out) : n_pos == 1 ? tcd_sprintf("%s/plot.svg", pos[0]) : tcd_strdup("plot.svg");
        char *tmp = tcd_tmp_path_for(path);
        FILE *f = fopen(tmp, "w");
        int ok = f && fwrite(b.data, 1, b.len, f) == b.len;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok || tcd_commit_file(tmp, path) != 0) {
            tcd_error("plot: %s: cannot write (%s)", path, strerror(errno));
            remove(tmp);
            rc = TCD_EXIT_ERROR;
        } else
            tcd_info("plot: %s (%d run%s)", path, n_pos, n_pos > 1 ? "s" : "");
        free(tmp);
        tcd_buf_free(&b);
    }
    for (int i = 0; i < n_pos; i++) {
        free(runs[i].loss.x), free(runs[i].loss.y), free(runs[i].acc.x), free(runs[i].acc.y);
    }
    free(runs);
    free(path);
    free(pos);
    return rc;
}
