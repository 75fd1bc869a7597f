/* jspec: kernel spec lookup (first match wins) and kernel.json parsing. */
#include "protocol/jspec.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void jspec_init(struct jspec *s)
{
    memset(s, 0, sizeof *s);
}

void jspec_release(struct jspec *s)
{
    for (size_t i = 0; i < s->argc; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s->name);
    free(s->resource_dir);
    free(s->display_name);
    free(s->language);
    json_decref(s->env);
    json_decref(s->metadata);
    jspec_init(s);
}

int jspec_valid_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_'))
            return 0;
    return 1;
}

static bool has_nul(json_t *str)
{
    return memchr(json_string_value(str), '\0', json_string_length(str)) != NULL;
}

int jspec_parse(struct jspec *s, const char *text, size_t len, char *err, size_t errlen)
{
    if (len > JSPEC_FILE_MAX) {
        snprintf(err, errlen, "larger than %u bytes", JSPEC_FILE_MAX);
        return -EINVAL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
        return -EINVAL;
    }
    int rc = -EINVAL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    json_t *argv = json_object_get(root, "argv");
    if (!json_is_array(argv) || json_array_size(argv) == 0 ||
        json_array_size(argv) > JSPEC_ARGV_MAX) {
        snprintf(err, errlen, "field 'argv': must be a list of 1..%d strings", JSPEC_ARGV_MAX);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(argv); i++) {
        json_t *a = json_array_get(argv, i);
        if (!json_is_string(a) || has_nul(a) || (i == 0 && json_string_length(a) == 0)) {
            snprintf(err, errlen, "field 'argv': item %zu must be a string without NUL", i);
            goto out;
        }
    }
    struct {
        const char *field;
        char **dst;
    } strs[] = {{"display_name", &s->display_name}, {"language", &s->language}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        json_t *v = json_object_get(root, strs[i].field);
        if (v && (!json_is_string(v) || has_nul(v))) {
            snprintf(err, errlen, "field '%s': must be a string", strs[i].field);
            goto out;
        }
    }
    json_t *mode = json_object_get(root, "interrupt_mode");
    enum jspec_interrupt im = JSPEC_INTERRUPT_SIGNAL;
    if (mode) {
        const char *m = json_string_value(mode);
        if (m && !strcmp(m, "message"))
            im = JSPEC_INTERRUPT_MESSAGE;
        else if (!m || strcmp(m, "signal")) {
            snprintf(err, errlen, "field 'interrupt_mode': must be \"signal\" or \"message\"");
            goto out;
        }
    }
    json_t *env = json_object_get(root, "env");
    if (env && !json_is_null(env)) {
        if (!json_is_object(env)) {
            snprintf(err, errlen, "field 'env': must be an object of strings");
            goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v)
        {
            if (!json_is_string(v) || has_nul(v) || !*k || strchr(k, '=')) {
                snprintf(err, errlen, "field 'env': '%.64s' must be a string (name without '=')",
                         k);
                goto out;
            }
        }
    } else {
        env = NULL;
    }
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_null(meta) && !json_is_object(meta)) {
        snprintf(err, errlen, "field 'metadata': must be an object");
        goto out;
    }

    s->argc = json_array_size(argv);
    s->argv = xcalloc(s->argc + 1, sizeof *s->argv);
    for (size_t i = 0; i < s->argc; i++)
        s->argv[i] = xstrdup(json_string_value(json_array_get(argv, i)));
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        json_t *v = json_object_get(root, strs[i].field);
        *strs[i].dst = v ? xstrdup(json_string_value(v)) : NULL;
    }
    if (!s->language)
        s->language = xstrdup("");
    s->interrupt_mode = im;
    s->env = env ? json_incref(env) : NULL;
    s->metadata = json_is_object(meta) ? json_incref(meta) : NULL;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static bool truthy(const char *v)
{
    return v && *v && strcasecmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no") &&
           strcasecmp(v, "off");
}

/* PREFIX/share/jupyter for the `jupyter` on PATH (PREFIX/bin/jupyter). */
static char *env_data_dir(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && len < PATH_MAX - 16) {
            char cand[PATH_MAX];
            snprintf(cand, sizeof cand, "%.*s/jupyter", (int)len, p);
            if (access(cand, X_OK) == 0) {
                char *slash = strrchr(cand, '/');
                *slash = '\0'; /* .../bin */
                slash = strrchr(cand, '/');
                if (!slash || slash == cand)
                    return NULL;
                *slash = '\0'; /* PREFIX */
                struct buf b = BUF_INIT;
                buf_printf(&b, "%s/share/jupyter", cand);
                return buf_detach(&b, NULL);
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

static void push(char ***v, size_t *n, size_t *cap, char *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], s)) { /* a dir listed twice is searched once */
            free(s);
            return;
        }
    *v = xgrow(*v, cap, *n + 2, sizeof **v);
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static char *kernels_of(const char *data_dir)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/kernels", data_dir);
    return buf_detach(&b, NULL);
}

