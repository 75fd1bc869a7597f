/* findings: the rules. Each reads only what the report measured (a rule
 * whose numbers are missing stays silent) and writes one sentence of what
 * was seen, with the numbers, and one of what usually fixes it. */
#include "measure/findings.h"
#include "measure/timeline.h"
#include "util/numfmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A rule's parameters: "RULE" is the main threshold, "RULE.NAME" the others. */
struct param {
    enum finding_rule rule;
    const char *name; /* as written after --alert */
    double dflt;
    int slot; /* 0: the main threshold, 1: the second */
    const char *doc;
};

static const char *const rule_names[FR__COUNT] = {
    [FR_SMALL_OPS] = "small-ops",
    [FR_SMALL_WRITES] = "small-writes",
    [FR_REOPEN] = "reopen",
    [FR_READ_AMP] = "read-amplification",
    [FR_REREAD] = "reread",
    [FR_FSYNC] = "fsync-per-write",
    [FR_RANDOM] = "random-access",
    [FR_LEAK] = "fd-leak",
    [FR_FD_GROWTH] = "fd-growth",
    [FR_HIDDEN] = "hidden-io",
    [FR_LATENCY] = "latency-outliers",
    [FR_FD_COUNT] = "fd-count",
    [FR_IOPS] = "iops",
    [FR_THROUGHPUT] = "throughput",
};

static const struct param params[] = {
    {FR_SMALL_OPS, "small-ops", 0.5, 0, "share of data calls under 4 KiB"},
    {FR_SMALL_OPS, "small-ops.min", 1000, 1, "data calls needed"},
    {FR_SMALL_WRITES, "small-writes", 1000, 0, "writes to one file"},
    {FR_SMALL_WRITES, "small-writes.size", 16384, 1, "average write size below (bytes)"},
    {FR_REOPEN, "reopen", 100, 0, "opens of one file"},
    {FR_READ_AMP, "read-amplification", 4, 0, "storage reads / logical reads"},
    {FR_READ_AMP, "read-amplification.min", 1048576, 1, "storage bytes read needed"},
    {FR_REREAD, "reread", 4, 0, "bytes read from one file / its size"},
    {FR_REREAD, "reread.min", 1048576, 1, "bytes read from the file needed"},
    {FR_FSYNC, "fsync-per-write", 0.5, 0, "fsync calls per write"},
    {FR_FSYNC, "fsync-per-write.min", 10, 1, "fsync calls needed"},
    {FR_RANDOM, "random-access", 0.5, 0, "seeks per data call on one file"},
    {FR_RANDOM, "random-access.min", 100, 1, "data calls on the file needed"},
    {FR_LEAK, "fd-leak", 1, 0, "descriptors left open"},
    {FR_FD_GROWTH, "fd-growth", 64, 0, "descriptors gained (slope x time, or end - start)"},
    {FR_FD_GROWTH, "fd-growth.fit", 0.9, 1, "timeline: least R^2 of the slope's line"},
    {FR_HIDDEN, "hidden-io", 256, 0, "mmap calls of files (not executable code)"},
    {FR_HIDDEN, "hidden-io.uring", 1, 1, "io_uring_enter calls"},
    {FR_LATENCY, "latency-outliers", 10, 0, "p99 / p50 of the call latency"},
    {FR_LATENCY, "latency-outliers.min", 100, 1, "timed calls needed"},
    {FR_FD_COUNT, "fd-count", 1000, 0, "live: open descriptors"},
    {FR_IOPS, "iops", 100000, 0, "live: reads + writes per second"},
    {FR_THROUGHPUT, "throughput", 1073741824, 0, "live: bytes read + written per second"},
};
#define NPARAMS (sizeof params / sizeof *params)
/* Paths in sentences are cut to this many bytes. */
#define PATH_MAX_SHOWN 200

void findings_opts_init(struct findings_opts *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < NPARAMS; i++) {
        if (params[i].slot == 0)
            o->threshold[params[i].rule] = params[i].dflt;
        else
            o->second[params[i].rule] = params[i].dflt;
    }
}

const char *finding_rule_name(enum finding_rule r)
{
    return (unsigned)r < FR__COUNT ? rule_names[r] : "?";
}

bool finding_rule_is_live(enum finding_rule r)
{
    return r == FR_FD_COUNT || r == FR_IOPS || r == FR_THROUGHPUT;
}

const char *findings_help(void)
{
    static char text[4096];
    if (!text[0]) {
        size_t o = 0;
        for (size_t i = 0; i < NPARAMS && o < sizeof text; i++)
            o += (size_t)snprintf(text + o, sizeof text - o, "    %-24s %-10.10g %s\n",
                                  params[i].name, params[i].dflt, params[i].doc);
    }
    return text;
}

