/* cmd_render: `iopsd render REPORT.json [--text FILE] [--html FILE] [--png
 * FILE]`: turns a saved report (from `iopsd measure --json`) into the text
 * table, the HTML table and the histogram PNG. */
#include "measure/report_json.h"
#include "render/render.h"
#include "server/cli.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A report JSON larger than this is refused (a real one is a few KB). */
#define RENDER_INPUT_MAX (16u << 20)

static void render_usage(FILE *f)
{
    fputs("Usage: iopsd render [OPTIONS] REPORT.json\n"
          "\n"
          "Reads a report saved by 'iopsd measure --json FILE' ('-': stdin) and writes\n"
          "its text table, HTML table and histogram PNG. With no --text, --html or\n"
          "--png, prints the text table to stdout.\n"
          "\n"
          "Options:\n"
          "  -t, --text FILE       write the text table to FILE ('-': stdout)\n"
          "  -H, --html FILE       write the HTML table (histograms embedded) to FILE\n"
          "  -p, --png FILE        write the histograms as a PNG to FILE; when the\n"
          "                        report has no histograms, no file is written and\n"
          "                        the exit status is 3\n"
          "      --no-histograms   leave the histograms out of the text and HTML\n"
          "      --ascii           text table in ASCII only (no UTF-8 symbols)\n"
          "  -n, --top N           rows of the per-file table shown (default: all saved)\n"
          "  -h, --help            show this help and exit\n",
          f);
}

/* Reads all of fd (a pipe too: no pread) into b, capped by b->max. */
static int slurp_stream(struct buf *b, int fd)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (buf_append(b, chunk, (size_t)n) < 0)
            return -EFBIG;
    }
}

static int load_report(const char *path, struct report *r)
{
    struct buf in;
    buf_init(&in, RENDER_INPUT_MAX);
    int rc = strcmp(path, "-") ? buf_slurp(&in, path, RENDER_INPUT_MAX)
                               : slurp_stream(&in, STDIN_FILENO);
    if (rc == -EFBIG || rc == -E2BIG) {
        cli_error("%s: larger than %u MiB, not a report", path, RENDER_INPUT_MAX >> 20);
        buf_release(&in);
        return -1;
    }
    if (rc) {
        cli_error("cannot read %s: %s", path, strerror(-rc));
        buf_release(&in);
        return -1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(in.data ? in.data : "", in.len, 0, &jerr);
    buf_release(&in);
    if (!doc) {
        cli_error("%s: not JSON (line %d: %s)", path, jerr.line, jerr.text);
        return -1;
    }
    char err[256] = "";
    rc = report_from_json(doc, r, err, sizeof(err));
    json_decref(doc);
    if (rc) {
        cli_error("%s: not an iopsd report: %s", path, err[0] ? err : strerror(-rc));
        return -1;
    }
    return 0;
}

int cmd_render(int argc, char **argv)
{
    enum { OPT_NO_HIST = 1000, OPT_ASCII };
    static const struct option longopts[] = {
        {"text", required_argument, NULL, 't'},  {"html", required_argument, NULL, 'H'},
        {"png", required_argument, NULL, 'p'},   {"no-histograms", no_argument, NULL, OPT_NO_HIST},
        {"ascii", no_argument, NULL, OPT_ASCII}, {"top", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *text_path = NULL, *html_path = NULL, *png_path = NULL;
    struct render_opts o;
    render_opts_init(&o);

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "t:H:p:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            text_path = optarg;
            break;
        case 'H':
            html_path = optarg;
            break;
        case 'p':
            png_path = optarg;
            break;
        case OPT_NO_HIST:
            o.histograms = false;
            break;
        case OPT_ASCII:
            o.ascii = true;
            break;
        case 'n':
            if (cli_parse_top(optarg, &o.top_files))
                return EXIT_USAGE;
            break;
        case 'h':
            render_usage(stdout);
            return 0;
        default:
            if (optopt)
                cli_error("render: option '-%c' %s", optopt,
                          strchr("tHpn", optopt) ? "needs an argument" : "is unknown");
            else
                cli_error("render: unknown or incomplete option '%s'", argv[optind - 1]);
            fputs("Try 'iopsd render --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error(optind >= argc ? "render: no report given" : "render: one report at a time");
        fputs("Usage: iopsd render [OPTIONS] REPORT.json\n", stderr);
        return EXIT_USAGE;
    }
    if (!text_path && !html_path && !png_path)
        text_path = "-";

    struct report r;
    report_init(&r);
    if (load_report(argv[optind], &r)) {
        report_release(&r);
        return 1;
    }
    int status = 0;
    struct buf b;
    buf_init(&b, 0);
    if (text_path) {
        int rc = render_text_opts(&r, &o, &b);
        if (rc || cli_write_file(text_path, b.data, b.len))
            status = 1;
        buf_reset(&b);
    }
    if (html_path) {
        int rc = render_html(&r, &o, &b);
        if (rc || cli_write_file(html_path, b.data, b.len))
            status = 1;
        buf_reset(&b);
    }
    if (png_path) {
        int rc = render_png(&r, &o, &b, NULL);
        if (rc == -ENODATA) {
            cli_error("%s: no histograms to draw (the report needs the trace backend)",
                      argv[optind]);
            if (!status)
                status = 3;
        } else if (rc) {
            cli_error("rendering the PNG failed: %s", strerror(-rc));
            status = 1;
        } else if (cli_write_file(png_path, b.data, b.len)) {
            status = 1;
        }
    }
    buf_release(&b);
    report_release(&r);
    return status;
}
