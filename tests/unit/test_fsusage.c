/* test_fsusage: the fs_usage line parser field by field, the call classifier,
 * the line splitter, and the aggregator's exact totals on recorded logs. */
#include "measure/fsusage.h"
#include "tap.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *line, struct fsu_event *ev)
{
    return fsu_parse_line(line, strlen(line), ev);
}

static char *str(struct fsu_str s)
{
    static char b[4][1024];
    static int k;
    char *out = b[k++ & 3];
    size_t n = s.n < 1023 ? s.n : 1023;
    memcpy(out, s.p ? s.p : "", n);
    out[n] = '\0';
    return out;
}

/* Expected fields of one line. */
struct exp {
    const char *line;
    uint64_t ts_us;
    const char *call;
    enum fsu_class cls;
    int meta; /* -1: not FSU_META */
    int fd;
    int64_t bytes;  /* -1: no B= */
    int64_t offset; /* -1: no O= */
    int err;
    const char *mode;
    const char *dev;
    const char *path;
    uint64_t elapsed_ns;
    bool waited;
    const char *proc;
    uint64_t tid;
};

#define TS(h, m, s, us) ((((uint64_t)(h)*60 + (m)) * 60 + (s)) * 1000000ull + (us))

static const struct exp reference[] = {
    {"14:56:52.386043  open              F=3        (R_____)  /Users/alice/data/input.csv  "
     "0.000031   python3.1234567",
     TS(14, 56, 52, 386043), "open", FSU_META, META_OPEN, 3, -1, -1, 0, "R_____", "",
     "/Users/alice/data/input.csv", 31000, false, "python3", 1234567},
    {"14:56:52.386080  fstat64           F=3  0.000004   python3.1234567", TS(14, 56, 52, 386080),
     "fstat64", FSU_META, META_STAT, 3, -1, -1, 0, "", "", "", 4000, false, "python3", 1234567},
    {"14:56:52.386102  read              F=3    B=0x10000  0.000052   python3.1234567",
     TS(14, 56, 52, 386102), "read", FSU_DATA_READ, -1, 3, 0x10000, -1, 0, "", "", "", 52000, false,
     "python3", 1234567},
    {"14:56:52.386170  read              F=3    B=0x2a31  0.000011   python3.1234567",
     TS(14, 56, 52, 386170), "read", FSU_DATA_READ, -1, 3, 0x2a31, -1, 0, "", "", "", 11000, false,
     "python3", 1234567},
    {"14:56:52.386190  read              F=3    B=0x0  0.000002   python3.1234567",
     TS(14, 56, 52, 386190), "read", FSU_DATA_READ, -1, 3, 0, -1, 0, "", "", "", 2000, false,
     "python3", 1234567},
    {"14:56:52.386201  close             F=3  0.000006   python3.1234567", TS(14, 56, 52, 386201),
     "close", FSU_META, META_CLOSE, 3, -1, -1, 0, "", "", "", 6000, false, "python3", 1234567},
    {"14:56:52.390015  open              F=4        (_WC_T_)  /Users/alice/data/out.bin  0.000120   "
     "python3.1234567",
     TS(14, 56, 52, 390015), "open", FSU_META, META_OPEN, 4, -1, -1, 0, "_WC_T_", "",
     "/Users/alice/data/out.bin", 120000, false, "python3", 1234567},
    {"14:56:52.390300  write             F=4    B=0x100000  0.001210 W python3.1234567",
     TS(14, 56, 52, 390300), "write", FSU_DATA_WRITE, -1, 4, 0x100000, -1, 0, "", "", "", 1210000,
     true, "python3", 1234567},
    {"14:56:52.391600  pwrite            F=4    B=0x1000     O=0x00100000  0.000015   "
     "python3.1234567",
     TS(14, 56, 52, 391600), "pwrite", FSU_DATA_WRITE, -1, 4, 0x1000, 0x100000, 0, "", "", "",
     15000, false, "python3", 1234567},
    {"14:56:52.391700  pread             F=4    B=0x1000     O=0x00000000  0.000009   "
     "python3.1234567",
     TS(14, 56, 52, 391700), "pread", FSU_DATA_READ, -1, 4, 0x1000, 0, 0, "", "", "", 9000, false,
     "python3", 1234567},
    {"14:56:52.391720  lseek             F=4    O=0x00000000         <SEEK_SET>  0.000002   "
     "python3.1234567",
     TS(14, 56, 52, 391720), "lseek", FSU_META, META_SEEK, 4, -1, 0, 0, "", "", "", 2000, false,
     "python3", 1234567},
    {"14:56:52.391800  fsync             F=4  0.004210 W python3.1234567", TS(14, 56, 52, 391800),
     "fsync", FSU_META, META_FSYNC, 4, -1, -1, 0, "", "", "", 4210000, true, "python3", 1234567},
    {"14:56:52.391900  close             F=4  0.000020   python3.1234567", TS(14, 56, 52, 391900),
     "close", FSU_META, META_CLOSE, 4, -1, -1, 0, "", "", "", 20000, false, "python3", 1234567},
    {"14:56:52.396010  open                   [  2] (R_____)  /Users/alice/data/missing.txt  "
     "0.000009   python3.1234567",
     TS(14, 56, 52, 396010), "open", FSU_META, META_OPEN, -1, -1, -1, 2, "R_____", "",
     "/Users/alice/data/missing.txt", 9000, false, "python3", 1234567},
    {"14:56:52.396100  getattrlist                            /Users/alice/Library/Application "
     "Support/x.plist  0.000012   python3.1234567",
     TS(14, 56, 52, 396100), "getattrlist", FSU_META, META_STAT, -1, -1, -1, 0, "", "",
     "/Users/alice/Library/Application Support/x.plist", 12000, false, "python3", 1234567},
    {"14:56:52.396110  stat64                 [  2]           /Users/alice/data/nope  0.000005   "
     "python3.1234567",
     TS(14, 56, 52, 396110), "stat64", FSU_META, META_STAT, -1, -1, -1, 2, "", "",
     "/Users/alice/data/nope", 5000, false, "python3", 1234567},
    {"14:56:52.396120  write             F=9  [ 32]  0.000004   python3.1234567",
     TS(14, 56, 52, 396120), "write", FSU_DATA_WRITE, -1, 9, -1, -1, 32, "", "", "", 4000, false,
     "python3", 1234567},
    {"14:56:52.396200  rename                                 /Users/alice/data/out.bin  0.000150   "
     "python3.1234567",
     TS(14, 56, 52, 396200), "rename", FSU_META, META_RENAME, -1, -1, -1, 0, "", "",
     "/Users/alice/data/out.bin", 150000, false, "python3", 1234567},
    {"14:56:52.396300  read_nocancel     F=5    B=0x200  0.000003   Google Chrome He.88123",
     TS(14, 56, 52, 396300), "read", FSU_DATA_READ, -1, 5, 0x200, -1, 0, "", "", "", 3000, false,
     "Google Chrome He", 88123},
    {"00:02:07.151327    RdData[S]       D=0x07c753d6  B=0x1000   /dev/disk3s1  "
     "/Users/testuser/Library/Application Support/app/Profiles/default/AlternateServices.bin  "
     "0.000952 W zen.2487526",
     TS(0, 2, 7, 151327), "RdData", FSU_DISK_READ, -1, -1, 0x1000, -1, 0, "", "/dev/disk3s1",
     "/Users/testuser/Library/Application Support/app/Profiles/default/AlternateServices.bin",
     952000, true, "zen", 2487526},
    {"13:02:55.798868    WrData[A]       D=0x0e2db501  B=0x100000 /dev/disk3s5  big.bin   0.000150 "
     "W dd.38325373",
     TS(13, 2, 55, 798868), "WrData", FSU_DISK_WRITE, -1, -1, 0x100000, -1, 0, "", "/dev/disk3s5",
     "big.bin", 150000, true, "dd", 38325373},
};

