/* The contract under hostile input: one regression test per defect of issue 9 that is not
 * tested with its area (TLS: test-tls.c; patch layer: test-patch.c; headers:
 * test-headers.c). Each case names its defect number. */
// ctest: labels=unit,core,net,portable timeout=60
#include "test.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static void *ret_arg(void *arg) { return arg; }

/* 1. A second join, or a detach after join, is misuse: -EINVAL, and the stack is not
 * freed twice (two later spawns would run on one stack). */
static void test_01_double_join(void)
{
    grove_thread *t = grove_spawn(ret_arg, NULL);
    T_OK(grove_join(t, NULL));
    T_EQ(grove_join(t, NULL), -EINVAL);
    T_EQ(grove_detach(t), -EINVAL);
    grove_thread *a = grove_spawn(ret_arg, (void *)1);
    grove_thread *b = grove_spawn(ret_arg, (void *)2);
    T_ASSERT(a != b);
    void *ra, *rb;
    T_OK(grove_join(a, &ra));
    T_OK(grove_join(b, &rb));
    T_EQ((intptr_t)ra, 1);
    T_EQ((intptr_t)rb, 2);

    grove_thread *d = grove_spawn(ret_arg, NULL);
    T_OK(grove_detach(d));
    T_OK(grove_yield()); /* d finishes and is released */
    T_EQ(grove_detach(d), -EINVAL);
    T_EQ(grove_join(d, NULL), -EINVAL);
    a = grove_spawn(ret_arg, (void *)3);
    b = grove_spawn(ret_arg, (void *)4);
    T_ASSERT(a != b);
    T_OK(grove_join(a, &ra));
    T_OK(grove_join(b, &rb));
    T_EQ((intptr_t)ra + (intptr_t)rb, 7);
}

/* 1 (continued). Handles carry a generation: a stale handle is refused even after later
 * spawns reused its thread's stack (at once, or after many spawns) or the stack was
 * unmapped, and acting through it never touches the thread now on that stack. */
static void never_linked(grove_thread *t, void *arg)
{
    (void)t;
    *(int *)arg = 1;
}

/* Every call through a stale handle: -EINVAL, false, NULL, 0 or "", and nothing done. */
static void expect_stale(grove_thread *old)
{
    int linked = 0;
    T_EQ(grove_join(old, NULL), -EINVAL);
    T_EQ(grove_detach(old), -EINVAL);
    T_EQ(grove_kill(old), -EINVAL);
    T_EQ(grove_kill_nowait(old), -EINVAL);
    T_EQ(grove_link(old, never_linked, &linked), -EINVAL);
    T_EQ(grove_thread_set_name(old, "stale"), -EINVAL);
    T_EQ(linked, 0);
    T_ASSERT(grove_thread_done(old)); /* it finished: that is how it was released */
    T_ASSERT(grove_thread_result(old) == NULL);
    T_ASSERT(!grove_thread_killed(old));
    T_EQ(grove_thread_id(old), 0);
    T_STREQ(grove_thread_name(old), "");
    grove_group *g = grove_group_new();
    T_ASSERT(g != NULL);
    T_EQ(grove_group_add(g, old), -EINVAL);
    T_OK(grove_group_free(g));
}

/* Keeps a mark in its own frame across switches and returns where it was (on its stack),
 * or NULL if the mark was clobbered: two threads on one stack would clobber it. */
static volatile uintptr_t g_where;
static void *stack_probe(void *arg)
{
    volatile intptr_t mark = (intptr_t)arg;
    for (int i = 0; i < 3; i++)
        if (grove_yield() < 0)
            return NULL;
    g_where = (uintptr_t)&mark;
    return mark == (intptr_t)arg ? (void *)g_where : NULL;
}

static void *parked_probe(void *arg)
{
    grove_event *ev = arg;
    volatile intptr_t mark = 42;
    grove_event_wait(ev, NULL);
    g_where = (uintptr_t)&mark;
    return mark == 42 ? (void *)g_where : NULL;
}

