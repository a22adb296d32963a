/* grove-pq (include/grove/pq.h): a PostgreSQL pool whose queries wait on the hub through
 * libpq's asynchronous API. Built only on Grove's public API (a library of its own).
 *
 * Waiting on PQsocket never changes libpq's fd, so libpq stays the owner of its socket.
 * A query waits through a grove_fdwatch that lives as long as the connection, so a wait
 * costs Grove no system call: the watch is attached to the PGconn as libpq instance data
 * of an event procedure, which closes it when libpq resets or finishes the connection
 * (before the socket could be reused). Connecting, where the socket may change between
 * attempts, waits with the one-shot grove_poll_fd. Connections are made with PQconnectStart and
 * PQconnectPoll under a timeout scope, then switched to libpq's non-blocking mode so that
 * sending a large query or parameter set never blocks the OS thread either.
 */
#include "base/compiler.h"

#include "grove.h"
#include "grove/pq.h"

#include <libpq-events.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread char t_err[256];

const char *grove_pq_last_error(void) { return t_err; }

static void set_err(const char *what, PGconn *c)
{
    const char *m = c ? PQerrorMessage(c) : "";
    snprintf(t_err, sizeof t_err, "%s%s%s", what, *m ? ": " : "", m);
    size_t n = strlen(t_err);
    while (n && (t_err[n - 1] == '\n' || t_err[n - 1] == ' '))
        t_err[--n] = 0;
}

/* The error for a connection that failed or broke. */
static int conn_error(PGconn *c, const char *what)
{
    set_err(what, c);
    if (strstr(t_err, "refused"))
        return -ECONNREFUSED;
    if (c && PQstatus(c) == CONNECTION_BAD)
        return -ECONNRESET;
    return -EIO;
}

/* ---- Connections ------------------------------------------------------------------------ */

