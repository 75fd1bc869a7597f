/* trace_state_linux: the tracer's aggregate: descriptor tables (per process,
 * shared by CLONE_FILES tasks, copied at fork, close-on-exec honoured at
 * exec), per-path rows in a hash table, counters and histograms. Knows
 * nothing of ptrace, so the unit tests drive it directly. */
#include "measure/trace.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void tstate_init(struct tstate *s, unsigned hist_kinds, struct report *leaks)
{
    memset(s, 0, sizeof(*s));
    s->hist_kinds = hist_kinds;
    s->leaks = leaks;
    s->cur_proc = -1;
}

void tstate_release(struct tstate *s)
{
    for (size_t i = 0; i < s->nrows; i++)
        free(s->rows[i].path);
    free(s->rows);
    free(s->hash);
    tstate_procs_release(s);
    s->rows = NULL;
    s->hash = NULL;
    s->nrows = s->rows_cap = s->hash_cap = 0;
}

static uint64_t hash_str(const char *p)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    return h;
}

static void hash_grow(struct tstate *s)
{
    size_t cap = s->hash_cap ? s->hash_cap * 2 : 1024;
    uint32_t *h = xcalloc(cap, sizeof(*h));
    for (size_t i = 0; i < s->nrows; i++) {
        size_t j = hash_str(s->rows[i].path) & (cap - 1);
        while (h[j])
            j = (j + 1) & (cap - 1);
        h[j] = (uint32_t)i + 1;
    }
    free(s->hash);
    s->hash = h;
    s->hash_cap = cap;
}

int32_t tstate_row(struct tstate *s, const char *path, enum fd_kind kind)
{
    if (s->hash_cap == 0 || (s->nrows + 1) * 2 > s->hash_cap)
        hash_grow(s);
    size_t j = hash_str(path) & (s->hash_cap - 1);
    while (s->hash[j]) {
        struct trow *r = &s->rows[s->hash[j] - 1];
        if (!strcmp(r->path, path))
            return (int32_t)(s->hash[j] - 1);
        j = (j + 1) & (s->hash_cap - 1);
    }
    if (s->nrows >= TSTATE_MAX_ROWS)
        return -1;
    s->rows = xgrow(s->rows, &s->rows_cap, s->nrows + 1, sizeof(*s->rows));
    struct trow *r = &s->rows[s->nrows];
    memset(r, 0, sizeof(*r));
    r->path = xstrdup(path);
    r->kind = (uint8_t)kind;
    s->hash[j] = (uint32_t)s->nrows + 1;
    return (int32_t)s->nrows++;
}

