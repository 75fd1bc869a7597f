/* proc_linux: the `proc` backend. Counters from /proc/<pid>/io, descriptor
 * counts sampled from /proc/<pid>/fd; no stops, near-zero cost.
 *
 * How a spawned run is counted exactly, without iopsd's own I/O:
 *
 *   iopsd (sampler) --fork--> reaper --fork+exec--> command --> descendants
 *
 * The reaper is a child subreaper that does no I/O at all: it waits for the
 * command and every orphan that reparents to it, then stops itself. Linux
 * folds each reaped child's counters into its parent's, so the reaper's own
 * /proc/<pid>/io is then exactly the tree's I/O. The sampler reads it while
 * the reaper is stopped, then kills it. The sampler's own reads of /proc are
 * its own and never enter the tree. Results the reaper must hand back
 * (statuses, times, rusage) go through shared memory, not a pipe, because a
 * pipe write would count as the reaper's I/O.
 *
 * The reaper shares iopsd's memory (see reaper_start): it costs no copy of
 * iopsd's page tables and no page faults in either process afterwards.
 *
 * Per process: before reaping a child (waitid WNOWAIT) the reaper reads its
 * zombie's /proc/<pid>/io and stat. The reaper's own reads of them are
 * counted (each is one read call) and taken off its totals. A zombie's
 * counters include the children it reaped itself (Linux adds them to the
 * parent's), so the rows are the command and each orphan, inclusive. */
#include "measure/backend.h"
#include "measure/exit_notif.h"
#include "measure/live.h"
#include "measure/procfs.h"
#include "measure/spawn.h"
#include "measure/timeline.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REAPED_MAX 4096
#define SAMPLE_MAX 4096

/* What the reaper saw of one child just before reaping it. */
struct proc_reaped {
    pid_t pid;
    int status;
    uint64_t t_end; /* CLOCK_MONOTONIC ns */
    bool has_io, has_stat;
    struct proc_io io;     /* inclusive of the children it reaped */
    struct proc_stat stat; /* comm, starttime */
    struct rusage ru;      /* itself and the children it reaped */
};

/* Written by the reaper (and the command's pid by the command), read by the
 * sampler once the reaper has stopped. */
struct proc_shared {
    volatile pid_t cmd_pid;
    int cmd_status;
    uint64_t t_start, t_end; /* CLOCK_MONOTONIC ns */
    uint64_t boot_start;     /* CLOCK_BOOTTIME ns at t_start (process start times) */
    struct rusage ru;
    uint64_t own_syscr, own_rchar; /* the reaper's own reads of /proc */
    uint32_t nreaped;              /* may exceed REAPED_MAX: then only the first are listed */
    struct proc_reaped reaped[REAPED_MAX];
};

/* A small set of pids (the processes seen). */
struct pidset {
    pid_t *v;
    size_t n, cap;
};

static void pidset_add(struct pidset *s, pid_t p)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == p)
            return;
    s->v = xgrow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
    s->v[s->n++] = p;
}

static int proc_probe(char *err, size_t errlen)
{
    struct proc_io io;
    int rc = procfs_read_io(getpid(), &io);
    if (rc)
        snprintf(err, errlen, "cannot read /proc/self/io: %s", strerror(-rc));
    return rc;
}

/* The reaper's read of /proc/<pid>/<name>: one read call, counted. */
static ssize_t reaper_read(struct proc_shared *sh, pid_t pid, const char *name, char *buf,
                           size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap);
    sh->own_syscr++;
    if (n > 0)
        sh->own_rchar += (uint64_t)n;
    close(fd);
    return n;
}

/* Notes what the zombie child p left, before it is reaped. */
static void reaper_note(struct proc_shared *sh, struct proc_reaped *e, pid_t p)
{
    char text[PROCFS_MAX_STAT + 1];
    e->pid = p;
    e->t_end = clock_mono_ns();
    ssize_t n = reaper_read(sh, p, "io", text, PROCFS_MAX_IO + 1);
    e->has_io = n > 0 && n <= PROCFS_MAX_IO && procfs_parse_io(text, (size_t)n, &e->io) == 0;
    n = reaper_read(sh, p, "stat", text, PROCFS_MAX_STAT + 1);
    if (n > 0 && text[n - 1] == '\n')
        n--;
    e->has_stat =
        n > 0 && n <= PROCFS_MAX_STAT && procfs_parse_stat(text, (size_t)n, &e->stat) == 0;
}

/* Under AddressSanitizer the reaper is forked as it used to be: the
 * sanitizer's vfork interceptor, run in the reaper, takes the reaper's stack
 * for the host thread's and clears the shadow of everything between the two
 * (the reaper then never comes back). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REAPER_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define REAPER_FORK 1
#endif
#endif
#ifndef REAPER_FORK
#define REAPER_FORK 0
#endif

/* Below the reaper's stack: an overflow faults instead of writing over iopsd. */
#define REAPER_GUARD 65536

