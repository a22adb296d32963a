/* The method+path router: a list of routes tried in order (exact paths and prefixes). */
#include "grove/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct route {
    char *method; /* NULL = any */
    char *pattern;
    size_t plen; /* prefix length for prefix patterns, else 0 */
    grove_http_handler h;
    void *arg;
} route;

struct grove_http_router {
    route *r;
    size_t n, cap;
};

grove_http_router *grove_http_router_new(void)
{
    grove_http_router *r = calloc(1, sizeof *r);
    if (!r)
        errno = ENOMEM;
    return r;
}

int grove_http_route(grove_http_router *r, const char *method, const char *pattern, grove_http_handler h, void *arg)
{
    if (!r || !pattern || pattern[0] != '/' || !h)
        return -EINVAL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        route *nr = realloc(r->r, cap * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        r->r = nr;
        r->cap = cap;
    }
    route *rt = &r->r[r->n];
    rt->method = method && strcmp(method, "*") ? strdup(method) : NULL;
    rt->pattern = strdup(pattern);
    if (!rt->pattern || (method && strcmp(method, "*") && !rt->method)) {
        free(rt->method);
        free(rt->pattern);
        return -ENOMEM;
    }
    size_t l = strlen(pattern);
    rt->plen = l >= 2 && !strcmp(pattern + l - 2, "/*") ? l - 1 : 0;
    rt->h = h;
    rt->arg = arg;
    r->n++;
    return 0;
}

static int path_match(const route *rt, const char *path)
{
    if (rt->plen)
        return !strncmp(path, rt->pattern, rt->plen);
    return !strcmp(path, rt->pattern);
}

/* Adds a method to the Allow list, once. Methods are tokens, so one is in the list iff
 * ", name," is in ", list,". */
static void allow_add(char *allow, size_t *alen, size_t cap, const char *m)
{
    size_t ml = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)); p += ml)
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || !p[ml]))
            return;
    if (*alen + ml + 3 >= cap)
        return;
    if (*alen) {
        memcpy(allow + *alen, ", ", 2);
        *alen += 2;
    }
    memcpy(allow + *alen, m, ml + 1);
    *alen += ml;
}

int grove_http_router_handler(grove_http_req *req, void *router)
{
    grove_http_router *r = router;
    const char *path = grove_http_req_path(req), *method = grove_http_req_method(req);
    int head = !strcmp(method, "HEAD");
    const route *get = NULL; /* HEAD falls back to the first GET route (RFC 9110 9.3.2) */
    char allow[256];
    size_t alen = 0;
    allow[0] = 0;
    for (size_t i = 0; i < r->n; i++) {
        const route *rt = &r->r[i];
        if (!path_match(rt, path))
            continue;
        if (!rt->method || !strcmp(rt->method, method))
            return rt->h(req, rt->arg);
        if (head && !get && !strcmp(rt->method, "GET"))
            get = rt;
        allow_add(allow, &alen, sizeof allow, rt->method);
        if (!strcmp(rt->method, "GET"))
            allow_add(allow, &alen, sizeof allow, "HEAD");
    }
    if (get)
        return get->h(req, get->arg);
    if (alen) {
        int rc = grove_http_add_header(req, "Allow", allow);
        if (rc < 0)
            return rc;
        return grove_http_respond(req, 405, "text/plain", "405 Method Not Allowed\n", 23);
    }
    return grove_http_respond(req, 404, "text/plain", "404 Not Found\n", 14);
}

void grove_http_router_free(grove_http_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->r[i].method);
        free(r->r[i].pattern);
    }
    free(r->r);
    free(r);
}
