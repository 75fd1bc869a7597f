/* test_render_png: the PNG decoded back with libpng: dimensions, bars where
 * the layout says with the right colour and height, nothing drawn for empty
 * histograms, one bar for a one-bucket report, identical bytes twice; plus the
 * display bundle, base64 and the number formatting. */
#include "measure/report_json.h"
#include "render/render.h"
#include "render/render_int.h"
#include "tests/unit/tap.h"
#include "tests/unit/test_render_fixtures.h"

#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

struct image {
    unsigned w, h;
    uint8_t *rgb;
};

static int decode(const struct buf *b, struct image *im)
{
    png_image pi;
    memset(&pi, 0, sizeof(pi));
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, b->data, b->len))
        return -1;
    pi.format = PNG_FORMAT_RGB;
    im->w = pi.width;
    im->h = pi.height;
    im->rgb = malloc(PNG_IMAGE_SIZE(pi));
    if (!png_image_finish_read(&pi, NULL, im->rgb, 0, NULL)) {
        free(im->rgb);
        return -1;
    }
    return 0;
}

static uint32_t px(const struct image *im, int x, int y)
{
    const uint8_t *p = im->rgb + ((size_t)y * im->w + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Runs of colour rgb along row y between x0 and x1. */
static int runs(const struct image *im, int y, int x0, int x1, uint32_t rgb, int *width)
{
    int n = 0, w = 0;
    bool in = false;
    for (int x = x0; x < x1; x++) {
        bool hit = px(im, x, y) == rgb;
        if (hit && !in)
            n++;
        if (hit)
            w++;
        in = hit;
    }
    if (width)
        *width = w;
    return n;
}

/* Checks that the bar of (bucket, series, v) is a solid rectangle of rgb of
 * exactly the expected height, standing on the axis. */
static void check_bar(const struct image *im, const struct png_panel *p, unsigned scale,
                      unsigned bucket, int series, double v, int want_h, uint32_t rgb)
{
    int bx0, bx1, by;
    render__png_bar(p, scale, bucket, series, v, &bx0, &bx1, &by);
    CHECK_INT(p->y1 - by, want_h);
    CHECK(bx1 - bx0 >= 4);
    int bad = 0;
    for (int y = by; y < p->y1; y++)
        for (int x = bx0; x < bx1; x++)
            bad += px(im, x, y) != rgb;
    CHECK_INT(bad, 0);
    int cx = (bx0 + bx1) / 2;
    CHECK(px(im, cx, by - 1) != rgb);              /* nothing above the bar */
    CHECK_U64(px(im, cx, p->y1), RENDER_RGB_AXIS); /* it stands on the axis */
}

static void one_bucket(void)
{
    struct report r;
    report_init(&r);
    snprintf(r.backend, sizeof(r.backend), "trace");
    r.detailed = true;
    /* 100 reads and 50 writes of exactly 4 KiB: bucket 13 = [4096, 8192) */
    r.size_hist[report_size_bucket(4096)] = (struct size_bucket){100, 50, 409600, 204800};
    CHECK_INT(report_size_bucket(4096), 13);
    struct buf b;
    buf_init(&b, 0);
    struct render_png_info info;
    CHECK_INT(render_png(&r, NULL, &b, &info), 0);
    CHECK_INT(info.width, 1600);
    CHECK_INT(info.height, 630);
    CHECK_INT(info.display_width, 800);
    CHECK_INT(info.display_height, 315);
    CHECK(b.len < 60 * 1024);

    struct png_layout l;
    struct render_opts o;
    render_opts_init(&o);
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK_INT(l.npanels, 2);
    const struct png_panel *ops = &l.panel[0], *bytes = &l.panel[1];
    CHECK_INT(ops->kind, PANEL_OPS);
    CHECK_INT(bytes->kind, PANEL_BYTES);
    /* The single size is widened to 8 buckets, 256 B .. 32 KiB: 4K is slot 4. */
    CHECK_INT(ops->first, 9);
    CHECK_INT(ops->nslots, 8);
    CHECK(ops->ymax == 100); /* 100 operations: the read bar is the full height */
    CHECK(bytes->ymax == 409600);

    struct image im;
    CHECK_INT(decode(&b, &im), 0);
    CHECK_INT(im.w, 1600);
    CHECK_INT(im.h, 630);
    int ph = ops->y1 - ops->y0;
    CHECK_INT(ph, 2 * (250 - 46 - 26));
    check_bar(&im, ops, 2, 13, 0, 100, ph, RENDER_RGB_READ);
    check_bar(&im, ops, 2, 13, 1, 50, ph / 2, RENDER_RGB_WRITE);
    check_bar(&im, bytes, 2, 13, 0, 409600, bytes->y1 - bytes->y0, RENDER_RGB_READ);
    check_bar(&im, bytes, 2, 13, 1, 204800, (bytes->y1 - bytes->y0) / 2, RENDER_RGB_WRITE);

    /* The read bar sits in the left half of slot 4 of 8. */
    int bx0, bx1, by;
    render__png_bar(ops, 2, 13, 0, 100, &bx0, &bx1, &by);
    int slot = (ops->x1 - ops->x0) / 8;
    CHECK(bx0 >= ops->x0 + 4 * slot && bx0 < ops->x0 + 4 * slot + slot / 4);
    CHECK(bx1 <= ops->x0 + 4 * slot + slot / 2 + 1);

    /* Exactly one read bar and one write bar in each plot, nothing else in
     * those colours inside the plot areas. */
    for (int i = 0; i < 2; i++) {
        const struct png_panel *p = &l.panel[i];
        int w;
        CHECK_INT(runs(&im, p->y1 - 1, p->x0, p->x1, RENDER_RGB_READ, &w), 1);
        render__png_bar(p, 2, 13, 0, 1, &bx0, &bx1, &by);
        CHECK_INT(w, bx1 - bx0);
        CHECK_INT(runs(&im, p->y1 - 1, p->x0, p->x1, RENDER_RGB_WRITE, NULL), 1);
        int colored = 0;
        for (int y = p->y0; y < p->y1; y++)
            for (int x = p->x0; x < p->x1; x++) {
                uint32_t c = px(&im, x, y);
                colored += c == RENDER_RGB_READ || c == RENDER_RGB_WRITE;
            }
        int rb0, rb1, rby, wb0, wb1, wby;
        render__png_bar(p, 2, 13, 0, i ? 409600 : 100, &rb0, &rb1, &rby);
        render__png_bar(p, 2, 13, 1, i ? 204800 : 50, &wb0, &wb1, &wby);
        CHECK_INT(colored, (rb1 - rb0) * (p->y1 - rby) + (wb1 - wb0) * (p->y1 - wby));
    }
    free(im.rgb);

    /* Deterministic: the same bytes again. */
    struct buf again;
    buf_init(&again, 0);
    CHECK_INT(render_png(&r, NULL, &again, NULL), 0);
    CHECK(again.len == b.len && !memcmp(again.data, b.data, b.len));
    buf_release(&again);
    buf_release(&b);
    report_release(&r);
}

static void nothing_to_draw(void)
{
    struct report r;
    report_init(&r);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "keep");
    /* Not detailed (proc backend): nothing to draw, out untouched. */
    r.read_ops = 10;
    r.read_bytes = 40960;
    CHECK_INT(render_png(&r, NULL, &b, NULL), -ENODATA);
    /* Detailed but empty histograms. */
    r.detailed = true;
    CHECK_INT(render_png(&r, NULL, &b, NULL), -ENODATA);
    r.has_latency = true;
    CHECK_INT(render_png(&r, NULL, &b, NULL), -ENODATA);
    /* Histograms switched off. */
    r.size_hist[13].read_ops = 10;
    struct render_opts o;
    render_opts_init(&o);
    o.histograms = false;
    CHECK_INT(render_png(&r, &o, &b, NULL), -ENODATA);
    CHECK_STR(b.data, "keep");
    /* A latency panel only appears when latencies were measured and nonzero. */
    struct png_layout l;
    render_opts_init(&o);
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK_INT(l.npanels, 2);
    r.lat_hist[12].read_ops = 3;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK_INT(l.npanels, 3);
    CHECK_INT(l.panel[2].kind, PANEL_LATENCY);
    r.has_latency = false;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK_INT(l.npanels, 2);
    buf_release(&b);
    report_release(&r);
}

static void zero_byte_ops(void)
{
    /* Only zero-byte operations (reads at EOF): drawn in bucket 0, "0". */
    struct report r;
    report_init(&r);
    r.detailed = true;
    r.size_hist[0].read_ops = 10; /* axis top exactly 10 */
    struct render_opts o;
    render_opts_init(&o);
    struct png_layout l;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK_INT(l.panel[0].first, 0);
    CHECK_INT(l.panel[0].nslots, 8);
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(render_png(&r, NULL, &b, NULL), 0);
    struct image im;
    CHECK_INT(decode(&b, &im), 0);
    const struct png_panel *p = &l.panel[0];
    CHECK(p->ymax == 10);
    check_bar(&im, p, 2, 0, 0, 10, p->y1 - p->y0, RENDER_RGB_READ);
    CHECK_INT(runs(&im, p->y1 - 1, p->x0, p->x1, RENDER_RGB_READ, NULL), 1);
    /* Zero bytes: the bytes panel has no bar at all. */
    const struct png_panel *q = &l.panel[1];
    CHECK_INT(runs(&im, q->y1 - 1, q->x0, q->x1, RENDER_RGB_READ, NULL), 0);
    free(im.rgb);
    buf_release(&b);
    report_release(&r);
}

static void one_series(void)
{
    /* Writes only: the write bar takes the whole slot, centred on its label. */
    struct report r;
    report_init(&r);
    r.detailed = true;
    r.size_hist[13] = (struct size_bucket){0, 20, 0, 81920};
    struct render_opts o;
    render_opts_init(&o);
    struct png_layout l;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    const struct png_panel *p = &l.panel[0];
    CHECK_INT(p->series, 2);
    int bx0, bx1, by;
    render__png_bar(p, 2, 13, 1, 20, &bx0, &bx1, &by);
    int e0 = p->x0 + 4 * (p->x1 - p->x0) / 8, e1 = p->x0 + 5 * (p->x1 - p->x0) / 8;
    CHECK_INT(bx0, e0 + (e1 - e0) / 8);
    CHECK_INT(bx1, e1 - (e1 - e0) / 8);
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(render_png(&r, NULL, &b, NULL), 0);
    struct image im;
    CHECK_INT(decode(&b, &im), 0);
    check_bar(&im, p, 2, 13, 1, 20, p->y1 - p->y0, RENDER_RGB_WRITE);
    int w;
    CHECK_INT(runs(&im, p->y1 - 1, p->x0, p->x1, RENDER_RGB_WRITE, &w), 1);
    CHECK_INT(w, bx1 - bx0);
    CHECK_INT(runs(&im, p->y1 - 1, p->x0, p->x1, RENDER_RGB_READ, NULL), 0);
    free(im.rgb);
    buf_release(&b);
    report_release(&r);
}

static void full_fixture(void)
{
    struct report r;
    report_init(&r);
    CHECK_INT(render_fixture_build("full", &r), 0);
    struct buf b;
    buf_init(&b, 0);
    struct render_png_info info;
    CHECK_INT(render_png(&r, NULL, &b, &info), 0);
    CHECK_INT(info.width, 1600);
    CHECK_INT(info.height, 1130);
    CHECK(b.len < 60 * 1024);
    struct image im;
    CHECK_INT(decode(&b, &im), 0);
    struct render_opts o;
    render_opts_init(&o);
    struct png_layout l;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK_INT(l.npanels, 3);
    /* latency: 1,500 writes in bucket 11 are the tallest (axis top 1,500) */
    const struct png_panel *lat = &l.panel[2];
    CHECK(lat->ymax == 1500);
    check_bar(&im, lat, 2, 11, 1, 1500, lat->y1 - lat->y0, RENDER_RGB_WRITE);
    check_bar(&im, lat, 2, 10, 0, 1200, (int)(1200.0 / 1500 * (lat->y1 - lat->y0) + 0.5),
              RENDER_RGB_READ);
    /* the single write in bucket 21 is drawn at the minimum height, 1 px at 1x */
    check_bar(&im, lat, 2, 21, 1, 1, 2, RENDER_RGB_WRITE);
    free(im.rgb);

    /* scale 1: half the pixels */
    o.scale = 1;
    buf_reset(&b);
    CHECK_INT(render_png(&r, &o, &b, &info), 0);
    CHECK_INT(info.width, 800);
    CHECK_INT(info.display_width, 800);
    CHECK_INT(info.height, 565);
    buf_release(&b);
    report_release(&r);
}

static void bundle(void)
{
    struct report r;
    report_init(&r);
    CHECK_INT(render_fixture_build("full", &r), 0);
    struct display_bundle db;
    display_bundle_init(&db);
    CHECK_INT(render_bundle(&r, NULL, &db), 0);
    CHECK(db.has_png);
    CHECK_INT(db.png_info.display_width, 800);
    CHECK_INT(db.png_info.display_height, 565);
    CHECK(db.text.len > 0 && strstr(db.text.data, "5,121") != NULL);
    CHECK(strstr(db.html.data, "<img class=\"iopsd-i\" width=\"800\" height=\"565\"") != NULL);
    CHECK(strstr(db.html.data, "<script") == NULL);
    struct buf b64;
    buf_init(&b64, 0);
    render_base64(&b64, db.png.data, db.png.len);
    CHECK(strstr(db.html.data, b64.data) != NULL);
    json_t *data, *meta;
    CHECK_INT(display_bundle_to_jupyter(&db, &data, &meta), 0);
    CHECK_INT(json_object_size(data), 4);
    CHECK_STR(json_string_value(json_object_get(data, "image/png")), b64.data);
    CHECK_STR(
        json_string_value(json_object_get(json_object_get(data, "application/json"), "schema")),
        REPORT_SCHEMA);
    CHECK_STR(json_string_value(json_object_get(data, "text/plain")), db.text.data);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(meta, "image/png"), "width")),
              800);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(meta, "image/png"), "height")),
              565);
    json_decref(data);
    json_decref(meta);
    buf_release(&b64);
    display_bundle_release(&db);

    /* A proc report: no PNG, no image/png, no <img>. */
    report_release(&r);
    report_init(&r);
    CHECK_INT(render_fixture_build("tiny", &r), 0);
    display_bundle_init(&db);
    CHECK_INT(render_bundle(&r, NULL, &db), 0);
    CHECK(!db.has_png);
    CHECK_INT(db.png.len, 0);
    CHECK(strstr(db.html.data, "<img") == NULL);
    CHECK_INT(display_bundle_to_jupyter(&db, &data, &meta), 0);
    CHECK_INT(json_object_size(data), 3);
    CHECK(json_object_get(data, "image/png") == NULL);
    CHECK_INT(json_object_size(meta), 0);
    json_decref(data);
    json_decref(meta);
    display_bundle_release(&db);

    /* histograms off: no PNG and no size table even for a traced report */
    report_release(&r);
    report_init(&r);
    CHECK_INT(render_fixture_build("full", &r), 0);
    struct render_opts o;
    render_opts_init(&o);
    o.histograms = false;
    display_bundle_init(&db);
    CHECK_INT(render_bundle(&r, &o, &db), 0);
    CHECK(!db.has_png);
    CHECK(strstr(db.text.data, "Operation sizes") == NULL);
    CHECK(strstr(db.html.data, "<img") == NULL);
    display_bundle_release(&db);
    report_release(&r);
}

