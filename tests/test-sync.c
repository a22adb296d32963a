/* Sync primitives: event, queue family, channel, semaphore, mutex, cond, wait group.
 * Ports the behaviour checked by eventlet's test_event/test_queue/test_semaphore and
 * gevent's test__queue/test__event/test__semaphore. */
// ctest: labels=unit,sync,portable,valgrind timeout=120
#include "test.h"

static char g_log[512];
static void logc(const char *s) { strcat(g_log, s); }
static void logi(long v)
{
    char b[24];
    snprintf(b, sizeof b, "%ld,", v);
    logc(b);
}

/* ---- event ----------------------------------------------------------------------- */

static grove_event g_ev;

static void *ev_waiter(void *arg)
{
    void *v = NULL;
    int rc = grove_event_wait(&g_ev, &v);
    return rc < 0 ? (void *)(intptr_t)rc : v;
}

static void test_event(void)
{
    T_OK(grove_event_init(&g_ev));
    grove_thread *a = grove_spawn(ev_waiter, NULL), *b = grove_spawn(ev_waiter, NULL);
    T_OK(grove_yield());
    T_ASSERT(!grove_event_ready(&g_ev));
    T_EQ(grove_event_destroy(&g_ev), -EBUSY);
    T_OK(grove_event_send(&g_ev, (void *)77));
    T_EQ(grove_event_send(&g_ev, (void *)78), -EALREADY);
    void *ra, *rb;
    T_OK(grove_join(a, &ra));
    T_OK(grove_join(b, &rb));
    T_EQ((intptr_t)ra, 77);
    T_EQ((intptr_t)rb, 77);
    void *v;
    T_OK(grove_event_wait(&g_ev, &v)); /* already sent: at once */
    T_EQ((intptr_t)v, 77);
    T_OK(grove_event_reset(&g_ev));
    T_ASSERT(!grove_event_ready(&g_ev));

    /* Waiting with a timeout scope. */
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    T_EQ(grove_event_wait(&g_ev, &v), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));

    /* Error delivery (AsyncResult.set_exception). */
    a = grove_spawn(ev_waiter, NULL);
    T_OK(grove_yield());
    T_EQ(grove_event_send_error(&g_ev, 5), -EINVAL);
    T_OK(grove_event_send_error(&g_ev, -ECONNRESET));
    T_OK(grove_join(a, &ra));
    T_EQ((intptr_t)ra, -ECONNRESET);
    T_EQ(grove_event_wait(&g_ev, NULL), -ECONNRESET);
    T_OK(grove_event_destroy(&g_ev));
}

/* ---- queue order ----------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return (x > y) - (x < y);
}

static void drain(grove_queue *q)
{
    g_log[0] = 0;
    void *it;
    while (grove_queue_try_get(q, &it) == 0)
        logi((intptr_t)it);
}

static void test_queue_orders(void)
{
    grove_queue q;
    T_OK(grove_queue_init(&q, GROVE_QUEUE_FIFO, GROVE_QUEUE_UNBOUNDED, NULL));
    for (int i = 1; i <= 40; i++) /* past the first growth, with a wrapped ring */
        T_OK(grove_queue_put(&q, (void *)(intptr_t)i));
    void *it;
    for (int i = 1; i <= 10; i++) {
        T_OK(grove_queue_get(&q, &it));
        T_EQ((intptr_t)it, i);
    }
    for (int i = 41; i <= 50; i++)
        T_OK(grove_queue_put(&q, (void *)(intptr_t)i));
    T_EQ(grove_queue_size(&q), 40);
    for (int i = 11; i <= 50; i++) {
        T_OK(grove_queue_get(&q, &it));
        T_EQ((intptr_t)it, i);
    }
    T_EQ(grove_queue_try_get(&q, &it), -EAGAIN);
    T_OK(grove_queue_destroy(&q));

    T_OK(grove_queue_init(&q, GROVE_QUEUE_LIFO, GROVE_QUEUE_UNBOUNDED, NULL));
    for (int i = 1; i <= 5; i++)
        T_OK(grove_queue_put(&q, (void *)(intptr_t)i));
    drain(&q);
    T_STREQ(g_log, "5,4,3,2,1,");
    T_OK(grove_queue_destroy(&q));

    T_EQ(grove_queue_init(&q, GROVE_QUEUE_PRIORITY, -1, NULL), -EINVAL);
    T_OK(grove_queue_init(&q, GROVE_QUEUE_PRIORITY, GROVE_QUEUE_UNBOUNDED, cmp_int));
    static const int in[] = {5, 3, 9, 1, 7, 3, 8, 2, 6, 4, 0};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        T_OK(grove_queue_put(&q, (void *)(intptr_t)in[i]));
    drain(&q);
    T_STREQ(g_log, "0,1,2,3,3,4,5,6,7,8,9,");
    T_OK(grove_queue_destroy(&q));
}

