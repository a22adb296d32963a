/* Green threads: spawn, exit, join, kill, link, sleep, yield.
 *
 * The grove__thread record lives at the top of the thread's own stack (stack.c), so a
 * spawn is one cache pop plus a few stores, and a joinable thread's record stays valid
 * until it is joined or detached, exactly like its stack. The API hands out handles, not
 * records (core/thread.h, handle.c): every public function taking a grove_thread * looks
 * it up first, so a stale handle (a thread already released, whatever reuses its stack
 * or slot since) or one of another hub gets -EINVAL and never reaches a record.
 */
#include "core/hub.h"

#include <stdio.h>

#ifdef GROVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

static _Noreturn void thread_entry(grove__thread *t);

static grove__thread *spawn(grove__hub *h, size_t stack_size, const char *name)
{
    grove__thread *t = grove__stack_alloc(h, stack_size ? stack_size : grove__stack_size_for_hub(h));
    if (grove__unlikely(!t)) {
        errno = ENOMEM;
        return NULL;
    }
    if (grove__unlikely(grove__handle_attach(h, t) != 0)) {
        grove__stack_free(h, t);
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
    grove__thread *t = spawn(h, attr ? attr->stack_size : 0, attr ? attr->name : NULL);
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
    return grove__handle_of(t);
}

grove_thread *grove_spawn(void *(*fn)(void *), void *arg) { return grove_spawn_opts(NULL, fn, arg); }

grove_thread *grove__spawn_daemon(void *(*fn)(void *), void *arg, const char *name)
{
    grove_spawn_attr at = {.name = name, .service = 1};
    return grove_spawn_opts(&at, fn, arg);
}

grove__thread *grove__spawn_n_thread(void (*fn)(void *), void *arg)
{
    grove__hub *h = grove__hub_get();
    if (!h)
        return NULL;
    grove__thread *t = spawn(h, 0, NULL);
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
    grove__thread *t = grove__container_of(tm, grove__thread, sleep_timer);
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
    grove__thread *t = spawn(h, 0, NULL);
    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    t->joinable = 1;
    if (delay_ns <= 0) {
        grove__ready(h, t);
        return grove__handle_of(t);
    }
    if (grove__timer_add(h, &t->sleep_timer, grove__deadline(delay_ns), start_later) != 0) {
        grove__list_remove(&t->all);
        h->nlive--;
        grove__slot_release(h, t->slot);
        grove__stack_free(h, t);
        errno = ENOMEM;
        return NULL;
    }
    return grove__handle_of(t);
}

/* ---- Exit ------------------------------------------------------------------------------ */

/* Gives t's stack back, and its handle: from now on every call through the handle gets
 * -EINVAL (the record is never reached again), so a second join or detach can never free
 * the stack twice, whatever thread the stack or the slot serves next. */
static inline void release(grove__hub *h, grove__thread *t)
{
    grove__slot_release(h, t->slot);
    grove__stack_free(h, t);
}

static _Noreturn void thread_exit(grove__hub *h, grove__thread *t)
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
            l->cb(grove__handle_of(t), l->arg);
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
            grove__slot_release(h, t->slot);
            GROVE_ASSERT(h->zombie == NULL);
            h->zombie = t;                /* the loop unmaps it */
            h->ticks = GROVE__POLL_EVERY; /* make grove__schedule pick the loop */
        }
    }
    grove__schedule(h);
    GROVE_ASSERT(!"a finished green thread was resumed");
    abort();
}

static _Noreturn void thread_entry(grove__thread *t)
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

int grove_join(grove_thread *handle, void **result)
{
    grove__thread *t = grove__thread_get(handle); /* NULL also when the caller has no hub */
    if (!t)
        return -EINVAL;
    grove__hub *h = grove__tls_hub; /* t's own: grove__thread_get checked */
    if (t == h->current || !t->joinable || t->detached || t->joined)
        return -EINVAL;
    if (t->state != GROVE__DONE) {
        grove__waiter w;
        grove__waiter_init(&w);
        grove__list_push(&t->exit_waiters, &w.link);
        t->joined = 1; /* a second concurrent join gets -EINVAL; t is not released meanwhile */
        int rc = grove__park(&w, "join");
        t->joined = 0;
        if (rc < 0)
            return rc;
    }
    if (result)
        *result = t->result;
    release(h, t); /* the handle is still t's: a thread being joined is never released */
    return 0;
}

