/* Knowing when the hub is blocked: the watchdog reports a green thread stuck in an
 * unpatched busy loop (by name, with a backtrace, once per incident) and stays quiet when
 * the hub is healthy; the dump lists the expected threads, states and wait reasons with
 * backtraces; tools/grove-gdb.py lists green threads and their stacks from gdb. */
// ctest: labels=unit,debug timeout=120
#include "test.h"

#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char g_buf[65536];

static size_t drain_pipe(int fd)
{
    size_t n = 0;
    ssize_t r;
    while (n < sizeof g_buf - 1 && (r = read(fd, g_buf + n, sizeof g_buf - 1 - n)) > 0)
        n += (size_t)r;
    g_buf[n] = 0;
    return n;
}

static int count(const char *hay, const char *needle)
{
    int c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        c++;
    return c;
}

/* Not static: backtrace_symbols only names exported functions (with -rdynamic). */
void spin_without_switching(int64_t ns);
__attribute__((noinline)) void spin_without_switching(int64_t ns)
{
    int64_t end = grove_now() + ns;
    while (grove_now() < end) {
    }
}

static void *busy_loop(void *arg)
{
    spin_without_switching(GROVE_MS(400));
    return NULL;
}

static void *polite_loop(void *arg)
{
    int64_t end = grove_now() + GROVE_MS(300);
    while (grove_now() < end)
        grove_yield();
    return NULL;
}

static void test_watchdog(void)
{
    int p[2];
    T_EQ(pipe2(p, O_CLOEXEC), 0);
    T_OK(grove_debug_watchdog_start(GROVE_MS(100), p[1]));
    T_EQ(grove_debug_watchdog_start(GROVE_MS(50), p[1]), -EALREADY);
    unsigned long before = grove_debug_watchdog_reports();

    /* Healthy: sleeping (idle in the poller) and a yielding loop are never reported. */
    T_OK(grove_sleep(GROVE_MS(200)));
    grove_thread *t = grove_spawn(polite_loop, NULL);
    T_OK(grove_join(t, NULL));
    T_EQ(grove_debug_watchdog_reports(), before);

    /* Blocked: reported once, with the thread's name and its backtrace. */
    grove_spawn_attr at = {.name = "busy-loop"};
    t = grove_spawn_opts(&at, busy_loop, NULL);
    T_OK(grove_join(t, NULL));
    T_OK(grove_sleep(GROVE_MS(100)));
    T_EQ(grove_debug_watchdog_reports(), before + 1);
    T_OK(grove_debug_watchdog_stop());
    close(p[1]);
    drain_pipe(p[0]);
    close(p[0]);
    T_EQ(count(g_buf, "hub blocked"), 1);
    if (!strstr(g_buf, "'busy-loop'") || !strstr(g_buf, "spin_without_switching"))
        T_FAIL("report lacks the thread name or its backtrace:\n%s", g_buf);
    T_EQ(grove_debug_watchdog_stop(), -ENOENT);
}

/* Reports through a callback, from two hubs: the blocked one is named, with its OS
 * thread and a backtrace; the healthy one (main's, sleeping meanwhile) is not. */
static struct {
    int n;
    char name[4][32];
    int tid[4], npcs[4], spin_seen[4];
} g_cb;

static void on_report(const grove_debug_block_report *r, void *arg)
{
    T_EQ((intptr_t)arg, 42);
    if (g_cb.n >= 4)
        return;
    int i = g_cb.n++;
    snprintf(g_cb.name[i], sizeof g_cb.name[i], "%s", r->thread_name);
    g_cb.tid[i] = r->os_tid;
    g_cb.npcs[i] = r->npcs;
    char **syms = backtrace_symbols((void *const *)r->pcs, r->npcs);
    for (int k = 0; syms && k < r->npcs; k++)
        if (strstr(syms[k], "spin_without_switching"))
            g_cb.spin_seen[i] = 1;
    free(syms);
}

static _Atomic int g_other_tid;
static void *other_hub(void *arg)
{
    g_other_tid = (int)syscall(SYS_gettid);
    grove_spawn_attr at = {.name = "other-hub-busy"};
    grove_thread *t = grove_spawn_opts(&at, busy_loop, NULL);
    T_OK(grove_join(t, NULL));
    return NULL;
}

