/* trace_linux: the `trace` backend, a native ptrace tracer that reads every
 * result from registers (PTRACE_GET_SYSCALL_INFO), never from text.
 *
 * Spawned (`run`): iopsd forks the command; the child waits on a pipe until
 * the parent has seized it (PTRACE_SEIZE with TRACESECCOMP, fork/vfork/clone/
 * exec following and EXITKILL), installs a seccomp filter that returns
 * RET_TRACE only for the syscalls in trace_sys_linux.c, and execs. Untraced
 * syscalls never stop. At a seccomp stop the tracer either handles the call
 * at once (close, lseek, stat...: one stop) or, when it needs the result
 * (bytes, a new descriptor), resumes with PTRACE_SYSCALL to see the exit.
 *
 * Attached (`window_begin`/`window_end`): a dedicated tracer thread seizes
 * every thread of the tree, interrupts them all, reads their descriptor
 * tables, and resumes them with PTRACE_SYSCALL (no filter can be installed
 * into a running process). At the end it interrupts everything, accounts
 * what is still open, and detaches each task at a stop, re-injecting the
 * signal it was stopped for. A "doorbell" child of the tracer thread wakes
 * its waitpid when window_end kills it.
 *
 * Accounting (descriptor tables, rows, histograms) is in trace_state_linux.c. */
#include "measure/backend.h"
#include "measure/live.h"
#include "measure/procfs.h"
#include "measure/spawn.h"
#include "measure/trace.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_THREAD
#define CLONE_THREAD 0x00010000
#endif
#ifndef CLONE_FILES
#define CLONE_FILES 0x00000400
#endif
#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif
#define T_F_DUPFD             0
#define T_F_SETFD             2
#define T_F_DUPFD_CLOEXEC     1030
#define T_FIONCLEX            0x5450
#define T_FIOCLEX             0x5451
#define T_MAP_ANONYMOUS       0x20
#define T_PROT_EXEC           0x4
#define T_PR_SET_SECCOMP      22
#define T_SECCOMP_MODE_FILTER 2
#define T_SECCOMP_SET_FILTER  1
#define T_EINTR               4
#define T_CLOSE_RANGE_UNSHARE 2u
#define T_CLOSE_RANGE_CLOEXEC 4u
#define T_O_CLOEXEC           02000000u
#define T_MSG_CMSG_CLOEXEC    0x40000000u
/* Kernel-internal "restart me" codes a tracer sees at syscall exit. */
#define T_ERESTARTSYS           512
#define T_ERESTART_RESTARTBLOCK 516

#define HINT "; use --backend proc"

struct tproc {
    pid_t tgid;
    struct tfdtab *fdt;
    int ntasks;      /* tasks that point here */
    bool gone;       /* the leader exited: the table was released */
    bool host_child; /* its real parent is the process that runs the tracer */
    int32_t prow;    /* its row in the per-process table (trace_procs_linux.c), -1 none */
    struct tproc *next;
};

struct ttask {
    pid_t tid;
    struct tproc *proc;  /* NULL until a fork event claims it */
    struct tfdtab *own;  /* its own descriptor table (unshare(CLONE_FILES), a clone
                          * without CLONE_FILES); NULL: the process's (proc->fdt) */
    bool attached;       /* its first stop (attach or auto-attach) was seen */
    bool expect_initial; /* created by a fork event; the next PTRACE_EVENT_STOP is the attach */
    bool detach_initial; /* a child process not measured (no tree): let it go at that stop */
    bool stopped;        /* held in a stop (unclaimed, or while attaching/detaching) */
    bool listening;      /* in a group-stop, restarted with PTRACE_LISTEN */
    bool want_exit;      /* a traced syscall whose result we need is running */
    bool exiting;        /* past its PTRACE_EVENT_EXIT: it makes no more calls */
    bool in_wait;        /* in wait4/waitid: it cannot run until a child changes */
    bool no_pin;         /* it set its own affinity: never pinned again */
    bool vfork_free;     /* let run while holding: a vfork parent waits for it */
    int resume_sig;      /* signal to deliver when a held task is restarted */
    /* the syscall in flight */
    const struct tsc_entry *sc;
    uint64_t args[6];
    uint64_t ip, sp, t0;
    long nr;
    uint8_t kind[2];
    int32_t row[2];
    bool compat;   /* the call is of the compat ABI (i386 on x86-64) */
    bool vm_read;  /* vmsplice on a pipe's read end */
    bool map_exec; /* mmap with PROT_EXEC */
    /* an interrupted call (-ERESTART*): restarted, or an EINTR error? */
    bool restart_pending, restart_write;
    long r_nr;
    uint64_t r_args[6], r_ip, r_sp;
    /* clone flags seen at clone/clone3 entry, for the fork event */
    bool clone_known;
    uint64_t clone_flags;
    struct ttask *next;
};

struct tracer {
    bool attach;        /* attached mode: PTRACE_SYSCALL, no filter */
    bool started;       /* accounting on (spawned: after the command's first exec) */
    bool draining;      /* window end: hold every task at its next stop */
    atomic_bool cancel; /* attached: stop waiting for tasks to stop (Ctrl-C) */
    bool can_cancel;    /* the host may set cancel: holding polls for it */
    pid_t root;
    struct tstate st;
    struct ttask **tasks;
    size_t tasks_cap, ntasks;
    struct tproc *procs;
    int root_status;
    bool root_gone;
    pid_t doorbell;
    /* co-location: while one traced task can run, it and the tracer share
     * one CPU (see pin_update) */
    bool pin_ok; /* pinning allowed (two CPUs or more, not turned off) */
    bool pinned; /* pin_tid and the tracer are pinned */
    pid_t pin_tid;
    cpu_set_t orig_mask; /* the tracer's own mask */
    cpu_set_t pin_mask;  /* pin_tid's mask before it was pinned */
    size_t nwaiting;     /* tasks in wait4/waitid (in_wait) */
    char link[PATH_MAX + 1];
    struct meas_fdid exclude[MEAS_EXCLUDE_MAX]; /* the caller's plumbing */
    size_t nexclude;
    pid_t root_only_tid; /* attached: of root's existing threads, only this one */
    bool no_tree;        /* attached: child processes are let go at their first stop */
    _Atomic long live;   /* processes traced and not yet exited (read by other threads) */
};

/* ---- task and process tables ---- */

static void proc_row_cmd(struct tracer *tr, pid_t tgid, int32_t row);
static void task_drop_own(struct tracer *tr, struct ttask *t, bool exited);
static int32_t proc_row_new(struct tracer *tr, pid_t tgid, const struct tproc *parent);

static size_t task_slot(const struct tracer *tr, pid_t tid)
{
    return ((size_t)tid * 2654435761u) & (tr->tasks_cap - 1);
}

static struct ttask *task_get(struct tracer *tr, pid_t tid)
{
    for (struct ttask *t = tr->tasks[task_slot(tr, tid)]; t; t = t->next)
        if (t->tid == tid)
            return t;
    return NULL;
}

static struct ttask *task_new(struct tracer *tr, pid_t tid, struct tproc *p)
{
    if (tr->ntasks + 1 > tr->tasks_cap) {
        size_t cap = tr->tasks_cap * 2;
        struct ttask **nt = xcalloc(cap, sizeof(*nt));
        for (size_t i = 0; i < tr->tasks_cap; i++)
            for (struct ttask *t = tr->tasks[i], *n; t; t = n) {
                n = t->next;
                size_t s = ((size_t)t->tid * 2654435761u) & (cap - 1);
                t->next = nt[s];
                nt[s] = t;
            }
        free(tr->tasks);
        tr->tasks = nt;
        tr->tasks_cap = cap;
    }
    struct ttask *t = xcalloc(1, sizeof(*t));
    t->tid = tid;
    t->proc = p;
    if (p)
        p->ntasks++;
    size_t s = task_slot(tr, tid);
    t->next = tr->tasks[s];
    tr->tasks[s] = t;
    tr->ntasks++;
    return t;
}

/* parent: the process it was forked from (NULL: ppid is read from /proc). */
static struct tproc *proc_new(struct tracer *tr, pid_t tgid, struct tfdtab *fdt,
                              const struct tproc *parent)
{
    struct tproc *p = xcalloc(1, sizeof(*p));
    p->tgid = tgid;
    p->fdt = fdt;
    p->prow = proc_row_new(tr, tgid, parent);
    p->next = tr->procs;
    tr->procs = p;
    tr->st.processes++;
    atomic_fetch_add(&tr->live, 1);
    return p;
}

/* ---- per-process rows ---- */

static int32_t proc_row_new(struct tracer *tr, pid_t tgid, const struct tproc *parent)
{
    struct proc_stat ps;
    pid_t ppid = parent ? parent->tgid : procfs_read_stat(tgid, &ps) == 0 ? ps.ppid : 0;
    int32_t row = tstate_proc_new(&tr->st, tgid, ppid, parent ? parent->prow : -1, clock_mono_ns());
    if (!parent)
        proc_row_cmd(tr, tgid, row);
    return row;
}

static void proc_row_cmd(struct tracer *tr, pid_t tgid, int32_t row)
{
    char cmd[PROCFS_MAX_CMDLINE];
    if (row >= 0 && procfs_read_cmdline(tgid, cmd, sizeof(cmd)) > 0)
        tstate_proc_cmd(&tr->st, row, cmd);
}

/* At the leader's exit stop: the process's CPU time, its threads included. */
static void proc_row_cpu(struct tracer *tr, const struct tproc *p)
{
    struct proc_stat ps;
    if (p->prow >= 0 && procfs_read_stat(p->tgid, &ps) == 0)
        tstate_proc_cpu(&tr->st, p->prow, ps.utime, ps.stime, sysconf(_SC_CLK_TCK));
}

/* The process exited (or the window ends with it alive): release its table. */
static void proc_finish(struct tracer *tr, struct tproc *p, bool exited)
{
    if (p->gone)
        return;
    p->gone = true;
    if (exited)
        atomic_fetch_sub(&tr->live, 1);
    tfdtab_unref(&tr->st, p->fdt, p->tgid, exited);
    p->fdt = NULL;
    if (exited)
        return; /* its threads drop their own tables as they end */
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i]; t; t = t->next)
            if (t->proc == p)
                task_drop_own(tr, t, false);
}

static void proc_put(struct tracer *tr, struct tproc *p)
{
    if (--p->ntasks > 0)
        return;
    proc_finish(tr, p, true);
    for (struct tproc **pp = &tr->procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p);
}

/* The descriptor table t uses. */
static struct tfdtab *task_fdt(const struct ttask *t)
{
    return t->own ? t->own : t->proc->fdt;
}

/* t stops using its own table (it exited, exec'd, or unshared again). */
static void task_drop_own(struct tracer *tr, struct ttask *t, bool exited)
{
    if (!t->own)
        return;
    tfdtab_unref(&tr->st, t->own, t->proc ? t->proc->tgid : t->tid, exited);
    t->own = NULL;
}

/* Does another task of t's process use the process's table? (One past its
 * exit event is about to drop it.) */
static bool proc_table_used_by_other(struct tracer *tr, const struct ttask *t)
{
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *u = tr->tasks[i]; u; u = u->next)
            if (u != t && u->proc == t->proc && !u->own && !u->exiting)
                return true;
    return false;
}

