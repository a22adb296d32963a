/* The patch layer: libc's blocking entry points, made cooperative for green threads.
 *
 * Every function here has libc's name and signature. It forwards to the real one
 * (dlsym(RTLD_NEXT)) unless patching is on for its group, the caller is a green thread,
 * and (for fds) the fd is one Grove may wait on (see include/grove/patch.h). The green
 * path calls the real function on the now non-blocking fd and waits on the hub while it
 * says EAGAIN, so the caller sees libc's results: -1 and errno, partial transfers.
 */
#include "base/compiler.h"
#include "base/time.h"

#include "grove/debug.h"
#include "grove/io.h"
#include "grove/patch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic unsigned g_patch;

unsigned grove_patch(unsigned what) { return atomic_exchange(&g_patch, what & GROVE_PATCH_ALL); }
unsigned grove_patched(void) { return atomic_load_explicit(&g_patch, memory_order_relaxed); }

/* The real functions, looked up once: threads racing on the first call all find the same
 * address, so relaxed atomics are enough. */
#define REAL(name) ((__typeof__(real_##name))real_get((void **)&real_##name, #name))

static void *real_lookup(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        char msg[128];
        int n = snprintf(msg, sizeof msg, "grove: cannot find libc's %s\n", name);
        (void)!syscall(SYS_write, 2, msg, (size_t)n);
        abort();
    }
    return f;
}

static inline void *real_get(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (grove__unlikely(!f)) {
        f = real_lookup(name);
        __atomic_store_n(slot, f, __ATOMIC_RELAXED);
    }
    return f;
}

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_readv)(int, const struct iovec *, int);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
static unsigned (*real_sleep)(unsigned);
static int (*real_usleep)(useconds_t);
static int (*real_nanosleep)(const struct timespec *, struct timespec *);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
static int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
static struct hostent *(*real_gethostbyname)(const char *);
static int (*real_gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_fcntl64)(int, int, ...);
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_socket)(int, int, int);
static int (*real_socketpair)(int, int, int, int[2]);
static int (*real_pipe)(int[2]);
static int (*real_pipe2)(int[2], int);
static ssize_t (*real_sendfile)(int, int, off_t *, size_t);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

/* ---- The patch layer's view of each fd ----------------------------------------------------
 * Process-wide (fds are), indexed by fd in pages that are allocated on first use and never
 * freed, so a reader never sees a table move under it. Two OS threads using one fd at once
 * through libc is already a race in the program; the entries need no lock. */

typedef struct pfd {
    unsigned char known;        /* the user's O_NONBLOCK has been looked at */
    unsigned char user_nb;      /* non-blocking by the user's choice: keep libc semantics */
    unsigned char green;        /* made non-blocking by this layer to wait on the hub */
    unsigned char unpollable;   /* regular file, directory, block device: libc as is */
    int64_t rcvtimeo, sndtimeo; /* SO_RCVTIMEO / SO_SNDTIMEO in ns, 0 = none */
} pfd;

#define PFD_PAGE 1024
#define PFD_PAGES 4096 /* fds below 4M are tracked; others keep libc's behaviour */
static pfd *_Atomic g_pfd[PFD_PAGES];
static pthread_mutex_t g_pfd_mu = PTHREAD_MUTEX_INITIALIZER;

/* fd's entry; with create, allocates its page (NULL only when out of memory or fd is out
 * of range). */
static pfd *pfd_get(int fd, int create)
{
    if (fd < 0 || fd >= PFD_PAGE * PFD_PAGES)
        return NULL;
    pfd *pg = atomic_load_explicit(&g_pfd[fd / PFD_PAGE], memory_order_acquire);
    if (grove__unlikely(!pg)) {
        if (!create)
            return NULL;
        pthread_mutex_lock(&g_pfd_mu);
        pg = atomic_load_explicit(&g_pfd[fd / PFD_PAGE], memory_order_relaxed);
        if (!pg) {
            pg = calloc(PFD_PAGE, sizeof *pg);
            atomic_store_explicit(&g_pfd[fd / PFD_PAGE], pg, memory_order_release);
        }
        pthread_mutex_unlock(&g_pfd_mu);
        if (!pg)
            return NULL;
    }
    return &pg[fd % PFD_PAGE];
}

static void pfd_reset(int fd)
{
    pfd *e = pfd_get(fd, 0);
    if (e)
        memset(e, 0, sizeof *e);
}

static int real_fcntl_(int fd, int cmd, long arg);

/* 1 if a libc call on fd from the current green thread should wait cooperatively (the fd
 * is then non-blocking); 0 to keep libc's behaviour. The first look at an fd records the
 * user's O_NONBLOCK and whether it can be polled at all. */
