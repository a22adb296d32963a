/* The demo app that make run serves (grove-serve with the built-in demo), tried as a
 * person would: headless Chromium (Debian chromium) renders the index page, and two
 * browser tabs on the chat page see each other's messages through the WebSocket room
 * (the test joins the room too, and checks what each tab said and heard); /hello and
 * /fetch answer; the status page the index links to lists the worker. */
// ctest: labels=net,serve,browser timeout=180 libs=grove_http,grove_ws
#include "test.h"
#include "servers.h"
#include <grove/http.h>
#include <grove/ws.h>

static char g_serve[512];
static int g_port, g_sport;

static grove_proc *chromium(const char *url, const char *profile, int dump)
{
    char prof[128];
    snprintf(prof, sizeof prof, "--user-data-dir=%s", profile);
    char *argv[] = {"chromium",
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--mute-audio",
                    prof,
                    dump ? "--dump-dom" : "--enable-logging=stderr",
                    (char *)url,
                    NULL};
    grove_proc_opts po = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &po);
    if (!p)
        T_FAIL("cannot start chromium: %s (apt-get install chromium)", strerror(errno));
    for (int i = 0; i < 8; i++)
        if (t_servers[i] <= 0) {
            t_servers[i] = grove_proc_pid(p);
            break;
        }
    return p;
}

static void chromium_stop(grove_proc *p) { t_stop(p, SIGKILL); }

static void test_index_in_browser(void)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", g_port);
    grove_proc *p = chromium(url, "/tmp/grove-demo-chromium-index", 1);
    char *out = NULL;
    size_t len = 0;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(60));
    int rc = grove_proc_communicate(p, NULL, 0, &out, &len, NULL, NULL);
    grove_timeout_end(&to);
    for (int i = 0; i < 8; i++)
        if (t_servers[i] == grove_proc_pid(p))
            t_servers[i] = 0;
    grove_proc_kill(p, SIGKILL);
    grove_proc_wait(p);
    grove_proc_free(p);
    T_OK(rc);
    T_ASSERT(out != NULL);
    char status_link[64];
    snprintf(status_link, sizeof status_link, "http://127.0.0.1:%d/", g_sport);
    if (!strstr(out, "<h1>Grove</h1>") || !strstr(out, "href=\"/chat\"") || !strstr(out, status_link))
        T_FAIL("the rendered index page lacks its parts:\n%.2000s", out);
    free(out);
    t_sh("rm -rf /tmp/grove-demo-chromium-index");
}

static int has(char seen[][256], int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(seen[i], s))
            return 1;
    return 0;
}

static void test_chat_between_tabs(void)
{
    char wsurl[64], a[96], b[96];
    snprintf(wsurl, sizeof wsurl, "ws://127.0.0.1:%d/ws", g_port);
    snprintf(a, sizeof a, "http://127.0.0.1:%d/chat?auto=alice", g_port);
    snprintf(b, sizeof b, "http://127.0.0.1:%d/chat?auto=bob", g_port);
    grove_ws *ws;
    T_OK(grove_ws_connect(wsurl, NULL, &ws));
    grove_proc *pa = chromium(a, "/tmp/grove-demo-chromium-a", 0);
    grove_proc *pb = chromium(b, "/tmp/grove-demo-chromium-b", 0);
    static char seen[64][256];
    int n = 0, pinged = 0;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(90));
    while (!(has(seen, n, "alice got: ping 42") && has(seen, n, "bob got: ping 42"))) {
        grove_ws_msg m;
        int rc = grove_ws_recv(ws, &m);
        if (rc < 0)
            T_FAIL("chat: %s; heard %d messages", grove_strerror(rc), n);
        if (m.type != GROVE_WS_TEXT || n == 64)
            continue;
        snprintf(seen[n], sizeof seen[n], "%.*s", (int)m.len, (const char *)m.data);
        fprintf(stderr, "     chat: %s\n", seen[n]);
        n++;
        /* Both tabs are in the room once both greeted: then the test asks them something. */
        if (!pinged && has(seen, n, "hello from alice") && has(seen, n, "hello from bob")) {
            T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "ping 42", 7));
            pinged = 1;
        }
    }
    grove_timeout_end(&to);
    grove_ws_close(ws, 1000, NULL);
    grove_ws_free(ws);
    chromium_stop(pa);
    chromium_stop(pb);
    t_sh("rm -rf /tmp/grove-demo-chromium-a /tmp/grove-demo-chromium-b");
}

static void test_hello_fetch_status(void)
{
    grove_http_client *c = grove_http_client_new(NULL);
    char url[96];
    grove_http_resp *r;
    const void *body;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", g_port);
    T_OK(grove_http_get(c, url, &r));
    T_EQ(grove_http_resp_status(r), 200);
    T_EQ(grove_http_resp_body(r, &body), 13);
    T_ASSERT(!memcmp(body, "Hello, World!", 13));
    grove_http_resp_close(r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fetch", g_port);
    T_OK(grove_http_get(c, url, &r));
    T_EQ(grove_http_resp_status(r), 200);
    ssize_t n = grove_http_resp_body(r, &body);
    T_GT(n, 0);
    T_ASSERT(memmem(body, (size_t)n, "/hello -> 200, 13 bytes", 23) != NULL);
    T_ASSERT(memmem(body, (size_t)n, "/version -> 200", 15) != NULL);
    grove_http_resp_close(r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", g_sport);
    T_OK(grove_http_get(c, url, &r));
    T_EQ(grove_http_resp_status(r), 200);
    n = grove_http_resp_body(r, &body);
    T_ASSERT(memmem(body, (size_t)n, "running", 7) != NULL);
    grove_http_resp_close(r);
    grove_http_client_free(c);
}

static const t_case cases[] = {
    T_CASE(test_hello_fetch_status),
    T_CASE(test_index_in_browser),
    T_CASE(test_chat_between_tabs),
    {0},
};

int main(int argc, char **argv)
{
    snprintf(g_serve, sizeof g_serve, "%s/tools/grove-serve", getenv("GROVE_TEST_BINDIR"));
    signal(SIGPIPE, SIG_IGN);
    g_port = t_free_port();
    g_sport = t_free_port();
    char bind[64], st[64];
    snprintf(bind, sizeof bind, "127.0.0.1:%d", g_port);
    snprintf(st, sizeof st, "127.0.0.1:%d", g_sport);
    char *sargv[] = {g_serve, "--bind", bind, "--status", st, NULL}; /* the built-in demo, as make run */
    grove_proc *srv = t_start(sargv);
    t_wait_port(g_port, GROVE_SEC(20));
    t_wait_port(g_sport, GROVE_SEC(20));
    /* Listening is not serving: wait until the status page shows the worker running. */
    grove_http_client *c = grove_http_client_new(NULL);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/status.json", g_sport);
    for (int up = 0, tries = 0; !up; tries++) {
        if (tries > 200)
            T_FAIL("grove-serve's worker did not start");
        grove_http_resp *r;
        if (grove_http_get(c, url, &r) == 0) {
            const void *body;
            ssize_t n = grove_http_resp_body(r, &body);
            up = n > 0 && memmem(body, (size_t)n, "\"running\"", 9) != NULL;
            grove_http_resp_close(r);
        }
        if (!up)
            grove_sleep(GROVE_MS(50));
    }
    grove_http_client_free(c);
    int rc = t_run(cases, argc, argv);
    t_stop(srv, SIGTERM);
    return rc;
}
