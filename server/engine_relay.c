/* engine_relay: the wrap kernel's engine. The kernel loop (kernel.c) owns the
 * frontend's sockets, its key and replay guard; this engine owns the wrapped
 * kernel (relay_child.c) and the sockets connected to it (shell and stdin
 * DEALERs sharing one routing id, so the frontend's identities stack and
 * input_request finds its way back; a control DEALER; a SUB on iopub).
 *
 *   frontend -> kernel (verify) -> relay(): re-sign with the private key,
 *     forward the same frames (only the signature frame changes);
 *   wrapped kernel -> handle(): verify with the private key, look at the
 *     msg_type and parent id only -> ENGINE_EV_RELAY -> kernel (re-sign).
 *
 * Header, parent header, metadata, content and buffers are forwarded as
 * received. The relay answers by itself only what it coordinates: interrupts
 * in signal mode, the requests left unanswered when the wrapped kernel dies,
 * and the `%%iops` cells, which it measures with the shared magic layer:
 * the cell waits until the wrapped kernel is idle, is forwarded with the
 * magic stripped (header untouched, so every output keeps the frontend's
 * parent), its execute_input shows the cell as written, and its execute_reply
 * and idle are held until the report is published. No ZMTP heartbeats on the
 * private link: the kernel's death is seen through a pidfd. */
#include "server/relay.h"
#include "server/kernel_guard.h"
#include "server/kernel_iops.h"
#include "magics/magic.h"
#include "magics/magic_run.h"
#include "protocol/jraw.h"
#include "protocol/zmtp_oversize.h"
#include "util/clock.h"
#include "util/xalloc.h"
#include "version.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zmq.h>

/* The kernel's channels (enum kchan in kernel.h). */
enum rch { RCH_SHELL, RCH_CONTROL, RCH_STDIN, RCH_IOPUB, RCH_N };
static const char *const rch_names[RCH_N] = {"shell", "control", "stdin", "iopub"};

#define UP_HWM 100000
/* the wrapped kernel's frames: trusted more than a frontend's, still capped */
#define UP_FRAME_MAX   (1024u << 20)
#define UP_MESSAGE_MAX ((size_t)2048u << 20)
/* start-up: kernel_info_request every NUDGE_MS until a reply and an iopub
 * message were seen (slow joiner), for at most START_TIMEOUT_MS */
#define NUDGE_MS         200
#define START_TIMEOUT_MS 60000
/* frontend messages waiting (for the start, or behind a measured cell) */
#define HELD_MAX_MSGS   10000
#define HELD_MAX_BYTES  (64u << 20)
#define OUTSTANDING_MAX 10000
#define BATCH           256
/* ... or this many bytes: the kernel reads iopub while its own queue has
 * room, and one turn must not add much more than that room */
#define BATCH_BYTES (8u << 20)
/* after shutdown_reply, how long the kernel has to exit by itself */
#define SHUTDOWN_GRACE_MS 1500
/* a measured cell's held execute_reply goes out at the latest this long
 * after it came, if the wrapped kernel's idle does not */
#define IDLE_WAIT_MS 2000
/* without a pidfd, how often the kernel's liveness is checked */
#define REAP_EVERY_MS 100

/* One message as libzmq frames (moved on send). */
struct rmsg {
    zmq_msg_t *parts;
    size_t n;
};

/* A frontend message not forwarded yet, already signed for the kernel. */
struct held {
    enum rch ch;
    struct rmsg m;
    size_t bytes;
    struct held *next;
};

/* A request forwarded on shell and not answered yet. */
struct outstanding {
    struct jblob *idents;
    size_t nidents;
    struct jblob header; /* its exact header frame (the parent of an answer) */
    char msg_id[128];
    char msg_type[64];
    struct outstanding *next;
};

/* A complete_request forwarded without its magic line: the reply's cursor
 * positions move back by `offset` code points. */
struct shifted {
    char msg_id[128];
    long offset;
    struct shifted *next;
};
#define SHIFTED_MAX 64

/* The `%%iops` cell in flight (at most one). A cell with a `%iops` line
 * among other lines runs as parts (magic_parts: before, the line, after),
 * one request each, in order; the parts before the last go silent (no
 * execute_input, no execution count, no execute_result), the last one with
 * the frontend's own flags; an error in any part ends the cell. */
struct mcell {
    bool active, started;
    bool plain;      /* a cell without a magic, measured for `%iops auto` or `start` */
    bool auto_cell;  /* ... for `%iops auto on`: a one-line summary under it */
    int reply_count; /* the measured part's execute_reply's execution_count; -1 */
    bool control;    /* a control line among other lines: its slot runs in iopsd */
    struct magic magic;
    struct magic_parts parts; /* strings into magic */
    int part;                 /* the part running */
    bool announced;           /* several parts: the relay published execute_input */
    int count;                /* ... with this execution_count */
    bool store_history;       /* the frontend's flag (the last part keeps it) */
    bool interrupt_pending;   /* an interrupt came while a part ran: no further part */
    bool measured_ran;        /* the measured part was sent */
    struct magic_run *run;
    struct rmsg req; /* the execute_request as received (each part is a copy) */
    char msg_id[128];
    struct jblob header;
    struct jblob *idents;
    size_t nidents;
    char *code;              /* the cell as written */
    struct rmsg reply, idle; /* held until the report is out */
    uint64_t reply_at_ns;
    int exit_status;
    bool interrupted;
    bool silent;        /* no display */
    bool stop_on_error; /* a failure aborts the execute_requests queued behind */
};

struct engine_relay {
    struct engine base;
    engine_event_fn fn;
    void *ctx;
    void *zctx;
    void *up[RCH_N];
    struct jsign usign;
    struct jreplay ureplay;
    struct relay_child child;
    int pidfd;        /* -1: liveness by waitpid every REAP_EVERY_MS */
    char session[37]; /* the relay's own messages; found back in parent headers */
    unsigned long counter;
    bool ready, got_info, got_iopub, exited;
    bool tcp_retried; /* started again on tcp after dying on ipc */
    uint64_t start_ns, next_nudge_ns;
    bool interrupt_held;
    struct held *held, **held_tail; /* waiting for the start or behind a magic cell */
    size_t nheld, held_bytes;
    struct outstanding *out;
    size_t nout;
    int busy;       /* the wrapped kernel's busy minus idle (frontend requests) */
    int last_count; /* the last execution_count the wrapped kernel replied */
    bool shutdown_sent;
    struct mcell cell;
    struct kiops iops;       /* %iops auto, start..stop, history (kernel_iops.c) */
    struct shifted *shifted; /* complete requests whose magic line was stripped */
    size_t nshifted;
    char last_own_id[96];         /* msg_id of the relay's last own message */
    char bump_id[96];             /* an own execute_request in flight (counter catch-up); "" */
    bool bump_replied, bump_idle; /* its reply and its idle came (done when both) */
    struct jblob input_parent;    /* the last input_request's parent header frame */
};

static struct engine_relay *er(struct engine *e)
{
    return (struct engine_relay *)e;
}

/* ---- frames ---- */

static void rmsg_close(struct rmsg *m)
{
    for (size_t i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    free(m->parts);
    m->parts = NULL;
    m->n = 0;
}

/* One multipart message without waiting: 0, -EAGAIN, or -E2BIG (too many
 * frames: read and discarded). */
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
            bool first = m->n == 0;
            zmq_msg_close(dst);
            rmsg_close(m);
            return first ? -e : -EIO;
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

/* A copy of borrowed frames as a message of its own. */
static void rmsg_from_frames(struct rmsg *m, const struct jframe *f, size_t n)
{
    m->parts = xcalloc(n ? n : 1, sizeof *m->parts);
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        zmq_msg_init_size(&m->parts[i], f[i].len);
        if (f[i].len)
            memcpy(zmq_msg_data(&m->parts[i]), f[i].data, f[i].len);
    }
}

static struct jframe *rmsg_view(const struct rmsg *m)
{
    struct jframe *f = xcalloc(m->n ? m->n : 1, sizeof *f);
    for (size_t i = 0; i < m->n; i++)
        f[i] = (struct jframe){zmq_msg_data(&m->parts[i]), zmq_msg_size(&m->parts[i])};
    return f;
}

static void set_frame(zmq_msg_t *z, const void *p, size_t len)
{
    zmq_msg_close(z);
    zmq_msg_init_size(z, len);
    if (len)
        memcpy(zmq_msg_data(z), p, len);
}

/* Sends m (emptied). 0 or -errno of the first refusal. */
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

/* ---- to the frontend (through the kernel, which signs) ---- */

static void emit_frames(struct engine_relay *r, enum rch ch, const struct jframe *f, size_t n)
{
    struct engine_event ev = {.type = ENGINE_EV_RELAY, .chan = ch, .frames = f, .nframes = n};
    r->fn(r->ctx, &ev);
}

static void emit(struct engine_relay *r, enum rch ch, const struct rmsg *m)
{
    struct jframe *f = rmsg_view(m);
    struct engine_event ev = {
        .type = ENGINE_EV_RELAY, .chan = ch, .frames = f, .nframes = m->n, .msgs = m->parts};
    r->fn(r->ctx, &ev);
    free(f);
}

