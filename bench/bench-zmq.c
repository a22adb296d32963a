/* ZeroMQ REQ/REP round trips: CLIENTS REQ sockets against one ROUTER echo server over
 * tcp://127.0.0.1, all in this process, for SECONDS.
 *   grove-zmq green CLIENTS SECONDS     green threads on one hub (grove-zmq)
 *   grove-zmq blocking CLIENTS SECONDS  one OS thread per client and for the server,
 *                                       plain blocking libzmq (the reference loop)
 * Prints round trips per second and the process's CPU microseconds per round trip (user +
 * system, libzmq's I/O thread included); the last stdout line is the round trips/s.
 * bench/zmq_gevent.py is the same program for pyzmq with gevent. */
#include "bench.h"

#include <grove/zmq.h>

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

static char g_ep[64];
static void *g_ctx;
static volatile int g_stop;
static long g_rts;

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- green ---- */

static grove_zmq *g_router;

static void *green_server(void *arg)
{
    for (;;) {
        grove_zmq_msg m;
        if (grove_zmq_recv_parts(g_router, &m, 8, 4096) < 0)
            return NULL;
        grove_zmq_send_parts(g_router, m.parts, m.n);
        grove_zmq_msg_free(&m);
    }
}

static void *green_client(void *arg)
{
    grove_zmq *s = grove_zmq_socket(g_ctx, ZMQ_REQ);
    grove_zmq_connect(s, g_ep);
    char buf[64];
    while (!g_stop) {
        if (grove_zmq_send(s, "0123456789abcdef", 16, 0) < 0 || grove_zmq_recv(s, buf, sizeof buf, NULL) < 0)
            break;
        g_rts++;
    }
    grove_zmq_close(s);
    return NULL;
}

static void run_green(int clients, double secs)
{
    g_router = grove_zmq_socket(g_ctx, ZMQ_ROUTER);
    grove_zmq_bind(g_router, g_ep);
    grove_thread *srv = grove_spawn(green_server, NULL);
    grove_thread **t = calloc((size_t)clients, sizeof *t);
    for (int i = 0; i < clients; i++)
        t[i] = grove_spawn(green_client, NULL);
    grove_sleep(GROVE_MS(300)); /* warm-up: connections made */
    long r0 = g_rts;
    double c0 = cpu_us();
    int64_t t0 = grove_now();
    grove_sleep((int64_t)(secs * 1e9));
    long rts = g_rts - r0;
    double cpu = cpu_us() - c0, el = (double)(grove_now() - t0) / 1e9;
    g_stop = 1;
    for (int i = 0; i < clients; i++)
        grove_join(t[i], NULL);
    grove_kill(srv);
    grove_join(srv, NULL);
    fprintf(stderr, "zmq green clients=%d rt_per_s=%.0f cpu_us_per_rt=%.2f\n", clients, rts / el, cpu / rts);
    printf("%.0f\n", rts / el);
}

/* ---- blocking ---- */

static _Atomic long g_brts;

static void *blocking_server(void *arg)
{
    void *r = arg;
    zmq_msg_t parts[8];
    for (;;) {
        int n = 0, more = 1;
        while (more && n < 8) {
            zmq_msg_init(&parts[n]);
            if (zmq_msg_recv(&parts[n], r, 0) < 0)
                return NULL;
            more = zmq_msg_more(&parts[n]);
            n++;
        }
        for (int i = 0; i < n; i++)
            if (zmq_msg_send(&parts[i], r, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
                return NULL;
    }
}

static void *blocking_client(void *arg)
{
    void *s = zmq_socket(g_ctx, ZMQ_REQ);
    zmq_connect(s, g_ep);
    char buf[64];
    while (!g_stop) {
        if (zmq_send(s, "0123456789abcdef", 16, 0) < 0 || zmq_recv(s, buf, sizeof buf, 0) < 0)
            break;
        g_brts++;
    }
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(s);
    return NULL;
}

static void run_blocking(int clients, double secs)
{
    void *r = zmq_socket(g_ctx, ZMQ_ROUTER);
    zmq_bind(r, g_ep);
    pthread_t srv, *t = calloc((size_t)clients, sizeof *t);
    pthread_create(&srv, NULL, blocking_server, r);
    for (int i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, blocking_client, NULL);
    struct timespec w = {0, 300000000};
    nanosleep(&w, NULL);
    long r0 = g_brts;
    double c0 = cpu_us();
    int64_t t0 = grove_now();
    w.tv_sec = (time_t)secs;
    w.tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9);
    nanosleep(&w, NULL);
    long rts = g_brts - r0;
    double cpu = cpu_us() - c0, el = (double)(grove_now() - t0) / 1e9;
    g_stop = 1;
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    fprintf(stderr, "zmq blocking clients=%d rt_per_s=%.0f cpu_us_per_rt=%.2f\n", clients, rts / el, cpu / rts);
    printf("%.0f\n", rts / el);
    _exit(0); /* the server thread is still blocked in libzmq */
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "green";
    int clients = argc > 2 ? atoi(argv[2]) : 100;
    double secs = argc > 3 ? atof(argv[3]) : 5;
    if (clients < 1 || secs <= 0) {
        fprintf(stderr, "usage: grove-zmq green|blocking CLIENTS SECONDS\n");
        return 2;
    }
    int l = grove_listen("127.0.0.1:0", 1);
    snprintf(g_ep, sizeof g_ep, "tcp://127.0.0.1:%d", grove_sock_port(l));
    grove_close(l);
    g_ctx = zmq_ctx_new();
    if (!strcmp(mode, "blocking"))
        run_blocking(clients, secs);
    else
        run_green(clients, secs);
    return 0;
}
