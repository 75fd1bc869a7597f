/* kernel_iops: %iops across cells, for every engine: `auto on|off` (every
 * cell measured with proc, a one-line summary under it), `start` / `pause` /
 * `resume` / `status` / `stop` (one measurement spanning cells: the sum of
 * the cells measured while it runs, so that it costs nothing between them),
 * and `history` (the session's measured cells, exportable). */
#include "server/kernel_iops.h"
#include "magics/magic_run.h"
#include "measure/report_json.h"
#include "render/render.h"
#include "util/buf.h"
#include "util/numfmt.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows kept by `history`; older ones are dropped. */
#define KIOPS_ROWS_MAX 10000

bool kiops_plain_cell(struct kiops *s, struct magic *m, bool *auto_cell, bool *span_only)
{
    bool span = s->span_on && !s->span_paused;
    *auto_cell = *span_only = false;
    if (!s->auto_on && !span)
        return false;
    magic_init(m);
    m->kind = MAGIC_CELL;
    if (span) {
        snprintf(m->backend, sizeof m->backend, "%s", s->span_opts.backend);
        m->histograms = s->span_opts.histograms;
        m->top_files = s->span_opts.top_files;
        m->hist_kinds = s->span_opts.hist_kinds;
        m->alerts = s->span_opts.alerts;
    } else {
        snprintf(m->backend, sizeof m->backend, "proc"); /* near-zero cost per cell */
    }
    *auto_cell = s->auto_on;
    *span_only = !s->auto_on;
    m->quiet = true; /* the kernel shows the summary (auto) or nothing (span) */
    return true;
}

void kiops_measured(struct kiops *s, int count, const char *code, const struct report *rep)
{
    if (s->nrows == KIOPS_ROWS_MAX) {
        free(s->rows[0].first_line);
        free(s->rows[0].finding);
        memmove(s->rows, s->rows + 1, (s->nrows - 1) * sizeof *s->rows);
        s->nrows--;
    }
    s->rows = xgrow(s->rows, &s->rows_cap, s->nrows + 1, sizeof *s->rows);
    struct kiops_row *row = &s->rows[s->nrows++];
    size_t len = strcspn(code, "\n");
    row->count = count;
    row->first_line = xstrndup(code, len > 120 ? 120 : len);
    row->wall = rep->wall_seconds;
    row->ops = rep->read_ops + rep->write_ops;
    row->bytes = rep->read_bytes + rep->write_bytes;
    row->finding = rep->nfindings ? xstrdup(rep->findings[0].rule) : NULL;
    if (s->span_on && !s->span_paused) {
        report_merge(&s->span, rep);
        s->span_cells++;
    }
}

/* The span's report as it stands, with its findings. */
static json_t *span_data(struct kiops *s, json_t **meta)
{
    findings_compute(&s->span, &s->span_opts.alerts);
    char code[64];
    snprintf(code, sizeof code, "%zu cell%s measured with %%iops start", s->span_cells,
             s->span_cells == 1 ? "" : "s");
    report_set_code(&s->span, code);
    return magic_report_data(&s->span, s->span_opts.histograms, meta);
}

