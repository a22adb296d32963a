/* Debugging aids: the blocking detector (a watchdog OS thread sampling every hub's switch
 * counter) and dumps of a hub's green threads with backtraces.
 *
 * A hub is blocked when its switch counter has not moved for longer than the threshold
 * while it is not asleep in the poller: some green thread is running without reaching a
 * switch point (a busy loop, or a blocking call the patch layer does not cover). The
 * running thread's name, id and backtrace are taken in its own OS thread by a signal
 * handler (see on_bt_signal for what it does and why that is safe enough); symbolising
 * and reporting happen on the watchdog thread.
 */
#include "core/hub.h"

#include "grove/debug.h"
#include "grove/proc.h"

#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- Hub registry ------------------------------------------------------------------------ */

static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

static void env_start(void)
{
    const char *e = getenv("GROVE_BLOCK_THRESHOLD_MS");
    if (e && *e)
        grove_debug_watchdog_start(GROVE_MS(atol(e)), 2);
}

/* GROVE_BLOCK_THRESHOLD_MS starts the watchdog with the first hub. Core learns of the
 * debug layer only through these hooks (registered when the library loads; in a static
 * program, when it uses any grove_debug_* function). */
static void on_hub_created(grove__hub *h) { pthread_once(&g_env_once, env_start); }
static void on_fork_child(void);

__attribute__((constructor)) static void debug_register(void)
{
    static const grove__core_hooks hooks = {on_hub_created, on_fork_child};
    grove__core_hooks_add(&hooks);
}

/* ---- Watchdog ------------------------------------------------------------------------------ */

static pthread_mutex_t g_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wd_cv;
static pthread_t g_wd_thread;
static int g_wd_running, g_wd_stop, g_wd_fd;
static grove_debug_block_cb g_wd_cb;
static void *g_wd_arg;
static int64_t g_wd_threshold;
static _Atomic unsigned long g_reports;

/* One backtrace request at a time (the watchdog makes them in turn). The watchdog arms
 * the slot with the hub it wants; the handler claims it with an exchange, so a signal
 * that lands after the watchdog gave up writes nothing. */
static struct {
    _Atomic(grove__hub *) armed;
    unsigned long expect; /* the switch count the watchdog saw stuck */
    int still;            /* the hub had not switched when the handler ran */
    int tid;
    uint64_t id;
    char name[32];
    int n;
    void *pcs[64];
} g_bt;
static sem_t g_bt_done;

/* Runs in the blocked OS thread, on top of the green thread that does not yield: only
 * async-signal-safe work, plus backtrace(), which is safe enough once libgcc's unwinder is
 * loaded (grove_debug_watchdog_start calls it once first) and the unwind tables are
 * registered (they are, for every loaded object); it neither locks nor allocates then. */
