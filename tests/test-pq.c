/* grove-pq against a real PostgreSQL server started here (initdb in a temporary
 * directory, stopped by PID): 1,000 green threads sharing a pool of 10 with correct
 * results and never more than 10 connections open (pg_stat_activity), queries killed or
 * timed out mid-flight cancelled on the server and their connection not reused dirty, a
 * server restart mid-run (clear errors, then the pool recovers), the pool's knobs, and
 * bad input. */
// ctest: labels=net,pq,server timeout=240 libs=grove_pq
#include "test.h"
#include "pgserver.h"
#include <grove/pq.h>

static t_pg g_pg;
static grove_pq_pool *g_mon; /* a separate pool for looking at the server */

static long mon_count(const char *sql)
{
    PGresult *r;
    T_OK(grove_pq_query(g_mon, sql, 0, NULL, &r));
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        T_FAIL("%s: %s", sql, PQresultErrorMessage(r));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static grove_pq_pool *make_pool(size_t min, size_t max)
{
    grove_pq_opts o = {.conninfo = g_pg.conninfo, .min_size = min, .max_size = max};
    grove_pq_pool *p;
    T_OK(grove_pq_pool_new(&o, &p));
    return p;
}

/* ---- 1,000 green threads, 10 connections ---------------------------------------------- */

static grove_pq_pool *g_pool;
static int g_stop;
static size_t g_max_open;
static long g_max_server;

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    const char *vals[1] = {v};
    PGresult *r;
    int rc = grove_pq_query(g_pool, "SELECT $1::int * 2, pg_sleep(0.002)", 1, vals, &r);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 2 * i;
    PQclear(r);
    return (void *)(intptr_t)(ok ? 0 : -1);
}

static void *monitor(void *arg)
{
    while (!g_stop) {
        size_t o = grove_pq_pool_open(g_pool);
        if (o > g_max_open)
            g_max_open = o;
        long s = mon_count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'grove-test' "
                           "AND backend_type = 'client backend'");
        if (s > g_max_server)
            g_max_server = s;
        grove_sleep(GROVE_MS(20));
    }
    return NULL;
}

static void test_thousand_threads_pool_of_ten(void)
{
    g_pool = make_pool(2, 10);
    g_stop = 0;
    g_max_open = 0;
    g_max_server = 0;
    grove_thread *mon = grove_spawn(monitor, NULL);
    grove_thread *t[1000];
    int64_t t0 = grove_now();
    for (int i = 0; i < 1000; i++)
        t[i] = grove_spawn(worker, (void *)(intptr_t)i);
    for (int i = 0; i < 1000; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 0);
    }
    int64_t took = grove_now() - t0;
    g_stop = 1;
    T_OK(grove_join(mon, NULL));
    fprintf(stderr, "     1000 queries through 10 connections in %.0f ms; at most %zu open, %ld seen by the server\n",
            (double)took / 1e6, g_max_open, g_max_server);
    T_LE(g_max_open, 10);
    T_GE(g_max_open, 5); /* they did share: more than one at a time */
    T_LE(g_max_server, 10);
    T_GE(g_max_server, 1);
    T_EQ(grove_pq_pool_waiting(g_pool), 0);
    T_OK(grove_pq_pool_destroy(g_pool));
}

/* ---- Cancellation -------------------------------------------------------------------------- */

static long sleeping_on_server(void)
{
    return mon_count("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' "
                     "AND application_name = 'grove-test'");
}

static void wait_no_sleeper(void)
{
    int64_t end = grove_now() + GROVE_SEC(5);
    while (sleeping_on_server() > 0) {
        if (grove_now() > end)
            T_FAIL("the cancelled query still runs on the server");
        grove_sleep(GROVE_MS(20));
    }
}

static PGconn *g_conn;
static void *long_query(void *arg)
{
    PGresult *r = NULL;
    int rc = grove_pq_exec(g_conn, "SELECT pg_sleep(30)", 0, NULL, &r);
    if (rc == 0)
        PQclear(r);
    return (void *)(intptr_t)rc;
}

