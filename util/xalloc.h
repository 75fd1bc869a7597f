/* xalloc: allocation wrappers that abort with a message on out-of-memory. */
#ifndef IOPSD_XALLOC_H
#define IOPSD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array to hold at least `need` elements of `elsize`; doubles. */
void *xgrow(void *p, size_t *cap, size_t need, size_t elsize);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