static void test_01b_stale_handle_after_reuse(void)
{
    /* Immediate reuse: the next spawn takes the stack the joined thread just gave back. */
    grove_thread *old = grove_spawn(ret_arg, (void *)1);
    T_ASSERT(old != NULL);
    T_OK(grove_join(old, NULL));
    grove_event ev;
    grove_event_init(&ev);
    grove_thread *n = grove_spawn(parked_probe, &ev);
    T_ASSERT(n != NULL && n != old);
    T_OK(grove_yield()); /* n runs and parks */
    T_OK(grove_thread_set_name(n, "new"));
    expect_stale(old);
    /* n was neither killed, renamed, detached nor joined through the stale handle */
    T_ASSERT(!grove_thread_done(n));
    T_ASSERT(!grove_thread_killed(n));
    T_STREQ(grove_thread_name(n), "new");
    T_OK(grove_event_send(&ev, NULL));
    void *r = NULL;
    T_OK(grove_join(n, &r));
    T_ASSERT(r != NULL); /* its mark survived: nobody else ran on its stack */
    expect_stale(n);

    /* Two spawns after the stale join and detach still get two stacks. */
    grove_thread *a = grove_spawn(stack_probe, (void *)11);
    grove_thread *b = grove_spawn(stack_probe, (void *)12);
    T_ASSERT(a && b && a != b);
    void *ra, *rb;
    T_OK(grove_join(a, &ra));
    T_OK(grove_join(b, &rb));
    T_ASSERT(ra != NULL && rb != NULL && ra != rb);

    /* Many later spawns: one of them runs on the old stack. */
    enum { MANY = 1000 };
    static grove_thread *ts[MANY];
    old = grove_spawn(ret_arg, (void *)2);
    T_OK(grove_join(old, NULL));
    for (int i = 0; i < MANY; i++) {
        ts[i] = grove_spawn(stack_probe, (void *)(intptr_t)(i + 100));
        T_ASSERT(ts[i] != NULL && ts[i] != old);
    }
    expect_stale(old);
    for (int i = 0; i < MANY; i++) {
        T_ASSERT(!grove_thread_done(ts[i]));
        T_ASSERT(!grove_thread_killed(ts[i]));
    }
    void *seen[MANY];
    for (int i = 0; i < MANY; i++) {
        T_OK(grove_join(ts[i], &seen[i]));
        T_ASSERT(seen[i] != NULL);
    }
    for (int i = 1; i < MANY; i++) /* a thread's mark is on its own stack */
        T_ASSERT(seen[i] != seen[i - 1]);
    for (int i = 0; i < MANY; i++)
        expect_stale(ts[i]);

    /* A detached thread's handle goes stale when it finishes. */
    grove_thread *d = grove_spawn(ret_arg, NULL);
    T_OK(grove_detach(d));
    T_OK(grove_yield());
    n = grove_spawn(ret_arg, (void *)3);
    expect_stale(d);
    T_OK(grove_join(n, &r));
    T_EQ((intptr_t)r, 3);
}

/* More threads than the stack cache keeps (1024 per size): the stacks of the last ones
 * joined are unmapped, and their handles are still refused safely (ASan would see any
 * read of the record). */
static void test_01c_stale_handle_unmapped_stack(void)
{
    enum { N = 1300 };
    static grove_thread *ts[N];
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N; i++)
            T_ASSERT((ts[i] = grove_spawn(ret_arg, (void *)(intptr_t)i)) != NULL);
        for (int i = 0; i < N; i++) {
            void *r;
            T_OK(grove_join(ts[i], &r));
            T_EQ((intptr_t)r, i);
        }
        for (int i = 0; i < N; i++)
            expect_stale(ts[i]);
    }
}

/* grove_self() is the handle grove_spawn returned (also for spawn_after, main and
 * fire-and-forget threads), and link callbacks get that same handle. */
static void *return_self(void *arg)
{
    (void)arg;
    return grove_self();
}

static grove_thread *g_n_self;
static void spawn_n_self(void *arg)
{
    (void)arg;
    g_n_self = grove_self();
    T_OK(grove_thread_set_name(g_n_self, "fire-and-forget"));
    T_STREQ(grove_thread_name(g_n_self), "fire-and-forget");
}

static void record_linked(grove_thread *t, void *arg) { *(grove_thread **)arg = t; }

