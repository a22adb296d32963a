/* Green sockets and fd I/O: every call tries the system call first and waits on the hub
 * only on EAGAIN, so a ready fd costs exactly one syscall. */
#include "core/thread.h"
#include "hub/fd.h"

#include "grove/io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Prepares fd for green I/O. 0 = wait on EAGAIN; 1 = not pollable (blocking I/O is fine:
 * regular files never return EAGAIN); -errno. */
static inline int prep(int fd)
{
    if (fd < 0)
        return -EBADF;
    return grove__fd_ensure(fd);
}

/* The green loop of every call below: try, wait on EAGAIN, retry. A stream read (stream
 * nonzero, asking for n bytes) also keeps the fd's read hint: after a short read the next
 * call waits before trying (see grove__fd_take_drained), which saves an EAGAIN syscall per
 * message. stream is a constant at each use, so the other calls pay nothing for it. */
#define GREEN_IO_(fd, events, call, stream, n)                                                                         \
    do {                                                                                                               \
        int p_ = prep(fd);                                                                                             \
        if (p_ < 0)                                                                                                    \
            return p_;                                                                                                 \
        if ((stream) && p_ == 0 && grove__fd_take_drained(fd)) {                                                       \
            int w_ = grove_wait_fd(fd, GROVE_READ);                                                                    \
            if (w_ < 0)                                                                                                \
                return w_;                                                                                             \
        }                                                                                                              \
        for (;;) {                                                                                                     \
            ssize_t r_ = (call);                                                                                       \
            if (r_ >= 0) {                                                                                             \
                if ((stream) && p_ == 0)                                                                               \
                    grove__fd_note_read(fd, (size_t)r_, n);                                                            \
                grove__io_budget_spend();                                                                              \
                return r_;                                                                                             \
            }                                                                                                          \
            if (r_ == -EINTR)                                                                                          \
                continue;                                                                                              \
            if (r_ != -EAGAIN || p_ == 1)                                                                              \
                return r_;                                                                                             \
            int w_ = grove_wait_fd(fd, events);                                                                        \
            if (w_ < 0)                                                                                                \
                return w_;                                                                                             \
        }                                                                                                              \
    } while (0)
#define GREEN_IO(fd, events, call) GREEN_IO_(fd, events, call, 0, 0)
#define GREEN_STREAM_READ(fd, n, call) GREEN_IO_(fd, GROVE_READ, call, 1, n)

/* SIGPIPE for writes to a pipe whose reader is gone: blocked around the write, and the
 * one the write raised (directed at this thread) is taken back with sigtimedwait, the way
 * libcurl and OpenSSL users do. A SIGPIPE the user already blocked, or one that was
 * already pending, is left alone. Three extra syscalls, on pipes only. */