static void test_timeout_and_kill_cancel_on_server(void)
{
    grove_pq_pool *p = make_pool(0, 1);
    PGresult *r;
    T_OK(grove_pq_query(p, "CREATE TABLE IF NOT EXISTS t (v int)", 0, NULL, &r));
    PQclear(r);
    PGconn *c;
    T_OK(grove_pq_get(p, &c));
    T_OK(grove_pq_exec(c, "BEGIN; INSERT INTO t VALUES (1)", 0, NULL, &r));
    T_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    /* A timeout scope mid-query: -ETIMEDOUT soon, and the query stops on the server. */
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(100));
    int64_t t0 = grove_now();
    T_EQ(grove_pq_exec(c, "SELECT pg_sleep(30)", 0, NULL, &r), -ETIMEDOUT);
    T_ASSERT(grove_timeout_end(&to));
    T_LT(grove_now() - t0, GROVE_SEC(5));
    wait_no_sleeper();
    /* Back in the pool: rolled back (the insert is gone), and the next user gets a clean
     * connection. */
    T_EQ(PQtransactionStatus(c), PQTRANS_INERROR); /* the cancel aborted the transaction */
    T_OK(grove_pq_put(p, c));
    T_OK(grove_pq_query(p, "SELECT count(*) FROM t", 0, NULL, &r));
    T_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    T_EQ(atoi(PQgetvalue(r, 0, 0)), 0);
    PQclear(r);
    /* Kill mid-query: -ECANCELED, cancelled on the server too. */
    T_OK(grove_pq_get(p, &g_conn));
    grove_thread *t = grove_spawn(long_query, NULL);
    int64_t end = grove_now() + GROVE_SEC(5);
    while (sleeping_on_server() == 0 && grove_now() < end)
        grove_sleep(GROVE_MS(10));
    T_EQ(sleeping_on_server(), 1);
    T_OK(grove_kill(t));
    void *res;
    T_OK(grove_join(t, &res));
    T_EQ((intptr_t)res, -ECANCELED);
    wait_no_sleeper();
    T_EQ(PQtransactionStatus(g_conn), PQTRANS_IDLE);
    T_OK(grove_pq_put(p, g_conn));
    T_OK(grove_pq_query(p, "SELECT 42", 0, NULL, &r));
    T_EQ(atoi(PQgetvalue(r, 0, 0)), 42);
    PQclear(r);
    T_OK(grove_pq_pool_destroy(p));
}

/* ---- Server restart ---------------------------------------------------------------------- */

static int g_ok_before, g_errors, g_ok_after, g_restarted;

static void *restart_worker(void *arg)
{
    while (!g_stop) {
        PGresult *r = NULL;
        int rc = grove_pq_query(g_pool, "SELECT 1, pg_sleep(0.02)", 0, NULL, &r);
        int ok = rc == 0 && PQresultStatus(r) == PGRES_TUPLES_OK;
        if (rc == 0)
            PQclear(r);
        if (!ok)
            g_errors++;
        else if (g_restarted)
            g_ok_after++;
        else
            g_ok_before++;
        if (!ok)
            grove_sleep(GROVE_MS(20));
    }
    return NULL;
}

static void test_server_restart(void)
{
    g_pool = make_pool(2, 4);
    g_stop = 0;
    g_ok_before = g_errors = g_ok_after = g_restarted = 0;
    grove_thread *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = grove_spawn(restart_worker, NULL);
    grove_sleep(GROVE_MS(300));
    t_pg_stop(&g_pg, SIGINT); /* fast shutdown: sessions are terminated */
    grove_sleep(GROVE_MS(200));
    t_pg_launch(&g_pg);
    g_restarted = 1;
    int64_t end = grove_now() + GROVE_SEC(20);
    while (g_ok_after < 50 && grove_now() < end)
        grove_sleep(GROVE_MS(20));
    g_stop = 1;
    for (int i = 0; i < 20; i++)
        T_OK(grove_join(t[i], NULL));
    fprintf(stderr, "     before %d, errors %d, after the restart %d\n", g_ok_before, g_errors, g_ok_after);
    T_GT(g_ok_before, 0);
    T_GT(g_errors, 0);    /* in-flight and refused queries failed clearly... */
    T_GE(g_ok_after, 50); /* ...and the pool recovered */
    T_LE(grove_pq_pool_open(g_pool), 4);
    T_OK(grove_pq_pool_destroy(g_pool));
    /* The monitor's connection was cut too: its next use finds out and reconnects. */
    T_EQ(mon_count("SELECT 1"), 1);
}

