/* TLS against real OpenSSL and curl processes on loopback, with certificates made at test
 * time: verification on by default (and its failures), a CA file, SNI certificate
 * selection, ALPN, a Grove TLS server serving curl, and many concurrent TLS clients. */
// ctest: labels=unit,net,tls timeout=120
#include "test.h"

#include <signal.h>
#include <sys/wait.h>

static char g_dir[64];
static char g_ca[128], g_cert[128], g_key[128], g_cert2[128], g_key2[128];

static int sh(const char *cmd)
{
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &o);
    if (!p)
        return -1;
    char *out;
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "command failed: %s\n%s\n", cmd, st >= 0 ? out : "");
    if (st >= 0)
        free(out);
    grove_proc_free(p);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void make_certs(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/grove-tls-%d", (int)getpid());
    snprintf(g_ca, sizeof g_ca, "%s/ca.pem", g_dir);
    snprintf(g_cert, sizeof g_cert, "%s/localhost.pem", g_dir);
    snprintf(g_key, sizeof g_key, "%s/localhost.key", g_dir);
    snprintf(g_cert2, sizeof g_cert2, "%s/other.pem", g_dir);
    snprintf(g_key2, sizeof g_key2, "%s/other.key", g_dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p %1$s; cd %1$s; "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=grove-test-ca "
             "-keyout ca.key -out ca.pem 2>/dev/null; "
             "for n in localhost other.test; do "
             "f=$n; [ $n = other.test ] && f=other; "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$n -keyout $f.key -out $f.csr "
             "2>/dev/null; "
             "printf 'subjectAltName=DNS:%%s\\n' $n > $f.ext; "
             "openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile $f.ext -out "
             "$f.pem 2>/dev/null; "
             "done",
             g_dir);
    T_EQ(sh(cmd), 0);
}

static int free_port(void)
{
    int l = grove_listen("127.0.0.1:0", 1);
    int port = grove_sock_port(l);
    grove_close(l);
    return port;
}

static int connect_retry(int port)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    for (int i = 0; i < 200; i++) {
        int fd = grove_connect(addr);
        if (fd >= 0)
            return fd;
        grove_sleep(GROVE_MS(10));
    }
    return -ETIMEDOUT;
}

/* ---- Grove client against openssl s_server --------------------------------------------- */

static grove_proc *g_sserver;
static int g_sport;