static void test_01d_self_is_the_handle(void)
{
    grove_thread *me = grove_self();
    T_ASSERT(me != NULL && me == grove_self());
    T_EQ(grove_thread_id(me), 0);
    T_STREQ(grove_thread_name(me), "main");
    T_EQ(grove_join(me, NULL), -EINVAL);

    grove_thread *t = grove_spawn(return_self, NULL);
    grove_thread *linked = NULL;
    T_OK(grove_link(t, record_linked, &linked));
    void *r;
    T_OK(grove_join(t, &r));
    T_ASSERT(r == (void *)t);
    T_ASSERT(linked == t);

    t = grove_spawn_after(GROVE_MS(1), return_self, NULL);
    T_OK(grove_join(t, &r));
    T_ASSERT(r == (void *)t);

    g_n_self = NULL;
    T_OK(grove_spawn_n(spawn_n_self, NULL));
    T_OK(grove_yield());
    T_ASSERT(g_n_self != NULL && g_n_self != me);
    expect_stale(g_n_self); /* it has returned: released */
}

/* A handle of another OS thread's hub is refused (its record is never read), and stays
 * refused once that hub is gone with the thread never joined. */
static grove_thread *g_foreign, *g_orphan;
static pthread_barrier_t g_bar;
static void *other_os_thread(void *arg)
{
    (void)arg;
    g_foreign = grove_spawn(ret_arg, (void *)7);
    pthread_barrier_wait(&g_bar); /* main tries it */
    pthread_barrier_wait(&g_bar);
    void *r = NULL;
    int rc = grove_join(g_foreign, &r);
    g_orphan = grove_spawn(ret_arg, NULL); /* finishes, never joined */
    grove_yield();
    return rc == 0 && r == (void *)7 ? arg : NULL;
}

static void test_01e_foreign_and_orphaned_handles(void)
{
    T_EQ(pthread_barrier_init(&g_bar, NULL, 2), 0);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, other_os_thread, (void *)1), 0);
    pthread_barrier_wait(&g_bar);
    T_EQ(grove_join(g_foreign, NULL), -EINVAL);
    T_EQ(grove_detach(g_foreign), -EINVAL);
    T_EQ(grove_kill_nowait(g_foreign), -EINVAL);
    T_EQ(grove_kill(g_foreign), -EINVAL);
    pthread_barrier_wait(&g_bar);
    void *ok;
    T_EQ(pthread_join(th, &ok), 0);
    T_ASSERT(ok == (void *)1); /* its own join worked */
    pthread_barrier_destroy(&g_bar);
    expect_stale(g_foreign);
    expect_stale(g_orphan); /* its hub is gone: stale, not someone else's */
    /* a new hub may reuse the gone hub's slots: the old handles stay stale there too */
    T_EQ(pthread_create(&th, NULL, other_os_thread, (void *)2), 0);
    pthread_barrier_wait(&g_bar);
    pthread_barrier_wait(&g_bar);
    T_EQ(pthread_join(th, &ok), 0);
    T_ASSERT(ok == (void *)2);
}

/* fork: in the child, handles of the forking hub's dropped threads still join (at once,
 * NULL result); those of other OS threads' hubs are stale (their slots were taken back,
 * and the child reuses them for threads of its own). */
static grove_thread *g_other;
static void *hub_across_fork(void *arg)
{
    (void)arg;
    g_other = grove_spawn(ret_arg, (void *)9); /* never runs before the fork */
    pthread_barrier_wait(&g_bar);              /* main forks */
    pthread_barrier_wait(&g_bar);
    void *r = NULL;
    return grove_join(g_other, &r) == 0 && r == (void *)9 ? (void *)1 : NULL;
}

static int fork_child_checks(grove_thread *dropped, grove_thread *other)
{
    enum { N = 600 };
    static grove_thread *ts[N];
    if (grove_join(other, NULL) != -EINVAL || grove_kill_nowait(other) != -EINVAL || !grove_thread_done(other))
        return 1;
    void *r = (void *)1;
    if (grove_join(dropped, &r) != 0 || r != NULL || grove_join(dropped, NULL) != -EINVAL)
        return 2;
    for (int i = 0; i < N; i++)
        if (!(ts[i] = grove_spawn(ret_arg, (void *)(intptr_t)i)) || ts[i] == other)
            return 3;
    if (grove_join(other, NULL) != -EINVAL)
        return 4;
    for (int i = 0; i < N; i++)
        if (grove_join(ts[i], &r) != 0 || r != (void *)(intptr_t)i)
            return 5;
    return 0;
}

