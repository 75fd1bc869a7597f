/* test_trace_attach: the tracer's attached windows on a running helper
 * (tests/helpers/tw_attach): exact counts during the window, and a process
 * left exactly as it was afterwards (running, untraced, no signal lost or
 * added), including when the window closes while threads block in read. */
#include "measure/backend.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const struct meas_backend meas_trace;

struct helper {
    pid_t pid;
    int to, from;
};

static int helper_start(struct helper *h, const char *file, int threads)
{
    int in[2], out[2];
    char path[4096], nt[16];
    snprintf(path, sizeof(path), "%s/tests/helpers/tw_attach", tap_binary_dir());
    snprintf(nt, sizeof(nt), "%d", threads);
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
        return -errno;
    h->pid = fork();
    if (h->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl(path, path, file, nt, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    h->to = in[1];
    h->from = out[0];
    char c = 0;
    if (read(h->from, &c, 1) != 1 || c != 'r')
        return -EIO;
    return 0;
}

/* Sends a command and returns the one-byte answer (-1 on failure). */
static int helper_cmd(struct helper *h, char cmd)
{
    unsigned char c;
    if (write(h->to, &cmd, 1) != 1 || read(h->from, &c, 1) != 1)
        return -1;
    return c;
}

static void status_field(pid_t pid, const char *key, char *out, size_t outlen)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "re");
    out[0] = '\0';
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key))) {
            const char *v = line + strlen(key);
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, outlen, "%s", v);
            out[strcspn(out, "\n")] = '\0';
        }
    if (f)
        fclose(f);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const struct file_row *find_row(const struct report *r, const char *path)
{
    for (size_t i = 0; i < r->nfiles; i++)
        if (!strcmp(r->files[i].path, path))
            return &r->files[i];
    return NULL;
}

/* The helper is running, untraced, not stopped. */
static void check_untouched(pid_t pid)
{
    char v[64];
    status_field(pid, "TracerPid:", v, sizeof(v));
    CHECK_STR(v, "0");
    status_field(pid, "State:", v, sizeof(v));
    CHECK(v[0] == 'S' || v[0] == 'R');
    /* every thread, too */
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "grep -l '^TracerPid:[[:space:]]*[1-9]' %s/*/status 2>/dev/null", p);
    FILE *f = popen(cmd, "r");
    char line[256];
    int traced = 0;
    while (f && fgets(line, sizeof(line), f))
        traced++;
    if (f)
        pclose(f);
    CHECK_INT(traced, 0);
}

