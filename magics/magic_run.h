/* magic_run: one `%%iops` / `%iops` measurement, from the parsed magic to
 * what the notebook shows. Knows nothing of bash, of relaying or of the
 * Jupyter wire: a kernel's engine supplies the process tree to measure and
 * calls begin/end at the exact start and end of the measured code; the
 * kernel publishes what comes out (progress updates and the final display
 * data) on iopub.
 *
 *   magic_run_new(&magic, &run, err)      picks the backend (errors: unusable)
 *   magic_run_begin(run, &plumbing, err)  the engine is at the start gate
 *   ... magic_run_progress(run, now) while the code runs (live display)
 *   magic_run_end(run, &framing, err)     the engine is at the end gate
 *   magic_run_finish(run, ...)            report + --json file + display data
 *   magic_run_free(run)                   (ends a window still open)
 */
#ifndef IOPSD_MAGIC_RUN_H
#define IOPSD_MAGIC_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "magics/magic.h"
#include "measure/backend.h"

/* What the engine measures: the root of the process tree that runs the
 * user's code, and its own plumbing among that tree's descriptors. */
struct magic_plumbing {
    pid_t root;
    struct meas_fdid exclude[MEAS_EXCLUDE_MAX];
    size_t nexclude;
    /* Of root's threads already running, the one that runs the user's code
     * (0: all of them); threads and processes started later always count. */
    pid_t root_only_tid;
};

/* The engine's own calls inside the window (its start and end gates), known
 * exactly; subtracted where the backend cannot tell descriptors apart. */
struct magic_framing {
    uint64_t read_ops, read_bytes, write_ops, write_bytes;
};

/* A cell runs this long before the first live progress display. */
#define MAGIC_PROGRESS_AFTER_MS 1000
/* How long a window's start or end waits for the measured tree to stop
 * (meas_opts.give_up_ms): a task that cannot stop (a vfork child blocked
 * before its exec holds its parent) must not hang the notebook. Past it the
 * cell runs unmeasured, or its report follows at once. */
#define MAGIC_GIVE_UP_MS 5000

/* The host's interrupt counter (bumped by its SIGINT handler): an interrupt
 * while a window waits for the tree to stop gives up at once. Set once. */
void magic_set_interrupts(const volatile sig_atomic_t *counter);
/* Then at most one update per this many milliseconds. */
#define MAGIC_PROGRESS_EVERY_MS 250

struct magic_run;

/* Resolves the magic's backend ("auto": the tracer where ptrace works, else
 * proc). Returns 0, or -errno with a one-line reason in err. */
int magic_run_new(const struct magic *m, struct magic_run **out, char *err, size_t errlen);
const char *magic_run_backend(const struct magic_run *r);

/* Starts measuring. Returns 0 or -errno with a reason in err. */
int magic_run_begin(struct magic_run *r, const struct magic_plumbing *p, char *err, size_t errlen);
bool magic_run_measuring(const struct magic_run *r);
/* A window was begun (a report exists once it ends). */
bool magic_run_began(const struct magic_run *r);
/* Why the window could not begin ("" if it did, or was never asked to). */
const char *magic_run_error(const struct magic_run *r);
/* The line shown instead of a report when the window never began (its
 * start failed: magic_run_error() says why), NUL-terminated in out. */
void magic_run_unmeasured_line(const struct magic_run *r, bool interrupted, char *out,
                               size_t outlen);

/* Milliseconds until magic_run_progress() has something to show; -1 when
 * never (not measuring, or the backend cannot sample). */
long magic_run_progress_due_ms(const struct magic_run *r);
/* When due: the "data" object of a display (text/plain, text/html) showing
 * elapsed time, ops and bytes so far, current IOPS and throughput; *update
 * tells whether a display was already shown (then it is an
 * update_display_data). NULL when not due. */
json_t *magic_run_progress(struct magic_run *r, bool *update);
/* --timeline: the sampler's own deadline, apart from the progress display's
 * (absolute: start + k x interval). Milliseconds until the next sample is
 * due, 0 when due, -1 when the magic has no timeline or is not measuring.
 * _tick takes the sample when due (the kernel loop calls it). */
long magic_run_timeline_due_ms(const struct magic_run *r);
void magic_run_timeline_tick(struct magic_run *r);
/* A chunk of the cell's output (stdout, or stderr): its EVENT lines become
 * the timeline's markers (lines cut across chunks are joined). */
void magic_run_output(struct magic_run *r, bool is_stderr, const char *data, size_t len);

/* The display_id of the progress display and the final report. */
const char *magic_run_display_id(const struct magic_run *r);
/* A progress display was shown (the report replaces it in place). */
bool magic_run_progress_shown(const struct magic_run *r);

/* Stops measuring; the report is kept for magic_run_finish. framing may be
 * NULL. Returns 0 or -errno with a reason in err (the report then carries
 * the error too). */
int magic_run_end(struct magic_run *r, const struct magic_framing *f, char *err, size_t errlen);

/* Completes the report (the measured code, its exit status, whether it was
 * interrupted), writes --json FILE, and unless --quiet renders the display:
 * *data and *metadata (new references) for a display_data. A problem writing
 * the file goes into note (one line, "" if none); the display is made anyway. */
int magic_run_finish(struct magic_run *r, const char *code, int exit_status, bool interrupted,
                     json_t **data, json_t **metadata, char *note, size_t notelen);

/* The report (complete after magic_run_finish). */
const struct report *magic_run_report(const struct magic_run *r);

/* A one-line summary of a finished report (time, ops, bytes, IOPS, the most
 * severe finding) as display data: text/plain is the line, text/html the
 * line with the full report one click away (<details>). New reference. */
json_t *magic_summary_data(const struct report *rep);
/* The same line as text (no newline) into out. */
void magic_summary_line(const struct report *rep, char *out, size_t n);
/* The display data of a whole report (text, HTML, PNG, JSON), as a finished
 * magic shows it; *metadata gets the PNG's size. New references; NULL on
 * failure. */
json_t *magic_report_data(const struct report *rep, bool histograms, json_t **metadata);

/* Writes data to path; a relative path is taken from root's working
 * directory (where the user's code runs), or iopsd's when root is 0.
 * Returns 0, or -errno with "PATH: reason" in err. */
int magic_write_file(pid_t root, const char *path, const void *data, size_t len, char *err,
                     size_t errlen);

/* Frees r, ending its window first if it is still open. NULL is fine. */
void magic_run_free(struct magic_run *r);

#endif
