/* Error text and Grove's own assertion failures. */
#include "core/hub.h"

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
    /* Generic texts: one code means different things in different calls (-ETIMEDOUT from
     * a scope or from TCP, -EBUSY from a pool or an fd), so say what the code means and
     * let the header of the call say why it returns it. */
    case ECANCELED: return "operation canceled: the green thread was killed (ECANCELED)";
    case ETIMEDOUT: return "timed out: a timeout scope or the operation's own timeout (ETIMEDOUT)";
    case EDEADLK: return "deadlock avoided: the wait could never end (EDEADLK)";
    case EPIPE: return "broken pipe: closed or the peer went away (EPIPE)";
    case EBUSY: return "busy: in use, or another green thread already waits (EBUSY)";
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
