/* The patch layer with plain libc calls: blocking reads, sleeps, poll and select made
 * cooperative in green threads; libc semantics kept for non-blocking fds, SO_RCVTIMEO,
 * F_GETFL; kill and timeouts through libc calls; plain pthreads untouched. Built twice:
 * linked statically with grove_patch(), and (test-patch-preload) with libgrove.so plus
 * LD_PRELOAD=libgrove-preload.so and no grove_patch() call. */
// ctest: labels=unit,patch timeout=60 variants=preload
#include "servers.h"
#include <grove/patch.h>

#include <fcntl.h>
#include <signal.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

static int g_ticks;
static void *ticker(void *arg)
{
    while (grove_sleep(GROVE_MS(2)) == 0)
        g_ticks++;
    return NULL;
}

static void *blocking_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    ssize_t n = read(fd, &c, 1); /* plain libc read on a blocking pipe */
    return (void *)(intptr_t)(n == 1 ? c : -errno);
}

static void test_blocking_read_is_green(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    grove_thread *r = grove_spawn(blocking_reader, (void *)(intptr_t)p[0]);
    T_OK(grove_sleep(GROVE_MS(30)));
    for (int i = 0; i < 100 && g_ticks < 5; i++) /* a loaded machine ticks late */
        T_OK(grove_sleep(GROVE_MS(10)));
    T_GE(g_ticks, 5); /* the reader did not block the hub */
    T_ASSERT(!grove_thread_done(r));
    /* The user still sees a blocking fd. */
    T_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    T_EQ(write(p[1], "z", 1), 1);
    void *res;
    T_OK(grove_join(r, &res));
    T_EQ((intptr_t)res, 'z');
    T_OK(grove_kill(tick));
    T_OK(grove_join(tick, NULL));
    close(p[0]);
    close(p[1]);
}

static void *sleeper(void *arg)
{
    usleep(100000);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    return NULL;
}

static void test_sleeps_are_green(void)
{
    grove_thread *t[20];
    int64_t t0 = grove_now();
    for (int i = 0; i < 20; i++)
        t[i] = grove_spawn(sleeper, NULL);
    for (int i = 0; i < 20; i++)
        T_OK(grove_join(t[i], NULL));
    int64_t took = grove_now() - t0;
    T_GE(took, GROVE_MS(145));
    T_LT(took, GROVE_MS(600)); /* serially: 3 s */
}

static void *poller(void *arg)
{
    int *p = arg;
    struct pollfd pf[2] = {{.fd = p[0], .events = POLLIN}, {.fd = p[2], .events = POLLIN}};
    int n = poll(pf, 2, 5000);
    if (n != 1 || !(pf[1].revents & POLLIN) || pf[0].revents)
        return (void *)(intptr_t)-1;
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 20000};
    int s = select(p[0] + 1, &rs, NULL, NULL, &tv); /* times out: 0 */
    return (void *)(intptr_t)(s == 0 ? 1 : -2);
}

static void test_poll_select(void)
{
    int a[2], b[2];
    T_EQ(pipe(a), 0);
    T_EQ(pipe(b), 0);
    int fds[3] = {a[0], 0, b[0]};
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    grove_thread *t = grove_spawn(poller, fds);
    T_OK(grove_sleep(GROVE_MS(20)));
    for (int i = 0; i < 100 && g_ticks < 3; i++) /* a loaded machine ticks late */
        T_OK(grove_sleep(GROVE_MS(10)));
    T_GE(g_ticks, 3);
    T_EQ(write(b[1], "x", 1), 1);
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, 1);
    grove_kill(tick);
    grove_join(tick, NULL);
    /* Timeouts: poll with 0 returns at once; with 30 ms, after ~30 ms. */
    struct pollfd pf = {.fd = a[0], .events = POLLIN};
    T_EQ(poll(&pf, 1, 0), 0);
    int64_t t0 = grove_now();
    T_EQ(poll(&pf, 1, 30), 0);
    T_GE(grove_now() - t0, GROVE_MS(29));
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

