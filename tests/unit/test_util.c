/* test_util: capped buffers and the UTF-8 sanitizer. */
#include "tests/unit/tap.h"
#include "util/buf.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 8);
    CHECK_INT(buf_puts(&b, "12345"), 0);
    CHECK_INT(buf_printf(&b, "%d", 678), 0);
    CHECK_STR(b.data, "12345678");
    CHECK_INT(buf_puts(&b, "9"), -E2BIG);
    CHECK_U64(b.len, 8);
    size_t len;
    char *d = buf_detach(&b, &len);
    CHECK_STR(d, "12345678");
    CHECK_U64(len, 8);
    free(d);
    CHECK(b.data == NULL);
    buf_release(&b);
    CHECK_INT(buf_slurp(&b, "/nonexistent/file", 100), -ENOENT);
    CHECK_INT(buf_slurp(&b, "/proc/self/status", 10), -EFBIG);
    /* a pipe is read sequentially */
    int p[2];
    CHECK_INT(pipe(p), 0);
    CHECK_INT(write(p[1], "abc", 3), 3);
    close(p[1]);
    CHECK_INT(buf_slurp_fd(&b, p[0], 100), 0);
    CHECK_STR(b.data, "abc");
    close(p[0]);
    buf_release(&b);
}

static void test_utf8(void)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK(utf8_valid("h\xc3\xa9llo", 6));
    CHECK(!utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    /* invalid bytes are replaced */
    CHECK_U64(utf8_sanitize(&b, "a\xffz", 3, true), 3);
    CHECK_STR(b.data, "a\xef\xbf\xbdz");
    buf_reset(&b);
    /* an incomplete tail is held back unless final */
    const char *euro = "x\xe2\x82\xac"; /* x€ */
    CHECK_U64(utf8_sanitize(&b, euro, 3, false), 1);
    CHECK_STR(b.data, "x");
    CHECK_U64(utf8_sanitize(&b, euro + 1, 3, false), 3);
    CHECK_STR(b.data, "x\xe2\x82\xac");
    buf_reset(&b);
    CHECK_U64(utf8_sanitize(&b, euro, 3, true), 3);
    CHECK_STR(b.data, "x\xef\xbf\xbd\xef\xbf\xbd");
    buf_release(&b);
    char *s = utf8_dup_sanitized("ok\x80");
    CHECK_STR(s, "ok\xef\xbf\xbd");
    free(s);
}

int main(void)
{
    test_buf();
    test_utf8();
    return tap_done("test_util");
}
