/* tap: the unit tests' minimal checking support. */
#include "tests/unit/tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int tap_failures, tap_checks;

void tap_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tap_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, tap_checks, tap_failures);
    return tap_failures ? 1 : 0;
}

const char *tap_source_dir(void)
{
    const char *s = getenv("IOPSD_SOURCE_DIR");
    return s ? s : ".";
}

const char *tap_binary_dir(void)
{
    const char *s = getenv("IOPSD_BINARY_DIR");
    return s ? s : ".";
}
