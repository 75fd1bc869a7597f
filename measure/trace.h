/* trace: internals shared by the ptrace tracer backend's files:
 *   trace_sys_linux.c    the syscall table (what each traced syscall means) and
 *                        the seccomp filter built from it, per architecture;
 *   trace_state_linux.c  the aggregate: descriptor tables, per-file rows,
 *                        counters and histograms (no ptrace; unit-tested);
 *   trace_linux.c        the ptrace engine (spawned and attached) and the
 *                        `meas_trace` backend.
 * Memory is flat in the number of operations: everything is aggregated into
 * fixed counters and per-path rows; nothing is stored per operation. */
#ifndef IOPSD_TRACE_H
#define IOPSD_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "measure/report.h"

/* ---- the syscall table ---- */

/* What a traced syscall does, as far as the tracer is concerned. */
enum tsc_op {
    TSC_NONE = 0, /* not traced */
    TSC_READ,     /* read on args[0]; bytes = return value */
    TSC_WRITE,    /* write on args[0]; bytes = return value */
    TSC_SENDFILE, /* sendfile(out=args[0], in=args[1]) */
    TSC_COPY,     /* copy_file_range / splice (in=args[0], out=args[2]) */
    TSC_TEE,      /* tee(in=args[0], out=args[1]) */
    TSC_RECVMMSG, /* returns messages; bytes are the msg_len of each */
    TSC_SENDMMSG,
    TSC_IO_URING, /* io_uring_enter: an operation whose bytes are unseen */
    TSC_MMAP,     /* mmap of a file: unseen bytes */
    TSC_OPEN,     /* a path is opened: new fd = return value */
    TSC_OPENAT2,  /* openat2: flags behind a pointer (struct open_how) */
    TSC_NEWFD,    /* another descriptor creator: new fd = return value */
    TSC_FDPAIR,   /* pipe / pipe2 / socketpair: two fds written to memory */
    TSC_CLOSE,
    TSC_CLOSE_RANGE,
    TSC_DUP,  /* dup(args[0]) */
    TSC_DUP2, /* dup2 / dup3 (old=args[0], new=args[1]) */
    TSC_FCNTL,
    TSC_IOCTL,
    TSC_SEEK,        /* lseek(args[0]) */
    TSC_META,        /* counted in meta_ops[aux] */
    TSC_META_FD,     /* counted in meta_ops[aux] when args[0] is a file */
    TSC_CLONE,       /* clone: flags = args[0] */
    TSC_CLONE3,      /* clone3: flags at *args[0] */
    TSC_GETAFFINITY, /* sched_getaffinity: shows the mask from before pinning */
    TSC_SETAFFINITY, /* sched_setaffinity: the program chooses; stop pinning */
    TSC_VMSPLICE,    /* vmsplice: a read on a pipe's read end, else a write */
    TSC_SIGRETURN,   /* rt_sigreturn: tells an EINTR from a restart */
    TSC_SECCOMP,     /* seccomp(2): the program installs a filter of its own */
    TSC_PRCTL,       /* prctl: PR_SET_SECCOMP likewise */
    TSC_UNDECODED,   /* a call whose I/O the tracer cannot decode (i386 socketcall) */
    TSC_UNSHARE,     /* unshare: CLONE_FILES gives the task its own descriptor table */
    TSC_RECVMSG,     /* recvmsg: a read; SCM_RIGHTS in its control data are new fds */
    TSC_WAIT,        /* wait4 / waitid / waitpid: the task sleeps until a child changes */
};

/* How the close-on-exec flag of a new descriptor is found. */
enum tsc_cloexec {
    TSC_CX_NEVER = 0, /* the call cannot set it (dup, accept, pipe, ...) */
    TSC_CX_ALWAYS,    /* always set (pidfd_open, io_uring_setup, ...) */
    TSC_CX_ARG,       /* args[cx_arg] & cx_mask */
};

struct tsc_entry {
    uint8_t op;  /* enum tsc_op */
    uint8_t aux; /* TSC_META*: enum meta_op; TSC_NEWFD: enum fd_kind or TSC_KIND_PROBE */
    uint8_t cx;  /* enum tsc_cloexec (TSC_OPEN, TSC_NEWFD, TSC_FDPAIR, TSC_DUP2) */
    uint8_t cx_arg;
    uint32_t cx_mask;
    const char *name;
};

/* TSC_NEWFD's aux when the kind is read from /proc (pidfd_getfd, ...). */
#define TSC_KIND_PROBE 0xff

/* The entry for syscall nr of the native architecture; NULL if not traced. */
const struct tsc_entry *tsc_lookup(long nr);
/* The same for an ABI given by its AUDIT_ARCH_* value: the native one, or
 * the compat one (i386 on x86-64); NULL for any other. */
