/* report: the model of one measured run; lifecycle, buckets, names. */
#include "measure/report.h"
#include "measure/timeline.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[FDK__COUNT] = {
    "file", "blockdev", "chardev", "pipe", "socket", "anon",
};

static const char *const meta_names[META__COUNT] = {
    "open",   "close", "stat",     "seek",  "fsync", "getdents", "unlink",
    "rename", "mkdir", "truncate", "fcntl", "dup",   "other",
};

void report_init(struct report *r)
{
    memset(r, 0, sizeof(*r));
    r->hist_kinds = (1u << FDK_FILE) | (1u << FDK_BLOCKDEV);
    r->processes_exact = true;
}

void report_release(struct report *r)
{
    if (r->argv) {
        for (char **a = r->argv; *a; a++)
            free(*a);
        free(r->argv);
    }
    free(r->code);
    free(r->error);
    for (size_t i = 0; i < r->fds.nleaked; i++)
        free(r->fds.leaked[i].path);
    free(r->fds.leaked);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i].path);
    free(r->files);
    for (size_t i = 0; i < r->nprocs; i++)
        free(r->procs[i].cmd);
    free(r->procs);
    report_clear_findings(r);
    free(r->findings);
    timeline_free(r->timeline);
    report_init(r);
}

void report_add_finding(struct report *r, const char *rule, enum finding_severity sev,
                        const char *what, const char *fix)
{
    r->findings = xgrow(r->findings, &r->findings_cap, r->nfindings + 1, sizeof(*r->findings));
    struct finding *f = &r->findings[r->nfindings++];
    snprintf(f->rule, sizeof(f->rule), "%s", rule);
    f->severity = sev;
    f->what = xstrdup(what ? what : "");
    f->fix = xstrdup(fix ? fix : "");
}

void report_clear_findings(struct report *r)
{
    for (size_t i = 0; i < r->nfindings; i++) {
        free(r->findings[i].what);
        free(r->findings[i].fix);
    }
    r->nfindings = 0;
}

static const char *const severity_names[] = {"info", "warning", "critical"};

const char *finding_severity_name(enum finding_severity s)
{
    return (unsigned)s < 3 ? severity_names[s] : "info";
}

int finding_severity_from_name(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, severity_names[i]))
            return i;
    return -1;
}

void report_set_argv(struct report *r, char *const argv[])
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **a = xcalloc(n + 1, sizeof(*a));
    for (size_t i = 0; i < n; i++)
        a[i] = xstrdup(argv[i]);
    r->argv = a;
}

struct proc_row *report_add_proc(struct report *r, pid_t pid, pid_t ppid, const char *cmd)
{
    r->has_procs = true;
    if (r->nprocs >= REPORT_MAX_PROCS) {
        r->procs_dropped++;
        return NULL;
    }
    r->procs = xgrow(r->procs, &r->procs_cap, r->nprocs + 1, sizeof(*r->procs));
    struct proc_row *p = &r->procs[r->nprocs++];
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->ppid = ppid;
    p->cmd = cmd ? xstrdup(cmd) : NULL;
    p->end = -1;
    return p;
}

uint64_t proc_row_bytes(const struct proc_row *p)
{
    uint64_t b = p->read_bytes + p->write_bytes;
    return b < p->read_bytes ? UINT64_MAX : b;
}

void report_set_code(struct report *r, const char *code)
{
    free(r->code);
    r->code = xstrdup(code);
}

void report_set_error(struct report *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(r->error);
    r->error = xstrdup(msg);
}

unsigned report_size_bucket(uint64_t bytes)
{
    if (bytes == 0)
        return 0;
    return 64u - (unsigned)__builtin_clzll(bytes); /* 1 -> 1, 2..3 -> 2, 4096 -> 13 */
}

unsigned report_lat_bucket(uint64_t ns)
{
    unsigned b = report_size_bucket(ns);
    return b < HIST_LAT_BUCKETS ? b : HIST_LAT_BUCKETS - 1;
}

void report_size_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
    if (i == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    *lo = 1ull << (i - 1);
    *hi = i >= 64 ? UINT64_MAX : 1ull << i;
}

