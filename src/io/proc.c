/* Green subprocesses: posix_spawn with pipes, and a pidfd per child so the hub's epoll
 * says when it exits (no SIGCHLD handler, no reaper thread). */
#include "core/thread.h"
#include "hub/fd.h"

#include "grove/io.h"
#include "grove/proc.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct grove_proc {
    pid_t pid;
    int pidfd;
    int in, out, err;
    int reaped;
    int status;
    int fd_waiter;       /* a green thread waits on pidfd; the others wait on... */
    grove__list waiters; /* ...this list, woken when it stops waiting */
};

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

#define GROVE__PROC_MAX_FDS 1024

static void close_moved(int *moved, int n)
{
    if (!moved)
        return;
    for (int i = 0; i < n; i++)
        if (moved[i] >= 0)
            grove__sys_close(moved[i]);
    free(moved);
}

grove_proc *grove_proc_spawn(char *const argv[], const grove_proc_opts *opts)
{
    if (!argv || !argv[0]) {
        errno = EINVAL;
        return NULL;
    }
    unsigned flags = opts ? opts->flags : 0;
    int nfds = opts ? opts->nfds : 0;
    if (nfds < 0 || nfds > GROVE__PROC_MAX_FDS || (nfds && !opts->fds)) {
        errno = EINVAL;
        return NULL;
    }
    for (int i = 0; i < nfds; i++)
        if (opts->fds[i] < 0) {
            errno = EINVAL;
            return NULL;
        }
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int *moved = NULL; /* fds[i] copied above the child's range 0 .. 3+nfds-1, or -1 */
    grove_proc *p = grove__calloc(1, sizeof *p);
    posix_spawn_file_actions_t fa;
    int fa_ok = 0, e = ENOMEM;
    if (!p || (nfds && !(moved = grove__malloc((size_t)nfds * sizeof *moved))))
        goto fail;
    for (int i = 0; i < nfds; i++)
        moved[i] = -1;
    /* A source inside the target range could be overwritten by an earlier dup2 (a pipe's
     * or another entry's) before its own: copy those out of the way first. */
    for (int i = 0; i < nfds; i++) {
        int fd = opts->fds[i];
        if (fd < 3 + nfds && fd != 3 + i) {
            int c = grove__sys_fcntl(fd, F_DUPFD_CLOEXEC, 3 + nfds);
            if (c < 0) {
                e = -c;
                goto fail;
            }
            moved[i] = c;
        } else if (grove__sys_fcntl(fd, F_GETFD, 0) < 0) {
            e = EBADF;
            goto fail;
        }
    }
    p->in = p->out = p->err = p->pidfd = -1;
    int prc = 0;
    if (((flags & GROVE_PROC_STDIN) && (prc = grove__sys_pipe2(pin, O_CLOEXEC)) < 0) ||
        ((flags & GROVE_PROC_STDOUT) && (prc = grove__sys_pipe2(pout, O_CLOEXEC)) < 0) ||
        ((flags & GROVE_PROC_STDERR) && (prc = grove__sys_pipe2(perr, O_CLOEXEC)) < 0)) {
        e = -prc;
        goto fail;
    }
    if ((e = posix_spawn_file_actions_init(&fa)))
        goto fail;
    fa_ok = 1;
    if (pin[0] >= 0)
        posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    if (pout[1] >= 0)
        posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    if (perr[1] >= 0)
        posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    else if (flags & GROVE_PROC_STDERR_TO_STDOUT)
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* fds[i] -> 3+i after the pipes; dup2 onto itself clears close-on-exec (glibc 2.29+,
     * as POSIX.1-2024 asks). */
    for (int i = 0; i < nfds; i++)
        if ((e = posix_spawn_file_actions_adddup2(&fa, moved[i] >= 0 ? moved[i] : opts->fds[i], 3 + i)))
            goto fail;
    if (opts && opts->cwd && (e = posix_spawn_file_actions_addchdir_np(&fa, opts->cwd)))
        goto fail;
    /* The child starts with default signal dispositions and an empty mask (our hubs may
     * block signals they read from a signalfd). */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    e = posix_spawnp(&p->pid, opts && opts->exe ? opts->exe : argv[0], &fa, &at, argv,
                     opts && opts->envp ? opts->envp : environ);
    posix_spawnattr_destroy(&at);
    if (e)
        goto fail;
    p->pidfd = pidfd_open_(p->pid);
    if (p->pidfd < 0) {
        e = errno;
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        goto fail;
    }
    (void)grove__sys_fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_destroy(&fa);
    close_moved(moved, nfds);
    if (pin[0] >= 0)
        grove__sys_close(pin[0]);
    if (pout[1] >= 0)
        grove__sys_close(pout[1]);
    if (perr[1] >= 0)
        grove__sys_close(perr[1]);
    p->in = pin[1];
    p->out = pout[0];
    p->err = perr[0];
    grove__list_init(&p->waiters);
    /* Our ends are non-blocking and known to the hub from the start (a failure here only
     * defers it to the first green read or write). */
    int ours[] = {p->in, p->out, p->err};
    for (int i = 0; i < 3; i++)
        if (ours[i] >= 0)
            (void)grove__fd_ensure(ours[i]);
    return p;
fail:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    close_moved(moved, nfds);
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            grove__sys_close(pin[i]);
        if (pout[i] >= 0)
            grove__sys_close(pout[i]);
        if (perr[i] >= 0)
            grove__sys_close(perr[i]);
    }
    free(p);
    errno = e;
    return NULL;
}

pid_t grove_proc_pid(const grove_proc *p) { return p ? p->pid : -1; }
int grove_proc_stdin(const grove_proc *p) { return p ? p->in : -1; }
int grove_proc_stdout(const grove_proc *p) { return p ? p->out : -1; }
int grove_proc_stderr(const grove_proc *p) { return p ? p->err : -1; }

