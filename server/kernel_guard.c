/* kernel_guard: no process the kernel started (bash and its jobs, or the
 * wrapped kernel of `--wrap` and what its cells started) outlives it, on any
 * path and without cgroups. For the wrap kernel, "bash's session" below is
 * the wrapped kernel's (its PR_SET_PDEATHSIG is SIGSTOP too) and there is no
 * command pipe.
 *
 * - The kernel is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever
 *   leaves bash's tree while the kernel lives (a `setsid` child whose parent
 *   exited, a double fork) is adopted by the kernel instead of init, reaped
 *   when it exits (kguard_reap_orphans, on SIGCHLD) and ended at shutdown
 *   (kguard_end: every descendant, SIGTERM then SIGKILL).
 * - A guard process (a child of the kernel, in a process group of its own so
 *   that a signal to the kernel's group spares it) holds the read end of a
 *   pipe only the kernel writes to. The kernel tells it bash's session
 *   ("b SID FD": the guard also opens bash's command pipe, so that bash never
 *   reads end-of-file and exits before it is frozen) and says "x" on a clean
 *   end. End-of-file without "x" means the kernel died (SIGKILL, a crash):
 *   bash (whose PR_SET_PDEATHSIG is then SIGSTOP) is frozen with its process
 *   group, and every process of its session, every descendant of those
 *   (`setsid` children included, found by their parent while it is frozen)
 *   and every process still parented to the dead kernel is killed, until a
 *   scan of /proc finds none (at most 2 s).
 * - A killed guard is replaced at once (kguard_reap_orphans, on SIGCHLD): the
 *   kernel has threads by then, so the new guard is `iopsd --kernel-guard
 *   KPID` executed with its pipe on descriptor 3, and told the session again.
 * - The kernel's private directories (the front's sockets, bash's cell file,
 *   the wrapped kernel's connection file and sockets) are told to the guard
 *   ("d PATH", "u PATH" when removed on purpose): after a death it removes
 *   their entries and them, once the processes are gone.
 * docs/bash-kernel.md ("Ending") says what a deliberate daemon can still
 * escape. */
#include "server/kernel_guard.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "measure/procfs.h"
#include "util/clock.h"

#define SCAN_MAX 65536 /* processes looked at per scan */

static pid_t guard_pid;
static int guard_fd = -1;
static pid_t kernel_pid;  /* the process the guard watches */
static pid_t tracked_sid; /* what the guard was last told, said again to a new guard */
static int tracked_fd = -1;
static unsigned respawns; /* guards started again after one was killed */
/* Private directories the guard removes after a death (kguard_own_dir). */
#define OWNED_DIRS_MAX 8
#define OWNED_DIR_LEN  4000 /* a line to the guard stays one atomic write */
static char *owned_dirs[OWNED_DIRS_MAX];
#define RESPAWN_MAX 20

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

struct pent {
    pid_t pid, ppid, sid;
    char state;
    bool mark;
};

struct pent_list {
    struct pent *v;
    size_t n, max;
};

static int add_pent(const struct proc_stat *st, void *ctx)
{
    struct pent_list *l = ctx;
    l->v[l->n++] =
        (struct pent){.pid = st->pid, .ppid = st->ppid, .sid = st->session, .state = st->state};
    return l->n < l->max ? 0 : 1; /* full: stop */
}

/* Reads every process of /proc into v (at most max); returns how many. */
static size_t scan(struct pent *v, size_t max)
{
    struct pent_list l = {.v = v, .n = 0, .max = max};
    if (max > 0)
        procfs_each_stat(add_pent, &l);
    return l.n;
}

/* Marks the descendants of marked entries (to a fixed point). */
static void mark_descendants(struct pent *v, size_t n)
{
    bool more = true;
    while (more) {
        more = false;
        for (size_t i = 0; i < n; i++) {
            if (v[i].mark)
                continue;
            for (size_t j = 0; j < n; j++)
                if (v[j].mark && v[j].pid == v[i].ppid) {
                    v[i].mark = more = true;
                    break;
                }
        }
    }
}

/* The guard, after the kernel died: freeze, then kill bash's session, its
 * descendants and the kernel's leftover children, until none is left. */
static void guard_sweep(pid_t sid, pid_t kpid)
{
    if (sid > 1)
        kill(-sid, SIGSTOP);
    struct pent *v = calloc(SCAN_MAX, sizeof *v);
    if (!v)
        return;
    pid_t self = getpid();
    uint64_t until = now_ms() + 2000;
    do {
        size_t n = scan(v, SCAN_MAX);
        for (size_t i = 0; i < n; i++)
            v[i].mark = v[i].pid != self && v[i].state != 'Z' &&
                        ((sid > 1 && v[i].sid == sid) || v[i].ppid == kpid);
        mark_descendants(v, n);
        size_t hit = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].mark && v[i].pid != self && v[i].state != 'Z') {
                kill(v[i].pid, SIGKILL);
                hit++;
            }
        if (!hit)
            break;
        usleep(10000);
    } while (now_ms() < until);
    free(v);
}

