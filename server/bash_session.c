/* bash_session: runs notebook cells in one persistent interactive bash.
 *
 * bash runs in its own session (`bash -i +m`, no terminal, no job control)
 * and reads commands from a pipe on its stdin. A cell is written to a private
 * file and run with two lines, written at once: one says "s SEQ" on the status
 * pipe (fd 62), restores $? and sources the file (`. FILE 0<STDIN 62>&-`); the
 * other writes "done SEQ $?" to the status pipe. Interactive bash abandons
 * the sourced file on SIGINT and goes on with the next line, so an interrupt
 * ends the cell and keeps the shell. stdout and stderr are persistent pipes
 * read without blocking, repaired to UTF-8 and handed out in chunks.
 * docs/bash-kernel.md walks through it. */
#include "server/bash_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/utf8.h"
#include "util/xalloc.h"

#define READ_SIZE        8192  /* one read from a pipe */
#define READS_PER_CALL   8     /* reads per stream per bash_session_handle() */
#define FLUSH_AT         40960 /* emit once this much is pending: + 3*READ_SIZE < chunk max */
#define BATCH_MS         5     /* output is held this long to be batched */
#define STDIN_CHECK_MS   20    /* period of the "is the cell waiting for stdin" check */
#define STDIN_CONFIRM_MS 5     /* a reader seen is confirmed this much later */
#define IDLE_KEEP        65536 /* output of background jobs kept while idle */
#define PROMPT_MAX       256   /* input prompt = at most this much of the last line */
#define PROMPT_HOLD_MS   60    /* a partial line is held this long (with stdin allowed) */
#define CELL_MAX         ENGINE_CELL_MAX /* largest cell */
#define INPUT_MAX        (1u << 20)      /* largest pending answer to an input request */
#define START_TIMEOUT_MS 10000
#define WATCH_MAX        8    /* stragglers followed after an interrupt */
#define WATCH_MS         20   /* how often they are looked at */
#define HEALTH_MS        100  /* while a cell runs: is bash stopped, or lost at its prompt? */
#define TSTOP_CHECKS     5    /* the same tracing stop this many checks in a row: a group-stop */
#define ESCALATE_MS      2000 /* an interrupt this long after one that did not end the cell */
#define REASON_MAX       400

enum sess_state { SESS_IDLE, SESS_RUNNING, SESS_DEAD };

/* Where a measured cell is: bash waits at the first gate read (START), runs
 * the code (OPEN), has said it is done and is on its way to the second gate
 * read (END), went through (PASSED). NONE: the cell is not measured. */
enum gate_state { GATE_NONE, GATE_START, GATE_OPEN, GATE_END, GATE_PASSED };
/* After the code, bash signals the kernel (SIGUSR2); should that be lost,
 * the gate is looked at this often anyway. */
#define GATE_FALLBACK_MS 50

struct stream {
    int fd;   /* read end, non-blocking; -1 when closed */
    bool eof; /* every writer is gone: stop polling */
    enum bash_event_type type;
    struct buf pend; /* sanitized output not yet emitted */
    char hold[4];    /* start of a UTF-8 sequence split across reads */
    size_t nhold;
    uint64_t dropped; /* background output dropped while idle */
};

struct bash_session {
    bash_event_fn fn;
    void *ctx;
    pid_t pid;  /* bash; also its session and process group id */
    int cmd_fd; /* write end of bash's command pipe (its stdin) */
    int cmd_rd; /* our own non-blocking reader of it: takes back an unread cell */
    int st_fd;  /* read end of the status pipe */
    dev_t cmd_dev;
    ino_t cmd_ino;
    struct buf st_line; /* partial status line */
    struct stream out, err;
    char *dir;  /* private directory: cell file, query output */
    char *cell; /* dir/cell */
    char *rc;   /* dir/rc: `return $1` */
    enum sess_state state;
    unsigned seq;    /* number of the running (or last) cell */
    unsigned qseq;   /* number of the last query */
    unsigned qdone;  /* last query whose marker arrived */
    int last_status; /* $? after the last cell */

    /* the running cell */
    uint64_t flush_at; /* 0 = nothing pending */
    bool allow_stdin;
    int in_r, in_w; /* the cell's stdin pipe (both ends held here) */
    dev_t in_dev;
    ino_t in_ino;
    bool input_wanted;  /* INPUT_REQUEST fired, no answer yet */
    struct buf in_pend; /* answer not yet written */
    uint64_t stdin_check_at;
    uint64_t stdin_seen_at; /* when a check last saw a reader (0: not seen) */
    bool interrupted;
    uint64_t interrupt_at; /* the last interrupt that took effect (escalation, below) */
    int escalation;        /* 0; 1: the cell's programs were killed; 2: bash is to be replaced */
    bool escalate_due;     /* bash_session_handle() carries out the escalation */
    bool cancelled;        /* interrupted before bash read the cell: DONE is due */
    bool started;          /* bash said it executes the cell's line */
    bool sigint_due;       /* interrupted while bash was reading the line: SIGINT on start */
    size_t sent;           /* bytes of the cell's command lines */
    uint64_t recover_at;   /* after an interrupt: check that the status line was not lost */
    struct bash__pcomm snap[BASH__SNAP_MAX]; /* the cell's processes at the SIGINT */
    size_t nsnap;
    int resent;                          /* SIGINTs sent again because the cell went on */
    bool loop_seen;                      /* the last check found bash in its SIGINT handler */
    unsigned long long loop_cpu;         /* bash's CPU ticks at the last of them */
    struct bash__pcomm watch[WATCH_MAX]; /* stragglers of an interrupted cell */
    size_t nwatch;
    uint64_t watch_until;
    /* a measured cell (see the gate in bash_session_execute) */
    int gate_w;  /* write end of the gate pipe; bash reads BASH__GATE_FD */
    int gate_rd; /* our own non-blocking reader of it: drains a byte left over */
    dev_t gate_dev, st_dev;
    ino_t gate_ino, st_ino;
    struct engine_window win;
    bool win_open; /* win.begin() succeeded: win.end() is due */
    enum gate_state gate;
    uint64_t gate_check_at; /* look whether bash waits at the gate (0: no) */
    size_t done_len;        /* the done line: what bash reads after an aborted line */
    struct buf tail;        /* the last partial line of output (the input prompt) */
    struct stream *tail_stream;
    size_t tail_pending; /* how much of tail is still at the end of tail_stream->pend */
    uint64_t tail_at;    /* when the tail last grew */
    /* The health check of a running cell (health_check()). */
    uint64_t health_at;           /* next check (0: none) */
    int lost_seen;                /* checks in a row that found bash waiting for a command */
    int tstop_seen;               /* checks in a row that found bash in the same tracing stop */
    unsigned long long tstop_sig; /* hash of its /proc/PID/syscall line then */
    bool done_resent;             /* the done line was sent again for this cell */
    char reason[REASON_MAX];      /* what went wrong, for the cell's error ("" if nothing) */
};

static int write_file(const char *path, const char *data, size_t len);

static void (*guard_track)(pid_t sid, int cmd_fd);
static void (*guard_own_dir)(const char *dir, bool own);
static int guard_pdeathsig = SIGHUP;

void bash_session_set_guard(void (*track)(pid_t sid, int cmd_fd),
                            void (*own_dir)(const char *dir, bool own), int pdeathsig)
{
    guard_track = track;
    guard_own_dir = own_dir;
    guard_pdeathsig = pdeathsig;
}

