// ctest: labels=unit,net,portable timeout=120 libs=grove_http
/* Request smuggling and malformed requests against the server. The categories are those of
 * gunicorn's invalid-request corpus and of the CVEs that hit eventlet.wsgi
 * (CVE-2025-58068), gevent.pywsgi (CVE-2023-41419), gunicorn (CVE-2024-1135,
 * CVE-2024-6827) and Node's llhttp (CVE-2024-27982), written here as our own cases.
 * Each bad request is followed on the same connection by a well-formed request for
 * /smuggled: the server must answer the bad one with the expected 4xx/5xx, close the
 * connection, and never run a handler for /smuggled. Every case is sent whole and again
 * one byte per write, so no split point changes the verdict. */
#include "http-util.h"

static int g_smuggled, g_handled;

static int app(grove_http_req *req, void *arg)
{
    (void)arg;
    g_handled++;
    if (strstr(grove_http_req_target(req), "smuggled")) {
        g_smuggled++;
        return grove_http_respond(req, 200, NULL, "SMUGGLED", 8);
    }
    const void *body;
    ssize_t n = grove_http_req_body(req, &body);
    if (n < 0)
        return (int)n;
    char out[64];
    int l = snprintf(out, sizeof out, "len=%zd", n);
    return grove_http_respond(req, 200, NULL, out, (size_t)l);
}

#define P "POST /x HTTP/1.1\r\nHost: h\r\n"
#define SMUGGLE "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"

typedef struct bad {
    const char *req;
    size_t len;   /* the literals may hold NULs */
    int status;   /* the status the bad request gets */
    int first_ok; /* a 200 comes first (the bad part is a following "request") */
} bad;

#define B(s, st, f)                                                                                                    \
    {                                                                                                                  \
        s, sizeof(s) - 1, st, f                                                                                        \
    }
