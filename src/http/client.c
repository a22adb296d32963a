/* The HTTP/1.1 client (the green urllib2): requests over pooled keep-alive connections,
 * TLS with verification, redirects, and the same strict parser as the server (in its
 * response mode). */
#include "base/token.h"
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
    int no_reuse; /* the request said "Connection: close", or was cut short by the answer */
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
        /* the name to verify: an IPv6 literal without its brackets */
        char name[sizeof u->host];
        size_t hl = strlen(u->host);
        if (u->host[0] == '[')
            snprintf(name, sizeof name, "%.*s", (int)hl - 2, u->host + 1);
        int rc = grove_tls_connect(c->tls, fd, u->host[0] == '[' ? name : u->host, &tls);
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

/* How a request is built: what it leaves out, and what it says about its connection. */
enum {
    RQ_NO_CONTENT_FIELDS = 1, /* the method became GET: no content fields (RFC 9110 15.4) */
    RQ_NO_CREDENTIALS = 2,    /* another origin than the first: no Authorization, Cookie... */
    RQ_UPGRADE = 4,           /* out: the request asks for an Upgrade (101 allowed) */
    RQ_CLOSE = 8,             /* out: the request said "Connection: close" */
};

/* Fields about the content, dropped with it when a redirect turns the method into GET. */
static int content_field(const char *name)
{
    return !strncasecmp(name, "content-", 8) || !strcasecmp(name, "digest") || !strcasecmp(name, "last-modified");
}

/* Fields that carry credentials for one origin (CVE-2018-18074, CVE-2023-32681). */
static int credential_field(const char *name)
{
    return !strcasecmp(name, "authorization") || !strcasecmp(name, "cookie") ||
           !strcasecmp(name, "proxy-authorization");
}

static int build_request(grove_http_client *c, const grove_http_request *rq, const char *method, const url *u,
                         int with_body, unsigned *flags, sbuf *s)
{
    size_t tl = strcspn(u->target, "#");
    sb_str(s, method);
    /* an empty path is sent as "/" (RFC 9112 3.2.1) */
    sb_add(s, " /", u->target[0] == '/' ? 1 : 2);
    sb_add(s, u->target, tl);
    sb_str(s, " HTTP/1.1\r\nHost: ");
    sb_str(s, u->hosthdr);
    sb_str(s, "\r\n");
    if (c->ua[0]) {
        sb_str(s, "User-Agent: ");
        sb_str(s, c->ua);
        sb_str(s, "\r\n");
    }
    for (const char *const *h = rq->headers; h && h[0]; h += 2) {
        if (!h[1] || !grove__http_valid_token(h[0]) || !grove__http_valid_value(h[1]))
            return -EINVAL;
        if (!strcasecmp(h[0], "host") || !strcasecmp(h[0], "content-length") || !strcasecmp(h[0], "transfer-encoding"))
            return -EINVAL;
        if ((*flags & RQ_NO_CONTENT_FIELDS) && content_field(h[0]))
            continue;
        if ((*flags & RQ_NO_CREDENTIALS) && credential_field(h[0]))
            continue;
        if (!strcasecmp(h[0], "connection") && grove__list_has_token(h[1], "close"))
            *flags |= RQ_CLOSE;
        if (!strcasecmp(h[0], "upgrade"))
            *flags |= RQ_UPGRADE;
        sb_str(s, h[0]);
        sb_str(s, ": ");
        sb_str(s, h[1]);
        sb_str(s, "\r\n");
    }
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

/* Reads the response head (skipping 1xx; 101 only if upgrade). Returns 0; -EAGAIN if the
 * connection closed before any byte came (a stale pooled connection); -errno. */
static int read_head(grove_http_client *c, pconn *pc, int upgrade)
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
            /* a switch to a protocol the request did not offer (RFC 9110 15.2.2) */
            if (sc == 101 && !upgrade)
                return -EPROTO;
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

/* Methods a client may repeat on its own (RFC 9110 9.2.2): the idempotent ones. */
static int idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE") ||
           !strcmp(m, "OPTIONS") || !strcmp(m, "TRACE");
}

/* remove_dot_segments (RFC 3986 5.2.4) of in[0, n) into out (room for n + 1 bytes).
 * Returns the output's length. */
