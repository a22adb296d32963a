/* grove/http.h: HTTP/1.1 server and client (eventlet.wsgi and the green urllib2).
 *
 * Link grove-http (CMake target grove::grove_http, pkg-config grove-http); this header is
 * not pulled in by <grove.h>. One green thread serves each connection: handlers are
 * plain straight-line C that may block (every Grove call is green), and they run inside
 * the connection's green thread, so grove_server-style graceful stop and kill apply.
 *
 * Parsing is llhttp 8.1.0 (Node.js's parser) in strict mode plus Grove's own checks
 * (docs/http.md lists them): bare CR or LF, obs-fold lines, NUL and control bytes in the
 * head, HTTP versions other than 1.0/1.1, duplicate or malformed Content-Length,
 * Content-Length with Transfer-Encoding, unknown or stacked transfer codings,
 * Transfer-Encoding on HTTP/1.0, malformed chunks, a request target whose form does not
 * suit the method (RFC 9112 3.2), a Host that is no uri-host[:port], and every size limit
 * below. A request
 * that fails them gets a 4xx (400, 413, 414, 431; 501 for an unknown coding; 505 for a
 * version) with "Connection: close", and the connection is closed: no byte after bad
 * framing is ever read as another request.
 *
 * Conventions as in the rest of Grove: >= 0 success, -errno failure; durations in
 * nanoseconds; "Switches" marks switch points, which honour timeout scopes and kill.
 * Objects belong to the hub (OS thread) that made them; none is thread-safe.
 */
#ifndef GROVE_HTTP_H
#define GROVE_HTTP_H

#include "grove/core.h"
#include "grove/io.h"
#include "grove/tls.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ------------------------------------------------------------------------------ */

/* Size limits and timeouts, shared by the server and the client. A zero field means its
 * default (given in brackets; they follow nginx's). The server enforces its read timeouts
 * with one sweeper per server rather than a timer per read, so they fire up to a quarter
 * of the smallest of them late (at least 5 ms, at most 1 s). */
typedef struct grove_http_limits {
    size_t max_request_line; /* [8 KiB] request line (or status line) -> 414 */
    size_t max_header_line;  /* [8 KiB] one header line -> 431 */
    size_t max_header_bytes; /* [32 KiB] the whole head, trailers included -> 431 */
    size_t max_headers;      /* [100] number of header lines (and trailers) -> 431 */
    uint64_t max_body;       /* [1 MiB] request body (server), response body read whole
                                * by grove_http_resp_body (client) -> 413 */
    size_t max_chunk_ext;    /* [1 KiB] chunk extensions of one chunk -> 400 */
    int64_t header_timeout;  /* [60 s] from a request's first byte to its last header */
    int64_t idle_timeout;    /* [75 s] keep-alive: waiting for a request's first byte */
    int64_t body_timeout;    /* [60 s] each body read must make progress within this */
    int64_t send_timeout;    /* [60 s] each write must make progress within this */
} grove_http_limits;

/* ---- Server ------------------------------------------------------------------------------ */

/* One request and its response (WSGI's environ plus start_response). Valid only inside the
 * handler call it was given to. */
typedef struct grove_http_req grove_http_req;

/* A handler: reads the request, writes the response. Returns >= 0 on success. A negative
 * return (or a kill or timeout inside it) is a failure: if no response was started the
 * server sends 500 and keeps the connection if it safely can; if one was started, the
 * connection is closed (the client sees a truncated response). A handler that returns
 * >= 0 without responding gets a 500 as well. */
typedef int (*grove_http_handler)(grove_http_req *req, void *arg);

#define GROVE_HTTP_LOG_COMMON 0   /* NCSA Common Log Format */
#define GROVE_HTTP_LOG_COMBINED 1 /* Common plus "Referer" "User-Agent" */

typedef struct grove_http_server_opts {
    grove_http_handler handler; /* required */
    void *arg;                  /* passed to handler */
    grove_http_limits limits;   /* zero fields: defaults */
    grove_tls_ctx *tls;         /* HTTPS when set (a grove_tls_server_ctx; not owned) */
    const char *server_header;  /* Server: value; NULL = "grove"; "" = no Server header */
    size_t concurrency;         /* connections served at once (0 = unlimited) */
    const char *access_log;     /* NULL = none; "-" = stderr; else a file path (appended) */
    int access_log_format;      /* GROVE_HTTP_LOG_COMMON or GROVE_HTTP_LOG_COMBINED */
} grove_http_server_opts;

