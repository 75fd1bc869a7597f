/* kernel: `iopsd kernel -f CONNECTION_FILE`, the transport of the native bash
 * kernel. Binds the five channels, then serves them from one zmq_poll loop
 * that also polls the bash engine's descriptors, so control requests are
 * answered while a cell runs. Heartbeat is a tiny thread echoing frames.
 *
 * iopub is an XPUB with NODROP: when a subscriber falls behind, messages wait
 * in a short queue and the engine's output is not read (backpressure, bounded
 * memory); after IOPUB_STALL_MS without progress the kernel stops waiting and
 * publishes lossily (as a plain PUB would) so a client that never reads
 * cannot stall the kernel. */
#include "server/cli.h"
#include "server/kernel.h"
#include "server/kernel_guard.h"
#include "server/bash_session.h"
#include "server/relay.h"
#include "server/zmtp_front.h"
#include "magics/magic_run.h"
#include "protocol/jconn.h"
#include "protocol/jraw.h"
#include "protocol/zmtp_oversize.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#define IOPUB_HWM 128
/* Largest subscription (or other inbound frame) on iopub. Frontends
 * subscribe to "" (1 byte on the wire); topics such as
 * "kernel.<uuid>.status" fit. */
#define IOPUB_SUB_MAX  256
#define IOPUB_STALL_MS 10000
/* iopub messages the kernel holds for a slow subscriber (a flood of requests
 * each publishes busy and idle); beyond this it publishes past the subscriber
 * at once, as after a stall: memory stays bounded and no request waits. */
#define IOPUB_PENDING_MAX 2048
/* ... or this many bytes: the wrap kernel relays the wrapped kernel's
 * messages whole, and one flush of output can be megabytes. */
#define IOPUB_PENDING_BYTES (32u << 20)
#define IOPUB_RETRY_MS      2
/* Once output has been published past the subscribers that took nothing
 * (libzmq then skips them until they read), a full subscriber is one that
 * reads but is behind: with the queue over its byte bound, output waits for
 * it this long (from when the queue first passed the bound) before it is
 * shed past it too. The wrapped kernel is not read meanwhile. */
#define IOPUB_CATCHUP_MS 3000
/* A relayed stream's text goes out in pieces of at most this many bytes (as
 * written in JSON), as the native kernel's output does: what libzmq queues
 * for one subscriber (IOPUB_HWM messages) stays under 8 MiB of streams
 * however the wrapped kernel flushes. */
#define RELAY_PIECE_MAX (64u << 10)
/* After a lossy send, non-output messages wait this long before they are
 * tried (see flush_pending). */
#define IOPUB_SETTLE_MS  2000
#define LINGER_MS        1000
#define MAX_ENGINE_ITEMS 16
/* Heartbeats: frames of one ping echoed (more are dropped, not echoed), and
 * the largest frame accepted (a bigger one disconnects its sender). */
#define HB_FRAMES_MAX 16
#define HB_FRAME_MAX  4096
/* bash starts when a request needs it, or after this long without requests:
 * kernel_info (what frontends wait for) never waits for bash to start. */
#define LAZY_START_MS 50
/* shell messages read per loop turn (the rest wait in libzmq's queue) */
#define SHELL_READ_BATCH 256

/* What the front (server/zmtp_front.c) lets one connection make libzmq hold,
 * checked on the bytes before libzmq sees them. Commands: a READY carries
 * Socket-Type and an Identity of at most 255 bytes; PING/PONG, SUBSCRIBE and
 * CANCEL are smaller. Handshake: the greeting and the READY. */
#define FRONT_COMMAND_MAX   4096
#define FRONT_HANDSHAKE_MAX 8192
/* shell: a 24 MiB cell (ENGINE_CELL_MAX) whose JSON escapes add up to as
 * much again, comm messages with buffers; control and stdin carry small
 * requests and replies (the frame cap stays libzmq's, 32 MiB). Together
 * with ZFRONT_INFLIGHT_MAX, what an unauthenticated peer can make libzmq
 * hold stays at a few tens of MB. */
#define FRONT_SHELL_MSG_MAX (48u << 20)
_Static_assert(FRONT_SHELL_MSG_MAX >= 2 * ENGINE_CELL_MAX, "a cell at the cap, escaped, passes");
#define FRONT_SMALL_MSG_MAX (32u << 20)
/* iopub: live subscriptions of one connection and their bytes. Frontends
 * subscribe to "" (one); t0..t999 take 3,890 bytes; 8 KiB of 250-byte
 * random topics cost libzmq's trie ~0.3 MB. */
#define FRONT_SUBS_MAX      1000
#define FRONT_SUB_BYTES_MAX (8u << 10)
/* iopub: inbound messages that are not subscriptions (drained unread). */
#define FRONT_IOPUB_MSG_MAX 4096
#define FRONT_IOPUB_FRAMES  16

static struct zmtp_caps front_caps(enum jconn_channel ch)
{
    struct zmtp_caps c = {
        .frame_max = JMSG_FRAME_MAX,
        .msg_max = FRONT_SMALL_MSG_MAX,
        .frames_max = JMSG_FRAMES_MAX,
        .command_max = FRONT_COMMAND_MAX,
        .handshake_max = FRONT_HANDSHAKE_MAX,
    };
    if (ch == JCONN_SHELL)
        c.msg_max = FRONT_SHELL_MSG_MAX;
    /* a signed request over the caps is answered (CellTooLarge), not cut;
     * an input_reply over them becomes end of file (kcore_stdin) */
    c.answer_oversized = ch == JCONN_SHELL || ch == JCONN_CONTROL || ch == JCONN_STDIN;
    if (ch == JCONN_IOPUB) {
        c.frame_max = IOPUB_SUB_MAX;
        c.msg_max = FRONT_IOPUB_MSG_MAX;
        c.frames_max = FRONT_IOPUB_FRAMES;
        c.subscriptions = true;
        c.subs_max = FRONT_SUBS_MAX;
        c.sub_bytes_max = FRONT_SUB_BYTES_MAX;
    }
    return c;
}

static const char *const chan_names[] = {"shell", "control", "stdin", "iopub"};

static int sig_write_fd = -1;

/* Interrupts so far: a window waiting for a tree that will not stop gives
 * up on the next one (magic_set_interrupts). */
static volatile sig_atomic_t sigints;

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (sig == SIGINT)
        sigints++;
    if (sig_write_fd >= 0)
        (void)!write(sig_write_fd, &c, 1);
    errno = saved;
}

/* Echoes every heartbeat (identity + up to HB_FRAMES_MAX frames) back to
 * its sender until the context shuts down. Echoes are sent without waiting:
 * one for a client whose queue is full (it does not read) or that has left
 * is dropped, so no client can hold up another's heartbeat. */
