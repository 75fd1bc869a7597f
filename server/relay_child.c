/* relay_child: the wrapped kernel's private connection file, its start in a
 * session of its own, and its end (no process of its group left behind). */
#include "server/relay.h"
#include "server/kernel_guard.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/xalloc.h"
#include "protocol/jmsg.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

/* Where the private directory goes: Jupyter's runtime dir when it exists. */
static void runtime_base(char *out, size_t outlen)
{
    const char *jr = getenv("JUPYTER_RUNTIME_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (jr && *jr && stat(jr, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, outlen, "%s", jr);
    else if (xdg && *xdg && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, outlen, "%s", xdg);
    else {
        const char *tmp = getenv("TMPDIR");
        snprintf(out, outlen, "%s", tmp && *tmp ? tmp : "/tmp");
    }
}

/* A free TCP port on 127.0.0.1 (bound to port 0 and released, as
 * jupyter_client does; the kernel binds it right after). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -EADDRNOTAVAIL;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

int relay_child_prepare(struct relay_child *c, struct jspec *spec, bool tcp, char *err,
                        size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->spec = *spec; /* moved */
    jspec_init(spec);
    c->pid = -1;

    char base[400];
    runtime_base(base, sizeof base);
    /* ipc paths must fit sun_path (108 bytes): dir + "/k-5" */
    if (snprintf(c->dir, sizeof c->dir, "%s/iopsd-wrap-XXXXXX", base) >= 90) {
        snprintf(c->dir, sizeof c->dir, "/tmp/iopsd-wrap-XXXXXX");
    }
    if (!mkdtemp(c->dir)) { /* mode 0700 */
        int e = errno;
        snprintf(err, errlen, "cannot create a private directory %s: %s", c->dir, strerror(e));
        c->dir[0] = '\0';
        return -e;
    }
    kguard_own_dir(c->dir, true);
    snprintf(c->connfile, sizeof c->connfile, "%s/connection.json", c->dir);

    snprintf(c->conn.transport, sizeof c->conn.transport, "%s", tcp ? "tcp" : "ipc");
    if (tcp)
        snprintf(c->conn.ip, sizeof c->conn.ip, "127.0.0.1");
    else
        snprintf(c->conn.ip, sizeof c->conn.ip, "%.190s/k", c->dir);
    for (int i = 0; i < JCONN_NCHAN; i++) {
        c->conn.ports[i] = tcp ? free_port() : i + 1;
        if (c->conn.ports[i] < 0) {
            snprintf(err, errlen, "no free TCP port on 127.0.0.1: %s", strerror(-c->conn.ports[i]));
            return c->conn.ports[i];
        }
    }
    /* A fresh key from the CSPRNG: two uuids' worth of hex. */
    char a[37], b[37];
    jmsg_uuid(a);
    jmsg_uuid(b);
    c->conn.key = xmalloc(73);
    snprintf(c->conn.key, 73, "%s%s", a, b);
    c->conn.keylen = strlen(c->conn.key);
    snprintf(c->conn.scheme, sizeof c->conn.scheme, "hmac-sha256");
    snprintf(c->conn.kernel_name, sizeof c->conn.kernel_name, "%s", c->spec.name);

    json_t *j = json_pack(
        "{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:s}", "transport", c->conn.transport, "ip",
        c->conn.ip, "shell_port", c->conn.ports[JCONN_SHELL], "iopub_port",
        c->conn.ports[JCONN_IOPUB], "stdin_port", c->conn.ports[JCONN_STDIN], "control_port",
        c->conn.ports[JCONN_CONTROL], "hb_port", c->conn.ports[JCONN_HB], "key", c->conn.key,
        "signature_scheme", c->conn.scheme, "kernel_name", c->conn.kernel_name);
    char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
    json_decref(j);
    if (!text) {
        snprintf(err, errlen, "cannot write the private connection file");
        return -EINVAL;
    }
    int rc = 0;
    int fd = open(c->connfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        rc = -errno;
    if (fd >= 0 && close(fd) && !rc)
        rc = -errno;
    free(text);
    if (rc)
        snprintf(err, errlen, "%s: %s", c->connfile, strerror(-rc));
    return rc;
}

extern char **environ;

/* iopsd's environment with the spec's env (${VAR} substituted) and
 * JPY_PARENT_PID set: a NULL-terminated array of owned strings. */
static char **child_env(const struct relay_child *c)
{
    size_t n = 0, cap = 0;
    char **env = NULL;
    json_t *spec_env = c->spec.env;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
        char key[256];
        if (klen >= sizeof key)
            continue;
        memcpy(key, *e, klen);
        key[klen] = '\0';
        if ((spec_env && json_object_get(spec_env, key)) || !strcmp(key, "JPY_PARENT_PID"))
            continue;
        env = xgrow(env, &cap, n + 1, sizeof *env);
        env[n++] = xstrdup(*e);
    }
    const char *k;
    json_t *v;
    json_object_foreach(spec_env, k, v)
    {
        char *val = jspec_subst_env(json_string_value(v));
        struct buf b = BUF_INIT;
        buf_printf(&b, "%s=%s", k, val);
        free(val);
        env = xgrow(env, &cap, n + 1, sizeof *env);
        env[n++] = buf_detach(&b, NULL);
    }
    struct buf b = BUF_INIT;
    buf_printf(&b, "JPY_PARENT_PID=%d", (int)getpid());
    env = xgrow(env, &cap, n + 2, sizeof *env);
    env[n++] = buf_detach(&b, NULL);
    env[n] = NULL;
    return env;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(char **argv, char **env, pid_t parent, int deathsig)
{
    setsid();
    prctl(PR_SET_PDEATHSIG, deathsig);
    if (getppid() != parent) /* iopsd died before prctl */
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull > 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    execvpe(argv[0], argv, env);
    static const char msg[] = "iopsd kernel: cannot run the wrapped kernel's argv[0]\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
}

int relay_child_start(struct relay_child *c, char *err, size_t errlen)
{
    char **argv = xcalloc(c->spec.argc + 1, sizeof *argv);
    for (size_t i = 0; i < c->spec.argc; i++)
        argv[i] = jspec_format_arg(c->spec.argv[i], c->connfile, c->spec.resource_dir);
    char **env = child_env(c);
    pid_t parent = getpid();
    int deathsig = c->deathsig > 0 ? c->deathsig : SIGTERM;
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, env, parent, deathsig);
    int rc = 0;
    if (pid < 0) {
        rc = -errno;
        snprintf(err, errlen, "fork: %s", strerror(errno));
    } else {
        c->pid = pid; /* the child's setsid makes it its group's leader */
    }
    for (size_t i = 0; i < c->spec.argc; i++)
        free(argv[i]);
    free(argv);
    for (char **e = env; *e; e++)
        free(*e);
    free(env);
    return rc;
}

