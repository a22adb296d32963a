/* The demo app grove-serve runs by default (and builds as build/examples/libgrove-demo.so,
 * the example app the tests load): a page showing Grove at work.
 *
 *   GET /          the index page
 *   GET /hello     "Hello, World!"
 *   GET /chat      a chat page; its WebSocket (/ws) joins every tab of this worker
 *   GET /fetch     the dispatch pattern: ?url=...&url=... fetched concurrently with a pile
 *                  and the HTTP client, bounded by a timeout (default: this server's own
 *                  /hello and /version)
 *   GET /version   which build of the app answers (DEMO_VERSION), for reload tests
 *   GET /sleep?ms=N  answers after N ms (a request that is still in flight)
 *   GET /block     (only with --app-arg test) blocks the worker's OS thread for good: the
 *                  heartbeat catches it
 * --app-arg fail-init / crash-init make init fail or crash (grove-serve's tests).
 *
 * An app exports one grove_app_def (include/grove/app.h). Build: cc -fPIC -shared. */
#include <grove.h>
#include <grove/app.h>
#include <grove/http.h>
#include <grove/ws.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DEMO_VERSION
#define DEMO_VERSION "1"
#endif

typedef struct member {
    struct member *next;
    grove_ws *ws;
} member;

typedef struct demo {
    grove_http_router *router;
    grove_http_client *client;
    member *room; /* the chat room of this worker */
    int test_mode;
} demo;

static int page(grove_http_req *req, const char *html)
{
    return grove_http_respond(req, 200, "text/html; charset=utf-8", html, strlen(html));
}

static int h_index(grove_http_req *req, void *arg)
{
    const char *status = getenv("GROVE_SERVE_STATUS_URL");
    char html[2048];
    snprintf(html, sizeof html,
             "<!doctype html><html><head><meta charset=utf-8><title>Grove</title>"
             "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}</style></head><body>"
             "<h1>Grove</h1><p>Green threads for C: this page was served by one green thread of a "
             "grove-serve worker (pid %d).</p><ul>"
             "<li><a href=\"/hello\">/hello</a>: the smallest handler</li>"
             "<li><a href=\"/chat\">/chat</a>: a WebSocket chat (open it in several tabs)</li>"
             "<li><a href=\"/fetch\">/fetch</a>: several URLs fetched at once, with a timeout</li>"
             "<li><a href=\"%s\">status</a>: the workers of this grove-serve</li>"
             "</ul><p>app version " DEMO_VERSION "</p></body></html>",
             (int)getpid(), status ? status : "/status");
    return page(req, html);
}

static int h_hello(grove_http_req *req, void *arg)
{
    return grove_http_respond(req, 200, "text/plain", "Hello, World!", 13);
}

static int h_version(grove_http_req *req, void *arg)
{
    return grove_http_respond(req, 200, "text/plain", DEMO_VERSION, strlen(DEMO_VERSION));
}

static int h_sleep(grove_http_req *req, void *arg)
{
    const char *q = grove_http_req_query(req);
    const char *ms = q ? strstr(q, "ms=") : NULL;
    int rc = grove_sleep(GROVE_MS(ms ? atol(ms + 3) : 100));
    if (rc < 0)
        return rc;
    return grove_http_respond(req, 200, "text/plain", "slept", 5);
}

static int h_block(grove_http_req *req, void *arg)
{
    demo *d = arg;
    if (!d->test_mode)
        return grove_http_respond(req, 404, "text/plain", "not found", 9);
    for (;;)
        pause(); /* a handler that blocks the OS thread: what the heartbeat is for */
}

static const char CHAT[] =
    "<!doctype html><html><head><meta charset=utf-8><title>Grove chat</title></head><body>"
    "<h1>Chat</h1><div id=log style=\"height:20em;overflow:auto;border:1px solid #ccc\"></div>"
    "<form id=f><input id=m autocomplete=off size=40><button>send</button></form><script>"
    "var ws=new WebSocket((location.protocol=='https:'?'wss://':'ws://')+location.host+'/ws');"
    "var log=document.getElementById('log');"
    "var auto=new URLSearchParams(location.search).get('auto');"
    "ws.onmessage=function(e){var p=document.createElement('p');p.textContent=e.data;log.appendChild(p);"
    "document.title='chat '+log.childNodes.length;"
    /* ?auto=NAME (the tests' browser tabs): greet, and answer pings so the room sees them */
    "if(auto&&e.data.indexOf('ping')==0)ws.send(auto+' got: '+e.data);};"
    "ws.onopen=function(){document.body.setAttribute('data-open','1');"
    "if(auto)ws.send('hello from '+auto);};"
    "document.getElementById('f').onsubmit=function(e){e.preventDefault();"
    "var m=document.getElementById('m');ws.send(m.value);m.value='';};"
    "</script></body></html>";

static int h_chat(grove_http_req *req, void *arg) { return page(req, CHAT); }