/* What the reaper is started with (reaper_start). */
struct reaper {
    const struct meas_opts *o;
    char *const *argv;
    struct proc_shared *sh;
    struct spawn_guard *g;
    int errr, errw, notif_r, notif_w;
    sigset_t mask; /* the reaper's signal mask: iopsd's when it starts it */
    char *stack;   /* the reaper's own (it shares iopsd's memory) */
    size_t stack_len;
    pthread_t host;
    bool host_up;
    int pid;     /* futex word: 0 until the clone returned, then the pid or -errno */
    int release; /* futex word: 1 once the reaper is gone (the host may end) */
};

static _Noreturn void reaper_main(struct reaper *rp)
{
    const struct meas_opts *o = rp->o;
    char *const *argv = rp->argv;
    struct proc_shared *sh = rp->sh;
    int errw = rp->errw, notif_w = rp->notif_w;
    sigprocmask(SIG_SETMASK, &rp->mask, NULL);
    close(rp->errr);
    if (rp->notif_r >= 0)
        close(rp->notif_r);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The reaper must outlive the command whatever the terminal sends. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sh->t_start = clock_mono_ns();
    struct timespec bt;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    sh->boot_start = (uint64_t)bt.tv_sec * 1000000000ull + (uint64_t)bt.tv_nsec;
    /* vfork: the command starts without copying any page tables; the child
     * only resets signals and execs (as posix_spawn does). */
    pid_t c = vfork();
    if (c == 0) {
        sh->cmd_pid = getpid();
        spawn_child_reset(rp->g);
        if (notif_w >= 0)
            exit_notif_child_install(notif_w);
        spawn_child_exec(argv, errw);
    }
    close(errw);
    if (notif_w >= 0)
        close(notif_w);
    if (c < 0)
        _exit(125);
    for (;;) {
        int st;
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT | __WALL) < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: the whole tree is gone */
        }
        pid_t p = si.si_pid;
        struct proc_reaped *e = sh->nreaped < REAPED_MAX ? &sh->reaped[sh->nreaped] : NULL;
        if (e)
            reaper_note(sh, e, p);
        struct rusage ru;
        while (wait4(p, &st, __WALL, &ru) < 0)
            if (errno != EINTR)
                _exit(125);
        if (e) {
            e->status = st;
            e->ru = ru;
        }
        sh->nreaped++;
        if (p == c) {
            sh->cmd_status = st;
            if (!o->wait_descendants)
                break;
        }
    }
    sh->t_end = clock_mono_ns();
    getrusage(RUSAGE_CHILDREN, &sh->ru);
    kill(getpid(), SIGSTOP);
    _exit(0);
}

static int reaper_entry(void *arg)
{
    reaper_main(arg);
}

static long futex(int *word, int op, int val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* The host thread: clones the reaper, then sleeps until it is gone. The
 * reaper runs on this thread's TLS (errno and the rest of libc's per-thread
 * state), which nothing else uses meanwhile: the host touches none of it
 * until the release, and has every signal blocked, so no handler runs on it. */
static void *reaper_host(void *arg)
{
    struct reaper *rp = arg;
    pid_t p = clone(reaper_entry, rp->stack + rp->stack_len, CLONE_VM | SIGCHLD, rp);
    __atomic_store_n(&rp->pid, p > 0 ? p : -errno, __ATOMIC_RELEASE);
    futex(&rp->pid, FUTEX_WAKE_PRIVATE, 1);
    if (p > 0)
        while (!__atomic_load_n(&rp->release, __ATOMIC_ACQUIRE))
            futex(&rp->release, FUTEX_WAIT_PRIVATE, 0);
    return NULL;
}

/* Starts the reaper: a process of its own (its counters, its children, its
 * descriptor table, its signal handlers) that shares iopsd's memory, as
 * posix_spawn's child does until its exec. A fork would copy iopsd's page
 * tables, and every page either process then wrote or ran would fault again
 * (~45 faults in the reaper and about as many in iopsd: some 4 ms of a
 * 12 ms `iopsd measure -- true` on a VM where a fault costs ~50 us). Shared
 * memory means a shared thread state unless the reaper has its own: it is
 * cloned by a host thread that then only waits (reaper_host). The reaper
 * never calls malloc, stdio streams or exit (iopsd's atexit work is not its
 * own): _exit only. Returns its pid, or -errno (then nothing is left). */
static pid_t reaper_start(struct reaper *rp)
{
#if REAPER_FORK
    pthread_sigmask(SIG_SETMASK, NULL, &rp->mask);
    pid_t p = fork();
    if (p == 0)
        reaper_main(rp);
    return p < 0 ? -errno : p;
#endif
    struct rlimit rl;
    size_t len = 8u << 20; /* as a process's main stack: execvp may need much */
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > len)
        len = rl.rlim_cur < (256u << 20) ? (size_t)rl.rlim_cur : 256u << 20;
    size_t guard = REAPER_GUARD;
    char *m =
        mmap(NULL, len + guard, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -errno;
    if (mprotect(m + guard, len, PROT_READ | PROT_WRITE)) {
        int e = errno;
        munmap(m, len + guard);
        return -e;
    }
    rp->stack = m + guard;
    rp->stack_len = len;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 65536);
    sigset_t all, mine;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &mine);
    rp->mask = mine;
    int rc = pthread_create(&rp->host, &attr, reaper_host, rp);
    pthread_sigmask(SIG_SETMASK, &mine, NULL);
    pthread_attr_destroy(&attr);
    if (rc) {
        munmap(m, len + guard);
        rp->stack = NULL;
        return -rc;
    }
    rp->host_up = true;
    int pid;
    while ((pid = __atomic_load_n(&rp->pid, __ATOMIC_ACQUIRE)) == 0)
        futex(&rp->pid, FUTEX_WAIT_PRIVATE, 0);
    if (pid < 0) {
        pthread_join(rp->host, NULL);
        rp->host_up = false;
        munmap(m, len + guard);
        rp->stack = NULL;
    }
    return pid;
}