static void test_01f_handles_across_fork(void)
{
    grove_event ev;
    grove_event_init(&ev);
    grove_thread *dropped = grove_spawn(parked_probe, &ev);
    T_OK(grove_yield());
    T_EQ(pthread_barrier_init(&g_bar, NULL, 2), 0);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, hub_across_fork, NULL), 0);
    pthread_barrier_wait(&g_bar);
    pid_t pid = grove_fork();
    T_GE(pid, 0);
    if (pid == 0)
        _exit(fork_child_checks(dropped, g_other));
    pthread_barrier_wait(&g_bar);
    void *ok;
    T_EQ(pthread_join(th, &ok), 0);
    T_ASSERT(ok == (void *)1);
    pthread_barrier_destroy(&g_bar);
    int st = 0;
    T_EQ(waitpid(pid, &st, 0), pid);
    T_ASSERT(WIFEXITED(st));
    T_EQ(WEXITSTATUS(st), 0);
    T_OK(grove_event_send(&ev, NULL));
    void *r;
    T_OK(grove_join(dropped, &r));
    T_ASSERT(r != NULL);
}

/* 3. communicate with a child that exits without reading its stdin: -EPIPE is absorbed,
 * the caller is not killed by SIGPIPE. */
static void test_03_communicate_sigpipe(void)
{
    signal(SIGPIPE, SIG_DFL);
    char *argv[] = {"true", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDIN | GROVE_PROC_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p != NULL);
    T_OK(grove_sleep(GROVE_MS(50))); /* let it exit first */
    size_t n = 1 << 20;
    char *big = calloc(1, n);
    char *out = NULL;
    int st = grove_proc_communicate(p, big, n, &out, NULL, NULL, NULL);
    T_OK(st);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(out);
    free(big);
    T_OK(grove_proc_free(p));
}

/* 4. grove_write on a socket (and a pipe) whose peer is gone: -EPIPE, no SIGPIPE. */
static void test_04_write_sigpipe(void)
{
    signal(SIGPIPE, SIG_DFL);
    int sv[2];
    T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    grove_close(sv[1]);
    T_EQ(grove_write(sv[0], "x", 1), -EPIPE);
    struct iovec iov = {"y", 1};
    T_EQ(grove_writev(sv[0], &iov, 1), -EPIPE);
    T_EQ(grove_sendall(sv[0], "z", 1), -EPIPE);
    grove_close(sv[0]);
    int pp[2];
    T_OK(pipe(pp));
    grove_close(pp[0]);
    T_EQ(grove_write(pp[1], "x", 1), -EPIPE);
    T_EQ(grove_writev(pp[1], &iov, 1), -EPIPE);
    sigset_t pend;
    sigpending(&pend);
    T_ASSERT(!sigismember(&pend, SIGPIPE)); /* the signal was consumed, not left pending */
    grove_close(pp[1]);
}

/* 5. A thread that returns with a timeout scope open (on its stack, or on the heap): the
 * timer heap stays sound and nothing fires on a reused record. */
static void *leave_scope_open(void *arg)
{
    grove_timeout *heap_to = arg;
    grove_timeout to[3];
    grove_timeout_start(&to[0], GROVE_MS(5));
    grove_timeout_start(&to[1], GROVE_MS(1));
    grove_timeout_start(&to[2], -1);
    if (heap_to)
        grove_timeout_start(heap_to, GROVE_MS(2));
    return NULL; /* misuse: none ended */
}

static void *sleep_ok(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        if (grove_sleep(GROVE_MS(2)) != 0)
            return (void *)1;
    return NULL;
}

static void test_05_scope_left_open(void)
{
    grove_timeout *heap_to = malloc(sizeof *heap_to);
    for (int round = 0; round < 20; round++) {
        grove_thread *t = grove_spawn(leave_scope_open, round == 0 ? heap_to : NULL);
        T_OK(grove_join(t, NULL));
    }
    T_ASSERT(!grove_timeout_end(heap_to)); /* orphaned, never fired on anyone */
    free(heap_to);
    grove_thread *s[10];
    for (int i = 0; i < 10; i++) /* reuse the same stacks */
        s[i] = grove_spawn(sleep_ok, NULL);
    for (int i = 0; i < 10; i++) {
        void *r;
        T_OK(grove_join(s[i], &r));
        T_EQ((intptr_t)r, 0);
    }
    T_OK(grove_sleep(GROVE_MS(10)));
}

