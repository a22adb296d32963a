// ctest: labels=unit,net,portable timeout=120 libs=grove_http
/* The HTTP client against Grove's server and against raw canned servers: methods, headers,
 * bodies from memory and callbacks, streamed and whole responses, chunked responses with
 * trailers, keep-alive reuse and the pool bound, a stale pooled connection, redirects,
 * HEAD, bodies delimited by EOF, TLS verification, timeouts through scopes, and the
 * parser's strictness on responses. */
#include "http-util.h"

static int app(grove_http_req *req, void *arg)
{
    (void)arg;
    const char *p = grove_http_req_path(req);
    char buf[512];
    if (!strcmp(p, "/echo")) {
        const void *body;
        ssize_t n = grove_http_req_body(req, &body);
        if (n < 0)
            return (int)n;
        const char *h = grove_http_req_header(req, "X-Test");
        const char *te = grove_http_req_header(req, "Transfer-Encoding");
        int l = snprintf(buf, sizeof buf, "%s %s len=%zd body=%.64s x=%s te=%s ua=%s", grove_http_req_method(req),
                         grove_http_req_target(req), n, (const char *)body, h ? h : "-", te ? te : "-",
                         grove_http_req_header(req, "User-Agent"));
        return grove_http_respond(req, 200, "text/plain", buf, (size_t)l);
    }
    if (!strcmp(p, "/port")) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        T_OK(grove_http_req_peer(req, (struct sockaddr *)&ss, &sl));
        int l = snprintf(buf, sizeof buf, "%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
        return grove_http_respond(req, 200, NULL, buf, (size_t)l);
    }
    if (!strcmp(p, "/chunked")) {
        T_OK(grove_http_start(req, 200, NULL, -1));
        for (int i = 0; i < 100; i++)
            T_EQ(grove_http_write(req, "0123456789", 10), 10);
        T_OK(grove_http_add_trailer(req, "X-Done", "yes"));
        return grove_http_finish(req);
    }
    if (!strcmp(p, "/redirect")) { /* /redirect?N -> N-1 ... -> /echo */
        int n = atoi(grove_http_req_query(req));
        char loc[64];
        if (n > 1)
            snprintf(loc, sizeof loc, "redirect?%d", n - 1); /* relative */
        else
            snprintf(loc, sizeof loc, "/echo?from=redirect");
        T_OK(grove_http_add_header(req, "Location", loc));
        return grove_http_respond(req, 303, NULL, "see other", 9);
    }
    if (!strcmp(p, "/r307")) {
        T_OK(grove_http_add_header(req, "Location", "/echo?kept"));
        return grove_http_respond(req, 307, NULL, NULL, 0);
    }
    if (!strcmp(p, "/loop")) {
        T_OK(grove_http_add_header(req, "Location", "/loop"));
        return grove_http_respond(req, 302, NULL, NULL, 0);
    }
    if (!strcmp(p, "/slow")) {
        int rc = grove_sleep(GROVE_MS(300));
        return rc < 0 ? rc : grove_http_respond(req, 200, NULL, "slow", 4);
    }
    return grove_http_respond(req, 404, NULL, "nf", 2);
}

static t_srv g_s;
static grove_http_client *g_c;
static char g_url[256];

static const char *U(const char *path)
{
    snprintf(g_url, sizeof g_url, "http://%s%s", g_s.addr, path);
    return g_url;
}

static void test_start(void)
{
    grove_http_server_opts o = {.handler = app, .limits = {.idle_timeout = GROVE_MS(300)}};
    t_srv_start(&g_s, &o);
    g_c = grove_http_client_new(NULL);
    T_ASSERT(g_c);
}

