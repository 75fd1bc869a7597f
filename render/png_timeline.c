/* png_timeline: the timeline panel of the PNG — open descriptors as a line
 * with sample dots, plateaus as grey segments under it, jumps as red (rise)
 * and blue (fall) double arrows labelled +N / -N, EVENT markers as dashed
 * purple lines with their messages, and operations per second (reads +
 * writes) as an orange step line on a second axis. Everything is placed in
 * data coordinates (see struct png_timeline), so segments, arrows and lines
 * sit exactly at their times and levels. */
#include "measure/timeline.h"
#include "render/render_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_LABEL_MAX 28 /* characters of an event message drawn */

static double t_of(const struct tl_sample *s)
{
    return (double)s->mono_ns / 1e9;
}

static int fs_of(int S)
{
    return (3 * S + 1) / 2;
}

static int label_width(double v, int fs)
{
    char s[32];
    snprintf(s, sizeof(s), "%g", v);
    return render__text_width(s, fs);
}

bool render__png_timeline_place(const struct report *r, struct png_timeline *t, int x0, int x1,
                                int y, int S)
{
    memset(t, 0, sizeof(*t));
    const struct timeline *tl = r->timeline;
    if (!tl || tl->nsamples < 2)
        return false;
    double tmax = 0, ymax = 0, omax = 0;
    for (size_t i = 0; i < tl->nsamples; i++) {
        const struct tl_sample *s = &tl->samples[i];
        if (t_of(s) > tmax)
            tmax = t_of(s);
        if (s->open_fds > ymax)
            ymax = s->open_fds;
        if (i) {
            const struct tl_sample *p = &tl->samples[i - 1];
            double dt = t_of(s) - t_of(p);
            double ops =
                (double)(s->read_ops - p->read_ops) + (double)(s->write_ops - p->write_ops);
            if (dt > 0 && ops / dt > omax)
                omax = ops / dt;
        }
    }
    for (size_t i = 0; i < tl->nevents; i++)
        if (tl->events[i].elapsed > tmax && tl->events[i].elapsed < tmax * 2 + 1)
            tmax = tl->events[i].elapsed;
    if (!(tmax > 0))
        tmax = tl->interval;
    t->tstep = render__nice_step(tmax / 8);
    t->tmax = tmax;
    t->ystep = render__nice_step((ymax > 0 ? ymax : 1) / 5);
    if (t->ystep < 1)
        t->ystep = 1;
    t->ymax = ceil(ymax / t->ystep + 1e-9) * t->ystep;
    if (t->ymax <= ymax)
        t->ymax += t->ystep; /* headroom for the arrows' labels */
    t->ostep = render__nice_step((omax > 0 ? omax : 1) / 5);
    t->omax = ceil(omax / t->ostep - 1e-9) * t->ostep;
    if (t->omax <= 0)
        t->omax = t->ostep;
    int fs = fs_of(S);
    char s[32];
    render__si(s, sizeof(s), t->omax);
    t->x0 = x0 + 16 * S + label_width(t->ymax, fs) + 8 * S;
    t->x1 = x1 - 16 * S - render__text_width(s, fs) - 8 * S;
    t->y0 = y + 40 * S; /* title, legend and room for event labels */
    t->y1 = y + (PNG_TIMELINE_H - 46) * S;
    return true;
}

static int px(const struct png_timeline *t, double sec)
{
    if (sec < 0)
        sec = 0;
    if (sec > t->tmax)
        sec = t->tmax;
    return t->x0 + (int)lround(sec / t->tmax * (t->x1 - t->x0));
}

static int py(const struct png_timeline *t, double v, double max)
{
    if (v < 0)
        v = 0;
    if (v > max)
        v = max;
    return t->y1 - (int)lround(v / max * (t->y1 - t->y0));
}

/* A vertical double arrow at x from ya to yb (heads at both ends). */
static void arrow(struct canvas *c, int x, int ya, int yb, int S, uint8_t col)
{
    int top = ya < yb ? ya : yb, bot = ya < yb ? yb : ya;
    render__fill(c, x - S / 2, top, x - S / 2 + S, bot, col);
    int head = 5 * S;
    if (bot - top < 2 * head)
        head = (bot - top) / 2;
    for (int k = 0; k < head; k++) {
        render__fill(c, x - k, top + k, x + k + 1, top + k + 1, col);
        render__fill(c, x - k, bot - k - 1, x + k + 1, bot - k, col);
    }
}

