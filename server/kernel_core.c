/* kernel_core: the protocol logic of the native bash kernel: the dispatch
 * table, busy/idle around every request, execute (execution_count, silent,
 * store_history, stop_on_error, stdin), the other requests, the in-memory
 * history. Errors become Jupyter error replies in one place: reply_error(). */
#include "server/kernel.h"
#include "protocol/zmtp_oversize.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "version.h"

#include <errno.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERNAME "iopsd"
/* This kernel's history has one session; 0 means "the current one" too. */
#define HIST_SESSION 1

/* What a handler reports back to the dispatcher. */
enum { KCORE_REPLY = 0, KCORE_ASYNC = 1, KCORE_NOREPLY = 2 };

struct kerror {
    char ename[64];
    char evalue[512];
};

static void kerror_set(struct kerror *e, const char *ename, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kerror_set(struct kerror *e, const char *ename, const char *fmt, ...)
{
    va_list ap;
    snprintf(e->ename, sizeof e->ename, "%s", ename);
    va_start(ap, fmt);
    vsnprintf(e->evalue, sizeof e->evalue, fmt, ap);
    va_end(ap);
}

/* ---- sending ---- */

static void publish(struct kernel *k, const struct jmsg *parent, const char *type, json_t *content)
{
    struct jmsg m;
    jmsg_init(&m);
    jmsg_build(&m, type, k->session, USERNAME, parent, content, NULL);
    /* The topic frame, as ipykernel writes it; clients subscribe to "". */
    char topic[128];
    int n = snprintf(topic, sizeof topic, "kernel.%s.%s", k->session, type);
    m.idents = xcalloc(1, sizeof *m.idents);
    m.idents[0].data = (unsigned char *)xstrndup(topic, (size_t)n);
    m.idents[0].len = strlen((char *)m.idents[0].data);
    m.nidents = 1;
    kernel_publish(k, &m);
    jmsg_release(&m);
}

void kcore_publish(struct kernel *k, const struct jmsg *parent, const char *type, json_t *content)
{
    publish(k, parent, type, content);
}

static void status(struct kernel *k, const struct jmsg *parent, const char *state)
{
    publish(k, parent, "status", json_pack("{s:s}", "execution_state", state));
}

void kcore_starting(struct kernel *k)
{
    status(k, NULL, "starting");
}

/* Sends a reply to req on ch; content is stolen and gets status "ok" unless set. */
static void reply(struct kernel *k, enum kchan ch, const struct jmsg *req, const char *type,
                  json_t *content)
{
    if (!json_object_get(content, "status"))
        json_object_set_new(content, "status", json_string("ok"));
    struct jmsg m;
    jmsg_init(&m);
    jmsg_build(&m, type, k->session, USERNAME, req, content, req);
    kernel_send(k, ch, &m);
    jmsg_release(&m);
}

/* "execute_request" -> "execute_reply". */
static void reply_type(const char *req_type, char *out, size_t outlen)
{
    size_t n = strlen(req_type);
    if (n > 8 && !strcmp(req_type + n - 8, "_request"))
        snprintf(out, outlen, "%.*s_reply", (int)(n - 8), req_type);
    else
        snprintf(out, outlen, "%s_reply", req_type);
}

/* The one place errors become Jupyter error replies. With `to_iopub` the
 * error is also published as an `error` message; execution_count >= 0 adds
 * it to the reply (execute replies). */
static void reply_error(struct kernel *k, enum kchan ch, const struct jmsg *req,
                        const struct kerror *e, bool to_iopub, int execution_count)
{
    char type[96];
    reply_type(jmsg_type(req), type, sizeof type);
    json_t *tb = json_pack("[s]", e->evalue);
    if (to_iopub)
        publish(
            k, req, "error",
            json_pack("{s:s, s:s, s:O}", "ename", e->ename, "evalue", e->evalue, "traceback", tb));
    json_t *content = json_pack("{s:s, s:s, s:s, s:o}", "status", "error", "ename", e->ename,
                                "evalue", e->evalue, "traceback", tb);
    if (execution_count >= 0) {
        json_object_set_new(content, "execution_count", json_integer(execution_count));
        json_object_set_new(content, "user_expressions", json_object());
        json_object_set_new(content, "payload", json_array());
    }
    reply(k, ch, req, type, content);
}

/* ---- history ---- */

/* The in-memory history is bounded: past either limit the oldest tenth of
 * the entries goes at once (a session of 10,000 cells, or of a few huge ones,
 * must not grow the kernel without end). */
#define HIST_MAX_ENTRIES 10000
#define HIST_MAX_BYTES   (16u << 20)

static void hist_drop_oldest(struct kernel *k, size_t n)
{
    if (n > k->nhist)
        n = k->nhist;
    for (size_t i = 0; i < n; i++) {
        k->hist_bytes -= strlen(k->hist[i].code) + 1;
        free(k->hist[i].code);
    }
    memmove(k->hist, k->hist + n, (k->nhist - n) * sizeof *k->hist);
    k->nhist -= n;
}

static void hist_add(struct kernel *k, int line, const char *code)
{
    size_t len = strlen(code) + 1;
    if (len > HIST_MAX_BYTES)
        return; /* a cell larger than the whole history is not kept */
    while (k->nhist && (k->nhist >= HIST_MAX_ENTRIES || k->hist_bytes + len > HIST_MAX_BYTES))
        hist_drop_oldest(k, k->nhist / 10 ? k->nhist / 10 : 1);
    k->hist = xgrow(k->hist, &k->histcap, k->nhist + 1, sizeof *k->hist);
    k->hist[k->nhist].line = line;
    k->hist[k->nhist].code = xstrdup(code);
    k->nhist++;
    k->hist_bytes += len;
}

static json_t *hist_entry(const struct khist *h, bool output)
{
    if (output)
        return json_pack("[i, i, [s, n]]", HIST_SESSION, h->line, h->code);
    return json_pack("[i, i, s]", HIST_SESSION, h->line, h->code);
}

static int json_int(json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static bool json_flag(json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int on_history(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                      struct kerror *e)
{
    json_t *c = req->content;
    const char *access = json_string_value(json_object_get(c, "hist_access_type"));
    bool output = json_flag(c, "output", false);
    json_t *list = json_array();
    if (!access || !strcmp(access, "tail")) {
        int n = json_int(c, "n", 10);
        size_t from = n >= 0 && (size_t)n < k->nhist ? k->nhist - (size_t)n : 0;
        for (size_t i = from; i < k->nhist; i++)
            json_array_append_new(list, hist_entry(&k->hist[i], output));
    } else if (!strcmp(access, "range")) {
        int session = json_int(c, "session", 0);
        int start = json_int(c, "start", 1), stop = json_int(c, "stop", 0);
        if (session == 0 || session == HIST_SESSION)
            for (size_t i = 0; i < k->nhist; i++) {
                int line = k->hist[i].line;
                if (line >= start && (stop <= 0 || line < stop))
                    json_array_append_new(list, hist_entry(&k->hist[i], output));
            }
    } else if (!strcmp(access, "search")) {
        const char *pattern = json_string_value(json_object_get(c, "pattern"));
        int n = json_int(c, "n", -1);
        bool unique = json_flag(c, "unique", false);
        /* Newest first, then reversed, so that n keeps the latest matches. */
        json_t *rev = json_array();
        for (size_t i = k->nhist; i-- > 0;) {
            if (n >= 0 && json_array_size(rev) >= (size_t)n)
                break;
            const char *code = k->hist[i].code;
            if (pattern && fnmatch(pattern, code, 0) != 0)
                continue;
            bool dup = false;
            for (size_t j = i + 1; unique && !dup && j < k->nhist; j++)
                dup = !strcmp(k->hist[j].code, code) &&
                      (!pattern || fnmatch(pattern, k->hist[j].code, 0) == 0);
            if (!dup)
                json_array_append_new(rev, hist_entry(&k->hist[i], output));
        }
        for (size_t i = json_array_size(rev); i-- > 0;)
            json_array_append(list, json_array_get(rev, i));
        json_decref(rev);
    } else {
        json_decref(list);
        kerror_set(e, "BadRequest", "unknown hist_access_type '%s'", access);
        return -EINVAL;
    }
    *out = json_pack("{s:o}", "history", list);
    return KCORE_REPLY;
}

/* ---- requests ---- */

static int on_kernel_info(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                          struct kerror *e)
{
    *out = json_pack("{s:s, s:s, s:s, s:b}", "protocol_version", JMSG_PROTOCOL_VERSION,
                     "implementation", "iopsd", "implementation_version", IOPSD_VERSION, "debugger",
                     0);
    json_t *info = k->engine->ops->kernel_info(k->engine);
    json_object_update(*out, info);
    json_decref(info);
    return KCORE_REPLY;
}

static int ensure_engine(struct kernel *k, struct kerror *e)
{
    char err[256];
    if (kernel_ensure_engine(k, err, sizeof err)) {
        kerror_set(e, "KernelError", "cannot start %s: %s", k->engine->ops->name, err);
        return -EIO;
    }
    return 0;
}

/* ---- magic cells ---- */

static void cell_parts_release(struct kcell *cell)
{
    for (int i = 0; i < cell->nparts; i++)
        free(cell->parts[i]);
    magic_release(&cell->control);
    cell->control_part = -1;
    cell->auto_cell = cell->span_only = false;
    cell->nparts = cell->part = 0;
    cell->measured_part = -1;
    magic_run_free(cell->run);
    cell->run = NULL;
    free(cell->measured_code);
    cell->measured_code = NULL;
    cell->report_shown = false;
}

/* The engine's window hooks: the magic layer measures. */
static int win_begin(void *ctx, const struct magic_plumbing *p)
{
    struct kernel *k = ctx;
    char err[320];
    if (!k->cell.run)
        return -EINVAL;
    int rc = magic_run_begin(k->cell.run, p, err, sizeof err);
    if (rc)
        fprintf(stderr, "iopsd kernel: %s\n", err);
    return rc;
}

static void win_end(void *ctx, const struct magic_framing *f)
{
    struct kernel *k = ctx;
    char err[320];
    if (k->cell.run && magic_run_measuring(k->cell.run) &&
        magic_run_end(k->cell.run, f, err, sizeof err))
        fprintf(stderr, "iopsd kernel: %s\n", err);
}

/* A control line's output: on iopub, the cell as parent. */
struct kiops_to {
    struct kernel *k;
    const struct jmsg *parent;
};

static void kiops_stream(void *ctx, const char *text)
{
    struct kiops_to *t = ctx;
    kcore_stream(t->k, t->parent, "stdout", text);
}

static void kiops_display(void *ctx, json_t *content)
{
    struct kiops_to *t = ctx;
    kcore_publish(t->k, t->parent, "display_data", content);
}

/* Starts the current part of the cell: a control line runs at once, then
 * the next part. Returns 0 (a part runs: its DONE comes later), 1 (nothing
 * left to run), or -errno with e set (a failing control line fails the cell). */
static int run_part(struct kernel *k, const struct jmsg *parent, struct kerror *e)
{
    struct kcell *cell = &k->cell;
    while (cell->part == cell->control_part) {
        char err[320];
        struct kiops_to to = {k, parent};
        struct kiops_out out = {
            &to, kiops_stream, kiops_display,
            k->engine->ops->measure_root ? k->engine->ops->measure_root(k->engine) : 0};
        if (kiops_control(&k->iops, &out, &cell->control, err, sizeof err)) {
            kerror_set(e, "UsageError", "%s", err);
            return -EBADMSG;
        }
        if (++cell->part >= cell->nparts)
            return 1;
    }
    struct engine_window win = {win_begin, win_end, k};
    bool measured = cell->part == cell->measured_part;
    int rc = k->engine->ops->execute(k->engine, cell->parts[cell->part], cell->allow_stdin,
                                     measured ? &win : NULL);
    if (rc < 0)
        kerror_set(e, "KernelError", "cannot run the cell: %s", strerror(-rc));
    return rc;
}

static void publish_stream(struct kernel *k, const char *name, const char *data, size_t len);
static void publish_stream_to(struct kernel *k, const struct jmsg *parent, const char *name,
                              const char *data, size_t len);

/* The measured part ended: its report goes out (in place of the live
 * progress display, when there was one). */
static void show_report(struct kernel *k)
{
    struct kcell *cell = &k->cell;
    struct magic_run *run = cell->run;
    if (!run || cell->report_shown)
        return;
    cell->report_shown = true;
    if (!magic_run_began(run)) {
        char line[400];
        magic_run_unmeasured_line(run, cell->interrupted, line, sizeof line);
        if (!cell->silent)
            publish_stream(k, "stderr", line, strlen(line));
        return;
    }
    if (magic_run_measuring(run))
        win_end(k, NULL); /* the engine could not say (it died) */
    json_t *data = NULL, *meta = NULL;
    char note[320] = "";
    int rc = magic_run_finish(run, cell->measured_code, cell->exit_status, cell->interrupted, &data,
                              &meta, note, sizeof note);
    kiops_measured(&k->iops, cell->count, cell->measured_code, magic_run_report(run));
    if (cell->auto_cell && !cell->silent) {
        publish(k, &cell->req, "display_data",
                json_pack("{s:o, s:{}, s:{}}", "data", magic_summary_data(magic_run_report(run)),
                          "metadata", "transient"));
        json_decref(data);
        json_decref(meta);
        return;
    }
    if (note[0]) {
        char line[340];
        int n = snprintf(line, sizeof line, "%s\n", note);
        publish_stream(k, "stderr", line, (size_t)n);
    }
    if (rc && !data && !note[0])
        fprintf(stderr, "iopsd kernel: rendering the report failed: %s\n", strerror(-rc));
    if (!data || cell->silent) {
        json_decref(data);
        json_decref(meta);
        return;
    }
    const char *type = magic_run_progress_shown(run) ? "update_display_data" : "display_data";
    publish(k, &cell->req, type,
            json_pack("{s:o, s:o, s:{s:s}}", "data", data, "metadata", meta ? meta : json_object(),
                      "transient", "display_id", magic_run_display_id(run)));
}

/* Parses a magic in code and sets the cell's parts up. Returns 0 (the cell
 * runs), KCORE_REPLY with *out set (--help: nothing runs), or -EINVAL with e
 * set (a usage error: nothing runs). */
static int plan_cell(struct kernel *k, struct jmsg *req, const char *code, json_t **out,
                     struct kerror *e)
{
    struct kcell *cell = &k->cell;
    struct magic m;
    char err[320];
    magic_init(&m);
    cell_parts_release(cell);
    if (magic_parse(code, &m, err, sizeof err)) {
        kerror_set(e, "UsageError", "%s\n\n%s", err, magic_usage());
        magic_release(&m);
        return -EINVAL;
    }
    if (m.help) {
        magic_release(&m);
        return 1;
    }
    /* The parts, as every kernel splits a magic cell (magic_parts); bash
     * runs them all, a failing line or not, as a shell would. */
    struct magic_parts mp;
    magic_parts(&m, code, &mp);
    if (m.kind == MAGIC_CONTROL) {
        for (int i = 0; i < mp.n; i++)
            cell->parts[cell->nparts++] = xstrdup(i == mp.measured ? "" : mp.code[i]);
        cell->control_part = mp.measured;
        cell->control = m; /* moved */
        return 0;
    }
    if (m.kind == MAGIC_NONE) {
        struct magic plain;
        bool auto_cell, span_only;
        if (kiops_plain_cell(&k->iops, &plain, &auto_cell, &span_only)) {
            if (magic_run_new(&plain, &cell->run, err, sizeof err) == 0) {
                cell->auto_cell = auto_cell;
                cell->span_only = span_only;
                cell->measured_part = 0;
                cell->measured_code = xstrdup(code);
            }
            magic_release(&plain);
        }
        cell->parts[cell->nparts++] = xstrdup(code);
        magic_release(&m);
        return 0;
    }
    if (magic_run_new(&m, &cell->run, err, sizeof err)) {
        kerror_set(e, "UsageError", "%s", err);
        magic_release(&m);
        return -ENOTSUP;
    }
    for (int i = 0; i < mp.n; i++)
        cell->parts[cell->nparts++] = xstrdup(mp.code[i]);
    cell->measured_part = mp.measured;
    cell->measured_code = xstrdup(m.measured);
    magic_release(&m);
    return 0;
}

static int on_execute(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                      struct kerror *e)
{
    if (ensure_engine(k, e))
        return -EIO;
    json_t *c = req->content;
    const char *code = json_string_value(json_object_get(c, "code"));
    if (!code) {
        kerror_set(e, "BadRequest", "execute_request without a 'code' string");
        return -EINVAL;
    }
    size_t code_len = json_string_length(json_object_get(c, "code"));
    if (code_len > ENGINE_CELL_MAX) {
        if (!json_flag(c, "silent", false))
            k->execution_count++;
        kerror_set(e, "CellTooLarge",
                   "the cell is %zu bytes; the largest cell the kernel runs is %u bytes (%u MiB)",
                   code_len, ENGINE_CELL_MAX, ENGINE_CELL_MAX >> 20);
        return -EFBIG;
    }
    bool silent = json_flag(c, "silent", false);
    bool store = json_flag(c, "store_history", !silent) && !silent;
    bool allow_stdin = json_flag(c, "allow_stdin", true);
    bool stop_on_error = json_flag(c, "stop_on_error", true);

    int count = k->execution_count;
    if (!silent) {
        count = ++k->execution_count;
        publish(k, req, "execute_input",
                json_pack("{s:s, s:i}", "code", code, "execution_count", count));
    }
    if (store)
        hist_add(k, count, code);
    struct kcell *cell = &k->cell;
    cell->allow_stdin = allow_stdin;
    int plan = plan_cell(k, req, code, out, e);
    if (plan < 0) {
        cell_parts_release(cell);
        /* a usage error: shown like any failed cell, and nothing ran */
        return plan == -EINVAL ? -EBADMSG : -ENOTSUP;
    }
    if (plan == 1) { /* --help */
        if (!silent)
            publish_stream_to(k, req, "stdout", magic_usage(), strlen(magic_usage()));
        *out =
            json_pack("{s:i, s:[], s:{}}", "execution_count", count, "payload", "user_expressions");
        return KCORE_REPLY;
    }
    cell->part = 0;
    cell->reason[0] = '\0';
    int rc = run_part(k, req, e);
    if (rc != 0) {
        /* failed to start, or only control lines (done already) */
        cell_parts_release(cell);
        if (rc < 0)
            return rc == -EBADMSG ? -EBADMSG : rc;
        *out =
            json_pack("{s:i, s:[], s:{}}", "execution_count", count, "payload", "user_expressions");
        return KCORE_REPLY;
    }
    jmsg_release(&cell->req);
    cell->req = *req; /* moved: the caller's message is left empty */
    jmsg_init(req);
    cell->active = true;
    cell->silent = silent;
    cell->store_history = store;
    cell->stop_on_error = stop_on_error;
    cell->count = count;
    cell->waiting_input = false;
    cell->done = false;
    return KCORE_ASYNC;
}

/* Length of s in code points. */
static size_t cp_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static size_t cursor_of(json_t *c, const char *code)
{
    json_t *v = json_object_get(c, "cursor_pos");
    size_t len = cp_len(code);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (size_t)json_integer_value(v) > len)
        return len;
    return (size_t)json_integer_value(v);
}

static int on_complete(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                       struct kerror *e)
{
    if (ensure_engine(k, e))
        return -EIO;
    const char *code = json_string_value(json_object_get(req->content, "code"));
    if (!code)
        code = "";
    size_t cursor = cursor_of(req->content, code);
    char **matches = NULL;
    size_t n = 0, start = cursor, end = cursor;
    int rc = k->engine->ops->complete(k->engine, code, cursor, &matches, &n, &start, &end);
    if (rc < 0) {
        kerror_set(e, "CompletionError", "completion failed: %s", strerror(-rc));
        return rc;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_string(matches[i]);
        if (s)
            json_array_append_new(list, s);
        free(matches[i]);
    }
    free(matches);
    *out = json_pack("{s:o, s:I, s:I, s:{}}", "matches", list, "cursor_start", (json_int_t)start,
                     "cursor_end", (json_int_t)end, "metadata");
    return KCORE_REPLY;
}

static int on_inspect(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                      struct kerror *e)
{
    if (ensure_engine(k, e))
        return -EIO;
    const char *code = json_string_value(json_object_get(req->content, "code"));
    if (!code)
        code = "";
    char *text = NULL;
    int rc = k->engine->ops->inspect(k->engine, code, cursor_of(req->content, code), &text);
    if (rc < 0) {
        kerror_set(e, "InspectError", "inspect failed: %s", strerror(-rc));
        return rc;
    }
    json_t *data = json_object();
    if (text) {
        json_t *s = json_string(text);
        if (!s) {
            char *fixed = utf8_dup_sanitized(text);
            s = json_string(fixed);
            free(fixed);
        }
        json_object_set_new(data, "text/plain", s);
    }
    *out = json_pack("{s:b, s:o, s:{}}", "found", text != NULL, "data", data, "metadata");
    free(text);
    return KCORE_REPLY;
}

static int on_is_complete(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                          struct kerror *e)
{
    const char *code = json_string_value(json_object_get(req->content, "code"));
    if (!code)
        code = "";
    const char *st = NULL;
    char indent[64] = "";
    char berr[256];
    if (kernel_ensure_engine(k, berr, sizeof berr)) {
        *out = json_pack("{s:s}", "status", "unknown");
        return KCORE_REPLY;
    }
    int rc = k->engine->ops->is_complete(k->engine, code, &st, indent, sizeof indent);
    if (rc < 0 || !st) {
        *out = json_pack("{s:s}", "status", "unknown");
        return KCORE_REPLY;
    }
    /* "status" here is the answer, not the reply status: reply() keeps it. */
    *out = json_pack("{s:s}", "status", st);
    if (!strcmp(st, "incomplete"))
        json_object_set_new(*out, "indent", json_string(indent));
    return KCORE_REPLY;
}

static int on_comm_info(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                        struct kerror *e)
{
    *out = json_pack("{s:{}}", "comms");
    return KCORE_REPLY;
}

static int on_comm_open(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                        struct kerror *e)
{
    /* No comm targets in the bash kernel: close whatever is opened. */
    const char *id = json_string_value(json_object_get(req->content, "comm_id"));
    const char *target = json_string_value(json_object_get(req->content, "target_name"));
    fprintf(stderr, "iopsd kernel: no comm target '%s': closing comm %s\n", target ? target : "?",
            id ? id : "?");
    if (id)
        publish(k, req, "comm_close", json_pack("{s:s, s:{}}", "comm_id", id, "data"));
    return KCORE_NOREPLY;
}

static int on_comm_other(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                         struct kerror *e)
{
    return KCORE_NOREPLY;
}

static int on_shutdown(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                       struct kerror *e)
{
    bool restart = json_flag(req->content, "restart", false);
    /* ipykernel also broadcasts the reply on iopub for other clients. */
    publish(k, req, "shutdown_reply", json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
    k->stop = true;
    k->exit_status = 0;
    *out = json_pack("{s:b}", "restart", restart);
    return KCORE_REPLY;
}

static int on_interrupt(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                        struct kerror *e)
{
    kcore_interrupt(k);
    *out = json_object();
    return KCORE_REPLY;
}

typedef int (*khandler_fn)(struct kernel *k, enum kchan ch, struct jmsg *req, json_t **out,
                           struct kerror *e);

static const struct khandler {
    const char *type;
    khandler_fn fn;
    bool shell, control;
} handlers[] = {
    {"kernel_info_request", on_kernel_info, true, true},
    {"execute_request", on_execute, true, false},
    {"complete_request", on_complete, true, false},
    {"inspect_request", on_inspect, true, false},
    {"is_complete_request", on_is_complete, true, false},
    {"history_request", on_history, true, false},
    {"comm_info_request", on_comm_info, true, false},
    {"comm_open", on_comm_open, true, false},
    {"comm_msg", on_comm_other, true, false},
    {"comm_close", on_comm_other, true, false},
    {"shutdown_request", on_shutdown, true, true},
    {"interrupt_request", on_interrupt, false, true},
};

static struct jmsg *take_queued(struct kernel *k, size_t *n);
static void abort_taken(struct kernel *k, struct jmsg *v, size_t n);

/* A request the front drained for being over its caps, and replaced with a
 * signed stand-in (protocol/zmtp_oversize.h): an error reply; an execute
 * request fails as a cell that could not run does. */
static void refuse_oversized(struct kernel *k, enum kchan ch, struct jmsg *req, json_t *over)
{
    /* (a replay of the original was dropped in kernel_recv) */
    bool exec = !strcmp(jmsg_type(req), "execute_request");
    status(k, req, "busy");
    struct kerror e;
    kerror_set(&e, exec ? "CellTooLarge" : "MessageTooLarge",
               "the request was %" JSON_INTEGER_FORMAT
               " bytes; the kernel takes at most %" JSON_INTEGER_FORMAT
               " bytes in one frame and %" JSON_INTEGER_FORMAT
               " in one message (cells of up to %u bytes run): it was not run",
               json_integer_value(json_object_get(over, "bytes")),
               json_integer_value(json_object_get(over, "frame_max")),
               json_integer_value(json_object_get(over, "message_max")), ENGINE_CELL_MAX);
    if (exec)
        k->execution_count++;
    reply_error(k, ch, req, &e, exec, exec ? k->execution_count : -1);
    status(k, req, "idle");
}

void kcore_dispatch(struct kernel *k, enum kchan ch, struct jmsg *req)
{
    const char *type = jmsg_type(req);
    json_t *over = json_object_get(req->content, ZOV_MARKER);
    if (json_is_object(over)) {
        refuse_oversized(k, ch, req, over);
        return;
    }
    const struct khandler *h = NULL;
    for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++)
        if (!strcmp(handlers[i].type, type) &&
            (ch == KCHAN_SHELL ? handlers[i].shell : handlers[i].control))
            h = &handlers[i];
    if (!h) {
        fprintf(stderr, "iopsd kernel: ignored unsupported message '%s' on %s\n", type,
                ch == KCHAN_SHELL ? "shell" : "control");
        /* No reply, but busy/idle as for any request (ipykernel does the
         * same): a frontend that waits for idle does not hang. */
        status(k, req, "busy");
        status(k, req, "idle");
        return;
    }
    /* The request is kept for busy/idle even when a handler takes it over. */
    json_t *parent_header = json_incref(req->header);
    struct jmsg parent;
    jmsg_init(&parent);
    parent.header = parent_header;
    status(k, &parent, "busy");

    json_t *out = NULL;
    struct kerror e = {"", ""};
    int rc = h->fn(k, ch, req, &out, &e);
    if (rc == KCORE_ASYNC) {
        jmsg_release(&parent);
        return; /* kcore_finish_cell() replies and publishes idle */
    }
    if (rc < 0) {
        bool exec = !strcmp(type, "execute_request");
        if (exec) {
            /* A cell that could not run failed: shown, and run-all stops. */
            bool silent = json_flag(req->content, "silent", false);
            size_t ntaken = 0;
            struct jmsg *taken =
                json_flag(req->content, "stop_on_error", true) ? take_queued(k, &ntaken) : NULL;
            reply_error(k, ch, req, &e, !silent, k->execution_count);
            status(k, &parent, "idle");
            jmsg_release(&parent);
            if (taken)
                abort_taken(k, taken, ntaken);
            return;
        }
        reply_error(k, ch, req, &e, false, -1);
    } else if (rc == KCORE_REPLY) {
        char rtype[96];
        reply_type(type, rtype, sizeof rtype);
        reply(k, ch, req, rtype, out);
        out = NULL;
    }
    json_decref(out);
    status(k, &parent, "idle");
    jmsg_release(&parent);
}

void kcore_reject(struct kernel *k, struct jmsg *req, size_t queued, size_t bytes)
{
    status(k, req, "busy");
    struct kerror e;
    kerror_set(&e, "KernelBusy",
               "not run: %zu requests (%zu bytes) are already waiting for the running cell", queued,
               bytes);
    bool exec = !strcmp(jmsg_type(req), "execute_request");
    reply_error(k, KCHAN_SHELL, req, &e, false, exec ? k->execution_count : -1);
    status(k, req, "idle");
}

/* stop_on_error, step 1, before the failed cell's reply goes out: take the
 * requests already waiting on shell (only those can have been sent before
 * the client saw the failure). The array is owned by the caller. */
static struct jmsg *take_queued(struct kernel *k, size_t *n)
{
    struct jmsg *v = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        v = xgrow(v, &cap, *n + 1, sizeof *v);
        jmsg_init(&v[*n]);
        if (!kernel_next_shell(k, &v[*n]))
            break;
        (*n)++;
    }
    return v;
}

/* Step 2, after the reply and idle: answer the taken execute_requests with an
 * error instead of running them; anything else is handled normally. */
static void abort_taken(struct kernel *k, struct jmsg *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct jmsg *m = &v[i];
        if (k->stop) {
            /* shut down meanwhile: the rest gets no answer */
        } else if (!strcmp(jmsg_type(m), "execute_request")) {
            status(k, m, "busy");
            struct kerror e;
            kerror_set(&e, "ExecutionAborted",
                       "not run: an earlier cell failed and stop_on_error was set");
            reply_error(k, KCHAN_SHELL, m, &e, false, k->execution_count);
            status(k, m, "idle");
        } else {
            kcore_dispatch(k, KCHAN_SHELL, m);
        }
        jmsg_release(m);
    }
    free(v);
}

