/* Connection transport and read buffer for the server and the client (see conn.h). */
#include "http/conn.h"

#include <pthread.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int grove__hio_init(grove__hio *io, int fd, grove_tls *tls, const grove_http_limits *lim)
{
    memset(io, 0, sizeof *io);
    io->fd = fd;
    io->tls = tls;
    /* The whole head fits, plus room to read body bytes behind it. */
    io->maxcap = lim->max_header_bytes * 2 + 65536;
    io->send_timeout = lim->send_timeout;
    return grove__hio_acquire(io);
}

void grove__hio_free(grove__hio *io)
{
    grove__hio_release(io);
    free(io->buf);
    free(io->wbuf);
    io->buf = io->wbuf = NULL;
}

/* Idle connections give their read buffer back to a per-thread cache, so 10,000 idle
 * keep-alive clients do not hold 10,000 buffers; taking one back is a pointer pop. */
#define HIO_BUF 4096
#define HIO_CACHE_MAX 1024
static _Thread_local char *cache_top;
static _Thread_local size_t cache_n;
static _Thread_local int cache_registered;

/* The cache goes with its OS thread (a hub of a --threads worker, a test's pthread). */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static void cache_free(void *unused)
{
    (void)unused;
    while (cache_top) {
        char *next;
        memcpy(&next, cache_top, sizeof next);
        free(cache_top);
        cache_top = next;
    }
    cache_n = 0;
}
static void cache_key_make(void) { (void)pthread_key_create(&cache_key, cache_free); }

void grove__hio_release(grove__hio *io)
{
    if (!io->buf || io->pos != io->end || io->keep)
        return;
    if (io->cap == HIO_BUF && cache_n < HIO_CACHE_MAX) {
        if (!cache_registered) {
            pthread_once(&cache_once, cache_key_make);
            pthread_setspecific(cache_key, &cache_registered);
            cache_registered = 1;
        }
        memcpy(io->buf, &cache_top, sizeof cache_top);
        cache_top = io->buf;
        cache_n++;
    } else {
        free(io->buf);
    }
    io->buf = NULL;
    io->cap = io->pos = io->end = 0;
}

int grove__hio_acquire(grove__hio *io)
{
    if (io->buf)
        return 0;
    if (cache_top) {
        io->buf = cache_top;
        memcpy(&cache_top, io->buf, sizeof cache_top);
        cache_n--;
    } else if (!(io->buf = malloc(HIO_BUF))) {
        return -ENOMEM;
    }
    io->cap = HIO_BUF;
    io->pos = io->end = io->keep = 0;
    return 0;
}

void grove__hp_shift(grove__hp *hp, size_t from, size_t delta)
{
    if (hp->in_trailers < 2)
        return;
    size_t *offs[] = {&hp->head_start, &hp->scan, &hp->line_start, &hp->head_end};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
        if (*offs[i] >= from)
            *offs[i] -= delta;
}

ssize_t grove__hio_read_raw(grove__hio *io, void *buf, size_t n)
{
    return io->tls ? grove_tls_read(io->tls, buf, n) : grove_recv(io->fd, buf, n, 0);
}

