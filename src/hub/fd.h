/* The fd table's interface for the layers above (io, tls, proc): see fdtable.c. */
#ifndef GROVE_HUB_FD_H
#define GROVE_HUB_FD_H

#include "core/thread.h"

/* Attaches the hub layer to h (backend, fd table, the loop's I/O hooks) if it is not yet.
 * Returns 0 or -errno. Never switches. */
GROVE_HIDDEN int grove__hub_io_attach(grove__hub *h);
/* Makes fd non-blocking and registers it with the calling hub if it is not yet (cheap
 * when it is). Returns 0; 1 if fd cannot be polled (regular file: do blocking I/O);
 * or -errno (-EBADF...). Never switches. */
GROVE_HIDDEN int grove__fd_ensure(int fd);
/* Stream read hints: 1 if fd's last read was short (drained), clearing it; and recording
 * a read of got bytes out of asked. Never switch, no syscall. */
GROVE_HIDDEN int grove__fd_take_drained(int fd);
GROVE_HIDDEN void grove__fd_note_read(int fd, size_t got, size_t asked);
/* 1 if fd is registered with the calling hub and is a socket (no syscall). */
GROVE_HIDDEN int grove__fd_is_sock(int fd);
/* Registers the hub's wake-up eventfd (wakeup.c). Returns 0 or -errno. */
GROVE_HIDDEN int grove__fd_add_wakeup(grove__hub *h, int efd);
#define GROVE__TOKEN_WAKEUP UINT64_MAX

#endif