void render__png_timeline_draw(struct canvas *c, const struct report *r,
                               const struct png_timeline *t, int S)
{
    const struct timeline *tl = r->timeline;
    int fs = fs_of(S), glyph_h = 7 * fs;
    char s[64];

    /* grid, left ticks (descriptors), right ticks (ops/s) */
    for (int i = 0; i <= 20; i++) {
        double v = t->ystep * i;
        if (v > t->ymax * (1 + 1e-9))
            break;
        int yy = py(t, v, t->ymax);
        if (i > 0)
            render__fill(c, t->x0, yy, t->x1, yy + S / 2 + 1, C_GRID);
        snprintf(s, sizeof(s), "%g", v);
        render__text(c, t->x0 - 8 * S - render__text_width(s, fs), yy - glyph_h / 2, s, fs,
                     C_MUTED);
        double o = t->omax * v / t->ymax;
        render__si(s, sizeof(s), o);
        render__text(c, t->x1 + 8 * S, yy - glyph_h / 2, s, fs, C_WRITE);
    }
    /* x ticks (seconds) */
    for (int i = 0; i <= 40; i++) {
        double sec = t->tstep * i;
        if (sec > t->tmax * (1 + 1e-9))
            break;
        int xx = px(t, sec);
        render__fill(c, xx, t->y1 + S, xx + S, t->y1 + 4 * S, C_AXIS);
        snprintf(s, sizeof(s), "%g", sec);
        render__text(c, xx - render__text_width(s, fs) / 2, t->y1 + 7 * S, s, fs, C_MUTED);
    }

    /* events: dashed lines, messages read upwards along them */
    int last_label = -1000000;
    for (size_t i = 0; i < tl->nevents; i++) {
        const struct tl_event *e = &tl->events[i];
        if (e->elapsed < 0 || e->elapsed > t->tmax)
            continue;
        int xx = px(t, e->elapsed);
        bool marker = e->source == TL_SRC_START || e->source == TL_SRC_END;
        for (int y = t->y0; y < t->y1; y += 8 * S)
            render__fill(c, xx, y, xx + S, y + 4 * S < t->y1 ? y + 4 * S : t->y1,
                         marker ? C_AXIS : C_EVENT);
        if (marker || xx - last_label < 9 * fs + 2 * S)
            continue; /* no room: the line stays, the label goes */
        char msg[EVENT_LABEL_MAX + 4];
        size_t n = strlen(e->message);
        if (n > EVENT_LABEL_MAX)
            snprintf(msg, sizeof(msg), "%.*s...", EVENT_LABEL_MAX - 3, e->message);
        else
            snprintf(msg, sizeof(msg), "%s", e->message);
        int room = (t->y1 - t->y0) - 4 * S;
        while (strlen(msg) > 1 && render__text_width(msg, fs) > room)
            msg[strlen(msg) - 1] = '\0';
        /* left of the line: a jump's arrow sits right of its event */
        int lx = xx - 2 * S - 9 * fs;
        render__text_up(c, lx < t->x0 + 2 * S ? t->x0 + 2 * S : lx,
                        t->y0 + 2 * S + render__text_width(msg, fs), msg, fs, C_EVENT);
        last_label = xx;
    }

    /* operations per second: a step line on the right axis */
    for (size_t i = 1; i < tl->nsamples; i++) {
        const struct tl_sample *a = &tl->samples[i - 1], *b = &tl->samples[i];
        double dt = t_of(b) - t_of(a);
        if (!(dt > 0))
            continue;
        double ops =
            ((double)(b->read_ops - a->read_ops) + (double)(b->write_ops - a->write_ops)) / dt;
        int yy = py(t, ops, t->omax);
        render__fill(c, px(t, t_of(a)), yy, px(t, t_of(b)) + 1, yy + S, C_WRITE);
        if (i + 1 < tl->nsamples) {
            const struct tl_sample *n = &tl->samples[i + 1];
            double dn = t_of(n) - t_of(b);
            double next = dn > 0 ? ((double)(n->read_ops - b->read_ops) +
                                    (double)(n->write_ops - b->write_ops)) /
                                       dn
                                 : ops;
            int y2 = py(t, next, t->omax);
            int xb = px(t, t_of(b));
            render__fill(c, xb, yy < y2 ? yy : y2, xb + S, (yy < y2 ? y2 : yy) + S, C_WRITE);
        }
    }

    /* plateaus under the line */
    for (size_t i = 0; i < tl->nplateaus; i++) {
        const struct tl_plateau *p = &tl->plateaus[i];
        int yy = py(t, p->level, t->ymax);
        render__fill(c, px(t, p->start_time), yy - 2 * S, px(t, p->end_time) + S, yy + 2 * S,
                     C_PLATEAU);
    }

    /* descriptors: the line through the valid samples, and dots when they
     * are far enough apart to be seen */
    bool dots = (size_t)(t->x1 - t->x0) / (tl->nsamples ? tl->nsamples : 1) >= (size_t)(4 * S);
    const struct tl_sample *prev = NULL;
    for (size_t i = 0; i < tl->nsamples; i++) {
        const struct tl_sample *s1 = &tl->samples[i];
        if (s1->open_fds < 0)
            continue;
        int xx = px(t, t_of(s1)), yy = py(t, s1->open_fds, t->ymax);
        if (prev)
            render__line(c, px(t, t_of(prev)), py(t, prev->open_fds, t->ymax), xx, yy, S, C_TEXT);
        if (dots)
            render__fill(c, xx - S - S / 2, yy - S - S / 2, xx + S + S / 2 + 1, yy + S + S / 2 + 1,
                         C_TEXT);
        prev = s1;
    }

    /* jumps */
    for (size_t i = 0; i < tl->njumps; i++) {
        const struct tl_jump *j = &tl->jumps[i];
        uint8_t col = j->size > 0 ? C_RISE : C_FALL;
        int xx = px(t, j->time);
        int ya = py(t, j->from_level, t->ymax), yb = py(t, j->to_level, t->ymax);
        arrow(c, xx, ya, yb, S, col);
        snprintf(s, sizeof(s), "%+ld", j->rounded);
        /* right of the arrow, half way: below the upper plateau for a rise,
         * above the lower one for a fall; the event's label is on the left */
        render__text(c, xx + 5 * S, (ya + yb) / 2 - glyph_h / 2, s, fs, col);
    }

    /* axes, titles, legend */
    render__fill(c, t->x0, t->y1, t->x1, t->y1 + S, C_AXIS);
    render__fill(c, t->x0 - S, t->y0, t->x0, t->y1 + S, C_AXIS);
    render__fill(c, t->x1, t->y0, t->x1 + S, t->y1 + S, C_AXIS);
    render__text(c, t->x0, t->y0 - 26 * S - glyph_h / 2, "Open descriptors over time", fs, C_TEXT);
    const char *xt = "seconds since the start";
    render__text(c, (t->x0 + t->x1 - render__text_width(xt, fs)) / 2, t->y1 + 24 * S, xt, fs,
                 C_MUTED);
    /* legend on the title line, right-aligned */
    static const struct {
        const char *label;
        uint8_t col;
    } keys[] = {
        {"descriptors", C_TEXT},
        {"plateau", C_PLATEAU},
        {"ops/s", C_WRITE},
        {"event", C_EVENT},
    };
    int x = t->x1, y = t->y0 - 26 * S - glyph_h / 2, sq = 7 * fs;
    for (int k = (int)(sizeof(keys) / sizeof(keys[0])) - 1; k >= 0; k--) {
        x -= render__text_width(keys[k].label, fs);
        render__text(c, x, y, keys[k].label, fs, C_TEXT);
        render__fill(c, x - 5 * S - sq, y, x - 5 * S, y + sq, keys[k].col);
        x -= 5 * S + sq + 14 * S;
    }
}
