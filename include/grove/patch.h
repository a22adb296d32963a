/* Grove's patch layer: "greening" unmodified blocking C libraries (eventlet's and gevent's
 * monkey patching, done by interposing on libc).
 *
 * libgrove defines the libc entry points that can block on fds or time (read, write,
 * recv*, send*, accept*, connect, poll, ppoll, select, pselect, sleep, usleep, nanosleep,
 * clock_nanosleep, getaddrinfo, gethostbyname(_r), close, dup*, fcntl, setsockopt,
 * getsockopt, and the fortified glibc aliases __read_chk, __recv_chk, __recvfrom_chk,
 * __poll_chk). Each forwards to libc unchanged unless all of these hold:
 *   - patching is on for its group (grove_patch; LD_PRELOAD=libgrove-preload.so turns
 *     everything on at load time);
 *   - the calling OS thread has a hub and the caller is one of its green threads (main
 *     included) - a plain pthread always gets libc's behaviour;
 *   - for fd calls, the fd is one Grove may wait on: an fd that was already non-blocking
 *     when Grove first saw it, or that the caller made non-blocking with fcntl, is the
 *     user's choice and keeps libc's semantics exactly (EAGAIN).
 * Then the call waits cooperatively instead of blocking the OS thread, and behaves like
 * libc for the caller: -1 and errno, partial transfers, EAGAIN when SO_RCVTIMEO /
 * SO_SNDTIMEO expire. fcntl(F_GETFL) hides the O_NONBLOCK that Grove set on an fd.
 * Timeout scopes and kill work through these calls: a call interrupted by kill fails with
 * errno ECANCELED, by the caller's timeout scope with ETIMEDOUT (poll, select and sleeps
 * included; the sleep functions return the unslept time as usual).
 * getaddrinfo resolves through Grove's resolver (c-ares); results are freed by libc's own
 * freeaddrinfo. Do not share a green fd with plain pthreads: Grove keeps it non-blocking.
 */
#ifndef GROVE_PATCH_H
#define GROVE_PATCH_H

#include "grove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GROVE_PATCH_IO     0x01u   /* read, write, recv*, send*, accept*, connect */
#define GROVE_PATCH_POLL   0x02u   /* poll, ppoll, select, pselect */
#define GROVE_PATCH_TIME   0x04u   /* sleep, usleep, nanosleep, clock_nanosleep */
#define GROVE_PATCH_DNS    0x08u   /* getaddrinfo, gethostbyname(_r) */
#define GROVE_PATCH_ALL    0x0fu

/* Sets which groups are patched (process-wide; 0 turns patching off). close, dup*, fcntl
 * and the socket options are always tracked, so fds stay consistent when patching is
 * switched on later. Returns the previous mask. Never switches. Thread-safe. */
GROVE_API unsigned grove_patch(unsigned what);
/* The current mask. */
GROVE_API unsigned grove_patched(void);

#ifdef __cplusplus
}
#endif
#endif
