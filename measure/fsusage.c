/* fsusage: the `fs_usage -w` line parser, the call-name classifier and the
 * fixed-buffer line splitter. Portable; see fsusage.h for the line format. */
#include "measure/fsusage.h"
#include "util/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- call names ---- */

struct call_def {
    const char *name;
    enum fsu_class cls;
    enum meta_op meta;
};

#define DATA_R(n)                                                                                  \
    {                                                                                              \
        n, FSU_DATA_READ, META_OTHER                                                               \
    }
#define DATA_W(n)                                                                                  \
    {                                                                                              \
        n, FSU_DATA_WRITE, META_OTHER                                                              \
    }
#define META(n, m)                                                                                 \
    {                                                                                              \
        n, FSU_META, m                                                                             \
    }
#define IGN(n)                                                                                     \
    {                                                                                              \
        n, FSU_IGNORED, META_OTHER                                                                 \
    }

/* Exact names after [flags], _nocancel and _extended are stripped. Sorted at
 * first use. Names not here are FSU_UNKNOWN, except disk lines (see below). */
static struct call_def calls[] = {
    DATA_R("read"),
    DATA_R("pread"),
    DATA_R("readv"),
    DATA_R("preadv"),
    DATA_W("write"),
    DATA_W("pwrite"),
    DATA_W("writev"),
    DATA_W("pwritev"),
    DATA_W("guarded_write_np"),
    DATA_W("guarded_pwrite_np"),
    DATA_W("guarded_writev_np"),
    {"recvfrom", FSU_SOCK_READ, META_OTHER},
    {"recvmsg", FSU_SOCK_READ, META_OTHER},
    {"sendto", FSU_SOCK_WRITE, META_OTHER},
    {"sendmsg", FSU_SOCK_WRITE, META_OTHER},
    {"socket", FSU_SOCKET_NEW, META_OTHER},
    {"socketpair", FSU_SOCKET_NEW, META_OTHER},
    {"accept", FSU_SOCKET_NEW, META_OTHER},
    {"mmap", FSU_MMAP, META_OTHER},
    META("open", META_OPEN),
    META("openat", META_OPEN),
    META("open_dprotected_np", META_OPEN),
    META("openat_dprotected_np", META_OPEN),
    META("guarded_open_np", META_OPEN),
    META("guarded_open_dprotected_np", META_OPEN),
    META("openbyid_np", META_OPEN),
    META("close", META_CLOSE),
    META("guarded_close_np", META_CLOSE),
    META("stat", META_STAT),
    META("stat64", META_STAT),
    META("lstat", META_STAT),
    META("lstat64", META_STAT),
    META("fstat", META_STAT),
    META("fstat64", META_STAT),
    META("fstatat", META_STAT),
    META("fstatat64", META_STAT),
    META("getattrlist", META_STAT),
    META("fgetattrlist", META_STAT),
    META("getattrlistat", META_STAT),
    META("access", META_STAT),
    META("faccessat", META_STAT),
    META("readlink", META_STAT),
    META("readlinkat", META_STAT),
    META("statfs", META_STAT),
    META("statfs64", META_STAT),
    META("fstatfs", META_STAT),
    META("fstatfs64", META_STAT),
    META("getfsstat", META_STAT),
    META("getfsstat64", META_STAT),
    META("pathconf", META_STAT),
    META("fpathconf", META_STAT),
    META("fsgetpath", META_STAT),
    META("lseek", META_SEEK),
    META("fsync", META_FSYNC),
    META("fdatasync", META_FSYNC),
    META("sync", META_FSYNC),
    META("getdirentries", META_GETDENTS),
    META("getdirentries64", META_GETDENTS),
    META("getdirentriesattr", META_GETDENTS),
    META("getattrlistbulk", META_GETDENTS),
    META("searchfs", META_GETDENTS),
    META("unlink", META_UNLINK),
    META("unlinkat", META_UNLINK),
    META("rmdir", META_UNLINK),
    META("delete", META_UNLINK),
    META("rename", META_RENAME),
    META("renameat", META_RENAME),
    META("renamex_np", META_RENAME),
    META("renameatx_np", META_RENAME),
    META("exchangedata", META_RENAME),
    META("mkdir", META_MKDIR),
    META("mkdirat", META_MKDIR),
    META("mkfifo", META_MKDIR),
    META("mknod", META_MKDIR),
    META("truncate", META_TRUNCATE),
    META("ftruncate", META_TRUNCATE),
    META("fcntl", META_FCNTL),
    META("ioctl", META_FCNTL),
    META("flock", META_FCNTL),
    META("fsctl", META_FCNTL),
    META("ffsctl", META_FCNTL),
    META("dup", META_DUP),
    META("dup2", META_DUP),
    META("chmod", META_OTHER),
    META("fchmod", META_OTHER),
    META("fchmodat", META_OTHER),
    META("chown", META_OTHER),
    META("fchown", META_OTHER),
    META("lchown", META_OTHER),
    META("fchownat", META_OTHER),
    META("chflags", META_OTHER),
    META("fchflags", META_OTHER),
    META("utimes", META_OTHER),
    META("futimes", META_OTHER),
    META("utimensat", META_OTHER),
    META("futimens", META_OTHER),
    META("link", META_OTHER),
    META("linkat", META_OTHER),
    META("symlink", META_OTHER),
    META("symlinkat", META_OTHER),
    META("setattrlist", META_OTHER),
    META("fsetattrlist", META_OTHER),
    META("setattrlistat", META_OTHER),
    META("getxattr", META_OTHER),
    META("fgetxattr", META_OTHER),
    META("setxattr", META_OTHER),
    META("fsetxattr", META_OTHER),
    META("listxattr", META_OTHER),
    META("flistxattr", META_OTHER),
    META("removexattr", META_OTHER),
    META("fremovexattr", META_OTHER),
    META("chdir", META_OTHER),
    META("fchdir", META_OTHER),
    META("chroot", META_OTHER),
    META("clonefile", META_OTHER),
    META("clonefileat", META_OTHER),
    META("fclonefileat", META_OTHER),
    META("copyfile", META_OTHER),
    META("revoke", META_OTHER),
    META("undelete", META_OTHER),
    IGN("CACHE_HIT"),
    IGN("PAGE_IN_FILE"),
    IGN("PAGE_IN_ANON"),
    IGN("PAGE_OUT_FILE"),
    IGN("PAGE_OUT_ANON"),
    IGN("HFS_update"),
    IGN("select"),
    IGN("pselect"),
    IGN("kqueue"),
    IGN("kevent"),
    IGN("kevent64"),
    IGN("connect"),
    IGN("bind"),
    IGN("listen"),
    IGN("shutdown"),
    IGN("sendfile"),
    IGN("aio_read"),
    IGN("aio_write"),
    IGN("aio_fsync"),
    IGN("aio_return"),
    IGN("aio_suspend"),
    IGN("aio_cancel"),
    IGN("aio_error"),
    IGN("lio_listio"),
    IGN("msync"),
    IGN("munmap"),
    IGN("mprotect"),
    IGN("madvise"),
    IGN("TrimExtent"),
};

