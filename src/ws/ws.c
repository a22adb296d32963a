/* A WebSocket connection (RFC 6455) over a grove_stream: receiving (whole messages or
 * pieces), sending (whole or fragmented), control frames, the closing handshake and
 * permessage-deflate (RFC 7692) through zlib.
 *
 * Reading: the stream's bytes go into rbuf and through the pure frame parser, which
 * unmasks payload in place; uncompressed pieces are handed out straight from rbuf,
 * compressed ones are inflated into zout. Buffers are made once per connection (the
 * whole-message buffer and the compression buffer grow to the largest message seen), so
 * the steady state allocates nothing. */
#include "ws/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RBUF_SIZE (16 * 1024)
#define ZCHUNK (16 * 1024)
#define SBUF_SIZE (16 * 1024)

static const unsigned char deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* ---- Set-up ---------------------------------------------------------------------------- */

grove_ws *grove__ws_new(grove_stream *s, bool server, bool own, const grove_ws_opts *o, const grove__ws_pmd *pmd,
                        const char *protocol)
{
    grove_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->s = s;
    ws->server = server;
    ws->own = own;
    ws->max_frame = o && o->max_frame ? o->max_frame : GROVE__WS_DEFAULT_MAX;
    ws->max_message = o && o->max_message ? o->max_message : GROVE__WS_DEFAULT_MAX;
    ws->close_timeout = o && o->close_timeout ? o->close_timeout : GROVE_SEC(5);
    ws->deliver_control = o && o->deliver_control;
    ws->rndpos = sizeof ws->rnd; /* filled on first use */
    if (protocol)
        snprintf(ws->protocol, sizeof ws->protocol, "%s", protocol);
    ws->rbuf = malloc(RBUF_SIZE);
    if (!ws->rbuf)
        goto fail;
    if (grove_mutex_init(&ws->wlock) < 0)
        goto fail;
    ws->wlock_init = true;
    if (pmd && pmd->on) {
        ws->pmd = true;
        /* our compressor: server_* parameters on a server, client_* on a client */
        bool our_no_ctx = server ? pmd->server_no_ctx : pmd->client_no_ctx;
        bool peer_no_ctx = server ? pmd->client_no_ctx : pmd->server_no_ctx;
        int bits = server ? pmd->server_bits : pmd->client_bits;
        int want = o && o->deflate_window_bits ? o->deflate_window_bits : 15;
        if (!bits || bits > want)
            bits = want;
        ws->def_reset = our_no_ctx || (o && o->deflate_no_context_takeover);
        ws->inf_reset = peer_no_ctx;
        int level = o && o->deflate_level ? o->deflate_level : 6;
        /* zlib cannot make a raw deflate stream with a 256-byte window; Huffman-only
         * coding (no back-references at all) is valid for any window the peer has. */
        int strategy = Z_DEFAULT_STRATEGY;
        if (bits < 9) {
            bits = 9;
            strategy = Z_HUFFMAN_ONLY;
        }
        /* zlib's state is made on first use (def_ready, inf_ready): a connection that
         * never sends or never receives a compressed message does not pay for it */
        ws->z_level = level;
        ws->z_bits = bits;
        ws->z_strategy = strategy;
    }
    grove__ws_parser_init(&ws->parser, server, ws->pmd, ws->max_frame);
    return ws;
fail:
    ws->own = false;
    grove_ws_free(ws);
    return NULL;
}

int grove_ws_free(grove_ws *ws)
{
    if (!ws)
        return 0;
    int rc = 0;
    if (ws->own && ws->s)
        rc = grove_stream_close(ws->s);
    if (ws->def_init)
        deflateEnd(&ws->def);
    if (ws->inf_init)
        inflateEnd(&ws->inf);
    if (ws->wlock_init)
        grove_mutex_destroy(&ws->wlock);
    free(ws->rbuf);
    free(ws->mbuf);
    free(ws->zout);
    free(ws->zbuf);
    free(ws->sbuf);
    free(ws);
    return rc;
}

grove_stream *grove_ws_stream(const grove_ws *ws) { return ws->s; }
const char *grove_ws_protocol(const grove_ws *ws) { return ws->protocol; }
bool grove_ws_deflate(const grove_ws *ws) { return ws->pmd; }
int grove_ws_close_sent(const grove_ws *ws) { return ws->close_sent; }
int grove_ws_close_received(const grove_ws *ws) { return ws->close_recv; }

