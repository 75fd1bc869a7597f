/* jspec: Jupyter kernel specs: finding kernels/NAME/kernel.json the way
 * jupyter_client does, and parsing it.
 *
 * Lookup order (jupyter_core's jupyter_path("kernels"), first match wins):
 *   1. each entry of $JUPYTER_PATH (':'-separated data dirs),
 *   2. the user data dir: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter,
 *      else ~/.local/share/jupyter,
 *   3. the environment's data dir, PREFIX/share/jupyter, where PREFIX is
 *      sys.prefix of the Python that runs `jupyter`: taken without running
 *      Python as the parent of the directory holding the `jupyter` found on
 *      PATH (a venv's or conda env's bin/); 2 and 3 swap when
 *      $JUPYTER_PREFER_ENV_PATH is set and not 0/false/no/off,
 *   4. the system dirs /usr/local/share/jupyter, /usr/share/jupyter,
 *   5. the legacy ~/.ipython/kernels.
 * In each kernels/ dir a subdirectory whose name equals NAME ignoring ASCII
 * case and that holds a kernel.json matches. */
#ifndef IOPSD_JSPEC_H
#define IOPSD_JSPEC_H

#include <stddef.h>

#include <jansson.h>

/* A kernel.json larger than this is refused. */
#define JSPEC_FILE_MAX (1u << 20)
#define JSPEC_ARGV_MAX 256

enum jspec_interrupt { JSPEC_INTERRUPT_SIGNAL, JSPEC_INTERRUPT_MESSAGE };

struct jspec {
    char *name;                          /* the directory's name (owned) */
    char *resource_dir;                  /* the directory holding kernel.json (owned) */
    char **argv;                         /* argc strings + NULL (owned) */
    size_t argc;                         /* >= 1 */
    char *display_name;                  /* owned; the name when absent */
    char *language;                      /* owned; "" when absent */
    enum jspec_interrupt interrupt_mode; /* signal when absent */
    json_t *env;                         /* object of strings (owned), or NULL */
    json_t *metadata;                    /* object (owned), or NULL */
};

void jspec_init(struct jspec *s);
void jspec_release(struct jspec *s);

/* Parses the text of a kernel.json into s (jspec_init'ed; name and
 * resource_dir are left alone). Returns 0 or -EINVAL with a message naming
 * the field. */
int jspec_parse(struct jspec *s, const char *text, size_t len, char *err, size_t errlen);

/* The kernels/ directories searched, in order, as a NULL-terminated array of
 * owned strings; free with jspec_dirs_free. */
char **jspec_dirs(void);
void jspec_dirs_free(char **dirs);

/* Finds and parses kernel spec `name`. Returns 0, -ENOENT ("no kernel spec
 * named ...", listing where it looked) or -EINVAL (a bad kernel.json; the
 * message names the file). */
int jspec_find(struct jspec *s, const char *name, char *err, size_t errlen);

/* Kernel names as Jupyter accepts them: ASCII letters, digits, - . _ ;
 * at most 64 characters. */
int jspec_valid_name(const char *name);

/* string.Template.safe_substitute over the environment, as jupyter_client
 * expands a spec's env values: $$ is $, $NAME and ${NAME} are the variable's
 * value when it is set, anything else stays as written. Owned result. */
char *jspec_subst_env(const char *value);
/* One argv item with {connection_file} and {resource_dir} replaced (other
 * {names} stay). Owned result. */
char *jspec_format_arg(const char *arg, const char *connection_file, const char *resource_dir);

#endif
