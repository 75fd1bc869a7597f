/* fsusage_darwin: the `fs_usage` backend (macOS only): runs Apple's
 * `fs_usage -w -f filesys PID HELPER` as our own child and feeds its output,
 * live, through the same parser and aggregator as `iopsd import fs_usage`.
 *
 * UNTESTED ON A REAL MAC: no Mac was available when this was written. It is
 * plain POSIX; on Linux it is compiled into test_fsusage_runner and driven
 * by a stand-in fs_usage built on strace. See docs/fs_usage.md.
 *
 * Barriers. fs_usage prints nothing when it starts and prints calls a little
 * after they happen. So a helper child is traced along with the measured
 * process: for each byte it reads from its gate it stat()s "MARKER-N". When
 * that line comes out of fs_usage, every call made before it has been
 * printed. A barrier marks the start of tracing (bytes are resent until one
 * shows: before tracing is live they are not seen), the end of a run and
 * both ends of a window. The helper's own lines are dropped by its thread
 * id, learned from its first marker line.
 *
 * fs_usage is started once: for `run`, once per command (held before its
 * exec until tracing is live); for windows, once per measured root and kept
 * for the next windows (no prompt per cell), with a reader thread so that
 * its output never backs up while a cell runs. It is stopped with SIGINT
 * (it then removes its trace settings), then SIGTERM and SIGKILL if it does
 * not exit: only our own child, by its pid; never killall. It runs in its
 * own process group, so a terminal ^C does not stop it early. */
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
#define SYNC_TIMEOUT_MS 5000 /* a barrier must pass within this */
#define RESEND_MS       100  /* a barrier byte is resent this often */
#define STOP_WAIT_MS    2000 /* after SIGINT, then after SIGTERM */

struct fsu_tracer {
    pid_t pid;      /* our fs_usage child; 0 when none */
    pid_t root;     /* the measured process */
    int out, errfd; /* its stdout and stderr (non-blocking) */
    struct fsu_lines lines;
    bool eof; /* fs_usage closed its output */

    pid_t helper;          /* the marker helper; 0 when none */
    int gate;              /* write end: one byte, one marker stat */
    unsigned long sent;    /* bytes sent to the helper */
    char marker[96];       /* the helper stats MARKER-1, MARKER-2, ... */
    bool synced;           /* a marker was seen: tracing is live */
    uint64_t marker_tid;   /* the helper's thread: its lines are dropped */
    unsigned long seen;    /* the highest N of a marker seen */
    pthread_mutex_t *lock; /* held while pumping, when a reader thread runs */

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
        if (k > t->seen)
            t->seen = k;
        return;
    }
    if (!t->synced || !t->agg)
        return;
    struct fsu_event ev;
    if (fsu_parse_line(line, len, &ev) == 0 && ev.tid == t->marker_tid)
        return;
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

/* Starts fs_usage for pids a and b. */
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
        execl(FSU_BIN, "fs_usage", "-w", "-f", "filesys", sa, sb, (char *)NULL);
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
                t->eof = true;
                return -EPIPE;
            }
            break; /* EAGAIN (or EINTR: poll again later) */
        }
    }
    return total;
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
    t->out = t->errfd = t->gate = -1;
    fsu_lines_init(&t->lines);
    snprintf(t->marker, sizeof(t->marker), "/.iopsd-fs_usage-sync-%d-%llu", (int)getpid(),
             (unsigned long long)clock_mono_ns());
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

