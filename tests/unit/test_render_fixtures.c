/* test_render_fixtures: constructed reports covering every section of the
 * renderers, with known numbers (see test_render_fixtures.h). */
#include "tests/unit/test_render_fixtures.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* 2026-11-21 16:00:00.25 UTC */
#define T0 1795276800.25

static void f_empty(struct report *r)
{
    snprintf(r->backend, sizeof(r->backend), "proc");
}

static void f_tiny(struct report *r)
{
    char *argv[] = {"cat", "/etc/hostname", NULL};
    snprintf(r->backend, sizeof(r->backend), "proc");
    report_set_argv(r, argv);
    r->start_time = T0;
    r->exited = true;
    r->exit_status = 0;
    r->wall_seconds = 0.001234;
    r->user_seconds = 0.0005;
    r->system_seconds = 0.0007;
    r->processes = 1;
    r->read_ops = 3;
    r->write_ops = 1;
    r->read_bytes = 832;
    r->write_bytes = 12;
    r->has_storage = true;
    r->fds.start = 3;
    r->fds.peak = 4;
    r->fds.end = 3;
    r->fds.sampled = true;
    r->fds.interval_seconds = 0.01;
}

static void f_huge(struct report *r)
{
    char *argv[] = {"bigjob", "--all", NULL};
    snprintf(r->backend, sizeof(r->backend), "trace");
    report_set_argv(r, argv);
    r->start_time = T0;
    r->exited = true;
    r->wall_seconds = 1234.5;
    r->user_seconds = 4000.25;
    r->system_seconds = 86400.5;
    r->processes = 1000000;
    r->read_ops = 1000000000000ull;  /* 10^12 */
    r->write_ops = 1000000000000ull; /* 10^12 */
    r->read_bytes = 1ull << 60;
    r->write_bytes = (1ull << 60) - 1;
    r->has_storage = true;
    r->storage_read_bytes = 1ull << 50;
    r->storage_write_bytes = 1ull << 60;
    r->cancelled_write_bytes = 1ull << 40;
    r->fds.start = 3;
    r->fds.peak = 1048576;
    r->fds.end = 3;
    r->detailed = true;
    r->by_kind[FDK_FILE] =
        (struct io_counts){1000000000000ull, 1000000000000ull, 1ull << 60, (1ull << 60) - 1};
    r->by_kind[FDK_SOCKET] = (struct io_counts){UINT64_MAX, 0, UINT64_MAX, 0};
    /* 10^12 reads of 1 MiB-ish, 10^12 writes spread over 4K and 1G */
    r->size_hist[21] = (struct size_bucket){1000000000000ull, 0, 1ull << 60, 0};
    r->size_hist[13] = (struct size_bucket){0, 999999999999ull, 0, (1ull << 52)};
    r->size_hist[31] = (struct size_bucket){0, 1, 0, 1ull << 30};
    r->size_hist[64] = (struct size_bucket){0, 0, 0, 0};
    r->meta_ops[META_OPEN] = 1000000000000ull;
    r->meta_ops[META_CLOSE] = 1000000000000ull;
    struct file_row *f = report_add_file(r, "/data/huge.bin", FDK_FILE);
    f->opens = 1000000000000ull;
    f->read_ops = 1000000000000ull;
    f->write_ops = 1000000000000ull;
    f->read_bytes = 1ull << 60;
    f->write_bytes = (1ull << 60) - 1;
    f->seeks = UINT64_MAX;
    r->files_total = 123456789;
}