static void test_get_and_headers(void)
{
    grove_http_resp *r;
    const char *hdrs[] = {"X-Test", "value 1", NULL};
    grove_http_request rq = {.url = U("/echo?q=1"), .headers = hdrs};
    T_OK(grove_http_client_send(g_c, &rq, &r));
    T_EQ(grove_http_resp_status(r), 200);
    T_STREQ(grove_http_resp_header(r, "content-type"), "text/plain");
    T_STREQ(grove_http_resp_header(r, "SERVER"), "grove");
    T_ASSERT(grove_http_resp_header(r, "X-None") == NULL);
    T_GE(grove_http_resp_header_count(r), 4);
    const void *body;
    ssize_t n = grove_http_resp_body(r, &body);
    T_GT(n, 0);
    T_STREQ(body, "GET /echo?q=1 len=0 body= x=value 1 te=- ua=grove");
    grove_http_resp_close(r);
    T_EQ(grove_http_client_idle(g_c), 1);
    /* bad requests never reach the network */
    const char *bad[] = {"X-Bad", "a\r\nb", NULL};
    grove_http_request rq2 = {.url = U("/echo"), .headers = bad};
    T_EQ(grove_http_client_send(g_c, &rq2, &r), -EINVAL);
    T_EQ(grove_http_get(g_c, "ftp://x/", &r), -EINVAL);
    T_EQ(grove_http_get(g_c, "http:///", &r), -EINVAL);
    T_EQ(grove_http_get(g_c, "http://a:99999/", &r), -EINVAL);
    T_EQ(grove_http_get(g_c, "http://a b/", &r), -EINVAL);
}

static ssize_t gen(void *arg, void *buf, size_t n)
{
    int *left = arg;
    if (!*left)
        return 0;
    (*left)--;
    memcpy(buf, "abc", 3);
    return 3;
}

static void test_bodies(void)
{
    grove_http_resp *r;
    const void *body;
    grove_http_request rq = {.method = "PUT", .url = U("/echo"), .body = "memory", .body_len = 6};
    T_OK(grove_http_client_send(g_c, &rq, &r));
    T_GT(grove_http_resp_body(r, &body), 0);
    T_STREQ(body, "PUT /echo len=6 body=memory x=- te=- ua=grove");
    grove_http_resp_close(r);
    int left = 3;
    grove_http_request rq2 = {
        .method = "POST", .url = U("/echo"), .body_cb = gen, .body_cb_arg = &left, .body_cb_len = -1};
    T_OK(grove_http_client_send(g_c, &rq2, &r));
    T_GT(grove_http_resp_body(r, &body), 0);
    T_STREQ(body, "POST /echo len=9 body=abcabcabc x=- te=chunked ua=grove");
    grove_http_resp_close(r);
    left = 2;
    grove_http_request rq3 = {
        .method = "POST", .url = U("/echo"), .body_cb = gen, .body_cb_arg = &left, .body_cb_len = 6};
    T_OK(grove_http_client_send(g_c, &rq3, &r));
    T_GT(grove_http_resp_body(r, &body), 0);
    T_STREQ(body, "POST /echo len=6 body=abcabc x=- te=- ua=grove");
    grove_http_resp_close(r);
}

