// ctest: labels=unit,net,portable timeout=120 libs=grove_http
/* The HTTP client against RFC 9110/9112 and against what mature clients (curl, Python
 * requests/urllib3) do, with raw scripted servers on loopback: interim 1xx responses,
 * responses without content (HEAD, 204, 304), bodies delimited by the connection's end,
 * HTTP/1.0, chunked bodies with extensions and trailers, truncated bodies, redirects
 * (methods, bodies, relative references, the limit, credentials across origins), the
 * retry of idempotent requests on a stale pooled connection, unread bodies, the Host
 * header, IPv6 literals and userinfo, and the framing checks on responses. */
#include "http-util.h"

#include <strings.h>

/* ---- a scripted raw server ---------------------------------------------------------------- */

/* What the server does for one request: send resp (NULL: close without answering), then
 * close the connection if close is set. */
typedef struct step {
    const char *resp;
    int close;
} step;

#define RAW_MAXREQ 16

typedef struct raw {
    int lfd, port;
    const step *steps;
    int nsteps, next;
    char req[RAW_MAXREQ][2048]; /* the requests as received (head and body) */
    int nreq, conns, stop;
    grove_thread *t;
    char buf[8192];
    char base[128]; /* "http://127.0.0.1:port" */
} raw;

/* Reads one request (head, then a Content-Length or chunked body) into out. Returns its
 * length, 0 if the connection ended before a byte, -1 on a partial request. */
static int raw_read_req(int fd, char *buf, size_t *have, char *out, size_t cap)
{
    for (;;) {
        buf[*have] = 0;
        char *e = strstr(buf, "\r\n\r\n");
        if (e) {
            size_t need = (size_t)(e + 4 - buf);
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < e)
                need += (size_t)atol(cl + 17);
            int chunked = strcasestr(buf, "\r\nTransfer-Encoding: chunked") != NULL;
            char *end = chunked ? strstr(e + 4, "0\r\n\r\n") : NULL;
            if (chunked && end)
                need = (size_t)(end + 5 - buf);
            if ((!chunked || end) && *have >= need) {
                size_t l = need < cap - 1 ? need : cap - 1;
                memcpy(out, buf, l);
                out[l] = 0;
                memmove(buf, buf + need, *have - need);
                *have -= need;
                return (int)l;
            }
        }
        if (*have >= 8191)
            return -1;
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(2));
        ssize_t r = grove_recv(fd, buf + *have, 8191 - *have, 0);
        grove_timeout_end(&to);
        if (r <= 0)
            return *have ? -1 : 0;
        *have += (size_t)r;
    }
}

static void *raw_main(void *arg)
{
    raw *s = arg;
    char *buf = s->buf;
    for (;;) {
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(5));
        int fd = grove_accept(s->lfd, NULL, NULL);
        grove_timeout_end(&to);
        if (fd < 0)
            return NULL;
        if (s->stop) {
            grove_close(fd);
            return NULL;
        }
        s->conns++;
        size_t have = 0;
        for (;;) {
            char *slot = s->req[s->nreq < RAW_MAXREQ ? s->nreq : RAW_MAXREQ - 1];
            int n = raw_read_req(fd, buf, &have, slot, sizeof s->req[0]);
            if (n <= 0 || s->next >= s->nsteps)
                break;
            s->nreq++;
            const step *st = &s->steps[s->next++];
            if (!st->resp)
                break;
            grove_sendall(fd, st->resp, strlen(st->resp));
            if (st->close || s->next == s->nsteps) {
                grove_shutdown(fd, SHUT_WR);
                if (st->close)
                    break;
            }
        }
        grove_close(fd);
    }
    return NULL;
}

static void raw_start_at(raw *s, const char *addr, const step *steps, int n)
{
    memset(s, 0, sizeof *s);
    s->lfd = grove_listen(addr, 16);
    T_OK(s->lfd);
    s->port = grove_sock_port(s->lfd);
    s->steps = steps;
    s->nsteps = n;
    if (addr[0] == '[')
        snprintf(s->base, sizeof s->base, "http://[::1]:%d", s->port);
    else
        snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    s->t = grove_spawn(raw_main, s);
    T_ASSERT(s->t);
}

static void raw_start(raw *s, const step *steps, int n) { raw_start_at(s, "127.0.0.1:0", steps, n); }

static void raw_stop(raw *s)
{
    s->stop = 1;
    char addr[64];
    snprintf(addr, sizeof addr, "%s", s->base + 7);
    int fd = grove_connect(addr); /* ends a waiting accept */
    T_OK(grove_join(s->t, NULL));
    if (fd >= 0)
        grove_close(fd);
    grove_close(s->lfd);
}

#define NSTEPS(a) ((int)(sizeof(a) / sizeof(a)[0]))

