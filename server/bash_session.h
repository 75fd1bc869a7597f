/* bash_session: the native bash execution engine behind the Jupyter kernel.
 * One persistent bash process per kernel; cells run in it one at a time;
 * output, input requests and completion arrive as events from a non-blocking,
 * poll-driven API that the single-threaded kernel loop drives (no ZeroMQ here).
 *
 * Usage from a poll loop:
 *   bash_session_start(&s, on_event, ctx, err, sizeof err);
 *   bash_session_execute(s, code, allow_stdin);
 *   loop: n = bash_session_pollfds(s, fds, max); add them to zmq_poll with
 *         timeout = min(own, bash_session_timeout_ms(s)); after the poll,
 *         bash_session_handle(s, fds, n) (also when the poll timed out).
 *   Events fire only from inside bash_session_handle(); the last event of a
 *   cell is BASH_EV_DONE, after which bash_session_busy() is false.
 *
 * Contract with the process around it:
 * - A callback may call bash_session_execute() (from DONE), _input() (from
 *   INPUT_REQUEST) and _interrupt(), never bash_session_free().
 * - Output that background jobs write between cells is kept (64 KiB per
 *   stream) and handed out at the start of the next cell.
 * - bash_session_start() sets SIGPIPE to SIG_IGN for the whole process.
 * - bash and the helpers are reaped with waitpid(pid): the process must not
 *   reap every child (waitpid(-1)) in a SIGCHLD handler.
 * - Not thread-safe: one thread drives a session.
 */
#ifndef IOPSD_BASH_SESSION_H
#define IOPSD_BASH_SESSION_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "server/engine.h"

struct bash_session;

enum bash_event_type {
    BASH_EV_STDOUT,        /* data/len: a chunk of the cell's stdout */
    BASH_EV_STDERR,        /* data/len: a chunk of the cell's stderr */
    BASH_EV_INPUT_REQUEST, /* data/len: the prompt; answer with bash_session_input() */
    BASH_EV_DONE,          /* the cell finished; exit_status, interrupted, restarted */
};

/* data is valid UTF-8 (not NUL-terminated), owned by the session and valid
 * only during the callback. Chunks are at most BASH_CHUNK_MAX bytes. */
struct bash_event {
    enum bash_event_type type;
    const char *data;
    size_t len;
    bool password;      /* INPUT_REQUEST: the prompt asks for a password or passphrase */
    int exit_status;    /* DONE: status of the cell's last command; 128+N if signalled */
    bool interrupted;   /* DONE: bash_session_interrupt() stopped the cell */
    bool restarted;     /* DONE: bash exited (e.g. `exit 5`) and a fresh one was started;
                           state (cwd, variables) was lost */
    const char *reason; /* DONE: NULL, or what went wrong with bash itself (it was
                           stopped and continued, or stopped answering and was
                           replaced): one sentence for the cell's error */
};

#define BASH_CHUNK_MAX 65536

typedef void (*bash_event_fn)(void *ctx, const struct bash_event *ev);

/* Process-wide, before any session starts: how bash is tied to this process.
 * track (may be NULL) is told each new bash's pid (its session id) and this
 * process's descriptor of bash's command pipe, and (0, -1) before a bash is
 * ended on purpose. pdeathsig is what bash gets when this process dies
 * (PR_SET_PDEATHSIG): SIGHUP by default; SIGSTOP when a guard process
 * (kernel_guard.c) then ends bash's session and descendants. own_dir (may be
 * NULL) is told the session's private directory when it is made (true) and
 * before it is removed (false), for whoever cleans up after a death. */
void bash_session_set_guard(void (*track)(pid_t sid, int cmd_fd),
                            void (*own_dir)(const char *dir, bool own), int pdeathsig);

/* Starts bash (in its own session). Returns 0 or -errno with a message in err. */
int bash_session_start(struct bash_session **out, bash_event_fn fn, void *ctx, char *err,
                       size_t errlen);

/* Starts running code as one cell. Returns promptly; -EBUSY while a cell runs.
 * Without allow_stdin, the cell's stdin is /dev/null. */
int bash_session_execute(struct bash_session *s, const char *code, bool allow_stdin);
/* The same, measured: win->begin() is called once bash waits to run the
 * code (only the code is left to run), win->end() as soon as the code is
 * over (also when it is interrupted or bash dies). bash signals the end with
 * SIGUSR2 to this process: hand that to bash_session_poke(). */
int bash_session_execute_measured(struct bash_session *s, const char *code, bool allow_stdin,
                                  const struct engine_window *win);
/* This process got SIGUSR2: a measured cell's code may be over. */
void bash_session_poke(struct bash_session *s);
bool bash_session_busy(const struct bash_session *s);

/* Fills out[0..max) with the descriptors (and events) to poll; returns the count. */
int bash_session_pollfds(struct bash_session *s, struct pollfd *out, int max);
/* Milliseconds until bash_session_handle() must be called even without fd
 * activity (output batching, stdin detection); -1 = no timer. */
int bash_session_timeout_ms(const struct bash_session *s);
/* After poll: fds/n are what bash_session_pollfds() filled in, with revents.
 * Reads what is ready (bounded per call), fires callbacks. Returns 0 or -errno. */
int bash_session_handle(struct bash_session *s, const struct pollfd *fds, int n);

/* The answer to BASH_EV_INPUT_REQUEST: text (without newline) is written to
 * the cell's stdin followed by "\n". -EINVAL if no input was requested. */
int bash_session_input(struct bash_session *s, const char *text, size_t len);

/* Interrupts the running cell (SIGINT to its process group); the cell ends
 * with DONE interrupted=true (status 130 when bash had not even started it).
 * A no-op (0) when idle. */
int bash_session_interrupt(struct bash_session *s);

/* The bash process (for measuring). */
pid_t bash_session_pid(const struct bash_session *s);

/* status points to a static string "complete", "incomplete", "invalid", or
 * "unknown" (with a negative return) when the check could not run; indent
 * receives the suggested indentation ("" or spaces). Runs `bash -n` in a
 * helper process (synchronously, a few ms, bounded by a 5 s timeout). */
int bash_session_is_complete(struct bash_session *s, const char *code, const char **status,
                             char *indent, size_t indentlen);

/* Completion and inspection run in the session when it is idle (so names
 * defined by earlier cells count; $? is kept) and in a fresh bash while a cell
 * runs; synchronous, a few ms, bounded by a 5 s timeout.
 * Completions at cursor_pos (in code points). On success *matches is an array
 * of *nmatches malloc'd strings (caller frees each and the array; NULL when
 * none); start/end (code points) delimit the text they replace. */
int bash_session_complete(struct bash_session *s, const char *code, size_t cursor_pos,
                          char ***matches, size_t *nmatches, size_t *start, size_t *end);

/* What the name at cursor_pos is (type, builtin help, whatis): *text is a
 * malloc'd string the caller frees, or NULL if nothing was found. */
int bash_session_inspect(struct bash_session *s, const char *code, size_t cursor_pos, char **text);

/* Ends bash and every process it started (within 2 s) and frees s. NULL is fine. */
void bash_session_free(struct bash_session *s);

#endif