/* 6. A timeout scope opened in a link callback must not hit a later, unrelated thread. */
static void link_opens_scope(grove_thread *t, void *arg)
{
    (void)t;
    grove_timeout_start(arg, GROVE_MS(1)); /* never ended: misuse */
}

static void test_06_scope_in_link_callback(void)
{
    static grove_timeout leaked;
    for (int i = 0; i < 5; i++) {
        grove_thread *t = grove_spawn(ret_arg, NULL);
        T_OK(grove_link(t, link_opens_scope, i == 0 ? (void *)&leaked : NULL));
        T_OK(grove_join(t, NULL));
    }
    grove_thread *u = grove_spawn(sleep_ok, NULL);
    void *r;
    T_OK(grove_join(u, &r));
    T_EQ((intptr_t)r, 0);
}

/* 7. Huge durations saturate: effectively forever, never "fire at once". */
static int g_started;
static void *mark_started(void *arg)
{
    (void)arg;
    g_started = 1;
    return NULL;
}
static void *sleep_forever(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)grove_sleep(INT64_MAX);
}

static void test_07_saturating_durations(void)
{
    grove_thread *t = grove_spawn(sleep_forever, NULL);
    T_OK(grove_sleep(GROVE_MS(10)));
    T_ASSERT(!grove_thread_done(t));
    T_OK(grove_kill(t));
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, -ECANCELED);

    grove_timeout to;
    T_OK(grove_timeout_start(&to, INT64_MAX));
    T_OK(grove_sleep(GROVE_MS(2)));
    T_ASSERT(!grove_timeout_end(&to));

    g_started = 0;
    t = grove_spawn_after(INT64_MAX, mark_started, NULL);
    T_ASSERT(t != NULL);
    T_OK(grove_sleep(GROVE_MS(10)));
    T_EQ(g_started, 0);
    T_OK(grove_kill(t));
    T_OK(grove_join(t, NULL));
    T_EQ(g_started, 0);
}

/* 8. task_done right after a get that took its item from a blocked putter. */
static void *put_two(void *arg)
{
    grove_queue *q = arg;
    grove_queue_put(q, (void *)1);
    grove_queue_put(q, (void *)2); /* blocks: the queue holds one */
    return NULL;
}

static void test_08_task_done_blocked_putter(void)
{
    grove_queue q;
    T_OK(grove_queue_init(&q, GROVE_QUEUE_FIFO, 1, NULL));
    grove_thread *p = grove_spawn(put_two, &q);
    T_OK(grove_yield()); /* p put 1 and blocks putting 2 */
    T_EQ(grove_queue_putting(&q), 1);
    void *it;
    T_OK(grove_queue_get(&q, &it)); /* takes 1; admits p's 2 */
    T_OK(grove_queue_task_done(&q));
    T_OK(grove_queue_get(&q, &it));
    T_EQ((intptr_t)it, 2);
    T_OK(grove_queue_task_done(&q)); /* before the fix: -EINVAL */
    T_OK(grove_queue_join(&q));      /* before the fix: never returned */
    T_OK(grove_join(p, NULL));

    /* Rendezvous: the getter takes straight from the blocked putter. */
    T_OK(grove_queue_resize(&q, GROVE_QUEUE_RENDEZVOUS));
    p = grove_spawn(put_two, &q);
    T_OK(grove_yield());
    T_OK(grove_queue_get(&q, &it));
    T_OK(grove_queue_task_done(&q));
    T_OK(grove_queue_get(&q, &it));
    T_OK(grove_queue_task_done(&q));
    T_OK(grove_queue_join(&q));
    T_OK(grove_join(p, NULL));
    T_OK(grove_queue_destroy(&q));
}

/* 9. A bogus fd is -EBADF at once, with no table growth. */
static void test_09_bogus_fd(void)
{
    char b[4];
    T_EQ(grove_read(9000000, b, 1), -EBADF);
    T_EQ(grove_wait_fd(9000000, GROVE_READ), -EBADF);
    T_EQ(grove_wait_fd(INT_MAX, GROVE_READ), -EBADF);
    T_EQ(grove_write(INT_MAX, b, 1), -EBADF);
    T_EQ(grove_read(-5, b, 1), -EBADF);
    T_OK(grove_fd_forget(INT_MAX));
}