static void start_s_server(void)
{
    g_sport = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", g_sport);
    char *argv[] = {"openssl", "s_server", "-quiet", "-www",  "-accept",  port, "-cert",
                    g_cert,    "-key",     g_key,    "-alpn", "http/1.1", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDIN | GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    g_sserver = grove_proc_spawn(argv, &o);
    T_ASSERT(g_sserver);
    int fd = connect_retry(g_sport); /* wait until it listens */
    T_OK(fd);
    grove_close(fd);
}

static int client(const grove_tls_opts *o, const char *name, grove_tls **out)
{
    grove_tls_ctx *ctx = grove_tls_client_ctx(o);
    T_ASSERT(ctx);
    int fd = connect_retry(g_sport);
    T_OK(fd);
    int rc = grove_tls_connect(ctx, fd, name, out);
    if (rc < 0)
        grove_close(fd);
    grove_tls_ctx_free(ctx);
    return rc;
}

static void test_client_verification(void)
{
    grove_tls *t;
    /* Default: verification on, and our test CA is not in the system store. */
    grove_tls_opts none = {0};
    T_EQ(client(&none, "localhost", &t), -EKEYREJECTED);
    T_ASSERT(strstr(grove_tls_last_error(), "certificate"));
    /* With the CA but the wrong name. */
    grove_tls_opts ca = {.ca_file = g_ca};
    T_EQ(client(&ca, "wrong.name", &t), -EKEYREJECTED);
    /* A bad CA file is a clear error at context creation. */
    grove_tls_opts bad = {.ca_file = "/nonexistent.pem"};
    T_ASSERT(grove_tls_client_ctx(&bad) == NULL);
    T_EQ(errno, EINVAL);
}

static void test_client_request_and_alpn(void)
{
    grove_tls *t;
    grove_tls_opts o = {.ca_file = g_ca, .alpn = "h2,http/1.1"};
    T_OK(client(&o, "localhost", &t));
    T_STREQ(grove_tls_alpn(t), "http/1.1");
    grove_stream *s = grove_tls_stream(t, 0);
    const char *req = "GET / HTTP/1.0\r\n\r\n";
    T_EQ(grove_stream_write(s, req, strlen(req)), (ssize_t)strlen(req));
    T_OK(grove_stream_flush(s));
    char line[256];
    T_GT(grove_stream_readline(s, line, sizeof line), 0);
    T_ASSERT(!strncmp(line, "HTTP/1.0 200", 12));
    T_OK(grove_stream_close(s));

    /* insecure skips verification (for tests against self-signed servers). */
    grove_tls_opts ins = {.insecure = 1};
    T_OK(client(&ins, NULL, &t));
    grove_tls_close(t);
}

/* ---- Grove server -------------------------------------------------------------------------- */

static grove_tls_ctx *g_sctx;
static char g_seen_sni[64];

static void tls_handler(int fd, void *arg)
{
    int dup_fd = dup(fd); /* the grove_tls owns its fd; the server closes the original */
    grove_tls *t;
    if (grove_tls_accept(g_sctx, dup_fd, &t) < 0) {
        close(dup_fd); /* plain close(): a failed handshake leaves the fd forgotten by the hub
                        * (without that, the next connection given this fd number hangs in
                        * test_no_sni_for_addresses, after test_sni_selection's failure) */
        return;
    }
    const char *sni = grove_tls_server_name(t);
    snprintf(g_seen_sni, sizeof g_seen_sni, "%s", sni ? sni : "");
    grove_stream *s = grove_tls_stream(t, 0);
    char line[512];
    while (grove_stream_readline(s, line, sizeof line) > 2) {
    }
    char body[128];
    int bl = snprintf(body, sizeof body, "hello over tls, alpn=%s\n", grove_tls_alpn(t));
    int hl = snprintf(line, sizeof line, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", bl);
    grove_stream_write(s, line, (size_t)hl);
    grove_stream_write(s, body, (size_t)bl);
    grove_stream_close(s);
}

static int g_gport;
static grove_server *g_gsrv;

static void start_grove_server(void)
{
    grove_tls_opts o = {.cert_file = g_cert, .key_file = g_key, .alpn = "http/1.1"};
    g_sctx = grove_tls_server_ctx(&o);
    T_ASSERT(g_sctx);
    T_OK(grove_tls_ctx_add_sni(g_sctx, "other.test", g_cert2, g_key2));
    int l = grove_listen("127.0.0.1:0", 1024);
    g_gport = grove_sock_port(l);
    g_gsrv = grove_server_start(l, tls_handler, NULL, 0);
}

static void test_grove_server_with_curl(void)
{
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%d/", g_gport);
    char port[16];
    snprintf(port, sizeof port, "%d", g_gport);
    char resolve[64];
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", g_gport);
    char *argv[] = {"curl", "-sS", "--max-time", "10", "--http1.1", "--cacert", g_ca, "--resolve", resolve, url, NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    char *out;
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    T_OK(st);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        T_FAIL("curl failed: %s", out);
    T_STREQ(out, "hello over tls, alpn=http/1.1\n");
    T_STREQ(g_seen_sni, "localhost");
    free(out);
    grove_proc_free(p);
}

static grove_tls_ctx *g_cctx; /* one client context shared by every connection */

static void *grove_client(void *arg)
{
    grove_tls_ctx *ctx = g_cctx;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g_gport);
    int fd = grove_connect(addr);
    grove_tls *t;
    int rc = grove_tls_connect(ctx, fd, arg, &t);
    if (rc < 0) {
        grove_close(fd);
        return (void *)(intptr_t)rc;
    }
    grove_tls_write(t, "GET / HTTP/1.1\r\n\r\n", 18);
    char buf[512];
    size_t n = 0;
    ssize_t r;
    while ((r = grove_tls_read(t, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    grove_tls_close(t);
    return (void *)(intptr_t)(strstr(buf, "hello over tls") != NULL);
}

static void test_sni_selection(void)
{
    /* The default certificate is for localhost: verifying "other.test" only succeeds if
     * the server picked the other certificate by SNI. */
    void *r;
    grove_thread *t = grove_spawn(grove_client, "other.test");
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, 1);
    T_STREQ(g_seen_sni, "other.test");
    t = grove_spawn(grove_client, "unknown.test"); /* gets the default: name mismatch */
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, -EKEYREJECTED);
}

/* RFC 6066 3: an IP address is never sent as SNI; a host name is. */
static void test_no_sni_for_addresses(void)
{
    grove_tls_opts o = {.insecure = 1};
    grove_tls_ctx *saved = g_cctx;
    g_cctx = grove_tls_client_ctx(&o);
    T_ASSERT(g_cctx);
    const char *names[] = {"127.0.0.1", "::1", "localhost"};
    const char *seen[] = {"", "", "localhost"};
    for (int i = 0; i < 3; i++) {
        snprintf(g_seen_sni, sizeof g_seen_sni, "unset");
        void *r;
        grove_thread *t = grove_spawn(grove_client, (void *)names[i]);
        T_OK(grove_join(t, &r));
        T_EQ((intptr_t)r, 1);
        T_STREQ(g_seen_sni, seen[i]);
    }
    grove_tls_ctx_free(g_cctx);
    g_cctx = saved;
}

static void test_many_clients(void)
{
    grove_thread *t[100];
    for (int i = 0; i < 100; i++)
        t[i] = grove_spawn(grove_client, "localhost");
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        ok += (intptr_t)r == 1;
    }
    T_EQ(ok, 100);
}

/* openssl s_client against the Grove server: SNI picks the second certificate, which
 * s_client verifies against the CA; ALPN is negotiated. */
static void test_grove_server_with_s_client(void)
{
    char connect[64];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", g_gport);
    char *argv[] = {"openssl",
                    "s_client",
                    "-connect",
                    connect,
                    "-servername",
                    "other.test",
                    "-verify_hostname",
                    "other.test",
                    "-verify_return_error",
                    "-CAfile",
                    g_ca,
                    "-alpn",
                    "http/1.1",
                    "-ign_eof",
                    NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDIN | GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    const char *req = "GET / HTTP/1.1\r\n\r\n";
    char *out;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(10));
    int st = grove_proc_communicate(p, req, strlen(req), &out, NULL, NULL, NULL);
    grove_timeout_end(&to);
    T_OK(st);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, "hello over tls, alpn=http/1.1"))
        T_FAIL("s_client failed: %s", out);
    T_ASSERT(strstr(out, "Verify return code: 0 (ok)"));
    T_ASSERT(strstr(out, "ALPN protocol: http/1.1"));
    T_STREQ(g_seen_sni, "other.test");
    free(out);
    grove_proc_free(p);
}

