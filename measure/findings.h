/* findings: what a report says is wrong, in words, with the numbers each
 * conclusion rests on. Rules read the report only; every threshold is the
 * user's to set (`--alert RULE=VALUE`) and every rule can be switched off
 * (`--alert RULE=off`). No finding is emitted from a guess: a rule whose
 * numbers the backend did not measure stays silent. */
#ifndef IOPSD_FINDINGS_H
#define IOPSD_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "measure/report.h"

enum finding_rule {
    FR_SMALL_OPS,    /* most data calls are small */
    FR_SMALL_WRITES, /* one file written in many small calls (unbuffered) */
    FR_REOPEN,       /* one file opened and closed many times */
    FR_READ_AMP,     /* storage reads far above the logical reads */
    FR_REREAD,       /* one file's bytes read many times over */
    FR_FSYNC,        /* an fsync for (almost) every write */
    FR_RANDOM,       /* a seek between most calls on a file */
    FR_LEAK,         /* descriptors left open */
    FR_FD_GROWTH,    /* the descriptor count grew over the run */
    FR_HIDDEN,       /* I/O the backend cannot see (mmap of data files, io_uring) */
    FR_LATENCY,      /* p99 far above p50 */
    /* live rules: watched while `iopsd measure` runs (measure/live.c), an
     * alert line on stderr per crossing; no finding in the report */
    FR_FD_COUNT,   /* open descriptors */
    FR_IOPS,       /* reads + writes per second */
    FR_THROUGHPUT, /* bytes read + written per second */
    FR__COUNT
};

struct findings_opts {
    double threshold[FR__COUNT]; /* RULE=VALUE */
    double second[FR__COUNT];    /* RULE.NAME=VALUE (e.g. small-ops.min) */
    bool off[FR__COUNT];
};

/* The documented defaults (docs/findings.md). */
void findings_opts_init(struct findings_opts *o);

/* Parses one `RULE=VALUE` or `RULE=off` into o. Returns 0, or -EINVAL with a
 * one-line reason in err. */
int findings_parse_alert(struct findings_opts *o, const char *arg, char *err, size_t errlen);

const char *finding_rule_name(enum finding_rule r);
/* A live rule (fd-count, iops, throughput): no finding in the report. */
bool finding_rule_is_live(enum finding_rule r);
/* A one-line description of the rules and defaults, for --help texts. */
const char *findings_help(void);

/* Replaces r's findings with those the rules find in r (o may be NULL for
 * the defaults). Most severe first. */
void findings_compute(struct report *r, const struct findings_opts *o);

/* Percentile p (0..1) of the latency histogram: the upper bound of the
 * bucket holding it, in ns; 0 when there are no latencies. */
double findings_latency_percentile(const struct report *r, double p);

#endif
