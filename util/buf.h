/* buf: a growable byte buffer with an optional size cap (for untrusted input). */
#ifndef IOPSD_BUF_H
#define IOPSD_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* Invariant: data is NUL-terminated at data[len] whenever data != NULL. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited; appends past it fail with -E2BIG */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hands the data to the caller (who frees it); the buffer is left empty. */
char *buf_detach(struct buf *b, size_t *len);

/* Reads a whole file (regular or /proc) into b, at most `max` bytes.
 * Returns 0, -errno on failure, -EFBIG when the file is larger than max. */
int buf_slurp(struct buf *b, const char *path, size_t max);
/* Same, from an open descriptor: read with pread from offset 0, or
 * sequentially when fd is a pipe or terminal. */
int buf_slurp_fd(struct buf *b, int fd, size_t max);

#endif
