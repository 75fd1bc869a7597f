/* report: the model of one measured run (a command, a cell, a line) that every
 * backend fills and every renderer reads. Knows nothing of Jupyter or output. */
#ifndef IOPSD_REPORT_H
#define IOPSD_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REPORT_SCHEMA "iopsd-report/1"

/* What a descriptor refers to. The order is the order of "by_kind" in JSON. */
enum fd_kind {
    FDK_FILE,     /* regular file (also directories) */
    FDK_BLOCKDEV, /* block device */
    FDK_CHARDEV,  /* character device: tty, /dev/null, /dev/zero, ... */
    FDK_PIPE,     /* pipe or FIFO */
    FDK_SOCKET,   /* socket of any family */
    FDK_ANON,     /* anon inode: eventfd, epoll, timerfd, signalfd, memfd, ... */
    FDK__COUNT
};

/* Metadata operation classes. The order is the order of "meta_ops" in JSON. */
enum meta_op {
    META_OPEN,     /* open, openat, openat2, creat */
    META_CLOSE,    /* close, close_range */
    META_STAT,     /* stat family, statx, access, readlink */
    META_SEEK,     /* lseek */
    META_FSYNC,    /* fsync, fdatasync, msync, sync_file_range, sync, syncfs */
    META_GETDENTS, /* getdents, getdents64 */
    META_UNLINK,   /* unlink, unlinkat, rmdir */
    META_RENAME,   /* rename, renameat, renameat2 */
    META_MKDIR,    /* mkdir, mkdirat, mknod */
    META_TRUNCATE, /* truncate, ftruncate, fallocate */
    META_FCNTL,    /* fcntl on a file, ioctl, flock */
    META_DUP,      /* dup, dup2, dup3, fcntl F_DUPFD* */
    META_OTHER,    /* chmod, chown, utimes, link, symlink, xattr, ... */
    META__COUNT
};

struct io_counts {
    uint64_t read_ops, write_ops;
    uint64_t read_bytes, write_bytes;
};

/* Size histogram: bucket 0 holds zero-byte operations ([0,1)); bucket k >= 1
 * holds sizes in [2^(k-1), 2^k). 65 buckets cover every 64-bit size. */
#define HIST_SIZE_BUCKETS 65
/* Latency histogram in nanoseconds: bucket 0 is [0,1) ns, bucket k is
 * [2^(k-1), 2^k) ns; 2^40 ns (~18 min) and above fall in the last bucket. */
#define HIST_LAT_BUCKETS 42

struct size_bucket {
    uint64_t read_ops, write_ops, read_bytes, write_bytes;
};

struct lat_bucket {
    uint64_t read_ops, write_ops;
};

/* One row of the per-file table. */
struct file_row {
    char *path; /* owned */
    enum fd_kind kind;
    uint64_t opens, read_ops, write_ops, read_bytes, write_bytes, seeks;
};

/* A descriptor opened during the run and still open at the end. */
struct leaked_fd {
    int fd;
    pid_t pid;
    enum fd_kind kind;
    char *path; /* owned; may be NULL when unknown */
};

/* One process of the run (the per-process table). Times are seconds after the
 * run started; `end` is negative while the process was still running when the
 * run ended. The counters have the meaning of the report's totals (files
 * only with the tracer, every read/write call with proc). */
struct proc_row {
    pid_t pid, ppid;
    char *cmd; /* owned; its command line, arguments joined by spaces; NULL if unknown */
    double start, end;
    bool exited; /* exited normally: exit_status is valid */
    int exit_status;
    int term_signal; /* signal that killed it, 0 if none */
    uint64_t read_ops, write_ops, read_bytes, write_bytes;
    bool has_cpu; /* user/system seconds were measured */
    double user_seconds, system_seconds;
};

/* Processes a report attached to (iopsd measure --pid); more are refused. */
#define REPORT_MAX_ATTACH 64

/* Why a window on running processes ended. */
enum attach_end { ATTACH_END_DURATION, ATTACH_END_INTERRUPTED, ATTACH_END_EXITED };

/* Rows kept in a report's per-process table; the rest are counted in
 * procs_dropped (their I/O still counts in the totals). */
#define REPORT_MAX_PROCS 65536

/* A finding (measure/findings.c): what was seen, with its numbers, and what
 * usually fixes it. */
enum finding_severity { FSEV_INFO, FSEV_WARNING, FSEV_CRITICAL };

/* Findings read back from JSON beyond this are ignored. */
#define REPORT_MAX_FINDINGS 256

struct finding {
    char rule[24];
    enum finding_severity severity;
    char *what; /* owned: one sentence, with the numbers */
    char *fix;  /* owned: one sentence */
};

struct report {
    /* identity */
    char **argv;       /* owned, NULL-terminated; NULL when the run was code */
    char *code;        /* owned; cell or line text; NULL for a command */
    char backend[16];  /* "proc", "trace", "fs_usage" */
    double start_time; /* UNIX time, seconds */
    bool exited;       /* the command exited normally: exit_status is valid */
    int exit_status;
    int term_signal;  /* signal that killed it, 0 if none */
    bool interrupted; /* a cell the user interrupted: the report covers what ran */
    char *error;      /* owned; iopsd's own failure, NULL if none */
    /* running processes measured for a window (iopsd measure --pid) */
    struct {
        bool on;
        pid_t pids[REPORT_MAX_ATTACH];
        size_t npids;
        bool tree;       /* their descendants counted */
        double duration; /* asked for, seconds; 0: until interrupted or exited */
        enum attach_end end;
    } attach;
    int exec_errno; /* the command could not be executed: why (ENOENT, EACCES, ...) */

