/* Name resolution: what both resolvers share (numeric hosts, result lists, the entry
 * point). The lookup itself is dns-ares.c (c-ares on the hub, the default) or dns-libc.c
 * (libc's getaddrinfo on the tpool, when Grove is built with GROVE_WITH_CARES=OFF).
 *
 * Results are lists that libc's freeaddrinfo can also free (one allocation per node
 * holding its address, ai_canonname malloc'ed): the patch layer hands them to callers of
 * getaddrinfo, who free them with libc.
 */
#include "io/dns.h"

#include <dlfcn.h>
#include <gnu/lib-names.h>

/* ---- Results ----------------------------------------------------------------------------- */

/* One allocation per node: the addrinfo, then its address. */
struct addrinfo *grove__dns_node(int family, int socktype, int protocol, const struct sockaddr *sa, socklen_t len)
{
    struct addrinfo *ai = grove__calloc(1, sizeof *ai + sizeof(struct sockaddr_storage));
    if (!ai || len > sizeof(struct sockaddr_storage)) {
        free(ai);
        return NULL;
    }
    ai->ai_family = family;
    ai->ai_socktype = socktype;
    ai->ai_protocol = protocol;
    ai->ai_addrlen = len;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    memcpy(ai->ai_addr, sa, len);
    return ai;
}

void grove_freeaddrinfo(struct addrinfo *res)
{
    while (res) {
        struct addrinfo *next = res->ai_next;
        free(res->ai_canonname);
        free(res);
        res = next;
    }
}

/* libc's own getaddrinfo, found in libc itself: the patch layer may interpose on the
 * name, and Grove never calls its own interposers. */
int grove__libc_getaddrinfo(const char *host, const char *service, const struct addrinfo *h, struct addrinfo **r)
{
    typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    static gai_fn _Atomic real;
    gai_fn f = real;
    if (!f) {
        void *libc = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
        f = libc ? (gai_fn)dlsym(libc, "getaddrinfo") : NULL;
        if (libc)
            dlclose(libc);
        real = f;
    }
    return f ? f(host, service, h, r) : EAI_SYSTEM;
}

/* Copies a libc result list into Grove's own kind of list. */
int grove__dns_copy(const struct addrinfo *r, struct addrinfo **res, int canon)
{
    struct addrinfo *out = NULL, **tail = &out;
    for (const struct addrinfo *a = r; a; a = a->ai_next) {
        struct addrinfo *ai = grove__dns_node(a->ai_family, a->ai_socktype, a->ai_protocol, a->ai_addr, a->ai_addrlen);
        if (!ai) {
            grove_freeaddrinfo(out);
            return -ENOMEM;
        }
        *tail = ai;
        tail = &ai->ai_next;
    }
    if (canon && out && r->ai_canonname && !(out->ai_canonname = grove__strdup(r->ai_canonname))) {
        grove_freeaddrinfo(out);
        return -ENOMEM;
    }
    *res = out;
    return 0;
}

/* Numeric hosts (and a NULL host) through libc, which never blocks for them. */
static int numeric(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = hints ? *hints : (struct addrinfo){.ai_family = AF_UNSPEC};
    h.ai_flags |= AI_NUMERICHOST;
    if (service)
        h.ai_flags |= AI_NUMERICSERV;
    struct addrinfo *r;
    int rc = grove__libc_getaddrinfo(host, service, &h, &r);
    if (rc == EAI_NONAME)
        return 1; /* not numeric */
    if (rc)
        return rc == EAI_MEMORY ? -ENOMEM : rc == EAI_SERVICE ? -EINVAL : -ENOENT;
    rc = grove__dns_copy(r, res, 0);
    freeaddrinfo(r);
    return rc;
}

int grove_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    if (!res || (!host && !service))
        return -EINVAL;
    *res = NULL;
    int rc = host ? numeric(host, service, hints, res) : 0;
    if (!host) { /* the wildcard or loopback address for a service */
        return numeric(NULL, service, hints, res) == 0 ? 0 : -EINVAL;
    }
    if (rc <= 0)
        return rc;

    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    rc = grove__check(grove__running(h));
    if (rc)
        return rc;
    return grove__dns_resolve(host, service, hints, res);
}
