/* cmd_demo: `iopsd demo fds`, a program with a known descriptor pattern for
 * `iopsd measure --timeline`: fdprof's demo (open 5, 8 and 6 files, then close
 * them in the same stages), each stage announced by an EVENT line, 7 in all. */
#include "server/cli.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void demo_usage(FILE *f)
{
    fputs("Usage: iopsd demo fds [--stage SECONDS]\n"
          "\n"
          "Opens 5, 8 and 6 files, then closes them in the same stages (the first\n"
          "opened first), with an 'EVENT: <epoch> <message>' line on stdout before\n"
          "each stage and at the start: 7 events. Each stage lasts SECONDS (default\n"
          "1); the last one, back at the start's level, lasts 0.3 x SECONDS, as\n"
          "short as fdprof's demo ends. Try:\n"
          "  iopsd measure --timeline --png demo.png -- iopsd demo fds\n",
          f);
}

static void event(const char *msg)
{
    printf("EVENT: %.9f %s\n", clock_wall_seconds(), msg);
    fflush(stdout);
}

static void pause_for(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int cmd_demo(int argc, char **argv)
{
    double stage = 1.0;
    const char *what = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            demo_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--stage") && i + 1 < argc) {
            char *end;
            stage = strtod(argv[++i], &end);
            if (*end || !(stage > 0 && stage <= 60)) {
                cli_error("demo: --stage: '%s' is not a number of seconds in (0, 60]", argv[i]);
                return EXIT_USAGE;
            }
        } else if (!what && argv[i][0] != '-') {
            what = argv[i];
        } else {
            cli_error("demo: unexpected '%s'", argv[i]);
            demo_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!what || strcmp(what, "fds")) {
        cli_error("demo: %s", what ? "unknown demo (there is: fds)" : "which demo? (fds)");
        demo_usage(stderr);
        return EXIT_USAGE;
    }

    char dir[] = "/tmp/iopsd-demo-XXXXXX";
    if (!mkdtemp(dir)) {
        cli_error("demo: mkdtemp: %s", strerror(errno));
        return 1;
    }
    static const int sizes[3] = {5, 8, 6};
    int fds[3][8], made = 0, rc = 0;
    char path[64];
    event("demo start");
    pause_for(stage);
    for (int s = 0; s < 3 && !rc; s++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "opening %d files", sizes[s]);
        event(msg);
        for (int k = 0; k < sizes[s]; k++) {
            snprintf(path, sizeof(path), "%s/f%d", dir, made++);
            fds[s][k] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (fds[s][k] < 0) {
                cli_error("demo: %s: %s", path, strerror(errno));
                rc = 1;
            }
        }
        pause_for(stage);
    }
    for (int s = 0; s < 3 && !rc; s++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "closing %d files", sizes[s]);
        event(msg);
        for (int k = 0; k < sizes[s]; k++)
            close(fds[s][k]);
        pause_for(s < 2 ? stage : 0.3 * stage);
    }
    for (int i = 0; i < made; i++) {
        snprintf(path, sizeof(path), "%s/f%d", dir, i);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}
