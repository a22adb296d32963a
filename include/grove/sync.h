/* Grove synchronisation: event, queue family (FIFO, LIFO, priority, bounded, rendezvous
 * channel), semaphore, mutex, condition variable, wait group.
 *
 * Semantics follow eventlet and gevent, with errors as return codes. All objects are
 * allocated by the caller (usually embedded in a struct or on a stack), initialised with
 * grove_<obj>_init and released with grove_<obj>_destroy; their fields are private.
 * Objects belong to one hub: use them only from green threads of the OS thread that
 * first used them (none of these is thread-safe across OS threads).
 * Every blocking call honours the caller's timeout scope (-ETIMEDOUT) and kill
 * (-ECANCELED); an interrupted call has no effect (a get takes no item, a put stores none,
 * an acquire holds nothing).
 */
#ifndef GROVE_SYNC_H
#define GROVE_SYNC_H

#include "grove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Private: a wait-list head (same layout as Grove's internal list). */
typedef struct grove_wlist_ {
    struct grove_wlist_ *next_, *prev_;
} grove_wlist_;

/* ---- Event (eventlet.event.Event, gevent AsyncResult) ----------------------------- */

typedef struct grove_event {
    grove_wlist_ waiters_;
    void *value_;
    int err_;
    int set_;
} grove_event;

/* Initialises ev as not sent. Never fails; returns 0 (-EINVAL for NULL). */
GROVE_API int grove_event_init(grove_event *ev);
/* Releases ev. Returns 0, or -EBUSY if green threads still wait on it (nothing done). */
GROVE_API int grove_event_destroy(grove_event *ev);
/* Sends value: every waiter (and every later wait, until reset) gets it. Never switches;
 * the waiters run at later switch points. Returns 0, or -EALREADY if already sent. */
GROVE_API int grove_event_send(grove_event *ev, void *value);
/* Sends an error instead (AsyncResult.set_exception): waiters get err, which must be a
 * negative errno. Returns 0, -EINVAL (err >= 0) or -EALREADY. Never switches. */
GROVE_API int grove_event_send_error(grove_event *ev, int err);
/* Waits until ev is sent, then stores the value in *value (if not NULL).
 * Returns at once, without switching, if it was already sent. Otherwise switches.
 * Returns 0; the error given to grove_event_send_error; -ECANCELED; -ETIMEDOUT. */
GROVE_API int grove_event_wait(grove_event *ev, void **value);
/* Whether ev has been sent (and not reset). Never switches. */
GROVE_API bool grove_event_ready(const grove_event *ev);
/* Makes ev unsent again so it can be sent anew; current waiters keep waiting.
 * Returns 0. Never switches. */
GROVE_API int grove_event_reset(grove_event *ev);

/* ---- Queue (eventlet.queue / gevent.queue) --------------------------------------- */

enum grove_queue_kind {
    GROVE_QUEUE_FIFO = 0,
    GROVE_QUEUE_LIFO = 1,
    GROVE_QUEUE_PRIORITY = 2, /* smallest first by the comparator; FIFO among equals */
};

/* maxsize for grove_queue_init: */
#define GROVE_QUEUE_UNBOUNDED (-1L)
#define GROVE_QUEUE_RENDEZVOUS 0L

typedef struct grove_queue {
    grove_wlist_ getters_, putters_, joiners_;
    struct grove_queue_entry_ *v_;
    size_t cap_, head_, n_;
    long maxsize_;
    uint64_t seq_;
    size_t unfinished_;
    int (*cmp_)(const void *a, const void *b);
    int kind_;
    int closed_;
} grove_queue;

/* Initialises a queue of void * items. kind: GROVE_QUEUE_FIFO, _LIFO or _PRIORITY (then
 * cmp(a, b) < 0 means a comes out first; required). maxsize < 0: unbounded; > 0: put
 * blocks while that many items are queued; 0: a rendezvous channel where put blocks until
 * a getter takes the item (eventlet's Queue(0)). The storage grows as needed.
 * Returns 0 or -EINVAL. Never switches. */
