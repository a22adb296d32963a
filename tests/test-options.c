/* The build options (GROVE_WITH_TLS, GROVE_WITH_CARES): whichever way Grove was built, the
 * same API links and behaves as documented. make test runs this in the default build (both
 * on) and in the portable build (both off). */
// ctest: labels=unit,portable timeout=60
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static void test_tls_option(void)
{
    grove_tls_opts o = {0};
    grove_tls_ctx *c = grove_tls_client_ctx(&o);
#if GROVE_TEST_WITH_TLS
    T_ASSERT(c != NULL);
    grove_tls_ctx_free(c);
#else
    T_ASSERT(c == NULL);
    T_EQ(errno, ENOTSUP);
    T_EQ(grove_tls_connect(NULL, 0, "x", NULL), -ENOTSUP);
    T_ASSERT(strstr(grove_tls_last_error(), "GROVE_WITH_TLS") != NULL);
#endif
}

static void *resolve_localhost(void *arg)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_CANONNAME};
    struct addrinfo *res = NULL;
    int rc = grove_getaddrinfo("localhost", "80", &hints, &res);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    int ok = sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(sin->sin_port) == 80;
    grove_freeaddrinfo(res);
    return (void *)(intptr_t)(ok ? 1 : -1);
}

static void *ticker(void *arg)
{
    int *n = arg;
    while (grove_sleep(GROVE_MS(1)) == 0)
        (*n)++;
    return NULL;
}

static void test_dns_either_resolver(void)
{
    /* A name from /etc/hosts, through c-ares or libc-on-the-tpool, from several green
     * threads at once while another keeps ticking (the hub is never blocked). */
    int ticks = 0;
    grove_thread *tk = grove_spawn(ticker, &ticks);
    grove_thread *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = grove_spawn(resolve_localhost, NULL);
    for (int i = 0; i < 8; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 1);
    }
    T_OK(grove_kill(tk));
    T_OK(grove_join(tk, NULL));
    /* Numeric hosts never reach a resolver; bad arguments are caught first. */
    struct addrinfo *res;
    T_OK(grove_getaddrinfo("127.0.0.1", "8080", NULL, &res));
    grove_freeaddrinfo(res);
    T_EQ(grove_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
    /* A lookup interrupted by a timeout scope gives -ETIMEDOUT at once. */
    grove_timeout to;
    grove_timeout_start(&to, 0);
    T_EQ(grove_getaddrinfo("localhost", "80", NULL, &res), -ETIMEDOUT);
    grove_timeout_end(&to);
}

static const t_case cases[] = {
    T_CASE(test_tls_option),
    T_CASE(test_dns_either_resolver),
    {0},
};

int main(int argc, char **argv) { return t_run(cases, argc, argv); }
