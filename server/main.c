/* main: the iopsd program's entry point; dispatches to the subcommands. */
#include "server/cli.h"
#include "server/kernel_guard.h"
#include "version.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"measure", cmd_measure, "run a command and report its I/O"},
    {"kernel", cmd_kernel, "run the native bash Jupyter kernel (-f CONNECTION_FILE)"},
    {"install", cmd_install, "install the bash kernel's spec for Jupyter"},
    {"render", cmd_render, "turn a saved report (JSON) into text, HTML and PNG"},
    {"import", cmd_import, "build a report from a saved log (fs_usage)"},
    {"record", cmd_record, "sample a process tree over time into SQLite or JSON Lines"},
    {"plot", cmd_plot, "draw a recording's per-process series as a PNG"},
    {"demo", cmd_demo, "run a built-in demo program (fds: for measure --timeline)"},
    {NULL, NULL, NULL},
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("iopsd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fputs("Usage: iopsd COMMAND [OPTIONS] [ARGS...]\n"
          "       iopsd --measure [OPTIONS] -- CMD [ARGS...]\n"
          "\n"
          "An I/O profiler for shells and Jupyter notebooks: what I/O did this code do,\n"
          "and what did it cost?\n"
          "\n"
          "Commands:\n",
          f);
    for (const struct subcommand *s = subcommands; s->name; s++)
        fprintf(f, "  %-10s %s\n", s->name, s->summary);
    fputs("\n"
          "Options:\n"
          "  -h, --help     show this help and exit\n"
          "  -V, --version  show the version and exit\n"
          "\n"
          "Run 'iopsd COMMAND --help' for a command's options.\n"
          "Example: iopsd measure -- dd if=/dev/zero of=/tmp/f bs=4096 count=2560\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("iopsd %s\n", IOPSD_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--kernel-guard")) /* not a command: the kernel's guard, started again */
        return kguard_exec_main(argc, argv);
    if (!strcmp(cmd, "--measure"))
        cmd = "measure";
    for (const struct subcommand *s = subcommands; s->name; s++)
        if (!strcmp(s->name, cmd))
            return s->fn(argc - 1, argv + 1);
    if (cmd[0] == '-')
        cli_error("unknown option '%s'", cmd);
    else
        cli_error("unknown command '%s'", cmd);
    fputs("Try 'iopsd --help'.\n", stderr);
    return EXIT_USAGE;
}