static void own_dir(const char *dir, bool own)
{
    if (guard_own_dir)
        guard_own_dir(dir, own);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

void bash__quote(struct buf *b, const char *s, size_t n)
{
    buf_append(b, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            buf_append(b, "'\\''", 4);
        else
            buf_append(b, &s[i], 1);
    }
    buf_append(b, "'", 1);
}

static void emit(struct bash_session *s, enum bash_event_type type, const char *data, size_t len)
{
    struct bash_event ev = {.type = type, .data = data, .len = len};
    s->fn(s->ctx, &ev);
}

/* Hands out everything pending on st (if it is the tail's stream, the tail is
 * no longer pending). */
static void stream_flush(struct bash_session *s, struct stream *st)
{
    if (st->dropped) {
        buf_printf(&st->pend, "[iopsd: %llu bytes of background output dropped]\n",
                   (unsigned long long)st->dropped);
        st->dropped = 0;
    }
    if (st->pend.len)
        emit(s, st->type, st->pend.data, st->pend.len);
    buf_reset(&st->pend);
    if (s->tail_stream == st)
        s->tail_pending = 0;
}

static void flush_all(struct bash_session *s)
{
    stream_flush(s, &s->out);
    stream_flush(s, &s->err);
    s->flush_at = 0;
}

/* Tracks the last partial line, for the input prompt. */
static void track_tail(struct bash_session *s, struct stream *st, const char *p, size_t n)
{
    const char *nl = memrchr(p, '\n', n);
    if (st != s->tail_stream || nl) {
        buf_reset(&s->tail);
        s->tail_pending = 0;
        s->tail_stream = st;
    }
    if (nl) {
        n -= (size_t)(nl + 1 - p);
        p = nl + 1;
    }
    if (s->tail.len + n > PROMPT_MAX) {
        /* too long to be a prompt: it stays in the output */
        buf_reset(&s->tail);
        s->tail_pending = 0;
        if (n > PROMPT_MAX)
            return;
    }
    buf_append(&s->tail, p, n);
    s->tail_pending += n;
    s->tail_at = bash__now_ms();
}

/* Hands out what is pending except a partial last line that may turn out
 * to be an input prompt. */
static void flush_keep_tail(struct bash_session *s)
{
    struct stream *ts = s->tail_stream;
    stream_flush(s, ts == &s->out ? &s->err : &s->out);
    size_t keep = s->tail_pending;
    if (keep > ts->pend.len)
        keep = ts->pend.len;
    if (ts->pend.len > keep)
        emit(s, ts->type, ts->pend.data, ts->pend.len - keep);
    memmove(ts->pend.data, ts->pend.data + ts->pend.len - keep, keep);
    ts->pend.len = keep;
    ts->pend.data[keep] = '\0';
}

/* Adds raw bytes read from st's pipe: repaired, batched, emitted when large. */
static void stream_take(struct bash_session *s, struct stream *st, const char *raw, size_t n,
                        bool final)
{
    if (s->state != SESS_RUNNING) {
        /* background output while idle: keep a little for the next cell */
        if (st->pend.len >= IDLE_KEEP) {
            st->dropped += n;
            return;
        }
    }
    if (s->state == SESS_RUNNING && st->pend.len >= FLUSH_AT) {
        /* the other stream came first: keep the order roughly */
        stream_flush(s, st == &s->out ? &s->err : &s->out);
        stream_flush(s, st);
    }
    size_t before = st->pend.len;
    size_t used = utf8_sanitize(&st->pend, raw, n, final);
    st->nhold = n - used;
    memcpy(st->hold, raw + used, st->nhold);
    if (st->pend.len > before)
        track_tail(s, st, st->pend.data + before, st->pend.len - before);
    if (s->state != SESS_RUNNING)
        return;
    if (st->pend.len >= FLUSH_AT) {
        stream_flush(s, st == &s->out ? &s->err : &s->out);
        stream_flush(s, st);
    }
    if (!s->flush_at && (s->out.pend.len || s->err.pend.len))
        s->flush_at = bash__now_ms() + BATCH_MS;
}

/* Reads from st: at most `limit` bytes (0 = up to READS_PER_CALL reads).
 * Returns -EPIPE at end of file. */
static int stream_read(struct bash_session *s, struct stream *st, size_t limit)
{
    char raw[READ_SIZE + 4];
    size_t total = 0;
    for (int i = 0; limit ? total < limit : i < READS_PER_CALL; i++) {
        if (st->fd < 0 || st->eof)
            return -EPIPE;
        memcpy(raw, st->hold, st->nhold);
        size_t want = READ_SIZE;
        if (limit && limit - total < want)
            want = limit - total;
        ssize_t n = read(st->fd, raw + st->nhold, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -errno;
        }
        if (n == 0) {
            st->eof = true;
            if (st->nhold) {
                stream_take(s, st, raw, st->nhold, true);
                st->nhold = 0;
            }
            return -EPIPE;
        }
        total += (size_t)n;
        stream_take(s, st, raw, st->nhold + (size_t)n, false);
    }
    return 0;
}

/* Reads what the pipe holds right now (not what keeps coming). */
static void stream_drain(struct bash_session *s, struct stream *st)
{
    int avail = 0;
    if (st->fd >= 0 && !st->eof && ioctl(st->fd, FIONREAD, &avail) == 0 && avail > 0)
        stream_read(s, st, (size_t)avail);
}

static void stream_close(struct stream *st)
{
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    st->eof = false;
    st->nhold = 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- starting and ending bash ---- */

static void child_exec(int cmd_r, int out_w, int err_w, int st_w, int gate_r)
{
    /* Move everything above the target numbers first, then into place. */
    int a = fcntl(cmd_r, F_DUPFD, 100), b = fcntl(out_w, F_DUPFD, 100);
    int c = fcntl(err_w, F_DUPFD, 100), d = fcntl(st_w, F_DUPFD, 100);
    int g = fcntl(gate_r, F_DUPFD, 100);
    if (a < 0 || b < 0 || c < 0 || d < 0 || g < 0 || dup2(a, 0) < 0 || dup2(b, 1) < 0 ||
        dup2(c, 2) < 0 || dup2(d, BASH__STATUS_FD) < 0 || dup2(g, BASH__GATE_FD) < 0)
        _exit(127);
    for (int fd = 3; fd < 100 + 8; fd++)
        if (fd != BASH__STATUS_FD && fd != BASH__GATE_FD)
            close(fd);
    closefrom(100 + 8);

    bash__child_reset();
    prctl(PR_SET_PDEATHSIG, guard_pdeathsig);
    setenv("TERM", "dumb", 1);
    setenv("PAGER", "cat", 1);
    unsetenv("PROMPT_COMMAND");
    unsetenv("BASH_ENV");
    unsetenv("ENV");
    char *argv[] = {"bash", "--norc", "--noprofile", "--noediting", "-i", "+m", NULL};
    execv("/bin/bash", argv);
    execvp("bash", argv);
    _exit(127);
}

/* Waits (bounded) for bash to exit and reaps it; SIGKILL when it lingers.
 * Returns its status as a shell would show it. */
static int reap_bash(pid_t pid, int wait_ms)
{
    int ws = 0;
    uint64_t until = bash__now_ms() + (uint64_t)wait_ms;
    for (;;) {
        /* __WNOTHREAD: a ptrace stop of bash belongs to the tracer's thread */
        pid_t r = waitpid(pid, &ws, WNOHANG | __WNOTHREAD);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return 255; /* someone else reaped it */
        if (bash__now_ms() >= until) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &ws, __WNOTHREAD) < 0 && errno == EINTR)
                ;
            break;
        }
        usleep(1000);
    }
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return 255;
}

/* Ends every process of bash's session: SIGHUP (what a terminal's hangup
 * sends), then SIGKILL for whatever is left, bounded by about a second. */
