/* Out-of-line parts of the system-call layer: sleeping, and the fault injection counters
 * of GROVE_FAULT builds (tests/test-fault.c drives them through grove__fault_set). */
#include "base/sys.h"
#include "base/alloc.h"

void grove__sys_sleep_ns(int64_t ns)
{
    if (ns < 0)
        ns = INT64_MAX; /* "forever": only reached by a hub with nothing to wake it */
    int64_t sec = ns / 1000000000;
    struct timespec ts = {(time_t)(sec > (int64_t)INT32_MAX * 64 ? (int64_t)INT32_MAX * 64 : sec), ns % 1000000000};
    while (GROVE__SC(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, &ts, 0, 0) == -EINTR) {
    }
}

#ifdef GROVE_FAULT
#include <stdatomic.h>

/* Which call fails: the Nth counted one (1-based) of the kind asked for; 0 = none. Process
 * wide and atomic: tpool threads count too. */
static _Atomic long g_sys_left, g_alloc_left;
static _Atomic long g_sys_count, g_alloc_count;

/* Test hook (hidden, reached by tests linking the static library): fail the nth system
 * call and/or the nth allocation from now on (0 = never), and read the counters. */
GROVE_HIDDEN void grove__fault_set(long nth_sys, long nth_alloc)
{
    atomic_store(&g_sys_left, nth_sys);
    atomic_store(&g_alloc_left, nth_alloc);
}
GROVE_HIDDEN void grove__fault_counts(long *sys, long *alloc)
{
    *sys = atomic_load(&g_sys_count);
    *alloc = atomic_load(&g_alloc_count);
}

static int hit(_Atomic long *left, _Atomic long *count)
{
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
    long l = atomic_load_explicit(left, memory_order_relaxed);
    if (l <= 0)
        return 0;
    /* Exactly one caller sees the counter go from 1 to 0. */
    return atomic_fetch_sub(left, 1) == 1;
}

int grove__fault_sys(int err) { return hit(&g_sys_left, &g_sys_count) ? err : 0; }

int grove__fault_alloc(void) { return hit(&g_alloc_left, &g_alloc_count); }
void *grove__malloc(size_t n) { return hit(&g_alloc_left, &g_alloc_count) ? NULL : malloc(n); }
void *grove__calloc(size_t n, size_t size) { return hit(&g_alloc_left, &g_alloc_count) ? NULL : calloc(n, size); }
void *grove__realloc(void *p, size_t n) { return hit(&g_alloc_left, &g_alloc_count) ? NULL : realloc(p, n); }
#endif
