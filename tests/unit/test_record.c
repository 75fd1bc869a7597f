/* test_record: `iopsd record`/`plot`'s pure parts: the moving average and
 * Ramer-Douglas-Peucker on known polylines, rates computed per pid, the JSON
 * Lines row and meta forms and their errors, and the chart's pixels. */
#include "measure/record.h"
#include "measure/record_series.h"
#include "render/render_int.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_PTS(pts, n, ...)                                                                     \
    do {                                                                                           \
        static const struct rec_point want_[] = {__VA_ARGS__};                                     \
        size_t nw_ = sizeof(want_) / sizeof(want_[0]);                                             \
        CHECK_INT((n), nw_);                                                                       \
        for (size_t i_ = 0; i_ < nw_ && i_ < (size_t)(n); i_++) {                                  \
            tap_checks++;                                                                          \
            if ((pts)[i_].t != want_[i_].t || (pts)[i_].v != want_[i_].v)                          \
                tap_fail(__FILE__, __LINE__, "point %zu is (%g, %g), expected (%g, %g)", i_,       \
                         (pts)[i_].t, (pts)[i_].v, want_[i_].t, want_[i_].v);                      \
        }                                                                                          \
    } while (0)

static void test_moving_average(void)
{
    struct rec_point in[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 9}};
    struct rec_point out[6];
    size_t n = rec_moving_average(in, 6, 3, out);
    CHECK_PTS(out, n, {1, 2}, {2, 3}, {3, 4}, {4, 6});
    n = rec_moving_average(in, 6, 1, out);
    CHECK_PTS(out, n, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 9});
    n = rec_moving_average(in, 6, 2, out);
    CHECK_PTS(out, n, {0.5, 1.5}, {1.5, 2.5}, {2.5, 3.5}, {3.5, 4.5}, {4.5, 7});
    CHECK_INT(rec_moving_average(in, 6, 7, out), 0);
    n = rec_moving_average(in, 6, 6, out);
    CHECK_PTS(out, n, {2.5, 4});
    /* in place */
    n = rec_moving_average(in, 6, 3, in);
    CHECK_PTS(in, n, {1, 2}, {2, 3}, {3, 4}, {4, 6});
}

static void test_rdp(void)
{
    /* the classic polyline; expected reductions from an independent recursive
     * implementation */
    static const struct rec_point poly[] = {{0, 0}, {1, 0.1}, {2, -0.1}, {3, 5}, {4, 6},
                                            {5, 7}, {6, 8.1}, {7, 9},    {8, 9}, {9, 9}};
    struct rec_point out[10];
    size_t n = rec_rdp(poly, 10, 1.0, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {2, -0.1}, {3, 5}, {7, 9}, {9, 9});
    n = rec_rdp(poly, 10, 0.5, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {2, -0.1}, {3, 5}, {7, 9}, {9, 9});
    n = rec_rdp(poly, 10, 0.05, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {1, 0.1}, {2, -0.1}, {3, 5}, {6, 8.1}, {7, 9}, {9, 9});
    n = rec_rdp(poly, 10, 3.0, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {9, 9});
    /* eps 0 keeps everything */
    CHECK_INT(rec_rdp(poly, 10, 0, 1, 1, out), 10);
    /* a straight line keeps only its ends */
    struct rec_point line[] = {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}};
    n = rec_rdp(line, 5, 0.001, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {4, 4});
    /* a peak at distance 1 stays for eps < 1, goes for eps >= 1 */
    struct rec_point peak[] = {{0, 0}, {1, 1}, {2, 0}};
    n = rec_rdp(peak, 3, 0.9, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {1, 1}, {2, 0});
    n = rec_rdp(peak, 3, 1.0, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {2, 0});
    /* scaling v by 0.5 halves the peak's distance */
    n = rec_rdp(peak, 3, 0.9, 1, 0.5, out);
    CHECK_PTS(out, n, {0, 0}, {2, 0});
    /* a closed loop (first == last): distances from the end point */
    struct rec_point loop[] = {{0, 0}, {3, 4}, {0, 0}};
    n = rec_rdp(loop, 3, 4.9, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {3, 4}, {0, 0});
    n = rec_rdp(loop, 3, 5, 1, 1, out);
    CHECK_PTS(out, n, {0, 0}, {0, 0});
    /* one and two points are kept as they are; in place works */
    CHECK_INT(rec_rdp(poly, 1, 1, 1, 1, out), 1);
    CHECK_INT(rec_rdp(poly, 2, 1, 1, 1, out), 2);
    struct rec_point copy[10];
    memcpy(copy, poly, sizeof(copy));
    n = rec_rdp(copy, 10, 1.0, 1, 1, copy);
    CHECK_PTS(copy, n, {0, 0}, {2, -0.1}, {3, 5}, {7, 9}, {9, 9});
}

