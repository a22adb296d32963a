/* Green ZeroMQ (grove/zmq.h) against an independent peer, pyzmq (tests/peers/zmq_peer.py,
 * started here on 127.0.0.1 and stopped by PID), and Grove to Grove across processes:
 * REQ/REP, PUB/SUB, PUSH/PULL both ways; 1,000 concurrent requests through ROUTER/DEALER
 * answered out of order and each matched; a burst of 100,000 messages with none lost;
 * FIFO waiters, timeouts, kill, the green poller, close with waiters. */
// ctest: labels=net,zmq timeout=180 libs=grove_zmq
#include "test.h"
#include "servers.h"
#include <grove/zmq.h>

#include <sys/wait.h>
#include <zmq.h>

static void *g_ctx;
static char g_peer[512];

static grove_proc *peer(const char *mode, const char *endpoint, int n)
{
    char num[32];
    snprintf(num, sizeof num, "%d", n);
    char *argv[] = {"/usr/bin/python3", g_peer, (char *)mode, (char *)endpoint, num, NULL};
    return t_start(argv);
}

static int peer_exit(grove_proc *p)
{
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(30));
    int st = grove_proc_wait(p);
    grove_timeout_end(&to);
    for (int i = 0; i < 8; i++)
        if (t_servers[i] == grove_proc_pid(p))
            t_servers[i] = 0;
    grove_proc_free(p);
    return st;
}

static void endpoint(char *buf, size_t n, int port) { snprintf(buf, n, "tcp://127.0.0.1:%d", port); }

/* ---- With pyzmq --------------------------------------------------------------------------- */

static void test_req_to_pyzmq_rep(void)
{
    char ep[64];
    endpoint(ep, sizeof ep, t_free_port());
    grove_proc *p = peer("rep", ep, 200);
    grove_zmq *s = grove_zmq_socket(g_ctx, ZMQ_REQ);
    T_ASSERT(s);
    T_OK(grove_zmq_connect(s, ep));
    for (int i = 0; i < 200; i++) {
        char q[32], r[64];
        int n = snprintf(q, sizeof q, "hello %d", i);
        T_EQ(grove_zmq_send(s, q, (size_t)n, 0), n);
        int got = grove_zmq_recv(s, r, sizeof r - 1, NULL);
        T_EQ(got, n + 3);
        r[got] = 0;
        T_ASSERT(strncmp(r, "re:", 3) == 0 && strcmp(r + 3, q) == 0);
    }
    T_EQ(grove_zmq_send(s, "x", 1, 0), 1);
    T_EQ(grove_zmq_send(s, "y", 1, 0), -EFSM); /* a REQ socket used out of turn */
    T_OK(grove_zmq_close(s));
    T_EQ(peer_exit(p), 0);
}

static grove_zmq *g_rep;
static void *rep_server(void *arg)
{
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        char buf[64] = "re:";
        int got = grove_zmq_recv(g_rep, buf + 3, sizeof buf - 3, NULL);
        if (got < 0)
            return (void *)(intptr_t)got;
        if (grove_zmq_send(g_rep, buf, (size_t)got + 3, 0) < 0)
            return (void *)-1;
    }
    return NULL;
}

static int g_ticks;
static void *ticker(void *arg)
{
    while (grove_sleep(GROVE_MS(1)) == 0)
        g_ticks++;
    return NULL;
}

static void test_rep_for_pyzmq_req(void)
{
    char ep[64];
    endpoint(ep, sizeof ep, t_free_port());
    g_rep = grove_zmq_socket(g_ctx, ZMQ_REP);
    T_ASSERT(g_rep);
    T_OK(grove_zmq_bind(g_rep, ep));
    grove_thread *srv = grove_spawn(rep_server, (void *)300);
    g_ticks = 0;
    grove_thread *tk = grove_spawn(ticker, NULL);
    grove_proc *p = peer("req", ep, 300);
    T_EQ(peer_exit(p), 0); /* the hub kept running meanwhile: the ticker ticked */
    void *r;
    T_OK(grove_join(srv, &r));
    T_EQ((intptr_t)r, 0);
    T_GT(g_ticks, 5);
    grove_kill(tk);
    grove_join(tk, NULL);
    T_OK(grove_zmq_close(g_rep));
}