/* Once the reaper has been waited for (or never started): the host ends. */
static void reaper_finish(struct reaper *rp)
{
    if (rp->host_up) {
        __atomic_store_n(&rp->release, 1, __ATOMIC_RELEASE);
        futex(&rp->release, FUTEX_WAKE_PRIVATE, 1);
        pthread_join(rp->host, NULL);
        rp->host_up = false;
    }
    if (rp->stack) {
        munmap(rp->stack - REAPER_GUARD, rp->stack_len + REAPER_GUARD);
        rp->stack = NULL;
    }
}

/* How often the process tree is scanned for "processes seen": a scan reads
 * /proc/<pid>/stat of every process on the system, so it runs at most this
 * often, whatever the descriptor sampling interval. */
#define TREE_SCAN_NS 100000000ull

/* One sample: the descriptors of the command's own process (while it runs
 * and is not tearing down its table at exit), and now and then the processes
 * of the tree. */
static void sample(pid_t reaper, pid_t cmd, struct report *r, struct pidset *seen, bool *any,
                   uint64_t *last_scan)
{
    uint64_t now = clock_mono_ns();
    if (now - *last_scan >= TREE_SCAN_NS) {
        pid_t pids[SAMPLE_MAX];
        long n = procfs_descendants_live(reaper, pids, SAMPLE_MAX);
        for (long i = 0; i < n && i < SAMPLE_MAX; i++)
            pidset_add(seen, pids[i]);
        *last_scan = now;
    }
    if (r->fds.end_at_exit)
        return; /* the command has called exit_group: its count is final */
    struct proc_stat st;
    if (cmd <= 0 || procfs_read_stat(cmd, &st) || st.ppid != reaper)
        return;
    long c = procfs_count_fds(cmd);
    /* Check after counting: an exit may have begun meanwhile. */
    if (c < 0 || procfs_read_stat(cmd, &st) || st.state == 'Z' || (st.flags & 0x4))
        return;
    r->fds.end = c;
    if (c > r->fds.peak)
        r->fds.peak = c;
    *any = true;
}

/* A process of the tree called exit_group and waits for the answer: if it is
 * the command (any of its threads), its descriptor count now is its count at
 * exit, before the kernel closes anything. Every caller is let go at once. */
