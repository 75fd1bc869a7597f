/* live: a spawned run watched while it goes (`iopsd measure`). A backend
 * publishes a source of its running totals once the command runs; a thread
 * of iopsd's own samples it on a timer (LIVE_TICK_NS) for the live alert
 * rules (fd-count, iops, throughput: one line on stderr per crossing) and on
 * SIGUSR1 for a status block. Nothing here runs on the measured command's
 * hot path: the tracer keeps a seqlock of its totals (tstate_live), proc
 * reads /proc. The report is not touched. */
#ifndef IOPSD_LIVE_H
#define IOPSD_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "measure/backend.h"
#include "measure/findings.h"

/* Sampling cadence of the live alerts: 4 Hz. */
#define LIVE_TICK_NS 250000000ull

/* A source of running totals (a backend's); returns 0 or -errno. */
typedef int (*meas_live_fn)(void *ctx, struct meas_progress *p);

struct meas_live;

/* Backends, once the command runs: where the totals come from, until
 * withdrawn (before ctx goes away). l may be NULL (nobody is watching). */
void meas_live_publish(struct meas_live *l, meas_live_fn fn, void *ctx, const char *backend);
void meas_live_withdraw(struct meas_live *l);
/* Attached runs (a window on a running tree): be->window_sample(w) is the
 * source, until meas_live_withdraw (call it before window_end). Nothing
 * when the backend cannot sample a window. */
void meas_live_publish_window(struct meas_live *l, const struct meas_backend *be,
                              struct meas_window *w);
/* The caller's own sample of a published window, under the watcher's lock
 * (window_sample is not safe to call from two threads at once); a plain
 * be->window_sample call when l is NULL. */
int meas_live_window_sample(struct meas_live *l, const struct meas_backend *be,
                            struct meas_window *w, struct meas_progress *p);

/* In iopsd, before the command starts and before any other thread: blocks
 * SIGUSR1 in iopsd (the spawned command gets the mask it would have had) and
 * starts the watcher, which writes to fd out (stderr). The live rules and
 * thresholds come from fo. NULL with a reason in err on failure. */
struct meas_live *meas_live_start(const struct findings_opts *fo, int out, char *err,
                                  size_t errlen);
/* Stops and frees the watcher. SIGUSR1 stays blocked in iopsd (a late one
 * is left pending, harmless) until it exits. Returns the number of status
 * blocks and alerts printed (for tests and --help-free introspection). */
void meas_live_stop(struct meas_live *l, unsigned *statuses, unsigned *alerts);

/* ---- pure parts (unit-tested) ---- */

/* One live threshold: fires once when the value reaches it, again only after
 * it has fallen below it. */
struct live_alert {
    double threshold;
    bool off;
    bool above;
};
/* Feeds one value; true when this value is a crossing (print an alert). */
bool live_alert_step(struct live_alert *a, double value);

/* Reads+writes per second and bytes per second between two samples; false
 * when they are less than 1 ms apart. */
bool live_rates(const struct meas_progress *a, const struct meas_progress *b, double *iops,
                double *bps);

/* The status block for sample cur, with the rates over (prev, cur) when
 * prev is not NULL. Returns the length written (at most n - 1). */
size_t live_format_status(char *s, size_t n, const char *backend, const struct meas_progress *cur,
                          const struct meas_progress *prev);
/* The alert line of a crossing: rule, value and threshold. */
size_t live_format_alert(char *s, size_t n, enum finding_rule rule, double value, double threshold,
                         double elapsed, double window);

#endif
