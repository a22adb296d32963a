/* WebSocket interoperability with Python's websockets library (Debian python3-websockets),
 * both ways, on 127.0.0.1: Python clients against Grove's server, and Grove's client
 * against a Python server, each with websockets' default permessage-deflate settings
 * (12-bit windows), with every deflate parameter (no context takeover both ways, 10- and
 * 9-bit windows), and without compression. Text, binary, large, fragmented and pipelined
 * messages, pings both ways, subprotocols, and closes started by either side. The Python
 * processes are bounded in time and killed by PID. */
// ctest: labels=net,ws,interop timeout=120 libs=grove_ws
#include "servers.h"
#include "ws-harness.h"

#define PYTHON "/usr/bin/python3" /* Debian's, which has python3-websockets */

static char g_script_dir[512];
static int g_port;
static int g_conns, g_deflate_conns, g_server_closes;

/* ---- Grove server for the Python clients ------------------------------------------------- */

static void handler(int fd, void *arg)
{
    grove_stream *s = grove_stream_wrap(fd, 0);
    t_head h;
    grove_ws *ws;
    grove_ws_opts o = {.deflate = 1, .protocols = "chat", .max_message = 4 << 20};
    if (t_read_head(s, &h) == 0 && grove_ws_accept(s, &h.req, &o, &ws) == 0) {
        g_conns++;
        g_deflate_conns += grove_ws_deflate(ws);
        T_STREQ(h.path, "/interop");
        grove_ws_msg m;
        int rc;
        while ((rc = grove_ws_recv(ws, &m)) == GROVE_WS_TEXT || rc == GROVE_WS_BINARY) {
            if (rc == GROVE_WS_TEXT && m.len == 8 && memcmp(m.data, "close-me", 8) == 0) {
                T_OK(grove_ws_close(ws, 4002, "server bye"));
                g_server_closes++;
                break;
            }
            T_OK(grove_ws_send(ws, rc, m.data, m.len));
        }
        if (rc == GROVE_WS_CLOSE)
            T_EQ(m.code, 4000);
        grove_ws_free(ws);
    }
    grove_stream_close(s);
}

static void python_client(const char *mode)
{
    char script[600], url[64];
    snprintf(script, sizeof script, "%s/py_client.py", g_script_dir);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/interop", g_port);
    char *argv[] = {PYTHON, script, url, (char *)mode, NULL};
    grove_proc_opts po = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &po);
    if (!p)
        T_FAIL("cannot start %s: %s (apt-get install python3-websockets)", PYTHON, strerror(errno));
    t_servers[0] = grove_proc_pid(p);
    signal(SIGABRT, t_kill_servers);
    char *out = NULL;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(60));
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    grove_timeout_end(&to);
    if (st < 0) {
        grove_proc_kill(p, SIGKILL);
        grove_proc_wait(p);
        T_FAIL("python client (%s) did not finish: %s", mode, grove_strerror(st));
    }
    t_servers[0] = 0;
    grove_proc_free(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, "OK"))
        T_FAIL("python client (%s) failed:\n%s", mode, out);
    free(out);
}

static void test_python_clients(void)
{
    static const char *modes[] = {"default", "params", "plain"};
    for (int i = 0; i < 3; i++) {
        int conns = g_conns, defl = g_deflate_conns, closes = g_server_closes;
        python_client(modes[i]);
        /* let the server's handlers finish */
        for (int k = 0; k < 100 && grove_thread_count() > 1; k++)
            grove_sleep(GROVE_MS(10));
        T_EQ(g_conns - conns, 2);
        T_EQ(g_deflate_conns - defl, i < 2 ? 2 : 0);
        T_EQ(g_server_closes - closes, 1);
    }
}

/* ---- Grove client against the Python server ----------------------------------------------- */

static grove_proc *python_server(const char *mode, int *port)
{
    *port = t_free_port();
    char script[600], ports[16];
    snprintf(script, sizeof script, "%s/py_server.py", g_script_dir);
    snprintf(ports, sizeof ports, "%d", *port);
    char *argv[] = {PYTHON, script, ports, (char *)mode, NULL};
    grove_proc_opts po = {.flags = GROVE_PROC_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &po);
    if (!p)
        T_FAIL("cannot start %s: %s (apt-get install python3-websockets)", PYTHON, strerror(errno));
    t_servers[1] = grove_proc_pid(p);
    signal(SIGABRT, t_kill_servers);
    /* READY on its stdout once it listens */
    char line[64] = "";
    size_t n = 0;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(20));
    while (!strstr(line, "READY\n") && n < sizeof line - 1) {
        ssize_t r = grove_read(grove_proc_stdout(p), line + n, sizeof line - 1 - n);
        if (r <= 0)
            T_FAIL("python server (%s) did not start: %s", mode, r < 0 ? grove_strerror((int)r) : "exited");
        n += (size_t)r;
        line[n] = 0;
    }
    grove_timeout_end(&to);
    return p;
}

static void ask(grove_ws *ws, const char *q, const char *want)
{
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, q, strlen(q)));
    grove_ws_msg m;
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    if (want && !strstr((const char *)m.data, want))
        T_FAIL("%s: got \"%s\", want \"%s\"", q, (const char *)m.data, want);
}