bool relay_child_reap(struct relay_child *c)
{
    if (c->pid <= 0 || c->exited)
        return c->exited;
    /* Only an exit counts: while a cell is measured, the tracer thread sees
     * the kernel's ptrace stops, and they must neither look like an exit nor
     * be taken from it (__WNOTHREAD: this thread's children only). */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT | __WNOTHREAD) < 0) {
        if (errno == ECHILD) { /* reaped elsewhere */
            c->exited = true;
            c->wstatus = 0;
        }
        return c->exited;
    }
    if (si.si_pid != c->pid ||
        (si.si_code != CLD_EXITED && si.si_code != CLD_KILLED && si.si_code != CLD_DUMPED))
        return false;
    int st = 0;
    if (waitpid(c->pid, &st, WNOHANG | __WNOTHREAD) == c->pid) {
        c->exited = true;
        c->wstatus = st;
    }
    return c->exited;
}

void relay_child_signal(struct relay_child *c, int sig)
{
    if (c->pid > 0)
        kill(-c->pid, sig); /* the group outlives its leader while members remain */
}

/* Waits up to ms for the kernel to exit; true when it has. */
static bool wait_exit(struct relay_child *c, int ms)
{
    uint64_t until = clock_mono_ns() + (uint64_t)ms * 1000000u;
    while (!relay_child_reap(c)) {
        if (clock_mono_ns() >= until)
            return false;
        usleep(5000);
    }
    return true;
}

void relay_child_stop(struct relay_child *c, int grace_ms)
{
    if (c->pid <= 0)
        return;
    if (!wait_exit(c, grace_ms)) {
        relay_child_signal(c, SIGTERM);
        if (!wait_exit(c, 1000)) {
            relay_child_signal(c, SIGKILL);
            wait_exit(c, 5000);
        }
    }
    /* What the kernel started and left in its group goes with it. */
    relay_child_signal(c, SIGKILL);
}

void relay_child_release(struct relay_child *c)
{
    if (c->dir[0]) {
        DIR *d = opendir(c->dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                char p[1024];
                snprintf(p, sizeof p, "%s/%s", c->dir, e->d_name);
                unlink(p);
            }
        if (d)
            closedir(d);
        kguard_own_dir(c->dir, false);
        rmdir(c->dir);
        c->dir[0] = '\0';
    }
    jconn_release(&c->conn);
    jspec_release(&c->spec);
}

void relay_child_describe(const struct relay_child *c, char *out, size_t outlen)
{
    if (!c->exited)
        snprintf(out, outlen, "is running");
    else if (WIFSIGNALED(c->wstatus))
        snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(c->wstatus),
                 strsignal(WTERMSIG(c->wstatus)));
    else
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(c->wstatus));
}
