/* magic_run: one measured magic: backend choice, the window, live progress,
 * the report's completion, --json FILE and the display bundle. */
#include "magics/magic_run.h"
#include "measure/procfs.h"
#include "measure/report_json.h"
#include "measure/timeline.h"
#include "render/render.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/numfmt.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct magic_run {
    const struct meas_backend *backend;
    struct meas_opts mo;
    struct render_opts ro;
    char *json_path;
    bool quiet;
    struct findings_opts alerts;
    pid_t root;
    struct meas_window *win; /* open window, NULL when not measuring */
    struct report report;
    bool ended, began;
    char error[320];
    char display_id[48];
    /* live progress */
    uint64_t t0_ns, next_ns;
    bool shown;
    struct meas_progress last;
    uint64_t last_ns;
    /* processes of the tree at the start (not the user's, if still there at the end) */
    pid_t *before;
    size_t nbefore;
    /* --timeline: samples on their own absolute deadlines, events from the output */
    double tl_interval; /* 0: off */
    struct tl_params tl_params;
    struct timeline *tl;
    struct tl_tree tl_tree;
    uint64_t tl_next_ns;
    struct tl_eventfeed tl_feed[2];
};

#define TREE_MAX 4096

/* The live descendants of root, sorted. */
static size_t tree_now(pid_t root, pid_t *out)
{
    long n = procfs_descendants_live(root, out, TREE_MAX);
    if (n < 0)
        return 0;
    if (n > TREE_MAX)
        n = TREE_MAX;
    for (long i = 1; i < n; i++) /* insertion sort: a handful of processes */
        for (long j = i; j > 0 && out[j - 1] > out[j]; j--) {
            pid_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return (size_t)n;
}

static uint64_t ms_ns(long ms)
{
    return (uint64_t)ms * 1000000u;
}

static const volatile sig_atomic_t *host_interrupts;

void magic_set_interrupts(const volatile sig_atomic_t *counter)
{
    host_interrupts = counter;
}

int magic_run_new(const struct magic *m, struct magic_run **out, char *err, size_t errlen)
{
    char why[256];
    const struct meas_backend *b = meas_backend_get(m->backend, why, sizeof why);
    if (b && !b->window_begin) {
        snprintf(why, sizeof why, "backend '%s' cannot measure a running kernel", b->name);
        b = NULL;
    }
    if (!b && !strcmp(m->backend, "auto"))
        b = meas_backend_get("proc", why, sizeof why);
    if (!b) {
        snprintf(err, errlen, "%s: %s", m->kind == MAGIC_CELL ? "%%iops" : "%iops", why);
        return -ENOTSUP;
    }
    struct magic_run *r = xcalloc(1, sizeof *r);
    r->backend = b;
    meas_opts_init(&r->mo);
    r->mo.give_up_ms = MAGIC_GIVE_UP_MS;
    r->mo.interrupts = host_interrupts;
    if (m->top_files >= 0)
        r->mo.top_files = (size_t)m->top_files;
    if (m->hist_kinds)
        r->mo.hist_kinds = m->hist_kinds;
    render_opts_init(&r->ro);
    r->ro.histograms = m->histograms;
    r->ro.html_image = true;
    r->ro.top_files = r->mo.top_files;
    r->json_path = m->json_path ? xstrdup(m->json_path) : NULL;
    r->quiet = m->quiet;
    r->tl_interval = m->timeline;
    r->tl_params = m->tl_params;
    r->alerts = m->alerts;
    report_init(&r->report);
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t t = clock_mono_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &t, sizeof t);
        memset(rnd + sizeof t, 0, sizeof rnd - sizeof t);
    }
    int o = snprintf(r->display_id, sizeof r->display_id, "iops-");
    for (size_t i = 0; i < sizeof rnd; i++)
        o += snprintf(r->display_id + o, sizeof r->display_id - (size_t)o, "%02x", rnd[i]);
    *out = r;
    return 0;
}

const char *magic_run_backend(const struct magic_run *r)
{
    return r->backend->name;
}

/* ---- --timeline ---- */

static void timeline_sample(struct magic_run *r, bool final)
{
#ifdef __linux__
    struct tl_sample s;
    tl_sample_tree(&r->tl_tree, &s);
    if (r->tl_tree.fast)
        r->tl->fast_count = true;
    if (final)
        timeline_add_final_sample(r->tl, &s);
    else
        timeline_add_sample(r->tl, &s);
#else
    (void)r;
    (void) final;
#endif
}

/* The tree is the engine's process and its descendants; its descriptors
 * include the engine's plumbing, a constant base under the cell's own. */
