/* Green ZeroMQ (include/grove/zmq.h): libzmq sockets whose sends and receives wait on the
 * hub. Built only on Grove's public API (a library of its own, see docs/ARCHITECTURE.md).
 *
 * How waiting works. libzmq's ZMQ_FD becomes readable when the socket's state may have
 * changed, and reading ZMQ_EVENTS (which processes libzmq's pending commands) is what
 * clears it; it says nothing about which direction is ready. So:
 *   - every operation is tried with ZMQ_DONTWAIT first;
 *   - after every operation, and whenever anybody reads ZMQ_EVENTS, the reader hands the
 *     news on (events()): the first waiter of each direction that is now ready is woken,
 *     and green pollers watching the socket are poked. Reading ZMQ_EVENTS clears ZMQ_FD,
 *     so whoever reads it must pass on what it saw, or a waiter of the other direction
 *     would sleep through its readiness (pyzmq #199/#207);
 *   - waiters sleep on a FIFO semaphore per direction; one watcher green thread per
 *     socket (while anybody waits) sleeps on ZMQ_FD through a grove_fdwatch, which never
 *     touches libzmq's fd, and reads ZMQ_EVENTS when it fires. ZMQ_FD readable with no
 *     event (pyzmq #1154) costs one ZMQ_EVENTS read, which clears it: no busy loop.
 */
#include "base/compiler.h"

#include "grove.h"
#include "grove/zmq.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

enum { IN = 0, OUT = 1 };

typedef struct poke {
    struct poke *next;
    int efd; /* a poller's eventfd */
} poke;

struct grove_zmq {
    void *z;
    int fd; /* ZMQ_FD */
    int closed;
    size_t users;          /* green threads inside a call on this socket */
    size_t waiting[2];     /* green threads waiting to receive / to send */
    grove_sem ready[2];    /* FIFO: one permit hands a direction's readiness to its first waiter */
    grove_thread *watcher; /* sleeps on ZMQ_FD while anybody waits, on idle otherwise */
    grove_sem idle;        /* a permit wakes an idle watcher */
    int watcher_idle;
    grove_mutex send_mu, recv_mu; /* whole multipart messages */
    poke *pokes;                  /* green pollers to tell about a change */
};

/* ---- Readiness ------------------------------------------------------------------------- */

static void poke_pollers(grove_zmq *s)
{
    uint64_t one = 1;
    for (poke *p = s->pokes; p; p = p->next)
        (void)!write(p->efd, &one, sizeof one);
}

static void hand_on(grove_zmq *s, int dir)
{
    if (s->waiting[dir] && grove_sem_count(&s->ready[dir]) == 0)
        grove_sem_release(&s->ready[dir]);
}

/* Reads ZMQ_EVENTS (clearing ZMQ_FD) and passes on what it says. Returns the events, or
 * 0 if the socket cannot say (closed, context terminated). */
static int events(grove_zmq *s)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(s->z, ZMQ_EVENTS, &ev, &len) != 0)
        return 0;
    if (ev & ZMQ_POLLIN)
        hand_on(s, IN);
    if (ev & ZMQ_POLLOUT)
        hand_on(s, OUT);
    if (ev && s->pokes)
        poke_pollers(s);
    return ev;
}

/* The watcher lives as long as the socket: while anybody waits it sleeps on ZMQ_FD, and
 * when that fires it wakes the first waiter of each direction, which tries its operation
 * again (the try makes libzmq process its commands, which is also what clears ZMQ_FD: a
 * readable ZMQ_FD with no event costs one failed try, never a busy loop). Then it sleeps on
 * its idle semaphore until a waiter whose try failed again calls it back. Reading
 * ZMQ_EVENTS here instead would cost a libzmq call per wait for nothing. */
static void *watch(void *arg)
{
    grove_zmq *s = arg;
    /* A standing watch on ZMQ_FD: a wait costs no system call of Grove's (grove_poll_fd,
     * the fallback, costs two). Closed below, before grove_zmq_close calls zmq_close. */
    grove_fdwatch *fw;
    if (grove_fdwatch_open(s->fd, &fw) < 0)
        fw = NULL;
    while (!s->closed) {
        if (s->waiting[IN] || s->waiting[OUT]) {
            if ((fw ? grove_fdwatch_wait(fw, GROVE_READ) : grove_poll_fd(s->fd, GROVE_READ)) < 0)
                break; /* killed by close */
            hand_on(s, IN);
            hand_on(s, OUT);
            if (s->pokes)
                poke_pollers(s);
        }
        s->watcher_idle = 1;
        int rc = grove_sem_acquire(&s->idle);
        s->watcher_idle = 0;
        if (rc < 0)
            break;
    }
    grove_fdwatch_close(fw);
    s->watcher = NULL;
    return NULL;
}

