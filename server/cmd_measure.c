/* cmd_measure: `iopsd measure [OPTIONS] -- CMD [ARGS...]`: run a command with
 * its stdio untouched, measure it, print the report, exit with its status. */
#include "measure/backend.h"
#include "measure/findings.h"
#include "measure/report_json.h"
#include "measure/timeline.h"
#ifdef __linux__
#include "measure/live.h"
#include "measure/timeline_watch.h"
#endif
#include "render/render.h"
#include "server/cli.h"
#include "util/buf.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void measure_usage(FILE *f)
{
    fputs("Usage: iopsd measure [OPTIONS] -- CMD [ARGS...]\n"
          "       iopsd measure [OPTIONS] --pid PID[,PID...] [--duration S] [--no-tree]\n"
          "\n"
          "Runs CMD with stdin, stdout and stderr untouched, measures the I/O of CMD and\n"
          "every process it starts, prints the report to stderr and exits with CMD's\n"
          "status (128+N if it died of signal N; 125 if iopsd failed, 126 if CMD cannot\n"
          "be executed, 127 if it is not found).\n"
          "\n"
          "With --pid, measures processes that already run instead, until the duration\n"
          "ends, Ctrl-C (SIGINT, SIGTERM, SIGHUP) or every one of them has exited, then\n"
          "leaves them as they were and exits 0 (3 if a process does not exist, 4 if it\n"
          "may not be measured: another user's, ptrace refused; 2 for a usage error).\n"
          "\n"
          "Options:\n"
          "  -b, --backend NAME      auto (default), or one of:\n",
          f);
    for (const struct meas_backend *const *b = meas_backend_all(); *b; b++)
        fprintf(f, "                            %-8s %s\n", (*b)->name, (*b)->summary);
    fputs("  -p, --pid PID[,PID...]  measure these running processes (at most 64)\n"
          "      --duration SECONDS  end the window after SECONDS (default: at Ctrl-C or\n"
          "                          when every measured process has exited)\n"
          "      --tree              count their descendants, existing and new (default)\n"
          "      --no-tree           count only the listed processes (all their threads)\n"
          "  -o, --output FILE       write the report table to FILE, not stderr\n"
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
    fputs("                          the live rules (fd-count, iops, throughput) are\n"
          "                          sampled 4 times a second while CMD runs: one line on\n"
          "                          stderr each time a threshold is reached\n"
          "\n"
          "While CMD runs, `kill -USR1 <iopsd's pid>` prints the totals so far on stderr\n"
          "(CMD is not signalled; the report is unchanged).\n"
          "\n",
          f);
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

/* "123,456" -> distinct pids (at most REPORT_MAX_ATTACH). 0 or -1 after
 * printing why. */
static int parse_pids(const char *s, pid_t *out, size_t *n)
{
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v <= 0 || v > INT_MAX || (*end && *end != ',') ||
            !(*p >= '0' && *p <= '9')) {
            size_t len = strcspn(p, ",");
            cli_error("--pid: '%.*s' is not a process id (a whole number > 0)", (int)len, p);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < *n; i++)
            dup |= out[i] == (pid_t)v;
        if (!dup) {
            if (*n >= REPORT_MAX_ATTACH) {
                cli_error("--pid: at most %d processes", REPORT_MAX_ATTACH);
                return -1;
            }
            out[(*n)++] = (pid_t)v;
        }
        if (!*end)
            return 0;
        p = end + 1;
    }
}

/* The attached window: from window_begin until the duration ends, a signal
 * comes, or every measured process has exited. *bep may change from the
 * tracer to proc when "auto" finds ptrace refused. */
#define ATTACH_TICK_NS 50000000ull

