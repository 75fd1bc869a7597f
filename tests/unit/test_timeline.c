/* test_timeline: plateaus and jumps on fdprof's analysis test vectors and the
 * synthetic series of seed-tools.md §1.6, in fdprof's mode and in ours; the
 * leak detector; EVENT parsing (fdprof's valid and invalid lines, a line split
 * across reads); the bounded sample store; the JSON section. */
#include "measure/report.h"
#include "measure/report_json.h"
#include "measure/timeline.h"
#include "tests/unit/tap.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK_NEAR(a, b)                                                                           \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        tap_checks++;                                                                              \
        if (!(fabs(a_ - b_) < 1e-9))                                                               \
            tap_fail(__FILE__, __LINE__, "%s == %.12g, expected %.12g", #a, a_, b_);               \
    } while (0)

/* A series built from runs of (count, value) at `dt` spacing from t = 0. */
struct series {
    double t[256], v[256];
    size_t n;
};

static void runs(struct series *s, double dt, const int *spec)
{
    s->n = 0;
    for (; spec[0]; spec += 2)
        for (int i = 0; i < spec[0]; i++, s->n++) {
            s->t[s->n] = (double)s->n * dt;
            s->v[s->n] = spec[1];
        }
}

/* fdprof's detect_plateaus defaults (the function's, not the command's). */
static struct tl_params fn_defaults(bool compat)
{
    struct tl_params p;
    tl_params_init(&p);
    p.compat = compat;
    p.tolerance = 5.0;
    p.merge_threshold = 15.0;
    return p;
}

/* Our mode's equivalent of min_length samples at spacing dt. */
static void ours_len(struct tl_params *p, unsigned min_length, double dt)
{
    p->compat = false;
    p->min_duration = (min_length - 1) * dt;
}

static size_t detect(const struct series *s, const struct tl_params *p, struct tl_plateau **pl)
{
    return tl_detect_plateaus(s->t, s->v, s->n, p, pl);
}

