/* timeline_json: the report's "timeline" section (columns of samples, events,
 * plateaus, jumps, the leak verdict; docs/report-format.md) and the
 * fdprof-compatible JSON Lines stream. */
#include "measure/timeline.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *jnum(double v)
{
    if (!isfinite(v))
        v = 0;
    return json_real(round(v * 1e6) / 1e6);
}

static json_t *ju64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *jstr(const char *s)
{
    json_t *v = json_string(s);
    if (v)
        return v;
    char *fixed = utf8_dup_sanitized(s);
    v = json_string(fixed);
    free(fixed);
    return v ? v : json_string("");
}

static void set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v);
}

static double elapsed(const struct tl_sample *s)
{
    return (double)s->mono_ns / 1e9;
}

/* Per-second rate of a cumulative counter between two samples. */
static double rate(uint64_t now, uint64_t before, const struct tl_sample *s,
                   const struct tl_sample *prev)
{
    double dt = elapsed(s) - elapsed(prev);
    return dt > 0 && now >= before ? (double)(now - before) / dt : 0;
}

static json_t *event_json(const struct tl_event *e)
{
    json_t *o = json_object();
    set(o, "timestamp", jnum(e->timestamp));
    set(o, "elapsed", jnum(e->elapsed));
    set(o, "received", jnum(e->received));
    set(o, "source", json_string(tl_source_name(e->source)));
    set(o, "message", jstr(e->message));
    return o;
}

static json_t *leak_json(const struct tl_leak *l, double threshold)
{
    json_t *o = json_object();
    set(o, "slope_per_second", jnum(l->slope));
    set(o, "duration_seconds", jnum(l->duration));
    set(o, "growth", jnum(l->growth));
    set(o, "net", json_integer(l->net));
    set(o, "first", json_integer(l->first));
    set(o, "last", json_integer(l->last));
    set(o, "samples", json_integer((json_int_t)l->nvalid));
    set(o, "r2", jnum(l->r2));
    if (l->has_opens)
        set(o, "opens_minus_closes", json_integer(l->opens_minus_closes));
    set(o, "threshold", jnum(threshold));
    set(o, "flagged", json_boolean(l->flagged));
    return o;
}

static json_t *plateau_json(const struct tl_plateau *p)
{
    json_t *o = json_object();
    set(o, "level", jnum(p->level));
    set(o, "start", jnum(p->start_time));
    set(o, "end", jnum(p->end_time));
    set(o, "start_index", ju64(p->start_idx));
    set(o, "end_index", ju64(p->end_idx));
    set(o, "samples", ju64(p->nvalues));
    set(o, "variance", jnum(p->variance));
    return o;
}

static json_t *jump_json(const struct timeline *tl, const struct tl_jump *j)
{
    json_t *o = json_object();
    set(o, "time", jnum(j->time));
    set(o, "from_time", jnum(j->from_time));
    set(o, "to_time", jnum(j->to_time));
    set(o, "size", json_integer(j->rounded));
    set(o, "exact_size", jnum(j->size));
    set(o, "from_level", jnum(j->from_level));
    set(o, "to_level", jnum(j->to_level));
    if (j->event >= 0 && (size_t)j->event < tl->nevents) {
        set(o, "event", json_integer(j->event));
        set(o, "event_message", jstr(tl->events[j->event].message));
        set(o, "event_distance", jnum(j->event_distance));
    } else {
        set(o, "event", json_null());
    }
    return o;
}

