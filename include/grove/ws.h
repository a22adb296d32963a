/* Grove WebSocket (RFC 6455) with permessage-deflate (RFC 7692), over any grove_stream.
 *
 * A grove_ws is one WebSocket connection, client or server side, running over a buffered
 * grove_stream: a plain TCP stream, a TLS stream (grove_tls_stream), or the connection an
 * HTTP server hands over after an upgrade request. Library target grove_ws (libgrove-ws);
 * it links libgrove and zlib.
 *
 * - Servers call grove_ws_accept with the request's header values (or, from an HTTP
 *   handler, grove_ws_upgrade); it validates them, answers 101 (or 400 / 426 for a bad
 *   request) and returns the connection.
 * - Clients call grove_ws_connect("ws://host:port/path" or "wss://..."), or
 *   grove_ws_client over a stream they opened themselves.
 * - Messages are received whole (grove_ws_recv) or in pieces as they arrive
 *   (grove_ws_recv_part), and sent whole (grove_ws_send) or fragmented
 *   (grove_ws_send_part). Pings are answered automatically.
 * - Every violation of the protocol by the peer fails the connection: Grove sends a close
 *   frame with the matching code (1002 protocol error, 1007 bad payload data, 1009 too
 *   big) and the receive call returns the matching -errno (see grove_ws_recv).
 *
 * Threads: a grove_ws belongs to the hub that made it. One green thread may receive while
 * another sends (frames are written whole under an internal green mutex, so an automatic
 * pong never lands inside another frame); two green threads must not receive at once.
 * Every call that does I/O is a switch point and honours the caller's timeout scopes and
 * kill (-ETIMEDOUT, -ECANCELED). Returns are >= 0 or -errno, as everywhere in Grove.
 * docs/websocket.md is the guide (defaults, limits, which failure closes with which code).
 */
#ifndef GROVE_WS_H
#define GROVE_WS_H

#include "grove/io.h"
#include "grove/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message and frame types (the RFC 6455 opcodes). */
#define GROVE_WS_TEXT 0x1
#define GROVE_WS_BINARY 0x2
#define GROVE_WS_CLOSE 0x8
#define GROVE_WS_PING 0x9
#define GROVE_WS_PONG 0xA

/* Close status codes (RFC 6455 section 7.4.1) that Grove sends or reports. */
#define GROVE_WS_CLOSE_NORMAL 1000
#define GROVE_WS_CLOSE_GOING_AWAY 1001
#define GROVE_WS_CLOSE_PROTOCOL 1002
#define GROVE_WS_CLOSE_UNSUPPORTED 1003
#define GROVE_WS_CLOSE_NO_STATUS 1005 /* reported only: the peer's close had no code */
#define GROVE_WS_CLOSE_ABNORMAL 1006  /* reported only: the connection ended without a close */
#define GROVE_WS_CLOSE_INVALID_DATA 1007
#define GROVE_WS_CLOSE_POLICY 1008
#define GROVE_WS_CLOSE_TOO_BIG 1009
#define GROVE_WS_CLOSE_EXTENSION 1010
#define GROVE_WS_CLOSE_INTERNAL 1011

/* Options for a connection. Zero-initialise, then set what you need: every zero field
 * means the default named here. The structure is only read during the call it is passed
 * to; the strings are copied or used before that call returns. */
