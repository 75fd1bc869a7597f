/* test_report: bucket arithmetic, the per-file table, and report <-> JSON. */
#include "measure/report.h"
#include "measure/report_json.h"
#include "tests/unit/tap.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static void test_buckets(void)
{
    uint64_t lo, hi;
    CHECK_INT(report_size_bucket(0), 0);
    CHECK_INT(report_size_bucket(1), 1);
    CHECK_INT(report_size_bucket(2), 2);
    CHECK_INT(report_size_bucket(3), 2);
    CHECK_INT(report_size_bucket(4095), 12);
    CHECK_INT(report_size_bucket(4096), 13);
    CHECK_INT(report_size_bucket(8191), 13);
    CHECK_INT(report_size_bucket(UINT64_MAX), 64);
    report_size_bucket_range(0, &lo, &hi);
    CHECK_U64(lo, 0);
    CHECK_U64(hi, 1);
    report_size_bucket_range(13, &lo, &hi);
    CHECK_U64(lo, 4096);
    CHECK_U64(hi, 8192);
    report_size_bucket_range(64, &lo, &hi);
    CHECK_U64(lo, 1ull << 63);
    CHECK_U64(hi, UINT64_MAX);
    CHECK_INT(report_lat_bucket(UINT64_MAX), HIST_LAT_BUCKETS - 1);
    CHECK_INT(report_lat_bucket(1000), 10);
}

static void test_files(void)
{
    struct report r;
    report_init(&r);
    report_add_file(&r, "/small", FDK_FILE)->write_bytes = 10;
    report_add_file(&r, "/big", FDK_FILE)->read_bytes = 1000;
    report_add_file(&r, "/mid", FDK_BLOCKDEV)->read_bytes = 100;
    report_trim_files(&r, 2);
    CHECK_U64(r.nfiles, 2);
    CHECK_U64(r.files_total, 3);
    CHECK_STR(r.files[0].path, "/big");
    CHECK_STR(r.files[1].path, "/mid");
    report_release(&r);
}

/* A report with every section filled, as the tracer would produce it. */
static void fill(struct report *r)
{
    char *argv[] = {"dd", "if=/dev/zero", "of=\xff-not-utf8", NULL};
    report_init(r);
    snprintf(r->backend, sizeof(r->backend), "trace");
    report_set_argv(r, argv);
    r->start_time = 1763740800.25;
    r->exited = true;
    r->exit_status = 3;
    r->wall_seconds = 2.0;
    r->user_seconds = 0.5;
    r->system_seconds = 1.25;
    r->processes = 4;
    r->write_ops = 2560;
    r->write_bytes = 10485760;
    r->read_ops = 1;
    r->has_storage = true;
    r->storage_write_bytes = 10489856;
    r->detailed = true;
    r->by_kind[FDK_FILE].write_ops = 2560;
    r->by_kind[FDK_FILE].write_bytes = 10485760;
    r->by_kind[FDK_PIPE].read_ops = 7;
    r->size_hist[13].write_ops = 2560;
    r->size_hist[13].write_bytes = 10485760;
    r->size_hist[0].read_ops = 1;
    r->has_latency = true;
    r->lat_hist[12].write_ops = 2560;
    r->meta_ops[META_OPEN] = 2;
    r->meta_ops[META_CLOSE] = 1;
    struct file_row *f = report_add_file(r, "/tmp/F", FDK_FILE);
    f->opens = 1;
    f->write_ops = 2560;
    f->write_bytes = 10485760;
    r->fds.start = 3;
    r->fds.peak = 6;
    r->fds.end = 4;
    report_add_leaked(r, 1234, 3, FDK_FILE, "/tmp/leak");
    r->unseen.mmap = 5;
}

