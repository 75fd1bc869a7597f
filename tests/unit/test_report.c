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

int main(void)
{
    test_json_absurd();
    test_buckets();
    test_files();
    test_json_roundtrip();
    test_json_errors();
    return tap_done("test_report");
}
