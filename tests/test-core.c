/* Core runtime: green threads, the hub, timers, timeouts, kill, link, stacks, fd waits.
 * Ports the behaviour checked by eventlet's test_greenthread/test_hub/test_timeout and
 * gevent's test__greenlet/test__timeout. */
// ctest: labels=unit,core,portable,valgrind timeout=120
#include "test.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>

static char g_log[256];
static void logc(const char *s) { strcat(g_log, s); }

/* ---- spawn / join ------------------------------------------------------------------- */

static void *ret_arg(void *arg) { return arg; }

static void test_spawn_join_result(void)
{
    grove_thread *t = grove_spawn(ret_arg, (void *)0x1234);
    T_ASSERT(t != NULL);
    T_ASSERT(!grove_thread_done(t));
    void *res = NULL;
    T_OK(grove_join(t, &res));
    T_EQ((uintptr_t)res, 0x1234);
    T_EQ(grove_thread_count(), 0);
}

static void test_join_errors(void)
{
    T_EQ(grove_join(NULL, NULL), -EINVAL);
    T_EQ(grove_join(grove_self(), NULL), -EINVAL);
    grove_thread *t = grove_spawn(ret_arg, NULL);
    T_OK(grove_detach(t));
    T_EQ(grove_detach(t), -EINVAL);
    T_OK(grove_yield());
    T_EQ(grove_thread_count(), 0);
}

static int g_counter;
static void bump(void *arg) { g_counter += (int)(intptr_t)arg; }

static void test_spawn_n(void)
{
    g_counter = 0;
    for (int i = 0; i < 100; i++)
        T_OK(grove_spawn_n(bump, (void *)(intptr_t)1));
    T_EQ(g_counter, 0); /* spawning never switches */
    T_EQ(grove_thread_count(), 100);
    T_OK(grove_wait_all());
    T_EQ(g_counter, 100);
    T_EQ(grove_thread_count(), 0);
}

static void *log_a(void *arg)
{
    logc(arg);
    return NULL;
}

static void test_spawn_after_order(void)
{
    g_log[0] = 0;
    int64_t t0 = grove_now() + GROVE_MS(5); /* c starts >= 30 ms after its spawn, however slow */
    grove_thread *c = grove_spawn_after(GROVE_MS(30), log_a, "c");
    grove_thread *a = grove_spawn_after(GROVE_MS(10), log_a, "a");
    grove_thread *b = grove_spawn_after(GROVE_MS(20), log_a, "b");
    T_OK(grove_join(c, NULL));
    T_GE(grove_now() - t0, GROVE_MS(25));
    T_OK(grove_join(a, NULL));
    T_OK(grove_join(b, NULL));
    T_STREQ(g_log, "abc");
}

/* ---- yield fairness and FIFO ------------------------------------------------------- */

static void *interleave(void *arg)
{
    const char *id = arg;
    char s[3] = {id[0], 'A', 0};
    logc(s);
    grove_yield();
    s[1] = 'B';
    logc(s);
    return NULL;
}

static void test_yield_fairness(void)
{
    g_log[0] = 0;
    grove_thread *t1 = grove_spawn(interleave, "1");
    grove_thread *t2 = grove_spawn(interleave, "2");
    T_OK(grove_join(t1, NULL));
    T_OK(grove_join(t2, NULL));
    T_STREQ(g_log, "1A2A1B2B");
}

static void *sleep_log(void *arg)
{
    grove_sleep(GROVE_MS(5));
    logc(arg);
    return NULL;
}

static void test_equal_deadlines_fifo(void)
{
    /* Threads that start sleeping in the same tick with the same duration get timers
     * whose deadlines may be equal; in any case they must wake in spawn order. */
    g_log[0] = 0;
    static const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    grove_thread *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = grove_spawn(sleep_log, (void *)names[i]);
    for (int i = 0; i < 8; i++)
        T_OK(grove_join(t[i], NULL));
    T_STREQ(g_log, "abcdefgh");
}

static void test_sleep_duration(void)
{
    int64_t t0 = grove_now();
    T_OK(grove_sleep(GROVE_MS(20)));
    int64_t d = grove_now() - t0;
    T_GE(d, GROVE_MS(20));
    T_LT(d, GROVE_MS(500));
}

/* ---- kill ---------------------------------------------------------------------------- */

