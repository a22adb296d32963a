/* Groups (gevent's Group, joinall, wait(count=1), kill): a set of green threads tracked
 * through link callbacks. A member moves from the running list to the finished list when
 * it ends; waiters on the group are woken then. The group holds its members' handles until
 * grove_group_wait_any hands a finished one over; grove_group_free joins the rest. */
#include "core/thread.h"

#include "grove/pool.h"

typedef struct member {
    grove__list link; /* in running or finished */
    grove_thread *t;
    grove_group *g;
} member;

struct grove_group {
    grove__list running, finished;
    size_t nrunning, nfinished;
    grove__list waiters; /* join and wait_any */
};

grove_group *grove_group_new(void)
{
    grove_group *g = grove__calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    grove__list_init(&g->running);
    grove__list_init(&g->finished);
    grove__list_init(&g->waiters);
    return g;
}

static void on_finish(grove_thread *t, void *arg)
{
    (void)t;
    member *m = arg;
    grove_group *g = m->g;
    grove__list_remove(&m->link);
    grove__list_push(&g->finished, &m->link);
    g->nrunning--;
    g->nfinished++;
    grove__wake_all(&g->waiters, 0, NULL);
}

int grove_group_add(grove_group *g, grove_thread *handle)
{
    grove__thread *t = grove__thread_get(handle); /* NULL: stale, or not of this hub */
    if (!g || !t || t->is_main || t->is_hub || !t->joinable || t->detached || t->joined)
        return -EINVAL;
    member *m = grove__malloc(sizeof *m);
    if (!m)
        return -ENOMEM;
    m->t = handle;
    m->g = g;
    if (t->state == GROVE__DONE) {
        grove__list_push(&g->finished, &m->link);
        g->nfinished++;
        grove__wake_all(&g->waiters, 0, NULL);
        return 0;
    }
    int rc = grove_link(handle, on_finish, m);
    if (rc < 0) {
        free(m);
        return rc;
    }
    grove__list_push(&g->running, &m->link);
    g->nrunning++;
    return 0;
}

grove_thread *grove_group_spawn(grove_group *g, void *(*fn)(void *), void *arg)
{
    if (!g || !fn) {
        errno = EINVAL;
        return NULL;
    }
    member *m = grove__malloc(sizeof *m); /* before the spawn: nothing may fail after it */
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    grove_thread *t = grove_spawn(fn, arg);
    if (!t) {
        free(m);
        return NULL;
    }
    m->t = t;
    m->g = g;
    if (grove_link(t, on_finish, m) < 0) {
        /* t has not started (spawning never switches): killed now, fn never runs. */
        grove_kill_nowait(t);
        grove_detach(t);
        free(m);
        errno = ENOMEM;
        return NULL;
    }
    grove__list_push(&g->running, &m->link);
    g->nrunning++;
    return t;
}

int grove_group_join(grove_group *g)
{
    if (!g)
        return -EINVAL;
    while (g->nrunning) {
        int rc = grove__wait_on(&g->waiters, "group join", NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int grove_group_wait_any(grove_group *g, grove_thread **done)
{
    if (!g || !done)
        return -EINVAL;
    while (!g->nfinished) {
        if (!g->nrunning)
            return -ENOENT;
        int rc = grove__wait_on(&g->waiters, "group wait_any", NULL);
        if (rc < 0)
            return rc;
    }
    member *m = grove__container_of(grove__list_pop(&g->finished), member, link);
    g->nfinished--;
    *done = m->t;
    free(m);
    return 0;
}

int grove_group_kill(grove_group *g)
{
    if (!g)
        return -EINVAL;
    for (grove__list *n = g->running.next; n != &g->running; n = n->next)
        grove_kill_nowait(grove__container_of(n, member, link)->t);
    /* A cleanup path: wait for them, shielded. */
    grove__thread *self = grove__self();
    if (!self)
        return -ENOMEM;
    unsigned sh = grove__shield_enter(self);
    int rc = grove_group_join(g);
    grove__shield_leave(self, sh);
    return rc;
}

size_t grove_group_running(const grove_group *g) { return g ? g->nrunning : 0; }
size_t grove_group_finished(const grove_group *g) { return g ? g->nfinished : 0; }

int grove_group_free(grove_group *g)
{
    if (!g)
        return -EINVAL;
    if (g->nrunning || !grove__list_empty(&g->waiters))
        return -EBUSY;
    grove__list *n;
    while ((n = grove__list_pop(&g->finished))) {
        member *m = grove__container_of(n, member, link);
        grove_join(m->t, NULL); /* finished: never waits */
        free(m);
    }
    free(g);
    return 0;
}
