/* grove-serve with real processes and real load (the example app build/examples/
 * libgrove-demo.so and its second build libgrove-demo-v2.so): bad options and apps, ten
 * SIGHUP reloads with a rebuilt APP.so under continuous load with zero failed requests,
 * a worker killed with SIGKILL replaced within a second, a handler that blocks its
 * worker caught by the heartbeat, and SIGTERM draining in-flight requests. */
// ctest: labels=net,serve,server timeout=240 libs=grove_http
#include "test.h"
#include "servers.h"
#include <grove/http.h>

#include <sys/stat.h>

static char g_serve[512], g_app1[512], g_app2[512], g_dir[64], g_app[128];

/* Runs grove-serve with args to completion (bounded); returns its exit status, and the
 * first line it wrote to stderr in line. */
static int run_status(char *const argv[], char *line, size_t size)
{
    char cmd[2048] = "timeout 30 ";
    size_t o = strlen(cmd);
    for (int i = 0; argv[i]; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "'%s' ", argv[i]);
    snprintf(cmd + o, sizeof cmd - o, "2>&1 >/dev/null; echo \"EXIT=$?\"");
    FILE *f = popen(cmd, "r");
    T_ASSERT(f);
    char buf[512];
    int first = 1, rc = -1;
    line[0] = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (!strncmp(buf, "EXIT=", 5))
            rc = atoi(buf + 5);
        else if (first) {
            snprintf(line, size, "%s", buf);
            first = 0;
        }
    }
    pclose(f);
    return rc;
}

static void test_bad_input(void)
{
    char line[512];
    char *a1[] = {g_serve, "--bogus", NULL};
    T_EQ(run_status(a1, line, sizeof line), 2);
    T_ASSERT(strstr(line, "grove-serve: unknown") == line);
    char *a2[] = {g_serve, "--workers", "zero", NULL};
    T_EQ(run_status(a2, line, sizeof line), 2);
    T_ASSERT(strstr(line, "--workers"));
    char *a3[] = {g_serve, "/nonexistent/app.so", NULL};
    T_EQ(run_status(a3, line, sizeof line), 1);
    T_ASSERT(strstr(line, "cannot load /nonexistent/app.so"));
    char sym[600];
    snprintf(sym, sizeof sym, "%s:no_such_symbol", g_app1);
    char *a4[] = {g_serve, sym, NULL};
    T_EQ(run_status(a4, line, sizeof line), 1);
    T_ASSERT(strstr(line, "no symbol no_such_symbol"));
    char bind[64];
    snprintf(bind, sizeof bind, "127.0.0.1:%d", t_free_port());
    char *a5[] = {g_serve, g_app1, "--bind", bind, "--app-arg", "fail-init", NULL};
    T_EQ(run_status(a5, line, sizeof line), 1);
    T_ASSERT(strstr(line, "init failed"));
    char *a6[] = {g_serve, g_app1, "--bind", bind, "--app-arg", "crash-init", NULL};
    T_EQ(run_status(a6, line, sizeof line), 1);
    char *a7[] = {g_serve, "--help", NULL};
    T_EQ(run_status(a7, line, sizeof line), 0);
}

/* ---- A running grove-serve ----------------------------------------------------------------- */

typedef struct serve {
    grove_proc *proc;
    int port, sport;
    char base[64], status[64];
} serve;

static int worker_pids(serve *s, int *pids, int max, int *generation);

static void serve_start(serve *s, const char *workers, const char *extra1, const char *extra2)
{
    s->port = t_free_port();
    s->sport = t_free_port();
    char bind[64], st[64];
    snprintf(bind, sizeof bind, "127.0.0.1:%d", s->port);
    snprintf(st, sizeof st, "127.0.0.1:%d", s->sport);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    snprintf(s->status, sizeof s->status, "http://127.0.0.1:%d/status.json", s->sport);
    char *argv[16] = {
        g_serve, g_app, "--bind", bind, "--status", st, "--workers", (char *)workers, "--graceful-timeout", "5"};
    int n = 10;
    if (extra1)
        argv[n++] = (char *)extra1;
    if (extra2)
        argv[n++] = (char *)extra2;
    argv[n] = NULL;
    s->proc = t_start(argv);
    t_wait_port(s->port, GROVE_SEC(20));
    t_wait_port(s->sport, GROVE_SEC(20));
    /* Listening is not serving: wait until every worker is up. */
    int want = atoi(workers), pids[16];
    int64_t end = grove_now() + GROVE_SEC(20);
    while (worker_pids(s, pids, 16, NULL) < want) {
        if (grove_now() > end)
            T_FAIL("grove-serve's workers did not start");
        grove_sleep(GROVE_MS(20));
    }
}

