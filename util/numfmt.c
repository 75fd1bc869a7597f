/* numfmt: thousands separators and binary units. */
#include "util/numfmt.h"

#include <inttypes.h>
#include <stdio.h>

char *numfmt_count(char *s, size_t n, uint64_t v)
{
    char digits[32];
    int nd = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    char tmp[40];
    size_t o = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            tmp[o++] = ',';
        tmp[o++] = digits[i];
    }
    tmp[o] = '\0';
    snprintf(s, n, "%s", tmp);
    return s;
}

static const char *const bin_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

char *numfmt_bytes(char *s, size_t n, uint64_t v)
{
    if (v < 1024) {
        snprintf(s, n, "%" PRIu64 " B", v);
        return s;
    }
    double d = (double)v;
    unsigned u = 0;
    /* Pick the unit where the value, printed with 2 decimals, stays below 1024. */
    while (u < 6 && d >= 1023.995) {
        d /= 1024.0;
        u++;
    }
    snprintf(s, n, "%.2f %s", d, bin_units[u]);
    return s;
}
