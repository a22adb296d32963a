/* Grove: green threads for C (the eventlet/gevent model).
 *
 * The one header a program includes. Each area has its own header under grove/:
 *   grove/core.h  green threads, the hub, sleep, timeout scopes, fd waiting
 *   grove/sync.h  event, queue family, semaphore, mutex, condition, wait group
 *   grove/pool.h  green pool, imap, pile, resource pool
 *   grove/io.h    sockets, streams, servers, name resolution
 *   grove/tpool.h blocking work on OS threads, regular-file I/O
 *   grove/proc.h  subprocesses and signal handlers as green threads
 *   grove/tls.h   TLS client and server streams (OpenSSL)
 *   grove/debug.h blocking detector, green thread dumps
 * Libraries of their own, each with its own header (include it and link the library):
 *   grove/patch.h greening unmodified blocking libraries: libgrove-patch (or preload
 *                 libgrove-preload.so)
 * Conventions everywhere: functions return >= 0 on success and a negative errno on
 * failure (grove_strerror() describes it); durations are int64_t nanoseconds (GROVE_MS,
 * GROVE_SEC...); a function that may switch green threads says so ("Switches").
 */
#ifndef GROVE_H
#define GROVE_H

#include "grove/core.h"
#include "grove/sync.h"
#include "grove/pool.h"
#include "grove/io.h"
#include "grove/tpool.h"
#include "grove/proc.h"
#include "grove/tls.h"
#include "grove/debug.h"

#endif
