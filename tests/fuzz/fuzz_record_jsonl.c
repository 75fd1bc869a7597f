/* fuzz_record_jsonl: one line of a recording's JSON Lines (a row or the meta
 * line) on any bytes. */
#include "measure/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a heap copy of exactly `size` bytes: the parser must not read past it */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct rec_row row;
    struct rec_meta meta;
    bool is_meta;
    char err[128];
    rec_meta_init(&meta);
    int rc = rec_parse_jsonl(copy, size, &row, &is_meta, &meta, err, sizeof(err));
    if (rc == 0 && size > REC_MAX_LINE)
        abort();
    if (rc == 0 && !is_meta) {
        /* text columns stay NUL-terminated; a row prints back as one line */
        if (!memchr(row.comm, '\0', sizeof(row.comm)) ||
            !memchr(row.state, '\0', sizeof(row.state)))
            abort();
        struct buf b;
        buf_init(&b, 0);
        if (rec_row_to_jsonl(&row, &b) != 0 || memchr(b.data, '\n', b.len - 1))
            abort();
        buf_release(&b);
    }
    rec_meta_release(&meta);
    free(copy);
    return 0;
}
