/* The hub: one per OS thread, created lazily by the first Grove call that needs it.
 *
 * The OS thread's own context becomes the green thread "main"; the hub loop runs on a
 * green thread of its own. A thread that blocks picks the next runnable thread itself
 * (grove__schedule), so a busy run queue switches thread to thread without passing
 * through the loop; every GROVE__POLL_EVERY switches, and whenever nothing is runnable,
 * control goes to the loop, which fires timers, polls fds and detects deadlock.
 */
#include "core/hub.h"

#include <pthread.h>
#include <time.h>

#ifdef GROVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

__thread grove__hub *grove__tls_hub __attribute__((tls_model("initial-exec")));

static pthread_key_t g_hub_key;
static pthread_once_t g_hub_key_once = PTHREAD_ONCE_INIT;

#if defined(GROVE_ASAN)
#define LOOP_STACK ((size_t)256 * 1024)
#else
#define LOOP_STACK ((size_t)64 * 1024)
#endif

int64_t grove_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Switching ----------------------------------------------------------------------- */

static inline void switch_to(grove__hub *h, grove__thread *prev, grove__thread *next)
{
    if (grove__unlikely(prev->small_stack))
        grove__stack_check_canary(prev);
    prev->saved_errno = *h->errno_ptr;
    atomic_store_explicit(&h->switches, atomic_load_explicit(&h->switches, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    h->current = next;
    next->state = GROVE__RUNNING;
#ifdef GROVE_ASAN
    __sanitizer_start_switch_fiber(prev->state == GROVE__DONE ? NULL : &prev->asan_fake_stack, next->stack_lo,
                                   (size_t)((char *)next->stack_hi - (char *)next->stack_lo));
#endif
    grove__ctx_switch(prev, next);
#ifdef GROVE_ASAN
    __sanitizer_finish_switch_fiber(prev->asan_fake_stack, NULL, NULL);
#endif
    /* Running as prev again. */
    *h->errno_ptr = prev->saved_errno;
}

/* The run queue is empty or GROVE__POLL_EVERY switches have passed. A loop pass costs two
 * switches and a clock read; when it would find nothing to do (no timers, no fd or
 * cross-thread waits, no zombie stack) a busy run queue skips it and keeps going. Then
 * h->clock is not refreshed: park times in dumps may read a little long. */
static __attribute__((noinline)) grove__thread *pick_slow(grove__hub *h)
{
    if (h->ticks >= GROVE__POLL_EVERY && !grove__list_empty(&h->runq) && !h->zombie && !h->timers.n && !h->refs) {
        h->ticks = 0;
        /* A thread yielding to itself never switches: show the watchdog it is alive. */
        atomic_store_explicit(&h->switches, atomic_load_explicit(&h->switches, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return grove__container_of(grove__list_pop_fast(&h->runq), grove__thread, runq);
    }
    return h->loop;
}

static inline __attribute__((always_inline)) void schedule(grove__hub *h)
{
    grove__thread *prev = h->current, *next;
    grove__list *n;
    if (grove__likely(++h->ticks < GROVE__POLL_EVERY) && (n = grove__list_pop_fast(&h->runq)))
        next = grove__container_of(n, grove__thread, runq);
    else
        next = pick_slow(h);
    if (next == prev) {
        prev->state = GROVE__RUNNING;
        return;
    }
    switch_to(h, prev, next);
}

void grove__schedule(grove__hub *h) { schedule(h); }

/* The cheapest handoff, kept here so the scheduler inlines into it. */
int grove_yield(void)
{
    grove__hub *h = grove__hub_get();
    if (grove__unlikely(!h))
        return -ENOMEM;
    grove__thread *t = h->current;
    /* Inside a timeout scope, a yield loop sees its deadline exactly (a clock read per
     * yield), not at the hub's next timer pass up to GROVE__POLL_EVERY switches later.
     * Threads outside any scope pay one test. */
    if (grove__unlikely(t->scopes != NULL))
        grove__timeout_poll(h, t);
    int rc = grove__check(t);
    if (grove__unlikely(rc))
        return rc;
    grove__ready(h, t);
    schedule(h);
    return grove__check(t);
}

void grove_io_budget(void) { grove__io_budget_spend(); }

void grove__io_budget_yield(void)
{
    grove__hub *h = grove__tls_hub;
    grove__thread *t = h->current;
    t->io_streak = 0;
    if (t == h->loop || grove__check(t))
        return; /* the loop never yields; a cancelled caller fails at its next switch */
    /* Through the loop: the threads whose fds turned ready meanwhile are only seen when it
     * polls, and a busy run queue would reach it only every GROVE__POLL_EVERY switches. */
    h->ticks = GROVE__POLL_EVERY;
    grove__ready(h, t);
    schedule(h);
}

/* ---- Parking and waking ---------------------------------------------------------------- */

int grove__park(grove__waiter *w, const char *what)
{
    grove__hub *h = grove__tls_hub;
    grove__thread *t = h->current;
    int rc = w->nointr ? 0 : grove__check(t);
    if (grove__unlikely(rc)) {
        if (grove__list_linked(&w->link))
            grove__list_remove(&w->link);
        return rc;
    }
    if (w->woken)
        return w->result;
    w->t = t;
    t->io_streak = 0;
    t->parked_on = w;
    t->wait_what = what;
    t->park_since = h->clock; /* the loop's last clock reading: no syscall here */
    t->state = GROVE__PARKED;
    grove__schedule(h);
    t->parked_on = NULL;
    if (w->woken)
        return w->result;
    rc = grove__check(t);
    return rc ? rc : t->interrupt; /* -EDEADLK */
}

void grove__wake(grove__waiter *w, int result, void *value)
{
    if (grove__list_linked(&w->link))
        grove__list_remove(&w->link);
    w->woken = 1;
    w->result = result;
    w->value = value;
    grove__thread *t = w->t;
    if (t && t->state == GROVE__PARKED && t->parked_on == w) {
        t->parked_on = NULL;
        grove__ready(t->hub, t);
    }
}

int grove__wake_one(grove__list *waiters, int result, void *value)
{
    grove__list *n = grove__list_pop(waiters);
    if (!n)
        return 0;
    grove__waiter *w = grove__container_of(n, grove__waiter, link);
    grove__wake(w, result, value);
    return 1;
}

size_t grove__wake_all(grove__list *waiters, int result, void *value)
{
    size_t n = 0;
    while (grove__wake_one(waiters, result, value))
        n++;
    return n;
}

void grove__interrupt(grove__thread *t, int err)
{
    if (t->state != GROVE__PARKED)
        return;
    grove__waiter *w = t->parked_on;
    if (w && w->nointr)
        return; /* ends only when woken; the error shows at the next switch point */
    if (w && grove__list_linked(&w->link))
        grove__list_remove(&w->link);
    t->parked_on = NULL;
    t->interrupt = err;
    grove__ready(t->hub, t);
}

/* ---- The loop -------------------------------------------------------------------------- */

static void run_timers(grove__hub *h)
{
    grove__timer *tm = grove__heap_min(&h->timers);
    if (!tm)
        return;
    int64_t now = h->clock; /* read at the top of this loop pass */
    while ((tm = grove__heap_min(&h->timers)) && tm->deadline <= now) {
        grove__heap_remove(&h->timers, tm);
        tm->cb(tm);
    }
}

static void free_zombie(grove__hub *h)
{
    if (h->zombie) {
        grove__stack_free(h, h->zombie);
        h->zombie = NULL;
    }
}

/* Waits for I/O through the hub layer's hook, or just sleeps while nothing has attached
 * one (a program that only uses timers). */
static void io_wait(grove__hub *h, int64_t timeout_ns)
{
    if (h->io_poll)
        h->io_poll(h, timeout_ns);
    else
        grove__sys_sleep_ns(timeout_ns);
}

/* ---- Signals: libc's EINTR for waits that asked for it ------------------------------- */

void grove_eintr_signal(void)
{
    /* In a signal handler: one TLS load and an atomic add, both async-signal-safe. If the
     * hub sleeps in epoll_wait on this OS thread, the handler has interrupted it; else the
     * loop sees the count at its next pass (within GROVE__POLL_EVERY switches, as a
     * blocked thread implies an fd wait or a timer that keeps the loop passing). */
    grove__hub *h = grove__tls_hub;
    if (h)
        atomic_fetch_add_explicit(&h->sig_count, 1, memory_order_relaxed);
}

static void eintr_one(grove__thread *t)
{
    if (t->state == GROVE__PARKED && t->eintr && !t->shield)
        grove__interrupt(t, -EINTR);
}

static void signal_arrived(grove__hub *h)
{
    h->sig_seen = atomic_load_explicit(&h->sig_count, memory_order_relaxed);
    eintr_one(&h->main);
    for (grove__list *n = h->all.next; n != &h->all; n = n->next)
        eintr_one(grove__container_of(n, grove__thread, all));
}

int grove_eintr_begin(void)
{
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    h->current->eintr++;
    return 0;
}

int grove_eintr_end(void)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !h->current->eintr)
        return -EINVAL;
    h->current->eintr--;
    return 0;
}

static _Noreturn void hub_loop(grove__thread *self)
{
    grove__hub *h = self->hub;
#ifdef GROVE_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    for (;;) {
        h->ticks = 0;
        h->clock = grove_now();
        free_zombie(h);
        if (grove__unlikely(atomic_load_explicit(&h->sig_count, memory_order_relaxed) != h->sig_seen))
            signal_arrived(h);
        run_timers(h);
        if (grove__list_empty(&h->runq)) {
            int64_t wait = -1;
            grove__timer *tm = grove__heap_min(&h->timers);
            if (tm) {
                wait = tm->deadline - grove_now();
                if (wait < 0)
                    wait = 0;
            } else if (h->refs == 0) {
                /* Nothing runnable and nothing that could ever make anything runnable:
                 * main (always parked here) gets -EDEADLK instead of hanging forever. In
                 * a fork child whose main stayed in the parent, the process is done. */
                if (h->main_gone)
                    exit(0);
                GROVE_ASSERT(h->main.state == GROVE__PARKED);
                if (h->main.parked_on)
                    h->main.parked_on->nointr = 0; /* even an uninterruptible wait */
                grove__interrupt(&h->main, -EDEADLK);
                continue;
            }
            atomic_store_explicit(&h->in_poll, 1, memory_order_relaxed);
            io_wait(h, wait);
            atomic_store_explicit(&h->in_poll, 0, memory_order_relaxed);
            continue;
        }
        if (h->refs)
            io_wait(h, 0);
        grove__list *n = grove__list_pop(&h->runq);
        switch_to(h, self, grove__container_of(n, grove__thread, runq));
    }
}

/* ---- Registry and hooks ----------------------------------------------------------------- */

grove__hub *grove__hubs;
static pthread_mutex_t g_hubs_mu = PTHREAD_MUTEX_INITIALIZER;

void grove__hubs_lock(void) { pthread_mutex_lock(&g_hubs_mu); }
void grove__hubs_unlock(void) { pthread_mutex_unlock(&g_hubs_mu); }

static void hubs_add(grove__hub *h)
{
    pthread_mutex_lock(&g_hubs_mu);
    h->next_hub = grove__hubs;
    grove__hubs = h;
    pthread_mutex_unlock(&g_hubs_mu);
}

static void hubs_remove(grove__hub *h)
{
    pthread_mutex_lock(&g_hubs_mu);
    for (grove__hub **pp = &grove__hubs; *pp; pp = &(*pp)->next_hub)
        if (*pp == h) {
            *pp = h->next_hub;
            break;
        }
    pthread_mutex_unlock(&g_hubs_mu);
}

#define MAX_HOOKS 8
static grove__core_hooks g_hooks[MAX_HOOKS];
static _Atomic int g_nhooks;
static pthread_mutex_t g_hooks_mu = PTHREAD_MUTEX_INITIALIZER;

void grove__core_hooks_add(const grove__core_hooks *hooks)
{
    pthread_mutex_lock(&g_hooks_mu);
    int n = atomic_load(&g_nhooks);
    GROVE_ASSERT(n < MAX_HOOKS);
    g_hooks[n] = *hooks;
    atomic_store(&g_nhooks, n + 1);
    pthread_mutex_unlock(&g_hooks_mu);
}

static void run_created_hooks(grove__hub *h)
{
    int n = atomic_load(&g_nhooks);
    for (int i = 0; i < n; i++)
        if (g_hooks[i].hub_created)
            g_hooks[i].hub_created(h);
}

/* ---- fork ----------------------------------------------------------------------------------
 * The child of a fork() has one OS thread: the one that forked. Its hub (if it has one)
 * carries on with only the green thread that called fork; every other green thread of
 * it is dropped as if it had stopped for good where it was (its waits are unlinked, its
 * timers removed; joining it returns at once; its memory is left alone, shared
 * copy-on-write with the parent). Hubs of other OS threads are forgotten, and their
 * threads' handles go stale (their slots go back to the handle table). The hub layer
 * then gives the hub a new poller and wake-up fd (h->io_fork), and upper layers reset
 * their own state through their fork_child hooks (the tpool, the watchdog).
 * Registered with pthread_atfork when the first hub is made, so a plain fork() does all
 * this as well as grove_fork(). */

static void fork_prepare(void)
{
    pthread_mutex_lock(&g_hubs_mu);
    grove__handle_fork_prepare();
}

static void fork_parent(void)
{
    grove__handle_fork_parent();
    pthread_mutex_unlock(&g_hubs_mu);
}

static void drop_thread(grove__hub *h, grove__thread *t)
{
    if (t->state == GROVE__READY)
        grove__list_remove(&t->runq);
    if (t->parked_on && grove__list_linked(&t->parked_on->link))
        grove__list_remove(&t->parked_on->link);
    t->parked_on = NULL;
    t->state = GROVE__DONE;
    t->scopes = NULL;
    t->fired = 0;
}

static void fork_child(void)
{
    pthread_mutex_init(&g_hubs_mu, NULL);
    pthread_mutex_init(&g_hooks_mu, NULL);
    grove__hub *h = grove__tls_hub;
    grove__handle_fork_child(h); /* the other hubs' threads: stale handles */
    grove__hubs = NULL;
    if (h) {
        h->next_hub = NULL;
        grove__hubs = h;
        h->os_tid = (unsigned long)pthread_self();
        grove__thread *self = h->current;
        /* Timers: keep only the forking thread's timeout scopes. */
        for (size_t i = 0; i < h->timers.n; i++)
            h->timers.v[i]->idx = GROVE__TIMER_IDLE;
        h->timers.n = 0;
        for (grove__list *n = h->all.next, *next; n != &h->all; n = next) {
            next = n->next;
            grove__thread *t = grove__container_of(n, grove__thread, all);
            if (t == self)
                continue;
            drop_thread(h, t);
            grove__list_remove(&t->all);
            if (!t->daemon)
                h->nlive--;
            grove__list_init(&t->exit_waiters);
        }
        if (self != &h->main) {
            drop_thread(h, &h->main);
            h->main_gone = 1;
        }
        grove__list_init(&h->runq);
        grove__list_init(&h->wait_all);
        for (struct grove_timeout_impl *s = self->scopes; s; s = s->parent)
            if (!s->fired)
                (void)grove__timer_add(h, &s->tm, s->tm.deadline, s->tm.cb);
        h->refs = 0;
        if (h->io_fork)
            (void)h->io_fork(h);
    }
    int n = atomic_load(&g_nhooks);
    for (int i = 0; i < n; i++)
        if (g_hooks[i].fork_child)
            g_hooks[i].fork_child();
}

static void make_key(void);

pid_t grove_fork(void)
{
    pthread_once(&g_hub_key_once, make_key);
    pid_t pid = fork();
    return pid < 0 ? -errno : pid;
}

/* ---- Hub life cycle ------------------------------------------------------------------- */

static void hub_destroy(void *p)
{
    grove__hub *h = p;
    if (!h)
        return;
    hubs_remove(h);
    if (h->main.locals)
        grove__local_finish(&h->main); /* the OS thread's own green-local values */
    free_zombie(h);
    if (h->loop)
        grove__stack_free(h, h->loop);
    grove__stack_cache_drain(h);
    if (h->io_close)
        h->io_close(h);
    grove__heap_free(&h->timers);
    grove__handle_hub_gone(h); /* handles of threads never joined go stale too */
    if (grove__tls_hub == h)
        grove__tls_hub = NULL;
    free(h);
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void make_key(void)
{
    (void)pthread_key_create(&g_hub_key, hub_destroy);
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

grove__hub *grove__hub_create(void)
{
    pthread_once(&g_hub_key_once, make_key);
    size_t hs = (sizeof(grove__hub) + 63) & ~(size_t)63;
    grove__hub *h = grove__calloc(1, hs + GROVE__CTX_EXTRA);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    grove__list_init(&h->runq);
    grove__list_init(&h->wait_all);
    grove__list_init(&h->all);
    h->errno_ptr = &errno;
    h->next_id = 1;

    grove__thread *m = &h->main;
    m->hub = h;
    m->is_main = 1;
    m->started = 1;
    m->state = GROVE__RUNNING;
    m->joinable = 0;
    grove__list_init(&m->exit_waiters);
    m->links_tail = &m->links;
    m->sleep_timer.idx = GROVE__TIMER_IDLE;
    strcpy(m->name, "main");
    if (GROVE__CTX_EXTRA)
        m->ctx_impl = (char *)h + hs;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *lo;
        size_t sz;
        if (pthread_attr_getstack(&attr, &lo, &sz) == 0) {
            m->stack_lo = lo;
            m->stack_hi = (char *)lo + sz;
        }
        pthread_attr_destroy(&attr);
    }
    h->current = m;

    grove__stack_install_overflow_handler();
    grove__stack_thread_init();

    grove__thread *loop = NULL;
    if (grove__handle_attach(h, m) != 0) {
        errno = ENOMEM;
        goto fail_hub;
    }
    loop = grove__stack_alloc(h, LOOP_STACK); /* sets errno */
    if (!loop)
        goto fail_handles;
    if (grove__handle_attach(h, loop) != 0) {
        errno = ENOMEM;
        goto fail_loop;
    }
    loop->hub = h;
    loop->is_hub = 1;
    loop->started = 1;
    loop->sleep_timer.idx = GROVE__TIMER_IDLE;
    grove__list_init(&loop->exit_waiters);
    strcpy(loop->name, "hub");
    grove__ctx_make(loop, hub_loop);
    h->loop = loop;

    h->clock = grove_now();
    h->os_tid = (unsigned long)pthread_self();
    grove__tls_hub = h;
    pthread_setspecific(g_hub_key, h);
    hubs_add(h);
    run_created_hooks(h);
    return h;

fail_loop:
    grove__stack_free(h, loop);
    grove__stack_cache_drain(h);
fail_handles:
    grove__handle_hub_gone(h);
fail_hub:;
    int e = errno;
    free(h);
    errno = e;
    return NULL;
}

grove__hub *grove__hub_peek(void) { return grove__tls_hub; }

void grove__hub_ref(grove__hub *h) { h->refs++; }

void grove__hub_unref(grove__hub *h)
{
    GROVE_ASSERT(h->refs > 0);
    h->refs--;
}