static void csv_field(struct buf *b, const char *s)
{
    buf_puts(b, "\"");
    for (; s && *s; s++)
        buf_append(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    buf_puts(b, "\"");
}

static int history(struct kiops *s, const struct kiops_out *out, const struct magic *m, char *err,
                   size_t errlen)
{
    if (m->history_path) {
        struct buf file = BUF_INIT;
        if (m->history_csv) {
            buf_puts(&file, "execution_count,code,wall_seconds,ops,bytes,iops,finding\n");
            for (size_t i = 0; i < s->nrows; i++) {
                const struct kiops_row *r = &s->rows[i];
                buf_printf(&file, "%d,", r->count);
                csv_field(&file, r->first_line);
                buf_printf(&file, ",%.6f,%llu,%llu,%.3f,", r->wall, (unsigned long long)r->ops,
                           (unsigned long long)r->bytes,
                           r->wall > 0 ? (double)r->ops / r->wall : 0.0);
                csv_field(&file, r->finding ? r->finding : "");
                buf_puts(&file, "\n");
            }
        } else {
            json_t *a = json_array();
            for (size_t i = 0; i < s->nrows; i++) {
                const struct kiops_row *r = &s->rows[i];
                json_array_append_new(
                    a,
                    json_pack("{s:i, s:s, s:f, s:I, s:I, s:f, s:s?}", "execution_count", r->count,
                              "code", r->first_line, "wall_seconds", r->wall, "ops",
                              (json_int_t)r->ops, "bytes", (json_int_t)r->bytes, "iops",
                              r->wall > 0 ? (double)r->ops / r->wall : 0.0, "finding", r->finding));
            }
            char *t = json_dumps(a, JSON_INDENT(2));
            json_decref(a);
            buf_puts(&file, t ? t : "[]");
            buf_puts(&file, "\n");
            free(t);
        }
        char why[300];
        int rc = magic_write_file(out->root, m->history_path, file.data ? file.data : "", file.len,
                                  why, sizeof why);
        if (rc)
            snprintf(err, errlen, "%%iops history: %s", why);
        buf_release(&file);
        if (rc)
            return rc;
    }
    struct buf t = BUF_INIT, h = BUF_INIT;
    buf_printf(&t, "%%iops history: %zu measured cell%s\n", s->nrows, s->nrows == 1 ? "" : "s");
    buf_puts(&h, "<table class=\"iopsd-history\"><thead><tr><th>#</th><th>code</th><th>time</th>"
                 "<th>ops</th><th>bytes</th><th>IOPS</th><th>finding</th></tr></thead><tbody>");
    for (size_t i = 0; i < s->nrows; i++) {
        const struct kiops_row *r = &s->rows[i];
        char ops[32], bytes[32];
        numfmt_count(ops, sizeof ops, r->ops);
        numfmt_bytes(bytes, sizeof bytes, r->bytes);
        double iops = r->wall > 0 ? (double)r->ops / r->wall : 0;
        buf_printf(&t, "  [%d] %-40.40s %9.3f s %12s ops %12s %10.0f IOPS  %s\n", r->count,
                   r->first_line, r->wall, ops, bytes, iops, r->finding ? r->finding : "");
        buf_printf(&h, "<tr><td>%d</td><td style=\"text-align:left\"><code>", r->count);
        render_html_escape(&h, r->first_line);
        buf_printf(&h, "</code></td><td>%.3f s</td><td>%s</td><td>%s</td><td>%.0f</td><td>",
                   r->wall, ops, bytes, iops);
        render_html_escape(&h, r->finding ? r->finding : "");
        buf_puts(&h, "</td></tr>");
    }
    buf_puts(&h, "</tbody></table>");
    out->display(out->ctx, json_pack("{s:{s:s%, s:s%}, s:{}, s:{}}", "data", "text/plain",
                                     t.data ? t.data : "", t.len, "text/html", h.data ? h.data : "",
                                     h.len, "metadata", "transient"));
    buf_release(&t);
    buf_release(&h);
    return 0;
}

int kiops_control(struct kiops *s, const struct kiops_out *out, const struct magic *m, char *err,
                  size_t errlen)
{
    json_t *data, *meta = NULL;
    switch (m->control) {
    case MC_AUTO_ON:
    case MC_AUTO_OFF:
        s->auto_on = m->control == MC_AUTO_ON;
        out->stream(out->ctx, s->auto_on ? "%iops auto: on (every cell measured with proc)\n"
                                         : "%iops auto: off\n");
        return 0;
    case MC_START:
        if (s->span_on) {
            snprintf(err, errlen, "%%iops start: a measurement is running (%%iops stop ends it)");
            return -1;
        }
        report_release(&s->span);
        magic_release(&s->span_opts);
        s->span_opts = *m;
        s->span_opts.before = s->span_opts.measured = s->span_opts.after = NULL;
        s->span_opts.json_path = s->span_opts.history_path = NULL;
        s->span_on = true;
        s->span_paused = false;
        s->span_cells = 0;
        out->stream(out->ctx,
                    "%iops start: measuring the following cells (status, pause, resume, stop)\n");
        return 0;
    case MC_PAUSE:
    case MC_RESUME:
        if (!s->span_on) {
            snprintf(err, errlen, "%%iops %s: nothing was started (%%iops start)",
                     m->control == MC_PAUSE ? "pause" : "resume");
            return -1;
        }
        s->span_paused = m->control == MC_PAUSE;
        out->stream(out->ctx, s->span_paused ? "%iops: paused\n" : "%iops: measuring again\n");
        return 0;
    case MC_STATUS:
    case MC_STOP:
        if (!s->span_on) {
            snprintf(err, errlen, "%%iops %s: nothing was started (%%iops start)",
                     m->control == MC_STATUS ? "status" : "stop");
            return -1;
        }
        data = span_data(s, &meta);
        if (data)
            out->display(out->ctx, json_pack("{s:o, s:o, s:{}}", "data", data, "metadata",
                                             meta ? meta : json_object(), "transient"));
        if (m->control == MC_STOP) {
            s->span_on = false;
            report_release(&s->span);
            magic_release(&s->span_opts);
        }
        return 0;
    case MC_HISTORY:
        return history(s, out, m, err, errlen);
    }
    return 0;
}

void kiops_release(struct kiops *s)
{
    for (size_t i = 0; i < s->nrows; i++) {
        free(s->rows[i].first_line);
        free(s->rows[i].finding);
    }
    free(s->rows);
    report_release(&s->span);
    magic_release(&s->span_opts);
    memset(s, 0, sizeof *s);
}
