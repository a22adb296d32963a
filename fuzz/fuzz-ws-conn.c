/* libFuzzer target for a whole WebSocket server connection (src/ws/ws.c and handshake.c
 * over libgrove): the fuzz input is what a client sends after its upgrade request, fed to
 * grove_ws_accept's connection through a grove_stream whose transport reads from memory
 * (in pieces whose sizes the input picks) and discards writes. Receiving runs the parser,
 * unmasking, UTF-8 checks, control frames, the close handshake, limits and inflation;
 * every message received is echoed, which runs the compressor.
 *
 * Input: byte 0 = options (bit 0: negotiate permessage-deflate, bit 1: deliver pings and
 * pongs, bit 2: receive piece by piece, bit 3: small limits, bit 4: client asks for no
 * context takeover and 9-bit windows), byte 1 = read piece size, then the client's bytes.
 * Checks: received text is valid UTF-8, whole messages respect max_message, a failure is
 * one of the documented errors with the matching close code sent, and nothing leaks.
 * Built and run for a bounded time by fuzz/run-ws-conn.sh (a CTest test). */
#include "ws/ws-internal.h"

#include <errno.h>
#include <grove.h>
#include <grove/ws.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                                      \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

typedef struct mem {
    const unsigned char *p;
    size_t left, piece;
    size_t written;
} mem;

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    mem *m = ctx;
    if (n > m->piece)
        n = m->piece;
    if (n > m->left)
        n = m->left;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (ssize_t)n;
}

static ssize_t mem_write(void *ctx, const void *buf, size_t n)
{
    ((mem *)ctx)->written += n;
    return (ssize_t)n;
}

static int mem_close(void *ctx) { return 0; }

static const grove_stream_ops mem_ops = {mem_read, mem_write, mem_close};

static bool utf8_ok(const unsigned char *p, size_t n)
{
    grove__ws_utf8 u = {0};
    return grove__ws_utf8_feed(&u, p, n) && grove__ws_utf8_done(&u);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned cfg = data[0];
    mem m = {data + 2, size - 2, (size_t)data[1] % 200 + 1, 0};
    grove_stream *s = grove_stream_new_ops(&mem_ops, &m, 512);
    CHECK(s);
    grove_ws_request req = {
        .method = "GET",
        .upgrade = "websocket",
        .connection = "Upgrade",
        .key = "dGhlIHNhbXBsZSBub25jZQ==",
        .version = "13",
        .extensions = (cfg & 16) ? "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
                                   "server_max_window_bits=9; client_max_window_bits"
                                 : "permessage-deflate; client_max_window_bits",
    };
    grove_ws_opts o = {
        .deflate = cfg & 1,
        .deliver_control = (cfg >> 1) & 1,
        .max_frame = (cfg & 8) ? 300 : 0,
        .max_message = (cfg & 8) ? 1000 : 1 << 20,
        .close_timeout = -1,
    };
    grove_ws *ws;
    CHECK(grove_ws_accept(s, &req, &o, &ws) == 0);
    bool parts = cfg & 4;
    for (int i = 0; i < 10000; i++) {
        grove_ws_msg msg;
        int rc = parts ? grove_ws_recv_part(ws, &msg) : grove_ws_recv(ws, &msg);
        if (rc < 0) {
            int sent = grove_ws_close_sent(ws);
            if (rc == -EPROTO)
                CHECK(sent == 1002);
            else if (rc == -EILSEQ || rc == -EBADMSG)
                CHECK(sent == 1007);
            else if (rc == -EMSGSIZE)
                CHECK(sent == 1009);
            else
                CHECK(rc == -ECONNRESET || rc == -EPIPE);
            break;
        }
        if (rc == GROVE_WS_CLOSE) {
            CHECK(msg.code == 1005 || (msg.code >= 1000 && msg.code < 5000));
            CHECK(utf8_ok(msg.data, msg.len));
            break;
        }
        CHECK(rc == GROVE_WS_TEXT || rc == GROVE_WS_BINARY || rc == GROVE_WS_PING || rc == GROVE_WS_PONG);
        if (rc == GROVE_WS_PING || rc == GROVE_WS_PONG) {
            CHECK(o.deliver_control && msg.len <= 125);
            continue;
        }
        if (!parts) {
            CHECK(msg.fin && msg.len <= o.max_message);
            CHECK(msg.data[msg.len] == 0);
            if (rc == GROVE_WS_TEXT)
                CHECK(utf8_ok(msg.data, msg.len));
            CHECK(grove_ws_send(ws, rc, msg.data, msg.len) == 0);
        } else {
            CHECK(grove_ws_send_part(ws, rc, msg.data, msg.len, msg.fin) == 0);
        }
    }
    grove_ws_close(ws, 1001, "fuzz");
    grove_ws_free(ws);
    grove_stream_close(s);
    return 0;
}
