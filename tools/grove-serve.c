/* grove-serve: the prefork app server (what Spawning was for eventlet; docs/grove-serve.md).
 *
 * One binary, two roles. The controller parses the options, binds the listeners, and
 * starts workers by fork+exec of itself (so a reload loads APP.so anew from disk), each
 * inheriting the listening sockets as fds 3.. and a status pipe after them. A worker
 * dlopen()s the app, serves every listener with grove-http on its own hub, and writes a
 * heartbeat record to its status pipe; the controller reads every pipe in green threads of
 * its own hub, replaces workers that die or stop beating, and reloads, scales and stops
 * on signals:
 *   SIGHUP   graceful reload: new workers start and accept before the old ones stop
 *   SIGTERM  graceful stop     SIGINT, SIGQUIT  quick stop
 *   SIGTTIN  one worker more   SIGTTOU          one worker fewer
 *   SIGUSR1  reopen the access log (after log rotation), in every worker and hub
 */
#include <grove.h>
#include <grove/app.h>
#include <grove/http.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
extern const grove_app_def grove_builtin_demo_app;

/* ---- Options ------------------------------------------------------------------------------ */

#define MAX_BINDS 16
#define MAX_APP_ARGS 16

static struct {
    const char *bind[MAX_BINDS];
    int nbind;
    const char *app; /* NULL: the built-in demo */
    const char *symbol;
    int workers, threads;
    const char *access_log;
    long max_requests, jitter;
    double graceful, timeout;
    int reload;
    const char *pid_file, *status, *tls_cert, *tls_key;
    int reuse_port;
    grove_http_limits limits;
    char *app_argv[MAX_APP_ARGS];
    int app_argc;
} O = {.workers = 1, .threads = 1, .graceful = 30, .timeout = 30};

static const char USAGE[] =
    "usage: grove-serve [APP.so[:symbol]] [options]\n"
    "Serves a Grove app (a shared object exporting a grove_app_def, include/grove/app.h;\n"
    "the built-in demo app when none is given) with a controller and worker processes.\n"
    "\n"
    "  --bind HOST:PORT | unix:PATH   listen here (repeatable; default 127.0.0.1:8080)\n"
    "  --workers N                    worker processes (default 1)\n"
    "  --threads N                    hubs (OS threads) per worker, for apps whose handlers\n"
    "                                 block; the app must then be thread-safe (default 1)\n"
    "  --access-log FILE|-            Common Log Format access log (default: none)\n"
    "  --max-requests N               recycle a worker after N requests (default: never)\n"
    "  --max-requests-jitter N        add 0..N to each worker's limit (default 0)\n"
    "  --graceful-timeout S           reload/stop: old workers get S seconds to finish (30)\n"
    "  --timeout S                    a worker silent for S seconds is killed and replaced (30)\n"
    "  --reload                       restart workers when APP.so changes on disk\n"
    "  --pid-file FILE                write the controller's pid there\n"
    "  --status HOST:PORT             status page (/ HTML, /status.json JSON)\n"
    "  --tls-cert FILE --tls-key FILE serve HTTPS\n"
    "  --reuse-port                   SO_REUSEPORT on the listeners\n"
    "  --max-body BYTES               request body limit (default 1 MiB)\n"
    "  --max-header-bytes BYTES       request head limit (default 32 KiB)\n"
    "  --header-timeout S             time to send a request head (default 60)\n"
    "  --keepalive-timeout S          idle keep-alive connections are closed after S (75)\n"
    "  --app-arg ARG                  passed to the app's init (repeatable)\n"
    "  --help                         this text\n"
    "Signals: HUP reload, TERM graceful stop, INT/QUIT quick stop, TTIN/TTOU add/remove a worker.\n";

static _Noreturn void die(const char *fmt, const char *a)
{
    fprintf(stderr, "grove-serve: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    exit(2);
}

static long num(const char *opt, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max)
        die("bad value for %s (an integer in range)", opt);
    return n;
}

static double secs(const char *opt, const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= 0) || d > 86400 * 365)
        die("bad value for %s (seconds)", opt);
    return d;
}

