/* Name resolution through c-ares on the hub, against a DNS responder of our own: a green
 * thread answering on 127.0.0.1 (GROVE_DNS_SERVERS points c-ares at it). Checks answers,
 * NXDOMAIN, a server that never answers (timeout scope), /etc/hosts, numeric hosts, and
 * many concurrent lookups while other green threads keep running. */
// ctest: labels=unit,net,dns timeout=60
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static int g_dns_fd;
static int g_silent; /* drop queries instead of answering */
static int g_queries;
static int64_t g_delay; /* answer after this long (from a green thread of its own) */

typedef struct reply {
    unsigned char buf[512];
    size_t len;
    struct sockaddr_storage to;
    socklen_t tolen;
} reply;

static void send_later(void *arg)
{
    reply *r = arg;
    grove_sleep(g_delay);
    grove_sendto(g_dns_fd, r->buf, r->len, 0, (struct sockaddr *)&r->to, r->tolen);
    free(r);
}

/* Answers A queries for *.grove-test with 10.0.0.N (N = the first label's length), NXDOMAIN
 * for anything else, and an empty NOERROR answer for other types (AAAA). */
static void *dns_server(void *arg)
{
    unsigned char q[512], r[512];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = grove_recvfrom(g_dns_fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
        if (n < 0)
            return NULL; /* killed */
        g_queries++;
        if (g_silent || n < 17)
            continue;
        /* Parse the question name. */
        size_t p = 12;
        char name[256];
        size_t nl = 0;
        int first_len = q[p];
        while (p < (size_t)n && q[p]) {
            size_t l = q[p++];
            if (nl)
                name[nl++] = '.';
            memcpy(name + nl, q + p, l);
            nl += l;
            p += l;
        }
        name[nl] = 0;
        p++;
        if (p + 4 > (size_t)n)
            continue;
        int qtype = q[p] << 8 | q[p + 1];
        size_t qend = p + 4;
        memcpy(r, q, qend);
        r[2] = 0x81;
        r[3] = 0x80;
        r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0; /* counts: an/ns/ar = 0 */
        size_t len = qend;
        const char *suffix = ".grove-test";
        int ours = nl > strlen(suffix) && !strcmp(name + nl - strlen(suffix), suffix);
        if (!ours) {
            r[3] = 0x83; /* NXDOMAIN */
        } else if (qtype == 1) {
            r[7] = 1;
            unsigned char ans[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, (unsigned char)first_len};
            memcpy(r + len, ans, sizeof ans);
            len += sizeof ans;
        }
        if (g_delay) {
            reply *later = malloc(sizeof *later);
            memcpy(later->buf, r, len);
            later->len = len;
            later->to = from;
            later->tolen = flen;
            grove_spawn_n(send_later, later);
            continue;
        }
        grove_sendto(g_dns_fd, r, len, 0, (struct sockaddr *)&from, flen);
    }
}

static grove_thread *g_srv;

static void start_server(void)
{
    g_dns_fd = grove_udp_bind("127.0.0.1:0");
    T_OK(g_dns_fd);
    char env[64];
    snprintf(env, sizeof env, "127.0.0.1:%d", grove_sock_port(g_dns_fd));
    setenv("GROVE_DNS_SERVERS", env, 1);
    g_srv = grove_spawn(dns_server, NULL);
}

static int lookup_v4(const char *host, char *out, size_t size)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = grove_getaddrinfo(host, "80", &hints, &res);
    if (rc)
        return rc;
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, out, (socklen_t)size);
    int port = ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port);
    grove_freeaddrinfo(res);
    return port == 80 ? 0 : -EPROTO;
}

static void test_answers_and_nxdomain(void)
{
    char ip[64];
    T_OK(lookup_v4("abc.grove-test", ip, sizeof ip));
    T_STREQ(ip, "10.0.0.3");
    T_OK(lookup_v4("abcdefg.grove-test", ip, sizeof ip));
    T_STREQ(ip, "10.0.0.7");
    T_EQ(lookup_v4("nothing.example", ip, sizeof ip), -ENOENT);
    T_GT(g_queries, 2);
}

