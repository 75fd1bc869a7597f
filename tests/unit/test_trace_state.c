/* test_trace_state: the tracer's aggregate (descriptor tables, rows,
 * histograms, report filling), its small parsers, the syscall table and the
 * seccomp filter, without ptrace. */
#include "measure/trace.h"
#include "tap.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static void test_table(void)
{
    const struct tsc_entry *e = tsc_lookup(__NR_read);
    CHECK(e && e->op == TSC_READ);
    e = tsc_lookup(__NR_pwritev2);
    CHECK(e && e->op == TSC_WRITE);
    e = tsc_lookup(__NR_sendfile);
    CHECK(e && e->op == TSC_SENDFILE);
    e = tsc_lookup(__NR_close_range);
    CHECK(e && e->op == TSC_CLOSE_RANGE);
    e = tsc_lookup(__NR_renameat2);
    CHECK(e && e->op == TSC_META && e->aux == META_RENAME);
    e = tsc_lookup(__NR_openat);
    CHECK(e && e->op == TSC_OPEN && e->cx == TSC_CX_ARG && e->cx_arg == 2);
    CHECK(tsc_lookup(__NR_getpid) == NULL);
    CHECK(tsc_lookup(__NR_futex) == NULL);
    CHECK(tsc_lookup(-1) == NULL);
    CHECK(tsc_lookup(100000) == NULL);
}

/* Runs the filter program on one seccomp_data, as the kernel would. */
static uint32_t run_filter(const struct sock_filter *p, int n, uint32_t arch, uint32_t nr)
{
    uint32_t a = 0;
    for (int pc = 0; pc < n; pc++) {
        const struct sock_filter *f = &p[pc];
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            a = f->k == 4 ? arch : f->k == 0 ? nr : 0xdeadbeef;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == f->k ? f->jt : f->jf;
            break;
        case BPF_RET | BPF_K:
            return f->k;
        default:
            return 0xffffffff;
        }
    }
    return 0xfffffffe;
}

static void test_filter(void)
{
    struct sock_filter prog[512];
    int n = tsc_build_filter(prog, 512);
    CHECK(n > 0);
    uint32_t arch32 = tsc_compat_arch();
    CHECK_INT(n, arch32 ? (int)(tsc_count() + tsc_compat_count()) + 10 : (int)tsc_count() + 6);
    CHECK_INT(tsc_build_filter(prog, 10), -E2BIG);
    uint32_t arch = tsc_audit_arch();
    uint32_t trace = SECCOMP_RET_TRACE | TSC_RET_DATA;
    /* every syscall number: traced exactly when the table says so */
    int traced = 0, mismatches = 0;
    for (long nr = 0; nr < tsc_nr_limit(); nr++) {
        uint32_t r = run_filter(prog, n, arch, (uint32_t)nr);
        bool want = tsc_lookup(nr) != NULL;
        if (r != (want ? trace : SECCOMP_RET_ALLOW))
            mismatches++;
        traced += r == trace;
    }
    CHECK_INT(mismatches, 0);
    CHECK_INT(traced, (int)tsc_count());
    /* the compat ABI (i386 on x86-64): its own table, same rule */
    if (arch32) {
        mismatches = traced = 0;
        for (long nr = 0; nr < tsc_nr_limit(); nr++) {
            uint32_t r = run_filter(prog, n, arch32, (uint32_t)nr);
            bool want = tsc_lookup_arch(arch32, nr) != NULL;
            if (r != (want ? trace : SECCOMP_RET_ALLOW))
                mismatches++;
            traced += r == trace;
        }
        CHECK_INT(mismatches, 0);
        CHECK_INT(traced, (int)tsc_compat_count());
    }
#if defined(__x86_64__)
    CHECK_U64(arch32, AUDIT_ARCH_I386);
    /* i386 numbers: read 3, write 4, open 5, close 6, _llseek 140, mmap2 192 */
    CHECK(tsc_lookup_arch(arch32, 3)->op == TSC_READ);
    CHECK(tsc_lookup_arch(arch32, 4)->op == TSC_WRITE);
    CHECK(tsc_lookup_arch(arch32, 5)->op == TSC_OPEN);
    CHECK(tsc_lookup_arch(arch32, 6)->op == TSC_CLOSE);
    CHECK(tsc_lookup_arch(arch32, 140)->op == TSC_SEEK);
    CHECK(tsc_lookup_arch(arch32, 192)->op == TSC_MMAP);
    CHECK(tsc_lookup_arch(arch32, 102)->op == TSC_UNDECODED); /* socketcall */
    CHECK(tsc_lookup_arch(arch32, 0) == NULL);                /* restart_syscall */
    CHECK(tsc_lookup_arch(AUDIT_ARCH_X86_64, 3)->op == TSC_CLOSE);
#endif
    CHECK(tsc_lookup_arch(0x12345678u, __NR_read) == NULL);
    CHECK(tsc_lookup(__NR_msync)->aux == META_FSYNC);
    CHECK(tsc_lookup(__NR_vmsplice)->op == TSC_VMSPLICE);
    CHECK(tsc_lookup(__NR_rt_sigreturn)->op == TSC_SIGRETURN);
    CHECK_U64(run_filter(prog, n, 0x12345678u, __NR_read), SECCOMP_RET_ALLOW);
    CHECK_U64(run_filter(prog, n, arch, 0x40000000u | __NR_read), SECCOMP_RET_ALLOW);
}

