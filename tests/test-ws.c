/* WebSocket conformance: a raw-frame harness against Grove's server, in the case
 * categories of the Autobahn testsuite (written here): framing, ping/pong, reserved bits,
 * opcodes, fragmentation, UTF-8, close handling, limits, compression (permessage-deflate
 * negotiation, context takeover, window bits, bad data); plus the handshakes (400/426,
 * subprotocols, the client's strict check of the 101 response), Grove's client against a
 * raw server (masking, close timeout), the pure frame parser and UTF-8 validator alone,
 * Grove client to Grove server over wss with a test CA, and concurrent send/receive. */
// ctest: labels=unit,net,ws,portable timeout=120 libs=grove_ws
#include "ws-harness.h"

#include "ws/ws-internal.h"

#include <sys/wait.h>
#include <zlib.h>

/* ---- The Grove server under test ----------------------------------------------------------- */

enum { ECHO_WHOLE, ECHO_PARTS, SERVER_CLOSES, SERVER_SILENT, SERVER_SLOW_FRAGMENTS };

static grove_ws_opts g_opts;
static int g_mode;
static int g_port;
static volatile int g_served;
static int g_accept_rc, g_last_rc, g_sent_code, g_recv_code;

static void echo(grove_ws *ws)
{
    grove_ws_msg m;
    int rc;
    if (g_mode == SERVER_CLOSES) {
        rc = grove_ws_recv(ws, &m);
        if (rc > 0 && !(rc & 8))
            rc = grove_ws_close(ws, 4001, "bye");
        g_last_rc = rc;
        return;
    }
    if (g_mode == SERVER_SLOW_FRAGMENTS) {
        /* a message in two fragments 150 ms apart, then the echo of whatever comes */
        T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "slow ", 5, false));
        grove_sleep(GROVE_MS(150));
        T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "message", 7, true));
        g_mode = ECHO_WHOLE;
        echo(ws);
        return;
    }
    if (g_mode == SERVER_SILENT) {
        /* reads nothing until the client is done */
        grove_sleep(GROVE_MS(300));
        g_last_rc = 0;
        return;
    }
    for (;;) {
        if (g_mode == ECHO_WHOLE)
            rc = grove_ws_recv(ws, &m);
        else
            rc = grove_ws_recv_part(ws, &m);
        if (rc < 0 || rc == GROVE_WS_CLOSE)
            break;
        if (rc == GROVE_WS_TEXT || rc == GROVE_WS_BINARY) {
            int s = g_mode == ECHO_WHOLE ? grove_ws_send(ws, rc, m.data, m.len)
                                         : grove_ws_send_part(ws, rc, m.data, m.len, m.fin);
            if (s < 0) {
                rc = s;
                break;
            }
        }
    }
    g_last_rc = rc;
    if (rc == GROVE_WS_CLOSE)
        T_EQ(grove_ws_close(ws, 1000, NULL), 0); /* already answered: returns at once */
}

static void handler(int fd, void *arg)
{
    grove_stream *s = grove_stream_wrap(fd, 0);
    t_head h;
    if (t_read_head(s, &h) == 0) {
        grove_ws *ws = NULL;
        g_accept_rc = grove_ws_accept(s, &h.req, &g_opts, &ws);
        if (g_accept_rc == 0) {
            echo(ws);
            g_sent_code = grove_ws_close_sent(ws);
            g_recv_code = grove_ws_close_received(ws);
            grove_ws_free(ws);
        }
    }
    grove_stream_close(s);
    g_served++;
}

/* Sets the server's behaviour for the next connection. */
static void server_mode(int mode, const grove_ws_opts *o)
{
    g_mode = mode;
    memset(&g_opts, 0, sizeof g_opts);
    if (o)
        g_opts = *o;
    g_opts.close_timeout = g_opts.close_timeout ? g_opts.close_timeout : GROVE_SEC(2);
    g_accept_rc = g_last_rc = g_sent_code = g_recv_code = 99999;
}

/* Waits until the handler of the connection just made has finished. */
static void wait_served(int before)
{
    int64_t end = grove_now() + GROVE_SEC(10);
    while (g_served == before) {
        if (grove_now() > end)
            T_FAIL("the server handler did not finish");
        grove_sleep(GROVE_MS(2));
    }
}

/* Opens a raw connection to the server in mode; returns g_served before it. */
static int open_raw(t_raw *c, int mode, const grove_ws_opts *o, const char *extra)
{
    server_mode(mode, o);
    int before = g_served;
    t_raw_open(c, g_port, extra);
    return before;
}

/* A protocol violation: the server fails the connection with code, then closes. */
static void expect_failure(t_raw *c, int before, int code, int err)
{
    t_expect_close(c, code);
    t_expect_eof(c);
    t_raw_close(c);
    wait_served(before);
    T_EQ(g_last_rc, err);
    T_EQ(g_sent_code, code);
}

/* The client's clean close; the server echoes it. */
static void clean_close(t_raw *c, int before)
{
    unsigned char p[2] = {0x03, 0xe8};
    t_send(c, 0x88, p, 2);
    t_expect_close(c, 1000);
    t_expect_eof(c);
    t_raw_close(c);
    wait_served(before);
    T_EQ(g_last_rc, GROVE_WS_CLOSE);
    T_EQ(g_recv_code, 1000);
}

/* ---- Pure pieces ---------------------------------------------------------------------------- */

static void test_accept_key(void)
{
    char out[29];
    T_OK(grove_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out)); /* RFC 6455 section 1.3 */
    T_STREQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    T_EQ(grove_ws_accept_key(NULL, out), -EINVAL);
}

static bool utf8_ok(const char *s, size_t n)
{
    grove__ws_utf8 u = {0};
    return grove__ws_utf8_feed(&u, (const unsigned char *)s, n) && grove__ws_utf8_done(&u);
}