/* Waits for dir to become ready (a permit from events()). 0 or -errno. */
static int wait_dir(grove_zmq *s, int dir)
{
    s->waiting[dir]++;
    if (!s->watcher) {
        grove_spawn_attr at = {.name = "zmq watcher", .service = 1};
        s->watcher = grove_spawn_opts(&at, watch, s);
        if (!s->watcher) {
            s->waiting[dir]--;
            return -errno;
        }
        grove_detach(s->watcher);
    } else if (s->watcher_idle && grove_sem_count(&s->idle) == 0) {
        grove_sem_release(&s->idle);
    }
    int rc = grove_sem_acquire(&s->ready[dir]);
    s->waiting[dir]--;
    if (s->closed)
        return -EBADF;
    return rc;
}

/* ---- Sockets ---------------------------------------------------------------------------- */

grove_zmq *grove_zmq_socket(void *ctx, int type)
{
    if (!ctx) {
        errno = EINVAL;
        return NULL;
    }
    grove_zmq *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->z = zmq_socket(ctx, type);
    if (!s->z) {
        int e = errno;
        free(s);
        errno = e;
        return NULL;
    }
    int zero = 0;
    (void)zmq_setsockopt(s->z, ZMQ_LINGER, &zero, sizeof zero);
    size_t len = sizeof s->fd;
    if (zmq_getsockopt(s->z, ZMQ_FD, &s->fd, &len) != 0) {
        int e = errno;
        zmq_close(s->z);
        free(s);
        errno = e;
        return NULL;
    }
    grove_sem_init(&s->ready[IN], 0);
    grove_sem_init(&s->ready[OUT], 0);
    grove_sem_init(&s->idle, 0);
    grove_mutex_init(&s->send_mu);
    grove_mutex_init(&s->recv_mu);
    return s;
}

void *grove_zmq_handle(grove_zmq *s) { return s ? s->z : NULL; }

int grove_zmq_close(grove_zmq *s)
{
    if (!s || s->closed)
        return -EINVAL;
    s->closed = 1;
    grove_shield_begin(); /* cleanup: runs to the end even in a killed thread */
    for (int d = 0; d < 2; d++)
        while (grove_sem_waiting(&s->ready[d]))
            grove_sem_release(&s->ready[d]);
    if (s->watcher) {
        grove_thread *w = s->watcher;
        grove_kill_nowait(w);
    }
    while (s->users || s->watcher)
        grove_yield();
    grove_shield_end();
    int rc = zmq_close(s->z) == 0 ? 0 : -errno;
    grove_sem_destroy(&s->ready[IN]);
    grove_sem_destroy(&s->ready[OUT]);
    grove_sem_destroy(&s->idle);
    grove_mutex_destroy(&s->send_mu);
    grove_mutex_destroy(&s->recv_mu);
    free(s);
    return rc;
}

int grove_zmq_bind(grove_zmq *s, const char *endpoint)
{
    if (!s || !endpoint)
        return -EINVAL;
    return zmq_bind(s->z, endpoint) == 0 ? 0 : -errno;
}

int grove_zmq_connect(grove_zmq *s, const char *endpoint)
{
    if (!s || !endpoint)
        return -EINVAL;
    return zmq_connect(s->z, endpoint) == 0 ? 0 : -errno;
}

int grove_zmq_setsockopt(grove_zmq *s, int option, const void *value, size_t len)
{
    if (!s)
        return -EINVAL;
    return zmq_setsockopt(s->z, option, value, len) == 0 ? 0 : -errno;
}

int grove_zmq_getsockopt(grove_zmq *s, int option, void *value, size_t *len)
{
    if (!s)
        return -EINVAL;
    return zmq_getsockopt(s->z, option, value, len) == 0 ? 0 : -errno;
}

/* ---- Send and receive ----------------------------------------------------------------- */

/* The loop every operation shares: try without waiting; on EAGAIN read ZMQ_EVENTS (the
 * socket may be ready after all) and wait for the direction. op returns >= 0 or -errno. */