static struct rec_row *add(struct rec_data *d, int64_t pid, double ts, int64_t wb, int64_t ticks)
{
    d->rows = realloc(d->rows, (d->n + 1) * sizeof(*d->rows));
    struct rec_row *r = &d->rows[d->n++];
    memset(r, 0, sizeof(*r));
    r->record_id = (int64_t)d->n;
    r->pid = pid;
    r->ts = ts;
    snprintf(r->comm, sizeof(r->comm), "p%lld", (long long)pid);
    r->has_io = r->has_fd = true;
    r->write_bytes = wb;
    r->syscr = wb / 100;
    r->utime = ticks;
    r->stime = ticks;
    r->rss = 256;
    r->fd_reg = pid % 10;
    r->fd_sock = 1;
    return r;
}

static void test_series(void)
{
    struct rec_data d;
    rec_data_init(&d);
    d.has_io = d.has_fd = true;
    rec_meta_set(&d.meta, "page_size", "4096");
    rec_meta_set(&d.meta, "clock_ticks", "100");
    /* pid 7 writes 1000 B/s, pid 8 3000 B/s then its counter goes back
     * (a reused pid): that difference gives no point */
    add(&d, 7, 100.0, 0, 0);
    add(&d, 8, 100.0, 0, 0);
    add(&d, 7, 100.5, 500, 5);
    add(&d, 8, 100.5, 1500, 10);
    add(&d, 7, 101.5, 1500, 10);
    add(&d, 8, 101.5, 100, 10);
    add(&d, 8, 102.0, 1600, 10);
    struct rec_plot p;
    char err[200];
    CHECK_INT(rec_series_build(&d, RQ_WBS, NULL, 0, &p, err, sizeof(err)), 0);
    CHECK_INT(p.n, 2);
    CHECK(p.t0 == 100.0 && p.duration == 2.0);
    CHECK_INT(p.s[0].pid, 7);
    CHECK_STR(p.s[0].comm, "p7");
    CHECK_PTS(p.s[0].pts, p.s[0].n, {0.5, 1000}, {1.5, 1000});
    CHECK_PTS(p.s[1].pts, p.s[1].n, {0.5, 3000}, {2.0, 3000});
    rec_plot_release(&p);
    /* cpu: (utime + stime) ticks over clock_ticks, in % */
    CHECK_INT(rec_series_build(&d, RQ_CPU, NULL, 0, &p, err, sizeof(err)), 0);
    CHECK_PTS(p.s[0].pts, p.s[0].n, {0.5, 20}, {1.5, 10});
    rec_plot_release(&p);
    /* levels: every row; rss in MiB of 4 KiB pages; fds the sum of the kinds */
    int64_t only8 = 8;
    CHECK_INT(rec_series_build(&d, RQ_RSS, &only8, 1, &p, err, sizeof(err)), 0);
    CHECK_INT(p.n, 1);
    CHECK_PTS(p.s[0].pts, p.s[0].n, {0, 1}, {0.5, 1}, {1.5, 1}, {2, 1});
    rec_plot_release(&p);
    CHECK_INT(rec_series_build(&d, RQ_FDS, NULL, 0, &p, err, sizeof(err)), 0);
    CHECK_PTS(p.s[0].pts, p.s[0].n, {0, 8}, {0.5, 8}, {1.5, 8});
    rec_plot_release(&p);
    CHECK_INT(rec_series_build(&d, RQ_IOPS, NULL, 0, &p, err, sizeof(err)), 0);
    CHECK_PTS(p.s[0].pts, p.s[0].n, {0.5, 10}, {1.5, 10});
    rec_plot_release(&p);
    /* a pid filter matching nothing: no series */
    int64_t none = 99;
    CHECK_INT(rec_series_build(&d, RQ_WBS, &none, 1, &p, err, sizeof(err)), 0);
    CHECK_INT(p.n, 0);
    rec_plot_release(&p);
    /* a recording without io cannot give rates of io */
    d.has_io = false;
    CHECK_INT(rec_series_build(&d, RQ_RBS, NULL, 0, &p, err, sizeof(err)), -ENODATA);
    CHECK(strstr(err, "io columns") != NULL);
    d.has_fd = false;
    CHECK_INT(rec_series_build(&d, RQ_FDS, NULL, 0, &p, err, sizeof(err)), -ENODATA);
    /* reduce: window 2 then RDP on the unit square */
    d.has_io = true;
    CHECK_INT(rec_series_build(&d, RQ_WBS, NULL, 0, &p, err, sizeof(err)), 0);
    rec_plot_reduce(&p, 2, 0.01);
    CHECK_PTS(p.s[0].pts, p.s[0].n, {1, 1000});
    rec_plot_release(&p);
    rec_data_release(&d);

    enum rec_query q;
    CHECK_INT(rec_query_parse("wbs", &q), 0);
    CHECK_INT(q, RQ_WBS);
    CHECK_INT(rec_query_parse("WBS", &q), -EINVAL);
    CHECK_INT(rec_query_parse("", &q), -EINVAL);
}

