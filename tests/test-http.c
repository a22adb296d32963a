// ctest: labels=unit,net,portable timeout=120 libs=grove_http serial
/* The HTTP server: responses and their headers, keep-alive and pipelining, chunked bodies
 * in and out with trailers, lazy 100-continue, HEAD, HTTP/1.0, handler failures, limits,
 * timeouts, slow clients, graceful stop, take-over, router, access log, sendfile, and
 * real clients (curl, wrk) against it. Request smuggling is in test-http-smuggle.c. */
#include "http-util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

static char g_file[64];

static int app(grove_http_req *req, void *arg)
{
    (void)arg;
    const char *p = grove_http_req_path(req);
    char buf[2048];
    if (!strcmp(p, "/hello"))
        return grove_http_respond(req, 200, "text/plain", "Hello, World!", 13);
    if (!strcmp(p, "/echo")) {
        const void *body;
        ssize_t n = grove_http_req_body(req, &body);
        if (n < 0)
            return (int)n;
        const char *t = grove_http_req_trailer(req, "X-T");
        int l = snprintf(buf, sizeof buf, "len=%zd body=%.100s trailer=%s", n, (const char *)body, t ? t : "-");
        return grove_http_respond(req, 200, "text/plain", buf, (size_t)l);
    }
    if (!strcmp(p, "/info")) {
        const char *a = grove_http_req_header(req, "x-a");
        int l = snprintf(buf, sizeof buf, "%s|%s|%s|%s|%s|%d|%s", grove_http_req_method(req),
                         grove_http_req_target(req), p, grove_http_req_query(req), a ? a : "-",
                         grove_http_req_version_minor(req), grove_http_req_peer_str(req));
        T_OK(grove_http_add_header(req, "X-Reply", "yes"));
        T_EQ(grove_http_add_header(req, "Content-Length", "5"), -EINVAL);
        T_EQ(grove_http_add_header(req, "Bad Name", "x"), -EINVAL);
        T_EQ(grove_http_add_header(req, "X-Bad", "a\r\nb"), -EINVAL);
        return grove_http_respond(req, 200, "text/plain", buf, (size_t)l);
    }
    if (!strcmp(p, "/chunked")) {
        T_OK(grove_http_start(req, 200, "text/plain", -1));
        T_EQ(grove_http_write(req, "ab", 2), 2);
        T_EQ(grove_http_write(req, "cd", 2), 2);
        /* HTTP/1.0 has no chunks, hence no trailers */
        T_EQ(grove_http_add_trailer(req, "X-Sum", "4"), grove_http_req_version_minor(req) ? 0 : -EINVAL);
        return grove_http_finish(req);
    }
    if (!strcmp(p, "/stream")) {
        T_OK(grove_http_start(req, 200, NULL, 6));
        T_EQ(grove_http_write(req, "abc", 3), 3);
        T_EQ(grove_http_write(req, "defg", 4), -EINVAL); /* more than announced */
        T_EQ(grove_http_write(req, "def", 3), 3);
        return 0; /* the server finishes it */
    }
    if (!strcmp(p, "/short")) {
        T_OK(grove_http_start(req, 200, NULL, 10));
        T_EQ(grove_http_write(req, "abc", 3), 3);
        return 0; /* 7 bytes missing: the connection must close */
    }
    if (!strcmp(p, "/fail"))
        return -EIO;
    if (!strcmp(p, "/none"))
        return 0;
    if (!strcmp(p, "/slow")) {
        int rc = grove_sleep(GROVE_MS(200));
        if (rc < 0)
            return rc;
        return grove_http_respond(req, 200, NULL, "slow", 4);
    }
    if (!strcmp(p, "/forever")) {
        int rc = grove_sleep(GROVE_SEC(30));
        return rc < 0 ? rc : grove_http_respond(req, 200, NULL, "late", 4);
    }
    if (!strcmp(p, "/noread"))
        return grove_http_respond(req, 401, "text/plain", "no", 2);
    if (!strcmp(p, "/file")) {
        int fd = open(g_file, O_RDONLY);
        T_OK(fd);
        int rc = grove_http_sendfile(req, 200, "application/octet-stream", fd, 2, 10000);
        close(fd);
        return rc;
    }
    if (!strcmp(p, "/upgrade")) {
        if (grove_http_req_content_length(req) == 0) {
            grove_stream *s = grove_http_take_stream(req);
            T_ASSERT(s);
            T_ASSERT(grove_http_take_stream(req) == s);
            T_EQ(grove_http_respond(req, 200, NULL, "x", 1), -EALREADY);
            const char *h = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
            T_OK(grove_stream_write(s, h, strlen(h)));
            T_OK(grove_stream_flush(s));
            char in[10];
            T_EQ(grove_stream_read_exact(s, in, 10), 10); /* sent with the head, and after */
            T_OK(grove_stream_write(s, in, 10));
            return grove_stream_flush(s);
        }
        errno = 0;
        T_ASSERT(grove_http_take_stream(req) == NULL); /* body not read */
        T_EQ(errno, EINVAL);
        return grove_http_respond(req, 400, NULL, "body", 4);
    }
    return grove_http_respond(req, 404, NULL, "nf", 2);
}

