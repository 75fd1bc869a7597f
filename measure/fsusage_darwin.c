/* fsusage_darwin: the `fs_usage` backend (macOS only): runs Apple's
 * `fs_usage -w -f filesys PID` as our own child and feeds its output, live,
 * through the same parser and aggregator as `iopsd import fs_usage`.
 *
 * UNTESTED ON A REAL MAC: no Mac was available when this was written. It is
 * plain POSIX and is syntax-checked on Linux; see docs/fs_usage.md.
 *
 * Knowing when tracing is live: fs_usage prints nothing when it starts. The
 * process it traces first stat()s a unique marker path every 10 ms; once
 * that line comes out of fs_usage, every later call is seen. Marker lines
 * are dropped. For `run`, the marker process is the command itself, held
 * before its exec; for attached windows, a short-lived helper child (its
 * pid is the second one given to fs_usage; its lines are dropped by thread
 * id, learned from the first marker line).
 *
 * fs_usage is started once: for `run`, once per command; for windows, once
 * per measured root and kept for the next windows (no prompt per cell). It
 * is stopped with SIGINT (it then removes its trace settings), then SIGTERM
 * and SIGKILL if it does not exit: only our own child, by its pid; never
 * killall. It runs in its own process group, so a terminal ^C does not stop
 * it before the command's last calls are read. */
#include "measure/backend.h"
#include "measure/fsusage.h"
#include "measure/spawn.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FSU_BIN         "/usr/bin/fs_usage"
#define SYNC_TIMEOUT_MS 5000 /* fs_usage must show the marker within this */
#define QUIET_MS        300  /* after the run: read until fs_usage is quiet this long */
#define DRAIN_MAX_MS    3000 /* ... but no longer than this */
#define STOP_WAIT_MS    2000 /* after SIGINT, then after SIGTERM */

struct fsu_tracer {
    pid_t pid;      /* our fs_usage child; 0 when none */
    pid_t root;     /* the traced process */
    int out, errfd; /* its stdout and stderr (non-blocking) */
    struct fsu_lines lines;
    char marker[96];      /* the path the marker process stats */
    bool synced;          /* the marker was seen: tracing is live */
    bool drop_marker_tid; /* windows: the helper's thread is not the root's */
    uint64_t marker_tid;
    struct fsu_agg *agg; /* where lines go; NULL: discarded */
    char errtext[256];   /* the start of fs_usage's stderr */
    size_t errn;
};

static int fsu_probe(char *err, size_t errlen)
{
    if (geteuid() != 0) {
        snprintf(err, errlen, "fs_usage needs root: run iopsd with sudo");
        return -EPERM;
    }
    if (access(FSU_BIN, X_OK) != 0) {
        snprintf(err, errlen, "%s: %s", FSU_BIN, strerror(errno));
        return -ENOENT;
    }
    return 0;
}

static void tracer_line(void *ctx, const char *line, size_t len)
{
    struct fsu_tracer *t = ctx;
    bool is_marker = memmem(line, len, t->marker, strlen(t->marker)) != NULL;
    if (is_marker) {
        struct fsu_event ev;
        if (!t->synced && fsu_parse_line(line, len, &ev) == 0)
            t->marker_tid = ev.tid;
        t->synced = true;
        return;
    }
    if (!t->synced || !t->agg)
        return;
    if (t->drop_marker_tid) {
        struct fsu_event ev;
        if (fsu_parse_line(line, len, &ev) == 0 && ev.tid == t->marker_tid)
            return;
    }
    fsu_agg_line(t->agg, line, len);
}