static grove_http_client *g_client;

/* GET url: the status code and the body (NUL-terminated, static), or -errno. */
static int get(const char *url, char *body, size_t size)
{
    grove_http_resp *r;
    int rc = grove_http_get(g_client, url, &r);
    if (rc < 0)
        return rc;
    const void *data;
    ssize_t n = grove_http_resp_body(r, &data);
    int status = grove_http_resp_status(r);
    if (body && size) {
        size_t k = n > 0 ? ((size_t)n < size - 1 ? (size_t)n : size - 1) : 0;
        memcpy(body, data, k);
        body[k] = 0;
    }
    grove_http_resp_close(r);
    return n < 0 ? (int)n : status;
}

/* The pids of the running workers, from the status page. */
static int worker_pids(serve *s, int *pids, int max, int *generation)
{
    static char json[65536];
    T_EQ(get(s->status, json, sizeof json), 200);
    if (generation) {
        const char *g = strstr(json, "\"generation\":");
        *generation = g ? atoi(g + 13) : -1;
    }
    int n = 0;
    const char *p = strstr(json, "\"workers\":[");
    while (p && n < max && (p = strstr(p, "{\"pid\":"))) {
        int pid = atoi(p + 7);
        const char *state = strstr(p, "\"state\":\"");
        if (state && !strncmp(state + 9, "running", 7))
            pids[n++] = pid;
        p += 7;
    }
    return n;
}

static void serve_stop(serve *s) { t_stop(s->proc, SIGTERM); }

/* ---- Reload under load ---------------------------------------------------------------------- */

static int g_load_stop, g_failed, g_ok, g_seen[3];
static char g_load_url[128];
static void *load(void *arg)
{
    grove_http_client *c = grove_http_client_new(NULL);
    while (!g_load_stop) {
        grove_http_resp *r;
        int rc = grove_http_get(c, g_load_url, &r);
        if (rc < 0) {
            g_failed++;
            fprintf(stderr, "load: %s\n", grove_strerror(rc));
            continue;
        }
        const void *data;
        ssize_t n = grove_http_resp_body(r, &data);
        int st = grove_http_resp_status(r);
        if (st != 200 || n != 1) {
            g_failed++;
            fprintf(stderr, "load: status %d, %zd bytes\n", st, n);
        } else {
            g_ok++;
            g_seen[((const char *)data)[0] == '2' ? 2 : 1]++;
        }
        grove_http_resp_close(r);
    }
    grove_http_client_free(c);
    return NULL;
}

