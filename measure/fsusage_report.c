/* fsusage_report: a stream of fs_usage events turned into a report, with
 * memory bounded by fixed caps (FSU_FILES_MAX paths, FSU_FDS_MAX open
 * descriptors, FSU_PROCS_MAX process names) whatever the length of the log.
 *
 * Counting rules (docs/fs_usage.md):
 *  - data calls give ops, bytes, both histograms and per-file rows; a failed
 *    one (an [errno]) is an error, never bytes;
 *  - the descriptor a data call uses is mapped to a path through the open
 *    lines of the same process name (fs_usage prints no pid; threads of a
 *    process share descriptors, so the thread id is not part of the key);
 *  - disk lines (RdData, WrData, PgIn, ...) only give storage-level bytes;
 *  - metadata calls are counted by class, failed or not. */
#include "measure/fsusage.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_US         (86400ull * 1000000ull)
#define PATH_BYTES_MAX (32u << 20) /* total bytes of paths kept in the file table */
#define OTHER_FILES    "(other files: table full)"

struct agg_file {
    char *path;
    size_t plen;
    uint64_t hash;
    enum fd_kind kind;
    uint64_t opens, read_ops, write_ops, read_bytes, write_bytes, seeks;
};

/* An open descriptor, keyed by (process name id, fd). */
struct agg_fd {
    uint32_t proc;
    int fd;
    int32_t file; /* index into files, -1 when the path is not kept */
    enum fd_kind kind;
    bool used;
};

struct agg_proc {
    char *name;
    size_t n;
    uint64_t hash;
};

struct fsu_agg {
    struct fsu_agg_opts o;
    char *process; /* owned copy of o.process */
    struct fsu_stats st;

    /* totals over the kinds in o.hist_kinds */
    uint64_t read_ops, write_ops, read_bytes, write_bytes, read_errors, write_errors;
    uint64_t storage_read, storage_write, mmaps;
    struct io_counts by_kind[FDK__COUNT];
    struct size_bucket size_hist[HIST_SIZE_BUCKETS];
    struct lat_bucket lat_hist[HIST_LAT_BUCKETS];
    uint64_t meta[META__COUNT];

    /* time */
    bool any_time;
    uint64_t day_offset, last_t, min_t, max_t;

    /* files: an array plus an open-addressing index of (idx + 1) */
    struct agg_file *files;
    size_t nfiles, files_cap, path_bytes;
    uint32_t *file_idx;
    size_t file_slots;
    int32_t other_file; /* the overflow row, -1 until needed */

    /* descriptors: open addressing with backward-shift deletion */
    struct agg_fd *fds;
    size_t fd_slots, fd_live, fd_peak;

    /* process names */
    struct agg_proc *procs;
    size_t nprocs, procs_cap;
    uint32_t *proc_idx;
    size_t proc_slots;
};

/* A NUL-terminated copy of n bytes that may themselves hold NULs (the
 * tables compare all n bytes; the report sees the string up to a NUL). */
static char *copy_bytes(const char *p, size_t n)
{
    char *c = xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = 14695981039346656037ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct fsu_agg *fsu_agg_new(const struct fsu_agg_opts *o)
{
    struct fsu_agg *a = xcalloc(1, sizeof(*a));
    a->o = *o;
    if (o->process)
        a->process = xstrdup(o->process);
    a->o.process = a->process;
    if (!a->o.hist_kinds)
        a->o.hist_kinds = (1u << FDK_FILE) | (1u << FDK_BLOCKDEV);
    a->other_file = -1;
    a->day_offset = DAY_US;
    a->file_slots = 1024;
    a->file_idx = xcalloc(a->file_slots, sizeof(*a->file_idx));
    a->fd_slots = 256;
    a->fds = xcalloc(a->fd_slots, sizeof(*a->fds));
    a->proc_slots = 64;
    a->proc_idx = xcalloc(a->proc_slots, sizeof(*a->proc_idx));
    return a;
}

void fsu_agg_free(struct fsu_agg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nfiles; i++)
        free(a->files[i].path);
    free(a->files);
    free(a->file_idx);
    free(a->fds);
    for (size_t i = 0; i < a->nprocs; i++)
        free(a->procs[i].name);
    free(a->procs);
    free(a->proc_idx);
    free(a->process);
    free(a);
}

const struct fsu_stats *fsu_agg_stats(const struct fsu_agg *a)
{
    return &a->st;
}

void fsu_agg_count_too_long(struct fsu_agg *a, uint64_t n)
{
    a->st.lines += n;
    a->st.malformed += n;
}