GROVE_API int grove_queue_init(grove_queue *q, int kind, long maxsize, int (*cmp)(const void *a, const void *b));
/* Frees the queue's storage (items still queued are dropped, not freed: they are the
 * caller's pointers). Returns 0, or -EBUSY if green threads still wait on it. */
GROVE_API int grove_queue_destroy(grove_queue *q);
/* Puts item, waiting while the queue is full (for a rendezvous queue: until a getter has
 * taken it). Switches only if it has to wait. Returns 0; -EPIPE if the queue is or gets
 * closed (item not queued); -ECANCELED; -ETIMEDOUT (item not queued). */
GROVE_API int grove_queue_put(grove_queue *q, void *item);
/* Puts without waiting. Returns 0, -EAGAIN if it would have to wait (for a rendezvous
 * queue: no getter is waiting), or -EPIPE. Never switches. */
GROVE_API int grove_queue_try_put(grove_queue *q, void *item);
/* Takes the next item into *item, waiting while there is none. Switches only if it has
 * to wait. Returns 0; -EPIPE once the queue is closed and drained; -ECANCELED /
 * -ETIMEDOUT (no item was taken: an interrupted getter never loses an item). */
GROVE_API int grove_queue_get(grove_queue *q, void **item);
/* Takes an item without waiting. Returns 0, -EAGAIN (none) or -EPIPE (closed, drained). */
GROVE_API int grove_queue_try_get(grove_queue *q, void **item);
/* Items queued (not counting items held by blocked putters). */
GROVE_API size_t grove_queue_size(const grove_queue *q);
/* Green threads blocked in get / in put. */
GROVE_API size_t grove_queue_getting(const grove_queue *q);
GROVE_API size_t grove_queue_putting(const grove_queue *q);
/* Changes maxsize (same meaning as in init). Growing moves blocked putters' items into
 * the queue and releases them; shrinking never drops items (puts wait until it drains
 * below the new size). Returns 0. Never switches. */
GROVE_API int grove_queue_resize(grove_queue *q, long maxsize);
/* Closes the queue: later puts fail with -EPIPE and blocked putters are released with
 * -EPIPE; getters drain what is queued, then get -EPIPE. Idempotent. Never switches. */
GROVE_API int grove_queue_close(grove_queue *q);
/* Marks one item taken by get as processed (Queue.task_done). Returns 0, or -EINVAL if
 * more tasks are marked done than were put. Never switches. */
GROVE_API int grove_queue_task_done(grove_queue *q);
/* Waits until every item put has been marked with task_done (Queue.join). Switches
 * unless already so. Returns 0, -ECANCELED or -ETIMEDOUT. */
GROVE_API int grove_queue_join(grove_queue *q);

/* ---- Channel: the rendezvous queue under eventlet's other name ------------------- */

typedef grove_queue grove_chan;
/* grove_queue_init(ch, GROVE_QUEUE_FIFO, GROVE_QUEUE_RENDEZVOUS, NULL). */
GROVE_API int grove_chan_init(grove_chan *ch);
/* grove_queue_put / grove_queue_get / grove_queue_close / grove_queue_destroy. */
GROVE_API int grove_chan_send(grove_chan *ch, void *item);
GROVE_API int grove_chan_recv(grove_chan *ch, void **item);
GROVE_API int grove_chan_close(grove_chan *ch);
GROVE_API int grove_chan_destroy(grove_chan *ch);

/* ---- Semaphore ---------------------------------------------------------------------- */

typedef struct grove_sem {
    grove_wlist_ waiters_;
    long count_;
    long bound_; /* < 0: unbounded */
} grove_sem;

/* A counting semaphore with count units. Returns 0 or -EINVAL (count < 0). */
GROVE_API int grove_sem_init(grove_sem *s, long count);
/* A bounded semaphore (eventlet BoundedSemaphore): releasing above the initial count is
 * an error. Returns 0 or -EINVAL. */