#define GREEN_OP(s, dir, nowait, op)                                                                                   \
    do {                                                                                                               \
        if (!(s) || (s)->closed)                                                                                       \
            return -EBADF;                                                                                             \
        (s)->users++;                                                                                                  \
        int r_;                                                                                                        \
        for (;;) {                                                                                                     \
            r_ = (op);                                                                                                 \
            if (r_ >= 0 || r_ != -EAGAIN || (nowait))                                                                  \
                break;                                                                                                 \
            /* The failed try processed libzmq's commands, which may have cleared ZMQ_FD  \
             * for the other direction's waiters or a poller: tell them what it says. */                            \
            if ((s)->waiting[1 - (dir)] || (s)->pokes) {                                                               \
                int ev_ = events(s);                                                                                   \
                if (ev_ & ((dir) == IN ? ZMQ_POLLIN : ZMQ_POLLOUT))                                                    \
                    continue;                                                                                          \
            }                                                                                                          \
            int w_ = wait_dir((s), (dir));                                                                             \
            if (w_ < 0) {                                                                                              \
                r_ = w_;                                                                                               \
                break;                                                                                                 \
            }                                                                                                          \
        }                                                                                                              \
        /* Pass on what this operation changed - to whoever waits: with nobody waiting \
         * there is nobody to tell, and a newcomer reads ZMQ_EVENTS itself. */                               \
        if (!(s)->closed && ((s)->waiting[IN] || (s)->waiting[OUT] || (s)->pokes))                                     \
            events(s);                                                                                                 \
        (s)->users--;                                                                                                  \
        return r_;                                                                                                     \
    } while (0)

static int z_send(void *z, const void *buf, size_t n, int flags)
{
    int r = zmq_send(z, buf, n, flags | ZMQ_DONTWAIT);
    return r >= 0 ? r : -errno;
}

static int z_recv(void *z, void *buf, size_t size, int *more)
{
    int r = zmq_recv(z, buf, size, ZMQ_DONTWAIT);
    if (r < 0)
        return -errno;
    if (more) {
        int m = 0;
        size_t len = sizeof m;
        zmq_getsockopt(z, ZMQ_RCVMORE, &m, &len);
        *more = m;
    }
    return r;
}

int grove_zmq_send(grove_zmq *s, const void *buf, size_t n, int flags)
{
    if (!buf && n)
        return -EINVAL;
    GREEN_OP(s, OUT, flags & ZMQ_DONTWAIT, z_send(s->z, buf, n, flags & ~ZMQ_DONTWAIT));
}

int grove_zmq_recv(grove_zmq *s, void *buf, size_t size, int *more)
{
    if (!buf && size)
        return -EINVAL;
    GREEN_OP(s, IN, 0, z_recv(s->z, buf, size, more));
}

static int send_part(grove_zmq *s, const struct iovec *v, int more)
{
    return grove_zmq_send(s, v->iov_base, v->iov_len, more ? ZMQ_SNDMORE : 0);
}

int grove_zmq_send_parts(grove_zmq *s, const struct iovec *iov, size_t n)
{
    if (!s || !iov || n == 0)
        return -EINVAL;
    int rc = grove_mutex_lock(&s->send_mu);
    if (rc < 0)
        return rc;
    long total = 0;
    rc = send_part(s, &iov[0], n > 1);
    if (rc >= 0) {
        total = rc;
        /* The first part is queued: the rest must follow, whatever happens to the caller,
         * or the socket would be left in the middle of a message. */
        grove_shield_begin();
        for (size_t i = 1; i < n && rc >= 0; i++) {
            rc = send_part(s, &iov[i], i + 1 < n);
            total += rc > 0 ? rc : 0;
        }
        grove_shield_end();
    }
    grove_mutex_unlock(&s->send_mu);
    return rc < 0 ? rc : (int)total;
}

void grove_zmq_msg_free(grove_zmq_msg *m)
{
    if (!m)
        return;
    free(m->mem_);
    m->mem_ = NULL;
    m->parts = NULL;
    m->n = 0;
}

static int z_msg_recv(void *z, zmq_msg_t *msg)
{
    int r = zmq_msg_recv(msg, z, ZMQ_DONTWAIT);
    return r >= 0 ? r : -errno;
}

static int recv_frame(grove_zmq *s, zmq_msg_t *msg) { GREEN_OP(s, IN, 0, z_msg_recv(s->z, msg)); }

