/* grove/core.h: green threads, the hub, sleeping, timeouts and fd readiness.
 *
 * The model (see docs/ and the README):
 * - Every OS thread gets a hub lazily, on its first Grove call. The code that was running
 *   (main, or a pthread's start function) is itself a green thread of that hub.
 * - Green threads switch only at switch points: calls documented below as "Switches".
 *   Between two switch points a green thread runs alone on its hub.
 * - Errors are returned as negative errno values. Every switch point fails with
 *   -ECANCELED once the calling green thread was killed, and with -ETIMEDOUT once a
 *   timeout scope it is inside has fired.
 * - Green threads never migrate between OS threads, and Grove objects (threads, events,
 *   queues...) belong to the hub that made them; unless a function says it is thread-safe,
 *   call it only from green threads of that hub.
 */
#ifndef GROVE_CORE_H
#define GROVE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GROVE_API __attribute__((visibility("default")))
#else
#define GROVE_API
#endif

/* Durations and deadlines are int64_t nanoseconds everywhere. */
#define GROVE_NS(n) ((int64_t)(n))
#define GROVE_US(n) ((int64_t)(n)*1000)
#define GROVE_MS(n) ((int64_t)(n)*1000000)
#define GROVE_SEC(n) ((int64_t)(n)*1000000000)

/* A handle naming a green thread: an opaque value, never a pointer to the thread's
 * memory, and never NULL for a real thread. Handles can be compared: grove_self() in a
 * thread equals what grove_spawn returned for it. A handle carries a generation, so once
 * its thread is released (joined, or detached and finished, or a grove_spawn_n thread
 * that returned, or its hub's OS thread exited) the handle is stale for good: functions
 * that act on a thread return -EINVAL for it, even after later spawns reuse the thread's
 * stack; queries answer as for a finished thread (grove_thread_done true,
 * grove_thread_result NULL, grove_thread_killed false, grove_thread_id 0,
 * grove_thread_name ""). A handle used from another hub's OS thread is treated the same
 * way (it is never looked at there). */
typedef struct grove_thread grove_thread;

/* Human-readable text for a Grove return code (a negative errno, or 0).
 * Returns a static string; never NULL. Thread-safe. */
GROVE_API const char *grove_strerror(int err);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). Never switches. Thread-safe. */
GROVE_API int64_t grove_now(void);

/* ---- Spawning ---------------------------------------------------------------------- */

/* Options for grove_spawn_opts(). Zero-initialise, then set what you need. */
typedef struct grove_spawn_attr {
    size_t stack_size; /* 0 = the default (grove_stack_size_default()). See below. */
    const char *name;  /* copied (up to 31 bytes); NULL = "thread-<id>" */
    int service;       /* nonzero: a library's own helper thread (a socket's watcher...):
                            grove_thread_count and grove_wait_all do not count it */
} grove_spawn_attr;

/* Spawns a joinable green thread running fn(arg). It is queued FIFO behind the threads
 * that are already runnable and starts at the caller's next switch point; spawning itself
 * never switches. The thread must be joined (grove_join) or detached (grove_detach)
 * exactly once, as with pthreads, or its stack is kept.
 * Returns the thread, or NULL with errno set (ENOMEM: no memory or no stack could be
 * mapped; EINVAL: fn is NULL, or attr->stack_size is below GROVE_STACK_MIN or above
 * 1 GiB). On failure nothing was started. */
GROVE_API grove_thread *grove_spawn(void *(*fn)(void *), void *arg);
GROVE_API grove_thread *grove_spawn_opts(const grove_spawn_attr *attr, void *(*fn)(void *), void *arg);

/* Spawns a fire-and-forget green thread: nothing to join, its stack is recycled as soon
 * as it returns. The cheapest way to run something concurrently.
 * Returns 0, or -ENOMEM (nothing was started). Never switches. */
GROVE_API int grove_spawn_n(void (*fn)(void *), void *arg);