static int pq_connect(const char *conninfo, int64_t timeout_ns, PGconn **out)
{
    PGconn *c = PQconnectStart(conninfo);
    if (!c)
        return -ENOMEM;
    if (PQstatus(c) == CONNECTION_BAD) {
        int rc = conn_error(c, "connect");
        PQfinish(c);
        return rc == -ECONNRESET ? -ECONNREFUSED : rc;
    }
    grove_timeout to;
    grove_timeout_start(&to, timeout_ns);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int rc = 0;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            rc = conn_error(c, "connect");
            if (rc == -ECONNRESET)
                rc = -ECONNREFUSED;
            break;
        }
        rc = grove_poll_fd(PQsocket(c), st == PGRES_POLLING_READING ? GROVE_READ : GROVE_WRITE);
        if (rc < 0)
            break;
        rc = 0;
        st = PQconnectPoll(c);
    }
    if (grove_timeout_end(&to) && rc == -ETIMEDOUT)
        snprintf(t_err, sizeof t_err, "connect: timed out");
    if (rc < 0) {
        PQfinish(c);
        return rc;
    }
    if (PQsetnonblocking(c, 1) != 0) {
        rc = conn_error(c, "connect");
        PQfinish(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- Waiting on a connection's socket --------------------------------------------------- */

/* libpq calls this on its events; the watch goes with the socket it watches. */
static int pq_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    PGconn *c = id == PGEVT_CONNRESET     ? ((PGEventConnReset *)info)->conn
                : id == PGEVT_CONNDESTROY ? ((PGEventConnDestroy *)info)->conn
                                          : NULL;
    grove_fdwatch *w = c ? PQinstanceData(c, pq_event) : NULL;
    if (w) {
        PQsetInstanceData(c, pq_event, NULL);
        grove_fdwatch_close(w);
    }
    return 1;
}

/* Waits until c's socket is ready for events: through the connection's watch (opened on
 * first use), or once with grove_poll_fd if there can be none (no memory, or a connection
 * first used on another hub). Returns what the wait returns. */
static int wait_sock(PGconn *c, int events)
{
    grove_fdwatch *w = PQinstanceData(c, pq_event);
    if (!w && PQsocket(c) >= 0) {
        (void)PQregisterEventProc(c, pq_event, "grove-pq", NULL); /* 0 if it already was */
        if (grove_fdwatch_open(PQsocket(c), &w) == 0 && !PQsetInstanceData(c, pq_event, w)) {
            grove_fdwatch_close(w);
            w = NULL;
        }
    }
    if (w) {
        int rc = grove_fdwatch_wait(w, events);
        if (rc != -EINVAL)
            return rc;
    }
    return grove_poll_fd(PQsocket(c), events);
}

/* ---- Queries ---------------------------------------------------------------------------- */

static void *do_cancel(void *arg)
{
    char buf[256];
    return (void *)(intptr_t)PQcancel(arg, buf, sizeof buf);
}

/* The caller stopped waiting for a query: cancel it on the server and read what is left,
 * so the connection can be used again. A cleanup path: shielded, and bounded by a scope
 * of its own. If the results never come, the connection stays busy (PQTRANS_ACTIVE) and
 * grove_pq_put closes it. */
static void cancel_and_drain(PGconn *c)
{
    grove_shield_begin();
    PGcancel *cn = PQgetCancel(c);
    if (cn) {
        void *r;
        grove_tpool_call(do_cancel, cn, &r, NULL);
        PQfreeCancel(cn);
    }
    grove_timeout to;
    grove_timeout_start(&to, GROVE_SEC(5));
    for (;;) {
        if (PQflush(c) < 0)
            break;
        while (PQisBusy(c)) {
            if (wait_sock(c, GROVE_READ) < 0 || !PQconsumeInput(c))
                goto out;
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            break;
        PQclear(r);
    }
out:
    grove_timeout_end(&to);
    grove_shield_end();
}

int grove_pq_exec(PGconn *c, const char *sql, int nparams, const char *const *values, PGresult **res)
{
    if (!c || !sql || !res || nparams < 0 || (nparams > 0 && !values))
        return -EINVAL;
    *res = NULL;
    int sent = nparams > 0 ? PQsendQueryParams(c, sql, nparams, NULL, values, NULL, NULL, 0) : PQsendQuery(c, sql);
    if (!sent)
        return conn_error(c, "send");
    int rc;
    int f;
    while ((f = PQflush(c)) == 1) { /* the query did not fit in the socket buffer yet */
        rc = wait_sock(c, GROVE_READ | GROVE_WRITE);
        if (rc < 0)
            goto interrupted;
        if ((rc & GROVE_READ) && !PQconsumeInput(c))
            return conn_error(c, "send");
    }
    if (f < 0)
        return conn_error(c, "send");
    PGresult *last = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            rc = wait_sock(c, GROVE_READ);
            if (rc < 0) {
                PQclear(last);
                goto interrupted;
            }
            if (!PQconsumeInput(c)) {
                PQclear(last);
                return conn_error(c, "receive");
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            /* COPY is not supported here: end it and report it. */
            PQclear(r);
            PQclear(last);
            snprintf(t_err, sizeof t_err, "COPY is not supported by grove_pq_exec");
            cancel_and_drain(c);
            return -ENOTSUP;
        }
        PQclear(last);
        last = r;
    }
    if (!last)
        return conn_error(c, "receive");
    *res = last;
    return 0;
interrupted:
    cancel_and_drain(c);
    return rc;
}

/* ---- The pool ----------------------------------------------------------------------------- */

typedef struct pconn {
    PGconn *c;
    int64_t created, last_used;
    int out;
} pconn;

typedef struct pipeconn pipeconn;
static void pipe_reclaim(grove_pq_pool *p, int all);

struct grove_pq_pool {
    char *conninfo;
    grove_pq_opts o;
    pconn *v; /* every open connection */
    size_t n, cap;
    grove_sem slots; /* max_size permits: one per connection that may be out */
    size_t waiting;
    /* pipelined grove_pq_query (o.pipeline > 1): connections taken from the pool in
     * libpq's pipeline mode, and permits for max_size * pipeline queries in flight */
    pipeconn **pipes;
    size_t npipes;
    grove_sem pipe_space;
};

/* The index of c among the pool's connections, or p->n. */
static size_t conn_index(const grove_pq_pool *p, const PGconn *c)
{
    size_t i = 0;
    while (i < p->n && p->v[i].c != c)
        i++;
    return i;
}

static void close_at(grove_pq_pool *p, size_t i)
{
    PQfinish(p->v[i].c);
    p->v[i] = p->v[--p->n];
}

static int add_conn(grove_pq_pool *p, PGconn *c, int out)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        pconn *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    int64_t now = grove_now();
    p->v[p->n++] = (pconn){c, now, now, out};
    return 0;
}

