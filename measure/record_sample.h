/* record_sample: one sample of a process tree for `iopsd record` (Linux). */
#ifndef IOPSD_RECORD_SAMPLE_H
#define IOPSD_RECORD_SAMPLE_H

#include <stddef.h>
#include <sys/types.h>

#include "measure/record.h"

/* Samples the processes roots[0..nroots) and all their descendants (a root
 * that is iopsd's own pid stands for its descendants only) into (*rows)[],
 * grown as needed (the caller frees), every row stamped with ts. Returns the
 * number of rows (0: the tree has gone) or -errno when /proc cannot be read. */
long rec_sample(const pid_t *roots, size_t nroots, double ts, struct rec_row **rows, size_t *cap);

#endif
