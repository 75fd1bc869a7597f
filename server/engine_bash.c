/* engine_bash: the native kernel's engine: one persistent bash session
 * (bash_session.c), started lazily, behind the engine interface. */
#include "server/bash_session.h"
#include "server/engine.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "version.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FDS 8

struct engine_bash {
    struct engine base;
    engine_event_fn fn;
    void *ctx;
    struct bash_session *bash;
    char *version;      /* $BASH_VERSION, once known */
    FILE *version_pipe; /* `bash -c 'printf $BASH_VERSION'`, started early */
    struct pollfd fds[MAX_FDS];
    int nfds;
};

static struct engine_bash *eb(struct engine *e)
{
    return (struct engine_bash *)e;
}

static void on_bash_event(void *ctx, const struct bash_event *bev)
{
    struct engine_bash *b = ctx;
    static const enum engine_event_type map[] = {
        [BASH_EV_STDOUT] = ENGINE_EV_STDOUT,
        [BASH_EV_STDERR] = ENGINE_EV_STDERR,
        [BASH_EV_INPUT_REQUEST] = ENGINE_EV_INPUT_REQUEST,
        [BASH_EV_DONE] = ENGINE_EV_DONE,
    };
    struct engine_event ev = {
        .type = map[bev->type],
        .data = bev->data,
        .len = bev->len,
        .password = bev->password,
        .exit_status = bev->exit_status,
        .interrupted = bev->interrupted,
        .restarted = bev->restarted,
        .reason = bev->reason,
    };
    b->fn(b->ctx, &ev);
}

static int bash_ensure(struct engine *e, char *err, size_t errlen)
{
    struct engine_bash *b = eb(e);
    if (b->bash)
        return 0;
    return bash_session_start(&b->bash, on_bash_event, b, err, errlen);
}

static int bash_execute(struct engine *e, const char *code, bool allow_stdin,
                        const struct engine_window *win)
{
    char err[256];
    int rc = bash_ensure(e, err, sizeof err);
    if (rc)
        return rc;
    return bash_session_execute_measured(eb(e)->bash, code, allow_stdin, win);
}

static int bash_input(struct engine *e, const char *text, size_t len)
{
    return eb(e)->bash ? bash_session_input(eb(e)->bash, text, len) : -EINVAL;
}

static int bash_interrupt(struct engine *e)
{
    return eb(e)->bash ? bash_session_interrupt(eb(e)->bash) : 0;
}

static int bash_complete(struct engine *e, const char *code, size_t cursor, char ***matches,
                         size_t *nmatches, size_t *start, size_t *end)
{
    char err[256];
    int rc = bash_ensure(e, err, sizeof err);
    if (rc)
        return rc;
    return bash_session_complete(eb(e)->bash, code, cursor, matches, nmatches, start, end);
}

static int bash_inspect(struct engine *e, const char *code, size_t cursor, char **text)
{
    char err[256];
    int rc = bash_ensure(e, err, sizeof err);
    if (rc)
        return rc;
    return bash_session_inspect(eb(e)->bash, code, cursor, text);
}

static int bash_is_complete(struct engine *e, const char *code, const char **status, char *indent,
                            size_t indentlen)
{
    char err[256];
    int rc = bash_ensure(e, err, sizeof err);
    if (rc)
        return rc;
    return bash_session_is_complete(eb(e)->bash, code, status, indent, indentlen);
}

static void version_start(struct engine_bash *b)
{
    b->version_pipe =
        popen("bash --norc --noprofile -c 'printf %s \"$BASH_VERSION\"' 2>/dev/null", "re");
}

static const char *bash_version(struct engine_bash *b)
{
    if (!b->version) {
        char buf[64] = "";
        if (!b->version_pipe)
            version_start(b);
        if (b->version_pipe) {
            size_t n = fread(buf, 1, sizeof buf - 1, b->version_pipe);
            buf[n] = '\0';
            pclose(b->version_pipe);
            b->version_pipe = NULL;
        }
        b->version = utf8_dup_sanitized(buf);
    }
    return b->version;
}

static json_t *bash_kernel_info(struct engine *e)
{
    const char *ver = bash_version(eb(e));
    char banner[256];
    snprintf(banner, sizeof banner,
             "iopsd %s: a native bash kernel (GNU bash %s). Cells run in one persistent bash "
             "session.",
             IOPSD_VERSION, ver);
    return json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:[]}", "language_info", "name",
                     "bash", "version", ver, "mimetype", "text/x-sh", "file_extension", ".sh",
                     "pygments_lexer", "bash", "codemirror_mode", "shell", "nbconvert_exporter",
                     "script", "banner", banner, "help_links");
}

static short to_zmq_events(short ev)
{
    return (short)(((ev & POLLIN) ? ZMQ_POLLIN : 0) | ((ev & POLLOUT) ? ZMQ_POLLOUT : 0));
}

static short from_zmq_events(short ev)
{
    return (short)(((ev & ZMQ_POLLIN) ? POLLIN : 0) | ((ev & ZMQ_POLLOUT) ? POLLOUT : 0) |
                   ((ev & ZMQ_POLLERR) ? (POLLERR | POLLHUP) : 0));
}

static int bash_pollitems(struct engine *e, zmq_pollitem_t *items, int max)
{
    struct engine_bash *b = eb(e);
    b->nfds = 0;
    if (!b->bash)
        return 0;
    int n = bash_session_pollfds(b->bash, b->fds, max < MAX_FDS ? max : MAX_FDS);
    if (n < 0)
        n = 0;
    for (int i = 0; i < n; i++)
        items[i] = (zmq_pollitem_t){NULL, b->fds[i].fd, to_zmq_events(b->fds[i].events), 0};
    b->nfds = n;
    return n;
}

static long bash_timeout_ms(struct engine *e)
{
    return eb(e)->bash ? bash_session_timeout_ms(eb(e)->bash) : -1;
}

static int bash_handle(struct engine *e, const zmq_pollitem_t *items, int n)
{
    struct engine_bash *b = eb(e);
    if (!b->bash)
        return 0;
    if (n > b->nfds)
        n = b->nfds;
    for (int i = 0; i < n; i++)
        b->fds[i].revents = from_zmq_events(items[i].revents);
    return bash_session_handle(b->bash, b->fds, n);
}

static pid_t bash_root(struct engine *e)
{
    return eb(e)->bash ? bash_session_pid(eb(e)->bash) : 0;
}

static void bash_poke(struct engine *e)
{
    if (eb(e)->bash)
        bash_session_poke(eb(e)->bash);
}

static void bash_free(struct engine *e)
{
    struct engine_bash *b = eb(e);
    if (!b)
        return;
    bash_session_free(b->bash);
    free(b->version);
    if (b->version_pipe)
        pclose(b->version_pipe);
    free(b);
}

static const struct engine_ops bash_ops = {
    .name = "bash",
    .ensure = bash_ensure,
    .execute = bash_execute,
    .input = bash_input,
    .interrupt = bash_interrupt,
    .complete = bash_complete,
    .inspect = bash_inspect,
    .is_complete = bash_is_complete,
    .kernel_info = bash_kernel_info,
    .pollitems = bash_pollitems,
    .timeout_ms = bash_timeout_ms,
    .handle = bash_handle,
    .measure_root = bash_root,
    .poke = bash_poke,
    .free = bash_free,
};

struct engine *engine_bash_new(engine_event_fn fn, void *ctx)
{
    struct engine_bash *b = xcalloc(1, sizeof *b);
    b->base.ops = &bash_ops;
    b->fn = fn;
    b->ctx = ctx;
    version_start(b); /* answered later, in kernel_info */
    return &b->base;
}
