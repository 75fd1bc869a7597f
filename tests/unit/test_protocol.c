/* test_protocol: the Jupyter wire layer without ZeroMQ: signing (RFC 4231
 * vector), frame round trips, tampering, replay, malformed frames, caps,
 * connection files (valid and invalid), ids and header dates. */
#include "protocol/jconn.h"
#include "protocol/jmsg.h"
#include "protocol/jsign.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct jframe fr(const char *s)
{
    struct jframe f = {s, strlen(s)};
    return f;
}

static void test_hmac_vector(void)
{
    /* RFC 4231 test case 2, the data split over four parts as four frames are. */
    struct jsign s;
    char err[128];
    CHECK_INT(jsign_init(&s, "hmac-sha256", "Jefe", 4, err, sizeof err), 0);
    struct jframe parts[4] = {fr("what do "), fr("ya want "), fr(""), fr("for nothing?")};
    char hex[JSIGN_HEX_LEN + 1];
    CHECK_INT(jsign_sign(&s, parts, 4, hex), 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char d[JSIGN_DIGEST_LEN];
    CHECK_INT(jsign_verify(&s, hex, 64, parts, 4, d), 0);
    /* Uppercase hex is not what Python emits: refused. */
    char upper[65];
    for (int i = 0; i < 64; i++)
        upper[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? (char)(hex[i] - 32) : hex[i];
    upper[64] = 0;
    CHECK_INT(jsign_verify(&s, upper, 64, parts, 4, d), -EPERM);
    CHECK_INT(jsign_verify(&s, hex, 63, parts, 4, d), -EPERM);
    CHECK_INT(jsign_verify(&s, hex, 0, parts, 4, d), -EPERM);
    jsign_release(&s);

    CHECK_INT(jsign_init(&s, "hmac-md5", "k", 1, err, sizeof err), -EINVAL);
    CHECK_STR(err, "unsupported signature_scheme 'hmac-md5' (only hmac-sha256)");
    CHECK_INT(jsign_init(&s, NULL, "", 0, err, sizeof err), 0);
    CHECK(!jsign_enabled(&s));
    CHECK_INT(jsign_sign(&s, parts, 4, hex), 0);
    CHECK_STR(hex, "");
    jsign_release(&s);
}

/* A message with two identities and two binary buffers. */
static void make_msg(struct jmsg *m, const char *type)
{
    jmsg_init(m);
    jmsg_build(m, type, "sess-1", "tester", NULL, json_pack("{s:s}", "code", "echo h\xc3\xa9"),
               NULL);
    m->nidents = 2;
    m->idents = calloc(2, sizeof *m->idents);
    m->idents[0].data = (unsigned char *)strdup("client-A");
    m->idents[0].len = 8;
    m->idents[1].data = (unsigned char *)strdup("\x01relay");
    m->idents[1].len = 6;
    m->nbuffers = 2;
    m->buffers = calloc(2, sizeof *m->buffers);
    m->buffers[0].data = malloc(3);
    memcpy(m->buffers[0].data, "\0\xff\x01", 3);
    m->buffers[0].len = 3;
    m->buffers[1].data = malloc(1);
    m->buffers[1].len = 0;
}

static struct jframe *as_frames(const struct jwire *w)
{
    struct jframe *f = calloc(w->n + 1, sizeof *f);
    for (size_t i = 0; i < w->n; i++) {
        f[i].data = w->frames[i].data;
        f[i].len = w->frames[i].len;
    }
    return f;
}

static void test_round_trip(void)
{
    struct jsign s;
    char err[256];
    CHECK_INT(jsign_init(&s, "hmac-sha256", "0123-secret", 11, err, sizeof err), 0);
    struct jreplay guard;
    jreplay_init(&guard, 16);

    struct jmsg m, back;
    make_msg(&m, "execute_request");
    struct jwire w;
    CHECK_INT(jmsg_serialize(&m, &s, &w), 0);
    CHECK_U64(w.n, 2 + 6 + 2);
    CHECK_U64(w.frames[2].len, 9);
    CHECK(memcmp(w.frames[2].data, "<IDS|MSG>", 9) == 0);
    CHECK_U64(w.frames[3].len, 64);
    struct jframe *f = as_frames(&w);

    jmsg_init(&back);
    CHECK_INT(jmsg_parse(&back, f, w.n, &s, &guard, err, sizeof err), 0);
    CHECK_U64(back.nidents, 2);
    CHECK(back.nidents == 2 && back.idents[1].len == 6 &&
          memcmp(back.idents[1].data, "\x01relay", 6) == 0);
    CHECK_STR(jmsg_type(&back), "execute_request");
    CHECK_STR(jmsg_id(&back), jmsg_id(&m));
    CHECK_STR(json_string_value(json_object_get(back.content, "code")), "echo h\xc3\xa9");
    CHECK_U64(back.nbuffers, 2);
    CHECK(back.nbuffers == 2 && back.buffers[0].len == 3 &&
          memcmp(back.buffers[0].data, "\0\xff\x01", 3) == 0 && back.buffers[1].len == 0);
    CHECK_U64(json_object_size(back.parent), 0);

    /* The same frames again: a replay. */
    struct jmsg again;
    jmsg_init(&again);
    CHECK_INT(jmsg_parse(&again, f, w.n, &s, &guard, err, sizeof err), -EALREADY);
    CHECK_STR(err, "duplicate signature (replayed message)");
    /* Without a guard it parses (peeking must not consume). */
    CHECK_INT(jmsg_parse(&again, f, w.n, &s, NULL, err, sizeof err), 0);
    jmsg_release(&again);

    /* Buffers are not signed: changing one keeps the signature valid. */
    struct jreplay fresh;
    jreplay_init(&fresh, 16);
    unsigned char changed[3] = {9, 9, 9};
    f[8].data = changed;
    CHECK_INT(jmsg_parse(&again, f, w.n, &s, &fresh, err, sizeof err), 0);
    CHECK(again.nbuffers == 2 && again.buffers[0].data[0] == 9);
    jmsg_release(&again);
    jreplay_release(&fresh);

    /* Tampering with any of the four signed frames is refused. */
    for (int part = 0; part < 4; part++) {
        jreplay_init(&fresh, 16);
        struct jframe saved = f[4 + part];
        char *copy = malloc(saved.len + 1);
        memcpy(copy, saved.data, saved.len);
        copy[saved.len] = 0;
        copy[saved.len - 1] = ' '; /* "}" -> " ": still the same length */
        f[4 + part].data = copy;
        CHECK_INT(jmsg_parse(&again, f, w.n, &s, &fresh, err, sizeof err), -EPERM);
        CHECK_STR(err, "invalid signature");
        f[4 + part] = saved;
        free(copy);
        jreplay_release(&fresh);
    }
    /* Unsigned, malformed and wrong-key signatures. */
    jreplay_init(&fresh, 16);
    struct jframe sig = f[3];
    f[3] = fr("");
    CHECK_INT(jmsg_parse(&again, f, w.n, &s, &fresh, err, sizeof err), -EPERM);
    CHECK_STR(err, "unsigned message");
    f[3] = fr("zz");
    CHECK_INT(jmsg_parse(&again, f, w.n, &s, &fresh, err, sizeof err), -EPERM);
    CHECK_STR(err, "malformed signature (2 bytes)");
    f[3] = sig;
    struct jsign other;
    CHECK_INT(jsign_init(&other, "hmac-sha256", "0123-secreT", 11, err, sizeof err), 0);
    CHECK_INT(jmsg_parse(&again, f, w.n, &other, &fresh, err, sizeof err), -EPERM);
    jsign_release(&other);
    /* A refused message does not poison the guard: the genuine one passes. */
    CHECK_INT(jmsg_parse(&again, f, w.n, &s, &fresh, err, sizeof err), 0);
    jmsg_release(&again);
    jreplay_release(&fresh);

    free(f);
    jwire_release(&w);
    jmsg_release(&m);
    jmsg_release(&back);
    jreplay_release(&guard);
    jsign_release(&s);
}

/* The kernel's own messages enter the replay guard when sent: the same
 * frames coming back (an iopub message sent to shell) are a replay. */
static void test_own_signatures(void)
{
    struct jsign s;
    char err[256];
    CHECK_INT(jsign_init(&s, "hmac-sha256", "k3y", 3, err, sizeof err), 0);
    struct jreplay guard;
    jreplay_init(&guard, 16);
    struct jmsg m, back;
    make_msg(&m, "status");
    struct jwire w;
    CHECK_INT(jmsg_serialize(&m, &s, &w), 0);
    CHECK_INT(jwire_remember(&w, &guard), 0);
    CHECK_U64(guard.count, 1);
    CHECK_INT(jwire_remember(&w, &guard), 0); /* already there: not twice */
    CHECK_U64(guard.count, 1);
    struct jframe *f = as_frames(&w);
    jmsg_init(&back);
    CHECK_INT(jmsg_parse(&back, f, w.n, &s, &guard, err, sizeof err), -EALREADY);
    CHECK_STR(err, "duplicate signature (replayed message)");
    free(f);
    jwire_release(&w);
    jsign_release(&s);

    /* Without a key there is no signature to remember. */
    CHECK_INT(jsign_init(&s, "hmac-sha256", "", 0, err, sizeof err), 0);
    CHECK_INT(jmsg_serialize(&m, &s, &w), 0);
    CHECK_INT(jwire_remember(&w, &guard), -EINVAL);
    CHECK_U64(guard.count, 1);
    jwire_release(&w);
    jmsg_release(&m);
    jmsg_release(&back);
    jreplay_release(&guard);
    jsign_release(&s);
}

static void test_no_key(void)
{
    struct jsign s;
    char err[256];
    CHECK_INT(jsign_init(&s, "hmac-sha256", "", 0, err, sizeof err), 0);
    struct jreplay guard;
    jreplay_init(&guard, 4);
    struct jmsg m, back;
    make_msg(&m, "kernel_info_request");
    struct jwire w;
    CHECK_INT(jmsg_serialize(&m, &s, &w), 0);
    CHECK_U64(w.frames[3].len, 0);
    struct jframe *f = as_frames(&w);
    jmsg_init(&back);
    CHECK_INT(jmsg_parse(&back, f, w.n, &s, &guard, err, sizeof err), 0);
    /* No key, no checking at all: the same frames again are accepted, and
     * whatever stands in the signature frame is ignored. */
    CHECK_INT(jmsg_parse(&back, f, w.n, &s, &guard, err, sizeof err), 0);
    f[3] = fr("garbage");
    CHECK_INT(jmsg_parse(&back, f, w.n, &s, &guard, err, sizeof err), 0);
    CHECK_U64(guard.count, 0);
    free(f);
    jwire_release(&w);
    jmsg_release(&m);
    jmsg_release(&back);
    jreplay_release(&guard);
    jsign_release(&s);
}

static void test_bad_frames(void)
{
    struct jsign s;
    char err[256];
    CHECK_INT(jsign_init(&s, NULL, "", 0, err, sizeof err), 0);
    struct jmsg m;
    jmsg_init(&m);
    const char *hdr = "{\"msg_id\":\"1\",\"msg_type\":\"x\"}";

    struct jframe ok[6] = {fr("<IDS|MSG>"), fr(""), fr(hdr), fr("{}"), fr("{}"), fr("{}")};
    CHECK_INT(jmsg_parse(&m, ok, 6, &s, NULL, err, sizeof err), 0);
    CHECK_U64(m.nidents, 0);
    CHECK_U64(m.nbuffers, 0);

    CHECK_INT(jmsg_parse(&m, ok, 5, &s, NULL, err, sizeof err), -EBADMSG);
    CHECK_STR(err, "4 frames after the delimiter, need at least 5");
    CHECK_INT(jmsg_parse(&m, ok, 0, &s, NULL, err, sizeof err), -EBADMSG);
    CHECK_STR(err, "no <IDS|MSG> delimiter");
    struct jframe nodelim[6] = {fr("<IDS|MSG"), fr(""), fr(hdr), fr("{}"), fr("{}"), fr("{}")};
    CHECK_INT(jmsg_parse(&m, nodelim, 6, &s, NULL, err, sizeof err), -EBADMSG);

    struct jframe badjson[6] = {fr("<IDS|MSG>"), fr(""), fr(hdr), fr("{"), fr("{}"), fr("{}")};
    CHECK_INT(jmsg_parse(&m, badjson, 6, &s, NULL, err, sizeof err), -EBADMSG);
    CHECK(strncmp(err, "parent_header: invalid JSON", 27) == 0);
    struct jframe array[6] = {fr("<IDS|MSG>"), fr(""), fr(hdr), fr("{}"), fr("[]"), fr("{}")};
    CHECK_INT(jmsg_parse(&m, array, 6, &s, NULL, err, sizeof err), -EBADMSG);
    CHECK_STR(err, "metadata: not a JSON object");
    struct jframe notype[6] = {fr("<IDS|MSG>"), fr(""),   fr("{\"msg_id\":\"1\"}"),
                               fr("{}"),        fr("{}"), fr("{}")};
    CHECK_INT(jmsg_parse(&m, notype, 6, &s, NULL, err, sizeof err), -EBADMSG);
    CHECK_STR(err, "header: msg_id and msg_type must be strings");
    struct jframe badutf8[6] = {fr("<IDS|MSG>"), fr(""),   fr(hdr),
                                fr("{}"),        fr("{}"), fr("{\"a\":\"\xff\"}")};
    CHECK_INT(jmsg_parse(&m, badutf8, 6, &s, NULL, err, sizeof err), -EBADMSG);

    /* Caps: too many identities, an oversized identity, too many frames, a huge frame. */
    struct jframe many[JMSG_IDENTS_MAX + 7];
    for (int i = 0; i < JMSG_IDENTS_MAX + 1; i++)
        many[i] = fr("id");
    memcpy(&many[JMSG_IDENTS_MAX + 1], ok, sizeof ok);
    CHECK_INT(jmsg_parse(&m, many, JMSG_IDENTS_MAX + 7, &s, NULL, err, sizeof err), -EBADMSG);
    CHECK_INT(jmsg_parse(&m, many + 1, JMSG_IDENTS_MAX + 6, &s, NULL, err, sizeof err), 0);
    CHECK_U64(m.nidents, JMSG_IDENTS_MAX);
    char *bigid = calloc(JMSG_IDENT_MAX + 1, 1);
    memset(bigid, 'a', JMSG_IDENT_MAX + 1);
    struct jframe big[7] = {{bigid, JMSG_IDENT_MAX + 1},
                            fr("<IDS|MSG>"),
                            fr(""),
                            fr(hdr),
                            fr("{}"),
                            fr("{}"),
                            fr("{}")};
    CHECK_INT(jmsg_parse(&m, big, 7, &s, NULL, err, sizeof err), -E2BIG);
    free(bigid);
    struct jframe huge[6] = {fr("<IDS|MSG>"), fr(""),   fr(hdr),
                             fr("{}"),        fr("{}"), {"{}", (size_t)JMSG_FRAME_MAX + 1}};
    /* The size is checked before the (short) data is ever read. */
    CHECK_INT(jmsg_parse(&m, huge, 6, &s, NULL, err, sizeof err), -E2BIG);
    CHECK_INT(jmsg_parse(&m, ok, JMSG_FRAMES_MAX + 1, &s, NULL, err, sizeof err), -E2BIG);
    jmsg_release(&m);
    jsign_release(&s);
}

static void test_replay_guard(void)
{
    struct jreplay r;
    jreplay_init(&r, 4);
    unsigned char d[6][JSIGN_DIGEST_LEN];
    for (int i = 0; i < 6; i++) {
        memset(d[i], 0, JSIGN_DIGEST_LEN);
        d[i][0] = 0x11; /* all share one home slot: exercises probing and deletion */
        d[i][31] = (unsigned char)i;
    }
    for (int i = 0; i < 4; i++)
        jreplay_add(&r, d[i]);
    for (int i = 0; i < 4; i++)
        CHECK(jreplay_seen(&r, d[i]));
    CHECK(!jreplay_seen(&r, d[4]));
    jreplay_add(&r, d[4]); /* evicts d[0] */
    CHECK(!jreplay_seen(&r, d[0]));
    for (int i = 1; i < 5; i++)
        CHECK(jreplay_seen(&r, d[i]));
    jreplay_add(&r, d[5]); /* evicts d[1] */
    CHECK(!jreplay_seen(&r, d[1]));
    CHECK_U64(r.count, 4);
    jreplay_release(&r);

    /* Many random digests through a small guard: exactly the newest `cap` are seen. */
    enum { CAP = 1000, N = 50000 };
    jreplay_init(&r, CAP);
    unsigned char(*all)[JSIGN_DIGEST_LEN] = malloc((size_t)N * JSIGN_DIGEST_LEN);
    unsigned long long x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < JSIGN_DIGEST_LEN; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            all[i][k] = (unsigned char)(x >> 24);
        }
        jreplay_add(&r, all[i]);
    }
    int seen_new = 0, seen_old = 0;
    for (int i = 0; i < N; i++) {
        if (jreplay_seen(&r, all[i])) {
            if (i >= N - CAP)
                seen_new++;
            else
                seen_old++;
        }
    }
    CHECK_INT(seen_new, CAP);
    CHECK_INT(seen_old, 0);
    CHECK_U64(r.count, CAP);
    free(all);
    jreplay_release(&r);
}

