/* fuzz_bash_query: the completion and inspection planners on any code and
 * cursor (first two bytes: the cursor in code points; the rest: the code). */
#include "server/bash_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cursor = (size_t)data[0] | (size_t)data[1] << 8;
    size_t len = size - 2;
    char *code = malloc(len + 1);
    memcpy(code, data + 2, len);
    code[len] = '\0';
    len = strlen(code); /* the kernel passes NUL-terminated strings */
    struct bash__cplan p;
    bash__complete_plan(code, len, cursor, &p);
    if (p.from > p.cur || p.cur > len)
        abort();
    buf_release(&p.script);
    struct buf b = BUF_INIT;
    bash__inspect_plan(code, len, cursor, &b);
    buf_release(&b);
    free(code);
    return 0;
}
