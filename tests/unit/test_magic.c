/* test_magic: `%%iops` / `%iops` parsing: options, splitting of the cell,
 * errors. */
#include "magics/magic.h"
#include "measure/report.h"
#include "tests/unit/tap.h"

#include <errno.h>

static int parse(const char *cell, struct magic *m, char *err)
{
    err[0] = '\0';
    return magic_parse(cell, m, err, 256);
}

static void test_none(void)
{
    struct magic m;
    char err[256];
    magic_init(&m);
    CHECK_INT(parse("echo hi\nls\n", &m, err), 0);
    CHECK_INT(m.kind, MAGIC_NONE);
    CHECK_STR(m.measured, "echo hi\nls\n");
    CHECK_STR(m.before, "");
    /* %%iops not on the first line is not a cell magic; "%iopsx" is no magic */
    CHECK_INT(parse("echo\n%%iops\n", &m, err), 0);
    CHECK_INT(m.kind, MAGIC_NONE);
    CHECK_INT(parse("%iopsx ls", &m, err), 0);
    CHECK_INT(m.kind, MAGIC_NONE);
    magic_release(&m);
}

static void test_cell(void)
{
    struct magic m;
    char err[256];
    magic_init(&m);
    CHECK_INT(parse("%%iops\ndd if=/dev/zero of=f bs=4096 count=2560\necho done", &m, err), 0);
    CHECK_INT(m.kind, MAGIC_CELL);
    CHECK_STR(m.backend, "auto");
    CHECK(m.histograms);
    CHECK_INT(m.top_files, -1);
    CHECK_STR(m.before, "");
    CHECK_STR(m.measured, "dd if=/dev/zero of=f bs=4096 count=2560\necho done");
    CHECK_STR(m.after, "");

    CHECK_INT(parse("%%iops --backend=trace -n 5 --no-histogram --json out.json -q\r\nls", &m, err),
              0);
    CHECK_STR(m.backend, "trace");
    CHECK_INT(m.top_files, 5);
    CHECK(!m.histograms);
    CHECK_STR(m.json_path, "out.json");
    CHECK(m.quiet);
    CHECK_STR(m.measured, "ls");

    CHECK_INT(parse("  %%iops -b proc", &m, err), 0);
    CHECK_INT(m.kind, MAGIC_CELL);
    CHECK_STR(m.backend, "proc");
    CHECK_STR(m.measured, "");

    CHECK_INT(parse("%%iops --help\nls", &m, err), 0);
    CHECK(m.help);
    magic_release(&m);
}

static void test_line(void)
{
    struct magic m;
    char err[256];
    magic_init(&m);
    CHECK_INT(
        parse("cd /tmp\n%iops -b proc dd if=/dev/zero of='a b' bs=4096\necho after\n", &m, err), 0);
    CHECK_INT(m.kind, MAGIC_LINE);
    CHECK_STR(m.backend, "proc");
    CHECK_STR(m.before, "cd /tmp\n");
    CHECK_STR(m.measured, "dd if=/dev/zero of='a b' bs=4096");
    CHECK_STR(m.after, "echo after\n");

    /* `--` ends the options: the statement may start with a dash */
    CHECK_INT(parse("%iops --top 3 -- -weird-command x", &m, err), 0);
    CHECK_INT(m.top_files, 3);
    CHECK_STR(m.measured, "-weird-command x");

    /* quoted option values are unquoted; the statement keeps its quoting */
    CHECK_INT(parse("%iops --backend \"proc\" echo \"a  b\" 'c'", &m, err), 0);
    CHECK_STR(m.backend, "proc");
    CHECK_STR(m.measured, "echo \"a  b\" 'c'");

    CHECK_INT(parse("%iops --help", &m, err), 0);
    CHECK(m.help);
    magic_release(&m);
}

/* The parts every kernel runs a magic cell as (magic_parts). */
static void test_parts(void)
{
    struct magic m;
    struct magic_parts p;
    char err[256];
    magic_init(&m);
    const char *cell = "x = 1\n%iops -b trace f.write(b'a')\nprint(x)";
    CHECK_INT(parse(cell, &m, err), 0);
    magic_parts(&m, cell, &p);
    CHECK_INT(p.n, 3);
    CHECK_INT(p.measured, 1);
    CHECK_STR(p.code[0], "x = 1\n");
    CHECK_STR(p.code[1], "f.write(b'a')");
    CHECK_STR(p.code[2], "print(x)");
    CHECK(!p.indented);

    /* blank parts are left out; the measured one never is */
    cell = "  \n%iops f()\n\n";
    CHECK_INT(parse(cell, &m, err), 0);
    magic_parts(&m, cell, &p);
    CHECK_INT(p.n, 1);
    CHECK_INT(p.measured, 0);
    CHECK_STR(p.code[0], "f()");
    cell = "%%iops\n";
    CHECK_INT(parse(cell, &m, err), 0);
    magic_parts(&m, cell, &p);
    CHECK_INT(p.n, 1);
    CHECK_STR(p.code[0], "");
    CHECK(!p.indented);

    /* a %iops line inside a block */
    cell = "for i in range(2):\n    %iops print(i)\n";
    CHECK_INT(parse(cell, &m, err), 0);
    magic_parts(&m, cell, &p);
    CHECK(p.indented);
    CHECK_INT(p.n, 2);
    CHECK_STR(p.code[0], "for i in range(2):\n");
    cell = "a\n\t%iops auto on\nb";
    CHECK_INT(parse(cell, &m, err), 0);
    CHECK_INT(m.kind, MAGIC_CONTROL);
    magic_parts(&m, cell, &p);
    CHECK(p.indented);
    CHECK_INT(p.n, 3);
    CHECK_INT(p.measured, 1);
    CHECK(magic_blank(" \t\r\n"));
    CHECK(!magic_blank(" x"));
    magic_release(&m);
}

