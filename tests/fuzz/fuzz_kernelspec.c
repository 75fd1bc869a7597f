/* fuzz_kernelspec: the kernel.json parser on any bytes. What it accepts has
 * a non-empty argv of NUL-free strings, a language, and env/metadata objects. */
#include "protocol/jspec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct jspec s;
    char err[256];
    jspec_init(&s);
    if (jspec_parse(&s, copy, size, err, sizeof err) == 0) {
        if (s.argc < 1 || !s.argv[0][0] || s.argv[s.argc] || !s.language)
            abort();
        if ((s.env && !json_is_object(s.env)) || (s.metadata && !json_is_object(s.metadata)))
            abort();
        for (size_t i = 0; i < s.argc; i++) {
            char *a = jspec_format_arg(s.argv[i], "/c.json", "/r");
            char *e = jspec_subst_env(s.argv[i]);
            free(a);
            free(e);
        }
    } else if (!err[0] || strchr(err, '\n')) {
        abort();
    }
    jspec_release(&s);
    free(copy);
    return 0;
}
