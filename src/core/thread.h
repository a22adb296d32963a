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

/* The thread record. The public grove_thread (grove/core.h) is only ever a handle, never
 * this record: see "Handles" below. */
typedef struct grove__thread grove__thread;

typedef struct grove__waiter {
    grove__list link; /* in whatever the thread waits on; unlinked on wake/error */
    grove__thread *t;
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
    void (*cb)(grove_thread *, void *); /* the public callback: gets the handle */
    void *arg;
} grove__link_cb;

/* What a grove_timeout holds (timeout.c); must fit in its opaque space. */
struct grove_timeout_impl {
    grove__timer tm;
    struct grove_timeout_impl *parent; /* the enclosing scope of the same thread */
    grove__thread *owner;              /* NULL once ended or orphaned */
    unsigned char fired;
    unsigned shield; /* the owner's shield depth when it started */
};

struct grove__thread {
    void *sp;         /* saved stack pointer (asm switch) */
    grove__list runq; /* run-queue link */
    grove__hub *hub;
    enum grove__state state;
    unsigned char joinable, detached, joined, killed, started, is_main, is_hub, small_stack;
    unsigned char daemon; /* a Grove service thread: not counted as live */
    unsigned char ran;    /* fn was called (not killed before it started) */
    unsigned io_streak;   /* I/O calls in a row that completed without waiting */
    unsigned eintr;       /* > 0: a blocked wait ends with -EINTR on a signal */
    uint32_t nlocals;     /* green-local values (local.c) */
    struct grove__local *locals;
    int saved_errno; /* errno is per green thread */
    int interrupt;   /* why park ended without a wake (-EDEADLK...) */
    uint64_t id;
    grove_thread *handle;     /* what the API hands out for this record (see Handles) */
    struct grove__slot *slot; /* the handle's slot */
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
    void (*exit_hook)(grove__thread *, void *); /* pools: runs at exit before links */
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
GROVE_HIDDEN int grove__check_slow(const grove__thread *t);

/* Kill/timeout check done at every switch point: 0, -ECANCELED or -ETIMEDOUT.
 * killed: bit 0 = grove_kill, bit 1 = exiting (link callbacks must not block; no shield
 * lifts that). One test of two bytes on the fast path. */
static inline int grove__check(const grove__thread *t)
{
    if (grove__unlikely(t->killed | t->fired))
        return grove__check_slow(t);
    return 0;
}

/* Grove's own cleanup paths (server stop, pile destroy, kill's wait...) run inside this:
 * a shield when the caller is not shielded yet, nothing when it already is (then the
 * timeout scopes the caller opened inside its own shield still bound the cleanup).
 * Returns the token for grove__shield_leave. Never switches. */
static inline unsigned grove__shield_enter(grove__thread *t)
{
    if (t->shield)
        return 0;
    t->shield = 1;
    return 1;
}
static inline void grove__shield_leave(grove__thread *t, unsigned token) { t->shield -= token; }

/* Runs t's green-local destructors and frees its values (local.c). Never switches itself. */
GROVE_HIDDEN void grove__local_finish(grove__thread *t);
/* Fires t's scopes whose deadline has passed by the clock (t is running). Never switches. */
GROVE_HIDDEN void grove__timeout_poll(grove__hub *h, grove__thread *t);
/* Drops the timeout scopes t left open when its function or a link callback returned:
 * they lived in frames that are gone, so their timers are found in the heap by address
 * (those inside t's stack are never dereferenced) and removed. Never switches. */
GROVE_HIDDEN void grove__timeout_drop_thread(grove__hub *h, grove__thread *t);
/* Removes from the heap every timer for which drop(tm, ctx) is true; drop is called with
 * each timer pointer and must not assume it can dereference it. Rebuilds the heap. */
GROVE_HIDDEN void grove__heap_filter(grove__heap *hp, int (*drop)(grove__timer *tm, void *ctx), void *ctx);

/* Largest stack a green thread can ask for. */
#define GROVE__STACK_MAX ((size_t)1 << 30)

/* Ends t's park early with err (kill, timeout, deadlock) if it is parked: its waiter is
 * unlinked and it becomes runnable. Does nothing otherwise. Never switches. */
GROVE_HIDDEN void grove__interrupt(grove__thread *t, int err);

/* Spawns a fire-and-forget thread like grove_spawn_n but returns its record (valid until
 * it exits), so pools can set exit_hook. NULL + errno on failure. */
GROVE_HIDDEN grove__thread *grove__spawn_n_thread(void (*fn)(void *), void *arg);

/* Spawns a joinable service thread (signal dispatch...) that grove_thread_count and
 * grove_wait_all do not count. Returns its handle, or NULL + errno on failure. */
GROVE_HIDDEN grove_thread *grove__spawn_daemon(void *(*fn)(void *), void *arg, const char *name);

/* t's name, made from its id on first use ("thread-<id>"). Never switches. */
GROVE_HIDDEN const char *grove__thread_name(grove__thread *t);

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
    grove__thread *current;
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
static inline grove__thread *grove__running(grove__hub *h) { return ((grove__hub_head *)(void *)h)->current; }

/* The calling green thread's record, the hub created if needed (NULL on failure, errno
 * set). grove_self() is its handle. */
static inline grove__thread *grove__self(void)
{
    grove__hub *h = grove__hub_get();
    return grove__likely(h != NULL) ? grove__running(h) : NULL;
}

/* ---- Handles ---------------------------------------------------------------------------
 * A grove_thread * is never a pointer: it encodes a slot of a process-wide table and the
 * slot's generation, generation << GROVE__HANDLE_IDX_BITS | (index + 1) (never NULL). The
 * slot holds the record and the handle that names it now; releasing the record (join or
 * detach of a finished thread, a fire-and-forget thread's exit, its hub's end) moves the
 * generation on, so every old handle goes stale for good, however often the slot, the
 * stack or the memory is reused, and checking one never touches the record.
 *
 * The table is type-stable: chunks of GROVE__SLOT_CHUNK slots, reachable through a
 * fixed directory and never freed, so a lookup needs no lock. Each chunk belongs to one
 * hub at a time (its owner), whose OS thread alone writes its slots: a handle looked up
 * from another hub is refused before its slot is read. A hub takes chunks (under a mutex)
 * only when its free list of slots is empty; a destroyed hub's chunks, and in a fork child
 * those of the forgotten hubs, go back with every generation moved on (handle.c). */
#if UINTPTR_MAX > 0xffffffffu
#define GROVE__HANDLE_IDX_BITS 32
#define GROVE__SLOT_DIR ((size_t)1 << 16) /* 16M slots */
#else                                     /* 32-bit: 20 bits of index (index + 1 must fit), 12 of generation */
#define GROVE__HANDLE_IDX_BITS 20
#define GROVE__SLOT_DIR (((size_t)1 << 12) - 1)
#endif
#define GROVE__HANDLE_IDX_MASK (((uintptr_t)1 << GROVE__HANDLE_IDX_BITS) - 1)
#define GROVE__HANDLE_GEN_ONE ((uintptr_t)1 << GROVE__HANDLE_IDX_BITS)
#define GROVE__SLOT_SHIFT 8
#define GROVE__SLOT_CHUNK ((size_t)1 << GROVE__SLOT_SHIFT)
/* The owner of a chunk no hub owns: no hub, and not NULL (a caller without a hub). */
#define GROVE__SLOT_NO_OWNER ((grove__hub *)(uintptr_t)1)

typedef struct grove__slot {
    union {
        grove__thread *rec;       /* while in use */
        struct grove__slot *next; /* while free: the owner hub's free list */
    } u;
    uintptr_t handle; /* the handle naming this slot now; + GROVE__HANDLE_GEN_ONE on release */
} grove__slot;

typedef struct grove__slot_chunk {
    grove__hub *_Atomic owner;      /* GROVE__SLOT_NO_OWNER while the chunk is free */
    struct grove__slot_chunk *next; /* the owner's chunks, or the free chunks */
    grove__slot slot[GROVE__SLOT_CHUNK];
} grove__slot_chunk;

GROVE_HIDDEN extern grove__slot_chunk *_Atomic grove__slot_dir[GROVE__SLOT_DIR];

/* The slot a handle names, or NULL if it is NULL, stale (its thread was released), or
 * not a thread of the calling OS thread's hub. Never dereferences anything the handle
 * points at; no lock, no system call. */
static inline grove__slot *grove__slot_get(const grove_thread *handle)
{
    uintptr_t v = (uintptr_t)handle;
    uintptr_t i = (v & GROVE__HANDLE_IDX_MASK) - 1; /* NULL: all ones, out of range */
    if (grove__unlikely(i >= (GROVE__SLOT_DIR << GROVE__SLOT_SHIFT)))
        return NULL;
    grove__slot_chunk *c = atomic_load_explicit(&grove__slot_dir[i >> GROVE__SLOT_SHIFT], memory_order_acquire);
    if (grove__unlikely(!c || atomic_load_explicit(&c->owner, memory_order_relaxed) != grove__tls_hub))
        return NULL;
    grove__slot *s = &c->slot[i & (GROVE__SLOT_CHUNK - 1)];
    return grove__likely(s->handle == v) ? s : NULL;
}

/* The record a handle names, or NULL (see grove__slot_get). */
static inline grove__thread *grove__thread_get(const grove_thread *handle)
{
    grove__slot *s = grove__slot_get(handle);
    return s ? s->u.rec : NULL;
}

/* The handle of a record (valid until the record is released). */
static inline grove_thread *grove__handle_of(const grove__thread *t) { return t->handle; }

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
