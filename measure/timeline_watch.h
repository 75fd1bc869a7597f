/* timeline_watch: sampling the tree of a command iopsd runs (Linux), with its
 * output relayed and its EVENT lines parsed. Use: tl_watch_prepare before the
 * backend's run, tl_watch_started as the backend's spawn hook
 * (meas_opts.spawned), tl_watch_finish after the run. */
#ifndef IOPSD_TIMELINE_WATCH_H
#define IOPSD_TIMELINE_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "measure/timeline.h"

struct tl_watch;

/* Sets up a watch that fills tl. capture: put pipes in place of fds 1 and 2
 * (the command inherits them) so that EVENT lines can be read. jsonl (may be
 * NULL): where JSON Lines go as samples and events come. Returns 0 or -errno
 * with a reason in err. */
int tl_watch_prepare(struct tl_watch **out, struct timeline *tl, bool capture, FILE *jsonl,
                     char *err, size_t errlen);
/* The spawn hook: the measured tree now exists under this process; helper is
 * a measurer's process inside it (its descriptors do not count), or 0.
 * Starts the sampler thread. */
void tl_watch_started(void *arg, pid_t helper);
/* Ends the watch: restores fds 1 and 2, drains the output, takes the last
 * sample (with exact_io's cumulative read ops, write ops, read bytes, write
 * bytes when not NULL), adds the end marker, frees w. */
void tl_watch_finish(struct tl_watch *w, const uint64_t exact_io[4]);

#endif
