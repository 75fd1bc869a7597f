/* test_render_fixtures: constructed reports for the render tests, the fuzz
 * seeds and the benchmark (empty, tiny, huge, full, failed, signal, proc). */
#ifndef IOPSD_TEST_RENDER_FIXTURES_H
#define IOPSD_TEST_RENDER_FIXTURES_H

#include "measure/report.h"

struct render_fixture {
    const char *name;
    void (*build)(struct report *r); /* r is report_init()ed */
};

/* NULL-terminated list of every fixture. */
extern const struct render_fixture render_fixtures[];

/* The fixture named name built into r (report_init()ed by the caller); 0, or -1 if unknown. */
int render_fixture_build(const char *name, struct report *r);

#endif
