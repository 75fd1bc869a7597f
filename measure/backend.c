/* backend: the registry of measurement backends. */
#include "measure/backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef __linux__
extern const struct meas_backend meas_proc;
extern const struct meas_backend meas_trace;
#endif
#ifdef __APPLE__
extern const struct meas_backend meas_fsusage;
#endif

/* Order matters for "auto": the first that probes fine wins, except that the
 * detailed backends are preferred when they work (see meas_backend_get). */
static const struct meas_backend *const backends[] = {
#ifdef __linux__
    &meas_proc,
    &meas_trace,
#endif
#ifdef __APPLE__
    &meas_fsusage,
#endif
    NULL,
};

void meas_opts_init(struct meas_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->fd_interval = 0.01;
    o->wait_descendants = true;
    o->tree = true;
    o->top_files = 10;
    o->hist_kinds = (1u << FDK_FILE) | (1u << FDK_BLOCKDEV);
}

int meas_parse_kinds(const char *s, unsigned *mask)
{
    char buf[128];
    unsigned m = 0;
    if (!strcmp(s, "all")) {
        *mask = (1u << FDK__COUNT) - 1;
        return 0;
    }
    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int i = fd_kind_from_name(k);
        if (i < 0)
            return -EINVAL;
        m |= 1u << i;
    }
    if (!m)
        return -EINVAL;
    *mask = m;
    return 0;
}

const struct meas_backend *const *meas_backend_all(void)
{
    return backends;
}

static const char *const auto_order[] = {"trace", "fs_usage", "proc", NULL};

const struct meas_backend *meas_backend_get(const char *name, char *err, size_t errlen)
{
    char why[256];
    if (!strcmp(name, "auto")) {
        for (const char *const *n = auto_order; *n; n++)
            for (const struct meas_backend *const *b = backends; *b; b++)
                if (!strcmp((*b)->name, *n) && (*b)->probe(why, sizeof(why)) == 0)
                    return *b;
        snprintf(err, errlen, "no measurement backend works on this system");
        return NULL;
    }
    for (const struct meas_backend *const *b = backends; *b; b++) {
        if (strcmp((*b)->name, name))
            continue;
        if ((*b)->probe(why, sizeof(why)) != 0) {
            snprintf(err, errlen, "backend '%s' is unavailable: %s", name, why);
            return NULL;
        }
        return *b;
    }
    size_t off = (size_t)snprintf(err, errlen, "unknown backend '%s' (known: auto", name);
    for (const struct meas_backend *const *b = backends; *b && off < errlen; b++)
        off += (size_t)snprintf(err + off, errlen - off, ", %s", (*b)->name);
    if (off < errlen)
        snprintf(err + off, errlen - off, ")");
    return NULL;
}
