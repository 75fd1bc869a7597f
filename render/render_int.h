/* render_int: what the render module's files share: number formatting, the
 * document model that the text and HTML renderers both print (so they always
 * say the same thing), the bitmap font and the histogram geometry. */
#ifndef IOPSD_RENDER_INT_H
#define IOPSD_RENDER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "render/render.h"

/* ---- formatting (fmt.c); every function writes a NUL-terminated string
 * into s[0..n) and returns s. */
#define RFMT_MAX 96
char *render__count(char *s, size_t n, uint64_t v);       /* "1,234,567" */
char *render__scount(char *s, size_t n, long v);          /* "-1,234" */
char *render__bytes_short(char *s, size_t n, uint64_t v); /* "512 B", "10.00 MiB" */
char *render__bytes(char *s, size_t n, uint64_t v);       /* "10.00 MiB (10,485,760 B)" */
char *render__rate(char *s, size_t n, double v);          /* "44,372.11", "n/a" */
char *render__throughput(char *s, size_t n, double v);    /* "173.29 MiB/s", "n/a" */
char *render__seconds(char *s, size_t n, double v);       /* "12.34 ms", "1.234 s" */
char *render__si(char *s, size_t n, double v);            /* "950", "2.5K", "10M" */
/* Axis label of a size bucket's lower bound: "0", "1", ..., "512", "1K", "4K", "1M". */
char *render__size_label(char *s, size_t n, unsigned bucket);
/* Label of a latency bucket's lower bound: "512ns", "1.0us", "33us", "1.1s". */
char *render__lat_label(char *s, size_t n, unsigned bucket, bool ascii);
/* Display width of UTF-8 text (code points; every one counted as 1 column). */
size_t render__width(const char *s);
/* Signal name ("SIGKILL") or NULL. */
const char *render__signame(int sig);

/* ---- the document model (doc.c) */
#define RDOC_COLS 14

enum rrow_flags {
    RROW_TOTAL = 1u << 0, /* a total: emphasised, with a rule above */
    RROW_RULE = 1u << 1,  /* a rule above this row */
    RROW_MUTED = 1u << 2, /* secondary information */
    RROW_WARN = 1u << 3,  /* a finding of severity warning: highlighted */
    RROW_CRIT = 1u << 4,  /* a finding of severity critical: highlighted more */
};

struct rrow {
    char *cell[RDOC_COLS]; /* owned; NULL is an empty cell */
    unsigned flags;
    double bar; /* 0..1: length of the bar in the table's bar column */
};

struct rtable {
    char *title; /* owned; section title, printed in the first head cell */
    int ncols;
    char *head[RDOC_COLS]; /* owned; may be NULL */
    char align[RDOC_COLS]; /* 'l' or 'r' */
    int bar_col;           /* column drawn as a bar (-1: none) */
    bool no_head;          /* a key/value table: no header row */
    struct rrow *rows;
    size_t nrows, cap;
    char **notes; /* owned lines printed under the table */
    size_t nnotes, notes_cap;
};

struct rdoc {
    char *title;            /* owned */
    struct rtable **tables; /* owned, each owned */
    size_t ntables, cap;
};

/* Builds the document for r (o not NULL). Caller releases. */
void render__doc_build(struct rdoc *d, const struct report *r, const struct render_opts *o);
void render__doc_release(struct rdoc *d);

/* For sections built in their own files: a table (heads[0..ncols-2] name
 * columns 1.., may be NULL), a row (valid until the next), a cell, a note,
 * and untrusted text made printable in at most maxw columns (caller frees). */
struct rtable *render__doc_table(struct rdoc *d, const char *title, const char *align,
                                 const char *const *heads);