static ssize_t pipe_write(int fd, const void *buf, size_t n, const struct iovec *iov, int iovcnt)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
        return iov ? grove__sys_writev(fd, iov, iovcnt) : grove__sys_write(fd, buf, n);
    int was_pending = 0;
    if (!sigismember(&old, SIGPIPE) && sigpending(&pending) == 0)
        was_pending = sigismember(&pending, SIGPIPE);
    ssize_t r = iov ? grove__sys_writev(fd, iov, iovcnt) : grove__sys_write(fd, buf, n);
    if (r == -EPIPE && !sigismember(&old, SIGPIPE) && !was_pending) {
        const struct timespec zero = {0, 0};
        int e = errno;
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
        errno = e;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

/* write(2) / writev(2) that never raise SIGPIPE: sockets use sendto/sendmsg with
 * MSG_NOSIGNAL, other fds (pipes) go through pipe_write. Return -errno. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
    if (grove__fd_is_sock(fd))
        return grove__sys_sendto(fd, buf, n, MSG_NOSIGNAL, NULL, 0);
    return pipe_write(fd, buf, n, NULL, 0);
}

static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt)
{
    if (grove__fd_is_sock(fd)) {
        if (iovcnt < 0)
            return -EINVAL;
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        return grove__sys_sendmsg(fd, &m, MSG_NOSIGNAL);
    }
    return pipe_write(fd, NULL, 0, iov, iovcnt);
}

ssize_t grove_read(int fd, void *buf, size_t n) { GREEN_STREAM_READ(fd, n, grove__sys_read(fd, buf, n)); }
ssize_t grove_write(int fd, const void *buf, size_t n) { GREEN_IO(fd, GROVE_WRITE, write_nosigpipe(fd, buf, n)); }
ssize_t grove_readv(int fd, const struct iovec *iov, int iovcnt)
{
    GREEN_IO(fd, GROVE_READ, grove__sys_readv(fd, iov, iovcnt));
}
ssize_t grove_writev(int fd, const struct iovec *iov, int iovcnt)
{
    GREEN_IO(fd, GROVE_WRITE, writev_nosigpipe(fd, iov, iovcnt));
}
ssize_t grove_recv(int fd, void *buf, size_t n, int flags)
{
    if (flags & (MSG_PEEK | MSG_DONTWAIT))
        GREEN_IO(fd, GROVE_READ, grove__sys_recvfrom(fd, buf, n, flags, NULL, NULL));
    GREEN_STREAM_READ(fd, n, grove__sys_recvfrom(fd, buf, n, flags, NULL, NULL));
}
ssize_t grove_send(int fd, const void *buf, size_t n, int flags)
{
    GREEN_IO(fd, GROVE_WRITE, grove__sys_sendto(fd, buf, n, flags | MSG_NOSIGNAL, NULL, 0));
}
ssize_t grove_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t salen)
{
    GREEN_IO(fd, GROVE_WRITE, grove__sys_sendto(fd, buf, n, flags | MSG_NOSIGNAL, sa, salen));
}
ssize_t grove_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *salen)
{
    GREEN_IO(fd, GROVE_READ, grove__sys_recvfrom(fd, buf, n, flags, sa, salen));
}

ssize_t grove_sendall(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    size_t left = n;
    while (left) {
        ssize_t r = grove_send(fd, p, left, 0);
        if (r == -ENOTSOCK)
            r = grove_write(fd, p, left);
        if (r < 0)
            return r;
        p += r;
        left -= (size_t)r;
    }
    return (ssize_t)n;
}

int grove_shutdown(int fd, int how) { return shutdown(fd, how) < 0 ? -errno : 0; }

int grove_sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

/* ---- Addresses ------------------------------------------------------------------------ */

/* Splits "host:port", "[v6]:port" or ":port" into host (maybe empty) and port. */
static int split(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        size_t hl = (size_t)(end - addr - 1);
        if (hl >= hsize)
            return -EINVAL;
        memcpy(host, addr + 1, hl);
        host[hl] = 0;
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -EINVAL;
        size_t hl = (size_t)(colon - addr);
        if (hl >= hsize)
            return -EINVAL;
        memcpy(host, addr, hl);
        host[hl] = 0;
    }
    size_t pl = strlen(colon + 1);
    if (pl == 0 || pl >= psize)
        return -EINVAL;
    memcpy(port, colon + 1, pl + 1);
    /* A numeric port must fit in 16 bits (getaddrinfo would silently take it modulo
     * 65536); anything else is a service name for the resolver. */
    if (port[0] >= '0' && port[0] <= '9') {
        unsigned long v = 0;
        for (const char *c = port; *c; c++) {
            if (*c < '0' || *c > '9')
                return -EINVAL;
            v = v * 10 + (unsigned long)(*c - '0');
            if (v > 65535)
                return -EINVAL;
        }
    }
    return 0;
}

static int unix_addr(const char *path, struct sockaddr_storage *ss)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof un->sun_path)
        return -EINVAL;
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n);
    return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/* Resolves addr; *res is freed with grove_freeaddrinfo. */
static int resolve(const char *addr, int socktype, int passive, struct addrinfo **res)
{
    char host[256], port[32];
    int rc = split(addr, host, sizeof host, port, sizeof port);
    if (rc)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype};
    if (passive)
        hints.ai_flags |= AI_PASSIVE;
    return grove_getaddrinfo(host[0] ? host : NULL, port, &hints, res);
}

int grove_parse_addr(const char *addr, struct sockaddr_storage *ss, int socktype)
{
    if (!addr || !ss)
        return -EINVAL;
    if (!strncmp(addr, "unix:", 5))
        return unix_addr(addr + 5, ss);
    struct addrinfo *ai;
    int rc = resolve(addr, socktype ? socktype : SOCK_STREAM, 0, &ai);
    if (rc)
        return rc;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    rc = (int)ai->ai_addrlen;
    grove_freeaddrinfo(ai);
    return rc;
}