/* More varied lines: names with dots and spaces, paths with spaces, digits
 * and elapsed-looking numbers, three-digit descriptors, CR endings. */
static const struct exp varied[] = {
    {"10:00:00.001000  open_nocancel     F=4        (_WC_T_)  /tmp/run 1.000000 x/out 2.bin  "
     "0.000030   Python 3.11.4242",
     TS(10, 0, 0, 1000), "open", FSU_META, META_OPEN, 4, -1, -1, 0, "_WC_T_", "",
     "/tmp/run 1.000000 x/out 2.bin", 30000, false, "Python 3.11", 4242},
    {"10:00:00.004800  read              F=100[  9]  0.000001   Python 3.11.4242",
     TS(10, 0, 0, 4800), "read", FSU_DATA_READ, -1, 100, -1, -1, 9, "", "", "", 1000, false,
     "Python 3.11", 4242},
    {"10:00:00.004900  read              F=3    B=0x400  0.000002   "
     "com.apple.quicklook.ThumbnailsAgent.901",
     TS(10, 0, 0, 4900), "read", FSU_DATA_READ, -1, 3, 0x400, -1, 0, "", "", "", 2000, false,
     "com.apple.quicklook.ThumbnailsAgent", 901},
    {"10:00:00.005100  read              F=4    B=0x200  0.000002   Python 3.11.4242\r",
     TS(10, 0, 0, 5100), "read", FSU_DATA_READ, -1, 4, 0x200, -1, 0, "", "", "", 2000, false,
     "Python 3.11", 4242},
    {"10:00:00.002700  readlink                               /tmp/link  0.000002   a.1",
     TS(10, 0, 0, 2700), "readlink", FSU_META, META_STAT, -1, -1, -1, 0, "", "", "/tmp/link", 2000,
     false, "a", 1},
    {"10:00:00.004300    WrMeta[ANS]     D=0x00000020  B=0x2000   /dev/disk1s1  0.000100   "
     "kernel_task.99",
     TS(10, 0, 0, 4300), "WrMeta", FSU_DISK_WRITE, -1, -1, 0x2000, -1, 0, "", "/dev/disk1s1", "",
     100000, false, "kernel_task", 99},
    {"10:00:00.004400    PgIn[A]         D=0x00000030  B=0x3000   /dev/disk1s1  "
     "/usr/lib/libz.dylib  0.000200 W x.2",
     TS(10, 0, 0, 4400), "PgIn", FSU_DISK_READ, -1, -1, 0x3000, -1, 0, "", "/dev/disk1s1",
     "/usr/lib/libz.dylib", 200000, true, "x", 2},
    /* a path that looks like fields once it has started */
    {"10:00:00.000001  unlink                                 /tmp/F=3 B=0x10 [ 2]  0.000001   y.3",
     TS(10, 0, 0, 1), "unlink", FSU_META, META_UNLINK, -1, -1, -1, 0, "", "",
     "/tmp/F=3 B=0x10 [ 2]", 1000, false, "y", 3},
    /* a process whose name starts with W, not waited (three spaces) */
    {"10:00:00.000002  close             F=7  0.000001   W worker.5", TS(10, 0, 0, 2), "close",
     FSU_META, META_CLOSE, 7, -1, -1, 0, "", "", "", 1000, false, "W worker", 5},
    /* narrow-mode time (no microseconds), large elapsed, tabs */
    {"10:00:01  fsync_nocancel\tF=12\t12.500000 W\tdb.7", TS(10, 0, 1, 0), "fsync", FSU_META,
     META_FSYNC, 12, -1, -1, 0, "", "", "", 12500000000ull, true, "db", 7},
    /* an eight-digit byte count leaves no space before O= */
    {"10:00:00.000004  pread             F=3    B=0x10000000O=0x00000010  0.020000 W big.9",
     TS(10, 0, 0, 4), "pread", FSU_DATA_READ, -1, 3, 0x10000000, 0x10, 0, "", "", "", 20000000,
     true, "big", 9},
    /* an old-style millisecond timestamp */
    {"10:00:00.386  write             F=1    B=0x1  0.000001   sh.1", TS(10, 0, 0, 386000), "write",
     FSU_DATA_WRITE, -1, 1, 1, -1, 0, "", "", "", 1000, false, "sh", 1},
    /* the elapsed-looking number in the process name: the rightmost wins */
    {"10:00:00.000003  write             F=1    B=0x1  0.000007   odd 1.000000  name.8",
     TS(10, 0, 0, 3), "write", FSU_DATA_WRITE, -1, 1, 1, -1, 0, "", "", "0.000007   odd",
     1000000000ull, false, "name", 8},
};

