/* fuzz_bash_proc: the bash engine's /proc/<pid>/syscall, /proc/<pid>/stat and status
 * parsers on any bytes. */
#include "server/bash_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A heap copy of exactly `size` bytes: the parsers must not read past it. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    long nr;
    unsigned long long arg0;
    if (bash__parse_syscall(copy, size, &nr, &arg0) == 0 && nr < 0)
        abort();
    unsigned long long arg2;
    if (bash__parse_syscall_arg2(copy, size, &arg2) == 0 &&
        bash__parse_syscall(copy, size, &nr, &arg0) != 0)
        abort(); /* arg2 only where the line itself parses */
    char state;
    pid_t pgrp, sid;
    bash__parse_stat(copy, size, &state, &pgrp, &sid);
    unsigned long long mask, ticks;
    bash__parse_sigmask(copy, size, "SigBlk", &mask);
    bash__parse_cpu(copy, size, &ticks);
    free(copy);
    return 0;
}
