/* test_render_timeline: the timeline's PNG panel decoded back — plateau
 * segments, jump arrows and event lines exactly where the data coordinates
 * put them, a PNG even without histograms, identical bytes twice — and the
 * "Over time" section of the text report. */
#include "measure/timeline.h"
#include "render/render.h"
#include "render/render_int.h"
#include "tests/unit/tap.h"

#include <math.h>
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

/* The documented data coordinates of struct png_timeline. */
static int xat(const struct png_timeline *t, double sec)
{
    return t->x0 + (int)lround(sec / t->tmax * (t->x1 - t->x0));
}

static int yat(const struct png_timeline *t, double v)
{
    return t->y1 - (int)lround(v / t->ymax * (t->y1 - t->y0));
}

/* The demo's shape: 3, +5, +13, +19, +14, +6, 3 descriptors, 1 s stages at
 * 0.1 s (the last 0.3 s), an event at each step, 20 writes a second. */
static struct timeline *demo(void)
{
    struct timeline *tl = timeline_new(0.1, 1000.0);
    static const int levels[7] = {3, 8, 16, 22, 17, 9, 3};
    uint64_t k = 0;
    for (int st = 0; st < 7; st++) {
        if (st)
            timeline_add_event(tl, 1000.0 + (double)k / 10 - 0.05, 0, TL_SRC_STDOUT, "step", 4);
        for (int i = 0; i < (st == 6 ? 3 : 10); i++, k++) {
            struct tl_sample s = {.mono_ns = k * 100000000ull, .open_fds = levels[st]};
            s.wall = 1000.0 + (double)k / 10;
            s.write_ops = k * 2;
            timeline_add_sample(tl, &s);
        }
    }
    struct tl_params p;
    tl_params_init(&p);
    timeline_analyse(tl, &p, false, 0);
    return tl;
}

static void panel(void)
{
    struct report r;
    report_init(&r);
    snprintf(r.backend, sizeof(r.backend), "proc");
    r.timeline = demo();
    CHECK_INT(r.timeline->nplateaus, 7);
    CHECK_INT(r.timeline->njumps, 6);
    struct render_opts o;
    render_opts_init(&o);
    struct png_layout l;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK(l.timeline);
    CHECK_INT(l.npanels, 0); /* no histograms: proc */
    const struct png_timeline *t = &l.tl;
    CHECK(fabs(t->tmax - 6.2) < 1e-9);
    CHECK(t->ymax == 25 && t->ystep == 5);
    CHECK(t->omax == 20); /* 2 writes per 0.1 s */

    struct buf b, b2;
    buf_init(&b, 0);
    buf_init(&b2, 0);
    CHECK_INT(render_png(&r, &o, &b, NULL), 0);
    CHECK_INT(render_png(&r, &o, &b2, NULL), 0);
    CHECK(b.len == b2.len && !memcmp(b.data, b2.data, b.len));
    struct image im;
    CHECK_INT(decode(&b, &im), 0);
    CHECK_INT(im.w, l.width);
    CHECK_INT(im.h, l.height);
    int S = (int)l.scale;

    /* each plateau: grey just below the descriptor line, half way between two
     * samples, at its level */
    for (size_t i = 0; i < r.timeline->nplateaus; i++) {
        const struct tl_plateau *p = &r.timeline->plateaus[i];
        double mid = (p->start_time + p->end_time) / 2;
        mid = floor(mid * 10) / 10 + 0.05; /* between two samples: no dot */
        CHECK_U64(px(&im, xat(t, mid), yat(t, p->level) + S + 1), RENDER_RGB_PLATEAU);
        CHECK_U64(px(&im, xat(t, mid), yat(t, p->level)), RENDER_RGB_TEXT);
    }
    /* each jump: an arrow of its colour at its time, from level to level */
    for (size_t i = 0; i < r.timeline->njumps; i++) {
        const struct tl_jump *j = &r.timeline->jumps[i];
        uint32_t want = j->size > 0 ? RENDER_RGB_RISE : RENDER_RGB_FALL;
        int x = xat(t, j->time), ya = yat(t, j->from_level), yb = yat(t, j->to_level);
        int top = ya < yb ? ya : yb, bot = ya < yb ? yb : ya, bad = 0;
        for (int y = top + 6 * S; y < bot - 6 * S; y++)
            bad += px(&im, x, y) != want;
        CHECK_INT(bad, 0);
    }
    /* each event: a dashed line from the top of the panel */
    for (size_t i = 0; i < r.timeline->nevents; i++) {
        int x = xat(t, r.timeline->events[i].elapsed);
        CHECK_U64(px(&im, x, t->y0 + 2 * S), RENDER_RGB_EVENT); /* below the ops/s line */
        CHECK_U64(px(&im, x, t->y0 + 6 * S), RENDER_RGB_BG);    /* the gap of the dash */
    }
    free(im.rgb);
    buf_release(&b);
    buf_release(&b2);

    /* the text report's section */
    buf_init(&b, 0);
    CHECK_INT(render_text(&r, &b), 0);
    CHECK(strstr(b.data, "Plateaus (7)") != NULL);
    CHECK(strstr(b.data, "Jumps (6)") != NULL);
    CHECK(strstr(b.data, "Events (6)") != NULL);
    CHECK(strstr(b.data, "  3 fds") != NULL);
    CHECK(strstr(b.data, "  22 fds") != NULL);
    CHECK(strstr(b.data, "+8") != NULL);
    CHECK(strstr(b.data, "-6") != NULL);
    CHECK(strstr(b.data, "leak      no: ") != NULL);
    buf_release(&b);
    report_release(&r);
}

/* A 10-minute run at 0.1 s, decimated: still one readable panel, the line
 * across the whole width, no dots. */
static void long_run(void)
{
    struct report r;
    report_init(&r);
    r.timeline = timeline_new(0.1, 0);
    for (uint64_t k = 0; k < 6000; k++) {
        struct tl_sample s = {.mono_ns = k * 100000000ull, .open_fds = (int32_t)(10 + k / 300)};
        timeline_add_sample(r.timeline, &s);
    }
    struct tl_params p;
    tl_params_init(&p);
    timeline_analyse(r.timeline, &p, false, 0);
    CHECK(r.timeline->leak.flagged);
    CHECK_INT(r.timeline->nsamples, 3000);
    struct render_opts o;
    render_opts_init(&o);
    struct png_layout l;
    CHECK_INT(render__png_layout(&r, &o, &l), 0);
    CHECK(fabs(l.tl.tmax - 599.8) < 1e-9);
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(render_png(&r, &o, &b, NULL), 0);
    struct image im;
    CHECK_INT(decode(&b, &im), 0);
    /* the last level (29) at the right edge */
    CHECK_U64(px(&im, l.tl.x1 - 2, yat(&l.tl, 29)), RENDER_RGB_TEXT);
    free(im.rgb);
    buf_release(&b);
    report_release(&r);
}

int main(void)
{
    panel();
    long_run();
    return tap_done("test_render_timeline");
}