/* unshare(CLONE_FILES) (or close_range's CLOSE_RANGE_UNSHARE) by t: the
 * kernel copies the table when anyone else uses it. When t was the process's
 * only user of the process's table (another process shares it), the copy
 * takes its place; else t gets the copy as its own table. As at a fork,
 * nothing in a copy is its creation (the original keeps that). */
static void task_unshare_files(struct tracer *tr, struct ttask *t)
{
    struct tproc *p = t->proc;
    struct tfdtab *cur = task_fdt(t);
    if (t->own) {
        if (cur->refs == 1)
            return;
        struct tfdtab *c = tfdtab_copy(cur);
        tstate_count_table(&tr->st, c);
        task_drop_own(tr, t, false);
        t->own = c;
        return;
    }
    bool others = proc_table_used_by_other(tr, t);
    if (!others && cur->refs == 1)
        return;
    if (!others) {
        struct tfdtab *c = tfdtab_copy(cur);
        tstate_count_table(&tr->st, c);
        tfdtab_unref(&tr->st, cur, p->tgid, false);
        p->fdt = c;
        return;
    }
    t->own = tfdtab_copy(cur);
    tstate_count_table(&tr->st, t->own);
}

static void set_in_wait(struct tracer *tr, struct ttask *t, bool on);
static void pin_end(struct tracer *tr, pid_t a, pid_t b);

static void task_del(struct tracer *tr, struct ttask *t)
{
    task_drop_own(tr, t, true);
    set_in_wait(tr, t, false);
    if (tr->pinned && t->tid == tr->pin_tid) {
        tr->pin_tid = 0; /* gone: only the tracer's mask to restore */
        pin_end(tr, 0, 0);
    }
    for (struct ttask **pp = &tr->tasks[task_slot(tr, t->tid)]; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    tr->ntasks--;
    if (t->proc)
        proc_put(tr, t->proc);
    free(t);
}

static void tracer_init(struct tracer *tr, bool attach, unsigned hist_kinds, struct report *leaks)
{
    memset(tr, 0, sizeof(*tr));
    tr->attach = attach;
    tr->tasks_cap = 64;
    tr->tasks = xcalloc(tr->tasks_cap, sizeof(*tr->tasks));
    tstate_init(&tr->st, hist_kinds, leaks);
}

static void tracer_release(struct tracer *tr)
{
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i], *n; t; t = n) {
            n = t->next;
            task_drop_own(tr, t, false);
            free(t);
        }
    free(tr->tasks);
    for (struct tproc *p = tr->procs, *n; p; p = n) {
        n = p->next;
        if (p->fdt) {
            p->fdt->refs = 1;
            tfdtab_unref(&tr->st, p->fdt, p->tgid, false);
        }
        free(p);
    }
    tstate_release(&tr->st);
}

/* ---- reading the tracee ---- */

static int peek(pid_t tid, uint64_t addr, void *buf, size_t n)
{
    struct iovec local = {buf, n}, remote = {(void *)(uintptr_t)addr, n};
    ssize_t r = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    return r == (ssize_t)n ? 0 : -EFAULT;
}

/* Kind, row and close-on-exec of tid's descriptor fd, from /proc. 0 or -errno
 * (-ENOENT when fd is not open). */
static int probe_fd(struct tracer *tr, pid_t tid, int fd, enum fd_kind *kind, int32_t *row,
                    bool *cloexec)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)tid, fd);
    ssize_t n = readlink(p, tr->link, sizeof(tr->link) - 1);
    if (n < 0)
        return -errno;
    tr->link[n] = '\0';
    struct stat sb;
    unsigned mode = 0;
    bool have_stat = (tr->link[0] == '/' || tr->nexclude) && stat(p, &sb) == 0;
    if (have_stat && tr->link[0] == '/')
        mode = sb.st_mode;
    for (size_t i = 0; have_stat && i < tr->nexclude; i++)
        if (tr->exclude[i].dev == sb.st_dev && tr->exclude[i].ino == sb.st_ino) {
            *kind = TFD_KIND_EXCLUDED;
            *row = -1;
            if (cloexec)
                *cloexec = false;
            return 0;
        }
    *kind = tstate_kind_from_link(tr->link, mode);
    *row = tr->link[0] == '/' ? tstate_row(&tr->st, tr->link, *kind) : -1;
    if (cloexec) {
        *cloexec = false;
        char info[TSTATE_MAX_FDINFO];
        snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", (int)tid, fd);
        int f = open(p, O_RDONLY | O_CLOEXEC);
        if (f >= 0) {
            ssize_t m = read(f, info, sizeof(info));
            unsigned flags;
            if (m > 0 && tstate_parse_fdinfo_flags(info, (size_t)m, &flags) == 0)
                *cloexec = flags & T_O_CLOEXEC;
            close(f);
        }
    }
    return 0;
}

/* Reads every open descriptor of pid into t (none of them ours). lazy: only
 * their numbers (TFD_LAZY | TFD_CXLAZY), the rest when needed. */
static void load_fds(struct tracer *tr, pid_t pid, struct tfdtab *t, bool lazy)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        enum fd_kind k;
        int32_t row;
        bool cx;
        if (lazy)
            tfdtab_set(&tr->st, t, fd, FDK_FILE, -1, TFD_LAZY | TFD_CXLAZY);
        else if (probe_fd(tr, pid, fd, &k, &row, &cx) == 0)
            tfdtab_set(&tr->st, t, fd, k, row, cx ? TFD_CLOEXEC : 0);
    }
    closedir(d);
}

/* The kind and row of fd in t's table; unknown descriptors (received over a
 * socket, say) are looked up in /proc and remembered. Returns false when fd
 * is not open. */
static bool resolve_fd(struct tracer *tr, struct ttask *t, int fd, uint8_t *kind, int32_t *row)
{
    struct tfdtab *tab = task_fdt(t);
    struct tfd *e = tfdtab_get(tab, fd);
    if (e && (e->flags & TFD_LAZY)) {
        enum fd_kind k;
        int32_t r;
        if (probe_fd(tr, t->tid, fd, &k, &r, NULL)) {
            tfdtab_close(&tr->st, tab, fd);
            return false;
        }
        e->kind = (uint8_t)k;
        e->file = r;
        e->flags &= (uint8_t)~TFD_LAZY;
    }
    if (!e && fd >= 0) {
        enum fd_kind k;
        int32_t r;
        bool cx;
        if (probe_fd(tr, t->tid, fd, &k, &r, &cx))
            return false;
        tfdtab_set(&tr->st, tab, fd, k, r, cx ? TFD_CLOEXEC : 0);
        e = tfdtab_get(tab, fd);
    }
    if (!e)
        return false;
    *kind = e->kind;
    *row = e->file;
    return true;
}

static bool is_file_kind(struct tracer *tr, struct ttask *t, int fd)
{
    uint8_t k;
    int32_t row;
    return resolve_fd(tr, t, fd, &k, &row) && k < FDK__COUNT && (tr->st.hist_kinds & (1u << k));
}

/* Is fd one of the caller's plumbing descriptors (nothing on it counts)? */
static bool is_excluded(struct tracer *tr, struct ttask *t, int fd)
{
    if (!tr->nexclude)
        return false;
    uint8_t k;
    int32_t row;
    return resolve_fd(tr, t, fd, &k, &row) && k == TFD_KIND_EXCLUDED;
}

/* ---- CPU placement ---- */

/* Co-location. A ptrace stop costs several times more when the tracer wakes
 * on another CPU than the tracee's (docs/tracer.md). While exactly one traced
 * task can run (the others, if any, sleep in wait4/waitid: a shell running
 * one command, the cell's bash waiting for `dd`), that task and the tracer
 * are pinned to the CPU the tracer runs on. A fork or clone, the pinned task
 * starting to wait, its exit, the program setting an affinity itself, or
 * the end of the window restores the masks they had. The program never sees
 * the pin: sched_getaffinity is traced and shows the mask from before.
 * IOPSD_TRACE_PIN=0 turns it off. */
static void pin_init(struct tracer *tr)
{
    const char *e = getenv("IOPSD_TRACE_PIN");
    /* The tracer thread wakes at every stop, its tracee at every resume:
     * pinned to one CPU, that pair preempting each other kept any other
     * task queued there from running, 2 s and more (an ipykernel starting
     * beside a traced loop of lseek never answered). As a batch task the
     * tracer no longer preempts on its wake-ups; alone on its CPU it runs
     * as fast as before. Called after the command's fork: nothing the
     * command starts inherits the policy. */
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_BATCH, &sp);
    tr->pin_ok = !(e && !strcmp(e, "0")) &&
                 sched_getaffinity(0, sizeof(tr->orig_mask), &tr->orig_mask) == 0 &&
                 CPU_COUNT(&tr->orig_mask) >= 2;
}

static void pin_task(struct tracer *tr, pid_t tid)
{
    cpu_set_t cur, one;
    int cpu = sched_getcpu();
    if (!tr->pin_ok || tr->pinned || cpu < 0 || !CPU_ISSET(cpu, &tr->orig_mask) ||
        sched_getaffinity(tid, sizeof(cur), &cur) || CPU_COUNT(&cur) < 2 || !CPU_ISSET(cpu, &cur))
        return;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(tid, sizeof(one), &one))
        return;
    sched_setaffinity(0, sizeof(one), &one);
    tr->pin_mask = cur;
    tr->pin_tid = tid;
    tr->pinned = true;
}

/* Restores the masks of the tracer, of the pinned task and of the tasks
 * given (a child forked while pinned inherited the pin). */
static void pin_end(struct tracer *tr, pid_t a, pid_t b)
{
    if (!tr->pinned)
        return;
    tr->pinned = false;
    pid_t tids[3] = {tr->pin_tid, a, b};
    for (int i = 0; i < 3; i++)
        if (tids[i] > 0 && (i == 0 || tids[i] != tr->pin_tid))
            sched_setaffinity(tids[i], sizeof(tr->pin_mask), &tr->pin_mask);
    sched_setaffinity(0, sizeof(tr->orig_mask), &tr->orig_mask);
    tr->pin_tid = 0;
}

/* After a stop of t: pins the one task that can run, if there is one. */
static void pin_update(struct tracer *tr, struct ttask *t)
{
    if (!tr->pin_ok || !tr->started || tr->draining)
        return;
    pid_t want = 0;
    if (tr->ntasks - tr->nwaiting == 1) {
        if (!t->in_wait && !t->exiting && t->proc)
            want = t->tid;
        else if (tr->pinned) {
            const struct ttask *p = task_get(tr, tr->pin_tid);
            if (p && !p->in_wait)
                want = tr->pin_tid;
        }
    }
    if (tr->pinned && tr->pin_tid == want)
        return;
    pin_end(tr, 0, 0);
    if (want)
        pin_task(tr, want);
}

static void set_in_wait(struct tracer *tr, struct ttask *t, bool on)
{
    if (t->in_wait == on)
        return;
    t->in_wait = on;
    if (on)
        tr->nwaiting++;
    else
        tr->nwaiting--;
}

/* ---- resuming ---- */

static void resume(struct tracer *tr, struct ttask *t, int sig)
{
    if (tr->draining || !t->proc) {
        t->stopped = true;
        t->resume_sig = sig;
        return;
    }
    t->stopped = false;
    long req = (tr->attach || t->want_exit) ? PTRACE_SYSCALL : PTRACE_CONT;
    ptrace(req, t->tid, 0L, (long)sig);
}

