/* bash_query: the kernel's questions about code that is not run: is it
 * complete (`bash -n`), what completes the word at the cursor (`compgen`),
 * what is the name at the cursor (`type`, `help`, `whatis`). Completion and
 * inspection run in the session when it is idle (so that the variables and
 * functions of earlier cells count), else in a fresh bash. */
#include "server/bash_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/xalloc.h"

#define QUERY_OUT_MAX (256u << 10) /* output of one compgen/type query */
#define MATCHES_MAX   1000
#define CHECK_MAX     (1u << 20) /* largest code is_complete checks */
#define WORD_MAX      1024

void bash__child_reset(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    setsid();
}

int bash__run(char *const argv[], const char *cwd, bool merge_stderr, int timeout_ms,
              struct buf *out, size_t max, int *status)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(p[1], 1) < 0 ||
            dup2(merge_stderr ? p[1] : devnull, 2) < 0)
            _exit(127);
        closefrom(3);
        bash__child_reset();
        if (cwd && chdir(cwd)) {
            /* stay where we are */
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    int rc = 0;
    size_t got = 0;
    char tmp[8192];
    uint64_t until = bash__now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int left = (int)(until - bash__now_ms());
        if (left <= 0 || poll(&pf, 1, left) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        ssize_t n = read(p[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (got < max) {
            size_t take = (size_t)n < max - got ? (size_t)n : max - got;
            buf_append(out, tmp, take);
            got += take;
        }
    }
    close(p[0]);
    if (rc)
        kill(-pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    return rc;
}

/* Byte offset of code point `cp` in s (clamped to the end). */
static size_t cp_to_byte(const char *s, size_t len, size_t cp)
{
    size_t i = 0;
    while (i < len && cp > 0) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        cp--;
    }
    return i;
}

static size_t byte_to_cp(const char *s, size_t b)
{
    size_t cp = 0;
    for (size_t i = 0; i < b; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cp++;
    return cp;
}

static bool word_char(char c)
{
    return c && !strchr(" \t\n;|&()<>`\"'", c);
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Is the word starting at `start` the command of its simple command? */
static bool command_position(const char *code, size_t start)
{
    static const char *const lead[] = {"then",  "do",  "else",  "elif",  "if",      "while",
                                       "until", "!",   "time",  "exec",  "command", "builtin",
                                       "sudo",  "env", "nohup", "xargs", NULL};
    size_t i = start;
    while (i > 0 && (code[i - 1] == ' ' || code[i - 1] == '\t'))
        i--;
    if (i == 0 || strchr(";|&(\n{`", code[i - 1]))
        return true;
    size_t end = i;
    while (i > 0 && word_char(code[i - 1]))
        i--;
    for (int k = 0; lead[k]; k++)
        if (strlen(lead[k]) == end - i && !memcmp(code + i, lead[k], end - i))
            return command_position(code, i);
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits text into lines; the lines after a "\001" line are directories. */
static void add_lines(char ***m, size_t *n, size_t *cap, const char *text, const char *prefix,
                      bool dirs_follow)
{
    const char *p = text;
    bool in_dirs = false;
    char **dirs = NULL;
    size_t ndirs = 0, capdirs = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (dirs_follow && len == 1 && p[0] == '\001') {
            in_dirs = true;
        } else if (len) {
            if (in_dirs) {
                dirs = xgrow(dirs, &capdirs, ndirs + 1, sizeof *dirs);
                dirs[ndirs++] = xstrndup(p, len);
            } else if (*n < MATCHES_MAX) {
                struct buf b = BUF_INIT;
                buf_puts(&b, prefix);
                buf_append(&b, p, len);
                *m = xgrow(*m, cap, *n + 1, sizeof **m);
                (*m)[(*n)++] = buf_detach(&b, NULL);
            }
        }
        p += len + (nl ? 1 : 0);
    }
    if (ndirs) {
        qsort(dirs, ndirs, sizeof *dirs, cmp_str);
        for (size_t i = 0; i < *n; i++) {
            if (bsearch(&(*m)[i], dirs, ndirs, sizeof *dirs, cmp_str)) {
                size_t l = strlen((*m)[i]);
                (*m)[i] = xrealloc((*m)[i], l + 2);
                memcpy((*m)[i] + l, "/", 2);
            }
        }
    }
    for (size_t i = 0; i < ndirs; i++)
        free(dirs[i]);
    free(dirs);
}

void bash__complete_plan(const char *code, size_t len, size_t cursor_pos, struct bash__cplan *p)
{
    size_t cur = cp_to_byte(code, len, cursor_pos);
    size_t ws = cur;
    while (ws > 0 && word_char(code[ws - 1]) && cur - ws < WORD_MAX)
        ws--;
    buf_init(&p->script, 0);
    p->prefix = "";
    p->files = false;
    p->from = p->cur = cur;

    /* what kind of word: $VAR / ${VAR, a command, else a file name */
    const char *dollar = NULL;
    for (size_t i = ws; i < cur; i++)
        if (code[i] == '$')
            dollar = code + i;
    if (dollar) {
        const char *name = dollar + 1;
        p->prefix = "$";
        if (name < code + cur && *name == '{') {
            name++;
            p->prefix = "${";
        }
        for (const char *q = name; q < code + cur; q++)
            if (!ident_char(*q))
                return; /* $(, $1x...: nothing sensible to offer */
        p->from = (size_t)(dollar - code);
        buf_puts(&p->script, "\\builtin compgen -v -- ");
        bash__quote(&p->script, name, (size_t)(code + cur - name));
        return;
    }
    /* VAR=path and --opt=path complete after the '=' */
    const char *eq = memchr(code + ws, '=', cur - ws);
    p->from = eq ? (size_t)(eq + 1 - code) : ws;
    bool cmd = !eq && command_position(code, ws) && !memchr(code + ws, '/', cur - ws);
    const char *w = code + p->from;
    size_t wl = cur - p->from;
    if (cmd) {
        buf_puts(&p->script, "\\builtin compgen -c -- ");
        bash__quote(&p->script, w, wl);
    } else {
        p->files = true;
        buf_puts(&p->script, "\\builtin compgen -f -- ");
        bash__quote(&p->script, w, wl);
        buf_puts(&p->script, "; \\builtin printf '\\001\\n'; \\builtin compgen -d -- ");
        bash__quote(&p->script, w, wl);
    }
}

int bash_session_complete(struct bash_session *s, const char *code, size_t cursor_pos,
                          char ***matches, size_t *nmatches, size_t *start, size_t *end)
{
    size_t len = strlen(code);
    struct bash__cplan plan;
    struct buf out = BUF_INIT;
    bash__complete_plan(code, len, cursor_pos, &plan);
    *matches = NULL;
    *nmatches = 0;
    *start = *end = byte_to_cp(code, plan.cur);
    if (!plan.script.len) {
        buf_release(&plan.script);
        return 0;
    }
    struct buf script = plan.script;
    const char *prefix = plan.prefix;
    bool files = plan.files;
    size_t from = plan.from;
    int rc = bash__query(s, script.data, &out, QUERY_OUT_MAX);
    if (rc) {
        buf_release(&script);
        buf_release(&out);
        return rc;
    }
    size_t cap = 0;
    add_lines(matches, nmatches, &cap, out.data ? out.data : "", prefix, files);
    if (!strcmp(prefix, "${"))
        for (size_t i = 0; i < *nmatches; i++) {
            size_t l = strlen((*matches)[i]);
            (*matches)[i] = xrealloc((*matches)[i], l + 2);
            memcpy((*matches)[i] + l, "}", 2);
        }
    qsort(*matches, *nmatches, sizeof **matches, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < *nmatches; i++) {
        if (k && !strcmp((*matches)[k - 1], (*matches)[i]))
            free((*matches)[i]);
        else
            (*matches)[k++] = (*matches)[i];
    }
    *nmatches = k;
    if (!k) {
        free(*matches);
        *matches = NULL;
    }
    *start = byte_to_cp(code, from);
    buf_release(&script);
    buf_release(&out);
    return 0;
}

int bash__inspect_plan(const char *code, size_t len, size_t cursor_pos, struct buf *script)
{
    size_t cur = cp_to_byte(code, len, cursor_pos);
    size_t a = cur, b = cur;
    while (a > 0 && word_char(code[a - 1]) && cur - a < WORD_MAX)
        a--;
    while (b < len && word_char(code[b]) && b - cur < WORD_MAX)
        b++;
    if (a == b)
        return -ENOENT;
    const char *w = code + a;
    size_t wl = b - a;
    if (w[0] == '$') {
        w++, wl--;
        if (wl && w[0] == '{')
            w++, wl--;
        if (wl && w[wl - 1] == '}')
            wl--;
        if (!wl)
            return -ENOENT;
        for (size_t i = 0; i < wl; i++)
            if (!ident_char(w[i]))
                return -ENOENT;
        buf_puts(script, "\\builtin declare -p -- ");
        bash__quote(script, w, wl);
        return 0;
    }
    struct buf name = BUF_INIT;
    bash__quote(&name, w, wl);
    buf_printf(script,
               "\\builtin type -- %s && case \"$(\\builtin type -t -- %s)\" in "
               "builtin|keyword) \\builtin echo; \\builtin help -- %s;; "
               "file) \\builtin command -v whatis >/dev/null && "
               "{ \\builtin echo; \\builtin command whatis -- %s; };; esac",
               name.data, name.data, name.data, name.data);
    buf_release(&name);
    return 0;
}

int bash_session_inspect(struct bash_session *s, const char *code, size_t cursor_pos, char **text)
{
    struct buf script = BUF_INIT, out = BUF_INIT;
    *text = NULL;
    int rc = bash__inspect_plan(code, strlen(code), cursor_pos, &script);
    if (rc == 0)
        rc = bash__query(s, script.data, &out, QUERY_OUT_MAX);
    else
        rc = 0; /* no name at the cursor: nothing found */
    if (rc == 0 && out.len)
        *text = buf_detach(&out, NULL);
    buf_release(&script);
    buf_release(&out);
    return rc;
}

/* Indentation for the next line of incomplete code: the last line's, one
 * level deeper when that line opens a block. */
static void suggest_indent(const char *code, char *indent, size_t indentlen)
{
    size_t len = strlen(code);
    while (len && code[len - 1] == '\n')
        len--;
    size_t ls = len;
    while (ls && code[ls - 1] != '\n')
        ls--;
    size_t ind = 0;
    while (ls + ind < len && (code[ls + ind] == ' ' || code[ls + ind] == '\t'))
        ind++;
    size_t e = len;
    while (e > ls && (code[e - 1] == ' ' || code[e - 1] == '\t' || code[e - 1] == ';'))
        e--;
    static const char *const openers[] = {"then", "do", "else", "{", "(", "in", NULL};
    bool deeper = false;
    for (int k = 0; openers[k]; k++) {
        size_t ol = strlen(openers[k]);
        if (e - ls >= ol && !memcmp(code + e - ol, openers[k], ol) &&
            (e - ls == ol || !word_char(code[e - ol - 1]) || !strcmp(openers[k], "{") ||
             !strcmp(openers[k], "(")))
            deeper = true;
    }
    size_t n = ind + (deeper ? 4 : 0);
    if (n >= indentlen)
        n = indentlen ? indentlen - 1 : 0;
    for (size_t i = 0; i < n; i++)
        indent[i] = i < ind ? code[ls + i] : ' ';
    if (indentlen)
        indent[n] = '\0';
}

int bash_session_is_complete(struct bash_session *s, const char *code, const char **status,
                             char *indent, size_t indentlen)
{
    size_t len = strlen(code);
    if (indentlen)
        indent[0] = '\0';
    *status = "unknown";
    if (len > CHECK_MAX)
        return -E2BIG;
    struct buf path = BUF_INIT, out = BUF_INIT;
    buf_printf(&path, "%s/check", bash__dir(s));
    int fd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : 0;
    if (!rc) {
        size_t off = 0;
        while (off < len) {
            ssize_t n = write(fd, code + off, len - off);
            if (n < 0) {
                rc = -errno;
                break;
            }
            off += (size_t)n;
        }
        close(fd);
    }
    int st = 0;
    if (!rc) {
        char *argv[] = {"bash", "--norc", "--noprofile", "-n", path.data, NULL};
        rc = bash__run(argv, NULL, true, BASH__QUERY_TIMEOUT_MS, &out, 64 << 10, &st);
    }
    unlink(path.data);
    if (rc)
        goto out;
    const char *msg = out.data ? out.data : "";
    size_t bs = 0;
    while (bs < len && code[len - 1 - bs] == '\\')
        bs++;
    bool incomplete = false;
    if (strstr(msg, "near unexpected token")) {
        *status = "invalid";
    } else if (strstr(msg, "unexpected EOF") || strstr(msg, "unexpected end of file") ||
               strstr(msg, "delimited by end-of-file") || (st == 0 && bs % 2 == 1)) {
        *status = "incomplete";
        incomplete = true;
    } else {
        *status = st == 0 ? "complete" : "invalid";
    }
    if (incomplete)
        suggest_indent(code, indent, indentlen);
out:
    buf_release(&path);
    buf_release(&out);
    return rc;
}
