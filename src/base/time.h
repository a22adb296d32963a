/* Saturating time arithmetic: a huge duration means "effectively forever", never a
 * deadline that wrapped into the past. */
#ifndef GROVE_BASE_TIME_H
#define GROVE_BASE_TIME_H

#include <stdint.h>

static inline int64_t grove__add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}
/* sec seconds plus frac_ns nanoseconds (a timespec or timeval), saturated. */
static inline int64_t grove__sec_to_ns(int64_t sec, int64_t frac_ns)
{
    if (sec > INT64_MAX / 1000000000)
        return INT64_MAX;
    if (sec < INT64_MIN / 1000000000)
        return INT64_MIN;
    return grove__add_sat(sec * 1000000000, frac_ns);
}

#endif
