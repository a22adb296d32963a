/* System calls as Grove's own code makes them: straight to the kernel, never through the
 * libc names that the patch layer (libgrove-patch) interposes, the way musl's internals
 * call syscall_cp() and libuv funnels everything through uv__ helpers. So grove_read
 * behaves the same whether or not a program also greens libc, and nothing in libgrove
 * depends on which read() the dynamic linker picked.
 *
 * Every wrapper returns the kernel's result: >= 0, or -errno (errno is left alone). None
 * retries EINTR; callers decide. Only names that the patch layer interposes (or that must
 * not depend on libc's wrappers) need one; everything else calls libc as usual.
 *
 * Fault injection (GROVE_FAULT builds, tests/test-fault.c): grove__fault_sys() may make
 * a wrapper fail with the error it would return for lack of resources, without entering
 * the kernel. In normal builds it is a constant 0 and costs nothing.
 */
#ifndef GROVE_BASE_SYS_H
#define GROVE_BASE_SYS_H

#include "base/compiler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef GROVE_FAULT
/* Counts one system call; returns err (a -errno) when this one is to fail, else 0. */
GROVE_HIDDEN int grove__fault_sys(int err);
#endif

#if defined(__x86_64__)
static inline long grove__sc6(long n, long a, long b, long c, long d, long e, long f)
{
    unsigned long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
    return (long)ret;
}
#elif defined(__aarch64__)
static inline long grove__sc6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ __volatile__("svc 0"
                         : "=r"(x0)
                         : "r"(x8), "0"(x0), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory", "cc");
    return x0;
}
#else
/* Other architectures: libc's generic syscall(), which the patch layer never interposes. */
static inline long grove__sc6(long n, long a, long b, long c, long d, long e, long f)
{
    int saved = errno;
    long r = syscall(n, a, b, c, d, e, f);
    if (r == -1) {
        r = -errno;
        errno = saved;
    }
    return r;
}
#endif

/* A fault injection point, then the system call: for calls that can fail for lack of
 * resources, err is the error an injected failure gives. */
static inline long grove__scf(long err, long n, long a, long b, long c, long d, long e, long f)
{
#ifdef GROVE_FAULT
    int inj = grove__fault_sys((int)err);
    if (inj)
        return inj;
#else
    (void)err;
#endif
    return grove__sc6(n, a, b, c, d, e, f);
}
#define GROVE__SC(n, a, b, c, d, e, f)                                                                                 \
    grove__sc6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define GROVE__SCF(err, n, a, b, c, d, e, f)                                                                           \
    grove__scf((long)(err), (long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline ssize_t grove__sys_read(int fd, void *buf, size_t n)
{
    return GROVE__SCF(-EIO, SYS_read, fd, buf, n, 0, 0, 0);
}
static inline ssize_t grove__sys_write(int fd, const void *buf, size_t n)
{
    return GROVE__SCF(-EIO, SYS_write, fd, buf, n, 0, 0, 0);
}
/* For signal handlers and last words: no fault injection. */
static inline ssize_t grove__sys_write_raw(int fd, const void *buf, size_t n)
{
    return GROVE__SC(SYS_write, fd, buf, n, 0, 0, 0);
}
static inline ssize_t grove__sys_readv(int fd, const struct iovec *iov, int cnt)
{
    return GROVE__SCF(-EIO, SYS_readv, fd, iov, cnt, 0, 0, 0);
}
static inline ssize_t grove__sys_writev(int fd, const struct iovec *iov, int cnt)
{
    return GROVE__SCF(-EIO, SYS_writev, fd, iov, cnt, 0, 0, 0);
}
static inline ssize_t grove__sys_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *salen)
{
    return GROVE__SCF(-ENOBUFS, SYS_recvfrom, fd, buf, n, flags, sa, salen);
}
static inline ssize_t grove__sys_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                                        socklen_t salen)
{
    return GROVE__SCF(-ENOBUFS, SYS_sendto, fd, buf, n, flags, sa, salen);
}
static inline ssize_t grove__sys_recvmsg(int fd, struct msghdr *m, int flags)
{
    return GROVE__SCF(-ENOBUFS, SYS_recvmsg, fd, m, flags, 0, 0, 0);
}
static inline ssize_t grove__sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
    return GROVE__SCF(-ENOBUFS, SYS_sendmsg, fd, m, flags, 0, 0, 0);
}
static inline ssize_t grove__sys_pread(int fd, void *buf, size_t n, off_t off)
{
    return GROVE__SCF(-EIO, SYS_pread64, fd, buf, n, off, 0, 0);
}
static inline ssize_t grove__sys_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return GROVE__SCF(-EIO, SYS_pwrite64, fd, buf, n, off, 0, 0);
}
static inline int grove__sys_close(int fd) { return (int)GROVE__SC(SYS_close, fd, 0, 0, 0, 0, 0); }
static inline int grove__sys_socket(int domain, int type, int proto)
{
    return (int)GROVE__SCF(-EMFILE, SYS_socket, domain, type, proto, 0, 0, 0);
}
static inline int grove__sys_socketpair(int domain, int type, int proto, int sv[2])
{
    return (int)GROVE__SCF(-EMFILE, SYS_socketpair, domain, type, proto, sv, 0, 0);
}
static inline int grove__sys_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return (int)GROVE__SCF(-ENOBUFS, SYS_connect, fd, sa, len, 0, 0, 0);
}
static inline int grove__sys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return (int)GROVE__SCF(-EMFILE, SYS_accept4, fd, sa, len, flags, 0, 0);
}
static inline int grove__sys_setsockopt(int fd, int level, int opt, const void *v, socklen_t len)
{
    return (int)GROVE__SC(SYS_setsockopt, fd, level, opt, v, len, 0);
}
static inline int grove__sys_fcntl(int fd, int cmd, long arg)
{
    return (int)GROVE__SC(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}
static inline int grove__sys_dup_cloexec(int fd)
{
    return (int)GROVE__SCF(-EMFILE, SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0, 0, 0, 0);
}
static inline int grove__sys_pipe2(int fds[2], int flags)
{
    return (int)GROVE__SCF(-EMFILE, SYS_pipe2, fds, flags, 0, 0, 0, 0);
}
static inline int grove__sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts)
{
    return (int)GROVE__SC(SYS_ppoll, fds, n, ts, 0, 8, 0); /* 8: the kernel's sigset size */
}
/* sigaction without the patch layer's interposer (which wraps handlers to give patched
 * calls libc's EINTR): glibc exports the same function as __sigaction. Under ASan the
 * public name, so ASan's interceptor still sees Grove's handlers (the patch layer never
 * wraps the fault signals Grove installs handlers for). */
#include <signal.h>
#include <string.h>
#ifndef GROVE_ASAN
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
#endif
static inline int grove__sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
#ifdef GROVE_ASAN
    return sigaction(sig, act, old);
#else
    return __sigaction(sig, act, old);
#endif
}
/* signal(sig, SIG_DFL) through grove__sys_sigaction (async-signal-safe). */
static inline void grove__sys_signal_default(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    grove__sys_sigaction(sig, &sa, NULL);
}

/* Sleeps for ns nanoseconds (<= 0: returns at once), resuming after signals. */
GROVE_HIDDEN void grove__sys_sleep_ns(int64_t ns);

#endif