int findings_parse_alert(struct findings_opts *o, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        snprintf(err, errlen, "--alert: '%.60s' is not RULE=VALUE or RULE=off", arg);
        return -EINVAL;
    }
    size_t nlen = (size_t)(eq - arg);
    const char *val = eq + 1;
    for (size_t i = 0; i < NPARAMS; i++) {
        if (strlen(params[i].name) != nlen || strncmp(params[i].name, arg, nlen))
            continue;
        if (!strcmp(val, "off") || !strcmp(val, "on")) {
            if (params[i].slot != 0)
                break;
            o->off[params[i].rule] = !strcmp(val, "off");
            return 0;
        }
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v) || v < 0) {
            snprintf(err, errlen, "--alert: '%.40s' is not a number for %s", val, params[i].name);
            return -EINVAL;
        }
        if (params[i].slot == 0)
            o->threshold[params[i].rule] = v;
        else
            o->second[params[i].rule] = v;
        o->off[params[i].rule] = false;
        return 0;
    }
    snprintf(err, errlen, "--alert: unknown rule '%.*s' (see --help)", (int)(nlen > 40 ? 40 : nlen),
             arg);
    return -EINVAL;
}

/* ---- the rules ---- */

static void add(struct report *r, enum finding_rule rule, enum finding_severity sev,
                const char *what, const char *fix)
{
    report_add_finding(r, finding_rule_name(rule), sev, what, fix);
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void rule_small_ops(struct report *r, const struct findings_opts *o)
{
    if (!r->detailed)
        return; /* no size histogram */
    uint64_t ops = 0, small = 0, small_bytes = 0;
    for (unsigned i = 0; i < HIST_SIZE_BUCKETS; i++) {
        const struct size_bucket *b = &r->size_hist[i];
        uint64_t lo, hi;
        report_size_bucket_range(i, &lo, &hi);
        ops += b->read_ops + b->write_ops;
        if (hi <= 4096) {
            small += b->read_ops + b->write_ops;
            small_bytes += b->read_bytes + b->write_bytes;
        }
    }
    if (ops < (uint64_t)o->second[FR_SMALL_OPS] || !ops ||
        (double)small < o->threshold[FR_SMALL_OPS] * (double)ops)
        return;
    char a[32], b[32], c[32], what[256];
    snprintf(what, sizeof what, "%s of %s data calls (%.0f%%) moved under 4 KiB each, %s in all.",
             numfmt_count(a, sizeof a, small), numfmt_count(b, sizeof b, ops), pct(small, ops),
             numfmt_bytes(c, sizeof c, small_bytes));
    add(r, FR_SMALL_OPS, FSEV_WARNING, what,
        "Read and write in larger blocks (64 KiB or more), or through a buffer.");
}

static void rule_files(struct report *r, const struct findings_opts *o)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        const struct file_row *f = &r->files[i];
        if (f->kind != FDK_FILE && f->kind != FDK_BLOCKDEV)
            continue;
        char a[32], b[32], c[32], what[PATH_MAX_SHOWN + 200];
        if (!o->off[FR_SMALL_WRITES] && f->write_ops >= (uint64_t)o->threshold[FR_SMALL_WRITES] &&
            f->write_ops &&
            (double)f->write_bytes / (double)f->write_ops < o->second[FR_SMALL_WRITES]) {
            snprintf(what, sizeof what, "%s writes of %s on average to %.*s (%s in all).",
                     numfmt_count(a, sizeof a, f->write_ops),
                     numfmt_bytes(b, sizeof b, f->write_bytes / f->write_ops), PATH_MAX_SHOWN,
                     f->path, numfmt_bytes(c, sizeof c, f->write_bytes));
            add(r, FR_SMALL_WRITES, FSEV_WARNING, what,
                "Buffer them: write larger blocks (a buffered file object, or fewer, larger "
                "writes).");
        }
        if (!o->off[FR_REOPEN] && f->opens >= (uint64_t)o->threshold[FR_REOPEN]) {
            snprintf(what, sizeof what, "%.*s was opened %s times.", PATH_MAX_SHOWN, f->path,
                     numfmt_count(a, sizeof a, f->opens));
            add(r, FR_REOPEN, FSEV_WARNING, what,
                "Open it once and keep the descriptor for the whole job.");
        }
        uint64_t data = f->read_ops + f->write_ops;
        if (!o->off[FR_RANDOM] && data >= (uint64_t)o->second[FR_RANDOM] && data &&
            (double)f->seeks >= o->threshold[FR_RANDOM] * (double)data) {
            snprintf(what, sizeof what, "%s seeks for %s reads and writes on %.*s: random access.",
                     numfmt_count(a, sizeof a, f->seeks), numfmt_count(b, sizeof b, data),
                     PATH_MAX_SHOWN, f->path);
            add(r, FR_RANDOM, FSEV_INFO, what,
                "Sort the accesses by offset, or read the file sequentially in large blocks.");
        }
        struct stat st;
        if (!o->off[FR_REREAD] && f->kind == FDK_FILE && f->path[0] == '/' &&
            f->read_bytes >= (uint64_t)o->second[FR_REREAD] && stat(f->path, &st) == 0 &&
            S_ISREG(st.st_mode) && st.st_size > 0 &&
            (double)f->read_bytes >= o->threshold[FR_REREAD] * (double)st.st_size) {
            snprintf(what, sizeof what, "%s read from %.*s, %.1f times its size of %s.",
                     numfmt_bytes(a, sizeof a, f->read_bytes), PATH_MAX_SHOWN, f->path,
                     (double)f->read_bytes / (double)st.st_size,
                     numfmt_bytes(b, sizeof b, (uint64_t)st.st_size));
            add(r, FR_REREAD, FSEV_WARNING, what, "Read it once and keep what you need in memory.");
        }
    }
}

