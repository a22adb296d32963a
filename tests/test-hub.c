/* The hub layer: the one-shot wait for fds Grove does not own (grove_poll_fd), standing
 * watches of such fds (grove_fdwatch), the fd
 * table's bounds, and fork (grove_fork and plain fork): the child gets a fresh hub with
 * only the forking green thread, the parent keeps serving. */
// ctest: labels=unit,hub,portable timeout=120
#include "test.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int flags_of(int fd) { return fcntl(fd, F_GETFL); }

/* ---- grove_poll_fd ------------------------------------------------------------------- */

static int g_done; /* poll_reader threads that have returned */

static void *poll_reader(void *arg)
{
    int rc = grove_poll_fd((int)(intptr_t)arg, GROVE_READ);
    g_done++;
    return (void *)(intptr_t)rc;
}

static void test_poll_fd_keeps_flags(void)
{
    int p[2];
    T_EQ(pipe(p), 0); /* blocking, and it must stay so */
    int before = flags_of(p[0]);
    T_ASSERT(!(before & O_NONBLOCK));
    grove_thread *t = grove_spawn(poll_reader, (void *)(intptr_t)p[0]);
    g_done = 0;
    T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(g_done, 0); /* still waiting */
    T_EQ(flags_of(p[0]), before);
    T_EQ(write(p[1], "x", 1), 1);
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, GROVE_READ);
    T_EQ(flags_of(p[0]), before);
    /* Level-triggered and non-consuming: the byte is still there, so it returns at once,
     * every time. */
    for (int i = 0; i < 3; i++)
        T_EQ(grove_poll_fd(p[0], GROVE_READ), GROVE_READ);
    char c;
    T_EQ(read(p[0], &c, 1), 1); /* a plain blocking read works: nothing was changed */
    T_EQ(c, 'x');
    T_EQ(grove_poll_fd(p[1], GROVE_WRITE), GROVE_WRITE);
    T_EQ(grove_poll_fd(p[1], GROVE_READ | GROVE_WRITE) & GROVE_WRITE, GROVE_WRITE);
    close(p[0]);
    close(p[1]);
}

static void test_poll_fd_many_waiters(void)
{
    /* Several one-shot waiters and a grove_wait_fd waiter on one fd, all woken. */
    int p[2];
    T_EQ(pipe(p), 0);
    int other = dup(p[0]);
    grove_thread *t[4];
    g_done = 0;
    for (int i = 0; i < 4; i++)
        t[i] = grove_spawn(poll_reader, (void *)(intptr_t)p[0]);
    T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(g_done, 0);
    T_EQ(write(p[1], "y", 1), 1);
    for (int i = 0; i < 4; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, GROVE_READ);
    }
    /* An fd Grove registered (grove_wait_fd made it non-blocking) can still be polled once
     * by others while a grove_wait_fd waiter sits on it. */
    char c;
    T_EQ(read(p[0], &c, 1), 1);
    grove_thread *w = grove_spawn(poll_reader, (void *)(intptr_t)other);
    grove_thread *x = grove_spawn(poll_reader, (void *)(intptr_t)p[0]);
    T_OK(grove_sleep(GROVE_MS(2)));
    T_EQ(grove_wait_fd(p[1], GROVE_WRITE), GROVE_WRITE); /* registers p[1]; harmless */
    T_EQ(write(p[1], "z", 1), 1);
    void *r;
    T_OK(grove_join(w, &r));
    T_EQ((intptr_t)r, GROVE_READ);
    T_OK(grove_join(x, &r));
    T_EQ((intptr_t)r, GROVE_READ);
    close(other);
    grove_close(p[0]);
    grove_close(p[1]);
}

