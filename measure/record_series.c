/* record_series: per-process series of a recording, smoothed and reduced. */
#include "measure/record_series.h"
#include "util/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *title, *unit;
} queries[] = {
    [RQ_RBS] = {"rbs", "Read bytes per second (io_read_bytes)", "B/s"},
    [RQ_WBS] = {"wbs", "Write bytes per second (io_write_bytes)", "B/s"},
    [RQ_IOPS] = {"iops", "I/O calls per second (io_syscr + io_syscw)", "calls/s"},
    [RQ_FDS] = {"fds", "Open descriptors (fd_*)", "descriptors"},
    [RQ_RSS] = {"rss", "Resident set size (stat_rss)", "MiB"},
    [RQ_CPU] = {"cpu", "CPU usage (stat_utime + stat_stime)", "%"},
};

int rec_query_parse(const char *name, enum rec_query *q)
{
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        if (!strcmp(queries[i].name, name)) {
            *q = (enum rec_query)i;
            return 0;
        }
    return -EINVAL;
}

const char *rec_query_name(enum rec_query q)
{
    return queries[q].name;
}

const char *rec_query_title(enum rec_query q)
{
    return queries[q].title;
}

const char *rec_query_unit(enum rec_query q)
{
    return queries[q].unit;
}

void rec_plot_release(struct rec_plot *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->s[i].pts);
    free(p->s);
    memset(p, 0, sizeof(*p));
}

static double meta_num(const struct rec_data *d, const char *key, double dflt)
{
    const char *s = rec_meta_get(&d->meta, key);
    char *end;
    double v = s ? strtod(s, &end) : 0;
    return s && end != s && v > 0 && isfinite(v) ? v : dflt;
}

/* The query's value of one row (levels), or its counter (rates). */
static bool row_value(const struct rec_row *r, enum rec_query q, double *v)
{
    switch (q) {
    case RQ_RBS:
        *v = (double)r->read_bytes;
        return r->has_io;
    case RQ_WBS:
        *v = (double)r->write_bytes;
        return r->has_io;
    case RQ_IOPS:
        *v = (double)r->syscr + (double)r->syscw;
        return r->has_io;
    case RQ_FDS:
        *v = (double)r->fd_anon + (double)r->fd_dir + (double)r->fd_chr + (double)r->fd_blk +
             (double)r->fd_reg + (double)r->fd_fifo + (double)r->fd_lnk + (double)r->fd_sock;
        return r->has_fd;
    case RQ_RSS:
        *v = (double)r->rss;
        return true;
    case RQ_CPU:
        *v = (double)r->utime + (double)r->stime;
        return true;
    }
    return false;
}

static bool is_rate(enum rec_query q)
{
    return q == RQ_RBS || q == RQ_WBS || q == RQ_IOPS || q == RQ_CPU;
}

/* qsort has no context argument: the arrays being sorted */
static const struct rec_row *sort_rows;
static const size_t *sort_groups, *sort_idx;

static int by_pid_then_row(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int64_t px = sort_rows[x].pid, py = sort_rows[y].pid;
    if (px != py)
        return px < py ? -1 : 1;
    return (x > y) - (x < y);
}

static int by_first_row(const void *a, const void *b)
{
    size_t x = sort_idx[sort_groups[*(const size_t *)a]];
    size_t y = sort_idx[sort_groups[*(const size_t *)b]];
    return (x > y) - (x < y);
}

int rec_series_build(const struct rec_data *d, enum rec_query q, const int64_t *pids, size_t npids,
                     struct rec_plot *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->q = q;
    if ((q == RQ_RBS || q == RQ_WBS || q == RQ_IOPS) && !d->has_io) {
        snprintf(err, errlen, "query '%s' needs the io columns, which this recording lacks",
                 queries[q].name);
        return -ENODATA;
    }
    if (q == RQ_FDS && !d->has_fd) {
        snprintf(err, errlen, "query '%s' needs the fd columns, which this recording lacks",
                 queries[q].name);
        return -ENODATA;
    }
    double tmin = INFINITY, tmax = -INFINITY;
    for (size_t i = 0; i < d->n; i++) {
        if (d->rows[i].ts < tmin)
            tmin = d->rows[i].ts;
        if (d->rows[i].ts > tmax)
            tmax = d->rows[i].ts;
    }
    p->t0 = d->n ? tmin : 0;
    p->duration = d->n ? tmax - tmin : 0;
    double scale = 1;
    if (q == RQ_RSS)
        scale = meta_num(d, "page_size", 4096) / (1024.0 * 1024.0);
    else if (q == RQ_CPU)
        scale = 100.0 / meta_num(d, "clock_ticks", 100);

    /* the rows grouped by pid, each group in record order; the groups are
     * visited in order of their pid's first row */
    size_t *idx = xmalloc((d->n ? d->n : 1) * sizeof(*idx));
    for (size_t i = 0; i < d->n; i++)
        idx[i] = i;
    sort_rows = d->rows;
    qsort(idx, d->n, sizeof(*idx), by_pid_then_row);
    size_t ngroups = 0;
    size_t *group = xmalloc((d->n + 1) * sizeof(*group)); /* start of each group in idx */
    for (size_t i = 0; i < d->n; i++)
        if (i == 0 || d->rows[idx[i]].pid != d->rows[idx[i - 1]].pid)
            group[ngroups++] = i;
    group[ngroups] = d->n;
    size_t *gorder = xmalloc((ngroups ? ngroups : 1) * sizeof(*gorder));
    for (size_t g = 0; g < ngroups; g++)
        gorder[g] = g;
    sort_groups = group;
    sort_idx = idx;
    qsort(gorder, ngroups, sizeof(*gorder), by_first_row);

    size_t cap = 0;
    for (size_t gi = 0; gi < ngroups; gi++) {
        size_t g = gorder[gi];
        int64_t pid = d->rows[idx[group[g]]].pid;
        bool wanted = npids == 0;
        for (size_t k = 0; k < npids; k++)
            wanted |= pids[k] == pid;
        if (!wanted)
            continue;
        struct rec_series s = {.pid = pid};
        size_t scap = 0;
        const struct rec_row *prev = NULL;
        double prev_v = 0;
        for (size_t j = group[g]; j < group[g + 1]; j++) {
            const struct rec_row *r = &d->rows[idx[j]];
            snprintf(s.comm, sizeof(s.comm), "%s", r->comm);
            double v;
            if (!row_value(r, q, &v))
                continue;
            double t = r->ts - p->t0, out;
            if (is_rate(q)) {
                bool ok = prev && r->ts > prev->ts && v >= prev_v;
                out = ok ? (v - prev_v) / (r->ts - prev->ts) * scale : 0;
                prev = r;
                prev_v = v;
                if (!ok)
                    continue;
            } else
                out = v * scale;
            s.pts = xgrow(s.pts, &scap, s.n + 1, sizeof(*s.pts));
            s.pts[s.n].t = t;
            s.pts[s.n].v = out;
            s.n++;
        }
        if (s.n == 0) {
            free(s.pts);
            continue;
        }
        p->s = xgrow(p->s, &cap, p->n + 1, sizeof(*p->s));
        p->s[p->n++] = s;
    }
    free(gorder);
    free(group);
    free(idx);
    return 0;
}

