/* The readiness backend: the one part of the hub layer that knows the kernel's polling
 * interface. One implementation per file, chosen at build time (epoll.c today; an
 * io_uring backend is one new file implementing these functions, as redis's ae_*.c).
 *
 * The backend knows nothing of green threads. It watches fds and hands each event back
 * to the fd table as (token, mask) through grove__fdtab_event; tokens are opaque 64-bit
 * values chosen by the caller (see fdtable.c). All functions run on the hub's own OS
 * thread and never switch.
 */
#ifndef GROVE_HUB_BACKEND_H
#define GROVE_HUB_BACKEND_H

#include "core/hub.h"

/* Event bits handed to grove__fdtab_event besides GROVE_READ / GROVE_WRITE. */
#define GROVE__EV_HUP 0x100 /* hang-up or error: EOF or an error is pending */

/* Opens the backend for h (h->backend). Returns 0 or -errno. */
GROVE_HIDDEN int grove__backend_open(grove__hub *h);
/* Closes it (h->backend becomes NULL). Safe if never opened. */
GROVE_HIDDEN void grove__backend_close(grove__hub *h);
/* In a child after fork(): the kernel object is shared with the parent, so the child
 * drops its copy and opens a new, empty one. Returns 0 or -errno. */
GROVE_HIDDEN int grove__backend_reopen(grove__hub *h);

/* Watches fd, edge-triggered, for events (GROVE_READ and/or GROVE_WRITE) until
 * grove__backend_del; each event is reported with token. Returns 0; -EPERM if fd cannot
 * be polled (a regular file or directory); -EEXIST if fd is already watched; -errno. */
GROVE_HIDDEN int grove__backend_add(grove__hub *h, int fd, int events, uint64_t token);
GROVE_HIDDEN void grove__backend_del(grove__hub *h, int fd);

/* A one-shot, level-triggered watch of an fd Grove does not own: reported once (with
 * token) as soon as fd is ready for events, then never again. fd's flags are never
 * changed, and fd may also be watched by grove__backend_add or other one-shots at the
 * same time. o is the backend's bookkeeping, kept by the caller until disarm, which must
 * always be called (also after the event). Returns 0, -EPERM (cannot be polled), -errno. */
typedef struct grove__once {
    int fd;  /* what the backend registered (a private dup when fd was taken) */
    int dup; /* 1 if fd is that private dup */
} grove__once;
GROVE_HIDDEN int grove__backend_once_arm(grove__hub *h, grove__once *o, int fd, int events, uint64_t token);
GROVE_HIDDEN void grove__backend_once_disarm(grove__hub *h, grove__once *o);

/* A standing, level-triggered watch of an fd Grove does not own (grove_fdwatch): adds fd
 * (modify = 0) or changes its events (modify = 1), reported with token until
 * grove__backend_del. The caller registers a private dup, so fd is never shared with the
 * table or a one-shot. Returns 0, -EPERM (cannot be polled), -errno. */
GROVE_HIDDEN int grove__backend_level(grove__hub *h, int fd, int events, uint64_t token, int modify);

/* Waits up to timeout_ns (-1: no limit, 0: just look) and reports every event with
 * grove__fdtab_event. Returns the number of events. */
GROVE_HIDDEN int grove__backend_poll(grove__hub *h, int64_t timeout_ns);

/* Implemented by the fd table (fdtable.c): one event for token. */
GROVE_HIDDEN void grove__fdtab_event(grove__hub *h, uint64_t token, int mask);

#endif
