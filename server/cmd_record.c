/* cmd_record: `iopsd record` samples a process tree every interval into a
 * recording (SQLite with Procpath's layout, or JSON Lines; measure/record.h)
 * until Ctrl-C or SIGTERM, the tree's end, or N samples.
 *
 * With `-- CMD`, iopsd runs the command as its child and makes itself a
 * child subreaper, so the command's orphans stay in the tree; the tree is
 * iopsd's descendants. Each pass samples first and reaps afterwards, so a
 * process that exited shows its final counters (as a zombie, state Z) in the
 * sample after its exit. With `--pid`, the tree is those processes and their
 * descendants; a descendant re-parented outside it (an orphan) is lost. */
#include "measure/record.h"
#include "measure/record_sample.h"
#include "measure/spawn.h"
#include "server/cli.h"
#include "server/record_pids.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("Usage: iopsd record [OPTIONS] -d FILE --pid PID[,PID...]\n"
          "       iopsd record [OPTIONS] -d FILE -- CMD [ARGS...]\n"
          "\n"
          "Samples a process tree every interval: per process its stat (pid, ppid,\n"
          "comm, state, utime, stime, num_threads, rss, delayacct_blkio_ticks), io\n"
          "(all seven counters) and descriptors by kind, in Procpath's layout.\n"
          "Stops on Ctrl-C or SIGTERM, after N samples, or when the command's tree\n"
          "has exited.\n"
          "\n"
          "Options:\n"
          "  -d, --database-file FILE  where to record: FILE ending in .sqlite is an\n"
          "                            SQLite database (tables record and meta),\n"
          "                            anything else JSON Lines; replaced if it exists\n"
          "  -p, --pid PID[,PID...]    record these processes and their descendants\n"
          "  -i, --interval S          seconds between samples (default 1; 0.01..3600)\n"
          "  -r, --recnum N            stop after N samples\n"
          "      --stop-without-result with --pid: stop when none of the processes is\n"
          "                            left (always so with -- CMD)\n"
          "  -q, --quiet               no summary line at the end\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: with -- CMD the command's (128+N for signal N; 126/127 when\n"
          "it could not run); else 0. Usage errors: 2.\n"
          "Example: iopsd record -i 0.5 -d run.sqlite -- make -j2\n",
          f);
}

static int parse_interval(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !(d >= 0.01) || d > 3600)
        return -EINVAL;
    *out = d;
    return 0;
}

static int parse_count(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0 || v > 1000000000ul)
        return -EINVAL;
    *out = v;
    return 0;
}

static int status_code(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return EXIT_IOPSD_FAILED;
}

/* Reaps every exited child without blocking; notes the command's status. */
static void reap(pid_t cmd, bool *cmd_done, int *cmd_status)
{
    int ws;
    pid_t r;
    while ((r = waitpid(-1, &ws, WNOHANG)) > 0)
        if (r == cmd) {
            *cmd_done = true;
            *cmd_status = ws;
        }
}