/* The guard, after the sweep: a private directory's entries, then it. */
static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(path);
}

/* The guard's list of directories: "d PATH" adds, "u PATH" forgets. */
static void dir_list_apply(char **dirs, char op, const char *path)
{
    int free_slot = -1;
    for (int i = 0; i < OWNED_DIRS_MAX; i++) {
        if (dirs[i] && !strcmp(dirs[i], path)) {
            if (op == 'u') {
                free(dirs[i]);
                dirs[i] = NULL;
            }
            return;
        }
        if (!dirs[i] && free_slot < 0)
            free_slot = i;
    }
    if (op == 'd' && free_slot >= 0)
        dirs[free_slot] = strdup(path);
}

static void guard_main(int rfd, pid_t kpid)
{
    setpgid(0, 0); /* a signal to the kernel's process group spares the guard */
    prctl(PR_SET_NAME, "iopsd-guard");
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    /* nothing of the kernel's but the guard pipe (and stderr) */
    if (dup2(rfd, 3) < 0)
        _exit(1);
    closefrom(4);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        close(null);
    }
    pid_t sid = 0;
    int cmd = -1;
    static char line[OWNED_DIR_LEN + 8];
    size_t len = 0;
    bool overlong = false;
    char *dirs[OWNED_DIRS_MAX] = {0};
    if (getppid() != kpid) /* the kernel died before we started */
        goto swept;
    for (;;) {
        char c;
        ssize_t n = read(3, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c != '\n') {
            if (len < sizeof line - 1)
                line[len++] = c;
            else
                overlong = true;
            continue;
        }
        line[len] = '\0';
        len = 0;
        if (overlong) { /* never acted on cut short */
            overlong = false;
            continue;
        }
        if ((line[0] == 'd' || line[0] == 'u') && line[1] == ' ' && line[2] == '/') {
            dir_list_apply(dirs, line[0], line + 2);
            continue;
        }
        long s, fd;
        if (!strcmp(line, "x"))
            _exit(0);
        if (sscanf(line, "b %ld %ld", &s, &fd) == 2) {
            sid = (pid_t)s;
            if (cmd >= 0)
                close(cmd);
            cmd = -1;
            if (fd >= 0) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/fd/%ld", (int)kpid, fd);
                cmd = open(path, O_WRONLY | O_CLOEXEC);
            }
        }
    }
swept:
    guard_sweep(sid, kpid);
    for (int i = 0; i < OWNED_DIRS_MAX; i++)
        if (dirs[i])
            remove_dir(dirs[i]);
    _exit(0);
}

int kguard_exec_main(int argc, char **argv)
{
    /* iopsd --kernel-guard KPID, its pipe on descriptor 3 (kguard_respawn) */
    char *end;
    long kpid = argc == 3 ? strtol(argv[2], &end, 10) : 0;
    struct stat st;
    if (kpid <= 1 || *end || fstat(3, &st) || !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "iopsd: --kernel-guard is started by the kernel only\n");
        return 2;
    }
    guard_main(3, (pid_t)kpid);
    return 0;
}

/* A new guard after the first was killed. The kernel has threads by now, so
 * the child only sets its pipe up and executes iopsd again (async-signal-safe
 * calls only between fork and exec). */
/* Starts a guard with a new pipe: forked (at the start, one thread) or, once
 * the kernel has threads, `iopsd --kernel-guard KPID` executed with the
 * pipe's read end on descriptor 3. */