static char g_url[512];
static const char *U(const raw *s, const char *path)
{
    snprintf(g_url, sizeof g_url, "%s%s", s->base, path);
    return g_url;
}

/* Sends rq (bounded by 2 s); on success reads the whole body into body (if not NULL) and
 * returns the status; else the error. The response is closed. */
static int fetch(grove_http_client *c, const grove_http_request *rq, char *body, size_t cap)
{
    grove_http_resp *r;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(2));
    int rc = grove_http_client_send(c, rq, &r);
    if (rc == 0) {
        const void *b;
        ssize_t n = grove_http_resp_body(r, &b);
        if (n >= 0 && body)
            snprintf(body, cap, "%s", (const char *)b);
        rc = n < 0 ? (int)n : grove_http_resp_status(r);
        grove_http_resp_close(r);
    }
    grove_timeout_end(&to);
    return rc;
}

static int get(grove_http_client *c, const char *url, char *body, size_t cap)
{
    grove_http_request rq = {.url = url};
    return fetch(c, &rq, body, cap);
}

/* ---- interim responses -------------------------------------------------------------------- */

static void test_interim_1xx(void)
{
    static const step steps[] = {
        {"HTTP/1.1 100 Continue\r\n\r\n"
         "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
         "HTTP/1.1 102 Processing\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: 1\r\n\r\nok",
         0},
        /* a 1xx ends with its head, even with a Content-Length (RFC 9112 6.3) */
        {"HTTP/1.1 103 Early Hints\r\nLink: </a.js>\r\nContent-Length: 3\r\n\r\n"
         "HTTP/1.1 204 No Content\r\n\r\n",
         0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    grove_http_resp *r;
    T_OK(grove_http_get(c, U(&s, "/"), &r));
    T_EQ(grove_http_resp_status(r), 200);
    T_STREQ(grove_http_resp_header(r, "X-Final"), "1");
    T_ASSERT(grove_http_resp_header(r, "Link") == NULL); /* the interim's headers are gone */
    const void *b;
    T_EQ(grove_http_resp_body(r, &b), 2);
    T_STREQ(b, "ok");
    grove_http_resp_close(r);
    char body[64];
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 204);
    T_EQ(s.conns, 1); /* the same connection */
    grove_http_client_free(c);
    raw_stop(&s);
}

/* 101 is the answer to an Upgrade request only (RFC 9110 15.2.2); unasked, it is a
 * protocol error, not a final response with an empty body. */
static void test_unasked_101(void)
{
    static const step steps[] = {
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\nxxxx", 1},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n", 1},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    T_EQ(get(c, U(&s, "/"), NULL, 0), -EPROTO);
    const char *hdrs[] = {"Connection", "upgrade", "Upgrade", "foo", NULL};
    grove_http_request rq = {.url = U(&s, "/"), .headers = hdrs};
    T_EQ(fetch(c, &rq, NULL, 0), 101);
    T_EQ(grove_http_client_idle(c), 0); /* the connection is another protocol's now */
    grove_http_client_free(c);
    raw_stop(&s);
}

/* ---- responses without content ------------------------------------------------------------ */

static void test_no_content(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 50\r\n\r\n", 0},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"x\"\r\n\r\n", 0},
        {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    char body[64];
    grove_http_request head = {.method = "HEAD", .url = U(&s, "/")};
    T_EQ(fetch(c, &head, body, sizeof body), 200);
    T_STREQ(body, "");
    T_EQ(fetch(c, &head, body, sizeof body), 200);
    T_STREQ(body, "");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 204);
    T_STREQ(body, "");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 304);
    T_STREQ(body, "");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 304);
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "last");
    T_EQ(s.conns, 1); /* every one of them left the connection reusable */
    grove_http_client_free(c);
    raw_stop(&s);
}

/* ---- bodies delimited by the end of the connection, HTTP/1.0 ------------------------------ */

static void test_close_delimited(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200 OK\r\n\r\nto the end", 1},
        {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\none", 0},
        {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\ntwo", 0},
        {"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nthree", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfour", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfive", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    char body[64];
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "to the end");
    T_EQ(grove_http_client_idle(c), 0);
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200); /* HTTP/1.0: closed after */
    T_STREQ(body, "one");
    T_EQ(grove_http_client_idle(c), 0);
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200); /* HTTP/1.0 keep-alive: kept */
    T_STREQ(body, "two");
    T_EQ(grove_http_client_idle(c), 1);
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "three");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "four");
    T_EQ(grove_http_client_idle(c), 0);
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "five");
    T_EQ(s.conns, 4);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* A request that said "Connection: close" is the last on its connection (RFC 9112 9.6),
 * whatever the server answers. */
