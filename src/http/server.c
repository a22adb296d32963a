/* The HTTP/1.1 server: one green thread per connection (grove_server), a request loop
 * with keep-alive and pipelining, the handler API (request accessors, body reading,
 * responses), protocol take-over, and graceful stop.
 *
 * Hot path: a keep-alive request that fits the connection's buffer allocates nothing;
 * its response head is built in a per-connection buffer and goes out with the body in
 * one writev. */
#include "http/conn.h"
#include "grove/tpool.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct grove_http_server {
    grove_server *srv;
    grove_http_handler handler;
    void *arg;
    grove_http_limits lim;
    grove_tls_ctx *tls;
    char *server_header;
    int stopping;
    grove_http_req *conns;
    size_t nconns;
    uint64_t requests;
    /* access log: lines gather here and a green thread writes them out */
    int log_fd, log_fmt, log_own;
    int log_next;   /* a reopened file the log thread switches to, or -1 */
    char *log_path; /* when log_own */
    char *log, *log_spare;
    size_t loglen, logcap, sparecap;
    grove_thread *log_thread;
    grove_thread *sweeper;
    int64_t drain_ns; /* a stop's drain window */
    int64_t sweep_every;
};

struct grove_http_req {
    grove_http_server *srv;
    grove_http_req *prev, *next; /* the server's connections */
    grove_thread *self;
    int idle;          /* waiting for a request's first byte */
    unsigned served;   /* requests answered on this connection */
    int64_t rdeadline; /* a read in progress must finish by then (0: none) */
    int timed_out;     /* the sweeper cut the read side at rdeadline */
    grove__hio io;
    grove__hp hp;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    char peer_str[INET6_ADDRSTRLEN + 8];

    /* request */
    char *pathbuf;
    size_t pathcap;
    const char *path, *query;
    const char *host; /* absolute-form target: its authority, which overrides Host */
    int body_err;
    int continue_sent;
    char *whole;
    size_t whole_len;
    int whole_done;

    /* response */
    char *out; /* response head under construction */
    size_t outlen, outcap;
    char *uh; /* user headers "Name: value\r\n"... */
    size_t uhlen, uhcap;
    char *tr; /* response trailers */
    size_t trlen, trcap;
    int status, started, head_sent, finished, chunked, close_delim, no_body, must_close;
    int64_t resp_cl;
    uint64_t body_sent, bytes_out;
    grove_stream *taken;
};

/* ---- small buffers ------------------------------------------------------------------------- */

static int grow(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *n = realloc(*b, c);
    if (!n)
        return -ENOMEM;
    *b = n;
    *cap = c;
    return 0;
}

static int append(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (grow(b, cap, *len + n + 1))
        return -ENOMEM;
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = 0;
    return 0;
}

/* ---- request accessors --------------------------------------------------------------------- */

const char *grove_http_req_method(const grove_http_req *req)
{
    if (req->hp.method_len) /* a method llhttp does not know */
        return req->io.buf + req->hp.method;
    return llhttp_method_name((llhttp_method_t)req->hp.ll.method);
}

const char *grove_http_req_target(const grove_http_req *req) { return req->io.buf + req->hp.url; }

const char *grove_http_req_path(const grove_http_req *req) { return req->path; }
const char *grove_http_req_query(const grove_http_req *req) { return req->query; }
int grove_http_req_version_minor(const grove_http_req *req) { return req->hp.http_minor; }

const char *grove_http_req_header(const grove_http_req *req, const char *name)
{
    if (!req || !name)
        return NULL;
    /* RFC 9112 3.2.2: the host of an absolute-form target replaces the Host header. */
    if (req->host && !strcasecmp(name, "host"))
        return req->host;
    return grove__hp_header(&req->hp, req->io.buf, name);
}

size_t grove_http_req_header_count(const grove_http_req *req) { return req->hp.nhdr; }

int grove_http_req_header_at(const grove_http_req *req, size_t i, const char **name, const char **value)
{
    return grove__hp_header_at(&req->hp, req->io.buf, i, name, value);
}

const char *grove_http_req_trailer(const grove_http_req *req, const char *name)
{
    return grove__hp_trailer(&req->hp, name);
}

int64_t grove_http_req_content_length(const grove_http_req *req) { return req->hp.content_length; }

int grove_http_req_peer(const grove_http_req *req, struct sockaddr *sa, socklen_t *salen)
{
    if (!req || !sa || !salen)
        return -EINVAL;
    socklen_t n = *salen < req->peerlen ? *salen : req->peerlen;
    memcpy(sa, &req->peer, n);
    *salen = req->peerlen;
    return 0;
}

const char *grove_http_req_peer_str(const grove_http_req *req) { return req->peer_str; }

/* ---- writing --------------------------------------------------------------------------------- */

static int send_iov(grove_http_req *c, struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    int rc = grove__hio_writev(&c->io, iov, n);
    if (rc < 0) {
        c->must_close = 1;
        return rc;
    }
    c->bytes_out += total;
    return 0;
}

static int body_done(const grove_http_req *c) { return c->hp.msg_done || c->hp.content_length == 0; }

