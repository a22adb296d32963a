/* TLS for a Grove built without OpenSSL (GROVE_WITH_TLS=OFF): the same functions, so
 * programs link either way, each failing with ENOTSUP (contexts: NULL with errno
 * ENOTSUP; calls: -ENOTSUP). */
#include "core/thread.h"

#include "grove/tls.h"

static grove_tls_ctx *no_ctx(void)
{
    errno = ENOTSUP;
    return NULL;
}

grove_tls_ctx *grove_tls_client_ctx(const grove_tls_opts *opts) { return no_ctx(); }
grove_tls_ctx *grove_tls_server_ctx(const grove_tls_opts *opts) { return no_ctx(); }
int grove_tls_ctx_add_sni(grove_tls_ctx *ctx, const char *server_name, const char *cert_file, const char *key_file)
{
    return -ENOTSUP;
}
void grove_tls_ctx_free(grove_tls_ctx *ctx) {}
int grove_tls_connect(grove_tls_ctx *ctx, int fd, const char *server_name, grove_tls **out) { return -ENOTSUP; }
int grove_tls_accept(grove_tls_ctx *ctx, int fd, grove_tls **out) { return -ENOTSUP; }
ssize_t grove_tls_read(grove_tls *t, void *buf, size_t n) { return -ENOTSUP; }
ssize_t grove_tls_write(grove_tls *t, const void *buf, size_t n) { return -ENOTSUP; }
int grove_tls_close(grove_tls *t) { return 0; }
const char *grove_tls_alpn(const grove_tls *t) { return ""; }
const char *grove_tls_server_name(const grove_tls *t) { return NULL; }
int grove_tls_fd(const grove_tls *t) { return -1; }
grove_stream *grove_tls_stream(grove_tls *t, size_t bufsize)
{
    errno = ENOTSUP;
    return NULL;
}
const struct grove_stream_ops *grove_tls_stream_ops(void) { return NULL; }
const char *grove_tls_last_error(void) { return "Grove was built without TLS (GROVE_WITH_TLS=OFF)"; }