/* Equal priorities come out in insertion order. */
typedef struct prio_item {
    int prio;
    int id;
} prio_item;
static int cmp_prio(const void *a, const void *b)
{
    const prio_item *x = a, *y = b;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

static void test_priority_stable(void)
{
    grove_queue q;
    T_OK(grove_queue_init(&q, GROVE_QUEUE_PRIORITY, GROVE_QUEUE_UNBOUNDED, cmp_prio));
    prio_item items[20];
    for (int i = 0; i < 20; i++) {
        items[i].prio = i % 2;
        items[i].id = i;
        T_OK(grove_queue_put(&q, &items[i]));
    }
    int last_id[2] = {-1, -1};
    int last_prio = 0;
    for (int i = 0; i < 20; i++) {
        void *it;
        T_OK(grove_queue_get(&q, &it));
        prio_item *p = it;
        T_GE(p->prio, last_prio);
        T_GT(p->id, last_id[p->prio]);
        last_id[p->prio] = p->id;
        last_prio = p->prio;
    }
    T_OK(grove_queue_destroy(&q));
}

/* ---- bounded, rendezvous, resize ------------------------------------------------- */

static grove_queue g_q;

static void *putter(void *arg)
{
    int rc = grove_queue_put(&g_q, arg);
    logc("p");
    return (void *)(intptr_t)rc;
}

static void *getter(void *arg)
{
    void *it = NULL;
    int rc = grove_queue_get(&g_q, &it);
    return rc < 0 ? (void *)(intptr_t)rc : it;
}

static void test_bounded_put_blocks(void)
{
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, 2, NULL));
    T_OK(grove_queue_put(&g_q, (void *)1));
    T_OK(grove_queue_put(&g_q, (void *)2));
    T_EQ(grove_queue_try_put(&g_q, (void *)3), -EAGAIN);
    g_log[0] = 0;
    grove_thread *p = grove_spawn(putter, (void *)3);
    T_OK(grove_yield());
    T_STREQ(g_log, ""); /* blocked: full */
    T_EQ(grove_queue_putting(&g_q), 1);
    void *it;
    T_OK(grove_queue_get(&g_q, &it));
    T_EQ((intptr_t)it, 1);
    T_EQ(grove_queue_size(&g_q), 2); /* the putter's item moved in at once */
    T_OK(grove_join(p, NULL));
    T_STREQ(g_log, "p");
    drain(&g_q);
    T_STREQ(g_log, "2,3,");

    /* Timed-out put stores nothing. */
    T_OK(grove_queue_put(&g_q, (void *)1));
    T_OK(grove_queue_put(&g_q, (void *)2));
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    T_EQ(grove_queue_put(&g_q, (void *)3), -ETIMEDOUT);
    grove_timeout_end(&to);
    drain(&g_q);
    T_STREQ(g_log, "1,2,");
    T_OK(grove_queue_destroy(&g_q));
}

