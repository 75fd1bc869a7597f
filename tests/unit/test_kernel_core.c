/* test_kernel_core: the kernel's protocol logic (server/kernel_core.c)
 * against an in-memory transport and a scripted bash engine, as xeus tests
 * its core: busy/idle and message order for every request, execute options,
 * error replies, stop_on_error, stdin routing, history, comms. */
#include "server/kernel.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the in-memory transport: every sent message, in order ---- */

struct sent {
    enum kchan ch;
    char type[64];
    char parent_id[64];
    json_t *content;
    size_t nidents;
    char ident0[64];
};

static struct sent sent[256];
static size_t nsent;
static struct jmsg queued[8]; /* what kernel_next_shell() hands out */
static size_t nqueued, qpos;
static size_t nsent_at_first_recv = (size_t)-1;

static void record(enum kchan ch, struct jmsg *m)
{
    if (nsent == sizeof sent / sizeof *sent)
        abort();
    struct sent *s = &sent[nsent++];
    s->ch = ch;
    snprintf(s->type, sizeof s->type, "%s", jmsg_type(m));
    const char *pid = json_string_value(json_object_get(m->parent, "msg_id"));
    snprintf(s->parent_id, sizeof s->parent_id, "%s", pid ? pid : "");
    s->content = json_incref(m->content);
    s->nidents = m->nidents;
    s->ident0[0] = 0;
    if (m->nidents)
        snprintf(s->ident0, sizeof s->ident0, "%.*s", (int)m->idents[0].len,
                 (const char *)m->idents[0].data);
}

void kernel_send(struct kernel *k, enum kchan ch, struct jmsg *m)
{
    record(ch, m);
}

void kernel_publish(struct kernel *k, struct jmsg *m)
{
    record(KCHAN_IOPUB, m);
}

/* A relaying engine's frames: recorded by channel and frame count. */
static int relayed_ch = -1;
static size_t relayed_n;

void kernel_relay_out(struct kernel *k, enum kchan ch, const struct jframe *f, size_t n,
                      zmq_msg_t *msgs)
{
    relayed_ch = (int)ch;
    relayed_n = n;
}

bool kernel_next_shell(struct kernel *k, struct jmsg *m)
{
    enum kchan ch = KCHAN_SHELL;
    if (ch == KCHAN_SHELL && nsent_at_first_recv == (size_t)-1)
        nsent_at_first_recv = nsent;
    if (ch != KCHAN_SHELL || qpos == nqueued)
        return false;
    *m = queued[qpos++];
    return true;
}

int kernel_ensure_engine(struct kernel *k, char *err, size_t errlen)
{
    return 0;
}

static void reset(void)
{
    for (size_t i = 0; i < nsent; i++)
        json_decref(sent[i].content);
    nsent = 0;
    nqueued = qpos = 0;
}

/* ---- the scripted engine ---- */

static char last_code[256];
static int executes, interrupts;
static char last_input[64];

static int eng_execute(struct engine *e, const char *code, bool allow_stdin,
                       const struct engine_window *win)
{
    snprintf(last_code, sizeof last_code, "%s", code);
    executes++;
    return 0;
}
static int eng_interrupt(struct engine *e)
{
    interrupts++;
    return 0;
}
static int eng_input(struct engine *e, const char *text, size_t len)
{
    snprintf(last_input, sizeof last_input, "%.*s", (int)len, text);
    return 0;
}
static int eng_is_complete(struct engine *e, const char *code, const char **status, char *indent,
                           size_t indentlen)
{
    *status = strstr(code, "then") && !strstr(code, "fi") ? "incomplete" : "complete";
    snprintf(indent, indentlen, "    ");
    return 0;
}
static int eng_complete(struct engine *e, const char *code, size_t cursor_pos, char ***matches,
                        size_t *nmatches, size_t *start, size_t *end)
{
    *matches = malloc(2 * sizeof **matches);
    (*matches)[0] = strdup("echo");
    (*matches)[1] = strdup("ech\xc3\xa9");
    *nmatches = 2;
    *start = 0;
    *end = cursor_pos;
    return 0;
}
static int eng_inspect(struct engine *e, const char *code, size_t cursor_pos, char **text)
{
    *text = strstr(code, "cd") ? strdup("cd is a shell builtin") : NULL;
    return 0;
}
static json_t *eng_kernel_info(struct engine *e)
{
    return json_pack("{s:{s:s, s:s}, s:s, s:[]}", "language_info", "name", "bash", "version",
                     "5.2-test", "banner", "scripted", "help_links");
}
static const struct engine_ops scripted_ops = {
    .name = "scripted",
    .execute = eng_execute,
    .input = eng_input,
    .interrupt = eng_interrupt,
    .complete = eng_complete,
    .inspect = eng_inspect,
    .is_complete = eng_is_complete,
    .kernel_info = eng_kernel_info,
};
static struct engine scripted = {&scripted_ops};

