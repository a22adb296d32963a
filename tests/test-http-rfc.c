// ctest: labels=unit,net,portable timeout=120 libs=grove_http
/* The server against the MUST-level rules of RFC 9110 and RFC 9112 that are not about
 * framing (those are in test-http-smuggle.c): responses without content (204, 304, HEAD,
 * 2xx to CONNECT), the forms of the request target, Host, the Connection options, methods
 * llhttp does not know, the router's HEAD and Allow, Expect on HTTP/1.0, field values, and
 * the shape of error responses. Requests go out as raw bytes over loopback. */
#include "http-util.h"

static int app(grove_http_req *req, void *arg)
{
    (void)arg;
    const char *p = grove_http_req_path(req);
    char buf[1024];
    if (!strcmp(p, "/204"))
        return grove_http_respond(req, 204, "text/plain", "body!", 5);
    if (!strcmp(p, "/304"))
        return grove_http_respond(req, 304, "text/plain", "body!", 5);
    if (!strcmp(p, "/204s") || !strcmp(p, "/304s")) {
        T_OK(grove_http_start(req, p[1] == '2' ? 204 : 304, NULL, -1));
        T_EQ(grove_http_write(req, "body!", 5), 5); /* dropped */
        return grove_http_finish(req);
    }
    if (!strcmp(p, "/chunked")) {
        T_OK(grove_http_start(req, 200, "text/plain", -1));
        T_EQ(grove_http_write(req, "abcd", 4), 4);
        return grove_http_finish(req);
    }
    if (!strcmp(p, "/body")) {
        const void *b;
        ssize_t n = grove_http_req_body(req, &b);
        if (n < 0)
            return (int)n;
        int l = snprintf(buf, sizeof buf, "len=%zd", n);
        return grove_http_respond(req, 200, NULL, buf, (size_t)l);
    }
    if (!strcmp(grove_http_req_method(req), "CONNECT"))
        return grove_http_respond(req, 200, NULL, "tunnel", 6);
    /* everything else: what the server made of the request */
    const char *host = grove_http_req_header(req, "host"), *x = grove_http_req_header(req, "x");
    int l = snprintf(buf, sizeof buf, "[%s|%s|%s|%s|%s|%s]", grove_http_req_method(req), grove_http_req_target(req), p,
                     grove_http_req_query(req), host ? host : "-", x ? x : "-");
    if (l >= (int)sizeof buf)
        l = (int)sizeof buf - 1;
    return grove_http_respond(req, 200, "text/plain", buf, (size_t)l);
}

static t_srv g_s;
static char g_out[1 << 16];

static void test_start(void)
{
    grove_http_server_opts o = {.handler = app};
    t_srv_start(&g_s, &o);
}

/* Sends req on a fresh connection; returns whether the server closed it. */
static int ask(const char *req)
{
    int closed;
    t_exchange(&g_s, req, strlen(req), g_out, sizeof g_out, &closed);
    return closed;
}

/* The same, one byte per write. */
static int ask_bytewise(const char *req)
{
    int fd = grove_connect(g_s.addr);
    T_OK(fd);
    for (size_t i = 0; req[i]; i++)
        T_EQ(grove_send(fd, req + i, 1, 0), 1);
    int closed;
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(400), &closed);
    grove_close(fd);
    return closed;
}

/* The first response head of g_out (up to its blank line), as a string. */
static const char *first_head(void)
{
    static char h[4096];
    const char *e = strstr(g_out, "\r\n\r\n");
    size_t n = e ? (size_t)(e - g_out) + 4 : strlen(g_out);
    if (n >= sizeof h)
        n = sizeof h - 1;
    memcpy(h, g_out, n);
    h[n] = 0;
    return h;
}

#define NEXT "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
#define NEXT_ANSWER "\r\n\r\nHTTP/1.1 200 OK\r\n" /* a head, then at once the next response */