static void test_streamed_chunked_response(void)
{
    grove_http_resp *r;
    T_OK(grove_http_get(g_c, U("/chunked"), &r));
    T_ASSERT(grove_http_resp_trailer(r, "X-Done") == NULL); /* not yet */
    char buf[7];
    size_t total = 0;
    ssize_t n;
    while ((n = grove_http_resp_read(r, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            T_EQ(buf[i], '0' + (int)((total + (size_t)i) % 10));
        total += (size_t)n;
    }
    T_EQ(n, 0);
    T_EQ(total, 1000);
    T_STREQ(grove_http_resp_trailer(r, "x-done"), "yes");
    grove_http_resp_close(r);
}

static int get_port(void)
{
    grove_http_resp *r;
    T_OK(grove_http_get(g_c, U("/port"), &r));
    const void *b;
    T_GT(grove_http_resp_body(r, &b), 0);
    int port = atoi(b);
    grove_http_resp_close(r);
    return port;
}

static void *par_get(void *arg)
{
    (void)arg;
    grove_http_resp *r;
    T_OK(grove_http_get(g_c, U("/slow"), &r));
    const void *b;
    T_EQ(grove_http_resp_body(r, &b), 4);
    grove_http_resp_close(r);
    return NULL;
}

static void test_keepalive_pool(void)
{
    int p1 = get_port(), p2 = get_port(), p3 = get_port();
    T_EQ(p1, p2); /* the same connection each time */
    T_EQ(p2, p3);
    /* six at once open six connections; the pool keeps four of them */
    grove_thread *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = grove_spawn(par_get, NULL);
    for (int i = 0; i < 6; i++)
        T_OK(grove_join(t[i], NULL));
    T_EQ(grove_http_client_idle(g_c), 4);
    /* the server closes idle connections after 300 ms: the stale pooled one is retried */
    grove_sleep(GROVE_MS(500));
    int p4 = get_port();
    T_NE(p4, p1);
    T_EQ(get_port(), p4);
}

static void test_redirects(void)
{
    grove_http_resp *r;
    /* not followed by default */
    T_OK(grove_http_get(g_c, U("/redirect?2"), &r));
    T_EQ(grove_http_resp_status(r), 303);
    T_STREQ(grove_http_resp_header(r, "Location"), "redirect?1");
    grove_http_resp_close(r);
    grove_http_client_opts o = {.max_redirects = 3};
    grove_http_client *c = grove_http_client_new(&o);
    grove_http_request rq = {.method = "POST", .url = U("/redirect?3"), .body = "x", .body_len = 1};
    T_OK(grove_http_client_send(c, &rq, &r));
    T_EQ(grove_http_resp_status(r), 200);
    const void *b;
    T_GT(grove_http_resp_body(r, &b), 0);
    T_STREQ(b, "GET /echo?from=redirect len=0 body= x=- te=- ua=grove"); /* 303: GET */
    T_ASSERT(strstr(grove_http_resp_url(r), "/echo?from=redirect"));
    grove_http_resp_close(r);
    grove_http_request rq2 = {.method = "PUT", .url = U("/r307"), .body = "kept", .body_len = 4};
    T_OK(grove_http_client_send(c, &rq2, &r));
    T_GT(grove_http_resp_body(r, &b), 0);
    T_STREQ(b, "PUT /echo?kept len=4 body=kept x=- te=- ua=grove"); /* 307: same method and body */
    grove_http_resp_close(r);
    T_EQ(grove_http_get(c, U("/redirect?4"), &r), -ELOOP);
    T_EQ(grove_http_get(c, U("/loop"), &r), -ELOOP);
    grove_http_client_free(c);
}

static void test_head_request(void)
{
    grove_http_resp *r;
    grove_http_request rq = {.method = "HEAD", .url = U("/chunked")};
    T_OK(grove_http_client_send(g_c, &rq, &r));
    T_EQ(grove_http_resp_status(r), 200);
    T_STREQ(grove_http_resp_header(r, "Transfer-Encoding"), "chunked");
    char buf[16];
    T_EQ(grove_http_resp_read(r, buf, sizeof buf), 0);
    grove_http_resp_close(r);
    T_EQ(get_port(), get_port()); /* the connection stays usable */
}

static void test_timeout_scope(void)
{
    grove_http_resp *r;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(50));
    int rc = grove_http_get(g_c, U("/slow"), &r);
    T_ASSERT(grove_timeout_end(&to));
    T_EQ(rc, -ETIMEDOUT);
    T_OK(grove_http_get(g_c, U("/slow"), &r));
    grove_http_resp_close(r);
}

/* ---- canned responses from a raw server --------------------------------------------------- */

typedef struct canned {
    int lfd;
    const char *resp;
    size_t len;
} canned;

static void *canned_main(void *arg)
{
    canned *cd = arg;
    int fd = grove_accept(cd->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[4096];
    t_read_head(fd, buf, sizeof buf);
    grove_sendall(fd, cd->resp, cd->len);
    grove_shutdown(fd, SHUT_WR);
    grove_sleep(GROVE_MS(50));
    grove_close(fd);
    return NULL;
}

static int canned_get(const char *resp, size_t len, char *body, size_t cap)
{
    canned cd = {.lfd = grove_listen("127.0.0.1:0", 4), .resp = resp, .len = len};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", grove_sock_port(cd.lfd));
    grove_thread *t = grove_spawn(canned_main, &cd);
    grove_http_client *c = grove_http_client_new(NULL);
    grove_http_resp *r;
    int rc = grove_http_get(c, url, &r);
    if (rc == 0) {
        const void *b;
        ssize_t n = grove_http_resp_body(r, &b);
        if (n >= 0 && body)
            snprintf(body, cap, "%s", (const char *)b);
        rc = n < 0 ? (int)n : grove_http_resp_status(r);
        grove_http_resp_close(r);
    }
    grove_http_client_free(c);
    grove_join(t, NULL);
    grove_close(cd.lfd);
    return rc;
}

#define CANNED(s, body, cap) canned_get(s, sizeof(s) - 1, body, cap)

static void test_canned(void)
{
    char body[256];
    T_EQ(CANNED("HTTP/1.0 200 OK\r\n\r\nuntil the end", body, sizeof body), 200);
    T_STREQ(body, "until the end");
    T_EQ(CANNED("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", body, sizeof body),
         201);
    T_STREQ(body, "ok");
    /* the same strictness as the server */
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NULL, 0),
         -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nab", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nab", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", NULL, 0), -EPROTO);
    T_EQ(CANNED("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", NULL, 0), -ECONNRESET);
    T_EQ(CANNED("garbage\r\n\r\n", NULL, 0), -EPROTO);
    static char big[40000];
    int l = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nX: ");
    memset(big + l, 'a', 20000);
    memcpy(big + l + 20000, "\r\n\r\n", 5);
    T_EQ(canned_get(big, strlen(big), NULL, 0), -EMSGSIZE);
}

/* ---- TLS ---------------------------------------------------------------------------------- */

static void test_tls(void)
{
    if (!t_tls_built())
        return; /* a build without TLS: its ENOTSUP was checked */
    char dir[64], cmd[1024];
    snprintf(dir, sizeof dir, "/tmp/grove-httpc-tls-%d", (int)getpid());
    t_self_signed(dir);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    grove_tls_opts so = {.cert_file = cert, .key_file = key};
    grove_tls_ctx *sctx = grove_tls_server_ctx(&so);
    T_ASSERT(sctx);
    grove_http_server_opts o = {.handler = app, .tls = sctx};
    t_srv s;
    t_srv_start(&s, &o);
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%d/echo", s.port);
    grove_http_resp *r;
    /* the default context verifies against the system store: a self-signed cert fails */
    grove_http_client *c0 = grove_http_client_new(NULL);
    T_EQ(grove_http_get(c0, url, &r), -EKEYREJECTED);
    grove_http_client_free(c0);
    grove_tls_opts co = {.ca_file = cert};
    grove_tls_ctx *cctx = grove_tls_client_ctx(&co);
    grove_http_client_opts copts = {.tls = cctx};
    grove_http_client *c = grove_http_client_new(&copts);
    grove_http_request rq = {.method = "POST", .url = url, .body = "over tls", .body_len = 8};
    T_OK(grove_http_client_send(c, &rq, &r));
    const void *b;
    T_GT(grove_http_resp_body(r, &b), 0);
    T_STREQ(b, "POST /echo len=8 body=over tls x=- te=- ua=grove");
    grove_http_resp_close(r);
    T_OK(grove_http_client_send(c, &rq, &r)); /* reused TLS connection */
    grove_http_resp_close(r);
    T_EQ(grove_http_client_idle(c), 1);
    /* the wrong name fails verification too */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", s.port);
    T_EQ(grove_http_get(c, url, &r), -EKEYREJECTED);
    grove_http_client_free(c);
    grove_tls_ctx_free(cctx);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
    grove_tls_ctx_free(sctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ(system(cmd), 0);
}

static void test_stop(void)
{
    grove_http_client_free(g_c);
    T_EQ(t_srv_stop(&g_s, GROVE_SEC(1)), 0);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        T_CASE(test_start),          T_CASE(test_get_and_headers),
        T_CASE(test_bodies),         T_CASE(test_streamed_chunked_response),
        T_CASE(test_keepalive_pool), T_CASE(test_redirects),
        T_CASE(test_head_request),   T_CASE(test_timeout_scope),
        T_CASE(test_canned),         T_CASE(test_tls),
        T_CASE(test_stop),           {NULL, NULL},
    };
    return t_run(cases, argc, argv);
}