/* ---- helpers ---- */

static struct kernel *new_kernel(void)
{
    struct kernel *k = calloc(1, sizeof *k);
    snprintf(k->session, sizeof k->session, "test-session");
    k->engine = &scripted;
    k->engine_started = true;
    k->cell.measured_part = -1;
    return k;
}

static void make_request(struct jmsg *m, const char *type, json_t *content)
{
    jmsg_init(m);
    jmsg_build(m, type, "client-session", "tester", NULL, content, NULL);
    m->idents = calloc(1, sizeof *m->idents);
    m->idents[0].data = (unsigned char *)strdup("client-A");
    m->idents[0].len = 8;
    m->nidents = 1;
}

static json_t *exec_content(const char *code, bool silent, bool stop_on_error)
{
    return json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", silent,
                     "store_history", !silent, "user_expressions", "allow_stdin", 1,
                     "stop_on_error", stop_on_error);
}

/* "iopub:status:busy iopub:execute_input shell:execute_reply ..." */
static const char *trace(void)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nsent && n < sizeof buf - 100; i++) {
        static const char *const ch[] = {"shell", "control", "stdin", "iopub"};
        const char *st = json_string_value(json_object_get(sent[i].content, "execution_state"));
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s:%s%s%s", i ? " " : "", ch[sent[i].ch],
                              sent[i].type, st ? ":" : "", st ? st : "");
    }
    return buf;
}

static void bash_event(struct kernel *k, enum engine_event_type t, const char *data, int status)
{
    struct engine_event ev = {
        .type = t, .data = data, .len = data ? strlen(data) : 0, .exit_status = status};
    kcore_engine_event(k, &ev);
    if (k->cell.done)
        kcore_finish_cell(k);
}

static void test_kernel_info(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req;
    make_request(&req, "kernel_info_request", NULL);
    kcore_dispatch(k, KCHAN_SHELL, &req);
    CHECK_STR(trace(), "iopub:status:busy shell:kernel_info_reply iopub:status:idle");
    CHECK_STR(sent[1].parent_id, jmsg_id(&req));
    CHECK_STR(sent[0].parent_id, jmsg_id(&req));
    CHECK_STR(sent[1].ident0, "client-A");
    CHECK_STR(json_string_value(json_object_get(sent[1].content, "protocol_version")), "5.3");
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(sent[1].content, "language_info"), "version")),
              "5.2-test");
    /* the iopub topic frame */
    CHECK_STR(sent[0].ident0, "kernel.test-session.status");
    reset();
    /* control too */
    kcore_dispatch(k, KCHAN_CONTROL, &req);
    CHECK_STR(trace(), "iopub:status:busy control:kernel_info_reply iopub:status:idle");
    reset();
    jmsg_release(&req);
    kcore_release(k);
    free(k);
}