/* ---- process names ---- */

#define PROC_NONE UINT32_MAX /* beyond FSU_PROCS_MAX: all share one id */

static uint32_t proc_id(struct fsu_agg *a, struct fsu_str name)
{
    uint64_t h = hash_bytes(name.p, name.n, 0);
    size_t mask = a->proc_slots - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
        uint32_t v = a->proc_idx[s];
        if (!v)
            break;
        struct agg_proc *p = &a->procs[v - 1];
        if (p->hash == h && p->n == name.n && !memcmp(p->name, name.p, name.n))
            return v - 1;
    }
    if (a->nprocs >= FSU_PROCS_MAX) {
        a->st.untracked++;
        return PROC_NONE;
    }
    if ((a->nprocs + 1) * 2 > a->proc_slots) {
        size_t ns = a->proc_slots * 2;
        uint32_t *ni = xcalloc(ns, sizeof(*ni));
        for (size_t i = 0; i < a->nprocs; i++) {
            size_t s = a->procs[i].hash & (ns - 1);
            while (ni[s])
                s = (s + 1) & (ns - 1);
            ni[s] = (uint32_t)i + 1;
        }
        free(a->proc_idx);
        a->proc_idx = ni;
        a->proc_slots = ns;
    }
    a->procs = xgrow(a->procs, &a->procs_cap, a->nprocs + 1, sizeof(*a->procs));
    struct agg_proc *p = &a->procs[a->nprocs];
    p->name = copy_bytes(name.p, name.n);
    p->n = name.n;
    p->hash = h;
    size_t s = h & (a->proc_slots - 1);
    while (a->proc_idx[s])
        s = (s + 1) & (a->proc_slots - 1);
    a->proc_idx[s] = (uint32_t)++a->nprocs;
    return (uint32_t)(a->nprocs - 1);
}

static const char *proc_name(const struct fsu_agg *a, uint32_t id)
{
    return id < a->nprocs ? a->procs[id].name : "(other processes)";
}

/* ---- files ---- */

static enum fd_kind kind_of_path(const char *p, size_t n)
{
    if (n > 5 && !memcmp(p, "/dev/", 5)) {
        if (n > 9 && !memcmp(p, "/dev/disk", 9))
            return FDK_BLOCKDEV;
        return FDK_CHARDEV;
    }
    return FDK_FILE;
}

static int32_t file_add_row(struct fsu_agg *a, const char *p, size_t n, uint64_t h,
                            enum fd_kind kind)
{
    if ((a->nfiles + 1) * 2 > a->file_slots) {
        size_t ns = a->file_slots * 2;
        uint32_t *ni = xcalloc(ns, sizeof(*ni));
        for (size_t i = 0; i < a->nfiles; i++) {
            size_t s = a->files[i].hash & (ns - 1);
            while (ni[s])
                s = (s + 1) & (ns - 1);
            ni[s] = (uint32_t)i + 1;
        }
        free(a->file_idx);
        a->file_idx = ni;
        a->file_slots = ns;
    }
    a->files = xgrow(a->files, &a->files_cap, a->nfiles + 1, sizeof(*a->files));
    struct agg_file *f = &a->files[a->nfiles];
    memset(f, 0, sizeof(*f));
    f->path = copy_bytes(p, n);
    f->plen = n;
    f->hash = h;
    f->kind = kind;
    a->path_bytes += n;
    size_t s = h & (a->file_slots - 1);
    while (a->file_idx[s])
        s = (s + 1) & (a->file_slots - 1);
    a->file_idx[s] = (uint32_t)++a->nfiles;
    return (int32_t)(a->nfiles - 1);
}

/* The row of path p (created when new). When the table is full, the
 * overflow row: totals stay exact, only the split by file is lost. */
static int32_t file_row(struct fsu_agg *a, const char *p, size_t n, enum fd_kind kind)
{
    uint64_t h = hash_bytes(p, n, 1);
    size_t mask = a->file_slots - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
        uint32_t v = a->file_idx[s];
        if (!v)
            break;
        struct agg_file *f = &a->files[v - 1];
        if (f->hash == h && f->plen == n && !memcmp(f->path, p, n))
            return (int32_t)(v - 1);
    }
    if (a->nfiles + 1 >= FSU_FILES_MAX || a->path_bytes + n > PATH_BYTES_MAX || n > 4096) {
        a->st.untracked++;
        if (a->other_file < 0)
            a->other_file = file_add_row(a, OTHER_FILES, strlen(OTHER_FILES),
                                         hash_bytes(OTHER_FILES, strlen(OTHER_FILES), 1), FDK_FILE);
        return a->other_file;
    }
    return file_add_row(a, p, n, h, kind);
}

