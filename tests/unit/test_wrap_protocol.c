/* test_wrap_protocol: what the wrap relay needs from protocol/: jraw (split,
 * verify, re-sign over the original bytes, peek, compose) and jspec (kernel
 * spec lookup order, case, parsing, env and argv substitution). */
#include "protocol/jraw.h"
#include "protocol/jspec.h"
#include "util/buf.h"
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

/* Content that jansson would change if it were parsed and dumped again. */
#define HEADER  "{\"msg_id\":\"m1\",\"msg_type\":\"comm_msg\",\"session\":\"s\",\"version\":\"5.3\"}"
#define PARENT  "{\"msg_id\":\"p-7\", \"msg_type\": \"execute_request\"}"
#define CONTENT "{\"x\": 1.1, \"big\": 18446744073709551616, \"neg\": -1e400}"

static void sign4(const struct jsign *s, const struct jframe *parts, char hex[JSIGN_HEX_LEN + 1])
{
    CHECK_INT(jsign_sign(s, parts, 4, hex), 0);
}

static void test_resign_original_bytes(void)
{
    char err[256], hex[JSIGN_HEX_LEN + 1], hex2[JSIGN_HEX_LEN + 1];
    struct jsign front, priv;
    CHECK_INT(jsign_init(&front, NULL, "front-key", 9, err, sizeof err), 0);
    CHECK_INT(jsign_init(&priv, NULL, "private-key", 11, err, sizeof err), 0);
    struct jframe f[10] = {fr("client-A"),    fr("\x01relay"), fr(JMSG_DELIM), fr(""),
                           fr(HEADER),        fr(PARENT),      fr("{}"),       fr(CONTENT),
                           {"\0\xff\x01", 3}, {"", 0}};
    sign4(&front, &f[4], hex);
    f[3] = fr(hex);

    struct jraw raw;
    CHECK_INT(jraw_split(&raw, f, 10, err, sizeof err), 0);
    CHECK_INT(raw.nidents, 2);
    CHECK_INT(jraw_nbuffers(&raw), 2);
    struct jreplay guard;
    jreplay_init(&guard, 16);
    CHECK_INT(jraw_verify(&raw, &front, &guard, err, sizeof err), 0);
    /* The same frames again: a replay. */
    CHECK_INT(jraw_verify(&raw, &front, &guard, err, sizeof err), -EALREADY);
    CHECK_STR(err, "duplicate signature (replayed message)");
    /* Under the wrong key: refused. */
    CHECK_INT(jraw_verify(&raw, &priv, NULL, err, sizeof err), -EPERM);

    char type[64], pid[64];
    CHECK_INT(jraw_msg_type(&raw, type, sizeof type), 0);
    CHECK_STR(type, "comm_msg");
    CHECK_INT(jraw_parent_id(&raw, pid, sizeof pid), 0);
    CHECK_STR(pid, "p-7");
    /* A real beyond a double makes a peek fail (the relay then forwards
     * the message without looking); integers beyond 64 bits do not. */
    CHECK(jraw_peek(&raw, JRAW_CONTENT) == NULL);
    struct jframe bigint[6] = {fr(JMSG_DELIM), fr(""),   fr(HEADER),
                               fr("{}"),       fr("{}"), fr("{\"big\": 18446744073709551616}")};
    struct jraw braw;
    CHECK_INT(jraw_split(&braw, bigint, 6, err, sizeof err), 0);
    json_t *c = jraw_peek(&braw, JRAW_CONTENT);
    CHECK(c != NULL);
    CHECK(json_is_real(json_object_get(c, "big")));
    json_decref(c);

    /* Re-signing: the new signature is HMAC(private key) of the very same
     * four frames; every other frame stays as it was. */
    CHECK_INT(jraw_resign(&raw, &priv, hex2), 0);
    struct jframe parts[4] = {fr(HEADER), fr(PARENT), fr("{}"), fr(CONTENT)};
    char want[JSIGN_HEX_LEN + 1];
    sign4(&priv, parts, want);
    CHECK_STR(hex2, want);
    CHECK(strcmp(hex, hex2) != 0);
    struct jframe g[10];
    memcpy(g, f, sizeof g);
    g[3] = fr(hex2);
    struct jraw back;
    CHECK_INT(jraw_split(&back, g, 10, err, sizeof err), 0);
    CHECK_INT(jraw_verify(&back, &priv, NULL, err, sizeof err), 0);
    CHECK(jraw_parts(&back)[JRAW_CONTENT].data == f[7].data);
    /* jmsg_parse (which parses JSON) refuses this content: a relay built on
     * it would drop the message. */
    struct jmsg m;
    jmsg_init(&m);
    CHECK_INT(jmsg_parse(&m, g, 10, &priv, NULL, err, sizeof err), -EBADMSG);
    jmsg_release(&m);

    jreplay_release(&guard);
    jsign_release(&front);
    jsign_release(&priv);
}

