/* record: the recording's columns, metadata, and its JSON Lines form. */
#include "measure/record.h"
#include "util/xalloc.h"
#include "version.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define COL(n, t, f, src)                                                                          \
    {                                                                                              \
        n, t, offsetof(struct rec_row, f), sizeof(((struct rec_row *)0)->f), src                   \
    }

const struct rec_column rec_columns[] = {
    COL("record_id", REC_INT, record_id, REC_SRC_NONE),
    COL("ts", REC_REAL, ts, REC_SRC_NONE),
    COL("stat_pid", REC_INT, pid, REC_SRC_STAT),
    COL("stat_comm", REC_TEXT, comm, REC_SRC_STAT),
    COL("stat_state", REC_TEXT, state, REC_SRC_STAT),
    COL("stat_ppid", REC_INT, ppid, REC_SRC_STAT),
    COL("stat_utime", REC_INT, utime, REC_SRC_STAT),
    COL("stat_stime", REC_INT, stime, REC_SRC_STAT),
    COL("stat_num_threads", REC_INT, num_threads, REC_SRC_STAT),
    COL("stat_rss", REC_INT, rss, REC_SRC_STAT),
    COL("stat_delayacct_blkio_ticks", REC_INT, delayacct_blkio_ticks, REC_SRC_STAT),
    COL("io_rchar", REC_INT, rchar, REC_SRC_IO),
    COL("io_wchar", REC_INT, wchar, REC_SRC_IO),
    COL("io_syscr", REC_INT, syscr, REC_SRC_IO),
    COL("io_syscw", REC_INT, syscw, REC_SRC_IO),
    COL("io_read_bytes", REC_INT, read_bytes, REC_SRC_IO),
    COL("io_write_bytes", REC_INT, write_bytes, REC_SRC_IO),
    COL("io_cancelled_write_bytes", REC_INT, cancelled_write_bytes, REC_SRC_IO),
    COL("fd_anon", REC_INT, fd_anon, REC_SRC_FD),
    COL("fd_dir", REC_INT, fd_dir, REC_SRC_FD),
    COL("fd_chr", REC_INT, fd_chr, REC_SRC_FD),
    COL("fd_blk", REC_INT, fd_blk, REC_SRC_FD),
    COL("fd_reg", REC_INT, fd_reg, REC_SRC_FD),
    COL("fd_fifo", REC_INT, fd_fifo, REC_SRC_FD),
    COL("fd_lnk", REC_INT, fd_lnk, REC_SRC_FD),
    COL("fd_sock", REC_INT, fd_sock, REC_SRC_FD),
    {NULL, REC_INT, 0, 0, REC_SRC_NONE},
};
const size_t rec_ncolumns = sizeof(rec_columns) / sizeof(rec_columns[0]) - 1;

const struct rec_column *rec_column_find(const char *name, size_t len)
{
    for (const struct rec_column *c = rec_columns; c->name; c++)
        if (strlen(c->name) == len && !memcmp(c->name, name, len))
            return c;
    return NULL;
}

void rec_meta_init(struct rec_meta *m)
{
    memset(m, 0, sizeof(*m));
}

void rec_meta_release(struct rec_meta *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->key[i]);
        free(m->value[i]);
    }
    free(m->key);
    free(m->value);
    memset(m, 0, sizeof(*m));
}

void rec_meta_set(struct rec_meta *m, const char *key, const char *value)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key)) {
            free(m->value[i]);
            m->value[i] = xstrdup(value);
            return;
        }
    if (m->n == m->cap) {
        size_t cap = m->cap;
        m->key = xgrow(m->key, &cap, m->n + 1, sizeof(*m->key));
        m->value = xrealloc(m->value, cap * sizeof(*m->value));
        m->cap = cap;
    }
    m->key[m->n] = xstrdup(key);
    m->value[m->n] = xstrdup(value);
    m->n++;
}

const char *rec_meta_get(const struct rec_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key))
            return m->value[i];
    return NULL;
}

static void meta_long(struct rec_meta *m, const char *key, long v)
{
    char s[32];
    snprintf(s, sizeof(s), "%ld", v);
    rec_meta_set(m, key, s);
}

void rec_meta_host(struct rec_meta *m)
{
    struct utsname u;
    meta_long(m, "page_size", sysconf(_SC_PAGESIZE));
    meta_long(m, "clock_ticks", sysconf(_SC_CLK_TCK));
    meta_long(m, "cpu_count", sysconf(_SC_NPROCESSORS_ONLN));
    meta_long(m, "physical_pages", sysconf(_SC_PHYS_PAGES));
    if (uname(&u) == 0) {
        char s[sizeof(u.sysname) + sizeof(u.release) + sizeof(u.machine) + 8];
        rec_meta_set(m, "platform_node", u.nodename);
        snprintf(s, sizeof(s), "%s-%s-%s", u.sysname, u.release, u.machine);
        rec_meta_set(m, "platform_platform", s);
    }
    rec_meta_set(m, "procfile_list", "stat,io,fd");
    rec_meta_set(m, "procfs", "/proc");
    rec_meta_set(m, "procfs_target", "process");
    rec_meta_set(m, "version", IOPSD_VERSION);
}

static bool row_has(const struct rec_row *r, enum rec_source s)
{
    return s == REC_SRC_IO ? r->has_io : s == REC_SRC_FD ? r->has_fd : true;
}