static void test_json_roundtrip(void)
{
    struct report a, b;
    char err[256];
    fill(&a);
    json_t *j = report_to_json(&a);
    CHECK_STR(json_string_value(json_object_get(j, "schema")), "iopsd-report/1");
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "command"), 2)),
              "of=\xef\xbf\xbd-not-utf8");
    json_t *io = json_object_get(j, "io");
    CHECK_INT(json_integer_value(json_object_get(io, "write_ops")), 2560);
    CHECK_INT(json_integer_value(json_object_get(io, "write_bytes")), 10485760);
    CHECK(json_real_value(json_object_get(io, "write_iops")) == 1280.0);
    CHECK(json_real_value(json_object_get(io, "iops")) == 1280.5);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "fds"), "delta")), 1);
    json_t *size = json_object_get(json_object_get(j, "histogram"), "size");
    CHECK_U64(json_array_size(size), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(size, 0), "lo")), 0);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(size, 0), "hi")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(size, 1), "lo")), 4096);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(size, 1), "hi")), 8192);
    CHECK_STR(json_string_value(json_object_get(j, "start_time")), "2025-11-21T16:00:00.250000Z");

    report_init(&b);
    CHECK_INT(report_from_json(j, &b, err, sizeof(err)), 0);
    CHECK_U64(b.write_ops, 2560);
    CHECK_U64(b.write_bytes, 10485760);
    CHECK_U64(b.size_hist[13].write_ops, 2560);
    CHECK_U64(b.size_hist[0].read_ops, 1);
    CHECK_U64(b.lat_hist[12].write_ops, 2560);
    CHECK_U64(b.by_kind[FDK_PIPE].read_ops, 7);
    CHECK_U64(b.meta_ops[META_OPEN], 2);
    CHECK_U64(b.nfiles, 1);
    CHECK_STR(b.files[0].path, "/tmp/F");
    CHECK_U64(b.fds.nleaked, 1);
    CHECK_STR(b.fds.leaked[0].path, "/tmp/leak");
    CHECK_INT(b.fds.leaked[0].pid, 1234);
    CHECK_INT(b.exit_status, 3);
    CHECK(b.start_time == a.start_time);
    CHECK_U64(b.unseen.mmap, 5);

    /* Serialising the parsed report gives the same document. */
    json_t *j2 = report_to_json(&b);
    CHECK(json_equal(j, j2));
    json_decref(j2);
    json_decref(j);
    report_release(&a);
    report_release(&b);
}

/* The per-process table: two rows, one killed and one still running. */
static void test_json_procs(void)
{
    struct report a, b;
    char err[256];
    report_init(&a);
    snprintf(a.backend, sizeof(a.backend), "proc");
    json_t *j = report_to_json(&a);
    CHECK(json_object_get(j, "per_process") == NULL); /* not filled: absent */
    json_decref(j);
    struct proc_row *p = report_add_proc(&a, 4242, 4241, "iowork write A 4096 300");
    p->start = 0.25;
    p->end = 0.5;
    p->exited = true;
    p->exit_status = 2;
    p->write_ops = 300;
    p->write_bytes = 1228800;
    p->has_cpu = true;
    p->user_seconds = 0.125;
    p->system_seconds = 0.0625;
    p = report_add_proc(&a, 4243, 4242, NULL);
    p->term_signal = 9;
    p->read_ops = 7;
    p->read_bytes = 28672;
    a.procs_inclusive = true;
    CHECK_U64(proc_row_bytes(&a.procs[0]), 1228800);
    p->read_bytes = UINT64_MAX;
    p->write_bytes = 1;
    CHECK_U64(proc_row_bytes(p), UINT64_MAX); /* saturates */
    p->read_bytes = 28672;
    p->write_bytes = 0;

    j = report_to_json(&a);
    json_t *pp = json_object_get(j, "per_process");
    CHECK(json_is_true(json_object_get(pp, "includes_reaped_children")));
    CHECK_INT(json_integer_value(json_object_get(pp, "dropped")), 0);
    json_t *rows = json_object_get(pp, "rows");
    CHECK_U64(json_array_size(rows), 2);
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    CHECK_INT(json_integer_value(json_object_get(r0, "pid")), 4242);
    CHECK_INT(json_integer_value(json_object_get(r0, "ppid")), 4241);
    CHECK_STR(json_string_value(json_object_get(r0, "command")), "iowork write A 4096 300");
    CHECK(json_real_value(json_object_get(r0, "start")) == 0.25);
    CHECK(json_real_value(json_object_get(r0, "end")) == 0.5);
    CHECK_INT(json_integer_value(json_object_get(r0, "exit_status")), 2);
    CHECK(json_object_get(r0, "signal") == NULL);
    CHECK_INT(json_integer_value(json_object_get(r0, "write_ops")), 300);
    CHECK_INT(json_integer_value(json_object_get(r0, "write_bytes")), 1228800);
    CHECK(json_real_value(json_object_get(r0, "user_seconds")) == 0.125);
    CHECK(json_real_value(json_object_get(r0, "system_seconds")) == 0.0625);
    CHECK(json_is_null(json_object_get(r1, "command")));
    CHECK(json_is_null(json_object_get(r1, "end")));
    CHECK(json_is_null(json_object_get(r1, "user_seconds")));
    CHECK(json_object_get(r1, "exit_status") == NULL);
    CHECK_INT(json_integer_value(json_object_get(r1, "signal")), 9);
    CHECK_INT(json_integer_value(json_object_get(r1, "read_ops")), 7);
    CHECK_INT(json_integer_value(json_object_get(r1, "read_bytes")), 28672);

    report_init(&b);
    CHECK_INT(report_from_json(j, &b, err, sizeof(err)), 0);
    CHECK(b.has_procs);
    CHECK(b.procs_inclusive);
    CHECK_U64(b.nprocs, 2);
    CHECK_INT(b.procs[0].pid, 4242);
    CHECK_U64(b.procs[0].write_bytes, 1228800);
    CHECK(b.procs[0].has_cpu);
    CHECK(b.procs[1].end < 0);
    CHECK(!b.procs[1].has_cpu);
    CHECK_INT(b.procs[1].term_signal, 9);
    json_t *j2 = report_to_json(&b);
    CHECK(json_equal(j, j2));
    json_decref(j2);
    json_decref(j);
    report_release(&b);

    /* Beyond the cap rows are counted, not kept. */
    report_release(&a);
    report_init(&a);
    for (int i = 0; i < REPORT_MAX_PROCS + 3; i++)
        report_add_proc(&a, i + 1, 0, NULL);
    CHECK_U64(a.nprocs, REPORT_MAX_PROCS);
    CHECK_U64(a.procs_dropped, 3);
    report_release(&a);
}

