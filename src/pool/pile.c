/* Pile (results in spawn order) and imap (an ordered parallel map over a generator,
 * built on a pile plus a feeder green thread with back-pressure). */
#include "core/thread.h"

#include "pool/pool.h"

struct grove_pile {
    grove_pool *pool;
    int own_pool;
    void (*free_arg)(void *);    /* imap: for calls dropped before they ran */
    void (*free_result)(void *); /* imap: for results dropped untaken */
    grove_thread **v;            /* ring of spawned threads, oldest first */
    size_t cap, head, n;
};

grove_pile *grove_pile_new(grove_pool *pool, size_t size)
{
    if (!pool && size == 0) {
        errno = EINVAL;
        return NULL;
    }
    grove_pile *pile = grove__calloc(1, sizeof *pile);
    if (!pile) {
        errno = ENOMEM;
        return NULL;
    }
    if (!pool) {
        pool = grove_pool_new(size);
        if (!pool) {
            free(pile);
            return NULL;
        }
        pile->own_pool = 1;
    }
    pile->pool = pool;
    return pile;
}

static int ring_push(grove_pile *pile, grove_thread *t)
{
    if (pile->n == pile->cap) {
        size_t cap = pile->cap ? pile->cap * 2 : 16;
        grove_thread **v = grove__malloc(cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        for (size_t i = 0; i < pile->n; i++)
            v[i] = pile->v[(pile->head + i) % pile->cap];
        free(pile->v);
        pile->v = v;
        pile->cap = cap;
        pile->head = 0;
    }
    pile->v[(pile->head + pile->n) % pile->cap] = t;
    pile->n++;
    return 0;
}

int grove_pile_spawn(grove_pile *pile, void *(*fn)(void *), void *arg)
{
    if (!pile || !fn)
        return -EINVAL;
    if (pile->n == pile->cap) { /* make room first: after the spawn nothing may fail */
        int rc = ring_push(pile, NULL);
        if (rc)
            return rc;
        pile->n--;
    }
    grove_thread *t = grove_pool_spawn(pile->pool, fn, arg);
    if (!t)
        return -errno;
    return ring_push(pile, t);
}

int grove_pile_next(grove_pile *pile, void **result)
{
    if (!pile)
        return -EINVAL;
    if (!pile->n)
        return -ENOENT;
    grove_thread *t = pile->v[pile->head];
    int rc = grove_join(t, result);
    if (rc < 0)
        return rc; /* still ours: the next call joins it again */
    pile->head = (pile->head + 1) % pile->cap;
    pile->n--;
    return 0;
}

size_t grove_pile_pending(const grove_pile *pile) { return pile ? pile->n : 0; }

/* Kills and joins what still runs, inside a shield (a cleanup path): the pile's threads
 * use its pool, so nothing may be freed before they are gone. An error (a timeout opened
 * inside the caller's own shield) leaves the pile valid, with what is left. */
static int drain(grove_pile *pile)
{
    for (size_t i = 0; i < pile->n; i++)
        grove_kill_nowait(pile->v[(pile->head + i) % pile->cap]);
    while (pile->n) {
        grove_thread *handle = pile->v[pile->head];
        int rc = grove_kill(handle); /* waits until it is done; it stays joinable */
        if (rc < 0)
            return rc;
        const grove__thread *t = grove__thread_get(handle);
        if (t && !t->ran && pile->free_arg)
            pile->free_arg(t->arg); /* killed before fn ever saw its argument */
        else if (t && t->ran && t->result && pile->free_result)
            pile->free_result(t->result);
        grove_join(handle, NULL);
        pile->head = (pile->head + 1) % pile->cap;
        pile->n--;
    }
    if (pile->own_pool)
        return grove_pool_waitall(pile->pool);
    return 0;
}

int grove_pile_destroy(grove_pile *pile)
{
    if (!pile)
        return -EINVAL;
    grove__thread *self = grove__self();
    if (!self)
        return -ENOMEM;
    unsigned sh = grove__shield_enter(self);
    int rc = drain(pile);
    grove__shield_leave(self, sh);
    if (rc < 0)
        return rc;
    if (pile->own_pool)
        grove_pool_destroy(pile->pool);
    free(pile->v);
    free(pile);
    return 0;
}

/* ---- imap ---------------------------------------------------------------------------- */

struct grove_imap {
    grove_pile *pile;
    void *(*fn)(void *);
    grove_imap_gen gen;
    void *gen_ctx;
    size_t window; /* max results spawned and not taken */
    grove_thread *feeder;
    int done;          /* feeder finished */
    int err;           /* generator or spawn error, reported after the results */
    grove__list avail; /* consumer waits for the feeder */
    grove__list space; /* feeder waits for the consumer */
};

static void *feeder(void *arg)
{
    grove_imap *it = arg;
    for (;;) {
        while (grove_pile_pending(it->pile) >= it->window) {
            int rc = grove__wait_on(&it->space, "imap window", NULL);
            if (rc < 0) {
                it->err = rc;
                goto out;
            }
        }
        void *a = NULL;
        int more = it->gen(it->gen_ctx, &a);
        if (more <= 0) {
            it->err = more;
            break;
        }
        int rc = grove_pile_spawn(it->pile, it->fn, a);
        if (rc < 0) {
            if (it->pile->free_arg)
                it->pile->free_arg(a); /* generated but never handed to fn */
            it->err = rc;
            break;
        }
        grove__wake_all(&it->avail, 0, NULL);
    }
out:
    it->done = 1;
    grove__wake_all(&it->avail, 0, NULL);
    return NULL;
}

grove_imap *grove_pool_imap(grove_pool *pool, void *(*fn)(void *), grove_imap_gen gen, void *gen_ctx)
{
    if (!pool || !fn || !gen) {
        errno = EINVAL;
        return NULL;
    }
    grove_imap *it = grove__calloc(1, sizeof *it);
    if (!it)
        goto fail;
    it->pile = grove_pile_new(pool, 0);
    if (!it->pile)
        goto fail_it;
    it->fn = fn;
    it->gen = gen;
    it->gen_ctx = gen_ctx;
    it->window = 2 * pool->size;
    grove__list_init(&it->avail);
    grove__list_init(&it->space);
    it->feeder = grove__spawn_daemon(feeder, it, "imap-feeder"); /* a service thread */
    if (!it->feeder)
        goto fail_pile;
    return it;
fail_pile:
    grove_pile_destroy(it->pile);
fail_it:
    free(it);
fail:
    errno = ENOMEM;
    return NULL;
}

int grove_imap_next(grove_imap *it, void **result)
{
    if (!it)
        return -EINVAL;
    for (;;) {
        if (grove_pile_pending(it->pile)) {
            int rc = grove_pile_next(it->pile, result);
            if (rc < 0)
                return rc;
            grove__wake_all(&it->space, 0, NULL);
            return 1;
        }
        if (it->done)
            return it->err;
        int rc = grove__wait_on(&it->avail, "imap next", NULL);
        if (rc < 0)
            return rc;
    }
}

int grove_imap_set_free(grove_imap *it, void (*free_arg)(void *arg), void (*free_result)(void *result))
{
    if (!it)
        return -EINVAL;
    it->pile->free_arg = free_arg;
    it->pile->free_result = free_result;
    return 0;
}

int grove_imap_close(grove_imap *it)
{
    if (!it)
        return -EINVAL;
    grove__thread *self = grove__self();
    if (!self)
        return -ENOMEM;
    /* A cleanup path: the feeder and the calls use it, so wait for them, shielded. */
    unsigned sh = grove__shield_enter(self);
    int rc = 0;
    if (it->feeder) {
        grove_kill_nowait(it->feeder);
        rc = grove_join(it->feeder, NULL);
        if (rc == 0)
            it->feeder = NULL;
    }
    if (rc == 0)
        rc = grove_pile_destroy(it->pile);
    grove__shield_leave(self, sh);
    if (rc < 0)
        return rc; /* still valid: close may be called again */
    free(it);
    return 0;
}
