/* fuzz_magic: magic_parse on any text; whatever it accepts must split the
 * cell losslessly (before + measured + after within the cell). */
#include "magics/magic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *cell = malloc(size + 1);
    memcpy(cell, data, size);
    cell[size] = '\0';
    struct magic m;
    char err[256];
    magic_init(&m);
    if (magic_parse(cell, &m, err, sizeof(err)) == 0) {
        size_t total = strlen(m.before) + strlen(m.measured) + strlen(m.after);
        if (total > strlen(cell))
            abort();
        if (m.kind == MAGIC_NONE && strcmp(m.measured, cell))
            abort();
    } else if (!err[0]) {
        abort();
    }
    magic_release(&m);
    free(cell);
    return 0;
}