static void test_libc_semantics_kept(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    /* The user's own O_NONBLOCK: EAGAIN, exactly as libc. */
    T_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    char c;
    T_EQ(read(p[0], &c, 1), -1);
    T_EQ(errno, EAGAIN);
    T_ASSERT(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    /* Back to blocking: cooperative again, and F_GETFL says blocking. */
    T_EQ(fcntl(p[0], F_SETFL, 0), 0);
    T_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    T_EQ(read(p[0], &c, 1), -1);
    T_EQ(errno, ETIMEDOUT); /* the caller's scope, through libc read */
    T_ASSERT(grove_timeout_end(&to));
    close(p[0]);
    close(p[1]);

    /* SO_RCVTIMEO gives EAGAIN after the timeout, like a blocking socket. */
    int sv[2];
    T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct timeval tv = {0, 30000};
    T_EQ(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    int64_t t0 = grove_now();
    T_EQ(recv(sv[0], &c, 1, 0), -1);
    T_EQ(errno, EAGAIN);
    T_GE(grove_now() - t0, GROVE_MS(29));
    /* Partial reads stay partial. */
    T_EQ(send(sv[1], "abc", 3, 0), 3);
    char buf[16];
    T_EQ(recv(sv[0], buf, sizeof buf, 0), 3);
    close(sv[0]);
    close(sv[1]);
}

static void *killed_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    ssize_t n = read(fd, &c, 1);
    return (void *)(intptr_t)(n < 0 ? errno : 0);
}

static void test_kill_through_libc(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    grove_thread *t = grove_spawn(killed_reader, (void *)(intptr_t)p[0]);
    T_OK(grove_yield());
    T_OK(grove_kill(t));
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, ECANCELED);
    close(p[0]);
    close(p[1]);
}

/* A plain pthread: libc's blocking behaviour, untouched. */
static void *plain_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    ssize_t n = read(fd, &c, 1); /* really blocks this OS thread */
    return (void *)(intptr_t)(n == 1 ? c : -1);
}

static void test_plain_pthread_untouched(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, plain_thread, (void *)(intptr_t)p[0]), 0);
    usleep(20000);                              /* main is green: this sleep is cooperative, the pthread blocks */
    T_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0); /* Grove never touched its fd */
    T_EQ(write(p[1], "q", 1), 1);
    void *r;
    pthread_join(th, &r);
    T_EQ((intptr_t)r, 'q');
    close(p[0]);
    close(p[1]);
}

static void test_getaddrinfo(void)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_CANONNAME};
    struct addrinfo *res;
    T_EQ(getaddrinfo("localhost", "80", &hints, &res), 0);
    T_EQ(res->ai_family, AF_INET);
    T_ASSERT(res->ai_canonname != NULL);
    freeaddrinfo(res); /* libc's own freeaddrinfo frees Grove's results */
    /* A resolver that refuses: a glibc-style error code, quickly. */
    setenv("GROVE_DNS_SERVERS", "127.0.0.1:1", 1);
    int64_t t0 = grove_now();
    int rc = getaddrinfo("some.name.example", "80", &hints, &res);
    T_ASSERT(rc == EAI_AGAIN || rc == EAI_NONAME);
    T_LT(grove_now() - t0, GROVE_SEC(2));
    unsetenv("GROVE_DNS_SERVERS");
    struct hostent *he = gethostbyname("localhost");
    T_ASSERT(he && he->h_addrtype == AF_INET && he->h_addr_list[0]);
}

/* Two green threads blocked in read() on one fd, and a third in poll() on it: the hub's
 * single reader slot is taken by the first, the others wait through a private epoll. */
static void *pipe_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    ssize_t n = read(fd, &c, 1);
    return (void *)(intptr_t)(n == 1 ? c : -errno);
}

static void *pipe_poller(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int n = poll(&pf, 1, 5000);
    return (void *)(intptr_t)(n == 1 && (pf.revents & POLLIN) ? 1 : n < 0 ? -errno : -1000);
}