static void end_session(pid_t sid)
{
    kill(-sid, SIGHUP);
    kill(-sid, SIGCONT);
    bash__signal_session(sid, SIGHUP);
    uint64_t until = bash__now_ms() + 300;
    while (bash__now_ms() < until) {
        if (bash__signal_session(sid, 0) == 0)
            return;
        usleep(5000);
    }
    for (int i = 0; i < 100; i++) {
        kill(-sid, SIGKILL);
        if (bash__signal_session(sid, SIGKILL) == 0)
            return;
        usleep(5000);
    }
}

static bool handle_status_line(struct bash_session *s, const char *line);

/* Reads status lines; returns 1 when one ended the running cell, -EPIPE once
 * bash's end is closed. */
static int status_read(struct bash_session *s)
{
    char tmp[512];
    for (;;) {
        ssize_t n = read(s->st_fd, tmp, sizeof tmp);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -errno;
        }
        if (n == 0)
            return -EPIPE;
        for (ssize_t i = 0; i < n; i++) {
            if (tmp[i] != '\n') {
                if (s->st_line.len < 128)
                    buf_append(&s->st_line, &tmp[i], 1);
                continue;
            }
            char line[160];
            snprintf(line, sizeof line, "%s", s->st_line.data ? s->st_line.data : "");
            buf_reset(&s->st_line);
            if (handle_status_line(s, line))
                return 1; /* the cell is over: its DONE callback may have started the next */
        }
    }
}

