/* timeline: descriptors and I/O of a measured process tree over time — the
 * samples, the EVENT markers, and what is read off them (plateaus, jumps, a
 * leak verdict). The model and the analysis are pure; reading /proc lives in
 * timeline_sample_linux.c, running a command with a sampler thread in
 * timeline_watch_linux.c.
 *
 * Invariants: samples are in time order; the I/O counters of a sample are
 * cumulative since the start of the run and never decrease; open_fds is -1
 * where the tree could not be read (it had ended). Memory is bounded: at most
 * TL_MAX_SAMPLES samples and TL_MAX_EVENTS events are kept; beyond that
 * samples are decimated (every other one dropped, then only every stride-th
 * stored) and events dropped, each counted. */
#ifndef IOPSD_TIMELINE_H
#define IOPSD_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "measure/report.h"

#define TL_MAX_SAMPLES      4096
#define TL_MAX_EVENTS       1024
#define TL_EVENT_MSG_MAX    512  /* bytes of an event message kept */
#define TL_LINE_MAX         4096 /* output lines longer than this are never events */
#define TL_DEFAULT_INTERVAL 0.1

struct tl_sample {
    uint64_t mono_ns;            /* CLOCK_MONOTONIC ns since the run started */
    double wall;                 /* UNIX time, seconds */
    int32_t open_fds;            /* summed over the tree; -1: not readable */
    int32_t by_kind[FDK__COUNT]; /* -1 when not counted */
    uint32_t processes;          /* live processes of the tree */
    uint64_t read_ops, write_ops, read_bytes, write_bytes; /* cumulative */
};

enum tl_event_source {
    TL_SRC_STDOUT,
    TL_SRC_STDERR,
    TL_SRC_OUTPUT, /* a cell's output (the kernels) */
    TL_SRC_START,  /* the run (cell) started */
    TL_SRC_END,    /* the run (cell) ended */
};

struct tl_event {
    double timestamp; /* UNIX seconds, as written after "EVENT:" */
    double elapsed;   /* timestamp - the run's start */
    double received;  /* seconds after the start at which iopsd read it */
    enum tl_event_source source;
    char *message; /* owned */
};

struct tl_plateau {
    double level;                /* median of its values */
    double start_time, end_time; /* elapsed seconds */
    size_t start_idx, end_idx;   /* indexes into the samples (inclusive) */
    size_t nvalues;
    double variance;
};

struct tl_jump {
    double time;               /* midpoint of the gap between the two plateaus */
    double from_time, to_time; /* end of the one, start of the next */
    double size;               /* exact: to_level - from_level */
    long rounded;              /* the size shown: truncated (compat) or rounded (ours) */
    double from_level, to_level;
    long event;            /* index into events of the nearest one; -1 if none */
    double event_distance; /* seconds from the jump's gap to that event */
};

struct tl_leak {
    bool computed;
    double slope;     /* descriptors per second, least squares */
    double duration;  /* seconds covered by the valid samples */
    double growth;    /* slope * duration */
    long net;         /* last valid count - first valid count */
    long first, last; /* the first and last valid counts */
    size_t nvalid;    /* samples in the fit */
    double r2;        /* coefficient of determination of the fit (1: a straight line) */
    bool has_opens;   /* opens_minus_closes is known (tracer) */
    int64_t opens_minus_closes;
    bool flagged;
};

/* Analysis parameters. Defaults (tl_params_init) are fdprof's command-line
 * defaults; compat selects fdprof's exact algorithm (see timeline_analysis.c). */
struct tl_params {
    bool compat;
    double tolerance;       /* descriptors (2.0) */
    unsigned min_length;    /* samples, compat mode (5) */
    double min_duration;    /* seconds, our mode (0.4) */
    bool merge;             /* merge neighbouring close levels (true) */
    double merge_threshold; /* descriptors (5.0) */
    double jump_threshold;  /* descriptors (2.0) */
    double leak_threshold;  /* descriptors over the run (10.0) */
};

void tl_params_init(struct tl_params *p);

struct timeline {
    double interval; /* seconds between samples */
    double t0_wall;  /* UNIX time of the start */
    struct tl_sample *samples;
    size_t nsamples, samples_cap;
    unsigned stride;    /* store every stride-th offered sample (after decimation) */
    uint64_t offered;   /* samples taken */
    uint64_t decimated; /* taken but not kept */
    bool fast_count;    /* descriptor counts came from the size of /proc/<pid>/fd */
    struct tl_event *events;
    size_t nevents, events_cap;
    uint64_t events_dropped;
    uint64_t lines_too_long; /* output lines longer than TL_LINE_MAX */

    /* filled by timeline_analyse */
    struct tl_params params;
    bool analysed;
    struct tl_plateau *plateaus;
    size_t nplateaus;
    struct tl_jump *jumps;
    size_t njumps;
    struct tl_leak leak;
};

/* Allocates an empty timeline; interval <= 0 means the default. */
struct timeline *timeline_new(double interval, double t0_wall);
void timeline_free(struct timeline *tl);

/* Stores a sample (copied), decimating when full. Samples must come in time
 * order; the I/O counters are clamped so that they never decrease. */
void timeline_add_sample(struct timeline *tl, const struct tl_sample *s);
/* The same for the sample taken at exit: always kept. */
void timeline_add_final_sample(struct timeline *tl, const struct tl_sample *s);
/* Gives the last sample the run's exact cumulative counters (read ops, write
 * ops, read bytes, write bytes) and lowers any earlier sample that had
 * counted more (a measurer's helper's own reads, a process counted twice
 * while being reaped), so the series stays non-decreasing. */