static const bad cases[] = {
    /* Content-Length and Transfer-Encoding together, both orders */
    B(P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0),
    /* duplicate or malformed Content-Length */
    B(P "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, 0),
    B(P "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, 0),
    B(P "Content-Length: +5\r\n\r\nhello", 400, 0),
    B(P "Content-Length: -1\r\n\r\nhello", 400, 0),
    B(P "Content-Length: 0x5\r\n\r\nhello", 400, 0),
    B(P "Content-Length: 5, 6\r\n\r\nhello!", 400, 0),
    B(P "Content-Length: 5,5\r\n\r\nhello", 400, 0),
    B(P "Content-Length:\r\n\r\nhello", 400, 0),
    B(P "Content-Length: 5 5\r\n\r\nhello", 400, 0),
    B(P "Content-Length: 5a\r\n\r\nhello", 400, 0),
    B(P "Content-Length: 99999999999999999999999\r\n\r\nhello", 400, 0),
    B(P "Content-Length: \xd9\xa5\r\n\r\nhello", 400, 0), /* a non-ASCII digit */
    /* unknown, stacked or malformed transfer codings */
    B(P "Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 501, 0),
    B(P "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n", 501, 0),
    B(P "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, 0),
    B(P "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, 0),
    B(P "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding:\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding:\x0b"
        "chunked\r\n\r\n0\r\n\r\n",
      400, 0),
    /* Transfer-Encoding on HTTP/1.0: faulty framing */
    B("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0),
    /* a header that only looks like Transfer-Encoding: the body is then the next
     * "request", which is malformed */
    B(P "Transfer_Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 1),
    /* malformed chunk sizes */
    B(P "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n6_0\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5;a=b\nhello\r\n0\r\n\r\n", 400, 0),
    /* chunk data not followed by CRLF */
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, 0),
    /* the last chunk and the trailer section */
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r"
        "X",
      400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: a\nY: b\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: a\r\n folded\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: a\0b\r\n\r\n", 400, 0),
    B(P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX : a\r\n\r\n", 400, 0),
    /* NUL, CR and other controls in header values; spaces in names; obs-fold */
    B(P "X: a\0b\r\nContent-Length: 0\r\n\r\n", 400, 0),
    B(P "X: a\rb\r\nContent-Length: 0\r\n\r\n", 400, 0),
    B(P "X: a\x01"
        "b\r\nContent-Length: 0\r\n\r\n",
      400, 0),
    B(P "X: a\x7f"
        "b\r\nContent-Length: 0\r\n\r\n",
      400, 0),
    B(P "Content Length: 5\r\n\r\nhello", 400, 0),
    B(P "Content-Length : 5\r\n\r\nhello", 400, 0),
    B(P "Content-Length\t: 5\r\n\r\nhello", 400, 0),
    B(P "X: a\r\n b\r\nContent-Length: 0\r\n\r\n", 400, 0),
    B(P "X: a\r\n\tb\r\nContent-Length: 0\r\n\r\n", 400, 0),
    B("POST /x HTTP/1.1\r\n Content-Length: 5\r\nHost: h\r\n\r\nhello", 400, 0), /* CVE-2024-27982 */
    B(P "Content-Length: 0\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0),
    B(P ": empty-name\r\n\r\n", 400, 0),
    B(P "X\r\n\r\n", 400, 0),
    /* bare CR / LF where CRLF is required */
    B("POST /x HTTP/1.1\nHost: h\r\nContent-Length: 0\r\n\r\n", 400, 0),
    B("POST /x HTTP/1.1\r\nHost: h\nContent-Length: 0\r\n\r\n", 400, 0),
    B("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\n", 400, 0),
    B("POST /x HTTP/1.1\rHost: h\r\nContent-Length: 0\r\n\r\n", 400, 0),
    B("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\n\n", 400, 0),
    /* versions other than 1.0 and 1.1, and malformed ones */
    B("GET /x HTTP/1.2\r\nHost: h\r\n\r\n", 505, 0),
    B("GET /x HTTP/2.0\r\nHost: h\r\n\r\n", 505, 0),
    B("GET /x HTTP/0.9\r\nHost: h\r\n\r\n", 505, 0),
    B("GET /x HTTP/1.1x\r\nHost: h\r\n\r\n", 400, 0),
    B("GET /x HTTPS/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET /x http/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET /x HTTP/11\r\nHost: h\r\n\r\n", 400, 0),
    /* request lines */
    B("GET  /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET /x  HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET\t/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B(" GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET /x y HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("G@T /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GE[T /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0), /* not a token */
    B("get /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),  /* a token, but lower-case: mangled */
    B("GET /x\0 HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    /* up to four empty lines before a request line are skipped (RFC 9112 2.2); more, or LF */
    B("\r\n\r\n\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("\r\n\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    /* request targets that do not suit the method, or are no valid target (RFC 9112 3.2) */
    B("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET /x#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET http://?x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    B("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, 0),
    /* the HTTP/2 preface on an HTTP/1.1 server: answered at once, not at the timeout */
    B("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, 0),
    /* Host: required once in HTTP/1.1, and a valid uri-host[:port] (RFC 9112 3.2) */
    B("GET /x HTTP/1.1\r\n\r\n", 400, 0),
    B("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 0),
    B("GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", 400, 0),
    B("GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, 0),
    B("GET /x HTTP/1.1\r\nHost: u@h\r\n\r\n", 400, 0),
    B("GET /x HTTP/1.0\r\nHost: a\"b\r\n\r\n", 400, 0),
    /* "close" wins over an HTTP/1.0 "keep-alive" (RFC 9112 9.3) */
    B("GET /x HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0, 1),
    B("GET /x HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", 0, 1),
    /* expectations other than 100-continue */
    B(P "Expect: 101-dance\r\nContent-Length: 0\r\n\r\n", 417, 0),
    /* a body shorter than announced, then a request inside it */
    B(P "Content-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1),
    {NULL, 0, 0, 0},
};

static t_srv g_s;

static void run_case(const bad *b, size_t idx, int bytewise)
{
    char req[1024];
    size_t n = 0;
    n = b->len;
    memcpy(req, b->req, n);
    memcpy(req + n, SMUGGLE, sizeof SMUGGLE - 1);
    n += sizeof SMUGGLE - 1;
    int fd = grove_connect(g_s.addr);
    T_OK(fd);
    if (bytewise) {
        for (size_t i = 0; i < n; i++)
            if (grove_send(fd, req + i, 1, 0) < 0)
                break; /* the server may close early */
    } else {
        grove_sendall(fd, req, n);
    }
    static char out[8192];
    int closed;
    t_read_all(fd, out, sizeof out, GROVE_SEC(3), &closed);
    grove_close(fd);
    char want[32];
    if (b->status)
        snprintf(want, sizeof want, "HTTP/1.1 %d ", b->status);
    const char *first = strstr(out, "HTTP/1.1 ");
    if (!first)
        T_FAIL("case %zu (%s): no response", idx, bytewise ? "bytewise" : "whole");
    if (b->first_ok) {
        if (strncmp(first, "HTTP/1.1 200 ", 13))
            T_FAIL("case %zu: expected a 200 first, got: %s", idx, out);
        first = strstr(first + 1, "HTTP/1.1 ");
    }
    if (b->status && (!first || strncmp(first, want, strlen(want))))
        T_FAIL("case %zu (%s): expected %s, got: %s", idx, bytewise ? "bytewise" : "whole", want, out);
    if (b->status && !strstr(first, "Connection: close\r\n"))
        T_FAIL("case %zu: no Connection: close: %s", idx, out);
    if (!closed)
        T_FAIL("case %zu (%s): connection left open: %s", idx, bytewise ? "bytewise" : "whole", out);
    if (g_smuggled)
        T_FAIL("case %zu (%s): /smuggled was served: %s", idx, bytewise ? "bytewise" : "whole", out);
}

static void test_start(void)
{
    grove_http_server_opts o = {.handler = app};
    t_srv_start(&g_s, &o);
}

static void test_control(void)
{
    /* The same smuggling probe after good requests is served: the harness can see it. */
    const char req[] = P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n" SMUGGLE;
    static char out[8192];
    int closed;
    t_exchange(&g_s, req, sizeof req - 1, out, sizeof out, &closed);
    T_ASSERT(strstr(out, "len=5"));
    T_ASSERT(strstr(out, "SMUGGLED"));
    T_EQ(g_smuggled, 1);
    g_smuggled = 0;
}

static void test_whole(void)
{
    for (size_t i = 0; cases[i].req; i++)
        run_case(&cases[i], i, 0);
    T_EQ(g_smuggled, 0);
}

static void test_bytewise(void)
{
    for (size_t i = 0; cases[i].req; i++)
        run_case(&cases[i], i, 1);
    T_EQ(g_smuggled, 0);
}

static void test_stop(void) { T_EQ(t_srv_stop(&g_s, GROVE_SEC(1)), 0); }

int main(int argc, char **argv)
{
    static const t_case tc[] = {
        T_CASE(test_start),    T_CASE(test_control), T_CASE(test_whole),
        T_CASE(test_bytewise), T_CASE(test_stop),    {NULL, NULL},
    };
    return t_run(tc, argc, argv);
}