/* RFC 9110 8.6 and RFC 9112 6.1: a 204 never carries Content-Length or Transfer-Encoding,
 * nor (with 304, 6.3) a body; and such a response does not cost the connection. */
static void test_no_content(void)
{
    static const char *const paths[] = {"/204", "/304", "/204s", "/304s"};
    for (int i = 0; i < 4; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n" NEXT, paths[i]);
        T_ASSERT(!ask(req));
        T_ASSERT(!strncmp(g_out, paths[i][1] == '2' ? "HTTP/1.1 204 " : "HTTP/1.1 304 ", 13));
        T_ASSERT(!strstr(first_head(), "Content-Length"));
        T_ASSERT(!strstr(first_head(), "Transfer-Encoding"));
        T_ASSERT(!strstr(g_out, "body!"));
        T_ASSERT(strstr(g_out, NEXT_ANSWER));
        T_ASSERT(strstr(g_out, "[GET|/next|"));
        /* HTTP/1.0 with keep-alive: no body to delimit by closing, so the connection stays */
        snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", paths[i]);
        T_ASSERT(!ask(req));
        T_ASSERT(strstr(g_out, "\r\nConnection: keep-alive\r\n"));
        T_ASSERT(!strstr(g_out, "Content-Length") && !strstr(g_out, "Transfer-Encoding"));
    }
    /* RFC 9110 9.3.6: a 2xx to CONNECT has neither (the body is not sent either). */
    T_ASSERT(ask("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"));
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 200 OK\r\n", 17));
    T_ASSERT(!strstr(g_out, "Content-Length") && !strstr(g_out, "Transfer-Encoding"));
    T_ASSERT(!strstr(g_out, "tunnel"));
}

/* RFC 9110 9.3.2: HEAD gets the headers GET would (the body's length or chunked), no body;
 * error responses to HEAD too. */
static void test_head(void)
{
    T_ASSERT(!ask("HEAD /x?q HTTP/1.1\r\nHost: h\r\n\r\nHEAD /chunked HTTP/1.1\r\nHost: h\r\n\r\n" NEXT));
    T_ASSERT(strstr(g_out, "Content-Length: 20\r\n\r\nHTTP/1.1 200 OK\r\n")); /* [HEAD|/x?q|/x|q|h|-] */
    T_ASSERT(strstr(g_out, "Transfer-Encoding: chunked" NEXT_ANSWER));
    T_ASSERT(!strstr(g_out, "abcd"));
    T_ASSERT(strstr(g_out, "[GET|/next|"));
    static const char *const bad[] = {
        "HEAD /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", /* 501 */
        "HEAD /x HTTP/1.1\r\n\r\n",                                       /* 400, no Host */
        "HEAD /x HTTP/1.1\r\nHost: h\r\nExpect: 102-x\r\n\r\n",           /* 417 */
    };
    for (int i = 0; i < 3; i++) {
        T_ASSERT(ask(bad[i]));
        T_ASSERT(strstr(g_out, "\r\nContent-Length: "));
        T_ASSERT(strstr(g_out, "\r\nConnection: close\r\n"));
        size_t n = strlen(g_out);
        T_ASSERT(n > 4 && !strcmp(g_out + n - 4, "\r\n\r\n")); /* the head, and nothing after */
    }
}

/* RFC 9112 3.2.2: absolute-form must be accepted; its path and query are those after the
 * authority, whose host replaces the Host header (3.2.2, 7.2). */
