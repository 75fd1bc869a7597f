/* tw_loopw: a running process that writes in a loop and keeps its own tally,
 * for `iopsd measure --pid` (attach) tests.
 *
 *   tw_loopw FILE LOG [SECONDS]
 *
 * Writes 4,096 bytes to FILE about every millisecond for SECONDS (default
 * 60), then exits 0. LOG (created) is a shared mapping of struct loopw_log:
 * after each write returns, the CLOCK_REALTIME time is stored in ns[i] and
 * then n = i + 1, so a reader sees every completed write and when it
 * completed, without the helper making any other I/O call (the tally is
 * memory, not a file write). SIGUSR1 makes it fork a child that writes
 * CHILD_WRITES blocks of 4,096 bytes to FILE.child and exits; the helper
 * waits for it and stores when the child was forked and reaped. Any short or
 * failed write exits 100. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BS           4096
#define CAP          (1u << 17)
#define CHILD_WRITES 25

struct loopw_log {
    uint64_t n; /* writes completed */
    uint64_t child_fork_ns, child_reaped_ns, child_status;
    uint64_t ns[CAP]; /* completion time of write i */
};

static volatile sig_atomic_t fork_asked;

static void on_usr1(int sig)
{
    (void)sig;
    fork_asked = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void child(const char *file, char *buf)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s.child", file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        _exit(100);
    for (int i = 0; i < CHILD_WRITES; i++)
        if (write(fd, buf, BS) != BS)
            _exit(100);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: tw_loopw FILE LOG [SECONDS]\n");
        return 2;
    }
    double seconds = argc == 4 ? atof(argv[3]) : 60;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int lfd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || lfd < 0 || ftruncate(lfd, sizeof(struct loopw_log)) < 0) {
        perror("tw_loopw");
        return 100;
    }
    struct loopw_log *log = mmap(NULL, sizeof(*log), PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    if (log == MAP_FAILED) {
        perror("mmap");
        return 100;
    }
    close(lfd);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    static char buf[BS];
    memset(buf, 'w', sizeof(buf));
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    while (now_ns() < end) {
        if (write(fd, buf, BS) != BS)
            return 100;
        uint64_t i = log->n;
        if (i < CAP)
            log->ns[i] = now_ns();
        __atomic_store_n(&log->n, i + 1, __ATOMIC_RELEASE);
        if (fork_asked) {
            fork_asked = 0;
            log->child_fork_ns = now_ns();
            pid_t c = fork();
            if (c == 0)
                child(argv[1], buf);
            int st = 0;
            while (c > 0 && waitpid(c, &st, 0) < 0 && errno == EINTR)
                ;
            log->child_status = c > 0 ? (uint64_t)st : 255;
            __atomic_store_n(&log->child_reaped_ns, now_ns(), __ATOMIC_RELEASE);
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 0;
}