/* Closes idle connections past max_idle (keeping min_size open) or max_age. Checked
 * whenever the pool is used. */
static void prune(grove_pq_pool *p)
{
    int64_t now = grove_now();
    for (size_t i = 0; i < p->n;) {
        pconn *e = &p->v[i];
        int old = p->o.max_age_ns > 0 && now - e->created > p->o.max_age_ns;
        int stale = p->o.max_idle_ns > 0 && now - e->last_used > p->o.max_idle_ns && p->n > p->o.min_size;
        if (!e->out && (old || stale))
            close_at(p, i);
        else
            i++;
    }
}

int grove_pq_pool_new(const grove_pq_opts *o, grove_pq_pool **out)
{
    if (!o || !out || !o->conninfo || o->max_size == 0 || o->min_size > o->max_size || o->connect_timeout_ns < 0 ||
        o->max_idle_ns < 0 || o->max_age_ns < 0 || o->pipeline > GROVE_PQ_MAX_PIPELINE ||
        o->max_size > GROVE_PQ_MAX_PIPELINE * 1024)
        return -EINVAL;
    grove_pq_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->o = *o;
    if (!p->o.connect_timeout_ns)
        p->o.connect_timeout_ns = GROVE_SEC(10);
    if (!p->o.check_after_ns)
        p->o.check_after_ns = GROVE_SEC(1);
    p->conninfo = strdup(o->conninfo);
    if (!p->conninfo) {
        free(p);
        return -ENOMEM;
    }
    p->o.conninfo = p->conninfo;
    grove_sem_init(&p->slots, (long)o->max_size);
    if (p->o.pipeline > 1) {
        p->pipes = calloc(o->max_size, sizeof *p->pipes);
        if (!p->pipes) {
            grove_sem_destroy(&p->slots);
            free(p->conninfo);
            free(p);
            return -ENOMEM;
        }
    }
    grove_sem_init(&p->pipe_space, (long)(o->max_size * (p->o.pipeline > 1 ? p->o.pipeline : 1)));
    for (size_t i = 0; i < o->min_size; i++) {
        PGconn *c;
        int rc = pq_connect(p->conninfo, p->o.connect_timeout_ns, &c);
        if (rc == 0 && (rc = add_conn(p, c, 0)) < 0)
            PQfinish(c);
        if (rc < 0) {
            grove_pq_pool_destroy(p);
            return rc;
        }
    }
    *out = p;
    return 0;
}

int grove_pq_pool_destroy(grove_pq_pool *p)
{
    if (!p)
        return -EINVAL;
    if (p->npipes) {
        grove_shield_begin();
        pipe_reclaim(p, 1);
        grove_shield_end();
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].out)
            return -EBUSY;
    if (p->waiting || grove_sem_waiting(&p->pipe_space))
        return -EBUSY;
    while (p->n)
        close_at(p, p->n - 1);
    free(p->v);
    free(p->pipes);
    grove_sem_destroy(&p->slots);
    grove_sem_destroy(&p->pipe_space);
    free(p->conninfo);
    free(p);
    return 0;
}

#define FRESH_NS GROVE_MS(2)

/* Whether an idle connection can be handed out: alive as far as libpq can tell without
 * waiting, and - if it was idle longer than check_after - answering a round trip. */
static int usable(grove_pq_pool *p, pconn *e, int64_t now)
{
    PGconn *c = e->c;
    if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE)
        return 0;
    /* An idle connection has nothing to say: anything readable (the server's goodbye
     * when it terminated the session, a hang-up) calls for a round trip to be sure. A
     * connection that came back a moment ago is handed out without looking (a busy pool
     * saves the system call; a session ended in that moment fails its query with
     * -ECONNRESET and is replaced). */
    int said = 0;
    if (now - e->last_used > FRESH_NS) {
        struct pollfd pf = {.fd = PQsocket(c), .events = POLLIN};
        said = poll(&pf, 1, 0) != 0;
    }
    if (said && (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK))
        return 0;
    if (!said && (p->o.check_after_ns < 0 || now - e->last_used <= p->o.check_after_ns))
        return 1;
    PGresult *r;
    grove_timeout to;
    grove_timeout_start(&to, p->o.connect_timeout_ns);
    int rc = grove_pq_exec(c, "", 0, NULL, &r);
    int mine = grove_timeout_end(&to);
    if (rc < 0)
        return rc == -ECANCELED || (rc == -ETIMEDOUT && !mine) ? rc : 0;
    int ok = PQresultStatus(r) == PGRES_EMPTY_QUERY;
    PQclear(r);
    return ok;
}