static void test_watchdog_callback(void)
{
    T_EQ(grove_debug_watchdog_start_cb(0, NULL, NULL), -EINVAL);
    T_OK(grove_debug_watchdog_start_cb(GROVE_MS(50), on_report, (void *)(intptr_t)42));
    unsigned long before = grove_debug_watchdog_reports();
    pthread_t ot;
    T_EQ(pthread_create(&ot, NULL, other_hub, NULL), 0);
    T_OK(grove_sleep(GROVE_MS(
        700))); /* main's hub stays healthy meanwhile; the other hub has finished its 400 ms spin by then, so the join below is short */
    T_EQ(pthread_join(ot, NULL), 0);
    T_OK(grove_debug_watchdog_stop());
    T_EQ(g_cb.n, 1);
    T_EQ(grove_debug_watchdog_reports(), before + 1);
    T_STREQ(g_cb.name[0], "other-hub-busy");
    T_EQ(g_cb.tid[0], g_other_tid);
    T_GT(g_cb.npcs[0], 2);
    T_EQ(g_cb.spin_seen[0], 1);
}

/* GROVE_BLOCK_THRESHOLD_MS=0 starts the detector (at 100 ms) on stderr. */
static int env_child(void)
{
    grove_spawn_attr at = {.name = "env-busy"};
    grove_thread *t = grove_spawn_opts(&at, busy_loop, NULL);
    grove_join(t, NULL);
    grove_sleep(GROVE_MS(60));
    return 0;
}

static void test_watchdog_env(void)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    T_GT(n, 0);
    self[n] = 0;
    extern char **environ;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "GROVE_BLOCK_THRESHOLD_MS=", 25))
            envp[k++] = environ[i];
    envp[k++] = "GROVE_BLOCK_THRESHOLD_MS=0";
    char *argv[] = {self, "--env-child", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDERR, .envp = envp};
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_ASSERT(p);
    char *err;
    int st = grove_proc_communicate(p, NULL, 0, NULL, NULL, &err, NULL);
    T_OK(st);
    T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* At least the busy thread's report; a loaded machine that leaves the child's hub
     * unscheduled for 100 ms elsewhere may add another (the watchdog cannot tell). */
    T_GE(count(err, "hub blocked"), 1);
    if (!strstr(err, "'env-busy'") || !strstr(err, "threshold 100 ms") || !strstr(err, "spin_without_switching"))
        T_FAIL("no report on stderr with GROVE_BLOCK_THRESHOLD_MS=0:\n%s", err);
    free(err);
    free(envp);
    grove_proc_free(p);
}

static grove_event g_never;
void *sleeper(void *arg);
void *event_waiter(void *arg);
void *sleeper(void *arg)
{
    grove_sleep(GROVE_SEC(10));
    return NULL;
}
void *event_waiter(void *arg)
{
    grove_event_wait(&g_never, NULL);
    return NULL;
}
static void *joiner(void *arg)
{
    grove_join(arg, NULL);
    return NULL;
}

static void test_dump(void)
{
    grove_event_init(&g_never);
    grove_spawn_attr a1 = {.name = "sleeper"}, a2 = {.name = "event-waiter"}, a3 = {.name = "joiner"};
    grove_thread *s = grove_spawn_opts(&a1, sleeper, NULL);
    grove_thread *w = grove_spawn_opts(&a2, event_waiter, NULL);
    grove_thread *j = grove_spawn_opts(&a3, joiner, w);
    grove_thread *later = grove_spawn_after(GROVE_SEC(10), sleeper, NULL);
    grove_thread_set_name(later, "not-started");
    T_OK(grove_sleep(GROVE_MS(20)));
    char path[] = "/tmp/grove-dump-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    T_OK(grove_debug_dump(fd));
    lseek(fd, 0, SEEK_SET);
    drain_pipe(fd);
    close(fd);
    const char *want[] = {"'main' running",
                          "'sleeper' parked: waiting on sleep for",
                          "'event-waiter' parked: waiting on event for",
                          "'joiner' parked: waiting on join for",
                          "'not-started' new",
                          "sleeper+",
                          "event_waiter+"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(g_buf, want[i]))
            T_FAIL("dump lacks \"%s\":\n%s", want[i], g_buf);
    grove_kill(s);
    grove_kill(w);
    grove_kill(later);
    T_OK(grove_join(s, NULL));
    T_OK(grove_join(j, NULL)); /* j's join of w completed when w was killed */
    T_OK(grove_join(later, NULL));
}

