/* The hub's fd poller on epoll.
 *
 * Every fd is registered once, edge-triggered for read and write, with its number and a
 * generation in the event's data; waiters are found in a table indexed by fd. So an idle
 * fd costs no syscall, one epoll_wait serves every ready fd, and an event for an fd
 * number that was forgotten and reused (older generation) is ignored.
 * Readiness that arrives while nobody waits is remembered in the slot (edge-triggered
 * epoll would not report it again), so a later grove_wait_fd returns at once.
 */
#include "core/internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct fd_slot {
    grove__waiter *rd, *wr;
    uint32_t gen;
    unsigned char registered;
    unsigned char ready;   /* GROVE_READ/WRITE seen with no waiter */
    /* For the patch layer (src/patch/): */
    unsigned char known;       /* Grove has looked at the fd's flags */
    unsigned char user_nb;     /* non-blocking by the user's choice: keep libc semantics */
    unsigned char nb_owned;    /* Grove set O_NONBLOCK: hide it from F_GETFL */
    unsigned char unpollable;  /* regular file or similar */
    unsigned char stream;      /* a SOCK_STREAM socket: a short read means drained */
    unsigned char sock;        /* a socket: writes use send(MSG_NOSIGNAL) */
    unsigned char drained;     /* its last read was short: the next one should wait first */
    unsigned char hup;         /* an event reported hang-up or error: never skip a read */
    int64_t rcvtimeo, sndtimeo; /* SO_RCVTIMEO / SO_SNDTIMEO in ns, 0 = none */
} fd_slot;

struct grove__poller {
    int epfd;
    fd_slot *slots;
    size_t nslots;
    size_t nwaiters;
    struct epoll_event events[256];
};

static int g_no_pwait2;

static grove__poller *poller_get(grove__hub *h)
{
    if (grove__likely(h->poller != NULL))
        return h->poller;
    grove__poller *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        free(p);
        return NULL;
    }
    h->poller = p;
    return p;
}

int grove__poller_init(grove__hub *h) { return poller_get(h) ? 0 : -errno; }

void grove__poller_close(grove__hub *h)
{
    grove__poller *p = h->poller;
    if (!p)
        return;
    close(p->epfd);
    free(p->slots);
    free(p);
    h->poller = NULL;
}

size_t grove__poller_waiters(grove__hub *h) { return h->poller ? h->poller->nwaiters : 0; }

/* fcntl without the patch layer's interposer (Grove's own O_NONBLOCK is not the user's). */
static int sys_fcntl(int fd, int cmd, long arg) { return (int)syscall(SYS_fcntl, fd, cmd, arg); }

/* The slot for fd, growing the table if needed; NULL with errno EBADF (fd is not open:
 * the table never grows for a bogus number) or ENOMEM. */
static fd_slot *slot_get(grove__poller *p, int fd)
{
    if (grove__likely((size_t)fd < p->nslots))
        return &p->slots[fd];
    if (fd < 0 || sys_fcntl(fd, F_GETFD, 0) < 0) {   /* an open fd is below RLIMIT_NOFILE */
        errno = EBADF;
        return NULL;
    }
    size_t n = p->nslots ? p->nslots : 64;
    while (n <= (size_t)fd)
        n *= 2;
    fd_slot *s = realloc(p->slots, n * sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    memset(s + p->nslots, 0, (n - p->nslots) * sizeof *s);
    p->slots = s;
    p->nslots = n;
    return &s[fd];
}

static int fd_register(grove__poller *p, int fd, fd_slot *s)
{
    int fl = sys_fcntl(fd, F_GETFL, 0);
    if (fl < 0)
        return -errno;
    if (!s->known) {
        s->known = 1;
        s->user_nb = (fl & O_NONBLOCK) != 0;
    }
    if (!(fl & O_NONBLOCK)) {
        if (sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
        s->nb_owned = 1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)s->gen << 32)};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if (errno == EPERM)
            s->unpollable = 1;   /* regular files and directories cannot be polled */
        if (errno != EEXIST)
            return -errno;
    }
    s->registered = 1;
    s->ready = 0;
    int type = 0;
    socklen_t tl = sizeof type;
    s->sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
    s->stream = s->sock && type == SOCK_STREAM;
    s->drained = 0;
    s->hup = 0;
    return 0;
}

/* The calling hub's slot for fd, registered with epoll; NULL with *err set. */
static fd_slot *slot_registered(int fd, grove__poller **pp, int *err)
{
    grove__hub *h = grove__hub_get();
    grove__poller *p = h ? poller_get(h) : NULL;
    fd_slot *s = p ? slot_get(p, fd) : NULL;
    if (!s) {
        *err = p && errno == EBADF ? -EBADF : -ENOMEM;
        return NULL;
    }
    if (grove__unlikely(!s->registered)) {
        int rc = fd_register(p, fd, s);
        if (rc) {
            *err = rc;
            return NULL;
        }
    }
    *pp = p;
    return s;
}