static t_srv g_s;

static void start_default(void)
{
    grove_http_server_opts o = {.handler = app};
    t_srv_start(&g_s, &o);
}

static char g_out[1 << 17];

static void test_basic(void)
{
    start_default();
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    int closed;
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 200 OK\r\n", 17));
    T_ASSERT(strstr(g_out, "\r\nServer: grove\r\n"));
    T_ASSERT(strstr(g_out, "\r\nDate: "));
    T_ASSERT(strstr(g_out, " GMT\r\n"));
    T_ASSERT(strstr(g_out, "\r\nContent-Length: 13\r\n"));
    T_ASSERT(strstr(g_out, "\r\nContent-Type: text/plain\r\n"));
    T_ASSERT(!strstr(g_out, "Connection:"));
    T_ASSERT(strstr(g_out, "\r\n\r\nHello, World!"));
    T_ASSERT(!closed); /* keep-alive */
}

/* Keep-alive with pauses between requests: the connection waits idle (without its read
 * buffer) and wakes for each next request. */
static void test_keepalive_pauses(void)
{
    int fd = grove_connect(g_s.addr);
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 4; i++) {
        T_OK(grove_sendall(fd, req, sizeof req - 1));
        char buf[512];
        size_t n = 0;
        buf[0] = 0;
        int64_t t0 = grove_now();
        while (!strstr(buf, "Hello, World!")) {
            ssize_t r = grove_recv(fd, buf + n, sizeof buf - 1 - n, 0);
            T_GT(r, 0);
            n += (size_t)r;
            buf[n] = 0;
        }
        T_LT(grove_now() - t0, GROVE_MS(500)); /* generous: the machine may be loaded */
        grove_sleep(GROVE_MS(30 * i));
    }
    grove_close(fd);
}

/* A head bigger than the connection's first buffer (4 KiB), arriving in pieces, then a
 * pipelined request: the buffer grows without moving the head under the parser. */
static void test_big_head(void)
{
    static char req[16384];
    size_t n = (size_t)snprintf(req, sizeof req, "GET /info HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(req + n, sizeof req - n, "X-Pad-%d: %0400d\r\n", i, i);
    n += (size_t)snprintf(req + n, sizeof req - n, "X-A: last\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    int fd = grove_connect(g_s.addr);
    for (size_t off = 0; off < n; off += 1000) {
        T_OK(grove_sendall(fd, req + off, n - off < 1000 ? n - off : 1000));
        grove_sleep(GROVE_MS(2));
    }
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(300), NULL);
    grove_close(fd);
    T_ASSERT(strstr(g_out, "\r\n\r\nGET|/info|/info||last|1|"));
    T_ASSERT(strstr(g_out, "Hello, World!"));
}

static void test_request_accessors(void)
{
    const char req[] = "PUT /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: x\r\nX-A:  first \r\nx-a: second\r\n"
                       "Content-Length: 0\r\n\r\n";
    const char req2[] = "GET /info HTTP/1.1\r\nHost: x\r\nX-A:  first \r\nx-a: second\r\n\r\n";
    (void)req;
    t_exchange(&g_s, req2, sizeof req2 - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "\r\n\r\nGET|/info|/info||first|1|127.0.0.1"));
    T_ASSERT(strstr(g_out, "\r\nX-Reply: yes\r\n"));
    const char req3[] = "DELETE /info?x=1&y=2 HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req3, sizeof req3 - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "\r\n\r\nDELETE|/info?x=1&y=2|/info|x=1&y=2|-|1|"));
}