int grove_detach(grove_thread *handle)
{
    grove__thread *t = grove__thread_get(handle);
    if (!t || !t->joinable || t->detached || t->joined)
        return -EINVAL;
    t->detached = 1;
    if (t->state == GROVE__DONE)
        release(t->hub, t);
    return 0;
}

static void kill_nowait(grove__thread *t)
{
    if (t->state == GROVE__DONE)
        return;
    t->killed |= 1;
    if (t->state == GROVE__NEW && grove__timer_active(&t->sleep_timer)) {
        grove__timer_del(t->hub, &t->sleep_timer); /* spawn_after: cancel the start */
        grove__ready(t->hub, t);
    } else if (t->state == GROVE__PARKED && grove__check(t)) {
        grove__interrupt(t, -ECANCELED); /* a shielded t sees it when the shield ends */
    }
}

int grove_kill_nowait(grove_thread *handle)
{
    grove__thread *t = grove__thread_get(handle);
    if (!t || t->is_hub)
        return -EINVAL;
    kill_nowait(t);
    return 0;
}

int grove_kill(grove_thread *handle)
{
    grove__thread *t = grove__thread_get(handle);
    if (!t || t->is_hub)
        return -EINVAL;
    grove__hub *h = t->hub;
    if (t == h->current) {
        t->killed |= 1;
        return -ECANCELED;
    }
    kill_nowait(t);
    /* A cleanup path: the wait is shielded, so a killed or timed-out caller still waits
     * for t to be gone (bound it with a timeout scope inside a shield of your own). A
     * detached or fire-and-forget t is released as it finishes: the record is looked up
     * again after every wake-up, never read once the handle is stale. */
    grove__thread *self = h->current;
    unsigned sh = grove__shield_enter(self);
    int rc = 0;
    while (rc == 0 && (t = grove__thread_get(handle)) != NULL && t->state != GROVE__DONE)
        rc = grove__wait_on(&t->exit_waiters, "kill", NULL);
    grove__shield_leave(self, sh);
    return rc < 0 ? rc : 0;
}

int grove_link(grove_thread *handle, void (*cb)(grove_thread *, void *), void *arg)
{
    grove__thread *t = grove__thread_get(handle);
    if (!t || !cb || t->is_main || t->is_hub)
        return -EINVAL;
    if (t->state == GROVE__DONE) {
        cb(handle, arg);
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

/* A stale handle names a thread that has finished and was released: done, no result. */
bool grove_thread_done(const grove_thread *handle)
{
    const grove__thread *t = grove__thread_get(handle);
    return t ? t->state == GROVE__DONE : handle != NULL;
}

void *grove_thread_result(const grove_thread *handle)
{
    const grove__thread *t = grove__thread_get(handle);
    return t ? t->result : NULL;
}

bool grove_thread_killed(const grove_thread *handle)
{
    const grove__thread *t = grove__thread_get(handle);
    return t && (t->killed & 1);
}

grove_thread *grove_self(void)
{
    grove__hub *h = grove__hub_get();
    return h ? grove__handle_of(h->current) : NULL;
}

int grove_is_green(void)
{
    grove__hub *h = grove__tls_hub;
    return h != NULL && h->current != h->loop;
}

uint64_t grove_thread_id(const grove_thread *handle)
{
    const grove__thread *t = grove__thread_get(handle);
    return t ? t->id : 0;
}

int grove_thread_set_name(grove_thread *handle, const char *name)
{
    grove__thread *t = grove__thread_get(handle);
    if (!t || !name)
        return -EINVAL;
    size_t n = strlen(name);
    if (n >= sizeof t->name)
        n = sizeof t->name - 1;
    memcpy(t->name, name, n);
    t->name[n] = 0;
    return 0;
}

const char *grove__thread_name(grove__thread *t)
{
    if (!t->name[0]) /* named lazily so spawn stays cheap */
        snprintf(t->name, sizeof t->name, "thread-%llu", (unsigned long long)t->id);
    return t->name;
}

const char *grove_thread_name(const grove_thread *handle)
{
    grove__thread *t = grove__thread_get(handle);
    return t ? grove__thread_name(t) : "";
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
    grove__thread *self = h->current;
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
    grove__thread *t = grove__container_of(tm, grove__thread, sleep_timer);
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
    grove__thread *t = h->current;
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