static void timeline_begin(struct magic_run *r)
{
    r->tl = timeline_new(r->tl_interval, clock_wall_seconds());
    memset(&r->tl_tree, 0, sizeof r->tl_tree);
    r->tl_tree.root = r->root;
    r->tl_tree.include_root = true;
    r->tl_tree.kinds = true;
    r->tl_tree.t0_mono = r->t0_ns;
    tl_eventfeed_init(&r->tl_feed[0], r->tl, TL_SRC_STDOUT);
    tl_eventfeed_init(&r->tl_feed[1], r->tl, TL_SRC_STDERR);
    timeline_add_event(r->tl, r->tl->t0_wall, 0, TL_SRC_START, "cell start", 10);
    timeline_sample(r, false);
    r->tl_next_ns = r->t0_ns + (uint64_t)(r->tl_interval * 1e9);
}

long magic_run_timeline_due_ms(const struct magic_run *r)
{
    if (!r || !r->win || !r->tl)
        return -1;
    uint64_t now = clock_mono_ns();
    if (now >= r->tl_next_ns)
        return 0;
    return (long)((r->tl_next_ns - now + 999999u) / 1000000u);
}

void magic_run_timeline_tick(struct magic_run *r)
{
    if (magic_run_timeline_due_ms(r) != 0)
        return;
    timeline_sample(r, false);
    uint64_t now = clock_mono_ns(), step = (uint64_t)(r->tl_interval * 1e9);
    while (r->tl_next_ns <= now) /* absolute deadlines: missed ones are skipped */
        r->tl_next_ns += step;
}

void magic_run_output(struct magic_run *r, bool is_stderr, const char *data, size_t len)
{
    if (!r || !r->win || !r->tl)
        return;
    struct tl_eventfeed *f = &r->tl_feed[is_stderr ? 1 : 0];
    f->received = (double)(clock_mono_ns() - r->t0_ns) / 1e9;
    tl_eventfeed_feed(f, data, len);
}

/* At the end gate: the last sample, the end marker, the analysis; the
 * timeline joins the report. */
static void timeline_end(struct magic_run *r)
{
    for (int k = 0; k < 2; k++)
        tl_eventfeed_finish(&r->tl_feed[k]);
    timeline_sample(r, true);
    timeline_add_event(r->tl, clock_wall_seconds(), (double)(clock_mono_ns() - r->t0_ns) / 1e9,
                       TL_SRC_END, "cell end", 8);
    const struct report *rep = &r->report;
    timeline_analyse(r->tl, &r->tl_params, rep->detailed,
                     (int64_t)rep->meta_ops[META_OPEN] - (int64_t)rep->meta_ops[META_CLOSE]);
    timeline_free(r->report.timeline);
    r->report.timeline = r->tl;
    r->tl = NULL;
}

int magic_run_begin(struct magic_run *r, const struct magic_plumbing *p, char *err, size_t errlen)
{
    if (r->win || r->ended)
        return -EALREADY;
    r->root = p->root;
    r->mo.nexclude = p->nexclude < MEAS_EXCLUDE_MAX ? p->nexclude : MEAS_EXCLUDE_MAX;
    memcpy(r->mo.exclude, p->exclude, r->mo.nexclude * sizeof *r->mo.exclude);
    r->mo.root_only_tid = p->root_only_tid;
    char why[256] = "";
    int rc = r->backend->window_begin(&p->root, 1, &r->mo, &r->win, why, sizeof why);
    if (rc) {
        r->win = NULL;
        /* the line shown says "nothing was measured" already */
        static const char tail[] = "; nothing was measured";
        size_t wl = strlen(why);
        if (wl >= sizeof tail - 1 && !strcmp(why + wl - (sizeof tail - 1), tail))
            why[wl - (sizeof tail - 1)] = '\0';
        snprintf(r->error, sizeof r->error, "cannot measure with %s: %s", r->backend->name, why);
        snprintf(err, errlen, "%%iops: %s", r->error);
        return rc;
    }
    r->began = true;
    r->t0_ns = r->last_ns = clock_mono_ns();
    r->next_ns = r->t0_ns + ms_ns(MAGIC_PROGRESS_AFTER_MS);
    r->before = xcalloc(TREE_MAX, sizeof *r->before);
    r->nbefore = tree_now(p->root, r->before);
    if (r->tl_interval > 0)
        timeline_begin(r);
    return 0;
}

bool magic_run_measuring(const struct magic_run *r)
{
    return r && r->win;
}

bool magic_run_began(const struct magic_run *r)
{
    return r && r->began;
}

const char *magic_run_error(const struct magic_run *r)
{
    return r->error;
}

void magic_run_unmeasured_line(const struct magic_run *r, bool interrupted, char *out,
                               size_t outlen)
{
    snprintf(out, outlen, "[iopsd: %%iops: nothing was measured%s%s]\n",
             r->error[0] ? ": " : (interrupted ? ": interrupted before the code ran" : ""),
             r->error);
}

