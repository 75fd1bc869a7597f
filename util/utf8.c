/* utf8: validation and repair of UTF-8 text from untrusted sources. */
#include "util/utf8.h"

#include <string.h>

int utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        len = 2;
    else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
    }
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int l = utf8_seq_len(p + i, n - i);
        if (l <= 0)
            return false;
        i += (size_t)l;
    }
    return true;
}

size_t utf8_sanitize(struct buf *out, const char *s, size_t n, bool final)
{
    static const char repl[] = "\xEF\xBF\xBD";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: start of the current valid stretch */
    while (i < n) {
        int l = utf8_seq_len(p + i, n - i);
        if (l > 0) {
            i += (size_t)l;
            continue;
        }
        if (l < 0 && !final)
            break; /* incomplete tail: keep it for the next call */
        buf_append(out, s + run, i - run);
        buf_append(out, repl, 3);
        i++;
        run = i;
    }
    buf_append(out, s + run, i - run);
    return i;
}

char *utf8_dup_sanitized(const char *s)
{
    struct buf b;
    buf_init(&b, 0);
    utf8_sanitize(&b, s, strlen(s), true);
    return buf_detach(&b, NULL);
}