static void test_shared_fd_waiters(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    grove_thread *r1 = grove_spawn(pipe_reader, (void *)(intptr_t)p[0]);
    grove_thread *r2 = grove_spawn(pipe_reader, (void *)(intptr_t)p[0]);
    grove_thread *pl = grove_spawn(pipe_poller, (void *)(intptr_t)p[0]);
    T_OK(grove_sleep(GROVE_MS(20)));
    for (int i = 0; i < 100 && g_ticks < 3; i++) /* a loaded machine ticks late */
        T_OK(grove_sleep(GROVE_MS(10)));
    T_GE(g_ticks, 3);
    T_ASSERT(!grove_thread_done(r1) && !grove_thread_done(r2) && !grove_thread_done(pl));
    int64_t t0 = grove_now();
    T_EQ(write(p[1], "ab", 2), 2);
    void *a, *b, *c;
    T_OK(grove_join(pl, &c));
    T_EQ((intptr_t)c, 1);
    T_OK(grove_join(r1, &a));
    T_OK(grove_join(r2, &b));
    T_LT(grove_now() - t0, GROVE_MS(100));
    T_ASSERT(((intptr_t)a == 'a' && (intptr_t)b == 'b') || ((intptr_t)a == 'b' && (intptr_t)b == 'a'));
    grove_kill(tick);
    grove_join(tick, NULL);
    close(p[0]);
    close(p[1]);
}

/* The other ways a user asks for O_NONBLOCK: ioctl(FIONBIO), fcntl64, SOCK_NONBLOCK at
 * socket() and accept4(). Each keeps libc's EAGAIN; switching back makes the fd green. */
