/* test_fsusage_runner: the macOS fs_usage runner (measure/fsusage_darwin.c)
 * driven on Linux by a stand-in fs_usage (tests/integration/fake_fs_usage.py,
 * strace underneath) that prints the same wide lines. It checks what no
 * Linux build can otherwise: the start synchronisation, the gated exec, the
 * live parsing, the drain and the stop, and windows reusing one fs_usage.
 * Needs root and strace; exits 77 (skipped) without them. */
#include "measure/backend.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern const struct meas_backend meas_fsusage;

static const struct file_row *find_file(const struct report *r, const char *path)
{
    for (size_t i = 0; i < r->nfiles; i++)
        if (!strcmp(r->files[i].path, path))
            return &r->files[i];
    return NULL;
}

static void test_run(void)
{
    char iowork[4096], out[4096];
    snprintf(iowork, sizeof(iowork), "%s/tests/helpers/iowork", tap_binary_dir());
    snprintf(out, sizeof(out), "%s/tests/fsu-runner-out.bin", tap_binary_dir());
    char *argv[] = {iowork, "write", out, "4096", "2560", NULL};
    struct meas_opts o;
    meas_opts_init(&o);
    o.top_files = 0;
    struct report r;
    report_init(&r);
    char err[256] = "";
    int rc = meas_fsusage.run(&o, argv, &r, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "# %s\n", err);
    CHECK_STR(r.backend, "fs_usage");
    if (!r.exited)
        fprintf(stderr, "# not exited: %s\n", r.error ? r.error : "(no error)");
    CHECK(r.exited);
    CHECK_INT(r.exit_status, 0);
    CHECK_U64(r.write_ops, 2560);
    CHECK_U64(r.write_bytes, 10485760);
    const struct file_row *f = find_file(&r, out);
    CHECK(f != NULL);
    if (f) {
        CHECK_U64(f->opens, 1);
        CHECK_U64(f->write_ops, 2560);
        CHECK_U64(f->write_bytes, 10485760);
        CHECK_U64(f->read_ops, 0);
    }
    CHECK_U64(r.fds.end, 0); /* everything it opened, it closed */
    CHECK(r.argv && !strcmp(r.argv[1], "write"));
    report_release(&r);
    unlink(out);
}

static void test_exec_failure(void)
{
    char *argv[] = {"/nonexistent/iopsd-test-cmd", NULL};
    struct meas_opts o;
    meas_opts_init(&o);
    struct report r;
    report_init(&r);
    char err[256] = "";
    CHECK_INT(meas_fsusage.run(&o, argv, &r, err, sizeof(err)), 0);
    CHECK_INT(r.exec_errno, ENOENT);
    CHECK_U64(r.write_ops, 0);
    report_release(&r);
}

static void test_fs_usage_fails(void)
{
    setenv("FAKE_FSU_FAIL", "1", 1);
    char *argv[] = {"true", NULL};
    struct meas_opts o;
    meas_opts_init(&o);
    struct report r;
    report_init(&r);
    char err[256] = "";
    int rc = meas_fsusage.run(&o, argv, &r, err, sizeof(err));
    CHECK_INT(rc, -ECHILD);
    CHECK_STR(err, "fs_usage stopped: ktrace_start: Resource busy");
    report_release(&r);
    unsetenv("FAKE_FSU_FAIL");
}

static void on_usr2(int sig)
{
    (void)sig;
}

/* A process that, for each byte on ctl, writes 10 x 4096 bytes to path and
 * tells its parent with SIGUSR2 (no file system call). */
static pid_t start_worker(const char *path, int *ctl)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t c = fork();
    if (c == 0) {
        close(p[1]);
        static char b[4096];
        char x;
        while (read(p[0], &x, 1) == 1) {
            FILE *f = fopen(path, "w");
            for (int i = 0; f && i < 10; i++)
                if (write(fileno(f), b, sizeof(b)) != (ssize_t)sizeof(b))
                    _exit(1);
            if (f)
                fclose(f);
            kill(getppid(), SIGUSR2);
        }
        _exit(0);
    }
    close(p[0]);
    *ctl = p[1];
    return c;
}

static void test_windows(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fsu-runner-window.bin", tap_binary_dir());
    sigset_t usr2, old;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, &old);
    signal(SIGUSR2, on_usr2);
    int ctl = -1;
    pid_t w = start_worker(path, &ctl);
    CHECK(w > 0);
    struct meas_opts o;
    meas_opts_init(&o);
    o.top_files = 0;
    for (int round = 0; round < 2; round++) { /* the second reuses fs_usage */
        struct meas_window *win = NULL;
        char err[256] = "";
        int rc = meas_fsusage.window_begin(&w, 1, &o, &win, err, sizeof(err));
        CHECK_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "# %s\n", err);
            break;
        }
        CHECK_INT(write(ctl, "w", 1), 1);
        int sig;
        sigwait(&usr2, &sig);
        struct report r;
        report_init(&r);
        CHECK_INT(meas_fsusage.window_end(win, &r, err, sizeof(err)), 0);
        CHECK_U64(r.write_ops, 10);
        CHECK_U64(r.write_bytes, 40960);
        CHECK_U64(r.read_ops, 1); /* the worker's read of the control byte */
        CHECK_U64(r.read_bytes, 1);
        const struct file_row *f = find_file(&r, path);
        CHECK(f != NULL);
        if (f) {
            CHECK_U64(f->opens, 1);
            CHECK_U64(f->write_bytes, 40960);
        }
        CHECK_U64(r.meta_ops[META_OPEN], 1);
        CHECK_U64(r.meta_ops[META_CLOSE], 1);
        report_release(&r);
    }
    close(ctl);
    waitpid(w, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    unlink(path);
}

int main(void)
{
    setvbuf(stderr, NULL, _IONBF, 0);
    char err[256];
    if (geteuid() != 0 || access("/usr/bin/strace", X_OK) != 0) {
        printf("skipped: needs root and /usr/bin/strace\n");
        return 77;
    }
    /* A sanitizer build's leak check cannot run under ptrace (the stand-in's
     * strace) and would write its complaint as the command's own I/O. */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    CHECK_INT(meas_fsusage.probe(err, sizeof(err)), 0);
    test_run();
    test_exec_failure();
    test_fs_usage_fails();
    test_windows();
    return tap_done("fsusage_runner");
}
