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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FSU_BIN /* the Linux test of this file runs a stand-in */
#define FSU_BIN "/usr/bin/fs_usage"
#endif
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
    unsigned long marker_seen; /* highest "-N" suffix of a marker seen (windows) */
    struct fsu_agg *agg;       /* where lines go; NULL: discarded */
    char errtext[256];         /* the start of fs_usage's stderr */
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
    size_t mlen = strlen(t->marker);
    const char *m = memmem(line, len, t->marker, mlen);
    if (m) {
        struct fsu_event ev;
        if (!t->synced && fsu_parse_line(line, len, &ev) == 0)
            t->marker_tid = ev.tid;
        t->synced = true;
        unsigned long k = 0;
        const char *d = m + mlen + 1;
        if (m + mlen < line + len && m[mlen] == '-')
            for (; d < line + len && *d >= '0' && *d <= '9'; d++)
                k = k * 10 + (unsigned long)(*d - '0');
        if (k > t->marker_seen)
            t->marker_seen = k;
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

/* In a child of ours that lives long (fs_usage, the helper): closes every
 * descriptor above stderr but keep. A pipe end it held would never let the
 * reader at the other end see EOF (a kernel's sockets, the tests' pipes). */
static void close_fds_except(int keep)
{
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    for (int fd = STDERR_FILENO + 1; fd < maxfd; fd++)
        if (fd != keep)
            close(fd);
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
        close_fds_except(-1);
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
        bool eof = tracer_pump(t, 50) < 0;
        if (eof || waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            if (eof) /* it closed its output: it is exiting */
                waitpid(t->pid, NULL, 0);
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

    /* A command that could not be executed did no I/O of its own: what the
     * log holds then is iopsd's child reporting the failure. */
    if (exec_err <= 0)
        fsu_agg_report(t.agg, r);
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

/* ---- attached windows: one fs_usage per root, kept across windows ----
 *
 * A reader thread reads fs_usage's output all the time (so that it never
 * backs up while a cell runs) and feeds the current window's aggregator.
 * A helper child, traced along with the root, stats "MARKER-N" for each
 * byte it gets: that line coming out of fs_usage is a barrier: every call
 * before it has been printed. It marks the start of the session and the end
 * of each window; its own lines are dropped by thread id. */

struct meas_window {
    struct fsu_agg *agg;
    uint64_t t0;
    double wall0;
};

static struct fsu_tracer session; /* session.pid == 0: none running */
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t session_thread;
static bool session_thread_on, session_stop, session_eof, session_atexit;
static pid_t session_helper;
static int session_gate = -1;      /* write end: one byte, one marker stat */
static unsigned long session_sent; /* bytes sent to the helper */

static void *session_reader(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd pf = {session.out, POLLIN, 0};
        poll(&pf, 1, 100);
        pthread_mutex_lock(&session_lock);
        bool stop = session_stop;
        long n = stop ? 0 : tracer_pump(&session, 0);
        if (n < 0)
            session_eof = true;
        pthread_mutex_unlock(&session_lock);
        if (stop || n < 0)
            return NULL;
    }
}

/* The helper: one marker stat per byte read; exits at EOF. */
static void helper_loop(int gate, const char *marker)
{
    char path[160], c;
    unsigned long k = 0;
    while (read(gate, &c, 1) == 1) {
        struct stat st;
        snprintf(path, sizeof(path), "%s-%lu", marker, ++k);
        stat(path, &st);
    }
    _exit(0);
}

/* Waits until fs_usage has printed a marker stat made after this call
 * began (resending every 100 ms: at the start, tracing may not be live
 * yet). Pumps itself when the reader thread does not run yet. */
static int session_barrier(char *err, size_t errlen)
{
    unsigned long want = session_sent + 1;
    uint64_t start = clock_mono_ns(), last_send = 0;
    for (;;) {
        uint64_t now = clock_mono_ns();
        if (last_send == 0 || now - last_send > 100000000ull) {
            if (write(session_gate, "m", 1) == 1)
                session_sent++;
            last_send = now;
        }
        bool done, eof;
        if (session_thread_on) {
            usleep(5000);
            pthread_mutex_lock(&session_lock);
        } else if (tracer_pump(&session, 5) < 0) {
            session_eof = true;
        }
        done = session.marker_seen >= want;
        eof = session_eof;
        if (session_thread_on)
            pthread_mutex_unlock(&session_lock);
        if (done)
            return 0;
        if (eof || now - start > SYNC_TIMEOUT_MS * 1000000ull) {
            snprintf(err, errlen, "fs_usage %s%s%s", eof ? "stopped" : "showed no trace in time",
                     session.errn ? ": " : "", session.errn ? strtok(session.errtext, "\n") : "");
            return eof ? -ECHILD : -ETIMEDOUT;
        }
    }
}

static void session_end(void)
{
    if (session_gate >= 0) {
        close(session_gate); /* the helper exits */
        session_gate = -1;
    }
    if (session_helper > 0) {
        while (waitpid(session_helper, NULL, WNOHANG) == 0 && !session_thread_on &&
               session.pid > 0 && tracer_pump(&session, 10) >= 0)
            ;
        waitpid(session_helper, NULL, 0);
        session_helper = 0;
    }
    if (session_thread_on) {
        pthread_mutex_lock(&session_lock);
        session_stop = true;
        pthread_mutex_unlock(&session_lock);
        pthread_join(session_thread, NULL);
        session_thread_on = false;
    }
    session.agg = NULL;
    if (session.pid > 0 || session.out >= 0)
        tracer_stop(&session);
}

/* Starts fs_usage for root and a helper, unless one already runs for root. */
static int session_get(pid_t root, char *err, size_t errlen)
{
    if (session.pid > 0 && session.root == root) {
        pthread_mutex_lock(&session_lock);
        bool eof = session_eof;
        pthread_mutex_unlock(&session_lock);
        if (!eof)
            return 0;
    }
    session_end();
    tracer_init(&session);
    session.root = root;
    session.drop_marker_tid = true;
    session_stop = session_eof = false;
    session_sent = 0;
    if (!session_atexit) {
        atexit(session_end);
        session_atexit = true;
    }
    int gate[2];
    if (pipe(gate) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -errno;
    }
    /* fs_usage must not hold the gate open: the helper waits for its EOF */
    fcntl(gate[0], F_SETFD, FD_CLOEXEC);
    fcntl(gate[1], F_SETFD, FD_CLOEXEC);
    pid_t helper = fork();
    if (helper < 0) {
        int e = errno;
        close(gate[0]);
        close(gate[1]);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (helper == 0) {
        close_fds_except(gate[0]);
        helper_loop(gate[0], session.marker);
    }
    close(gate[0]);
    session_helper = helper;
    session_gate = gate[1];
    int rc = tracer_start(&session, root, helper, err, errlen);
    if (rc == 0)
        rc = session_barrier(err, errlen);
    if (rc == 0) {
        rc = -pthread_create(&session_thread, NULL, session_reader, NULL);
        if (rc)
            snprintf(err, errlen, "pthread_create: %s", strerror(-rc));
        else
            session_thread_on = true;
    }
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
    if (rc == 0) /* what the root did before now is not part of the window */
        rc = session_barrier(err, errlen);
    if (rc)
        return rc;
    struct meas_window *w = xcalloc(1, sizeof(*w));
    struct fsu_agg_opts ao = {NULL, o->top_files, o->hist_kinds};
    w->agg = fsu_agg_new(&ao);
    w->wall0 = clock_wall_seconds();
    w->t0 = clock_mono_ns();
    pthread_mutex_lock(&session_lock);
    session.agg = w->agg;
    pthread_mutex_unlock(&session_lock);
    *out = w;
    return 0;
}

static int fsu_window_end(struct meas_window *w, struct report *r, char *err, size_t errlen)
{
    uint64_t t1 = clock_mono_ns();
    int rc = session_barrier(err, errlen); /* everything up to now is in */
    pthread_mutex_lock(&session_lock);
    session.agg = NULL;
    pthread_mutex_unlock(&session_lock);
    fsu_agg_report(w->agg, r);
    r->start_time = w->wall0;
    r->wall_seconds = (double)(t1 - w->t0) / 1e9;
    r->processes = 1;
    r->processes_exact = false;
    fsu_agg_free(w->agg);
    free(w);
    if (rc)
        session_end();
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
