/* A connection's transport (plain fd or TLS) and its read buffer, shared by the server
 * and the client. The buffer holds [0, keep) untouched (the current head, which the
 * request's strings point into), then parsed bytes up to pos, then unparsed bytes up to
 * end. Making room moves only [pos, end), down to keep. */
#ifndef GROVE_HTTP_CONN_H
#define GROVE_HTTP_CONN_H

#include "http/parse.h"

#include <sys/uio.h>

typedef struct grove__hio {
    int fd;
    grove_tls *tls;
    char *buf;
    char *wbuf; /* TLS only: gathers a response into one record */
    size_t cap, maxcap, keep, pos, end;
    int64_t send_timeout;
} grove__hio;

/* Sets up io over fd (and tls if not NULL). Never switches. Returns 0 or -ENOMEM. */
GROVE__HIDDEN int grove__hio_init(grove__hio *io, int fd, grove_tls *tls, const grove_http_limits *lim);
GROVE__HIDDEN void grove__hio_free(grove__hio *io);
/* Reads more bytes at end, within timeout_ns (<= 0: no limit of its own). The parser's
 * offsets past keep are shifted along with the bytes (hp may be NULL).
 * Returns the count, 0 at EOF, -EMSGSIZE if the buffer cannot grow, or -errno. Switches. */
GROVE__HIDDEN ssize_t grove__hio_fill(grove__hio *io, grove__hp *hp, int64_t timeout_ns);
/* Gives an empty buffer back to the thread's cache / takes one (0 or -ENOMEM). */
GROVE__HIDDEN void grove__hio_release(grove__hio *io);
GROVE__HIDDEN int grove__hio_acquire(grove__hio *io);
/* Moves the unparsed bytes to the start of the buffer for the next message. */
GROVE__HIDDEN void grove__hio_next(grove__hio *io);
/* Writes everything (each write bounded by send_timeout). Returns 0 or -errno. Switches. */
GROVE__HIDDEN int grove__hio_writev(grove__hio *io, struct iovec *iov, int n);
/* Peeks at the socket without blocking or consuming (below TLS): the count, 0 if the peer
 * closed, -EAGAIN if nothing is there, or -errno. Never switches. */
GROVE__HIDDEN ssize_t grove__hio_peek(const grove__hio *io, void *buf, size_t n);
/* Reads straight from the transport (for a taken-over stream). */
GROVE__HIDDEN ssize_t grove__hio_read_raw(grove__hio *io, void *buf, size_t n);
/* Shifts the parser's scanner offsets past from by -delta (after the buffer moved). */
GROVE__HIDDEN void grove__hp_shift(grove__hp *hp, size_t from, size_t delta);
/* A whole body read into one buffer (grove_http_req_body, grove_http_resp_body): reads
 * with rd(ctx, ...) until it returns 0, growing *buf (doubling, at least expect + 1 bytes
 * when the size is known), and NUL-terminates it. *len and *done carry the progress, so
 * a call that failed (kill, timeout) can be repeated. Returns the length; -EMSGSIZE once
 * more than max bytes came; -ENOMEM; or rd's error. Switches (through rd). */
GROVE__HIDDEN ssize_t grove__read_whole(char **buf, size_t *len, int *done, size_t expect, size_t max,
                                        ssize_t (*rd)(void *ctx, void *buf, size_t n), void *ctx);
/* "Date: ..." value for now (cached per second per OS thread), NUL-terminated, 29 chars. */
GROVE__HIDDEN const char *grove__http_date(void);

#endif
