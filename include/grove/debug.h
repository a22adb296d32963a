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

/* Starts the blocking detector: a watchdog OS thread that checks every hub of the process
 * and, when one has not switched green threads for longer than threshold_ns while not
 * idle in the poller, writes one report per incident to fd: the hub's OS thread, the green
 * thread running (name, id) and its backtrace (taken in the blocked thread with a signal,
 * GROVE_DEBUG_SIGNAL). threshold_ns <= 0 means 100 ms. The environment variable
 * GROVE_BLOCK_THRESHOLD_MS starts it on stderr when the first hub is created.
 * Cost while running: a counter store per switch (always there) and a wake-up of the
 * watchdog every threshold/4. Returns 0, -EALREADY if running, or -errno. Thread-safe. */
GROVE_API int grove_debug_watchdog_start(int64_t threshold_ns, int fd);
/* Stops it (waits for the watchdog thread). Returns 0, or -ENOENT if not running. */
GROVE_API int grove_debug_watchdog_stop(void);
/* Incidents reported since the start of the process. */
GROVE_API unsigned long grove_debug_watchdog_reports(void);
#define GROVE_DEBUG_SIGNAL (SIGRTMIN + 3)

/* Writes every green thread of the calling OS thread's hub to fd: id, name, state
 * (running, ready, parked, new), what a parked thread waits on and for how long, and a
 * backtrace of each (frame-pointer walk for parked ones). Never switches. Returns 0 or
 * -errno. Call it from green code, not from a signal handler. */
GROVE_API int grove_debug_dump(int fd);
/* Dumps (to stderr) whenever signo arrives, from a green thread of the calling OS thread's
 * hub (via grove_signal_handle). Returns 0 or -errno. */
GROVE_API int grove_debug_dump_on_signal(int signo);

#ifdef __cplusplus
}
#endif
#endif
