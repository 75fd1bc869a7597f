/* record_pids: the argument of `iopsd record --pid` / `iopsd plot --pid`. */
#ifndef IOPSD_RECORD_PIDS_H
#define IOPSD_RECORD_PIDS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many pids in one list. */
#define RECORD_MAX_PIDS 1024

/* Parses "PID[,PID...]" (decimal, 1..2^22, no spaces, no empty items) into
 * out[0..max), appending after *n. Returns 0, or -1 after printing one line
 * saying why (option names it). */
int record_parse_pids(const char *option, const char *arg, int64_t *out, size_t max, size_t *n);

#endif
