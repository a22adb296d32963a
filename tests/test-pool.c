/* Pools: green pool, pile, imap, resource pool. Ports the behaviour checked by eventlet's
 * test_greenpool (imap order and concurrency, waiting/running counts, resize, pile order)
 * and tests/test_pools. */
// ctest: labels=unit,pool,portable,valgrind timeout=120
#include "test.h"

static int g_now, g_peak;

static void *busy(void *arg)
{
    g_now++;
    if (g_now > g_peak)
        g_peak = g_now;
    grove_sleep((int64_t)(intptr_t)arg);
    g_now--;
    return arg;
}

static void busy_n(void *arg) { busy(arg); }

static void test_pool_counts(void)
{
    grove_pool *p = grove_pool_new(2);
    T_ASSERT(p);
    T_ASSERT(grove_pool_new(0) == NULL && errno == EINVAL);
    T_EQ(grove_pool_free(p), 2);
    g_now = g_peak = 0;
    grove_thread *a = grove_pool_spawn(p, busy, (void *)(intptr_t)GROVE_MS(10));
    T_EQ(grove_pool_running(p), 1);
    T_EQ(grove_pool_free(p), 1);
    T_OK(grove_pool_spawn_n(p, busy_n, (void *)(intptr_t)GROVE_MS(10)));
    T_EQ(grove_pool_running(p), 2);
    T_EQ(grove_pool_free(p), 0);
    /* A third spawn waits (in main) until a slot frees up. */
    grove_thread *c = grove_pool_spawn(p, busy, (void *)(intptr_t)GROVE_MS(1)); /* blocks ~10 ms */
    T_ASSERT(c);
    T_EQ(grove_pool_waiting(p), 0);
    T_LE(grove_pool_running(p), 2);
    T_OK(grove_pool_waitall(p));
    T_EQ(grove_pool_running(p), 0);
    T_EQ(grove_pool_free(p), 2);
    T_EQ(g_peak, 2);
    T_OK(grove_join(a, NULL));
    T_OK(grove_join(c, NULL));
    T_OK(grove_pool_destroy(p));
}

static grove_pool *g_pool;
static void *spawner(void *arg)
{
    grove_thread *t = grove_pool_spawn(g_pool, busy, arg);
    if (!t)
        return (void *)(intptr_t)-errno;
    grove_detach(t);
    return NULL;
}

