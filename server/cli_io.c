/* cli_io: where the subcommands write what they produce: a file, or stdout
 * for "-"; failures become one line on stderr. */
#include "server/cli.h"

#include <errno.h>
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