void timeline_set_final_io(struct timeline *tl, const uint64_t io[4]);
/* The last sample kept (NULL before any). */
const struct tl_sample *timeline_last(const struct timeline *tl);

/* Adds an event (message copied, cut to TL_EVENT_MSG_MAX bytes). */
void timeline_add_event(struct timeline *tl, double timestamp, double received,
                        enum tl_event_source src, const char *msg, size_t len);
const char *tl_source_name(enum tl_event_source s);

/* fdprof's EVENT line: optional leading white space, "EVENT:", white space, a
 * timestamp of digits with at most one dot (not a lone dot), white space, a
 * non-empty message. Returns 0 and the timestamp and message (trailing white
 * space and CR dropped), or -EINVAL. */
int tl_parse_event(const char *line, size_t len, double *ts, const char **msg, size_t *msglen);

/* Splits an output stream into lines across reads (a line cut by a read is
 * joined with the next). Lines longer than TL_LINE_MAX are skipped. */
struct tl_lines {
    char buf[TL_LINE_MAX];
    size_t len;
    bool skipping; /* inside a line that was too long */
    uint64_t too_long;
};
typedef void (*tl_line_fn)(void *arg, const char *line, size_t len);
void tl_lines_feed(struct tl_lines *l, const char *p, size_t n, tl_line_fn fn, void *arg);
/* At the end of the stream: the last line, if it had no newline. */
void tl_lines_finish(struct tl_lines *l, tl_line_fn fn, void *arg);

/* Feeds output bytes of stream src and turns its EVENT lines into events. */
struct tl_eventfeed {
    struct timeline *tl;
    enum tl_event_source src;
    double received; /* set by the caller before each feed */
    struct tl_lines lines;
};
void tl_eventfeed_init(struct tl_eventfeed *f, struct timeline *tl, enum tl_event_source src);
void tl_eventfeed_feed(struct tl_eventfeed *f, const char *p, size_t n);
void tl_eventfeed_finish(struct tl_eventfeed *f);

/* Plateaus of a series (times in seconds, values; v < 0 are dropped — by index
 * in our mode, fdprof's way in compat mode). Returns how many were written to
 * *out (malloc'd, caller frees; NULL when none). */
size_t tl_detect_plateaus(const double *t, const double *v, size_t n, const struct tl_params *p,
                          struct tl_plateau **out);
/* Jumps between neighbouring plateaus (malloc'd into *out). */
size_t tl_detect_jumps(const struct tl_plateau *pl, size_t npl, const struct tl_params *p,
                       struct tl_jump **out);
/* Least-squares slope and the leak verdict over a series (v < 0 skipped). */
void tl_leak_check(const double *t, const double *v, size_t n, const struct tl_params *p,
                   struct tl_leak *out);

/* Runs the whole analysis on tl's samples with p (copied); pairs every jump
 * with its nearest event. has_opens: opens_minus_closes is known (the tracer
 * counted opens and closes). Replaces an earlier analysis. */
void timeline_analyse(struct timeline *tl, const struct tl_params *p, bool has_opens,
                      int64_t opens_minus_closes);

/* ---- sampling a process tree (Linux; timeline_sample_linux.c) ---- */

/* What one tree is, and the state carried from sample to sample. */
struct tl_tree {
    pid_t root;
    bool include_root;     /* the root is part of the tree (not the measurer) */
    volatile pid_t helper; /* a measurer's helper inside the tree: its I/O
                              counts (reaped children fold into it), its
                              descriptors and itself do not; 0 if none */
    bool kinds;            /* count descriptors by kind */
    bool fast;             /* the last sample's counts all came from st_size */
    bool have_base;
    uint64_t base[4]; /* read ops, write ops, read bytes, write bytes at start */
    uint64_t t0_mono; /* CLOCK_MONOTONIC ns of the start */
};

/* Reads the tree now into *s (all fields). The first call sets the I/O base,
 * so counters start at 0. Returns 0, or -errno when the tree is gone (then
 * *s holds open_fds -1 and zero processes). */
int tl_sample_tree(struct tl_tree *tree, struct tl_sample *s);

/* ---- JSON (timeline_json.c) ---- */

/* The report's "timeline" section (a new reference). */
struct json_t;
struct json_t *timeline_to_json(const struct timeline *tl);
/* Reads a "timeline" section back (a saved report; untrusted): whatever is
 * missing or of the wrong type is 0, at most TL_MAX_SAMPLES samples,
 * plateaus and jumps and TL_MAX_EVENTS events are read, an event index out of
 * range is none. NULL when o is not an object. Caller frees. */
struct timeline *timeline_from_json(const struct json_t *o);
/* JSON Lines, fdprof-compatible: one object per line. A sample carries
 * timestamp, elapsed, open_fds and our keys; prev (may be NULL) gives the
 * rates. An event is {"type":"event",...}; the summary comes last. */
void tl_jsonl_sample(FILE *f, const struct tl_sample *s, const struct tl_sample *prev);
void tl_jsonl_event(FILE *f, const struct tl_event *e);
void tl_jsonl_summary(FILE *f, const struct timeline *tl);
/* The descriptors of one process, and by kind into kinds[] (may be NULL).
 * Returns the count or -errno; *fast tells whether st_size gave it. */
long tl_count_fds(pid_t pid, int32_t kinds[FDK__COUNT], bool *fast);

#endif
