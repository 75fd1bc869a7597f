/* cmd_measure: `iopsd measure [OPTIONS] -- CMD [ARGS...]`: run a command with
 * its stdio untouched, measure it, print the report, exit with its status. */
#include "measure/backend.h"
#include "measure/findings.h"
#include "measure/report_json.h"
#include "measure/timeline.h"
#ifdef __linux__
#include "measure/timeline_watch.h"
#endif
#include "render/render.h"
#include "server/cli.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
          "\n"
          "Over time (Linux):\n"
          "      --timeline[=SECONDS]\n"
          "                          sample the tree's descriptors, processes and I/O\n"
          "                          every SECONDS (default 0.1); read 'EVENT: <epoch>\n"
          "                          <message>' lines from CMD's stdout and stderr\n"
          "                          (which then go through iopsd, unchanged); find\n"
          "                          plateaus, jumps and a descriptor leak\n"
          "      --timeline-jsonl FILE\n"
          "                          also write the samples and events as JSON Lines\n"
          "                          (fdprof's keys: timestamp, elapsed, open_fds)\n"
          "      --fdprof            plateaus and jumps exactly as fdprof finds them\n"
          "      --tolerance N       descriptors a plateau's value may stray (2)\n"
          "      --min-length N      samples in a plateau, with --fdprof (5)\n"
          "      --min-duration S    seconds a plateau lasts at least (0.4)\n"
          "      --merge-threshold N merge neighbouring plateaus closer than N (5)\n"
          "      --no-merge          never merge plateaus\n"
          "      --jump-threshold N  smallest jump reported, descriptors (2)\n"
          "      --leak-threshold N  descriptors gained over the run (least-squares\n"
          "                          slope x duration) that flag a leak (10)\n"
          "\n"
          "Findings:\n"
          "      --alert RULE=VALUE  a finding's threshold (RULE=off: no such finding);\n"
          "                          the rules and their defaults:\n",
          f);
    fputs(findings_help(), f);
    fputs("  -h, --help              show this help and exit\n", f);
}

/* A number >= 0 (lo_excl: > 0), at most hi. */
static int parse_num(const char *s, double lo, bool lo_excl, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !(lo_excl ? d > lo : d >= lo) || d > hi)
        return -EINVAL;
    *out = d;
    return 0;
}

/* Opens an output destination before the command runs, so that a bad path
 * fails early. "-" is stdout. With `created`, an existing file is left as it
 * is (the caller truncates it once it has something to write) and *created
 * says whether this call made the file. Returns NULL with errno set. */
static FILE *open_output_ex(const char *path, bool *created)
{
    if (!strcmp(path, "-"))
        return stdout;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (created)
        *created = fd >= 0;
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_WRONLY | O_CLOEXEC | (created ? 0 : O_TRUNC));
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

static FILE *open_output(const char *path)
{
    return open_output_ex(path, NULL);
}

/* An output opened without truncation gets its content now: a regular file
 * is emptied first (devices and pipes have nothing to empty). */
