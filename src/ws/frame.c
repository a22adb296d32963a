/* The WebSocket frame parser and writer helpers: pure code (bytes in, events out), so it
 * can be fuzzed (fuzz/fuzz-ws-frame.c) and tested without sockets.
 *
 * The parser enforces everything RFC 6455 lets a receiver check per frame: reserved bits
 * (RSV1 only with permessage-deflate, and only on a message's first frame), known
 * opcodes, control frames unfragmented and at most 125 bytes, the masking rule of the
 * receiving side, continuation frames only inside a fragmented message and no new data
 * message inside one, 63-bit lengths, and the frame size limit (1009). Message-level
 * checks that need the payload (UTF-8, inflation, message size) are the connection's. */
#include "ws/ws-internal.h"

#include <string.h>

enum { S_HDR = 0, S_PAYLOAD };

void grove__ws_parser_init(grove__ws_parser *p, bool expect_masked, bool rsv1_ok, uint64_t max_frame)
{
    memset(p, 0, sizeof *p);
    p->expect_masked = expect_masked;
    p->rsv1_ok = rsv1_ok;
    p->max_frame = max_frame;
    p->state = S_HDR;
    p->hneed = 2;
}

static size_t fail(grove__ws_parser *p, grove__ws_event *ev, size_t used, int code, const char *why)
{
    p->failed = true;
    p->err_code = code;
    p->err_why = why;
    ev->type = GROVE__WS_EV_ERROR;
    ev->code = code;
    ev->why = why;
    return used;
}

/* Checks the first two header bytes; returns NULL if fine, else the reason. */
static const char *check_start(grove__ws_parser *p, uint8_t b0, uint8_t b1)
{
    int op = b0 & 0x0f;
    bool fin = b0 & 0x80, rsv1 = b0 & 0x40;
    if (b0 & 0x30)
        return "reserved bit set";
    bool control = op & 0x8;
    if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10)
        return "unknown opcode";
    if ((b1 & 0x80) != (p->expect_masked ? 0x80 : 0))
        return p->expect_masked ? "unmasked client frame" : "masked server frame";
    if (control) {
        if (!fin)
            return "fragmented control frame";
        if (rsv1)
            return "reserved bit set on a control frame";
        if ((b1 & 0x7f) > 125)
            return "control frame over 125 bytes";
        return NULL;
    }
    if (rsv1 && !p->rsv1_ok)
        return "reserved bit set";
    if (op == 0) {
        if (!p->in_message)
            return "continuation frame without a message";
        if (rsv1)
            return "RSV1 on a continuation frame";
    } else if (p->in_message) {
        return "new data frame inside a fragmented message";
    }
    return NULL;
}

size_t grove__ws_parse(grove__ws_parser *p, unsigned char *in, size_t len, grove__ws_event *ev)
{
    size_t used = 0;
    memset(ev, 0, sizeof *ev);
    if (p->failed) {
        ev->type = GROVE__WS_EV_ERROR;
        ev->code = p->err_code;
        ev->why = p->err_why;
        return 0;
    }
    if (p->state == S_HDR) {
        while (p->hlen < p->hneed) {
            if (used == len)
                return used;
            p->hdr[p->hlen++] = in[used++];
            if (p->hlen == 2) {
                const char *why = check_start(p, p->hdr[0], p->hdr[1]);
                if (why)
                    return fail(p, ev, used, 1002, why);
                uint8_t l7 = p->hdr[1] & 0x7f;
                p->hneed = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((p->hdr[1] & 0x80) ? 4 : 0));
            }
        }
        uint8_t l7 = p->hdr[1] & 0x7f;
        uint64_t flen = l7;
        size_t at = 2;
        if (l7 == 126) {
            flen = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
            at = 4;
        } else if (l7 == 127) {
            flen = 0;
            for (int i = 0; i < 8; i++)
                flen = (flen << 8) | p->hdr[2 + i];
            at = 10;
            if (flen >> 63)
                return fail(p, ev, used, 1002, "64-bit length with the top bit set");
        }
        if (flen > p->max_frame)
            return fail(p, ev, used, 1009, "frame too big");
        p->masked = p->hdr[1] & 0x80;
        if (p->masked)
            memcpy(p->mask, p->hdr + at, 4);
        p->opcode = p->hdr[0] & 0x0f;
        p->fin = p->hdr[0] & 0x80;
        p->rsv1 = p->hdr[0] & 0x40;
        if (!(p->opcode & 0x8)) {
            if (p->opcode != 0 && !p->fin)
                p->in_message = true;
            else if (p->opcode == 0 && p->fin)
                p->in_message = false;
        }
        p->left = flen;
        p->off = 0;
        p->state = S_PAYLOAD;
        ev->type = GROVE__WS_EV_FRAME;
        ev->opcode = p->opcode;
        ev->fin = p->fin;
        ev->rsv1 = p->rsv1;
        ev->len = flen;
        return used;
    }
    /* S_PAYLOAD */
    if (p->left == 0) {
        p->state = S_HDR;
        p->hlen = 0;
        p->hneed = 2;
        ev->type = GROVE__WS_EV_END;
        ev->opcode = p->opcode;
        ev->fin = p->fin;
        return used;
    }
    if (used == len)
        return used;
    size_t n = len - used;
    if ((uint64_t)n > p->left)
        n = (size_t)p->left;
    if (p->masked)
        grove__ws_mask(in + used, n, p->mask, p->off);
    ev->type = GROVE__WS_EV_DATA;
    ev->opcode = p->opcode;
    ev->data = in + used;
    ev->n = n;
    p->left -= n;
    p->off += n;
    return used + n;
}

size_t grove__ws_frame_header(unsigned char *out, int opcode, bool fin, bool rsv1, uint64_t len,
                              const unsigned char *mask)
{
    size_t n = 0;
    out[n++] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    unsigned char m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (unsigned char)(m | len);
    } else if (len <= 0xffff) {
        out[n++] = m | 126;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (unsigned char)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void grove__ws_mask(unsigned char *buf, size_t n, const unsigned char mask[4], uint64_t off)
{
    unsigned char m8[8];
    for (int i = 0; i < 8; i++)
        m8[i] = mask[(off + (uint64_t)i) & 3];
    uint64_t w;
    memcpy(&w, m8, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, buf + i, 8);
        v ^= w;
        memcpy(buf + i, &v, 8);
    }
    for (; i < n; i++)
        buf[i] ^= m8[i & 7];
}