json_t *timeline_to_json(const struct timeline *tl)
{
    json_t *o = json_object();
    set(o, "interval_seconds", jnum(tl->interval));
    set(o, "start_time", jnum(tl->t0_wall));
    set(o, "fast_count", json_boolean(tl->fast_count));
    set(o, "samples_taken", ju64(tl->offered));
    set(o, "samples_decimated", ju64(tl->decimated));
    set(o, "events_dropped", ju64(tl->events_dropped));
    set(o, "lines_too_long", ju64(tl->lines_too_long));

    json_t *cols = json_object();
    static const char *const names[] = {
        "elapsed",
        "wall",
        "open_fds",
        "processes",
        "read_ops",
        "write_ops",
        "read_bytes",
        "write_bytes",
        "read_ops_per_second",
        "write_ops_per_second",
        "read_bytes_per_second",
        "write_bytes_per_second",
    };
    enum { NCOLS = sizeof(names) / sizeof(names[0]) };
    json_t *c[NCOLS];
    for (size_t k = 0; k < NCOLS; k++)
        c[k] = json_array();
    json_t *kinds = json_object(), *kc[FDK__COUNT];
    for (int k = 0; k < FDK__COUNT; k++)
        kc[k] = json_array();
    for (size_t i = 0; i < tl->nsamples; i++) {
        const struct tl_sample *s = &tl->samples[i], *p = i ? &tl->samples[i - 1] : s;
        json_array_append_new(c[0], jnum(elapsed(s)));
        json_array_append_new(c[1], jnum(s->wall));
        json_array_append_new(c[2], json_integer(s->open_fds));
        json_array_append_new(c[3], json_integer(s->processes));
        json_array_append_new(c[4], ju64(s->read_ops));
        json_array_append_new(c[5], ju64(s->write_ops));
        json_array_append_new(c[6], ju64(s->read_bytes));
        json_array_append_new(c[7], ju64(s->write_bytes));
        json_array_append_new(c[8], jnum(rate(s->read_ops, p->read_ops, s, p)));
        json_array_append_new(c[9], jnum(rate(s->write_ops, p->write_ops, s, p)));
        json_array_append_new(c[10], jnum(rate(s->read_bytes, p->read_bytes, s, p)));
        json_array_append_new(c[11], jnum(rate(s->write_bytes, p->write_bytes, s, p)));
        for (int k = 0; k < FDK__COUNT; k++)
            json_array_append_new(kc[k], json_integer(s->by_kind[k]));
    }
    for (size_t k = 0; k < NCOLS; k++)
        set(cols, names[k], c[k]);
    for (int k = 0; k < FDK__COUNT; k++)
        set(kinds, fd_kind_name((enum fd_kind)k), kc[k]);
    set(cols, "fds_by_kind", kinds);
    set(o, "samples", cols);

    json_t *ev = json_array();
    for (size_t i = 0; i < tl->nevents; i++)
        json_array_append_new(ev, event_json(&tl->events[i]));
    set(o, "events", ev);

    if (tl->analysed) {
        const struct tl_params *p = &tl->params;
        json_t *a = json_object();
        set(a, "mode", json_string(p->compat ? "fdprof" : "iopsd"));
        set(a, "tolerance", jnum(p->tolerance));
        if (p->compat)
            set(a, "min_length", json_integer(p->min_length));
        else
            set(a, "min_duration", jnum(p->min_duration));
        set(a, "merge", json_boolean(p->merge));
        set(a, "merge_threshold", jnum(p->merge_threshold));
        set(a, "jump_threshold", jnum(p->jump_threshold));
        set(o, "analysis", a);
        json_t *pl = json_array();
        for (size_t i = 0; i < tl->nplateaus; i++)
            json_array_append_new(pl, plateau_json(&tl->plateaus[i]));
        set(o, "plateaus", pl);
        json_t *ju = json_array();
        for (size_t i = 0; i < tl->njumps; i++)
            json_array_append_new(ju, jump_json(tl, &tl->jumps[i]));
        set(o, "jumps", ju);
        if (tl->leak.computed)
            set(o, "leak", leak_json(&tl->leak, p->leak_threshold));
    }
    return o;
}

static void put_line(FILE *f, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16));
    if (s) {
        fputs(s, f);
        fputc('\n', f);
        free(s);
    }
    json_decref(o);
}

void tl_jsonl_sample(FILE *f, const struct tl_sample *s, const struct tl_sample *prev)
{
    json_t *o = json_object();
    set(o, "timestamp", jnum(s->wall));
    set(o, "elapsed", jnum(elapsed(s)));
    set(o, "open_fds", json_integer(s->open_fds));
    set(o, "processes", json_integer(s->processes));
    if (s->by_kind[0] >= 0) {
        json_t *k = json_object();
        for (int i = 0; i < FDK__COUNT; i++)
            set(k, fd_kind_name((enum fd_kind)i), json_integer(s->by_kind[i]));
        set(o, "fds_by_kind", k);
    }
    set(o, "read_ops", ju64(s->read_ops));
    set(o, "write_ops", ju64(s->write_ops));
    set(o, "read_bytes", ju64(s->read_bytes));
    set(o, "write_bytes", ju64(s->write_bytes));
    const struct tl_sample *p = prev ? prev : s;
    set(o, "read_ops_per_second", jnum(rate(s->read_ops, p->read_ops, s, p)));
    set(o, "write_ops_per_second", jnum(rate(s->write_ops, p->write_ops, s, p)));
    set(o, "read_bytes_per_second", jnum(rate(s->read_bytes, p->read_bytes, s, p)));
    set(o, "write_bytes_per_second", jnum(rate(s->write_bytes, p->write_bytes, s, p)));
    put_line(f, o);
}

