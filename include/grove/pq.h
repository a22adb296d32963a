/* grove/pq.h: a PostgreSQL connection pool with cooperative queries (library grove-pq:
 * pkg-config grove-pq, CMake grove::grove_pq), on libpq's asynchronous API.
 *
 * Queries are sent with PQsendQuery / PQsendQueryParams and their results collected with
 * PQconsumeInput / PQisBusy / PQgetResult while the green thread waits on PQsocket with
 * grove_poll_fd (libpq's socket is never touched otherwise): no OS thread per query, no
 * patch layer. Kill and timeout scopes end a wait; the query is then cancelled on the
 * server (PQcancel, run on the tpool) and the connection drained before it can be used
 * again, or closed if that fails.
 *
 * The pool keeps between min_size and max_size connections, with eventlet.db_pool's
 * knobs and what it lacked: a connect timeout, a maximum idle time and a maximum age,
 * a liveness check when a connection is handed out after being idle, a rollback when a
 * connection comes back inside a transaction (discarded if that fails or its state is
 * unknown), and broken connections discarded and replaced. Waiters for a connection are
 * served first come, first served.
 *
 * Errors: -ECONNREFUSED / -ECONNRESET / -EIO for connections that cannot be made or were
 * lost (the reason in grove_pq_last_error()), -ETIMEDOUT / -ECANCELED, -ENOMEM, -EINVAL.
 * An SQL error is not an error here: the PGresult says so (PQresultStatus), as in libpq.
 * A pool and its connections belong to the hub that made them. libpq resolves host names
 * with the blocking resolver: give numeric addresses (host=127.0.0.1, hostaddr=) or a
 * Unix socket directory.
 */
#ifndef GROVE_PQ_H
#define GROVE_PQ_H

#include "grove/core.h"

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grove_pq_pool grove_pq_pool;

typedef struct grove_pq_opts {
    const char *conninfo;       /* libpq connection string (copied) */
    size_t min_size;            /* connections kept open even when idle (made at start) */
    size_t max_size;            /* at most this many open at once (>= 1) */
    int64_t connect_timeout_ns; /* per connection attempt; 0 = 10 s */
    int64_t max_idle_ns;        /* idle longer than this: closed (above min_size); 0 = never */
    int64_t max_age_ns;         /* older than this: closed when next idle; 0 = never */
    int64_t check_after_ns;     /* idle longer than this when handed out: checked with a
                                    round trip first; 0 = 1 s; < 0 = never */
    size_t pipeline;            /* grove_pq_query only: queries in flight per connection
                                   (libpq pipeline mode); 0 or 1 = one at a time; at most
                                   GROVE_PQ_MAX_PIPELINE. See grove_pq_query. */
} grove_pq_opts;

#define GROVE_PQ_MAX_PIPELINE 1024

/* Makes a pool and opens min_size connections. Switches (to connect).
 * Returns 0 and *out, or -errno (-EINVAL for bad options; connection errors). */
GROVE_API int grove_pq_pool_new(const grove_pq_opts *opts, grove_pq_pool **out);
/* Closes the idle connections and frees the pool. A cleanup path (shielded).
 * Returns 0, or -EBUSY if connections are still handed out or queries in flight (nothing
 * done but handing idle pipelines back). Switches. */
GROVE_API int grove_pq_pool_destroy(grove_pq_pool *p);

/* Takes a connection (waiting, first come first served, while max_size are out).
 * Returns 0 and *conn, or -errno. Switches. */
GROVE_API int grove_pq_get(grove_pq_pool *p, PGconn **conn);
/* Gives a connection back: rolled back first if it is inside a transaction, closed if it
 * is broken, was cancelled and could not be drained, or is past max_age. A cleanup path
 * (shielded). Returns 0 or -EINVAL. Switches (only to roll back). */
GROVE_API int grove_pq_put(grove_pq_pool *p, PGconn *conn);

/* Runs sql (no parameters: PQsendQuery, several statements allowed; with nparams > 0:
 * PQsendQueryParams, values as text, NULL for SQL NULL) on conn and waits for the result:
 * the last one if the string held several statements. Returns 0 and *res (free with
 * PQclear; check PQresultStatus), or -errno. On -ETIMEDOUT / -ECANCELED the query was
 * cancelled on the server. Switches. */
GROVE_API int grove_pq_exec(PGconn *conn, const char *sql, int nparams, const char *const *values, PGresult **res);
/* grove_pq_get + grove_pq_exec + grove_pq_put. Switches.
 *
 * With opts.pipeline > 1 instead, queries share connections: up to that many are in
 * flight on one connection at once, each with a Sync of its own (libpq pipeline mode), so
 * each is its own implicit transaction and an error in one touches no other. Answers
 * come back in order; a service green thread per pipelined connection reads them. What changes for the
 * caller: sql must be one statement (the extended protocol, also without parameters);
 * COPY is refused by libpq; a statement that leaves a transaction open (BEGIN) fails
 * with -EINVAL and its connection is discarded, the queries queued behind it on that
 * connection failing with -ECONNABORTED (take a connection with grove_pq_get for
 * transactions and session state); and a query whose caller is killed or times out is
 * not cancelled on the server (others may be queued behind it): it runs to its end and
 * its result is dropped. A connection is taken from the pool when no pipeline has room
 * and one can be had; an idle one stays in pipeline mode and is given back when a
 * grove_pq_get needs it, when it has been idle past check_after or max_idle, or when it
 * broke, so grove_pq_get and the pool's limits work as before. */
GROVE_API int grove_pq_query(grove_pq_pool *p, const char *sql, int nparams, const char *const *values, PGresult **res);

/* Open connections (idle plus handed out), idle ones, and green threads waiting. */
GROVE_API size_t grove_pq_pool_open(const grove_pq_pool *p);
GROVE_API size_t grove_pq_pool_idle(const grove_pq_pool *p);
GROVE_API size_t grove_pq_pool_waiting(const grove_pq_pool *p);

/* The calling OS thread's last connection or transport error text ("" if none). */
GROVE_API const char *grove_pq_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