static void test_split_errors(void)
{
    char err[256];
    struct jraw raw;
    struct jframe few[4] = {fr(JMSG_DELIM), fr(""), fr("{}"), fr("{}")};
    CHECK_INT(jraw_split(&raw, few, 4, err, sizeof err), -EBADMSG);
    CHECK_STR(err, "3 frames after the delimiter, need at least 5");
    struct jframe nodelim[6] = {fr("a"), fr("b"), fr("{}"), fr("{}"), fr("{}"), fr("{}")};
    CHECK_INT(jraw_split(&raw, nodelim, 6, err, sizeof err), -EBADMSG);
    CHECK_STR(err, "no <IDS|MSG> delimiter");
    struct jframe big[6] = {fr(JMSG_DELIM), fr(""), fr("{}"), fr("{}"), fr("{}"), fr("0123456789")};
    CHECK_INT(jraw_split_capped(&raw, big, 6, 9, 100, err, sizeof err), -E2BIG);
    CHECK_STR(err, "frame 5 too large (10 bytes)");
    CHECK_INT(jraw_split_capped(&raw, big, 6, 10, 20, err, sizeof err), -E2BIG);
    CHECK_STR(err, "message too large (over 20 bytes)");
    CHECK_INT(jraw_split_capped(&raw, big, 6, 10, 100, err, sizeof err), 0);

    /* Unsigned, malformed and wrong signatures when signing is on. */
    struct jsign s;
    CHECK_INT(jsign_init(&s, NULL, "k", 1, err, sizeof err), 0);
    struct jframe m[6] = {fr(JMSG_DELIM), fr(""), fr(HEADER), fr("{}"), fr("{}"), fr("{}")};
    CHECK_INT(jraw_split(&raw, m, 6, err, sizeof err), 0);
    CHECK_INT(jraw_verify(&raw, &s, NULL, err, sizeof err), -EPERM);
    CHECK_STR(err, "unsigned message");
    m[1] = fr("abc");
    CHECK_INT(jraw_verify(&raw, &s, NULL, err, sizeof err), -EPERM);
    CHECK_STR(err, "malformed signature (3 bytes)");
    m[1] = fr("0000000000000000000000000000000000000000000000000000000000000000");
    CHECK_INT(jraw_verify(&raw, &s, NULL, err, sizeof err), -EPERM);
    CHECK_STR(err, "invalid signature");
    jsign_release(&s);
    /* A header that is not an object: no type. */
    m[2] = fr("[1]");
    char type[16];
    CHECK_INT(jraw_msg_type(&raw, type, sizeof type), -EBADMSG);
}

/* content.text's length without a parse: jansson's json_string_length on
 * the same text, escapes and surrogate pairs decoded, the last duplicate
 * member counting, nested and other members skipped. */
static size_t text_bytes(const char *content, int *rc)
{
    struct jframe m[6] = {fr(JMSG_DELIM), fr(""), fr(HEADER), fr("{}"), fr("{}"), fr(content)};
    struct jraw raw;
    char err[128];
    size_t n = 12345;
    if (jraw_split(&raw, m, 6, err, sizeof err))
        return 99999;
    *rc = jraw_string_bytes(&raw, JRAW_CONTENT, "text", &n);
    return n;
}