struct rrow *render__doc_row(struct rtable *t, unsigned flags);
void render__doc_cell(struct rrow *row, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void render__doc_note(struct rtable *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *render__doc_clean(const char *s, size_t maxw);
/* The "Over time" tables of r->timeline (doc_timeline.c). */
void render__timeline_tables(struct rdoc *d, const struct report *r);

/* ---- the bitmap font (font.c): 95 printable ASCII glyphs, FONT_W x FONT_H
 * pixels each (rows 0..6 above the baseline, 7..8 descenders); anything else
 * is drawn as '?'. Returns the row bits of glyph c, bit FONT_W-1 leftmost. */
#define FONT_W       5
#define FONT_H       9
#define FONT_ADVANCE 6
const uint8_t *render__glyph(unsigned char c);

/* ---- the PNG's layout (png.c), shared with the tests */
/* Palette colours, 0xRRGGBB. */
#define RENDER_RGB_BG      0xffffff
#define RENDER_RGB_TEXT    0x24292f
#define RENDER_RGB_MUTED   0x57606a
#define RENDER_RGB_GRID    0xe4e8ec
#define RENDER_RGB_AXIS    0x8c959f
#define RENDER_RGB_READ    0x2f6fdf
#define RENDER_RGB_WRITE   0xe8772e
#define RENDER_RGB_RISE    0xcf222e
#define RENDER_RGB_FALL    0x0969da
#define RENDER_RGB_EVENT   0x8250df
#define RENDER_RGB_PLATEAU 0xafb8c1

/* Palette indices of the PNG (4 bits: at most 16). */
enum {
    C_BG,
    C_TEXT,
    C_MUTED,
    C_GRID,
    C_AXIS,
    C_READ,
    C_WRITE,
    C_RISE,
    C_FALL,
    C_EVENT,
    C_PLATEAU,
    C__COUNT
};

/* The raster is kept packed as the PNG stores it: two 4-bit palette indices
 * per byte, the left pixel in the high nibble, so encoding needs no pass. */
struct canvas {
    int w, h;
    size_t stride; /* bytes per row: (w + 1) / 2 */
    uint8_t *px;
};

/* Drawing on a canvas (png.c): a rectangle [x0, x1) x [y0, y1), clipped;
 * text with its top-left corner at (x, y), fs pixels per font pixel; text
 * read bottom to top with (x, y) its bottom-left corner. */
void render__fill(struct canvas *c, int x0, int y0, int x1, int y1, uint8_t col);
int render__text_width(const char *s, int fs);
void render__text(struct canvas *c, int x, int y, const char *s, int fs, uint8_t col);
void render__text_up(struct canvas *c, int x, int y, const char *s, int fs, uint8_t col);
/* A line of width w from (xa, ya) to (xb, yb), drawn as squares. */
void render__line(struct canvas *c, int xa, int ya, int xb, int yb, int w, uint8_t col);
/* The palette index at (x, y), 0xff outside the canvas. */
uint8_t render__pixel(const struct canvas *c, int x, int y);
/* Encodes c as a 4-bit palette PNG with the colours rgb[0..ncolors) (at
 * most 16), appending to out. Returns 0 or -EIO. */
int render__png_encode(const struct canvas *c, unsigned scale, const uint32_t *rgb, int ncolors,
                       struct buf *out);

enum png_panel_kind { PANEL_OPS, PANEL_BYTES, PANEL_LATENCY };

/* One chart. Pixel coordinates of the PNG (scale included). The plot area is
 * x in [x0, x1), bars stand on the axis line at row y1 and grow upwards: a
 * bar of value v covers rows [y1 - h, y1) with h = round(v / ymax * (y1 - y0)),
 * at least `scale` rows when v > 0. Slot i (bucket first + i) spans columns
 * [x0 + i*(x1-x0)/nslots, x0 + (i+1)*(x1-x0)/nslots) in integer arithmetic. */
struct png_panel {
    enum png_panel_kind kind;
    int x0, y0, x1, y1;
    unsigned first, nslots;
    double ymax, step; /* top of the value axis; distance between grid lines */
    double unit;       /* divisor of the tick labels (1024^k for bytes, else 1) */
    unsigned series;   /* bit 0: the panel has reads, bit 1: writes; with only one,
                          its bars take the whole slot (less the gaps) */
};

/* The timeline panel (png_timeline.c): descriptors (left axis) and
 * operations per second (right axis) against seconds since the start, all
 * drawn in data coordinates: x = x0 + t / tmax * (x1 - x0), y = y1 - v /
 * ymax * (y1 - y0). */
struct png_timeline {
    int x0, y0, x1, y1;
    double tmax;        /* seconds at the right edge */
    double ymax, ystep; /* descriptors */
    double omax, ostep; /* operations per second */
    double tstep;       /* seconds between x ticks */
};

struct png_layout {
    unsigned width, height, scale; /* pixels */
    int npanels;
    struct png_panel panel[3];
    bool timeline; /* the report has a timeline to draw, in tl below */
    struct png_timeline tl;
};

/* Height in displayed pixels of the timeline panel's band. */
#define PNG_TIMELINE_H 300
/* Places the timeline panel of r in the band [x0, x1) x [y, y + H*scale). Returns
 * false when r has no timeline worth drawing (fewer than 2 samples). */
bool render__png_timeline_place(const struct report *r, struct png_timeline *t, int x0, int x1,
                                int y, int S);
void render__png_timeline_draw(struct canvas *c, const struct report *r,
                               const struct png_timeline *t, int S);
/* Rounds a raw axis step up to 1, 2 or 5 times a power of ten. */
double render__nice_step(double raw);

/* Lays out the PNG of r. Returns 0, or -ENODATA when there is nothing to draw. */
int render__png_layout(const struct report *r, const struct render_opts *o, struct png_layout *l);
/* Columns [*bx0, *bx1) and top row *by of the bar of `bucket` for series 0
 * (read) or 1 (write) with value v in panel p; *by == p->y1 when v is 0. */
void render__png_bar(const struct png_panel *p, unsigned scale, unsigned bucket, int series,
                     double v, int *bx0, int *bx1, int *by);

/* ---- `iopsd plot`'s chart (png_plot.c). Palette indices 0..4 are the
 * raster's C_BG..C_AXIS; line k (0-based) is PLOT_C_SERIES + k. */
#define PLOT_C_SERIES 5
struct rec_plot;
struct plot_layout {
    int W, H, S;        /* canvas pixels, scale */
    int x0, y0, x1, y1; /* plot area: t = 0 at x0, tmax at x1; v = 0 at y1, vmax at y0 */
    double tmax, vmax, tstep, vstep;
    size_t shown[RENDER_PLOT_MAX_SERIES]; /* indices of the series drawn, line k = shown[k] */
    size_t nshown;
};
/* Pixel of (t, v) in the plot area (clamped to it). */
void render__plot_xy(const struct plot_layout *l, double t, double v, int *x, int *y);
/* Lays out and draws p on a new canvas (the caller frees c->px). Returns 0
 * or -ENODATA when p has no series. */
int render__plot_canvas(const struct rec_plot *p, struct canvas *c, struct plot_layout *l);

/* render__html: the HTML renderer with an already made PNG (may be NULL). */
int render__html(const struct report *r, const struct render_opts *o, const struct buf *png,
                 const struct render_png_info *info, struct buf *out);

#endif
