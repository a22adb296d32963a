/* Cross-check builds only: the core, sync and pool tests resolve no names, so the
 * cross build leaves out c-ares (not installed for the target architecture). */
#include <errno.h>
#include <netdb.h>
int grove_getaddrinfo(const char *h, const char *s, const struct addrinfo *hi, struct addrinfo **r) { return -ENOSYS; }
void grove_freeaddrinfo(struct addrinfo *r) {}
