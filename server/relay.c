/* relay: the wrap kernel's loop. The frontend's five channels are bound as
 * the native kernel binds them; the wrapped kernel's are connected (shell and
 * stdin DEALERs share one routing id, so the frontend's identities stack and
 * input_request finds its way back). One zmq_poll loop reads every socket at
 * all times and forwards each message as it arrives:
 *
 *   receive frames -> split -> verify (sender's key, replay guard)
 *   -> look at msg_type (and parent id) only -> new signature frame under the
 *   receiver's key -> send the same frames, the signature swapped.
 *
 * Header, parent header, metadata, content and buffers are never parsed back
 * into what is sent. The relay answers by itself only what it coordinates:
 * interrupts in signal mode, and the requests left unanswered when the
 * wrapped kernel dies. No ZMTP heartbeats on the private link: the kernel's
 * death is seen by SIGCHLD. */
#include "server/relay.h"
#include "server/cli.h"
#include "protocol/jraw.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

enum rch { RCH_SHELL, RCH_CONTROL, RCH_STDIN, RCH_IOPUB, RCH_N };
static const char *const rch_names[RCH_N] = {"shell", "control", "stdin", "iopub"};

#define LINGER_MS                 1000
#define ZMTP_HEARTBEAT_IVL_MS     2000
#define ZMTP_HEARTBEAT_TIMEOUT_MS 30000
#define FRONT_SNDHWM              11000
#define UP_HWM                    100000
#define IOPUB_HWM                 100000
/* the wrapped kernel's frames: trusted more than a frontend's, still capped */
#define UP_FRAME_MAX   (1024u << 20)
#define UP_MESSAGE_MAX ((size_t)2048u << 20)
/* start-up: kernel_info_request every NUDGE_MS until a reply and an iopub
 * message were seen (slow joiner), for at most START_TIMEOUT_MS */
#define NUDGE_MS         200
#define START_TIMEOUT_MS 60000
/* frontend messages held while the wrapped kernel starts */
#define HELD_MAX_MSGS  10000
#define HELD_MAX_BYTES (64u << 20)
/* shell requests remembered until their reply (to answer them if the kernel dies) */
#define OUTSTANDING_MAX 10000
#define BATCH           256
/* after shutdown_reply, how long the kernel has to exit by itself */
#define SHUTDOWN_GRACE_MS 1500

/* One received message: its frames as libzmq messages (moved on send). */
struct rmsg {
    zmq_msg_t *parts;
    size_t n;
};

struct held {
    enum rch ch;
    struct rmsg m;
    size_t bytes;
    struct held *next;
};

/* A shell request forwarded and not answered yet. */
struct outstanding {
    struct jblob *idents;
    size_t nidents;
    struct jblob header; /* its exact header frame (the parent of an answer) */
    char msg_id[128];
    char msg_type[64];
    struct outstanding *next;
};

struct relay {
    void *zctx;
    void *front[RCH_N]; /* ROUTER shell, control, stdin; PUB iopub */
    void *hb;
    void *up[RCH_N]; /* DEALER shell, control, stdin; SUB iopub */
    struct jsign fsign, usign;
    struct jreplay freplay, ureplay;
    struct relay_child child;
    char session[37]; /* the relay's own messages; found back in parent headers */
    unsigned long counter;
    bool ready, got_info, got_iopub;
    uint64_t next_nudge_ns, start_deadline_ns;
    bool interrupt_held; /* an interrupt that came before the kernel was ready */
    struct held *held, **held_tail;
    size_t nheld, held_bytes;
    struct outstanding *out;
    size_t nout;
    bool shutdown_sent; /* a shutdown_request went to the kernel */
    bool stop;
    int exit_status;
    int sigpipe[2];
};

static int sig_write_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (sig_write_fd >= 0)
        (void)!write(sig_write_fd, &c, 1);
    errno = saved;
}

static void *heartbeat_main(void *arg)
{
    zmq_proxy(arg, arg, NULL);
    zmq_close(arg);
    return NULL;
}

/* ---- messages as frames ---- */