static void exit_seen(int listener, pid_t cmd, bool count, struct report *r, bool *any)
{
    struct exit_notif n;
    if (exit_notif_recv(listener, &n))
        return;
    char task[64];
    snprintf(task, sizeof task, "/proc/%d/task/%d", (int)cmd, (int)n.tid);
    if (count && cmd > 0 && (n.tid == cmd || access(task, F_OK) == 0)) {
        long c = procfs_count_fds(cmd);
        if (c >= 0) {
            r->fds.end = c;
            if (c > r->fds.peak)
                r->fds.peak = c;
            r->fds.end_at_exit = true;
            *any = true;
        }
    }
    exit_notif_continue(listener, n.id);
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* The per-process rows: every child the reaper reaped (the command and the
 * orphans), each with what it and the children it reaped did. */
static void reaped_rows(const struct proc_shared *sh, struct report *r)
{
    double tick = (double)sysconf(_SC_CLK_TCK);
    r->has_procs = true;
    r->procs_inclusive = true;
    for (uint32_t i = 0; i < sh->nreaped && i < REAPED_MAX; i++) {
        const struct proc_reaped *e = &sh->reaped[i];
        bool is_cmd = e->pid == sh->cmd_pid;
        char *cmd = NULL;
        if (is_cmd && r->argv) {
            struct buf b;
            buf_init(&b, 0);
            for (char **a = r->argv; *a; a++)
                buf_printf(&b, "%s%s", a == r->argv ? "" : " ", *a);
            size_t len;
            cmd = buf_detach(&b, &len);
        }
        /* An orphan's first parent is not known: 0. */
        struct proc_row *p = report_add_proc(r, e->pid, is_cmd ? getpid() : 0,
                                             cmd           ? cmd
                                             : e->has_stat ? e->stat.comm
                                                           : NULL);
        free(cmd);
        if (!p)
            continue;
        if (e->has_stat && tick > 0) {
            double boot = (double)sh->boot_start / 1e9, at = (double)e->stat.starttime / tick;
            p->start = at > boot ? at - boot : 0;
        }
        p->end = e->t_end > sh->t_start ? (double)(e->t_end - sh->t_start) / 1e9 : 0;
        if (p->end < p->start)
            p->end = p->start;
        if (WIFEXITED(e->status)) {
            p->exited = true;
            p->exit_status = WEXITSTATUS(e->status);
        } else if (WIFSIGNALED(e->status)) {
            p->term_signal = WTERMSIG(e->status);
        }
        if (e->has_io) {
            p->read_ops = e->io.syscr;
            p->write_ops = e->io.syscw;
            p->read_bytes = e->io.rchar;
            p->write_bytes = e->io.wchar;
        }
        p->has_cpu = true;
        p->user_seconds = tv_seconds(&e->ru.ru_utime);
        p->system_seconds = tv_seconds(&e->ru.ru_stime);
    }
}

/* The live watcher's view of a spawned run (measure/live.h), from its own
 * thread: the reaper's counters (the children it reaped, less its own reads
 * of /proc) and then each live descendant's. Read in this order a process
 * reaped in between is missed, never counted twice: the totals are at most
 * the run's. Descriptors: summed over the live descendants (the reaper is
 * iopsd's), as the timeline counts them. */
struct proc_live {
    pid_t reaper;
    struct proc_shared *sh;
};

static int proc_live_sample(void *ctx, struct meas_progress *p)
{
    struct proc_live *pl = ctx;
    struct proc_io total, one;
    int rc = procfs_read_io(pl->reaper, &total);
    if (rc)
        return rc;
    struct proc_io own = {
        .syscr = __atomic_load_n(&pl->sh->own_syscr, __ATOMIC_RELAXED),
        .rchar = __atomic_load_n(&pl->sh->own_rchar, __ATOMIC_RELAXED),
    };
    proc_io_sub(&total, &own);
    pid_t pids[SAMPLE_MAX];
    long n = procfs_descendants(pl->reaper, pids, SAMPLE_MAX), fds = -1;
    for (long i = 0; i < n && i < SAMPLE_MAX; i++) {
        if (procfs_read_io(pids[i], &one) == 0)
            proc_io_add(&total, &one);
        bool fast;
        long c = tl_count_fds(pids[i], NULL, &fast);
        if (c >= 0)
            fds = (fds < 0 ? 0 : fds) + c;
    }
    p->elapsed_seconds = (double)(clock_mono_ns() - pl->sh->t_start) / 1e9;
    p->read_ops = total.syscr;
    p->write_ops = total.syscw;
    p->read_bytes = total.rchar;
    p->write_bytes = total.wchar;
    p->open_fds = fds;
    return 0;
}

static int proc_run(const struct meas_opts *o, char *const argv[], struct report *r, char *err,
                    size_t errlen)
{
    int rc = 0, pfd[2] = {-1, -1}, nsk[2] = {-1, -1}, listener = -1, sfd = -1;
    struct spawn_guard g = {0};
    struct reaper rp = {0};
    pid_t reaper = -1;
    bool reaper_live = false; /* started, not yet waited for */
    struct pidset seen = {0};
    sigset_t chld, oldmask;
    struct proc_shared *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        return -errno;
    }
    /* Anonymous mappings come zeroed: touching all 1.5 MB of it here cost
     * ~370 page faults (7 ms on this VM) for entries that are mostly never used. */
    snprintf(r->backend, sizeof(r->backend), "proc");
    report_set_argv(r, argv);
    r->fds.sampled = true;
    r->fds.interval_seconds = o->fd_interval;
    r->processes_exact = false;
    r->has_storage = true;
    long start_fds = spawn_inheritable_fds();
    r->fds.start = r->fds.peak = r->fds.end = start_fds > 0 ? start_fds : 0;

    if (pipe2(pfd, O_CLOEXEC) < 0) {
        rc = -errno;
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto out_unmap;
    }
    /* The command's descriptors at its exit_group, where the kernel allows it.
     * Not with --no-wait: processes that outlive the run would keep a filter
     * whose listener is gone (their exit_group would fail with ENOSYS). */
    if (o->wait_descendants && exit_notif_supported() &&
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, nsk) < 0)
        nsk[0] = nsk[1] = -1;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    spawn_guard_begin(&g);
    sigprocmask(SIG_BLOCK, &chld, &oldmask);
    r->start_time = clock_wall_seconds();
    rp = (struct reaper){.o = o,
                         .argv = argv,
                         .sh = sh,
                         .g = &g,
                         .errr = pfd[0],
                         .errw = pfd[1],
                         .notif_r = nsk[0],
                         .notif_w = nsk[1]};
    reaper = reaper_start(&rp);
    if (reaper < 0) {
        rc = reaper;
        snprintf(err, errlen, "clone: %s", strerror(-reaper));
        goto out_signals;
    }
    reaper_live = true;
    close(pfd[1]);
    pfd[1] = -1;
    if (nsk[1] >= 0) {
        close(nsk[1]);
        nsk[1] = -1;
        listener = exit_notif_receive(nsk[0]);
        close(nsk[0]);
        nsk[0] = -1;
    }

    int exec_err = spawn_read_exec_result(pfd[0]);
    pfd[0] = -1;
    if (o->spawned) /* after the exec: the descriptors are the command's */
        o->spawned(o->spawned_arg, reaper);
    struct proc_live pl = {reaper, sh};
    if (exec_err)
        spawn_record_exec_error(r, argv[0], exec_err);
    else {
        spawn_forward_pid = sh->cmd_pid;
        meas_live_publish(o->live, proc_live_sample, &pl, "proc");
    }

    /* Sample descriptors until the reaper stops. */
    bool sampled_any = false;
    uint64_t last_scan = clock_mono_ns();
    struct timespec ts = {(time_t)o->fd_interval,
                          (long)((o->fd_interval - (double)(time_t)o->fd_interval) * 1e9)};
    if (ts.tv_sec == 0 && ts.tv_nsec < 1000000)
        ts.tv_nsec = 1000000;
    sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        goto out_signals;
    }
    int st = 0;
    for (;;) {
        pid_t w = waitpid(reaper, &st, WUNTRACED | WNOHANG);
        if (w == reaper)
            break;
        if (w < 0 && errno != EINTR) {
            rc = -errno;
            snprintf(err, errlen, "waitpid: %s", strerror(errno));
            goto out_signals;
        }
        struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = listener, .events = POLLIN}};
        int n = ppoll(pf, listener >= 0 ? 2 : 1, &ts, NULL);
        if (n == 0 && !exec_err)
            sample(reaper, sh->cmd_pid, r, &seen, &sampled_any, &last_scan);
        if (n <= 0)
            continue;
        if (pf[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
        }
        if (listener >= 0 && (pf[1].revents & POLLIN))
            exit_seen(listener, sh->cmd_pid, exec_err == 0, r, &sampled_any);
        else if (listener >= 0 && (pf[1].revents & (POLLHUP | POLLERR | POLLNVAL))) {
            close(listener); /* no process holds the filter any more */
            listener = -1;
        }
    }
    meas_live_withdraw(o->live);
    if (!WIFSTOPPED(st)) {
        rc = -ECHILD;
        snprintf(err, errlen, "the measuring process ended unexpectedly (status %d)", st);
        goto out_signals;
    }

    /* The reaper is stopped: its counters are the tree's. */
    struct proc_io total;
    int ioerr = procfs_read_io(reaper, &total);
    if (ioerr) {
        rc = ioerr;
        snprintf(err, errlen, "reading /proc/%d/io: %s", (int)reaper, strerror(-ioerr));
    }
    struct proc_io own = {.syscr = sh->own_syscr, .rchar = sh->own_rchar};
    proc_io_sub(&total, &own);
    if (!o->wait_descendants) {
        pid_t pids[SAMPLE_MAX];
        long n = procfs_descendants(reaper, pids, SAMPLE_MAX);
        for (long i = 0; i < n && i < SAMPLE_MAX; i++) {
            struct proc_io one;
            if (procfs_read_io(pids[i], &one) == 0)
                proc_io_add(&total, &one);
            pidset_add(&seen, pids[i]);
        }
        r->still_running = n > 0 ? (uint64_t)n : 0;
    }
    kill(reaper, SIGKILL);
    waitpid(reaper, NULL, 0);
    reaper_live = false;

    if (!exec_err)
        spawn_record_status(r, sh->cmd_status);
    r->read_ops = total.syscr;
    r->write_ops = total.syscw;
    r->read_bytes = total.rchar;
    r->write_bytes = total.wchar;
    r->storage_read_bytes = total.read_bytes;
    r->storage_write_bytes = total.write_bytes;
    r->cancelled_write_bytes = total.cancelled_write_bytes;
    r->wall_seconds = (double)(sh->t_end - sh->t_start) / 1e9;
    r->user_seconds = tv_seconds(&sh->ru.ru_utime);
    r->system_seconds = tv_seconds(&sh->ru.ru_stime);
    for (uint32_t i = 0; i < sh->nreaped && i < REAPED_MAX; i++)
        pidset_add(&seen, sh->reaped[i].pid);
    if (!exec_err)
        reaped_rows(sh, r);
    r->processes = seen.n > sh->nreaped ? seen.n : sh->nreaped;
    if (!sampled_any)
        r->fds.end = r->fds.start;

