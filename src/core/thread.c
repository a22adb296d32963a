/* Green threads: spawn, exit, join, kill, link, sleep, yield.
 *
 * The grove_thread record lives at the top of the thread's own stack (stack.c), so a
 * spawn is one cache pop plus a few stores, and a joinable thread's record stays valid
 * until it is joined or detached, exactly like its stack.
 */
#include "core/hub.h"

#include <stdio.h>

#ifdef GROVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

static _Noreturn void thread_entry(grove_thread *t);

static grove_thread *spawn(grove__hub *h, size_t stack_size, const char *name)
{
    grove_thread *t = grove__stack_alloc(h, stack_size ? stack_size : grove__stack_size_for_hub(h));
    if (grove__unlikely(!t)) {
        errno = ENOMEM;
        return NULL;
    }
    t->hub = h;
    t->id = h->next_id++;
    t->sleep_timer.idx = GROVE__TIMER_IDLE;
    grove__list_init(&t->exit_waiters);
    t->links_tail = &t->links;
    if (name) {
        strncpy(t->name, name, sizeof t->name - 1);
    }
    grove__ctx_make(t, thread_entry);
    grove__list_push(&h->all, &t->all);
    h->nlive++;
    return t;
}

grove_thread *grove_spawn_opts(const grove_spawn_attr *attr, void *(*fn)(void *), void *arg)
{
    if (!fn ||
        (attr && attr->stack_size && (attr->stack_size < GROVE_STACK_MIN || attr->stack_size > GROVE__STACK_MAX))) {
        errno = EINVAL;
        return NULL;
    }
    grove__hub *h = grove__hub_get();
    if (!h)
        return NULL;
    grove_thread *t = spawn(h, attr ? attr->stack_size : 0, attr ? attr->name : NULL);
    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    t->joinable = 1;
    if (attr && attr->service) {
        t->daemon = 1;
        h->nlive--;
    }
    grove__ready(h, t);
    return t;
}

grove_thread *grove_spawn(void *(*fn)(void *), void *arg) { return grove_spawn_opts(NULL, fn, arg); }

grove_thread *grove__spawn_daemon(void *(*fn)(void *), void *arg, const char *name)
{
    grove_spawn_attr at = {.name = name, .service = 1};
    return grove_spawn_opts(&at, fn, arg);
}

grove_thread *grove__spawn_n_thread(void (*fn)(void *), void *arg)
{
    grove__hub *h = grove__hub_get();
    if (!h)
        return NULL;
    grove_thread *t = spawn(h, 0, NULL);
    if (!t)
        return NULL;
    t->fn_n = fn;
    t->arg = arg;
    grove__ready(h, t);
    return t;
}

int grove_spawn_n(void (*fn)(void *), void *arg)
{
    if (!fn)
        return -EINVAL;
    return grove__spawn_n_thread(fn, arg) ? 0 : -ENOMEM;
}

static void start_later(grove__timer *tm)
{
    grove_thread *t = grove__container_of(tm, grove_thread, sleep_timer);
    grove__ready(t->hub, t);
}

