/* cmd_import: `iopsd import fs_usage FILE [OPTIONS]`: a report built from a
 * saved `fs_usage -w` log (captured on a Mac, analysed anywhere). The log is
 * streamed through a fixed buffer, so its size does not matter. */
#include "measure/fsusage.h"
#include "measure/report_json.h"
#include "render/render.h"
#include "server/cli.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit statuses of `iopsd import` (see docs/fs_usage.md). */
#define EXIT_IMPORT_IO     1  /* the log or an output file cannot be read/written */
#define EXIT_IMPORT_NODATA 65 /* no fs_usage line in the log (EX_DATAERR) */

static int import_render_png(const struct report *r, struct buf *out)
{
    return render_png(r, NULL, out, NULL);
}

static int import_render_html(const struct report *r, struct buf *out)
{
    return render_html(r, NULL, out);
}

static void import_usage(FILE *f)
{
    fputs("Usage: iopsd import fs_usage FILE [OPTIONS]\n"
          "\n"
          "Builds a report from a saved macOS fs_usage log ('-': standard input), e.g.\n"
          "one captured with:  sudo fs_usage -w -f filesys PID > log\n"
          "Prints the report table to stdout (to stderr when --json is '-').\n"
          "\n"
          "Options:\n"
          "  -p, --process NAME  only lines of this process name (the part of the last\n"
          "                      column before its last '.'; exact match)\n"
          "  -o, --output FILE   write the report table to FILE\n"
          "  -j, --json FILE     write the report as JSON to FILE ('-': stdout)\n"
          "      --png FILE      write the histograms as a PNG\n"
          "      --html FILE     write the report as an HTML fragment\n"
          "  -n, --top N         rows in the per-file table (default 10; 0: all)\n"
          "  -q, --quiet         print no table and no summary line\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Exit status: 0 ok, 1 a file cannot be read or written, 2 usage error,\n"
          "65 the input holds no fs_usage line (or none of --process NAME).\n",
          f);
}

static int render_to(const char *path, const char *what, const struct report *r,
                     int (*fn)(const struct report *, struct buf *))
{
    struct buf b;
    buf_init(&b, 0);
    int rc = fn(r, &b);
    if (rc == -ENOSYS) {
        cli_error("%s: this build has no %s renderer yet", path, what);
        rc = -1;
    } else if (rc == -ENODATA) {
        cli_error("%s: nothing to draw (no data operations); file not written", path);
        rc = 0;
    } else if (rc) {
        cli_error("rendering %s: %s", what, strerror(-rc));
        rc = -1;
    } else {
        rc = cli_write_file(path, b.data ? b.data : "", b.len);
    }
    buf_release(&b);
    return rc;
}

int cmd_import(int argc, char **argv)
{
    enum { OPT_PNG = 1000, OPT_HTML };
    static const struct option longopts[] = {
        {"process", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"json", required_argument, NULL, 'j'},
        {"png", required_argument, NULL, OPT_PNG},
        {"html", required_argument, NULL, OPT_HTML},
        {"top", required_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *process = NULL, *output = NULL, *json = NULL, *png = NULL, *html = NULL;
    bool quiet = false;
    size_t top = 10;

    optind = 1;
    opterr = 0;
    int c;
    /* Permute: options may follow the positional arguments. */
    while ((c = getopt_long(argc, argv, "p:o:j:n:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            process = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'j':
            json = optarg;
            break;
        case OPT_PNG:
            png = optarg;
            break;
        case OPT_HTML:
            html = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            if (cli_parse_top(optarg, &top))
                return EXIT_USAGE;
            break;
        case 'h':
            import_usage(stdout);
            return 0;
        default:
            if (optopt && optopt < 256)
                cli_error("import: option '-%c' %s", optopt,
                          strchr("pojn", optopt) ? "needs an argument" : "is unknown");
            else
                cli_error("import: unknown or incomplete option '%s'", argv[optind - 1]);
            fputs("Try 'iopsd import --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "fs_usage")) {
        if (argc - optind >= 1 && strcmp(argv[optind], "fs_usage"))
            cli_error("import: unknown log format '%s' (known: fs_usage)", argv[optind]);
        else
            cli_error("import: expected: fs_usage FILE");
        fputs("Usage: iopsd import fs_usage FILE [OPTIONS]\n", stderr);
        return EXIT_USAGE;
    }
    if (process && !*process) {
        cli_error("--process: empty name");
        return EXIT_USAGE;
    }
    const char *path = argv[optind + 1];

    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    if (fd < 0) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return EXIT_IMPORT_IO;
    }
    struct fsu_agg_opts ao = {process, top, 0};
    struct fsu_agg *a = fsu_agg_new(&ao);
    char err[256] = "";
    int status = 0;
    int rc = fsu_agg_read_fd(a, fd, err, sizeof(err));
    if (fd != STDIN_FILENO)
        close(fd);
    const struct fsu_stats *st = fsu_agg_stats(a);
    if (rc) {
        cli_error("%s: %s", path, err);
        status = EXIT_IMPORT_IO;
        goto out_agg;
    }
    if (st->lines == st->malformed) {
        cli_error("%s: no fs_usage line found (%" PRIu64 " lines; expected 'fs_usage -w' output)",
                  path, st->lines);
        status = EXIT_IMPORT_NODATA;
        goto out_agg;
    }
    if (process && st->used == 0 && st->unknown_calls == 0) {
        cli_error("%s: no line of process '%s' (%" PRIu64 " lines of other processes)", path,
                  process, st->other_process);
        status = EXIT_IMPORT_NODATA;
        goto out_agg;
    }
    if (!quiet)
        fprintf(stderr,
                "iopsd: %s: %" PRIu64 " lines, %" PRIu64 " used, %" PRIu64
                " not fs_usage lines, %" PRIu64 " of other processes, %" PRIu64 " unknown calls\n",
                path, st->lines, st->used, st->malformed, st->other_process, st->unknown_calls);

    struct report r;
    report_init(&r);
    fsu_agg_report(a, &r);

    if (!quiet || output) {
        struct buf b;
        buf_init(&b, 0);
        render_text(&r, &b);
        const char *dest = output ? output : (json && !strcmp(json, "-")) ? NULL : "-";
        if (dest)
            status |= cli_write_file(dest, b.data ? b.data : "", b.len) ? EXIT_IMPORT_IO : 0;
        else
            fwrite(b.data ? b.data : "", 1, b.len, stderr);
        buf_release(&b);
    }
    if (json) {
        char *s = report_to_json_text(&r);
        status |= cli_write_file(json, s, strlen(s)) ? EXIT_IMPORT_IO : 0;
        free(s);
    }
    if (png && render_to(png, "PNG", &r, import_render_png))
        status = EXIT_IMPORT_IO;
    if (html && render_to(html, "HTML", &r, import_render_html))
        status = EXIT_IMPORT_IO;
    report_release(&r);
out_agg:
    fsu_agg_free(a);
    return status;
}
