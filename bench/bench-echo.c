/* echo: the peers' echo server contract (../shared/peers/README.md): listen on
 * 127.0.0.1:PORT with backlog 4096, TCP_NODELAY, one green thread per connection,
 * echo until SIGTERM. Usage: grove-echo PORT */
#include <grove.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void echo(int fd, void *arg)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[4096];
    ssize_t n;
    while ((n = grove_read(fd, buf, sizeof buf)) > 0)
        if (grove_sendall(fd, buf, (size_t)n) < 0)
            break;
}

int main(int argc, char **argv)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "7000");
    signal(SIGPIPE, SIG_IGN);
    int lfd = grove_listen(addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "grove-echo: listen %s: %s\n", addr, grove_strerror(lfd));
        return 1;
    }
    grove_serve(lfd, echo, NULL, 0); /* SIGTERM's default action ends the process */
    return 0;
}