/* fdprof's tests/test_analysis.py, with exact expectations. */
static void test_fdprof_vectors(void)
{
    for (int mode = 0; mode < 2; mode++) {
        bool compat = mode == 0;
        struct tl_plateau *pl;
        struct tl_params p = fn_defaults(compat);
        struct series s;

        /* empty; fewer points than min_length */
        CHECK_INT(tl_detect_plateaus(NULL, NULL, 0, &p, &pl), 0);
        double t3[] = {0.0, 0.1, 0.2}, v3[] = {10, 11, 12};
        if (!compat)
            ours_len(&p, 5, 0.1);
        CHECK_INT(tl_detect_plateaus(t3, v3, 3, &p, &pl), 0);

        /* single stable region, tolerance 2 */
        double v10[] = {100, 101, 99, 100, 101, 100, 99, 100, 101, 100};
        for (int i = 0; i < 10; i++)
            s.t[i] = i / 10.0, s.v[i] = v10[i];
        s.n = 10;
        p = fn_defaults(compat);
        p.tolerance = 2.0;
        if (!compat)
            ours_len(&p, 5, 0.1);
        CHECK_INT(detect(&s, &p, &pl), 1);
        CHECK_NEAR(pl[0].start_time, 0.0);
        CHECK_NEAR(pl[0].end_time, 0.9);
        CHECK_NEAR(pl[0].level, 100);
        CHECK_INT(pl[0].nvalues, 10);
        free(pl);

        /* two regions, 10 x 8 then 50 x 12, tolerance 1, no merge */
        runs(&s, 1.0, (int[]){8, 10, 12, 50, 0});
        p = fn_defaults(compat);
        p.tolerance = 1.0;
        p.merge = false;
        if (!compat)
            ours_len(&p, 5, 1.0);
        CHECK_INT(detect(&s, &p, &pl), 2);
        CHECK_NEAR(pl[0].level, 10);
        CHECK_INT(pl[0].end_idx, 7);
        CHECK_NEAR(pl[1].level, 50);
        CHECK_INT(pl[1].start_idx, 8);
        CHECK_INT(pl[1].end_idx, 19);
        free(pl);

        /* noise: 100 + N(0, 2) with numpy's seed 42, truncated to int, over
         * linspace(0, 2, 50); min_length 10, tolerance 5 (the stored values) */
        static const int noise[50] = {
            100, 99, 101, 103, 99, 99,  103, 101, 99,  101, 99,  99, 100, 96,  96,  98, 97,
            100, 98, 97,  102, 99, 100, 97,  98,  100, 97,  100, 98, 99,  98,  103, 99, 97,
            101, 97, 100, 96,  97, 100, 101, 100, 99,  99,  97,  98, 99,  102, 100, 96,
        };
        for (int i = 0; i < 50; i++)
            s.t[i] = 2.0 * i / 49, s.v[i] = noise[i];
        s.n = 50;
        p = fn_defaults(compat);
        p.min_length = 10;
        if (!compat)
            ours_len(&p, 10, 2.0 / 49);
        CHECK_INT(detect(&s, &p, &pl), 1);
        CHECK_NEAR(pl[0].level, 99);
        CHECK_INT(pl[0].start_idx, 0);
        CHECK_INT(pl[0].end_idx, 49);
        free(pl);

        /* merge of 100 / 110 / 105 (10 each), tolerance 1, threshold 20 */
        runs(&s, 1.0, (int[]){10, 100, 10, 110, 10, 105, 0});
        p = fn_defaults(compat);
        p.tolerance = 1.0;
        p.merge_threshold = 20.0;
        p.merge = false;
        if (!compat)
            ours_len(&p, 5, 1.0);
        CHECK_INT(detect(&s, &p, &pl), 3);
        free(pl);
        p.merge = true;
        CHECK_INT(detect(&s, &p, &pl), 1);
        CHECK_NEAR(pl[0].level, 105);
        CHECK_NEAR(pl[0].start_time, 0);
        CHECK_NEAR(pl[0].end_time, 29);
        CHECK_INT(pl[0].nvalues, 30);
        free(pl);

        /* min_length 5 finds the flat 20; 25 does not */
        runs(&s, 1.0, (int[]){20, 100, 0});
        p = fn_defaults(compat);
        if (!compat)
            ours_len(&p, 5, 1.0);
        CHECK_INT(detect(&s, &p, &pl), 1);
        free(pl);
        p.min_length = 25;
        if (!compat)
            ours_len(&p, 25, 1.0);
        CHECK_INT(detect(&s, &p, &pl), 0);

        /* oscillation 100, 105, 95: none at tolerance 1, one (level 100) at 10 */
        static const int osc[3] = {100, 105, 95};
        for (int i = 0; i < 20; i++)
            s.t[i] = i, s.v[i] = osc[i % 3];
        s.n = 20;
        p = fn_defaults(compat);
        p.tolerance = 1.0;
        if (!compat)
            ours_len(&p, 5, 1.0);
        CHECK_INT(detect(&s, &p, &pl), 0);
        p.tolerance = 10.0;
        CHECK_INT(detect(&s, &p, &pl), 1);
        CHECK_NEAR(pl[0].level, 100);
        CHECK_INT(pl[0].nvalues, 20);
        free(pl);

        /* step 10 / 100 / 20, tolerance 2, no merge */
        runs(&s, 1.0, (int[]){10, 10, 10, 100, 10, 20, 0});
        p = fn_defaults(compat);
        p.tolerance = 2.0;
        p.merge = false;
        if (!compat)
            ours_len(&p, 5, 1.0);
        CHECK_INT(detect(&s, &p, &pl), 3);
        CHECK_NEAR(pl[0].level, 10);
        CHECK_NEAR(pl[1].level, 100);
        CHECK_NEAR(pl[2].level, 20);
        free(pl);
    }
}

