/* magic: parsing `%%iops` / `%iops` lines into options and the code to run. */
#include "magics/magic.h"
#include "measure/backend.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: %%iops [OPTIONS]            (first line of a cell: measure the cell)\n"
    "       %iops [OPTIONS] STATEMENT   (measure one line)\n"
    "       %iops auto on|off           (measure every following cell, one line each)\n"
    "       %iops start [OPTIONS] | pause | resume | status | stop\n"
    "                                   (one measurement across cells)\n"
    "       %iops history [--json FILE | --csv FILE]\n"
    "                                   (the measured cells of this session)\n"
    "\n"
    "Options:\n"
    "  -b, --backend NAME     auto (default: the tracer where ptrace works, else proc),\n"
    "                         proc or trace\n"
    "      --histogram        draw the size and latency histograms (default)\n"
    "      --no-histogram     no histogram picture\n"
    "  -n, --top N            rows in the per-file table (default 10; 0: all)\n"
    "      --hist-kinds LIST  descriptor kinds the totals, histograms and file table\n"
    "                         cover (tracer): comma-separated among file, blockdev,\n"
    "                         chardev, pipe, socket, anon, or all (default file,blockdev)\n"
    "      --json FILE        also save the report (iopsd-report/1 JSON) to FILE\n"
    "      --alert RULE=VALUE a finding's threshold; RULE=off: no such finding\n"
    "                         (rules and defaults: `iopsd measure --help`)\n"
    "      --timeline[=SECONDS]\n"
    "                         descriptors, processes and I/O rates every SECONDS\n"
    "                         (0.1), 'EVENT: <epoch> <message>' lines of the output\n"
    "                         as markers, plateaus, jumps and a leak verdict\n"
    "      --fdprof           (with --timeline) plateaus and jumps as fdprof finds them\n"
    "      --leak-threshold N (with --timeline) descriptors gained over the cell that\n"
    "                         flag a leak (10)\n"
    "  -q, --quiet            no display (with --json: only the file)\n"
    "  -h, --help             show this help\n";

const char *magic_usage(void)
{
    return usage_text;
}

void magic_init(struct magic *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->backend, sizeof(m->backend), "auto");
    m->histograms = true;
    m->top_files = -1;
    findings_opts_init(&m->alerts);
    tl_params_init(&m->tl_params);
}

void magic_release(struct magic *m)
{
    free(m->history_path);
    free(m->json_path);
    free(m->before);
    free(m->measured);
    free(m->after);
    magic_init(m);
}

bool magic_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

void magic_parts(const struct magic *m, const char *cell, struct magic_parts *p)
{
    memset(p, 0, sizeof *p);
    if (!magic_blank(m->before))
        p->code[p->n++] = m->before;
    p->measured = p->n;
    p->code[p->n++] = m->measured;
    if (!magic_blank(m->after))
        p->code[p->n++] = m->after;
    /* before is the cell up to the magic line: what follows it is the line */
    size_t at = strlen(m->before);
    p->indented =
        m->kind != MAGIC_CELL && at < strlen(cell) && (cell[at] == ' ' || cell[at] == '\t');
}

/* Splits a magic line's argument text into words: blanks separate, '...' and
 * "..." quote, a backslash escapes the next character. Words are written into
 * `store` (same size as the text + 1). Returns the count or -EINVAL. */
static int split_words(const char *s, size_t n, char *store, char **words, int max, char *err,
                       size_t errlen)
{
    int count = 0;
    size_t i = 0, o = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        if (count == max) {
            snprintf(err, errlen, "%%iops: too many arguments (at most %d)", max);
            return -EINVAL;
        }
        words[count++] = store + o;
        char quote = 0;
        while (i < n) {
            char c = s[i];
            if (quote) {
                if (c == quote) {
                    quote = 0;
                    i++;
                    continue;
                }
                if (c == '\\' && quote == '"' && i + 1 < n) {
                    store[o++] = s[i + 1];
                    i += 2;
                    continue;
                }
                store[o++] = c;
                i++;
                continue;
            }
            if (c == ' ' || c == '\t')
                break;
            if (c == '\'' || c == '"') {
                quote = c;
                i++;
                continue;
            }
            if (c == '\\' && i + 1 < n) {
                store[o++] = s[i + 1];
                i += 2;
                continue;
            }
            store[o++] = c;
            i++;
        }
        if (quote) {
            snprintf(err, errlen, "%%iops: unterminated %c quote", quote);
            return -EINVAL;
        }
        store[o++] = '\0';
    }
    return count;
}

