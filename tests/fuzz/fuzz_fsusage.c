/* fuzz_fsusage: the fs_usage line parser, the line splitter and the
 * aggregator on any bytes. The parser must keep every slice inside the line;
 * the aggregator must survive any sequence of lines and produce a report. */
#include "measure/fsusage.h"
#include "measure/report_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_slice(struct fsu_str s, const char *base, size_t size)
{
    if (s.n && (s.p < base || s.p + s.n > base + size))
        abort();
}

static void one_line(void *ctx, const char *line, size_t len)
{
    /* an exact-size copy, so that reading past the end is caught */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, line, len);
    struct fsu_event ev;
    if (fsu_parse_line(copy, len, &ev) == 0) {
        check_slice(ev.path, copy, len);
        check_slice(ev.proc, copy, len);
        check_slice(ev.dev, copy, len);
        check_slice(ev.raw_call, copy, len);
        if (ev.proc.n == 0 || ev.raw_call.n == 0 || ev.ts_us >= 86401ull * 1000000ull)
            abort();
        if (strlen(ev.call) >= FSU_CALL_MAX || strlen(ev.mode) >= sizeof(ev.mode))
            abort();
        if (ev.cls == FSU_META && (unsigned)ev.meta >= META__COUNT)
            abort();
    }
    fsu_agg_line(ctx, copy, len);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsu_agg_opts o = {NULL, 3, 0};
    if (size && data[0] == '!')
        o.process = "p"; /* exercise the filter too */
    struct fsu_agg *a = fsu_agg_new(&o);
    struct fsu_lines l;
    fsu_lines_init(&l);
    /* push in two pieces to exercise the partial-line buffer */
    size_t half = size / 2;
    fsu_lines_push(&l, (const char *)data, half, one_line, a);
    fsu_lines_push(&l, (const char *)data + half, size - half, one_line, a);
    fsu_lines_finish(&l, one_line, a);
    fsu_agg_count_too_long(a, l.too_long);
    fsu_lines_release(&l);

    struct report r;
    report_init(&r);
    fsu_agg_report(a, &r);
    const struct fsu_stats *st = fsu_agg_stats(a);
    if (st->used + st->malformed + st->other_process + st->unknown_calls != st->lines)
        abort();
    if (r.nfiles > 3)
        abort();
    char *json = report_to_json_text(&r);
    if (!json)
        abort();
    free(json);
    report_release(&r);
    fsu_agg_free(a);
    return 0;
}