static void install_app(const char *from)
{
    /* A rebuilt APP.so arrives as a new file renamed over the old one (what a build or a
     * deploy does): a running worker's mapping of the old one stays valid. */
    char tmp[160], cmd[1200];
    snprintf(tmp, sizeof tmp, "%s/app.so.new", g_dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && mv '%s' '%s'", from, tmp, tmp, g_app);
    T_EQ(t_sh(cmd), 0);
}

static void test_reload_under_load(void)
{
    install_app(g_app1);
    serve s;
    serve_start(&s, "2", NULL, NULL);
    snprintf(g_load_url, sizeof g_load_url, "%s/version", s.base);
    g_load_stop = g_failed = g_ok = 0;
    grove_thread *t[16];
    for (int i = 0; i < 16; i++)
        t[i] = grove_spawn(load, NULL);
    grove_sleep(GROVE_MS(300));
    int gen0;
    int pids[16];
    worker_pids(&s, pids, 16, &gen0);
    for (int i = 1; i <= 10; i++) {
        install_app(i % 2 ? g_app2 : g_app1);
        T_EQ(kill(grove_proc_pid(s.proc), SIGHUP), 0);
        /* The new generation is up when the status page says so. */
        int64_t end = grove_now() + GROVE_SEC(20);
        int gen = gen0;
        while (gen < gen0 + i && grove_now() < end) {
            grove_sleep(GROVE_MS(50));
            worker_pids(&s, pids, 16, &gen);
        }
        T_EQ(gen, gen0 + i);
        grove_sleep(GROVE_MS(150));
    }
    /* The last reload installed version 1 (i = 10): once the old generation is gone, every
     * answer is "1". */
    grove_sleep(GROVE_MS(500));
    int before = g_seen[1];
    grove_sleep(GROVE_MS(300));
    int v2_before = g_seen[2];
    grove_sleep(GROVE_MS(300));
    g_load_stop = 1;
    for (int i = 0; i < 16; i++)
        T_OK(grove_join(t[i], NULL));
    fprintf(stderr, "     10 reloads under load: %d requests, %d failed, v1 %d, v2 %d\n", g_ok + g_failed, g_failed,
            g_seen[1], g_seen[2]);
    T_EQ(g_failed, 0);
    T_GT(g_ok, 500);
    T_GT(g_seen[2], 0);         /* the new code answered after odd reloads */
    T_GT(g_seen[1], before);    /* and version 1 after the last */
    T_EQ(g_seen[2], v2_before); /* no old worker answers any more */
    serve_stop(&s);
}

/* ---- Dead and stuck workers ------------------------------------------------------------------- */

static void test_kill9_replaced(void)
{
    install_app(g_app1);
    serve s;
    serve_start(&s, "2", NULL, NULL);
    int pids[16], gen;
    T_EQ(worker_pids(&s, pids, 16, &gen), 2);
    int victim = pids[0];
    T_EQ(kill(victim, SIGKILL), 0);
    int64_t t0 = grove_now();
    int n = 0, replaced = 0;
    while (grove_now() - t0 < GROVE_SEC(3) && !replaced) {
        grove_sleep(GROVE_MS(20));
        n = worker_pids(&s, pids, 16, NULL);
        replaced = n == 2 && pids[0] != victim && pids[1] != victim;
    }
    int64_t took = grove_now() - t0;
    fprintf(stderr, "     a SIGKILLed worker was replaced in %.0f ms\n", (double)took / 1e6);
    T_ASSERT(replaced);
    T_LT(took, GROVE_SEC(1));
    char body[64], url[128];
    snprintf(url, sizeof url, "%s/hello", s.base);
    T_EQ(get(url, body, sizeof body), 200);
    T_STREQ(body, "Hello, World!");
    serve_stop(&s);
}

static void *blocker(void *arg)
{
    char url[128];
    snprintf(url, sizeof url, "%s/block", (const char *)arg);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    int rc = get(url, NULL, 0);
    grove_timeout_end(&to);
    return (void *)(intptr_t)rc;
}

static void test_blocked_worker_heartbeat(void)
{
    install_app(g_app1);
    serve s;
    serve_start(&s, "2", "--timeout=1", "--app-arg=test");
    snprintf(g_load_url, sizeof g_load_url, "%s/hello", s.base);
    int pids[16];
    T_EQ(worker_pids(&s, pids, 16, NULL), 2);
    grove_thread *b = grove_spawn(blocker, s.base);
    /* The other worker keeps serving meanwhile. */
    int64_t t0 = grove_now();
    for (int i = 0; i < 20; i++) {
        T_EQ(get(g_load_url, NULL, 0), 200);
        grove_sleep(GROVE_MS(50));
    }
    void *r;
    T_OK(grove_join(b, &r));
    T_LT((intptr_t)r, 0); /* the blocked request never got an answer: its worker was killed */
    /* Replaced: two running workers again, one of them new. */
    int n = 0, fresh = 0;
    int64_t end = grove_now() + GROVE_SEC(5);
    int now_pids[16];
    while (grove_now() < end && !(n == 2 && fresh)) {
        n = worker_pids(&s, now_pids, 16, NULL);
        fresh = 0;
        for (int i = 0; i < n; i++)
            fresh += now_pids[i] != pids[0] && now_pids[i] != pids[1];
        grove_sleep(GROVE_MS(50));
    }
    fprintf(stderr, "     a blocked worker was replaced after %.0f ms\n", (double)(grove_now() - t0) / 1e6);
    T_EQ(n, 2);
    T_GE(fresh, 1);
    serve_stop(&s);
}

/* ---- SIGTERM drains ---------------------------------------------------------------------------- */

static void *slow_request(void *arg)
{
    char url[128], body[64];
    snprintf(url, sizeof url, "%s/sleep?ms=700", (const char *)arg);
    int rc = get(url, body, sizeof body);
    return (void *)(intptr_t)(rc == 200 && !strcmp(body, "slept") ? 0 : rc == 200 ? -1 : rc);
}

static void test_sigterm_drains(void)
{
    install_app(g_app1);
    serve s;
    serve_start(&s, "2", NULL, NULL);
    grove_thread *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = grove_spawn(slow_request, s.base);
    grove_sleep(GROVE_MS(150));
    T_EQ(kill(grove_proc_pid(s.proc), SIGTERM), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 0); /* every request in flight was answered */
    }
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(10));
    int st = grove_proc_wait(s.proc);
    grove_timeout_end(&to);
    T_EQ(st, 0); /* the controller exits 0 */
    for (int i = 0; i < 8; i++)
        if (t_servers[i] == grove_proc_pid(s.proc))
            t_servers[i] = 0;
    grove_proc_free(s.proc);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    T_EQ(grove_connect(addr), -ECONNREFUSED); /* the listener is closed once all are done */
}