static int call_cmp(const void *a, const void *b)
{
    return strcmp(((const struct call_def *)a)->name, ((const struct call_def *)b)->name);
}

static pthread_once_t calls_once = PTHREAD_ONCE_INIT;

static void calls_sort(void)
{
    qsort(calls, sizeof(calls) / sizeof(calls[0]), sizeof(calls[0]), call_cmp);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n > m && !memcmp(s + n - m, suffix, m);
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum fsu_class fsu_classify(const char *raw, size_t n, char base[FSU_CALL_MAX], enum meta_op *meta)
{
    const char *bracket = memchr(raw, '[', n);
    if (bracket)
        n = (size_t)(bracket - raw);
    for (bool again = true; again;) {
        again = false;
        if (ends_with(raw, n, "_nocancel")) {
            n -= strlen("_nocancel");
            again = true;
        }
        if (ends_with(raw, n, "_extended")) {
            n -= strlen("_extended");
            again = true;
        }
    }
    if (n >= FSU_CALL_MAX)
        n = FSU_CALL_MAX - 1;
    memcpy(base, raw, n);
    base[n] = '\0';
    *meta = META_OTHER;

    pthread_once(&calls_once, calls_sort);
    struct call_def key = {base, FSU_UNKNOWN, META_OTHER};
    const struct call_def *d =
        bsearch(&key, calls, sizeof(calls) / sizeof(calls[0]), sizeof(calls[0]), call_cmp);
    if (d) {
        *meta = d->meta;
        return d->cls;
    }
    /* Storage-level lines: RdData, WrData, RdMeta, WrJData, RdChunkCS, ...
     * (Rd/Wr and a capital letter), PgIn and PgOut. */
    if (n >= 3 && (!memcmp(base, "Rd", 2) || !memcmp(base, "Wr", 2)) && is_upper(base[2]))
        return base[0] == 'R' ? FSU_DISK_READ : FSU_DISK_WRITE;
    if (!strncmp(base, "PgIn", 4))
        return FSU_DISK_READ;
    if (!strncmp(base, "PgOut", 5))
        return FSU_DISK_WRITE;
    return FSU_UNKNOWN;
}

/* ---- one line ---- */

/* Parses up to 20 decimal digits at s[0..n) into *v; returns the count of
 * digits used, 0 if none or on overflow. */
static size_t parse_dec(const char *s, size_t n, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    while (i < n && is_digit(s[i])) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
        i++;
    }
    *v = x;
    return i;
}