static int fd_green(int fd, int64_t *rcvtimeo, int64_t *sndtimeo)
{
    if (fd < 0 || !grove_is_green())
        return 0;
    pfd *e = pfd_get(fd, 1);
    if (!e)
        return 0;
    if (grove__unlikely(!e->green)) {
        if (!e->known) {
            int fl = real_fcntl_(fd, F_GETFL, 0);
            if (fl < 0)
                return 0; /* a bad fd: libc says what is wrong */
            struct stat st;
            e->unpollable = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode));
            e->user_nb = (fl & O_NONBLOCK) != 0;
            e->known = 1;
        }
        if (e->user_nb || e->unpollable)
            return 0;
        int fl = real_fcntl_(fd, F_GETFL, 0);
        if (fl < 0 || (!(fl & O_NONBLOCK) && real_fcntl_(fd, F_SETFL, fl | O_NONBLOCK) < 0))
            return 0;
        e->green = 1;
    } else if (e->user_nb) {
        return 0;
    }
    if (rcvtimeo)
        *rcvtimeo = e->rcvtimeo;
    if (sndtimeo)
        *sndtimeo = e->sndtimeo;
    return 1;
}

/* The user turned O_NONBLOCK on or off (fcntl, ioctl, or a creating call's flags). */
static void fd_set_user_nb(int fd, int on)
{
    pfd *e = pfd_get(fd, 1);
    if (e) {
        e->known = 1;
        e->user_nb = (unsigned char)(on != 0);
    }
}

/* Whether this layer keeps O_NONBLOCK set on fd for its own waiting (hidden from F_GETFL). */
static int fd_registered(int fd)
{
    pfd *e = pfd_get(fd, 0);
    return e && e->green;
}

static int fd_nb_owned(int fd)
{
    pfd *e = pfd_get(fd, 0);
    return e && e->known && e->green && !e->user_nb;
}

static void fd_set_timeo(int fd, int send, int64_t ns)
{
    pfd *e = pfd_get(fd, 1);
    if (e) {
        if (send)
            e->sndtimeo = ns;
        else
            e->rcvtimeo = ns;
    }
}

static int fd_timeo(int fd, int64_t *rcvtimeo, int64_t *sndtimeo)
{
    pfd *e = pfd_get(fd, 0);
    if (!e)
        return 0;
    *rcvtimeo = e->rcvtimeo;
    *sndtimeo = e->sndtimeo;
    return e->rcvtimeo != 0 || e->sndtimeo != 0;
}

static void fd_copy_state(int from, int to)
{
    pfd *a = pfd_get(from, 0), *b = pfd_get(to, 1);
    if (a && b) {
        b->known = a->known;
        b->user_nb = a->user_nb;
        b->green = a->green;
        b->unpollable = a->unpollable;
    }
}

static inline int on(unsigned group) { return (atomic_load_explicit(&g_patch, memory_order_relaxed) & group) != 0; }

/* A green thread (main included) of a hub, not the hub loop itself. */
static inline int green_thread(void) { return grove_is_green(); }

/* Sets errno for a Grove error and returns -1. */
static inline int fail(int rc)
{
    errno = -rc;
    return -1;
}

/* Waits for fd with a one-shot wait (grove_poll_fd) when the hub's own waiter slot for fd
 * is taken in that direction (grove_wait_fd says -EBUSY: another green thread waits there
 * already), so two green threads may block on one fd as they could with libc.
 * Switches. Returns > 0 or -errno. */
static int wait_private(int fd, int events) { return grove_poll_fd(fd, events); }

/* ---- Signals: libc's EINTR ------------------------------------------------------------------
 * A blocked libc call fails with EINTR when a caught signal's handler runs (or resumes, for
 * a handler installed with SA_RESTART; sleeps and poll/select fail either way, as on Linux).
 * To see handlers run, sigaction and signal install a trampoline in front of the user's
 * handler: it counts the signal, tells the hub (grove_eintr_signal: green threads blocked in
 * a patched call on that OS thread wake with -EINTR), then calls the user's handler.
 * sigaction reports the user's handler back, never the trampoline. Synchronous fault signals
 * and Grove's debug signal are never wrapped. */
static struct sigaction g_user_act[_NSIG];
static _Atomic unsigned char g_wrapped[_NSIG];
static _Atomic unsigned g_nwrapped;  /* signals with a trampoline installed */
static _Atomic unsigned g_norestart; /* handlers without SA_RESTART that have run */

static void trampoline(int sig, siginfo_t *si, void *uc)
{
    int e = errno;
    const struct sigaction *u = &g_user_act[sig];
    if (!(u->sa_flags & SA_RESTART))
        atomic_fetch_add_explicit(&g_norestart, 1, memory_order_relaxed);
    grove_eintr_signal();
    errno = e;
    if (u->sa_flags & SA_SIGINFO)
        u->sa_sigaction(sig, si, uc);
    else if (u->sa_handler != SIG_DFL && u->sa_handler != SIG_IGN)
        u->sa_handler(sig);
}

static int wrappable(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
    case SIGABRT: return 0;
    default: return sig > 0 && sig < _NSIG && sig != GROVE_DEBUG_SIGNAL;
    }
}

/* Whether a blocked call should see signals: only once a handler is wrapped. */
static inline int eintr_wanted(void) { return atomic_load_explicit(&g_nwrapped, memory_order_relaxed) != 0; }

/* Waits for fd under an optional SO_*TIMEO limit. 0 (retry the call), or -1 with errno:
 * EAGAIN (the socket timeout expired), ETIMEDOUT (the caller's scope), ECANCELED, EBADF,
 * EINTR (a handler without SA_RESTART ran since the call began: norestart0)... */
