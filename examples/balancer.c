/* A TCP load balancer on grove_serve (the Epio case study): connections to the front
 * address are forwarded to a set of backends in round robin, skipping backends that
 * refuse, and an HTTP management API on another address lists, adds and removes backends
 * at run time without touching the connections already open.
 *
 *   grove-balancer FRONT_ADDR ADMIN_ADDR [BACKEND_ADDR...]
 *
 *   GET    http://ADMIN_ADDR/backends             one backend address per line
 *   POST   http://ADMIN_ADDR/backends?addr=H:P    add one (200; 409 if present)
 *   DELETE http://ADMIN_ADDR/backends?addr=H:P    remove one (200; 404 if absent): new
 *                                                 connections stop going there at once
 *
 * Each client connection is two green threads copying bytes each way; a backend that
 * refuses (or does not answer within 2 s) is skipped for that connection. */
#include <grove.h>
#include <grove/http.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BACKENDS 64

static char g_backends[MAX_BACKENDS][128];
static int g_n;
static unsigned g_next;

/* ---- Forwarding ------------------------------------------------------------------------- */

typedef struct pipe_ends {
    int from, to;
} pipe_ends;

/* Copies from -> to until EOF or an error, then half-closes to. */
static void *copy(void *arg)
{
    pipe_ends *p = arg;
    char buf[16384];
    ssize_t n;
    while ((n = grove_read(p->from, buf, sizeof buf)) > 0)
        if (grove_sendall(p->to, buf, (size_t)n) < 0)
            break;
    grove_shutdown(p->to, SHUT_WR);
    return NULL;
}

/* Connects to the next backend in round robin that answers. Returns the fd or -errno. */
static int connect_backend(void)
{
    int rc = -ECONNREFUSED;
    for (int tries = 0; tries < g_n; tries++) {
        char addr[128];
        snprintf(addr, sizeof addr, "%s", g_backends[g_next++ % (unsigned)g_n]);
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(2));
        rc = grove_connect(addr);
        bool mine = grove_timeout_end(&to);
        if (rc >= 0)
            return rc;
        if (rc == -ECANCELED || (rc == -ETIMEDOUT && !mine))
            return rc; /* the connection itself is being stopped */
        fprintf(stderr, "grove-balancer: backend %s: %s; trying the next\n", addr, grove_strerror(rc));
    }
    return g_n ? rc : -ENOENT;
}

static void handle(int client, void *arg)
{
    int backend = connect_backend();
    if (backend < 0)
        return; /* the server closes the client */
    pipe_ends up = {client, backend}, down = {backend, client};
    grove_thread *t = grove_spawn(copy, &down);
    if (t) {
        copy(&up);
        grove_join(t, NULL);
    }
    grove_close(backend);
}

/* ---- Management API ----------------------------------------------------------------------- */

static int find(const char *addr)
{
    for (int i = 0; i < g_n; i++)
        if (!strcmp(g_backends[i], addr))
            return i;
    return -1;
}

static int answer(grove_http_req *req, int status, const char *text)
{
    return grove_http_respond(req, status, "text/plain", text, strlen(text));
}

static int h_backends(grove_http_req *req, void *arg)
{
    const char *m = grove_http_req_method(req);
    if (!strcmp(m, "GET")) {
        char out[MAX_BACKENDS * 130] = "";
        size_t o = 0;
        for (int i = 0; i < g_n; i++)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s\n", g_backends[i]);
        return grove_http_respond(req, 200, "text/plain", out, o);
    }
    const char *q = grove_http_req_query(req);
    const char *a = q ? strstr(q, "addr=") : NULL;
    if (!a || !a[5] || strlen(a + 5) >= sizeof g_backends[0])
        return answer(req, 400, "give ?addr=HOST:PORT\n");
    char addr[128];
    snprintf(addr, sizeof addr, "%s", a + 5);
    char *amp = strchr(addr, '&');
    if (amp)
        *amp = 0;
    struct sockaddr_storage ss;
    if (grove_parse_addr(addr, &ss, SOCK_STREAM) < 0)
        return answer(req, 400, "not an address\n");
    int i = find(addr);
    if (!strcmp(m, "POST")) {
        if (i >= 0)
            return answer(req, 409, "already a backend\n");
        if (g_n == MAX_BACKENDS)
            return answer(req, 507, "too many backends\n");
        snprintf(g_backends[g_n++], sizeof g_backends[0], "%s", addr);
        fprintf(stderr, "grove-balancer: added %s\n", addr);
        return answer(req, 200, "added\n");
    }
    if (!strcmp(m, "DELETE")) {
        if (i < 0)
            return answer(req, 404, "no such backend\n");
        memmove(g_backends[i], g_backends[i + 1], (size_t)(g_n - i - 1) * sizeof g_backends[0]);
        g_n--;
        fprintf(stderr, "grove-balancer: removed %s\n", addr);
        return answer(req, 200, "removed\n");
    }
    grove_http_add_header(req, "Allow", "GET, POST, DELETE");
    return answer(req, 405, "method not allowed\n");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FRONT_ADDR ADMIN_ADDR [BACKEND_ADDR...]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 3; i < argc && g_n < MAX_BACKENDS; i++)
        snprintf(g_backends[g_n++], sizeof g_backends[0], "%s", argv[i]);
    int front = grove_listen(argv[1], 4096);
    int admin = grove_listen(argv[2], 128);
    if (front < 0 || admin < 0) {
        fprintf(stderr, "grove-balancer: cannot listen: %s\n", grove_strerror(front < 0 ? front : admin));
        return 1;
    }
    grove_http_router *r = grove_http_router_new();
    grove_http_route(r, NULL, "/backends", h_backends, NULL);
    grove_http_server_opts so = {.handler = grove_http_router_handler, .arg = r};
    grove_http_server *api = grove_http_server_start(admin, &so);
    if (!api)
        return 1;
    fprintf(stderr, "grove-balancer: %s -> %d backends; management API on %s\n", argv[1], g_n, argv[2]);
    int rc = grove_serve(front, handle, NULL, 0); /* until killed */
    grove_http_server_stop(api, GROVE_SEC(1));
    grove_http_router_free(r);
    return rc == -ECANCELED ? 0 : 1;
}
