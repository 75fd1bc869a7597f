/* doc: the report as a document of titled tables (identity, I/O, descriptor
 * kinds, metadata operations, files, leaked descriptors, unseen operations,
 * size and latency distributions). The text and HTML renderers print this
 * same document, so both always carry the same content. */
#include "render/render_int.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest command, code line or path shown, in columns. */
#define SHOW_CMD_MAX  100
#define SHOW_PATH_MAX 60

static struct rtable *table_add(struct rdoc *d, const char *title, const char *align, ...)
{
    struct rtable *t = xcalloc(1, sizeof(*t));
    d->tables = xgrow(d->tables, &d->cap, d->ntables + 1, sizeof(*d->tables));
    d->tables[d->ntables++] = t;
    t->title = title ? xstrdup(title) : NULL;
    t->ncols = (int)strlen(align);
    if (t->ncols > RDOC_COLS)
        t->ncols = RDOC_COLS;
    memcpy(t->align, align, (size_t)t->ncols);
    t->bar_col = -1;
    va_list ap;
    va_start(ap, align);
    for (int i = 1; i < t->ncols; i++) {
        const char *h = va_arg(ap, const char *);
        t->head[i] = h ? xstrdup(h) : NULL;
    }
    va_end(ap);
    return t;
}

/* The table pointer stays valid; the returned row only until the next row_add. */
static struct rrow *row_add(struct rtable *t, unsigned flags)
{
    t->rows = xgrow(t->rows, &t->cap, t->nrows + 1, sizeof(*t->rows));
    struct rrow *row = &t->rows[t->nrows++];
    memset(row, 0, sizeof(*row));
    row->flags = flags;
    return row;
}

static void __attribute__((format(printf, 3, 4)))
cell(struct rrow *row, int i, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    free(row->cell[i]);
    row->cell[i] = xstrdup(tmp);
}

static void __attribute__((format(printf, 2, 3))) note(struct rtable *t, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    t->notes = xgrow(t->notes, &t->notes_cap, t->nnotes + 1, sizeof(*t->notes));
    t->notes[t->nnotes++] = xstrdup(tmp);
}

/* Untrusted text (paths, commands, code) made safe to print: valid UTF-8,
 * control characters shown as escapes, at most maxw columns (the end kept
 * when keep_end, for paths). Caller frees. */
static char *clean(const char *s, size_t maxw, bool keep_end)
{
    char *u = utf8_dup_sanitized(s ? s : "");
    struct buf b;
    buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
        if (*p == '\n')
            buf_puts(&b, "\\n");
        else if (*p == '\t')
            buf_puts(&b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(&b, "\\x%02x", *p);
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* C1 controls */
            buf_printf(&b, "\\u%04x", (unsigned)p[1]), p++;
        else
            buf_append(&b, p, 1);
    }
    free(u);
    if (!b.data)
        buf_puts(&b, "");
    size_t w = render__width(b.data);
    if (w > maxw && maxw > 1) {
        size_t drop = w - (maxw - 1), seen = 0;
        struct buf t;
        buf_init(&t, 0);
        const char *p = b.data;
        if (keep_end) {
            buf_puts(&t, "\xe2\x80\xa6"); /* … */
            for (; *p; p++) {
                if (((unsigned char)*p & 0xc0) != 0x80)
                    seen++;
                if (seen > drop)
                    break;
            }
            buf_puts(&t, p);
        } else {
            size_t keep = maxw - 1;
            const char *q = p;
            for (; *q; q++) {
                if (((unsigned char)*q & 0xc0) != 0x80 && seen++ == keep)
                    break;
            }
            buf_append(&t, p, (size_t)(q - p));
            buf_puts(&t, "\xe2\x80\xa6");
        }
        buf_release(&b);
        b = t;
    }
    size_t len;
    return buf_detach(&b, &len);
}

/* An argument as a shell would need it: bare when safe, else single-quoted. */
static void shell_word(struct buf *b, const char *a)
{
    bool safe = *a != '\0';
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+%@",
                    *p) &&
            !((unsigned char)*p & 0x80))
            safe = false;
    if (safe) {
        buf_puts(b, a);
        return;
    }
    buf_puts(b, "'");
    for (const char *p = a; *p; p++) {
        if (*p == '\'')
            buf_puts(b, "'\\''");
        else
            buf_append(b, p, 1);
    }
    buf_puts(b, "'");
}