static void test_poll_fd_errors_timeout_kill(void)
{
    T_EQ(grove_poll_fd(-1, GROVE_READ), -EBADF);
    T_EQ(grove_poll_fd(999999, GROVE_READ), -EBADF);
    int p[2];
    T_EQ(pipe(p), 0);
    T_EQ(grove_poll_fd(p[0], 0), -EINVAL);
    T_EQ(grove_poll_fd(p[0], 8), -EINVAL);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    int64_t t0 = grove_now();
    T_EQ(grove_poll_fd(p[0], GROVE_READ), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    T_GE(grove_now() - t0, GROVE_MS(15));
    grove_thread *t = grove_spawn(poll_reader, (void *)(intptr_t)p[0]);
    T_OK(grove_sleep(GROVE_MS(2)));
    T_OK(grove_kill(t));
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    /* After all that the fd is not left registered: a later write wakes nobody and the
     * flags were never touched. */
    T_ASSERT(!(flags_of(p[0]) & O_NONBLOCK));
    int fd = open("/proc/self/exe", O_RDONLY); /* regular file: always ready, as poll(2) */
    T_EQ(grove_poll_fd(fd, GROVE_READ), GROVE_READ);
    close(fd);
    close(p[0]);
    close(p[1]);
}

static void *efd_waiter(void *arg)
{
    int efd = (int)(intptr_t)arg;
    int rc = grove_poll_fd(efd, GROVE_READ);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    uint64_t v;
    /* The owner's flag: the eventfd is blocking, so this read must not fail with EAGAIN. */
    return (void *)(intptr_t)(read(efd, &v, sizeof v) == sizeof v ? (intptr_t)v : -errno);
}

static void test_poll_fd_foreign_kinds(void)
{
    /* An eventfd (what libzmq's ZMQ_FD is) and an inotify fd, both blocking. */
    int efd = eventfd(0, EFD_CLOEXEC);
    T_GE(efd, 0);
    grove_thread *t = grove_spawn(efd_waiter, (void *)(intptr_t)efd);
    T_OK(grove_sleep(GROVE_MS(2)));
    uint64_t v = 7;
    T_EQ(write(efd, &v, sizeof v), (ssize_t)sizeof v);
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, 7);
    T_ASSERT(!(flags_of(efd) & O_NONBLOCK));
    close(efd);

    char dir[] = "/tmp/grove-hub-XXXXXX";
    T_ASSERT(mkdtemp(dir));
    int in = inotify_init1(IN_CLOEXEC);
    T_GE(in, 0);
    T_GE(inotify_add_watch(in, dir, IN_CREATE), 0);
    t = grove_spawn(poll_reader, (void *)(intptr_t)in);
    T_OK(grove_sleep(GROVE_MS(2)));
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    int f = open(path, O_CREAT | O_WRONLY, 0600);
    T_GE(f, 0);
    close(f);
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, GROVE_READ);
    T_ASSERT(!(flags_of(in) & O_NONBLOCK));
    close(in);
    unlink(path);
    rmdir(dir);
}

/* ---- The fd table's bounds ------------------------------------------------------------ */

static void test_bogus_fds(void)
{
    /* A huge fd number that is not open is -EBADF at once, without a table sized for it. */
    struct mallinfo2 m0 = mallinfo2();
    T_EQ(grove_wait_fd(9000000, GROVE_READ), -EBADF);
    T_EQ(grove_wait_fd(2147483647, GROVE_READ), -EBADF);
    char c;
    T_EQ(grove_read(9000000, &c, 1), -EBADF);
    T_EQ(grove_write(2147483647, &c, 1), -EBADF);
    struct mallinfo2 m1 = mallinfo2();
    T_LT(m1.uordblks + m1.hblkhd, m0.uordblks + m0.hblkhd + 1024 * 1024);
}

static void test_wait_then_read(void)
{
    /* A short read leaves a "drained" hint (the next read waits first); a caller that
     * then waits itself consumes the edge, and the read after it must not wait again. */
    int sv[2];
    T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char buf[16];
    T_EQ(write(sv[1], "a", 1), 1);
    T_EQ(grove_read(sv[0], buf, sizeof buf), 1); /* short: drained */
    T_EQ(write(sv[1], "b", 1), 1);
    T_EQ(grove_wait_fd(sv[0], GROVE_READ) & GROVE_READ, GROVE_READ);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(2));
    T_EQ(grove_recv(sv[0], buf, sizeof buf, 0), 1);
    T_ASSERT(!grove_timeout_end(&to));
    T_EQ(buf[0], 'b');
    grove_close(sv[0]);
    grove_close(sv[1]);
}