out_signals:
    meas_live_withdraw(o->live);
    if (reaper_live) { /* before its memory and its host go */
        kill(reaper, SIGKILL);
        while (waitpid(reaper, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    reaper_finish(&rp);
    if (sfd >= 0)
        close(sfd);
    if (listener >= 0)
        close(listener);
    for (int i = 0; i < 2; i++)
        if (nsk[i] >= 0)
            close(nsk[i]);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    spawn_guard_end(&g);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
out_unmap:
    munmap(sh, sizeof(*sh));
    free(seen.v);
    return rc;
}

/* ---- attached windows ----
 *
 * The members of a window are processes (tree) or the roots' threads (no
 * tree). Each is found once (by parent links from a member, or in
 * /proc/<root>/task) and then followed by pid and start time, even when it
 * is reparented. Its counters are read at the start (a member born later
 * starts from 0), at every window_sample and at the end. The window's
 * counters are, for every member, the last reading minus the first; except
 * that a process found gone while its parent is still a running member was
 * reaped by that parent, whose counters then include everything it did
 * (Linux folds a reaped child's counters into its parent's): it contributes
 * minus its first reading only. A member that ended otherwise (reaped
 * outside the tree: a root, an orphan adopted by init; an exited thread)
 * contributes what was last read of it: what it did after the last sample
 * is lost. */

struct wcount {
    struct proc_io io;
    uint64_t ut, st; /* CPU ticks (tree: its reaped children's included) */
};

struct wmember {
    pid_t pid;  /* the process (tree) or the thread (no tree) */
    pid_t tgid; /* its process */
    uint64_t starttime;
    pid_t ppid;    /* at the last reading */
    uint32_t died; /* the sample that found it gone; 0 while it runs */
    bool zombie;   /* exited, not yet reaped */
    struct wcount first, last;
};

struct meas_window {
    pid_t roots[MEAS_MAX_ROOTS];
    size_t nroots;
    bool tree;
    pid_t only_tid; /* of roots[0]'s threads at the start, only this one counts */
    pid_t *tids0;   /* roots[0]'s threads at the start (only_tid set) */
    size_t ntids0;
    struct wmember *m;
    size_t n, cap;
    uint32_t seq;         /* samples taken, the first reading included */
    uint64_t boot0_ticks; /* the start, in clock ticks since boot (process start times) */
    uint64_t t0;
    double wall0;
    long fds0;
};

#define TIDS_MAX    4096
#define MEMBERS_MAX 65536

/* roots[0]'s own counters: the process's, or (only_tid) those of the
 * measured thread and of the threads that were not there at the start. */
static int root_io(struct meas_window *w, struct proc_io *io, bool at_start)
{
    pid_t root = w->roots[0];
    if (!w->only_tid)
        return procfs_read_io(root, io);
    memset(io, 0, sizeof(*io));
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/task", (int)root);
    DIR *d = opendir(p);
    if (!d)
        return -errno;
    if (at_start && !w->tids0)
        w->tids0 = xcalloc(TIDS_MAX, sizeof(*w->tids0));
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0)
            continue;
        bool old = false;
        for (size_t i = 0; i < w->ntids0 && !old; i++)
            old = w->tids0[i] == tid;
        if (at_start && w->ntids0 < TIDS_MAX)
            w->tids0[w->ntids0++] = tid;
        struct proc_io one;
        if ((tid == w->only_tid || (!old && !at_start)) &&
            procfs_read_task_io(root, tid, &one) == 0)
            proc_io_add(io, &one);
    }
    closedir(d);
    return 0;
}

