/* jconn: Jupyter connection files (tcp and ipc transports).
 *
 * The file names the transport, the address, the five ports, the HMAC key
 * and its scheme. Anything missing or malformed is reported as a one-line
 * message naming the field (the CLI prints it and exits with status 2). */
#ifndef IOPSD_JCONN_H
#define IOPSD_JCONN_H

#include <stddef.h>

/* A connection file larger than this is refused. */
#define JCONN_FILE_MAX (64u << 10)
#define JCONN_IP_MAX   200

enum jconn_channel { JCONN_SHELL, JCONN_IOPUB, JCONN_STDIN, JCONN_CONTROL, JCONN_HB, JCONN_NCHAN };

struct jconn {
    char transport[4];         /* "tcp" or "ipc" */
    char ip[JCONN_IP_MAX + 1]; /* tcp: address; ipc: path prefix */
    int ports[JCONN_NCHAN];    /* indexed by enum jconn_channel */
    char *key;                 /* owned, NUL-terminated; "" = no signing */
    size_t keylen;
    char scheme[32];       /* "hmac-sha256" */
    char kernel_name[128]; /* informational; may be "" */
};

/* "shell_port", "iopub_port", ... */
const char *jconn_port_name(enum jconn_channel c);

/* Parses the JSON text of a connection file. Returns 0 or -EINVAL with a
 * message such as "field 'hb_port': must be an integer 1..65535". */
int jconn_parse(struct jconn *c, const char *text, size_t len, char *err, size_t errlen);
/* Reads (capped at JCONN_FILE_MAX) and parses path; messages start with the path. */
int jconn_load(struct jconn *c, const char *path, char *err, size_t errlen);
void jconn_release(struct jconn *c);

/* "tcp://IP:PORT" or "ipc://IP-PORT" for channel ch. Returns 0 or -ENAMETOOLONG. */
int jconn_endpoint(const struct jconn *c, enum jconn_channel ch, char *out, size_t outlen);

#endif
