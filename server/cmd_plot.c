/* cmd_plot: `iopsd plot` draws a recording's per-process series (see
 * measure/record_series.h) as a PNG chart, and can dump the computed series
 * as JSON. */
#include "measure/record.h"
#include "measure/record_series.h"
#include "render/render.h"
#include "server/cli.h"
#include "server/record_pids.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("Usage: iopsd plot -d FILE -q QUERY [OPTIONS]\n"
          "\n"
          "Draws one line per process of a recording made by 'iopsd record' (or by\n"
          "Procpath, for the columns it has) over the time since its first sample.\n"
          "Rates are differences between consecutive samples of the same pid divided\n"
          "by the time between them; then a moving average and a Ramer-Douglas-Peucker\n"
          "reduction.\n"
          "\n"
          "Queries:\n"
          "  rbs    read bytes per second (io_read_bytes)\n"
          "  wbs    write bytes per second (io_write_bytes)\n"
          "  iops   read and write calls per second (io_syscr + io_syscw)\n"
          "  fds    open descriptors (sum of the fd_* columns)\n"
          "  rss    resident set size in MiB (stat_rss x page_size)\n"
          "  cpu    CPU usage in % of one CPU (stat_utime + stat_stime)\n"
          "\n"
          "Options:\n"
          "  -d, --database-file FILE   the recording (.sqlite, or JSON Lines)\n"
          "  -q, --query QUERY          what to draw (above)\n"
          "  -p, --pid PID[,PID...]     only these processes (default: all; at most\n"
          "                             10 lines are drawn, those with the largest means)\n"
          "  -w, --moving-average-window W  average W consecutive points (default 1)\n"
          "  -e, --epsilon E            Ramer-Douglas-Peucker tolerance as a fraction of\n"
          "                             the chart (0..1; default 0: no reduction)\n"
          "  -o, --output FILE          the PNG (default plot.png; '-' for stdout)\n"
          "      --dump-series FILE     also write the computed series as JSON ('-':\n"
          "                             stdout)\n"
          "  -h, --help                 show this help and exit\n"
          "\n"
          "Example: iopsd plot -d run.sqlite -q wbs -w 3 -o wbs.png\n",
          f);
}

int cmd_plot(int argc, char **argv)
{
    enum { OPT_DUMP = 1000 };
    static const struct option longopts[] = {
        {"database-file", required_argument, NULL, 'd'},
        {"query", required_argument, NULL, 'q'},
        {"pid", required_argument, NULL, 'p'},
        {"moving-average-window", required_argument, NULL, 'w'},
        {"window", required_argument, NULL, 'w'},
        {"epsilon", required_argument, NULL, 'e'},
        {"output", required_argument, NULL, 'o'},
        {"dump-series", required_argument, NULL, OPT_DUMP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *query = NULL, *out = "plot.png", *dump = NULL;
    int64_t pids[RECORD_MAX_PIDS];
    size_t npids = 0;
    unsigned long window = 1;
    double eps = 0;
    int c;
    char *end;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:q:p:w:e:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            path = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case 'p':
            if (record_parse_pids("--pid", optarg, pids, RECORD_MAX_PIDS, &npids) < 0)
                return EXIT_USAGE;
            break;
        case 'w':
            errno = 0;
            window = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || window < 1 ||
                window > 100000) {
                cli_error("plot: --moving-average-window: '%s' is not a count in 1..100000",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case 'e':
            errno = 0;
            eps = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(eps >= 0) || eps > 1) {
                cli_error("plot: --epsilon: '%s' is not a number in 0..1", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'o':
            out = optarg;
            break;
        case OPT_DUMP:
            dump = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (optopt && optopt < 256)
                cli_error("plot: option '-%c' %s", optopt,
                          strchr("dqpweo", optopt) ? "needs an argument" : "is unknown");
            else
                cli_error("plot: option '%s' is unknown or needs an argument", argv[optind - 1]);
            fputs("Try 'iopsd plot --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("plot: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!path || !query) {
        cli_error("plot: -d FILE and -q QUERY are required (QUERY: rbs, wbs, iops, fds, rss, "
                  "cpu)");
        return EXIT_USAGE;
    }
    enum rec_query q;
    if (rec_query_parse(query, &q) < 0) {
        cli_error("plot: unknown query '%s' (rbs, wbs, iops, fds, rss, cpu)", query);
        return EXIT_USAGE;
    }

    struct rec_data d;
    struct rec_plot p = {0};
    struct buf png = BUF_INIT, js = BUF_INIT;
    char err[512];
    int rc = 0;
    rec_data_init(&d);
    if (rec_read(path, &d, err, sizeof(err)) < 0) {
        cli_error("plot: %s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    if (rec_series_build(&d, q, pids, npids, &p, err, sizeof(err)) < 0) {
        cli_error("plot: %s: %s", path, err);
        rc = EXIT_USAGE;
        goto out;
    }
    rec_plot_reduce(&p, window, eps);
    if (dump) {
        rec_plot_to_json(&p, &js);
        if (cli_write_file(dump, js.data ? js.data : "", js.len) < 0) {
            rc = EXIT_IOPSD_FAILED;
            goto out;
        }
    }
    size_t drawn_points = 0;
    for (size_t i = 0; i < p.n; i++)
        drawn_points += p.s[i].n;
    if (p.n == 0 || drawn_points == 0) {
        cli_error("plot: %s: nothing to draw for '%s'%s (%zu rows)", path, query,
                  npids ? " and these pids" : "", d.n);
        rc = 1;
        goto out;
    }
    size_t omitted = 0;
    int r = render_plot_png(&p, &png, &omitted);
    if (r < 0) {
        cli_error("plot: drawing the chart failed: %s", strerror(-r));
        rc = EXIT_IOPSD_FAILED;
        goto out;
    }
    if (omitted)
        cli_error("plot: %zu of %zu processes not drawn (the smallest means); choose with --pid",
                  omitted, p.n);
    if (cli_write_file(out, png.data, png.len) < 0)
        rc = EXIT_IOPSD_FAILED;
out:
    buf_release(&png);
    buf_release(&js);
    rec_plot_release(&p);
    rec_data_release(&d);
    return rc;
}
