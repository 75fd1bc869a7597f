/* procfs: parsers for /proc/<pid>/io and /proc/<pid>/stat, and their readers. */
#include "measure/procfs.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || !isdigit((unsigned char)*p))
        return -EBADMSG;
    while (p < end && isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
        p++;
    }
    *pp = p;
    *out = v;
    return 0;
}

int procfs_parse_io(const char *text, size_t len, struct proc_io *out)
{
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"rchar", offsetof(struct proc_io, rchar)},
        {"wchar", offsetof(struct proc_io, wchar)},
        {"syscr", offsetof(struct proc_io, syscr)},
        {"syscw", offsetof(struct proc_io, syscw)},
        {"read_bytes", offsetof(struct proc_io, read_bytes)},
        {"write_bytes", offsetof(struct proc_io, write_bytes)},
        {"cancelled_write_bytes", offsetof(struct proc_io, cancelled_write_bytes)},
    };
    const size_t nfields = sizeof(fields) / sizeof(fields[0]);
    unsigned seen = 0;
    if (len > PROCFS_MAX_IO)
        return -EBADMSG;
    const char *p = text, *end = text + len;
    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *lend = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(lend - p));
        if (!colon)
            return -EBADMSG;
        size_t klen = (size_t)(colon - p);
        const char *v = colon + 1;
        while (v < lend && *v == ' ')
            v++;
        uint64_t val;
        if (parse_u64(&v, lend, &val) || v != lend)
            return -EBADMSG;
        for (size_t i = 0; i < nfields; i++) {
            if (strlen(fields[i].key) != klen || memcmp(fields[i].key, p, klen))
                continue;
            if (seen & (1u << i))
                return -EBADMSG;
            seen |= 1u << i;
            memcpy((char *)out + fields[i].off, &val, sizeof(val));
        }
        p = eol ? eol + 1 : end;
    }
    return seen == (1u << nfields) - 1 ? 0 : -EBADMSG;
}

int procfs_parse_stat(const char *text, size_t len, struct proc_stat *out)
{
    if (len > PROCFS_MAX_STAT || len == 0)
        return -EBADMSG;
    memset(out, 0, sizeof(*out));
    const char *p = text, *end = text + len;
    uint64_t v;
    if (parse_u64(&p, end, &v) || v > INT32_MAX)
        return -EBADMSG;
    out->pid = (pid_t)v;
    const char *rp = NULL;
    for (const char *q = text; q < end; q++)
        if (*q == ')')
            rp = q;
    if (!rp || rp < p)
        return -EBADMSG;
    if (rp - p >= 2 && p[0] == ' ' && p[1] == '(') {
        size_t n = (size_t)(rp - p - 2);
        if (n > sizeof(out->comm) - 1)
            n = sizeof(out->comm) - 1;
        memcpy(out->comm, p + 2, n);
    }
    p = rp + 1;
    /* field 3 state, 4 ppid, ..., 14 utime, 15 stime, ..., 20 num_threads,
     * 22 starttime (the last required), 24 rss, ..., 42 delayacct_blkio_ticks */
    for (int field = 3; field <= 42; field++) {
        bool optional = field > 22;
        if (optional && (p >= end || *p != ' '))
            break;
        if (p >= end || *p != ' ')
            return -EBADMSG;
        p++;
        if (field == 3) {
            if (p >= end || *p == ' ')
                return -EBADMSG;
            out->state = *p++;
            continue;
        }
        const char *start = p;
        if (p < end && *p == '-')
            p++;
        if (parse_u64(&p, end, &v)) {
            if (optional)
                break;
            return -EBADMSG;
        }
        if (field == 9)
            out->flags = (unsigned)v;
        if (field == 4 || field == 5 || field == 6) {
            if (*start == '-' || v > INT32_MAX)
                return -EBADMSG;
            pid_t id = (pid_t)v;
            *(field == 4 ? &out->ppid : field == 5 ? &out->pgrp : &out->session) = id;
        } else if (field == 14)
            out->utime = v;
        else if (field == 15)
            out->stime = v;
        else if (field == 16)
            out->cutime = v;
        else if (field == 17)
            out->cstime = v;
        else if (field == 20)
            out->num_threads = v;
        else if (field == 22)
            out->starttime = v;
        else if (field == 24 && *start != '-')
            out->rss = v;
        else if (field == 42 && *start != '-')
            out->delayacct_blkio_ticks = v;
    }
    return 0;
}

/* Reads /proc/<pid>/<name> into text (cap + 1 bytes of room): at most cap
 * bytes, one read (these files are generated whole). Returns the length or
 * -errno; -EBADMSG when the file is larger than cap. */
