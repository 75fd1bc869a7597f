/* test_live: the pure parts of the live watcher: an alert fires once per
 * crossing, the rates between two samples, the status block and the alert
 * lines, exactly. */
#include "measure/live.h"
#include "measure/procfs.h"
#include "tests/unit/tap.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_crossings(void)
{
    struct live_alert a = {.threshold = 50};
    double seq[] = {3, 49, 50, 103, 103, 60, 49.9, 49, 51, 50, 10};
    bool want[] = {false, false, true, false, false, false, false, false, true, false, false};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++)
        CHECK_INT(live_alert_step(&a, seq[i]), want[i]);
    struct live_alert off = {.threshold = 0, .off = true};
    CHECK_INT(live_alert_step(&off, 1e9), false);
    struct live_alert zero = {.threshold = 0};
    CHECK_INT(live_alert_step(&zero, 0), true);
    CHECK_INT(live_alert_step(&zero, 0), false);
}

static void test_rates(void)
{
    struct meas_progress a = {.elapsed_seconds = 1.0,
                              .read_ops = 10,
                              .write_ops = 20,
                              .read_bytes = 100,
                              .write_bytes = 4096,
                              .open_fds = 3};
    struct meas_progress b = {.elapsed_seconds = 1.25,
                              .read_ops = 10,
                              .write_ops = 1300,
                              .read_bytes = 100,
                              .write_bytes = 4096 + 1280 * 4096};
    double iops, bps;
    CHECK(live_rates(&a, &b, &iops, &bps));
    CHECK(iops == 5120);
    CHECK(bps == 1280 * 4096 * 4);
    CHECK(!live_rates(&a, &a, &iops, &bps)); /* no time between them */
    CHECK(live_rates(&b, &(struct meas_progress){.elapsed_seconds = 2.25}, &iops, &bps));
    CHECK(iops == 0 && bps == 0); /* counters never run backwards in a rate */
}

static void test_texts(void)
{
    struct meas_progress prev = {.elapsed_seconds = 2.0, .write_ops = 1000, .write_bytes = 4096000};
    struct meas_progress cur = {.elapsed_seconds = 2.25,
                                .read_ops = 0,
                                .read_bytes = 0,
                                .write_ops = 1280,
                                .write_bytes = 5242880,
                                .open_fds = 4};
    char s[1024];
    size_t n = live_format_status(s, sizeof s, "trace", &cur, &prev);
    CHECK_STR(s, "iopsd: status at 2.25 s (trace backend, the run goes on)\n"
                 "  reads   0 ops  0 B (0 B)\n"
                 "  writes  1,280 ops  5,242,880 B (5.00 MiB)\n"
                 "  now     1,120 IOPS  4.38 MiB/s (over the last 0.25 s)\n"
                 "  open descriptors  4\n");
    CHECK_INT((int)n, (int)strlen(s));
    cur.open_fds = -1;
    live_format_status(s, sizeof s, "proc", &cur, NULL);
    CHECK_STR(s, "iopsd: status at 2.25 s (proc backend, the run goes on)\n"
                 "  reads   0 ops  0 B (0 B)\n"
                 "  writes  1,280 ops  5,242,880 B (5.00 MiB)\n"
                 "  now     not known yet\n"
                 "  open descriptors  not known\n");
    /* cut short, still terminated */
    n = live_format_status(s, 20, "proc", &cur, NULL);
    CHECK_INT((int)n, 19);
    CHECK_INT((int)strlen(s), 19);
    live_format_alert(s, sizeof s, FR_FD_COUNT, 103, 100, 0.5, 0);
    CHECK_STR(s, "iopsd: alert fd-count: 103 descriptors open at 0.50 s, at or above 100 "
                 "(--alert fd-count=VALUE|off)\n");
    live_format_alert(s, sizeof s, FR_IOPS, 120000.4, 100000, 1.75, 0.25);
    CHECK_STR(s, "iopsd: alert iops: 120,000 reads and writes per second over 0.25 s at 1.75 s, "
                 "at or above 100,000 (--alert iops=VALUE|off)\n");
    live_format_alert(s, sizeof s, FR_THROUGHPUT, 2147483648.0, 1073741824, 3, 0.25);
    CHECK_STR(s, "iopsd: alert throughput: 2.00 GiB/s read and written over 0.25 s at 3.00 s, "
                 "at or above 1.00 GiB/s (--alert throughput=VALUE|off)\n");
}

/* The whole watcher in this process: a proc window on a child that reads 1
 * byte and writes 10 x 4 KiB and 1 byte once measured. A SIGUSR1 sent to
 * ourselves before the window is published (a run whose exec iopsd has not
 * noted yet) prints nothing until meas_live_publish_window, then the status
 * block with exactly those counts, on the watcher's output pipe. One after
 * the source is withdrawn says the command has ended. */
