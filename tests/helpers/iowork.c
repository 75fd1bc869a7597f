/* iowork: a workload with exactly known I/O, for the integration tests.
 *
 *   iowork write FILE BS COUNT [FILLCHAR]  COUNT write(2)s of BS bytes
 *   iowork read FILE BS                     read(2)s of BS until EOF
 *   iowork orphan FILE BS COUNT             the writes are done by an orphaned
 *                                           grandchild after its parent exited
 *   iowork fork N FILE BS COUNT             N children, each COUNT/N writes
 *   iowork exit CODE                        exits with CODE, no I/O
 *   iowork kill SIG                         kills itself with SIG
 *   iowork sleep SECONDS                    sleeps, no I/O
 *   iowork syncwrite FILE BS COUNT EVERY    the writes, with an fsync after every
 *                                           EVERY-th write (0: one fsync at the end)
 *   iowork randread FILE BS COUNT           COUNT lseek(2)s to pseudo-random block
 *                                           offsets, each followed by a read(2) of BS
 *   iowork reopen FILE COUNT                opens and closes FILE COUNT times
 *
 * Built static (no dynamic loader). Files are opened with O_CLOEXEC; nothing
 * else is read or written by the program (the kernel's reads of the ELF
 * headers at exec show in /proc counters: the tests subtract a baseline).
 *
 * With IOWORK_SELFIO set, the program reads its own /proc/self/io just before
 * exiting and prints "selfio write_bytes=N cancelled_write_bytes=M" on stderr:
 * the storage counters as the kernel charged them, first-hand, for tests of
 * numbers that depend on the filesystem (metadata blocks dirtied on top). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    exit(100);
}

static void do_writes(const char *path, size_t bs, long count, int fill, int flags)
{
    char *b = malloc(bs ? bs : 1);
    if (!b)
        die("malloc");
    for (size_t i = 0; i < bs; i++)
        b[i] = (i % 64 == 63) ? '\n' : (char)fill;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    if (fd < 0)
        die(path);
    for (long i = 0; i < count; i++)
        if (write(fd, b, bs) != (ssize_t)bs)
            die("write");
    close(fd);
    free(b);
}

static void print_selfio(void)
{
    char buf[1024];
    int fd = open("/proc/self/io", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("/proc/self/io");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        die("read /proc/self/io");
    buf[n] = '\0';
    const char *w = strstr(buf, "\nwrite_bytes: ");
    const char *c = strstr(buf, "\ncancelled_write_bytes: ");
    if (!w || !c)
        die("/proc/self/io format");
    fprintf(stderr, "selfio write_bytes=%llu cancelled_write_bytes=%llu\n",
            strtoull(w + strlen("\nwrite_bytes: "), NULL, 10),
            strtoull(c + strlen("\ncancelled_write_bytes: "), NULL, 10));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 99;
    const char *mode = argv[1];
    if (!strcmp(mode, "write") && argc >= 5) {
        do_writes(argv[2], strtoul(argv[3], NULL, 0), strtol(argv[4], NULL, 0),
                  argc > 5 ? argv[5][0] : ')', O_TRUNC);
    } else if (!strcmp(mode, "read") && argc >= 4) {
        size_t bs = strtoul(argv[3], NULL, 0);
        char *b = malloc(bs);
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (!b || fd < 0)
            die(argv[2]);
        ssize_t n;
        while ((n = read(fd, b, bs)) > 0)
            ;
        if (n < 0)
            die("read");
        close(fd);
        free(b);
    } else if (!strcmp(mode, "orphan") && argc >= 5) {
        pid_t c = fork();
        if (c < 0)
            die("fork");
        if (c == 0) {
            pid_t parent = getpid();
            pid_t g = fork();
            if (g < 0)
                die("fork");
            if (g == 0) {
                while (getppid() == parent) /* wait until orphaned */
                    usleep(1000);
                do_writes(argv[2], strtoul(argv[3], NULL, 0), strtol(argv[4], NULL, 0), ')',
                          O_TRUNC);
                _exit(0);
            }
            _exit(0);
        }
        waitpid(c, NULL, 0);
    } else if (!strcmp(mode, "fork") && argc >= 6) {
        int n = atoi(argv[2]);
        long count = strtol(argv[5], NULL, 0);
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(argv[3]);
        close(fd);
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c < 0)
                die("fork");
            if (c == 0) {
                do_writes(argv[3], strtoul(argv[4], NULL, 0), count / n, ')', O_APPEND);
                _exit(0);
            }
        }
        while (wait(NULL) > 0)
            ;
    } else if (!strcmp(mode, "exit") && argc >= 3) {
        return atoi(argv[2]);
    } else if (!strcmp(mode, "kill") && argc >= 3) {
        signal(atoi(argv[2]), SIG_DFL);
        kill(getpid(), atoi(argv[2]));
        pause();
    } else if (!strcmp(mode, "syncwrite") && argc >= 6) {
        size_t bs = strtoul(argv[3], NULL, 0);
        long count = strtol(argv[4], NULL, 0), every = strtol(argv[5], NULL, 0);
        char *b = calloc(1, bs ? bs : 1);
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (!b || fd < 0)
            die(argv[2]);
        for (long i = 1; i <= count; i++) {
            if (write(fd, b, bs) != (ssize_t)bs)
                die("write");
            if (every > 0 && i % every == 0 && fsync(fd))
                die("fsync");
        }
        if (every == 0 && fsync(fd))
            die("fsync");
        close(fd);
        free(b);
    } else if (!strcmp(mode, "randread") && argc >= 5) {
        size_t bs = strtoul(argv[3], NULL, 0);
        long count = strtol(argv[4], NULL, 0);
        char *b = malloc(bs ? bs : 1);
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
        if (!b || fd < 0 || size < (off_t)bs)
            die(argv[2]);
        unsigned long x = 12345;
        long blocks = (long)(size / (off_t)bs);
        for (long i = 0; i < count; i++) {
            x = x * 1103515245u + 12345u;
            if (lseek(fd, (off_t)((x >> 8) % (unsigned long)blocks) * (off_t)bs, SEEK_SET) < 0 ||
                read(fd, b, bs) != (ssize_t)bs)
                die("randread");
        }
        close(fd);
        free(b);
    } else if (!strcmp(mode, "reopen") && argc >= 4) {
        long count = strtol(argv[3], NULL, 0);
        for (long i = 0; i < count; i++) {
            int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                die(argv[2]);
            close(fd);
        }
    } else if (!strcmp(mode, "sleep") && argc >= 3) {
        usleep((useconds_t)(atof(argv[2]) * 1e6));
    } else {
        fprintf(stderr, "iowork: bad arguments\n");
        return 99;
    }
    if (getenv("IOWORK_SELFIO"))
        print_selfio();
    return 0;
}