typedef struct grove_ws_opts {
    size_t max_frame;                /* largest frame payload accepted (0 = 16 MiB); larger: 1009 */
    size_t max_message;              /* largest message accepted by grove_ws_recv, after
                                decompression (0 = 16 MiB); larger: 1009 */
    int64_t close_timeout;           /* how long grove_ws_close waits for the peer's close frame
                                (0 = 5 s; < 0 = do not wait) */
    int deflate;                     /* permessage-deflate: 1 = offer it (client) / accept an offer
                                (server); 0 = off */
    int deflate_level;               /* zlib level 1..9 for outgoing messages (0 = 6)
                                Out-of-range levels or window bits: -EINVAL */
    int deflate_no_context_takeover; /* 1 = our compressor forgets its window after each
                                          message (less memory, worse ratio) */
    int deflate_window_bits;         /* our compressor's window, 8..15 (0 = 15; 8 means Huffman
                                coding only); a server announces it as
                                server_max_window_bits */
    int deliver_control;             /* 1 = grove_ws_recv also returns pings and pongs (pings are
                                still answered automatically) */
    const char *protocols;           /* subprotocols, comma-separated. Client: offered in this order.
                                Server: the ones it supports; it picks the first protocol of
                                the client's offer that is listed here. NULL = none */
    /* Client only (grove_ws_connect / grove_ws_client): */
    const char *origin;        /* Origin header (NULL = none) */
    const char *headers;       /* extra request header lines, each ending in "\r\n" (NULL) */
    const grove_tls_opts *tls; /* wss: TLS options (CA file...); NULL = defaults: verify
                                    against the system store */
    size_t bufsize;            /* grove_ws_connect's stream buffer size (0 = 16 KiB) */
} grove_ws_opts;

/* The values of an upgrade request's headers, for grove_ws_accept. NULL = absent. A header
 * that appeared several times is given as its values joined with ", ". */
typedef struct grove_ws_request {
    const char *method;     /* request method: must be "GET" (NULL = not checked) */
    const char *upgrade;    /* Upgrade: must contain the token "websocket" */
    const char *connection; /* Connection: must contain the token "Upgrade" */
    const char *key;        /* Sec-WebSocket-Key: base64 of 16 bytes */
    const char *version;    /* Sec-WebSocket-Version: must be "13" */
    const char *extensions; /* Sec-WebSocket-Extensions (optional) */
    const char *protocol;   /* Sec-WebSocket-Protocol (optional) */
} grove_ws_request;

typedef struct grove_ws grove_ws;

/* A received message or piece of one. data points into the connection's own buffers and
 * stays valid until the next receive call or grove_ws_free. A whole message from
 * grove_ws_recv (and a control frame's payload) is followed by a NUL byte, so text can be
 * used as a C string when it holds no NUL; pieces from grove_ws_recv_part are not. */
typedef struct grove_ws_msg {
    int type; /* GROVE_WS_TEXT, BINARY, PING, PONG or CLOSE */
    const unsigned char *data;
    size_t len;
    bool fin; /* grove_ws_recv_part: this is the message's last piece
                                (always true for grove_ws_recv) */
    int code; /* GROVE_WS_CLOSE: the peer's status code (1005 if none);
                                data/len: its reason */
} grove_ws_msg;

/* ---- Handshakes ---------------------------------------------------------------------- */

/* Server side of the opening handshake over stream s, whose request head has been read
 * (the next bytes on s are the client's first frames). Validates req: a bad method,
 * Upgrade, Connection or key gets "400 Bad Request", a Sec-WebSocket-Version other than 13
 * gets "426 Upgrade Required" with "Sec-WebSocket-Version: 13"; both are written to s.
 * Otherwise writes "101 Switching Protocols" with Sec-WebSocket-Accept, the chosen
 * subprotocol and, if opts->deflate and the client offered an acceptable
 * permessage-deflate configuration, the extension's answer.
 * The connection does not own s: grove_ws_free leaves it open (the caller or the HTTP
 * server closes it). opts may be NULL (defaults). Switches (writes).
 * Returns 0 and *out; -EINVAL (bad request: 400 sent; or NULL s/req/out or options out
 * of range: nothing sent); -EPROTONOSUPPORT (bad version:
 * 426 sent); -ENOMEM; -errno from writing (-EPIPE, -ETIMEDOUT, -ECANCELED...). */
GROVE_API int grove_ws_accept(grove_stream *s, const grove_ws_request *req, const grove_ws_opts *opts, grove_ws **out);

struct grove_http_req;

/* The upgrade from an HTTP handler (grove/http.h): reads the request's Upgrade,
 * Connection and Sec-WebSocket-* headers (grove_http_req_header), takes the connection's
 * stream from the server (grove_http_take_stream; the server closes it after the handler
 * returns) and runs grove_ws_accept on it. Present in libgrove-ws only when it is built
 * together with the HTTP layer (target grove_http). Switches.
 * Returns as grove_ws_accept; -EINVAL if req or out is NULL or the stream was already
 * taken. */