static void test_pipelining(void)
{
    const char req[] = "GET /info?1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                       "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /info?4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       "GET /info?5 HTTP/1.1\r\nHost: x\r\n\r\n";
    int closed;
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, &closed);
    T_EQ(t_count(g_out, "HTTP/1.1 200 OK"), 4);
    char *a = strstr(g_out, "GET|/info?1|"), *b = strstr(g_out, "len=5 body=hello"), *c = strstr(g_out, "slow"),
         *d = strstr(g_out, "GET|/info?4");
    if (!(a && b && c && d && a < b && b < c && c < d))
        T_FAIL("order: %s", g_out);      /* in order */
    T_ASSERT(!strstr(g_out, "/info?5")); /* after Connection: close */
    T_ASSERT(strstr(g_out, "Connection: close"));
    T_ASSERT(closed);
}

/* Fair I/O: a client that pipelines requests without end never waits for its data, so
 * its connection thread would serve it forever; the cooperative budget (grove_io_budget)
 * makes it yield, and a normal client on the same hub keeps getting prompt answers. */
static atomic_int g_flood_stop;
static int g_flood_fd;

static void *flood_send(void *arg) /* a plain pthread: blocking sends, no hub */
{
    (void)arg;
    static char batch[200 * 32];
    static const char one[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = 0;
    while (n + sizeof one - 1 <= sizeof batch) {
        memcpy(batch + n, one, sizeof one - 1);
        n += sizeof one - 1;
    }
    while (!atomic_load(&g_flood_stop))
        if (send(g_flood_fd, batch, n, MSG_NOSIGNAL) < 0)
            break;
    return NULL;
}

static atomic_int g_flood_recv_done;

static void *flood_recv(void *arg)
{
    long *total = arg;
    static char sink[1 << 16];
    ssize_t r;
    while ((r = recv(g_flood_fd, sink, sizeof sink, 0)) > 0)
        *total += r;
    atomic_store(&g_flood_recv_done, 1);
    return NULL;
}

static void test_pipelining_flood_is_fair(void)
{
    t_srv fs;
    grove_http_server_opts o = {.handler = app};
    t_srv_start(&fs, &o);
    g_flood_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fs.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_OK(connect(g_flood_fd, (struct sockaddr *)&sa, sizeof sa));
    long got = 0;
    pthread_t ws, wr;
    atomic_store(&g_flood_stop, 0);
    atomic_store(&g_flood_recv_done, 0);
    T_EQ(pthread_create(&wr, NULL, flood_recv, &got), 0);
    T_EQ(pthread_create(&ws, NULL, flood_send, NULL), 0);
    usleep(50000); /* the flood is under way */
    int fd = grove_connect(fs.addr);
    T_OK(fd);
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    int64_t worst = 0, t_end = grove_now() + GROVE_MS(400);
    int done = 0;
    while (grove_now() < t_end) {
        int64_t t0 = grove_now();
        T_GE(grove_sendall(fd, req, sizeof req - 1), 0);
        char buf[512];
        size_t n = 0;
        buf[0] = 0;
        while (!strstr(buf, "Hello, World!")) {
            ssize_t r = grove_recv(fd, buf + n, sizeof buf - 1 - n, 0);
            T_GT(r, 0);
            n += (size_t)r;
            buf[n] = 0;
        }
        int64_t took = grove_now() - t0;
        if (took > worst)
            worst = took;
        done++;
    }
    /* The server (on this hub) must keep running while the flood ends: wait greenly. */
    atomic_store(&g_flood_stop, 1);
    shutdown(g_flood_fd, SHUT_RDWR);
    for (int i = 0; i < 1000 && !atomic_load(&g_flood_recv_done); i++)
        grove_sleep(GROVE_MS(10));
    T_ASSERT(atomic_load(&g_flood_recv_done));
    pthread_join(ws, NULL);
    pthread_join(wr, NULL);
    close(g_flood_fd);
    grove_close(fd);
    fprintf(stderr, "flood: %ld bytes of answers; the other client: %d requests, worst %.1f ms\n", got, done,
            (double)worst / 1e6);
    T_GT(got, 100000); /* the flood was served */
    T_GE(done, 20);    /* and so was the other client, again and again (before: 0-8 answers) */
    T_EQ(t_srv_stop(&fs, GROVE_SEC(1)), 0);
}

static void test_chunked_request(void)
{
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: trailer-value\r\n\r\n"
                       "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "len=11 body=hello world trailer=trailer-value"));
    T_ASSERT(strstr(g_out, "Hello, World!"));
    /* Byte by byte: the same result. */
    int fd = grove_connect(g_s.addr);
    for (size_t i = 0; i < sizeof req - 1; i++)
        T_EQ(grove_send(fd, req + i, 1, 0), 1);
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(300), NULL);
    grove_close(fd);
    T_ASSERT(strstr(g_out, "len=11 body=hello world trailer=trailer-value"));
    T_ASSERT(strstr(g_out, "Hello, World!"));
}

