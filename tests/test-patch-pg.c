/* Unmodified blocking libpq in 100 green threads against a private PostgreSQL cluster
 * started here (initdb in a temporary directory, loopback only): each runs
 * SELECT pg_sleep(0.2) on its own connection and all finish in well under 2 s (a serial
 * run takes 20 s); results are checked. libpq from a plain pthread behaves as usual. */
// ctest: labels=patch,server timeout=180 libs=pq
#include "servers.h"
#include <grove/patch.h>

#include <glob.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <pwd.h>
#include <time.h>

static char g_conninfo[256];

/* The hundred green queries connect first and then start their sleeps together: the
 * postmaster forks one backend per connection, one after the other, which on a busy
 * 2-core machine alone takes over a second for a hundred; what this test measures is
 * that the hundred pg_sleep(0.2) calls overlap. */
static int g_use_barrier, g_connected;
static grove_event g_go;

static void *green_query(void *arg)
{
    int id = (int)(intptr_t)arg;
    PGconn *c = PQconnectdb(g_conninfo); /* blocking API */
    int connected = PQstatus(c) == CONNECTION_OK;
    if (g_use_barrier) {
        g_connected++;
        grove_event_wait(&g_go, NULL);
    }
    if (!connected) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return (void *)-1;
    }
    PGresult *r = PQexec(c, "SELECT pg_sleep(0.2)");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    char q[64];
    snprintf(q, sizeof q, "SELECT %d * 2", id);
    r = PQexec(c, q);
    ok = ok && PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == id * 2;
    PQclear(r);
    PQfinish(c);
    return (void *)(intptr_t)ok;
}

static void test_hundred_sleeps(void)
{
    grove_thread *t[100];
    grove_event_init(&g_go);
    g_use_barrier = 1;
    g_connected = 0;
    for (int i = 0; i < 100; i++)
        t[i] = grove_spawn(green_query, (void *)(intptr_t)i);
    int64_t c0 = grove_now();
    while (g_connected < 100)
        T_OK(grove_sleep(GROVE_MS(1)));
    fprintf(stderr, "100 connections took %.0f ms\n", (double)(grove_now() - c0) / 1e6);
    int64_t t0 = grove_now();
    T_OK(grove_event_send(&g_go, NULL));
    for (int i = 0; i < 100; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 1);
    }
    int64_t took = grove_now() - t0;
    g_use_barrier = 0;
    fprintf(stderr, "100 x pg_sleep(0.2) took %.0f ms\n", (double)took / 1e6);
    T_GE(took, GROVE_MS(195));
    T_LT(took, GROVE_SEC(6)); /* serially it would take 20 s; a loaded CI machine is slower */
}

/* From a plain pthread libpq blocks that OS thread (pg_sleep(0.2) really waits there)
 * while the hub's green threads keep running. */
static void *plain(void *arg)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    intptr_t ok = (intptr_t)green_query((void *)(intptr_t)21);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t took = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    return (void *)(intptr_t)(ok == 1 && took >= GROVE_MS(190));
}

static int g_ticks;
static void *ticker(void *arg)
{
    while (grove_sleep(GROVE_MS(5)) == 0)
        g_ticks++;
    return NULL;
}

static void test_plain_pthread(void)
{
    g_ticks = 0;
    grove_thread *tick = grove_spawn(ticker, NULL);
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, plain, NULL), 0);
    T_EQ((intptr_t)t_join_pthread(th), 1);
    T_GE(g_ticks, 10); /* the hub ran all along (a blocked hub: 0) */
    T_OK(grove_kill(tick));
    T_OK(grove_join(tick, NULL));
}

static const t_case cases[] = {
    T_CASE(test_hundred_sleeps),
    T_CASE(test_plain_pthread),
    {0},
};

int main(int argc, char **argv)
{
    grove_patch(GROVE_PATCH_ALL);
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0)
        T_FAIL("PostgreSQL server binaries not found (apt-get install postgresql)");
    char bin[256];
    snprintf(bin, sizeof bin, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    *strrchr(bin, '/') = 0;

    /* PostgreSQL refuses to run as root: as root, run it as the postgres user. */
    char dir[] = "/tmp/grove-pg-XXXXXX";
    T_ASSERT(mkdtemp(dir));
    char as[128] = "";
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            T_FAIL("running as root, but there is no postgres user to run the server as");
        T_EQ(chown(dir, pw->pw_uid, pw->pw_gid), 0);
        snprintf(as, sizeof as, "setpriv --reuid=%u --regid=%u --init-groups --", pw->pw_uid, pw->pw_gid);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/initdb -D %s/data -A trust -U grove --no-sync >%s/initdb.log 2>&1", as, bin, dir,
             dir);
    if (t_sh(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/initdb.log >&2", dir);
        t_sh(cmd);
        T_FAIL("initdb failed");
    }
    int port = t_free_port();
    char datadir[128], portstr[16], postgres[300];
    snprintf(datadir, sizeof datadir, "%s/data", dir);
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(postgres, sizeof postgres, "%s/postgres", bin);
    char uid[32], gid[32];
    struct passwd *pw = getpwnam("postgres");
    snprintf(uid, sizeof uid, "--reuid=%u", pw ? pw->pw_uid : 0);
    snprintf(gid, sizeof gid, "--regid=%u", pw ? pw->pw_gid : 0);
    char *root_argv[] = {"setpriv", uid,
                         gid,       "--init-groups",
                         "--",      postgres,
                         "-D",      datadir,
                         "-p",      portstr,
                         "-k",      dir,
                         "-c",      "listen_addresses=127.0.0.1",
                         "-c",      "fsync=off",
                         "-c",      "max_connections=150",
                         NULL};
    char *user_argv[] = {postgres,
                         "-D",
                         datadir,
                         "-p",
                         portstr,
                         "-k",
                         dir,
                         "-c",
                         "listen_addresses=127.0.0.1",
                         "-c",
                         "fsync=off",
                         "-c",
                         "max_connections=150",
                         NULL};
    grove_proc *srv = t_start(geteuid() == 0 ? root_argv : user_argv);
    t_wait_port(port, GROVE_SEC(30));
    snprintf(g_conninfo, sizeof g_conninfo, "host=127.0.0.1 port=%d user=grove dbname=postgres connect_timeout=10",
             port);
    /* Listening is not ready: wait until it accepts sessions (PQping is green too). */
    int64_t end = grove_now() + GROVE_SEC(30);
    while (PQping(g_conninfo) != PQPING_OK) {
        if (grove_now() > end)
            T_FAIL("PostgreSQL did not become ready");
        grove_sleep(GROVE_MS(50));
    }
    int rc = t_run(cases, argc, argv);
    t_stop(srv, SIGQUIT); /* immediate shutdown */
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    t_sh(cmd);
    return rc;
}
