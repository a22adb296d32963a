/* Buffered streams over a transport (a plain fd, or TLS through grove_stream_ops).
 * The read buffer is linear (start..end), compacted when it runs out of room at its end;
 * readline/read_until/read_exact leave data buffered when they fail, so nothing is lost. */
#include "core/thread.h"

#include "grove/io.h"

#include <stdarg.h>
#include <unistd.h>

/* How long a killed or timed-out caller's grove_stream_close may spend flushing. */
#define GROVE__CLOSE_FLUSH_NS GROVE_SEC(1)

#define DEFAULT_BUF ((size_t)16 * 1024)

struct grove_stream {
    const grove_stream_ops *ops;
    void *ctx;
    int fd;
    char *rbuf;
    size_t rcap, rstart, rend;
    char *wbuf;
    size_t wcap, wlen;
};

static ssize_t fd_read(void *ctx, void *buf, size_t n) { return grove_read((int)(intptr_t)ctx, buf, n); }
static ssize_t fd_write(void *ctx, const void *buf, size_t n) { return grove_sendall((int)(intptr_t)ctx, buf, n); }
static int fd_close(void *ctx) { return grove_close((int)(intptr_t)ctx); }
static const grove_stream_ops g_fd_ops = {fd_read, fd_write, fd_close};
static const grove_stream_ops g_fd_ops_borrowed = {fd_read, fd_write, NULL};

