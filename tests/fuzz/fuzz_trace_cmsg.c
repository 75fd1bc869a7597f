/* fuzz_trace_cmsg: the tracer's SCM_RIGHTS parser (the control data of a
 * recvmsg read from the tracee) on any bytes, in both layouts. The first
 * byte picks the layout and the descriptor cap; the rest is the buffer. */
#include "measure/trace.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool compat = data[0] & 1;
    size_t max = (data[0] >> 1) ? (size_t)(data[0] >> 1) : TSTATE_MAX_SCM_FDS;
    data++;
    size--;
    /* A heap copy of exactly `size` bytes: the parser must not read past it. */
    unsigned char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int fds[TSTATE_MAX_SCM_FDS];
    int n = tstate_parse_scm_rights(copy, size, compat, fds, max);
    if (size > TSTATE_MAX_CMSG ? n != -EBADMSG : (n < 0 || (size_t)n > max || (size_t)n > size / 4))
        abort();
    free(copy);
    return 0;
}