/* Whether the connection can stay open after this response. */
static int keep_alive(grove_http_req *c)
{
    if (c->must_close || !c->hp.keep_alive || c->hp.upgrade || c->srv->stopping)
        return 0;
    /* A body the client was told to hold back (100-continue) might still come, or not:
     * the only safe thing is to close. */
    if (!body_done(c) && c->hp.expect_continue && !c->continue_sent)
        return 0;
    return 1;
}

/* Responses that never have content, hence neither Content-Length nor Transfer-Encoding
 * (RFC 9110 8.6, 9.3.6; RFC 9112 6.1): 204, 304, and a 2xx to CONNECT. */
static int no_content(const grove_http_req *c, int status)
{
    return status == 204 || status == 304 || (status < 300 && c->hp.ll.method == HTTP_CONNECT && !c->hp.method_len);
}

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(p, tmp + i, sizeof tmp - (size_t)i);
}

/* Builds the response head in c->out: sized once, then written in place (the literals'
 * copies are inlined), since this runs for every response. */
static int build_head(grove_http_req *c, int status, const char *ctype)
{
    grove_http_server *srv = c->srv;
    const char *reason = grove__http_reason(status), *date = grove__http_date();
    size_t rl = strlen(reason), sl = strlen(srv->server_header), dl = strlen(date), tl = ctype ? strlen(ctype) : 0;
    int bodyless = no_content(c, status);
    if (c->close_delim)
        c->must_close = 1;
    int closing = !keep_alive(c);
    if (closing)
        c->must_close = 1;
    size_t need = sizeof "HTTP/1.1 000 \r\n" + 20 + rl + sizeof "Server: \r\n" + sl + sizeof "Date: \r\n" + dl +
                  sizeof "Content-Type: \r\n" + tl + c->uhlen + sizeof "Transfer-Encoding: chunked\r\n" +
                  sizeof "Content-Length: \r\n" + 20 + sizeof "Connection: keep-alive\r\n" + 3;
    c->outlen = 0;
    if (grow(&c->out, &c->outcap, need))
        return -ENOMEM;
    char *p = c->out;
    p = PUT_LIT(p, "HTTP/1.1 ");
    p = put_u64(p, (uint64_t)status);
    *p++ = ' ';
    p = put(p, reason, rl);
    p = PUT_LIT(p, "\r\n");
    if (sl) {
        p = PUT_LIT(p, "Server: ");
        p = put(p, srv->server_header, sl);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "Date: ");
    p = put(p, date, dl);
    p = PUT_LIT(p, "\r\n");
    if (ctype) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put(p, ctype, tl);
        p = PUT_LIT(p, "\r\n");
    }
    if (c->uhlen)
        p = put(p, c->uh, c->uhlen);
    if (bodyless) {
        /* no framing: the head ends the message */
    } else if (c->chunked) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    } else if (!c->close_delim) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, (uint64_t)c->resp_cl);
        p = PUT_LIT(p, "\r\n");
    }
    if (closing)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (c->hp.http_minor == 0)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    p = PUT_LIT(p, "\r\n");
    *p = 0;
    c->outlen = (size_t)(p - c->out);
    return 0;
}

static int reserved_header(const char *name)
{
    static const char *const r[] = {"date", "server", "content-length", "transfer-encoding", "connection"};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (!strcasecmp(name, r[i]))
            return 1;
    return 0;
}

static int add_line(char **b, size_t *len, size_t *cap, const char *name, const char *value)
{
    int rc = append(b, len, cap, name, strlen(name));
    rc |= append(b, len, cap, ": ", 2);
    rc |= append(b, len, cap, value, strlen(value));
    rc |= append(b, len, cap, "\r\n", 2);
    return rc ? -ENOMEM : 0;
}

int grove_http_add_header(grove_http_req *req, const char *name, const char *value)
{
    if (!req || !name || !value || !grove__http_valid_token(name) || !grove__http_valid_value(value) ||
        reserved_header(name))
        return -EINVAL;
    if (req->started || req->taken)
        return -EALREADY;
    return add_line(&req->uh, &req->uhlen, &req->uhcap, name, value);
}

int grove_http_add_trailer(grove_http_req *req, const char *name, const char *value)
{
    if (!req || !name || !value || !grove__http_valid_token(name) || !grove__http_valid_value(value) ||
        reserved_header(name))
        return -EINVAL;
    if (!req->started || !req->chunked || req->finished)
        return -EINVAL;
    return add_line(&req->tr, &req->trlen, &req->trcap, name, value);
}

int grove_http_started(const grove_http_req *req) { return req->started; }

static int check_status_ctype(int status, const char *ctype)
{
    if (status < 200 || status > 999)
        return -EINVAL;
    if (ctype && !grove__http_valid_value(ctype))
        return -EINVAL;
    return 0;
}

