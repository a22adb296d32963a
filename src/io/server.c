/* grove_serve: an acceptor green thread plus one green thread per connection.
 *
 * Concurrency is a semaphore the acceptor takes before each accept, so a full server
 * stops accepting (connections wait in the kernel's backlog) instead of accepting and
 * parking them. Running out of fds or memory makes the acceptor back off rather than
 * spin; the kernel keeps the pending connection, so it is served once fds free up.
 * Each connection's record lives on its handler's stack; the server keeps them in a list
 * so a graceful stop can kill the stragglers.
 */
#include "core/thread.h"

#include "grove/io.h"
#include "grove/sync.h"

struct grove_server {
    int lfd;
    void (*handle)(int fd, void *arg);
    grove_peer_handler handle_peer; /* instead of handle: also gets the peer's address */
    void *arg;
    grove_sem slots;
    int limited;
    grove_thread *acceptor;
    grove__list conns; /* live connections */
    size_t active;
    uint64_t accepted;
    grove_event idle; /* sent when active drops to 0 while stopping */
    int stopping;
    int killed;     /* handlers killed by stop so far */
    int accept_err; /* a fatal accept error, if the acceptor stopped on one */
};

typedef struct conn { /* one per connection; freed by its handler thread */
    grove__list link;
    grove_thread *t;
    grove_server *srv;
    int fd;
    socklen_t peer_len;
    struct sockaddr_storage peer;
} conn;

static void conn_main(void *arg)
{
    conn *c = arg;
    grove_server *srv = c->srv;
    if (srv->handle_peer)
        srv->handle_peer(c->fd, (const struct sockaddr *)&c->peer, c->peer_len, srv->arg);
    else
        srv->handle(c->fd, srv->arg);
    grove_close(c->fd);
    grove__list_remove(&c->link);
    free(c);
    srv->active--;
    if (srv->limited)
        grove_sem_release(&srv->slots);
    if (srv->stopping && srv->active == 0)
        grove_event_send(&srv->idle, NULL);
}

static int fatal_accept_error(int rc)
{
    switch (-rc) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case EINTR: return 0;
    default: return 1;
    }
}

static void *acceptor(void *arg)
{
    grove_server *srv = arg;
    int64_t backoff = 0;
    for (;;) {
        if (srv->limited && grove_sem_acquire(&srv->slots) < 0)
            break; /* killed: stopping */
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = grove_accept(srv->lfd, (struct sockaddr *)&peer, &peer_len);
        if (fd < 0) {
            if (srv->limited)
                grove_sem_release(&srv->slots);
            if (fd == -ECANCELED || fd == -ETIMEDOUT)
                break;
            if (fatal_accept_error(fd)) {
                srv->accept_err = fd;
                break;
            }
            if (fd == -ECONNABORTED || fd == -EINTR || fd == -EPROTO)
                continue;
            /* Out of fds or memory: wait for some to be released, without spinning. */
            backoff = backoff ? backoff * 2 : GROVE_MS(1);
            if (backoff > GROVE_MS(100))
                backoff = GROVE_MS(100);
            if (grove_sleep(backoff) < 0)
                break;
            continue;
        }
        backoff = 0;
        srv->accepted++;
        srv->active++;
        conn *c = grove__malloc(sizeof *c);
        grove__thread *t = NULL;
        if (!c || !(t = grove__spawn_n_thread(conn_main, c))) {
            free(c);
            srv->active--;
            grove_close(fd);
            if (srv->limited)
                grove_sem_release(&srv->slots);
            continue;
        }
        c->t = grove__handle_of(t);
        c->srv = srv;
        c->fd = fd;
        c->peer_len = peer_len <= sizeof c->peer ? peer_len : (socklen_t)sizeof c->peer;
        memcpy(&c->peer, &peer, c->peer_len);
        grove__list_push(&srv->conns, &c->link);
    }
    return NULL;
}

