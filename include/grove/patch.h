/* Grove's patch layer: "greening" unmodified blocking C libraries (eventlet's and gevent's
 * monkey patching, done by interposing on libc).
 *
 * The patch layer is a library of its own: libgrove-patch (static or shared; pkg-config
 * grove-patch, CMake grove::grove_patch) on top of libgrove, or libgrove-preload.so for
 * LD_PRELOAD. Linking libgrove alone never changes libc's behaviour, and Grove's own
 * calls (grove_read...) never go through these interposers, so they behave the same with
 * patching on or off.
 *
 * libgrove-patch defines the libc entry points that can block on fds or time: read, write,
 * readv, writev, recv, recvfrom, recvmsg, send, sendto, sendmsg, sendfile(64), accept,
 * accept4, connect, poll, ppoll, select, pselect, sleep, usleep, nanosleep,
 * clock_nanosleep, getaddrinfo, gethostbyname, gethostbyname_r, and glibc's fortified or
 * internal aliases that real libraries call (__read_chk, __recv_chk, __recvfrom_chk,
 * __poll, __poll_chk). It also keeps per-fd bookkeeping through close, dup, dup2, dup3,
 * fcntl, fcntl64, ioctl(FIONBIO), socket, socketpair, pipe, pipe2 and setsockopt.
 * Each blocking call forwards to libc unchanged unless all of these hold:
 *   - patching is on for its group (grove_patch; off by default when linked,
 *     LD_PRELOAD=libgrove-preload.so turns every group on at load time);
 *   - the calling OS thread has a hub and the caller is one of its green threads, main
 *     included once the hub exists - a plain pthread always gets libc's behaviour;
 *   - for fd calls, the fd is one Grove may wait on: not a regular file, and not
 *     non-blocking by the user's choice. The user's view of O_NONBLOCK is kept apart from
 *     the O_NONBLOCK Grove sets to wait on an fd: it comes from SOCK_NONBLOCK / O_NONBLOCK
 *     at socket, socketpair, accept4 and pipe2, from fcntl(F_SETFL) and ioctl(FIONBIO),
 *     or, for an fd Grove never saw created, from its flags when Grove first looks at it.
 *     Such an fd keeps libc's semantics exactly (EAGAIN); fcntl(F_GETFL) hides Grove's
 *     own O_NONBLOCK.
 * Then the call waits cooperatively instead of blocking the OS thread, and behaves like
 * libc for the caller: -1 and errno, partial transfers, and EINTR for caught signals.
 * Signals: sigaction, signal, bsd_signal, sysv_signal and sigset are interposed too (with
 * patching on) and put a small
 * trampoline in front of the handler (sigaction still reports the user's handler; fault
 * signals SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT and
 * GROVE_DEBUG_SIGNAL are never wrapped). When a handler runs on an OS thread, every green
 * thread blocked in a patched call on that thread's hub wakes: fd calls (read, recv,
 * accept...) fail with EINTR if the handler was installed without SA_RESTART and resume
 * if with it; poll, ppoll, select, pselect, connect, sleep, usleep, nanosleep and
 * clock_nanosleep fail with EINTR either way (as on Linux), the sleeps reporting the time
 * left. As with libc, a signal taken by another OS thread interrupts nothing here (only
 * the thread that runs the handler sees EINTR); a handler installed with a raw
 * rt_sigaction system call is not seen. See
 * grove_eintr_begin in grove/core.h for the mechanism. recv with MSG_WAITALL waits
 * until all n bytes, end of file or an error, as libc does.
 * SO_RCVTIMEO / SO_SNDTIMEO are honoured as timeouts: reads and accepts (send timeout
 * for writes) fail with EAGAIN when they expire, connect with EINPROGRESS, as libc does.
 *
 * Timeout scopes and kill work through these calls, with the nearest libc errno:
 *   - the caller's timeout scope (grove_timeout_start) fires: -1 errno ETIMEDOUT from the
 *     fd calls, poll, ppoll, select, pselect, usleep, nanosleep (with *rem set);
 *     clock_nanosleep returns ETIMEDOUT; sleep returns the seconds not slept;
 *   - kill (grove_kill): the same with ECANCELED.
 * poll's and select's own timeouts give 0, as libc.
 *
 * Several green threads may block on one fd (two readers, or a reader and a poll): the
 * first waits in the hub's slot for the fd; grove_wait_fd's -EBUSY for the others is
 * never seen by the caller - they wait through a private epoll fd instead. poll and
 * select over several fds (or on fds Grove has not waited on: poll never changes an
 * fd's flags) use such a private epoll fd for the duration of the call; a single fd
 * Grove already waits on is waited on directly. ppoll's and pselect's signal mask is not
 * applied while a green thread waits. select takes fds below FD_SETSIZE, as libc.
 *
 * An fd number is reset when the kernel hands it out again through the calls above, so
 * fds that a library closed behind Grove's back (fclose's internal close) cause no harm.
 * Do not share an fd that green threads waited on with plain pthreads: Grove keeps it
 * non-blocking (waiting on the hub) until it is closed through close/grove_close.
 *
 * getaddrinfo and gethostbyname(_r) resolve through grove_getaddrinfo (c-ares, see
 * grove/io.h); getaddrinfo's results are freed by libc's own freeaddrinfo. Errors map to
 * EAI_NONAME, EAI_AGAIN (timeouts included), EAI_MEMORY or EAI_SYSTEM with errno
 * (ECANCELED when killed); gethostbyname sets h_errno.
 *
 * Linking: the definitions preempt libc's for every shared library (ELF symbol
 * interposition). With libgrove-patch.so they are in its dynamic symbol table, ahead of
 * libc. With libgrove-patch.a they are in the executable, and the linker exports those
 * that the shared libraries on the link line (and their dependencies) use; a library the
 * program dlopen()s later sees them only if the program is linked with -rdynamic (or uses
 * libgrove-patch.so). libgrove-preload.so carries its own copy of the interposers (only a
 * preloaded object is searched before libc) and needs a program linked with libgrove.so.
 *
 * The per-fd view above (the user's O_NONBLOCK, socket timeouts) is the patch layer's
 * own. An fd that Grove's own calls (grove_read...) used first is non-blocking from then
 * on, and the patch layer takes that as the user's choice (libc semantics, EAGAIN).
 */
#ifndef GROVE_PATCH_H
#define GROVE_PATCH_H

#include "grove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GROVE_PATCH_IO 0x01u /* read, write, recv*, send*, sendfile, accept*, connect */
#define GROVE_PATCH_SOCKET GROVE_PATCH_IO
#define GROVE_PATCH_POLL 0x02u /* poll, ppoll, select, pselect */
#define GROVE_PATCH_TIME 0x04u /* sleep, usleep, nanosleep, clock_nanosleep */
#define GROVE_PATCH_DNS 0x08u  /* getaddrinfo, gethostbyname(_r) */
#define GROVE_PATCH_ALL 0x0fu

/* Sets which groups are patched (process-wide; 0 turns patching off; bits outside
 * GROVE_PATCH_ALL are ignored). The bookkeeping calls (close, dup*, fcntl*, ioctl,
 * socket*, pipe*, setsockopt) always track fds, so they stay consistent when patching is
 * switched on later. Returns the previous mask. Never switches. Thread-safe (a call
 * already inside an interposer finishes with the mask it started with). */
GROVE_API unsigned grove_patch(unsigned what);
/* The current mask. Never switches. Thread-safe. */
GROVE_API unsigned grove_patched(void);

#ifdef __cplusplus
}
#endif
#endif