/* 10 and 12. Any number of distinct stack sizes; a size near SIZE_MAX is -EINVAL. */
static void *touch_stack(void *arg)
{
    volatile char buf[512];
    buf[0] = 1;
    buf[511] = (char)(intptr_t)arg;
    return (void *)(intptr_t)buf[511];
}

static void test_10_12_stack_sizes(void)
{
    size_t sizes[] = {1024, 1500, 2100, 3000, 3900, 8192, 12288, 20480, 36864, 69632, 135168, 266240};
    size_t n = sizeof sizes / sizeof sizes[0];
    for (int round = 0; round < 3; round++) {
        grove_thread *t[16];
        for (size_t i = 0; i < n; i++) {
            grove_spawn_attr at = {.stack_size = sizes[i]};
            t[i] = grove_spawn_opts(&at, touch_stack, (void *)(intptr_t)(i + 1));
            if (!t[i])
                T_FAIL("stack size %zu: %s", sizes[i], strerror(errno));
        }
        for (size_t i = 0; i < n; i++) {
            void *r;
            T_OK(grove_join(t[i], &r));
            T_EQ((intptr_t)r, (intptr_t)(i + 1));
        }
    }
    size_t bad[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)1 << 40, 100};
    for (size_t i = 0; i < 4; i++) {
        grove_spawn_attr at = {.stack_size = bad[i]};
        errno = 0;
        T_ASSERT(grove_spawn_opts(&at, touch_stack, NULL) == NULL);
        T_EQ(errno, EINVAL);
    }
}

/* 13. cond_wait whose re-lock can never succeed: -EDEADLK, and the mutex is not held. */
static grove_mutex g_m;
static grove_event g_never;
static void *hold_forever(void *arg)
{
    (void)arg;
    grove_mutex_lock(&g_m);           /* handed over by main's cond_wait */
    grove_event_wait(&g_never, NULL); /* parks forever, holding the mutex */
    grove_mutex_unlock(&g_m);
    return NULL;
}

static void test_13_cond_relock_deadlock(void)
{
    grove_cond c;
    T_OK(grove_mutex_init(&g_m));
    T_OK(grove_cond_init(&c));
    T_OK(grove_event_init(&g_never));
    T_OK(grove_mutex_lock(&g_m));
    grove_thread *h = grove_spawn(hold_forever, NULL);
    T_OK(grove_yield()); /* h waits for the mutex */
    grove_timeout to;
    T_OK(grove_timeout_start(&to, GROVE_MS(5)));
    int rc = grove_cond_wait(&c, &g_m);
    T_ASSERT(grove_timeout_end(&to));
    T_EQ(rc, -EDEADLK);                     /* before the fix: -ETIMEDOUT, claiming the mutex was held */
    T_EQ(grove_mutex_unlock(&g_m), -EPERM); /* not ours */
    T_OK(grove_kill(h));
    T_OK(grove_join(h, NULL));
}

/* 14. Counters never overflow. */
static void test_14_counter_overflow(void)
{
    grove_sem s;
    T_OK(grove_sem_init(&s, LONG_MAX - 1));
    T_OK(grove_sem_release(&s));
    T_EQ(grove_sem_release(&s), -EOVERFLOW);
    T_EQ(grove_sem_count(&s), LONG_MAX);
    grove_waitgroup wg;
    T_OK(grove_waitgroup_init(&wg));
    T_OK(grove_waitgroup_add(&wg, LONG_MAX));
    T_EQ(grove_waitgroup_add(&wg, 1), -EOVERFLOW);
    T_EQ(grove_waitgroup_add(&wg, LONG_MIN), -EINVAL);
    T_OK(grove_waitgroup_add(&wg, -LONG_MAX));
    T_OK(grove_waitgroup_wait(&wg));
}

/* 15 and 16. Out-of-range ports; a dump to a bad fd. */
static void test_15_16_bad_args(void)
{
    T_EQ(grove_listen("127.0.0.1:99999", 1), -EINVAL);
    T_EQ(grove_listen("127.0.0.1:65536", 1), -EINVAL);
    T_EQ(grove_listen("127.0.0.1:12x", 1), -EINVAL);
    T_EQ(grove_connect("127.0.0.1:70000"), -EINVAL);
    int l = grove_listen("127.0.0.1:0", 1);
    T_OK(l);
    grove_close(l);
    T_EQ(grove_debug_dump(-1), -EBADF);
    T_EQ(grove_debug_dump(1000000), -EBADF);
    int pp[2];
    T_OK(pipe(pp));
    T_EQ(grove_debug_dump(pp[0]), -EBADF); /* read end */
    close(pp[0]);
    close(pp[1]);
}

