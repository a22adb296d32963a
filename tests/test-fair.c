/* Fair I/O: one connection whose data never runs out does not starve fifty others. A plain
 * pthread keeps a socket full; a green thread reads it in small pieces, so none of its
 * reads ever waits. Before the cooperative budget it never yielded and the fifty echo
 * conversations on the same hub stood still for the whole flood. */
// ctest: labels=unit,net,portable timeout=60
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define CONVERSATIONS 50
#define FLOOD_NS GROVE_MS(400)

static atomic_int g_stop_writer;
static int g_flood_fd[2];

static void *flood_writer(void *arg) /* a plain pthread: blocking sends, no hub */
{
    (void)arg;
    static char chunk[65536];
    while (!atomic_load(&g_stop_writer))
        if (send(g_flood_fd[1], chunk, sizeof chunk, MSG_NOSIGNAL) < 0)
            break;
    return NULL;
}

static int64_t g_flood_reads;

static void *flood_reader(void *arg)
{
    (void)arg;
    char buf[16];
    int64_t end = grove_now() + FLOOD_NS;
    while (grove_now() < end) {
        if (grove_read(g_flood_fd[0], buf, sizeof buf) <= 0)
            break;
        g_flood_reads++;
    }
    return NULL;
}

struct convo {
    int fd[2];
    int64_t rounds;
    int64_t worst_ns;
};

static void *echo_side(void *arg)
{
    struct convo *c = arg;
    char b[8];
    ssize_t n;
    while ((n = grove_read(c->fd[1], b, sizeof b)) > 0)
        if (grove_sendall(c->fd[1], b, (size_t)n) < 0)
            break;
    return NULL;
}

static int g_stop_talk;

static void *talk_side(void *arg)
{
    struct convo *c = arg;
    char b[8];
    while (!g_stop_talk) {
        int64_t t0 = grove_now();
        if (grove_sendall(c->fd[0], "ping", 4) < 0 || grove_read(c->fd[0], b, sizeof b) != 4)
            break;
        int64_t took = grove_now() - t0;
        if (took > c->worst_ns)
            c->worst_ns = took;
        c->rounds++;
    }
    return NULL;
}

static void test_flood_does_not_starve(void)
{
    static struct convo cv[CONVERSATIONS];
    grove_thread *echo[CONVERSATIONS], *talk[CONVERSATIONS];
    for (int i = 0; i < CONVERSATIONS; i++) {
        T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, cv[i].fd));
        echo[i] = grove_spawn(echo_side, &cv[i]);
        talk[i] = grove_spawn(talk_side, &cv[i]);
    }
    T_OK(grove_sleep(GROVE_MS(20))); /* the conversations are under way */

    T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, g_flood_fd));
    int sz = 1 << 20;
    setsockopt(g_flood_fd[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    pthread_t w;
    atomic_store(&g_stop_writer, 0);
    T_EQ(pthread_create(&w, NULL, flood_writer, NULL), 0);
    usleep(20000); /* the socket is full before the reader starts */

    int64_t before = 0;
    for (int i = 0; i < CONVERSATIONS; i++) {
        before += cv[i].rounds;
        cv[i].worst_ns = 0;
    }
    grove_thread *r = grove_spawn(flood_reader, NULL);
    T_OK(grove_join(r, NULL));
    int64_t during = -before;
    int64_t worst = 0;
    int starved = 0;
    for (int i = 0; i < CONVERSATIONS; i++) {
        during += cv[i].rounds;
        if (cv[i].worst_ns > worst)
            worst = cv[i].worst_ns;
    }
    g_stop_talk = 1;
    for (int i = 0; i < CONVERSATIONS; i++)
        starved += cv[i].worst_ns > FLOOD_NS / 2;
    fprintf(stderr, "flood: %lld reads; conversations: %lld round trips during it, worst %.1f ms\n",
            (long long)g_flood_reads, (long long)during, (double)worst / 1e6);
    T_GT(g_flood_reads, 1000);        /* the flood really flowed */
    T_GE(during, 10 * CONVERSATIONS); /* everyone kept talking... */
    T_EQ(starved, 0);                 /* ...and nobody waited half the flood */

    atomic_store(&g_stop_writer, 1);
    grove_close(g_flood_fd[0]); /* the writer's send fails: it ends */
    pthread_join(w, NULL);
    close(g_flood_fd[1]);
    for (int i = 0; i < CONVERSATIONS; i++) {
        grove_shutdown(cv[i].fd[0], SHUT_WR); /* the echo side sees EOF */
        T_OK(grove_join(talk[i], NULL));
        T_OK(grove_join(echo[i], NULL));
        grove_close(cv[i].fd[0]);
        grove_close(cv[i].fd[1]);
    }
}

static const t_case cases[] = {
    T_CASE(test_flood_does_not_starve),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