const struct tsc_entry *tsc_lookup_arch(uint32_t arch, long nr);
/* The compat ABI's AUDIT_ARCH_* value (0: none) and its traced syscalls. */
uint32_t tsc_compat_arch(void);
size_t tsc_compat_count(void);
/* Number of traced syscalls, and the highest syscall number + 1. */
size_t tsc_count(void);
long tsc_nr_limit(void);
/* The native AUDIT_ARCH_* value. */
uint32_t tsc_audit_arch(void);

/* The value the filter returns for traced syscalls: SECCOMP_RET_TRACE with
 * this tag in SECCOMP_RET_DATA, so our stops are told from the program's own
 * filters'. */
#define TSC_RET_DATA 0x10d5

/* Builds the seccomp BPF program (RET_TRACE for the syscalls of the native
 * and the compat tables, RET_ALLOW otherwise, including any other ABI; no
 * argument loads so the kernel's per-syscall action cache applies). Returns the number of
 * instructions written to out (capacity max), or -E2BIG. */
struct sock_filter;
int tsc_build_filter(struct sock_filter *out, size_t max);

/* ---- the aggregate ---- */

#define TFD_OPEN    0x01 /* the slot holds an open descriptor */
#define TFD_CLOEXEC 0x02
#define TFD_OURS    0x04 /* created during the run (a leak if still open at exit) */
/* Attached mode: a descriptor open when the window began is recorded without
 * reading /proc (a process with 50 descriptors took ~4 ms to probe); its
 * kind and row are read when it is first used (TFD_LAZY), its close-on-exec
 * flag is settled at an exec by whether it survived (TFD_CXLAZY). */
#define TFD_LAZY   0x08
#define TFD_CXLAZY 0x10

/* tfd.kind of a descriptor on the caller's plumbing (meas_opts.exclude):
 * nothing done on it is counted. */
#define TFD_KIND_EXCLUDED 0xfe

struct tfd {
    uint8_t flags;
    uint8_t kind; /* enum fd_kind, or TFD_KIND_EXCLUDED */
    int32_t file; /* row in tstate.rows, -1 if none */
};

/* A descriptor table: a process's, or a thread's own (after
 * unshare(CLONE_FILES) or a clone without CLONE_FILES); shared between
 * CLONE_FILES tasks and processes (refs). */
struct tfdtab {
    int refs;
    bool initial; /* existed when tracing began (the command, or an attached process) */
    struct tfd *v;
    int cap;
    long nopen;
};

/* A per-path row (every path-bearing kind; the report shows hist kinds). */
struct trow {
    char *path;
    uint8_t kind;
    uint64_t opens, read_ops, write_ops, read_bytes, write_bytes, seeks;
};

/* Maximum per-path rows; paths beyond it are counted in the totals only. */
#define TSTATE_MAX_ROWS (1u << 20)

struct tstate {
    unsigned hist_kinds;
    struct io_counts by_kind[FDK__COUNT];
    struct size_bucket size_hist[HIST_SIZE_BUCKETS];
    struct lat_bucket lat_hist[HIST_LAT_BUCKETS];
    uint64_t meta_ops[META__COUNT];
    uint64_t read_errors, write_errors;
    uint64_t unseen_io_uring, unseen_mmap, unseen_mmap_exec;
    uint64_t exit_interrupted; /* calls in flight when their process exited */
    uint64_t end_unstopped;    /* tasks that did not stop when a window ended */
    uint64_t seccomp_filters;  /* filters the tree installed itself */
    uint64_t undecoded;        /* calls whose I/O could not be decoded */
    uint64_t processes;
    /* descriptors: open now in live tables, plus what exited tables left */
    long fds_start, fds_now, fds_peak, fds_kept;
    struct trow *rows;
    size_t nrows, rows_cap;
    uint32_t *hash; /* open addressing: row index + 1, 0 = empty */
    size_t hash_cap;
    struct report *leaks; /* leaked descriptors are added here as found */
    /* The totals over the hist kinds so far, for a sample taken from another
     * thread (live progress): a sequence count, odd while they change. */
    _Atomic uint64_t live_seq;
    _Atomic uint64_t live[4]; /* read ops, write ops, read bytes, write bytes */
    _Atomic long live_fds;    /* fds_now, for the same readers (one plain store) */
    /* the per-process table (trace_procs_linux.c) */
    struct proc_row *prows;
    size_t nprows, prows_cap;
    uint64_t prows_dropped;
    int32_t cur_proc; /* row of the process whose data operations are being counted; -1 none */
    uint64_t t0_ns;   /* the run's start (CLOCK_MONOTONIC): row times are relative to it */
};

