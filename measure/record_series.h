/* record_series: what `iopsd plot` draws, computed from a recording the
 * Procpath way: one series per process; rates are differences between
 * consecutive rows of the same pid divided by the difference of their `ts`
 * (the first row of each pid gives no rate); then a moving average and a
 * Ramer-Douglas-Peucker reduction. Pure functions over arrays. */
#ifndef IOPSD_RECORD_SERIES_H
#define IOPSD_RECORD_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "measure/record.h"

enum rec_query { RQ_RBS, RQ_WBS, RQ_IOPS, RQ_FDS, RQ_RSS, RQ_CPU };

/* "rbs", "wbs", "iops", "fds", "rss", "cpu": 0 or -EINVAL. */
int rec_query_parse(const char *name, enum rec_query *q);
const char *rec_query_name(enum rec_query q);
/* The chart's title ("Write bytes per second") and unit ("B/s"). */
const char *rec_query_title(enum rec_query q);
const char *rec_query_unit(enum rec_query q);

struct rec_point {
    double t; /* seconds since the recording's first sample */
    double v;
};

struct rec_series {
    int64_t pid;
    char comm[64]; /* of the pid's last row */
    struct rec_point *pts;
    size_t n;
};

struct rec_plot {
    enum rec_query q;
    double t0;       /* ts of the recording's first sample (Unix time) */
    double duration; /* seconds from the first to the last sample */
    struct rec_series *s;
    size_t n;
};

void rec_plot_release(struct rec_plot *p);

/* Builds one series per pid of d (only those in pids[0..npids) when npids >
 * 0), in order of first appearance; pids without a point are left out.
 * Returns 0, or -ENODATA with err set when the query's source was not
 * recorded (io for rbs/wbs/iops, fd for fds). */
int rec_series_build(const struct rec_data *d, enum rec_query q, const int64_t *pids, size_t npids,
                     struct rec_plot *p, char *err, size_t errlen);

/* The moving average of in[0..n) over windows of w points (w >= 1): n - w + 1
 * points (none when n < w), each the mean t and mean v of its window. out
 * may be in. Returns the number of points written. */
size_t rec_moving_average(const struct rec_point *in, size_t n, size_t w, struct rec_point *out);

/* Ramer-Douglas-Peucker on in[0..n): keeps the first and last point and every
 * point farther than eps from the chord of the part it lies in, distances
 * measured on (t * sx, v * sy). Writes the kept points to out (may be in), in
 * order; returns how many. eps <= 0 keeps every point. */
size_t rec_rdp(const struct rec_point *in, size_t n, double eps, double sx, double sy,
               struct rec_point *out);

/* The moving average (window w) of every series, then RDP with eps on the
 * plot normalised to a unit square (t over the duration, v over the largest
 * value of the averaged series), so that eps is a fraction of the chart. */
void rec_plot_reduce(struct rec_plot *p, size_t w, double eps);

/* The plot as JSON ({"query", "title", "unit", "series": [{"pid", "comm",
 * "points": [[t, v], ...]}]}), appended to out with a newline. */
int rec_plot_to_json(const struct rec_plot *p, struct buf *out);

#endif