/* ---- descriptors ---- */

static size_t fd_hash(uint32_t proc, int fd)
{
    uint64_t k = ((uint64_t)proc << 32) ^ (uint32_t)fd;
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 17);
}

static struct agg_fd *fd_find(struct fsu_agg *a, uint32_t proc, int fd)
{
    size_t mask = a->fd_slots - 1;
    for (size_t s = fd_hash(proc, fd) & mask;; s = (s + 1) & mask) {
        struct agg_fd *e = &a->fds[s];
        if (!e->used)
            return NULL;
        if (e->proc == proc && e->fd == fd)
            return e;
    }
}

static void fd_remove(struct fsu_agg *a, struct agg_fd *e)
{
    size_t mask = a->fd_slots - 1;
    size_t i = (size_t)(e - a->fds);
    a->fds[i].used = false;
    a->fd_live--;
    /* backward-shift: move later entries of the cluster into the hole */
    for (size_t j = (i + 1) & mask; a->fds[j].used; j = (j + 1) & mask) {
        size_t home = fd_hash(a->fds[j].proc, a->fds[j].fd) & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            a->fds[i] = a->fds[j];
            a->fds[j].used = false;
            i = j;
        }
    }
}

static void fd_put(struct fsu_agg *a, uint32_t proc, int fd, int32_t file, enum fd_kind kind)
{
    struct agg_fd *e = fd_find(a, proc, fd);
    if (e) { /* reopened without a close we saw: the old one is gone */
        e->file = file;
        e->kind = kind;
        return;
    }
    if (a->fd_live >= FSU_FDS_MAX) {
        a->st.untracked++;
        return;
    }
    if ((a->fd_live + 1) * 2 > a->fd_slots) {
        size_t ns = a->fd_slots * 2;
        struct agg_fd *old = a->fds;
        size_t olds = a->fd_slots;
        a->fds = xcalloc(ns, sizeof(*a->fds));
        a->fd_slots = ns;
        for (size_t i = 0; i < olds; i++) {
            if (!old[i].used)
                continue;
            size_t s = fd_hash(old[i].proc, old[i].fd) & (ns - 1);
            while (a->fds[s].used)
                s = (s + 1) & (ns - 1);
            a->fds[s] = old[i];
        }
        free(old);
    }
    size_t mask = a->fd_slots - 1;
    size_t s = fd_hash(proc, fd) & mask;
    while (a->fds[s].used)
        s = (s + 1) & mask;
    a->fds[s] = (struct agg_fd){proc, fd, file, kind, true};
    a->fd_live++;
    if (a->fd_live > a->fd_peak)
        a->fd_peak = a->fd_live;
}

/* The kind and file row a descriptor-based call refers to: the path printed
 * on the line if any, else the descriptor's open, else a row for a
 * descriptor opened before the log (counted as a file). */
static int32_t fd_target(struct fsu_agg *a, uint32_t proc, const struct fsu_event *ev,
                         enum fd_kind *kind)
{
    if (ev->path.n) {
        *kind = kind_of_path(ev->path.p, ev->path.n);
        return file_row(a, ev->path.p, ev->path.n, *kind);
    }
    struct agg_fd *e = ev->fd >= 0 ? fd_find(a, proc, ev->fd) : NULL;
    if (e) {
        *kind = e->kind;
        return e->file;
    }
    char name[160];
    int n = snprintf(name, sizeof(name), "(fd %d of %s, opened before the log)", ev->fd,
                     proc_name(a, proc));
    if (n < 0 || (size_t)n >= sizeof(name))
        n = (int)sizeof(name) - 1;
    *kind = FDK_FILE;
    return file_row(a, name, (size_t)n, FDK_FILE);
}

/* ---- events ---- */

/* Times are kept in microseconds from the midnight before the log's first
 * day (day_offset starts at one day, so that a start time computed as
 * timestamp - elapsed never goes below zero). fs_usage prints the time the
 * call completed (its exit event), so a call spans [ts - elapsed, ts]. */