/* 18. Killed while running: join yields what fn returned after seeing -ECANCELED. */
static void *returns_after_cancel(void *arg)
{
    (void)arg;
    while (grove_sleep(GROVE_MS(1)) == 0) {
    }
    return (void *)0x77;
}

static void test_18_killed_result(void)
{
    grove_thread *t = grove_spawn(returns_after_cancel, NULL);
    T_OK(grove_sleep(GROVE_MS(3)));
    T_OK(grove_kill(t));
    T_EQ((intptr_t)grove_thread_result(t), 0x77);
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, 0x77);
    t = grove_spawn(returns_after_cancel, NULL);
    T_OK(grove_kill(t)); /* before it started: NULL */
    T_OK(grove_join(t, &r));
    T_ASSERT(r == NULL);
}

/* 19. grove_proc_free of a live child is a switch point: other green threads run. */
static int g_ran;
static void *set_ran(void *arg)
{
    (void)arg;
    g_ran = 1;
    return NULL;
}

static void test_19_proc_free_switches(void)
{
    char *argv[] = {"sleep", "10", NULL};
    grove_proc *p = grove_proc_spawn(argv, NULL);
    T_ASSERT(p != NULL);
    g_ran = 0;
    grove_thread *t = grove_spawn(set_ran, NULL); /* runs only if proc_free switches */
    int64_t t0 = grove_now();
    T_OK(grove_proc_free(p));
    T_LT(grove_now() - t0, GROVE_SEC(5));
    T_EQ(g_ran, 1);
    T_OK(grove_join(t, NULL));
}

/* 21. Generic codes get generic text. */
static void test_21_strerror(void)
{
    T_ASSERT(!strstr(grove_strerror(-EBUSY), "fd"));
    T_ASSERT(!strstr(grove_strerror(-EDEADLK), "wake this"));
    T_ASSERT(strstr(grove_strerror(-ETIMEDOUT), "timed out") != NULL);
    T_ASSERT(strstr(grove_strerror(-ECANCELED), "killed") != NULL);
}

/* 22. imap: arguments and results dropped at close are handed to free functions. */
static int g_live;
static void *compute(void *arg)
{
    int *in = arg;
    int v = *in;
    free(in);
    g_live--;
    grove_sleep(GROVE_MS(1 + v % 3)); /* some are killed here */
    int *out = malloc(sizeof *out);
    g_live++;
    *out = v * 2;
    return out;
}
static int gen_ints(void *ctx, void **arg)
{
    int *n = ctx;
    if (*n >= 200)
        return 0;
    int *a = malloc(sizeof *a);
    g_live++;
    *a = (*n)++;
    *arg = a;
    return 1;
}
static void free_counted(void *p)
{
    free(p);
    g_live--;
}

static void test_22_imap_free(void)
{
    g_live = 0;
    grove_pool *pool = grove_pool_new(8);
    int n = 0;
    grove_imap *it = grove_pool_imap(pool, compute, gen_ints, &n);
    T_OK(grove_imap_set_free(it, free_counted, free_counted));
    for (int i = 0; i < 5; i++) {
        void *r;
        T_EQ(grove_imap_next(it, &r), 1);
        T_EQ(*(int *)r, 2 * i);
        free_counted(r);
    }
    T_OK(grove_imap_close(it));
    T_EQ(g_live, 0); /* nothing dropped leaked */
    T_OK(grove_pool_destroy(pool));
    T_EQ(grove_imap_set_free(NULL, NULL, NULL), -EINVAL);
}

/* 24. Grove's service threads are not "my threads". */
static void quiet(int fd, void *arg)
{
    (void)fd;
    (void)arg;
}

static void test_24_service_threads_not_counted(void)
{
    int l = grove_listen("127.0.0.1:0", 8);
    T_OK(l);
    grove_server *srv = grove_server_start(l, quiet, NULL, 0);
    T_EQ(grove_thread_count(), 0);
    grove_thread *w = grove_spawn(sleep_ok, NULL);
    T_EQ(grove_thread_count(), 1);
    T_OK(grove_wait_all()); /* returns when w is done, although the acceptor runs */
    T_ASSERT(grove_thread_done(w));
    T_OK(grove_join(w, NULL));
    T_OK(grove_server_stop(srv, GROVE_SEC(1)));
    grove_close(l);
}

