/* test_findings: each rule on a report built to trigger it and on its
 * counterpart, the exact sentences, thresholds from --alert, percentiles
 * from the latency histogram, and findings through JSON and back. */
#include "measure/findings.h"
#include "measure/report.h"
#include "measure/report_json.h"
#include "measure/timeline.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct finding *find(const struct report *r, const char *rule)
{
    for (size_t i = 0; i < r->nfindings; i++)
        if (!strcmp(r->findings[i].rule, rule))
            return &r->findings[i];
    return NULL;
}

/* n writes of bs bytes to one file, traced. */
static void writes(struct report *r, const char *path, uint64_t n, uint64_t bs)
{
    report_init(r);
    snprintf(r->backend, sizeof r->backend, "trace");
    r->detailed = true;
    r->hist_kinds = 1u << FDK_FILE;
    r->write_ops = n;
    r->write_bytes = n * bs;
    r->by_kind[FDK_FILE].write_ops = n;
    r->by_kind[FDK_FILE].write_bytes = n * bs;
    struct size_bucket *b = &r->size_hist[report_size_bucket(bs)];
    b->write_ops = n;
    b->write_bytes = n * bs;
    struct file_row *f = report_add_file(r, path, FDK_FILE);
    f->opens = 1;
    f->write_ops = n;
    f->write_bytes = n * bs;
    r->fds.start = r->fds.peak = r->fds.end = 3;
}

static void test_small(void)
{
    struct report r;
    writes(&r, "/data/out.bin", 2560, 4096);
    findings_compute(&r, NULL);
    const struct finding *f = find(&r, "small-writes");
    CHECK(f != NULL);
    if (f) {
        CHECK_STR(f->what,
                  "2,560 writes of 4.00 KiB on average to /data/out.bin (10.00 MiB in all).");
        CHECK_INT(f->severity, FSEV_WARNING);
    }
    CHECK(find(&r, "small-ops") == NULL); /* 4 KiB is not under 4 KiB */
    report_release(&r);

    writes(&r, "/data/log", 5000, 100);
    findings_compute(&r, NULL);
    f = find(&r, "small-ops");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what,
                  "5,000 of 5,000 data calls (100%) moved under 4 KiB each, 488.28 KiB in all.");
    report_release(&r);

    /* the counterpart: the same 10 MiB in 10 writes of 1 MiB */
    writes(&r, "/data/out.bin", 10, 1 << 20);
    findings_compute(&r, NULL);
    CHECK_U64(r.nfindings, 0);
    CHECK(r.has_findings);
    report_release(&r);

    /* thresholds: fewer writes needed, or the rule off */
    struct findings_opts o;
    char err[160];
    findings_opts_init(&o);
    CHECK_INT(findings_parse_alert(&o, "small-writes=100", err, sizeof err), 0);
    writes(&r, "/x", 200, 512);
    findings_compute(&r, &o);
    CHECK(find(&r, "small-writes") != NULL);
    CHECK_INT(findings_parse_alert(&o, "small-writes=off", err, sizeof err), 0);
    findings_compute(&r, &o);
    CHECK(find(&r, "small-writes") == NULL);
    findings_compute(&r, NULL); /* defaults: 1,000 writes needed */
    CHECK(find(&r, "small-writes") == NULL);
    report_release(&r);

    CHECK_INT(findings_parse_alert(&o, "nope=1", err, sizeof err), -EINVAL);
    CHECK_STR(err, "--alert: unknown rule 'nope' (see --help)");
    CHECK_INT(findings_parse_alert(&o, "reopen=many", err, sizeof err), -EINVAL);
    CHECK_STR(err, "--alert: 'many' is not a number for reopen");
    CHECK_INT(findings_parse_alert(&o, "reopen", err, sizeof err), -EINVAL);
    CHECK_INT(findings_parse_alert(&o, "small-ops.min=off", err, sizeof err), -EINVAL);
}

