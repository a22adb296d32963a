/* What gevent users reach for: green-local storage with destructors (gevent.local),
 * groups (Group.spawn, joinall, wait for the first of several, kill), the peer address in
 * a grove_serve handler, and grove_stream_printf. */
// ctest: labels=unit,core,net,portable,valgrind timeout=60
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- green-local storage ------------------------------------------------------------------ */

static grove_local_key g_key, g_key2;
static int g_dtor_calls;
static intptr_t g_dtor_sum;

static void dtor(void *v)
{
    g_dtor_calls++;
    g_dtor_sum += *(int *)v;
    free(v);
}

static void *uses_local(void *arg)
{
    T_ASSERT(grove_local_get(g_key) == NULL); /* each thread starts empty */
    int *v = malloc(sizeof *v);
    *v = (int)(intptr_t)arg;
    T_OK(grove_local_set(g_key, v));
    T_OK(grove_yield()); /* the others set theirs meanwhile */
    int *back = grove_local_get(g_key);
    T_ASSERT(back == v);
    return (void *)(intptr_t)*back;
}

static void *replaces_and_clears(void *arg)
{
    (void)arg;
    int *a = malloc(sizeof *a);
    *a = 1000;
    T_OK(grove_local_set(g_key, a));
    T_OK(grove_local_set(g_key, NULL)); /* cleared: no destructor for it */
    free(a);
    T_OK(grove_local_set(g_key2, (void *)0x1)); /* a key without a destructor */
    return NULL;
}

static void test_local_storage(void)
{
    T_OK(grove_local_key_create(&g_key, dtor));
    T_OK(grove_local_key_create(&g_key2, NULL));
    T_ASSERT(g_key != g_key2);
    g_dtor_calls = 0;
    g_dtor_sum = 0;
    grove_thread *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = grove_spawn(uses_local, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 10; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, i + 1);
    }
    T_EQ(g_dtor_calls, 10); /* each value destroyed once, when its thread finished */
    T_EQ(g_dtor_sum, 55);
    grove_thread *c = grove_spawn(replaces_and_clears, NULL);
    T_OK(grove_join(c, NULL));
    T_EQ(g_dtor_calls, 10);

    /* main has its own value; a deleted key hides it, and a new key starts empty. */
    T_OK(grove_local_set(g_key2, (void *)0x42));
    T_EQ((intptr_t)grove_local_get(g_key2), 0x42);
    T_OK(grove_local_key_delete(g_key2));
    T_ASSERT(grove_local_get(g_key2) == NULL);
    T_EQ(grove_local_set(g_key2, (void *)1), -EINVAL);
    T_EQ(grove_local_key_delete(g_key2), -EINVAL);
    grove_local_key k3;
    T_OK(grove_local_key_create(&k3, NULL));
    T_ASSERT(grove_local_get(k3) == NULL); /* even if it reuses g_key2's slot */
    T_OK(grove_local_key_delete(k3));
    T_OK(grove_local_key_delete(g_key));
    T_EQ(grove_local_key_create(NULL, NULL), -EINVAL);
    T_ASSERT(grove_local_get(0) == NULL);
}

/* ---- groups ----------------------------------------------------------------------------- */

static void *sleep_ms(void *arg)
{
    grove_sleep(GROVE_MS((intptr_t)arg));
    return arg;
}

static void test_group_wait_any_and_join(void)
{
    grove_group *g = grove_group_new();
    T_ASSERT(g != NULL);
    intptr_t ms[] = {30, 10, 20};
    for (int i = 0; i < 3; i++)
        T_ASSERT(grove_group_spawn(g, sleep_ms, (void *)ms[i]) != NULL);
    T_EQ(grove_group_running(g), 3);
    /* The first of several to finish: in the order they finish. */
    intptr_t order[3];
    for (int i = 0; i < 3; i++) {
        grove_thread *t;
        T_OK(grove_group_wait_any(g, &t));
        void *r;
        T_OK(grove_join(t, &r));
        order[i] = (intptr_t)r;
    }
    T_EQ(order[0], 10);
    T_EQ(order[1], 20);
    T_EQ(order[2], 30);
    grove_thread *t;
    T_EQ(grove_group_wait_any(g, &t), -ENOENT);

    /* joinall, then the finished members stay until handed over or freed. */
    for (int i = 0; i < 5; i++)
        T_ASSERT(grove_group_spawn(g, sleep_ms, (void *)(intptr_t)(i + 1)) != NULL);
    grove_thread *outside = grove_spawn(sleep_ms, (void *)(intptr_t)3);
    T_OK(grove_group_add(g, outside));
    T_OK(grove_group_join(g));
    T_EQ(grove_group_running(g), 0);
    T_EQ(grove_group_finished(g), 6);
    T_OK(grove_group_free(g)); /* joins the six */
    T_EQ(grove_thread_count(), 0);
}

