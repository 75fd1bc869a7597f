/* livework: workloads that pause at a gate, for the live status and alert
 * tests (the test opens the gate by creating a file, so what the workload
 * had done when the test looked is known exactly). Waiting polls access(2):
 * no read or write call.
 *   livework write OUT BS BEFORE AFTER GATE
 *                       write BEFORE blocks of BS bytes to OUT, wait for
 *                       GATE, write AFTER more, exit 0
 *   livework fds N GATE open /dev/null N times, wait for GATE, close them, exit 0
 * Exits 3 when the gate does not open within 60 s, 4 when it starts with
 * SIGUSR1 blocked or ignored (iopsd's own mask or disposition leaked into
 * the command), 1 on an I/O error. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void wait_gate(const char *gate)
{
    struct timespec ts = {0, 2000000L};
    for (int i = 0; i < 30000; i++) {
        if (access(gate, F_OK) == 0)
            return;
        nanosleep(&ts, NULL);
    }
    exit(3);
}

static void write_blocks(int fd, const char *buf, size_t bs, long n)
{
    for (long i = 0; i < n; i++)
        if (write(fd, buf, bs) != (ssize_t)bs)
            exit(1);
}

int main(int argc, char **argv)
{
    sigset_t cur;
    struct sigaction sa;
    if (sigprocmask(SIG_SETMASK, NULL, &cur) || sigismember(&cur, SIGUSR1) ||
        sigaction(SIGUSR1, NULL, &sa) || sa.sa_handler != SIG_DFL)
        return 4;
    if (argc == 7 && !strcmp(argv[1], "write")) {
        size_t bs = (size_t)atol(argv[3]);
        long before = atol(argv[4]), after = atol(argv[5]);
        if (bs == 0 || bs > (1u << 20))
            return 2;
        static char buf[1u << 20];
        memset(buf, 'x', bs);
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            return 1;
        write_blocks(fd, buf, bs, before);
        wait_gate(argv[6]);
        write_blocks(fd, buf, bs, after);
        return close(fd) ? 1 : 0;
    }
    if (argc == 4 && !strcmp(argv[1], "fds")) {
        int n = atoi(argv[2]), fds[1024];
        if (n < 0 || n > 1024)
            return 2;
        for (int i = 0; i < n; i++)
            if ((fds[i] = open("/dev/null", O_RDONLY)) < 0)
                return 1;
        wait_gate(argv[3]);
        for (int i = 0; i < n; i++)
            close(fds[i]);
        return 0;
    }
    return 2;
}