static void test_dump_on_signal(void)
{
    char path[] = "/tmp/grove-sigdump-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2); /* the signal-triggered dump goes to stderr */
    T_OK(grove_debug_dump_on_signal(SIGUSR2));
    kill(getpid(), SIGUSR2);
    for (int i = 0; i < 100; i++) {
        grove_sleep(GROVE_MS(5));
        if (lseek(fd, 0, SEEK_END) > 0)
            break;
    }
    grove_sleep(GROVE_MS(5));
    dup2(saved, 2);
    close(saved);
    T_OK(grove_signal_unhandle(SIGUSR2));
    lseek(fd, 0, SEEK_SET);
    drain_pipe(fd);
    close(fd);
    if (!strstr(g_buf, "'main' parked: waiting on sleep") || !strstr(g_buf, "(end of dump)"))
        T_FAIL("no dump on SIGUSR2:\n%s", g_buf);
}

/* The gdb helper, on this very program stopped under gdb with threads parked. */
static int gdb_child(void)
{
    grove_event_init(&g_never);
    grove_spawn_attr a1 = {.name = "gdb-sleeper"}, a2 = {.name = "gdb-waiter"};
    grove_spawn_opts(&a1, sleeper, NULL);
    grove_spawn_opts(&a2, event_waiter, NULL);
    grove_sleep(GROVE_MS(10));
    raise(SIGTRAP); /* gdb takes over here */
    return 0;
}

static void test_gdb_script(void)
{
    char self[512], script[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    T_GT(n, 0);
    self[n] = 0;
    snprintf(script, sizeof script, "%s/tools/grove-gdb.py", getenv("GROVE_TEST_SRCDIR"));
    char *argv[] = {"gdb",           "-nx", "-batch",       "-x",     script, "-ex",         "run", "-ex",
                    "grove threads", "-ex", "grove bt all", "--args", self,   "--gdb-child", NULL};
    grove_proc_opts o = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    grove_proc *p = grove_proc_spawn(argv, &o);
    if (!p)
        T_FAIL("cannot run gdb (apt-get install gdb): %s", strerror(errno));
    char *out;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(60));
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    grove_timeout_end(&to);
    T_OK(st);
    const char *want[] = {
        "gdb-sleeper", "gdb-waiter", "parked   waiting on sleep", "parked   waiting on event", "[main]", "green thread",
        "grove_sleep", "sleeper"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i]))
            T_FAIL("gdb output lacks \"%s\":\n%s", want[i], out);
    free(out);
    grove_proc_free(p);
}

/* The gdb helper attached to a running process (two hubs, threads parked), then on the
 * core file gdb wrote from it: post-mortem works the same. */
static void *attach_other_os(void *arg)
{
    grove_spawn_attr a = {.name = "other-os-sleeper"};
    grove_thread *t = grove_spawn_opts(&a, sleeper, NULL);
    grove_join(t, NULL);
    return NULL;
}

static int attach_child(void)
{
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY); /* Yama ptrace_scope 1: let a sibling attach */
    grove_event_init(&g_never);
    grove_spawn_attr a1 = {.name = "attach-sleeper"}, a2 = {.name = "attach-waiter"};
    grove_spawn_opts(&a1, sleeper, NULL);
    grove_spawn_opts(&a2, event_waiter, NULL);
    pthread_t ot;
    pthread_create(&ot, NULL, attach_other_os, NULL);
    grove_sleep(GROVE_MS(50));
    (void)!write(1, "ready\n", 6);
    grove_sleep(GROVE_SEC(60)); /* killed by the test long before */
    return 0;
}

