/* report_json: a report <-> its JSON document (schema "iopsd-report/1"). */
#include "measure/report_json.h"
#include "measure/timeline.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* jansson integers are signed 64-bit: larger counts are clamped. */
static json_t *ju64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *jreal(double v)
{
    if (!isfinite(v))
        v = 0;
    /* Round to the nanosecond / micro-unit so output is stable and compact. */
    return json_real(round(v * 1e6) / 1e6);
}

static void set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v);
}

/* A JSON string from bytes that may not be UTF-8 (argv, paths, code). */
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

static json_t *counts_json(const struct io_counts *c)
{
    json_t *o = json_object();
    set(o, "read_ops", ju64(c->read_ops));
    set(o, "write_ops", ju64(c->write_ops));
    set(o, "read_bytes", ju64(c->read_bytes));
    set(o, "write_bytes", ju64(c->write_bytes));
    return o;
}

static json_t *time_json(double t)
{
    char s[64];
    time_t sec;
    struct tm tm;
    if (!(t > 0 && t < 253402300800.0)) /* NaN, negative, or after year 9999 */
        return json_null();
    sec = (time_t)t;
    if (!gmtime_r(&sec, &tm))
        return json_null();
    size_t n = strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    int usec = (int)((t - (double)sec) * 1e6);
    if (usec < 0)
        usec = 0;
    if (usec > 999999)
        usec = 999999;
    snprintf(s + n, sizeof(s) - n, ".%06dZ", usec);
    return json_string(s);
}

static json_t *histogram_json(const struct report *r)
{
    json_t *h = json_object(), *kinds = json_array(), *size = json_array(), *lat = json_array();
    for (int k = 0; k < FDK__COUNT; k++)
        if (r->hist_kinds & (1u << k))
            json_array_append_new(kinds, json_string(fd_kind_name(k)));
    for (unsigned i = 0; i < HIST_SIZE_BUCKETS; i++) {
        const struct size_bucket *b = &r->size_hist[i];
        if (!b->read_ops && !b->write_ops)
            continue;
        uint64_t lo, hi;
        report_size_bucket_range(i, &lo, &hi);
        json_t *o = json_object();
        set(o, "lo", ju64(lo));
        set(o, "hi", hi == UINT64_MAX ? json_null() : ju64(hi));
        set(o, "read_ops", ju64(b->read_ops));
        set(o, "write_ops", ju64(b->write_ops));
        set(o, "read_bytes", ju64(b->read_bytes));
        set(o, "write_bytes", ju64(b->write_bytes));
        json_array_append_new(size, o);
    }
    for (unsigned i = 0; r->has_latency && i < HIST_LAT_BUCKETS; i++) {
        const struct lat_bucket *b = &r->lat_hist[i];
        if (!b->read_ops && !b->write_ops)
            continue;
        uint64_t lo, hi;
        report_lat_bucket_range(i, &lo, &hi);
        json_t *o = json_object();
        set(o, "lo", ju64(lo));
        set(o, "hi", hi == UINT64_MAX ? json_null() : ju64(hi));
        set(o, "read_ops", ju64(b->read_ops));
        set(o, "write_ops", ju64(b->write_ops));
        json_array_append_new(lat, o);
    }
    set(h, "kinds", kinds);
    set(h, "size", size);
    set(h, "latency_ns", r->has_latency ? lat : (json_decref(lat), json_null()));
    return h;
}

static json_t *procs_json(const struct report *r)
{
    json_t *o = json_object(), *rows = json_array();
    set(o, "includes_reaped_children", json_boolean(r->procs_inclusive));
    set(o, "dropped", ju64(r->procs_dropped));
    for (size_t i = 0; i < r->nprocs; i++) {
        const struct proc_row *p = &r->procs[i];
        json_t *e = json_object();
        set(e, "pid", json_integer(p->pid));
        set(e, "ppid", json_integer(p->ppid));
        set(e, "command", p->cmd ? jstr(p->cmd) : json_null());
        set(e, "start", jreal(p->start));
        set(e, "end", p->end >= 0 ? jreal(p->end) : json_null());
        if (p->exited)
            set(e, "exit_status", json_integer(p->exit_status));
        else if (p->term_signal)
            set(e, "signal", json_integer(p->term_signal));
        set(e, "read_ops", ju64(p->read_ops));
        set(e, "write_ops", ju64(p->write_ops));
        set(e, "read_bytes", ju64(p->read_bytes));
        set(e, "write_bytes", ju64(p->write_bytes));
        set(e, "user_seconds", p->has_cpu ? jreal(p->user_seconds) : json_null());
        set(e, "system_seconds", p->has_cpu ? jreal(p->system_seconds) : json_null());
        json_array_append_new(rows, e);
    }
    set(o, "rows", rows);
    return o;
}

