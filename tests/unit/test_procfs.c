/* test_procfs: the /proc/<pid>/io and /proc/<pid>/stat parsers against
 * captured fixtures, malformed input, and the live readers. */
#include "measure/procfs.h"
#include "tests/unit/tap.h"
#include "util/buf.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_io_fixture(const char *name, struct proc_io *io)
{
    char path[1024];
    struct buf b;
    buf_init(&b, 0);
    snprintf(path, sizeof(path), "%s/tests/fixtures/proc/%s", tap_source_dir(), name);
    int rc = buf_slurp(&b, path, 1 << 16);
    if (rc == 0)
        rc = procfs_parse_io(b.data, b.len, io);
    buf_release(&b);
    return rc;
}

static int parse_stat_text(const char *text, struct proc_stat *st)
{
    return procfs_parse_stat(text, strlen(text), st);
}

static void test_io_fixtures(void)
{
    struct proc_io io;
    CHECK_INT(parse_io_fixture("io-cat.txt", &io), 0);
    CHECK_U64(io.rchar, 6976);
    CHECK_U64(io.wchar, 0);
    CHECK_U64(io.syscr, 10);
    CHECK_U64(io.syscw, 0);
    CHECK_U64(io.read_bytes, 0);
    CHECK_U64(io.write_bytes, 8192);
    CHECK_U64(io.cancelled_write_bytes, 0);

    CHECK_INT(parse_io_fixture("io-max.txt", &io), 0);
    CHECK_U64(io.rchar, UINT64_MAX);
    CHECK_U64(io.syscw, 2);
    CHECK_U64(io.cancelled_write_bytes, 5);
}