static void test_errors(void)
{
    struct magic m;
    char err[256];
    magic_init(&m);
    CHECK_INT(parse("%%iops --bogus\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: unknown option '--bogus'");
    CHECK_INT(parse("%%iops -x\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: unknown option '-x'");
    CHECK_INT(parse("%%iops --top\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: option '--top' needs an argument");
    CHECK_INT(parse("%%iops --top=-1\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: --top: '-1' is not a count");
    CHECK_INT(parse("%%iops --json\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: option '--json' needs an argument");
    CHECK_INT(parse("%%iops --no-histogram=1\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: option '--no-histogram' takes no argument");
    CHECK_INT(parse("%%iops --hist-kinds file,pipe\nls", &m, err), 0);
    CHECK_INT(m.hist_kinds, (1u << FDK_FILE) | (1u << FDK_PIPE));
    CHECK_INT(parse("%%iops --hist-kinds disk\nls", &m, err), -EINVAL);
    CHECK_INT(parse("%%iops -b nfs\nls", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: unknown backend 'nfs' (auto, proc or trace)");
    CHECK_INT(parse("%%iops ls\n", &m, err), -EINVAL);
    CHECK_STR(err, "%%iops: unexpected argument 'ls' (the code goes on the lines below)");
    CHECK_INT(parse("%iops -b proc", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: no statement to measure");
    CHECK_INT(parse("%iops echo 'oops", &m, err), -EINVAL);
    CHECK_STR(err, "%iops: unterminated ' quote");
    CHECK_INT(parse("%iops --backend waytoolongbackendname ls", &m, err), -EINVAL);
    CHECK_INT(m.kind, MAGIC_NONE);
    CHECK(m.measured == NULL);

    static char longline[MAGIC_MAX_LINE + 64];
    memset(longline, 'a', sizeof(longline) - 1);
    memcpy(longline, "%iops ", 6);
    CHECK_INT(parse(longline, &m, err), -EINVAL);
    CHECK(strstr(magic_usage(), "--backend") != NULL);
    magic_release(&m);
}

static void test_timeline_option(void)
{
    struct magic m;
    char err[256];
    magic_init(&m);
    CHECK_INT(parse("%%iops\nls", &m, err), 0);
    CHECK(m.timeline == 0);
    magic_release(&m);
    CHECK_INT(parse("%%iops --timeline\nls", &m, err), 0);
    CHECK(m.timeline == 0.1);
    magic_release(&m);
    CHECK_INT(parse("%%iops -b proc --timeline=0.05\nls", &m, err), 0);
    CHECK(m.timeline == 0.05);
    CHECK_STR(m.backend, "proc");
    magic_release(&m);
    CHECK_INT(parse("%iops --timeline=2 sleep 1", &m, err), 0);
    CHECK(m.timeline == 2);
    CHECK_STR(m.measured, "sleep 1");
    magic_release(&m);
    CHECK_INT(parse("%%iops --timeline --fdprof --leak-threshold 3\nls", &m, err), 0);
    CHECK(m.tl_params.compat);
    CHECK(m.tl_params.leak_threshold == 3);
    CHECK(m.tl_params.tolerance == 2.0);
    magic_release(&m);
    CHECK_INT(parse("%%iops --leak-threshold=-1\nls", &m, err), -EINVAL);
    CHECK_INT(parse("%%iops --timeline=0\nls", &m, err), -EINVAL);
    CHECK(strstr(err, "--timeline") != NULL);
    CHECK_INT(parse("%%iops --timeline=x\nls", &m, err), -EINVAL);
    CHECK_INT(parse("%%iops --timeline=3601\nls", &m, err), -EINVAL);
    magic_release(&m);
}

int main(void)
{
    test_timeline_option();
    test_none();
    test_cell();
    test_line();
    test_parts();
    test_errors();
    return tap_done("test_magic");
}
