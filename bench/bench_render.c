/* bench_render: times a full render (text, HTML, PNG, display bundle) of the
 * constructed reports and reports the PNG sizes; `--dump DIR` also writes
 * every fixture's NAME.txt, NAME.html (with the image) and NAME.png to DIR
 * for looking at. Run by hand: build/tests/bench_render [--dump DIR] [N]. */
#include "render/render.h"
#include "tests/unit/test_render_fixtures.h"
#include "util/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dump(const char *dir, const char *name, const char *ext, const struct buf *b)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return;
    }
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int n = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dump") && i + 1 < argc)
            dir = argv[++i];
        else
            n = atoi(argv[i]) > 0 ? atoi(argv[i]) : n;
    }
    printf("%-14s %10s %10s %10s %10s %10s %9s\n", "fixture", "text ms", "html ms", "png ms",
           "bundle ms", "png bytes", "png px");
    for (const struct render_fixture *fx = render_fixtures; fx->name; fx++) {
        struct report r;
        report_init(&r);
        fx->build(&r);
        struct render_opts o;
        render_opts_init(&o);
        o.html_image = false;
        double t_text = 0, t_html = 0, t_png = 0, t_bundle = 0;
        size_t png_len = 0;
        struct render_png_info info = {0};
        for (int i = 0; i < n; i++) {
            struct buf b;
            buf_init(&b, 0);
            double t = now();
            render_text(&r, &b);
            t_text += now() - t;
            buf_reset(&b);
            t = now();
            render_html(&r, &o, &b);
            t_html += now() - t;
            buf_reset(&b);
            t = now();
            int rc = render_png(&r, &o, &b, &info);
            t_png += now() - t;
            png_len = rc == 0 ? b.len : 0;
            buf_release(&b);
            struct display_bundle db;
            display_bundle_init(&db);
            t = now();
            render_bundle(&r, NULL, &db);
            t_bundle += now() - t;
            if (dir && i == 0) {
                dump(dir, fx->name, "txt", &db.text);
                dump(dir, fx->name, "html", &db.html);
                if (db.has_png)
                    dump(dir, fx->name, "png", &db.png);
            }
            display_bundle_release(&db);
        }
        char px[32] = "-";
        if (png_len)
            snprintf(px, sizeof(px), "%ux%u", info.width, info.height);
        printf("%-14s %10.3f %10.3f %10.3f %10.3f %10zu %9s\n", fx->name, t_text * 1e3 / n,
               t_html * 1e3 / n, t_png * 1e3 / n, t_bundle * 1e3 / n, png_len, px);
        report_release(&r);
    }
    return 0;
}