/* Starts fs_usage for pids a and b (b may be 0). */
static int tracer_start(struct fsu_tracer *t, pid_t a, pid_t b, char *err, size_t errlen)
{
    int op[2] = {-1, -1}, ep[2] = {-1, -1};
    if (pipe(op) < 0 || pipe(ep) < 0) {
        int e = errno;
        snprintf(err, errlen, "pipe: %s", strerror(e));
        for (int i = 0; i < 2; i++) {
            if (op[i] >= 0)
                close(op[i]);
            if (ep[i] >= 0)
                close(ep[i]);
        }
        return -e;
    }
    char sa[24], sb[24];
    snprintf(sa, sizeof(sa), "%d", (int)a);
    snprintf(sb, sizeof(sb), "%d", (int)b);
    pid_t p = fork();
    if (p < 0) {
        int e = errno;
        snprintf(err, errlen, "fork: %s", strerror(e));
        close(op[0]);
        close(op[1]);
        close(ep[0]);
        close(ep[1]);
        return -e;
    }
    if (p == 0) {
        setpgid(0, 0); /* the terminal's ^C is not for fs_usage */
        dup2(op[1], STDOUT_FILENO);
        dup2(ep[1], STDERR_FILENO);
        close(op[0]);
        close(op[1]);
        close(ep[0]);
        close(ep[1]);
        if (b > 0)
            execl(FSU_BIN, "fs_usage", "-w", "-f", "filesys", sa, sb, (char *)NULL);
        else
            execl(FSU_BIN, "fs_usage", "-w", "-f", "filesys", sa, (char *)NULL);
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", FSU_BIN, strerror(errno));
        _exit(127);
    }
    close(op[1]);
    close(ep[1]);
    fcntl(op[0], F_SETFL, O_NONBLOCK);
    fcntl(ep[0], F_SETFL, O_NONBLOCK);
    fcntl(op[0], F_SETFD, FD_CLOEXEC);
    fcntl(ep[0], F_SETFD, FD_CLOEXEC);
    t->pid = p;
    t->out = op[0];
    t->errfd = ep[0];
    return 0;
}

/* Reads what fs_usage has written, waiting up to timeout_ms for the first
 * byte. Returns the bytes read from stdout (0: none), or -EPIPE once
 * fs_usage has closed its output. */
static long tracer_pump(struct fsu_tracer *t, int timeout_ms)
{
    struct pollfd pf[2] = {{t->out, POLLIN, 0}, {t->errfd, POLLIN, 0}};
    int n = poll(pf, t->errfd >= 0 ? 2 : 1, timeout_ms);
    if (n <= 0)
        return 0;
    long total = 0;
    char chunk[65536];
    if (t->errfd >= 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
        ssize_t k = read(t->errfd, chunk, sizeof(chunk));
        if (k > 0 && t->errn < sizeof(t->errtext) - 1) {
            size_t c = (size_t)k < sizeof(t->errtext) - 1 - t->errn
                           ? (size_t)k
                           : sizeof(t->errtext) - 1 - t->errn;
            memcpy(t->errtext + t->errn, chunk, c);
            t->errn += c;
            t->errtext[t->errn] = '\0';
        } else if (k == 0) {
            close(t->errfd);
            t->errfd = -1;
        }
    }
    if (pf[0].revents & (POLLIN | POLLHUP)) {
        for (;;) {
            ssize_t k = read(t->out, chunk, sizeof(chunk));
            if (k > 0) {
                fsu_lines_push(&t->lines, chunk, (size_t)k, tracer_line, t);
                total += k;
                continue;
            }
            if (k == 0) {
                fsu_lines_finish(&t->lines, tracer_line, t);
                return -EPIPE;
            }
            break; /* EAGAIN (or EINTR: poll again later) */
        }
    }
    return total;
}

/* Reads until fs_usage has been quiet for QUIET_MS (at most DRAIN_MAX_MS). */
static void tracer_drain(struct fsu_tracer *t)
{
    uint64_t start = clock_mono_ns(), quiet_since = start;
    for (;;) {
        uint64_t now = clock_mono_ns();
        if (now - quiet_since >= QUIET_MS * 1000000ull || now - start >= DRAIN_MAX_MS * 1000000ull)
            return;
        long n = tracer_pump(t, 50);
        if (n < 0)
            return;
        if (n > 0)
            quiet_since = clock_mono_ns();
    }
}

/* Waits up to ms for our fs_usage to exit, reading its output meanwhile. */
static bool tracer_wait(struct fsu_tracer *t, int ms)
{
    uint64_t end = clock_mono_ns() + (uint64_t)ms * 1000000ull;
    while (clock_mono_ns() < end) {
        if (waitpid(t->pid, NULL, WNOHANG) == t->pid)
            return true;
        if (tracer_pump(t, 50) < 0 && waitpid(t->pid, NULL, WNOHANG) == t->pid)
            return true;
    }
    return false;
}

/* Stops our fs_usage (SIGINT, then SIGTERM, then SIGKILL) and releases t. */
static void tracer_stop(struct fsu_tracer *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGINT);
        if (!tracer_wait(t, STOP_WAIT_MS)) {
            kill(t->pid, SIGTERM);
            if (!tracer_wait(t, STOP_WAIT_MS)) {
                kill(t->pid, SIGKILL);
                waitpid(t->pid, NULL, 0);
            }
        }
        t->pid = 0;
    }
    if (t->out >= 0)
        close(t->out);
    if (t->errfd >= 0)
        close(t->errfd);
    t->out = t->errfd = -1;
    fsu_lines_release(&t->lines);
}