void kcore_finish_cell(struct kernel *k)
{
    struct kcell *cell = &k->cell;
    cell->done = false;
    if (cell->part == cell->measured_part)
        show_report(k);
    /* The next part of a magic cell runs unless this one was interrupted or
     * the engine died (a shell goes on after a failing line, so do we). */
    if (cell->part + 1 < cell->nparts && !cell->interrupted && !cell->restarted) {
        cell->part++;
        struct kerror e = {"", ""};
        int rc = run_part(k, &cell->req, &e);
        if (rc == 0)
            return;
        if (rc < 0) {
            cell->exit_status = 1;
            char line[600];
            int n = snprintf(line, sizeof line, "[iopsd: the rest of the cell did not run: %s]\n",
                             e.evalue);
            publish_stream(k, "stderr", line, (size_t)n);
        }
    }
    cell_parts_release(cell);
    cell->active = false;
    cell->waiting_input = false;
    bool failed = cell->interrupted || cell->exit_status != 0 || cell->reason[0];
    size_t ntaken = 0;
    struct jmsg *taken = NULL;
    if (failed && cell->stop_on_error)
        taken = take_queued(k, &ntaken);
    if (failed) {
        struct kerror e;
        const char *note = cell->restarted ? "; bash exited and a new session was started" : "";
        if (cell->reason[0])
            kerror_set(&e, "ShellFault", "%s", cell->reason);
        else if (cell->interrupted)
            kerror_set(&e, "Interrupted", "interrupted (exit status %d)%s", cell->exit_status,
                       note);
        else
            kerror_set(&e, "ExitStatus", "exit status %d%s", cell->exit_status, note);
        reply_error(k, KCHAN_SHELL, &cell->req, &e, !cell->silent, cell->count);
    } else {
        reply(k, KCHAN_SHELL, &cell->req, "execute_reply",
              json_pack("{s:i, s:[], s:{}}", "execution_count", cell->count, "payload",
                        "user_expressions"));
    }
    status(k, &cell->req, "idle");
    jmsg_release(&cell->req);
    if (taken)
        abort_taken(k, taken, ntaken);
}