static void test_utf8_validator(void)
{
    T_ASSERT(utf8_ok("", 0));
    T_ASSERT(utf8_ok("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", 26));
    T_ASSERT(utf8_ok("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11));
    T_ASSERT(utf8_ok("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80", 17));
    T_ASSERT(!utf8_ok("\xc0\xaf", 2));         /* overlong */
    T_ASSERT(!utf8_ok("\xe0\x80\xaf", 3));     /* overlong */
    T_ASSERT(!utf8_ok("\xf0\x80\x80\xaf", 4)); /* overlong */
    T_ASSERT(!utf8_ok("\xed\xa0\x80", 3));     /* surrogate */
    T_ASSERT(!utf8_ok("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    T_ASSERT(!utf8_ok("\xf5\x80\x80\x80", 4));
    T_ASSERT(!utf8_ok("\x80", 1));
    T_ASSERT(!utf8_ok("\xce\xba\xe1", 3)); /* truncated at the end */
    T_ASSERT(!utf8_ok("\xfe", 1));
    T_ASSERT(!utf8_ok("abcdefghij\xff", 11)); /* after an ASCII run */
    /* byte by byte, a valid sequence stays valid and an invalid one fails at its byte */
    const char *v = "\xf0\x9f\x98\x80 ok \xe2\x82\xac";
    grove__ws_utf8 u = {0};
    for (size_t i = 0; i < strlen(v); i++)
        T_ASSERT(grove__ws_utf8_feed(&u, (const unsigned char *)v + i, 1));
    T_ASSERT(grove__ws_utf8_done(&u));
    memset(&u, 0, sizeof u);
    T_ASSERT(grove__ws_utf8_feed(&u, (const unsigned char *)"\xed", 1));
    T_ASSERT(!grove__ws_utf8_feed(&u, (const unsigned char *)"\xa0", 1));
}

/* The parser gives the same events however the input is split. */
static void test_parser_splits(void)
{
    unsigned char stream[4096];
    size_t n = 0;
    unsigned char big[300];
    t_fill(big, sizeof big, 7);
    n += t_frame(stream + n, 0x81, "Hello", 5, false);
    n += t_frame(stream + n, 0x82, big, sizeof big, false);
    n += t_frame(stream + n, 0x89, "p", 1, false);
    n += t_frame(stream + n, 0x02, big, 10, false);
    n += t_frame(stream + n, 0x80, big + 10, 0, false);
    for (size_t step = 1; step <= n; step = step * 2 + 1) {
        unsigned char copy[4096];
        memcpy(copy, stream, n);
        grove__ws_parser p;
        grove__ws_parser_init(&p, true, false, 1 << 20);
        unsigned char got[4096];
        size_t glen = 0;
        int frames = 0, ends = 0;
        for (size_t off = 0; off < n;) {
            size_t k = n - off < step ? n - off : step;
            size_t used = 0;
            for (;;) {
                grove__ws_event ev;
                size_t u = grove__ws_parse(&p, copy + off + used, k - used, &ev);
                used += u;
                T_NE(ev.type, GROVE__WS_EV_ERROR);
                if (ev.type == GROVE__WS_EV_NONE)
                    break;
                if (ev.type == GROVE__WS_EV_FRAME)
                    frames++;
                if (ev.type == GROVE__WS_EV_END)
                    ends++;
                if (ev.type == GROVE__WS_EV_DATA) {
                    memcpy(got + glen, ev.data, ev.n);
                    glen += ev.n;
                }
            }
            T_EQ(used, k);
            off += k;
        }
        /* the last frame's END comes on the next call */
        grove__ws_event ev;
        grove__ws_parse(&p, NULL, 0, &ev);
        if (ev.type == GROVE__WS_EV_END)
            ends++;
        T_EQ(frames, 5);
        T_EQ(ends, 5);
        T_EQ(glen, 5 + 300 + 1 + 10);
        T_ASSERT(memcmp(got, "Hello", 5) == 0);
        T_ASSERT(memcmp(got + 5, big, 300) == 0);
        T_ASSERT(got[305] == 'p');
    }
}

static int parse_error(const unsigned char *bytes, size_t n, bool server, bool rsv1_ok, uint64_t max)
{
    unsigned char copy[64];
    memcpy(copy, bytes, n);
    grove__ws_parser p;
    grove__ws_parser_init(&p, server, rsv1_ok, max);
    size_t off = 0;
    for (;;) {
        grove__ws_event ev;
        off += grove__ws_parse(&p, copy + off, n - off, &ev);
        if (ev.type == GROVE__WS_EV_ERROR)
            return ev.code;
        if (ev.type == GROVE__WS_EV_NONE)
            return 0;
    }
}

static void test_parser_errors(void)
{
    T_EQ(parse_error((const unsigned char *)"\x81\x05Hello", 7, true, false, 100), 1002); /* unmasked */
    T_EQ(parse_error((const unsigned char *)"\x81\x05Hello", 7, false, false, 100), 0);
    T_EQ(parse_error((const unsigned char *)"\x81\x85....Hello", 11, false, false, 100), 1002); /* masked */
    T_EQ(parse_error((const unsigned char *)"\xc1\x80....", 6, true, false, 100), 1002);        /* RSV1 */
    T_EQ(parse_error((const unsigned char *)"\xc1\x80....", 6, true, true, 100), 0);
    T_EQ(parse_error((const unsigned char *)"\xa1\x80....", 6, true, true, 100), 1002);  /* RSV2 */
    T_EQ(parse_error((const unsigned char *)"\x93\x80....", 6, true, false, 100), 1002); /* opcode 3 */
    T_EQ(parse_error((const unsigned char *)"\x09\x80....", 6, true, false, 100), 1002); /* ping, no FIN */
    T_EQ(parse_error((const unsigned char *)"\x89\xfe\x00\x7e....", 8, true, false, 1000), 1002);
    T_EQ(parse_error((const unsigned char *)"\x80\x80....", 6, true, false, 100), 1002); /* lone continuation */
    T_EQ(parse_error((const unsigned char *)"\x01\x80....\x01\x80....", 12, true, false, 100), 1002);
    T_EQ(parse_error((const unsigned char *)"\x82\xff\x80\0\0\0\0\0\0\0....", 14, true, false, 100), 1002);
    T_EQ(parse_error((const unsigned char *)"\x82\xfe\x01\x00....", 8, true, false, 100), 1009);
    /* after an error the parser keeps reporting it */
    grove__ws_parser p;
    grove__ws_parser_init(&p, true, false, 100);
    unsigned char b[2] = {0x83, 0x80};
    grove__ws_event ev;
    grove__ws_parse(&p, b, 2, &ev);
    T_EQ(ev.type, GROVE__WS_EV_ERROR);
    T_EQ(grove__ws_parse(&p, b, 2, &ev), 0);
    T_EQ(ev.type, GROVE__WS_EV_ERROR);
}

/* ---- 1. Framing ------------------------------------------------------------------------------ */

static void test_framing(void)
{
    static const size_t sizes[] = {0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 1 << 20};
    unsigned char *p = malloc(1 << 20);
    t_fill(p, 1 << 20, 1);
    for (int mode = ECHO_WHOLE; mode <= ECHO_PARTS; mode++) {
        t_raw c;
        int before = open_raw(&c, mode, NULL, NULL);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            t_send(&c, 0x82, p, sizes[i]);
            /* whole: one frame back; pieces: echoed as fragments */
            if (mode == ECHO_WHOLE)
                t_expect(&c, GROVE_WS_BINARY, p, sizes[i]);
            else
                t_expect_msg(&c, GROVE_WS_BINARY, p, sizes[i]);
        }
        /* text, and frames written a byte (then 7 bytes) at a time */
        t_send(&c, 0x81, "Hello, world", 12);
        t_expect_msg(&c, GROVE_WS_TEXT, "Hello, world", 12);
        t_send_chunked(&c, 0x81, "byte by byte", 12, 1);
        t_expect_msg(&c, GROVE_WS_TEXT, "byte by byte", 12);
        t_send_chunked(&c, 0x82, p, 300, 7);
        t_expect_msg(&c, GROVE_WS_BINARY, p, 300);
        /* several frames in one write */
        unsigned char two[64];
        size_t n = t_frame(two, 0x81, "one", 3, false);
        n += t_frame(two + n, 0x81, "two", 3, false);
        t_send_raw(&c, two, n);
        t_expect(&c, GROVE_WS_TEXT, "one", 3);
        t_expect(&c, GROVE_WS_TEXT, "two", 3);
        clean_close(&c, before);
    }
    free(p);
}

/* ---- 2. Ping/pong ---------------------------------------------------------------------------- */

static void test_ping_pong(void)
{
    t_raw c;
    int before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x89, "", 0);
    t_expect(&c, GROVE_WS_PONG, "", 0);
    unsigned char p125[125];
    t_fill(p125, 125, 3);
    t_send(&c, 0x89, p125, 125);
    t_expect(&c, GROVE_WS_PONG, p125, 125);
    /* binary payload, a byte at a time */
    t_send_chunked(&c, 0x89, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8, 1);
    t_expect(&c, GROVE_WS_PONG, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8);
    /* an unsolicited pong is ignored */
    t_send(&c, 0x8a, "unsolicited", 11);
    t_send(&c, 0x81, "after pong", 10);
    t_expect(&c, GROVE_WS_TEXT, "after pong", 10);
    /* ten pings, ten pongs in order */
    for (int i = 0; i < 10; i++) {
        char b[8];
        snprintf(b, sizeof b, "p%d", i);
        t_send(&c, 0x89, b, strlen(b));
    }
    for (int i = 0; i < 10; i++) {
        char b[8];
        snprintf(b, sizeof b, "p%d", i);
        t_expect(&c, GROVE_WS_PONG, b, strlen(b));
    }
    clean_close(&c, before);

    /* a ping of 126 bytes is a protocol error */
    unsigned char p126[126];
    t_fill(p126, 126, 4);
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x89, p126, 126);
    expect_failure(&c, before, 1002, -EPROTO);

    /* deliver_control: the application sees pings and pongs too, and pings are answered */
    grove_ws_opts o = {.deliver_control = 1};
    before = open_raw(&c, ECHO_WHOLE, &o, NULL);
    t_send(&c, 0x89, "seen", 4);
    t_expect(&c, GROVE_WS_PONG, "seen", 4);
    clean_close(&c, before);
}

/* ---- 3. Reserved bits, 4. opcodes ------------------------------------------------------------ */

static void test_reserved_bits(void)
{
    static const unsigned b0s[] = {0xc1, 0xa1, 0x91, 0xf1, 0xc2, 0xa9, 0xc9, 0xb8};
    for (size_t i = 0; i < sizeof b0s / sizeof *b0s; i++) {
        t_raw c;
        int before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
        /* a good message first: it is echoed before the failure */
        t_send(&c, 0x81, "ok", 2);
        t_send(&c, b0s[i], "bad", 3);
        t_send(&c, 0x89, "never", 5);
        t_expect(&c, GROVE_WS_TEXT, "ok", 2);
        expect_failure(&c, before, 1002, -EPROTO);
    }
}

static void test_opcodes(void)
{
    static const unsigned ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        t_raw c;
        int before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
        t_send(&c, 0x81, "ok", 2);
        t_send(&c, 0x80 | ops[i], i % 2 ? "" : "payload", i % 2 ? 0 : 7);
        t_expect(&c, GROVE_WS_TEXT, "ok", 2);
        expect_failure(&c, before, 1002, -EPROTO);
    }
}

/* ---- 5. Fragmentation ------------------------------------------------------------------------ */