/* Starts bash and waits for its "ready" line (startup is a few ms). */
static int spawn_bash(struct bash_session *s, char *err, size_t errlen)
{
    int cmd[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, st[2] = {-1, -1};
    int gate[2] = {-1, -1};
    int rc;
    if (pipe2(cmd, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC) ||
        pipe2(st, O_CLOEXEC) || pipe2(gate, O_CLOEXEC)) {
        rc = -errno;
        snprintf(err, errlen, "bash: pipe: %s", strerror(errno));
        goto out_close;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        snprintf(err, errlen, "bash: fork: %s", strerror(errno));
        goto out_close;
    }
    if (pid == 0)
        child_exec(cmd[0], out[1], er[1], st[1], gate[0]);
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", cmd[0]);
    /* a separate open file description: non-blocking for us only */
    s->cmd_rd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    close_fd(&cmd[0]);
    close_fd(&out[1]);
    close_fd(&er[1]);
    close_fd(&st[1]);
    snprintf(self, sizeof self, "/proc/self/fd/%d", gate[0]);
    s->gate_rd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    close_fd(&gate[0]);
    set_nonblock(gate[1]);
    set_nonblock(cmd[1]);
    set_nonblock(out[0]);
    set_nonblock(er[0]);
    set_nonblock(st[0]);
    struct stat sb;
    fstat(cmd[1], &sb);
    s->pid = pid;
    s->cmd_fd = cmd[1];
    s->cmd_dev = sb.st_dev;
    s->cmd_ino = sb.st_ino;
    s->out.fd = out[0];
    s->err.fd = er[0];
    s->st_fd = st[0];
    fstat(st[0], &sb);
    s->st_dev = sb.st_dev;
    s->st_ino = sb.st_ino;
    s->gate_w = gate[1];
    fstat(gate[1], &sb);
    s->gate_dev = sb.st_dev;
    s->gate_ino = sb.st_ino;
    s->out.eof = s->err.eof = false;
    s->out.nhold = s->err.nhold = 0;
    buf_reset(&s->st_line);
    if (guard_track)
        guard_track(pid, s->cmd_fd);

    static const char boot[] =
        "PS1= PS2= PS3= PS4='+ ' ; unset PS0 PROMPT_COMMAND MAIL MAILPATH MAILCHECK HISTFILE;"
        " set +H +o history; shopt -s expand_aliases; \\builtin printf 'ready\\n' >&62\n";
    if (write(s->cmd_fd, boot, sizeof boot - 1) != (ssize_t)(sizeof boot - 1)) {
        rc = -EPIPE;
        snprintf(err, errlen, "bash: could not talk to bash");
        goto out_kill;
    }
    s->state = SESS_DEAD; /* until "ready" */
    uint64_t until = bash__now_ms() + START_TIMEOUT_MS;
    while (s->state == SESS_DEAD) {
        struct pollfd p = {.fd = s->st_fd, .events = POLLIN};
        int left = (int)(until - bash__now_ms());
        if (left <= 0 || poll(&p, 1, left) == 0) {
            rc = -ETIMEDOUT;
            snprintf(err, errlen, "bash: did not start within %d s", START_TIMEOUT_MS / 1000);
            goto out_kill;
        }
        if (status_read(s) == -EPIPE) {
            int ws = reap_bash(pid, 1000);
            s->pid = 0;
            rc = -ECHILD;
            snprintf(err, errlen, "bash: exited at startup with status %d", ws);
            goto out_fds;
        }
    }
    /* bash's startup chatter (job control warnings, the first prompt) */
    char junk[4096];
    while (read(s->out.fd, junk, sizeof junk) > 0)
        ;
    while (read(s->err.fd, junk, sizeof junk) > 0)
        ;
    return 0;

out_kill:
    kill(-pid, SIGKILL);
    reap_bash(pid, 1000);
    s->pid = 0;
out_fds:
    close_fd(&s->cmd_fd);
    close_fd(&s->cmd_rd);
    close_fd(&s->st_fd);
    close_fd(&s->gate_w);
    close_fd(&s->gate_rd);
    stream_close(&s->out);
    stream_close(&s->err);
    s->state = SESS_DEAD;
    return rc;
out_close:
    for (int i = 0; i < 2; i++) {
        close_fd(&cmd[i]);
        close_fd(&out[i]);
        close_fd(&er[i]);
        close_fd(&st[i]);
        close_fd(&gate[i]);
    }
    return rc;
}

/* bash is gone or unusable: reap it, end its session, close its pipes.
 * Returns its exit status. */
static int retire_bash(struct bash_session *s)
{
    if (!s->pid)
        return 255;
    if (guard_track)
        guard_track(0, -1);
    kill(s->pid, SIGHUP);
    int status = reap_bash(s->pid, 200);
    end_session(s->pid);
    s->pid = 0;
    close_fd(&s->cmd_fd);
    close_fd(&s->cmd_rd);
    close_fd(&s->st_fd);
    close_fd(&s->gate_w);
    close_fd(&s->gate_rd);
    return status;
}

/* Frees what s owns in memory and s itself (descriptors, processes and
 * files are the caller's to end first). */
static void session_free_memory(struct bash_session *s)
{
    free(s->cell);
    free(s->rc);
    free(s->dir);
    buf_release(&s->out.pend);
    buf_release(&s->err.pend);
    buf_release(&s->st_line);
    buf_release(&s->in_pend);
    buf_release(&s->tail);
    free(s);
}

int bash_session_start(struct bash_session **out, bash_event_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    struct bash_session *s = xcalloc(1, sizeof *s);
    int rc;
    s->fn = fn;
    s->ctx = ctx;
    s->cmd_fd = s->cmd_rd = s->st_fd = s->in_r = s->in_w = s->gate_w = s->gate_rd = -1;
    s->out.fd = s->err.fd = -1;
    s->out.type = BASH_EV_STDOUT;
    s->err.type = BASH_EV_STDERR;
    buf_init(&s->out.pend, 0);
    buf_init(&s->err.pend, 0);
    buf_init(&s->st_line, 0);
    buf_init(&s->in_pend, INPUT_MAX);
    buf_init(&s->tail, 0);

    /* A write to a pipe whose reader died must be an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    const char *tmp = getenv("TMPDIR");
    struct buf d = BUF_INIT;
    buf_printf(&d, "%s/iopsd-bash.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(d.data)) {
        rc = -errno;
        snprintf(err, errlen, "bash: cannot create a directory in %s: %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        buf_release(&d);
        goto out_free;
    }
    s->dir = buf_detach(&d, NULL);
    own_dir(s->dir, true);
    struct buf c = BUF_INIT;
    buf_printf(&c, "%s/cell", s->dir);
    s->cell = buf_detach(&c, NULL);
    buf_printf(&c, "%s/rc", s->dir);
    s->rc = buf_detach(&c, NULL);
    rc = write_file(s->rc, "return $1\n", 10);
    if (rc) {
        snprintf(err, errlen, "bash: cannot write %s: %s", s->rc, strerror(-rc));
        goto out_dir;
    }

    rc = spawn_bash(s, err, errlen);
    if (rc)
        goto out_dir;
    s->state = SESS_IDLE;
    *out = s;
    return 0;

out_dir:
    unlink(s->rc);
    own_dir(s->dir, false);
    rmdir(s->dir);
out_free:
    session_free_memory(s);
    return rc;
}

/* ---- cells ---- */

static void cell_release(struct bash_session *s)
{
    close_fd(&s->in_r);
    close_fd(&s->in_w);
    buf_reset(&s->in_pend);
    s->input_wanted = false;
    s->interrupted = false;
    s->interrupt_at = 0;
    s->escalation = 0;
    s->escalate_due = false;
    s->cancelled = false;
    s->started = false;
    s->sigint_due = false;
    s->recover_at = 0;
    s->nsnap = 0;
    s->resent = 0;
    s->loop_seen = false;
    s->stdin_check_at = 0;
    s->stdin_seen_at = 0;
    s->flush_at = 0;
    s->health_at = 0;
    s->lost_seen = 0;
    s->tstop_seen = 0;
    s->done_resent = false;
    s->reason[0] = '\0';
}

/* The cell's last event. Nothing of s may be touched after the callback:
 * it may start the next cell. */
static void finish_cell(struct bash_session *s, int status, bool restarted)
{
    stream_drain(s, &s->out);
    stream_drain(s, &s->err);
    for (int i = 0; i < 2; i++) {
        struct stream *st = i ? &s->err : &s->out;
        if (st->nhold) {
            stream_take(s, st, st->hold, st->nhold, true);
            st->nhold = 0;
        }
    }
    flush_all(s);
    bool interrupted = s->interrupted;
    char reason[REASON_MAX];
    snprintf(reason, sizeof reason, "%s", s->reason);
    if (interrupted && s->nsnap && s->pid) {
        /* bash dropped the cell, but a program forked just as the SIGINT came
         * may have missed it (caught by bash's handler before its exec) and
         * would keep bash waiting: signal it, and again if it exec's later */
        s->nwatch = bash__stragglers(s->pid, s->snap, s->nsnap, s->watch, WATCH_MAX);
        for (size_t i = 0; i < s->nwatch; i++)
            kill(s->watch[i].pid, SIGINT);
        s->watch_until = s->nwatch ? bash__now_ms() + 2000 : 0;
    }
    cell_release(s);
    s->state = s->pid ? SESS_IDLE : SESS_DEAD;
    s->last_status = status;
    struct bash_event ev = {.type = BASH_EV_DONE,
                            .data = "",
                            .exit_status = status,
                            .interrupted = interrupted,
                            .restarted = restarted,
                            .reason = reason[0] ? reason : NULL};
    s->fn(s->ctx, &ev);
}

/* SIGINT to bash's process group, remembering which processes were there:
 * a SIGINT that lands between a fork and the child's exec is lost (the
 * child still runs bash's handler; bash then waits for the program). */
static int send_sigint(struct bash_session *s)
{
    s->nsnap = bash__tree_snapshot(s->pid, s->snap, BASH__SNAP_MAX);
    s->recover_at = bash__now_ms() + 200;
    return kill(-s->pid, SIGINT) < 0 ? -errno : 0;
}

/* ---- the gate of a measured cell ----
 *
 * A measured cell's line makes bash read the cell into a variable, then wait
 * in `read -n1` on the gate pipe (BASH__GATE_FD). Once the kernel sees bash
 * asleep there, it begins the window and writes one byte: bash runs the code
 * (`eval`), sends the kernel SIGUSR2 (a signal, not a write: nothing to
 * count) and waits at the gate again. Once bash sleeps there, the window
 * ends and a second byte lets it go on. Inside the window: one read of one
 * byte on the gate pipe, which the framing counts say. */

static void gate_end(struct bash_session *s, const struct magic_framing *f)
{
    if (s->win_open && s->win.end)
        s->win.end(s->win.ctx, f);
    s->win_open = false;
}

static void gate_go(struct bash_session *s)
{
    char go = 'g';
    if (write(s->gate_w, &go, 1) != 1)
        fprintf(stderr, "iopsd kernel: bash engine: gate: %s\n", strerror(errno));
}

/* Does bash wait at the gate? Looks a few times over ~0.3 ms (bash gets
 * there in microseconds), else leaves it to a timer. */
static bool gate_waiting(struct bash_session *s)
{
    for (int i = 0; i < 30; i++) {
        if (bash__blocked_reading(s->pid, BASH__GATE_FD))
            return true;
        usleep(10);
    }
    return false;
}

static void gate_try(struct bash_session *s)
{
    s->gate_check_at = 0;
    if (s->gate == GATE_START) {
        if (!gate_waiting(s)) {
            s->gate_check_at = bash__now_ms() + 1;
            return;
        }
        struct magic_plumbing p;
        memset(&p, 0, sizeof p);
        p.root = s->pid;
        p.exclude[p.nexclude++] = (struct meas_fdid){s->gate_dev, s->gate_ino};
        p.exclude[p.nexclude++] = (struct meas_fdid){s->st_dev, s->st_ino};
        p.exclude[p.nexclude++] = (struct meas_fdid){s->cmd_dev, s->cmd_ino};
        s->win_open = s->win.begin && s->win.begin(s->win.ctx, &p) == 0;
        s->gate = GATE_OPEN;
        s->gate_check_at = bash__now_ms() + GATE_FALLBACK_MS;
        gate_go(s);
    } else if (s->gate == GATE_OPEN || s->gate == GATE_END) {
        bool at_gate =
            s->gate == GATE_END ? gate_waiting(s) : bash__blocked_reading(s->pid, BASH__GATE_FD);
        if (!at_gate) {
            s->gate_check_at = bash__now_ms() + (s->gate == GATE_END ? 1 : GATE_FALLBACK_MS);
            return;
        }
        /* the first gate's read of one byte is all of the engine inside */
        struct magic_framing f = {.read_ops = 1, .read_bytes = 1};
        gate_end(s, &f);
        s->gate = GATE_PASSED;
        gate_go(s);
    }
}

void bash_session_poke(struct bash_session *s)
{
    if (s->state == SESS_RUNNING && s->gate == GATE_OPEN) {
        s->gate = GATE_END;
        gate_try(s);
    }
}

/* The cell ended without passing the second gate (interrupted: bash dropped
 * the rest of the line, then read and ran the done line inside the window). */
static void gate_abort(struct bash_session *s, size_t status_len)
{
    if (s->gate == GATE_OPEN || s->gate == GATE_END) {
        struct magic_framing f = {.read_ops = 1 + s->done_len,
                                  .read_bytes = 1 + s->done_len,
                                  .write_ops = status_len ? 1 : 0,
                                  .write_bytes = status_len};
        gate_end(s, &f);
    }
    s->gate = GATE_NONE;
    s->gate_check_at = 0;
}

/* Returns true when the line ended the running cell (DONE was fired). */
static bool handle_status_line(struct bash_session *s, const char *line)
{
    unsigned seq;
    int status;
    if (!strcmp(line, "ready")) {
        if (s->state == SESS_DEAD)
            s->state = SESS_IDLE;
    } else if (sscanf(line, "done %u %d", &seq, &status) == 2) {
        if (s->state == SESS_RUNNING && seq == s->seq) {
            gate_abort(s, strlen(line) + 1);
            finish_cell(s, status, false);
            return true;
        }
    } else if (sscanf(line, "s %u", &seq) == 1) {
        if (s->state == SESS_RUNNING && seq == s->seq) {
            s->started = true;
            if (s->sigint_due) {
                s->sigint_due = false;
                send_sigint(s);
            } else if (s->gate == GATE_START) {
                gate_try(s);
            }
        }
    } else if (sscanf(line, "q %u", &seq) == 1) {
        s->qdone = seq;
    }
    return false;
}

/* Has bash exited (not yet reaped)? Writes to its command pipe cannot tell:
 * cmd_rd keeps a reader. */
static bool bash_gone(const struct bash_session *s)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* Only an exit counts: a tracer (the measuring thread) sees bash's stops,
     * and they must neither look like an exit nor be taken from it. */
    return s->pid &&
           waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT | __WNOTHREAD) == 0 &&
           si.si_pid == s->pid &&
           (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED);
}

