/* render: a report turned into what people read: a text table, an HTML table,
 * a PNG of the histograms, and the bundle of all four for a notebook. */
#ifndef IOPSD_RENDER_H
#define IOPSD_RENDER_H

#include "measure/report.h"
#include "util/buf.h"

/* Appends the aligned text table of r to out. Returns 0 or -errno. */
int render_text(const struct report *r, struct buf *out);

#endif