static void on_bt_signal(int sig, siginfo_t *si, void *uc)
{
    int e = errno;
    grove__hub *h = grove__tls_hub;
    grove__hub *want = h;
    if (h && atomic_compare_exchange_strong(&g_bt.armed, &want, NULL)) {
        grove__thread *t = h->current;
        g_bt.still = atomic_load_explicit(&h->switches, memory_order_relaxed) == g_bt.expect;
        g_bt.tid = (int)syscall(SYS_gettid);
        g_bt.id = t->id;
        memcpy(g_bt.name, t->name, sizeof g_bt.name);
        g_bt.name[sizeof g_bt.name - 1] = 0;
        g_bt.n = g_bt.still ? backtrace(g_bt.pcs, 64) : 0;
        sem_post(&g_bt_done);
    }
    errno = e;
}

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)grove__sys_write_raw(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void report_to_fd(const grove_debug_block_report *r, void *arg)
{
    int fd = *(int *)arg;
    char name[48];
    if (r->thread_name[0])
        snprintf(name, sizeof name, "%s", r->thread_name);
    else
        snprintf(name, sizeof name, "thread-%llu", (unsigned long long)r->thread_id);
    say(fd,
        "grove: hub blocked: green thread '%s' (id %llu, OS thread %d) has run for %.0f ms without a "
        "switch point (threshold %.0f ms); its backtrace:\n",
        name, (unsigned long long)r->thread_id, r->os_tid, (double)r->blocked_ns / 1e6, (double)r->threshold_ns / 1e6);
    if (r->npcs > 0)
        backtrace_symbols_fd((void *const *)r->pcs, r->npcs, fd);
    else
        say(fd, "  (none: the OS thread did not take GROVE_DEBUG_SIGNAL)\n");
    say(fd, "grove: (end of blocked-hub report)\n");
}

/* Called with g_hubs_mu held (so h stays alive) for a hub stuck at switch count sw. */
static void report(grove__hub *h, unsigned long sw, int64_t blocked_ns)
{
    grove_debug_block_report r = {.threshold_ns = g_wd_threshold, .blocked_ns = blocked_ns, .thread_name = ""};
    g_bt.expect = sw;
    atomic_store(&g_bt.armed, h);
    int answered = 0;
    if (pthread_kill((pthread_t)h->os_tid, GROVE_DEBUG_SIGNAL) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        while (!(answered = sem_timedwait(&g_bt_done, &ts) == 0) && errno == EINTR) {
        }
    }
    if (!answered && atomic_exchange(&g_bt.armed, NULL) == NULL) {
        sem_wait(&g_bt_done); /* the handler claimed the request just now: it is finishing */
        answered = 1;
    }
    if (answered) {
        if (!g_bt.still)
            return; /* it switched in the meantime: the incident is over */
        r.thread_id = g_bt.id;
        r.thread_name = g_bt.name;
        r.os_tid = g_bt.tid;
        r.pcs = g_bt.pcs;
        r.npcs = g_bt.n;
    } else {
        /* No answer (the signal is blocked there): name the thread from here. The hub has
         * not switched, so its current thread is alive; read it only if that still holds. */
        static char name[32];
        if (atomic_load_explicit(&h->switches, memory_order_relaxed) != sw)
            return;
        grove__thread *t = h->current;
        memcpy(name, t->name, sizeof name);
        name[31] = 0;
        r.thread_id = t->id;
        if (atomic_load_explicit(&h->switches, memory_order_relaxed) != sw)
            return;
        r.thread_name = name;
    }
    atomic_fetch_add(&g_reports, 1);
    g_wd_cb(&r, g_wd_arg);
}

static void *watchdog(void *arg)
{
    pthread_mutex_lock(&g_wd_mu);
    while (!g_wd_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + g_wd_threshold / 4;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&g_wd_cv, &g_wd_mu, &ts);
        if (g_wd_stop)
            break;
        int64_t now = grove_now();
        grove__hubs_lock();
        for (grove__hub *h = grove__hubs; h; h = h->next_hub) {
            unsigned long sw = atomic_load_explicit(&h->switches, memory_order_relaxed);
            if (sw != h->wd_last || atomic_load_explicit(&h->in_poll, memory_order_relaxed) || !h->wd_since) {
                h->wd_last = sw;
                h->wd_since = now;
                continue;
            }
            if (now - h->wd_since > g_wd_threshold && h->wd_reported != sw + 1) {
                h->wd_reported = sw + 1; /* once per incident: until it switches again */
                report(h, sw, now - h->wd_since);
            }
        }
        grove__hubs_unlock();
    }
    pthread_mutex_unlock(&g_wd_mu);
    return NULL;
}

static void wd_init_once(void)
{
    sem_init(&g_bt_done, 0, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_wd_cv, &ca);
    pthread_condattr_destroy(&ca);
    void *pcs[4];
    backtrace(pcs, 4); /* loads libgcc's unwinder now, not in a signal handler */
    struct sigaction sa = {0};
    sa.sa_sigaction = on_bt_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    grove__sys_sigaction(GROVE_DEBUG_SIGNAL, &sa, NULL);
}

static int wd_start(int64_t threshold_ns, grove_debug_block_cb cb, void *arg, int fd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, wd_init_once);
    pthread_mutex_lock(&g_wd_mu);
    if (g_wd_running) {
        pthread_mutex_unlock(&g_wd_mu);
        return -EALREADY;
    }
    g_wd_threshold = threshold_ns > 0 ? threshold_ns : GROVE_MS(100);
    g_wd_fd = fd;
    g_wd_cb = cb;
    g_wd_arg = cb == report_to_fd ? &g_wd_fd : arg;
    g_wd_stop = 0;
    /* The watchdog must not take signals meant for hubs. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&g_wd_thread, NULL, watchdog, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        g_wd_running = 1;
    pthread_mutex_unlock(&g_wd_mu);
    return -rc;
}

/* In a fork child the watchdog thread is gone: start a new one with the same settings. */
static void on_fork_child(void)
{
    pthread_mutex_init(&g_wd_mu, NULL);
    if (!g_wd_running)
        return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_wd_cv, &ca);
    pthread_condattr_destroy(&ca);
    sem_init(&g_bt_done, 0, 0);
    g_wd_running = 0;
    (void)wd_start(g_wd_threshold, g_wd_cb, g_wd_cb == report_to_fd ? NULL : g_wd_arg, g_wd_fd);
}