/* seed-tools.md §1.6: command-line defaults, 0.1 s spacing. */
static void test_synthetic(void)
{
    struct series s;
    struct tl_plateau *pl;
    struct tl_jump *j;
    for (int mode = 0; mode < 2; mode++) {
        struct tl_params p;
        tl_params_init(&p);
        p.compat = mode == 0;

        /* steps 10 -> 18 -> 24 -> 19 -> 11 -> 5 */
        runs(&s, 0.1, (int[]){10, 10, 10, 18, 10, 24, 10, 19, 10, 11, 10, 5, 0});
        size_t n = detect(&s, &p, &pl);
        CHECK_INT(n, 6);
        size_t nj = tl_detect_jumps(pl, n, &p, &j);
        CHECK_INT(nj, 5);
        static const long want[5] = {8, 6, -5, -8, -6};
        for (size_t i = 0; i < 5 && i < nj; i++)
            CHECK_INT(j[i].rounded, want[i]);
        if (nj >= 1) {
            CHECK_NEAR(j[0].time, (0.9 + 1.0) / 2);
            CHECK_NEAR(j[0].from_level, 10);
            CHECK_NEAR(j[0].to_level, 18);
        }
        free(pl);
        free(j);

        /* a leak of +1 per sample: no plateau at all */
        for (int i = 0; i < 40; i++)
            s.t[i] = i / 10.0, s.v[i] = 10 + i;
        s.n = 40;
        CHECK_INT(detect(&s, &p, &pl), 0);

        /* +1 every 2 samples, 10 -> 29: one plateau at 19.5 */
        for (int i = 0; i < 40; i++)
            s.t[i] = i / 10.0, s.v[i] = 10 + i / 2;
        CHECK_INT(detect(&s, &p, &pl), 1);
        CHECK_NEAR(pl[0].level, 19.5);
        free(pl);

        /* a one-sample spike of +20 is swallowed */
        runs(&s, 0.1, (int[]){10, 10, 1, 30, 10, 10, 0});
        CHECK_INT(detect(&s, &p, &pl), 1);
        CHECK_NEAR(pl[0].level, 10);
        free(pl);

        /* +3 steps chain: 13 (three merged) and 19; jump +6 */
        runs(&s, 0.1, (int[]){10, 10, 10, 13, 10, 16, 10, 19, 0});
        n = detect(&s, &p, &pl);
        CHECK_INT(n, 2);
        CHECK_NEAR(pl[0].level, 13);
        CHECK_NEAR(pl[1].level, 19);
        nj = tl_detect_jumps(pl, n, &p, &j);
        CHECK_INT(nj, 1);
        CHECK_INT(j[0].rounded, 6);
        free(pl);
        free(j);

        /* transition 20, 30, 40 dropped: 10 and 50, +40 at the gap's middle */
        runs(&s, 0.1, (int[]){10, 10, 1, 20, 1, 30, 1, 40, 10, 50, 0});
        n = detect(&s, &p, &pl);
        CHECK_INT(n, 2);
        nj = tl_detect_jumps(pl, n, &p, &j);
        CHECK_INT(nj, 1);
        CHECK_INT(j[0].rounded, 40);
        CHECK_NEAR(j[0].time, (0.9 + 1.3) / 2);
        free(pl);
        free(j);

        /* a 3-sample tail at 20: fdprof loses it, ours keeps it (+10) */
        runs(&s, 0.1, (int[]){10, 10, 3, 20, 0});
        n = detect(&s, &p, &pl);
        CHECK_INT(n, p.compat ? 1 : 2);
        nj = tl_detect_jumps(pl, n, &p, &j);
        CHECK_INT(nj, p.compat ? 0 : 1);
        if (!p.compat && nj == 1)
            CHECK_INT(j[0].rounded, 10);
        free(pl);
        free(j);

        /* the function's defaults (5 / 5.0 / 15.0) merge 10 -> 18 into 14 */
        struct tl_params f = fn_defaults(p.compat);
        runs(&s, 0.1, (int[]){10, 10, 10, 18, 0});
        CHECK_INT(detect(&s, &f, &pl), 1);
        CHECK_NEAR(pl[0].level, 14);
        free(pl);
    }
}

/* What our mode fixes beyond §1.6: -1 dropped by index, exact jump sizes. */
static void test_fixes(void)
{
    struct series s;
    struct tl_plateau *pl;
    struct tl_jump *j;
    struct tl_params p;
    tl_params_init(&p);
    runs(&s, 0.1, (int[]){5, 10, 1, -1, 4, 10, 10, 20, 0});
    p.compat = true;
    CHECK_INT(detect(&s, &p, &pl), 2);
    /* fdprof keeps the first 19 times: the 20s seem to start at 0.9 */
    CHECK_NEAR(pl[1].start_time, 0.9);
    CHECK_NEAR(pl[1].end_time, 1.8);
    free(pl);
    p.compat = false;
    CHECK_INT(detect(&s, &p, &pl), 2);
    CHECK_NEAR(pl[0].end_time, 0.9);
    CHECK_INT(pl[0].nvalues, 9);
    CHECK_NEAR(pl[1].start_time, 1.0);
    CHECK_NEAR(pl[1].end_time, 1.9);
    CHECK_INT(pl[1].start_idx, 10);
    free(pl);

    /* 10 then 14/15 alternating (median 14.5): fdprof truncates +4.5 to +4,
     * ours gives 4.5, shown as 5; falling, -4 against -5 */
    runs(&s, 0.1, (int[]){10, 10, 1,  14, 1,  15, 1,  14, 1,  15, 1,  14, 1,  15, 1,
                          14, 1,  15, 1,  14, 1,  15, 1,  14, 1,  15, 10, 10, 0});
    for (int mode = 0; mode < 2; mode++) {
        p.compat = mode == 0;
        p.merge = false;
        size_t n = detect(&s, &p, &pl);
        CHECK_INT(n, 3);
        CHECK_NEAR(pl[1].level, 14.5);
        size_t nj = tl_detect_jumps(pl, n, &p, &j);
        CHECK_INT(nj, 2);
        CHECK_INT(j[0].rounded, p.compat ? 4 : 5);
        CHECK_INT(j[1].rounded, p.compat ? -4 : -5);
        CHECK_NEAR(j[0].size, 4.5);
        free(pl);
        free(j);
    }
}

