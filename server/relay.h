/* relay: the wrap kernel. `iopsd kernel --wrap NAME -f CONNECTION_FILE` runs
 * the kernel loop (kernel.c) with the relay as its engine (engine_relay.c):
 * kernel spec NAME starts behind iopsd on a private connection, and the five
 * channels are relayed over the original bytes: the kernel verifies each
 * frontend message with the frontend's key, the relay re-signs it with the
 * private key, and back; only the signature frame changes. `%%iops` cells are
 * measured through the shared magic layer (magics/magic_run.h). Starting,
 * interrupting and ending the wrapped kernel's process group is
 * relay_child.c. */
#ifndef IOPSD_RELAY_H
#define IOPSD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "protocol/jconn.h"
#include "protocol/jspec.h"
#include "server/engine.h"

/* Exit status of iopsd when the wrapped kernel died on its own. */
#define RELAY_EXIT_WRAPPED_DIED 3

/* The wrapped kernel: its spec, private connection and process group. */
struct relay_child {
    struct jspec spec;
    char dir[512];      /* private 0700 dir: the connection file and ipc sockets */
    char connfile[600]; /* dir/connection.json, mode 0600 */
    struct jconn conn;  /* what connection.json says (fresh key) */
    pid_t pid;          /* the kernel; also its process group (setsid) */
    int deathsig;       /* its PR_SET_PDEATHSIG (0: SIGTERM); SIGSTOP under a guard */
    bool exited;        /* reaped */
    int wstatus;        /* its wait status once reaped */
};

/* Writes the private connection file for `spec` (moved into c) with a fresh
 * random key in a new 0700 directory under the runtime dir: ipc endpoints
 * there, or 127.0.0.1 ports when `tcp`. Returns 0 or -errno with a
 * message. */
int relay_child_prepare(struct relay_child *c, struct jspec *spec, bool tcp, char *err,
                        size_t errlen);
/* Starts the kernel in its own session (process group), with the spec's env
 * (${VAR} substituted), JPY_PARENT_PID and PR_SET_PDEATHSIG (c->deathsig, set
 * after relay_child_prepare: SIGSTOP lets the kernel guard find what the
 * wrapped kernel started, kernel_guard.h); stdin is
 * /dev/null, stdout and stderr are iopsd's. The environment is built before
 * fork. Returns 0 or -errno. */
int relay_child_start(struct relay_child *c, char *err, size_t errlen);
/* Reaps the kernel if it exited (non-blocking). True when it has exited. */
bool relay_child_reap(struct relay_child *c);
/* Sends sig to the kernel's whole process group (no-op once it is gone). */
void relay_child_signal(struct relay_child *c, int sig);
/* Ends the kernel and everything left in its group: waits up to grace_ms for
 * it to exit on its own, then SIGTERM, then SIGKILL; reaps it. */
void relay_child_stop(struct relay_child *c, int grace_ms);
/* Removes the private directory and frees everything. */
void relay_child_release(struct relay_child *c);
/* "exited with status N" / "killed by signal N (Killed)" for the reaped kernel. */
void relay_child_describe(const struct relay_child *c, char *out, size_t outlen);

/* The relay engine for kernel spec `name`: finds the spec and starts the
 * kernel at once (before the caller creates any thread). NULL with a
 * message in err when the spec cannot be found or the kernel not started. */
struct engine *engine_relay_new(const char *name, engine_event_fn fn, void *ctx, char *err,
                                size_t errlen);

#endif