GROVE_API int grove_ws_upgrade(struct grove_http_req *req, const grove_ws_opts *opts, grove_ws **out);

/* Client side of the opening handshake over an open stream s: sends
 * "GET path HTTP/1.1" with Host: host and a random Sec-WebSocket-Key, reads the response
 * head (at most 16 KiB) and validates it strictly: status 101, Upgrade: websocket,
 * Connection: Upgrade, the right Sec-WebSocket-Accept, no extension or subprotocol the
 * client did not offer, permessage-deflate parameters well formed. On success the
 * connection owns s (grove_ws_free closes it); on failure s is left to the caller.
 * Switches. Returns 0 and *out; -EPROTO (bad or refused handshake: the status code is
 * available through grove_ws_handshake_status); -ECONNRESET (the stream ended before the
 * response head did); -EINVAL (bad arguments: host or path empty, path not starting with
 * '/', CR/LF or control characters in them or in the options, options out of range);
 * -ENOMEM; -EIO (no random bytes); -errno from the stream. */
GROVE_API int grove_ws_client(grove_stream *s, const char *host, const char *path, const grove_ws_opts *opts,
                              grove_ws **out);

/* Connects to url ("ws://host[:port][/path][?query]" or "wss://..."; port 80 / 443 by
 * default; an IPv6 host in brackets), with TLS for wss (server certificate and host name
 * verified through grove_tls_*, with opts->tls), then runs grove_ws_client. The
 * connection owns the socket. Bound it with a timeout scope. Switches.
 * Returns 0 and *out; -EINVAL (bad URL: another scheme, user info, a fragment, a bad
 * port, spaces or control characters); -EKEYREJECTED (certificate rejected); -EPROTO
 * (TLS handshake failed, or grove_ws_client's); grove_connect's and grove_ws_client's
 * errors. Nothing stays open on failure. */
GROVE_API int grove_ws_connect(const char *url, const grove_ws_opts *opts, grove_ws **out);

/* The HTTP status code of the last failed client handshake on this OS thread (0 if the
 * response was not HTTP at all). Never switches. */
GROVE_API int grove_ws_handshake_status(void);

/* Computes Sec-WebSocket-Accept for key into out (29 bytes: 28 characters and a NUL).
 * Returns 0, or -EINVAL if key is NULL. Never switches. Thread-safe. */
GROVE_API int grove_ws_accept_key(const char *key, char out[29]);

/* ---- Messages -------------------------------------------------------------------------- */

/* Receives the next whole message (fragments are joined and decompressed). Pings are
 * answered with a pong automatically; with opts.deliver_control, pings and pongs are
 * also returned as messages. Text is checked to be valid UTF-8.
 * When the peer closes, Grove answers with a close frame (echoing its code) and returns
 * GROVE_WS_CLOSE with m->code and the reason; later calls return -EPIPE.
 * Switches. Returns the message type (> 0), or:
 *   -EPROTO   the peer broke the protocol (bad opcode, reserved bit, unmasked client frame,
 *             masked server frame, fragmented or oversized control frame, continuation
 *             without a message, bad close code...): close 1002 was sent
 *   -EILSEQ   text or a close reason that is not UTF-8: close 1007 was sent
 *   -EBADMSG  compressed data that does not inflate: close 1007 was sent
 *   -EMSGSIZE a frame over max_frame or a message over max_message: close 1009 was sent
 *   -ECONNRESET the stream ended without a close frame (status 1006)
 *   -EPIPE    the connection is closed (a close was received or the connection failed)
 *   -EBUSY    another piece-wise message is half read (see grove_ws_recv_part), or
 *             another green thread is receiving on this connection
 *   other -errno from the stream (-ETIMEDOUT, -ECANCELED: the connection stays usable).
 * After a failure the connection can only be closed and freed. */
GROVE_API int grove_ws_recv(grove_ws *ws, grove_ws_msg *m);