/* ---- zlib state, made on first use ------------------------------------------------------ */

static int def_ready(grove_ws *ws)
{
    if (ws->def_init)
        return 0;
    if (deflateInit2(&ws->def, ws->z_level, Z_DEFLATED, -ws->z_bits, 8, ws->z_strategy) != Z_OK)
        return -ENOMEM;
    ws->def_init = true;
    return 0;
}

static int inf_ready(grove_ws *ws)
{
    if (ws->inf_init)
        return 0;
    if (!ws->zout && !(ws->zout = malloc(ZCHUNK + 1)))
        return -ENOMEM;
    /* A 32 KiB window inflates anything a smaller one produced. */
    if (inflateInit2(&ws->inf, -15) != Z_OK)
        return -ENOMEM;
    ws->inf_init = true;
    return 0;
}

/* ---- Sending --------------------------------------------------------------------------- */

static void new_mask(grove_ws *ws, unsigned char mask[4])
{
    if (ws->rndpos + 4 > sizeof ws->rnd) {
        /* getrandom never fails for small sizes once the pool is initialised */
        if (getrandom(ws->rnd, sizeof ws->rnd, 0) != (ssize_t)sizeof ws->rnd) {
            for (size_t i = 0; i < sizeof ws->rnd; i++)
                ws->rnd[i] = (unsigned char)(rand() >> 7);
        }
        ws->rndpos = 0;
    }
    memcpy(mask, ws->rnd + ws->rndpos, 4);
    ws->rndpos += 4;
}

/* Writes one frame and flushes. The caller holds wlock. */
static int write_frame(grove_ws *ws, int op, bool fin, bool rsv1, const void *data, size_t len)
{
    if (ws->wbroken)
        return -EPIPE;
    unsigned char hdr[14], mask[4];
    if (!ws->server)
        new_mask(ws, mask);
    size_t hl = grove__ws_frame_header(hdr, op, fin, rsv1, len, ws->server ? NULL : mask);
    ssize_t r = grove_stream_write(ws->s, hdr, hl);
    if (r >= 0 && len) {
        if (ws->server) {
            r = grove_stream_write(ws->s, data, len);
        } else {
            if (!ws->sbuf && !(ws->sbuf = malloc(SBUF_SIZE))) {
                r = -ENOMEM;
            }
            const unsigned char *p = data;
            for (size_t off = 0; r >= 0 && off < len;) {
                size_t n = len - off < SBUF_SIZE ? len - off : SBUF_SIZE;
                memcpy(ws->sbuf, p + off, n);
                grove__ws_mask(ws->sbuf, n, mask, off);
                r = grove_stream_write(ws->s, ws->sbuf, n);
                off += n;
            }
        }
    }
    if (r >= 0)
        r = grove_stream_flush(ws->s);
    if (r < 0) {
        /* a frame may be half written: nothing more can follow it */
        ws->wbroken = true;
        return (int)r;
    }
    return 0;
}

static int send_locked(grove_ws *ws, int op, bool fin, bool rsv1, const void *data, size_t len)
{
    int rc = grove_mutex_lock(&ws->wlock);
    if (rc < 0)
        return rc;
    rc = write_frame(ws, op, fin, rsv1, data, len);
    grove_mutex_unlock(&ws->wlock);
    return rc;
}

/* Compresses data into zbuf (Z_SYNC_FLUSH); at the end of a message strips the
 * 00 00 ff ff tail (RFC 7692 section 7.2.1). */