static void test_rendezvous(void)
{
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, GROVE_QUEUE_RENDEZVOUS, NULL));
    T_EQ(grove_queue_try_put(&g_q, (void *)1), -EAGAIN); /* nobody to take it */
    g_log[0] = 0;
    grove_thread *p = grove_spawn(putter, (void *)5);
    T_OK(grove_sleep(GROVE_MS(5)));
    T_STREQ(g_log, ""); /* put blocks until a get */
    T_EQ(grove_queue_size(&g_q), 0);
    void *it;
    T_OK(grove_queue_get(&g_q, &it));
    T_EQ((intptr_t)it, 5);
    T_OK(grove_join(p, NULL));
    T_STREQ(g_log, "p");

    /* A getter first: the put hands over directly and does not block. */
    grove_thread *g = grove_spawn(getter, NULL);
    T_OK(grove_yield());
    T_EQ(grove_queue_getting(&g_q), 1);
    T_OK(grove_queue_try_put(&g_q, (void *)6));
    void *r;
    T_OK(grove_join(g, &r));
    T_EQ((intptr_t)r, 6);

    /* Resize releases blocked putters (eventlet test_resize_up). */
    g_log[0] = 0;
    grove_thread *p1 = grove_spawn(putter, (void *)7), *p2 = grove_spawn(putter, (void *)8);
    T_OK(grove_yield());
    T_EQ(grove_queue_putting(&g_q), 2);
    T_OK(grove_queue_resize(&g_q, 1));
    T_EQ(grove_queue_putting(&g_q), 1);
    T_EQ(grove_queue_size(&g_q), 1);
    T_OK(grove_queue_resize(&g_q, GROVE_QUEUE_UNBOUNDED));
    T_EQ(grove_queue_putting(&g_q), 0);
    T_OK(grove_join(p1, NULL));
    T_OK(grove_join(p2, NULL));
    T_STREQ(g_log, "pp");
    /* Shrinking never drops items. */
    T_OK(grove_queue_resize(&g_q, 0));
    T_EQ(grove_queue_size(&g_q), 2);
    drain(&g_q);
    T_STREQ(g_log, "7,8,");
    T_OK(grove_queue_destroy(&g_q));
}

static void test_channel(void)
{
    grove_chan ch;
    T_OK(grove_chan_init(&ch));
    T_OK(grove_chan_close(&ch));
    T_EQ(grove_chan_send(&ch, NULL), -EPIPE);
    void *it;
    T_EQ(grove_chan_recv(&ch, &it), -EPIPE);
    T_OK(grove_chan_destroy(&ch));
}

/* ---- killed getters never receive items ------------------------------------------ */

static void test_killed_getter_loses_nothing(void)
{
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, GROVE_QUEUE_UNBOUNDED, NULL));
    grove_thread *g1 = grove_spawn(getter, NULL);
    grove_thread *g2 = grove_spawn(getter, NULL);
    T_OK(grove_yield());
    T_EQ(grove_queue_getting(&g_q), 2);
    T_OK(grove_kill(g1));
    T_EQ(grove_queue_getting(&g_q), 1);
    T_OK(grove_queue_put(&g_q, (void *)42));
    void *r1, *r2;
    T_OK(grove_join(g1, &r1));
    T_OK(grove_join(g2, &r2));
    T_EQ((intptr_t)r1, -ECANCELED);
    T_EQ((intptr_t)r2, 42); /* the item went to the live getter */

    /* Killed after the item was handed over but before it ran: it still owns the item
     * (the get succeeded), so nothing is lost either. */
    grove_thread *g3 = grove_spawn(getter, NULL);
    T_OK(grove_yield());
    T_OK(grove_queue_put(&g_q, (void *)43));
    T_OK(grove_kill_nowait(g3));
    T_OK(grove_join(g3, &r1));
    T_EQ((intptr_t)r1, 43);

    /* A killed getter with no one else waiting: the item stays queued. */
    grove_thread *g4 = grove_spawn(getter, NULL);
    T_OK(grove_yield());
    T_OK(grove_kill(g4));
    T_OK(grove_join(g4, NULL));
    T_OK(grove_queue_put(&g_q, (void *)44));
    T_EQ(grove_queue_size(&g_q), 1);
    T_OK(grove_queue_destroy(&g_q));
}

