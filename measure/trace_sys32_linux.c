/* trace_sys32_linux: the tracer's table for the i386 ABI on x86-64 (32-bit
 * programs, and `int $0x80` from 64-bit ones). The numbers come from
 * <asm/unistd_32.h>; the meanings are the native table's: argument
 * positions of everything the tracer reads are the same in both ABIs (the
 * kernel hands them over zero-extended), except the struct layouts the
 * engine reads itself (struct mmsghdr) and the clone flags register.
 * Not decoded: socketcall(2) (the multiplexer old i386 C libraries used for
 * sockets; today's call the socket syscalls directly) and the old mmap(2)
 * whose arguments are in memory; both are counted as unseen calls. */
#include "measure/trace_defs.h"

#if defined(__x86_64__)
#include <asm/unistd_32.h>
#include <linux/audit.h>

static const struct tsc_def defs32[] = {
    /* data */
    D(read, TSC_READ),
    D(pread64, TSC_READ),
    D(readv, TSC_READ),
    D(preadv, TSC_READ),
    D(preadv2, TSC_READ),
    D(recvfrom, TSC_READ),
    D(recvmsg, TSC_RECVMSG),
    D(recvmmsg, TSC_RECVMMSG),
    D(recvmmsg_time64, TSC_RECVMMSG),
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
    D(sendfile64, TSC_SENDFILE),
    D(copy_file_range, TSC_COPY),
    D(splice, TSC_COPY),
    D(tee, TSC_TEE),
    D(io_uring_enter, TSC_IO_URING),
    D(mmap2, TSC_MMAP),
    D(mmap, TSC_UNDECODED),
    D(socketcall, TSC_UNDECODED),
    /* descriptors */
    OPEN(open, 1),
    {__NR_creat, {TSC_OPEN, 0, TSC_CX_NEVER, 0, 0, "creat"}},
    OPEN(openat, 2),
    OPEN(open_by_handle_at, 2),
    {__NR_openat2, {TSC_OPENAT2, 0, TSC_CX_NEVER, 0, 0, "openat2"}},
    D(close, TSC_CLOSE),
    D(close_range, TSC_CLOSE_RANGE),
    D(dup, TSC_DUP),
    {__NR_dup2, {TSC_DUP2, 0, TSC_CX_NEVER, 0, 0, "dup2"}},
    {__NR_dup3, {TSC_DUP2, 0, TSC_CX_ARG, 2, CX_O_CLOEXEC, "dup3"}},
    D(fcntl, TSC_FCNTL),
    D(fcntl64, TSC_FCNTL),
    D(ioctl, TSC_IOCTL),
    PAIR(pipe, TSC_CX_NEVER, 0, FDK_PIPE),
    PAIR(pipe2, TSC_CX_ARG, 1, FDK_PIPE),
    PAIR(socketpair, TSC_CX_ARG, 1, FDK_SOCKET),
    NEWFD(socket, FDK_SOCKET, TSC_CX_ARG, 1, CX_O_CLOEXEC),
    NEWFD(accept4, FDK_SOCKET, TSC_CX_ARG, 3, CX_O_CLOEXEC),
    NEWFD(eventfd, FDK_ANON, TSC_CX_NEVER, 0, 0),
    NEWFD(eventfd2, FDK_ANON, TSC_CX_ARG, 1, CX_O_CLOEXEC),
    NEWFD(epoll_create, FDK_ANON, TSC_CX_NEVER, 0, 0),
    NEWFD(epoll_create1, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
    NEWFD(timerfd_create, FDK_ANON, TSC_CX_ARG, 1, CX_O_CLOEXEC),
    NEWFD(signalfd, FDK_ANON, TSC_CX_NEVER, 0, 0),
    NEWFD(signalfd4, FDK_ANON, TSC_CX_ARG, 3, CX_O_CLOEXEC),
    NEWFD(inotify_init, FDK_ANON, TSC_CX_NEVER, 0, 0),
    NEWFD(inotify_init1, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
    NEWFD(fanotify_init, FDK_ANON, TSC_CX_ARG, 0, CX_MFD),
    NEWFD(memfd_create, FDK_ANON, TSC_CX_ARG, 1, CX_MFD),
    NEWFD(userfaultfd, FDK_ANON, TSC_CX_ARG, 0, CX_O_CLOEXEC),
    NEWFD(perf_event_open, FDK_ANON, TSC_CX_ARG, 4, CX_PERF),
    NEWFD(pidfd_open, FDK_ANON, TSC_CX_ALWAYS, 0, 0),
    NEWFD(pidfd_getfd, TSC_KIND_PROBE, TSC_CX_ALWAYS, 0, 0),
    NEWFD(io_uring_setup, FDK_ANON, TSC_CX_ALWAYS, 0, 0),
    D(lseek, TSC_SEEK),
    D(_llseek, TSC_SEEK),
    D(clone, TSC_CLONE),
    D(clone3, TSC_CLONE3),
    D(unshare, TSC_UNSHARE),
    D(sched_getaffinity, TSC_GETAFFINITY),
    D(sched_setaffinity, TSC_SETAFFINITY),
    D(wait4, TSC_WAIT),
    D(waitid, TSC_WAIT),
    D(waitpid, TSC_WAIT),
    D(sigreturn, TSC_SIGRETURN),
    D(rt_sigreturn, TSC_SIGRETURN),
    D(seccomp, TSC_SECCOMP),
    D(prctl, TSC_PRCTL),
    /* metadata */
    M(stat, META_STAT),
    M(lstat, META_STAT),
    M(fstat, META_STAT),
    M(stat64, META_STAT),
    M(lstat64, META_STAT),
    M(fstat64, META_STAT),
    M(fstatat64, META_STAT),
    M(statx, META_STAT),
    M(access, META_STAT),
    M(faccessat, META_STAT),
    M(faccessat2, META_STAT),
    M(readlink, META_STAT),
    M(readlinkat, META_STAT),
    M(statfs, META_STAT),
    M(fstatfs, META_STAT),
    M(statfs64, META_STAT),
    M(fstatfs64, META_STAT),
    M(fsync, META_FSYNC),
    M(fdatasync, META_FSYNC),
    M(msync, META_FSYNC),
    M(sync_file_range, META_FSYNC),
    M(syncfs, META_FSYNC),
    M(sync, META_FSYNC),
    M(getdents, META_GETDENTS),
    M(getdents64, META_GETDENTS),
    M(unlink, META_UNLINK),
    M(rmdir, META_UNLINK),
    M(unlinkat, META_UNLINK),
    M(rename, META_RENAME),
    M(renameat, META_RENAME),
    M(renameat2, META_RENAME),
    M(mkdir, META_MKDIR),
    M(mknod, META_MKDIR),
    M(mkdirat, META_MKDIR),
    M(mknodat, META_MKDIR),
    M(truncate, META_TRUNCATE),
    M(ftruncate, META_TRUNCATE),
    M(truncate64, META_TRUNCATE),
    M(ftruncate64, META_TRUNCATE),
    M(fallocate, META_TRUNCATE),
    MF(flock, META_FCNTL),
    M(chmod, META_OTHER),
    M(chown, META_OTHER),
    M(lchown, META_OTHER),
    M(chown32, META_OTHER),
    M(lchown32, META_OTHER),
    M(fchown32, META_OTHER),
    M(link, META_OTHER),
    M(symlink, META_OTHER),
    M(utime, META_OTHER),
    M(utimes, META_OTHER),
    M(futimesat, META_OTHER),
    M(fchmod, META_OTHER),
    M(fchmodat, META_OTHER),
    M(fchown, META_OTHER),
    M(fchownat, META_OTHER),
    M(linkat, META_OTHER),
    M(symlinkat, META_OTHER),
    M(utimensat, META_OTHER),
    M(utimensat_time64, META_OTHER),
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
    M(fadvise64, META_OTHER),
    M(fadvise64_64, META_OTHER),
    M(readahead, META_OTHER),
};

const struct tsc_def *tsc__compat_defs(size_t *n, uint32_t *arch)
{
    *n = sizeof(defs32) / sizeof(defs32[0]);
    *arch = AUDIT_ARCH_I386;
    return defs32;
}

#else

const struct tsc_def *tsc__compat_defs(size_t *n, uint32_t *arch)
{
    *n = 0;
    *arch = 0;
    return NULL;
}

#endif