static void check_exp(const struct exp *e)
{
    struct fsu_event ev;
    int rc = parse(e->line, &ev);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "# line: %s\n", e->line);
        return;
    }
    CHECK_U64(ev.ts_us, e->ts_us);
    CHECK_STR(ev.call, e->call);
    CHECK_INT(ev.cls, e->cls);
    if (e->meta >= 0)
        CHECK_INT(ev.meta, e->meta);
    CHECK_INT(ev.fd, e->fd);
    CHECK_INT(ev.has_bytes, e->bytes >= 0);
    if (e->bytes >= 0)
        CHECK_U64(ev.bytes, e->bytes);
    CHECK_INT(ev.has_offset, e->offset >= 0);
    if (e->offset >= 0)
        CHECK_U64(ev.offset, e->offset);
    CHECK_INT(ev.err, e->err);
    CHECK_STR(ev.mode, e->mode);
    CHECK_STR(str(ev.dev), e->dev);
    CHECK_STR(str(ev.path), e->path);
    CHECK_U64(ev.elapsed_ns, e->elapsed_ns);
    CHECK_INT(ev.waited, e->waited);
    CHECK_STR(str(ev.proc), e->proc);
    CHECK_U64(ev.tid, e->tid);
}

static void test_reference_lines(void)
{
    for (size_t i = 0; i < sizeof(reference) / sizeof(reference[0]); i++)
        check_exp(&reference[i]);
    for (size_t i = 0; i < sizeof(varied) / sizeof(varied[0]); i++)
        check_exp(&varied[i]);
}

/* The full-width layout gives the same events as the compact one. */
static void test_wide_layout(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fixtures/fs_usage/reference-wide.log", tap_source_dir());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[2048];
    size_t i = 0;
    while (fgets(line, sizeof(line), f) && i < sizeof(reference) / sizeof(reference[0])) {
        line[strcspn(line, "\n")] = '\0';
        struct exp e = reference[i++];
        e.line = line;
        check_exp(&e);
    }
    CHECK_U64(i, sizeof(reference) / sizeof(reference[0]));
    fclose(f);
}