static void test_window(int threads)
{
    char dir[] = "/tmp/iopsd-attach-XXXXXX", file[256], err[256] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof(file), "%s/out", dir);
    struct helper h;
    CHECK_INT(helper_start(&h, file, threads), 0);

    struct meas_opts o;
    meas_opts_init(&o);
    o.top_files = 0;
    struct meas_window *w = NULL;
    int rc = meas_trace.window_begin(h.pid, &o, &w, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "window_begin: %s\n", err);
        kill(h.pid, SIGKILL);
        return;
    }
    CHECK_INT(helper_cmd(&h, 'w'), 'k');
    if (threads)
        CHECK_INT(helper_cmd(&h, 't'), 'k');
    kill(h.pid, SIGUSR1);
    sleep_ms(50);
    CHECK_INT(helper_cmd(&h, 's'), 1);
    sleep_ms(50); /* every thread back in read(2) when the window closes */
    struct report r;
    report_init(&r);
    rc = meas_trace.window_end(w, &r, err, sizeof(err));
    CHECK_INT(rc, 0);
    uint64_t blocks = 10 + 10 * (uint64_t)threads;
    CHECK_STR(r.backend, "trace");
    CHECK_U64(r.write_ops, blocks);
    CHECK_U64(r.write_bytes, blocks * 4096);
    CHECK_U64(r.read_ops, 0);
    CHECK_U64(r.read_errors, 0);
    CHECK_U64(r.write_errors, 0);
    CHECK_U64(r.size_hist[report_size_bucket(4096)].write_ops, blocks);
    const struct file_row *row = find_row(&r, file);
    CHECK(row != NULL);
    if (row) {
        CHECK_U64(row->write_ops, blocks);
        CHECK_U64(row->opens, 0);
    }
    /* pipes: main reads w,(t,)s and `threads` done bytes; each thread reads
     * one command; main writes k,(k,)count, one byte per thread, and each
     * thread one done byte */
    uint64_t cmds = threads ? 3 : 2;
    CHECK_U64(r.by_kind[FDK_PIPE].read_ops, cmds + 2 * (uint64_t)threads);
    CHECK_U64(r.by_kind[FDK_PIPE].write_ops, cmds + 2 * (uint64_t)threads);
    CHECK_U64(r.processes, 1);
    CHECK(!r.fds.sampled);
    CHECK_INT(r.fds.start, r.fds.end);
    CHECK_U64(r.fds.nleaked, 0);
    report_release(&r);

    check_untouched(h.pid);
    /* unharmed: it still works, and saw exactly one SIGUSR1 */
    CHECK_INT(helper_cmd(&h, 'w'), 'k');
    CHECK_INT(helper_cmd(&h, 's'), 1);

    /* a window with nothing in it, closed while every thread blocks in read */
    rc = meas_trace.window_begin(h.pid, &o, &w, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc == 0) {
        sleep_ms(20);
        report_init(&r);
        CHECK_INT(meas_trace.window_end(w, &r, err, sizeof(err)), 0);
        CHECK_U64(r.write_ops + r.read_ops, 0);
        CHECK_U64(r.by_kind[FDK_PIPE].read_ops, 0);
        report_release(&r);
    }
    check_untouched(h.pid);
    CHECK_INT(helper_cmd(&h, 't'), 'k');
    CHECK_INT(helper_cmd(&h, 's'), 1);

    CHECK(write(h.to, "q", 1) == 1);
    int st = 0;
    CHECK_INT(waitpid(h.pid, &st, 0), h.pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(h.to);
    close(h.from);
    unlink(file);
    rmdir(dir);
}

/* A fork during the window is followed; the root exiting during the window
 * still reports its status to its real parent (this process), not to the
 * tracer thread. */
static void test_fork_and_exit(void)
{
    char dir[] = "/tmp/iopsd-attach-XXXXXX", file[256], err[256] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof(file), "%s/out", dir);
    struct helper h;
    CHECK_INT(helper_start(&h, file, 2), 0);
    struct meas_opts o;
    meas_opts_init(&o);
    struct meas_window *w = NULL;
    int rc = meas_trace.window_begin(h.pid, &o, &w, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc) {
        kill(h.pid, SIGKILL);
        return;
    }
    CHECK_INT(helper_cmd(&h, 'f'), 'k');
    CHECK_INT(helper_cmd(&h, 'o'), 'k');
    CHECK(write(h.to, "q", 1) == 1);
    char c;
    CHECK_INT(read(h.from, &c, 1), 0); /* EOF: the helper is exiting */
    sleep_ms(100);
    struct report r;
    report_init(&r);
    CHECK_INT(meas_trace.window_end(w, &r, err, sizeof(err)), 0);
    CHECK_U64(r.write_ops, 10);
    CHECK_U64(r.processes, 2);
    /* the descriptor opened during the window and left open at exit */
    char leak[300];
    snprintf(leak, sizeof(leak), "%s.leak", file);
    CHECK_U64(r.fds.nleaked, 1);
    if (r.fds.nleaked == 1) {
        CHECK_STR(r.fds.leaked[0].path, leak);
        CHECK_INT(r.fds.leaked[0].pid, h.pid);
        CHECK_INT(r.fds.leaked[0].kind, FDK_FILE);
    }
    CHECK_INT(r.fds.end - r.fds.start, 1);
    report_release(&r);
    int st = 0;
    CHECK_INT(waitpid(h.pid, &st, 0), h.pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(h.to);
    close(h.from);
    unlink(file);
    unlink(leak);
    rmdir(dir);
}

