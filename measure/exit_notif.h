/* exit_notif: the moment a process calls exit_group, without ptrace and
 * without stopping it anywhere else.
 *
 * The proc backend samples a command's descriptor count every few ms; a
 * program that closes its files and exits between two samples used to be
 * reported with the stale count ("end 6 (+1)"). Here the spawned command gets
 * a seccomp filter whose only effect is a user notification on exit_group,
 * before the kernel closes anything: iopsd counts /proc/<pid>/fd then and
 * lets the call continue unchanged. Installing it needs CAP_SYS_ADMIN (iopsd
 * never sets no_new_privs for the proc backend: that would change what
 * setuid programs in the command do); without it the count stays sampled,
 * and the report says so. */
#ifndef IOPSD_EXIT_NOTIF_H
#define IOPSD_EXIT_NOTIF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Whether this kernel can let a notified call continue (Linux >= 5.5). */
bool exit_notif_supported(void);

/* In the spawned child, before exec: installs the filter and passes its
 * listener over the Unix socket `sock` (SCM_RIGHTS; not counted as I/O by
 * /proc/<pid>/io). Sends nothing when the filter cannot be installed; the
 * caller's end then sees EOF. Async-signal-safe, no allocation. */
void exit_notif_child_install(int sock);

/* In iopsd: the listener the child sent, or -1 (EOF, nothing sent). */
int exit_notif_receive(int sock);

/* One pending notification: the calling thread's id, and the id to answer. */
struct exit_notif {
    uint64_t id;
    pid_t tid;
};

/* Reads one notification from the listener. 0, or -errno (-ENOENT: the
 * caller died meanwhile; nothing to answer). */
int exit_notif_recv(int listener, struct exit_notif *n);

/* Lets the notified exit_group run as if nothing had looked. */
void exit_notif_continue(int listener, uint64_t id);

#endif