static int parse_top(const char *v, long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 0 || n > 1000000) {
        snprintf(err, errlen, "%%iops: --top: '%.40s' is not a count", v);
        return -EINVAL;
    }
    *out = n;
    return 0;
}

/* Parses options from words[0..n). Sets *first_operand to the index of the
 * first word that is not an option (n if none). */
static int parse_options(struct magic *m, char **words, int n, int *first_operand, char *err,
                         size_t errlen)
{
    int i = 0;
    for (; i < n; i++) {
        const char *w = words[i];
        if (!strcmp(w, "--")) {
            i++;
            break;
        }
        if (w[0] != '-' || !w[1])
            break;
        const char *val = NULL;
        const char *eq = strchr(w, '=');
        char name[32];
        size_t nlen = eq && w[1] == '-' ? (size_t)(eq - w) : strlen(w);
        if (nlen >= sizeof(name)) {
            snprintf(err, errlen, "%%iops: unknown option '%.40s'", w);
            return -EINVAL;
        }
        memcpy(name, w, nlen);
        name[nlen] = '\0';
        if (eq && w[1] == '-')
            val = eq + 1;
        bool takes = !strcmp(name, "-b") || !strcmp(name, "--backend") || !strcmp(name, "-n") ||
                     !strcmp(name, "--top") || !strcmp(name, "--hist-kinds") ||
                     !strcmp(name, "--json") || !strcmp(name, "--alert") ||
                     !strcmp(name, "--leak-threshold");
        if (takes && !val) {
            if (i + 1 >= n) {
                snprintf(err, errlen, "%%iops: option '%s' needs an argument", name);
                return -EINVAL;
            }
            val = words[++i];
        } else if (!takes && val && strcmp(name, "--timeline")) {
            snprintf(err, errlen, "%%iops: option '%s' takes no argument", name);
            return -EINVAL;
        }
        if (!strcmp(name, "-b") || !strcmp(name, "--backend")) {
            if (strcmp(val, "auto") && strcmp(val, "proc") && strcmp(val, "trace")) {
                snprintf(err, errlen, "%%iops: unknown backend '%.40s' (auto, proc or trace)", val);
                return -EINVAL;
            }
            snprintf(m->backend, sizeof(m->backend), "%s", val);
        } else if (!strcmp(name, "-n") || !strcmp(name, "--top")) {
            if (parse_top(val, &m->top_files, err, errlen))
                return -EINVAL;
        } else if (!strcmp(name, "--no-histogram") || !strcmp(name, "--no-hist")) {
            m->histograms = false;
        } else if (!strcmp(name, "--histogram") || !strcmp(name, "--hist")) {
            m->histograms = true;
        } else if (!strcmp(name, "--hist-kinds")) {
            if (meas_parse_kinds(val, &m->hist_kinds)) {
                snprintf(err, errlen,
                         "%%iops: --hist-kinds: '%.60s' is not a list of descriptor kinds (file, "
                         "blockdev, chardev, pipe, socket, anon, all)",
                         val);
                return -EINVAL;
            }
        } else if (!strcmp(name, "--json")) {
            if (!val[0] || strlen(val) > MAGIC_MAX_PATH) {
                snprintf(err, errlen, "%%iops: --json needs a file name");
                return -EINVAL;
            }
            free(m->json_path);
            m->json_path = xstrdup(val);
        } else if (!strcmp(name, "--alert")) {
            char why[160];
            if (findings_parse_alert(&m->alerts, val, why, sizeof why)) {
                snprintf(err, errlen, "%%iops: %s", why);
                return -EINVAL;
            }
        } else if (!strcmp(name, "--timeline")) {
            char *end = NULL;
            m->timeline = val ? strtod(val, &end) : 0.1;
            if (val && (end == val || *end || !(m->timeline > 0) || m->timeline > 3600)) {
                snprintf(err, errlen,
                         "%%iops: --timeline: '%.40s' is not a number of seconds in (0, 3600]",
                         val);
                return -EINVAL;
            }
        } else if (!strcmp(name, "--fdprof")) {
            m->tl_params.compat = true;
        } else if (!strcmp(name, "--leak-threshold")) {
            char *end = NULL;
            double v = strtod(val, &end);
            if (end == val || *end || !(v >= 0) || v > 1e9) {
                snprintf(err, errlen, "%%iops: --leak-threshold: '%.40s' is not a number >= 0",
                         val);
                return -EINVAL;
            }
            m->tl_params.leak_threshold = v;
        } else if (!strcmp(name, "-q") || !strcmp(name, "--quiet")) {
            m->quiet = true;
        } else if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
            m->help = true;
        } else {
            snprintf(err, errlen, "%%iops: unknown option '%.40s'", w);
            return -EINVAL;
        }
    }
    *first_operand = i;
    return 0;
}