/* ---- Knobs and bad input --------------------------------------------------------------------- */

static PGconn *g_held[3];
static void *hold(void *arg)
{
    int i = (int)(intptr_t)arg;
    return (void *)(intptr_t)grove_pq_get(g_pool, &g_held[i]);
}

static void test_knobs(void)
{
    /* max_idle: connections idle past it are closed (down to min_size). */
    grove_pq_opts o = {.conninfo = g_pg.conninfo, .min_size = 1, .max_size = 3, .max_idle_ns = GROVE_MS(100)};
    T_OK(grove_pq_pool_new(&o, &g_pool));
    for (int i = 0; i < 3; i++)
        T_OK(grove_pq_get(g_pool, &g_held[i]));
    T_EQ(grove_pq_pool_open(g_pool), 3);
    /* A fourth waits (first come, first served) until one comes back. */
    grove_thread *w = grove_spawn(hold, (void *)0);
    T_OK(grove_sleep(GROVE_MS(10)));
    T_EQ(grove_pq_pool_waiting(g_pool), 1);
    PGconn *first = g_held[0];
    T_OK(grove_pq_put(g_pool, first));
    void *r;
    T_OK(grove_join(w, &r));
    T_EQ((intptr_t)r, 0);
    T_ASSERT(g_held[0] == first); /* the waiter got the connection that came back */
    for (int i = 0; i < 3; i++)
        T_OK(grove_pq_put(g_pool, g_held[i]));
    T_EQ(grove_pq_pool_idle(g_pool), 3);
    grove_sleep(GROVE_MS(150));
    PGconn *c;
    T_OK(grove_pq_get(g_pool, &c)); /* using the pool prunes it */
    T_OK(grove_pq_put(g_pool, c));
    T_EQ(grove_pq_pool_open(g_pool), 1);
    /* Liveness: a connection the server dropped while idle is replaced, not handed out. */
    T_OK(grove_pq_get(g_pool, &c));
    int pid = PQbackendPID(c);
    T_OK(grove_pq_put(g_pool, c));
    char q[128];
    snprintf(q, sizeof q, "SELECT pg_terminate_backend(%d)::int", pid);
    T_EQ(mon_count(q), 1);
    grove_sleep(GROVE_MS(100));
    PGresult *res;
    T_OK(grove_pq_query(g_pool, "SELECT pg_backend_pid()", 0, NULL, &res));
    T_EQ(PQresultStatus(res), PGRES_TUPLES_OK);
    T_NE(atoi(PQgetvalue(res, 0, 0)), pid);
    PQclear(res);
    T_OK(grove_pq_pool_destroy(g_pool));

    /* max_age: an old connection is closed when it comes back. */
    grove_pq_opts a = {.conninfo = g_pg.conninfo, .max_size = 1, .max_age_ns = GROVE_MS(50)};
    T_OK(grove_pq_pool_new(&a, &g_pool));
    T_OK(grove_pq_get(g_pool, &c));
    pid = PQbackendPID(c);
    grove_sleep(GROVE_MS(80));
    T_OK(grove_pq_put(g_pool, c));
    T_EQ(grove_pq_pool_open(g_pool), 0);
    T_OK(grove_pq_get(g_pool, &c));
    T_NE(PQbackendPID(c), pid);
    /* SQL errors are results, not transport errors. */
    T_OK(grove_pq_exec(c, "SELECT no_such_column", 0, NULL, &res));
    T_EQ(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    T_EQ(grove_pq_pool_destroy(g_pool), -EBUSY); /* one is still out */
    T_OK(grove_pq_put(g_pool, c));
    T_EQ(grove_pq_put(g_pool, c), -EINVAL); /* not out any more */
    T_OK(grove_pq_pool_destroy(g_pool));
}

static void test_bad_input(void)
{
    grove_pq_pool *p;
    grove_pq_opts o = {.conninfo = g_pg.conninfo, .max_size = 0};
    T_EQ(grove_pq_pool_new(&o, &p), -EINVAL);
    o.max_size = 1;
    o.min_size = 2;
    T_EQ(grove_pq_pool_new(&o, &p), -EINVAL);
    T_EQ(grove_pq_pool_new(NULL, &p), -EINVAL);
    /* Nothing listens: refused, with the reason. */
    char ci[128];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=grove dbname=postgres", t_free_port());
    grove_pq_opts r = {.conninfo = ci, .min_size = 1, .max_size = 1};
    T_EQ(grove_pq_pool_new(&r, &p), -ECONNREFUSED);
    T_ASSERT(strstr(grove_pq_last_error(), "refused") != NULL);
    /* A server that accepts but never answers: the connect timeout. */
    int l = grove_listen("127.0.0.1:0", 8);
    T_OK(l);
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=grove dbname=postgres", grove_sock_port(l));
    grove_pq_opts s = {.conninfo = ci, .min_size = 1, .max_size = 1, .connect_timeout_ns = GROVE_MS(200)};
    int64_t t0 = grove_now();
    T_EQ(grove_pq_pool_new(&s, &p), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_SEC(3));
    grove_close(l);
    T_EQ(grove_pq_exec(NULL, "SELECT 1", 0, NULL, NULL), -EINVAL);
}

/* ---- The watch on each connection's socket ----------------------------------------------- */

static int exec_int(PGconn *c, const char *sql)
{
    PGresult *r;
    int rc = grove_pq_exec(c, sql, 0, NULL, &r);
    if (rc < 0)
        return rc;
    int v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

static void test_socket_watch_follows_connection(void)
{
    /* grove_pq_exec on a connection of the caller's own waits through a standing watch
     * (a dup of the socket) that libpq's events close on reset and finish: no fd is left
     * behind, and a reset connection (new socket) keeps working. */
    int n0 = t_open_fds();
    T_GT(n0, 0);
    char ci[300];
    snprintf(ci, sizeof ci, "%s application_name=grove-own", g_pg.conninfo);
    PGconn *c = PQconnectdb(ci);
    T_EQ(PQstatus(c), CONNECTION_OK);
    for (int i = 0; i < 20; i++)
        T_EQ(exec_int(c, "SELECT 42"), 42);
    T_EQ(t_open_fds(), n0 + 2); /* the socket and the watch's dup */
    PQreset(c);
    T_EQ(PQstatus(c), CONNECTION_OK);
    T_EQ(t_open_fds(), n0 + 1); /* the old socket's watch went with it */
    T_EQ(exec_int(c, "SELECT 7"), 7);
    T_EQ(t_open_fds(), n0 + 2);
    PQfinish(c);
    T_EQ(t_open_fds(), n0);
    /* A pool's connections likewise. */
    grove_pq_pool *p = make_pool(3, 3);
    for (int i = 0; i < 30; i++) {
        PGresult *r;
        T_OK(grove_pq_query(p, "SELECT 1", 0, NULL, &r));
        PQclear(r);
    }
    T_OK(grove_pq_pool_destroy(p));
    T_EQ(t_open_fds(), n0);
}

/* ---- Pipelined grove_pq_query (grove_pq_opts.pipeline) ------------------------------------ */

static grove_pq_pool *make_pipe_pool(size_t max, size_t depth)
{
    grove_pq_opts o = {.conninfo = g_pg.conninfo, .min_size = 1, .max_size = max, .pipeline = depth};
    grove_pq_pool *p;
    T_OK(grove_pq_pool_new(&o, &p));
    return p;
}

typedef struct pq_job {
    const char *sql;
    int arg;
    int64_t timeout; /* 0: none */
    int rc;
    ExecStatusType st;
    long value; /* first column of the first row, if any */
} pq_job;

static void *pipe_job(void *arg)
{
    pq_job *j = arg;
    char v[16];
    snprintf(v, sizeof v, "%d", j->arg);
    const char *vals[1] = {v};
    grove_timeout to;
    if (j->timeout)
        grove_timeout_start(&to, j->timeout);
    PGresult *r = NULL;
    j->rc = grove_pq_query(g_pool, j->sql, strchr(j->sql, '$') ? 1 : 0, vals, &r);
    if (j->timeout)
        grove_timeout_end(&to);
    if (j->rc == 0) {
        j->st = PQresultStatus(r);
        j->value = j->st == PGRES_TUPLES_OK && PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
    }
    return NULL;
}

static void *pipe_many(void *arg)
{
    int base = (int)(intptr_t)arg;
    for (int i = 0; i < 20; i++) {
        pq_job j = {.sql = "SELECT $1::int + 1", .arg = base + i};
        pipe_job(&j);
        if (j.rc != 0 || j.st != PGRES_TUPLES_OK || j.value != base + i + 1)
            return (void *)(intptr_t)-1;
    }
    return NULL;
}

/* 200 green threads x 20 queries over 4 connections, 8 in flight on each: every answer
 * goes to its own caller, and the pool's limit holds on our side and the server's. */
static void test_pipeline_results_in_order(void)
{
    g_pool = make_pipe_pool(4, 8);
    g_stop = 0;
    g_max_open = 0;
    g_max_server = 0;
    grove_thread *mon = grove_spawn(monitor, NULL);
    grove_thread *t[200];
    for (int i = 0; i < 200; i++)
        t[i] = grove_spawn(pipe_many, (void *)(intptr_t)(i * 1000));
    for (int i = 0; i < 200; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 0);
    }
    g_stop = 1;
    T_OK(grove_join(mon, NULL));
    T_LE(g_max_open, 4);
    T_LE(g_max_server, 4);
    T_GE(g_max_open, 2);
    /* Every connection went back to the pool when its pipeline emptied. */
    T_EQ(grove_pq_pool_idle(g_pool), grove_pq_pool_open(g_pool));
    T_EQ(grove_pq_pool_waiting(g_pool), 0);
    T_OK(grove_pq_pool_destroy(g_pool));
}

/* An SQL error touches no neighbour; BEGIN is refused (it would hold the queries behind
 * it in its transaction); a second statement is libpq's error; the pool goes on. */
static void test_pipeline_errors_isolated(void)
{
    g_pool = make_pipe_pool(1, 16);
    pq_job j[12];
    grove_thread *t[12];
    for (int i = 0; i < 12; i++) {
        j[i] = (pq_job){.sql = i % 3 == 1 ? "SELECT 1 / ($1::int - $1::int)" : "SELECT $1::int * 3", .arg = i};
        t[i] = grove_spawn(pipe_job, &j[i]);
    }
    /* All twelve are in flight on the one connection: nobody waits for it. */
    grove_sleep(GROVE_MS(1));
    T_EQ(grove_pq_pool_waiting(g_pool), 0);
    T_EQ(grove_pq_pool_idle(g_pool), 0);
    for (int i = 0; i < 12; i++) {
        T_OK(grove_join(t[i], NULL));
        T_EQ(j[i].rc, 0);
        if (i % 3 == 1) {
            T_EQ(j[i].st, PGRES_FATAL_ERROR); /* division by zero, for this one only */
        } else {
            T_EQ(j[i].st, PGRES_TUPLES_OK);
            T_EQ(j[i].value, 3 * i);
        }
    }
    pq_job b = {.sql = "BEGIN"};
    pipe_job(&b);
    T_EQ(b.rc, -EINVAL);
    T_ASSERT(strstr(grove_pq_last_error(), "transaction"));
    pq_job two = {.sql = "SELECT 1; SELECT 2"};
    pipe_job(&two);
    T_EQ(two.rc, 0);
    T_EQ(two.st, PGRES_FATAL_ERROR);
    /* A transaction through grove_pq_get still works on the same pool. */
    PGconn *c;
    T_OK(grove_pq_get(g_pool, &c));
    PGresult *r;
    T_OK(grove_pq_exec(c, "BEGIN", 0, NULL, &r));
    PQclear(r);
    T_EQ(PQtransactionStatus(c), PQTRANS_INTRANS);
    T_OK(grove_pq_put(g_pool, c)); /* rolled back */
    pq_job after = {.sql = "SELECT $1::int + 40", .arg = 2};
    pipe_job(&after);
    T_EQ(after.rc, 0);
    T_EQ(after.value, 42);
    T_EQ(grove_pq_pool_open(g_pool), 1);
    /* A grove_pq_get that waits while the one connection is busy in a pipeline gets it
     * as soon as the pipeline empties. */
    pq_job busy = {.sql = "SELECT $1::int, pg_sleep(0.1)", .arg = 3};
    grove_thread *bt = grove_spawn(pipe_job, &busy);
    grove_sleep(GROVE_MS(20));
    int64_t t0 = grove_now();
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(3));
    T_OK(grove_pq_get(g_pool, &c));
    grove_timeout_end(&to);
    T_LE(grove_now() - t0, GROVE_SEC(1));
    T_OK(grove_join(bt, NULL));
    T_EQ(busy.rc, 0);
    T_EQ(busy.value, 3);
    T_OK(grove_pq_put(g_pool, c));
    T_OK(grove_pq_pool_destroy(g_pool));
}