/* ---- fork ------------------------------------------------------------------------------- */

static int g_pipe[2], g_pipe2[2];

static void *pipe_reader(void *arg)
{
    char c;
    ssize_t n = grove_read(g_pipe[0], &c, 1);
    return (void *)(intptr_t)(n == 1 ? c : n);
}

static void *pipe2_reader(void *arg)
{
    char c;
    ssize_t n = grove_read(g_pipe2[0], &c, 1);
    return (void *)(intptr_t)(n == 1 ? c : n);
}

static void *forever(void *arg)
{
    grove_sleep(GROVE_SEC(3600));
    return (void *)1;
}

static void *echo_once(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16];
    ssize_t n = grove_read(fd, buf, sizeof buf);
    if (n > 0)
        n = grove_write(fd, buf, (size_t)n);
    return (void *)(intptr_t)n;
}

static void *tpool_job(void *arg) { return (void *)((intptr_t)arg * 3); }

/* What the child checks: returns 0 if all is well, else the number of the failed check. */
static int child_checks(grove_thread *dropped_sleeper, grove_thread *dropped_reader)
{
    /* Only the forking thread: the others were dropped. */
    if (grove_thread_count() != 0)
        return 1;
    void *r = (void *)99;
    if (grove_join(dropped_sleeper, &r) != 0 || r != NULL)
        return 2;
    if (grove_join(dropped_reader, &r) != 0)
        return 3;
    /* Timers. */
    int64_t t0 = grove_now();
    if (grove_sleep(GROVE_MS(10)) != 0 || grove_now() - t0 < GROVE_MS(9))
        return 4;
    /* Green I/O on a new socket pair, through a new green thread. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 5;
    grove_thread *e = grove_spawn(echo_once, (void *)(intptr_t)sv[1]);
    if (grove_write(sv[0], "ping", 4) != 4)
        return 6;
    char buf[8];
    if (grove_read(sv[0], buf, sizeof buf) != 4 || memcmp(buf, "ping", 4) != 0)
        return 7;
    if (grove_join(e, &r) != 0 || (intptr_t)r != 4)
        return 8;
    grove_close(sv[0]);
    grove_close(sv[1]);
    /* An inherited fd the parent had registered (with its own poller, which the child must
     * not touch): waiting on it registers it afresh in the child. */
    grove_thread *rd = grove_spawn(pipe2_reader, NULL);
    if (grove_sleep(GROVE_MS(2)) != 0 || grove_write(g_pipe2[1], "c", 1) != 1)
        return 9;
    if (grove_join(rd, &r) != 0 || (intptr_t)r != 'c')
        return 10;
    /* The tpool (a fresh one: the parent's threads do not exist here). */
    for (int i = 0; i < 3; i++) {
        void *res = NULL;
        if (grove_tpool_call(tpool_job, (void *)(intptr_t)(i + 1), &res, NULL) != 0 || (intptr_t)res != 3 * (i + 1))
            return 11;
    }
    /* A one-shot wait. */
    if (grove_poll_fd(g_pipe[1], GROVE_WRITE) != GROVE_WRITE)
        return 12;
    return 0;
}

