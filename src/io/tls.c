/* TLS over OpenSSL on non-blocking fds: every SSL call that wants I/O waits on the hub
 * for the direction OpenSSL asks for, then retries. */
#include "core/thread.h"
#include "hub/fd.h"

#include "grove/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <unistd.h>

struct grove_tls_ctx {
    SSL_CTX *ssl;
    unsigned char *alpn; /* wire format */
    size_t alpn_len;
    int server;
    struct sni_entry {
        char *name;
        SSL_CTX *ssl;
    } * sni;
    size_t nsni;
};

struct grove_tls {
    SSL *ssl;
    int fd;
    char alpn[256]; /* NUL-terminated copy of the negotiated protocol (<= 255 bytes) */
};

static __thread char t_err[256];

const char *grove_tls_last_error(void) { return t_err; }

static void set_err(const char *what)
{
    unsigned long e = ERR_get_error();
    if (e) {
        char buf[200];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(t_err, sizeof t_err, "%s: %s", what, buf);
    } else {
        snprintf(t_err, sizeof t_err, "%s", what);
    }
    ERR_clear_error();
}

/* "h2,http/1.1" -> length-prefixed wire format. */
static int alpn_wire(const char *list, unsigned char **out, size_t *len)
{
    size_t n = strlen(list);
    unsigned char *w = grove__malloc(n + 1);
    if (!w)
        return -ENOMEM;
    size_t o = 0;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == 0 || l > 255) {
            free(w);
            return -EINVAL;
        }
        w[o++] = (unsigned char)l;
        memcpy(w + o, p, l);
        o += l;
        p += l + (c ? 1 : 0);
    }
    *out = w;
    *len = o;
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    grove_tls_ctx *c = arg;
    /* Our preference order first. */
    if (SSL_select_next_proto((unsigned char **)out, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

static int sni_select(SSL *ssl, int *al, void *arg)
{
    grove_tls_ctx *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < c->nsni; i++)
        if (!strcasecmp(c->sni[i].name, name)) {
            SSL_set_SSL_CTX(ssl, c->sni[i].ssl);
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_OK; /* the default certificate */
}

static grove_tls_ctx *ctx_new(const grove_tls_opts *o, int server)
{
    grove_tls_opts none = {0};
    if (!o)
        o = &none;
    t_err[0] = 0;
    grove_tls_ctx *c = grove__calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->server = server;
    c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl)
        goto fail;
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->cert_file && SSL_CTX_use_certificate_chain_file(c->ssl, o->cert_file) != 1) {
        set_err("certificate file");
        goto fail_einval;
    }
    if (o->key_file && SSL_CTX_use_PrivateKey_file(c->ssl, o->key_file, SSL_FILETYPE_PEM) != 1) {
        set_err("key file");
        goto fail_einval;
    }
    if (server && (!o->cert_file || !o->key_file)) {
        snprintf(t_err, sizeof t_err, "a server needs cert_file and key_file");
        goto fail_einval;
    }
    if (!server) {
        if (!o->insecure) {
            SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
            SSL_CTX_set_default_verify_paths(c->ssl);
        }
        if (o->ca_file && SSL_CTX_load_verify_locations(c->ssl, o->ca_file, NULL) != 1) {
            set_err("CA file");
            goto fail_einval;
        }
    }
    if (o->alpn) {
        if (alpn_wire(o->alpn, &c->alpn, &c->alpn_len) < 0) {
            snprintf(t_err, sizeof t_err, "bad ALPN list");
            goto fail_einval;
        }
        if (server)
            SSL_CTX_set_alpn_select_cb(c->ssl, alpn_select, c);
        else if (SSL_CTX_set_alpn_protos(c->ssl, c->alpn, (unsigned)c->alpn_len) != 0)
            goto fail;
    }
    if (server) {
        SSL_CTX_set_tlsext_servername_callback(c->ssl, sni_select);
        SSL_CTX_set_tlsext_servername_arg(c->ssl, c);
    }
    return c;
fail_einval:
    grove_tls_ctx_free(c);
    errno = EINVAL;
    return NULL;
fail:
    set_err("SSL_CTX");
    grove_tls_ctx_free(c);
    errno = ENOMEM;
    return NULL;
}

grove_tls_ctx *grove_tls_client_ctx(const grove_tls_opts *o) { return ctx_new(o, 0); }
grove_tls_ctx *grove_tls_server_ctx(const grove_tls_opts *o) { return ctx_new(o, 1); }