static int g_cleanups;
static void *stubborn(void *arg)
{
    (void)arg;
    grove_sleep(GROVE_SEC(30)); /* killed here */
    grove_shield_begin();
    grove_sleep(GROVE_MS(2)); /* its own cleanup, waited for */
    grove_shield_end();
    g_cleanups++;
    return NULL;
}

static void *kill_group_while_killed(void *arg)
{
    grove_kill(grove_self());
    return (void *)(intptr_t)grove_group_kill(arg);
}

static void test_group_kill(void)
{
    grove_group *g = grove_group_new();
    g_cleanups = 0;
    for (int i = 0; i < 8; i++)
        T_ASSERT(grove_group_spawn(g, stubborn, NULL) != NULL);
    T_OK(grove_yield());
    T_EQ(grove_group_free(g), -EBUSY); /* still running */
    grove_thread *k = grove_spawn(kill_group_while_killed, g);
    void *r;
    T_OK(grove_join(k, &r));
    T_EQ((intptr_t)r, 0);
    T_EQ(g_cleanups, 8);
    T_EQ(grove_group_running(g), 0);
    T_OK(grove_group_free(g));

    /* A timeout on joinall; the group stays usable. */
    g = grove_group_new();
    T_ASSERT(grove_group_spawn(g, sleep_ms, (void *)(intptr_t)50) != NULL);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(5));
    T_EQ(grove_group_join(g), -ETIMEDOUT);
    grove_timeout_end(&to);
    T_OK(grove_group_kill(g));
    T_OK(grove_group_free(g));
    T_EQ(grove_group_add(NULL, NULL), -EINVAL);
    T_EQ(grove_group_add(g = grove_group_new(), grove_self()), -EINVAL);
    T_OK(grove_group_free(g));
}

/* ---- serve with the peer's address, stream printf --------------------------------------- */

static void peer_handler(int fd, const struct sockaddr *peer, socklen_t len, void *arg)
{
    (void)arg;
    grove_stream *s = grove_stream_wrap(fd, 64); /* small: long output goes around it */
    char ip[64] = "?";
    int port = -1;
    if (peer->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
    }
    grove_stream_printf(s, "hello %s:%d\n", ip, port);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    grove_stream_printf(s, "%s|%d\n", big, 42); /* longer than the buffer */
    grove_stream_close(s);
}

static void test_serve_peer_and_printf(void)
{
    int l = grove_listen("127.0.0.1:0", 8);
    T_OK(l);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", grove_sock_port(l));
    grove_server *srv = grove_server_start_peer(l, peer_handler, NULL, 0);
    T_ASSERT(srv != NULL);
    int c = grove_connect(addr);
    T_OK(c);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    T_OK(getsockname(c, (struct sockaddr *)&me, &ml));
    char want[64];
    snprintf(want, sizeof want, "hello 127.0.0.1:%d\n", ntohs(me.sin_port));
    grove_stream *s = grove_stream_new(c, 0);
    char line[512];
    T_GT(grove_stream_readline(s, line, sizeof line), 0);
    T_STREQ(line, want);
    T_EQ(grove_stream_readline(s, line, sizeof line), 299 + 4);
    T_EQ(line[298], 'x');
    T_STREQ(line + 299, "|42\n");
    T_OK(grove_stream_close(s));
    T_OK(grove_server_stop(srv, GROVE_SEC(1)));
    grove_close(l);
    T_EQ(grove_stream_printf(NULL, "x"), -EINVAL);
    T_ASSERT(grove_server_start_peer(-1, peer_handler, NULL, 0) == NULL);
}

static const t_case cases[] = {
    T_CASE(test_local_storage),
    T_CASE(test_group_wait_any_and_join),
    T_CASE(test_group_kill),
    T_CASE(test_serve_peer_and_printf),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
