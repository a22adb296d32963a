/* ws: WebSocket echo round trips over loopback, Grove client to Grove server in one
 * process (one hub): the client sends a binary message of SIZE bytes and waits for its
 * echo, N times. Reports nanoseconds per round trip (two frames each way through the
 * parser, masking on the client's, and with "deflate" permessage-deflate both ways).
 * Usage: grove-ws [N] [SIZE] [deflate] */
#include "bench.h"

#include <grove/ws.h>

static grove_ws_opts g_opts;

static void serve(int fd, void *arg)
{
    grove_stream *s = grove_stream_wrap(fd, 0);
    char head[4096];
    ssize_t n = grove_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
    if (n > 0) {
        head[n] = 0;
        /* the bench's own client sends exactly these headers */
        grove_ws_request req = {.method = "GET",
                                .upgrade = "websocket",
                                .connection = "Upgrade",
                                .version = "13",
                                .extensions = strstr(head, "permessage-deflate") ? "permessage-deflate" : NULL};
        char key[32] = "";
        const char *k = strstr(head, "Sec-WebSocket-Key: ");
        if (k)
            sscanf(k + 19, "%31[^\r]", key);
        req.key = key;
        grove_ws *ws;
        if (grove_ws_accept(s, &req, &g_opts, &ws) == 0) {
            grove_ws_msg m;
            int t;
            while ((t = grove_ws_recv(ws, &m)) == GROVE_WS_BINARY || t == GROVE_WS_TEXT)
                if (grove_ws_send(ws, t, m.data, m.len) < 0)
                    break;
            grove_ws_free(ws);
        }
    }
    grove_stream_close(s);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 100000);
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 64;
    g_opts.deflate = argc > 3 && strcmp(argv[3], "deflate") == 0;
    int l = grove_listen("127.0.0.1:0", 16);
    if (l < 0)
        return 1;
    grove_server *srv = grove_server_start(l, serve, NULL, 0);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", grove_sock_port(l));
    grove_ws *ws;
    int rc = grove_ws_connect(url, &g_opts, &ws);
    if (rc < 0) {
        fprintf(stderr, "grove-ws: connect: %s\n", grove_strerror(rc));
        return 1;
    }
    unsigned char *buf = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char)("websocket bench "[i % 16] + (i >> 10));
    int64_t t0 = grove_now();
    for (long i = 0; i < n; i++) {
        grove_ws_msg m;
        if (grove_ws_send(ws, GROVE_WS_BINARY, buf, size) < 0 || grove_ws_recv(ws, &m) != GROVE_WS_BINARY ||
            m.len != size) {
            fprintf(stderr, "grove-ws: echo failed at %ld\n", i);
            return 1;
        }
    }
    double ns = (double)(grove_now() - t0) / (double)n;
    grove_ws_close(ws, 1000, NULL);
    grove_ws_free(ws);
    grove_server_stop(srv, GROVE_SEC(1));
    grove_close(l);
    free(buf);
    char name[64];
    snprintf(name, sizeof name, "ws-echo-%zu%s", size, g_opts.deflate ? "-deflate" : "");
    bench_report(name, n, ns, "ns per round trip");
    return 0;
}