/* ---- syscalls ---- */

static void new_fd(struct tracer *tr, struct ttask *t, int fd, enum fd_kind kind, int32_t row,
                   bool cloexec)
{
    if (fd < 0)
        return;
    tfdtab_set(&tr->st, task_fdt(t), fd, kind, row,
               (uint8_t)(TFD_OURS | (cloexec ? TFD_CLOEXEC : 0)));
}

/* The new descriptor fd of tid: kind and row from /proc. */
static void new_fd_probed(struct tracer *tr, struct ttask *t, int fd, bool cloexec, bool open)
{
    enum fd_kind k;
    int32_t row = -1;
    if (probe_fd(tr, t->tid, fd, &k, &row, NULL))
        k = FDK_FILE;
    if (open && row >= 0)
        tr->st.rows[row].opens++;
    new_fd(tr, t, fd, k, row, cloexec);
}

static bool want_cloexec(const struct tsc_entry *sc, const uint64_t *args)
{
    switch (sc->cx) {
    case TSC_CX_ALWAYS:
        return true;
    case TSC_CX_ARG:
        return (args[sc->cx_arg] & sc->cx_mask) != 0;
    default:
        return false;
    }
}

static void dup_fd(struct tracer *tr, struct ttask *t, int oldfd, int newfd, bool cloexec)
{
    struct tfdtab *tab = task_fdt(t);
    uint8_t k;
    int32_t row;
    if (oldfd == newfd || newfd < 0)
        return;
    if (!resolve_fd(tr, t, oldfd, &k, &row)) {
        new_fd_probed(tr, t, newfd, cloexec, false);
        return;
    }
    tfdtab_close(&tr->st, tab, newfd);
    new_fd(tr, t, newfd, k, row, cloexec);
}

static void do_close_range(struct tracer *tr, struct ttask *t, uint64_t first, uint64_t last,
                           uint64_t flags)
{
    if (flags & ~(uint64_t)(T_CLOSE_RANGE_UNSHARE | T_CLOSE_RANGE_CLOEXEC) || first > last)
        return; /* EINVAL */
    if (flags & T_CLOSE_RANGE_UNSHARE)
        task_unshare_files(tr, t);
    struct tfdtab *tab = task_fdt(t);
    uint64_t hi = last < (uint64_t)tab->cap ? last : (uint64_t)tab->cap - 1;
    for (uint64_t fd = first; tab->cap > 0 && fd <= hi; fd++) {
        struct tfd *e = tfdtab_get(tab, (int)fd);
        if (!e)
            continue;
        if (flags & T_CLOSE_RANGE_CLOEXEC)
            e->flags = (uint8_t)((e->flags | TFD_CLOEXEC) & ~TFD_CXLAZY);
        else
            tfdtab_close(&tr->st, tab, (int)fd);
    }
}

/* Clears CLONE_UNTRACED from the first argument of the syscall t is stopped
 * at. A child that escaped the tracer would still carry the filter, and its
 * traced calls would fail with ENOSYS (LeakSanitizer's helper hangs so). */
static void clear_untraced_arg(struct ttask *t, uint64_t flags)
{
#if defined(__x86_64__)
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, t->tid, 0L, &regs))
        return;
    unsigned long long *reg = t->compat ? &regs.rbx : &regs.rdi; /* i386: ebx */
    if (*reg == flags) {
        *reg = flags & ~(uint64_t)CLONE_UNTRACED;
        ptrace(PTRACE_SETREGS, t->tid, 0L, &regs);
    }
#elif defined(__aarch64__)
    struct user_regs_struct regs;
    struct iovec io = {&regs, sizeof(regs)};
    if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &io) == 0 && regs.regs[0] == flags) {
        regs.regs[0] = flags & ~(uint64_t)CLONE_UNTRACED;
        ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_PRSTATUS, &io);
    }
#endif
}

static void clear_untraced_mem(struct ttask *t, uint64_t addr, uint64_t flags)
{
    flags &= ~(uint64_t)CLONE_UNTRACED;
    struct iovec local = {&flags, sizeof(flags)}, remote = {(void *)(uintptr_t)addr, sizeof(flags)};
    process_vm_writev(t->tid, &local, 1, &remote, 1, 0);
}

