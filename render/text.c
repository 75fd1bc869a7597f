/* text: the report as an aligned plain-text table (terminal, text/plain in a
 * notebook). Prints the document built by doc.c: columns sized to their
 * content, numbers right-aligned, a rule above totals, notes word-wrapped. */
#include "render/render_int.h"
#include "util/xalloc.h"

#include <string.h>

#define GAP        3
#define BAR_WIDTH  20
#define NOTE_WIDTH 78

static const char *const RULE_CHAR = "\xe2\x94\x80"; /* ─ */

static void pad(struct buf *b, size_t n)
{
    static const char spaces[] = "                                ";
    while (n) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        buf_append(b, spaces, k);
        n -= k;
    }
}

/* Removes trailing spaces from the current line, then ends it. */
static void endline(struct buf *b)
{
    while (b->len && b->data[b->len - 1] == ' ')
        b->len--;
    buf_append(b, "\n", 1);
}

static void put_cell(struct buf *b, const char *s, size_t w, char align)
{
    size_t cw = render__width(s ? s : "");
    size_t fill = w > cw ? w - cw : 0;
    if (align == 'r')
        pad(b, fill);
    buf_puts(b, s ? s : "");
    if (align != 'r')
        pad(b, fill);
}

/* A bar of frac * BAR_WIDTH columns in eighth blocks; nonzero is at least 1/8. */
static void put_bar(struct buf *b, double frac)
{
    static const char *const eighth[8] = {
        "",
        "\xe2\x96\x8f",
        "\xe2\x96\x8e",
        "\xe2\x96\x8d",
        "\xe2\x96\x8c",
        "\xe2\x96\x8b",
        "\xe2\x96\x8a",
        "\xe2\x96\x89",
    };
    if (!(frac > 0))
        return;
    if (frac > 1)
        frac = 1;
    unsigned units = (unsigned)(frac * BAR_WIDTH * 8 + 0.5);
    if (units == 0)
        units = 1;
    for (unsigned i = 0; i < units / 8; i++)
        buf_puts(b, "\xe2\x96\x88");
    buf_puts(b, eighth[units % 8]);
}

static void put_rule(struct buf *b, size_t indent, size_t w)
{
    pad(b, indent);
    for (size_t i = 0; i < w; i++)
        buf_puts(b, RULE_CHAR);
    endline(b);
}

/* Word-wraps a note at NOTE_WIDTH columns with a two-space indent. */
static void put_note(struct buf *b, const char *s)
{
    size_t col = 0;
    while (*s) {
        size_t wl = strcspn(s, " ");
        size_t ww = 0;
        for (size_t i = 0; i < wl; i++)
            ww += ((unsigned char)s[i] & 0xc0) != 0x80;
        if (col == 0) {
            pad(b, 2);
            col = 2;
        } else if (col + 1 + ww > NOTE_WIDTH) {
            endline(b);
            pad(b, 2);
            col = 2;
        } else {
            buf_puts(b, " ");
            col++;
        }
        buf_append(b, s, wl);
        col += ww;
        s += wl;
        while (*s == ' ')
            s++;
    }
    if (col)
        endline(b);
}