static void test_rows_and_data(void)
{
    struct tstate s;
    struct report r;
    report_init(&r);
    tstate_init(&s, (1u << FDK_FILE) | (1u << FDK_BLOCKDEV), &r);
    int32_t a = tstate_row(&s, "/a", FDK_FILE);
    int32_t b = tstate_row(&s, "/b", FDK_FILE);
    int32_t d = tstate_row(&s, "/dev/null", FDK_CHARDEV);
    CHECK_INT(a, 0);
    CHECK_INT(b, 1);
    CHECK_INT(tstate_row(&s, "/a", FDK_FILE), 0);
    /* many rows: the hash table grows and keeps every one */
    char p[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(p, sizeof(p), "/many/%d", i);
        CHECK_INT(tstate_row(&s, p, FDK_FILE), 3 + i);
    }
    snprintf(p, sizeof(p), "/many/%d", 1234);
    CHECK_INT(tstate_row(&s, p, FDK_FILE), 3 + 1234);
    for (int i = 0; i < 2560; i++)
        tstate_data(&s, true, FDK_FILE, a, 4096, 5000);
    tstate_data(&s, false, FDK_FILE, b, 0, 100);
    tstate_data(&s, false, FDK_FILE, b, 1, 100);
    tstate_data(&s, false, FDK_CHARDEV, d, 777, 100);
    tstate_data(&s, true, FDK_PIPE, -1, 10, 100);
    tstate_seek(&s, b);
    tstate_meta(&s, META_UNLINK);
    s.rows[a].opens = 1;
    tstate_fill_report(&s, &r, 2);
    CHECK_U64(r.write_ops, 2560);
    CHECK_U64(r.write_bytes, 10485760);
    CHECK_U64(r.read_ops, 2);
    CHECK_U64(r.read_bytes, 1);
    CHECK_U64(r.by_kind[FDK_CHARDEV].read_bytes, 777);
    CHECK_U64(r.by_kind[FDK_PIPE].write_ops, 1);
    CHECK_U64(r.size_hist[report_size_bucket(4096)].write_ops, 2560);
    CHECK_U64(r.size_hist[0].read_ops, 1);
    CHECK_U64(r.size_hist[1].read_ops, 1);
    CHECK_U64(r.size_hist[report_size_bucket(777)].read_ops, 0); /* chardev: not in hist */
    CHECK_U64(r.lat_hist[report_lat_bucket(5000)].write_ops, 2560);
    CHECK_U64(r.meta_ops[META_SEEK], 1);
    CHECK_U64(r.meta_ops[META_UNLINK], 1);
    CHECK(r.detailed && r.has_latency && !r.fds.sampled);
    /* rows: the used file rows only (not /dev/null, not untouched ones), top 2 */
    CHECK_U64(r.files_total, 2);
    CHECK_U64(r.nfiles, 2);
    CHECK_STR(r.files[0].path, "/a");
    CHECK_U64(r.files[0].write_ops, 2560);
    CHECK_STR(r.files[1].path, "/b");
    CHECK_U64(r.files[1].seeks, 1);
    tstate_release(&s);
    report_release(&r);
}

