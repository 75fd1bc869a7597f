/* exit_notif_linux: a seccomp user notification on exit_group (see
 * exit_notif.h). The filter allows every other call of the native ABI and
 * every call of any other ABI without a look. */
#include "measure/exit_notif.h"
#include "measure/trace.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The buffers are sized by what the kernel says its structures are, never
 * below what this build's headers say. */
#define NOTIF_BUF 512

bool exit_notif_supported(void)
{
    struct utsname u;
    unsigned maj = 0, min = 0;
    if (uname(&u) || sscanf(u.release, "%u.%u", &maj, &min) != 2)
        return false;
    if (maj < 5 || (maj == 5 && min < 5)) /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
        return false;
    struct seccomp_notif_sizes sz;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz))
        return false;
    if (sz.seccomp_notif > NOTIF_BUF || sz.seccomp_notif_resp > NOTIF_BUF)
        return false;
    uint32_t action = SECCOMP_RET_USER_NOTIF;
    return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

/* One byte over a socketpair with room for one descriptor beside it
 * (SCM_RIGHTS): the listener goes from the child to the tracer this way. */
struct fd_msg {
    char byte;
    struct iovec iov;
    union {
        size_t align; /* a cmsghdr's alignment (struct cmsghdr itself ends in a
                       * flexible array: clang refuses it inside a struct) */
        char b[CMSG_SPACE(sizeof(int))];
    } c;
    struct msghdr m;
};

static void fd_msg_init(struct fd_msg *f, char byte)
{
    memset(f, 0, sizeof *f);
    f->byte = byte;
    f->iov = (struct iovec){.iov_base = &f->byte, .iov_len = 1};
    f->m = (struct msghdr){.msg_iov = &f->iov,
                           .msg_iovlen = 1,
                           .msg_control = f->c.b,
                           .msg_controllen = sizeof f->c.b};
}

void exit_notif_child_install(int sock)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, tsc_audit_arch(), 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    /* Without CAP_SYS_ADMIN this fails with EACCES: no_new_privs is not set. */
    long l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (l >= 0) {
        struct fd_msg msg;
        fd_msg_init(&msg, 'L');
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg.m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        int fd = (int)l;
        memcpy(CMSG_DATA(h), &fd, sizeof fd);
        while (sendmsg(sock, &msg.m, MSG_NOSIGNAL) < 0 && errno == EINTR)
            ;
        close(fd);
    }
    close(sock);
}

int exit_notif_receive(int sock)
{
    struct fd_msg msg;
    fd_msg_init(&msg, 0);
    ssize_t n;
    while ((n = recvmsg(sock, &msg.m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n != 1 || (msg.m.msg_flags & MSG_CTRUNC))
        return -1;
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg.m);
    if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
        h->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof fd);
    return fd;
}

int exit_notif_recv(int listener, struct exit_notif *n)
{
    _Alignas(8) unsigned char buf[NOTIF_BUF];
    memset(buf, 0, sizeof buf); /* the kernel insists on a zeroed request */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, buf) < 0)
        return -errno;
    struct seccomp_notif req;
    memcpy(&req, buf, sizeof req);
    n->id = req.id;
    n->tid = (pid_t)req.pid;
    return 0;
}

void exit_notif_continue(int listener, uint64_t id)
{
    _Alignas(8) unsigned char buf[NOTIF_BUF];
    memset(buf, 0, sizeof buf);
    struct seccomp_notif_resp resp = {
        .id = id, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    memcpy(buf, &resp, sizeof resp);
    while (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, buf) < 0 && errno == EINTR)
        ;
}