static void test_string_bytes(void)
{
    static const char *const ok[] = {
        "{\"name\": \"stdout\", \"text\": \"hello\\n\"}",
        "{\"text\":\"\"}",
        " { \"a\" : [1, {\"text\": 5}, \"x\\\"]\"], \"b\": {\"c\": [[]]}, \"text\" : \"q\\\"\\\\\\/\" } ",
        "{\"text\": \"\\u00e9\\u20ac\\ud83d\\ude00\\u0041\\u0000\"}",
        "{\"text\": \"\xc3\xa9t\xc3\xa9\", \"n\": -1.5e3, \"t\": true, \"z\": null}",
        "{\"text\": \"first\", \"text\": \"second one\"}",
        "{\"te\\u0078t\": \"escaped key\"}",
    };
    static const size_t want[] = {6, 0, 4, 2 + 3 + 4 + 1 + 1, 5, 10, 11};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int rc = -1;
        size_t n = text_bytes(ok[i], &rc);
        CHECK_INT(rc, 0);
        CHECK_INT(n, want[i]);
        json_t *v = json_loads(ok[i], JSON_ALLOW_NUL, NULL);
        CHECK(v != NULL);
        CHECK_INT(json_string_length(json_object_get(v, "text")), want[i]);
        json_decref(v);
    }
    int rc = 0;
    text_bytes("{\"name\": \"stdout\"}", &rc);
    CHECK_INT(rc, -ENOENT);
    text_bytes("{\"text\": 5}", &rc);
    CHECK_INT(rc, -ENOENT);
    text_bytes("{\"text\": \"a\", \"text\": [\"b\"]}", &rc);
    CHECK_INT(rc, -ENOENT);
    text_bytes("{}", &rc);
    CHECK_INT(rc, -ENOENT);
    static const char *const bad[] = {
        "[\"text\"]",
        "{\"text\": \"abc",
        "{\"text\": \"a\\q\"}",
        "{\"text\" \"a\"}",
        "{\"a\": [1, 2}",
        "{\"text\": \"\\u12\"}",
        "{\"a\": 1,",
        "",
        "{\"a\": 1 \"text\": \"b\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = 0;
        text_bytes(bad[i], &rc);
        CHECK_INT(rc, -EBADMSG);
    }
}

static void test_compose(void)
{
    char err[128];
    struct jsign s;
    CHECK_INT(jsign_init(&s, NULL, "k", 1, err, sizeof err), 0);
    struct jblob id = {(unsigned char *)"client", 6};
    struct jframe parts[4] = {fr(HEADER), fr(PARENT), fr("{}"), fr("{\"status\":\"ok\"}")};
    struct jwire w;
    CHECK_INT(jraw_compose(&id, 1, parts, &s, &w), 0);
    CHECK_INT(w.n, 7);
    struct jframe f[7];
    for (size_t i = 0; i < w.n && i < 7; i++)
        f[i] = (struct jframe){w.frames[i].data, w.frames[i].len};
    struct jraw raw;
    CHECK_INT(jraw_split(&raw, f, 7, err, sizeof err), 0);
    CHECK_INT(jraw_verify(&raw, &s, NULL, err, sizeof err), 0);
    CHECK_INT(f[4].len, strlen(PARENT));
    CHECK(memcmp(f[4].data, PARENT, strlen(PARENT)) == 0);
    jwire_release(&w);
    jsign_release(&s);
}

static char tmp[256];

static void write_spec(const char *datadir, const char *name, const char *json)
{
    char p[512];
    snprintf(p, sizeof p, "%s/kernels", datadir);
    mkdir(datadir, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/kernels/%s", datadir, name);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/kernels/%s/kernel.json", datadir, name);
    FILE *f = fopen(p, "w");
    fputs(json, f);
    fclose(f);
}