static void grove_client(const char *mode)
{
    int port;
    grove_proc *p = python_server(mode, &port);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    grove_ws_opts o = {.deflate = 1, .protocols = "chat", .deliver_control = 1};
    grove_ws *ws;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(40));
    T_OK(grove_ws_connect(url, &o, &ws));
    bool plain = strcmp(mode, "plain") == 0;
    T_EQ(grove_ws_deflate(ws), !plain);
    T_STREQ(grove_ws_protocol(ws), "chat");
    ask(ws, "proto?", "chat");
    if (plain)
        ask(ws, "ext?", "none");
    else if (!strcmp(mode, "default"))
        ask(ws, "ext?", "client_max_window_bits=12");
    else
        ask(ws, "ext?", "client_no_context_takeover");

    grove_ws_msg m;
    /* text, binary, large compressible and large random messages */
    const char *texts[] = {"hello python", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x8e\x89", ""};
    for (int i = 0; i < 3; i++)
        ask(ws, texts[i], texts[i]);
    size_t big = 1 << 20;
    unsigned char *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (unsigned char)("grove websocket interop "[i % 24] + (i / 4096) % 5);
    for (int round = 0; round < 2; round++) {
        size_t len = round ? 200000 : big;
        if (round)
            t_fill(buf, len, 77);
        T_OK(grove_ws_send(ws, GROVE_WS_BINARY, buf, len));
        T_EQ(grove_ws_recv(ws, &m), GROVE_WS_BINARY);
        T_EQ(m.len, len);
        T_ASSERT(memcmp(m.data, buf, len) == 0);
    }
    /* a fragmented message from us, joined by websockets and echoed whole */
    T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "frag", 4, false));
    T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "ment", 4, false));
    T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "ed", 2, true));
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    T_STREQ((const char *)m.data, "fragmented");
    /* a fragmented message from websockets, whole and then piece by piece */
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "frag-me", 7));
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    T_EQ(m.len, 2001);
    T_ASSERT(m.data[0] == 'a' && m.data[1000] == 'b' && m.data[2000] == 'c');
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "frag-me", 7));
    size_t got = 0;
    int pieces = 0;
    do {
        T_EQ(grove_ws_recv_part(ws, &m), GROVE_WS_TEXT);
        got += m.len;
        pieces++;
    } while (!m.fin);
    T_EQ(got, 2001);
    T_GE(pieces, plain ? 3 : 1);
    /* pings both ways */
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "ping-me", 7));
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_PING);
    T_EQ(m.len, 3);
    T_ASSERT(memcmp(m.data, "srv", 3) == 0);
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    T_STREQ((const char *)m.data, "pinged");
    T_OK(grove_ws_ping(ws, "gping", 5));
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_PONG);
    T_STREQ((const char *)m.data, "gping");
    /* pipelined */
    for (int i = 0; i < 100; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "pipelined %d", i);
        T_OK(grove_ws_send(ws, GROVE_WS_TEXT, b, (size_t)n));
    }
    for (int i = 0; i < 100; i++) {
        char b[32];
        snprintf(b, sizeof b, "pipelined %d", i);
        T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
        T_STREQ((const char *)m.data, b);
    }
    T_OK(grove_ws_close(ws, 1000, "grove bye"));
    T_EQ(grove_ws_close_received(ws), 1000);
    grove_ws_free(ws);

    /* the server closes */
    T_OK(grove_ws_connect(url, &o, &ws));
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "close-me", 8));
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_CLOSE);
    T_EQ(m.code, 4003);
    T_EQ(m.len, 13);
    T_ASSERT(memcmp(m.data, "py server bye", 13) == 0);
    T_EQ(grove_ws_close_sent(ws), 4003); /* echoed */
    T_EQ(grove_ws_recv(ws, &m), -EPIPE);
    grove_ws_free(ws);
    T_ASSERT(!grove_timeout_end(&to));
    free(buf);
    t_servers[1] = 0;
    t_stop(p, SIGTERM);
}

static void test_grove_client_default(void) { grove_client("default"); }
static void test_grove_client_params(void) { grove_client("params"); }
static void test_grove_client_plain(void) { grove_client("plain"); }

int main(int argc, char **argv)
{
    const char *src = getenv("GROVE_TEST_SRCDIR");
    snprintf(g_script_dir, sizeof g_script_dir, "%s/tests/ws", src ? src : ".");
    int l = grove_listen("127.0.0.1:0", 64);
    T_OK(l);
    g_port = grove_sock_port(l);
    grove_server *srv = grove_server_start(l, handler, NULL, 0);
    T_ASSERT(srv);
    static const t_case cases[] = {
        T_CASE(test_python_clients),
        T_CASE(test_grove_client_default),
        T_CASE(test_grove_client_params),
        T_CASE(test_grove_client_plain),
        {NULL, NULL},
    };
    int rc = t_run(cases, argc, argv);
    grove_server_stop(srv, GROVE_SEC(1));
    grove_close(l);
    return rc;
}
