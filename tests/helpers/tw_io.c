/* tw_io: workloads with exactly known I/O for the tracer's tests.
 *
 *   tw_io threads N FILE BS COUNT    N threads, COUNT/N pwrite(2)s of BS each
 *   tw_io fork N FILE BS COUNT       N children, each COUNT/N pwrite(2)s on the
 *                                    descriptor they inherit
 *   tw_io orphan FILE BS COUNT       the writes are done by a grandchild after
 *                                    its parent exited
 *   tw_io exec FILE BS COUNT         opens FILE.keep (no CLOEXEC) and
 *                                    FILE.cx (CLOEXEC), then execs
 *                                    `tw_io write FILE BS COUNT`
 *   tw_io threadexec FILE BS COUNT   a second thread execs `tw_io write ...`
 *   tw_io write FILE BS COUNT        COUNT write(2)s of BS bytes of ')' + '\n'
 *   tw_io spawn FILE BS COUNT        posix_spawn (vfork) `tw_io write ...`
 *   tw_io vec FILE                   pwritev 4 iovecs (10,240 B), preadv2 3
 *                                    iovecs (6,144 B), readv at EOF (0 B)
 *   tw_io copy SRC DST DST2          SRC: 2,560 writes of 4 KiB; sendfile
 *                                    SRC->DST; copy_file_range DST->DST2;
 *                                    prints "sendfile=N cfr=M" (call counts)
 *   tw_io splice SRC DST             SRC: 16 writes of 4 KiB; splice SRC ->
 *                                    pipe -> DST in 4 KiB steps; prints the
 *                                    splice call count
 *   tw_io eof FILE                   reads FILE (4,096 B) with 8 KiB reads
 *                                    until EOF, then one more read at EOF
 *   tw_io eintr [restart]            read on a pipe interrupted by SIGALRM;
 *                                    with "restart" the handler (SA_RESTART)
 *                                    writes 5 bytes that the restarted read
 *                                    gets; without, the read fails with EINTR
 *   tw_io fail FILE                  3 writes to a closed fd, 1 read from a
 *                                    write-only fd (errors, no bytes)
 *   tw_io leak A B C                 opens A, B, C and exits without closing
 *   tw_io meta DIR N                 creates, stats, renames, unlinks N files
 *   tw_io stopcont FILE              a child stops itself (SIGSTOP); the parent
 *                                    sees the stop (WUNTRACED), continues it
 *                                    (SIGCONT); the child then writes 4 KiB
 *   tw_io untraced FILE              a child made by clone(CLONE_UNTRACED)
 *                                    writes 4 KiB to FILE
 *   tw_io sock                       over an AF_UNIX datagram socketpair:
 *                                    sendmmsg 3 messages (100, 200, 300 B),
 *                                    recvmmsg them; sendto 400 B, recvfrom;
 *                                    sendmsg 2 iovecs (500 B), recvmsg
 *   tw_io unseen N FILE              N io_uring_enter(2)s on a ring, N mmaps
 *                                    of FILE (4 KiB)
 *   tw_io nonio N FILE               N getppid(2)s, and one 4 KiB write to FILE
 *                                    per 1,000 of them (mostly not I/O)
 *   tw_io many N FILE                N lseek(2)s on FILE; prints the tracer's
 *                                    VmHWM (kB, from /proc) after N/10 of them
 *                                    and at the end: "hwm_kb=A,B"
 *
 * Exit status 0 on success, 100 on an unexpected failure. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
    perror(what);
    exit(100);
}

static char *block(size_t bs)
{
    char *b = malloc(bs ? bs : 1);
    if (!b)
        die("malloc");
    for (size_t i = 0; i < bs; i++)
        b[i] = (i % 64 == 63) ? '\n' : ')';
    return b;
}

static void write_file(const char *path, size_t bs, long count)
{
    char *b = block(bs);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path);
    for (long i = 0; i < count; i++)
        if (write(fd, b, bs) != (ssize_t)bs)
            die("write");
    close(fd);
    free(b);
}

struct tjob {
    int fd;
    size_t bs;
    long first, count;
};

static void *thread_writes(void *arg)
{
    struct tjob *j = arg;
    char *b = block(j->bs);
    for (long i = 0; i < j->count; i++)
        if (pwrite(j->fd, b, j->bs, (off_t)((j->first + i) * (long)j->bs)) != (ssize_t)j->bs)
            die("pwrite");
    free(b);
    return NULL;
}

static char *self_path;
static char *exec_args[6];

static void *thread_exec(void *arg)
{
    (void)arg;
    execv(self_path, exec_args);
    die("execv");
    return NULL;
}

static int untraced_child(void *arg)
{
    write_file(arg, 4096, 1);
    return 0;
}

static void on_alarm(int sig)
{
    (void)sig;
}

static int restart_wfd = -1;
static void on_alarm_write(int sig)
{
    (void)sig;
    if (write(restart_wfd, "hello", 5) != 5)
        _exit(100);
}

/* The peak resident set (VmHWM, kB) of the process tracing us, or -1. */
static long tracer_hwm_kb(void)
{
    char buf[4096];
    FILE *f = fopen("/proc/self/status", "re");
    long tracer = 0, hwm = -1;
    while (f && fgets(buf, sizeof(buf), f))
        if (!strncmp(buf, "TracerPid:", 10))
            tracer = atol(buf + 10);
    if (f)
        fclose(f);
    snprintf(buf, sizeof(buf), "/proc/%ld/status", tracer);
    f = tracer > 0 ? fopen(buf, "re") : NULL;
    while (f && fgets(buf, sizeof(buf), f))
        if (!strncmp(buf, "VmHWM:", 6))
            hwm = atol(buf + 6);
    if (f)
        fclose(f);
    return hwm;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 99;
    const char *m = argv[1];
    self_path = argv[0];
    if (!strcmp(m, "write") && argc == 5) {
        write_file(argv[2], strtoul(argv[3], NULL, 0), strtol(argv[4], NULL, 0));
    } else if (!strcmp(m, "threads") && argc == 6) {
        int n = atoi(argv[2]);
        size_t bs = strtoul(argv[4], NULL, 0);
        long count = strtol(argv[5], NULL, 0);
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || n < 1 || n > 64)
            die(argv[3]);
        pthread_t th[64];
        struct tjob jobs[64];
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct tjob){fd, bs, i * (count / n), count / n};
            if (pthread_create(&th[i], NULL, thread_writes, &jobs[i]))
                die("pthread_create");
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        close(fd);
    } else if (!strcmp(m, "fork") && argc == 6) {
        int n = atoi(argv[2]);
        size_t bs = strtoul(argv[4], NULL, 0);
        long count = strtol(argv[5], NULL, 0);
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || n < 1)
            die(argv[3]);
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c < 0)
                die("fork");
            if (c == 0) {
                struct tjob j = {fd, bs, i * (count / n), count / n};
                thread_writes(&j);
                _exit(0);
            }
        }
        int st;
        while (wait(&st) > 0)
            if (!WIFEXITED(st) || WEXITSTATUS(st))
                die("child");
        close(fd);
    } else if (!strcmp(m, "orphan") && argc == 5) {
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
                write_file(argv[2], strtoul(argv[3], NULL, 0), strtol(argv[4], NULL, 0));
                _exit(0);
            }
            _exit(0);
        }
        waitpid(c, NULL, 0);
    } else if ((!strcmp(m, "exec") || !strcmp(m, "threadexec") || !strcmp(m, "spawn")) &&
               argc == 5) {
        exec_args[0] = argv[0];
        exec_args[1] = "write";
        exec_args[2] = argv[2];
        exec_args[3] = argv[3];
        exec_args[4] = argv[4];
        exec_args[5] = NULL;
        if (!strcmp(m, "exec")) {
            char p[4096];
            snprintf(p, sizeof(p), "%s.keep", argv[2]);
            if (open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0)
                die(p);
            snprintf(p, sizeof(p), "%s.cx", argv[2]);
            if (open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) < 0)
                die(p);
            execv(argv[0], exec_args);
            die("execv");
        } else if (!strcmp(m, "threadexec")) {
            pthread_t t;
            if (pthread_create(&t, NULL, thread_exec, NULL))
                die("pthread_create");
            for (;;)
                pause();
        } else {
            pid_t pid;
            int rc = posix_spawn(&pid, argv[0], NULL, NULL, exec_args, environ);
            if (rc) {
                errno = rc;
                die("posix_spawn");
            }
            int st;
            if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
                die("child");
        }
    } else if (!strcmp(m, "vec") && argc == 3) {
        static char a[1024], b[2048], c[3072], d[4096];
        memset(a, ')', sizeof(a));
        struct iovec w[4] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}, {d, sizeof(d)}};
        int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(argv[2]);
        if (pwritev(fd, w, 4, 0) != 10240)
            die("pwritev");
        struct iovec r[3] = {{a, 1024}, {b, 2048}, {c, 3072}};
        if (preadv2(fd, r, 3, 0, 0) != 6144)
            die("preadv2");
        if (lseek(fd, 0, SEEK_END) != 10240)
            die("lseek");
        if (readv(fd, r, 3) != 0)
            die("readv");
        close(fd);
    } else if (!strcmp(m, "copy") && argc == 5) {
        write_file(argv[2], 4096, 2560);
        int in = open(argv[2], O_RDONLY | O_CLOEXEC);
        int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (in < 0 || out < 0)
            die("open");
        long nsf = 0, ncfr = 0;
        for (size_t left = 10485760; left > 0;) {
            ssize_t n = sendfile(out, in, NULL, left);
            if (n <= 0)
                die("sendfile");
            left -= (size_t)n;
            nsf++;
        }
        close(in);
        close(out);
        in = open(argv[3], O_RDONLY | O_CLOEXEC);
        out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (in < 0 || out < 0)
            die("open");
        for (size_t left = 10485760; left > 0;) {
            ssize_t n = copy_file_range(in, NULL, out, NULL, left, 0);
            if (n <= 0)
                die("copy_file_range");
            left -= (size_t)n;
            ncfr++;
        }
        close(in);
        close(out);
        printf("sendfile=%ld cfr=%ld\n", nsf, ncfr);
    } else if (!strcmp(m, "splice") && argc == 4) {
        write_file(argv[2], 4096, 16);
        int in = open(argv[2], O_RDONLY | O_CLOEXEC);
        int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int p[2];
        if (in < 0 || out < 0 || pipe2(p, O_CLOEXEC))
            die("open");
        long calls = 0;
        for (int i = 0; i < 16; i++) {
            if (splice(in, NULL, p[1], NULL, 4096, 0) != 4096)
                die("splice in");
            if (splice(p[0], NULL, out, NULL, 4096, 0) != 4096)
                die("splice out");
            calls += 2;
        }
        close(p[0]);
        close(p[1]);
        close(in);
        close(out);
        printf("splice=%ld\n", calls);
    } else if (!strcmp(m, "eof") && argc == 3) {
        write_file(argv[2], 4096, 1);
        char buf[8192];
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(argv[2]);
        if (read(fd, buf, sizeof(buf)) != 4096 || read(fd, buf, sizeof(buf)) != 0 ||
            read(fd, buf, sizeof(buf)) != 0)
            die("read");
        close(fd);
    } else if (!strcmp(m, "eintr") && argc >= 2) {
        int restart = argc > 2 && !strcmp(argv[2], "restart");
        int p[2];
        if (pipe2(p, O_CLOEXEC))
            die("pipe");
        restart_wfd = p[1];
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = restart ? on_alarm_write : on_alarm;
        sa.sa_flags = restart ? SA_RESTART : 0;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        ualarm(50000, 0);
        char buf[16];
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (restart ? n != 5 : (n != -1 || errno != EINTR))
            die("read");
        close(p[0]);
        close(p[1]);
    } else if (!strcmp(m, "fail") && argc == 3) {
        char b[16] = "0123456789abcdef";
        for (int i = 0; i < 3; i++)
            if (write(99, b, sizeof(b)) != -1 || errno != EBADF)
                die("write 99");
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(argv[2]);
        if (read(fd, b, sizeof(b)) != -1 || errno != EBADF)
            die("read");
        close(fd);
    } else if (!strcmp(m, "leak") && argc == 5) {
        for (int i = 2; i < 5; i++)
            if (open(argv[i], O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0)
                die(argv[i]);
    } else if (!strcmp(m, "meta") && argc == 4) {
        int n = atoi(argv[3]);
        char p[4096], q[4096];
        struct stat sb;
        for (int i = 0; i < n; i++) {
            snprintf(p, sizeof(p), "%s/f%d", argv[2], i);
            int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || write(fd, "0123456789", 10) != 10)
                die(p);
            close(fd);
        }
        for (int i = 0; i < n; i++) {
            snprintf(p, sizeof(p), "%s/f%d", argv[2], i);
            snprintf(q, sizeof(q), "%s/g%d", argv[2], i);
            if (stat(p, &sb) || rename(p, q) || unlink(q))
                die(p);
        }
    } else if (!strcmp(m, "stopcont") && argc == 3) {
        pid_t c = fork();
        if (c < 0)
            die("fork");
        if (c == 0) {
            kill(getpid(), SIGSTOP);
            write_file(argv[2], 4096, 1);
            _exit(0);
        }
        int st;
        if (waitpid(c, &st, WUNTRACED) != c || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
            fprintf(stderr, "tw_io: child status %#x, not stopped by SIGSTOP\n", st);
            exit(100);
        }
        kill(c, SIGCONT);
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
            die("waitpid exit");
    } else if (!strcmp(m, "untraced") && argc == 3) {
        size_t sz = 256 * 1024;
        char *stack = malloc(sz);
        if (!stack)
            die("malloc");
        pid_t c = clone(untraced_child, stack + sz, CLONE_UNTRACED | SIGCHLD, argv[2]);
        int st;
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
            die("clone");
        free(stack);
    } else if (!strcmp(m, "sock") && argc == 2) {
        int sv[2];
        static char buf[4096];
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv))
            die("socketpair");
        struct mmsghdr mm[3];
        struct iovec iv[3];
        memset(mm, 0, sizeof(mm));
        for (int i = 0; i < 3; i++) {
            iv[i] = (struct iovec){buf, (size_t)(100 * (i + 1))};
            mm[i].msg_hdr.msg_iov = &iv[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        if (sendmmsg(sv[0], mm, 3, 0) != 3)
            die("sendmmsg");
        for (int i = 0; i < 3; i++)
            iv[i] = (struct iovec){buf, 4096 / 4};
        if (recvmmsg(sv[1], mm, 3, 0, NULL) != 3)
            die("recvmmsg");
        if (sendto(sv[0], buf, 400, 0, NULL, 0) != 400 ||
            recvfrom(sv[1], buf, 4096, 0, NULL, NULL) != 400)
            die("sendto");
        struct iovec two[2] = {{buf, 200}, {buf + 200, 300}};
        struct msghdr mh;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = two;
        mh.msg_iovlen = 2;
        if (sendmsg(sv[0], &mh, 0) != 500)
            die("sendmsg");
        two[0].iov_len = 4096 - 200;
        if (recvmsg(sv[1], &mh, 0) != 500)
            die("recvmsg");
        close(sv[0]);
        close(sv[1]);
    } else if (!strcmp(m, "unseen") && argc == 4) {
        long n = strtol(argv[2], NULL, 0);
        write_file(argv[3], 4096, 1);
        long params[30] = {0}; /* struct io_uring_params: 120 bytes */
        int ring = (int)syscall(SYS_io_uring_setup, 4, params);
        if (ring < 0)
            die("io_uring_setup");
        for (long i = 0; i < n; i++)
            if (syscall(SYS_io_uring_enter, ring, 0, 0, 0, NULL, 0) != 0)
                die("io_uring_enter");
        close(ring);
        int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(argv[3]);
        for (long i = 0; i < n; i++) {
            void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED)
                die("mmap");
            munmap(p, 4096);
        }
        close(fd);
    } else if (!strcmp(m, "nonio") && argc == 4) {
        long n = strtol(argv[2], NULL, 0);
        char *b = block(4096);
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(argv[3]);
        for (long i = 1; i <= n; i++) {
            syscall(SYS_getppid);
            if (i % 1000 == 0 && write(fd, b, 4096) != 4096)
                die("write");
        }
        close(fd);
        free(b);
    } else if (!strcmp(m, "many") && argc == 4) {
        long n = strtol(argv[2], NULL, 0);
        int fd = open(argv[3], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(argv[3]);
        long first = -1;
        for (long i = 0; i < n; i++) {
            if (lseek(fd, i & 4095, SEEK_SET) < 0)
                die("lseek");
            if (i == n / 10)
                first = tracer_hwm_kb();
        }
        close(fd);
        printf("hwm_kb=%ld,%ld\n", first, tracer_hwm_kb());
    } else {
        fprintf(stderr, "tw_io: bad arguments\n");
        return 99;
    }
    return 0;
}
