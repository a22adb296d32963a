/* The client pattern: fetch many URLs through a bounded pool of green threads and print
 * their sizes in input order (eventlet's webcrawler example).
 *   grove-crawl [POOL] < urls.txt     (one http://host:port/path per line; POOL = 200)
 * Prints "SIZE URL" per line, or "ERROR <reason> URL". */
#include <grove.h>
#include <grove/http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One client (and its keep-alive pool) for every green thread of the crawl. */
static grove_http_client *g_client;

/* The body size of url (read streamed, never held whole), or -errno; a status other than
 * 200 is -EPROTO. Every call here is a green switch point. */
static ssize_t fetch_size(const char *url)
{
    grove_http_resp *r;
    int rc = grove_http_get(g_client, url, &r);
    if (rc < 0)
        return rc;
    ssize_t size = 0, n;
    char buf[16384];
    while ((n = grove_http_resp_read(r, buf, sizeof buf)) > 0)
        size += n;
    if (n == 0 && grove_http_resp_status(r) != 200)
        n = -EPROTO;
    grove_http_resp_close(r);
    return n < 0 ? n : size;
}

typedef struct job {
    char *url;
    ssize_t size;
} job;

/* The imap's generator: the next URL from stdin (read through the hub). */
static grove_stream *g_in;
static int next_url(void *ctx, void **arg)
{
    char line[4096];
    for (;;) {
        ssize_t n = grove_stream_readline(g_in, line, sizeof line);
        if (n <= 0)
            return n == 0 ? 0 : (int)n;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        job *j = malloc(sizeof *j);
        if (!j || !(j->url = strdup(line))) {
            free(j);
            return -ENOMEM;
        }
        *arg = j;
        return 1;
    }
}

static void *crawl_one(void *arg)
{
    job *j = arg;
    j->size = fetch_size(j->url);
    return j;
}

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? (size_t)atol(argv[1]) : 200;
    grove_http_client_opts copts = {.max_idle_per_host = 64};
    g_client = grove_http_client_new(&copts);
    grove_pool *pool = grove_pool_new(size ? size : 200);
    g_in = grove_stream_new(0, 0);
    grove_imap *it = grove_pool_imap(pool, crawl_one, next_url, NULL);
    if (!g_client || !pool || !g_in || !it) {
        perror("grove-crawl");
        return 1;
    }
    void *r;
    int rc, failed = 0;
    while ((rc = grove_imap_next(it, &r)) == 1) {
        job *j = r;
        if (j->size >= 0)
            printf("%zd %s\n", j->size, j->url);
        else
            printf("ERROR %s %s\n", grove_strerror((int)j->size), j->url), failed++;
        free(j->url);
        free(j);
    }
    grove_imap_close(it);
    grove_pool_destroy(pool);
    grove_http_client_free(g_client);
    if (rc < 0)
        fprintf(stderr, "grove-crawl: reading URLs: %s\n", grove_strerror(rc));
    return rc < 0 || failed ? 1 : 0;
}