typedef struct grove_http_server grove_http_server;

/* Starts serving listen_fd (from grove_listen; not owned) in new green threads: one accepts,
 * one per connection. opts is copied (strings too). Never switches.
 * Returns the server, or NULL with errno: EINVAL (no handler, bad log format), ENOMEM,
 * or the errno of opening the access log. On failure nothing was started. */
GROVE_API grove_http_server *grove_http_server_start(int listen_fd, const grove_http_server_opts *opts);

/* Graceful stop: stops accepting at once, closes idle keep-alive connections, lets requests
 * in flight finish (their responses say "Connection: close") for up to grace_ns, then kills
 * the rest; flushes and closes the access log; frees the server. Switches.
 * Returns the number of connections that had to be killed (>= 0), or -errno. */
GROVE_API int grove_http_server_stop(grove_http_server *srv, int64_t grace_ns);

/* Reopens the access log file by its path (log rotation: rename the file, then call this,
 * as nginx and gunicorn do on SIGUSR1). Lines gathered before the call are written to the
 * old file; the server switches to the new one at the log writer's next pass (within
 * 100 ms). Call it on the server's hub. Never switches. Returns 0 (also when the log is
 * stderr or off), or -errno of open (the old file stays in use). */
GROVE_API int grove_http_server_reopen_log(grove_http_server *srv);

/* Requests answered so far (any status), and connections open now. Never switch. */
GROVE_API uint64_t grove_http_server_requests(const grove_http_server *srv);
GROVE_API size_t grove_http_server_connections(const grove_http_server *srv);

/* -- The request (all strings NUL-terminated, owned by the request, valid during the
 *    handler call; none of these switches) -- */

/* Method ("GET", "POST", ...): any upper-case token, as sent (methods are case-sensitive;
 * one the handler does not know deserves 501 or 405). A method with a lower-case letter
 * ("get") is taken for a mangled request and answered 400, as nginx and gunicorn do. */
GROVE_API const char *grove_http_req_method(const grove_http_req *req);
/* Request target as sent ("/a/b?x=1"); path is the part before '?', query the part after
 * it ("" if none). Neither is percent-decoded. An absolute-form target
 * ("http://host:port/a?x=1") is split after its authority (path "/a"; an empty path is
 * "/", or "*" for OPTIONS), and its host replaces the Host header (RFC 9112 3.2.2). The
 * path of "OPTIONS *" is "*", that of CONNECT its "host:port". Other forms, other schemes
 * than http and https, userinfo and fragments ('#') are answered with 400. */
GROVE_API const char *grove_http_req_target(const grove_http_req *req);
GROVE_API const char *grove_http_req_path(const grove_http_req *req);
GROVE_API const char *grove_http_req_query(const grove_http_req *req);
/* 0 for HTTP/1.0, 1 for HTTP/1.1. */
GROVE_API int grove_http_req_version_minor(const grove_http_req *req);
/* A header's value, name matched case-insensitively; NULL if absent; the first value if
 * repeated; leading and trailing blanks removed. "Host" gives the authority of an
 * absolute-form target (see above). Trailers of a chunked body are not included (see
 * grove_http_req_trailer); iteration (below) shows the header lines as sent. */
GROVE_API const char *grove_http_req_header(const grove_http_req *req, const char *name);
/* Iteration: the number of header lines, and the i-th name and value (0 <= i < count).
 * Returns 0, or -EINVAL for a bad index. */
GROVE_API size_t grove_http_req_header_count(const grove_http_req *req);
GROVE_API int grove_http_req_header_at(const grove_http_req *req, size_t i, const char **name, const char **value);
/* A trailer of a chunked request body, after the body was read to its end; else NULL. */
GROVE_API const char *grove_http_req_trailer(const grove_http_req *req, const char *name);
/* The declared body length: Content-Length, 0 without a body, -1 for chunked. */
GROVE_API int64_t grove_http_req_content_length(const grove_http_req *req);
/* The client's address (copied into *sa, at most *salen bytes; *salen gets the real size).
 * Returns 0 or -EINVAL. */
GROVE_API int grove_http_req_peer(const grove_http_req *req, struct sockaddr *sa, socklen_t *salen);
/* The client's address as text ("127.0.0.1", "::1", "unix"). */
GROVE_API const char *grove_http_req_peer_str(const grove_http_req *req);