static void test_classify(void)
{
    static const struct {
        const char *raw, *base;
        enum fsu_class cls;
        int meta;
    } cases[] = {
        {"read", "read", FSU_DATA_READ, -1},
        {"pread_nocancel", "pread", FSU_DATA_READ, -1},
        {"readv_nocancel", "readv", FSU_DATA_READ, -1},
        {"preadv", "preadv", FSU_DATA_READ, -1},
        {"readlink", "readlink", FSU_META, META_STAT},
        {"readlinkat", "readlinkat", FSU_META, META_STAT},
        {"write_nocancel", "write", FSU_DATA_WRITE, -1},
        {"pwritev_nocancel", "pwritev", FSU_DATA_WRITE, -1},
        {"guarded_writev_np", "guarded_writev_np", FSU_DATA_WRITE, -1},
        {"open_extended", "open", FSU_META, META_OPEN},
        {"open_nocancel", "open", FSU_META, META_OPEN},
        {"openat_nocancel", "openat", FSU_META, META_OPEN},
        {"guarded_open_dprotected_np", "guarded_open_dprotected_np", FSU_META, META_OPEN},
        {"close_nocancel", "close", FSU_META, META_CLOSE},
        {"fstat64_extended", "fstat64", FSU_META, META_STAT},
        {"getattrlist", "getattrlist", FSU_META, META_STAT},
        {"getdirentries64", "getdirentries64", FSU_META, META_GETDENTS},
        {"getattrlistbulk", "getattrlistbulk", FSU_META, META_GETDENTS},
        {"fsync_nocancel", "fsync", FSU_META, META_FSYNC},
        {"renameatx_np", "renameatx_np", FSU_META, META_RENAME},
        {"mkdir_extended", "mkdir", FSU_META, META_MKDIR},
        {"ftruncate", "ftruncate", FSU_META, META_TRUNCATE},
        {"fcntl_nocancel", "fcntl", FSU_META, META_FCNTL},
        {"dup2", "dup2", FSU_META, META_DUP},
        {"rmdir", "rmdir", FSU_META, META_UNLINK},
        {"setxattr", "setxattr", FSU_META, META_OTHER},
        {"RdData[S]", "RdData", FSU_DISK_READ, -1},
        {"WrData[AT1]", "WrData", FSU_DISK_WRITE, -1},
        {"RdMeta", "RdMeta", FSU_DISK_READ, -1},
        {"WrJData[A]", "WrJData", FSU_DISK_WRITE, -1},
        {"RdChunkCS", "RdChunkCS", FSU_DISK_READ, -1},
        {"PgIn[A]", "PgIn", FSU_DISK_READ, -1},
        {"PgOut", "PgOut", FSU_DISK_WRITE, -1},
        {"recvfrom_nocancel", "recvfrom", FSU_SOCK_READ, -1},
        {"sendmsg", "sendmsg", FSU_SOCK_WRITE, -1},
        {"mmap", "mmap", FSU_MMAP, -1},
        {"CACHE_HIT", "CACHE_HIT", FSU_IGNORED, -1},
        {"Rdx", "Rdx", FSU_UNKNOWN, -1},
        {"readx", "readx", FSU_UNKNOWN, -1},
        {"_nocancel", "_nocancel", FSU_UNKNOWN, -1},
        {"MACH_vmfault", "MACH_vmfault", FSU_UNKNOWN, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char base[FSU_CALL_MAX];
        enum meta_op m;
        enum fsu_class c = fsu_classify(cases[i].raw, strlen(cases[i].raw), base, &m);
        CHECK_STR(base, cases[i].base);
        CHECK_INT(c, cases[i].cls);
        if (cases[i].meta >= 0)
            CHECK_INT(m, cases[i].meta);
    }
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "",
        "   ",
        "TIMESTAMP              CALL                    FILE DESCRIPTOR   BYTE COUNT   PATHNAME",
        "garbage without structure",
        "10:00:00.006000  read              F=3    B=0x10  0.000001   noname",
        "25:00:00.000000  read              F=3    B=0x1  0.000001   x.1",
        "10:00:00.007000  read              F=3    B=0x1  0.00001   x.1",
        "10:00:00.007000  0.000001   x.1",
        "0.000001   x.1",
        "10:00:00.007000  read  0.000001   .1",
        "10:00:00.007000  read  0.000001   x.123456789012345678901",
        "10:00:00.007000  read  x0.000001   x.1", /* elapsed must follow whitespace */
        "10:00:00.007000  read  0.000001   ",
        "10:00:00.007000  read  0.000001 W .5",
        "10:00:00.0070000 read  0.000001   x.1", /* 7 fraction digits */
        "10:00:00.  read  0.000001   x.1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fsu_event ev;
        int rc = parse(bad[i], &ev);
        CHECK_INT(rc, -EINVAL);
        if (rc != -EINVAL)
            fprintf(stderr, "# accepted: '%s'\n", bad[i]);
    }
    /* a line over the cap is refused before it is looked at */
    size_t n = FSU_LINE_MAX + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    struct fsu_event ev;
    CHECK_INT(fsu_parse_line(big, n, &ev), -E2BIG);
    /* exactly at the cap: parsed (a long path) */
    const char *head = "10:00:00.000001  stat64  /";
    const char *tail = "  0.000001   x.1";
    memcpy(big, head, strlen(head));
    memcpy(big + FSU_LINE_MAX - strlen(tail), tail, strlen(tail));
    CHECK_INT(fsu_parse_line(big, FSU_LINE_MAX, &ev), 0);
    CHECK_U64(ev.path.n, FSU_LINE_MAX - strlen(head) - strlen(tail) + 1);
    free(big);
}