static void test_queue_timeout_get(void)
{
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, GROVE_QUEUE_UNBOUNDED, NULL));
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    int64_t t0 = grove_now();
    void *it;
    T_EQ(grove_queue_get(&g_q, &it), -ETIMEDOUT);
    T_GE(grove_now() - t0, GROVE_MS(9));
    grove_timeout_end(&to);
    T_EQ(grove_queue_getting(&g_q), 0);
    T_OK(grove_queue_put(&g_q, (void *)1));
    T_EQ(grove_queue_size(&g_q), 1);
    T_OK(grove_queue_destroy(&g_q));
}

static void test_queue_close(void)
{
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, 1, NULL));
    T_OK(grove_queue_put(&g_q, (void *)1));
    grove_thread *p = grove_spawn(putter, (void *)2); /* blocks: full */
    T_OK(grove_yield());
    T_OK(grove_queue_close(&g_q));
    void *r;
    T_OK(grove_join(p, &r));
    T_EQ((intptr_t)r, -EPIPE);
    T_EQ(grove_queue_put(&g_q, (void *)3), -EPIPE);
    void *it;
    T_OK(grove_queue_get(&g_q, &it)); /* getters drain what is left */
    T_EQ((intptr_t)it, 1);
    T_EQ(grove_queue_get(&g_q, &it), -EPIPE);
    T_OK(grove_queue_destroy(&g_q));

    /* A blocked getter is released by close. */
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, GROVE_QUEUE_UNBOUNDED, NULL));
    grove_thread *g = grove_spawn(getter, NULL);
    T_OK(grove_yield());
    T_OK(grove_queue_close(&g_q));
    T_OK(grove_join(g, &r));
    T_EQ((intptr_t)r, -EPIPE);
    T_OK(grove_queue_destroy(&g_q));
}

static int g_processed;
static void *worker_task_done(void *arg)
{
    void *it;
    while (grove_queue_get(&g_q, &it) == 0) {
        grove_sleep(GROVE_MS(1));
        g_processed++;
        grove_queue_task_done(&g_q);
    }
    return NULL;
}

static void test_task_done_join(void)
{
    T_OK(grove_queue_init(&g_q, GROVE_QUEUE_FIFO, GROVE_QUEUE_UNBOUNDED, NULL));
    T_EQ(grove_queue_task_done(&g_q), -EINVAL);
    T_OK(grove_queue_join(&g_q)); /* nothing put: at once */
    g_processed = 0;
    grove_thread *w1 = grove_spawn(worker_task_done, NULL), *w2 = grove_spawn(worker_task_done, NULL);
    for (int i = 0; i < 10; i++)
        T_OK(grove_queue_put(&g_q, (void *)(intptr_t)i));
    T_OK(grove_queue_join(&g_q));
    T_EQ(g_processed, 10);
    T_OK(grove_queue_close(&g_q));
    T_OK(grove_join(w1, NULL));
    T_OK(grove_join(w2, NULL));
    T_OK(grove_queue_destroy(&g_q));
}

/* ---- semaphore --------------------------------------------------------------------- */

static grove_sem g_sem;

static void *sem_user(void *arg)
{
    int rc = grove_sem_acquire(&g_sem);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    logc(arg);
    grove_yield();
    grove_sem_release(&g_sem);
    return NULL;
}

static void test_semaphore_fair(void)
{
    /* eventlet test_semaphore's starvation case: with one unit and three threads
     * contending in a loop, acquisition order is FIFO and the third is not starved. */
    T_OK(grove_sem_init(&g_sem, 1));
    T_OK(grove_sem_acquire(&g_sem));
    g_log[0] = 0;
    grove_thread *t[3];
    static const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        t[i] = grove_spawn(sem_user, (void *)names[i]);
    T_OK(grove_yield());
    T_EQ(grove_sem_waiting(&g_sem), 3);
    T_EQ(grove_sem_count(&g_sem), 0);
    T_OK(grove_sem_release(&g_sem));
    /* A newcomer cannot barge in ahead of the waiters. */
    T_EQ(grove_sem_try_acquire(&g_sem), -EAGAIN);
    for (int i = 0; i < 3; i++)
        T_OK(grove_join(t[i], NULL));
    T_STREQ(g_log, "abc");
    T_EQ(grove_sem_count(&g_sem), 1);
    T_OK(grove_sem_destroy(&g_sem));
}

