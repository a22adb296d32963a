/* Grove pools: green pool (eventlet GreenPool), ordered imap, pile (GreenPile) and
 * resource pool (eventlet.pools.Pool).
 *
 * Pools are heap objects (new/destroy) owned by the caller and belong to the hub of the
 * OS thread that created them; none is thread-safe across OS threads. Blocking calls
 * honour the caller's timeout scope (-ETIMEDOUT) and kill (-ECANCELED).
 */
#ifndef GROVE_POOL_H
#define GROVE_POOL_H

#include "grove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Green pool ------------------------------------------------------------------- */

typedef struct grove_pool grove_pool;

/* A pool that runs at most size green threads at once (size >= 1).
 * Returns the pool, or NULL with errno EINVAL / ENOMEM. Never switches. */
GROVE_API grove_pool *grove_pool_new(size_t size);
/* Frees the pool. Returns 0, or -EBUSY (nothing freed) while threads run in it or wait to
 * spawn: call grove_pool_waitall first. Never switches. */
GROVE_API int grove_pool_destroy(grove_pool *p);
/* Spawns fn(arg) in the pool, waiting while it is full. Returns a joinable thread (join
 * or detach it as with grove_spawn). Switches only if the pool is full.
 * NULL with errno: ECANCELED / ETIMEDOUT (nothing spawned), ENOMEM, EINVAL, EDEADLK (the
 * caller is itself one of the pool's threads and the pool is full: waiting could never
 * end if every thread did the same). */
GROVE_API grove_thread *grove_pool_spawn(grove_pool *p, void *(*fn)(void *), void *arg);
/* Like grove_pool_spawn for a fire-and-forget function. When the caller is itself one of
 * the pool's threads and the pool is full, fn runs inline, in the caller, before this
 * returns (as eventlet does). Returns 0, -ECANCELED, -ETIMEDOUT, -ENOMEM or -EINVAL. */
GROVE_API int grove_pool_spawn_n(grove_pool *p, void (*fn)(void *), void *arg);
/* Waits until no thread runs in the pool. Switches unless none does.
 * Returns 0, -EDEADLK (called from one of the pool's threads), -ECANCELED, -ETIMEDOUT. */
GROVE_API int grove_pool_waitall(grove_pool *p);
/* Slots free now (size - running, never below 0). */
GROVE_API size_t grove_pool_free(const grove_pool *p);
/* Threads running in the pool. */
GROVE_API size_t grove_pool_running(const grove_pool *p);
/* Green threads blocked in grove_pool_spawn/_spawn_n waiting for a slot. */
GROVE_API size_t grove_pool_waiting(const grove_pool *p);
/* Changes the size (>= 1). Growing starts waiting spawners at once; shrinking lets the
 * running threads finish (none is killed) and new ones wait. Returns 0 or -EINVAL.
 * Never switches. */
GROVE_API int grove_pool_resize(grove_pool *p, size_t size);

/* ---- Pile: results in spawn order -------------------------------------------------- */

typedef struct grove_pile grove_pile;

/* A pile spawning through pool (which it does not own), or through a private pool of
 * size threads if pool is NULL. Returns NULL with errno EINVAL / ENOMEM. */
GROVE_API grove_pile *grove_pile_new(grove_pool *pool, size_t size);
/* Spawns fn(arg) through the pile's pool (waiting while it is full). Returns 0,
 * -ECANCELED, -ETIMEDOUT (nothing spawned), -ENOMEM, -EDEADLK (see grove_pool_spawn). */
GROVE_API int grove_pile_spawn(grove_pile *pile, void *(*fn)(void *), void *arg);
/* Waits for the oldest result not yet taken, in spawn order, even when later ones finish
 * first, and stores it in *result. Switches unless it has finished.
 * Returns 0; -ENOENT when every spawned result has been taken; -ECANCELED / -ETIMEDOUT
 * (the result stays in the pile for the next call). */
GROVE_API int grove_pile_next(grove_pile *pile, void **result);
/* Spawned results not yet taken (running or finished). */
GROVE_API size_t grove_pile_pending(const grove_pile *pile);
/* Kills what is still running, waits for it, and frees the pile (and its private pool).
 * A cleanup path: it shields itself, so a killed or timed-out caller still waits for
 * every thread before anything is freed. Switches if anything is running. Returns 0;
 * -ETIMEDOUT if a timeout scope opened inside the caller's own shield fired (the pile is
 * then still valid and may be destroyed again); -EINVAL (NULL). */
GROVE_API int grove_pile_destroy(grove_pile *pile);

/* ---- imap: ordered parallel map over a generator ------------------------------------ */

typedef struct grove_imap grove_imap;

/* Produces the next argument for fn into *arg and returns 1, or returns 0 when there are
 * no more (or a negative errno to stop with that error). Called from a green thread
 * owned by the imap (the feeder); it may switch. */
typedef int (*grove_imap_gen)(void *gen_ctx, void **arg);

/* Starts computing fn(arg) for each arg the generator yields, in pool's threads: never
 * more than the pool's size at once, and never more than 2 x size results computed but
 * not yet taken with grove_imap_next (the feeder waits). Never switches itself.
 * Returns the iterator, or NULL with errno EINVAL / ENOMEM. */
GROVE_API grove_imap *grove_pool_imap(grove_pool *pool, void *(*fn)(void *), grove_imap_gen gen, void *gen_ctx);
/* The next result, in input order. Switches while it is not ready.
 * Returns 1 with *result set; 0 at the end; the generator's negative error once the
 * results before it were taken; -ECANCELED / -ETIMEDOUT (nothing lost: call again). */