/* True when tid's descriptor fd was opened read-only (fdinfo flags). */
static bool fd_read_only(pid_t tid, int fd)
{
    char p[64], info[TSTATE_MAX_FDINFO];
    unsigned flags;
    bool ro = false;
    snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", (int)tid, fd);
    int f = open(p, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return false;
    ssize_t m = read(f, info, sizeof(info));
    if (m > 0 && tstate_parse_fdinfo_flags(info, (size_t)m, &flags) == 0)
        ro = (flags & O_ACCMODE) == O_RDONLY;
    close(f);
    return ro;
}

/* A traced syscall starts (seccomp stop, or entry stop when attached). */
static void on_entry(struct tracer *tr, struct ttask *t, uint32_t arch, long nr,
                     const uint64_t *args, uint64_t ip, uint64_t sp)
{
    t->want_exit = false;
    if (!tr->started || !t->proc || t->proc->gone)
        return;
    const struct tsc_entry *sc = tsc_lookup_arch(arch, nr);
    t->compat = arch != tsc_audit_arch();
    if (t->restart_pending && (sp > t->r_sp || (sp == t->r_sp && ip == t->r_ip))) {
        /* Back in (or above) the interrupted call's frame without a signal
         * handler returning into it: no handler ran, so the kernel restarted
         * the call (the same instruction; restart_syscall for some calls);
         * it counts when that run returns. EINTR needs a handler, and is
         * decided at its rt_sigreturn (on_exit_stop). */
        t->restart_pending = false;
    }
    if (!sc)
        return;
    struct tstate *s = &tr->st;
    int fd = (int)args[0];
    bool need_exit = false;
    switch (sc->op) {
    case TSC_READ:
    case TSC_RECVMSG:
    case TSC_WRITE:
    case TSC_RECVMMSG:
    case TSC_SENDMMSG:
        if (!resolve_fd(tr, t, fd, &t->kind[0], &t->row[0]))
            t->kind[0] = 0xff;
        need_exit = true;
        break;
    case TSC_UNSHARE:
        need_exit = args[0] & CLONE_FILES;
        break;
    case TSC_VMSPLICE:
        if (!resolve_fd(tr, t, fd, &t->kind[0], &t->row[0]))
            t->kind[0] = 0xff;
        t->vm_read = fd_read_only(t->tid, fd);
        need_exit = true;
        break;
    case TSC_SIGRETURN:
        need_exit = t->restart_pending;
        break;
    case TSC_UNDECODED:
        s->undecoded++;
        break;
    case TSC_SECCOMP:
        need_exit = args[0] == T_SECCOMP_SET_FILTER;
        break;
    case TSC_PRCTL:
        need_exit = args[0] == T_PR_SET_SECCOMP && args[1] == T_SECCOMP_MODE_FILTER;
        break;
    case TSC_SENDFILE:
    case TSC_COPY:
    case TSC_TEE: {
        int in = sc->op == TSC_SENDFILE ? (int)args[1] : fd;
        int out = sc->op == TSC_SENDFILE ? fd : sc->op == TSC_COPY ? (int)args[2] : (int)args[1];
        if (!resolve_fd(tr, t, in, &t->kind[0], &t->row[0]))
            t->kind[0] = 0xff;
        if (!resolve_fd(tr, t, out, &t->kind[1], &t->row[1]))
            t->kind[1] = 0xff;
        need_exit = true;
        break;
    }
    case TSC_OPEN:
    case TSC_OPENAT2:
    case TSC_NEWFD:
    case TSC_FDPAIR:
    case TSC_DUP:
    case TSC_DUP2:
        need_exit = true;
        break;
    case TSC_IO_URING:
        s->unseen_io_uring++;
        break;
    case TSC_MMAP:
        /* a mapping of a file: counted at exit, when it succeeded */
        if (!(args[3] & T_MAP_ANONYMOUS) && (int)args[4] >= 0 &&
            is_file_kind(tr, t, (int)args[4])) {
            t->map_exec = args[2] & T_PROT_EXEC;
            need_exit = true;
        }
        break;
    case TSC_CLOSE:
        if (!is_excluded(tr, t, fd))
            tstate_meta(s, META_CLOSE);
        tfdtab_close(s, task_fdt(t), fd);
        break;
    case TSC_CLOSE_RANGE:
        tstate_meta(s, META_CLOSE);
        do_close_range(tr, t, args[0], args[1], args[2]);
        break;
    case TSC_FCNTL: {
        int cmd = (int)args[1];
        if (cmd == T_F_DUPFD || cmd == T_F_DUPFD_CLOEXEC) {
            need_exit = true;
            break;
        }
        if (cmd == T_F_SETFD) {
            struct tfd *e = tfdtab_get(task_fdt(t), fd);
            if (e)
                e->flags = (uint8_t)(((args[2] & FD_CLOEXEC) ? e->flags | TFD_CLOEXEC
                                                             : e->flags & ~TFD_CLOEXEC) &
                                     ~TFD_CXLAZY);
        }
        if (is_file_kind(tr, t, fd))
            tstate_meta(s, META_FCNTL);
        break;
    }
    case TSC_IOCTL: {
        unsigned long req = (unsigned long)args[1];
        struct tfd *e = tfdtab_get(task_fdt(t), fd);
        if (e && req == T_FIOCLEX)
            e->flags = (uint8_t)((e->flags | TFD_CLOEXEC) & ~TFD_CXLAZY);
        else if (e && req == T_FIONCLEX)
            e->flags &= (uint8_t) ~(TFD_CLOEXEC | TFD_CXLAZY);
        if (is_file_kind(tr, t, fd))
            tstate_meta(s, META_FCNTL);
        break;
    }
    case TSC_SEEK: {
        uint8_t k = 0;
        int32_t row = -1;
        resolve_fd(tr, t, fd, &k, &row);
        if (k != TFD_KIND_EXCLUDED)
            tstate_seek(s, row);
        break;
    }
    case TSC_META:
        tstate_meta(s, (enum meta_op)sc->aux);
        break;
    case TSC_META_FD:
        if (is_file_kind(tr, t, fd))
            tstate_meta(s, (enum meta_op)sc->aux);
        break;
    case TSC_CLONE:
        t->clone_known = true;
        t->clone_flags = args[0];
        if ((args[0] & CLONE_UNTRACED) && !tr->attach)
            clear_untraced_arg(t, args[0]);
        break;
    case TSC_SETAFFINITY:
        pin_end(tr, t->tid, 0); /* the program's own mask wins */
        if ((pid_t)args[0] == 0 || (pid_t)args[0] == t->tid)
            t->no_pin = true;
        break;
    case TSC_GETAFFINITY:
        need_exit = tr->pinned && tr->pin_tid == t->tid;
        break;
    case TSC_WAIT:
        set_in_wait(tr, t, true);
        need_exit = true;
        break;
    case TSC_CLONE3: {
        uint64_t f;
        if (peek(t->tid, args[0], &f, sizeof(f)) == 0) {
            t->clone_known = true;
            t->clone_flags = f;
            if ((f & CLONE_UNTRACED) && !tr->attach)
                clear_untraced_mem(t, args[0], f);
        }
        break;
    }
    default:
        break;
    }
    if (need_exit) {
        t->want_exit = true;
        t->sc = sc;
        t->nr = nr;
        memcpy(t->args, args, sizeof(t->args));
        t->ip = ip;
        t->sp = sp;
        t->t0 = clock_mono_ns();
    }
}

static void data_op(struct tracer *tr, uint8_t kind, int32_t row, bool write, uint64_t bytes,
                    uint64_t lat)
{
    if (kind == TFD_KIND_EXCLUDED)
        return;
    if (kind == 0xff)
        kind = FDK_ANON; /* not open at entry, yet it succeeded: opened by a racing thread */
    tstate_data(&tr->st, write, (enum fd_kind)kind, row, bytes, lat);
}

/* Descriptors received in the control data of a message (SCM_RIGHTS):
 * control and controllen are the msghdr's after the call (the kernel sets
 * msg_controllen to what it wrote). At most TSTATE_MAX_CMSG bytes are read. */
static void scm_fds(struct tracer *tr, struct ttask *t, uint64_t control, uint64_t controllen,
                    bool cloexec)
{
    unsigned char buf[TSTATE_MAX_CMSG];
    int fds[TSTATE_MAX_SCM_FDS];
    if (!control || !controllen)
        return;
    size_t len = controllen < sizeof(buf) ? (size_t)controllen : sizeof(buf);
    if (peek(t->tid, control, buf, len))
        return;
    int n = tstate_parse_scm_rights(buf, len, t->compat, fds, TSTATE_MAX_SCM_FDS);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            new_fd_probed(tr, t, fds[i], cloexec, false);
}

/* msg_control and msg_controllen of a struct msghdr: at 32 and 40 in the
 * 64-bit layout, 16 and 20 (32-bit fields) in the i386 one. */
static void msghdr_control(const unsigned char *m, bool compat, uint64_t *control,
                           uint64_t *controllen)
{
    if (compat) {
        uint32_t c, l;
        memcpy(&c, m + 16, sizeof(c));
        memcpy(&l, m + 20, sizeof(l));
        *control = c;
        *controllen = l;
    } else {
        memcpy(control, m + 32, sizeof(*control));
        memcpy(controllen, m + 40, sizeof(*controllen));
    }
}

/* recvmsg succeeded: the descriptors it received. */
static void recvmsg_fds(struct tracer *tr, struct ttask *t)
{
    unsigned char m[48];
    uint64_t control, controllen;
    if (peek(t->tid, t->args[1], m, t->compat ? 28 : 48))
        return;
    msghdr_control(m, t->compat, &control, &controllen);
    scm_fds(tr, t, control, controllen, t->args[2] & T_MSG_CMSG_CLOEXEC);
}

/* The messages of a sendmmsg/recvmmsg: n entries of struct mmsghdr at addr;
 * msg_len follows the 56-byte struct msghdr on both 64-bit architectures,
 * the 28-byte one of the i386 ABI. A recvmmsg's messages may carry
 * descriptors (SCM_RIGHTS). */
static void mmsg_ops(struct tracer *tr, struct ttask *t, bool write, uint64_t addr, long n,
                     uint64_t lat)
{
    enum { BATCH = 64 };
    const size_t size = t->compat ? 32 : 64, len_off = t->compat ? 28 : 56;
    unsigned char buf[BATCH * 64];
    for (long done = 0; done < n;) {
        long k = n - done < BATCH ? n - done : BATCH;
        if (peek(t->tid, addr + (uint64_t)done * size, buf, (size_t)k * size)) {
            for (long i = 0; i < k; i++) /* unreadable: count the ops, bytes unknown */
                data_op(tr, t->kind[0], t->row[0], write, 0, lat);
        } else {
            for (long i = 0; i < k; i++) {
                unsigned len;
                memcpy(&len, buf + i * size + len_off, sizeof(len));
                data_op(tr, t->kind[0], t->row[0], write, len, lat);
            }
            for (long i = 0; !write && i < k; i++) {
                uint64_t control, controllen;
                msghdr_control(buf + i * size, t->compat, &control, &controllen);
                scm_fds(tr, t, control, controllen, t->args[3] & T_MSG_CMSG_CLOEXEC);
            }
        }
        done += k;
    }
}

/* The traced syscall t started returns rval; ip and sp are the task's at
 * the exit stop. */
static void on_exit_stop(struct tracer *tr, struct ttask *t, int64_t rval, bool is_error,
                         uint64_t ip, uint64_t sp)
{
    if (!t->want_exit)
        return;
    t->want_exit = false;
    if (!t->proc || t->proc->gone)
        return;
    tr->st.cur_proc = t->proc->prow;
    const struct tsc_entry *sc = t->sc;
    if (sc->op == TSC_WAIT)
        return; /* in_wait was cleared at this stop */
    if (sc->op == TSC_SIGRETURN) {
        /* A handler returns into the frame of the interrupted call. The
         * kernel set up that frame: -EINTR at the very instruction after the
         * call when the program is to see EINTR; the call's own registers
         * and a rewound instruction pointer when it restarts it. Nothing but
         * this decides, so a retry loop's own call is never mistaken for a
         * restart, whatever its unused argument registers hold. */
        if (t->restart_pending && sp == t->r_sp) {
            t->restart_pending = false;
            if (is_error && rval == -T_EINTR && ip == t->r_ip) {
                if (t->restart_write)
                    tr->st.write_errors++;
                else
                    tr->st.read_errors++;
            }
        }
        return;
    }
    const uint64_t *a = t->args;
    struct tstate *s = &tr->st;
    uint64_t lat = clock_mono_ns() - t->t0;
    bool restart = is_error && rval <= -T_ERESTARTSYS && rval >= -T_ERESTART_RESTARTBLOCK;
    bool write = sc->op == TSC_WRITE || sc->op == TSC_SENDMMSG || sc->op == TSC_SENDFILE ||
                 sc->op == TSC_COPY || sc->op == TSC_TEE || (sc->op == TSC_VMSPLICE && !t->vm_read);
    switch (sc->op) {
    case TSC_READ:
    case TSC_RECVMSG:
    case TSC_WRITE:
    case TSC_VMSPLICE:
    case TSC_RECVMMSG:
    case TSC_SENDMMSG:
    case TSC_SENDFILE:
    case TSC_COPY:
    case TSC_TEE:
        if (restart) {
            t->restart_pending = true;
            t->restart_write = write;
            t->r_nr = t->nr;
            memcpy(t->r_args, a, sizeof(t->r_args));
            t->r_ip = t->ip;
            t->r_sp = t->sp;
            return;
        }
        if (is_error) {
            if (write)
                s->write_errors++;
            else
                s->read_errors++;
            return;
        }
        if (sc->op == TSC_READ || sc->op == TSC_WRITE || sc->op == TSC_VMSPLICE)
            data_op(tr, t->kind[0], t->row[0], write, (uint64_t)rval, lat);
        else if (sc->op == TSC_RECVMSG) {
            data_op(tr, t->kind[0], t->row[0], false, (uint64_t)rval, lat);
            recvmsg_fds(tr, t);
        } else if (sc->op == TSC_RECVMMSG || sc->op == TSC_SENDMMSG)
            mmsg_ops(tr, t, write, a[1], rval, lat);
        else {
            data_op(tr, t->kind[0], t->row[0], false, (uint64_t)rval, lat);
            data_op(tr, t->kind[1], t->row[1], true, (uint64_t)rval, lat);
        }
        return;
    default:
        break;
    }
    if (restart)
        return; /* the kernel will run it again: it is seen then */
    switch (sc->op) {
    case TSC_OPEN:
    case TSC_OPENAT2: {
        tstate_meta(s, META_OPEN);
        if (is_error)
            return;
        bool cx = false;
        if (sc->op == TSC_OPENAT2) {
            uint64_t how_flags;
            if (peek(t->tid, a[2], &how_flags, sizeof(how_flags)) == 0)
                cx = how_flags & T_O_CLOEXEC;
        } else {
            cx = want_cloexec(sc, a);
        }
        new_fd_probed(tr, t, (int)rval, cx, true);
        return;
    }
    case TSC_NEWFD:
        if (is_error)
            return;
        if (!strncmp(sc->name, "signalfd", 8) && (int)a[0] != -1)
            return; /* an existing signalfd was updated */
        if (sc->aux == TSC_KIND_PROBE)
            new_fd_probed(tr, t, (int)rval, want_cloexec(sc, a), false);
        else
            new_fd(tr, t, (int)rval, (enum fd_kind)sc->aux, -1, want_cloexec(sc, a));
        return;
    case TSC_FDPAIR: {
        int fds[2];
        uint64_t addr = sc->aux == FDK_SOCKET ? a[3] : a[0];
        if (is_error || peek(t->tid, addr, fds, sizeof(fds)))
            return;
        new_fd(tr, t, fds[0], (enum fd_kind)sc->aux, -1, want_cloexec(sc, a));
        new_fd(tr, t, fds[1], (enum fd_kind)sc->aux, -1, want_cloexec(sc, a));
        return;
    }
    case TSC_DUP:
        if (!is_excluded(tr, t, (int)a[0]))
            tstate_meta(s, META_DUP);
        if (!is_error)
            dup_fd(tr, t, (int)a[0], (int)rval, false);
        return;
    case TSC_DUP2:
        if (!is_excluded(tr, t, (int)a[0]))
            tstate_meta(s, META_DUP);
        if (!is_error)
            dup_fd(tr, t, (int)a[0], (int)a[1], want_cloexec(sc, a));
        return;
    case TSC_FCNTL:
        if (!is_excluded(tr, t, (int)a[0]))
            tstate_meta(s, META_DUP);
        if (!is_error)
            dup_fd(tr, t, (int)a[0], (int)rval, (int)a[1] == T_F_DUPFD_CLOEXEC);
        return;
    case TSC_MMAP:
        if (is_error)
            return;
        if (t->map_exec)
            s->unseen_mmap_exec++;
        else
            s->unseen_mmap++;
        return;
    case TSC_SECCOMP:
    case TSC_PRCTL:
        if (!is_error)
            s->seccomp_filters++;
        return;
    case TSC_UNSHARE:
        if (!is_error)
            task_unshare_files(tr, t);
        return;
    case TSC_GETAFFINITY:
        /* about itself, while pinned: show the mask it had before */
        if (!is_error && rval > 0 && tr->pinned && t->tid == tr->pin_tid &&
            ((pid_t)a[0] == 0 || (pid_t)a[0] == t->tid)) {
            size_t n = (size_t)rval < sizeof(tr->pin_mask) ? (size_t)rval : sizeof(tr->pin_mask);
            struct iovec local = {&tr->pin_mask, n}, remote = {(void *)(uintptr_t)a[2], n};
            process_vm_writev(t->tid, &local, 1, &remote, 1, 0);
        }
        return;
    default:
        return;
    }
}

/* Makes the syscall t is stopped at fail with ENOSYS without running. */
static void skip_enosys(struct ttask *t)
{
#if defined(__x86_64__)
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, t->tid, 0L, &regs) == 0) {
        regs.orig_rax = (uint64_t)-1;
        regs.rax = (uint64_t)-ENOSYS;
        ptrace(PTRACE_SETREGS, t->tid, 0L, &regs);
    }
#elif defined(__aarch64__)
    int nr = -1;
    struct iovec sio = {&nr, sizeof(nr)};
    ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_ARM_SYSTEM_CALL, &sio);
    struct user_regs_struct regs;
    struct iovec io = {&regs, sizeof(regs)};
    if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &io) == 0) {
        regs.regs[0] = (uint64_t)-ENOSYS;
        ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_PRSTATUS, &io);
    }