long magic_run_progress_due_ms(const struct magic_run *r)
{
    if (!r || !r->win || !r->backend->window_sample || r->quiet)
        return -1;
    uint64_t now = clock_mono_ns();
    if (now >= r->next_ns)
        return 0;
    return (long)((r->next_ns - now + 999999u) / 1000000u);
}

json_t *magic_run_progress(struct magic_run *r, bool *update)
{
    if (magic_run_progress_due_ms(r) != 0)
        return NULL;
    struct meas_progress p;
    memset(&p, 0, sizeof p);
    uint64_t now = clock_mono_ns();
    r->next_ns = now + ms_ns(MAGIC_PROGRESS_EVERY_MS);
    if (r->backend->window_sample(r->win, &p))
        return NULL;
    double dt = (double)(now - r->last_ns) / 1e9;
    uint64_t ops = p.read_ops + p.write_ops, bytes = p.read_bytes + p.write_bytes;
    uint64_t ops0 = r->last.read_ops + r->last.write_ops;
    uint64_t bytes0 = r->last.read_bytes + r->last.write_bytes;
    double iops = dt > 0 && ops >= ops0 ? (double)(ops - ops0) / dt : 0;
    double bps = dt > 0 && bytes >= bytes0 ? (double)(bytes - bytes0) / dt : 0;
    r->last = p;
    r->last_ns = now;

    char c_ops[32], c_r[32], c_w[32], b_all[32], b_rate[32];
    numfmt_count(c_ops, sizeof c_ops, ops);
    numfmt_count(c_r, sizeof c_r, p.read_ops);
    numfmt_count(c_w, sizeof c_w, p.write_ops);
    numfmt_bytes(b_all, sizeof b_all, bytes);
    numfmt_bytes(b_rate, sizeof b_rate, (uint64_t)bps);
    struct buf t = BUF_INIT, h = BUF_INIT;
    buf_printf(&t,
               "iops (%s): running for %.1f s \xc2\xb7 %s ops (%s reads, %s writes) \xc2\xb7 %s "
               "\xc2\xb7 now %.0f IOPS, %s/s",
               r->backend->name, p.elapsed_seconds, c_ops, c_r, c_w, b_all, iops, b_rate);
    buf_printf(&h,
               "<div class=\"iopsd-progress\" style=\"font-family:monospace\">"
               "<b>iops</b> (%s): running for %.1f s &middot; %s ops (%s reads, %s writes) "
               "&middot; %s &middot; now %.0f IOPS, %s/s</div>",
               r->backend->name, p.elapsed_seconds, c_ops, c_r, c_w, b_all, iops, b_rate);
    json_t *data =
        json_pack("{s:s%, s:s%}", "text/plain", t.data, t.len, "text/html", h.data, h.len);
    buf_release(&t);
    buf_release(&h);
    *update = r->shown;
    r->shown = true;
    return data;
}

const char *magic_run_display_id(const struct magic_run *r)
{
    return r->display_id;
}