/* Like grove_spawn, but fn starts no earlier than delay_ns from now (eventlet's
 * spawn_after). Killing the thread before then cancels it: fn never runs. */
GROVE_API grove_thread *grove_spawn_after(int64_t delay_ns, void *(*fn)(void *), void *arg);

/* Waits for t to finish and stores fn's return value in *result (if result is not NULL):
 * a thread killed before it started yields NULL; one killed while running yields what fn
 * returned after seeing -ECANCELED (as gevent and eventlet do). Releases t: the handle is
 * stale afterwards; a second join or detach through it gets -EINVAL and frees nothing,
 * however many threads were spawned since. Switches (unless t has finished).
 * Returns 0; -EINVAL if t is NULL, stale, of another hub, the caller itself, not joinable
 * (main, a grove_spawn_n thread), detached or being joined already;
 * -ECANCELED / -ETIMEDOUT if the caller was killed or its timeout fired while waiting
 * (t is then still joinable). */
GROVE_API int grove_join(grove_thread *t, void **result);

/* Releases t without waiting: its stack is recycled when it finishes (at once if it has
 * finished); the handle stays usable (grove_kill...) until then and is stale after.
 * Returns 0, or -EINVAL if t is NULL, stale, of another hub, not joinable, already
 * detached or being joined. Never switches. */
GROVE_API int grove_detach(grove_thread *t);

/* Cancels t: its current and later switch points fail with -ECANCELED until it returns
 * (while t is inside a shield scope, from the moment the shield ends); a thread killed
 * before it started never runs fn. Then waits until t has finished (a joinable t's handle
 * stays valid and t must still be joined or detached; a detached or grove_spawn_n t is
 * released as it finishes). Killing a finished thread that was not released does nothing.
 * Killing the caller itself marks it and returns -ECANCELED at once.
 * The wait is a cleanup path and shields itself: a caller that is killed, or whose
 * timeout scope fires, still waits until t has finished. To bound the wait, call it
 * inside your own shield with a timeout scope opened inside that shield.
 * Switches. Returns 0 once t has finished; -EINVAL for NULL, a stale handle, one of
 * another hub, or the hub's own loop thread; -ETIMEDOUT if a timeout scope opened inside
 * the caller's shield fired (t stays marked as killed); -EDEADLK if nothing could ever
 * make t finish. */
GROVE_API int grove_kill(grove_thread *t);

/* Marks t as killed without waiting for it to finish. Never switches.
 * Returns 0, or -EINVAL for NULL, a stale handle or one of another hub. */
GROVE_API int grove_kill_nowait(grove_thread *t);

/* Registers cb(t, arg) to run when t finishes, t being the same handle. Callbacks run in
 * registration order, in the finishing thread's context just after fn returned (so
 * grove_thread_result(t) is valid); they should not block. Linking a thread that has
 * already finished calls cb at once, in the caller. Returns 0; -ENOMEM; -EINVAL (cb or t
 * NULL, t stale, of another hub, or main). Never switches itself. */
GROVE_API int grove_link(grove_thread *t, void (*cb)(grove_thread *t, void *arg), void *arg);

/* Whether t has finished (returned or was killed). True for a stale handle (its thread
 * finished and was released) or one of another hub; false for NULL. Never switches. */
GROVE_API bool grove_thread_done(const grove_thread *t);
/* fn's return value once t has finished (NULL before, if killed before it started, or
 * for a stale handle: a joined thread's result is what grove_join stored). */
GROVE_API void *grove_thread_result(const grove_thread *t);
/* Whether t was killed (grove_kill) at some point (false for NULL or stale). */
GROVE_API bool grove_thread_killed(const grove_thread *t);

/* The calling green thread's handle (main's own, if called from outside any spawned
 * thread): the very value grove_spawn returned for it. Creates the hub if needed; returns
 * NULL only if that failed. Never switches. */
