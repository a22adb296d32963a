/* Grove debugging: the blocking detector (eventlet's hub_blocking_detection, gevent's
 * monitor thread) and dumps of every green thread.
 *
 * Build note: parked threads' backtraces are walked through frame pointers; Grove itself
 * is built with -fno-omit-frame-pointer, and your code should be too for full stacks. Link
 * with -rdynamic so function names of the executable show up. tools/grove-gdb.py lists
 * green threads and their stacks from gdb, in a live process or a core file.
 */
#ifndef GROVE_DEBUG_H
#define GROVE_DEBUG_H

#include "grove/core.h"

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the blocking detector saw, passed to a report callback. */
typedef struct grove_debug_block_report {
    uint64_t thread_id;      /* the green thread that runs without switching (its hub's id) */
    const char *thread_name; /* its name (grove_thread_name), or "" if unknown */
    int os_tid;              /* the hub's OS thread (gettid()), 0 if unknown */
    int64_t blocked_ns;      /* how long the hub had not switched when detected */
    int64_t threshold_ns;
    void *const *pcs; /* its backtrace, innermost first (backtrace() addresses;
                                * backtrace_symbols_fd names them); npcs == 0 if the blocked
                                * OS thread did not answer the signal within a second */
    int npcs;
} grove_debug_block_report;
typedef void (*grove_debug_block_cb)(const grove_debug_block_report *r, void *arg);

/* Starts the blocking detector: a watchdog OS thread that checks every hub of the process
 * and, when one has not switched green threads for longer than threshold_ns while not
 * idle in the poller, writes one report per incident to fd: the hub's OS thread, the green
 * thread running (name, id) and its backtrace. The name, id and backtrace are taken inside
 * the blocked OS thread by a signal (GROVE_DEBUG_SIGNAL, whose handler Grove installs the
 * first time), so they are never stale: an incident that ends before the signal lands is
 * not reported. threshold_ns <= 0 means 100 ms. The environment variable
 * GROVE_BLOCK_THRESHOLD_MS (0 for the default 100 ms) starts it on stderr when the first
 * hub is created.
 * Cost while running: a counter store per switch (always there) and a wake-up of the
 * watchdog every threshold/4. Never switches. Thread-safe.
 * Returns 0, -EALREADY if running, or -errno from pthread_create. */
GROVE_API int grove_debug_watchdog_start(int64_t threshold_ns, int fd);
/* The same, but each report goes to cb(report, arg) instead of an fd. cb runs on the
 * watchdog OS thread (not in a hub: no blocking Grove calls), one report at a time; the
 * report and its arrays are valid only during the call. Returns as above, or -EINVAL if
 * cb is NULL. */
GROVE_API int grove_debug_watchdog_start_cb(int64_t threshold_ns, grove_debug_block_cb cb, void *arg);
/* Stops it (waits for the watchdog thread). Never switches. Returns 0, or -ENOENT if not
 * running. */
GROVE_API int grove_debug_watchdog_stop(void);
/* Incidents reported since the start of the process. Never switches. Thread-safe. */
GROVE_API unsigned long grove_debug_watchdog_reports(void);
/* The real-time signal the watchdog sends a blocked hub's OS thread to take its backtrace.
 * Leave it to Grove (do not block it in hub threads, or reports carry no backtrace). */
#define GROVE_DEBUG_SIGNAL (SIGRTMIN + 3)

/* Writes every green thread of the calling OS thread's hub to fd: id, name, state
 * (running, ready, parked, new), what a parked thread waits on and for how long, and a
 * backtrace of each (frame-pointer walk for parked ones). Never switches. Returns 0;
 * -EBADF if fd is not open for writing; -ENOMEM. Call it from green code, not from a
 * signal handler. */
GROVE_API int grove_debug_dump(int fd);
/* Dumps (to stderr) whenever signo arrives, from a green thread of the calling OS thread's
 * hub (via grove_signal_handle). Returns 0 or -errno. */
GROVE_API int grove_debug_dump_on_signal(int signo);

#ifdef __cplusplus
}
#endif
#endif
