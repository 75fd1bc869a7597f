/* tw_truth: workloads for the tracer's blind spots (issue 12). Each one
 * records what the kernel returned for every call it makes and prints the
 * tallies as one line of "key=value" pairs on stdout (one write(2) to fd 1),
 * so the tests compare the tracer with first-principles counts, never with
 * what iopsd said before.
 *
 *   tw_truth vmsplice            4 vmsplice(2)s of 4 KiB into a pipe's write
 *                                end, then 4 of 4 KiB out of its read end:
 *                                "vw=OPS vwb=BYTES vr=OPS vrb=BYTES"
 *   tw_truth sync FILE           on a 4 KiB shared mapping of FILE: 3 msync,
 *                                2 sync_file_range, 1 fdatasync, 1 fallocate,
 *                                4 posix_fadvise; "ok=N" successes of those 11
 *   tw_truth mmap FILE N         N PROT_READ mmaps of FILE, 2 PROT_EXEC ones,
 *                                3 that fail (PROT_READ on a write-only fd):
 *                                "data=N exec=E failed=F"
 *   tw_truth eintr N             a read(2) of an empty pipe in the classic
 *                                loop `while (read() < 0 && errno == EINTR)`,
 *                                interrupted by a SIGALRM handler (no
 *                                SA_RESTART) every 2 ms; the Nth handler
 *                                writes 1 byte: "eintr=E got=1"
 *   tw_truth eintrexec           one read(2) fails with EINTR, then the
 *                                program execs itself as `tw_truth true`:
 *                                "eintr=1"
 *   tw_truth exitflight          a thread writes 4 KiB blocks to a pipe nobody
 *                                reads until one blocks; the main thread then
 *                                calls exit_group: "done=D blocked=1"
 *   tw_truth seccomp FILE        installs a filter of its own: write(2) on fd
 *                                100 -> SECCOMP_RET_TRACE (ENOSYS without a
 *                                tracer), on fd 102 -> ERRNO(EPERM), else
 *                                allow; then 10 writes on 100, 5 writes of
 *                                4 KiB on 101, 3 on 102 (all three dups of
 *                                FILE): "enosys=A ok=B eperm=C"
 *   tw_truth int80 FILE N        through the i386 ABI (`int $0x80`, x86-64
 *                                only): open FILE for writing, N writes of
 *                                4 KiB, close; open it again, 4 KiB reads
 *                                until EOF, close:
 *                                "opens=2 w=N wb=BYTES r=R rb=BYTES closes=2"
 *                                ("unsupported=1" without IA-32 emulation)
 *   tw_truth fdtable A B C D N   descriptor tables of threads: a pthread
 *                                unshares its table (unshare(CLONE_FILES)),
 *                                closes the fd of A (opened by the main
 *                                thread) in its copy and opens B on the same
 *                                number; main writes N x 4 KiB to that
 *                                number (A), then the thread does (B) and
 *                                closes it. A thread cloned without
 *                                CLONE_FILES opens C; main then opens D on
 *                                the same number; each writes N x 4 KiB to
 *                                it; the thread exits with C open (closed by
 *                                the kernel with its table), main closes D:
 *                                "a=OPS ab=BYTES b=.. bb=.. c=.. cb=.. d=..
 *                                db=.. same1=1 same2=1 cfd=FD pid=PID"
 *   tw_truth fdexec A B N        a pthread unshares its table and opens B;
 *                                then main opens A, on the same number in
 *                                its table; the thread
 *                                execs `tw_truth fdwrite FD N` (de_thread
 *                                ends main; the thread's table is the
 *                                process's): N x 4 KiB go to B, and A and B
 *                                are both left open ("fd=FD", then fdwrite's)
 *   tw_truth fdwrite FD N        N writes of 4 KiB to FD, which it leaves
 *                                open: "w=N wb=BYTES"
 *   tw_truth scmrights FILE N recvmsg|recvmmsg
 *                                the parent opens FILE and passes it over a
 *                                socketpair (SCM_RIGHTS, 1 byte of data) to
 *                                its child, closes its own copy and waits;
 *                                the child receives it with the call named,
 *                                writes N x 4 KiB to it and exits without
 *                                closing it: "rfd=FD pid=PID w=N wb=BYTES"
 *                                (the child's line), then "sent=1"
 *   tw_truth true                does nothing (the target of eintrexec)
 *
 * Exit status 0 on success, 100 on an unexpected failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    exit(100);
}

/* The result line: one write(2) to stdout. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof(line) - 1)
        die("say");
    line[n++] = '\n';
    if (write(1, line, (size_t)n) != n)
        die("write stdout");
}

static int do_vmsplice(void)
{
    int p[2];
    if (pipe(p))
        die("pipe");
    static char out[4][4096], in[4][4096];
    long vw = 0, vwb = 0, vr = 0, vrb = 0;
    for (int i = 0; i < 4; i++) {
        memset(out[i], 'a' + i, sizeof(out[i]));
        struct iovec v = {out[i], sizeof(out[i])};
        ssize_t n = vmsplice(p[1], &v, 1, 0);
        if (n < 0)
            die("vmsplice write");
        vw++;
        vwb += n;
    }
    for (int i = 0; i < 4; i++) {
        struct iovec v = {in[i], sizeof(in[i])};
        ssize_t n = vmsplice(p[0], &v, 1, 0);
        if (n < 0)
            die("vmsplice read");
        vr++;
        vrb += n;
    }
    if (memcmp(in, out, sizeof(in)))
        die("vmsplice data");
    close(p[0]);
    close(p[1]);
    say("vw=%ld vwb=%ld vr=%ld vrb=%ld", vw, vwb, vr, vrb);
    return 0;
}

static int do_sync(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path);
    static char page[4096];
    if (pwrite(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
        die("pwrite");
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("mmap");
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        m[i] = 'x';
        ok += msync(m, 4096, MS_SYNC) == 0;
    }
    for (int i = 0; i < 2; i++)
        ok += sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WRITE) == 0;
    ok += fdatasync(fd) == 0;
    ok += fallocate(fd, 0, 0, 8192) == 0;
    for (int i = 0; i < 4; i++)
        ok += posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0;
    munmap(m, 4096);
    close(fd);
    say("ok=%d", ok);
    return 0;
}

static int do_mmap(const char *path, long n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path);
    static char page[4096];
    if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
        die("write");
    long data = 0, exec = 0, failed = 0;
    for (long i = 0; i < n; i++) {
        void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            failed++;
        else {
            data++;
            munmap(m, 4096);
        }
    }
    for (int i = 0; i < 2; i++) {
        void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            failed++;
        else {
            exec++;
            munmap(m, 4096);
        }
    }
    close(fd);
    int wfd = open(path, O_WRONLY | O_CLOEXEC);
    if (wfd < 0)
        die(path);
    for (int i = 0; i < 3; i++) {
        void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, wfd, 0);
        if (m == MAP_FAILED)
            failed++;
        else
            data++;
    }
    close(wfd);
    say("data=%ld exec=%ld failed=%ld", data, exec, failed);
    return 0;
}

static volatile sig_atomic_t alarms, alarms_wanted;
static int alarm_wfd = -1;

static void on_alarm(int sig)
{
    (void)sig;
    if (++alarms == alarms_wanted) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        if (write(alarm_wfd, "x", 1) != 1)
            _exit(100);
    }
}

static int do_eintr(long n, bool then_exec, char *self)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        die("pipe");
    alarm_wfd = p[1];
    alarms_wanted = (sig_atomic_t)n;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL))
        die("sigaction");
    struct itimerval it = {{0, 2000}, {0, 2000}};
    if (setitimer(ITIMER_REAL, &it, NULL))
        die("setitimer");
    char b[1];
    long eintr = 0;
    ssize_t r;
    if (then_exec) {
        r = read(p[0], b, 1);
        if (r != -1 || errno != EINTR)
            die("read");
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        say("eintr=1");
        char *args[] = {self, "true", NULL};
        execv("/proc/self/exe", args);
        die("execv");
    }
    while ((r = read(p[0], b, 1)) < 0 && errno == EINTR)
        eintr++;
    if (r != 1)
        die("read");
    say("eintr=%ld got=%zd", eintr, r);
    return 0;
}

static int flight_pipe[2];
static volatile long flight_done;

static void *flight_writer(void *arg)
{
    (void)arg;
    static char blk[4096];
    for (;;) {
        if (write(flight_pipe[1], blk, sizeof(blk)) != (ssize_t)sizeof(blk))
            _exit(100);
        __atomic_add_fetch(&flight_done, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* True once thread tid sleeps in the kernel (state S in its stat). */
