/* zmtp_front: see zmtp_front.h. */
#include "server/zmtp_front.h"

#include "server/kernel_guard.h"
#include "protocol/jsign.h"
#include "protocol/zmtp_oversize.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ZFRONT_CHANS    4
#define STOP_DRAIN_MS   1000
#define PAUSE_RETRY_MS  1000
#define EVENTS_PER_WAIT 64
/* Shell requests wait this long at most for an iopub connection to
 * subscribe (see hold_shell below). */
#define IOPUB_JOIN_MS 2000

enum { TAG_STOP, TAG_LISTEN, TAG_PEER, TAG_KERNEL };

/* What an epoll event names: id * 4 + kind, the id a channel's index for a
 * listener, a connection's number (never reused) for its sides, so an event
 * left over from a connection closed earlier in the same batch cannot be
 * taken for a newer one's. */
static uint64_t tag(uint64_t id, int kind)
{
    return id * 4 + (uint64_t)kind;
}

struct zchan {
    struct zfront *f;
    char name[16];
    enum jconn_channel kind;
    int lfd;             /* public listener */
    char priv_path[108]; /* private ipc socket (libzmq's) */
    struct zmtp_caps caps;
    unsigned nconns;
    bool full_logged;
    bool paused;       /* out of the epoll set: out of descriptors */
    struct jsign sign; /* the key, when caps.answer_oversized */
};

struct zbuf {
    unsigned char *d;
    size_t off, len;
};

struct zconn {
    struct zchan *ch;
    struct zconn *prev, *next;
    int pfd, kfd;
    uint64_t id;
    uint32_t pmask, kmask;   /* registered epoll events */
    struct zbuf up, down;    /* peer -> kernel (scanned), kernel -> peer */
    bool peer_eof, kern_eof; /* read to its end, or failed */
    bool peer_hup, kern_hup; /* reported a hang-up: out of the epoll set */
    struct zmtp_scan scan;
    struct zmtp_oversize *ov; /* before the scanner, when caps.answer_oversized */
    long long join_until;     /* iopub: not subscribed yet; shell waits until then */
    char peer[64];
};

struct zfront {
    char dir[96];
    struct zchan chans[ZFRONT_CHANS];
    int nchans;
    int ep, stopfd;
    uint64_t next_id;
    struct zconn *conns;
    struct zmtp_budget budget;
    pthread_t thread;
    bool started;
    volatile bool stopping;
    long long paused_at;   /* when a listener was paused (0: none is) */
    long long hold_until;  /* shell is not forwarded until then (0: it is) */
    long long first_until; /* no subscriber yet since the start: shell waits until then */
    unsigned char scratch[ZFRONT_BUF]; /* a peer's bytes before zmtp_oversize */
};

static const char *const chan_files[] = {"shell", "control", "stdin", "iopub"};

/* Removes the private directories that kernels killed by a signal left in
 * tmp: iopsd-front-PID-XXXXXX of this user whose PID is gone. */
static void sweep_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = 0, n = 0;
        if (sscanf(e->d_name, "iopsd-front-%d-%*6[A-Za-z0-9]%n", &pid, &n) != 1 || !n ||
            e->d_name[n] || pid <= 0)
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or another user's) */
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
        if (lstat(path, &st) || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
            continue;
        for (size_t i = 0; i < sizeof chan_files / sizeof *chan_files; i++) {
            char f[PATH_MAX + 16];
            snprintf(f, sizeof f, "%s/%s", path, chan_files[i]);
            unlink(f);
        }
        rmdir(path);
    }
    closedir(d);
}

struct zfront *zfront_new(char *err, size_t errlen)
{
    struct zfront *f = xcalloc(1, sizeof *f);
    f->ep = f->stopfd = -1;
    /* A short path (sun_path holds 108 bytes): $TMPDIR when short, else /tmp. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp";
    sweep_stale(tmp);
    snprintf(f->dir, sizeof f->dir, "%s/iopsd-front-%d-XXXXXX", tmp, (int)getpid());
    if (!mkdtemp(f->dir)) { /* mode 0700 */
        snprintf(err, errlen, "cannot create a private directory in %s: %s", tmp, strerror(errno));
        free(f);
        return NULL;
    }
    kguard_own_dir(f->dir, true);
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    f->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->ep < 0 || f->stopfd < 0) {
        snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
        zfront_free(f);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag(0, TAG_STOP)};
    epoll_ctl(f->ep, EPOLL_CTL_ADD, f->stopfd, &ev);
    f->budget.max = ZFRONT_INFLIGHT_MAX;
    return f;
}