#endif
}

/* A seccomp stop asked for by the program's own filter (SECCOMP_RET_TRACE
 * with its data, which wins over ours when both filters trace the call).
 * Without a tracer such a call fails with ENOSYS, so it does here: the
 * program behaves as it would untraced, and a data call is one error. */
static void on_foreign_stop(struct tracer *tr, struct ttask *t, uint32_t arch, long nr)
{
    t->want_exit = false;
    skip_enosys(t);
    const struct tsc_entry *sc = tsc_lookup_arch(arch, nr);
    if (!sc || !tr->started || !t->proc || t->proc->gone)
        return;
    switch (sc->op) {
    case TSC_READ:
    case TSC_RECVMSG:
    case TSC_RECVMMSG:
        tr->st.read_errors++;
        break;
    case TSC_WRITE:
    case TSC_SENDMMSG:
    case TSC_SENDFILE:
    case TSC_COPY:
    case TSC_TEE:
    case TSC_VMSPLICE:
        tr->st.write_errors++;
        break;
    default:
        break;
    }
}

static void on_syscall_stop(struct tracer *tr, struct ttask *t)
{
    struct __ptrace_syscall_info info;
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof(info), &info);
    if (n <= 0) {
        t->want_exit = false;
        return;
    }
    set_in_wait(tr, t, false); /* an exit, or the entry of another call */
    if (info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
        if (info.seccomp.ret_data == TSC_RET_DATA)
            on_entry(tr, t, info.arch, (long)info.seccomp.nr, info.seccomp.args,
                     info.instruction_pointer, info.stack_pointer);
        else
            on_foreign_stop(tr, t, info.arch, (long)info.seccomp.nr);
    } else if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        on_entry(tr, t, info.arch, (long)info.entry.nr, info.entry.args, info.instruction_pointer,
                 info.stack_pointer);
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
        on_exit_stop(tr, t, info.exit.rval, info.exit.is_error, info.instruction_pointer,
                     info.stack_pointer);
    }
}

/* ---- process events ---- */

static void on_fork(struct tracer *tr, struct ttask *t, int ev)
{
    unsigned long msg = 0;
    ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &msg);
    pid_t ctid = (pid_t)msg;
    pin_end(tr, t->tid, ctid); /* two tasks now: let them spread */
    uint64_t flags = t->clone_known ? t->clone_flags : 0;
    t->clone_known = false;
    if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK)
        flags &= ~(uint64_t)CLONE_THREAD;
    if (!t->proc || ctid <= 0)
        return;
    if (tr->no_tree && !(flags & CLONE_THREAD)) {
        /* Not measured: the child goes free at its first stop, before it has
         * run an instruction. */
        struct ttask *c = task_get(tr, ctid);
        if (!c) {
            c = task_new(tr, ctid, NULL);
            c->expect_initial = true;
            c->detach_initial = true;
        } else if (c->attached && c->stopped) {
            ptrace(PTRACE_DETACH, ctid, 0L, 0L);
            task_del(tr, c);
        } else {
            c->detach_initial = true;
        }
        return;
    }
    struct tproc *p = t->proc;
    struct tproc *cp;
    /* the child's table: the parent task's, shared (CLONE_FILES) or copied */
    struct tfdtab *fdt = NULL, *own = NULL;
    if (!p->gone) {
        if (flags & CLONE_FILES) {
            fdt = task_fdt(t);
            fdt->refs++;
        } else {
            fdt = tfdtab_copy(task_fdt(t));
            tstate_count_table(&tr->st, fdt);
        }
    }
    if (flags & CLONE_THREAD) {
        /* a thread: the process's table, unless it has one of its own */
        cp = p;
        if (fdt && fdt == p->fdt)
            fdt->refs--;
        else
            own = fdt;
    } else {
        cp = proc_new(tr, ctid, fdt ? fdt : tfdtab_new(false), p);
    }
    struct ttask *c = task_get(tr, ctid);
    if (c) { /* its attach stop came first: it waits for us */
        c->proc = cp;
        c->own = own;
        cp->ntasks++;
        if (c->attached && c->stopped)
            resume(tr, c, 0);
    } else {
        c = task_new(tr, ctid, cp);
        c->own = own;
        c->expect_initial = true;
    }
}

/* At an exec: a descriptor whose close-on-exec flag was never read
 * (TFD_CXLAZY) was closed by it if /proc no longer lists it. */
static void settle_cloexec(struct tracer *tr, pid_t pid, struct tfdtab *t)
{
    char p[64];
    struct stat sb;
    for (int fd = 0; fd < t->cap; fd++) {
        if ((t->v[fd].flags & (TFD_OPEN | TFD_CXLAZY)) != (TFD_OPEN | TFD_CXLAZY))
            continue;
        snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, fd);
        if (lstat(p, &sb) != 0 && errno == ENOENT)
            tfdtab_close(&tr->st, t, fd);
        else
            t->v[fd].flags &= (uint8_t) ~(TFD_CXLAZY | TFD_CLOEXEC);
    }
}

static void on_exec(struct tracer *tr, struct ttask *t)
{
    unsigned long msg = 0;
    ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &msg);
    pid_t former = (pid_t)msg;
    if (former != t->tid) {
        /* A non-leader thread exec'd and took the leader's tid: the former
         * tid and the old leader never report their ends. */
        struct ttask *f = task_get(tr, former);
        if (f) {
            if (!t->proc && f->proc) {
                t->proc = f->proc;
                t->proc->ntasks++;
            }
            /* the exec'ing thread's table goes with it; the old leader's
             * own one (if any) ended with the leader */
            task_drop_own(tr, t, true);
            t->own = f->own;
            f->own = NULL;
            task_del(tr, f);
        }
    }
    t->want_exit = false;
    t->restart_pending = false;
    t->clone_known = false;
    struct tproc *p = t->proc;
    if (!p || p->gone)
        return;
    /* Every other thread has ended (de_thread): the tables only they used
     * are gone, and the exec'ing thread's table becomes the process's. */
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *u = tr->tasks[i]; u; u = u->next)
            if (u != t && u->proc == p)
                task_drop_own(tr, u, true);
    if (t->own) {
        tfdtab_unref(&tr->st, p->fdt, p->tgid, true);
        p->fdt = t->own;
        t->own = NULL;
    }
    if (p->fdt->refs > 1) { /* exec unshares a CLONE_FILES table */
        struct tfdtab *c = tfdtab_copy(p->fdt);
        tstate_count_table(&tr->st, c);
        tfdtab_unref(&tr->st, p->fdt, p->tgid, false);
        p->fdt = c;
    }
    settle_cloexec(tr, p->tgid, p->fdt);
    tfdtab_exec(&tr->st, p->fdt);
    proc_row_cmd(tr, p->tgid, p->prow);
}

/* t exits: a traced call it started and whose result never came (its
 * exit stop is not reported to a task being killed), or one the kernel
 * interrupted and would have restarted, is counted as interrupted by the
 * exit: the program never saw its result. */
static void count_in_flight(struct tracer *tr, struct ttask *t)
{
    struct tproc *p = t->proc;
    if (!p || !tr->started)
        return;
    bool in_flight = t->want_exit && t->sc && t->sc->op != TSC_GETAFFINITY &&
                     t->sc->op != TSC_SIGRETURN && t->sc->op != TSC_WAIT;
    if (in_flight || t->restart_pending)
        tr->st.exit_interrupted++;
    t->want_exit = false;
    t->restart_pending = false;
}

/* At a task's exit event with a call in flight: a fatal signal (SIGKILL,
 * another thread's exit_group or exec) ended it after the call, so no exit
 * stop came. On x86-64 the call's result is still in rax. The kernel puts
 * -ENOSYS there at entry: still there, the call never ran (the signal came
 * while the task was stopped at its entry, and the kernel skips the call of
 * a task being killed): it moved nothing and is not an operation. (A call
 * the kernel does not implement returns -ENOSYS too, and moves nothing
 * either.) A call cut short to be restarted moved no data. */
static void finish_in_flight(struct tracer *tr, struct ttask *t)
{
#if defined(__x86_64__)
    if (!t->want_exit || !t->sc)
        return;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, t->tid, 0L, &regs) != 0)
        return;
    int64_t rv = t->compat ? (int64_t)(int32_t)regs.rax : (int64_t)regs.rax;
    if (rv == -ENOSYS || (rv <= -T_ERESTARTSYS && rv >= -T_ERESTART_RESTARTBLOCK)) {
        t->want_exit = false;
        return;
    }
    on_exit_stop(tr, t, rv, rv < 0 && rv >= -4095, regs.rip, regs.rsp);
#else
    (void)tr, (void)t; /* aarch64: x0 is the first argument until the call returns */
#endif
}

/* A task ended (wait status st). */
static void on_gone(struct tracer *tr, struct ttask *t, int st)
{
    struct tproc *p = t->proc;
    count_in_flight(tr, t);
    if (t->tid == tr->root) {
        tr->root_gone = true;
        tr->root_status = st;
    }
    if (p && t->tid == p->tgid) {
        tstate_proc_end(&tr->st, p->prow, st, clock_mono_ns());
        proc_finish(tr, p, true);
    }
    task_del(tr, t);
}

static bool is_stop_signal(int sig)
{
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Dispatches one wait status of tid. */
static void on_wait(struct tracer *tr, pid_t tid, int st)
{
    struct ttask *t = task_get(tr, tid);
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
        if (t)
            on_gone(tr, t, st);
        return;
    }
    if (!WIFSTOPPED(st))
        return;
    int sig = WSTOPSIG(st), ev = (st >> 16) & 0xff;
    if (!t) { /* a new task whose parent's fork event has not come yet */
        t = task_new(tr, tid, NULL);
        t->attached = true;
        t->stopped = true;
        return;
    }
    if (sig == (SIGTRAP | 0x80) || (sig == SIGTRAP && ev == PTRACE_EVENT_SECCOMP)) {
        on_syscall_stop(tr, t);
        if (!t->no_pin)
            pin_update(tr, t);
        resume(tr, t, 0);
        return;
    }
    /* PTRACE_EVENT_STOP first: the attach, interrupt and auto-attach traps
     * report SIGTRAP, group-stops the stop signal. */
    if (ev == PTRACE_EVENT_STOP) {
        if (!t->attached && !t->expect_initial && is_stop_signal(sig)) {
            /* seized while in a group-stop: it stays stopped */
            t->attached = true;
            t->listening = true;
            resume(tr, t, 0);
            return;
        }
        if (!t->attached || t->expect_initial) {
            t->attached = true;
            t->expect_initial = false;
            if (t->detach_initial) {
                ptrace(PTRACE_DETACH, tid, 0L, 0L);
                task_del(tr, t);
                return;
            }
            resume(tr, t, 0);
            return;
        }
        if (is_stop_signal(sig)) { /* group-stop: stay stopped until SIGCONT */
            if (tr->draining) {
                t->stopped = true;
                t->listening = false;
                t->resume_sig = 0;
                return;
            }
            t->listening = true;
            ptrace(PTRACE_LISTEN, tid, 0L, 0L);
            return;
        }
        t->listening = false;
        resume(tr, t, 0); /* PTRACE_INTERRUPT or the end of a group-stop */
        return;
    }
    if (sig == SIGTRAP && ev) {
        switch (ev) {
        case PTRACE_EVENT_FORK:
        case PTRACE_EVENT_VFORK:
        case PTRACE_EVENT_CLONE:
            on_fork(tr, t, ev);
            break;
        case PTRACE_EVENT_EXEC:
            on_exec(tr, t);
            break;
        case PTRACE_EVENT_EXIT:
            t->exiting = true;
            finish_in_flight(tr, t);
            if (t->proc && t->tid == t->proc->tgid)
                proc_row_cpu(tr, t->proc);
            if (t->proc && t->proc->host_child) {
                /* Its real parent is our own process: let the zombie go to
                 * it, not to this thread's waitpid. */
                count_in_flight(tr, t);
                if (t->tid == t->proc->tgid) {
                    unsigned long code = 0;
                    ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &code);
                    tstate_proc_end(&tr->st, t->proc->prow, (int)code, clock_mono_ns());
                    proc_finish(tr, t->proc, true);
                }
                ptrace(PTRACE_DETACH, t->tid, 0L, 0L);
                task_del(tr, t);
                return;
            }
            break;
        default:
            break;
        }
        resume(tr, t, 0);
        return;
    }
    resume(tr, t, sig); /* signal-delivery-stop: deliver it */
}

