/* trace_sys_linux: the tracer's syscall table for the native architecture
 * (x86-64 or aarch64; names that an architecture lacks, such as open or
 * dup2 on aarch64, are left out by the preprocessor) and the seccomp filter
 * built from it. */
#include "measure/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define TSC_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TSC_ARCH AUDIT_ARCH_AARCH64
#else
#error "the trace backend supports x86-64 and aarch64"
#endif

#include "measure/trace_defs.h"

static const struct tsc_def defs[] = {
    /* data */
    D(read, TSC_READ),
    D(pread64, TSC_READ),
    D(readv, TSC_READ),
    D(preadv, TSC_READ),
    D(preadv2, TSC_READ),
    D(recvfrom, TSC_READ),
    D(recvmsg, TSC_RECVMSG),
    D(recvmmsg, TSC_RECVMMSG),
    D(write, TSC_WRITE),
    D(pwrite64, TSC_WRITE),
    D(writev, TSC_WRITE),
    D(pwritev, TSC_WRITE),
    D(pwritev2, TSC_WRITE),
    D(sendto, TSC_WRITE),
    D(sendmsg, TSC_WRITE),
    D(sendmmsg, TSC_SENDMMSG),
    D(vmsplice, TSC_VMSPLICE),
    D(sendfile, TSC_SENDFILE),
    D(copy_file_range, TSC_COPY),
    D(splice, TSC_COPY),
    D(tee, TSC_TEE),
    D(io_uring_enter, TSC_IO_URING),
    D(mmap, TSC_MMAP),
/* descriptors */
#ifdef __NR_open
    OPEN(open, 1),
#endif
#ifdef __NR_creat
    {__NR_creat, {TSC_OPEN, 0, TSC_CX_NEVER, 0, 0, "creat"}},
#endif
    OPEN(openat, 2),
    OPEN(open_by_handle_at, 2),
    {__NR_openat2, {TSC_OPENAT2, 0, TSC_CX_NEVER, 0, 0, "openat2"}},
    D(close, TSC_CLOSE),
    D(close_range, TSC_CLOSE_RANGE),
    D(dup, TSC_DUP),
#ifdef __NR_dup2
    {__NR_dup2, {TSC_DUP2, 0, TSC_CX_NEVER, 0, 0, "dup2"}},
#endif
    {__NR_dup3, {TSC_DUP2, 0, TSC_CX_ARG, 2, CX_O_CLOEXEC, "dup3"}},
    D(fcntl, TSC_FCNTL),
    D(ioctl, TSC_IOCTL),
#ifdef __NR_pipe
    PAIR(pipe, TSC_CX_NEVER, 0, FDK_PIPE),
#endif
    PAIR(pipe2, TSC_CX_ARG, 1, FDK_PIPE),
    PAIR(socketpair, TSC_CX_ARG, 1, FDK_SOCKET),
    NEWFD(socket, FDK_SOCKET, TSC_CX_ARG, 1, CX_O_CLOEXEC),
    NEWFD(accept, FDK_SOCKET, TSC_CX_NEVER, 0, 0),
    NEWFD(accept4, FDK_SOCKET, TSC_CX_ARG, 3, CX_O_CLOEXEC),
#ifdef __NR_eventfd
    NEWFD(eventfd, FDK_ANON, TSC_CX_NEVER, 0, 0),
#endif
    NEWFD(eventfd2, FDK_ANON, TSC_CX_ARG, 1, CX_O_CLOEXEC),
#ifdef __NR_epoll_create
    NEWFD(epoll_create, FDK_ANON, TSC_CX_NEVER, 0, 0),
#endif
    NEWFD(epoll_create1, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
    NEWFD(timerfd_create, FDK_ANON, TSC_CX_ARG, 1, CX_O_CLOEXEC),
#ifdef __NR_signalfd
    NEWFD(signalfd, FDK_ANON, TSC_CX_NEVER, 0, 0),
#endif
    NEWFD(signalfd4, FDK_ANON, TSC_CX_ARG, 3, CX_O_CLOEXEC),
#ifdef __NR_inotify_init
    NEWFD(inotify_init, FDK_ANON, TSC_CX_NEVER, 0, 0),
#endif
    NEWFD(inotify_init1, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
    NEWFD(fanotify_init, FDK_ANON, TSC_CX_ARG, 0, CX_MFD),
    NEWFD(memfd_create, FDK_ANON, TSC_CX_ARG, 1, CX_MFD),
#ifdef __NR_memfd_secret
    NEWFD(memfd_secret, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
#endif
    NEWFD(userfaultfd, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
    NEWFD(perf_event_open, FDK_ANON, TSC_CX_ARG, 4, CX_PERF),
    NEWFD(pidfd_open, FDK_ANON, TSC_CX_ALWAYS, 0, 0),
    NEWFD(pidfd_getfd, TSC_KIND_PROBE, TSC_CX_ALWAYS, 0, 0),
    NEWFD(io_uring_setup, FDK_ANON, TSC_CX_ALWAYS, 0, 0),
    D(lseek, TSC_SEEK),
    D(clone, TSC_CLONE),
    D(clone3, TSC_CLONE3),
    D(unshare, TSC_UNSHARE),
    D(sched_getaffinity, TSC_GETAFFINITY),
    D(sched_setaffinity, TSC_SETAFFINITY),
    D(wait4, TSC_WAIT),
    D(waitid, TSC_WAIT),
    D(rt_sigreturn, TSC_SIGRETURN),
    D(seccomp, TSC_SECCOMP),
    D(prctl, TSC_PRCTL),
/* metadata */
#ifdef __NR_stat
    M(stat, META_STAT),
    M(lstat, META_STAT),
#endif
    M(fstat, META_STAT),
#ifdef __NR_newfstatat
    M(newfstatat, META_STAT),
#endif
    M(statx, META_STAT),
#ifdef __NR_access
    M(access, META_STAT),
#endif
    M(faccessat, META_STAT),
    M(faccessat2, META_STAT),
#ifdef __NR_readlink
    M(readlink, META_STAT),
#endif
    M(readlinkat, META_STAT),
    M(statfs, META_STAT),
    M(fstatfs, META_STAT),
    M(fsync, META_FSYNC),
    M(fdatasync, META_FSYNC),
    M(msync, META_FSYNC),
    M(sync_file_range, META_FSYNC),
    M(syncfs, META_FSYNC),
    M(sync, META_FSYNC),
#ifdef __NR_getdents
    M(getdents, META_GETDENTS),
#endif
    M(getdents64, META_GETDENTS),
#ifdef __NR_unlink
    M(unlink, META_UNLINK),
    M(rmdir, META_UNLINK),
#endif
    M(unlinkat, META_UNLINK),
#ifdef __NR_rename
    M(rename, META_RENAME),
#endif
#ifdef __NR_renameat
    M(renameat, META_RENAME),
#endif
    M(renameat2, META_RENAME),
#ifdef __NR_mkdir
    M(mkdir, META_MKDIR),
    M(mknod, META_MKDIR),
#endif
    M(mkdirat, META_MKDIR),
    M(mknodat, META_MKDIR),
    M(truncate, META_TRUNCATE),
    M(ftruncate, META_TRUNCATE),
    M(fallocate, META_TRUNCATE),
    MF(flock, META_FCNTL),
#ifdef __NR_chmod
    M(chmod, META_OTHER),
    M(chown, META_OTHER),
    M(lchown, META_OTHER),
    M(link, META_OTHER),
    M(symlink, META_OTHER),
    M(utime, META_OTHER),
    M(utimes, META_OTHER),
    M(futimesat, META_OTHER),
#endif
    M(fchmod, META_OTHER),
    M(fchmodat, META_OTHER),
    M(fchown, META_OTHER),
    M(fchownat, META_OTHER),
    M(linkat, META_OTHER),
    M(symlinkat, META_OTHER),
    M(utimensat, META_OTHER),
    M(setxattr, META_OTHER),
    M(lsetxattr, META_OTHER),
    M(fsetxattr, META_OTHER),
    M(getxattr, META_OTHER),
    M(lgetxattr, META_OTHER),
    M(fgetxattr, META_OTHER),
    M(listxattr, META_OTHER),
    M(llistxattr, META_OTHER),
    M(flistxattr, META_OTHER),
    M(removexattr, META_OTHER),
    M(lremovexattr, META_OTHER),
    M(fremovexattr, META_OTHER),
#ifdef __NR_fadvise64
    M(fadvise64, META_OTHER),
#endif
    M(readahead, META_OTHER),
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))
/* Above every syscall number of both architectures (x86-64 ~460, aarch64 ~460). */
#define TSC_NR_LIMIT 512

static const struct tsc_entry *table[TSC_NR_LIMIT], *table32[TSC_NR_LIMIT];
static const struct tsc_def *defs32;
static size_t ndefs32;
static uint32_t arch32;
static int table_ready;

static void table_init(void)
{
    if (__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
        return;
    for (size_t i = 0; i < NDEFS; i++)
        if (defs[i].nr >= 0 && defs[i].nr < TSC_NR_LIMIT)
            table[defs[i].nr] = &defs[i].e;
    defs32 = tsc__compat_defs(&ndefs32, &arch32);
    for (size_t i = 0; i < ndefs32; i++)
        if (defs32[i].nr >= 0 && defs32[i].nr < TSC_NR_LIMIT)
            table32[defs32[i].nr] = &defs32[i].e;
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

const struct tsc_entry *tsc_lookup(long nr)
{
    table_init();
    if (nr < 0 || nr >= TSC_NR_LIMIT)
        return NULL;
    return table[nr];
}

const struct tsc_entry *tsc_lookup_arch(uint32_t arch, long nr)
{
    table_init();
    if (nr < 0 || nr >= TSC_NR_LIMIT)
        return NULL;
    if (arch == TSC_ARCH)
        return table[nr];
    if (arch32 && arch == arch32)
        return table32[nr];
    return NULL;
}

size_t tsc_count(void)
{
    return NDEFS;
}

uint32_t tsc_compat_arch(void)
{
    table_init();
    return arch32;
}

size_t tsc_compat_count(void)
{
    table_init();
    return ndefs32;
}

long tsc_nr_limit(void)
{
    return TSC_NR_LIMIT;
}

uint32_t tsc_audit_arch(void)
{
    return TSC_ARCH;
}

/* One block: load nr, one JEQ per syscall jumping to the final RET_TRACE,
 * RET_ALLOW otherwise. Jump offsets are 8 bits: under 255 entries. */
static size_t filter_block(struct sock_filter *out, const struct tsc_def *d, size_t nd)
{
    size_t n = 0;
    out[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < nd; i++) {
        /* jt: skip the remaining JEQs and the RET_ALLOW to reach RET_TRACE */
        size_t remaining = nd - 1 - i;
        out[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)d[i].nr,
                                                (uint8_t)(remaining + 1), 0);
    }
    out[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    out[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | TSC_RET_DATA);
    return n;
}

/* The program: dispatch on the architecture (native block, compat block,
 * RET_ALLOW for any other ABI), then each block. */
int tsc_build_filter(struct sock_filter *out, size_t max)
{
    table_init();
    size_t head = arch32 ? 4 : 3;
    size_t native = NDEFS + 3, compat = arch32 ? ndefs32 + 3 : 0;
    if (head + native + compat > max || NDEFS > 250 || ndefs32 > 250 || head + native - 3 > 255)
        return -E2BIG;
    size_t n = 0;
    out[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    out[n++] =
        (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TSC_ARCH, (uint8_t)(head - 2), 0);
    if (arch32)
        out[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch32,
                                                (uint8_t)(head + native - 3), 0);
    out[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    n += filter_block(out + n, defs, NDEFS);
    if (arch32)
        n += filter_block(out + n, defs32, ndefs32);
    return (int)n;
}