static int wait_child(pid_t pid)
{
    /* Waits without blocking the hub: a pidfd is an fd like any other. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    T_GE(pfd, 0);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(30));
    T_EQ(grove_poll_fd(pfd, GROVE_READ), GROVE_READ);
    grove_timeout_end(&to);
    close(pfd);
    int st = 0;
    T_EQ(waitpid(pid, &st, 0), pid);
    T_ASSERT(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void fork_case(int use_plain_fork)
{
    T_EQ(pipe(g_pipe), 0);
    T_EQ(pipe(g_pipe2), 0);
    grove_timeout to; /* registers g_pipe2[0] with the parent's poller */
    grove_timeout_start(&to, GROVE_MS(1));
    char c;
    T_EQ(grove_read(g_pipe2[0], &c, 1), -ETIMEDOUT);
    grove_timeout_end(&to);
    grove_thread *sleeper = grove_spawn(forever, NULL);
    grove_thread *reader = grove_spawn(pipe_reader, NULL);
    void *res;
    T_OK(grove_tpool_call(tpool_job, (void *)2, &res, NULL)); /* the parent's pool runs */
    T_OK(grove_yield());
    T_EQ(grove_thread_count(), 2);
    pid_t pid = use_plain_fork ? fork() : grove_fork();
    T_GE(pid, 0);
    if (pid == 0)
        _exit(child_checks(sleeper, reader));
    /* The parent keeps serving: its threads, fds and pool are untouched. */
    T_EQ(grove_thread_count(), 2);
    T_EQ(wait_child(pid), 0);
    T_EQ(grove_write(g_pipe[1], "p", 1), 1);
    T_OK(grove_join(reader, &res));
    T_EQ((intptr_t)res, 'p');
    T_OK(grove_tpool_call(tpool_job, (void *)5, &res, NULL));
    T_EQ((intptr_t)res, 15);
    T_OK(grove_kill(sleeper));
    T_OK(grove_join(sleeper, NULL));
    grove_close(g_pipe[0]);
    grove_close(g_pipe[1]);
    grove_close(g_pipe2[0]);
    grove_close(g_pipe2[1]);
}

static void test_grove_fork(void) { fork_case(0); }
static void test_plain_fork(void) { fork_case(1); }

/* Forking from a green thread other than main: in the child that thread carries on, main
 * never resumes there, and the child exits 0 when the thread is done. */
static void *forker(void *arg)
{
    pid_t pid = grove_fork();
    if (pid == 0) {
        grove_sleep(GROVE_MS(5));
        return NULL; /* the child's last green thread: exit status 0 */
    }
    return (void *)(intptr_t)pid;
}

static void test_fork_from_green_thread(void)
{
    grove_thread *t = grove_spawn(forker, NULL);
    void *r;
    int rc = grove_join(t, &r);
    if (rc == 0 && (intptr_t)r == 0) {
        /* Only main of the child could get here: it must never run. */
        _exit(77);
    }
    T_OK(rc);
    T_GT((intptr_t)r, 0);
    T_EQ(wait_child((pid_t)(intptr_t)r), 0);
}

static _Atomic int g_reports;
static void on_block(const grove_debug_block_report *rep, void *arg) { g_reports++; }

static void test_fork_restarts_watchdog(void)
{
    T_OK(grove_debug_watchdog_start_cb(GROVE_MS(30), on_block, NULL));
    pid_t pid = grove_fork();
    T_GE(pid, 0);
    if (pid == 0) {
        /* Block the child's hub: the child's own watchdog must see it. */
        int64_t t0 = grove_now();
        while (grove_now() - t0 < GROVE_MS(300) && !g_reports) {
        }
        _exit(g_reports > 0 ? 0 : 1);
    }
    T_EQ(wait_child(pid), 0);
    T_OK(grove_debug_watchdog_stop());
}

/* ---- grove_fdwatch --------------------------------------------------------------------- */

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct {
    grove_fdwatch *w;
    int events;
} fw_arg;

static void *fw_waiter(void *arg)
{
    fw_arg *a = arg;
    int rc = grove_fdwatch_wait(a->w, a->events);
    g_done++;
    return (void *)(intptr_t)rc;
}