static void rule_read_amp(struct report *r, const struct findings_opts *o)
{
    if (!r->has_storage || r->storage_read_bytes < (uint64_t)o->second[FR_READ_AMP] ||
        (double)r->storage_read_bytes < o->threshold[FR_READ_AMP] * (double)r->read_bytes)
        return;
    char a[32], b[32], what[256];
    snprintf(
        what, sizeof what, "%s read from storage for %s read by the program (%.1f times as much).",
        numfmt_bytes(a, sizeof a, r->storage_read_bytes), numfmt_bytes(b, sizeof b, r->read_bytes),
        r->read_bytes ? (double)r->storage_read_bytes / (double)r->read_bytes : INFINITY);
    add(r, FR_READ_AMP, FSEV_WARNING, what,
        "Small scattered reads pull in whole pages and read-ahead: read what you need in larger, "
        "sequential blocks, or use posix_fadvise(RANDOM).");
}

static void rule_fsync(struct report *r, const struct findings_opts *o)
{
    if (!r->detailed)
        return;
    uint64_t fs = r->meta_ops[META_FSYNC], w = r->by_kind[FDK_FILE].write_ops;
    if (fs < (uint64_t)o->second[FR_FSYNC] || !w || (double)fs < o->threshold[FR_FSYNC] * (double)w)
        return;
    char a[32], b[32], what[256];
    snprintf(what, sizeof what, "%s fsync calls for %s writes to files.",
             numfmt_count(a, sizeof a, fs), numfmt_count(b, sizeof b, w));
    add(r, FR_FSYNC, fs >= w ? FSEV_CRITICAL : FSEV_WARNING, what,
        "Sync once at the end (or at commit points), not after every write.");
}

static void rule_fds(struct report *r, const struct findings_opts *o)
{
    char a[32], b[32], what[512];
    if (!o->off[FR_LEAK] && r->fds.nleaked && r->fds.nleaked >= (size_t)o->threshold[FR_LEAK]) {
        const struct leaked_fd *l = &r->fds.leaked[0];
        snprintf(what, sizeof what, "%s descriptor%s left open, the first fd %d of pid %d%s%.*s.",
                 numfmt_count(a, sizeof a, r->fds.nleaked), r->fds.nleaked == 1 ? "" : "s", l->fd,
                 (int)l->pid, l->path ? " on " : "", PATH_MAX_SHOWN, l->path ? l->path : "");
        add(r, FR_LEAK, FSEV_WARNING, what,
            "Close what you open (a with-block, or close() on every path).");
    }
    if (o->off[FR_FD_GROWTH])
        return;
    const struct timeline *tl = r->timeline;
    if (tl && tl->analysed && tl->leak.computed) {
        /* over time: the least-squares line through the descriptor samples */
        const struct tl_leak *k = &tl->leak;
        if (k->growth < o->threshold[FR_FD_GROWTH] || k->growth <= 0 || k->net < 1 ||
            k->r2 < o->second[FR_FD_GROWTH])
            return;
        snprintf(what, sizeof what,
                 "The descriptor count grew steadily over the timeline: %.2f per second for "
                 "%.2f s (least-squares slope over %s samples, R² %.2f), +%.1f over the "
                 "run, from %ld to %ld.",
                 k->slope, k->duration, numfmt_count(a, sizeof a, k->nvalid), k->r2, k->growth,
                 k->first, k->last);
    } else {
        long grew = r->fds.end - r->fds.start;
        if (r->fds.start < 0 || grew <= 0 || (double)grew < o->threshold[FR_FD_GROWTH])
            return;
        snprintf(what, sizeof what,
                 "The descriptor count grew from %ld at the start to %ld at the end (+%ld); "
                 "start and end counts only (--timeline gives the slope).",
                 r->fds.start, r->fds.end, grew);
    }
    add(r, FR_FD_GROWTH, FSEV_WARNING, what,
        "Something opens without closing: look at the descriptors left open and the files "
        "opened most.");
    (void)b;
}

