/* The smallest grove-serve app: every request gets "Hello, World!" (the peers' http
 * benchmark contract, so grove-serve can be measured beside the bare grove-http server).
 * Built as build/examples/libgrove-hello.so; see include/grove/app.h. */
#include <grove/app.h>

static int hello(grove_http_req *req, void *state)
{
    (void)state;
    return grove_http_respond(req, 200, "text/plain", "Hello, World!", 13);
}

__attribute__((visibility("default"))) const grove_app_def grove_app = {GROVE_APP_ABI, NULL, hello, NULL};
