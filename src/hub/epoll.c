/* The epoll readiness backend (see backend.h).
 *
 * Table fds are registered once, edge-triggered for read and write, so an idle fd costs
 * no syscall and one epoll_wait serves every ready fd. One-shot watches of foreign fds use
 * EPOLLONESHOT, level-triggered; epoll keys a registration by (fd number, open file), so
 * when the fd is already registered a private dup of it gets the one-shot instead.
 * Standing watches of foreign fds (grove_fdwatch) are plain level-triggered registrations
 * of a private dup.
 */
#include "hub/backend.h"

#include <limits.h>
#include <sys/epoll.h>

struct grove__backend {
    int epfd;
    struct epoll_event events[256];
};

static int g_no_pwait2;

int grove__backend_open(grove__hub *h)
{
    if (h->backend)
        return 0;
    struct grove__backend *b = grove__malloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    b->epfd = (int)GROVE__SCF(-EMFILE, SYS_epoll_create1, EPOLL_CLOEXEC, 0, 0, 0, 0, 0);
    if (b->epfd < 0) {
        int rc = b->epfd;
        grove__free(b);
        return rc;
    }
    h->backend = b;
    return 0;
}

void grove__backend_close(grove__hub *h)
{
    struct grove__backend *b = h->backend;
    if (!b)
        return;
    grove__sys_close(b->epfd);
    grove__free(b);
    h->backend = NULL;
}

int grove__backend_reopen(grove__hub *h)
{
    struct grove__backend *b = h->backend;
    if (!b)
        return 0;
    int fd = (int)GROVE__SC(SYS_epoll_create1, EPOLL_CLOEXEC, 0, 0, 0, 0, 0);
    if (fd < 0)
        return fd;
    grove__sys_close(b->epfd);
    b->epfd = fd;
    return 0;
}

static uint32_t epoll_mask(int events)
{
    return (events & GROVE_READ ? EPOLLIN | EPOLLRDHUP : 0u) | (events & GROVE_WRITE ? EPOLLOUT : 0u);
}

static int ctl(struct grove__backend *b, int op, int fd, uint32_t events, uint64_t token)
{
    struct epoll_event ev = {.events = events, .data.u64 = token};
    return (int)GROVE__SCF(-ENOMEM, SYS_epoll_ctl, b->epfd, op, fd, &ev, 0, 0);
}

int grove__backend_add(grove__hub *h, int fd, int events, uint64_t token)
{
    return ctl(h->backend, EPOLL_CTL_ADD, fd, epoll_mask(events) | EPOLLET, token);
}

void grove__backend_del(grove__hub *h, int fd)
{
    if (h->backend)
        (void)GROVE__SC(SYS_epoll_ctl, h->backend->epfd, EPOLL_CTL_DEL, fd, NULL, 0, 0);
}

int grove__backend_once_arm(grove__hub *h, grove__once *o, int fd, int events, uint64_t token)
{
    struct grove__backend *b = h->backend;
    uint32_t ev = epoll_mask(events) | EPOLLONESHOT;
    o->fd = fd;
    o->dup = 0;
    int rc = ctl(b, EPOLL_CTL_ADD, fd, ev, token);
    if (rc != -EEXIST)
        return rc;
    /* fd is registered already (a table fd, or another one-shot waiter): a dup is a new
     * registration key for the same open file. */
    int d = grove__sys_dup_cloexec(fd);
    if (d < 0)
        return d;
    rc = ctl(b, EPOLL_CTL_ADD, d, ev, token);
    if (rc < 0) {
        grove__sys_close(d);
        return rc;
    }
    o->fd = d;
    o->dup = 1;
    return 0;
}

void grove__backend_once_disarm(grove__hub *h, grove__once *o)
{
    grove__backend_del(h, o->fd);
    if (o->dup)
        grove__sys_close(o->fd);
    o->fd = -1;
    o->dup = 0;
}

int grove__backend_level(grove__hub *h, int fd, int events, uint64_t token, int modify)
{
    return ctl(h->backend, modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, epoll_mask(events), token);
}

int grove__backend_poll(grove__hub *h, int64_t timeout_ns)
{
    struct grove__backend *b = h->backend;
    long n;
    if (!g_no_pwait2) {
        struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
        n = GROVE__SC(SYS_epoll_pwait2, b->epfd, b->events, 256, timeout_ns < 0 ? NULL : &ts, NULL, 8);
        if (n == -ENOSYS) {
            g_no_pwait2 = 1;
            return grove__backend_poll(h, timeout_ns);
        }
    } else {
        int64_t ms64 = timeout_ns < 0 ? -1 : timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        int ms = ms64 > INT_MAX ? INT_MAX : (int)ms64;
        n = GROVE__SC(SYS_epoll_pwait, b->epfd, b->events, 256, ms, NULL, 8);
    }
    for (long i = 0; i < n; i++) {
        uint32_t e = b->events[i].events;
        int mask = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mask |= GROVE_READ;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            mask |= GROVE_WRITE;
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mask |= GROVE__EV_HUP;
        grove__fdtab_event(h, b->events[i].data.u64, mask);
    }
    return n < 0 ? 0 : (int)n;
}
