/* zmtp_front: the kernel's ZMTP-aware front. For each protected channel,
 * libzmq binds a private endpoint (an ipc socket in a 0700 directory of the
 * front's own) and the front listens on the public endpoint of the
 * connection file. Each accepted connection gets a stream to the private
 * endpoint; bytes are relayed both ways by one thread (epoll, nonblocking
 * sockets, bounded buffers), the peer's bytes passing through zmtp_scan
 * before they are forwarded. On a violation both sides are closed at once:
 * libzmq sees an ordinary disconnect and frees what it held for that peer,
 * and one line goes to stderr.
 *
 * What one connection costs the front: two ZFRONT_BUF buffers and a
 * scanner; the number of connections per channel is capped
 * (ZFRONT_CONNS_MAX), and the bytes of incomplete messages across all
 * connections too (ZFRONT_INFLIGHT_MAX). */
#ifndef IOPSD_ZMTP_FRONT_H
#define IOPSD_ZMTP_FRONT_H

#include "protocol/jconn.h"
#include "protocol/zmtp_scan.h"

#include <stddef.h>

/* Bytes buffered per direction and connection. */
#define ZFRONT_BUF (128u << 10)
/* Connections at once on one channel; more are closed as they arrive. */
#define ZFRONT_CONNS_MAX 32
/* Bytes of incomplete multipart messages libzmq may hold for all peers. */
#define ZFRONT_INFLIGHT_MAX (64ull << 20)

struct zfront;

/* A front with its private directory; NULL with err on failure. */
struct zfront *zfront_new(char *err, size_t errlen);
/* Listens on channel ch's public endpoint of c (named `name` in logs) and
 * writes into priv the endpoint libzmq must bind. Returns 0 or -errno with
 * err (as "cannot bind shell_port (tcp://...): Address already in use"). */
int zfront_listen(struct zfront *f, const char *name, const struct jconn *c, enum jconn_channel ch,
                  const struct zmtp_caps *caps, char *priv, size_t privlen, char *err,
                  size_t errlen);
/* Starts relaying (a thread of its own, every signal blocked in it). */
int zfront_start(struct zfront *f, char *err, size_t errlen);
/* Stops accepting, forwards what the kernel still sends (until every
 * private stream is closed, at most 1 s), closes everything, removes the
 * private sockets and directory. The public ipc files are the caller's. */
void zfront_free(struct zfront *f);

#endif
