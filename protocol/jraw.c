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

/* ---- string lengths without a parse ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hex4(const char *p, const char *end, unsigned *cp)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *cp = v;
    return 0;
}

static size_t put_utf8(unsigned cp, char *out, size_t at, size_t cap)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    for (size_t i = 0; i < n; i++)
        if (out && at + i < cap)
            out[at + i] = (char)b[i];
    return n;
}

/* Reads the string whose opening quote is at *pp: its decoded length in
 * *len, its first `cap` decoded bytes into out (may be NULL); *pp is left
 * after the closing quote. Linear in the string's size (a memchr for the
 * quote and one per escape). 0 or -1 (malformed). */
static int scan_string(const char **pp, const char *end, size_t *len, char *out, size_t cap)
{
    const char *p = *pp + 1;
    size_t n = 0;
    const char *q = memchr(p, '"', (size_t)(end - p));
    for (;;) {
        if (!q)
            return -1;
        const char *b = memchr(p, '\\', (size_t)(q - p));
        if (!b) {
            for (size_t i = 0; out && i < (size_t)(q - p) && n + i < cap; i++)
                out[n + i] = p[i];
            n += (size_t)(q - p);
            p = q + 1;
            break;
        }
        for (size_t i = 0; out && i < (size_t)(b - p) && n + i < cap; i++)
            out[n + i] = p[i];
        n += (size_t)(b - p);
        if (end - b < 2)
            return -1;
        static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
        const char *s = b[1] ? strchr(simple, b[1]) : NULL;
        if (s) {
            if (out && n < cap)
                out[n] = value[s - simple];
            n++;
            p = b + 2;
        } else if (b[1] == 'u') {
            unsigned cp, lo;
            if (hex4(b + 2, end, &cp))
                return -1;
            p = b + 6;
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                !hex4(p + 2, end, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            n += put_utf8(cp, out, n, cap);
        } else {
            return -1;
        }
        if (p > q) /* the escape took the quote found (\") */
            q = memchr(p, '"', (size_t)(end - p));
    }
    *len = n;
    *pp = p;
    return 0;
}

/* Skips one value at p (after white space); NULL if malformed. Nested
 * values are skipped with a depth count, not recursion. */
static const char *skip_value(const char *p, const char *end)
{
    size_t depth = 0, len;
    do {
        p = skip_ws(p, end);
        if (p == end)
            return NULL;
        if (*p == '"') {
            if (scan_string(&p, end, &len, NULL, 0))
                return NULL;
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            if (!depth)
                return NULL;
            depth--;
            p++;
        } else if (*p == ',' || *p == ':') {
            if (!depth)
                return NULL;
            p++;
        } else { /* a number or a literal */
            const char *s = p;
            while (p < end && !strchr(",:]} \t\r\n\"{[", *p))
                p++;
            if (p == s)
                return NULL;
        }
    } while (depth);
    return p;
}

int jraw_string_span(const struct jraw *r, enum jraw_part part, const char *key,
                     struct jraw_span *out)
{
    const struct jframe *f = &jraw_parts(r)[part];
    const char *base = (const char *)f->data, *p = base, *end = p + f->len;
    size_t klen = strlen(key);
    int rc = -ENOENT;
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return -EBADMSG;
    p = skip_ws(p, end);
    if (p < end && *p == '}')
        return rc;
    for (;;) {
        char name[64];
        size_t nlen;
        p = skip_ws(p, end);
        if (p == end || *p != '"' || scan_string(&p, end, &nlen, name, sizeof name))
            return -EBADMSG;
        p = skip_ws(p, end);
        if (p == end || *p++ != ':')
            return -EBADMSG;
        p = skip_ws(p, end);
        bool match = nlen == klen && klen <= sizeof name && !memcmp(name, key, klen);
        if (match && p < end && *p == '"') {
            size_t len;
            const char *open = p;
            if (scan_string(&p, end, &len, NULL, 0))
                return -EBADMSG;
            out->start = (size_t)(open + 1 - base);
            out->end = (size_t)(p - 1 - base);
            out->decoded = len;
            rc = 0;
        } else {
            if (!(p = skip_value(p, end)))
                return -EBADMSG;
            if (match)
                rc = -ENOENT; /* a later member replaces an earlier string */
        }
        p = skip_ws(p, end);
        if (p == end)
            return -EBADMSG;
        if (*p == '}')
            return rc;
        if (*p++ != ',')
            return -EBADMSG;
    }
}

int jraw_string_bytes(const struct jraw *r, enum jraw_part part, const char *key, size_t *out)
{
    struct jraw_span sp;
    int rc = jraw_string_span(r, part, key, &sp);
    if (!rc)
        *out = sp.decoded;
    return rc;
}

size_t jraw_string_piece(const char *s, size_t len, size_t max, size_t *decoded)
{
    const char *end = s + len;
    size_t at = 0, dec = 0;
    *decoded = 0;
    if (max < 12)
        return 0; /* the longest escape (a surrogate pair) must fit */
    size_t lim = len < max ? len : max;
    for (;;) {
        const char *b = memchr(s + at, '\\', lim - at);
        if (!b) {
            size_t cut = lim;
            /* not inside a UTF-8 sequence: back to its lead byte (at most
             * 3 steps; bad UTF-8 is cut where it is) */
            for (int i = 0;
                 i < 3 && cut < len && cut > at && ((unsigned char)s[cut] & 0xc0) == 0x80; i++)
                cut--;
            *decoded = dec + (cut - at);
            return cut;
        }
        size_t e = (size_t)(b - s), elen = 2, edec = 1;
        dec += e - at;
        unsigned cp, lo;
        if (end - b >= 2 && b[1] == 'u' && !hex4(b + 2, end, &cp)) {
            elen = 6;
            edec = put_utf8(cp, NULL, 0, 0);
            if (cp >= 0xd800 && cp < 0xdc00 && end - b >= 12 && b[6] == '\\' && b[7] == 'u' &&
                !hex4(b + 8, end, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                elen = 12;
                edec = 4;
            }
        }
        if (e + elen > lim) {
            if (lim == len) /* a malformed escape at the very end: as it is */
                e = len;
            *decoded = dec;
            return e;
        }
        dec += edec;
        at = e + elen;
    }
}
