/* Grove TLS (OpenSSL): client and server connections over plain fds, waiting on the hub,
 * usable directly or as a buffered grove_stream.
 *
 * Clients verify the server's certificate and host name by default (the system CA store
 * plus an optional CA file). Servers can pick a certificate by SNI name and choose an
 * ALPN protocol from the client's offer. Handshakes, reads and writes are switch points
 * and honour timeout scopes and kill. A grove_tls belongs to one hub; contexts may be
 * shared by hubs on several OS threads (OpenSSL contexts are thread-safe once set up).
 * A Grove built with GROVE_WITH_TLS=OFF has the same functions: contexts are NULL with
 * errno ENOTSUP, calls return -ENOTSUP.
 */
#ifndef GROVE_TLS_H
#define GROVE_TLS_H

#include "grove/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grove_tls_opts {
    const char *ca_file;   /* extra trusted CAs (PEM); clients also trust the system store */
    const char *cert_file; /* certificate chain (PEM): required for servers */
    const char *key_file;  /* its private key (PEM) */
    const char *alpn;      /* comma-separated protocols, in preference order ("h2,http/1.1") */
    int insecure;          /* clients: skip certificate and name verification (testing only) */
} grove_tls_opts;

typedef struct grove_tls_ctx grove_tls_ctx;
typedef struct grove_tls grove_tls;

/* Contexts. NULL with errno (EINVAL: missing/unreadable files or bad options, with the
 * reason in grove_tls_last_error(); ENOMEM). Never switch. */
GROVE_API grove_tls_ctx *grove_tls_client_ctx(const grove_tls_opts *opts);
GROVE_API grove_tls_ctx *grove_tls_server_ctx(const grove_tls_opts *opts);
/* Server: use this certificate for clients asking for server_name by SNI (the default
 * certificate serves every other name). Returns 0 or -EINVAL. */
GROVE_API int grove_tls_ctx_add_sni(grove_tls_ctx *ctx, const char *server_name, const char *cert_file,
                                    const char *key_file);
GROVE_API void grove_tls_ctx_free(grove_tls_ctx *ctx);

/* Handshakes as a client over connected fd, sending SNI server_name (unless it is an IPv4
 * or IPv6 address, which RFC 6066 keeps out of SNI) and verifying the certificate against
 * it (server_name may be NULL only with opts.insecure). On success the
 * grove_tls owns fd. Switches. Returns 0 and *out, or: -EKEYREJECTED (certificate or name
 * verification failed), -EPROTO (handshake failed), -ECONNRESET/-EPIPE (peer went away),
 * -ETIMEDOUT, -ECANCELED, -ENOMEM. On failure fd is left open for the caller, and the hub
 * has forgotten it (grove_fd_forget), so close() or grove_close may end it. */
GROVE_API int grove_tls_connect(grove_tls_ctx *ctx, int fd, const char *server_name, grove_tls **out);
/* Handshakes as a server over accepted fd. Same returns as grove_tls_connect. */
GROVE_API int grove_tls_accept(grove_tls_ctx *ctx, int fd, grove_tls **out);

/* Reads up to n bytes: count, 0 at the end of the stream, or -errno. Switches. */
GROVE_API ssize_t grove_tls_read(grove_tls *t, void *buf, size_t n);
/* Writes all n bytes: n, or -errno (-EPIPE when the peer is gone). Switches. */
GROVE_API ssize_t grove_tls_write(grove_tls *t, const void *buf, size_t n);
/* Sends close_notify (best effort, without waiting long), closes the fd, frees t.
 * Returns 0. Switches. */
GROVE_API int grove_tls_close(grove_tls *t);

/* The negotiated ALPN protocol ("" if none), and on servers the SNI name the client sent
 * (NULL if none). Valid until grove_tls_close. */
GROVE_API const char *grove_tls_alpn(const grove_tls *t);
GROVE_API const char *grove_tls_server_name(const grove_tls *t);
/* The fd under t. */
GROVE_API int grove_tls_fd(const grove_tls *t);

/* A buffered stream over t; the stream owns t (closing it closes t). NULL + errno
 * (ENOMEM, EINVAL). Never switches. */
GROVE_API grove_stream *grove_tls_stream(grove_tls *t, size_t bufsize);
/* The stream operations behind grove_tls_stream (ctx is a grove_tls *), for callers that
 * build their own stream with grove_stream_new_ops. Static storage; never NULL. */
GROVE_API const struct grove_stream_ops *grove_tls_stream_ops(void);

/* Text describing the calling OS thread's last TLS failure (verification result or
 * OpenSSL's error), "" if none. */
GROVE_API const char *grove_tls_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
