/* Resource pool (eventlet.pools.Pool): a bounded set of reusable items such as database
 * connections, created on demand. A put hands the item straight to the longest waiter;
 * a discard frees a slot, and the woken waiter creates a fresh item. */
#include "core/thread.h"

#include "grove/pool.h"

struct grove_respool {
    int (*create)(void *ctx, void **item);
    void (*destroy)(void *ctx, void *item);
    void *ctx;
    size_t max;
    size_t count; /* items in existence (idle + out + being created) */
    void **idle;
    size_t nidle;
    grove__list waiters;
};

grove_respool *grove_respool_new(int (*create)(void *, void **), void (*destroy)(void *, void *), void *ctx, size_t max)
{
    if (!create || max == 0) {
        errno = EINVAL;
        return NULL;
    }
    grove_respool *rp = grove__calloc(1, sizeof *rp);
    if (!rp || !(rp->idle = grove__calloc(max, sizeof *rp->idle))) {
        free(rp);
        errno = ENOMEM;
        return NULL;
    }
    rp->create = create;
    rp->destroy = destroy;
    rp->ctx = ctx;
    rp->max = max;
    grove__list_init(&rp->waiters);
    return rp;
}

/* A slot (a reserved place among the max items) is given up: to the longest waiter,
 * which then creates an item in it, or back to the pool. */
static void release_slot(grove_respool *rp)
{
    if (!grove__wake_one(&rp->waiters, 0, NULL))
        rp->count--;
}

/* Creates an item in a slot the caller already holds. */
static int make(grove_respool *rp, void **item)
{
    void *it = NULL;
    int rc = rp->create(rp->ctx, &it);
    if (rc < 0 || !it) {
        release_slot(rp);
        return rc < 0 ? rc : -EIO;
    }
    *item = it;
    return 0;
}

int grove_respool_get(grove_respool *rp, void **item)
{
    if (!rp || !item)
        return -EINVAL;
    if (grove__list_empty(&rp->waiters)) { /* nobody is ahead of us */
        if (rp->nidle) {
            *item = rp->idle[--rp->nidle];
            return 0;
        }
        if (rp->count < rp->max) {
            rp->count++; /* reserve the slot: create may switch */
            return make(rp, item);
        }
    }
    void *handed = NULL;
    int rc = grove__wait_on(&rp->waiters, "respool get", &handed);
    if (rc < 0)
        return rc;
    if (handed) { /* an item handed over by put */
        *item = handed;
        return 0;
    }
    return make(rp, item); /* a slot handed over by discard or a failed create */
}

int grove_respool_put(grove_respool *rp, void *item)
{
    if (!rp || !item)
        return -EINVAL;
    if (grove__wake_one(&rp->waiters, 0, item))
        return 0;
    GROVE_ASSERT(rp->nidle < rp->max);
    rp->idle[rp->nidle++] = item;
    return 0;
}

int grove_respool_discard(grove_respool *rp, void *item)
{
    if (!rp)
        return -EINVAL;
    GROVE_ASSERT(rp->count > 0);
    release_slot(rp); /* a waiter creates a fresh item in it */
    if (item && rp->destroy) {
        grove__thread *self = grove__self(); /* destroy may switch: shield it */
        unsigned sh = self ? grove__shield_enter(self) : 0;
        rp->destroy(rp->ctx, item);
        if (self)
            grove__shield_leave(self, sh);
    }
    return 0;
}

size_t grove_respool_free(const grove_respool *rp) { return rp ? rp->nidle + (rp->max - rp->count) : 0; }
size_t grove_respool_waiting(const grove_respool *rp) { return rp ? grove__list_count(&rp->waiters) : 0; }

int grove_respool_destroy(grove_respool *rp)
{
    if (!rp)
        return -EINVAL;
    if (rp->count != rp->nidle || !grove__list_empty(&rp->waiters))
        return -EBUSY;
    grove__thread *self = grove__self(); /* destroy may switch: shield it */
    unsigned sh = self ? grove__shield_enter(self) : 0;
    for (size_t i = 0; i < rp->nidle; i++)
        if (rp->destroy)
            rp->destroy(rp->ctx, rp->idle[i]);
    if (self)
        grove__shield_leave(self, sh);
    free(rp->idle);
    free(rp);
    return 0;
}