static int wait_fd_timeo(int fd, int events, grove_timeout *to, int has_to, unsigned norestart0)
{
    int sig = eintr_wanted();
    if (sig)
        grove_eintr_begin();
    int rc = grove_wait_fd(fd, events);
    if (rc == -EBUSY)
        rc = wait_private(fd, events);
    if (sig)
        grove_eintr_end();
    if (rc >= 0)
        return 0;
    if (rc == -EINTR) /* SA_RESTART handlers only: the call resumes */
        return atomic_load_explicit(&g_norestart, memory_order_relaxed) != norestart0 ? fail(rc) : 0;
    if (rc == -ETIMEDOUT && has_to && grove_timeout_fired(to))
        return fail(-EAGAIN);
    return fail(rc);
}

/* The green loop shared by the fd calls: try, wait on EAGAIN, retry. */
#define GREEN_FD(group, fd, events, use_send_timeo, call)                                                              \
    do {                                                                                                               \
        int64_t rt_ = 0, st_ = 0;                                                                                      \
        if (!on(group) || !fd_green(fd, &rt_, &st_))                                                                   \
            return call;                                                                                               \
        int64_t lim_ = (use_send_timeo) ? st_ : rt_;                                                                   \
        grove_timeout to_;                                                                                             \
        if (lim_ > 0)                                                                                                  \
            grove_timeout_start(&to_, lim_);                                                                           \
        __typeof__(call) r_;                                                                                           \
        unsigned nr_ = atomic_load_explicit(&g_norestart, memory_order_relaxed);                                       \
        for (;;) {                                                                                                     \
            r_ = call;                                                                                                 \
            if (r_ >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))                                                  \
                break;                                                                                                 \
            if (wait_fd_timeo(fd, events, &to_, lim_ > 0, nr_) < 0) {                                                  \
                r_ = -1;                                                                                               \
                break;                                                                                                 \
            }                                                                                                          \
        }                                                                                                              \
        if (r_ >= 0)                                                                                                   \
            grove_io_budget(); /* fair I/O: a reader whose data never runs out yields now and then */                  \
        if (lim_ > 0) {                                                                                                \
            int e_ = errno;                                                                                            \
            grove_timeout_end(&to_);                                                                                   \
            errno = e_;                                                                                                \
        }                                                                                                              \
        return r_;                                                                                                     \
    } while (0)

/* The SO_RCVTIMEO / SO_SNDTIMEO the kernel holds for fd (a dup or an accepted socket
 * shares or inherits them), remembered for the green path. */
static void timeo_from_kernel(int fd)
{
    static const int opts[2] = {SO_RCVTIMEO, SO_SNDTIMEO};
    for (int i = 0; i < 2; i++) {
        struct timeval tv;
        socklen_t l = sizeof tv;
        if (getsockopt(fd, SOL_SOCKET, opts[i], &tv, &l) == 0 && l == sizeof tv)
            fd_set_timeo(fd, i, grove__sec_to_ns((int64_t)tv.tv_sec, (int64_t)tv.tv_usec * 1000));
    }
}

/* A new fd number from the kernel (socket, accept, pipe...): whatever the hub remembered
 * about an earlier fd with that number is stale (it may have been closed behind Grove's
 * back, e.g. by fclose, whose close libc makes internally), and whether the user asked for
 * O_NONBLOCK is known from the call's flags. Only for threads with a hub; keeps errno. */
static void adopt_fd(int fd, int user_nb)
{
    if (fd < 0)
        return;
    int e = errno;
    grove_fd_forget(fd);
    pfd_reset(fd);
    fd_set_user_nb(fd, user_nb);
    errno = e;
}

/* An accepted socket inherits the listener's socket timeouts (Linux copies them): taken
 * from what was recorded for the listener, so the accept path makes no extra syscall. */
static void adopt_accepted(int lfd, int fd, int user_nb)
{
    adopt_fd(fd, user_nb);
    int64_t rt, st;
    if (fd >= 0 && fd_timeo(lfd, &rt, &st)) {
        fd_set_timeo(fd, 0, rt);
        fd_set_timeo(fd, 1, st);
    }
}

/* A new fd that shares from's open file description (dup, F_DUPFD): a fresh slot with
 * from's view of O_NONBLOCK and the socket's timeouts. */
static void adopt_dup(int from, int fd)
{
    if (fd < 0)
        return;
    int e = errno;
    grove_fd_forget(fd);
    pfd_reset(fd);
    fd_copy_state(from, fd);
    timeo_from_kernel(fd);
    errno = e;
}

static int real_fcntl_(int fd, int cmd, long arg) { return REAL(fcntl)(fd, cmd, arg); }

/* The interposers must be visible outside libgrove.so, which is built with hidden
 * visibility by default. */
#pragma GCC visibility push(default)