static void test_fsync_reopen_random_leak(void)
{
    struct report r;
    writes(&r, "/db/wal", 100, 8192);
    r.meta_ops[META_FSYNC] = 100;
    r.files[0].opens = 150;
    r.files[0].seeks = 60;
    report_add_leaked(&r, 4242, 7, FDK_FILE, "/db/wal");
    r.fds.end = 4;
    findings_compute(&r, NULL);
    const struct finding *f = find(&r, "fsync-per-write");
    CHECK(f && f->severity == FSEV_CRITICAL);
    if (f)
        CHECK_STR(f->what, "100 fsync calls for 100 writes to files.");
    f = find(&r, "reopen");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "/db/wal was opened 150 times.");
    f = find(&r, "random-access");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "60 seeks for 100 reads and writes on /db/wal: random access.");
    f = find(&r, "fd-leak");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "1 descriptor left open, the first fd 7 of pid 4242 on /db/wal.");
    /* most severe first */
    CHECK_STR(r.findings[0].rule, "fsync-per-write");
    report_release(&r);

    /* counterparts: one fsync at the end; few seeks; few opens */
    writes(&r, "/db/wal", 100, 8192);
    r.meta_ops[META_FSYNC] = 1;
    r.files[0].seeks = 2;
    findings_compute(&r, NULL);
    CHECK_U64(r.nfindings, 0);
    report_release(&r);
}

static void test_latency(void)
{
    struct report r;
    writes(&r, "/f", 1000, 65536);
    r.has_latency = true;
    /* 980 calls in [4096, 8192) ns, 20 in [2^20, 2^21) ns */
    r.lat_hist[report_lat_bucket(5000)].write_ops = 980;
    r.lat_hist[report_lat_bucket(1500000)].write_ops = 20;
    CHECK(findings_latency_percentile(&r, 0.50) == 8192);
    CHECK(findings_latency_percentile(&r, 0.98) == 8192);
    CHECK(findings_latency_percentile(&r, 0.99) == 2097152);
    findings_compute(&r, NULL);
    const struct finding *f = find(&r, "latency-outliers");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "Call latency p50 under 8 \xc2\xb5s, p95 under 8 \xc2\xb5s, p99 under "
                           "2097 \xc2\xb5s: the slowest 1% take 256 times the median.");
    /* spread evenly: no outliers */
    memset(r.lat_hist, 0, sizeof r.lat_hist);
    r.lat_hist[report_lat_bucket(5000)].write_ops = 1000;
    findings_compute(&r, NULL);
    CHECK(find(&r, "latency-outliers") == NULL);
    report_release(&r);
}

static void test_proc_is_silent_where_it_cannot_know(void)
{
    struct report r;
    report_init(&r);
    snprintf(r.backend, sizeof r.backend, "proc");
    r.write_ops = 100000;
    r.write_bytes = 100000;
    r.has_storage = true;
    r.storage_read_bytes = 64 << 20;
    r.read_bytes = 1 << 20;
    findings_compute(&r, NULL);
    CHECK_U64(r.nfindings, 1); /* no size histogram, no files: only read amplification */
    CHECK_STR(r.findings[0].rule, "read-amplification");
    CHECK_STR(r.findings[0].what,
              "64.00 MiB read from storage for 1.00 MiB read by the program (64.0 times as much).");
    report_release(&r);
}

static void test_json(void)
{
    struct report r, back;
    writes(&r, "/data/out.bin", 2560, 4096);
    findings_compute(&r, NULL);
    json_t *doc = report_to_json(&r);
    report_init(&back);
    char err[200];
    CHECK_INT(report_from_json(doc, &back, err, sizeof err), 0);
    CHECK(back.has_findings);
    CHECK_U64(back.nfindings, r.nfindings);
    CHECK_STR(back.findings[0].rule, r.findings[0].rule);
    CHECK_STR(back.findings[0].what, r.findings[0].what);
    CHECK_STR(back.findings[0].fix, r.findings[0].fix);
    CHECK_INT(back.findings[0].severity, r.findings[0].severity);
    json_decref(doc);
    report_release(&back);
    /* a bad severity is an error */
    doc = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}]}", "schema", "iopsd-report/1", "findings",
                    "rule", "x", "severity", "dire", "what", "w", "fix", "f");
    report_init(&back);
    CHECK(report_from_json(doc, &back, err, sizeof err) != 0);
    json_decref(doc);
    report_release(&back);
    report_release(&r);
}

/* A timeline of 100 samples 0.1 s apart, analysed: a ramp of one descriptor
 * a sample from 3, or a single step from 3 to 103 halfway. */