static void test_headers(void)
{
    struct timespec ts = {0, 5000};
    char date[32];
    jmsg_date(&ts, date);
    CHECK_STR(date, "1970-01-01T00:00:00.000005Z");
    ts.tv_sec = 1728292366;
    ts.tv_nsec = 144859123;
    jmsg_date(&ts, date);
    CHECK_STR(date, "2024-10-07T09:12:46.144859Z");

    char a[37], b[37];
    jmsg_uuid(a);
    jmsg_uuid(b);
    CHECK_U64(strlen(a), 36);
    CHECK(strcmp(a, b) != 0);
    CHECK(a[8] == '-' && a[13] == '-' && a[14] == '4' && a[18] == '-' && a[23] == '-');
    CHECK(strchr("89ab", a[19]) != NULL);

    json_t *h = jmsg_header_new("status", "S", "u");
    CHECK_STR(json_string_value(json_object_get(h, "version")), "5.3");
    CHECK_STR(json_string_value(json_object_get(h, "msg_type")), "status");
    CHECK_STR(json_string_value(json_object_get(h, "session")), "S");
    CHECK_U64(strlen(json_string_value(json_object_get(h, "date"))), 27);
    json_decref(h);

    struct jmsg req, rep;
    jmsg_init(&req);
    jmsg_init(&rep);
    jmsg_build(&req, "kernel_info_request", "C", "u", NULL, NULL, NULL);
    jmsg_build(&rep, "kernel_info_reply", "K", "k", &req, json_object(), &req);
    CHECK_STR(json_string_value(json_object_get(rep.parent, "msg_id")), jmsg_id(&req));
    CHECK(strcmp(jmsg_id(&rep), jmsg_id(&req)) != 0);
    jmsg_release(&req);
    jmsg_release(&rep);
}

