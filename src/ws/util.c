/* Pure helpers of the WebSocket library: incremental UTF-8 validation, close codes,
 * SHA-1 and base64 for the handshake, header token lists and the
 * Sec-WebSocket-Extensions grammar (RFC 6455 section 9.1, RFC 7692 parameters). */
#include "base/token.h"
#include "ws/ws-internal.h"

#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------------ */

bool grove__ws_utf8_feed(grove__ws_utf8 *u, const unsigned char *s, size_t n)
{
    uint8_t need = u->need, lo = u->lo, hi = u->hi;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (need) {
            if (c < lo || c > hi)
                goto bad;
            need--;
            lo = 0x80;
            hi = 0xbf;
            i++;
            continue;
        }
        if (c < 0x80) {
            /* ASCII runs, eight bytes at a time */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i < n && s[i] < 0x80)
                i++;
            continue;
        }
        if (c < 0xc2) {
            goto bad; /* a stray continuation byte, or an overlong 2-byte form */
        } else if (c < 0xe0) {
            need = 1;
            lo = 0x80;
            hi = 0xbf;
        } else if (c < 0xf0) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong 3-byte forms */
            hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
        } else if (c < 0xf5) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80; /* no overlong 4-byte forms */
            hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
        } else {
            goto bad;
        }
        i++;
    }
    u->need = need;
    u->lo = lo;
    u->hi = hi;
    return true;
bad:
    u->need = 0xff; /* stays invalid */
    u->lo = 1;
    u->hi = 0;
    return false;
}

bool grove__ws_close_code_ok(int code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014) /* 1012-1014 are registered with IANA */
        return true;
    return code >= 3000 && code <= 4999;
}

/* ---- SHA-1 (FIPS 180-4), for Sec-WebSocket-Accept only ---------------------------------- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *b)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (bb & c) | (~bb & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = bb ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (bb & c) | (bb & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = bb ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(bb, 30);
        bb = a;
        a = t;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void grove__ws_sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const unsigned char *p = data;
    size_t left = len;
    while (left >= 64) {
        sha1_block(h, p);
        p += 64;
        left -= 64;
    }
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tl == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

/* ---- base64 ---------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t grove__ws_base64(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

long grove__ws_unbase64(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            if (in[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else {
                if (pad)
                    return -1; /* data after padding */
                v[j] = b64val(in[i + j]);
                if (v[j] < 0)
                    return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        for (int j = 0; j < 3 - pad; j++) {
            if (o == cap)
                return -1;
            out[o++] = bytes[j];
        }
        /* unused bits of the last group must be zero (canonical encoding) */
        if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
            return -1;
    }
    return (long)o;
}

/* ---- Header tokens ----------------------------------------------------------------------- */

static bool ows(char c) { return c == ' ' || c == '\t'; }

/* Reads a token at *s into out (NUL-terminated, truncated to cap-1; returns its full
 * length, 0 if none). */
static size_t read_token(const char **s, char *out, size_t cap)
{
    size_t n = 0;
    while (grove__tchar((unsigned char)**s)) {
        if (n + 1 < cap)
            out[n] = **s;
        n++;
        (*s)++;
    }
    out[n < cap ? n : cap - 1] = 0;
    return n;
}

static int window_bits(const char *v, bool have)
{
    if (!have)
        return -1;
    /* 8..15, decimal, no leading zero */
    size_t n = strlen(v);
    if (n == 1 && v[0] >= '8' && v[0] <= '9')
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + v[1] - '0';
    return -1;
}

int grove__ws_ext_parse(const char **sp, bool *is_pmd, grove__ws_pmd *pmd, bool offer)
{
    const char *s = *sp;
    char name[64];
    int rc = 0;
    memset(pmd, 0, sizeof *pmd);
    while (ows(*s))
        s++;
    if (!read_token(&s, name, sizeof name))
        rc = -1;
    *is_pmd = strcasecmp(name, "permessage-deflate") == 0;
    for (;;) {
        while (ows(*s))
            s++;
        if (*s != ';')
            break;
        s++;
        while (ows(*s))
            s++;
        char key[64], val[64];
        bool have = false;
        if (!read_token(&s, key, sizeof key))
            rc = -1;
        while (ows(*s))
            s++;
        if (*s == '=') {
            s++;
            while (ows(*s))
                s++;
            have = true;
            if (*s == '"') {
                size_t n = 0;
                s++;
                while (*s && *s != '"') {
                    if (*s == '\\' && s[1])
                        s++;
                    if (n + 1 < sizeof val)
                        val[n++] = *s;
                    s++;
                }
                val[n] = 0;
                if (*s != '"')
                    rc = -1;
                else
                    s++;
            } else if (!read_token(&s, val, sizeof val)) {
                rc = -1;
            }
        }
        if (!*is_pmd || rc < 0)
            continue;
        if (strcasecmp(key, "server_no_context_takeover") == 0) {
            if (have || pmd->server_no_ctx)
                rc = -1;
            pmd->server_no_ctx = true;
        } else if (strcasecmp(key, "client_no_context_takeover") == 0) {
            if (have || pmd->client_no_ctx)
                rc = -1;
            pmd->client_no_ctx = true;
        } else if (strcasecmp(key, "server_max_window_bits") == 0) {
            int b = window_bits(val, have);
            if (b < 0 || pmd->server_bits)
                rc = -1;
            pmd->server_bits = b;
        } else if (strcasecmp(key, "client_max_window_bits") == 0) {
            if (pmd->client_bits || pmd->client_bits_offered)
                rc = -1;
            if (!have && offer) {
                pmd->client_bits_offered = true;
            } else {
                int b = window_bits(val, have);
                if (b < 0)
                    rc = -1;
                pmd->client_bits = b;
                pmd->client_bits_offered = true;
            }
        } else {
            rc = -1;
        }
    }
    if (*s && *s != ',') {
        /* malformed: skip to the next element */
        rc = -1;
        while (*s && *s != ',')
            s++;
    }
    if (*s == ',')
        s++;
    *sp = s;
    if (*is_pmd && rc == 0)
        pmd->on = true;
    return rc;
}