static int compress_piece(grove_ws *ws, const void *data, size_t len, bool fin, size_t *outlen)
{
    size_t want = len + len / 8 + 64;
    if (ws->zcap < want) {
        unsigned char *nb = realloc(ws->zbuf, want);
        if (!nb)
            return -ENOMEM;
        ws->zbuf = nb;
        ws->zcap = want;
    }
    ws->def.next_in = (Bytef *)(uintptr_t)data;
    ws->def.avail_in = 0;
    size_t in_left = len, out = 0;
    const unsigned char *in = data;
    for (;;) {
        if (ws->def.avail_in == 0 && in_left) {
            uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            ws->def.next_in = (Bytef *)(uintptr_t)in;
            ws->def.avail_in = chunk;
            in += chunk;
            in_left -= chunk;
        }
        if (out == ws->zcap) {
            size_t ncap = ws->zcap * 2;
            unsigned char *nb = realloc(ws->zbuf, ncap);
            if (!nb)
                return -ENOMEM;
            ws->zbuf = nb;
            ws->zcap = ncap;
        }
        size_t room = ws->zcap - out;
        if (room > (1u << 30))
            room = 1u << 30;
        ws->def.next_out = ws->zbuf + out;
        ws->def.avail_out = (uInt)room;
        int zr = deflate(&ws->def, in_left ? Z_NO_FLUSH : Z_SYNC_FLUSH);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return -EIO;
        out += room - ws->def.avail_out;
        if (!in_left && ws->def.avail_in == 0 && ws->def.avail_out != 0)
            break;
    }
    if (fin) {
        if (out >= 4 && memcmp(ws->zbuf + out - 4, deflate_tail, 4) == 0)
            out -= 4;
        /* Nothing was left to flush (an empty message, or the end of a fragmented one
         * whose data went out already): the message must still end where the receiver's
         * appended 00 00 ff ff completes an empty stored block, so send its header byte. */
        if (out == 0)
            ws->zbuf[out++] = 0x00;
        if (ws->def_reset)
            deflateReset(&ws->def);
    }
    *outlen = out;
    return 0;
}

static int send_data(grove_ws *ws, int type, const void *data, size_t len, bool fin, bool part)
{
    if (type != GROVE_WS_TEXT && type != GROVE_WS_BINARY)
        return -EINVAL;
    if (len && !data)
        return -EINVAL;
    int rc = grove_mutex_lock(&ws->wlock);
    if (rc < 0)
        return rc;
    if (ws->close_sent || ws->wbroken) {
        rc = -EPIPE;
        goto out;
    }
    if (ws->send_type && !part) {
        rc = -EBUSY;
        goto out;
    }
    if (ws->send_type && ws->send_type != type) {
        rc = -EINVAL;
        goto out;
    }
    int op = ws->send_type ? 0 : type;
    bool rsv1 = ws->pmd && !ws->send_type;
    if (ws->pmd) {
        size_t zl;
        rc = def_ready(ws);
        if (rc < 0)
            goto out;
        rc = compress_piece(ws, data, len, fin, &zl);
        if (rc < 0) {
            ws->wbroken = true; /* the compressor's state no longer matches the peer's */
            goto out;
        }
        rc = write_frame(ws, op, fin, rsv1, ws->zbuf, zl);
    } else {
        rc = write_frame(ws, op, fin, false, data, len);
    }
    if (rc == 0)
        ws->send_type = fin ? 0 : type;
out:
    grove_mutex_unlock(&ws->wlock);
    return rc;
}

int grove_ws_send(grove_ws *ws, int type, const void *data, size_t len)
{
    return ws ? send_data(ws, type, data, len, true, false) : -EINVAL;
}

int grove_ws_send_part(grove_ws *ws, int type, const void *data, size_t len, bool fin)
{
    return ws ? send_data(ws, type, data, len, fin, true) : -EINVAL;
}

static int send_control(grove_ws *ws, int op, const void *data, size_t len)
{
    if (!ws || len > 125 || (len && !data))
        return -EINVAL;
    if (ws->close_sent)
        return -EPIPE;
    return send_locked(ws, op, true, false, data, len);
}

int grove_ws_ping(grove_ws *ws, const void *data, size_t len) { return send_control(ws, GROVE_WS_PING, data, len); }
int grove_ws_pong(grove_ws *ws, const void *data, size_t len) { return send_control(ws, GROVE_WS_PONG, data, len); }

/* Sends our close frame once. */
static int send_close(grove_ws *ws, int code, const char *reason, size_t rlen)
{
    if (ws->close_sent)
        return 0;
    unsigned char p[125];
    size_t n = 0;
    if (code) {
        p[0] = (unsigned char)(code >> 8);
        p[1] = (unsigned char)code;
        n = 2;
        if (rlen > 123)
            rlen = 123;
        if (rlen)
            memcpy(p + 2, reason, rlen);
        n += rlen;
    }
    ws->close_sent = code ? code : GROVE_WS_CLOSE_NO_STATUS;
    int rc = grove_mutex_lock(&ws->wlock);
    if (rc < 0)
        return rc;
    rc = write_frame(ws, GROVE_WS_CLOSE, true, false, p, n);
    grove_mutex_unlock(&ws->wlock);
    return rc;
}

/* ---- Receiving ------------------------------------------------------------------------- */