static void test_fragmentation(void)
{
    t_raw c;
    int before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    /* text in three fragments, pings between them answered at once */
    t_send(&c, 0x01, "frag", 4);
    t_send(&c, 0x89, "mid1", 4);
    t_expect(&c, GROVE_WS_PONG, "mid1", 4);
    t_send(&c, 0x00, "ment", 4);
    t_send(&c, 0x89, "mid2", 4);
    t_expect(&c, GROVE_WS_PONG, "mid2", 4);
    t_send(&c, 0x80, "ed", 2);
    t_expect(&c, GROVE_WS_TEXT, "fragmented", 10);
    /* many one-byte fragments, and empty ones */
    const char *msg = "one byte per fragment";
    t_send(&c, 0x02, msg, 1);
    for (size_t i = 1; i < strlen(msg); i++) {
        t_send(&c, 0x00, msg + i, 1);
        if (i % 5 == 0)
            t_send(&c, 0x00, "", 0);
    }
    t_send(&c, 0x80, "", 0);
    t_expect(&c, GROVE_WS_BINARY, msg, strlen(msg));
    t_send(&c, 0x01, "", 0);
    t_send(&c, 0x00, "", 0);
    t_send(&c, 0x80, "", 0);
    t_expect(&c, GROVE_WS_TEXT, "", 0);
    clean_close(&c, before);

    /* piece-wise receive echoes fragments as they come */
    before = open_raw(&c, ECHO_PARTS, NULL, NULL);
    t_send(&c, 0x01, "abc", 3);
    t_fr f;
    T_OK(t_recv(&c, &f));
    T_EQ(f.op, GROVE_WS_TEXT);
    T_ASSERT(!f.fin);
    T_EQ(f.len, 3);
    free(f.data);
    t_send(&c, 0x80, "def", 3);
    T_OK(t_recv(&c, &f));
    T_EQ(f.op, 0);
    T_ASSERT(f.fin);
    T_ASSERT(memcmp(f.data, "def", 3) == 0);
    free(f.data);
    clean_close(&c, before);

    /* violations */
    struct {
        unsigned b0[3];
        int n;
    } bad[] = {
        {{0x80}, 1},       /* continuation without a message */
        {{0x00}, 1},       /* non-final continuation without a message */
        {{0x01, 0x81}, 2}, /* a new text message inside a fragmented one */
        {{0x01, 0x02}, 2}, /* binary start inside a text message */
        {{0x09}, 1},       /* fragmented ping */
        {{0x0a}, 1},       /* fragmented pong */
        {{0x08}, 1},       /* fragmented close */
        {{0x01, 0x09}, 2}, /* fragmented ping inside a fragmented message */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
        for (int k = 0; k < bad[i].n; k++)
            t_send(&c, bad[i].b0[k], "xy", 2);
        expect_failure(&c, before, 1002, -EPROTO);
    }
}

/* ---- 6. UTF-8 --------------------------------------------------------------------------------- */

static void test_utf8(void)
{
    static const char *good[] = {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                                 "\xf0\x90\x80\x80",
                                 "\xf4\x8f\xbf\xbf",
                                 "\xef\xbf\xbf\xef\xbb\xbf",
                                 "\xed\x9f\xbf",
                                 "plain"};
    t_raw c;
    int before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        t_send(&c, 0x81, good[i], strlen(good[i]));
        t_expect(&c, GROVE_WS_TEXT, good[i], strlen(good[i]));
    }
    /* a valid text split inside its code points, one byte per fragment */
    const char *k = good[0];
    t_send(&c, 0x01, k, 1);
    for (size_t i = 1; i + 1 < strlen(k); i++)
        t_send(&c, 0x00, k + i, 1);
    t_send(&c, 0x80, k + strlen(k) - 1, 1);
    t_expect(&c, GROVE_WS_TEXT, k, strlen(k));
    /* binary messages are not checked */
    t_send(&c, 0x82, "\xff\xfe", 2);
    t_expect(&c, GROVE_WS_BINARY, "\xff\xfe", 2);
    clean_close(&c, before);

    static const char *bad[] = {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                                "edited",
                                "\xc0\xaf",
                                "\xf4\x90\x80\x80",
                                "\xce\xba\xe1", /* ends inside a code point */
                                "\x80",
                                "\xfe\xfe\xff\xff"};
    for (int mode = ECHO_WHOLE; mode <= ECHO_PARTS; mode++)
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            before = open_raw(&c, mode, NULL, NULL);
            t_send(&c, 0x81, bad[i], strlen(bad[i]));
            expect_failure(&c, before, 1007, -EILSEQ);
        }
    /* fail fast: an invalid first fragment closes at once, before the message ends */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x01, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", 15);
    expect_failure(&c, before, 1007, -EILSEQ);
    /* invalid across fragments: the first is a valid prefix, the second breaks it */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x01, "ok\xed", 3);
    t_send(&c, 0x80, "\xa0\x80", 2);
    expect_failure(&c, before, 1007, -EILSEQ);
    /* ends inside a code point across fragments */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x01, "ok", 2);
    t_send(&c, 0x80, "\xf0\x90", 2);
    expect_failure(&c, before, 1007, -EILSEQ);
}

/* ---- 7. Close handling ------------------------------------------------------------------------ */

static void test_close(void)
{
    t_raw c;
    /* close without a code: echoed without a code; the server reports 1005 */
    int before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x88, "", 0);
    t_expect_close(&c, 0);
    t_expect_eof(&c);
    t_raw_close(&c);
    wait_served(before);
    T_EQ(g_last_rc, GROVE_WS_CLOSE);
    T_EQ(g_recv_code, 1005);

    /* valid codes are echoed, with a 123-byte reason */
    static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
    char reason[124];
    memset(reason, 'r', 123);
    reason[123] = 0;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
        unsigned char p[125];
        p[0] = (unsigned char)(ok[i] >> 8);
        p[1] = (unsigned char)ok[i];
        memcpy(p + 2, reason, 123);
        t_send(&c, 0x88, p, i % 2 ? 125 : 2);
        t_expect_close(&c, ok[i]);
        t_expect_eof(&c);
        t_raw_close(&c);
        wait_served(before);
        T_EQ(g_recv_code, ok[i]);
    }
    /* invalid codes and a one-byte payload: 1002 */
    static const int badc[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof badc / sizeof *badc; i++) {
        before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
        unsigned char p[2] = {(unsigned char)(badc[i] >> 8), (unsigned char)badc[i]};
        t_send(&c, 0x88, p, 2);
        expect_failure(&c, before, 1002, -EPROTO);
    }
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x88, "\x03", 1);
    expect_failure(&c, before, 1002, -EPROTO);
    /* a close frame over 125 bytes */
    unsigned char long_close[126];
    memset(long_close, 'x', sizeof long_close);
    long_close[0] = 0x03;
    long_close[1] = 0xe8;
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x88, long_close, sizeof long_close);
    expect_failure(&c, before, 1002, -EPROTO);
    /* a reason that is not UTF-8: 1007 */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x88,
           "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
           "",
           16);
    expect_failure(&c, before, 1007, -EILSEQ);
    /* frames after the close are ignored: only the close is echoed */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    unsigned char burst[64];
    size_t n = t_frame(burst, 0x88, "\x03\xe8", 2, false);
    n += t_frame(burst + n, 0x81, "late", 4, false);
    n += t_frame(burst + n, 0x89, "late", 4, false);
    t_send_raw(&c, burst, n);
    t_expect_close(&c, 1000);
    t_expect_eof(&c);
    t_raw_close(&c);
    wait_served(before);
    /* a close in the middle of a fragmented message */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x01, "half", 4);
    t_send(&c, 0x88, "\x03\xe8", 2);
    t_expect_close(&c, 1000);
    t_expect_eof(&c);
    t_raw_close(&c);
    wait_served(before);

    /* the server starts the close: 4001 "bye", then waits for ours */
    before = open_raw(&c, SERVER_CLOSES, NULL, NULL);
    t_send(&c, 0x81, "hi", 2);
    t_fr f;
    T_OK(t_recv(&c, &f));
    T_EQ(f.op, GROVE_WS_CLOSE);
    T_EQ(f.len, 5);
    T_EQ(f.data[0] << 8 | f.data[1], 4001);
    T_ASSERT(memcmp(f.data + 2, "bye", 3) == 0);
    free(f.data);
    t_send(&c, 0x88, "\x0f\xa1", 2);
    t_expect_eof(&c);
    t_raw_close(&c);
    wait_served(before);
    T_EQ(g_last_rc, 0);
    T_EQ(g_recv_code, 4001);

    /* the server's close times out when the client never answers */
    grove_ws_opts o = {.close_timeout = GROVE_MS(200)};
    before = open_raw(&c, SERVER_CLOSES, &o, NULL);
    int64_t t0 = grove_now();
    t_send(&c, 0x81, "hi", 2);
    T_OK(t_recv(&c, &f));
    T_EQ(f.op, GROVE_WS_CLOSE);
    free(f.data);
    wait_served(before);
    T_EQ(g_last_rc, -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_SEC(2));
    t_expect_eof(&c);
    t_raw_close(&c);

    /* the stream ends without a close: -ECONNRESET, status 1006 */
    before = open_raw(&c, ECHO_WHOLE, NULL, NULL);
    t_send(&c, 0x01, "half", 4);
    t_raw_close(&c);
    wait_served(before);
    T_EQ(g_last_rc, -ECONNRESET);
    T_EQ(g_recv_code, 1006);
}

/* ---- 8. Limits -------------------------------------------------------------------------------- */

