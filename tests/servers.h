/* Helpers for tests that run real servers (PostgreSQL, Redis, openssl...) on loopback:
 * free ports, waiting for a port to accept, and processes stopped by PID. */
#ifndef GROVE_TEST_SERVERS_H
#define GROVE_TEST_SERVERS_H

#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

/* A port that was free a moment ago on 127.0.0.1. */
static inline int t_free_port(void)
{
    int l = grove_listen("127.0.0.1:0", 1);
    T_OK(l);
    int port = grove_sock_port(l);
    grove_close(l);
    return port;
}

/* Waits (cooperatively) until 127.0.0.1:port accepts connections. */
static inline void t_wait_port(int port, int64_t limit)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int64_t end = grove_now() + limit;
    for (;;) {
        int fd = grove_connect(addr);
        if (fd >= 0) {
            grove_close(fd);
            return;
        }
        if (grove_now() > end)
            T_FAIL("nothing listens on %s after %lld ms", addr, (long long)(limit / 1000000));
        grove_sleep(GROVE_MS(20));
    }
}

/* Servers still running, killed by PID if the test dies (a failed check aborts). */
static pid_t t_servers[8];

static void t_kill_servers(int sig)
{
    for (int i = 0; i < 8; i++)
        if (t_servers[i] > 0)
            kill(t_servers[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Starts argv (output goes to the test's own stdout/stderr). Fails loudly if the program
 * is missing: these tests never skip. */
static inline grove_proc *t_start(char *const argv[])
{
    grove_proc *p = grove_proc_spawn(argv, NULL);
    if (!p)
        T_FAIL("cannot start %s: %s (install it: see tools/debian-packages.txt)", argv[0], strerror(errno));
    for (int i = 0; i < 8; i++)
        if (t_servers[i] <= 0) {
            t_servers[i] = grove_proc_pid(p);
            break;
        }
    signal(SIGABRT, t_kill_servers);
    signal(SIGSEGV, t_kill_servers);
    signal(SIGTERM, t_kill_servers);
    return p;
}

/* Stops a process by PID with sig, then SIGKILL after 5 s, and reaps it. */
static inline void t_stop(grove_proc *p, int sig)
{
    for (int i = 0; i < 8; i++)
        if (t_servers[i] == grove_proc_pid(p))
            t_servers[i] = 0;
    grove_proc_kill(p, sig);
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    int st = grove_proc_wait(p);
    grove_timeout_end(&to);
    if (st < 0) {
        grove_proc_kill(p, SIGKILL);
        grove_proc_wait(p);
    }
    grove_proc_free(p);
}

/* Joins a plain pthread while the hub keeps serving (its servers may be what it talks to).
 * Returns the thread's result. */
static inline void *t_join_pthread(pthread_t th)
{
    void *r = NULL;
    while (pthread_tryjoin_np(th, &r) != 0)
        grove_sleep(GROVE_MS(5));
    return r;
}

/* Runs a shell command to completion; returns its exit status (or -1). */
static inline int t_sh(const char *cmd)
{
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    grove_proc *p = grove_proc_spawn(argv, NULL);
    if (!p)
        return -1;
    int st = grove_proc_wait(p);
    grove_proc_free(p);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
