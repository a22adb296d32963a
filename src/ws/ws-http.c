/* grove_ws_upgrade: the WebSocket upgrade from an HTTP handler. Built only with the HTTP
 * layer (target grove_http, include/grove/http.h); see src/ws/CMakeLists.txt.
 * The handler's request gives the header values; the connection's buffered stream is
 * taken from the HTTP server, which then only closes it after the handler returns. */
#include <grove/http.h>
#include <grove/ws.h>

#include <errno.h>

int grove_ws_upgrade(grove_http_req *req, const grove_ws_opts *opts, grove_ws **out)
{
    if (!req || !out)
        return -EINVAL;
    grove_ws_request r = {
        .method = NULL, /* the server's router decides which methods reach the handler */
        .upgrade = grove_http_req_header(req, "Upgrade"),
        .connection = grove_http_req_header(req, "Connection"),
        .key = grove_http_req_header(req, "Sec-WebSocket-Key"),
        .version = grove_http_req_header(req, "Sec-WebSocket-Version"),
        .extensions = grove_http_req_header(req, "Sec-WebSocket-Extensions"),
        .protocol = grove_http_req_header(req, "Sec-WebSocket-Protocol"),
    };
    grove_stream *s = grove_http_take_stream(req);
    if (!s)
        return -EINVAL;
    /* a refused request gets its 400/426 here; the server closes the connection */
    return grove_ws_accept(s, &r, opts, out);
}
