/* libFuzzer target for the WebSocket frame parser, the incremental UTF-8 validator and the
 * Sec-WebSocket-Extensions parser (src/ws/frame.c, src/ws/util.c: pure code, no I/O).
 *
 * Input: byte 0 picks the parser's settings (server or client side, RSV1 allowed, a small
 * or large frame limit), byte 1 the size of the pieces the rest is fed in, then the bytes
 * of the stream. Checks that the parser consumes every byte it is given unless it stops
 * with an error, that the payload it hands out adds up to each frame's length, that an
 * error is sticky, and that the UTF-8 validator agrees when fed whole or byte by byte.
 * Built and run for a bounded time by fuzz/run-ws-frame.sh (a CTest test). */
#include "base/token.h"
#include "ws/ws-internal.h"

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

static void utf8_agrees(const unsigned char *p, size_t n)
{
    grove__ws_utf8 whole = {0}, bytes = {0};
    bool a = grove__ws_utf8_feed(&whole, p, n) && grove__ws_utf8_done(&whole);
    bool b = true;
    for (size_t i = 0; i < n && b; i++)
        b = grove__ws_utf8_feed(&bytes, p + i, 1);
    b = b && grove__ws_utf8_done(&bytes);
    CHECK(a == b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned cfg = data[0];
    size_t piece = (size_t)(data[1] % 64) + 1;
    data += 2;
    size -= 2;

    unsigned char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    grove__ws_parser p;
    grove__ws_parser_init(&p, cfg & 1, cfg & 2, (cfg & 4) ? 100 : (uint64_t)1 << 40);
    uint64_t want = 0, got = 0;
    bool in_frame = false, failed = false;
    for (size_t off = 0; off < size && !failed;) {
        size_t k = size - off < piece ? size - off : piece;
        size_t used = 0;
        for (;;) {
            grove__ws_event ev;
            used += grove__ws_parse(&p, buf + off + used, k - used, &ev);
            CHECK(used <= k);
            if (ev.type == GROVE__WS_EV_NONE) {
                CHECK(used == k);
                break;
            }
            if (ev.type == GROVE__WS_EV_ERROR) {
                CHECK(ev.code == 1002 || ev.code == 1009);
                CHECK(ev.why != NULL);
                grove__ws_event again;
                CHECK(grove__ws_parse(&p, buf, size, &again) == 0);
                CHECK(again.type == GROVE__WS_EV_ERROR && again.code == ev.code);
                failed = true;
                break;
            }
            if (ev.type == GROVE__WS_EV_FRAME) {
                CHECK(!in_frame);
                CHECK(!(ev.opcode & 8) || (ev.fin && ev.len <= 125));
                in_frame = true;
                want = ev.len;
                got = 0;
            } else if (ev.type == GROVE__WS_EV_DATA) {
                CHECK(in_frame && ev.n > 0);
                got += ev.n;
                CHECK(got <= want);
                utf8_agrees(ev.data, ev.n);
            } else if (ev.type == GROVE__WS_EV_END) {
                CHECK(in_frame && got == want);
                in_frame = false;
            }
        }
        off += k;
    }
    free(buf);

    /* the same bytes as an extension header value (NUL-terminated) */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    const char *e = s;
    for (int n = 0; *e && n < 1000; n++) {
        bool is_pmd;
        grove__ws_pmd pmd;
        const char *before = e;
        int rc = grove__ws_ext_parse(&e, &is_pmd, &pmd, cfg & 8);
        CHECK(e > before || !*e);
        CHECK(e <= s + strlen(s));
        if (rc == 0 && is_pmd) {
            CHECK(pmd.on);
            CHECK(!pmd.server_bits || (pmd.server_bits >= 8 && pmd.server_bits <= 15));
            CHECK(!pmd.client_bits || (pmd.client_bits >= 8 && pmd.client_bits <= 15));
        }
    }
    CHECK(grove__list_has_token(s, "websocket") == grove__list_has_token(s, "WebSocket"));
    free(s);
    return 0;
}