static void publish_stream_to(struct kernel *k, const struct jmsg *parent, const char *name,
                              const char *data, size_t len)
{
    json_t *text = json_stringn(data, len);
    if (!text) {
        struct buf b;
        buf_init(&b, 0);
        utf8_sanitize(&b, data, len, true);
        text = json_stringn(b.data ? b.data : "", b.len);
        buf_release(&b);
    }
    publish(k, parent, "stream", json_pack("{s:s, s:o}", "name", name, "text", text));
}

static void publish_stream(struct kernel *k, const char *name, const char *data, size_t len)
{
    publish_stream_to(k, &k->cell.req, name, data, len);
}

void kcore_stream(struct kernel *k, const struct jmsg *parent, const char *name, const char *text)
{
    publish_stream_to(k, parent, name, text, strlen(text));
}

void kcore_engine_event(void *ctx, const struct engine_event *ev)
{
    struct kernel *k = ctx;
    struct kcell *cell = &k->cell;
    if (ev->type == ENGINE_EV_RELAY) { /* a relaying engine's message */
        kernel_relay_out(k, (enum kchan)ev->chan, ev->frames, ev->nframes, ev->msgs);
        return;
    }
    if (ev->type == ENGINE_EV_EXIT) {
        k->stop = true;
        k->exit_status = ev->exit_status;
        return;
    }
    if (!cell->active)
        return;
    switch (ev->type) {
    case ENGINE_EV_STDOUT:
    case ENGINE_EV_STDERR:
        if (!cell->silent && ev->len)
            publish_stream(k, ev->type == ENGINE_EV_STDOUT ? "stdout" : "stderr", ev->data,
                           ev->len);
        if (cell->run && ev->len) /* %%iops --timeline: EVENT lines */
            magic_run_output(cell->run, ev->type == ENGINE_EV_STDERR, ev->data, ev->len);
        break;
    case ENGINE_EV_INPUT_REQUEST: {
        if (!cell->allow_stdin)
            break;
        json_t *prompt = json_stringn(ev->data ? ev->data : "", ev->len);
        if (!prompt)
            prompt = json_string("");
        struct jmsg m;
        jmsg_init(&m);
        /* Routed with the execute_request's identities: the client's stdin
         * socket has the same routing id as its shell socket. */
        jmsg_build(&m, "input_request", k->session, USERNAME, &cell->req,
                   json_pack("{s:o, s:b}", "prompt", prompt, "password", ev->password), &cell->req);
        kernel_send(k, KCHAN_STDIN, &m);
        jmsg_release(&m);
        cell->waiting_input = true;
        break;
    }
    case ENGINE_EV_DONE:
        cell->done = true;
        cell->exit_status = ev->exit_status;
        cell->interrupted = ev->interrupted;
        cell->restarted = ev->restarted;
        if (ev->reason) /* kept over the parts of a magic cell */
            snprintf(cell->reason, sizeof cell->reason, "%s", ev->reason);
        break;
    case ENGINE_EV_RELAY:
    case ENGINE_EV_EXIT:
        break; /* handled above */
    }
}