int grove_pq_get(grove_pq_pool *p, PGconn **conn)
{
    if (!p || !conn)
        return -EINVAL;
    if (p->npipes && grove_sem_count(&p->slots) <= 0)
        pipe_reclaim(p, 1); /* idle pipelines hold connections nobody uses */
    p->waiting++;
    int rc = grove_sem_acquire(&p->slots);
    p->waiting--;
    if (rc < 0)
        return rc;
    prune(p);
    for (;;) {
        /* The most recently used idle connection: the warmest. */
        size_t best = (size_t)-1;
        for (size_t i = 0; i < p->n; i++)
            if (!p->v[i].out && (best == (size_t)-1 || p->v[i].last_used > p->v[best].last_used))
                best = i;
        if (best == (size_t)-1)
            break;
        pconn *e = &p->v[best];
        e->out = 1; /* ours while we check it */
        PGconn *c = e->c;
        rc = usable(p, e, grove_now());
        if (rc > 0) {
            *conn = c;
            return 0;
        }
        /* usable() may have switched, and another green thread grown (moved) p->v: find
         * the entry again by its connection. */
        size_t i = conn_index(p, c);
        if (i < p->n) {
            if (rc < 0)
                p->v[i].out = 0; /* interrupted: it goes back as it was */
            else
                close_at(p, i); /* dead: replaced */
        }
        if (rc < 0) {
            grove_sem_release(&p->slots);
            return rc;
        }
    }
    PGconn *c;
    rc = pq_connect(p->conninfo, p->o.connect_timeout_ns, &c);
    if (rc == 0 && (rc = add_conn(p, c, 1)) < 0)
        PQfinish(c);
    if (rc < 0) {
        grove_sem_release(&p->slots);
        return rc;
    }
    *conn = c;
    return 0;
}

int grove_pq_put(grove_pq_pool *p, PGconn *c)
{
    if (!p || !c)
        return -EINVAL;
    size_t i = conn_index(p, c);
    if (i == p->n || !p->v[i].out)
        return -EINVAL;
    grove_shield_begin();
    int keep = PQstatus(c) == CONNECTION_OK;
    PGTransactionStatusType tx = keep ? PQtransactionStatus(c) : PQTRANS_UNKNOWN;
    if (tx == PQTRANS_ACTIVE || tx == PQTRANS_UNKNOWN) {
        keep = 0; /* a query still running (its cancel failed) or a lost connection */
    } else if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR) {
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(5));
        PGresult *r;
        int rc = grove_pq_exec(c, "ROLLBACK", 0, NULL, &r);
        grove_timeout_end(&to);
        keep = rc == 0 && PQresultStatus(r) == PGRES_COMMAND_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
        if (rc == 0)
            PQclear(r);
    }
    /* The rollback may have switched: find the entry again. */
    if ((i = conn_index(p, c)) < p->n) {
        int64_t now = grove_now();
        if (keep && p->o.max_age_ns > 0 && now - p->v[i].created > p->o.max_age_ns)
            keep = 0;
        if (keep) {
            p->v[i].out = 0;
            p->v[i].last_used = now;
        } else {
            close_at(p, i);
        }
    }
    grove_sem_release(&p->slots);
    grove_shield_end();
    return 0;
}

static int pipe_query(grove_pq_pool *p, const char *sql, int nparams, const char *const *values, PGresult **res);

int grove_pq_query(grove_pq_pool *p, const char *sql, int nparams, const char *const *values, PGresult **res)
{
    if (p && p->o.pipeline > 1) {
        if (!sql || !res || nparams < 0 || (nparams > 0 && !values))
            return -EINVAL;
        return pipe_query(p, sql, nparams, values, res);
    }
    PGconn *c;
    int rc = grove_pq_get(p, &c);
    if (rc < 0)
        return rc;
    rc = grove_pq_exec(c, sql, nparams, values, res);
    grove_pq_put(p, c);
    return rc;
}

