/* test_bash_query: what complete and inspect ask bash, for a given cursor
 * (no bash is run: the planners are pure), and the shell quoting they use. */
#include "server/bash_internal.h"

#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"

struct csample {
    const char *code;
    size_t cursor; /* code points */
    const char *script, *prefix;
    bool files;
    size_t from, cur; /* bytes */
};

static void test_complete_plan(void)
{
    static const struct csample s[] = {
        {"ech", 3, "\\builtin compgen -c -- 'ech'", "", false, 0, 3},
        {"echo $HO", 8, "\\builtin compgen -v -- 'HO'", "$", false, 5, 8},
        {"echo ${HO", 9, "\\builtin compgen -v -- 'HO'", "${", false, 5, 9},
        {"echo \"$HO", 9, "\\builtin compgen -v -- 'HO'", "$", false, 6, 9},
        {"ls /us", 6,
         "\\builtin compgen -f -- '/us'; \\builtin printf '\\001\\n'; \\builtin compgen -d -- '/us'",
         "", true, 3, 6},
        {"cmd --file=/tm", 14,
         "\\builtin compgen -f -- '/tm'; \\builtin printf '\\001\\n'; \\builtin compgen -d -- '/tm'",
         "", true, 11, 14},
        {"sudo ap", 7, "\\builtin compgen -c -- 'ap'", "", false, 5, 7},
        {"echo a | gr", 11, "\\builtin compgen -c -- 'gr'", "", false, 9, 11},
        {"if true; then ec", 16, "\\builtin compgen -c -- 'ec'", "", false, 14, 16},
        {"./scr", 5,
         "\\builtin compgen -f -- './scr'; \\builtin printf '\\001\\n'; \\builtin compgen -d -- "
         "'./scr'",
         "", true, 0, 5},
        /* the cursor counts code points: "é" is two bytes */
        {"é ab", 4,
         "\\builtin compgen -f -- 'ab'; \\builtin printf '\\001\\n'; \\builtin compgen -d -- 'ab'",
         "", true, 3, 5},
        /* in the middle of a word: what is before the cursor */
        {"echo", 2, "\\builtin compgen -c -- 'ec'", "", false, 0, 2},
        /* a cursor past the end is the end */
        {"pw", 99, "\\builtin compgen -c -- 'pw'", "", false, 0, 2},
        /* after $( comes a command */
        {"echo $(", 7, "\\builtin compgen -c -- ''", "", false, 7, 7},
        /* $a-b: not a variable name, nothing to offer */
        {"echo $a-b", 9, "", "$", false, 9, 9},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        struct bash__cplan p;
        bash__complete_plan(s[i].code, strlen(s[i].code), s[i].cursor, &p);
        CHECK_STR(p.script.data ? p.script.data : "", s[i].script);
        if (s[i].script[0]) {
            CHECK_STR(p.prefix, s[i].prefix);
            CHECK_INT(p.files, s[i].files);
            CHECK_INT(p.from, s[i].from);
        }
        CHECK_INT(p.cur, s[i].cur);
        buf_release(&p.script);
    }
}

static void test_inspect_plan(void)
{
    struct buf b = BUF_INIT;
    CHECK_INT(bash__inspect_plan("echo $HOME", 10, 8, &b), 0);
    CHECK_STR(b.data, "\\builtin declare -p -- 'HOME'");
    buf_reset(&b);
    CHECK_INT(bash__inspect_plan("x ${PATH} y", 11, 4, &b), 0);
    CHECK_STR(b.data, "\\builtin declare -p -- 'PATH'");
    buf_reset(&b);
    CHECK_INT(bash__inspect_plan("cd /tmp", 7, 1, &b), 0);
    CHECK(b.data && !strncmp(b.data, "\\builtin type -- 'cd' && ", 25));
    buf_reset(&b);
    CHECK_INT(bash__inspect_plan("a  b", 4, 2, &b), -ENOENT);
    CHECK_INT(bash__inspect_plan("", 0, 0, &b), -ENOENT);
    CHECK_INT(bash__inspect_plan("echo $(", 7, 7, &b), -ENOENT);
    CHECK_INT(bash__inspect_plan("$x-y", 4, 1, &b), -ENOENT);
    buf_release(&b);
}

static void test_quote(void)
{
    struct buf b = BUF_INIT;
    bash__quote(&b, "it's $HOME `x`", 14);
    CHECK_STR(b.data, "'it'\\''s $HOME `x`'");
    buf_reset(&b);
    bash__quote(&b, "", 0);
    CHECK_STR(b.data, "''");
    buf_release(&b);
}

static bool secret(const char *p)
{
    return bash__secret_prompt(p, strlen(p));
}

static void test_secret_prompt(void)
{
    CHECK(secret("Password: "));
    CHECK(secret("[sudo] password for bob:"));
    CHECK(secret("Enter passphrase for key '/root/.ssh/id_ed25519': "));
    CHECK(!secret("Name: "));
    CHECK(!secret(""));
    CHECK(!secret("password reset? [y/N] "));
    CHECK(!secret("Password"));
}

int main(void)
{
    test_complete_plan();
    test_inspect_plan();
    test_quote();
    test_secret_prompt();
    return tap_done("test_bash_query");
}
