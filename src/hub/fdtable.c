/* The fd table: the backend-neutral half of the hub layer.
 *
 * Each hub keeps a table indexed by fd: the green threads waiting to read or write it, a
 * generation, and readiness that arrived while nobody waited (an edge-triggered backend
 * would not report it again), so a later grove_wait_fd returns at once. An fd is
 * registered with the backend once, on first use, and stays registered until
 * grove_fd_forget; an event whose generation is older than the slot's (the fd number was
 * forgotten and reused) is ignored.
 *
 * Tokens handed to the backend: a table fd is (generation << 32 | fd) with bits 62 and 63
 * clear; a one-shot waiter (grove_poll_fd) is its address with bit 63 set; a standing
 * watch (grove_fdwatch) is its address with bit 62 set; the hub's wake-up fd is all ones.
 *
 * The hub loop reaches this layer only through the hooks that io_attach() fills in
 * (h->io_poll, h->io_close, h->io_fork): core never calls up.
 */
#include "hub/backend.h"
#include "core/hub.h"
#include "hub/fd.h"
#include "hub/wakeup.h"

#define TOKEN_ONCE (UINT64_C(1) << 63)
#define TOKEN_WATCH (UINT64_C(1) << 62)
#define GEN_MASK 0x3fffffffu

typedef struct fd_slot {
    grove__waiter *rd, *wr;
    uint32_t gen;
    unsigned char registered;
    unsigned char ready;   /* GROVE_READ/WRITE seen with no waiter */
    unsigned char sock;    /* a socket: writes use send(MSG_NOSIGNAL) */
    unsigned char stream;  /* a SOCK_STREAM socket: a short read means drained */
    unsigned char drained; /* its last read was short: the next one should wait first */
    unsigned char hup;     /* an event reported hang-up or error: never skip a read */
} fd_slot;

struct grove__fdtab {
    fd_slot *slots;
    size_t nslots;
    grove__list watches; /* open grove_fdwatch of this hub */
};

/* A standing watch (grove_fdwatch_*): a level-triggered registration of a private dup of
 * a foreign fd, kept between waits so a wait that finds it armed costs no system call.
 * Registered events that fire with nobody waiting for them twice in a row are dropped
 * (the registration is narrowed, or removed when nobody waits), so an fd left readable
 * by its owner - or hung up - never keeps the loop busy. */
struct grove_fdwatch {
    grove__list link;    /* in the hub's fdtab->watches */
    grove__hub *h;       /* NULL once the hub is gone */
    int fd;              /* the private dup that is registered */
    int armed;           /* events registered with the backend; 0 = not registered */
    int idle;            /* events in a row that woke nobody */
    grove__list waiters; /* watch_waiter.w.link */
};

typedef struct watch_waiter {
    grove__waiter w;
    int events;
} watch_waiter;

static void watches_detach(struct grove__fdtab *t, int hub_gone);

static int io_poll(grove__hub *h, int64_t timeout_ns) { return grove__backend_poll(h, timeout_ns); }

static void io_close(grove__hub *h)
{
    grove__wakeup_close(h);
    grove__backend_close(h);
    if (h->fdtab) {
        watches_detach(h->fdtab, 1);
        grove__free(h->fdtab->slots);
        grove__free(h->fdtab);
        h->fdtab = NULL;
    }
}

/* In the child of a fork: a new backend object, every slot forgotten (its waiters were
 * other green threads, which the child does not have), and a new wake-up fd on demand. */
static int io_fork(grove__hub *h)
{
    grove__wakeup_after_fork(h);
    int rc = grove__backend_reopen(h);
    struct grove__fdtab *t = h->fdtab;
    if (t) {
        watches_detach(t, 0);
        for (size_t i = 0; i < t->nslots; i++) {
            fd_slot *s = &t->slots[i];
            uint32_t gen = s->gen + 1;
            memset(s, 0, sizeof *s);
            s->gen = gen;
        }
    }
    return rc;
}

int grove__hub_io_attach(grove__hub *h)
{
    if (grove__likely(h->fdtab != NULL))
        return 0;
    int rc = grove__backend_open(h);
    if (rc < 0)
        return rc;
    struct grove__fdtab *t = grove__calloc(1, sizeof *t);
    if (!t) {
        grove__backend_close(h);
        return -ENOMEM;
    }
    grove__list_init(&t->watches);
    h->fdtab = t;
    h->io_poll = io_poll;
    h->io_close = io_close;
    h->io_fork = io_fork;
    return 0;
}

