/* Name resolution through c-ares, waiting on the hub (the default resolver; see dns.c).
 *
 * Each lookup uses its own c-ares channel (lookups are not a hot path, and a private
 * channel keeps one green thread's waits on its own sockets, which grove_wait_fd needs).
 * ares_getaddrinfo reads /etc/hosts and /etc/resolv.conf like the system resolver; the
 * environment variable GROVE_DNS_SERVERS ("127.0.0.1:5353,...") overrides the servers,
 * which the tests use to talk to a resolver of their own. c-ares's sockets are opened and
 * closed through our callbacks so the hub forgets an fd before it is closed.
 */
#include "io/dns.h"

#include <ares.h>
#include <pthread.h>

static pthread_once_t g_ares_once = PTHREAD_ONCE_INIT;
static int g_ares_status;

static void ares_global_init(void) { g_ares_status = ares_library_init(ARES_LIB_INIT_ALL); }

/* ---- Socket callbacks ------------------------------------------------------------------- */

/* c-ares expects libc's convention from these: -1 and errno. They reach the kernel through
 * Grove's wrappers, never through names the patch layer interposes. */
static long ret(long r)
{
    if (r >= 0)
        return r;
    errno = (int)-r;
    return -1;
}

static ares_socket_t a_socket(int af, int type, int proto, void *u)
{
    return (ares_socket_t)ret(grove__sys_socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto));
}
static int a_close(ares_socket_t fd, void *u)
{
    grove_fd_forget(fd);
    return (int)ret(grove__sys_close(fd));
}
static int a_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *u)
{
    return (int)ret(grove__sys_connect(fd, sa, len));
}
static ares_ssize_t a_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags, struct sockaddr *from,
                               ares_socklen_t *fromlen, void *u)
{
    return ret(grove__sys_recvfrom(fd, buf, len, flags, from, fromlen));
}
static ares_ssize_t a_sendv(ares_socket_t fd, const struct iovec *v, int n, void *u)
{
    return ret(grove__sys_writev(fd, v, n));
}

static const struct ares_socket_functions g_sockfns = {a_socket, a_close, a_connect, a_recvfrom, a_sendv};

typedef struct lookup {
    int want_canon;
    int done;
    int status;
    struct addrinfo *res;
} lookup;

static int map_status(int st)
{
    switch (st) {
    case ARES_SUCCESS: return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME: return -ENOENT;
    case ARES_ETIMEOUT: return -ETIMEDOUT;
    case ARES_ESERVFAIL:
    case ARES_ECONNREFUSED:
    case ARES_EREFUSED: return -EAGAIN;
    case ARES_ENOMEM: return -ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return -ECANCELED;
    case ARES_EBADNAME:
    case ARES_EBADFLAGS:
    case ARES_EBADFAMILY: return -EINVAL;
    default: return -EIO;
    }
}

static void on_result(void *arg, int status, int timeouts, struct ares_addrinfo *r)
{
    lookup *lk = arg;
    lk->done = 1;
    lk->status = map_status(status);
    if (status != ARES_SUCCESS || !r) {
        if (r)
            ares_freeaddrinfo(r);
        return;
    }
    struct addrinfo **tail = &lk->res;
    for (struct ares_addrinfo_node *n = r->nodes; n; n = n->ai_next) {
        struct addrinfo *ai = grove__dns_node(n->ai_family, n->ai_socktype, n->ai_protocol, n->ai_addr, n->ai_addrlen);
        if (!ai) {
            lk->status = -ENOMEM;
            break;
        }
        *tail = ai;
        tail = &ai->ai_next;
    }
    if (lk->status == 0 && !lk->res)
        lk->status = -ENOENT;
    if (lk->status == 0 && lk->want_canon) {
        const char *cn = r->cnames ? r->cnames->name : r->name;
        if (cn && !(lk->res->ai_canonname = grove__strdup(cn)))
            lk->status = -ENOMEM;
    }
    ares_freeaddrinfo(r);
}

