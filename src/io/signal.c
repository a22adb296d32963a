/* Signals as green threads: the hub reads handled signals from a signalfd in a service
 * thread and spawns a green thread running the handler for each delivery. */
#include "core/thread.h"

#include "grove/io.h"
#include "grove/proc.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct sig_entry {
    void (*handler)(int, void *);
    void *arg;
    int was_blocked; /* in this thread's mask before we handled it: unhandle keeps it so */
} sig_entry;

/* Per hub; found through the hub's TLS (one set of handlers per OS thread). */
static __thread struct {
    int fd;
    sigset_t set;
    sig_entry e[_NSIG];
    grove_thread *reader;
    int n;
} t_sig = {.fd = -1};

typedef struct delivery {
    int signo;
    sig_entry e;
} delivery;

static void run_handler(void *arg)
{
    delivery *d = arg;
    delivery copy = *d;
    free(d);
    copy.e.handler(copy.signo, copy.e.arg);
}

static void *reader(void *unused)
{
    struct signalfd_siginfo si[16];
    for (;;) {
        ssize_t n = grove_read(t_sig.fd, si, sizeof si);
        if (n < 0)
            return NULL; /* killed by unhandle */
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            if (signo <= 0 || signo >= _NSIG || !t_sig.e[signo].handler)
                continue;
            delivery *d = grove__malloc(sizeof *d);
            if (!d)
                continue;
            d->signo = signo;
            d->e = t_sig.e[signo];
            if (grove_spawn_n(run_handler, d) < 0)
                free(d);
        }
    }
}

int grove_signal_handle(int signo, void (*handler)(int, void *), void *arg)
{
    if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP || !handler)
        return -EINVAL;
    if (!grove__hub_get())
        return -ENOMEM;
    if (t_sig.fd < 0)
        sigemptyset(&t_sig.set);
    sigset_t set = t_sig.set;
    sigaddset(&set, signo);
    int fd = signalfd(t_sig.fd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, &old);
    t_sig.fd = fd;
    t_sig.set = set;
    if (!t_sig.e[signo].handler) {
        t_sig.n++;
        t_sig.e[signo].was_blocked = sigismember(&old, signo) == 1;
    }
    t_sig.e[signo].handler = handler;
    t_sig.e[signo].arg = arg;
    if (!t_sig.reader) {
        t_sig.reader = grove__spawn_daemon(reader, NULL, "signals");
        if (!t_sig.reader) {
            grove_signal_unhandle(signo);
            return -ENOMEM;
        }
    }
    return 0;
}

int grove_signal_unhandle(int signo)
{
    if (signo <= 0 || signo >= _NSIG || !t_sig.e[signo].handler)
        return -ENOENT;
    t_sig.e[signo].handler = NULL;
    t_sig.n--;
    sigdelset(&t_sig.set, signo);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (t_sig.n == 0) {
        if (t_sig.reader) {
            grove_kill(t_sig.reader);
            grove_join(t_sig.reader, NULL);
            t_sig.reader = NULL;
        }
        grove_close(t_sig.fd);
        t_sig.fd = -1;
    } else {
        signalfd(t_sig.fd, &t_sig.set, SFD_NONBLOCK | SFD_CLOEXEC);
    }
    if (!t_sig.e[signo].was_blocked)
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    return 0;
}
