/* zmtp_oversize: see zmtp_oversize.h. Framing as in ZMTP 3.x (RFC 23):
 * a flags byte (MORE, LONG, COMMAND), a 1- or 8-byte size, the body. */
#include "protocol/zmtp_oversize.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

enum { ST_GREETING, ST_HEADER, ST_BODY };
enum { M_PASS, M_HOLD, M_DRAIN };

#define F_MORE       0x01
#define F_LONG       0x02
#define F_COMMAND    0x04
#define GREETING_LEN 64

static const char delimiter[] = "<IDS|MSG>";

static int fail(struct zmtp_oversize *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct zmtp_oversize *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
    return -1;
}

void zov_init(struct zmtp_oversize *o, const struct jsign *sign, uint64_t frame_max,
              uint64_t msg_max, uint32_t frames_max, zov_note_fn note, void *note_ctx)
{
    memset(o, 0, sizeof *o);
    o->sign = sign;
    o->frame_max = frame_max;
    o->msg_max = msg_max;
    o->frames_max = frames_max;
    o->note = note;
    o->note_ctx = note_ctx;
    o->in_place = "answered with an error in its place";
    o->held = xmalloc(ZOV_HOLD_MAX);
    o->state = ST_GREETING;
    o->greeting_left = GREETING_LEN;
    o->delim = -1;
}

static void end_message(struct zmtp_oversize *o)
{
    o->in_msg = false;
    o->mode = M_PASS;
    o->nframes = 0;
    o->delim = -1;
    o->msg_bytes = 0;
    o->held_len = 0;
    o->nheld = 0;
    jsign_stream_free(o->mac);
    o->mac = NULL;
    o->mac_failed = false;
}

void zov_release(struct zmtp_oversize *o)
{
    end_message(o);
    free(o->held);
    o->held = NULL;
}

static void emit(unsigned char *out, size_t *n, const void *p, size_t len)
{
    memcpy(out + *n, p, len);
    *n += len;
}

