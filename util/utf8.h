/* utf8: validation and repair of UTF-8 text from untrusted sources. */
#ifndef IOPSD_UTF8_H
#define IOPSD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if the bytes
 * there are invalid, or -1 if they are a valid but incomplete prefix of n bytes. */
int utf8_seq_len(const unsigned char *s, size_t n);

bool utf8_valid(const char *s, size_t n);

/* Appends s to out with every invalid byte replaced by U+FFFD. When `final` is
 * false, an incomplete sequence at the very end is not consumed: the return
 * value is the number of input bytes consumed (the caller keeps the rest). */
size_t utf8_sanitize(struct buf *out, const char *s, size_t n, bool final);

/* A NUL-terminated, valid UTF-8 copy of s (caller frees). */
char *utf8_dup_sanitized(const char *s);

#endif