static ssize_t read_small(pid_t pid, const char *name, char *text, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do
        n = read(fd, text, cap + 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    if ((size_t)n > cap)
        return -EBADMSG;
    return n;
}

int procfs_read_io(pid_t pid, struct proc_io *out)
{
    char text[PROCFS_MAX_IO + 1];
    ssize_t n = read_small(pid, "io", text, PROCFS_MAX_IO);
    return n < 0 ? (int)n : procfs_parse_io(text, (size_t)n, out);
}

int procfs_read_task_io(pid_t pid, pid_t tid, struct proc_io *out)
{
    char name[48], text[PROCFS_MAX_IO + 1];
    snprintf(name, sizeof(name), "task/%d/io", (int)tid);
    ssize_t n = read_small(pid, name, text, PROCFS_MAX_IO);
    return n < 0 ? (int)n : procfs_parse_io(text, (size_t)n, out);
}

int procfs_read_stat(pid_t pid, struct proc_stat *out)
{
    char text[PROCFS_MAX_STAT + 1];
    ssize_t n = read_small(pid, "stat", text, PROCFS_MAX_STAT);
    if (n < 0)
        return (int)n;
    if (n > 0 && text[n - 1] == '\n')
        n--;
    return procfs_parse_stat(text, (size_t)n, out);
}

size_t procfs_parse_cmdline(const char *text, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    while (len > 0 && text[len - 1] == '\0')
        len--;
    if (len > cap - 1)
        len = cap - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = text[i] == '\0' ? ' ' : text[i];
    out[len] = '\0';
    return len;
}

long procfs_read_cmdline(pid_t pid, char *out, size_t cap)
{
    char path[64], text[PROCFS_MAX_CMDLINE];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do /* the first PROCFS_MAX_CMDLINE bytes; the rest is not needed */
        n = read(fd, text, sizeof(text));
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    return (long)procfs_parse_cmdline(text, (size_t)n, out, cap);
}

int procfs_each_stat(procfs_stat_fn fn, void *ctx)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        struct proc_stat st;
        if (procfs_read_stat((pid_t)atoi(e->d_name), &st))
            continue; /* gone, or not a process */
        rc = fn(&st, ctx);
    }
    closedir(d);
    return rc;
}

struct stat_list {
    struct proc_stat *v;
    size_t n, cap;
};

static int keep_stat(const struct proc_stat *st, void *ctx)
{
    struct stat_list *l = ctx;
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
    l->v[l->n++] = *st;
    return 0;
}

long procfs_all_stats(struct proc_stat **out)
{
    struct stat_list l = {0};
    int rc = procfs_each_stat(keep_stat, &l);
    if (rc < 0) {
        free(l.v);
        *out = NULL;
        return rc;
    }
    *out = l.v;
    return (long)l.n;
}

long procfs_count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

uint64_t *procfs_fd_kind_slot(struct proc_fd_kinds *k, unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR:
        return &k->dir;
    case S_IFCHR:
        return &k->chr;
    case S_IFBLK:
        return &k->blk;
    case S_IFREG:
        return &k->reg;
    case S_IFIFO:
        return &k->fifo;
    case S_IFLNK:
        return &k->lnk;
    case S_IFSOCK:
        return &k->sock;
    default:
        return &k->anon;
    }
}

int procfs_read_fd_kinds(pid_t pid, struct proc_fd_kinds *out)
{
    char path[64];
    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    int dfd = dirfd(d);
    struct dirent *e;
    unsigned n = 0;
    while ((e = readdir(d)) && n < PROCFS_MAX_FDS) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, 0) != 0)
            continue; /* closed meanwhile, or a target we may not stat */
        (*procfs_fd_kind_slot(out, st.st_mode))++;
        n++;
    }
    closedir(d);
    return 0;
}