static void test_absolute_form(void)
{
    T_ASSERT(!ask("GET http://example.org:8080/a/b?x=1&y HTTP/1.1\r\nHost: other\r\n\r\n"));
    T_ASSERT(strstr(g_out, "[GET|http://example.org:8080/a/b?x=1&y|/a/b|x=1&y|example.org:8080|-]"));
    T_ASSERT(!ask("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n")); /* scheme: case-insensitive */
    T_ASSERT(strstr(g_out, "[GET|HTTPS://h|/||h|-]"));           /* an empty path is "/" */
    T_ASSERT(!ask("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n"));
    T_ASSERT(strstr(g_out, "[GET|http://h?q|/|q|h|-]"));
    T_ASSERT(!ask("OPTIONS http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n")); /* RFC 9112 3.2.4 */
    T_ASSERT(strstr(g_out, "[OPTIONS|http://h:1|*||h:1|-]"));
    ask("GET http://[::1]:80/p HTTP/1.0\r\n\r\n"); /* no Host header at all */
    T_ASSERT(strstr(g_out, "[GET|http://[::1]:80/p|/p||[::1]:80|-]"));
    /* origin-form and asterisk-form as before; a keep-alive request after an
     * absolute-form one does not inherit its host */
    T_ASSERT(!ask("GET http://a/p HTTP/1.1\r\nHost: a\r\n\r\nGET /p?q HTTP/1.1\r\nHost: b\r\n\r\n"
                  "OPTIONS * HTTP/1.1\r\nHost: c\r\n\r\n"));
    T_ASSERT(strstr(g_out, "[GET|http://a/p|/p||a|-]"));
    T_ASSERT(strstr(g_out, "[GET|/p?q|/p|q|b|-]"));
    T_ASSERT(strstr(g_out, "[OPTIONS|*|*||c|-]"));
    /* The other forms and methods are refused in test-http-smuggle.c; here the answer's
     * shape: 400, Content-Length, Connection: close, closed. */
    T_ASSERT(ask("GET * HTTP/1.1\r\nHost: h\r\n\r\n" NEXT));
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 400 ", 13));
    T_ASSERT(strstr(g_out, "\r\nContent-Length: ") && strstr(g_out, "\r\nConnection: close\r\n"));
    T_ASSERT(!strstr(g_out, "/next"));
}

