/* WebSocket test helpers: a Grove echo server whose behaviour each test sets, request
 * heads read with grove_stream and handed to grove_ws_accept, and a raw-frame client that
 * writes any bytes it likes (bad opcodes, reserved bits, unmasked frames, split writes)
 * and reads the server's frames as bytes. Shared by tests/test-ws*.c. */
#ifndef GROVE_TEST_WS_HARNESS_H
#define GROVE_TEST_WS_HARNESS_H

#include "test.h"

#include <grove/ws.h>
#include <strings.h>
#include <sys/random.h>

/* ---- Reading an upgrade request head ----------------------------------------------------- */

typedef struct t_head {
    char buf[8192];
    char path[512];
    grove_ws_request req;
} t_head;

/* Reads a request head from s and fills h->req from its headers (values point into h).
 * Returns 0 or -errno. */
static inline int t_read_head(grove_stream *s, t_head *h)
{
    ssize_t n = grove_stream_read_until(s, "\r\n\r\n", 4, h->buf, sizeof h->buf - 1);
    if (n < 0)
        return (int)n;
    h->buf[n] = 0;
    memset(&h->req, 0, sizeof h->req);
    char *line = h->buf;
    char *end = strstr(line, "\r\n");
    *end = 0;
    char *sp1 = strchr(line, ' ');
    if (!sp1)
        return -EINVAL;
    *sp1 = 0;
    h->req.method = line;
    char *sp2 = strchr(sp1 + 1, ' ');
    if (!sp2)
        return -EINVAL;
    *sp2 = 0;
    snprintf(h->path, sizeof h->path, "%s", sp1 + 1);
    line = end + 2;
    while (*line && (end = strstr(line, "\r\n")) && end != line) {
        *end = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            if (!strcasecmp(line, "Upgrade"))
                h->req.upgrade = v;
            else if (!strcasecmp(line, "Connection"))
                h->req.connection = v;
            else if (!strcasecmp(line, "Sec-WebSocket-Key"))
                h->req.key = v;
            else if (!strcasecmp(line, "Sec-WebSocket-Version"))
                h->req.version = v;
            else if (!strcasecmp(line, "Sec-WebSocket-Extensions"))
                h->req.extensions = v;
            else if (!strcasecmp(line, "Sec-WebSocket-Protocol"))
                h->req.protocol = v;
        }
        line = end + 2;
    }
    return 0;
}

/* ---- The raw-frame client ----------------------------------------------------------------- */

typedef struct t_raw {
    int fd;
    grove_stream *s;
    char resp[4096]; /* the handshake response head */
    int status;
} t_raw;

/* Connects to 127.0.0.1:port and sends a handshake with extra header lines (each ending
 * in CRLF; NULL = none). Reads the response head. */
static inline void t_raw_open_hdrs(t_raw *c, int port, const char *extra, bool std_headers)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c->fd = grove_connect(addr);
    T_OK(c->fd);
    c->s = grove_stream_new(c->fd, 0);
    T_ASSERT(c->s);
    char req[2048];
    int n = snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s\r\n", port,
                     std_headers ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                                 : "",
                     extra ? extra : "");
    T_EQ(grove_stream_write(c->s, req, (size_t)n), n);
    T_OK(grove_stream_flush(c->s));
    ssize_t hn = grove_stream_read_until(c->s, "\r\n\r\n", 4, c->resp, sizeof c->resp - 1);
    T_OK(hn);
    c->resp[hn] = 0;
    c->status = atoi(c->resp + 9);
}

