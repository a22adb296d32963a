/* The thread pool: a locked FIFO of jobs served by lazily started OS threads. A finished
 * job is posted back to its hub (grove__hub_post), whose loop wakes the waiting green
 * thread. The job lives on the heap so a caller that stops waiting (kill, timeout) can
 * leave it behind: the completion on the hub then frees it. */
#include "core/thread.h"
#include "hub/wakeup.h"

#include "grove/tpool.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

typedef struct job {
    struct job *next;
    void *(*fn)(void *);
    void *arg;
    void *result;
    grove__hub *hub;
    grove__inbox *in; /* held until the job is completed or discarded */
    grove__waiter *w; /* NULL once the caller stopped waiting */
    void (*drop)(void *);
    int done;
} job;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static job *g_head, **g_tail = &g_head;
static size_t g_size, g_threads, g_idle;

static size_t configured_size(void)
{
    if (!g_size) {
        const char *e = getenv("GROVE_TPOOL_SIZE");
        long n = e ? atol(e) : 0;
        g_size = n > 0 ? (size_t)n : 20;
    }
    return g_size;
}

int grove_tpool_set_size(size_t n)
{
    if (n == 0)
        return -EINVAL;
    pthread_mutex_lock(&g_mu);
    g_size = n;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

size_t grove_tpool_size(void)
{
    pthread_mutex_lock(&g_mu);
    size_t n = configured_size();
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* The hub is gone (its OS thread exited while the job ran): nobody will take the
 * result. Runs on the exiting thread or on the pool thread. */
static void discard(void *arg)
{
    job *j = arg;
    if (j->drop)
        j->drop(j->result);
    grove__inbox_release(j->in);
    free(j);
}

/* On the hub: the job is finished. */
static void complete(void *arg)
{
    job *j = arg;
    grove__hub_unref(j->hub);
    if (!j->w) { /* the caller left: drop the result */
        discard(j);
        return;
    }
    grove__inbox_release(j->in); /* never the last hold: the hub has its own */
    j->done = 1;
    grove__wake(j->w, 0, NULL);
}

static void *worker(void *unused)
{
    pthread_mutex_lock(&g_mu);
    for (;;) {
        while (!g_head) {
            g_idle++;
            pthread_cond_wait(&g_cv, &g_mu);
            g_idle--;
        }
        job *j = g_head;
        g_head = j->next;
        if (!g_head)
            g_tail = &g_head;
        pthread_mutex_unlock(&g_mu);
        j->result = j->fn(j->arg);
        int rc;
        while ((rc = grove__inbox_post(j->in, complete, discard, j)) == -ENOMEM)
            grove__sys_sleep_ns(GROVE_MS(1)); /* out of memory: the hub must still hear about it */
        if (rc < 0)
            discard(j); /* -ESHUTDOWN: the hub has gone */
        pthread_mutex_lock(&g_mu);
    }
    return NULL;
}

/* fork: the child has none of the pool's threads, and the queued jobs belong to green
 * threads it does not have either. The lock is held across fork so the queue is whole;
 * the child starts an empty pool, whose threads start again on demand. */
static void fork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void fork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void fork_child(void)
{
    pthread_mutex_init(&g_mu, NULL);
    pthread_cond_init(&g_cv, NULL);
    g_head = NULL;
    g_tail = &g_head;
    g_threads = g_idle = 0;
}
static void register_fork(void) { (void)pthread_atfork(fork_prepare, fork_parent, fork_child); }

static int submit(job *j)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork);
    pthread_mutex_lock(&g_mu);
    size_t size = configured_size();
    size_t queued = 0;
    for (job *q = g_head; q && queued <= g_idle; q = q->next)
        queued++;
    if (g_threads < size && queued >= g_idle) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        /* Block every signal in pool threads: signals belong to the hubs' threads. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&th, &at, worker, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&at);
        if (rc == 0)
            g_threads++;
        else if (g_threads == 0) {
            pthread_mutex_unlock(&g_mu);
            return -EAGAIN;
        }
    }
    j->next = NULL;
    *g_tail = j;
    g_tail = &j->next;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static int call(void *(*fn)(void *), void *arg, void **result, void (*drop)(void *), int interruptible)
{
    if (!fn)
        return -EINVAL;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    int rc = interruptible ? grove__check(grove__running(h)) : 0;
    if (rc)
        return rc;
    job *j = grove__calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->in = grove__inbox_hold(h);
    if (!j->in) {
        free(j);
        return -errno;
    }
    grove__waiter w;
    grove__waiter_init(&w);
    w.nointr = !interruptible;
    j->fn = fn;
    j->arg = arg;
    j->hub = h;
    j->w = &w;
    j->drop = drop;
    grove__hub_ref(h);
    rc = submit(j);
    if (rc) {
        grove__hub_unref(h);
        grove__inbox_release(j->in);
        free(j);
        return rc;
    }
    rc = grove__park(&w, "tpool");
    if (!j->done) { /* interrupted: leave the job behind */
        j->w = NULL;
        return rc < 0 ? rc : -ECANCELED;
    }
    if (result)
        *result = j->result;
    free(j);
    return 0;
}

int grove_tpool_call(void *(*fn)(void *), void *arg, void **result, void (*drop)(void *))
{
    return call(fn, arg, result, drop, 1);
}

void *grove_tpool_run(void *(*fn)(void *), void *arg)
{
    void *r = NULL;
    int rc = grove_tpool_call(fn, arg, &r, NULL);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return r;
}

/* ---- File helpers ------------------------------------------------------------------------ */

typedef struct fileop {
    int fd, kind;
    void *buf;
    size_t n;
    off_t off;
    ssize_t rc;
} fileop;

static void *do_fileop(void *arg)
{
    fileop *op = arg;
    ssize_t r;
    do {
        switch (op->kind) {
        case 0: r = grove__sys_read(op->fd, op->buf, op->n); break;
        case 1: r = grove__sys_write(op->fd, op->buf, op->n); break;
        case 2: r = grove__sys_pread(op->fd, op->buf, op->n, op->off); break;
        default: r = grove__sys_pwrite(op->fd, op->buf, op->n, op->off); break;
        }
    } while (r == -EINTR);
    op->rc = r;
    return NULL;
}

static ssize_t fileop_run(int fd, int kind, void *buf, size_t n, off_t off)
{
    fileop op = {fd, kind, buf, n, off, 0};
    int rc = call(do_fileop, &op, NULL, NULL, 0); /* uninterruptible: buf is in use */
    return rc < 0 ? rc : op.rc;
}

ssize_t grove_file_read(int fd, void *buf, size_t n) { return fileop_run(fd, 0, buf, n, 0); }
ssize_t grove_file_write(int fd, const void *buf, size_t n) { return fileop_run(fd, 1, (void *)buf, n, 0); }
ssize_t grove_file_pread(int fd, void *buf, size_t n, off_t off) { return fileop_run(fd, 2, buf, n, off); }
ssize_t grove_file_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return fileop_run(fd, 3, (void *)buf, n, off);
}
