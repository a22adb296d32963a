/* Shield scopes and cleanup after a kill or a timeout: a shield holds off kill and outer
 * timeout scopes but not the ones opened inside it; every Grove cleanup path (server
 * stop, grove_serve, imap close, pile destroy, respool, grove_kill's wait, stream close)
 * completes from a killed or timed-out thread; the docs/core.md worked example. */
// ctest: labels=unit,core,net,portable timeout=60
#include "test.h"

#include <sys/socket.h>

/* ---- the shield itself ---------------------------------------------------------------- */

static int g_rc[8];

static void *shielded_sleeper(void *arg)
{
    (void)arg;
    T_OK(grove_shield_begin());
    g_rc[0] = grove_sleep(GROVE_MS(30)); /* killed meanwhile: still sleeps it out */
    g_rc[1] = grove_yield();
    T_OK(grove_shield_end());
    g_rc[2] = grove_yield(); /* the kill is seen again */
    g_rc[3] = grove_sleep(GROVE_MS(1));
    return NULL;
}

static void test_shield_holds_off_kill(void)
{
    memset(g_rc, 0x7f, sizeof g_rc);
    grove_thread *t = grove_spawn(shielded_sleeper, NULL);
    T_OK(grove_yield()); /* t is now parked inside its shield */
    int64_t t0 = grove_now();
    T_OK(grove_kill(t)); /* waits for t to finish */
    T_GE(grove_now() - t0, GROVE_MS(25));
    T_EQ(g_rc[0], 0);
    T_EQ(g_rc[1], 0);
    T_EQ(g_rc[2], -ECANCELED);
    T_EQ(g_rc[3], -ECANCELED);
    T_OK(grove_join(t, NULL));
    T_EQ(grove_shield_end(), -EINVAL); /* main has no open shield */
}

static void test_shield_and_timeouts(void)
{
    grove_timeout outer, inner;
    T_OK(grove_timeout_start(&outer, GROVE_MS(5)));
    T_OK(grove_shield_begin());
    T_OK(grove_sleep(GROVE_MS(20))); /* the outer scope fires, unseen */
    T_ASSERT(grove_timeout_fired(&outer));
    T_OK(grove_timeout_start(&inner, GROVE_MS(10)));
    int64_t t0 = grove_now();
    T_EQ(grove_sleep(GROVE_SEC(5)), -ETIMEDOUT); /* the inner one bounds the cleanup */
    T_LT(grove_now() - t0, GROVE_SEC(2));
    T_ASSERT(grove_timeout_end(&inner));
    T_OK(grove_yield()); /* inner ended: outer still held off */
    /* Nested shields: a scope opened in the outer shield is held off by the inner one. */
    grove_timeout mid;
    T_OK(grove_timeout_start(&mid, 0)); /* fired at once */
    T_EQ(grove_yield(), -ETIMEDOUT);
    T_OK(grove_shield_begin());
    T_OK(grove_yield());
    T_OK(grove_shield_end());
    T_EQ(grove_yield(), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&mid));
    T_OK(grove_shield_end());
    T_EQ(grove_yield(), -ETIMEDOUT); /* the outer scope is seen again */
    T_ASSERT(grove_timeout_end(&outer));
    T_OK(grove_yield());
    T_OK(grove_sleep(GROVE_MS(1)));
}

/* A timeout that fires while the shielded thread is parked does not end the park. */
static void *parked_in_shield(void *arg)
{
    grove_timeout *to = arg;
    T_OK(grove_timeout_start(to, GROVE_MS(5)));
    T_OK(grove_shield_begin());
    g_rc[0] = grove_sleep(GROVE_MS(30));
    T_OK(grove_shield_end());
    g_rc[1] = grove_yield();
    g_rc[2] = grove_timeout_end(to);
    return NULL;
}

static void test_shield_parked_timeout(void)
{
    grove_timeout to;
    grove_thread *t = grove_spawn(parked_in_shield, &to);
    T_OK(grove_join(t, NULL));
    T_EQ(g_rc[0], 0);
    T_EQ(g_rc[1], -ETIMEDOUT);
    T_EQ(g_rc[2], 1);
}

/* grove_kill's wait, from a killed caller: it still waits for its target. */
static void *slow_shielded(void *arg)
{
    grove_shield_begin();
    grove_sleep(GROVE_MS(30));
    grove_shield_end();
    *(int *)arg = 1;
    return NULL;
}

static void *killer(void *arg)
{
    grove_thread *target = arg;
    grove_kill(grove_self()); /* we are killed ourselves */
    return (void *)(intptr_t)grove_kill(target);
}