static void test_chunked_and_streamed_responses(void)
{
    const char req[] = "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "\r\nTransfer-Encoding: chunked\r\n"));
    T_ASSERT(strstr(g_out, "\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\nX-Sum: 4\r\n\r\n"));
    const char req2[] = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    int closed;
    t_exchange(&g_s, req2, sizeof req2 - 1, g_out, sizeof g_out, &closed);
    T_ASSERT(strstr(g_out, "Content-Length: 6\r\n"));
    T_ASSERT(strstr(g_out, "\r\n\r\nabcdef"));
    T_ASSERT(!closed);
    /* HTTP/1.0 cannot take chunks: the body ends when the connection closes. */
    const char req3[] = "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    t_exchange(&g_s, req3, sizeof req3 - 1, g_out, sizeof g_out, &closed);
    T_ASSERT(!strstr(g_out, "Transfer-Encoding"));
    T_ASSERT(strstr(g_out, "Connection: close\r\n"));
    T_ASSERT(strstr(g_out, "\r\n\r\nabcd"));
    T_ASSERT(closed);
    /* A response shorter than announced closes the connection. */
    const char req4[] = "GET /short HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req4, sizeof req4 - 1, g_out, sizeof g_out, &closed);
    T_ASSERT(closed);
    T_ASSERT(!strstr(g_out, "Hello"));
}

static void test_head(void)
{
    const char req[] = "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nHEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "Content-Length: 13\r\n"));
    T_EQ(t_count(g_out, "Hello, World!"), 1); /* only the GET has a body */
    T_ASSERT(strstr(g_out, "Transfer-Encoding: chunked\r\n"));
    T_ASSERT(!strstr(g_out, "2\r\nab"));
    T_EQ(t_count(g_out, "HTTP/1.1 200"), 3);
}

static void test_http10(void)
{
    int closed;
    const char req[] = "GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n";
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, &closed);
    T_EQ(t_count(g_out, "Hello, World!"), 1);
    T_ASSERT(strstr(g_out, "Connection: close\r\n"));
    T_ASSERT(closed);
    const char req2[] = "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                        "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    t_exchange(&g_s, req2, sizeof req2 - 1, g_out, sizeof g_out, &closed);
    T_EQ(t_count(g_out, "Hello, World!"), 2);
    T_EQ(t_count(g_out, "Connection: keep-alive\r\n"), 2);
    T_ASSERT(!closed);
}

static void test_expect_continue(void)
{
    /* The handler reads: 100 Continue comes first, only then does the client send. */
    int fd = grove_connect(g_s.addr);
    const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    T_OK(grove_sendall(fd, head, sizeof head - 1));
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(300), NULL);
    T_STREQ(g_out, "HTTP/1.1 100 Continue\r\n\r\n");
    T_OK(grove_sendall(fd, "data", 4));
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(300), NULL);
    T_ASSERT(strstr(g_out, "len=4 body=data"));
    grove_close(fd);
    /* The handler answers without reading: no 100, and the connection closes, so a body
     * the client sends anyway is never parsed as a request. */
    fd = grove_connect(g_s.addr);
    const char head2[] = "POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\nExpect: 100-continue\r\n\r\n";
    T_OK(grove_sendall(fd, head2, sizeof head2 - 1));
    int closed;
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(300), &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 401", 12));
    T_ASSERT(!strstr(g_out, "100 Continue"));
    T_ASSERT(strstr(g_out, "Connection: close\r\n"));
    T_ASSERT(closed);
    grove_close(fd);
    /* Without Expect, an unread body is drained and the connection kept. */
    const char req[] =
        "POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, &closed);
    T_ASSERT(strstr(g_out, "Hello, World!"));
    T_ASSERT(!closed);
}