/* /proc/<pid>/task/<tid>/stat: the thread's own times. */
static int read_task_stat(pid_t pid, pid_t tid, struct proc_stat *st)
{
    char path[64], text[PROCFS_MAX_STAT + 1];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, text, sizeof(text));
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    if (n > 0 && text[n - 1] == '\n')
        n--;
    if (n <= 0 || n > PROCFS_MAX_STAT)
        return -EBADMSG;
    return procfs_parse_stat(text, (size_t)n, st);
}

/* Reads member e now. Returns 0, or -errno when it is gone (or another
 * process has its pid) or its counters cannot be read. */
static int member_read(struct meas_window *w, struct wmember *e, bool at_start, struct wcount *c)
{
    struct proc_stat st;
    int rc = w->tree ? procfs_read_stat(e->pid, &st) : read_task_stat(e->tgid, e->pid, &st);
    if (rc)
        return rc;
    if (e->starttime && st.starttime != e->starttime)
        return -ESRCH;
    e->starttime = st.starttime;
    e->ppid = st.ppid;
    e->zombie = st.state == 'Z' || st.state == 'X';
    memset(c, 0, sizeof(*c));
    if (!w->tree)
        rc = procfs_read_task_io(e->tgid, e->pid, &c->io);
    else if (w->only_tid && e->pid == w->roots[0])
        rc = root_io(w, &c->io, at_start);
    else
        rc = procfs_read_io(e->pid, &c->io);
    c->ut = st.utime + (w->tree ? st.cutime : 0);
    c->st = st.stime + (w->tree ? st.cstime : 0);
    return rc;
}

static struct wmember *member_find(struct meas_window *w, pid_t pid, bool running)
{
    for (size_t i = w->n; i-- > 0;)
        if (w->m[i].pid == pid && (!running || !w->m[i].died))
            return &w->m[i];
    return NULL;
}

/* A new member: its first reading is now (at_start), else zero (born during
 * the window: everything it has done is the window's). */
