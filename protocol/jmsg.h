/* jmsg: Jupyter messages <-> ZeroMQ frames, and message headers.
 *
 * Wire format (one multipart message):
 *   [ident...] "<IDS|MSG>" signature header parent_header metadata content [buffer...]
 * Parsing checks sizes and the signature (and the replay guard) BEFORE any
 * JSON is parsed; buffers are carried through untouched and never signed.
 * Serializing signs the exact bytes it emits. No sockets here. */
#ifndef IOPSD_JMSG_H
#define IOPSD_JMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "protocol/jsign.h"

#define JMSG_DELIM            "<IDS|MSG>"
#define JMSG_DELIM_LEN        9
#define JMSG_PROTOCOL_VERSION "5.3"

/* Caps on untrusted input. */
#define JMSG_FRAMES_MAX  1024         /* frames in one message */
#define JMSG_IDENTS_MAX  32           /* routing frames before the delimiter */
#define JMSG_IDENT_MAX   1024         /* bytes of one routing frame */
#define JMSG_FRAME_MAX   (32u << 20)  /* bytes of one frame */
#define JMSG_MESSAGE_MAX (128u << 20) /* bytes of a whole message */

/* An owned span of bytes. */
struct jblob {
    unsigned char *data;
    size_t len;
};

/* A decoded message. All members are owned; JSON values are objects. */
struct jmsg {
    struct jblob *idents;
    size_t nidents;
    json_t *header, *parent, *metadata, *content;
    struct jblob *buffers;
    size_t nbuffers;
};

/* Frames ready to send (owned). */
struct jwire {
    struct jblob *frames;
    size_t n;
};

void jmsg_init(struct jmsg *m);
void jmsg_release(struct jmsg *m);
void jwire_release(struct jwire *w);

/* Decodes frames into m (which must be jmsg_init'ed; it is filled only on
 * success). When signing is on: the signature must be 64 hex characters and
 * match (constant-time), and it must not be in `replay` (may be NULL); it is
 * added there once accepted. Returns 0, -E2BIG (a cap), -EBADMSG (malformed),
 * -EPERM (unsigned or bad signature) or -EALREADY (replayed), with a one-line
 * reason in err. */
int jmsg_parse(struct jmsg *m, const struct jframe *frames, size_t n, const struct jsign *sign,
               struct jreplay *replay, char *err, size_t errlen);

/* Encodes m, signing with sign. Returns 0 or -EIO/-EINVAL. */
int jmsg_serialize(const struct jmsg *m, const struct jsign *sign, struct jwire *out);

/* Puts the signature of an outgoing message into the replay guard, so that a
 * message the kernel sent (an iopub message sent back on shell) is refused
 * like any replay. Returns 0, or -EINVAL when w carries no signature
 * (signing off). */
int jwire_remember(const struct jwire *w, struct jreplay *replay);

/* header.msg_type, or "" if missing. */
const char *jmsg_type(const struct jmsg *m);
/* header.msg_id, or "". */
const char *jmsg_id(const struct jmsg *m);

/* A random RFC 4122 version-4 id ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"). */
void jmsg_uuid(char out[37]);
/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (UTC, zero-padded microseconds). */
void jmsg_date(const struct timespec *ts, char out[32]);

/* A new header: unique msg_id, date now, version 5.3. Caller owns it. */
json_t *jmsg_header_new(const char *msg_type, const char *session, const char *username);

/* Fills m (jmsg_init'ed) as a new message of msg_type: header new, parent =
 * copy of parent's header (or {} when parent is NULL), metadata {}, content
 * (stolen; NULL means {}). Identities are copied from `route` when non-NULL. */
void jmsg_build(struct jmsg *m, const char *msg_type, const char *session, const char *username,
                const struct jmsg *parent, json_t *content, const struct jmsg *route);

#endif
