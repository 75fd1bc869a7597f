/* jraw: Jupyter messages kept as their original frames, for the wrap relay.
 *
 * A relay must not parse and re-serialize what it forwards: jansson turns
 * 1.1 into 1.1000000000000001 and refuses integers >= 2^64. Here a message
 * is split into its parts without touching their bytes, its signature is
 * checked (and recorded by the replay guard), and a new signature is computed
 * over the same four JSON frames with another key; only that one frame
 * changes. Peeking parses a single part into a throwaway value (integers as
 * reals, so 2^64 does not make it fail; a real beyond a double still does)
 * and is never serialized back.
 * No sockets here. */
#ifndef IOPSD_JRAW_H
#define IOPSD_JRAW_H

#include <stddef.h>

#include <jansson.h>

#include "protocol/jmsg.h"
#include "protocol/jsign.h"

/* The four signed parts, by index after the signature frame. */
enum jraw_part { JRAW_HEADER, JRAW_PARENT, JRAW_METADATA, JRAW_CONTENT };

/* A borrowed view of one message's frames. */
struct jraw {
    const struct jframe *frames;
    size_t n;
    size_t nidents; /* routing frames; frames[nidents] is the delimiter */
};

/* Splits frames (borrowed; they must outlive r) into identities, delimiter,
 * signature, the four parts and buffers, applying jmsg's caps. Returns 0,
 * -E2BIG or -EBADMSG with a one-line reason. */
int jraw_split(struct jraw *r, const struct jframe *frames, size_t n, char *err, size_t errlen);
/* The same with other caps on one frame and on the whole message (for a peer
 * trusted more than a frontend: the wrapped kernel's outputs). */
int jraw_split_capped(struct jraw *r, const struct jframe *frames, size_t n, size_t frame_max,
                      size_t message_max, char *err, size_t errlen);

static inline const struct jframe *jraw_signature(const struct jraw *r)
{
    return &r->frames[r->nidents + 1];
}
/* The four signed parts, contiguous (header, parent, metadata, content). */
static inline const struct jframe *jraw_parts(const struct jraw *r)
{
    return &r->frames[r->nidents + 2];
}
static inline size_t jraw_nbuffers(const struct jraw *r)
{
    return r->n - r->nidents - 6;
}

/* Checks the signature with `sign`: present, 64 lowercase hex characters,
 * not in `replay` (may be NULL), correct in constant time. On success the
 * digest is stored in `digest` (for the caller to record). Returns 0,
 * -EPERM (unsigned, malformed, invalid) or -EALREADY (replayed). Always 0
 * when signing is off. */
int jraw_check(const struct jraw *r, const struct jsign *sign, const struct jreplay *replay,
               unsigned char digest[JSIGN_DIGEST_LEN], char *err, size_t errlen);
/* jraw_check, then records the digest in `replay` (when signing is on and
 * replay is non-NULL). */
int jraw_verify(const struct jraw *r, const struct jsign *sign, struct jreplay *replay, char *err,
                size_t errlen);
/* The signature of the same four parts under `to` ("" when signing is off). */
int jraw_resign(const struct jraw *r, const struct jsign *to, char hex[JSIGN_HEX_LEN + 1]);

/* Parses one part into a new JSON object (integers decoded as reals, so no
 * integer makes a peek fail); NULL if it is not a JSON object (or holds a
 * real beyond a double, which jansson refuses). The caller owns
 * the value and must never serialize it in place of the original bytes. */
json_t *jraw_peek(const struct jraw *r, enum jraw_part part);
/* Copies header.msg_type (or "" when the header has none) into out.
 * Returns 0, or -EBADMSG when the header is not an object. */
int jraw_msg_type(const struct jraw *r, char *out, size_t outlen);
/* Copies parent_header.msg_id (or "") into out; 0 or -EBADMSG. */
int jraw_parent_id(const struct jraw *r, char *out, size_t outlen);

/* The length in bytes (UTF-8, as json_string_length() gives it) of the
 * string that is member `key` of part's top-level object, found without
 * building the value: one pass over the part, no allocation, so a 50 MB
 * stream costs a memchr rather than a parse. The last member of that name
 * counts (as jansson keeps it). Returns 0, -ENOENT (no such member, or not
 * a string) or -EBADMSG (not an object, or malformed on the way). Not a
 * validator: what it accepts jansson may refuse (bad UTF-8, control
 * characters, a lone surrogate, counted as 3 bytes). */
int jraw_string_bytes(const struct jraw *r, enum jraw_part part, const char *key, size_t *out);

/* Where that string's bytes are in the part, as written (escapes and all,
 * between its quotes): [*start, *end), and its decoded length in *decoded.
 * Same rules and results as jraw_string_bytes. */
struct jraw_span {
    size_t start, end, decoded;
};
int jraw_string_span(const struct jraw *r, enum jraw_part part, const char *key,
                     struct jraw_span *out);

/* The first piece of a JSON string's contents as written (s, len: what is
 * between its quotes) that is at most max bytes and a valid string by
 * itself: no escape, surrogate pair (\ud83d\ude00) or UTF-8 sequence is
 * cut. Returns its length (len when len <= max; 0 only for len 0 or max <
 * 12) and its decoded length in *decoded. */
size_t jraw_string_piece(const char *s, size_t len, size_t max, size_t *decoded);

/* Builds a message from four part texts (borrowed), signing them with
 * `sign`: identities (may be none), delimiter, signature, parts, no buffers.
 * Used for the relay's own messages, whose parent header is the exact
 * header frame of the request they answer. Returns 0 or -EIO. */
int jraw_compose(const struct jblob *idents, size_t nidents, const struct jframe parts[4],
                 const struct jsign *sign, struct jwire *out);

#endif