int grove_debug_watchdog_start(int64_t threshold_ns, int fd) { return wd_start(threshold_ns, report_to_fd, NULL, fd); }

int grove_debug_watchdog_start_cb(int64_t threshold_ns, grove_debug_block_cb cb, void *arg)
{
    if (!cb)
        return -EINVAL;
    return wd_start(threshold_ns, cb, arg, -1);
}

int grove_debug_watchdog_stop(void)
{
    pthread_mutex_lock(&g_wd_mu);
    if (!g_wd_running) {
        pthread_mutex_unlock(&g_wd_mu);
        return -ENOENT;
    }
    g_wd_stop = 1;
    pthread_cond_signal(&g_wd_cv);
    pthread_mutex_unlock(&g_wd_mu);
    pthread_join(g_wd_thread, NULL);
    pthread_mutex_lock(&g_wd_mu);
    g_wd_running = 0;
    pthread_mutex_unlock(&g_wd_mu);
    return 0;
}

unsigned long grove_debug_watchdog_reports(void) { return atomic_load(&g_reports); }

/* ---- Dumps ------------------------------------------------------------------------------------ */

/* Return addresses of a parked thread, from the frame its switch saved. Reads another
 * green thread's stack, which ASan would flag as out of the current fiber. */
__attribute__((no_sanitize_address)) static int walk(const grove__thread *t, void **pcs, int max)
{
    void **sp = t->sp;
    if (!sp)
        return 0;
#if defined(__x86_64__) && !defined(GROVE_CTX_UCONTEXT)
    void *pc = sp[6];
    void **fp = sp[5];
#elif defined(__aarch64__) && !defined(GROVE_CTX_UCONTEXT)
    void *pc = sp[11];
    void **fp = sp[10];
#else
    (void)sp;
    void *pc = NULL;
    void **fp = NULL;
    return 0;
#endif
    int n = 0;
    pcs[n++] = pc;
    while (n < max && (char *)fp >= (char *)t->stack_lo && (char *)(fp + 2) <= (char *)t->stack_hi &&
           !((uintptr_t)fp & 7)) {
        void *ret = fp[1];
        void **next = fp[0];
        if (!ret)
            break;
        pcs[n++] = ret;
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

static const char *state_name(const grove__thread *t, const grove__hub *h)
{
    if (t == h->current)
        return "running";
    switch (t->state) {
    case GROVE__NEW: return "new";
    case GROVE__READY: return "ready";
    case GROVE__PARKED: return "parked";
    case GROVE__DONE: return "done";
    default: return "running";
    }
}

static void dump_one(int fd, grove__hub *h, grove__thread *t, int64_t now)
{
    say(fd, "  #%llu '%s' %s", (unsigned long long)t->id, grove__thread_name(t), state_name(t, h));
    if (t->state == GROVE__PARKED && t != h->current)
        say(fd, ": waiting on %s for %.1f ms", t->wait_what ? t->wait_what : "?", (double)(now - t->park_since) / 1e6);
    if (t->killed & 1)
        say(fd, " (killed)");
    say(fd, "\n");
    void *pcs[32];
    int n = 0;
    if (t == h->current)
        n = backtrace(pcs, 32);
    else if (t->state == GROVE__PARKED || (t->state == GROVE__READY && t->started))
        n = walk(t, pcs, 32);
    if (n > 0)
        backtrace_symbols_fd(pcs, n, fd);
}

int grove_debug_dump(int fd)
{
    int fl = fd < 0 ? -1 : grove__sys_fcntl(fd, F_GETFL, 0);
    if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
        return -EBADF; /* not open, or not for writing */
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    int64_t now = grove_now();
    say(fd, "grove: %zu green threads (+ main) on this hub:\n", h->nlive);
    dump_one(fd, h, &h->main, now);
    for (grove__list *n = h->all.next; n != &h->all; n = n->next)
        dump_one(fd, h, grove__container_of(n, grove__thread, all), now);
    say(fd, "grove: (end of dump)\n");
    return 0;
}

static void dump_handler(int signo, void *arg) { grove_debug_dump(2); }

int grove_debug_dump_on_signal(int signo) { return grove_signal_handle(signo, dump_handler, NULL); }