grove_thread *grove_spawn_after(int64_t delay_ns, void *(*fn)(void *), void *arg)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    grove__hub *h = grove__hub_get();
    if (!h)
        return NULL;
    grove_thread *t = spawn(h, 0, NULL);
    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    t->joinable = 1;
    if (delay_ns <= 0) {
        grove__ready(h, t);
        return t;
    }
    if (grove__timer_add(h, &t->sleep_timer, grove__deadline(delay_ns), start_later) != 0) {
        grove__list_remove(&t->all);
        h->nlive--;
        grove__stack_free(h, t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

/* ---- Exit ------------------------------------------------------------------------------ */

/* Gives t's stack back. The record stays readable while the stack sits in the cache: it
 * is marked released so a second join or detach through a stale handle gets -EINVAL
 * instead of freeing the stack twice (two later spawns would share it). */
static void release(grove__hub *h, grove_thread *t)
{
    t->joinable = 0;
    t->detached = 0;
    t->released = 1;
    grove__stack_free(h, t);
}

static _Noreturn void thread_exit(grove__hub *h, grove_thread *t)
{
    /* Scopes fn left open live in frames that have returned: drop them without reading
     * them (their timers must never fire on this record once it is reused). */
    if (grove__unlikely(t->scopes || t->fired))
        grove__timeout_drop_thread(h, t);

    /* Exit hook and link callbacks run on this stack; switch points inside them fail. */
    t->killed |= 2;
    if ((t->exit_hook != NULL) | (t->links != NULL) | (t->locals != NULL)) { /* one test in the common case */
        if (t->exit_hook)
            t->exit_hook(t, t->exit_arg);
        grove__link_cb *l = t->links;
        while (l) {
            grove__link_cb *next = l->next;
            l->cb(t, l->arg);
            free(l);
            l = next;
        }
        t->links = NULL;
        if (t->locals)
            grove__local_finish(t); /* green-local destructors, after the link callbacks */
        if (t->scopes || t->fired)
            grove__timeout_drop_thread(h, t); /* scopes a callback or destructor left open */
    }
    t->shield = 0;

    t->state = GROVE__DONE;
    grove__wake_all(&t->exit_waiters, 0, NULL);
    grove__list_remove(&t->all);
    if (!t->daemon)
        h->nlive--;
    if (!grove__list_empty(&h->wait_all))
        grove__wake_all(&h->wait_all, 0, NULL);

    if (!t->joinable || t->detached) {
        /* Nobody will join: recycle the stack. Pushing it on the cache while still running
         * on it is safe because nothing reuses it before we have switched away. */
        if (grove__stack_can_cache(h, t)) {
            release(h, t);
        } else {
            GROVE_ASSERT(h->zombie == NULL);
            h->zombie = t;                /* the loop unmaps it */
            h->ticks = GROVE__POLL_EVERY; /* make grove__schedule pick the loop */
        }
    }
    grove__schedule(h);
    GROVE_ASSERT(!"a finished green thread was resumed");
    abort();
}

static _Noreturn void thread_entry(grove_thread *t)
{
    grove__hub *h = t->hub;
#ifdef GROVE_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    *h->errno_ptr = 0;
    t->started = 1;
    if (!t->killed) {
        t->ran = 1;
        if (t->fn)
            t->result = t->fn(t->arg);
        else
            t->fn_n(t->arg);
    }
    thread_exit(h, t);
}

/* ---- Join, detach, kill, link ----------------------------------------------------------- */

int grove_join(grove_thread *t, void **result)
{
    grove__hub *h = grove__hub_get();
    if (!t || !h || t == h->current || !t->joinable || t->detached || t->joined || t->hub != h)
        return -EINVAL;
    if (t->state != GROVE__DONE) {
        grove__waiter w;
        grove__waiter_init(&w);
        grove__list_push(&t->exit_waiters, &w.link);
        t->joined = 1; /* a second concurrent join gets -EINVAL */
        int rc = grove__park(&w, "join");
        t->joined = 0;
        if (rc < 0)
            return rc;
    }
    if (result)
        *result = t->result;
    release(h, t);
    return 0;
}

int grove_detach(grove_thread *t)
{
    if (!t || !t->joinable || t->detached || t->joined)
        return -EINVAL;
    t->detached = 1;
    if (t->state == GROVE__DONE)
        release(t->hub, t);
    return 0;
}

int grove_kill_nowait(grove_thread *t)
{
    if (!t || t->is_hub)
        return -EINVAL;
    if (t->state == GROVE__DONE)
        return 0;
    t->killed |= 1;
    if (t->state == GROVE__NEW && grove__timer_active(&t->sleep_timer)) {
        grove__timer_del(t->hub, &t->sleep_timer); /* spawn_after: cancel the start */
        grove__ready(t->hub, t);
    } else if (t->state == GROVE__PARKED && grove__check(t)) {
        grove__interrupt(t, -ECANCELED); /* a shielded t sees it when the shield ends */
    }
    return 0;
}

int grove_kill(grove_thread *t)
{
    grove__hub *h = grove__hub_get();
    if (!t || !h || t->is_hub)
        return -EINVAL;
    if (t == h->current) {
        t->killed |= 1;
        return -ECANCELED;
    }
    grove_kill_nowait(t);
    /* A cleanup path: the wait is shielded, so a killed or timed-out caller still waits
     * for t to be gone (bound it with a timeout scope inside a shield of your own). */
    grove_thread *self = h->current;
    unsigned sh = grove__shield_enter(self);
    int rc = 0;
    while (t->state != GROVE__DONE && rc == 0)
        rc = grove__wait_on(&t->exit_waiters, "kill", NULL);
    grove__shield_leave(self, sh);
    return rc < 0 ? rc : 0;
}

int grove_link(grove_thread *t, void (*cb)(grove_thread *, void *), void *arg)
{
    if (!t || !cb || t->is_main || t->is_hub)
        return -EINVAL;
    if (t->state == GROVE__DONE) {
        cb(t, arg);
        return 0;
    }
    grove__link_cb *l = grove__malloc(sizeof *l);
    if (!l)
        return -ENOMEM;
    l->next = NULL;
    l->cb = cb;
    l->arg = arg;
    *t->links_tail = l;
    t->links_tail = &l->next;
    return 0;
}

bool grove_thread_done(const grove_thread *t) { return t && t->state == GROVE__DONE; }
void *grove_thread_result(const grove_thread *t) { return t ? t->result : NULL; }
bool grove_thread_killed(const grove_thread *t) { return t && (t->killed & 1); }

grove_thread *grove_self(void)
{
    grove__hub *h = grove__hub_get();
    return h ? h->current : NULL;
}

int grove_is_green(void)
{
    grove__hub *h = grove__tls_hub;
    return h != NULL && h->current != h->loop;
}

uint64_t grove_thread_id(const grove_thread *t) { return t ? t->id : 0; }

int grove_thread_set_name(grove_thread *t, const char *name)
{
    if (!t || !name)
        return -EINVAL;
    size_t n = strlen(name);
    if (n >= sizeof t->name)
        n = sizeof t->name - 1;
    memcpy(t->name, name, n);
    t->name[n] = 0;
    return 0;
}

const char *grove_thread_name(const grove_thread *t)
{
    if (!t)
        return "";
    if (!t->name[0]) {
        /* Named lazily so spawn stays cheap; the record is ours to write. */
        snprintf(((grove_thread *)t)->name, sizeof t->name, "thread-%llu", (unsigned long long)t->id);
    }
    return t->name;
}

size_t grove_thread_count(void)
{
    grove__hub *h = grove__hub_peek();
    return h ? h->nlive : 0;
}

int grove_wait_all(void)
{
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    grove_thread *self = h->current;
    size_t mine = self->is_main ? 0 : 1;
    while (h->nlive > mine) {
        int rc = grove__wait_on(&h->wait_all, "wait_all", NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- Sleep and yield ------------------------------------------------------------------- */

static void wake_sleeper(grove__timer *tm)
{
    grove_thread *t = grove__container_of(tm, grove_thread, sleep_timer);
    if (t->parked_on)
        grove__wake(t->parked_on, 0, NULL);
}

int grove_sleep(int64_t ns)
{
    if (ns <= 0)
        return grove_yield();
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    grove_thread *t = h->current;
    int rc = grove__check(t);
    if (rc)
        return rc;
    if (grove__timer_add(h, &t->sleep_timer, grove__deadline(ns), wake_sleeper) != 0)
        return -ENOMEM;
    grove__waiter w;
    grove__waiter_init(&w);
    rc = grove__park(&w, "sleep");
    if (rc < 0)
        grove__timer_del(h, &t->sleep_timer);
    return rc < 0 ? rc : 0;
}