static void *heartbeat_main(void *arg)
{
    void *s = arg;
    zmq_msg_t parts[HB_FRAMES_MAX + 1];
    size_t dropped = 0;
    for (;;) {
        size_t n = 0;
        bool whole = true;
        int more = 1;
        while (more) {
            zmq_msg_t tmp, *dst = n <= HB_FRAMES_MAX ? &parts[n] : &tmp;
            zmq_msg_init(dst);
            if (zmq_msg_recv(dst, s, 0) < 0) {
                int e = zmq_errno();
                zmq_msg_close(dst);
                if (e == EINTR)
                    continue; /* a multipart message arrives whole: retry */
                for (size_t i = 0; i < n; i++)
                    zmq_msg_close(&parts[i]);
                zmq_close(s);
                return NULL; /* ETERM: the kernel is shutting down */
            }
            more = zmq_msg_more(dst);
            if (dst == &tmp) {
                zmq_msg_close(&tmp);
                whole = false; /* too many frames: not echoed */
            } else {
                n++;
            }
        }
        for (size_t i = 0; whole && i < n; i++)
            if (zmq_msg_send(&parts[i], s, ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0) {
                /* Only the first frame can be refused (full or gone). */
                if (dropped++ == 0)
                    fprintf(stderr, "iopsd kernel: heartbeat: a client does not read its echoes "
                                    "(or has left): its echoes are dropped\n");
                break;
            }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

/* Binds channel ch: at priv (the front's private endpoint) when given, else
 * at the connection file's endpoint. */
static void *bind_socket(struct kernel *k, int type, const struct jconn *c, enum jconn_channel ch,
                         const char *priv, char *err, size_t errlen)
{
    char ep[512];
    if (priv)
        snprintf(ep, sizeof ep, "%s", priv);
    else if (jconn_endpoint(c, ch, ep, sizeof ep)) {
        snprintf(err, errlen, "endpoint for %s too long", jconn_port_name(ch));
        return NULL;
    }
    void *s = zmq_socket(k->zctx, type);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = LINGER_MS, one = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    /* No ZMTP heartbeats: libzmq 4.3's heartbeat timeout on a connection
     * whose peer left with messages queued aborts the process
     * (stream_engine_base.cpp:331, "!_io_error"). Every socket is read at
     * all times instead, so no input stalls. */
    if (type == ZMQ_ROUTER) {
        /* A peer sending a frame over the cap is disconnected before the
         * frame is buffered: received memory stays bounded. */
        int64_t maxmsg = ch == JCONN_HB ? HB_FRAME_MAX : JMSG_FRAME_MAX;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        /* Every queued request's reply fits while a slow client reads:
         * with the default 1,000 a busy client lost replies. */
        int hwm = KQUEUE_MAX_MSGS + 1000;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    if (type == ZMQ_XPUB) {
        /* Subscriptions are the only input: libzmq keeps each in a trie at
         * ~95 bytes per byte, so one over the cap disconnects its sender. */
        int64_t maxmsg = IOPUB_SUB_MAX;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        int hwm = IOPUB_HWM;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
    }
    if (strchr(c->ip, ':'))
        zmq_setsockopt(s, ZMQ_IPV6, &one, sizeof one);
    /* ipc socket files are created 0600: only their owner may connect. */
    bool ipc = !strncmp(ep, "ipc://", 6);
    mode_t mask = ipc ? umask(0177) : 0;
    /* libzmq waits for its I/O thread inside zmq_bind and returns EINTR when
     * a signal (an orphan's SIGCHLD, the engine's SIGUSR2) comes meanwhile. */
    int rc, e;
    do {
        rc = zmq_bind(s, ep);
        e = zmq_errno();
    } while (rc != 0 && e == EINTR);
    if (ipc)
        umask(mask);
    if (rc != 0) {
        snprintf(err, errlen, "cannot bind %s (%.300s): %s", jconn_port_name(ch), ep,
                 zmq_strerror(e));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* Removes the ipc socket files (libzmq 4.3 leaves them behind). */
static void unlink_ipc(const struct jconn *c)
{
    char ep[512];
    if (strcmp(c->transport, "ipc"))
        return;
    for (int ch = 0; ch < JCONN_NCHAN; ch++)
        if (!jconn_endpoint(c, (enum jconn_channel)ch, ep, sizeof ep))
            unlink(ep + strlen("ipc://"));
}

/* IOPSD_KERNEL_LOG=FILE: one line per message in or out on the frontend's
 * side (seconds since the start, direction, channel, type, ids), to see
 * which message a hung frontend never got. */
static FILE *klog;
static uint64_t klog_t0;

static void klog_line(const char *dir, enum kchan ch, const char *type, const char *id,
                      const char *parent)
{
    fprintf(klog, "%.6f %s %s %s id=%s parent=%s\n", (double)(clock_mono_ns() - klog_t0) / 1e9, dir,
            chan_names[ch], type && *type ? type : "?", id && *id ? id : "-",
            parent && *parent ? parent : "-");
}

static void klog_msg(const char *dir, enum kchan ch, const struct jmsg *m)
{
    if (klog)
        klog_line(dir, ch, jmsg_type(m), jmsg_id(m),
                  json_string_value(json_object_get(m->parent, "msg_id")));
}

static void klog_raw(const char *dir, enum kchan ch, const struct jraw *raw)
{
    if (!klog)
        return;
    char parent[128] = "";
    jraw_parent_id(raw, parent, sizeof parent);
    json_t *h = jraw_peek(raw, JRAW_HEADER);
    klog_line(dir, ch, json_string_value(json_object_get(h, "msg_type")),
              json_string_value(json_object_get(h, "msg_id")), parent);
    json_decref(h);
}

/* Logs how many replies went to clients that had left, once they stop. */
static void report_unroutable(struct kernel *k)
{
    if (k->unroutable > 1)
        fprintf(stderr, "iopsd kernel: %zu more replies to departed clients were dropped\n",
                k->unroutable - 1);
    k->unroutable = 0;
}

/* Sends every frame of w; false (with errno) if the first frame was refused. */
static bool send_wire(void *s, const struct jwire *w, int flags)
{
    for (size_t i = 0; i < w->n; i++) {
        int more = i + 1 < w->n ? ZMQ_SNDMORE : 0, rc;
        while ((rc = zmq_send(s, w->frames[i].data, w->frames[i].len, flags | more)) < 0 &&
               zmq_errno() == EINTR)
            ;
        if (rc < 0) {
            if (i == 0)
                return false;
            /* Later parts of an accepted multipart message cannot be refused. */
            fprintf(stderr, "iopsd kernel: send failed mid-message: %s\n",
                    zmq_strerror(zmq_errno()));
            return false;
        }
    }
    return true;
}

/* send_wire for frames held as libzmq messages: each is sent as a copy
 * (libzmq shares a large frame's buffer: nothing is copied), so zm stays
 * whole for another try. */
static bool send_msgs(void *s, zmq_msg_t *zm, size_t n, int flags)
{
    for (size_t i = 0; i < n; i++) {
        int more = i + 1 < n ? ZMQ_SNDMORE : 0, rc;
        zmq_msg_t t;
        zmq_msg_init(&t);
        zmq_msg_copy(&t, &zm[i]);
        while ((rc = zmq_msg_send(&t, s, flags | more)) < 0 && zmq_errno() == EINTR)
            ;
        if (rc < 0) {
            int e = zmq_errno();
            zmq_msg_close(&t);
            if (i > 0)
                fprintf(stderr, "iopsd kernel: send failed mid-message: %s\n", zmq_strerror(e));
            errno = e;
            return false;
        }
    }
    return true;
}

static void piece_build(struct kernel *k, struct kpending *p);

/* A pending message's frames, however they are held (a split stream: its
 * next piece). */
static bool send_pending(struct kernel *k, void *s, struct kpending *p, int flags)
{
    if (p->split) {
        piece_build(k, p);
        return send_msgs(s, p->pz, p->nzm, flags);
    }
    return p->zm ? send_msgs(s, p->zm, p->nzm, flags) : send_wire(s, &p->wire, flags);
}

static void deliver_result(struct kernel *k, enum kchan ch, bool sent, const char *what);

/* Sends w on a ROUTER channel; `what` names it in messages. */
static void deliver(struct kernel *k, enum kchan ch, const struct jwire *w, const char *what)
{
    deliver_result(k, ch, send_wire(k->sock[ch], w, ZMQ_DONTWAIT), what);
}

static void deliver_result(struct kernel *k, enum kchan ch, bool sent, const char *what)
{
    if (sent) {
        report_unroutable(k);
    } else if (zmq_errno() == EHOSTUNREACH) {
        /* The client left (a closed tab with requests still queued): say it
         * once, then count. */
        if (k->unroutable++ == 0)
            fprintf(stderr,
                    "iopsd kernel: %s on %s: the client is gone (further replies to "
                    "departed clients are counted)\n",
                    what, chan_names[ch]);
    } else {
        fprintf(stderr, "iopsd kernel: %s on %s not delivered: %s\n", what, chan_names[ch],
                zmq_strerror(zmq_errno()));
    }
}

void kernel_send(struct kernel *k, enum kchan ch, struct jmsg *m)
{
    struct jwire w;
    if (jmsg_serialize(m, &k->sign, &w)) {
        fprintf(stderr, "iopsd kernel: cannot serialize %s\n", jmsg_type(m));
        return;
    }
    jwire_remember(&w, &k->replay);
    klog_msg("out", ch, m);
    deliver(k, ch, &w, jmsg_type(m));
    jwire_release(&w);
}

static void set_nodrop(struct kernel *k, int on)
{
    zmq_setsockopt(k->sock[KCHAN_IOPUB], ZMQ_XPUB_NODROP, &on, sizeof on);
}

static size_t pending_size(const struct kpending *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nzm; i++)
        n += zmq_msg_size(&p->zm[i]);
    for (size_t i = 0; i < p->wire.n; i++)
        n += p->wire.frames[i].len;
    return n - (p->text_at - p->text_start); /* a split stream's pieces sent */
}

static void piece_free(struct kpending *p)
{
    if (!p->pz)
        return;
    for (size_t i = 0; i < p->nzm; i++)
        zmq_msg_close(&p->pz[i]);
    free(p->pz);
    p->pz = NULL;
}

/* The kernel's own outgoing signature goes into the replay guard (as
 * jwire_remember does): a message sent back is refused. */
static void remember_signature(struct kernel *k, const char *hex)
{
    unsigned char digest[JSIGN_DIGEST_LEN];
    if (hex[0] && !jsign_unhex(hex, strlen(hex), digest) && !jreplay_seen(&k->replay, digest))
        jreplay_add(&k->replay, digest);
}

/* Builds the next piece of a split stream in p->pz (once): the same frames
 * but the text cut to at most RELAY_PIECE_MAX bytes (no escape or UTF-8
 * sequence cut: jraw_string_piece; text is left, and the cap is far above a
 * 12-byte escape, so the piece is never empty), its header's msg_id with
 * "-N" added from the second piece on, and a signature of its own. */
static void piece_build(struct kernel *k, struct kpending *p)
{
    if (p->pz)
        return;
    size_t hi = p->sig_at + 1, ci = p->sig_at + 4;
    const char *content = zmq_msg_data(&p->zm[ci]);
    size_t clen = zmq_msg_size(&p->zm[ci]), dec;
    size_t len =
        jraw_string_piece(content + p->text_at, p->text_end - p->text_at, RELAY_PIECE_MAX, &dec);
    p->pz = xcalloc(p->nzm, sizeof *p->pz);
    for (size_t i = 0; i < p->nzm; i++) {
        zmq_msg_init(&p->pz[i]);
        if (i != p->sig_at && i != ci && (i != hi || !p->piece || !p->id_end))
            zmq_msg_copy(&p->pz[i], &p->zm[i]);
    }
    /* the content: what is before the text, the piece, what is after */
    size_t tail = clen - p->text_end;
    zmq_msg_close(&p->pz[ci]);
    zmq_msg_init_size(&p->pz[ci], p->text_start + len + tail);
    char *c = zmq_msg_data(&p->pz[ci]);
    memcpy(c, content, p->text_start);
    memcpy(c + p->text_start, content + p->text_at, len);
    memcpy(c + p->text_start + len, content + p->text_end, tail);
    if (p->piece && p->id_end) {
        const char *h = zmq_msg_data(&p->zm[hi]);
        size_t hlen = zmq_msg_size(&p->zm[hi]);
        char suffix[24];
        int sl = snprintf(suffix, sizeof suffix, "-%u", p->piece);
        zmq_msg_close(&p->pz[hi]);
        zmq_msg_init_size(&p->pz[hi], hlen + (size_t)sl);
        char *nh = zmq_msg_data(&p->pz[hi]);
        memcpy(nh, h, p->id_end);
        memcpy(nh + p->id_end, suffix, (size_t)sl);
        memcpy(nh + p->id_end + sl, h + p->id_end, hlen - p->id_end);
    }
    struct jframe parts[4];
    for (int i = 0; i < 4; i++)
        parts[i] = (struct jframe){zmq_msg_data(&p->pz[hi + i]), zmq_msg_size(&p->pz[hi + i])};
    char hex[JSIGN_HEX_LEN + 1];
    if (jsign_sign(&k->sign, parts, 4, hex))
        hex[0] = '\0';
    zmq_msg_close(&p->pz[p->sig_at]);
    zmq_msg_init_size(&p->pz[p->sig_at], strlen(hex));
    memcpy(zmq_msg_data(&p->pz[p->sig_at]), hex, strlen(hex));
    remember_signature(k, hex);
    p->piece_len = len;
    p->text_bytes = dec;
}

static void pending_free(struct kpending *p)
{
    piece_free(p);
    jwire_release(&p->wire);
    for (size_t i = 0; i < p->nzm; i++)
        zmq_msg_close(&p->zm[i]);
    free(p->zm);
    json_decref(p->parent);
    free(p);
}

static void pending_pop(struct kernel *k)
{
    struct kpending *p = k->pending;
    k->pending = p->next;
    if (!k->pending)
        k->pending_tail = &k->pending;
    k->npending--;
    k->pending_bytes -= p->bytes;
    pending_free(p);
    if (!k->pending)
        k->overfull_since_ns = 0;
}

/* The head went out (or past a full subscriber): popped, unless it is a
 * split stream with text left, which stays at the head for its next piece. */
static void pending_sent(struct kernel *k)
{
    struct kpending *p = k->pending;
    if (p->split && p->pz) {
        piece_free(p);
        p->text_at += p->piece_len;
        p->piece++;
        if (p->text_at < p->text_end) {
            size_t b = pending_size(p);
            k->pending_bytes -= p->bytes - b;
            p->bytes = b;
            return;
        }
    }
    pending_pop(k);
}

/* Bytes queued behind the head: what a backlog holds (the head, however
 * large, is one message already received, and goes out in pieces). */
static size_t pending_backlog(const struct kernel *k)
{
    return k->pending ? k->pending_bytes - k->pending->bytes : 0;
}

bool kernel_iopub_room(const struct kernel *k)
{
    return pending_backlog(k) < IOPUB_PENDING_BYTES;
}

/* Puts a stream message on stderr saying how much output was shed at the
 * head of the queue (it is not sheddable: the slow subscriber gets it). */
static void queue_shed_notice(struct kernel *k)
{
    char text[256];
    snprintf(text, sizeof text,
             "\n[iopsd: output was published past a client that could not keep up: it may lack "
             "up to %zu bytes of it (%zu stream messages)]\n",
             k->shed_bytes, k->shed_msgs);
    struct jmsg parent, m;
    jmsg_init(&parent);
    jmsg_init(&m);
    parent.header = k->shed_parent; /* borrowed */
    jmsg_build(&m, "stream", k->session, "iopsd", &parent,
               json_pack("{s:s, s:s}", "name", "stderr", "text", text), NULL);
    char topic[128];
    int n = snprintf(topic, sizeof topic, "kernel.%s.stream", k->session);
    m.idents = xcalloc(1, sizeof *m.idents);
    m.idents[0].data = (unsigned char *)xstrndup(topic, (size_t)n);
    m.idents[0].len = (size_t)n;
    m.nidents = 1;
    struct kpending *p = xcalloc(1, sizeof *p);
    if (jmsg_serialize(&m, &k->sign, &p->wire)) {
        free(p);
    } else {
        jwire_remember(&p->wire, &k->replay);
        p->next = k->pending;
        if (!k->pending)
            k->pending_tail = &p->next;
        k->pending = p;
        k->npending++;
        p->bytes = pending_size(p);
        k->pending_bytes += p->bytes;
    }
    jmsg_release(&m);
    json_decref(k->shed_parent);
    k->shed_parent = NULL;
    k->shed_msgs = k->shed_bytes = 0;
}

/* Sends p past subscribers that have no room (they miss it). libzmq then
 * stops matching a subscriber whose queue was full until it has read part
 * of it, so for a while later sends skip it without saying so. */
static void send_lossy(struct kernel *k, struct kpending *p)
{
    set_nodrop(k, 0);
    send_pending(k, k->sock[KCHAN_IOPUB], p, ZMQ_DONTWAIT);
    set_nodrop(k, 1);
    k->last_lossy_ns = clock_mono_ns();
}

/* Counts p (a stream published while output is being shed) for the notice. */
static void count_shed(struct kernel *k, struct kpending *p)
{
    if (!k->shed_parent)
        k->shed_parent = json_incref(p->parent);
    k->shed_msgs++;
    k->shed_bytes += p->text_bytes;
}

/* Tries to send the queued iopub messages, oldest first; returns when one
 * must wait for room.
 *
 * Output (streams) waits for room up to IOPUB_STALL_MS (or while fewer than
 * IOPUB_PENDING_MAX messages wait); then the kernel sheds it: the stream is
 * published past the full subscriber (it misses it, the others get it) and
 * the next one is again sent with flow control. libzmq then stops matching
 * the full subscriber until it has read part of its queue, and later sends
 * skip it without saying so; every stream published from the first shed
 * one to the next non-output message is therefore counted, and a notice in
 * the stream gives that upper bound of what a slow subscriber may lack.
 *
 * Past the queue's byte bound (the wrap kernel's output arriving faster than
 * it goes out), the first full subscriber is shed at once: the usual cause
 * is one that takes nothing, and the others drained while the kernel waited.
 * After that, a full subscriber is one that reads but is behind; shedding
 * past it would make libzmq skip it for half its queue (64 messages), so
 * output waits for it up to IOPUB_CATCHUP_MS from when the bound was passed,
 * then is shed past it too.
 *
 * Every other message (status, execute_input, errors, display data) is
 * never shed while a subscriber takes messages: it first waits
 * IOPUB_SETTLE_MS after the last shed message (time for a skipped
 * subscriber that reads to be matched again), then up to IOPUB_STALL_MS
 * for room. Only a subscriber that takes nothing in that time (or a flood
 * past IOPUB_PENDING_MAX) misses it, and that is logged. */
static void flush_pending(struct kernel *k)
{
    const uint64_t stall = (uint64_t)IOPUB_STALL_MS * 1000000u;
    const uint64_t settle = (uint64_t)IOPUB_SETTLE_MS * 1000000u;
    const uint64_t catchup = (uint64_t)IOPUB_CATCHUP_MS * 1000000u;
    while (k->pending) {
        struct kpending *p = k->pending;
        uint64_t now = clock_mono_ns();
        bool settling = k->last_lossy_ns && now - k->last_lossy_ns < settle;
        /* bytes make only output overfull: status and results wait */
        bool full_bytes = p->sheddable && pending_backlog(k) > IOPUB_PENDING_BYTES;
        bool overfull = k->npending > IOPUB_PENDING_MAX || full_bytes;
        if (full_bytes && !k->overfull_since_ns)
            k->overfull_since_ns = now;
        if (p->sheddable && k->shed_parent && !json_equal(k->shed_parent, p->parent)) {
            queue_shed_notice(k); /* another cell's output: say so first */
            continue;
        }
        if (!p->sheddable && k->shed_msgs) {
            queue_shed_notice(k); /* the notice goes before the status */
            continue;
        }
        if (!p->sheddable && settling && !k->iopub_stuck && !overfull)
            return;
        if (send_pending(k, k->sock[KCHAN_IOPUB], p, ZMQ_DONTWAIT)) {
            if (p->sheddable && k->shed_msgs)
                count_shed(k, p); /* a skipped subscriber may lack it */
            k->iopub_lossy = false;
            if (!p->sheddable && !settling && k->last_lossy_ns) {
                fprintf(stderr, "iopsd kernel: iopub waits for every subscriber again (one that "
                                "still reads nothing is skipped until it reads)\n");
                k->iopub_stuck = false;
                k->last_lossy_ns = 0;
            }
            k->stall_since_ns = k->held_since_ns = 0;
            pending_sent(k);
            continue;
        }
        int e = zmq_errno();
        if (e != EAGAIN) {
            fprintf(stderr, "iopsd kernel: iopub: %s\n", zmq_strerror(e));
            send_lossy(k, p);
            pending_sent(k);
            continue;
        }
        if (!k->stall_since_ns)
            k->stall_since_ns = now;
        if (p->sheddable) {
            if (full_bytes && k->last_lossy_ns && now - k->overfull_since_ns < catchup)
                return; /* a subscriber that reads, behind: let it catch up */
            if (!k->iopub_lossy) {
                if (!overfull && now - k->stall_since_ns < stall)
                    return;
                if (!k->shed_msgs && overfull)
                    fprintf(stderr,
                            "iopsd kernel: %zu iopub messages (%zu bytes) wait for a slow "
                            "subscriber: publishing output without waiting for it\n",
                            k->npending, k->pending_bytes);
                else if (!k->shed_msgs)
                    fprintf(stderr,
                            "iopsd kernel: an iopub subscriber has not read for %d ms: "
                            "publishing output without waiting for it\n",
                            IOPUB_STALL_MS);
                k->iopub_lossy = true;
            }
            count_shed(k, p);
            send_lossy(k, p);
            pending_sent(k);
            continue;
        }
        if (!k->iopub_stuck) {
            if (!k->held_since_ns)
                k->held_since_ns = now;
            if (!overfull && now - k->held_since_ns < stall)
                return;
            fprintf(stderr,
                    "iopsd kernel: an iopub subscriber took no message for %d ms more "
                    "(%zu waiting): publishing status and results without waiting for it\n",
                    IOPUB_STALL_MS, k->npending);
            k->iopub_stuck = true;
        }
        send_lossy(k, p);
        pending_sent(k);
        k->held_since_ns = 0;
    }
}

/* Queues w (owned) for iopub and sends what it can. A stream (stream_parent:
 * its parent header, owned; NULL for any other message) may be shed. */
static void publish_pending(struct kernel *k, struct kpending *p, json_t *stream_parent,
                            size_t text_bytes)
{
    if (stream_parent) {
        p->sheddable = true;
        p->text_bytes = text_bytes;
        p->parent = stream_parent;
    }
    p->bytes = pending_size(p);
    *k->pending_tail = p;
    k->pending_tail = &p->next;
    k->npending++;
    k->pending_bytes += p->bytes;
    flush_pending(k);
}

static void publish_wire(struct kernel *k, struct jwire *w, json_t *stream_parent,
                         size_t text_bytes)
{
    struct kpending *p = xcalloc(1, sizeof *p);
    jwire_remember(w, &k->replay);
    p->wire = *w; /* moved */
    publish_pending(k, p, stream_parent, text_bytes);
}

void kernel_publish(struct kernel *k, struct jmsg *m)
{
    struct jwire w;
    if (jmsg_serialize(m, &k->sign, &w)) {
        fprintf(stderr, "iopsd kernel: cannot serialize %s\n", jmsg_type(m));
        return;
    }
    bool stream = !strcmp(jmsg_type(m), "stream");
    klog_msg("out", KCHAN_IOPUB, m);
    publish_wire(k, &w, stream ? json_incref(m->parent) : NULL,
                 stream ? json_string_length(json_object_get(m->content, "text")) : 0);
}

void kernel_relay_out(struct kernel *k, enum kchan ch, const struct jframe *f, size_t n,
                      zmq_msg_t *msgs)
{
    struct jraw raw;
    char err[256], hex[JSIGN_HEX_LEN + 1] = "", type[64];
    if (jraw_split_capped(&raw, f, n, SIZE_MAX / 4, SIZE_MAX / 4, err, sizeof err)) {
        fprintf(stderr, "iopsd kernel: cannot relay a message on %s\n", chan_names[ch]);
        return;
    }
    if (jraw_msg_type(&raw, type, sizeof type))
        snprintf(type, sizeof type, "a relayed message");
    klog_raw("out", ch, &raw);
    /* A long stream goes out in pieces, each signed when it is cut; the
     * text is found without a parse (a stream may be 50 MB). */
    struct jraw_span text = {0};
    bool split = ch == KCHAN_IOPUB && msgs && !strcmp(type, "stream") && jraw_nbuffers(&raw) == 0 &&
                 !jraw_string_span(&raw, JRAW_CONTENT, "text", &text) &&
                 text.end - text.start > RELAY_PIECE_MAX;
    if (!split && jraw_resign(&raw, &k->sign, hex)) {
        fprintf(stderr, "iopsd kernel: cannot relay a message on %s\n", chan_names[ch]);
        return;
    }
    /* The same frames; only the signature is the frontend key's. Frames
     * held by libzmq are shared with the message received, not copied. */
    size_t sig = raw.nidents + 1;
    struct kpending *p = xcalloc(1, sizeof *p);
    if (msgs) {
        p->zm = xcalloc(n, sizeof *p->zm);
        p->nzm = n;
        for (size_t i = 0; i < n; i++) {
            if (i == sig) {
                zmq_msg_init_size(&p->zm[i], strlen(hex));
                memcpy(zmq_msg_data(&p->zm[i]), hex, strlen(hex));
            } else {
                zmq_msg_init(&p->zm[i]);
                zmq_msg_copy(&p->zm[i], &msgs[i]);
            }
        }
    } else {
        p->wire = (struct jwire){xcalloc(n, sizeof(struct jblob)), n};
        for (size_t i = 0; i < n; i++) {
            const void *d = i == sig ? hex : f[i].data;
            size_t len = i == sig ? strlen(hex) : f[i].len;
            p->wire.frames[i].data = xmalloc(len ? len : 1);
            if (len)
                memcpy(p->wire.frames[i].data, d, len);
            p->wire.frames[i].len = len;
        }
    }
    remember_signature(k, hex);
    if (split) {
        p->split = true;
        p->sig_at = sig;
        p->text_start = p->text_at = text.start;
        p->text_end = text.end;
        struct jraw_span id;
        if (!jraw_string_span(&raw, JRAW_HEADER, "msg_id", &id))
            p->id_end = id.end;
    }
    if (ch == KCHAN_IOPUB) {
        /* The wrapped kernel's streams may be shed for a slow subscriber as
         * the native kernel's are (the rest never is): their parent and size
         * are read for the notice. */
        json_t *parent = NULL;
        size_t text_bytes = 0;
        if (!strcmp(type, "stream") && (parent = jraw_peek(&raw, JRAW_PARENT))) {
            if (split)
                text_bytes = text.decoded;
            else if (jraw_string_bytes(&raw, JRAW_CONTENT, "text", &text_bytes))
                text_bytes = 0; /* counted without parsing: a stream may be 50 MB */
        }
        publish_pending(k, p, parent, text_bytes);
        return;
    }
    deliver_result(k, ch, send_pending(k, k->sock[ch], p, ZMQ_DONTWAIT), type);
    pending_free(p);
}

/* Receives one multipart message into frames (capped); -EAGAIN when none. */
static int recv_frames(void *s, zmq_msg_t *parts, size_t max, size_t *n)
{
    *n = 0;
    int more = 1;
    int rc = 0;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_t *dst = *n < max ? &parts[*n] : &tmp;
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, s, *n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(dst);
            return *n == 0 ? -e : -EIO;
        }
        more = zmq_msg_more(dst);
        if (*n < max)
            (*n)++;
        else {
            zmq_msg_close(&tmp);
            rc = -E2BIG;
        }
    }
    return rc;
}

/* A stand-in of the front for a message over its caps (zmtp_oversize.h)
 * carries the original's signature: its own differs with the size of the
 * (unsigned) buffers, so a replay of the original is caught by that one.
 * True when it was seen before (the stand-in is dropped). */
static bool standin_replayed(struct kernel *k, enum kchan ch, json_t *content)
{
    json_t *over = json_object_get(content, ZOV_MARKER);
    const char *orig = json_string_value(json_object_get(over, "signature"));
    unsigned char d[JSIGN_DIGEST_LEN];
    if (!orig || jsign_unhex(orig, strlen(orig), d))
        return false;
    if (jreplay_seen(&k->replay, d)) {
        fprintf(stderr,
                "iopsd kernel: dropped a message on %s: duplicate signature (replayed message, "
                "over the caps)\n",
                chan_names[ch]);
        return true;
    }
    jreplay_add(&k->replay, d);
    return false;
}

bool kernel_recv(struct kernel *k, enum kchan ch, struct jmsg *m, size_t *bytes)
{
    static zmq_msg_t parts[JMSG_FRAMES_MAX + 1];
    for (;;) {
        size_t n;
        int rc = recv_frames(k->sock[ch], parts, JMSG_FRAMES_MAX + 1, &n);
        if (rc == -EAGAIN || rc == -EINTR || rc == -ETERM)
            return false;
        char err[256] = "";
        size_t total = 0;
        bool taken = false;
        if (rc == 0) {
            struct jframe *f = xcalloc(n, sizeof *f);
            for (size_t i = 0; i < n; i++) {
                f[i].data = zmq_msg_data(&parts[i]);
                f[i].len = zmq_msg_size(&parts[i]);
                total += f[i].len;
            }
            if (k->engine && k->engine->ops->relay) {
                /* A relaying engine takes messages as their original frames,
                 * verified here (the frontend's key and replay guard). */
                struct jraw raw;
                rc = jraw_split(&raw, f, n, err, sizeof err);
                if (!rc)
                    rc = jraw_verify(&raw, &k->sign, &k->replay, err, sizeof err);
                if (!rc)
                    klog_raw("in", ch, &raw);
                const struct jframe *c = rc ? NULL : &jraw_parts(&raw)[JRAW_CONTENT];
                bool standin = c && zov_is_standin(c->data, c->len);
                if (standin) {
                    json_t *content = json_loadb(c->data, c->len, 0, NULL);
                    taken = standin_replayed(k, ch, content);
                    json_decref(content);
                }
                /* a request's stand-in is answered here; an input_reply's
                 * goes on as end of file, which only the relay can send */
                if (!rc && !taken && (!standin || ch == KCHAN_STDIN) &&
                    k->engine->ops->relay(k->engine, ch, f, n))
                    taken = true;
                else if (!rc && !taken)
                    rc = jmsg_parse(m, f, n, &k->sign, NULL, err, sizeof err);
            } else {
                rc = jmsg_parse(m, f, n, &k->sign, &k->replay, err, sizeof err);
                if (!rc)
                    klog_msg("in", ch, m);
                if (!rc && json_is_object(json_object_get(m->content, ZOV_MARKER)) &&
                    standin_replayed(k, ch, m->content)) {
                    jmsg_release(m);
                    taken = true;
                }
            }
            free(f);
        } else {
            snprintf(err, sizeof err, "%s", rc == -E2BIG ? "too many frames" : zmq_strerror(-rc));
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        if (taken)
            continue;
        if (rc == 0) {
            if (bytes)
                *bytes = total;
            return true;
        }
        fprintf(stderr, "iopsd kernel: dropped a message on %s: %s\n", chan_names[ch], err);
    }
}

/* Reads what waits on shell (at most `max` messages) into the queue. A
 * request beyond the queue's bounds is answered with an error at once. */
static void read_shell(struct kernel *k, int max)
{
    struct jmsg m;
    size_t bytes;
    jmsg_init(&m);
    for (int i = 0; i < max && !k->stop && kernel_recv(k, KCHAN_SHELL, &m, &bytes); i++) {
        if (k->nqueue >= KQUEUE_MAX_MSGS || k->queue_bytes + bytes > KQUEUE_MAX_BYTES) {
            if (k->refused++ == 0)
                fprintf(stderr,
                        "iopsd kernel: shell queue full (%zu requests, %zu bytes): answering "
                        "'%s' and what follows with an error until it drains\n",
                        k->nqueue, k->queue_bytes, jmsg_type(&m));
            kcore_reject(k, &m, k->nqueue, k->queue_bytes);
            jmsg_release(&m);
            continue;
        }
        struct kqueued *q = xcalloc(1, sizeof *q);
        q->msg = m; /* moved */
        jmsg_init(&m);
        q->bytes = bytes;
        *k->queue_tail = q;
        k->queue_tail = &q->next;
        k->nqueue++;
        k->queue_bytes += bytes;
    }
}

bool kernel_next_shell(struct kernel *k, struct jmsg *m)
{
    if (!k->queue)
        read_shell(k, 1);
    struct kqueued *q = k->queue;
    if (!q)
        return false;
    k->queue = q->next;
    if (!k->queue) {
        k->queue_tail = &k->queue;
        if (k->refused)
            fprintf(stderr, "iopsd kernel: shell queue drained; %zu requests were refused\n",
                    k->refused);
        k->refused = 0;
    }
    k->nqueue--;
    k->queue_bytes -= q->bytes;
    *m = q->msg; /* moved */
    free(q);
    return true;
}

static void queue_release(struct kernel *k)
{
    struct jmsg m;
    while (k->queue && kernel_next_shell(k, &m))
        jmsg_release(&m);
}

int kernel_ensure_engine(struct kernel *k, char *err, size_t errlen)
{
    if (k->engine_started)
        return 0;
    int rc = k->engine->ops->ensure(k->engine, err, errlen);
    k->engine_started = rc == 0;
    return rc;
}

static void drain_subscriptions(struct kernel *k)
{
    char buf[256];
    int ev;
    size_t len = sizeof ev;
    while (zmq_getsockopt(k->sock[KCHAN_IOPUB], ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN))
        if (zmq_recv(k->sock[KCHAN_IOPUB], buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            break;
}

static void handle_signals(struct kernel *k)
{
    char c[16];
    ssize_t n;
    while ((n = read(k->sigpipe[0], c, sizeof c)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (c[i] == SIGINT) {
                kcore_interrupt(k);
            } else if (c[i] == SIGUSR2) {
                /* the engine's wake-up: a measured cell's code is over */
                k->engine->ops->poke(k->engine);
                if (k->cell.done)
                    kcore_finish_cell(k);
            } else if (c[i] == SIGCHLD) {
                /* an adopted orphan (the kernel is a subreaper) exited */
                kguard_reap_orphans(
                    k->engine->ops->measure_root ? k->engine->ops->measure_root(k->engine) : 0);
            } else if (c[i] == SIGTERM || c[i] == SIGHUP) {
                /* Ended from outside rather than by shutdown_request. */
                k->stop = true;
                k->exit_status = 128 + c[i];
            }
        }
}

/* The earlier of two timeouts (-1: none). */
static long min_timeout(long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int serve(struct kernel *k)
{
    while (!k->stop) {
        zmq_pollitem_t items[8 + MAX_ENGINE_ITEMS];
        int n = 0;
        items[n++] = (zmq_pollitem_t){k->sock[KCHAN_CONTROL], 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){k->sock[KCHAN_STDIN], 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){k->sock[KCHAN_IOPUB], 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){NULL, k->sigpipe[0], ZMQ_POLLIN, 0};
        /* shell is read at all times: requests queue while a cell runs */
        int shell_at = n;
        items[n++] = (zmq_pollitem_t){k->sock[KCHAN_SHELL], 0, ZMQ_POLLIN, 0};
        /* While iopub is backed up, the engine's output waits in its pipes
         * (bash blocks on them). A relaying engine's source cannot be held
         * back (the wrapped kernel's PUB never blocks; its messages would
         * pile up in libzmq, unbounded in bytes): it is read until the
         * queue's byte bound, past which output is shed (flush_pending). */
        int ne = 0, engine_at = n;
        long timeout = -1;
        bool poll_engine =
            k->engine_started && (!k->pending || (k->engine->ops->relay && kernel_iopub_room(k)));
        if (!k->engine_started) {
            timeout = LAZY_START_MS; /* answer early requests, then start the engine */
        } else if (poll_engine) {
            ne = k->engine->ops->pollitems(k->engine, items + n, MAX_ENGINE_ITEMS);
            if (ne < 0)
                ne = 0;
            n += ne;
            timeout = min_timeout(k->engine->ops->timeout_ms(k->engine), kcore_timeout_ms(k));
            if (k->pending)
                timeout = min_timeout(timeout, IOPUB_RETRY_MS);
        } else {
            timeout = IOPUB_RETRY_MS;
        }
        int rc = zmq_poll(items, n, timeout);
        if (rc < 0) {
            if (zmq_errno() == EINTR) {
                handle_signals(k);
                continue;
            }
            fprintf(stderr, "iopsd kernel: zmq_poll: %s\n", zmq_strerror(zmq_errno()));
            return EXIT_IOPSD_FAILED;
        }
        if (items[3].revents)
            handle_signals(k);
        struct jmsg m;
        jmsg_init(&m);
        if (items[0].revents)
            while (!k->stop && kernel_recv(k, KCHAN_CONTROL, &m, NULL)) {
                kcore_dispatch(k, KCHAN_CONTROL, &m);
                jmsg_release(&m);
            }
        if (items[1].revents)
            while (kernel_recv(k, KCHAN_STDIN, &m, NULL)) {
                kcore_stdin(k, &m);
                jmsg_release(&m);
            }
        if (items[2].revents)
            drain_subscriptions(k);
        if (poll_engine && (ne > 0 || timeout >= 0)) {
            int hr = k->engine->ops->handle(k->engine, items + engine_at, ne);
            if (hr < 0 && hr != -EAGAIN)
                fprintf(stderr, "iopsd kernel: %s engine: %s\n", k->engine->ops->name,
                        strerror(-hr));
            if (k->cell.done)
                kcore_finish_cell(k);
            kcore_tick(k);
        }
        if (k->pending)
            flush_pending(k);
        if (items[shell_at].revents)
            read_shell(k, SHELL_READ_BATCH);
        /* Queued requests run in order; an execute makes the cell active. */
        while (!k->stop && !k->cell.active && kernel_next_shell(k, &m)) {
            kcore_dispatch(k, KCHAN_SHELL, &m);
            jmsg_release(&m);
        }
        if (!k->engine_started && !k->stop && rc == 0) {
            char err[256];
            if (kernel_ensure_engine(k, err, sizeof err)) {
                fprintf(stderr, "iopsd kernel: cannot start %s: %s\n", k->engine->ops->name, err);
                return EXIT_IOPSD_FAILED;
            }
        }
    }
    /* Give queued iopub messages (the last idle) a last chance. */
    uint64_t until = clock_mono_ns() + 500000000u;
    while (k->pending && clock_mono_ns() < until) {
        flush_pending(k);
        if (k->pending)
            usleep(IOPUB_RETRY_MS * 1000);
    }
    report_unroutable(k);
    return k->exit_status;
}

static int usage_error(const char *msg)
{
    if (msg)
        cli_error("kernel: %s", msg);
    fputs("Usage: iopsd kernel [--wrap KERNEL] -f CONNECTION_FILE\n", stderr);
    return EXIT_USAGE;
}

int cmd_kernel(int argc, char **argv)
{
    const char *path = NULL, *wrap = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs("Usage: iopsd kernel [--wrap KERNEL] -f CONNECTION_FILE\n"
                  "Runs the native bash Jupyter kernel (started by Jupyter from the kernel spec\n"
                  "that 'iopsd install' writes); with --wrap, runs kernel spec KERNEL behind\n"
                  "iopsd instead (the spec 'iopsd install --wrap KERNEL' writes).\n",
                  stdout);
            return 0;
        } else if (!strcmp(argv[i], "--wrap") && i + 1 < argc) {
            wrap = argv[++i];
        } else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--connection-file")) &&
                   i + 1 < argc) {
            path = argv[++i];
        } else if (!strncmp(argv[i], "--connection-file=", 18)) {
            path = argv[i] + 18;
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "unexpected argument '%s'", argv[i]);
            return usage_error(msg);
        }
    }
    if (!path)
        return usage_error("missing -f CONNECTION_FILE");

    /* A long-lived process that receives messages of any size up to its
     * caps: buffers of 1 MiB and more are mapped for themselves and unmapped
     * when freed. glibc's default raises its threshold to the largest block
     * freed (up to 32 MiB), after which such blocks come from an arena that
     * keeps the memory: three cut 30 MiB messages left 60 MiB resident. Set
     * before any thread exists; a no-op under the sanitizers' allocators. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);

    const char *log_path = getenv("IOPSD_KERNEL_LOG");
    if (log_path && *log_path) {
        klog = fopen(log_path, "ae");
        if (klog) {
            setvbuf(klog, NULL, _IOLBF, 0);
            klog_t0 = clock_mono_ns();
        } else {
            fprintf(stderr, "iopsd kernel: warning: IOPSD_KERNEL_LOG: cannot open %s: %s\n",
                    log_path, strerror(errno));
        }
    }

    char err[512];
    struct jconn conn;
    if (jconn_load(&conn, path, err, sizeof err)) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }

    struct kernel *k = xcalloc(1, sizeof *k);
    struct zfront *front = NULL;
    int status = EXIT_IOPSD_FAILED;
    k->pending_tail = &k->pending;
    k->queue_tail = &k->queue;
    k->sigpipe[0] = k->sigpipe[1] = -1;
    if (jsign_init(&k->sign, conn.scheme, conn.key, conn.keylen, err, sizeof err)) {
        cli_error("connection file %s: %s", path, err);
        status = EXIT_USAGE;
        goto out_conn;
    }
    if (!conn.keylen)
        fprintf(stderr,
                "iopsd kernel: warning: connection file %s has an empty key: messages "
                "are neither signed nor checked, and anyone who can reach the ports can "
                "run code as you\n",
                path);
    jreplay_init(&k->replay, JREPLAY_DEFAULT_CAP);
    jmsg_uuid(k->session);

    if (pipe2(k->sigpipe, O_CLOEXEC | O_NONBLOCK)) {
        cli_error("pipe: %s", strerror(errno));
        goto out_sign;
    }
    sig_write_fd = k->sigpipe[1];
    magic_set_interrupts(&sigints);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL); /* the engine's wake-up (a measured cell's end) */
    signal(SIGPIPE, SIG_IGN);

    /* Nothing a cell starts outlives the kernel: a subreaper, and a guard for
     * when the kernel is killed (before any thread exists), for bash and for
     * the wrapped kernel alike. */
    int grc = kguard_start();
    if (grc == 0) {
        if (!wrap)
            bash_session_set_guard(kguard_track, kguard_own_dir, SIGSTOP);
        sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
        sigaction(SIGCHLD, &sa, NULL);
    } else {
        fprintf(stderr, "iopsd kernel: warning: no guard process: %s\n", strerror(-grc));
    }
    if (wrap) {
        /* The wrapped kernel starts now, before any thread exists. */
        k->engine = engine_relay_new(wrap, kcore_engine_event, k, err, sizeof err);
        if (!k->engine) {
            cli_error("kernel --wrap: %s", err);
            status = EXIT_USAGE;
            goto out_signals;
        }
        /* Running already: polled from the first turn (the lazy start waits
         * for a quiet moment, which a client asking kernel_info every few
         * milliseconds never leaves). */
        kernel_ensure_engine(k, err, sizeof err);
    } else {
        k->engine = engine_bash_new(kcore_engine_event, k); /* asks bash its version meanwhile */
    }
    k->zctx = zmq_ctx_new();
    static const int types[4] = {ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_XPUB};
    static const enum jconn_channel ports[4] = {JCONN_SHELL, JCONN_CONTROL, JCONN_STDIN,
                                                JCONN_IOPUB};
    /* The four channels that take requests and subscriptions are reached
     * through the front, which checks each peer's bytes before libzmq holds
     * them; the heartbeat is bounded by libzmq's options alone. */
    front = zfront_new(err, sizeof err);
    if (!front) {
        cli_error("kernel: %s", err);
        goto out_sockets;
    }
    /* iopub listens first and shell last: a frontend that reached shell
     * finds iopub there too (a refused connection is tried again 100 ms
     * later, and its first cell's output went to no one) */
    static const int order[4] = {3, 1, 2, 0};
    for (int j = 0; j < 4; j++) {
        int i = order[j];
        char priv[160];
        struct zmtp_caps caps = front_caps(ports[i]);
        if (zfront_listen(front, chan_names[i], &conn, ports[i], &caps, priv, sizeof priv, err,
                          sizeof err)) {
            cli_error("kernel: %s", err);
            goto out_sockets;
        }
        k->sock[i] = bind_socket(k, types[i], &conn, ports[i], priv, err, sizeof err);
        if (!k->sock[i]) {
            cli_error("kernel: %s", err);
            goto out_sockets;
        }
    }
    if (zfront_start(front, err, sizeof err)) {
        cli_error("kernel: %s", err);
        goto out_sockets;
    }
    k->hb = bind_socket(k, ZMQ_ROUTER, &conn, JCONN_HB, NULL, err, sizeof err);
    if (!k->hb) {
        cli_error("kernel: %s", err);
        goto out_sockets;
    }
    pthread_t hb_thread;
    if (pthread_create(&hb_thread, NULL, heartbeat_main, k->hb)) {
        zmq_close(k->hb);
        cli_error("kernel: cannot start the heartbeat thread");
        goto out_sockets;
    }

    kcore_starting(k);
    status = serve(k);
    kcore_release(k); /* ends a measurement still attached to the engine */
    k->engine->ops->free(k->engine);
    k->engine = NULL;
    for (int i = 0; i < 4; i++)
        zmq_close(k->sock[i]);
    memset(k->sock, 0, sizeof k->sock);
    zmq_ctx_shutdown(k->zctx);
    pthread_join(hb_thread, NULL);
out_sockets:
    for (int i = 0; i < 4; i++)
        if (k->sock[i])
            zmq_close(k->sock[i]);
    while (zmq_ctx_term(k->zctx) != 0 && zmq_errno() == EINTR)
        ;
    /* after libzmq has sent what it lingered on through the front */
    zfront_free(front);
    unlink_ipc(&conn);
out_signals:
    sig_write_fd = -1;
    close(k->sigpipe[0]);
    close(k->sigpipe[1]);
out_sign:
    queue_release(k);
    while (k->pending)
        pending_pop(k);
    json_decref(k->shed_parent);
    kcore_release(k);
    if (k->engine)
        k->engine->ops->free(k->engine);
    kguard_end(); /* what left bash's session or the wrapped kernel's group: setsid
                   * children, daemons; then the guard */
    jreplay_release(&k->replay);
    jsign_release(&k->sign);
out_conn:
    jconn_release(&conn);
    free(k);
    if (klog) {
        fclose(klog);
        klog = NULL;
    }
    return status;
}