static void test_pub_sub_with_pyzmq(void)
{
    /* pyzmq subscribes to "a" on Grove's PUB. */
    char ep[64];
    endpoint(ep, sizeof ep, t_free_port());
    grove_zmq *pub = grove_zmq_socket(g_ctx, ZMQ_PUB);
    T_OK(grove_zmq_bind(pub, ep));
    grove_proc *p = peer("sub", ep, 100);
    int64_t end = grove_now() + GROVE_SEC(20);
    int exited = 0;
    for (int i = 0; !exited && grove_now() < end; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, "a%d", i);
        T_EQ(grove_zmq_send(pub, m, (size_t)n, 0), n);
        n = snprintf(m, sizeof m, "b%d", i);
        T_EQ(grove_zmq_send(pub, m, (size_t)n, 0), n);
        grove_sleep(GROVE_MS(1));
        exited = waitpid(grove_proc_pid(p), NULL, WNOHANG) != 0;
    }
    T_ASSERT(exited);
    for (int i = 0; i < 8; i++)
        if (t_servers[i] == grove_proc_pid(p))
            t_servers[i] = 0;
    grove_proc_free(p);
    T_OK(grove_zmq_close(pub));

    /* Grove subscribes to "a" on pyzmq's PUB. */
    endpoint(ep, sizeof ep, t_free_port());
    p = peer("pub", ep, 0);
    grove_zmq *sub = grove_zmq_socket(g_ctx, ZMQ_SUB);
    T_OK(grove_zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "a", 1));
    T_OK(grove_zmq_connect(sub, ep));
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(20));
    for (int i = 0; i < 100; i++) {
        char m[32];
        int n = grove_zmq_recv(sub, m, sizeof m, NULL);
        T_GT(n, 0);
        T_EQ(m[0], 'a');
    }
    T_ASSERT(!grove_timeout_end(&to));
    T_OK(grove_zmq_close(sub));
    t_stop(p, SIGTERM);
}

static void test_push_pull_with_pyzmq(void)
{
    /* pyzmq pushes 2,000 numbered messages; Grove pulls them all, in order. */
    char ep[64];
    endpoint(ep, sizeof ep, t_free_port());
    grove_zmq *pull = grove_zmq_socket(g_ctx, ZMQ_PULL);
    T_OK(grove_zmq_bind(pull, ep));
    grove_proc *p = peer("push", ep, 2000);
    for (int i = 0; i < 2000; i++) {
        char m[32], want[32];
        int n = grove_zmq_recv(pull, m, sizeof m - 1, NULL);
        T_GT(n, 0);
        m[n] = 0;
        snprintf(want, sizeof want, "%d", i);
        T_STREQ(m, want);
    }
    T_EQ(peer_exit(p), 0);
    T_OK(grove_zmq_close(pull));

    /* Grove pushes; pyzmq pulls and checks the order. */
    endpoint(ep, sizeof ep, t_free_port());
    p = peer("pull", ep, 2000);
    grove_zmq *push = grove_zmq_socket(g_ctx, ZMQ_PUSH);
    T_OK(grove_zmq_connect(push, ep));
    for (int i = 0; i < 2000; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, "%d", i);
        T_EQ(grove_zmq_send(push, m, (size_t)n, 0), n);
    }
    T_EQ(peer_exit(p), 0);
    T_OK(grove_zmq_close(push));
}

/* ---- Grove to Grove ------------------------------------------------------------------------ */