int grove__fd_ensure(int fd)
{
    grove__poller *p;
    int rc = 0;
    if (!slot_registered(fd, &p, &rc))
        return rc == -EPERM ? 1 : rc;
    return 0;
}

int grove_wait_fd(int fd, int events)
{
    if (fd < 0)
        return -EBADF;
    if (events <= 0 || (events & ~(GROVE_READ | GROVE_WRITE)))
        return -EINVAL;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    int rc = grove__check(h->current);
    if (rc)
        return rc;
    grove__poller *p;
    fd_slot *s = slot_registered(fd, &p, &rc);
    if (!s)
        return rc;
    if (s->ready & events) {
        int r = s->ready & events;
        s->ready &= (unsigned char)~r;
        return r;
    }
    if (((events & GROVE_READ) && s->rd) || ((events & GROVE_WRITE) && s->wr))
        return -EBUSY;
    grove__waiter w;
    grove__waiter_init(&w);
    if (events & GROVE_READ)
        s->rd = &w;
    if (events & GROVE_WRITE)
        s->wr = &w;
    p->nwaiters++;
    rc = grove__park(&w, "fd");
    p->nwaiters--;
    s = &p->slots[fd];   /* the table may have moved while we slept */
    if (s->rd == &w)
        s->rd = NULL;
    if (s->wr == &w)
        s->wr = NULL;
    return rc;
}

int grove_fd_forget(int fd)
{
    grove__hub *h = grove__hub_peek();
    if (!h || !h->poller || fd < 0 || (size_t)fd >= h->poller->nslots)
        return 0;
    grove__poller *p = h->poller;
    fd_slot *s = &p->slots[fd];
    if (s->rd)
        grove__wake(s->rd, -EBADF, NULL);
    if (s->wr && s->wr != s->rd)
        grove__wake(s->wr, -EBADF, NULL);
    s->rd = s->wr = NULL;
    if (s->registered)
        (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->registered = 0;
    s->ready = 0;
    s->known = s->user_nb = s->nb_owned = s->unpollable = s->stream = s->drained = s->hup = 0;
    s->rcvtimeo = s->sndtimeo = 0;
    s->gen++;
    return 0;
}

/* Read hints for stream sockets: after a short read the socket was empty, so the next
 * read would almost surely fail with EAGAIN. Waiting first saves that syscall; data that
 * arrived since is not missed, because its edge is either still queued in epoll or
 * already remembered in the slot's ready bits, which make the wait return at once.
 * The exception is a hang-up or error already reported: a short read followed by EOF
 * gives no new edge, so once one was seen every read is tried first. */
int grove__fd_take_drained(int fd)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !h->poller || (size_t)fd >= h->poller->nslots)
        return 0;
    fd_slot *s = &h->poller->slots[fd];
    int d = s->drained && !s->hup;
    s->drained = 0;
    return d;
}

void grove__fd_note_read(int fd, size_t got, size_t asked)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !h->poller || (size_t)fd >= h->poller->nslots)
        return;
    fd_slot *s = &h->poller->slots[fd];
    s->drained = s->stream && got > 0 && got < asked;
}

/* ---- For the patch layer ------------------------------------------------------------- */

static fd_slot *patch_slot(int fd)
{
    grove__hub *h = grove__tls_hub;
    if (!h || fd < 0)
        return NULL;
    grove__poller *p = poller_get(h);
    return p ? slot_get(p, fd) : NULL;
}

int grove__fd_green(int fd, int64_t *rcvtimeo, int64_t *sndtimeo)
{
    grove__hub *h = grove__tls_hub;
    if (!h || h->current == h->loop || fd < 0)
        return 0;
    grove__poller *p = poller_get(h);
    fd_slot *s = p ? slot_get(p, fd) : NULL;
    if (!s)
        return 0;
    if (!s->registered && !s->unpollable && !(s->known && s->user_nb)) {
        if (fd_register(p, fd, s) < 0)
            return 0;   /* bad fd or not pollable: libc says what is wrong */
    }
    if (s->user_nb || s->unpollable || !s->registered)
        return 0;
    if (rcvtimeo)
        *rcvtimeo = s->rcvtimeo;
    if (sndtimeo)
        *sndtimeo = s->sndtimeo;
    return 1;
}

void grove__fd_set_user_nb(int fd, int on)
{
    fd_slot *s = patch_slot(fd);
    if (s) {
        s->known = 1;
        s->user_nb = (unsigned char)(on != 0);
        /* Turned on: it is the user's O_NONBLOCK now. Turned off on a registered fd: the
         * fcntl interposer keeps O_NONBLOCK set for Grove, and hides it. */
        s->nb_owned = (unsigned char)(!on && s->registered);
    }
}

