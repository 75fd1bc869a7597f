/* report_json: a report <-> its JSON document (schema "iopsd-report/1",
 * documented in docs/report-format.md). */
#ifndef IOPSD_REPORT_JSON_H
#define IOPSD_REPORT_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "measure/report.h"

/* Returns a new reference to the report's JSON object. */
json_t *report_to_json(const struct report *r);
/* Serialises with 2-space indentation and a trailing newline; caller frees. */
char *report_to_json_text(const struct report *r);

/* Fills r (which must be report_init()ed) from a JSON document. Returns 0, or
 * -EINVAL with a one-line reason in err. Accepts what report_to_json writes;
 * unknown members are ignored, missing ones left zero. */
int report_from_json(const json_t *doc, struct report *r, char *err, size_t errlen);

#endif