static void test_user_nonblocking_views(void)
{
    int p[2];
    char c;
    T_EQ(pipe(p), 0);
    int one = 1, zero = 0;
    T_EQ(ioctl(p[0], FIONBIO, &one), 0);
    T_EQ(read(p[0], &c, 1), -1);
    T_EQ(errno, EAGAIN);
    T_ASSERT(fcntl64(p[0], F_GETFL) & O_NONBLOCK);
    T_EQ(ioctl(p[0], FIONBIO, &zero), 0);
    T_EQ(fcntl64(p[0], F_GETFL) & O_NONBLOCK, 0);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    T_EQ(read(p[0], &c, 1), -1); /* cooperative again: the scope ends it */
    T_EQ(errno, ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    /* Registered by that read; F_SETFL through fcntl64 is the user's choice again. */
    T_EQ(fcntl64(p[0], F_SETFL, O_NONBLOCK), 0);
    T_EQ(read(p[0], &c, 1), -1);
    T_EQ(errno, EAGAIN);
    close(p[0]);
    close(p[1]);

    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T_GE(s, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    T_EQ(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    T_EQ(listen(s, 4), 0);
    T_EQ(accept(s, NULL, NULL), -1); /* nobody connects: EAGAIN, not a green wait */
    T_EQ(errno, EAGAIN);
    socklen_t sl = sizeof sa;
    T_EQ(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    int c1 = socket(AF_INET, SOCK_STREAM, 0);
    T_EQ(connect(c1, (struct sockaddr *)&sa, sizeof sa), 0); /* green connect */
    T_EQ(fcntl(c1, F_GETFL) & O_NONBLOCK, 0);
    int a1 = accept4(s, NULL, NULL, SOCK_NONBLOCK);
    T_GE(a1, 0);
    T_EQ(recv(a1, &c, 1, 0), -1);
    T_EQ(errno, EAGAIN);
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    T_EQ(connect(c2, (struct sockaddr *)&sa, sizeof sa), 0);
    int a2 = accept4(s, NULL, NULL, 0);
    T_GE(a2, 0);
    grove_timeout_start(&to, GROVE_MS(20));
    T_EQ(recv(a2, &c, 1, 0), -1); /* blocking accepted socket: green */
    T_EQ(errno, ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    int fds[] = {s, c1, c2, a1, a2};
    for (int i = 0; i < 5; i++)
        close(fds[i]);
}

/* An fd closed behind Grove's back (libc's internal close in fclose, a raw syscall) and
 * its number reused by a new blocking pipe: the new fd is green, not the stale slot's. */
static void *late_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct timespec ts = {0, 60000000};
    nanosleep(&ts, NULL); /* a plain pthread: a real sleep */
    return (void *)(intptr_t)write(fd, "k", 1);
}

static void test_fd_reused_behind_our_back(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    grove_timeout to;
    char c;
    grove_timeout_start(&to, GROVE_MS(5));
    T_EQ(read(p[0], &c, 1), -1); /* registers p[0] with the hub */
    grove_timeout_end(&to);
    T_EQ(syscall(SYS_close, p[0]), 0);
    T_EQ(syscall(SYS_close, p[1]), 0);
    int q[2];
    T_EQ(pipe(q), 0);
    T_EQ(q[0], p[0]);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, late_writer, (void *)(intptr_t)q[1]), 0);
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    T_EQ(read(q[0], &c, 1), 1); /* waits on the hub: the ticker runs meanwhile */
    T_EQ(c, 'k');
    T_GE(g_ticks, 2); /* had read() blocked the OS thread, the ticker would never have ticked */
    T_EQ((intptr_t)t_join_pthread(th), 1);
    grove_kill(tick);
    grove_join(tick, NULL);
    close(q[0]);
    close(q[1]);
}

/* SO_SNDTIMEO on a full socket: EAGAIN after the timeout, as libc; a dup shares it. */
static void test_send_timeout_and_dup(void)
{
    int sv[2];
    T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct timeval tv = {0, 30000};
    T_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    static char big[65536];
    ssize_t total = 0, n;
    int64_t t0 = grove_now();
    while ((n = send(sv[0], big, sizeof big, 0)) > 0)
        total += n;
    T_EQ(n, -1);
    T_EQ(errno, EAGAIN);
    T_GT(total, 0);
    T_GE(grove_now() - t0, GROVE_MS(29));
    struct timeval got = {0};
    socklen_t gl = sizeof got;
    T_EQ(getsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &got, &gl), 0);
    T_GE(got.tv_usec, 29000); /* the kernel rounds to its clock tick */
    /* The receive side with SO_RCVTIMEO, through a dup of the fd. */
    T_EQ(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[65536];
    while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    int d = dup(sv[1]);
    T_GE(d, 0);
    t0 = grove_now();
    T_EQ(read(d, buf, sizeof buf), -1);
    T_EQ(errno, EAGAIN);
    T_GE(grove_now() - t0, GROVE_MS(29));
    T_LT(grove_now() - t0, GROVE_SEC(2));
    close(d);
    close(sv[0]);
    close(sv[1]);

    /* An accepted socket inherits the listener's SO_RCVTIMEO, as in the kernel. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    T_EQ(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    T_EQ(listen(l, 4), 0);
    T_EQ(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    socklen_t sl = sizeof sa;
    T_EQ(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T_EQ(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    int a = accept(l, NULL, NULL);
    T_GE(a, 0);
    grove_timeout outer;
    grove_timeout_start(&outer, GROVE_SEC(2)); /* a failure is an error, not a hang */
    t0 = grove_now();
    T_EQ(recv(a, buf, sizeof buf, 0), -1);
    T_EQ(errno, EAGAIN);
    T_GE(grove_now() - t0, GROVE_MS(29));
    T_ASSERT(!grove_timeout_end(&outer));
    close(a);
    close(c);
    close(l);
}

/* select over many fds (more than fit the on-stack array) and poll's interruptions. */
static void *killed_poller(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int n = poll(&pf, 1, -1);
    return (void *)(intptr_t)(n < 0 ? errno : 0);
}

static void test_select_many_and_poll_interrupted(void)
{
    enum { N = 40 };
    int p[N][2];
    for (int i = 0; i < N; i++)
        T_EQ(pipe(p[i]), 0);
    T_EQ(write(p[N - 3][1], "x", 1), 1);
    T_EQ(write(p[7][1], "y", 1), 1);
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    int maxfd = 0;
    for (int i = 0; i < N; i++) {
        FD_SET(p[i][0], &rs);
        maxfd = p[i][0] > maxfd ? p[i][0] : maxfd;
    }
    FD_SET(p[0][1], &ws);
    maxfd = p[0][1] > maxfd ? p[0][1] : maxfd;
    struct timeval tv = {1, 0};
    T_EQ(select(maxfd + 1, &rs, &ws, NULL, &tv), 3);
    T_ASSERT(FD_ISSET(p[N - 3][0], &rs) && FD_ISSET(p[7][0], &rs) && FD_ISSET(p[0][1], &ws));
    T_ASSERT(!FD_ISSET(p[1][0], &rs));
    /* Nothing ready: select times out cooperatively with 0. */
    FD_ZERO(&rs);
    for (int i = 10; i < 30; i++)
        FD_SET(p[i][0], &rs);
    tv = (struct timeval){0, 20000};
    int64_t t0 = grove_now();
    T_EQ(select(maxfd + 1, &rs, NULL, NULL, &tv), 0);
    T_GE(grove_now() - t0, GROVE_MS(19));
    /* A closed fd in the set: EBADF, as libc. */
    int bad[2];
    T_EQ(pipe(bad), 0);
    close(bad[0]);
    close(bad[1]);
    FD_ZERO(&rs);
    FD_SET(bad[0], &rs);
    tv = (struct timeval){0, 1000};
    T_EQ(select(bad[0] + 1, &rs, NULL, NULL, &tv), -1);
    T_EQ(errno, EBADF);
    /* poll: the caller's scope gives ETIMEDOUT, kill gives ECANCELED. */
    struct pollfd pf = {.fd = p[1][0], .events = POLLIN};
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(15));
    T_EQ(poll(&pf, 1, 1000), -1);
    T_EQ(errno, ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    grove_thread *t = grove_spawn(killed_poller, (void *)(intptr_t)p[2][0]);
    T_OK(grove_sleep(GROVE_MS(5)));
    T_OK(grove_kill(t));
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, ECANCELED);
    /* Sleeps under a scope: -1 ETIMEDOUT, the time left reported. */
    grove_timeout_start(&to, GROVE_MS(10));
    struct timespec req = {5, 0}, rem = {0, 0};
    T_EQ(nanosleep(&req, &rem), -1);
    T_EQ(errno, ETIMEDOUT);
    T_GE(rem.tv_sec, 4);
    T_ASSERT(grove_timeout_end(&to));
    grove_timeout_start(&to, GROVE_MS(10));
    T_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    for (int i = 0; i < N; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
}

/* Issue 9, defects 7 and 11: a huge nanosleep saturates (before: it overflowed and
 * returned at once, or UBSan aborted); recv with MSG_WAITALL waits for all it asked. */
static void *write_in_two_parts(void *arg)
{
    int fd = (int)(intptr_t)arg;
    write(fd, "abc", 3);
    grove_sleep(GROVE_MS(5));
    write(fd, "def", 3);
    return NULL;
}

static void test_huge_sleep_and_waitall(void)
{
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(10));
    struct timespec req = {10000000000LL, 0}, rem = {0, 0};
    int64_t t0 = grove_now();
    T_EQ(nanosleep(&req, &rem), -1);
    T_EQ(errno, ETIMEDOUT);
    T_GE(grove_now() - t0, GROVE_MS(9));
    T_GE(rem.tv_sec, 1000000000LL);
    T_ASSERT(grove_timeout_end(&to));

    int sv[2];
    T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    grove_thread *w = grove_spawn(write_in_two_parts, (void *)(intptr_t)sv[1]);
    char buf[8] = {0};
    T_EQ(recv(sv[0], buf, 6, MSG_WAITALL), 6);
    T_STREQ(buf, "abcdef");
    T_OK(grove_join(w, NULL));
    close(sv[1]);
    T_EQ(recv(sv[0], buf, 6, MSG_WAITALL), 0); /* EOF */
    close(sv[0]);
}

/* Issue 9, defect 25: a caught signal interrupts patched blocking calls as it would libc's:
 * EINTR without SA_RESTART, resumed with it (sleeps and poll fail either way, as on Linux),
 * nanosleep reports the time left; every green thread blocked in a patched call on the OS
 * thread that took the signal sees it. The signal comes from a timer aimed at this OS
 * thread (as alarm() would, without racing other threads for a process-wide signal). */
static volatile sig_atomic_t g_caught;
static void on_alarm(int sig)
{
    (void)sig;
    g_caught++;
}

static timer_t g_timer;
static void alarm_in(int64_t ns)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    T_EQ(timer_create(CLOCK_MONOTONIC, &sev, &g_timer), 0);
    struct itimerspec its = {{0, 0}, {ns / 1000000000, ns % 1000000000}};
    T_EQ(timer_settime(g_timer, 0, &its, NULL), 0);
}
static void alarm_done(void) { timer_delete(g_timer); }