static struct timeline *series(bool ramp)
{
    struct timeline *tl = timeline_new(0.1, 0);
    for (int i = 0; i < 100; i++) {
        struct tl_sample s;
        memset(&s, 0, sizeof s);
        s.mono_ns = (uint64_t)i * 100000000ull;
        s.open_fds = ramp ? 3 + i : i < 50 ? 3 : 103;
        for (int k = 0; k < FDK__COUNT; k++)
            s.by_kind[k] = -1;
        timeline_add_sample(tl, &s);
    }
    struct tl_params p;
    tl_params_init(&p);
    timeline_analyse(tl, &p, false, 0);
    return tl;
}

static void test_fd_growth(void)
{
    struct report r;
    struct findings_opts o;
    char err[160];
    /* no timeline: the start and end counts, said so */
    writes(&r, "/data/x", 1, 100);
    r.fds.start = 3;
    r.fds.end = r.fds.peak = 83;
    findings_compute(&r, NULL);
    const struct finding *f = find(&r, "fd-growth");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "The descriptor count grew from 3 at the start to 83 at the end (+80); "
                           "start and end counts only (--timeline gives the slope).");
    findings_opts_init(&o);
    CHECK_INT(findings_parse_alert(&o, "fd-growth=81", err, sizeof err), 0);
    findings_compute(&r, &o);
    CHECK(find(&r, "fd-growth") == NULL);
    /* a steady ramp over the timeline: the slope */
    r.timeline = series(true);
    r.fds.end = r.fds.peak = 102;
    findings_compute(&r, NULL);
    f = find(&r, "fd-growth");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "The descriptor count grew steadily over the timeline: 10.00 per "
                           "second for 9.90 s (least-squares slope over 100 samples, R² 1.00), "
                           "+99.0 over the run, from 3 to 102.");
    CHECK_INT(findings_parse_alert(&o, "fd-growth=100", err, sizeof err), 0);
    findings_compute(&r, &o); /* +99.0 < 100 */
    CHECK(find(&r, "fd-growth") == NULL);
    timeline_free(r.timeline);
    /* one step of +100 halfway is no steady growth: R² 0.75 < 0.9, even
     * though start and end differ by 100 */
    r.timeline = series(false);
    r.fds.end = r.fds.peak = 103;
    findings_compute(&r, NULL);
    CHECK(find(&r, "fd-growth") == NULL);
    findings_opts_init(&o);
    CHECK_INT(findings_parse_alert(&o, "fd-growth.fit=0.7", err, sizeof err), 0);
    findings_compute(&r, &o);
    f = find(&r, "fd-growth");
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->what, "The descriptor count grew steadily over the timeline: 15.00 per "
                           "second for 9.90 s (least-squares slope over 100 samples, R² 0.75), "
                           "+148.5 over the run, from 3 to 103.");
    CHECK_INT(findings_parse_alert(&o, "fd-growth=off", err, sizeof err), 0);
    findings_compute(&r, &o);
    CHECK(find(&r, "fd-growth") == NULL);
    report_release(&r); /* frees the timeline */
}

static void test_live_rules_are_not_findings(void)
{
    struct report r;
    struct findings_opts o;
    char err[160];
    writes(&r, "/data/x", 1, 100);
    findings_opts_init(&o);
    CHECK(o.threshold[FR_FD_COUNT] == 1000);
    CHECK(o.threshold[FR_IOPS] == 100000);
    CHECK(o.threshold[FR_THROUGHPUT] == 1073741824);
    CHECK_INT(findings_parse_alert(&o, "fd-count=0", err, sizeof err), 0);
    CHECK_INT(findings_parse_alert(&o, "iops=0", err, sizeof err), 0);
    CHECK_INT(findings_parse_alert(&o, "throughput=0", err, sizeof err), 0);
    CHECK(finding_rule_is_live(FR_IOPS) && !finding_rule_is_live(FR_FD_GROWTH));
    findings_compute(&r, &o);
    CHECK_INT((int)r.nfindings, 0);
    CHECK_INT(findings_parse_alert(&o, "iops=off", err, sizeof err), 0);
    CHECK(o.off[FR_IOPS]);
    report_release(&r);
}

int main(void)
{
    test_fd_growth();
    test_live_rules_are_not_findings();
    test_small();
    test_fsync_reopen_random_leak();
    test_latency();
    test_proc_is_silent_where_it_cannot_know();
    test_json();
    return tap_done("test_findings");
}