static void test_jsonl(void)
{
    struct rec_row r, back;
    memset(&r, 0, sizeof(r));
    r.record_id = 42;
    r.ts = 1796217065.7823255;
    r.pid = 1234;
    r.ppid = 1;
    r.state[0] = 'S';
    snprintf(r.comm, sizeof(r.comm), "a \"b\" c");
    r.utime = 3;
    r.rss = 999;
    r.delayacct_blkio_ticks = 7;
    r.has_io = true;
    r.wchar = 10485760;
    r.syscw = 2560;
    r.cancelled_write_bytes = 4096;
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(rec_row_to_jsonl(&r, &b), 0);
    CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
    CHECK(strstr(b.data, "\"fd_anon\":null") != NULL);
    CHECK(strstr(b.data, "\"io_wchar\":10485760") != NULL);
    bool is_meta = true;
    char err[200];
    CHECK_INT(rec_parse_jsonl(b.data, b.len - 1, &back, &is_meta, NULL, err, sizeof(err)), 0);
    CHECK(!is_meta);
    CHECK_INT(back.record_id, 42);
    CHECK(back.ts == r.ts);
    CHECK_INT(back.pid, 1234);
    CHECK_STR(back.comm, "a \"b\" c");
    CHECK_STR(back.state, "S");
    CHECK_INT(back.rss, 999);
    CHECK_INT(back.delayacct_blkio_ticks, 7);
    CHECK(back.has_io && !back.has_fd);
    CHECK_INT(back.wchar, 10485760);
    CHECK_INT(back.syscw, 2560);
    CHECK_INT(back.cancelled_write_bytes, 4096);

    struct rec_meta m, m2;
    rec_meta_init(&m);
    rec_meta_init(&m2);
    rec_meta_set(&m, "page_size", "4096");
    rec_meta_set(&m, "interval", "0.5");
    rec_meta_set(&m, "page_size", "16384");
    CHECK_INT(m.n, 2);
    buf_reset(&b);
    CHECK_INT(rec_meta_to_jsonl(&m, &b), 0);
    CHECK_STR(b.data, "{\"meta\":{\"page_size\":\"16384\",\"interval\":\"0.5\"}}\n");
    CHECK_INT(rec_parse_jsonl(b.data, b.len, &back, &is_meta, &m2, err, sizeof(err)), 0);
    CHECK(is_meta);
    CHECK_STR(rec_meta_get(&m2, "page_size"), "16384");
    const char *num = "{\"meta\":{\"clock_ticks\":100,\"x\":0.25,\"skip\":[1]}}";
    CHECK_INT(rec_parse_jsonl(num, strlen(num), &back, &is_meta, &m2, err, sizeof(err)), 0);
    CHECK_STR(rec_meta_get(&m2, "clock_ticks"), "100");
    CHECK_STR(rec_meta_get(&m2, "x"), "0.25");
    CHECK(rec_meta_get(&m2, "skip") == NULL);
    rec_meta_release(&m);
    rec_meta_release(&m2);
    buf_release(&b);

    static const struct {
        const char *line, *why;
    } bad[] = {
        {"{\"record_id\": 1, \"ts\": ", "not JSON"},
        {"[1, 2]", "not a JSON object"},
        {"{\"record_id\": 1, \"stat_pid\": 2}", "required"},
        {"{\"record_id\": 1, \"ts\": \"x\", \"stat_pid\": 2}", "ts is not a number"},
        {"{\"record_id\": 1.5, \"ts\": 1, \"stat_pid\": 2}", "record_id is not an integer"},
        {"{\"record_id\": 1, \"ts\": 1, \"stat_pid\": 2, \"stat_comm\": 5}", "not a string"},
        {"{\"record_id\": 1, \"ts\": 1, \"stat_pid\": 2, \"io_wchar\": 5}", "incomplete"},
        {"{\"meta\": 3}", "not an object"},
        {"{\"record_id\": 1, \"record_id\": 2, \"ts\": 1, \"stat_pid\": 2}", "not JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK_INT(rec_parse_jsonl(bad[i].line, strlen(bad[i].line), &back, &is_meta, NULL, err,
                                  sizeof(err)),
                  -EBADMSG);
        if (!strstr(err, bad[i].why))
            tap_fail(__FILE__, __LINE__, "bad[%zu]: \"%s\" does not say \"%s\"", i, err,
                     bad[i].why);
    }
    char *huge = malloc(REC_MAX_LINE + 2);
    memset(huge, ' ', REC_MAX_LINE + 1);
    CHECK_INT(rec_parse_jsonl(huge, REC_MAX_LINE + 1, &back, &is_meta, NULL, err, sizeof(err)),
              -EBADMSG);
    CHECK(strstr(err, "64 KiB") != NULL);
    free(huge);

    CHECK(rec_path_is_sqlite("a.sqlite"));
    CHECK(!rec_path_is_sqlite("a.sqlite3"));
    CHECK(!rec_path_is_sqlite(".sqlit"));
    CHECK(rec_column_find("io_read_bytes", 13) != NULL);
    CHECK(rec_column_find("io_read", 7) == NULL);
    CHECK_INT(rec_ncolumns, 26);
}