GROVE_API grove_thread *grove_self(void);
/* 1 if the caller runs in a green thread of an existing hub (main included, once the OS
 * thread has a hub), 0 on an OS thread that has no hub yet, or inside the hub loop
 * itself (a callback that must not switch). Never creates a hub; never switches; no
 * system call. For libraries that choose between a cooperative and a plain blocking path
 * (the patch layer does). */
GROVE_API int grove_is_green(void);

/* A unique number for t within its hub (main is 0; 0 also for NULL or stale). */
GROVE_API uint64_t grove_thread_id(const grove_thread *t);
/* Sets or reads t's name, for debugging and stack-overflow reports. The name is copied
 * and truncated to 31 bytes. set_name returns 0, or -EINVAL (NULL name, t NULL, stale or
 * of another hub). grove_thread_name returns "" for those, else a string valid until t
 * is released or renamed. */
GROVE_API int grove_thread_set_name(grove_thread *t, const char *name);
GROVE_API const char *grove_thread_name(const grove_thread *t);

/* Number of spawned green threads on the caller's hub that have not finished yet
 * (main and the hub itself are not counted). */
GROVE_API size_t grove_thread_count(void);

/* Waits until every green thread of the caller's hub other than the caller has finished.
 * Switches. Returns 0; -EDEADLK if they can never finish (all blocked with nothing that
 * could wake them); -ECANCELED / -ETIMEDOUT as usual. */
GROVE_API int grove_wait_all(void);

/* ---- Sleeping and yielding --------------------------------------------------------- */

/* Sleeps for ns nanoseconds; ns <= 0 yields: the caller goes to the back of the run queue
 * and every thread that was runnable runs once before it resumes. Switches.
 * Returns 0, -ECANCELED or -ETIMEDOUT. A yield inside a timeout scope checks the scope's
 * deadline against the clock, so a loop of yields fails with -ETIMEDOUT as soon as its
 * deadline has passed. Other timers (sleepers, scopes of threads that do not yield) are
 * run by the hub whenever nothing is runnable and at least every 64 switches. Durations
 * saturate: INT64_MAX means forever. */
GROVE_API int grove_sleep(int64_t ns);

/* grove_sleep(0), the cheapest handoff to other runnable green threads. */
GROVE_API int grove_yield(void);

/* Fair I/O (a cooperative budget, as Tokio's) for code that makes its own non-blocking I/O
 * calls: call it after each such call that completed without waiting. Grove's own I/O
 * (io.h, TLS) and the patch layer count themselves. After 64 calls in a row with no wait
 * in between, the caller yields once, so one connection whose data never runs out cannot
 * starve the others. Switches (once per 64 calls in a row); returns nothing: a kill or
 * timeout seen in that yield is left for the caller's next switch point. Does nothing on
 * an OS thread without a hub. */
GROVE_API void grove_io_budget(void);

/* ---- Timeout scopes ---------------------------------------------------------------- */

/* A timeout scope (eventlet's `with Timeout(t):`), allocated by the caller, usually on
 * its stack. Treat it as opaque. */
typedef struct grove_timeout {
    void *opaque_[8];
} grove_timeout;

/* Starts a scope that covers the calling green thread from now until grove_timeout_end.
 * Once ns nanoseconds have passed, every switch point inside the scope (in any nested
 * scope too) fails with -ETIMEDOUT, at once if the thread is blocked. ns == 0 fires at the
 * next switch point; ns < 0 means no deadline (a scope that never fires).
 * Scopes nest; the earliest deadline fires first, and grove_timeout_end tells which scope
 * fired. Never switches. Returns 0, or -EINVAL (NULL). */
GROVE_API int grove_timeout_start(grove_timeout *to, int64_t ns);

/* Ends the scope. Returns true if this scope fired (its deadline passed while it was
 * active: checked against the clock, so a deadline that passed without any switch point
 * in between counts too), false otherwise. Scopes should end in LIFO order; ending an outer scope first
 * also works (it is simply removed). Never switches. */
