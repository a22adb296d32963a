/* Name resolution without c-ares (GROVE_WITH_CARES=OFF): libc's getaddrinfo on the tpool,
 * so the hub keeps running while the system resolver blocks an OS thread (what gevent's
 * threadpool resolver does). A lookup cannot be interrupted on its pool thread: kill and
 * timeouts end the wait at once and the late result is freed when it arrives. */
#include "io/dns.h"

#include "grove/tpool.h"

typedef struct job {
    const char *host, *service;
    struct addrinfo hints;
    int has_hints;
    int status;           /* EAI_* */
    int err;              /* errno for EAI_SYSTEM */
    struct addrinfo *res; /* libc's list */
    char buf[];           /* host and service, copied: the caller may be gone */
} job;

static void *lookup(void *arg)
{
    job *j = arg;
    j->status = grove__libc_getaddrinfo(j->host, j->service, j->has_hints ? &j->hints : NULL, &j->res);
    j->err = errno;
    return j;
}

static void drop(void *arg)
{
    job *j = arg;
    if (j->res)
        freeaddrinfo(j->res);
    free(j);
}

static int map(int st, int err)
{
    switch (st) {
    case 0: return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
    case EAI_FAMILY: return -ENOENT;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SERVICE:
    case EAI_BADFLAGS:
    case EAI_SOCKTYPE: return -EINVAL;
    case EAI_SYSTEM: return err ? -err : -EIO;
    default: return -EIO;
    }
}

int grove__dns_resolve(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    size_t hl = strlen(host) + 1, sl = service ? strlen(service) + 1 : 0;
    job *j = grove__calloc(1, sizeof *j + hl + sl);
    if (!j)
        return -ENOMEM;
    memcpy(j->buf, host, hl);
    j->host = j->buf;
    if (service) {
        memcpy(j->buf + hl, service, sl);
        j->service = j->buf + hl;
    }
    if (hints) {
        j->hints = *hints;
        j->hints.ai_addr = NULL;
        j->hints.ai_canonname = NULL;
        j->hints.ai_next = NULL;
        j->has_hints = 1;
    }
    void *out = NULL;
    int rc = grove_tpool_call(lookup, j, &out, drop);
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        return rc; /* the job still runs and owns j: drop frees it */
    if (rc < 0) {
        free(j); /* never started */
        return rc;
    }
    rc = map(j->status, j->err);
    if (rc == 0)
        rc = grove__dns_copy(j->res, res, hints && (hints->ai_flags & AI_CANONNAME));
    drop(j);
    return rc;
}