static int spawn_guard(bool exec)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -errno;
    char pidarg[24];
    snprintf(pidarg, sizeof pidarg, "%d", (int)kernel_pid);
    char *argv[] = {"iopsd", "--kernel-guard", pidarg, NULL};
    char *envp[] = {NULL};
    pid_t g = fork();
    if (g < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (g == 0) {
        if (!exec) {
            close(p[1]);
            guard_main(p[0], kernel_pid);
        }
        if (p[0] == 3)
            fcntl(3, F_SETFD, 0);
        else if (dup2(p[0], 3) < 0)
            _exit(127);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    close(p[0]);
    guard_fd = p[1];
    guard_pid = g;
    return 0;
}

static void tell_dir(char op, const char *dir)
{
    if (guard_fd < 0)
        return;
    char line[OWNED_DIR_LEN + 8];
    int n = snprintf(line, sizeof line, "%c %s\n", op, dir);
    if (write(guard_fd, line, (size_t)n) != n)
        fprintf(stderr, "iopsd kernel: guard: %s\n", strerror(errno));
}

static int kguard_respawn(void)
{
    int rc = spawn_guard(true);
    if (rc == 0 && tracked_sid > 0)
        kguard_track(tracked_sid, tracked_fd);
    for (int i = 0; rc == 0 && i < OWNED_DIRS_MAX; i++)
        if (owned_dirs[i])
            tell_dir('d', owned_dirs[i]);
    return rc;
}

void kguard_own_dir(const char *dir, bool own)
{
    /* absolute, one line, short enough for one atomic write */
    if (!dir || dir[0] != '/' || strchr(dir, '\n') || strlen(dir) > OWNED_DIR_LEN)
        return;
    int slot = -1;
    for (int i = 0; i < OWNED_DIRS_MAX; i++) {
        if (owned_dirs[i] && !strcmp(owned_dirs[i], dir)) {
            slot = i;
            break;
        }
        if (!owned_dirs[i] && slot < 0)
            slot = i;
    }
    if (slot < 0)
        return; /* full: a leftover directory, no worse */
    if (own && !owned_dirs[slot]) {
        owned_dirs[slot] = strdup(dir);
        if (!owned_dirs[slot])
            return;
    } else if (!own && owned_dirs[slot] && !strcmp(owned_dirs[slot], dir)) {
        free(owned_dirs[slot]);
        owned_dirs[slot] = NULL;
    } else {
        return; /* already told, or never told */
    }
    tell_dir(own ? 'd' : 'u', dir);
}

int kguard_start(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    kernel_pid = getpid();
    return spawn_guard(false);
}

bool kguard_active(void)
{
    return guard_fd >= 0;
}

void kguard_track(pid_t sid, int cmd_fd)
{
    tracked_sid = sid;
    tracked_fd = cmd_fd;
    if (guard_fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof line, "b %d %d\n", (int)sid, cmd_fd);
    if (write(guard_fd, line, (size_t)n) != n)
        fprintf(stderr, "iopsd kernel: guard: %s\n", strerror(errno));
}

/* The main thread's children: the kernel's own (bash, helpers, the guard)
 * and the orphans it adopted as subreaper. */
static size_t own_children(pid_t *out, size_t max)
{
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    size_t k = 0;
    char *p = text, *end;
    while (k < max) {
        long c = strtol(p, &end, 10);
        if (end == p)
            break;
        out[k++] = (pid_t)c;
        p = end;
    }
    return k;
}

void kguard_reap_orphans(pid_t keep)
{
    pid_t kids[1024];
    size_t n = own_children(kids, sizeof kids / sizeof *kids);
    for (size_t i = 0; i < n; i++) {
        struct proc_stat st;
        if (kids[i] == keep || procfs_read_stat(kids[i], &st) || st.state != 'Z')
            continue;
        if (waitpid(kids[i], NULL, WNOHANG) == kids[i] && kids[i] == guard_pid) {
            /* The guard was killed: until another one runs, a death of the
             * kernel would leave the processes it guards stopped. */
            guard_pid = 0;
            close(guard_fd);
            guard_fd = -1;
            int rc = respawns < RESPAWN_MAX ? kguard_respawn() : -EAGAIN;
            if (rc == 0) {
                respawns++;
                fprintf(stderr, "iopsd kernel: the guard process died: started another (pid %d)\n",
                        (int)guard_pid);
            } else {
                fprintf(stderr,
                        "iopsd kernel: the guard process died and no other could be started "
                        "(%s): should the kernel be killed, the processes of the cells would "
                        "stay behind (stopped)\n",
                        rc == -EAGAIN ? "killed too often" : strerror(-rc));
            }
        }
    }
}

void kguard_end(void)
{
    /* every descendant but the guard: SIGTERM, then SIGKILL after 200 ms */
    struct pent *v = calloc(SCAN_MAX, sizeof *v);
    pid_t self = getpid();
    uint64_t start = now_ms();
    bool killing = false;
    while (v && now_ms() < start + 1500) {
        size_t n = scan(v, SCAN_MAX);
        for (size_t i = 0; i < n; i++)
            v[i].mark = v[i].ppid == self && v[i].pid != guard_pid;
        mark_descendants(v, n);
        size_t hit = 0;
        for (size_t i = 0; i < n; i++) {
            if (!v[i].mark)
                continue;
            if (v[i].state == 'Z') {
                if (v[i].ppid == self)
                    waitpid(v[i].pid, NULL, WNOHANG);
                continue;
            }
            hit++;
            if (killing) {
                kill(v[i].pid, SIGKILL);
            } else {
                kill(v[i].pid, SIGTERM);
                kill(v[i].pid, SIGCONT);
            }
        }
        if (!hit)
            break;
        if (now_ms() >= start + 200)
            killing = true;
        usleep(5000);
    }
    free(v);
    if (guard_fd >= 0) {
        (void)!write(guard_fd, "x\n", 2);
        close(guard_fd);
        guard_fd = -1;
    }
    if (guard_pid > 0) {
        uint64_t until = now_ms() + 500;
        while (waitpid(guard_pid, NULL, WNOHANG) == 0) {
            if (now_ms() >= until) {
                kill(guard_pid, SIGKILL);
                waitpid(guard_pid, NULL, 0);
                break;
            }
            usleep(1000);
        }
        guard_pid = 0;
    }
}
