/* Grove green I/O: sockets, buffered streams, servers, name resolution.
 *
 * Every function takes plain file descriptors, so Grove mixes with any C code. Calls try
 * the system call first and wait (grove_wait_fd) only when it would block, so they are
 * switch points only then; they honour the caller's timeout scope (-ETIMEDOUT) and kill
 * (-ECANCELED) while waiting. Fair I/O: after 64 calls in a row (reads, writes, accepts,
 * TLS reads and writes) that completed without waiting, a call yields once before it
 * returns, so one connection whose data never runs out cannot starve the others; any
 * wait starts a new count. A kill or timeout seen in that yield shows at the next switch
 * point (the call's own result is returned). Returns are >= 0 or -errno. An fd used here is made
 * non-blocking; close it with grove_close (or grove_fd_forget before close).
 * Sockets are created non-blocking and close-on-exec; sends never raise SIGPIPE (a peer
 * that went away gives -EPIPE).
 * None of these is thread-safe for one fd across OS threads; different fds on different
 * hubs are independent.
 */
#ifndef GROVE_IO_H
#define GROVE_IO_H

#include "grove/core.h"

#include <netdb.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* <netdb.h> declares struct addrinfo only with POSIX features on (not under a strict
 * -std=c11): declared here at file scope, so grove_getaddrinfo is usable either way. */
struct addrinfo;

/* ---- Addresses and sockets ---------------------------------------------------------- */

/* Addresses are strings: "127.0.0.1:6000", "[::1]:80", "[::]:8080", "localhost:80"
 * (names are resolved through grove_getaddrinfo, without blocking the hub), ":8080" (any
 * IPv4 address), or "unix:/path/to/socket". */

#define GROVE_LISTEN_REUSEPORT 0x1 /* SO_REUSEPORT: several listeners share the port */
#define GROVE_LISTEN_V6ONLY 0x2    /* IPV6_V6ONLY on an IPv6 listener */

/* Creates a listening TCP (or Unix) socket with SO_REUSEADDR. A Unix path that exists as
 * a stale socket is replaced. backlog <= 0 means SOMAXCONN.
 * Returns the fd; -EINVAL (bad address); -ENOENT (name not found); -EADDRINUSE; other
 * -errno from socket/bind/listen. Switches only to resolve a name. */
GROVE_API int grove_listen(const char *addr, int backlog);
GROVE_API int grove_listen_opts(const char *addr, int backlog, unsigned flags);

/* Accepts a connection (non-blocking, close-on-exec); stores the peer address if sa is
 * not NULL. Switches while none is pending. Returns the fd or -errno (-EMFILE/-ENFILE when
 * out of fds: the pending connection stays queued). */
GROVE_API int grove_accept(int listen_fd, struct sockaddr *sa, socklen_t *salen);

/* Connects a TCP or Unix stream socket to addr (a name is resolved first; with several
 * addresses each is tried in order). TCP sockets get TCP_NODELAY. Use a timeout scope to
 * bound it.
 * Returns the connected fd; -ECONNREFUSED, -ENOENT (name), -ETIMEDOUT, -ECANCELED, ... */
GROVE_API int grove_connect(const char *addr);
/* Connects an existing socket fd to sa. Returns 0 or -errno. Switches. */
GROVE_API int grove_connect_fd(int fd, const struct sockaddr *sa, socklen_t salen);

/* Parses addr into *ss (resolving names, first result). Returns the length or -errno.
 * Switches only to resolve a name. */
GROVE_API int grove_parse_addr(const char *addr, struct sockaddr_storage *ss, int socktype);

/* read(2)/write(2) that wait instead of failing with EAGAIN. Partial transfers are
 * returned as such; read returns 0 at end of file. */
GROVE_API ssize_t grove_read(int fd, void *buf, size_t n);
GROVE_API ssize_t grove_write(int fd, const void *buf, size_t n);
GROVE_API ssize_t grove_readv(int fd, const struct iovec *iov, int iovcnt);
GROVE_API ssize_t grove_writev(int fd, const struct iovec *iov, int iovcnt);
/* recv(2)/send(2) likewise (MSG_NOSIGNAL is added to send's flags). */
GROVE_API ssize_t grove_recv(int fd, void *buf, size_t n, int flags);
GROVE_API ssize_t grove_send(int fd, const void *buf, size_t n, int flags);
/* Sends all n bytes, waiting as needed. Returns n, or -errno (then some bytes may have
 * been sent). */
