/* kernel_iops: %iops across cells (`auto`, `start` / `pause` / `resume` /
 * `status` / `stop`, `history`), shared by every kernel: the native kernel
 * (kernel_core.c) and the wrap kernel's relay (engine_relay.c) each keep one
 * struct kiops and give it their measured cells and control lines; what it
 * shows goes out through the caller's struct kiops_out. */
#ifndef IOPSD_KERNEL_IOPS_H
#define IOPSD_KERNEL_IOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "magics/magic.h"
#include "measure/report.h"

/* One measured cell of this session (`%iops history`). */
struct kiops_row {
    int count;
    char *first_line;
    double wall;
    uint64_t ops, bytes;
    char *finding; /* the most severe finding's rule, or NULL */
};

/* %iops across cells. */
struct kiops {
    bool auto_on;
    bool span_on, span_paused;
    struct magic span_opts; /* the options `%iops start` was given */
    struct report span;     /* the cells measured since start, summed */
    size_t span_cells;
    struct kiops_row *rows;
    size_t nrows, rows_cap;
};

/* Where a control line's output goes (the cell that holds it). */
struct kiops_out {
    void *ctx;
    /* text on the cell's stdout */
    void (*stream)(void *ctx, const char *text);
    /* a display_data message's content (stolen) */
    void (*display)(void *ctx, json_t *content);
    /* the process whose working directory relative `history` paths are
     * resolved in (0: iopsd's own) */
    pid_t root;
};

/* Should a cell without a magic be measured (auto, or a running start)?
 * Fills m (magic_init()ed) with the options to measure it with. */
bool kiops_plain_cell(struct kiops *s, struct magic *m, bool *auto_cell, bool *span_only);
/* A measured cell's finished report: history, and the running start. */
void kiops_measured(struct kiops *s, int count, const char *code, const struct report *rep);
/* Runs a control magic; returns 0, or -1 with a one-line reason in err. */
int kiops_control(struct kiops *s, const struct kiops_out *out, const struct magic *m, char *err,
                  size_t errlen);
void kiops_release(struct kiops *s);

#endif
