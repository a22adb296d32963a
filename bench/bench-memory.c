/* memory: bytes of RSS per idle green thread. Creates N green threads with the default
 * stack size (GROVE_STACK_SIZE in the environment changes it: 2048 is the small-stack
 * option), each blocked forever on one shared grove_event, and compares VmRSS before and
 * after. Usage: grove-memory [N [STACK_BYTES]] (default 100,000 threads; STACK_BYTES, e.g.
 * 2048, sets the default stack size like GROVE_STACK_SIZE does). Exits without teardown. */
#include "bench.h"

#include <unistd.h>

static grove_event g_ev;

static void blocked(void *arg) { grove_event_wait(&g_ev, NULL); }

static long vmrss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 100000);
    if (argc > 2 && grove_stack_size_set((size_t)atol(argv[2])) < 0) {
        fprintf(stderr, "bad stack size %s\n", argv[2]);
        return 2;
    }
    grove_event_init(&g_ev);
    grove_yield(); /* create the hub first: it is not per-thread memory */
    long before = vmrss_bytes();
    for (long i = 0; i < n; i++) {
        int rc = grove_spawn_n(blocked, NULL);
        if (rc < 0) {
            fprintf(stderr, "spawn %ld failed: %s\n", i, grove_strerror(rc));
            _exit(1);
        }
    }
    grove_yield(); /* every thread runs once and blocks on the event */
    if (grove_thread_count() != (size_t)n) {
        fprintf(stderr, "expected %ld live threads, have %zu\n", n, grove_thread_count());
        _exit(1);
    }
    long after = vmrss_bytes();
    fprintf(stderr, "VmRSS before=%ld after=%ld bytes, threads=%ld, default stack=%zu bytes\n", before, after, n,
            grove_stack_size_default());
    bench_report_as("memory", n, (double)(after - before) / (double)n, "bytes of RSS per idle thread",
                    "bytes_per_thread");
    _exit(0);
}