static void f_full(struct report *r)
{
    char *argv[] = {"dd", "if=/dev/zero", "of=/tmp/out file", "bs=4096", "count=2560", NULL};
    snprintf(r->backend, sizeof(r->backend), "trace");
    report_set_argv(r, argv);
    r->start_time = T0;
    r->exited = true;
    r->exit_status = 0;
    r->wall_seconds = 0.0512;
    r->user_seconds = 0.0021;
    r->system_seconds = 0.0405;
    r->processes = 2;
    r->still_running = 1;
    /* 2,560 reads of 4,096 B plus one zero-byte read at EOF; 2,560 writes */
    r->read_ops = 2561;
    r->write_ops = 2560;
    r->read_bytes = 10485760;
    r->write_bytes = 10485760;
    r->has_storage = true;
    r->storage_read_bytes = 0;
    r->storage_write_bytes = 10485760;
    r->cancelled_write_bytes = 4096;
    r->read_errors = 1;
    r->write_errors = 0;
    r->fds.start = 3;
    r->fds.peak = 6;
    r->fds.end = 5;
    r->detailed = true;
    r->by_kind[FDK_FILE] = (struct io_counts){2561, 2560, 10485760, 10485760};
    r->by_kind[FDK_PIPE] = (struct io_counts){0, 3, 0, 120};
    r->by_kind[FDK_CHARDEV] = (struct io_counts){0, 1, 0, 65};
    r->size_hist[0] = (struct size_bucket){1, 0, 0, 0};
    r->size_hist[13] = (struct size_bucket){2560, 2560, 10485760, 10485760};
    r->has_latency = true;
    r->lat_hist[10] = (struct lat_bucket){1200, 300};
    r->lat_hist[11] = (struct lat_bucket){1300, 1500};
    r->lat_hist[12] = (struct lat_bucket){60, 700};
    r->lat_hist[15] = (struct lat_bucket){1, 59};
    r->lat_hist[21] = (struct lat_bucket){0, 1};
    r->meta_ops[META_OPEN] = 4;
    r->meta_ops[META_CLOSE] = 3;
    r->meta_ops[META_STAT] = 6;
    r->meta_ops[META_SEEK] = 1;
    r->meta_ops[META_FSYNC] = 1;
    r->meta_ops[META_DUP] = 2;
    struct file_row *f = report_add_file(r, "/tmp/out file", FDK_FILE);
    f->opens = 1;
    f->write_ops = 2560;
    f->write_bytes = 10485760;
    f->seeks = 1;
    f = report_add_file(r, "/dev/zero", FDK_CHARDEV);
    f->opens = 1;
    f->read_ops = 2561;
    f->read_bytes = 10485760;
    f = report_add_file(r, "/home/user/<weird> & \"name\"\n\x1b[31mred.txt", FDK_FILE);
    f->opens = 2;
    f->read_ops = 1;
    f->read_bytes = 0;
    f = report_add_file(r,
                        "/very/long/path/that/goes/on/and/on/through/many/directories/until/it/"
                        "finally/ends/in/a/file.csv",
                        FDK_FILE);
    f->opens = 1;
    report_trim_files(r, 3);
    report_add_leaked(r, 4242, 3, FDK_FILE, "/tmp/leak.log");
    report_add_leaked(r, 4243, 7, FDK_PIPE, NULL);
    r->unseen.io_uring_enter = 1;
    r->unseen.mmap = 2;
}

static void f_failed(struct report *r)
{
    char *argv[] = {"no-such-command", "--flag", NULL};
    snprintf(r->backend, sizeof(r->backend), "proc");
    report_set_argv(r, argv);
    r->start_time = T0;
    r->exec_errno = ENOENT;
    report_set_error(r, "no-such-command: command not found");
    r->wall_seconds = 0.000321;
    r->processes = 1;
    r->has_storage = true;
    r->fds.start = 3;
    r->fds.peak = 3;
    r->fds.end = 3;
    r->fds.sampled = true;
    r->fds.interval_seconds = 0.01;
}

static void f_signal(struct report *r)
{
    snprintf(r->backend, sizeof(r->backend), "trace");
    report_set_code(r, "import os, signal\nopen('/tmp/x', 'w').write('hi')\nos.kill(os.getpid(), "
                       "signal.SIGKILL)\n");
    r->start_time = T0;
    r->term_signal = 9;
    r->wall_seconds = 2.5;
    r->user_seconds = 0.25;
    r->system_seconds = 0.125;
    r->processes = 1;
    r->write_ops = 1;
    r->write_bytes = 2;
    r->fds.start = 3;
    r->fds.peak = 4;
    r->fds.end = 4;
    r->detailed = true;
    r->by_kind[FDK_FILE] = (struct io_counts){0, 1, 0, 2};
    r->size_hist[2] = (struct size_bucket){0, 1, 0, 2};
    r->meta_ops[META_OPEN] = 1;
    struct file_row *f = report_add_file(r, "/tmp/x", FDK_FILE);
    f->opens = 1;
    f->write_ops = 1;
    f->write_bytes = 2;
    report_add_leaked(r, 100, 3, FDK_FILE, "/tmp/x");
}

static void f_proc_sampled(struct report *r)
{
    char *argv[] = {"make", "-j8", NULL};
    snprintf(r->backend, sizeof(r->backend), "proc");
    report_set_argv(r, argv);
    r->start_time = T0;
    r->exited = true;
    r->exit_status = 2;
    r->wall_seconds = 75.5;
    r->user_seconds = 140.75;
    r->system_seconds = 12.5;
    r->processes = 57;
    r->processes_exact = false;
    r->still_running = 2;
    r->read_ops = 123456;
    r->write_ops = 65432;
    r->read_bytes = 987654321;
    r->write_bytes = 123456789;
    r->has_storage = false;
    r->fds.start = 3;
    r->fds.peak = 41;
    r->fds.end = 5;
    r->fds.sampled = true;
    r->fds.interval_seconds = 0.1;
}