ssize_t grove__hio_peek(const grove__hio *io, void *buf, size_t n)
{
    ssize_t r = syscall(SYS_recvfrom, io->fd, buf, n, MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
    return r < 0 ? -errno : r;
}

ssize_t grove__hio_fill(grove__hio *io, grove__hp *hp, int64_t timeout_ns)
{
    if (!io->buf && grove__hio_acquire(io) < 0)
        return -ENOMEM;
    /* While a head is read, its bytes stay where they are (the parser holds offsets
     * into them): the buffer grows instead. */
    if (io->end == io->cap && io->pos > io->keep && (!hp || hp->head_done)) {
        size_t delta = io->pos - io->keep;
        memmove(io->buf + io->keep, io->buf + io->pos, io->end - io->pos);
        if (hp)
            grove__hp_shift(hp, io->pos, delta);
        io->end -= delta;
        io->pos = io->keep;
    }
    if (io->end == io->cap) {
        if (io->cap >= io->maxcap)
            return -EMSGSIZE;
        size_t cap = io->cap * 2 > io->maxcap ? io->maxcap : io->cap * 2;
        char *b = realloc(io->buf, cap);
        if (!b)
            return -ENOMEM;
        io->buf = b;
        io->cap = cap;
    }
    grove_timeout to;
    if (timeout_ns > 0)
        grove_timeout_start(&to, timeout_ns);
    ssize_t r = grove__hio_read_raw(io, io->buf + io->end, io->cap - io->end);
    if (timeout_ns > 0)
        grove_timeout_end(&to);
    if (r > 0)
        io->end += (size_t)r;
    return r;
}

void grove__hio_next(grove__hio *io)
{
    io->keep = 0;
    if (!io->buf)
        return;
    if (io->pos == io->end) {
        io->pos = io->end = 0;
        return;
    }
    memmove(io->buf, io->buf + io->pos, io->end - io->pos);
    io->end -= io->pos;
    io->pos = 0;
}

/* Drops done bytes from the front of iov[0..n): returns how many pieces are left and moves
 * *iov to the first, which may be partly sent. */
static int iov_advance(struct iovec **iov, int n, size_t done)
{
    struct iovec *v = *iov;
    while (n > 0 && done >= v->iov_len) {
        done -= v->iov_len;
        v++;
        n--;
    }
    if (n > 0 && done) {
        v->iov_base = (char *)v->iov_base + done;
        v->iov_len -= done;
    }
    *iov = v;
    return n;
}

int grove__hio_writev(grove__hio *io, struct iovec *iov, int n)
{
    while (n > 0 && iov->iov_len == 0) {
        iov++;
        n--;
    }
    if (io->tls && n > 1) {
        /* One TLS record for a head and a small body, not one per piece. */
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        if (total <= 16384) {
            if (!io->wbuf && !(io->wbuf = malloc(16384)))
                return -ENOMEM;
            size_t off = 0;
            for (int i = 0; i < n; i++) {
                memcpy(io->wbuf + off, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
            }
            grove_timeout to;
            grove_timeout_start(&to, io->send_timeout);
            ssize_t r = grove_tls_write(io->tls, io->wbuf, total);
            grove_timeout_end(&to);
            return r < 0 ? (int)r : 0;
        }
    }
    if (!io->tls) {
        /* Most writes go out at once: try without arming the send timeout's timer. */
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)(n > 64 ? 64 : n)};
        ssize_t r = n == 1
                        ? syscall(SYS_sendto, io->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL | MSG_DONTWAIT, NULL, 0)
                        : syscall(SYS_sendmsg, io->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno == ENOTSOCK)
            r = 0; /* not a socket: the loop below writes it */
        else if (r < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        size_t done = r > 0 ? (size_t)r : 0;
        if (r >= 0)
            grove_io_budget(); /* fair I/O: a pipelining client never starves the others */
        n = iov_advance(&iov, n, done);
    }
    while (n > 0) {
        grove_timeout to;
        grove_timeout_start(&to, io->send_timeout);
        ssize_t r;
        if (io->tls)
            r = grove_tls_write(io->tls, iov->iov_base, iov->iov_len);
        else
            r = grove_writev(io->fd, iov, n > 64 ? 64 : n);
        grove_timeout_end(&to);
        if (r < 0)
            return (int)r;
        n = iov_advance(&iov, n, (size_t)r);
    }
    return 0;
}

ssize_t grove__read_whole(char **buf, size_t *len, int *done, size_t expect, size_t max,
                          ssize_t (*rd)(void *ctx, void *buf, size_t n), void *ctx)
{
    size_t cap = *len + 1; /* all that is known to be there */
    while (!*done) {
        if (!*buf || *len + 4096 + 1 > cap) {
            size_t want = (*len > 4096 ? 2 * *len : *len + 4096) + 1;
            if (expect >= want)
                want = expect + 1;
            char *b = realloc(*buf, want);
            if (!b)
                return -ENOMEM;
            *buf = b;
            cap = want;
        }
        ssize_t n = rd(ctx, *buf + *len, cap - 1 - *len);
        if (n < 0)
            return n;
        if (n == 0)
            *done = 1;
        *len += (size_t)n;
        if (*len > max)
            return -EMSGSIZE;
    }
    if (!*buf && !(*buf = malloc(1))) {
        *done = 0;
        return -ENOMEM;
    }
    (*buf)[*len] = 0;
    return (ssize_t)*len;
}

const char *grove__http_date(void)
{
    static _Thread_local char date[80];
    static _Thread_local time_t last = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != last) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                 mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = ts.tv_sec;
    }
    return date;
}
