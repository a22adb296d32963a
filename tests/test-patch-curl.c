/* Unmodified blocking libcurl (easy interface) in 50 green threads against a local HTTP
 * server that answers after 0.2 s: all finish together, far under the 10 s a serial run
 * would take. curl from a plain pthread behaves as without Grove.
 * Also built as test-patch-curl-preload: linked with libgrove.so, run with
 * LD_PRELOAD=libgrove-preload.so and no grove_patch() call. */
// ctest: labels=patch,server timeout=120 variants=preload libs=curl
#include "servers.h"
#include <grove/patch.h>

#include <curl/curl.h>
#include <pthread.h>

static int g_port;

static void slow_http(int fd, void *arg)
{
    grove_stream *s = grove_stream_wrap(fd, 0);
    char line[1024];
    while (grove_stream_readline(s, line, sizeof line) > 2) {
    }
    grove_sleep(GROVE_MS(200));
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello curl\n";
    grove_stream_write(s, resp, strlen(resp));
    grove_stream_close(s);
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    *(size_t *)ud += sz * n;
    return sz * n;
}

static long fetch(void)
{
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", g_port);
    size_t got = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c); /* blocking */
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        return -(long)rc;
    return status == 200 && got == 11 ? 1 : 0;
}

static void *green_fetch(void *arg) { return (void *)fetch(); }

static void test_fifty_green_curls(void)
{
    grove_thread *t[50];
    int64_t t0 = grove_now();
    for (int i = 0; i < 50; i++)
        t[i] = grove_spawn(green_fetch, NULL);
    for (int i = 0; i < 50; i++) {
        void *r;
        T_OK(grove_join(t[i], &r));
        T_EQ((intptr_t)r, 1);
    }
    int64_t took = grove_now() - t0;
    T_GE(took, GROVE_MS(195));
    T_LT(took, GROVE_MS(1500)); /* serially: 50 x 0.2 s = 10 s */
}

static void *plain(void *arg) { return (void *)fetch(); }

static void test_plain_pthread(void)
{
    pthread_t th;
    T_EQ(pthread_create(&th, NULL, plain, NULL), 0);
    /* main keeps serving the HTTP server while the pthread's curl blocks its own thread. */
    T_EQ((intptr_t)t_join_pthread(th), 1);
}

static const t_case cases[] = {
    T_CASE(test_fifty_green_curls),
    T_CASE(test_plain_pthread),
    {0},
};

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
#ifdef GROVE_TEST_PRELOAD
    T_EQ(grove_patched(), GROVE_PATCH_ALL); /* LD_PRELOAD=libgrove-preload.so, no grove_patch() */
#else
    grove_patch(GROVE_PATCH_ALL);
#endif
    int l = grove_listen("127.0.0.1:0", 1024);
    g_port = grove_sock_port(l);
    grove_server *srv = grove_server_start(l, slow_http, NULL, 0);
    int rc = t_run(cases, argc, argv);
    grove_server_stop(srv, GROVE_SEC(1));
    curl_global_cleanup();
    return rc;
}