int grove__fd_nb_owned(int fd)
{
    fd_slot *s = patch_slot(fd);
    return s && s->known && s->nb_owned && !s->user_nb;
}

void grove__fd_set_timeo(int fd, int send, int64_t ns)
{
    fd_slot *s = patch_slot(fd);
    if (s) {
        if (send)
            s->sndtimeo = ns;
        else
            s->rcvtimeo = ns;
    }
}

int grove__fd_timeo(int fd, int64_t *rcvtimeo, int64_t *sndtimeo)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !h->poller || fd < 0 || (size_t)fd >= h->poller->nslots)
        return 0;
    fd_slot *s = &h->poller->slots[fd];
    *rcvtimeo = s->rcvtimeo;
    *sndtimeo = s->sndtimeo;
    return s->rcvtimeo != 0 || s->sndtimeo != 0;
}

void grove__fd_copy_state(int from, int to)
{
    fd_slot *a = patch_slot(from);
    if (!a)
        return;
    int known = a->known, user_nb = a->user_nb, owned = a->nb_owned;
    fd_slot *b = patch_slot(to);   /* may move the table: copy the values first */
    if (b) {
        b->known = (unsigned char)known;
        b->user_nb = (unsigned char)user_nb;
        b->nb_owned = (unsigned char)owned;
    }
}

int grove__fd_registered(int fd)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !h->poller || fd < 0 || (size_t)fd >= h->poller->nslots)
        return 0;
    return h->poller->slots[fd].registered;
}

int grove_close(int fd)
{
    grove_fd_forget(fd);
    return close(fd) < 0 ? -errno : 0;
}

int grove__poller_add_wakeup(grove__hub *h, int efd)
{
    grove__poller *p = poller_get(h);
    if (!p)
        return -ENOMEM;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = GROVE__WAKEUP_DATA};
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, efd, &ev) < 0 ? -errno : 0;
}

static void dispatch(grove__hub *h, grove__poller *p, const struct epoll_event *ev)
{
    if (grove__unlikely(ev->data.u64 == GROVE__WAKEUP_DATA)) {
        grove__wakeup_drain(h);
        return;
    }
    uint32_t fd = (uint32_t)ev->data.u64, gen = (uint32_t)(ev->data.u64 >> 32);
    if (fd >= p->nslots)
        return;
    fd_slot *s = &p->slots[fd];
    if (!s->registered || s->gen != gen)
        return;   /* a stale event for an fd number that has been forgotten */
    int mask = 0;
    if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->hup = 1;   /* EOF or an error is pending: a short read no longer means "wait" */
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        mask |= GROVE_READ;
    if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        mask |= GROVE_WRITE;
    grove__waiter *rd = s->rd, *wr = s->wr;
    int left = mask;
    if (rd && (mask & GROVE_READ)) {
        s->rd = NULL;
        if (wr == rd) {
            s->wr = NULL;
            left &= ~(GROVE_READ | GROVE_WRITE);
        } else {
            left &= ~GROVE_READ;
        }
        grove__wake(rd, mask & (rd == wr ? (GROVE_READ | GROVE_WRITE) : GROVE_READ), NULL);
    }
    if (s->wr && (mask & GROVE_WRITE)) {
        grove__waiter *w = s->wr;
        s->wr = NULL;
        if (s->rd == w)
            s->rd = NULL;
        left &= ~GROVE_WRITE;
        grove__wake(w, mask & (GROVE_READ | GROVE_WRITE), NULL);
    }
    s->ready |= (unsigned char)left;
}

int grove__poller_poll(grove__hub *h, int64_t timeout_ns)
{
    grove__poller *p = h->poller;
    if (!p) {
        if (timeout_ns > 0) {
            struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
            nanosleep(&ts, NULL);
        }
        return 0;
    }
    int n;
    if (!g_no_pwait2) {
        struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
        n = (int)syscall(SYS_epoll_pwait2, p->epfd, p->events, 256, timeout_ns < 0 ? NULL : &ts, NULL, (size_t)8);
        if (n < 0 && errno == ENOSYS) {
            g_no_pwait2 = 1;
            return grove__poller_poll(h, timeout_ns);
        }
    } else {
        int64_t ms64 = timeout_ns < 0 ? -1 : timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        int ms = ms64 > INT_MAX ? INT_MAX : (int)ms64;
        n = epoll_wait(p->epfd, p->events, 256, ms);
    }
    for (int i = 0; i < n; i++)
        dispatch(h, p, &p->events[i]);
    return n < 0 ? 0 : n;
}

int grove__fd_is_sock(int fd)
{
    grove__hub *h = grove__tls_hub;
    grove__poller *p = h ? h->poller : NULL;
    return p && fd >= 0 && (size_t)fd < p->nslots && p->slots[fd].registered && p->slots[fd].sock;
}