static size_t remove_dots(const char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        const char *p = in + i;
        size_t r = n - i;
        if (r >= 3 && !memcmp(p, "../", 3)) {
            i += 3;
        } else if (r >= 2 && !memcmp(p, "./", 2)) {
            i += 2;
        } else if (r >= 3 && !memcmp(p, "/./", 3)) {
            i += 2;
        } else if (r == 2 && !memcmp(p, "/.", 2)) {
            out[o++] = '/';
            i += 2;
        } else if ((r >= 4 && !memcmp(p, "/../", 4)) || (r == 3 && !memcmp(p, "/..", 3))) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            if (r == 3)
                out[o++] = '/';
            i += 3;
        } else if ((r == 1 && p[0] == '.') || (r == 2 && !memcmp(p, "..", 2))) {
            i = n;
        } else {
            size_t k = 1; /* the first segment, with its leading '/' if any */
            while (k < r && p[k] != '/')
                k++;
            memcpy(out + o, p, k);
            o += k;
            i += k;
        }
    }
    return o;
}

/* The length of a URI scheme followed by ':' at the start of s (RFC 3986 3.1), or 0. */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
           s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

/* Resolves the reference loc (a Location) against the absolute URL base into out (RFC 3986
 * 5.2, strict; the fragment is left out, as it is never sent). -EINVAL for a scheme other
 * than http and https, a result that parse_url refuses (userinfo...), or one that does not
 * fit. */
static int resolve(const char *base, const char *loc, char *out, size_t n)
{
    url b;
    if (parse_url(base, &b) < 0)
        return -EINVAL;
    const char *scheme = b.https ? "https" : "http";
    size_t rl = strcspn(loc, "#"), sl = scheme_len(loc);
    if (sl) {
        if (!(sl == 4 && !strncasecmp(loc, "http", 4)) && !(sl == 5 && !strncasecmp(loc, "https", 5)))
            return -EINVAL;
        scheme = sl == 4 ? "http" : "https";
        loc += sl + 1;
        rl -= sl + 1;
        if (rl < 2 || loc[0] != '/' || loc[1] != '/')
            return -EINVAL; /* an http URI has an authority */
    }
    /* authority, path and query of the result, each as a span */
    const char *auth = b.hosthdr, *path = loc, *query = "";
    size_t al = strlen(b.hosthdr), pl, ql = 0;
    char merged[4096];
    if (rl >= 2 && loc[0] == '/' && loc[1] == '/') {
        auth = loc + 2;
        al = strcspn(auth, "/?#");
        path = auth + al;
        rl -= 2 + al;
    }
    pl = strcspn(path, "?#");
    if (pl < rl) {
        query = path + pl;
        ql = rl - pl;
    }
    if (auth == b.hosthdr && pl == 0) {
        /* same document: the base's path, and its query unless one is given */
        size_t bp = strcspn(b.target, "?#");
        if (b.target[0] == '/')
            path = b.target, pl = bp;
        if (!ql) {
            query = b.target + bp;
            ql = strcspn(query, "#");
        }
    } else if (auth == b.hosthdr && path[0] != '/') {
        /* merge with the base's directory (RFC 3986 5.2.3) */
        size_t dir = b.target[0] == '/' ? strcspn(b.target, "?#") : 0;
        while (dir > 0 && b.target[dir - 1] != '/')
            dir--;
        if (dir + pl + 2 > sizeof merged)
            return -EINVAL;
        if (dir)
            memcpy(merged, b.target, dir);
        else
            merged[dir++] = '/';
        memcpy(merged + dir, path, pl);
        path = merged;
        pl += dir;
    }
    char clean[4096];
    if (pl >= sizeof clean)
        return -EINVAL;
    pl = remove_dots(path, pl, clean);
    int r = snprintf(out, n, "%s://%.*s%.*s%.*s", scheme, (int)al, auth, (int)pl, clean, (int)ql, query);
    url t; /* the server's URL must be one we would take from the caller */
    return r > 0 && r < (int)n ? parse_url(out, &t) : -EINVAL;
}

/* Whether a pooled connection was closed by the server meanwhile, or has bytes nobody
 * asked for: a peek that never blocks, made only before a request that cannot be retried
 * (over TLS, pending bytes may be a session ticket, so only the end counts). */
static int pconn_dead(const pconn *pc)
{
    char b;
    ssize_t r = grove__hio_peek(&pc->io, &b, 1);
    return r == 0 || (r > 0 && !pc->io.tls) || (r < 0 && r != -EAGAIN);
}

/* One request and the head of its response. flags (RQ_*) shape the request; a request
 * that cannot be repeated (neither idempotent nor replayable) goes out on a pooled
 * connection only after pconn_dead, and is never retried. */