/* ---- the splitter ---- */

struct collected {
    size_t n;
    size_t lens[16];
    char first[64];
};

static void collect(void *ctx, const char *line, size_t len)
{
    struct collected *c = ctx;
    if (c->n == 0) {
        size_t k = len < 63 ? len : 63;
        memcpy(c->first, line, k);
        c->first[k] = '\0';
    }
    if (c->n < 16)
        c->lens[c->n] = len;
    c->n++;
}

static void test_lines(void)
{
    struct fsu_lines l;
    struct collected c = {0};
    fsu_lines_init(&l);
    const char *text = "abc\n\nde\r\nlast";
    for (const char *p = text; *p; p++) /* one byte at a time */
        fsu_lines_push(&l, p, 1, collect, &c);
    CHECK_U64(c.n, 3);
    fsu_lines_finish(&l, collect, &c);
    CHECK_U64(c.n, 4);
    CHECK_STR(c.first, "abc");
    CHECK_U64(c.lens[0], 3);
    CHECK_U64(c.lens[1], 0);
    CHECK_U64(c.lens[2], 3);
    CHECK_U64(c.lens[3], 4);
    CHECK_U64(l.too_long, 0);

    /* Lines over the cap are dropped whole, in one push or in many. */
    size_t big = FSU_LINE_MAX + 10;
    char *b = malloc(big + 1);
    memset(b, 'x', big);
    b[big] = '\n';
    memset(&c, 0, sizeof(c));
    fsu_lines_push(&l, "ok1\n", 4, collect, &c);
    fsu_lines_push(&l, b, big + 1, collect, &c); /* one push */
    for (size_t i = 0; i <= big; i += 1000)      /* many pushes */
        fsu_lines_push(&l, b + i, i + 1000 <= big + 1 ? 1000 : big + 1 - i, collect, &c);
    fsu_lines_push(&l, "pre", 3, collect, &c); /* partial, then over the cap */
    fsu_lines_push(&l, b, big + 1, collect, &c);
    fsu_lines_push(&l, "ok2\n", 4, collect, &c);
    fsu_lines_push(&l, b, FSU_LINE_MAX, collect, &c); /* exactly the cap: kept */
    fsu_lines_push(&l, "\n", 1, collect, &c);
    fsu_lines_push(&l, b, big, collect, &c); /* too long at EOF, no newline */
    fsu_lines_finish(&l, collect, &c);
    CHECK_U64(l.too_long, 4);
    CHECK_U64(c.n, 3);
    CHECK_STR(c.first, "ok1");
    CHECK_U64(c.lens[1], 3);
    CHECK_U64(c.lens[2], FSU_LINE_MAX);
    free(b);
    fsu_lines_release(&l);
}

/* ---- aggregation ---- */

static struct fsu_agg *agg_file(const char *name, const char *process, size_t top)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fixtures/fs_usage/%s", tap_source_dir(), name);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    struct fsu_agg_opts o = {process, top, 0};
    struct fsu_agg *a = fsu_agg_new(&o);
    char err[128];
    if (fd >= 0) {
        CHECK_INT(fsu_agg_read_fd(a, fd, err, sizeof(err)), 0);
        close(fd);
    }
    return a;
}

static const struct file_row *find_file(const struct report *r, const char *path)
{
    for (size_t i = 0; i < r->nfiles; i++)
        if (!strcmp(r->files[i].path, path))
            return &r->files[i];
    return NULL;
}

static void check_row(const struct report *r, const char *path, enum fd_kind kind, uint64_t opens,
                      uint64_t rops, uint64_t rbytes, uint64_t wops, uint64_t wbytes,
                      uint64_t seeks)
{
    const struct file_row *f = find_file(r, path);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "# no row for '%s'\n", path);
        return;
    }
    CHECK_INT(f->kind, kind);
    CHECK_U64(f->opens, opens);
    CHECK_U64(f->read_ops, rops);
    CHECK_U64(f->read_bytes, rbytes);
    CHECK_U64(f->write_ops, wops);
    CHECK_U64(f->write_bytes, wbytes);
    CHECK_U64(f->seeks, seeks);
}