static void *blocked_read(void *arg)
{
    char c;
    ssize_t n = read((int)(intptr_t)arg, &c, 1);
    return (void *)(intptr_t)(n < 0 ? -errno : n);
}

static void *write_later(void *arg)
{
    grove_sleep(GROVE_MS(60));
    write((int)(intptr_t)arg, "k", 1);
    return NULL;
}

static void test_signal_interrupts_blocked_calls(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocked calls fail with EINTR */
    T_EQ(sigaction(SIGALRM, &sa, &old), 0);
    T_EQ(sigaction(SIGALRM, NULL, &old), 0);
    T_ASSERT(old.sa_handler == on_alarm); /* the user's handler, not a trampoline */

    int p[2], q[2];
    T_EQ(pipe(p), 0);
    T_EQ(pipe(q), 0);
    g_caught = 0;
    grove_thread *other = grove_spawn(blocked_read, (void *)(intptr_t)q[0]);
    T_OK(grove_yield()); /* other blocks in read too */
    alarm_in(GROVE_MS(20));
    char c;
    grove_timeout bound; /* before the fix the read never ended: fail instead of hanging */
    grove_timeout_start(&bound, GROVE_SEC(2));
    T_EQ(read(p[0], &c, 1), -1);
    T_EQ(errno, EINTR);
    T_ASSERT(!grove_timeout_end(&bound));
    T_EQ(g_caught, 1);
    T_OK(grove_sleep(GROVE_MS(1)));
    if (!grove_thread_done(other)) {
        grove_kill(other);
        T_FAIL("the other blocked green thread did not see the signal");
    }
    void *r;
    T_OK(grove_join(other, &r));
    T_EQ((intptr_t)r, -EINTR); /* both blocked green threads saw it */
    alarm_done();

    /* nanosleep: EINTR with the time left. */
    alarm_in(GROVE_MS(20));
    struct timespec req = {5, 0}, rem = {0, 0};
    T_EQ(nanosleep(&req, &rem), -1);
    T_EQ(errno, EINTR);
    T_GE(rem.tv_sec, 3);
    alarm_done();
    alarm_in(GROVE_MS(20));
    T_GE(sleep(5), 3); /* seconds not slept */
    alarm_done();

    /* SA_RESTART (signal() gives it): the read resumes and gets its byte. */
    T_ASSERT(signal(SIGALRM, on_alarm) == on_alarm);
    g_caught = 0;
    grove_thread *w = grove_spawn(write_later, (void *)(intptr_t)p[1]);
    alarm_in(GROVE_MS(20));
    T_EQ(read(p[0], &c, 1), 1);
    T_EQ(c, 'k');
    T_EQ(g_caught, 1);
    T_OK(grove_join(w, NULL));
    alarm_done();
    /* ...but a sleep still ends early, as on Linux. */
    alarm_in(GROVE_MS(20));
    T_EQ(usleep(3000000), -1);
    T_EQ(errno, EINTR);
    alarm_done();

    signal(SIGALRM, SIG_DFL);
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(q[i]);
    }
}