static void test_leak(void)
{
    struct tl_params p;
    tl_params_init(&p);
    struct tl_leak l = {0};
    static double t[200], v[200];
    /* a slow leak: one descriptor every 50 ms for 3 s, sampled every 0.1 s */
    for (int i = 0; i <= 30; i++)
        t[i] = i / 10.0, v[i] = 5 + 2 * i;
    tl_leak_check(t, v, 31, &p, &l);
    CHECK(l.computed);
    CHECK_NEAR(l.slope, 20);
    CHECK_NEAR(l.duration, 3);
    CHECK_NEAR(l.growth, 60);
    CHECK_INT(l.net, 60);
    CHECK(l.flagged);
    /* a burst of 100 that closes again */
    for (int i = 0; i <= 30; i++)
        t[i] = i / 10.0, v[i] = (i >= 10 && i < 15) ? 105 : 5;
    tl_leak_check(t, v, 31, &p, &l);
    CHECK_INT(l.net, 0);
    CHECK(!l.flagged);
    /* a leak below the threshold is not flagged; -1 samples are skipped */
    for (int i = 0; i <= 30; i++)
        t[i] = i / 10.0, v[i] = i == 7 ? -1 : 5 + i / 4;
    tl_leak_check(t, v, 31, &p, &l);
    CHECK_INT(l.net, 7);
    CHECK(l.growth < 10);
    CHECK(!l.flagged);
    p.leak_threshold = 5;
    tl_leak_check(t, v, 31, &p, &l);
    CHECK(l.flagged);
}

struct evcase {
    const char *line;
    int ok;
    double ts;
    const char *msg;
};