static void test_reference_report(void)
{
    struct fsu_agg *a = agg_file("reference.log", "python3", 0);
    const struct fsu_stats *st = fsu_agg_stats(a);
    CHECK_U64(st->lines, 21);
    CHECK_U64(st->malformed, 0);
    CHECK_U64(st->other_process, 3);
    CHECK_U64(st->used, 18);
    struct report r;
    report_init(&r);
    fsu_agg_report(a, &r);
    CHECK_STR(r.backend, "fs_usage");
    CHECK(r.detailed);
    CHECK(r.has_latency);
    /* reads: 0x10000 + 0x2a31 + 0 + pread 0x1000; writes: 0x100000 + pwrite 0x1000 */
    CHECK_U64(r.read_ops, 4);
    CHECK_U64(r.read_bytes, 65536 + 10801 + 0 + 4096);
    CHECK_U64(r.write_ops, 2);
    CHECK_U64(r.write_bytes, 1048576 + 4096);
    CHECK_U64(r.write_errors, 1);
    CHECK_U64(r.read_errors, 0);
    CHECK_U64(r.storage_read_bytes, 0); /* the disk lines are other processes' */
    CHECK_U64(r.meta_ops[META_OPEN], 3);
    CHECK_U64(r.meta_ops[META_CLOSE], 2);
    CHECK_U64(r.meta_ops[META_STAT], 3);
    CHECK_U64(r.meta_ops[META_SEEK], 1);
    CHECK_U64(r.meta_ops[META_FSYNC], 1);
    CHECK_U64(r.meta_ops[META_RENAME], 1);
    CHECK_U64(r.processes, 1);
    /* from the first call's start (14:56:52.386043 - 31 us) to the last
     * completion (14:56:52.396200) */
    CHECK_U64((uint64_t)(r.wall_seconds * 1e6 + 0.5), 396200 - (386043 - 31));
    CHECK_U64(r.nfiles, 2); /* the failed write on fd 9 makes no row */
    check_row(&r, "/Users/alice/data/out.bin", FDK_FILE, 1, 1, 4096, 2, 1048576 + 4096, 1);
    check_row(&r, "/Users/alice/data/input.csv", FDK_FILE, 1, 3, 65536 + 10801, 0, 0, 0);
    CHECK_STR(r.files[0].path, "/Users/alice/data/out.bin");
    CHECK_U64(r.fds.peak, 1);
    CHECK_U64(r.fds.end, 0);
    CHECK_U64(r.fds.nleaked, 0);
    /* size buckets: 0 -> 0; 0x1000 -> 13; 0x2a31 -> 14; 0x10000 -> 17; 0x100000 -> 21 */
    CHECK_U64(r.size_hist[0].read_ops, 1);
    CHECK_U64(r.size_hist[13].read_ops, 1);
    CHECK_U64(r.size_hist[13].write_ops, 1);
    CHECK_U64(r.size_hist[14].read_bytes, 10801);
    CHECK_U64(r.size_hist[17].read_ops, 1);
    CHECK_U64(r.size_hist[21].write_bytes, 1048576);
    /* latencies: 52us -> [32768,65536) = 16; 1210us -> [2^20, 2^21) = 21 */
    CHECK_U64(r.lat_hist[16].read_ops, 1);
    CHECK_U64(r.lat_hist[21].write_ops, 1);
    report_release(&r);
    fsu_agg_free(a);
}