static const char *const control_words[] = {"auto",   "start", "pause",   "resume",
                                            "status", "stop",  "history", NULL};

static bool is_control(const char *w)
{
    for (const char *const *c = control_words; *c; c++)
        if (!strcmp(w, *c))
            return true;
    return false;
}

/* `%iops WORD ...`: the control magics. */
static int parse_control(struct magic *m, char **words, int n, char *err, size_t errlen)
{
    const char *w = words[0];
    m->kind = MAGIC_CONTROL;
    if (!strcmp(w, "auto")) {
        if (n != 2 || (strcmp(words[1], "on") && strcmp(words[1], "off"))) {
            snprintf(err, errlen, "%%iops auto: say 'on' or 'off'");
            return -EINVAL;
        }
        m->control = !strcmp(words[1], "on") ? MC_AUTO_ON : MC_AUTO_OFF;
        return 0;
    }
    if (!strcmp(w, "start")) {
        int first = 0;
        if (parse_options(m, words + 1, n - 1, &first, err, errlen))
            return -EINVAL;
        if (first < n - 1) {
            snprintf(err, errlen, "%%iops start: unexpected argument '%.40s'", words[1 + first]);
            return -EINVAL;
        }
        m->control = MC_START;
        return 0;
    }
    if (!strcmp(w, "history")) {
        m->control = MC_HISTORY;
        if (n == 1)
            return 0;
        if (n == 3 && (!strcmp(words[1], "--json") || !strcmp(words[1], "--csv")) && words[2][0] &&
            strlen(words[2]) <= MAGIC_MAX_PATH) {
            m->history_csv = !strcmp(words[1], "--csv");
            m->history_path = xstrdup(words[2]);
            return 0;
        }
        snprintf(err, errlen, "%%iops history: [--json FILE | --csv FILE]");
        return -EINVAL;
    }
    if (n != 1) {
        snprintf(err, errlen, "%%iops %s: takes no argument", w);
        return -EINVAL;
    }
    m->control = !strcmp(w, "pause")    ? MC_PAUSE
                 : !strcmp(w, "resume") ? MC_RESUME
                 : !strcmp(w, "status") ? MC_STATUS
                                        : MC_STOP;
    return 0;
}

/* Does the line [s, s+n) start (after blanks) with `word` followed by a blank
 * or the end? Returns the offset just past the word, or 0. */
