/* fuzz_timeline_events: program output (untrusted) through the line splitter
 * and the EVENT parser, in pieces of every size the input asks for. */
#include "measure/timeline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    double ts;
    const char *msg;
    size_t len;
    if (tl_parse_event(copy, size, &ts, &msg, &len) == 0 &&
        (msg < copy || msg + len > copy + size || len == 0))
        abort();
    struct timeline *tl = timeline_new(0.1, 0);
    struct tl_eventfeed f;
    tl_eventfeed_init(&f, tl, TL_SRC_STDOUT);
    /* The first byte picks the piece size, so cuts fall everywhere. */
    size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
    for (size_t i = 0; i < size; i += step)
        tl_eventfeed_feed(&f, copy + i, size - i < step ? size - i : step);
    tl_eventfeed_finish(&f);
    for (size_t i = 0; i < tl->nevents; i++)
        if (strlen(tl->events[i].message) > TL_EVENT_MSG_MAX)
            abort();
    if (tl->nevents > TL_MAX_EVENTS)
        abort();
    timeline_free(tl);
    free(copy);
    return 0;
}
