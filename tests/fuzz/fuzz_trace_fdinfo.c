/* fuzz_trace_fdinfo: the tracer's /proc/<pid>/fdinfo "flags:" parser and its
 * link classifier on any bytes. */
#include "measure/trace.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A heap copy of exactly `size` bytes: the parser must not read past it. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    unsigned flags;
    if (tstate_parse_fdinfo_flags(copy, size, &flags) == 0 && size > TSTATE_MAX_FDINFO)
        abort();
    free(copy);
    /* The classifier reads a NUL-terminated link text. */
    char *link = malloc(size + 1);
    memcpy(link, data, size);
    link[size] = '\0';
    if ((unsigned)tstate_kind_from_link(link, size ? data[0] : 0) >= FDK__COUNT)
        abort();
    free(link);
    return 0;
}
