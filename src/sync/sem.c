/* Semaphore, mutex, condition variable and wait group.
 *
 * Fairness comes from handing off: a release with waiters gives its unit (or the mutex)
 * straight to the longest waiter instead of raising the count, so a thread that arrives
 * later can never take it first.
 */
#include "sync/sync.h"

#include <limits.h>

/* ---- Semaphore ---------------------------------------------------------------------- */

int grove_sem_init(grove_sem *s, long count)
{
    if (!s || count < 0)
        return -EINVAL;
    grove__list_init(WL(&s->waiters_));
    s->count_ = count;
    s->bound_ = -1;
    return 0;
}

int grove_sem_init_bounded(grove_sem *s, long count)
{
    int rc = grove_sem_init(s, count);
    if (rc == 0)
        s->bound_ = count;
    return rc;
}

int grove_sem_destroy(grove_sem *s)
{
    if (!s)
        return -EINVAL;
    return grove__list_empty(WL(&s->waiters_)) ? 0 : -EBUSY;
}

int grove_sem_try_acquire(grove_sem *s)
{
    if (!s)
        return -EINVAL;
    if (s->count_ > 0) {
        s->count_--;
        return 0;
    }
    return -EAGAIN;
}

int grove_sem_acquire(grove_sem *s)
{
    if (!s)
        return -EINVAL;
    if (s->count_ > 0) { /* count > 0 implies nobody waits */
        s->count_--;
        return 0;
    }
    return sync_wait(WL(&s->waiters_), "semaphore", NULL);
}

int grove_sem_release(grove_sem *s)
{
    if (!s)
        return -EINVAL;
    if (grove__wake_one(WL(&s->waiters_), 0, NULL))
        return 0;
    if ((s->bound_ >= 0 && s->count_ >= s->bound_) || s->count_ == LONG_MAX)
        return -EOVERFLOW;
    s->count_++;
    return 0;
}

long grove_sem_count(const grove_sem *s) { return s ? s->count_ : 0; }
size_t grove_sem_waiting(const grove_sem *s) { return s ? grove__list_count(WL_C(&s->waiters_)) : 0; }

/* ---- Mutex -------------------------------------------------------------------------- */

int grove_mutex_init(grove_mutex *m)
{
    if (!m)
        return -EINVAL;
    grove__list_init(WL(&m->waiters_));
    m->owner_ = NULL;
    return 0;
}

int grove_mutex_destroy(grove_mutex *m)
{
    if (!m)
        return -EINVAL;
    return m->owner_ || !grove__list_empty(WL(&m->waiters_)) ? -EBUSY : 0;
}

/* A mutex's owner_ is the public handle of its owner, so a thread that ends holding it is
 * never mistaken for a later one that reuses its stack. */

int grove_mutex_trylock(grove_mutex *m)
{
    if (!m)
        return -EINVAL;
    grove__thread *self = grove__self();
    if (!self)
        return -ENOMEM;
    if (m->owner_)
        return -EBUSY;
    m->owner_ = grove__handle_of(self);
    return 0;
}

static int lock(grove_mutex *m, int interruptible)
{
    grove__thread *self = grove__self();
    if (!self)
        return -ENOMEM;
    if (!m->owner_) {
        m->owner_ = grove__handle_of(self);
        return 0;
    }
    if (m->owner_ == grove__handle_of(self))
        return -EDEADLK;
    grove__waiter w;
    grove__waiter_init(&w);
    w.nointr = !interruptible;
    if (interruptible) {
        int rc = grove__check(self);
        if (rc)
            return rc;
    }
    grove__list_push(WL(&m->waiters_), &w.link);
    int rc = grove__park(&w, "mutex");
    /* On success the unlocker made us the owner (handoff). */
    return rc;
}

int grove_mutex_lock(grove_mutex *m)
{
    if (!m)
        return -EINVAL;
    return lock(m, 1);
}

int grove_mutex_unlock(grove_mutex *m)
{
    if (!m)
        return -EINVAL;
    grove__thread *self = grove__self();
    if (!self || m->owner_ != grove__handle_of(self))
        return -EPERM;
    grove__waiter *w = first_waiter(WL(&m->waiters_));
    m->owner_ = w ? grove__handle_of(w->t) : NULL;
    if (w)
        grove__wake(w, 0, NULL);
    return 0;
}

/* ---- Condition variable -------------------------------------------------------------- */

int grove_cond_init(grove_cond *c)
{
    if (!c)
        return -EINVAL;
    grove__list_init(WL(&c->waiters_));
    return 0;
}

int grove_cond_destroy(grove_cond *c)
{
    if (!c)
        return -EINVAL;
    return grove__list_empty(WL(&c->waiters_)) ? 0 : -EBUSY;
}

int grove_cond_wait(grove_cond *c, grove_mutex *m)
{
    if (!c || !m)
        return -EINVAL;
    grove__thread *self = grove__self();
    if (!self || m->owner_ != grove__handle_of(self))
        return -EPERM;
    grove__waiter w;
    grove__waiter_init(&w);
    int rc = grove__check(self);
    if (rc == 0) {
        grove__list_push(WL(&c->waiters_), &w.link);
        grove_mutex_unlock(m);
        rc = grove__park(&w, "cond");
    } else {
        return rc; /* never released the mutex */
    }
    /* Take the mutex back whatever happened; this wait ignores kill and timeouts (their
     * error is already in rc), except a deadlock, which leaves the mutex unheld. */
    int lrc = lock(m, 0);
    if (m->owner_ != grove__handle_of(self)) /* whatever lock said (-ETIMEDOUT...): never claim it is held */
        return lrc == -ENOMEM ? lrc : -EDEADLK;
    return rc;
}

int grove_cond_signal(grove_cond *c)
{
    if (!c)
        return -EINVAL;
    return grove__wake_one(WL(&c->waiters_), 0, NULL);
}

int grove_cond_broadcast(grove_cond *c)
{
    if (!c)
        return -EINVAL;
    return (int)grove__wake_all(WL(&c->waiters_), 0, NULL);
}

/* ---- Wait group ------------------------------------------------------------------------ */

int grove_waitgroup_init(grove_waitgroup *wg)
{
    if (!wg)
        return -EINVAL;
    grove__list_init(WL(&wg->waiters_));
    wg->count_ = 0;
    return 0;
}

int grove_waitgroup_add(grove_waitgroup *wg, long delta)
{
    long sum;
    if (!wg)
        return -EINVAL;
    if (__builtin_add_overflow(wg->count_, delta, &sum))
        return delta > 0 ? -EOVERFLOW : -EINVAL;
    if (sum < 0)
        return -EINVAL;
    wg->count_ = sum;
    if (wg->count_ == 0)
        grove__wake_all(WL(&wg->waiters_), 0, NULL);
    return 0;
}

int grove_waitgroup_done(grove_waitgroup *wg) { return grove_waitgroup_add(wg, -1); }

int grove_waitgroup_wait(grove_waitgroup *wg)
{
    if (!wg)
        return -EINVAL;
    while (wg->count_ > 0) {
        int rc = sync_wait(WL(&wg->waiters_), "waitgroup", NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}
