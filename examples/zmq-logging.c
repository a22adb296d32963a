/* The logging case study from eventlet's zmq talk, with green ZeroMQ: clients PUSH log
 * lines to several log servers (libzmq spreads them round robin), each server PULLs and
 * stores them and answers queries over REP. Each role is its own process:
 *
 *   grove-zmq-logging server PULL_ENDPOINT REP_ENDPOINT
 *   grove-zmq-logging client PUSH_ENDPOINT[,PUSH_ENDPOINT...] COUNT [TEXT]
 *   grove-zmq-logging query REP_ENDPOINT "count" | "grep WORD" | "last N"
 *
 * A server is two green threads over one store: one pulls lines, one answers queries,
 * each written as plain blocking code. */
#include <grove.h>
#include <grove/zmq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

typedef struct store {
    char **lines;
    size_t n, cap;
} store;

static grove_zmq *g_pull, *g_rep;
static store g_store;

static void *puller(void *arg)
{
    char buf[4096];
    for (;;) {
        int n = grove_zmq_recv(g_pull, buf, sizeof buf - 1, NULL);
        if (n < 0)
            return (void *)(intptr_t)n;
        if ((size_t)n > sizeof buf - 1)
            n = sizeof buf - 1; /* truncated by zmq_recv: keep what fitted */
        buf[n] = 0;
        if (g_store.n == g_store.cap) {
            size_t cap = g_store.cap ? g_store.cap * 2 : 256;
            char **l = realloc(g_store.lines, cap * sizeof *l);
            if (!l)
                continue; /* out of memory: drop the line, keep serving */
            g_store.lines = l;
            g_store.cap = cap;
        }
        char *copy = strdup(buf);
        if (copy)
            g_store.lines[g_store.n++] = copy;
    }
}

/* Answers one query into out; returns its length. */
static size_t answer(const char *q, char *out, size_t size)
{
    size_t o = 0;
    if (!strcmp(q, "count"))
        return (size_t)snprintf(out, size, "%zu", g_store.n);
    if (!strncmp(q, "grep ", 5)) {
        size_t hits = 0;
        for (size_t i = 0; i < g_store.n; i++)
            hits += strstr(g_store.lines[i], q + 5) != NULL;
        return (size_t)snprintf(out, size, "%zu", hits);
    }
    if (!strncmp(q, "last ", 5)) {
        size_t k = (size_t)atol(q + 5), from = g_store.n > k ? g_store.n - k : 0;
        for (size_t i = from; i < g_store.n && o < size; i++)
            o += (size_t)snprintf(out + o, size - o, "%s\n", g_store.lines[i]);
        return o < size ? o : size - 1;
    }
    return (size_t)snprintf(out, size, "error: unknown query (count, grep WORD, last N)");
}

static int serve(const char *pull_ep, const char *rep_ep)
{
    void *ctx = zmq_ctx_new();
    g_pull = grove_zmq_socket(ctx, ZMQ_PULL);
    g_rep = grove_zmq_socket(ctx, ZMQ_REP);
    int rc;
    if (!g_pull || !g_rep || (rc = grove_zmq_bind(g_pull, pull_ep)) < 0 || (rc = grove_zmq_bind(g_rep, rep_ep)) < 0) {
        fprintf(stderr, "grove-zmq-logging: cannot bind %s / %s: %s\n", pull_ep, rep_ep, zmq_strerror(errno));
        return 1;
    }
    grove_spawn(puller, NULL);
    static char q[1024], out[65536];
    for (;;) {
        int n = grove_zmq_recv(g_rep, q, sizeof q - 1, NULL);
        if (n < 0)
            break;
        q[n < (int)sizeof q ? n : (int)sizeof q - 1] = 0;
        size_t len = answer(q, out, sizeof out);
        if (grove_zmq_send(g_rep, out, len, 0) < 0)
            break;
    }
    return 0;
}

static int client(char *endpoints, long count, const char *text)
{
    void *ctx = zmq_ctx_new();
    grove_zmq *push = grove_zmq_socket(ctx, ZMQ_PUSH);
    int linger = 5000; /* deliver what is queued before exiting */
    grove_zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    for (char *ep = strtok(endpoints, ","); ep; ep = strtok(NULL, ","))
        if (grove_zmq_connect(push, ep) < 0) {
            fprintf(stderr, "grove-zmq-logging: cannot connect %s\n", ep);
            return 1;
        }
    /* Round robin needs every server connected before the first line goes out. */
    grove_sleep(GROVE_MS(200));
    for (long i = 0; i < count; i++) {
        char line[512];
        int n = snprintf(line, sizeof line, "%s %ld from pid %d", text, i, (int)getpid());
        if (grove_zmq_send(push, line, (size_t)n, 0) < 0)
            return 1;
    }
    grove_zmq_close(push);
    return grove_zmq_ctx_term(ctx) == 0 ? 0 : 1;
}

static int query(const char *ep, const char *q)
{
    void *ctx = zmq_ctx_new();
    grove_zmq *req = grove_zmq_socket(ctx, ZMQ_REQ);
    if (grove_zmq_connect(req, ep) < 0)
        return 1;
    static char out[65536];
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(10));
    int n = grove_zmq_send(req, q, strlen(q), 0);
    if (n >= 0)
        n = grove_zmq_recv(req, out, sizeof out - 1, NULL);
    grove_timeout_end(&to);
    if (n < 0) {
        fprintf(stderr, "grove-zmq-logging: query failed: %s\n", grove_strerror(n));
        return 1;
    }
    fwrite(out, 1, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1, stdout);
    putchar('\n');
    grove_zmq_close(req);
    grove_zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "server"))
        return serve(argv[2], argv[3]);
    if (argc >= 4 && !strcmp(argv[1], "client"))
        return client(argv[2], atol(argv[3]), argc > 4 ? argv[4] : "log line");
    if (argc >= 4 && !strcmp(argv[1], "query"))
        return query(argv[2], argv[3]);
    fprintf(stderr, "usage: %s server PULL_EP REP_EP | client PUSH_EP[,...] COUNT [TEXT] | query REP_EP QUERY\n",
            argv[0]);
    return 2;
}