/* The native kernel's case: a long-lived shell runs one command per window. */
static void test_shell(void)
{
    char dir[] = "/tmp/iopsd-attach-XXXXXX", err[256] = "", cmd[512], line[64];
    CHECK(mkdtemp(dir) != NULL);
    int in[2], out[2];
    CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    pid_t sh = fork();
    if (sh == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl("/bin/sh", "sh", "-s", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    FILE *from = fdopen(out[0], "r");
    /* wait until sh runs (before its exec it still holds our pipe ends) */
    CHECK(write(in[1], "echo ready\n", 11) == 11);
    CHECK(fgets(line, sizeof(line), from) != NULL);
    CHECK_STR(line, "ready\n");
    /* a background job that exists before the windows: seized and released */
    const char *bg = "sleep 60 </dev/null >/dev/null & echo $!\n";
    CHECK(write(in[1], bg, strlen(bg)) == (ssize_t)strlen(bg));
    CHECK(fgets(line, sizeof(line), from) != NULL);
    pid_t sleeper = (pid_t)atoi(line);
    CHECK(sleeper > 0);
    sleep_ms(50); /* sleep has exec'd */
    struct meas_opts o;
    meas_opts_init(&o);
    for (int round = 0; round < 2; round++) {
        struct meas_window *w = NULL;
        int rc = meas_trace.window_begin(sh, &o, &w, err, sizeof(err));
        CHECK_INT(rc, 0);
        if (rc)
            break;
        snprintf(cmd, sizeof(cmd), "head -c 8192 /dev/zero > %s/f%d; echo done\n", dir, round);
        CHECK(write(in[1], cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
        CHECK(fgets(line, sizeof(line), from) != NULL);
        CHECK_STR(line, "done\n");
        struct report r;
        report_init(&r);
        CHECK_INT(meas_trace.window_end(w, &r, err, sizeof(err)), 0);
        char f[300];
        snprintf(f, sizeof(f), "%s/f%d", dir, round);
        const struct file_row *row = find_row(&r, f);
        CHECK(row != NULL);
        if (row) {
            CHECK_U64(row->opens, 1);
            CHECK_U64(row->write_bytes, 8192);
        }
        CHECK_U64(r.by_kind[FDK_CHARDEV].read_bytes, 8192);
        CHECK_U64(r.by_kind[FDK_PIPE].write_bytes, 5); /* "done\n" */
        CHECK_U64(r.processes, 3);                     /* sh, the background sleep, and head */
        CHECK_U64(r.fds.nleaked, 0);
        CHECK_INT(r.fds.end, r.fds.start);
        report_release(&r);
        check_untouched(sh);
        if (sleeper > 0)
            check_untouched(sleeper);
        unlink(f);
    }
    if (sleeper > 0)
        kill(sleeper, SIGKILL);
    close(in[1]);
    int st = 0;
    CHECK_INT(waitpid(sh, &st, 0), sh);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fclose(from);
    rmdir(dir);
}

/* Attached mode follows threads' own descriptor tables too: a shell runs
 * `tw_truth fdtable` (an unsharing thread, a thread cloned without
 * CLONE_FILES; see tests/helpers/tw_truth.c) during a window. */
static void test_thread_tables(void)
{
    char dir[] = "/tmp/iopsd-attach-XXXXXX", err[256] = "", cmd[8192], line[64], f[4][300];
    CHECK(mkdtemp(dir) != NULL);
    for (int i = 0; i < 4; i++)
        snprintf(f[i], sizeof(f[i]), "%s/%c", dir, 'a' + i);
    int in[2], out[2];
    CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    pid_t sh = fork();
    if (sh == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl("/bin/sh", "sh", "-s", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    FILE *from = fdopen(out[0], "r");
    CHECK(write(in[1], "echo ready\n", 11) == 11);
    CHECK(fgets(line, sizeof(line), from) != NULL);
    struct meas_opts o;
    meas_opts_init(&o);
    struct meas_window *w = NULL;
    int rc = meas_trace.window_begin(sh, &o, &w, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc == 0) {
        snprintf(cmd, sizeof(cmd),
                 "%s/tests/helpers/tw_truth fdtable %s %s %s %s 8 >/dev/null && echo done\n",
                 tap_binary_dir(), f[0], f[1], f[2], f[3]);
        CHECK(write(in[1], cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
        CHECK(fgets(line, sizeof(line), from) != NULL);
        CHECK_STR(line, "done\n");
        struct report r;
        report_init(&r);
        CHECK_INT(meas_trace.window_end(w, &r, err, sizeof(err)), 0);
        for (int i = 0; i < 4; i++) {
            const struct file_row *row = find_row(&r, f[i]);
            CHECK(row != NULL);
            if (row) {
                CHECK_U64(row->opens, 1);
                CHECK_U64(row->write_ops, 8);
                CHECK_U64(row->write_bytes, 32768);
            }
        }
        CHECK_U64(r.by_kind[FDK_FILE].write_ops, 32);
        /* C went with the cloned thread's table */
        CHECK_U64(r.fds.nleaked, 1);
        if (r.fds.nleaked == 1)
            CHECK_STR(r.fds.leaked[0].path, f[2]);
        report_release(&r);
        check_untouched(sh);
    }
    close(in[1]);
    int st = 0;
    CHECK_INT(waitpid(sh, &st, 0), sh);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fclose(from);
    for (int i = 0; i < 4; i++)
        unlink(f[i]);
    rmdir(dir);
}

/* A host that ignores SIGCHLD (its children are reaped automatically) does
 * not lose the window's doorbell: window_end returns. */
static void test_host_ignores_sigchld(void)
{
    char dir[] = "/tmp/iopsd-attach-XXXXXX", file[256], err[256] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof(file), "%s/out", dir);
    struct helper h;
    CHECK_INT(helper_start(&h, file, 1), 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old);
    struct meas_opts o;
    meas_opts_init(&o);
    for (int i = 0; i < 3; i++) {
        struct meas_window *w = NULL;
        int rc = meas_trace.window_begin(h.pid, &o, &w, err, sizeof(err));
        CHECK_INT(rc, 0);
        if (rc)
            break;
        CHECK_INT(helper_cmd(&h, 'w'), 'k');
        struct report r;
        report_init(&r);
        CHECK_INT(meas_trace.window_end(w, &r, err, sizeof(err)), 0);
        CHECK_U64(r.write_ops, 10);
        report_release(&r);
    }
    sigaction(SIGCHLD, &old, NULL);
    check_untouched(h.pid);
    CHECK(write(h.to, "q", 1) == 1);
    int st = 0;
    CHECK_INT(waitpid(h.pid, &st, 0), h.pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(h.to);
    close(h.from);
    unlink(file);
    rmdir(dir);
}

static void test_refused(void)
{
    char err[256] = "";
    struct meas_opts o;
    meas_opts_init(&o);
    struct meas_window *w = NULL;
    CHECK(meas_trace.window_begin(getpid(), &o, &w, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--backend proc") != NULL);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    err[0] = '\0';
    CHECK(meas_trace.window_begin(gone, &o, &w, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--backend proc") != NULL);
}

int main(void)
{
    char err[256];
    int rc = meas_trace.probe(err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "ptrace refused here: %s\n", err);
        return tap_done("test_trace_attach");
    }
    test_window(0);
    test_window(8);
    test_fork_and_exit();
    test_thread_tables();
    test_shell();
    test_host_ignores_sigchld();
    test_refused();
    return tap_done("test_trace_attach");
}