void report_lat_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
    report_size_bucket_range(i, lo, hi);
    if (i == HIST_LAT_BUCKETS - 1)
        *hi = UINT64_MAX;
}

void report_add_leaked(struct report *r, pid_t pid, int fd, enum fd_kind kind, const char *path)
{
    r->fds.leaked =
        xgrow(r->fds.leaked, &r->fds.leaked_cap, r->fds.nleaked + 1, sizeof(*r->fds.leaked));
    struct leaked_fd *l = &r->fds.leaked[r->fds.nleaked++];
    l->fd = fd;
    l->pid = pid;
    l->kind = kind;
    l->path = path ? xstrdup(path) : NULL;
}

struct file_row *report_add_file(struct report *r, const char *path, enum fd_kind kind)
{
    r->files = xgrow(r->files, &r->files_cap, r->nfiles + 1, sizeof(*r->files));
    struct file_row *f = &r->files[r->nfiles++];
    memset(f, 0, sizeof(*f));
    f->path = xstrdup(path);
    f->kind = kind;
    if (r->files_total < r->nfiles)
        r->files_total = r->nfiles;
    return f;
}

static int file_cmp(const void *a, const void *b)
{
    const struct file_row *x = a, *y = b;
    uint64_t bx = x->read_bytes + x->write_bytes, by = y->read_bytes + y->write_bytes;
    if (bx != by)
        return bx < by ? 1 : -1;
    uint64_t ox = x->read_ops + x->write_ops + x->opens, oy = y->read_ops + y->write_ops + y->opens;
    if (ox != oy)
        return ox < oy ? 1 : -1;
    return strcmp(x->path, y->path);
}

void report_trim_files(struct report *r, size_t n)
{
    if (r->nfiles > 1)
        qsort(r->files, r->nfiles, sizeof(*r->files), file_cmp);
    if (r->files_total < r->nfiles)
        r->files_total = r->nfiles;
    if (n && r->nfiles > n) {
        for (size_t i = n; i < r->nfiles; i++)
            free(r->files[i].path);
        r->nfiles = n;
    }
}

double report_rate(uint64_t count, double wall_seconds)
{
    return wall_seconds > 0 ? (double)count / wall_seconds : 0.0;
}

const char *fd_kind_name(enum fd_kind k)
{
    return (unsigned)k < FDK__COUNT ? kind_names[k] : "unknown";
}

int fd_kind_from_name(const char *name)
{
    for (int i = 0; i < FDK__COUNT; i++)
        if (!strcmp(name, kind_names[i]))
            return i;
    return -1;
}

const char *meta_op_name(enum meta_op m)
{
    return (unsigned)m < META__COUNT ? meta_names[m] : "unknown";
}

int meta_op_from_name(const char *name)
{
    for (int i = 0; i < META__COUNT; i++)
        if (!strcmp(name, meta_names[i]))
            return i;
    return -1;
}

struct io_counts report_kind_total(const struct report *r, unsigned mask)
{
    struct io_counts t = {0};
    for (int k = 0; k < FDK__COUNT; k++) {
        if (!(mask & (1u << k)))
            continue;
        t.read_ops += r->by_kind[k].read_ops;
        t.write_ops += r->by_kind[k].write_ops;
        t.read_bytes += r->by_kind[k].read_bytes;
        t.write_bytes += r->by_kind[k].write_bytes;
    }
    return t;
}

static void counts_add(struct io_counts *a, const struct io_counts *b)
{
    a->read_ops += b->read_ops;
    a->write_ops += b->write_ops;
    a->read_bytes += b->read_bytes;
    a->write_bytes += b->write_bytes;
}