ssize_t read(int fd, void *buf, size_t n) { GREEN_FD(GROVE_PATCH_IO, fd, GROVE_READ, 0, REAL(read)(fd, buf, n)); }
ssize_t write(int fd, const void *buf, size_t n)
{
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_WRITE, 1, REAL(write)(fd, buf, n));
}
ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_READ, 0, REAL(readv)(fd, iov, cnt));
}
ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_WRITE, 1, REAL(writev)(fd, iov, cnt));
}
static ssize_t recvfrom_once(int fd, void *buf, size_t n, int fl, struct sockaddr *sa, socklen_t *len)
{
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_READ, 0, REAL(recvfrom)(fd, buf, n, fl, sa, len));
}

/* MSG_WAITALL on a stream socket: the kernel returns what a non-blocking socket has, so
 * the green path keeps receiving until n bytes, end of file, or an error (then the bytes
 * already received are returned, as libc does after a signal or an error). */
static ssize_t recv_all(int fd, void *buf, size_t n, int fl, struct sockaddr *sa, socklen_t *len)
{
    int type = 0;
    socklen_t tl = sizeof type;
    if ((fl & MSG_PEEK) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)
        return recvfrom_once(fd, buf, n, fl, sa, len);
    size_t got = 0;
    while (got < n) {
        ssize_t r = recvfrom_once(fd, (char *)buf + got, n - got, fl, got ? NULL : sa, got ? NULL : len);
        if (r < 0)
            return got ? (ssize_t)got : -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t recv(int fd, void *buf, size_t n, int fl)
{
    if (fl & MSG_DONTWAIT)
        return REAL(recv)(fd, buf, n, fl);
    if (fl & MSG_WAITALL)
        return recv_all(fd, buf, n, fl, NULL, NULL);
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_READ, 0, REAL(recv)(fd, buf, n, fl));
}
ssize_t recvfrom(int fd, void *buf, size_t n, int fl, struct sockaddr *sa, socklen_t *len)
{
    if (fl & MSG_DONTWAIT)
        return REAL(recvfrom)(fd, buf, n, fl, sa, len);
    if (fl & MSG_WAITALL)
        return recv_all(fd, buf, n, fl, sa, len);
    return recvfrom_once(fd, buf, n, fl, sa, len);
}
ssize_t recvmsg(int fd, struct msghdr *m, int fl)
{
    if (fl & MSG_DONTWAIT)
        return REAL(recvmsg)(fd, m, fl);
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_READ, 0, REAL(recvmsg)(fd, m, fl));
}
ssize_t send(int fd, const void *buf, size_t n, int fl)
{
    if (fl & MSG_DONTWAIT)
        return REAL(send)(fd, buf, n, fl);
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_WRITE, 1, REAL(send)(fd, buf, n, fl));
}
ssize_t sendto(int fd, const void *buf, size_t n, int fl, const struct sockaddr *sa, socklen_t len)
{
    if (fl & MSG_DONTWAIT)
        return REAL(sendto)(fd, buf, n, fl, sa, len);
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_WRITE, 1, REAL(sendto)(fd, buf, n, fl, sa, len));
}
ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
    if (fl & MSG_DONTWAIT)
        return REAL(sendmsg)(fd, m, fl);
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_WRITE, 1, REAL(sendmsg)(fd, m, fl));
}
static int green_accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl)
{
    GREEN_FD(GROVE_PATCH_IO, fd, GROVE_READ, 0, REAL(accept4)(fd, sa, len, fl));
}
int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int r = green_accept4(fd, sa, len, 0); /* accept4 with no flags is accept */
    adopt_accepted(fd, r, 0);
    return r;
}
int accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl)
{
    int r = green_accept4(fd, sa, len, fl);
    adopt_accepted(fd, r, (fl & SOCK_NONBLOCK) != 0);
    return r;
}

static ssize_t green_sendfile(int out, int in, off_t *off, size_t n)
{
    GREEN_FD(GROVE_PATCH_IO, out, GROVE_WRITE, 1, REAL(sendfile)(out, in, off, n));
}
ssize_t sendfile(int out, int in, off_t *off, size_t n) { return green_sendfile(out, in, off, n); }
ssize_t sendfile64(int out, int in, off_t *off, size_t n) { return green_sendfile(out, in, off, n); }

/* glibc's fortified entry points (-D_FORTIFY_SOURCE), which libraries call directly. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        abort();
    return read(fd, buf, n);
}
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int fl)
{
    if (n > buflen)
        abort();
    return recv(fd, buf, n, fl);
}
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int fl, struct sockaddr *sa, socklen_t *len)
{
    if (n > buflen)
        abort();
    return recvfrom(fd, buf, n, fl, sa, len);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    int64_t rt = 0, st = 0;
    if (!on(GROVE_PATCH_IO) || !fd_green(fd, &rt, &st))
        return REAL(connect)(fd, sa, len);
    if (REAL(connect)(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -1;
    grove_timeout to;
    if (st > 0)
        grove_timeout_start(&to, st);
    /* Interrupted by any caught signal: EINTR, and the connection goes on in the
     * background (what libc reports when it does not restart connect). */
    int rc = wait_fd_timeo(fd, GROVE_WRITE, &to, st > 0, atomic_load(&g_norestart) - 1);
    int e = errno;
    if (st > 0)
        grove_timeout_end(&to);
    if (rc < 0) {
        errno = e == EAGAIN ? EINPROGRESS : e; /* libc's answer to an SO_SNDTIMEO timeout */
        return -1;
    }
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return -1;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- poll and select ------------------------------------------------------------------ */