size_t rec_moving_average(const struct rec_point *in, size_t n, size_t w, struct rec_point *out)
{
    if (w == 0)
        w = 1;
    if (n < w)
        return 0;
    size_t m = n - w + 1;
    /* each window's sums from scratch: exact for the pinned vectors, and
     * out may alias in because out[i] only needs in[i..i+w) */
    for (size_t i = 0; i < m; i++) {
        double st = 0, sv = 0;
        for (size_t k = 0; k < w; k++) {
            st += in[i + k].t;
            sv += in[i + k].v;
        }
        out[i].t = st / (double)w;
        out[i].v = sv / (double)w;
    }
    return m;
}

/* Distance of p from the line through a and b (from a when a == b). */
static double dist(struct rec_point p, struct rec_point a, struct rec_point b, double sx, double sy)
{
    double px = p.t * sx, py = p.v * sy, ax = a.t * sx, ay = a.v * sy;
    double dx = b.t * sx - ax, dy = b.v * sy - ay;
    double len = hypot(dx, dy);
    if (len == 0)
        return hypot(px - ax, py - ay);
    return fabs(dy * (px - ax) - dx * (py - ay)) / len;
}

size_t rec_rdp(const struct rec_point *in, size_t n, double eps, double sx, double sy,
               struct rec_point *out)
{
    if (n <= 2 || !(eps > 0)) {
        if (out != in)
            memmove(out, in, n * sizeof(*in));
        return n;
    }
    bool *keep = xcalloc(n, sizeof(*keep));
    size_t *stack = xmalloc(2 * n * sizeof(*stack));
    size_t top = 0;
    keep[0] = keep[n - 1] = true;
    stack[top++] = 0;
    stack[top++] = n - 1;
    while (top > 0) {
        size_t b = stack[--top], a = stack[--top];
        double best = -1;
        size_t at = a;
        for (size_t i = a + 1; i < b; i++) {
            double dd = dist(in[i], in[a], in[b], sx, sy);
            if (dd > best) {
                best = dd;
                at = i;
            }
        }
        if (at > a && best > eps) {
            keep[at] = true;
            stack[top++] = a;
            stack[top++] = at;
            stack[top++] = at;
            stack[top++] = b;
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            out[m++] = in[i];
    free(stack);
    free(keep);
    return m;
}

void rec_plot_reduce(struct rec_plot *p, size_t w, double eps)
{
    double vmax = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct rec_series *s = &p->s[i];
        s->n = rec_moving_average(s->pts, s->n, w, s->pts);
        for (size_t k = 0; k < s->n; k++)
            if (fabs(s->pts[k].v) > vmax)
                vmax = fabs(s->pts[k].v);
    }
    double sx = p->duration > 0 ? 1 / p->duration : 1;
    double sy = vmax > 0 ? 1 / vmax : 1;
    for (size_t i = 0; i < p->n; i++)
        p->s[i].n = rec_rdp(p->s[i].pts, p->s[i].n, eps, sx, sy, p->s[i].pts);
}

int rec_plot_to_json(const struct rec_plot *p, struct buf *out)
{
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "query", json_string(queries[p->q].name));
    json_object_set_new(o, "title", json_string(queries[p->q].title));
    json_object_set_new(o, "unit", json_string(queries[p->q].unit));
    json_object_set_new(o, "t0", json_real(p->t0));
    for (size_t i = 0; i < p->n; i++) {
        const struct rec_series *s = &p->s[i];
        json_t *so = json_object(), *pts = json_array();
        json_object_set_new(so, "pid", json_integer(s->pid));
        json_t *c = json_string(s->comm);
        json_object_set_new(so, "comm", c ? c : json_string("?"));
        for (size_t k = 0; k < s->n; k++)
            json_array_append_new(pts, json_pack("[ff]", s->pts[k].t, s->pts[k].v));
        json_object_set_new(so, "points", pts);
        json_array_append_new(arr, so);
    }
    json_object_set_new(o, "series", arr);
    return rec_put_json_line(o, JSON_REAL_PRECISION(17), out);
}
