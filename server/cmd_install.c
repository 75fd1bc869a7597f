/* cmd_install: `iopsd install` writes a kernel spec (kernels/NAME/kernel.json
 * + logos) where `jupyter kernelspec install` would: the system data dir by
 * default, or the user's, sys.prefix's, a prefix's, or any data dir (for
 * build trees). Without --wrap it is the native bash kernel's (the shape of
 * kernel-spec/kernel.json.in); with --wrap NAME it is `iops-NAME`, which runs
 * kernel spec NAME behind iopsd (`iopsd kernel --wrap NAME`). */
#include "server/cli.h"
#include "server/kernel_logos.h"
#include "protocol/jspec.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define DEFAULT_NAME    "iops-bash"
#define DEFAULT_DISPLAY "Bash (iops)"

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc && errno != EEXIST)
            return -errno;
    }
    if (mkdir(path, 0755) && errno != EEXIST)
        return -errno;
    return 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    size_t n = fwrite(data, 1, len, f);
    int rc = (n == len && fflush(f) == 0) ? 0 : -errno;
    if (fclose(f) && !rc)
        rc = -errno;
    return rc ? rc : 0;
}

/* sys.prefix of the Python that runs `jupyter` (found on PATH through its
 * #! line), as `jupyter kernelspec install --sys-prefix` uses it. */
static int sys_prefix(struct buf *out)
{
    const char *path = getenv("PATH");
    char interp[PATH_MAX] = "";
    for (const char *p = path ? path : "/usr/bin"; *p && !interp[0];) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char cand[PATH_MAX];
        if (len && len + 9 < sizeof cand) {
            snprintf(cand, sizeof cand, "%.*s/jupyter", (int)len, p);
            FILE *f = fopen(cand, "r");
            char line[PATH_MAX];
            if (f && fgets(line, sizeof line, f) && !strncmp(line, "#!", 2)) {
                char *tok = strtok(line + 2, " \t\r\n");
                if (tok && access(tok, X_OK) == 0)
                    snprintf(interp, sizeof interp, "%s", tok);
            }
            if (f)
                fclose(f);
        }
        p += len + (end ? 1 : 0);
        if (!end)
            break;
    }
    if (!interp[0])
        return -ENOENT;
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sys; print(sys.prefix)' 2>/dev/null", interp);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -errno;
    char line[PATH_MAX] = "";
    bool ok = fgets(line, sizeof line, p) != NULL;
    if (pclose(p) != 0 || !ok)
        return -ENOENT;
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] == '/' ? buf_printf(out, "%s/share/jupyter", line) : -ENOENT;
}

/* The kernel.json of iops-NAME: NAME's display name + " (iops)" (or
 * `display`), language, interrupt_mode, env and metadata, with
 * metadata.iopsd saying what it wraps. NULL on invalid UTF-8. */
static json_t *wrap_spec(const char *self, const char *name, const struct jspec *w,
                         const char *display)
{
    struct buf dn = BUF_INIT;
    if (display)
        buf_puts(&dn, display);
    else
        buf_printf(&dn, "%s (iops)", w->display_name);
    json_t *meta = w->metadata ? json_deep_copy(w->metadata) : json_object();
    json_object_set_new(meta, "iopsd", json_pack("{s:s, s:s}", "mode", "wrap", "wrapped", name));
    json_t *spec = json_pack(
        "{s:[s, s, s, s, s, s], s:s, s:s, s:s, s:o}", "argv", self, "kernel", "--wrap", name, "-f",
        "{connection_file}", "display_name", dn.data, "language", w->language, "interrupt_mode",
        w->interrupt_mode == JSPEC_INTERRUPT_MESSAGE ? "message" : "signal", "metadata", meta);
    buf_release(&dn);
    if (spec && w->env)
        json_object_set_new(spec, "env", json_deep_copy(w->env));
    return spec;
}

static void usage(FILE *f)
{
    fputs("Usage: iopsd install [--user | --sys-prefix | --prefix P | --data-dir D]\n"
          "                     [--name NAME] [--display-name TEXT] [--wrap KERNEL]\n"
          "Writes the native bash kernel's spec, DATA/kernels/NAME/{kernel.json,logos}:\n"
          "  (default)      DATA = /usr/local/share/jupyter (the system dir)\n"
          "  --user         DATA = $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter,\n"
          "                 else ~/.local/share/jupyter\n"
          "  --sys-prefix   DATA = sys.prefix/share/jupyter of the Python running jupyter\n"
          "  --prefix P     DATA = P/share/jupyter\n"
          "  --data-dir D   DATA = D (e.g. a build tree used through JUPYTER_PATH)\n"
          "  --name NAME    kernel name (default " DEFAULT_NAME ")\n"
          "  --display-name TEXT  (default \"" DEFAULT_DISPLAY "\")\n"
          "  --wrap KERNEL  instead, a spec that runs kernel spec KERNEL (found as Jupyter\n"
          "                 finds it) behind iopsd: named iops-KERNEL, displayed as KERNEL's\n"
          "                 display name + \" (iops)\", with its language, interrupt_mode\n"
          "                 and env\n",
          f);
}