/* bash exited (or closed its status pipe, or stopped answering: why says
 * how): start a fresh one. A running cell ends with the old shell's status;
 * otherwise the note waits for the next. */
static void bash_died_why(struct bash_session *s, const char *why)
{
    bool was_running = s->state == SESS_RUNNING;
    gate_end(s, NULL);
    s->gate = GATE_NONE;
    stream_drain(s, &s->out);
    stream_drain(s, &s->err);
    int status = retire_bash(s);
    stream_drain(s, &s->out);
    stream_drain(s, &s->err);
    stream_close(&s->out);
    stream_close(&s->err);
    char err[256];
    if (spawn_bash(s, err, sizeof err) == 0) {
        s->state = SESS_IDLE;
        if (why) {
            buf_printf(&s->err.pend, "[iopsd: %s]\n", why);
            if (was_running)
                snprintf(s->reason, sizeof s->reason, "%s", why);
        } else {
            buf_printf(&s->err.pend,
                       "[iopsd: bash exited with status %d; a new bash was started: variables, "
                       "functions and the working directory were reset]\n",
                       status);
        }
    } else {
        buf_printf(&s->err.pend,
                   "[iopsd: bash exited with status %d and could not be restarted: %s]\n", status,
                   err);
    }
    if (was_running)
        finish_cell(s, status, true);
}

static void bash_died(struct bash_session *s)
{
    bash_died_why(s, NULL);
}

/* Writes the whole line to bash's command pipe (lines are short: the pipe
 * is empty whenever bash waits for a command). */
static int send_line(struct bash_session *s, const char *line, size_t len)
{
    while (len) {
        ssize_t n = write(s->cmd_fd, line, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        line += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The line after a cell: its status to the status pipe. PS1 and PS0 would
 * print on stderr around every command we send: keep them empty. */
static void done_line(struct bash_session *s, struct buf *line)
{
    buf_printf(line,
               "{ \\builtin printf 'done %u %%d\\n' \"$?\" >&%d; PS1= PS2= PS0=; } 2>/dev/null\n",
               s->seq, BASH__STATUS_FD);
}

static int send_done_line(struct bash_session *s)
{
    struct buf line = BUF_INIT;
    done_line(s, &line);
    int rc = send_line(s, line.data, line.len);
    buf_release(&line);
    return rc;
}

static int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e;
        }
        data += n;
        len -= (size_t)n;
    }
    return close(fd) ? -errno : 0;
}

/* Appends a command that sets $? to the last cell's status, without a fork:
 * sourcing a file that holds `return $1`. */
static void restore_status(struct bash_session *s, struct buf *line)
{
    if (s->last_status == 0)
        return;
    buf_puts(line, "\\builtin . ");
    bash__quote(line, s->rc, strlen(s->rc));
    buf_printf(line, " %d; ", s->last_status);
}

/* The measured cell's commands (see the gate above): the cell is read into a
 * variable before the first gate, so that nothing of sourcing a file is in
 * the window; the status is carried over the second gate read. */
static void measured_line(struct bash_session *s, struct buf *line)
{
    buf_puts(line, "IFS= \\builtin read -r -d '' __iopsd_c < ");
    bash__quote(line, s->cell, strlen(s->cell));
    buf_printf(line,
               "; __iopsd_rs() { \\builtin return \"$1\"; }; { \\builtin read -r -n1 -u %d "
               "__iopsd_g; __iopsd_rs %d; \\builtin eval \"$__iopsd_c\"; __iopsd_s=$?; "
               "\\builtin kill -USR2 %d; \\builtin read -r -n1 -u %d __iopsd_g; "
               "\\builtin unset __iopsd_c __iopsd_g; __iopsd_rs \"$__iopsd_s\"; }",
               BASH__GATE_FD, s->last_status, (int)getpid(), BASH__GATE_FD);
    /* the gate's read end, opened afresh for the cell: an earlier cell may
     * have closed or replaced bash's own fd 60 (`exec 60>&-`) */
    buf_printf(line, " %d</proc/%d/fd/%d", BASH__GATE_FD, (int)getpid(), s->gate_rd);
}

int bash_session_execute(struct bash_session *s, const char *code, bool allow_stdin)
{
    return bash_session_execute_measured(s, code, allow_stdin, NULL);
}

int bash_session_execute_measured(struct bash_session *s, const char *code, bool allow_stdin,
                                  const struct engine_window *win)
{
    if (s->state == SESS_RUNNING)
        return -EBUSY;
    if (s->state == SESS_DEAD) {
        char err[256];
        if (spawn_bash(s, err, sizeof err))
            return -ECHILD;
        s->state = SESS_IDLE;
    }
    size_t len = strlen(code);
    if (len > CELL_MAX)
        return -E2BIG;
    int rc = write_file(s->cell, code, len);
    if (rc == -ENOENT) {
        /* a cell removed our directory (rm -rf /tmp/...): make it again */
        if (mkdir(s->dir, 0700) == 0 || errno == EEXIST)
            write_file(s->rc, "return $1\n", 10);
        rc = write_file(s->cell, code, len);
    }
    if (rc)
        return rc;

    struct buf line = BUF_INIT;
    cell_release(s);
    s->allow_stdin = allow_stdin;
    /* The group's stderr is /dev/null so that `set -x` does not trace these
     * commands; the cell gets the real stderr back through fd 61. */
    s->seq++;
    /* "s SEQ": bash is executing the cell's line (a SIGINT now ends the cell) */
    buf_printf(&line, "{ \\builtin printf 's %u\\n' >&%d; ", s->seq, BASH__STATUS_FD);
    s->gate = GATE_NONE;
    s->win_open = false;
    if (win) {
        char junk[64];
        while (s->gate_rd >= 0 && read(s->gate_rd, junk, sizeof junk) > 0)
            ; /* a byte an interrupted cell did not take */
        s->win = *win;
        s->gate = GATE_START;
        measured_line(s, &line);
    } else {
        restore_status(s, &line);
        buf_puts(&line, "\\builtin . ");
        bash__quote(&line, s->cell, strlen(s->cell));
    }
    if (allow_stdin) {
        int p[2];
        if (pipe2(p, O_CLOEXEC)) {
            rc = -errno;
            goto out;
        }
        s->in_r = p[0];
        s->in_w = p[1];
        set_nonblock(s->in_w);
        struct stat sb;
        fstat(s->in_r, &sb);
        s->in_dev = sb.st_dev;
        s->in_ino = sb.st_ino;
        /* bash opens our read end through /proc: a fresh pipe for every cell */
        buf_printf(&line, " 0</proc/%d/fd/%d", (int)getpid(), s->in_r);
        s->stdin_check_at = bash__now_ms() + STDIN_CHECK_MS;
    } else {
        buf_puts(&line, " 0</dev/null");
    }
    buf_printf(&line, " 2>&%d %d>&- %d>&-; } %d>&2 2>/dev/null\n", BASH__SAVED_FD, BASH__SAVED_FD,
               BASH__STATUS_FD, BASH__SAVED_FD);
    buf_reset(&s->tail);
    s->tail_stream = NULL;
    s->tail_pending = 0;
    /* One write: bash may run the cell (and `exit`) before a second one. */
    size_t cell_len = line.len;
    done_line(s, &line);
    s->done_len = line.len - cell_len;
    if (bash_gone(s))
        rc = -EPIPE;
    else
        rc = send_line(s, line.data, line.len);
    if (rc == -EPIPE) {
        /* bash died while idle and nobody noticed yet: a new one runs the cell */
        bash_died(s);
        rc = s->state == SESS_IDLE ? send_line(s, line.data, line.len) : -ECHILD;
    }
    if (rc) {
        cell_release(s);
        s->gate = GATE_NONE;
        goto out;
    }
    s->state = SESS_RUNNING;
    s->sent = line.len;
    s->health_at = bash__now_ms() + HEALTH_MS;
    /* output of background jobs that came while idle goes out with this cell */
    if (s->out.pend.len || s->err.pend.len || s->out.dropped || s->err.dropped)
        s->flush_at = bash__now_ms();
out:
    buf_release(&line);
    return rc;
}

