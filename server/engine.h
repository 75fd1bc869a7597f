/* engine: what runs a kernel's code. The kernel (kernel.c: sockets and the
 * loop; kernel_core.c: dispatch, signing, busy/idle, history, the magics)
 * exists once; an engine supplies "run this code" and "this is the process
 * tree to measure". Two implementations: the bash engine (engine_bash.c, the
 * native kernel) and the relay (the wrap kernel).
 *
 * An engine is driven from the kernel's single-threaded zmq_poll loop:
 * pollitems() adds its descriptors or sockets, handle() runs after every
 * poll, and events (output, input requests, the end of a cell) come back
 * through the callback given at creation, only from inside handle() (and
 * poke()). */
#ifndef IOPSD_ENGINE_H
#define IOPSD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <zmq.h>

#include "magics/magic_run.h"
#include "protocol/jsign.h"

enum engine_event_type {
    ENGINE_EV_STDOUT,        /* data/len: a chunk of the cell's stdout */
    ENGINE_EV_STDERR,        /* data/len: a chunk of the cell's stderr */
    ENGINE_EV_INPUT_REQUEST, /* data/len: the prompt; answer with ops->input() */
    ENGINE_EV_DONE,          /* the cell finished */
    /* Relaying engines (ops->relay set) only: */
    ENGINE_EV_RELAY, /* frames/nframes: a message for the frontend on chan (enum kchan),
                        identities first; the kernel signs it (the signature frame's
                        content is ignored) and sends it */
    ENGINE_EV_EXIT,  /* the engine is over (shutdown done, or its kernel died): the
                        kernel stops with exit_status */
};

struct engine_event {
    enum engine_event_type type;
    const char *data; /* valid UTF-8, not NUL-terminated, valid during the callback */
    size_t len;
    bool password;      /* INPUT_REQUEST */
    int exit_status;    /* DONE: status of the cell; 128+N if signalled; EXIT: iopsd's */
    bool interrupted;   /* DONE: the cell was interrupted */
    bool restarted;     /* DONE: the engine's process died and a new one was started */
    const char *reason; /* DONE: NULL, or what happened to the engine's process (stopped and
                           continued, replaced): the cell fails with this text */

    /* RELAY: the message (valid during the callback) and its channel */
    int chan;
    const struct jframe *frames;
    size_t nframes;
    /* RELAY: the same frames as libzmq messages, or NULL. The kernel sends
     * them with zmq_msg_copy() (libzmq shares a large frame's buffer rather
     * than copying it), so a 50 MB stream is not copied on its way out. */
    zmq_msg_t *msgs;
};

typedef void (*engine_event_fn)(void *ctx, const struct engine_event *ev);

/* The largest cell (bytes of code) the kernel runs; a bigger one gets an error
 * reply (CellTooLarge). Below the 32 MiB frame cap of the protocol layer
 * (JMSG_FRAME_MAX), so that a request over it still arrives and is answered. */
#define ENGINE_CELL_MAX (24u << 20)

/* Measuring a cell: the engine calls begin() when nothing but the user's
 * code is left to run (its own setup done) and end() as soon as the code is
 * over, before any of its own wrap-up; the kernel's magic layer does the
 * measuring. begin() returning non-zero runs the code unmeasured. */
struct engine_window {
    int (*begin)(void *ctx, const struct magic_plumbing *p);
    void (*end)(void *ctx, const struct magic_framing *f);
    void *ctx;
};

struct engine;

struct engine_ops {
    const char *name;
    /* Starts the engine's process if it is not running yet (engines may
     * start lazily). 0 or -errno with a message in err. */
    int (*ensure)(struct engine *e, char *err, size_t errlen);
    /* Runs code as one cell; `win` (may be NULL) measures it. Returns
     * promptly; DONE comes later. -EBUSY while a cell runs. */
    int (*execute)(struct engine *e, const char *code, bool allow_stdin,
                   const struct engine_window *win);
    /* The answer to INPUT_REQUEST. */
    int (*input)(struct engine *e, const char *text, size_t len);
    /* Stops the running cell (a no-op when idle). */
    int (*interrupt)(struct engine *e);
    /* Synchronous queries (a few ms, bounded). See bash_session.h. */
    int (*complete)(struct engine *e, const char *code, size_t cursor, char ***matches,
                    size_t *nmatches, size_t *start, size_t *end);
    int (*inspect)(struct engine *e, const char *code, size_t cursor, char **text);
    int (*is_complete)(struct engine *e, const char *code, const char **status, char *indent,
                       size_t indentlen);
    /* language_info, banner and help_links for kernel_info_reply (new ref). */
    json_t *(*kernel_info)(struct engine *e);
    /* The loop: items to poll (at most max), milliseconds until handle()
     * must run anyway (-1: no timer), then handle() with revents filled in. */
    int (*pollitems)(struct engine *e, zmq_pollitem_t *items, int max);
    long (*timeout_ms)(struct engine *e);
    int (*handle)(struct engine *e, const zmq_pollitem_t *items, int n);
    /* The root of the process tree that runs the user's code (0: none yet). */
    pid_t (*measure_root)(struct engine *e);
    /* Something outside the loop happened that the engine waits for (the
     * kernel got the engine's wake-up signal, SIGUSR2). */
    void (*poke)(struct engine *e);
    /* Ends the engine's processes and frees e. */
    void (*free)(struct engine *e);
    /* Optional (NULL: the kernel handles every message itself). An engine
     * that relays another kernel gets each frontend message from shell,
     * control or stdin (chan: enum kchan) as its original frames, already
     * verified by the kernel (signature, replay guard) and not parsed.
     * Returns true when it took the message; false lets the kernel handle
     * it. Such an engine answers requests itself (ENGINE_EV_RELAY), so the
     * kernel's own dispatch, busy/idle and cell logic stay out of its way.
     * Such an engine's source cannot be held back, so it is also polled
     * while iopub is backed up, as long as the kernel's queue has room. */
    bool (*relay)(struct engine *e, int chan, const struct jframe *frames, size_t n);
};

struct engine {
    const struct engine_ops *ops;
};

/* The bash engine (engine_bash.c): one persistent bash session. */
struct engine *engine_bash_new(engine_event_fn fn, void *ctx);

#endif