static char *run_gdb(char **argv)
{
    grove_proc_opts o = {.flags = GROVE_PROC_STDOUT | GROVE_PROC_STDERR_TO_STDOUT};
    /* gdb inherits a file size limit: a core that goes wrong cannot fill the disk. */
    struct rlimit old, lim = {.rlim_cur = 256u << 20, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    if (old.rlim_cur < lim.rlim_cur)
        lim.rlim_cur = old.rlim_cur;
    lim.rlim_max = old.rlim_max;
    T_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    grove_proc *p = grove_proc_spawn(argv, &o);
    T_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    if (!p)
        T_FAIL("cannot run gdb (apt-get install gdb): %s", strerror(errno));
    char *out;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(60));
    int st = grove_proc_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    grove_timeout_end(&to);
    T_OK(st);
    grove_proc_free(p);
    return out;
}

static void check_gdb_output(const char *out, const char *how)
{
    const char *want[] = {"attach-sleeper",
                          "attach-waiter",
                          "other-os-sleeper",
                          "parked   waiting on sleep",
                          "parked   waiting on event",
                          "parked   waiting on join",
                          "on 2 hubs",
                          "[main]",
                          "in grove_sleep",
                          "in sleeper",
                          "grove_event_wait",
                          "in attach_other_os"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i]))
            T_FAIL("gdb (%s) output lacks \"%s\":\n%s", how, want[i], out);
}

static void test_gdb_attach_and_core(void)
{
    char self[512], script[512], pidarg[32], core[] = "/tmp/grove-core-XXXXXX", gen[64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    T_GT(n, 0);
    self[n] = 0;
    snprintf(script, sizeof script, "%s/tools/grove-gdb.py", getenv("GROVE_TEST_SRCDIR"));
    int cfd = mkstemp(core);
    T_GE(cfd, 0);
    close(cfd);
    snprintf(gen, sizeof gen, "generate-core-file %s", core);

    char *cargv[] = {self, "--attach-child", NULL};
    grove_proc_opts co = {.flags = GROVE_PROC_STDOUT};
    grove_proc *child = grove_proc_spawn(cargv, &co);
    T_ASSERT(child);
    char line[16] = {0};
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(10));
    T_GT(grove_read(grove_proc_stdout(child), line, sizeof line - 1), 0);
    grove_timeout_end(&to);
    T_ASSERT(strstr(line, "ready"));
    snprintf(pidarg, sizeof pidarg, "%d", (int)grove_proc_pid(child));

#ifdef __SANITIZE_ADDRESS__
    /* An ASan process maps terabytes of shadow and allocator space, and gdb's core of it
     * does not fit any disk: under ASan only the attached half runs. */
    const char *gen_cmd = "echo";
#else
    const char *gen_cmd = gen;
#endif
    char *aargv[] = {"gdb",          "-nx", "-batch",        "-x", script, "-ex", "grove threads", "-ex",
                     "grove bt all", "-ex", (char *)gen_cmd, "-p", pidarg, NULL};
    char *out = run_gdb(aargv);
    check_gdb_output(out, "attached");
    free(out);
    T_OK(grove_proc_kill(child, SIGKILL));
    grove_proc_free(child);

#ifndef __SANITIZE_ADDRESS__
    char *pargv[] = {"gdb",           "-nx", "-batch",       "-x", script, "-ex",
                     "grove threads", "-ex", "grove bt all", self, core,   NULL};
    out = run_gdb(pargv);
    check_gdb_output(out, "core file");
    free(out);
#endif
    unlink(core);
}

static const t_case cases[] = {
    T_CASE(test_watchdog),       T_CASE(test_watchdog_callback), T_CASE(test_watchdog_env),        T_CASE(test_dump),
    T_CASE(test_dump_on_signal), T_CASE(test_gdb_script),        T_CASE(test_gdb_attach_and_core), {0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--gdb-child"))
        return gdb_child();
    if (argc > 1 && !strcmp(argv[1], "--env-child"))
        return env_child();
    if (argc > 1 && !strcmp(argv[1], "--attach-child"))
        return attach_child();
    return t_run(cases, argc, argv);
}