GROVE_API int grove_imap_next(grove_imap *it, void **result);
/* Sets how grove_imap_close releases what it drops: free_arg(arg) for each argument the
 * generator produced whose call never ran (killed before it started, or never spawned),
 * free_result(result) for each non-NULL result of a call that ran and was not taken with
 * grove_imap_next (including the value a killed call returned). Either may be NULL
 * (nothing is done, the default). Call it right after grove_pool_imap. They run in the
 * caller of grove_imap_close (free_arg may also run in the feeder) and must not switch.
 * Returns 0 or -EINVAL. Never switches. */
GROVE_API int grove_imap_set_free(grove_imap *it, void (*free_arg)(void *arg), void (*free_result)(void *result));
/* Stops early or cleans up after the end: stops the feeder, kills and waits for the
 * calls still running, drops results not taken, frees it. A cleanup path: it shields
 * itself, so a killed or timed-out caller still waits for the feeder and the calls.
 * Dropped arguments and results go to the functions set with grove_imap_set_free.
 * Switches. Returns 0; -ETIMEDOUT if a timeout scope opened inside the caller's own
 * shield fired (the iterator is then still valid: close it again); -EINVAL (NULL).
 * The feeder is a service thread (not counted by grove_thread_count). */
GROVE_API int grove_imap_close(grove_imap *it);

/* ---- Groups (gevent's Group, joinall, wait(count=1), kill) ------------------------------- */

typedef struct grove_group grove_group;

/* An empty group. Returns it, or NULL with errno ENOMEM. Never switches. */
GROVE_API grove_group *grove_group_new(void);
/* Spawns fn(arg) as a member (grove_spawn). The group holds the handle: do not join or
 * detach it until grove_group_wait_any hands it over. Returns the thread, or NULL with
 * errno EINVAL / ENOMEM (nothing started). Never switches. */
GROVE_API grove_thread *grove_group_spawn(grove_group *g, void *(*fn)(void *), void *arg);
/* Adds a joinable thread spawned elsewhere (it may have finished); the group holds its
 * handle from now on, as for grove_group_spawn. Returns 0, -EINVAL (NULL, main, detached,
 * already joined or being joined: a stale handle, or one of another hub), -ENOMEM. Never
 * switches. */
GROVE_API int grove_group_add(grove_group *g, grove_thread *t);
/* Waits until no member is running (joinall). Finished members stay in the group for
 * grove_group_wait_any. Switches unless none runs. Returns 0, -ECANCELED, -ETIMEDOUT. */
GROVE_API int grove_group_join(grove_group *g);
/* Waits for the first member to finish that was not handed over yet, and hands it over in
 * *done: the caller now owns the handle (join it for its result, or detach it). Members
 * are handed over in the order they finished. Switches unless one has finished.
 * Returns 0; -ENOENT (no member left at all); -ECANCELED / -ETIMEDOUT (nothing handed
 * over); -EINVAL. */
GROVE_API int grove_group_wait_any(grove_group *g, grove_thread **done);
/* Kills every running member and waits until they have all finished. A cleanup path: it
 * shields itself, so a killed caller still waits. Switches. Returns 0; -ETIMEDOUT only
 * for a timeout opened inside the caller's own shield; -EINVAL. */
GROVE_API int grove_group_kill(grove_group *g);
/* Members running / finished and not handed over. Never switch. */
GROVE_API size_t grove_group_running(const grove_group *g);
GROVE_API size_t grove_group_finished(const grove_group *g);
/* Joins (releases) the finished members not handed over and frees the group. Returns 0,
 * -EBUSY while a member runs or a thread waits on the group (nothing freed), -EINVAL.
 * Never switches. */
GROVE_API int grove_group_free(grove_group *g);

/* ---- Resource pool (eventlet.pools.Pool) -------------------------------------------- */

typedef struct grove_respool grove_respool;

/* create(ctx, &item) makes a new item (non-NULL) and returns 0, or a negative errno; it
 * may switch (e.g. to connect). destroy(ctx, item) releases one (may be NULL: nothing
 * to release). At most max items exist at once (idle plus handed out).
 * Returns NULL with errno EINVAL / ENOMEM. */
GROVE_API grove_respool *grove_respool_new(int (*create)(void *ctx, void **item),
                                           void (*destroy)(void *ctx, void *item), void *ctx, size_t max);
/* Takes an idle item, or creates one if fewer than max exist, or waits (FIFO) for one to
 * be put back or discarded. Switches if it waits or create does.
 * Returns 0 with *item set; create's error; -ECANCELED / -ETIMEDOUT. */
GROVE_API int grove_respool_get(grove_respool *rp, void **item);
/* Gives an item back: to the longest waiter, or to the idle list. Returns 0. Never switches. */
GROVE_API int grove_respool_put(grove_respool *rp, void *item);
/* Destroys a broken item instead of putting it back, freeing its slot: a waiter (if any)
 * goes on to create a new one. Returns 0. Switches only inside destroy, which runs
 * shielded (a cleanup path: a killed caller's destroy can still wait). */
GROVE_API int grove_respool_discard(grove_respool *rp, void *item);
/* Items that could be had without waiting (idle + not yet created). */
GROVE_API size_t grove_respool_free(const grove_respool *rp);
/* Green threads waiting in grove_respool_get. */
GROVE_API size_t grove_respool_waiting(const grove_respool *rp);
/* Destroys idle items (destroy runs shielded, as in discard) and frees the pool.
 * Returns 0, or -EBUSY if items are still out or threads wait (nothing done). */
GROVE_API int grove_respool_destroy(grove_respool *rp);

#ifdef __cplusplus
}
#endif
#endif
