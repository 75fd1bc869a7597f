/* test_render_golden: the text and HTML tables of every constructed report
 * compared byte for byte with tests/fixtures/golden/NAME.{txt,html}.
 * IOPSD_REGEN_GOLDEN=1 rewrites the golden files instead (review them by eye). */
#include "render/render.h"
#include "tests/unit/tap.h"
#include "tests/unit/test_render_fixtures.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void compare(const char *name, const char *ext, const struct buf *got, bool regen)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fixtures/golden/%s.%s", tap_source_dir(), name, ext);
    if (regen) {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (f) {
            fwrite(got->data, 1, got->len, f);
            fclose(f);
        }
        return;
    }
    struct buf want;
    buf_init(&want, 0);
    int rc = buf_slurp(&want, path, 1 << 20);
    if (rc) {
        tap_fail(__FILE__, __LINE__, "cannot read %s (rc %d); run with IOPSD_REGEN_GOLDEN=1", path,
                 rc);
    } else if (want.len != got->len || memcmp(want.data, got->data, got->len)) {
        size_t i = 0;
        while (i < want.len && i < got->len && want.data[i] == got->data[i])
            i++;
        tap_fail(__FILE__, __LINE__, "%s differs from the golden file at byte %zu:\n%s", path, i,
                 got->data);
    } else {
        tap_checks++;
    }
    buf_release(&want);
}

int main(void)
{
    const char *env = getenv("IOPSD_REGEN_GOLDEN");
    bool regen = env && !strcmp(env, "1");
    for (const struct render_fixture *fx = render_fixtures; fx->name; fx++) {
        struct report r;
        report_init(&r);
        fx->build(&r);

        struct buf text;
        buf_init(&text, 0);
        CHECK_INT(render_text(&r, &text), 0);
        compare(fx->name, "txt", &text, regen);

        struct render_opts o;
        render_opts_init(&o);
        o.html_image = false;
        struct buf html;
        buf_init(&html, 0);
        CHECK_INT(render_html(&r, &o, &html), 0);
        compare(fx->name, "html", &html, regen);

        /* Same bytes twice: no hidden state, no time-dependent output. */
        struct buf again;
        buf_init(&again, 0);
        CHECK_INT(render_text(&r, &again), 0);
        CHECK(again.len == text.len && !memcmp(again.data, text.data, text.len));

        /* ASCII mode: no byte above 0x7f, every line as wide as in UTF-8. */
        o.ascii = true;
        struct buf ascii;
        buf_init(&ascii, 0);
        CHECK_INT(render_text_opts(&r, &o, &ascii), 0);
        size_t high = 0;
        for (size_t i = 0; i < ascii.len; i++)
            high += (unsigned char)ascii.data[i] >= 0x80;
        CHECK_U64(high, 0);
        const char *u = text.data, *a = ascii.data;
        while (*u && *a) {
            size_t ul = strcspn(u, "\n"), al = strcspn(a, "\n");
            size_t uw = 0;
            for (size_t i = 0; i < ul; i++)
                uw += ((unsigned char)u[i] & 0xc0) != 0x80;
            CHECK_U64(al, uw);
            u += ul + (u[ul] == '\n');
            a += al + (a[al] == '\n');
        }
        CHECK(!*u && !*a);
        buf_release(&ascii);

        buf_release(&text);
        buf_release(&html);
        buf_release(&again);
        report_release(&r);
    }
    return tap_done("test_render_golden");
}
