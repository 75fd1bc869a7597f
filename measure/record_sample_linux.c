/* record_sample_linux: one sample of a process tree from /proc, in two
 * passes (Procpath's way): pass 1 reads `stat` of every process and builds the
 * tree from the parent links; pass 2 reads the costly files (`io`, the
 * descriptors) of the selected subtree only. A process gone before pass 1 is
 * not in the sample; one gone during pass 2 keeps its stat values and gets
 * NULL io or fd columns. iopsd itself is never part of a sample. */
#include "measure/procfs.h"
#include "measure/record_sample.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill_row(struct rec_row *r, const struct proc_stat *st, double ts)
{
    memset(r, 0, sizeof(*r));
    r->ts = ts;
    r->pid = st->pid;
    r->ppid = st->ppid;
    r->state[0] = st->state;
    snprintf(r->comm, sizeof(r->comm), "%s", st->comm);
    r->utime = (int64_t)st->utime;
    r->stime = (int64_t)st->stime;
    r->num_threads = (int64_t)st->num_threads;
    r->rss = (int64_t)st->rss;
    r->delayacct_blkio_ticks = (int64_t)st->delayacct_blkio_ticks;

    struct proc_io io;
    if (procfs_read_io(st->pid, &io) == 0) {
        r->has_io = true;
        r->rchar = (int64_t)io.rchar;
        r->wchar = (int64_t)io.wchar;
        r->syscr = (int64_t)io.syscr;
        r->syscw = (int64_t)io.syscw;
        r->read_bytes = (int64_t)io.read_bytes;
        r->write_bytes = (int64_t)io.write_bytes;
        r->cancelled_write_bytes = (int64_t)io.cancelled_write_bytes;
    }
    struct proc_fd_kinds k;
    /* a zombie has no descriptor table left: its fd directory is empty */
    if (procfs_read_fd_kinds(st->pid, &k) == 0) {
        r->has_fd = true;
        r->fd_anon = (int64_t)k.anon;
        r->fd_dir = (int64_t)k.dir;
        r->fd_chr = (int64_t)k.chr;
        r->fd_blk = (int64_t)k.blk;
        r->fd_reg = (int64_t)k.reg;
        r->fd_fifo = (int64_t)k.fifo;
        r->fd_lnk = (int64_t)k.lnk;
        r->fd_sock = (int64_t)k.sock;
    }
}

long rec_sample(const pid_t *roots, size_t nroots, double ts, struct rec_row **rows, size_t *cap)
{
    /* pass 1: every process's stat */
    struct proc_stat *all;
    long got = procfs_all_stats(&all);
    if (got < 0)
        return got;
    size_t n = (size_t)got;
    pid_t self = getpid();

    /* the subtree: the roots that exist, then their descendants, breadth first */
    bool *picked = xcalloc(n + 1, sizeof(*picked));
    size_t *order = xmalloc((n + 1) * sizeof(*order));
    size_t norder = 0;
    for (size_t r = 0; r < nroots; r++)
        for (size_t i = 0; i < n; i++)
            if (all[i].pid == roots[r] && !picked[i]) {
                picked[i] = true;
                order[norder++] = i;
            }
    /* a root that is iopsd itself stands for its children (a spawned
     * command): it is walked like any other and left out in pass 2 */
    for (size_t head = 0; head < norder; head++) {
        pid_t parent = all[order[head]].pid;
        for (size_t i = 0; i < n; i++)
            if (!picked[i] && all[i].ppid == parent) {
                picked[i] = true;
                order[norder++] = i;
            }
    }

    /* pass 2: the costly files of the subtree, iopsd left out */
    size_t nrows = 0;
    for (size_t k = 0; k < norder; k++) {
        const struct proc_stat *st = &all[order[k]];
        if (st->pid == self)
            continue;
        *rows = xgrow(*rows, cap, nrows + 1, sizeof(**rows));
        fill_row(&(*rows)[nrows++], st, ts);
    }
    free(order);
    free(picked);
    free(all);
    return (long)nrows;
}
