/* png: the histograms as a PNG drawn on iopsd's own raster: operations and
 * bytes by size (power-of-two buckets, reads and writes as separate bars) and
 * latency when it was measured; text from the bitmap font in font.c; encoded
 * with libpng as a 4-bit palette image (small, fast, deterministic: no time or
 * text chunks), rendered at `scale` times the displayed size with a pHYs chunk
 * saying so. */
#include "measure/timeline.h"
#include "render/render_int.h"
#include "util/xalloc.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int encode(const struct canvas *c, unsigned scale, const uint32_t *rgb, int ncolors,
                  struct buf *out);

static const uint32_t palette_rgb[C__COUNT] = {
    RENDER_RGB_BG,   RENDER_RGB_TEXT,  RENDER_RGB_MUTED,   RENDER_RGB_GRID,
    RENDER_RGB_AXIS, RENDER_RGB_READ,  RENDER_RGB_WRITE,   RENDER_RGB_RISE,
    RENDER_RGB_FALL, RENDER_RGB_EVENT, RENDER_RGB_PLATEAU,
};

/* Layout in displayed pixels (multiplied by the scale). */
#define MARGIN    14
#define HEADER_H  44
#define ROW_H     250
#define PANEL_GAP 20
#define MIN_SLOTS 8

static void fill(struct canvas *c, int x0, int y0, int x1, int y1, uint8_t col)
{
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    if (x1 > c->w)
        x1 = c->w;
    if (y1 > c->h)
        y1 = c->h;
    if (x1 <= x0)
        return;
    for (int y = y0; y < y1; y++) {
        uint8_t *row = c->px + (size_t)y * c->stride;
        int a = x0, b = x1;
        if (a & 1) { /* odd start: the low nibble of its byte */
            row[a / 2] = (uint8_t)((row[a / 2] & 0xf0) | col);
            a++;
        }
        if (b > a && (b & 1)) { /* odd end: the last pixel is a high nibble */
            row[(b - 1) / 2] = (uint8_t)((row[(b - 1) / 2] & 0x0f) | col << 4);
            b--;
        }
        if (b > a)
            memset(row + a / 2, col * 0x11, (size_t)(b - a) / 2);
    }
}

static int text_width(const char *s, int fs)
{
    size_t n = strlen(s);
    return n ? (int)n * FONT_ADVANCE * fs - fs : 0;
}

/* Draws s with its top-left corner at (x, y), fs pixels per font pixel. */
static void text(struct canvas *c, int x, int y, const char *s, int fs, uint8_t col)
{
    for (; *s; s++, x += FONT_ADVANCE * fs) {
        const uint8_t *g = render__glyph((unsigned char)*s);
        for (int gy = 0; gy < FONT_H; gy++)
            for (int gx = 0; gx < FONT_W; gx++)
                if (g[gy] & (1u << (FONT_W - 1 - gx)))
                    fill(c, x + gx * fs, y + gy * fs, x + (gx + 1) * fs, y + (gy + 1) * fs, col);
    }
}

/* Draws s rotated a quarter turn anticlockwise (read bottom to top), the
 * glyphs' tops facing left: (x, y) is the bottom-left corner of the run. */
static void text_up(struct canvas *c, int x, int y, const char *s, int fs, uint8_t col)
{
    for (; *s; s++, y -= FONT_ADVANCE * fs) {
        const uint8_t *g = render__glyph((unsigned char)*s);
        for (int gy = 0; gy < FONT_H; gy++)
            for (int gx = 0; gx < FONT_W; gx++)
                if (g[gy] & (1u << (FONT_W - 1 - gx)))
                    fill(c, x + gy * fs, y - (gx + 1) * fs, x + (gy + 1) * fs, y - gx * fs, col);
    }
}

void render__fill(struct canvas *c, int x0, int y0, int x1, int y1, uint8_t col)
{
    fill(c, x0, y0, x1, y1, col);
}

int render__text_width(const char *s, int fs)
{
    return text_width(s, fs);
}

void render__text(struct canvas *c, int x, int y, const char *s, int fs, uint8_t col)
{
    text(c, x, y, s, fs, col);
}

void render__text_up(struct canvas *c, int x, int y, const char *s, int fs, uint8_t col)
{
    text_up(c, x, y, s, fs, col);
}