void tl_jsonl_event(FILE *f, const struct tl_event *e)
{
    json_t *o = json_object();
    set(o, "type", json_string("event"));
    json_t *rest = event_json(e);
    json_object_update(o, rest);
    json_decref(rest);
    put_line(f, o);
}

void tl_jsonl_summary(FILE *f, const struct timeline *tl)
{
    json_t *o = json_object();
    set(o, "type", json_string("summary"));
    json_t *full = timeline_to_json(tl);
    /* The samples and events are the lines above; the rest is the summary. */
    json_object_del(full, "samples");
    json_object_del(full, "events");
    set(o, "events", ju64(tl->nevents));
    json_object_update(o, full);
    json_decref(full);
    put_line(f, o);
}

/* ---- reading the section back (iopsd render): untrusted, capped ---- */

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    double d = json_is_number(v) ? json_number_value(v) : 0;
    return isfinite(d) ? d : 0;
}

static double col_num(const json_t *cols, const char *k, size_t i)
{
    const json_t *v = json_array_get(json_object_get(cols, k), i);
    double d = json_is_number(v) ? json_number_value(v) : 0;
    return isfinite(d) ? d : 0;
}

static uint64_t to_u64(double d)
{
    return d > 0 ? (d < 1.8e19 ? (uint64_t)d : UINT64_MAX) : 0;
}

static int32_t to_i32(double d)
{
    return d < -1 ? -1 : d > 2147483647.0 ? INT32_MAX : (int32_t)d;
}

struct timeline *timeline_from_json(const json_t *o)
{
    if (!json_is_object(o))
        return NULL;
    struct timeline *tl = timeline_new(num(o, "interval_seconds"), num(o, "start_time"));
    tl->fast_count = json_is_true(json_object_get(o, "fast_count"));
    const json_t *cols = json_object_get(o, "samples");
    size_t n = json_array_size(json_object_get(cols, "elapsed"));
    if (n > TL_MAX_SAMPLES)
        n = TL_MAX_SAMPLES;
    const json_t *kinds = json_object_get(cols, "fds_by_kind");
    for (size_t i = 0; i < n; i++) {
        struct tl_sample s;
        memset(&s, 0, sizeof(s));
        double e = col_num(cols, "elapsed", i);
        s.mono_ns = e > 0 ? (e < 1e9 ? (uint64_t)(e * 1e9) : (uint64_t)1e18) : 0;
        s.wall = col_num(cols, "wall", i);
        s.open_fds = to_i32(col_num(cols, "open_fds", i));
        double p = col_num(cols, "processes", i);
        s.processes = p > 0 && p < 4e9 ? (uint32_t)p : 0;
        s.read_ops = to_u64(col_num(cols, "read_ops", i));
        s.write_ops = to_u64(col_num(cols, "write_ops", i));
        s.read_bytes = to_u64(col_num(cols, "read_bytes", i));
        s.write_bytes = to_u64(col_num(cols, "write_bytes", i));
        for (int k = 0; k < FDK__COUNT; k++) {
            const json_t *a = json_object_get(kinds, fd_kind_name((enum fd_kind)k));
            const json_t *v = json_array_get(a, i);
            s.by_kind[k] = json_is_integer(v) ? to_i32((double)json_integer_value(v)) : -1;
        }
        /* out of order times are not samples of one run: stop there */
        if (tl->nsamples && s.mono_ns < tl->samples[tl->nsamples - 1].mono_ns)
            break;
        timeline_add_sample(tl, &s);
    }
    tl->offered = to_u64(num(o, "samples_taken"));
    tl->decimated = to_u64(num(o, "samples_decimated"));
    tl->events_dropped = to_u64(num(o, "events_dropped"));
    tl->lines_too_long = to_u64(num(o, "lines_too_long"));