GROVE_API bool grove_timeout_end(grove_timeout *to);

/* Whether the scope has fired so far (its deadline has passed, by the clock). */
GROVE_API bool grove_timeout_fired(const grove_timeout *to);

/* ---- Green-local storage (gevent.local, eventlet's corolocal) ----------------------- */

/* A key names one value per green thread, like a pthread key per OS thread. */
typedef uint32_t grove_local_key;

/* Makes a key; dtor (may be NULL) is called with a green thread's non-NULL value when that
 * thread finishes (after its link callbacks, in its context, where switch points fail:
 * dtor must not block), or, for main, when its OS thread exits. Keys are process-wide;
 * at most 1024 exist at once. Returns 0; -EINVAL (key NULL); -EAGAIN (no key left).
 * Never switches. Thread-safe. */
GROVE_API int grove_local_key_create(grove_local_key *key, void (*dtor)(void *value));
/* Deletes a key. Values stored under it are no longer visible and their destructor is not
 * called (as pthread_key_delete). Returns 0, or -EINVAL for a key that is not live.
 * Never switches. Thread-safe. */
GROVE_API int grove_local_key_delete(grove_local_key key);
/* Stores value for the calling green thread. Returns 0; -EINVAL (not a live key);
 * -ENOMEM. Never switches. */
GROVE_API int grove_local_set(grove_local_key key, void *value);
/* The calling green thread's value, or NULL (never set, or not a live key). Never
 * switches. */
GROVE_API void *grove_local_get(grove_local_key key);

/* ---- Signals and blocked calls (libc's EINTR) ---------------------------------------- */

/* What the patch layer builds libc's EINTR on; also usable directly. Between
 * grove_eintr_begin and grove_eintr_end (they nest), a blocking call of the calling green
 * thread fails with -EINTR if a signal handler that calls grove_eintr_signal runs on its
 * OS thread while the call is blocked (not inside a shield scope). Every green thread of
 * that OS thread's hub blocked in such a section at that moment sees it, as each would
 * have been a thread blocked in a system call. Signals taken by another OS thread do not
 * count. grove_eintr_begin returns 0 or -ENOMEM; grove_eintr_end returns 0, or -EINVAL
 * without an open section. Never switch. */
GROVE_API int grove_eintr_begin(void);
GROVE_API int grove_eintr_end(void);
/* Call from a signal handler: async-signal-safe, never switches. Does nothing on an OS
 * thread without a hub. */
GROVE_API void grove_eintr_signal(void);

/* ---- Shield scopes ----------------------------------------------------------------- */

/* A shield lets cleanup code wait after a kill or an outer timeout (Trio's
 * CancelScope(shield=True), pthread_setcancelstate). Between grove_shield_begin and
 * grove_shield_end, switch points of the calling green thread do not fail with
 * -ECANCELED, nor with -ETIMEDOUT for timeout scopes opened before the shield began, and
 * a park is not interrupted by them. A timeout scope opened inside the shield still
 * fires, so the cleanup can be bounded. When the shield ends, a kill or a fired outer
 * scope is seen again at the next switch point. Shields nest (a count per thread).
 * Link callbacks and exit hooks of a finishing thread cannot block, shield or not.
 * Every cleanup path of Grove (grove_kill's wait, grove_server_stop, grove_serve's stop,
 * grove_imap_close, grove_pile_destroy, grove_respool_discard/_destroy, grove_stream_close)
 * shields itself when the caller is not already shielded.
 * Example (a killed handler says goodbye, bounded to 1 s): see docs/core.md.
 *
 *     grove_shield_begin();
 *     grove_timeout to;
 *     grove_timeout_start(&to, GROVE_SEC(1));
 *     grove_sendall(fd, "bye\n", 4);
 *     grove_timeout_end(&to);
 *     grove_shield_end();
 *
 * grove_shield_begin: returns 0; -ENOMEM (no hub could be created); -EOVERFLOW (nesting
 * too deep). grove_shield_end: returns 0, or -EINVAL if the caller has no open shield.
 * A thread that returns with shields open simply ends. Never switch. */
