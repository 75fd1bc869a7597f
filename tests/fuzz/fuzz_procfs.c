/* fuzz_procfs: the /proc/<pid>/io, stat and cmdline parsers on any bytes. */
#include "measure/procfs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A heap copy of exactly `size` bytes: the parsers must not read past it. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct proc_io io;
    struct proc_stat st;
    if (procfs_parse_io(copy, size, &io) == 0 && size > PROCFS_MAX_IO)
        abort();
    if (procfs_parse_stat(copy, size, &st) == 0 && st.pid < 0)
        abort();
    char line[64];
    size_t n = procfs_parse_cmdline(copy, size, line, sizeof(line));
    if (n >= sizeof(line) || line[n] != '\0')
        abort();
    pid_t pids[8];
    long np = procfs_parse_pids(copy, size, pids, 8);
    if (np > 0 && (size > PROCFS_MAX_CHILDREN || (size_t)np > size / 2 + 1))
        abort();
    for (long i = 0; i < np && i < 8; i++)
        if (pids[i] <= 0)
            abort();
    free(copy);
    return 0;
}
