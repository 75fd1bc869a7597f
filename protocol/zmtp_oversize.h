/* zmtp_oversize: a request over the caps gets an answer instead of a cut
 * connection.
 *
 * The front (server/zmtp_front.c) passes a peer's ZMTP byte stream through
 * this shaper before zmtp_scan and libzmq see it. Each multipart message is
 * held here while it is small (ZOV_HOLD_MAX bytes: identities, delimiter,
 * signature, header, parent header, metadata, and usually the whole
 * message), then forwarded unchanged. A message whose content frame, or
 * a buffer after it, would take it past the caps (frame_max, msg_max) is not
 * forwarded: its bytes are read and dropped as they arrive while the
 * signature is computed over them, and when it ends:
 *  - signed with the connection's key: a stand-in goes on instead, the same
 *    identities, header, parent header and metadata with the content
 *    {"iopsd_oversized": {"bytes": B, "frames": F, "frame_max": X,
 *    "message_max": Y, "signature": S}} (the message's size, the caps, the
 *    original's signature for the replay guard) and a signature of its
 *    own with the same key, which the kernel verifies like any request and
 *    answers with an error reply;
 *  - not signed: nothing goes on (a note says it was dropped).
 * A message without a Jupyter delimiter in its first frames, or that passes
 * the caps before its content frame (a huge header), is forwarded as it
 * comes and the scanner cuts it, as before.
 *
 * Memory: ZOV_HOLD_MAX bytes per connection. No sockets. */
#ifndef IOPSD_ZMTP_OVERSIZE_H
#define IOPSD_ZMTP_OVERSIZE_H

#include "protocol/jsign.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The content key of a stand-in. */
#define ZOV_MARKER "iopsd_oversized"
/* Bytes of one message held before it is forwarded. */
#define ZOV_HOLD_MAX (64u << 10)
/* Frames of one message held (routing identities, delimiter, the five
 * Jupyter frames, a few buffers). */
#define ZOV_FRAMES_HELD 48
/* Bytes one feed may output beyond what it was given: what was held before,
 * and a stand-in's new frames. */
#define ZOV_OUT_SLACK (ZOV_HOLD_MAX + 1024)
/* A message drained for longer than this is cut. */
#define ZOV_DRAIN_MAX (1ull << 30)

struct zov_held {
    uint32_t at;   /* its header's offset in held */
    uint32_t body; /* its body's offset */
    uint32_t len;  /* its body's length */
};

typedef void (*zov_note_fn)(void *ctx, const char *line);

struct zmtp_oversize {
    const struct jsign *sign; /* borrowed */
    uint64_t frame_max, msg_max;
    uint32_t frames_max;
    zov_note_fn note;
    void *note_ctx;
    /* what the kernel does with a stand-in, for the note (default: "answered
     * with an error in its place") */
    const char *in_place;
    int state;
    uint32_t greeting_left;
    uint8_t flags;
    unsigned hdr_have, hdr_need;
    unsigned char hdr[9];
    uint64_t body_left;
    bool command; /* the frame being read is a command */
    /* the message in progress */
    int mode;
    bool in_msg;
    uint32_t nframes;
    int delim; /* the delimiter's frame index; -1 until seen */
    uint64_t msg_bytes;
    unsigned char *held;
    size_t held_len;
    struct zov_held fr[ZOV_FRAMES_HELD];
    uint32_t nheld;
    struct evp_mac_ctx_st *mac; /* over the signed frames of a drained message */
    bool mac_failed;
    /* what was done (for tests and logs) */
    uint64_t answered, dropped;
    char reason[160]; /* a violation, one line */
};

/* Sets o up for a new connection; sign is the connection's key (borrowed),
 * the caps are the channel's; note (may be NULL) gets one line per message
 * answered or dropped. */
void zov_init(struct zmtp_oversize *o, const struct jsign *sign, uint64_t frame_max,
              uint64_t msg_max, uint32_t frames_max, zov_note_fn note, void *note_ctx);
/* Takes the next len bytes of the stream and appends what is to be forwarded
 * to out (room for len + ZOV_OUT_SLACK bytes), setting *outlen. Returns 0, or
 * -1 on a violation (reason says which; the connection is to be cut). */
int zov_feed(struct zmtp_oversize *o, const unsigned char *in, size_t len, unsigned char *out,
             size_t *outlen);
void zov_release(struct zmtp_oversize *o);
/* Whether a content frame is a stand-in's (it starts exactly so). */
bool zov_is_standin(const void *content, size_t len);
/* The line (ending in a newline) shown on a cell's stderr when its
 * input_reply was over the caps, from a stand-in's parsed content. */
void zov_input_notice(char *out, size_t outlen, const json_t *content);

#endif