static void test_pool_waiting_count(void)
{
    g_pool = grove_pool_new(1);
    g_now = g_peak = 0;
    grove_detach(grove_pool_spawn(g_pool, busy, (void *)(intptr_t)GROVE_MS(20)));
    grove_thread *s1 = grove_spawn(spawner, (void *)(intptr_t)GROVE_MS(1));
    grove_thread *s2 = grove_spawn(spawner, (void *)(intptr_t)GROVE_MS(1));
    T_OK(grove_yield());
    T_EQ(grove_pool_waiting(g_pool), 2);
    T_EQ(grove_pool_running(g_pool), 1);
    /* Killing a blocked spawner removes it and spawns nothing. */
    T_OK(grove_kill(s2));
    void *r;
    T_OK(grove_join(s2, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    T_EQ(grove_pool_waiting(g_pool), 1);
    T_OK(grove_pool_waitall(g_pool));
    T_OK(grove_join(s1, &r));
    T_ASSERT(r == NULL);
    T_EQ(g_peak, 1);
    T_OK(grove_pool_destroy(g_pool));
}

static void test_pool_resize(void)
{
    g_pool = grove_pool_new(2);
    g_now = g_peak = 0;
    grove_thread *sp[6];
    for (int i = 0; i < 6; i++)
        sp[i] = grove_spawn(spawner, (void *)(intptr_t)GROVE_MS(20));
    T_OK(grove_yield());
    T_EQ(grove_pool_running(g_pool), 2);
    T_EQ(grove_pool_waiting(g_pool), 4);
    T_OK(grove_pool_resize(g_pool, 5)); /* up: three waiters start at once */
    T_EQ(grove_pool_running(g_pool), 5);
    T_EQ(grove_pool_waiting(g_pool), 1);
    T_OK(grove_pool_resize(g_pool, 1)); /* down: nobody is killed */
    T_EQ(grove_pool_running(g_pool), 5);
    T_EQ(grove_pool_free(g_pool), 0);
    T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(g_now, 5);
    T_OK(grove_pool_waitall(g_pool));
    for (int i = 0; i < 6; i++)
        T_OK(grove_join(sp[i], NULL));
    T_EQ(g_peak, 5); /* the last one ran alone, after the shrink */
    T_EQ(grove_pool_resize(g_pool, 0), -EINVAL);
    T_OK(grove_pool_destroy(g_pool));
}

static void inner_spawn(void *arg)
{
    /* From inside a full pool: spawn_n runs inline, spawn fails with EDEADLK. */
    int *out = arg;
    out[0] = grove_pool_spawn(g_pool, busy, NULL) == NULL ? errno : 0;
    out[1] = grove_pool_spawn_n(g_pool, busy_n, NULL);
    out[2] = grove_pool_waitall(g_pool);
}

static void test_pool_spawn_from_inside(void)
{
    g_pool = grove_pool_new(1);
    int out[3] = {-1, -1, -1};
    T_OK(grove_pool_spawn_n(g_pool, inner_spawn, out));
    T_OK(grove_pool_waitall(g_pool));
    T_EQ(out[0], EDEADLK);
    T_EQ(out[1], 0);
    T_EQ(out[2], -EDEADLK);
    T_OK(grove_pool_destroy(g_pool));
}

/* ---- pile ---------------------------------------------------------------------------- */

static void test_pile_order(void)
{
    grove_pile *pile = grove_pile_new(NULL, 10);
    T_ASSERT(pile);
    /* Later ones finish first. */
    for (int i = 0; i < 10; i++)
        T_OK(grove_pile_spawn(pile, busy, (void *)(intptr_t)GROVE_MS(20 - 2 * i)));
    T_EQ(grove_pile_pending(pile), 10);
    for (int i = 0; i < 10; i++) {
        void *r;
        T_OK(grove_pile_next(pile, &r));
        T_EQ((intptr_t)r, GROVE_MS(20 - 2 * i));
    }
    void *r;
    T_EQ(grove_pile_next(pile, &r), -ENOENT);

    /* A timed-out next loses nothing. */
    T_OK(grove_pile_spawn(pile, busy, (void *)(intptr_t)GROVE_MS(20)));
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(2));
    T_EQ(grove_pile_next(pile, &r), -ETIMEDOUT);
    grove_timeout_end(&to);
    T_OK(grove_pile_next(pile, &r));
    T_EQ((intptr_t)r, GROVE_MS(20));

    /* Destroy with work outstanding kills it. */
    T_OK(grove_pile_spawn(pile, busy, (void *)(intptr_t)GROVE_SEC(10)));
    int64_t t0 = grove_now();
    T_OK(grove_pile_destroy(pile));
    T_LT(grove_now() - t0, GROVE_MS(500));
    g_now = 0;
}

/* ---- imap ---------------------------------------------------------------------------- */

typedef struct gen_state {
    int next, end;
    int produced;
} gen_state;

static int gen_range(void *ctx, void **arg)
{
    gen_state *g = ctx;
    if (g->next >= g->end)
        return 0;
    /* Out-of-order durations: odd items finish before even ones. */
    int i = g->next++;
    g->produced++;
    *arg = (void *)(intptr_t)i;
    return 1;
}

static void *square_slow(void *arg)
{
    intptr_t i = (intptr_t)arg;
    g_now++;
    if (g_now > g_peak)
        g_peak = g_now;
    grove_sleep(GROVE_MS(i % 2 ? 1 : 4));
    g_now--;
    return (void *)(i * i);
}

static void test_imap_order_and_cap(void)
{
    grove_pool *p = grove_pool_new(4);
    gen_state g = {0, 50, 0};
    g_now = g_peak = 0;
    grove_imap *it = grove_pool_imap(p, square_slow, gen_range, &g);
    T_ASSERT(it);
    for (intptr_t i = 0; i < 50; i++) {
        void *r;
        T_EQ(grove_imap_next(it, &r), 1);
        T_EQ((intptr_t)r, i * i);
        /* Never more than 2 x size results ahead of the consumer. */
        T_LE(g.produced - (i + 1), 8);
    }
    void *r;
    T_EQ(grove_imap_next(it, &r), 0);
    T_EQ(g_peak, 4);
    T_OK(grove_imap_close(it));
    T_EQ(grove_pool_running(p), 0);
    T_OK(grove_pool_destroy(p));
}

static int gen_error(void *ctx, void **arg)
{
    int *n = ctx;
    if (*n == 3)
        return -EIO;
    *arg = (void *)(intptr_t)(*n)++;
    return 1;
}

static void test_imap_early_stop_and_error(void)
{
    grove_pool *p = grove_pool_new(3);
    gen_state g = {0, 1000000, 0};
    g_now = g_peak = 0;
    grove_imap *it = grove_pool_imap(p, square_slow, gen_range, &g);
    void *r;
    T_EQ(grove_imap_next(it, &r), 1);
    T_EQ(grove_imap_next(it, &r), 1);
    T_OK(grove_imap_close(it)); /* stops the generator; nothing leaks (Valgrind) */
    T_LE(g.produced, 2 + 6 + 1);
    T_EQ(grove_pool_running(p), 0);

    int n = 0;
    it = grove_pool_imap(p, square_slow, gen_error, &n);
    for (int i = 0; i < 3; i++)
        T_EQ(grove_imap_next(it, &r), 1);
    T_EQ(grove_imap_next(it, &r), -EIO); /* after the results before it */
    T_OK(grove_imap_close(it));
    T_OK(grove_pool_destroy(p));
}

/* ---- resource pool ---------------------------------------------------------------- */

static int g_created, g_destroyed, g_fail_create;

static int res_create(void *ctx, void **item)
{
    if (g_fail_create)
        return -ECONNREFUSED;
    grove_sleep(GROVE_MS(1)); /* creating may switch, like a connect */
    int *v = malloc(sizeof *v);
    *v = ++g_created;
    *item = v;
    return 0;
}
static void res_destroy(void *ctx, void *item)
{
    g_destroyed++;
    free(item);
}

static grove_respool *g_rp;
static void *res_user(void *arg)
{
    void *it;
    int rc = grove_respool_get(g_rp, &it);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    int id = *(int *)it;
    grove_sleep((int64_t)(intptr_t)arg);
    grove_respool_put(g_rp, it);
    return (void *)(intptr_t)id;
}

static void test_respool(void)
{
    g_created = g_destroyed = g_fail_create = 0;
    g_rp = grove_respool_new(res_create, res_destroy, NULL, 2);
    T_ASSERT(g_rp);
    T_EQ(grove_respool_free(g_rp), 2);
    void *a, *b;
    T_OK(grove_respool_get(g_rp, &a));
    T_OK(grove_respool_get(g_rp, &b));
    T_EQ(g_created, 2);
    T_EQ(grove_respool_free(g_rp), 0);

    /* At max, get blocks; a timeout scope ends it. */
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(5));
    void *c;
    T_EQ(grove_respool_get(g_rp, &c), -ETIMEDOUT);
    grove_timeout_end(&to);

    /* A blocked get resumes on put, with the very item. */
    grove_thread *u = grove_spawn(res_user, (void *)(intptr_t)0);
    T_OK(grove_yield());
    T_EQ(grove_respool_waiting(g_rp), 1);
    int aid = *(int *)a;
    T_OK(grove_respool_put(g_rp, a));
    void *r;
    T_OK(grove_join(u, &r));
    T_EQ((intptr_t)r, aid);
    T_EQ(grove_respool_free(g_rp), 1);

    /* Discarding a broken item lets a waiter create a new one. */
    T_OK(grove_respool_get(g_rp, &a));
    u = grove_spawn(res_user, (void *)(intptr_t)0);
    T_OK(grove_yield());
    T_EQ(grove_respool_waiting(g_rp), 1);
    T_OK(grove_respool_discard(g_rp, b));
    T_EQ(g_destroyed, 1);
    T_OK(grove_join(u, &r));
    T_EQ((intptr_t)r, 3); /* a fresh item */
    T_EQ(g_created, 3);

    /* A failing create reports its error and frees the slot. */
    T_OK(grove_respool_get(g_rp, &b)); /* the idle item #3 */
    T_OK(grove_respool_discard(g_rp, b));
    g_fail_create = 1;
    T_EQ(grove_respool_get(g_rp, &b), -ECONNREFUSED);
    T_EQ(grove_respool_free(g_rp), 1);
    g_fail_create = 0;

    T_EQ(grove_respool_destroy(g_rp), -EBUSY); /* a is still out */
    T_OK(grove_respool_put(g_rp, a));
    T_OK(grove_respool_destroy(g_rp));
    T_EQ(g_destroyed, g_created);
}

static void test_respool_fifo_waiters(void)
{
    g_created = g_destroyed = g_fail_create = 0;
    g_rp = grove_respool_new(res_create, res_destroy, NULL, 1);
    grove_thread *u[4];
    for (int i = 0; i < 4; i++)
        u[i] = grove_spawn(res_user, (void *)(intptr_t)GROVE_MS(2));
    int64_t t0 = grove_now();
    for (int i = 0; i < 4; i++) {
        void *r;
        T_OK(grove_join(u[i], &r));
        T_EQ((intptr_t)r, 1); /* one item, shared in turn */
    }
    T_GE(grove_now() - t0, GROVE_MS(8));
    T_EQ(g_created, 1);
    T_OK(grove_respool_destroy(g_rp));
}

static const t_case cases[] = {
    T_CASE(test_pool_counts),
    T_CASE(test_pool_waiting_count),
    T_CASE(test_pool_resize),
    T_CASE(test_pool_spawn_from_inside),
    T_CASE(test_pile_order),
    T_CASE(test_imap_order_and_cap),
    T_CASE(test_imap_early_stop_and_error),
    T_CASE(test_respool),
    T_CASE(test_respool_fifo_waiters),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