static size_t starts_with_word(const char *s, size_t n, const char *word)
{
    size_t i = 0, wl = strlen(word);
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (n - i < wl || memcmp(s + i, word, wl))
        return 0;
    i += wl;
    if (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
        return 0;
    return i;
}

int magic_parse(const char *cell, struct magic *m, char *err, size_t errlen)
{
    size_t len = strlen(cell);
    const char *line = cell;
    int rc = 0;
    magic_release(m);
    /* Find the magic line: the first line if %%iops, else the first %iops. */
    while (line <= cell + len) {
        const char *nl = memchr(line, '\n', (size_t)(cell + len - line));
        size_t llen = nl ? (size_t)(nl - line) : (size_t)(cell + len - line);
        size_t off;
        if (line == cell && (off = starts_with_word(line, llen, "%%iops")))
            m->kind = MAGIC_CELL;
        else if ((off = starts_with_word(line, llen, "%iops")))
            m->kind = MAGIC_LINE;
        if (m->kind != MAGIC_NONE) {
            if (llen > MAGIC_MAX_LINE) {
                snprintf(err, errlen, "%%iops: the magic line is longer than %d bytes",
                         MAGIC_MAX_LINE);
                return -EINVAL;
            }
            const char *args = line + off;
            size_t alen = llen - off;
            while (alen && args[alen - 1] == '\r')
                alen--;
            char *store = xmalloc(alen + 1);
            char *words[MAGIC_MAX_ARGS];
            int n = split_words(args, alen, store, words, MAGIC_MAX_ARGS, err, errlen);
            int first = 0;
            if (n > 0 && m->kind == MAGIC_LINE && is_control(words[0])) {
                rc = parse_control(m, words, n, err, errlen);
                free(store);
                if (rc)
                    goto fail;
                m->before = xstrndup(cell, (size_t)(line - cell));
                m->measured = xstrdup("");
                m->after = xstrdup(nl ? nl + 1 : cell + len);
                return 0;
            }
            if (n < 0 || parse_options(m, words, n < 0 ? 0 : n, &first, err, errlen)) {
                free(store);
                rc = -EINVAL;
                goto fail;
            }
            const char *rest = nl ? nl + 1 : cell + len;
            m->before = xstrndup(cell, (size_t)(line - cell));
            if (m->kind == MAGIC_CELL) {
                if (first < n) {
                    snprintf(err, errlen,
                             "%%%%iops: unexpected argument '%.40s' (the code goes "
                             "on the lines below)",
                             words[first]);
                    free(store);
                    rc = -EINVAL;
                    goto fail;
                }
                m->measured = xstrdup(rest);
                m->after = xstrdup("");
            } else {
                if (first >= n && !m->help) {
                    snprintf(err, errlen, "%%iops: no statement to measure");
                    free(store);
                    rc = -EINVAL;
                    goto fail;
                }
                /* The statement is the raw text after the options, so that its
                 * own quoting reaches the shell untouched. */
                const char *stmt = args;
                size_t slen = alen;
                if (first < n) {
                    /* Skip `first` words of raw text (options, and `--`). */
                    size_t i = 0;
                    for (int w = 0; w < first; w++) {
                        while (i < alen && (args[i] == ' ' || args[i] == '\t'))
                            i++;
                        char q = 0;
                        while (i < alen && (q || (args[i] != ' ' && args[i] != '\t'))) {
                            if (q && args[i] == q)
                                q = 0;
                            else if (!q && (args[i] == '\'' || args[i] == '"'))
                                q = args[i];
                            else if (args[i] == '\\' && i + 1 < alen && q != '\'')
                                i++;
                            i++;
                        }
                    }
                    while (i < alen && (args[i] == ' ' || args[i] == '\t'))
                        i++;
                    stmt = args + i;
                    slen = alen - i;
                } else
                    slen = 0;
                m->measured = xstrndup(stmt, slen);
                m->after = xstrdup(rest);
            }
            free(store);
            return 0;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    m->kind = MAGIC_NONE;
    m->before = xstrdup("");
    m->measured = xstrdup(cell);
    m->after = xstrdup("");
    return 0;
fail:
    magic_release(m);
    return rc;
}
