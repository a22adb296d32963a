/* c10k-echo: holds N connections open to an echo server at once and makes every one of
 * them do a round trip, all from green threads of one client process.
 *   grove-c10k-echo PORT [N]     (N = 10000; needs ulimit -n above N + a few)
 * Prints the time to connect all, the time for one round trip on every connection while
 * all are open, and the last stdout line: round trips per second across the N. */
#include "bench.h"

#include <sys/resource.h>

static char g_addr[64];
static grove_event g_go;
static int g_ok, g_failed;
static grove_waitgroup g_connected;

static void client(void *arg)
{
    int fd = grove_connect(g_addr);
    grove_waitgroup_done(&g_connected);
    if (fd < 0) {
        g_failed++;
        return;
    }
    grove_event_wait(&g_go, NULL); /* every connection is open before any talks */
    char msg[16] = "0123456789abcdef", got[16];
    if (grove_sendall(fd, msg, sizeof msg) == (ssize_t)sizeof msg) {
        size_t have = 0;
        ssize_t r = 1;
        while (have < sizeof got && (r = grove_read(fd, got + have, sizeof got - have)) > 0)
            have += (size_t)r;
        if (have == sizeof got && !memcmp(msg, got, sizeof got))
            g_ok++;
        else
            g_failed++;
    } else {
        g_failed++;
    }
    grove_close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: grove-c10k-echo PORT [N]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 10000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(g_addr, sizeof g_addr, "127.0.0.1:%s", argv[1]);
    grove_event_init(&g_go);
    grove_waitgroup_init(&g_connected);
    grove_waitgroup_add(&g_connected, n);
    grove_stack_size_set(16 * 1024);
    int64_t t0 = grove_now();
    for (long i = 0; i < n; i++)
        if (grove_spawn_n(client, NULL) < 0)
            return 1;
    grove_waitgroup_wait(&g_connected);
    int64_t t1 = grove_now();
    grove_event_send(&g_go, NULL);
    grove_wait_all();
    int64_t t2 = grove_now();
    fprintf(stderr, "c10k-echo: %ld connections open in %.1f ms; one round trip on each in %.1f ms; ok=%d failed=%d\n",
            n, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, g_ok, g_failed);
    bench_report_as("c10k-echo", n, (double)g_ok / ((double)(t2 - t1) / 1e9), "round trips per second", "rt_per_s");
    return g_failed ? 1 : 0;
}
