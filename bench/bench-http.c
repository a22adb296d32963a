/* grove-http PORT: the peers' http contract (../shared/peers/README.md) on grove-http:
 * every GET gets 200 "Hello, World!" (Content-Length 13), keep-alive on with the default
 * limits and checks (idle timeout 75 s), one green thread per connection, on
 * 127.0.0.1:PORT until SIGTERM. Other methods get 405. */
#include <grove.h>
#include <grove/http.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hello(grove_http_req *req, void *arg)
{
    (void)arg;
    const char *m = grove_http_req_method(req);
    if (m[0] != 'G' || strcmp(m, "GET"))
        return grove_http_respond(req, 405, "text/plain", "", 0);
    return grove_http_respond(req, 200, "text/plain", "Hello, World!", 13);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", atoi(argv[1]));
    int lfd = grove_listen(addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "listen %s: %s\n", addr, grove_strerror(lfd));
        return 1;
    }
    grove_http_server_opts o = {.handler = hello};
    grove_http_server *srv = grove_http_server_start(lfd, &o);
    if (!srv) {
        perror("grove_http_server_start");
        return 1;
    }
    for (;;)
        grove_sleep(GROVE_SEC(3600));
}