/* RFC 9112 3.2: a Host is uri-host [":" port]; empty is valid. */
static void test_host(void)
{
    static const char *const good[] = {"h", "", "a-b.c_d~e:8080", "127.0.0.1:1", "[::1]", "xn--e1a%20!$&'()*+,;="};
    for (int i = 0; i < 6; i++) {
        char req[256], want[128];
        snprintf(req, sizeof req, "GET /h HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
        T_ASSERT(!ask(req));
        snprintf(want, sizeof want, "|%s|-]", good[i]);
        T_ASSERT(strstr(g_out, want));
    }
}

/* RFC 9112 9.3 and 9.6: the "close" option ends the connection after the response,
 * whatever else the header says; HTTP/1.0 persists only with "keep-alive". Options are
 * tokens, case-insensitive, in one header or several. */
static void test_connection(void)
{
    struct {
        const char *hdrs;
        int minor, closes;
    } cases[] = {
        {"Connection: close\r\n", 1, 1},
        {"Connection: foo, close\r\n", 1, 1},
        {"Connection: CLOSE\r\n", 1, 1},
        {"Connection: foo\r\nConnection: close\r\n", 1, 1},
        {"Connection: closed\r\n", 1, 0},
        {"Connection: keep-alive\r\n", 1, 0},
        {"", 1, 0},
        {"", 0, 1},
        {"Connection: Keep-Alive\r\n", 0, 0},
        {"Connection: foo, keep-alive\r\n", 0, 0},
        {"Connection: keep-alive, close\r\n", 0, 1},
        {"Connection: close, keep-alive\r\n", 0, 1},
        {"Connection: keep-alive\r\nConnection: close\r\n", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET /a HTTP/1.%d\r\nHost: h\r\n%s\r\n" NEXT, cases[i].minor, cases[i].hdrs);
        int closed = ask(req);
        if (closed != cases[i].closes)
            T_FAIL("case %zu: closed=%d: %s", i, closed, g_out);
        if (cases[i].closes) {
            T_EQ(t_count(g_out, "HTTP/1.1 200"), 1);
            T_ASSERT(strstr(g_out, "\r\nConnection: close\r\n"));
        } else {
            T_EQ(t_count(g_out, "HTTP/1.1 200"), 2);
            T_ASSERT(!strstr(g_out, "Connection: close"));
            T_EQ(t_count(g_out, "Connection: keep-alive\r\n"), cases[i].minor == 0);
        }
    }
}

/* HTTP/1.0 cannot take chunks (RFC 9112 7): a response of unknown length goes out
 * delimited by closing the connection. */
static void test_http10_stream(void)
{
    T_ASSERT(ask("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    T_ASSERT(!strstr(g_out, "Transfer-Encoding") && !strstr(g_out, "Content-Length"));
    T_ASSERT(strstr(g_out, "\r\nConnection: close\r\n\r\nabcd"));
}

/* RFC 9110 9.1: a method is a case-sensitive token; one llhttp does not know reaches the
 * handler with its name, whole or sent byte by byte. */
static void test_methods(void)
{
    static const char *const m[] = {"FOO", "GETX", "PROPFINDX", "M-SEARCH2", "X.Y_Z~!#$%&'*+^`|-9"};
    for (int i = 0; i < 5; i++) {
        char req[256], want[128];
        snprintf(req, sizeof req, "%s /m?q HTTP/1.1\r\nHost: h\r\n\r\n" NEXT, m[i]);
        snprintf(want, sizeof want, "[%s|/m?q|/m|q|h|-]", m[i]);
        T_ASSERT(!ask(req));
        T_ASSERT(strstr(g_out, want));
        T_ASSERT(strstr(g_out, "[GET|/next|"));
        T_ASSERT(!ask_bytewise(req));
        T_ASSERT(strstr(g_out, want));
        T_ASSERT(strstr(g_out, "[GET|/next|"));
    }
    /* lower-case letters: a mangled request (nginx, gunicorn), never a method */
    static const char *const bad[] = {"get", "Get", "GEt", "foo"};
    for (int i = 0; i < 4; i++) {
        char req[256];
        snprintf(req, sizeof req, "%s /m HTTP/1.1\r\nHost: h\r\n\r\n" NEXT, bad[i]);
        T_ASSERT(ask(req)); /* closed after the 400 */
        T_ASSERT(!strncmp(g_out, "HTTP/1.1 400 ", 13));
        T_ASSERT(!strstr(g_out, "/next"));
    }
    /* with a body: framed as any other request */
    T_ASSERT(!ask("FOO /body HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" NEXT));
    T_ASSERT(strstr(g_out, "len=3") && strstr(g_out, "[GET|/next|"));
    /* known methods still are llhttp's */
    T_ASSERT(!ask("PROPFIND /m HTTP/1.1\r\nHost: h\r\n\r\n"));
    T_ASSERT(strstr(g_out, "[PROPFIND|/m|"));
}

static int h_named(grove_http_req *req, void *arg) { return grove_http_respond(req, 200, NULL, arg, strlen(arg)); }

/* RFC 9110 9.1: GET and HEAD must be supported, so a GET route serves HEAD (without the
 * body); 405 lists HEAD in Allow (10.2.1); an unknown method gets 405 on a known path. */
static void test_router(void)
{
    grove_http_router *r = grove_http_router_new();
    T_OK(grove_http_route(r, "POST", "/r", h_named, "post"));
    T_OK(grove_http_route(r, "GET", "/r", h_named, "get"));
    T_OK(grove_http_route(r, "HEAD", "/h", h_named, "head"));
    T_OK(grove_http_route(r, "GET", "/h", h_named, "get-h"));
    T_OK(grove_http_route(r, "PUTX", "/p", h_named, "putx"));
    T_OK(grove_http_route(r, "PUT", "/p", h_named, "put"));
    grove_http_server_opts o = {.handler = grove_http_router_handler, .arg = r};
    t_srv s;
    t_srv_start(&s, &o);
    const char req[] = "HEAD /r HTTP/1.1\r\nHost: h\r\n\r\n"
                       "GET /r HTTP/1.1\r\nHost: h\r\n\r\n"
                       "FOO /r HTTP/1.1\r\nHost: h\r\n\r\n"
                       "FOO /nowhere HTTP/1.1\r\nHost: h\r\n\r\n"
                       "GET /p HTTP/1.1\r\nHost: h\r\n\r\n";
    int closed;
    t_exchange(&s, req, sizeof req - 1, g_out, sizeof g_out, &closed);
    T_ASSERT(!closed);
    char *a = strstr(g_out, "HTTP/1.1 200 OK\r\n"), *b = strstr(g_out, "\r\n\r\nget"),
         *c = strstr(g_out, "HTTP/1.1 405 "), *d = strstr(g_out, "HTTP/1.1 404 ");
    T_ASSERT(a && b && c && d && a < b && b < c && c < d);
    T_ASSERT(strstr(a, "Content-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\n")); /* HEAD: no body */
    T_ASSERT(strstr(c, "\r\nAllow: POST, GET, HEAD\r\n"));
    T_ASSERT(strstr(d, "\r\nAllow: PUTX, PUT\r\n")); /* whole tokens, each once */
    /* an explicit HEAD route is preferred to GET's */
    const char head[] = "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n";
    t_exchange(&s, head, sizeof head - 1, g_out, sizeof g_out, NULL);
    T_ASSERT(strstr(g_out, "Content-Length: 4\r\n"));
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
    grove_http_router_free(r);
}

/* RFC 9110 10.1.1: 100-continue in an HTTP/1.0 request must be ignored. */
static void test_expect_http10(void)
{
    int fd = grove_connect(g_s.addr);
    const char head[] = "POST /body HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    T_OK(grove_sendall(fd, head, sizeof head - 1));
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(200), NULL);
    T_STREQ(g_out, ""); /* no 100: the server waits for the body */
    T_OK(grove_sendall(fd, "abc", 3));
    t_read_all(fd, g_out, sizeof g_out, GROVE_MS(400), NULL);
    grove_close(fd);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 200 OK\r\n", 17));
    T_ASSERT(strstr(g_out, "len=3"));
}

/* RFC 9112 2.2: empty lines before a request line are skipped (a client's CRLF after a
 * POST body, as nginx allows), a few and CRLF only; byte by byte too. */
static void test_blank_lines_before_request(void)
{
    T_ASSERT(!ask("\r\nGET /m HTTP/1.1\r\nHost: h\r\n\r\n" NEXT));
    T_ASSERT(strstr(g_out, "[GET|/m|") && strstr(g_out, "[GET|/next|"));
    T_ASSERT(!ask_bytewise("\r\n\r\nGET /m HTTP/1.1\r\nHost: h\r\n\r\n" NEXT));
    T_ASSERT(strstr(g_out, "[GET|/m|") && strstr(g_out, "[GET|/next|"));
    /* between pipelined requests, after a body */
    T_ASSERT(!ask("POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\r\n" NEXT));
    T_ASSERT(strstr(g_out, "len=3") && strstr(g_out, "[GET|/next|"));
    /* too many, or a bare LF: 400 and closed, nothing after it served */
    T_ASSERT(ask("\r\n\r\n\r\n\r\n\r\nGET /m HTTP/1.1\r\nHost: h\r\n\r\n" NEXT));
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 400 ", 13) && !strstr(g_out, "/next"));
    T_ASSERT(ask("\nGET /m HTTP/1.1\r\nHost: h\r\n\r\n" NEXT));
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 400 ", 13) && !strstr(g_out, "/next"));
}

/* RFC 9110 5.5 and RFC 9112 5.1: leading and trailing whitespace is not part of a field
 * value; an empty value is valid; a long value within the limit is whole. */
static void test_field_values(void)
{
    T_ASSERT(!ask("GET /f HTTP/1.1\r\nHost: h\r\nX: \t a \t b \t\r\n\r\n"));
    T_ASSERT(strstr(g_out, "|h|a \t b]"));
    T_ASSERT(!ask("GET /f HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n"));
    T_ASSERT(strstr(g_out, "|h|]"));
    T_ASSERT(!ask("GET /f HTTP/1.1\r\nHost: h\r\nX:  \t \r\n\r\n"));
    T_ASSERT(strstr(g_out, "|h|]"));
    static char req[9000];
    int n = snprintf(req, sizeof req, "GET /f HTTP/1.1\r\nHost: h\r\nX: ");
    memset(req + n, 'v', 8192 - 3); /* "X: " + value: exactly the 8 KiB line limit */
    snprintf(req + n + 8192 - 3, sizeof req - (size_t)n - 8192 + 3, "\r\n\r\n");
    T_ASSERT(!ask(req));
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 200 OK\r\n", 17));
}

/* Error responses: Content-Length matching their body, Connection: close, and a close. */
static void test_error_shape(void)
{
    static char big[10000];
    snprintf(big, sizeof big, "GET /%09000d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    static char bighdr[10000];
    snprintf(bighdr, sizeof bighdr, "GET / HTTP/1.1\r\nHost: h\r\nX: %09000d\r\n\r\n", 0);
    struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET /x HTTP/1.1\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999\r\n\r\n", 413},
        {big, 414},
        {bighdr, 431},
        {"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"GET /x HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {"GET /x HTTP/1.1\r\nHost: h\r\nExpect: nothing\r\n\r\n", 417},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "HTTP/1.1 %d ", cases[i].status);
        T_ASSERT(ask(cases[i].req));
        if (strncmp(g_out, want, strlen(want)))
            T_FAIL("case %zu: %s", i, g_out);
        T_ASSERT(strstr(g_out, "\r\nConnection: close\r\n"));
        const char *cl = strstr(g_out, "\r\nContent-Length: "), *body = strstr(g_out, "\r\n\r\n");
        T_ASSERT(cl && body);
        T_EQ(strtol(cl + 18, NULL, 10), (long)strlen(body + 4));
    }
    /* 408 when the head does not complete in time, then the close */
    grove_http_server_opts o = {.handler = app, .limits = {.header_timeout = GROVE_MS(100)}};
    t_srv s;
    t_srv_start(&s, &o);
    int closed;
    const char part[] = "GET /x HTTP/1.1\r\nHost: h\r\n";
    int fd = grove_connect(s.addr);
    T_OK(grove_sendall(fd, part, sizeof part - 1));
    t_read_all(fd, g_out, sizeof g_out, GROVE_SEC(2), &closed);
    grove_close(fd);
    T_ASSERT(!strncmp(g_out, "HTTP/1.1 408 ", 13));
    T_ASSERT(strstr(g_out, "\r\nConnection: close\r\n") && strstr(g_out, "\r\nContent-Length: "));
    T_ASSERT(closed);
    T_EQ(t_srv_stop(&s, GROVE_SEC(1)), 0);
}

static void test_stop(void) { T_EQ(t_srv_stop(&g_s, GROVE_SEC(1)), 0); }

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        T_CASE(test_start),         T_CASE(test_no_content),   T_CASE(test_head),
        T_CASE(test_absolute_form), T_CASE(test_host),         T_CASE(test_connection),
        T_CASE(test_http10_stream), T_CASE(test_methods),      T_CASE(test_router),
        T_CASE(test_expect_http10), T_CASE(test_field_values), T_CASE(test_blank_lines_before_request),
        T_CASE(test_error_shape),   T_CASE(test_stop),         {NULL, NULL},
    };
    return t_run(cases, argc, argv);
}