/* ---- Listen, accept, connect ------------------------------------------------------------ */

static int listen_on(const struct sockaddr *sa, socklen_t len, int type, int backlog, unsigned flags)
{
    int fd = grove__sys_socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    int one = 1, rc = 0;
    if (sa->sa_family != AF_UNIX) {
        (void)grove__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if ((flags & GROVE_LISTEN_REUSEPORT) &&
            (rc = grove__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) < 0)
            goto fail;
        if (sa->sa_family == AF_INET6 && (flags & GROVE_LISTEN_V6ONLY))
            (void)grove__sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (bind(fd, sa, len) < 0)
        goto fail_errno;
    if (type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        goto fail_errno;
    return fd;
fail_errno:
    rc = -errno;
fail:
    grove__sys_close(fd);
    return rc;
}

static int bind_addr(const char *addr, int type, int backlog, unsigned flags)
{
    if (!addr)
        return -EINVAL;
    if (!strncmp(addr, "unix:", 5)) {
        struct sockaddr_storage ss;
        int len = unix_addr(addr + 5, &ss);
        if (len < 0)
            return len;
        struct stat st;
        if (stat(addr + 5, &st) == 0 && S_ISSOCK(st.st_mode)) {
            /* Replace a stale socket, but never one that still has a listener. */
            int probe = grove__sys_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int live = probe >= 0 && grove__sys_connect(probe, (struct sockaddr *)&ss, (socklen_t)len) == 0;
            if (probe >= 0)
                grove__sys_close(probe);
            if (live)
                return -EADDRINUSE;
            unlink(addr + 5);
        }
        return listen_on((struct sockaddr *)&ss, (socklen_t)len, type, backlog, flags);
    }
    struct addrinfo *ai;
    int rc = resolve(addr, type, 1, &ai);
    if (rc)
        return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        rc = listen_on(a->ai_addr, a->ai_addrlen, type, backlog, flags);
        if (rc >= 0)
            break;
    }
    grove_freeaddrinfo(ai);
    return rc;
}

int grove_listen_opts(const char *addr, int backlog, unsigned flags)
{
    return bind_addr(addr, SOCK_STREAM, backlog, flags);
}
int grove_listen(const char *addr, int backlog) { return grove_listen_opts(addr, backlog, 0); }
int grove_udp_bind(const char *addr) { return bind_addr(addr, SOCK_DGRAM, 0, 0); }

int grove_accept(int lfd, struct sockaddr *sa, socklen_t *salen)
{
    GREEN_IO(lfd, GROVE_READ, grove__sys_accept4(lfd, sa, salen, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int grove_connect_fd(int fd, const struct sockaddr *sa, socklen_t salen)
{
    int p = prep(fd);
    if (p < 0)
        return p;
    int c = grove__sys_connect(fd, sa, salen);
    if (c == 0)
        return 0;
    if (c != -EINPROGRESS && c != -EINTR && c != -EAGAIN)
        return c;
    for (;;) {
        int rc = grove_wait_fd(fd, GROVE_WRITE);
        if (rc < 0)
            return rc;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        if (err)
            return -err;
        /* Writable and no error: connected (a spurious wake-up shows as ENOTCONN). */
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
            return 0;
        if (errno != ENOTCONN)
            return -errno;
    }
}

static int connect_one(const struct sockaddr *sa, socklen_t len)
{
    int fd = grove__sys_socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        (void)grove__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc = grove_connect_fd(fd, sa, len);
    if (rc < 0) {
        grove_close(fd);
        return rc;
    }
    return fd;
}

int grove_connect(const char *addr)
{
    if (!addr)
        return -EINVAL;
    if (!strncmp(addr, "unix:", 5)) {
        struct sockaddr_storage ss;
        int len = unix_addr(addr + 5, &ss);
        return len < 0 ? len : connect_one((struct sockaddr *)&ss, (socklen_t)len);
    }
    struct addrinfo *ai;
    int rc = resolve(addr, SOCK_STREAM, 0, &ai);
    if (rc)
        return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        rc = connect_one(a->ai_addr, a->ai_addrlen);
        if (rc >= 0 || rc == -ECANCELED || rc == -ETIMEDOUT)
            break;
    }
    grove_freeaddrinfo(ai);
    return rc;
}
