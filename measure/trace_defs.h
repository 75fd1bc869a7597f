/* trace_defs: the macros that spell a syscall table (trace_sys_linux.c for
 * the native architecture, trace_sys32_linux.c for i386 on x86-64). Each
 * file includes its own <asm/unistd*.h>, so __NR_##name is that ABI's
 * number. Private to those two files. */
#ifndef IOPSD_TRACE_DEFS_H
#define IOPSD_TRACE_DEFS_H

#include "measure/trace.h"

/* Flag values spelled out so the table does not depend on which headers
 * define them; they are the same on both architectures. */
#define CX_O_CLOEXEC 02000000u /* O_CLOEXEC = SOCK_CLOEXEC = EFD_ = TFD_ = SFD_ = IN_ */
#define CX_MFD       0x1u      /* MFD_CLOEXEC, FAN_CLOEXEC */
#define CX_PERF      0x8u      /* PERF_FLAG_FD_CLOEXEC */

struct tsc_def {
    long nr;
    struct tsc_entry e;
};

/* The compat ABI's table (trace_sys32_linux.c): its entries, their number
 * in *n and the ABI's AUDIT_ARCH_* in *arch; NULL, 0, 0 when there is none. */
const struct tsc_def *tsc__compat_defs(size_t *n, uint32_t *arch);

#define D(n, op)                                                                                   \
    {                                                                                              \
        __NR_##n,                                                                                  \
        {                                                                                          \
            op, 0, TSC_CX_NEVER, 0, 0, #n                                                          \
        }                                                                                          \
    }
#define M(n, cls)                                                                                  \
    {                                                                                              \
        __NR_##n,                                                                                  \
        {                                                                                          \
            TSC_META, cls, TSC_CX_NEVER, 0, 0, #n                                                  \
        }                                                                                          \
    }
#define MF(n, cls)                                                                                 \
    {                                                                                              \
        __NR_##n,                                                                                  \
        {                                                                                          \
            TSC_META_FD, cls, TSC_CX_NEVER, 0, 0, #n                                               \
        }                                                                                          \
    }
#define OPEN(n, arg)                                                                               \
    {                                                                                              \
        __NR_##n,                                                                                  \
        {                                                                                          \
            TSC_OPEN, 0, TSC_CX_ARG, arg, CX_O_CLOEXEC, #n                                         \
        }                                                                                          \
    }
#define NEWFD(n, kind, cx, arg, mask)                                                              \
    {                                                                                              \
        __NR_##n,                                                                                  \
        {                                                                                          \
            TSC_NEWFD, kind, cx, arg, mask, #n                                                     \
        }                                                                                          \
    }
#define PAIR(n, cx, arg, kind)                                                                     \
    {                                                                                              \
        __NR_##n,                                                                                  \
        {                                                                                          \
            TSC_FDPAIR, kind, cx, arg, CX_O_CLOEXEC, #n                                            \
        }                                                                                          \
    }

#endif