/* A peer that accepts TCP but never speaks TLS: the handshake honours timeout scopes
 * and kill; a read with nothing coming honours them too. */
static void *silent_accept(void *arg)
{
    int l = (int)(intptr_t)arg;
    int fds[4], n = 0;
    while (n < 4) {
        int fd = grove_accept(l, NULL, NULL);
        if (fd < 0)
            break;
        fds[n++] = fd;
    }
    for (int i = 0; i < n; i++)
        grove_close(fds[i]);
    return NULL;
}

static void *handshake_forever(void *arg)
{
    grove_tls *t;
    int fd = (int)(intptr_t)arg;
    return (void *)(intptr_t)grove_tls_connect(g_cctx, fd, "localhost", &t);
}

static void test_handshake_timeout_and_kill(void)
{
    int l = grove_listen("127.0.0.1:0", 8);
    T_OK(l);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", grove_sock_port(l));
    grove_thread *acc = grove_spawn(silent_accept, (void *)(intptr_t)l);

    int fd = grove_connect(addr);
    T_OK(fd);
    grove_tls *t;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(50));
    int64_t t0 = grove_now();
    T_EQ(grove_tls_connect(g_cctx, fd, "localhost", &t), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_MS(500));
    T_ASSERT(grove_timeout_end(&to));
    grove_close(fd); /* left open for us on failure */

    fd = grove_connect(addr);
    T_OK(fd);
    grove_thread *h = grove_spawn(handshake_forever, (void *)(intptr_t)fd);
    T_OK(grove_sleep(GROVE_MS(20)));
    T_OK(grove_kill(h));
    void *r;
    T_OK(grove_join(h, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    grove_close(fd);

    /* Established connection, nothing to read: the read times out. */
    grove_tls_opts o = {.ca_file = g_ca};
    T_OK(client(&o, "localhost", &t));
    char buf[16];
    grove_timeout_start(&to, GROVE_MS(50));
    T_EQ(grove_tls_read(t, buf, sizeof buf), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    grove_tls_close(t);

    grove_kill(acc);
    grove_join(acc, NULL);
    grove_close(l);
}

/* grove_tls_stream_ops with grove_stream_new_ops is what grove_tls_stream does. */
static void test_stream_ops(void)
{
    grove_tls *t;
    grove_tls_opts o = {.ca_file = g_ca};
    T_OK(client(&o, "localhost", &t));
    grove_stream *s = grove_stream_new_ops(grove_tls_stream_ops(), t, 0);
    T_ASSERT(s);
    T_EQ(grove_stream_fd(s), -1);
    T_EQ(grove_stream_write(s, "GET / HTTP/1.0\r\n\r\n", 18), 18);
    T_OK(grove_stream_flush(s));
    char line[256];
    T_GT(grove_stream_readline(s, line, sizeof line), 0);
    T_ASSERT(!strncmp(line, "HTTP/1.0 200", 12));
    T_OK(grove_stream_close(s));
}

/* Issue 9, defect 2: a peer that leaves during a TLS write or during grove_tls_accept
 * gives an error (-EPIPE for the write), never SIGPIPE (left at SIG_DFL here, so the
 * process would die). */
static void *tls_accept_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    grove_tls *t;
    int rc = grove_tls_accept(g_sctx, fd, &t);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    grove_sleep(GROVE_MS(30)); /* the client has closed: our socket is in CLOSE_WAIT */
    static char big[65536];
    ssize_t w = 0;
    for (int i = 0; i < 200 && w >= 0; i++) /* until the vanished peer shows */
        w = grove_tls_write(t, big, sizeof big);
    grove_tls_close(t);
    return (void *)(intptr_t)w;
}

static void *tls_connect_stuck(void *arg)
{
    grove_tls *t;
    return (void *)(intptr_t)grove_tls_connect(g_cctx, (int)(intptr_t)arg, "localhost", &t);
}

static void test_peer_leaves_no_sigpipe(void)
{
    signal(SIGPIPE, SIG_DFL);
    int l = grove_listen("127.0.0.1:0", 8);
    T_OK(l);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", grove_sock_port(l));

    /* During writes: the client completes the handshake, then vanishes. */
    int c = grove_connect(addr);
    T_OK(c);
    int s = grove_accept(l, NULL, NULL);
    T_OK(s);
    grove_thread *srv = grove_spawn(tls_accept_one, (void *)(intptr_t)s);
    grove_tls *t;
    T_OK(grove_tls_connect(g_cctx, c, "localhost", &t));
    char buf[1024];
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    while (grove_tls_read(t, buf, sizeof buf) > 0) { /* session tickets: leave nothing unread */
    }
    grove_timeout_end(&to);
    grove_close(c);     /* gone without close_notify: a FIN, then an RST for the next data */
    grove_tls_close(t); /* frees it; its fd is already closed (nothing reused the number) */
    void *r;
    T_OK(grove_join(srv, &r));
    T_EQ((intptr_t)r, -EPIPE);
    grove_close(s);

    /* During the handshake: the client sent its hello and vanished. */
    for (int i = 0; i < 5; i++) {
        c = grove_connect(addr);
        T_OK(c);
        s = grove_accept(l, NULL, NULL);
        T_OK(s);
        grove_thread *cl = grove_spawn(tls_connect_stuck, (void *)(intptr_t)c);
        T_OK(grove_sleep(GROVE_MS(5))); /* its ClientHello is on the wire */
        T_OK(grove_kill(cl));
        T_OK(grove_join(cl, NULL));
        grove_close(c);
        srv = grove_spawn(tls_accept_one, (void *)(intptr_t)s);
        T_OK(grove_join(srv, &r));
        T_LT((intptr_t)r, 0); /* an error, and we are still alive */
        grove_close(s);
    }
    grove_close(l);
    signal(SIGPIPE, SIG_IGN);
}

static const t_case cases[] = {
    T_CASE(test_peer_leaves_no_sigpipe),
    T_CASE(test_client_verification),
    T_CASE(test_client_request_and_alpn),
    T_CASE(test_grove_server_with_curl),
    T_CASE(test_sni_selection),
    T_CASE(test_no_sni_for_addresses),
    T_CASE(test_grove_server_with_s_client),
    T_CASE(test_handshake_timeout_and_kill),
    T_CASE(test_stream_ops),
    T_CASE(test_many_clients),
    {0},
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    make_certs();
    start_s_server();
    start_grove_server();
    grove_tls_opts co = {.ca_file = g_ca};
    g_cctx = grove_tls_client_ctx(&co);
    int rc = t_run(cases, argc, argv);
    grove_proc_kill(g_sserver, SIGTERM);
    grove_proc_wait(g_sserver);
    grove_proc_free(g_sserver);
    grove_server_stop(g_gsrv, GROVE_SEC(1));
    grove_tls_ctx_free(g_sctx);
    grove_tls_ctx_free(g_cctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    sh(cmd);
    return rc;
}
