/* PostgreSQL queries per second: CLIENTS workers sharing CONNS connections, for SECONDS.
 *   grove-pq green CONNINFO CLIENTS CONNS SECONDS QUERY    green threads and a grove-pq pool
 *   grove-pq threads CONNINFO CLIENTS CONNS SECONDS QUERY  CONNS OS threads, one blocking
 *                                                           libpq connection each (CLIENTS unused)
 *   grove-pq hubs2 CONNINFO CLIENTS CONNS SECONDS QUERY    as green, split over two OS threads
 *                                                           with a hub and a pool each (how a
 *                                                           Grove program uses a second core)
 *   grove-pq pipeline CONNINFO CLIENTS CONNS SECONDS QUERY as green, with the pool's pipelining
 *                                                           on (grove_pq_opts.pipeline = 16:
 *                                                           queries share the connections)
 * QUERY is "select1" (SELECT 1) or "param" (SELECT $1::int + 1, a parameter per query).
 * Prints queries/s and the client process's CPU microseconds per query; the last stdout
 * line is queries/s. bench/pq_gevent.py runs the same workload with psycopg2 under gevent;
 * bench/pq.sh starts a private server and runs all three. */
#include "bench.h"

#include <grove/pq.h>

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

static const char *g_conninfo;
static int g_param;
static volatile int g_stop;
static _Atomic long g_queries;
static grove_pq_pool *g_pool;          /* green: main's pool (measure() sleeps greenly) */
static __thread grove_pq_pool *t_pool; /* the pool of the calling hub */
static size_t g_pipeline;              /* grove_pq_opts.pipeline */

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void *green_worker(void *arg)
{
    long i = (long)(intptr_t)arg;
    while (!g_stop) {
        char v[24];
        snprintf(v, sizeof v, "%ld", i++);
        const char *vals[1] = {v};
        PGresult *r;
        int rc = g_param ? grove_pq_query(t_pool, "SELECT $1::int + 1", 1, vals, &r)
                         : grove_pq_query(t_pool, "SELECT 1", 0, NULL, &r);
        if (rc < 0 || PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "query failed: %s\n", rc < 0 ? grove_pq_last_error() : PQresultErrorMessage(r));
            exit(1);
        }
        PQclear(r);
        g_queries++;
    }
    return NULL;
}

static void *thread_worker(void *arg)
{
    PGconn *c = PQconnectdb(g_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        exit(1);
    }
    long i = 0;
    while (!g_stop) {
        char v[24];
        snprintf(v, sizeof v, "%ld", i++);
        const char *vals[1] = {v};
        PGresult *r =
            g_param ? PQexecParams(c, "SELECT $1::int + 1", 1, NULL, vals, NULL, NULL, 0) : PQexec(c, "SELECT 1");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "query failed: %s", PQresultErrorMessage(r));
            exit(1);
        }
        PQclear(r);
        g_queries++;
    }
    PQfinish(c);
    return NULL;
}

static void measure(double secs, const char *what, int clients, int conns)
{
    struct timespec w = {0, 300000000};
    if (g_pool)
        grove_sleep(GROVE_MS(300));
    else
        nanosleep(&w, NULL);
    long q0 = g_queries;
    double c0 = cpu_us();
    int64_t t0 = grove_now();
    if (g_pool) {
        grove_sleep((int64_t)(secs * 1e9));
    } else {
        w.tv_sec = (time_t)secs;
        w.tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9);
        nanosleep(&w, NULL);
    }
    long q = g_queries - q0;
    double cpu = cpu_us() - c0, el = (double)(grove_now() - t0) / 1e9;
    g_stop = 1;
    fprintf(stderr, "pq %s clients=%d conns=%d query=%s q_per_s=%.0f client_cpu_us_per_q=%.2f\n", what, clients, conns,
            g_param ? "param" : "select1", q / el, cpu / q);
    printf("%.0f\n", q / el);
    fflush(stdout);
}

/* The calling hub's pool and clients; 0 or -1. */
static __thread grove_thread **t_clients;
static __thread int t_nclients;

static int start_green(int clients, int conns, int base)
{
    grove_pq_opts o = {
        .conninfo = g_conninfo, .min_size = (size_t)conns, .max_size = (size_t)conns, .pipeline = g_pipeline};
    int rc = grove_pq_pool_new(&o, &t_pool);
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", grove_pq_last_error());
        return -1;
    }
    t_clients = calloc((size_t)clients, sizeof *t_clients);
    t_nclients = clients;
    for (int i = 0; i < clients; i++)
        t_clients[i] = grove_spawn(green_worker, (void *)(intptr_t)((base + i) * 1000000));
    return 0;
}

static void finish_green(void)
{
    for (int i = 0; i < t_nclients; i++)
        grove_join(t_clients[i], NULL);
    free(t_clients);
    grove_pq_pool_destroy(t_pool);
}

struct hub_arg {
    int clients, conns, index;
};

static void *hub_main(void *arg)
{
    struct hub_arg *a = arg;
    if (start_green(a->clients, a->conns, a->index * a->clients) < 0)
        exit(1);
    while (!g_stop)
        grove_sleep(GROVE_MS(10));
    finish_green();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: grove-pq green|hubs2|pipeline|threads CONNINFO CLIENTS CONNS SECONDS select1|param\n");
        return 2;
    }
    g_conninfo = argv[2];
    int clients = atoi(argv[3]), conns = atoi(argv[4]);
    double secs = atof(argv[5]);
    g_param = !strcmp(argv[6], "param");
    if (clients < 1 || conns < 1 || secs <= 0)
        return 2;
    if (!strcmp(argv[1], "threads")) {
        pthread_t *t = calloc((size_t)conns, sizeof *t);
        for (int i = 0; i < conns; i++)
            pthread_create(&t[i], NULL, thread_worker, NULL);
        measure(secs, "threads", conns, conns);
        for (int i = 0; i < conns; i++)
            pthread_join(t[i], NULL);
        return 0;
    }
    if (!strcmp(argv[1], "hubs2")) {
        static struct hub_arg h[2];
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            h[i] = (struct hub_arg){clients / 2 + (i < clients % 2), conns / 2 + (i < conns % 2), i};
            pthread_create(&t[i], NULL, hub_main, &h[i]);
        }
        measure(secs, "hubs2", clients, conns);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        return 0;
    }
    int pipe = !strcmp(argv[1], "pipeline");
    if (pipe)
        g_pipeline = 16;
    if (start_green(clients, conns, 0) < 0)
        return 1;
    g_pool = t_pool;
    measure(secs, pipe ? "pipeline" : "green", clients, conns);
    finish_green();
    return 0;
}