/* The other libc calls that install handlers go through the trampoline too (sigset is
 * deprecated in glibc's header, but old code still calls it). */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
extern __sighandler_t bsd_signal(int, __sighandler_t);
extern __sighandler_t sysv_signal(int, __sighandler_t);

static ssize_t bounded_read(int fd, char *c)
{
    grove_timeout bound; /* without the trampoline the read would never end */
    grove_timeout_start(&bound, GROVE_SEC(2));
    ssize_t n = read(fd, c, 1);
    int e = errno;
    T_ASSERT(!grove_timeout_end(&bound));
    errno = e;
    return n;
}

static void test_signal_other_installers(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    char c;
    struct sigaction o;
    /* sigset: no SA_RESTART, so a blocked read fails with EINTR; the handler stays. */
    g_caught = 0;
    T_ASSERT(sigset(SIGALRM, on_alarm) != SIG_ERR);
    T_EQ(sigaction(SIGALRM, NULL, &o), 0);
    T_ASSERT(o.sa_handler == on_alarm); /* the user's handler, not the trampoline */
    alarm_in(GROVE_MS(20));
    T_EQ(bounded_read(p[0], &c), -1);
    T_EQ(errno, EINTR);
    T_EQ(g_caught, 1);
    alarm_done();
    /* SIG_HOLD blocks it and reports the handler; the next sigset reports SIG_HOLD. */
    T_ASSERT(sigset(SIGALRM, SIG_HOLD) == on_alarm);
    sigset_t m;
    T_EQ(pthread_sigmask(SIG_BLOCK, NULL, &m), 0);
    T_ASSERT(sigismember(&m, SIGALRM));
    T_ASSERT(sigset(SIGALRM, on_alarm) == SIG_HOLD);
    T_EQ(pthread_sigmask(SIG_BLOCK, NULL, &m), 0);
    T_ASSERT(!sigismember(&m, SIGALRM));

    /* bsd_signal: SA_RESTART, so the read resumes and gets its byte. */
    g_caught = 0;
    T_ASSERT(bsd_signal(SIGALRM, on_alarm) == on_alarm);
    grove_thread *w = grove_spawn(write_later, (void *)(intptr_t)p[1]);
    alarm_in(GROVE_MS(20));
    T_EQ(bounded_read(p[0], &c), 1);
    T_EQ(c, 'k');
    T_EQ(g_caught, 1);
    T_OK(grove_join(w, NULL));
    alarm_done();

    /* sysv_signal: EINTR, and the handler is reset to SIG_DFL once it has run. */
    g_caught = 0;
    T_ASSERT(sysv_signal(SIGALRM, on_alarm) == on_alarm);
    alarm_in(GROVE_MS(20));
    T_EQ(bounded_read(p[0], &c), -1);
    T_EQ(errno, EINTR);
    T_EQ(g_caught, 1);
    alarm_done();
    T_EQ(sigaction(SIGALRM, NULL, &o), 0);
    T_ASSERT(o.sa_handler == SIG_DFL);

    signal(SIGALRM, SIG_DFL);
    close(p[0]);
    close(p[1]);
}

