/* bundle: every representation of one report (text, HTML, PNG, JSON) in one
 * structure, and its shape as a Jupyter display_data (data + metadata). */
#include "measure/report_json.h"
#include "render/render_int.h"

#include <errno.h>
#include <string.h>

void display_bundle_init(struct display_bundle *b)
{
    memset(b, 0, sizeof(*b));
    buf_init(&b->text, 0);
    buf_init(&b->html, 0);
    buf_init(&b->png, 0);
}

void display_bundle_release(struct display_bundle *b)
{
    buf_release(&b->text);
    buf_release(&b->html);
    buf_release(&b->png);
    if (b->json)
        json_decref(b->json);
    display_bundle_init(b);
}

int render_bundle(const struct report *r, const struct render_opts *o, struct display_bundle *b)
{
    struct render_opts def;
    if (!o) {
        render_opts_init(&def);
        o = &def;
    }
    int rc = render_text_opts(r, o, &b->text);
    if (rc < 0)
        return rc;
    rc = render_png(r, o, &b->png, &b->png_info);
    if (rc == 0)
        b->has_png = true;
    else if (rc != -ENODATA)
        return rc;
    rc = render__html(r, o, o->html_image && b->has_png ? &b->png : NULL, &b->png_info, &b->html);
    if (rc < 0)
        return rc;
    b->json = report_to_json(r);
    return b->json ? 0 : -ENOMEM;
}

int display_bundle_to_jupyter(const struct display_bundle *b, json_t **data, json_t **metadata)
{
    json_t *d = json_object(), *m = json_object();
    if (!d || !m)
        goto fail;
    json_object_set_new(d, "text/plain",
                        json_stringn(b->text.data ? b->text.data : "", b->text.len));
    json_object_set_new(d, "text/html",
                        json_stringn(b->html.data ? b->html.data : "", b->html.len));
    if (b->json)
        json_object_set(d, "application/json", b->json);
    if (b->has_png) {
        struct buf s;
        buf_init(&s, 0);
        if (render_base64(&s, b->png.data, b->png.len) < 0) {
            buf_release(&s);
            goto fail;
        }
        json_object_set_new(d, "image/png", json_stringn(s.data, s.len));
        buf_release(&s);
        json_t *pm = json_object();
        json_object_set_new(pm, "width", json_integer(b->png_info.display_width));
        json_object_set_new(pm, "height", json_integer(b->png_info.display_height));
        json_object_set_new(m, "image/png", pm);
    }
    *data = d;
    *metadata = m;
    return 0;
fail:
    json_decref(d);
    json_decref(m);
    return -ENOMEM;
}
