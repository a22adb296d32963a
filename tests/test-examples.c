/* The examples are also tests: each runs as its own process (started here, stopped by
 * PID) against servers this test runs on loopback. */
// ctest: labels=unit,net,examples timeout=120
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

/* ---- a child process with pipes ---------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int in, out; /* our ends: its stdin, its stdout */
} child;

static child run(const char *example, char *const args[])
{
    char path[512];
    snprintf(path, sizeof path, "%s/examples/%s", getenv("GROVE_TEST_BINDIR"), example);
    int pin[2], pout[2];
    T_EQ(pipe2(pin, O_CLOEXEC), 0);
    T_EQ(pipe2(pout, O_CLOEXEC), 0);
    child c = {0};
    c.pid = fork();
    T_ASSERT(c.pid >= 0);
    if (c.pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        char *argv[16] = {(char *)example};
        for (int i = 0; args && args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(path, argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    c.in = pin[1];
    c.out = pout[0];
    return c;
}

static int stop(child *c)
{
    if (c->in >= 0)
        grove_close(c->in);
    grove_close(c->out);
    kill(c->pid, SIGTERM);
    int st;
    waitpid(c->pid, &st, 0);
    return st;
}

/* Reads the child's stdout until EOF or a line containing want; returns bytes read. */
static size_t read_until(child *c, char *buf, size_t size, const char *want)
{
    size_t n = 0;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(20));
    while (n < size - 1) {
        ssize_t r = grove_read(c->out, buf + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
        if (want && strstr(buf, want))
            break;
    }
    grove_timeout_end(&to);
    buf[n] = 0;
    return n;
}

/* ---- an HTTP server for the client examples: GET /<size>/<delay_ms> ------------------- */

static int g_http_active, g_http_peak, g_http_served;

static void http_handler(int fd, void *arg)
{
    grove_stream *s = grove_stream_wrap(fd, 0);
    char line[1024];
    long size = -1, delay = 0;
    if (grove_stream_readline(s, line, sizeof line) > 0)
        sscanf(line, "GET /%ld/%ld", &size, &delay);
    while (grove_stream_readline(s, line, sizeof line) > 2) {
    }
    g_http_active++;
    if (g_http_active > g_http_peak)
        g_http_peak = g_http_active;
    grove_sleep(GROVE_MS(delay));
    g_http_active--;
    if (size < 0) {
        const char *bad = "HTTP/1.0 404 Not Found\r\n\r\n";
        grove_stream_write(s, bad, strlen(bad));
    } else {
        int hl = snprintf(line, sizeof line, "HTTP/1.0 200 OK\r\nContent-Length: %ld\r\n\r\n", size);
        grove_stream_write(s, line, (size_t)hl);
        for (long i = 0; i < size; i++)
            grove_stream_write(s, "x", 1);
    }
    grove_stream_close(s);
    g_http_served++;
}

static grove_server *g_http;
static int g_http_port;

static void http_start(void)
{
    int l = grove_listen("127.0.0.1:0", 4096);
    T_OK(l);
    g_http_port = grove_sock_port(l);
    g_http = grove_server_start(l, http_handler, NULL, 0);
    T_ASSERT(g_http);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_echo_example(void)
{
    char *args[] = {"127.0.0.1:0", NULL};
    child c = run("grove-echo", args);
    char buf[256];
    read_until(&c, buf, sizeof buf, ")\n");
    int port = 0;
    const char *p = strstr(buf, "(port ");
    T_ASSERT(p && sscanf(p, "(port %d)", &port) == 1);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fds[20];
    for (int i = 0; i < 20; i++) { /* several clients at once */
        fds[i] = grove_connect(addr);
        T_OK(fds[i]);
    }
    for (int i = 0; i < 20; i++) {
        char msg[32], got[32] = {0};
        int n = snprintf(msg, sizeof msg, "client %d", i);
        T_EQ(grove_sendall(fds[i], msg, (size_t)n), n);
        size_t have = 0;
        while (have < (size_t)n) {
            ssize_t r = grove_read(fds[i], got + have, (size_t)n - have);
            T_GT(r, 0);
            have += (size_t)r;
        }
        T_STREQ(got, msg);
    }
    for (int i = 0; i < 20; i++)
        grove_close(fds[i]);
    c.in = -1;
    int st = stop(&c);
    T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

static void *feed_urls(void *arg)
{
    child *c = arg;
    char line[128];
    for (int i = 0; i < 400; i++) {
        /* Later URLs answer sooner, so completion order differs from input order. */
        int n = snprintf(line, sizeof line, "http://127.0.0.1:%d/%d/%d\n", g_http_port, i * 3, (400 - i) % 40);
        grove_sendall(c->in, line, (size_t)n);
    }
    grove_close(c->in);
    c->in = -1;
    return NULL;
}

static void test_crawl_example(void)
{
    g_http_peak = g_http_served = 0;
    child c = run("grove-crawl", NULL);
    grove_thread *f = grove_spawn(feed_urls, &c);
    static char out[64 * 1024];
    int64_t t0 = grove_now();
    size_t n = read_until(&c, out, sizeof out, NULL);
    int64_t took = grove_now() - t0;
    T_OK(grove_join(f, NULL));
    T_GT(n, 0);
    char *save, *line = strtok_r(out, "\n", &save);
    for (int i = 0; i < 400; i++, line = strtok_r(NULL, "\n", &save)) {
        T_ASSERT(line);
        char want[128];
        snprintf(want, sizeof want, "%d http://127.0.0.1:%d/%d/%d", i * 3, g_http_port, i * 3, (400 - i) % 40);
        T_STREQ(line, want); /* sizes, in input order */
    }
    T_ASSERT(line == NULL);
    T_EQ(g_http_served, 400);
    T_LE(g_http_peak, 200);     /* the pool of 200 bounds the concurrency */
    T_GE(g_http_peak, 20);      /* ...and it really was concurrent */
    T_LT(took, GROVE_MS(7500)); /* serially: 400 x ~20 ms = 8 s (the peak above is the proof;
                                    this bound allows for an ASan build on a loaded machine) */
    int st = stop(&c);
    T_ASSERT((WIFEXITED(st) && WEXITSTATUS(st) == 0) || WIFSIGNALED(st));
}

static void test_dispatch_example(void)
{
    char u1[64], u2[64], u3[64];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/10/200", g_http_port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/20/200", g_http_port);
    snprintf(u3, sizeof u3, "http://127.0.0.1:%d/30/200", g_http_port);
    char *args[] = {"127.0.0.1:0", u1, u2, u3, NULL};
    child c = run("grove-dispatch", args);
    char buf[256];
    read_until(&c, buf, sizeof buf, "\n");
    int port = 0;
    const char *p = strstr(buf, "port ");
    T_ASSERT(p && sscanf(p, "port %d", &port) == 1);
    int64_t t0 = grove_now();
    char *body;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = grove_connect(addr);
    T_OK(fd);
    const char *req = "GET / HTTP/1.0\r\n\r\n";
    T_EQ(grove_sendall(fd, req, strlen(req)), (ssize_t)strlen(req));
    static char resp[4096];
    size_t n = 0;
    ssize_t r;
    while ((r = grove_read(fd, resp + n, sizeof resp - 1 - n)) > 0)
        n += (size_t)r;
    resp[n] = 0;
    grove_close(fd);
    int64_t took = grove_now() - t0;
    body = strstr(resp, "\r\n\r\n");
    T_ASSERT(body);
    char want[256];
    snprintf(want, sizeof want, "\r\n\r\n10 %s\n20 %s\n30 %s\n", u1, u2, u3);
    T_STREQ(body, want);
    T_LT(took, GROVE_MS(560)); /* three 200 ms upstreams: serially 600 ms */
    T_GE(took, GROVE_MS(190));
    c.in = -1;
    stop(&c);
}

static const t_case cases[] = {
    T_CASE(test_echo_example),
    T_CASE(test_crawl_example),
    T_CASE(test_dispatch_example),
    {0},
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    http_start();
    int rc = t_run(cases, argc, argv);
    grove_server_stop(g_http, GROVE_SEC(1));
    return rc;
}
