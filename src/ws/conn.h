/* The grove_ws structure, shared by the connection (ws.c) and the handshakes
 * (handshake.c). Private to src/ws/. */
#ifndef GROVE_WS_CONN_H
#define GROVE_WS_CONN_H

#include "ws/ws-internal.h"

#include <grove/sync.h>
#include <grove/ws.h>
#include <stdio.h>
#include <zlib.h>

#define GROVE__WS_DEFAULT_MAX ((size_t)16 << 20)

struct grove_ws {
    grove_stream *s;
    bool server, own;
    size_t max_frame, max_message;
    int64_t close_timeout;
    bool deliver_control;
    char protocol[128];

    /* reading */
    grove__ws_parser parser;
    unsigned char *rbuf;
    size_t rpos, rlen;
    int fr_op; /* the current frame */
    bool fr_fin;
    int rx_type; /* the message being received */
    bool rx_compressed;
    grove__ws_utf8 utf8;
    unsigned char ctrl[128]; /* a control frame's payload, NUL-terminated */
    size_t clen;
    unsigned char *mbuf; /* grove_ws_recv's message */
    size_t mlen, mcap;
    bool whole_busy, part_busy;
    bool reading; /* a green thread is inside a receive call */

    /* permessage-deflate */
    bool pmd;
    z_stream inf, def;
    bool inf_init, def_init;
    bool inf_reset, def_reset;       /* no context takeover, each way */
    int z_level, z_bits, z_strategy; /* our compressor's settings */
    bool z_pending, z_final;
    bool z_ended;        /* the message's deflate stream had a final block */
    unsigned char *zout; /* inflated piece (ZCHUNK + NUL) */
    unsigned char *zbuf; /* compressed outgoing frame */
    size_t zcap;

    /* writing */
    grove_mutex wlock;
    bool wlock_init, wbroken;
    int send_type;          /* the fragmented message being sent, 0 if none */
    unsigned char *sbuf;    /* masking scratch (clients) */
    unsigned char rnd[256]; /* random bytes for masks */
    size_t rndpos;

    /* closing */
    int close_sent, close_recv;
    bool failed;
    int err;
};

/* Whether the options are in range (deflate level 0..9, window bits 0 or 8..15). */
static inline bool grove__ws_opts_ok(const grove_ws_opts *o)
{
    return !o || (o->deflate_level >= 0 && o->deflate_level <= 9 &&
                  (o->deflate_window_bits == 0 || (o->deflate_window_bits >= 8 && o->deflate_window_bits <= 15)));
}

GROVE_WS_HIDDEN grove_ws *grove__ws_new(grove_stream *s, bool server, bool own, const grove_ws_opts *o,
                                        const grove__ws_pmd *pmd, const char *protocol);

#endif