/* fd's slot, growing the table as needed. An fd beyond the table is checked first, so a
 * bogus number gives -EBADF instead of a table sized for it. NULL with *err set. */
static fd_slot *slot_get(struct grove__fdtab *t, int fd, int *err)
{
    if (grove__likely((size_t)fd < t->nslots))
        return &t->slots[fd];
    if (fd < 0 || grove__sys_fcntl(fd, F_GETFD, 0) < 0) {
        *err = -EBADF;
        return NULL;
    }
    size_t n = t->nslots ? t->nslots : 64;
    while (n <= (size_t)fd)
        n *= 2;
    fd_slot *s = grove__realloc(t->slots, n * sizeof *s);
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    memset(s + t->nslots, 0, (n - t->nslots) * sizeof *s);
    t->slots = s;
    t->nslots = n;
    return &s[fd];
}

static int fd_register(grove__hub *h, int fd, fd_slot *s)
{
    uint64_t token = (uint64_t)(uint32_t)fd | ((uint64_t)(s->gen & GEN_MASK) << 32);
    int rc = grove__backend_add(h, fd, GROVE_READ | GROVE_WRITE, token);
    if (rc == -EPERM)
        return rc; /* regular files and directories cannot be polled */
    if (rc < 0 && rc != -EEXIST)
        return rc;
    /* Registered first, then made non-blocking: a regular file keeps its flags. */
    int fl = grove__sys_fcntl(fd, F_GETFL, 0);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fl = grove__sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (fl < 0) {
        grove__backend_del(h, fd);
        return fl;
    }
    s->registered = 1;
    s->ready = 0;
    int type = 0;
    socklen_t tl = sizeof type;
    s->sock = GROVE__SC(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &tl, 0) == 0;
    s->stream = s->sock && type == SOCK_STREAM;
    s->drained = 0;
    s->hup = 0;
    return 0;
}

/* The calling hub's slot for fd, registered with the backend; NULL with *err set. */
static fd_slot *slot_registered(grove__hub *h, int fd, int *err)
{
    int rc = grove__hub_io_attach(h);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    fd_slot *s = slot_get(h->fdtab, fd, err);
    if (!s)
        return NULL;
    if (grove__unlikely(!s->registered)) {
        rc = fd_register(h, fd, s);
        if (rc) {
            *err = rc;
            return NULL;
        }
    }
    return s;
}

int grove__fd_ensure(int fd)
{
    if (fd < 0)
        return -EBADF;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    int rc = 0;
    if (!slot_registered(h, fd, &rc))
        return rc == -EPERM ? 1 : rc;
    return 0;
}

/* What both waits check first: the arguments, the hub, kill and timeouts. Returns the
 * hub, or NULL with *rc set. */
static grove__hub *wait_begin(int fd, int events, int *rc)
{
    *rc = fd < 0 ? -EBADF : (events <= 0 || (events & ~(GROVE_READ | GROVE_WRITE))) ? -EINVAL : 0;
    if (*rc)
        return NULL;
    grove__hub *h = grove__hub_get();
    if (!h) {
        *rc = -ENOMEM;
        return NULL;
    }
    *rc = grove__check(h->current);
    return *rc ? NULL : h;
}

int grove_wait_fd(int fd, int events)
{
    int rc;
    grove__hub *h = wait_begin(fd, events, &rc);
    if (!h)
        return rc;
    fd_slot *s = slot_registered(h, fd, &rc);
    if (!s)
        return rc;
    /* A caller waiting for reading itself will read next: the "drained" hint of its last
     * short read is spent (the edge it waits for is the one this wait consumes). */
    if (events & GROVE_READ)
        s->drained = 0;
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
    h->refs++; /* an fd wait is something that can make the hub runnable again */
    rc = grove__park(&w, "fd");
    h->refs--;
    s = &h->fdtab->slots[fd]; /* the table may have moved while we slept */
    if (s->rd == &w)
        s->rd = NULL;
    if (s->wr == &w)
        s->wr = NULL;
    return rc;
}

int grove_poll_fd(int fd, int events)
{
    int rc;
    grove__hub *h = wait_begin(fd, events, &rc);
    if (!h)
        return rc;
    rc = grove__hub_io_attach(h);
    if (rc < 0)
        return rc;
    grove__waiter w;
    grove__waiter_init(&w);
    grove__once o;
    rc = grove__backend_once_arm(h, &o, fd, events, (uint64_t)(uintptr_t)&w | TOKEN_ONCE);
    if (rc == -EPERM)
        return events; /* as poll(2): a regular file is always ready */
    if (rc < 0)
        return rc;
    h->refs++;
    rc = grove__park(&w, "poll fd");
    h->refs--;
    grove__backend_once_disarm(h, &o);
    return rc;
}

