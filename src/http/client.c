/* The HTTP/1.1 client (the green urllib2): requests over pooled keep-alive connections,
 * TLS with verification, redirects, and the same strict parser as the server (in its
 * response mode). */
#include "http/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct pconn {
    struct pconn *next;
    char key[320]; /* "http://host:port" */
    grove__hio io;
    grove__hp hp;
    int64_t idle_since;
} pconn;

struct grove_http_client {
    grove_http_client_opts o;
    grove_http_limits lim;
    char *ua;
    grove_tls_ctx *tls, *tls_own;
    pconn *idle;
    size_t nidle;
};

struct grove_http_resp {
    grove_http_client *cl;
    pconn *pc;
    char *url;
    int status;
    int body_err;
    char *whole;
    size_t whole_len;
    int whole_done;
};

typedef struct url {
    int https;
    char host[256];
    int port;
    char connect[300]; /* for grove_connect */
    char hosthdr[300];
    const char *target;
} url;

static int parse_url(const char *s, url *u)
{
    memset(u, 0, sizeof *u);
    if (!strncasecmp(s, "http://", 7)) {
        s += 7;
        u->port = 80;
    } else if (!strncasecmp(s, "https://", 8)) {
        s += 8;
        u->https = 1;
        u->port = 443;
    } else {
        return -EINVAL;
    }
    size_t alen = strcspn(s, "/?#");
    const char *auth = s, *aend = s + alen;
    if (memchr(auth, '@', alen))
        return -EINVAL; /* userinfo is not supported */
    const char *hend = aend, *colon = NULL;
    if (*auth == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb)
            return -EINVAL;
        if (rb + 1 < aend) {
            if (rb[1] != ':')
                return -EINVAL;
            colon = rb + 1;
        }
        hend = rb + 1;
    } else {
        colon = memchr(auth, ':', alen);
        if (colon)
            hend = colon;
    }
    size_t hl = (size_t)(hend - auth);
    if (!hl || hl >= sizeof u->host)
        return -EINVAL;
    memcpy(u->host, auth, hl);
    u->host[hl] = 0;
    for (const char *c = u->host; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == '\x7f')
            return -EINVAL;
    if (colon) {
        const char *p = colon + 1;
        if (p == aend)
            return -EINVAL;
        long port = 0;
        for (; p < aend; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
                return -EINVAL;
        }
        if (port == 0)
            return -EINVAL;
        u->port = (int)port;
    }
    snprintf(u->connect, sizeof u->connect, "%s:%d", u->host, u->port);
    if (u->port == (u->https ? 443 : 80))
        snprintf(u->hosthdr, sizeof u->hosthdr, "%s", u->host);
    else
        snprintf(u->hosthdr, sizeof u->hosthdr, "%s:%d", u->host, u->port);
    u->target = *aend == '/' || *aend == '?' ? aend : "/";
    for (const char *c = u->target; *c && *c != '#'; c++)
        if ((unsigned char)*c <= 0x20 || *c == '\x7f')
            return -EINVAL;
    return 0;
}

/* ---- client and pool ------------------------------------------------------------------------ */

grove_http_client *grove_http_client_new(const grove_http_client_opts *opts)
{
    grove_http_client *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    if (opts)
        c->o = *opts;
    if (!c->o.max_idle_per_host)
        c->o.max_idle_per_host = 4;
    if (!c->o.idle_keep)
        c->o.idle_keep = GROVE_SEC(30);
    if (c->o.max_redirects < 0) {
        free(c);
        errno = EINVAL;
        return NULL;
    }
    grove__http_limits_fill(&c->lim, opts ? &opts->limits : NULL);
    c->ua = strdup(c->o.user_agent ? c->o.user_agent : "grove");
    if (!c->ua) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->tls = c->o.tls;
    return c;
}

static void pconn_close(pconn *pc)
{
    if (pc->io.tls)
        grove_tls_close(pc->io.tls);
    else if (pc->io.fd >= 0)
        grove_close(pc->io.fd);
    grove__hio_free(&pc->io);
    grove__hp_free(&pc->hp);
    free(pc);
}