/* ---- spawned runs ---- */

static int install_filter(void)
{
    struct sock_filter prog[512];
    int n = tsc_build_filter(prog, sizeof(prog) / sizeof(prog[0]));
    if (n < 0)
        return n;
    struct sock_fprog fp = {(unsigned short)n, prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp))
        return -errno;
    return 0;
}

/* In the child: wait until the parent has seized us, filter, exec. */
static void child_main(char *const argv[], const struct spawn_guard *g, int syncfd, int errfd)
{
    spawn_child_reset(g);
    char c;
    ssize_t r;
    do
        r = read(syncfd, &c, 1);
    while (r < 0 && errno == EINTR);
    close(syncfd);
    if (r != 0)
        _exit(125); /* the parent went away or failed */
    int rc = install_filter();
    if (rc) {
        int e = -rc;
        if (write(errfd, &e, sizeof(e)) < 0)
            _exit(125);
        _exit(125);
    }
    spawn_child_exec(argv, errfd);
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* The live watcher's view of a spawned run (measure/live.h): the seqlock's
 * totals and the descriptor count, read from the watcher's thread. */
static int trace_live_sample(void *ctx, struct meas_progress *p)
{
    struct tstate *s = ctx;
    uint64_t v[4];
    tstate_live(s, v);
    p->elapsed_seconds = (double)(clock_mono_ns() - s->t0_ns) / 1e9;
    p->read_ops = v[0];
    p->write_ops = v[1];
    p->read_bytes = v[2];
    p->write_bytes = v[3];
    p->open_fds = tstate_live_fds(s);
    return 0;
}

static const long seize_opts_spawn =
    PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
    PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXIT;

static int trace_run(const struct meas_opts *o, char *const argv[], struct report *r, char *err,
                     size_t errlen)
{
    int rc = 0, syncp[2] = {-1, -1}, errp[2] = {-1, -1};
    struct spawn_guard g = {0};
    struct tracer tr;
    struct rusage ru0, ru1;
    cpu_set_t oldaff;
    bool have_aff = sched_getaffinity(0, sizeof(oldaff), &oldaff) == 0;
    int old_subreaper = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &old_subreaper, 0, 0, 0);

    snprintf(r->backend, sizeof(r->backend), "trace");
    report_set_argv(r, argv);
    tracer_init(&tr, false, o->hist_kinds, r);
    if (pipe2(syncp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = -errno;
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto out;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    getrusage(RUSAGE_CHILDREN, &ru0);
    /* Storage-level bytes: the kernel folds every reaped descendant's
     * counters into ours. Our own I/O during the run is /proc reads, which
     * never reach the block layer, so the delta of these three is the tree's. */
    struct proc_io io0, io1;
    bool have_io = procfs_read_io(getpid(), &io0) == 0;
    spawn_guard_begin(&g);
    r->start_time = clock_wall_seconds();
    uint64_t t0 = clock_mono_ns();
    pid_t child = fork();
    if (child < 0) {
        rc = -errno;
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto out_guard;
    }
    if (child == 0) {
        close(syncp[1]);
        close(errp[0]);
        child_main(argv, &g, syncp[0], errp[1]);
    }
    close(syncp[0]);
    close(errp[1]);
    syncp[0] = errp[1] = -1;
    if (ptrace(PTRACE_SEIZE, child, 0L, seize_opts_spawn) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot trace the command: ptrace: %s" HINT, strerror(errno));
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        goto out_guard;
    }
    tr.root = child;
    spawn_forward_pid = child;
    tr.st.t0_ns = t0;
    struct tproc *rp = proc_new(&tr, child, tfdtab_new(true), NULL);
    task_new(&tr, child, rp)->attached = true;
    pin_init(&tr);
    pin_task(&tr, child);
    close(syncp[1]); /* let the child install its filter and exec */
    syncp[1] = -1;

    bool exec_checked = false;
    while (tr.ntasks > 0) {
        int st;
        pid_t p = waitpid(-1, &st, __WALL);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        struct ttask *t = task_get(&tr, p);
        if (!tr.started && t && t->tid == child && WIFSTOPPED(st) &&
            (st >> 16) == PTRACE_EVENT_EXEC) {
            /* The command is running: its descriptors now are the start. */
            tr.started = true;
            load_fds(&tr, child, rp->fdt, false);
            tr.st.fds_start = tr.st.fds_now;
            tr.st.fds_peak = tr.st.fds_now;
            tr.st.fds_kept = 0;
            proc_row_cmd(&tr, child, rp->prow);
            if (o->spawned) /* after the exec: the descriptors are the command's */
                o->spawned(o->spawned_arg, 0);
            meas_live_publish(o->live, trace_live_sample, &tr.st, "trace");
            ptrace(PTRACE_CONT, child, 0L, 0L);
            continue;
        }
        on_wait(&tr, p, st);
        if (tr.root_gone && !exec_checked) {
            exec_checked = true;
            if (!tr.started) {
                int e = spawn_read_exec_result(errp[0]);
                errp[0] = -1;
                if (e) {
                    spawn_record_exec_error(r, argv[0], e);
                    break;
                }
            }
            if (!o->wait_descendants)
                break;
        }
    }
    uint64_t t1 = clock_mono_ns();
    meas_live_withdraw(o->live);
    if (!r->exec_errno)
        spawn_record_status(r, tr.root_status);
    /* Processes still running (--no-wait-descendants): they carry our filter
     * and cannot live untraced; they are killed (as strace does). */
    r->still_running = 0;
    for (struct tproc *p = tr.procs; p; p = p->next)
        if (!p->gone) {
            r->still_running++;
            proc_finish(&tr, p, false);
            kill(p->tgid, SIGKILL);
        }
    while (tr.ntasks > 0) {
        int st;
        pid_t p = waitpid(-1, &st, __WALL);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            break;
        struct ttask *t = task_get(&tr, p);
        if (t && (WIFEXITED(st) || WIFSIGNALED(st)))
            task_del(&tr, t);
        else if (t)
            ptrace(PTRACE_CONT, p, 0L, 0L);
    }
    getrusage(RUSAGE_CHILDREN, &ru1);
    if (have_io && procfs_read_io(getpid(), &io1) == 0) {
        proc_io_sub(&io1, &io0);
        r->has_storage = true;
        r->storage_read_bytes = io1.read_bytes;
        r->storage_write_bytes = io1.write_bytes;
        r->cancelled_write_bytes = io1.cancelled_write_bytes;
    }
    r->wall_seconds = (double)(t1 - t0) / 1e9;
    r->user_seconds = tv_seconds(&ru1.ru_utime) - tv_seconds(&ru0.ru_utime);
    r->system_seconds = tv_seconds(&ru1.ru_stime) - tv_seconds(&ru0.ru_stime);
    r->processes = tr.st.processes;
    r->processes_exact = true;
    if (!r->exec_errno)
        tstate_fill_report(&tr.st, r, o->top_files);

out_guard:
    spawn_guard_end(&g);
out:
    meas_live_withdraw(o->live);
    if (have_aff)
        sched_setaffinity(0, sizeof(oldaff), &oldaff);
    prctl(PR_SET_CHILD_SUBREAPER, old_subreaper, 0, 0, 0);
    for (int i = 0; i < 2; i++) {
        if (syncp[i] >= 0)
            close(syncp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    tracer_release(&tr);
    return rc;
}

/* ---- probe ---- */

/* Forks a child that installs the filter and waits; seizes it and reads a
 * seccomp stop with PTRACE_GET_SYSCALL_INFO. Everything the backend needs. */
static int trace_probe_fork(char *err, size_t errlen)
{
    int syncp[2];
    if (pipe2(syncp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -errno;
    }
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        close(syncp[0]);
        close(syncp[1]);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (c == 0) {
        char b;
        close(syncp[1]);
        if (read(syncp[0], &b, 1) != 0)
            _exit(1);
        if (install_filter())
            _exit(2);
        syscall(SYS_close, -1); /* a traced call: one seccomp stop */
        _exit(0);
    }
    close(syncp[0]);
    int rc = 0;
    if (ptrace(PTRACE_SEIZE, c, 0L, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL) < 0) {
        rc = -errno;
        snprintf(err, errlen, "ptrace is not permitted here (%s)" HINT, strerror(errno));
        close(syncp[1]);
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        return rc;
    }
    close(syncp[1]);
    for (;;) {
        int st;
        if (waitpid(c, &st, __WALL) < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            snprintf(err, errlen, "waitpid: %s" HINT, strerror(errno));
            break;
        }
        if (WIFEXITED(st)) {
            if (WEXITSTATUS(st) == 2) {
                rc = -EPERM;
                snprintf(err, errlen, "seccomp filters are not permitted here" HINT);
            } else if (WEXITSTATUS(st) != 0) {
                rc = -EIO;
                snprintf(err, errlen, "the ptrace probe failed" HINT);
            }
            break;
        }
        if (WIFSIGNALED(st)) {
            rc = -EIO;
            snprintf(err, errlen, "the ptrace probe was killed by signal %d" HINT, WTERMSIG(st));
            break;
        }
        if (WIFSTOPPED(st) && (st >> 8) == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
            struct __ptrace_syscall_info info;
            long n = ptrace(PTRACE_GET_SYSCALL_INFO, c, (void *)sizeof(info), &info);
            if (n <= 0 || info.op != PTRACE_SYSCALL_INFO_SECCOMP) {
                rc = -ENOSYS;
                snprintf(err, errlen,
                         "the kernel lacks PTRACE_GET_SYSCALL_INFO (Linux >= 5.3 needed)" HINT);
                kill(c, SIGKILL);
            }
            ptrace(PTRACE_CONT, c, 0L, 0L);
            continue;
        }
        ptrace(PTRACE_CONT, c, 0L, WIFSTOPPED(st) && (st >> 16) == 0 ? (long)WSTOPSIG(st) : 0L);
    }
    return rc;
}

/* A success is kept: a kernel asks before every measured cell, and a fork of
 * a large process (page tables copied, then written pages copied back) cost
 * milliseconds a cell. A failure is asked again (it may be transient). Should
 * ptrace be forbidden later on, attaching says so (describe_refusal). */
static int trace_probe(char *err, size_t errlen)
{
    static int ok;
    if (__atomic_load_n(&ok, __ATOMIC_ACQUIRE))
        return 0;
    int rc = trace_probe_fork(err, errlen);
    if (rc == 0)
        __atomic_store_n(&ok, 1, __ATOMIC_RELEASE);
    return rc;
}

/* ---- attached windows ---- */

/* The doorbell makes two system calls: a few KiB would do. */
#define DOORBELL_STACK (16 * 1024)

struct meas_window {
    pthread_t thread;
    pid_t roots[MEAS_MAX_ROOTS];
    size_t nroots;
    bool tree;
    struct tracer tr;
    struct report leaks; /* leaked descriptors collect here */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool ready;    /* the tracer thread attached (or failed) */
    bool finished; /* the tracer thread has detached */
    bool has_cancel;
    sigset_t cancel;
    unsigned give_up_ms;                     /* 0: never */
    bool timed_out;                          /* gave up waiting after give_up_ms */
    const volatile sig_atomic_t *interrupts; /* the host's interrupt counter, or NULL */
    int rc;
    char err[256];
    pid_t doorbell;
    /* the doorbell's stack: part of the window (no mapping made and
     * unmapped a cell, each unmapping a flush of every CPU's TLB) */
    _Alignas(16) unsigned char bell_stack[DOORBELL_STACK];
    uint64_t t0, t1;
    double wall0;
    uint64_t user0, sys0, user1, sys1;
    size_t top_files;
    bool detached_ok;
};

/* CPU ticks of the roots and (tree) their live descendants. */
static void tree_ticks(const struct meas_window *w, uint64_t *user, uint64_t *sys)
{
    *user = *sys = 0;
    for (size_t r = 0; r < w->nroots; r++) {
        pid_t pids[4097];
        long n = w->tree ? procfs_descendants(w->roots[r], pids + 1, 4096) : 0;
        if (n < 0)
            n = 0;
        if (n > 4096)
            n = 4096;
        pids[0] = w->roots[r];
        for (long i = 0; i <= n; i++) {
            struct proc_stat st;
            if (procfs_read_stat(pids[i], &st) == 0) {
                *user += st.utime + (w->tree ? st.cutime : 0);
                *sys += st.stime + (w->tree ? st.cstime : 0);
            }
        }
    }
}

static const long seize_opts_attach = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACESECCOMP |
                                      PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                                      PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT;

/* Seizes every thread of pid not yet known. Returns how many were new, or
 * -errno when pid itself cannot be traced (is_root). */
static int seize_process(struct tracer *tr, pid_t pid, bool is_root)
{
    if (pid == getpid() || pid == tr->doorbell)
        return 0; /* iopsd inside the tree it measures (an ancestor is a root) */
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
    DIR *d = opendir(p);
    if (!d)
        return is_root ? (errno == ENOENT ? -ESRCH : -errno) : 0;
    struct tproc *proc = NULL;
    for (struct tproc *q = tr->procs; q; q = q->next)
        if (q->tgid == pid)
            proc = q;
    int added = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (pid == tr->root && tr->root_only_tid && tid != tr->root_only_tid)
            continue; /* a thread that only moves messages: not traced */
        if (task_get(tr, tid))
            continue;
        if (ptrace(PTRACE_SEIZE, tid, 0L, seize_opts_attach) < 0) {
            if (is_root && tid == pid && !proc) {
                rc = -errno;
                break;
            }
            continue; /* gone, or auto-attached already (reported soon) */
        }
        if (!proc) {
            struct proc_stat ps;
            proc = proc_new(tr, pid, tfdtab_new(is_root), NULL);
            proc->host_child = procfs_read_stat(pid, &ps) == 0 && ps.ppid == getpid();
        }
        task_new(tr, tid, proc);
        ptrace(PTRACE_INTERRUPT, tid, 0L, 0L);
        added++;
    }
    closedir(d);
    return rc ? rc : added;
}

/* Why pid cannot be traced (e: the errno of PTRACE_SEIZE), in one line.
 * Returns the error to report: -ESRCH for a process that has exited. */
static int describe_refusal(pid_t pid, int e, char *out, size_t n)
{
    struct proc_stat ps;
    if (e == ESRCH) {
        snprintf(out, n, "process %d does not exist", (int)pid);
        return -ESRCH;
    }
    if (procfs_read_stat(pid, &ps) == 0 && (ps.state == 'Z' || ps.state == 'X')) {
        snprintf(out, n, "process %d has exited (a zombie its parent has not reaped)", (int)pid);
        return -ESRCH;
    }
    /* Already traced (a debugger, strace): /proc/<pid>/status says by whom. */
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *sf = e == EPERM ? fopen(path, "re") : NULL;
    long tracer = 0;
    while (sf && fgets(line, sizeof(line), sf))
        if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
            break;
    if (sf)
        fclose(sf);
    if (tracer > 0 && tracer != getpid()) {
        snprintf(out, n, "cannot trace process %d: it is already traced by process %ld" HINT,
                 (int)pid, tracer);
        return -e;
    }
    struct stat sb;
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    if (e == EPERM && geteuid() != 0 && stat(path, &sb) == 0 && sb.st_uid != geteuid()) {
        snprintf(out, n, "cannot trace process %d: it belongs to another user (uid %u)", (int)pid,
                 (unsigned)sb.st_uid);
        return -e;
    }
    int scope = -1;
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (f) {
        if (fscanf(f, "%d", &scope) != 1)
            scope = -1;
        fclose(f);
    }
    if (e == EPERM && scope >= 1 && scope <= 3) {
        static const char *const why[] = {
            "",
            "only a process's ancestors may trace it",
            "only root may trace",
            "no process may trace",
        };
        snprintf(out, n, "cannot trace process %d: Yama's ptrace_scope is %d (%s)" HINT, (int)pid,
                 scope, why[scope]);
        return -e;
    }
    snprintf(out, n, "cannot trace process %d: ptrace: %s" HINT, (int)pid, strerror(e));
    return -e;
}

/* Waits for one status and dispatches it; the doorbell's end sets *rang.
 * With WNOHANG in flags, returns 1 when no status is there. */
static int wait_one(struct tracer *tr, bool *rang, int flags)
{
    int st;
    pid_t p = waitpid(-1, &st, __WALL | __WNOTHREAD | flags);
    if (p == 0)
        return 1;
    if (p < 0)
        return errno == EINTR ? 0 : -errno;
    if (p == tr->doorbell) {
        if (WIFEXITED(st) || WIFSIGNALED(st))
            *rang = true;
        return 0;
    }
    on_wait(tr, p, st);
    return 0;
}

/* Every task held but those let run for a vfork parent (vfork_free). */
static bool held_but_freed(struct tracer *tr, size_t *freed)
{
    *freed = 0;
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i]; t; t = t->next) {
            if (t->stopped)
                continue;
            if (!t->vfork_free)
                return false;
            (*freed)++;
        }
    return true;
}

/* A parent in vfork (dash running a command, posix_spawn, Python's
 * subprocess) waits, uninterruptibly, until its child execs or exits: no
 * ptrace stop reaches it before. Holding that child holds the parent for
 * good. For each task in D state, the held processes that share its memory
 * (kcmp) are let run, without syscall stops, until their exec (an event
 * stop) or exit; an unrelated CLONE_VM child freed by mistake is
 * interrupted again once the rest is held. Returns how many were freed. */
static int free_vfork_children(struct tracer *tr)
{
    int freed = 0;
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *u = tr->tasks[i]; u; u = u->next) {
            struct proc_stat ps;
            if (u->stopped || u->vfork_free || procfs_read_stat(u->tid, &ps) || ps.state != 'D')
                continue;
            pid_t ugid = u->proc ? u->proc->tgid : u->tid;
            for (size_t j = 0; j < tr->tasks_cap; j++)
                for (struct ttask *c = tr->tasks[j]; c; c = c->next) {
                    /* a process's first task, held, of another process */
                    if (!c->stopped || !c->proc || c->tid != c->proc->tgid || c->tid == ugid ||
                        syscall(SYS_kcmp, u->tid, c->tid, KCMP_VM, 0L, 0L) != 0)
                        continue;
                    if (ptrace(PTRACE_CONT, c->tid, 0L, (long)c->resume_sig) < 0)
                        continue;
                    c->resume_sig = 0;
                    c->stopped = false;
                    c->listening = false;
                    c->vfork_free = true;
                    freed++;
                }
        }
    return freed;
}

/* Waits until every task is held at a stop (the attach, a window's end), or
 * the host gives up (tr->cancel). */
static void hold_all(struct tracer *tr, bool *rang)
{
    while (tr->ntasks > 0 && !atomic_load(&tr->cancel)) {
        size_t freed;
        if (held_but_freed(tr, &freed)) {
            if (freed == 0)
                return;
            /* the vfork parents are held: the children they waited for next */
            for (size_t i = 0; i < tr->tasks_cap; i++)
                for (struct ttask *t = tr->tasks[i]; t; t = t->next) {
                    if (t->vfork_free && !t->stopped)
                        ptrace(PTRACE_INTERRUPT, t->tid, 0L, 0L);
                    t->vfork_free = false;
                }
        }
        int rc = wait_one(tr, rang, WNOHANG);
        if (rc == 1) {
            /* nothing to take: is a held task what an unheld one waits for? */
            free_vfork_children(tr);
            if (tr->can_cancel) { /* a host that may give up: look again in 1 ms */
                struct timespec ms = {0, 1000000};
                nanosleep(&ms, NULL);
                continue;
            }
            rc = wait_one(tr, rang, 0);
        }
        if (rc < 0)
            return;
    }
}

/* Holds every task at its next stop and detaches it, passing back the signal
 * it was stopped for. Returns false when a detach failed. */
static bool hold_and_detach(struct tracer *tr, bool *rang)
{
    tr->draining = true;
    pin_end(tr, 0, 0);
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i]; t; t = t->next)
            if (!t->stopped)
                ptrace(PTRACE_INTERRUPT, t->tid, 0L, 0L);
    hold_all(tr, rang);
    if (atomic_load(&tr->cancel)) /* given up: these never stopped */
        for (size_t i = 0; i < tr->tasks_cap; i++)
            for (struct ttask *t = tr->tasks[i]; t; t = t->next)
                if (!t->stopped)
                    tr->st.end_unstopped++;
    for (struct tproc *p = tr->procs; p; p = p->next)
        proc_finish(tr, p, false);
    bool ok = true;
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i]; t; t = t->next)
            if (ptrace(PTRACE_DETACH, t->tid, 0L, (long)t->resume_sig) < 0 && errno != ESRCH)
                ok = false;
    return ok;
}