int grove_tls_ctx_add_sni(grove_tls_ctx *c, const char *name, const char *cert, const char *key)
{
    if (!c || !c->server || !name || !cert || !key)
        return -EINVAL;
    grove_tls_opts o = {.cert_file = cert, .key_file = key};
    grove_tls_ctx *sub = ctx_new(&o, 1);
    if (!sub)
        return -errno;
    if (c->alpn) /* the SNI context takes over the connection: it must also do ALPN */
        SSL_CTX_set_alpn_select_cb(sub->ssl, alpn_select, c);
    struct sni_entry *v = grove__realloc(c->sni, (c->nsni + 1) * sizeof *v);
    char *n = grove__strdup(name);
    if (!v || !n) {
        free(n);
        if (v)
            c->sni = v;
        grove_tls_ctx_free(sub);
        return -ENOMEM;
    }
    c->sni = v;
    v[c->nsni].name = n;
    v[c->nsni].ssl = sub->ssl;
    SSL_CTX_up_ref(sub->ssl);
    c->nsni++;
    grove_tls_ctx_free(sub);
    return 0;
}

void grove_tls_ctx_free(grove_tls_ctx *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsni; i++) {
        free(c->sni[i].name);
        SSL_CTX_free(c->sni[i].ssl);
    }
    free(c->sni);
    free(c->alpn);
    SSL_CTX_free(c->ssl);
    free(c);
}

/* ---- The transport: a BIO over Grove's own system calls ---------------------------------
 * OpenSSL's socket BIO would call libc's read/write: the patch layer's interposers when a
 * program greens libc, and SIGPIPE for a peer that left. This one calls the kernel
 * directly (sends with MSG_NOSIGNAL) and reports EAGAIN as a retry, leaving the waiting to
 * want() below. */

static int bio_fd(BIO *b) { return (int)(intptr_t)BIO_get_data(b); }

static int bio_result(BIO *b, long r, int rd)
{
    BIO_clear_retry_flags(b);
    if (r >= 0)
        return (int)r;
    if (r == -EAGAIN || r == -EINTR) {
        if (rd)
            BIO_set_retry_read(b);
        else
            BIO_set_retry_write(b);
    }
    errno = (int)-r; /* SSL_ERROR_SYSCALL reads it */
    return -1;
}

static int bio_read(BIO *b, char *buf, int n)
{
    return bio_result(b, grove__sys_read(bio_fd(b), buf, (size_t)(n < 0 ? 0 : n)), 1);
}

static int bio_write(BIO *b, const char *buf, int n)
{
    size_t len = (size_t)(n < 0 ? 0 : n);
    long r = grove__sys_sendto(bio_fd(b), buf, len, MSG_NOSIGNAL, NULL, 0);
    if (r == -ENOTSOCK)
        r = grove__sys_write(bio_fd(b), buf, len);
    return bio_result(b, r, 0);
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *g_bio_method;
static pthread_once_t g_bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "grove fd");
    if (m && BIO_meth_set_read(m, bio_read) && BIO_meth_set_write(m, bio_write) && BIO_meth_set_ctrl(m, bio_ctrl) &&
        BIO_meth_set_create(m, bio_create))
        g_bio_method = m;
}

/* A BIO over fd, or NULL. */
static BIO *bio_new(int fd)
{
    pthread_once(&g_bio_once, bio_method_init);
    BIO *b = g_bio_method ? BIO_new(g_bio_method) : NULL;
    if (b)
        BIO_set_data(b, (void *)(intptr_t)fd);
    return b;
}

/* Waits for what OpenSSL asked for after a call returned r. 1 = retry, else -errno. */
static int want(grove_tls *t, int r)
{
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ: {
        int rc = grove_wait_fd(t->fd, GROVE_READ);
        return rc < 0 ? rc : 1;
    }
    case SSL_ERROR_WANT_WRITE: {
        int rc = grove_wait_fd(t->fd, GROVE_WRITE);
        return rc < 0 ? rc : 1;
    }
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL: {
        int err = errno;
        set_err("connection");
        return err && err != EAGAIN ? -err : -ECONNRESET;
    }
    default: set_err("TLS"); return -EPROTO;
    }
}