static grove_server *start(int lfd, void (*handle)(int, void *), grove_peer_handler handle_peer, void *arg,
                           size_t concurrency)
{
    if (lfd < 0 || (!handle && !handle_peer)) {
        errno = EINVAL;
        return NULL;
    }
    grove_server *srv = grove__calloc(1, sizeof *srv);
    if (!srv) {
        errno = ENOMEM;
        return NULL;
    }
    srv->lfd = lfd;
    srv->handle = handle;
    srv->handle_peer = handle_peer;
    srv->arg = arg;
    srv->limited = concurrency > 0;
    grove_sem_init(&srv->slots, (long)concurrency);
    grove_event_init(&srv->idle);
    grove__list_init(&srv->conns);
    /* A service thread: grove_thread_count and grove_wait_all do not count it. */
    srv->acceptor = grove__spawn_daemon(acceptor, srv, "acceptor");
    if (!srv->acceptor) {
        free(srv);
        errno = ENOMEM;
        return NULL;
    }
    return srv;
}

grove_server *grove_server_start(int lfd, void (*handle)(int, void *), void *arg, size_t concurrency)
{
    return start(lfd, handle, NULL, arg, concurrency);
}

grove_server *grove_server_start_peer(int lfd, grove_peer_handler handle, void *arg, size_t concurrency)
{
    return start(lfd, NULL, handle, arg, concurrency);
}

uint64_t grove_server_accepted(const grove_server *srv) { return srv ? srv->accepted : 0; }
size_t grove_server_active(const grove_server *srv) { return srv ? srv->active : 0; }

/* The stop itself, run inside a shield: a killed or timed-out caller must still wait
 * for the acceptor and the handlers, which all use srv, before it is freed. Returns the
 * number of handlers killed, or an error with srv still allocated (stop may be called
 * again), which only a timeout opened inside the caller's own shield can cause. */
static int stop_shielded(grove_server *srv, int64_t grace_ns)
{
    if (srv->acceptor) {
        grove_kill_nowait(srv->acceptor);
        int rc = grove_join(srv->acceptor, NULL);
        if (rc < 0)
            return rc;
        srv->acceptor = NULL;
    }
    srv->stopping = 1;
    if (srv->active && !srv->killed) {
        grove_timeout to;
        grove_timeout_start(&to, grace_ns > 0 ? grace_ns : 0);
        int rc = grove_event_wait(&srv->idle, NULL);
        bool grace_over = grove_timeout_end(&to);
        if (rc < 0 && !(rc == -ETIMEDOUT && grace_over) && srv->active)
            return rc;
        for (grove__list *n = srv->conns.next; n != &srv->conns; n = n->next) {
            conn *c = grove__container_of(n, conn, link);
            grove_kill_nowait(c->t);
            srv->killed++;
        }
    }
    while (srv->active) { /* killed handlers unwind and close their fds */
        grove_event_reset(&srv->idle);
        int rc = grove_event_wait(&srv->idle, NULL);
        if (rc < 0 && srv->active)
            return rc;
    }
    return srv->killed;
}

int grove_server_stop(grove_server *srv, int64_t grace_ns)
{
    if (!srv)
        return -EINVAL;
    grove__thread *self = grove__self();
    if (!self)
        return -ENOMEM;
    unsigned sh = grove__shield_enter(self);
    int rc = stop_shielded(srv, grace_ns);
    grove__shield_leave(self, sh);
    if (rc >= 0)
        free(srv);
    return rc;
}

static int serve(grove_server *srv)
{
    if (!srv)
        return -errno;
    /* Wait for our own end (kill, timeout) or the acceptor's (fatal error). */
    grove__thread *a = grove__thread_get(srv->acceptor); /* joinable until stop joins it */
    int rc = 0;
    while (a && a->state != GROVE__DONE) {
        rc = grove__wait_on(&a->exit_waiters, "serve", NULL);
        if (rc < 0)
            break;
    }
    int err = srv->accept_err;
    /* grove_server_stop shields itself, so it completes even though we were killed. */
    int st = grove_server_stop(srv, GROVE_SEC(5));
    if (rc < 0)
        return rc;
    return st < 0 ? st : err;
}

int grove_serve(int lfd, void (*handle)(int, void *), void *arg, size_t concurrency)
{
    return serve(grove_server_start(lfd, handle, arg, concurrency));
}

int grove_serve_peer(int lfd, grove_peer_handler handle, void *arg, size_t concurrency)
{
    return serve(grove_server_start_peer(lfd, handle, arg, concurrency));
}