/* The live totals, consistent with each other (any thread). */
void tstate_live(struct tstate *s, uint64_t out[4]);
/* Descriptors open now in the tree's live tables (any thread). */
long tstate_live_fds(struct tstate *s);

/* leaks: the report that collects leaked descriptors (not owned). */
void tstate_init(struct tstate *s, unsigned hist_kinds, struct report *leaks);
void tstate_release(struct tstate *s);

/* The row for path (created with kind when new); -1 when the row cap is hit. */
int32_t tstate_row(struct tstate *s, const char *path, enum fd_kind kind);

/* One data operation of `bytes` on a descriptor of `kind` (row may be -1). */
void tstate_data(struct tstate *s, bool write, enum fd_kind kind, int32_t row, uint64_t bytes,
                 uint64_t lat_ns);
void tstate_meta(struct tstate *s, enum meta_op m);
void tstate_seek(struct tstate *s, int32_t row);

/* Descriptor tables. */
struct tfdtab *tfdtab_new(bool initial);
struct tfdtab *tfdtab_copy(const struct tfdtab *t); /* fork: a copy, none of it ours */
/* The slot of fd, or NULL when fd is not open in t. */
struct tfd *tfdtab_get(struct tfdtab *t, int fd);
/* Records fd as open (replacing what was there). */
void tfdtab_set(struct tstate *s, struct tfdtab *t, int fd, enum fd_kind kind, int32_t row,
                uint8_t flags);
void tfdtab_close(struct tstate *s, struct tfdtab *t, int fd);
/* exec: closes the close-on-exec descriptors. */
void tfdtab_exec(struct tstate *s, struct tfdtab *t);
/* Drops a reference held by a process (pid) that exited; on the last one the
 * descriptors it created and left open (other than 0-2) become leaks, and
 * are kept in the count (as are an initial table's pre-existing ones). */
void tfdtab_unref(struct tstate *s, struct tfdtab *t, pid_t pid, bool exited);
/* Adds a table that is not yet counted in fds_now (a fork's copy). */
void tstate_count_table(struct tstate *s, const struct tfdtab *t);

/* ---- the per-process table (trace_procs_linux.c) ----
 * Each traced process has a row; the engine sets cur_proc before it
 * accounts a syscall's result, and tstate_data adds the operation to that
 * row when its kind is counted in the totals (so the rows sum to them). */

/* A new row for pid (its command copied from row `from`, -1 for none), or -1
 * beyond REPORT_MAX_PROCS (then counted in prows_dropped). */
int32_t tstate_proc_new(struct tstate *s, pid_t pid, pid_t ppid, int32_t from, uint64_t now_ns);
/* The command line of row (after an exec). */
void tstate_proc_cmd(struct tstate *s, int32_t row, const char *cmd);
/* The process ended with wait status st (exit or signal). */
void tstate_proc_end(struct tstate *s, int32_t row, int st, uint64_t now_ns);
/* CPU time of the process, in clock ticks of ticks_per_second. */
void tstate_proc_cpu(struct tstate *s, int32_t row, uint64_t utime, uint64_t stime,
                     long ticks_per_second);
/* Moves the rows into r (r->procs), leaving the table empty. */
void tstate_procs_fill(struct tstate *s, struct report *r);
void tstate_procs_release(struct tstate *s);

/* Fills r's detailed fields (by_kind, histograms, meta, files top n, fds, the
 * top-level totals over the hist kinds). */
void tstate_fill_report(struct tstate *s, struct report *r, size_t top_files);

/* Kind of a descriptor from its /proc/<pid>/fd/<n> link text and, for paths,
 * the st_mode of its target (0 when unknown). */
enum fd_kind tstate_kind_from_link(const char *link, unsigned mode);

/* Parses the "flags:" line of /proc/<pid>/fdinfo/<n> (octal). 0 or -EBADMSG.
 * Text is capped at TSTATE_MAX_FDINFO bytes. */
#define TSTATE_MAX_FDINFO 4096
int tstate_parse_fdinfo_flags(const char *text, size_t len, unsigned *flags);

/* The descriptors passed in the SCM_RIGHTS messages of a recvmsg control
 * buffer (len bytes, as read from the tracee: untrusted), in the 64-bit
 * layout (struct cmsghdr of 16 bytes, 8-byte alignment) or the i386 one
 * (compat: 12 bytes, 4-byte alignment). Stores up to max of them in fds and
 * returns how many; -EBADMSG when len is over TSTATE_MAX_CMSG. The kernel
 * passes at most 253 descriptors in one message (SCM_MAX_FD): 4 KiB holds
 * them with room to spare. */
#define TSTATE_MAX_CMSG    4096
#define TSTATE_MAX_SCM_FDS 512
int tstate_parse_scm_rights(const unsigned char *buf, size_t len, bool compat, int *fds,
                            size_t max);

#endif