GROVE_API ssize_t grove_sendall(int fd, const void *buf, size_t n);
/* Datagrams. */
GROVE_API ssize_t grove_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                               socklen_t salen);
GROVE_API ssize_t grove_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *salen);
/* A UDP socket bound to addr ("127.0.0.1:0" for any free port). Returns the fd or -errno. */
GROVE_API int grove_udp_bind(const char *addr);
/* shutdown(2). Returns 0 or -errno. Never switches. */
GROVE_API int grove_shutdown(int fd, int how);
/* The local port of a bound socket, or -errno. Never switches. */
GROVE_API int grove_sock_port(int fd);

/* ---- Name resolution (c-ares, integrated with the hub) -------------------------------- */

/* getaddrinfo(3) that waits cooperatively: /etc/hosts and /etc/resolv.conf are honoured
 * as by the system resolver; numeric hosts never touch the network. Bound it with a
 * timeout scope (c-ares also gives up after its own retries).
 * Returns 0 and *res (free with grove_freeaddrinfo), or: -ENOENT (no such name or no
 * address of the requested family), -ETIMEDOUT, -EAGAIN (temporary failure: server
 * failure or refused), -EINVAL (bad arguments or name), -ENOMEM, -ECANCELED.
 * Switches (except for numeric hosts). */
GROVE_API int grove_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                                struct addrinfo **res);
GROVE_API void grove_freeaddrinfo(struct addrinfo *res);

/* ---- Buffered streams ----------------------------------------------------------------- */

/* A transport under a stream: plain fds use the built-in one, TLS provides its own.
 * Each function blocks cooperatively and returns >= 0 or -errno; read returns 0 at EOF. */
typedef struct grove_stream_ops {
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    ssize_t (*write)(void *ctx, const void *buf, size_t n);
    int (*close)(void *ctx);
} grove_stream_ops;

typedef struct grove_stream grove_stream;

/* A buffered stream over fd (bufsize 0 = 16 KiB each way). The stream owns fd: closing
 * the stream closes it. Returns NULL with errno ENOMEM/EINVAL. Never switches. */
GROVE_API grove_stream *grove_stream_new(int fd, size_t bufsize);
/* Like grove_stream_new, but the stream does not own fd: grove_stream_close flushes and
 * frees the stream and leaves fd open (e.g. in a grove_serve handler, whose fd the server
 * closes). */
GROVE_API grove_stream *grove_stream_wrap(int fd, size_t bufsize);
/* A buffered stream over any transport; close calls ops->close(ctx). */
GROVE_API grove_stream *grove_stream_new_ops(const grove_stream_ops *ops, void *ctx, size_t bufsize);
/* Reads up to n bytes: what is buffered, or else one read of the transport.
 * Returns the count, 0 at EOF, or -errno. */
GROVE_API ssize_t grove_stream_read(grove_stream *s, void *buf, size_t n);
/* Reads exactly n bytes. Returns n; -EPIPE if EOF comes first (the bytes that did arrive
 * stay buffered for grove_stream_read); other -errno. */
GROVE_API ssize_t grove_stream_read_exact(grove_stream *s, void *buf, size_t n);
/* Reads a line ending in '\n' (included) into buf and NUL-terminates it; at most size-1
 * bytes. Returns its length; the last line before EOF may lack '\n'; 0 at EOF;
 * -EMSGSIZE if no '\n' comes within size-1 bytes (nothing is consumed: the data stays
 * buffered); other -errno. */
GROVE_API ssize_t grove_stream_readline(grove_stream *s, char *buf, size_t size);
/* Like readline with any delimiter (dlen >= 1 bytes); buf gets the data up to and
 * including the delimiter (not NUL-terminated). Returns the length; -EPIPE if EOF comes
 * before the delimiter (data stays buffered); -EMSGSIZE as for readline. */
