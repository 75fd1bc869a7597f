/* bash_internal: what the bash engine's files share (bash_session.c runs
 * cells, bash_query.c answers complete/inspect/is_complete, bash_proc.c reads
 * /proc). Not for use outside server/bash_*.c. */
#ifndef IOPSD_BASH_INTERNAL_H
#define IOPSD_BASH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/bash_session.h"
#include "util/buf.h"

/* The descriptor bash writes its status lines to ("ready", "done SEQ ST",
 * "q SEQ"); closed for the commands a cell runs. */
#define BASH__STATUS_FD 62
/* The read end of the gate pipe: a measured cell's line waits here (one
 * byte) before the user's code and again after it, so the measurement
 * window holds nothing of the engine but those two reads. */
#define BASH__GATE_FD 60
/* Where a cell's stderr waits while the commands around it run with stderr
 * at /dev/null (so that `set -x` does not trace them). */
#define BASH__SAVED_FD 61

/* How long complete/inspect/is_complete may take (they block the loop; a few
 * ms normally, more on a loaded machine). */
#define BASH__QUERY_TIMEOUT_MS 5000

/* Appends s to b as one single-quoted shell word. */
void bash__quote(struct buf *b, const char *s, size_t n);

/* Runs script in the idle session with its stdout going to a private file,
 * or, while a cell runs, in a fresh `bash -c` in the session's working
 * directory. Appends at most `max` bytes of the script's stdout to out.
 * Returns 0 or -errno (-ETIMEDOUT after BASH__QUERY_TIMEOUT_MS). */
int bash__query(struct bash_session *s, const char *script, struct buf *out, size_t max);

/* The session's private directory (0700). */
const char *bash__dir(const struct bash_session *s);

/* Runs argv (with stdin /dev/null, in its own session) and collects up to max
 * bytes of its stdout (and stderr too when merge_stderr) within timeout_ms;
 * *status gets the exit status (128+N if signalled). Kills it on timeout. */
/* In a child after fork: empty signal mask, default dispositions, a new
 * session of its own (so the kernel's signals and bash's never cross). */
void bash__child_reset(void);

int bash__run(char *const argv[], const char *cwd, bool merge_stderr, int timeout_ms,
              struct buf *out, size_t max, int *status);

/* Does an input prompt ask for a secret ("Password:", "passphrase ...:")?
 * Then the frontend masks the answer. */
bool bash__secret_prompt(const char *p, size_t n);

/* What completing at cursor_pos (code points) asks bash: script is empty
 * when nothing sensible can be offered. Matches get prefix in front; with
 * files, the script prints files, a "\001" line, then directories. from and
 * cur (bytes) delimit the text the matches replace. The caller releases
 * script. */
struct bash__cplan {
    struct buf script;
    const char *prefix;
    bool files;
    size_t from, cur;
};
void bash__complete_plan(const char *code, size_t len, size_t cursor_pos, struct bash__cplan *p);
/* The script that describes the name at cursor_pos (appended to script), or
 * -ENOENT when there is no name there. */
int bash__inspect_plan(const char *code, size_t len, size_t cursor_pos, struct buf *script);

/* /proc helpers (bash_proc.c). */

/* Parses /proc/<pid>/task/<tid>/syscall: *nr = syscall number and *arg0 =
 * first argument, or -EAGAIN when the thread is not blocked in a syscall
 * ("running", "-1 ..."). 0 or -errno. */
int bash__parse_syscall(const char *text, size_t len, long *nr, unsigned long long *arg0);
/* The third argument (read's count) of the same text: 0 or -errno. */
int bash__parse_syscall_arg2(const char *text, size_t len, unsigned long long *arg2);
/* True when pid's main thread sleeps in read() on its descriptor fd. */
bool bash__blocked_reading(pid_t pid, int fd);
/* /proc/<pid>/status text: the hex mask of field ("SigBlk", "SigCgt", ...). */
int bash__parse_sigmask(const char *text, size_t len, const char *field, unsigned long long *mask);
/* /proc/<pid>/stat text: utime + stime in clock ticks. */
int bash__parse_cpu(const char *text, size_t len, unsigned long long *ticks);
/* Is pid inside a SIGINT handler (SIGINT caught, and blocked as it is while
 * its handler runs)? *ticks: its CPU time so far. */
bool bash__in_sigint_handler(pid_t pid, unsigned long long *ticks);
/* Parses /proc/<pid>/stat: state, process group and session (after the last
 * ')'). 0 or -EBADMSG. */
int bash__parse_stat(const char *text, size_t len, char *state, pid_t *pgrp, pid_t *session);

/* True when root or one of its descendants (via /proc/.../children, at most
 * ~512 processes) has a thread blocked in read() on a descriptor that is the
 * pipe identified by (dev, ino). */
bool bash__reading_pipe(pid_t root, dev_t dev, ino_t ino);
/* A process of a cell's tree and the program it runs. */
struct bash__pcomm {
    pid_t pid;
    char comm[16];
};
#define BASH__SNAP_MAX 64

/* Records root and its descendants (at most max); returns how many. */
size_t bash__tree_snapshot(pid_t root, struct bash__pcomm *out, size_t max);
/* True when the tree now holds a process that is not in snap, or one that
 * has exec'd another program since: the cell went on after a signal. */
bool bash__tree_changed(pid_t root, const struct bash__pcomm *snap, size_t n);

/* After an interrupted cell: the processes of the tree (not root) that a
 * SIGINT may have missed: new since snap, exec'd since, or still a forked
 * bash. Writes at most max with their current program; returns how many. */
size_t bash__stragglers(pid_t root, const struct bash__pcomm *snap, size_t n,
                        struct bash__pcomm *out, size_t max);
/* The program (comm) of pid, "" when it is gone. */
void bash__comm(pid_t pid, char comm[16]);

/* True when a thread of pid itself (not a descendant) sleeps in read() on
 * the pipe (dev, ino). */
bool bash__self_reading_pipe(pid_t pid, dev_t dev, ino_t ino);
/* True when pid (its main thread) sleeps in read() on descriptor 0; *count
 * gets the size it asked for (bash's `read` builtin asks for 1 byte on a
 * pipe, its command reader for a buffer). */
bool bash__reading_fd0(pid_t pid, unsigned long long *count);
/* The state letter of pid in /proc/PID/stat ('S', 'T', 'Z'...), '\0' when gone. */
char bash__state(pid_t pid);

/* Sends sig to every live process whose session is sid; returns how many. */
int bash__signal_session(pid_t sid, int sig);

uint64_t bash__now_ms(void);

#endif
