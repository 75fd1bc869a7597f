/* procfs: parsers for /proc/<pid>/io and /proc/<pid>/stat text, and the small
 * readers around them. Parsing never reads files; readers never parse. */
#ifndef IOPSD_PROCFS_H
#define IOPSD_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* /proc files are small; anything bigger than this is refused. */
#define PROCFS_MAX_IO   4096
#define PROCFS_MAX_STAT 4096

struct proc_io {
    uint64_t rchar, wchar, syscr, syscw;
    uint64_t read_bytes, write_bytes, cancelled_write_bytes;
};

/* Parses the text of /proc/<pid>/io. All seven fields are required, each once;
 * unknown keys are ignored. Returns 0 or -EBADMSG. */
int procfs_parse_io(const char *text, size_t len, struct proc_io *out);

struct proc_stat {
    pid_t pid, ppid;
    pid_t pgrp, session; /* fields 5 and 6 */
    char state;
    unsigned flags;                 /* kernel PF_* flags (PF_EXITING = 0x4) */
    uint64_t utime, stime;          /* clock ticks */
    uint64_t cutime, cstime;        /* of reaped children, clock ticks */
    uint64_t starttime;             /* clock ticks after boot */
    uint64_t num_threads;           /* field 20 */
    uint64_t rss;                   /* field 24: resident set size, pages (0 when absent) */
    uint64_t delayacct_blkio_ticks; /* field 42: block I/O delays, clock ticks (0 when absent) */
    char comm[64];                  /* the name between the parentheses (kernel: 15 bytes) */
};

/* Parses /proc/<pid>/stat; the command name may hold spaces and ')', so the
 * fields are read after the last ')'. Fields 1..22 are required; 23..42 are
 * read when present (older kernels and truncated text stop early: rss and
 * delayacct_blkio_ticks stay 0). Returns 0 or -EBADMSG. */
int procfs_parse_stat(const char *text, size_t len, struct proc_stat *out);

/* The command line kept from /proc/<pid>/cmdline: longer ones are cut. */
#define PROCFS_MAX_CMDLINE 4096

/* Turns the text of /proc/<pid>/cmdline (arguments each ended by a NUL) into
 * one line: arguments joined by spaces, trailing NULs dropped, cut to
 * cap - 1 bytes (cap >= 1). Returns the length written. */
size_t procfs_parse_cmdline(const char *text, size_t len, char *out, size_t cap);

/* /proc/<pid>/task/<tid>/children ("12 34 "): read at most this much. */
#define PROCFS_MAX_CHILDREN 65536

/* Parses a list of pids separated by spaces or newlines (the children file).
 * Writes up to max positive pids; returns how many there were (may exceed
 * max), or -EBADMSG on anything else or text longer than PROCFS_MAX_CHILDREN. */
long procfs_parse_pids(const char *text, size_t len, pid_t *out, size_t max);

/* Readers: 0 or -errno (-ENOENT / -ESRCH when the process is gone). */
int procfs_read_io(pid_t pid, struct proc_io *out);
/* The counters of one thread (/proc/<pid>/task/<tid>/io). */
int procfs_read_task_io(pid_t pid, pid_t tid, struct proc_io *out);
int procfs_read_stat(pid_t pid, struct proc_stat *out);
/* The command line of pid (see procfs_parse_cmdline) into out[cap]: its
 * length (0 for a zombie or a kernel thread), or -errno. */
long procfs_read_cmdline(pid_t pid, char *out, size_t cap);
/* The children of thread tid of pid (see procfs_parse_pids), or -errno
 * (-ENOENT also when the kernel lacks CONFIG_PROC_CHILDREN). */
long procfs_read_children(pid_t pid, pid_t tid, pid_t *out, size_t max);
/* Number of open descriptors of pid, or -errno. */
long procfs_count_fds(pid_t pid);

/* Calls fn(st, ctx) with the stat of every process in /proc (its entries
 * whose names start with a digit 1-9, in directory order), each read with
 * procfs_read_stat (so with its size cap). A process that is gone before its
 * stat is read, or whose stat is refused, is skipped; zombies are included.
 * fn returns 0 to go on, anything else to stop: that value is returned.
 * Returns 0 when every process was seen, or -errno when /proc cannot be
 * opened. */
typedef int (*procfs_stat_fn)(const struct proc_stat *st, void *ctx);
int procfs_each_stat(procfs_stat_fn fn, void *ctx);
/* The same walk, every stat kept: *out (to free) holds them in directory
 * order. Returns how many, or -errno (*out NULL). */
long procfs_all_stats(struct proc_stat **out);

/* Descriptors by kind, with Procpath's names: what stat(2) says of the file
 * behind /proc/<pid>/fd/<n> (anon: an anonymous inode, whose mode has no file
 * type, e.g. eventfd, epoll, timerfd). */
struct proc_fd_kinds {
    uint64_t anon, dir, chr, blk, reg, fifo, lnk, sock;
};
/* The kind's counter of k for a st_mode value. */
uint64_t *procfs_fd_kind_slot(struct proc_fd_kinds *k, unsigned mode);
/* Counts pid's descriptors by kind, at most PROCFS_MAX_FDS of them (the rest
 * are not looked at). 0 or -errno; a descriptor closed while counting is
 * skipped. */
#define PROCFS_MAX_FDS (1u << 20)
int procfs_read_fd_kinds(pid_t pid, struct proc_fd_kinds *out);

/* a += b, a -= b (saturating at 0). */
void proc_io_add(struct proc_io *a, const struct proc_io *b);
void proc_io_sub(struct proc_io *a, const struct proc_io *b);

/* Every live descendant of root (not root itself), breadth first over the
 * children files of root's tree (a scan of all of /proc for parent links on
 * kernels without them). Writes up to max pids; returns how many there were
 * (may exceed max) or -errno. */
long procfs_descendants(pid_t root, pid_t *out, size_t max);
/* The same, leaving out processes that are exiting or are zombies (exited,
 * not yet reaped): their descriptor tables are being torn down. */
long procfs_descendants_live(pid_t root, pid_t *out, size_t max);
/* What both do on kernels without children files (and what the tests check
 * on any kernel): one procfs_each_stat walk for every parent link, then
 * breadth first from root; live_only as procfs_descendants_live. */
long procfs_descendants_scan(pid_t root, pid_t *out, size_t max, bool live_only);

#endif
