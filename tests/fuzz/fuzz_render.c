/* fuzz_render: reports built from the fuzz bytes (any values: NaN and
 * infinite times, counts near 2^64, negative descriptors, unknown kinds,
 * paths with control bytes and broken UTF-8) fed to every renderer: text,
 * HTML, PNG, the display bundle and its Jupyter form. */
#include "render/render.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reader {
    const uint8_t *p;
    size_t n;
};

static uint64_t rd_u64(struct reader *r, unsigned nbytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < nbytes; i++) {
        v = v << 8 | (r->n ? *r->p : 0);
        if (r->n) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

static unsigned rd_u8(struct reader *r)
{
    return (unsigned)rd_u64(r, 1);
}

/* A count: mostly small, sometimes huge. */
static uint64_t rd_count(struct reader *r)
{
    unsigned sel = rd_u8(r);
    return sel < 128 ? sel : sel < 250 ? rd_u64(r, 4) : rd_u64(r, 8);
}

static double rd_double(struct reader *r)
{
    unsigned sel = rd_u8(r);
    if (sel < 200)
        return sel / 100.0;
    if (sel == 200)
        return NAN;
    if (sel == 201)
        return INFINITY;
    if (sel == 202)
        return -1;
    uint64_t bits = rd_u64(r, 8);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* A string of up to 255 bytes (any but NUL). Caller frees. */
static char *rd_str(struct reader *r)
{
    unsigned len = rd_u8(r);
    char *s = malloc(len + 1);
    unsigned o = 0;
    for (unsigned i = 0; i < len && r->n; i++) {
        unsigned c = rd_u8(r);
        s[o++] = (char)(c ? c : 'x');
    }
    s[o] = '\0';
    return s;
}

static void build(struct reader *in, struct report *r, struct render_opts *o)
{
    char *s = rd_str(in);
    snprintf(r->backend, sizeof(r->backend), "%s", s);
    free(s);
    unsigned nargs = rd_u8(in) % 5;
    if (nargs) {
        char *argv[5] = {NULL};
        for (unsigned i = 0; i < nargs; i++)
            argv[i] = rd_str(in);
        report_set_argv(r, argv);
        for (unsigned i = 0; i < nargs; i++)
            free(argv[i]);
    } else if (rd_u8(in) & 1) {
        s = rd_str(in);
        report_set_code(r, s);
        free(s);
    }
    /* Start times stay finite and before 2100: report_to_json casts them to
     * time_t (the text and HTML renderers accept any value). */
    r->start_time = fmod(fabs(rd_double(in)) * 1e9, 4.1e9);
    if (!isfinite(r->start_time))
        r->start_time = 0;
    unsigned flags = rd_u8(in);
    r->exited = flags & 1;
    r->exit_status = (int)(int8_t)rd_u8(in);
    r->term_signal = (int)rd_u8(in) - 10;
    if (flags & 2) {
        s = rd_str(in);
        report_set_error(r, "%s", s);
        free(s);
        r->exec_errno = (int)rd_u8(in);
    }
    r->wall_seconds = rd_double(in);
    r->user_seconds = rd_double(in);
    r->system_seconds = rd_double(in);
    r->processes = rd_count(in);
    r->processes_exact = flags & 4;
    r->still_running = rd_count(in);
    r->read_ops = rd_count(in);
    r->write_ops = rd_count(in);
    r->read_bytes = rd_count(in);
    r->write_bytes = rd_count(in);
    r->has_storage = flags & 8;
    r->storage_read_bytes = rd_count(in);
    r->storage_write_bytes = rd_count(in);
    r->cancelled_write_bytes = rd_count(in);
    r->read_errors = rd_count(in);
    r->write_errors = rd_count(in);
    /* Descriptor counts within int32 (report_to_json subtracts them as longs). */
    r->fds.start = (long)(int32_t)rd_u64(in, 4);
    r->fds.peak = (long)(int32_t)rd_u64(in, 4);
    r->fds.end = (long)(int32_t)rd_u64(in, 4);
    r->fds.sampled = flags & 16;
    r->fds.interval_seconds = rd_double(in);
    unsigned nleaked = rd_u8(in) % 30;
    for (unsigned i = 0; i < nleaked; i++) {
        s = rd_str(in);
        report_add_leaked(r, (pid_t)rd_u64(in, 4), (int)rd_u64(in, 4),
                          (enum fd_kind)(rd_u8(in) % 9), (rd_u8(in) & 1) ? s : NULL);
        free(s);
    }
    r->detailed = flags & 32;
    for (int k = 0; k < FDK__COUNT; k++)
        if (rd_u8(in) & 1)
            r->by_kind[k] =
                (struct io_counts){rd_count(in), rd_count(in), rd_count(in), rd_count(in)};
    r->hist_kinds = rd_u8(in);
    unsigned nb = rd_u8(in) % 70;
    for (unsigned i = 0; i < nb; i++) {
        unsigned b = rd_u8(in) % HIST_SIZE_BUCKETS;
        r->size_hist[b] =
            (struct size_bucket){rd_count(in), rd_count(in), rd_count(in), rd_count(in)};
    }
    r->has_latency = flags & 64;
    nb = rd_u8(in) % 50;
    for (unsigned i = 0; i < nb; i++) {
        unsigned b = rd_u8(in) % HIST_LAT_BUCKETS;
        r->lat_hist[b] = (struct lat_bucket){rd_count(in), rd_count(in)};
    }
    for (int m = 0; m < META__COUNT; m++)
        r->meta_ops[m] = (rd_u8(in) & 3) == 3 ? rd_count(in) : 0;
    unsigned nfiles = rd_u8(in) % 40;
    for (unsigned i = 0; i < nfiles; i++) {
        s = rd_str(in);
        struct file_row *f = report_add_file(r, s, (enum fd_kind)(rd_u8(in) % 9));
        free(s);
        f->opens = rd_count(in);
        f->read_ops = rd_count(in);
        f->write_ops = rd_count(in);
        f->read_bytes = rd_count(in);
        f->write_bytes = rd_count(in);
        f->seeks = rd_count(in);
    }
    r->files_total = rd_count(in);
    r->unseen.io_uring_enter = rd_count(in);
    r->unseen.mmap = rd_count(in);

    unsigned of = rd_u8(in);
    o->histograms = !(of & 1);
    o->html_image = !(of & 2);
    o->top_files = rd_u8(in) % 50;
    o->max_leaked = rd_u8(in) % 50;
    /* Any scale and width are accepted (clamped); big ones only sometimes,
     * so the fuzzer stays fast. */
    o->scale = (of & 4) ? rd_u8(in) : 2;
    o->png_width = (of & 8) ? (unsigned)rd_u64(in, 2) : 800;

    /* An attached window (last, so older seeds keep their meaning): any pid,
     * any duration, an end reason out of range. */
    unsigned at = rd_u8(in);
    if (at & 1) {
        r->attach.on = true;
        r->attach.npids = rd_u8(in) % (REPORT_MAX_ATTACH + 1);
        for (size_t i = 0; i < r->attach.npids; i++)
            r->attach.pids[i] = (pid_t)rd_u64(in, 4);
        r->attach.tree = at & 2;
        r->attach.duration = rd_double(in);
        r->attach.end = (enum attach_end)(rd_u8(in) % 5);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    struct reader in = {data, size};
    struct report r;
    struct render_opts o;
    report_init(&r);
    render_opts_init(&o);
    build(&in, &r, &o);

    struct buf b;
    buf_init(&b, 0);
    if (render_text_opts(&r, &o, &b) || !b.data || b.len != strlen(b.data))
        abort(); /* text must never fail nor contain NUL */
    buf_reset(&b);
    if (render_html(&r, &o, &b))
        abort();
    buf_reset(&b);
    struct render_png_info info;
    int rc = render_png(&r, &o, &b, &info);
    if (rc != 0 && rc != -ENODATA)
        abort();
    if (rc == 0 && (b.len < 8 || memcmp(b.data, "\x89PNG", 4)))
        abort();
    buf_release(&b);

    struct display_bundle db;
    display_bundle_init(&db);
    if (render_bundle(&r, &o, &db))
        abort();
    json_t *d, *m;
    if (display_bundle_to_jupyter(&db, &d, &m) == 0) {
        char *s = json_dumps(d, JSON_COMPACT);
        free(s);
        json_decref(d);
        json_decref(m);
    }
    display_bundle_release(&db);
    report_release(&r);
    return 0;
}
