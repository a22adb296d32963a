/* The hub's internals: the scheduler, timers, stacks and the context switch, for core
 * and the hub layer (src/hub/) only. The layers above use core/thread.h; the inspector
 * (src/debug/) reads the hub's counters from here too.
 */
#ifndef GROVE_CORE_HUB_H
#define GROVE_CORE_HUB_H

#include "core/thread.h"

/* Run the hub's scheduler: called by a thread that has already arranged to be woken
 * (or is done). Switches to the next runnable thread, or to the hub. */
GROVE_HIDDEN void grove__schedule(grove__hub *h);

/* Timers of the caller's hub. grove__timer_add never fails for an idle timer (the heap
 * grows by doubling; -ENOMEM is the only error). */
GROVE_HIDDEN int grove__timer_add(grove__hub *h, grove__timer *tm, int64_t deadline, void (*cb)(grove__timer *));
GROVE_HIDDEN void grove__timer_del(grove__hub *h, grove__timer *tm);
static inline int grove__timer_active(const grove__timer *tm) { return tm->idx != GROVE__TIMER_IDLE; }

/* Heap primitives (timer.c). */
GROVE_HIDDEN int grove__heap_push(grove__heap *hp, grove__timer *tm);
GROVE_HIDDEN void grove__heap_remove(grove__heap *hp, grove__timer *tm);
static inline grove__timer *grove__heap_min(const grove__heap *hp) { return hp->n ? hp->v[0] : NULL; }
GROVE_HIDDEN void grove__heap_free(grove__heap *hp);

/* ---- Stacks (stack.c) -------------------------------------------------------------- */

/* Allocates a stack of at least size bytes plus room for a grove__thread at its top, which
 * is returned zeroed with stack_lo/hi/map fields filled in. NULL + errno on failure. */
GROVE_HIDDEN grove__thread *grove__stack_alloc(grove__hub *h, size_t size);
/* Returns t's stack to the cache or the OS. Must not be called on the running stack
 * unless the cache has room (grove__stack_can_cache). */
GROVE_HIDDEN void grove__stack_free(grove__hub *h, grove__thread *t);
GROVE_HIDDEN int grove__stack_can_cache(grove__hub *h, const grove__thread *t);
GROVE_HIDDEN void grove__stack_check_canary(grove__thread *t);
GROVE_HIDDEN void grove__stack_install_overflow_handler(void);
GROVE_HIDDEN void grove__stack_thread_init(void); /* sigaltstack for this OS thread */
GROVE_HIDDEN size_t grove__stack_size_for_hub(grove__hub *h);
GROVE_HIDDEN void grove__stack_cache_drain(grove__hub *h);

/* ---- Context switch (src/ctx/) ------------------------------------------------------ */

/* Bytes the backend needs per thread, reserved below the grove__thread at the stack top. */
#if defined(GROVE_CTX_UCONTEXT)
#include <ucontext.h>
#define GROVE__CTX_EXTRA ((sizeof(ucontext_t) + 15) & ~(size_t)15)
#else
#define GROVE__CTX_EXTRA ((size_t)0)
#endif

/* Prepares t (whose stack is set) so that switching to it calls entry(t) on its stack.
 * entry must never return. */
GROVE_HIDDEN void grove__ctx_make(grove__thread *t, void (*entry)(grove__thread *));
/* Saves the running context into from and resumes to. */
GROVE_HIDDEN void grove__ctx_switch(grove__thread *from, grove__thread *to);

/* ---- The hub ------------------------------------------------------------------------ */

#define GROVE__STACK_CACHE_CLASSES 8

typedef struct grove__stack_cache {
    size_t size;       /* 0 = unused class */
    grove__list *free; /* cached stacks, a LIFO chained through grove__thread.runq.next
                            (singly linked: freeing or reusing one touches no other stack) */
    size_t n;
} grove__stack_cache;