/* ares.h's ARES_GETSOCK_* macros shift a signed 1 into the sign bit for the last socket. */
#define SOCK_READABLE(bits, i) (((unsigned)(bits) >> (i)) & 1u)
#define SOCK_WRITABLE(bits, i) (((unsigned)(bits) >> ((i) + ARES_GETSOCK_MAXNUM)) & 1u)

/* Waits for the channel's sockets or its next timeout, then lets c-ares process them. */
static int pump(ares_channel ch)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
    int64_t wait = tvp ? grove__sec_to_ns((int64_t)tv.tv_sec, (int64_t)tv.tv_usec * 1000) : GROVE_SEC(1);
    int fd = -1, ev = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM && fd < 0; i++) {
        if (SOCK_READABLE(bits, i))
            ev |= GROVE_READ;
        if (SOCK_WRITABLE(bits, i))
            ev |= GROVE_WRITE;
        if (ev)
            fd = (int)socks[i];
    }
    grove_timeout to;
    grove_timeout_start(&to, wait > 0 ? wait : 0);
    int rc = fd >= 0 ? grove_wait_fd(fd, ev) : grove_sleep(wait);
    bool mine = grove_timeout_end(&to);
    if (rc < 0 && !(rc == -ETIMEDOUT && mine))
        return rc; /* killed, or the caller's own timeout */
    int any = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        int r = SOCK_READABLE(bits, i), w = SOCK_WRITABLE(bits, i);
        if (r || w) {
            ares_process_fd(ch, r ? socks[i] : ARES_SOCKET_BAD, w ? socks[i] : ARES_SOCKET_BAD);
            any = 1;
        }
    }
    if (!any)
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
    return 0;
}

int grove__dns_resolve(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    pthread_once(&g_ares_once, ares_global_init);
    if (g_ares_status != ARES_SUCCESS)
        return -ENOMEM;
    ares_channel ch;
    struct ares_options opts = {0};
    if (ares_init_options(&ch, &opts, 0) != ARES_SUCCESS)
        return -ENOMEM;
    ares_set_socket_functions(ch, &g_sockfns, NULL);
    const char *servers = getenv("GROVE_DNS_SERVERS");
    if (servers && *servers && ares_set_servers_ports_csv(ch, servers) != ARES_SUCCESS) {
        ares_destroy(ch);
        return -EINVAL;
    }
    struct ares_addrinfo_hints ah = {0};
    if (hints) {
        /* glibc's AI_* values differ from c-ares's ARES_AI_*. */
        int f = hints->ai_flags;
        ah.ai_flags = (f & AI_CANONNAME ? ARES_AI_CANONNAME : 0) | (f & AI_NUMERICSERV ? ARES_AI_NUMERICSERV : 0) |
                      (f & AI_V4MAPPED ? ARES_AI_V4MAPPED : 0) | (f & AI_ALL ? ARES_AI_ALL : 0) |
                      (f & AI_ADDRCONFIG ? ARES_AI_ADDRCONFIG : 0);
        ah.ai_family = hints->ai_family;
        ah.ai_socktype = hints->ai_socktype;
        ah.ai_protocol = hints->ai_protocol;
    }
    lookup lk = {0};
    lk.want_canon = hints && (hints->ai_flags & AI_CANONNAME);
    ares_getaddrinfo(ch, host, service, &ah, on_result, &lk);
    int rc = 0;
    while (!lk.done) {
        rc = pump(ch);
        if (rc < 0)
            break;
    }
    ares_destroy(ch); /* runs the callback with ARES_EDESTRUCTION if still pending */
    if (rc < 0) {
        grove_freeaddrinfo(lk.res);
        return rc;
    }
    if (lk.status < 0) {
        grove_freeaddrinfo(lk.res);
        return lk.status;
    }
    *res = lk.res;
    return 0;
}
