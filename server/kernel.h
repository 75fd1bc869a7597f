/* kernel: the native bash Jupyter kernel's internals, shared by the transport
 * (kernel.c: sockets, the poll loop, signals, heartbeat) and the core
 * (kernel_core.c: dispatch, busy/idle, handlers, history). */
#ifndef IOPSD_KERNEL_H
#define IOPSD_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "protocol/jmsg.h"
#include "protocol/jsign.h"
#include "magics/magic.h"
#include "magics/magic_run.h"
#include "server/engine.h"
#include "server/kernel_iops.h"

enum kchan { KCHAN_SHELL, KCHAN_CONTROL, KCHAN_STDIN, KCHAN_IOPUB };

/* One history entry of this session: the code of execution number `line`. */
struct khist {
    int line;
    char *code;
};

/* A shell request that arrived while a cell ran: shell is read at all times
 * (a socket left unread lets libzmq's input stall, and its heartbeat path
 * then aborts the process), and requests wait here, bounded, in order. */
struct kqueued {
    struct jmsg msg;
    size_t bytes;
    struct kqueued *next;
};

#define KQUEUE_MAX_MSGS  10000
#define KQUEUE_MAX_BYTES (64u << 20)

/* A message waiting for room on iopub (flow control). Output (a stream) may
 * be shed for a subscriber that cannot keep up; every other message
 * (status, execute_input, error, display data) waits for room. */
struct kpending {
    struct jwire wire; /* or, for a relayed message: */
    zmq_msg_t *zm;     /* its frames, shared with the message received (n of them) */
    size_t nzm;
    size_t bytes; /* of its frames */
    bool sheddable;
    size_t text_bytes; /* of a stream's text */
    json_t *parent;    /* a stream's parent header (owned), for the notice */
    /* A relayed stream whose text passes RELAY_PIECE_MAX bytes goes out as
     * pieces of it, one message each, cut from zm as they are sent. */
    bool split;
    size_t sig_at;                        /* zm's signature frame */
    size_t text_start, text_at, text_end; /* the text in content, as written; sent to text_at */
    size_t id_end;                        /* where header.msg_id ends, as written (0: none) */
    unsigned piece;                       /* pieces sent */
    zmq_msg_t *pz;                        /* the next piece's nzm frames, once built */
    size_t piece_len;                     /* its text's bytes, as written */
    struct kpending *next;
};

/* The cell being executed (at most one; requests queue while it runs). */
struct kcell {
    bool active;
    struct jmsg req; /* the execute_request (identities route input_request) */
    bool silent, store_history, stop_on_error, allow_stdin;
    int count;          /* execution_count of this cell */
    bool waiting_input; /* an input_request is out */
    bool done;          /* DONE arrived; finished after bash_session_handle() returns */
    int exit_status;
    bool interrupted, restarted;
    char reason[400]; /* what happened to the engine's process ("": nothing) */
    /* A magic cell runs as parts, one after another in the same engine: the
     * lines before a `%iops` line, the measured code, the lines after. */
    char *parts[3];
    int nparts, part;
    int measured_part;     /* index into parts; -1: nothing measured */
    struct magic_run *run; /* the measurement of parts[measured_part] */
    char *measured_code;   /* for the report */
    bool report_shown;
    bool auto_cell;       /* measured because of `%iops auto on`: a one-line summary */
    bool span_only;       /* measured for `%iops start` only: no display */
    int control_part;     /* index of a `%iops auto|start|...` line among the parts; -1 */
    struct magic control; /* that line, parsed */
};

