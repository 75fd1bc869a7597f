/* jmsg: Jupyter messages <-> frames (verify before parse), headers, ids, dates. */
#include "protocol/jmsg.h"
#include "protocol/jraw.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

static const char *const part_names[4] = {"header", "parent_header", "metadata", "content"};

void jmsg_init(struct jmsg *m)
{
    memset(m, 0, sizeof *m);
}

static void blobs_free(struct jblob *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b);
}

static struct jblob *blobs_copy(const struct jframe *f, size_t n)
{
    if (n == 0)
        return NULL;
    struct jblob *b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        b[i].data = xmalloc(f[i].len ? f[i].len : 1);
        if (f[i].len)
            memcpy(b[i].data, f[i].data, f[i].len);
        b[i].len = f[i].len;
    }
    return b;
}

void jmsg_release(struct jmsg *m)
{
    blobs_free(m->idents, m->nidents);
    blobs_free(m->buffers, m->nbuffers);
    json_decref(m->header);
    json_decref(m->parent);
    json_decref(m->metadata);
    json_decref(m->content);
    jmsg_init(m);
}

void jwire_release(struct jwire *w)
{
    blobs_free(w->frames, w->n);
    w->frames = NULL;
    w->n = 0;
}

int jmsg_parse(struct jmsg *m, const struct jframe *frames, size_t n, const struct jsign *sign,
               struct jreplay *replay, char *err, size_t errlen)
{
    struct jraw raw;
    int rc = jraw_split(&raw, frames, n, err, errlen);
    if (rc)
        return rc;
    unsigned char digest[JSIGN_DIGEST_LEN];
    rc = jraw_check(&raw, sign, replay, digest, err, errlen);
    if (rc)
        return rc;
    size_t d = raw.nidents;
    const struct jframe *parts = jraw_parts(&raw);

    json_t *json[4] = {NULL, NULL, NULL, NULL};
    rc = -EBADMSG;
    for (int i = 0; i < 4; i++) {
        json_error_t jerr;
        json[i] = json_loadb(parts[i].data, parts[i].len, 0, &jerr);
        if (!json[i]) {
            snprintf(err, errlen, "%s: invalid JSON: %s", part_names[i], jerr.text);
            goto fail;
        }
        if (!json_is_object(json[i])) {
            snprintf(err, errlen, "%s: not a JSON object", part_names[i]);
            goto fail;
        }
    }
    if (!json_is_string(json_object_get(json[0], "msg_type")) ||
        !json_is_string(json_object_get(json[0], "msg_id"))) {
        snprintf(err, errlen, "header: msg_id and msg_type must be strings");
        goto fail;
    }

    if (jsign_enabled(sign) && replay)
        jreplay_add(replay, digest);
    jmsg_release(m);
    m->idents = blobs_copy(frames, d);
    m->nidents = d;
    m->header = json[0];
    m->parent = json[1];
    m->metadata = json[2];
    m->content = json[3];
    m->nbuffers = n - d - 6;
    m->buffers = blobs_copy(&frames[d + 6], m->nbuffers);
    return 0;
fail:
    for (int i = 0; i < 4; i++)
        json_decref(json[i]);
    return rc;
}

static void set_blob(struct jblob *b, const void *p, size_t len)
{
    b->data = xmalloc(len ? len : 1);
    if (len)
        memcpy(b->data, p, len);
    b->len = len;
}

