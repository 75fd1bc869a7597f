/* text: the report as an aligned plain-text table (terminal, text/plain). */
#include "render/render.h"

#include <inttypes.h>

int render_text(const struct report *r, struct buf *out)
{
    buf_printf(out, "iopsd report (backend: %s)\n", r->backend);
    buf_printf(out, "  read ops   %" PRIu64 "\n  write ops  %" PRIu64 "\n", r->read_ops,
               r->write_ops);
    buf_printf(out, "  read B     %" PRIu64 "\n  write B    %" PRIu64 "\n", r->read_bytes,
               r->write_bytes);
    buf_printf(out, "  wall       %.6f s\n", r->wall_seconds);
    buf_printf(out, "  fds        start %ld peak %ld end %ld\n", r->fds.start, r->fds.peak,
               r->fds.end);
    return 0;
}
