/* Name resolution internals shared by dns.c and the resolver it was built with
 * (dns-ares.c or dns-libc.c). */
#ifndef GROVE_IO_DNS_H
#define GROVE_IO_DNS_H

#include "core/thread.h"

#include "grove/io.h"

#include <netdb.h>

/* One node of Grove's result lists (one allocation holding its address). NULL if out of
 * memory or len is too large. */
GROVE_HIDDEN struct addrinfo *grove__dns_node(int family, int socktype, int protocol, const struct sockaddr *sa,
                                              socklen_t len);
/* Copies a libc list into a Grove list (*res), with the canonical name if canon. 0 or -ENOMEM. */
GROVE_HIDDEN int grove__dns_copy(const struct addrinfo *r, struct addrinfo **res, int canon);
/* libc's getaddrinfo, never the patch layer's. Returns an EAI_* code. */
GROVE_HIDDEN int grove__libc_getaddrinfo(const char *host, const char *service, const struct addrinfo *h,
                                         struct addrinfo **r);
/* The resolver proper, for a host that is not numeric: what grove_getaddrinfo returns.
 * Switches. */
GROVE_HIDDEN int grove__dns_resolve(const char *host, const char *service, const struct addrinfo *hints,
                                    struct addrinfo **res);

#endif
