/* jsign: HMAC-SHA256 signing and checking of Jupyter messages, and the replay
 * guard that drops a message whose signature was already seen.
 *
 * The signature is the lowercase hex HMAC over the exact bytes of the four
 * JSON frames (header, parent header, metadata, content); buffers are never
 * signed. An empty key means no signing and no checking (jupyter_client's
 * semantics): signatures are then the empty string. */
#ifndef IOPSD_JSIGN_H
#define IOPSD_JSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSIGN_DIGEST_LEN 32
#define JSIGN_HEX_LEN    64
/* Keys longer than this are refused (connection files hold short hex keys). */
#define JSIGN_KEY_MAX 4096

/* A borrowed span of bytes (one frame). */
struct jframe {
    const void *data;
    size_t len;
};

struct evp_mac_ctx_st;

struct jsign {
    size_t keylen;               /* 0: signing is off */
    struct evp_mac_ctx_st *hmac; /* owned; keyed once, duplicated per message */
};

/* Sets up signing with `scheme` (only "hmac-sha256" is supported; NULL or ""
 * means the default hmac-sha256) and the key bytes. keylen 0 disables
 * signing. Returns 0, -EINVAL (unknown scheme) or -E2BIG, with a message. */
int jsign_init(struct jsign *s, const char *scheme, const void *key, size_t keylen, char *err,
               size_t errlen);
void jsign_release(struct jsign *s);
bool jsign_enabled(const struct jsign *s);

/* Raw HMAC-SHA256 over the concatenation of parts. Returns 0 or -EIO. */
int jsign_digest(const struct jsign *s, const struct jframe *parts, size_t n,
                 unsigned char out[JSIGN_DIGEST_LEN]);
/* The hex signature (NUL-terminated) over parts; "" when signing is off. */
int jsign_sign(const struct jsign *s, const struct jframe *parts, size_t n,
               char hex[JSIGN_HEX_LEN + 1]);
/* Checks a received signature: exactly 64 lowercase hex characters, compared
 * in constant time. On success the binary digest is stored in `digest` (for
 * the replay guard). Returns 0 or -EPERM. Always 0 when signing is off. */
int jsign_verify(const struct jsign *s, const void *sig, size_t siglen, const struct jframe *parts,
                 size_t n, unsigned char digest[JSIGN_DIGEST_LEN]);

/* HMAC over bytes that arrive in pieces (a message too big to hold): begin
 * gives a context (NULL when signing is off or on failure), update feeds it,
 * end stores the digest and frees it (0 or -EIO); free drops an unfinished
 * one. */
struct evp_mac_ctx_st *jsign_stream_begin(const struct jsign *s);
int jsign_stream_update(struct evp_mac_ctx_st *c, const void *p, size_t n);
int jsign_stream_end(struct evp_mac_ctx_st *c, unsigned char out[JSIGN_DIGEST_LEN]);
void jsign_stream_free(struct evp_mac_ctx_st *c);
/* The lowercase hex of a digest (NUL-terminated). */
void jsign_hex(const unsigned char d[JSIGN_DIGEST_LEN], char hex[JSIGN_HEX_LEN + 1]);

/* Decodes 64 lowercase hex characters into a digest; -EINVAL otherwise. */
int jsign_unhex(const void *hex, size_t len, unsigned char out[JSIGN_DIGEST_LEN]);

/* The replay guard: the last `cap` accepted digests, in a fixed-size hash
 * set with FIFO eviction (memory is fixed at init; no allocation later). */
struct jreplay {
    unsigned char (*ring)[JSIGN_DIGEST_LEN]; /* cap entries, insertion order */
    uint32_t *slots;                         /* open addressing: ring index + 1, 0 = empty */
    size_t cap, count, next, mask;
};

#define JREPLAY_DEFAULT_CAP 65536

void jreplay_init(struct jreplay *r, size_t cap);
void jreplay_release(struct jreplay *r);
bool jreplay_seen(const struct jreplay *r, const unsigned char d[JSIGN_DIGEST_LEN]);
/* Records d (the caller checked it was not seen); evicts the oldest when full. */
void jreplay_add(struct jreplay *r, const unsigned char d[JSIGN_DIGEST_LEN]);

#endif
