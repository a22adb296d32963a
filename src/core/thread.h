/* Green threads as the layers above core see them (sync, pool, io, debug): the thread
 * record, waiting and waking, kill/timeout checks, shields, and the calling OS thread's
 * hub as an opaque handle. The hub's internals are core/hub.h, for core and the hub
 * layer only.
 *
 * Blocking in Grove comes down to one pattern, used by every primitive:
 *
 *     grove__waiter w;
 *     grove__waiter_init(&w);
 *     grove__list_push(&obj->waiters, &w.link);    // be findable by whoever wakes us
 *     int rc = grove__park(&w);                    // 0 = woken by grove__wake, or error
 *     // on error (-ECANCELED / -ETIMEDOUT / -EDEADLK) w was unlinked for us
 *
 * grove__park checks kill/timeout first, so a dead or timed-out thread never parks.
 * The waker pops a waiter and calls grove__wake(w, value): w->value carries a pointer
 * (an item, a result) to the woken thread without another lookup.
 */
#ifndef GROVE_CORE_THREAD_H
#define GROVE_CORE_THREAD_H

#include "grove.h"

#include "base/alloc.h"
#include "base/compiler.h"
#include "base/list.h"
#include "base/sys.h"
#include "base/time.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* ---- Timers: a binary min-heap ordered by (deadline, insertion sequence) ----------- */

typedef struct grove__timer grove__timer;
struct grove__timer {
    int64_t deadline;
    uint64_t seq;               /* FIFO among equal deadlines */
    size_t idx;                 /* position in the heap, or GROVE__TIMER_IDLE */
    void (*cb)(grove__timer *); /* runs in the hub; must not switch */
};
#define GROVE__TIMER_IDLE ((size_t)-1)

typedef struct grove__heap {
    grove__timer **v;
    size_t n, cap;
} grove__heap;

/* now + ns, saturated. */
static inline int64_t grove__deadline(int64_t ns) { return grove__add_sat(grove_now(), ns); }
/* ---- Green threads ----------------------------------------------------------------- */

typedef struct grove__hub grove__hub;

typedef struct grove__waiter {
    grove__list link; /* in whatever the thread waits on; unlinked on wake/error */
    grove_thread *t;
    void *value; /* set by the waker */
    int result;  /* set by the waker (grove__wake) */
    unsigned char woken;
    unsigned char nointr; /* kill/timeout neither prevent nor end this park (cond relock) */
} grove__waiter;

enum grove__state {
    GROVE__NEW = 0, /* spawned, never ran */
    GROVE__READY,   /* in the run queue */
    GROVE__RUNNING,
    GROVE__PARKED, /* blocked in grove__park */
    GROVE__DONE,
};

typedef struct grove__link_cb {
    struct grove__link_cb *next;
    void (*cb)(grove_thread *, void *);
    void *arg;
} grove__link_cb;

/* What a grove_timeout holds (timeout.c); must fit in its opaque space. */
struct grove_timeout_impl {
    grove__timer tm;
    struct grove_timeout_impl *parent; /* the enclosing scope of the same thread */
    grove_thread *owner;               /* NULL once ended or orphaned */
    unsigned char fired;
    unsigned shield; /* the owner's shield depth when it started */
};

