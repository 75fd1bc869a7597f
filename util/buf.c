/* buf: a growable byte buffer with an optional size cap (for untrusted input). */
#include "util/buf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > (size_t)-1 - b->len - 1)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (b->max && b->len + extra > b->max)
        return -E2BIG;
    if (need > b->cap)
        b->data = xgrow(b->data, &b->cap, need, 1);
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *buf_detach(struct buf *b, size_t *len)
{
    if (!b->data)
        buf_reserve(b, 0), b->data[0] = '\0';
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int buf_slurp_fd(struct buf *b, int fd, size_t max)
{
    char tmp[4096];
    off_t off = 0;
    buf_reset(b);
    for (;;) {
        ssize_t n = off >= 0 ? pread(fd, tmp, sizeof(tmp), off) : read(fd, tmp, sizeof(tmp));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ESPIPE && off == 0) { /* a pipe or tty: read sequentially */
                off = -1;
                continue;
            }
            return -errno;
        }
        if (n == 0)
            break;
        if (b->len + (size_t)n > max)
            return -EFBIG;
        int rc = buf_append(b, tmp, (size_t)n);
        if (rc)
            return rc;
        if (off >= 0)
            off += n;
    }
    if (!b->data)
        return buf_append(b, "", 0);
    return 0;
}

int buf_slurp(struct buf *b, const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = buf_slurp_fd(b, fd, max);
    close(fd);
    return rc;
}