static void test_grove_to_grove_processes(void)
{
    char ep[64];
    endpoint(ep, sizeof ep, t_free_port());
    pid_t pid = grove_fork();
    T_GE(pid, 0);
    if (pid == 0) {
        /* The child: a fresh libzmq context (libzmq's threads do not survive fork). */
        void *ctx = zmq_ctx_new();
        g_rep = grove_zmq_socket(ctx, ZMQ_REP);
        if (!g_rep || grove_zmq_bind(g_rep, ep) < 0)
            _exit(2);
        void *r = rep_server((void *)100);
        grove_zmq_close(g_rep);
        grove_zmq_ctx_term(ctx);
        _exit(r == NULL ? 0 : 3);
    }
    grove_zmq *req = grove_zmq_socket(g_ctx, ZMQ_REQ);
    T_OK(grove_zmq_connect(req, ep));
    for (int i = 0; i < 100; i++) {
        char r[16];
        T_EQ(grove_zmq_send(req, "ping", 4, 0), 4);
        T_EQ(grove_zmq_recv(req, r, sizeof r, NULL), 7);
        T_ASSERT(memcmp(r, "re:ping", 7) == 0);
    }
    T_OK(grove_zmq_close(req));
    int st;
    T_EQ(waitpid(pid, &st, 0), pid);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* 1,000 requests in flight through one DEALER to a ROUTER served by
 * grove_zmq_serve_router: handlers sleep different times so replies go out of order,
 * and every reply must reach the green thread that sent its request. */
static int slow_echo(const grove_zmq_msg *req, grove_zmq_reply *reply, void *arg)
{
    if (req->n != 1 || req->parts[0].iov_len < 4)
        return -1;
    unsigned id;
    memcpy(&id, req->parts[0].iov_base, 4);
    grove_sleep(GROVE_US((id * 7919u) % 5000u));
    int *done = arg;
    (*done)++;
    return grove_zmq_reply_add(reply, req->parts[0].iov_base, req->parts[0].iov_len);
}

static grove_zmq *g_router;
static int g_handled;
static void *router_server(void *arg)
{
    return (void *)(intptr_t)grove_zmq_serve_router(g_router, slow_echo, &g_handled, 0);
}

static grove_zmq *g_dealer;
static grove_event g_replies[1000];
static unsigned g_order[1000];
static int g_norder;

static void *dispatcher(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        grove_zmq_msg m;
        int rc = grove_zmq_recv_parts(g_dealer, &m, 4, 1024);
        if (rc < 0)
            return (void *)(intptr_t)rc;
        /* [empty delimiter, id] */
        if (m.n != 2 || m.parts[0].iov_len != 0 || m.parts[1].iov_len != 4)
            return (void *)-1;
        unsigned id;
        memcpy(&id, m.parts[1].iov_base, 4);
        grove_zmq_msg_free(&m);
        if (id >= 1000 || grove_event_ready(&g_replies[id]))
            return (void *)-2;
        g_order[g_norder++] = id;
        grove_event_send(&g_replies[id], (void *)(uintptr_t)(id + 1));
    }
    return NULL;
}

static void *requester(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    struct iovec v[2] = {{(void *)"", 0}, {&id, 4}};
    int rc = grove_zmq_send_parts(g_dealer, v, 2);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    void *val;
    rc = grove_event_wait(&g_replies[id], &val);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    return (uintptr_t)val == id + 1 ? NULL : (void *)-3;
}