struct grove_thread {
    void *sp;         /* saved stack pointer (asm switch) */
    grove__list runq; /* run-queue link */
    grove__hub *hub;
    enum grove__state state;
    unsigned char joinable, detached, joined, killed, started, is_main, is_hub, small_stack;
    unsigned char daemon;   /* a Grove service thread: not counted as live */
    unsigned char released; /* joined or detached and freed: the handle is stale */
    unsigned char ran;      /* fn was called (not killed before it started) */
    unsigned io_streak;     /* I/O calls in a row that completed without waiting */
    unsigned eintr;         /* > 0: a blocked wait ends with -EINTR on a signal */
    uint32_t nlocals;       /* green-local values (local.c) */
    struct grove__local *locals;
    int saved_errno; /* errno is per green thread */
    int interrupt;   /* why park ended without a wake (-EDEADLK...) */
    uint64_t id;
    void *(*fn)(void *);
    void (*fn_n)(void *);
    void *arg;
    void *result;
    grove__waiter *parked_on;          /* the waiter while PARKED */
    struct grove_timeout_impl *scopes; /* innermost timeout scope */
    unsigned fired;                    /* number of active scopes that fired */
    unsigned shield;                   /* shield depth: kill and outer scopes are held off */
    grove__timer sleep_timer;          /* for sleep and spawn_after */
    grove__list exit_waiters;          /* join and kill wait here */
    grove__link_cb *links, **links_tail;
    void (*exit_hook)(grove_thread *, void *); /* pools: runs at exit before links */
    void *exit_arg;
    grove__list all; /* every live thread of the hub, for dumps */
    void *stack_lo;  /* usable stack: [stack_lo, stack_hi) */
    void *stack_hi;
    size_t stack_size; /* the size class the stack came from */
    void *map_base;    /* mapping, for munmap (NULL: slab or main) */
    size_t map_len;
    int64_t park_since;    /* grove_now() when it last parked, for dumps */
    const char *wait_what; /* what it waits on, for dumps */
    void *ctx_impl;        /* ucontext backend only */
    void *asan_fake_stack; /* ASan fiber bookkeeping */
    unsigned vg_stack_id;  /* Valgrind stack registration */
    char name[32];
};

/* Blocks the calling thread until grove__wake(w, ...), kill or timeout.
 * w must have been initialised and may be linked into a wait list beforehand.
 * Returns w->result (>= 0, set by the waker) or -ECANCELED / -ETIMEDOUT / -EDEADLK;
 * on error w is unlinked from its list. Checks kill/timeout before parking. */
GROVE_HIDDEN int grove__park(grove__waiter *w, const char *what);
static inline void grove__waiter_init(grove__waiter *w)
{
    w->link.next = w->link.prev = NULL;
    w->t = NULL;
    w->value = NULL;
    w->result = 0;
    w->woken = 0;
    w->nointr = 0;
}
/* The common case: parks the caller at the tail of wait list l until woken, killed or
 * timed out. Returns what grove__park returns; *value (if not NULL) gets the waker's
 * value. */
static inline int grove__wait_on(grove__list *l, const char *what, void **value);

/* Wakes the thread parked on w with result (>= 0 for success) and value. Unlinks w from
 * its list if linked. Never switches; the woken thread runs at a later switch point.
 * Safe to call on a waiter whose thread has not parked yet (then park returns at once). */
GROVE_HIDDEN void grove__wake(grove__waiter *w, int result, void *value);
/* Pops the first waiter of a list and wakes it; returns 1 if one was woken. */
GROVE_HIDDEN int grove__wake_one(grove__list *waiters, int result, void *value);
/* Wakes every waiter of a list; returns how many. */
GROVE_HIDDEN size_t grove__wake_all(grove__list *waiters, int result, void *value);

/* The slow half of grove__check, for a thread that is killed or has a fired scope:
 * applies shield scopes (timeout.c). */
GROVE_HIDDEN int grove__check_slow(const grove_thread *t);

/* Kill/timeout check done at every switch point: 0, -ECANCELED or -ETIMEDOUT.
 * killed: bit 0 = grove_kill, bit 1 = exiting (link callbacks must not block; no shield
 * lifts that). One test of two bytes on the fast path. */
static inline int grove__check(const grove_thread *t)
{
    if (grove__unlikely(t->killed | t->fired))
        return grove__check_slow(t);
    return 0;
}

/* Grove's own cleanup paths (server stop, pile destroy, kill's wait...) run inside this:
 * a shield when the caller is not shielded yet, nothing when it already is (then the
 * timeout scopes the caller opened inside its own shield still bound the cleanup).
 * Returns the token for grove__shield_leave. Never switches. */
static inline unsigned grove__shield_enter(grove_thread *t)
{
    if (t->shield)
        return 0;
    t->shield = 1;
    return 1;
}
static inline void grove__shield_leave(grove_thread *t, unsigned token) { t->shield -= token; }

/* Runs t's green-local destructors and frees its values (local.c). Never switches itself. */
GROVE_HIDDEN void grove__local_finish(grove_thread *t);
/* Fires t's scopes whose deadline has passed by the clock (t is running). Never switches. */
GROVE_HIDDEN void grove__timeout_poll(grove__hub *h, grove_thread *t);
/* Drops the timeout scopes t left open when its function or a link callback returned:
 * they lived in frames that are gone, so their timers are found in the heap by address
 * (those inside t's stack are never dereferenced) and removed. Never switches. */