static int g_ran;
static void *mark_ran(void *arg)
{
    g_ran = 1;
    return (void *)1;
}

static void test_kill_before_start(void)
{
    g_ran = 0;
    grove_thread *t = grove_spawn(mark_ran, NULL);
    T_OK(grove_kill(t));
    T_ASSERT(grove_thread_done(t));
    T_ASSERT(grove_thread_killed(t));
    void *res = (void *)7;
    T_OK(grove_join(t, &res));
    T_ASSERT(res == NULL);
    T_EQ(g_ran, 0);

    /* spawn_after: killing it cancels the start. */
    t = grove_spawn_after(GROVE_MS(10), mark_ran, NULL);
    T_OK(grove_kill(t));
    T_OK(grove_sleep(GROVE_MS(20)));
    T_EQ(g_ran, 0);
    T_OK(grove_join(t, NULL));
}

static void *sleeper_rc(void *arg)
{
    int rc1 = grove_sleep(GROVE_SEC(10));
    int rc2 = grove_yield(); /* every later switch point fails too */
    int *out = arg;
    out[0] = rc1;
    out[1] = rc2;
    return NULL;
}

static void test_kill_parked(void)
{
    int out[2] = {1, 1};
    grove_thread *t = grove_spawn(sleeper_rc, out);
    T_OK(grove_yield()); /* let it park */
    int64_t t0 = grove_now();
    T_OK(grove_kill(t));
    T_LT(grove_now() - t0, GROVE_MS(100));
    T_EQ(out[0], -ECANCELED);
    T_EQ(out[1], -ECANCELED);
    T_OK(grove_join(t, NULL));
}

/* ---- link ---------------------------------------------------------------------------- */

static void link_cb(grove_thread *t, void *arg)
{
    logc(arg);
    T_EQ((uintptr_t)grove_thread_result(t), 0x55);
}
static void *ret55(void *arg) { return (void *)0x55; }

static void test_link_order_and_after_exit(void)
{
    g_log[0] = 0;
    grove_thread *t = grove_spawn(ret55, NULL);
    T_OK(grove_link(t, link_cb, "1"));
    T_OK(grove_link(t, link_cb, "2"));
    T_OK(grove_link(t, link_cb, "3"));
    T_STREQ(g_log, "");
    T_OK(grove_yield());
    T_STREQ(g_log, "123");
    T_OK(grove_link(t, link_cb, "4")); /* after exit: at once */
    T_STREQ(g_log, "1234");
    T_OK(grove_join(t, NULL));
}

/* ---- timeouts ------------------------------------------------------------------------ */

static void test_timeout_basic(void)
{
    grove_timeout to;
    T_OK(grove_timeout_start(&to, GROVE_MS(10)));
    int64_t t0 = grove_now();
    T_EQ(grove_sleep(GROVE_SEC(5)), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_MS(500));
    T_EQ(grove_yield(), -ETIMEDOUT); /* every switch point inside the scope */
    T_ASSERT(grove_timeout_end(&to));
    T_OK(grove_yield()); /* and none after it */

    T_OK(grove_timeout_start(&to, GROVE_MS(500)));
    T_OK(grove_sleep(GROVE_MS(1)));
    T_ASSERT(!grove_timeout_end(&to));

    T_OK(grove_timeout_start(&to, 0)); /* 0: fires at the next switch point */
    T_EQ(grove_yield(), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));

    T_OK(grove_timeout_start(&to, -1)); /* never */
    T_OK(grove_sleep(GROVE_MS(1)));
    T_ASSERT(!grove_timeout_end(&to));
}

static void test_timeout_nested(void)
{
    grove_timeout outer, inner;
    /* Inner earlier: inner fires, outer does not. */
    T_OK(grove_timeout_start(&outer, GROVE_MS(200)));
    T_OK(grove_timeout_start(&inner, GROVE_MS(10)));
    T_EQ(grove_sleep(GROVE_SEC(5)), -ETIMEDOUT);
    T_ASSERT(grove_timeout_fired(&inner));
    T_ASSERT(!grove_timeout_fired(&outer));
    T_ASSERT(grove_timeout_end(&inner));
    T_OK(grove_sleep(GROVE_MS(1))); /* back under the outer scope only */
    T_ASSERT(!grove_timeout_end(&outer));

    /* Outer earlier: the outer fires while inside the inner; inner did not fire. */
    T_OK(grove_timeout_start(&outer, GROVE_MS(10)));
    T_OK(grove_timeout_start(&inner, GROVE_MS(300)));
    int64_t t0 = grove_now();
    T_EQ(grove_sleep(GROVE_SEC(5)), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_MS(200));
    T_ASSERT(!grove_timeout_end(&inner));
    T_EQ(grove_yield(), -ETIMEDOUT); /* still inside the fired outer scope */
    T_ASSERT(grove_timeout_end(&outer));
    T_OK(grove_yield());
}