bool magic_run_progress_shown(const struct magic_run *r)
{
    return r->shown;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

int magic_run_end(struct magic_run *r, const struct magic_framing *f, char *err, size_t errlen)
{
    if (!r->win)
        return r->ended ? -EALREADY : -EINVAL;
    char why[256] = "";
    int rc = r->backend->window_end(r->win, &r->report, why, sizeof why);
    r->win = NULL;
    r->ended = true;
    if (r->tl)
        timeline_end(r);
    /* processes the code started and left running (background jobs) */
    pid_t *now = xcalloc(TREE_MAX, sizeof *now);
    size_t n = tree_now(r->root, now), still = 0;
    for (size_t i = 0, j = 0; i < n; i++) {
        while (j < r->nbefore && r->before[j] < now[i])
            j++;
        if (j == r->nbefore || r->before[j] != now[i])
            still++;
    }
    free(now);
    r->report.still_running = still;
    if (rc) {
        snprintf(err, errlen, "%%iops: measuring with %s failed: %s", r->backend->name, why);
        report_set_error(&r->report, "%s", why);
    }
    if (f && !r->backend->excludes_fds) {
        /* The backend counted the engine's own gate calls with the user's. */
        r->report.read_ops = sub_sat(r->report.read_ops, f->read_ops);
        r->report.read_bytes = sub_sat(r->report.read_bytes, f->read_bytes);
        r->report.write_ops = sub_sat(r->report.write_ops, f->write_ops);
        r->report.write_bytes = sub_sat(r->report.write_bytes, f->write_bytes);
    }
    return rc;
}

int magic_write_file(pid_t root, const char *path, const void *data, size_t len, char *err,
                     size_t errlen)
{
    int dir = AT_FDCWD;
    if (path[0] != '/' && root > 0) {
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/cwd", (int)root);
        dir = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            dir = AT_FDCWD;
    }
    int fd = openat(dir, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : 0;
    if (dir >= 0)
        close(dir);
    for (size_t off = 0; fd >= 0 && !e && off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            e = n < 0 ? errno : EIO;
        else
            off += (size_t)n;
    }
    if (fd >= 0 && close(fd) && !e)
        e = errno;
    if (e) {
        snprintf(err, errlen, "%.200s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int magic_run_finish(struct magic_run *r, const char *code, int exit_status, bool interrupted,
                     json_t **data, json_t **metadata, char *note, size_t notelen)
{
    *data = *metadata = NULL;
    note[0] = '\0';
    struct report *rep = &r->report;
    if (code)
        report_set_code(rep, code);
    rep->exited = true;
    rep->exit_status = exit_status;
    rep->interrupted = interrupted;
    if (!rep->backend[0])
        snprintf(rep->backend, sizeof rep->backend, "%s", r->backend->name);
    findings_compute(rep, &r->alerts);
    int rc = 0;
    if (r->json_path) {
        json_t *doc = report_to_json(rep);
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
        if (!text) {
            snprintf(note, notelen, "%%iops: --json: the report could not be serialized");
            rc = -ENOMEM;
        } else {
            size_t len = strlen(text);
            text[len] = '\n'; /* replaces the NUL: written with its length */
            char why[300];
            rc = magic_write_file(r->root, r->json_path, text, len + 1, why, sizeof why);
            if (rc)
                snprintf(note, notelen, "%%iops: --json %s", why);
            free(text);
        }
    }
    if (r->quiet)
        return rc;
    struct display_bundle b;
    display_bundle_init(&b);
    int brc = render_bundle(rep, &r->ro, &b);
    if (brc == 0)
        brc = display_bundle_to_jupyter(&b, data, metadata);
    display_bundle_release(&b);
    return brc ? brc : rc;
}

void magic_run_free(struct magic_run *r)
{
    if (!r)
        return;
    if (r->win) {
        char err[256];
        magic_run_end(r, NULL, err, sizeof err);
    }
    report_release(&r->report);
    timeline_free(r->tl);
    free(r->before);
    free(r->json_path);
    free(r);
}

const struct report *magic_run_report(const struct magic_run *r)
{
    return &r->report;
}

void magic_summary_line(const struct report *rep, char *out, size_t n)
{
    char ops[32], bytes[32], wall[32];
    uint64_t o = rep->read_ops + rep->write_ops, b = rep->read_bytes + rep->write_bytes;
    numfmt_count(ops, sizeof ops, o);
    numfmt_bytes(bytes, sizeof bytes, b);
    if (rep->wall_seconds < 1)
        snprintf(wall, sizeof wall, "%.1f ms", rep->wall_seconds * 1e3);
    else
        snprintf(wall, sizeof wall, "%.2f s", rep->wall_seconds);
    int len = snprintf(out, n, "iops: %s \xc2\xb7 %s ops \xc2\xb7 %s \xc2\xb7 %.0f IOPS", wall, ops,
                       bytes, rep->wall_seconds > 0 ? (double)o / rep->wall_seconds : 0.0);
    if (rep->nfindings && len > 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, " \xc2\xb7 %s: %s",
                 finding_severity_name(rep->findings[0].severity), rep->findings[0].what);
}

json_t *magic_summary_data(const struct report *rep)
{
    char line[512];
    magic_summary_line(rep, line, sizeof line);
    struct render_opts ro;
    render_opts_init(&ro);
    ro.histograms = false;
    struct buf html = BUF_INIT;
    buf_puts(&html, "<details class=\"iopsd-auto\"><summary style=\"font-family:monospace\">");
    render_html_escape(&html, line);
    buf_puts(&html, "</summary>");
    render_html(rep, &ro, &html);
    buf_puts(&html, "</details>");
    json_t *data = json_pack("{s:s, s:s%}", "text/plain", line, "text/html",
                             html.data ? html.data : "", html.len);
    buf_release(&html);
    return data;
}

json_t *magic_report_data(const struct report *rep, bool histograms, json_t **metadata)
{
    struct render_opts ro;
    render_opts_init(&ro);
    ro.histograms = histograms;
    ro.html_image = true;
    struct display_bundle b;
    display_bundle_init(&b);
    json_t *data = NULL;
    *metadata = NULL;
    if (render_bundle(rep, &ro, &b) == 0 && display_bundle_to_jupyter(&b, &data, metadata)) {
        json_decref(data);
        data = NULL;
    }
    display_bundle_release(&b);
    return data;
}