json_t *report_to_json(const struct report *r)
{
    json_t *o = json_object();
    set(o, "schema", json_string(REPORT_SCHEMA));
    set(o, "backend", json_string(r->backend));
    if (r->argv) {
        json_t *a = json_array();
        for (char **p = r->argv; *p; p++)
            json_array_append_new(a, jstr(*p));
        set(o, "command", a);
    }
    if (r->code)
        set(o, "code", jstr(r->code));
    if (r->attach.on) {
        json_t *a = json_object(), *pids = json_array();
        for (size_t i = 0; i < r->attach.npids && i < REPORT_MAX_ATTACH; i++)
            json_array_append_new(pids, json_integer(r->attach.pids[i]));
        set(a, "pids", pids);
        set(a, "tree", json_boolean(r->attach.tree));
        set(a, "duration", r->attach.duration > 0 ? jreal(r->attach.duration) : json_null());
        set(a, "ended_by", json_string(attach_end_name(r->attach.end)));
        set(o, "attach", a);
    }
    set(o, "start_time", time_json(r->start_time));
    if (r->exited)
        set(o, "exit_status", json_integer(r->exit_status));
    else if (r->term_signal)
        set(o, "signal", json_integer(r->term_signal));
    if (r->interrupted)
        set(o, "interrupted", json_true());
    if (r->error)
        set(o, "error", jstr(r->error));
    set(o, "wall_seconds", jreal(r->wall_seconds));
    set(o, "user_seconds", jreal(r->user_seconds));
    set(o, "system_seconds", jreal(r->system_seconds));
    set(o, "processes", ju64(r->processes));
    set(o, "processes_exact", json_boolean(r->processes_exact));
    set(o, "still_running", ju64(r->still_running));
    if (r->has_procs)
        set(o, "per_process", procs_json(r));
    if (r->has_findings) {
        json_t *fa = json_array();
        for (size_t i = 0; i < r->nfindings; i++) {
            const struct finding *f = &r->findings[i];
            json_t *e = json_object();
            set(e, "rule", jstr(f->rule));
            set(e, "severity", json_string(finding_severity_name(f->severity)));
            set(e, "what", jstr(f->what));
            set(e, "fix", jstr(f->fix));
            json_array_append_new(fa, e);
        }
        set(o, "findings", fa);
    }

    json_t *io = json_object();
    set(io, "read_ops", ju64(r->read_ops));
    set(io, "write_ops", ju64(r->write_ops));
    set(io, "read_bytes", ju64(r->read_bytes));
    set(io, "write_bytes", ju64(r->write_bytes));
    if (r->has_storage) {
        set(io, "storage_read_bytes", ju64(r->storage_read_bytes));
        set(io, "storage_write_bytes", ju64(r->storage_write_bytes));
        set(io, "cancelled_write_bytes", ju64(r->cancelled_write_bytes));
    } else {
        set(io, "storage_read_bytes", json_null());
        set(io, "storage_write_bytes", json_null());
        set(io, "cancelled_write_bytes", json_null());
    }
    double w = r->wall_seconds;
    set(io, "iops", jreal(report_rate(r->read_ops + r->write_ops, w)));
    set(io, "read_iops", jreal(report_rate(r->read_ops, w)));
    set(io, "write_iops", jreal(report_rate(r->write_ops, w)));
    set(io, "bytes_per_second", jreal(report_rate(r->read_bytes + r->write_bytes, w)));
    set(io, "read_bytes_per_second", jreal(report_rate(r->read_bytes, w)));
    set(io, "write_bytes_per_second", jreal(report_rate(r->write_bytes, w)));
    if (r->detailed) {
        set(io, "read_errors", ju64(r->read_errors));
        set(io, "write_errors", ju64(r->write_errors));
    }
    set(o, "io", io);

    json_t *fds = json_object();
    set(fds, "start", json_integer(r->fds.start));
    set(fds, "peak", json_integer(r->fds.peak));
    set(fds, "end", json_integer(r->fds.end));
    /* 128-bit-safe difference: absurd counts (from a fuzzed report) saturate. */
    long long delta;
    if (__builtin_sub_overflow((long long)r->fds.end, (long long)r->fds.start, &delta))
        delta = r->fds.end > r->fds.start ? INT64_MAX : INT64_MIN;
    set(fds, "delta", json_integer(delta));
    set(fds, "sampled", json_boolean(r->fds.sampled));
    if (r->fds.sampled) {
        set(fds, "interval_seconds", jreal(r->fds.interval_seconds));
        set(fds, "end_at_exit", json_boolean(r->fds.end_at_exit));
    } else {
        json_t *l = json_array();
        for (size_t i = 0; i < r->fds.nleaked; i++) {
            const struct leaked_fd *f = &r->fds.leaked[i];
            json_t *e = json_object();
            set(e, "fd", json_integer(f->fd));
            set(e, "path", f->path ? jstr(f->path) : json_null());
            set(e, "kind", json_string(fd_kind_name(f->kind)));
            set(e, "pid", json_integer(f->pid));
            json_array_append_new(l, e);
        }
        set(fds, "leaked", l);
    }
    set(o, "fds", fds);

    if (r->detailed) {
        json_t *bk = json_object();
        for (int k = 0; k < FDK__COUNT; k++)
            set(bk, fd_kind_name(k), counts_json(&r->by_kind[k]));
        set(o, "by_kind", bk);
        set(o, "histogram", histogram_json(r));
        json_t *m = json_object();
        for (int i = 0; i < META__COUNT; i++)
            set(m, meta_op_name(i), ju64(r->meta_ops[i]));
        set(o, "meta_ops", m);
        json_t *files = json_array();
        for (size_t i = 0; i < r->nfiles; i++) {
            const struct file_row *f = &r->files[i];
            json_t *e = json_object();
            set(e, "path", jstr(f->path));
            set(e, "kind", json_string(fd_kind_name(f->kind)));
            set(e, "opens", ju64(f->opens));
            set(e, "read_ops", ju64(f->read_ops));
            set(e, "write_ops", ju64(f->write_ops));
            set(e, "read_bytes", ju64(f->read_bytes));
            set(e, "write_bytes", ju64(f->write_bytes));
            set(e, "seeks", ju64(f->seeks));
            json_array_append_new(files, e);
        }
        set(o, "files", files);
        set(o, "files_total", ju64(r->files_total));
        json_t *u = json_object();
        set(u, "io_uring_enter", ju64(r->unseen.io_uring_enter));
        set(u, "mmap", ju64(r->unseen.mmap));
        set(u, "mmap_exec", ju64(r->unseen.mmap_exec));
        set(u, "exit_interrupted", ju64(r->unseen.exit_interrupted));
        set(u, "end_unstopped", ju64(r->unseen.end_unstopped));
        set(u, "seccomp_filters", ju64(r->unseen.seccomp_filters));
        set(u, "undecoded", ju64(r->unseen.undecoded));
        set(o, "unseen", u);
    }
    if (r->timeline)
        set(o, "timeline", timeline_to_json(r->timeline));
    return o;
}

