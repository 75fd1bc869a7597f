/* bash_proc: the /proc readings of the bash engine: which process of a cell
 * is blocked reading its stdin pipe (to ask the frontend for input), and
 * which processes belong to the bash session (to end them all). */
#include "server/bash_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/clock.h"

/* read(2) on the architectures we know; elsewhere stdin detection is off. */
#if defined(__x86_64__)
#define BASH__NR_READ 0
#elif defined(__aarch64__) || defined(__riscv)
#define BASH__NR_READ 63
#elif defined(__i386__) || defined(__arm__)
#define BASH__NR_READ 3
#else
#define BASH__NR_READ (-2)
#endif

#define PROC_TEXT_MAX 4096
#define MAX_TREE      512

uint64_t bash__now_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

int bash__parse_syscall(const char *text, size_t len, long *nr, unsigned long long *arg0)
{
    char tmp[128];
    char *end;
    if (len == 0)
        return -EBADMSG;
    if (len >= sizeof tmp)
        len = sizeof tmp - 1;
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    if (!strncmp(tmp, "running", 7))
        return -EAGAIN;
    errno = 0;
    long n = strtol(tmp, &end, 10);
    if (end == tmp || errno)
        return -EBADMSG;
    if (n < 0)
        return -EAGAIN;
    if (*end != ' ')
        return -EBADMSG;
    const char *p = end + 1;
    if (strncmp(p, "0x", 2))
        return -EBADMSG;
    errno = 0;
    unsigned long long a = strtoull(p + 2, &end, 16);
    if (end == p + 2 || errno)
        return -EBADMSG;
    *nr = n;
    *arg0 = a;
    return 0;
}

int bash__parse_syscall_arg2(const char *text, size_t len, unsigned long long *arg2)
{
    long nr;
    unsigned long long a0;
    int rc = bash__parse_syscall(text, len, &nr, &a0);
    if (rc)
        return rc;
    char tmp[128];
    if (len >= sizeof tmp)
        len = sizeof tmp - 1;
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    /* "NR 0xARG0 0xARG1 0xARG2 ..." */
    char *p = tmp;
    for (int field = 0; field < 3; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -EBADMSG;
        p++;
    }
    if (strncmp(p, "0x", 2))
        return -EBADMSG;
    char *end;
    errno = 0;
    unsigned long long a = strtoull(p + 2, &end, 16);
    if (end == p + 2 || errno)
        return -EBADMSG;
    *arg2 = a;
    return 0;
}

/* The fields of a /proc/<pid>/stat text after the command's closing ')'
 * (the last one: a command may hold ')'), NUL-terminated in out. */
static int after_comm(const char *text, size_t len, char *out, size_t outlen)
{
    const char *rp = NULL;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ')')
            rp = text + i;
    if (!rp)
        return -EBADMSG;
    size_t rest = len - (size_t)(rp + 1 - text);
    if (rest >= outlen)
        rest = outlen - 1;
    memcpy(out, rp + 1, rest);
    out[rest] = '\0';
    return 0;
}

int bash__parse_stat(const char *text, size_t len, char *state, pid_t *pgrp, pid_t *session)
{
    /* ") S ppid pgrp session" */
    char tmp[96];
    char st;
    long ppid, pg, sid;
    if (after_comm(text, len, tmp, sizeof tmp) ||
        sscanf(tmp, " %c %ld %ld %ld", &st, &ppid, &pg, &sid) != 4)
        return -EBADMSG;
    *state = st;
    *pgrp = (pid_t)pg;
    *session = (pid_t)sid;
    return 0;
}

int bash__parse_sigmask(const char *text, size_t len, const char *field, unsigned long long *mask)
{
    size_t flen = strlen(field);
    for (size_t i = 0; i + flen + 1 < len; i++) {
        if ((i && text[i - 1] != '\n') || memcmp(text + i, field, flen) || text[i + flen] != ':')
            continue;
        size_t j = i + flen + 1;
        while (j < len && (text[j] == '\t' || text[j] == ' '))
            j++;
        /* at most 16 hex digits, then the line's end (a value cut by the
         * end of the text is not known) */
        char hex[18];
        size_t k = 0;
        while (j < len && k < sizeof hex - 1 && isxdigit((unsigned char)text[j]))
            hex[k++] = text[j++];
        hex[k] = '\0';
        if (!k || k > 16 || j >= len || text[j] != '\n')
            return -EBADMSG;
        *mask = strtoull(hex, NULL, 16);
        return 0;
    }
    return -ENOENT;
}