struct kernel {
    void *zctx;
    void *sock[4]; /* by enum kchan */
    void *hb;
    struct jsign sign;
    struct jreplay replay; /* one guard for every inbound channel */
    char session[37];
    struct engine *engine;
    bool engine_started; /* ensure() succeeded (engines may start lazily) */
    int execution_count;
    struct kcell cell;
    struct kiops iops;
    struct khist *hist;
    size_t nhist, histcap;
    size_t hist_bytes; /* the codes' bytes, NUL included (bounded: kernel_core.c) */
    struct kqueued *queue, **queue_tail; /* shell requests waiting for the cell */
    size_t nqueue, queue_bytes;
    size_t refused;    /* requests refused since the queue was last empty (logged once) */
    size_t unroutable; /* replies dropped: their client had left (logged once) */
    struct kpending *pending, **pending_tail;
    size_t npending, pending_bytes;
    uint64_t stall_since_ns;      /* when iopub first refused a message; 0 = flowing */
    bool iopub_lossy;             /* a subscriber stalled: output is shed for it */
    uint64_t held_since_ns;       /* when the waiting non-output message was refused */
    uint64_t last_lossy_ns;       /* the last message published past a full subscriber */
    bool iopub_stuck;             /* a subscriber took no message for that long either */
    uint64_t overfull_since_ns;   /* when the queue's bytes passed their bound; 0 = not */
    size_t shed_msgs, shed_bytes; /* output shed since the last notice */
    json_t *shed_parent;          /* its parent header (owned) */
    int sigpipe[2];
    bool stop;
    int exit_status;
};

/* kernel.c: transport */
/* Sends m on a ROUTER channel (identities in m route it). Logs failures. */
void kernel_send(struct kernel *k, enum kchan ch, struct jmsg *m);
/* Receives one message from ch without waiting. Invalid, unsigned or
 * replayed messages are logged and dropped. Returns true when m was filled;
 * *bytes (may be NULL) gets its size on the wire. */
bool kernel_recv(struct kernel *k, enum kchan ch, struct jmsg *m, size_t *bytes);
/* The next shell request: the oldest queued one, else one from the socket.
 * Returns true when m was filled. */
bool kernel_next_shell(struct kernel *k, struct jmsg *m);
/* Starts the engine if it is not running yet (it is started when a request
 * needs it or when the kernel has been idle for a moment, so kernel_info is
 * not held up by the engine's start). Returns 0 or -errno, with a message in
 * err. */
int kernel_ensure_engine(struct kernel *k, char *err, size_t errlen);
/* Publishes m on iopub, queueing it when subscribers are slow. */
void kernel_publish(struct kernel *k, struct jmsg *m);
/* Whether iopub takes more: the messages queued behind the one being sent
 * hold less than the queue's byte bound. A relaying engine, whose source
 * cannot be held back, is read while this holds. */
bool kernel_iopub_room(const struct kernel *k);
/* Sends a relaying engine's message (frames, identities first) on ch: the
 * same frames, the signature made with the frontend's key. */
void kernel_relay_out(struct kernel *k, enum kchan ch, const struct jframe *f, size_t n,
                      zmq_msg_t *msgs);

/* kernel_core.c: protocol logic */
/* Handles one verified message from shell or control. */
void kcore_dispatch(struct kernel *k, enum kchan ch, struct jmsg *req);
/* Handles a verified message from the stdin channel (input_reply). */
void kcore_stdin(struct kernel *k, struct jmsg *msg);
/* Answers a shell request that cannot be queued (the queue is full) with an
 * error reply between busy and idle. */
void kcore_reject(struct kernel *k, struct jmsg *req, size_t queued, size_t bytes);
/* The engine's event callback (ctx is the kernel). */
void kcore_engine_event(void *ctx, const struct engine_event *ev);
/* After ENGINE_EV_DONE: the next part of a magic cell, or the cell's end
 * (report, error/reply/idle, stop_on_error). */
void kcore_finish_cell(struct kernel *k);
/* Live progress of a measured cell: milliseconds until kcore_tick() has
 * something to publish (-1: nothing to wait for), and the tick itself. */
long kcore_timeout_ms(struct kernel *k);
void kcore_tick(struct kernel *k);
/* Publishes content as a message of `type` on iopub, parent `parent`. */
void kcore_publish(struct kernel *k, const struct jmsg *parent, const char *type, json_t *content);
/* Publishes text on a stream ("stdout", "stderr"), parent `parent`. */
void kcore_stream(struct kernel *k, const struct jmsg *parent, const char *name, const char *text);

/* SIGINT or interrupt_request: stops the running cell. */
void kcore_interrupt(struct kernel *k);
/* Publishes status starting. */
void kcore_starting(struct kernel *k);
void kcore_release(struct kernel *k);

#endif