static void test_limits(void)
{
    grove_ws_opts o = {.max_frame = 1000, .max_message = 3000};
    unsigned char p[4096];
    t_fill(p, sizeof p, 9);
    t_raw c;
    int before = open_raw(&c, ECHO_WHOLE, &o, NULL);
    t_send(&c, 0x82, p, 1000); /* at the limit: fine */
    t_expect(&c, GROVE_WS_BINARY, p, 1000);
    t_send(&c, 0x02, p, 1000); /* 3000 in fragments: fine */
    t_send(&c, 0x00, p + 1000, 1000);
    t_send(&c, 0x80, p + 2000, 1000);
    t_expect(&c, GROVE_WS_BINARY, p, 3000);
    t_send(&c, 0x82, p, 1001); /* one byte over the frame limit */
    expect_failure(&c, before, 1009, -EMSGSIZE);
    /* a message over the limit in fragments within the frame limit */
    before = open_raw(&c, ECHO_WHOLE, &o, NULL);
    for (int i = 0; i < 3; i++)
        t_send(&c, i ? 0x00 : 0x02,
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaa",
               100);
    t_send(&c, 0x00, p, 1000);
    t_send(&c, 0x00, p, 1000);
    t_send(&c, 0x80, p, 1000);
    expect_failure(&c, before, 1009, -EMSGSIZE);
    /* the frame limit is checked on the header, before any payload arrives */
    before = open_raw(&c, ECHO_WHOLE, &o, NULL);
    unsigned char hdr[14] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}; /* 4 GiB */
    t_send_raw(&c, hdr, sizeof hdr);
    expect_failure(&c, before, 1009, -EMSGSIZE);
    /* piece-wise receive is not bound by max_message, only by max_frame */
    before = open_raw(&c, ECHO_PARTS, &o, NULL);
    for (int i = 0; i < 5; i++)
        t_send(&c, i ? 0x00 : 0x02, p, 1000);
    t_send(&c, 0x80, "", 0);
    size_t got = 0;
    for (;;) {
        t_fr f;
        T_OK(t_recv(&c, &f));
        got += f.len;
        free(f.data);
        if (f.fin)
            break;
    }
    T_EQ(got, 5000);
    clean_close(&c, before);
}

/* ---- 9. Compression (permessage-deflate) ----------------------------------------------------- */

typedef struct t_z {
    z_stream d, i;
} t_z;