/* The epoll events that make a pollfd entry ready (poll always reports errors). */
static uint32_t epoll_events_of(short ev)
{
    uint32_t e = EPOLLERR | EPOLLHUP;
    if (ev & POLLIN)
        e |= EPOLLIN | EPOLLRDHUP;
    if (ev & POLLPRI)
        e |= EPOLLPRI;
    if (ev & POLLOUT)
        e |= EPOLLOUT;
    if (ev & POLLRDHUP)
        e |= EPOLLRDHUP;
    return e;
}

/* Waits once until something in fds may be ready. A single fd that only asks for
 * POLLIN/POLLOUT and whose hub slot is free is waited on directly (no syscall); anything
 * else (several fds, POLLPRI, fds another green thread is already waiting on, fds Grove
 * must not touch because the user made them non-blocking) goes through a private epoll
 * fd, which watches the caller's fds without changing them. Regular files cannot be
 * polled (EPERM) and are left to the final poll(2), which reports them ready.
 * Switches. Returns >= 0 or -errno. */
static int poll_wait_once(struct pollfd *fds, nfds_t n)
{
    if (n == 1 && fds[0].fd >= 0 && !(fds[0].events & ~(POLLIN | POLLOUT | POLLRDHUP)) &&
        (fds[0].events & (POLLIN | POLLOUT)) && fd_registered(fds[0].fd) && fd_green(fds[0].fd, NULL, NULL)) {
        int ev = (fds[0].events & POLLIN ? GROVE_READ : 0) | (fds[0].events & POLLOUT ? GROVE_WRITE : 0);
        int rc = grove_wait_fd(fds[0].fd, ev);
        if (rc != -EBUSY)
            return rc;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    for (nfds_t i = 0; i < n; i++) {
        if (fds[i].fd < 0)
            continue;
        struct epoll_event ev = {.events = epoll_events_of(fds[i].events)};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ev) == 0)
            continue;
        if (errno == EEXIST) { /* the same fd twice in the array: watch the union */
            for (nfds_t j = 0; j < i; j++)
                if (fds[j].fd == fds[i].fd)
                    ev.events |= epoll_events_of(fds[j].events);
            (void)epoll_ctl(ep, EPOLL_CTL_MOD, fds[i].fd, &ev);
        }
        /* EPERM (regular file) or EBADF (closed meanwhile): poll(2) reports those. */
    }
    int rc = grove_wait_fd(ep, GROVE_READ);
    grove_fd_forget(ep);
    REAL(close)(ep);
    return rc;
}

/* poll(2) for green threads: a non-blocking poll(2) fills revents; in between, the
 * caller waits on the hub until something may be ready (a wake-up can be spurious, so it
 * loops) or timeout_ns passes (< 0: no limit). Returns poll's result, or -1 with errno:
 * ETIMEDOUT (the caller's timeout scope), ECANCELED (killed), ENOMEM/EMFILE. */
static int green_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ns)
{
    int r = REAL(poll)(fds, n, 0);
    if (r != 0 || timeout_ns == 0)
        return r;
    grove_timeout to;
    if (timeout_ns > 0)
        grove_timeout_start(&to, timeout_ns);
    int sig = eintr_wanted(); /* poll and select fail with EINTR, SA_RESTART or not */
    for (;;) {
        if (sig)
            grove_eintr_begin();
        int rc = poll_wait_once(fds, n);
        if (sig)
            grove_eintr_end();
        if (rc < 0) {
            if (rc == -ETIMEDOUT && timeout_ns > 0 && grove_timeout_fired(&to))
                r = 0; /* poll's own timeout */
            else
                r = fail(rc);
            break;
        }
        r = REAL(poll)(fds, n, 0);
        if (r != 0)
            break;
    }
    if (timeout_ns > 0) {
        int e = errno;
        grove_timeout_end(&to);
        errno = e;
    }
    return r;
}

int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    if (!on(GROVE_PATCH_POLL) || !green_thread())
        return REAL(poll)(fds, n, timeout_ms);
    return green_poll(fds, n, timeout_ms < 0 ? -1 : GROVE_MS(timeout_ms));
}
int __poll(struct pollfd *fds, nfds_t n, int timeout_ms) { return poll(fds, n, timeout_ms); }
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout_ms, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        abort();
    return poll(fds, n, timeout_ms);
}

static int64_t ts_ns(const struct timespec *ts) { return ts ? grove__sec_to_ns((int64_t)ts->tv_sec, ts->tv_nsec) : -1; }

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    if (!on(GROVE_PATCH_POLL) || !green_thread())
        return REAL(ppoll)(fds, n, ts, mask);
    return green_poll(fds, n, ts_ns(ts)); /* the signal mask is not applied while waiting */
}