int cmd_record(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"database-file", required_argument, NULL, 'd'},
        {"pid", required_argument, NULL, 'p'},
        {"interval", required_argument, NULL, 'i'},
        {"recnum", required_argument, NULL, 'r'},
        {"stop-without-result", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int64_t pids[RECORD_MAX_PIDS];
    size_t npids = 0;
    double interval = 1;
    unsigned long recnum = 0;
    bool stop_empty = false, quiet = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+d:p:i:r:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            path = optarg;
            break;
        case 'p':
            if (record_parse_pids("--pid", optarg, pids, RECORD_MAX_PIDS, &npids) < 0)
                return EXIT_USAGE;
            break;
        case 'i':
            if (parse_interval(optarg, &interval) < 0) {
                cli_error("record: --interval: '%s' is not a number of seconds in 0.01..3600",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case 'r':
            if (parse_count(optarg, &recnum) < 0) {
                cli_error("record: --recnum: '%s' is not a count of samples (1 or more)", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'S':
            stop_empty = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (optopt)
                cli_error("record: option '-%c' %s", optopt,
                          strchr("dpir", optopt) ? "needs an argument" : "is unknown");
            else
                cli_error("record: option '%s' is unknown or needs an argument", argv[optind - 1]);
            fputs("Try 'iopsd record --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    char **cmdv = argv + optind;
    bool spawn = optind < argc;
    if (!path) {
        cli_error("record: -d FILE is required (FILE.sqlite or FILE.jsonl)");
        return EXIT_USAGE;
    }
    if (spawn == (npids > 0)) {
        cli_error("record: give either --pid PID[,PID...] or -- CMD [ARGS...]");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < npids; i++)
        if (kill((pid_t)pids[i], 0) != 0 && errno == ESRCH) {
            cli_error("record: --pid: no process %lld", (long long)pids[i]);
            return EXIT_USAGE;
        }

    struct rec_meta meta;
    rec_meta_init(&meta);
    rec_meta_host(&meta);
    char s[64];
    snprintf(s, sizeof(s), "%g", interval);
    rec_meta_set(&meta, "interval", s);
    snprintf(s, sizeof(s), "%lu", recnum);
    rec_meta_set(&meta, "recnum", recnum ? s : "");
    rec_meta_set(&meta, "stop_without_result", spawn || stop_empty ? "1" : "0");
    if (spawn) {
        struct buf cmdline;
        buf_init(&cmdline, 4096);
        for (char **a = cmdv; *a; a++)
            buf_printf(&cmdline, "%s%s", a == cmdv ? "" : " ", *a);
        rec_meta_set(&meta, "command", cmdline.data ? cmdline.data : "");
        buf_release(&cmdline);
    } else {
        struct buf list;
        buf_init(&list, 0);
        for (size_t i = 0; i < npids; i++)
            buf_printf(&list, "%s%lld", i ? "," : "", (long long)pids[i]);
        rec_meta_set(&meta, "pid_list", list.data);
        buf_release(&list);
    }

    char err[512];
    struct rec_writer *w = NULL;
    if (rec_writer_open(&w, path, &meta, err, sizeof(err)) < 0) {
        cli_error("record: %s", err);
        rec_meta_release(&meta);
        return EXIT_IOPSD_FAILED;
    }
    rec_meta_release(&meta);

    /* the stop signals and SIGCHLD are taken with sigtimedwait, which is
     * also the timer between samples */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t child = 0;
    pid_t roots[RECORD_MAX_PIDS];
    size_t nroots = 0;
    int rc = 0;
    if (spawn) {
        int ep[2];
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if (pipe2(ep, O_CLOEXEC) != 0 || (child = fork()) < 0) {
            cli_error("record: cannot start the command: %s", strerror(errno));
            rec_writer_close(w, NULL, 0);
            sigprocmask(SIG_SETMASK, &old, NULL);
            return EXIT_IOPSD_FAILED;
        }
        if (child == 0) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            close(ep[0]);
            spawn_child_exec(cmdv, ep[1]);
        }
        close(ep[1]);
        int e = spawn_read_exec_result(ep[0]);
        if (e) {
            cli_error("record: cannot run '%s': %s", cmdv[0], strerror(e));
            waitpid(child, NULL, 0);
            rec_writer_close(w, NULL, 0);
            sigprocmask(SIG_SETMASK, &old, NULL);
            return e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
        }
        roots[nroots++] = getpid();
    } else
        for (size_t i = 0; i < npids; i++)
            roots[nroots++] = (pid_t)pids[i];

    struct rec_row *rows = NULL;
    size_t cap = 0, total_rows = 0;
    unsigned long passes = 0, written = 0;
    bool cmd_done = false, stopped = false, warned_empty = false;
    int cmd_status = 0, stop_sig = 0;
    bool stop_forward = false;
    uint64_t deadline = clock_mono_ns();
    const uint64_t step = (uint64_t)llround(interval * 1e9);
    const char *why = "";
    for (;;) {
        uint64_t t0 = clock_mono_ns();
        long n = rec_sample(roots, nroots, clock_wall_seconds(), &rows, &cap);
        passes++;
        if (n < 0) {
            cli_error("record: reading /proc: %s", strerror((int)-n));
            rc = EXIT_IOPSD_FAILED;
            break;
        }
        if (n > 0) {
            if (rec_writer_add(w, rows, (size_t)n, err, sizeof(err)) < 0) {
                cli_error("record: %s: %s", path, err);
                rc = EXIT_IOPSD_FAILED;
                break;
            }
            written++;
            total_rows += (size_t)n;
        }
        if (spawn)
            reap(child, &cmd_done, &cmd_status);
        if (n == 0) {
            if (spawn || stop_empty) {
                why = "the tree has exited";
                break;
            }
            if (!warned_empty) {
                cli_error("record: none of the processes is left; recording goes on until "
                          "Ctrl-C%s (--stop-without-result stops here)",
                          recnum ? " or --recnum" : "");
                warned_empty = true;
            }
        }
        if (recnum && passes >= recnum) {
            why = "--recnum reached";
            break;
        }
        uint64_t now = clock_mono_ns();
        if (now - t0 > step)
            cli_error("record: sampling took %.3f s, longer than the interval (%g s)",
                      (double)(now - t0) / 1e9, interval);
        deadline += step;
        while (deadline <= now) /* missed samples are skipped, not caught up */
            deadline += step;
        for (;;) {
            now = clock_mono_ns();
            if (now >= deadline)
                break;
            uint64_t left = deadline - now;
            struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
            siginfo_t si;
            int sig = sigtimedwait(&set, &si, &ts);
            if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
                stopped = true;
                stop_sig = sig;
                /* Ctrl-C reaches the command's process group from the
                 * terminal; a SIGINT sent to iopsd alone is passed on */
                stop_forward = sig != SIGINT || si.si_code == SI_USER || si.si_code == SI_QUEUE;
                break;
            }
        }
        if (stopped) {
            why = stop_sig == SIGINT ? "interrupted" : "terminated";
            break;
        }
    }
    free(rows);
    if (rec_writer_close(w, err, sizeof(err)) < 0) {
        cli_error("record: %s: %s", path, err);
        rc = EXIT_IOPSD_FAILED;
    }
    if (!quiet && rc == 0)
        fprintf(stderr, "iopsd: record: %lu sample%s, %zu rows -> %s (%s)\n", written,
                written == 1 ? "" : "s", total_rows, path, why);

    if (spawn) {
        /* the command goes on after the recording stops; iopsd waits for it
         * (passing on SIGTERM, SIGHUP and a SIGINT sent to iopsd alone; the
         * terminal's Ctrl-C reaches the command's process group anyway) and
         * exits with its status */
        if (stop_sig && stop_forward)
            kill(child, stop_sig);
        while (!cmd_done) {
            reap(child, &cmd_done, &cmd_status);
            if (cmd_done)
                break;
            struct timespec ts = {0, 100000000};
            siginfo_t si;
            int sig = sigtimedwait(&set, &si, &ts);
            if (sig == SIGTERM || sig == SIGHUP ||
                (sig == SIGINT && (si.si_code == SI_USER || si.si_code == SI_QUEUE)))
                kill(child, sig);
        }
        if (rc == 0)
            rc = status_code(cmd_status);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