static void test_kill_wait_from_killed_thread(void)
{
    int done = 0;
    grove_thread *target = grove_spawn(slow_shielded, &done);
    grove_thread *k = grove_spawn(killer, target);
    void *r;
    T_OK(grove_join(k, &r));
    T_EQ((intptr_t)r, 0);
    T_EQ(done, 1);
    T_ASSERT(grove_thread_done(target));
    T_OK(grove_join(target, NULL));
}

/* ---- servers --------------------------------------------------------------------------- */

static int g_handlers_done;

static void slow_handler(int fd, void *arg)
{
    (void)fd;
    grove_shield_begin(); /* finishes its work even when stop kills it */
    grove_sleep((int64_t)(intptr_t)arg);
    grove_shield_end();
    g_handlers_done++;
}

static int listen_any(char *addr, size_t n)
{
    int l = grove_listen("127.0.0.1:0", 64);
    T_OK(l);
    snprintf(addr, n, "127.0.0.1:%d", grove_sock_port(l));
    return l;
}

struct stop_arg {
    grove_server *srv;
    int mode; /* 0: killed, 1: timed out */
    int rc;
};

static void *stop_from_cancelled(void *arg)
{
    struct stop_arg *a = arg;
    grove_timeout to;
    if (a->mode == 0) {
        grove_kill(grove_self());
    } else {
        grove_timeout_start(&to, 0);
    }
    a->rc = grove_server_stop(a->srv, GROVE_MS(10));
    if (a->mode == 1)
        grove_timeout_end(&to);
    return NULL;
}

static void test_server_stop_from_cancelled(void)
{
    char addr[64];
    int l = listen_any(addr, sizeof addr);
    for (int mode = 0; mode < 2; mode++) {
        g_handlers_done = 0;
        grove_server *srv = grove_server_start(l, slow_handler, (void *)(intptr_t)GROVE_MS(40), 0);
        T_ASSERT(srv != NULL);
        int c[3];
        for (int i = 0; i < 3; i++)
            T_OK(c[i] = grove_connect(addr));
        while (grove_server_active(srv) < 3)
            T_OK(grove_sleep(GROVE_MS(1)));
        struct stop_arg a = {srv, mode, 1234};
        grove_thread *t = grove_spawn(stop_from_cancelled, &a);
        T_OK(grove_join(t, NULL));
        /* Before the fix: the server was freed with its acceptor running (ASan). */
        T_EQ(a.rc, 3);            /* killed after the 10 ms grace... */
        T_EQ(g_handlers_done, 3); /* ...and waited for: they finished their work */
        for (int i = 0; i < 3; i++)
            grove_close(c[i]);
        T_EQ(grove_thread_count(), 0);
    }
    grove_close(l);
}

static void quick_handler(int fd, void *arg)
{
    (void)arg;
    char b[8];
    grove_read(fd, b, sizeof b);
}

/* A nested timeout around grove_serve: both scopes fire (the outer one during the stop);
 * after both ended, the caller's switch points work again. Before the fix, serve's
 * save/clear/restore of the kill state left grove_sleep failing with -ETIMEDOUT. */
static void test_serve_nested_timeouts(void)
{
    char addr[64];
    int l = listen_any(addr, sizeof addr);
    grove_timeout outer, inner;
    T_OK(grove_timeout_start(&outer, GROVE_MS(60)));
    T_OK(grove_timeout_start(&inner, GROVE_MS(20)));
    int c = grove_connect(addr); /* its handler shields itself past the outer deadline */
    T_OK(c);
    g_handlers_done = 0;
    int rc = grove_serve(l, slow_handler, (void *)(intptr_t)GROVE_MS(100), 0);
    T_EQ(rc, -ETIMEDOUT);
    T_EQ(g_handlers_done, 1);
    T_ASSERT(grove_timeout_end(&inner));
    T_ASSERT(grove_timeout_end(&outer));
    T_OK(grove_sleep(GROVE_MS(1)));
    T_OK(grove_yield());
    grove_close(c);

    /* And killed: grove_serve returns -ECANCELED after a full stop. */
    grove_close(l);
    (void)quick_handler;
}

static int g_serve_rc;
static int g_serve_fd;
static void *serve_thread(void *arg)
{
    (void)arg;
    g_serve_rc = grove_serve(g_serve_fd, slow_handler, (void *)(intptr_t)GROVE_MS(20), 0);
    g_rc[5] = grove_yield();
    return NULL;
}