/* Fair I/O through libc: a green thread reading a socket whose data never runs out with
 * plain read() yields now and then (the patch layer counts its calls against the same
 * budget as grove_read), so conversations on the same hub keep going. */
static volatile int g_fl_stop;
static int g_fl[2];

static void *fl_writer(void *arg) /* a plain pthread: no hub */
{
    (void)arg;
    static char chunk[65536];
    while (!g_fl_stop)
        if (send(g_fl[1], chunk, sizeof chunk, MSG_NOSIGNAL) < 0)
            break;
    return NULL;
}

static long g_fl_reads;

static void *fl_reader(void *arg)
{
    (void)arg;
    char buf[16];
    int64_t end = grove_now() + GROVE_MS(300);
    while (grove_now() < end && read(g_fl[0], buf, sizeof buf) > 0)
        g_fl_reads++;
    return NULL;
}

typedef struct {
    int fd[2];
    long rounds;
    int64_t worst;
    int stop;
} fl_convo;

static void *fl_echo(void *arg)
{
    fl_convo *c = arg;
    char b[8];
    ssize_t n;
    while ((n = read(c->fd[1], b, sizeof b)) > 0)
        if (write(c->fd[1], b, (size_t)n) != n)
            break;
    return NULL;
}

static void *fl_talk(void *arg)
{
    fl_convo *c = arg;
    char b[8];
    while (!c->stop) {
        int64_t t0 = grove_now();
        if (write(c->fd[0], "ping", 4) != 4 || read(c->fd[0], b, sizeof b) != 4)
            break;
        if (grove_now() - t0 > c->worst)
            c->worst = grove_now() - t0;
        c->rounds++;
    }
    return NULL;
}