/* ---- Standing watches of foreign fds -------------------------------------------------- */

/* The events the waiters of w want. */
static int watch_want(grove_fdwatch *w)
{
    int want = 0;
    for (grove__list *n = w->waiters.next; n != &w->waiters; n = n->next)
        want |= grove__container_of(n, watch_waiter, w.link)->events;
    return want;
}

/* Registers want (0: removes the registration). 0 or -errno; on error w is unregistered. */
static int watch_arm(grove_fdwatch *w, int want)
{
    if (want == w->armed)
        return 0;
    int rc = 0;
    if (!want)
        grove__backend_del(w->h, w->fd);
    else
        rc = grove__backend_level(w->h, w->fd, want, (uint64_t)(uintptr_t)w | TOKEN_WATCH, w->armed != 0);
    w->armed = rc < 0 ? 0 : want;
    return rc;
}

static void watch_event(grove_fdwatch *w, int rw)
{
    int woke = 0;
    grove__list *n = w->waiters.next;
    while (n != &w->waiters) {
        watch_waiter *ww = grove__container_of(n, watch_waiter, w.link);
        n = n->next;
        if (ww->events & rw) {
            grove__wake(&ww->w, rw & ww->events, NULL); /* unlinks it */
            woke = 1;
        }
    }
    if (woke) {
        w->idle = 0;
    } else if (++w->idle >= 2) {
        /* Twice ready with nobody waiting for it: the owner is not reading (yet), or the
         * fd hung up. Stop reporting it until somebody waits again. */
        w->idle = 0;
        (void)watch_arm(w, watch_want(w));
    }
}

/* The hub's watches after a fork (the backend is new and their waiters are other green
 * threads, which the child does not have) or when the hub goes away. */
static void watches_detach(struct grove__fdtab *t, int hub_gone)
{
    grove__list *n = t->watches.next;
    while (n != &t->watches) {
        grove_fdwatch *w = grove__container_of(n, grove_fdwatch, link);
        n = n->next;
        grove__list_init(&w->waiters);
        w->armed = 0;
        w->idle = 0;
        if (hub_gone) {
            grove__list_remove(&w->link);
            w->h = NULL;
        }
    }
}

int grove_fdwatch_open(int fd, grove_fdwatch **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    int rc = grove__hub_io_attach(h);
    if (rc < 0)
        return rc;
    grove_fdwatch *w = grove__malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = grove__sys_dup_cloexec(fd);
    if (w->fd < 0) {
        rc = w->fd;
        grove__free(w);
        return rc;
    }
    w->h = h;
    w->armed = 0;
    w->idle = 0;
    grove__list_init(&w->waiters);
    /* Registered (and removed again) once now, so a regular file is refused here. */
    rc = watch_arm(w, GROVE_READ);
    if (rc == 0)
        rc = watch_arm(w, 0);
    if (rc < 0) {
        grove__sys_close(w->fd);
        grove__free(w);
        return rc;
    }
    grove__list_push(&h->fdtab->watches, &w->link);
    *out = w;
    return 0;
}

int grove_fdwatch_wait(grove_fdwatch *w, int events)
{
    if (!w || events <= 0 || (events & ~(GROVE_READ | GROVE_WRITE)))
        return -EINVAL;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    if (w->h != h)
        return -EINVAL;
    int rc = grove__check(h->current);
    if (rc)
        return rc;
    w->idle = 0;
    if ((w->armed & events) != events && (rc = watch_arm(w, w->armed | events)) < 0)
        return rc;
    watch_waiter ww;
    grove__waiter_init(&ww.w);
    ww.events = events;
    grove__list_push(&w->waiters, &ww.w.link);
    h->refs++;
    rc = grove__park(&ww.w, "fd watch");
    h->refs--;
    return rc;
}

int grove_fdwatch_close(grove_fdwatch *w)
{
    if (!w)
        return 0;
    if (w->h) {
        if (grove__hub_peek() != w->h)
            return -EINVAL;
        grove__wake_all(&w->waiters, -EBADF, NULL);
        watch_arm(w, 0);
        grove__list_remove(&w->link);
    }
    grove__sys_close(w->fd);
    grove__free(w);
    return 0;
}