/* A traced tree: a shell, two writers, an orphaned grandchild and nine small
 * children, so the table shows the top 10 with their ancestors and sums 2. */
static void f_tree(struct report *r)
{
    char *argv[] = {"sh", "-c", "./work.sh", NULL};
    snprintf(r->backend, sizeof(r->backend), "trace");
    report_set_argv(r, argv);
    r->start_time = T0;
    r->exited = true;
    r->wall_seconds = 0.5;
    r->user_seconds = 0.0625;
    r->system_seconds = 0.125;
    r->processes = 15;
    r->write_ops = 459;
    r->write_bytes = 1843200 + 450;
    r->fds.start = 3;
    r->fds.peak = 5;
    r->fds.end = 3;
    r->detailed = true;
    r->by_kind[FDK_FILE] = (struct io_counts){0, r->write_ops, 0, r->write_bytes};
    struct proc_row *p = report_add_proc(r, 100, 99, "sh -c ./work.sh");
    p->end = 0.5;
    p->exited = true;
    p->has_cpu = true;
    p->user_seconds = 0.001;
    p->system_seconds = 0.002;
    static const struct {
        pid_t pid, ppid;
        const char *cmd;
        uint64_t ops, bytes;
    } kids[] = {
        {101, 100, "iowork write A 4096 100", 100, 409600},
        {102, 100, "iowork write B 4096 300", 300, 1228800},
        {103, 100, "iowork orphan C 4096 50", 0, 0},
        {104, 103, "iowork orphan C 4096 50", 0, 0},
        {105, 104, "iowork orphan C 4096 50", 50, 204800},
    };
    for (int i = 0; i < 5; i++) {
        p = report_add_proc(r, kids[i].pid, kids[i].ppid, kids[i].cmd);
        p->start = 0.01 * (i + 1);
        p->end = p->start + 0.0125;
        p->exited = true;
        p->write_ops = kids[i].ops;
        p->write_bytes = kids[i].bytes;
        p->has_cpu = true;
        p->system_seconds = 0.0005 * (i + 1);
    }
    for (int i = 0; i < 9; i++) {
        char cmd[32];
        snprintf(cmd, sizeof(cmd), "small %d", i + 1);
        p = report_add_proc(r, 106 + i, 100, cmd);
        p->start = 0.1 + 0.01 * i;
        p->end = p->start + 0.001;
        p->exited = true;
        p->exit_status = i == 0 ? 3 : 0;
        p->write_ops = 1;
        p->write_bytes = (uint64_t)(10 * (i + 1));
        p->has_cpu = i != 7;
        p->user_seconds = 0.0001;
        if (i == 1) {
            p->exited = false;
            p->term_signal = 9;
        }
        if (i == 8) {
            p->end = -1;
            p->exited = false;
        }
    }
    r->still_running = 1;
}

/* The full dd report with the findings the rules give it (and one of each
 * severity, hand-written, with a character the HTML must escape). */
static void f_findings(struct report *r)
{
    f_full(r);
    r->has_findings = true;
    report_add_finding(r, "fsync-per-write", FSEV_CRITICAL,
                       "2,560 fsync calls for 2,560 writes to files.",
                       "Sync once at the end (or at commit points), not after every write.");
    report_add_finding(r, "small-writes", FSEV_WARNING,
                       "2,560 writes of 4.00 KiB on average to /tmp/out file (10.00 MiB in all).",
                       "Buffer them: write larger blocks (a buffered file object, or fewer, "
                       "larger writes).");
    report_add_finding(r, "latency-outliers", FSEV_INFO,
                       "Call latency p50 under 8 \xc2\xb5s, p99 under 131 \xc2\xb5s <slow>.",
                       "Look for calls that wait on storage.");
}

const struct render_fixture render_fixtures[] = {
    {"empty", f_empty},
    {"tiny", f_tiny},
    {"huge", f_huge},
    {"full", f_full},
    {"failed", f_failed},
    {"signal", f_signal},
    {"proc_sampled", f_proc_sampled},
    {"tree", f_tree},
    {"findings", f_findings},
    {NULL, NULL},
};

int render_fixture_build(const char *name, struct report *r)
{
    for (const struct render_fixture *f = render_fixtures; f->name; f++)
        if (!strcmp(f->name, name)) {
            f->build(r);
            return 0;
        }
    return -1;
}