static void add_time(struct fsu_agg *a, uint64_t ts_us, uint64_t elapsed_ns)
{
    uint64_t t = ts_us + a->day_offset;
    if (a->any_time) {
        /* fs_usage prints the time of day only: a jump back by more than 12
         * hours is the clock passing midnight. */
        if (t + DAY_US / 2 < a->last_t) {
            a->day_offset += DAY_US;
            t += DAY_US;
        } else if (t > a->last_t + DAY_US / 2 && a->day_offset >= 2 * DAY_US) {
            t -= DAY_US; /* a late line from before midnight: keep the day */
        }
    }
    uint64_t el = elapsed_ns / 1000;
    uint64_t start = t - (el < DAY_US ? el : DAY_US);
    if (!a->any_time) {
        a->any_time = true;
        a->min_t = start;
        a->max_t = t;
    }
    a->last_t = t;
    if (start < a->min_t)
        a->min_t = start;
    if (t > a->max_t)
        a->max_t = t;
}

static void add_data(struct fsu_agg *a, uint32_t proc, const struct fsu_event *ev, bool is_read)
{
    enum fd_kind kind = FDK_SOCKET;
    int32_t row = -1;
    if (ev->cls != FSU_SOCK_READ && ev->cls != FSU_SOCK_WRITE) {
        /* A failed call moves no bytes: it makes no per-file row. */
        struct agg_fd *e = ev->err && ev->fd >= 0 ? fd_find(a, proc, ev->fd) : NULL;
        if (!ev->err)
            row = fd_target(a, proc, ev, &kind);
        else
            kind = e ? e->kind : ev->path.n ? kind_of_path(ev->path.p, ev->path.n) : FDK_FILE;
    }
    bool counted = a->o.hist_kinds & (1u << kind);
    if (ev->err) {
        if (counted) {
            if (is_read)
                a->read_errors++;
            else
                a->write_errors++;
        }
        return;
    }
    uint64_t b = ev->has_bytes ? ev->bytes : 0;
    struct io_counts *k = &a->by_kind[kind];
    if (is_read) {
        k->read_ops++;
        k->read_bytes += b;
    } else {
        k->write_ops++;
        k->write_bytes += b;
    }
    if (row >= 0) {
        struct agg_file *f = &a->files[row];
        if (is_read) {
            f->read_ops++;
            f->read_bytes += b;
        } else {
            f->write_ops++;
            f->write_bytes += b;
        }
    }
    if (!counted)
        return;
    struct size_bucket *sb = &a->size_hist[report_size_bucket(b)];
    struct lat_bucket *lb = &a->lat_hist[report_lat_bucket(ev->elapsed_ns)];
    if (is_read) {
        a->read_ops++;
        a->read_bytes += b;
        sb->read_ops++;
        sb->read_bytes += b;
        lb->read_ops++;
    } else {
        a->write_ops++;
        a->write_bytes += b;
        sb->write_ops++;
        sb->write_bytes += b;
        lb->write_ops++;
    }
}

static void add_meta(struct fsu_agg *a, uint32_t proc, const struct fsu_event *ev)
{
    a->meta[ev->meta]++;
    if (ev->err || ev->fd < 0)
        return;
    switch (ev->meta) {
    case META_OPEN: {
        const char *p = ev->path.n ? ev->path.p : "(unknown path)";
        size_t n = ev->path.n ? ev->path.n : strlen(p);
        enum fd_kind kind = kind_of_path(p, n);
        int32_t row = file_row(a, p, n, kind);
        a->files[row].opens++;
        fd_put(a, proc, ev->fd, row, kind);
        break;
    }
    case META_CLOSE: {
        struct agg_fd *e = fd_find(a, proc, ev->fd);
        if (e)
            fd_remove(a, e);
        break;
    }
    case META_SEEK: {
        enum fd_kind kind;
        int32_t row = fd_target(a, proc, ev, &kind);
        if (row >= 0)
            a->files[row].seeks++;
        break;
    }
    default:
        break;
    }
}

void fsu_agg_event(struct fsu_agg *a, const struct fsu_event *ev)
{
    if (a->process &&
        (strlen(a->process) != ev->proc.n || memcmp(a->process, ev->proc.p, ev->proc.n))) {
        a->st.other_process++;
        return;
    }
    if (ev->cls == FSU_UNKNOWN) {
        a->st.unknown_calls++;
        return;
    }
    a->st.used++;
    add_time(a, ev->ts_us, ev->elapsed_ns);
    uint32_t proc = proc_id(a, ev->proc);
    switch (ev->cls) {
    case FSU_DATA_READ:
    case FSU_SOCK_READ:
        add_data(a, proc, ev, true);
        break;
    case FSU_DATA_WRITE:
    case FSU_SOCK_WRITE:
        add_data(a, proc, ev, false);
        break;
    case FSU_META:
        add_meta(a, proc, ev);
        break;
    case FSU_DISK_READ:
        if (!ev->err)
            a->storage_read += ev->bytes;
        break;
    case FSU_DISK_WRITE:
        if (!ev->err)
            a->storage_write += ev->bytes;
        break;
    case FSU_MMAP:
        a->mmaps++;
        break;
    case FSU_SOCKET_NEW:
        if (!ev->err && ev->fd >= 0)
            fd_put(a, proc, ev->fd, -1, FDK_SOCKET);
        break;
    case FSU_IGNORED:
    case FSU_UNKNOWN:
        a->st.ignored_calls++;
        break;
    }
}

