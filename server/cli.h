/* cli: the subcommands of the iopsd program and what they share. */
#ifndef IOPSD_CLI_H
#define IOPSD_CLI_H

#include <stddef.h>

/* Exit statuses of iopsd's own, as env(1) and timeout(1) use them. */
#define EXIT_USAGE 2
/* iopsd measure --pid: a listed process does not exist / may not be measured. */
#define EXIT_NO_PROCESS    3
#define EXIT_NOT_PERMITTED 4
#define EXIT_IOPSD_FAILED  125
#define EXIT_CANNOT_EXEC   126
#define EXIT_NOT_FOUND     127

/* Each subcommand gets argv with argv[0] being the subcommand's name and
 * returns the process exit status. */
int cmd_measure(int argc, char **argv);
int cmd_kernel(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Writes len bytes to path ("-": stdout) and closes it. Returns 0, or -1
 * after printing one line saying why. */
int cli_write_file(const char *path, const void *data, size_t len);

/* Parses the argument of --top (rows of the per-file table: 0..1,000,000).
 * Returns 0, or -1 after printing one line saying why. */
int cli_parse_top(const char *arg, size_t *out);

/* Prints "iopsd: <message>\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
