/* zmtp_scan: see zmtp_scan.h. ZMTP 3.0 is RFC 23 (rfc.zeromq.org/spec/23),
 * 3.1 adds the SUBSCRIBE and CANCEL commands (spec 37). */
#include "protocol/zmtp_scan.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ST_GREETING, ST_HEADER, ST_BODY };

#define F_MORE    0x01
#define F_LONG    0x02
#define F_COMMAND 0x04

/* PING's context and PONG's are at most 16 bytes (RFC 37). */
#define PING_CONTEXT_MAX 16

static int fail(struct zmtp_scan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct zmtp_scan *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
    s->failed = true;
    return -1;
}

void zmtp_scan_init(struct zmtp_scan *s, const struct zmtp_caps *caps, struct zmtp_budget *budget)
{
    memset(s, 0, sizeof *s);
    s->caps = *caps;
    if (s->caps.command_max > ZMTP_SCAN_BUF_MAX)
        s->caps.command_max = ZMTP_SCAN_BUF_MAX;
    if (s->caps.subscriptions && s->caps.frame_max > ZMTP_SCAN_BUF_MAX)
        s->caps.frame_max = ZMTP_SCAN_BUF_MAX;
    s->budget = budget;
    s->state = ST_GREETING;
}

static void end_message(struct zmtp_scan *s)
{
    if (s->budget)
        s->budget->used -= s->msg_bytes;
    s->msg_bytes = 0;
    s->msg_frames = 0;
}

void zmtp_scan_release(struct zmtp_scan *s)
{
    end_message(s);
    for (uint32_t i = 0; i < s->nsubs; i++)
        free(s->subs[i].topic);
    free(s->subs);
    s->subs = NULL;
    s->nsubs = s->subs_cap = 0;
    s->sub_bytes = 0;
}

/* A printable copy of up to 20 bytes of p (for messages). */
static void printable(char *out, const unsigned char *p, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && i < 20; i++) {
        if (!p[i])
            break;
        out[j++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    }
    out[j] = 0;
}

static int check_greeting(struct zmtp_scan *s, size_t have)
{
    const unsigned char *g = s->buf;
    if (have > 0 && g[0] != 0xff)
        return fail(s, "greeting: not ZMTP 3 (first byte 0x%02x)", g[0]);
    if (have > 9 && g[9] != 0x7f)
        return fail(s, "greeting: not ZMTP 3 (byte 9 is 0x%02x)", g[9]);
    if (have > 11 && (g[10] != 3 || g[11] > 1))
        return fail(s, "greeting: ZMTP version %u.%u refused (3.0 or 3.1 only)", g[10], g[11]);
    if (have >= 32) {
        static const unsigned char null_mech[20] = "NULL";
        if (memcmp(g + 12, null_mech, sizeof null_mech)) {
            char m[24];
            printable(m, g + 12, 20);
            return fail(s, "greeting: mechanism \"%s\" refused (NULL only)", m);
        }
    }
    if (have > 32 && g[32] > 1)
        return fail(s, "greeting: as-server byte 0x%02x", g[32]);
    return 0;
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static struct zmtp_sub *find_sub(struct zmtp_scan *s, const unsigned char *t, size_t len,
                                 uint32_t h)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        if (s->subs[i].hash == h && s->subs[i].len == len && !memcmp(s->subs[i].topic, t, len))
            return &s->subs[i];
    return NULL;
}

/* A subscription (on) or a cancellation of topic t. libzmq keeps a set of
 * topics per connection: subscribing twice adds nothing, cancelling an
 * unknown topic removes nothing. */
static int subscription(struct zmtp_scan *s, bool on, const unsigned char *t, size_t len)
{
    uint32_t h = fnv1a(t, len);
    struct zmtp_sub *e = find_sub(s, t, len, h);
    if (!on) {
        s->cancelled++;
        if (e) {
            s->sub_bytes -= e->len;
            free(e->topic);
            *e = s->subs[--s->nsubs];
        }
        return 0;
    }
    s->subscribed++;
    if (e)
        return 0;
    if (s->nsubs + 1 > s->caps.subs_max)
        return fail(s, "subscription %u over the cap of %u live subscriptions", s->nsubs + 1,
                    s->caps.subs_max);
    if (s->sub_bytes + len > s->caps.sub_bytes_max)
        return fail(s, "subscriptions of %llu bytes over the cap of %llu",
                    (unsigned long long)(s->sub_bytes + len),
                    (unsigned long long)s->caps.sub_bytes_max);
    if (s->nsubs == s->subs_cap) {
        /* grows by doubling, never past subs_max entries */
        uint32_t cap = s->subs_cap ? s->subs_cap * 2 : 4;
        s->subs_cap = cap < s->caps.subs_max ? cap : s->caps.subs_max;
        s->subs = xrealloc(s->subs, (size_t)s->subs_cap * sizeof *s->subs);
    }
    e = &s->subs[s->nsubs++];
    e->hash = h;
    e->len = (uint32_t)len;
    e->topic = xmalloc(len ? len : 1);
    memcpy(e->topic, t, len);
    s->sub_bytes += len;
    return 0;
}