char **jspec_dirs(void)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    v = xgrow(v, &cap, 1, sizeof *v);
    v[0] = NULL;

    const char *jp = getenv("JUPYTER_PATH");
    for (const char *p = jp ? jp : ""; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            char *d = xstrndup(p, len);
            push(&v, &n, &cap, kernels_of(d));
            free(d);
        }
        if (!end)
            break;
        p = end + 1;
    }

    char *user = NULL;
    const char *jd = getenv("JUPYTER_DATA_DIR"), *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    struct buf b = BUF_INIT;
    if (jd && *jd)
        buf_printf(&b, "%s/kernels", jd);
    else if (xdg && *xdg)
        buf_printf(&b, "%s/jupyter/kernels", xdg);
    else if (home && *home)
        buf_printf(&b, "%s/.local/share/jupyter/kernels", home);
    if (b.len)
        user = buf_detach(&b, NULL);
    buf_release(&b);

    char *envd = env_data_dir(), *envk = envd ? kernels_of(envd) : NULL;
    free(envd);
    if (truthy(getenv("JUPYTER_PREFER_ENV_PATH"))) {
        push(&v, &n, &cap, envk);
        push(&v, &n, &cap, user);
    } else {
        push(&v, &n, &cap, user);
        push(&v, &n, &cap, envk);
    }
    push(&v, &n, &cap, xstrdup("/usr/local/share/jupyter/kernels"));
    push(&v, &n, &cap, xstrdup("/usr/share/jupyter/kernels"));
    if (home && *home) {
        buf_printf(&b, "%s/.ipython/kernels", home);
        push(&v, &n, &cap, buf_detach(&b, NULL));
    }
    buf_release(&b);
    return v;
}

void jspec_dirs_free(char **dirs)
{
    for (char **d = dirs; d && *d; d++)
        free(*d);
    free(dirs);
}

/* The subdirectory of kdir named `name` (ASCII case ignored) that holds a
 * kernel.json, as an owned path; NULL if none. */
static char *match_in(const char *kdir, const char *name, char **dname)
{
    DIR *d = opendir(kdir);
    if (!d)
        return NULL;
    char *found = NULL;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (strcasecmp(e->d_name, name))
            continue;
        struct buf b = BUF_INIT;
        buf_printf(&b, "%s/%s/kernel.json", kdir, e->d_name);
        struct stat st;
        if (b.data && stat(b.data, &st) == 0 && S_ISREG(st.st_mode)) {
            b.len -= strlen("/kernel.json");
            b.data[b.len] = '\0';
            found = buf_detach(&b, NULL);
            *dname = xstrdup(e->d_name);
        }
        buf_release(&b);
    }
    closedir(d);
    return found;
}

int jspec_find(struct jspec *s, const char *name, char *err, size_t errlen)
{
    jspec_init(s);
    if (!jspec_valid_name(name)) {
        snprintf(err, errlen, "invalid kernel name '%.80s' (letters, digits, '-', '.', '_')", name);
        return -EINVAL;
    }
    char **dirs = jspec_dirs();
    char *dir = NULL, *dname = NULL;
    for (char **d = dirs; *d && !dir; d++)
        dir = match_in(*d, name, &dname);
    if (!dir) {
        struct buf b = BUF_INIT;
        for (char **d = dirs; *d; d++)
            buf_printf(&b, "%s%s", d == dirs ? "" : ", ", *d);
        snprintf(err, errlen, "no kernel spec named '%s' (looked in %s)", name,
                 b.data ? b.data : "nothing");
        buf_release(&b);
        jspec_dirs_free(dirs);
        return -ENOENT;
    }
    jspec_dirs_free(dirs);

    struct buf path = BUF_INIT, text;
    buf_init(&text, 0);
    buf_printf(&path, "%s/kernel.json", dir);
    int rc = buf_slurp(&text, path.data, JSPEC_FILE_MAX);
    char msg[256];
    if (rc == -EFBIG)
        snprintf(msg, sizeof msg, "larger than %u bytes", JSPEC_FILE_MAX);
    else if (rc)
        snprintf(msg, sizeof msg, "%s", strerror(-rc));
    else
        rc = jspec_parse(s, text.data ? text.data : "", text.len, msg, sizeof msg);
    if (rc) {
        snprintf(err, errlen, "%s: %s", path.data, msg);
        rc = -EINVAL;
        free(dir);
        free(dname);
    } else {
        s->resource_dir = dir;
        s->name = dname;
        if (!s->display_name)
            s->display_name = xstrdup(dname);
    }
    buf_release(&path);
    buf_release(&text);
    return rc;
}

static bool id_start(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool id_char(char c)
{
    return id_start(c) || (c >= '0' && c <= '9');
}

char *jspec_subst_env(const char *v)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "");
    while (*v) {
        if (*v != '$') {
            const char *next = strchr(v, '$');
            size_t n = next ? (size_t)(next - v) : strlen(v);
            buf_append(&b, v, n);
            v += n;
            continue;
        }
        if (v[1] == '$') {
            buf_append(&b, "$", 1);
            v += 2;
            continue;
        }
        bool braced = v[1] == '{';
        const char *id = v + 1 + braced, *e = id;
        if (id_start(*e))
            while (id_char(*e))
                e++;
        if (e == id || (braced && *e != '}')) {
            buf_append(&b, "$", 1); /* not a placeholder: kept */
            v++;
            continue;
        }
        char *name = xstrndup(id, (size_t)(e - id));
        const char *val = getenv(name);
        free(name);
        const char *end = e + braced;
        if (val)
            buf_puts(&b, val);
        else
            buf_append(&b, v, (size_t)(end - v));
        v = end;
    }
    return buf_detach(&b, NULL);
}

char *jspec_format_arg(const char *arg, const char *connection_file, const char *resource_dir)
{
    static const char *const keys[] = {"{connection_file}", "{resource_dir}"};
    const char *vals[] = {connection_file, resource_dir};
    struct buf b = BUF_INIT;
    buf_puts(&b, "");
    while (*arg) {
        size_t k = 0;
        for (; k < 2; k++)
            if (!strncmp(arg, keys[k], strlen(keys[k])))
                break;
        if (k < 2) {
            buf_puts(&b, vals[k] ? vals[k] : "");
            arg += strlen(keys[k]);
        } else {
            buf_append(&b, arg++, 1);
        }
    }
    return buf_detach(&b, NULL);
}