bool bash_session_busy(const struct bash_session *s)
{
    return s->state == SESS_RUNNING;
}

const char *bash__dir(const struct bash_session *s)
{
    return s->dir;
}

pid_t bash_session_pid(const struct bash_session *s)
{
    return s->pid;
}

int bash_session_pollfds(struct bash_session *s, struct pollfd *out, int max)
{
    int n = 0;
    int fds[3] = {s->out.eof ? -1 : s->out.fd, s->err.eof ? -1 : s->err.fd, s->st_fd};
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0 || n >= max)
            continue;
        out[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    }
    if (s->in_w >= 0 && s->in_pend.len && n < max)
        out[n++] = (struct pollfd){.fd = s->in_w, .events = POLLOUT};
    return n;
}

static uint64_t next_timer(const struct bash_session *s)
{
    uint64_t t = 0;
    if (s->watch_until)
        t = bash__now_ms() + WATCH_MS;
    if (s->state != SESS_RUNNING)
        return t;
    uint64_t cand[5] = {s->flush_at,
                        s->allow_stdin && !s->input_wanted && s->in_w >= 0 ? s->stdin_check_at : 0,
                        s->interrupted ? s->recover_at : 0, s->gate_check_at, s->health_at};
    for (int i = 0; i < 5; i++)
        if (cand[i] && (!t || cand[i] < t))
            t = cand[i];
    return t;
}

int bash_session_timeout_ms(const struct bash_session *s)
{
    uint64_t t = next_timer(s);
    if (!t)
        return -1;
    uint64_t now = bash__now_ms();
    return t <= now ? 0 : (int)(t - now);
}

/* Writes as much of the pending answer as the pipe takes. */
static void input_write(struct bash_session *s)
{
    while (s->in_w >= 0 && s->in_pend.len) {
        ssize_t n = write(s->in_w, s->in_pend.data, s->in_pend.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                buf_reset(&s->in_pend); /* nobody reads it any more */
            return;
        }
        memmove(s->in_pend.data, s->in_pend.data + n, s->in_pend.len - (size_t)n);
        s->in_pend.len -= (size_t)n;
        s->in_pend.data[s->in_pend.len] = '\0';
    }
}

bool bash__secret_prompt(const char *p, size_t n)
{
    /* Without a terminal nobody can turn echo off, so the prompt decides:
     * "Password:", "Enter passphrase for key ...:" are answered masked. */
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n || p[n - 1] != ':')
        return false;
    static const char *const words[] = {"password", "passphrase", NULL};
    for (int k = 0; words[k]; k++) {
        size_t wl = strlen(words[k]);
        for (size_t i = 0; i + wl <= n; i++)
            if (!strncasecmp(p + i, words[k], wl))
                return true;
    }
    return false;
}

/* Is a process of the cell blocked reading the empty stdin pipe? Then ask
 * the frontend, with the last partial line of output as the prompt. */
static void stdin_check(struct bash_session *s)
{
    int avail = 0;
    if (s->in_pend.len || ioctl(s->in_r, FIONREAD, &avail) || avail > 0)
        return;
    if (!bash__reading_pipe(s->pid, s->in_dev, s->in_ino)) {
        s->stdin_seen_at = 0;
        return;
    }
    uint64_t now = bash__now_ms();
    if (!s->stdin_seen_at || now < s->stdin_seen_at + STDIN_CONFIRM_MS) {
        /* seen once: confirm a little later, so that a reader caught on its
         * way out of read() is not taken for one that waits */
        if (!s->stdin_seen_at)
            s->stdin_seen_at = now;
        s->stdin_check_at = s->stdin_seen_at + STDIN_CONFIRM_MS;
        return;
    }
    s->stdin_seen_at = 0;
    struct buf prompt = BUF_INIT;
    buf_append(&prompt, "", 0);
    struct stream *ts = s->tail_stream;
    if (ts && s->tail.len) {
        buf_append(&prompt, s->tail.data, s->tail.len);
        /* shown as the prompt, so not also as output */
        if (s->tail_pending == s->tail.len && ts->pend.len >= s->tail.len) {
            ts->pend.len -= s->tail.len;
            ts->pend.data[ts->pend.len] = '\0';
        }
    }
    flush_all(s);
    buf_reset(&s->tail);
    s->tail_pending = 0;
    s->input_wanted = true;
    struct bash_event ev = {.type = BASH_EV_INPUT_REQUEST,
                            .data = prompt.data,
                            .len = prompt.len,
                            .password = bash__secret_prompt(prompt.data, prompt.len)};
    s->fn(s->ctx, &ev);
    buf_release(&prompt);
}

/* After an interrupt, bash may have dropped the status line that followed the
 * cell (a SIGINT while it read it). When bash sits waiting for a command and
 * the cell is not over, send the line again. */
static int recover_check(struct bash_session *s)
{
    int avail = 0;
    if (ioctl(s->cmd_fd, FIONREAD, &avail) == 0 && avail == 0 &&
        bash__reading_pipe(s->pid, s->cmd_dev, s->cmd_ino)) {
        /* bash reads fd 0 while a cell runs only with the cell's stdin, not ours */
        return send_done_line(s);
    }
    /* The cell went on (a new program, or one that exec'd since the SIGINT):
     * the signal was lost in a fork. Programs that were there and caught it
     * are left alone. */
    if (s->resent < 2 && s->nsnap && bash__tree_changed(s->pid, s->snap, s->nsnap)) {
        s->resent++;
        return send_sigint(s);
    }
    return 0;
}

/* bash 5.2 can loop for ever in its own SIGINT handler: an interrupt that
 * lands as it starts a command can leave a handler installed that sends
 * bash SIGINT again and again (by bash's source, wait_sigint_handler with
 * nothing to restore; strace: getpid, kill(self, SIGINT), rt_sigreturn, at full speed;
 * 3 times in about 28,700 interrupts at random moments, CPUs busy). Only a
 * kill ends it. Two checks in a row, 500 ms apart, that find bash inside a
 * SIGINT handler and burning CPU replace bash, as the third interrupt
 * would. Returns true when the cell ended (DONE fired). */
