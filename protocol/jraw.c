/* jraw: messages as their original frames: split, verify, re-sign, peek. */
#include "protocol/jraw.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_delim(const struct jframe *f)
{
    return f->len == JMSG_DELIM_LEN && memcmp(f->data, JMSG_DELIM, JMSG_DELIM_LEN) == 0;
}

int jraw_split(struct jraw *r, const struct jframe *frames, size_t n, char *err, size_t errlen)
{
    return jraw_split_capped(r, frames, n, JMSG_FRAME_MAX, JMSG_MESSAGE_MAX, err, errlen);
}

int jraw_split_capped(struct jraw *r, const struct jframe *frames, size_t n, size_t frame_max,
                      size_t message_max, char *err, size_t errlen)
{
    if (n > JMSG_FRAMES_MAX) {
        snprintf(err, errlen, "too many frames (%zu, at most %d)", n, JMSG_FRAMES_MAX);
        return -E2BIG;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (frames[i].len > frame_max) {
            snprintf(err, errlen, "frame %zu too large (%zu bytes)", i, frames[i].len);
            return -E2BIG;
        }
        total += frames[i].len;
        if (total > message_max) {
            snprintf(err, errlen, "message too large (over %zu bytes)", message_max);
            return -E2BIG;
        }
    }
    size_t d = 0;
    while (d < n && !is_delim(&frames[d])) {
        if (d >= JMSG_IDENTS_MAX) {
            snprintf(err, errlen, "no delimiter within the first %d frames", JMSG_IDENTS_MAX);
            return -EBADMSG;
        }
        if (frames[d].len > JMSG_IDENT_MAX) {
            snprintf(err, errlen, "routing frame %zu too large (%zu bytes)", d, frames[d].len);
            return -E2BIG;
        }
        d++;
    }
    if (d == n) {
        snprintf(err, errlen, "no <IDS|MSG> delimiter");
        return -EBADMSG;
    }
    if (n - d - 1 < 5) {
        snprintf(err, errlen, "%zu frames after the delimiter, need at least 5", n - d - 1);
        return -EBADMSG;
    }
    r->frames = frames;
    r->n = n;
    r->nidents = d;
    return 0;
}

int jraw_check(const struct jraw *r, const struct jsign *sign, const struct jreplay *replay,
               unsigned char digest[JSIGN_DIGEST_LEN], char *err, size_t errlen)
{
    if (!jsign_enabled(sign))
        return 0;
    const struct jframe *sig = jraw_signature(r);
    unsigned char claimed[JSIGN_DIGEST_LEN];
    if (sig->len == 0) {
        snprintf(err, errlen, "unsigned message");
        return -EPERM;
    }
    if (jsign_unhex(sig->data, sig->len, claimed)) {
        snprintf(err, errlen, "malformed signature (%zu bytes)", sig->len);
        return -EPERM;
    }
    /* A signature seen before belongs to a message already accepted. */
    if (replay && jreplay_seen(replay, claimed)) {
        snprintf(err, errlen, "duplicate signature (replayed message)");
        return -EALREADY;
    }
    if (jsign_verify(sign, sig->data, sig->len, jraw_parts(r), 4, digest)) {
        snprintf(err, errlen, "invalid signature");
        return -EPERM;
    }
    return 0;
}

int jraw_verify(const struct jraw *r, const struct jsign *sign, struct jreplay *replay, char *err,
                size_t errlen)
{
    unsigned char digest[JSIGN_DIGEST_LEN];
    int rc = jraw_check(r, sign, replay, digest, err, errlen);
    if (rc == 0 && jsign_enabled(sign) && replay)
        jreplay_add(replay, digest);
    return rc;
}

int jraw_resign(const struct jraw *r, const struct jsign *to, char hex[JSIGN_HEX_LEN + 1])
{
    return jsign_sign(to, jraw_parts(r), 4, hex);
}

json_t *jraw_peek(const struct jraw *r, enum jraw_part part)
{
    const struct jframe *f = &jraw_parts(r)[part];
    json_t *v = json_loadb(f->data, f->len, JSON_DECODE_INT_AS_REAL, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static int peek_string(const struct jraw *r, enum jraw_part part, const char *key, char *out,
                       size_t outlen)
{
    out[0] = '\0';
    json_t *v = jraw_peek(r, part);
    if (!v)
        return -EBADMSG;
    const char *s = json_string_value(json_object_get(v, key));
    if (s)
        snprintf(out, outlen, "%s", s);
    json_decref(v);
    return 0;
}

int jraw_msg_type(const struct jraw *r, char *out, size_t outlen)
{
    return peek_string(r, JRAW_HEADER, "msg_type", out, outlen);
}

int jraw_parent_id(const struct jraw *r, char *out, size_t outlen)
{
    return peek_string(r, JRAW_PARENT, "msg_id", out, outlen);
}

static void set_blob(struct jblob *b, const void *p, size_t len)
{
    b->data = xmalloc(len ? len : 1);
    if (len)
        memcpy(b->data, p, len);
    b->len = len;
}

int jraw_compose(const struct jblob *idents, size_t nidents, const struct jframe parts[4],
                 const struct jsign *sign, struct jwire *out)
{
    char hex[JSIGN_HEX_LEN + 1];
    out->frames = NULL;
    out->n = 0;
    if (jsign_sign(sign, parts, 4, hex))
        return -EIO;
    size_t n = nidents + 6, k = 0;
    struct jblob *f = xcalloc(n, sizeof *f);
    for (size_t i = 0; i < nidents; i++)
        set_blob(&f[k++], idents[i].data, idents[i].len);
    set_blob(&f[k++], JMSG_DELIM, JMSG_DELIM_LEN);
    set_blob(&f[k++], hex, strlen(hex));
    for (int i = 0; i < 4; i++)
        set_blob(&f[k++], parts[i].data, parts[i].len);
    out->frames = f;
    out->n = n;
    return 0;
}