size_t grove_pq_pool_open(const grove_pq_pool *p) { return p ? p->n : 0; }

size_t grove_pq_pool_waiting(const grove_pq_pool *p) { return p ? p->waiting + grove_sem_waiting(&p->pipe_space) : 0; }

/* ---- Pipelined one-shot queries ----------------------------------------------------------
 *
 * With o.pipeline > 1, grove_pq_query shares a connection among up to o.pipeline queries in
 * flight, through libpq's pipeline mode: each query is sent with PQsendQueryParams and a
 * Sync of its own (so each is its own implicit transaction, and an error in one never
 * aborts another), and the answers come back in the order the queries went out. Each
 * pipelined connection has a reader, a service green thread that waits on the socket and
 * hands every answer to its caller's box, so callers only send and wait on their box. A
 * caller that stops waiting (kill, timeout) leaves its place in line; its answer is
 * dropped when it comes. A connection is taken from the pool when a query finds no
 * pipeline with room and a connection can be had; it stays in pipeline mode while idle,
 * and goes back to the pool when a grove_pq_get needs it, when it has been idle past
 * check_after or max_idle (so it gets the liveness check again), or when it broke. */

enum { BOX_WAIT, BOX_DONE };

typedef struct pbox { /* on the waiting caller's stack */
    grove_event ev;
    int state; /* BOX_*; set before the event is sent */
    int rc;
    PGresult *res;
    char err[sizeof t_err];
} pbox;

struct pipeconn {
    grove_pq_pool *pool;
    PGconn *c;
    pbox **ring; /* callers in send order; NULL: its caller left */
    size_t head, count, cap;
    grove_thread *reader;
    PGresult *got;      /* the head query's answer so far (the last result it produced) */
    int broken;         /* takes no new queries; handed back once its line is empty */
    int quit;           /* the reader is told to end */
    int64_t idle_since; /* when its line last emptied */
};

static void pipe_fail(pipeconn *pc, int rc)
{
    pc->broken = 1;
    PQclear(pc->got);
    pc->got = NULL;
    for (; pc->count; pc->count--, pc->head = (pc->head + 1) % pc->cap) {
        pbox *b = pc->ring[pc->head];
        if (!b)
            continue;
        b->rc = rc;
        b->res = NULL;
        memcpy(b->err, t_err, sizeof b->err);
        b->state = BOX_DONE;
        grove_event_send(&b->ev, NULL);
    }
    pc->idle_since = grove_now();
}

/* One result from libpq for the head query: kept until its Sync comes, then handed to its
 * caller. */
static void pipe_result(pipeconn *pc, PGresult *r)
{
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        PQclear(pc->got);
        pc->got = r;
        return;
    }
    PQclear(r);
    pbox *b = pc->ring[pc->head];
    pc->head = (pc->head + 1) % pc->cap;
    if (!--pc->count)
        pc->idle_since = grove_now();
    PGresult *got = pc->got;
    pc->got = NULL;
    /* With queries queued behind, libpq reports every connection as PQTRANS_ACTIVE; the
     * statements that open a transaction block say so in their tag instead. */
    const char *tag = got ? PQcmdStatus(got) : "";
    int opened = !strcmp(tag, "BEGIN") || !strcmp(tag, "START TRANSACTION");
    if (b) {
        b->res = got;
        b->rc = 0;
        if (!got) {
            b->rc = -EIO;
            snprintf(b->err, sizeof b->err, "receive: no result");
        } else if (opened) {
            /* BEGIN would hold every later query of the pipeline in its transaction:
             * refused, and the connection is discarded. */
            PQclear(got);
            b->res = NULL;
            b->rc = -EINVAL;
            snprintf(b->err, sizeof b->err, "a pipelined grove_pq_query left a transaction open: use grove_pq_get");
        }
        b->state = BOX_DONE;
        grove_event_send(&b->ev, NULL);
    } else {
        PQclear(got);
    }
    if (opened) {
        snprintf(t_err, sizeof t_err, "pipelined connection discarded: an earlier query left a transaction open");
        pipe_fail(pc, -ECONNABORTED);
    }
}