/* Receives the next piece of a message, as it arrives: each call returns the data of one
 * frame (or part of one; decompressed data in pieces of at most 16 KiB) with m->type the
 * message's type and m->fin set on the last piece. Pieces of text may split a UTF-8
 * sequence; the message as a whole is still validated. max_message does not apply
 * (max_frame does). Control frames come as in grove_ws_recv. Pieces of one message may be
 * read with grove_ws_recv_part only. Switches. Returns as grove_ws_recv. */
GROVE_API int grove_ws_recv_part(grove_ws *ws, grove_ws_msg *m);

/* Sends a whole message of type GROVE_WS_TEXT or GROVE_WS_BINARY as one frame, compressed
 * if permessage-deflate was negotiated (text is not checked: send valid UTF-8). Client
 * frames are masked with a fresh random key. Switches.
 * Returns 0; -EINVAL (bad type); -EBUSY (a fragmented message is being sent); -EPIPE
 * (a close was sent or the connection failed); -ENOMEM; -errno from the stream. */
GROVE_API int grove_ws_send(grove_ws *ws, int type, const void *data, size_t len);

/* Sends one fragment of a message: the first call gives the type (TEXT or BINARY), later
 * calls must pass the same type; fin = true ends the message. Control frames (pings,
 * automatic pongs) may go out between fragments. Switches. Returns as grove_ws_send, and
 * -EINVAL if type changes mid-message. */
GROVE_API int grove_ws_send_part(grove_ws *ws, int type, const void *data, size_t len, bool fin);

/* Sends a ping or an unsolicited pong with at most 125 bytes of application data. The
 * peer's pong is seen by the receiving side (with opts.deliver_control). Switches.
 * Returns 0; -EINVAL (len > 125); -EPIPE; -errno from the stream. */
GROVE_API int grove_ws_ping(grove_ws *ws, const void *data, size_t len);
GROVE_API int grove_ws_pong(grove_ws *ws, const void *data, size_t len);

/* The closing handshake: sends a close frame with code (1000..4999, but not 1004-1006 nor
 * 1015; 0 = a close frame without a code) and a reason (NULL or at most 123 bytes of
 * UTF-8), unless one was sent already, then reads and discards incoming messages until
 * the peer's close frame arrives, the stream ends, or opts.close_timeout passes. Does not
 * wait if the peer's close was already received or the connection failed, nor while
 * another green thread is inside a receive call: that thread then gets the peer's close
 * (GROVE_WS_CLOSE), and should bound its wait with a timeout scope. The stream stays open
 * until grove_ws_free. Switches.
 * Returns 0 (the peer's close was received, or close_timeout < 0 says not to wait, or
 * another green thread receives);
 * -ETIMEDOUT (it was not, within the timeout);
 * -ECONNRESET (the stream ended first); -EINVAL (bad code or reason: nothing sent);
 * -errno from the stream. */
GROVE_API int grove_ws_close(grove_ws *ws, int code, const char *reason);

/* Frees the connection: closes the stream if the connection owns it (client side),
 * releases zlib state and buffers. Sends nothing: call grove_ws_close first for a clean
 * close. Switches (closing a stream flushes it). Returns 0, or the stream's close result. */
GROVE_API int grove_ws_free(grove_ws *ws);

/* ---- State ----------------------------------------------------------------------------- */

/* The stream under ws (still valid after a failure, until grove_ws_free). */
GROVE_API grove_stream *grove_ws_stream(const grove_ws *ws);
/* The negotiated subprotocol ("" if none). Valid until grove_ws_free. */
GROVE_API const char *grove_ws_protocol(const grove_ws *ws);
/* Whether permessage-deflate was negotiated. */
GROVE_API bool grove_ws_deflate(const grove_ws *ws);
/* The status code of the close frame we sent (0 if none yet), and the one we received
 * (0 if none yet; 1005 if it carried no code; 1006 if the stream ended without one). */
GROVE_API int grove_ws_close_sent(const grove_ws *ws);
GROVE_API int grove_ws_close_received(const grove_ws *ws);

#ifdef __cplusplus
}
#endif
#endif
