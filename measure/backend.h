/* backend: the one small interface every measurement backend implements, and
 * the registry that picks one by name ("auto", "proc", "trace", "fs_usage"). */
#ifndef IOPSD_BACKEND_H
#define IOPSD_BACKEND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "measure/report.h"

/* A descriptor's open file, by the identity fstat gives it (pipes too). */
struct meas_fdid {
    dev_t dev;
    ino_t ino;
};

#define MEAS_EXCLUDE_MAX 8

struct meas_opts {
    double fd_interval;    /* seconds between descriptor samples (sampling backends) */
    bool wait_descendants; /* the run ends when every descendant has exited (default) */
    size_t top_files;      /* rows kept in the per-file table; 0 = all */
    unsigned hist_kinds;   /* fd kinds the histograms cover (1u << enum fd_kind) */
    /* Attached mode: open files that are the caller's plumbing (the pipes a
     * kernel drives its engine through). Backends that see descriptors
     * (`excludes_fds`) leave every operation on them out of the report. */
    struct meas_fdid exclude[MEAS_EXCLUDE_MAX];
    size_t nexclude;
    /* Attached mode: of the root process's threads already running, measure
     * only this one (0: all), plus every thread and process started during
     * the window. A wrapped Python kernel runs the user's code on its main
     * thread; its other threads only move messages and write history. */
    pid_t root_only_tid;
    /* Attached mode: false measures the roots' own threads only (threads they
     * start included); their child processes, existing or new, do not count.
     * true (default) measures every descendant, existing and new. */
    bool tree;
    /* Spawned runs: called in iopsd once the command has been executed (the
     * whole measured tree descends from iopsd), with the pid of a measurer's helper process inside
     * it (proc: the reaper), or 0. The timeline starts its sampler here. */
    void (*spawned)(void *arg, pid_t helper);
    void *spawned_arg;
    /* Spawned runs: where the backend publishes its running totals while
     * the command runs (measure/live.h); NULL: nobody watches. */
    struct meas_live *live;
    /* Attached mode: signals, blocked by the caller, that give up waiting
     * for the tree to stop when it will not (a window's start fails with
     * -EINTR; at its end the report follows without waiting). has_cancel
     * false: nothing gives up (the kernels). */
    bool has_cancel;
    sigset_t cancel;
    /* Attached mode: give up waiting for the tree to stop after this many
     * ms (0: never), as a cancel does, the start failing with -ETIMEDOUT.
     * The kernels set it: a notebook must not hang on a task that cannot
     * stop (a vfork child blocked before its exec holds its parent). */
    unsigned give_up_ms;
    /* Attached mode: a counter the host bumps on an interrupt (from a signal
     * handler; NULL: none). A change while waiting for the tree to stop
     * gives up at once, as a cancel does. */
    const volatile sig_atomic_t *interrupts;
};

/* A running window's totals so far (live progress): syscall-level counts
 * as the report will give them, without the plumbing. */
struct meas_progress {
    double elapsed_seconds;
    uint64_t read_ops, write_ops, read_bytes, write_bytes;
    long open_fds; /* descriptors open now (see docs/measure.md); -1: not known */
    /* Processes of the window still running (0: every one has exited). */
    uint64_t live_processes;
};

/* Roots one attached window may have (iopsd measure --pid A,B,...). */
#define MEAS_MAX_ROOTS 64

void meas_opts_init(struct meas_opts *o);

struct meas_window; /* an attached measurement of a running process tree */

struct meas_backend {
    const char *name;
    const char *summary; /* one line for --help */
    /* 0 if the backend can work here; else -errno and a one-line reason. */
    int (*probe)(char *err, size_t errlen);
    /* Starts argv (PATH searched) with stdin/stdout/stderr untouched, measures
     * it and its descendants, and fills r. Returns 0 once the command ran or
     * could not be executed (then r->exec_errno and r->error are set); a
     * negative errno with a reason in err for iopsd's own failures. */
    int (*run)(const struct meas_opts *o, char *const argv[], struct report *r, char *err,
               size_t errlen);
    /* Attached mode (the kernels, iopsd measure --pid): measure the processes
     * roots[0..nroots) (at most MEAS_MAX_ROOTS, distinct) and, with o->tree,
     * their descendants, from window_begin to window_end. Either every root
     * is attached or none is (a failure leaves them all as they were); the
     * error is -ESRCH when a root does not exist, -EPERM/-EACCES when it may
     * not be measured, with a one-line reason in err. NULL where the backend
     * cannot attach. */
    int (*window_begin)(const pid_t *roots, size_t nroots, const struct meas_opts *o,
                        struct meas_window **w, char *err, size_t errlen);
    /* Ends the window, fills r, frees w. */
    int (*window_end)(struct meas_window *w, struct report *r, char *err, size_t errlen);
    /* The totals so far of a running window, without disturbing it (cheap
     * enough for a few calls a second). NULL where not supported. */
    int (*window_sample)(struct meas_window *w, struct meas_progress *p);
    /* The backend tells descriptors apart: opts.exclude is honoured. When
     * false (proc), the caller subtracts its own plumbing's known counts. */
    bool excludes_fds;
};

/* The backend called `name`; "auto" picks the best one that probes fine.
 * NULL with a reason in err when unknown or unusable. */
const struct meas_backend *meas_backend_get(const char *name, char *err, size_t errlen);
/* Parses a list of descriptor kinds ("file,pipe", or "all") into a mask of
 * (1u << enum fd_kind). Returns 0 or -EINVAL. */
int meas_parse_kinds(const char *s, unsigned *mask);

/* NULL-terminated list of every backend built into this program. */
const struct meas_backend *const *meas_backend_all(void);

#endif