/* A caller that times out or is killed leaves the line: the ones queued behind it on the
 * same connection still get their own answers, whether it was reading for them or not. */
static void test_pipeline_interrupted(void)
{
    g_pool = make_pipe_pool(1, 16);
    for (int reader_first = 0; reader_first < 2; reader_first++) {
        pq_job slow = {.sql = "SELECT $1::int, pg_sleep(0.3)", .arg = 1, .timeout = GROVE_MS(50)};
        pq_job mid = {.sql = "SELECT $1::int, pg_sleep(0.2)", .arg = 2};
        pq_job fast[8];
        grove_thread *ts = NULL, *tm = NULL, *tf[8];
        if (reader_first) { /* the slow one is first in line: it reads for everybody */
            ts = grove_spawn(pipe_job, &slow);
            grove_yield();
        }
        tm = grove_spawn(pipe_job, &mid);
        grove_yield();
        if (!reader_first) { /* queued behind mid: it only waits */
            ts = grove_spawn(pipe_job, &slow);
            grove_yield();
        }
        for (int i = 0; i < 8; i++) {
            fast[i] = (pq_job){.sql = "SELECT $1::int + 100", .arg = i};
            tf[i] = grove_spawn(pipe_job, &fast[i]);
        }
        T_OK(grove_join(ts, NULL));
        T_EQ(slow.rc, -ETIMEDOUT);
        T_OK(grove_join(tm, NULL));
        T_EQ(mid.rc, 0);
        T_EQ(mid.st, PGRES_TUPLES_OK);
        T_EQ(mid.value, 2);
        for (int i = 0; i < 8; i++) {
            T_OK(grove_join(tf[i], NULL));
            T_EQ(fast[i].rc, 0);
            T_EQ(fast[i].value, 100 + i);
        }
    }
    /* Killed while alone in line: its result is drained and the connection comes back. */
    pq_job lone = {.sql = "SELECT $1::int, pg_sleep(0.2)", .arg = 5};
    grove_thread *t = grove_spawn(pipe_job, &lone);
    grove_sleep(GROVE_MS(30));
    T_OK(grove_kill(t));
    T_OK(grove_join(t, NULL));
    T_EQ(lone.rc, -ECANCELED);
    T_EQ(grove_pq_pool_open(g_pool), 1);
    /* its answer is still on its way; the reader drops it, and the connection is idle */
    int64_t end = grove_now() + GROVE_SEC(2);
    while (grove_pq_pool_idle(g_pool) != 1 && grove_now() < end)
        grove_sleep(GROVE_MS(10));
    T_EQ(grove_pq_pool_idle(g_pool), 1);
    pq_job again = {.sql = "SELECT $1::int", .arg = 7};
    pipe_job(&again);
    T_EQ(again.rc, 0);
    T_EQ(again.value, 7);
    T_OK(grove_pq_pool_destroy(g_pool));
}