static void base64(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        struct buf b;
        buf_init(&b, 0);
        buf_puts(&b, "");
        CHECK_INT(render_base64(&b, in[i], strlen(in[i])), 0);
        CHECK_STR(b.data, out[i]);
        buf_release(&b);
    }
}

static void formatting(void)
{
    char s[RFMT_MAX];
    CHECK_STR(render__count(s, sizeof(s), 0), "0");
    CHECK_STR(render__count(s, sizeof(s), 999), "999");
    CHECK_STR(render__count(s, sizeof(s), 1000), "1,000");
    CHECK_STR(render__count(s, sizeof(s), 2560), "2,560");
    CHECK_STR(render__count(s, sizeof(s), 1000000000000ull), "1,000,000,000,000");
    CHECK_STR(render__count(s, sizeof(s), UINT64_MAX), "18,446,744,073,709,551,615");
    CHECK_STR(render__scount(s, sizeof(s), -1234567), "-1,234,567");
    CHECK_STR(render__bytes(s, sizeof(s), 0), "0 B");
    CHECK_STR(render__bytes(s, sizeof(s), 1023), "1023 B");
    CHECK_STR(render__bytes(s, sizeof(s), 1024), "1.00 KiB (1,024 B)");
    CHECK_STR(render__bytes(s, sizeof(s), 10485760), "10.00 MiB (10,485,760 B)");
    CHECK_STR(render__bytes(s, sizeof(s), 1048575), "1.00 MiB (1,048,575 B)");
    CHECK_STR(render__bytes(s, sizeof(s), 1ull << 60), "1.00 EiB (1,152,921,504,606,846,976 B)");
    CHECK_STR(render__bytes(s, sizeof(s), UINT64_MAX), "16.00 EiB (18,446,744,073,709,551,615 B)");
    CHECK_STR(render__bytes_short(s, sizeof(s), 1536), "1.50 KiB");
    CHECK_STR(render__rate(s, sizeof(s), 44372.114), "44,372.11");
    CHECK_STR(render__rate(s, sizeof(s), 0.999), "1.00");
    CHECK_STR(render__rate(s, sizeof(s), 0.0 / 0.0), "n/a");
    CHECK_STR(render__rate(s, sizeof(s), -1), "n/a");
    CHECK_STR(render__throughput(s, sizeof(s), 10485760.0), "10.00 MiB/s");
    CHECK_STR(render__throughput(s, sizeof(s), 512), "512.00 B/s");
    CHECK_STR(render__throughput(s, sizeof(s), 1e300), "8.67e+281 EiB/s");
    CHECK_STR(render__seconds(s, sizeof(s), 0.0512), "51.20 ms");
    CHECK_STR(render__seconds(s, sizeof(s), 0.000321), "321.0 \xc2\xb5s");
    CHECK_STR(render__seconds(s, sizeof(s), 2.5), "2.500 s");
    CHECK_STR(render__seconds(s, sizeof(s), 75.5), "1 min 15.5 s");
    CHECK_STR(render__seconds(s, sizeof(s), 86400.5), "24 h 00 min 00 s");
    CHECK_STR(render__si(s, sizeof(s), 1500), "1.5K");
    CHECK_STR(render__si(s, sizeof(s), 1e12), "1T");
    static const struct {
        unsigned bucket;
        const char *label;
    } sizes[] = {{0, "0"},   {1, "1"},   {2, "2"},   {10, "512"}, {11, "1K"}, {13, "4K"},
                 {21, "1M"}, {31, "1G"}, {41, "1T"}, {61, "1E"},  {64, "8E"}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        CHECK_STR(render__size_label(s, sizeof(s), sizes[i].bucket), sizes[i].label);
    CHECK_STR(render__lat_label(s, sizeof(s), 10, true), "512ns");
    CHECK_STR(render__lat_label(s, sizeof(s), 11, true), "1.0us");
    CHECK_STR(render__lat_label(s, sizeof(s), 11, false), "1.0\xc2\xb5s");
    CHECK_STR(render__lat_label(s, sizeof(s), 21, true), "1.0ms");
    CHECK_STR(render__lat_label(s, sizeof(s), 31, true), "1.1s");
    CHECK_U64(render__width("a\xc2\xb7"
                            "b\xe2\x94\x80"),
              4);
}

int main(void)
{
    one_bucket();
    nothing_to_draw();
    zero_byte_ops();
    one_series();
    full_fixture();
    bundle();
    base64();
    formatting();
    return tap_done("test_render_png");
}