static int g_turns[3];
static void *sem_loop(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 30; i++) {
        grove_sem_acquire(&g_sem);
        g_turns[id]++;
        grove_yield();
        grove_sem_release(&g_sem);
    }
    return NULL;
}

static void test_semaphore_no_starvation(void)
{
    T_OK(grove_sem_init(&g_sem, 1));
    memset(g_turns, 0, sizeof g_turns);
    grove_thread *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = grove_spawn(sem_loop, (void *)(intptr_t)i);
    /* After a while all three must have had turns, in near-equal numbers. */
    for (int k = 0; k < 30; k++)
        grove_yield();
    T_GT(g_turns[2], 0);
    T_LE(g_turns[0] - g_turns[2], 1);
    for (int i = 0; i < 3; i++)
        T_OK(grove_join(t[i], NULL));
    T_EQ(g_turns[0] + g_turns[1] + g_turns[2], 90);
    T_OK(grove_sem_destroy(&g_sem));
}

static void test_bounded_semaphore(void)
{
    grove_sem s;
    T_OK(grove_sem_init_bounded(&s, 2));
    T_EQ(grove_sem_release(&s), -EOVERFLOW);
    T_OK(grove_sem_acquire(&s));
    T_OK(grove_sem_release(&s));
    T_EQ(grove_sem_release(&s), -EOVERFLOW);
    T_EQ(grove_sem_count(&s), 2);
    grove_sem u;
    T_OK(grove_sem_init(&u, 0));
    T_OK(grove_sem_release(&u));
    T_OK(grove_sem_release(&u)); /* unbounded: fine */
    T_EQ(grove_sem_count(&u), 2);
    T_EQ(grove_sem_init(&u, -1), -EINVAL);
    grove_timeout to;
    T_OK(grove_sem_init(&u, 0));
    grove_timeout_start(&to, GROVE_MS(5));
    T_EQ(grove_sem_acquire(&u), -ETIMEDOUT);
    grove_timeout_end(&to);
    T_EQ(grove_sem_waiting(&u), 0);
}

/* ---- mutex and cond ------------------------------------------------------------------ */

static grove_mutex g_mu;
static grove_cond g_cv;
static int g_shared, g_inside, g_max_inside;

static void *mu_worker(void *arg)
{
    for (int i = 0; i < 20; i++) {
        T_OK(grove_mutex_lock(&g_mu));
        g_inside++;
        if (g_inside > g_max_inside)
            g_max_inside = g_inside;
        int v = g_shared;
        grove_yield(); /* others run while we hold it */
        g_shared = v + 1;
        g_inside--;
        T_OK(grove_mutex_unlock(&g_mu));
    }
    return NULL;
}

static void test_mutex(void)
{
    T_OK(grove_mutex_init(&g_mu));
    g_shared = g_inside = g_max_inside = 0;
    grove_thread *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = grove_spawn(mu_worker, NULL);
    for (int i = 0; i < 4; i++)
        T_OK(grove_join(t[i], NULL));
    T_EQ(g_shared, 80);
    T_EQ(g_max_inside, 1);
    T_OK(grove_mutex_lock(&g_mu));
    T_EQ(grove_mutex_lock(&g_mu), -EDEADLK);
    T_EQ(grove_mutex_trylock(&g_mu), -EBUSY);
    T_EQ(grove_mutex_destroy(&g_mu), -EBUSY);
    T_OK(grove_mutex_unlock(&g_mu));
    T_EQ(grove_mutex_unlock(&g_mu), -EPERM);
    T_OK(grove_mutex_destroy(&g_mu));
}