int grove_proc_close_stdin(grove_proc *p)
{
    if (p && p->in >= 0) {
        grove_close(p->in);
        p->in = -1;
    }
    return 0;
}

int grove_proc_wait(grove_proc *p)
{
    if (!p)
        return -EINVAL;
    while (!p->reaped) {
        siginfo_t si = {0};
        if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) < 0)
            return -errno;
        if (si.si_pid) {
            int st = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
                                              : (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
            p->status = st;
            p->reaped = 1;
            break;
        }
        /* One green thread waits on the pidfd (the hub allows one reader per fd); any
         * others queue here and re-check when it is done or gives up. */
        int rc;
        if (p->fd_waiter) {
            rc = grove__wait_on(&p->waiters, "proc wait", NULL);
        } else {
            p->fd_waiter = 1;
            rc = grove_wait_fd(p->pidfd, GROVE_READ);
            p->fd_waiter = 0;
            grove__wake_all(&p->waiters, 0, NULL);
        }
        if (rc < 0)
            return rc;
    }
    return p->status;
}

int grove_proc_kill(grove_proc *p, int sig)
{
    if (!p)
        return -EINVAL;
    if (p->reaped)
        return 0;
    return syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

typedef struct sink {
    int fd;
    char *buf;
    size_t len, cap;
    int rc;
} sink;

static void *drain(void *arg)
{
    sink *s = arg;
    for (;;) {
        if (s->len + 4096 + 1 > s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8192;
            char *nb = grove__realloc(s->buf, cap);
            if (!nb) {
                s->rc = -ENOMEM;
                return NULL;
            }
            s->buf = nb;
            s->cap = cap;
        }
        ssize_t n = grove_read(s->fd, s->buf + s->len, s->cap - s->len - 1);
        if (n <= 0) {
            s->rc = (int)n;
            break;
        }
        s->len += (size_t)n;
    }
    if (s->buf)
        s->buf[s->len] = 0;
    return NULL;
}

/* Joins a reader thread that writes into the caller's frame: if the caller is killed or
 * times out meanwhile, the reader is killed and still waited for (uninterruptibly).
 * Returns the caller's interruption, if any. */
static int join_reader(grove_thread *handle)
{
    if (!handle)
        return 0;
    int rc = grove_join(handle, NULL);
    if (rc == 0)
        return 0;
    grove_kill_nowait(handle);
    grove__thread *t = grove__thread_get(handle); /* still joinable: never released meanwhile */
    while (t && t->state != GROVE__DONE) {
        grove__waiter w;
        grove__waiter_init(&w);
        w.nointr = 1;
        grove__list_push(&t->exit_waiters, &w.link);
        grove__park(&w, "communicate");
    }
    grove_detach(handle);
    return rc;
}

int grove_proc_communicate(grove_proc *p, const void *in, size_t inlen, char **out, size_t *outlen, char **err,
                           size_t *errlen)
{
    if (!p)
        return -EINVAL;
    sink so = {.fd = p->out}, se = {.fd = p->err};
    grove_thread *to = p->out >= 0 ? grove_spawn(drain, &so) : NULL;
    grove_thread *te = p->err >= 0 ? grove_spawn(drain, &se) : NULL;
    int rc = 0;
    if ((p->out >= 0 && !to) || (p->err >= 0 && !te))
        rc = -ENOMEM;
    if (rc == 0 && p->in >= 0 && inlen) {
        ssize_t w = grove_sendall(p->in, in, inlen);
        if (w < 0 && w != -EPIPE)
            rc = (int)w;
    }
    grove_proc_close_stdin(p);
    /* The readers must finish even if we are interrupted: they write into our frame. */
    if (rc < 0) {
        if (to)
            grove_kill(to);
        if (te)
            grove_kill(te);
    }
    int jr = join_reader(to);
    rc = rc ? rc : jr;
    jr = join_reader(te);
    rc = rc ? rc : jr;
    if (rc == 0 && so.rc < 0)
        rc = so.rc;
    if (rc == 0 && se.rc < 0)
        rc = se.rc;
    if (rc == 0)
        rc = grove_proc_wait(p);
    if (rc < 0) {
        free(so.buf);
        free(se.buf);
        return rc;
    }
    if (out) {
        *out = so.buf ? so.buf : grove__calloc(1, 1);
        if (outlen)
            *outlen = so.len;
    } else {
        free(so.buf);
    }
    if (err) {
        *err = se.buf ? se.buf : grove__calloc(1, 1);
        if (errlen)
            *errlen = se.len;
    } else {
        free(se.buf);
    }
    return rc;
}

int grove_proc_free(grove_proc *p)
{
    if (!p)
        return 0;
    if (!p->reaped) {
        grove_proc_kill(p, SIGKILL);
        /* A cleanup path: wait cooperatively (the pidfd becomes readable when the child
         * is gone), shielded so that a killed or timed-out caller still reaps it. Only if
         * that fails (another hub's thread waits on the pidfd...) block in waitid: after
         * SIGKILL that is short. */
        grove__thread *self = grove__self();
        unsigned sh = self ? grove__shield_enter(self) : 0;
        int rc = self ? grove_proc_wait(p) : -ENOMEM;
        if (self)
            grove__shield_leave(self, sh);
        if (rc < 0 && !p->reaped) {
            siginfo_t si;
            waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED);
        }
    }
    grove_proc_close_stdin(p);
    if (p->out >= 0)
        grove_close(p->out);
    if (p->err >= 0)
        grove_close(p->err);
    grove_close(p->pidfd);
    free(p);
    return 0;
}