GROVE_HIDDEN void grove__timeout_drop_thread(grove__hub *h, grove_thread *t);
/* Removes from the heap every timer for which drop(tm, ctx) is true; drop is called with
 * each timer pointer and must not assume it can dereference it. Rebuilds the heap. */
GROVE_HIDDEN void grove__heap_filter(grove__heap *hp, int (*drop)(grove__timer *tm, void *ctx), void *ctx);

/* Largest stack a green thread can ask for. */
#define GROVE__STACK_MAX ((size_t)1 << 30)

/* Ends t's park early with err (kill, timeout, deadlock) if it is parked: its waiter is
 * unlinked and it becomes runnable. Does nothing otherwise. Never switches. */
GROVE_HIDDEN void grove__interrupt(grove_thread *t, int err);

/* Spawns a fire-and-forget thread like grove_spawn_n but returns it (valid until it
 * exits), so pools can set exit_hook. NULL + errno on failure. */
GROVE_HIDDEN grove_thread *grove__spawn_n_thread(void (*fn)(void *), void *arg);

/* Spawns a joinable service thread (signal dispatch...) that grove_thread_count and
 * grove_wait_all do not count. NULL + errno on failure. */
GROVE_HIDDEN grove_thread *grove__spawn_daemon(void *(*fn)(void *), void *arg, const char *name);

/* The calling OS thread's hub, created if needed (NULL on failure, errno set).
 * Inline: it is on every switch path. */
GROVE_HIDDEN grove__hub *grove__hub_create(void);
/* The calling OS thread's hub if it exists, else NULL. */
GROVE_HIDDEN grove__hub *grove__hub_peek(void);

/* Keep-alive references: while > 0 the hub does not consider itself deadlocked when
 * nothing is runnable (e.g. a cross-thread wake-up or a tpool job is pending). */
GROVE_HIDDEN void grove__hub_ref(grove__hub *h);
GROVE_HIDDEN void grove__hub_unref(grove__hub *h);

/* The first field of every hub, which the layers above may read: the running thread. */
typedef struct grove__hub_head {
    grove_thread *current;
} grove__hub_head;

/* initial-exec: one %fs-relative load, also in libgrove.so (no __tls_get_addr call). */
GROVE_HIDDEN extern __thread grove__hub *grove__tls_hub __attribute__((tls_model("initial-exec")));

/* The calling OS thread's hub, created if needed (NULL on failure, errno set). */
static inline grove__hub *grove__hub_get(void)
{
    grove__hub *h = grove__tls_hub;
    return grove__likely(h != NULL) ? h : grove__hub_create();
}

/* The running green thread of hub h. */
static inline grove_thread *grove__running(grove__hub *h) { return ((grove__hub_head *)(void *)h)->current; }

static inline int grove__wait_on(grove__list *l, const char *what, void **value)
{
    if (grove__unlikely(!grove__hub_get()))
        return -ENOMEM;
    grove__waiter w;
    grove__waiter_init(&w);
    grove__list_push(l, &w.link);
    int rc = grove__park(&w, what); /* checks kill/timeout first, unlinks w on error */
    if (value)
        *value = w.value;
    return rc;
}

/* Fair I/O (Tokio's cooperative budget): after this many I/O calls in a row that
 * completed without waiting, the calling green thread yields once, so one connection
 * whose data never runs out cannot starve the others. Any park starts a new streak. */
#define GROVE__IO_BUDGET 64
GROVE_HIDDEN void grove__io_budget_yield(void);
/* Called by an I/O call that completed without waiting. Never switches except once per
 * GROVE__IO_BUDGET calls in a row; a kill or timeout seen in that yield is left for the
 * caller's next switch point (the I/O already happened). */
static inline void grove__io_budget_spend(void)
{
    grove__hub *h = grove__tls_hub;
    if (grove__likely(h != NULL) && grove__unlikely(++grove__running(h)->io_streak >= GROVE__IO_BUDGET))
        grove__io_budget_yield();
}

#endif
