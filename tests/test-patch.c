/* The patch layer with plain libc calls: blocking reads, sleeps, poll and select made
 * cooperative in green threads; libc semantics kept for non-blocking fds, SO_RCVTIMEO,
 * F_GETFL; kill and timeouts through libc calls; plain pthreads untouched. Built twice:
 * linked statically with grove_patch(), and (test-patch-preload) with libgrove.so plus
 * LD_PRELOAD=libgrove-preload.so and no grove_patch() call. */
// ctest: labels=unit,patch timeout=60 variants=preload
#include "test.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/select.h>
#include <sys/socket.h>
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
    ssize_t n = read(fd, &c, 1);   /* plain libc read on a blocking pipe */
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
    T_GE(g_ticks, 5);   /* the reader did not block the hub */
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
    T_LT(took, GROVE_MS(600));   /* serially: 3 s */
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
    int s = select(p[0] + 1, &rs, NULL, NULL, &tv);   /* times out: 0 */
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
    T_EQ(errno, ETIMEDOUT);   /* the caller's scope, through libc read */
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
    ssize_t n = read(fd, &c, 1);   /* really blocks this OS thread */
    return (void *)(intptr_t)(n == 1 ? c : -1);
}

static void test_plain_pthread_untouched(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, plain_thread, (void *)(intptr_t)p[0]), 0);
    usleep(20000);   /* main is green: this sleep is cooperative, the pthread blocks */
    T_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);   /* Grove never touched its fd */
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
    freeaddrinfo(res);   /* libc's own freeaddrinfo frees Grove's results */
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

static const t_case cases[] = {
    T_CASE(test_blocking_read_is_green),
    T_CASE(test_sleeps_are_green),
    T_CASE(test_poll_select),
    T_CASE(test_libc_semantics_kept),
    T_CASE(test_kill_through_libc),
    T_CASE(test_plain_pthread_untouched),
    T_CASE(test_getaddrinfo),
    {0},
};

int main(int argc, char **argv)
{
#ifndef GROVE_TEST_PRELOAD
    T_EQ(grove_patched(), 0);   /* off until asked for */
    grove_patch(GROVE_PATCH_ALL);
#else
    T_EQ(grove_patched(), GROVE_PATCH_ALL);   /* switched on by libgrove-preload.so */
#endif
    return t_run(cases, argc, argv);
}
