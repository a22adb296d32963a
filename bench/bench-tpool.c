/* tpool: ns per grove_tpool_run round trip of an empty job (hand-off to a pool thread,
 * wake-up of the hub through its eventfd, resume of the caller), first from one green
 * thread (latency), then from 64 green threads at once (throughput, printed as a second
 * human line). Usage: grove-tpool [N] (default 100,000). */
#include "bench.h"

static void *empty(void *arg) { return arg; }

static long g_per;
static void *caller(void *arg)
{
    for (long i = 0; i < g_per; i++)
        if (grove_tpool_run(empty, arg) != arg)
            return (void *)1;
    return NULL;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 100000);
    for (int i = 0; i < 1000; i++) /* warm-up: starts pool threads */
        grove_tpool_run(empty, NULL);
    int64_t t0 = grove_now();
    for (long i = 0; i < n; i++)
        if (grove_tpool_run(empty, &n) != &n) {
            perror("grove_tpool_run");
            return 1;
        }
    int64_t t1 = grove_now();

    enum { CALLERS = 64 };
    g_per = n / CALLERS + 1;
    grove_thread *t[CALLERS];
    int64_t t2 = grove_now();
    for (int i = 0; i < CALLERS; i++)
        t[i] = grove_spawn(caller, &t[i]);
    for (int i = 0; i < CALLERS; i++) {
        void *r;
        if (grove_join(t[i], &r) < 0 || r) {
            fprintf(stderr, "tpool caller failed\n");
            return 1;
        }
    }
    int64_t t3 = grove_now();
    fprintf(stderr, "tpool, %d concurrent callers: %.2f ns per job (%ld jobs)\n", CALLERS,
            (double)(t3 - t2) / (double)(g_per * CALLERS), g_per * CALLERS);
    bench_report("tpool", n, (double)(t1 - t0) / (double)n, "ns per round trip (one caller)");
    return 0;
}