static void *join_with_timeout(void *arg)
{
    grove_thread *target = arg;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    int rc = grove_join(target, NULL);
    grove_timeout_end(&to);
    return (void *)(intptr_t)rc;
}

static void *sleep_arg(void *arg)
{
    grove_sleep((int64_t)(intptr_t)arg);
    return NULL;
}

static void test_timeout_join_then_join_again(void)
{
    grove_thread *slow = grove_spawn(sleep_arg, (void *)(intptr_t)GROVE_MS(50));
    grove_thread *j = grove_spawn(join_with_timeout, slow);
    void *rc;
    T_OK(grove_join(j, &rc));
    T_EQ((intptr_t)rc, -ETIMEDOUT);
    T_OK(grove_join(slow, NULL)); /* still joinable after the timed-out join */
}

/* ---- errno per green thread, names ------------------------------------------------- */

static void *errno_keeper(void *arg)
{
    errno = (int)(intptr_t)arg;
    grove_yield();
    grove_sleep(GROVE_MS(1));
    return (void *)(intptr_t)errno;
}

static void test_errno_preserved(void)
{
    grove_thread *a = grove_spawn(errno_keeper, (void *)(intptr_t)11);
    grove_thread *b = grove_spawn(errno_keeper, (void *)(intptr_t)22);
    errno = 33;
    grove_yield();
    T_EQ(errno, 33);
    void *ra, *rb;
    T_OK(grove_join(a, &ra));
    T_OK(grove_join(b, &rb));
    T_EQ((intptr_t)ra, 11);
    T_EQ((intptr_t)rb, 22);
}

static void test_names(void)
{
    T_STREQ(grove_thread_name(grove_self()), "main");
    T_EQ(grove_thread_id(grove_self()), 0);
    grove_spawn_attr at = {.name = "worker-1"};
    grove_thread *t = grove_spawn_opts(&at, ret_arg, NULL);
    T_STREQ(grove_thread_name(t), "worker-1");
    T_OK(grove_thread_set_name(t, "a-name-that-is-far-too-long-to-fit-in-the-record"));
    T_EQ(strlen(grove_thread_name(t)), 31);
    T_OK(grove_join(t, NULL));
    t = grove_spawn(ret_arg, NULL);
    char want[32];
    snprintf(want, sizeof want, "thread-%llu", (unsigned long long)grove_thread_id(t));
    T_STREQ(grove_thread_name(t), want);
    T_OK(grove_join(t, NULL));
}

/* ---- wait_all and deadlock --------------------------------------------------------- */

static void test_wait_all_and_deadlock(void)
{
    for (int i = 1; i <= 5; i++)
        grove_detach(grove_spawn(sleep_arg, (void *)(intptr_t)GROVE_MS(i)));
    T_OK(grove_wait_all());
    T_EQ(grove_thread_count(), 0);

    /* A thread that waits for itself forever: main's wait_all can never finish. */
    grove_thread *self_joiner = grove_spawn(ret_arg, NULL);
    (void)self_joiner;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    T_OK(grove_wait_all()); /* ret_arg finishes: fine */
    grove_timeout_end(&to);
    T_OK(grove_join(self_joiner, NULL));
}

/* ---- many threads, no leak ----------------------------------------------------------- */