static bool sigint_loop_check(struct bash_session *s)
{
    unsigned long long cpu;
    if (!bash__in_sigint_handler(s->pid, &cpu)) {
        s->loop_seen = false;
        return false;
    }
    bool spinning = s->loop_seen && cpu >= s->loop_cpu + 5; /* 50 ms of CPU in 500 ms */
    s->loop_cpu = cpu;
    s->loop_seen = true;
    if (!spinning)
        return false;
    bash_died_why(s, "bash looped in its SIGINT handler (a race in bash: the interrupt came as "
                     "it started a command): it was killed; a new bash was started: variables, "
                     "functions and the working directory are lost");
    return true;
}

/* While a cell runs, every HEALTH_MS: bash must be neither stopped nor back
 * at its prompt without having said the cell is done. Neither needs bash's
 * cooperation (a cell can redefine `builtin`, set a DEBUG trap that skips
 * every command, lower the descriptor limit below the status descriptor, or
 * stop bash): /proc says it. Returns true when the cell ended (DONE fired). */
static bool health_check(struct bash_session *s)
{
    s->health_at = bash__now_ms() + HEALTH_MS;
    char st = bash__state(s->pid);
    /* 't': a tracer's stop (a measured cell under -b trace). Those last
     * microseconds (a busy traced bash is often caught in one), except a
     * group-stop the tracer keeps (PTRACE_LISTEN): bash then stays at the
     * very same place, so the same /proc/PID/syscall line (number,
     * arguments, stack and program counter) in 't' at TSTOP_CHECKS checks
     * in a row is taken for that. */
    unsigned long long sig = 0;
    if (st == 't') {
        char path[64], text[256];
        snprintf(path, sizeof path, "/proc/%d/syscall", (int)s->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof text) : -1;
        if (fd >= 0)
            close(fd);
        for (ssize_t i = 0; i < n; i++) /* FNV-1a: the line, compared over checks */
            sig = (sig ^ (unsigned char)text[i]) * 1099511628211ull;
    }
    if (st == 't' && sig && sig == s->tstop_sig)
        s->tstop_seen++;
    else
        s->tstop_seen = st == 't' && sig ? 1 : 0;
    s->tstop_sig = sig;
    if (st == 'T' || s->tstop_seen >= TSTOP_CHECKS) {
        /* stopped by a signal (`kill -STOP $$`) */
        s->tstop_seen = 0;
        kill(s->pid, SIGCONT);
        const char *why = "bash was stopped (SIGSTOP); it was continued, and its variables and "
                          "functions are kept";
        if (!s->reason[0])
            snprintf(s->reason, sizeof s->reason, "%s", why);
        buf_printf(&s->err.pend, "[iopsd: %s]\n", why);
        s->flush_at = bash__now_ms();
        s->lost_seen = 0;
        return false;
    }
    int avail = 0;
    struct rlimit rl;
    unsigned long long count = 0;
    bool low_limit =
        prlimit(s->pid, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur <= BASH__STATUS_FD;
    bool at_prompt = ioctl(s->cmd_fd, FIONREAD, &avail) == 0 && avail == 0 &&
                     bash__self_reading_pipe(s->pid, s->cmd_dev, s->cmd_ino);
    /* Below the status descriptor, bash cannot put back what the cell's
     * redirections moved (dup2 to 62 fails): its stdin stays the cell's and
     * it reads commands from there with a buffer (the `read` builtin reads a
     * pipe a byte at a time). */
    if (!at_prompt && low_limit && bash__reading_fd0(s->pid, &count) && count > 1)
        at_prompt = true;
    if (!at_prompt) {
        s->lost_seen = 0;
        return false;
    }
    /* bash waits for a command: its done line must be in the status pipe */
    int rc = status_read(s);
    if (rc == 1)
        return true;
    if (rc == -EPIPE) {
        bash_died(s);
        return true;
    }
    if (++s->lost_seen < 2)
        return false;
    s->lost_seen = 0;
    if (!s->done_resent) {
        /* the line may have been dropped (a SIGINT as bash read it) */
        s->done_resent = true;
        send_done_line(s);
        return false;
    }
    /* bash runs commands, but not the engine's: a new bash */
    char why[REASON_MAX], cause[200];
    if (low_limit)
        snprintf(cause, sizeof cause,
                 "its descriptor limit is now %llu (ulimit -n), below the descriptors %d to %d "
                 "the kernel talks to it through",
                 (unsigned long long)rl.rlim_cur, BASH__GATE_FD, BASH__STATUS_FD);
    else
        snprintf(cause, sizeof cause,
                 "the cell changed something the kernel's commands rely on, such as a function "
                 "named builtin or a DEBUG trap that skips commands");
    snprintf(why, sizeof why,
             "bash stopped answering the kernel: %s; a new bash was started: variables, "
             "functions and the working directory are lost",
             cause);
    bash_died_why(s, why);
    return true;
}

/* A cell interrupted again ESCALATE_MS after an interrupt that did not end
 * it: first its programs are killed (bash and its state stay), then, should
 * bash itself ignore SIGINT, bash is replaced. Returns true when the cell
 * ended (DONE fired). */
static bool escalate(struct bash_session *s)
{
    s->escalate_due = false;
    if (s->escalation == 1) {
        struct bash__pcomm tree[BASH__SNAP_MAX];
        size_t n = bash__tree_snapshot(s->pid, tree, BASH__SNAP_MAX);
        for (size_t i = 1; i < n; i++)
            kill(tree[i].pid, SIGKILL);
        const char *why = "the cell did not stop on an interrupt: its programs were killed "
                          "(SIGKILL); bash and its variables are kept";
        snprintf(s->reason, sizeof s->reason, "%s", why);
        buf_printf(&s->err.pend, "[iopsd: %s]\n", why);
        kill(-s->pid, SIGINT); /* for bash, should it now run the rest of the cell */
        return false;
    }
    bash_died_why(s, "bash did not stop on an interrupt (it ignores SIGINT): it was killed; a "
                     "new bash was started: variables, functions and the working directory "
                     "are lost");
    return true;
}

/* A straggler that has exec'd since it was signalled got the signal while it
 * still ran bash's handler: signal it again. */
static void watch_stragglers(struct bash_session *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nwatch; i++) {
        char comm[16];
        bash__comm(s->watch[i].pid, comm);
        if (!comm[0])
            continue; /* gone */
        if (strcmp(comm, s->watch[i].comm)) {
            kill(s->watch[i].pid, SIGINT);
            memcpy(s->watch[i].comm, comm, sizeof comm);
        }
        s->watch[k++] = s->watch[i];
    }
    s->nwatch = k;
    if (!k || bash__now_ms() >= s->watch_until)
        s->watch_until = 0;
}