/* Takes pc out of the pool's pipelines and gives its connection back (or closes it, if it
 * broke). Never switches: an unbroken pipeline is idle, so no rollback is needed. */
static void pipe_unlist(grove_pq_pool *p, pipeconn *pc)
{
    size_t i = 0;
    while (i < p->npipes && p->pipes[i] != pc)
        i++;
    if (i < p->npipes)
        p->pipes[i] = p->pipes[--p->npipes];
}

static void pipe_release(grove_pq_pool *p, pipeconn *pc)
{
    pipe_unlist(p, pc);
    PGconn *c = pc->c;
    size_t i;
    if (pc->broken || !PQexitPipelineMode(c) || PQtransactionStatus(c) != PQTRANS_IDLE) {
        if ((i = conn_index(p, c)) < p->n)
            close_at(p, i);
        grove_sem_release(&p->slots);
    } else {
        grove_pq_put(p, c);
        if ((i = conn_index(p, c)) < p->n && pc->idle_since)
            p->v[i].last_used = pc->idle_since; /* idle since then, for max_idle */
    }
    PQclear(pc->got);
    free(pc->ring);
    free(pc);
}

/* The reader: answers every caller in line, in order. When the line is empty and the
 * connection broke, or a grove_pq_get waits for a connection, it hands the connection
 * back itself and ends. */
static void *pipe_reader(void *arg)
{
    pipeconn *pc = arg;
    grove_pq_pool *p = pc->pool;
    PGconn *c = pc->c;
    for (;;) {
        int nulls = 0; /* a query's results end with one NULL; two in a row: nothing more */
        while (pc->count && !PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (r) {
                nulls = 0;
                pipe_result(pc, r);
            } else if (++nulls == 2) {
                if (PQstatus(c) != CONNECTION_OK)
                    pipe_fail(pc, conn_error(c, "receive"));
                break;
            }
        }
        if (!pc->count && (pc->broken || grove_sem_waiting(&p->slots) > 0)) {
            grove_detach(grove_self());
            pipe_release(p, pc);
            return NULL;
        }
        int f = PQflush(c); /* what PQpipelineSync could not push */
        if (f < 0) {
            pipe_fail(pc, conn_error(c, "send"));
            continue;
        }
        int rc = wait_sock(c, GROVE_READ | (f ? GROVE_WRITE : 0));
        if (pc->quit)
            return NULL; /* pipe_stop hands the connection back */
        if (rc < 0) {
            snprintf(t_err, sizeof t_err, "receive: %s", grove_strerror(rc));
            pipe_fail(pc, rc == -ENOMEM ? -ENOMEM : -EIO);
            continue;
        }
        if ((rc & GROVE_READ) && !PQconsumeInput(c))
            pipe_fail(pc, conn_error(c, "receive"));
    }
}

/* Ends an idle pipeline's reader and hands its connection back. Shielded (its caller may
 * be killed); switches. */
static void pipe_stop(grove_pq_pool *p, pipeconn *pc)
{
    pipe_unlist(p, pc); /* before the first switch, so that no query joins its line */
    grove_shield_begin();
    pc->quit = 1;
    grove_kill(pc->reader);
    grove_join(pc->reader, NULL);
    pipe_release(p, pc);
    grove_shield_end();
}

/* Hands back the idle pipelines: all of them, or those broken or idle past the pool's
 * check_after (so they get grove_pq_get's liveness check again) or max_idle. */
static void pipe_reclaim(grove_pq_pool *p, int all)
{
    int64_t now = grove_now(), limit = INT64_MAX;
    if (p->o.check_after_ns >= 0)
        limit = p->o.check_after_ns;
    if (p->o.max_idle_ns > 0 && p->o.max_idle_ns < limit)
        limit = p->o.max_idle_ns;
    for (size_t i = 0; i < p->npipes;) {
        pipeconn *pc = p->pipes[i];
        if (!pc->count && (all || pc->broken || now - pc->idle_since > limit))
            pipe_stop(p, pc); /* moves the last entry here */
        else
            i++;
    }
}

/* A pipeline with room for one more query: an idle one, else a new connection if one can
 * be had at once, else the least busy. Returns 0 and *out, or -errno. Switches (to take or
 * open a connection). */
