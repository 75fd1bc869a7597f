/* render: a report turned into what people read: a text table, an HTML table,
 * a PNG of the histograms, and the bundle of all four for a notebook.
 *
 * Every renderer reads the report only (never modifies it), accepts any
 * values (absurd ones included) and produces deterministic output: the same
 * report and options give the same bytes. */
#ifndef IOPSD_RENDER_H
#define IOPSD_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "measure/report.h"
#include "util/buf.h"

/* What to render; set up with render_opts_init(), then change fields. */
struct render_opts {
    bool histograms;    /* draw the PNG (and the size/latency tables in text) */
    bool html_image;    /* embed the PNG in the HTML as a data: URI */
    size_t top_files;   /* rows of the per-file table shown; 0: all in the report */
    size_t top_procs;   /* processes shown by bytes (their ancestors too); 0: all */
    size_t max_leaked;  /* rows of leaked descriptors shown; 0: all */
    unsigned scale;     /* PNG pixels per displayed pixel, 1..4 (default 2) */
    unsigned png_width; /* displayed PNG width in pixels, 480..1600 (default 800) */
    bool ascii;         /* text: ASCII only, for terminals without UTF-8 */
};

void render_opts_init(struct render_opts *o);

/* Appends the aligned text table of r to out (default options). Returns 0 or
 * -errno (-E2BIG when out's cap is reached). */
int render_text(const struct report *r, struct buf *out);
/* Same with options; o may be NULL for the defaults. */
int render_text_opts(const struct report *r, const struct render_opts *o, struct buf *out);

/* Appends a self-contained HTML fragment (one <div>, an inline <style>, no
 * scripts, no external resources) to out. With o->html_image and something to
 * draw, the histograms are embedded as <img src="data:image/png;base64,...">.
 * o may be NULL. Returns 0 or -errno. */
int render_html(const struct report *r, const struct render_opts *o, struct buf *out);

/* Size of a rendered PNG: pixels, and the size to display it at (pixels
 * divided by the scale) for a Jupyter display_data's metadata. */
struct render_png_info {
    unsigned width, height;
    unsigned display_width, display_height;
};

/* Appends the PNG of r's histograms (operations and bytes by size, and a
 * latency panel when latencies were measured) to out. Returns 0; -ENODATA
 * when there is nothing to draw (not detailed, no operations in the
 * histograms, or o->histograms off): out is left untouched then; -EIO when
 * libpng failed. info may be NULL; o may be NULL. */
int render_png(const struct report *r, const struct render_opts *o, struct buf *out,
               struct render_png_info *info);

/* `iopsd plot`: a chart of a recording's per-process series (see
 * measure/record_series.h), at most RENDER_PLOT_MAX_SERIES lines (the
 * largest means). Appends the PNG to out; *omitted (may be NULL) gets how
 * many series were not drawn. Returns 0, -ENODATA with no series, -EIO. */
#define RENDER_PLOT_MAX_SERIES 10
struct rec_plot;
int render_plot_png(const struct rec_plot *p, struct buf *out, size_t *omitted);

/* Everything a notebook needs to show one report in a single display_data. */
struct display_bundle {
    struct buf text; /* text/plain */
    struct buf html; /* text/html (embeds the PNG when there is one) */
    struct buf png;  /* image/png; empty when has_png is false */
    bool has_png;
    struct render_png_info png_info;
    json_t *json; /* application/json: the report; owned */
};

void display_bundle_init(struct display_bundle *b);
void display_bundle_release(struct display_bundle *b);

/* Fills b (display_bundle_init()ed, empty) with every representation of r.
 * o may be NULL. Returns 0 or -errno; on failure b holds what was made and
 * must still be released. */
int render_bundle(const struct report *r, const struct render_opts *o, struct display_bundle *b);

/* The "data" and "metadata" objects of a Jupyter display_data for b (new
 * references, caller decrefs): data has text/plain, text/html,
 * application/json and, when there is one, image/png (base64); metadata gives
 * the PNG's displayed width and height. */
int display_bundle_to_jupyter(const struct display_bundle *b, json_t **data, json_t **metadata);

/* Appends s (NULL: nothing) to b with & < > " ' escaped for HTML. */
void render_html_escape(struct buf *b, const char *s);

/* Appends the base64 (RFC 4648, with padding, no line breaks) of p[0..n). */
int render_base64(struct buf *out, const void *p, size_t n);

#endif
