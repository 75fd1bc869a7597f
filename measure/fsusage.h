/* fsusage: parsing macOS `fs_usage -w` output, one line at a time, into
 * events, and turning a stream of events into a report. Plain portable C:
 * the parser and the aggregator are built and tested everywhere; only the
 * live runner (fsusage_darwin.c) is Apple-only.
 *
 * A wide-mode line is
 *   TIMESTAMP  CALL  [F=fd] [B=0xbytes] [O=0xoff] [[errno]] [(mode)] PATH  ELAPSED[ W]  NAME.TID
 * and is parsed from the right: the trailing `.digits` is a thread id (not a
 * pid), the process name runs back to the rightmost elapsed time (`N.uuuuuu`),
 * and whatever is between the call's fields and the elapsed time is the path,
 * spaces included. See docs/fs_usage.md. */
#ifndef IOPSD_FSUSAGE_H
#define IOPSD_FSUSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "measure/report.h"

/* Longest line the parser and the line splitter accept (bytes, without the
 * newline). Longer lines are counted as malformed and skipped. */
#define FSU_LINE_MAX 65536
/* Longest call name kept (fs_usage pads calls to 17 or 20 columns). */
#define FSU_CALL_MAX 48

/* What a line is, after its call name has been mapped. */
enum fsu_class {
    FSU_DATA_READ,  /* read, pread, readv, preadv (and _nocancel...) */
    FSU_DATA_WRITE, /* write, pwrite, writev, pwritev, guarded_write*_np */
    FSU_SOCK_READ,  /* recvfrom, recvmsg: data on a socket */
    FSU_SOCK_WRITE, /* sendto, sendmsg */
    FSU_META,       /* a metadata call; see fsu_event.meta */
    FSU_DISK_READ,  /* storage-level: RdData, RdMeta, PgIn, ... */
    FSU_DISK_WRITE, /* storage-level: WrData, WrMeta, PgOut, ... */
    FSU_MMAP,       /* mmap: I/O through it is invisible */
    FSU_SOCKET_NEW, /* socket, accept, socketpair: F= is a socket */
    FSU_IGNORED,    /* known and deliberately not counted: CACHE_HIT, select, ... */
    FSU_UNKNOWN,    /* a call name we do not know */
};

/* A slice of the parsed line (not NUL-terminated). */
struct fsu_str {
    const char *p;
    size_t n;
};

/* One parsed line. Slices point into the caller's line buffer. */
struct fsu_event {
    uint64_t ts_us;          /* time of day in microseconds (0..86399999999) */
    char call[FSU_CALL_MAX]; /* base name: [flags], _nocancel, _extended stripped */
    struct fsu_str raw_call; /* the call exactly as printed */
    enum fsu_class cls;
    enum meta_op meta; /* when cls == FSU_META */
    int fd;            /* F=, -1 when absent */
    bool has_bytes, has_offset;
    uint64_t bytes;      /* B=0x... */
    uint64_t offset;     /* O=0x... */
    int err;             /* [errno], 0 when the call succeeded */
    char mode[17];       /* open mode letters from "(R_____)", "" when absent */
    struct fsu_str dev;  /* "/dev/disk3s1" on disk lines, empty otherwise */
    struct fsu_str path; /* may contain spaces; empty when absent */
    uint64_t elapsed_ns;
    bool waited;         /* the trailing W: the thread was scheduled out */
    struct fsu_str proc; /* process name (everything before the last '.') */
    uint64_t tid;        /* thread id (NOT a pid) */
};

/* Parses one line (without its newline; a trailing \r is ignored). Returns 0,
 * or -EINVAL when the line is not an fs_usage line (a header, noise, a
 * truncated line) or -E2BIG when it is longer than FSU_LINE_MAX. Never reads
 * outside line[0..len). */
int fsu_parse_line(const char *line, size_t len, struct fsu_event *ev);

/* Maps a printed call name to its base name and class. base gets the name
 * without [flags], _nocancel and _extended (truncated to FSU_CALL_MAX-1). */
enum fsu_class fsu_classify(const char *raw, size_t n, char base[FSU_CALL_MAX], enum meta_op *meta);

/* ---- splitting a byte stream into lines with a fixed buffer ---- */

typedef void (*fsu_line_fn)(void *ctx, const char *line, size_t len);

/* Holds at most FSU_LINE_MAX bytes of an incomplete line. */
struct fsu_lines {
    char *buf;
    size_t len;
    bool discarding;   /* inside a line that is already too long */
    uint64_t too_long; /* lines dropped for exceeding FSU_LINE_MAX */
};

void fsu_lines_init(struct fsu_lines *l);
void fsu_lines_release(struct fsu_lines *l);
/* Feeds n bytes; calls fn for every complete line (without '\n'). */
void fsu_lines_push(struct fsu_lines *l, const char *data, size_t n, fsu_line_fn fn, void *ctx);
/* At end of input: hands over a last line that had no newline. */
void fsu_lines_finish(struct fsu_lines *l, fsu_line_fn fn, void *ctx);

/* ---- events -> report, with bounded memory ---- */

/* Caps that keep the aggregator's memory flat whatever the log's size. */
#define FSU_FILES_MAX 65536 /* distinct paths in the per-file table */
#define FSU_FDS_MAX   65536 /* descriptors tracked as open at one time */
#define FSU_PROCS_MAX 4096  /* distinct process names */

struct fsu_agg_opts {
    const char *process; /* keep only lines of this process name; NULL: all */
    size_t top_files;    /* rows kept in the report's per-file table; 0: all */
    unsigned hist_kinds; /* fd kinds counted in the totals and histograms */
};

/* What happened to the lines fed to an aggregator. */
struct fsu_stats {
    uint64_t lines;         /* lines seen */
    uint64_t used;          /* parsed and selected */
    uint64_t malformed;     /* not fs_usage lines (including too long ones) */
    uint64_t other_process; /* parsed but filtered out by --process */
    uint64_t unknown_calls; /* parsed, call name not known: not counted */
    uint64_t ignored_calls; /* known calls that carry no I/O (CACHE_HIT, ...) */
    uint64_t untracked;     /* opens/paths beyond the caps above */
};

struct fsu_agg;

/* A new aggregator; o is copied (o->process too). Free with fsu_agg_free. */
struct fsu_agg *fsu_agg_new(const struct fsu_agg_opts *o);
void fsu_agg_free(struct fsu_agg *a);
/* Parses one line and adds it (or counts why not). */
void fsu_agg_line(struct fsu_agg *a, const char *line, size_t len);
/* Adds one parsed event (the process filter applies). */
void fsu_agg_event(struct fsu_agg *a, const struct fsu_event *ev);
/* Counts lines dropped before parsing (too long for the splitter). */
void fsu_agg_count_too_long(struct fsu_agg *a, uint64_t n);
/* Fills r (report_init()ed) with everything added so far: backend
 * "fs_usage", totals, histograms, metadata, files, leaked descriptors. The
 * aggregator stays usable. */
void fsu_agg_report(const struct fsu_agg *a, struct report *r);
const struct fsu_stats *fsu_agg_stats(const struct fsu_agg *a);

/* Reads fd to EOF with a fixed buffer and feeds every line to a. Returns 0 or
 * -errno with a reason in err. */
int fsu_agg_read_fd(struct fsu_agg *a, int fd, char *err, size_t errlen);

#endif