GROVE_API int grove_shield_begin(void);
GROVE_API int grove_shield_end(void);

/* ---- Stacks ------------------------------------------------------------------------ */

/* Default stack size for new green threads: 64 KiB unless the environment variable
 * GROVE_STACK_SIZE (bytes; suffix k or m allowed) or grove_stack_size_set says otherwise.
 * Stacks of a page or more get a PROT_NONE guard page below them; overflowing one ends
 * the process with a message naming the green thread. Stacks smaller than a page
 * (the small-stack option, GROVE_STACK_SMALL) are carved from shared slabs without a
 * guard page, for very many shallow threads: an overflow there is detected by a canary
 * at the next switch and also ends the process with the thread's name.
 * Size is rounded up to a power of two (small stacks, at least GROVE_STACK_MIN) or a page.
 * Any number of distinct sizes may be used at once. Above 1 GiB: EINVAL. */
#define GROVE_STACK_SMALL ((size_t)2048)
#define GROVE_STACK_MIN ((size_t)1024)
GROVE_API size_t grove_stack_size_default(void);
/* Sets the process-wide default. Returns 0, or -EINVAL below GROVE_STACK_MIN or above
 * 1 GiB. Thread-safe. */
GROVE_API int grove_stack_size_set(size_t bytes);
/* Sets the default for green threads spawned on the calling OS thread's hub only
 * (0 = back to the process-wide default). Returns 0 or -EINVAL. */
GROVE_API int grove_stack_size_set_local(size_t bytes);

/* ---- fork ------------------------------------------------------------------------------ */

/* fork(2) for programs that use Grove; returns the child's pid in the parent, 0 in the
 * child, or -errno. A plain fork() behaves the same once the process has a hub (Grove
 * registers pthread_atfork handlers then); grove_fork also works before.
 * In the child, the calling OS thread's hub carries on with the calling green thread
 * only, with a fresh poller and wake-up fd, an empty fd table (fds stay open; waiting on
 * them registers them anew), a new tpool (started on demand) and, if the parent ran one,
 * a new watchdog. Every other green thread of the hub is dropped where it stood: it
 * never runs again, grove_join on it returns at once with a NULL result, and its memory
 * is not reclaimed (it is the parent's, shared copy-on-write). Hubs of other OS threads
 * do not exist in the child (handles of their threads are stale there). Objects the dropped threads were using (a server, a pool,
 * signal handlers installed with grove_signal_handle) must not be used in the child.
 * If the caller is not main, main stays behind in the parent: the child exits with
 * status 0 when its last green thread has finished. The parent is unaffected.
 * Does not switch. */
GROVE_API pid_t grove_fork(void);

/* ---- File descriptors (eventlet's trampoline) ------------------------------------- */

#define GROVE_READ 0x1
#define GROVE_WRITE 0x2

/* Waits until fd is readable (GROVE_READ) or writable (GROVE_WRITE), or both (either
 * one). The fd is made non-blocking and registered with the hub's poller (edge-triggered)
 * on first use and stays registered until grove_fd_forget / grove_close.
 * A wake-up may be spurious: retry the I/O and wait again on EAGAIN.
 * One green thread may wait for reading and one for writing on an fd at a time; a second
 * concurrent waiter in the same direction gets -EBUSY (as eventlet does).
 * Switches. Returns a mask of the ready events (> 0); -EBADF if fd is not open or is
 * closed through grove_close while waiting; -EBUSY; -EINVAL (bad events or fd);
 * -EPERM (the fd cannot be polled, e.g. a regular file); -ECANCELED; -ETIMEDOUT. */
GROVE_API int grove_wait_fd(int fd, int events);