static void test_100k_no_leak(void)
{
    enum { N = 100000, BATCH = 1000 };
    static grove_thread *ts[BATCH];
    /* Warm up the stack cache and the hub so the measurement sees steady state. */
    for (int i = 0; i < BATCH; i++)
        ts[i] = grove_spawn(ret_arg, NULL);
    for (int i = 0; i < BATCH; i++)
        T_OK(grove_join(ts[i], NULL));
    struct mallinfo2 before = mallinfo2();
    long total = 0;
    for (int b = 0; b < N / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            ts[i] = grove_spawn(ret_arg, (void *)(intptr_t)(i + 1));
            T_ASSERT(ts[i] != NULL);
        }
        for (int i = 0; i < BATCH; i++) {
            void *r;
            T_OK(grove_join(ts[i], &r));
            total += (intptr_t)r;
        }
    }
    struct mallinfo2 after = mallinfo2();
    T_EQ(total, (long)(N / BATCH) * (BATCH * (BATCH + 1) / 2));
    T_EQ(after.uordblks, before.uordblks); /* spawn/join allocate nothing on the heap */
    T_EQ(grove_thread_count(), 0);
}

/* ---- stack overflow is reported, not silent ------------------------------------------ */

static volatile int g_sink;
static int recurse(int n)
{
    volatile char buf[512];
    buf[0] = (char)n;
    g_sink += buf[0];
    return n > 0 ? recurse(n - 1) + buf[0] : 0;
}
static void *overflow(void *arg)
{
    grove_yield();
    return (void *)(intptr_t)recurse(1 << 20);
}

__attribute__((unused)) static void *overflow_small(void *arg)
{
    /* Overruns a small (unguarded) stack a little: the canary catches it at the switch. */
    volatile char buf[3000];
    memset((char *)buf, 0x5a, sizeof buf);
    g_sink = buf[100];
    grove_yield();
    return NULL;
}

static void run_child_expect_report(void *(*fn)(void *), size_t stack, const char *name)
{
    int pfd[2];
    T_EQ(pipe(pfd), 0);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        grove_spawn_attr at = {.stack_size = stack, .name = name};
        grove_thread *t = grove_spawn_opts(&at, fn, NULL);
        grove_join(t, NULL);
        _exit(0); /* not reached if the overflow is caught */
    }
    close(pfd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(pfd[0]);
    int st;
    T_EQ(waitpid(pid, &st, 0), pid);
    T_ASSERT(WIFSIGNALED(st));
    T_EQ(WTERMSIG(st), SIGABRT);
    if (!strstr(buf, "stack overflow") || !strstr(buf, name))
        T_FAIL("overflow report missing, child said: %s", buf);
}

static void test_stack_overflow_reported(void)
{
#ifndef GROVE_TEST_NO_OVERFLOW
    run_child_expect_report(overflow, 64 * 1024, "deep-recursion");
#ifndef GROVE_ASAN
    /* Under ASan small stacks are raised to 32 KiB (redzones), so this overrun would not
     * overflow; the canary path is checked by the normal and Valgrind runs. */
    run_child_expect_report(overflow_small, GROVE_STACK_SMALL, "small-overrun");
#endif
#endif
}

static void *kill_self(void *arg)
{
    int rc = grove_kill(grove_self());
    int rc2 = grove_sleep(GROVE_MS(1));
    return (void *)(intptr_t)(rc == -ECANCELED && rc2 == -ECANCELED);
}

static void test_kill_self(void)
{
    grove_thread *t = grove_spawn(kill_self, NULL);
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, 1);
}

static void *deep(void *arg) { return (void *)(intptr_t)recurse((int)(intptr_t)arg); }

static void test_stack_sizes(void)
{
    T_EQ(grove_stack_size_set(10), -EINVAL);
    size_t def = grove_stack_size_default();
    T_GE(def, 4096);
    T_OK(grove_stack_size_set_local(GROVE_STACK_SMALL));
    grove_thread *t = grove_spawn(ret_arg, (void *)3);
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, 3);
    T_OK(grove_stack_size_set_local(0));
    grove_spawn_attr at = {.stack_size = 1 << 20};
    t = grove_spawn_opts(&at, deep, (void *)(intptr_t)1000); /* ~600 KiB deep */
    T_OK(grove_join(t, NULL));
}

/* ---- fd waits ------------------------------------------------------------------------ */

static void *reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n == 1)
            return (void *)(intptr_t)c;
        if (n < 0 && errno == EAGAIN) {
            int rc = grove_wait_fd(fd, GROVE_READ);
            if (rc < 0)
                return (void *)(intptr_t)rc;
            continue;
        }
        return (void *)(intptr_t)-999;
    }
}