char *report_to_json_text(const struct report *r)
{
    json_t *o = report_to_json(r);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!s)
        return xstrdup("{}\n");
    size_t n = strlen(s);
    char *t = xmalloc(n + 2);
    memcpy(t, s, n);
    t[n] = '\n';
    t[n + 1] = '\0';
    free(s);
    return t;
}

/* ---- parsing ---- */

struct jctx {
    char *err;
    size_t errlen;
    int rc;
};

static void jfail(struct jctx *c, const char *what)
{
    if (!c->rc) {
        snprintf(c->err, c->errlen, "report JSON: %s", what);
        c->rc = -EINVAL;
    }
}

static uint64_t get_u64(struct jctx *c, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        char m[96];
        snprintf(m, sizeof(m), "\"%.40s\" is not a non-negative integer", k);
        jfail(c, m);
        return 0;
    }
    return (uint64_t)json_integer_value(v);
}

static double get_real(struct jctx *c, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        char m[96];
        snprintf(m, sizeof(m), "\"%.40s\" is not a number", k);
        jfail(c, m);
        return 0;
    }
    double d = json_number_value(v);
    return isfinite(d) ? d : 0;
}

static void get_counts(struct jctx *c, const json_t *o, struct io_counts *out)
{
    out->read_ops = get_u64(c, o, "read_ops");
    out->write_ops = get_u64(c, o, "write_ops");
    out->read_bytes = get_u64(c, o, "read_bytes");
    out->write_bytes = get_u64(c, o, "write_bytes");
}

