/* The thread pool and cross-thread wake-ups: blocking work runs on OS threads while green
 * threads keep running; kill and timeouts while waiting; hubs on several OS threads;
 * regular-file helpers. */
// ctest: labels=unit,tpool timeout=60
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

static void *block_100ms(void *arg)
{
    usleep(100000);
    return arg;
}

static int g_ticks;
static void *ticker(void *arg)
{
    while (grove_sleep(GROVE_MS(5)) == 0)
        g_ticks++;
    return NULL;
}

static void *tpool_user(void *arg) { return grove_tpool_run(block_100ms, arg); }

static void test_concurrent_blocking(void)
{
    T_OK(grove_tpool_set_size(64));
    T_EQ(grove_tpool_size(), 64);
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    grove_thread *t[50];
    int64_t t0 = grove_now();
    for (int i = 0; i < 50; i++)
        t[i] = grove_spawn(tpool_user, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 50; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, i + 1);
    }
    int64_t took = grove_now() - t0;
    T_LT(took, GROVE_MS(800)); /* serially: 5 s */
    T_GE(took, GROVE_MS(95));
    T_GE(g_ticks, 5); /* the hub kept running green threads meanwhile (a blocked hub: 0) */
    T_OK(grove_kill(tick));
    T_OK(grove_join(tick, NULL));
}

static int g_dropped;
static void drop(void *r) { g_dropped += (int)(intptr_t)r; }

static void test_timeout_and_kill(void)
{
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    void *r = (void *)1;
    int64_t t0 = grove_now();
    T_EQ(grove_tpool_call(block_100ms, (void *)7, &r, drop), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_MS(80));
    T_ASSERT(grove_timeout_end(&to));
    T_ASSERT(r == (void *)1);
    /* The job finishes anyway and its result is dropped on the hub. */
    T_OK(grove_sleep(GROVE_MS(150)));
    T_EQ(g_dropped, 7);

    grove_thread *t = grove_spawn(tpool_user, (void *)3);
    T_OK(grove_sleep(GROVE_MS(10)));
    T_OK(grove_kill(t));
    void *res;
    T_OK(grove_join(t, &res));
    T_ASSERT(res == NULL);            /* grove_tpool_run returned NULL (ECANCELED) */
    T_OK(grove_sleep(GROVE_MS(150))); /* let the orphaned job finish before exit */
}

/* Hubs on two more OS threads, each using the pool. */
static void *os_thread(void *arg)
{
    grove_thread *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = grove_spawn(tpool_user, (void *)(intptr_t)(i + 100));
    long sum = 0;
    for (int i = 0; i < 10; i++) {
        void *r;
        if (grove_join(t[i], &r) < 0)
            return (void *)-1;
        sum += (intptr_t)r;
    }
    return (void *)sum;
}

static void test_several_hubs(void)
{
    pthread_t a, b;
    T_EQ(pthread_create(&a, NULL, os_thread, NULL), 0);
    T_EQ(pthread_create(&b, NULL, os_thread, NULL), 0);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    T_EQ((long)ra, 1045);
    T_EQ((long)rb, 1045);
}

/* An OS thread whose caller gave up leaves while its job still runs: the job's
 * completion must not touch the freed hub, and the result is still dropped. */
static atomic_int g_dropped_elsewhere;
static void drop_elsewhere(void *r) { atomic_fetch_add(&g_dropped_elsewhere, (int)(intptr_t)r); }

static void *leaving_thread(void *arg)
{
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    void *r;
    int rc = grove_tpool_call(block_100ms, (void *)5, &r, drop_elsewhere);
    grove_timeout_end(&to);
    if (arg)
        usleep(250000);          /* not a switch point: the completion stays queued in the inbox */
    return (void *)(intptr_t)rc; /* the hub is destroyed as the thread exits */
}

static void test_hub_exits_before_job(void)
{
    pthread_t a;
    T_EQ(pthread_create(&a, NULL, leaving_thread, NULL), 0);
    void *ra;
    pthread_join(a, &ra);
    T_EQ((intptr_t)ra, -ETIMEDOUT);
    T_EQ(atomic_load(&g_dropped_elsewhere), 0);
    for (int i = 0; i < 100 && atomic_load(&g_dropped_elsewhere) == 0; i++)
        T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(atomic_load(&g_dropped_elsewhere), 5); /* dropped on the pool thread */

    /* The completion arrives while the thread is still alive but never polls again: it
     * is discarded when the hub is destroyed, and dropped there. */
    T_EQ(pthread_create(&a, NULL, leaving_thread, (void *)1), 0);
    pthread_join(a, &ra);
    T_EQ((intptr_t)ra, -ETIMEDOUT);
    T_EQ(atomic_load(&g_dropped_elsewhere), 10);
}

static void test_files(void)
{
    char path[] = "/tmp/grove-tpool-XXXXXX";
    int fd = mkstemp(path);
    T_OK(fd);
    unlink(path);
    static char data[200000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    T_EQ(grove_file_write(fd, data, sizeof data), (ssize_t)sizeof data);
    static char back[200000];
    T_EQ(grove_file_pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    T_ASSERT(!memcmp(data, back, sizeof data));
    T_EQ(grove_file_pwrite(fd, "xyz", 3, 10), 3);
    char three[3];
    T_EQ(grove_file_pread(fd, three, 3, 10), 3);
    T_ASSERT(!memcmp(three, "xyz", 3));
    T_EQ(grove_file_read(-1, three, 1), -EBADF);
    close(fd);
    /* grove_read on a regular file works too (files are never "not ready"). */
    fd = open("/proc/self/exe", O_RDONLY);
    char h[64];
    T_GT(grove_read(fd, h, sizeof h), 0);
    close(fd);
}

static const t_case cases[] = {
    T_CASE(test_concurrent_blocking),
    T_CASE(test_timeout_and_kill),
    T_CASE(test_several_hubs),
    T_CASE(test_hub_exits_before_job),
    T_CASE(test_files),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
