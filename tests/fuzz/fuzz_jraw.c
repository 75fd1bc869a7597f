/* fuzz_jraw: the relay's view of a message (split, verify, re-sign, peek) on
 * any frames. Input as fuzz_frames: one flag byte (bit 0: signing with key
 * "fuzz-key"), then frames as [2-byte big-endian length][bytes]. A message
 * accepted and re-signed with a second key must verify under that key with
 * every frame but the signature unchanged, and be refused as a replay; the
 * length of content.text found without a parse must be jansson's. */
#include "protocol/jraw.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool keyed = data[0] & 1;
    struct jframe frames[64];
    size_t n = 0, pos = 1;
    while (pos + 2 <= size && n < 64) {
        size_t len = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        void *copy = malloc(len ? len : 1);
        memcpy(copy, data + pos, len);
        frames[n].data = copy;
        frames[n++].len = len;
        pos += len;
    }
    char err[256], hex[JSIGN_HEX_LEN + 1], type[64], pid[64];
    struct jsign a, b;
    if (jsign_init(&a, "hmac-sha256", "fuzz-key", keyed ? 8 : 0, err, sizeof err) ||
        jsign_init(&b, "hmac-sha256", "other-key", 9, err, sizeof err))
        abort();
    struct jreplay guard, guard_b;
    jreplay_init(&guard, 8);
    jreplay_init(&guard_b, 8);
    struct jraw raw;
    if (jraw_split(&raw, frames, n, err, sizeof err) == 0 &&
        jraw_verify(&raw, &a, &guard, err, sizeof err) == 0) {
        (void)jraw_msg_type(&raw, type, sizeof type);
        (void)jraw_parent_id(&raw, pid, sizeof pid);
        /* the length found without a parse is jansson's wherever jansson
         * takes the content, and the content has no NUL byte: jansson 2.14
         * reads one as the end of the input in some places and skips it in
         * others ({"a":1\0} is {"a": 1}, {"a":1,\0"b":2} an error); the
         * scan refuses it everywhere */
        const struct jframe *cf = &jraw_parts(&raw)[JRAW_CONTENT];
        bool nul = cf->len && memchr(cf->data, 0, cf->len);
        json_t *c = nul ? NULL : jraw_peek(&raw, JRAW_CONTENT);
        json_t *text = json_object_get(c, "text");
        size_t tb = 0;
        int trc = jraw_string_bytes(&raw, JRAW_CONTENT, "text", &tb);
        if (c && (json_is_string(text) ? trc || tb != json_string_length(text) : trc != -ENOENT))
            abort();
        /* a text jansson takes, cut into pieces as the relay sends a long
         * stream: each piece a string jansson takes, the pieces the whole */
        struct jraw_span sp;
        if (json_is_string(text) && !jraw_string_span(&raw, JRAW_CONTENT, "text", &sp)) {
            const char *t = (const char *)cf->data + sp.start;
            size_t len = sp.end - sp.start, at = 0, got = 0, max = 12 + size % 53;
            char *q = malloc(max + 2);
            while (at < len) {
                size_t dec, cut = jraw_string_piece(t + at, len - at, max, &dec);
                if (!cut || cut > max)
                    abort();
                q[0] = '"';
                memcpy(q + 1, t + at, cut);
                q[cut + 1] = '"';
                json_t *piece = json_loadb(q, cut + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                if (!piece || json_string_length(piece) != dec ||
                    got + dec > json_string_length(text) ||
                    memcmp(json_string_value(piece), json_string_value(text) + got, dec))
                    abort();
                json_decref(piece);
                got += dec;
                at += cut;
            }
            free(q);
            if (got != json_string_length(text))
                abort();
        }
        json_decref(c);
        if (jraw_resign(&raw, &b, hex))
            abort();
        struct jframe *g = malloc(n * sizeof *g);
        memcpy(g, frames, n * sizeof *g);
        size_t s = raw.nidents + 1;
        g[s].data = hex;
        g[s].len = strlen(hex);
        struct jraw back;
        if (jraw_split(&back, g, n, err, sizeof err) ||
            jraw_verify(&back, &b, &guard_b, err, sizeof err) || back.nidents != raw.nidents)
            abort();
        if (jraw_verify(&back, &b, &guard_b, err, sizeof err) != -EALREADY)
            abort();
        if (keyed && jraw_verify(&raw, &a, &guard, err, sizeof err) != -EALREADY)
            abort();
        free(g);
    }
    jreplay_release(&guard);
    jreplay_release(&guard_b);
    jsign_release(&a);
    jsign_release(&b);
    for (size_t i = 0; i < n; i++)
        free((void *)frames[i].data);
    return 0;
}