static void tz_init(t_z *z, int bits)
{
    memset(z, 0, sizeof *z);
    T_EQ(deflateInit2(&z->d, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    T_EQ(inflateInit2(&z->i, -15), Z_OK);
}

static void tz_end(t_z *z)
{
    deflateEnd(&z->d);
    inflateEnd(&z->i);
}

/* Compresses a message as a permessage-deflate sender does. */
static size_t tz_deflate(t_z *z, const void *in, size_t n, unsigned char *out, size_t cap)
{
    z->d.next_in = (Bytef *)(uintptr_t)in;
    z->d.avail_in = (uInt)n;
    z->d.next_out = out;
    z->d.avail_out = (uInt)cap;
    int zr = deflate(&z->d, Z_SYNC_FLUSH);
    size_t len = cap - z->d.avail_out;
    if (zr == Z_BUF_ERROR && len == 0) {
        out[0] = 0; /* nothing new to flush: an empty stored block's header byte */
        return 1;
    }
    T_EQ(zr, Z_OK);
    T_ASSERT(len >= 4 && memcmp(out + len - 4, "\x00\x00\xff\xff", 4) == 0);
    return len - 4;
}

static size_t tz_inflate(t_z *z, const void *in, size_t n, unsigned char *out, size_t cap)
{
    unsigned char *buf = malloc(n + 4);
    memcpy(buf, in, n);
    memcpy(buf + n, "\x00\x00\xff\xff", 4);
    z->i.next_in = buf;
    z->i.avail_in = (uInt)(n + 4);
    z->i.next_out = out;
    z->i.avail_out = (uInt)cap;
    int zr = inflate(&z->i, Z_SYNC_FLUSH);
    T_ASSERT(zr == Z_OK || zr == Z_BUF_ERROR);
    T_EQ(z->i.avail_in, 0);
    free(buf);
    return cap - z->i.avail_out;
}

/* Reads a compressed echo and checks it inflates to want. */
static void expect_compressed(t_raw *c, t_z *z, int op, const void *want, size_t n)
{
    t_fr f;
    T_OK(t_recv(c, &f));
    if (f.op == GROVE_WS_CLOSE && f.len >= 2)
        T_FAIL("closed with %d: %s", f.data[0] << 8 | f.data[1], (const char *)f.data + 2);
    T_EQ(f.op, op);
    T_ASSERT(f.rsv1);
    T_ASSERT(f.fin);
    unsigned char *out = malloc(n + 64);
    size_t got = tz_inflate(z, f.data, f.len, out, n + 64);
    T_EQ(got, n);
    T_ASSERT(memcmp(out, want, n) == 0);
    free(out);
    free(f.data);
}

static const char *ext_line(const char *resp)
{
    const char *e = strcasestr(resp, "Sec-WebSocket-Extensions:");
    return e ? e : "";
}

static void test_deflate_negotiation(void)
{
    grove_ws_opts on = {.deflate = 1};
    t_raw c;
    struct {
        const char *offer;
        const char *answer; /* NULL = declined */
    } cases[] = {
        {"permessage-deflate", "Sec-WebSocket-Extensions: permessage-deflate\r\n"},
        {"permessage-deflate; client_max_window_bits", "Sec-WebSocket-Extensions: permessage-deflate\r\n"},
        {"permessage-deflate; server_no_context_takeover",
         "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"},
        {"permessage-deflate; client_no_context_takeover",
         "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"},
        {"permessage-deflate; server_max_window_bits=10",
         "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n"},
        {"permessage-deflate; server_max_window_bits=\"12\"",
         "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n"},
        /* invalid offers are declined, and a later valid one is taken */
        {"permessage-deflate; server_max_window_bits=16", NULL},
        {"permessage-deflate; server_max_window_bits=08", NULL},
        {"permessage-deflate; server_max_window_bits", NULL},
        {"permessage-deflate; unknown_param", NULL},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", NULL},
        {"permessage-deflate; server_no_context_takeover=1", NULL},
        {"x-webkit-deflate-frame", NULL},
        {"foo, permessage-deflate; bogus, permessage-deflate; server_max_window_bits=9",
         "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "Sec-WebSocket-Extensions: %s\r\n", cases[i].offer);
        int before = open_raw(&c, ECHO_WHOLE, &on, hdr);
        if (cases[i].answer) {
            if (!strstr(c.resp, cases[i].answer))
                T_FAIL("offer %s: expected %s, got:\n%s", cases[i].offer, cases[i].answer, c.resp);
        } else if (*ext_line(c.resp)) {
            T_FAIL("offer %s should be declined:\n%s", cases[i].offer, c.resp);
        }
        clean_close(&c, before);
    }
    /* a server without deflate declines, and RSV1 is then a protocol error */
    int before = open_raw(&c, ECHO_WHOLE, NULL, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    T_ASSERT(!*ext_line(c.resp));
    t_send(&c, 0xc1, "x", 1);
    expect_failure(&c, before, 1002, -EPROTO);
    /* the server's own window and context settings are announced */
    grove_ws_opts small = {.deflate = 1, .deflate_window_bits = 11, .deflate_no_context_takeover = 1};
    before = open_raw(&c, ECHO_WHOLE, &small, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    T_ASSERT(strstr(c.resp, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11\r\n"));
    clean_close(&c, before);
}

static void test_deflate_messages(void)
{
    grove_ws_opts on = {.deflate = 1};
    unsigned char *p = malloc(200000), *z = malloc(300000);
    for (size_t i = 0; i < 200000; i++) /* compressible, not trivial */
        p[i] = (unsigned char)("the quick brown fox jumps over the lazy dog "[i % 44] ^ (i / 997 % 2));
    for (int mode = ECHO_WHOLE; mode <= ECHO_PARTS; mode++) {
        t_raw c;
        int before =
            open_raw(&c, mode, &on, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
        T_ASSERT(strstr(c.resp, "permessage-deflate"));
        t_z tz;
        tz_init(&tz, 15);
        /* compressed text, context carried from one message to the next */
        for (int k = 0; k < 3; k++) {
            size_t n = tz_deflate(&tz, "Hello, compressed world", 23, z, 300000);
            t_send(&c, 0xc1, z, n);
            if (mode == ECHO_WHOLE) {
                expect_compressed(&c, &tz, GROVE_WS_TEXT, "Hello, compressed world", 23);
            } else {
                /* piece-wise echo: fragments, inflated as one message */
                unsigned char all[256], out[64];
                size_t alen = 0;
                for (;;) {
                    t_fr f;
                    T_OK(t_recv(&c, &f));
                    T_ASSERT(alen + f.len <= sizeof all);
                    memcpy(all + alen, f.data, f.len);
                    alen += f.len;
                    bool fin = f.fin;
                    free(f.data);
                    if (fin)
                        break;
                }
                size_t got = tz_inflate(&tz, all, alen, out, sizeof out);
                T_EQ(got, 23);
                T_ASSERT(memcmp(out, "Hello, compressed world", 23) == 0);
            }
        }
        /* a large message (inflated in 16 KiB pieces), and an uncompressed one between */
        if (mode == ECHO_WHOLE) {
            size_t n = tz_deflate(&tz, p, 200000, z, 300000);
            T_LT(n, 100000);
            t_send(&c, 0xc2, z, n);
            expect_compressed(&c, &tz, GROVE_WS_BINARY, p, 200000);
            t_send(&c, 0x81, "plain", 5); /* RSV1 clear: not compressed */
            expect_compressed(&c, &tz, GROVE_WS_TEXT, "plain", 5);
            /* a compressed message in three fragments: RSV1 on the first only */
            n = tz_deflate(&tz, p, 5000, z, 300000);
            t_send(&c, 0x42, z, n / 3);
            t_send(&c, 0x00, z + n / 3, n / 3);
            t_send(&c, 0x80, z + 2 * (n / 3), n - 2 * (n / 3));
            expect_compressed(&c, &tz, GROVE_WS_BINARY, p, 5000);
            /* an empty compressed message */
            n = tz_deflate(&tz, "", 0, z, 300000);
            t_send(&c, 0xc1, z, n);
            expect_compressed(&c, &tz, GROVE_WS_TEXT, "", 0);
            /* a message ending in a BFINAL block (RFC 7692 section 7.2.3.3), then a
             * fresh stream for the next one */
            for (int k = 0; k < 2; k++) {
                z_stream f;
                memset(&f, 0, sizeof f);
                T_EQ(deflateInit2(&f, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
                f.next_in = (Bytef *)"final block message";
                f.avail_in = 19;
                f.next_out = z;
                f.avail_out = 1000;
                T_EQ(deflate(&f, Z_FINISH), Z_STREAM_END);
                n = 1000 - f.avail_out;
                deflateEnd(&f);
                t_send(&c, 0xc1, z, n);
                expect_compressed(&c, &tz, GROVE_WS_TEXT, "final block message", 19);
            }
            t_z fresh;
            tz_init(&fresh, 15);
            n = tz_deflate(&fresh, "after the final block", 21, z, 300000);
            tz_end(&fresh);
            t_send(&c, 0xc1, z, n);
            expect_compressed(&c, &tz, GROVE_WS_TEXT, "after the final block", 21);
        }
        clean_close(&c, before);
        tz_end(&tz);
    }
    /* RSV1 on a continuation frame */
    t_raw c;
    int before = open_raw(&c, ECHO_WHOLE, &on, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    t_send(&c, 0x41, "\x00", 1);
    t_send(&c, 0xc0, "\x00", 1);
    expect_failure(&c, before, 1002, -EPROTO);
    /* data that does not inflate: 1007 */
    before = open_raw(&c, ECHO_WHOLE, &on, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    t_send(&c, 0xc2, "\xff\xff\xff\xff\xff", 5);
    expect_failure(&c, before, 1007, -EBADMSG);
    /* compressed text that inflates to invalid UTF-8: 1007 */
    t_z tz;
    tz_init(&tz, 15);
    before = open_raw(&c, ECHO_WHOLE, &on, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    size_t n = tz_deflate(&tz, "ok\xed\xa0\x80", 5, z, 300000);
    t_send(&c, 0xc1, z, n);
    expect_failure(&c, before, 1007, -EILSEQ);
    tz_end(&tz);
    /* a decompression bomb stops at max_message: 1009 */
    grove_ws_opts lim = {.deflate = 1, .max_message = 100000};
    memset(p, 'A', 200000);
    tz_init(&tz, 15);
    n = tz_deflate(&tz, p, 200000, z, 300000);
    T_LT(n, 1000);
    before = open_raw(&c, ECHO_WHOLE, &lim, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    t_send(&c, 0xc2, z, n);
    expect_failure(&c, before, 1009, -EMSGSIZE);
    tz_end(&tz);
    free(p);
    free(z);
}

/* The server honours no-context-takeover and its window: every message it sends inflates
 * alone (a fresh inflater each time) when server_no_context_takeover was asked. */
static void test_deflate_context(void)
{
    grove_ws_opts on = {.deflate = 1};
    t_raw c;
    int before = open_raw(&c, ECHO_WHOLE, &on,
                          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                          "client_no_context_takeover; server_max_window_bits=9\r\n");
    T_ASSERT(strstr(c.resp, "server_no_context_takeover"));
    T_ASSERT(strstr(c.resp, "server_max_window_bits=9"));
    unsigned char msg[3000], z[4000];
    t_fill(msg, 1000, 5);
    memcpy(msg + 1000, msg, 1000); /* repeats at distance 1000 > 512: not reachable with 9 bits */
    memcpy(msg + 2000, msg, 1000);
    for (int k = 0; k < 3; k++) {
        t_z tz;
        tz_init(&tz, 15); /* fresh each message: no context taken over */
        size_t n = tz_deflate(&tz, msg, sizeof msg, z, sizeof z);
        t_send(&c, 0xc2, z, n);
        t_fr f;
        T_OK(t_recv(&c, &f));
        T_ASSERT(f.rsv1);
        /* a 512-byte window inflater proves the server kept to 9 bits */
        z_stream i9;
        memset(&i9, 0, sizeof i9);
        T_EQ(inflateInit2(&i9, -9), Z_OK);
        unsigned char *buf = malloc(f.len + 4), out[4000];
        memcpy(buf, f.data, f.len);
        memcpy(buf + f.len, "\x00\x00\xff\xff", 4);
        i9.next_in = buf;
        i9.avail_in = (uInt)f.len + 4;
        i9.next_out = out;
        i9.avail_out = sizeof out;
        int zr = inflate(&i9, Z_SYNC_FLUSH);
        T_ASSERT(zr == Z_OK || zr == Z_BUF_ERROR);
        T_EQ(sizeof out - i9.avail_out, sizeof msg);
        T_ASSERT(memcmp(out, msg, sizeof msg) == 0);
        inflateEnd(&i9);
        free(buf);
        free(f.data);
        tz_end(&tz);
    }
    clean_close(&c, before);
}

/* ---- Handshakes ------------------------------------------------------------------------------- */

static void test_server_handshake(void)
{
    struct {
        const char *hdrs;
        int status, err;
    } cases[] = {
        {"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 400,
         -EINVAL},
        {"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 400,
         -EINVAL},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400, -EINVAL},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400, -EINVAL}, /* 10 bytes, not 16 */
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400, -EINVAL},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 8\r\n",
         426, -EPROTONOSUPPORT},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 426,
         -EPROTONOSUPPORT},
        /* token lists, any case */
        {"Upgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         101, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        t_raw c;
        server_mode(ECHO_WHOLE, NULL);
        int before = g_served;
        t_raw_open_hdrs(&c, g_port, cases[i].hdrs, false);
        if (c.status != cases[i].status)
            T_FAIL("case %zu: status %d, want %d", i, c.status, cases[i].status);
        if (c.status == 426)
            T_ASSERT(strstr(c.resp, "Sec-WebSocket-Version: 13\r\n"));
        if (c.status == 101) {
            clean_close(&c, before);
        } else {
            t_raw_close(&c);
            wait_served(before);
        }
        T_EQ(g_accept_rc, cases[i].err);
    }
    /* a POST is refused */
    t_raw c;
    server_mode(ECHO_WHOLE, NULL);
    int before = g_served;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port);
    c.fd = grove_connect(addr);
    c.s = grove_stream_new(c.fd, 0);
    const char *post = "POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    t_send_raw(&c, post, strlen(post));
    char resp[512];
    T_OK(grove_stream_read_until(c.s, "\r\n\r\n", 4, resp, sizeof resp));
    T_ASSERT(strncmp(resp, "HTTP/1.1 400", 12) == 0);
    t_raw_close(&c);
    wait_served(before);

    /* subprotocols: the first of the client's list that the server supports */
    grove_ws_opts o = {.protocols = "chat.v2, chat.v1"};
    before = open_raw(&c, ECHO_WHOLE, &o, "Sec-WebSocket-Protocol: superchat, chat.v1, chat.v2\r\n");
    T_ASSERT(strstr(c.resp, "Sec-WebSocket-Protocol: chat.v1\r\n"));
    clean_close(&c, before);
    before = open_raw(&c, ECHO_WHOLE, &o, "Sec-WebSocket-Protocol: other\r\n");
    T_ASSERT(!strcasestr(c.resp, "Sec-WebSocket-Protocol"));
    clean_close(&c, before);
    /* NULL arguments, options out of range */
    grove_ws *ws;
    T_EQ(grove_ws_accept(NULL, NULL, NULL, &ws), -EINVAL);
    grove_ws_opts badl = {.deflate_level = 10}, badw = {.deflate_window_bits = 7};
    int sv[2];
    T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    grove_stream *ds = grove_stream_new(sv[0], 0);
    T_EQ(grove_ws_accept(ds, &(grove_ws_request){0}, &badl, &ws), -EINVAL);
    char byte;
    T_EQ(recv(sv[1], &byte, 1, MSG_DONTWAIT), -1); /* nothing was written */
    grove_stream_close(ds);
    close(sv[1]);
    T_EQ(grove_ws_connect("ws://127.0.0.1:1/", &badw, &ws), -EINVAL);
}

/* A client that sends its first frames in the same write as its request: they are
 * buffered in the stream when grove_ws_accept runs (as with a stream handed over by an
 * HTTP server) and must be read from there. */
static void test_frames_with_request(void)
{
    server_mode(ECHO_WHOLE, NULL);
    int before = g_served;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port);
    t_raw c;
    c.fd = grove_connect(addr);
    T_OK(c.fd);
    c.s = grove_stream_new(c.fd, 0);
    unsigned char out[1024];
    int n = snprintf((char *)out, sizeof out,
                     "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    size_t len = (size_t)n;
    len += t_frame(out + len, 0x81, "early one", 9, false);
    len += t_frame(out + len, 0x89, "early ping", 10, false);
    len += t_frame(out + len, 0x82, "early two", 9, false);
    t_send_raw(&c, out, len);
    T_OK(grove_stream_read_until(c.s, "\r\n\r\n", 4, c.resp, sizeof c.resp));
    T_ASSERT(strncmp(c.resp, "HTTP/1.1 101 ", 13) == 0);
    t_expect(&c, GROVE_WS_TEXT, "early one", 9);
    t_expect(&c, GROVE_WS_PONG, "early ping", 10);
    t_expect(&c, GROVE_WS_BINARY, "early two", 9);
    clean_close(&c, before);
}

/* ---- Grove's client against a raw server ---------------------------------------------------- */

typedef struct raw_srv {
    int listen_fd, port;
    const char *response;       /* the handshake answer; "%s" gets the right accept key */
    const unsigned char *after; /* bytes sent after the handshake */
    size_t after_len;
    char request[4096];         /* what the client sent */
    unsigned char frames[4096]; /* client frames read after the handshake (raw) */
    size_t frames_len;
    bool read_frames, answer_close;
    grove_thread *th;
} raw_srv;

static void *raw_server(void *arg)
{
    raw_srv *r = arg;
    int fd = grove_accept(r->listen_fd, NULL, NULL);
    T_OK(fd);
    grove_stream *s = grove_stream_new(fd, 0);
    ssize_t n = grove_stream_read_until(s, "\r\n\r\n", 4, r->request, sizeof r->request - 1);
    T_OK(n);
    r->request[n] = 0;
    const char *k = strstr(r->request, "Sec-WebSocket-Key: ");
    T_ASSERT(k);
    char key[64], acc[29];
    sscanf(k + 19, "%63[^\r]", key);
    grove_ws_accept_key(key, acc);
    char resp[2048];
    int rl = snprintf(resp, sizeof resp, r->response, acc);
    grove_stream_write(s, resp, (size_t)rl);
    if (r->after_len)
        grove_stream_write(s, r->after, r->after_len);
    grove_stream_flush(s);
    if (r->read_frames) {
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(3));
        for (;;) {
            ssize_t m = grove_stream_read(s, r->frames + r->frames_len, sizeof r->frames - r->frames_len);
            if (m <= 0)
                break;
            r->frames_len += (size_t)m;
            /* answer a close frame (masked, 2+4+len bytes) once it is complete */
            if (r->answer_close) {
                size_t off = 0;
                while (off + 6 <= r->frames_len) {
                    size_t len = r->frames[off + 1] & 0x7f;
                    if (off + 6 + len > r->frames_len)
                        break;
                    if ((r->frames[off] & 0xf) == 8) {
                        grove_stream_write(s, "\x88\x02\x03\xe8", 4);
                        grove_stream_flush(s);
                    }
                    off += 6 + len;
                }
            }
        }
        grove_timeout_end(&to);
    }
    grove_stream_close(s);
    return NULL;
}

static void raw_srv_start(raw_srv *r, const char *response)
{
    memset(r, 0, sizeof *r);
    r->listen_fd = grove_listen("127.0.0.1:0", 8);
    T_OK(r->listen_fd);
    r->port = grove_sock_port(r->listen_fd);
    r->response = response;
}

static void raw_srv_run(raw_srv *r) { r->th = grove_spawn(raw_server, r); }

static void raw_srv_end(raw_srv *r)
{
    T_OK(grove_join(r->th, NULL));
    grove_close(r->listen_fd);
}

#define OK_101                                                                                                         \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"

static int client_against(const char *response, const grove_ws_opts *o, raw_srv *r)
{
    raw_srv_start(r, response);
    raw_srv_run(r);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/path?q=1", r->port);
    grove_ws *ws = NULL;
    int rc = grove_ws_connect(url, o, &ws);
    if (rc == 0)
        grove_ws_free(ws);
    raw_srv_end(r);
    return rc;
}

static void test_client_handshake(void)
{
    raw_srv r;
    T_EQ(client_against(OK_101 "\r\n", NULL, &r), 0);
    T_ASSERT(strstr(r.request, "GET /path?q=1 HTTP/1.1\r\n"));
    T_ASSERT(strstr(r.request, "Host: 127.0.0.1:"));
    T_ASSERT(strstr(r.request, "Sec-WebSocket-Version: 13\r\n"));
    T_ASSERT(!strstr(r.request, "Sec-WebSocket-Extensions"));
    /* the key is random: 16 bytes of base64, different each time */
    char k1[64], k2[64];
    sscanf(strstr(r.request, "Sec-WebSocket-Key: ") + 19, "%63[^\r]", k1);
    T_EQ(strlen(k1), 24);
    T_EQ(client_against(OK_101 "\r\n", NULL, &r), 0);
    sscanf(strstr(r.request, "Sec-WebSocket-Key: ") + 19, "%63[^\r]", k2);
    T_ASSERT(strcmp(k1, k2) != 0);

    grove_ws_opts d = {
        .deflate = 1, .protocols = "chat, superchat", .origin = "http://example.test", .headers = "X-Extra: 1\r\n"};
    T_EQ(client_against(OK_101 "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; "
                               "client_max_window_bits=9\r\nSec-WebSocket-Protocol: superchat\r\n\r\n",
                        &d, &r),
         0);
    T_ASSERT(strstr(r.request, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    T_ASSERT(strstr(r.request, "Sec-WebSocket-Protocol: chat, superchat\r\n"));
    T_ASSERT(strstr(r.request, "Origin: http://example.test\r\n"));
    T_ASSERT(strstr(r.request, "X-Extra: 1\r\n"));

    /* refused or malformed answers */
    struct {
        const char *resp;
        int status;
    } bad[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200},
        {"HTTP/1.1 403 Forbidden\r\n\r\n", 403},
        {"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
         "%s\r\n\r\n",
         0},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", 101},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n\r\n", 101},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 101},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
         101},                                                                /* wrong key */
        {OK_101 "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 101}, /* not offered */
        {OK_101 "Sec-WebSocket-Extensions: x-other\r\n\r\n", 101},
        {OK_101 "Sec-WebSocket-Protocol: chat\r\n\r\n", 101}, /* not offered */
        {OK_101 " folded: line\r\n\r\n", 101},
        {"garbage\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = client_against(bad[i].resp, NULL, &r);
        if (rc != -EPROTO)
            T_FAIL("case %zu: %d (%s)", i, rc, grove_strerror(rc));
        T_EQ(grove_ws_handshake_status(), bad[i].status);
    }
    /* with deflate offered: bad parameters in the answer */
    static const char *badext[] = {
        OK_101 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        OK_101 "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n\r\n",
        OK_101 "Sec-WebSocket-Extensions: permessage-deflate; foo=1\r\n\r\n",
        OK_101 "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n",
    };
    grove_ws_opts don = {.deflate = 1};
    for (size_t i = 0; i < sizeof badext / sizeof *badext; i++)
        T_EQ(client_against(badext[i], &don, &r), -EPROTO);
    /* an IPv6 literal: connected to [::1], Host keeps the brackets (where an IPv6
     * loopback exists, as in test-net) */
    int l6 = grove_listen("[::1]:0", 8);
    if (l6 >= 0) {
        raw_srv r6;
        memset(&r6, 0, sizeof r6);
        r6.listen_fd = l6;
        r6.port = grove_sock_port(l6);
        r6.response = OK_101 "\r\n";
        raw_srv_run(&r6);
        char url6[64];
        snprintf(url6, sizeof url6, "ws://[::1]:%d", r6.port);
        grove_ws *w6;
        T_OK(grove_ws_connect(url6, NULL, &w6));
        grove_ws_free(w6);
        raw_srv_end(&r6);
        char host6[64];
        snprintf(host6, sizeof host6, "Host: [::1]:%d\r\n", r6.port);
        T_ASSERT(strstr(r6.request, host6));
        T_ASSERT(strstr(r6.request, "GET / HTTP/1.1\r\n"));
    } else {
        fprintf(stderr, "NOTE: no IPv6 loopback here (%s): the [::1] case did not run\n", grove_strerror(l6));
    }
    /* bad URLs */
    grove_ws *ws;
    static const char *urls[] = {"http://127.0.0.1/", "ws://",     "ws:///x",      "ws://h:0/",  "ws://h:65536/",
                                 "ws://h:8x/",        "ws://u@h/", "ws://h/#frag", "ws://[::1/", "ws://h/a b"};
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++)
        T_EQ(grove_ws_connect(urls[i], NULL, &ws), -EINVAL);
    /* nothing listening */
    char url[64];
    int l = grove_listen("127.0.0.1:0", 1);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", grove_sock_port(l));
    grove_close(l);
    T_EQ(grove_ws_connect(url, NULL, &ws), -ECONNREFUSED);
}

static void test_client_frames(void)
{
    /* the client masks its frames with a fresh key each; the server's frames reach it */
    raw_srv r;
    raw_srv_start(&r, OK_101 "\r\n");
    unsigned char after[64];
    size_t an = t_frame(after, 0x81, "from server", 11, true);
    an += t_frame(after + an, 0x89, "pp", 2, true);
    r.after = after;
    r.after_len = an;
    r.read_frames = true;
    r.answer_close = true;
    raw_srv_run(&r);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", r.port);
    grove_ws *ws;
    grove_ws_opts o = {.deliver_control = 1};
    T_OK(grove_ws_connect(url, &o, &ws));
    grove_ws_msg m;
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    T_STREQ((const char *)m.data, "from server");
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_PING); /* delivered, and answered */
    T_EQ(m.len, 2);
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "abcd", 4));
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "abcd", 4));
    T_OK(grove_ws_close(ws, 1000, "done"));
    T_EQ(grove_ws_close_received(ws), 1000);
    grove_ws_free(ws);
    raw_srv_end(&r);
    /* frames seen by the server: pong "pp", two texts, close */
    unsigned char *f = r.frames;
    size_t left = r.frames_len;
    unsigned char masks[2][4];
    int texts = 0, ops[8], nops = 0;
    while (left >= 6) {
        T_ASSERT(f[1] & 0x80); /* masked */
        size_t len = f[1] & 0x7f;
        unsigned char *mk = f + 2, *pl = f + 6;
        unsigned char buf[128];
        for (size_t i = 0; i < len; i++)
            buf[i] = pl[i] ^ mk[i & 3];
        ops[nops++] = f[0] & 0xf;
        if ((f[0] & 0xf) == 1) {
            T_EQ(len, 4);
            T_ASSERT(memcmp(buf, "abcd", 4) == 0);
            memcpy(masks[texts++], mk, 4);
        }
        if ((f[0] & 0xf) == 0xa)
            T_ASSERT(len == 2 && memcmp(buf, "pp", 2) == 0);
        if ((f[0] & 0xf) == 8)
            T_ASSERT(len == 6 && buf[0] == 3 && buf[1] == 0xe8 && memcmp(buf + 2, "done", 4) == 0);
        f += 6 + len;
        left -= 6 + len;
    }
    T_EQ(left, 0);
    T_EQ(nops, 4);
    T_EQ(ops[0], 0xa);
    T_EQ(ops[3], 8);
    T_EQ(texts, 2);
    T_ASSERT(memcmp(masks[0], masks[1], 4) != 0);

    /* a masked frame from a server is a protocol error */
    raw_srv_start(&r, OK_101 "\r\n");
    an = t_frame(after, 0x81, "masked", 6, false);
    r.after = after;
    r.after_len = an;
    r.read_frames = true;
    raw_srv_run(&r);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", r.port);
    T_OK(grove_ws_connect(url, NULL, &ws));
    T_EQ(grove_ws_recv(ws, &m), -EPROTO);
    T_EQ(grove_ws_close_sent(ws), 1002);
    T_EQ(grove_ws_recv(ws, &m), -EPIPE);
    T_EQ(grove_ws_send(ws, GROVE_WS_TEXT, "x", 1), -EPIPE);
    T_OK(grove_ws_close(ws, 1000, NULL)); /* failed: returns at once */
    grove_ws_free(ws);
    raw_srv_end(&r);
    T_GE(r.frames_len, 8);
    T_EQ(r.frames[0], 0x88);

    /* the close handshake times out against a server that never answers */
    raw_srv_start(&r, OK_101 "\r\n");
    r.read_frames = true;
    raw_srv_run(&r);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", r.port);
    grove_ws_opts q = {.close_timeout = GROVE_MS(150)};
    T_OK(grove_ws_connect(url, &q, &ws));
    int64_t t0 = grove_now();
    T_EQ(grove_ws_close(ws, 1001, NULL), -ETIMEDOUT);
    T_GE(grove_now() - t0, GROVE_MS(140));
    T_LT(grove_now() - t0, GROVE_SEC(1));
    /* bad arguments */
    T_EQ(grove_ws_close(ws, 1005, NULL), -EINVAL);
    grove_ws_free(ws);
    raw_srv_end(&r);
}

/* ---- Grove to Grove: API rules, concurrency, wss --------------------------------------------- */

static void test_api_rules(void)
{
    server_mode(ECHO_WHOLE, NULL);
    int before = g_served;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", g_port);
    grove_ws *ws;
    T_OK(grove_ws_connect(url, NULL, &ws));
    T_EQ(grove_ws_send(ws, 7, "x", 1), -EINVAL);
    T_EQ(grove_ws_ping(ws, "x", 126), -EINVAL);
    /* a fragmented send blocks whole sends until it ends; pings may go between fragments */
    T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "ab", 2, false));
    T_EQ(grove_ws_send(ws, GROVE_WS_TEXT, "x", 1), -EBUSY);
    T_EQ(grove_ws_send_part(ws, GROVE_WS_BINARY, "x", 1, true), -EINVAL);
    T_OK(grove_ws_ping(ws, "between", 7));
    T_OK(grove_ws_send_part(ws, GROVE_WS_TEXT, "cd", 2, true));
    grove_ws_msg m;
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT); /* the pong was not delivered */
    T_STREQ((const char *)m.data, "abcd");
    /* piece-wise receive of a message the server sends whole */
    T_OK(grove_ws_send(ws, GROVE_WS_BINARY, "0123456789", 10));
    T_EQ(grove_ws_recv_part(ws, &m), GROVE_WS_BINARY);
    T_ASSERT(m.fin);
    T_EQ(m.len, 10);
    /* bad close arguments send nothing */
    T_EQ(grove_ws_close(ws, 999, NULL), -EINVAL);
    T_EQ(grove_ws_close(ws, 0, "reason without code"), -EINVAL);
    T_EQ(grove_ws_close(ws, 1000, "\xff"), -EINVAL);
    T_OK(grove_ws_close(ws, 1000, "bye"));
    T_EQ(grove_ws_close_received(ws), 1000);
    T_EQ(grove_ws_send(ws, GROVE_WS_TEXT, "x", 1), -EPIPE);
    T_EQ(grove_ws_recv(ws, &m), -EPIPE);
    grove_ws_free(ws);
    wait_served(before);
}