static void test_events(void)
{
    static const struct evcase cases[] = {
        {"EVENT: 1001.5 Database connected", 1, 1001.5, "Database connected"},
        {"EVENT: invalid_timestamp Some event", 0, 0, NULL},
        {"EVENT: 1001.5", 0, 0, NULL},
        {"EVENT: 1001.5   ", 0, 0, NULL},
        {"EVENT: 1001.5 This is a multi-word event message", 1, 1001.5,
         "This is a multi-word event message"},
        {"EVENT: 1001.123456789 High precision event", 1, 1001.123456789, "High precision event"},
        {"EVENT: 1234567890 x", 1, 1234567890, "x"},
        {"EVENT: 1234567890.123456 x", 1, 1234567890.123456, "x"},
        {"EVENT: 123.456.789 x", 0, 0, NULL},
        {"EVENT: 123abc456 x", 0, 0, NULL},
        {"EVENT:  x", 0, 0, NULL},
        {"EVENT: . x", 0, 0, NULL},
        {"EVENT: 123456. x", 1, 123456, "x"},
        {"EVENT: .123456 x", 1, 0.123456, "x"},
        {"   \tEVENT: 5 indented\r", 1, 5, "indented"},
        {"Starting application", 0, 0, NULL},
        {"event: 5 lower case", 0, 0, NULL},
        {"EVENT:5 no space", 0, 0, NULL},
        {"", 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double ts = -1;
        const char *msg = NULL;
        size_t len = 0;
        int rc = tl_parse_event(cases[i].line, strlen(cases[i].line), &ts, &msg, &len);
        if (cases[i].ok) {
            CHECK_INT(rc, 0);
            CHECK_NEAR(ts, cases[i].ts);
            char buf[128];
            snprintf(buf, sizeof(buf), "%.*s", (int)len, msg ? msg : "");
            CHECK_STR(buf, cases[i].msg);
        } else {
            CHECK(rc != 0);
        }
    }

    /* through the line splitter: a line cut by a read, a CRLF, a line too
     * long (skipped, counted) and one without a final newline */
    struct timeline *tl = timeline_new(0.1, 1000.0);
    struct tl_eventfeed f;
    tl_eventfeed_init(&f, tl, TL_SRC_STDERR);
    const char *a = "out\nEVENT: 1001.5 Da", *b = "tabase connected\r\nEVENT: 1002 x\n";
    tl_eventfeed_feed(&f, a, strlen(a));
    CHECK_INT(tl->nevents, 0);
    tl_eventfeed_feed(&f, b, strlen(b));
    CHECK_INT(tl->nevents, 2);
    static char big[TL_LINE_MAX + 100];
    memset(big, 'y', sizeof(big));
    memcpy(big, "EVENT: 1003 ", 12);
    tl_eventfeed_feed(&f, big, sizeof(big));
    tl_eventfeed_feed(&f, "\nEVENT: 1004 last", 17);
    CHECK_INT(tl->nevents, 2);
    tl_eventfeed_finish(&f);
    CHECK_INT(tl->nevents, 3);
    CHECK_INT(tl->lines_too_long, 1);
    CHECK_STR(tl->events[0].message, "Database connected");
    CHECK_NEAR(tl->events[0].elapsed, 1.5);
    CHECK_STR(tl->events[1].message, "x");
    CHECK_NEAR(tl->events[1].elapsed, 2.0);
    CHECK_STR(tl->events[2].message, "last");
    CHECK_INT(tl->events[2].source, TL_SRC_STDERR);
    /* the cap on events */
    for (int i = 0; i < TL_MAX_EVENTS + 10; i++)
        timeline_add_event(tl, 1005, 5, TL_SRC_STDOUT, "m", 1);
    CHECK_INT(tl->nevents, TL_MAX_EVENTS);
    CHECK_INT(tl->events_dropped, 13);
    timeline_free(tl);
}

/* Ten minutes at 0.1 s and far beyond: memory stays at TL_MAX_SAMPLES,
 * decimation is counted, the counters never go back, the last one is kept. */
static void test_store(void)
{
    struct timeline *tl = timeline_new(0.1, 0);
    struct tl_sample s = {0};
    for (uint64_t i = 0; i < 1000000; i++) {
        s.mono_ns = i * 100000000ull;
        s.open_fds = (int32_t)(i % 7);
        s.read_ops = i % 1000 == 999 ? 0 : i; /* a glitch: clamped */
        timeline_add_sample(tl, &s);
    }
    s.mono_ns = 1000000 * 100000000ull;
    s.read_ops = 1000000;
    timeline_add_final_sample(tl, &s);
    CHECK(tl->nsamples <= TL_MAX_SAMPLES);
    CHECK(tl->nsamples >= TL_MAX_SAMPLES / 2);
    CHECK_U64(tl->offered, 1000001);
    CHECK_U64(tl->decimated + tl->nsamples, 1000001);
    CHECK(tl->samples_cap <= TL_MAX_SAMPLES);
    bool ordered = true;
    for (size_t i = 1; i < tl->nsamples; i++)
        ordered &= tl->samples[i].mono_ns > tl->samples[i - 1].mono_ns &&
                   tl->samples[i].read_ops >= tl->samples[i - 1].read_ops;
    CHECK(ordered);
    CHECK_U64(tl->samples[tl->nsamples - 1].read_ops, 1000000);
    CHECK_U64(tl->samples[0].mono_ns, 0);
    timeline_free(tl);

    /* the exact totals at the end lower earlier samples that counted more */
    tl = timeline_new(0.1, 0);
    for (uint64_t i = 0; i < 5; i++) {
        s.mono_ns = i * 100000000ull;
        s.read_ops = i * 10;
        s.read_bytes = i * 1000;
        timeline_add_sample(tl, &s);
    }
    timeline_set_final_io(tl, (uint64_t[4]){35, 0, 4500, 0});
    CHECK_U64(tl->samples[4].read_ops, 35);
    CHECK_U64(tl->samples[3].read_ops, 30);
    CHECK_U64(tl->samples[4].read_bytes, 4500);
    CHECK_U64(tl->samples[3].read_bytes, 3000);
    CHECK_U64(tl->samples[4].write_ops, 0);
    timeline_set_final_io(tl, (uint64_t[4]){25, 0, 2500, 0});
    CHECK_U64(tl->samples[3].read_ops, 25);
    CHECK_U64(tl->samples[2].read_ops, 20);
    CHECK_U64(tl->samples[2].read_bytes, 2000);
    CHECK_U64(tl->samples[3].read_bytes, 2500);
    timeline_free(tl);

    /* 6,000 samples (10 minutes at 0.1 s): halved once, exactly */
    tl = timeline_new(0.1, 0);
    for (uint64_t i = 0; i < 6000; i++) {
        s.mono_ns = i * 100000000ull;
        timeline_add_sample(tl, &s);
    }
    CHECK_INT(tl->stride, 2);
    CHECK_INT(tl->nsamples, 3000);
    CHECK_U64(tl->decimated, 3000);
    timeline_free(tl);
}

/* The demo's shape through timeline_analyse and the JSON section. */
static void test_json(void)
{
    struct timeline *tl = timeline_new(0.1, 1000.0);
    static const int levels[7] = {3, 8, 16, 22, 17, 9, 3};
    uint64_t k = 0;
    for (int st = 0; st < 7; st++) {
        int n = st == 6 ? 3 : 10;
        char msg[32];
        snprintf(msg, sizeof(msg), "stage %d", st);
        if (st)
            timeline_add_event(tl, 1000.0 + (double)k / 10 - 0.05, 0, TL_SRC_STDOUT, msg,
                               strlen(msg));
        for (int i = 0; i < n; i++, k++) {
            struct tl_sample s = {.mono_ns = k * 100000000ull, .open_fds = levels[st]};
            s.wall = 1000.0 + (double)k / 10;
            s.write_ops = k * 2;
            s.processes = 1;
            for (int q = 0; q < FDK__COUNT; q++)
                s.by_kind[q] = q == FDK_FILE ? levels[st] : 0;
            timeline_add_sample(tl, &s);
        }
    }
    struct tl_params p;
    tl_params_init(&p);
    timeline_analyse(tl, &p, false, 0);
    CHECK_INT(tl->nplateaus, 7);
    CHECK_INT(tl->njumps, 6);
    static const long want[6] = {5, 8, 6, -5, -8, -6};
    for (size_t i = 0; i < 6 && i < tl->njumps; i++) {
        CHECK_INT(tl->jumps[i].rounded, want[i]);
        CHECK_INT(tl->jumps[i].event, (long)i);
        CHECK_NEAR(tl->jumps[i].event_distance, 0);
    }
    struct report r;
    report_init(&r);
    r.timeline = tl;
    json_t *doc = report_to_json(&r);
    json_t *t = json_object_get(doc, "timeline");
    CHECK(json_is_object(t));
    json_t *cols = json_object_get(t, "samples");
    CHECK_INT(json_array_size(json_object_get(cols, "open_fds")), 63);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(cols, "open_fds"), 10)), 8);
    CHECK_NEAR(json_real_value(json_array_get(json_object_get(cols, "write_ops_per_second"), 5)),
               20);
    CHECK_INT(json_array_size(json_object_get(t, "plateaus")), 7);
    json_t *j0 = json_array_get(json_object_get(t, "jumps"), 0);
    CHECK_INT(json_integer_value(json_object_get(j0, "size")), 5);
    CHECK_STR(json_string_value(json_object_get(j0, "event_message")), "stage 1");
    CHECK(json_is_false(json_object_get(json_object_get(t, "leak"), "flagged")));
    /* read back: the same section, the same text */
    struct report back;
    report_init(&back);
    char err[256];
    CHECK_INT(report_from_json(doc, &back, err, sizeof(err)), 0);
    CHECK(back.timeline != NULL);
    if (back.timeline) {
        CHECK_INT(back.timeline->nsamples, 63);
        CHECK_INT(back.timeline->nplateaus, 7);
        CHECK_INT(back.timeline->njumps, 6);
        CHECK_INT(back.timeline->nevents, 6);
        CHECK_INT(back.timeline->jumps[2].rounded, 6);
        CHECK_INT(back.timeline->jumps[2].event, 2);
        CHECK_INT(back.timeline->samples[62].write_ops, 124);
        json_t *again = report_to_json(&back);
        char *a = json_dumps(json_object_get(doc, "timeline"), JSON_SORT_KEYS);
        char *b = json_dumps(json_object_get(again, "timeline"), JSON_SORT_KEYS);
        CHECK_STR(b, a);
        free(a);
        free(b);
        json_decref(again);
    }
    report_release(&back);
    json_decref(doc);
    report_release(&r); /* frees the timeline */
}

int main(void)
{
    test_fdprof_vectors();
    test_synthetic();
    test_fixes();
    test_leak();
    test_events();
    test_store();
    test_json();
    return tap_done("test_timeline");
}