static void test_request_close(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    const char *hdrs[] = {"Connection", "Close", NULL};
    grove_http_request rq = {.url = U(&s, "/"), .headers = hdrs};
    T_EQ(fetch(c, &rq, NULL, 0), 200);
    T_EQ(grove_http_client_idle(c), 0);
    T_EQ(get(c, U(&s, "/"), NULL, 0), 200);
    T_EQ(s.conns, 2);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* ---- chunked bodies ------------------------------------------------------------------------ */

/* Extensions as llhttp 8.1.0 takes them: it refuses some that RFC 9112 7.1.1 allows
 * (whitespace around ';' and '=', an extension after a token value, a quoted-pair). */
static void test_chunked(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
         "3;flag;name=value\r\nabc\r\n"
         "A;q=\"quoted;x\";y\r\n0123456789\r\n"
         "0;last\r\nX-Sum: 13\r\nX-Other: two words \r\n\r\n",
         0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    grove_http_resp *r;
    T_OK(grove_http_get(c, U(&s, "/"), &r));
    const void *b;
    T_EQ(grove_http_resp_body(r, &b), 13);
    T_STREQ(b, "abc0123456789");
    T_STREQ(grove_http_resp_trailer(r, "x-sum"), "13");
    T_STREQ(grove_http_resp_trailer(r, "X-Other"), "two words");
    grove_http_resp_close(r);
    char body[16];
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "z");
    T_EQ(s.conns, 1);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* The server closing early is an error, never a short success. */
static void test_truncated(void)
{
    static const char *const cases[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n",
        "HTTP/1.1 200 OK\r\nContent-Len",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        step st[] = {{cases[i], 1}};
        raw s;
        raw_start(&s, st, 1);
        grove_http_client *c = grove_http_client_new(NULL);
        int rc = get(c, U(&s, "/"), NULL, 0);
        if (rc >= 0)
            T_FAIL("case %zu: %d", i, rc);
        T_EQ(grove_http_client_idle(c), 0);
        grove_http_client_free(c);
        raw_stop(&s);
    }
}

/* ---- framing checks on responses ------------------------------------------------------------ */

static void test_response_smuggling(void)
{
    static const char *const cases[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2 3\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n Content-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nX\x01: y\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 020 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 0200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX: a\r\n b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* then a well-formed response that must never be read as the next one */
        char resp[512];
        snprintf(resp, sizeof resp, "%s", cases[i]);
        step st[] = {{resp, 0}, {"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", 0}};
        raw s;
        raw_start(&s, st, 2);
        grove_http_client *c = grove_http_client_new(NULL);
        int rc = get(c, U(&s, "/"), NULL, 0);
        if (rc != -EPROTO)
            T_FAIL("case %zu (%s): %d", i, cases[i], rc);
        T_EQ(grove_http_client_idle(c), 0);
        T_EQ(get(c, U(&s, "/"), NULL, 0), 200); /* a fresh connection */
        T_EQ(s.conns, 2);
        grove_http_client_free(c);
        raw_stop(&s);
    }
}

/* The reason phrase is optional, its space too (curl and Python's http.client agree). */
static void test_status_line(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\na", 0},
        {"HTTP/1.1 201 \r\nContent-Length: 1\r\n\r\nb", 0},
        {"HTTP/1.1 599 Whatever it says: \t fine\r\nContent-Length: 1\r\n\r\nc", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    char body[8];
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "a");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 201);
    T_STREQ(body, "b");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 599);
    T_STREQ(body, "c");
    T_EQ(s.conns, 1);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* ---- unread bodies -------------------------------------------------------------------------- */

static void test_unread_body(void)
{
    static char big[200000];
    int l = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 150000);
    memset(big + l, 'x', 150000);
    big[l + 150000] = 0;
    static const step small[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext", 0},
    };
    step steps[] = {{big, 0}, {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext", 0}};
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    grove_http_resp *r;
    T_OK(grove_http_get(c, U(&s, "/"), &r));
    char buf[100];
    T_EQ(grove_http_resp_read(r, buf, sizeof buf), 100);
    grove_http_resp_close(r); /* most of the body is still on the wire */
    T_EQ(grove_http_client_idle(c), 0);
    char body[16];
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "next");
    T_EQ(s.conns, 2);
    grove_http_client_free(c);
    raw_stop(&s);
    /* a small unread body already in the buffer: passed over, the connection reused */
    raw_start(&s, small, NSTEPS(small));
    c = grove_http_client_new(NULL);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(2));
    T_OK(grove_http_get(c, U(&s, "/"), &r));
    grove_timeout_end(&to);
    grove_http_resp_close(r);
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "next");
    T_EQ(s.conns, 1);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* Bytes after the end of a response (a server bug, or a smuggling attempt) are never
 * read as the next response. */
static void test_extra_bytes(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    char body[64];
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "ok");
    T_EQ(get(c, U(&s, "/"), body, sizeof body), 200);
    T_STREQ(body, "next");
    T_EQ(s.conns, 2);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* ---- stale pooled connections and retries ----------------------------------------------------- */