void render__line(struct canvas *c, int xa, int ya, int xb, int yb, int w, uint8_t col)
{
    int dx = abs(xb - xa), dy = abs(yb - ya), n = dx > dy ? dx : dy;
    if (n == 0) {
        fill(c, xa - w / 2, ya - w / 2, xa - w / 2 + w, ya - w / 2 + w, col);
        return;
    }
    for (int i = 0; i <= n; i++) {
        int x = xa + (int)lround((double)(xb - xa) * i / n);
        int y = ya + (int)lround((double)(yb - ya) * i / n);
        fill(c, x - w / 2, y - w / 2, x - w / 2 + w, y - w / 2 + w, col);
    }
}

uint8_t render__pixel(const struct canvas *c, int x, int y)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return 0xff;
    uint8_t b = c->px[(size_t)y * c->stride + (size_t)x / 2];
    return x & 1 ? b & 0x0f : b >> 4;
}

int render__png_encode(const struct canvas *c, unsigned scale, const uint32_t *rgb, int ncolors,
                       struct buf *out)
{
    return encode(c, scale, rgb, ncolors, out);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static double value(const struct report *r, enum png_panel_kind k, unsigned bucket, int series)
{
    if (k == PANEL_LATENCY) {
        const struct lat_bucket *b = &r->lat_hist[bucket];
        return (double)(series ? b->write_ops : b->read_ops);
    }
    const struct size_bucket *b = &r->size_hist[bucket];
    if (k == PANEL_OPS)
        return (double)(series ? b->write_ops : b->read_ops);
    return (double)(series ? b->write_bytes : b->read_bytes);
}

static unsigned nbuckets(enum png_panel_kind k)
{
    return k == PANEL_LATENCY ? HIST_LAT_BUCKETS : HIST_SIZE_BUCKETS;
}

/* First and last bucket with operations; false when there are none. */
static bool data_range(const struct report *r, enum png_panel_kind k, unsigned *lo, unsigned *hi)
{
    bool any = false;
    for (unsigned i = 0; i < nbuckets(k); i++) {
        bool nz = k == PANEL_LATENCY ? (r->lat_hist[i].read_ops || r->lat_hist[i].write_ops)
                                     : (r->size_hist[i].read_ops || r->size_hist[i].write_ops);
        if (!nz)
            continue;
        if (!any)
            *lo = i;
        *hi = i;
        any = true;
    }
    return any;
}

/* Widens [lo, hi] around the data to at least MIN_SLOTS buckets. */
static double nice_step(double raw);

static void widen(unsigned *lo, unsigned *hi, unsigned last)
{
    while (*hi - *lo + 1 < MIN_SLOTS) {
        bool grew = false;
        if (*lo > 0) {
            (*lo)--;
            grew = true;
        }
        if (*hi - *lo + 1 < MIN_SLOTS && *hi < last) {
            (*hi)++;
            grew = true;
        }
        if (!grew)
            break;
    }
}

double render__nice_step(double raw)
{
    return nice_step(raw);
}

/* A 1, 2 or 5 times a power of ten at least raw. */
static double nice_step(double raw)
{
    if (!(raw > 0))
        return 1;
    double mag = pow(10, floor(log10(raw)));
    double n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

static void scale_axis(struct png_panel *p, double max)
{
    p->unit = 1;
    if (p->kind == PANEL_BYTES)
        while (max / p->unit >= 1024 && p->unit < 1152921504606846976.0) /* 2^60: EiB */
            p->unit *= 1024;
    double m = max / p->unit;
    double step = nice_step(m / 5);
    if (p->unit == 1 && step < 1)
        step = 1; /* whole operations and bytes */
    double top = ceil(m / step - 1e-9) * step;
    if (top <= 0)
        top = step;
    p->step = step * p->unit;
    p->ymax = top * p->unit;
}

static void tick_label(char *s, size_t n, const struct png_panel *p, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (v == 0) {
        snprintf(s, n, "0");
        return;
    }
    if (p->kind != PANEL_BYTES) {
        render__si(s, n, v);
        return;
    }
    unsigned u = 0;
    for (double x = p->unit; x >= 1024 && u < 6; x /= 1024)
        u++;
    snprintf(s, n, "%.4g %s", v / p->unit, units[u]);
}

static void bucket_label(char *s, size_t n, enum png_panel_kind k, unsigned bucket)
{
    if (k == PANEL_LATENCY)
        render__lat_label(s, n, bucket, true);
    else
        render__size_label(s, n, bucket);
}

static int ymax_label_width(const struct png_panel *p, int fs)
{
    char s[48];
    int w = 0;
    for (int i = 0; i <= 20; i++) {
        double v = p->step * i;
        if (v > p->ymax * (1 + 1e-9))
            break;
        tick_label(s, sizeof(s), p, v);
        if (text_width(s, fs) > w)
            w = text_width(s, fs);
    }
    return w;
}

/* Sets up panel p in the box [bx0, bx1) x [by0, by0 + ROW_H*S). */
static void panel_place(const struct report *r, struct png_panel *p, enum png_panel_kind k,
                        unsigned lo, unsigned hi, int bx0, int bx1, int by0, int S)
{
    int fs = (3 * S + 1) / 2;
    p->kind = k;
    p->first = lo;
    p->nslots = hi - lo + 1;
    double max = 0;
    p->series = 0;
    for (unsigned i = lo; i <= hi; i++)
        for (int s = 0; s < 2; s++) {
            double v = value(r, k, i, s);
            if (v > 0)
                p->series |= 1u << s;
            if (v > max)
                max = v;
        }
    scale_axis(p, max);
    p->x0 = bx0 + 16 * S + ymax_label_width(p, fs) + 8 * S;
    p->x1 = bx1 - 6 * S;
    p->y0 = by0 + 26 * S;
    p->y1 = by0 + (ROW_H - 46) * S;
}

int render__png_layout(const struct report *r, const struct render_opts *o, struct png_layout *l)
{
    memset(l, 0, sizeof(*l));
    unsigned slo = 0, shi = 0, llo = 0, lhi = 0;
    bool hist = o->histograms && r->detailed;
    bool sizes = hist && data_range(r, PANEL_OPS, &slo, &shi);
    bool lat = hist && r->has_latency && data_range(r, PANEL_LATENCY, &llo, &lhi);
    int S = o->scale < 1 ? 1 : o->scale > 4 ? 4 : (int)o->scale;
    int W = (o->png_width < 480 ? 480 : o->png_width > 1600 ? 1600 : (int)o->png_width);
    int y = (MARGIN + HEADER_H) * S;
    int left = MARGIN * S, right = (W - MARGIN) * S;
    l->timeline = render__png_timeline_place(r, &l->tl, left, right, y, S);
    if (!sizes && !lat && !l->timeline)
        return -ENODATA;
    l->scale = (unsigned)S;
    l->width = (unsigned)(W * S);
    if (l->timeline)
        y += PNG_TIMELINE_H * S;
    if (sizes) {
        widen(&slo, &shi, HIST_SIZE_BUCKETS - 1);
        int mid = (left + right) / 2;
        panel_place(r, &l->panel[l->npanels++], PANEL_OPS, slo, shi, left, mid - PANEL_GAP * S / 2,
                    y, S);
        panel_place(r, &l->panel[l->npanels++], PANEL_BYTES, slo, shi, mid + PANEL_GAP * S / 2,
                    right, y, S);
        y += ROW_H * S;
    }
    if (lat) {
        widen(&llo, &lhi, HIST_LAT_BUCKETS - 1);
        panel_place(r, &l->panel[l->npanels++], PANEL_LATENCY, llo, lhi, left, right, y, S);
        y += ROW_H * S;
    }
    l->height = (unsigned)(y + MARGIN * S / 2);
    return 0;
}

static int slot_edge(const struct png_panel *p, unsigned i)
{
    return p->x0 + (int)((int64_t)i * (p->x1 - p->x0) / (int64_t)p->nslots);
}

void render__png_bar(const struct png_panel *p, unsigned scale, unsigned bucket, int series,
                     double v, int *bx0, int *bx1, int *by)
{
    unsigned i = bucket - p->first;
    int e0 = slot_edge(p, i), e1 = slot_edge(p, i + 1);
    int sw = e1 - e0, gap = sw / 8, mid = e0 + sw / 2;
    if (p->series == 1u || p->series == 2u) { /* one series: whole slot */
        *bx0 = e0 + gap;
        *bx1 = e1 - gap;
    } else {
        *bx0 = series ? mid : e0 + gap;
        *bx1 = series ? e1 - gap : mid;
    }
    int ph = p->y1 - p->y0;
    double h = v > 0 && p->ymax > 0 ? round(v / p->ymax * ph) : 0;
    if (v > 0 && h < scale)
        h = scale;
    if (h > ph)
        h = ph;
    *by = p->y1 - (int)h;
}

static void draw_panel(struct canvas *c, const struct report *r, const struct png_panel *p, int S)
{
    static const char *const titles[] = {"Operations by size", "Bytes by size", "Latency per call"};
    static const char *const ytitles[] = {"operations", "bytes", "calls"};
    int fs = (3 * S + 1) / 2;
    int glyph_h = 7 * fs;
    char s[48];

    /* grid lines and value labels */
    for (int i = 0; i <= 20; i++) {
        double v = p->step * i;
        if (v > p->ymax * (1 + 1e-9))
            break;
        int yy = p->y1 - (int)round(v / p->ymax * (p->y1 - p->y0));
        if (i > 0)
            fill(c, p->x0, yy, p->x1, yy + S / 2 + 1, C_GRID);
        tick_label(s, sizeof(s), p, v);
        text(c, p->x0 - 8 * S - text_width(s, fs), yy - glyph_h / 2, s, fs, C_MUTED);
    }
    /* bars */
    for (unsigned i = 0; i < p->nslots; i++)
        for (int series = 0; series < 2; series++) {
            double v = value(r, p->kind, p->first + i, series);
            if (!(v > 0))
                continue;
            int bx0, bx1, by;
            render__png_bar(p, (unsigned)S, p->first + i, series, v, &bx0, &bx1, &by);
            fill(c, bx0, by, bx1, p->y1, series ? C_WRITE : C_READ);
        }
    /* axis */
    fill(c, p->x0, p->y1, p->x1, p->y1 + S, C_AXIS);
    /* bucket labels: every k-th, so that they never touch */
    int lw = 0;
    for (unsigned i = 0; i < p->nslots; i++) {
        bucket_label(s, sizeof(s), p->kind, p->first + i);
        if (text_width(s, fs) > lw)
            lw = text_width(s, fs);
    }
    int sw = (p->x1 - p->x0) / (int)p->nslots;
    static const unsigned steps[] = {1, 2, 5, 10, 20, 30, 70};
    unsigned k = 70;
    for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++)
        if ((int)steps[j] * sw >= lw + 6 * S) {
            k = steps[j];
            break;
        }
    bool zero_shown = p->first == 0;
    for (unsigned i = 0; i < p->nslots; i++) {
        unsigned b = p->first + i;
        bool show = b == 0 || (b - 1) % k == 0;
        if (k > 1 && b == 1 && zero_shown)
            show = false;
        if (!show)
            continue;
        int cx = (slot_edge(p, i) + slot_edge(p, i + 1)) / 2;
        fill(c, cx, p->y1 + S, cx + S, p->y1 + 4 * S, C_AXIS);
        bucket_label(s, sizeof(s), p->kind, b);
        text(c, cx - text_width(s, fs) / 2, p->y1 + 7 * S, s, fs, C_MUTED);
    }
    /* titles */
    text(c, p->x0, p->y0 - 10 * S - glyph_h, titles[p->kind], fs, C_TEXT);
    const char *xt = p->kind == PANEL_LATENCY ? "time per call" : "bytes per call";
    text(c, (p->x0 + p->x1 - text_width(xt, fs)) / 2, p->y1 + 24 * S, xt, fs, C_MUTED);
    const char *yt = ytitles[p->kind];
    int ylen = text_width(yt, fs);
    int xleft = p->x0 - 8 * S - ymax_label_width(p, fs) - 6 * S - 9 * fs;
    text_up(c, xleft, (p->y0 + p->y1 + ylen) / 2, yt, fs, C_MUTED);
}

static void draw_header(struct canvas *c, const struct report *r, const struct png_layout *l, int S)
{
    int fs = (3 * S + 1) / 2, ft = 2 * S;
    int x = MARGIN * S, y = MARGIN * S;
    bool lat = l->npanels && l->panel[l->npanels - 1].kind == PANEL_LATENCY;
    bool sizes = l->npanels && l->panel[0].kind != PANEL_LATENCY;
    text(c, x, y,
         !l->npanels    ? "Descriptors and I/O over time"
         : sizes && lat ? "I/O sizes and latency"
         : sizes        ? "I/O sizes"
                        : "I/O latency",
         ft, C_TEXT);
    if (!l->npanels) {
        const struct timeline *tl = r->timeline;
        char a[RFMT_MAX], sub[RFMT_MAX * 3];
        snprintf(sub, sizeof(sub), "%s samples every %g s, %zu events (backend: %.15s)",
                 render__count(a, sizeof(a), tl->offered), tl->interval, tl->nevents,
                 r->backend[0] ? r->backend : "unknown");
        text(c, x, y + 9 * ft + 2 * S, sub, fs, C_MUTED);
        return; /* the timeline panel has its own legend */
    }
    uint64_t ops = 0, bytes = 0;
    for (unsigned i = 0; i < HIST_SIZE_BUCKETS; i++) {
        ops = add_sat(ops, add_sat(r->size_hist[i].read_ops, r->size_hist[i].write_ops));
        bytes = add_sat(bytes, add_sat(r->size_hist[i].read_bytes, r->size_hist[i].write_bytes));
    }
    char a[RFMT_MAX], b[RFMT_MAX], sub[RFMT_MAX * 3];
    snprintf(sub, sizeof(sub), "%s operation%s, %s (backend: %.15s)",
             render__count(a, sizeof(a), ops), ops == 1 ? "" : "s",
             render__bytes_short(b, sizeof(b), bytes), r->backend[0] ? r->backend : "unknown");
    if (sizes)
        text(c, x, y + 9 * ft + 2 * S, sub, fs, C_MUTED);
    /* legend, right-aligned on the title line */
    int sq = 7 * fs;
    int right = (int)l->width - MARGIN * S;
    int wx = right - text_width("write", fs);
    text(c, wx, y + S, "write", fs, C_TEXT);
    fill(c, wx - 6 * S - sq, y + S, wx - 6 * S, y + S + sq, C_WRITE);
    int rx = wx - 6 * S - sq - 16 * S - text_width("read", fs);
    text(c, rx, y + S, "read", fs, C_TEXT);
    fill(c, rx - 6 * S - sq, y + S, rx - 6 * S, y + S + sq, C_READ);
}

static void png_write_cb(png_structp png, png_bytep data, png_size_t len)
{
    struct buf *out = png_get_io_ptr(png);
    if (buf_append(out, data, len) < 0)
        png_error(png, "output buffer full");
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Encodes the canvas into out (appending). Returns 0 or -EIO. */
static int encode(const struct canvas *c, unsigned scale, const uint32_t *rgb, int ncolors,
                  struct buf *out)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_error_cb, png_warning_cb);
    if (!png)
        return -ENOMEM;
    png_infop info = png_create_info_struct(png);
    png_bytep *rows = xcalloc((size_t)c->h, sizeof(*rows));
    size_t start = out->len;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(rows);
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return -EIO;
    }
    png_set_write_fn(png, out, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 4, PNG_COLOR_TYPE_PALETTE,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color pal[16];
    for (int i = 0; i < ncolors && i < 16; i++) {
        pal[i].red = (png_byte)(rgb[i] >> 16);
        pal[i].green = (png_byte)(rgb[i] >> 8);
        pal[i].blue = (png_byte)rgb[i];
    }
    png_set_PLTE(png, info, pal, ncolors < 16 ? ncolors : 16);
    /* 72 dpi per displayed pixel: scale x 72 dpi in pixels per metre. */
    png_uint_32 ppm = (png_uint_32)(scale * 72 / 0.0254 + 0.5);
    png_set_pHYs(png, info, ppm, ppm, PNG_RESOLUTION_METER);
    /* Speed over size: no filter and the fastest deflate level keep the
     * encode near 2 ms; flat colours still compress to a few kilobytes. */
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_set_compression_level(png, 1);
    png_set_check_for_invalid_index(png, 0); /* our indices are valid by construction */
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++)
        rows[y] = c->px + (size_t)y * c->stride;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return 0;
}

int render_png(const struct report *r, const struct render_opts *o, struct buf *out,
               struct render_png_info *info)
{
    struct render_opts def;
    if (!o) {
        render_opts_init(&def);
        o = &def;
    }
    struct png_layout l;
    int rc = render__png_layout(r, o, &l);
    if (rc < 0)
        return rc;
    int S = (int)l.scale;
    struct canvas c = {(int)l.width, (int)l.height, (l.width + 1) / 2, NULL};
    c.px = xmalloc(c.stride * (size_t)c.h);
    memset(c.px, C_BG * 0x11, c.stride * (size_t)c.h);
    draw_header(&c, r, &l, S);
    if (l.timeline)
        render__png_timeline_draw(&c, r, &l.tl, S);
    for (int i = 0; i < l.npanels; i++)
        draw_panel(&c, r, &l.panel[i], S);
    rc = encode(&c, l.scale, palette_rgb, C__COUNT, out);
    free(c.px);
    if (rc == 0 && info) {
        info->width = l.width;
        info->height = l.height;
        info->display_width = l.width / l.scale;
        info->display_height = l.height / l.scale;
    }
    return rc;
}