static void rmsg_close(struct rmsg *m)
{
    for (size_t i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    free(m->parts);
    m->parts = NULL;
    m->n = 0;
}

/* Receives one multipart message without waiting. Returns 0, -EAGAIN when
 * none waits, or -E2BIG (more than JMSG_FRAMES_MAX + 1 frames: read and
 * discarded). */
static int rmsg_recv(void *s, struct rmsg *m)
{
    size_t cap = 8;
    m->parts = xcalloc(cap, sizeof *m->parts);
    m->n = 0;
    int more = 1, rc = 0;
    while (more) {
        zmq_msg_t tmp;
        bool keep = m->n <= JMSG_FRAMES_MAX;
        if (keep && m->n == cap)
            m->parts = xgrow(m->parts, &cap, m->n + 1, sizeof *m->parts);
        zmq_msg_t *dst = keep ? &m->parts[m->n] : &tmp;
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, s, m->n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(dst);
            rmsg_close(m);
            return m->n == 0 ? -e : -EIO;
        }
        more = zmq_msg_more(dst);
        if (keep)
            m->n++;
        else {
            zmq_msg_close(&tmp);
            rc = -E2BIG;
        }
    }
    if (rc)
        rmsg_close(m);
    return rc;
}

/* Sends every frame of m (which is emptied). Returns 0 or -errno of the
 * first frame's refusal. */
static int rmsg_send(void *s, struct rmsg *m)
{
    int rc = 0;
    for (size_t i = 0; i < m->n; i++) {
        int more = i + 1 < m->n ? ZMQ_SNDMORE : 0;
        if (zmq_msg_send(&m->parts[i], s, ZMQ_DONTWAIT | more) < 0) {
            rc = -zmq_errno();
            break;
        }
    }
    rmsg_close(m);
    return rc;
}

static int wire_send(void *s, const struct jwire *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (zmq_send(s, w->frames[i].data, w->frames[i].len,
                     ZMQ_DONTWAIT | (i + 1 < w->n ? ZMQ_SNDMORE : 0)) < 0)
            return -zmq_errno();
    return 0;
}

/* ---- the relay's own messages ---- */

/* Sends a message of the relay's own: a new header, `parent` (the exact
 * header frame of the request it answers; NULL: {}), content (stolen), to
 * the frontend on ch with idents (iopub: a topic). */
static void send_own(struct relay *r, enum rch ch, const struct jblob *idents, size_t nidents,
                     const char *msg_type, const struct jblob *parent, json_t *content)
{
    json_t *h = jmsg_header_new(msg_type, r->session, "iopsd");
    char id[80];
    snprintf(id, sizeof id, "%s_%d_%lu", r->session, (int)getpid(), ++r->counter);
    json_object_set_new(h, "msg_id", json_string(id));
    char *ht = json_dumps(h, JSON_COMPACT), *ct = json_dumps(content, JSON_COMPACT);
    json_decref(h);
    json_decref(content);
    struct jframe parts[4] = {
        {ht, strlen(ht)},
        {parent ? (const char *)parent->data : "{}", parent ? parent->len : 2},
        {"{}", 2},
        {ct, strlen(ct)}};
    struct jwire w;
    struct jblob topic = {(unsigned char *)"kernel.iopsd", 12};
    if (ch == RCH_IOPUB) {
        idents = &topic;
        nidents = 1;
    }
    if (jraw_compose(idents, nidents, parts, &r->fsign, &w) == 0) {
        int rc = wire_send(r->front[ch], &w);
        if (rc)
            fprintf(stderr, "iopsd kernel: %s on %s not delivered: %s\n", msg_type, rch_names[ch],
                    zmq_strerror(-rc));
        jwire_release(&w);
    }
    free(ht);
    free(ct);
}

static void publish_status(struct relay *r, const struct jblob *parent, const char *state)
{
    send_own(r, RCH_IOPUB, NULL, 0, "status", parent, json_pack("{s:s}", "execution_state", state));
}

/* A request of the relay's own to the wrapped kernel (no identities). */
static void send_up(struct relay *r, enum rch ch, const char *msg_type, json_t *content)
{
    json_t *h = jmsg_header_new(msg_type, r->session, "iopsd");
    char id[80];
    snprintf(id, sizeof id, "%s_%d_%lu", r->session, (int)getpid(), ++r->counter);
    json_object_set_new(h, "msg_id", json_string(id));
    char *ht = json_dumps(h, JSON_COMPACT), *ct = json_dumps(content, JSON_COMPACT);
    json_decref(h);
    json_decref(content);
    struct jframe parts[4] = {{ht, strlen(ht)}, {"{}", 2}, {"{}", 2}, {ct, strlen(ct)}};
    struct jwire w;
    if (jraw_compose(NULL, 0, parts, &r->usign, &w) == 0) {
        int rc = wire_send(r->up[ch], &w);
        if (rc)
            fprintf(stderr, "iopsd kernel: %s to the wrapped kernel not sent: %s\n", msg_type,
                    zmq_strerror(-rc));
        jwire_release(&w);
    }
    free(ht);
    free(ct);
}