static void test_fdwatch_basic(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    int before = flags_of(p[0]);
    grove_fdwatch *w;
    T_OK(grove_fdwatch_open(p[0], &w));
    fw_arg a = {w, GROVE_READ};
    /* Many rounds through the same watch: wait, get woken by a write, read, again. */
    for (int i = 0; i < 50; i++) {
        g_done = 0;
        grove_thread *t = grove_spawn(fw_waiter, &a);
        T_OK(grove_sleep(i < 3 ? GROVE_MS(3) : 0));
        if (i < 3)
            T_EQ(g_done, 0); /* still waiting */
        T_EQ(write(p[1], "x", 1), 1);
        void *r;
        T_OK(grove_join(t, &r));
        T_EQ((intptr_t)r, GROVE_READ);
        char c;
        T_EQ(read(p[0], &c, 1), 1); /* blocking read works: flags untouched */
    }
    T_EQ(flags_of(p[0]), before);
    /* Level-triggered: a byte that is there already returns at once, every time. */
    T_EQ(write(p[1], "y", 1), 1);
    for (int i = 0; i < 3; i++)
        T_EQ(grove_fdwatch_wait(w, GROVE_READ), GROVE_READ);
    /* Several waiters on one watch, one of them for writing on a read end (never ready). */
    grove_thread *t[4];
    fw_arg wr = {w, GROVE_WRITE};
    g_done = 0;
    for (int i = 0; i < 3; i++)
        t[i] = grove_spawn(fw_waiter, &a);
    t[3] = grove_spawn(fw_waiter, &wr);
    for (int i = 0; i < 3; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, GROVE_READ);
    }
    T_OK(grove_sleep(GROVE_MS(5)));
    T_EQ(g_done, 3);
    /* Closing the watch wakes the last one with -EBADF. */
    T_OK(grove_fdwatch_close(w));
    void *r;
    T_OK(grove_join(t[3], &r));
    T_EQ((intptr_t)r, -EBADF);
    /* The dup was closed: the pipe's read end is p[0] alone again, so EOF shows up for
     * the writer once p[0] is closed. */
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    T_EQ(write(p[1], "z", 1), -1);
    T_EQ(errno, EPIPE);
    close(p[1]);
}

static void test_fdwatch_no_busy_loop(void)
{
    /* An fd left readable with nobody waiting (its owner has not read yet), and one that
     * hung up: after a wait returned, the hub must not spin on them. */
    int p[2], q[2];
    T_EQ(pipe(p), 0);
    T_EQ(pipe(q), 0);
    grove_fdwatch *w, *v;
    T_OK(grove_fdwatch_open(p[0], &w));
    T_OK(grove_fdwatch_open(q[0], &v));
    T_EQ(write(p[1], "x", 1), 1);
    close(q[1]); /* hang-up */
    T_EQ(grove_fdwatch_wait(w, GROVE_READ), GROVE_READ);
    T_EQ(grove_fdwatch_wait(v, GROVE_READ), GROVE_READ);
    int64_t c0 = thread_cpu_ns(), t0 = grove_now();
    T_OK(grove_sleep(GROVE_MS(200)));
    int64_t cpu = thread_cpu_ns() - c0, wall = grove_now() - t0;
    T_LT(cpu, wall / 4); /* a spinning hub would burn the whole 200 ms */
    /* And both still work afterwards. */
    T_EQ(grove_fdwatch_wait(w, GROVE_READ), GROVE_READ);
    T_EQ(grove_fdwatch_wait(v, GROVE_READ), GROVE_READ);
    T_OK(grove_fdwatch_close(w));
    T_OK(grove_fdwatch_close(v));
    close(p[0]);
    close(p[1]);
    close(q[0]);
}

static void *fw_other_hub(void *arg)
{
    grove_fdwatch *w = arg;
    intptr_t rc = grove_fdwatch_wait(w, GROVE_READ) == -EINVAL && grove_fdwatch_close(w) == -EINVAL;
    return (void *)rc;
}