static int measure_attached(const struct meas_backend **bep, bool is_auto,
                            const struct meas_opts *mo, const pid_t *pids, size_t npids,
                            double duration, bool quiet, struct report *r, char *err, size_t errlen)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Before window_begin: the tracer thread inherits the mask, so the
     * signals come only to sigtimedwait below. */
    sigprocmask(SIG_BLOCK, &set, &old);
    const struct meas_backend *be = *bep;
    struct meas_window *w = NULL;
    int rc = be->window_begin(pids, npids, mo, &w, err, errlen);
    if (rc == -EPERM && is_auto && strcmp(be->name, "proc")) {
        char why[256];
        const struct meas_backend *pb = meas_backend_get("proc", why, sizeof(why));
        if (pb) {
            be = *bep = pb;
            rc = be->window_begin(pids, npids, mo, &w, err, errlen);
        }
    }
    if (rc) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return rc;
    }
    meas_live_publish_window(mo->live, be, w); /* SIGUSR1 and the live alerts */
    if (!quiet) {
        struct buf b;
        buf_init(&b, 0);
        for (size_t i = 0; i < npids; i++)
            buf_printf(&b, "%s%d", i ? "," : "", (int)pids[i]);
        char d[48] = "";
        if (duration > 0)
            snprintf(d, sizeof(d), " for %g s", duration);
        fprintf(stderr, "iopsd: measuring pid%s %s%s with %s%s; Ctrl-C ends the window\n",
                npids > 1 ? "s" : "", b.data, mo->tree ? " and descendants" : "", be->name, d);
        fflush(stderr);
        buf_release(&b);
    }
    uint64_t t0 = clock_mono_ns();
    uint64_t deadline = t0 + (uint64_t)(duration * 1e9);
    enum attach_end end;
    for (;;) {
        uint64_t now = clock_mono_ns();
        if (duration > 0 && now >= deadline) {
            end = ATTACH_END_DURATION;
            break;
        }
        uint64_t wait = ATTACH_TICK_NS;
        if (duration > 0 && deadline - now < wait)
            wait = deadline - now;
        struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
        if (sigtimedwait(&set, NULL, &ts) > 0) {
            end = ATTACH_END_INTERRUPTED;
            break;
        }
        struct meas_progress p = {0};
        if (meas_live_window_sample(mo->live, be, w, &p) == 0 && p.live_processes == 0) {
            end = ATTACH_END_EXITED;
            break;
        }
    }
    meas_live_withdraw(mo->live); /* before the window goes */
    rc = be->window_end(w, r, err, errlen);
    /* A second Ctrl-C while detaching stops waiting for tasks that will not
     * stop (window_end), then the report follows. */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    r->attach.on = true;
    memcpy(r->attach.pids, pids, npids * sizeof(*pids));
    r->attach.npids = npids;
    r->attach.tree = mo->tree;
    r->attach.duration = duration;
    r->attach.end = end;
    return rc;
}

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
        OPT_DURATION,
        OPT_TREE,
        OPT_NO_TREE,
    };
    static const struct option longopts[] = {
        {"backend", required_argument, NULL, 'b'},
        {"pid", required_argument, NULL, 'p'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"tree", no_argument, NULL, OPT_TREE},
        {"no-tree", no_argument, NULL, OPT_NO_TREE},
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
    pid_t pids[REPORT_MAX_ATTACH];
    size_t npids = 0;
    double duration = 0;
    const char *attach_only = NULL; /* an option that needs --pid */

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+b:o:j:qi:n:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_pids(optarg, pids, &npids))
                return EXIT_USAGE;
            break;
        case OPT_DURATION:
            if (parse_num(optarg, 0, true, 31536000, &duration)) {
                cli_error("--duration: '%s' is not a number of seconds in (0, 31536000]", optarg);
                return EXIT_USAGE;
            }
            attach_only = "--duration";
            break;
        case OPT_TREE:
        case OPT_NO_TREE:
            mo.tree = c == OPT_TREE;
            attach_only = c == OPT_TREE ? "--tree" : "--no-tree";
            break;
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
                          strchr("bojinp", optopt) ? "needs an argument" : "is unknown");
            else
                cli_error("measure: unknown or incomplete option '%s'", argv[optind - 1]);
            fputs("Try 'iopsd measure --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (npids && optind < argc) {
        cli_error("measure: --pid measures running processes; it takes no command");
        return EXIT_USAGE;
    }
    if (npids && timeline) {
        cli_error("measure: --timeline does not work with --pid yet");
        return EXIT_USAGE;
    }
    if (!npids && attach_only) {
        cli_error("measure: %s needs --pid", attach_only);
        return EXIT_USAGE;
    }
    if (!npids && optind >= argc) {
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
    if (npids && !be->window_begin) {
        cli_error("backend '%s' cannot measure running processes", be->name);
        return EXIT_USAGE;
    }
    /* A process that does not exist fails before any output file is made. */
    for (size_t i = 0; i < npids; i++)
        if (kill(pids[i], 0) < 0 && errno == ESRCH) {
            cli_error("process %d does not exist", (int)pids[i]);
            return EXIT_NO_PROCESS;
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
#ifdef __linux__
    /* SIGUSR1: a status block; the live rules: alerts (measure/live.h) */
    struct meas_live *live = meas_live_start(&fo, STDERR_FILENO, err, sizeof(err));
    if (!live) {
        cli_error("%s", err);
        return EXIT_IOPSD_FAILED;
    }
    mo.live = live;
#endif
    if (npids) { /* Ctrl-C while the tree will not stop (blocked in measure_attached) */
        mo.has_cancel = true;
        sigemptyset(&mo.cancel);
        sigaddset(&mo.cancel, SIGINT);
        sigaddset(&mo.cancel, SIGTERM);
        sigaddset(&mo.cancel, SIGHUP);
    }
    int rc = npids ? measure_attached(&be, !strcmp(backend_name, "auto"), &mo, pids, npids,
                                      duration, quiet, &r, err, sizeof(err))
                   : be->run(&mo, cmd, &r, err, sizeof(err));
#ifdef __linux__
    meas_live_stop(live, NULL, NULL);
#endif
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
        status = !npids                            ? EXIT_IOPSD_FAILED
                 : rc == -EINTR                    ? 128 + SIGINT
                 : rc == -ESRCH                    ? EXIT_NO_PROCESS
                 : (rc == -EPERM || rc == -EACCES) ? EXIT_NOT_PERMITTED
                                                   : EXIT_IOPSD_FAILED;
    } else if (r.exec_errno) {
        cli_error("%s", r.error);
        status = r.exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
    } else {
        status = npids ? 0 : r.exited ? r.exit_status : 128 + r.term_signal;
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