int grove_http_respond(grove_http_req *req, int status, const char *content_type, const void *body, size_t len)
{
    if (!req || (len && !body))
        return -EINVAL;
    if (req->started || req->taken)
        return -EALREADY;
    int rc = check_status_ctype(status, content_type);
    if (rc)
        return rc;
    req->started = req->head_sent = req->finished = 1;
    req->status = status;
    int bodyless = no_content(req, status);
    req->resp_cl = bodyless ? 0 : (int64_t)len;
    if ((rc = build_head(req, status, content_type)) < 0) {
        req->must_close = 1;
        return rc;
    }
    struct iovec iov[2] = {{req->out, req->outlen}, {(void *)body, len}};
    int with_body = !(req->hp.ll.method == HTTP_HEAD || bodyless);
    int n = with_body ? 2 : 1;
    if (with_body && len <= req->outcap - req->outlen) {
        /* A small body rides in the head's buffer (no allocation): one plain send. */
        if (len) /* body may be NULL when len is 0 */
            memcpy(req->out + req->outlen, body, len);
        iov[0].iov_len += len;
        n = 1;
    }
    rc = send_iov(req, iov, n);
    if (rc == 0 && with_body)
        req->body_sent = len;
    return rc;
}

int grove_http_start(grove_http_req *req, int status, const char *content_type, int64_t content_length)
{
    if (!req || content_length < -1)
        return -EINVAL;
    if (req->started || req->taken)
        return -EALREADY;
    int rc = check_status_ctype(status, content_type);
    if (rc)
        return rc;
    req->status = status;
    int bodyless = no_content(req, status);
    req->no_body = req->hp.ll.method == HTTP_HEAD || bodyless;
    if (content_length >= 0) {
        req->resp_cl = content_length;
    } else if (req->hp.http_minor == 1 || bodyless) {
        /* Without content (204, 304) nothing is framed: writes are dropped, as for HEAD. */
        req->chunked = 1;
    } else {
        req->close_delim = 1;
    }
    if ((rc = build_head(req, status, content_type)) < 0)
        return rc;
    req->started = 1;
    return 0;
}

ssize_t grove_http_write(grove_http_req *req, const void *buf, size_t n)
{
    if (!req || !req->started || req->finished || req->taken || (n && !buf))
        return -EINVAL;
    if (!req->chunked && !req->close_delim && req->body_sent + n > (uint64_t)req->resp_cl)
        return -EINVAL;
    struct iovec iov[4];
    int k = 0;
    if (!req->head_sent) {
        iov[k++] = (struct iovec){req->out, req->outlen};
        req->head_sent = 1;
    }
    char size[20];
    if (req->no_body) {
        req->body_sent += n;
        if (!k)
            return (ssize_t)n;
    } else if (n && req->chunked) {
        int l = snprintf(size, sizeof size, "%zx\r\n", n);
        iov[k++] = (struct iovec){size, (size_t)l};
        iov[k++] = (struct iovec){(void *)buf, n};
        iov[k++] = (struct iovec){"\r\n", 2};
    } else if (n) {
        iov[k++] = (struct iovec){(void *)buf, n};
    }
    if (!k)
        return 0;
    int rc = send_iov(req, iov, k);
    if (rc < 0)
        return rc;
    if (!req->no_body)
        req->body_sent += n;
    return (ssize_t)n;
}

int grove_http_finish(grove_http_req *req)
{
    if (!req || !req->started || req->taken)
        return -EINVAL;
    if (req->finished)
        return 0;
    req->finished = 1;
    struct iovec iov[4];
    int k = 0;
    if (!req->head_sent) {
        iov[k++] = (struct iovec){req->out, req->outlen};
        req->head_sent = 1;
    }
    if (req->chunked && !req->no_body) {
        iov[k++] = (struct iovec){"0\r\n", 3};
        if (req->trlen)
            iov[k++] = (struct iovec){req->tr, req->trlen};
        iov[k++] = (struct iovec){"\r\n", 2};
    }
    int rc = k ? send_iov(req, iov, k) : 0;
    if (rc < 0)
        return rc;
    if (!req->chunked && !req->close_delim && req->body_sent != (uint64_t)req->resp_cl) {
        req->must_close = 1;
        return -EPROTO;
    }
    return 0;
}

int grove_http_sendfile(grove_http_req *req, int status, const char *content_type, int fd, off_t off, size_t len)
{
    if (!req || fd < 0 || off < 0)
        return -EINVAL;
    int rc = grove_http_start(req, status, content_type, (int64_t)len);
    if (rc < 0)
        return rc;
    struct iovec iov = {req->out, req->outlen};
    req->head_sent = 1;
    if ((rc = send_iov(req, &iov, 1)) < 0)
        return rc;
    if (req->no_body) {
        req->body_sent = len;
        req->finished = 1;
        return 0;
    }
    while (req->body_sent < len) {
        size_t want = len - req->body_sent;
        ssize_t r;
        if (!req->io.tls) {
            off_t o = off + (off_t)req->body_sent;
            r = syscall(SYS_sendfile, req->io.fd, fd, &o, want > (1u << 30) ? (1u << 30) : want);
            if (r < 0 && errno == EAGAIN) {
                grove_timeout to;
                grove_timeout_start(&to, req->srv->lim.send_timeout);
                int w = grove_wait_fd(req->io.fd, GROVE_WRITE);
                grove_timeout_end(&to);
                if (w < 0) {
                    req->must_close = 1;
                    return w;
                }
                continue;
            }
            if (r < 0)
                r = -errno;
        } else {
            if (!req->io.wbuf && !(req->io.wbuf = malloc(16384)))
                return -ENOMEM;
            char *chunk = req->io.wbuf;
            r = pread(fd, chunk, want > 16384 ? 16384 : want, off + (off_t)req->body_sent);
            if (r < 0)
                r = -errno;
            else if (r > 0) {
                struct iovec io = {chunk, (size_t)r};
                int w = send_iov(req, &io, 1); /* one iovec: wbuf is not reused here */
                if (w < 0)
                    return w;
                req->bytes_out -= (uint64_t)r; /* counted below */
            }
        }
        if (r <= 0) {
            req->must_close = 1;
            return r < 0 ? (int)r : -EIO;
        }
        req->body_sent += (uint64_t)r;
        req->bytes_out += (uint64_t)r;
    }
    req->finished = 1;
    return 0;
}