static double parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    double frac = 0;
    if (*p == '.')
        frac = strtod(p, NULL);
    return (double)timegm(&tm) + frac;
}

static void parse_histogram(struct jctx *c, const json_t *h, struct report *r)
{
    const json_t *kinds = json_object_get(h, "kinds"), *v;
    size_t i;
    if (json_is_array(kinds)) {
        r->hist_kinds = 0;
        json_array_foreach(kinds, i, v)
        {
            int k = json_is_string(v) ? fd_kind_from_name(json_string_value(v)) : -1;
            if (k < 0)
                jfail(c, "unknown kind in histogram.kinds");
            else
                r->hist_kinds |= 1u << k;
        }
    }
    const json_t *size = json_object_get(h, "size");
    if (json_is_array(size))
        json_array_foreach(size, i, v)
        {
            uint64_t lo = get_u64(c, v, "lo");
            unsigned b = report_size_bucket(lo);
            uint64_t blo, bhi;
            report_size_bucket_range(b, &blo, &bhi);
            if (blo != lo) {
                jfail(c, "histogram bucket \"lo\" is not 0 or a power of two");
                continue;
            }
            r->size_hist[b].read_ops += get_u64(c, v, "read_ops");
            r->size_hist[b].write_ops += get_u64(c, v, "write_ops");
            r->size_hist[b].read_bytes += get_u64(c, v, "read_bytes");
            r->size_hist[b].write_bytes += get_u64(c, v, "write_bytes");
        }
    const json_t *lat = json_object_get(h, "latency_ns");
    if (json_is_array(lat)) {
        r->has_latency = true;
        json_array_foreach(lat, i, v)
        {
            uint64_t lo = get_u64(c, v, "lo");
            unsigned b = report_lat_bucket(lo);
            r->lat_hist[b].read_ops += get_u64(c, v, "read_ops");
            r->lat_hist[b].write_ops += get_u64(c, v, "write_ops");
        }
    }
}

static void parse_procs(struct jctx *c, const json_t *pp, struct report *r)
{
    const json_t *rows = json_object_get(pp, "rows"), *e, *v;
    size_t i;
    r->has_procs = true;
    r->procs_inclusive = json_is_true(json_object_get(pp, "includes_reaped_children"));
    if (json_is_array(rows))
        json_array_foreach(rows, i, e)
        {
            if (!json_is_object(e)) {
                jfail(c, "per_process row is not an object");
                return;
            }
            v = json_object_get(e, "command");
            struct proc_row *p =
                report_add_proc(r, (pid_t)get_u64(c, e, "pid"), (pid_t)get_u64(c, e, "ppid"),
                                json_is_string(v) ? json_string_value(v) : NULL);
            if (!p)
                continue;
            p->start = get_real(c, e, "start");
            if (p->start < 0)
                p->start = 0;
            v = json_object_get(e, "end");
            p->end = json_is_number(v) ? get_real(c, e, "end") : -1;
            if (p->end < 0 && json_is_number(v))
                p->end = 0;
            if ((v = json_object_get(e, "exit_status")) && json_is_integer(v)) {
                p->exited = true;
                p->exit_status = (int)json_integer_value(v);
            } else if ((v = json_object_get(e, "signal")) && json_is_integer(v)) {
                p->term_signal = (int)json_integer_value(v);
            }
            p->read_ops = get_u64(c, e, "read_ops");
            p->write_ops = get_u64(c, e, "write_ops");
            p->read_bytes = get_u64(c, e, "read_bytes");
            p->write_bytes = get_u64(c, e, "write_bytes");
            p->has_cpu = json_is_number(json_object_get(e, "user_seconds"));
            p->user_seconds = get_real(c, e, "user_seconds");
            p->system_seconds = get_real(c, e, "system_seconds");
        }
    r->procs_dropped += get_u64(c, pp, "dropped");
}

