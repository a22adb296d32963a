/* Subprocesses (pipes, exit codes, timeouts, many children at once) and signal handlers
 * running as green threads. */
// ctest: labels=unit,proc timeout=60
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void test_echo_through_cat(void)
{
    char *argv[] = {"cat", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDIN | GROVE_PROC_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    /* Far more than a pipe buffer each way: communicate must not deadlock. */
    size_t n = 4 << 20;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    char *out = NULL;
    size_t outlen = 0;
    int st = grove_proc_communicate(p, in, n, &out, &outlen, NULL, NULL);
    T_OK(st);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    T_EQ(outlen, n);
    T_ASSERT(!memcmp(in, out, n));
    free(in);
    free(out);
    T_OK(grove_proc_free(p));
}

static void test_exit_codes_and_stderr(void)
{
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    char *out, *err;
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, &err, NULL);
    T_ASSERT(WIFEXITED(st));
    T_EQ(WEXITSTATUS(st), 3);
    T_STREQ(out, "out\n");
    T_STREQ(err, "err\n");
    T_EQ(grove_proc_wait(p), st); /* waiting again gives the same status */
    free(out);
    free(err);
    grove_proc_free(p);

    char *missing[] = {"/nonexistent/program", NULL};
    T_ASSERT(grove_proc_spawn(missing, NULL) == NULL);
    T_EQ(errno, ENOENT);
}

static void test_env_cwd_nonblocking(void)
{
    char *argv[] = {"sh", "-c", "echo \"$GROVE_X\"; pwd", NULL};
    char *envp[] = {"GROVE_X=green", "PATH=/usr/bin:/bin", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDIN | GROVE_PROC_STDOUT, .envp = envp, .cwd = "/"};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    /* Raw fcntl: the patch layer shows users their own view of O_NONBLOCK. */
    T_ASSERT(syscall(SYS_fcntl, grove_proc_stdout(p), F_GETFL) & O_NONBLOCK);
    T_ASSERT(syscall(SYS_fcntl, grove_proc_stdin(p), F_GETFL) & O_NONBLOCK);
    T_ASSERT(fcntl(grove_proc_stdout(p), F_GETFD) & FD_CLOEXEC);
    char *out;
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    T_STREQ(out, "green\n/\n");
    free(out);
    grove_proc_free(p);

    char *bad_dir[] = {"true", NULL};
    grove_proc_opts o2 = {.cwd = "/nonexistent-dir"};
    T_ASSERT(grove_proc_spawn(bad_dir, &o2) == NULL);
    T_EQ(errno, ENOENT);
}

/* opts.fds: each entry lands on 3+i in the child even when the entries' own numbers lie
 * in that range and are swapped (a naive dup2 sequence would overwrite one with the other);
 * ours stay close-on-exec and nothing leaks. */
static void test_pass_fds(void)
{
    char *t[] = {"true", NULL};
    grove_proc *p0 = grove_proc_spawn(t, NULL); /* the hub's own fds exist from here on */
    T_ASSERT(p0);
    T_OK(grove_proc_free(p0));
    int before = t_open_fds();
    int a[2], b[2];
    T_OK(pipe2(a, O_CLOEXEC));
    T_OK(pipe2(b, O_CLOEXEC));
    int dn = open("/dev/null", O_WRONLY | O_CLOEXEC);
    T_ASSERT(dn >= 0);
    int wa = a[1], wb = b[1];
    int n = (wa > wb ? wa : wb) - 3 + 2;
    int *fds = malloc((size_t)n * sizeof *fds);
    for (int i = 0; i < n; i++)
        fds[i] = dn;
    fds[wa - 3] = wb; /* the child's fd wa is our pipe b, and the other way round */
    fds[wb - 3] = wa;
    char na[16], nb[16];
    snprintf(na, sizeof na, "%d", wa);
    snprintf(nb, sizeof nb, "%d", wb);
    char *argv[] = {"sh", "-c", "echo to-a >&\"$1\"; echo to-b >&\"$2\"", "sh", na, nb, NULL};
    grove_proc_opts o = {.fds = fds, .nfds = n};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    T_ASSERT(fcntl(wa, F_GETFD) & FD_CLOEXEC);
    T_ASSERT(fcntl(wb, F_GETFD) & FD_CLOEXEC);
    close(wa);
    close(wb);
    close(dn);
    int st = grove_proc_wait(p);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char buf[32];
    ssize_t k = grove_read(b[0], buf, sizeof buf);
    T_EQ(k, 5);
    T_ASSERT(!memcmp(buf, "to-a\n", 5));
    k = grove_read(a[0], buf, sizeof buf);
    T_EQ(k, 5);
    T_ASSERT(!memcmp(buf, "to-b\n", 5));
    grove_close(a[0]);
    grove_close(b[0]);
    grove_proc_free(p);
    free(fds);
    T_EQ(t_open_fds(), before);

    /* Bad lists fail before anything starts. */
    int neg = -1, closed = 1000;
    grove_proc_opts bad1 = {.fds = &neg, .nfds = 1};
    grove_proc_opts bad2 = {.fds = &closed, .nfds = 1};
    grove_proc_opts bad3 = {.fds = NULL, .nfds = 1};
    grove_proc_opts bad4 = {.fds = &closed, .nfds = -1};
    grove_proc_opts bad5 = {.fds = &closed, .nfds = 1025};
    T_ASSERT(!grove_proc_spawn(t, &bad1) && errno == EINVAL);
    T_ASSERT(!grove_proc_spawn(t, &bad2) && errno == EBADF);
    T_ASSERT(!grove_proc_spawn(t, &bad3) && errno == EINVAL);
    T_ASSERT(!grove_proc_spawn(t, &bad4) && errno == EINVAL);
    T_ASSERT(!grove_proc_spawn(t, &bad5) && errno == EINVAL);
    T_EQ(t_open_fds(), before);
}

