/* jconn: parsing connection files; reading is kept apart from parsing. */
#include "protocol/jconn.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const port_names[JCONN_NCHAN] = {"shell_port", "iopub_port", "stdin_port",
                                                    "control_port", "hb_port"};

const char *jconn_port_name(enum jconn_channel c)
{
    return (unsigned)c < JCONN_NCHAN ? port_names[c] : "?";
}

/* Copies a required (or optional, when dflt != NULL) string field. */
static int get_string(json_t *root, const char *field, const char *dflt, char *out, size_t outlen,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(root, field);
    if (!v && dflt) {
        snprintf(out, outlen, "%s", dflt);
        return 0;
    }
    if (!v) {
        snprintf(err, errlen, "field '%s': missing", field);
        return -EINVAL;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "field '%s': must be a string", field);
        return -EINVAL;
    }
    size_t len = json_string_length(v);
    if (len >= outlen || memchr(json_string_value(v), '\0', len)) {
        snprintf(err, errlen, "field '%s': too long or contains NUL", field);
        return -EINVAL;
    }
    memcpy(out, json_string_value(v), len + 1);
    return 0;
}

int jconn_parse(struct jconn *c, const char *text, size_t len, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (len > JCONN_FILE_MAX) {
        snprintf(err, errlen, "larger than %u bytes", JCONN_FILE_MAX);
        return -EINVAL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
        return -EINVAL;
    }
    int rc = -EINVAL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    if (get_string(root, "transport", "tcp", c->transport, sizeof c->transport, err, errlen))
        goto out;
    if (strcmp(c->transport, "tcp") && strcmp(c->transport, "ipc")) {
        snprintf(err, errlen, "field 'transport': must be \"tcp\" or \"ipc\"");
        goto out;
    }
    if (get_string(root, "ip", NULL, c->ip, sizeof c->ip, err, errlen))
        goto out;
    if (!c->ip[0]) {
        snprintf(err, errlen, "field 'ip': empty");
        goto out;
    }
    for (int i = 0; i < JCONN_NCHAN; i++) {
        json_t *v = json_object_get(root, port_names[i]);
        if (!v) {
            snprintf(err, errlen, "field '%s': missing", port_names[i]);
            goto out;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535) {
            snprintf(err, errlen, "field '%s': must be an integer 1..65535", port_names[i]);
            goto out;
        }
        c->ports[i] = (int)json_integer_value(v);
        for (int j = 0; j < i; j++)
            if (c->ports[j] == c->ports[i]) {
                snprintf(err, errlen, "field '%s': same port as '%s'", port_names[i],
                         port_names[j]);
                goto out;
            }
    }
    json_t *key = json_object_get(root, "key");
    if (!key) {
        snprintf(err, errlen, "field 'key': missing");
        goto out;
    }
    if (!json_is_string(key)) {
        snprintf(err, errlen, "field 'key': must be a string");
        goto out;
    }
    if (get_string(root, "signature_scheme", "hmac-sha256", c->scheme, sizeof c->scheme, err,
                   errlen))
        goto out;
    if (strcmp(c->scheme, "hmac-sha256")) {
        snprintf(err, errlen, "field 'signature_scheme': unsupported \"%s\" (use hmac-sha256)",
                 c->scheme);
        goto out;
    }
    if (get_string(root, "kernel_name", "", c->kernel_name, sizeof c->kernel_name, err, errlen))
        goto out;
    c->keylen = json_string_length(key);
    c->key = xmalloc(c->keylen + 1);
    memcpy(c->key, json_string_value(key), c->keylen + 1);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int jconn_load(struct jconn *c, const char *path, char *err, size_t errlen)
{
    struct buf b;
    buf_init(&b, 0);
    memset(c, 0, sizeof *c);
    int rc = buf_slurp(&b, path, JCONN_FILE_MAX);
    if (rc == -EFBIG) {
        snprintf(err, errlen, "connection file %s: larger than %u bytes", path, JCONN_FILE_MAX);
    } else if (rc) {
        snprintf(err, errlen, "connection file %s: %s", path, strerror(-rc));
    } else {
        char msg[256];
        rc = jconn_parse(c, b.data ? b.data : "", b.len, msg, sizeof msg);
        if (rc)
            snprintf(err, errlen, "connection file %s: %s", path, msg);
    }
    buf_release(&b);
    return rc;
}

void jconn_release(struct jconn *c)
{
    free(c->key);
    c->key = NULL;
    c->keylen = 0;
}

int jconn_endpoint(const struct jconn *c, enum jconn_channel ch, char *out, size_t outlen)
{
    int n;
    if (!strcmp(c->transport, "ipc"))
        n = snprintf(out, outlen, "ipc://%s-%d", c->ip, c->ports[ch]);
    else if (strchr(c->ip, ':'))
        n = snprintf(out, outlen, "tcp://[%s]:%d", c->ip, c->ports[ch]);
    else
        n = snprintf(out, outlen, "tcp://%s:%d", c->ip, c->ports[ch]);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}