/* A new header of the relay's own (its session: answers are recognised). */
static char *own_header(struct engine_relay *r, const char *msg_type)
{
    json_t *h = jmsg_header_new(msg_type, r->session, "iopsd");
    char id[96];
    snprintf(id, sizeof id, "%s_%d_%lu", r->session, (int)getpid(), ++r->counter);
    snprintf(r->last_own_id, sizeof r->last_own_id, "%s", id);
    json_object_set_new(h, "msg_id", json_string(id));
    char *t = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    return t;
}

/* A message of the relay's own to the frontend: parent is the exact header
 * frame of the request it belongs to (NULL: {}), content is stolen. */
static void send_own(struct engine_relay *r, enum rch ch, const struct jblob *idents,
                     size_t nidents, const char *msg_type, const struct jblob *parent,
                     json_t *content)
{
    char *ht = own_header(r, msg_type), *ct = json_dumps(content, JSON_COMPACT);
    json_decref(content);
    struct jblob topic = {(unsigned char *)"kernel.iopsd", 12};
    if (ch == RCH_IOPUB) {
        idents = &topic;
        nidents = 1;
    }
    size_t n = nidents + 6;
    struct jframe *f = xcalloc(n, sizeof *f);
    for (size_t i = 0; i < nidents; i++)
        f[i] = (struct jframe){idents[i].data, idents[i].len};
    f[nidents] = (struct jframe){JMSG_DELIM, JMSG_DELIM_LEN};
    f[nidents + 1] = (struct jframe){"", 0};
    f[nidents + 2] = (struct jframe){ht, strlen(ht)};
    f[nidents + 3] = parent ? (struct jframe){parent->data, parent->len} : (struct jframe){"{}", 2};
    f[nidents + 4] = (struct jframe){"{}", 2};
    f[nidents + 5] = (struct jframe){ct, strlen(ct)};
    emit_frames(r, ch, f, n);
    free(f);
    free(ht);
    free(ct);
}

static void publish_status(struct engine_relay *r, const struct jblob *parent, const char *state)
{
    send_own(r, RCH_IOPUB, NULL, 0, "status", parent, json_pack("{s:s}", "execution_state", state));
}

/* Signs parts (header, parent, metadata, content) with the private key and
 * sends them to the wrapped kernel after the identities. */
static void send_composed(struct engine_relay *r, enum rch ch, const struct jblob *idents,
                          size_t nidents, const struct jframe parts[4], const char *msg_type)
{
    struct jwire w;
    if (jraw_compose(idents, nidents, parts, &r->usign, &w))
        return;
    for (size_t i = 0; i < w.n; i++)
        if (zmq_send(r->up[ch], w.frames[i].data, w.frames[i].len,
                     ZMQ_DONTWAIT | (i + 1 < w.n ? ZMQ_SNDMORE : 0)) < 0) {
            fprintf(stderr, "iopsd kernel: %s to the wrapped kernel not sent: %s\n", msg_type,
                    zmq_strerror(zmq_errno()));
            break;
        }
    jwire_release(&w);
}

/* A request of the relay's own to the wrapped kernel (no identities). */
static void send_up(struct engine_relay *r, enum rch ch, const char *msg_type, json_t *content)
{
    char *ht = own_header(r, msg_type), *ct = json_dumps(content, JSON_COMPACT);
    json_decref(content);
    struct jframe parts[4] = {{ht, strlen(ht)}, {"{}", 2}, {"{}", 2}, {ct, strlen(ct)}};
    send_composed(r, ch, NULL, 0, parts, msg_type);
    free(ht);
    free(ct);
}

/* The message answers one of the relay's own requests: its parent header
 * carries the relay's session id (random: no frontend's has it). */
static bool answers_own(const struct engine_relay *r, const struct jraw *raw)
{
    const struct jframe *p = &jraw_parts(raw)[JRAW_PARENT];
    return memmem(p->data, p->len, r->session, strlen(r->session)) != NULL;
}

static void blob_set(struct jblob *b, const void *p, size_t len)
{
    b->data = xmalloc(len ? len : 1);
    if (len)
        memcpy(b->data, p, len);
    b->len = len;
}

static struct jblob *idents_copy(const struct jraw *raw)
{
    struct jblob *ids = xcalloc(raw->nidents ? raw->nidents : 1, sizeof *ids);
    for (size_t i = 0; i < raw->nidents; i++)
        blob_set(&ids[i], raw->frames[i].data, raw->frames[i].len);
    return ids;
}

static void idents_free(struct jblob *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i].data);
    free(ids);
}

/* An input_reply the front drained for being over its caps (its stand-in,
 * verified by the kernel): the wrapped kernel gets end of file in its place
 * ("\x04": ipykernel's input() raises EOFError), the cell a line saying so. */
static void input_oversized(struct engine_relay *r, const struct jraw *raw)
{
    const struct jframe *p = jraw_parts(raw);
    json_t *c = json_loadb(p[JRAW_CONTENT].data, p[JRAW_CONTENT].len, 0, NULL);
    char line[320];
    zov_input_notice(line, sizeof line, c);
    json_decref(c);
    struct jblob parent = r->input_parent;
    if (!parent.data)
        parent = (struct jblob){(unsigned char *)p[JRAW_PARENT].data, p[JRAW_PARENT].len};
    send_own(r, RCH_IOPUB, NULL, 0, "stream", &parent,
             json_pack("{s:s, s:s}", "name", "stderr", "text", line));
    static const char eof[] = "{\"value\": \"\\u0004\"}";
    struct jframe parts[4] = {
        p[JRAW_HEADER], p[JRAW_PARENT], p[JRAW_METADATA], {eof, sizeof eof - 1}};
    struct jblob *ids = idents_copy(raw);
    send_composed(r, RCH_STDIN, ids, raw->nidents, parts, "input_reply");
    idents_free(ids, raw->nidents);
}

/* ---- requests in flight ---- */

static void outstanding_free(struct outstanding *o)
{
    idents_free(o->idents, o->nidents);
    free(o->header.data);
    free(o);
}

static void track(struct engine_relay *r, const struct jraw *raw, const char *msg_type)
{
    size_t tl = strlen(msg_type);
    if (tl < 8 || strcmp(msg_type + tl - 8, "_request") || r->nout >= OUTSTANDING_MAX)
        return; /* comm messages get no reply */
    json_t *h = jraw_peek(raw, JRAW_HEADER);
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    if (!id) {
        json_decref(h);
        return;
    }
    struct outstanding *o = xcalloc(1, sizeof *o);
    snprintf(o->msg_id, sizeof o->msg_id, "%s", id);
    snprintf(o->msg_type, sizeof o->msg_type, "%s", msg_type);
    json_decref(h);
    o->nidents = raw->nidents;
    o->idents = idents_copy(raw);
    const struct jframe *hf = &jraw_parts(raw)[JRAW_HEADER];
    blob_set(&o->header, hf->data, hf->len);
    struct outstanding **t = &r->out;
    while (*t)
        t = &(*t)->next;
    *t = o;
    r->nout++;
}

static void untrack(struct engine_relay *r, const char *parent_id)
{
    for (struct outstanding **p = &r->out; *p; p = &(*p)->next)
        if (!strcmp((*p)->msg_id, parent_id)) {
            struct outstanding *o = *p;
            *p = o->next;
            outstanding_free(o);
            r->nout--;
            return;
        }
}

static bool wrapped_idle(const struct engine_relay *r)
{
    return r->ready && r->nout == 0 && r->busy <= 0 && !r->bump_id[0];
}

/* ---- interrupts ---- */

static int relay_interrupt(struct engine *e)
{
    struct engine_relay *r = er(e);
    if (r->cell.active && r->cell.started)
        r->cell.interrupt_pending = true; /* between two parts, nothing else sees it */
    if (!r->ready) {
        r->interrupt_held = true;
        return 0;
    }
    if (r->child.spec.interrupt_mode == JSPEC_INTERRUPT_MESSAGE)
        send_up(r, RCH_CONTROL, "interrupt_request", json_object());
    else
        relay_child_signal(&r->child, SIGINT);
    return 0;
}

/* ---- the held queue ---- */

