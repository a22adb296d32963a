/* Timeout scopes (eventlet's `with Timeout(t):`).
 *
 * A scope is a timer plus a link in its thread's chain of scopes. When the timer fires,
 * the owner's count of fired scopes goes up and, if it is parked, it is woken with
 * -ETIMEDOUT; every switch point checks that count (grove__check), so all of them fail
 * inside a fired scope. Ending the scope takes its share of the count back, so code
 * after an inner scope that fired runs normally unless an outer scope has fired too.
 *
 * Shield scopes are a depth per thread. Each timeout scope records the depth it was
 * started at; inside a shield of depth d, only kill-free checks apply and only scopes
 * started at depth >= d count (those opened inside the shield). The fast path of
 * grove__check tests the two counters only; this file's slow path applies the shield.
 */
#include "core/hub.h"

#include <limits.h>

_Static_assert(sizeof(struct grove_timeout_impl) <= sizeof(grove_timeout), "grove_timeout too small");
_Static_assert(_Alignof(struct grove_timeout_impl) <= _Alignof(grove_timeout), "grove_timeout misaligned");

static void fire(grove__timer *tm)
{
    struct grove_timeout_impl *s = grove__container_of(tm, struct grove_timeout_impl, tm);
    grove__thread *t = s->owner;
    if (!t || s->fired)
        return;
    s->fired = 1;
    t->fired++;
    if (grove__check(t)) /* not held off by a shield opened after this scope */
        grove__interrupt(t, -ETIMEDOUT);
}

int grove__check_slow(const grove__thread *t)
{
    if (t->killed & 2)
        return -ECANCELED; /* exiting: link callbacks never block, shield or not */
    unsigned d = t->shield;
    if (t->killed && !d)
        return -ECANCELED;
    if (t->fired) {
        if (!d)
            return -ETIMEDOUT;
        /* Scopes opened inside the innermost shield are at the head of the chain. */
        for (const struct grove_timeout_impl *s = t->scopes; s && s->shield >= d; s = s->parent)
            if (s->fired)
                return -ETIMEDOUT;
    }
    return 0;
}

int grove_shield_begin(void)
{
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    grove__thread *t = h->current;
    if (t->shield == UINT_MAX)
        return -EOVERFLOW;
    t->shield++;
    return 0;
}

int grove_shield_end(void)
{
    grove__hub *h = grove__hub_peek();
    if (!h || !h->current->shield)
        return -EINVAL;
    h->current->shield--;
    return 0;
}

int grove_timeout_start(grove_timeout *to, int64_t ns)
{
    if (!to)
        return -EINVAL;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    grove__thread *t = h->current;
    struct grove_timeout_impl *s = (struct grove_timeout_impl *)to;
    s->tm.idx = GROVE__TIMER_IDLE;
    s->fired = 0;
    s->owner = t;
    s->shield = t->shield;
    if (ns == 0) {
        s->fired = 1; /* fires at the next switch point */
        t->fired++;
    } else if (ns > 0) {
        if (grove__timer_add(h, &s->tm, grove__deadline(ns), fire) != 0)
            return -ENOMEM;
    }
    s->parent = t->scopes;
    t->scopes = s;
    return 0;
}

/* A deadline that passed counts even if the hub has not run its timers since (a thread
 * that never switched, or one in a busy run queue): checked against the clock. */
static int due(const struct grove_timeout_impl *s, int64_t now)
{
    return !s->fired && grove__timer_active(&s->tm) && s->tm.deadline <= now;
}

void grove__timeout_poll(grove__hub *h, grove__thread *t)
{
    int64_t now = grove_now();
    for (struct grove_timeout_impl *s = t->scopes; s; s = s->parent) {
        if (due(s, now)) {
            grove__timer_del(h, &s->tm);
            fire(&s->tm);
        }
    }
}

bool grove_timeout_end(grove_timeout *to)
{
    if (!to)
        return false;
    struct grove_timeout_impl *s = (struct grove_timeout_impl *)to;
    grove__thread *t = s->owner;
    if (t && !s->fired && grove__timer_active(&s->tm) && due(s, grove_now())) { /* clock only if armed */
        grove__timer_del(t->hub, &s->tm);
        fire(&s->tm); /* t is running: this only marks it */
    }
    bool fired = s->fired;
    if (!t)
        return fired; /* already ended */
    if (grove__timer_active(&s->tm))
        grove__timer_del(t->hub, &s->tm);
    if (fired)
        t->fired--;
    /* Unlink from the chain; normally s is the innermost scope. */
    for (struct grove_timeout_impl **pp = &t->scopes; *pp; pp = &(*pp)->parent) {
        if (*pp == s) {
            *pp = s->parent;
            break;
        }
    }
    s->owner = NULL;
    return fired;
}

bool grove_timeout_fired(const grove_timeout *to)
{
    const struct grove_timeout_impl *s = (const struct grove_timeout_impl *)to;
    return s && (s->fired || (s->owner && grove__timer_active(&s->tm) && due(s, grove_now())));
}

struct drop_ctx {
    grove__thread *t;
    const char *lo, *hi;
};

static int drop_dead(grove__timer *tm, void *arg)
{
    struct drop_ctx *c = arg;
    const char *a = (const char *)tm;
    if (a >= c->lo && a < c->hi)
        return 1; /* in a returned frame of t's stack: never read it */
    if (tm->cb != fire)
        return 0;
    struct grove_timeout_impl *s = grove__container_of(tm, struct grove_timeout_impl, tm);
    if (s->owner != c->t)
        return 0;
    s->owner = NULL; /* a scope in memory that outlives t (heap, static): orphan it */
    tm->idx = GROVE__TIMER_IDLE;
    return 1;
}

void grove__timeout_drop_thread(grove__hub *h, grove__thread *t)
{
    if (!t->scopes && !t->fired)
        return;
    struct drop_ctx c = {t, t->stack_lo, t->stack_hi};
    grove__heap_filter(&h->timers, drop_dead, &c);
    t->scopes = NULL;
    t->fired = 0;
}
