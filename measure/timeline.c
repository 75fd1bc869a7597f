/* timeline: the sample store (bounded, decimating), the events, and fdprof's
 * EVENT line protocol parsed from output that arrives in arbitrary pieces. */
#include "measure/timeline.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tl_params_init(struct tl_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tolerance = 2.0;
    p->min_length = 5;
    p->min_duration = 0.4;
    p->merge = true;
    p->merge_threshold = 5.0;
    p->jump_threshold = 2.0;
    p->leak_threshold = 10.0;
}

struct timeline *timeline_new(double interval, double t0_wall)
{
    struct timeline *tl = xcalloc(1, sizeof(*tl));
    tl->interval = interval > 0 ? interval : TL_DEFAULT_INTERVAL;
    tl->t0_wall = t0_wall;
    tl->stride = 1;
    tl_params_init(&tl->params);
    return tl;
}

void timeline_free(struct timeline *tl)
{
    if (!tl)
        return;
    for (size_t i = 0; i < tl->nevents; i++)
        free(tl->events[i].message);
    free(tl->events);
    free(tl->samples);
    free(tl->plateaus);
    free(tl->jumps);
    free(tl);
}

/* Keeps every other sample (the first and, from then on, each second one). */
static void decimate(struct timeline *tl)
{
    size_t k = 0;
    for (size_t i = 0; i < tl->nsamples; i += 2)
        tl->samples[k++] = tl->samples[i];
    tl->decimated += tl->nsamples - k;
    tl->nsamples = k;
    tl->stride *= 2;
}

static void add_sample(struct timeline *tl, const struct tl_sample *s, bool force)
{
    struct tl_sample c = *s;
    if (tl->nsamples) {
        const struct tl_sample *p = &tl->samples[tl->nsamples - 1];
        if (c.read_ops < p->read_ops)
            c.read_ops = p->read_ops;
        if (c.write_ops < p->write_ops)
            c.write_ops = p->write_ops;
        if (c.read_bytes < p->read_bytes)
            c.read_bytes = p->read_bytes;
        if (c.write_bytes < p->write_bytes)
            c.write_bytes = p->write_bytes;
    }
    uint64_t k = tl->offered++;
    if (!force && k % tl->stride) {
        tl->decimated++;
        return;
    }
    if (tl->nsamples == TL_MAX_SAMPLES) {
        decimate(tl);
        if (!force && k % tl->stride) {
            tl->decimated++;
            return;
        }
    }
    tl->samples = xgrow(tl->samples, &tl->samples_cap, tl->nsamples + 1, sizeof(*tl->samples));
    tl->samples[tl->nsamples++] = c;
}

void timeline_add_sample(struct timeline *tl, const struct tl_sample *s)
{
    add_sample(tl, s, false);
}

void timeline_add_final_sample(struct timeline *tl, const struct tl_sample *s)
{
    add_sample(tl, s, true);
}

void timeline_set_final_io(struct timeline *tl, const uint64_t io[4])
{
    for (size_t i = tl->nsamples; i-- > 0;) {
        struct tl_sample *s = &tl->samples[i];
        uint64_t *f[4] = {&s->read_ops, &s->write_ops, &s->read_bytes, &s->write_bytes};
        for (int k = 0; k < 4; k++)
            if (i == tl->nsamples - 1 || *f[k] > io[k])
                *f[k] = io[k];
    }
}

const struct tl_sample *timeline_last(const struct timeline *tl)
{
    return tl->nsamples ? &tl->samples[tl->nsamples - 1] : NULL;
}

const char *tl_source_name(enum tl_event_source s)
{
    switch (s) {
    case TL_SRC_STDOUT:
        return "stdout";
    case TL_SRC_STDERR:
        return "stderr";
    case TL_SRC_OUTPUT:
        return "output";
    case TL_SRC_START:
        return "start";
    case TL_SRC_END:
        return "end";
    }
    return "?";
}

void timeline_add_event(struct timeline *tl, double timestamp, double received,
                        enum tl_event_source src, const char *msg, size_t len)
{
    if (tl->nevents >= TL_MAX_EVENTS) {
        tl->events_dropped++;
        return;
    }
    if (len > TL_EVENT_MSG_MAX)
        len = TL_EVENT_MSG_MAX;
    tl->events = xgrow(tl->events, &tl->events_cap, tl->nevents + 1, sizeof(*tl->events));
    struct tl_event *e = &tl->events[tl->nevents++];
    e->timestamp = timestamp;
    e->elapsed = timestamp - tl->t0_wall;
    e->received = received;
    e->source = src;
    e->message = xstrndup(msg, len);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

int tl_parse_event(const char *line, size_t len, double *ts, const char **msg, size_t *msglen)
{
    size_t i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (len - i < 6 || memcmp(line + i, "EVENT:", 6))
        return -EINVAL;
    i += 6;
    size_t ws = i;
    while (i < len && is_space(line[i]))
        i++;
    if (i == ws)
        return -EINVAL;
    size_t t0 = i, dots = 0, digits = 0;
    while (i < len && !is_space(line[i])) {
        if (line[i] == '.')
            dots++;
        else if (line[i] >= '0' && line[i] <= '9')
            digits++;
        else
            return -EINVAL;
        i++;
    }
    if (dots > 1 || digits == 0 || i - t0 > 64)
        return -EINVAL;
    char num[72];
    memcpy(num, line + t0, i - t0);
    num[i - t0] = '\0';
    while (i < len && is_space(line[i]))
        i++;
    size_t end = len;
    while (end > i && is_space(line[end - 1]))
        end--;
    if (end == i)
        return -EINVAL;
    *ts = strtod(num, NULL);
    *msg = line + i;
    *msglen = end - i;
    return 0;
}

void tl_lines_feed(struct tl_lines *l, const char *p, size_t n, tl_line_fn fn, void *arg)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (!l->skipping) {
            if (l->len + take > TL_LINE_MAX) {
                l->skipping = true;
                l->too_long++;
                l->len = 0;
            } else {
                memcpy(l->buf + l->len, p, take);
                l->len += take;
            }
        }
        if (!nl)
            return;
        if (!l->skipping)
            fn(arg, l->buf, l->len);
        l->skipping = false;
        l->len = 0;
        p += take + 1;
        n -= take + 1;
    }
}

void tl_lines_finish(struct tl_lines *l, tl_line_fn fn, void *arg)
{
    if (!l->skipping && l->len)
        fn(arg, l->buf, l->len);
    l->len = 0;
    l->skipping = false;
}

static void feed_line(void *arg, const char *line, size_t len)
{
    struct tl_eventfeed *f = arg;
    double ts;
    const char *msg;
    size_t mlen;
    if (tl_parse_event(line, len, &ts, &msg, &mlen) == 0)
        timeline_add_event(f->tl, ts, f->received, f->src, msg, mlen);
}

void tl_eventfeed_init(struct tl_eventfeed *f, struct timeline *tl, enum tl_event_source src)
{
    memset(f, 0, sizeof(*f));
    f->tl = tl;
    f->src = src;
}

void tl_eventfeed_feed(struct tl_eventfeed *f, const char *p, size_t n)
{
    uint64_t before = f->lines.too_long;
    tl_lines_feed(&f->lines, p, n, feed_line, f);
    f->tl->lines_too_long += f->lines.too_long - before;
}

void tl_eventfeed_finish(struct tl_eventfeed *f)
{
    tl_lines_finish(&f->lines, feed_line, f);
}