grove_stream *grove_stream_new_ops(const grove_stream_ops *ops, void *ctx, size_t bufsize)
{
    if (!ops || !ops->read || !ops->write) {
        errno = EINVAL;
        return NULL;
    }
    if (!bufsize)
        bufsize = DEFAULT_BUF;
    grove_stream *s = grove__calloc(1, sizeof *s);
    if (!s || !(s->rbuf = grove__malloc(bufsize)) || !(s->wbuf = grove__malloc(bufsize))) {
        if (s)
            free(s->rbuf);
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->ops = ops;
    s->ctx = ctx;
    s->fd = -1;
    s->rcap = s->wcap = bufsize;
    return s;
}

grove_stream *grove_stream_new(int fd, size_t bufsize)
{
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    grove_stream *s = grove_stream_new_ops(&g_fd_ops, (void *)(intptr_t)fd, bufsize);
    if (s)
        s->fd = fd;
    return s;
}

grove_stream *grove_stream_wrap(int fd, size_t bufsize)
{
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    grove_stream *s = grove_stream_new_ops(&g_fd_ops_borrowed, (void *)(intptr_t)fd, bufsize);
    if (s)
        s->fd = fd;
    return s;
}

int grove_stream_fd(const grove_stream *s) { return s ? s->fd : -1; }
size_t grove_stream_buffered(const grove_stream *s) { return s ? s->rend - s->rstart : 0; }

/* Reads more from the transport into the buffer (growing it to hold want bytes).
 * Returns bytes added, 0 at EOF, or -errno. */
static ssize_t fill(grove_stream *s, size_t want)
{
    size_t have = s->rend - s->rstart;
    if (want > s->rcap) {
        char *nb = grove__malloc(want);
        if (!nb)
            return -ENOMEM;
        memcpy(nb, s->rbuf + s->rstart, have);
        free(s->rbuf);
        s->rbuf = nb;
        s->rcap = want;
        s->rstart = 0;
        s->rend = have;
    } else if (s->rend == s->rcap || (s->rstart && s->rcap - s->rend < want - have)) {
        memmove(s->rbuf, s->rbuf + s->rstart, have);
        s->rstart = 0;
        s->rend = have;
    }
    ssize_t r = s->ops->read(s->ctx, s->rbuf + s->rend, s->rcap - s->rend);
    if (r > 0)
        s->rend += (size_t)r;
    return r;
}

ssize_t grove_stream_read(grove_stream *s, void *buf, size_t n)
{
    if (!s || (!buf && n))
        return -EINVAL;
    if (!n)
        return 0;
    size_t have = s->rend - s->rstart;
    if (!have) {
        if (n >= s->rcap) /* large reads go straight to the caller's buffer */
            return s->ops->read(s->ctx, buf, n);
        ssize_t r = fill(s, 1);
        if (r <= 0)
            return r;
        have = (size_t)r;
    }
    size_t k = have < n ? have : n;
    memcpy(buf, s->rbuf + s->rstart, k);
    s->rstart += k;
    return (ssize_t)k;
}

ssize_t grove_stream_read_exact(grove_stream *s, void *buf, size_t n)
{
    if (!s || (!buf && n))
        return -EINVAL;
    while (s->rend - s->rstart < n) {
        ssize_t r = fill(s, n);
        if (r < 0)
            return r;
        if (r == 0)
            return -EPIPE;
    }
    memcpy(buf, s->rbuf + s->rstart, n);
    s->rstart += n;
    return (ssize_t)n;
}

static const char *find(const char *hay, size_t n, const char *needle, size_t k)
{
    if (k == 1)
        return memchr(hay, needle[0], n);
    return memmem(hay, n, needle, k);
}

/* Finds delim within the first limit buffered bytes, reading more as needed.
 * Returns the length up to and including delim, 0 at EOF with nothing buffered,
 * -EPIPE at EOF with data but no delimiter, -EMSGSIZE past limit, or -errno. */
static ssize_t scan(grove_stream *s, const char *delim, size_t dlen, size_t limit, int eof_ok)
{
    size_t searched = 0;
    for (;;) {
        size_t have = s->rend - s->rstart;
        size_t look = have < limit ? have : limit;
        size_t from = searched >= dlen ? searched - dlen + 1 : 0;
        const char *p = look > from ? find(s->rbuf + s->rstart + from, look - from, delim, dlen) : NULL;
        if (p)
            return (ssize_t)(p - (s->rbuf + s->rstart) + (ptrdiff_t)dlen);
        searched = look;
        if (have >= limit)
            return -EMSGSIZE;
        ssize_t r = fill(s, limit < s->rcap ? s->rcap : limit);
        if (r < 0)
            return r;
        if (r == 0) {
            if (!have)
                return 0;
            return eof_ok ? (ssize_t)(have < limit ? have : limit) : -EPIPE;
        }
    }
}

ssize_t grove_stream_readline(grove_stream *s, char *buf, size_t size)
{
    if (!s || !buf || size < 2)
        return -EINVAL;
    ssize_t n = scan(s, "\n", 1, size - 1, 1);
    if (n <= 0)
        return n;
    memcpy(buf, s->rbuf + s->rstart, (size_t)n);
    buf[n] = 0;
    s->rstart += (size_t)n;
    return n;
}

ssize_t grove_stream_read_until(grove_stream *s, const void *delim, size_t dlen, void *buf, size_t size)
{
    if (!s || !delim || !dlen || !buf || size < dlen)
        return -EINVAL;
    ssize_t n = scan(s, delim, dlen, size, 0);
    if (n == 0)
        return -EPIPE;
    if (n < 0)
        return n;
    memcpy(buf, s->rbuf + s->rstart, (size_t)n);
    s->rstart += (size_t)n;
    return n;
}

int grove_stream_flush(grove_stream *s)
{
    if (!s)
        return -EINVAL;
    size_t off = 0;
    while (off < s->wlen) {
        ssize_t r = s->ops->write(s->ctx, s->wbuf + off, s->wlen - off);
        if (r < 0) {
            memmove(s->wbuf, s->wbuf + off, s->wlen - off); /* keep what is unsent */
            s->wlen -= off;
            return (int)r;
        }
        off += (size_t)r;
    }
    s->wlen = 0;
    return 0;
}

ssize_t grove_stream_write(grove_stream *s, const void *buf, size_t n)
{
    if (!s || (!buf && n))
        return -EINVAL;
    if (s->wlen + n > s->wcap) {
        int rc = grove_stream_flush(s);
        if (rc < 0)
            return rc;
        if (n >= s->wcap) { /* large writes go straight out */
            size_t off = 0;
            while (off < n) {
                ssize_t r = s->ops->write(s->ctx, (const char *)buf + off, n - off);
                if (r < 0)
                    return r;
                off += (size_t)r;
            }
            return (ssize_t)n;
        }
    }
    memcpy(s->wbuf + s->wlen, buf, n);
    s->wlen += n;
    return (ssize_t)n;
}

ssize_t grove_stream_vprintf(grove_stream *s, const char *fmt, va_list ap)
{
    if (!s || !fmt)
        return -EINVAL;
    va_list again;
    va_copy(again, ap);
    /* Straight into the write buffer when it fits: no copy, no allocation. */
    size_t room = s->wcap - s->wlen;
    int n = vsnprintf(s->wbuf + s->wlen, room, fmt, ap);
    if (n < 0) {
        va_end(again);
        return -EINVAL;
    }
    if ((size_t)n < room) {
        s->wlen += (size_t)n;
        va_end(again);
        return n;
    }
    /* Too long for what is left: format aside (on the stack when small), then write. */
    char small[512];
    char *buf = (size_t)n < sizeof small ? small : grove__malloc((size_t)n + 1);
    if (!buf) {
        va_end(again);
        return -ENOMEM;
    }
    vsnprintf(buf, (size_t)n + 1, fmt, again);
    va_end(again);
    ssize_t r = grove_stream_write(s, buf, (size_t)n);
    if (buf != small)
        free(buf);
    return r;
}

ssize_t grove_stream_printf(grove_stream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ssize_t r = grove_stream_vprintf(s, fmt, ap);
    va_end(ap);
    return r;
}

int grove_stream_close(grove_stream *s)
{
    if (!s)
        return -EINVAL;
    /* A cleanup path: a caller that was already killed or timed out still flushes what
     * it wrote, shielded, but for a bounded time so a peer that never reads cannot hold
     * it (and a server stop waiting for it) forever. */
    grove__thread *self = grove__self();
    if (self && grove__check(self) && !self->shield) {
        unsigned sh = grove__shield_enter(self);
        grove_timeout to;
        grove_timeout_start(&to, GROVE__CLOSE_FLUSH_NS);
        grove_stream_flush(s);
        grove_timeout_end(&to);
        grove__shield_leave(self, sh);
    } else {
        grove_stream_flush(s);
    }
    int rc = s->ops->close ? s->ops->close(s->ctx) : 0;
    free(s->rbuf);
    free(s->wbuf);
    free(s);
    return rc;
}
