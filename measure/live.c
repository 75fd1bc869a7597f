/* live: the pure parts of the live watcher (see live.h): the alert
 * crossings, the rates and the texts. The watcher is live_linux.c. */
#include "measure/live.h"
#include "util/numfmt.h"

#include <stdarg.h>
#include <stdio.h>

/* ---- pure parts ---- */

bool live_alert_step(struct live_alert *a, double value)
{
    if (a->off)
        return false;
    if (value >= a->threshold) {
        if (a->above)
            return false;
        a->above = true;
        return true;
    }
    a->above = false;
    return false;
}

bool live_rates(const struct meas_progress *a, const struct meas_progress *b, double *iops,
                double *bps)
{
    double dt = b->elapsed_seconds - a->elapsed_seconds;
    if (!(dt >= 0.001))
        return false;
    uint64_t ops0 = a->read_ops + a->write_ops, ops1 = b->read_ops + b->write_ops;
    uint64_t by0 = a->read_bytes + a->write_bytes, by1 = b->read_bytes + b->write_bytes;
    *iops = ops1 > ops0 ? (double)(ops1 - ops0) / dt : 0;
    *bps = by1 > by0 ? (double)(by1 - by0) / dt : 0;
    return true;
}

static size_t put(char *s, size_t n, size_t o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *s, size_t n, size_t o, const char *fmt, ...)
{
    if (o >= n)
        return o;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(s + o, n - o, fmt, ap);
    va_end(ap);
    if (k < 0)
        return o;
    return o + (size_t)k >= n ? n - 1 : o + (size_t)k;
}

size_t live_format_status(char *s, size_t n, const char *backend, const struct meas_progress *cur,
                          const struct meas_progress *prev)
{
    char a[32], b[32], c[32];
    size_t o = put(s, n, 0, "iopsd: status at %.2f s (%s backend, the run goes on)\n",
                   cur->elapsed_seconds, backend);
    o = put(s, n, o, "  reads   %s ops  %s B (%s)\n", numfmt_count(a, sizeof a, cur->read_ops),
            numfmt_count(b, sizeof b, cur->read_bytes), numfmt_bytes(c, sizeof c, cur->read_bytes));
    o = put(s, n, o, "  writes  %s ops  %s B (%s)\n", numfmt_count(a, sizeof a, cur->write_ops),
            numfmt_count(b, sizeof b, cur->write_bytes),
            numfmt_bytes(c, sizeof c, cur->write_bytes));
    double iops, bps;
    if (prev && live_rates(prev, cur, &iops, &bps))
        o = put(s, n, o, "  now     %s IOPS  %s/s (over the last %.2f s)\n",
                numfmt_count(a, sizeof a, (uint64_t)(iops + 0.5)),
                numfmt_bytes(b, sizeof b, (uint64_t)(bps + 0.5)),
                cur->elapsed_seconds - prev->elapsed_seconds);
    else
        o = put(s, n, o, "  now     not known yet\n");
    if (cur->open_fds >= 0)
        o = put(s, n, o, "  open descriptors  %ld\n", cur->open_fds);
    else
        o = put(s, n, o, "  open descriptors  not known\n");
    return o;
}

size_t live_format_alert(char *s, size_t n, enum finding_rule rule, double value, double threshold,
                         double elapsed, double window)
{
    char a[32], b[32];
    const char *name = finding_rule_name(rule);
    switch (rule) {
    case FR_FD_COUNT:
        return put(s, n, 0,
                   "iopsd: alert %s: %s descriptors open at %.2f s, at or above %s "
                   "(--alert %s=VALUE|off)\n",
                   name, numfmt_count(a, sizeof a, (uint64_t)value), elapsed,
                   numfmt_count(b, sizeof b, (uint64_t)threshold), name);
    case FR_IOPS:
        return put(s, n, 0,
                   "iopsd: alert %s: %s reads and writes per second over %.2f s at %.2f s, at "
                   "or above %s (--alert %s=VALUE|off)\n",
                   name, numfmt_count(a, sizeof a, (uint64_t)(value + 0.5)), window, elapsed,
                   numfmt_count(b, sizeof b, (uint64_t)threshold), name);
    default:
        return put(s, n, 0,
                   "iopsd: alert %s: %s/s read and written over %.2f s at %.2f s, at or above "
                   "%s/s (--alert %s=VALUE|off)\n",
                   name, numfmt_bytes(a, sizeof a, (uint64_t)(value + 0.5)), window, elapsed,
                   numfmt_bytes(b, sizeof b, (uint64_t)threshold), name);
    }
}