void tstate_data(struct tstate *s, bool write, enum fd_kind kind, int32_t row, uint64_t bytes,
                 uint64_t lat_ns)
{
    if ((unsigned)kind >= FDK__COUNT)
        kind = FDK_ANON;
    struct io_counts *c = &s->by_kind[kind];
    if (write) {
        c->write_ops++;
        c->write_bytes += bytes;
    } else {
        c->read_ops++;
        c->read_bytes += bytes;
    }
    if ((s->hist_kinds & (1u << kind)) && s->cur_proc >= 0 && (size_t)s->cur_proc < s->nprows) {
        struct proc_row *p = &s->prows[s->cur_proc];
        if (write) {
            p->write_ops++;
            p->write_bytes += bytes;
        } else {
            p->read_ops++;
            p->read_bytes += bytes;
        }
    }
    if (s->hist_kinds & (1u << kind)) {
        /* one writer (the tracer thread): plain loads and stores, no locked
         * instructions on the hot path */
        uint64_t seq = atomic_load_explicit(&s->live_seq, memory_order_relaxed);
        _Atomic uint64_t *ops = &s->live[write ? 1 : 0], *by = &s->live[write ? 3 : 2];
        atomic_store_explicit(&s->live_seq, seq + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(ops, atomic_load_explicit(ops, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        atomic_store_explicit(by, atomic_load_explicit(by, memory_order_relaxed) + bytes,
                              memory_order_relaxed);
        atomic_store_explicit(&s->live_seq, seq + 2, memory_order_release);
        struct size_bucket *b = &s->size_hist[report_size_bucket(bytes)];
        struct lat_bucket *l = &s->lat_hist[report_lat_bucket(lat_ns)];
        if (write) {
            b->write_ops++;
            b->write_bytes += bytes;
            l->write_ops++;
        } else {
            b->read_ops++;
            b->read_bytes += bytes;
            l->read_ops++;
        }
    }
    if (row >= 0 && (size_t)row < s->nrows) {
        struct trow *r = &s->rows[row];
        if (write) {
            r->write_ops++;
            r->write_bytes += bytes;
        } else {
            r->read_ops++;
            r->read_bytes += bytes;
        }
    }
}

void tstate_live(struct tstate *s, uint64_t out[4])
{
    for (;;) {
        uint64_t a = atomic_load_explicit(&s->live_seq, memory_order_acquire);
        for (int i = 0; i < 4; i++)
            out[i] = atomic_load_explicit(&s->live[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (!(a & 1) && atomic_load_explicit(&s->live_seq, memory_order_relaxed) == a)
            return;
    }
}

long tstate_live_fds(struct tstate *s)
{
    return atomic_load_explicit(&s->live_fds, memory_order_relaxed);
}

void tstate_meta(struct tstate *s, enum meta_op m)
{
    if ((unsigned)m < META__COUNT)
        s->meta_ops[m]++;
}

void tstate_seek(struct tstate *s, int32_t row)
{
    s->meta_ops[META_SEEK]++;
    if (row >= 0 && (size_t)row < s->nrows)
        s->rows[row].seeks++;
}

/* ---- descriptor tables ---- */

struct tfdtab *tfdtab_new(bool initial)
{
    struct tfdtab *t = xcalloc(1, sizeof(*t));
    t->refs = 1;
    t->initial = initial;
    return t;
}

struct tfdtab *tfdtab_copy(const struct tfdtab *t)
{
    struct tfdtab *c = xcalloc(1, sizeof(*c));
    c->refs = 1;
    c->initial = false;
    c->cap = t->cap;
    c->nopen = t->nopen;
    if (t->cap) {
        c->v = xmalloc((size_t)t->cap * sizeof(*c->v));
        for (int i = 0; i < t->cap; i++) {
            c->v[i] = t->v[i];
            c->v[i].flags &= (uint8_t)~TFD_OURS;
        }
    }
    return c;
}

struct tfd *tfdtab_get(struct tfdtab *t, int fd)
{
    if (fd < 0 || fd >= t->cap || !(t->v[fd].flags & TFD_OPEN))
        return NULL;
    return &t->v[fd];
}

static void count_open(struct tstate *s, long d)
{
    s->fds_now += d;
    atomic_store_explicit(&s->live_fds, s->fds_now, memory_order_relaxed);
    if (s->fds_now > s->fds_peak)
        s->fds_peak = s->fds_now;
}

void tfdtab_set(struct tstate *s, struct tfdtab *t, int fd, enum fd_kind kind, int32_t row,
                uint8_t flags)
{
    if (fd < 0)
        return;
    if (fd >= t->cap) {
        int cap = t->cap ? t->cap : 64;
        while (cap <= fd)
            cap *= 2;
        t->v = xrealloc(t->v, (size_t)cap * sizeof(*t->v));
        memset(t->v + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*t->v));
        t->cap = cap;
    }
    struct tfd *e = &t->v[fd];
    if (!(e->flags & TFD_OPEN)) {
        t->nopen++;
        count_open(s, 1);
    }
    e->flags = (uint8_t)(flags | TFD_OPEN);
    e->kind = (uint8_t)kind;
    e->file = row;
}

void tfdtab_close(struct tstate *s, struct tfdtab *t, int fd)
{
    struct tfd *e = tfdtab_get(t, fd);
    if (!e)
        return;
    e->flags = 0;
    t->nopen--;
    count_open(s, -1);
}

void tfdtab_exec(struct tstate *s, struct tfdtab *t)
{
    for (int i = 0; i < t->cap; i++)
        if ((t->v[i].flags & (TFD_OPEN | TFD_CLOEXEC)) == (TFD_OPEN | TFD_CLOEXEC))
            tfdtab_close(s, t, i);
}

void tfdtab_unref(struct tstate *s, struct tfdtab *t, pid_t pid, bool exited)
{
    if (--t->refs > 0)
        return;
    for (int i = 0; i < t->cap; i++) {
        struct tfd *e = &t->v[i];
        if (!(e->flags & TFD_OPEN))
            continue;
        /* 0-2 are the standard streams: a redirection (or a shell restoring
         * one) makes them new descriptors, but exit is how they close. */
        bool ours = (e->flags & TFD_OURS) && i > 2;
        if (ours && s->leaks && e->kind != TFD_KIND_EXCLUDED) {
            const char *path =
                e->file >= 0 && (size_t)e->file < s->nrows ? s->rows[e->file].path : NULL;
            report_add_leaked(s->leaks, pid, i, (enum fd_kind)e->kind, path);
        }
        /* A run's "end" count keeps what was left open by the processes that
         * were there at the start and the leaks of every process. */
        if (!exited || ours || t->initial)
            s->fds_kept++;
    }
    s->fds_now -= t->nopen;
    atomic_store_explicit(&s->live_fds, s->fds_now, memory_order_relaxed);
    free(t->v);
    free(t);
}

void tstate_count_table(struct tstate *s, const struct tfdtab *t)
{
    count_open(s, t->nopen);
}

/* ---- the report ---- */

void tstate_fill_report(struct tstate *s, struct report *r, size_t top_files)
{
    r->detailed = true;
    r->hist_kinds = s->hist_kinds;
    memcpy(r->by_kind, s->by_kind, sizeof(r->by_kind));
    memcpy(r->size_hist, s->size_hist, sizeof(r->size_hist));
    memcpy(r->lat_hist, s->lat_hist, sizeof(r->lat_hist));
    r->has_latency = true;
    memcpy(r->meta_ops, s->meta_ops, sizeof(r->meta_ops));
    r->read_errors = s->read_errors;
    r->write_errors = s->write_errors;
    r->unseen.io_uring_enter = s->unseen_io_uring;
    r->unseen.mmap = s->unseen_mmap;
    r->unseen.mmap_exec = s->unseen_mmap_exec;
    r->unseen.exit_interrupted = s->exit_interrupted;
    r->unseen.end_unstopped = s->end_unstopped;
    r->unseen.seccomp_filters = s->seccomp_filters;
    r->unseen.undecoded = s->undecoded;
    struct io_counts t = report_kind_total(r, s->hist_kinds);
    r->read_ops = t.read_ops;
    r->write_ops = t.write_ops;
    r->read_bytes = t.read_bytes;
    r->write_bytes = t.write_bytes;
    r->fds.sampled = false;
    r->fds.start = s->fds_start;
    r->fds.peak = s->fds_peak > s->fds_start ? s->fds_peak : s->fds_start;
    r->fds.end = s->fds_now + s->fds_kept;
    size_t shown = 0;
    for (size_t i = 0; i < s->nrows; i++) {
        const struct trow *w = &s->rows[i];
        if (!(s->hist_kinds & (1u << w->kind)))
            continue;
        if (!w->opens && !w->read_ops && !w->write_ops && !w->seeks)
            continue; /* open before the run and never used */
        struct file_row *f = report_add_file(r, w->path, (enum fd_kind)w->kind);
        f->opens = w->opens;
        f->read_ops = w->read_ops;
        f->write_ops = w->write_ops;
        f->read_bytes = w->read_bytes;
        f->write_bytes = w->write_bytes;
        f->seeks = w->seeks;
        shown++;
    }
    r->files_total = shown;
    report_trim_files(r, top_files);
    tstate_procs_fill(s, r);
}

enum fd_kind tstate_kind_from_link(const char *link, unsigned mode)
{
    if (!strncmp(link, "pipe:", 5))
        return FDK_PIPE;
    if (!strncmp(link, "socket:", 7))
        return FDK_SOCKET;
    if (!strncmp(link, "anon_inode:", 11) || !strncmp(link, "/memfd:", 7) || link[0] != '/')
        return FDK_ANON;
    switch (mode & S_IFMT) {
    case S_IFBLK:
        return FDK_BLOCKDEV;
    case S_IFCHR:
        return FDK_CHARDEV;
    case S_IFIFO:
        return FDK_PIPE;
    case S_IFSOCK:
        return FDK_SOCKET;
    default:
        return FDK_FILE;
    }
}

int tstate_parse_fdinfo_flags(const char *text, size_t len, unsigned *flags)
{
    if (len > TSTATE_MAX_FDINFO)
        return -EBADMSG;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *lend = eol ? eol : end;
        if (lend - p > 6 && !memcmp(p, "flags:", 6)) {
            const char *v = p + 6;
            while (v < lend && (*v == ' ' || *v == '\t'))
                v++;
            if (v == lend)
                return -EBADMSG;
            unsigned long f = 0;
            for (; v < lend; v++) {
                if (*v < '0' || *v > '7' || f > (~0ul >> 3))
                    return -EBADMSG;
                f = f * 8 + (unsigned long)(*v - '0');
            }
            if (f > 0xffffffffu)
                return -EBADMSG;
            *flags = (unsigned)f;
            return 0;
        }
        p = eol ? eol + 1 : end;
    }
    return -EBADMSG;
}

int tstate_parse_scm_rights(const unsigned char *buf, size_t len, bool compat, int *fds, size_t max)
{
    if (len > TSTATE_MAX_CMSG)
        return -EBADMSG;
    const size_t hdr = compat ? 12 : 16, align = compat ? 4 : 8, lenw = compat ? 4 : 8;
    size_t off = 0, n = 0;
    while (len - off >= hdr) {
        uint64_t clen;
        if (compat) {
            uint32_t v;
            memcpy(&v, buf + off, sizeof(v));
            clen = v;
        } else {
            memcpy(&clen, buf + off, sizeof(clen));
        }
        int32_t level, type;
        memcpy(&level, buf + off + lenw, sizeof(level));
        memcpy(&type, buf + off + lenw + 4, sizeof(type));
        if (clen < hdr)
            break; /* malformed: CMSG_NXTHDR stops here too */
        size_t avail = len - off;
        size_t body = (size_t)(clen < avail ? clen : avail) - hdr;
        if (level == 1 && type == 1) /* SOL_SOCKET, SCM_RIGHTS */
            for (size_t i = 0; i + 4 <= body && n < max; i += 4)
                memcpy(&fds[n++], buf + off + hdr + i, sizeof(int));
        if (clen >= avail)
            break;
        size_t step = ((size_t)clen + align - 1) & ~(align - 1);
        if (step >= avail)
            break;
        off += step;
    }
    return (int)n;
}