static void check_varied_python(const struct report *r)
{
    CHECK_U64(r->read_ops, 4);
    CHECK_U64(r->read_bytes, 4096 + 2048 + 0 + 512);
    CHECK_U64(r->write_ops, 5);
    CHECK_U64(r->write_bytes, 8192 + 8192 + 6144 + 2048 + 16);
    CHECK_U64(r->read_errors, 2);
    CHECK_U64(r->write_errors, 1);
    CHECK_U64(r->storage_read_bytes, 32768 + 4096 + 12288);
    CHECK_U64(r->storage_write_bytes, 16384 + 8192 + 4096);
    CHECK_U64(r->by_kind[FDK_CHARDEV].read_ops, 1);
    CHECK_U64(r->by_kind[FDK_CHARDEV].read_bytes, 64);
    CHECK_U64(r->by_kind[FDK_SOCKET].read_ops, 1);
    CHECK_U64(r->by_kind[FDK_SOCKET].read_bytes, 256);
    CHECK_U64(r->by_kind[FDK_SOCKET].write_ops, 1);
    CHECK_U64(r->by_kind[FDK_SOCKET].write_bytes, 128);
    static const uint64_t meta[META__COUNT] = {
        [META_OPEN] = 3,  [META_CLOSE] = 2,    [META_STAT] = 6,   [META_SEEK] = 1,
        [META_FSYNC] = 1, [META_GETDENTS] = 1, [META_UNLINK] = 2, [META_RENAME] = 1,
        [META_MKDIR] = 1, [META_TRUNCATE] = 1, [META_FCNTL] = 1,  [META_DUP] = 1,
        [META_OTHER] = 2,
    };
    for (int m = 0; m < META__COUNT; m++)
        CHECK_U64(r->meta_ops[m], meta[m]);
    CHECK_U64(r->unseen.mmap, 1);
    CHECK_U64(r->fds.start, 0);
    CHECK_U64(r->fds.peak, 2);
    CHECK_U64(r->fds.end, 1);
    CHECK_U64(r->fds.nleaked, 1);
    if (r->fds.nleaked == 1) {
        CHECK_INT(r->fds.leaked[0].fd, 4);
        CHECK_INT(r->fds.leaked[0].pid, 0);
        CHECK_STR(r->fds.leaked[0].path, "/tmp/run 1.000000 x/out 2.bin");
    }
    check_row(r, "/tmp/run 1.000000 x/out 2.bin", FDK_FILE, 1, 1, 512, 5, 24592, 0);
    check_row(r, "/tmp/my data/file 1.csv", FDK_FILE, 1, 3, 6144, 0, 0, 1);
    check_row(r, "/dev/ttys003", FDK_CHARDEV, 1, 1, 64, 0, 0, 0);
}

static void test_varied_report(void)
{
    struct fsu_agg *a = agg_file("varied.log", NULL, 0);
    const struct fsu_stats *st = fsu_agg_stats(a);
    CHECK_U64(st->lines, 55);
    CHECK_U64(st->malformed, 6);
    CHECK_U64(st->unknown_calls, 1);
    CHECK_U64(st->ignored_calls, 1);
    CHECK_U64(st->used, 48);
    struct report r;
    report_init(&r);
    fsu_agg_report(a, &r);
    /* everything, both processes */
    CHECK_U64(r.read_ops, 5);
    CHECK_U64(r.read_bytes, 7680);
    CHECK_U64(r.write_ops, 6);
    CHECK_U64(r.write_bytes, 28688);
    CHECK_U64(r.processes, 2);
    CHECK_U64(r.nfiles, 5);
    /* the fsync completing at .001700 started 2 ms before: at -.000300 */
    CHECK_U64((uint64_t)(r.wall_seconds * 1e6 + 0.5), 5100 + 300);
    check_row(&r, "(fd 3 of com.apple.quicklook.ThumbnailsAgent, opened before the log)", FDK_FILE,
              0, 1, 1024, 0, 0, 0);
    check_row(&r, "(fd 8 of com.apple.quicklook.ThumbnailsAgent, opened before the log)", FDK_FILE,
              0, 0, 0, 1, 4096, 0);
    /* sorted by bytes */
    if (r.nfiles == 5) {
        CHECK_STR(r.files[0].path, "/tmp/run 1.000000 x/out 2.bin");
        CHECK_STR(r.files[1].path, "/tmp/my data/file 1.csv");
        CHECK_STR(r.files[4].path, "/dev/ttys003");
    }
    /* write sizes 16, 2048, 4096, 6144, 8192, 8192; reads 0, 512, 1024, 2048, 4096 */
    CHECK_U64(r.size_hist[0].read_ops, 1);
    CHECK_U64(r.size_hist[5].write_ops, 1);
    CHECK_U64(r.size_hist[10].read_ops, 1);
    CHECK_U64(r.size_hist[11].read_ops, 1);
    CHECK_U64(r.size_hist[12].read_ops, 1);
    CHECK_U64(r.size_hist[12].write_ops, 1);
    CHECK_U64(r.size_hist[13].write_ops, 2);
    CHECK_U64(r.size_hist[13].write_bytes, 10240);
    CHECK_U64(r.size_hist[14].write_ops, 2);
    uint64_t lat_r = 0, lat_w = 0;
    for (int i = 0; i < HIST_LAT_BUCKETS; i++) {
        lat_r += r.lat_hist[i].read_ops;
        lat_w += r.lat_hist[i].write_ops;
    }
    CHECK_U64(lat_r, 5);
    CHECK_U64(lat_w, 6);
    CHECK_U64(r.lat_hist[16].write_ops, 3); /* 40, 40, 50 us */
    CHECK_U64(r.lat_hist[15].read_ops, 1);  /* 20 us */
    report_release(&r);
    fsu_agg_free(a);

    /* the same log, one process: its thread 4243 uses a descriptor 4242 opened */
    a = agg_file("varied.log", "Python 3.11", 0);
    st = fsu_agg_stats(a);
    CHECK_U64(st->other_process, 2);
    CHECK_U64(st->used, 46);
    report_init(&r);
    fsu_agg_report(a, &r);
    check_varied_python(&r);
    CHECK_U64(r.processes, 1);
    CHECK_U64(r.nfiles, 3);
    report_release(&r);
    fsu_agg_free(a);

    /* the per-file table keeps the top N by bytes */
    a = agg_file("varied.log", "Python 3.11", 2);
    report_init(&r);
    fsu_agg_report(a, &r);
    CHECK_U64(r.nfiles, 2);
    CHECK_U64(r.files_total, 3);
    CHECK_U64(r.write_bytes, 24592);
    if (r.nfiles == 2)
        CHECK_STR(r.files[1].path, "/tmp/my data/file 1.csv");
    report_release(&r);
    fsu_agg_free(a);

    /* a prefix of a name is not the name */
    a = agg_file("varied.log", "Python", 0);
    CHECK_U64(fsu_agg_stats(a)->used, 0);
    fsu_agg_free(a);
}

