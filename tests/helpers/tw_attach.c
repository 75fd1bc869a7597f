/* tw_attach: a long-running process for the tracer's attach tests.
 *
 *   tw_attach FILE NTHREADS
 *
 * Starts NTHREADS threads, each blocked in read(2) on its own pipe, writes
 * 'r' to stdout, then reads one-byte commands from stdin:
 *   w   the main thread pwrites 10 blocks of 4,096 bytes to FILE
 *   t   every thread pwrites 10 blocks of 4,096 bytes to FILE
 *   f   a forked child pwrites 10 blocks and exits; the main thread waits
 *   o   opens FILE.leak (no O_CLOEXEC) and keeps it open
 *   s   replies with the number of SIGUSR1 received (one byte)
 *   q   exits 0
 * and answers 'k' after w, t, f and o. All pipes: only the pwrites touch files. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCKS 10
#define BS     4096

static int file_fd;
static int done_pipe[2];
static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

static void die(const char *what)
{
    perror(what);
    exit(100);
}

static ssize_t read1(int fd, char *c)
{
    ssize_t n;
    do
        n = read(fd, c, 1);
    while (n < 0 && errno == EINTR);
    return n;
}

static void write_blocks(long slot)
{
    static char b[BS];
    memset(b, ')', sizeof(b));
    for (int i = 0; i < BLOCKS; i++)
        if (pwrite(file_fd, b, BS, (off_t)((slot * BLOCKS + i) * BS)) != BS)
            die("pwrite");
}

static void *worker(void *arg)
{
    int fd = (int)(long)arg >> 8;
    long slot = (long)arg & 0xff;
    char c;
    while (read1(fd, &c) == 1) {
        write_blocks(slot);
        if (write(done_pipe[1], "d", 1) != 1)
            die("write");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 99;
    int n = atoi(argv[2]);
    if (n < 0 || n > 64)
        return 99;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    file_fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (file_fd < 0 || pipe(done_pipe))
        die(argv[1]);
    int wfd[64];
    for (int i = 0; i < n; i++) {
        int p[2];
        pthread_t t;
        if (pipe(p))
            die("pipe");
        wfd[i] = p[1];
        if (pthread_create(&t, NULL, worker, (void *)(long)((p[0] << 8) | (i + 1))))
            die("pthread_create");
    }
    if (write(1, "r", 1) != 1)
        die("write");
    char c;
    while (read1(0, &c) == 1) {
        if (c == 'w') {
            write_blocks(0);
        } else if (c == 't') {
            for (int i = 0; i < n; i++)
                if (write(wfd[i], "t", 1) != 1)
                    die("write");
            for (int i = 0; i < n; i++)
                if (read1(done_pipe[0], &c) != 1)
                    die("read");
        } else if (c == 'f') {
            pid_t p = fork();
            if (p < 0)
                die("fork");
            if (p == 0) {
                write_blocks(n + 1);
                _exit(0);
            }
            int st;
            if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
                die("child");
        } else if (c == 'o') {
            char p[4096];
            snprintf(p, sizeof(p), "%s.leak", argv[1]);
            if (open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0)
                die(p);
        } else if (c == 's') {
            char k = (char)usr1_count;
            if (write(1, &k, 1) != 1)
                die("write");
            continue;
        } else if (c == 'q') {
            return 0;
        }
        if (write(1, "k", 1) != 1)
            die("write");
    }
    return 0;
}