static void test_fdtables(void)
{
    struct tstate s;
    struct report r;
    report_init(&r);
    tstate_init(&s, 1u << FDK_FILE, &r);
    struct tfdtab *root = tfdtab_new(true);
    tfdtab_set(&s, root, 0, FDK_CHARDEV, -1, 0);
    tfdtab_set(&s, root, 1, FDK_PIPE, -1, 0);
    tfdtab_set(&s, root, 2, FDK_PIPE, -1, 0);
    s.fds_start = s.fds_now;
    CHECK_INT(s.fds_now, 3);
    int32_t row = tstate_row(&s, "/tmp/x", FDK_FILE);
    tfdtab_set(&s, root, 3, FDK_FILE, row, TFD_OURS | TFD_CLOEXEC);
    tfdtab_set(&s, root, 200, FDK_FILE, row, TFD_OURS); /* grows the table */
    CHECK_INT(s.fds_now, 5);
    CHECK(tfdtab_get(root, 200) != NULL);
    CHECK(tfdtab_get(root, 199) == NULL);
    CHECK(tfdtab_get(root, 100000) == NULL);
    CHECK(tfdtab_get(root, -1) == NULL);
    /* fork: a copy, counted, none of it ours */
    struct tfdtab *child = tfdtab_copy(root);
    tstate_count_table(&s, child);
    CHECK_INT(s.fds_now, 10);
    CHECK_INT(s.fds_peak, 10);
    CHECK(!(tfdtab_get(child, 3)->flags & TFD_OURS));
    /* exec in the child: the close-on-exec descriptor goes */
    tfdtab_exec(&s, child);
    CHECK(tfdtab_get(child, 3) == NULL);
    CHECK_INT(child->nopen, 4);
    tfdtab_set(&s, child, 7, FDK_SOCKET, -1, TFD_OURS);
    tfdtab_set(&s, child, 1, FDK_FILE, row, TFD_OURS); /* a redirection: not a leak */
    /* the child exits: its socket leaks; its inherited ones are not kept */
    tfdtab_unref(&s, child, 1234, true);
    CHECK_U64(r.fds.nleaked, 1);
    CHECK_INT(r.fds.leaked[0].fd, 7);
    CHECK_INT(r.fds.leaked[0].pid, 1234);
    CHECK_INT(r.fds.leaked[0].kind, FDK_SOCKET);
    CHECK(r.fds.leaked[0].path == NULL);
    /* the root closes stdin, keeps fd 3 and 200 open, exits */
    tfdtab_close(&s, root, 0);
    tfdtab_close(&s, root, 0); /* closing twice changes nothing */
    tfdtab_unref(&s, root, 99, true);
    CHECK_U64(r.fds.nleaked, 3);
    CHECK_STR(r.fds.leaked[1].path, "/tmp/x");
    CHECK_INT(r.fds.leaked[2].fd, 200);
    tstate_fill_report(&s, &r, 10);
    CHECK_INT(r.fds.start, 3);
    CHECK_INT(r.fds.peak, 10);
    /* end: the root's two remaining stdio + its two leaks + the child's leak */
    CHECK_INT(r.fds.end, 5);
    tstate_release(&s);
    report_release(&r);
}

static void test_parsers(void)
{
    unsigned f = 0;
    const char *t = "pos:\t0\nflags:\t02100002\nmnt_id:\t15\n";
    CHECK_INT(tstate_parse_fdinfo_flags(t, strlen(t), &f), 0);
    CHECK_U64(f, 02100002);
    t = "pos:\t0\nflags:\t\n";
    CHECK_INT(tstate_parse_fdinfo_flags(t, strlen(t), &f), -EBADMSG);
    t = "flags:\t0778\n";
    CHECK_INT(tstate_parse_fdinfo_flags(t, strlen(t), &f), -EBADMSG);
    t = "flags:\t077777777777777777777777\n";
    CHECK_INT(tstate_parse_fdinfo_flags(t, strlen(t), &f), -EBADMSG);
    t = "pos:\t0\n";
    CHECK_INT(tstate_parse_fdinfo_flags(t, strlen(t), &f), -EBADMSG);
    char big[TSTATE_MAX_FDINFO + 2];
    memset(big, 'x', sizeof(big));
    CHECK_INT(tstate_parse_fdinfo_flags(big, sizeof(big), &f), -EBADMSG);
    CHECK_INT(tstate_kind_from_link("pipe:[123]", 0), FDK_PIPE);
    CHECK_INT(tstate_kind_from_link("socket:[9]", 0), FDK_SOCKET);
    CHECK_INT(tstate_kind_from_link("anon_inode:[eventfd]", 0), FDK_ANON);
    CHECK_INT(tstate_kind_from_link("/memfd:x (deleted)", S_IFREG), FDK_ANON);
    CHECK_INT(tstate_kind_from_link("/dev/null", S_IFCHR), FDK_CHARDEV);
    CHECK_INT(tstate_kind_from_link("/dev/sda", S_IFBLK), FDK_BLOCKDEV);
    CHECK_INT(tstate_kind_from_link("/tmp/fifo", S_IFIFO), FDK_PIPE);
    CHECK_INT(tstate_kind_from_link("/tmp/f", S_IFREG), FDK_FILE);
    CHECK_INT(tstate_kind_from_link("/tmp", S_IFDIR), FDK_FILE);
}