static void test_hosts_and_numeric(void)
{
    int before = g_queries;
    char ip[64];
    T_OK(lookup_v4("localhost", ip, sizeof ip)); /* /etc/hosts, no query */
    T_STREQ(ip, "127.0.0.1");
    T_OK(lookup_v4("192.0.2.7", ip, sizeof ip)); /* numeric: never asks */
    T_STREQ(ip, "192.0.2.7");
    T_EQ(g_queries, before);
    struct addrinfo *res;
    T_EQ(grove_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
    T_OK(grove_getaddrinfo("::1", "443", NULL, &res));
    T_EQ(res->ai_family, AF_INET6);
    grove_freeaddrinfo(res);
}

static void test_timeout(void)
{
    g_silent = 1;
    grove_timeout to;
    grove_timeout_start(&to, GROVE_MS(200));
    int64_t t0 = grove_now();
    char ip[64];
    T_EQ(lookup_v4("slow.grove-test", ip, sizeof ip), -ETIMEDOUT);
    T_LT(grove_now() - t0, GROVE_MS(600));
    T_ASSERT(grove_timeout_end(&to));
    g_silent = 0;
}

static int g_ticks;
static void *ticker(void *arg)
{
    while (grove_sleep(GROVE_MS(1)) == 0)
        g_ticks++;
    return NULL;
}

static void *one_lookup(void *arg)
{
    char name[64], ip[64];
    int i = (int)(intptr_t)arg;
    snprintf(name, sizeof name, "%.*s.grove-test", 1 + i % 20, "xxxxxxxxxxxxxxxxxxxxxxxx");
    int rc = lookup_v4(name, ip, sizeof ip);
    if (rc)
        return (void *)(intptr_t)rc;
    char want[32];
    snprintf(want, sizeof want, "10.0.0.%d", 1 + i % 20);
    return (void *)(intptr_t)(strcmp(ip, want) == 0);
}

static void test_concurrent(void)
{
    /* Each answer takes 20 ms: one after the other, 50 lookups would take over 1 s. */
    g_delay = GROVE_MS(20);
    int64_t t0 = grove_now();
    grove_thread *tick = grove_spawn(ticker, NULL);
    grove_thread *t[50];
    for (int i = 0; i < 50; i++)
        t[i] = grove_spawn(one_lookup, (void *)(intptr_t)i);
    for (int i = 0; i < 50; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 1);
    }
    int64_t took = grove_now() - t0;
    g_delay = 0;
    T_LT(took, GROVE_MS(900)); /* serially: 1 s */
    T_OK(grove_kill(tick));
    T_OK(grove_join(tick, NULL));
    /* The hub kept running the ticker while the lookups waited (nothing blocked it). */
    T_GE(g_ticks, 3); /* several ticks: the hub was never blocked (a loaded machine gives fewer) */
}

static void test_connect_by_name(void)
{
    int l = grove_listen("127.0.0.1:0", 8);
    char addr[64];
    snprintf(addr, sizeof addr, "localhost:%d", grove_sock_port(l));
    int c = grove_connect(addr);
    T_OK(c);
    grove_close(c);
    grove_close(l);
    T_EQ(grove_connect("missing.example:80"), -ENOENT);
}

static const t_case cases[] = {
    T_CASE(test_answers_and_nxdomain), T_CASE(test_hosts_and_numeric), T_CASE(test_timeout),
    T_CASE(test_concurrent),           T_CASE(test_connect_by_name),   {0},
};

int main(int argc, char **argv)
{
    start_server();
    int rc = t_run(cases, argc, argv);
    grove_kill(g_srv);
    grove_join(g_srv, NULL);
    return rc;
}
