/* record_pids: parsing a comma-separated list of process ids. */
#include "server/record_pids.h"
#include "server/cli.h"

#include <ctype.h>
#include <string.h>

#define PID_LIMIT (1 << 22) /* the kernel's PID_MAX_LIMIT on 64-bit */

int record_parse_pids(const char *option, const char *arg, int64_t *out, size_t max, size_t *n)
{
    const char *p = arg;
    if (!*p) {
        cli_error("%s: expected PID[,PID...], got an empty list", option);
        return -1;
    }
    while (*p) {
        int64_t v = 0;
        const char *start = p;
        while (isdigit((unsigned char)*p) && v <= PID_LIMIT)
            v = v * 10 + (*p++ - '0');
        if (p == start || v < 1 || v > PID_LIMIT || (*p && *p != ',') || (*p == ',' && !p[1])) {
            cli_error("%s: '%s' is not a list of process ids (PID[,PID...])", option, arg);
            return -1;
        }
        if (*n >= max) {
            cli_error("%s: more than %zu process ids", option, max);
            return -1;
        }
        out[(*n)++] = v;
        if (*p == ',')
            p++;
    }
    return 0;
}