/* Fails the connection: sends close with code (best effort) and remembers err. */
static int fail(grove_ws *ws, int code, int err, const char *why)
{
    if (!ws->failed) {
        ws->failed = true;
        ws->err = err;
        grove_timeout to;
        /* a peer that stopped reading must not hold us: the close is best effort */
        grove_timeout_start(&to, GROVE_SEC(1));
        send_close(ws, code, why, why ? strlen(why) : 0);
        grove_timeout_end(&to);
    }
    return err;
}

/* The next parser event, reading from the stream as needed. */
static int next_event(grove_ws *ws, grove__ws_event *ev)
{
    for (;;) {
        size_t used = grove__ws_parse(&ws->parser, ws->rbuf + ws->rpos, ws->rlen - ws->rpos, ev);
        ws->rpos += used;
        if (ev->type != GROVE__WS_EV_NONE)
            return 0;
        ws->rpos = ws->rlen = 0;
        ssize_t n = grove_stream_read(ws->s, ws->rbuf, RBUF_SIZE);
        if (n < 0)
            return (int)n;
        if (n == 0) {
            ws->failed = true;
            ws->err = -EPIPE;
            if (!ws->close_recv)
                ws->close_recv = GROVE_WS_CLOSE_ABNORMAL;
            return -ECONNRESET;
        }
        ws->rlen = (size_t)n;
    }
}

/* Inflates pending input into zout. Returns the bytes produced (>= 0) or -EBADMSG. */
static ssize_t inflate_some(grove_ws *ws)
{
    ws->inf.next_out = ws->zout;
    ws->inf.avail_out = ZCHUNK;
    for (;;) {
        /* one call runs until the input is used up or zout is full */
        int zr = inflate(&ws->inf, Z_SYNC_FLUSH);
        if (zr == Z_STREAM_END) {
            /* A block with BFINAL set (RFC 7692 section 7.2.3.3): the message's data ends
             * here, whatever follows it (the appended tail) is dropped, and the next
             * message starts a fresh stream. */
            inflateReset(&ws->inf);
            ws->inf.avail_in = 0;
            ws->z_ended = true;
            break;
        }
        if (zr == Z_OK || zr == Z_BUF_ERROR)
            break;
        return -EBADMSG;
    }
    return (ssize_t)(ZCHUNK - ws->inf.avail_out);
}

/* Handles a complete control frame in ctrl[0..clen). Returns > 0 to hand it to the
 * caller (the type), 0 to go on, or -errno. */
static int control(grove_ws *ws, int op, grove_ws_msg *m)
{
    ws->ctrl[ws->clen] = 0;
    memset(m, 0, sizeof *m);
    m->data = ws->ctrl;
    m->len = ws->clen;
    m->fin = true;
    m->type = op;
    if (op == GROVE_WS_PING) {
        if (!ws->close_sent) {
            int rc = send_locked(ws, GROVE_WS_PONG, true, false, ws->ctrl, ws->clen);
            if (rc < 0)
                return rc;
        }
        return ws->deliver_control ? op : 0;
    }
    if (op == GROVE_WS_PONG)
        return ws->deliver_control ? op : 0;
    /* close */
    int code = GROVE_WS_CLOSE_NO_STATUS;
    if (ws->clen == 1)
        return fail(ws, GROVE_WS_CLOSE_PROTOCOL, -EPROTO, "close frame of one byte");
    if (ws->clen >= 2) {
        code = ws->ctrl[0] << 8 | ws->ctrl[1];
        if (!grove__ws_close_code_ok(code))
            return fail(ws, GROVE_WS_CLOSE_PROTOCOL, -EPROTO, "bad close code");
        grove__ws_utf8 u = {0};
        if (!grove__ws_utf8_feed(&u, ws->ctrl + 2, ws->clen - 2) || !grove__ws_utf8_done(&u))
            return fail(ws, GROVE_WS_CLOSE_INVALID_DATA, -EILSEQ, "close reason is not UTF-8");
        m->data = ws->ctrl + 2;
        m->len = ws->clen - 2;
    }
    ws->close_recv = code;
    m->code = code;
    if (!ws->close_sent) {
        /* echo the peer's code (RFC 6455 section 5.5.1) */
        int echo = code == GROVE_WS_CLOSE_NO_STATUS ? 0 : code;
        int rc = send_close(ws, echo, "", 0);
        if (rc < 0 && rc != -EPIPE)
            return rc;
    }
    return GROVE_WS_CLOSE;
}

