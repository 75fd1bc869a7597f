/* cmd_measure: `iopsd measure [OPTIONS] -- CMD [ARGS...]`: run a command with
 * its stdio untouched, measure it, print the report, exit with its status. */
#include "measure/backend.h"
#include "measure/findings.h"
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

static void measure_usage(FILE *f)
{
    fputs("Usage: iopsd measure [OPTIONS] -- CMD [ARGS...]\n"
          "\n"
          "Runs CMD with stdin, stdout and stderr untouched, measures the I/O of CMD and\n"
          "every process it starts, prints the report to stderr and exits with CMD's\n"
          "status (128+N if it died of signal N; 125 if iopsd failed, 126 if CMD cannot\n"
          "be executed, 127 if it is not found).\n"
          "\n"
          "Options:\n"
          "  -b, --backend NAME      auto (default), or one of:\n",
          f);
    for (const struct meas_backend *const *b = meas_backend_all(); *b; b++)
        fprintf(f, "                            %-8s %s\n", (*b)->name, (*b)->summary);
    fputs("  -o, --output FILE       write the report table to FILE, not stderr\n"
          "  -j, --json FILE         write the report as JSON to FILE ('-': stdout)\n"
          "      --html FILE         write the report as HTML (histograms embedded) to FILE\n"
          "      --png FILE          write the histograms as a PNG to FILE (trace backend)\n"
          "  -q, --quiet             print no table; only what --json etc. ask for\n"
          "  -i, --interval SECONDS  descriptor sampling interval (default 0.01)\n"
          "      --no-wait-descendants\n"
          "                          end the run when CMD exits, even if processes it\n"
          "                          started still run (they are counted until then)\n"
          "  -n, --top N             rows in the per-file table (default 10; 0: all)\n"
          "      --hist-kinds LIST   descriptor kinds the totals, histograms and file\n"
          "                          table cover (tracer): comma-separated among file,\n"
          "                          blockdev, chardev, pipe, socket, anon, or all\n"
          "                          (default file,blockdev)\n"
          "      --alert RULE=VALUE  a finding's threshold (RULE=off: no such finding);\n"
          "                          the rules and their defaults:\n",
          f);
    fputs(findings_help(), f);
    fputs("  -h, --help              show this help and exit\n", f);
}

/* Opens an output destination before the command runs, so that a bad path
 * fails early. "-" is stdout. Returns NULL with errno set on failure. */
static FILE *open_output(const char *path)
{
    if (!strcmp(path, "-"))
        return stdout;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

static int close_output(FILE *f, const char *path)
{
    if (!f)
        return 0;
    int bad = ferror(f);
    if (f == stdout || f == stderr)
        bad |= fflush(f);
    else
        bad |= fclose(f);
    if (bad) {
        cli_error("writing %s: %s", path, strerror(errno ? errno : EIO));
        return -EIO;
    }
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !(d > 0) || d > 3600)
        return -EINVAL;
    *out = d;
    return 0;
}

