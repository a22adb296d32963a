/* The load balancer example (examples/balancer.c) in front of two grove-serve instances:
 * traffic reaches both, a backend removed through the management API gets no new
 * connections while a connection already open through it keeps working, and a dead
 * backend is skipped. */
// ctest: labels=net,serve,examples timeout=120 libs=grove_http
#include "test.h"
#include "servers.h"
#include <grove/http.h>

static char g_bin[512];

typedef struct backend {
    grove_proc *proc;
    int port, sport;
    char addr[64];
} backend;

static void start_backend(backend *b)
{
    char serve[600], app[600], bind[64], st[64];
    snprintf(serve, sizeof serve, "%s/tools/grove-serve", g_bin);
    snprintf(app, sizeof app, "%s/examples/libgrove-demo.so", g_bin);
    b->port = t_free_port();
    b->sport = t_free_port();
    snprintf(bind, sizeof bind, "127.0.0.1:%d", b->port);
    snprintf(st, sizeof st, "127.0.0.1:%d", b->sport);
    snprintf(b->addr, sizeof b->addr, "127.0.0.1:%d", b->port);
    char *argv[] = {serve, app, "--bind", bind, "--status", st, NULL};
    b->proc = t_start(argv);
    t_wait_port(b->sport, GROVE_SEC(20));
}

/* Which backend answered: the worker pid the demo's index page names. */
static int served_by(grove_http_client *c, const char *url)
{
    grove_http_resp *r;
    int rc = grove_http_get(c, url, &r);
    if (rc < 0)
        return rc;
    const void *data;
    ssize_t n = grove_http_resp_body(r, &data);
    int pid = -1;
    if (n > 0) {
        char buf[4096];
        size_t k = (size_t)n < sizeof buf - 1 ? (size_t)n : sizeof buf - 1;
        memcpy(buf, data, k);
        buf[k] = 0;
        const char *p = strstr(buf, "(pid ");
        pid = p ? atoi(p + 5) : -2;
    }
    grove_http_resp_close(r);
    return pid;
}

static int admin(const char *method, const char *url)
{
    grove_http_client *c = grove_http_client_new(NULL);
    grove_http_request rq = {.method = method, .url = url};
    grove_http_resp *r;
    int rc = grove_http_client_send(c, &rq, &r);
    int st = rc < 0 ? rc : grove_http_resp_status(r);
    if (rc == 0)
        grove_http_resp_close(r);
    grove_http_client_free(c);
    return st;
}

static void test_balancer(void)
{
    backend a, b;
    start_backend(&a);
    start_backend(&b);
    int fport = t_free_port(), aport = t_free_port();
    char front[64], adm[64], exe[600], dead[64];
    snprintf(front, sizeof front, "127.0.0.1:%d", fport);
    snprintf(adm, sizeof adm, "127.0.0.1:%d", aport);
    snprintf(exe, sizeof exe, "%s/examples/grove-balancer", g_bin);
    snprintf(dead, sizeof dead, "127.0.0.1:%d", t_free_port()); /* nothing listens there */
    char *argv[] = {exe, front, adm, a.addr, dead, b.addr, NULL};
    grove_proc *lb = t_start(argv);
    t_wait_port(fport, GROVE_SEC(10));
    t_wait_port(aport, GROVE_SEC(10));
    char url[128];
    snprintf(url, sizeof url, "http://%s/", front);

    /* New connections each time (a fresh client): round robin over both, the dead one
     * skipped without a failed request. */
    int pids[2] = {0, 0}, counts[2] = {0, 0};
    for (int i = 0; i < 20; i++) {
        grove_http_client *c = grove_http_client_new(NULL);
        int pid = served_by(c, url);
        grove_http_client_free(c);
        T_GT(pid, 0);
        int slot = pids[0] == 0 || pids[0] == pid ? 0 : 1;
        if (slot == 1 && pids[1] && pids[1] != pid)
            T_FAIL("a third backend answered (pid %d)", pid);
        pids[slot] = pid;
        counts[slot]++;
    }
    T_GT(counts[0], 0);
    T_GT(counts[1], 0); /* both backends got traffic */

    /* A keep-alive connection through the balancer, then remove its backend. */
    grove_http_client *keep = grove_http_client_new(NULL);
    int kept = served_by(keep, url);
    T_GT(kept, 0);
    char api[160];
    int other = kept == pids[0] ? pids[1] : pids[0];
    /* Which address is the kept backend's? Ask each backend's own page. */
    char aurl[128];
    snprintf(aurl, sizeof aurl, "http://%s/", a.addr);
    grove_http_client *probe = grove_http_client_new(NULL);
    int apid = served_by(probe, aurl);
    grove_http_client_free(probe);
    const char *kept_addr = apid == kept ? a.addr : b.addr;
    snprintf(api, sizeof api, "http://%s/backends?addr=%s", adm, kept_addr);
    T_EQ(admin("DELETE", api), 200);
    T_EQ(admin("DELETE", api), 404);
    /* New connections all go to the other backend... */
    for (int i = 0; i < 10; i++) {
        grove_http_client *c = grove_http_client_new(NULL);
        T_EQ(served_by(c, url), other);
        grove_http_client_free(c);
    }
    /* ...while the open connection still reaches the removed one. */
    T_EQ(served_by(keep, url), kept);
    grove_http_client_free(keep);
    /* Add it back: it gets traffic again. */
    T_EQ(admin("POST", api), 200);
    T_EQ(admin("POST", api), 409);
    int back = 0;
    for (int i = 0; i < 10 && !back; i++) {
        grove_http_client *c = grove_http_client_new(NULL);
        back = served_by(c, url) == kept;
        grove_http_client_free(c);
    }
    T_ASSERT(back);
    snprintf(api, sizeof api, "http://%s/backends?addr=nonsense", adm);
    T_EQ(admin("POST", api), 400);
    t_stop(lb, SIGTERM);
    t_stop(a.proc, SIGTERM);
    t_stop(b.proc, SIGTERM);
}

static const t_case cases[] = {
    T_CASE(test_balancer),
    {0},
};

int main(int argc, char **argv)
{
    snprintf(g_bin, sizeof g_bin, "%s", getenv("GROVE_TEST_BINDIR"));
    signal(SIGPIPE, SIG_IGN);
    return t_run(cases, argc, argv);
}