/* True when the message answers one of the relay's own requests: its parent
 * header carries the relay's session id (random: no frontend's has it). */
static bool answers_own(const struct relay *r, const struct jraw *raw)
{
    const struct jframe *p = &jraw_parts(raw)[JRAW_PARENT];
    return memmem(p->data, p->len, r->session, strlen(r->session)) != NULL;
}

/* ---- interrupts, outstanding requests ---- */

static void interrupt_child(struct relay *r)
{
    if (!r->ready) {
        r->interrupt_held = true;
        return;
    }
    if (r->child.spec.interrupt_mode == JSPEC_INTERRUPT_MESSAGE)
        send_up(r, RCH_CONTROL, "interrupt_request", json_object());
    else
        relay_child_signal(&r->child, SIGINT);
}

static void blob_set(struct jblob *b, const void *p, size_t len)
{
    b->data = xmalloc(len ? len : 1);
    if (len)
        memcpy(b->data, p, len);
    b->len = len;
}

static void outstanding_free(struct outstanding *o)
{
    for (size_t i = 0; i < o->nidents; i++)
        free(o->idents[i].data);
    free(o->idents);
    free(o->header.data);
    free(o);
}

static void track(struct relay *r, const struct jraw *raw, const char *msg_type)
{
    json_t *h = jraw_peek(raw, JRAW_HEADER);
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    if (!id || r->nout >= OUTSTANDING_MAX) {
        json_decref(h);
        return;
    }
    struct outstanding *o = xcalloc(1, sizeof *o);
    snprintf(o->msg_id, sizeof o->msg_id, "%s", id);
    snprintf(o->msg_type, sizeof o->msg_type, "%s", msg_type);
    json_decref(h);
    o->nidents = raw->nidents;
    o->idents = xcalloc(raw->nidents ? raw->nidents : 1, sizeof *o->idents);
    for (size_t i = 0; i < raw->nidents; i++)
        blob_set(&o->idents[i], raw->frames[i].data, raw->frames[i].len);
    const struct jframe *hf = &jraw_parts(raw)[JRAW_HEADER];
    blob_set(&o->header, hf->data, hf->len);
    /* appended: answered in order, so the search from the head is short */
    struct outstanding **t = &r->out;
    while (*t)
        t = &(*t)->next;
    *t = o;
    r->nout++;
}

static void untrack(struct relay *r, const struct jraw *raw)
{
    char pid[128];
    if (jraw_parent_id(raw, pid, sizeof pid) || !pid[0])
        return;
    for (struct outstanding **p = &r->out; *p; p = &(*p)->next)
        if (!strcmp((*p)->msg_id, pid)) {
            struct outstanding *o = *p;
            *p = o->next;
            outstanding_free(o);
            r->nout--;
            return;
        }
}

/* The wrapped kernel died: every request it left unanswered gets an error
 * (on iopub for a cell, then its reply) and its idle, so no cell waits. */
static void answer_orphans(struct relay *r, const char *why)
{
    while (r->out) {
        struct outstanding *o = r->out;
        r->out = o->next;
        r->nout--;
        json_t *tb = json_pack("[s]", why);
        if (!strcmp(o->msg_type, "execute_request"))
            send_own(r, RCH_IOPUB, NULL, 0, "error", &o->header,
                     json_pack("{s:s, s:s, s:O}", "ename", "KernelDied", "evalue", why, "traceback",
                               tb));
        char reply[80];
        size_t tl = strlen(o->msg_type);
        if (tl > 8 && !strcmp(o->msg_type + tl - 8, "_request"))
            snprintf(reply, sizeof reply, "%.*s_reply", (int)(tl - 8), o->msg_type);
        else
            snprintf(reply, sizeof reply, "%s", "error");
        if (strcmp(reply, "error"))
            send_own(r, RCH_SHELL, o->idents, o->nidents, reply, &o->header,
                     json_pack("{s:s, s:i, s:s, s:s, s:O}", "status", "error", "execution_count", 0,
                               "ename", "KernelDied", "evalue", why, "traceback", tb));
        json_decref(tb);
        publish_status(r, &o->header, "idle");
        outstanding_free(o);
    }
}