int bash__parse_cpu(const char *text, size_t len, unsigned long long *ticks)
{
    /* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime" */
    char tmp[256];
    unsigned long long ut, st;
    if (after_comm(text, len, tmp, sizeof tmp) ||
        sscanf(tmp, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -EBADMSG;
    *ticks = ut + st;
    return 0;
}

static ssize_t read_small(const char *path, char *out, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, out, max - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    out[n] = '\0';
    return n;
}

/* Appends the children of every thread of pid to list (bounded). */
static void add_children(pid_t pid, pid_t *list, size_t *n)
{
    char path[64], text[PROC_TEXT_MAX];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < MAX_TREE) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char cpath[320];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        if (read_small(cpath, text, sizeof text) <= 0)
            continue;
        char *p = text;
        while (*p && *n < MAX_TREE) {
            char *end;
            long c = strtol(p, &end, 10);
            if (end == p)
                break;
            list[(*n)++] = (pid_t)c;
            p = end;
        }
    }
    closedir(d);
}

/* True when a thread of pid is blocked in read() on the pipe (dev, ino). */
static bool proc_reading_pipe(pid_t pid, dev_t dev, ino_t ino)
{
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char spath[320];
        snprintf(spath, sizeof spath, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
        ssize_t n = read_small(spath, text, sizeof text);
        long nr;
        unsigned long long fd;
        if (n <= 0 || bash__parse_syscall(text, (size_t)n, &nr, &fd) || nr != BASH__NR_READ ||
            fd > 1u << 20)
            continue;
        char fpath[96];
        struct stat st;
        snprintf(fpath, sizeof fpath, "/proc/%d/fd/%llu", (int)pid, fd);
        if (stat(fpath, &st) || st.st_ino != ino || st.st_dev != dev)
            continue;
        /* asleep in it: a reader that was just handed data is runnable ('R')
         * until it leaves the syscall */
        char tpath[320], stext[PROC_TEXT_MAX], state;
        pid_t pg, sid;
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
        n = read_small(tpath, stext, sizeof stext);
        if (n > 0 && bash__parse_stat(stext, (size_t)n, &state, &pg, &sid) == 0 && state == 'S')
            found = true;
    }
    closedir(d);
    return found;
}

bool bash__reading_pipe(pid_t root, dev_t dev, ino_t ino)
{
    pid_t list[MAX_TREE];
    size_t n = 0;
    list[n++] = root;
    for (size_t i = 0; i < n; i++) {
        if (proc_reading_pipe(list[i], dev, ino))
            return true;
        add_children(list[i], list, &n);
    }
    return false;
}

int bash__signal_session(pid_t sid, int sig)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], text[PROC_TEXT_MAX];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        ssize_t n = read_small(path, text, sizeof text);
        char state;
        pid_t pg, s;
        if (n <= 0 || bash__parse_stat(text, (size_t)n, &state, &pg, &s))
            continue;
        if (s != sid || state == 'Z' || state == 'X')
            continue;
        if (kill((pid_t)atol(e->d_name), sig) == 0)
            count++;
    }
    closedir(d);
    return count;
}

static void read_comm(pid_t pid, char comm[16])
{
    char path[64], text[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    ssize_t n = read_small(path, text, sizeof text);
    comm[0] = '\0';
    if (n <= 0)
        return;
    if (text[n - 1] == '\n')
        text[--n] = '\0';
    size_t len = (size_t)n < 15 ? (size_t)n : 15;
    memcpy(comm, text, len);
    comm[len] = '\0';
}

static size_t tree(pid_t root, pid_t *list)
{
    size_t n = 0;
    list[n++] = root;
    for (size_t i = 0; i < n; i++)
        add_children(list[i], list, &n);
    return n;
}

size_t bash__tree_snapshot(pid_t root, struct bash__pcomm *out, size_t max)
{
    pid_t list[MAX_TREE];
    size_t n = tree(root, list), k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        out[k].pid = list[i];
        read_comm(list[i], out[k].comm);
        k++;
    }
    return k;
}