/* The server closes a kept-alive connection meanwhile (idle timeout): any method goes out
 * on a fresh connection, exactly once. */
static void test_stale_pooled(void)
{
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        static const step steps[] = {
            {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1}, /* no Connection: close */
            {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
        };
        raw s;
        raw_start(&s, steps, NSTEPS(steps));
        grove_http_client *c = grove_http_client_new(NULL);
        T_EQ(get(c, U(&s, "/"), NULL, 0), 200);
        T_EQ(grove_http_client_idle(c), 1);
        grove_sleep(GROVE_MS(50)); /* the FIN arrives */
        grove_http_request rq = {.method = methods[i], .url = U(&s, "/"), .body = "b", .body_len = 1};
        if (fetch(c, &rq, NULL, 0) != 200)
            T_FAIL("%s on a stale connection", methods[i]);
        T_EQ(s.nreq, 2);
        T_EQ(s.conns, 2);
        grove_http_client_free(c);
        raw_stop(&s);
    }
}

/* A reused connection that dies after the request went out but before any response byte:
 * an idempotent request is retried once on a new connection; a POST is not (RFC 9110
 * 9.2.2: the server may have acted on it). */
static void test_retry_idempotent_only(void)
{
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        static const step steps[] = {
            {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
            {NULL, 1}, /* reads the request, closes without answering */
            {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
        };
        raw s;
        raw_start(&s, steps, NSTEPS(steps));
        grove_http_client *c = grove_http_client_new(NULL);
        T_EQ(get(c, U(&s, "/"), NULL, 0), 200);
        grove_http_request rq = {.method = methods[i], .url = U(&s, "/"), .body = "b", .body_len = 1};
        int rc = fetch(c, &rq, NULL, 0);
        int idempotent = i < 5;
        if (idempotent ? rc != 200 : rc != -ECONNRESET)
            T_FAIL("%s: %d", methods[i], rc);
        T_EQ(s.nreq, idempotent ? 3 : 2);
        grove_http_client_free(c);
        raw_stop(&s);
    }
    /* a fresh connection is never retried: the error is the server's */
    static const step once[] = {{NULL, 1}, {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0}};
    raw s;
    raw_start(&s, once, NSTEPS(once));
    grove_http_client *c = grove_http_client_new(NULL);
    T_EQ(get(c, U(&s, "/"), NULL, 0), -ECONNRESET);
    T_EQ(s.nreq, 1);
    T_EQ(get(c, U(&s, "/"), NULL, 0), 200);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* ---- redirects ------------------------------------------------------------------------------- */

/* The request line and the headers the server saw (the start of request i). */
static const char *req_of(const raw *s, int i) { return s->req[i]; }

static void test_redirect_methods(void)
{
    /* code, method in, method out, body kept */
    static const struct {
        int code;
        const char *in, *out;
        int body;
    } cases[] = {
        {301, "POST", "GET", 0},      {302, "POST", "GET", 0},  {303, "POST", "GET", 0}, {303, "PUT", "GET", 0},
        {303, "DELETE", "GET", 0},    {303, "HEAD", "HEAD", 0}, {301, "PUT", "PUT", 1},  {302, "PATCH", "PATCH", 1},
        {307, "POST", "POST", 1},     {308, "POST", "POST", 1}, {307, "PUT", "PUT", 1},  {301, "HEAD", "HEAD", 0},
        {308, "DELETE", "DELETE", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char r0[256];
        snprintf(r0, sizeof r0, "HTTP/1.1 %d X\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n", cases[i].code);
        step steps[] = {{r0, 0}, {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0}};
        raw s;
        raw_start(&s, steps, NSTEPS(steps));
        grove_http_client_opts o = {.max_redirects = 5};
        grove_http_client *c = grove_http_client_new(&o);
        const char *hdrs[] = {"Content-Type", "text/plain", "Content-Language", "en", "X-Keep", "1", NULL};
        int with_body = strcmp(cases[i].in, "HEAD") != 0;
        grove_http_request rq = {.method = cases[i].in,
                                 .url = U(&s, "/first"),
                                 .headers = hdrs,
                                 .body = with_body ? "payload" : NULL,
                                 .body_len = with_body ? 7 : 0};
        T_EQ(fetch(c, &rq, NULL, 0), 200);
        T_EQ(s.nreq, 2);
        const char *q = req_of(&s, 1);
        char line[64];
        snprintf(line, sizeof line, "%s /next HTTP/1.1\r\n", cases[i].out);
        if (strncmp(q, line, strlen(line)))
            T_FAIL("case %zu: %s", i, q);
        T_ASSERT(strcasestr(q, "\r\nX-Keep: 1\r\n"));
        if (cases[i].body) {
            T_ASSERT(strstr(q, "\r\n\r\npayload"));
            T_ASSERT(strcasestr(q, "\r\nContent-Type: text/plain\r\n"));
        } else {
            T_ASSERT(!strstr(q, "payload"));
        }
        if (strcmp(cases[i].in, cases[i].out)) {
            /* content-specific fields go with the content (RFC 9110 15.4) */
            if (strcasestr(q, "Content-"))
                T_FAIL("case %zu: content fields kept: %s", i, q);
        }
        grove_http_client_free(c);
        raw_stop(&s);
    }
}

/* A body from a callback cannot be sent twice: a 307/308 is returned as it is; a redirect
 * that drops the body (303) is followed. */
static ssize_t once_cb(void *arg, void *buf, size_t n)
{
    int *left = arg;
    if (!*left || n < 3)
        return 0;
    (*left)--;
    memcpy(buf, "abc", 3);
    return 3;
}

static void test_redirect_callback_body(void)
{
    static const step steps[] = {
        {"HTTP/1.1 307 X\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 303 X\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client_opts o = {.max_redirects = 5};
    grove_http_client *c = grove_http_client_new(&o);
    int left = 1;
    grove_http_request rq = {
        .method = "POST", .url = U(&s, "/"), .body_cb = once_cb, .body_cb_arg = &left, .body_cb_len = 3};
    T_EQ(fetch(c, &rq, NULL, 0), 307);
    left = 1;
    T_EQ(fetch(c, &rq, NULL, 0), 200);
    T_EQ(s.nreq, 3);
    T_ASSERT(!strncmp(req_of(&s, 2), "GET /other HTTP/1.1\r\n", 21));
    grove_http_client_free(c);
    raw_stop(&s);
}

/* Location references resolved against the request's URL (RFC 3986 5.2, its examples in
 * 5.4 with the base "http://a/b/c/d;p?q"). */
static void test_redirect_relative(void)
{
    static const struct {
        const char *loc, *target;
    } cases[] = {
        {"g", "/b/c/g"},
        {"./g", "/b/c/g"},
        {"g/", "/b/c/g/"},
        {"/g", "/g"},
        {"?y", "/b/c/d;p?y"},
        {"g?y", "/b/c/g?y"},
        {"#s", "/b/c/d;p?q"},
        {"g#s", "/b/c/g"},
        {"g?y#s", "/b/c/g?y"},
        {";x", "/b/c/;x"},
        {"g;x", "/b/c/g;x"},
        {"", "/b/c/d;p?q"},
        {".", "/b/c/"},
        {"./", "/b/c/"},
        {"..", "/b/"},
        {"../", "/b/"},
        {"../g", "/b/g"},
        {"../..", "/"},
        {"../../", "/"},
        {"../../g", "/g"},
        {"../../../g", "/g"},
        {"../../../../g", "/g"},
        {"/./g", "/g"},
        {"/../g", "/g"},
        {"g.", "/b/c/g."},
        {".g", "/b/c/.g"},
        {"g..", "/b/c/g.."},
        {"..g", "/b/c/..g"},
        {"./../g", "/b/g"},
        {"./g/.", "/b/c/g/"},
        {"g/./h", "/b/c/g/h"},
        {"g/../h", "/b/c/h"},
        {"g;x=1/./y", "/b/c/g;x=1/y"},
        {"g;x=1/../y", "/b/c/y"},
        {"g?y/./x", "/b/c/g?y/./x"},
        {"g?y/../x", "/b/c/g?y/../x"},
        {"g#s/./x", "/b/c/g"},
        {"g#s/../x", "/b/c/g"},
        {"/a/./b/../c?x/../y", "/a/c?x/../y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char r0[256];
        snprintf(r0, sizeof r0, "HTTP/1.1 302 X\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n", cases[i].loc);
        step steps[] = {{r0, 0}, {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0}};
        raw s;
        raw_start(&s, steps, NSTEPS(steps));
        grove_http_client_opts o = {.max_redirects = 1};
        grove_http_client *c = grove_http_client_new(&o);
        grove_http_resp *r;
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(2));
        T_OK(grove_http_get(c, U(&s, "/b/c/d;p?q"), &r));
        grove_timeout_end(&to);
        char want[256];
        snprintf(want, sizeof want, "GET %s HTTP/1.1\r\n", cases[i].target);
        if (s.nreq != 2 || strncmp(req_of(&s, 1), want, strlen(want)))
            T_FAIL("case %zu (%s): sent %.60s", i, cases[i].loc, req_of(&s, 1));
        snprintf(want, sizeof want, "%s%s", s.base, cases[i].target);
        T_STREQ(grove_http_resp_url(r), want);
        grove_http_resp_close(r);
        grove_http_client_free(c);
        raw_stop(&s);
    }
}

/* A Location with another scheme is not fetched as a relative path, and one that would be
 * refused from the caller (userinfo, a broken authority) is refused from the server. */
static void test_redirect_other_scheme(void)
{
    static const char *const locs[] = {
        "ftp://example.org/x", "javascript:alert(1)", "file:///etc/passwd", "http://u:p@127.0.0.1:1/x",
        "//evil@127.0.0.1:1/", "http://[::1/",        "http:relative",      "https:/x"};
    for (size_t i = 0; i < sizeof locs / sizeof locs[0]; i++) {
        char r0[256];
        snprintf(r0, sizeof r0, "HTTP/1.1 302 X\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n", locs[i]);
        step steps[] = {{r0, 0}, {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0}};
        raw s;
        raw_start(&s, steps, NSTEPS(steps));
        grove_http_client_opts o = {.max_redirects = 1};
        grove_http_client *c = grove_http_client_new(&o);
        int rc = get(c, U(&s, "/"), NULL, 0);
        if (rc != -EPROTO)
            T_FAIL("%s: %d", locs[i], rc);
        T_EQ(s.nreq, 1);
        grove_http_client_free(c);
        raw_stop(&s);
    }
}

static void test_redirect_limit(void)
{
    static const step steps[] = {
        {"HTTP/1.1 302 X\r\nLocation: /1\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 302 X\r\nLocation: /2\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 302 X\r\nLocation: /1\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 302 X\r\nLocation: /2\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 302 X\r\nLocation: /3\r\nContent-Length: 0\r\n\r\n", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client_opts o = {.max_redirects = 2};
    grove_http_client *c = grove_http_client_new(&o);
    T_EQ(get(c, U(&s, "/"), NULL, 0), 200); /* exactly two hops */
    T_EQ(get(c, U(&s, "/"), NULL, 0), -ELOOP);
    T_EQ(s.nreq, 6);
    T_EQ(s.conns, 1);
    grove_http_client_free(c);
    raw_stop(&s);
}

/* Credentials stay with the origin they were given for (CVE-2018-18074 in requests,
 * CVE-2018-1000007 and CVE-2022-27776 in curl, CVE-2023-32681 for Proxy-Authorization):
 * a redirect to another host, port or scheme drops Authorization, Cookie and
 * Proxy-Authorization; one on the same origin keeps them. */
static void test_redirect_credentials(void)
{
    static const step b_steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
    };
    raw b, b6;
    raw_start(&b, b_steps, NSTEPS(b_steps));
    char r0[256], r1[256], r2[256];
    snprintf(r0, sizeof r0, "HTTP/1.1 302 X\r\nLocation: /same\r\nContent-Length: 0\r\n\r\n");
    snprintf(r1, sizeof r1, "HTTP/1.1 307 X\r\nLocation: http://127.0.0.1:%d/other-port\r\nContent-Length: 0\r\n\r\n",
             b.port);
    step a_steps[] = {{r0, 0}, {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0}, {r1, 0}, {r2, 0}};
    raw a;
    raw_start(&a, a_steps, NSTEPS(a_steps));
    /* another host, the same port: [::1] where a listens on 127.0.0.1 */
    char a6[64];
    snprintf(a6, sizeof a6, "[::1]:%d", a.port);
    raw_start_at(&b6, a6, b_steps, 1);
    snprintf(r2, sizeof r2, "HTTP/1.1 301 X\r\nLocation: //[::1]:%d/other-host\r\nContent-Length: 0\r\n\r\n", a.port);
    grove_http_client_opts o = {.max_redirects = 3};
    grove_http_client *c = grove_http_client_new(&o);
    const char *hdrs[] = {"Authorization", "Basic dTpw", "Cookie", "s=1", "Proxy-Authorization",
                          "Basic eDp5",    "X-Other",    "kept",   NULL};
    grove_http_request rq = {.url = U(&a, "/"), .headers = hdrs};
    T_EQ(fetch(c, &rq, NULL, 0), 200);
    T_ASSERT(strstr(req_of(&a, 1), "GET /same HTTP/1.1\r\n") == req_of(&a, 1));
    T_ASSERT(strstr(req_of(&a, 1), "\r\nAuthorization: Basic dTpw\r\n"));
    T_ASSERT(strstr(req_of(&a, 1), "\r\nCookie: s=1\r\n"));
    rq.url = U(&a, "/");
    T_EQ(fetch(c, &rq, NULL, 0), 200);
    T_ASSERT(strstr(req_of(&b, 0), "GET /other-port HTTP/1.1\r\n") == req_of(&b, 0));
    T_ASSERT(strstr(req_of(&b, 0), "\r\nX-Other: kept\r\n"));
    if (strcasestr(req_of(&b, 0), "Authorization") || strcasestr(req_of(&b, 0), "Cookie"))
        T_FAIL("credentials sent to another port: %s", req_of(&b, 0));
    rq.url = U(&a, "/");
    T_EQ(fetch(c, &rq, NULL, 0), 200);
    T_ASSERT(strstr(req_of(&b6, 0), "GET /other-host HTTP/1.1\r\n") == req_of(&b6, 0));
    T_ASSERT(strstr(req_of(&b6, 0), "\r\nX-Other: kept\r\n"));
    if (strcasestr(req_of(&b6, 0), "Authorization") || strcasestr(req_of(&b6, 0), "Cookie"))
        T_FAIL("credentials sent to another host: %s", req_of(&b6, 0));
    grove_http_client_free(c);
    raw_stop(&a);
    raw_stop(&b);
    raw_stop(&b6);
}

/* ---- URLs and the Host header ---------------------------------------------------------------- */

static void test_host_and_urls(void)
{
    static const step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
    };
    raw s;
    raw_start(&s, steps, NSTEPS(steps));
    grove_http_client *c = grove_http_client_new(NULL);
    T_EQ(get(c, U(&s, "/p?q=1#frag"), NULL, 0), 200);
    char want[128];
    snprintf(want, sizeof want, "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", s.port);
    T_ASSERT(!strncmp(req_of(&s, 0), want, strlen(want)));
    T_EQ(get(c, U(&s, "?only"), NULL, 0), 200); /* an empty path is "/" */
    T_ASSERT(!strncmp(req_of(&s, 1), "GET /?only HTTP/1.1\r\n", 21));
    char url[128];
    snprintf(url, sizeof url, "HTTP://127.0.0.1:%d", s.port); /* the scheme is case-insensitive */
    T_EQ(get(c, url, NULL, 0), 200);
    T_ASSERT(!strncmp(req_of(&s, 2), "GET / HTTP/1.1\r\n", 16));
    T_EQ(s.conns, 1);
    grove_http_client_free(c);
    raw_stop(&s);
    /* IPv6 literal: the brackets stay in Host */
    raw_start_at(&s, "[::1]:0", steps, 1);
    c = grove_http_client_new(NULL);
    T_EQ(get(c, U(&s, "/six"), NULL, 0), 200);
    snprintf(want, sizeof want, "GET /six HTTP/1.1\r\nHost: [::1]:%d\r\n", s.port);
    T_ASSERT(!strncmp(req_of(&s, 0), want, strlen(want)));
    grove_http_client_free(c);
    raw_stop(&s);
    /* userinfo is refused (RFC 9110 4.2.4: likely phishing) before any I/O */
    c = grove_http_client_new(NULL);
    grove_http_resp *r;
    T_EQ(grove_http_get(c, "http://user:pw@127.0.0.1:1/", &r), -EINVAL);
    T_EQ(grove_http_get(c, "http://good.example@127.0.0.1:1/", &r), -EINVAL);
    T_EQ(grove_http_get(c, "http://[::1/", &r), -EINVAL);
    T_EQ(grove_http_get(c, "http://[::1]x/", &r), -EINVAL);
    grove_http_client_free(c);
}

/* ---- https ---------------------------------------------------------------------------------- */

static int tls_app(grove_http_req *req, void *arg)
{
    const char *down = arg;
    if (!strcmp(grove_http_req_path(req), "/down")) {
        T_OK(grove_http_add_header(req, "Location", down));
        return grove_http_respond(req, 302, NULL, NULL, 0);
    }
    const char *auth = grove_http_req_header(req, "Authorization");
    return grove_http_respond(req, 200, NULL, auth ? auth : "-", strlen(auth ? auth : "-"));
}

/* https to an IPv6 literal verifies the certificate's IP address (the brackets are the
 * URL's, not the name's); a redirect from https down to http is followed, as curl and
 * requests do, and the credentials stay behind (another origin). */
static void test_https_ipv6_and_downgrade(void)
{
    if (!t_tls_built())
        return;
    char dir[64], cmd[1024];
    snprintf(dir, sizeof dir, "/tmp/grove-httpc-rfc-%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p %1$s; cd %1$s; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:::1 -keyout key.pem "
             "-out cert.pem 2>/dev/null",
             dir);
    T_EQ(system(cmd), 0);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    grove_tls_opts so = {.cert_file = cert, .key_file = key};
    grove_tls_ctx *sctx = grove_tls_server_ctx(&so);
    T_ASSERT(sctx);
    static const step plain[] = {{"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhttp", 0}};
    raw down;
    raw_start_at(&down, "[::1]:0", plain, 1);
    char downurl[160];
    snprintf(downurl, sizeof downurl, "%s/plain", down.base);
    grove_http_server_opts o = {.handler = tls_app, .arg = downurl, .tls = sctx};
    int lfd = grove_listen("[::1]:0", 16);
    T_OK(lfd);
    grove_http_server *srv = grove_http_server_start(lfd, &o);
    T_ASSERT(srv);
    grove_tls_opts co = {.ca_file = cert};
    grove_tls_ctx *cctx = grove_tls_client_ctx(&co);
    grove_http_client_opts copts = {.tls = cctx, .max_redirects = 2};
    grove_http_client *c = grove_http_client_new(&copts);
    char url[128], body[64];
    snprintf(url, sizeof url, "https://[::1]:%d/", grove_sock_port(lfd));
    const char *hdrs[] = {"Authorization", "Bearer t", NULL};
    grove_http_request rq = {.url = url, .headers = hdrs};
    T_EQ(fetch(c, &rq, body, sizeof body), 200);
    T_STREQ(body, "Bearer t");
    snprintf(url, sizeof url, "https://[::1]:%d/down", grove_sock_port(lfd));
    T_EQ(fetch(c, &rq, body, sizeof body), 200);
    T_STREQ(body, "http");
    T_ASSERT(!strncmp(req_of(&down, 0), "GET /plain HTTP/1.1\r\n", 21));
    if (strcasestr(req_of(&down, 0), "Authorization"))
        T_FAIL("credentials sent over http: %s", req_of(&down, 0));
    grove_http_client_free(c);
    grove_tls_ctx_free(cctx);
    T_EQ(grove_http_server_stop(srv, GROVE_SEC(1)), 0);
    grove_close(lfd);
    grove_tls_ctx_free(sctx);
    raw_stop(&down);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ(system(cmd), 0);
}

/* A server that answers a large upload early and stops reading (nginx's 413 for
* client_max_body_size, Grove's own max_body): the client returns that answer, as curl
* shows it, not the EPIPE or ECONNRESET of its cut-short write; the connection is not
* reused. */
static void *early_413_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    int fd = grove_accept(lfd, NULL, NULL);
    grove_timeout_end(&to);
    if (fd < 0)
        return NULL;
    char buf[4096];
    t_read_head(fd, buf, sizeof buf);
    const char resp[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!";
    grove_sendall(fd, resp, sizeof resp - 1);
    grove_sleep(GROVE_MS(50));
    grove_close(fd); /* with the body unread: the kernel resets the connection */
    return NULL;
}

static int h_body_len(grove_http_req *req, void *arg)
{
    (void)arg;
    const void *b;
    ssize_t n = grove_http_req_body(req, &b);
    char out[32];
    int k = snprintf(out, sizeof out, "%zd", n);
    return grove_http_respond(req, n < 0 ? 500 : 200, NULL, out, (size_t)k);
}

static void test_early_response_to_upload(void)
{
    size_t n = 16 << 20;
    char *big = malloc(n);
    T_ASSERT(big);
    memset(big, 'x', n);
    /* a raw server that resets */
    int lfd = grove_listen("127.0.0.1:0", 4);
    T_OK(lfd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/up", grove_sock_port(lfd));
    grove_thread *t = grove_spawn(early_413_main, (void *)(intptr_t)lfd);
    grove_http_client *c = grove_http_client_new(NULL);
    grove_http_request rq = {.method = "POST", .url = url, .body = big, .body_len = n};
    char body[64] = "";
    T_EQ(fetch(c, &rq, body, sizeof body), 413);
    T_STREQ(body, "big!");
    T_OK(grove_join(t, NULL));
    grove_close(lfd);
    /* Grove's own server with a 1 KiB body limit */
    grove_http_server_opts so = {.handler = h_body_len, .limits = {.max_body = 1024}};
    t_srv srv;
    t_srv_start(&srv, &so);
    char url2[96];
    snprintf(url2, sizeof url2, "http://%s/up", srv.addr);
    rq.url = url2;
    T_EQ(fetch(c, &rq, NULL, 0), 413);
    rq.body_len = 10; /* and the next request, on a new connection, is fine */
    T_EQ(fetch(c, &rq, body, sizeof body), 200);
    T_OK(t_srv_stop(&srv, GROVE_SEC(1)));
    grove_http_client_free(c);
    free(big);
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        T_CASE(test_interim_1xx),
        T_CASE(test_unasked_101),
        T_CASE(test_no_content),
        T_CASE(test_close_delimited),
        T_CASE(test_request_close),
        T_CASE(test_chunked),
        T_CASE(test_truncated),
        T_CASE(test_response_smuggling),
        T_CASE(test_status_line),
        T_CASE(test_unread_body),
        T_CASE(test_extra_bytes),
        T_CASE(test_stale_pooled),
        T_CASE(test_retry_idempotent_only),
        T_CASE(test_redirect_methods),
        T_CASE(test_redirect_callback_body),
        T_CASE(test_redirect_relative),
        T_CASE(test_redirect_other_scheme),
        T_CASE(test_redirect_limit),
        T_CASE(test_redirect_credentials),
        T_CASE(test_host_and_urls),
        T_CASE(test_https_ipv6_and_downgrade),
        T_CASE(test_early_response_to_upload),
        {NULL, NULL},
    };
    return t_run(cases, argc, argv);
}
