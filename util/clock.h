/* clock: monotonic and wall-clock time in seconds and nanoseconds. */
#ifndef IOPSD_CLOCK_H
#define IOPSD_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ns(void);
double clock_wall_seconds(void);

#endif