/* A data frame of len bytes: its header. */
static void emit_frame(unsigned char *out, size_t *n, bool more, const void *body, size_t len)
{
    unsigned char h[9];
    size_t hl;
    if (len <= 255) {
        h[0] = more ? F_MORE : 0;
        h[1] = (unsigned char)len;
        hl = 2;
    } else {
        h[0] = (unsigned char)((more ? F_MORE : 0) | F_LONG);
        for (int i = 0; i < 8; i++)
            h[1 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 9;
    }
    emit(out, n, h, hl);
    emit(out, n, body, len);
}

/* What was held goes on unchanged, and the rest of the message with it. */
static void release(struct zmtp_oversize *o, unsigned char *out, size_t *n)
{
    emit(out, n, o->held, o->held_len);
    o->held_len = 0;
    o->nheld = 0;
    o->mode = M_PASS;
}

static const unsigned char *held_body(const struct zmtp_oversize *o, int i)
{
    return o->held + o->fr[i].body;
}

static void mac_update(struct zmtp_oversize *o, const void *p, size_t n)
{
    if (o->mac && jsign_stream_update(o->mac, p, n))
        o->mac_failed = true;
}

/* Frame idx (content or a buffer) would take the message past the caps:
 * from here on it is read and dropped; the signed frames held so far go
 * into the signature. */
static void start_drain(struct zmtp_oversize *o, uint32_t idx)
{
    o->mode = M_DRAIN;
    if (jsign_enabled(o->sign)) {
        o->mac = jsign_stream_begin(o->sign);
        o->mac_failed = !o->mac;
    }
    int last = (int)idx - 1 < o->delim + 5 ? (int)idx - 1 : o->delim + 5;
    for (int j = o->delim + 2; j <= last; j++)
        mac_update(o, held_body(o, j), o->fr[j].len);
}

static void note(struct zmtp_oversize *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct zmtp_oversize *o, const char *fmt, ...)
{
    if (!o->note)
        return;
    char line[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->note(o->note_ctx, line);
}

/* The drained message is over: its stand-in goes on if it was signed. */
static void finish_drain(struct zmtp_oversize *o, unsigned char *out, size_t *n)
{
    bool ok = true;
    if (jsign_enabled(o->sign)) {
        unsigned char want[JSIGN_DIGEST_LEN], got[JSIGN_DIGEST_LEN];
        const struct zov_held *sig = &o->fr[o->delim + 1];
        struct evp_mac_ctx_st *mac = o->mac;
        o->mac = NULL;
        ok = mac && !o->mac_failed && jsign_stream_end(mac, got) == 0 &&
             jsign_unhex(o->held + sig->body, sig->len, want) == 0 &&
             CRYPTO_memcmp(want, got, sizeof want) == 0;
        if (mac && o->mac_failed)
            jsign_stream_free(mac);
    }
    if (!ok) {
        o->dropped++;
        note(o,
             "a message of %llu bytes in %u frames, over the caps, is not signed with the "
             "connection's key: dropped",
             (unsigned long long)o->msg_bytes, o->nframes);
        return;
    }
    /* the original's signature goes along for the kernel's replay guard:
     * the stand-in's own differs with the message's size (its buffers are
     * not signed) */
    char content[300], orig[JSIGN_HEX_LEN + 32] = "";
    if (jsign_enabled(o->sign)) {
        const struct zov_held *sig = &o->fr[o->delim + 1];
        snprintf(orig, sizeof orig, ", \"signature\": \"%.*s\"", (int)sig->len,
                 (const char *)o->held + sig->body);
    }
    int cl = snprintf(content, sizeof content,
                      "{\"%s\": {\"bytes\": %llu, \"frames\": %u, \"frame_max\": %llu, "
                      "\"message_max\": %llu%s}}",
                      ZOV_MARKER, (unsigned long long)o->msg_bytes, o->nframes,
                      (unsigned long long)o->frame_max, (unsigned long long)o->msg_max, orig);
    struct jframe parts[4];
    for (int j = 0; j < 3; j++) {
        parts[j].data = held_body(o, o->delim + 2 + j);
        parts[j].len = o->fr[o->delim + 2 + j].len;
    }
    parts[3].data = content;
    parts[3].len = (size_t)cl;
    char hex[JSIGN_HEX_LEN + 1];
    if (jsign_sign(o->sign, parts, 4, hex)) {
        o->dropped++;
        note(o, "a message over the caps could not be answered (signing failed): dropped");
        return;
    }
    /* the identities and the delimiter, as they came */
    const struct zov_held *d = &o->fr[o->delim];
    emit(out, n, o->held, d->body + d->len);
    emit_frame(out, n, true, hex, strlen(hex));
    for (int j = 0; j < 4; j++)
        emit_frame(out, n, j < 3, parts[j].data, parts[j].len);
    o->answered++;
    note(o,
         "a message of %llu bytes in %u frames, over the caps (%llu a frame, %llu a message): "
         "%s",
         (unsigned long long)o->msg_bytes, o->nframes, (unsigned long long)o->frame_max,
         (unsigned long long)o->msg_max, o->in_place);
}

bool zov_is_standin(const void *content, size_t len)
{
    static const char head[] = "{\"" ZOV_MARKER "\":";
    return len >= sizeof head - 1 && !memcmp(content, head, sizeof head - 1);
}

void zov_input_notice(char *out, size_t outlen, const json_t *content)
{
    const json_t *over = json_object_get(content, ZOV_MARKER);
    json_int_t bytes = json_integer_value(json_object_get(over, "bytes")),
               frame_max = json_integer_value(json_object_get(over, "frame_max")),
               msg_max = json_integer_value(json_object_get(over, "message_max"));
    snprintf(out, outlen,
             "iopsd: the reply to the input request was %llu bytes; the kernel takes at most "
             "%llu bytes in one frame and %llu in one message: the program got end of file "
             "instead\n",
             (unsigned long long)bytes, (unsigned long long)frame_max, (unsigned long long)msg_max);
}

/* A frame's header is complete. */
static int on_header(struct zmtp_oversize *o, unsigned char *out, size_t *n)
{
    uint64_t size = 0;
    for (unsigned i = 0; i < o->hdr_need; i++)
        size = size << 8 | o->hdr[i];
    unsigned char raw[9];
    raw[0] = o->flags;
    memcpy(raw + 1, o->hdr, o->hdr_need);
    size_t rawlen = 1 + o->hdr_need;
    o->body_left = size;
    o->command = o->flags & F_COMMAND;
    if (o->command) {
        /* never inside a message: the scanner cuts what forwards one */
        if (o->in_msg && o->mode == M_DRAIN)
            return fail(o, "command inside a multipart message");
        if (o->in_msg && o->mode == M_HOLD)
            release(o, out, n);
        emit(out, n, raw, rawlen);
        return 0;
    }
    if (!o->in_msg) {
        o->in_msg = true;
        o->mode = M_HOLD;
    }
    uint32_t idx = o->nframes++;
    if (o->mode == M_DRAIN) {
        if (o->nframes > o->frames_max)
            return fail(o, "message of more than %u frames", o->frames_max);
        if (size > ZOV_DRAIN_MAX || o->msg_bytes + size > ZOV_DRAIN_MAX)
            return fail(o, "message of more than %llu bytes", (unsigned long long)ZOV_DRAIN_MAX);
        o->msg_bytes += size;
        return 0;
    }
    bool over = size > o->frame_max || o->msg_bytes + size > o->msg_max;
    if (o->mode == M_HOLD && !over && o->held_len + rawlen + size <= ZOV_HOLD_MAX &&
        o->nheld < ZOV_FRAMES_HELD) {
        struct zov_held *h = &o->fr[o->nheld++];
        h->at = (uint32_t)o->held_len;
        h->body = (uint32_t)(o->held_len + rawlen);
        h->len = (uint32_t)size;
        memcpy(o->held + o->held_len, raw, rawlen);
        o->held_len += rawlen;
        o->msg_bytes += size;
        return 0;
    }
    if (o->mode == M_HOLD && over && o->delim >= 0 && (int)idx >= o->delim + 5) {
        if (size > ZOV_DRAIN_MAX)
            return fail(o, "frame of %llu bytes (more than %llu)", (unsigned long long)size,
                        (unsigned long long)ZOV_DRAIN_MAX);
        start_drain(o, idx);
        o->msg_bytes += size;
        return 0;
    }
    if (o->mode == M_HOLD)
        release(o, out, n);
    o->msg_bytes += size;
    emit(out, n, raw, rawlen);
    return 0;
}

/* A frame's body is complete. */
static void on_frame(struct zmtp_oversize *o, unsigned char *out, size_t *n)
{
    if (o->command)
        return;
    uint32_t idx = o->nframes - 1;
    if (o->mode == M_HOLD && o->delim < 0) {
        const struct zov_held *h = &o->fr[o->nheld - 1];
        if (h->len == sizeof delimiter - 1 &&
            !memcmp(o->held + h->body, delimiter, sizeof delimiter - 1))
            o->delim = (int)idx;
    }
    if (o->flags & F_MORE)
        return;
    if (o->mode == M_HOLD)
        release(o, out, n);
    else if (o->mode == M_DRAIN)
        finish_drain(o, out, n);
    end_message(o);
}

static void on_body(struct zmtp_oversize *o, const unsigned char *p, size_t len, unsigned char *out,
                    size_t *n)
{
    if (o->command || o->mode == M_PASS) {
        emit(out, n, p, len);
    } else if (o->mode == M_HOLD) {
        memcpy(o->held + o->held_len, p, len);
        o->held_len += len;
    } else if ((int)o->nframes - 1 == o->delim + 5) {
        mac_update(o, p, len); /* the content: signed */
    }
}

int zov_feed(struct zmtp_oversize *o, const unsigned char *in, size_t len, unsigned char *out,
             size_t *outlen)
{
    size_t n = 0;
    *outlen = 0;
    if (o->reason[0])
        return -1; /* a violation is final */
    while (len > 0) {
        size_t used;
        switch (o->state) {
        case ST_GREETING:
            used = o->greeting_left < len ? o->greeting_left : len;
            emit(out, &n, in, used);
            o->greeting_left -= (uint32_t)used;
            if (!o->greeting_left)
                o->state = ST_HEADER;
            break;
        case ST_HEADER:
            if (o->hdr_need == 0) {
                o->flags = in[0];
                o->hdr_need = o->flags & F_LONG ? 8 : 1;
                o->hdr_have = 0;
                used = 1;
                break;
            }
            used = o->hdr_need - o->hdr_have < len ? o->hdr_need - o->hdr_have : len;
            memcpy(o->hdr + o->hdr_have, in, used);
            o->hdr_have += (unsigned)used;
            if (o->hdr_have == o->hdr_need) {
                int rc = on_header(o, out, &n);
                o->hdr_need = 0;
                if (rc) {
                    *outlen = n;
                    return -1;
                }
                o->state = ST_BODY;
                if (o->body_left == 0) {
                    o->state = ST_HEADER;
                    on_frame(o, out, &n);
                }
            }
            break;
        default: /* ST_BODY */
            used = o->body_left < len ? (size_t)o->body_left : len;
            on_body(o, in, used, out, &n);
            o->body_left -= used;
            if (o->body_left == 0) {
                o->state = ST_HEADER;
                on_frame(o, out, &n);
            }
            break;
        }
        in += used;
        len -= used;
    }
    *outlen = n;
    return 0;
}