int jmsg_serialize(const struct jmsg *m, const struct jsign *sign, struct jwire *out)
{
    json_t *json[4] = {m->header, m->parent, m->metadata, m->content};
    char *text[4] = {NULL, NULL, NULL, NULL};
    int rc = -EINVAL;
    out->frames = NULL;
    out->n = 0;
    if (!m->header)
        return -EINVAL;
    for (int i = 0; i < 4; i++) {
        if (!json[i]) {
            text[i] = xstrdup("{}");
            continue;
        }
        text[i] = json_dumps(json[i], JSON_COMPACT);
        if (!text[i])
            goto out;
    }
    struct jframe parts[4];
    for (int i = 0; i < 4; i++) {
        parts[i].data = text[i];
        parts[i].len = strlen(text[i]);
    }
    char hex[JSIGN_HEX_LEN + 1];
    rc = jsign_sign(sign, parts, 4, hex);
    if (rc)
        goto out;

    size_t n = m->nidents + 6 + m->nbuffers;
    struct jblob *f = xcalloc(n, sizeof *f);
    size_t k = 0;
    for (size_t i = 0; i < m->nidents; i++)
        set_blob(&f[k++], m->idents[i].data, m->idents[i].len);
    set_blob(&f[k++], JMSG_DELIM, JMSG_DELIM_LEN);
    set_blob(&f[k++], hex, strlen(hex));
    for (int i = 0; i < 4; i++) {
        /* Hand the serialized text over without copying. */
        f[k].data = (unsigned char *)text[i];
        f[k++].len = parts[i].len;
        text[i] = NULL;
    }
    for (size_t i = 0; i < m->nbuffers; i++)
        set_blob(&f[k++], m->buffers[i].data, m->buffers[i].len);
    out->frames = f;
    out->n = n;
    rc = 0;
out:
    for (int i = 0; i < 4; i++)
        free(text[i]);
    return rc;
}

int jwire_remember(const struct jwire *w, struct jreplay *replay)
{
    for (size_t i = 0; i + 1 < w->n; i++) {
        const struct jblob *f = &w->frames[i];
        if (f->len != JMSG_DELIM_LEN || memcmp(f->data, JMSG_DELIM, JMSG_DELIM_LEN))
            continue;
        unsigned char d[JSIGN_DIGEST_LEN];
        if (jsign_unhex(w->frames[i + 1].data, w->frames[i + 1].len, d))
            return -EINVAL;
        if (!jreplay_seen(replay, d))
            jreplay_add(replay, d);
        return 0;
    }
    return -EINVAL;
}

static const char *header_str(const struct jmsg *m, const char *key)
{
    const char *s = json_string_value(json_object_get(m->header, key));
    return s ? s : "";
}

const char *jmsg_type(const struct jmsg *m)
{
    return header_str(m, "msg_type");
}

const char *jmsg_id(const struct jmsg *m)
{
    return header_str(m, "msg_id");
}

void jmsg_uuid(char out[37])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        fputs("iopsd: OpenSSL RAND_bytes failed\n", stderr);
        abort();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = digits[b[i] >> 4];
        out[k++] = digits[b[i] & 15];
    }
    out[k] = '\0';
}

void jmsg_date(const struct timespec *ts, char out[32])
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    long usec = ts->tv_nsec / 1000;
    if (usec < 0 || usec > 999999)
        usec = 0;
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
    snprintf(out, 32, "%.31s", tmp);
}

json_t *jmsg_header_new(const char *msg_type, const char *session, const char *username)
{
    char id[37], date[32];
    struct timespec ts;
    jmsg_uuid(id);
    clock_gettime(CLOCK_REALTIME, &ts);
    jmsg_date(&ts, date);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", id, "session", session, "username",
                     username, "date", date, "msg_type", msg_type, "version",
                     JMSG_PROTOCOL_VERSION);
}

void jmsg_build(struct jmsg *m, const char *msg_type, const char *session, const char *username,
                const struct jmsg *parent, json_t *content, const struct jmsg *route)
{
    jmsg_release(m);
    m->header = jmsg_header_new(msg_type, session, username);
    m->parent = parent && parent->header ? json_deep_copy(parent->header) : json_object();
    m->metadata = json_object();
    m->content = content ? content : json_object();
    if (route && route->nidents) {
        m->idents = xcalloc(route->nidents, sizeof *m->idents);
        for (size_t i = 0; i < route->nidents; i++)
            set_blob(&m->idents[i], route->idents[i].data, route->idents[i].len);
        m->nidents = route->nidents;
    }
}