    const json_t *ev = json_object_get(o, "events"), *e;
    size_t i;
    json_array_foreach(ev, i, e)
    {
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *src = json_string_value(json_object_get(e, "source"));
        enum tl_event_source sv = TL_SRC_OUTPUT;
        for (int k = TL_SRC_STDOUT; k <= TL_SRC_END; k++)
            if (src && !strcmp(src, tl_source_name((enum tl_event_source)k)))
                sv = (enum tl_event_source)k;
        size_t before = tl->nevents;
        timeline_add_event(tl, num(e, "timestamp"), num(e, "received"), sv, msg ? msg : "",
                           msg ? strlen(msg) : 0);
        if (tl->nevents > before)
            tl->events[before].elapsed = num(e, "elapsed");
    }

    const json_t *a = json_object_get(o, "analysis");
    if (json_is_object(a)) {
        struct tl_params *p = &tl->params;
        const char *mode = json_string_value(json_object_get(a, "mode"));
        p->compat = mode && !strcmp(mode, "fdprof");
        p->tolerance = num(a, "tolerance");
        double ml = num(a, "min_length");
        p->min_length = ml > 0 && ml < 1e9 ? (unsigned)ml : p->min_length;
        p->min_duration = num(a, "min_duration");
        p->merge = json_is_true(json_object_get(a, "merge"));
        p->merge_threshold = num(a, "merge_threshold");
        p->jump_threshold = num(a, "jump_threshold");
        tl->analysed = true;
        const json_t *pl = json_object_get(o, "plateaus"), *x;
        size_t np = json_array_size(pl);
        if (np > TL_MAX_SAMPLES)
            np = TL_MAX_SAMPLES;
        tl->plateaus = np ? xcalloc(np, sizeof(*tl->plateaus)) : NULL;
        for (i = 0; i < np; i++) {
            x = json_array_get(pl, i);
            struct tl_plateau *q = &tl->plateaus[tl->nplateaus++];
            q->level = num(x, "level");
            q->start_time = num(x, "start");
            q->end_time = num(x, "end");
            q->start_idx = to_u64(num(x, "start_index"));
            q->end_idx = to_u64(num(x, "end_index"));
            q->nvalues = to_u64(num(x, "samples"));
            q->variance = num(x, "variance");
        }
        const json_t *ju = json_object_get(o, "jumps");
        size_t nj = json_array_size(ju);
        if (nj > TL_MAX_SAMPLES)
            nj = TL_MAX_SAMPLES;
        tl->jumps = nj ? xcalloc(nj, sizeof(*tl->jumps)) : NULL;
        for (i = 0; i < nj; i++) {
            x = json_array_get(ju, i);
            struct tl_jump *q = &tl->jumps[tl->njumps++];
            q->time = num(x, "time");
            q->from_time = num(x, "from_time");
            q->to_time = num(x, "to_time");
            double sz = num(x, "size");
            q->rounded = sz > -1e15 && sz < 1e15 ? (long)sz : 0;
            q->size = num(x, "exact_size");
            q->from_level = num(x, "from_level");
            q->to_level = num(x, "to_level");
            const json_t *ei = json_object_get(x, "event");
            q->event = json_is_integer(ei) && json_integer_value(ei) >= 0 &&
                               (size_t)json_integer_value(ei) < tl->nevents
                           ? (long)json_integer_value(ei)
                           : -1;
            q->event_distance = num(x, "event_distance");
        }
        const json_t *lk = json_object_get(o, "leak");
        if (json_is_object(lk)) {
            struct tl_leak *l = &tl->leak;
            l->computed = true;
            l->slope = num(lk, "slope_per_second");
            l->duration = num(lk, "duration_seconds");
            l->growth = num(lk, "growth");
            double net = num(lk, "net");
            l->net = net > -1e15 && net < 1e15 ? (long)net : 0;
            double first = num(lk, "first"), last = num(lk, "last"), ns = num(lk, "samples");
            l->first = first > -1e15 && first < 1e15 ? (long)first : 0;
            l->last = last > -1e15 && last < 1e15 ? (long)last : 0;
            l->nvalid = ns > 0 && ns <= TL_MAX_SAMPLES ? (size_t)ns : 0;
            l->r2 = num(lk, "r2");
            const json_t *omc = json_object_get(lk, "opens_minus_closes");
            l->has_opens = json_is_integer(omc);
            l->opens_minus_closes = l->has_opens ? (int64_t)json_integer_value(omc) : 0;
            p->leak_threshold = num(lk, "threshold");
            l->flagged = json_is_true(json_object_get(lk, "flagged"));
        }
    }
    return tl;
}