static void identity(struct rdoc *d, const struct report *r)
{
    char a[RFMT_MAX], b[RFMT_MAX], c[RFMT_MAX];
    struct rtable *t = table_add(d, NULL, "ll", NULL);
    t->no_head = true;
    struct rrow *row;

    if (r->argv && r->argv[0]) {
        struct buf cmd;
        buf_init(&cmd, 0);
        for (char **p = r->argv; *p && cmd.len < 4 * SHOW_CMD_MAX; p++) {
            if (p != r->argv)
                buf_puts(&cmd, " ");
            shell_word(&cmd, *p);
        }
        char *s = clean(cmd.data, SHOW_CMD_MAX, false);
        row = row_add(t, 0);
        cell(row, 0, "command");
        cell(row, 1, "%s", s);
        free(s);
        buf_release(&cmd);
    } else if (r->code) {
        size_t lines = 1, first = strcspn(r->code, "\n");
        for (const char *p = r->code; *p; p++)
            if (*p == '\n' && p[1])
                lines++;
        char *line = xstrndup(r->code, first);
        char *s = clean(line, SHOW_CMD_MAX, false);
        row = row_add(t, 0);
        cell(row, 0, "code");
        if (lines > 1)
            cell(row, 1, "%s (%s lines)", s, render__count(a, sizeof(a), lines));
        else
            cell(row, 1, "%s", s);
        free(s);
        free(line);
    }

    if (r->attach.on) {
        struct buf pids;
        buf_init(&pids, 0);
        for (size_t i = 0; i < r->attach.npids && i < REPORT_MAX_ATTACH; i++)
            buf_printf(&pids, "%s%d", i ? ", " : "", (int)r->attach.pids[i]);
        row = row_add(t, 0);
        cell(row, 0, "attached");
        cell(row, 1, "pid%s %s%s", r->attach.npids == 1 ? "" : "s", pids.data ? pids.data : "",
             r->attach.tree ? " and descendants" : " only (not their children)");
        buf_release(&pids);
        row = row_add(t, 0);
        cell(row, 0, "window");
        if (r->attach.duration > 0)
            render__seconds(a, sizeof(a), r->attach.duration);
        static const char *const why[] = {"the duration ended", "interrupted",
                                          "every measured process exited"};
        cell(row, 1, "%s%s; ended: %s", r->attach.duration > 0 ? "for " : "until interrupted",
             r->attach.duration > 0 ? a : "", why[(unsigned)r->attach.end < 3 ? r->attach.end : 0]);
    }

    if (r->exited || r->term_signal) {
        row = row_add(t, 0);
        cell(row, 0, "status");
        if (r->exited)
            cell(row, 1, "exited with status %d%s%s", r->exit_status,
                 r->exit_status ? " (failure)" : "",
                 r->interrupted ? "; interrupted: the numbers cover what ran" : "");
        else {
            const char *name = render__signame(r->term_signal);
            cell(row, 1, "killed by signal %d%s%s%s", r->term_signal, name ? " (" : "",
                 name ? name : "", name ? ")" : "");
        }
    }
    if (r->error) {
        char *s = clean(r->error, 200, false);
        row = row_add(t, 0);
        cell(row, 0, "error");
        cell(row, 1, "%s%s", r->exec_errno ? "could not run: " : "", s);
        free(s);
    }

    row = row_add(t, 0);
    cell(row, 0, "time");
    cell(row, 1, "wall %s \xc2\xb7 user %s \xc2\xb7 sys %s",
         render__seconds(a, sizeof(a), r->wall_seconds),
         render__seconds(b, sizeof(b), r->user_seconds),
         render__seconds(c, sizeof(c), r->system_seconds));

    if (r->start_time > 0 && r->start_time < 253402300800.0) { /* before year 10000 */
        time_t sec = (time_t)r->start_time;
        struct tm tm;
        if (gmtime_r(&sec, &tm) && strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S UTC", &tm)) {
            row = row_add(t, 0);
            cell(row, 0, "started");
            cell(row, 1, "%s", a);
        }
    }

    row = row_add(t, 0);
    cell(row, 0, "processes");
    render__count(a, sizeof(a), r->processes);
    if (r->still_running)
        snprintf(c, sizeof(c), ", %s still running", render__count(b, sizeof(b), r->still_running));
    else
        c[0] = '\0';
    const char *how = "";
    if (!r->processes_exact)
        how = !strcmp(r->backend, "proc") ? " seen (sampled: short-lived ones may be missed)"
                                          : " seen (a lower bound)";
    cell(row, 1, "%s%s%s", a, how, c);

    row = row_add(t, 0);
    cell(row, 0, "descriptors");
    long delta = (long)((unsigned long)r->fds.end - (unsigned long)r->fds.start);
    char st[RFMT_MAX], pk[RFMT_MAX], en[RFMT_MAX], de[RFMT_MAX];
    render__scount(st, sizeof(st), r->fds.start);
    render__scount(pk, sizeof(pk), r->fds.peak);
    render__scount(en, sizeof(en), r->fds.end);
    render__scount(de + 1, sizeof(de) - 1, delta);
    de[0] = '+';
    const char *d_s = delta < 0 ? de + 1 : de;
    if (r->fds.sampled && r->fds.interval_seconds <= 0) /* an attached window */
        cell(row, 1, "start %s \xc2\xb7 end %s (%s) \xc2\xb7 counted at the start and the end", st,
             en, d_s);
    else if (r->fds.sampled)
        cell(row, 1, "start %s \xc2\xb7 peak %s \xc2\xb7 end %s (%s) %s \xc2\xb7 sampled every %s",
             st, pk, en, d_s, r->fds.end_at_exit ? "at exit" : "last sample",
             render__seconds(a, sizeof(a), r->fds.interval_seconds));
    else
        cell(row, 1, "start %s \xc2\xb7 peak %s \xc2\xb7 end %s (%s)", st, pk, en, d_s);
}

