/* test_bash_proc: the /proc parsers of the bash engine on captured text, and
 * the stdin detection on a real process blocked reading a pipe. */
#include "server/bash_internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/tap.h"

static void test_parse_syscall(void)
{
    long nr = -7;
    unsigned long long a = 7;
    const char *blocked = "0 0x0 0x55d3c2 0x1 0x0 0x0 0x0 0x7ffe 0x7f12\n";
    CHECK_INT(bash__parse_syscall(blocked, strlen(blocked), &nr, &a), 0);
    CHECK_INT(nr, 0);
    CHECK_U64(a, 0);
    const char *nanosleep = "230 0x1f 0x0 0x7ffda7569cd0 0x7ffda7569d10 0x0 0x0 0x7ffd 0x7fbd\n";
    CHECK_INT(bash__parse_syscall(nanosleep, strlen(nanosleep), &nr, &a), 0);
    CHECK_INT(nr, 230);
    CHECK_U64(a, 31);
    CHECK_INT(bash__parse_syscall("running\n", 8, &nr, &a), -EAGAIN);
    CHECK_INT(bash__parse_syscall("-1 0x7ffd 0x0\n", 14, &nr, &a), -EAGAIN);
    CHECK_INT(bash__parse_syscall("", 0, &nr, &a), -EBADMSG);
    CHECK_INT(bash__parse_syscall("x 0x1", 5, &nr, &a), -EBADMSG);
    CHECK_INT(bash__parse_syscall("0 12", 4, &nr, &a), -EBADMSG);
    CHECK_INT(bash__parse_syscall("0", 1, &nr, &a), -EBADMSG);
    /* the length bounds the parse, not a NUL */
    CHECK_INT(bash__parse_syscall("0 0x5 trailing", 4, &nr, &a), -EBADMSG);
    CHECK_INT(bash__parse_syscall("0 0x5 trailing", 5, &nr, &a), 0);
    CHECK_U64(a, 5);
    /* read's count: bash's command reader asks for a buffer, `read` for 1 byte */
    unsigned long long count = 7;
    CHECK_INT(bash__parse_syscall_arg2(blocked, strlen(blocked), &count), 0);
    CHECK_U64(count, 1);
    const char *reader = "0 0x0 0x56138f667000 0x400 0x0 0x7 0x561 0x7ffe 0x7f12\n";
    CHECK_INT(bash__parse_syscall_arg2(reader, strlen(reader), &count), 0);
    CHECK_U64(count, 1024);
    CHECK_INT(bash__parse_syscall_arg2("0 0x0 0x5", 9, &count), -EBADMSG);
    CHECK_INT(bash__parse_syscall_arg2("0 0x0 0x5 zz", 12, &count), -EBADMSG);
    CHECK_INT(bash__parse_syscall_arg2("running\n", 8, &count), -EAGAIN);
    /* the length bounds it */
    CHECK_INT(bash__parse_syscall_arg2(reader, 20, &count), -EBADMSG);
}

static void test_parse_stat(void)
{
    char st = 0;
    pid_t pg = 0, sid = 0;
    const char *odd = "123 (a) b) c) S 1 2 3 4 5";
    CHECK_INT(bash__parse_stat(odd, strlen(odd), &st, &pg, &sid), 0);
    CHECK_INT(st, 'S');
    CHECK_INT(pg, 2);
    CHECK_INT(sid, 3);
    const char *sleep = "4242 (sleep) S 4240 4239 4239 0 -1 4194304 93 0 0 0 0 0 0 0 20 0 1 0";
    CHECK_INT(bash__parse_stat(sleep, strlen(sleep), &st, &pg, &sid), 0);
    CHECK_INT(pg, 4239);
    CHECK_INT(sid, 4239);
    CHECK_INT(bash__parse_stat("12 (x", 5, &st, &pg, &sid), -EBADMSG);
    CHECK_INT(bash__parse_stat("12 (x) Z 1", 10, &st, &pg, &sid), -EBADMSG);
}

static void test_parse_sigmask_cpu(void)
{
    const char *status = "Name:\tbash\nState:\tR (running)\nSigQ:\t1/95755\nSigPnd:\t"
                         "0000000000000000\nShdPnd:\t0000000000010000\nSigBlk:\t"
                         "0000000000010002\nSigIgn:\t0000000000384004\nSigCgt:\t"
                         "000000004b813efb\n";
    unsigned long long m = 0;
    CHECK_INT(bash__parse_sigmask(status, strlen(status), "SigBlk", &m), 0);
    CHECK_U64(m, 0x10002);
    CHECK_INT(bash__parse_sigmask(status, strlen(status), "SigCgt", &m), 0);
    CHECK_U64(m, 0x4b813efb);
    /* "Pnd" alone is not a field; a field only at a line's start */
    CHECK_INT(bash__parse_sigmask(status, strlen(status), "Pnd", &m), -ENOENT);
    CHECK_INT(bash__parse_sigmask("xSigBlk:\t1\n", 11, "SigBlk", &m), -ENOENT);
    CHECK_INT(bash__parse_sigmask("SigBlk:\tzz\n", 11, "SigBlk", &m), -EBADMSG);
    /* a value cut by the length */
    CHECK_INT(bash__parse_sigmask("SigBlk:\t0002\n", 12, "SigBlk", &m), -EBADMSG);
    CHECK_INT(bash__parse_sigmask("SigBlk:\t00000000000000001\n", 26, "SigBlk", &m), -EBADMSG);
    unsigned long long t = 0;
    const char *stat =
        "6164 (ba) sh) R 6152 6164 6164 0 -1 4194560 9016 1 0 0 1404 6542 0 0 20 0 1";
    CHECK_INT(bash__parse_cpu(stat, strlen(stat), &t), 0);
    CHECK_U64(t, 7946);
    CHECK_INT(bash__parse_cpu("1 (x) R 1 2", 11, &t), -EBADMSG);
    CHECK_INT(bash__parse_cpu("1 (x", 4, &t), -EBADMSG);
    /* the process itself, whose handler for SIGINT is not running */
    CHECK(!bash__in_sigint_handler(getpid(), &t));
}

/* A child blocked in read() on a pipe is found; on another pipe it is not. */
static void test_reading_pipe(void)
{
    int p[2], q[2];
    CHECK_INT(pipe(p), 0);
    CHECK_INT(pipe(q), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    struct stat sp, sq;
    fstat(p[1], &sp);
    fstat(q[1], &sq);
    bool found = false;
    for (int i = 0; i < 200 && !found; i++) {
        found = bash__reading_pipe(getpid(), sp.st_dev, sp.st_ino);
        if (!found)
            usleep(5000);
    }
    CHECK(found);
    CHECK(!bash__reading_pipe(getpid(), sq.st_dev, sq.st_ino));
    CHECK_INT(write(p[1], "x", 1), 1);
    int ws = 0;
    CHECK_INT(waitpid(pid, &ws, 0), pid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

int main(void)
{
    test_parse_syscall();
    test_parse_stat();
    test_parse_sigmask_cpu();
    test_reading_pipe();
    return tap_done("test_bash_proc");
}