static void test_fdwatch_errors_timeout_kill(void)
{
    grove_fdwatch *w = (grove_fdwatch *)1;
    T_EQ(grove_fdwatch_open(-1, &w), -EBADF);
    T_ASSERT(w == NULL);
    T_EQ(grove_fdwatch_open(999999, &w), -EBADF);
    T_EQ(grove_fdwatch_open(0, NULL), -EINVAL);
    int fd = open("/proc/self/exe", O_RDONLY);
    T_EQ(grove_fdwatch_open(fd, &w), -EPERM);
    close(fd);
    T_EQ(grove_fdwatch_wait(NULL, GROVE_READ), -EINVAL);
    T_OK(grove_fdwatch_close(NULL));
    int p[2];
    T_EQ(pipe(p), 0);
    T_OK(grove_fdwatch_open(p[0], &w));
    T_EQ(grove_fdwatch_wait(w, 0), -EINVAL);
    T_EQ(grove_fdwatch_wait(w, 8), -EINVAL);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(20));
    int64_t t0 = grove_now();
    T_EQ(grove_fdwatch_wait(w, GROVE_READ), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    T_GE(grove_now() - t0, GROVE_MS(15));
    fw_arg a = {w, GROVE_READ};
    grove_thread *t = grove_spawn(fw_waiter, &a);
    T_OK(grove_sleep(GROVE_MS(2)));
    T_OK(grove_kill(t));
    void *r;
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, -ECANCELED);
    /* A watch belongs to its hub: another OS thread's hub gets -EINVAL and changes nothing. */
    pthread_t pt;
    T_EQ(pthread_create(&pt, NULL, fw_other_hub, w), 0);
    T_EQ(pthread_join(pt, &r), 0);
    T_EQ((intptr_t)r, 1);
    /* Also usable while the same fd sits in the hub's own table (grove_wait_fd). */
    g_done = 0;
    t = grove_spawn(fw_waiter, &a);
    T_OK(grove_sleep(GROVE_MS(2)));
    T_EQ(grove_wait_fd(p[1], GROVE_WRITE), GROVE_WRITE);
    T_EQ(write(p[1], "q", 1), 1);
    T_EQ(grove_wait_fd(p[0], GROVE_READ), GROVE_READ);
    T_OK(grove_join(t, &r));
    T_EQ((intptr_t)r, GROVE_READ);
    /* The owner closes its fd first (a misuse the header warns about): nothing breaks,
     * the dup keeps the pipe readable until the watch goes. */
    grove_fd_forget(p[0]);
    close(p[0]);
    T_EQ(grove_fdwatch_wait(w, GROVE_READ), GROVE_READ);
    T_OK(grove_fdwatch_close(w));
    grove_close(p[1]);
}

static void test_fdwatch_fork(void)
{
    int p[2];
    T_EQ(pipe(p), 0);
    grove_fdwatch *w;
    T_OK(grove_fdwatch_open(p[0], &w));
    T_EQ(write(p[1], "a", 1), 1);
    T_EQ(grove_fdwatch_wait(w, GROVE_READ), GROVE_READ); /* registered in the parent's epoll */
    char c;
    T_EQ(read(p[0], &c, 1), 1);
    pid_t pid = grove_fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        /* The child has a new epoll: the watch registers again on its first wait. */
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(10));
        int rc = grove_fdwatch_wait(w, GROVE_READ);
        grove_timeout_end(&to);
        int ok = rc == GROVE_READ && read(p[0], &c, 1) == 1 && c == 'b';
        ok = ok && grove_fdwatch_close(w) == 0;
        _exit(ok ? 0 : 1);
    }
    T_OK(grove_sleep(GROVE_MS(20)));
    T_EQ(write(p[1], "b", 1), 1);
    T_EQ(wait_child(pid), 0);
    T_OK(grove_fdwatch_close(w));
    close(p[0]);
    close(p[1]);
}

static const t_case cases[] = {
    T_CASE(test_poll_fd_keeps_flags),
    T_CASE(test_poll_fd_many_waiters),
    T_CASE(test_poll_fd_errors_timeout_kill),
    T_CASE(test_poll_fd_foreign_kinds),
    T_CASE(test_fdwatch_basic),
    T_CASE(test_fdwatch_no_busy_loop),
    T_CASE(test_fdwatch_errors_timeout_kill),
    T_CASE(test_fdwatch_fork),
    T_CASE(test_bogus_fds),
    T_CASE(test_wait_then_read),
    T_CASE(test_grove_fork),
    T_CASE(test_plain_fork),
    T_CASE(test_fork_from_green_thread),
    T_CASE(test_fork_restarts_watchdog),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