    /* time */
    double wall_seconds, user_seconds, system_seconds;

    /* processes */
    uint64_t processes;     /* processes that took part (command + descendants) */
    bool processes_exact;   /* false when only sampled */
    uint64_t still_running; /* descendants still alive when the run ended */
    /* the per-process table; has_procs when the backend filled it */
    bool has_procs;
    bool procs_inclusive; /* a row's counters include the children it reaped (proc) */
    struct proc_row *procs;
    size_t nprocs, procs_cap;
    uint64_t procs_dropped; /* processes beyond REPORT_MAX_PROCS */

    /* syscall-level and storage-level totals (files only when traced) */
    uint64_t read_ops, write_ops, read_bytes, write_bytes;
    uint64_t storage_read_bytes, storage_write_bytes, cancelled_write_bytes;
    bool has_storage;                   /* storage-level counters were available */
    uint64_t read_errors, write_errors; /* failed data calls (traced only) */

    /* findings, most severe first; has_findings once the rules ran */
    bool has_findings;
    struct finding *findings;
    size_t nfindings, findings_cap;

    /* descriptors */
    struct {
        long start, peak, end;
        bool sampled;
        double interval_seconds; /* sampling interval when sampled */
        bool end_at_exit;        /* sampled: `end` was read as the command called exit_group */
        struct leaked_fd *leaked;
        size_t nleaked, leaked_cap;
    } fds;

    /* what only the tracer (or fs_usage) sees; valid when `detailed` */
    bool detailed;
    struct io_counts by_kind[FDK__COUNT];
    unsigned hist_kinds; /* bit mask of (1u << enum fd_kind) the histograms cover */
    struct size_bucket size_hist[HIST_SIZE_BUCKETS];
    bool has_latency;
    struct lat_bucket lat_hist[HIST_LAT_BUCKETS];
    uint64_t meta_ops[META__COUNT];
    struct file_row *files; /* sorted by read+write bytes, descending */
    size_t nfiles, files_cap;
    size_t files_total; /* files seen in all, before truncation to top N */
    /* what the numbers above do not include, and why (tracer) */
    struct {
        uint64_t io_uring_enter;   /* calls: the bytes io_uring moves are invisible */
        uint64_t mmap;             /* successful mmaps of files for data (no PROT_EXEC) */
        uint64_t mmap_exec;        /* successful PROT_EXEC mmaps of files: programs, libraries */
        uint64_t exit_interrupted; /* traced calls in flight when their process exited */
        uint64_t end_unstopped;    /* tasks that did not stop when the window ended */
        uint64_t seccomp_filters;  /* seccomp filters the traced tree installed itself */
        uint64_t undecoded;        /* calls whose I/O the tracer cannot decode (i386 socketcall) */
    } unseen;

    /* over time (measure/timeline.h); owned, NULL unless asked for */
    struct timeline *timeline;
};

void report_init(struct report *r);
void report_release(struct report *r);

void report_set_argv(struct report *r, char *const argv[]);
void report_set_code(struct report *r, const char *code);
void report_set_error(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bucket index of a size / a latency, as described above. */
unsigned report_size_bucket(uint64_t bytes);
unsigned report_lat_bucket(uint64_t ns);
/* [lo, hi) of bucket i; hi is UINT64_MAX for the open-ended last bucket. */
void report_size_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi);
void report_lat_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi);

/* Adds src's measurements to dst (a measurement spanning several cells):
 * counts, histograms, metadata, files (by path), leaks and times are summed;
 * the per-process table is not kept; the status is src's. The first merge
 * into an empty dst takes src's identity (backend, kinds). */
void report_merge(struct report *dst, const struct report *src);
/* Adds a finding (texts copied). */
void report_add_finding(struct report *r, const char *rule, enum finding_severity sev,
                        const char *what, const char *fix);
void report_clear_findings(struct report *r);
const char *finding_severity_name(enum finding_severity s);
int finding_severity_from_name(const char *name); /* -1 if unknown */
/* Adds a leaked descriptor (path copied; may be NULL). */
void report_add_leaked(struct report *r, pid_t pid, int fd, enum fd_kind kind, const char *path);
/* Adds a file row (path copied) and returns it zeroed but for path/kind. */
struct file_row *report_add_file(struct report *r, const char *path, enum fd_kind kind);
/* Sorts files by bytes (descending, then path) and keeps the top n (0: all). */
void report_trim_files(struct report *r, size_t n);

/* Adds a per-process row (cmd copied; may be NULL) and returns it zeroed but
 * for pid, ppid and cmd, with end = -1; NULL (and procs_dropped counted)
 * beyond REPORT_MAX_PROCS. The pointer is valid until the next add. */
struct proc_row *report_add_proc(struct report *r, pid_t pid, pid_t ppid, const char *cmd);
/* Read + write bytes of a row, saturating. */
uint64_t proc_row_bytes(const struct proc_row *p);

/* Rates over the wall time; 0 when the wall time is 0. */
double report_rate(uint64_t count, double wall_seconds);

/* "duration", "interrupted", "exited"; and back (-1 if unknown). */
const char *attach_end_name(enum attach_end e);
int attach_end_from_name(const char *name);

const char *fd_kind_name(enum fd_kind k);
int fd_kind_from_name(const char *name); /* -1 if unknown */
const char *meta_op_name(enum meta_op m);
int meta_op_from_name(const char *name); /* -1 if unknown */

/* Sum of counts over the kinds in mask. */
struct io_counts report_kind_total(const struct report *r, unsigned mask);

#endif
