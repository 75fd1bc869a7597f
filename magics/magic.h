/* magic: the `%%iops` cell magic and `%iops` line magic. A magic line is
 * parsed like a command line (quotes, `--`, short and long options); unknown
 * options are an error that carries the usage text. */
#ifndef IOPSD_MAGIC_H
#define IOPSD_MAGIC_H

#include <stdbool.h>
#include <stddef.h>

#include "measure/findings.h"
#include "measure/timeline.h"

/* Longest magic line accepted; longer ones are an error, not truncated. */
#define MAGIC_MAX_LINE 4096
#define MAGIC_MAX_ARGS 64
/* Longest --json path. */
#define MAGIC_MAX_PATH 4096

enum magic_kind {
    MAGIC_NONE,    /* the cell has no magic */
    MAGIC_CELL,    /* %%iops on the first line: measure the whole cell */
    MAGIC_LINE,    /* %iops STATEMENT on one line: measure that line */
    MAGIC_CONTROL, /* %iops auto|start|pause|resume|status|stop|history: no code measured */
};

enum magic_control {
    MC_AUTO_ON, /* every following cell measured (proc), a one-line summary under it */
    MC_AUTO_OFF,
    MC_START, /* one measurement spanning the following cells (options as %%iops) */
    MC_PAUSE,
    MC_RESUME,
    MC_STATUS,  /* the running totals, without stopping */
    MC_STOP,    /* the full report of what start measured */
    MC_HISTORY, /* the session's measured cells (history_path: also export) */
};

struct magic {
    enum magic_kind kind;
    bool help;                   /* --help: show the usage, run nothing */
    char backend[16];            /* "auto" unless --backend */
    bool histograms;             /* the PNG panels (default on; --no-histogram) */
    long top_files;              /* rows of the per-file table; -1: the default */
    unsigned hist_kinds;         /* --hist-kinds: mask of (1u << enum fd_kind); 0: the default */
    char *json_path;             /* --json FILE: also save the report there (owned; NULL: no) */
    bool quiet;                  /* --quiet: no display (with --json, only the file) */
    double timeline;             /* --timeline[=SECONDS]: sample over time; 0: off */
    struct tl_params tl_params;  /* --fdprof, --leak-threshold N (with --timeline) */
    struct findings_opts alerts; /* --alert RULE=VALUE (repeatable) */
    enum magic_control control;  /* MAGIC_CONTROL */
    char *history_path;          /* history --json FILE / --csv FILE (owned) */
    bool history_csv;
    /* The code split around what is measured (all owned, never NULL):
     * before + measured + after == the cell without the magic itself. */
    char *before;
    char *measured;
    char *after;
};

void magic_init(struct magic *m);
void magic_release(struct magic *m);

/* Looks for a magic in a cell: `%%iops [OPTIONS]` as the first line, or a line
 * `%iops [OPTIONS] STATEMENT` (the first such line; leading blanks allowed).
 * Returns 0 with m filled (kind MAGIC_NONE when there is no magic: then the
 * whole cell is in m->measured), or -EINVAL with a one-line reason in err. */
int magic_parse(const char *cell, struct magic *m, char *err, size_t errlen);

/* How a kernel runs a cell with a magic: as parts, one after another, in
 * this order: the code before the magic line, the measured code (for a
 * control line, an empty slot where the control runs), the code after.
 * Blank parts are left out; the measured slot never is. The strings are
 * the magic's (valid while it is). */
struct magic_parts {
    const char *code[3];
    int n;
    int measured; /* index of the measured (or control) slot */
    /* The magic is a `%iops` line indented under other code (a block's
     * body in Python): splitting there cuts the block. */
    bool indented;
};
void magic_parts(const struct magic *m, const char *cell, struct magic_parts *p);

/* Only blanks (spaces, tabs, newlines)? */
bool magic_blank(const char *s);

/* The usage text shown by --help and after a usage error. */
const char *magic_usage(void);

#endif
