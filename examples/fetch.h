/* A minimal HTTP/1.0 GET for the crawl and dispatch examples (Grove's real HTTP client
 * comes with the HTTP layer). Straight-line blocking-style code: every call below is a
 * green switch point. */
#ifndef GROVE_EXAMPLE_FETCH_H
#define GROVE_EXAMPLE_FETCH_H

#include <grove.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fetches url ("http://host:port/path"); returns the body size, or -errno. If body is not
 * NULL, *body gets a malloc'ed copy (NUL-terminated). */
static ssize_t fetch(const char *url, char **body)
{
    if (strncmp(url, "http://", 7))
        return -EINVAL;
    const char *hostport = url + 7, *slash = strchr(hostport, '/');
    char addr[256];
    size_t hl = slash ? (size_t)(slash - hostport) : strlen(hostport);
    if (hl == 0 || hl >= sizeof addr)
        return -EINVAL;
    memcpy(addr, hostport, hl);
    addr[hl] = 0;
    const char *path = slash ? slash : "/";
    int fd = grove_connect(addr);
    if (fd < 0)
        return fd;
    grove_stream *s = grove_stream_new(fd, 0);
    if (!s) {
        grove_close(fd);
        return -ENOMEM;
    }
    char line[1024];
    snprintf(line, sizeof line, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
    ssize_t rc = grove_stream_write(s, line, strlen(line));
    if (rc >= 0)
        rc = grove_stream_flush(s);
    int status = 0;
    while (rc >= 0) {   /* status line and headers, up to the blank line */
        rc = grove_stream_readline(s, line, sizeof line);
        if (rc <= 0) {
            rc = rc ? rc : -EPROTO;
            break;
        }
        if (!status && sscanf(line, "HTTP/%*d.%*d %d", &status) != 1)
            rc = -EPROTO;
        if (!strcmp(line, "\r\n") || !strcmp(line, "\n"))
            break;
    }
    size_t size = 0, cap = 0;
    char *buf = NULL;
    while (rc >= 0) {   /* the body, to EOF */
        if (size + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
        }
        rc = grove_stream_read(s, buf + size, 4096);
        if (rc <= 0)
            break;
        size += (size_t)rc;
    }
    grove_stream_close(s);
    if (rc < 0 || status != 200) {
        free(buf);
        return rc < 0 ? rc : -EPROTO;
    }
    if (body) {
        if (!buf)
            buf = malloc(1);
        buf[size] = 0;
        *body = buf;
    } else {
        free(buf);
    }
    return (ssize_t)size;
}

#endif