static void output_truncate(FILE *f)
{
    struct stat st;
    if (f != stdout && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        ftruncate(fileno(f), 0) != 0)
        clearerr(f); /* the write that follows reports the problem */
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
    enum {
        OPT_NO_WAIT = 1000,
        OPT_WAIT,
        OPT_HTML,
        OPT_PNG,
        OPT_HIST_KINDS,
        OPT_TIMELINE,
        OPT_TL_JSONL,
        OPT_FDPROF,
        OPT_TOLERANCE,
        OPT_MIN_LENGTH,
        OPT_MIN_DURATION,
        OPT_MERGE_THRESHOLD,
        OPT_NO_MERGE,
        OPT_JUMP_THRESHOLD,
        OPT_LEAK_THRESHOLD,
        OPT_ALERT,
    };
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
        {"timeline", optional_argument, NULL, OPT_TIMELINE},
        {"timeline-jsonl", required_argument, NULL, OPT_TL_JSONL},
        {"fdprof", no_argument, NULL, OPT_FDPROF},
        {"tolerance", required_argument, NULL, OPT_TOLERANCE},
        {"min-length", required_argument, NULL, OPT_MIN_LENGTH},
        {"min-duration", required_argument, NULL, OPT_MIN_DURATION},
        {"merge-threshold", required_argument, NULL, OPT_MERGE_THRESHOLD},
        {"no-merge", no_argument, NULL, OPT_NO_MERGE},
        {"jump-threshold", required_argument, NULL, OPT_JUMP_THRESHOLD},
        {"leak-threshold", required_argument, NULL, OPT_LEAK_THRESHOLD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool timeline = false;
    double tl_interval = TL_DEFAULT_INTERVAL, num;
    const char *tl_jsonl_path = NULL;
    struct tl_params tp;
    tl_params_init(&tp);
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
        case OPT_TIMELINE:
            timeline = true;
            if (optarg && parse_num(optarg, 0, true, 3600, &tl_interval)) {
                cli_error("--timeline: '%s' is not a number of seconds in (0, 3600]", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_TL_JSONL:
            timeline = true;
            tl_jsonl_path = optarg;
            break;
        case OPT_FDPROF:
            tp.compat = true;
            break;
        case OPT_NO_MERGE:
            tp.merge = false;
            break;
        case OPT_TOLERANCE:
        case OPT_MIN_LENGTH:
        case OPT_MIN_DURATION:
        case OPT_MERGE_THRESHOLD:
        case OPT_JUMP_THRESHOLD:
        case OPT_LEAK_THRESHOLD:
            if (parse_num(optarg, 0, c == OPT_MIN_LENGTH, 1e9, &num) ||
                (c == OPT_MIN_LENGTH && num != (double)(unsigned)num)) {
                const char *name = "";
                for (const struct option *lo = longopts; lo->name; lo++)
                    if (lo->val == c)
                        name = lo->name;
                cli_error("--%s: '%s' is not a %s", name, optarg,
                          c == OPT_MIN_LENGTH ? "positive whole number" : "number >= 0");
                return EXIT_USAGE;
            }
            if (c == OPT_TOLERANCE)
                tp.tolerance = num;
            else if (c == OPT_MIN_LENGTH)
                tp.min_length = (unsigned)num;
            else if (c == OPT_MIN_DURATION)
                tp.min_duration = num;
            else if (c == OPT_MERGE_THRESHOLD)
                tp.merge_threshold = num;
            else if (c == OPT_JUMP_THRESHOLD)
                tp.jump_threshold = num;
            else
                tp.leak_threshold = num;
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
    bool png_created = false;
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
        (png_path && !(png = open_output_ex(png_path, &png_created)))) {
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

    struct timeline *tl = NULL;
    FILE *jsonl = NULL;
    bool jsonl_bad = false;
#ifdef __linux__
    struct tl_watch *tw = NULL;
    if (timeline) {
        if (tl_jsonl_path && !(jsonl = open_output(tl_jsonl_path))) {
            cli_error("cannot open %s: %s", tl_jsonl_path, strerror(errno));
            return EXIT_IOPSD_FAILED;
        }
        tl = timeline_new(tl_interval, 0);
        if (tl_watch_prepare(&tw, tl, true, jsonl, err, sizeof(err))) {
            cli_error("--timeline: %s", err);
            timeline_free(tl);
            return EXIT_IOPSD_FAILED;
        }
        mo.spawned = tl_watch_started;
        mo.spawned_arg = tw;
    }
#else
    if (timeline) {
        cli_error("--timeline: not available on this system yet");
        return EXIT_USAGE;
    }
#endif

    struct report r;
    report_init(&r);
    int rc = be->run(&mo, cmd, &r, err, sizeof(err));
#ifdef __linux__
    if (tw) {
        /* proc's totals count every read and write call of the tree, as the
         * samples do: the last sample takes them, exact. */
        bool exact = rc == 0 && !r.exec_errno && !strcmp(r.backend, "proc");
        uint64_t io[4] = {r.read_ops, r.write_ops, r.read_bytes, r.write_bytes};
        tl_watch_finish(tw, exact ? io : NULL);
        bool has_opens = r.detailed;
        int64_t omc = (int64_t)r.meta_ops[META_OPEN] - (int64_t)r.meta_ops[META_CLOSE];
        timeline_analyse(tl, &tp, has_opens, omc);
        r.timeline = tl;
        if (jsonl) {
            tl_jsonl_summary(jsonl, tl);
            jsonl_bad = close_output(jsonl, tl_jsonl_path) != 0;
        }
    }
#endif
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
                output_truncate(png);
                fwrite(b.data, 1, b.len, png);
            } else {
                cli_error("--png: no histograms to draw (they need --backend trace) and no "
                          "timeline (--timeline); %s not written",
                          png_path);
                /* Only a file this run created goes: never the user's own
                 * file, a device or anything else that was there before. */
                if (png_created)
                    unlink(png_path);
            }
            buf_release(&b);
        }
    }
    if (jsonl_bad && status == 0)
        status = EXIT_IOPSD_FAILED;
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
