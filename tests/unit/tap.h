/* tap: the unit tests' minimal checking macros. A failed check prints its
 * location and values and the test keeps going; tap_done() sets the status. */
#ifndef IOPSD_TAP_H
#define IOPSD_TAP_H

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

extern int tap_failures, tap_checks;
void tap_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints a summary; returns the process exit status (0 when all passed). */
int tap_done(const char *name);
/* Directory of the source tree / build tree (from the environment ctest sets,
 * falling back to compile-time guesses). */
const char *tap_source_dir(void);
const char *tap_binary_dir(void);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        tap_checks++;                                                                              \
        if (!(c))                                                                                  \
            tap_fail(__FILE__, __LINE__, "CHECK(%s)", #c);                                         \
    } while (0)

#define CHECK_U64(a, b)                                                                            \
    do {                                                                                           \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                           \
        tap_checks++;                                                                              \
        if (a_ != b_)                                                                              \
            tap_fail(__FILE__, __LINE__, "%s == %" PRIu64 ", expected %s == %" PRIu64, #a, a_, #b, \
                     b_);                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        tap_checks++;                                                                              \
        if (a_ != b_)                                                                              \
            tap_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);       \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        tap_checks++;                                                                              \
        if (!a_ || !b_ || strcmp(a_, b_))                                                          \
            tap_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)",  \
                     b_ ? b_ : "(null)");                                                          \
    } while (0)

#endif
