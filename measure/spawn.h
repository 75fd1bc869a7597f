/* spawn: starting the measured command the way `time` and `env` do: stdio
 * untouched, terminal signals reaching the command and not iopsd, exec
 * failures reported back, exit statuses mapped. Shared by the backends. */
#ifndef IOPSD_SPAWN_H
#define IOPSD_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "measure/report.h"

/* State of the measuring parent while a command runs. */
struct spawn_guard {
    struct sigaction old_int, old_quit, old_term, old_hup;
    sigset_t old_mask;
    bool active;
};

/* In the measuring parent, before fork: ignore SIGINT and SIGQUIT (the terminal
 * delivers them to the command's process group) and forward SIGTERM and SIGHUP
 * to spawn_forward_pid. spawn_guard_end restores everything. */
void spawn_guard_begin(struct spawn_guard *g);
void spawn_guard_end(struct spawn_guard *g);
/* Where forwarded signals go (0: nowhere yet). Async-signal-safe to set. */
extern volatile pid_t spawn_forward_pid;

/* The signal mask the command is to start with, when iopsd has since
 * blocked signals for itself (the live watcher's SIGUSR1): spawn_guard_begin
 * then takes it instead of the current mask. NULL: the current mask. */
void spawn_set_child_mask(const sigset_t *mask);

/* In the child after fork: restore default signal dispositions and the mask
 * that the parent had before spawn_guard_begin. */
void spawn_child_reset(const struct spawn_guard *g);

/* In the child: execvp(argv); on failure write errno to errfd (a CLOEXEC pipe
 * end) and _exit(127). Never returns. */
void spawn_child_exec(char *const argv[], int errfd) __attribute__((noreturn));

/* In the parent: read the exec result from the pipe's read end. Returns 0
 * when the exec succeeded (EOF), else the child's errno. Closes fd. */
int spawn_read_exec_result(int fd);

/* Records a wait status in the report (exit status or signal). */
void spawn_record_status(struct report *r, int wstatus);

/* Fills r's exec_errno and error for a failed exec of argv[0]. */
void spawn_record_exec_error(struct report *r, const char *cmd, int err);

/* Number of descriptors the calling process holds that a child would inherit
 * across exec (not close-on-exec): the command's descriptor count at start. */
long spawn_inheritable_fds(void);

#endif