/* An idle pipeline keeps its connection for the next query, and goes back to the pool
 * once idle past max_idle (where it is closed, min_size being 0). */
static void test_pipeline_idle_knobs(void)
{
    grove_pq_opts o = {
        .conninfo = g_pg.conninfo, .max_size = 1, .pipeline = 4, .max_idle_ns = GROVE_MS(50), .check_after_ns = -1};
    T_OK(grove_pq_pool_new(&o, &g_pool));
    pq_job a = {.sql = "SELECT pg_backend_pid()"}, b = a, c = a;
    pipe_job(&a);
    pipe_job(&b);
    T_EQ(a.rc, 0);
    T_EQ(b.rc, 0);
    T_EQ(a.value, b.value); /* the same connection, kept in pipeline mode */
    T_EQ(grove_pq_pool_idle(g_pool), 1);
    grove_sleep(GROVE_MS(150));
    pipe_job(&c);
    T_EQ(c.rc, 0);
    T_ASSERT(c.value != a.value); /* the idle one was handed back and closed */
    T_EQ(grove_pq_pool_open(g_pool), 1);
    T_OK(grove_pq_pool_destroy(g_pool));
}

/* The server ends the session under a full pipeline: every caller gets an error, none a
 * wrong answer, and the pool opens a new connection for the next query. */