/* Binds and listens on the public endpoint; -errno. */
static int listen_public(const struct jconn *c, enum jconn_channel ch, int *out)
{
    int fd;
    if (!strcmp(c->transport, "ipc")) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s-%d", c->ip, c->ports[ch]);
        if (n < 0 || (size_t)n >= sizeof sa.sun_path)
            return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        /* As libzmq did: a file left by an earlier run is replaced, and the
         * socket file is created 0600 (only its owner may connect). */
        unlink(sa.sun_path);
        mode_t mask = umask(0177);
        int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        int e = errno;
        umask(mask);
        if (rc) {
            close(fd);
            return -e;
        }
    } else {
        struct sockaddr_storage ss;
        socklen_t len;
        memset(&ss, 0, sizeof ss);
        bool v6 = strchr(c->ip, ':') != NULL;
        if (v6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)c->ports[ch]);
            if (inet_pton(AF_INET6, c->ip, &s6->sin6_addr) != 1)
                return -EINVAL;
            len = sizeof *s6;
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)c->ports[ch]);
            if (!strcmp(c->ip, "*"))
                s4->sin_addr.s_addr = htonl(INADDR_ANY);
            else if (inet_pton(AF_INET, c->ip, &s4->sin_addr) != 1)
                return -EINVAL;
            len = sizeof *s4;
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (v6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, (struct sockaddr *)&ss, len)) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if (listen(fd, 128)) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fd;
    return 0;
}

int zfront_listen(struct zfront *f, const char *name, const struct jconn *c, enum jconn_channel ch,
                  const struct zmtp_caps *caps, char *priv, size_t privlen, char *err,
                  size_t errlen)
{
    if (f->nchans == ZFRONT_CHANS) {
        snprintf(err, errlen, "too many channels");
        return -EINVAL;
    }
    struct zchan *z = &f->chans[f->nchans];
    memset(z, 0, sizeof *z);
    char ep[512];
    jconn_endpoint(c, ch, ep, sizeof ep);
    int rc = listen_public(c, ch, &z->lfd);
    if (rc) {
        snprintf(err, errlen, "cannot bind %s (%.300s): %s", jconn_port_name(ch), ep,
                 strerror(-rc));
        return rc;
    }
    z->f = f;
    z->kind = ch;
    snprintf(z->name, sizeof z->name, "%s", name);
    char dir[sizeof f->dir];
    memcpy(dir, f->dir, sizeof dir);
    snprintf(z->priv_path, sizeof z->priv_path, "%s/%s", dir, name);
    z->caps = *caps;
    if (caps->answer_oversized &&
        (rc = jsign_init(&z->sign, c->scheme, c->key, c->keylen, err, errlen))) {
        close(z->lfd);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag((uint64_t)f->nchans, TAG_LISTEN)};
    epoll_ctl(f->ep, EPOLL_CTL_ADD, z->lfd, &ev);
    f->nchans++;
    snprintf(priv, privlen, "ipc://%s", z->priv_path);
    return 0;
}

/* Registers the events wanted on fd; none: removed from the set (a closed
 * side would otherwise report a hang-up at every wait). */
#define MASK_GONE 0x80000000u
static void set_mask(struct zfront *f, int fd, uint64_t t, uint32_t *cur, uint32_t want, bool gone)
{
    if (*cur == MASK_GONE || (*cur == want && !gone))
        return;
    struct epoll_event ev = {.events = want, .data.u64 = t};
    if (gone) {
        epoll_ctl(f->ep, EPOLL_CTL_DEL, fd, &ev);
        want = MASK_GONE;
    } else {
        epoll_ctl(f->ep, EPOLL_CTL_MOD, fd, &ev);
    }
    *cur = want;
}

/* Listens again where accepting stopped for want of descriptors; true if
 * some listener is still paused (none was). */
