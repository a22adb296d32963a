/* The bottom of every private header: visibility, branch hints and the always-on
 * assertion for Grove's own invariants (never for user input). No Grove types here. */
#ifndef GROVE_BASE_COMPILER_H
#define GROVE_BASE_COMPILER_H

#include <stddef.h>

#define GROVE_HIDDEN __attribute__((visibility("hidden")))
#define grove__likely(x) __builtin_expect(!!(x), 1)
#define grove__unlikely(x) __builtin_expect(!!(x), 0)

#define grove__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Always-on assertion for Grove's own invariants (never for user input). */
#define GROVE_ASSERT(cond)                                                                                             \
    do {                                                                                                               \
        if (grove__unlikely(!(cond)))                                                                                  \
            grove__assert_fail(#cond, __FILE__, __LINE__);                                                             \
    } while (0)
GROVE_HIDDEN _Noreturn void grove__assert_fail(const char *what, const char *file, int line);

#endif