static void tracer_init(struct fsu_tracer *t)
{
    memset(t, 0, sizeof(*t));
    t->out = t->errfd = -1;
    fsu_lines_init(&t->lines);
    snprintf(t->marker, sizeof(t->marker), "/.iopsd-fs_usage-sync-%d-%llu", (int)getpid(),
             (unsigned long long)clock_mono_ns());
}

/* Pumps until the marker is seen. On failure, a reason in err. */
static int tracer_sync(struct fsu_tracer *t, char *err, size_t errlen)
{
    uint64_t end = clock_mono_ns() + SYNC_TIMEOUT_MS * 1000000ull;
    while (!t->synced) {
        if (tracer_pump(t, 50) < 0 || waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            t->pid = 0;
            snprintf(err, errlen, "fs_usage stopped: %s",
                     t->errn ? strtok(t->errtext, "\n") : "no message");
            return -ECHILD;
        }
        if (clock_mono_ns() > end) {
            snprintf(err, errlen, "fs_usage showed no trace within %d s%s%s",
                     SYNC_TIMEOUT_MS / 1000, t->errn ? ": " : "",
                     t->errn ? strtok(t->errtext, "\n") : "");
            return -ETIMEDOUT;
        }
    }
    return 0;
}

/* The marker process: stats the marker every 10 ms until the other end of
 * gate is closed (the parent says "go on"). It makes no other file system
 * call fs_usage would show: no read, no close (gate is close-on-exec). */