void fsu_agg_line(struct fsu_agg *a, const char *line, size_t len)
{
    struct fsu_event ev;
    a->st.lines++;
    if (fsu_parse_line(line, len, &ev)) {
        a->st.malformed++;
        return;
    }
    fsu_agg_event(a, &ev);
}

/* ---- the report ---- */

static int leak_cmp(const void *x, const void *y)
{
    const struct leaked_fd *a = x, *b = y;
    int c = strcmp(a->path ? a->path : "", b->path ? b->path : "");
    if (c)
        return c;
    return (a->fd > b->fd) - (a->fd < b->fd);
}

void fsu_agg_report(const struct fsu_agg *a, struct report *r)
{
    snprintf(r->backend, sizeof(r->backend), "fs_usage");
    r->detailed = true;
    r->has_latency = true;
    r->has_storage = true;
    r->hist_kinds = a->o.hist_kinds;
    r->wall_seconds = a->any_time ? (double)(a->max_t - a->min_t) / 1e6 : 0.0;
    r->processes = a->nprocs;
    r->processes_exact = false;
    r->read_ops = a->read_ops;
    r->write_ops = a->write_ops;
    r->read_bytes = a->read_bytes;
    r->write_bytes = a->write_bytes;
    r->read_errors = a->read_errors;
    r->write_errors = a->write_errors;
    r->storage_read_bytes = a->storage_read;
    r->storage_write_bytes = a->storage_write;
    memcpy(r->by_kind, a->by_kind, sizeof(r->by_kind));
    memcpy(r->size_hist, a->size_hist, sizeof(r->size_hist));
    memcpy(r->lat_hist, a->lat_hist, sizeof(r->lat_hist));
    memcpy(r->meta_ops, a->meta, sizeof(r->meta_ops));
    r->unseen.mmap = a->mmaps;

    /* Descriptors are counted from the start of the log: those opened in it. */
    r->fds.sampled = false;
    r->fds.start = 0;
    r->fds.peak = (long)a->fd_peak;
    r->fds.end = (long)a->fd_live;
    size_t first = r->fds.nleaked;
    for (size_t i = 0; i < a->fd_slots; i++) {
        const struct agg_fd *e = &a->fds[i];
        if (!e->used)
            continue;
        /* fs_usage prints thread ids, never pids: the pid is unknown (0). */
        report_add_leaked(r, 0, e->fd, e->kind, e->file >= 0 ? a->files[e->file].path : NULL);
    }
    if (r->fds.nleaked - first > 1)
        qsort(r->fds.leaked + first, r->fds.nleaked - first, sizeof(*r->fds.leaked), leak_cmp);

    for (size_t i = 0; i < a->nfiles; i++) {
        const struct agg_file *f = &a->files[i];
        struct file_row *row = report_add_file(r, f->path, f->kind);
        row->opens = f->opens;
        row->read_ops = f->read_ops;
        row->write_ops = f->write_ops;
        row->read_bytes = f->read_bytes;
        row->write_bytes = f->write_bytes;
        row->seeks = f->seeks;
    }
    report_trim_files(r, a->o.top_files);
}

static void agg_line_cb(void *ctx, const char *line, size_t len)
{
    fsu_agg_line(ctx, line, len);
}

int fsu_agg_read_fd(struct fsu_agg *a, int fd, char *err, size_t errlen)
{
    enum { CHUNK = 1 << 18 };
    char *chunk = xmalloc(CHUNK);
    struct fsu_lines l;
    int rc = 0;
    fsu_lines_init(&l);
    for (;;) {
        ssize_t n = read(fd, chunk, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            snprintf(err, errlen, "read: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        fsu_lines_push(&l, chunk, (size_t)n, agg_line_cb, a);
    }
    if (rc == 0)
        fsu_lines_finish(&l, agg_line_cb, a);
    fsu_agg_count_too_long(a, l.too_long);
    fsu_lines_release(&l);
    free(chunk);
    return rc;
}