GROVE_API int grove_sem_init_bounded(grove_sem *s, long count);
/* Returns 0, or -EBUSY if green threads wait on it. */
GROVE_API int grove_sem_destroy(grove_sem *s);
/* Takes a unit, waiting for one. Fair: units go to waiters in arrival order and a newcomer
 * never takes one ahead of a waiter. Switches only if it has to wait.
 * Returns 0, -ECANCELED or -ETIMEDOUT (nothing taken). */
GROVE_API int grove_sem_acquire(grove_sem *s);
/* Takes a unit without waiting. Returns 0 or -EAGAIN. Never switches. */
GROVE_API int grove_sem_try_acquire(grove_sem *s);
/* Gives a unit back (to the longest waiter if any). Never switches.
 * Returns 0, or -EOVERFLOW for a bounded semaphore already at its initial count, or a
 * count already at LONG_MAX (nothing changed). */
GROVE_API int grove_sem_release(grove_sem *s);
/* Units available now (0 while anyone waits). */
GROVE_API long grove_sem_count(const grove_sem *s);
/* Green threads waiting in acquire. */
GROVE_API size_t grove_sem_waiting(const grove_sem *s);

/* ---- Mutex and condition variable ---------------------------------------------------- */

typedef struct grove_mutex {
    grove_wlist_ waiters_;
    grove_thread *owner_;
} grove_mutex;

/* Returns 0. */
GROVE_API int grove_mutex_init(grove_mutex *m);
/* Returns 0, or -EBUSY if locked or waited on. */
GROVE_API int grove_mutex_destroy(grove_mutex *m);
/* Locks m, waiting (FIFO) while another green thread holds it. Not recursive.
 * Switches only if it has to wait. Returns 0; -EDEADLK if the caller holds it already;
 * -ECANCELED; -ETIMEDOUT (not locked). */
GROVE_API int grove_mutex_lock(grove_mutex *m);
/* Returns 0 or -EBUSY. Never switches. */
GROVE_API int grove_mutex_trylock(grove_mutex *m);
/* Unlocks m, handing it to the longest waiter. Returns 0, or -EPERM if the caller does not
 * hold it. Never switches. */
GROVE_API int grove_mutex_unlock(grove_mutex *m);

typedef struct grove_cond {
    grove_wlist_ waiters_;
} grove_cond;

/* Returns 0. */
GROVE_API int grove_cond_init(grove_cond *c);
/* Returns 0, or -EBUSY if green threads wait on it. */
GROVE_API int grove_cond_destroy(grove_cond *c);
/* Unlocks m (which the caller must hold), waits for a signal, and locks m again before
 * returning, also when the wait fails. Spurious wake-ups do not happen, but re-check
 * your predicate anyway: another thread may run first. Switches.
 * Returns 0; -EPERM (m not held; nothing done); -ECANCELED / -ETIMEDOUT (m is held again);
 * -EDEADLK: m could never be locked again (nothing could ever release it), and it is NOT
 * held. */
GROVE_API int grove_cond_wait(grove_cond *c, grove_mutex *m);
/* Wakes the longest waiter / every waiter. Never switch. Return the number woken. */
GROVE_API int grove_cond_signal(grove_cond *c);
GROVE_API int grove_cond_broadcast(grove_cond *c);

/* ---- Wait group ------------------------------------------------------------------------ */

typedef struct grove_waitgroup {
    grove_wlist_ waiters_;
    long count_;
} grove_waitgroup;

/* Returns 0. */
GROVE_API int grove_waitgroup_init(grove_waitgroup *wg);
/* Adds delta (may be negative) to the counter; at 0 every waiter is released.
 * Returns 0, -EINVAL if the counter would go below 0, or -EOVERFLOW if it would pass
 * LONG_MAX (nothing changed either way). Never switches. */
GROVE_API int grove_waitgroup_add(grove_waitgroup *wg, long delta);
/* grove_waitgroup_add(wg, -1). */
GROVE_API int grove_waitgroup_done(grove_waitgroup *wg);
/* Waits until the counter is 0. Switches unless it is 0. Returns 0, -ECANCELED, -ETIMEDOUT. */
GROVE_API int grove_waitgroup_wait(grove_waitgroup *wg);

#ifdef __cplusplus
}
#endif
#endif