static void kinds_list(char *s, size_t n, unsigned mask)
{
    static const char *const plural[FDK__COUNT] = {
        "regular files", "block devices", "character devices", "pipes", "sockets", "anon inodes",
    };
    size_t o = 0;
    int count = 0, total = 0;
    for (int k = 0; k < FDK__COUNT; k++)
        total += !!(mask & (1u << k));
    s[0] = '\0';
    for (int k = 0; k < FDK__COUNT && o < n; k++) {
        if (!(mask & (1u << k)))
            continue;
        count++;
        const char *sep = count == 1 ? "" : count == total ? " and " : ", ";
        o += (size_t)snprintf(s + o, n - o, "%s%s", sep, plural[k]);
    }
    if (!total)
        snprintf(s, n, "no descriptor kinds");
}

static void io_table(struct rdoc *d, const struct report *r)
{
    char a[RFMT_MAX], b[RFMT_MAX], c[RFMT_MAX], e[RFMT_MAX];
    struct rtable *t = table_add(d, r->detailed ? "File I/O" : "I/O", "lrrrr", "ops", "bytes",
                                 "IOPS", "throughput");
    double w = r->wall_seconds;
    bool rates = isfinite(w) && w > 0;
    struct {
        const char *name;
        uint64_t ops, bytes;
        unsigned flags;
    } rows[3] = {
        {"read", r->read_ops, r->read_bytes, 0},
        {"write", r->write_ops, r->write_bytes, 0},
        {"total", r->read_ops + r->write_ops, r->read_bytes + r->write_bytes, RROW_TOTAL},
    };
    /* Totals past 2^64 cannot be shown exactly: saturate rather than wrap. */
    if (rows[2].ops < r->read_ops)
        rows[2].ops = UINT64_MAX;
    if (rows[2].bytes < r->read_bytes)
        rows[2].bytes = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        struct rrow *row = row_add(t, rows[i].flags);
        cell(row, 0, "%s", rows[i].name);
        cell(row, 1, "%s", render__count(a, sizeof(a), rows[i].ops));
        cell(row, 2, "%s", render__bytes(b, sizeof(b), rows[i].bytes));
        cell(row, 3, "%s", rates ? render__rate(c, sizeof(c), (double)rows[i].ops / w) : "n/a");
        cell(row, 4, "%s",
             rates ? render__throughput(e, sizeof(e), (double)rows[i].bytes / w) : "n/a");
    }
    const char *sname[3] = {"storage read", "storage write", "cancelled writes"};
    uint64_t sval[3] = {r->storage_read_bytes, r->storage_write_bytes, r->cancelled_write_bytes};
    for (int i = 0; i < 3; i++) {
        struct rrow *row = row_add(t, (i == 0 ? RROW_RULE : 0) | RROW_MUTED);
        cell(row, 0, "%s", sname[i]);
        cell(row, 2, "%s", r->has_storage ? render__bytes(b, sizeof(b), sval[i]) : "n/a");
    }
    if (r->detailed) {
        struct rrow *row = row_add(t, RROW_RULE | RROW_MUTED);
        cell(row, 0, "failed reads");
        cell(row, 1, "%s", render__count(a, sizeof(a), r->read_errors));
        row = row_add(t, RROW_MUTED);
        cell(row, 0, "failed writes");
        cell(row, 1, "%s", render__count(a, sizeof(a), r->write_errors));
    }

    if (!rates)
        note(t, "No wall time was measured: rates are not available.");
    if (r->detailed) {
        kinds_list(a, sizeof(a), r->hist_kinds);
        note(t, "Counts %s; other descriptors are listed by kind below.", a);
    } else {
        note(t,
             "Counts every read and write call (files, pipes, sockets, terminals): the %s "
             "backend cannot tell them apart.",
             r->backend[0] ? r->backend : "unknown");
    }
    if (!r->has_storage)
        note(t, "Storage-level bytes (what reached the block layer) were not available.");
    else
        note(t, "Storage rows: bytes that reached the block layer (page-cache hits read 0 B).");
}

/* ---- the per-process table: top N by bytes, with their ancestors for
 * context, drawn as a tree; everything else summed on one row. */

#define PROC_CMD_MAX   48
#define PROC_DEPTH_MAX 8

struct pnode {
    size_t row;    /* index in r->procs */
    size_t parent; /* index in the pnode array, SIZE_MAX for a root */
};

static const struct report *proc_sort_r;
static const struct pnode *proc_sort_nodes;