static bool resume_listeners(struct zfront *f)
{
    bool paused = false;
    for (int i = 0; i < f->nchans; i++)
        if (f->chans[i].paused && f->chans[i].lfd >= 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag((uint64_t)i, TAG_LISTEN)};
            epoll_ctl(f->ep, EPOLL_CTL_ADD, f->chans[i].lfd, &ev);
            f->chans[i].paused = false;
            paused = true;
        }
    return paused;
}

static void conn_close(struct zfront *f, struct zconn *c)
{
    /* closing removes both descriptors from the epoll set */
    close(c->pfd);
    close(c->kfd);
    zmtp_scan_release(&c->scan);
    if (c->ov) {
        zov_release(c->ov);
        free(c->ov);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        f->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->ch->nconns--;
    resume_listeners(f);
    free(c->up.d);
    free(c->down.d);
    free(c);
}

static void describe_peer(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
            snprintf(out, len, "%s:%u", host, ntohs(s4->sin_port));
            return;
        }
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            snprintf(out, len, "[%s]:%u", host, ntohs(s6->sin6_port));
            return;
        }
    }
    snprintf(out, len, "a local peer");
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note_oversized(void *ctx, const char *line)
{
    struct zconn *c = ctx;
    fprintf(stderr, "iopsd kernel: %s: from %s: %s\n", c->ch->name, c->peer, line);
}

static void accept_all(struct zfront *f, struct zchan *z)
{
    for (;;) {
        int pfd = accept4(z->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (pfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The waiting connection would wake the loop at once again:
                 * stop listening until a connection ends. */
                fprintf(stderr,
                        "iopsd kernel: %s: cannot accept a connection: %s (accepting again in a "
                        "second, or when a connection ends)\n",
                        z->name, strerror(errno));
                epoll_ctl(f->ep, EPOLL_CTL_DEL, z->lfd, NULL);
                z->paused = true;
                f->paused_at = mono_ms();
            }
            return;
        }
        if (z->nconns >= ZFRONT_CONNS_MAX) {
            if (!z->full_logged)
                fprintf(stderr,
                        "iopsd kernel: %s: %d connections already: further ones are closed "
                        "until one ends\n",
                        z->name, ZFRONT_CONNS_MAX);
            z->full_logged = true;
            close(pfd);
            continue;
        }
        z->full_logged = false;
        int kfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", z->priv_path);
        if (kfd < 0 || connect(kfd, (struct sockaddr *)&sa, sizeof sa)) {
            fprintf(stderr, "iopsd kernel: %s: cannot reach the kernel's socket: %s\n", z->name,
                    strerror(errno));
            if (kfd >= 0)
                close(kfd);
            close(pfd);
            continue;
        }
        int one = 1;
        setsockopt(pfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on ipc: fine */
        struct zconn *c = xcalloc(1, sizeof *c);
        c->ch = z;
        c->pfd = pfd;
        c->kfd = kfd;
        c->up.d = xmalloc(z->caps.answer_oversized ? ZFRONT_BUF + ZOV_OUT_SLACK : ZFRONT_BUF);
        c->down.d = xmalloc(ZFRONT_BUF);
        zmtp_scan_init(&c->scan, &z->caps, &f->budget);
        describe_peer(pfd, c->peer, sizeof c->peer);
        if (z->caps.answer_oversized) {
            c->ov = xmalloc(sizeof *c->ov);
            zov_init(c->ov, &z->sign, z->caps.frame_max, z->caps.msg_max, z->caps.frames_max,
                     note_oversized, c);
            if (z->kind == JCONN_STDIN)
                c->ov->in_place = "the program waiting for input gets end of file in its place";
        }
        c->id = ++f->next_id;
        if (z->kind == JCONN_IOPUB) {
            /* shell waits for it from now on (hold_shell) */
            c->join_until = mono_ms() + IOPUB_JOIN_MS;
            if (!f->hold_until || c->join_until < f->hold_until)
                f->hold_until = c->join_until;
        }
        c->pmask = c->kmask = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag(c->id, TAG_PEER)};
        epoll_ctl(f->ep, EPOLL_CTL_ADD, pfd, &ev);
        ev.data.u64 = tag(c->id, TAG_KERNEL);
        epoll_ctl(f->ep, EPOLL_CTL_ADD, kfd, &ev);
        c->next = f->conns;
        if (f->conns)
            f->conns->prev = c;
        f->conns = c;
        z->nconns++;
    }
}