int bash_session_handle(struct bash_session *s, const struct pollfd *fds, int n)
{
    bool in_ready = false;
    for (int i = 0; i < n; i++)
        if (fds[i].fd == s->in_w && s->in_w >= 0 && (fds[i].revents & (POLLOUT | POLLERR)))
            in_ready = true;
    if (in_ready)
        input_write(s);

    /* Output first, then status: a cell's output is in its pipes before its
     * status line is written. Reading is cheap when nothing is there. */
    stream_read(s, &s->out, 0);
    stream_read(s, &s->err, 0);
    if (s->st_fd >= 0) {
        int rc = status_read(s);
        if (rc == 1)
            return 0; /* DONE fired: s now belongs to the next cell, if any */
        if (rc == -EPIPE) {
            bash_died(s);
            return 0;
        }
    }
    if (s->watch_until)
        watch_stragglers(s);
    if (s->state != SESS_RUNNING)
        return 0;
    if (s->cancelled) {
        gate_abort(s, 0);
        finish_cell(s, 130, false);
        return 0;
    }
    if (s->escalate_due && escalate(s))
        return 0;
    if (s->gate_check_at && bash__now_ms() >= s->gate_check_at) {
        gate_try(s);
        if (s->state != SESS_RUNNING)
            return 0;
    }
    if (s->health_at && bash__now_ms() >= s->health_at && health_check(s))
        return 0;

    uint64_t now = bash__now_ms();
    if (s->interrupted && s->recover_at && now >= s->recover_at) {
        s->recover_at = now + 500;
        if (sigint_loop_check(s))
            return 0;
        recover_check(s);
    }
    if (s->allow_stdin && !s->input_wanted && s->in_w >= 0 && s->stdin_check_at &&
        now >= s->stdin_check_at) {
        s->stdin_check_at = now + STDIN_CHECK_MS;
        stdin_check(s);
        if (s->state != SESS_RUNNING)
            return 0;
    }
    if (s->flush_at && now >= s->flush_at) {
        if (s->allow_stdin && !s->input_wanted && s->in_w >= 0 && s->tail_stream &&
            s->tail_pending && now < s->tail_at + PROMPT_HOLD_MS) {
            /* a partial line: if the cell now waits for input it is the prompt */
            stdin_check(s);
            if (s->state != SESS_RUNNING || s->input_wanted)
                return 0;
            flush_keep_tail(s);
            s->flush_at = s->tail_pending ? s->tail_at + PROMPT_HOLD_MS : 0;
        } else {
            flush_all(s);
        }
    }
    return 0;
}

int bash_session_input(struct bash_session *s, const char *text, size_t len)
{
    if (s->state != SESS_RUNNING || !s->input_wanted)
        return -EINVAL;
    s->input_wanted = false;
    s->stdin_check_at = bash__now_ms() + STDIN_CHECK_MS;
    if (len == 1 && text[0] == '\x04') {
        /* end of file, as ipykernel does */
        close_fd(&s->in_w);
        return 0;
    }
    if (buf_append(&s->in_pend, text, len) || buf_append(&s->in_pend, "\n", 1)) {
        buf_reset(&s->in_pend);
        return -E2BIG;
    }
    input_write(s);
    return 0;
}

int bash_session_interrupt(struct bash_session *s)
{
    if (s->state != SESS_RUNNING)
        return 0;
    uint64_t now = bash__now_ms();
    if (s->interrupted && s->started && s->interrupt_at && now >= s->interrupt_at + ESCALATE_MS &&
        s->escalation < 2) {
        /* interrupted again, and the cell still runs after ESCALATE_MS: its
         * programs ignore SIGINT (`trap '' INT` is inherited), or bash does */
        s->escalation++;
        s->interrupt_at = now;
        s->escalate_due = true;
        s->flush_at = now; /* carried out from bash_session_handle() */
        return 0;
    }
    if (!s->interrupt_at || !s->interrupted)
        s->interrupt_at = now;
    s->interrupted = true;
    s->input_wanted = false;
    s->recover_at = bash__now_ms() + 200;
    if (s->started)
        return send_sigint(s);
    /* A SIGINT while bash reads its input would only cancel the reading, and
     * the cell would then run: take the cell back if bash has not read it,
     * else send the SIGINT as soon as bash says it started. */
    int avail = 0;
    if (s->cmd_rd >= 0 && ioctl(s->cmd_rd, FIONREAD, &avail) == 0 && avail > 0 &&
        (size_t)avail == s->sent) {
        /* bash has not read any of the cell yet: take it back (a SIGINT now
         * would only hit the idle prompt, and the cell would then run) */
        char back[8192];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof back && (n = read(s->cmd_rd, back + got, sizeof back - got)) > 0)
            got += (size_t)n;
        if (got == s->sent) {
            s->cancelled = true;
            s->flush_at = bash__now_ms(); /* DONE from the next bash_session_handle() */
            return 0;
        }
        /* bash read part of it meanwhile: give the rest back, in order */
        if (got)
            send_line(s, back, got);
    }
    s->sigint_due = true;
    return 0;
}

void bash_session_free(struct bash_session *s)
{
    if (!s)
        return;
    if (s->pid) {
        pid_t pid = s->pid;
        if (guard_track)
            guard_track(0, -1);
        kill(-pid, SIGHUP);
        kill(-pid, SIGCONT);
        close_fd(&s->cmd_fd); /* bash reads end of file and exits */
        reap_bash(pid, 300);
        end_session(pid);
        s->pid = 0;
    }
    close_fd(&s->cmd_fd);
    close_fd(&s->cmd_rd);
    close_fd(&s->st_fd);
    close_fd(&s->gate_w);
    close_fd(&s->gate_rd);
    stream_close(&s->out);
    stream_close(&s->err);
    cell_release(s);
    unlink(s->cell);
    unlink(s->rc);
    struct buf q = BUF_INIT;
    buf_printf(&q, "%s/q", s->dir);
    unlink(q.data);
    buf_reset(&q);
    buf_printf(&q, "%s/check", s->dir);
    unlink(q.data);
    buf_release(&q);
    own_dir(s->dir, false);
    rmdir(s->dir);
    session_free_memory(s);
}

int bash__query(struct bash_session *s, const char *script, struct buf *out, size_t max)
{
    if (s->state == SESS_IDLE && bash_gone(s))
        bash_died(s); /* idle: no cell to end, just a new bash */
    if (s->state != SESS_IDLE) {
        /* a cell runs: a fresh bash in the session's working directory */
        char link[64], cwd[4096];
        snprintf(link, sizeof link, "/proc/%d/cwd", (int)s->pid);
        ssize_t n = s->pid ? readlink(link, cwd, sizeof cwd - 1) : -1;
        cwd[n > 0 ? n : 0] = '\0';
        char *argv[] = {"bash", "--norc", "--noprofile", "-c", (char *)script, NULL};
        int status;
        return bash__run(argv, n > 0 ? cwd : NULL, false, BASH__QUERY_TIMEOUT_MS, out, max,
                         &status);
    }
    struct buf line = BUF_INIT, qpath = BUF_INIT;
    int rc;
    buf_printf(&qpath, "%s/q", s->dir);
    unsigned seq = ++s->qseq;
    buf_printf(&line, "{ { %s ; } >", script);
    bash__quote(&line, qpath.data, qpath.len);
    buf_printf(&line, " 0</dev/null %d>&-; \\builtin printf 'q %u\\n' >&%d; ", BASH__STATUS_FD, seq,
               BASH__STATUS_FD);
    restore_status(s, &line); /* keep $? for the next cell */
    buf_puts(&line, "} 2>/dev/null\n");
    rc = send_line(s, line.data, line.len);
    if (rc)
        goto out;
    uint64_t until = bash__now_ms() + BASH__QUERY_TIMEOUT_MS;
    while (s->qdone != seq) {
        struct pollfd p = {.fd = s->st_fd, .events = POLLIN};
        int left = (int)(until - bash__now_ms());
        if (left <= 0 || poll(&p, 1, left) == 0) {
            rc = -ETIMEDOUT;
            goto out;
        }
        rc = status_read(s);
        if (rc < 0)
            goto out; /* bash_session_handle() will see the end of file */
    }
    int fd = open(qpath.data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    char tmp[8192];
    ssize_t n;
    size_t got = 0;
    while (got < max && (n = read(fd, tmp, sizeof tmp)) > 0) {
        size_t take = (size_t)n < max - got ? (size_t)n : max - got;
        buf_append(out, tmp, take);
        got += take;
    }
    close(fd);
    unlink(qpath.data);
    rc = 0;
out:
    buf_release(&line);
    buf_release(&qpath);
    return rc;
}