static int green_select(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t timeout_ns)
{
    if (nfds < 0 || nfds > FD_SETSIZE)
        return fail(-EINVAL);
    /* The pollfd array lives on the green thread's stack when small (stacks may be small). */
    nfds_t n = 0;
    for (int fd = 0; fd < nfds; fd++)
        n += (r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e));
    struct pollfd small[16];
    struct pollfd *pf = n <= 16 ? small : malloc(n * sizeof *pf);
    if (!pf)
        return fail(-ENOMEM);
    n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = 0;
        if (r && FD_ISSET(fd, r))
            ev |= POLLIN;
        if (w && FD_ISSET(fd, w))
            ev |= POLLOUT;
        if (e && FD_ISSET(fd, e))
            ev |= POLLPRI;
        if (ev)
            pf[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    int rc = green_poll(pf, n, timeout_ns);
    for (nfds_t i = 0; rc > 0 && i < n; i++)
        if (pf[i].revents & POLLNVAL)
            rc = fail(-EBADF);
    if (rc < 0) {
        int err = errno;
        if (pf != small)
            free(pf);
        errno = err;
        return -1;
    }
    if (r)
        FD_ZERO(r);
    if (w)
        FD_ZERO(w);
    if (e)
        FD_ZERO(e);
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        short re = pf[i].revents;
        if (r && (pf[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)))
            FD_SET(pf[i].fd, r), count++;
        if (w && (pf[i].events & POLLOUT) && (re & (POLLOUT | POLLERR)))
            FD_SET(pf[i].fd, w), count++;
        if (e && (pf[i].events & POLLPRI) && (re & POLLPRI))
            FD_SET(pf[i].fd, e), count++;
    }
    if (pf != small)
        free(pf);
    return count;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (!on(GROVE_PATCH_POLL) || !green_thread())
        return REAL(select)(nfds, r, w, e, tv);
    int64_t t = tv ? grove__sec_to_ns((int64_t)tv->tv_sec, (int64_t)tv->tv_usec * 1000) : -1;
    int64_t start = grove_now();
    int rc = green_select(nfds, r, w, e, t);
    if (tv && t > 0) { /* Linux updates the timeval with the time not slept */
        int64_t left = t - (grove_now() - start);
        if (left < 0)
            left = 0;
        tv->tv_sec = left / 1000000000;
        tv->tv_usec = (left % 1000000000) / 1000;
    }
    return rc;
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
    if (!on(GROVE_PATCH_POLL) || !green_thread())
        return REAL(pselect)(nfds, r, w, e, ts, mask);
    return green_select(nfds, r, w, e, ts_ns(ts));
}

/* ---- Sleeping ---------------------------------------------------------------------------- */

/* Sleeps ns; on interruption stores the time left in *left and returns -1 with errno. */
static int green_sleep(int64_t ns, int64_t *left)
{
    int64_t end = grove__add_sat(grove_now(), ns);
    int sig = eintr_wanted() && ns > 0; /* a caught signal ends a sleep, SA_RESTART or not */
    if (sig)
        grove_eintr_begin();
    int rc = grove_sleep(ns > 0 ? ns : 0);
    if (sig)
        grove_eintr_end();
    if (left) {
        int64_t l = end - grove_now();
        *left = l > 0 ? l : 0;
    }
    return rc < 0 ? fail(rc) : 0;
}

unsigned sleep(unsigned secs)
{
    if (!on(GROVE_PATCH_TIME) || !green_thread())
        return REAL(sleep)(secs);
    int64_t left = 0;
    if (green_sleep(GROVE_SEC(secs), &left) == 0)
        return 0;
    return (unsigned)((left + 999999999) / 1000000000);
}

int usleep(useconds_t us)
{
    if (!on(GROVE_PATCH_TIME) || !green_thread())
        return REAL(usleep)(us);
    return green_sleep(GROVE_US(us), NULL);
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (!on(GROVE_PATCH_TIME) || !green_thread())
        return REAL(nanosleep)(req, rem);
    if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0)
        return fail(-EINVAL);
    int64_t left = 0;
    int rc = green_sleep(ts_ns(req), &left);
    if (rc < 0 && rem) {
        rem->tv_sec = left / 1000000000;
        rem->tv_nsec = left % 1000000000;
    }
    return rc;
}

int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
    if (!on(GROVE_PATCH_TIME) || !green_thread() || (clk != CLOCK_MONOTONIC && clk != CLOCK_REALTIME))
        return REAL(clock_nanosleep)(clk, flags, req, rem);
    if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000)
        return EINVAL;
    int64_t ns = ts_ns(req);
    if (flags & TIMER_ABSTIME) {
        struct timespec now;
        clock_gettime(clk, &now);
        ns -= ts_ns(&now);
    }
    int64_t left = 0;
    int e0 = errno;
    if (green_sleep(ns, &left) == 0)
        return 0;
    int e = errno;
    errno = e0; /* clock_nanosleep returns the error instead of setting errno */
    if (rem && !(flags & TIMER_ABSTIME)) {
        rem->tv_sec = left / 1000000000;
        rem->tv_nsec = left % 1000000000;
    }
    return e;
}

/* ---- Name resolution --------------------------------------------------------------------- */

static int eai_of(int rc)
{
    switch (-rc) {
    case ENOENT: return EAI_NONAME;
    case EAGAIN:
    case ETIMEDOUT: return EAI_AGAIN;
    case ENOMEM: return EAI_MEMORY;
    case EINVAL: return EAI_NONAME;
    default: errno = -rc; return EAI_SYSTEM;
    }
}