static void test_serve_killed(void)
{
    char addr[64];
    g_serve_fd = listen_any(addr, sizeof addr);
    g_handlers_done = 0;
    grove_thread *t = grove_spawn(serve_thread, NULL);
    int c = grove_connect(addr);
    T_OK(c);
    T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(grove_thread_count(), 2); /* serve's thread and the handler; not the acceptor */
    T_OK(grove_kill(t));
    T_EQ(g_serve_rc, -ECANCELED);
    T_EQ(g_rc[5], -ECANCELED); /* still killed after serve returned */
    T_EQ(g_handlers_done, 1);
    T_OK(grove_join(t, NULL));
    grove_close(c);
    grove_close(g_serve_fd);
}

/* ---- pools ------------------------------------------------------------------------------- */

static int g_calls_running;

static void *slow_call(void *arg)
{
    g_calls_running++;
    grove_sleep(GROVE_MS(20)); /* killed by close: fails at once */
    grove_shield_begin();
    grove_sleep(GROVE_MS(5)); /* but its own cleanup still takes a while */
    grove_shield_end();
    g_calls_running--;
    return arg;
}

static int gen_count(void *ctx, void **arg)
{
    int *n = ctx;
    if (*n >= 1000)
        return 0;
    *arg = (void *)(intptr_t)(*n)++;
    return 1;
}

struct imap_arg {
    grove_pool *pool;
    int mode;
    int rc;
};

static void *imap_close_cancelled(void *arg)
{
    struct imap_arg *a = arg;
    int n = 0;
    grove_imap *it = grove_pool_imap(a->pool, slow_call, gen_count, &n);
    T_ASSERT(it != NULL);
    void *r;
    T_EQ(grove_imap_next(it, &r), 1);
    grove_timeout to;
    if (a->mode == 0)
        grove_kill(grove_self());
    else
        grove_timeout_start(&to, 0);
    (void)grove_imap_next(it, &r);
    a->rc = grove_imap_close(it);
    if (a->mode == 1)
        grove_timeout_end(&to);
    return NULL;
}

static void test_imap_close_cancelled(void)
{
    for (int mode = 0; mode < 2; mode++) {
        grove_pool *p = grove_pool_new(10);
        struct imap_arg a = {p, mode, 99};
        grove_thread *t = grove_spawn(imap_close_cancelled, &a);
        T_OK(grove_join(t, NULL));
        T_EQ(a.rc, 0);
        T_EQ(g_calls_running, 0); /* every call was waited for */
        T_EQ(grove_pool_running(p), 0);
        T_OK(grove_pool_destroy(p)); /* before the fix: -EBUSY, ten threads running */
        T_EQ(grove_thread_count(), 0);
    }
}

static void *pile_destroy_cancelled(void *arg)
{
    struct imap_arg *a = arg;
    grove_pile *pile = grove_pile_new(a->pool, 0);
    for (int i = 0; i < 10; i++)
        T_OK(grove_pile_spawn(pile, slow_call, NULL));
    T_OK(grove_yield());
    grove_timeout to;
    if (a->mode == 0)
        grove_kill(grove_self());
    else
        grove_timeout_start(&to, 0);
    a->rc = grove_pile_destroy(pile);
    if (a->mode == 1)
        grove_timeout_end(&to);
    return NULL;
}

static void test_pile_destroy_cancelled(void)
{
    for (int mode = 0; mode < 2; mode++) {
        grove_pool *p = grove_pool_new(10);
        struct imap_arg a = {p, mode, 99};
        grove_thread *t = grove_spawn(pile_destroy_cancelled, &a);
        T_OK(grove_join(t, NULL));
        T_EQ(a.rc, 0);
        T_EQ(g_calls_running, 0);
        T_OK(grove_pool_destroy(p));
    }
    /* A pile with a private pool, destroyed from a killed thread. */
}

static int g_destroyed;
static int make_item(void *ctx, void **item)
{
    (void)ctx;
    *item = malloc(1);
    return *item ? 0 : -ENOMEM;
}
static void destroy_item(void *ctx, void *item)
{
    (void)ctx;
    /* Closing a real resource may wait (a goodbye to a server...). */
    g_rc[6] = grove_sleep(GROVE_MS(2));
    free(item);
    g_destroyed++;
}

static void *respool_cancelled(void *arg)
{
    grove_respool *rp = arg;
    void *a, *b;
    T_OK(grove_respool_get(rp, &a));
    T_OK(grove_respool_get(rp, &b));
    grove_kill(grove_self());
    T_OK(grove_respool_discard(rp, a));
    T_EQ(g_rc[6], 0);
    T_OK(grove_respool_put(rp, b));
    T_OK(grove_respool_destroy(rp));
    T_EQ(g_rc[6], 0);
    return NULL;
}