static void test_handler_failure(void)
{
    int closed;
    const char req[] = "GET /fail HTTP/1.1\r\nHost: x\r\n\r\nGET /none HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, &closed);
    T_EQ(t_count(g_out, "HTTP/1.1 500 Internal Server Error"), 2);
    T_ASSERT(strstr(g_out, "Hello, World!")); /* the server and even the connection go on */
}

static void test_sendfile(void)
{
    snprintf(g_file, sizeof g_file, "/tmp/grove-http-file-%d", (int)getpid());
    int fd = open(g_file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    char data[10002];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    T_EQ(write(fd, data, sizeof data), (long long)sizeof data);
    close(fd);
    const char req[] = "GET /file HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = t_exchange(&g_s, req, sizeof req - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "Content-Length: 10000\r\n"));
    char *body = strstr(g_out, "\r\n\r\n") + 4;
    T_EQ(n - (size_t)(body - g_out), 10000);
    T_ASSERT(!memcmp(body, data + 2, 10000));
    unlink(g_file);
}

static void test_take_stream(void)
{
    int fd = grove_connect(g_s.addr);
    const char req[] = "GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n01234";
    T_OK(grove_sendall(fd, req, sizeof req - 1));
    grove_sleep(GROVE_MS(50));
    T_OK(grove_sendall(fd, "56789", 5));
    int closed;
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(500), &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 101 Switching Protocols\r\n", 34));
    T_ASSERT(strstr(g_out, "\r\n\r\n0123456789"));
    T_ASSERT(!strstr(g_out, "HTTP/1.1 200"));
    T_ASSERT(closed);
    grove_close(fd);
    const char req2[] = "POST /upgrade HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab";
    t_exchange(&g_s, req2, sizeof req2 - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 400", 12));
}

static void test_curl(void)
{
    char url[128];
    snprintf(url, sizeof url, "http://%s/echo", g_s.addr);
    char *out;
    /* curl uploads stdin chunked, then a second request on the same connection. */
    char *argv[] = {"curl", "-sS",    "--max-time", "10", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
                    url,    "--next", "-sS",        url,  NULL};
    T_EQ(t_run_prog(argv, "from curl", 9, &out), 0);
    T_ASSERT(strstr(out, "len=9 body=from curl trailer=-"));
    T_ASSERT(strstr(out, "len=0 body= trailer=-"));
    free(out);
    /* Expect: 100-continue, as curl sends for big uploads. */
    static char big[200000];
    memset(big, 'z', sizeof big);
    char *argv2[] = {"curl", "-sS", "--max-time", "10", "-H", "Expect: 100-continue", "--data-binary", "@-", url, NULL};
    T_EQ(t_run_prog(argv2, big, sizeof big, &out), 0);
    T_ASSERT(strstr(out, "len=200000 body=zzz"));
    free(out);
}

static void test_wrk(void)
{
    char url[128];
    snprintf(url, sizeof url, "http://%s/hello", g_s.addr);
    char *out;
    char *argv[] = {"wrk", "-t1", "-c20", "-d1s", url, NULL};
    T_EQ(t_run_prog(argv, NULL, 0, &out), 0);
    T_ASSERT(strstr(out, "Requests/sec"));
    T_ASSERT(!strstr(out, "Non-2xx"));
    T_ASSERT(!strstr(out, "Socket errors"));
    free(out);
}

static void test_stop_default(void) { T_EQ(t_srv_stop(&g_s, GROVE_SEC(1)), 0); }

/* ---- limits and timeouts ------------------------------------------------------------------ */

static void test_limits(void)
{
    grove_http_server_opts o = {.handler = app,
                                .limits = {.max_request_line = 100,
                                           .max_header_line = 100,
                                           .max_header_bytes = 400,
                                           .max_headers = 5,
                                           .max_body = 10,
                                           .max_chunk_ext = 8}};
    t_srv s;
    t_srv_start(&s, &o);
    char req[2048];
    int closed;
    struct {
        const char *what;
        int status;
    } cases[6];
    (void)cases;
    /* request line */
    snprintf(req, sizeof req, "GET /%0150d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 414 URI Too Long", 25));
    T_ASSERT(closed);
    /* a request line that never ends is cut at the limit, not buffered */
    int fd = grove_connect(s.addr);
    memset(req, 'a', sizeof req);
    memcpy(req, "GET /", 5);
    T_OK(grove_sendall(fd, req, 1000));
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(300), &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 414", 12));
    T_ASSERT(closed);
    grove_close(fd);
    /* one header line */
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Long: %0120d\r\n\r\n", 0);
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 431", 12));
    T_ASSERT(closed);
    /* number of headers */
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n");
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 431", 12));
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n");
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 200", 12)); /* exactly at the limit */
    /* all headers */
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nA: %090d\r\nB: %090d\r\nC: %090d\r\nD: %090d\r\n\r\n",
             0, 0, 0, 0);
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 431", 12));
    /* body: declared, and chunked */
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890");
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 413", 12));
    T_ASSERT(closed);
    snprintf(req, sizeof req,
             "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n");
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 413", 12));
    T_ASSERT(closed);
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(strstr(g_out, "len=10 body=0123456789"));
    /* chunk extensions */
    snprintf(req, sizeof req,
             "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "1;aaaaa=bbbbbb\r\n0\r\n0\r\n\r\n");
    t_exchange(&s, req, strlen(req), g_out, sizeof g_out, &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 400", 12));
    T_ASSERT(closed);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
}

static void test_timeouts(void)
{
    grove_http_server_opts o = {.handler = app,
                                .limits = {.header_timeout = GROVE_MS(300), .idle_timeout = GROVE_MS(200)}};
    t_srv s;
    t_srv_start(&s, &o);
    int closed;
    /* slowloris: a head that never completes gets 408 and the connection closes */
    int64_t t0 = grove_now();
    int fd = grove_connect(s.addr);
    T_OK(grove_sendall(fd, "GET /hello HTTP/1.1\r\n", 21));
    for (int i = 0; i < 10; i++) {
        if (grove_send(fd, "X", 1, 0) < 0)
            break;
        grove_sleep(GROVE_MS(50));
    }
    t_read_all(fd, g_out, sizeof g_out, GROVE_SEC(2), &closed);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 408", 12));
    T_ASSERT(closed);
    T_LT(grove_now() - t0, GROVE_MS(1500));
    grove_close(fd);
    /* an idle keep-alive connection is closed after idle_timeout */
    fd = grove_connect(s.addr);
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    T_OK(grove_sendall(fd, req, sizeof req - 1));
    t0 = grove_now();
    t_read_all(fd, g_out, sizeof g_out, GROVE_SEC(2), &closed);
    T_ASSERT(strstr(g_out, "Hello, World!"));
    T_ASSERT(closed);
    T_GE(grove_now() - t0, GROVE_MS(150));
    T_LT(grove_now() - t0, GROVE_MS(1500));
    grove_close(fd);
    T_EQ(grove_http_server_connections(s.srv), 0);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
}

/* A thousand slow clients (heads trickling in) never delay a normal one. */
static void test_slow_clients(void)
{
    t_raise_nofile();
    grove_http_server_opts o = {.handler = app};
    t_srv s;
    t_srv_start(&s, &o);
    enum { N = 1000 };
    static int fds[N];
    int n = 0;
    for (; n < N; n++) {
        fds[n] = grove_connect(s.addr);
        T_OK(fds[n]);
        T_OK(grove_sendall(fds[n], "GET /hello HTTP/1.1\r\nHo", 23));
    }
    grove_sleep(GROVE_MS(50));
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int64_t worst = 0;
    for (int i = 0; i < 20; i++) {
        int64_t t0 = grove_now();
        t_exchange(&s, req, sizeof req - 1, g_out, sizeof g_out, NULL);
        T_ASSERT(strstr(g_out, "Hello, World!"));
        if (grove_now() - t0 > worst)
            worst = grove_now() - t0;
    }
    T_GE(grove_http_server_connections(s.srv), N); /* all slow ones still open */
    T_LT(worst, GROVE_MS(300));
    for (int i = 0; i < n; i++)
        grove_close(fds[i]);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
}

/* ---- graceful stop ------------------------------------------------------------------------- */

static void *slow_client(void *arg)
{
    t_srv *s = arg;
    static char out[4096];
    const char req[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    int closed;
    t_exchange(s, req, sizeof req - 1, out, sizeof out, &closed);
    return (void *)(intptr_t)(strstr(out, "\r\n\r\nslow") && strstr(out, "Connection: close") && closed);
}

static void test_graceful_stop(void)
{
    grove_http_server_opts o = {.handler = app};
    t_srv s;
    t_srv_start(&s, &o);
    /* an idle keep-alive connection, a request in flight, and one that will not finish */
    int idle = grove_connect(s.addr);
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    T_OK(grove_sendall(idle, req, sizeof req - 1));
    t_read_all(idle, g_out, sizeof g_out, GROVE_MS(100), NULL);
    T_ASSERT(strstr(g_out, "Hello"));
    grove_thread *t = grove_spawn(slow_client, &s);
    int stuck = grove_connect(s.addr);
    const char req2[] = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
    T_OK(grove_sendall(stuck, req2, sizeof req2 - 1));
    grove_sleep(GROVE_MS(50));
    T_EQ(grove_http_server_connections(s.srv), 3);
    int64_t t0 = grove_now();
    int killed = t_srv_stop(&s, GROVE_MS(600));
    T_EQ(killed, 1); /* /forever */
    T_GE(grove_now() - t0, GROVE_MS(550));
    T_LT(grove_now() - t0, GROVE_MS(2000));
    void *ok;
    T_OK(grove_join(t, &ok));
    T_ASSERT(ok); /* the request in flight finished */
    int closed;
    t_read_all(idle, g_out, sizeof g_out, GROVE_MS(100), &closed);
    T_ASSERT(closed);
    t_read_all(stuck, g_out, sizeof g_out, GROVE_MS(100), &closed);
    T_ASSERT(closed);
    grove_close(idle);
    grove_close(stuck);
    /* new connections are refused once the listener is closed */
    T_ASSERT(grove_connect(s.addr) < 0);
}

/* ---- router and access log ------------------------------------------------------------------- */

static int h_named(grove_http_req *req, void *arg) { return grove_http_respond(req, 200, NULL, arg, strlen(arg)); }

static void test_router_and_log(void)
{
    grove_http_router *r = grove_http_router_new();
    T_OK(grove_http_route(r, "GET", "/users", h_named, "users"));
    T_OK(grove_http_route(r, "POST", "/users", h_named, "create"));
    T_OK(grove_http_route(r, NULL, "/static/*", h_named, "static"));
    T_EQ(grove_http_route(r, "GET", "nope", h_named, NULL), -EINVAL);
    char logpath[64];
    snprintf(logpath, sizeof logpath, "/tmp/grove-http-log-%d", (int)getpid());
    unlink(logpath);
    grove_http_server_opts o = {.handler = grove_http_router_handler,
                                .arg = r,
                                .access_log = logpath,
                                .access_log_format = GROVE_HTTP_LOG_COMBINED};
    t_srv s;
    t_srv_start(&s, &o);
    const char req[] = "GET /users HTTP/1.1\r\nHost: x\r\nUser-Agent: test \"agent\"\r\nReferer: http://r/\r\n\r\n"
                       "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                       "PUT /users HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                       "GET /static/a/b.css HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&s, req, sizeof req - 1, g_out, sizeof g_out, NULL);
    char *a = strstr(g_out, "\r\n\r\nusers"), *b = strstr(g_out, "\r\n\r\ncreate"),
         *c = strstr(g_out, "405 Method Not Allowed\r\n"), *d = strstr(g_out, "\r\n\r\nstatic"),
         *e = strstr(g_out, "HTTP/1.1 404");
    T_ASSERT(a && b && c && d && e && a < b && b < c && c < d && d < e);
    T_ASSERT(strstr(g_out, "Allow: GET, HEAD, POST\r\n")); /* HEAD goes where GET does */
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
    grove_http_router_free(r);
    FILE *f = fopen(logpath, "r");
    T_ASSERT(f);
    char line[512];
    int lines = 0;
    T_ASSERT(fgets(line, sizeof line, f));
    lines++;
    T_ASSERT(!strncmp(line, "127.0.0.1 - - [", 15));
    T_ASSERT(strstr(line, "] \"GET /users HTTP/1.1\" 200 5 \"http://r/\" \"test \\x22agent\\x22\"\n"));
    while (fgets(line, sizeof line, f))
        lines++;
    T_ASSERT(strstr(line, "\"GET /nowhere HTTP/1.1\" 404 "));
    T_EQ(lines, 5);
    fclose(f);
    unlink(logpath);
}

static int count_in(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* grove_http_server_reopen_log: after a rename, lines go to a fresh file at the path; a
 * path that cannot be opened is an error and the old file stays in use. */
static void test_log_reopen(void)
{
    char dir[64], path[96], old[104];
    snprintf(dir, sizeof dir, "/tmp/grove-http-rot-XXXXXX");
    T_ASSERT(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/access.log", dir);
    snprintf(old, sizeof old, "%s.1", path);
    grove_http_server_opts o = {.handler = h_named, .arg = "x", .access_log = path};
    t_srv s;
    t_srv_start(&s, &o);
    const char r1[] = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
    const char r2[] = "GET /two HTTP/1.1\r\nHost: x\r\n\r\n";
    const char r3[] = "GET /three HTTP/1.1\r\nHost: x\r\n\r\n";
    t_exchange(&s, r1, sizeof r1 - 1, g_out, sizeof g_out, NULL);
    grove_sleep(GROVE_MS(300)); /* written out */
    T_OK(rename(path, old));
    T_OK(grove_http_server_reopen_log(s.srv));
    grove_sleep(GROVE_MS(300)); /* the writer switched */
    t_exchange(&s, r2, sizeof r2 - 1, g_out, sizeof g_out, NULL);
    grove_sleep(GROVE_MS(300));
    T_EQ(count_in(old, "/one"), 1);
    T_EQ(count_in(path, "/two"), 1);
    T_EQ(count_in(old, "/two"), 0);
    /* The path is now a directory: the reopen fails and the current file keeps the lines. */
    char moved[112];
    snprintf(moved, sizeof moved, "%s.2", path);
    T_OK(rename(path, moved));
    T_OK(mkdir(path, 0755));
    T_EQ(grove_http_server_reopen_log(s.srv), -EISDIR);
    t_exchange(&s, r3, sizeof r3 - 1, g_out, sizeof g_out, NULL);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0); /* flushes */
    T_EQ(count_in(moved, "/three"), 1);
    /* No file of its own: nothing to do. */
    grove_http_server_opts o2 = {.handler = h_named, .arg = "x", .access_log = "-"};
    t_srv_start(&s, &o2);
    T_EQ(grove_http_server_reopen_log(s.srv), 0);
    T_EQ(grove_http_server_reopen_log(NULL), -EINVAL);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ(system(cmd), 0);
}

/* ---- HTTPS ----------------------------------------------------------------------------------- */

static void test_https_with_curl(void)
{
    if (!t_tls_built())
        return; /* a build without TLS: its ENOTSUP was checked */
    char dir[64], cmd[1024];
    snprintf(dir, sizeof dir, "/tmp/grove-http-tls-%d", (int)getpid());
    t_self_signed(dir);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    grove_tls_opts to = {.cert_file = cert, .key_file = key};
    grove_tls_ctx *ctx = grove_tls_server_ctx(&to);
    T_ASSERT(ctx);
    grove_http_server_opts o = {.handler = app, .tls = ctx};
    t_srv s;
    t_srv_start(&s, &o);
    char url[128], resolve[64];
    snprintf(url, sizeof url, "https://localhost:%d/echo", s.port);
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", s.port);
    char *out;
    char *cargv[] = {"curl",      "-sS",   "--max-time",    "10",    "--cacert", cert,
                     "--resolve", resolve, "--data-binary", "@-",    url,        "--next",
                     "--cacert",  cert,    "--resolve",     resolve, url,        NULL};
    T_EQ(t_run_prog(cargv, "secret", 6, &out), 0);
    T_ASSERT(strstr(out, "len=6 body=secret"));
    T_ASSERT(strstr(out, "len=0 body="));
    free(out);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
    grove_tls_ctx_free(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ(system(cmd), 0);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        T_CASE(test_basic),
        T_CASE(test_keepalive_pauses),
        T_CASE(test_big_head),
        T_CASE(test_request_accessors),
        T_CASE(test_pipelining),
        T_CASE(test_pipelining_flood_is_fair),
        T_CASE(test_chunked_request),
        T_CASE(test_chunked_and_streamed_responses),
        T_CASE(test_head),
        T_CASE(test_http10),
        T_CASE(test_expect_continue),
        T_CASE(test_handler_failure),
        T_CASE(test_sendfile),
        T_CASE(test_take_stream),
        T_CASE(test_curl),
        T_CASE(test_wrk),
        T_CASE(test_stop_default),
        T_CASE(test_limits),
        T_CASE(test_timeouts),
        T_CASE(test_slow_clients),
        T_CASE(test_graceful_stop),
        T_CASE(test_router_and_log),
        T_CASE(test_log_reopen),
        T_CASE(test_https_with_curl),
        {NULL, NULL},
    };
    return t_run(cases, argc, argv);
}