/* ---- read deadlines ------------------------------------------------------------------------- */

/* Reads more request bytes, to be cut off at deadline. Reads carry no timer of their own:
 * a timer per read (added, then removed once the bytes came) was the largest cost of a
 * keep-alive request with 1000 connections. Instead one sweeper per server walks the
 * connections a few times per smallest timeout and shuts the read side of a late one,
 * which wakes its read with end-of-file; timed_out tells the two apart. Deadlines are
 * therefore kept within a quarter of the timeout. */
static ssize_t timed_fill(grove_http_req *c, int64_t deadline)
{
    if (c->timed_out || deadline <= grove_now())
        return -ETIMEDOUT;
    c->rdeadline = deadline;
    ssize_t r = grove__hio_fill(&c->io, &c->hp, 0);
    c->rdeadline = 0;
    if (c->timed_out)
        return -ETIMEDOUT;
    return r;
}

/* Waits for a keep-alive connection's next request without holding a read buffer.
 * Reads here are plain non-blocking recv calls, so no buffer is taken before data is
 * there; whether to wait first comes from the stream hint (grove_fd_drained), which a
 * read through grove_recv leaves and grove_wait_fd spends. */
static ssize_t idle_wait(grove_http_req *c, int64_t deadline)
{
    if (c->io.tls || c->io.pos != c->io.end)
        return timed_fill(c, deadline);
    for (int first = 1;; first = 0) {
        if (c->timed_out)
            return -ETIMEDOUT;
        /* The request before emptied the socket (a short read, no hang-up since): a read
         * now would be EAGAIN, so wait first - one system call fewer per request. */
        if (grove_fd_drained(c->io.fd)) {
            grove__hio_release(&c->io);
            if (!first && deadline <= grove_now()) /* the caller's deadline is fresh */
                return -ETIMEDOUT;
            c->rdeadline = deadline;
            int w = grove_wait_fd(c->io.fd, GROVE_READ);
            c->rdeadline = 0;
            if (w < 0)
                return w;
            if (c->timed_out)
                return -ETIMEDOUT;
        }
        if (!c->io.buf && grove__hio_acquire(&c->io) < 0)
            return -ENOMEM;
        ssize_t r =
            syscall(SYS_recvfrom, c->io.fd, c->io.buf + c->io.end, c->io.cap - c->io.end, MSG_DONTWAIT, NULL, NULL);
        if (r >= 0) {
            c->io.end += (size_t)r;
            grove_io_budget(); /* fair I/O: a connection that never waits yields now and then */
            return r;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        grove__hio_release(&c->io);
        if (deadline <= grove_now())
            return -ETIMEDOUT;
        c->rdeadline = deadline;
        int w = grove_wait_fd(c->io.fd, GROVE_READ);
        c->rdeadline = 0;
        if (w < 0)
            return w;
    }
}

static void *sweep_main(void *arg)
{
    grove_http_server *srv = arg;
    while (grove_sleep(srv->sweep_every) == 0) {
        int64_t now = grove_now();
        for (grove_http_req *c = srv->conns; c; c = c->next) {
            if (c->rdeadline && c->rdeadline <= now && !c->timed_out) {
                c->timed_out = 1;
                grove_shutdown(c->io.fd, SHUT_RD);
            }
        }
    }
    return NULL;
}

/* ---- reading the body ---------------------------------------------------------------------- */

static int send_continue(grove_http_req *c)
{
    c->continue_sent = 1;
    struct iovec iov = {"HTTP/1.1 100 Continue\r\n\r\n", 25};
    return send_iov(c, &iov, 1);
}

/* Reads body bytes into buf, or passes them over when buf is NULL. */
static ssize_t read_body(grove_http_req *c, void *buf, size_t n)
{
    if (c->body_err)
        return c->body_err;
    if (body_done(c) && !c->hp.body_len)
        return 0;
    if (c->hp.expect_continue && !c->continue_sent && !c->started) {
        int rc = send_continue(c);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        if (c->hp.body_len) {
            size_t k = n < c->hp.body_len ? n : c->hp.body_len;
            if (buf)
                memcpy(buf, c->io.buf + c->hp.body_off, k);
            c->hp.body_off += k;
            c->hp.body_len -= k;
            return (ssize_t)k;
        }
        if (c->hp.msg_done)
            return 0;
        int ev = grove__hp_feed(&c->hp, c->io.buf, &c->io.pos, c->io.end);
        if (ev == GROVE__HP_BODY || ev == GROVE__HP_DONE)
            continue;
        if (ev == GROVE__HP_ERROR) {
            c->must_close = 1;
            return c->body_err = c->hp.status == 413 ? -EMSGSIZE : -EPROTO;
        }
        ssize_t r = timed_fill(c, grove_now() + c->srv->lim.body_timeout);
        if (r == 0)
            r = -ECONNRESET;
        if (r < 0) {
            c->must_close = 1;
            if (r == -EMSGSIZE)
                r = -EPROTO;
            return c->body_err = (int)r;
        }
    }
}

ssize_t grove_http_req_read(grove_http_req *req, void *buf, size_t n)
{
    if (!req || (n && !buf) || req->taken)
        return -EINVAL;
    return read_body(req, buf, n);
}

static ssize_t req_read(void *req, void *buf, size_t n) { return grove_http_req_read(req, buf, n); }

ssize_t grove_http_req_body(grove_http_req *req, const void **data)
{
    if (!req || !data)
        return -EINVAL;
    /* The body limit is read_body's (413); the declared length sizes the buffer at once. */
    size_t expect = req->hp.content_length > 0 ? (size_t)req->hp.content_length : 0;
    ssize_t n = grove__read_whole(&req->whole, &req->whole_len, &req->whole_done, expect, SIZE_MAX, req_read, req);
    if (n >= 0)
        *data = req->whole;
    return n;
}

/* ---- taking the connection over ------------------------------------------------------------ */

static ssize_t taken_read(void *ctx, void *buf, size_t n)
{
    grove_http_req *c = ctx;
    if (c->io.pos < c->io.end) {
        size_t k = c->io.end - c->io.pos;
        if (k > n)
            k = n;
        memcpy(buf, c->io.buf + c->io.pos, k);
        c->io.pos += k;
        return (ssize_t)k;
    }
    return grove__hio_read_raw(&c->io, buf, n);
}

static ssize_t taken_write(void *ctx, const void *buf, size_t n)
{
    grove_http_req *c = ctx;
    if (c->io.tls)
        return grove_tls_write(c->io.tls, buf, n);
    return grove_sendall(c->io.fd, buf, n);
}

static int taken_close(void *ctx)
{
    (void)ctx; /* the server closes the connection after the handler */
    return 0;
}

static const grove_stream_ops taken_ops = {taken_read, taken_write, taken_close};

grove_stream *grove_http_take_stream(grove_http_req *req)
{
    if (!req) {
        errno = EINVAL;
        return NULL;
    }
    if (req->taken)
        return req->taken;
    if (req->started || !body_done(req) || req->hp.body_len) {
        errno = EINVAL;
        return NULL;
    }
    grove_stream *s = grove_stream_new_ops(&taken_ops, req, 0);
    if (!s)
        return NULL;
    req->taken = s;
    req->must_close = 1;
    return s;
}

/* ---- access log ----------------------------------------------------------------------------- */

static void log_time(char *out, size_t n)
{
    static _Thread_local char cached[96];
    static _Thread_local time_t last = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != last) {
        static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof cached, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, mons[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = ts.tv_sec;
    }
    snprintf(out, n, "%s", cached);
}

/* Appends s to the log line, escaping '"', '\\' and bytes outside printable ASCII. */
static void log_esc(grove_http_server *srv, const char *s)
{
    if (!s) {
        append(&srv->log, &srv->loglen, &srv->logcap, "-", 1);
        return;
    }
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            char e[5];
            snprintf(e, sizeof e, "\\x%02X", ch);
            append(&srv->log, &srv->loglen, &srv->logcap, e, 4);
        } else {
            append(&srv->log, &srv->loglen, &srv->logcap, s, 1);
        }
    }
}

