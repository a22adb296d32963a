/* switch-asym: like grove-switch, but main and a spawned thread yield from different call
 * sites (the shape of the State Threads and Boost.Context peer programs). The difference
 * to grove-switch is the cost of return-address mispredictions after each switch.
 * Usage: grove-switch-asym [N] (default 2,000,000). */
#include "bench.h"

static volatile int g_done;

static void *partner(void *arg)
{
    while (!g_done)
        grove_yield();
    return NULL;
}

static void rounds(long n)
{
    for (long i = 0; i < n; i++)
        grove_yield();
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 2000000);
    grove_thread *t = grove_spawn(partner, NULL);
    if (!t)
        return 1;
    rounds(n / 10);
    int64_t t0 = grove_now();
    rounds(n);
    int64_t t1 = grove_now();
    g_done = 1;
    grove_join(t, NULL);
    bench_report("switch-asym", 2 * n, (double)(t1 - t0) / (2.0 * (double)n), "ns per one-way switch");
    return 0;
}