/* ---- forwarding ---- */

enum verdict { FORWARD, CONSUMED };

/* A verified message from the frontend: what the relay must look at. */
static enum verdict from_front(struct relay *r, enum rch ch, const struct jraw *raw)
{
    char type[64];
    if (jraw_msg_type(raw, type, sizeof type))
        type[0] = '\0';
    if (ch == RCH_CONTROL && !strcmp(type, "interrupt_request") &&
        r->child.spec.interrupt_mode == JSPEC_INTERRUPT_SIGNAL) {
        /* The wrapped kernel takes interrupts as SIGINT: the relay answers. */
        const struct jframe *hf = &jraw_parts(raw)[JRAW_HEADER];
        struct jblob parent = {(unsigned char *)hf->data, hf->len};
        struct jblob *ids = xcalloc(raw->nidents ? raw->nidents : 1, sizeof *ids);
        for (size_t i = 0; i < raw->nidents; i++)
            ids[i] = (struct jblob){(unsigned char *)raw->frames[i].data, raw->frames[i].len};
        publish_status(r, &parent, "busy");
        interrupt_child(r);
        send_own(r, RCH_CONTROL, ids, raw->nidents, "interrupt_reply", &parent,
                 json_pack("{s:s}", "status", "ok"));
        publish_status(r, &parent, "idle");
        free(ids);
        return CONSUMED;
    }
    if (!strcmp(type, "shutdown_request"))
        r->shutdown_sent = true;
    if (ch == RCH_SHELL)
        track(r, raw, type);
    return FORWARD;
}

/* A verified message from the wrapped kernel. */
static enum verdict from_up(struct relay *r, enum rch ch, const struct jraw *raw)
{
    if (ch == RCH_IOPUB)
        r->got_iopub = true;
    if (answers_own(r, raw)) {
        char type[64];
        if (ch == RCH_SHELL && !jraw_msg_type(raw, type, sizeof type) &&
            !strcmp(type, "kernel_info_reply"))
            r->got_info = true;
        return CONSUMED;
    }
    if (ch == RCH_SHELL)
        untrack(r, raw);
    if (ch == RCH_CONTROL) {
        char type[64];
        if (!jraw_msg_type(raw, type, sizeof type) && !strcmp(type, "shutdown_reply"))
            r->stop = true; /* after forwarding it */
    }
    return FORWARD;
}

static void hold(struct relay *r, enum rch ch, struct rmsg *m)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m->n; i++)
        bytes += zmq_msg_size(&m->parts[i]);
    if (r->nheld >= HELD_MAX_MSGS || r->held_bytes + bytes > HELD_MAX_BYTES) {
        fprintf(stderr,
                "iopsd kernel: the wrapped kernel is still starting and %zu messages "
                "wait: dropped one on %s\n",
                r->nheld, rch_names[ch]);
        rmsg_close(m);
        return;
    }
    struct held *h = xcalloc(1, sizeof *h);
    h->ch = ch;
    h->m = *m; /* moved */
    h->bytes = bytes;
    m->parts = NULL;
    m->n = 0;
    *r->held_tail = h;
    r->held_tail = &h->next;
    r->nheld++;
    r->held_bytes += bytes;
}

static void release_held(struct relay *r)
{
    while (r->held) {
        struct held *h = r->held;
        r->held = h->next;
        int rc = rmsg_send(r->up[h->ch], &h->m);
        if (rc)
            fprintf(stderr, "iopsd kernel: a held %s message was not forwarded: %s\n",
                    rch_names[h->ch], zmq_strerror(-rc));
        free(h);
    }
    r->held_tail = &r->held;
    r->nheld = r->held_bytes = 0;
}

/* Reads what waits on one side of channel ch (at most BATCH messages) and
 * forwards it to the other side. */