void grove_http_client_free(grove_http_client *c)
{
    if (!c)
        return;
    while (c->idle) {
        pconn *pc = c->idle;
        c->idle = pc->next;
        pconn_close(pc);
    }
    if (c->tls_own)
        grove_tls_ctx_free(c->tls_own);
    free(c->ua);
    free(c);
}

size_t grove_http_client_idle(const grove_http_client *c) { return c->nidle; }

static pconn *pool_take(grove_http_client *c, const char *key)
{
    int64_t now = grove_now();
    for (pconn **pp = &c->idle; *pp;) {
        pconn *pc = *pp;
        if (now - pc->idle_since > c->o.idle_keep) {
            *pp = pc->next;
            c->nidle--;
            pconn_close(pc);
            continue;
        }
        if (!strcmp(pc->key, key)) {
            *pp = pc->next;
            c->nidle--;
            return pc;
        }
        pp = &pc->next;
    }
    return NULL;
}

static void pool_put(grove_http_client *c, pconn *pc)
{
    size_t same = 0;
    for (pconn *p = c->idle; p; p = p->next)
        same += !strcmp(p->key, pc->key);
    if (same >= c->o.max_idle_per_host) {
        pconn_close(pc);
        return;
    }
    pc->idle_since = grove_now();
    pc->next = c->idle;
    c->idle = pc;
    c->nidle++;
}

static int dial(grove_http_client *c, const url *u, const char *key, pconn **out)
{
    pconn *pc = calloc(1, sizeof *pc);
    if (!pc)
        return -ENOMEM;
    snprintf(pc->key, sizeof pc->key, "%s", key);
    pc->io.fd = -1;
    int fd = grove_connect(u->connect);
    if (fd < 0) {
        free(pc);
        return fd;
    }
    grove_tls *tls = NULL;
    if (u->https) {
        if (!c->tls) {
            grove_tls_opts to = {0};
            c->tls_own = c->tls = grove_tls_client_ctx(&to);
            if (!c->tls) {
                grove_close(fd);
                free(pc);
                return -errno;
            }
        }
        int rc = grove_tls_connect(c->tls, fd, u->host, &tls);
        if (rc < 0) {
            grove_close(fd);
            free(pc);
            return rc;
        }
    }
    if (grove__hio_init(&pc->io, fd, tls, &c->lim) < 0 || grove__hp_init(&pc->hp, 0, &c->lim) < 0) {
        pc->io.fd = fd;
        pc->io.tls = tls;
        pconn_close(pc);
        return -ENOMEM;
    }
    *out = pc;
    return 0;
}