static void log_request(grove_http_req *c)
{
    grove_http_server *srv = c->srv;
    if (srv->log_fd < 0 || srv->loglen > (1u << 22))
        return;
    char t[96], line[256];
    log_time(t, sizeof t);
    snprintf(line, sizeof line, "%s - - [%s] \"", c->peer_str, t);
    append(&srv->log, &srv->loglen, &srv->logcap, line, strlen(line));
    log_esc(srv, grove_http_req_method(c));
    append(&srv->log, &srv->loglen, &srv->logcap, " ", 1);
    log_esc(srv, grove_http_req_target(c));
    snprintf(line, sizeof line, " HTTP/1.%d\" %d %llu", c->hp.http_minor, c->status, (unsigned long long)c->body_sent);
    append(&srv->log, &srv->loglen, &srv->logcap, line, strlen(line));
    if (srv->log_fmt == GROVE_HTTP_LOG_COMBINED) {
        append(&srv->log, &srv->loglen, &srv->logcap, " \"", 2);
        log_esc(srv, grove_http_req_header(c, "Referer"));
        append(&srv->log, &srv->loglen, &srv->logcap, "\" \"", 3);
        log_esc(srv, grove_http_req_header(c, "User-Agent"));
        append(&srv->log, &srv->loglen, &srv->logcap, "\"", 1);
    }
    append(&srv->log, &srv->loglen, &srv->logcap, "\n", 1);
}

