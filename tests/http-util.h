/* Helpers shared by the HTTP tests: a server on an ephemeral loopback port, raw exchanges
 * over a plain socket, and running real programs (curl, openssl) as subprocesses. */
#ifndef GROVE_TEST_HTTP_UTIL_H
#define GROVE_TEST_HTTP_UTIL_H

#include "test.h"
#include <grove/http.h>

#include <sys/resource.h>
#include <sys/wait.h>

typedef struct t_srv {
    int lfd, port;
    grove_http_server *srv;
    char addr[64];
} t_srv;

static inline void t_srv_start(t_srv *s, grove_http_server_opts *o)
{
    s->lfd = grove_listen("127.0.0.1:0", 4096);
    T_OK(s->lfd);
    s->port = grove_sock_port(s->lfd);
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", s->port);
    s->srv = grove_http_server_start(s->lfd, o);
    T_ASSERT(s->srv);
}

static inline int t_srv_stop(t_srv *s, int64_t grace)
{
    int k = grove_http_server_stop(s->srv, grace);
    grove_close(s->lfd);
    return k;
}

/* Reads from fd until EOF, cap bytes, or quiet_ns without data. NUL-terminates.
 * Returns the length; *closed says whether EOF was seen. */
static inline size_t t_read_all(int fd, char *out, size_t cap, int64_t quiet_ns, int *closed)
{
    size_t n = 0;
    if (closed)
        *closed = 0;
    while (n + 1 < cap) {
        grove_timeout to;
        grove_timeout_start(&to, quiet_ns);
        ssize_t r = grove_recv(fd, out + n, cap - 1 - n, 0);
        grove_timeout_end(&to);
        if (r == 0 || r == -ECONNRESET) {
            if (closed)
                *closed = 1;
            break;
        }
        if (r < 0)
            break;
        n += (size_t)r;
    }
    out[n] = 0;
    return n;
}

/* Sends req (len bytes) on a fresh connection and collects the answer. */
/* Reads from fd until a request or response head has ended ("\r\n\r\n"), the peer stops,
 * or buf (NUL-terminated) is full; what follows the head may be in buf too. Returns the
 * bytes read. For scripted peers that answer without reading a body. */
static inline size_t t_read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    while (n < cap - 1) {
        ssize_t r = grove_recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    return n;
}

static inline size_t t_exchange(const t_srv *s, const char *req, size_t len, char *out, size_t cap, int *closed)
{
    int fd = grove_connect(s->addr);
    T_OK(fd);
    T_EQ(grove_sendall(fd, req, len), (long long)len);
    size_t n = t_read_all(fd, out, cap, GROVE_MS(400), closed);
    grove_close(fd);
    return n;
}

static inline int t_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Runs argv, returns the exit status (or -1) and stores its stdout+stderr in *out
 * (malloc'ed) if out is not NULL. */
static inline int t_run_prog(char *const argv[], const void *in, size_t inlen, char **out)
{
    grove_proc_opts o = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT | (in ? GROVE_PROC_STDIN : 0)};
    grove_proc *p = grove_proc_spawn(argv, &o);
    if (!p)
        T_FAIL("cannot run %s (is it installed?)", argv[0]);
    char *o_ = NULL;
    int st = grove_proc_communicate(p, in, inlen, &o_, NULL, NULL, NULL);
    grove_proc_free(p);
    if (out)
        *out = o_;
    else
        free(o_);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void t_raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

#endif
