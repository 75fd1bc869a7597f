/* fuzz_connfile: the connection-file parser on any bytes. Whatever it accepts
 * must have sane ports and build endpoints. */
#include "protocol/jconn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct jconn c;
    char err[256], ep[512];
    if (jconn_parse(&c, copy, size, err, sizeof err) == 0) {
        for (int i = 0; i < JCONN_NCHAN; i++) {
            if (c.ports[i] < 1 || c.ports[i] > 65535)
                abort();
            if (jconn_endpoint(&c, (enum jconn_channel)i, ep, sizeof ep))
                abort();
        }
        if (strlen(c.key) != c.keylen && memchr(c.key, 0, c.keylen) == NULL)
            abort();
    } else if (!err[0] || strchr(err, '\n')) {
        abort(); /* errors are one non-empty line */
    }
    jconn_release(&c);
    free(copy);
    return 0;
}