static int member_add(struct meas_window *w, pid_t pid, pid_t tgid, bool at_start)
{
    if (w->n >= MEMBERS_MAX)
        return -E2BIG;
    w->m = xgrow(w->m, &w->cap, w->n + 1, sizeof(*w->m));
    struct wmember *e = &w->m[w->n];
    memset(e, 0, sizeof(*e));
    e->pid = pid;
    e->tgid = tgid;
    struct wcount c;
    int rc = member_read(w, e, at_start, &c);
    if (rc)
        return rc;
    e->last = c;
    /* Adopted into the tree, not born in the window: what it did before
     * is not the window's (only what it did before being seen is lost). */
    if (at_start || e->starttime < w->boot0_ticks)
        e->first = c;
    w->n++;
    return 0;
}

/* Tree: the children of every running member, from each of its threads'
 * children file; new members' children too. -ENOENT when the kernel has no
 * children files (then the caller scans /proc). */
static int discover_children(struct meas_window *w, bool at_start)
{
    pid_t kids[1024];
    for (size_t i = 0; i < w->n; i++) {
        if (w->m[i].died || w->m[i].zombie)
            continue;
        pid_t pid = w->m[i].pid;
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/task", (int)pid);
        DIR *d = opendir(p);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid <= 0)
                continue;
            long n = procfs_read_children(pid, tid, kids, sizeof(kids) / sizeof(*kids));
            if (n == -ENOENT && i == 0 && tid == pid) {
                closedir(d);
                return -ENOENT;
            }
            for (long k = 0; k < n && k < (long)(sizeof(kids) / sizeof(*kids)); k++) {
                if (kids[k] == getpid() || member_find(w, kids[k], true))
                    continue;
                member_add(w, kids[k], kids[k], at_start); /* may move w->m */
            }
        }
        closedir(d);
    }
    return 0;
}

/* Finds members not yet known: the roots' threads (no tree), or every
 * process whose parent is a running member (tree). */
static void discover(struct meas_window *w, bool at_start)
{
    if (!w->tree) {
        for (size_t r = 0; r < w->nroots; r++) {
            char p[64];
            snprintf(p, sizeof(p), "/proc/%d/task", (int)w->roots[r]);
            DIR *d = opendir(p);
            if (!d)
                continue;
            struct dirent *e;
            while ((e = readdir(d))) {
                pid_t tid = (pid_t)atoi(e->d_name);
                if (tid > 0 && !member_find(w, tid, true))
                    member_add(w, tid, w->roots[r], at_start);
            }
            closedir(d);
        }
        return;
    }
    if (discover_children(w, at_start) == 0)
        return;
    struct proc_stat *all;
    long got = procfs_all_stats(&all);
    if (got < 0)
        return;
    size_t n = (size_t)got;
    /* To a fixed point: a child found this pass may have children. */
    for (bool added = true; added;) {
        added = false;
        for (size_t i = 0; i < n; i++) {
            if (all[i].pid == getpid() || !member_find(w, all[i].ppid, true))
                continue;
            struct wmember *e = member_find(w, all[i].pid, true);
            if (e && e->starttime == all[i].starttime)
                continue;
            if (member_add(w, all[i].pid, all[i].pid, at_start) == 0)
                added = true;
        }
    }
    free(all);
}

/* Reads every running member (children before parents: a child reaped
 * between the two readings is then in its parent's, never missing), notes
 * the ones gone, then looks for new ones. */
static void window_read(struct meas_window *w)
{
    w->seq++;
    for (size_t i = w->n; i-- > 0;) {
        struct wmember *e = &w->m[i];
        if (e->died)
            continue;
        struct wcount c;
        if (member_read(w, e, false, &c))
            e->died = w->seq;
        else
            e->last = c;
    }
    discover(w, false);
}

/* The window's counters so far; *live: members still running (processes). */
static void window_totals(const struct meas_window *w, struct wcount *out, uint64_t *live)
{
    struct wcount plus = {0}, minus = {0};
    *live = 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct wmember *e = &w->m[i];
        proc_io_add(&minus.io, &e->first.io);
        minus.ut += e->first.ut;
        minus.st += e->first.st;
        if (e->died && w->tree) {
            /* Reaped by its parent, a member still running then: in the
             * parent's counters. */
            const struct wmember *p = NULL;
            for (size_t j = 0; j < w->n && !p; j++)
                if (j != i && w->m[j].pid == e->ppid && (!w->m[j].died || w->m[j].died > e->died))
                    p = &w->m[j];
            if (p && !(w->only_tid && p->pid == w->roots[0])) /* only a thread's counters */
                continue;
        }
        proc_io_add(&plus.io, &e->last.io);
        plus.ut += e->last.ut;
        plus.st += e->last.st;
        if (!e->died && !e->zombie && (w->tree || e->pid == e->tgid))
            (*live)++;
    }
    proc_io_sub(&plus.io, &minus.io);
    plus.ut = plus.ut > minus.ut ? plus.ut - minus.ut : 0;
    plus.st = plus.st > minus.st ? plus.st - minus.st : 0;
    *out = plus;
}

static long roots_fds(const struct meas_window *w)
{
    long sum = 0;
    for (size_t i = 0; i < w->nroots; i++) {
        long c = procfs_count_fds(w->roots[i]);
        if (c > 0)
            sum += c;
    }
    return sum;
}