static void rule_hidden(struct report *r, const struct findings_opts *o)
{
    if (!r->detailed)
        return;
    bool maps = r->unseen.mmap && (double)r->unseen.mmap >= o->threshold[FR_HIDDEN];
    bool uring =
        r->unseen.io_uring_enter && (double)r->unseen.io_uring_enter >= o->second[FR_HIDDEN];
    if (!maps && !uring)
        return;
    char a[32], b[32], what[256];
    snprintf(what, sizeof what,
             "%s mmap calls of files and %s io_uring_enter calls: I/O through them is not in "
             "these numbers.",
             numfmt_count(a, sizeof a, r->unseen.mmap),
             numfmt_count(b, sizeof b, r->unseen.io_uring_enter));
    add(r, FR_HIDDEN, r->unseen.io_uring_enter ? FSEV_WARNING : FSEV_INFO, what,
        "Use the proc backend's storage rows for the whole picture, or read with read(2) to see "
        "every call.");
}

double findings_latency_percentile(const struct report *r, double p)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < HIST_LAT_BUCKETS; i++)
        total += r->lat_hist[i].read_ops + r->lat_hist[i].write_ops;
    if (!r->has_latency || !total)
        return 0;
    double want = p * (double)total;
    uint64_t cum = 0;
    for (unsigned i = 0; i < HIST_LAT_BUCKETS; i++) {
        cum += r->lat_hist[i].read_ops + r->lat_hist[i].write_ops;
        if ((double)cum >= want && cum) {
            uint64_t lo, hi;
            report_lat_bucket_range(i, &lo, &hi);
            return hi == UINT64_MAX ? (double)lo : (double)hi;
        }
    }
    return 0;
}

static void rule_latency(struct report *r, const struct findings_opts *o)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < HIST_LAT_BUCKETS; i++)
        total += r->lat_hist[i].read_ops + r->lat_hist[i].write_ops;
    if (!r->has_latency || total < (uint64_t)o->second[FR_LATENCY] || !total)
        return;
    double p50 = findings_latency_percentile(r, 0.50);
    double p95 = findings_latency_percentile(r, 0.95);
    double p99 = findings_latency_percentile(r, 0.99);
    if (p50 <= 0 || p99 < o->threshold[FR_LATENCY] * p50)
        return;
    char what[256];
    snprintf(what, sizeof what,
             "Call latency p50 under %.0f µs, p95 under %.0f µs, p99 under %.0f µs: the slowest "
             "1%% take %.0f times the median.",
             p50 / 1e3, p95 / 1e3, p99 / 1e3, p99 / p50);
    add(r, FR_LATENCY, FSEV_INFO, what,
        "Look for calls that wait on storage (cache misses, fsync, contention with other "
        "I/O).");
}

static int by_severity(const void *a, const void *b)
{
    const struct finding *x = a, *y = b;
    return (int)y->severity - (int)x->severity;
}

void findings_compute(struct report *r, const struct findings_opts *opts)
{
    struct findings_opts dflt;
    if (!opts) {
        findings_opts_init(&dflt);
        opts = &dflt;
    }
    report_clear_findings(r);
    r->has_findings = true;
    if (!opts->off[FR_SMALL_OPS])
        rule_small_ops(r, opts);
    rule_files(r, opts);
    if (!opts->off[FR_READ_AMP])
        rule_read_amp(r, opts);
    if (!opts->off[FR_FSYNC])
        rule_fsync(r, opts);
    rule_fds(r, opts);
    if (!opts->off[FR_HIDDEN])
        rule_hidden(r, opts);
    if (!opts->off[FR_LATENCY])
        rule_latency(r, opts);
    /* stable: equal severities keep the rules' order */
    for (size_t i = 1; i < r->nfindings; i++)
        for (size_t j = i; j > 0 && by_severity(&r->findings[j - 1], &r->findings[j]) > 0; j--) {
            struct finding t = r->findings[j];
            r->findings[j] = r->findings[j - 1];
            r->findings[j - 1] = t;
        }
}
