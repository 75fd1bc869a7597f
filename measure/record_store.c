/* record_store: a recording in a file: an SQLite database with Procpath's
 * tables (`record`, `meta`) or JSON Lines (a {"meta": {...}} line, then one
 * object per row), written sample by sample and read back whole. */
#include "measure/record.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rec_writer {
    sqlite3 *db;       /* SQLite, or */
    sqlite3_stmt *ins; /* its insert */
    int fd;            /* JSON Lines (-1 with SQLite) */
    int64_t next_id;
    struct buf line;
};

bool rec_path_is_sqlite(const char *path)
{
    size_t n = strlen(path);
    return n >= 7 && !strcmp(path + n - 7, ".sqlite");
}

static int db_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -EIO;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(db, sql, err, errlen);
}

static int open_sqlite(struct rec_writer *w, const char *path, const struct rec_meta *meta,
                       char *err, size_t errlen)
{
    struct stat st;
    /* a new database each time; an old one (and its journal) is replaced */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        return -errno;
    }
    char journal[4096];
    snprintf(journal, sizeof(journal), "%s-journal", path);
    unlink(journal);
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot create %s: %s", path,
                 w->db ? sqlite3_errmsg(w->db) : "out of memory");
        return -EIO;
    }
    /* a reader polling the file waits instead of failing, and so do we */
    sqlite3_busy_timeout(w->db, 5000);
    /* the recording survives iopsd being killed (one transaction per
     * sample), not a power cut: no fsync on the sampling path */
    int rc = exec(w->db, "PRAGMA synchronous = OFF", err, errlen);
    struct buf sql;
    buf_init(&sql, 0);
    buf_puts(&sql, "CREATE TABLE record (record_id INTEGER PRIMARY KEY NOT NULL, ts REAL NOT NULL");
    for (const struct rec_column *c = rec_columns + 2; c->name; c++)
        buf_printf(&sql, ", %s %s", c->name, c->type == REC_TEXT ? "TEXT" : "INTEGER");
    buf_puts(&sql, ")");
    if (rc == 0)
        rc = exec(w->db, sql.data, err, errlen);
    if (rc == 0)
        rc = exec(w->db, "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
                  err, errlen);
    sqlite3_stmt *m = NULL;
    if (rc == 0 && sqlite3_prepare_v2(w->db, "INSERT INTO meta (key, value) VALUES (?, ?)", -1, &m,
                                      NULL) != SQLITE_OK)
        rc = db_fail(w->db, "meta", err, errlen);
    for (size_t i = 0; rc == 0 && i < meta->n; i++) {
        sqlite3_bind_text(m, 1, meta->key[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(m, 2, meta->value[i], -1, SQLITE_STATIC);
        if (sqlite3_step(m) != SQLITE_DONE)
            rc = db_fail(w->db, "meta", err, errlen);
        sqlite3_reset(m);
    }
    sqlite3_finalize(m);
    buf_reset(&sql);
    buf_puts(&sql, "INSERT INTO record (");
    for (const struct rec_column *c = rec_columns; c->name; c++)
        buf_printf(&sql, "%s%s", c == rec_columns ? "" : ", ", c->name);
    buf_puts(&sql, ") VALUES (");
    for (size_t i = 0; i < rec_ncolumns; i++)
        buf_puts(&sql, i ? ", ?" : "?");
    buf_puts(&sql, ")");
    if (rc == 0 && sqlite3_prepare_v2(w->db, sql.data, -1, &w->ins, NULL) != SQLITE_OK)
        rc = db_fail(w->db, "insert", err, errlen);
    buf_release(&sql);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int rec_writer_open(struct rec_writer **wp, const char *path, const struct rec_meta *meta,
                    char *err, size_t errlen)
{
    struct rec_writer *w = xcalloc(1, sizeof(*w));
    int rc;
    w->fd = -1;
    w->next_id = 1;
    buf_init(&w->line, 0);
    if (rec_path_is_sqlite(path))
        rc = open_sqlite(w, path, meta, err, errlen);
    else {
        w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->fd < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        } else {
            rec_meta_to_jsonl(meta, &w->line);
            rc = write_all(w->fd, w->line.data, w->line.len);
            if (rc < 0)
                snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        }
    }
    if (rc < 0) {
        rec_writer_close(w, NULL, 0);
        return rc;
    }
    *wp = w;
    return 0;
}

static int add_sqlite(struct rec_writer *w, const struct rec_row *rows, size_t n, char *err,
                      size_t errlen)
{
    int rc = exec(w->db, "BEGIN", err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct rec_row *r = &rows[i];
        int k = 1;
        for (const struct rec_column *c = rec_columns; c->name; c++, k++) {
            const char *p = (const char *)r + c->off;
            bool has = c->source == REC_SRC_IO   ? r->has_io
                       : c->source == REC_SRC_FD ? r->has_fd
                                                 : true;
            if (!has)
                sqlite3_bind_null(w->ins, k);
            else if (c->type == REC_INT) {
                int64_t x;
                memcpy(&x, p, sizeof(x));
                sqlite3_bind_int64(w->ins, k, x);
            } else if (c->type == REC_REAL) {
                double x;
                memcpy(&x, p, sizeof(x));
                sqlite3_bind_double(w->ins, k, x);
            } else
                sqlite3_bind_text(w->ins, k, p, (int)strnlen(p, c->size), SQLITE_TRANSIENT);
        }
        if (sqlite3_step(w->ins) != SQLITE_DONE)
            rc = db_fail(w->db, "insert", err, errlen);
        sqlite3_reset(w->ins);
    }
    if (rc == 0)
        return exec(w->db, "COMMIT", err, errlen);
    sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int rec_writer_add(struct rec_writer *w, struct rec_row *rows, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        rows[i].record_id = w->next_id++;
    if (w->db)
        return add_sqlite(w, rows, n, err, errlen);
    buf_reset(&w->line);
    for (size_t i = 0; i < n; i++)
        rec_row_to_jsonl(&rows[i], &w->line);
    int rc = write_all(w->fd, w->line.data ? w->line.data : "", w->line.len);
    if (rc < 0)
        snprintf(err, errlen, "write: %s", strerror(-rc));
    return rc;
}

int rec_writer_close(struct rec_writer *w, char *err, size_t errlen)
{
    if (!w)
        return 0;
    int rc = 0;
    if (w->ins)
        sqlite3_finalize(w->ins);
    if (w->db && sqlite3_close(w->db) != SQLITE_OK) {
        rc = -EIO;
        if (err)
            snprintf(err, errlen, "closing the database failed");
    }
    if (w->fd >= 0 && close(w->fd) != 0) {
        rc = -errno;
        if (err)
            snprintf(err, errlen, "close: %s", strerror(errno));
    }
    buf_release(&w->line);
    free(w);
    return rc;
}

void rec_data_init(struct rec_data *d)
{
    memset(d, 0, sizeof(*d));
    rec_meta_init(&d->meta);
}

void rec_data_release(struct rec_data *d)
{
    free(d->rows);
    rec_meta_release(&d->meta);
    memset(d, 0, sizeof(*d));
}

static struct rec_row *new_row(struct rec_data *d)
{
    if (d->n >= REC_MAX_ROWS)
        return NULL;
    d->rows = xgrow(d->rows, &d->cap, d->n + 1, sizeof(*d->rows));
    return &d->rows[d->n++];
}

static int read_sqlite(const char *path, struct rec_data *d, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        rc = -EIO;
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            const char *v = (const char *)sqlite3_column_text(st, 1);
            if (k && v)
                rec_meta_set(&d->meta, k, v);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (sqlite3_prepare_v2(db, "SELECT * FROM record ORDER BY record_id", -1, &st, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "%s: not a recording (%s)", path, sqlite3_errmsg(db));
        rc = -EBADMSG;
        goto out;
    }
    int ncol = sqlite3_column_count(st);
    const struct rec_column **map = xcalloc((size_t)ncol + 1, sizeof(*map));
    unsigned have_io = 0, have_fd = 0, have_req = 0;
    for (int i = 0; i < ncol; i++) {
        const char *name = sqlite3_column_name(st, i);
        map[i] = name ? rec_column_find(name, strlen(name)) : NULL;
        if (!map[i])
            continue;
        have_io += map[i]->source == REC_SRC_IO;
        have_fd += map[i]->source == REC_SRC_FD;
        have_req += !strcmp(name, "record_id") || !strcmp(name, "ts") || !strcmp(name, "stat_pid");
    }
    if (have_req != 3) {
        snprintf(err, errlen, "%s: the record table has no record_id, ts or stat_pid", path);
        rc = -EBADMSG;
    }
    d->has_io = have_io == 7;
    d->has_fd = have_fd == 8;
    int step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct rec_row *r = new_row(d);
        if (!r) {
            snprintf(err, errlen, "%s: more than %d rows", path, REC_MAX_ROWS);
            rc = -EFBIG;
            break;
        }
        memset(r, 0, sizeof(*r));
        unsigned io = 0, fd = 0;
        for (int i = 0; i < ncol; i++) {
            const struct rec_column *c = map[i];
            if (!c)
                continue;
            char *p = (char *)r + c->off;
            if (sqlite3_column_type(st, i) == SQLITE_NULL) {
                if (c->source == REC_SRC_NONE || !strcmp(c->name, "stat_pid")) {
                    snprintf(err, errlen, "%s: row %zu: %s is NULL", path, d->n, c->name);
                    rc = -EBADMSG;
                }
                continue;
            }
            if (c->type == REC_TEXT) {
                const char *s = (const char *)sqlite3_column_text(st, i);
                snprintf(p, c->size, "%s", s ? s : "");
            } else if (c->type == REC_REAL) {
                double x = sqlite3_column_double(st, i);
                memcpy(p, &x, sizeof(x));
            } else {
                int64_t x = sqlite3_column_int64(st, i);
                memcpy(p, &x, sizeof(x));
            }
            io += c->source == REC_SRC_IO;
            fd += c->source == REC_SRC_FD;
        }
        r->has_io = io == 7;
        r->has_fd = fd == 8;
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        rc = -EIO;
    }
    free(map);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int read_jsonl(const char *path, struct rec_data *d, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char *line = xmalloc(REC_MAX_LINE + 2);
    char why[256];
    int rc = 0;
    size_t lineno = 0;
    while (fgets(line, REC_MAX_LINE + 2, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n')
            len--;
        else if (len > REC_MAX_LINE) {
            snprintf(err, errlen, "%s: line %zu: longer than 64 KiB", path, lineno);
            rc = -EBADMSG;
            break;
        }
        if (len == 0)
            continue;
        struct rec_row row;
        bool is_meta;
        if (rec_parse_jsonl(line, len, &row, &is_meta, &d->meta, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: line %zu: %s", path, lineno, why);
            rc = -EBADMSG;
            break;
        }
        if (is_meta)
            continue;
        struct rec_row *r = new_row(d);
        if (!r) {
            snprintf(err, errlen, "%s: more than %d rows", path, REC_MAX_ROWS);
            rc = -EFBIG;
            break;
        }
        *r = row;
        d->has_io |= row.has_io;
        d->has_fd |= row.has_fd;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -EIO;
    }
    free(line);
    fclose(f);
    return rc;
}

static int by_record_id(const void *a, const void *b)
{
    const struct rec_row *x = a, *y = b;
    return (x->record_id > y->record_id) - (x->record_id < y->record_id);
}

int rec_read(const char *path, struct rec_data *d, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory", path);
        return -EISDIR;
    }
    int rc = rec_path_is_sqlite(path) ? read_sqlite(path, d, err, errlen)
                                      : read_jsonl(path, d, err, errlen);
    if (rc == 0 && d->n > 1)
        qsort(d->rows, d->n, sizeof(*d->rows), by_record_id);
    return rc;
}