bool bash__tree_changed(pid_t root, const struct bash__pcomm *snap, size_t n)
{
    pid_t list[MAX_TREE];
    size_t m = tree(root, list);
    for (size_t i = 0; i < m; i++) {
        char comm[16];
        read_comm(list[i], comm);
        if (!comm[0])
            continue; /* gone meanwhile */
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            if (snap[j].pid == list[i]) {
                if (strcmp(snap[j].comm, comm))
                    return true; /* exec'd since */
                known = true;
            }
        if (!known)
            return true;
    }
    return false;
}

void bash__comm(pid_t pid, char comm[16])
{
    read_comm(pid, comm);
}

size_t bash__stragglers(pid_t root, const struct bash__pcomm *snap, size_t n,
                        struct bash__pcomm *out, size_t max)
{
    pid_t list[MAX_TREE];
    size_t m = tree(root, list), k = 0;
    for (size_t i = 1; i < m && k < max; i++) {
        char comm[16];
        read_comm(list[i], comm);
        if (!comm[0])
            continue;
        bool hit = !strcmp(comm, "bash");
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            if (snap[j].pid == list[i]) {
                known = true;
                hit |= strcmp(snap[j].comm, comm) != 0;
            }
        if (hit || !known) {
            out[k].pid = list[i];
            memcpy(out[k].comm, comm, sizeof comm);
            k++;
        }
    }
    return k;
}

bool bash__in_sigint_handler(pid_t pid, unsigned long long *ticks)
{
    char path[64], text[2048];
    unsigned long long blk, cgt;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    ssize_t n = read_small(path, text, sizeof text);
    if (n <= 0 || bash__parse_sigmask(text, (size_t)n, "SigBlk", &blk) ||
        bash__parse_sigmask(text, (size_t)n, "SigCgt", &cgt))
        return false;
    unsigned long long bit = 1ull << (SIGINT - 1);
    if (!(blk & bit) || !(cgt & bit))
        return false;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    n = read_small(path, text, sizeof text);
    return n > 0 && bash__parse_cpu(text, (size_t)n, ticks) == 0;
}

bool bash__blocked_reading(pid_t pid, int fd)
{
    char path[64], text[256], state;
    pid_t pg, sid;
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    ssize_t n = read_small(path, text, sizeof text);
    long nr;
    unsigned long long a0;
    if (n <= 0 || bash__parse_syscall(text, (size_t)n, &nr, &a0) || nr != BASH__NR_READ ||
        a0 != (unsigned long long)fd)
        return false;
    /* asleep in it, not just handed data */
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    n = read_small(path, text, sizeof text);
    return n > 0 && bash__parse_stat(text, (size_t)n, &state, &pg, &sid) == 0 && state == 'S';
}

bool bash__self_reading_pipe(pid_t pid, dev_t dev, ino_t ino)
{
    return proc_reading_pipe(pid, dev, ino);
}

bool bash__reading_fd0(pid_t pid, unsigned long long *count)
{
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    ssize_t n = read_small(path, text, sizeof text);
    long nr;
    unsigned long long a0;
    if (n <= 0 || bash__parse_syscall(text, (size_t)n, &nr, &a0) || nr != BASH__NR_READ || a0 ||
        bash__parse_syscall_arg2(text, (size_t)n, count))
        return false;
    return bash__state(pid) == 'S';
}

char bash__state(pid_t pid)
{
    char path[64], text[PROC_TEXT_MAX], state;
    pid_t pg, sid;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    ssize_t n = read_small(path, text, sizeof text);
    if (n <= 0 || bash__parse_stat(text, (size_t)n, &state, &pg, &sid))
        return '\0';
    return state;
}
