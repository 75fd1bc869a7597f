/* kernel_guard: the native kernel as a child subreaper, plus a guard process
 * that ends bash's session and its descendants when the kernel dies without
 * cleaning up (SIGKILL). See kernel_guard.c and docs/bash-kernel.md. */
#ifndef IOPSD_KERNEL_GUARD_H
#define IOPSD_KERNEL_GUARD_H

#include <stdbool.h>
#include <sys/types.h>

/* Makes this process a child subreaper and starts the guard (before any
 * thread exists). 0 or -errno (then there is no guard). */
int kguard_start(void);
/* Was the guard started (and is it still there)? */
bool kguard_active(void);
/* Tells the guard bash's session id and the kernel's descriptor of bash's
 * command pipe (sid 0: bash is being ended on purpose, forget it). */
void kguard_track(pid_t sid, int cmd_fd);
/* A private directory of the kernel's (own) or no longer (!own, before it
 * is removed on purpose): after the kernel's death the guard removes its
 * entries and it. At most 8 at once; the path must be absolute. */
void kguard_own_dir(const char *dir, bool own);
/* Reaps exited children of the kernel (adopted orphans), except keep. */
void kguard_reap_orphans(pid_t keep);
/* `iopsd --kernel-guard KPID`: a guard started again after the first one
 * was killed (its pipe is descriptor 3). */
int kguard_exec_main(int argc, char **argv);
/* Clean end: every remaining descendant gets SIGTERM, then SIGKILL (within
 * 1.5 s); the guard is told to exit and reaped. */
void kguard_end(void);

#endif
