/* Grove's thread pool for blocking work (eventlet.tpool): a function runs on one of a pool
 * of OS threads while the calling green thread waits cooperatively and the others keep
 * running. Regular-file I/O helpers are built on it (files are always "ready" for epoll,
 * so reading a slow disk would otherwise block the hub).
 *
 * The pool is process-wide and shared by every hub; its threads start on first use, up to
 * GROVE_TPOOL_SIZE (environment, default 20) or grove_tpool_set_size. Jobs run in FIFO
 * order. A job's function must not call Grove's green API (it runs outside any hub). */
#ifndef GROVE_TPOOL_H
#define GROVE_TPOOL_H

#include "grove/core.h"

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs fn(arg) on the pool and returns its result (eventlet's tpool.execute). Switches.
 * On failure returns NULL with errno: ECANCELED / ETIMEDOUT (the caller was killed or its
 * scope fired while waiting: fn still runs to completion on its thread, its result is
 * dropped), ENOMEM, EAGAIN (no thread could be started). When NULL is a valid result,
 * use grove_tpool_call. */
GROVE_API void *grove_tpool_run(void *(*fn)(void *), void *arg);

/* Like grove_tpool_run with a return code: 0 and *result, or -ECANCELED / -ETIMEDOUT /
 * -ENOMEM / -EAGAIN. If the caller stops waiting, drop(result) (if not NULL) is called
 * on the hub's thread once fn has finished, so the result can be freed; if that OS thread
 * has exited (its hub is gone) by then, drop runs on the pool thread instead. fn and arg
 * must stay valid until fn returns, whatever happens to the caller. Switches. */
GROVE_API int grove_tpool_call(void *(*fn)(void *), void *arg, void **result, void (*drop)(void *result));

/* Sets the pool size (>= 1) before its first use (later calls may only grow it).
 * Returns 0 or -EINVAL. Thread-safe. */
GROVE_API int grove_tpool_set_size(size_t n);
/* The configured pool size. */
GROVE_API size_t grove_tpool_size(void);

/* read/write/pread/pwrite on any fd (meant for regular files) run in the pool. These
 * wait for the system call to finish even if the caller is killed or times out meanwhile
 * (the buffer is in use until then); the kill or timeout then shows at the caller's next
 * switch point. Return the byte count or -errno. Switch. */
GROVE_API ssize_t grove_file_read(int fd, void *buf, size_t n);
GROVE_API ssize_t grove_file_write(int fd, const void *buf, size_t n);
GROVE_API ssize_t grove_file_pread(int fd, void *buf, size_t n, off_t off);
GROVE_API ssize_t grove_file_pwrite(int fd, const void *buf, size_t n, off_t off);

#ifdef __cplusplus
}
#endif
#endif