/* A timeout or kill while a message is half received does not fail the connection: the
 * next call carries on with the same message. */
static void test_recv_timeout_resumes(void)
{
    server_mode(SERVER_SLOW_FRAGMENTS, NULL);
    int before = g_served;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", g_port);
    grove_ws *ws;
    T_OK(grove_ws_connect(url, NULL, &ws));
    grove_ws_msg m;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(40));
    T_EQ(grove_ws_recv(ws, &m), -ETIMEDOUT); /* the first fragment came, not the second */
    T_ASSERT(grove_timeout_end(&to));
    T_EQ(grove_ws_recv_part(ws, &m), -EBUSY); /* a whole message is half read */
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    T_STREQ((const char *)m.data, "slow message");
    /* the connection still works both ways */
    T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "still open", 10));
    T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
    T_STREQ((const char *)m.data, "still open");
    T_OK(grove_ws_close(ws, 1000, NULL));
    grove_ws_free(ws);
    wait_served(before);
}

/* Mutated streams: valid frames with random bytes flipped, cut or inserted. Whatever
 * arrives, the server either echoes or fails with 1002/1007/1009 and closes; it never
 * crashes, hangs or answers with anything else. */
static void test_mutated_streams(void)
{
    unsigned char base[2048], buf[2100];
    size_t n = 0;
    n += t_frame(base + n, 0x01, "fra", 3, false);
    n += t_frame(base + n, 0x89, "ping", 4, false);
    n += t_frame(base + n, 0x80, "gment \xce\xba\xe1\xbd\xb9", 11, false);
    unsigned char bin[300];
    t_fill(bin, sizeof bin, 11);
    n += t_frame(base + n, 0x82, bin, sizeof bin, false);
    n += t_frame(base + n, 0x81, "text", 4, false);
    uint32_t x = 2463534242u;
    int fails = 0, clean = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(buf, base, n);
        size_t len = n;
        int edits = 1 + round % 4;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t at = x % len;
            switch ((x >> 20) % 3) {
            case 0: buf[at] ^= (unsigned char)(1u << ((x >> 8) & 7)); break;
            case 1: buf[at] = (unsigned char)(x >> 12); break;
            default:
                len = at + 1; /* cut */
                break;
            }
        }
        t_raw c;
        grove_ws_opts o = {.max_frame = 4096, .max_message = 8192, .close_timeout = GROVE_MS(300)};
        int before = open_raw(&c, round % 2 ? ECHO_PARTS : ECHO_WHOLE, &o, NULL);
        t_send_raw(&c, buf, len);
        /* a clean close after the mutated bytes (it may land inside a frame) */
        t_send(&c, 0x88, "\x03\xe8", 2);
        grove_shutdown(c.fd, SHUT_WR);
        int code = -1;
        for (;;) {
            t_fr f;
            if (t_recv(&c, &f) < 0)
                break;
            T_ASSERT(f.op == 0 || f.op == 1 || f.op == 2 || f.op == 8 || f.op == 10);
            if (f.op == 8) {
                code = f.len >= 2 ? f.data[0] << 8 | f.data[1] : 0;
                free(f.data);
                break;
            }
            free(f.data);
        }
        t_expect_eof(&c);
        t_raw_close(&c);
        wait_served(before);
        if (code == 1002 || code == 1007 || code == 1009) {
            fails++;
            T_EQ(g_sent_code, code);
        } else if (code == 1000) {
            clean++;
        } else {
            /* the stream ended inside a frame: no close came, the server saw the end */
            T_EQ(code, -1);
            T_EQ(g_last_rc, -ECONNRESET);
        }
    }
    T_GT(fails, 50);
    T_GT(clean, 0);
}