static void pump(struct relay *r, enum rch ch, bool front)
{
    void *src = front ? r->front[ch] : r->up[ch];
    void *dst = front ? r->up[ch] : r->front[ch];
    const struct jsign *in = front ? &r->fsign : &r->usign, *out = front ? &r->usign : &r->fsign;
    struct jreplay *guard = front ? &r->freplay : &r->ureplay;
    const char *side = front ? "the frontend" : "the wrapped kernel";
    for (int i = 0; i < BATCH && !r->stop; i++) {
        struct rmsg m;
        int rc = rmsg_recv(src, &m);
        if (rc == -EAGAIN || rc == -EINTR || rc == -ETERM)
            return;
        if (rc) {
            fprintf(stderr, "iopsd kernel: dropped a message from %s on %s: %s\n", side,
                    rch_names[ch], rc == -E2BIG ? "too many frames" : zmq_strerror(-rc));
            continue;
        }
        struct jframe *f = xcalloc(m.n, sizeof *f);
        for (size_t k = 0; k < m.n; k++)
            f[k] = (struct jframe){zmq_msg_data(&m.parts[k]), zmq_msg_size(&m.parts[k])};
        struct jraw raw;
        char err[256];
        rc = front ? jraw_split(&raw, f, m.n, err, sizeof err)
                   : jraw_split_capped(&raw, f, m.n, UP_FRAME_MAX, UP_MESSAGE_MAX, err, sizeof err);
        if (!rc)
            rc = jraw_verify(&raw, in, guard, err, sizeof err);
        enum verdict v = CONSUMED;
        char hex[JSIGN_HEX_LEN + 1];
        if (!rc)
            v = front ? from_front(r, ch, &raw) : from_up(r, ch, &raw);
        if (!rc && v == FORWARD)
            rc = jraw_resign(&raw, out, hex);
        size_t sig_at = rc ? 0 : raw.nidents + 1;
        free(f);
        if (rc) {
            fprintf(stderr, "iopsd kernel: dropped a message from %s on %s: %s\n", side,
                    rch_names[ch], err[0] ? err : "cannot sign");
            rmsg_close(&m);
            continue;
        }
        if (v == CONSUMED) {
            rmsg_close(&m);
            continue;
        }
        /* Only the signature frame changes. */
        zmq_msg_close(&m.parts[sig_at]);
        zmq_msg_init_size(&m.parts[sig_at], strlen(hex));
        memcpy(zmq_msg_data(&m.parts[sig_at]), hex, strlen(hex));
        if (front && !r->ready) {
            hold(r, ch, &m);
            continue;
        }
        rc = rmsg_send(dst, &m);
        if (rc)
            fprintf(stderr, "iopsd kernel: a message from %s on %s was not forwarded: %s\n", side,
                    rch_names[ch], zmq_strerror(-rc));
    }
}

/* ---- sockets ---- */