static void test_json_errors(void)
{
    struct report r;
    char err[256];
    const char *bad[] = {
        "[]",
        "{}",
        "{\"schema\":\"other/1\"}",
        "{\"schema\":\"iopsd-report/1\",\"io\":{\"read_ops\":-1}}",
        "{\"schema\":\"iopsd-report/1\",\"io\":{\"read_ops\":\"7\"}}",
        "{\"schema\":\"iopsd-report/1\",\"histogram\":{\"size\":[{\"lo\":3}]}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        report_init(&r);
        err[0] = '\0';
        CHECK(report_from_json(j, &r, err, sizeof(err)) < 0);
        CHECK(strncmp(err, "report JSON: ", 13) == 0);
        report_release(&r);
        json_decref(j);
    }
}

static void test_json_absurd(void)
{
    struct report r;
    report_init(&r);
    r.fds.start = LONG_MIN;
    r.fds.end = LONG_MAX;
    r.start_time = 1e300;
    r.wall_seconds = 0;
    r.read_ops = UINT64_MAX;
    json_t *j = report_to_json(&r);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "fds"), "delta")), INT64_MAX);
    CHECK(json_is_null(json_object_get(j, "start_time")));
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "io"), "read_ops")), INT64_MAX);
    CHECK(json_real_value(json_object_get(json_object_get(j, "io"), "iops")) == 0.0);
    json_decref(j);
    report_release(&r);
}

/* An attached window (iopsd measure --pid): what, how long, why it ended;
 * read back, a hostile "attach" is capped and checked. */
static void test_json_attach(void)
{
    struct report a, b;
    char err[256];
    report_init(&a);
    a.attach.on = true;
    a.attach.pids[0] = 4242;
    a.attach.pids[1] = 77;
    a.attach.npids = 2;
    a.attach.tree = false;
    a.attach.duration = 2.5;
    a.attach.end = ATTACH_END_INTERRUPTED;
    json_t *j = report_to_json(&a);
    char *s = json_dumps(json_object_get(j, "attach"), JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_STR(s, "{\"duration\":2.5,\"ended_by\":\"interrupted\",\"pids\":[4242,77],"
                 "\"tree\":false}");
    free(s);
    report_init(&b);
    CHECK_INT(report_from_json(j, &b, err, sizeof(err)), 0);
    CHECK(b.attach.on);
    CHECK_U64(b.attach.npids, 2);
    CHECK_INT(b.attach.pids[1], 77);
    CHECK(!b.attach.tree);
    CHECK(b.attach.duration == 2.5);
    CHECK_INT(b.attach.end, ATTACH_END_INTERRUPTED);
    json_t *j2 = report_to_json(&b);
    CHECK(json_equal(j, j2));
    json_decref(j2);
    json_decref(j);
    report_release(&a);
    report_release(&b);

    /* 100 pids, bad ones among them, an unknown end, no duration */
    json_t *doc = json_loads("{\"schema\":\"iopsd-report/1\",\"attach\":{\"pids\":[-1,\"x\","
                             "99999999999],\"ended_by\":\"bored\",\"duration\":null}}",
                             0, NULL);
    json_t *pids = json_object_get(json_object_get(doc, "attach"), "pids");
    for (int i = 0; i < 100; i++)
        json_array_append_new(pids, json_integer(1000 + i));
    report_init(&b);
    CHECK_INT(report_from_json(doc, &b, err, sizeof(err)), 0);
    CHECK(b.attach.on);
    CHECK_U64(b.attach.npids, REPORT_MAX_ATTACH - 3); /* the first 64 entries, 3 of them bad */
    CHECK_INT(b.attach.pids[0], 1000);
    CHECK_INT(b.attach.end, ATTACH_END_DURATION);
    CHECK(b.attach.duration == 0);
    json_decref(doc);
    report_release(&b);
}

int main(void)
{
    test_json_attach();
    test_json_absurd();
    test_buckets();
    test_files();
    test_json_roundtrip();
    test_json_procs();
    test_json_errors();
    return tap_done("test_report");
}