typedef struct sender_arg {
    grove_ws *ws;
    int n;
} sender_arg;

static void *sender(void *arg)
{
    sender_arg *a = arg;
    unsigned char buf[5000];
    for (int i = 0; i < a->n; i++) {
        size_t len = (size_t)(i * 37) % sizeof buf;
        t_fill(buf, len, (unsigned)i);
        if (i % 3 == 0)
            T_OK(grove_ws_ping(a->ws, "k", 1));
        T_OK(grove_ws_send(a->ws, GROVE_WS_BINARY, buf, len));
    }
    return NULL;
}

static void concurrent(bool deflate)
{
    grove_ws_opts so = {.deflate = deflate};
    server_mode(ECHO_PARTS, &so);
    int before = g_served;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", g_port);
    grove_ws *ws;
    grove_ws_opts co = {.deflate = deflate};
    T_OK(grove_ws_connect(url, &co, &ws));
    T_EQ(grove_ws_deflate(ws), deflate);
    sender_arg a = {ws, 300};
    grove_thread *th = grove_spawn(sender, &a);
    unsigned char want[5000];
    for (int i = 0; i < a.n; i++) {
        grove_ws_msg m;
        T_EQ(grove_ws_recv(ws, &m), GROVE_WS_BINARY);
        size_t len = (size_t)(i * 37) % sizeof want;
        t_fill(want, len, (unsigned)i);
        T_EQ(m.len, len);
        T_ASSERT(memcmp(m.data, want, len) == 0);
    }
    T_OK(grove_join(th, NULL));
    T_OK(grove_ws_close(ws, 1000, NULL));
    grove_ws_free(ws);
    wait_served(before);
}

