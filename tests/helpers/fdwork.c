/* fdwork: descriptor patterns over time for the timeline tests.
 *   fdwork leak N MS        open /dev/null N times, one every MS ms, then exit
 *   fdwork burst N T0 HOLD TOTAL
 *                           at T0 ms open N, hold HOLD ms, close them, exit at TOTAL ms
 *   fdwork events           EVENT lines cut in two writes (stdout and stderr)
 * Descriptors are left open at exit on purpose (leak). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) < 0)
        exit(1);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "leak")) {
        int n = atoi(argv[2]);
        long ms = atol(argv[3]);
        for (int i = 0; i < n; i++) {
            if (open("/dev/null", O_RDONLY) < 0)
                return 1;
            sleep_ms(ms);
        }
        return 0;
    }
    if (argc >= 6 && !strcmp(argv[1], "burst")) {
        int n = atoi(argv[2]), fds[1024];
        long t0 = atol(argv[3]), hold = atol(argv[4]), total = atol(argv[5]);
        if (n > 1024)
            return 2;
        sleep_ms(t0);
        for (int i = 0; i < n; i++)
            if ((fds[i] = open("/dev/null", O_RDONLY)) < 0)
                return 1;
        sleep_ms(hold);
        for (int i = 0; i < n; i++)
            close(fds[i]);
        sleep_ms(total - t0 - hold);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "events")) {
        char line[128];
        snprintf(line, sizeof(line), "EVENT: %.6f split across reads\n", now());
        size_t half = strlen(line) / 2;
        put(1, "before\n");
        if (write(1, line, half) < 0)
            return 1;
        sleep_ms(300); /* the reader sees the first half on its own */
        put(1, line + half);
        snprintf(line, sizeof(line), "  EVENT: %.6f on stderr\n", now());
        put(2, line);
        put(1, "EVENT: 12abc not an event\nEVENT: 5\nafter\n");
        sleep_ms(200);
        snprintf(line, sizeof(line), "EVENT: %.6f no newline at the end", now());
        put(1, line);
        return 0;
    }
    fprintf(stderr, "usage: fdwork leak N MS | burst N T0 HOLD TOTAL | events\n");
    return 2;
}
