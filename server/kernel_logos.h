/* kernel_logos: PNG bytes of the kernel spec's logos, embedded in iopsd. */
#ifndef IOPSD_KERNEL_LOGOS_H
#define IOPSD_KERNEL_LOGOS_H

#include <stddef.h>

extern const unsigned char kernel_logo_32[];
extern const size_t kernel_logo_32_len;
extern const unsigned char kernel_logo_64[];
extern const size_t kernel_logo_64_len;

#endif
