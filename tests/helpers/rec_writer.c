/* rec_writer: workloads with known writes for `iopsd record`'s tests.
 *
 *   rec_writer gated FILE BS         one write(2) of BS bytes to FILE for each
 *                                    byte read from stdin (one read(2) of 1
 *                                    byte each), until EOF
 *   rec_writer paced FILE BS N MS    N write(2)s of BS bytes, MS milliseconds
 *                                    apart, then exit
 *
 * FILE is created (truncated). Exit status 0, or 100 on an unexpected
 * failure. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char block[1 << 20];

static void put(int fd, size_t bs)
{
    if (write(fd, block, bs) != (ssize_t)bs)
        _exit(100);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 100;
    size_t bs = strtoul(argv[3], NULL, 10);
    if (bs == 0 || bs > sizeof(block))
        return 100;
    memset(block, 'r', bs);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 100;
    if (!strcmp(argv[1], "gated")) {
        char c;
        ssize_t n;
        while ((n = read(0, &c, 1)) == 1)
            put(fd, bs);
        return n == 0 ? 0 : 100;
    }
    if (!strcmp(argv[1], "paced") && argc == 6) {
        long count = strtol(argv[4], NULL, 10), ms = strtol(argv[5], NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        for (long i = 0; i < count; i++) {
            put(fd, bs);
            nanosleep(&ts, NULL);
        }
        return 0;
    }
    return 100;
}
