/* grove/app.h: what an application shared object exports for grove-serve
 * (docs/grove-serve.md).
 *
 * An app is a shared object (APP.so) exporting one grove_app_def, named grove_app unless
 * grove-serve is given APP.so:symbol. Each worker process of grove-serve dlopen()s the
 * app, calls init once, then serves every request of its listeners with handle (a
 * grove-http handler: include/grove/http.h) in green threads of its hub, and calls exit
 * when it stops. Build it with -fPIC -shared and link it against grove-http (and whatever
 * else it uses); examples/demo-app.c is a complete one.
 */
#ifndef GROVE_APP_H
#define GROVE_APP_H

#include "grove/http.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GROVE_APP_ABI 1

typedef struct grove_app_def {
    unsigned abi; /* GROVE_APP_ABI */
    /* Optional. Runs in each worker before it serves, on the worker's hub (it may switch).
     * *state (NULL before) becomes handle's arg. argc/argv: grove-serve's --app-arg values.
     * A negative return fails the worker's start (grove-serve reports it and exits). */
    int (*init)(void **state, int argc, char **argv);
    /* Required: a grove-http handler, called with the state init made. */
    grove_http_handler handle;
    /* Optional. Runs in each worker after its last request (graceful stops only). */
    void (*exit)(void *state);
} grove_app_def;

#ifdef __cplusplus
}
#endif
#endif