int report_from_json(const json_t *doc, struct report *r, char *err, size_t errlen)
{
    struct jctx c = {err, errlen, 0};
    const json_t *v, *e;
    size_t i;
    if (!json_is_object(doc)) {
        jfail(&c, "not an object");
        return c.rc;
    }
    v = json_object_get(doc, "schema");
    if (!json_is_string(v) || strncmp(json_string_value(v), "iopsd-report/", 13)) {
        jfail(&c, "missing or unknown \"schema\"");
        return c.rc;
    }
    v = json_object_get(doc, "backend");
    if (json_is_string(v))
        snprintf(r->backend, sizeof(r->backend), "%s", json_string_value(v));
    v = json_object_get(doc, "command");
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        r->argv = xcalloc(n + 1, sizeof(char *));
        json_array_foreach(v, i, e) r->argv[i] =
            xstrdup(json_is_string(e) ? json_string_value(e) : "");
    }
    v = json_object_get(doc, "code");
    if (json_is_string(v))
        report_set_code(r, json_string_value(v));
    v = json_object_get(doc, "attach");
    if (json_is_object(v)) {
        const json_t *pids = json_object_get(v, "pids");
        r->attach.on = true;
        json_array_foreach(pids, i, e) if (json_is_integer(e) && i < REPORT_MAX_ATTACH &&
                                           json_integer_value(e) > 0 &&
                                           json_integer_value(e) <= INT32_MAX)
            r->attach.pids[r->attach.npids++] = (pid_t)json_integer_value(e);
        r->attach.tree = !json_is_false(json_object_get(v, "tree"));
        r->attach.duration = get_real(&c, v, "duration");
        if (r->attach.duration < 0)
            r->attach.duration = 0;
        const json_t *end = json_object_get(v, "ended_by");
        int ei = json_is_string(end) ? attach_end_from_name(json_string_value(end)) : -1;
        r->attach.end = ei >= 0 ? (enum attach_end)ei : ATTACH_END_DURATION;
    }
    v = json_object_get(doc, "start_time");
    if (json_is_string(v))
        r->start_time = parse_time(json_string_value(v));
    if ((v = json_object_get(doc, "exit_status")) && json_is_integer(v)) {
        r->exited = true;
        r->exit_status = (int)json_integer_value(v);
    }
    if ((v = json_object_get(doc, "signal")) && json_is_integer(v))
        r->term_signal = (int)json_integer_value(v);
    r->interrupted = json_is_true(json_object_get(doc, "interrupted"));
    if ((v = json_object_get(doc, "error")) && json_is_string(v))
        report_set_error(r, "%s", json_string_value(v));
    r->wall_seconds = get_real(&c, doc, "wall_seconds");
    r->user_seconds = get_real(&c, doc, "user_seconds");
    r->system_seconds = get_real(&c, doc, "system_seconds");
    r->processes = get_u64(&c, doc, "processes");
    v = json_object_get(doc, "processes_exact");
    r->processes_exact = !json_is_false(v);
    r->still_running = get_u64(&c, doc, "still_running");
    v = json_object_get(doc, "per_process");
    if (json_is_object(v))
        parse_procs(&c, v, r);
    v = json_object_get(doc, "timeline");
    if (json_is_object(v)) {
        timeline_free(r->timeline);
        r->timeline = timeline_from_json(v);
    }
    v = json_object_get(doc, "findings");
    if (json_is_array(v)) {
        r->has_findings = true;
        json_array_foreach(v, i, e)
        {
            const char *rule = json_string_value(json_object_get(e, "rule"));
            const char *sev = json_string_value(json_object_get(e, "severity"));
            const char *what = json_string_value(json_object_get(e, "what"));
            const char *fix = json_string_value(json_object_get(e, "fix"));
            int sv = sev ? finding_severity_from_name(sev) : -1;
            if (!rule || !what || !fix || sv < 0 || strlen(rule) >= 24) {
                jfail(&c, "a finding needs rule, severity (info, warning, critical), what, fix");
                break;
            }
            if (i >= REPORT_MAX_FINDINGS)
                break;
            report_add_finding(r, rule, (enum finding_severity)sv, what, fix);
        }
    }

    const json_t *io = json_object_get(doc, "io");
    if (json_is_object(io)) {
        r->read_ops = get_u64(&c, io, "read_ops");
        r->write_ops = get_u64(&c, io, "write_ops");
        r->read_bytes = get_u64(&c, io, "read_bytes");
        r->write_bytes = get_u64(&c, io, "write_bytes");
        v = json_object_get(io, "storage_read_bytes");
        r->has_storage = v && json_is_integer(v);
        r->storage_read_bytes = get_u64(&c, io, "storage_read_bytes");
        r->storage_write_bytes = get_u64(&c, io, "storage_write_bytes");
        r->cancelled_write_bytes = get_u64(&c, io, "cancelled_write_bytes");
        r->read_errors = get_u64(&c, io, "read_errors");
        r->write_errors = get_u64(&c, io, "write_errors");
    }

    const json_t *fds = json_object_get(doc, "fds");
    if (json_is_object(fds)) {
        r->fds.start = (long)get_u64(&c, fds, "start");
        r->fds.peak = (long)get_u64(&c, fds, "peak");
        r->fds.end = (long)get_u64(&c, fds, "end");
        r->fds.sampled = json_is_true(json_object_get(fds, "sampled"));
        r->fds.interval_seconds = get_real(&c, fds, "interval_seconds");
        r->fds.end_at_exit = json_is_true(json_object_get(fds, "end_at_exit"));
        const json_t *l = json_object_get(fds, "leaked");
        if (json_is_array(l))
            json_array_foreach(l, i, e)
            {
                const json_t *p = json_object_get(e, "path");
                const json_t *k = json_object_get(e, "kind");
                int kind = json_is_string(k) ? fd_kind_from_name(json_string_value(k)) : -1;
                report_add_leaked(r, (pid_t)get_u64(&c, e, "pid"), (int)get_u64(&c, e, "fd"),
                                  kind < 0 ? FDK_FILE : (enum fd_kind)kind,
                                  json_is_string(p) ? json_string_value(p) : NULL);
            }
    }

    const json_t *bk = json_object_get(doc, "by_kind");
    if (json_is_object(bk)) {
        r->detailed = true;
        for (int k = 0; k < FDK__COUNT; k++)
            if ((v = json_object_get(bk, fd_kind_name(k))) && json_is_object(v))
                get_counts(&c, v, &r->by_kind[k]);
    }
    const json_t *h = json_object_get(doc, "histogram");
    if (json_is_object(h)) {
        r->detailed = true;
        parse_histogram(&c, h, r);
    }
    const json_t *m = json_object_get(doc, "meta_ops");
    if (json_is_object(m))
        for (int k = 0; k < META__COUNT; k++)
            r->meta_ops[k] = get_u64(&c, m, meta_op_name(k));
    const json_t *files = json_object_get(doc, "files");
    if (json_is_array(files))
        json_array_foreach(files, i, e)
        {
            const json_t *p = json_object_get(e, "path");
            const json_t *k = json_object_get(e, "kind");
            int kind = json_is_string(k) ? fd_kind_from_name(json_string_value(k)) : FDK_FILE;
            struct file_row *f = report_add_file(r, json_is_string(p) ? json_string_value(p) : "?",
                                                 kind < 0 ? FDK_FILE : (enum fd_kind)kind);
            f->opens = get_u64(&c, e, "opens");
            f->read_ops = get_u64(&c, e, "read_ops");
            f->write_ops = get_u64(&c, e, "write_ops");
            f->read_bytes = get_u64(&c, e, "read_bytes");
            f->write_bytes = get_u64(&c, e, "write_bytes");
            f->seeks = get_u64(&c, e, "seeks");
        }
    uint64_t ft = get_u64(&c, doc, "files_total");
    if (ft > r->files_total)
        r->files_total = ft;
    const json_t *u = json_object_get(doc, "unseen");
    if (json_is_object(u)) {
        r->unseen.io_uring_enter = get_u64(&c, u, "io_uring_enter");
        r->unseen.mmap = get_u64(&c, u, "mmap");
        r->unseen.mmap_exec = get_u64(&c, u, "mmap_exec");
        r->unseen.exit_interrupted = get_u64(&c, u, "exit_interrupted");
        r->unseen.end_unstopped = get_u64(&c, u, "end_unstopped");
        r->unseen.seccomp_filters = get_u64(&c, u, "seccomp_filters");
        r->unseen.undecoded = get_u64(&c, u, "undecoded");
    }
    return c.rc;
}