/* Appends one cmsghdr (64-bit: u64 len; compat: u32 len) with nfds ints. */
static size_t put_cmsg(unsigned char *b, size_t off, bool compat, int level, int type,
                       const int *fds, size_t nfds)
{
    size_t hdr = compat ? 12 : 16, align = compat ? 4 : 8, len = hdr + nfds * sizeof(int);
    if (compat) {
        uint32_t l = (uint32_t)len;
        memcpy(b + off, &l, 4);
    } else {
        uint64_t l = len;
        memcpy(b + off, &l, 8);
    }
    memcpy(b + off + hdr - 8, &level, 4);
    memcpy(b + off + hdr - 4, &type, 4);
    memcpy(b + off + hdr, fds, nfds * sizeof(int));
    return off + ((len + align - 1) & ~(align - 1));
}

static void test_scm_rights(void)
{
    unsigned char b[TSTATE_MAX_CMSG + 8];
    int fds[TSTATE_MAX_SCM_FDS], three[] = {5, 6, 7}, one[] = {9}, cred[] = {1, 2, 3};
    for (int compat = 0; compat <= 1; compat++) {
        memset(b, 0, sizeof(b));
        /* SCM_CREDENTIALS (type 2) first, then SCM_RIGHTS with 3, then 1 */
        size_t n = put_cmsg(b, 0, compat, 1, 2, cred, 3);
        n = put_cmsg(b, n, compat, 1, 1, three, 3);
        size_t before_last = n;
        n = put_cmsg(b, n, compat, 1, 1, one, 1);
        CHECK_INT(tstate_parse_scm_rights(b, n, compat, fds, TSTATE_MAX_SCM_FDS), 4);
        CHECK_INT(fds[0], 5);
        CHECK_INT(fds[2], 7);
        CHECK_INT(fds[3], 9);
        /* the cap on descriptors */
        CHECK_INT(tstate_parse_scm_rights(b, n, compat, fds, 2), 2);
        /* cut inside the last message's header: the first three only */
        CHECK_INT(tstate_parse_scm_rights(b, before_last + 4, compat, fds, TSTATE_MAX_SCM_FDS), 3);
        /* a length beyond the buffer: only the descriptors that are there */
        CHECK_INT(tstate_parse_scm_rights(b, before_last + (compat ? 12 : 16) + 2, compat, fds,
                                          TSTATE_MAX_SCM_FDS),
                  3);
        /* another level (not SOL_SOCKET) */
        n = put_cmsg(b, 0, compat, 41, 1, three, 3);
        CHECK_INT(tstate_parse_scm_rights(b, n, compat, fds, TSTATE_MAX_SCM_FDS), 0);
        /* a length shorter than the header stops the walk */
        n = put_cmsg(b, 0, compat, 1, 1, three, 3);
        memset(b, 0, 4);
        CHECK_INT(tstate_parse_scm_rights(b, n, compat, fds, TSTATE_MAX_SCM_FDS), 0);
        CHECK_INT(tstate_parse_scm_rights(b, 0, compat, fds, TSTATE_MAX_SCM_FDS), 0);
        CHECK_INT(tstate_parse_scm_rights(b, sizeof(b), compat, fds, TSTATE_MAX_SCM_FDS), -EBADMSG);
    }
    /* a huge 64-bit length: no overflow, the descriptors in the buffer */
    memset(b, 0, sizeof(b));
    size_t n = put_cmsg(b, 0, false, 1, 1, three, 3);
    uint64_t huge = ~0ull;
    memcpy(b, &huge, 8);
    CHECK_INT(tstate_parse_scm_rights(b, 16 + 12, false, fds, TSTATE_MAX_SCM_FDS), 3);
    CHECK_INT(fds[2], 7);
    /* the 64-bit layout read as compat is another message: never past the end */
    n = put_cmsg(b, 0, false, 1, 1, three, 3);
    CHECK(tstate_parse_scm_rights(b, n, true, fds, TSTATE_MAX_SCM_FDS) >= 0);
}

int main(void)
{
    test_table();
    test_filter();
    test_rows_and_data();
    test_fdtables();
    test_parsers();
    test_scm_rights();
    return tap_done("test_trace_state");
}
