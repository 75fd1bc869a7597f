/* png_plot: `iopsd plot`'s chart: one line per process over the time since
 * the recording's first sample, on iopsd's own raster (png.c, font.c): a
 * title, a value axis in the query's unit, an h:mm:ss time axis, a square
 * at each line's last point, and a legend of pid and command name. Up to
 * RENDER_PLOT_MAX_SERIES lines, those with the largest mean values; the
 * palette is the raster's first five colours and one per line. */
#include "measure/record_series.h"
#include "render/render_int.h"
#include "util/xalloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t plot_rgb[PLOT_C_SERIES + RENDER_PLOT_MAX_SERIES] = {
    RENDER_RGB_BG,
    RENDER_RGB_TEXT,
    RENDER_RGB_MUTED,
    RENDER_RGB_GRID,
    RENDER_RGB_AXIS,
    /* one per line: far apart in hue and lightness */
    0x1f77b4,
    0xff7f0e,
    0x2ca02c,
    0xd62728,
    0x9467bd,
    0x8c564b,
    0xe377c2,
    0x7f7f7f,
    0xbcbd22,
    0x17becf,
};

#define PLOT_W      900 /* displayed pixels */
#define PLOT_SCALE  2
#define PLOT_AREA_H 320
#define LEGEND_COLS 3
#define LEGEND_ROW  18

static int fs_of(int S)
{
    return (3 * S + 1) / 2;
}

static void value_label(char *s, size_t n, double v)
{
    if (fabs(v) < 1000)
        snprintf(s, n, "%.4g", v);
    else
        render__si(s, n, v);
}

static void time_label(char *s, size_t n, double sec, double step)
{
    long whole = (long)floor(sec + 1e-9);
    double frac = sec - (double)whole;
    if (step < 1 && frac > 1e-6)
        snprintf(s, n, "%ld:%02ld:%02ld.%ld", whole / 3600, whole / 60 % 60, whole % 60,
                 lround(frac * 10) % 10);
    else
        snprintf(s, n, "%ld:%02ld:%02ld", whole / 3600, whole / 60 % 60, whole % 60);
}

static double mean_of(const struct rec_series *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->pts[i].v;
    return s->n ? sum / (double)s->n : 0;
}

void render__plot_xy(const struct plot_layout *l, double t, double v, int *x, int *y)
{
    if (t < 0)
        t = 0;
    if (t > l->tmax)
        t = l->tmax;
    if (v < 0)
        v = 0;
    if (v > l->vmax)
        v = l->vmax;
    *x = l->x0 + (int)lround(t / l->tmax * (l->x1 - l->x0));
    *y = l->y1 - (int)lround(v / l->vmax * (l->y1 - l->y0));
}

static int place(const struct rec_plot *p, struct plot_layout *l)
{
    memset(l, 0, sizeof(*l));
    if (p->n == 0)
        return -ENODATA;
    /* the lines drawn: the largest means, kept in the plot's order */
    bool *pick = xcalloc(p->n, sizeof(*pick));
    for (size_t k = 0; k < p->n && k < RENDER_PLOT_MAX_SERIES; k++) {
        size_t best = p->n;
        for (size_t i = 0; i < p->n; i++)
            if (!pick[i] && (best == p->n || mean_of(&p->s[i]) > mean_of(&p->s[best])))
                best = i;
        pick[best] = true;
    }
    for (size_t i = 0; i < p->n; i++)
        if (pick[i])
            l->shown[l->nshown++] = i;
    free(pick);

    int S = PLOT_SCALE, fs = fs_of(S);
    double vmax = 0, tmax = p->duration;
    for (size_t k = 0; k < l->nshown; k++) {
        const struct rec_series *s = &p->s[l->shown[k]];
        for (size_t i = 0; i < s->n; i++) {
            if (s->pts[i].v > vmax)
                vmax = s->pts[i].v;
            if (s->pts[i].t > tmax)
                tmax = s->pts[i].t;
        }
    }
    if (!(tmax > 0))
        tmax = 1;
    l->tstep = render__nice_step(tmax / 8);
    l->tmax = tmax;
    l->vstep = render__nice_step((vmax > 0 ? vmax : 1) / 5);
    l->vmax = ceil(vmax / l->vstep - 1e-9) * l->vstep;
    if (l->vmax <= 0)
        l->vmax = l->vstep;
    char s[32];
    value_label(s, sizeof(s), l->vmax);
    int lw = render__text_width(s, fs);
    l->S = S;
    l->x0 = 16 * S + (lw > 40 * S ? lw : 40 * S) + 8 * S;
    l->x1 = (PLOT_W - 44) * S;
    l->y0 = 58 * S;
    l->y1 = l->y0 + PLOT_AREA_H * S;
    int rows = (int)((l->nshown + LEGEND_COLS - 1) / LEGEND_COLS);
    l->W = PLOT_W * S;
    l->H = l->y1 + 48 * S + rows * LEGEND_ROW * S + 26 * S;
    return 0;
}

