/* Fault injection (built only with GROVE_FAULT=ON, which make test's ASan build is): every
 * system call Grove makes through src/base/sys.h and every allocation through
 * src/base/alloc.h can be made to fail at the Nth call. For each scenario (spawn, queue,
 * pool, serve, connect, DNS, TLS, tpool) the sweep counts the calls one clean run makes,
 * then reruns it failing call N for every N: each run must end (a guard scope turns a hang
 * into a failure), succeed or fail with one of the errors the API documents, and leave
 * nothing behind (ASan/LSan check the process at exit; the fd count is checked here). */
// ctest: labels=unit,fault timeout=300
#include "test.h"

#include <sys/socket.h>

/* Test hooks of GROVE_FAULT builds (src/base/sys.c). */
void grove__fault_set(long nth_sys, long nth_alloc);
void grove__fault_counts(long *sys, long *alloc);

/* The errors a scenario may end with when a call inside it fails. */
static int documented(int rc)
{
    switch (-rc) {
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EIO:
    case ENOBUFS:
    case EAGAIN:
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EPIPE:
    case ENOENT:
    case EPROTO:
    case EBADF:
    case ENOTCONN:
    case EKEYREJECTED:
    case EINVAL: /* a handshake handed a half-made object */ return 1;
    default: return 0;
    }
}

/* ---- Scenarios: each returns 0, or a negative errno from the first failed step ---------- */

static void *child(void *arg) { return arg; }

static int sc_spawn(void)
{
    grove_thread *t[8];
    int n = 0, rc = 0;
    for (; n < 8; n++) {
        t[n] = grove_spawn(child, (void *)(intptr_t)n);
        if (!t[n]) {
            rc = -errno;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        void *r;
        int j = grove_join(t[i], &r);
        if (j < 0 && !rc)
            rc = j;
    }
    return rc;
}

static void *consumer(void *arg)
{
    grove_queue *q = arg;
    intptr_t sum = 0;
    for (int i = 0; i < 20; i++) {
        void *v;
        int rc = grove_queue_get(q, &v);
        if (rc < 0)
            return (void *)(intptr_t)rc;
        sum += (intptr_t)v;
    }
    return (void *)sum;
}

static int sc_queue(void)
{
    grove_queue q;
    int rc = grove_queue_init(&q, GROVE_QUEUE_FIFO, 4, NULL);
    if (rc < 0)
        return rc;
    grove_thread *c = grove_spawn(consumer, &q);
    if (!c) {
        rc = -errno;
        grove_queue_destroy(&q);
        return rc;
    }
    for (int i = 1; i <= 20 && rc >= 0; i++)
        rc = grove_queue_put(&q, (void *)(intptr_t)i);
    if (rc < 0)
        grove_kill(c);
    void *r;
    int j = grove_join(c, &r);
    grove_queue_destroy(&q);
    if (rc < 0)
        return rc;
    if (j < 0)
        return j;
    return (intptr_t)r == 210 ? 0 : (int)(intptr_t)r;
}

static void work(void *arg) { grove_sleep(GROVE_US(100)); }

static int sc_pool(void)
{
    grove_pool *p = grove_pool_new(3);
    if (!p)
        return -errno;
    int rc = 0;
    for (int i = 0; i < 6 && rc >= 0; i++)
        rc = grove_pool_spawn_n(p, work, NULL);
    int w = grove_pool_waitall(p);
    int d = grove_pool_destroy(p);
    return rc < 0 ? rc : w < 0 ? w : d;
}

static void echo_handler(int fd, void *arg)
{
    char buf[64];
    ssize_t n;
    while ((n = grove_read(fd, buf, sizeof buf)) > 0)
        if (grove_sendall(fd, buf, (size_t)n) < 0)
            break;
}

static int g_port;

static int echo_round(int fd)
{
    ssize_t rc = grove_sendall(fd, "hello", 5);
    if (rc < 0)
        return (int)rc;
    char buf[8];
    size_t got = 0;
    while (got < 5) {
        ssize_t n = grove_read(fd, buf + got, 5 - got);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -ECONNRESET;
        got += (size_t)n;
    }
    return memcmp(buf, "hello", 5) == 0 ? 0 : -EPROTO;
}

static int sc_serve(void)
{
    int lfd = grove_listen("127.0.0.1:0", 16);
    if (lfd < 0)
        return lfd;
    g_port = grove_sock_port(lfd);
    grove_server *srv = grove_server_start(lfd, echo_handler, NULL, 0);
    if (!srv) {
        int e = -errno;
        grove_close(lfd);
        return e;
    }
    int rc = 0;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port);
    for (int i = 0; i < 3 && rc >= 0; i++) {
        int fd = grove_connect(addr);
        if (fd < 0) {
            rc = fd;
            break;
        }
        rc = echo_round(fd);
        grove_close(fd);
    }
    int s = grove_server_stop(srv, GROVE_MS(200));
    grove_close(lfd);
    return rc < 0 ? rc : s < 0 ? s : 0;
}