static void put_table(struct buf *b, const struct rtable *t)
{
    size_t w[RDOC_COLS] = {0};
    for (size_t j = 0; j < t->nrows; j++)
        for (int c = 0; c < t->ncols; c++)
            if (t->rows[j].cell[c]) {
                size_t cw = render__width(t->rows[j].cell[c]) + (c == 0 ? 2 : 0);
                if (cw > w[c])
                    w[c] = cw;
            }
    if (!t->no_head)
        for (int c = 1; c < t->ncols; c++)
            if (t->head[c] && render__width(t->head[c]) > w[c])
                w[c] = render__width(t->head[c]);
    if (t->bar_col >= 0)
        w[t->bar_col] = BAR_WIDTH;
    size_t tw = t->title ? render__width(t->title) : 0;
    bool title_inline = t->title && !t->no_head && (tw <= w[0] + 6 || tw <= 26);
    if (title_inline && tw > w[0])
        w[0] = tw;
    size_t total = w[0];
    for (int c = 1; c < t->ncols; c++)
        total += GAP + w[c];

    if (t->title && !title_inline) {
        buf_puts(b, t->title);
        endline(b);
    }
    if (!t->no_head) {
        put_cell(b, title_inline ? t->title : "", w[0], 'l');
        for (int c = 1; c < t->ncols; c++) {
            pad(b, GAP);
            put_cell(b, t->head[c], w[c], c == t->bar_col ? 'l' : t->align[c]);
        }
        endline(b);
    }
    for (size_t j = 0; j < t->nrows; j++) {
        const struct rrow *row = &t->rows[j];
        if (row->flags & RROW_TOTAL)
            put_rule(b, 2, total - 2);
        else if (row->flags & RROW_RULE)
            endline(b);
        pad(b, 2);
        put_cell(b, row->cell[0], w[0] - 2, 'l');
        for (int c = 1; c < t->ncols; c++) {
            pad(b, c == 1 && t->no_head ? 2 : GAP);
            if (c == t->bar_col)
                put_bar(b, row->bar);
            else
                put_cell(b, row->cell[c], w[c], t->align[c]);
        }
        endline(b);
    }
    for (size_t j = 0; j < t->nnotes; j++)
        put_note(b, t->notes[j]);
}

/* One ASCII character for each non-ASCII one, so the columns stay aligned:
 * the table's own symbols get look-alikes, anything else (paths) is '?'. */
static void to_ascii(struct buf *b)
{
    static const struct {
        const char *utf8;
        char ascii;
    } map[] = {
        {"\xc2\xb7", '|'},     /* · */
        {"\xe2\x94\x80", '-'}, /* ─ */
        {"\xe2\x80\x93", '-'}, /* – */
        {"\xe2\x80\xa6", '~'}, /* … */
        {"\xc2\xb5", 'u'},     /* µ */
        {"\xe2\x89\xa5", '>'}, /* ≥ */
        {"\xe2\x96\x88", '#'}, /* █ */
        {"\xc2\xa0", ' '},     /* no-break space */
        {"\xe2\x94\x94", '`'}, /* └ */
    };
    size_t o = 0;
    for (size_t i = 0; i < b->len;) {
        unsigned char c = (unsigned char)b->data[i];
        if (c < 0x80) {
            b->data[o++] = b->data[i++];
            continue;
        }
        size_t n = 1;
        while (i + n < b->len && ((unsigned char)b->data[i + n] & 0xc0) == 0x80)
            n++;
        char rep = '?';
        for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
            if (strlen(map[k].utf8) == n && !memcmp(map[k].utf8, b->data + i, n))
                rep = map[k].ascii;
        if (n == 3 && !memcmp(b->data + i, "\xe2\x96", 2) &&
            (unsigned char)b->data[i + 2] >= 0x89 && (unsigned char)b->data[i + 2] <= 0x8f)
            rep = '+'; /* partial blocks ▉..▏ */
        b->data[o++] = rep;
        i += n;
    }
    b->len = o;
    if (b->data)
        b->data[o] = '\0';
}

int render_text_opts(const struct report *r, const struct render_opts *o, struct buf *out)
{
    struct render_opts def;
    if (!o) {
        render_opts_init(&def);
        o = &def;
    }
    struct rdoc d;
    render__doc_build(&d, r, o);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, d.title);
    endline(&b);
    for (size_t i = 0; i < d.ntables; i++) {
        if (i > 0)
            endline(&b);
        put_table(&b, d.tables[i]);
    }
    render__doc_release(&d);
    if (o->ascii)
        to_ascii(&b);
    int rc = buf_append(out, b.data, b.len);
    buf_release(&b);
    return rc;
}

int render_text(const struct report *r, struct buf *out)
{
    return render_text_opts(r, NULL, out);
}

void render_opts_init(struct render_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->histograms = true;
    o->html_image = true;
    o->top_files = 0;
    o->top_procs = 10;
    o->max_leaked = 20;
    o->scale = 2;
    o->png_width = 800;
}