/* ---- sending ----------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *b;
    size_t len, cap;
    int err;
} sbuf;

static void sb_add(sbuf *s, const char *p, size_t n)
{
    if (s->err)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 512;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = realloc(s->b, cap);
        if (!b) {
            s->err = -ENOMEM;
            return;
        }
        s->b = b;
        s->cap = cap;
    }
    memcpy(s->b + s->len, p, n);
    s->len += n;
    s->b[s->len] = 0;
}

static void sb_str(sbuf *s, const char *p) { sb_add(s, p, strlen(p)); }

static int build_request(grove_http_client *c, const grove_http_request *rq, const char *method, const url *u,
                         int with_body, sbuf *s)
{
    size_t tl = strcspn(u->target, "#");
    sb_str(s, method);
    sb_add(s, " ", 1);
    sb_add(s, u->target, tl);
    sb_str(s, " HTTP/1.1\r\nHost: ");
    sb_str(s, u->hosthdr);
    sb_str(s, "\r\n");
    if (c->ua[0]) {
        sb_str(s, "User-Agent: ");
        sb_str(s, c->ua);
        sb_str(s, "\r\n");
    }
    int has_ua = 0;
    for (const char *const *h = rq->headers; h && h[0]; h += 2) {
        if (!h[1] || !grove__http_valid_token(h[0]) || !grove__http_valid_value(h[1]))
            return -EINVAL;
        if (!strcasecmp(h[0], "host") || !strcasecmp(h[0], "content-length") || !strcasecmp(h[0], "transfer-encoding"))
            return -EINVAL;
        has_ua |= !strcasecmp(h[0], "user-agent");
        sb_str(s, h[0]);
        sb_str(s, ": ");
        sb_str(s, h[1]);
        sb_str(s, "\r\n");
    }
    (void)has_ua;
    char num[64];
    if (with_body && rq->body_cb) {
        if (rq->body_cb_len >= 0) {
            snprintf(num, sizeof num, "Content-Length: %lld\r\n", (long long)rq->body_cb_len);
            sb_str(s, num);
        } else {
            sb_str(s, "Transfer-Encoding: chunked\r\n");
        }
    } else if (with_body && (rq->body_len || (strcmp(method, "GET") && strcmp(method, "HEAD")))) {
        snprintf(num, sizeof num, "Content-Length: %zu\r\n", rq->body_len);
        sb_str(s, num);
    }
    sb_str(s, "\r\n");
    return s->err;
}

static int send_cb_body(pconn *pc, const grove_http_request *rq)
{
    char buf[16384];
    int chunked = rq->body_cb_len < 0;
    int64_t sent = 0;
    for (;;) {
        ssize_t n = rq->body_cb(rq->body_cb_arg, buf, sizeof buf);
        if (n < 0)
            return (int)n;
        if (n > (ssize_t)sizeof buf)
            return -EINVAL;
        if (!chunked && sent + n > rq->body_cb_len)
            return -EINVAL;
        if (n == 0)
            break;
        char size[20];
        int l = snprintf(size, sizeof size, "%zx\r\n", (size_t)n);
        struct iovec iov[3] = {{size, (size_t)l}, {buf, (size_t)n}, {"\r\n", 2}};
        int rc = chunked ? grove__hio_writev(&pc->io, iov, 3) : grove__hio_writev(&pc->io, &iov[1], 1);
        if (rc < 0)
            return rc;
        sent += n;
    }
    if (chunked) {
        struct iovec iov = {"0\r\n\r\n", 5};
        return grove__hio_writev(&pc->io, &iov, 1);
    }
    return sent == rq->body_cb_len ? 0 : -EINVAL;
}

/* Reads the response head (skipping 1xx). Returns 0; -EAGAIN if the connection closed
 * before any byte came (a stale pooled connection); -errno. */
static int read_head(grove_http_client *c, pconn *pc)
{
    int seen = 0;
    int64_t deadline = grove_now() + c->lim.header_timeout;
    for (;;) {
        int ev = grove__hp_feed(&pc->hp, pc->io.buf, &pc->io.pos, pc->io.end);
        if (ev == GROVE__HP_HEAD) {
            int sc = pc->hp.status_code;
            if (sc >= 100 && sc < 200 && sc != 101) {
                /* an interim response: its (empty) end, then the real one */
                ev = grove__hp_feed(&pc->hp, pc->io.buf, &pc->io.pos, pc->io.end);
                if (ev != GROVE__HP_DONE)
                    return -EPROTO;
                grove__hio_next(&pc->io);
                int skip = pc->hp.skip_body;
                grove__hp_next(&pc->hp, 0);
                pc->hp.skip_body = skip;
                continue;
            }
            pc->io.keep = pc->io.pos;
            return 0;
        }
        if (ev == GROVE__HP_ERROR)
            return pc->hp.status == 431 || pc->hp.status == 414 || pc->hp.status == 502 ? -EMSGSIZE : -EPROTO;
        if (ev != GROVE__HP_MORE)
            return -EPROTO;
        int64_t wait = deadline - grove_now();
        ssize_t r = wait > 0 ? grove__hio_fill(&pc->io, &pc->hp, wait) : -ETIMEDOUT;
        if (r == 0 || r == -ECONNRESET || r == -EPIPE)
            return seen || pc->io.end ? -ECONNRESET : -EAGAIN;
        if (r < 0)
            return (int)r;
        seen = 1;
    }
}

static int is_redirect(int sc) { return sc == 301 || sc == 302 || sc == 303 || sc == 307 || sc == 308; }