/* Reads up to n bytes of the request body (de-chunked). The first read of a request that
 * carried "Expect: 100-continue" sends "100 Continue" first (never before: a handler that
 * answers without reading, e.g. 413 or 401, saves the client the upload). Switches.
 * Returns the count; 0 at the end of the body; -EMSGSIZE once the body exceeds
 * limits.max_body (the server answers 413 if no response was started); -EPROTO for bad
 * chunked framing (the server answers 400); -ETIMEDOUT (body_timeout, or a scope);
 * -ECONNRESET / -EPIPE when the client went away; -ECANCELED. */
GROVE_API ssize_t grove_http_req_read(grove_http_req *req, void *buf, size_t n);
/* Reads the whole body (at most limits.max_body bytes) into memory owned by the request
 * (valid until the handler returns) and stores it in *data (NUL-terminated, so text can
 * be used as a string). Switches. Returns its length, or the errors of grove_http_req_read.
 * Calling it again returns the same body. */
GROVE_API ssize_t grove_http_req_body(grove_http_req *req, const void **data);

/* -- The response -- */

/* Adds a response header for the next grove_http_respond / grove_http_start. Date, Server,
 * Content-Length, Transfer-Encoding and Connection are the server's: adding them is
 * -EINVAL. Names must be tokens and values free of CR, LF and NUL (-EINVAL). The strings
 * are copied. Never switches. Returns 0, -EINVAL, -EALREADY (response started), -ENOMEM. */
GROVE_API int grove_http_add_header(grove_http_req *req, const char *name, const char *value);
/* Sends a whole response: status (100..999 except 1xx), headers added so far, an optional
 * Content-Type (NULL for none), Content-Length and the body. A HEAD request gets the same
 * head without the body; a 204, a 304 and a 2xx to CONNECT get neither Content-Length nor
 * the body (RFC 9110 8.6, 9.3.6). Switches. Returns 0; -EINVAL (bad status or type); -EALREADY (already started);
 * write errors (-EPIPE, -ECONNRESET, -ETIMEDOUT...). */
GROVE_API int grove_http_respond(grove_http_req *req, int status, const char *content_type, const void *body,
                                 size_t len);
/* Starts a streamed response: content_length >= 0 announces the length (then exactly that
 * many bytes must be written); -1 streams it chunked (HTTP/1.1) or delimited by closing the
 * connection (HTTP/1.0). A 204, a 304 and a 2xx to CONNECT never have content: their head
 * carries neither Content-Length nor Transfer-Encoding, and writes are counted and dropped
 * as for HEAD. Headers are sent with the first write or at grove_http_finish.
 * Never switches. Returns 0, -EINVAL, -EALREADY. */
GROVE_API int grove_http_start(grove_http_req *req, int status, const char *content_type, int64_t content_length);
/* Writes body bytes of a started response (as one chunk when chunked). For HEAD they are
 * counted and dropped. Switches. Returns n; -EINVAL (not started, or more than the
 * announced length); write errors. */
GROVE_API ssize_t grove_http_write(grove_http_req *req, const void *buf, size_t n);
/* Adds a trailer to a chunked response (before grove_http_finish). Same rules as
 * grove_http_add_header. Returns 0, -EINVAL (not chunked, bad name/value), -ENOMEM. */
GROVE_API int grove_http_add_trailer(grove_http_req *req, const char *name, const char *value);
/* Ends a started response (the last chunk and trailers when chunked) and flushes it.
 * The server calls it if the handler did not. Switches. Returns 0; -EPROTO if fewer bytes
 * than the announced length were written (the connection will be closed); write errors. */
GROVE_API int grove_http_finish(grove_http_req *req);
/* Sends len bytes of the regular file fd from offset off as a whole response with
 * Content-Length (sendfile(2) on plain connections; read and write over TLS). fd stays the
 * caller's. Switches. Returns 0; -EALREADY; -EINVAL; -EIO/-errno reading the file (the
 * connection will be closed); write errors. */
GROVE_API int grove_http_sendfile(grove_http_req *req, int status, const char *content_type, int fd, off_t off,
                                  size_t len);
/* Whether a response was started (headers queued or sent). */
GROVE_API int grove_http_started(const grove_http_req *req);

/* -- Protocol upgrades (the seam WebSocket is built on) -- */

