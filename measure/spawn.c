/* spawn: starting the measured command the way `time` and `env` do. */
#include "measure/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

volatile pid_t spawn_forward_pid;
static sigset_t child_mask;
static bool have_child_mask;

void spawn_set_child_mask(const sigset_t *mask)
{
    have_child_mask = mask != NULL;
    if (mask)
        child_mask = *mask;
}

static void forward_signal(int sig)
{
    pid_t p = spawn_forward_pid;
    if (p > 0)
        kill(p, sig);
}

void spawn_guard_begin(struct spawn_guard *g)
{
    struct sigaction ign, fwd;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    memset(&fwd, 0, sizeof(fwd));
    fwd.sa_handler = forward_signal;
    sigemptyset(&fwd.sa_mask);
    fwd.sa_flags = SA_RESTART;
    if (have_child_mask)
        g->old_mask = child_mask;
    else
        sigprocmask(SIG_SETMASK, NULL, &g->old_mask);
    sigaction(SIGINT, &ign, &g->old_int);
    sigaction(SIGQUIT, &ign, &g->old_quit);
    sigaction(SIGTERM, &fwd, &g->old_term);
    sigaction(SIGHUP, &fwd, &g->old_hup);
    g->active = true;
}

void spawn_guard_end(struct spawn_guard *g)
{
    if (!g->active)
        return;
    spawn_forward_pid = 0;
    sigaction(SIGINT, &g->old_int, NULL);
    sigaction(SIGQUIT, &g->old_quit, NULL);
    sigaction(SIGTERM, &g->old_term, NULL);
    sigaction(SIGHUP, &g->old_hup, NULL);
    g->active = false;
}

void spawn_child_reset(const struct spawn_guard *g)
{
    /* Handlers are reset by exec anyway; ignored signals are not, so restore
     * what the user's shell gave us. */
    sigaction(SIGINT, &g->old_int, NULL);
    sigaction(SIGQUIT, &g->old_quit, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (g->old_term.sa_handler == SIG_IGN)
        sigaction(SIGTERM, &g->old_term, NULL);
    else
        sigaction(SIGTERM, &dfl, NULL);
    if (g->old_hup.sa_handler == SIG_IGN)
        sigaction(SIGHUP, &g->old_hup, NULL);
    else
        sigaction(SIGHUP, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    sigprocmask(SIG_SETMASK, &g->old_mask, NULL);
}

void spawn_child_exec(char *const argv[], int errfd)
{
    execvp(argv[0], argv);
    int e = errno;
    ssize_t n;
    do
        n = write(errfd, &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

int spawn_read_exec_result(int fd)
{
    int e = 0;
    ssize_t n;
    do
        n = read(fd, &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(fd);
    return n == (ssize_t)sizeof(e) ? e : 0;
}

void spawn_record_status(struct report *r, int wstatus)
{
    if (WIFEXITED(wstatus)) {
        r->exited = true;
        r->exit_status = WEXITSTATUS(wstatus);
        r->term_signal = 0;
    } else if (WIFSIGNALED(wstatus)) {
        r->exited = false;
        r->term_signal = WTERMSIG(wstatus);
    }
}

void spawn_record_exec_error(struct report *r, const char *cmd, int err)
{
    r->exec_errno = err;
    if (err == ENOENT)
        report_set_error(r, "%s: command not found", cmd);
    else
        report_set_error(r, "%s: cannot execute: %s", cmd, strerror(err));
}

long spawn_inheritable_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -errno;
    int self = dirfd(d);
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd == self)
            continue;
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            n++;
    }
    closedir(d);
    return n;
}