void report_merge(struct report *d, const struct report *s)
{
    bool first = !d->backend[0];
    if (first) {
        snprintf(d->backend, sizeof(d->backend), "%s", s->backend);
        d->start_time = s->start_time;
        d->detailed = s->detailed;
        d->has_storage = s->has_storage;
        d->has_latency = s->has_latency;
        d->hist_kinds = s->hist_kinds;
        d->processes_exact = s->processes_exact;
        d->fds = s->fds;
        d->fds.leaked = NULL;
        d->fds.nleaked = d->fds.leaked_cap = 0;
    } else {
        d->detailed = d->detailed && s->detailed;
        d->has_storage = d->has_storage && s->has_storage;
        d->has_latency = d->has_latency || s->has_latency;
        d->processes_exact = d->processes_exact && s->processes_exact;
        d->fds.end = s->fds.end;
        if (s->fds.peak > d->fds.peak)
            d->fds.peak = s->fds.peak;
    }
    d->exited = s->exited;
    d->exit_status = s->exit_status;
    d->term_signal = s->term_signal;
    d->wall_seconds += s->wall_seconds;
    d->user_seconds += s->user_seconds;
    d->system_seconds += s->system_seconds;
    d->processes += s->processes;
    d->still_running = s->still_running;
    d->read_ops += s->read_ops;
    d->write_ops += s->write_ops;
    d->read_bytes += s->read_bytes;
    d->write_bytes += s->write_bytes;
    d->storage_read_bytes += s->storage_read_bytes;
    d->storage_write_bytes += s->storage_write_bytes;
    d->cancelled_write_bytes += s->cancelled_write_bytes;
    d->read_errors += s->read_errors;
    d->write_errors += s->write_errors;
    for (int k = 0; k < FDK__COUNT; k++)
        counts_add(&d->by_kind[k], &s->by_kind[k]);
    for (int i = 0; i < HIST_SIZE_BUCKETS; i++) {
        d->size_hist[i].read_ops += s->size_hist[i].read_ops;
        d->size_hist[i].write_ops += s->size_hist[i].write_ops;
        d->size_hist[i].read_bytes += s->size_hist[i].read_bytes;
        d->size_hist[i].write_bytes += s->size_hist[i].write_bytes;
    }
    for (int i = 0; i < HIST_LAT_BUCKETS; i++) {
        d->lat_hist[i].read_ops += s->lat_hist[i].read_ops;
        d->lat_hist[i].write_ops += s->lat_hist[i].write_ops;
    }
    for (int i = 0; i < META__COUNT; i++)
        d->meta_ops[i] += s->meta_ops[i];
    d->unseen.io_uring_enter += s->unseen.io_uring_enter;
    d->unseen.mmap += s->unseen.mmap;
    d->unseen.mmap_exec += s->unseen.mmap_exec;
    d->unseen.exit_interrupted += s->unseen.exit_interrupted;
    d->unseen.end_unstopped += s->unseen.end_unstopped;
    d->unseen.seccomp_filters += s->unseen.seccomp_filters;
    d->unseen.undecoded += s->unseen.undecoded;
    for (size_t i = 0; i < s->fds.nleaked; i++) {
        const struct leaked_fd *l = &s->fds.leaked[i];
        report_add_leaked(d, l->pid, l->fd, l->kind, l->path);
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        const struct file_row *f = &s->files[i];
        struct file_row *t = NULL;
        for (size_t j = 0; j < d->nfiles && !t; j++)
            if (d->files[j].kind == f->kind && !strcmp(d->files[j].path, f->path))
                t = &d->files[j];
        if (!t)
            t = report_add_file(d, f->path, f->kind);
        t->opens += f->opens;
        t->read_ops += f->read_ops;
        t->write_ops += f->write_ops;
        t->read_bytes += f->read_bytes;
        t->write_bytes += f->write_bytes;
        t->seeks += f->seeks;
    }
    d->files_total = d->nfiles > d->files_total ? d->nfiles : d->files_total;
    if (s->files_total > s->nfiles)
        d->files_total += s->files_total - s->nfiles;
}

static const char *const attach_end_names[] = {"duration", "interrupted", "exited"};

const char *attach_end_name(enum attach_end e)
{
    return (unsigned)e < sizeof(attach_end_names) / sizeof(*attach_end_names) ? attach_end_names[e]
                                                                              : "duration";
}

int attach_end_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(attach_end_names) / sizeof(*attach_end_names); i++)
        if (!strcmp(name, attach_end_names[i]))
            return (int)i;
    return -1;
}