/* Three flat lines at 1, 4 and 2: each line's last point is its colour, and
 * the highest value is drawn highest. */
static void test_plot_pixels(void)
{
    struct rec_plot p = {.q = RQ_WBS, .t0 = 0, .duration = 10};
    static const double level[] = {1000, 4000, 2000};
    p.n = 3;
    p.s = calloc(3, sizeof(*p.s));
    for (size_t i = 0; i < 3; i++) {
        p.s[i].pid = 100 + (int64_t)i;
        snprintf(p.s[i].comm, sizeof(p.s[i].comm), "w%zu", i);
        p.s[i].n = 11;
        p.s[i].pts = calloc(11, sizeof(struct rec_point));
        for (size_t k = 0; k < 11; k++)
            p.s[i].pts[k] = (struct rec_point){(double)k, level[i]};
    }
    struct canvas c;
    struct plot_layout l;
    CHECK_INT(render__plot_canvas(&p, &c, &l), 0);
    CHECK_INT(l.nshown, 3);
    int y[3];
    for (size_t k = 0; k < l.nshown; k++) {
        const struct rec_series *s = &p.s[l.shown[k]];
        int x;
        render__plot_xy(&l, s->pts[10].t, s->pts[10].v, &x, &y[l.shown[k]]);
        CHECK_INT(x, l.x1);
        CHECK_INT(render__pixel(&c, x, y[l.shown[k]]), PLOT_C_SERIES + k);
        /* and the middle of the line */
        render__plot_xy(&l, 5, s->pts[5].v, &x, &y[l.shown[k]]);
        CHECK_INT(render__pixel(&c, x, y[l.shown[k]]), PLOT_C_SERIES + k);
    }
    CHECK(y[1] < y[2] && y[2] < y[0]); /* 4000 above 2000 above 1000 */
    CHECK(l.vmax == 4000);
    free(c.px);
    struct buf png;
    buf_init(&png, 0);
    size_t omitted = 99;
    CHECK_INT(render_plot_png(&p, &png, &omitted), 0);
    CHECK_INT(omitted, 0);
    CHECK(png.len > 8 && !memcmp(png.data, "\x89PNG", 4));
    buf_release(&png);
    rec_plot_release(&p);

    /* twelve lines: the ten with the largest means are drawn, in order */
    p = (struct rec_plot){.q = RQ_RSS, .duration = 1, .n = 12};
    p.s = calloc(12, sizeof(*p.s));
    for (size_t i = 0; i < 12; i++) {
        p.s[i].pid = (int64_t)i;
        p.s[i].n = 2;
        p.s[i].pts = calloc(2, sizeof(struct rec_point));
        p.s[i].pts[0] = (struct rec_point){0, (double)((i * 5) % 12)};
        p.s[i].pts[1] = (struct rec_point){1, (double)((i * 5) % 12)};
    }
    CHECK_INT(render__plot_canvas(&p, &c, &l), 0);
    CHECK_INT(l.nshown, 10);
    /* values (i*5)%12: pid 0 -> 0 and pid 5 -> 1 are the two smallest */
    size_t want[] = {1, 2, 3, 4, 6, 7, 8, 9, 10, 11};
    for (size_t k = 0; k < 10; k++)
        CHECK_INT(l.shown[k], want[k]);
    free(c.px);
    rec_plot_release(&p);
    p = (struct rec_plot){0};
    CHECK_INT(render__plot_canvas(&p, &c, &l), -ENODATA);
}

int main(void)
{
    test_moving_average();
    test_rdp();
    test_series();
    test_jsonl();
    test_plot_pixels();
    return tap_done("test_record");
}
