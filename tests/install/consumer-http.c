/* Links against an installed grove-http: a server and its own client on loopback. */
#include <grove.h>
#include <grove/http.h>

#include <stdio.h>
#include <string.h>

static int hi(grove_http_req *req, void *arg) { return grove_http_respond(req, 200, NULL, "hi", 2); }

int main(void)
{
    int lfd = grove_listen("127.0.0.1:0", 16);
    grove_http_server_opts o = {.handler = hi};
    grove_http_server *srv = lfd >= 0 ? grove_http_server_start(lfd, &o) : NULL;
    grove_http_client *c = grove_http_client_new(NULL);
    if (!srv || !c)
        return 1;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", grove_sock_port(lfd));
    grove_http_resp *r;
    const void *body;
    if (grove_http_get(c, url, &r) != 0 || grove_http_resp_body(r, &body) != 2 || strcmp(body, "hi"))
        return 1;
    grove_http_resp_close(r);
    grove_http_client_free(c);
    grove_http_server_stop(srv, GROVE_SEC(1));
    puts("consumer-http ok");
    return 0;
}