GROVE_API ssize_t grove_stream_read_until(grove_stream *s, const void *delim, size_t dlen, void *buf, size_t size);
/* Buffers n bytes for writing, flushing as the buffer fills. Returns n or -errno. */
GROVE_API ssize_t grove_stream_write(grove_stream *s, const void *buf, size_t n);
/* printf into the stream's write buffer (formatted in place when it fits, so no copy and
 * no allocation; longer output is formatted aside and written). Returns the number of
 * bytes written, or -errno (-EINVAL for a NULL stream or format or an encoding error,
 * -ENOMEM, or the transport's error while flushing). Switches only to flush. */
GROVE_API ssize_t grove_stream_printf(grove_stream *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
GROVE_API ssize_t grove_stream_vprintf(grove_stream *s, const char *fmt, va_list ap);
/* Writes out everything buffered. Returns 0 or -errno. */
GROVE_API int grove_stream_flush(grove_stream *s);
/* Bytes buffered for reading. Never switches. */
GROVE_API size_t grove_stream_buffered(const grove_stream *s);
/* The stream's fd (-1 for a stream over other ops). */
GROVE_API int grove_stream_fd(const grove_stream *s);
/* Flushes (errors ignored), closes the transport and frees the stream. Returns the close
 * result (0 or -errno). Switches while flushing. A cleanup path: when the caller was
 * already killed or its timeout scope fired, the flush still runs, shielded, for at most
 * 1 s (inside the caller's own shield, its inner timeout scopes bound it instead). */
GROVE_API int grove_stream_close(grove_stream *s);

/* ---- Servers ---------------------------------------------------------------------------- */

typedef struct grove_server grove_server;

/* Starts serving listen_fd in a new green thread: each accepted connection runs
 * handle(fd, arg) in its own green thread, at most concurrency at once (accepting pauses
 * while full; 0 = unlimited). The connection fd is closed when handle returns (handle
 * must not close it itself; grove_fd_forget + dup if it must keep it). Accept errors from
 * running out of fds or memory back off (1 ms doubling to 100 ms) and accepting resumes
 * when resources free up. The server does not own listen_fd.
 * Returns the server or NULL with errno. Never switches. */
GROVE_API grove_server *grove_server_start(int listen_fd, void (*handle)(int fd, void *arg), void *arg,
                                           size_t concurrency);
/* A connection handler that also gets the peer's address (as accept(2) returned it:
 * sockaddr_in, sockaddr_in6 or sockaddr_un; valid until the handler returns). */
typedef void (*grove_peer_handler)(int fd, const struct sockaddr *peer, socklen_t peer_len, void *arg);
/* grove_server_start with a handler that gets the peer's address. Same contract. */
GROVE_API grove_server *grove_server_start_peer(int listen_fd, grove_peer_handler handle, void *arg,
                                                size_t concurrency);
/* Graceful stop: stops accepting at once, waits up to grace_ns for running handlers to
 * return, then kills the rest (their switch points fail with -ECANCELED) and waits for
 * them. Frees the server. A cleanup path: it shields itself, so it completes even when
 * the caller is killed or its timeout scope fires (handlers that shield themselves are
 * waited for). Switches. Returns the number of handlers that had to be killed; or
 * -ETIMEDOUT when a timeout scope opened inside the caller's own shield fired, or
 * -EDEADLK: the server is then still allocated, stopping, and stop may be called again. */
GROVE_API int grove_server_stop(grove_server *srv, int64_t grace_ns);
/* Connections accepted so far / handlers running now. */
GROVE_API uint64_t grove_server_accepted(const grove_server *srv);
GROVE_API size_t grove_server_active(const grove_server *srv);

/* Serves listen_fd in the calling green thread until it is killed or a timeout scope
 * fires, then stops gracefully with grove_server_stop (handlers get 5 s to finish),
 * which completes even though the caller was killed; the caller's timeout scopes are
 * left exactly as they were. The acceptor is a service thread: grove_thread_count and
 * grove_wait_all do not count it. Switches.
 * Returns -ECANCELED / -ETIMEDOUT (the reason it stopped) or -errno from accept. */
GROVE_API int grove_serve(int listen_fd, void (*handle)(int fd, void *arg), void *arg, size_t concurrency);
/* grove_serve with a handler that gets the peer's address (see grove_peer_handler). */
GROVE_API int grove_serve_peer(int listen_fd, grove_peer_handler handle, void *arg, size_t concurrency);

#ifdef __cplusplus
}
#endif
#endif