/* Swaps the buffers and writes the full one on the thread pool. */
static void log_flush(grove_http_server *srv)
{
    while (srv->loglen) {
        char *b = srv->log;
        size_t n = srv->loglen, cap = srv->logcap;
        srv->log = srv->log_spare;
        srv->logcap = srv->sparecap;
        srv->loglen = 0;
        size_t off = 0;
        while (off < n) {
            ssize_t w = grove_file_write(srv->log_fd, b + off, n - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        srv->log_spare = b;
        srv->sparecap = cap;
    }
    if (srv->log_next >= 0) { /* lines gathered before the reopen went to the old file */
        close(srv->log_fd);
        srv->log_fd = srv->log_next;
        srv->log_next = -1;
    }
}

/* The access log file: appended to, so that several writers (hubs, workers) never split a
 * line of another. */
static int log_open(const char *path) { return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644); }

int grove_http_server_reopen_log(grove_http_server *srv)
{
    if (!srv)
        return -EINVAL;
    if (!srv->log_own)
        return 0;
    int fd = log_open(srv->log_path);
    if (fd < 0)
        return -errno;
    if (srv->log_next >= 0)
        close(srv->log_next);
    srv->log_next = fd;
    return 0;
}

static void *log_main(void *arg)
{
    grove_http_server *srv = arg;
    while (grove_sleep(GROVE_MS(100)) == 0)
        log_flush(srv);
    return NULL;
}

/* ---- the connection loop ------------------------------------------------------------------ */

static void linger_close(grove_http_req *c)
{
    /* Stop writing, then read and drop what the client still sends for a moment, so the
     * kernel does not answer those bytes with a reset that destroys our error response. */
    if (c->io.tls)
        return;
    grove_shutdown(c->io.fd, SHUT_WR);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(500));
    char junk[512];
    size_t total = 0;
    for (;;) {
        ssize_t r = grove_recv(c->io.fd, junk, sizeof junk, 0);
        if (r <= 0 || (total += (size_t)r) > (1u << 20))
            break;
    }
    grove_timeout_end(&to);
}

static void send_error(grove_http_req *c, int status, const char *why, int close)
{
    if (close)
        c->must_close = 1;
    c->started = c->head_sent = c->finished = 1;
    c->status = status;
    c->uhlen = 0;
    char body[160];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, grove__http_reason(status), why ? why : "");
    c->resp_cl = n;
    c->chunked = c->close_delim = 0;
    if (build_head(c, status, "text/plain") < 0)
        return;
    struct iovec iov[2] = {{c->out, c->outlen}, {body, (size_t)n}};
    /* A HEAD request gets the head alone, as soon as its method was read (url_len: the
     * target after it was seen, so ll.method is this request's). */
    if (send_iov(c, iov, c->hp.ll.method == HTTP_HEAD && c->hp.url_len ? 1 : 2) == 0)
        c->body_sent = (uint64_t)n;
}

/* Reads until a request head is complete. Returns 0, or -1 to close the connection. */
static int read_head(grove_http_req *c)
{
    grove_http_server *srv = c->srv;
    int seen = c->io.pos < c->io.end;
    /* Two clock reads per keep-alive request: now (the idle deadline), and when its first
     * bytes came (the head deadline). */
    int64_t now = grove_now();
    int64_t deadline = seen ? now + srv->lim.header_timeout : 0;
    for (;;) {
        int ev = grove__hp_feed(&c->hp, c->io.buf, &c->io.pos, c->io.end);
        if (ev == GROVE__HP_HEAD)
            return 0;
        if (ev == GROVE__HP_ERROR) {
            send_error(c, c->hp.status, c->hp.reason_text, 1);
            log_request(c);
            srv->requests++;
            linger_close(c);
            return -1;
        }
        /* Stopping: a connection waiting for its next request keeps waiting for a short
         * drain window (grove_http_server_stop), so a client that is sending it right
         * now gets an answer (with "Connection: close") instead of a closed connection;
         * one that has not sent its first request yet has the whole grace period. */
        c->idle = !seen && c->served;
        ssize_t r = seen ? timed_fill(c, deadline) : idle_wait(c, now + srv->lim.idle_timeout);
        c->idle = 0;
        if (r == -ETIMEDOUT && seen) {
            send_error(c, 408, "the request head took too long", 1);
            return -1;
        }
        if (r == -EMSGSIZE) {
            send_error(c, 431, "header section too large", 1);
            linger_close(c);
            return -1;
        }
        if (r <= 0)
            return -1;
        if (!seen) {
            seen = 1;
            deadline = grove_now() + srv->lim.header_timeout;
        }
    }
}

static void reset_request(grove_http_req *c)
{
    c->body_err = 0;
    c->continue_sent = 0;
    c->whole_len = 0;
    c->whole_done = 0;
    c->uhlen = c->trlen = c->outlen = 0;
    c->status = 0;
    c->started = c->head_sent = c->finished = c->chunked = c->close_delim = c->no_body = 0;
    c->resp_cl = 0;
    c->body_sent = c->bytes_out = 0;
}