/* READY's metadata: properties of [1-byte name length][name][4-byte value
 * length][value], a Socket-Type among them. */
static int check_ready(struct zmtp_scan *s, const unsigned char *p, size_t n)
{
    bool type = false;
    size_t i = 0;
    while (i < n) {
        size_t nl = p[i++];
        if (nl == 0 || nl > n - i)
            return fail(s, "READY: malformed property name");
        const unsigned char *name = p + i;
        i += nl;
        if (n - i < 4)
            return fail(s, "READY: malformed property value");
        uint32_t vl =
            (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 | (uint32_t)p[i + 2] << 8 | p[i + 3];
        i += 4;
        if (vl > n - i)
            return fail(s, "READY: property value of %u bytes past the command's end", vl);
        if (nl == 11 && !strncasecmp((const char *)name, "Socket-Type", 11))
            type = true;
        i += vl;
    }
    if (!type)
        return fail(s, "READY without a Socket-Type");
    return 0;
}

static int on_command(struct zmtp_scan *s)
{
    const unsigned char *p = s->buf;
    size_t n = s->buf_len;
    if (n < 1 || (size_t)p[0] + 1 > n || p[0] == 0)
        return fail(s, "command of %zu bytes with a malformed name", n);
    size_t nl = p[0];
    const char *name = (const char *)p + 1;
    const unsigned char *d = p + 1 + nl;
    size_t dl = n - 1 - nl;
#define IS(lit) (nl == sizeof lit - 1 && !memcmp(name, lit, nl))
    s->commands++;
    if (IS("ERROR")) {
        if (dl < 1 || (size_t)d[0] + 1 != dl)
            return fail(s, "ERROR: malformed reason");
        return 0;
    }
    if (!s->ready) {
        if (!IS("READY")) {
            char c[24];
            printable(c, (const unsigned char *)name, nl);
            return fail(s, "command \"%s\" before READY", c);
        }
        if (check_ready(s, d, dl))
            return -1;
        s->ready = true;
        return 0;
    }
    if (IS("READY"))
        return fail(s, "a second READY");
    if (IS("PING")) {
        if (dl < 2 || dl - 2 > PING_CONTEXT_MAX)
            return fail(s, "PING of %zu bytes (TTL and at most %d of context)", dl,
                        PING_CONTEXT_MAX);
        return 0;
    }
    if (IS("PONG")) {
        if (dl > PING_CONTEXT_MAX)
            return fail(s, "PONG with %zu bytes of context (at most %d)", dl, PING_CONTEXT_MAX);
        return 0;
    }
    if (IS("SUBSCRIBE") || IS("CANCEL")) {
        if (!s->caps.subscriptions)
            return fail(s, "%s on a channel without subscriptions",
                        IS("CANCEL") ? "CANCEL" : "SUBSCRIBE");
        if (dl + 1 > s->caps.frame_max)
            return fail(s, "subscription of %zu bytes over the cap of %llu", dl + 1,
                        (unsigned long long)s->caps.frame_max);
        return subscription(s, IS("SUBSCRIBE"), d, dl);
    }
    char c[24];
    printable(c, (const unsigned char *)name, nl);
    return fail(s, "unknown command \"%s\"", c);
#undef IS
}

/* A frame's header is complete: check its size against the caps. */
static int on_header(struct zmtp_scan *s)
{
    uint64_t size = 0;
    for (unsigned i = 0; i < s->hdr_need; i++)
        size = size << 8 | s->hdr[i];
    s->body_len = s->body_left = size;
    s->buf_len = 0;
    if (s->flags & F_COMMAND) {
        if (size > s->caps.command_max)
            return fail(s, "command of %llu bytes over the cap of %u", (unsigned long long)size,
                        s->caps.command_max);
        s->buffering = true;
        return 0;
    }
    if (!s->ready)
        return fail(s, "data frame before the handshake completed");
    if (size > s->caps.frame_max)
        return fail(s, "frame of %llu bytes over the cap of %llu", (unsigned long long)size,
                    (unsigned long long)s->caps.frame_max);
    if (s->msg_frames + 1 > s->caps.frames_max)
        return fail(s, "message of more than %u frames", s->caps.frames_max);
    if (s->msg_bytes + size > s->caps.msg_max)
        return fail(s, "message of %llu bytes (at frame %u) over the cap of %llu",
                    (unsigned long long)(s->msg_bytes + size), s->msg_frames + 1,
                    (unsigned long long)s->caps.msg_max);
    if (s->budget && s->budget->used + size > s->budget->max)
        return fail(s, "messages in progress would hold %llu bytes, over the cap of %llu",
                    (unsigned long long)(s->budget->used + size),
                    (unsigned long long)s->budget->max);
    s->msg_frames++;
    s->msg_bytes += size;
    if (s->budget)
        s->budget->used += size;
    s->buffering = s->caps.subscriptions;
    return 0;
}

/* A frame's body is complete. */
static int on_frame(struct zmtp_scan *s)
{
    if (s->flags & F_COMMAND)
        return on_command(s);
    bool more = s->flags & F_MORE;
    int rc = 0;
    if (s->caps.subscriptions && s->buf_len >= 1 && s->buf[0] <= 1)
        rc = subscription(s, s->buf[0] == 1, s->buf + 1, s->buf_len - 1);
    s->more = more;
    if (!more) {
        end_message(s);
        s->messages++;
    }
    return rc;
}

int zmtp_scan_feed(struct zmtp_scan *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        if (s->failed)
            return -1;
        size_t used = 0, full = len;
        if (!s->ready) {
            /* nothing past the handshake cap is looked at before READY */
            uint64_t room = s->caps.handshake_max - s->consumed;
            if (room == 0)
                return fail(s, "more than %u bytes before the handshake completed",
                            s->caps.handshake_max);
            if (room < len)
                len = (size_t)room;
        }
        switch (s->state) {
        case ST_GREETING: {
            size_t have = s->buf_len;
            used = ZMTP_GREETING_LEN - have < len ? ZMTP_GREETING_LEN - have : len;
            memcpy(s->buf + have, p, used);
            s->buf_len += used;
            if (check_greeting(s, s->buf_len))
                return -1;
            if (s->buf_len == ZMTP_GREETING_LEN) {
                s->buf_len = 0;
                s->state = ST_HEADER;
                s->hdr_have = 0;
                s->hdr_need = 0;
            }
            break;
        }
        case ST_HEADER:
            if (s->hdr_need == 0) {
                /* the flags byte */
                s->flags = p[0];
                used = 1;
                if (s->flags & ~(F_MORE | F_LONG | F_COMMAND))
                    return fail(s, "frame with reserved flag bits 0x%02x", s->flags);
                if ((s->flags & F_COMMAND) && (s->flags & F_MORE))
                    return fail(s, "command frame with the MORE flag");
                if ((s->flags & F_COMMAND) && s->more)
                    return fail(s, "command inside a multipart message");
                s->hdr_need = s->flags & F_LONG ? 8 : 1;
                s->hdr_have = 0;
                break;
            }
            used = s->hdr_need - s->hdr_have < len ? s->hdr_need - s->hdr_have : len;
            memcpy(s->hdr + s->hdr_have, p, used);
            s->hdr_have += (unsigned)used;
            if (s->hdr_have == s->hdr_need) {
                int rc = on_header(s);
                s->hdr_need = 0;
                if (rc)
                    return -1;
                s->state = ST_BODY;
                if (s->body_left == 0) {
                    s->state = ST_HEADER;
                    if (on_frame(s))
                        return -1;
                }
            }
            break;
        case ST_BODY:
            used = s->body_left < len ? (size_t)s->body_left : len;
            if (s->buffering) {
                memcpy(s->buf + s->buf_len, p, used);
                s->buf_len += used;
            }
            s->body_left -= used;
            if (s->body_left == 0) {
                s->state = ST_HEADER;
                if (on_frame(s))
                    return -1;
            }
            break;
        }
        p += used;
        len = full - used;
        s->consumed += used;
    }
    return s->failed ? -1 : 0;
}
