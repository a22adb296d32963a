/* grove/zmq.h: green ZeroMQ over libzmq (library grove-zmq: pkg-config grove-zmq, CMake
 * grove::grove_zmq).
 *
 * A grove_zmq wraps a libzmq socket so that send and receive wait cooperatively: the
 * green thread parks and the hub keeps running while the socket cannot take or give a
 * message. libzmq's ZMQ_FD is edge-triggered and only ever signals "read ZMQ_EVENTS
 * again", so Grove re-reads ZMQ_EVENTS after every send and receive, wakes the waiters of
 * whichever direction became ready (also the other direction's), and waits on ZMQ_FD only
 * when ZMQ_EVENTS says nothing is ready - no lost wake-up when several messages arrive at
 * once, no busy loop when ZMQ_FD is readable with no event. Several green threads may
 * wait on one socket in one direction; they are served first come, first served.
 * Multipart messages are sent and received whole (grove_zmq_send_parts,
 * grove_zmq_recv_parts), never interleaved with another green thread's parts.
 *
 * Every wait honours the caller's timeout scopes (-ETIMEDOUT) and kill (-ECANCELED); a
 * message is then neither half sent nor half received. Errors are -errno as libzmq sets
 * errno (-EFSM for a REQ socket used out of turn, -ETERM for a terminated context...).
 * A grove_zmq belongs to the hub that made it. Contexts are libzmq's own (zmq_ctx_new).
 */
#ifndef GROVE_ZMQ_H
#define GROVE_ZMQ_H

#include "grove/core.h"

#include <stddef.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grove_zmq grove_zmq;

/* Opens a libzmq socket of type (ZMQ_REQ, ZMQ_ROUTER, ...) on the libzmq context ctx.
 * ZMQ_LINGER is set to 0 (grove_zmq_close never waits for unsent messages; set it with
 * grove_zmq_setsockopt to keep them for grove_zmq_ctx_term). Returns the socket or NULL
 * with errno (EINVAL, EMFILE, ETERM, ENOMEM). Never switches. */
GROVE_API grove_zmq *grove_zmq_socket(void *ctx, int type);
/* Closes the socket: waiters on it get -EBADF (they return before it is freed).
 * Returns 0 or -errno. Switches (to let the waiters leave). */
GROVE_API int grove_zmq_close(grove_zmq *s);
/* The libzmq socket, for options and monitoring (do not zmq_close it). */
GROVE_API void *grove_zmq_handle(grove_zmq *s);

/* zmq_bind / zmq_connect / zmq_setsockopt / zmq_getsockopt. Return 0 or -errno.
 * Never switch. */
GROVE_API int grove_zmq_bind(grove_zmq *s, const char *endpoint);
GROVE_API int grove_zmq_connect(grove_zmq *s, const char *endpoint);
GROVE_API int grove_zmq_setsockopt(grove_zmq *s, int option, const void *value, size_t len);
GROVE_API int grove_zmq_getsockopt(grove_zmq *s, int option, void *value, size_t *len);

/* Sends one frame of n bytes (flags: ZMQ_SNDMORE for a part that more follow, and
 * ZMQ_DONTWAIT not to wait). Waits while the socket cannot send (HWM reached, no peer
 * for a socket type that needs one). Returns n or -errno (-EAGAIN with ZMQ_DONTWAIT).
 * Switches only if it has to wait. */
GROVE_API int grove_zmq_send(grove_zmq *s, const void *buf, size_t n, int flags);
/* Receives one frame into buf (at most size bytes are stored; the frame's full size is
 * returned, as zmq_recv does). Waits while there is none. Returns the frame's size or
 * -errno. *more (if not NULL) says whether more parts of the message follow. Switches
 * only if it has to wait. */
GROVE_API int grove_zmq_recv(grove_zmq *s, void *buf, size_t size, int *more);

/* Sends a whole multipart message: n parts, each iov[i] (n >= 1). The parts of one call
 * are never interleaved with another green thread's. Returns the total bytes or -errno;
 * on -ETIMEDOUT / -ECANCELED / -EAGAIN before the first part nothing was sent, and
 * once the first part is queued the rest is sent even then (a message is never cut).
 * Switches. */
GROVE_API int grove_zmq_send_parts(grove_zmq *s, const struct iovec *iov, size_t n);

/* A received multipart message: parts[i] points into one allocation owned by the message. */
typedef struct grove_zmq_msg {
    size_t n;            /* number of parts */
    struct iovec *parts; /* parts[0..n) */
    void *mem_;          /* private */
} grove_zmq_msg;
/* Receives a whole multipart message (at most max_parts parts, max_bytes bytes in all:
 * a larger one is received and dropped whole, and -EMSGSIZE returned). The message is
 * never interleaved with another green thread's receive. Returns the number of parts or
 * -errno. Free with grove_zmq_msg_free. Switches. */
GROVE_API int grove_zmq_recv_parts(grove_zmq *s, grove_zmq_msg *m, size_t max_parts, size_t max_bytes);
GROVE_API void grove_zmq_msg_free(grove_zmq_msg *m);

/* A green zmq_poll over grove_zmq sockets and plain fds. */
typedef struct grove_zmq_pollitem {
    grove_zmq *socket; /* or NULL to poll fd */
    int fd;
    short events; /* ZMQ_POLLIN, ZMQ_POLLOUT */
    short revents;
} grove_zmq_pollitem;
/* Waits until one of items is ready or timeout_ns passes (< 0: no limit, 0: just look).
 * Returns the number of ready items (their revents set), 0 on timeout, or -errno.
 * Switches (unless something is ready or timeout_ns is 0). */
GROVE_API int grove_zmq_poll(grove_zmq_pollitem *items, size_t n, int64_t timeout_ns);

/* The zmq_loop pattern over a ROUTER socket: receives requests and runs
 * handle(request, reply, arg) for each in a green thread of its own (at most concurrency
 * at once; 0 = unlimited), sending each reply as soon as its handler returns, so replies
 * go out of order as handlers finish. request holds the message's body parts (the
 * routing envelope is kept aside and put back on the reply); the handler fills reply
 * (grove_zmq_reply_add) and returns 0, or a negative value to send no reply. Serves
 * until the caller is killed or a timeout scope fires (then waits for running handlers,
 * shielded) or the socket fails. Returns -ECANCELED / -ETIMEDOUT (why it stopped) or
 * -errno. Switches. */
typedef struct grove_zmq_reply grove_zmq_reply;
GROVE_API int grove_zmq_reply_add(grove_zmq_reply *reply, const void *buf, size_t n);
GROVE_API int grove_zmq_serve_router(grove_zmq *router,
                                     int (*handle)(const grove_zmq_msg *request, grove_zmq_reply *reply, void *arg),
                                     void *arg, size_t concurrency);

/* zmq_ctx_term on the tpool: waits cooperatively (never blocks the hub) until every
 * socket of ctx is closed and lingering messages are sent. Returns 0 or -errno. */
GROVE_API int grove_zmq_ctx_term(void *ctx);

#ifdef __cplusplus
}
#endif
#endif