static void hold(struct engine_relay *r, enum rch ch, struct rmsg *m)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m->n; i++)
        bytes += zmq_msg_size(&m->parts[i]);
    if (r->nheld >= HELD_MAX_MSGS || r->held_bytes + bytes > HELD_MAX_BYTES) {
        fprintf(stderr,
                "iopsd kernel: %zu messages wait for the wrapped kernel: dropped one on %s\n",
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

static void forward_up(struct engine_relay *r, enum rch ch, struct rmsg *m)
{
    int rc = rmsg_send(r->up[ch], m);
    if (rc)
        fprintf(stderr, "iopsd kernel: a %s message was not forwarded to the wrapped kernel: %s\n",
                rch_names[ch], zmq_strerror(-rc));
}

/* ---- `%%iops` cells ---- */

static void mcell_release(struct mcell *c)
{
    magic_release(&c->magic);
    magic_run_free(c->run);
    rmsg_close(&c->req);
    rmsg_close(&c->reply);
    rmsg_close(&c->idle);
    free(c->header.data);
    idents_free(c->idents, c->nidents);
    free(c->code);
    memset(c, 0, sizeof *c);
}

/* The relay answers an execute_request itself (magic usage errors, --help):
 * busy, text on a stream, the reply, idle. Nothing reaches the kernel. */
static void answer_cell(struct engine_relay *r, const struct jraw *raw, const char *stream,
                        const char *text, const char *ename, const char *evalue)
{
    const struct jframe *hf = &jraw_parts(raw)[JRAW_HEADER];
    struct jblob parent = {(unsigned char *)hf->data, hf->len};
    struct jblob *ids = idents_copy(raw);
    publish_status(r, &parent, "busy");
    if (ename)
        send_own(
            r, RCH_IOPUB, NULL, 0, "error", &parent,
            json_pack("{s:s, s:s, s:[s]}", "ename", ename, "evalue", evalue, "traceback", text));
    else
        send_own(r, RCH_IOPUB, NULL, 0, "stream", &parent,
                 json_pack("{s:s, s:s}", "name", stream, "text", text));
    json_t *reply =
        ename ? json_pack("{s:s, s:i, s:s, s:s, s:[s]}", "status", "error", "execution_count",
                          r->last_count, "ename", ename, "evalue", evalue, "traceback", text)
              : json_pack("{s:s, s:i, s:[], s:{}}", "status", "ok", "execution_count",
                          r->last_count, "payload", "user_expressions");
    send_own(r, RCH_SHELL, ids, raw->nidents, "execute_reply", &parent, reply);
    publish_status(r, &parent, "idle");
    idents_free(ids, raw->nidents);
}

/* content with "code" replaced; NULL when content cannot be parsed exactly
 * (the relay then refuses to rewrite it). Owned text. */
static char *with_code(const struct jframe *content, const char *code)
{
    json_t *c = json_loadb(content->data, content->len, 0, NULL);
    if (!json_is_object(c)) {
        json_decref(c);
        return NULL;
    }
    json_object_set_new(c, "code", json_string(code));
    char *t = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    return t;
}

/* An execute_request: is it a magic cell? Returns true when the relay took
 * it as one (started, waiting, or answered). */
static bool magic_request(struct engine_relay *r, struct rmsg *m, const struct jraw *raw)
{
    json_t *content = jraw_peek(raw, JRAW_CONTENT);
    const char *code = json_string_value(json_object_get(content, "code"));
    if (!code) {
        json_decref(content);
        return false;
    }
    struct magic mg;
    char err[400];
    magic_init(&mg);
    bool plain = false, auto_cell = false, span_only = false;
    if (!strstr(code, "%iops")) {
        /* A cell without a magic: measured while `%iops auto` is on or a
         * `%iops start` runs (and not paused), as the native kernel does. */
        if (!kiops_plain_cell(&r->iops, &mg, &auto_cell, &span_only)) {
            json_decref(content);
            return false;
        }
        plain = true;
    } else if (magic_parse(code, &mg, err, sizeof err)) {
        char text[8192];
        snprintf(text, sizeof text, "%s\n\n%s", err, magic_usage());
        answer_cell(r, raw, NULL, text, "UsageError", err);
        magic_release(&mg);
        json_decref(content);
        rmsg_close(m);
        return true;
    }
    if (!plain && mg.kind == MAGIC_NONE) {
        magic_release(&mg);
        if (!kiops_plain_cell(&r->iops, &mg, &auto_cell, &span_only)) {
            json_decref(content);
            return false;
        }
        plain = true;
    }
    if (mg.help) {
        answer_cell(r, raw, "stdout", magic_usage(), NULL, NULL);
        magic_release(&mg);
        json_decref(content);
        rmsg_close(m);
        return true;
    }
    struct mcell *c = &r->cell;
    c->active = true;
    c->plain = plain;
    c->auto_cell = auto_cell;
    c->reply_count = -1;
    c->magic = mg; /* moved */
    c->code = xstrdup(code);
    json_t *silent = json_object_get(content, "silent");
    json_t *soe = json_object_get(content, "stop_on_error");
    json_t *store = json_object_get(content, "store_history");
    c->silent = json_is_true(silent);
    c->stop_on_error = !json_is_false(soe);
    c->store_history = json_is_boolean(store) ? json_is_true(store) : !c->silent;
    json_decref(content);
    json_t *h = jraw_peek(raw, JRAW_HEADER);
    snprintf(c->msg_id, sizeof c->msg_id, "%s",
             json_string_value(json_object_get(h, "msg_id")) ?: "");
    json_decref(h);
    const struct jframe *hf = &jraw_parts(raw)[JRAW_HEADER];
    blob_set(&c->header, hf->data, hf->len);
    c->idents = idents_copy(raw);
    c->nidents = raw->nidents;
    c->req = *m; /* moved: started when the wrapped kernel is idle */
    m->parts = NULL;
    m->n = 0;
    return true;
}

/* Fails the magic cell before anything ran (the relay answers it). */
static void mcell_fail(struct engine_relay *r, const char *ename, const char *msg)
{
    struct mcell *c = &r->cell;
    struct jframe *f = rmsg_view(&c->req);
    struct jraw raw;
    char err[128];
    if (jraw_split_capped(&raw, f, c->req.n, UP_FRAME_MAX, UP_MESSAGE_MAX, err, sizeof err) == 0)
        answer_cell(r, &raw, NULL, msg, ename, msg);
    free(f);
    mcell_release(c);
}

/* The request for part k: a copy of the frontend's frames, its content's
 * code replaced (and, for a part before the last, silent), re-signed. The
 * header is the frontend's, so every output carries the cell as parent.
 * Returns 0, or -1 when the content cannot be rewritten exactly. */
static int part_request(struct engine_relay *r, int k, struct rmsg *out)
{
    struct mcell *c = &r->cell;
    struct jframe *f = rmsg_view(&c->req);
    struct jraw raw;
    char err[128];
    char *content = NULL;
    if (jraw_split_capped(&raw, f, c->req.n, UP_FRAME_MAX, UP_MESSAGE_MAX, err, sizeof err) == 0) {
        const struct jframe *cf = &jraw_parts(&raw)[JRAW_CONTENT];
        json_t *cj = json_loadb(cf->data, cf->len, 0, NULL);
        if (json_is_object(cj)) {
            json_object_set_new(cj, "code", json_string(c->parts.code[k]));
            if (k + 1 < c->parts.n) {
                json_object_set_new(cj, "silent", json_true());
                json_object_set_new(cj, "store_history", json_false());
            }
            content = json_dumps(cj, JSON_COMPACT);
        }
        json_decref(cj);
    }
    if (!content) {
        free(f);
        return -1;
    }
    struct jframe parts[4] = {
        f[raw.nidents + 2], f[raw.nidents + 3], f[raw.nidents + 4], {content, strlen(content)}};
    char hex[JSIGN_HEX_LEN + 1];
    jsign_sign(&r->usign, parts, 4, hex);
    rmsg_from_frames(out, f, c->req.n);
    free(f);
    set_frame(&out->parts[raw.nidents + 5], content, strlen(content));
    set_frame(&out->parts[raw.nidents + 1], hex, strlen(hex));
    free(content);
    return 0;
}

static bool mcell_control_slot(struct engine_relay *r);
static void take_count(struct engine_relay *r);

/* Sends the current part (measured: the window opens right before). */
static void mcell_send_part(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    struct rmsg m = {0};
    if (c->control && c->part == c->parts.measured && mcell_control_slot(r))
        return;     /* the cell ended there */
    if (c->plain) { /* the request as received (re-signed already) */
        struct jframe *f = rmsg_view(&c->req);
        rmsg_from_frames(&m, f, c->req.n);
        free(f);
    } else if (part_request(r, c->part, &m)) {
        mcell_fail(r, "UsageError", "%iops: cannot rewrite this execute_request's content");
        return;
    }
    if (c->part == c->parts.measured) {
        /* ipykernel runs the user's code on its main thread; its other
         * threads (ZeroMQ I/O, iopub, heartbeat, control, the history
         * writer) only move messages: they are left out, new threads and
         * processes are not */
        struct magic_plumbing p = {.root = r->child.pid, .root_only_tid = r->child.pid};
        char err[400];
        if (magic_run_begin(c->run, &p, err, sizeof err))
            fprintf(stderr, "iopsd kernel: %s\n",
                    err); /* the cell runs, unmeasured; said in the report */
        c->measured_ran = true;
    }
    /* tracked as outstanding: a death of the kernel answers it */
    struct jframe *g = rmsg_view(&m);
    struct jraw raw;
    char err[128];
    if (jraw_split_capped(&raw, g, m.n, UP_FRAME_MAX, UP_MESSAGE_MAX, err, sizeof err) == 0)
        track(r, &raw, "execute_request");
    free(g);
    forward_up(r, RCH_SHELL, &m);
}

static void abort_held(struct engine_relay *r);

/* A control line's output: on iopub, the cell's request as parent. */
static void kiops_stream(void *ctx, const char *text)
{
    struct engine_relay *r = ctx;
    if (!r->cell.silent)
        send_own(r, RCH_IOPUB, NULL, 0, "stream", &r->cell.header,
                 json_pack("{s:s, s:s}", "name", "stdout", "text", text));
}

static void kiops_display(void *ctx, json_t *content)
{
    struct engine_relay *r = ctx;
    if (r->cell.silent)
        json_decref(content);
    else
        send_own(r, RCH_IOPUB, NULL, 0, "display_data", &r->cell.header, content);
}

/* `%iops auto|start|pause|resume|status|stop|history` in a cell of its own:
 * run by iopsd (kernel_iops.c, as in the native kernel), answered with busy,
 * its output, the reply and idle; the wrapped kernel sees nothing of it. */
/* The end of a cell the relay answers itself after a %iops control
 * (rc: its status, err: its message): the error shown, the execute_reply with
 * count, idle. */
static void control_reply(struct engine_relay *r, int rc, const char *err, int count)
{
    struct mcell *c = &r->cell;
    json_t *reply;
    if (rc) {
        if (!c->silent)
            send_own(r, RCH_IOPUB, NULL, 0, "error", &c->header,
                     json_pack("{s:s, s:s, s:[s]}", "ename", "UsageError", "evalue", err,
                               "traceback", err));
        reply = json_pack("{s:s, s:i, s:s, s:s, s:[s], s:{}, s:[]}", "status", "error",
                          "execution_count", count, "ename", "UsageError", "evalue", err,
                          "traceback", err, "user_expressions", "payload");
    } else {
        reply = json_pack("{s:s, s:i, s:[], s:{}}", "status", "ok", "execution_count", count,
                          "payload", "user_expressions");
    }
    send_own(r, RCH_SHELL, c->idents, c->nidents, "execute_reply", &c->header, reply);
    publish_status(r, &c->header, "idle");
}

static void mcell_control(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    magic_parts(&c->magic, c->code, &c->parts);
    if (c->parts.n != 1) {
        /* among other lines: they run as parts, the control in its slot */
        c->control = true;
        c->started = true;
        if (!c->silent) {
            c->announced = true;
            c->count = r->last_count + 1;
        }
        c->part = 0;
        mcell_send_part(r);
        return;
    }
    char err[400] = "";
    struct kiops_out out = {r, kiops_stream, kiops_display, r->child.pid};
    publish_status(r, &c->header, "busy");
    int rc = kiops_control(&r->iops, &out, &c->magic, err, sizeof err);
    control_reply(r, rc, err, r->last_count);
    bool abort_queued = rc && c->stop_on_error;
    mcell_release(c);
    if (abort_queued)
        abort_held(r);
}

/* The control slot of a cell with other lines (the lines before it have
 * run): the control runs here. A control in the first slot opens the cell
 * (busy, execute_input: no part has run). Returns true when the cell ended
 * (the control failed, or it was the last slot: the relay answers, and an
 * own request takes the execution count), false when the next part is to
 * be sent (c->part moved on). */
static bool mcell_control_slot(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    if (c->part == 0) {
        publish_status(r, &c->header, "busy");
        if (c->announced)
            send_own(r, RCH_IOPUB, NULL, 0, "execute_input", &c->header,
                     json_pack("{s:s, s:i}", "code", c->code, "execution_count", c->count));
    }
    char err[400] = "";
    struct kiops_out out = {r, kiops_stream, kiops_display, r->child.pid};
    int rc = kiops_control(&r->iops, &out, &c->magic, err, sizeof err);
    if (!rc && c->part + 1 < c->parts.n) {
        c->part++;
        return false;
    }
    control_reply(r, rc, err, c->announced ? c->count : r->last_count);
    if (c->announced)
        take_count(r);
    bool abort_queued = rc && c->stop_on_error;
    mcell_release(c);
    if (abort_queued)
        abort_held(r);
    return true;
}

/* The wrapped kernel is idle: the magic cell goes, measured. */
static void mcell_start(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    char err[400];
    if (c->magic.kind == MAGIC_CONTROL) {
        mcell_control(r);
        return;
    }
    if (c->plain) {
        c->parts = (struct magic_parts){.code = {c->code}, .n = 1, .measured = 0};
    } else {
        magic_parts(&c->magic, c->code, &c->parts);
    }
    if (c->parts.indented) {
        mcell_fail(r, "UsageError",
                   "%iops: the line is indented (inside a block): the wrap kernel runs the "
                   "lines before it, the line and the lines after as separate requests, which "
                   "would cut the block; put %iops on a line of its own at the top level, or "
                   "use %%iops for the whole cell");
        return;
    }
    if (magic_run_new(&c->magic, &c->run, err, sizeof err)) {
        mcell_fail(r, "UsageError", err);
        return;
    }
    c->started = true;
    if (c->parts.n > 1 && !c->silent) {
        /* One execute_input for the cell, as written, right after the first
         * part's busy: the parts before the last are silent, the last one's
         * is dropped. The count is the one the last part will get (the last
         * reply's + 1, as ipykernel counts). */
        c->announced = true;
        c->count = r->last_count + 1;
    }
    c->part = 0;
    mcell_send_part(r);
}

static void abort_held(struct engine_relay *r)
{
    for (struct held **p = &r->held; *p;) {
        struct held *h = *p;
        struct jframe *f = rmsg_view(&h->m);
        struct jraw raw;
        char err[128], type[64] = "";
        bool abort = h->ch == RCH_SHELL && !jraw_split(&raw, f, h->m.n, err, sizeof err) &&
                     !jraw_msg_type(&raw, type, sizeof type) && !strcmp(type, "execute_request");
        if (abort) {
            const struct jframe *hf = &jraw_parts(&raw)[JRAW_HEADER];
            struct jblob parent = {(unsigned char *)hf->data, hf->len};
            struct jblob *ids = idents_copy(&raw);
            const char *why = "not run: an earlier cell failed and stop_on_error was set";
            publish_status(r, &parent, "busy");
            send_own(r, RCH_SHELL, ids, raw.nidents, "execute_reply", &parent,
                     json_pack("{s:s, s:i, s:s, s:s, s:[]}", "status", "error", "execution_count",
                               r->last_count, "ename", "ExecutionAborted", "evalue", why,
                               "traceback"));
            publish_status(r, &parent, "idle");
            idents_free(ids, raw.nidents);
            *p = h->next;
            r->nheld--;
            r->held_bytes -= h->bytes;
            rmsg_close(&h->m);
            free(h);
        } else {
            p = &h->next;
        }
        free(f);
    }
    r->held_tail = &r->held;
    while (*r->held_tail)
        r->held_tail = &(*r->held_tail)->next;
}

/* The measured part is over (reply and idle in): the report goes out. */
static void mcell_report(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    if (c->run && !magic_run_began(c->run)) { /* its start failed: the cell ran unmeasured */
        char line[400];
        magic_run_unmeasured_line(c->run, c->interrupted, line, sizeof line);
        if (!c->silent)
            send_own(r, RCH_IOPUB, NULL, 0, "stream", &c->header,
                     json_pack("{s:s, s:s}", "name", "stderr", "text", line));
        return;
    }
    if (magic_run_measuring(c->run)) {
        char err[320];
        if (magic_run_end(c->run, NULL, err, sizeof err))
            fprintf(stderr, "iopsd kernel: %s\n", err);
    }
    json_t *data = NULL, *meta = NULL;
    char note[320] = "";
    const char *code = c->plain ? c->code : c->magic.measured;
    magic_run_finish(c->run, code, c->exit_status, c->interrupted, &data, &meta, note, sizeof note);
    if (magic_run_began(c->run)) {
        /* history and a running `%iops start` (kernel_iops.c); the count is
         * the one the frontend shows for the cell */
        int count = c->announced ? c->count : c->reply_count >= 0 ? c->reply_count : r->last_count;
        kiops_measured(&r->iops, count, code, magic_run_report(c->run));
        if (c->auto_cell && !c->silent)
            send_own(r, RCH_IOPUB, NULL, 0, "display_data", &c->header,
                     json_pack("{s:o, s:{}, s:{}}", "data",
                               magic_summary_data(magic_run_report(c->run)), "metadata",
                               "transient"));
    }
    if (note[0] && !c->silent)
        send_own(r, RCH_IOPUB, NULL, 0, "stream", &c->header,
                 json_pack("{s:s, s:s+}", "name", "stderr", "text", note, "\n"));
    if (data && !c->silent)
        send_own(
            r, RCH_IOPUB, NULL, 0,
            magic_run_progress_shown(c->run) ? "update_display_data" : "display_data", &c->header,
            json_pack("{s:o, s:o, s:{s:s}}", "data", data, "metadata", meta ? meta : json_object(),
                      "transient", "display_id", magic_run_display_id(c->run)));
    else {
        json_decref(data);
        json_decref(meta);
    }
}

/* The failing part's reply, its execution_count made the cell's (a silent
 * part's is the previous cell's). Rewritten in place; unchanged when its
 * content does not parse. */
static void reply_count(struct rmsg *m, int count)
{
    struct jframe *f = rmsg_view(m);
    struct jraw raw;
    char err[128];
    if (jraw_split_capped(&raw, f, m->n, UP_FRAME_MAX, UP_MESSAGE_MAX, err, sizeof err) == 0) {
        const struct jframe *cf = &jraw_parts(&raw)[JRAW_CONTENT];
        json_t *cj = json_loadb(cf->data, cf->len, 0, NULL);
        if (json_is_object(cj)) {
            json_object_set_new(cj, "execution_count", json_integer(count));
            char *t = json_dumps(cj, JSON_COMPACT);
            set_frame(&m->parts[raw.nidents + 5], t, strlen(t));
            free(t);
        }
        json_decref(cj);
    }
    free(f);
}

/* The last part, which would have taken the execution count, did not run
 * in the wrapped kernel: an own request with the cell's flags takes it, so
 * the next cell does not show the same number. A comment: it runs nothing,
 * and is what the history keeps for this count. */
static void take_count(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    send_up(r, RCH_SHELL, "execute_request",
            json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code",
                      "# %iops: this cell stopped before its last part", "silent", 0,
                      "store_history", c->store_history, "user_expressions", "allow_stdin", 0,
                      "stop_on_error", 0));
    snprintf(r->bump_id, sizeof r->bump_id, "%s", r->last_own_id);
    r->bump_replied = r->bump_idle = false;
}

/* A part's reply and idle both came (or the idle is late): the report if it
 * was the measured part; then the next part, or the cell's end: its reply
 * and idle go out. */
static void mcell_part_done(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    bool last = c->part + 1 >= c->parts.n;
    if (c->part == c->parts.measured)
        mcell_report(r);
    bool stopped = !last && !c->exit_status && c->interrupt_pending;
    if (!last && !c->exit_status && !stopped) {
        rmsg_close(&c->reply);
        rmsg_close(&c->idle);
        c->part++;
        mcell_send_part(r);
        return;
    }
    if ((c->exit_status || stopped) && !c->measured_ran && !c->control && !c->silent) {
        static const char why[] =
            "[iopsd: %iops: nothing was measured: the cell stopped before the %iops line]\n";
        send_own(r, RCH_IOPUB, NULL, 0, "stream", &c->header,
                 json_pack("{s:s, s:s}", "name", "stderr", "text", why));
    }
    if (stopped) {
        /* Interrupted between two parts: the rest does not run. */
        static const char why[] = "interrupted between the parts of the cell: the rest did not run";
        c->exit_status = 1;
        c->interrupted = true;
        if (!c->silent)
            send_own(r, RCH_IOPUB, NULL, 0, "error", &c->header,
                     json_pack("{s:s, s:s, s:[s]}", "ename", "KeyboardInterrupt", "evalue", why,
                               "traceback", why));
        send_own(r, RCH_SHELL, c->idents, c->nidents, "execute_reply", &c->header,
                 json_pack("{s:s, s:i, s:s, s:s, s:[s], s:{}, s:[]}", "status", "error",
                           "execution_count", c->announced ? c->count : r->last_count, "ename",
                           "KeyboardInterrupt", "evalue", why, "traceback", why, "user_expressions",
                           "payload"));
        rmsg_close(&c->reply);
    } else if (c->reply.n) {
        if (c->announced && !last)
            reply_count(&c->reply, c->count);
        emit(r, RCH_SHELL, &c->reply);
    }
    if (c->idle.n)
        emit(r, RCH_IOPUB, &c->idle);
    if (c->announced && !last)
        take_count(r);
    bool abort_queued = c->exit_status && c->stop_on_error && !c->interrupted;
    mcell_release(c);
    if (abort_queued)
        abort_held(r);
}

static void mcell_tick(struct engine_relay *r)
{
    struct mcell *c = &r->cell;
    if (!c->active || !c->started)
        return;
    if (c->run)
        magic_run_timeline_tick(c->run); /* --timeline: its own deadline */
    if (c->run && magic_run_progress_due_ms(c->run) == 0) {
        bool update = false;
        json_t *data = magic_run_progress(c->run, &update);
        if (data)
            send_own(r, RCH_IOPUB, NULL, 0, update ? "update_display_data" : "display_data",
                     &c->header,
                     json_pack("{s:o, s:{}, s:{s:s}}", "data", data, "metadata", "transient",
                               "display_id", magic_run_display_id(c->run)));
    }
    if (c->reply.n &&
        (c->idle.n || clock_mono_ns() - c->reply_at_ns > (uint64_t)IDLE_WAIT_MS * 1000000u))
        mcell_part_done(r);
}

/* A message from the wrapped kernel whose parent is the magic cell. Returns
 * true when it was taken (held, dropped, or rewritten and sent). */
static bool mcell_upstream(struct engine_relay *r, enum rch ch, struct rmsg *m,
                           const struct jraw *raw, const char *type)
{
    struct mcell *c = &r->cell;
    if (ch == RCH_SHELL && !strcmp(type, "execute_reply")) {
        /* The part is over: the window ends here, before anything else. */
        if (c->part == c->parts.measured && magic_run_measuring(c->run)) {
            char err[320];
            if (magic_run_end(c->run, NULL, err, sizeof err))
                fprintf(stderr, "iopsd kernel: %s\n", err);
        }
        json_t *rc = jraw_peek(raw, JRAW_CONTENT);
        const char *st = json_string_value(json_object_get(rc, "status"));
        const char *en = json_string_value(json_object_get(rc, "ename"));
        json_t *n = json_object_get(rc, "execution_count");
        if (c->announced && c->part + 1 == c->parts.n && json_is_number(n) &&
            (int)json_number_value(n) != c->count)
            fprintf(stderr,
                    "iopsd kernel: the cell was announced as execution %d, the wrapped "
                    "kernel counted it %d\n",
                    c->count, (int)json_number_value(n));
        c->exit_status = st && !strcmp(st, "ok") ? 0 : 1;
        c->interrupted = en && !strcmp(en, "KeyboardInterrupt");
        if (c->part == c->parts.measured && json_is_number(n))
            c->reply_count = (int)json_number_value(n);
        json_decref(rc);
        rmsg_close(&c->reply);
        c->reply = *m;
        m->parts = NULL;
        m->n = 0;
        c->reply_at_ns = clock_mono_ns();
        return true;
    }
    if (ch == RCH_IOPUB && !strcmp(type, "status")) {
        json_t *sc = jraw_peek(raw, JRAW_CONTENT);
        const char *state = json_string_value(json_object_get(sc, "execution_state"));
        bool idle = state && !strcmp(state, "idle");
        bool busy = state && !strcmp(state, "busy");
        json_decref(sc);
        if (idle) {
            rmsg_close(&c->idle);
            c->idle = *m;
            m->parts = NULL;
            m->n = 0;
            return true;
        }
        if (busy && c->part > 0) { /* one busy for the cell: the first part's */
            rmsg_close(m);
            return true;
        }
        if (busy && c->announced) {
            emit(r, ch, m);
            rmsg_close(m);
            send_own(r, RCH_IOPUB, NULL, 0, "execute_input", &c->header,
                     json_pack("{s:s, s:i}", "code", c->code, "execution_count", c->count));
            return true;
        }
        return false;
    }
    if (ch == RCH_IOPUB && !strcmp(type, "stream") && magic_run_measuring(c->run)) {
        /* --timeline: EVENT lines in the cell's output; the message goes on */
        json_t *sc = jraw_peek(raw, JRAW_CONTENT);
        const char *name = json_string_value(json_object_get(sc, "name"));
        json_t *text = json_object_get(sc, "text");
        if (json_is_string(text))
            magic_run_output(c->run, name && !strcmp(name, "stderr"), json_string_value(text),
                             json_string_length(text));
        json_decref(sc);
        return false;
    }
    if (ch == RCH_IOPUB && !strcmp(type, "execute_input")) {
        if (c->plain) /* as written already */
            return false;
        if (c->parts.n > 1) { /* the relay's went first */
            rmsg_close(m);
            return true;
        }
        /* Shows the cell as the user wrote it. */
        char *content = with_code(&jraw_parts(raw)[JRAW_CONTENT], c->code);
        if (!content)
            return false;
        set_frame(&m->parts[raw->nidents + 5], content, strlen(content));
        free(content);
        emit(r, ch, m);
        rmsg_close(m);
        return true;
    }
    return false;
}
/* ---- completion and inspection inside a magic cell ---- */

static long codepoints(const char *s, size_t n)
{
    long cp = 0;
    for (size_t i = 0; i < n; i++)
        cp += ((unsigned char)s[i] & 0xc0) != 0x80;
    return cp;
}

/* complete_request / inspect_request on a `%%iops` cell: the wrapped kernel
 * gets the code without the magic line and a cursor moved back over it
 * (cursor_pos counts code points). Rewrites m in place (content and
 * signature); records the shift of a complete_request. */
static void strip_magic_line(struct engine_relay *r, struct rmsg *m, const struct jraw *raw,
                             const char *type)
{
    const struct jframe *cf = &jraw_parts(raw)[JRAW_CONTENT];
    json_t *c = json_loadb(cf->data, cf->len, 0, NULL);
    const char *code = json_string_value(json_object_get(c, "code"));
    json_t *pos = json_object_get(c, "cursor_pos");
    const char *nl = code ? strchr(code, '\n') : NULL;
    size_t skip = 0;
    while (code && (code[skip] == ' ' || code[skip] == '\t'))
        skip++;
    if (!nl || strncmp(code + skip, "%%iops", 6) || !json_is_integer(pos)) {
        json_decref(c);
        return;
    }
    long offset = codepoints(code, (size_t)(nl + 1 - code));
    long cursor = (long)json_integer_value(pos);
    if (cursor < offset) { /* in the magic line itself: the wrapped kernel cannot help */
        json_decref(c);
        return;
    }
    json_t *h = jraw_peek(raw, JRAW_HEADER);
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    if (!strcmp(type, "complete_request")) {
        if (!id || r->nshifted >= SHIFTED_MAX) {
            json_decref(h);
            json_decref(c);
            return;
        }
        struct shifted *sh = xcalloc(1, sizeof *sh);
        snprintf(sh->msg_id, sizeof sh->msg_id, "%s", id);
        sh->offset = offset;
        sh->next = r->shifted;
        r->shifted = sh;
        r->nshifted++;
    }
    json_decref(h);
    json_object_set_new(c, "code", json_string(nl + 1));
    json_object_set_new(c, "cursor_pos", json_integer(cursor - offset));
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    struct jframe parts[4] = {
        jraw_parts(raw)[0], jraw_parts(raw)[1], jraw_parts(raw)[2], {text, strlen(text)}};
    char hex[JSIGN_HEX_LEN + 1];
    jsign_sign(&r->usign, parts, 4, hex);
    set_frame(&m->parts[raw->nidents + 5], text, strlen(text));
    set_frame(&m->parts[raw->nidents + 1], hex, strlen(hex));
    free(text);
}

/* A complete_reply to a shifted request: positions back in the cell. */
static void unshift_reply(struct engine_relay *r, struct rmsg *m, const struct jraw *raw,
                          const char *parent)
{
    struct shifted **p = &r->shifted;
    while (*p && strcmp((*p)->msg_id, parent))
        p = &(*p)->next;
    if (!*p)
        return;
    struct shifted *sh = *p;
    *p = sh->next;
    r->nshifted--;
    const struct jframe *cf = &jraw_parts(raw)[JRAW_CONTENT];
    json_t *c = json_loadb(cf->data, cf->len, 0, NULL);
    json_t *a = json_object_get(c, "cursor_start"), *b = json_object_get(c, "cursor_end");
    if (json_is_integer(a) && json_is_integer(b)) {
        json_object_set_new(c, "cursor_start", json_integer(json_integer_value(a) + sh->offset));
        json_object_set_new(c, "cursor_end", json_integer(json_integer_value(b) + sh->offset));
        char *text = json_dumps(c, JSON_COMPACT);
        set_frame(&m->parts[raw->nidents + 5], text, strlen(text));
        free(text);
    }
    json_decref(c);
    free(sh);
}

/* ---- from the frontend ---- */

/* A shell message the relay may forward now (nothing waits before it). */
static void shell_in(struct engine_relay *r, struct rmsg *m)
{
    struct jframe *f = rmsg_view(m);
    struct jraw raw;
    char err[256], type[64] = "";
    int rc = jraw_split(&raw, f, m->n, err, sizeof err);
    if (!rc)
        jraw_msg_type(&raw, type, sizeof type);
    bool taken = !rc && !strcmp(type, "execute_request") && magic_request(r, m, &raw);
    if (!rc && (!strcmp(type, "complete_request") || !strcmp(type, "inspect_request")))
        strip_magic_line(r, m, &raw, type);
    if (!rc && !taken) {
        if (!strcmp(type, "shutdown_request"))
            r->shutdown_sent = true;
        track(r, &raw, type);
    }
    free(f);
    if (!taken)
        forward_up(r, RCH_SHELL, m);
}

/* Sends on what waits, in order, until a magic cell must wait again. */
static void drain_held(struct engine_relay *r)
{
    while (r->held && r->ready) {
        if (r->cell.active) {
            if (r->cell.started || !wrapped_idle(r))
                return;
            mcell_start(r);
            continue;
        }
        struct held *h = r->held;
        r->held = h->next;
        if (!r->held)
            r->held_tail = &r->held;
        r->nheld--;
        r->held_bytes -= h->bytes;
        if (h->ch == RCH_SHELL)
            shell_in(r, &h->m);
        else
            forward_up(r, h->ch, &h->m);
        rmsg_close(&h->m);
        free(h);
    }
    if (r->cell.active && !r->cell.started && wrapped_idle(r))
        mcell_start(r);
}

static bool relay_in(struct engine *e, int chan, const struct jframe *frames, size_t n)
{
    struct engine_relay *r = er(e);
    enum rch ch = (enum rch)chan;
    if (ch != RCH_SHELL && ch != RCH_CONTROL && ch != RCH_STDIN)
        return false;
    struct jraw raw;
    char err[256], type[64] = "";
    if (jraw_split(&raw, frames, n, err, sizeof err)) {
        fprintf(stderr, "iopsd kernel: dropped a message on %s: %s\n", rch_names[ch], err);
        return true;
    }
    jraw_msg_type(&raw, type, sizeof type);
    if (ch == RCH_CONTROL && !strcmp(type, "interrupt_request") &&
        r->child.spec.interrupt_mode == JSPEC_INTERRUPT_SIGNAL) {
        /* The wrapped kernel takes interrupts as SIGINT: the relay answers. */
        const struct jframe *hf = &jraw_parts(&raw)[JRAW_HEADER];
        struct jblob parent = {(unsigned char *)hf->data, hf->len};
        struct jblob *ids = idents_copy(&raw);
        publish_status(r, &parent, "busy");
        relay_interrupt(e);
        send_own(r, RCH_CONTROL, ids, raw.nidents, "interrupt_reply", &parent,
                 json_pack("{s:s}", "status", "ok"));
        publish_status(r, &parent, "idle");
        idents_free(ids, raw.nidents);
        return true;
    }
    if (ch == RCH_CONTROL && !strcmp(type, "shutdown_request"))
        r->shutdown_sent = true;
    if (ch == RCH_CONTROL && !strcmp(type, "interrupt_request") && r->cell.active &&
        r->cell.started)
        r->cell.interrupt_pending = true; /* message mode: relayed, and no further part */
    if (r->exited) {
        fprintf(stderr, "iopsd kernel: the wrapped kernel is gone: dropped %s\n", type);
        return true;
    }
    const struct jframe *content = &jraw_parts(&raw)[JRAW_CONTENT];
    if (ch == RCH_STDIN && zov_is_standin(content->data, content->len)) {
        input_oversized(r, &raw);
        return true;
    }
    struct rmsg m;
    rmsg_from_frames(&m, frames, n);
    char hex[JSIGN_HEX_LEN + 1];
    if (jraw_resign(&raw, &r->usign, hex)) {
        rmsg_close(&m);
        return true;
    }
    set_frame(&m.parts[raw.nidents + 1], hex, strlen(hex));
    /* Order: shell waits behind a magic cell; everything waits for the start. */
    if (!r->ready || (ch == RCH_SHELL && (r->held || r->cell.active))) {
        hold(r, ch, &m);
        drain_held(r);
        return true;
    }
    if (ch == RCH_SHELL) {
        shell_in(r, &m);
        drain_held(r); /* a magic cell starts at once when the kernel is idle */
    } else {
        forward_up(r, ch, &m);
    }
    rmsg_close(&m);
    return true;
}

/* ---- from the wrapped kernel ---- */

/* A kernel_info_reply for the frontend: the wrapped kernel's, plus
 * "iopsd_version" and a line of the banner (language_info, implementation
 * and the rest untouched). Unchanged when its content does not parse. */
static void kernel_info_add(struct rmsg *m, const struct jraw *raw)
{
    const struct jframe *cf = &jraw_parts(raw)[JRAW_CONTENT];
    json_t *c = json_loadb(cf->data, cf->len, 0, NULL);
    if (!json_is_object(c)) {
        json_decref(c);
        return;
    }
    json_object_set_new(c, "iopsd_version", json_string(IOPSD_VERSION));
    const char *banner = json_string_value(json_object_get(c, "banner"));
    char line[160];
    snprintf(line, sizeof line, "%siopsd %s: %%%%iops measures a cell's I/O (%%%%iops --help)\n",
             banner && banner[0] && banner[strlen(banner) - 1] != '\n' ? "\n" : "", IOPSD_VERSION);
    json_object_set_new(c, "banner", json_pack("s++", banner ? banner : "", line, ""));
    char *t = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    set_frame(&m->parts[raw->nidents + 5], t, strlen(t));
    free(t);
}

/* The wrapped kernel died: every request it left unanswered gets an error
 * (on iopub for a cell, then its reply) and its idle, so no cell waits. */
static void answer_orphans(struct engine_relay *r, const char *why)
{
    while (r->out) {
        struct outstanding *o = r->out;
        r->out = o->next;
        r->nout--;
        if (!strcmp(o->msg_type, "execute_request"))
            send_own(r, RCH_IOPUB, NULL, 0, "error", &o->header,
                     json_pack("{s:s, s:s, s:[s]}", "ename", "KernelDied", "evalue", why,
                               "traceback", why));
        char reply[80];
        snprintf(reply, sizeof reply, "%.*s_reply", (int)(strlen(o->msg_type) - 8), o->msg_type);
        send_own(r, RCH_SHELL, o->idents, o->nidents, reply, &o->header,
                 json_pack("{s:s, s:i, s:s, s:s, s:[s]}", "status", "error", "execution_count",
                           r->last_count, "ename", "KernelDied", "evalue", why, "traceback", why));
        publish_status(r, &o->header, "idle");
        outstanding_free(o);
    }
}

static void pump(struct engine_relay *r, enum rch ch)
{
    size_t bytes = 0;
    for (int i = 0; i < BATCH && bytes < BATCH_BYTES; i++) {
        struct rmsg m;
        int rc = rmsg_recv(r->up[ch], &m);
        if (rc == -EAGAIN || rc == -EINTR || rc == -ETERM)
            return;
        if (rc) {
            fprintf(stderr, "iopsd kernel: dropped a message from the wrapped kernel on %s: %s\n",
                    rch_names[ch], rc == -E2BIG ? "too many frames" : zmq_strerror(-rc));
            continue;
        }
        for (size_t j = 0; j < m.n; j++)
            bytes += zmq_msg_size(&m.parts[j]);
        struct jframe *f = rmsg_view(&m);
        struct jraw raw;
        char err[256];
        rc = jraw_split_capped(&raw, f, m.n, UP_FRAME_MAX, UP_MESSAGE_MAX, err, sizeof err);
        if (!rc)
            rc = jraw_verify(&raw, &r->usign, &r->ureplay, err, sizeof err);
        if (rc) {
            fprintf(stderr, "iopsd kernel: dropped a message from the wrapped kernel on %s: %s\n",
                    rch_names[ch], err);
            free(f);
            rmsg_close(&m);
            continue;
        }
        if (ch == RCH_IOPUB)
            r->got_iopub = true;
        char type[64] = "", parent[128] = "";
        jraw_msg_type(&raw, type, sizeof type);
        if (answers_own(r, &raw)) {
            if (ch == RCH_SHELL && !strcmp(type, "kernel_info_reply"))
                r->got_info = true;
            char own[128] = "";
            jraw_parent_id(&raw, own, sizeof own);
            bool bump = r->bump_id[0] && !strcmp(own, r->bump_id);
            if (bump && ch == RCH_SHELL && !strcmp(type, "execute_reply")) {
                /* the count catch-up took a number: the next one follows it
                 * (its idle may come first: iopub and shell are not ordered) */
                json_t *c = jraw_peek(&raw, JRAW_CONTENT);
                json_t *n = json_object_get(c, "execution_count");
                if (json_is_number(n))
                    r->last_count = (int)json_number_value(n);
                json_decref(c);
                r->bump_replied = true;
            }
            if (bump && ch == RCH_IOPUB && !strcmp(type, "status")) {
                json_t *sc = jraw_peek(&raw, JRAW_CONTENT);
                const char *st = json_string_value(json_object_get(sc, "execution_state"));
                if (st && !strcmp(st, "idle"))
                    r->bump_idle = true;
                json_decref(sc);
            }
            if (bump && r->bump_replied && r->bump_idle)
                r->bump_id[0] = '\0'; /* the catch-up request is done */
            free(f);
            rmsg_close(&m);
            continue;
        }
        jraw_parent_id(&raw, parent, sizeof parent);
        if (ch == RCH_SHELL) {
            untrack(r, parent);
            if (r->shifted && !strcmp(type, "complete_reply"))
                unshift_reply(r, &m, &raw, parent);
            if (!strcmp(type, "kernel_info_reply"))
                kernel_info_add(&m, &raw);
            if (!strcmp(type, "execute_reply")) {
                json_t *c = jraw_peek(&raw, JRAW_CONTENT);
                json_t *n = json_object_get(c, "execution_count");
                if (json_is_number(n))
                    r->last_count = (int)json_number_value(n);
                json_decref(c);
            }
        } else if (ch == RCH_CONTROL && !strcmp(type, "kernel_info_reply")) {
            kernel_info_add(&m, &raw);
        } else if (ch == RCH_STDIN && !strcmp(type, "input_request")) {
            /* its cell, for a notice about the answer (input_oversized) */
            const struct jframe *pf = &jraw_parts(&raw)[JRAW_PARENT];
            free(r->input_parent.data);
            blob_set(&r->input_parent, pf->data, pf->len);
        } else if (ch == RCH_IOPUB && !strcmp(type, "status")) {
            json_t *c = jraw_peek(&raw, JRAW_CONTENT);
            const char *st = json_string_value(json_object_get(c, "execution_state"));
            if (st && !strcmp(st, "busy"))
                r->busy++;
            else if (st && !strcmp(st, "idle") && r->busy > 0)
                r->busy--;
            json_decref(c);
        }
        bool taken = r->cell.active && r->cell.started && parent[0] &&
                     !strcmp(parent, r->cell.msg_id) && mcell_upstream(r, ch, &m, &raw, type);
        free(f);
        if (!taken)
            emit(r, ch, &m);
        rmsg_close(&m);
        if (ch == RCH_CONTROL && !strcmp(type, "shutdown_reply")) {
            struct engine_event ev = {.type = ENGINE_EV_EXIT, .exit_status = 0};
            r->fn(r->ctx, &ev);
            return;
        }
    }
}

static void child_gone(struct engine_relay *r)
{
    r->exited = true;
    struct engine_event ev = {.type = ENGINE_EV_EXIT, .exit_status = 0};
    if (!r->shutdown_sent) {
        char how[128], why[400];
        relay_child_describe(&r->child, how, sizeof how);
        snprintf(why, sizeof why,
                 "The wrapped kernel '%s' (pid %d) %s. iopsd ends with it so that the frontend "
                 "restarts the kernel: the session's state (variables, imports) is lost.",
                 r->child.spec.name, (int)r->child.pid, how);
        fprintf(stderr, "iopsd kernel: %s\n", why);
        if (r->cell.active && r->cell.started && magic_run_measuring(r->cell.run))
            magic_run_end(r->cell.run, NULL, how, sizeof how);
        if (r->out)
            answer_orphans(r, why);
        else
            send_own(r, RCH_IOPUB, NULL, 0, "error", NULL,
                     json_pack("{s:s, s:s, s:[s]}", "ename", "KernelDied", "evalue", why,
                               "traceback", why));
        ev.exit_status = RELAY_EXIT_WRAPPED_DIED;
    }
    r->fn(r->ctx, &ev);
}

/* ---- engine ops ---- */

static int relay_ensure(struct engine *e, char *err, size_t errlen)
{
    (void)e;
    (void)err;
    (void)errlen;
    return 0; /* started in engine_relay_new */
}

static int relay_execute(struct engine *e, const char *code, bool allow_stdin,
                         const struct engine_window *win)
{
    (void)e, (void)code, (void)allow_stdin, (void)win;
    return -ENOTSUP; /* cells arrive through relay() */
}

static int relay_input(struct engine *e, const char *text, size_t len)
{
    (void)e, (void)text, (void)len;
    return -ENOTSUP;
}

static int relay_complete(struct engine *e, const char *code, size_t cursor, char ***matches,
                          size_t *nmatches, size_t *start, size_t *end)
{
    (void)e, (void)code, (void)cursor, (void)matches, (void)nmatches, (void)start, (void)end;
    return -ENOTSUP;
}

static int relay_inspect(struct engine *e, const char *code, size_t cursor, char **text)
{
    (void)e, (void)code, (void)cursor, (void)text;
    return -ENOTSUP;
}

static int relay_is_complete(struct engine *e, const char *code, const char **status, char *indent,
                             size_t indentlen)
{
    (void)e, (void)code, (void)status, (void)indent, (void)indentlen;
    return -ENOTSUP;
}

static json_t *relay_kernel_info(struct engine *e)
{
    (void)e;
    return NULL; /* the wrapped kernel's own reply is relayed */
}

static int relay_pollitems(struct engine *e, zmq_pollitem_t *items, int max)
{
    struct engine_relay *r = er(e);
    int n = 0;
    for (int i = 0; i < RCH_N && n < max; i++)
        items[n++] = (zmq_pollitem_t){r->up[i], 0, ZMQ_POLLIN, 0};
    if (r->pidfd >= 0 && !r->exited && n < max)
        items[n++] = (zmq_pollitem_t){NULL, r->pidfd, ZMQ_POLLIN, 0};
    return n;
}

static long relay_timeout_ms(struct engine *e)
{
    struct engine_relay *r = er(e);
    long t = -1;
    if (!r->ready) {
        uint64_t now = clock_mono_ns();
        t = now >= r->next_nudge_ns ? 0 : (long)((r->next_nudge_ns - now) / 1000000u) + 1;
    }
    if (r->pidfd < 0 && !r->exited && (t < 0 || t > REAP_EVERY_MS))
        t = REAP_EVERY_MS;
    if (r->cell.active && r->cell.started) {
        long p = r->cell.run ? magic_run_progress_due_ms(r->cell.run) : -1;
        long tl = r->cell.run ? magic_run_timeline_due_ms(r->cell.run) : -1;
        if (tl >= 0 && (p < 0 || tl < p))
            p = tl;
        if (r->cell.reply.n)
            p = p < 0 || p > 20 ? 20 : p;
        if (p >= 0 && (t < 0 || p < t))
            t = p;
    }
    return t;
}

static bool retry_on_tcp(struct engine_relay *r);

static int relay_handle(struct engine *e, const zmq_pollitem_t *items, int n)
{
    struct engine_relay *r = er(e);
    (void)items, (void)n;
    if (r->exited)
        return 0;
    /* Every upstream socket is read on every turn (poll results or not):
     * the wrapped kernel's outputs go out before a death notice. */
    pump(r, RCH_IOPUB);
    pump(r, RCH_SHELL);
    pump(r, RCH_CONTROL);
    pump(r, RCH_STDIN);
    uint64_t now = clock_mono_ns();
    if (!r->ready) {
        if (r->got_info && r->got_iopub) {
            r->ready = true;
            if (r->interrupt_held) {
                r->interrupt_held = false;
                relay_interrupt(e);
            }
        } else if (now - r->start_ns > (uint64_t)START_TIMEOUT_MS * 1000000u) {
            fprintf(stderr,
                    "iopsd kernel: the wrapped kernel '%s' did not answer kernel_info within "
                    "%d s\n",
                    r->child.spec.name, START_TIMEOUT_MS / 1000);
            r->exited = true;
            struct engine_event ev = {.type = ENGINE_EV_EXIT, .exit_status = 125};
            r->fn(r->ctx, &ev);
            return 0;
        } else if (now >= r->next_nudge_ns) {
            send_up(r, RCH_SHELL, "kernel_info_request", json_object());
            r->next_nudge_ns = now + NUDGE_MS * 1000000u;
        }
    }
    mcell_tick(r);
    drain_held(r);
    if (relay_child_reap(&r->child)) {
        pump(r, RCH_IOPUB);
        pump(r, RCH_SHELL);
        pump(r, RCH_CONTROL);
        if (!retry_on_tcp(r))
            child_gone(r);
    }
    return 0;
}

static pid_t relay_root(struct engine *e)
{
    struct engine_relay *r = er(e);
    return r->child.exited ? 0 : r->child.pid;
}

static void relay_poke(struct engine *e)
{
    (void)e;
}

static void relay_free(struct engine *e)
{
    struct engine_relay *r = er(e);
    if (!r)
        return;
    mcell_release(&r->cell);
    kiops_release(&r->iops);
    for (int i = 0; i < RCH_N; i++)
        if (r->up[i])
            zmq_close(r->up[i]);
    if (r->zctx)
        while (zmq_ctx_term(r->zctx) != 0 && zmq_errno() == EINTR)
            ;
    relay_child_stop(&r->child, r->shutdown_sent ? SHUTDOWN_GRACE_MS : 0);
    kguard_track(0, -1); /* ended on purpose: its session id may be reused */
    if (r->pidfd >= 0)
        close(r->pidfd);
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
    while (r->shifted) {
        struct shifted *sh = r->shifted;
        r->shifted = sh->next;
        free(sh);
    }
    free(r->input_parent.data);
    jreplay_release(&r->ureplay);
    jsign_release(&r->usign);
    relay_child_release(&r->child);
    free(r);
}

static const struct engine_ops relay_ops = {
    .name = "relay",
    .ensure = relay_ensure,
    .execute = relay_execute,
    .input = relay_input,
    .interrupt = relay_interrupt,
    .complete = relay_complete,
    .inspect = relay_inspect,
    .is_complete = relay_is_complete,
    .kernel_info = relay_kernel_info,
    .pollitems = relay_pollitems,
    .timeout_ms = relay_timeout_ms,
    .handle = relay_handle,
    .measure_root = relay_root,
    .poke = relay_poke,
    .free = relay_free,
    .relay = relay_in,
};

/* A socket connected to the wrapped kernel's channel ch. */
static void *connect_up(struct engine_relay *r, int type, enum jconn_channel ch,
                        const char *routing_id, char *err, size_t errlen)
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
    /* No ZMTP heartbeats here: the kernel's death is seen by its pidfd. */
    int linger = 0, hwm = UP_HWM, ivl = 20;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (routing_id)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, routing_id, strlen(routing_id));
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    int rc;
    while ((rc = zmq_connect(s, ep)) != 0 && zmq_errno() == EINTR)
        ;
    if (rc != 0) {
        snprintf(err, errlen, "cannot connect to %.300s: %s", ep, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* Starts the wrapped kernel for spec (moved) on a fresh private connection
 * (ipc, or tcp) and connects the relay's sockets to it. */
static int launch(struct engine_relay *r, struct jspec *spec, bool tcp, char *err, size_t errlen)
{
    if (relay_child_prepare(&r->child, spec, tcp, err, errlen) ||
        jsign_init(&r->usign, r->child.conn.scheme, r->child.conn.key, r->child.conn.keylen, err,
                   errlen))
        return -1;
    /* Under the kernel guard (kernel_guard.c), a death of iopsd freezes the
     * wrapped kernel rather than ending it: the guard then finds everything
     * it started by session and parent, and kills the lot. */
    r->child.deathsig = kguard_active() ? SIGSTOP : SIGTERM;
    if (relay_child_start(&r->child, err, errlen))
        return -1;
    kguard_track(r->child.pid, -1); /* its session id is its pid (setsid) */
    r->pidfd = (int)syscall(SYS_pidfd_open, r->child.pid, 0);
    r->start_ns = clock_mono_ns();
    r->next_nudge_ns = 0;
    char rid[64], cid[64];
    snprintf(rid, sizeof rid, "iopsd-%d", (int)getpid());
    snprintf(cid, sizeof cid, "iopsd-%d-control", (int)getpid());
    static const int types[RCH_N] = {ZMQ_DEALER, ZMQ_DEALER, ZMQ_DEALER, ZMQ_SUB};
    static const enum jconn_channel ports[RCH_N] = {JCONN_SHELL, JCONN_CONTROL, JCONN_STDIN,
                                                    JCONN_IOPUB};
    const char *rids[RCH_N] = {rid, cid, rid, NULL};
    for (int i = 0; i < RCH_N; i++)
        if (!(r->up[i] = connect_up(r, types[i], ports[i], rids[i], err, errlen)))
            return -1;
    return 0;
}

/* Some kernels take only tcp endpoints from a connection file (xeus-python
 * builds "tcp://" + ip whatever the transport says, and aborts on ipc): a
 * kernel that exits on ipc before it ever answered is started again, once,
 * on 127.0.0.1 ports. Returns true when it was. */
static bool retry_on_tcp(struct engine_relay *r)
{
    if (r->ready || r->got_info || r->shutdown_sent || r->tcp_retried ||
        strcmp(r->child.conn.transport, "ipc"))
        return false;
    r->tcp_retried = true;
    char how[128], err[320];
    relay_child_describe(&r->child, how, sizeof how);
    fprintf(stderr,
            "iopsd kernel: the wrapped kernel '%s' %s before answering on ipc endpoints: "
            "starting it again on tcp (127.0.0.1)\n",
            r->child.spec.name, how);
    for (int i = 0; i < RCH_N; i++)
        if (r->up[i]) {
            zmq_close(r->up[i]);
            r->up[i] = NULL;
        }
    if (r->pidfd >= 0)
        close(r->pidfd);
    r->pidfd = -1;
    relay_child_stop(&r->child, 0);
    kguard_track(0, -1);
    struct jspec spec = r->child.spec; /* moved out, kept for the new start */
    jspec_init(&r->child.spec);
    relay_child_release(&r->child);
    jsign_release(&r->usign);
    r->got_iopub = false;
    if (launch(r, &spec, true, err, sizeof err)) {
        fprintf(stderr, "iopsd kernel: %s\n", err);
        jspec_release(&spec);
        return false;
    }
    /* What waits for the start was signed with the old key. */
    for (struct held *h = r->held; h; h = h->next) {
        struct jframe *f = rmsg_view(&h->m);
        struct jraw raw;
        char hex[JSIGN_HEX_LEN + 1];
        if (jraw_split(&raw, f, h->m.n, err, sizeof err) == 0 &&
            jraw_resign(&raw, &r->usign, hex) == 0)
            set_frame(&h->m.parts[raw.nidents + 1], hex, strlen(hex));
        free(f);
    }
    return true;
}

struct engine *engine_relay_new(const char *name, engine_event_fn fn, void *ctx, char *err,
                                size_t errlen)
{
    struct jspec spec;
    if (jspec_find(&spec, name, err, errlen))
        return NULL;
    struct engine_relay *r = xcalloc(1, sizeof *r);
    r->base.ops = &relay_ops;
    r->fn = fn;
    r->ctx = ctx;
    r->pidfd = -1;
    r->held_tail = &r->held;
    jmsg_uuid(r->session);
    jreplay_init(&r->ureplay, JREPLAY_DEFAULT_CAP);
    r->zctx = zmq_ctx_new();
    const char *tr = getenv("IOPSD_WRAP_TRANSPORT");
    if (launch(r, &spec, tr && !strcmp(tr, "tcp"), err, errlen))
        goto fail;
    return &r->base;
fail:
    relay_free(&r->base);
    return NULL;
}
