/* jconn: parsing connection files; reading is kept apart from parsing. */
#include "protocol/jconn.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A tcp address the kernel can bind and clients can connect to: a numeric
 * IPv4 or IPv6 address, or "*" (every interface). */
static bool numeric_ip(const char *ip)
{
    unsigned char addr[16];
    return !strcmp(ip, "*") || inet_pton(AF_INET, ip, addr) == 1 ||
           inet_pton(AF_INET6, ip, addr) == 1;
}

/* Messages quote the file (jansson's error text, a bad address): control
 * characters become '?', so a message stays one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
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
        if (errlen)
            one_line(err);
        return -EINVAL;
    }
    int rc = -EINVAL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    char transport[32];
    if (get_string(root, "transport", "tcp", transport, sizeof transport, err, errlen))
        goto out;
    if (!strcmp(transport, "inproc")) {
        snprintf(err, errlen,
                 "field 'transport': \"inproc\" only connects threads of one process; use "
                 "\"tcp\" or \"ipc\"");
        goto out;
    }
    if (strcmp(transport, "tcp") && strcmp(transport, "ipc")) {
        snprintf(err, errlen, "field 'transport': must be \"tcp\" or \"ipc\"");
        goto out;
    }
    memcpy(c->transport, transport, sizeof c->transport);
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
    if (!strcmp(c->transport, "tcp") && !numeric_ip(c->ip)) {
        snprintf(err, errlen,
                 "field 'ip': \"%.64s\" is not a numeric address; use one such as 127.0.0.1, "
                 "::1 or 0.0.0.0 (ZeroMQ binds addresses, not host names)",
                 c->ip);
        goto out;
    }
    c->keylen = json_string_length(key);
    c->key = xmalloc(c->keylen + 1);
    memcpy(c->key, json_string_value(key), c->keylen + 1);
    rc = 0;
out:
    if (rc && errlen)
        one_line(err);
    json_decref(root);
    return rc;
}

int jconn_load(struct jconn *c, const char *path, char *err, size_t errlen)
{
    struct buf b;
    buf_init(&b, 0);
    memset(c, 0, sizeof *c);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; anything but a
     * regular file is then refused. */
    int rc = 0;
    struct stat st = {0};
    bool notreg = false;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        rc = -errno;
    else if (fstat(fd, &st))
        rc = -errno;
    else if ((notreg = !S_ISREG(st.st_mode)))
        rc = -EINVAL;
    else
        rc = buf_slurp_fd(&b, fd, JCONN_FILE_MAX);
    if (fd >= 0)
        close(fd);
    if (notreg) {
        snprintf(err, errlen, "connection file %s: not a regular file (%s)", path,
                 S_ISFIFO(st.st_mode)   ? "a FIFO"
                 : S_ISDIR(st.st_mode)  ? "a directory"
                 : S_ISSOCK(st.st_mode) ? "a socket"
                                        : "a device");
    } else if (rc == -EFBIG) {
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