/* The path and query of the target (split by the parser). An origin-form target without
 * a query is its own path; otherwise the path is copied out, and in absolute-form the
 * authority too (an empty path is "/", or "*" for OPTIONS: RFC 9112 3.2.4). */
static int set_path(grove_http_req *c)
{
    const grove__hp *hp = &c->hp;
    const char *b = c->io.buf;
    c->host = NULL;
    c->query = hp->query ? b + hp->query : "";
    if (!hp->query && !hp->auth_len) {
        c->path = b + hp->url;
        return 0;
    }
    size_t n = hp->path_len;
    const char *p = b + hp->path;
    if (!n) {
        p = hp->ll.method == HTTP_OPTIONS && !hp->method_len ? "*" : "/";
        n = 1;
    }
    if (grow(&c->pathbuf, &c->pathcap, n + 1 + hp->auth_len + 1))
        return -ENOMEM;
    memcpy(c->pathbuf, p, n);
    c->pathbuf[n] = 0;
    c->path = c->pathbuf;
    if (hp->auth_len) {
        char *h = c->pathbuf + n + 1;
        memcpy(h, b + hp->auth, hp->auth_len);
        h[hp->auth_len] = 0;
        c->host = h;
    }
    return 0;
}

/* Reads and drops what is left of the request body, within bounds. Returns 0 if the
 * connection can carry on, -1 if not. */
static int drain_body(grove_http_req *c)
{
    if (body_done(c) && !c->hp.body_len)
        return 0;
    if (c->hp.expect_continue && !c->continue_sent)
        return -1;
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read_body(c, NULL, SIZE_MAX);
        if (r == 0)
            return 0;
        if (r < 0 || (total += (uint64_t)r) > (1u << 20))
            return -1;
    }
}

static void serve_request(grove_http_req *c)
{
    grove_http_server *srv = c->srv;
    reset_request(c);
    c->io.keep = c->io.pos;
    int rc = set_path(c);
    if (rc == 0)
        rc = srv->handler(c, srv->arg);
    if (c->taken) {
        grove_stream_close(c->taken);
        c->taken = NULL;
        c->must_close = 1;
        c->status = 101;
        log_request(c);
        srv->requests++;
        return;
    }
    if (!c->started) {
        int st = c->body_err == -EMSGSIZE ? 413 : c->body_err == -EPROTO ? 400 : 500;
        if (c->body_err && c->body_err != -EMSGSIZE && c->body_err != -EPROTO)
            c->must_close = 1; /* the client is gone or stalled */
        else
            send_error(c, st,
                       st == 500 ? (rc < 0 ? grove_strerror(rc) : "the handler sent no response") : c->hp.reason_text,
                       st != 500);
    } else if (rc < 0) {
        c->must_close = 1;
    } else if (!c->finished) {
        if (grove_http_finish(c) < 0)
            c->must_close = 1;
    }
    if (!c->must_close && drain_body(c) < 0)
        c->must_close = 1;
    log_request(c);
    srv->requests++;
    c->served++;
    c->host = NULL;
}

static void conn_main(int fd, void *arg)
{
    grove_http_server *srv = arg;
    grove_http_req *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = srv;
    c->self = grove_self();
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->peerlen = sizeof c->peer;
    if (getpeername(fd, (struct sockaddr *)&c->peer, &c->peerlen) == 0) {
        if (c->peer.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&c->peer)->sin_addr, c->peer_str, sizeof c->peer_str);
        else if (c->peer.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->peer)->sin6_addr, c->peer_str, sizeof c->peer_str);
        else
            strcpy(c->peer_str, "unix");
    } else {
        c->peerlen = 0;
        strcpy(c->peer_str, "-");
    }
    /* link */
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;

    grove_tls *tls = NULL;
    if (srv->tls) {
        /* The TLS object owns (and closes) its fd; grove_server closes the original. */
        int tfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (tfd < 0)
            goto out;
        grove_timeout to;
        grove_timeout_start(&to, srv->lim.header_timeout);
        int rc = grove_tls_accept(srv->tls, tfd, &tls);
        grove_timeout_end(&to);
        if (rc < 0) {
            grove_close(tfd);
            goto out;
        }
    }
    if (grove__hio_init(&c->io, tls ? grove_tls_fd(tls) : fd, tls, &srv->lim) < 0 ||
        grove__hp_init(&c->hp, 1, &srv->lim) < 0)
        goto out;
    for (;;) {
        if (read_head(c) < 0)
            break;
        serve_request(c);
        if (c->must_close || !keep_alive(c))
            break;
        /* A bodiless request: let llhttp pass its end before the next one starts. */
        if (!c->hp.msg_done && grove__hp_feed(&c->hp, c->io.buf, &c->io.pos, c->io.end) != GROVE__HP_DONE)
            break;
        grove__hio_next(&c->io);
        grove__hp_next(&c->hp, 0);
    }