/* Resolves a Location against base into out. */
static int resolve(const char *base, const char *loc, char *out, size_t n)
{
    if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8))
        return snprintf(out, n, "%s", loc) < (int)n ? 0 : -EINVAL;
    url b;
    if (parse_url(base, &b) < 0)
        return -EINVAL;
    const char *scheme = b.https ? "https" : "http";
    int r;
    if (loc[0] == '/' && loc[1] == '/')
        r = snprintf(out, n, "%s:%s", scheme, loc);
    else if (loc[0] == '/')
        r = snprintf(out, n, "%s://%s%s", scheme, b.hosthdr, loc);
    else {
        size_t dir = strcspn(b.target, "?#");
        while (dir > 0 && b.target[dir - 1] != '/')
            dir--;
        r = snprintf(out, n, "%s://%s%.*s%s", scheme, b.hosthdr, (int)dir, b.target, loc);
    }
    return r > 0 && r < (int)n ? 0 : -EINVAL;
}

static int send_once(grove_http_client *c, const grove_http_request *rq, const char *method, const char *urlstr,
                     int with_body, grove_http_resp **out)
{
    url u;
    int rc = parse_url(urlstr, &u);
    if (rc < 0)
        return rc;
    char key[320];
    snprintf(key, sizeof key, "%s://%s", u.https ? "https" : "http", u.connect);
    sbuf head = {0};
    if ((rc = build_request(c, rq, method, &u, with_body, &head)) < 0) {
        free(head.b);
        return rc;
    }
    pconn *pc = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        pc = attempt == 0 ? pool_take(c, key) : NULL;
        int reused = pc != NULL;
        if (!pc && (rc = dial(c, &u, key, &pc)) < 0)
            break;
        grove__hio_next(&pc->io);
        grove__hp_next(&pc->hp, 0);
        pc->hp.skip_body = !strcmp(method, "HEAD");
        struct iovec iov[2] = {{head.b, head.len}, {(void *)rq->body, with_body && !rq->body_cb ? rq->body_len : 0}};
        rc = grove__hio_writev(&pc->io, iov, 2);
        if (rc == 0 && with_body && rq->body_cb)
            rc = send_cb_body(pc, rq);
        if (rc == 0)
            rc = read_head(c, pc);
        if (rc == 0)
            break;
        pconn_close(pc);
        pc = NULL;
        /* A pooled connection the server had closed: once more on a fresh one, unless
         * the body came from a callback that cannot be replayed. */
        int stale = rc == -EAGAIN || rc == -EPIPE || rc == -ECONNRESET;
        if (!(reused && stale && !(with_body && rq->body_cb)))
            break;
    }
    free(head.b);
    if (rc == -EAGAIN)
        rc = -ECONNRESET;
    if (rc < 0)
        return rc;
    grove_http_resp *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(urlstr))) {
        free(r);
        pconn_close(pc);
        return -ENOMEM;
    }
    r->cl = c;
    r->pc = pc;
    r->status = pc->hp.status_code;
    *out = r;
    return 0;
}

int grove_http_client_send(grove_http_client *c, const grove_http_request *rq, grove_http_resp **out)
{
    if (!c || !rq || !rq->url || !out)
        return -EINVAL;
    const char *method = rq->method ? rq->method : "GET";
    if (!grove__http_valid_token(method) || (rq->body_len && !rq->body))
        return -EINVAL;
    char cur[4096];
    if (snprintf(cur, sizeof cur, "%s", rq->url) >= (int)sizeof cur)
        return -EINVAL;
    char mbuf[32];
    snprintf(mbuf, sizeof mbuf, "%s", method);
    int with_body = 1;
    for (int hops = 0;; hops++) {
        grove_http_resp *r;
        int rc = send_once(c, rq, mbuf, cur, with_body, &r);
        if (rc < 0)
            return rc;
        const char *loc = grove_http_resp_header(r, "Location");
        if (!c->o.max_redirects || !is_redirect(r->status) || !loc || (with_body && rq->body_cb)) {
            *out = r;
            return 0;
        }
        if (hops >= c->o.max_redirects) {
            grove_http_resp_close(r);
            return -ELOOP;
        }
        char next[4096];
        rc = resolve(cur, loc, next, sizeof next);
        int sc = r->status;
        /* drop a small body so the connection can be reused */
        char junk[4096];
        size_t dropped = 0;
        ssize_t n;
        while (rc == 0 && dropped < 65536 && (n = grove_http_resp_read(r, junk, sizeof junk)) > 0)
            dropped += (size_t)n;
        grove_http_resp_close(r);
        if (rc < 0)
            return -EPROTO;
        snprintf(cur, sizeof cur, "%s", next);
        if (sc == 303 ? strcmp(mbuf, "HEAD") : ((sc == 301 || sc == 302) && !strcmp(mbuf, "POST"))) {
            snprintf(mbuf, sizeof mbuf, "GET");
            with_body = 0;
        }
    }
}

