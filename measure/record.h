/* record: a process tree recorded over time (`iopsd record`), in Procpath's
 * layout: one row per process per sample, flat columns named
 * <source>_<field> beside `record_id` and `ts`, plus key/value metadata.
 *
 * One column table (rec_columns) drives everything that names a column: the
 * SQLite schema and inserts, the JSON Lines writer and reader, the docs. The
 * row keeps raw values (pages, clock ticks, cumulative counters); rates are
 * computed by readers (record_series.c, or SQL over the database). */
#ifndef IOPSD_RECORD_H
#define IOPSD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* What was read for one row: stat always; io and fd when readable. */
enum rec_source { REC_SRC_NONE, REC_SRC_STAT, REC_SRC_IO, REC_SRC_FD };

struct rec_row {
    int64_t record_id; /* 1, 2, ... over the whole recording */
    double ts;         /* seconds since the Unix epoch, the same for every row of a sample */
    int64_t pid, ppid;
    char state[4]; /* one letter */
    char comm[64]; /* the kernel's name (15 bytes), cut to fit */
    int64_t utime, stime, num_threads, rss, delayacct_blkio_ticks;
    bool has_io, has_fd; /* the io / fd columns hold values (else NULL) */
    int64_t rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes;
    int64_t fd_anon, fd_dir, fd_chr, fd_blk, fd_reg, fd_fifo, fd_lnk, fd_sock;
};

enum rec_coltype { REC_INT, REC_REAL, REC_TEXT };

struct rec_column {
    const char *name;      /* "stat_pid" */
    enum rec_coltype type; /* REC_TEXT: a char array of `size` bytes */
    size_t off, size;      /* in struct rec_row */
    enum rec_source source;
};

/* Every column, record_id and ts first; terminated by a NULL name. */
extern const struct rec_column rec_columns[];
extern const size_t rec_ncolumns;
/* The column called name, or NULL. */
const struct rec_column *rec_column_find(const char *name, size_t len);

/* Metadata: page size, clock ticks, platform, interval... in the order
 * written. Keys and values are owned strings. */
struct rec_meta {
    char **key, **value;
    size_t n, cap;
};
void rec_meta_init(struct rec_meta *m);
void rec_meta_release(struct rec_meta *m);
/* Adds or replaces key (copies both). */
void rec_meta_set(struct rec_meta *m, const char *key, const char *value);
/* The value of key, or NULL. */
const char *rec_meta_get(const struct rec_meta *m, const char *key);
/* Fills m with this machine's: page_size, clock_ticks, cpu_count,
 * physical_pages, platform_node, platform_platform, procfile_list, version. */
void rec_meta_host(struct rec_meta *m);

/* A JSON Lines line (no newline) is at most this long. */
#define REC_MAX_LINE 65536

/* Appends the row as one JSON object and a newline (NULL for io or fd columns
 * that were not read). Returns 0 or -E2BIG. */
int rec_row_to_jsonl(const struct rec_row *r, struct buf *out);
/* Appends {"meta": {...}} and a newline. */
int rec_meta_to_jsonl(const struct rec_meta *m, struct buf *out);

/* Appends o as compact JSON (keys in insertion order, plus extra_flags: the
 * jansson dump flags such as JSON_REAL_PRECISION(17)) and a newline, then
 * drops the reference to o. Returns 0, -ENOMEM, or what buf_puts says. */
struct json_t;
int rec_put_json_line(struct json_t *o, size_t extra_flags, struct buf *out);

/* Parses one line of a recording's JSON Lines (no newline needed): a row
 * (*is_meta false; unknown keys ignored, record_id, ts and stat_pid
 * required, io or fd columns all present or none) or the meta line (*is_meta
 * true; its string, integer and real values go into meta, which may be NULL).
 * Returns 0, or -EBADMSG with a reason in err. Lines longer than
 * REC_MAX_LINE are refused. */
int rec_parse_jsonl(const char *line, size_t len, struct rec_row *row, bool *is_meta,
                    struct rec_meta *meta, char *err, size_t errlen);

/* ---- storage (record_store.c): FILE ending in ".sqlite" is an SQLite
 * database (tables `record` and `meta`), anything else JSON Lines. */
bool rec_path_is_sqlite(const char *path);

struct rec_writer;
/* Creates path (replacing a file already there) and writes the metadata.
 * Returns 0 or -errno with a reason in err. */
int rec_writer_open(struct rec_writer **w, const char *path, const struct rec_meta *meta, char *err,
                    size_t errlen);
/* Writes one sample's rows (one transaction, durable in the file when this
 * returns: a reader may watch the recording grow). Assigns record_id. */
int rec_writer_add(struct rec_writer *w, struct rec_row *rows, size_t n, char *err, size_t errlen);
/* Finishes the file and frees w (NULL is fine). Returns 0 or -errno. */
int rec_writer_close(struct rec_writer *w, char *err, size_t errlen);

/* A recording read back: rows in record_id order. */
struct rec_data {
    struct rec_row *rows;
    size_t n, cap;
    struct rec_meta meta;
    bool has_io, has_fd; /* the file has those columns (some row may still lack values) */
};
/* Reading stops at this many rows (-EFBIG). */
#define REC_MAX_ROWS 2000000
void rec_data_init(struct rec_data *d);
void rec_data_release(struct rec_data *d);
/* Reads path (SQLite or JSON Lines by its name) into d. Returns 0 or -errno
 * with one line saying why in err ("line 3: ..." for JSON Lines). */
int rec_read(const char *path, struct rec_data *d, char *err, size_t errlen);

#endif