static void test_io_malformed(void)
{
    struct proc_io io;
    const char *full = "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n"
                       "write_bytes: 6\ncancelled_write_bytes: 7\n";
    CHECK_INT(procfs_parse_io(full, strlen(full), &io), 0);
    CHECK_U64(io.write_bytes, 6);
    /* no trailing newline is fine */
    CHECK_INT(procfs_parse_io(full, strlen(full) - 1, &io), 0);
    /* unknown keys are ignored */
    const char *extra = "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n"
                        "write_bytes: 6\ncancelled_write_bytes: 7\nfuture_field: 9\n";
    CHECK_INT(procfs_parse_io(extra, strlen(extra), &io), 0);
    /* a missing field */
    CHECK_INT(procfs_parse_io(full, 60, &io), -EBADMSG);
    const char *bad[] = {
        "",
        "rchar: 1\nrchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\n"
        "cancelled_write_bytes: 7\n", /* duplicate */
        "rchar: -1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\n"
        "cancelled_write_bytes: 7\n", /* negative */
        "rchar: 18446744073709551616\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n"
        "write_bytes: 6\ncancelled_write_bytes: 7\n", /* overflow */
        "rchar: 1x\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\n"
        "cancelled_write_bytes: 7\n", /* junk */
        "rchar 1\n",                  /* no colon */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(procfs_parse_io(bad[i], strlen(bad[i]), &io), -EBADMSG);
    /* over the size cap */
    static char big[PROCFS_MAX_IO + 2];
    memset(big, '\n', sizeof(big));
    CHECK_INT(procfs_parse_io(big, sizeof(big), &io), -EBADMSG);
}

static void test_stat(void)
{
    struct proc_stat st;
    struct buf b;
    char path[1024];
    buf_init(&b, 0);
    snprintf(path, sizeof(path), "%s/tests/fixtures/proc/stat-parens.txt", tap_source_dir());
    CHECK_INT(buf_slurp(&b, path, 4096), 0);
    CHECK_INT(procfs_parse_stat(b.data, b.len, &st), 0);
    CHECK_INT(st.pid, 4242);
    CHECK_INT(st.state, 'S');
    CHECK_INT(st.ppid, 1);
    CHECK_INT(st.pgrp, 4242);
    CHECK_INT(st.session, 4242);
    CHECK_U64(st.flags, 4194560);
    CHECK_U64(st.utime, 17);
    CHECK_U64(st.stime, 23);
    CHECK_U64(st.cutime, 5);
    CHECK_U64(st.cstime, 7);
    CHECK_U64(st.starttime, 12345);
    CHECK_STR(st.comm, "a) b (c)");
    CHECK_U64(st.num_threads, 1);
    CHECK_U64(st.rss, 100);
    CHECK_U64(st.delayacct_blkio_ticks, 0);
    buf_release(&b);

    snprintf(path, sizeof(path), "%s/tests/fixtures/proc/stat-init.txt", tap_source_dir());
    buf_init(&b, 0);
    CHECK_INT(buf_slurp(&b, path, 4096), 0);
    CHECK_INT(procfs_parse_stat(b.data, b.len, &st), 0);
    CHECK_INT(st.pid, 1);
    CHECK_INT(st.ppid, 0);
    CHECK_U64(st.utime, 56);
    CHECK_U64(st.stime, 180);
    CHECK_U64(st.num_threads, 13);
    CHECK_U64(st.rss, 3791);
    buf_release(&b);

    /* field 42 (delayacct_blkio_ticks) */
    snprintf(path, sizeof(path), "%s/tests/fixtures/proc/stat-blkio.txt", tap_source_dir());
    buf_init(&b, 0);
    CHECK_INT(buf_slurp(&b, path, 4096), 0);
    CHECK_INT(procfs_parse_stat(b.data, b.len, &st), 0);
    CHECK_INT(st.state, 'D');
    CHECK_U64(st.rss, 2048);
    CHECK_U64(st.delayacct_blkio_ticks, 77);
    buf_release(&b);

    /* fields 23.. are optional: text ending after 22 (or a bad field past it)
     * leaves them 0 */
    CHECK_INT(parse_stat_text("7 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 3 18 19", &st), 0);
    CHECK_U64(st.num_threads, 3);
    CHECK_U64(st.starttime, 19);
    CHECK_U64(st.rss, 0);
    CHECK_INT(
        parse_stat_text("7 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 3 18 19 20 5 x 9", &st), 0);
    CHECK_U64(st.rss, 5);
    CHECK_U64(st.delayacct_blkio_ticks, 0);

    CHECK_INT(parse_stat_text("12 (x", &st), -EBADMSG);
    CHECK_INT(parse_stat_text("12 (x) S", &st), -EBADMSG);
    CHECK_INT(parse_stat_text("(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19", &st),
              -EBADMSG);
    CHECK_INT(parse_stat_text("", &st), -EBADMSG);
}

static void test_live(void)
{
    struct proc_io io;
    struct proc_stat st;
    CHECK_INT(procfs_read_io(getpid(), &io), 0);
    CHECK_INT(procfs_read_stat(getpid(), &st), 0);
    CHECK_INT(st.pid, getpid());
    CHECK_INT(st.ppid, getppid());
    CHECK_INT(st.pgrp, getpgrp());
    CHECK_INT(st.session, getsid(0));
    CHECK(procfs_count_fds(getpid()) >= 3);
    {
        /* one more pipe: two more fifos; a socketpair: two more sockets */
        struct proc_fd_kinds a, b2;
        int pf[2], sv[2];
        CHECK_INT(procfs_read_fd_kinds(getpid(), &a), 0);
        CHECK_INT(pipe(pf), 0);
        CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        CHECK_INT(procfs_read_fd_kinds(getpid(), &b2), 0);
        CHECK_U64(b2.fifo - a.fifo, 2);
        CHECK_U64(b2.sock - a.sock, 2);
        CHECK_U64(b2.reg, a.reg);
        close(pf[0]);
        close(pf[1]);
        close(sv[0]);
        close(sv[1]);
        CHECK(procfs_read_fd_kinds(0x7ffffff0, &a) < 0);
    }
    /* A pid that cannot exist (above pid_max's hard limit). */
    CHECK(procfs_read_io(0x7ffffff0, &io) < 0);

    /* A child shows up as our descendant. */
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    pid_t kids[16];
    CHECK_INT(procfs_descendants(getpid(), kids, 16), 1);
    CHECK_INT(kids[0], c);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    CHECK_INT(procfs_descendants(getpid(), kids, 16), 0);
}

static int pid_order(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

static int thread_pipe[2];
static pid_t thread_child;

/* A second thread's child: listed in that thread's children file. */
static void *thread_forks(void *arg)
{
    (void)arg;
    thread_child = fork();
    if (thread_child == 0) {
        pause();
        _exit(0);
    }
    char b;
    while (read(thread_pipe[0], &b, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static int stop_at_first(const struct proc_stat *st, void *ctx)
{
    (void)st;
    (*(int *)ctx)++;
    return 7;
}

/* procfs_each_stat through procfs_all_stats: our children a and e; a's
 * children b, c and the zombie z (zombies are listed); a walk stopped by its
 * callback returns the callback's value after one call. */
static void check_each_stat(pid_t a, pid_t e, const pid_t v[3])
{
    struct proc_stat *all;
    long n = procfs_all_stats(&all);
    int ours = 0, of_a = 0, zombies = 0;
    for (long i = 0; i < n; i++) {
        if (all[i].ppid == getpid()) {
            CHECK(all[i].pid == a || all[i].pid == e);
            ours++;
        }
        if (all[i].ppid == a) {
            CHECK(all[i].pid == v[0] || all[i].pid == v[1] || all[i].pid == v[2]);
            of_a++;
            if (all[i].pid == v[2])
                zombies += all[i].state == 'Z';
        }
    }
    free(all);
    CHECK_INT(ours, 2);
    CHECK_INT(of_a, 3);
    CHECK_INT(zombies, 1);
    int calls = 0;
    CHECK_INT(procfs_each_stat(stop_at_first, &calls), 7);
    CHECK_INT(calls, 1);
}

/* A tree of known shape: us -> a (-> b -> d, c, z a zombie), and e, the
 * child of our second thread. Breadth first, each parent's children by pid,
 * as the scan of /proc lists them; zombies only in procfs_descendants. */
static void test_tree(void)
{
    int pids[2], dpipe[2]; /* b reports d on its own pipe: b and a race */
    CHECK_INT(pipe(pids), 0);
    CHECK_INT(pipe(dpipe), 0);
    CHECK_INT(pipe(thread_pipe), 0);
    pid_t a = fork();
    if (a == 0) {
        pid_t b = fork();
        if (b == 0) {
            pid_t d = fork();
            if (d == 0) {
                pause();
                _exit(0);
            }
            if (write(dpipe[1], &d, sizeof d) != sizeof d)
                _exit(1);
            pause();
            _exit(0);
        }
        pid_t c = fork();
        if (c == 0) {
            pause();
            _exit(0);
        }
        pid_t z = fork();
        if (z == 0)
            _exit(0);
        struct proc_stat st;
        for (int i = 0; i < 5000; i++) { /* until z is a zombie (not reaped) */
            if (procfs_read_stat(z, &st) == 0 && st.state == 'Z')
                break;
            usleep(1000);
        }
        pid_t v[3] = {b, c, z};
        if (write(pids[1], v, sizeof v) != sizeof v)
            _exit(1);
        pause();
        _exit(0);
    }
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, thread_forks, NULL), 0);
    pid_t d = 0, v[3] = {0, 0, 0};
    CHECK_INT((int)read(dpipe[0], &d, sizeof d), (int)sizeof d);
    CHECK_INT((int)read(pids[0], v, sizeof v), (int)sizeof v);
    while (!__atomic_load_n(&thread_child, __ATOMIC_SEQ_CST))
        usleep(1000);
    pid_t e = thread_child;

    pid_t want[6] = {a, e}, got[16];
    qsort(want, 2, sizeof(pid_t), pid_order);
    memcpy(want + 2, v, sizeof v);
    qsort(want + 2, 3, sizeof(pid_t), pid_order);
    want[5] = d;
    CHECK_INT(procfs_descendants(getpid(), got, 16), 6);
    for (int i = 0; i < 6; i++)
        CHECK_INT(got[i], want[i]);
    /* live: without the zombie z (v[2]) */
    long n = procfs_descendants_live(getpid(), got, 16);
    CHECK_INT(n, 5);
    for (int i = 0, j = 0; i < 6; i++)
        if (want[i] != v[2] && j < 5)
            CHECK_INT(got[j++], want[i]);
    /* more than max: the count, max written */
    memset(got, 0, sizeof got);
    CHECK_INT(procfs_descendants(getpid(), got, 2), 6);
    CHECK_INT(got[0], want[0]);
    CHECK_INT(got[1], want[1]);
    CHECK_INT(got[2], 0);
    /* a subtree; a process without children; one that does not exist */
    CHECK_INT(procfs_descendants(v[0], got, 16), 1);
    CHECK_INT(got[0], d);
    CHECK_INT(procfs_descendants(d, got, 16), 0);
    CHECK_INT(procfs_descendants(0x7ffffff0, got, 16), 0);

    /* the full scan of /proc (the fallback without children files): the
     * same pids in the same order */
    CHECK_INT(procfs_descendants_scan(getpid(), got, 16, false), 6);
    for (int i = 0; i < 6; i++)
        CHECK_INT(got[i], want[i]);
    CHECK_INT(procfs_descendants_scan(getpid(), got, 16, true), 5);
    for (int i = 0, j = 0; i < 6; i++)
        if (want[i] != v[2] && j < 5)
            CHECK_INT(got[j++], want[i]);
    CHECK_INT(procfs_descendants_scan(v[0], got, 16, false), 1);
    CHECK_INT(got[0], d);
    check_each_stat(a, e, v);

    kill(d, SIGKILL);
    kill(v[0], SIGKILL);
    kill(v[1], SIGKILL);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    kill(e, SIGKILL);
    waitpid(e, NULL, 0);
    CHECK_INT((int)write(thread_pipe[1], "x", 1), 1);
    pthread_join(th, NULL);
    for (int i = 0; i < 2; i++) {
        close(pids[i]);
        close(dpipe[i]);
        close(thread_pipe[i]);
    }
}

static void test_cmdline(void)
{
    char out[16];
    CHECK_U64(procfs_parse_cmdline("sh\0-c\0echo hi\0", 15, out, sizeof(out)), 13);
    CHECK_STR(out, "sh -c echo hi");
    CHECK_U64(procfs_parse_cmdline("a\0\0\0", 4, out, sizeof(out)), 1); /* trailing NULs */
    CHECK_STR(out, "a");
    CHECK_U64(procfs_parse_cmdline("", 0, out, sizeof(out)), 0); /* a zombie's */
    CHECK_STR(out, "");
    /* cut to cap - 1 */
    CHECK_U64(procfs_parse_cmdline("0123456789abcdefghij", 20, out, sizeof(out)), 15);
    CHECK_STR(out, "0123456789abcde");
    CHECK_U64(procfs_parse_cmdline("x", 1, out, 1), 0);
    CHECK_STR(out, "");
    /* our own, as the kernel has it */
    char self[PROCFS_MAX_CMDLINE];
    CHECK(procfs_read_cmdline(getpid(), self, sizeof(self)) > 0);
    CHECK(strstr(self, "test_procfs") != NULL);
    CHECK(procfs_read_cmdline(0x7ffffff0, self, sizeof(self)) < 0);
}

/* The children file: "12 345 " (a trailing space), empty, or garbage. */
static void test_pids(void)
{
    pid_t v[2];
    CHECK_INT(procfs_parse_pids("12 345 ", 7, v, 2), 2);
    CHECK_INT(v[0], 12);
    CHECK_INT(v[1], 345);
    CHECK_INT(procfs_parse_pids("1 2 3\n", 6, v, 2), 3); /* counted beyond max */
    CHECK_INT(procfs_parse_pids("", 0, v, 2), 0);
    CHECK_INT(procfs_parse_pids("12x ", 4, v, 2), -EBADMSG);
    CHECK_INT(procfs_parse_pids("0 ", 2, v, 2), -EBADMSG);
    CHECK_INT(procfs_parse_pids("-1 ", 3, v, 2), -EBADMSG);
    CHECK_INT(procfs_parse_pids("99999999999 ", 12, v, 2), -EBADMSG);
    static char big[PROCFS_MAX_CHILDREN + 2];
    for (size_t i = 0; i + 1 < sizeof(big); i += 2)
        memcpy(big + i, "1 ", 2);
    CHECK_INT(procfs_parse_pids(big, PROCFS_MAX_CHILDREN, v, 2), PROCFS_MAX_CHILDREN / 2);
    CHECK_INT(procfs_parse_pids(big, PROCFS_MAX_CHILDREN + 2, v, 2), -EBADMSG);
    /* a live one: our own child */
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    pid_t kids[64];
    long n = procfs_read_children(getpid(), getpid(), kids, 64);
    bool found = false;
    for (long i = 0; i < n && i < 64; i++)
        found |= kids[i] == c;
    CHECK(found);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
}

int main(void)
{
    test_pids();
    test_cmdline();
    test_io_fixtures();
    test_io_malformed();
    test_stat();
    test_live();
    test_tree();
    return tap_done("test_procfs");
}