int grove_http_get(grove_http_client *c, const char *url, grove_http_resp **out)
{
    grove_http_request rq = {.method = "GET", .url = url};
    return grove_http_client_send(c, &rq, out);
}

/* ---- the response ------------------------------------------------------------------------------ */

int grove_http_resp_status(const grove_http_resp *r) { return r->status; }

const char *grove_http_resp_header(const grove_http_resp *r, const char *name)
{
    if (!r || !name)
        return NULL;
    return grove__hp_header(&r->pc->hp, r->pc->io.buf, name);
}

size_t grove_http_resp_header_count(const grove_http_resp *r) { return r->pc->hp.nhdr; }

int grove_http_resp_header_at(const grove_http_resp *r, size_t i, const char **name, const char **value)
{
    return grove__hp_header_at(&r->pc->hp, r->pc->io.buf, i, name, value);
}

const char *grove_http_resp_trailer(const grove_http_resp *r, const char *name)
{
    return grove__hp_trailer(&r->pc->hp, name);
}

const char *grove_http_resp_url(const grove_http_resp *r) { return r->url; }

ssize_t grove_http_resp_read(grove_http_resp *r, void *buf, size_t n)
{
    if (!r || (n && !buf))
        return -EINVAL;
    if (r->body_err)
        return r->body_err;
    pconn *pc = r->pc;
    grove__hp *hp = &pc->hp;
    for (;;) {
        if (hp->body_len) {
            size_t k = n < hp->body_len ? n : hp->body_len;
            memcpy(buf, pc->io.buf + hp->body_off, k);
            hp->body_off += k;
            hp->body_len -= k;
            return (ssize_t)k;
        }
        if (hp->msg_done)
            return 0;
        int ev = grove__hp_feed(hp, pc->io.buf, &pc->io.pos, pc->io.end);
        if (ev == GROVE__HP_BODY || ev == GROVE__HP_DONE)
            continue;
        if (ev == GROVE__HP_ERROR)
            return r->body_err = -EPROTO;
        ssize_t got = grove__hio_fill(&pc->io, hp, r->cl->lim.body_timeout);
        if (got == 0) {
            if (grove__hp_eof(hp) == GROVE__HP_DONE)
                continue;
            return r->body_err = -ECONNRESET;
        }
        if (got < 0)
            return r->body_err = got == -EMSGSIZE ? -EPROTO : (int)got;
    }
}

static ssize_t resp_read(void *r, void *buf, size_t n) { return grove_http_resp_read(r, buf, n); }

ssize_t grove_http_resp_body(grove_http_resp *r, const void **data)
{
    if (!r || !data)
        return -EINVAL;
    ssize_t n = grove__read_whole(&r->whole, &r->whole_len, &r->whole_done, 0, r->cl->lim.max_body, resp_read, r);
    if (n == -EMSGSIZE)
        r->body_err = -EMSGSIZE;
    if (n >= 0)
        *data = r->whole;
    return n;
}

void grove_http_resp_close(grove_http_resp *r)
{
    if (!r)
        return;
    pconn *pc = r->pc;
    if (pc) {
        /* An unread body that is already buffered is passed over without I/O, so the
         * connection can still be reused. */
        while (!r->body_err && !pc->hp.msg_done) {
            pc->hp.body_len = 0;
            int ev = grove__hp_feed(&pc->hp, pc->io.buf, &pc->io.pos, pc->io.end);
            if (ev != GROVE__HP_BODY && ev != GROVE__HP_DONE)
                break;
        }
        int reusable =
            !r->body_err && pc->hp.msg_done && pc->hp.keep_alive && !pc->hp.upgrade && pc->io.pos == pc->io.end;
        if (reusable)
            pool_put(r->cl, pc);
        else
            pconn_close(pc);
    }
    free(r->whole);
    free(r->url);
    free(r);
}