long kcore_timeout_ms(struct kernel *k)
{
    if (!k->cell.active || !k->cell.run)
        return -1;
    long tl = magic_run_timeline_due_ms(k->cell.run);
    long pr = k->cell.silent ? -1 : magic_run_progress_due_ms(k->cell.run);
    return tl < 0 ? pr : pr < 0 ? tl : tl < pr ? tl : pr;
}

void kcore_tick(struct kernel *k)
{
    struct kcell *cell = &k->cell;
    if (!cell->active || !cell->run)
        return;
    magic_run_timeline_tick(cell->run); /* its own deadline: samples even when silent */
    if (cell->silent || magic_run_progress_due_ms(cell->run) != 0)
        return;
    bool update = false;
    json_t *data = magic_run_progress(cell->run, &update);
    if (!data)
        return;
    publish(k, &cell->req, update ? "update_display_data" : "display_data",
            json_pack("{s:o, s:{}, s:{s:s}}", "data", data, "metadata", "transient", "display_id",
                      magic_run_display_id(cell->run)));
}

void kcore_stdin(struct kernel *k, struct jmsg *msg)
{
    if (strcmp(jmsg_type(msg), "input_reply") != 0 || !k->cell.active || !k->cell.waiting_input) {
        fprintf(stderr, "iopsd kernel: ignored '%s' on stdin (no input requested)\n",
                jmsg_type(msg));
        return;
    }
    const char *value = json_string_value(json_object_get(msg->content, "value"));
    if (!value)
        value = "";
    if (json_is_object(json_object_get(msg->content, ZOV_MARKER))) {
        /* the front drained an input_reply over its caps: end of file */
        char line[320];
        zov_input_notice(line, sizeof line, msg->content);
        publish_stream(k, "stderr", line, strlen(line));
        value = "\x04";
    }
    k->cell.waiting_input = false;
    int rc = k->engine->ops->input(k->engine, value, strlen(value));
    if (rc < 0)
        fprintf(stderr, "iopsd kernel: input not delivered: %s\n", strerror(-rc));
}

void kcore_interrupt(struct kernel *k)
{
    /* A relaying engine has no cell here: the interrupt is its to route. */
    if (k->engine && (k->cell.active || k->engine->ops->relay)) {
        int rc = k->engine->ops->interrupt(k->engine);
        if (rc < 0)
            fprintf(stderr, "iopsd kernel: interrupt failed: %s\n", strerror(-rc));
    }
}

void kcore_release(struct kernel *k)
{
    for (size_t i = 0; i < k->nhist; i++)
        free(k->hist[i].code);
    free(k->hist);
    k->hist = NULL;
    k->nhist = k->histcap = 0;
    k->hist_bytes = 0;
    jmsg_release(&k->cell.req);
    cell_parts_release(&k->cell);
    kiops_release(&k->iops);
}