/* Reads the peer of c through its zmtp_oversize into c->up's free space
 * below ZFRONT_BUF (what the shaper lets out may pass it by at most
 * ZOV_OUT_SLACK). Returns as fill() does, with *full when the read took all
 * the room; -3 on a violation (the shaper's reason). */
static ssize_t fill_shaped(struct zfront *f, struct zconn *c, size_t *out, bool *full)
{
    struct zbuf *b = &c->up;
    *out = 0;
    *full = false;
    if (b->off && b->off + b->len >= ZFRONT_BUF) {
        memmove(b->d, b->d + b->off, b->len);
        b->off = 0;
    }
    if (b->off + b->len >= ZFRONT_BUF)
        return -1;
    size_t room = ZFRONT_BUF - b->off - b->len;
    ssize_t n;
    do
        n = read(c->pfd, f->scratch, room);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
    if (n == 0)
        return 0;
    *full = (size_t)n == room;
    if (zov_feed(c->ov, f->scratch, (size_t)n, b->d + b->off + b->len, out))
        return -3;
    return n;
}

/* Reads from fd into b's free space; returns bytes read, 0 at EOF, -1 when
 * nothing is to be read now, -2 on an error. */
static ssize_t fill(int fd, struct zbuf *b)
{
    if (b->off && b->off + b->len == ZFRONT_BUF) {
        memmove(b->d, b->d + b->off, b->len);
        b->off = 0;
    }
    size_t room = ZFRONT_BUF - b->off - b->len;
    if (!room)
        return -1;
    ssize_t n;
    do
        n = read(fd, b->d + b->off + b->len, room);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
    return n;
}