static void check_conn_error(const char *text, const char *want)
{
    struct jconn c;
    char err[256] = "";
    CHECK_INT(jconn_parse(&c, text, strlen(text), err, sizeof err), -EINVAL);
    CHECK_STR(err, want);
    jconn_release(&c);
}

static void test_connfile(void)
{
    const char *tcp = "{\"shell_port\": 5001, \"iopub_port\": 5002, \"stdin_port\": 5003,"
                      " \"control_port\": 5004, \"hb_port\": 5005, \"ip\": \"127.0.0.1\","
                      " \"key\": \"a0b1-c2\", \"transport\": \"tcp\","
                      " \"signature_scheme\": \"hmac-sha256\", \"kernel_name\": \"iops-bash\"}";
    struct jconn c;
    char err[256], ep[256];
    CHECK_INT(jconn_parse(&c, tcp, strlen(tcp), err, sizeof err), 0);
    CHECK_STR(c.transport, "tcp");
    CHECK_STR(c.key, "a0b1-c2");
    CHECK_U64(c.keylen, 7);
    CHECK_INT(c.ports[JCONN_HB], 5005);
    CHECK_STR(c.kernel_name, "iops-bash");
    CHECK_INT(jconn_endpoint(&c, JCONN_CONTROL, ep, sizeof ep), 0);
    CHECK_STR(ep, "tcp://127.0.0.1:5004");
    CHECK_INT(jconn_endpoint(&c, JCONN_CONTROL, ep, 10), -ENAMETOOLONG);
    jconn_release(&c);

    const char *ipc = "{\"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                      " \"control_port\": 4, \"hb_port\": 5, \"ip\": \"/tmp/k/kernel-ipc\","
                      " \"key\": \"\", \"transport\": \"ipc\"}";
    CHECK_INT(jconn_parse(&c, ipc, strlen(ipc), err, sizeof err), 0);
    CHECK_INT(jconn_endpoint(&c, JCONN_IOPUB, ep, sizeof ep), 0);
    CHECK_STR(ep, "ipc:///tmp/k/kernel-ipc-2");
    CHECK_U64(c.keylen, 0);
    CHECK_STR(c.scheme, "hmac-sha256");
    jconn_release(&c);

    check_conn_error("", "invalid JSON at line 1: '[' or '{' expected near end of file");
    check_conn_error("[]", "not a JSON object");
    /* Found by fuzz_connfile: jansson quotes the input, newline included. */
    check_conn_error("{\"tra\\\n\":1}", "invalid JSON at line 2: invalid escape near '\"tra\\?'");
    check_conn_error("{\"ip\": \"a\\nb\", \"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                     " \"control_port\": 4, \"hb_port\": 5, \"key\": \"\"}",
                     "field 'ip': \"a?b\" is not a numeric address; use one such as "
                     "127.0.0.1, ::1 or 0.0.0.0 (ZeroMQ binds addresses, not host names)");
    check_conn_error("{\"ip\": \"x\"}", "field 'shell_port': missing");
    check_conn_error("{\"shell_port\": 1}", "field 'ip': missing");
    check_conn_error("{\"ip\": 7}", "field 'ip': must be a string");
    check_conn_error("{\"ip\": \"\"}", "field 'ip': empty");
    check_conn_error("{\"ip\": \"h\", \"transport\": \"udp\"}",
                     "field 'transport': must be \"tcp\" or \"ipc\"");
    check_conn_error("{\"ip\": \"h\", \"transport\": \"inproc\"}",
                     "field 'transport': \"inproc\" only connects threads of one process; use "
                     "\"tcp\" or \"ipc\"");
    check_conn_error("{\"ip\": \"localhost\", \"shell_port\": 1, \"iopub_port\": 2,"
                     " \"stdin_port\": 3, \"control_port\": 4, \"hb_port\": 5, \"key\": \"\"}",
                     "field 'ip': \"localhost\" is not a numeric address; use one such as "
                     "127.0.0.1, ::1 or 0.0.0.0 (ZeroMQ binds addresses, not host names)");
    check_conn_error("{\"ip\": \"eth0\", \"shell_port\": 1, \"iopub_port\": 2,"
                     " \"stdin_port\": 3, \"control_port\": 4, \"hb_port\": 5, \"key\": \"\"}",
                     "field 'ip': \"eth0\" is not a numeric address; use one such as "
                     "127.0.0.1, ::1 or 0.0.0.0 (ZeroMQ binds addresses, not host names)");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": \"5\"}",
                     "field 'shell_port': must be an integer 1..65535");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": 70000}",
                     "field 'shell_port': must be an integer 1..65535");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                     " \"control_port\": 4}",
                     "field 'hb_port': missing");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                     " \"control_port\": 4, \"hb_port\": 1}",
                     "field 'hb_port': same port as 'shell_port'");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                     " \"control_port\": 4, \"hb_port\": 5}",
                     "field 'key': missing");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                     " \"control_port\": 4, \"hb_port\": 5, \"key\": null}",
                     "field 'key': must be a string");
    check_conn_error("{\"ip\": \"h\", \"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                     " \"control_port\": 4, \"hb_port\": 5, \"key\": \"k\","
                     " \"signature_scheme\": \"hmac-sha1\"}",
                     "field 'signature_scheme': unsupported \"hmac-sha1\" (use hmac-sha256)");

    /* Files: missing, and too large. */
    CHECK_INT(jconn_load(&c, "/nonexistent/kernel.json", err, sizeof err), -ENOENT);
    CHECK_STR(err, "connection file /nonexistent/kernel.json: No such file or directory");
    char path[] = "/tmp/test_protocol_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (unsigned i = 0; i < JCONN_FILE_MAX + 1; i++)
        fputc(' ', f);
    fclose(f);
    CHECK_INT(jconn_load(&c, path, err, sizeof err), -EFBIG);
    f = fopen(path, "w");
    fputs(tcp, f);
    fclose(f);
    CHECK_INT(jconn_load(&c, path, err, sizeof err), 0);
    CHECK_INT(c.ports[JCONN_SHELL], 5001);
    jconn_release(&c);
    unlink(path);

    /* Addresses that bind: IPv4, IPv6, every interface. */
    const char *addrs[] = {"0.0.0.0", "::1", "*", "fe80::1"};
    for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3,"
                 " \"control_port\": 4, \"hb_port\": 5, \"ip\": \"%s\", \"key\": \"\"}",
                 addrs[i]);
        CHECK_INT(jconn_parse(&c, text, strlen(text), err, sizeof err), 0);
        jconn_release(&c);
    }

    /* Not a regular file: refused at once (a FIFO without a writer used to
     * block forever), naming what it is. */
    CHECK(mkfifo(path, 0600) == 0);
    CHECK_INT(jconn_load(&c, path, err, sizeof err), -EINVAL);
    char want[256];
    snprintf(want, sizeof want, "connection file %s: not a regular file (a FIFO)", path);
    CHECK_STR(err, want);
    unlink(path);
    CHECK_INT(jconn_load(&c, "/tmp", err, sizeof err), -EINVAL);
    CHECK_STR(err, "connection file /tmp: not a regular file (a directory)");
    CHECK_INT(jconn_load(&c, "/dev/null", err, sizeof err), -EINVAL);
    CHECK_STR(err, "connection file /dev/null: not a regular file (a device)");
}

int main(void)
{
    test_hmac_vector();
    test_round_trip();
    test_no_key();
    test_own_signatures();
    test_bad_frames();
    test_replay_guard();
    test_headers();
    test_connfile();
    return tap_done("test_protocol");
}