static void test_lookup(void)
{
    char err[1024], a[300], b[300], u[300], home[300];
    snprintf(tmp, sizeof tmp, "/tmp/iopsd-jspec-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    snprintf(u, sizeof u, "%s/user", tmp);
    snprintf(home, sizeof home, "%s/home", tmp);
    mkdir(home, 0755);
    write_spec(a, "Py", "{\"argv\":[\"from-a\"],\"display_name\":\"A\",\"language\":\"python\"}");
    write_spec(b, "py", "{\"argv\":[\"from-b\"],\"language\":\"python\"}");
    write_spec(b, "only-b",
               "{\"argv\":[\"b2\",\"{connection_file}\"],\"interrupt_mode\":"
               "\"message\",\"env\":{\"X\":\"1\"}}");
    write_spec(u, "py", "{\"argv\":[\"from-user\"]}");
    write_spec(u, "broken", "{\"argv\":[]}");
    setenv("HOME", home, 1);
    unsetenv("XDG_DATA_HOME");
    setenv("JUPYTER_DATA_DIR", u, 1);
    setenv("PATH", "/nonexistent", 1);
    char jp[700];
    snprintf(jp, sizeof jp, "%s::%s", a, b);
    setenv("JUPYTER_PATH", jp, 1);

    char **dirs = jspec_dirs();
    char want[400];
    snprintf(want, sizeof want, "%s/kernels", a);
    CHECK_STR(dirs[0], want);
    snprintf(want, sizeof want, "%s/kernels", b);
    CHECK_STR(dirs[1], want);
    snprintf(want, sizeof want, "%s/kernels", u);
    CHECK_STR(dirs[2], want);
    CHECK_STR(dirs[3], "/usr/local/share/jupyter/kernels");
    CHECK_STR(dirs[4], "/usr/share/jupyter/kernels");
    snprintf(want, sizeof want, "%s/.ipython/kernels", home);
    CHECK_STR(dirs[5], want);
    CHECK(dirs[6] == NULL);
    jspec_dirs_free(dirs);

    /* First match wins, names compare ignoring case. */
    struct jspec s;
    CHECK_INT(jspec_find(&s, "py", err, sizeof err), 0);
    CHECK_STR(s.argv[0], "from-a");
    CHECK_STR(s.name, "Py");
    CHECK_STR(s.display_name, "A");
    CHECK_STR(s.language, "python");
    CHECK_INT(s.interrupt_mode, JSPEC_INTERRUPT_SIGNAL);
    jspec_release(&s);
    CHECK_INT(jspec_find(&s, "ONLY-B", err, sizeof err), 0);
    CHECK_STR(s.display_name, "only-b");
    CHECK_INT(s.argc, 2);
    CHECK_INT(s.interrupt_mode, JSPEC_INTERRUPT_MESSAGE);
    CHECK_STR(json_string_value(json_object_get(s.env, "X")), "1");
    snprintf(want, sizeof want, "%s/kernels/only-b", b);
    CHECK_STR(s.resource_dir, want);
    char *arg = jspec_format_arg(s.argv[1], "/run/c.json", s.resource_dir);
    CHECK_STR(arg, "/run/c.json");
    free(arg);
    jspec_release(&s);
    /* Without JUPYTER_PATH the user dir comes first. */
    unsetenv("JUPYTER_PATH");
    CHECK_INT(jspec_find(&s, "py", err, sizeof err), 0);
    CHECK_STR(s.argv[0], "from-user");
    jspec_release(&s);
    CHECK_INT(jspec_find(&s, "broken", err, sizeof err), -EINVAL);
    snprintf(want, sizeof want,
             "%s/kernels/broken/kernel.json: field 'argv': must be a list of 1..256 strings", u);
    CHECK_STR(err, want);
    CHECK_INT(jspec_find(&s, "nope", err, sizeof err), -ENOENT);
    CHECK(strncmp(err, "no kernel spec named 'nope' (looked in ", 39) == 0);
    CHECK_INT(jspec_find(&s, "../etc", err, sizeof err), -EINVAL);

    /* JUPYTER_PREFER_ENV_PATH puts the environment's dir before the user's:
     * PREFIX is the parent of the dir holding `jupyter` on PATH. */
    char bin[300], jup[320];
    snprintf(bin, sizeof bin, "%s/venv/bin", tmp);
    snprintf(want, sizeof want, "%s/venv", tmp);
    mkdir(want, 0755);
    mkdir(bin, 0755);
    snprintf(jup, sizeof jup, "%s/jupyter", bin);
    FILE *f = fopen(jup, "w");
    fclose(f);
    chmod(jup, 0755);
    setenv("PATH", bin, 1);
    snprintf(want, sizeof want, "%s/venv/share", tmp);
    mkdir(want, 0755);
    snprintf(want, sizeof want, "%s/venv/share/jupyter", tmp);
    write_spec(want, "py", "{\"argv\":[\"from-env\"]}");
    CHECK_INT(jspec_find(&s, "py", err, sizeof err), 0);
    CHECK_STR(s.argv[0], "from-user");
    jspec_release(&s);
    setenv("JUPYTER_PREFER_ENV_PATH", "1", 1);
    CHECK_INT(jspec_find(&s, "py", err, sizeof err), 0);
    CHECK_STR(s.argv[0], "from-env");
    jspec_release(&s);
    unsetenv("JUPYTER_PREFER_ENV_PATH");

    char cmd[300];
    snprintf(cmd, sizeof cmd, "/bin/rm -rf '%s'", tmp);
    CHECK_INT(system(cmd), 0);
}

static void test_parse_and_subst(void)
{
    char err[256];
    struct jspec s;
    jspec_init(&s);
    CHECK_INT(
        jspec_parse(&s, "{\"argv\":[\"x\"],\"interrupt_mode\":\"never\"}", 39, err, sizeof err),
        -EINVAL);
    CHECK_STR(err, "field 'interrupt_mode': must be \"signal\" or \"message\"");
    const char *bad_env = "{\"argv\":[\"x\"],\"env\":{\"A\":1}}";
    CHECK_INT(jspec_parse(&s, bad_env, strlen(bad_env), err, sizeof err), -EINVAL);
    CHECK_STR(err, "field 'env': 'A' must be a string (name without '=')");
    CHECK_INT(jspec_parse(&s, "[]", 2, err, sizeof err), -EINVAL);
    CHECK_STR(err, "not a JSON object");
    jspec_release(&s);

    setenv("IOPSD_T", "v", 1);
    unsetenv("IOPSD_UNSET");
    char *r = jspec_subst_env("a$IOPSD_T-${IOPSD_T}/$$x/$IOPSD_UNSET/${IOPSD_UNSET}/${/$/$1");
    CHECK_STR(r, "av-v/$x/$IOPSD_UNSET/${IOPSD_UNSET}/${/$/$1");
    free(r);
    r = jspec_format_arg("--f={connection_file} {resource_dir}/k {prefix}", "/c", "/r");
    CHECK_STR(r, "--f=/c /r/k {prefix}");
    free(r);
}

/* A string cut into pieces of at most max bytes as written: each piece a
 * valid string by itself, together the whole, decoded lengths summing to
 * jansson's. */
static void check_pieces(const char *text, size_t max, size_t npieces)
{
    char quoted[256];
    snprintf(quoted, sizeof quoted, "\"%s\"", text);
    json_t *whole = json_loads(quoted, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(whole != NULL);
    struct buf joined = BUF_INIT;
    size_t len = strlen(text), at = 0, n = 0, total = 0;
    while (at < len) {
        size_t dec;
        size_t cut = jraw_string_piece(text + at, len - at, max, &dec);
        CHECK(cut > 0 && cut <= max);
        if (!cut)
            break;
        snprintf(quoted, sizeof quoted, "\"%.*s\"", (int)cut, text + at);
        json_t *piece = json_loads(quoted, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        CHECK(piece != NULL);
        CHECK_INT(json_string_length(piece), dec);
        buf_append(&joined, json_string_value(piece), json_string_length(piece));
        json_decref(piece);
        total += dec;
        at += cut;
        n++;
    }
    CHECK_INT(n, npieces);
    CHECK_INT(total, json_string_length(whole));
    CHECK(joined.len == json_string_length(whole) &&
          !memcmp(joined.data, json_string_value(whole), joined.len));
    buf_release(&joined);
    json_decref(whole);
}

static void test_string_piece(void)
{
    check_pieces("abcdefghijklmnopqrstuvwxyz", 12, 3); /* 12 + 12 + 2 */
    check_pieces("abcdefghijklmnopqrstuvwxyz", 26, 1);
    /* an escape is not cut: "abcdefghij\n" is 12 bytes, "\n" starts at 10 */
    check_pieces("abcdefghijk\\nopq", 12, 2);
    check_pieces("\\u00e9\\u00e9\\u00e9", 12, 2); /* 6 + 6 | 6 */
    check_pieces("ab\\ud83d\\ude00cd", 12, 3);    /* ab | the pair, whole | cd */
    check_pieces("\\ud83d\\ude00\\ud83d\\ude00", 12, 2);
    /* UTF-8 as written: é (2 bytes) and € (3 bytes) are not cut */
    check_pieces("abcdefghijk\xc3\xa9z", 12, 2);
    check_pieces("abcdefghij\xe2\x82\xacz", 12, 2);
    check_pieces("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
                 "a",
                 12, 2);
    check_pieces("\\\"\\\\\\/\\b\\f\\n\\r\\t", 12, 2);
    size_t dec = 7;
    CHECK_INT(jraw_string_piece("abc", 3, 11, &dec), 0); /* max below one surrogate pair */
    CHECK_INT(jraw_string_piece("", 0, 64, &dec), 0);
    CHECK_INT(dec, 0);
}

int main(void)
{
    test_resign_original_bytes();
    test_split_errors();
    test_string_bytes();
    test_string_piece();
    test_compose();
    test_lookup();
    test_parse_and_subst();
    return tap_done("test_wrap_protocol");
}
