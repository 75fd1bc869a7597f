/* test_zmtp_scan: the ZMTP 3 scanner of the kernel's front on exact byte
 * sequences: a pyzmq-like handshake and messages fed whole and byte by byte,
 * then each cap and each malformed header, with the exact reason. Then the
 * front's shaper (zmtp_oversize): what it forwards for messages within the
 * caps, a signed one over them (its stand-in, byte for byte), an unsigned
 * one, and those it leaves to the scanner. */
#include "protocol/zmtp_oversize.h"
#include "protocol/zmtp_scan.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
    unsigned char d[1 << 16];
    size_t n;
};

static void put(struct bytes *b, const void *p, size_t n)
{
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void greeting(struct bytes *b, unsigned major, unsigned minor, const char *mech)
{
    unsigned char g[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f};
    g[10] = (unsigned char)major;
    g[11] = (unsigned char)minor;
    memcpy(g + 12, mech, strlen(mech));
    put(b, g, sizeof g);
}

/* A frame: short or long header by size, as libzmq writes them. */
static void frame(struct bytes *b, unsigned flags, const void *body, size_t n)
{
    unsigned char h[9];
    if (n > 255) {
        h[0] = (unsigned char)(flags | 2);
        for (int i = 0; i < 8; i++)
            h[1 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        put(b, h, 9);
    } else {
        h[0] = (unsigned char)flags;
        h[1] = (unsigned char)n;
        put(b, h, 2);
    }
    put(b, body, n);
}

static void ready(struct bytes *b, const char *type)
{
    unsigned char c[300];
    size_t n = 0;
    c[n++] = 5;
    memcpy(c + n, "READY", 5);
    n += 5;
    c[n++] = 11;
    memcpy(c + n, "Socket-Type", 11);
    n += 11;
    size_t tl = strlen(type);
    c[n++] = 0, c[n++] = 0, c[n++] = 0, c[n++] = (unsigned char)tl;
    memcpy(c + n, type, tl);
    n += tl;
    c[n++] = 8;
    memcpy(c + n, "Identity", 8);
    n += 8;
    c[n++] = 0, c[n++] = 0, c[n++] = 0, c[n++] = 4;
    memcpy(c + n, "abcd", 4);
    n += 4;
    frame(b, 4, c, n);
}

static const struct zmtp_caps shell_caps = {
    .frame_max = 1000,
    .msg_max = 2500,
    .frames_max = 8,
    .command_max = 512,
    .handshake_max = 1024,
};

static const struct zmtp_caps sub_caps = {
    .frame_max = 256,
    .msg_max = 4096,
    .frames_max = 16,
    .command_max = 512,
    .handshake_max = 1024,
    .subscriptions = true,
    .subs_max = 3,
    .sub_bytes_max = 10,
};

/* Feeds b whole (chunk 0) or in chunks of `chunk` bytes; returns the result. */
static int feed(struct zmtp_scan *s, const struct bytes *b, size_t chunk)
{
    if (!chunk)
        return zmtp_scan_feed(s, b->d, b->n);
    for (size_t i = 0; i < b->n; i += chunk)
        if (zmtp_scan_feed(s, b->d + i, b->n - i < chunk ? b->n - i : chunk))
            return -1;
    return 0;
}

/* Scans b with caps; returns the reason ("" when valid). */
static const char *scan(const struct zmtp_caps *caps, const struct bytes *b, size_t chunk)
{
    static struct zmtp_scan s;
    static char reason[sizeof s.reason];
    zmtp_scan_init(&s, caps, NULL);
    int rc = feed(&s, b, chunk);
    snprintf(reason, sizeof reason, "%s", rc ? s.reason : "");
    zmtp_scan_release(&s);
    return reason;
}

static void test_valid_stream(void)
{
    static struct bytes b;
    b.n = 0;
    greeting(&b, 3, 1, "NULL");
    ready(&b, "DEALER");
    frame(&b, 1, "<IDS|MSG>", 9);
    frame(&b, 1, "sig", 3);
    static unsigned char big[900];
    memset(big, 'x', sizeof big);
    frame(&b, 0, big, sizeof big); /* a long frame (900 > 255) */
    frame(&b, 4,
          "\x04PING\x00\x0a"
          "ctx",
          10); /* PING with TTL and context */
    frame(&b, 4, "\x04PONG", 5);
    frame(&b, 0, "", 0);
    CHECK_U64(b.n, 64 + 47 + 11 + 5 + 9 + 900 + 12 + 7 + 2);
    for (size_t chunk = 0; chunk <= 3; chunk++) {
        struct zmtp_scan s;
        zmtp_scan_init(&s, &shell_caps, NULL);
        CHECK_INT(feed(&s, &b, chunk), 0);
        CHECK(s.ready);
        CHECK_U64(s.messages, 2);
        CHECK_U64(s.commands, 3);
        CHECK_U64(s.consumed, b.n);
        CHECK_U64(s.msg_bytes, 0);
        zmtp_scan_release(&s);
    }
}

static void test_greetings(void)
{
    static struct bytes b;
    b.n = 0;
    put(&b, "\x00\x00\x00\x00", 4);
    CHECK_STR(scan(&shell_caps, &b, 1), "greeting: not ZMTP 3 (first byte 0x00)");
    b.n = 0;
    greeting(&b, 2, 0, "NULL");
    CHECK_STR(scan(&shell_caps, &b, 0), "greeting: ZMTP version 2.0 refused (3.0 or 3.1 only)");
    b.n = 0;
    greeting(&b, 3, 2, "NULL");
    CHECK_STR(scan(&shell_caps, &b, 0), "greeting: ZMTP version 3.2 refused (3.0 or 3.1 only)");
    b.n = 0;
    greeting(&b, 3, 0, "CURVE");
    CHECK_STR(scan(&shell_caps, &b, 7), "greeting: mechanism \"CURVE\" refused (NULL only)");
    b.n = 0;
    greeting(&b, 3, 0, "NULLX");
    CHECK_STR(scan(&shell_caps, &b, 0), "greeting: mechanism \"NULLX\" refused (NULL only)");
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    b.d[9] = 0x7e;
    CHECK_STR(scan(&shell_caps, &b, 0), "greeting: not ZMTP 3 (byte 9 is 0x7e)");
    /* a greeting alone is valid so far (the rest may come later) */
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    CHECK_STR(scan(&shell_caps, &b, 0), "");
}

static void test_handshake(void)
{
    static struct bytes b;
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    frame(&b, 0, "hello", 5);
    CHECK_STR(scan(&shell_caps, &b, 0), "data frame before the handshake completed");
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    frame(&b, 4, "\x04PING\x00\x01", 7);
    CHECK_STR(scan(&shell_caps, &b, 0), "command \"PING\" before READY");
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    frame(&b, 4, "\x05READY", 6);
    CHECK_STR(scan(&shell_caps, &b, 0), "READY without a Socket-Type");
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    frame(&b, 4,
          "\x05READY\x0bSocket-Type\x00\x00\x00\x09"
          "DEALER",
          28);
    CHECK_STR(scan(&shell_caps, &b, 0), "READY: property value of 9 bytes past the command's end");
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    ready(&b, "DEALER");
    ready(&b, "DEALER");
    CHECK_STR(scan(&shell_caps, &b, 0), "a second READY");
    /* the handshake cap: 1,024 bytes; a command of 512 is the largest */
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    static unsigned char cmd[513];
    memcpy(cmd, "\x05READY", 6);
    memset(cmd + 6, 'p', sizeof cmd - 6);
    frame(&b, 4, cmd, sizeof cmd);
    CHECK_STR(scan(&shell_caps, &b, 0), "command of 513 bytes over the cap of 512");
    struct zmtp_caps tight = shell_caps;
    tight.handshake_max = 100;
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    frame(&b, 4, cmd, 300); /* the header (9 bytes) then 27 of the body fit */
    CHECK_STR(scan(&tight, &b, 0), "more than 100 bytes before the handshake completed");
}

static void test_frame_headers(void)
{
    static struct bytes b;
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    ready(&b, "DEALER");
    size_t base = b.n;
    put(&b, "\x08\x01x", 3);
    CHECK_STR(scan(&shell_caps, &b, 0), "frame with reserved flag bits 0x08");
    b.n = base;
    put(&b, "\x05\x04PING", 6);
    CHECK_STR(scan(&shell_caps, &b, 0), "command frame with the MORE flag");
    b.n = base;
    frame(&b, 1, "a", 1);
    frame(&b, 4, "\x04PING\x00\x01", 7);
    CHECK_STR(scan(&shell_caps, &b, 0), "command inside a multipart message");
    b.n = base;
    frame(&b, 4, "\x05HELLO", 6);
    CHECK_STR(scan(&shell_caps, &b, 0), "unknown command \"HELLO\"");
    b.n = base;
    frame(&b, 4, "\x09SUBSCRIBE", 10);
    CHECK_STR(scan(&shell_caps, &b, 0), "SUBSCRIBE on a channel without subscriptions");
    b.n = base;
    frame(&b, 4, "\x04PING\x00", 6);
    CHECK_STR(scan(&shell_caps, &b, 0), "PING of 1 bytes (TTL and at most 16 of context)");
    /* a long header announcing 2^64-1 bytes: refused at the header */
    b.n = base;
    put(&b, "\x02\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    CHECK_STR(scan(&shell_caps, &b, 1), "frame of 18446744073709551615 bytes over the cap of 1000");
}

static void test_message_caps(void)
{
    static struct bytes b;
    static unsigned char body[1001];
    memset(body, 'm', sizeof body);
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    ready(&b, "DEALER");
    size_t base = b.n;
    frame(&b, 0, body, 1000); /* exactly the frame cap */
    CHECK_STR(scan(&shell_caps, &b, 0), "");
    frame(&b, 0, body, 1001);
    CHECK_STR(scan(&shell_caps, &b, 0), "frame of 1001 bytes over the cap of 1000");
    /* 1,000 + 1,000 + 500 = the message cap; one byte more is refused
     * when the third frame's header arrives, before its body */
    b.n = base;
    frame(&b, 1, body, 1000);
    frame(&b, 1, body, 1000);
    frame(&b, 0, body, 500);
    CHECK_STR(scan(&shell_caps, &b, 0), "");
    b.n = base;
    frame(&b, 1, body, 1000);
    frame(&b, 1, body, 1000);
    put(&b, "\x02\0\0\0\0\0\0\x01\xf5", 9); /* header of a 501-byte frame, no body */
    struct zmtp_scan s;
    zmtp_scan_init(&s, &shell_caps, NULL);
    CHECK_INT(feed(&s, &b, 0), -1);
    CHECK_STR(s.reason, "message of 2501 bytes (at frame 3) over the cap of 2500");
    CHECK_U64(s.consumed, b.n - 8); /* the failing header's size is not counted */
    zmtp_scan_release(&s);
    /* frames: 8 per message */
    b.n = base;
    for (int i = 0; i < 8; i++)
        frame(&b, i < 7 ? 1 : 0, "", 0);
    CHECK_STR(scan(&shell_caps, &b, 0), "");
    b.n = base;
    for (int i = 0; i < 9; i++)
        frame(&b, i < 8 ? 1 : 0, "", 0);
    CHECK_STR(scan(&shell_caps, &b, 0), "message of more than 8 frames");
    /* after a whole message, the count starts again */
    b.n = base;
    for (int m = 0; m < 3; m++) {
        frame(&b, 1, body, 1000);
        frame(&b, 0, body, 1000);
    }
    CHECK_STR(scan(&shell_caps, &b, 2), "");
}

static void test_budget(void)
{
    static struct bytes b;
    static unsigned char body[1000];
    b.n = 0;
    greeting(&b, 3, 0, "NULL");
    ready(&b, "DEALER");
    frame(&b, 1, body, 1000);
    frame(&b, 1, body, 1000);
    struct zmtp_budget budget = {0, 3000};
    struct zmtp_scan a, c;
    zmtp_scan_init(&a, &shell_caps, &budget);
    zmtp_scan_init(&c, &shell_caps, &budget);
    CHECK_INT(feed(&a, &b, 0), 0);
    CHECK_U64(budget.used, 2000);
    /* the second connection's message would take the total to 4,000 */
    CHECK_INT(feed(&c, &b, 0), -1);
    CHECK_STR(c.reason, "messages in progress would hold 4000 bytes, over the cap of 3000");
    CHECK_U64(budget.used, 3000);
    zmtp_scan_release(&c);
    CHECK_U64(budget.used, 2000);
    /* the end of a's message (2,001 bytes) returns them */
    CHECK_INT(zmtp_scan_feed(&a, "\x00\x01z", 3), 0);
    CHECK_U64(budget.used, 0);
    CHECK_U64(a.messages, 1);
    CHECK_INT(zmtp_scan_feed(&a, "\x01\x05hello", 7), 0);
    CHECK_U64(budget.used, 5);
    zmtp_scan_release(&a);
    CHECK_U64(budget.used, 0);
}

static void test_subscriptions(void)
{
    static struct bytes b;
    b.n = 0;
    greeting(&b, 3, 1, "NULL");
    ready(&b, "XSUB");
    size_t base = b.n;
    frame(&b, 0, "\x01", 1); /* "" */
    frame(&b, 0,
          "\x01"
          "ab",
          3); /* "ab" */
    frame(&b, 0,
          "\x01"
          "ab",
          3); /* again: nothing new */
    frame(&b, 4,
          "\x09SUBSCRIBE"
          "cde",
          13);
    struct zmtp_scan s;
    zmtp_scan_init(&s, &sub_caps, NULL);
    CHECK_INT(feed(&s, &b, 1), 0);
    CHECK_U64(s.nsubs, 3);
    CHECK_U64(s.sub_bytes, 5);
    CHECK_U64(s.subscribed, 4);
    /* a fourth live one is over the cap of 3 */
    CHECK_INT(zmtp_scan_feed(&s, "\x00\x02\x01z", 4), -1);
    CHECK_STR(s.reason, "subscription 4 over the cap of 3 live subscriptions");
    zmtp_scan_release(&s);
    /* cancelling one (a frame starting with 0, or CANCEL) makes room */
    zmtp_scan_init(&s, &sub_caps, NULL);
    CHECK_INT(feed(&s, &b, 0), 0);
    CHECK_INT(zmtp_scan_feed(&s,
                             "\x00\x03\x00"
                             "ab",
                             5),
              0);
    CHECK_U64(s.nsubs, 2);
    CHECK_INT(zmtp_scan_feed(&s,
                             "\x04\x0a\x06"
                             "CANCEL"
                             "cde",
                             12),
              0);
    CHECK_U64(s.nsubs, 1);
    CHECK_U64(s.sub_bytes, 0);
    CHECK_INT(zmtp_scan_feed(&s,
                             "\x00\x05\x01"
                             "wxyz",
                             7),
              0);
    CHECK_U64(s.sub_bytes, 4);
    CHECK_U64(s.cancelled, 2);
    /* bytes: 4 + 7 = 11 over the cap of 10 */
    CHECK_INT(zmtp_scan_feed(&s,
                             "\x00\x08\x01"
                             "1234567",
                             10),
              -1);
    CHECK_STR(s.reason, "subscriptions of 11 bytes over the cap of 10");
    zmtp_scan_release(&s);
    /* a data frame not starting with 0 or 1 is a message, not a subscription */
    b.n = base;
    frame(&b, 0, "\x02xyz", 4);
    frame(&b, 0, "", 0);
    zmtp_scan_init(&s, &sub_caps, NULL);
    CHECK_INT(feed(&s, &b, 0), 0);
    CHECK_U64(s.nsubs, 0);
    CHECK_U64(s.messages, 2);
    zmtp_scan_release(&s);
    /* the frame cap bounds a subscription's size */
    b.n = base;
    static unsigned char big[257];
    big[0] = 1;
    frame(&b, 0, big, sizeof big);
    CHECK_STR(scan(&sub_caps, &b, 0), "frame of 257 bytes over the cap of 256");
}

/* ---- zmtp_oversize ---- */

#define OV_FRAME_MAX 1000
#define OV_MSG_MAX   2500

static struct jsign ov_key, ov_nokey;
static char ov_notes[1024];

static void ov_note(void *ctx, const char *line)
{
    (void)ctx;
    snprintf(ov_notes + strlen(ov_notes), sizeof ov_notes - strlen(ov_notes), "%s\n", line);
}

/* Runs b through a shaper whole (chunk 0) or in chunks; out gets what it
 * forwards. Returns the result; *o is left for the caller to look at and
 * release. */
static int shape(struct zmtp_oversize *o, const struct jsign *key, const struct bytes *b,
                 size_t chunk, struct bytes *out)
{
    static unsigned char tmp[(1 << 16) + ZOV_OUT_SLACK];
    ov_notes[0] = 0;
    out->n = 0;
    zov_init(o, key, OV_FRAME_MAX, OV_MSG_MAX, 8, ov_note, NULL);
    size_t step = chunk ? chunk : b->n;
    for (size_t i = 0; i < b->n; i += step) {
        size_t len = b->n - i < step ? b->n - i : step, n = 0;
        int rc = zov_feed(o, b->d + i, len, tmp, &n);
        if (n > len + ZOV_OUT_SLACK)
            return -2;
        put(out, tmp, n);
        if (rc)
            return rc;
    }
    return 0;
}

static bool same(const struct bytes *a, const struct bytes *b)
{
    return a->n == b->n && !memcmp(a->d, b->d, a->n);
}

/* A Jupyter message: delimiter, signature (over the four JSON frames with
 * key, or `sig` when given), header, parent, metadata, content (`clen`
 * bytes of 'x' when content is NULL), and nbuf buffers of buflen bytes. */
static void jmessage(struct bytes *b, const struct jsign *key, const char *sig, const char *content,
                     size_t clen, int nbuf, size_t buflen)
{
    static char big[1 << 15];
    memset(big, 'x', sizeof big);
    const char *h = "{\"msg_id\": \"m1\", \"msg_type\": \"execute_request\"}";
    struct jframe parts[4] = {{h, strlen(h)},
                              {"{}", 2},
                              {"{}", 2},
                              {content ? content : big, content ? strlen(content) : clen}};
    char hex[JSIGN_HEX_LEN + 1];
    jsign_sign(key, parts, 4, hex);
    frame(b, 1, "<IDS|MSG>", 9);
    frame(b, 1, sig ? sig : hex, strlen(sig ? sig : hex));
    for (int i = 0; i < 4; i++)
        frame(b, i < 3 || nbuf ? 1 : 0, parts[i].data, parts[i].len);
    for (int i = 0; i < nbuf; i++)
        frame(b, i < nbuf - 1 ? 1 : 0, big, buflen);
}

static void test_oversize_within_caps(void)
{
    static struct bytes b, out;
    static struct zmtp_oversize o;
    b.n = 0;
    greeting(&b, 3, 1, "NULL");
    ready(&b, "DEALER");
    jmessage(&b, &ov_key, NULL, "{\"code\": \"true\"}", 0, 0, 0);
    frame(&b, 4, "\x04PING\x00\x10", 7);
    frame(&b, 1, "ident", 5); /* a routed one, with a buffer */
    jmessage(&b, &ov_key, NULL, NULL, 900, 1, 800);
    frame(&b, 1, "no", 2); /* no delimiter, at the frame cap */
    frame(&b, 0, "", 0);
    size_t chunks[] = {0, 1, 7, 100};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        CHECK_INT(shape(&o, &ov_key, &b, chunks[i], &out), 0);
        CHECK(same(&out, &b)); /* forwarded unchanged */
        CHECK_U64(o.answered + o.dropped, 0);
        CHECK_STR(ov_notes, "");
        zov_release(&o);
    }
}

static void test_oversize_answered(void)
{
    static struct bytes b, out, want;
    static struct zmtp_oversize o;
    b.n = 0;
    greeting(&b, 3, 1, "NULL");
    ready(&b, "DEALER");
    size_t prefix = b.n;
    frame(&b, 1, "ident", 5);
    jmessage(&b, &ov_key, NULL, NULL, 3000, 0, 0); /* content over the frame cap */
    size_t msg = b.n - prefix;
    jmessage(&b, &ov_key, NULL, "{\"code\": \"echo next\"}", 0, 0, 0);
    /* what the kernel must get: the handshake, the stand-in, the next one */
    want.n = 0;
    put(&want, b.d, prefix);
    frame(&want, 1, "ident", 5);
    frame(&want, 1, "<IDS|MSG>", 9);
    const char *h = "{\"msg_id\": \"m1\", \"msg_type\": \"execute_request\"}";
    char content[300], orig[JSIGN_HEX_LEN + 1];
    static char xs[3000];
    memset(xs, 'x', sizeof xs);
    struct jframe oparts[4] = {{h, strlen(h)}, {"{}", 2}, {"{}", 2}, {xs, sizeof xs}};
    jsign_sign(&ov_key, oparts, 4, orig);
    /* 7 frames: identity, delimiter, signature, the four JSON frames */
    size_t bytes = 5 + 9 + 64 + strlen(h) + 2 + 2 + 3000;
    snprintf(content, sizeof content,
             "{\"iopsd_oversized\": {\"bytes\": %zu, \"frames\": 7, \"frame_max\": 1000, "
             "\"message_max\": 2500, \"signature\": \"%s\"}}",
             bytes, orig);
    struct jframe parts[4] = {{h, strlen(h)}, {"{}", 2}, {"{}", 2}, {content, strlen(content)}};
    char hex[JSIGN_HEX_LEN + 1];
    jsign_sign(&ov_key, parts, 4, hex);
    frame(&want, 1, hex, 64);
    for (int i = 0; i < 4; i++)
        frame(&want, i < 3, parts[i].data, parts[i].len);
    put(&want, b.d + prefix + msg, b.n - prefix - msg);
    char note[300];
    snprintf(note, sizeof note,
             "a message of %zu bytes in 7 frames, over the caps (1000 a frame, 2500 a message): "
             "answered with an error in its place\n",
             bytes);
    size_t chunks[] = {0, 1, 13, 4096};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        CHECK_INT(shape(&o, &ov_key, &b, chunks[i], &out), 0);
        CHECK(same(&out, &want));
        CHECK_U64(o.answered, 1);
        CHECK_STR(ov_notes, note);
        zov_release(&o);
    }
    /* and the scanner takes the result whole */
    CHECK_STR(scan(&shell_caps, &want, 0), "");
    /* a buffer that takes the message past the message cap: the same */
    b.n = prefix;
    jmessage(&b, &ov_key, NULL, NULL, 600, 2, 1000);
    CHECK_INT(shape(&o, &ov_key, &b, 0, &out), 0);
    CHECK_U64(o.answered, 1);
    CHECK_U64(out.n > prefix, 1);
    CHECK_STR(scan(&shell_caps, &out, 0), "");
    zov_release(&o);
    /* signing off: a stand-in with an empty signature */
    b.n = prefix;
    jmessage(&b, &ov_nokey, NULL, NULL, 3000, 0, 0);
    CHECK_INT(shape(&o, &ov_nokey, &b, 0, &out), 0);
    CHECK_U64(o.answered, 1);
    CHECK_U64(out.d[prefix + 11], 1); /* after the delimiter's frame: flags, size 0 */
    CHECK_U64(out.d[prefix + 12], 0);
    zov_release(&o);
}

static void test_oversize_dropped_or_cut(void)
{
    static struct bytes b, out;
    static struct zmtp_oversize o;
    b.n = 0;
    greeting(&b, 3, 1, "NULL");
    ready(&b, "DEALER");
    size_t prefix = b.n;
    /* a wrong signature: nothing goes on */
    jmessage(&b, &ov_key, "0000000000000000000000000000000000000000000000000000000000000000", NULL,
             3000, 0, 0);
    CHECK_INT(shape(&o, &ov_key, &b, 0, &out), 0);
    CHECK_U64(out.n, prefix);
    CHECK_U64(o.dropped, 1);
    CHECK_STR(ov_notes, "a message of 3124 bytes in 6 frames, over the caps, is not signed with "
                        "the connection's key: dropped\n");
    zov_release(&o);
    /* a malformed one */
    b.n = prefix;
    jmessage(&b, &ov_key, "not hex", NULL, 3000, 0, 0);
    CHECK_INT(shape(&o, &ov_key, &b, 5, &out), 0);
    CHECK_U64(o.dropped, 1);
    zov_release(&o);
    /* no delimiter: forwarded as it comes, for the scanner to cut */
    b.n = prefix;
    frame(&b, 1, "a", 1);
    static char big[3000];
    frame(&b, 0, big, sizeof big);
    CHECK_INT(shape(&o, &ov_key, &b, 0, &out), 0);
    CHECK(same(&out, &b));
    CHECK_STR(scan(&shell_caps, &out, 0), "frame of 3000 bytes over the cap of 1000");
    zov_release(&o);
    /* a header over the cap (before the content): the same */
    b.n = prefix;
    frame(&b, 1, "<IDS|MSG>", 9);
    frame(&b, 1, "s", 1);
    frame(&b, 0, big, sizeof big);
    CHECK_INT(shape(&o, &ov_key, &b, 0, &out), 0);
    CHECK(same(&out, &b));
    zov_release(&o);
    /* a command inside a drained message: cut */
    b.n = prefix;
    frame(&b, 1, "<IDS|MSG>", 9);
    for (int i = 0; i < 4; i++)
        frame(&b, 1, "{}", 2);
    frame(&b, 1, big, sizeof big);
    frame(&b, 4, "\x04PING\x00\x10", 7);
    CHECK_INT(shape(&o, &ov_key, &b, 0, &out), -1);
    CHECK_STR(o.reason, "command inside a multipart message");
    size_t n = 1;
    unsigned char tmp[ZOV_OUT_SLACK + 1];
    CHECK_INT(zov_feed(&o, (const unsigned char *)"x", 1, tmp, &n), -1); /* final */
    CHECK_U64(n, 0);
    zov_release(&o);
    /* too many frames while draining: cut */
    b.n = prefix;
    frame(&b, 1, "<IDS|MSG>", 9);
    for (int i = 0; i < 4; i++)
        frame(&b, 1, "{}", 2);
    frame(&b, 1, big, sizeof big);
    for (int i = 0; i < 3; i++)
        frame(&b, 1, "", 0);
    CHECK_INT(shape(&o, &ov_key, &b, 0, &out), -1);
    CHECK_STR(o.reason, "message of more than 8 frames");
    zov_release(&o);
}

int main(void)
{
    test_valid_stream();
    test_greetings();
    test_handshake();
    test_frame_headers();
    test_message_caps();
    test_budget();
    test_subscriptions();
    char err[128];
    jsign_init(&ov_key, "hmac-sha256", "secret", 6, err, sizeof err);
    jsign_init(&ov_nokey, "hmac-sha256", "", 0, err, sizeof err);
    test_oversize_within_caps();
    test_oversize_answered();
    test_oversize_dropped_or_cut();
    jsign_release(&ov_key);
    return tap_done("test_zmtp_scan");
}