static int helper_start(struct fsu_tracer *t, char *err, size_t errlen)
{
    int gate[2];
    if (pipe(gate) < 0) {
        int e = errno;
        snprintf(err, errlen, "pipe: %s", strerror(e));
        return -e;
    }
    /* nobody else may hold the gate open: the helper waits for its EOF */
    fcntl(gate[0], F_SETFD, FD_CLOEXEC);
    fcntl(gate[1], F_SETFD, FD_CLOEXEC);
    pid_t h = fork();
    if (h < 0) {
        int e = errno;
        close(gate[0]);
        close(gate[1]);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (h == 0) {
        close_fds_except(gate[0]);
        helper_loop(gate[0], t->marker);
    }
    close(gate[0]);
    t->helper = h;
    t->gate = gate[1];
    return 0;
}

/* Pumps once, under t->lock when a reader thread runs (then it only waits,
 * the thread reads). */
static void tracer_step(struct fsu_tracer *t, int ms)
{
    if (t->lock)
        usleep((useconds_t)ms * 1000);
    else
        tracer_pump(t, ms);
}

/* Waits until fs_usage has printed a marker stat made after this call
 * began: every call made before has been printed then. */
static int tracer_barrier(struct fsu_tracer *t, char *err, size_t errlen)
{
    unsigned long want = t->sent + 1;
    uint64_t start = clock_mono_ns(), last_send = 0;
    for (;;) {
        uint64_t now = clock_mono_ns();
        if (last_send == 0 || now - last_send > RESEND_MS * 1000000ull) {
            if (write(t->gate, "m", 1) == 1)
                t->sent++;
            last_send = now;
        }
        tracer_step(t, 5);
        if (t->lock)
            pthread_mutex_lock(t->lock);
        bool done = t->seen >= want, eof = t->eof;
        if (t->lock)
            pthread_mutex_unlock(t->lock);
        if (done)
            return 0;
        if (eof || now - start > SYNC_TIMEOUT_MS * 1000000ull) {
            snprintf(err, errlen, "fs_usage %s%s%s", eof ? "stopped" : "showed no trace in time",
                     t->errn ? ": " : "", t->errn ? strtok(t->errtext, "\n") : "");
            return eof ? -ECHILD : -ETIMEDOUT;
        }
    }
}

/* Starts the helper and fs_usage for root and the helper, and waits until
 * tracing is live. */
static int tracer_open(struct fsu_tracer *t, pid_t root, char *err, size_t errlen)
{
    t->root = root;
    int rc = helper_start(t, err, errlen);
    if (rc == 0)
        rc = tracer_start(t, root, t->helper, err, errlen);
    if (rc == 0)
        rc = tracer_barrier(t, err, errlen);
    return rc;
}

/* Ends everything tracer_open started (call without a reader thread). */
static void tracer_close(struct fsu_tracer *t)
{
    if (t->gate >= 0) {
        close(t->gate); /* the helper exits */
        t->gate = -1;
    }
    if (t->helper > 0) {
        while (waitpid(t->helper, NULL, WNOHANG) == 0 && t->pid > 0 && !t->eof)
            tracer_pump(t, 10); /* a stand-in tracer may hold the helper until read */
        waitpid(t->helper, NULL, 0);
        t->helper = 0;
    }
    t->agg = NULL;
    if (t->pid > 0 && t->eof) { /* it closed its output: it is exiting */
        waitpid(t->pid, NULL, 0);
        t->pid = 0;
    }
    tracer_stop(t);
}

/* ---- `iopsd measure --backend fs_usage -- CMD` ---- */

/* The command before its exec: waits until the other end of gate is closed
 * (go on), making no file system call fs_usage would show (gate is
 * close-on-exec, so it is not even closed). */
static void wait_gate(int gate)
{
    for (;;) {
        struct pollfd pf = {gate, POLLIN, 0};
        if (poll(&pf, 1, -1) >= 0 || errno != EINTR)
            return;
    }
}

static int fsu_run(const struct meas_opts *o, char *const argv[], struct report *r, char *err,
                   size_t errlen)
{
    struct fsu_tracer t;
    struct spawn_guard g = {0};
    struct fsu_agg *agg = NULL;
    int gate[2] = {-1, -1}, ex[2] = {-1, -1}, rc;
    if ((rc = fsu_probe(err, errlen)))
        return rc;
    tracer_init(&t);
    if (pipe(gate) < 0 || pipe(ex) < 0) {
        rc = -errno;
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto out_pipes;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(gate[i], F_SETFD, FD_CLOEXEC);
        fcntl(ex[i], F_SETFD, FD_CLOEXEC);
    }
    spawn_guard_begin(&g);
    pid_t cmd = fork();
    if (cmd < 0) {
        rc = -errno;
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto out_guard;
    }
    if (cmd == 0) {
        close(gate[1]);
        close(ex[0]);
        spawn_child_reset(&g);
        wait_gate(gate[0]);
        spawn_child_exec(argv, ex[1]);
    }
    close(gate[0]);
    close(ex[1]);
    gate[0] = ex[1] = -1;

    rc = tracer_open(&t, cmd, err, errlen);
    if (rc) {
        kill(cmd, SIGKILL);
        waitpid(cmd, NULL, 0);
        goto out_tracer;
    }

    struct fsu_agg_opts ao = {NULL, o->top_files, o->hist_kinds};
    agg = t.agg = fsu_agg_new(&ao);
    report_set_argv(r, argv);
    r->start_time = clock_wall_seconds();
    uint64_t t0 = clock_mono_ns();
    spawn_forward_pid = cmd;
    close(gate[1]); /* go on: the command execs */
    gate[1] = -1;

    /* Read fs_usage while the command runs (its output must not back up). */
    int st = 0, exec_err = -1;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    for (;;) {
        pid_t w = wait4(cmd, &st, WNOHANG, &ru);
        if (w == cmd)
            break;
        if (w < 0 && errno != EINTR) {
            rc = -errno;
            snprintf(err, errlen, "wait4: %s", strerror(errno));
            goto out_tracer;
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
    rc = tracer_barrier(&t, err, errlen); /* every call of the command is in */
    if (rc)
        goto out_tracer;

    /* A command that could not be executed did no I/O of its own: what the
     * log holds then is iopsd's child reporting the failure. */
    if (exec_err <= 0)
        fsu_agg_report(agg, r);
    r->wall_seconds = (double)(t1 - t0) / 1e9;
    r->user_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    r->system_seconds = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r->processes = 1; /* fs_usage follows the pid it is given, not its children */
    r->processes_exact = false;
    if (exec_err > 0)
        spawn_record_exec_error(r, argv[0], exec_err);
    else
        spawn_record_status(r, st);

out_tracer:
    tracer_close(&t);
    fsu_agg_free(agg);
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
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t session_thread;
static bool session_thread_on, session_stop, session_atexit;

/* The reader thread: pumps fs_usage's output into the current window. */
static void *session_reader(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd pf = {session.out, POLLIN, 0};
        poll(&pf, 1, 100);
        pthread_mutex_lock(&session_lock);
        bool stop = session_stop;
        long n = stop ? 0 : tracer_pump(&session, 0);
        pthread_mutex_unlock(&session_lock);
        if (stop || n < 0)
            return NULL;
    }
}

static void session_end(void)
{
    if (session_thread_on) {
        pthread_mutex_lock(&session_lock);
        session_stop = true;
        pthread_mutex_unlock(&session_lock);
        pthread_join(session_thread, NULL);
        session_thread_on = false;
        session.lock = NULL;
    }
    if (session.pid > 0 || session.helper > 0 || session.out >= 0)
        tracer_close(&session);
}

/* Starts fs_usage for root, unless one already runs for root. */
static int session_get(pid_t root, char *err, size_t errlen)
{
    if (session_thread_on && session.root == root) {
        pthread_mutex_lock(&session_lock);
        bool eof = session.eof;
        pthread_mutex_unlock(&session_lock);
        if (!eof)
            return 0;
    }
    session_end();
    fsu_lines_release(&session.lines);
    tracer_init(&session);
    session_stop = false;
    if (!session_atexit) {
        atexit(session_end);
        session_atexit = true;
    }
    int rc = tracer_open(&session, root, err, errlen);
    if (rc == 0) {
        rc = -pthread_create(&session_thread, NULL, session_reader, NULL);
        if (rc)
            snprintf(err, errlen, "pthread_create: %s", strerror(-rc));
        else {
            session_thread_on = true;
            session.lock = &session_lock;
        }
    }
    if (rc)
        session_end();
    return rc;
}

static int fsu_window_begin(const pid_t *roots, size_t nroots, const struct meas_opts *o,
                            struct meas_window **out, char *err, size_t errlen)
{
    if (nroots != 1 || !o->tree) {
        snprintf(err, errlen, "fs_usage measures one process tree at a time");
        return -ENOTSUP;
    }
    pid_t root = roots[0];
    int rc = fsu_probe(err, errlen);
    if (rc == 0)
        rc = session_get(root, err, errlen);
    if (rc == 0) /* what the root did before now is not part of the window */
        rc = tracer_barrier(&session, err, errlen);
    if (rc) {
        session_end();
        return rc;
    }
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
    int rc = tracer_barrier(&session, err, errlen); /* everything up to now is in */
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
