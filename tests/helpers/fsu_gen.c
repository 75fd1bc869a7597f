/* fsu_gen: writes a synthetic `fs_usage -w` log of known content to stdout,
 * for the streaming test of `iopsd import fs_usage`.
 *
 *   fsu_gen CYCLES
 *
 * Every cycle is the same 23 lines (FSU_GEN_LINES), one microsecond apart,
 * starting at 23:59:30 so that long logs pass midnight. Per cycle, process
 * "gen.worker" (threads 101 and 102) does:
 *   2 opens, 2 closes, 1 stat64, 1 lseek
 *   9 reads: 8 x 4096 (read_nocancel) + 1 x 2048 (pread)   = 34,816 bytes
 *   3 writes: 2 x 65536 (write) + 1 x 100 (pwrite)          = 131,172 bytes
 *   1 failed read ([ 35])
 *   1 RdData of 32768 bytes and 1 WrData of 65536 bytes (storage level)
 * and the cycle also holds 1 read of 4096 bytes by process "other.app" and
 * 1 line that is not an fs_usage line. Paths cycle through 1000 names. */
#include <stdio.h>
#include <stdlib.h>

#define FSU_GEN_LINES 23

static unsigned long long t_us = (23ull * 3600 + 59 * 60 + 30) * 1000000ull;

static void stamp(void)
{
    unsigned long long s = (t_us / 1000000ull) % 86400ull;
    printf("%02llu:%02llu:%02llu.%06llu  ", s / 3600, s / 60 % 60, s % 60, t_us % 1000000ull);
    t_us++;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fsu_gen CYCLES\n");
        return 2;
    }
    unsigned long long cycles = strtoull(argv[1], NULL, 10);
    static char out[1 << 20];
    setvbuf(stdout, out, _IOFBF, sizeof(out));
    const char *w = "gen.worker";
    for (unsigned long long c = 0; c < cycles; c++) {
        unsigned p = (unsigned)(c % 1000);
        stamp();
        printf("open              F=3        (R_____)  /data/in put %03u.bin  0.000010   %s.101\n",
               p, w);
        for (int i = 0; i < 8; i++) {
            stamp();
            printf("read_nocancel     F=3    B=0x1000  0.000004   %s.%d\n", w, 101 + (i & 1));
        }
        stamp();
        printf("pread             F=3    B=0x800      O=0x%08x  0.000003   %s.102\n",
               (unsigned)(p * 4096), w);
        stamp();
        printf("read              F=3  [ 35]  0.000001   %s.101\n", w);
        stamp();
        printf("lseek             F=3    O=0x00000000         <SEEK_SET>  0.000001   %s.101\n", w);
        stamp();
        printf("close             F=3  0.000002   %s.101\n", w);
        stamp();
        printf("open              F=4        (_WC_T_)  /data/out.bin  0.000020   %s.102\n", w);
        stamp();
        printf("write             F=4    B=0x10000  0.000120 W %s.102\n", w);
        stamp();
        printf("write_nocancel    F=4    B=0x10000  0.000110   %s.101\n", w);
        stamp();
        printf("pwrite            F=4    B=0x64       O=0x00020000  0.000005   %s.102\n", w);
        stamp();
        printf("close             F=4  0.000002   %s.102\n", w);
        stamp();
        printf("  RdData[A]       D=0x%08x  B=0x8000   /dev/disk1s1  /data/in put %03u.bin  "
               "0.000300 W %s.101\n",
               p * 8, p, w);
        stamp();
        printf("  WrData[A]       D=0x%08x  B=0x10000  /dev/disk1s1  /data/out.bin  0.000400   "
               "%s.102\n",
               p * 16, w);
        stamp();
        printf("stat64                                 /data/in put %03u.bin  0.000002   %s.101\n",
               p, w);
        stamp();
        printf("read              F=3    B=0x1000  0.000004   other.app.7\n");
        t_us++;
        printf("fs_usage: this is not an fs_usage line\n");
    }
    if (fflush(stdout))
        return 1;
    return 0;
}