out:
    if (tls)
        grove_tls_close(tls);
    grove__hio_free(&c->io);
    grove__hp_free(&c->hp);
    free(c->pathbuf);
    free(c->whole);
    free(c->out);
    free(c->uh);
    free(c->tr);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    free(c);
}

/* ---- server lifecycle ------------------------------------------------------------------------ */

grove_http_server *grove_http_server_start(int listen_fd, const grove_http_server_opts *opts)
{
    if (!opts || !opts->handler || listen_fd < 0 ||
        (opts->access_log_format != GROVE_HTTP_LOG_COMMON && opts->access_log_format != GROVE_HTTP_LOG_COMBINED)) {
        errno = EINVAL;
        return NULL;
    }
    grove_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        errno = ENOMEM;
        return NULL;
    }
    srv->handler = opts->handler;
    srv->arg = opts->arg;
    grove__http_limits_fill(&srv->lim, &opts->limits);
    srv->tls = opts->tls;
    srv->server_header = strdup(opts->server_header ? opts->server_header : "grove");
    srv->log_fd = srv->log_next = -1;
    srv->log_fmt = opts->access_log_format;
    if (!srv->server_header || !grove__http_valid_value(srv->server_header)) {
        errno = srv->server_header ? EINVAL : ENOMEM;
        goto fail;
    }
    if (opts->access_log) {
        if (!strcmp(opts->access_log, "-")) {
            srv->log_fd = 2;
        } else {
            srv->log_fd = log_open(opts->access_log);
            if (srv->log_fd < 0)
                goto fail;
            srv->log_own = 1;
            if (!(srv->log_path = strdup(opts->access_log))) {
                errno = ENOMEM;
                goto fail;
            }
        }
        grove_spawn_attr la = {.name = "http access log", .service = 1};
        srv->log_thread = grove_spawn_opts(&la, log_main, srv);
        if (!srv->log_thread)
            goto fail;
    }
    int64_t t = srv->lim.idle_timeout;
    if (srv->lim.header_timeout < t)
        t = srv->lim.header_timeout;
    if (srv->lim.body_timeout < t)
        t = srv->lim.body_timeout;
    t /= 4;
    srv->sweep_every = t < GROVE_MS(5) ? GROVE_MS(5) : t > GROVE_SEC(1) ? GROVE_SEC(1) : t;
    grove_spawn_attr sa = {.name = "http sweeper", .service = 1};
    srv->sweeper = grove_spawn_opts(&sa, sweep_main, srv);
    if (!srv->sweeper)
        goto fail;
    srv->srv = grove_server_start(listen_fd, conn_main, srv, opts->concurrency);
    if (!srv->srv)
        goto fail;
    return srv;
fail:;
    int e = errno;
    if (srv->sweeper) {
        grove_kill(srv->sweeper);
        grove_join(srv->sweeper, NULL);
    }
    if (srv->log_thread) {
        grove_kill(srv->log_thread);
        grove_join(srv->log_thread, NULL);
    }
    if (srv->log_own)
        close(srv->log_fd);
    free(srv->log_path);
    free(srv->server_header);
    free(srv);
    errno = e;
    return NULL;
}

/* The drain window of a stop: keep-alive connections idle between requests may still send
 * one more (answered with "Connection: close"); those that have not by then are closed.
 * Closing them at once would fail a request a client was sending at that moment (a load
 * generator like wrk does not retry it, as browsers and grove's client do). */
#define DRAIN_NS GROVE_MS(500)

static void *drain_main(void *arg)
{
    grove_http_server *srv = arg;
    if (grove_sleep(srv->drain_ns) == 0)
        for (grove_http_req *c = srv->conns; c; c = c->next)
            if (c->idle)
                grove_kill_nowait(c->self);
    return NULL;
}

int grove_http_server_stop(grove_http_server *srv, int64_t grace_ns)
{
    if (!srv)
        return -EINVAL;
    srv->stopping = 1;
    srv->drain_ns = grace_ns < DRAIN_NS ? grace_ns : DRAIN_NS;
    grove_spawn_attr da = {.name = "http drain", .service = 1};
    grove_thread *drain = grove_spawn_opts(&da, drain_main, srv);
    if (!drain) { /* out of memory: end the idle ones now */
        for (grove_http_req *c = srv->conns; c; c = c->next)
            if (c->idle)
                grove_kill_nowait(c->self);
    }
    int killed = grove_server_stop(srv->srv, grace_ns);
    if (drain) {
        grove_shield_begin();
        grove_kill(drain);
        grove_join(drain, NULL);
        grove_shield_end();
    }
    grove_kill(srv->sweeper);
    grove_join(srv->sweeper, NULL);
    if (srv->log_thread) {
        grove_kill(srv->log_thread);
        grove_join(srv->log_thread, NULL);
        log_flush(srv);
    }
    if (srv->log_own)
        close(srv->log_fd);
    free(srv->log_path);
    free(srv->log);
    free(srv->log_spare);
    free(srv->server_header);
    free(srv);
    return killed;
}

uint64_t grove_http_server_requests(const grove_http_server *srv) { return srv->requests; }
size_t grove_http_server_connections(const grove_http_server *srv) { return srv->nconns; }