/* Takes the connection over from the server, from inside a handler. Returns its buffered
 * stream: reading it yields first the bytes the client already sent after the request
 * head, then the transport's (plain or TLS). From then on the server writes no response
 * and never reads or writes the connection again. The stream stays owned by the server:
 * use it only until the handler returns and do not close it; after the handler returns
 * the server flushes and frees it and closes the connection. Never switches.
 * Returns NULL with errno EINVAL if a response was already started or the request has a
 * body not yet read to its end; ENOMEM. A second call returns the same stream. */
GROVE_API grove_stream *grove_http_take_stream(grove_http_req *req);

/* -- Router -- */

/* Routes by method and path. Patterns are exact paths ("/users") or prefixes: a pattern
 * ending in slash-star ("/static/" plus '*') matches "/static/" and everything under it.
 * Method NULL or "*" matches any method. The first matching route in the order added wins;
 * a HEAD request that no route takes goes to the first matching GET route (the server drops
 * the body). A path that no route matches gets 404; a path matched only for other methods
 * gets 405 with Allow (which names HEAD where GET is allowed). */
typedef struct grove_http_router grove_http_router;

/* Returns a router or NULL (ENOMEM). Never switches. */
GROVE_API grove_http_router *grove_http_router_new(void);
/* Adds a route (method and pattern are copied). Returns 0, -EINVAL, -ENOMEM. */
GROVE_API int grove_http_route(grove_http_router *r, const char *method, const char *pattern, grove_http_handler h,
                               void *arg);
/* A grove_http_handler that dispatches through the router passed as arg. */
GROVE_API int grove_http_router_handler(grove_http_req *req, void *router);
GROVE_API void grove_http_router_free(grove_http_router *r);

/* ---- Client (the green urllib2) ---------------------------------------------------------- */

typedef struct grove_http_client_opts {
    size_t max_idle_per_host; /* [4] keep-alive connections kept per scheme+host+port */
    int64_t idle_keep;        /* [30 s] an idle connection older than this is not reused */
    int max_redirects;        /* 0: redirects are returned as they are; N: follow up to N */
    grove_tls_ctx *tls;       /* for https:// (not owned); NULL: a verifying default one */
    grove_http_limits limits; /* zero fields: defaults (max_body bounds grove_http_resp_body) */
    const char *user_agent;   /* NULL = "grove"; "" = none */
} grove_http_client_opts;

typedef struct grove_http_client grove_http_client;
typedef struct grove_http_resp grove_http_resp;

/* A client with its connection pool (opts copied; NULL = all defaults). Never switches.
 * Returns NULL with errno ENOMEM / EINVAL. */
GROVE_API grove_http_client *grove_http_client_new(const grove_http_client_opts *opts);
/* Closes the pooled connections and frees the client. Responses must be closed first. */
GROVE_API void grove_http_client_free(grove_http_client *c);

/* A request to send. */
typedef struct grove_http_request {
    const char *method;         /* NULL = "GET" */
    const char *url;            /* "http://host[:port]/path?q" or "https://..." */
    const char *const *headers; /* NULL or NULL-terminated {"Name", "value", ...} pairs */
    const void *body;           /* body from memory (body_len bytes) ... */
    size_t body_len;
    /* ... or from a callback: returns bytes written into buf (<= n), 0 at the end, or
     * -errno to abort. body_cb_len >= 0 sends Content-Length, -1 sends it chunked. */
    ssize_t (*body_cb)(void *arg, void *buf, size_t n);
    void *body_cb_arg;
    int64_t body_cb_len;
} grove_http_request;