static void test_execute_ok_and_error(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req;
    make_request(&req, "execute_request", exec_content("echo hi", false, true));
    char id[64];
    snprintf(id, sizeof id, "%s", jmsg_id(&req));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_STR(last_code, "echo hi");
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input");
    CHECK(k->cell.active);
    bash_event(k, ENGINE_EV_STDOUT, "hi\n", 0);
    bash_event(k, ENGINE_EV_DONE, NULL, 0);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:stream shell:execute_reply "
                       "iopub:status:idle");
    for (size_t i = 0; i < nsent; i++)
        CHECK_STR(sent[i].parent_id, id);
    CHECK_INT(json_integer_value(json_object_get(sent[1].content, "execution_count")), 1);
    CHECK_STR(json_string_value(json_object_get(sent[2].content, "text")), "hi\n");
    CHECK_STR(json_string_value(json_object_get(sent[3].content, "status")), "ok");
    CHECK(!k->cell.active);
    reset();

    make_request(&req, "execute_request", exec_content("f", false, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    bash_event(k, ENGINE_EV_DONE, NULL, 3);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:error shell:execute_reply "
                       "iopub:status:idle");
    CHECK_STR(json_string_value(json_object_get(sent[2].content, "evalue")), "exit status 3");
    CHECK_STR(json_string_value(json_object_get(sent[3].content, "status")), "error");
    CHECK_STR(json_string_value(json_object_get(sent[3].content, "ename")), "ExitStatus");
    CHECK_INT(json_integer_value(json_object_get(sent[3].content, "execution_count")), 2);
    reset();

    /* silent: no execute_input, no output, no error on iopub, count unchanged */
    make_request(&req, "execute_request", exec_content("echo s; false", true, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    bash_event(k, ENGINE_EV_STDOUT, "s\n", 0);
    bash_event(k, ENGINE_EV_DONE, NULL, 1);
    CHECK_STR(trace(), "iopub:status:busy shell:execute_reply iopub:status:idle");
    CHECK_INT(json_integer_value(json_object_get(sent[1].content, "execution_count")), 2);
    reset();

    /* history: two stored cells */
    make_request(&req, "history_request",
                 json_pack("{s:s, s:i, s:b, s:b}", "hist_access_type", "tail", "n", 5, "output", 0,
                           "raw", 1));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    char *h = json_dumps(json_object_get(sent[1].content, "history"), JSON_COMPACT);
    CHECK_STR(h, "[[1,1,\"echo hi\"],[1,2,\"f\"]]");
    free(h);
    reset();
    kcore_release(k);
    free(k);
}

/* The history keeps at most 10,000 cells and 16 MiB of code: the oldest tenth
 * goes when full, the numbering goes on. */
static void test_history_bounded(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req;
    for (int i = 1; i <= 10001; i++) {
        char code[32];
        snprintf(code, sizeof code, "echo %d", i);
        make_request(&req, "execute_request", exec_content(code, false, false));
        kcore_dispatch(k, KCHAN_SHELL, &req);
        jmsg_release(&req);
        bash_event(k, ENGINE_EV_DONE, NULL, 0);
        reset();
    }
    CHECK_INT((long)k->nhist, 9001); /* 1,000 dropped to make room for the 10,001st */
    CHECK_STR(k->hist[0].code, "echo 1001");
    CHECK_INT(k->hist[9000].line, 10001);
    /* eight cells of 2 MiB (NUL included): exactly the 16 MiB, once every
     * small one has gone, oldest first */
    size_t big = 2u << 20;
    char *code = malloc(big);
    memset(code, '#', big - 1);
    code[big - 1] = 0;
    for (int i = 0; i < 8; i++) {
        make_request(&req, "execute_request", exec_content(code, false, false));
        kcore_dispatch(k, KCHAN_SHELL, &req);
        jmsg_release(&req);
        bash_event(k, ENGINE_EV_DONE, NULL, 0);
        reset();
    }
    CHECK(k->hist_bytes <= (16u << 20));
    size_t bigs = 0;
    for (size_t i = 0; i < k->nhist; i++)
        bigs += strlen(k->hist[i].code) == big - 1;
    CHECK_INT((long)bigs, 8);
    CHECK_INT((long)k->nhist, 8);
    CHECK_INT(k->hist[k->nhist - 1].line, 10009);
    free(code);
    kcore_release(k);
    free(k);
}

static void test_stop_on_error(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req;
    make_request(&req, "execute_request", exec_content("false", false, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    /* queued while it ran: an execute, a kernel_info, another execute */
    make_request(&queued[0], "execute_request", exec_content("echo no", false, true));
    make_request(&queued[1], "kernel_info_request", NULL);
    make_request(&queued[2], "execute_request", exec_content("echo no", false, true));
    nqueued = 3;
    executes = 0;
    nsent_at_first_recv = (size_t)-1;
    bash_event(k, ENGINE_EV_DONE, NULL, 1);
    CHECK_INT(executes, 0);
    /* the queue was taken before the failed cell's error and reply went out */
    CHECK_U64(nsent_at_first_recv, 2);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:error shell:execute_reply "
                       "iopub:status:idle "
                       "iopub:status:busy shell:execute_reply iopub:status:idle "
                       "iopub:status:busy shell:kernel_info_reply iopub:status:idle "
                       "iopub:status:busy shell:execute_reply iopub:status:idle");
    CHECK_STR(json_string_value(json_object_get(sent[6].content, "ename")), "ExecutionAborted");
    CHECK_INT(json_integer_value(json_object_get(sent[6].content, "execution_count")), 1);
    CHECK_STR(json_string_value(json_object_get(sent[12].content, "status")), "error");
    reset();

    /* stop_on_error false: nothing is aborted */
    make_request(&req, "execute_request", exec_content("false", false, false));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    make_request(&queued[0], "execute_request", exec_content("echo yes", false, true));
    nqueued = 1;
    bash_event(k, ENGINE_EV_DONE, NULL, 1);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:error shell:execute_reply "
                       "iopub:status:idle");
    CHECK_U64(qpos, 0);
    jmsg_release(&queued[0]);
    reset();
    kcore_release(k);
    free(k);
}

static void test_stdin_and_interrupt(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req, reply;
    make_request(&req, "execute_request", exec_content("read x", false, true));
    char id[64];
    snprintf(id, sizeof id, "%s", jmsg_id(&req));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    bash_event(k, ENGINE_EV_INPUT_REQUEST, "Name: ", 0);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input stdin:input_request");
    CHECK_STR(sent[2].ident0, "client-A"); /* routed like the execute_request */
    CHECK_STR(sent[2].parent_id, id);
    CHECK_STR(json_string_value(json_object_get(sent[2].content, "prompt")), "Name: ");
    make_request(&reply, "input_reply", json_pack("{s:s}", "value", "bob"));
    kcore_stdin(k, &reply);
    CHECK_STR(last_input, "bob");
    /* a second reply is not expected: ignored */
    last_input[0] = 0;
    kcore_stdin(k, &reply);
    CHECK_STR(last_input, "");
    jmsg_release(&reply);

    /* interrupt_request on control while the cell runs */
    make_request(&req, "interrupt_request", NULL);
    interrupts = 0;
    kcore_dispatch(k, KCHAN_CONTROL, &req);
    CHECK_INT(interrupts, 1);
    jmsg_release(&req);
    struct engine_event ev = {.type = ENGINE_EV_DONE, .exit_status = 130, .interrupted = true};
    kcore_engine_event(k, &ev);
    kcore_finish_cell(k);
    CHECK_STR(json_string_value(json_object_get(sent[nsent - 2].content, "ename")), "Interrupted");
    CHECK_STR(json_string_value(json_object_get(sent[nsent - 2].content, "evalue")),
              "interrupted (exit status 130)");
    /* interrupting an idle kernel does nothing */
    interrupts = 0;
    kcore_interrupt(k);
    CHECK_INT(interrupts, 0);
    reset();
    kcore_release(k);
    free(k);
}

static void test_other_requests(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req;
    make_request(&req, "is_complete_request", json_pack("{s:s}", "code", "if x; then"));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_STR(json_string_value(json_object_get(sent[1].content, "status")), "incomplete");
    CHECK_STR(json_string_value(json_object_get(sent[1].content, "indent")), "    ");
    reset();

    make_request(&req, "complete_request", json_pack("{s:s, s:i}", "code", "ech", "cursor_pos", 3));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_U64(json_array_size(json_object_get(sent[1].content, "matches")), 2);
    CHECK_INT(json_integer_value(json_object_get(sent[1].content, "cursor_end")), 3);
    reset();

    make_request(&req, "inspect_request", json_pack("{s:s, s:i}", "code", "zz", "cursor_pos", 1));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK(json_is_false(json_object_get(sent[1].content, "found")));
    CHECK_U64(json_object_size(json_object_get(sent[1].content, "data")), 0);
    reset();

    make_request(&req, "comm_open",
                 json_pack("{s:s, s:s, s:{}}", "comm_id", "c1", "target_name", "t", "data"));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_STR(trace(), "iopub:status:busy iopub:comm_close iopub:status:idle");
    reset();

    /* Unknown types, and types on the wrong channel: no reply, busy/idle. */
    make_request(&req, "nonsense_request", NULL);
    kcore_dispatch(k, KCHAN_SHELL, &req);
    CHECK_STR(trace(), "iopub:status:busy iopub:status:idle");
    CHECK_STR(sent[1].parent_id, jmsg_id(&req));
    reset();
    /* interrupt_request is a control message only */
    jmsg_release(&req);
    make_request(&req, "interrupt_request", NULL);
    kcore_dispatch(k, KCHAN_SHELL, &req);
    CHECK_STR(trace(), "iopub:status:busy iopub:status:idle");
    reset();
    jmsg_release(&req);

    make_request(&req, "execute_request", json_pack("{s:i}", "code", 5));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    /* a cell that cannot run failed: its error is shown */
    CHECK_STR(trace(), "iopub:status:busy iopub:error shell:execute_reply iopub:status:idle");
    CHECK_STR(json_string_value(json_object_get(sent[2].content, "ename")), "BadRequest");
    CHECK(json_object_get(sent[2].content, "execution_count") != NULL);
    reset();

    make_request(&req, "shutdown_request", json_pack("{s:b}", "restart", 1));
    kcore_dispatch(k, KCHAN_CONTROL, &req);
    jmsg_release(&req);
    CHECK_STR(trace(), "iopub:status:busy iopub:shutdown_reply control:shutdown_reply "
                       "iopub:status:idle");
    CHECK(json_is_true(json_object_get(sent[2].content, "restart")));
    CHECK(k->stop);
    reset();
    kcore_release(k);
    free(k);
}

/* Magic cells: the parts run one after another; usage errors and --help
 * run nothing. The measuring itself is the integration tests' (no engine
 * here calls the window hooks). */
static void test_magic_cells(void)
{
    struct kernel *k = new_kernel();
    struct jmsg req;
    executes = 0;
    make_request(&req, "execute_request",
                 exec_content("echo a\n%iops echo b\necho c", false, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_INT(executes, 1);
    CHECK_STR(last_code, "echo a\n");
    bash_event(k, ENGINE_EV_STDOUT, "a\n", 0);
    bash_event(k, ENGINE_EV_DONE, NULL, 0);
    CHECK_INT(executes, 2);
    CHECK_STR(last_code, "echo b");
    CHECK(k->cell.active);
    bash_event(k, ENGINE_EV_DONE, NULL, 0);
    CHECK_INT(executes, 3);
    CHECK_STR(last_code, "echo c");
    bash_event(k, ENGINE_EV_DONE, NULL, 0);
    CHECK(!k->cell.active);
    /* the scripted engine never opens the window: said, not a report of zeros */
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:stream iopub:stream "
                       "shell:execute_reply iopub:status:idle");
    CHECK_STR(json_string_value(json_object_get(sent[3].content, "text")),
              "[iopsd: %iops: nothing was measured]\n");
    reset();

    /* an interrupt in the first part: the rest does not run */
    executes = 0;
    make_request(&req, "execute_request", exec_content("sleep 9\n%iops echo b", false, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    struct engine_event ev = {
        .type = ENGINE_EV_DONE, .data = "", .exit_status = 130, .interrupted = true};
    kcore_engine_event(k, &ev);
    kcore_finish_cell(k);
    CHECK_INT(executes, 1);
    CHECK(!k->cell.active);
    reset();

    /* a usage error: nothing runs, the error names the problem and shows the usage */
    executes = 0;
    make_request(&req, "execute_request",
                 exec_content("%%iops --frobnicate\ntouch f", false, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_INT(executes, 0);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:error shell:execute_reply "
                       "iopub:status:idle");
    CHECK_STR(json_string_value(json_object_get(sent[3].content, "ename")), "UsageError");
    const char *ev_text = json_string_value(json_object_get(sent[3].content, "evalue"));
    CHECK(ev_text && strstr(ev_text, "unknown option '--frobnicate'"));
    CHECK(ev_text && strstr(ev_text, "Usage: %%iops"));
    reset();

    /* --help: the usage as the cell's output, ok */
    make_request(&req, "execute_request", exec_content("%iops --help", false, true));
    kcore_dispatch(k, KCHAN_SHELL, &req);
    jmsg_release(&req);
    CHECK_INT(executes, 0);
    CHECK_STR(trace(), "iopub:status:busy iopub:execute_input iopub:stream shell:execute_reply "
                       "iopub:status:idle");
    CHECK_STR(json_string_value(json_object_get(sent[2].content, "name")), "stdout");
    CHECK(strstr(json_string_value(json_object_get(sent[2].content, "text")), "--hist-kinds"));
    CHECK_STR(json_string_value(json_object_get(sent[3].content, "status")), "ok");
    reset();
    kcore_release(k);
    free(k);
}

/* Relaying engines: their messages go out through the transport as frames,
 * EXIT stops the kernel, and an interrupt reaches them without a cell. */
static int relay_interrupts;
static int relay_eng_interrupt(struct engine *e)
{
    relay_interrupts++;
    return 0;
}
static bool relay_eng_relay(struct engine *e, int chan, const struct jframe *f, size_t n)
{
    return true;
}

static void test_relaying_engine(void)
{
    static const struct engine_ops relay_ops = {
        .name = "relay", .interrupt = relay_eng_interrupt, .relay = relay_eng_relay};
    struct engine relay = {&relay_ops};
    struct kernel *k = new_kernel();
    k->engine = &relay;
    reset();
    struct jframe f[6] = {{"<IDS|MSG>", 9}, {"", 0}, {"{}", 2}, {"{}", 2}, {"{}", 2}, {"{}", 2}};
    struct engine_event ev = {
        .type = ENGINE_EV_RELAY, .chan = KCHAN_IOPUB, .frames = f, .nframes = 6};
    kcore_engine_event(k, &ev);
    CHECK_INT(relayed_ch, KCHAN_IOPUB);
    CHECK_INT(relayed_n, 6);
    CHECK_INT(nsent, 0);
    kcore_interrupt(k);
    CHECK_INT(relay_interrupts, 1);
    CHECK(!k->stop);
    struct engine_event exit_ev = {.type = ENGINE_EV_EXIT, .exit_status = 3};
    kcore_engine_event(k, &exit_ev);
    CHECK(k->stop);
    CHECK_INT(k->exit_status, 3);
    kcore_release(k);
    free(k);
}

int main(void)
{
    test_kernel_info();
    test_execute_ok_and_error();
    test_stop_on_error();
    test_history_bounded();
    test_stdin_and_interrupt();
    test_other_requests();
    test_magic_cells();
    test_relaying_engine();
    return tap_done("test_kernel_core");
}
