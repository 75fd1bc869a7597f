/* html: the report as a self-contained HTML fragment (text/html): the same
 * document as the text table, an inline <style> scoped to .iopsd, no scripts,
 * no external resources; neutral colours on a transparent background so it
 * reads in light and dark notebook themes. The PNG, when given, is embedded
 * as a data: URI. */
#include "render/render_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Selectors carry two classes to win over notebook stylesheets
 * (.jp-RenderedHTMLCommon td, .rendered_html td). */
static const char STYLE[] =
    "<style>"
    ".iopsd{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,"
    "sans-serif;font-size:13px;line-height:1.4;color:inherit;background:transparent}"
    ".iopsd .iopsd-h{font-weight:600;font-size:14px;margin:2px 0 4px}"
    ".iopsd table.iopsd-t{border-collapse:collapse;margin:0 0 10px;border:none;"
    "font-variant-numeric:tabular-nums;color:inherit;background:transparent;table-layout:auto}"
    ".iopsd table.iopsd-t th,.iopsd table.iopsd-t td{padding:2px 10px;border:none;"
    "text-align:right;white-space:nowrap;vertical-align:baseline;color:inherit;"
    "background:transparent;font-size:13px}"
    ".iopsd table.iopsd-t tr{background:transparent}"
    ".iopsd table.iopsd-t thead th{font-weight:600;border-bottom:1px solid rgba(128,128,128,.5)}"
    ".iopsd table.iopsd-t .l{text-align:left}"
    ".iopsd table.iopsd-t td.k{padding-left:18px}"
    ".iopsd table.iopsd-t tr.r td{border-top:1px solid rgba(128,128,128,.35)}"
    ".iopsd table.iopsd-t tr.t td{border-top:1px solid rgba(128,128,128,.6);font-weight:600}"
    ".iopsd table.iopsd-t tr.m td{opacity:.75}"
    ".iopsd table.iopsd-t tr.fw td:first-child{color:#c77700;font-weight:600}"
    ".iopsd table.iopsd-t tr.fc td:first-child{color:#d93025;font-weight:700}"
    ".iopsd table.iopsd-t td.kv{opacity:.75;text-align:left;padding-left:0}"
    ".iopsd table.iopsd-t td.v{text-align:left;white-space:normal}"
    ".iopsd .iopsd-n{margin:-6px 0 10px 18px;opacity:.7;font-size:12px}"
    ".iopsd .iopsd-b{display:inline-block;height:.75em;background:#4c8df6;"
    "border-radius:1px;vertical-align:baseline}"
    ".iopsd img.iopsd-i{display:block;max-width:100%;height:auto;margin:4px 0}"
    "</style>";

void render_html_escape(struct buf *b, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

static void put_table(struct buf *b, const struct rtable *t)
{
    buf_puts(b, "<table class=\"iopsd-t\">");
    if (!t->no_head) {
        buf_puts(b, "<thead><tr><th class=\"l\">");
        render_html_escape(b, t->title);
        buf_puts(b, "</th>");
        for (int c = 1; c < t->ncols; c++) {
            bool left = t->align[c] == 'l' || c == t->bar_col;
            buf_puts(b, left ? "<th class=\"l\">" : "<th>");
            render_html_escape(b, t->head[c]);
            buf_puts(b, "</th>");
        }
        buf_puts(b, "</tr></thead>");
    }
    buf_puts(b, "<tbody>");
    for (size_t j = 0; j < t->nrows; j++) {
        const struct rrow *row = &t->rows[j];
        const char *cls = row->flags & RROW_CRIT    ? " class=\"fc\""
                          : row->flags & RROW_WARN  ? " class=\"fw\""
                          : row->flags & RROW_TOTAL ? " class=\"t\""
                          : row->flags & RROW_RULE
                              ? (row->flags & RROW_MUTED ? " class=\"r m\"" : " class=\"r\"")
                          : row->flags & RROW_MUTED ? " class=\"m\""
                                                    : "";
        buf_printf(b, "<tr%s>", cls);
        for (int c = 0; c < t->ncols; c++) {
            if (c == t->bar_col) {
                double f = row->bar > 1 ? 1 : row->bar > 0 ? row->bar : 0;
                if (f > 0 && f < 0.01)
                    f = 0.01;
                buf_printf(b,
                           "<td class=\"l\"><span class=\"iopsd-b\" style=\"width:%.0fpx\">"
                           "</span></td>",
                           f * 160);
                continue;
            }
            if (t->no_head)
                buf_puts(b, c == 0 ? "<td class=\"kv\">" : "<td class=\"v\">");
            else if (c == 0)
                buf_puts(b, "<td class=\"l k\">");
            else
                buf_puts(b, t->align[c] == 'l' ? "<td class=\"l\">" : "<td>");
            render_html_escape(b, row->cell[c]);
            buf_puts(b, "</td>");
        }
        buf_puts(b, "</tr>");
    }
    buf_puts(b, "</tbody></table>\n");
    for (size_t j = 0; j < t->nnotes; j++) {
        buf_puts(b, "<div class=\"iopsd-n\">");
        render_html_escape(b, t->notes[j]);
        buf_puts(b, "</div>\n");
    }
}

int render__html(const struct report *r, const struct render_opts *o, const struct buf *png,
                 const struct render_png_info *info, struct buf *out)
{
    struct rdoc d;
    render__doc_build(&d, r, o);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<div class=\"iopsd\">");
    buf_puts(&b, STYLE);
    buf_puts(&b, "\n<div class=\"iopsd-h\">");
    render_html_escape(&b, d.title);
    buf_puts(&b, "</div>\n");
    for (size_t i = 0; i < d.ntables; i++)
        put_table(&b, d.tables[i]);
    if (png && png->len && info) {
        buf_printf(&b,
                   "<img class=\"iopsd-i\" width=\"%u\" height=\"%u\" alt=\"I/O histograms: "
                   "operations and bytes by size%s\" src=\"data:image/png;base64,",
                   info->display_width, info->display_height, r->has_latency ? ", latency" : "");
        render_base64(&b, png->data, png->len);
        buf_puts(&b, "\">\n");
    }
    buf_puts(&b, "</div>\n");
    render__doc_release(&d);
    int rc = buf_append(out, b.data, b.len);
    buf_release(&b);
    return rc;
}

int render_html(const struct report *r, const struct render_opts *o, struct buf *out)
{
    struct render_opts def;
    if (!o) {
        render_opts_init(&def);
        o = &def;
    }
    struct buf png;
    buf_init(&png, 0);
    struct render_png_info info = {0};
    int rc;
    if (o->html_image && o->histograms) {
        rc = render_png(r, o, &png, &info);
        if (rc < 0 && rc != -ENODATA) {
            buf_release(&png);
            return rc;
        }
    }
    rc = render__html(r, o, &png, &info, out);
    buf_release(&png);
    return rc;
}

int render_base64(struct buf *out, const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    char chunk[256];
    size_t o = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        chunk[o++] = tab[(v >> 18) & 63];
        chunk[o++] = tab[(v >> 12) & 63];
        chunk[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        chunk[o++] = i + 2 < n ? tab[v & 63] : '=';
        if (o + 4 > sizeof(chunk)) {
            if ((rc = buf_append(out, chunk, o)) < 0)
                return rc;
            o = 0;
        }
    }
    return o ? buf_append(out, chunk, o) : 0;
}
