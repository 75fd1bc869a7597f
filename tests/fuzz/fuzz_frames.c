/* fuzz_frames: frame parsing (caps, delimiter, signature, JSON) on any bytes.
 * Input: one flag byte (bit 0: signing with key "fuzz-key" on), then frames
 * as [2-byte big-endian length][bytes]. A parsed message must serialize and
 * parse back to the same type and buffers. */
#include "protocol/jmsg.h"

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
        /* Each frame in its own exact-size allocation: overreads show. */
        void *copy = malloc(len ? len : 1);
        memcpy(copy, data + pos, len);
        frames[n].data = copy;
        frames[n++].len = len;
        pos += len;
    }

    char err[256];
    struct jsign sign;
    if (jsign_init(&sign, "hmac-sha256", "fuzz-key", keyed ? 8 : 0, err, sizeof err))
        abort();
    struct jreplay guard;
    jreplay_init(&guard, 8);
    struct jmsg m;
    jmsg_init(&m);
    if (jmsg_parse(&m, frames, n, &sign, &guard, err, sizeof err) == 0) {
        struct jwire w;
        if (jmsg_serialize(&m, &sign, &w))
            abort();
        struct jframe *f = calloc(w.n, sizeof *f);
        for (size_t i = 0; i < w.n; i++) {
            f[i].data = w.frames[i].data;
            f[i].len = w.frames[i].len;
        }
        struct jreplay fresh;
        jreplay_init(&fresh, 8);
        struct jmsg back;
        jmsg_init(&back);
        if (jmsg_parse(&back, f, w.n, &sign, &fresh, err, sizeof err))
            abort();
        if (strcmp(jmsg_type(&back), jmsg_type(&m)) || back.nbuffers != m.nbuffers ||
            back.nidents != m.nidents)
            abort();
        for (size_t i = 0; i < m.nbuffers; i++)
            if (back.buffers[i].len != m.buffers[i].len ||
                memcmp(back.buffers[i].data, m.buffers[i].data, m.buffers[i].len))
                abort();
        /* And the same frames again are a replay when signing is on. */
        if (keyed && jmsg_parse(&back, f, w.n, &sign, &fresh, err, sizeof err) == 0)
            abort();
        jmsg_release(&back);
        jreplay_release(&fresh);
        free(f);
        jwire_release(&w);
    }
    jmsg_release(&m);
    jreplay_release(&guard);
    jsign_release(&sign);
    for (size_t i = 0; i < n; i++)
        free((void *)frames[i].data);
    return 0;
}