/* Timers that fire on time: a yield loop inside a scope sees its deadline exactly, even
 * with busy threads around (before: up to 64 switches late); a deadline that passed with
 * no switch at all is reported by grove_timeout_end and grove_timeout_fired. */
static int g_busy_stop;
static void spin_ns(int64_t ns)
{
    int64_t end = grove_now() + ns;
    while (grove_now() < end) {
    }
}
static void *busy_yielder(void *arg)
{
    (void)arg;
    while (!g_busy_stop) {
        spin_ns(GROVE_US(500));
        if (grove_yield() < 0)
            break;
    }
    return NULL;
}

static void test_timers_on_time(void)
{
    g_busy_stop = 0;
    grove_thread *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = grove_spawn(busy_yielder, NULL);
    grove_timeout to;
    T_OK(grove_timeout_start(&to, GROVE_MS(10)));
    int64_t t0 = grove_now();
    int rc;
    while ((rc = grove_yield()) == 0) {
    }
    int64_t late = grove_now() - t0 - GROVE_MS(10);
    T_EQ(rc, -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    /* One round of the four busy threads is 2 ms; before the fix the check came only every
     * 64 switches (each 0.5 ms of spinning: about 32 ms late). 20 ms leaves room for a
     * loaded machine and still tells the two apart. */
    T_LT(late, GROVE_MS(20));
    g_busy_stop = 1;
    for (int i = 0; i < 4; i++)
        T_OK(grove_join(b[i], NULL));

    T_OK(grove_timeout_start(&to, GROVE_MS(2)));
    spin_ns(GROVE_MS(4)); /* no switch point at all */
    T_ASSERT(grove_timeout_fired(&to));
    T_ASSERT(grove_timeout_end(&to));
    T_OK(grove_yield()); /* ended: nothing left over */
    T_OK(grove_timeout_start(&to, GROVE_MS(50)));
    T_ASSERT(!grove_timeout_fired(&to));
    T_ASSERT(!grove_timeout_end(&to));
}

/* 17. Memory that only a parked green thread points to is not a leak: the thread stays
 * parked until the process exits, and LeakSanitizer (ASan build, detect_leaks=1) must
 * not report its block. Runs last. */
static grove_event g_forever;
static void *hold_block(void *arg)
{
    (void)arg;
    char *volatile block = malloc(4096); /* only this frame points to it */
    memset(block, 1, 4096);
    grove_event_wait(&g_forever, NULL);
    free(block);
    return NULL;
}

static void test_17_parked_thread_not_a_leak(void)
{
    grove_event_init(&g_forever);
    grove_spawn_attr small = {.stack_size = GROVE_STACK_SMALL};
    T_ASSERT(grove_spawn(hold_block, NULL) != NULL);
    T_ASSERT(grove_spawn_opts(&small, hold_block, NULL) != NULL);
    T_OK(grove_yield()); /* both park; the process exits with them parked */
}

static const t_case cases[] = {
    T_CASE(test_01_double_join),
    T_CASE(test_01b_stale_handle_after_reuse),
    T_CASE(test_01c_stale_handle_unmapped_stack),
    T_CASE(test_01d_self_is_the_handle),
    T_CASE(test_01e_foreign_and_orphaned_handles),
    T_CASE(test_01f_handles_across_fork),
    T_CASE(test_03_communicate_sigpipe),
    T_CASE(test_04_write_sigpipe),
    T_CASE(test_05_scope_left_open),
    T_CASE(test_06_scope_in_link_callback),
    T_CASE(test_07_saturating_durations),
    T_CASE(test_08_task_done_blocked_putter),
    T_CASE(test_09_bogus_fd),
    T_CASE(test_10_12_stack_sizes),
    T_CASE(test_13_cond_relock_deadlock),
    T_CASE(test_14_counter_overflow),
    T_CASE(test_15_16_bad_args),
    T_CASE(test_18_killed_result),
    T_CASE(test_19_proc_free_switches),
    T_CASE(test_21_strerror),
    T_CASE(test_22_imap_free),
    T_CASE(test_24_service_threads_not_counted),
    T_CASE(test_timers_on_time),
    T_CASE(test_17_parked_thread_not_a_leak),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