static int proc_window_begin(const pid_t *roots, size_t nroots, const struct meas_opts *o,
                             struct meas_window **out, char *err, size_t errlen)
{
    if (nroots == 0 || nroots > MEAS_MAX_ROOTS) {
        snprintf(err, errlen, "between 1 and %d processes can be measured at once", MEAS_MAX_ROOTS);
        return -EINVAL;
    }
    struct meas_window *w = xcalloc(1, sizeof(*w));
    memcpy(w->roots, roots, nroots * sizeof(*roots));
    w->nroots = nroots;
    w->tree = o->tree;
    w->only_tid = o->root_only_tid;
    struct timespec bt;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    long hz = sysconf(_SC_CLK_TCK);
    w->boot0_ticks = ((uint64_t)bt.tv_sec * 1000000000ull + (uint64_t)bt.tv_nsec) /
                     (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
    int rc = 0;
    for (size_t i = 0; i < nroots && !rc; i++) {
        if (member_find(w, roots[i], false))
            continue; /* listed twice */
        rc = w->tree ? member_add(w, roots[i], roots[i], true) : 0;
        if (!w->tree) { /* the roots' threads: checked through the process */
            struct proc_io io;
            rc = procfs_read_io(roots[i], &io);
        }
        if (rc) {
            struct stat sb;
            char path[64];
            snprintf(path, sizeof(path), "/proc/%d", (int)roots[i]);
            if (rc == -ENOENT || rc == -ESRCH || stat(path, &sb) != 0) {
                rc = -ESRCH;
                snprintf(err, errlen, "process %d does not exist", (int)roots[i]);
            } else if (rc == -EACCES || rc == -EPERM) {
                snprintf(err, errlen, "cannot read /proc/%d/io: %s (the process belongs to uid %u)",
                         (int)roots[i], strerror(-rc), (unsigned)sb.st_uid);
            } else {
                snprintf(err, errlen, "reading /proc/%d: %s", (int)roots[i], strerror(-rc));
            }
        }
    }
    if (rc) {
        free(w->m);
        free(w->tids0);
        free(w);
        return rc;
    }
    /* The tree's other members (in tree mode every process below a root
     * existing now, in no-tree mode each root's threads). */
    w->seq = 1;
    discover(w, true);
    w->fds0 = roots_fds(w);
    /* The scan of /proc takes milliseconds: read every member again, in one
     * quick pass, right before the clock (a member gone by now ends at once
     * with nothing counted). */
    for (size_t i = w->n; i-- > 0;) {
        struct wmember *e = &w->m[i];
        struct wcount c;
        if (member_read(w, e, false, &c) == 0) /* false: root_io knows its threads */
            e->first = e->last = c;
        else
            e->died = w->seq;
    }
    w->wall0 = clock_wall_seconds();
    w->t0 = clock_mono_ns();
    *out = w;
    return 0;
}

static int proc_window_end(struct meas_window *w, struct report *r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    uint64_t t1 = clock_mono_ns();
    window_read(w);
    long fds1 = roots_fds(w);
    struct wcount c;
    uint64_t live;
    window_totals(w, &c, &live);
    double tick = (double)sysconf(_SC_CLK_TCK);
    snprintf(r->backend, sizeof(r->backend), "proc");
    r->start_time = w->wall0;
    r->wall_seconds = (double)(t1 - w->t0) / 1e9;
    r->user_seconds = (double)c.ut / tick;
    r->system_seconds = (double)c.st / tick;
    r->read_ops = c.io.syscr;
    r->write_ops = c.io.syscw;
    r->read_bytes = c.io.rchar;
    r->write_bytes = c.io.wchar;
    r->storage_read_bytes = c.io.read_bytes;
    r->storage_write_bytes = c.io.write_bytes;
    r->cancelled_write_bytes = c.io.cancelled_write_bytes;
    r->has_storage = true;
    r->fds.sampled = true;
    r->fds.start = w->fds0;
    r->fds.end = fds1;
    r->fds.peak = fds1 > w->fds0 ? fds1 : w->fds0;
    uint64_t procs = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->m[i].pid == w->m[i].tgid)
            procs++;
    r->processes = procs;
    r->processes_exact = false;
    free(w->m);
    free(w->tids0);
    free(w);
    return 0;
}

static int proc_window_sample(struct meas_window *w, struct meas_progress *p)
{
    window_read(w);
    struct wcount c;
    window_totals(w, &c, &p->live_processes);
    p->elapsed_seconds = (double)(clock_mono_ns() - w->t0) / 1e9;
    p->read_ops = c.io.syscr;
    p->write_ops = c.io.syscw;
    p->read_bytes = c.io.rchar;
    p->write_bytes = c.io.wchar;
    p->open_fds = roots_fds(w);
    return 0;
}

const struct meas_backend meas_proc = {
    .name = "proc",
    .summary = "counters from /proc/<pid>/io; no stops, near-zero cost",
    .probe = proc_probe,
    .run = proc_run,
    .window_begin = proc_window_begin,
    .window_end = proc_window_end,
    .window_sample = proc_window_sample,
    .excludes_fds = false,
};