/* ---- Recycling, scaling, threads ------------------------------------------------------------------ */

static void test_recycle_scale_threads(void)
{
    install_app(g_app1);
    serve s;
    serve_start(&s, "1", "--max-requests=40", "--threads=2");
    char url[128];
    snprintf(url, sizeof url, "%s/hello", s.base);
    int pids[16];
    T_EQ(worker_pids(&s, pids, 16, NULL), 1);
    int first = pids[0], changed = 0;
    for (int i = 0; i < 200; i++) {
        T_EQ(get(url, NULL, 0), 200); /* no request fails while workers are recycled */
        if (i % 20 == 19 && worker_pids(&s, pids, 16, NULL) >= 1 && pids[0] != first)
            changed = 1;
    }
    /* The limit is checked with each heartbeat (twice a second). */
    int64_t deadline = grove_now() + GROVE_SEC(5);
    while (!changed && grove_now() < deadline) {
        T_EQ(get(url, NULL, 0), 200);
        changed = worker_pids(&s, pids, 16, NULL) >= 1 && pids[0] != first;
        grove_sleep(GROVE_MS(20));
    }
    T_ASSERT(changed); /* --max-requests recycled the worker */
    /* SIGTTIN adds a worker, SIGTTOU removes one. */
    T_EQ(kill(grove_proc_pid(s.proc), SIGTTIN), 0);
    int64_t end = grove_now() + GROVE_SEC(10);
    while (worker_pids(&s, pids, 16, NULL) != 2 && grove_now() < end)
        grove_sleep(GROVE_MS(50));
    T_EQ(worker_pids(&s, pids, 16, NULL), 2);
    T_EQ(kill(grove_proc_pid(s.proc), SIGTTOU), 0);
    end = grove_now() + GROVE_SEC(10);
    while (worker_pids(&s, pids, 16, NULL) != 1 && grove_now() < end)
        grove_sleep(GROVE_MS(50));
    T_EQ(worker_pids(&s, pids, 16, NULL), 1);
    serve_stop(&s);
}

/* ---- Access log rotation ------------------------------------------------------------------ */

static char g_hello[128];

/* One client of its own (its own connections, so the requests spread over the workers and
 * their hubs): 10 GETs. Returns how many got 200. */
static void *hello_x10(void *arg)
{
    (void)arg;
    grove_http_client *c = grove_http_client_new(NULL);
    intptr_t ok = 0;
    for (int i = 0; i < 10; i++) {
        grove_http_resp *r;
        if (grove_http_get(c, g_hello, &r) == 0) {
            ok += grove_http_resp_status(r) == 200;
            grove_http_resp_close(r);
        }
    }
    grove_http_client_free(c);
    return (void *)ok;
}