/* Checks a piece of a text message. */
static int check_text(grove_ws *ws, const unsigned char *p, size_t n, bool fin)
{
    if (ws->rx_type != GROVE_WS_TEXT)
        return 0;
    if (!grove__ws_utf8_feed(&ws->utf8, p, n) || (fin && !grove__ws_utf8_done(&ws->utf8)))
        return fail(ws, GROVE_WS_CLOSE_INVALID_DATA, -EILSEQ, "text is not UTF-8");
    return 0;
}

/* The next piece of data or a control frame. Data pieces are returned with m->type the
 * message's type; a message's last piece has m->fin. */
static int next_piece(grove_ws *ws, grove_ws_msg *m)
{
    if (ws->failed || ws->close_recv)
        return -EPIPE;
    for (;;) {
        /* compressed data still waiting for room in zout */
        if (ws->z_pending) {
            ssize_t n = inflate_some(ws);
            if (n < 0)
                return fail(ws, GROVE_WS_CLOSE_INVALID_DATA, -EBADMSG, "bad compressed data");
            bool drained = ws->inf.avail_in == 0 && ws->inf.avail_out != 0;
            if (drained)
                ws->z_pending = false;
            bool fin = drained && ws->z_final;
            if (n > 0 || fin) {
                int rc = check_text(ws, ws->zout, (size_t)n, fin);
                if (rc < 0)
                    return rc;
                ws->zout[n] = 0;
                memset(m, 0, sizeof *m);
                m->type = ws->rx_type;
                m->data = ws->zout;
                m->len = (size_t)n;
                m->fin = fin;
                if (fin)
                    goto message_done;
                return m->type;
            }
            continue;
        }
        grove__ws_event ev;
        int rc = next_event(ws, &ev);
        if (rc < 0)
            return rc;
        switch (ev.type) {
        case GROVE__WS_EV_ERROR:
            return fail(ws, ev.code, ev.code == GROVE_WS_CLOSE_TOO_BIG ? -EMSGSIZE : -EPROTO, ev.why);
        case GROVE__WS_EV_FRAME:
            ws->fr_op = ev.opcode;
            ws->fr_fin = ev.fin;
            if (ev.opcode & 0x8) {
                ws->clen = 0;
            } else if (ev.opcode) {
                ws->rx_type = ev.opcode;
                ws->rx_compressed = ev.rsv1;
                ws->z_ended = false;
                if (ev.rsv1 && inf_ready(ws) < 0)
                    return fail(ws, GROVE_WS_CLOSE_INTERNAL, -ENOMEM, "out of memory");
                memset(&ws->utf8, 0, sizeof ws->utf8);
            }
            continue;
        case GROVE__WS_EV_DATA:
            if (ws->fr_op & 0x8) {
                memcpy(ws->ctrl + ws->clen, ev.data, ev.n);
                ws->clen += ev.n;
                continue;
            }
            if (ws->rx_compressed) {
                if (ws->z_ended)
                    continue; /* after a final block */
                ws->inf.next_in = ev.data;
                ws->inf.avail_in = (uInt)ev.n;
                ws->z_pending = true;
                ws->z_final = false;
                continue;
            } else {
                /* the last bytes of a final frame end the message: take the END now */
                bool fin = false;
                if (ws->parser.left == 0 && ws->fr_fin) {
                    grove__ws_event end;
                    grove__ws_parse(&ws->parser, NULL, 0, &end);
                    fin = true;
                }
                rc = check_text(ws, ev.data, ev.n, fin);
                if (rc < 0)
                    return rc;
                memset(m, 0, sizeof *m);
                m->type = ws->rx_type;
                m->data = ev.data;
                m->len = ev.n;
                m->fin = fin;
                if (fin)
                    goto message_done;
                return m->type;
            }
        case GROVE__WS_EV_END:
            if (ws->fr_op & 0x8) {
                rc = control(ws, ws->fr_op, m);
                if (rc != 0)
                    return rc;
                continue;
            }
            if (!ws->fr_fin)
                continue;
            if (ws->rx_compressed) {
                ws->inf.next_in = (Bytef *)(uintptr_t)deflate_tail;
                ws->inf.avail_in = ws->z_ended ? 0 : 4;
                ws->z_pending = true;
                ws->z_final = true;
                continue;
            }
            /* an empty final frame: the message ends with an empty piece */
            rc = check_text(ws, NULL, 0, true);
            if (rc < 0)
                return rc;
            memset(m, 0, sizeof *m);
            m->type = ws->rx_type;
            m->data = (const unsigned char *)"";
            m->fin = true;
            goto message_done;
        default: continue;
        }
    }
message_done:
    if (ws->rx_compressed && ws->inf_reset)
        inflateReset(&ws->inf);
    ws->z_final = false;
    return m->type;
}