static int sc_connect(void)
{
    int lfd = grove_listen("127.0.0.1:0", 4);
    if (lfd < 0)
        return lfd;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", grove_sock_port(lfd));
    int fd = grove_connect(addr);
    int rc = fd < 0 ? fd : 0;
    if (fd >= 0) {
        int a = grove_accept(lfd, NULL, NULL);
        if (a < 0)
            rc = a;
        else
            grove_close(a);
        grove_close(fd);
    }
    grove_close(lfd);
    return rc;
}

static int sc_dns(void)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = grove_getaddrinfo("localhost", "80", &hints, &res);
    if (rc == 0)
        grove_freeaddrinfo(res);
    return rc;
}

static char g_cert[256], g_key[256];

static int g_tls_server_ran;

static void *tls_server_side(void *arg)
{
    int fd = (int)(intptr_t)arg;
    g_tls_server_ran = 1;
    grove_tls_opts o = {.cert_file = g_cert, .key_file = g_key};
    grove_tls_ctx *c = grove_tls_server_ctx(&o);
    if (!c) {
        grove_close(fd);
        return (void *)(intptr_t)-errno;
    }
    grove_tls *t;
    int rc = grove_tls_accept(c, fd, &t);
    if (rc == 0) {
        char buf[8];
        ssize_t n = grove_tls_read(t, buf, sizeof buf);
        if (n > 0)
            n = grove_tls_write(t, buf, (size_t)n);
        rc = n < 0 ? (int)n : 0;
        grove_tls_close(t); /* closes fd */
    } else {
        grove_close(fd);
    }
    grove_tls_ctx_free(c);
    return (void *)(intptr_t)rc;
}

