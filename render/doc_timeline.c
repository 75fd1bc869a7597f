/* doc_timeline: the "Over time" section of the text and HTML reports — the
 * sampling, the leak verdict, the plateaus, the jumps (each with its nearest
 * event) and the events, as tables of the document model. */
#include "measure/timeline.h"
#include "render/render_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Rows listed per table; the JSON has them all. */
#define SHOW_ROWS 40

static void more(struct rtable *t, size_t n, const char *what)
{
    if (n > SHOW_ROWS)
        render__doc_note(t, "%zu more %s in the JSON report.", n - SHOW_ROWS, what);
}

/* "12.5" or "13" */
static void level(char *s, size_t n, double v)
{
    if (fabs(v - round(v)) < 1e-9)
        snprintf(s, n, "%.0f", v);
    else
        snprintf(s, n, "%.1f", v);
}

static void summary(struct rdoc *d, const struct timeline *tl)
{
    char a[RFMT_MAX], b[RFMT_MAX];
    struct rtable *t = render__doc_table(d, "Over time", "ll", NULL);
    t->no_head = true;
    struct rrow *row = render__doc_row(t, 0);
    render__doc_cell(row, 0, "samples");
    render__doc_cell(row, 1, "%s every %s%s", render__count(a, sizeof(a), tl->offered),
                     render__seconds(b, sizeof(b), tl->interval),
                     tl->fast_count ? " (descriptor counts from the size of /proc/<pid>/fd)" : "");
    if (tl->decimated) {
        row = render__doc_row(t, 0);
        render__doc_cell(row, 0, "kept");
        render__doc_cell(row, 1, "%s (%s thinned out to bound memory)",
                         render__count(a, sizeof(a), tl->nsamples),
                         render__count(b, sizeof(b), tl->decimated));
    }
    if (tl->analysed) {
        const struct tl_params *p = &tl->params;
        row = render__doc_row(t, 0);
        render__doc_cell(row, 0, "analysis");
        if (p->compat)
            render__doc_cell(row, 1,
                             "fdprof's: tolerance %g, min length %u samples, merge below %g%s, "
                             "jumps from %g",
                             p->tolerance, p->min_length, p->merge_threshold,
                             p->merge ? "" : " (off)", p->jump_threshold);
        else
            render__doc_cell(row, 1,
                             "tolerance %g, plateaus of %g s or more, merge below %g%s, jumps "
                             "from %g",
                             p->tolerance, p->min_duration, p->merge_threshold,
                             p->merge ? "" : " (off)", p->jump_threshold);
    }
    const struct tl_leak *l = &tl->leak;
    if (tl->analysed && l->computed) {
        row = render__doc_row(t, 0);
        render__doc_cell(row, 0, "leak");
        char extra[RFMT_MAX] = "";
        if (l->has_opens)
            snprintf(extra, sizeof(extra), ", opens - closes %lld",
                     (long long)l->opens_minus_closes);
        render__doc_cell(row, 1,
                         "%s: %+.1f descriptors over %s by the trend (%+.2f/s), net %+ld%s; "
                         "threshold %g",
                         l->flagged ? "LIKELY" : "no", l->growth,
                         render__seconds(a, sizeof(a), l->duration), l->slope, l->net, extra,
                         tl->params.leak_threshold);
    }
    if (tl->events_dropped || tl->lines_too_long)
        render__doc_note(t,
                         "%llu events dropped beyond %d; %llu output lines longer than %d bytes "
                         "not read for events.",
                         (unsigned long long)tl->events_dropped, TL_MAX_EVENTS,
                         (unsigned long long)tl->lines_too_long, TL_LINE_MAX);
}

static void plateaus(struct rdoc *d, const struct timeline *tl)
{
    char title[64], a[RFMT_MAX], b[RFMT_MAX], c[RFMT_MAX];
    snprintf(title, sizeof(title), "Plateaus (%zu)", tl->nplateaus);
    static const char *const heads[] = {"from", "to", "samples"};
    struct rtable *t = render__doc_table(d, title, "rrrr", heads);
    for (size_t i = 0; i < tl->nplateaus && i < SHOW_ROWS; i++) {
        const struct tl_plateau *p = &tl->plateaus[i];
        struct rrow *row = render__doc_row(t, 0);
        level(a, sizeof(a), p->level);
        render__doc_cell(row, 0, "%s fds", a);
        render__doc_cell(row, 1, "%s", render__seconds(b, sizeof(b), p->start_time));
        render__doc_cell(row, 2, "%s", render__seconds(c, sizeof(c), p->end_time));
        render__doc_cell(row, 3, "%zu", p->nvalues);
    }
    more(t, tl->nplateaus, "plateaus");
    render__doc_note(t, "Levels are medians; times are after the start.");
}

static void jumps(struct rdoc *d, const struct timeline *tl)
{
    char title[64], a[RFMT_MAX], f[RFMT_MAX], to[RFMT_MAX];
    snprintf(title, sizeof(title), "Jumps (%zu)", tl->njumps);
    static const char *const heads[] = {"size", "from", "to", "nearest event"};
    struct rtable *t = render__doc_table(d, title, "rrrrl", heads);
    for (size_t i = 0; i < tl->njumps && i < SHOW_ROWS; i++) {
        const struct tl_jump *j = &tl->jumps[i];
        struct rrow *row = render__doc_row(t, 0);
        render__doc_cell(row, 0, "%s", render__seconds(a, sizeof(a), j->time));
        render__doc_cell(row, 1, "%+ld", j->rounded);
        level(f, sizeof(f), j->from_level);
        level(to, sizeof(to), j->to_level);
        render__doc_cell(row, 2, "%s", f);
        render__doc_cell(row, 3, "%s", to);
        if (j->event >= 0 && (size_t)j->event < tl->nevents) {
            char *m = render__doc_clean(tl->events[j->event].message, 50);
            if (j->event_distance > 0)
                render__doc_cell(row, 4, "%s (%s away)", m,
                                 render__seconds(a, sizeof(a), j->event_distance));
            else
                render__doc_cell(row, 4, "%s", m);
            free(m);
        }
    }
    more(t, tl->njumps, "jumps");
}

static void events(struct rdoc *d, const struct timeline *tl)
{
    char title[64], a[RFMT_MAX];
    snprintf(title, sizeof(title), "Events (%zu)", tl->nevents);
    static const char *const heads[] = {"from", "message"};
    struct rtable *t = render__doc_table(d, title, "rll", heads);
    for (size_t i = 0; i < tl->nevents && i < SHOW_ROWS; i++) {
        const struct tl_event *e = &tl->events[i];
        struct rrow *row = render__doc_row(t, 0);
        render__doc_cell(row, 0, "%s", render__seconds(a, sizeof(a), e->elapsed));
        render__doc_cell(row, 1, "%s", tl_source_name(e->source));
        char *m = render__doc_clean(e->message, 70);
        render__doc_cell(row, 2, "%s", m);
        free(m);
    }
    more(t, tl->nevents, "events");
}

void render__timeline_tables(struct rdoc *d, const struct report *r)
{
    const struct timeline *tl = r->timeline;
    summary(d, tl);
    if (tl->analysed && tl->nplateaus)
        plateaus(d, tl);
    if (tl->analysed && tl->njumps)
        jumps(d, tl);
    if (tl->nevents)
        events(d, tl);
}