static int h_ws(grove_http_req *req, void *arg)
{
    demo *d = arg;
    grove_ws *ws;
    int rc = grove_ws_upgrade(req, NULL, &ws);
    if (rc < 0)
        return rc;
    member me = {d->room, ws};
    d->room = &me;
    grove_ws_msg m;
    while (grove_ws_recv(ws, &m) >= 0 && m.type != GROVE_WS_CLOSE) {
        if (m.type != GROVE_WS_TEXT)
            continue;
        /* Everyone in the room, this tab included. A copy: m's data lives in ws's buffers. */
        char *copy = malloc(m.len ? m.len : 1);
        if (!copy)
            break;
        memcpy(copy, m.data, m.len);
        for (member *o = d->room; o; o = o->next)
            grove_ws_send(o->ws, GROVE_WS_TEXT, copy, m.len);
        free(copy);
    }
    for (member **pp = &d->room; *pp; pp = &(*pp)->next)
        if (*pp == &me) {
            *pp = me.next;
            break;
        }
    grove_ws_close(ws, 1000, NULL);
    grove_ws_free(ws);
    return 0;
}

typedef struct fetch_job {
    demo *d;
    char url[512];
    int status;
    long bytes;
    double ms;
} fetch_job;

static void *fetch_one(void *arg)
{
    fetch_job *j = arg;
    int64_t t0 = grove_now();
    grove_http_resp *r;
    int rc = grove_http_get(j->d->client, j->url, &r);
    if (rc == 0) {
        const void *body;
        ssize_t n = grove_http_resp_body(r, &body);
        j->status = grove_http_resp_status(r);
        j->bytes = n;
        grove_http_resp_close(r);
    } else {
        j->status = rc;
    }
    j->ms = (double)(grove_now() - t0) / 1e6;
    return j;
}

static void url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = 0;
}

static int h_fetch(grove_http_req *req, void *arg)
{
    demo *d = arg;
    fetch_job jobs[8];
    int n = 0;
    const char *q = grove_http_req_query(req);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", q ? q : "");
    for (char *tok = strtok(buf, "&"); tok && n < 8; tok = strtok(NULL, "&"))
        if (!strncmp(tok, "url=", 4)) {
            url_decode(tok + 4);
            snprintf(jobs[n++].url, sizeof jobs[0].url, "%s", tok + 4);
        }
    if (n == 0) { /* default: this server's own pages */
        const char *host = grove_http_req_header(req, "Host");
        snprintf(jobs[0].url, sizeof jobs[0].url, "http://%s/hello", host ? host : "127.0.0.1");
        snprintf(jobs[1].url, sizeof jobs[1].url, "http://%s/version", host ? host : "127.0.0.1");
        n = 2;
    }
    grove_pool *pool = grove_pool_new((size_t)n);
    grove_pile *pile = pool ? grove_pile_new(pool, (size_t)n) : NULL;
    if (!pile) {
        grove_pool_destroy(pool);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        jobs[i].d = d;
        jobs[i].status = -ETIMEDOUT;
        jobs[i].bytes = 0;
        jobs[i].ms = 0;
    }
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    for (int i = 0; i < n; i++)
        grove_pile_spawn(pile, fetch_one, &jobs[i]);
    void *r;
    while (grove_pile_next(pile, &r) > 0) {
    }
    grove_timeout_end(&to);
    grove_pile_destroy(pile);
    grove_pool_destroy(pool);
    char out[8192];
    size_t o = (size_t)snprintf(out, sizeof out, "fetched %d URLs concurrently (timeout 5 s):\n", n);
    for (int i = 0; i < n && o < sizeof out; i++) {
        if (jobs[i].status >= 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s -> %d, %ld bytes, %.1f ms\n", jobs[i].url,
                                  jobs[i].status, jobs[i].bytes, jobs[i].ms);
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "%s -> error: %s\n", jobs[i].url,
                                  grove_strerror(jobs[i].status));
    }
    return grove_http_respond(req, 200, "text/plain", out, o < sizeof out ? o : sizeof out - 1);
}

static int demo_init(void **state, int argc, char **argv)
{
    demo *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "test"))
            d->test_mode = 1;
        /* For grove-serve's tests of an app whose start fails: */
        if (!strcmp(argv[i], "fail-init")) {
            free(d);
            return -EIO;
        }
        if (!strcmp(argv[i], "crash-init"))
            abort();
    }
    d->router = grove_http_router_new();
    d->client = grove_http_client_new(NULL);
    if (!d->router || !d->client) {
        grove_http_router_free(d->router);
        grove_http_client_free(d->client);
        free(d);
        return -ENOMEM;
    }
    grove_http_route(d->router, "GET", "/", h_index, d);
    grove_http_route(d->router, "GET", "/hello", h_hello, d);
    grove_http_route(d->router, "GET", "/version", h_version, d);
    grove_http_route(d->router, "GET", "/sleep", h_sleep, d);
    grove_http_route(d->router, "GET", "/block", h_block, d);
    grove_http_route(d->router, "GET", "/chat", h_chat, d);
    grove_http_route(d->router, "GET", "/ws", h_ws, d);
    grove_http_route(d->router, "GET", "/fetch", h_fetch, d);
    *state = d;
    return 0;
}

static int demo_handle(grove_http_req *req, void *state)
{
    demo *d = state;
    return grove_http_router_handler(req, d->router);
}

static void demo_exit(void *state)
{
    demo *d = state;
    grove_http_router_free(d->router);
    grove_http_client_free(d->client);
    free(d);
}

#ifdef GROVE_DEMO_BUILTIN
const grove_app_def grove_builtin_demo_app = {GROVE_APP_ABI, demo_init, demo_handle, demo_exit};
#else
__attribute__((visibility("default")))
const grove_app_def grove_app = {GROVE_APP_ABI, demo_init, demo_handle, demo_exit};
#endif