static void *waiter(void *arg) { return (void *)(intptr_t)grove_proc_wait(arg); }

static void test_several_waiters(void)
{
    char *argv[] = {"sh", "-c", "sleep 0.1; exit 7", NULL};
    grove_proc *p = grove_proc_spawn(argv, NULL);
    T_ASSERT(p);
    grove_thread *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = grove_spawn(waiter, p);
    /* One of them gives up early: the others must still be told. */
    T_OK(grove_sleep(GROVE_MS(20)));
    T_OK(grove_kill(t[0]));
    void *r;
    T_EQ(grove_join(t[0], &r), 0);
    T_EQ((intptr_t)r, -ECANCELED);
    for (int i = 1; i < 5; i++) {
        T_OK(grove_join(t[i], &r));
        T_ASSERT(WIFEXITED((int)(intptr_t)r) && WEXITSTATUS((int)(intptr_t)r) == 7);
    }
    grove_proc_free(p);
}

static void test_timeout_and_kill(void)
{
    char *argv[] = {"sleep", "10", NULL};
    grove_proc *p = grove_proc_spawn(argv, NULL);
    T_ASSERT(p);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(50));
    int64_t t0 = grove_now();
    T_EQ(grove_proc_wait(p), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_MS(500));
    grove_timeout_end(&to);
    T_OK(grove_proc_kill(p, SIGTERM));
    int st = grove_proc_wait(p);
    T_ASSERT(WIFSIGNALED(st));
    T_EQ(WTERMSIG(st), SIGTERM);
    grove_proc_free(p);
}

static void *run_child(void *arg)
{
    char secs[16];
    snprintf(secs, sizeof secs, "0.%02d", (int)(intptr_t)arg % 20 + 5);
    char *argv[] = {"sleep", secs, NULL};
    grove_proc *p = grove_proc_spawn(argv, NULL);
    if (!p)
        return (void *)-1;
    int st = grove_proc_wait(p);
    grove_proc_free(p);
    return (void *)(intptr_t)(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_many_children(void)
{
    grove_thread *t[20];
    int64_t t0 = grove_now();
    for (int i = 0; i < 20; i++)
        t[i] = grove_spawn(run_child, (void *)(intptr_t)i);
    for (int i = 0; i < 20; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 1);
    }
    T_LT(grove_now() - t0, GROVE_SEC(2)); /* serially: ~2.9 s */
}

static int g_sig_count;
static grove_thread *g_handler_thread;
static void on_usr1(int signo, void *arg)
{
    T_EQ(signo, SIGUSR1);
    g_handler_thread = grove_self();
    grove_sleep(GROVE_MS(1)); /* a handler is a green thread: it may block */
    g_sig_count += (int)(intptr_t)arg;
}

static int g_usr2;
static void on_usr2(int signo, void *arg) { g_usr2 += signo == SIGUSR2; }

static void test_signals(void)
{
    T_EQ(grove_signal_handle(SIGKILL, on_usr1, NULL), -EINVAL);
    T_OK(grove_signal_handle(SIGUSR1, on_usr1, (void *)1));
    T_EQ(grove_thread_count(), 0); /* the signal reader is not a user thread */
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 100 && g_sig_count < 1; i++)
        grove_sleep(GROVE_MS(2));
    T_EQ(g_sig_count, 1);
    T_ASSERT(g_handler_thread && g_handler_thread != grove_self());
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 100 && g_sig_count < 2; i++)
        grove_sleep(GROVE_MS(2));
    T_EQ(g_sig_count, 2);
    T_OK(grove_signal_unhandle(SIGUSR1));
    T_EQ(grove_signal_unhandle(SIGUSR1), -ENOENT);
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    T_EQ(sigismember(&cur, SIGUSR1), 0); /* the mask is restored */

    /* A signal the thread blocked itself stays blocked after unhandle; two signals with
     * their own handlers. */
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    T_OK(grove_signal_handle(SIGUSR2, on_usr2, NULL));
    T_OK(grove_signal_handle(SIGUSR1, on_usr1, (void *)10));
    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 100 && (g_sig_count < 12 || g_usr2 < 1); i++)
        grove_sleep(GROVE_MS(2));
    T_EQ(g_sig_count, 12);
    T_EQ(g_usr2, 1);
    T_OK(grove_signal_unhandle(SIGUSR2));
    T_OK(grove_signal_unhandle(SIGUSR1));
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    T_EQ(sigismember(&cur, SIGUSR2), 1);
    T_EQ(sigismember(&cur, SIGUSR1), 0);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    T_OK(grove_wait_all());
}

static const t_case cases[] = {
    T_CASE(test_echo_through_cat),
    T_CASE(test_exit_codes_and_stderr),
    T_CASE(test_env_cwd_nonblocking),
    T_CASE(test_pass_fds),
    T_CASE(test_several_waiters),
    T_CASE(test_timeout_and_kill),
    T_CASE(test_many_children),
    T_CASE(test_signals),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