void proc_io_add(struct proc_io *a, const struct proc_io *b)
{
    a->rchar += b->rchar;
    a->wchar += b->wchar;
    a->syscr += b->syscr;
    a->syscw += b->syscw;
    a->read_bytes += b->read_bytes;
    a->write_bytes += b->write_bytes;
    a->cancelled_write_bytes += b->cancelled_write_bytes;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

void proc_io_sub(struct proc_io *a, const struct proc_io *b)
{
    a->rchar = sat_sub(a->rchar, b->rchar);
    a->wchar = sat_sub(a->wchar, b->wchar);
    a->syscr = sat_sub(a->syscr, b->syscr);
    a->syscw = sat_sub(a->syscw, b->syscw);
    a->read_bytes = sat_sub(a->read_bytes, b->read_bytes);
    a->write_bytes = sat_sub(a->write_bytes, b->write_bytes);
    a->cancelled_write_bytes = sat_sub(a->cancelled_write_bytes, b->cancelled_write_bytes);
}

/* The full scan: every process's parent link from its stat, then breadth
 * first from root. */
long procfs_descendants_scan(pid_t root, pid_t *out, size_t max, bool live_only)
{
    struct proc_stat *all;
    long got = procfs_all_stats(&all);
    if (got < 0)
        return got;
    size_t n = (size_t)got;
    /* Breadth-first from root over the parent links. */
    pid_t *queue = xmalloc((n + 1) * sizeof(pid_t));
    size_t qh = 0, qt = 0;
    long found = 0;
    queue[qt++] = root;
    while (qh < qt) {
        pid_t parent = queue[qh++];
        for (size_t i = 0; i < n; i++) {
            if (all[i].ppid != parent || all[i].pid == root)
                continue;
            bool gone = all[i].state == 'Z' || all[i].state == 'X' || (all[i].flags & 0x4);
            if (!live_only || !gone) {
                if ((size_t)found < max)
                    out[found] = all[i].pid;
                found++;
            }
            if (qt <= n)
                queue[qt++] = all[i].pid;
        }
    }
    free(queue);
    free(all);
    return found;
}

/* Does this kernel have /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN)?
 * Asked once. */
static bool have_children_files(void)
{
    static int known; /* 0 unknown, 1 yes, -1 no */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (!k) {
        pid_t self = getpid(), tmp[1];
        long n = procfs_read_children(self, self, tmp, 1);
        k = n >= 0 ? 1 : -1;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k > 0;
}

#define PROCFS_TREE_MAX (1u << 22) /* PID_MAX_LIMIT */

static int pid_cmp(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Appends the children of every thread of pid to *v (sorted, as the full
 * scan would list them). A process that is gone has none. */
static void children_of(pid_t pid, pid_t **v, size_t *n, size_t *cap)
{
    char path[48];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    size_t first = *n;
    pid_t small[256], *kids = small;
    size_t kmax = sizeof(small) / sizeof(*small);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        long k = procfs_read_children(pid, tid, kids, kmax);
        if (k > (long)kmax) { /* a long list: room for all of it, read again */
            if (kids != small)
                free(kids);
            kmax = (size_t)k + 64;
            kids = xmalloc(kmax * sizeof(*kids));
            k = procfs_read_children(pid, tid, kids, kmax);
            if (k > (long)kmax)
                k = (long)kmax;
        }
        if (k <= 0)
            continue;
        *v = xgrow(*v, cap, *n + (size_t)k, sizeof(**v));
        memcpy(*v + *n, kids, (size_t)k * sizeof(*kids));
        *n += (size_t)k;
    }
    closedir(d);
    if (kids != small)
        free(kids);
    qsort(*v + first, *n - first, sizeof(**v), pid_cmp);
}

/* Breadth first from root over the children files: a few reads per process
 * of the tree instead of one per process of the system. The same pids in
 * the same order as the full scan. */
static long descendants(pid_t root, pid_t *out, size_t max, bool live_only)
{
    if (!have_children_files())
        return procfs_descendants_scan(root, out, max, live_only);
    pid_t *queue = NULL;
    size_t qh = 0, qt = 0, qcap = 0;
    long found = 0;
    queue = xgrow(queue, &qcap, 16, sizeof(*queue));
    queue[qt++] = root;
    /* bounded as the scan was (by the processes there are): a tree that
     * forks faster than it is walked stops at the kernel's pid limit */
    while (qh < qt && qt < PROCFS_TREE_MAX) {
        pid_t parent = queue[qh++];
        size_t from = qt;
        children_of(parent, &queue, &qt, &qcap);
        size_t keep = from;
        for (size_t i = from; i < qt; i++) {
            pid_t c = queue[i];
            if (c == root)
                continue;
            struct proc_stat st;
            if (procfs_read_stat(c, &st))
                continue; /* reaped meanwhile: the scan would not have seen it */
            bool gone = st.state == 'Z' || st.state == 'X' || (st.flags & 0x4);
            if (!live_only || !gone) {
                if ((size_t)found < max)
                    out[found] = c;
                found++;
            }
            queue[keep++] = c;
        }
        qt = keep;
    }
    free(queue);
    return found;
}

long procfs_descendants(pid_t root, pid_t *out, size_t max)
{
    return descendants(root, out, max, false);
}

long procfs_descendants_live(pid_t root, pid_t *out, size_t max)
{
    return descendants(root, out, max, true);
}

long procfs_parse_pids(const char *text, size_t len, pid_t *out, size_t max)
{
    if (len > PROCFS_MAX_CHILDREN)
        return -EBADMSG;
    long n = 0;
    size_t i = 0;
    while (i < len) {
        if (text[i] == ' ' || text[i] == '\n') {
            i++;
            continue;
        }
        uint64_t v = 0;
        size_t start = i;
        while (i < len && text[i] >= '0' && text[i] <= '9' && i - start < 10)
            v = v * 10 + (uint64_t)(text[i++] - '0');
        if (i == start || v == 0 || v > INT32_MAX || (i < len && text[i] != ' ' && text[i] != '\n'))
            return -EBADMSG;
        if ((size_t)n < max)
            out[n] = (pid_t)v;
        n++;
    }
    return n;
}

long procfs_read_children(pid_t pid, pid_t tid, pid_t *out, size_t max)
{
    char path[80];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* most lists are short: on the stack, on the heap past that */
    char small[4096], *text = small;
    size_t cap = sizeof(small), len = 0;
    ssize_t r = 0;
    while (len <= PROCFS_MAX_CHILDREN) {
        if (len == cap) {
            char *big = xmalloc(PROCFS_MAX_CHILDREN + 1);
            memcpy(big, text, len);
            text = big;
            cap = PROCFS_MAX_CHILDREN + 1;
        }
        r = read(fd, text + len, cap - len);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)r;
    }
    int e = errno;
    close(fd);
    long n = r < 0 ? -e : procfs_parse_pids(text, len, out, max);
    if (text != small)
        free(text);
    return n;
}