/* Sends a request and reads the response head; the body is then read with
 * grove_http_resp_read or grove_http_resp_body. An empty URL path is sent as "/"; the
 * fragment is never sent; userinfo ("http://user@host/") is refused (-EINVAL: RFC 9110
 * 4.2.4 calls it a likely phishing attempt; put credentials in an Authorization header).
 * IPv6 literals ("http://[::1]:8080/") are accepted (TLS verifies the address).
 * Interim 1xx responses are skipped; a 101 is returned only to a request that carried an
 * Upgrade header (else -EPROTO). A response to HEAD, and any 1xx, 204 or 304 response, has
 * no body whatever its Content-Length or Transfer-Encoding say.
 * Connections: a pooled keep-alive connection to the same scheme, host and port is reused
 * when one is idle. If a reused connection turns out to be closed before any response
 * byte, an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) without a callback
 * body is sent once more on a fresh connection; any other request is never sent twice
 * (RFC 9110 9.2.2): before it goes out on a pooled connection, that connection is checked
 * without blocking (one recv MSG_PEEK) and replaced if the server closed it, and a failure
 * after it was sent is returned (-ECONNRESET). A request header "Connection: close" makes
 * its connection the last use (RFC 9112 9.6). A response that comes while the request is
 * still being sent (a 413 for a large upload, the server no longer reading) is returned
 * even though sending failed (-EPIPE/-ECONNRESET), and its connection is not reused.
 * Redirects (301, 302, 303, 307, 308) are followed up to opts.max_redirects: 303 (but for
 * HEAD), and 301/302 after POST, become GET without body and without the content fields
 * of the request (Content-*, Digest, Last-Modified; RFC 9110 15.4); 307/308 and the other
 * 301/302 keep method and body, except a callback body, which cannot be sent twice: that
 * redirect is returned as the response instead. Location is resolved against the
 * request's URL (RFC 3986 5.2, dot segments removed); a Location with a scheme other than
 * http and https is -EPROTO. Authorization, Cookie and Proxy-Authorization headers are
 * sent only to the origin (scheme, host, port) of rq->url: a hop to another origin goes
 * without them (a later hop back to it sends them again). A redirect from https to http
 * is followed (as curl and requests do) and counts as another origin; keep max_redirects
 * at 0 and check the Location yourself to refuse downgrades.
 * Bound it with a timeout scope (and limits.header_timeout applies to the head).
 * Switches. Returns 0 and *out; -EINVAL (bad URL or request); -ENOENT (name);
 * -ECONNREFUSED; -EKEYREJECTED (TLS verification); -EPROTO (malformed response: the same
 * strict checks as the server's, and a status line that is not "HTTP/1.x DDD[ reason]";
 * or an unusable Location); -EMSGSIZE (a head limit); -ELOOP (too many redirects);
 * -ECONNRESET (the connection closed before the response head ended); -ETIMEDOUT;
 * -ECANCELED; other -errno. */
GROVE_API int grove_http_client_send(grove_http_client *c, const grove_http_request *rq, grove_http_resp **out);
/* grove_http_client_send of a GET without headers or body. */
GROVE_API int grove_http_get(grove_http_client *c, const char *url, grove_http_resp **out);

/* Status code, HTTP minor version, a header (case-insensitive, first value, NULL if
 * absent), header iteration, and trailers (after the body was read to its end). */
GROVE_API int grove_http_resp_status(const grove_http_resp *r);
GROVE_API const char *grove_http_resp_header(const grove_http_resp *r, const char *name);
GROVE_API size_t grove_http_resp_header_count(const grove_http_resp *r);
GROVE_API int grove_http_resp_header_at(const grove_http_resp *r, size_t i, const char **name, const char **value);
GROVE_API const char *grove_http_resp_trailer(const grove_http_resp *r, const char *name);
/* The URL finally fetched (after redirects). */
GROVE_API const char *grove_http_resp_url(const grove_http_resp *r);
/* Reads up to n body bytes (de-chunked). A body without Content-Length or chunked coding
 * ends when the server closes the connection (which is then not reused). Switches.
 * Returns the count, 0 at the end, or -EPROTO (bad framing), -ECONNRESET (the connection
 * closed before the announced length or the last chunk: a truncated body is never a
 * short success), -ETIMEDOUT (body_timeout or a scope), -ECANCELED. */
GROVE_API ssize_t grove_http_resp_read(grove_http_resp *r, void *buf, size_t n);
/* Reads the whole body (at most limits.max_body bytes, else -EMSGSIZE) into memory owned
 * by r (NUL-terminated). Switches. Returns its length or the errors of resp_read. */
GROVE_API ssize_t grove_http_resp_body(grove_http_resp *r, const void **data);
/* Frees the response. Its connection goes back to the pool if the body was read to its
 * end (or its unread rest is already buffered), nothing follows it, and both sides allow
 * keep-alive (HTTP/1.0 only with "Connection: keep-alive"); otherwise it is closed, so
 * no leftover byte is ever read as the next response. Switches (to close TLS). */
GROVE_API void grove_http_resp_close(grove_http_resp *r);

/* Idle pooled connections now (all hosts). Never switches. */
GROVE_API size_t grove_http_client_idle(const grove_http_client *c);

#ifdef __cplusplus
}
#endif
#endif