static void marker_loop(int gate, const char *marker)
{
    for (;;) {
        struct pollfd pf = {gate, POLLIN, 0};
        int n = poll(&pf, 1, 10);
        if (n == 0) {
            struct stat st;
            stat(marker, &st);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return;
    }
}

static int fsu_run(const struct meas_opts *o, char *const argv[], struct report *r, char *err,
                   size_t errlen)
{
    struct fsu_tracer t;
    struct spawn_guard g = {0};
    int gate[2] = {-1, -1}, ex[2] = {-1, -1}, rc;
    if ((rc = fsu_probe(err, errlen)))
        return rc;
    tracer_init(&t);
    if (pipe(gate) < 0 || pipe(ex) < 0) {
        rc = -errno;
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto out_pipes;
    }
    fcntl(ex[0], F_SETFD, FD_CLOEXEC);
    fcntl(ex[1], F_SETFD, FD_CLOEXEC);
    fcntl(gate[0], F_SETFD, FD_CLOEXEC);
    fcntl(gate[1], F_SETFD, FD_CLOEXEC);
    spawn_guard_begin(&g);
    pid_t cmd = fork();
    if (cmd < 0) {
        rc = -errno;
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto out_guard;
    }
    if (cmd == 0) {
        /* These calls come before the first marker: fs_usage's lines for
         * them, if it already runs, are dropped. */
        close(gate[1]);
        close(ex[0]);
        spawn_child_reset(&g);
        marker_loop(gate[0], t.marker);
        spawn_child_exec(argv, ex[1]);
    }
    close(gate[0]);
    close(ex[1]);
    gate[0] = ex[1] = -1;

    rc = tracer_start(&t, cmd, 0, err, errlen);
    if (rc == 0)
        rc = tracer_sync(&t, err, errlen);
    if (rc) {
        kill(cmd, SIGKILL);
        waitpid(cmd, NULL, 0);
        goto out_tracer;
    }

    struct fsu_agg_opts ao = {NULL, o->top_files, o->hist_kinds};
    t.agg = fsu_agg_new(&ao);
    report_set_argv(r, argv);
    r->start_time = clock_wall_seconds();
    uint64_t t0 = clock_mono_ns();
    spawn_forward_pid = cmd;
    close(gate[1]); /* go on: the command execs */
    gate[1] = -1;

    /* Read fs_usage while the command runs (its output must not back up). */
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    bool exited = false;
    int exec_err = -1;
    while (!exited) {
        pid_t w = wait4(cmd, &st, WNOHANG, &ru);
        if (w == cmd) {
            exited = true;
            break;
        }
        if (w < 0 && errno != EINTR) {
            rc = -errno;
            snprintf(err, errlen, "wait4: %s", strerror(errno));
            goto out_agg;
        }
        if (exec_err < 0) {
            struct pollfd pf = {ex[0], POLLIN, 0};
            if (poll(&pf, 1, 0) > 0) {
                exec_err = spawn_read_exec_result(ex[0]);
                ex[0] = -1;
            }
        }
        tracer_pump(&t, 20);
    }
    uint64_t t1 = clock_mono_ns();
    if (exec_err < 0) {
        exec_err = spawn_read_exec_result(ex[0]);
        ex[0] = -1;
    }
    tracer_drain(&t);
    tracer_stop(&t);

    fsu_agg_report(t.agg, r);
    report_set_argv(r, argv); /* fsu_agg_report leaves identity alone */
    r->wall_seconds = (double)(t1 - t0) / 1e9;
    r->user_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    r->system_seconds = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r->processes = 1; /* fs_usage follows the pid it is given, not its children */
    r->processes_exact = false;
    if (exec_err > 0)
        spawn_record_exec_error(r, argv[0], exec_err);
    else
        spawn_record_status(r, st);
    rc = 0;

out_agg:
    fsu_agg_free(t.agg);
    t.agg = NULL;
out_tracer:
    tracer_stop(&t);
out_guard:
    spawn_forward_pid = 0;
    spawn_guard_end(&g);
out_pipes:
    for (int i = 0; i < 2; i++) {
        if (gate[i] >= 0)
            close(gate[i]);
        if (ex[i] >= 0)
            close(ex[i]);
    }
    fsu_lines_release(&t.lines);
    return rc;
}

/* ---- attached windows: one fs_usage per root, kept across windows ---- */

struct meas_window {
    struct fsu_agg *agg;
    uint64_t t0;
    double wall0;
};

static struct fsu_tracer session; /* session.pid == 0: none running */
static bool session_atexit;

static void session_end(void)
{
    if (session.pid > 0)
        tracer_stop(&session);
}

/* Starts fs_usage for root (and a helper that stats the marker until it is
 * seen), unless one already runs for root. */
static int session_get(pid_t root, char *err, size_t errlen)
{
    if (session.pid > 0 && session.root == root && waitpid(session.pid, NULL, WNOHANG) == 0)
        return 0;
    session_end();
    tracer_init(&session);
    session.root = root;
    session.drop_marker_tid = true;
    if (!session_atexit) {
        atexit(session_end);
        session_atexit = true;
    }
    int gate[2];
    if (pipe(gate) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -errno;
    }
    pid_t helper = fork();
    if (helper < 0) {
        int e = errno;
        close(gate[0]);
        close(gate[1]);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (helper == 0) {
        close(gate[1]);
        marker_loop(gate[0], session.marker);
        _exit(0);
    }
    close(gate[0]);
    int rc = tracer_start(&session, root, helper, err, errlen);
    if (rc == 0)
        rc = tracer_sync(&session, err, errlen);
    close(gate[1]); /* EOF: the helper exits */
    waitpid(helper, NULL, 0);
    if (rc)
        session_end();
    return rc;
}

static int fsu_window_begin(pid_t root, const struct meas_opts *o, struct meas_window **out,
                            char *err, size_t errlen)
{
    int rc = fsu_probe(err, errlen);
    if (rc == 0)
        rc = session_get(root, err, errlen);
    if (rc)
        return rc;
    /* what came before this window is not part of it */
    while (tracer_pump(&session, 0) > 0)
        ;
    struct meas_window *w = xcalloc(1, sizeof(*w));
    struct fsu_agg_opts ao = {NULL, o->top_files, o->hist_kinds};
    w->agg = fsu_agg_new(&ao);
    w->wall0 = clock_wall_seconds();
    w->t0 = clock_mono_ns();
    session.agg = w->agg;
    *out = w;
    return 0;
}

static int fsu_window_end(struct meas_window *w, struct report *r, char *err, size_t errlen)
{
    uint64_t t1 = clock_mono_ns();
    int rc = 0;
    if (session.pid > 0 && session.agg == w->agg)
        tracer_drain(&session);
    else {
        snprintf(err, errlen, "fs_usage stopped during the window");
        rc = -ECHILD;
    }
    session.agg = NULL;
    fsu_agg_report(w->agg, r);
    r->start_time = w->wall0;
    r->wall_seconds = (double)(t1 - w->t0) / 1e9;
    r->processes = 1;
    r->processes_exact = false;
    fsu_agg_free(w->agg);
    free(w);
    return rc;
}

const struct meas_backend meas_fsusage = {
    .name = "fs_usage",
    .summary = "macOS: parse `fs_usage -w` (root); per-call detail",
    .probe = fsu_probe,
    .run = fsu_run,
    .window_begin = fsu_window_begin,
    .window_end = fsu_window_end,
};
