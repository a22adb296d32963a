/* base/token.h: the comma-separated token lists of HTTP fields (Connection, Upgrade,
 * Sec-WebSocket-Protocol...) and their characters, shared by grove-http and grove-ws.
 * Header-only. */
#ifndef GROVE_BASE_TOKEN_H
#define GROVE_BASE_TOKEN_H

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* A token character (RFC 9110 5.6.2 tchar). */
static inline bool grove__tchar(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Whether the comma-separated list holds token, compared case-insensitively; elements may
 * have whitespace around them and be empty (RFC 9110 5.6.1). A NULL list holds nothing. */
static inline bool grove__list_has_token(const char *list, const char *token)
{
    if (!list)
        return false;
    size_t tl = strlen(token);
    while (*list) {
        list += strspn(list, " \t,");
        size_t n = strcspn(list, ",");
        size_t e = n;
        while (e > 0 && (list[e - 1] == ' ' || list[e - 1] == '\t'))
            e--;
        if (e == tl && !strncasecmp(list, token, tl))
            return true;
        list += n;
    }
    return false;
}

#endif