static void *bind_front(struct relay *r, int type, const struct jconn *c, enum jconn_channel ch,
                        char *err, size_t errlen)
{
    char ep[512];
    if (jconn_endpoint(c, ch, ep, sizeof ep)) {
        snprintf(err, errlen, "endpoint for %s too long", jconn_port_name(ch));
        return NULL;
    }
    void *s = zmq_socket(r->zctx, type);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = LINGER_MS, one = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    int hb_ivl = ZMTP_HEARTBEAT_IVL_MS, hb_timeout = ZMTP_HEARTBEAT_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl);
    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
    if (type == ZMQ_ROUTER) {
        int64_t maxmsg = JMSG_FRAME_MAX;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        int hwm = FRONT_SNDHWM;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    if (type == ZMQ_PUB) {
        int hwm = IOPUB_HWM;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    if (strchr(c->ip, ':'))
        zmq_setsockopt(s, ZMQ_IPV6, &one, sizeof one);
    if (zmq_bind(s, ep) != 0) {
        snprintf(err, errlen, "cannot bind %s (%.300s): %s", jconn_port_name(ch), ep,
                 zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* A socket connected to the wrapped kernel's channel ch. */
static void *connect_up(struct relay *r, int type, enum jconn_channel ch, const char *routing_id,
                        char *err, size_t errlen)
{
    char ep[512];
    if (jconn_endpoint(&r->child.conn, ch, ep, sizeof ep)) {
        snprintf(err, errlen, "private endpoint too long");
        return NULL;
    }
    void *s = zmq_socket(r->zctx, type);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = 0, hwm = UP_HWM, ivl = 20;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (routing_id)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, routing_id, strlen(routing_id));
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(s, ep) != 0) {
        snprintf(err, errlen, "cannot connect to %.300s: %s", ep, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* ---- the loop ---- */

static void child_gone(struct relay *r)
{
    char how[128], why[320];
    relay_child_describe(&r->child, how, sizeof how);
    if (r->shutdown_sent) {
        r->stop = true;
        return;
    }
    snprintf(why, sizeof why, "The wrapped kernel '%s' (pid %d) %s.", r->child.spec.name,
             (int)r->child.pid, how);
    fprintf(stderr, "iopsd kernel: %s\n", why);
    if (r->ready) {
        if (r->out)
            answer_orphans(r, why);
        else
            send_own(r, RCH_IOPUB, NULL, 0, "error", NULL,
                     json_pack("{s:s, s:s, s:[s]}", "ename", "KernelDied", "evalue", why,
                               "traceback", why));
    }
    r->stop = true;
    r->exit_status = RELAY_EXIT_WRAPPED_DIED;
}

static void handle_signals(struct relay *r)
{
    char c[16];
    ssize_t n;
    while ((n = read(r->sigpipe[0], c, sizeof c)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (c[i] == SIGINT) {
                interrupt_child(r);
            } else if (c[i] == SIGTERM || c[i] == SIGHUP) {
                r->stop = true;
                r->exit_status = 128 + c[i];
            }
        }
}

static void become_ready(struct relay *r)
{
    r->ready = true;
    release_held(r);
    if (r->interrupt_held) {
        r->interrupt_held = false;
        interrupt_child(r);
    }
}

static int serve(struct relay *r)
{
    r->start_deadline_ns = clock_mono_ns() + (uint64_t)START_TIMEOUT_MS * 1000000u;
    while (!r->stop) {
        uint64_t now = clock_mono_ns();
        long timeout = -1;
        if (!r->ready) {
            if (now >= r->start_deadline_ns) {
                fprintf(stderr,
                        "iopsd kernel: the wrapped kernel '%s' did not answer kernel_info "
                        "within %d s\n",
                        r->child.spec.name, START_TIMEOUT_MS / 1000);
                return EXIT_IOPSD_FAILED;
            }
            if (now >= r->next_nudge_ns) {
                send_up(r, RCH_SHELL, "kernel_info_request", json_object());
                r->next_nudge_ns = now + NUDGE_MS * 1000000u;
            }
            timeout = (long)((r->next_nudge_ns - now) / 1000000u) + 1;
        }
        zmq_pollitem_t items[] = {
            {r->front[RCH_SHELL], 0, ZMQ_POLLIN, 0}, {r->front[RCH_CONTROL], 0, ZMQ_POLLIN, 0},
            {r->front[RCH_STDIN], 0, ZMQ_POLLIN, 0}, {r->up[RCH_SHELL], 0, ZMQ_POLLIN, 0},
            {r->up[RCH_CONTROL], 0, ZMQ_POLLIN, 0},  {r->up[RCH_STDIN], 0, ZMQ_POLLIN, 0},
            {r->up[RCH_IOPUB], 0, ZMQ_POLLIN, 0},    {NULL, r->sigpipe[0], ZMQ_POLLIN, 0},
        };
        int rc = zmq_poll(items, 8, timeout);
        if (rc < 0 && zmq_errno() != EINTR) {
            fprintf(stderr, "iopsd kernel: zmq_poll: %s\n", zmq_strerror(zmq_errno()));
            return EXIT_IOPSD_FAILED;
        }
        /* The wrapped kernel's side first: its outputs go out before a death
         * notice, and replies to the relay's nudges make it ready. */
        if (rc > 0) {
            if (items[6].revents)
                pump(r, RCH_IOPUB, false);
            if (items[3].revents)
                pump(r, RCH_SHELL, false);
            if (items[4].revents)
                pump(r, RCH_CONTROL, false);
            if (items[5].revents)
                pump(r, RCH_STDIN, false);
        }
        if (!r->ready && r->got_info && r->got_iopub)
            become_ready(r);
        if (rc > 0) {
            if (items[1].revents)
                pump(r, RCH_CONTROL, true);
            if (items[0].revents)
                pump(r, RCH_SHELL, true);
            if (items[2].revents)
                pump(r, RCH_STDIN, true);
        }
        handle_signals(r);
        if (!r->stop && relay_child_reap(&r->child)) {
            /* Forward what the kernel sent before it went (its shutdown_reply). */
            for (int k = 0; k < RCH_N; k++)
                pump(r, (enum rch)k, false);
            child_gone(r);
        }
    }
    return r->exit_status;
}

int relay_main(const char *name, const char *connection_file)
{
    char err[1024];
    struct jconn conn;
    if (jconn_load(&conn, connection_file, err, sizeof err)) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    struct jspec spec;
    if (jspec_find(&spec, name, err, sizeof err)) {
        cli_error("kernel --wrap: %s", err);
        jconn_release(&conn);
        return EXIT_USAGE;
    }

    struct relay *r = xcalloc(1, sizeof *r);
    int status = EXIT_IOPSD_FAILED;
    r->held_tail = &r->held;
    r->sigpipe[0] = r->sigpipe[1] = -1;
    jmsg_uuid(r->session);
    if (jsign_init(&r->fsign, conn.scheme, conn.key, conn.keylen, err, sizeof err)) {
        cli_error("connection file %s: %s", connection_file, err);
        jspec_release(&spec);
        status = EXIT_USAGE;
        goto out_conn;
    }
    if (relay_child_prepare(&r->child, &spec, err, sizeof err) ||
        jsign_init(&r->usign, r->child.conn.scheme, r->child.conn.key, r->child.conn.keylen, err,
                   sizeof err)) {
        cli_error("kernel --wrap: %s", err);
        goto out_child;
    }
    jreplay_init(&r->freplay, JREPLAY_DEFAULT_CAP);
    jreplay_init(&r->ureplay, JREPLAY_DEFAULT_CAP);

    if (pipe2(r->sigpipe, O_CLOEXEC | O_NONBLOCK)) {
        cli_error("pipe: %s", strerror(errno));
        goto out_replay;
    }
    sig_write_fd = r->sigpipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The kernel starts before any thread exists (fork stays simple) and
     * while the sockets are set up. */
    if (relay_child_start(&r->child, err, sizeof err)) {
        cli_error("kernel --wrap: %s", err);
        goto out_signals;
    }

    r->zctx = zmq_ctx_new();
    static const int ftypes[RCH_N] = {ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_PUB};
    static const enum jconn_channel ports[RCH_N] = {JCONN_SHELL, JCONN_CONTROL, JCONN_STDIN,
                                                    JCONN_IOPUB};
    static const int utypes[RCH_N] = {ZMQ_DEALER, ZMQ_DEALER, ZMQ_DEALER, ZMQ_SUB};
    char rid[64], cid[64];
    snprintf(rid, sizeof rid, "iopsd-%d", (int)getpid());
    snprintf(cid, sizeof cid, "iopsd-%d-control", (int)getpid());
    const char *rids[RCH_N] = {rid, cid, rid, NULL};
    pthread_t hb_thread;
    bool hb_started = false;
    for (int i = 0; i < RCH_N; i++) {
        r->front[i] = bind_front(r, ftypes[i], &conn, ports[i], err, sizeof err);
        if (r->front[i])
            r->up[i] = connect_up(r, utypes[i], ports[i], rids[i], err, sizeof err);
        if (!r->front[i] || !r->up[i]) {
            cli_error("kernel: %s", err);
            goto out_sockets;
        }
    }
    r->hb = bind_front(r, ZMQ_ROUTER, &conn, JCONN_HB, err, sizeof err);
    if (!r->hb || pthread_create(&hb_thread, NULL, heartbeat_main, r->hb)) {
        if (r->hb)
            zmq_close(r->hb);
        cli_error("kernel: %s", r->hb ? "cannot start the heartbeat thread" : err);
        goto out_sockets;
    }
    hb_started = true;

    publish_status(r, NULL, "starting");
    status = serve(r);

out_sockets:
    for (int i = 0; i < RCH_N; i++) {
        if (r->front[i])
            zmq_close(r->front[i]);
        if (r->up[i])
            zmq_close(r->up[i]);
    }
    zmq_ctx_shutdown(r->zctx);
    if (hb_started)
        pthread_join(hb_thread, NULL);
    zmq_ctx_term(r->zctx);
    relay_child_stop(&r->child, r->shutdown_sent ? SHUTDOWN_GRACE_MS : 0);
out_signals:
    sig_write_fd = -1;
    close(r->sigpipe[0]);
    close(r->sigpipe[1]);
out_replay:
    while (r->held) {
        struct held *h = r->held;
        r->held = h->next;
        rmsg_close(&h->m);
        free(h);
    }
    while (r->out) {
        struct outstanding *o = r->out;
        r->out = o->next;
        outstanding_free(o);
    }
    jreplay_release(&r->freplay);
    jreplay_release(&r->ureplay);
out_child:
    relay_child_release(&r->child);
    jsign_release(&r->usign);
    jsign_release(&r->fsign);
out_conn:
    jconn_release(&conn);
    free(r);
    return status;
}