static int send_once(grove_http_client *c, const grove_http_request *rq, const char *method, const char *urlstr,
                     int with_body, unsigned flags, grove_http_resp **out)
{
    url u;
    int rc = parse_url(urlstr, &u);
    if (rc < 0)
        return rc;
    char key[320];
    snprintf(key, sizeof key, "%s://%s", u.https ? "https" : "http", u.connect);
    sbuf head = {0};
    if ((rc = build_request(c, rq, method, &u, with_body, &flags, &head)) < 0) {
        free(head.b);
        return rc;
    }
    int retryable = idempotent(method) && !(with_body && rq->body_cb);
    int early = 0; /* answered before the request was sent whole */
    pconn *pc = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        pc = NULL;
        while (attempt == 0 && (pc = pool_take(c, key)) && !retryable && pconn_dead(pc)) {
            pconn_close(pc);
            pc = NULL;
        }
        int reused = pc != NULL;
        if (!pc && (rc = dial(c, &u, key, &pc)) < 0)
            break;
        grove__hio_next(&pc->io);
        grove__hp_next(&pc->hp, 0);
        pc->hp.skip_body = !strcmp(method, "HEAD");
        /* no empty body piece: over TLS the pieces are gathered with memcpy (NULL base) */
        size_t blen = with_body && !rq->body_cb ? rq->body_len : 0;
        struct iovec iov[2] = {{head.b, head.len}, {(void *)rq->body, blen}};
        rc = grove__hio_writev(&pc->io, iov, blen ? 2 : 1);
        if (rc == 0 && with_body && rq->body_cb)
            rc = send_cb_body(pc, rq);
        if (rc == 0) {
            rc = read_head(c, pc, flags & RQ_UPGRADE);
        } else if ((rc == -EPIPE || rc == -ECONNRESET) && read_head(c, pc, flags & RQ_UPGRADE) == 0) {
            /* The server answered early and stopped reading (a 413 for a large upload,
             * as curl shows it): that answer is the response, and the connection ends. */
            rc = 0;
            early = 1;
        }
        if (rc == 0)
            break;
        pconn_close(pc);
        pc = NULL;
        /* A pooled connection the server had closed before answering: once more on a
         * fresh one, if the request may be repeated (RFC 9110 9.2.2). */
        int stale = rc == -EAGAIN || rc == -EPIPE || rc == -ECONNRESET;
        if (!(reused && stale && retryable))
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
    r->no_reuse = (flags & RQ_CLOSE) != 0 || early;
    *out = r;
    return 0;
}

/* Whether two absolute URLs have the same origin: scheme, host and port (RFC 6454). */
static int same_origin(const char *a, const char *b)
{
    url ua, ub;
    if (parse_url(a, &ua) < 0 || parse_url(b, &ub) < 0)
        return 0;
    return ua.https == ub.https && ua.port == ub.port && !strcasecmp(ua.host, ub.host);
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
    if (snprintf(mbuf, sizeof mbuf, "%s", method) >= (int)sizeof mbuf)
        return -EINVAL;
    int with_body = 1;
    unsigned flags = 0;
    for (int hops = 0;; hops++) {
        grove_http_resp *r;
        int rc = send_once(c, rq, mbuf, cur, with_body, flags, &r);
        if (rc < 0)
            return rc;
        const char *loc = grove_http_resp_header(r, "Location");
        int sc = r->status;
        /* 303 (but after HEAD), and 301/302 after POST, become GET without content */
        int to_get = sc == 303 ? strcmp(mbuf, "HEAD") : ((sc == 301 || sc == 302) && !strcmp(mbuf, "POST"));
        /* a body from a callback cannot be sent again: such a redirect is the answer */
        int replay = with_body && rq->body_cb && !to_get;
        if (!c->o.max_redirects || !is_redirect(sc) || !loc || replay) {
            *out = r;
            return 0;
        }
        if (hops >= c->o.max_redirects) {
            grove_http_resp_close(r);
            return -ELOOP;
        }
        char next[4096];
        rc = resolve(cur, loc, next, sizeof next);
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
        if (to_get) {
            snprintf(mbuf, sizeof mbuf, "GET");
            with_body = 0;
            flags |= RQ_NO_CONTENT_FIELDS;
        }
        /* Credentials go only to the origin they were given for (curl's rule: compared
         * with the first URL, so a chain back to it sends them again). */
        flags = same_origin(rq->url, cur) ? flags & ~(unsigned)RQ_NO_CREDENTIALS : flags | RQ_NO_CREDENTIALS;
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
        int reusable = !r->body_err && !r->no_reuse && pc->hp.msg_done && pc->hp.keep_alive && !pc->hp.upgrade &&
                       pc->io.pos == pc->io.end;
        if (reusable)
            pool_put(r->cl, pc);
        else
            pconn_close(pc);
    }
    free(r->whole);
    free(r->url);
    free(r);
}
