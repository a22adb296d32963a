/* Unmodified blocking hiredis in 200 green threads against a real redis-server started
 * here: they interleave, and a BLPOP blocking in one green thread does not stop the
 * others. The same library from a plain pthread behaves as without Grove.
 * Also built as test-patch-redis-preload: linked with libgrove.so, run with
 * LD_PRELOAD=libgrove-preload.so and no grove_patch() call. */
// ctest: labels=patch,server timeout=120 variants=preload libs=hiredis
#include "servers.h"
#include <grove/patch.h>

#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

static int g_port;
static int g_done, g_inflight, g_peak;

static redisContext *conn(void)
{
    redisContext *c = redisConnect("127.0.0.1", g_port); /* blocking API */
    if (!c || c->err)
        T_FAIL("redisConnect: %s", c ? c->errstr : "out of memory");
    return c;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    redisContext *c = conn();
    g_inflight++;
    if (g_inflight > g_peak)
        g_peak = g_inflight;
    for (int i = 0; i < 5; i++) {
        redisReply *r = redisCommand(c, "SET key:%d:%d value-%d-%d", id, i, id, i);
        T_ASSERT(r && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
        r = redisCommand(c, "GET key:%d:%d", id, i);
        char want[64];
        snprintf(want, sizeof want, "value-%d-%d", id, i);
        T_ASSERT(r && r->type == REDIS_REPLY_STRING);
        T_STREQ(r->str, want);
        freeReplyObject(r);
    }
    g_inflight--;
    g_done++;
    redisFree(c);
    return NULL;
}

static int g_blpop_done;
static void *blpopper(void *arg)
{
    redisContext *c = conn();
    redisReply *r = redisCommand(c, "BLPOP grove:list 10"); /* blocks in read() */
    T_ASSERT(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    T_STREQ(r->element[1]->str, "released");
    freeReplyObject(r);
    redisFree(c);
    g_blpop_done = 1;
    return NULL;
}

static void test_interleave_and_blpop(void)
{
    grove_thread *b = grove_spawn(blpopper, NULL);
    T_OK(grove_sleep(GROVE_MS(50))); /* BLPOP is now blocked inside hiredis */
    grove_thread *t[200];
    int64_t t0 = grove_now();
    for (int i = 0; i < 200; i++)
        t[i] = grove_spawn(worker, (void *)(intptr_t)i);
    for (int i = 0; i < 200; i++)
        T_OK(grove_join(t[i], NULL));
    T_EQ(g_done, 200);
    T_EQ(g_blpop_done, 0); /* all 200 finished while BLPOP still waited */
    T_GT(g_peak, 10);      /* and they really ran side by side */
    T_LT(grove_now() - t0, GROVE_SEC(10));
    redisContext *c = conn();
    redisReply *r = redisCommand(c, "RPUSH grove:list released");
    freeReplyObject(r);
    redisFree(c);
    T_OK(grove_join(b, NULL));
    T_EQ(g_blpop_done, 1);
}

/* A plain pthread: hiredis blocks that OS thread for real (BLPOP with a 0.2 s timeout)
 * on a socket Grove never made non-blocking, while the hub's green threads keep running. */
static void *plain(void *arg)
{
    redisContext *c = redisConnect("127.0.0.1", g_port);
    if (!c || c->err)
        return NULL;
    redisReply *r = redisCommand(c, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
    freeReplyObject(r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = redisCommand(c, "BLPOP grove:empty 0.2");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok = ok && r && r->type == REDIS_REPLY_NIL;
    freeReplyObject(r);
    int64_t took = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    ok = ok && took >= GROVE_MS(190);
    ok = ok && !(fcntl(c->fd, F_GETFL) & O_NONBLOCK);
    redisFree(c);
    return (void *)(intptr_t)ok;
}

static int g_ticks;
static void *ticker(void *arg)
{
    while (grove_sleep(GROVE_MS(5)) == 0)
        g_ticks++;
    return NULL;
}

static void test_plain_pthread(void)
{
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, plain, NULL), 0);
    T_EQ((intptr_t)t_join_pthread(th), 1);
    T_GE(g_ticks, 10); /* the hub ran all along the pthread's 0.2 s BLPOP (a blocked hub: 0) */
    T_OK(grove_kill(tick));
    T_OK(grove_join(tick, NULL));
}

static const t_case cases[] = {
    T_CASE(test_interleave_and_blpop),
    T_CASE(test_plain_pthread),
    {0},
};

int main(int argc, char **argv)
{
#ifdef GROVE_TEST_PRELOAD
    T_EQ(grove_patched(), GROVE_PATCH_ALL); /* LD_PRELOAD=libgrove-preload.so, no grove_patch() */
    unsetenv("LD_PRELOAD");                 /* not for the servers this test starts */
#else
    grove_patch(GROVE_PATCH_ALL);
#endif
    g_port = t_free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", g_port);
    char *args[] = {"redis-server", "--port", port,          "--bind", "127.0.0.1",  "--save",  "",
                    "--appendonly", "no",     "--daemonize", "no",     "--loglevel", "warning", "--maxclients",
                    "1000",         NULL};
    grove_proc *srv = t_start(args);
    t_wait_port(g_port, GROVE_SEC(10));
    int rc = t_run(cases, argc, argv);
    t_stop(srv, SIGTERM);
    return rc;
}