int grove_zmq_recv_parts(grove_zmq *s, grove_zmq_msg *m, size_t max_parts, size_t max_bytes)
{
    if (!s || !m || max_parts == 0)
        return -EINVAL;
    memset(m, 0, sizeof *m);
    int rc = grove_mutex_lock(&s->recv_mu);
    if (rc < 0)
        return rc;
    zmq_msg_t stack_parts[16];
    zmq_msg_t *parts = max_parts <= 16 ? stack_parts : malloc(max_parts * sizeof *parts);
    size_t n = 0, bytes = 0;
    int too_big = 0, more = 1;
    if (!parts) {
        grove_mutex_unlock(&s->recv_mu);
        return -ENOMEM;
    }
    while (more) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        /* Only the first frame may wait: the others are there already (libzmq delivers a
         * message whole), and once it has begun it is taken whole, shielded. */
        if (n == 0 && !too_big) {
            rc = recv_frame(s, &msg);
            if (rc >= 0)
                grove_shield_begin();
        } else {
            rc = recv_frame(s, &msg);
        }
        if (rc < 0) {
            zmq_msg_close(&msg);
            break;
        }
        more = zmq_msg_more(&msg);
        bytes += zmq_msg_size(&msg);
        if (n < max_parts && bytes <= max_bytes && !too_big) {
            parts[n++] = msg;
        } else {
            too_big = 1;
            zmq_msg_close(&msg);
        }
    }
    int began = n > 0 || too_big;
    if (began)
        grove_shield_end();
    if (rc >= 0 && too_big)
        rc = -EMSGSIZE;
    if (rc >= 0) {
        size_t data = 0;
        for (size_t i = 0; i < n; i++)
            data += zmq_msg_size(&parts[i]);
        char *mem = malloc(n * sizeof(struct iovec) + data + 1);
        if (!mem) {
            rc = -ENOMEM;
        } else {
            struct iovec *v = (struct iovec *)(void *)mem;
            char *p = mem + n * sizeof(struct iovec);
            for (size_t i = 0; i < n; i++) {
                size_t l = zmq_msg_size(&parts[i]);
                memcpy(p, zmq_msg_data(&parts[i]), l);
                v[i].iov_base = p;
                v[i].iov_len = l;
                p += l;
            }
            m->n = n;
            m->parts = v;
            m->mem_ = mem;
            rc = (int)n;
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    if (parts != stack_parts)
        free(parts);
    grove_mutex_unlock(&s->recv_mu);
    return rc;
}

/* ---- The green poller -------------------------------------------------------------------- */

static int look(grove_zmq_pollitem *items, size_t n)
{
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        grove_zmq_pollitem *it = &items[i];
        it->revents = 0;
        if (it->socket) {
            if (it->socket->closed)
                return -EBADF;
            int ev = events(it->socket);
            it->revents = (short)(ev & it->events & (ZMQ_POLLIN | ZMQ_POLLOUT));
        } else {
            struct pollfd p = {
                .fd = it->fd,
                .events = (short)((it->events & ZMQ_POLLIN ? POLLIN : 0) | (it->events & ZMQ_POLLOUT ? POLLOUT : 0))};
            if (poll(&p, 1, 0) > 0) {
                if (p.revents & POLLNVAL)
                    return -EBADF;
                if (p.revents & (POLLIN | POLLHUP | POLLERR))
                    it->revents |= (short)(it->events & ZMQ_POLLIN);
                if (p.revents & (POLLOUT | POLLERR))
                    it->revents |= (short)(it->events & ZMQ_POLLOUT);
            }
        }
        count += it->revents != 0;
    }
    return count;
}

int grove_zmq_poll(grove_zmq_pollitem *items, size_t n, int64_t timeout_ns)
{
    if (!items && n)
        return -EINVAL;
    int count = look(items, n);
    if (count != 0 || timeout_ns == 0)
        return count;
    /* Wait on every ZMQ_FD and plain fd at once through a private epoll fd, plus an
     * eventfd that operations on the sockets poke (they clear ZMQ_FD as they go). */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    poke *pk = calloc(n ? n : 1, sizeof *pk);
    int rc = 0;
    if (ep < 0 || efd < 0 || !pk) {
        rc = ep < 0 || efd < 0 ? -errno : -ENOMEM;
        goto out;
    }
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = UINT64_MAX;
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    for (size_t i = 0; i < n; i++) {
        grove_zmq_pollitem *it = &items[i];
        int fd = it->socket ? it->socket->fd : it->fd;
        ev.events = it->socket ? EPOLLIN
                               : (uint32_t)((it->events & ZMQ_POLLIN ? EPOLLIN | EPOLLRDHUP : 0) |
                                            (it->events & ZMQ_POLLOUT ? EPOLLOUT : 0));
        ev.data.u64 = i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev); /* the same socket twice: one watch */
        if (it->socket) {
            pk[i].efd = efd;
            pk[i].next = it->socket->pokes;
            it->socket->pokes = &pk[i];
        }
    }
    grove_timeout to;
    if (timeout_ns > 0)
        grove_timeout_start(&to, timeout_ns);
    for (;;) {
        int w = grove_poll_fd(ep, GROVE_READ);
        if (w < 0) {
            rc = (w == -ETIMEDOUT && timeout_ns > 0 && grove_timeout_fired(&to)) ? 0 : w;
            break;
        }
        uint64_t v;
        (void)!read(efd, &v, sizeof v);
        struct epoll_event drain[16];
        while (epoll_wait(ep, drain, 16, 0) == 16) {
        }
        rc = look(items, n);
        if (rc != 0)
            break;
    }
    if (timeout_ns > 0)
        grove_timeout_end(&to);
    for (size_t i = 0; i < n; i++) {
        grove_zmq *s = items[i].socket;
        if (!s)
            continue;
        for (poke **pp = &s->pokes; *pp; pp = &(*pp)->next)
            if (*pp == &pk[i]) {
                *pp = pk[i].next;
                break;
            }
    }