int rec_row_to_jsonl(const struct rec_row *r, struct buf *out)
{
    json_t *o = json_object();
    for (const struct rec_column *c = rec_columns; c->name; c++) {
        const char *p = (const char *)r + c->off;
        json_t *v;
        if (!row_has(r, c->source))
            v = json_null();
        else if (c->type == REC_INT) {
            int64_t x;
            memcpy(&x, p, sizeof(x));
            v = json_integer(x);
        } else if (c->type == REC_REAL) {
            double x;
            memcpy(&x, p, sizeof(x));
            v = json_real(x);
        } else {
            size_t n = strnlen(p, c->size);
            v = json_stringn(p, n); /* NULL: not UTF-8 */
            if (!v) {
                char s[64];
                n = n < sizeof(s) ? n : sizeof(s) - 1;
                for (size_t i = 0; i < n; i++)
                    s[i] = (unsigned char)p[i] < 0x80 ? p[i] : '?';
                v = json_stringn(s, n);
            }
        }
        json_object_set_new(o, c->name, v ? v : json_null());
    }
    return rec_put_json_line(o, JSON_REAL_PRECISION(17), out);
}

int rec_meta_to_jsonl(const struct rec_meta *m, struct buf *out)
{
    json_t *o = json_object(), *mo = json_object();
    for (size_t i = 0; i < m->n; i++) {
        json_t *v = json_string(m->value[i]);
        json_object_set_new(mo, m->key[i], v ? v : json_null());
    }
    json_object_set_new(o, "meta", mo);
    return rec_put_json_line(o, 0, out);
}

int rec_put_json_line(json_t *o, size_t extra_flags, struct buf *out)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | extra_flags);
    json_decref(o);
    if (!s)
        return -ENOMEM;
    int rc = buf_puts(out, s);
    if (rc == 0)
        rc = buf_puts(out, "\n");
    free(s);
    return rc;
}

static int fail(char *err, size_t errlen, const char *what, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s", arg ? arg : "", what);
    return -EBADMSG;
}

static int parse_meta(json_t *mo, struct rec_meta *meta, char *err, size_t errlen)
{
    if (!json_is_object(mo))
        return fail(err, errlen, "\"meta\" is not an object", NULL);
    const char *k;
    json_t *v;
    json_object_foreach(mo, k, v)
    {
        char s[64];
        const char *val;
        if (json_is_string(v))
            val = json_string_value(v);
        else if (json_is_integer(v)) {
            snprintf(s, sizeof(s), "%lld", (long long)json_integer_value(v));
            val = s;
        } else if (json_is_real(v)) {
            snprintf(s, sizeof(s), "%.17g", json_real_value(v));
            val = s;
        } else
            continue;
        if (meta)
            rec_meta_set(meta, k, val);
    }
    return 0;
}

int rec_parse_jsonl(const char *line, size_t len, struct rec_row *row, bool *is_meta,
                    struct rec_meta *meta, char *err, size_t errlen)
{
    memset(row, 0, sizeof(*row));
    *is_meta = false;
    if (len > REC_MAX_LINE)
        return fail(err, errlen, "line longer than 64 KiB", NULL);
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return fail(err, errlen, je.text, "not JSON: ");
    int rc = 0;
    if (!json_is_object(o)) {
        rc = fail(err, errlen, "not a JSON object", NULL);
        goto out;
    }
    json_t *mo = json_object_get(o, "meta");
    if (mo) {
        *is_meta = true;
        rc = parse_meta(mo, meta, err, errlen);
        goto out;
    }
    unsigned seen_io = 0, seen_fd = 0;
    bool have_id = false, have_ts = false, have_pid = false;
    for (const struct rec_column *c = rec_columns; c->name; c++) {
        json_t *v = json_object_get(o, c->name);
        char *p = (char *)row + c->off;
        if (!v)
            continue;
        if (json_is_null(v) && (c->source == REC_SRC_IO || c->source == REC_SRC_FD))
            continue; /* not read for this row */
        if (c->type == REC_TEXT) {
            if (!json_is_string(v)) {
                rc = fail(err, errlen, " is not a string", c->name);
                goto out;
            }
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            if (n > c->size - 1)
                n = c->size - 1;
            memcpy(p, s, n);
            p[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if (p[i] == '\0')
                    p[i] = '?';
        } else if (c->type == REC_REAL) {
            if (!json_is_number(v)) {
                rc = fail(err, errlen, " is not a number", c->name);
                goto out;
            }
            double x = json_number_value(v);
            memcpy(p, &x, sizeof(x));
        } else {
            if (!json_is_integer(v)) {
                rc = fail(err, errlen, " is not an integer", c->name);
                goto out;
            }
            int64_t x = (int64_t)json_integer_value(v);
            memcpy(p, &x, sizeof(x));
        }
        if (c->source == REC_SRC_IO)
            seen_io++;
        if (c->source == REC_SRC_FD)
            seen_fd++;
        if (!strcmp(c->name, "record_id"))
            have_id = true;
        else if (!strcmp(c->name, "ts"))
            have_ts = true;
        else if (!strcmp(c->name, "stat_pid"))
            have_pid = true;
    }
    if (!have_id || !have_ts || !have_pid) {
        rc = fail(err, errlen, "record_id, ts and stat_pid are required", NULL);
        goto out;
    }
    if ((seen_io && seen_io != 7) || (seen_fd && seen_fd != 8)) {
        rc = fail(err, errlen, "the io or fd columns are incomplete", NULL);
        goto out;
    }
    row->has_io = seen_io == 7;
    row->has_fd = seen_fd == 8;
out:
    json_decref(o);
    return rc;
}
