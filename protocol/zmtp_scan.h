/* zmtp_scan: an incremental scanner of one direction of a ZMTP 3.x byte
 * stream, the peer -> kernel one, for the front that sits before libzmq
 * (server/zmtp_front.c).
 *
 * It is fed the bytes as read() returns them, in chunks of any size, and
 * keeps its state between calls: the 64-byte greeting (signature, version 3.0
 * or 3.1, mechanism NULL only), then frames: commands (READY and its
 * properties, PING, PONG, ERROR, SUBSCRIBE, CANCEL) and data frames. Every
 * size is checked against the caps as soon as its header is complete, before
 * its body is forwarded: what libzmq would hold for the connection (a
 * multipart message until it is whole, subscriptions in a trie) stays within
 * them. The first violation is final: the caller closes the connection.
 *
 * Memory: a fixed buffer for one command (or one subscription), and the set
 * of the connection's live subscriptions, bounded by the caps. */
#ifndef IOPSD_ZMTP_SCAN_H
#define IOPSD_ZMTP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZMTP_GREETING_LEN 64
/* The largest command (or, on a subscription channel, data frame) any caps
 * may allow: the body is buffered whole to be parsed. */
#define ZMTP_SCAN_BUF_MAX 4096

/* Bytes of incomplete multipart messages shared by the connections of one
 * front: a frame header that would take `used` past `max` is a violation,
 * so many connections cannot multiply what one may hold. */
struct zmtp_budget {
    uint64_t used, max;
};

struct zmtp_caps {
    uint64_t frame_max;     /* bytes of one data frame */
    uint64_t msg_max;       /* bytes of one multipart message (all its frames) */
    uint32_t frames_max;    /* frames of one multipart message */
    uint32_t command_max;   /* bytes of one command body, <= ZMTP_SCAN_BUF_MAX */
    uint32_t handshake_max; /* bytes before the handshake (greeting + READY) is done */
    /* A subscription channel (the peer of an XPUB): data frames starting
     * with 1 subscribe, with 0 cancel (and the SUBSCRIBE/CANCEL commands);
     * frame_max must then be <= ZMTP_SCAN_BUF_MAX. */
    bool subscriptions;
    uint32_t subs_max;      /* live subscriptions of one connection */
    uint64_t sub_bytes_max; /* their total bytes */
    /* For the front, not the scanner: a signed request over frame_max or
     * msg_max is drained and answered (zmtp_oversize.h), not cut. */
    bool answer_oversized;
};

struct zmtp_sub {
    uint32_t hash, len;
    unsigned char *topic;
};

struct zmtp_scan {
    struct zmtp_caps caps;
    struct zmtp_budget *budget; /* may be NULL */
    int state;
    bool ready;    /* the peer's READY was seen: handshake done */
    bool failed;   /* a violation was reported: final */
    bool more;     /* inside a multipart message */
    uint8_t flags; /* of the frame being read */
    unsigned hdr_have, hdr_need;
    unsigned char hdr[8];
    uint64_t body_left, body_len;
    bool buffering; /* the body goes into buf (a command, a subscription) */
    size_t buf_len;
    unsigned char buf[ZMTP_SCAN_BUF_MAX];
    uint64_t consumed;  /* bytes fed so far */
    uint64_t msg_bytes; /* of the multipart message in progress (counted in budget) */
    uint32_t msg_frames;
    /* live subscriptions */
    struct zmtp_sub *subs;
    uint32_t nsubs, subs_cap;
    uint64_t sub_bytes;
    /* statistics (for tests and logs) */
    uint64_t messages, commands, subscribed, cancelled;
    char reason[160]; /* the violation, one line */
};

/* Sets up s for a new connection. caps are copied; budget may be NULL. */
void zmtp_scan_init(struct zmtp_scan *s, const struct zmtp_caps *caps, struct zmtp_budget *budget);
/* Scans the next len bytes of the stream. Returns 0 when they are valid so
 * far, -1 on a violation (s->reason says which; every later call returns -1). */
int zmtp_scan_feed(struct zmtp_scan *s, const void *data, size_t len);
/* Frees the subscription set and returns the message in progress to the budget. */
void zmtp_scan_release(struct zmtp_scan *s);

#endif