/* RESOLVER HOOK: getaddrinfo and gethostbyname(_r) reach the resolver only through
 * grove_getaddrinfo / grove_freeaddrinfo (src/io/dns.c). Whatever resolves there must
 * hand back an addrinfo list that libc's own freeaddrinfo can free (one allocation per
 * node holding its ai_addr, ai_canonname malloc'ed), since callers free it with libc. */
int getaddrinfo(const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    if (!on(GROVE_PATCH_DNS) || !green_thread())
        return REAL(getaddrinfo)(host, service, hints, res);
    int rc = grove_getaddrinfo(host, service, hints, res);
    return rc == 0 ? 0 : eai_of(rc);
}

/* Fills a hostent with IPv4 addresses from Grove's resolver, in buf. */
static int fill_hostent(const char *name, struct hostent *he, char *buf, size_t len, int *herr)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = grove_getaddrinfo(name, NULL, &hints, &res);
    if (rc) {
        *herr = rc == -ENOENT ? HOST_NOT_FOUND : TRY_AGAIN;
        return rc == -ENOMEM ? ENOMEM : rc == -ENOENT ? ENOENT : EAGAIN;
    }
    size_t naddr = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        naddr++;
    size_t nl = strlen(name) + 1;
    size_t need = nl + (naddr + 1) * sizeof(char *) * 2 + naddr * 4 + sizeof(char *);
    if (need > len) {
        grove_freeaddrinfo(res);
        *herr = NETDB_INTERNAL;
        return ERANGE;
    }
    char **addrs = (char **)(void *)(((uintptr_t)buf + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1));
    char **aliases = addrs + naddr + 1;
    char *data = (char *)(aliases + 1);
    size_t i = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next, i++) {
        memcpy(data + i * 4, &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4);
        addrs[i] = data + i * 4;
    }
    addrs[i] = NULL;
    aliases[0] = NULL;
    char *nm = data + naddr * 4;
    memcpy(nm, name, nl);
    he->h_name = nm;
    he->h_aliases = aliases;
    he->h_addrtype = AF_INET;
    he->h_length = 4;
    he->h_addr_list = addrs;
    grove_freeaddrinfo(res);
    *herr = 0;
    return 0;
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len, struct hostent **result, int *herr)
{
    if (!on(GROVE_PATCH_DNS) || !green_thread())
        return REAL(gethostbyname_r)(name, ret, buf, len, result, herr);
    int rc = fill_hostent(name, ret, buf, len, herr);
    *result = rc ? NULL : ret;
    return rc == ENOENT ? 0 : rc; /* not found: 0 with *result NULL, like glibc */
}

struct hostent *gethostbyname(const char *name)
{
    if (!on(GROVE_PATCH_DNS) || !green_thread())
        return REAL(gethostbyname)(name);
    static __thread struct hostent he;
    static __thread char buf[2048];
    int herr;
    if (fill_hostent(name, &he, buf, sizeof buf, &herr)) {
        h_errno = herr;
        return NULL;
    }
    return &he;
}

/* ---- fd bookkeeping: always on ----------------------------------------------------------- */

int close(int fd)
{
    grove_fd_forget(fd);
    pfd_reset(fd);
    return REAL(close)(fd);
}

int dup(int fd)
{
    int n = REAL(dup)(fd);
    adopt_dup(fd, n);
    return n;
}

int dup2(int fd, int nfd)
{
    int n = REAL(dup2)(fd, nfd);
    if (n >= 0 && fd != nfd)
        adopt_dup(fd, n);
    return n;
}

int dup3(int fd, int nfd, int fl)
{
    int n = REAL(dup3)(fd, nfd, fl);
    adopt_dup(fd, n);
    return n;
}

int socket(int domain, int type, int proto)
{
    int fd = REAL(socket)(domain, type, proto);
    adopt_fd(fd, (type & SOCK_NONBLOCK) != 0);
    return fd;
}

int socketpair(int domain, int type, int proto, int sv[2])
{
    int r = REAL(socketpair)(domain, type, proto, sv);
    if (r == 0) {
        adopt_fd(sv[0], (type & SOCK_NONBLOCK) != 0);
        adopt_fd(sv[1], (type & SOCK_NONBLOCK) != 0);
    }
    return r;
}

int pipe(int p[2])
{
    int r = REAL(pipe)(p);
    if (r == 0) {
        adopt_fd(p[0], 0);
        adopt_fd(p[1], 0);
    }
    return r;
}

int pipe2(int p[2], int fl)
{
    int r = REAL(pipe2)(p, fl);
    if (r == 0) {
        adopt_fd(p[0], (fl & O_NONBLOCK) != 0);
        adopt_fd(p[1], (fl & O_NONBLOCK) != 0);
    }
    return r;
}

