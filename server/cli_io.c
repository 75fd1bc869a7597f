/* cli_io: where the subcommands write what they produce: a file, or stdout
 * for "-"; failures become one line on stderr. */
#include "server/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int cli_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "wbe") : stdout;
    if (!f) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = len ? fwrite(data, 1, len, f) : 0;
    int bad = n != len || ferror(f);
    bad |= f == stdout ? fflush(f) : fclose(f);
    if (bad) {
        cli_error("writing %s: %s", path, strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

int cli_parse_top(const char *arg, size_t *out)
{
    char *end;
    errno = 0;
    long n = strtol(arg, &end, 10);
    if (errno || *end || end == arg || n < 0 || n > 1000000) {
        cli_error("--top: '%s' is not a count", arg);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}