static void test_midnight(void)
{
    struct fsu_agg *a = agg_file("midnight.log", NULL, 0);
    struct report r;
    report_init(&r);
    fsu_agg_report(a, &r);
    /* 23:59:59.9 (minus 1 us) -> 00:00:00.3, with a late 23:59:59.95 in between */
    CHECK_U64((uint64_t)(r.wall_seconds * 1e6 + 0.5), 400001);
    CHECK_U64(r.write_ops, 4);
    CHECK_U64(r.processes, 1);
    report_release(&r);
    fsu_agg_free(a);
}

static void feed(struct fsu_agg *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void feed(struct fsu_agg *a, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fsu_agg_line(a, line, (size_t)n);
}

/* The caps: more distinct paths than the table holds still give exact
 * totals; the descriptor table matches a simple model through churn. */
static void test_caps(void)
{
    struct fsu_agg_opts o = {NULL, 0, 0};
    struct fsu_agg *a = fsu_agg_new(&o);
    size_t paths = FSU_FILES_MAX + 100;
    for (size_t i = 0; i < paths; i++) {
        feed(a, "10:00:00.000000  open  F=3  (R_____)  /p/%zu  0.000001   t.1", i);
        feed(a, "10:00:00.000000  read  F=3  B=0x10  0.000001   t.1");
        feed(a, "10:00:00.000000  close  F=3  0.000001   t.1");
    }
    struct report r;
    report_init(&r);
    fsu_agg_report(a, &r);
    CHECK_U64(r.read_ops, paths);
    CHECK_U64(r.read_bytes, paths * 16);
    CHECK_U64(r.meta_ops[META_OPEN], paths);
    CHECK_U64(r.files_total, FSU_FILES_MAX);
    const struct file_row *other = find_file(&r, "(other files: table full)");
    CHECK(other != NULL);
    if (other)
        CHECK_U64(other->read_ops, paths - (FSU_FILES_MAX - 1));
    CHECK(fsu_agg_stats(a)->untracked > 0);
    report_release(&r);
    fsu_agg_free(a);

    /* descriptor churn against a model: open fds 0..N-1 in a scrambled
     * order, close two thirds of them, reopen some */
    a = fsu_agg_new(&o);
    enum { N = 3000 };
    static bool open_[N];
    size_t live = 0, peak = 0;
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned k = 0; k < N; k++) {
            unsigned fd = (k * 7919u + round * 13u) % N;
            bool want = ((fd * 31u + round) % 3) != 0;
            if (want && !open_[fd]) {
                feed(a, "10:00:00.000000  open  F=%u  (R_____)  /f/%u  0.000001   p.1", fd, fd);
                open_[fd] = true;
                live++;
            } else if (!want && open_[fd]) {
                feed(a, "10:00:00.000000  close  F=%u  0.000001   p.2", fd);
                open_[fd] = false;
                live--;
            }
            if (live > peak)
                peak = live;
            /* a read on every open fd finds its path */
        }
    }
    for (unsigned fd = 0; fd < N; fd++)
        if (open_[fd])
            feed(a, "10:00:00.000000  read  F=%u  B=0x1  0.000001   p.3", fd);
    report_init(&r);
    fsu_agg_report(a, &r);
    CHECK_U64(r.fds.end, live);
    CHECK_U64(r.fds.peak, peak);
    CHECK_U64(r.fds.nleaked, live);
    CHECK_U64(r.read_ops, live);
    const struct file_row *pre = NULL;
    for (size_t i = 0; i < r.nfiles; i++)
        if (!strncmp(r.files[i].path, "(fd ", 4))
            pre = &r.files[i];
    CHECK(pre == NULL); /* every read was mapped to its open */
    report_release(&r);
    fsu_agg_free(a);
}

int main(void)
{
    test_reference_lines();
    test_wide_layout();
    test_classify();
    test_malformed();
    test_lines();
    test_reference_report();
    test_varied_report();
    test_midnight();
    test_caps();
    return tap_done("fsusage");
}
