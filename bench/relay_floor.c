/* relay_floor: the cheapest relay there can be, for bench_relay_floor.py.
 *
 * One thread, one epoll loop, TCP on 127.0.0.1: each argument LISTEN:TARGET
 * makes it accept on port LISTEN and connect each connection to port
 * TARGET, then copy bytes both ways as they come. It does not parse, verify
 * or sign anything: ZMTP passes end to end. A message through it pays one
 * more process hop (a wake-up, a read and a write) and nothing else, which
 * is the least any relay of the Jupyter protocol costs; iopsd's wrap kernel
 * is measured against it.
 *
 * Usage: relay_floor LISTEN:TARGET... (runs until killed). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORTS_MAX 8
#define FDS_MAX   4096

static int listen_fd[PORTS_MAX], target_port[PORTS_MAX], nports;
static int peer_of[FDS_MAX];
static int ep;

static void watch(int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void prepare(int fd)
{
    int one = 1;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void close_pair(int fd)
{
    int p = peer_of[fd];
    peer_of[fd] = peer_of[p] = -1; /* a later event of this batch for them is skipped */
    close(fd);
    close(p);
}

/* Writes all of buf to fd, waiting while the socket is full. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        if (w < 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static void accept_on(int i)
{
    int c = accept(listen_fd[i], NULL, NULL);
    if (c < 0)
        return;
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(target_port[i]);
    if (t < 0 || c >= FDS_MAX || t >= FDS_MAX || connect(t, (struct sockaddr *)&a, sizeof a)) {
        close(c);
        if (t >= 0)
            close(t);
        return;
    }
    prepare(c);
    prepare(t);
    peer_of[c] = t;
    peer_of[t] = c;
    watch(c);
    watch(t);
}

int main(int argc, char **argv)
{
    memset(peer_of, -1, sizeof peer_of);
    ep = epoll_create1(0);
    for (int i = 1; i < argc && nports < PORTS_MAX; i++) {
        int lp, tp;
        if (sscanf(argv[i], "%d:%d", &lp, &tp) != 2) {
            fprintf(stderr, "relay_floor: expected LISTEN:TARGET, got '%s'\n", argv[i]);
            return 2;
        }
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = loopback(lp);
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
            fprintf(stderr, "relay_floor: port %d: %s\n", lp, strerror(errno));
            return 1;
        }
        listen_fd[nports] = s;
        target_port[nports++] = tp;
        watch(s);
    }
    static char buf[1 << 17];
    for (;;) {
        struct epoll_event evs[32];
        int n = epoll_wait(ep, evs, 32, -1);
        for (int j = 0; j < n; j++) {
            int fd = evs[j].data.fd, li = -1;
            for (int i = 0; i < nports; i++)
                if (listen_fd[i] == fd)
                    li = i;
            if (li >= 0) {
                accept_on(li);
                continue;
            }
            if (peer_of[fd] < 0)
                continue;
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r <= 0 || write_all(peer_of[fd], buf, (size_t)r))
                close_pair(fd);
        }
    }
}
