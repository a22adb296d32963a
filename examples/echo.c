/* The server pattern: an echo server with one green thread per client.
 *   grove-echo [ADDR]     (default 127.0.0.1:6000; "unix:/path" works too)
 * Each connection's handler is plain blocking-style code; grove_serve runs one green
 * thread per connection and closes the connection when the handler returns. */
#include <grove.h>

#include <signal.h>
#include <stdio.h>

static void echo(int fd, void *arg)
{
    char buf[16384];
    ssize_t n;
    while ((n = grove_read(fd, buf, sizeof buf)) > 0)
        if (grove_sendall(fd, buf, (size_t)n) < 0)
            break;
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:6000";
    int lfd = grove_listen(addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "grove-echo: cannot listen on %s: %s\n", addr, grove_strerror(lfd));
        return 1;
    }
    printf("grove-echo: listening on %s (port %d)\n", addr, grove_sock_port(lfd));
    fflush(stdout);
    int rc = grove_serve(lfd, echo, NULL, 0);
    fprintf(stderr, "grove-echo: stopped: %s\n", grove_strerror(rc));
    return 0;
}