static void test_respool_cancelled(void)
{
    g_destroyed = 0;
    grove_respool *rp = grove_respool_new(make_item, destroy_item, NULL, 4);
    grove_thread *t = grove_spawn(respool_cancelled, rp);
    T_OK(grove_join(t, NULL));
    T_EQ(g_destroyed, 2);
}

/* ---- streams ----------------------------------------------------------------------------- */

static void *stream_close_killed(void *arg)
{
    int fd = (int)(intptr_t)arg;
    grove_stream *s = grove_stream_new(fd, 0);
    T_EQ(grove_stream_write(s, "goodbye\n", 8), 8); /* buffered */
    grove_kill(grove_self());
    T_OK(grove_stream_close(s)); /* still flushed */
    return NULL;
}

static void test_stream_close_killed(void)
{
    int sv[2];
    T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    grove_thread *t = grove_spawn(stream_close_killed, (void *)(intptr_t)sv[0]);
    T_OK(grove_join(t, NULL));
    char buf[16] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = grove_read(sv[1], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    T_STREQ(buf, "goodbye\n");
    grove_close(sv[1]);
}

/* ---- the docs/core.md worked example ---------------------------------------------------- */

/* A connection handler with a writer thread: the handler reads commands and queues
 * replies for the writer. When the server stops and kills the handler, it says goodbye
 * to its client and joins its writer, within 1 s. */
struct session {
    int fd;
    grove_queue out;
};

static void *writer(void *arg)
{
    struct session *s = arg;
    for (;;) {
        void *msg;
        if (grove_queue_get(&s->out, &msg) < 0 || !msg)
            return NULL; /* killed, or NULL: the handler is done */
        if (grove_sendall(s->fd, msg, strlen(msg)) < 0)
            return NULL;
    }
}

static int g_goodbyes;

static void chat_handler(int fd, void *arg)
{
    (void)arg;
    struct session s;
    s.fd = fd;
    grove_queue_init(&s.out, GROVE_QUEUE_FIFO, 16, NULL);
    grove_thread *w = grove_spawn(writer, &s);
    char buf[64];
    while (grove_read(fd, buf, sizeof buf) > 0) /* fails with -ECANCELED once killed */
        grove_queue_put(&s.out, "ok\n");

    /* Cleanup after a kill: shielded, and bounded by a timeout opened inside the shield. */
    grove_shield_begin();
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(1));
    if (grove_queue_put(&s.out, "goodbye\n") == 0 && grove_queue_put(&s.out, NULL) == 0 && grove_join(w, NULL) == 0) {
        w = NULL;
        g_goodbyes++;
    }
    grove_timeout_end(&to);
    grove_shield_end();
    if (w) { /* the writer did not finish in time: stop it */
        grove_kill(w);
        grove_join(w, NULL);
    }
    grove_queue_destroy(&s.out);
}

static void test_docs_example_goodbye(void)
{
    char addr[64];
    int l = listen_any(addr, sizeof addr);
    g_goodbyes = 0;
    grove_server *srv = grove_server_start(l, chat_handler, NULL, 0);
    int c = grove_connect(addr);
    T_OK(c);
    T_EQ(grove_sendall(c, "hi", 2), 2);
    char buf[64] = {0};
    T_EQ(grove_read(c, buf, sizeof buf), 3);
    T_STREQ(buf, "ok\n");
    int64_t t0 = grove_now();
    T_EQ(grove_server_stop(srv, GROVE_MS(10)), 1);
    T_LT(grove_now() - t0, GROVE_SEC(1));
    T_EQ(g_goodbyes, 1);
    memset(buf, 0, sizeof buf);
    size_t got = 0;
    ssize_t n;
    while ((n = grove_read(c, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    T_STREQ(buf, "goodbye\n"); /* then EOF: the server closed the connection */
    grove_close(c);
    grove_close(l);
}

static const t_case cases[] = {
    T_CASE(test_shield_holds_off_kill),
    T_CASE(test_shield_and_timeouts),
    T_CASE(test_shield_parked_timeout),
    T_CASE(test_kill_wait_from_killed_thread),
    T_CASE(test_server_stop_from_cancelled),
    T_CASE(test_serve_nested_timeouts),
    T_CASE(test_serve_killed),
    T_CASE(test_imap_close_cancelled),
    T_CASE(test_pile_destroy_cancelled),
    T_CASE(test_respool_cancelled),
    T_CASE(test_stream_close_killed),
    T_CASE(test_docs_example_goodbye),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