/* "0x" and up to 16 hex digits; returns bytes used or 0. */
static size_t parse_hex(const char *s, size_t n, uint64_t *v)
{
    if (n < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return 0;
    size_t i = 2;
    uint64_t x = 0;
    while (i < n && hex_val(s[i]) >= 0) {
        if (i - 2 >= 16)
            return 0;
        x = x << 4 | (uint64_t)hex_val(s[i]);
        i++;
    }
    if (i == 2)
        return 0;
    *v = x;
    return i;
}

/* True when s[i] ends a field: end of the region, whitespace, or the next
 * "X=" field (fs_usage prints "B=0x%-8x" and "O=0x..." with no space between
 * them when the byte count has eight hex digits). */
static bool field_end(const char *s, size_t i, size_t end)
{
    return i >= end || is_space(s[i]) || (i + 1 < end && is_upper(s[i]) && s[i + 1] == '=');
}

/* Tries "[  2]" at s[i..end): sets *err and returns the length, or 0. */
static size_t parse_errno(const char *s, size_t i, size_t end, int *err)
{
    size_t j = i;
    if (j >= end || s[j] != '[')
        return 0;
    j++;
    while (j < end && s[j] == ' ')
        j++;
    uint64_t v;
    size_t d = parse_dec(s + j, end - j, &v);
    if (!d || d > 5)
        return 0;
    j += d;
    while (j < end && s[j] == ' ')
        j++;
    if (j >= end || s[j] != ']' || !field_end(s, j + 1, end))
        return 0;
    *err = (int)v;
    return j + 1 - i;
}

/* Tries one call field at s[i..end); returns its length (0: not a field,
 * so the path starts here). */
static size_t parse_field(const char *s, size_t i, size_t end, struct fsu_event *ev)
{
    size_t n = end - i;
    const char *p = s + i;
    uint64_t v;
    size_t k;
    if (p[0] == '[')
        return parse_errno(s, i, end, &ev->err);
    if (n >= 3 && p[1] == '=' && is_upper(p[0])) {
        if (p[0] == 'F') {
            k = parse_dec(p + 2, n - 2, &v);
            if (!k || k > 10 || v > INT32_MAX)
                return 0;
            k += 2;
            /* "F=100[ 32]": three-digit descriptors leave no space before the errno */
            size_t e = 0;
            if (i + k < end && p[k] == '[')
                e = parse_errno(s, i + k, end, &ev->err);
            if (!e && !field_end(s, i + k, end))
                return 0;
            ev->fd = (int)v;
            return k + e;
        }
        k = parse_hex(p + 2, n - 2, &v);
        if (!k) {
            k = parse_dec(p + 2, n - 2, &v); /* S=3 and other decimal fields */
            if (!k)
                return 0;
        }
        k += 2;
        if (!field_end(s, i + k, end))
            return 0;
        if (p[0] == 'B') {
            ev->bytes = v;
            ev->has_bytes = true;
        } else if (p[0] == 'O') {
            ev->offset = v;
            ev->has_offset = true;
        }
        return k;
    }
    if (p[0] == '(') {
        k = 1;
        while (k < n && k <= sizeof(ev->mode) && (is_upper(p[k]) || p[k] == '_'))
            k++;
        if (k == 1 || k >= n || p[k] != ')' || !field_end(s, i + k + 1, end) ||
            k - 1 >= sizeof(ev->mode))
            return 0;
        memcpy(ev->mode, p + 1, k - 1);
        ev->mode[k - 1] = '\0';
        return k + 1;
    }
    if (p[0] == '<') {
        k = 1;
        while (k < n && p[k] != '>' && !is_space(p[k]))
            k++;
        if (k >= n || p[k] != '>' || !field_end(s, i + k + 1, end))
            return 0;
        return k + 1;
    }
    if ((ev->cls == FSU_DISK_READ || ev->cls == FSU_DISK_WRITE) && !ev->dev.n && n > 5 &&
        !memcmp(p, "/dev/", 5)) {
        k = 5;
        while (k < n && !is_space(p[k]))
            k++;
        ev->dev.p = p;
        ev->dev.n = k;
        return k;
    }
    return 0;
}

/* Finds the elapsed time: the rightmost "DIGITS.DDDDDD" that starts a token
 * before `dot`, followed by " W " or spaces, and then a non-empty name that
 * ends at `dot`. Fills elapsed, waited, proc; returns the elapsed token's
 * start, or (size_t)-1. */
static size_t find_elapsed(const char *s, size_t dot, struct fsu_event *ev)
{
    for (size_t q = dot; q-- > 1;) {
        if (s[q] != '.' || q + 7 >= dot)
            continue;
        size_t j = q + 1;
        while (j < q + 7 && is_digit(s[j]))
            j++;
        if (j != q + 7 || !is_space(s[j]))
            continue;
        size_t b = q;
        while (b > 0 && is_digit(s[b - 1]))
            b--;
        if (b == q || q - b > 9 || b == 0 || !is_space(s[b - 1]))
            continue;
        bool waited = false;
        size_t name = j;
        if (j + 2 < dot && s[j + 1] == 'W' && is_space(s[j + 2])) {
            waited = true;
            name = j + 3;
        } else {
            while (name < dot && is_space(s[name]))
                name++;
        }
        if (name >= dot || is_space(s[name]))
            continue;
        uint64_t secs = 0, frac = 0;
        parse_dec(s + b, q - b, &secs);
        parse_dec(s + q + 1, 6, &frac);
        ev->elapsed_ns = secs * 1000000000ull + frac * 1000ull;
        ev->waited = waited;
        ev->proc.p = s + name;
        ev->proc.n = dot - name;
        return b;
    }
    return (size_t)-1;
}

/* "HH:MM:SS" with an optional ".uuuuuu"; returns the length or 0. */
static size_t parse_timestamp(const char *s, size_t n, uint64_t *us)
{
    if (n < 8 || !is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' || !is_digit(s[3]) ||
        !is_digit(s[4]) || s[5] != ':' || !is_digit(s[6]) || !is_digit(s[7]))
        return 0;
    unsigned h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    unsigned m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
    unsigned sec = (unsigned)(s[6] - '0') * 10 + (unsigned)(s[7] - '0');
    if (h > 23 || m > 59 || sec > 60)
        return 0;
    uint64_t frac = 0;
    size_t k = 8;
    if (k < n && s[k] == '.') {
        size_t d = 0;
        k++;
        while (k < n && is_digit(s[k]) && d < 6) {
            frac = frac * 10 + (uint64_t)(s[k] - '0');
            k++;
            d++;
        }
        if (d == 0 || (k < n && is_digit(s[k])))
            return 0;
        for (; d < 6; d++)
            frac *= 10;
    }
    *us = ((uint64_t)h * 3600 + m * 60 + sec) * 1000000ull + frac;
    return k;
}

int fsu_parse_line(const char *s, size_t len, struct fsu_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->fd = -1;
    ev->cls = FSU_UNKNOWN;
    if (len > FSU_LINE_MAX)
        return -E2BIG;
    size_t end = len;
    while (end > 0 && (is_space(s[end - 1]) || s[end - 1] == '\n'))
        end--;

    /* NAME.TID at the right end: the thread id is after the last '.' */
    size_t d = end;
    while (d > 0 && is_digit(s[d - 1]))
        d--;
    if (d == end || d == 0 || s[d - 1] != '.' || end - d > 20)
        return -EINVAL;
    if (parse_dec(s + d, end - d, &ev->tid) != end - d)
        return -EINVAL;
    size_t dot = d - 1;

    size_t el = find_elapsed(s, dot, ev);
    if (el == (size_t)-1)
        return -EINVAL;

    /* TIMESTAMP CALL at the left end */
    size_t i = 0;
    while (i < el && is_space(s[i]))
        i++;
    size_t k = parse_timestamp(s + i, el - i, &ev->ts_us);
    if (!k || i + k >= el || !is_space(s[i + k]))
        return -EINVAL;
    i += k;
    while (i < el && is_space(s[i]))
        i++;
    size_t c = i;
    while (i < el && !is_space(s[i]))
        i++;
    if (i == c)
        return -EINVAL;
    ev->raw_call.p = s + c;
    ev->raw_call.n = i - c;
    ev->cls = fsu_classify(s + c, i - c, ev->call, &ev->meta);

    /* fields, then the path (which may contain spaces) up to the elapsed time */
    size_t mid_end = el;
    while (mid_end > i && is_space(s[mid_end - 1]))
        mid_end--;
    while (i < mid_end) {
        while (i < mid_end && is_space(s[i]))
            i++;
        if (i >= mid_end)
            break;
        size_t f = parse_field(s, i, mid_end, ev);
        if (!f) {
            ev->path.p = s + i;
            ev->path.n = mid_end - i;
            break;
        }
        i += f;
    }
    return 0;
}

/* ---- splitting a stream into lines ---- */

void fsu_lines_init(struct fsu_lines *l)
{
    memset(l, 0, sizeof(*l));
    l->buf = xmalloc(FSU_LINE_MAX);
}

void fsu_lines_release(struct fsu_lines *l)
{
    free(l->buf);
    memset(l, 0, sizeof(*l));
}

void fsu_lines_push(struct fsu_lines *l, const char *data, size_t n, fsu_line_fn fn, void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t seg = nl ? (size_t)(nl - data) : n;
        if (!nl) {
            if (l->discarding)
                return;
            if (l->len + seg > FSU_LINE_MAX) {
                l->discarding = true;
                l->len = 0;
                return;
            }
            memcpy(l->buf + l->len, data, seg);
            l->len += seg;
            return;
        }
        if (l->discarding) {
            l->too_long++;
            l->discarding = false;
        } else if (l->len == 0) {
            if (seg > FSU_LINE_MAX)
                l->too_long++;
            else
                fn(ctx, data, seg); /* the whole line is in data: no copy */
        } else if (l->len + seg > FSU_LINE_MAX) {
            l->too_long++;
            l->len = 0;
        } else {
            memcpy(l->buf + l->len, data, seg);
            l->len += seg;
            fn(ctx, l->buf, l->len);
            l->len = 0;
        }
        data = nl + 1;
        n -= seg + 1;
    }
}

void fsu_lines_finish(struct fsu_lines *l, fsu_line_fn fn, void *ctx)
{
    if (l->discarding)
        l->too_long++;
    else if (l->len)
        fn(ctx, l->buf, l->len);
    l->len = 0;
    l->discarding = false;
}
