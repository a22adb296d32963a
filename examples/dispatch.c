/* The dispatch pattern (eventlet's feed scraper): a server that is also a client. For
 * every request it fetches all upstream URLs concurrently with a pile and answers with
 * their combined result, one "SIZE URL" line per upstream, in the order given.
 *   grove-dispatch LISTEN_ADDR URL...     e.g. grove-dispatch 127.0.0.1:8090 http://... */
#include "fetch.h"

static int g_nurls;
static char **g_urls;

static void *fetch_size(void *arg) { return (void *)(intptr_t)fetch(arg, NULL); }

static void handle(int fd, void *arg)
{
    grove_stream *s = grove_stream_wrap(fd, 0);   /* grove_serve closes fd */
    if (!s)
        return;
    char line[4096];
    ssize_t n;
    while ((n = grove_stream_readline(s, line, sizeof line)) > 0)   /* skip the request */
        if (!strcmp(line, "\r\n") || !strcmp(line, "\n"))
            break;
    grove_pile *pile = grove_pile_new(NULL, (size_t)g_nurls);
    for (int i = 0; pile && i < g_nurls; i++)
        grove_pile_spawn(pile, fetch_size, g_urls[i]);
    char body[8192];
    size_t len = 0;
    void *r;
    for (int i = 0; pile && i < g_nurls && grove_pile_next(pile, &r) == 0; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%zd %s\n", (ssize_t)(intptr_t)r, g_urls[i]);
    grove_pile_destroy(pile);
    int hl = snprintf(line, sizeof line, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
    grove_stream_write(s, line, (size_t)hl);
    grove_stream_write(s, body, len);
    grove_stream_flush(s);
    grove_stream_close(s);
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
    printf("grove-dispatch: listening on port %d\n", grove_sock_port(lfd));
    fflush(stdout);
    grove_serve(lfd, handle, NULL, 1000);
    return 0;
}
