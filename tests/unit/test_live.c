/* test_live: the pure parts of the live watcher: an alert fires once per
 * crossing, the rates between two samples, the status block and the alert
 * lines, exactly. */
#include "measure/live.h"
#include "tests/unit/tap.h"

#include <string.h>

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

int main(void)
{
    test_crossings();
    test_rates();
    test_texts();
    return tap_done("test_live");
}
