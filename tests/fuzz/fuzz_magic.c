/* fuzz_magic: magic_parse on any text; whatever it accepts must split the
 * cell losslessly (before + measured + after within the cell), and its parts
 * (magic_parts) keep the measured slot and no other blank one. */
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
        /* the parts: the measured slot always there, none of them blank but it */
        struct magic_parts p;
        magic_parts(&m, cell, &p);
        if (p.n < 1 || p.n > 3 || p.measured < 0 || p.measured >= p.n ||
            p.code[p.measured] != m.measured)
            abort();
        for (int i = 0; i < p.n; i++)
            if (i != p.measured && magic_blank(p.code[i]))
                abort();
    } else if (!err[0]) {
        abort();
    }
    magic_release(&m);
    free(cell);
    return 0;
}