static int g_ready_flag;
static void *cv_waiter(void *arg)
{
    T_OK(grove_mutex_lock(&g_mu));
    int rc = 0;
    while (!g_ready_flag && rc == 0)
        rc = grove_cond_wait(&g_cv, &g_mu);
    T_ASSERT(g_mu.owner_ == grove_self()); /* held again, whatever happened */
    logc(arg);
    T_OK(grove_mutex_unlock(&g_mu));
    return (void *)(intptr_t)rc;
}

static void test_cond(void)
{
    T_OK(grove_mutex_init(&g_mu));
    T_OK(grove_cond_init(&g_cv));
    g_ready_flag = 0;
    g_log[0] = 0;
    grove_thread *a = grove_spawn(cv_waiter, "a"), *b = grove_spawn(cv_waiter, "b");
    T_OK(grove_yield());
    T_EQ(grove_cond_signal(&g_cv), 1); /* a wakes, sees flag 0, waits again */
    T_OK(grove_yield());
    T_STREQ(g_log, "");
    T_OK(grove_mutex_lock(&g_mu));
    g_ready_flag = 1;
    T_EQ(grove_cond_broadcast(&g_cv), 2);
    T_OK(grove_mutex_unlock(&g_mu));
    T_OK(grove_join(a, NULL));
    T_OK(grove_join(b, NULL));
    T_STREQ(g_log, "ba"); /* b waited longer the second time round */

    /* Killed while waiting: returns -ECANCELED holding the mutex (taken back from main). */
    g_ready_flag = 0;
    g_log[0] = 0;
    a = grove_spawn(cv_waiter, "k");
    T_OK(grove_yield());
    T_OK(grove_mutex_lock(&g_mu));
    T_OK(grove_kill_nowait(a));
    T_OK(grove_yield()); /* a must wait for the mutex, uninterruptibly */
    T_STREQ(g_log, "");
    T_OK(grove_mutex_unlock(&g_mu));
    void *r;
    T_OK(grove_join(a, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    T_STREQ(g_log, "k");
    T_EQ(grove_cond_wait(&g_cv, &g_mu), -EPERM);
    T_OK(grove_cond_destroy(&g_cv));
    T_OK(grove_mutex_destroy(&g_mu));
}

/* ---- wait group ---------------------------------------------------------------------- */

static grove_waitgroup g_wg;
static void *wg_worker(void *arg)
{
    grove_sleep((int64_t)(intptr_t)arg);
    grove_waitgroup_done(&g_wg);
    return NULL;
}

static void test_waitgroup(void)
{
    T_OK(grove_waitgroup_init(&g_wg));
    T_OK(grove_waitgroup_wait(&g_wg));
    T_OK(grove_waitgroup_add(&g_wg, 3));
    for (int i = 1; i <= 3; i++)
        grove_detach(grove_spawn(wg_worker, (void *)(intptr_t)GROVE_MS(i * 3)));
    int64_t t0 = grove_now();
    T_OK(grove_waitgroup_wait(&g_wg));
    T_GE(grove_now() - t0, GROVE_MS(8));
    T_EQ(grove_waitgroup_done(&g_wg), -EINVAL);
    T_OK(grove_wait_all());
}

static const t_case cases[] = {
    T_CASE(test_event),
    T_CASE(test_queue_orders),
    T_CASE(test_priority_stable),
    T_CASE(test_bounded_put_blocks),
    T_CASE(test_rendezvous),
    T_CASE(test_channel),
    T_CASE(test_killed_getter_loses_nothing),
    T_CASE(test_queue_timeout_get),
    T_CASE(test_queue_close),
    T_CASE(test_task_done_join),
    T_CASE(test_semaphore_fair),
    T_CASE(test_semaphore_no_starvation),
    T_CASE(test_bounded_semaphore),
    T_CASE(test_mutex),
    T_CASE(test_cond),
    T_CASE(test_waitgroup),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