int grove_fd_forget(int fd)
{
    grove__hub *h = grove__hub_peek();
    if (!h || !h->fdtab || fd < 0 || (size_t)fd >= h->fdtab->nslots)
        return 0;
    fd_slot *s = &h->fdtab->slots[fd];
    if (s->rd)
        grove__wake(s->rd, -EBADF, NULL);
    if (s->wr && s->wr != s->rd)
        grove__wake(s->wr, -EBADF, NULL);
    s->rd = s->wr = NULL;
    if (s->registered)
        grove__backend_del(h, fd);
    uint32_t gen = s->gen + 1;
    memset(s, 0, sizeof *s);
    s->gen = gen;
    return 0;
}

int grove_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    grove_fd_forget(fd);
    return grove__sys_close(fd);
}

/* Read hints for stream sockets: after a short read the socket was empty, so the next
 * read would almost surely fail with EAGAIN. Waiting first saves that syscall; data that
 * arrived since is not missed, because its edge is either still queued in the backend or
 * already remembered in the slot's ready bits, which make the wait return at once.
 * The exception is a hang-up or error already reported: a short read followed by EOF
 * gives no new edge, so once one was seen every read is tried first. */
/* The calling hub's slot for fd if the table has one (no allocation, no syscall). */
static fd_slot *slot_peek(int fd)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !h->fdtab || fd < 0 || (size_t)fd >= h->fdtab->nslots)
        return NULL;
    return &h->fdtab->slots[fd];
}

int grove__fd_take_drained(int fd)
{
    fd_slot *s = slot_peek(fd);
    if (!s)
        return 0;
    int d = s->drained && !s->hup;
    s->drained = 0;
    return d;
}

int grove_fd_drained(int fd)
{
    fd_slot *s = slot_peek(fd);
    return s && s->drained && !s->hup;
}

void grove__fd_note_read(int fd, size_t got, size_t asked)
{
    fd_slot *s = slot_peek(fd);
    if (s)
        s->drained = s->stream && got > 0 && got < asked;
}

int grove__fd_is_sock(int fd)
{
    fd_slot *s = slot_peek(fd);
    return s && s->registered && s->sock;
}

int grove__fd_add_wakeup(grove__hub *h, int efd)
{
    int rc = grove__hub_io_attach(h);
    return rc < 0 ? rc : grove__backend_add(h, efd, GROVE_READ, GROVE__TOKEN_WAKEUP);
}

void grove__fdtab_event(grove__hub *h, uint64_t token, int mask)
{
    if (grove__unlikely(token == GROVE__TOKEN_WAKEUP)) {
        grove__wakeup_drain(h);
        return;
    }
    int rw = mask & (GROVE_READ | GROVE_WRITE);
    if (token & TOKEN_ONCE) {
        grove__wake((grove__waiter *)(uintptr_t)(token & ~TOKEN_ONCE), rw, NULL);
        return;
    }
    if (token & TOKEN_WATCH) {
        watch_event((grove_fdwatch *)(uintptr_t)(token & ~TOKEN_WATCH), rw);
        return;
    }
    struct grove__fdtab *t = h->fdtab;
    uint32_t fd = (uint32_t)token, gen = (uint32_t)(token >> 32);
    if (fd >= t->nslots)
        return;
    fd_slot *s = &t->slots[fd];
    if (!s->registered || (s->gen & GEN_MASK) != gen)
        return; /* a stale event for an fd number that has been forgotten */
    if (mask & GROVE__EV_HUP)
        s->hup = 1; /* EOF or an error is pending: a short read no longer means "wait" */
    grove__waiter *rd = s->rd, *wr = s->wr;
    int left = rw;
    if (rd && (rw & GROVE_READ)) {
        s->rd = NULL;
        if (wr == rd) {
            s->wr = NULL;
            left &= ~(GROVE_READ | GROVE_WRITE);
        } else {
            left &= ~GROVE_READ;
        }
        grove__wake(rd, rw & (rd == wr ? (GROVE_READ | GROVE_WRITE) : GROVE_READ), NULL);
    }
    if (s->wr && (rw & GROVE_WRITE)) {
        grove__waiter *w = s->wr;
        s->wr = NULL;
        if (s->rd == w)
            s->rd = NULL;
        left &= ~GROVE_WRITE;
        grove__wake(w, rw, NULL);
    }
    s->ready |= (unsigned char)left;
}