static void test_router_dealer_thousand_in_flight(void)
{
    g_router = grove_zmq_socket(g_ctx, ZMQ_ROUTER);
    T_OK(grove_zmq_bind(g_router, "inproc://router"));
    g_dealer = grove_zmq_socket(g_ctx, ZMQ_DEALER);
    T_OK(grove_zmq_connect(g_dealer, "inproc://router"));
    g_handled = 0;
    g_norder = 0;
    grove_thread *srv = grove_spawn(router_server, NULL);
    for (int i = 0; i < 1000; i++)
        grove_event_init(&g_replies[i]);
    grove_thread *disp = grove_spawn(dispatcher, NULL);
    grove_thread *t[1000];
    for (unsigned i = 0; i < 1000; i++)
        t[i] = grove_spawn(requester, (void *)(uintptr_t)i);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(60));
    for (int i = 0; i < 1000; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 0);
    }
    void *r;
    T_OK(grove_join(disp, &r));
    T_EQ((intptr_t)r, 0);
    T_ASSERT(!grove_timeout_end(&to));
    T_EQ(g_handled, 1000);
    int out_of_order = 0;
    for (int i = 1; i < 1000; i++)
        out_of_order += g_order[i] < g_order[i - 1];
    T_GT(out_of_order, 10); /* replies went out as handlers finished */
    T_OK(grove_kill(srv));
    T_OK(grove_join(srv, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    T_OK(grove_zmq_close(g_dealer));
    T_OK(grove_zmq_close(g_router));
}

static grove_zmq *g_push, *g_pull;
static void *burst_sender(void *arg)
{
    for (unsigned i = 0; i < 100000; i++)
        if (grove_zmq_send(g_push, &i, sizeof i, 0) != sizeof i)
            return (void *)-1;
    return NULL;
}

static void test_burst_hundred_thousand(void)
{
    /* Low high-water marks, so the sender really waits for the receiver many times. */
    g_pull = grove_zmq_socket(g_ctx, ZMQ_PULL);
    g_push = grove_zmq_socket(g_ctx, ZMQ_PUSH);
    int hwm = 100;
    T_OK(grove_zmq_setsockopt(g_pull, ZMQ_RCVHWM, &hwm, sizeof hwm));
    T_OK(grove_zmq_setsockopt(g_push, ZMQ_SNDHWM, &hwm, sizeof hwm));
    char ep[64];
    endpoint(ep, sizeof ep, t_free_port());
    T_OK(grove_zmq_bind(g_pull, ep));
    T_OK(grove_zmq_connect(g_push, ep));
    grove_thread *s = grove_spawn(burst_sender, NULL);
    for (unsigned i = 0; i < 100000; i++) {
        unsigned v;
        T_EQ(grove_zmq_recv(g_pull, &v, sizeof v, NULL), (int)sizeof v);
        if (v != i)
            T_FAIL("message %u arrived as number %u", i, v);
    }
    void *r;
    T_OK(grove_join(s, &r));
    T_EQ((intptr_t)r, 0);
    T_OK(grove_zmq_close(g_push));
    T_OK(grove_zmq_close(g_pull));
}

/* ---- Waiters: FIFO, timeout, kill, close ---------------------------------------------------- */

static int g_got[3];
static void *fifo_reader(void *arg)
{
    int i = (int)(intptr_t)arg;
    char c;
    int rc = grove_zmq_recv(g_pull, &c, 1, NULL);
    g_got[i] = rc == 1 ? c : rc;
    return NULL;
}

static void *blocked_reader(void *arg)
{
    char c;
    return (void *)(intptr_t)grove_zmq_recv(g_pull, &c, 1, NULL);
}

static void test_waiters(void)
{
    g_pull = grove_zmq_socket(g_ctx, ZMQ_PULL);
    g_push = grove_zmq_socket(g_ctx, ZMQ_PUSH);
    T_OK(grove_zmq_bind(g_pull, "inproc://waiters"));
    T_OK(grove_zmq_connect(g_push, "inproc://waiters"));
    /* A timeout scope ends a receive with nothing to receive; the socket still works. */
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    char c;
    T_EQ(grove_zmq_recv(g_pull, &c, 1, NULL), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    /* Three waiters are served in the order they came. */
    grove_thread *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = grove_spawn(fifo_reader, (void *)(intptr_t)i);
    T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(grove_zmq_send(g_push, "x", 1, 0), 1);
    T_EQ(grove_zmq_send(g_push, "y", 1, 0), 1);
    T_EQ(grove_zmq_send(g_push, "z", 1, 0), 1);
    for (int i = 0; i < 3; i++)
        T_OK(grove_join(t[i], NULL));
    T_EQ(g_got[0], 'x');
    T_EQ(g_got[1], 'y');
    T_EQ(g_got[2], 'z');
    /* The sockets' watchers are service threads: they do not count as the user's. */
    T_EQ(grove_thread_count(), 0);
    /* Kill ends a wait. */
    grove_thread *k = grove_spawn(blocked_reader, NULL);
    T_OK(grove_sleep(GROVE_MS(2)));
    T_OK(grove_kill(k));
    void *r;
    T_OK(grove_join(k, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    /* The green poller: nothing, then the PULL socket readable. */
    grove_zmq_pollitem items[2] = {{g_pull, -1, ZMQ_POLLIN, 0}, {g_push, -1, ZMQ_POLLOUT, 0}};
    T_EQ(grove_zmq_poll(items, 1, GROVE_MS(10)), 0);
    T_EQ(grove_zmq_poll(items + 1, 1, 0), 1);
    T_EQ(items[1].revents, ZMQ_POLLOUT);
    T_EQ(grove_zmq_send(g_push, "p", 1, 0), 1);
    T_EQ(grove_zmq_poll(items, 1, GROVE_SEC(5)), 1);
    T_EQ(items[0].revents, ZMQ_POLLIN);
    T_EQ(grove_zmq_recv(g_pull, &c, 1, NULL), 1);
    /* Closing a socket with a waiter wakes it with -EBADF before the socket goes. */
    k = grove_spawn(blocked_reader, NULL);
    T_OK(grove_sleep(GROVE_MS(2)));
    T_OK(grove_zmq_close(g_pull));
    T_OK(grove_join(k, &r));
    T_EQ((intptr_t)r, -EBADF);
    T_OK(grove_zmq_close(g_push));
}

static const t_case cases[] = {
    T_CASE(test_req_to_pyzmq_rep),
    T_CASE(test_rep_for_pyzmq_req),
    T_CASE(test_pub_sub_with_pyzmq),
    T_CASE(test_push_pull_with_pyzmq),
    T_CASE(test_grove_to_grove_processes),
    T_CASE(test_router_dealer_thousand_in_flight),
    T_CASE(test_burst_hundred_thousand),
    T_CASE(test_waiters),
    {0},
};

int main(int argc, char **argv)
{
    snprintf(g_peer, sizeof g_peer, "%s/tests/peers/zmq_peer.py", getenv("GROVE_TEST_SRCDIR"));
    g_ctx = zmq_ctx_new();
    int rc = t_run(cases, argc, argv);
    grove_zmq_ctx_term(g_ctx);
    return rc;
}