struct grove__hub {
    grove__thread *current; /* first: see grove__hub_head */
    grove__thread main;     /* the OS thread's own context */
    grove__thread *loop;    /* the hub loop's own green thread */
    grove__list runq;
    unsigned ticks; /* switches since the hub last polled */
    grove__heap timers;
    uint64_t timer_seq;
    uint64_t next_id;
    grove__slot *slot_free; /* free handle slots, LIFO: beside what spawn touches anyway */
    size_t nlive;           /* spawned threads not yet finished */
    size_t refs;            /* keep-alive references */
    grove__list wait_all;   /* grove_wait_all waiters */
    grove__list all;        /* every live spawned thread */
    grove__thread *zombie;  /* finished thread whose stack the hub must free */
    /* The hub layer (src/hub/) plugs in here on first use (grove__hub_io_attach): */
    struct grove__fdtab *fdtab;
    struct grove__backend *backend;
    int (*io_poll)(grove__hub *h, int64_t timeout_ns); /* NULL: no I/O yet: sleep */
    void (*io_close)(grove__hub *h);
    int (*io_fork)(grove__hub *h);
    size_t stack_default; /* 0 = process default */
    grove__stack_cache stacks[GROVE__STACK_CACHE_CLASSES];
    void *slabs;         /* slabs of unguarded stacks (stack.c) */
    int *errno_ptr;      /* this OS thread's errno, saved per green thread */
    void *main_stack_lo; /* the OS thread's stack, for ASan */
    size_t main_stack_size;
    struct grove__inbox *inbox;     /* cross-thread posts (wakeup.c) */
    grove__slot_chunk *slot_chunks; /* the chunks of slots this hub owns (handle.c) */
    /* For the blocking detector (src/debug/): read by the watchdog thread without locks. */
    _Atomic unsigned long switches;     /* bumped on every switch (relaxed load + store) */
    _Atomic int in_poll;                /* 1 while the hub sleeps in epoll_wait */
    _Atomic unsigned sig_count;         /* grove_eintr_signal calls (from signal handlers) */
    unsigned sig_seen;                  /* sig_count when the loop last looked */
    int64_t clock;                      /* grove_now() at the loop's last pass: park times */
    unsigned long os_tid;               /* pthread_self() of the hub's OS thread */
    struct grove__hub *next_hub;        /* registry of hubs (hub.c) */
    unsigned char main_gone;            /* a fork child of a green thread other than main */
    unsigned long wd_last, wd_reported; /* watchdog's view (watchdog thread only) */
    int64_t wd_since;
};

/* Every hub of the process, for inspectors above core (the watchdog in src/debug/): walk
 * grove__hubs from h->next_hub while holding the registry lock (hubs stay alive). */
GROVE_HIDDEN extern grove__hub *grove__hubs;
GROVE_HIDDEN void grove__hubs_lock(void);
GROVE_HIDDEN void grove__hubs_unlock(void);

/* Hooks by which upper layers plug into core without core calling up: set once, from
 * the layer's own initialisation, before or after hubs exist. */
typedef struct grove__core_hooks {
    void (*hub_created)(grove__hub *h); /* on the new hub's OS thread */
    void (*fork_child)(void);           /* in a fork child, after core's own reset */
} grove__core_hooks;
/* Adds hooks (up to 8 sets); never removed. Thread-safe. */
GROVE_HIDDEN void grove__core_hooks_add(const grove__core_hooks *hooks);

/* ---- Handles (handle.c) --------------------------------------------------------------- */

/* Takes chunks of slots for h when its free list is empty. 0 or -ENOMEM. */
GROVE_HIDDEN int grove__handle_refill(grove__hub *h);
/* h's OS thread is ending: its chunks go back, every handle of its threads goes stale. */
GROVE_HIDDEN void grove__handle_hub_gone(grove__hub *h);
/* fork: the table's lock is held across it; the child takes back the chunks of every hub
 * but survivor (the forking OS thread's hub, or NULL). */
GROVE_HIDDEN void grove__handle_fork_prepare(void);
GROVE_HIDDEN void grove__handle_fork_parent(void);
GROVE_HIDDEN void grove__handle_fork_child(grove__hub *survivor);

/* Gives t (a record of h) a handle: a pop from h's free list, no lock in the common case.
 * 0 or -ENOMEM. */
static inline int grove__handle_attach(grove__hub *h, grove__thread *t)
{
    if (grove__unlikely(!h->slot_free) && grove__handle_refill(h) != 0)
        return -ENOMEM;
    grove__slot *s = h->slot_free;
    h->slot_free = s->u.next;
    s->u.rec = t;
    t->slot = s;
    t->handle = (grove_thread *)s->handle;
    return 0;
}

/* Releases a record's slot (t->slot): the generation moves on, so the handle is stale from
 * now on, and the slot is free for a later spawn of h. */
static inline void grove__slot_release(grove__hub *h, grove__slot *s)
{
    s->handle += GROVE__HANDLE_GEN_ONE;
    s->u.next = h->slot_free;
    h->slot_free = s;
}

/* Makes t runnable (tail of the run queue). */
static inline void grove__ready(grove__hub *h, grove__thread *t)
{
    t->state = GROVE__READY;
    grove__list_push(&h->runq, &t->runq);
}

/* Every how many switches a busy run queue lets the hub poll fds and timers. */
#define GROVE__POLL_EVERY 64

#endif