static inline void t_raw_open(t_raw *c, int port, const char *extra)
{
    t_raw_open_hdrs(c, port, extra, true);
    if (c->status != 101)
        T_FAIL("handshake answered %d:\n%s", c->status, c->resp);
    T_ASSERT(strstr(c->resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
}

static inline void t_raw_close(t_raw *c) { grove_stream_close(c->s); }

/* Builds a frame: b0 is the first byte (FIN, RSV and opcode bits); masked unless
 * unmasked is set. Returns its length. */
static inline size_t t_frame(unsigned char *out, unsigned b0, const void *data, size_t len, bool unmasked)
{
    size_t n = 0;
    out[n++] = (unsigned char)b0;
    unsigned char m = unmasked ? 0 : 0x80;
    if (len < 126) {
        out[n++] = (unsigned char)(m | len);
    } else if (len < 65536) {
        out[n++] = m | 126;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (!unmasked) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++)
        out[n + i] = unmasked ? d[i] : (unsigned char)(d[i] ^ mask[i & 3]);
    return n + len;
}

/* Sends a frame, in writes of at most chunk bytes (0 = one write), with a yield between
 * writes so the server sees the pieces separately. */
static inline void t_send_chunked(t_raw *c, unsigned b0, const void *data, size_t len, size_t chunk)
{
    unsigned char *f = malloc(len + 14);
    T_ASSERT(f);
    size_t n = t_frame(f, b0, data, len, false);
    if (!chunk)
        chunk = n;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        T_EQ(grove_stream_write(c->s, f + off, k), k);
        T_OK(grove_stream_flush(c->s));
        if (chunk < n)
            grove_sleep(0);
    }
    free(f);
}

static inline void t_send(t_raw *c, unsigned b0, const void *data, size_t len) { t_send_chunked(c, b0, data, len, 0); }

static inline void t_send_raw(t_raw *c, const void *bytes, size_t n)
{
    T_EQ(grove_stream_write(c->s, bytes, n), n);
    T_OK(grove_stream_flush(c->s));
}

typedef struct t_fr {
    unsigned b0; /* first byte */
    int op;
    bool fin, rsv1;
    unsigned char *data; /* malloc'ed, NUL-terminated; free it */
    size_t len;
} t_fr;

/* Reads one server frame (which must be unmasked) within 5 s. Returns 0, or -errno
 * (-EPIPE at EOF). */
static inline int t_recv(t_raw *c, t_fr *f)
{
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    unsigned char h[10];
    memset(f, 0, sizeof *f);
    ssize_t r = grove_stream_read_exact(c->s, h, 2);
    if (r < 0) {
        grove_timeout_end(&to);
        return (int)r;
    }
    if (h[1] & 0x80)
        T_FAIL("the server sent a masked frame");
    f->b0 = h[0];
    f->op = h[0] & 0xf;
    f->fin = h[0] & 0x80;
    f->rsv1 = h[0] & 0x40;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        T_OK(grove_stream_read_exact(c->s, h, 2));
        len = (uint64_t)h[0] << 8 | h[1];
    } else if (len == 127) {
        T_OK(grove_stream_read_exact(c->s, h, 8));
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[i];
    }
    f->data = malloc(len + 1);
    T_ASSERT(f->data);
    if (len)
        T_OK(grove_stream_read_exact(c->s, f->data, len));
    f->data[len] = 0;
    f->len = len;
    grove_timeout_end(&to);
    return 0;
}

/* Expects the next frame to be a data or pong frame with this opcode and payload. */
static inline void t_expect(t_raw *c, int op, const void *data, size_t len)
{
    t_fr f;
    int rc = t_recv(c, &f);
    if (rc < 0)
        T_FAIL("expected opcode %d, got %s", op, grove_strerror(rc));
    if (f.op != op)
        T_FAIL("expected opcode %d, got %d (%zu bytes: %.60s)", op, f.op, f.len, f.data);
    T_ASSERT(f.fin);
    T_EQ(f.len, len);
    T_ASSERT(len == 0 || memcmp(f.data, data, len) == 0);
    free(f.data);
}

/* Expects a message (possibly fragmented) with this opcode and payload. */
static inline void t_expect_msg(t_raw *c, int op, const void *data, size_t len)
{
    size_t got = 0;
    for (bool first = true;; first = false) {
        t_fr f;
        int rc = t_recv(c, &f);
        if (rc < 0)
            T_FAIL("expected opcode %d, got %s", op, grove_strerror(rc));
        if (f.op != (first ? op : 0))
            T_FAIL("expected opcode %d, got %d", first ? op : 0, f.op);
        T_ASSERT(got + f.len <= len);
        T_ASSERT(f.len == 0 || memcmp(f.data, (const unsigned char *)data + got, f.len) == 0);
        got += f.len;
        free(f.data);
        if (f.fin)
            break;
    }
    T_EQ(got, len);
}

/* Expects a close frame with code (0 = no code at all), then the end of the stream. */
static inline void t_expect_close(t_raw *c, int code)
{
    t_fr f;
    for (;;) {
        int rc = t_recv(c, &f);
        if (rc < 0)
            T_FAIL("expected close %d, got %s", code, grove_strerror(rc));
        if (f.op == GROVE_WS_CLOSE)
            break;
        free(f.data); /* data echoed before the failure */
    }
    if (code == 0) {
        T_EQ(f.len, 0);
    } else {
        T_GE(f.len, 2);
        int got = f.data[0] << 8 | f.data[1];
        if (got != code)
            T_FAIL("expected close code %d, got %d (%.*s)", code, got, (int)f.len - 2, f.data + 2);
    }
    free(f.data);
}

/* Expects the server to close the TCP connection (after the close handshake). */
static inline void t_expect_eof(t_raw *c)
{
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    char b[64];
    ssize_t r;
    while ((r = grove_stream_read(c->s, b, sizeof b)) > 0) {
    }
    grove_timeout_end(&to);
    T_ASSERT(r == 0 || r == -ECONNRESET);
}

/* A random payload (deterministic per seed). */
static inline void t_fill(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

#endif
