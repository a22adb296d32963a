/* The logging example (examples/zmq-logging.c) as separate processes: two log servers,
 * a client pushing 1,000 lines across both, queries over REP that add up. */
// ctest: labels=net,zmq,examples timeout=120 libs=grove_zmq
#include "test.h"
#include "servers.h"

static char g_exe[512];

/* Runs the example with args to completion; returns its stdout (static) or aborts. */
static const char *run(const char *args)
{
    static char out[4096];
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 30 %s %s > /tmp/grove-zmq-logging.$$ && cat /tmp/grove-zmq-logging.$$; "
             "rc=$?; rm -f /tmp/grove-zmq-logging.$$; exit $rc",
             g_exe, args);
    FILE *f = popen(cmd, "r");
    T_ASSERT(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    T_EQ(pclose(f), 0);
    return out;
}

static void test_two_servers_one_client(void)
{
    int p[4];
    for (int i = 0; i < 4; i++)
        p[i] = t_free_port();
    char pull0[64], rep0[64], pull1[64], rep1[64];
    snprintf(pull0, sizeof pull0, "tcp://127.0.0.1:%d", p[0]);
    snprintf(rep0, sizeof rep0, "tcp://127.0.0.1:%d", p[1]);
    snprintf(pull1, sizeof pull1, "tcp://127.0.0.1:%d", p[2]);
    snprintf(rep1, sizeof rep1, "tcp://127.0.0.1:%d", p[3]);
    char *a0[] = {g_exe, "server", pull0, rep0, NULL};
    char *a1[] = {g_exe, "server", pull1, rep1, NULL};
    grove_proc *s0 = t_start(a0), *s1 = t_start(a1);
    t_wait_port(p[1], GROVE_SEC(10));
    t_wait_port(p[3], GROVE_SEC(10));
    char args[512];
    snprintf(args, sizeof args, "client %s,%s 1000 'hello grove'", pull0, pull1);
    run(args);
    /* Delivery is asynchronous: ask until both have everything (bounded). */
    long c0 = 0, c1 = 0;
    for (int tries = 0; tries < 100 && c0 + c1 < 1000; tries++) {
        snprintf(args, sizeof args, "query %s count", rep0);
        c0 = atol(run(args));
        snprintf(args, sizeof args, "query %s count", rep1);
        c1 = atol(run(args));
        if (c0 + c1 < 1000)
            grove_sleep(GROVE_MS(50));
    }
    T_EQ(c0 + c1, 1000);
    T_GT(c0, 0); /* round robin: both servers got lines */
    T_GT(c1, 0);
    snprintf(args, sizeof args, "query %s 'grep hello grove'", rep0);
    T_EQ(atol(run(args)), c0);
    snprintf(args, sizeof args, "query %s 'last 1'", rep1);
    T_ASSERT(strstr(run(args), "hello grove") != NULL);
    t_stop(s0, SIGTERM);
    t_stop(s1, SIGTERM);
}

static const t_case cases[] = {
    T_CASE(test_two_servers_one_client),
    {0},
};

int main(int argc, char **argv)
{
    snprintf(g_exe, sizeof g_exe, "%s/examples/grove-zmq-logging", getenv("GROVE_TEST_BINDIR"));
    return t_run(cases, argc, argv);
}
