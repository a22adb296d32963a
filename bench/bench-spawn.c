/* spawn: ns per spawn+join of a trivial green thread, in batches of 1000 (spawn 1000,
 * join those 1000, repeat until N). Usage: grove-spawn [N] (default 1,000,000). */
#include "bench.h"

#define BATCH 1000

static void *trivial(void *arg) { return arg; }

static int batches(long n)
{
    static grove_thread *ts[BATCH];
    for (long done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            if (!(ts[i] = grove_spawn(trivial, NULL)))
                return -1;
        for (int i = 0; i < BATCH; i++)
            grove_join(ts[i], NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1000000);
    n = (n + BATCH - 1) / BATCH * BATCH;
    if (batches(n / 10 < BATCH ? BATCH : n / 10) < 0) { /* warm-up: fills the stack cache */
        perror("grove_spawn");
        return 1;
    }
    int64_t t0 = grove_now();
    if (batches(n) < 0) {
        perror("grove_spawn");
        return 1;
    }
    int64_t t1 = grove_now();
    bench_report("spawn", n, (double)(t1 - t0) / (double)n, "ns per spawn+join");
    return 0;
}
