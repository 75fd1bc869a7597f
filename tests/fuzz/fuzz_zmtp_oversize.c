/* fuzz_zmtp_oversize: the front's shaper on any byte stream. Input: one byte
 * of options (bit 0: signing on; bits 1-7: the chunk size for the second
 * pass), then the stream. Shaped whole and again in chunks, both passes must
 * agree (result, reason, output byte for byte, messages answered and
 * dropped), no feed may output more than it was given plus ZOV_OUT_SLACK,
 * and after a violation nothing more is accepted. */
#include "protocol/zmtp_oversize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (1u << 20)

static int shape(struct zmtp_oversize *o, const struct jsign *key, const uint8_t *d, size_t n,
                 size_t chunk, unsigned char *out, size_t *outn)
{
    static unsigned char tmp[OUT_MAX + ZOV_OUT_SLACK];
    *outn = 0;
    zov_init(o, key, 300, 700, 6, NULL, NULL);
    for (size_t i = 0; i < n; i += chunk) {
        size_t len = n - i < chunk ? n - i : chunk, got = 0;
        int rc = zov_feed(o, d + i, len, tmp, &got);
        if (got > len + ZOV_OUT_SLACK || *outn + got > OUT_MAX + ZOV_OUT_SLACK)
            abort();
        memcpy(out + *outn, tmp, got);
        *outn += got;
        if (rc)
            return rc;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct jsign keys[2];
    static int ready;
    if (!ready) {
        char err[64];
        jsign_init(&keys[0], "hmac-sha256", "", 0, err, sizeof err);
        jsign_init(&keys[1], "hmac-sha256", "k", 1, err, sizeof err);
        ready = 1;
    }
    if (size < 1 || size > OUT_MAX / 2)
        return 0;
    const struct jsign *key = &keys[data[0] & 1];
    size_t chunk = (size_t)(data[0] >> 1) + 1;
    data++, size--;
    static unsigned char outa[2 * OUT_MAX], outb[2 * OUT_MAX];
    static struct zmtp_oversize a, b;
    size_t na, nb;
    int ra = shape(&a, key, data, size, size ? size : 1, outa, &na);
    int rb = shape(&b, key, data, size, chunk, outb, &nb);
    if (ra != rb || na != nb || memcmp(outa, outb, na) || strcmp(a.reason, b.reason) ||
        a.answered != b.answered || a.dropped != b.dropped)
        abort();
    if (ra) {
        size_t n = 1;
        if (zov_feed(&a, (const unsigned char *)"x", 1, outa, &n) != -1 || n != 0)
            abort();
    }
    zov_release(&a);
    zov_release(&b);
    return 0;
}
