/* backend: the one small interface every measurement backend implements, and
 * the registry that picks one by name ("auto", "proc", "trace", "fs_usage"). */
#ifndef IOPSD_BACKEND_H
#define IOPSD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "measure/report.h"

struct meas_opts {
    double fd_interval;    /* seconds between descriptor samples (sampling backends) */
    bool wait_descendants; /* the run ends when every descendant has exited (default) */
    size_t top_files;      /* rows kept in the per-file table; 0 = all */
    unsigned hist_kinds;   /* fd kinds the histograms cover (1u << enum fd_kind) */
};

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
    /* Attached mode (the kernels): measure the tree rooted at `root` from
     * window_begin to window_end. NULL where the backend cannot attach. */
    int (*window_begin)(pid_t root, const struct meas_opts *o, struct meas_window **w, char *err,
                        size_t errlen);
    /* Ends the window, fills r, frees w. */
    int (*window_end)(struct meas_window *w, struct report *r, char *err, size_t errlen);
};

/* The backend called `name`; "auto" picks the best one that probes fine.
 * NULL with a reason in err when unknown or unusable. */
const struct meas_backend *meas_backend_get(const char *name, char *err, size_t errlen);
/* NULL-terminated list of every backend built into this program. */
const struct meas_backend *const *meas_backend_all(void);

#endif