static void parse(int argc, char **argv)
{
    enum {
        BIND = 256,
        WORKERS,
        THREADS,
        ALOG,
        MAXREQ,
        JITTER,
        GRACE,
        TIMEOUT,
        RELOAD,
        PIDF,
        STATUS,
        CERT,
        KEY,
        REUSE,
        MAXBODY,
        MAXHEAD,
        HTIMEOUT,
        KATIMEOUT,
        APPARG,
        HELP
    };
    static const struct option lo[] = {{"bind", 1, 0, BIND},
                                       {"workers", 1, 0, WORKERS},
                                       {"threads", 1, 0, THREADS},
                                       {"access-log", 1, 0, ALOG},
                                       {"max-requests", 1, 0, MAXREQ},
                                       {"max-requests-jitter", 1, 0, JITTER},
                                       {"graceful-timeout", 1, 0, GRACE},
                                       {"timeout", 1, 0, TIMEOUT},
                                       {"reload", 0, 0, RELOAD},
                                       {"pid-file", 1, 0, PIDF},
                                       {"status", 1, 0, STATUS},
                                       {"tls-cert", 1, 0, CERT},
                                       {"tls-key", 1, 0, KEY},
                                       {"reuse-port", 0, 0, REUSE},
                                       {"max-body", 1, 0, MAXBODY},
                                       {"max-header-bytes", 1, 0, MAXHEAD},
                                       {"header-timeout", 1, 0, HTIMEOUT},
                                       {"keepalive-timeout", 1, 0, KATIMEOUT},
                                       {"app-arg", 1, 0, APPARG},
                                       {"help", 0, 0, HELP},
                                       {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case BIND:
            if (O.nbind == MAX_BINDS)
                die("too many --bind (at most %s)", "16");
            O.bind[O.nbind++] = optarg;
            break;
        case WORKERS: O.workers = (int)num("--workers", optarg, 1, 1024); break;
        case THREADS: O.threads = (int)num("--threads", optarg, 1, 256); break;
        case ALOG: O.access_log = optarg; break;
        case MAXREQ: O.max_requests = num("--max-requests", optarg, 0, LONG_MAX); break;
        case JITTER: O.jitter = num("--max-requests-jitter", optarg, 0, LONG_MAX / 2); break;
        case GRACE: O.graceful = secs("--graceful-timeout", optarg); break;
        case TIMEOUT: O.timeout = secs("--timeout", optarg); break;
        case RELOAD: O.reload = 1; break;
        case PIDF: O.pid_file = optarg; break;
        case STATUS: O.status = optarg; break;
        case CERT: O.tls_cert = optarg; break;
        case KEY: O.tls_key = optarg; break;
        case REUSE: O.reuse_port = 1; break;
        case MAXBODY: O.limits.max_body = (uint64_t)num("--max-body", optarg, 1, LONG_MAX); break;
        case MAXHEAD: O.limits.max_header_bytes = (size_t)num("--max-header-bytes", optarg, 256, 1 << 24); break;
        case HTIMEOUT: O.limits.header_timeout = (int64_t)(secs("--header-timeout", optarg) * 1e9); break;
        case KATIMEOUT: O.limits.idle_timeout = (int64_t)(secs("--keepalive-timeout", optarg) * 1e9); break;
        case APPARG:
            if (O.app_argc == MAX_APP_ARGS)
                die("too many --app-arg (at most %s)", "16");
            O.app_argv[O.app_argc++] = optarg;
            break;
        case HELP: fputs(USAGE, stdout); exit(0);
        default: die("unknown or incomplete option %s (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        static char app[PATH_MAX];
        snprintf(app, sizeof app, "%s", argv[optind++]);
        char *colon = strrchr(app, ':');
        if (colon && !strchr(colon, '/')) {
            *colon = 0;
            O.symbol = colon + 1;
        }
        O.app = app;
    }
    if (optind < argc)
        die("unexpected argument %s (see --help)", argv[optind]);
    if (!O.nbind)
        O.bind[O.nbind++] = "127.0.0.1:8080";
    if (!O.symbol)
        O.symbol = "grove_app";
    if (!O.tls_cert != !O.tls_key)
        die("%s", "--tls-cert and --tls-key go together");
    if (O.timeout > 0 && O.timeout < 0.2)
        die("%s", "--timeout must be 0 (off) or at least 0.2 s");
}

/* Loads the app (NULL: the built-in demo). Returns its definition, or NULL with a message
 * printed. */
static const grove_app_def *load_app(void **handle)
{
    *handle = NULL;
    if (!O.app)
        return &grove_builtin_demo_app;
    void *h = dlopen(O.app, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "grove-serve: cannot load %s: %s\n", O.app, dlerror());
        return NULL;
    }
    const grove_app_def *def = dlsym(h, O.symbol);
    if (!def) {
        fprintf(stderr, "grove-serve: %s has no symbol %s (an app exports a grove_app_def)\n", O.app, O.symbol);
        dlclose(h);
        return NULL;
    }
    if (def->abi != GROVE_APP_ABI || !def->handle) {
        fprintf(stderr, "grove-serve: %s:%s is not a grove_app_def of ABI %d with a handler\n", O.app, O.symbol,
                GROVE_APP_ABI);
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return def;
}

/* ---- Status records (worker -> controller) ------------------------------------------------- */

enum { REC_READY = 1, REC_BEAT = 2 };
typedef struct rec {
    int type;
    int pad;
    uint64_t requests;
    uint64_t connections;
} rec;

/* ---- Worker -------------------------------------------------------------------------------- */

static volatile int g_stop_worker;
static grove_event g_stop_ev;
static const grove_app_def *g_app;
static void *g_state;
static int g_nlisten;
static grove_tls_ctx *g_tls;

static void on_term(int signo, void *arg)
{
    if (!g_stop_worker) {
        g_stop_worker = 1;
        grove_event_send(&g_stop_ev, NULL);
    }
}

static void on_quit(int signo, void *arg) { _exit(0); }

/* SIGUSR1: every hub reopens its access log; the extra hubs notice the generation. */
static grove_http_server *g_srv[MAX_BINDS];
static _Atomic int g_log_gen;
static void on_usr1(int signo, void *arg)
{
    for (int i = 0; i < g_nlisten; i++)
        if (g_srv[i] && grove_http_server_reopen_log(g_srv[i]) < 0)
            fprintf(stderr, "grove-serve: worker %d: cannot reopen %s: %s\n", (int)getpid(), O.access_log,
                    strerror(errno));
    g_log_gen++;
}

static grove_http_server_opts server_opts(void)
{
    grove_http_server_opts so = {
        .handler = g_app->handle, .arg = g_state, .limits = O.limits, .tls = g_tls, .access_log = O.access_log};
    return so;
}

/* An extra hub of a worker run with --threads: serves the same listeners until told to
 * stop. */
static _Atomic uint64_t g_extra_requests[256], g_extra_conns[256];
static void *extra_hub(void *arg)
{
    int me = (int)(intptr_t)arg;
    grove_http_server_opts so = server_opts(); /* its own appending writer of the access log */
    grove_http_server *srv[MAX_BINDS];
    for (int i = 0; i < g_nlisten; i++)
        srv[i] = grove_http_server_start(3 + i, &so);
    int log_gen = g_log_gen;
    while (!g_stop_worker) {
        if (log_gen != g_log_gen) {
            log_gen = g_log_gen;
            for (int i = 0; i < g_nlisten; i++)
                if (srv[i])
                    grove_http_server_reopen_log(srv[i]);
        }
        /* Counts for the heartbeat, which the main hub writes. */
        uint64_t r = 0, c = 0;
        for (int i = 0; i < g_nlisten; i++)
            if (srv[i]) {
                r += grove_http_server_requests(srv[i]);
                c += grove_http_server_connections(srv[i]);
            }
        g_extra_requests[me] = r;
        g_extra_conns[me] = c;
        grove_sleep(GROVE_MS(50));
    }
    for (int i = 0; i < g_nlisten; i++)
        if (srv[i])
            grove_http_server_stop(srv[i], (int64_t)(O.graceful * 1e9));
    return NULL;
}

static int worker_main(void)
{
    g_nlisten = atoi(getenv("GROVE_SERVE_NLISTEN"));
    int status_fd = 3 + g_nlisten;
    long max_req = atol(getenv("GROVE_SERVE_MAXREQ") ? getenv("GROVE_SERVE_MAXREQ") : "0");
    void *dl;
    g_app = load_app(&dl);
    if (!g_app)
        return 3;
    if (O.tls_cert) {
        grove_tls_opts to = {.cert_file = O.tls_cert, .key_file = O.tls_key};
        g_tls = grove_tls_server_ctx(&to);
        if (!g_tls) {
            fprintf(stderr, "grove-serve: worker %d: TLS: %s\n", (int)getpid(), grove_tls_last_error());
            return 3;
        }
    }
    if (g_app->init) {
        int rc = g_app->init(&g_state, O.app_argc, O.app_argv);
        if (rc < 0) {
            fprintf(stderr, "grove-serve: worker %d: the app's init failed: %s\n", (int)getpid(), grove_strerror(rc));
            return 3;
        }
    }
    grove_event_init(&g_stop_ev);
    grove_signal_handle(SIGTERM, on_term, NULL);
    grove_signal_handle(SIGINT, on_quit, NULL);
    grove_signal_handle(SIGQUIT, on_quit, NULL);
    grove_signal_handle(SIGUSR1, on_usr1, NULL); /* before the extra hubs: they inherit the mask */
    grove_http_server_opts so = server_opts();
    grove_http_server **srv = g_srv;
    for (int i = 0; i < g_nlisten; i++) {
        srv[i] = grove_http_server_start(3 + i, &so);
        if (!srv[i]) {
            fprintf(stderr, "grove-serve: worker %d: cannot serve: %s\n", (int)getpid(), strerror(errno));
            return 3;
        }
    }
    pthread_t extra[256];
    for (int i = 1; i < O.threads; i++)
        pthread_create(&extra[i], NULL, extra_hub, (void *)(intptr_t)i);
    rec r = {.type = REC_READY};
    if (grove_write(status_fd, &r, sizeof r) != sizeof r)
        return 4;
    /* The heartbeat: the hub is alive if it gets here in time; a handler that blocks the
     * OS thread stops it, and the controller notices. */
    int64_t beat = O.timeout > 0 ? (int64_t)(O.timeout * 1e9 / 4) : GROVE_MS(500);
    if (beat > GROVE_MS(500))
        beat = GROVE_MS(500);
    for (;;) {
        uint64_t reqs = 0, conns = 0;
        for (int i = 0; i < g_nlisten; i++) {
            reqs += grove_http_server_requests(srv[i]);
            conns += grove_http_server_connections(srv[i]);
        }
        for (int i = 1; i < O.threads; i++) {
            reqs += g_extra_requests[i];
            conns += g_extra_conns[i];
        }
        r = (rec){.type = REC_BEAT, .requests = reqs, .connections = conns};
        if (grove_write(status_fd, &r, sizeof r) != sizeof r)
            break; /* the controller is gone: stop */
        if (max_req > 0 && reqs >= (uint64_t)max_req)
            break; /* recycle: a new worker takes over */
        grove_timeout to;
        grove_timeout_start(&to, beat);
        int rc = grove_event_wait(&g_stop_ev, NULL);
        grove_timeout_end(&to);
        if (rc == 0 || g_stop_worker)
            break;
    }
    g_stop_worker = 1;
    for (int i = 0; i < g_nlisten; i++)
        grove_close(3 + i); /* stop accepting at once: the new workers take the queue */
    for (int i = 0; i < g_nlisten; i++)
        grove_http_server_stop(srv[i], (int64_t)(O.graceful * 1e9));
    for (int i = 1; i < O.threads; i++)
        pthread_join(extra[i], NULL);
    if (g_app->exit)
        g_app->exit(g_state);
    return 0;
}

/* ---- Controller ------------------------------------------------------------------------------ */

enum { W_STARTING, W_RUNNING, W_STOPPING, W_DEAD };

typedef struct worker {
    struct worker *next;
    grove_proc *proc; /* its pid stays known after the reaping, for the log */
    int fd;           /* status pipe, read end */
    int gen;
    int state;
    int64_t started, last_beat, kill_at;
    int killed_sig;
    int ready_seen, usr1_due; /* its signal handlers are in place; a SIGUSR1 waits for that */
    uint64_t requests, connections;
    grove_event ready; /* sent 1 when READY, 0 when it died first */
} worker;

static struct {
    int lfd[MAX_BINDS];
    char *argv0;
    char **argv;
    worker *workers;
    int target;
    int gen;
    int stopping;
    int64_t started;
    int64_t last_reload;
    long reloads, restarts;
    int64_t backoff_until;
    int fails;
    time_t app_mtime;
    grove_event wake; /* a signal to act on */
    int pending_hup, pending_term, pending_quit, pending_ttin, pending_ttou, pending_usr1;
} C;

__attribute__((format(printf, 1, 2))) static void logmsg(const char *fmt, ...)
{
    char t[32];
    time_t now = time(NULL);
    strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", gmtime(&now));
    fprintf(stderr, "[%s] grove-serve[%d]: ", t, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static size_t live_count(int gen_only)
{
    size_t n = 0;
    for (worker *w = C.workers; w; w = w->next)
        if ((w->state == W_STARTING || w->state == W_RUNNING) && (!gen_only || w->gen == C.gen))
            n++;
    return n;
}

static void *worker_reader(void *arg);

static worker *spawn_worker(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return NULL;
    /* The listeners become the worker's fds 3.., its status pipe the one after them. */
    int fds[MAX_BINDS + 1];
    for (int i = 0; i < O.nbind; i++)
        fds[i] = C.lfd[i];
    fds[O.nbind] = p[1];
    char nl[32], mr[48];
    snprintf(nl, sizeof nl, "GROVE_SERVE_NLISTEN=%d", O.nbind);
    long limit = O.max_requests ? O.max_requests + (O.jitter ? random() % (O.jitter + 1) : 0) : 0;
    snprintf(mr, sizeof mr, "GROVE_SERVE_MAXREQ=%ld", limit);
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = calloc(ne + 4, sizeof *env);
    worker *w = calloc(1, sizeof *w);
    if (!env || !w) {
        free(env);
        free(w);
        close(p[0]);
        close(p[1]);
        errno = ENOMEM;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "GROVE_SERVE_", 12) != 0 || !strncmp(environ[i], "GROVE_SERVE_STATUS_URL=", 23))
            env[k++] = environ[i];
    env[k++] = "GROVE_SERVE_WORKER=1";
    env[k++] = nl;
    env[k++] = mr;
    env[k] = NULL;
    /* The same binary, started afresh with default signal handling and an empty mask. */
    grove_proc_opts po = {.envp = env, .exe = "/proc/self/exe", .fds = fds, .nfds = O.nbind + 1};
    w->proc = grove_proc_spawn(C.argv, &po);
    int e = errno;
    free(env);
    close(p[1]);
    if (!w->proc) {
        close(p[0]);
        free(w);
        errno = e;
        return NULL;
    }
    w->fd = p[0];
    w->gen = C.gen;
    w->state = W_STARTING;
    w->started = w->last_beat = grove_now();
    grove_event_init(&w->ready);
    w->next = C.workers;
    C.workers = w;
    grove_thread *t = grove_spawn(worker_reader, w);
    grove_detach(t);
    return w;
}

/* Reads a worker's status pipe until it closes, then reaps the worker. */
static void *worker_reader(void *arg)
{
    worker *w = arg;
    rec r;
    for (;;) {
        ssize_t n = grove_read(w->fd, &r, sizeof r);
        if (n != sizeof r)
            break;
        w->last_beat = grove_now();
        w->requests = r.requests;
        w->connections = r.connections;
        if (r.type == REC_READY && !w->ready_seen) {
            w->ready_seen = 1;
            if (w->usr1_due)
                grove_proc_kill(w->proc, SIGUSR1);
        }
        if (r.type == REC_READY && w->state == W_STARTING) {
            w->state = W_RUNNING;
            grove_event_send(&w->ready, (void *)1);
        }
    }
    grove_close(w->fd);
    /* The pipe closes when the worker exits: reap it. */
    int st = grove_proc_wait(w->proc);
    int was = w->state;
    w->state = W_DEAD;
    if (!grove_event_ready(&w->ready))
        grove_event_send(&w->ready, (void *)0);
    if (was != W_STOPPING && !C.stopping) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            logmsg("worker %d recycled (max requests)", (int)grove_proc_pid(w->proc));
        else if (WIFSIGNALED(st))
            logmsg("worker %d died of signal %d; replacing it", (int)grove_proc_pid(w->proc), WTERMSIG(st));
        else
            logmsg("worker %d exited with status %d; replacing it", (int)grove_proc_pid(w->proc), WEXITSTATUS(st));
        if (was == W_STARTING) { /* died at start: back off */
            C.fails++;
            int64_t d = GROVE_MS(100) << (C.fails < 6 ? C.fails : 6);
            C.backoff_until = grove_now() + d;
        } else {
            C.fails = 0;
        }
        C.restarts++;
        grove_event_send(&C.wake, NULL);
    }
    return NULL;
}

static void reap_list(void)
{
    for (worker **pp = &C.workers; *pp;) {
        worker *w = *pp;
        if (w->state == W_DEAD) {
            *pp = w->next;
            grove_event_destroy(&w->ready);
            grove_proc_free(w->proc); /* already reaped: closes its pidfd */
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

static void stop_worker(worker *w, int sig, double grace)
{
    if (w->state == W_DEAD)
        return;
    w->state = W_STOPPING;
    w->kill_at = grove_now() + (int64_t)(grace * 1e9) + GROVE_SEC(1);
    grove_proc_kill(w->proc, sig);
}

/* Starts n workers of the current generation and waits until each is ready or died.
 * Returns how many became ready. */
static int start_workers(int n)
{
    worker *ws[1024];
    int k = 0;
    for (int i = 0; i < n && k < 1024; i++) {
        worker *w = spawn_worker();
        if (!w) {
            logmsg("cannot start a worker: %s", strerror(errno));
            continue;
        }
        ws[k++] = w;
    }
    int ready = 0;
    for (int i = 0; i < k; i++) {
        grove_timeout to;
        grove_timeout_start(&to, GROVE_SEC(60));
        void *v = NULL;
        grove_event_wait(&ws[i]->ready, &v);
        grove_timeout_end(&to);
        ready += v != NULL;
    }
    return ready;
}

static void reload(const char *why)
{
    int old = C.gen;
    C.gen++;
    logmsg("reloading (%s): starting %d new workers", why, C.target);
    int ready = start_workers(C.target);
    if (ready == 0) {
        logmsg("reload failed: no new worker started; keeping the old ones");
        for (worker *w = C.workers; w; w = w->next)
            if (w->gen == C.gen)
                stop_worker(w, SIGKILL, 0);
        C.gen = old;
        return;
    }
    for (worker *w = C.workers; w; w = w->next)
        if (w->gen < C.gen && w->state != W_DEAD && w->state != W_STOPPING)
            stop_worker(w, SIGTERM, O.graceful);
    C.reloads++;
    C.last_reload = grove_now();
    logmsg("reloaded: %d new workers serving", ready);
}

static void on_signal(int signo, void *arg)
{
    switch (signo) {
    case SIGHUP: C.pending_hup = 1; break;
    case SIGTERM: C.pending_term = 1; break;
    case SIGINT:
    case SIGQUIT: C.pending_quit = 1; break;
    case SIGTTIN: C.pending_ttin++; break;
    case SIGTTOU: C.pending_ttou++; break;
    case SIGUSR1: C.pending_usr1 = 1; break;
    }
    grove_event_send(&C.wake, NULL);
}

/* ---- Status ---------------------------------------------------------------------------------- */

static const char *state_name(int s)
{
    return s == W_STARTING ? "starting" : s == W_RUNNING ? "running" : s == W_STOPPING ? "stopping" : "dead";
}

static int status_json(char *out, size_t size)
{
    int64_t now = grove_now();
    size_t o =
        (size_t)snprintf(out, size,
                         "{\"pid\":%d,\"uptime_s\":%.1f,\"generation\":%d,\"reloads\":%ld,"
                         "\"last_reload_s_ago\":%s%.1f,\"restarts\":%ld,\"target_workers\":%d,\"workers\":[",
                         (int)getpid(), (double)(now - C.started) / 1e9, C.gen, C.reloads, C.last_reload ? "" : "-",
                         C.last_reload ? (double)(now - C.last_reload) / 1e9 : 1.0, C.restarts, C.target);
    int first = 1;
    for (worker *w = C.workers; w && o < size; w = w->next) {
        if (w->state == W_DEAD)
            continue;
        o += (size_t)snprintf(out + o, size - o,
                              "%s{\"pid\":%d,\"generation\":%d,\"state\":\"%s\",\"age_s\":%.1f,\"requests\":%llu,"
                              "\"connections\":%llu,\"last_beat_s_ago\":%.2f}",
                              first ? "" : ",", (int)grove_proc_pid(w->proc), w->gen, state_name(w->state),
                              (double)(now - w->started) / 1e9, (unsigned long long)w->requests,
                              (unsigned long long)w->connections, (double)(now - w->last_beat) / 1e9);
        first = 0;
    }
    if (o < size)
        o += (size_t)snprintf(out + o, size - o, "]}\n");
    return o < size ? (int)o : (int)size - 1;
}

static int status_handler(grove_http_req *req, void *arg)
{
    static char json[65536];
    int n = status_json(json, sizeof json);
    const char *path = grove_http_req_path(req);
    if (!strcmp(path, "/status.json"))
        return grove_http_respond(req, 200, "application/json", json, (size_t)n);
    if (strcmp(path, "/"))
        return grove_http_respond(req, 404, "text/plain", "not found\n", 10);
    static char html[70000];
    int64_t now = grove_now();
    size_t o = (size_t)snprintf(html, sizeof html,
                                "<!doctype html><html><head><meta charset=utf-8><title>grove-serve status</title>"
                                "<meta http-equiv=refresh content=2></head><body style=\"font-family:sans-serif\">"
                                "<h1>grove-serve</h1><p>controller pid %d, up %.0f s, generation %d, %ld reloads, "
                                "%ld restarts</p><table border=1 cellpadding=4><tr><th>pid</th><th>generation</th>"
                                "<th>state</th><th>age (s)</th><th>requests</th><th>connections</th></tr>",
                                (int)getpid(), (double)(now - C.started) / 1e9, C.gen, C.reloads, C.restarts);
    for (worker *w = C.workers; w && o < sizeof html; w = w->next)
        if (w->state != W_DEAD)
            o += (size_t)snprintf(html + o, sizeof html - o,
                                  "<tr><td>%d</td><td>%d</td><td>%s</td><td>%.0f</td><td>%llu</td><td>%llu</td></tr>",
                                  (int)grove_proc_pid(w->proc), w->gen, state_name(w->state),
                                  (double)(now - w->started) / 1e9, (unsigned long long)w->requests,
                                  (unsigned long long)w->connections);
    if (o < sizeof html)
        o += (size_t)snprintf(html + o, sizeof html - o, "</table><p><a href=/status.json>JSON</a></p></body></html>");
    return grove_http_respond(req, 200, "text/html; charset=utf-8", html, o < sizeof html ? o : sizeof html - 1);
}

static time_t app_mtime(void)
{
    struct stat st;
    return O.app && stat(O.app, &st) == 0 ? st.st_mtime * 1000000000L + st.st_mtim.tv_nsec : 0;
}

static int controller_main(void)
{
    /* Check the app before anything starts: a bad APP.so is one clear line and exit 1. */
    void *dl;
    const grove_app_def *def = load_app(&dl);
    if (!def)
        return 1;
    if (dl)
        dlclose(dl);
    for (int i = 0; i < O.nbind; i++) {
        C.lfd[i] = grove_listen_opts(O.bind[i], 4096, O.reuse_port ? GROVE_LISTEN_REUSEPORT : 0);
        if (C.lfd[i] < 0) {
            fprintf(stderr, "grove-serve: cannot listen on %s: %s\n", O.bind[i], grove_strerror(C.lfd[i]));
            return 1;
        }
    }
    if (O.pid_file) {
        FILE *f = fopen(O.pid_file, "w");
        if (!f) {
            fprintf(stderr, "grove-serve: cannot write %s: %s\n", O.pid_file, strerror(errno));
            return 1;
        }
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
    grove_http_server *st = NULL;
    int sfd = -1;
    if (O.status) {
        sfd = grove_listen(O.status, 128);
        if (sfd < 0) {
            fprintf(stderr, "grove-serve: cannot listen on %s (status): %s\n", O.status, grove_strerror(sfd));
            return 1;
        }
        grove_http_server_opts so = {.handler = status_handler};
        st = grove_http_server_start(sfd, &so);
        char url[300];
        snprintf(url, sizeof url, "http://%s/", O.status);
        setenv("GROVE_SERVE_STATUS_URL", url, 1);
    }
    grove_event_init(&C.wake);
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        grove_signal_handle(sigs[i], on_signal, NULL);
    signal(SIGPIPE, SIG_IGN);
    C.started = grove_now();
    C.target = O.workers;
    C.gen = 1;
    C.app_mtime = app_mtime();
    srandom((unsigned)getpid());
    if (start_workers(C.target) == 0) {
        fprintf(stderr, "grove-serve: no worker could start (see the messages above)\n");
        for (worker *w = C.workers; w; w = w->next)
            if (w->state != W_DEAD)
                grove_proc_kill(w->proc, SIGKILL);
        return 1;
    }
    fprintf(stderr, "grove-serve: serving %s with %d worker%s on %s%s\n", O.app ? O.app : "the demo app", C.target,
            C.target > 1 ? "s" : "", O.bind[0], O.nbind > 1 ? " and more" : "");
    int64_t next_mtime_check = grove_now() + GROVE_SEC(1);
    while (!C.stopping) {
        grove_timeout to;
        grove_timeout_start(&to, GROVE_MS(100));
        grove_event_wait(&C.wake, NULL);
        grove_timeout_end(&to);
        grove_event_reset(&C.wake);
        int64_t now = grove_now();
        if (C.pending_quit) {
            C.stopping = 1;
            for (worker *w = C.workers; w; w = w->next)
                stop_worker(w, SIGQUIT, 0);
            break;
        }
        if (C.pending_term) {
            C.stopping = 1;
            break;
        }
        if (C.pending_usr1) {
            C.pending_usr1 = 0;
            int n = 0;
            for (worker *w = C.workers; w; w = w->next) {
                if (w->state == W_DEAD)
                    continue;
                if (w->ready_seen)
                    n += grove_proc_kill(w->proc, SIGUSR1) == 0;
                else
                    w->usr1_due = 1;
            }
            logmsg("SIGUSR1: %d workers reopen the access log", n);
        }
        if (C.pending_hup) {
            C.pending_hup = 0;
            reload("SIGHUP");
        }
        if (O.reload && now >= next_mtime_check) {
            next_mtime_check = now + GROVE_SEC(1);
            time_t m = app_mtime();
            if (m && m != C.app_mtime) {
                C.app_mtime = m;
                reload("APP.so changed");
            }
        }
        for (; C.pending_ttin; C.pending_ttin--)
            C.target++;
        for (; C.pending_ttou; C.pending_ttou--)
            if (C.target > 1)
                C.target--;
        /* Heartbeats and stragglers. */
        for (worker *w = C.workers; w; w = w->next) {
            if (w->state == W_RUNNING && O.timeout > 0 && now - w->last_beat > (int64_t)(O.timeout * 1e9)) {
                logmsg("worker %d silent for %lld ms: killing it", (int)grove_proc_pid(w->proc),
                       (long long)((now - w->last_beat) / 1000000));
                w->state = W_STOPPING;
                w->kill_at = now + GROVE_SEC(2);
                grove_proc_kill(w->proc, SIGABRT);
                C.restarts++;
            } else if (w->state == W_STOPPING && w->kill_at && now > w->kill_at) {
                grove_proc_kill(w->proc, SIGKILL);
                w->kill_at = 0;
            }
        }
        reap_list();
        /* Keep the target count: replace the missing, retire the extra. */
        int live = (int)live_count(1);
        if (live < C.target && now >= C.backoff_until)
            for (int i = live; i < C.target; i++)
                spawn_worker();
        for (worker *w = C.workers; w && live > C.target; w = w->next)
            if (w->gen == C.gen && (w->state == W_RUNNING || w->state == W_STARTING)) {
                stop_worker(w, SIGTERM, O.graceful);
                live--;
            }
    }
    /* Stopping: graceful (TERM) lets workers finish, then closes the listeners. */
    logmsg("stopping %s", C.pending_quit ? "quickly" : "gracefully");
    for (worker *w = C.workers; w; w = w->next)
        if (w->state != W_STOPPING)
            stop_worker(w, C.pending_quit ? SIGQUIT : SIGTERM, O.graceful);
    int64_t end = grove_now() + (int64_t)(O.graceful * 1e9) + GROVE_SEC(2);
    for (;;) {
        int alive = 0;
        for (worker *w = C.workers; w; w = w->next)
            alive += w->state != W_DEAD;
        if (!alive)
            break;
        if (grove_now() > end) {
            for (worker *w = C.workers; w; w = w->next)
                if (w->state != W_DEAD)
                    grove_proc_kill(w->proc, SIGKILL);
            end = grove_now() + GROVE_SEC(5);
        }
        grove_sleep(GROVE_MS(20));
    }
    for (int i = 0; i < O.nbind; i++)
        grove_close(C.lfd[i]);
    if (st)
        grove_http_server_stop(st, GROVE_SEC(1));
    if (sfd >= 0)
        grove_close(sfd);
    if (O.pid_file)
        unlink(O.pid_file);
    return 0;
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    C.argv = argv;
    if (getenv("GROVE_SERVE_WORKER"))
        return worker_main();
    return controller_main();
}
