/* The dispatch pattern (eventlet's feed scraper): a server that is also a client. For
 * every request it fetches all upstream URLs concurrently with a pile and answers with
 * their combined result, one "SIZE URL" line per upstream, in the order given. Both sides
 * are grove-http: its server in front, its client (with a keep-alive pool) behind.
 *   grove-dispatch LISTEN_ADDR URL...     e.g. grove-dispatch 127.0.0.1:8090 http://... */
#include <grove.h>
#include <grove/http.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_nurls;
static char **g_urls;
static grove_http_client *g_client; /* shared by every request: one keep-alive pool */

/* The body size of one upstream URL, or -errno (-EPROTO for a status other than 200). */
static void *fetch_size(void *arg)
{
    grove_http_resp *r;
    int rc = grove_http_get(g_client, arg, &r);
    if (rc < 0)
        return (void *)(intptr_t)rc;
    ssize_t size = 0, n;
    char buf[16384];
    while ((n = grove_http_resp_read(r, buf, sizeof buf)) > 0)
        size += n;
    if (n == 0 && grove_http_resp_status(r) != 200)
        n = -EPROTO;
    grove_http_resp_close(r);
    return (void *)(intptr_t)(n < 0 ? n : size);
}

/* Every request: all upstreams at once, answered in the order given. */
static int handle(grove_http_req *req, void *arg)
{
    (void)arg;
    grove_pile *pile = grove_pile_new(NULL, (size_t)g_nurls);
    if (!pile)
        return -ENOMEM;
    for (int i = 0; i < g_nurls; i++)
        grove_pile_spawn(pile, fetch_size, g_urls[i]);
    char body[8192];
    size_t len = 0;
    void *r;
    for (int i = 0; i < g_nurls && grove_pile_next(pile, &r) == 0; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%zd %s\n", (ssize_t)(intptr_t)r, g_urls[i]);
    grove_pile_destroy(pile);
    return grove_http_respond(req, 200, "text/plain", body, len);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: grove-dispatch LISTEN_ADDR URL...\n");
        return 2;
    }
    g_urls = argv + 2;
    g_nurls = argc - 2;
    int lfd = grove_listen(argv[1], 1024);
    if (lfd < 0) {
        fprintf(stderr, "grove-dispatch: listen %s: %s\n", argv[1], grove_strerror(lfd));
        return 1;
    }
    g_client = grove_http_client_new(NULL);
    grove_http_server_opts o = {.handler = handle, .concurrency = 1000};
    grove_http_server *srv = g_client ? grove_http_server_start(lfd, &o) : NULL;
    if (!srv) {
        perror("grove-dispatch");
        return 1;
    }
    printf("grove-dispatch: listening on port %d\n", grove_sock_port(lfd));
    fflush(stdout);
    for (;;) /* until killed */
        grove_sleep(GROVE_SEC(3600));
}