out:
    free(pk);
    if (efd >= 0)
        close(efd);
    if (ep >= 0)
        close(ep);
    return rc;
}

/* ---- The zmq_loop pattern over ROUTER -------------------------------------------------- */

struct grove_zmq_reply {
    struct iovec *v;
    size_t n, cap;
};

int grove_zmq_reply_add(grove_zmq_reply *r, const void *buf, size_t n)
{
    if (!r || (!buf && n))
        return -EINVAL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        struct iovec *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    void *copy = malloc(n ? n : 1);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, buf, n);
    r->v[r->n].iov_base = copy;
    r->v[r->n].iov_len = n;
    r->n++;
    return 0;
}

typedef struct request {
    grove_zmq *router;
    grove_zmq_msg msg;
    size_t envelope; /* parts of msg that are the routing envelope */
    int (*handle)(const grove_zmq_msg *, grove_zmq_reply *, void *);
    void *arg;
} request;

static void run_request(void *arg)
{
    request *rq = arg;
    grove_zmq_msg body = {rq->msg.n - rq->envelope, rq->msg.parts + rq->envelope, NULL};
    grove_zmq_reply reply = {0};
    int rc = rq->handle(&body, &reply, rq->arg);
    if (rc >= 0) {
        size_t n = rq->envelope + reply.n;
        struct iovec *v = malloc((n ? n : 1) * sizeof *v);
        if (v) {
            memcpy(v, rq->msg.parts, rq->envelope * sizeof *v);
            if (reply.n)
                memcpy(v + rq->envelope, reply.v, reply.n * sizeof *v);
            if (n)
                grove_zmq_send_parts(rq->router, v, n);
            free(v);
        }
    }
    for (size_t i = 0; i < reply.n; i++)
        free(reply.v[i].iov_base);
    free(reply.v);
    grove_zmq_msg_free(&rq->msg);
    free(rq);
}

int grove_zmq_serve_router(grove_zmq *router, int (*handle)(const grove_zmq_msg *, grove_zmq_reply *, void *),
                           void *arg, size_t concurrency)
{
    if (!router || !handle)
        return -EINVAL;
    grove_pool *pool = grove_pool_new(concurrency ? concurrency : (size_t)1 << 30);
    if (!pool)
        return -errno;
    int rc;
    for (;;) {
        request *rq = calloc(1, sizeof *rq);
        if (!rq) {
            rc = -ENOMEM;
            break;
        }
        rc = grove_zmq_recv_parts(router, &rq->msg, 1024, (size_t)64 << 20);
        if (rc < 0) {
            free(rq);
            if (rc == -EMSGSIZE)
                continue; /* dropped whole; serve the next */
            break;
        }
        /* The envelope: identities up to and including the empty delimiter (REQ, DEALER
         * peers that add one), or just the identity frame. */
        size_t env = 1;
        for (size_t i = 1; i < rq->msg.n; i++)
            if (rq->msg.parts[i].iov_len == 0) {
                env = i + 1;
                break;
            }
        if (env > rq->msg.n)
            env = rq->msg.n;
        rq->envelope = env;
        rq->router = router;
        rq->handle = handle;
        rq->arg = arg;
        rc = grove_pool_spawn_n(pool, run_request, rq); /* waits while the pool is full */
        if (rc < 0) {
            grove_zmq_msg_free(&rq->msg);
            free(rq);
            break;
        }
    }
    grove_shield_begin();
    grove_pool_waitall(pool);
    grove_pool_destroy(pool);
    grove_shield_end();
    return rc;
}

/* ---- Context termination ---------------------------------------------------------------- */

static void *term(void *ctx) { return (void *)(intptr_t)(zmq_ctx_term(ctx) == 0 ? 0 : -errno); }

int grove_zmq_ctx_term(void *ctx)
{
    if (!ctx)
        return -EINVAL;
    void *r = NULL;
    int rc = grove_tpool_call(term, ctx, &r, NULL);
    return rc < 0 ? rc : (int)(intptr_t)r;
}
