/* switch: ns per one-way switch between two green threads.
 * Two spawned green threads run the same loop of grove_yield(), Grove's cheapest handoff:
 * with only the two of them runnable, each yield is exactly one switch (every 64th also
 * passes through the hub, which has nothing to poll here). N round trips = 2N one-way
 * switches; main only starts them and waits.
 * Both threads run the same code on purpose: when two green threads call yield from
 * different call sites, the CPU's return-stack predictor guesses wrong on the first
 * return after every switch. That costs about 7 ns a switch on this machine in any
 * library whose switch is entered by a call (see docs/BENCHMARKS.md, where both shapes are
 * measured). Usage: grove-switch [N] (default 2,000,000). */
#include "bench.h"

static long g_warm, g_n;
static int64_t g_t0, g_t1;
static int g_started;

static void *pingpong(void *arg)
{
    for (long i = 0; i < g_warm; i++)
        grove_yield();
    if (!g_started++)
        g_t0 = grove_now(); /* the first one past the warm-up starts the clock */
    for (long i = 0; i < g_n; i++)
        grove_yield();
    g_t1 = grove_now(); /* the last one to finish stops it */
    return NULL;
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 2000000);
    g_warm = g_n / 10;
    grove_thread *a = grove_spawn(pingpong, NULL), *b = grove_spawn(pingpong, NULL);
    if (!a || !b)
        return 1;
    grove_join(a, NULL);
    grove_join(b, NULL);
    bench_report("switch", 2 * g_n, (double)(g_t1 - g_t0) / (2.0 * (double)g_n), "ns per one-way switch");
    return 0;
}