/* Waits once until fd is readable (GROVE_READ) or writable (GROVE_WRITE), or either, for
 * an fd that belongs to someone else: libzmq's ZMQ_FD, libpq's PQsocket, an inotify fd, a
 * pipe shared with other code. Like poll(2) on one fd: Grove never changes the fd's
 * flags and does not keep it registered after the call, the readiness is level-triggered
 * (an fd that is ready already returns at once), and any number of green threads may
 * wait on one fd this way, also while it is used with grove_wait_fd. Each call costs two
 * epoll_ctl system calls (three and a dup when the fd is also registered by Grove). Do
 * not close fd while waiting: the wait would then end only by kill or timeout.
 * Switches. Returns a mask of the ready events (> 0; a regular file is always ready);
 * -EBADF (fd not open); -EINVAL (bad events); -ECANCELED; -ETIMEDOUT; -ENOMEM/-EMFILE. */
GROVE_API int grove_poll_fd(int fd, int events);

/* A standing watch on an fd that belongs to someone else, for a caller that waits on the
 * same fd over and over (a database connection's socket, libzmq's ZMQ_FD): the waits of
 * grove_poll_fd without its two system calls each. grove_fdwatch_open registers a private
 * dup of fd (level-triggered, flags never changed) with the calling hub; a wait that finds
 * it registered for its events makes no system call. When the fd turns ready twice with
 * nobody waiting (its owner has not read it yet, or it hung up), the registration is
 * dropped until the next wait, so a watched fd never keeps the hub busy.
 * The watch belongs to the hub that opened it. Because the dup keeps the open file alive,
 * close the watch before the owner closes fd (before PQfinish, zmq_close...).
 *
 * grove_fdwatch_open: *out gets the watch. Returns 0; -EBADF (fd not open); -EPERM (fd
 * cannot be polled: a regular file); -EINVAL (out NULL); -ENOMEM / -EMFILE. Never switches.
 * grove_fdwatch_wait: waits until the fd is readable (GROVE_READ) or writable
 * (GROVE_WRITE), or either; level-triggered like poll(2), so an fd that is ready already
 * returns at the next pass of the hub. Any number of green threads may wait on one watch.
 * Switches. Returns the ready events among those asked for (> 0); -EBADF if the watch
 * was closed while waiting; -EINVAL (bad events, NULL, or a watch of another hub);
 * -ECANCELED; -ETIMEDOUT; -ENOMEM.
 * grove_fdwatch_close: wakes its waiters with -EBADF, unregisters and closes the dup,
 * frees w. Never switches. Returns 0 (also for NULL), or -EINVAL from another hub's
 * thread (nothing is done). After a fork the child's copy of a watch keeps working. */
typedef struct grove_fdwatch grove_fdwatch;
GROVE_API int grove_fdwatch_open(int fd, grove_fdwatch **out);
GROVE_API int grove_fdwatch_wait(grove_fdwatch *w, int events);
GROVE_API int grove_fdwatch_close(grove_fdwatch *w);

/* 1 if the last grove_read / grove_recv on fd got less than it asked for and no hang-up
 * or error has been reported since: the socket was emptied, so a read now would almost
 * surely fail with EAGAIN and the caller may wait (grove_wait_fd) first and save that
 * system call, as grove_read itself does. 0 otherwise (also for fds the hub never saw).
 * Does not change the hint (grove_wait_fd for reading spends it). Never switches; no
 * system call. */
GROVE_API int grove_fd_drained(int fd);

/* Tells the hub that fd is about to be closed or handed elsewhere: waiters on it are woken
 * with -EBADF, it is removed from epoll, and a later fd with the same number starts afresh.
 * Call it before close() on any fd that green threads used (grove_close does both).
 * Never switches. Returns 0 (also for fds the hub never saw). */
GROVE_API int grove_fd_forget(int fd);

/* grove_fd_forget(fd), then close(fd). Returns 0 or -errno from close. */
GROVE_API int grove_close(int fd);

#ifdef __cplusplus
}
#endif
#endif
