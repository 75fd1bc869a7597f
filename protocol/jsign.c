/* jsign: HMAC-SHA256 signing/checking of Jupyter messages (OpenSSL EVP_MAC)
 * and the bounded replay guard. */
#include "protocol/jsign.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

int jsign_init(struct jsign *s, const char *scheme, const void *key, size_t keylen, char *err,
               size_t errlen)
{
    s->keylen = 0;
    s->hmac = NULL;
    if (scheme && *scheme && strcmp(scheme, "hmac-sha256") != 0) {
        snprintf(err, errlen, "unsupported signature_scheme '%s' (only hmac-sha256)", scheme);
        return -EINVAL;
    }
    if (keylen > JSIGN_KEY_MAX) {
        snprintf(err, errlen, "key longer than %d bytes", JSIGN_KEY_MAX);
        return -E2BIG;
    }
    if (keylen == 0)
        return 0;

    int rc = -EIO;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        goto out;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    if (!ctx)
        goto out_mac;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_init(ctx, key, keylen, params)) {
        EVP_MAC_CTX_free(ctx);
        goto out_mac;
    }
    s->hmac = ctx;
    s->keylen = keylen;
    rc = 0;
out_mac:
    EVP_MAC_free(mac);
out:
    if (rc)
        snprintf(err, errlen, "cannot set up HMAC-SHA256 with OpenSSL");
    return rc;
}

void jsign_release(struct jsign *s)
{
    EVP_MAC_CTX_free(s->hmac);
    s->hmac = NULL;
    s->keylen = 0;
}

bool jsign_enabled(const struct jsign *s)
{
    return s->keylen > 0;
}

int jsign_digest(const struct jsign *s, const struct jframe *parts, size_t n,
                 unsigned char out[JSIGN_DIGEST_LEN])
{
    if (!s->hmac)
        return -EINVAL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(s->hmac);
    if (!ctx)
        return -EIO;
    int rc = -EIO;
    for (size_t i = 0; i < n; i++)
        if (parts[i].len && !EVP_MAC_update(ctx, parts[i].data, parts[i].len))
            goto out;
    size_t outl = 0;
    if (!EVP_MAC_final(ctx, out, &outl, JSIGN_DIGEST_LEN) || outl != JSIGN_DIGEST_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

EVP_MAC_CTX *jsign_stream_begin(const struct jsign *s)
{
    return s->hmac ? EVP_MAC_CTX_dup(s->hmac) : NULL;
}

int jsign_stream_update(EVP_MAC_CTX *c, const void *p, size_t n)
{
    return !n || EVP_MAC_update(c, p, n) ? 0 : -EIO;
}

int jsign_stream_end(EVP_MAC_CTX *c, unsigned char out[JSIGN_DIGEST_LEN])
{
    size_t outl = 0;
    int ok = EVP_MAC_final(c, out, &outl, JSIGN_DIGEST_LEN) && outl == JSIGN_DIGEST_LEN;
    EVP_MAC_CTX_free(c);
    return ok ? 0 : -EIO;
}

void jsign_stream_free(EVP_MAC_CTX *c)
{
    EVP_MAC_CTX_free(c);
}

void jsign_hex(const unsigned char d[JSIGN_DIGEST_LEN], char hex[JSIGN_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < JSIGN_DIGEST_LEN; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[JSIGN_HEX_LEN] = '\0';
}

int jsign_sign(const struct jsign *s, const struct jframe *parts, size_t n,
               char hex[JSIGN_HEX_LEN + 1])
{
    hex[0] = '\0';
    if (!jsign_enabled(s))
        return 0;
    unsigned char d[JSIGN_DIGEST_LEN];
    int rc = jsign_digest(s, parts, n, d);
    if (rc)
        return rc;
    jsign_hex(d, hex);
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int jsign_unhex(const void *hex, size_t len, unsigned char out[JSIGN_DIGEST_LEN])
{
    const unsigned char *h = hex;
    if (len != JSIGN_HEX_LEN)
        return -EINVAL;
    for (size_t i = 0; i < JSIGN_DIGEST_LEN; i++) {
        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int jsign_verify(const struct jsign *s, const void *sig, size_t siglen, const struct jframe *parts,
                 size_t n, unsigned char digest[JSIGN_DIGEST_LEN])
{
    if (!jsign_enabled(s))
        return 0;
    unsigned char got[JSIGN_DIGEST_LEN];
    if (jsign_unhex(sig, siglen, got))
        return -EPERM;
    if (jsign_digest(s, parts, n, digest))
        return -EPERM;
    return CRYPTO_memcmp(got, digest, JSIGN_DIGEST_LEN) == 0 ? 0 : -EPERM;
}

/* ---- replay guard ---- */

static size_t home_slot(const struct jreplay *r, const unsigned char d[JSIGN_DIGEST_LEN])
{
    /* Digests are HMAC outputs of verified messages: their bytes are uniform. */
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return (size_t)(h & r->mask);
}

void jreplay_init(struct jreplay *r, size_t cap)
{
    if (cap == 0)
        cap = 1;
    size_t nslots = 2;
    while (nslots < 2 * cap)
        nslots <<= 1;
    r->ring = xcalloc(cap, JSIGN_DIGEST_LEN);
    r->slots = xcalloc(nslots, sizeof *r->slots);
    r->cap = cap;
    r->count = 0;
    r->next = 0;
    r->mask = nslots - 1;
}

void jreplay_release(struct jreplay *r)
{
    free(r->ring);
    free(r->slots);
    r->ring = NULL;
    r->slots = NULL;
    r->cap = r->count = r->next = 0;
}

/* Slot holding d, or the empty slot where it would go. */
static size_t find_slot(const struct jreplay *r, const unsigned char d[JSIGN_DIGEST_LEN],
                        bool *found)
{
    size_t i = home_slot(r, d);
    for (;;) {
        uint32_t v = r->slots[i];
        if (v == 0) {
            *found = false;
            return i;
        }
        if (memcmp(r->ring[v - 1], d, JSIGN_DIGEST_LEN) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & r->mask;
    }
}

bool jreplay_seen(const struct jreplay *r, const unsigned char d[JSIGN_DIGEST_LEN])
{
    bool found;
    find_slot(r, d, &found);
    return found;
}

/* Removes the entry in slot i, shifting later entries of the same probe run
 * back so that lookups never stop at a hole. */
static void delete_slot(struct jreplay *r, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & r->mask;
        uint32_t v = r->slots[j];
        if (v == 0)
            break;
        size_t k = home_slot(r, r->ring[v - 1]);
        /* Move v into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            r->slots[i] = v;
            i = j;
        }
    }
    r->slots[i] = 0;
}

void jreplay_add(struct jreplay *r, const unsigned char d[JSIGN_DIGEST_LEN])
{
    bool found;
    find_slot(r, d, &found);
    if (found)
        return;
    size_t idx = r->next;
    if (r->count == r->cap) {
        size_t old = find_slot(r, r->ring[idx], &found);
        if (found)
            delete_slot(r, old);
    } else {
        r->count++;
    }
    memcpy(r->ring[idx], d, JSIGN_DIGEST_LEN);
    size_t slot = find_slot(r, d, &found);
    if (!found)
        r->slots[slot] = (uint32_t)idx + 1;
    r->next = (idx + 1) % r->cap;
}