/* Writes b to fd; false on an error (the other side is gone). */
static bool flush(int fd, struct zbuf *b)
{
    while (b->len) {
        ssize_t n = send(fd, b->d + b->off, b->len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        b->off += (size_t)n;
        b->len -= (size_t)n;
    }
    b->off = 0;
    return true;
}

/* Moves what can be moved both ways; closes c when it is over. `side`
 * (TAG_PEER, TAG_KERNEL, or 0 for both) reported the events ev. A side is
 * read when it reported input (or could not: its buffer was full, it hung
 * up), and again only while a read fills the buffer or the side hung up:
 * no read that would find nothing (libzmq writes 8 KiB at a time: one
 * wake-up each). A peer that sent a 30 MiB frame and reset the connection
 * was once left unread after the last of its bytes went on: its end never
 * seen, its unfinished message held by libzmq for good. */
static void pump(struct zfront *f, struct zconn *c, int side, uint32_t ev)
{
    /* A side that hung up is read to its end but no longer waited for. */
    if (ev & (EPOLLHUP | EPOLLERR)) {
        if (side == TAG_PEER)
            c->peer_hup = true;
        else if (side == TAG_KERNEL)
            c->kern_hup = true;
    }
    bool rp =
        side == 0 || (side == TAG_PEER && (ev & EPOLLIN)) || !(c->pmask & EPOLLIN) || c->peer_hup;
    bool rk =
        side == 0 || (side == TAG_KERNEL && (ev & EPOLLIN)) || !(c->kmask & EPOLLIN) || c->kern_hup;
    bool held = f->hold_until && c->ch->kind == JCONN_SHELL;
    for (int turn = 0; turn < 16; turn++) {
        bool moved = false;
        if (rp && !c->peer_eof && !c->kern_eof && !f->stopping) {
            size_t before = c->up.len, out = 0;
            bool full = false;
            ssize_t n = c->ov ? fill_shaped(f, c, &out, &full) : fill(c->pfd, &c->up);
            if (n == -3) {
                fprintf(stderr, "iopsd kernel: %s: connection from %s cut: %s\n", c->ch->name,
                        c->peer, c->ov->reason);
                conn_close(f, c);
                return;
            }
            if (n > 0 && !c->ov)
                out = (size_t)n;
            if (n == 0 || n == -2) {
                c->peer_eof = true;
            } else if (n > 0) {
                if (zmtp_scan_feed(&c->scan, c->up.d + c->up.off + before, out)) {
                    fprintf(stderr, "iopsd kernel: %s: connection from %s cut: %s\n", c->ch->name,
                            c->peer, c->scan.reason);
                    conn_close(f, c);
                    return;
                }
                c->up.len += out;
                moved = true;
            }
            /* more may wait; a side that hung up is out of the epoll set,
             * so it is read to its end here or never */
            rp = c->peer_hup || (c->ov ? full : c->up.off + c->up.len == ZFRONT_BUF);
        }
        if (!c->kern_eof && !held) {
            size_t before = c->up.len;
            if (!flush(c->kfd, &c->up))
                c->kern_eof = true;
            moved |= c->up.len != before;
        }
        if (rk && !c->kern_eof) {
            ssize_t n = fill(c->kfd, &c->down);
            if (n == 0 || n == -2)
                c->kern_eof = true;
            else if (n > 0) {
                c->down.len += (size_t)n;
                moved = true;
            }
            rk = c->kern_hup || c->down.off + c->down.len == ZFRONT_BUF;
        }
        if (!c->peer_eof) {
            size_t before = c->down.len;
            if (!flush(c->pfd, &c->down))
                c->peer_eof = true;
            moved |= c->down.len != before;
        }
        if (!moved)
            break;
    }
    /* Over when the peer left (what it sent is forwarded first), or when
     * the kernel's side closed and what it sent has reached the peer. */
    if ((c->peer_eof && (c->up.len == 0 || c->kern_eof)) ||
        (c->kern_eof && (c->down.len == 0 || c->peer_eof))) {
        conn_close(f, c);
        return;
    }
    uint32_t pm = 0, km = 0;
    if (!c->peer_eof) {
        if (!f->stopping && !c->kern_eof && c->up.off + c->up.len < ZFRONT_BUF)
            pm |= EPOLLIN;
        /* the other side hung up but is not read to its end (the turns ran
         * out): this side's readiness to write brings the next turn */
        if (c->down.len || (c->kern_hup && !c->kern_eof))
            pm |= EPOLLOUT;
    }
    if (!c->kern_eof) {
        if (c->down.off + c->down.len < ZFRONT_BUF)
            km |= EPOLLIN;
        if ((c->up.len && !held) || (c->peer_hup && !c->peer_eof))
            km |= EPOLLOUT;
    }
    set_mask(f, c->pfd, tag(c->id, TAG_PEER), &c->pmask, pm, c->peer_eof || c->peer_hup);
    set_mask(f, c->kfd, tag(c->id, TAG_KERNEL), &c->kmask, km, c->kern_eof || c->kern_hup);
}

/* A frontend may send its first request as soon as a kernel_info round
 * trip on shell is over, without waiting for its iopub subscription to
 * arrive (jupyter console does; jupyter_client's wait_for_ready waits).
 * What the kernel published before the subscription reached libzmq is lost
 * to that frontend: its first cell's busy, output and idle, and it waited
 * for idle for ever. So while an iopub connection has connected but not yet
 * subscribed (IOPUB_JOIN_MS at most), shell peers are read but their bytes
 * are not forwarded. The subscription is forwarded first, and libzmq's one
 * I/O thread takes sockets in the order they became readable, so the XPUB
 * holds it before the request reaches the kernel. A frontend started with
 * the kernel may find shell listening and iopub not yet (libzmq then tries
 * again 100 ms later): until the first subscription, IOPUB_JOIN_MS at most,
 * shell waits as well. Called before each wait;
 * pumps the shell connections when the hold ends. */
static void hold_shell(struct zfront *f)
{
    if (!f->hold_until) /* no connection joining, no wait since the start */
        return;
    long long now = mono_ms(), until = 0;
    for (struct zconn *c = f->conns; c; c = c->next) {
        if (!c->join_until)
            continue;
        if (c->scan.subscribed && !c->up.len) {
            c->join_until = 0;
            f->first_until = 0;
        } else if (now >= c->join_until || f->stopping) {
            if (!f->stopping)
                fprintf(stderr,
                        "iopsd kernel: iopub: a connection from %s did not subscribe within "
                        "%d ms: requests go on without waiting for it\n",
                        c->peer, IOPUB_JOIN_MS);
            c->join_until = 0;
        } else if (!until || c->join_until < until) {
            until = c->join_until;
        }
    }
    if (f->first_until && (now >= f->first_until || f->stopping))
        f->first_until = 0;
    if (f->first_until && (!until || f->first_until < until))
        until = f->first_until;
    bool released = f->hold_until && !until;
    f->hold_until = until;
    if (released)
        for (struct zconn *c = f->conns, *next; c; c = next) {
            next = c->next;
            if (c->ch->kind == JCONN_SHELL)
                pump(f, c, 0, 0);
        }
}

static void *front_main(void *arg)
{
    struct zfront *f = arg;
    struct epoll_event evs[EVENTS_PER_WAIT];
    long long deadline = 0;
    for (;;) {
        hold_shell(f);
        int timeout = -1;
        for (int i = 0; i < f->nchans; i++)
            if (f->chans[i].paused)
                timeout = PAUSE_RETRY_MS; /* no connection may end to resume it */
        if (f->hold_until) {
            long long left = f->hold_until - mono_ms();
            timeout = left <= 0 ? 0 : timeout < 0 || left < timeout ? (int)left : timeout;
        }
        if (f->stopping) {
            if (!f->conns)
                break;
            long long left = deadline - mono_ms();
            if (left <= 0)
                break;
            timeout = (int)left;
        }
        int n = epoll_wait(f->ep, evs, EVENTS_PER_WAIT, timeout);
        if (n < 0 && errno != EINTR)
            break;
        /* a second after a pause, even while other connections are busy */
        if (f->paused_at && !f->stopping && mono_ms() - f->paused_at >= PAUSE_RETRY_MS) {
            f->paused_at = 0;
            resume_listeners(f);
        }
        for (int i = 0; i < n; i++) {
            uint64_t t = evs[i].data.u64, id = t / 4;
            int kind = (int)(t % 4);
            if (kind == TAG_STOP) {
                uint64_t v;
                (void)!read(f->stopfd, &v, sizeof v);
                if (!f->stopping) {
                    f->stopping = true;
                    deadline = mono_ms() + STOP_DRAIN_MS;
                    for (int j = 0; j < f->nchans; j++) {
                        close(f->chans[j].lfd);
                        f->chans[j].lfd = -1;
                    }
                    /* peers are no longer read: every mask changes */
                    for (struct zconn *c = f->conns, *next; c; c = next) {
                        next = c->next;
                        pump(f, c, 0, 0);
                    }
                }
                /* Connections closed in this batch may be named by later
                 * events: start a fresh wait. */
                break;
            }
            if (kind == TAG_LISTEN) {
                if (!f->stopping && id < (uint64_t)f->nchans)
                    accept_all(f, &f->chans[id]);
                continue;
            }
            /* a connection closed earlier in this batch is not found */
            for (struct zconn *x = f->conns; x; x = x->next)
                if (x->id == id) {
                    pump(f, x, kind, evs[i].events);
                    break;
                }
        }
    }
    return NULL;
}

int zfront_start(struct zfront *f, char *err, size_t errlen)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    f->first_until = f->hold_until = mono_ms() + IOPUB_JOIN_MS;
    int rc = pthread_create(&f->thread, NULL, front_main, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        snprintf(err, errlen, "cannot start the front's thread: %s", strerror(rc));
        return -rc;
    }
    f->started = true;
    return 0;
}

void zfront_free(struct zfront *f)
{
    if (!f)
        return;
    if (f->started) {
        uint64_t one = 1;
        (void)!write(f->stopfd, &one, sizeof one);
        pthread_join(f->thread, NULL);
    }
    while (f->conns)
        conn_close(f, f->conns);
    for (int i = 0; i < f->nchans; i++) {
        if (f->chans[i].lfd >= 0)
            close(f->chans[i].lfd);
        unlink(f->chans[i].priv_path);
        if (f->chans[i].caps.answer_oversized)
            jsign_release(&f->chans[i].sign);
    }
    if (f->ep >= 0)
        close(f->ep);
    if (f->stopfd >= 0)
        close(f->stopfd);
    kguard_own_dir(f->dir, false);
    rmdir(f->dir);
    free(f);
}