static void *reader(void *arg)
{
    grove_ws *ws = arg;
    grove_ws_msg m;
    int rc, n = 0;
    while ((rc = grove_ws_recv(ws, &m)) == GROVE_WS_TEXT)
        n++;
    T_EQ(rc, GROVE_WS_CLOSE);
    T_EQ(m.code, 4321); /* the server's echo of our close */
    return (void *)(intptr_t)n;
}

static void test_concurrent_send_recv(void)
{
    concurrent(false);
    concurrent(true);
    /* closing while another green thread receives: that thread sees the close */
    server_mode(ECHO_WHOLE, NULL);
    int before = g_served;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", g_port);
    grove_ws *ws;
    T_OK(grove_ws_connect(url, NULL, &ws));
    grove_thread *th = grove_spawn(reader, ws);
    grove_yield();
    grove_ws_msg m;
    T_EQ(grove_ws_recv(ws, &m), -EBUSY);
    for (int i = 0; i < 10; i++)
        T_OK(grove_ws_send(ws, GROVE_WS_TEXT, "x", 1));
    T_OK(grove_ws_close(ws, 4321, "from the sender"));
    void *n;
    T_OK(grove_join(th, &n));
    T_EQ((intptr_t)n, 10);
    T_EQ(grove_ws_close_received(ws), 4321);
    grove_ws_free(ws);
    wait_served(before);
}

/* Deflate between two Grove ends, with every parameter combination either side may pick. */
static void test_deflate_grove_to_grove(void)
{
    for (int k = 0; k < 8; k++) {
        grove_ws_opts so = {.deflate = 1, .deflate_no_context_takeover = k & 1, .deflate_window_bits = k & 2 ? 9 : 0};
        grove_ws_opts co = {.deflate = 1, .deflate_no_context_takeover = (k >> 2) & 1, .deflate_level = 9};
        server_mode(ECHO_WHOLE, &so);
        int before = g_served;
        char url[64];
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/", g_port);
        grove_ws *ws;
        T_OK(grove_ws_connect(url, &co, &ws));
        T_ASSERT(grove_ws_deflate(ws));
        unsigned char buf[70000];
        for (int i = 0; i < 20; i++) {
            size_t len = (size_t)i * 3331 % sizeof buf;
            for (size_t j = 0; j < len; j++)
                buf[j] = (unsigned char)("abcabd"[j % 6] + (j / 500) % 3);
            T_OK(grove_ws_send(ws, GROVE_WS_BINARY, buf, len));
            grove_ws_msg m;
            T_EQ(grove_ws_recv(ws, &m), GROVE_WS_BINARY);
            T_EQ(m.len, len);
            T_ASSERT(memcmp(m.data, buf, len) == 0);
        }
        T_OK(grove_ws_close(ws, 1000, NULL));
        grove_ws_free(ws);
        wait_served(before);
    }
}

/* wss: a Grove TLS server with a certificate from a test CA, and grove_ws_connect. */
static char g_dir[64];

static void *tls_server(void *arg)
{
    int l = *(int *)arg;
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/localhost.pem", g_dir);
    snprintf(key, sizeof key, "%s/localhost.key", g_dir);
    grove_tls_opts so = {.cert_file = cert, .key_file = key};
    grove_tls_ctx *ctx = grove_tls_server_ctx(&so);
    T_ASSERT(ctx);
    int fd = grove_accept(l, NULL, NULL);
    grove_tls *t;
    if (fd < 0 || grove_tls_accept(ctx, fd, &t) < 0) {
        /* the client that rejects our certificate */
        if (fd >= 0)
            grove_close(fd);
        grove_tls_ctx_free(ctx);
        return NULL;
    }
    grove_stream *s = grove_tls_stream(t, 0);
    t_head h;
    T_OK(t_read_head(s, &h));
    grove_ws *ws;
    grove_ws_opts o = {.deflate = 1};
    T_OK(grove_ws_accept(s, &h.req, &o, &ws));
    grove_ws_msg m;
    int rc;
    while ((rc = grove_ws_recv(ws, &m)) == GROVE_WS_TEXT)
        T_OK(grove_ws_send(ws, GROVE_WS_TEXT, m.data, m.len));
    T_EQ(rc, GROVE_WS_CLOSE);
    grove_ws_free(ws);
    grove_stream_close(s);
    grove_tls_ctx_free(ctx);
    return NULL;
}

static void test_wss(void)
{
    if (!t_tls_built())
        return; /* a build without TLS: its ENOTSUP was checked */
    snprintf(g_dir, sizeof g_dir, "/tmp/grove-ws-tls-%d", (int)getpid());
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p %1$s; cd %1$s; "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=grove-ws-ca "
             "-keyout ca.key -out ca.pem 2>/dev/null; "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout localhost.key "
             "-out localhost.csr 2>/dev/null; "
             "printf 'subjectAltName=DNS:localhost\\n' > localhost.ext; "
             "openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile localhost.ext -out localhost.pem 2>/dev/null",
             g_dir);
    char *argv[] = {"sh", "-c", cmd, NULL};
    grove_proc *p = grove_proc_spawn(argv, NULL);
    T_ASSERT(p);
    int st = grove_proc_wait(p);
    grove_proc_free(p);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    int l = grove_listen("127.0.0.1:0", 8);
    T_OK(l);
    char ca[128], url[64];
    snprintf(ca, sizeof ca, "%s/ca.pem", g_dir);
    snprintf(url, sizeof url, "wss://localhost:%d/secure", grove_sock_port(l));
    grove_thread *th = grove_spawn(tls_server, &l);
    grove_tls_opts to = {.ca_file = ca};
    grove_ws_opts o = {.tls = &to, .deflate = 1};
    grove_ws *ws;
    T_OK(grove_ws_connect(url, &o, &ws));
    T_ASSERT(grove_ws_deflate(ws));
    for (int i = 0; i < 5; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "secure %d", i);
        T_OK(grove_ws_send(ws, GROVE_WS_TEXT, msg, strlen(msg)));
        grove_ws_msg m;
        T_EQ(grove_ws_recv(ws, &m), GROVE_WS_TEXT);
        T_STREQ((const char *)m.data, msg);
    }
    T_OK(grove_ws_close(ws, 1000, NULL));
    grove_ws_free(ws);
    T_OK(grove_join(th, NULL));
    /* without the CA, verification fails */
    th = grove_spawn(tls_server, &l);
    T_EQ(grove_ws_connect(url, NULL, &ws), -EKEYREJECTED);
    grove_kill(th);
    grove_join(th, NULL);
    grove_close(l);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    char *rm[] = {"sh", "-c", cmd, NULL};
    p = grove_proc_spawn(rm, NULL);
    grove_proc_wait(p);
    grove_proc_free(p);
}

int main(int argc, char **argv)
{
    int l = grove_listen("127.0.0.1:0", 64);
    T_OK(l);
    g_port = grove_sock_port(l);
    grove_server *srv = grove_server_start(l, handler, NULL, 0);
    T_ASSERT(srv);
    static const t_case cases[] = {
        T_CASE(test_accept_key),
        T_CASE(test_utf8_validator),
        T_CASE(test_parser_splits),
        T_CASE(test_parser_errors),
        T_CASE(test_framing),
        T_CASE(test_ping_pong),
        T_CASE(test_reserved_bits),
        T_CASE(test_opcodes),
        T_CASE(test_fragmentation),
        T_CASE(test_utf8),
        T_CASE(test_close),
        T_CASE(test_limits),
        T_CASE(test_deflate_negotiation),
        T_CASE(test_deflate_messages),
        T_CASE(test_deflate_context),
        T_CASE(test_server_handshake),
        T_CASE(test_frames_with_request),
        T_CASE(test_client_handshake),
        T_CASE(test_client_frames),
        T_CASE(test_api_rules),
        T_CASE(test_recv_timeout_resumes),
        T_CASE(test_mutated_streams),
        T_CASE(test_concurrent_send_recv),
        T_CASE(test_deflate_grove_to_grove),
        T_CASE(test_wss),
        {NULL, NULL},
    };
    int rc = t_run(cases, argc, argv);
    grove_server_stop(srv, GROVE_SEC(1));
    grove_close(l);
    return rc;
}