static void test_watcher_window(void)
{
    int go[2], done[2], out[2];
    CHECK(pipe(go) == 0 && pipe(done) == 0 && pipe(out) == 0);
    struct findings_opts fo;
    findings_opts_init(&fo);
    fo.off[FR_FD_COUNT] = fo.off[FR_IOPS] = fo.off[FR_THROUGHPUT] = true; /* no ticks */
    char err[256];
    struct meas_live *l = meas_live_start(&fo, out[1], err, sizeof err);
    CHECK(l != NULL);
    if (!l)
        return;
    pid_t c = fork();
    if (c == 0) {
        static char blk[4096];
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(1);
        int fd = open("/dev/null", O_WRONLY);
        for (int i = 0; i < 10; i++)
            if (write(fd, blk, sizeof blk) != (ssize_t)sizeof blk)
                _exit(1);
        if (write(done[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char e2[256];
    const struct meas_backend *be = meas_backend_get("proc", e2, sizeof e2);
    struct meas_window *w = NULL;
    struct meas_opts o;
    meas_opts_init(&o);
    CHECK(be && be->window_begin(&c, 1, &o, &w, e2, sizeof e2) == 0);
    char b = 'g';
    CHECK(write(go[1], &b, 1) == 1);
    CHECK(read(done[0], &b, 1) == 1);
    long fds = procfs_count_fds(c);
    kill(getpid(), SIGUSR1);
    struct pollfd pf = {out[0], POLLIN, 0};
    CHECK_INT(poll(&pf, 1, 200), 0); /* kept for the source */
    meas_live_publish_window(l, be, w);
    char text[2048];
    size_t n = 0;
    while (n < sizeof text - 1 && !strstr(text, "open descriptors")) {
        ssize_t k = read(out[0], text + n, sizeof text - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        text[n] = '\0';
    }
    while (n < sizeof text - 1 && text[n - 1] != '\n') { /* the rest of the last line */
        ssize_t k = read(out[0], text + n, sizeof text - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        text[n] = '\0';
    }
    const char *reads = strstr(text, "  reads   1 ops  1 B (1 B)\n");
    const char *writes = strstr(text, "  writes  11 ops  40,961 B (40.00 KiB)\n");
    CHECK(reads != NULL);
    CHECK(writes != NULL);
    CHECK(strstr(text, " (proc backend, the run goes on)\n") != NULL);
    char want[64];
    snprintf(want, sizeof want, "  open descriptors  %ld\n", fds);
    CHECK(strstr(text, want) != NULL);
    if (!reads || !writes)
        fprintf(stderr, "# %s", text);
    meas_live_withdraw(l);
    kill(getpid(), SIGUSR1);
    n = 0;
    while (n < sizeof text - 1 && (n == 0 || text[n - 1] != '\n')) {
        ssize_t k = read(out[0], text + n, sizeof text - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        text[n] = '\0';
    }
    CHECK(strstr(text, "s: no totals (the command has ended)\n") != NULL);
    struct report r;
    report_init(&r);
    CHECK(be->window_end(w, &r, e2, sizeof e2) == 0);
    CHECK_U64(r.write_ops, 11);
    CHECK_U64(r.write_bytes, 40961);
    report_release(&r);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    unsigned st = 0, al = 0;
    meas_live_stop(l, &st, &al);
    CHECK_INT((int)st, 2);
    CHECK_INT((int)al, 0);
}

/* A SIGUSR1 for a command that never ran (its exec failed) is answered when
 * the watcher stops. */
static void test_watcher_never_started(void)
{
    int out[2];
    CHECK(pipe(out) == 0);
    struct findings_opts fo;
    findings_opts_init(&fo);
    fo.off[FR_FD_COUNT] = fo.off[FR_IOPS] = fo.off[FR_THROUGHPUT] = true;
    char err[256];
    struct meas_live *l = meas_live_start(&fo, out[1], err, sizeof err);
    CHECK(l != NULL);
    if (!l)
        return;
    kill(getpid(), SIGUSR1);
    struct pollfd pf = {out[0], POLLIN, 0};
    CHECK_INT(poll(&pf, 1, 100), 0);
    unsigned st = 0, al = 0;
    meas_live_stop(l, &st, &al);
    CHECK_INT((int)st, 1);
    char text[256];
    ssize_t k = read(out[0], text, sizeof text - 1);
    text[k > 0 ? k : 0] = '\0';
    CHECK_STR(text, "iopsd: status: no totals (the command did not start)\n");
    close(out[0]);
    close(out[1]);
}

int main(void)
{
    test_watcher_window();
    test_watcher_never_started();
    test_crossings();
    test_rates();
    test_texts();
    return tap_done("test_live");
}