static void test_wait_fd(void)
{
    int p[2];
    T_EQ(pipe2(p, O_NONBLOCK), 0);
    grove_thread *r = grove_spawn(reader, (void *)(intptr_t)p[0]);
    T_OK(grove_yield());
    T_EQ(grove_wait_fd(p[0], GROVE_READ), -EBUSY); /* one reader at a time */
    T_EQ(write(p[1], "x", 1), 1);
    void *res;
    T_OK(grove_join(r, &res));
    T_EQ((intptr_t)res, 'x');
    T_ASSERT(fcntl(p[0], F_GETFL) & O_NONBLOCK);

    /* Closing through grove_close wakes the waiter with -EBADF. */
    r = grove_spawn(reader, (void *)(intptr_t)p[0]);
    T_OK(grove_yield());
    T_OK(grove_close(p[0]));
    T_OK(grove_join(r, &res));
    T_EQ((intptr_t)res, -EBADF);

    /* The fd number is reused: no stale readiness leaks into the new fd. */
    int q[2];
    T_EQ(pipe(q), 0);
    T_EQ(q[0], p[0]);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    T_EQ(grove_wait_fd(q[0], GROVE_READ), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    T_GT(grove_wait_fd(q[1], GROVE_WRITE), 0);
    T_EQ(grove_wait_fd(-1, GROVE_READ), -EBADF);
    T_EQ(grove_wait_fd(q[0], 0), -EINVAL);
    grove_close(q[0]);
    grove_close(q[1]);
    grove_close(p[1]);
    int devnull = open("/proc/self/exe", O_RDONLY); /* a regular file */
    T_EQ(grove_wait_fd(devnull, GROVE_READ), -EPERM);
    close(devnull);
}

static void *join_target(void *arg) { return (void *)(intptr_t)grove_join(arg, NULL); }
static void *wait_all_rc(void *arg) { return (void *)(intptr_t)grove_wait_all(); }

static void test_deadlock_detected(void)
{
    /* main waits on a thread that waits forever on nothing: the hub reports deadlock. */
    grove_thread *t = grove_spawn(ret_arg, NULL);
    T_OK(grove_join(t, NULL));
    int p[2];
    T_EQ(pipe2(p, O_NONBLOCK), 0);
    /* Nothing will ever write; no timers; main waits in wait_all on a reader that can
     * still be woken by the fd, so this is NOT a deadlock: use a timeout to end it. */
    grove_thread *r = grove_spawn(reader, (void *)(intptr_t)p[0]);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    T_EQ(grove_wait_all(), -ETIMEDOUT);
    grove_timeout_end(&to);
    grove_close(p[0]);
    grove_close(p[1]);
    T_OK(grove_join(r, NULL));

    /* A true deadlock: b waits for every other thread (a included) to finish, a joins b,
     * main joins a. Nothing can ever run, so main's join fails with -EDEADLK instead of
     * hanging; then killing b untangles them. */
    grove_thread *b = grove_spawn(wait_all_rc, NULL);
    grove_thread *a = grove_spawn(join_target, b);
    T_EQ(grove_join(a, NULL), -EDEADLK);
    T_OK(grove_kill(b));
    void *ra;
    T_OK(grove_join(a, &ra));
    T_EQ((intptr_t)ra, 0); /* a's join of b succeeded once b was killed */
}

static const t_case cases[] = {
    T_CASE(test_spawn_join_result),
    T_CASE(test_join_errors),
    T_CASE(test_spawn_n),
    T_CASE(test_spawn_after_order),
    T_CASE(test_yield_fairness),
    T_CASE(test_equal_deadlines_fifo),
    T_CASE(test_sleep_duration),
    T_CASE(test_kill_before_start),
    T_CASE(test_kill_parked),
    T_CASE(test_kill_self),
    T_CASE(test_link_order_and_after_exit),
    T_CASE(test_timeout_basic),
    T_CASE(test_timeout_nested),
    T_CASE(test_timeout_join_then_join_again),
    T_CASE(test_errno_preserved),
    T_CASE(test_names),
    T_CASE(test_wait_all_and_deadlock),
    T_CASE(test_100k_no_leak),
    T_CASE(test_stack_overflow_reported),
    T_CASE(test_stack_sizes),
    T_CASE(test_wait_fd),
    T_CASE(test_deadlock_detected),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
