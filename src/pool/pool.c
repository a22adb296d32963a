/* Green pool: a counting limit on green threads, with FIFO waiting spawners.
 *
 * A finished pool thread's exit hook hands its slot straight to the longest waiting
 * spawner (so a late spawner never takes it first) or frees it; no per-spawn allocation.
 */
#include "core/thread.h"

#include "pool/pool.h"

grove_pool *grove_pool_new(size_t size)
{
    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    grove_pool *p = grove__calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->size = size;
    grove__list_init(&p->spawners);
    grove__list_init(&p->idle);
    return p;
}

int grove_pool_destroy(grove_pool *p)
{
    if (!p)
        return -EINVAL;
    if (p->running || !grove__list_empty(&p->spawners) || !grove__list_empty(&p->idle))
        return -EBUSY;
    free(p);
    return 0;
}

/* A slot became free: give it to the longest waiting spawner, or release it. */
static void slot_free(grove_pool *p)
{
    if (p->running <= p->size && grove__wake_one(&p->spawners, 0, NULL))
        return; /* handed over: running stays the same */
    p->running--;
    if (p->running == 0)
        grove__wake_all(&p->idle, 0, NULL);
}

static void on_exit_hook(grove__thread *t, void *arg) { slot_free(arg); }

static int in_pool(grove_pool *p)
{
    grove__thread *self = grove__self();
    return self && self->exit_hook == on_exit_hook && self->exit_arg == p;
}

/* Claims a slot, waiting if needed. 0 or an error; 1 = full and the caller is in the pool. */
static int claim(grove_pool *p)
{
    if (p->running < p->size && grove__list_empty(&p->spawners)) {
        p->running++;
        return 0;
    }
    if (in_pool(p))
        return 1;
    return grove__wait_on(&p->spawners, "pool slot", NULL); /* 0: the slot was handed to us */
}

grove_thread *grove_pool_spawn(grove_pool *p, void *(*fn)(void *), void *arg)
{
    if (!p || !fn) {
        errno = EINVAL;
        return NULL;
    }
    int rc = claim(p);
    if (rc) {
        errno = rc == 1 ? EDEADLK : -rc;
        return NULL;
    }
    grove_thread *handle = grove_spawn(fn, arg);
    if (!handle) {
        slot_free(p);
        errno = ENOMEM;
        return NULL;
    }
    grove__thread *t = grove__thread_get(handle); /* spawning never switches: still there */
    t->exit_hook = on_exit_hook;
    t->exit_arg = p;
    return handle;
}

int grove_pool_spawn_n(grove_pool *p, void (*fn)(void *), void *arg)
{
    if (!p || !fn)
        return -EINVAL;
    int rc = claim(p);
    if (rc == 1) {
        fn(arg); /* eventlet: a full pool's own thread runs the work inline */
        return 0;
    }
    if (rc)
        return rc;
    grove__thread *t = grove__spawn_n_thread(fn, arg);
    if (!t) {
        slot_free(p);
        return -ENOMEM;
    }
    t->exit_hook = on_exit_hook;
    t->exit_arg = p;
    return 0;
}

int grove_pool_waitall(grove_pool *p)
{
    if (!p)
        return -EINVAL;
    if (in_pool(p))
        return -EDEADLK;
    while (p->running) {
        int rc = grove__wait_on(&p->idle, "pool waitall", NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

size_t grove_pool_free(const grove_pool *p) { return p && p->running < p->size ? p->size - p->running : 0; }
size_t grove_pool_running(const grove_pool *p) { return p ? p->running : 0; }
size_t grove_pool_waiting(const grove_pool *p) { return p ? grove__list_count(&p->spawners) : 0; }

int grove_pool_resize(grove_pool *p, size_t size)
{
    if (!p || size == 0)
        return -EINVAL;
    p->size = size;
    while (p->running < p->size && grove__wake_one(&p->spawners, 0, NULL))
        p->running++;
    return 0;
}