static void test_pipeline_connection_lost(void)
{
    g_pool = make_pipe_pool(1, 16);
    pq_job j[10];
    grove_thread *t[10];
    for (int i = 0; i < 10; i++) {
        j[i] = (pq_job){.sql = "SELECT $1::int, pg_sleep(0.05)", .arg = i};
        t[i] = grove_spawn(pipe_job, &j[i]);
    }
    grove_sleep(GROVE_MS(20));
    mon_count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = "
              "'grove-test' AND backend_type = 'client backend'");
    int errors = 0;
    for (int i = 0; i < 10; i++) {
        T_OK(grove_join(t[i], NULL));
        if (j[i].rc < 0)
            errors++;
        else if (j[i].st == PGRES_TUPLES_OK)
            T_EQ(j[i].value, i); /* its own answer */
    }
    T_GE(errors, 1);
    pq_job again = {.sql = "SELECT $1::int", .arg = 9};
    pipe_job(&again);
    T_EQ(again.rc, 0);
    T_EQ(again.value, 9);
    T_OK(grove_pq_pool_destroy(g_pool));
}

static const t_case cases[] = {
    T_CASE(test_thousand_threads_pool_of_ten),
    T_CASE(test_timeout_and_kill_cancel_on_server),
    T_CASE(test_server_restart),
    T_CASE(test_knobs),
    T_CASE(test_bad_input),
    T_CASE(test_socket_watch_follows_connection),
    T_CASE(test_pipeline_results_in_order),
    T_CASE(test_pipeline_errors_isolated),
    T_CASE(test_pipeline_interrupted),
    T_CASE(test_pipeline_connection_lost),
    T_CASE(test_pipeline_idle_knobs),
    {0},
};

int main(int argc, char **argv)
{
    t_pg_start(&g_pg);
    char ci[300];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=grove dbname=postgres application_name=grove-monitor",
             g_pg.port);
    grove_pq_opts o = {.conninfo = ci, .max_size = 1};
    T_OK(grove_pq_pool_new(&o, &g_mon));
    int rc = t_run(cases, argc, argv);
    if (g_mon)
        grove_pq_pool_destroy(g_mon);
    t_pg_cleanup(&g_pg);
    return rc;
}
