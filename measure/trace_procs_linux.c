/* trace_procs_linux: the tracer's per-process table: one row per traced
 * process (pid, parent, command line, lifetime, status, CPU) with the data
 * operations its tasks made. Knows nothing of ptrace: the engine tells it
 * what happened, so the unit tests drive it directly. */
#include "measure/trace.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static struct proc_row *prow(struct tstate *s, int32_t row)
{
    return row >= 0 && (size_t)row < s->nprows ? &s->prows[row] : NULL;
}

static double since_t0(const struct tstate *s, uint64_t now_ns)
{
    /* t0 is set once everything attached is stopped: processes seen before
     * (an attached window's) were there at the start */
    return s->t0_ns && now_ns > s->t0_ns ? (double)(now_ns - s->t0_ns) / 1e9 : 0;
}

int32_t tstate_proc_new(struct tstate *s, pid_t pid, pid_t ppid, int32_t from, uint64_t now_ns)
{
    if (s->nprows >= REPORT_MAX_PROCS) {
        s->prows_dropped++;
        return -1;
    }
    const struct proc_row *src = prow(s, from);
    char *cmd = src && src->cmd ? xstrdup(src->cmd) : NULL;
    s->prows = xgrow(s->prows, &s->prows_cap, s->nprows + 1, sizeof(*s->prows));
    struct proc_row *p = &s->prows[s->nprows];
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->ppid = ppid;
    p->cmd = cmd;
    p->start = since_t0(s, now_ns);
    p->end = -1;
    return (int32_t)s->nprows++;
}

void tstate_proc_cmd(struct tstate *s, int32_t row, const char *cmd)
{
    struct proc_row *p = prow(s, row);
    if (!p)
        return;
    free(p->cmd);
    p->cmd = xstrdup(cmd);
}

void tstate_proc_end(struct tstate *s, int32_t row, int st, uint64_t now_ns)
{
    struct proc_row *p = prow(s, row);
    if (!p || p->end >= 0)
        return;
    p->end = since_t0(s, now_ns);
    if (p->end < p->start)
        p->end = p->start;
    if (WIFEXITED(st)) {
        p->exited = true;
        p->exit_status = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        p->term_signal = WTERMSIG(st);
    }
}

void tstate_proc_cpu(struct tstate *s, int32_t row, uint64_t utime, uint64_t stime,
                     long ticks_per_second)
{
    struct proc_row *p = prow(s, row);
    if (!p || ticks_per_second <= 0)
        return;
    p->has_cpu = true;
    p->user_seconds = (double)utime / (double)ticks_per_second;
    p->system_seconds = (double)stime / (double)ticks_per_second;
}

void tstate_procs_fill(struct tstate *s, struct report *r)
{
    r->has_procs = true;
    for (size_t i = 0; i < s->nprows; i++) {
        const struct proc_row *p = &s->prows[i];
        struct proc_row *q = report_add_proc(r, p->pid, p->ppid, p->cmd);
        if (!q)
            continue;
        char *cmd = q->cmd;
        *q = *p;
        q->cmd = cmd;
    }
    r->procs_dropped += s->prows_dropped;
    tstate_procs_release(s);
}

void tstate_procs_release(struct tstate *s)
{
    for (size_t i = 0; i < s->nprows; i++)
        free(s->prows[i].cmd);
    free(s->prows);
    s->prows = NULL;
    s->nprows = s->prows_cap = 0;
    s->prows_dropped = 0;
}
