/* Unmodified blocking libpq in 100 green threads against a private PostgreSQL cluster
 * started here (initdb in a temporary directory, loopback only): each runs
 * SELECT pg_sleep(0.2) on its own connection and all finish in well under 2 s (a serial
 * run takes 20 s); results are checked. libpq from a plain pthread behaves as usual. */
// ctest: labels=patch,server timeout=180 libs=pq
#include "pgserver.h"
#include <grove/patch.h>

#include <pthread.h>
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
    t_pg pg;
    t_pg_start(&pg); /* its readiness check, PQping, is green already */
    snprintf(g_conninfo, sizeof g_conninfo, "%s", pg.conninfo);
    int rc = t_run(cases, argc, argv);
    t_pg_cleanup(&pg);
    return rc;
}