static int sc_tls(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    g_tls_server_ran = 0;
    grove_thread *s = grove_spawn(tls_server_side, (void *)(intptr_t)sv[1]);
    if (!s) {
        int e = -errno;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
    grove_tls_opts o = {.insecure = 1};
    grove_tls_ctx *c = grove_tls_client_ctx(&o);
    int rc = c ? 0 : -errno;
    grove_tls *t = NULL;
    if (c)
        rc = grove_tls_connect(c, sv[0], "localhost", &t);
    if (rc == 0) {
        char buf[8];
        rc = (int)grove_tls_write(t, "ping", 4);
        if (rc >= 0) {
            ssize_t n = grove_tls_read(t, buf, sizeof buf);
            rc = n == 4 ? 0 : n < 0 ? (int)n : -EPROTO;
        }
        grove_tls_close(t); /* closes sv[0] */
    } else {
        grove_close(sv[0]);
    }
    if (rc < 0)
        grove_kill(s);
    void *r;
    grove_join(s, &r);
    if (!g_tls_server_ran)
        close(sv[1]); /* killed before it started: its fd is still ours */
    grove_tls_ctx_free(c);
    return rc;
}

static void *triple(void *arg) { return (void *)((intptr_t)arg * 3); }

static int sc_tpool(void)
{
    for (int i = 1; i <= 3; i++) {
        void *r = NULL;
        int rc = grove_tpool_call(triple, (void *)(intptr_t)i, &r, NULL);
        if (rc < 0)
            return rc;
        if ((intptr_t)r != 3 * i)
            return -EPROTO;
    }
    return 0;
}

/* ---- The sweep ------------------------------------------------------------------------- */

typedef struct scenario {
    const char *name;
    int (*fn)(void);
} scenario;

static int run_guarded(const scenario *s)
{
    grove_timeout guard;
    grove_timeout_start(&guard, GROVE_SEC(10));
    int rc = s->fn();
    int fired = grove_timeout_end(&guard);
    if (fired)
        T_FAIL("%s hung (guard scope fired, rc %d)", s->name, rc);
    return rc;
}

static void sweep(const scenario *s)
{
    /* Warm up once: lazily made things (the hub's poller, the tpool's threads, OpenSSL's
     * tables) are made now, not counted as the scenario's. */
    T_OK(run_guarded(s));
    int fds = t_open_fds();
    long sys0, alloc0, sys1, alloc1;
    grove__fault_counts(&sys0, &alloc0);
    T_OK(run_guarded(s));
    grove__fault_counts(&sys1, &alloc1);
    long nsys = sys1 - sys0, nalloc = alloc1 - alloc0;
    int failed = 0;
    for (int kind = 0; kind < 2; kind++) {
        long n = kind == 0 ? nsys : nalloc;
        for (long i = 1; i <= n + 2; i++) {
            grove__fault_set(kind == 0 ? i : 0, kind == 1 ? i : 0);
            int rc = run_guarded(s);
            grove__fault_set(0, 0);
            if (rc < 0) {
                failed++;
                if (!documented(rc))
                    T_FAIL("%s, %s call %ld failed: undocumented result %d (%s)", s->name,
                           kind == 0 ? "system" : "allocation", i, rc, grove_strerror(rc));
            }
            /* Let anything the failure left running (a server's handlers, a late tpool
             * completion) finish, then nothing may be left open. */
            grove_sleep(GROVE_MS(1));
            int now = t_open_fds();
            if (now > fds)
                T_FAIL("%s, %s call %ld failed: %d fds leaked", s->name, kind == 0 ? "system" : "allocation", i,
                       now - fds);
            /* And the scenario works again at once. */
            T_OK(run_guarded(s));
        }
    }
    fprintf(stderr, "     %-8s %3ld system calls, %3ld allocations, %3d runs ended in an error\n", s->name, nsys,
            nalloc, failed);
}

static char g_cert_dir[] = "/tmp/grove-fault-XXXXXX";

static void make_cert(void)
{
    T_ASSERT(mkdtemp(g_cert_dir));
    t_self_signed(g_cert_dir);
    snprintf(g_cert, sizeof g_cert, "%s/cert.pem", g_cert_dir);
    snprintf(g_key, sizeof g_key, "%s/key.pem", g_cert_dir);
}

static const scenario g_scenarios[] = {
    {"spawn", sc_spawn},     {"queue", sc_queue}, {"pool", sc_pool}, {"serve", sc_serve},
    {"connect", sc_connect}, {"dns", sc_dns},     {"tls", sc_tls},   {"tpool", sc_tpool},
};

static void test_sweep(void)
{
    make_cert();
    for (size_t i = 0; i < sizeof g_scenarios / sizeof g_scenarios[0]; i++)
        sweep(&g_scenarios[i]);
    unlink(g_cert);
    unlink(g_key);
    rmdir(g_cert_dir);
}

static const t_case cases[] = {
    T_CASE(test_sweep),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