/* "file,pipe" or "all" -> a mask of (1u << enum fd_kind). */
int cmd_measure(int argc, char **argv)
{
    enum { OPT_NO_WAIT = 1000, OPT_WAIT, OPT_HTML, OPT_PNG, OPT_HIST_KINDS, OPT_ALERT };
    static const struct option longopts[] = {
        {"backend", required_argument, NULL, 'b'},
        {"output", required_argument, NULL, 'o'},
        {"json", required_argument, NULL, 'j'},
        {"html", required_argument, NULL, OPT_HTML},
        {"png", required_argument, NULL, OPT_PNG},
        {"quiet", no_argument, NULL, 'q'},
        {"interval", required_argument, NULL, 'i'},
        {"no-wait-descendants", no_argument, NULL, OPT_NO_WAIT},
        {"wait-descendants", no_argument, NULL, OPT_WAIT},
        {"top", required_argument, NULL, 'n'},
        {"hist-kinds", required_argument, NULL, OPT_HIST_KINDS},
        {"alert", required_argument, NULL, OPT_ALERT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *backend_name = "auto", *output_path = NULL, *json_path = NULL;
    const char *html_path = NULL, *png_path = NULL;
    bool quiet = false;
    struct meas_opts mo;
    meas_opts_init(&mo);
    struct findings_opts fo;
    findings_opts_init(&fo);
    char ferr[160];

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+b:o:j:qi:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            backend_name = optarg;
            break;
        case 'o':
            output_path = optarg;
            break;
        case 'j':
            json_path = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case OPT_HTML:
            html_path = optarg;
            break;
        case OPT_PNG:
            png_path = optarg;
            break;
        case 'i':
            if (parse_double(optarg, &mo.fd_interval)) {
                cli_error("--interval: '%s' is not a number of seconds in (0, 3600]", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_NO_WAIT:
            mo.wait_descendants = false;
            break;
        case OPT_WAIT:
            mo.wait_descendants = true;
            break;
        case 'n':
            if (cli_parse_top(optarg, &mo.top_files))
                return EXIT_USAGE;
            break;
        case OPT_HIST_KINDS:
            if (meas_parse_kinds(optarg, &mo.hist_kinds)) {
                cli_error("--hist-kinds: '%s' is not a list of descriptor kinds", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_ALERT:
            if (findings_parse_alert(&fo, optarg, ferr, sizeof ferr)) {
                cli_error("%s", ferr);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            measure_usage(stdout);
            return 0;
        default:
            if (optopt)
                cli_error("measure: option '-%c' %s", optopt,
                          strchr("bojin", optopt) ? "needs an argument" : "is unknown");
            else
                cli_error("measure: unknown or incomplete option '%s'", argv[optind - 1]);
            fputs("Try 'iopsd measure --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("measure: no command given");
        fputs("Usage: iopsd measure [OPTIONS] -- CMD [ARGS...]\n", stderr);
        return EXIT_USAGE;
    }
    char **cmd = argv + optind;

    char err[512] = "";
    const struct meas_backend *be = meas_backend_get(backend_name, err, sizeof(err));
    if (!be) {
        cli_error("%s", err);
        return strstr(err, "unknown backend") ? EXIT_USAGE : EXIT_IOPSD_FAILED;
    }

    FILE *table = NULL, *json = NULL, *html = NULL, *png = NULL;
    if (!quiet || output_path) {
        table = output_path ? open_output(output_path) : stderr;
        if (!table) {
            cli_error("cannot open %s: %s", output_path, strerror(errno));
            return EXIT_IOPSD_FAILED;
        }
    }
    if (json_path && !(json = open_output(json_path))) {
        cli_error("cannot open %s: %s", json_path, strerror(errno));
        if (table && table != stderr)
            fclose(table);
        return EXIT_IOPSD_FAILED;
    }
    if ((html_path && !(html = open_output(html_path))) ||
        (png_path && !(png = open_output(png_path)))) {
        cli_error("cannot open %s: %s", html_path && !html ? html_path : png_path, strerror(errno));
        if (table && table != stderr)
            fclose(table);
        if (json && json != stdout)
            fclose(json);
        if (html && html != stdout)
            fclose(html);
        return EXIT_IOPSD_FAILED;
    }
    fflush(stdout);
    fflush(stderr);

    struct report r;
    report_init(&r);
    int rc = be->run(&mo, cmd, &r, err, sizeof(err));
    int status;
    if (rc < 0) {
        cli_error("%s", err[0] ? err : strerror(-rc));
        status = EXIT_IOPSD_FAILED;
    } else if (r.exec_errno) {
        cli_error("%s", r.error);
        status = r.exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
    } else {
        status = r.exited ? r.exit_status : 128 + r.term_signal;
        findings_compute(&r, &fo);
        if (table) {
            struct buf b;
            buf_init(&b, 0);
            render_text(&r, &b);
            fwrite(b.data, 1, b.len, table);
            buf_release(&b);
        }
        if (json) {
            char *s = report_to_json_text(&r);
            fputs(s, json);
            free(s);
        }
        if (html) {
            struct buf b;
            buf_init(&b, 0);
            render_html(&r, NULL, &b);
            fwrite(b.data, 1, b.len, html);
            buf_release(&b);
        }
        if (png) {
            struct buf b;
            buf_init(&b, 0);
            if (render_png(&r, NULL, &b, NULL) == 0) {
                fwrite(b.data, 1, b.len, png);
            } else {
                cli_error("--png: no histograms to draw (they need --backend trace); "
                          "%s not written",
                          png_path);
                if (png != stdout)
                    unlink(png_path);
            }
            buf_release(&b);
        }
    }
    if (table && close_output(table, output_path ? output_path : "stderr") && status == 0)
        status = EXIT_IOPSD_FAILED;
    if (json && close_output(json, json_path) && status == 0)
        status = EXIT_IOPSD_FAILED;
    if (html && close_output(html, html_path) && status == 0)
        status = EXIT_IOPSD_FAILED;
    if (png && close_output(png, png_path) && status == 0)
        status = EXIT_IOPSD_FAILED;
    report_release(&r);
    return status;
}
