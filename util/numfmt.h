/* numfmt: numbers as people read them, shared by the renderers and by the
 * texts that other modules write (findings, progress lines). */
#ifndef IOPSD_NUMFMT_H
#define IOPSD_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* "1,234,567". Returns s. */
char *numfmt_count(char *s, size_t n, uint64_t v);
/* "512 B", "4.00 KiB", "10.00 MiB": binary units, 2 decimals. Returns s. */
char *numfmt_bytes(char *s, size_t n, uint64_t v);

#endif