static int hello_burst(int clients)
{
    grove_thread *t[16];
    for (int i = 0; i < clients; i++)
        t[i] = grove_spawn(hello_x10, NULL);
    int ok = 0;
    for (int i = 0; i < clients; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        ok += (int)(intptr_t)r;
    }
    return ok;
}

static int log_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "\"GET /hello HTTP/1.1\" 200 ") != NULL;
    fclose(f);
    return n;
}

/* Waits (bounded) until path holds want lines; returns what it holds. */
static int wait_lines(const char *path, int want)
{
    int64_t end = grove_now() + GROVE_SEC(5);
    int n;
    while ((n = log_lines(path)) < want && grove_now() < end)
        grove_sleep(GROVE_MS(20));
    return n;
}

/* Every hub of every worker logs every request; SIGUSR1 after a rename (logrotate's way)
 * moves all of them to a fresh file without losing a line. */
static void test_access_log_rotation(void)
{
    install_app(g_app1);
    char path[128], old[140], opt[160];
    snprintf(path, sizeof path, "%s/access.log", g_dir);
    snprintf(old, sizeof old, "%s.1", path);
    snprintf(opt, sizeof opt, "--access-log=%s", path);
    unlink(path);
    unlink(old);
    serve s;
    serve_start(&s, "2", opt, "--threads=2");
    snprintf(g_hello, sizeof g_hello, "%s/hello", s.base);
    int sent = hello_burst(8);
    T_EQ(sent, 80);
    T_EQ(wait_lines(path, sent), sent); /* the extra hubs' requests too */
    T_OK(rename(path, old));
    T_EQ(kill(grove_proc_pid(s.proc), SIGUSR1), 0);
    /* Requests during the switch land in one file or the other, never nowhere. */
    int more = hello_burst(4);
    T_EQ(more, 40);
    int64_t end = grove_now() + GROVE_SEC(5);
    while (log_lines(old) + (log_lines(path) > 0 ? log_lines(path) : 0) < sent + more && grove_now() < end)
        grove_sleep(GROVE_MS(20));
    int in_old = log_lines(old), in_new = log_lines(path);
    T_EQ(in_old + (in_new > 0 ? in_new : 0), sent + more);
    /* Once every hub has switched, the old file grows no more. */
    grove_sleep(GROVE_MS(500));
    in_old = log_lines(old);
    in_new = log_lines(path);
    T_ASSERT(in_new >= 0); /* reopened: the file exists again */
    int last = hello_burst(2);
    T_EQ(last, 20);
    T_EQ(wait_lines(path, in_new + last), in_new + last);
    T_EQ(log_lines(old), in_old);
    serve_stop(&s);
}

static const t_case cases[] = {
    T_CASE(test_bad_input),           T_CASE(test_recycle_scale_threads),
    T_CASE(test_access_log_rotation), T_CASE(test_reload_under_load),
    T_CASE(test_kill9_replaced),      T_CASE(test_blocked_worker_heartbeat),
    T_CASE(test_sigterm_drains),      {0},
};

int main(int argc, char **argv)
{
    const char *bin = getenv("GROVE_TEST_BINDIR");
    snprintf(g_serve, sizeof g_serve, "%s/tools/grove-serve", bin);
    snprintf(g_app1, sizeof g_app1, "%s/examples/libgrove-demo.so", bin);
    snprintf(g_app2, sizeof g_app2, "%s/examples/libgrove-demo-v2.so", bin);
    snprintf(g_dir, sizeof g_dir, "/tmp/grove-serve-XXXXXX");
    T_ASSERT(mkdtemp(g_dir));
    snprintf(g_app, sizeof g_app, "%s/app.so", g_dir);
    signal(SIGPIPE, SIG_IGN);
    g_client = grove_http_client_new(NULL);
    int rc = t_run(cases, argc, argv);
    grove_http_client_free(g_client);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    t_sh(cmd);
    return rc;
}
