/* Error text and Grove's own assertion failures. */
#include "core/internal.h"

#include <limits.h>
#include <unistd.h>

const char *grove_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err == INT_MIN)
        return "unknown error";
    if (err > 0)
        err = -err;
    switch (-err) {
    case ECANCELED: return "green thread was killed (ECANCELED)";
    case ETIMEDOUT: return "timeout scope expired (ETIMEDOUT)";
    case EDEADLK: return "deadlock: nothing can ever wake this green thread (EDEADLK)";
    case EPIPE: return "closed (EPIPE)";
    case EBUSY: return "another green thread already waits on this fd in this direction (EBUSY)";
    default: break;
    }
    /* strerror's table is static and read-only in glibc for known codes. */
    return strerror(-err);
}

void grove__assert_fail(const char *what, const char *file, int line)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "grove: internal assertion failed: %s (%s:%d)\n", what, file, line);
    if (n > 0)
        (void)grove__sys_write_raw(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    abort();
}