static void draw(const struct rec_plot *p, const struct plot_layout *l, struct canvas *c,
                 size_t omitted)
{
    int S = l->S, fs = fs_of(S), gh = 7 * fs;
    char s[96];
    /* title and subtitle */
    render__text(c, 16 * S, 12 * S, rec_query_title(p->q), 2 * S, C_TEXT);
    snprintf(s, sizeof(s), "%s, %zu process%s", rec_query_unit(p->q), p->n, p->n == 1 ? "" : "es");
    if (omitted)
        snprintf(s + strlen(s), sizeof(s) - strlen(s), " (%zu with the smallest means not drawn)",
                 omitted);
    render__text(c, 16 * S, 34 * S, s, fs, C_MUTED);
    /* grid and value ticks */
    for (int i = 0; i <= 20; i++) {
        double v = l->vstep * i;
        if (v > l->vmax * (1 + 1e-9))
            break;
        int x, y;
        render__plot_xy(l, 0, v, &x, &y);
        if (i > 0)
            render__fill(c, l->x0, y, l->x1, y + S / 2 + 1, C_GRID);
        value_label(s, sizeof(s), v);
        render__text(c, l->x0 - 8 * S - render__text_width(s, fs), y - gh / 2, s, fs, C_MUTED);
    }
    /* time ticks */
    for (int i = 0; i <= 40; i++) {
        double t = l->tstep * i;
        if (t > l->tmax * (1 + 1e-9))
            break;
        int x, y;
        render__plot_xy(l, t, 0, &x, &y);
        render__fill(c, x, l->y1 + S, x + S, l->y1 + 4 * S, C_AXIS);
        time_label(s, sizeof(s), t, l->tstep);
        render__text(c, x - render__text_width(s, fs) / 2, l->y1 + 7 * S, s, fs, C_MUTED);
    }
    const char *xt = "time since the first sample (h:mm:ss)";
    render__text(c, (l->x0 + l->x1 - render__text_width(xt, fs)) / 2, l->y1 + 24 * S, xt, fs,
                 C_MUTED);
    /* the lines, then a square at each line's end (on top of every line) */
    for (size_t k = 0; k < l->nshown; k++) {
        const struct rec_series *se = &p->s[l->shown[k]];
        uint8_t col = (uint8_t)(PLOT_C_SERIES + k);
        int px = 0, py = 0;
        for (size_t i = 0; i < se->n; i++) {
            int x, y;
            render__plot_xy(l, se->pts[i].t, se->pts[i].v, &x, &y);
            if (i)
                render__line(c, px, py, x, y, S + S / 2, col);
            else
                render__line(c, x, y, x, y, S + S / 2, col);
            px = x;
            py = y;
        }
    }
    for (size_t k = 0; k < l->nshown; k++) {
        const struct rec_series *se = &p->s[l->shown[k]];
        int x, y;
        render__plot_xy(l, se->pts[se->n - 1].t, se->pts[se->n - 1].v, &x, &y);
        render__fill(c, x - 2 * S, y - 2 * S, x + 2 * S + 1, y + 2 * S + 1,
                     (uint8_t)(PLOT_C_SERIES + k));
    }
    /* axes */
    render__fill(c, l->x0, l->y1, l->x1, l->y1 + S, C_AXIS);
    render__fill(c, l->x0 - S, l->y0, l->x0, l->y1 + S, C_AXIS);
    /* legend */
    int colw = (l->x1 - 16 * S) / LEGEND_COLS, sq = 7 * fs;
    for (size_t k = 0; k < l->nshown; k++) {
        const struct rec_series *se = &p->s[l->shown[k]];
        int x = 16 * S + (int)(k % LEGEND_COLS) * colw;
        int y = l->y1 + 44 * S + (int)(k / LEGEND_COLS) * LEGEND_ROW * S;
        render__fill(c, x, y, x + sq, y + sq, (uint8_t)(PLOT_C_SERIES + k));
        char *comm = render__doc_clean(se->comm, 24);
        snprintf(s, sizeof(s), "%lld %s", (long long)se->pid, comm);
        free(comm);
        render__text(c, x + sq + 6 * S, y, s, fs, C_TEXT);
    }
}

int render__plot_canvas(const struct rec_plot *p, struct canvas *c, struct plot_layout *l)
{
    int rc = place(p, l);
    if (rc < 0)
        return rc;
    c->w = l->W;
    c->h = l->H;
    c->stride = ((size_t)c->w + 1) / 2;
    c->px = xmalloc(c->stride * (size_t)c->h);
    memset(c->px, C_BG * 0x11, c->stride * (size_t)c->h);
    draw(p, l, c, p->n - l->nshown);
    return 0;
}

int render_plot_png(const struct rec_plot *p, struct buf *out, size_t *omitted)
{
    struct canvas c;
    struct plot_layout l;
    int rc = render__plot_canvas(p, &c, &l);
    if (rc < 0)
        return rc;
    if (omitted)
        *omitted = p->n - l.nshown;
    rc = render__png_encode(&c, (unsigned)l.S, plot_rgb, PLOT_C_SERIES + (int)l.nshown, out);
    free(c.px);
    return rc;
}