static void window_ready(struct meas_window *w, int rc)
{
    pthread_mutex_lock(&w->lock);
    w->rc = rc;
    w->ready = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void window_finished(struct meas_window *w)
{
    pthread_mutex_lock(&w->lock);
    w->finished = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* The host's side: waits until the tracer thread sets *flag. A cancel signal
 * (meas_opts.cancel) taken meanwhile, or give_up_ms gone by, tells the
 * thread to stop waiting for tasks that will not stop (hold_all polls for
 * it). */
static void window_wait(struct meas_window *w, const bool *flag)
{
    uint64_t give_up = w->give_up_ms ? clock_mono_ns() + (uint64_t)w->give_up_ms * 1000000u : 0;
    sig_atomic_t interrupts = w->interrupts ? *w->interrupts : 0;
    pthread_mutex_lock(&w->lock);
    while (!*flag) {
        if (!w->tr.can_cancel || atomic_load(&w->tr.cancel)) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        struct timespec zero = {0, 0}, ts;
        if (w->has_cancel && sigtimedwait(&w->cancel, NULL, &zero) > 0) {
            atomic_store(&w->tr.cancel, true);
            continue;
        }
        if (w->interrupts && *w->interrupts != interrupts) {
            atomic_store(&w->tr.cancel, true);
            continue;
        }
        if (give_up && clock_mono_ns() >= give_up) {
            w->timed_out = true;
            atomic_store(&w->tr.cancel, true);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
}

/* The attach given up (tr->cancel): the held tasks are let go as they were;
 * those that never stopped are let go by the kernel when this thread exits. */
static void attach_given_up(struct meas_window *w, bool rang)
{
    struct tracer *tr = &w->tr;
    size_t stuck = 0;
    pid_t one = 0;
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i]; t; t = t->next) {
            if (t->stopped)
                ptrace(PTRACE_DETACH, t->tid, 0L, (long)t->resume_sig);
            else if (stuck++ == 0)
                one = t->tid;
        }
    if (!rang) {
        kill(w->doorbell, SIGKILL);
        waitpid(w->doorbell, NULL, __WALL | __WNOTHREAD);
    }
    if (stuck && w->timed_out)
        snprintf(w->err, sizeof(w->err),
                 "task %d%s did not stop within %u ms (a vfork child before its exec?)", (int)one,
                 stuck > 1 ? " and others" : "", w->give_up_ms);
    else if (stuck)
        snprintf(w->err, sizeof(w->err),
                 "interrupted while attaching: task %d%s would not stop (a vfork child "
                 "before its exec?); nothing was measured",
                 (int)one, stuck > 1 ? " and others" : "");
    else
        snprintf(w->err, sizeof(w->err), "%s",
                 w->timed_out ? "the attach took too long"
                              : "interrupted while attaching; nothing was measured");
    window_ready(w, w->timed_out ? -ETIMEDOUT : -EINTR);
}

/* The doorbell: sleeps until killed. Raw system calls only (it runs on
 * the tracer thread's memory and TLS, on its own small stack). */
static int doorbell_main(void *arg)
{
    (void)arg;
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
    for (;;)
        syscall(SYS_ppoll, NULL, 0L, NULL, NULL, 0L);
    return 0;
}

static void *window_thread(void *arg)
{
    struct meas_window *w = arg;
    struct tracer *tr = &w->tr;
    bool rang = false;
    int rc = 0;

    /* A clone with exit signal 0: the host gets no SIGCHLD for it, never
     * auto-reaps it (SIGCHLD ignored) and its waitpid(-1) without __WALL
     * never takes it; only this thread (__WALL) waits for it. It shares our
     * memory (CLONE_VM): a fork would copy the host's page tables and make
     * the host copy every page it writes afterwards, milliseconds a cell. It
     * starts with every signal blocked, so that no handler of the host ever
     * runs in it (SIGKILL, its ring, cannot be blocked). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->doorbell = clone(doorbell_main, w->bell_stack + sizeof(w->bell_stack),
                        CLONE_VM | CLONE_FS | CLONE_FILES, NULL);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = clone_errno;
    if (w->doorbell < 0) {
        rc = -errno;
        snprintf(w->err, sizeof(w->err), "clone: %s", strerror(errno));
        window_ready(w, rc);
        return NULL;
    }
    tr->doorbell = w->doorbell;
    pin_init(tr);

    /* Attach: seize everything, hold everything, until nothing new appears.
     * Every root or none: when one cannot be traced, those already seized
     * are let go as they were. */
    tr->draining = true;
    for (size_t i = 0; i < w->nroots && !rc; i++) {
        int a = seize_process(tr, w->roots[i], true);
        if (a < 0)
            rc = describe_refusal(w->roots[i], -a, w->err, sizeof(w->err));
    }
    if (rc) {
        hold_and_detach(tr, &rang);
        kill(w->doorbell, SIGKILL);
        waitpid(w->doorbell, NULL, __WALL | __WNOTHREAD);
        window_ready(w, rc);
        return NULL;
    }
    for (int pass = 0; pass < 100; pass++) {
        int added = 0;
        for (size_t r = 0; r < w->nroots; r++) {
            pid_t pids[4096];
            long n = w->tree ? procfs_descendants(w->roots[r], pids, 4096) : 0;
            added += seize_process(tr, w->roots[r], false);
            for (long i = 0; i < n && i < 4096; i++) {
                int a = seize_process(tr, pids[i], false);
                if (a > 0)
                    added += a;
            }
        }
        hold_all(tr, &rang);
        if (added == 0 || atomic_load(&tr->cancel))
            break;
    }
    if (atomic_load(&tr->cancel)) {
        attach_given_up(w, rang);
        return NULL;
    }
    /* Everything is stopped: the start of the window. */
    for (struct tproc *p = tr->procs; p; p = p->next)
        if (!p->gone)
            load_fds(tr, p->tgid, p->fdt, true);
    tr->st.fds_start = tr->st.fds_peak = tr->st.fds_now;
    tr->started = true;
    tr->draining = false;
    tree_ticks(w, &w->user0, &w->sys0);
    w->wall0 = clock_wall_seconds();
    w->t0 = clock_mono_ns();
    tr->st.t0_ns = w->t0;
    for (size_t i = 0; i < tr->tasks_cap; i++)
        for (struct ttask *t = tr->tasks[i]; t; t = t->next)
            if (t->stopped && t->proc) {
                if (t->listening) {
                    ptrace(PTRACE_LISTEN, t->tid, 0L, 0L);
                    t->stopped = false;
                } else {
                    resume(tr, t, t->resume_sig);
                }
            }
    window_ready(w, 0);

    /* Until window_end rings (the doorbell is our child: waitpid never
     * fails with ECHILD, even when the whole tree has exited). */
    while (!rang)
        if (wait_one(tr, &rang, 0) < 0)
            break;
    /* The end: interrupt everything and hold it at its next stop. */
    w->t1 = clock_mono_ns();
    tree_ticks(w, &w->user1, &w->sys1);
    w->detached_ok = hold_and_detach(tr, &rang);
    if (!rang) {
        kill(w->doorbell, SIGKILL);
        waitpid(w->doorbell, NULL, __WALL | __WNOTHREAD);
    }
    window_finished(w);
    return NULL;
}

static int trace_window_begin(const pid_t *roots, size_t nroots, const struct meas_opts *o,
                              struct meas_window **out, char *err, size_t errlen)
{
    if (nroots == 0 || nroots > MEAS_MAX_ROOTS) {
        snprintf(err, errlen, "between 1 and %d processes can be traced at once", MEAS_MAX_ROOTS);
        return -EINVAL;
    }
    for (size_t i = 0; i < nroots; i++) {
        if (roots[i] <= 0 || roots[i] == getpid()) {
            snprintf(err, errlen, "cannot trace process %d: it is iopsd itself" HINT,
                     (int)roots[i]);
            return -EINVAL;
        }
        if (roots[i] == 1) {
            /* Every process descends from init, iopsd too: tracing its tree
             * would stop the whole system at every syscall. */
            snprintf(err, errlen,
                     "cannot trace process 1 (init): its tree is every process of the system" HINT);
            return -EPERM;
        }
    }
    struct meas_window *w = xcalloc(1, sizeof(*w));
    memcpy(w->roots, roots, nroots * sizeof(*roots));
    w->nroots = nroots;
    w->tree = o->tree;
    w->top_files = o->top_files;
    report_init(&w->leaks);
    tracer_init(&w->tr, true, o->hist_kinds, &w->leaks);
    w->tr.root = roots[0];
    w->tr.can_cancel = o->has_cancel || o->give_up_ms || o->interrupts;
    w->tr.no_tree = !o->tree;
    w->tr.nexclude = o->nexclude < MEAS_EXCLUDE_MAX ? o->nexclude : MEAS_EXCLUDE_MAX;
    w->tr.root_only_tid = o->root_only_tid;
    memcpy(w->tr.exclude, o->exclude, w->tr.nexclude * sizeof(*w->tr.exclude));
    w->has_cancel = o->has_cancel;
    w->cancel = o->cancel;
    w->give_up_ms = o->give_up_ms;
    w->interrupts = o->interrupts;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = pthread_create(&w->thread, NULL, window_thread, w);
    if (rc) {
        snprintf(err, errlen, "pthread_create: %s", strerror(rc));
        rc = -rc;
        goto fail;
    }
    window_wait(w, &w->ready);
    if (w->rc) {
        rc = w->rc;
        pthread_join(w->thread, NULL);
        snprintf(err, errlen, "%s", w->err);
        goto fail;
    }
    *out = w;
    return 0;
fail:
    tracer_release(&w->tr);
    report_release(&w->leaks);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
    return rc;
}

static int trace_window_end(struct meas_window *w, struct report *r, char *err, size_t errlen)
{
    kill(w->doorbell, SIGKILL);
    window_wait(w, &w->finished); /* a second Ctrl-C stops waiting for a task that will not stop */
    pthread_join(w->thread, NULL);
    struct tracer *tr = &w->tr;
    snprintf(r->backend, sizeof(r->backend), "trace");
    r->start_time = w->wall0;
    r->wall_seconds = (double)(w->t1 - w->t0) / 1e9;
    double tick = (double)sysconf(_SC_CLK_TCK);
    r->user_seconds = w->user1 > w->user0 ? (double)(w->user1 - w->user0) / tick : 0;
    r->system_seconds = w->sys1 > w->sys0 ? (double)(w->sys1 - w->sys0) / tick : 0;
    r->processes = tr->st.processes;
    r->processes_exact = true;
    for (size_t i = 0; i < w->leaks.fds.nleaked; i++) {
        const struct leaked_fd *l = &w->leaks.fds.leaked[i];
        report_add_leaked(r, l->pid, l->fd, l->kind, l->path);
    }
    tstate_fill_report(&tr->st, r, w->top_files);
    int rc = 0;
    if (!w->detached_ok) {
        rc = -EIO;
        snprintf(err, errlen, "detaching from process %d failed", (int)w->roots[0]);
    }
    tracer_release(tr);
    report_release(&w->leaks);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
    return rc;
}

static int trace_window_sample(struct meas_window *w, struct meas_progress *p)
{
    uint64_t v[4];
    tstate_live(&w->tr.st, v);
    p->elapsed_seconds = (double)(clock_mono_ns() - w->t0) / 1e9;
    p->read_ops = v[0];
    p->write_ops = v[1];
    p->read_bytes = v[2];
    p->write_bytes = v[3];
    p->open_fds = tstate_live_fds(&w->tr.st);
    long live = atomic_load(&w->tr.live);
    p->live_processes = live > 0 ? (uint64_t)live : 0;
    return 0;
}

const struct meas_backend meas_trace = {
    .name = "trace",
    .summary = "ptrace + seccomp tracer: exact per-operation counts, sizes, latencies, files",
    .probe = trace_probe,
    .run = trace_run,
    .window_begin = trace_window_begin,
    .window_end = trace_window_end,
    .window_sample = trace_window_sample,
    .excludes_fds = true,
};