static void test_fair_io_through_libc(void)
{
    enum { N = 10 };
    static fl_convo cv[N];
    grove_thread *e[N], *t[N];
    for (int i = 0; i < N; i++) {
        T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, cv[i].fd));
        e[i] = grove_spawn(fl_echo, &cv[i]);
        t[i] = grove_spawn(fl_talk, &cv[i]);
    }
    T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, g_fl));
    pthread_t w;
    g_fl_stop = 0;
    T_EQ(pthread_create(&w, NULL, fl_writer, NULL), 0);
    usleep(20000); /* the socket is full before the reader starts */
    long before[N];
    for (int i = 0; i < N; i++) {
        before[i] = cv[i].rounds;
        cv[i].worst = 0;
    }
    grove_thread *r = grove_spawn(fl_reader, NULL);
    T_OK(grove_join(r, NULL));
    long during = 0, least = -1;
    int64_t worst = 0;
    for (int i = 0; i < N; i++) {
        long d = cv[i].rounds - before[i];
        during += d;
        least = least < 0 || d < least ? d : least;
        worst = cv[i].worst > worst ? cv[i].worst : worst;
        cv[i].stop = 1;
    }
    fprintf(stderr, "libc flood: %ld reads; conversations: %ld round trips (the slowest %ld), worst %.1f ms\n",
            g_fl_reads, during, least, (double)worst / 1e6);
    T_GT(g_fl_reads, 1000);
    /* Every conversation kept going (without the budget: none made a single round trip).
     * No latency bound: a loaded machine that stops the whole process stretches them all. */
    T_GE(least, 3);
    g_fl_stop = 1;
    shutdown(g_fl[0], SHUT_RDWR); /* the writer's send fails: it ends */
    pthread_join(w, NULL);
    close(g_fl[0]);
    close(g_fl[1]);
    for (int i = 0; i < N; i++) {
        shutdown(cv[i].fd[0], SHUT_WR); /* the echo side sees EOF */
        T_OK(grove_join(t[i], NULL));
        T_OK(grove_join(e[i], NULL));
        close(cv[i].fd[0]);
        close(cv[i].fd[1]);
    }
}

static const t_case cases[] = {
    T_CASE(test_signal_interrupts_blocked_calls),
    T_CASE(test_signal_other_installers),
    T_CASE(test_huge_sleep_and_waitall),
    T_CASE(test_blocking_read_is_green),
    T_CASE(test_sleeps_are_green),
    T_CASE(test_poll_select),
    T_CASE(test_libc_semantics_kept),
    T_CASE(test_kill_through_libc),
    T_CASE(test_plain_pthread_untouched),
    T_CASE(test_getaddrinfo),
    T_CASE(test_shared_fd_waiters),
    T_CASE(test_user_nonblocking_views),
    T_CASE(test_fd_reused_behind_our_back),
    T_CASE(test_send_timeout_and_dup),
    T_CASE(test_select_many_and_poll_interrupted),
    T_CASE(test_fair_io_through_libc),
    {0},
};

int main(int argc, char **argv)
{
#ifndef GROVE_TEST_PRELOAD
    T_EQ(grove_patched(), 0); /* off until asked for */
    grove_patch(GROVE_PATCH_ALL);
#else
    T_EQ(grove_patched(), GROVE_PATCH_ALL); /* switched on by libgrove-preload.so */
#endif
    return t_run(cases, argc, argv);
}