static bool thread_sleeps(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] == 'S';
}

static volatile pid_t flight_tid;

static void *flight_start(void *arg)
{
    flight_tid = (pid_t)syscall(SYS_gettid);
    return flight_writer(arg);
}

static int do_exitflight(void)
{
    if (pipe2(flight_pipe, O_CLOEXEC))
        die("pipe");
    pthread_t th;
    if (pthread_create(&th, NULL, flight_start, NULL))
        die("pthread_create");
    /* 16 blocks fill the pipe (64 KiB); the 17th write blocks. Wait until
     * the count is stable and the thread sleeps, twice 20 ms apart. */
    long last = -1;
    for (int stable = 0; stable < 2;) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        long d = __atomic_load_n(&flight_done, __ATOMIC_SEQ_CST);
        if (flight_tid && d == last && thread_sleeps(flight_tid))
            stable++;
        else
            stable = 0;
        last = d;
    }
    say("done=%ld blocked=1", last);
    syscall(SYS_exit_group, 0);
    return 100;
}

static int do_seccomp(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path);
    for (int t = 100; t <= 102; t++)
        if (dup2(fd, t) != t)
            die("dup2");
    close(fd);
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 100, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0x77),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fp = {(unsigned short)(sizeof(prog) / sizeof(prog[0])), prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        die("no_new_privs");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp))
        die("seccomp");
    static char blk[4096];
    long enosys = 0, ok = 0, eperm = 0;
    int fds[] = {100, 100, 100, 100, 100, 100, 100, 100, 100,
                 100, 101, 101, 101, 101, 101, 102, 102, 102};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        ssize_t n = write(fds[i], blk, sizeof(blk));
        if (n == (ssize_t)sizeof(blk))
            ok++;
        else if (n < 0 && errno == ENOSYS)
            enosys++;
        else if (n < 0 && errno == EPERM)
            eperm++;
        else
            die("write");
    }
    say("enosys=%ld ok=%ld eperm=%ld", enosys, ok, eperm);
    return 0;
}