int grove_ws_recv_part(grove_ws *ws, grove_ws_msg *m)
{
    if (!ws || !m)
        return -EINVAL;
    if (ws->whole_busy || ws->reading)
        return -EBUSY;
    ws->reading = true;
    int rc = next_piece(ws, m);
    ws->reading = false;
    if (rc > 0 && !(rc & 0x8))
        ws->part_busy = !m->fin;
    return rc;
}

static int recv_whole(grove_ws *ws, grove_ws_msg *m);

int grove_ws_recv(grove_ws *ws, grove_ws_msg *m)
{
    if (!ws || !m)
        return -EINVAL;
    if (ws->part_busy || ws->reading)
        return -EBUSY;
    ws->reading = true;
    int rc = recv_whole(ws, m);
    ws->reading = false;
    return rc;
}

static int recv_whole(grove_ws *ws, grove_ws_msg *m)
{
    for (;;) {
        grove_ws_msg piece;
        int rc = next_piece(ws, &piece);
        if (rc < 0)
            return rc;
        if (rc & 0x8) {
            *m = piece;
            return rc;
        }
        ws->whole_busy = true;
        if (ws->mlen + piece.len > ws->max_message)
            return fail(ws, GROVE_WS_CLOSE_TOO_BIG, -EMSGSIZE, "message too big");
        if (ws->mlen + piece.len + 1 > ws->mcap) {
            size_t ncap = ws->mcap ? ws->mcap : 4096;
            while (ncap < ws->mlen + piece.len + 1)
                ncap *= 2;
            unsigned char *nb = realloc(ws->mbuf, ncap);
            if (!nb)
                return fail(ws, GROVE_WS_CLOSE_INTERNAL, -ENOMEM, "out of memory");
            ws->mbuf = nb;
            ws->mcap = ncap;
        }
        if (piece.len)
            memcpy(ws->mbuf + ws->mlen, piece.data, piece.len);
        ws->mlen += piece.len;
        if (!piece.fin)
            continue;
        ws->mbuf[ws->mlen] = 0;
        memset(m, 0, sizeof *m);
        m->type = piece.type;
        m->data = ws->mbuf;
        m->len = ws->mlen;
        m->fin = true;
        ws->mlen = 0;
        ws->whole_busy = false;
        return m->type;
    }
}

/* ---- Closing --------------------------------------------------------------------------- */

int grove_ws_close(grove_ws *ws, int code, const char *reason)
{
    if (!ws)
        return -EINVAL;
    size_t rlen = reason ? strlen(reason) : 0;
    if (code && !grove__ws_close_code_ok(code))
        return -EINVAL;
    if (rlen > 123 || (rlen && !code))
        return -EINVAL;
    grove__ws_utf8 u = {0};
    if (rlen && (!grove__ws_utf8_feed(&u, (const unsigned char *)reason, rlen) || !grove__ws_utf8_done(&u)))
        return -EINVAL;
    if (!ws->close_sent) {
        int rc = send_close(ws, code, reason, rlen);
        if (rc < 0)
            return rc;
    }
    if (ws->close_recv)
        return ws->close_recv == GROVE_WS_CLOSE_ABNORMAL ? -ECONNRESET : 0;
    /* with another green thread receiving, that thread sees the peer's close */
    if (ws->failed || ws->reading || ws->close_timeout < 0)
        return 0;
    grove_timeout to;
    grove_timeout_start(&to, ws->close_timeout);
    int rc;
    ws->reading = true; /* a receive call meanwhile gets -EBUSY */
    for (;;) {
        grove_ws_msg m;
        rc = next_piece(ws, &m);
        if (rc == GROVE_WS_CLOSE) {
            rc = 0;
            break;
        }
        if (rc < 0)
            break;
    }
    ws->reading = false;
    bool fired = grove_timeout_end(&to);
    if (rc == -ETIMEDOUT && fired)
        return -ETIMEDOUT;
    return rc;
}