static int handshake(grove_tls_ctx *c, int fd, const char *name, grove_tls **out, int server)
{
    if (!c || fd < 0 || !out || (!server && !name && SSL_CTX_get_verify_mode(c->ssl) != SSL_VERIFY_NONE))
        return -EINVAL;
    t_err[0] = 0;
    int rc = grove__fd_ensure(fd);
    if (rc)
        return rc < 0 ? rc : -EINVAL;
    grove_tls *t = grove__calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->fd = fd;
    t->ssl = SSL_new(c->ssl);
    BIO *bio = t->ssl ? bio_new(fd) : NULL;
    if (!bio) {
        set_err("SSL_new");
        rc = -ENOMEM;
        goto fail;
    }
    SSL_set_bio(t->ssl, bio, bio); /* the SSL owns the BIO from here */
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (name) {
            /* No SNI for an address: RFC 6066 3 allows host names only. The certificate
             * is still checked against it (SSL_set1_host matches IP addresses too). */
            unsigned char a[16];
            if (inet_pton(AF_INET, name, a) != 1 && inet_pton(AF_INET6, name, a) != 1)
                SSL_set_tlsext_host_name(t->ssl, name);
            if (SSL_CTX_get_verify_mode(c->ssl) != SSL_VERIFY_NONE)
                SSL_set1_host(t->ssl, name);
        }
    }
    for (;;) {
        ERR_clear_error();
        errno = 0; /* SSL_ERROR_SYSCALL reports errno: never a stale EAGAIN */
        int r = SSL_do_handshake(t->ssl);
        if (r == 1)
            break;
        rc = want(t, r);
        if (rc == 1)
            continue;
        long v = SSL_get_verify_result(t->ssl);
        if (!server && v != X509_V_OK) {
            snprintf(t_err, sizeof t_err, "certificate verification failed: %s", X509_verify_cert_error_string(v));
            rc = -EKEYREJECTED;
        } else if (rc == 0) {
            rc = -ECONNRESET;
        }
        goto fail;
    }
    const unsigned char *p;
    unsigned len;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (p && len < sizeof t->alpn)
        memcpy(t->alpn, p, len);
    *out = t;
    return 0;
fail:
    SSL_free(t->ssl);
    free(t);
    /* fd stays the caller's; the hub forgets it, so a plain close() is safe too (a
     * forgotten registration would leave a later fd of that number deaf). */
    grove_fd_forget(fd);
    return rc;
}

int grove_tls_connect(grove_tls_ctx *c, int fd, const char *name, grove_tls **out)
{
    return handshake(c, fd, name, out, 0);
}
int grove_tls_accept(grove_tls_ctx *c, int fd, grove_tls **out) { return handshake(c, fd, NULL, out, 1); }

ssize_t grove_tls_read(grove_tls *t, void *buf, size_t n)
{
    if (!t)
        return -EINVAL;
    for (;;) {
        size_t got = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read_ex(t->ssl, buf, n, &got);
        if (r == 1) {
            grove__io_budget_spend(); /* fair I/O: see GROVE__IO_BUDGET */
            return (ssize_t)got;
        }
        int rc = want(t, r);
        if (rc != 1)
            return rc;
    }
}

ssize_t grove_tls_write(grove_tls *t, const void *buf, size_t n)
{
    if (!t)
        return -EINVAL;
    size_t off = 0;
    while (off < n) {
        size_t done = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_write_ex(t->ssl, (const char *)buf + off, n - off, &done);
        if (r == 1) {
            off += done;
            continue;
        }
        int rc = want(t, r);
        if (rc == 0)
            return -EPIPE;
        if (rc != 1)
            return rc == -ECONNRESET ? -EPIPE : rc;
    }
    grove__io_budget_spend();
    return (ssize_t)n;
}

int grove_tls_close(grove_tls *t)
{
    if (!t)
        return 0;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* one attempt: never wait for the peer's close_notify */
    ERR_clear_error();
    SSL_free(t->ssl);
    grove_close(t->fd);
    free(t);
    return 0;
}

const char *grove_tls_alpn(const grove_tls *t) { return t ? t->alpn : ""; }

const char *grove_tls_server_name(const grove_tls *t) { return SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name); }
int grove_tls_fd(const grove_tls *t) { return t ? t->fd : -1; }

static ssize_t op_read(void *ctx, void *buf, size_t n) { return grove_tls_read(ctx, buf, n); }
static ssize_t op_write(void *ctx, const void *buf, size_t n) { return grove_tls_write(ctx, buf, n); }
static int op_close(void *ctx) { return grove_tls_close(ctx); }
static const grove_stream_ops g_tls_ops = {op_read, op_write, op_close};

const struct grove_stream_ops *grove_tls_stream_ops(void) { return &g_tls_ops; }

grove_stream *grove_tls_stream(grove_tls *t, size_t bufsize)
{
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    return grove_stream_new_ops(&g_tls_ops, t, bufsize);
}