static int pipe_pick(grove_pq_pool *p, pipeconn **out)
{
    pipe_reclaim(p, 0);
    pipeconn *best = NULL;
    for (size_t i = 0; i < p->npipes; i++) {
        pipeconn *pc = p->pipes[i];
        if (!pc->broken && pc->count < pc->cap && (!best || pc->count < best->count))
            best = pc;
    }
    if (best && (best->count == 0 || grove_sem_count(&p->slots) <= 0)) {
        *out = best;
        return 0;
    }
    PGconn *c;
    int rc = grove_pq_get(p, &c);
    if (rc < 0)
        return rc;
    pipeconn *pc = calloc(1, sizeof *pc);
    pbox **ring = calloc(p->o.pipeline, sizeof *ring);
    if (!pc || !ring || !PQenterPipelineMode(c)) {
        rc = pc && ring ? conn_error(c, "pipeline mode") : -ENOMEM;
        free(pc);
        free(ring);
        grove_pq_put(p, c);
        return rc;
    }
    pc->pool = p;
    pc->c = c;
    pc->ring = ring;
    pc->cap = p->o.pipeline;
    pc->idle_since = grove_now();
    grove_spawn_attr ra = {.name = "pq pipeline reader", .service = 1};
    if (!(pc->reader = grove_spawn_opts(&ra, pipe_reader, pc))) {
        rc = -errno;
        pc->broken = 1;
        pipe_release(p, pc); /* not listed yet: just closes it */
        return rc;
    }
    p->pipes[p->npipes++] = pc; /* at most max_size: each holds a connection */
    *out = pc;
    return 0;
}

static int pipe_query(grove_pq_pool *p, const char *sql, int nparams, const char *const *values, PGresult **res)
{
    *res = NULL;
    int rc = grove_sem_acquire(&p->pipe_space);
    if (rc < 0)
        return rc;
    pipeconn *pc = NULL;
    if ((rc = pipe_pick(p, &pc)) < 0) {
        grove_sem_release(&p->pipe_space);
        return rc;
    }
    PGconn *c = pc->c;
    pbox box = {.state = BOX_WAIT};
    /* One statement per query (the extended protocol) and a Sync of its own. */
    if (!PQsendQueryParams(c, sql, nparams, NULL, values, NULL, NULL, 0)) {
        rc = conn_error(c, "send");
        if (PQstatus(c) != CONNECTION_OK)
            pc->broken = 1; /* the reader hands it back */
        grove_sem_release(&p->pipe_space);
        return rc;
    }
    grove_event_init(&box.ev);
    pc->ring[(pc->head + pc->count) % pc->cap] = &box;
    pc->count++;
    int f = PQpipelineSync(c) ? PQflush(c) : -1;
    while (f == 1 && box.state == BOX_WAIT) { /* a full socket buffer: the reader reads meanwhile */
        if ((rc = wait_sock(c, GROVE_WRITE)) < 0)
            break;
        f = PQflush(c);
    }
    if (f < 0 && box.state == BOX_WAIT)
        pipe_fail(pc, conn_error(c, "send"));
    if (rc == 0 && box.state == BOX_WAIT)
        rc = grove_event_wait(&box.ev, NULL);
    if (rc < 0 && box.state != BOX_DONE) {
        /* Interrupted while in line (so pc is alive): leave it; the answer is dropped. */
        for (size_t k = 0; k < pc->count; k++)
            if (pc->ring[(pc->head + k) % pc->cap] == &box)
                pc->ring[(pc->head + k) % pc->cap] = NULL;
    }
    grove_event_destroy(&box.ev);
    grove_sem_release(&p->pipe_space);
    if (box.state != BOX_DONE)
        return rc;
    if (rc < 0) { /* answered, but the caller was interrupted meanwhile */
        PQclear(box.res);
        return rc;
    }
    if (box.rc < 0) {
        memcpy(t_err, box.err, sizeof t_err);
        return box.rc;
    }
    *res = box.res;
    return 0;
}

size_t grove_pq_pool_idle(const grove_pq_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; p && i < p->n; i++)
        n += !p->v[i].out;
    for (size_t i = 0; p && i < p->npipes; i++)
        n += !p->pipes[i]->count; /* an idle pipeline */
    return n;
}
