/* fuzz_report_json: report_from_json on any bytes that parse as JSON, and a
 * round trip of what it accepted. */
#include "measure/report_json.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    struct report r;
    char err[256];
    report_init(&r);
    if (report_from_json(doc, &r, err, sizeof(err)) == 0) {
        char *s = report_to_json_text(&r);
        free(s);
    }
    report_release(&r);
    json_decref(doc);
    return 0;
}