/* ---- fdtable ---- */

static int ft_step;
static long ft_n;
static int ft_fd_a, ft_fd_b, ft_fd_c;
static long ft_w[4], ft_wb[4]; /* A, B, C, D */
static const char *ft_path_b, *ft_path_c;

static void ft_wait(int step)
{
    while (__atomic_load_n(&ft_step, __ATOMIC_SEQ_CST) < step)
        sched_yield();
}

static void ft_set(int step)
{
    __atomic_store_n(&ft_step, step, __ATOMIC_SEQ_CST);
}

/* n writes of 4 KiB to fd, tallied in slot i. */
static void ft_write(int fd, int i)
{
    static char blk[4][4096];
    for (long k = 0; k < ft_n; k++) {
        ssize_t r = write(fd, blk[i], sizeof(blk[i]));
        if (r != (ssize_t)sizeof(blk[i]))
            _exit(100);
        ft_w[i]++;
        ft_wb[i] += r;
    }
}

static void *ft_unsharer(void *arg)
{
    (void)arg;
    if (unshare(CLONE_FILES))
        die("unshare");
    if (close(ft_fd_a)) /* in this thread's table only */
        die("close");
    ft_fd_b = open(ft_path_b, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (ft_fd_b < 0)
        die("open B");
    ft_set(1);
    ft_wait(2);
    ft_write(ft_fd_b, 1);
    if (close(ft_fd_b))
        die("close B");
    return NULL;
}

/* A thread of a clone(2) without CLONE_FILES (no TLS of its own: it makes
 * raw calls only, and the main thread waits meanwhile). */
static int ft_cloned(void *arg)
{
    (void)arg;
    ft_fd_c = (int)syscall(SYS_openat, AT_FDCWD, ft_path_c, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ft_fd_c < 0)
        _exit(100);
    ft_set(3);
    ft_wait(4);
    ft_write(ft_fd_c, 2);
    return 0; /* exit(2) of this thread: C is closed with its table */
}

static int do_fdtable(const char *a, const char *b, const char *c, const char *d, long n)
{
    ft_n = n;
    ft_path_b = b;
    ft_path_c = c;
    ft_fd_a = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (ft_fd_a < 0)
        die("open A");
    pthread_t th;
    if (pthread_create(&th, NULL, ft_unsharer, NULL))
        die("pthread_create");
    ft_wait(1);
    ft_write(ft_fd_a, 0); /* the same number: A in this table */
    ft_set(2);
    if (pthread_join(th, NULL))
        die("pthread_join");
    int same1 = ft_fd_b == ft_fd_a;
    if (close(ft_fd_a))
        die("close A");

    static char stack[1 << 16] __attribute__((aligned(16)));
    static pid_t ctid;
    int flags = CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    if (clone(ft_cloned, stack + sizeof(stack), flags, NULL, &ctid, NULL, &ctid) < 0)
        die("clone");
    ft_wait(3);
    int fd_d = open(d, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_d < 0)
        die("open D");
    ft_write(fd_d, 3);
    ft_set(4);
    for (pid_t v; (v = __atomic_load_n(&ctid, __ATOMIC_SEQ_CST)) != 0;)
        syscall(SYS_futex, &ctid, FUTEX_WAIT, v, NULL, NULL, 0);
    int same2 = fd_d == ft_fd_c;
    if (close(fd_d))
        die("close D");
    say("a=%ld ab=%ld b=%ld bb=%ld c=%ld cb=%ld d=%ld db=%ld same1=%d same2=%d cfd=%d pid=%d",
        ft_w[0], ft_wb[0], ft_w[1], ft_wb[1], ft_w[2], ft_wb[2], ft_w[3], ft_wb[3], same1, same2,
        ft_fd_c, (int)getpid());
    return 0;
}

static const char *fx_self, *fx_a, *fx_b, *fx_n;

static void *fx_thread(void *arg)
{
    (void)arg;
    if (unshare(CLONE_FILES))
        die("unshare");
    int fd = open(fx_b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open B");
    ft_fd_b = fd;
    ft_set(1);
    ft_wait(2); /* main opened A: the last open of that number */
    if (fd != ft_fd_a)
        die("open A: not the number of B");
    char num[16];
    snprintf(num, sizeof(num), "%d", fd);
    say("fd=%d", fd);
    char *args[] = {(char *)fx_self, "fdwrite", num, (char *)fx_n, NULL};
    execv("/proc/self/exe", args);
    die("execv");
    return NULL;
}

static int do_fdexec(const char *self, const char *a, const char *b, const char *n)
{
    fx_self = self;
    fx_a = a;
    fx_b = b;
    fx_n = n;
    pthread_t th;
    if (pthread_create(&th, NULL, fx_thread, NULL))
        die("pthread_create");
    ft_wait(1);
    ft_fd_a = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ft_fd_a < 0)
        die("open A");
    ft_set(2);
    for (;;)
        pause(); /* ended by the thread's exec */
    return 100;
}

static int do_fdwrite(int fd, long n)
{
    static char blk[4096];
    long w = 0, wb = 0;
    for (long i = 0; i < n; i++) {
        ssize_t k = write(fd, blk, sizeof(blk));
        if (k != (ssize_t)sizeof(blk))
            die("write");
        w++;
        wb += k;
    }
    say("w=%ld wb=%ld", w, wb);
    return 0;
}

/* ---- scmrights ---- */

static int do_scmrights(const char *path, long n, const char *how)
{
    bool mmsg = !strcmp(how, "recvmmsg");
    if (!mmsg && strcmp(how, "recvmsg"))
        die("scmrights: recvmsg or recvmmsg");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(sv[0]);
        char byte;
        struct iovec iov = {&byte, 1};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct mmsghdr mm;
        memset(&mm, 0, sizeof(mm));
        mm.msg_hdr.msg_iov = &iov;
        mm.msg_hdr.msg_iovlen = 1;
        mm.msg_hdr.msg_control = u.buf;
        mm.msg_hdr.msg_controllen = sizeof(u.buf);
        ssize_t r = mmsg ? recvmmsg(sv[1], &mm, 1, 0, NULL) : recvmsg(sv[1], &mm.msg_hdr, 0);
        if (r != 1)
            die("recv");
        struct cmsghdr *c = CMSG_FIRSTHDR(&mm.msg_hdr);
        if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len != CMSG_LEN(sizeof(int)))
            die("no SCM_RIGHTS");
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        static char blk[4096];
        long w = 0, wb = 0;
        for (long i = 0; i < n; i++) {
            ssize_t k = write(fd, blk, sizeof(blk));
            if (k != (ssize_t)sizeof(blk))
                die("write");
            w++;
            wb += k;
        }
        say("rfd=%d pid=%d w=%ld wb=%ld", fd, (int)getpid(), w, wb);
        _exit(0); /* fd left open */
    }
    close(sv[1]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path);
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    if (sendmsg(sv[0], &m, 0) != 1)
        die("sendmsg");
    close(fd);
    close(sv[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        die("child");
    say("sent=1");
    return 0;
}

#if defined(__x86_64__)
/* A system call through the i386 entry; pointers must be below 4 GiB. */
static long int80(long nr, long a, long b, long c)
{
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static sigjmp_buf int80_jmp;

static void on_int80_fault(int sig)
{
    (void)sig;
    siglongjmp(int80_jmp, 1);
}

/* True when `int $0x80` works here: some kernels (and some hypervisors'
 * guests) have no IA-32 emulation, and the instruction faults. */
static bool int80_works(void)
{
    enum { NR_GETPID = 20 };
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_int80_fault;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old);
    bool ok = false;
    if (!sigsetjmp(int80_jmp, 1))
        ok = int80(NR_GETPID, 0, 0, 0) == (long)getpid();
    sigaction(SIGSEGV, &old, NULL);
    return ok;
}

static int do_int80(const char *path, long n)
{
    enum { NR_READ = 3, NR_WRITE = 4, NR_OPEN = 5, NR_CLOSE = 6 };
    if (!int80_works()) {
        say("unsupported=1");
        return 0;
    }
    char *low =
        mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED)
        die("mmap");
    size_t plen = strlen(path);
    if (plen >= 4096)
        die("path");
    memcpy(low, path, plen + 1);
    char *buf = low + 4096;
    memset(buf, 'i', 4096);
    long fd = int80(NR_OPEN, (long)low, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -ENOSYS) {
        say("unsupported=1");
        return 0;
    }
    if (fd < 0)
        die("int80 open");
    long opens = 1, closes = 0, w = 0, wb = 0, r = 0, rb = 0;
    for (long i = 0; i < n; i++) {
        long k = int80(NR_WRITE, fd, (long)buf, 4096);
        if (k < 0)
            die("int80 write");
        w++;
        wb += k;
    }
    closes += int80(NR_CLOSE, fd, 0, 0) == 0;
    fd = int80(NR_OPEN, (long)low, O_RDONLY, 0);
    if (fd < 0)
        die("int80 open");
    opens++;
    for (;;) {
        long k = int80(NR_READ, fd, (long)buf, 4096);
        if (k < 0)
            die("int80 read");
        r++;
        rb += k;
        if (k == 0)
            break;
    }
    closes += int80(NR_CLOSE, fd, 0, 0) == 0;
    say("opens=%ld w=%ld wb=%ld r=%ld rb=%ld closes=%ld", opens, w, wb, r, rb, closes);
    return 0;
}
#else
static int do_int80(const char *path, long n)
{
    (void)path;
    (void)n;
    say("unsupported=1");
    return 0;
}
#endif

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "vmsplice") && argc == 2)
        return do_vmsplice();
    if (!strcmp(m, "sync") && argc == 3)
        return do_sync(argv[2]);
    if (!strcmp(m, "mmap") && argc == 4)
        return do_mmap(argv[2], atol(argv[3]));
    if (!strcmp(m, "eintr") && argc == 3)
        return do_eintr(atol(argv[2]), false, argv[0]);
    if (!strcmp(m, "eintrexec") && argc == 2)
        return do_eintr(1, true, argv[0]);
    if (!strcmp(m, "exitflight") && argc == 2)
        return do_exitflight();
    if (!strcmp(m, "seccomp") && argc == 3)
        return do_seccomp(argv[2]);
    if (!strcmp(m, "fdtable") && argc == 7)
        return do_fdtable(argv[2], argv[3], argv[4], argv[5], atol(argv[6]));
    if (!strcmp(m, "fdexec") && argc == 5)
        return do_fdexec(argv[0], argv[2], argv[3], argv[4]);
    if (!strcmp(m, "fdwrite") && argc == 4)
        return do_fdwrite(atoi(argv[2]), atol(argv[3]));
    if (!strcmp(m, "scmrights") && argc == 5)
        return do_scmrights(argv[2], atol(argv[3]), argv[4]);
    if (!strcmp(m, "int80") && argc == 4)
        return do_int80(argv[2], atol(argv[3]));
    if (!strcmp(m, "true") && argc == 2)
        return 0;
    fprintf(stderr, "usage: see the comment at the top of tests/helpers/tw_truth.c\n");
    return 99;
}
