/* Internals of the WebSocket library (src/ws/), shared between its files only.
 *
 * The frame parser and the UTF-8 validator are pure (bytes in, events out, no I/O, no
 * allocation), so fuzz/fuzz-ws-frame.c and the unit tests drive them alone. */
#ifndef GROVE_WS_INTERNAL_H
#define GROVE_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define GROVE_WS_HIDDEN __attribute__((visibility("hidden")))
#else
#define GROVE_WS_HIDDEN
#endif

/* ---- Frame parser -------------------------------------------------------------------- */

enum {
    GROVE__WS_EV_NONE = 0, /* every input byte was consumed; feed more */
    GROVE__WS_EV_FRAME,    /* a frame header: opcode, fin, rsv1, len are set */
    GROVE__WS_EV_DATA,     /* payload bytes (unmasked in place): data, n */
    GROVE__WS_EV_END,      /* the end of the frame's payload */
    GROVE__WS_EV_ERROR,    /* the peer broke the protocol: code (1002 or 1009) */
};

typedef struct grove__ws_event {
    int type;
    int opcode; /* FRAME: the frame's opcode (0 = continuation) */
    bool fin, rsv1;
    uint64_t len;        /* FRAME: payload length */
    unsigned char *data; /* DATA */
    size_t n;
    int code;        /* ERROR: close status to send */
    const char *why; /* ERROR: a short reason, for the close frame and logs */
} grove__ws_event;

typedef struct grove__ws_parser {
    /* settings */
    bool expect_masked; /* a server expects masked frames; a client unmasked ones */
    bool rsv1_ok;       /* permessage-deflate negotiated */
    uint64_t max_frame;
    /* state */
    uint8_t state;
    uint8_t hdr[14];
    uint8_t hlen, hneed;
    uint8_t opcode;
    bool fin, rsv1, masked, failed;
    uint8_t mask[4];
    uint64_t left;   /* payload bytes still to come */
    uint64_t off;    /* payload offset, for the mask */
    bool in_message; /* a fragmented data message is open */
    int err_code;    /* after an error: the close status, and why */
    const char *err_why;
} grove__ws_parser;

GROVE_WS_HIDDEN void grove__ws_parser_init(grove__ws_parser *p, bool expect_masked, bool rsv1_ok, uint64_t max_frame);
/* Consumes bytes from in[0..len) until it has one event to report (or the input is used
 * up: GROVE__WS_EV_NONE). Returns the number of bytes consumed. Payload is unmasked in
 * place, so DATA events point into in. After an ERROR the parser reports the same error
 * for any input. */
GROVE_WS_HIDDEN size_t grove__ws_parse(grove__ws_parser *p, unsigned char *in, size_t len, grove__ws_event *ev);

/* Writes a frame header into out (at most 14 bytes) and returns its length. mask is NULL
 * for an unmasked frame. */
GROVE_WS_HIDDEN size_t grove__ws_frame_header(unsigned char *out, int opcode, bool fin, bool rsv1, uint64_t len,
                                              const unsigned char *mask);
/* XORs n bytes with the mask, starting at payload offset off. */
GROVE_WS_HIDDEN void grove__ws_mask(unsigned char *buf, size_t n, const unsigned char mask[4], uint64_t off);

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Incremental validator: state 0 = between characters. Returns false as soon as the bytes
 * seen so far cannot start valid UTF-8 (overlong forms, surrogates, > U+10FFFF, bad
 * continuation bytes). At the end of a message the state must be 0. */
typedef struct grove__ws_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* range allowed for the next continuation byte */
} grove__ws_utf8;

GROVE_WS_HIDDEN bool grove__ws_utf8_feed(grove__ws_utf8 *u, const unsigned char *s, size_t n);
static inline bool grove__ws_utf8_done(const grove__ws_utf8 *u) { return u->need == 0; }

/* ---- Close frames --------------------------------------------------------------------- */

/* Whether code may appear in a close frame on the wire. */
GROVE_WS_HIDDEN bool grove__ws_close_code_ok(int code);

/* ---- Handshake helpers ---------------------------------------------------------------- */

GROVE_WS_HIDDEN void grove__ws_sha1(const void *data, size_t len, unsigned char out[20]);
/* Standard base64 with padding; out needs 4 * ((n + 2) / 3) + 1 bytes. Returns the length. */
GROVE_WS_HIDDEN size_t grove__ws_base64(const unsigned char *in, size_t n, char *out);
/* Decodes strict padded base64; returns the decoded length or -1. */
GROVE_WS_HIDDEN long grove__ws_unbase64(const char *in, size_t n, unsigned char *out, size_t cap);

/* permessage-deflate parameters, as negotiated. */
typedef struct grove__ws_pmd {
    bool on;
    bool server_no_ctx, client_no_ctx;
    int server_bits, client_bits; /* 8..15; 0 = not given */
    bool client_bits_offered;     /* client_max_window_bits without a value (offers) */
} grove__ws_pmd;

/* Parses one extension element starting at *s (up to a ',' at top level or the end):
 * sets *is_pmd if its name is permessage-deflate and fills pmd from its parameters.
 * Returns 0, or -1 if it is malformed or (for permessage-deflate) has unknown, repeated
 * or out-of-range parameters. *s moves past the element and its comma. */
GROVE_WS_HIDDEN int grove__ws_ext_parse(const char **s, bool *is_pmd, grove__ws_pmd *pmd, bool offer);

#endif