int cmd_install(int argc, char **argv)
{
    const char *name = DEFAULT_NAME, *display = DEFAULT_DISPLAY;
    const char *prefix = NULL, *data_dir = NULL, *wrap = NULL;
    bool named = false, displayed = false;
    bool user = false, sysprefix = false;
    int where = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--user")) {
            user = true, where++;
        } else if (!strcmp(a, "--sys-prefix")) {
            sysprefix = true, where++;
        } else if (!strcmp(a, "--prefix") && has_arg) {
            prefix = argv[++i], where++;
        } else if (!strcmp(a, "--data-dir") && has_arg) {
            data_dir = argv[++i], where++;
        } else if (!strcmp(a, "--name") && has_arg) {
            name = argv[++i], named = true;
        } else if (!strcmp(a, "--display-name") && has_arg) {
            display = argv[++i], displayed = true;
        } else if (!strcmp(a, "--wrap") && has_arg) {
            wrap = argv[++i];
        } else {
            cli_error("install: unexpected argument '%s'", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (where > 1) {
        cli_error("install: use only one of --user, --sys-prefix, --prefix, --data-dir");
        return EXIT_USAGE;
    }
    char wrapped_name[80];
    struct jspec wrapped;
    jspec_init(&wrapped);
    if (wrap) {
        char err[1024];
        if (jspec_find(&wrapped, wrap, err, sizeof err)) {
            cli_error("install: --wrap: %s", err);
            return EXIT_USAGE;
        }
        if (!named) {
            snprintf(wrapped_name, sizeof wrapped_name, "iops-%s", wrap);
            name = wrapped_name;
        }
    }
    if (!jspec_valid_name(name)) {
        jspec_release(&wrapped);
        cli_error("install: invalid kernel name '%s' (letters, digits, '-', '.', '_')", name);
        return EXIT_USAGE;
    }

    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self)) {
        cli_error("install: cannot find iopsd's own path: %s", strerror(errno));
        jspec_release(&wrapped);
        return EXIT_IOPSD_FAILED;
    }

    int status = EXIT_IOPSD_FAILED;
    struct buf dir;
    buf_init(&dir, PATH_MAX);
    int rc = 0;
    if (data_dir) {
        rc = buf_puts(&dir, data_dir);
    } else if (prefix) {
        rc = buf_printf(&dir, "%s/share/jupyter", prefix);
    } else if (sysprefix) {
        rc = sys_prefix(&dir);
        if (rc) {
            cli_error("install: --sys-prefix: cannot find the Python that runs jupyter");
            goto out;
        }
    } else if (user) {
        const char *jd = getenv("JUPYTER_DATA_DIR"), *xdg = getenv("XDG_DATA_HOME");
        const char *home = getenv("HOME");
        if (jd && *jd)
            rc = buf_puts(&dir, jd);
        else if (xdg && *xdg)
            rc = buf_printf(&dir, "%s/jupyter", xdg);
        else if (home && *home)
            rc = buf_printf(&dir, "%s/.local/share/jupyter", home);
        else {
            cli_error("install: --user: HOME is not set");
            goto out;
        }
    } else {
        rc = buf_puts(&dir, "/usr/local/share/jupyter");
    }
    if (!rc)
        rc = buf_printf(&dir, "/kernels/%s", name);
    if (rc) {
        cli_error("install: destination path too long");
        goto out;
    }

    json_t *spec = wrap ? wrap_spec(self, wrap, &wrapped, displayed ? display : NULL)
                        : json_pack("{s:[s, s, s, s], s:s, s:s, s:s, s:{s:b, s:{s:s}}}", "argv",
                                    self, "kernel", "-f", "{connection_file}", "display_name",
                                    display, "language", "bash", "interrupt_mode", "signal",
                                    "metadata", "debugger", 0, "iopsd", "mode", "native");
    if (!spec) {
        cli_error("install: display name and path must be valid UTF-8");
        goto out;
    }
    char *text = json_dumps(spec, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(spec);
    rc = mkdir_p(dir.data);
    if (!rc)
        rc = write_file(dir.data, "kernel.json", text, strlen(text));
    free(text);
    if (!rc)
        rc = write_file(dir.data, "logo-32x32.png", kernel_logo_32, kernel_logo_32_len);
    if (!rc)
        rc = write_file(dir.data, "logo-64x64.png", kernel_logo_64, kernel_logo_64_len);
    if (rc) {
        cli_error("install: %s: %s", dir.data, strerror(-rc));
        goto out;
    }
    printf("Installed kernelspec %s in %s\n", name, dir.data);
    status = 0;
out:
    buf_release(&dir);
    jspec_release(&wrapped);
    return status;
}