/* fcntl and fcntl64 (what -D_FILE_OFFSET_BITS=64 code calls): F_SETFL records the user's
 * O_NONBLOCK and keeps Grove's; F_GETFL hides Grove's; F_DUPFD* copy the fd's state. */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
    if (cmd == F_SETFL) {
        int want_nb = (arg & O_NONBLOCK) != 0;
        long karg = arg;
        if (!want_nb && fd_registered(fd))
            karg |= O_NONBLOCK; /* Grove still needs it; F_GETFL hides it */
        int r = real(fd, cmd, karg);
        if (r == 0)
            fd_set_user_nb(fd, want_nb);
        return r;
    }
    int r = real(fd, cmd, arg);
    if (cmd == F_GETFL && r >= 0 && fd_nb_owned(fd))
        r &= ~O_NONBLOCK;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        adopt_dup(fd, r);
    return r;
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long); /* every fcntl argument fits a long (int or pointer) */
    va_end(ap);
    return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

/* ioctl(FIONBIO) is the other way to set O_NONBLOCK: recorded like fcntl(F_SETFL). */
int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *); /* every ioctl argument fits a pointer */
    va_end(ap);
    if (req != FIONBIO || !arg)
        return REAL(ioctl)(fd, req, arg);
    int want_nb = *(const int *)arg != 0;
    int one = 1;
    int r = REAL(ioctl)(fd, req, !want_nb && fd_registered(fd) ? &one : arg);
    if (r == 0)
        fd_set_user_nb(fd, want_nb);
    return r;
}

int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
    int r = REAL(setsockopt)(fd, level, opt, val, len);
    if (r == 0 && level == SOL_SOCKET && (opt == SO_RCVTIMEO || opt == SO_SNDTIMEO) && val &&
        len >= sizeof(struct timeval)) {
        const struct timeval *tv = val;
        fd_set_timeo(fd, opt == SO_SNDTIMEO, grove__sec_to_ns((int64_t)tv->tv_sec, (int64_t)tv->tv_usec * 1000));
    }
    return r;
}

/* ---- sigaction and signal: see "Signals: libc's EINTR" above -------------------------------- */

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!wrappable(sig))
        return REAL(sigaction)(sig, act, old);
    struct sigaction prev_user = g_user_act[sig];
    int was = atomic_load(&g_wrapped[sig]);
    int rc;
    if (act && grove_patched() && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN) {
        struct sigaction w = *act;
        w.sa_flags |= SA_SIGINFO;
        w.sa_sigaction = trampoline;
        g_user_act[sig] = *act; /* before the trampoline can run */
        rc = REAL(sigaction)(sig, &w, old);
        if (rc == 0) {
            if (!was)
                atomic_fetch_add(&g_nwrapped, 1);
            atomic_store(&g_wrapped[sig], 1);
        } else {
            g_user_act[sig] = prev_user;
        }
    } else {
        rc = REAL(sigaction)(sig, act, old);
        if (rc == 0 && act && was) {
            atomic_store(&g_wrapped[sig], 0);
            atomic_fetch_sub(&g_nwrapped, 1);
        }
    }
    if (rc == 0 && old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction == trampoline)
        *old = prev_user; /* the user's own handler, never the trampoline */
    return rc;
}

/* glibc's signal(): BSD semantics (the handler stays, SA_RESTART, the signal is blocked
 * while its handler runs), through the interposed sigaction so the trampoline is used. */
sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction a, o;
    memset(&a, 0, sizeof a);
    a.sa_handler = handler;
    sigemptyset(&a.sa_mask);
    if (sig > 0 && sig < _NSIG)
        sigaddset(&a.sa_mask, sig);
    a.sa_flags = SA_RESTART;
    if (sigaction(sig, &a, &o) < 0)
        return SIG_ERR;
    return o.sa_handler;
}

/* The other ways libc installs a handler, so none of them bypasses the trampoline:
 * bsd_signal is signal; sysv_signal is System V's one-shot handler (reset to SIG_DFL when
 * it runs, not blocked while it runs, no SA_RESTART); sigset (System V too) keeps the
 * handler, removes the signal from the mask, and with SIG_HOLD blocks it instead. */
sighandler_t bsd_signal(int sig, sighandler_t handler) { return signal(sig, handler); }

sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    struct sigaction a, o;
    memset(&a, 0, sizeof a);
    a.sa_handler = handler;
    sigemptyset(&a.sa_mask);
    a.sa_flags = (int)(SA_RESETHAND | SA_NODEFER);
    if (sigaction(sig, &a, &o) < 0)
        return SIG_ERR;
    return o.sa_handler;
}

sighandler_t sigset(int sig, sighandler_t disp)
{
    if (sig <= 0 || sig >= _NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    sigset_t set, was;
    sigemptyset(&set);
    sigaddset(&set, sig);
    struct sigaction o;
    if (disp == SIG_HOLD) {
        if (sigaction(sig, NULL, &o) < 0 || pthread_sigmask(SIG_BLOCK, &set, &was) != 0)
            return SIG_ERR;
    } else {
        struct sigaction a;
        memset(&a, 0, sizeof a);
        a.sa_handler = disp;
        sigemptyset(&a.sa_mask);
        if (sigaction(sig, &a, &o) < 0 || pthread_sigmask(SIG_UNBLOCK, &set, &was) != 0)
            return SIG_ERR;
    }
    return sigismember(&was, sig) ? SIG_HOLD : o.sa_handler;
}

#pragma GCC visibility pop