static int by_bytes(const void *a, const void *b)
{
    const struct proc_row *x = &proc_sort_r->procs[*(const size_t *)a];
    const struct proc_row *y = &proc_sort_r->procs[*(const size_t *)b];
    uint64_t bx = proc_row_bytes(x), by = proc_row_bytes(y);
    if (bx != by)
        return bx > by ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int by_pid(const void *a, const void *b)
{
    const struct proc_row *x = &proc_sort_r->procs[*(const size_t *)a];
    const struct proc_row *y = &proc_sort_r->procs[*(const size_t *)b];
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Tree order among the shown rows: children after their parent, siblings by
 * start time then pid. */
static int by_start(const struct proc_row *x, const struct proc_row *y)
{
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int by_parent(const void *a, const void *b)
{
    const struct pnode *x = &proc_sort_nodes[*(const size_t *)a];
    const struct pnode *y = &proc_sort_nodes[*(const size_t *)b];
    if (x->parent != y->parent) /* SIZE_MAX (a root) + 1 wraps to 0: roots first */
        return x->parent + 1 < y->parent + 1 ? -1 : 1;
    return by_start(&proc_sort_r->procs[x->row], &proc_sort_r->procs[y->row]);
}

/* Row index of the process pid (the first row with it), or SIZE_MAX. */
static size_t find_pid(const struct report *r, const size_t *sorted, pid_t pid)
{
    size_t lo = 0, hi = r->nprocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->procs[sorted[mid]].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nprocs && r->procs[sorted[lo]].pid == pid ? sorted[lo] : SIZE_MAX;
}

static void proc_cells(struct rrow *row, const struct proc_row *p, int depth)
{
    char a[RFMT_MAX], b[RFMT_MAX];
    struct buf pre;
    buf_init(&pre, 0);
    if (depth > PROC_DEPTH_MAX)
        depth = PROC_DEPTH_MAX;
    for (int i = 1; i < depth; i++)
        buf_puts(&pre, "\xc2\xa0\xc2\xa0"); /* no-break spaces survive HTML */
    if (depth > 0)
        buf_puts(&pre, "\xe2\x94\x94\xc2\xa0"); /* └ */
    char *c = clean(p->cmd ? p->cmd : "?", PROC_CMD_MAX, false);
    cell(row, 0, "%s%s", pre.data ? pre.data : "", c);
    cell(row, 1, "%ld", (long)p->pid);
    free(c);
    buf_release(&pre);
    cell(row, 2, "%s", render__seconds(a, sizeof(a), p->start));
    if (p->end >= 0)
        cell(row, 3, "%s",
             render__seconds(a, sizeof(a), p->end >= p->start ? p->end - p->start : 0));
    else
        cell(row, 3, "running");
    if (p->exited)
        cell(row, 4, "exit %d", p->exit_status);
    else if (p->term_signal) {
        const char *name = render__signame(p->term_signal);
        if (name)
            cell(row, 4, "%s", name);
        else
            cell(row, 4, "signal %d", p->term_signal);
    } else
        cell(row, 4, p->end >= 0 ? "?" : "running");
    cell(row, 5, "%s", render__count(a, sizeof(a), p->read_ops));
    cell(row, 6, "%s", render__count(a, sizeof(a), p->write_ops));
    cell(row, 7, "%s", render__bytes_short(a, sizeof(a), p->read_bytes));
    cell(row, 8, "%s", render__bytes_short(b, sizeof(b), p->write_bytes));
    if (p->has_cpu)
        cell(row, 9, "%s", render__seconds(a, sizeof(a), p->user_seconds + p->system_seconds));
    else
        cell(row, 9, "n/a");
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static void procs_table(struct rdoc *d, const struct report *r, const struct render_opts *o)
{
    char a[RFMT_MAX], b[RFMT_MAX], title[RFMT_MAX * 2];
    size_t n = r->nprocs;
    size_t top = o->top_procs && o->top_procs < n ? o->top_procs : n;
    size_t *order = xcalloc(n ? n : 1, sizeof(*order));
    size_t *pids = xcalloc(n ? n : 1, sizeof(*pids));
    size_t *node_of = xcalloc(n ? n : 1, sizeof(*node_of)); /* row -> pnode + 1, 0: hidden */
    struct pnode *nodes = xcalloc(n ? n : 1, sizeof(*nodes));
    size_t nnodes = 0;
    for (size_t i = 0; i < n; i++)
        order[i] = pids[i] = i;
    proc_sort_r = r;
    qsort(order, n, sizeof(*order), by_bytes);
    qsort(pids, n, sizeof(*pids), by_pid);

    /* The top rows and every ancestor of theirs are shown. */
    for (size_t k = 0; k < top; k++) {
        size_t i = order[k];
        for (size_t hops = 0; i != SIZE_MAX && !node_of[i] && hops < n; hops++) {
            nodes[nnodes].row = i;
            node_of[i] = ++nnodes;
            const struct proc_row *p = &r->procs[i];
            i = p->ppid != p->pid ? find_pid(r, pids, p->ppid) : SIZE_MAX;
        }
    }
    for (size_t k = 0; k < nnodes; k++) {
        const struct proc_row *p = &r->procs[nodes[k].row];
        size_t pi = p->ppid != p->pid ? find_pid(r, pids, p->ppid) : SIZE_MAX;
        nodes[k].parent = pi != SIZE_MAX && node_of[pi] ? node_of[pi] - 1 : SIZE_MAX;
    }

    size_t total = n + (size_t)(r->procs_dropped < SIZE_MAX - n ? r->procs_dropped : 0);
    if (top < total)
        snprintf(title, sizeof(title), "Top processes (%s of %s, by bytes)",
                 render__count(a, sizeof(a), top), render__count(b, sizeof(b), total));
    else
        snprintf(title, sizeof(title), "Processes (%s, by bytes)", render__count(a, sizeof(a), n));
    struct rtable *t = table_add(d, title, "lrrllrrrrr", "pid", "start", "lifetime", "status",
                                 "reads", "writes", "read bytes", "write bytes", "cpu");
    /* Depth-first from each root, siblings in start order: the nodes sorted
     * by (parent, start, pid) put each node's children in one run. */
    size_t *kids = xcalloc(nnodes ? nnodes : 1, sizeof(*kids));
    size_t *first = xcalloc(nnodes + 1, sizeof(*first)); /* run of children of parent k-1 */
    for (size_t k = 0; k < nnodes; k++)
        kids[k] = k;
    proc_sort_nodes = nodes;
    qsort(kids, nnodes, sizeof(*kids), by_parent);
    /* first[p + 1] .. first[p + 2) are the children of node p; first[0]..
     * first[1) the roots (parent SIZE_MAX sorts first as 0 after +1). */
    for (size_t k = 0, slot = 0; slot <= nnodes; slot++) {
        first[slot] = k;
        while (k < nnodes && nodes[kids[k]].parent + 1 == slot)
            k++;
    }
    size_t *stack = xcalloc(nnodes + 1, sizeof(*stack)); /* next child to print, per level */
    size_t *owner = xcalloc(nnodes + 1, sizeof(*owner)); /* node whose children, per level */
    bool *shown = xcalloc(nnodes ? nnodes : 1, sizeof(*shown));
    size_t sp = 0;
    stack[0] = first[0];
    owner[0] = SIZE_MAX;
    for (;;) {
        size_t slot = owner[sp] + 1, end = slot < nnodes ? first[slot + 1] : nnodes;
        if (stack[sp] >= end) {
            if (!sp)
                break;
            sp--;
            continue;
        }
        size_t k = kids[stack[sp]++];
        shown[k] = true;
        proc_cells(row_add(t, 0), &r->procs[nodes[k].row], (int)sp);
        sp++;
        owner[sp] = k;
        stack[sp] = first[k + 1];
    }
    for (size_t k = 0; k < nnodes; k++) /* only a cycle of parent links (pid reuse) */
        if (!shown[k])
            proc_cells(row_add(t, 0), &r->procs[nodes[k].row], 0);
    free(shown);
    free(kids);
    free(first);
    free(stack);
    free(owner);

    size_t rest = n - nnodes;
    if (rest || r->procs_dropped) {
        struct proc_row sum = {.end = 0};
        bool cpu = true;
        for (size_t i = 0; i < n; i++) {
            if (node_of[i])
                continue;
            const struct proc_row *p = &r->procs[i];
            sum.read_ops = sat_add(sum.read_ops, p->read_ops);
            sum.write_ops = sat_add(sum.write_ops, p->write_ops);
            sum.read_bytes = sat_add(sum.read_bytes, p->read_bytes);
            sum.write_bytes = sat_add(sum.write_bytes, p->write_bytes);
            sum.user_seconds += p->user_seconds;
            sum.system_seconds += p->system_seconds;
            cpu = cpu && p->has_cpu;
        }
        if (rest) {
            struct rrow *row = row_add(t, RROW_RULE | RROW_MUTED);
            cell(row, 0, "\xe2\x80\xa6 %s other process%s", render__count(a, sizeof(a), rest),
                 rest == 1 ? "" : "es");
            cell(row, 5, "%s", render__count(a, sizeof(a), sum.read_ops));
            cell(row, 6, "%s", render__count(a, sizeof(a), sum.write_ops));
            cell(row, 7, "%s", render__bytes_short(a, sizeof(a), sum.read_bytes));
            cell(row, 8, "%s", render__bytes_short(a, sizeof(a), sum.write_bytes));
            cell(row, 9, "%s",
                 cpu ? render__seconds(a, sizeof(a), sum.user_seconds + sum.system_seconds)
                     : "n/a");
        }
        if (r->procs_dropped)
            note(t,
                 "%s more processes were not recorded (the table keeps %d); their I/O is in the "
                 "totals.",
                 render__count(a, sizeof(a), r->procs_dropped), REPORT_MAX_PROCS);
    }
    note(t, "Start is after the run began; cpu is user + system time.");
    if (r->procs_inclusive)
        note(t, "A process's counters include the children it waited for (Linux adds them to "
                "the parent's): exact for the command and for orphans, which iopsd reaps.");
    free(order);
    free(pids);
    free(node_of);
    free(nodes);
}

static void kinds_table(struct rdoc *d, const struct report *r)
{
    static const char *const label[FDK__COUNT] = {
        "regular files", "block devices", "char devices (tty, /dev/null)",
        "pipes",         "sockets",       "eventfd, epoll, timerfd",
    };
    char a[RFMT_MAX];
    struct rtable *t = table_add(d, "By descriptor kind", "lrrrr", "read ops", "write ops",
                                 "read bytes", "write bytes");
    int pass_first = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < FDK__COUNT; k++) {
            bool in = (r->hist_kinds & (1u << k)) != 0;
            if (in != (pass == 0))
                continue;
            const struct io_counts *c = &r->by_kind[k];
            if (!in && !c->read_ops && !c->write_ops && !c->read_bytes && !c->write_bytes)
                continue;
            struct rrow *row = row_add(t, (pass == 1 && pass_first) ? RROW_RULE : 0);
            if (pass == 1)
                pass_first = 0;
            cell(row, 0, "%s", label[k]);
            cell(row, 1, "%s", render__count(a, sizeof(a), c->read_ops));
            cell(row, 2, "%s", render__count(a, sizeof(a), c->write_ops));
            cell(row, 3, "%s", render__bytes_short(a, sizeof(a), c->read_bytes));
            cell(row, 4, "%s", render__bytes_short(a, sizeof(a), c->write_bytes));
        }
    }
    if (!pass_first)
        note(t, "The rows set apart are not in the file totals.");
}

static void meta_table(struct rdoc *d, const struct report *r)
{
    char a[RFMT_MAX], align[RDOC_COLS + 1] = "l";
    int cols[META__COUNT], n = 0;
    for (int m = 0; m < META__COUNT && n < RDOC_COLS - 1; m++)
        if (r->meta_ops[m]) {
            cols[n++] = m;
            strcat(align, "r");
        }
    if (!n)
        return;
    struct rtable *t = table_add(d, "Metadata operations", "l");
    t->ncols = n + 1;
    memcpy(t->align, align, (size_t)n + 1);
    for (int i = 0; i < n; i++)
        t->head[i + 1] = xstrdup(meta_op_name(cols[i]));
    struct rrow *row = row_add(t, 0);
    cell(row, 0, "calls");
    for (int i = 0; i < n; i++)
        cell(row, i + 1, "%s", render__count(a, sizeof(a), r->meta_ops[cols[i]]));
}

static void files_table(struct rdoc *d, const struct report *r, const struct render_opts *o)
{
    char a[RFMT_MAX], title[RFMT_MAX * 2];
    size_t shown = r->nfiles;
    if (o->top_files && shown > o->top_files)
        shown = o->top_files;
    size_t total = r->files_total > r->nfiles ? r->files_total : r->nfiles;
    if (shown < total) {
        char b[RFMT_MAX];
        snprintf(title, sizeof(title), "Top files (%s of %s, by bytes)",
                 render__count(a, sizeof(a), shown), render__count(b, sizeof(b), total));
    } else {
        snprintf(title, sizeof(title), "Files (%s, by bytes)", render__count(a, sizeof(a), total));
    }
    struct rtable *t = table_add(d, title, "lrrrrrr", "opens", "reads", "writes", "read bytes",
                                 "write bytes", "seeks");
    for (size_t i = 0; i < shown; i++) {
        const struct file_row *f = &r->files[i];
        char *p = clean(f->path, SHOW_PATH_MAX, true);
        struct rrow *row = row_add(t, 0);
        if (f->kind == FDK_FILE)
            cell(row, 0, "%s", p);
        else
            cell(row, 0, "%s [%s]", p, fd_kind_name(f->kind));
        free(p);
        cell(row, 1, "%s", render__count(a, sizeof(a), f->opens));
        cell(row, 2, "%s", render__count(a, sizeof(a), f->read_ops));
        cell(row, 3, "%s", render__count(a, sizeof(a), f->write_ops));
        cell(row, 4, "%s", render__bytes_short(a, sizeof(a), f->read_bytes));
        cell(row, 5, "%s", render__bytes_short(a, sizeof(a), f->write_bytes));
        cell(row, 6, "%s", render__count(a, sizeof(a), f->seeks));
    }
}

static void leaked_table(struct rdoc *d, const struct report *r, const struct render_opts *o)
{
    char a[RFMT_MAX], title[RFMT_MAX];
    snprintf(title, sizeof(title), "Descriptors left open (%s)",
             render__count(a, sizeof(a), r->fds.nleaked));
    struct rtable *t = table_add(d, title, "rrll", "fd", "kind", "path");
    size_t shown = r->fds.nleaked;
    if (o->max_leaked && shown > o->max_leaked)
        shown = o->max_leaked;
    for (size_t i = 0; i < shown; i++) {
        const struct leaked_fd *l = &r->fds.leaked[i];
        struct rrow *row = row_add(t, 0);
        cell(row, 0, "pid %ld", (long)l->pid);
        cell(row, 1, "%d", l->fd);
        cell(row, 2, "%s", fd_kind_name(l->kind));
        if (l->path) {
            char *p = clean(l->path, SHOW_PATH_MAX, true);
            cell(row, 3, "%s", p);
            free(p);
        } else {
            cell(row, 3, "(unknown)");
        }
    }
    if (shown < r->fds.nleaked)
        note(t, "\xe2\x80\xa6 and %s more.", render__count(a, sizeof(a), r->fds.nleaked - shown));
}

static void unseen_table(struct rdoc *d, const struct report *r)
{
    char a[RFMT_MAX];
    struct rtable *t = table_add(d, "Not measured", "ll", NULL);
    struct rrow *row;
    if (r->unseen.io_uring_enter) {
        row = row_add(t, 0);
        cell(row, 0, "io_uring_enter");
        cell(row, 1, "%s call%s: the bytes io_uring moves are invisible to the tracer",
             render__count(a, sizeof(a), r->unseen.io_uring_enter),
             r->unseen.io_uring_enter == 1 ? "" : "s");
    }
    if (r->unseen.mmap) {
        row = row_add(t, 0);
        cell(row, 0, "mmap");
        cell(row, 1, "%s call%s: I/O through mapped memory is invisible to the tracer",
             render__count(a, sizeof(a), r->unseen.mmap), r->unseen.mmap == 1 ? "" : "s");
    }
    if (r->unseen.exit_interrupted) {
        row = row_add(t, 0);
        cell(row, 0, "exit");
        cell(row, 1, "%s call%s interrupted by the process's exit: %s bytes are unknown",
             render__count(a, sizeof(a), r->unseen.exit_interrupted),
             r->unseen.exit_interrupted == 1 ? " was" : "s were",
             r->unseen.exit_interrupted == 1 ? "its" : "their");
    }
    if (r->unseen.end_unstopped) {
        row = row_add(t, 0);
        cell(row, 0, "end");
        cell(row, 1,
             "%s task%s did not stop when the measurement ended (a parent waiting in vfork for a "
             "child that has not exec'd?): a call %s had under way then is not counted",
             render__count(a, sizeof(a), r->unseen.end_unstopped),
             r->unseen.end_unstopped == 1 ? "" : "s", r->unseen.end_unstopped == 1 ? "it" : "they");
    }
    if (r->unseen.seccomp_filters) {
        row = row_add(t, 0);
        cell(row, 0, "seccomp");
        cell(row, 1,
             "%s seccomp filter%s installed by the program: calls it denies never reach the "
             "tracer, counts may be incomplete",
             render__count(a, sizeof(a), r->unseen.seccomp_filters),
             r->unseen.seccomp_filters == 1 ? "" : "s");
    }
    if (r->unseen.undecoded) {
        row = row_add(t, 0);
        cell(row, 0, "32-bit");
        cell(row, 1, "%s call%s (socketcall, old mmap) whose I/O the tracer does not decode",
             render__count(a, sizeof(a), r->unseen.undecoded), r->unseen.undecoded == 1 ? "" : "s");
    }
}

/* Anything in the "Not measured" table (mapped programs and libraries are
 * not: they are not the user's data). */
static bool has_unseen(const struct report *r)
{
    return r->unseen.io_uring_enter || r->unseen.mmap || r->unseen.exit_interrupted ||
           r->unseen.end_unstopped || r->unseen.seccomp_filters || r->unseen.undecoded;
}

static void size_table(struct rdoc *d, const struct report *r)
{
    uint64_t max = 0;
    for (unsigned i = 0; i < HIST_SIZE_BUCKETS; i++) {
        const struct size_bucket *b = &r->size_hist[i];
        uint64_t ops = b->read_ops + b->write_ops;
        if (ops < b->read_ops)
            ops = UINT64_MAX;
        if (ops > max)
            max = ops;
    }
    if (!max)
        return;
    char a[RFMT_MAX], lo[16], hi[16];
    struct rtable *t = table_add(d, "Operation sizes", "lrrrrl", "read ops", "write ops",
                                 "read bytes", "write bytes", "");
    t->bar_col = 5;
    for (unsigned i = 0; i < HIST_SIZE_BUCKETS; i++) {
        const struct size_bucket *b = &r->size_hist[i];
        if (!b->read_ops && !b->write_ops)
            continue;
        uint64_t ops = b->read_ops + b->write_ops;
        if (ops < b->read_ops)
            ops = UINT64_MAX;
        struct rrow *row = row_add(t, 0);
        if (i == 0)
            cell(row, 0, "0 B (empty)");
        else {
            render__size_label(lo, sizeof(lo), i);
            if (i >= 64)
                snprintf(hi, sizeof(hi), "16E");
            else
                render__size_label(hi, sizeof(hi), i + 1);
            cell(row, 0, "%s\xe2\x80\x93%s", lo, hi);
        }
        cell(row, 1, "%s", render__count(a, sizeof(a), b->read_ops));
        cell(row, 2, "%s", render__count(a, sizeof(a), b->write_ops));
        cell(row, 3, "%s", render__bytes_short(a, sizeof(a), b->read_bytes));
        cell(row, 4, "%s", render__bytes_short(a, sizeof(a), b->write_bytes));
        row->bar = (double)ops / (double)max;
    }
    note(t, "Sizes are per call, in power-of-two buckets [low, high); the bar is read + write "
            "operations.");
}

static void latency_table(struct rdoc *d, const struct report *r)
{
    uint64_t max = 0;
    for (unsigned i = 0; i < HIST_LAT_BUCKETS; i++) {
        uint64_t ops = r->lat_hist[i].read_ops + r->lat_hist[i].write_ops;
        if (ops < r->lat_hist[i].read_ops)
            ops = UINT64_MAX;
        if (ops > max)
            max = ops;
    }
    if (!max)
        return;
    char a[RFMT_MAX], lo[24], hi[24];
    struct rtable *t = table_add(d, "Latency", "lrrl", "read calls", "write calls", "");
    t->bar_col = 3;
    for (unsigned i = 0; i < HIST_LAT_BUCKETS; i++) {
        const struct lat_bucket *b = &r->lat_hist[i];
        if (!b->read_ops && !b->write_ops)
            continue;
        uint64_t ops = b->read_ops + b->write_ops;
        if (ops < b->read_ops)
            ops = UINT64_MAX;
        struct rrow *row = row_add(t, 0);
        render__lat_label(lo, sizeof(lo), i, false);
        if (i + 1 >= HIST_LAT_BUCKETS)
            cell(row, 0, "\xe2\x89\xa5 %s", lo);
        else
            cell(row, 0, "%s\xe2\x80\x93%s", lo, render__lat_label(hi, sizeof(hi), i + 1, false));
        cell(row, 1, "%s", render__count(a, sizeof(a), b->read_ops));
        cell(row, 2, "%s", render__count(a, sizeof(a), b->write_ops));
        row->bar = (double)ops / (double)max;
    }
    note(t, "Time per read or write call, in power-of-two buckets of nanoseconds.");
}

/* What the rules found (measure/findings.c), most severe first. */
static void findings_table(struct rdoc *d, const struct report *r)
{
    char title[64];
    snprintf(title, sizeof(title), "Findings (%zu)", r->nfindings);
    struct rtable *t = table_add(d, title, "ll", "");
    for (size_t i = 0; i < r->nfindings; i++) {
        const struct finding *f = &r->findings[i];
        unsigned flags = f->severity == FSEV_CRITICAL  ? RROW_CRIT
                         : f->severity == FSEV_WARNING ? RROW_WARN
                                                       : 0;
        char *what = clean(f->what, 400, false), *fix = clean(f->fix, 400, false);
        struct rrow *row = row_add(t, flags | (i ? RROW_RULE : 0));
        cell(row, 0, "%s", finding_severity_name(f->severity));
        cell(row, 1, "%s", what);
        row = row_add(t, RROW_MUTED);
        cell(row, 0, "%s", f->rule);
        cell(row, 1, "%s", fix);
        free(what);
        free(fix);
    }
}

void render__doc_build(struct rdoc *d, const struct report *r, const struct render_opts *o)
{
    char title[128];
    memset(d, 0, sizeof(*d));
    char backend[sizeof(r->backend) + 1];
    snprintf(backend, sizeof(backend), "%s", r->backend);
    char *b = clean(backend[0] ? backend : "unknown", 16, false);
    snprintf(title, sizeof(title), "iopsd report \xc2\xb7 %s backend", b);
    free(b);
    d->title = xstrdup(title);

    if (r->nfindings)
        findings_table(d, r);
    identity(d, r);
    io_table(d, r);
    if (r->has_procs && (r->nprocs || r->procs_dropped))
        procs_table(d, r, o);
    if (r->detailed) {
        kinds_table(d, r);
        meta_table(d, r);
        if (r->nfiles)
            files_table(d, r, o);
    }
    if (!r->fds.sampled && r->fds.nleaked)
        leaked_table(d, r, o);
    if (r->detailed && has_unseen(r))
        unseen_table(d, r);
    if (r->detailed && o->histograms) {
        size_table(d, r);
        if (r->has_latency)
            latency_table(d, r);
    }
    if (r->timeline)
        render__timeline_tables(d, r);
}

/* ---- for the sections built in other files (doc_timeline.c) ---- */

struct rtable *render__doc_table(struct rdoc *d, const char *title, const char *align,
                                 const char *const *heads)
{
    struct rtable *t = table_add(d, title, "l");
    t->ncols = (int)strlen(align);
    if (t->ncols > RDOC_COLS)
        t->ncols = RDOC_COLS;
    memcpy(t->align, align, (size_t)t->ncols);
    for (int i = 1; heads && i < t->ncols; i++)
        t->head[i] = heads[i - 1] ? xstrdup(heads[i - 1]) : NULL;
    return t;
}

struct rrow *render__doc_row(struct rtable *t, unsigned flags)
{
    return row_add(t, flags);
}

void render__doc_cell(struct rrow *row, int i, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    cell(row, i, "%s", tmp);
}

void render__doc_note(struct rtable *t, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    note(t, "%s", tmp);
}

char *render__doc_clean(const char *s, size_t maxw)
{
    return clean(s, maxw, false);
}

void render__doc_release(struct rdoc *d)
{
    for (size_t i = 0; i < d->ntables; i++) {
        struct rtable *t = d->tables[i];
        free(t->title);
        for (int c = 0; c < RDOC_COLS; c++)
            free(t->head[c]);
        for (size_t j = 0; j < t->nrows; j++)
            for (int c = 0; c < RDOC_COLS; c++)
                free(t->rows[j].cell[c]);
        free(t->rows);
        for (size_t j = 0; j < t->nnotes; j++)
            free(t->notes[j]);
        free(t->notes);
        free(t);
    }
    free(d->tables);
    free(d->title);
    memset(d, 0, sizeof(*d));
}
