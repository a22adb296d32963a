/* Grove subprocesses and signals.
 *
 * Subprocesses: spawn a child with pipes, talk to it with the green I/O calls, wait for
 * it cooperatively. The hub learns that a child exited through a pidfd (Linux 5.3+), so
 * any number of green threads can wait for any number of children, and no SIGCHLD
 * handler is installed. There is deliberately no fallback for kernels older than 5.4
 * (pidfd_open and waitid(P_PIDFD)): grove_proc_spawn fails with ENOSYS there. A fallback
 * would need a SIGCHLD signalfd plus waitpid per child, which steals children from other
 * code in the process that reaps its own. Children are started with posix_spawn (vfork
 * speed), an empty signal mask and default dispositions; only the requested pipe ends
 * and the descriptors listed in grove_proc_opts.fds are inherited (every fd Grove creates
 * is close-on-exec).
 *
 * Signals (gevent.signal_handler): a handled signal is blocked in the calling OS thread
 * and read from a signalfd by the hub; each delivery runs the handler in a new green
 * thread. Block the signal in every other thread too (install handlers before starting
 * threads, which inherit the mask), or the kernel may deliver it to one of them.
 */
#ifndef GROVE_PROC_H
#define GROVE_PROC_H

#include "grove/core.h"

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Subprocesses ------------------------------------------------------------------------ */

#define GROVE_PROC_STDIN 0x1            /* a pipe to the child's stdin (else it inherits ours) */
#define GROVE_PROC_STDOUT 0x2           /* a pipe from its stdout */
#define GROVE_PROC_STDERR 0x4           /* a pipe from its stderr */
#define GROVE_PROC_STDERR_TO_STDOUT 0x8 /* its stderr goes where its stdout goes */

typedef struct grove_proc_opts {
    unsigned flags;    /* GROVE_PROC_* */
    char *const *envp; /* NULL: our environment */
    const char *cwd;   /* NULL: our directory */
    const char *exe;   /* the program to run, argv[0] still being its name; NULL: argv[0] */
    /* Descriptors to hand down, as in systemd's socket activation: fds[i] becomes the
     * child's fd 3 + i, inheritable, whatever its number here and even if another entry
     * (or a requested pipe) would overwrite it first. Ours are left as they are. */
    const int *fds;
    int nfds; /* entries in fds (0..1024; more is EINVAL, as is a negative fd) */
} grove_proc_opts;

typedef struct grove_proc grove_proc;

/* Starts opts->exe or else argv[0] (searched in PATH unless it holds a '/') with
 * arguments argv (NULL-terminated). Never switches. Returns the process, or NULL with errno
 * (ENOENT/EACCES: cannot be executed; EINVAL; EBADF: an entry of opts->fds is not open;
 * EMFILE; ENOMEM; ENOSYS: no pidfd support). Nothing is left running on failure. */
GROVE_API grove_proc *grove_proc_spawn(char *const argv[], const grove_proc_opts *opts);
GROVE_API pid_t grove_proc_pid(const grove_proc *p);
/* Our ends of the pipes (non-blocking, owned by p), or -1 if not requested or closed. */
GROVE_API int grove_proc_stdin(const grove_proc *p);
GROVE_API int grove_proc_stdout(const grove_proc *p);
GROVE_API int grove_proc_stderr(const grove_proc *p);
/* Closes our end of the child's stdin (it sees EOF). Returns 0. */
GROVE_API int grove_proc_close_stdin(grove_proc *p);
/* Waits for the child to exit and returns its wait status (decode with WIFEXITED,
 * WEXITSTATUS, WIFSIGNALED...: always >= 0). Waiting again returns the same status, and
 * several green threads (of p's hub) may wait for the same child at once.
 * Switches while it runs. Returns -ECANCELED / -ETIMEDOUT if interrupted (the child keeps
 * running), or -errno. */
GROVE_API int grove_proc_wait(grove_proc *p);
/* Sends sig to the child (a no-op once it has been waited for). Returns 0 or -errno. */
GROVE_API int grove_proc_kill(grove_proc *p, int sig);
/* Writes in (if the stdin pipe exists; then closes it), reads stdout and stderr (if
 * piped) concurrently to EOF into malloc'ed, NUL-terminated buffers (*out, *err; either
 * pointer may be NULL to discard), and waits for the exit. No deadlock however large the
 * data. Returns the wait status as grove_proc_wait, or -errno (buffers then freed).
 * Switches. */
GROVE_API int grove_proc_communicate(grove_proc *p, const void *in, size_t inlen, char **out, size_t *outlen,
                                     char **err, size_t *errlen);
/* Frees p and closes its pipes. A child not yet waited for is killed (SIGKILL) and
 * reaped first: the caller waits cooperatively for it to be gone (a switch point; other
 * green threads run meanwhile), shielded, so a killed caller still reaps it. Returns 0. */
GROVE_API int grove_proc_free(grove_proc *p);

/* ---- Signals -------------------------------------------------------------------------------- */

/* Runs handler(signo, arg) in a new green thread of the calling OS thread's hub each time
 * signo arrives (deliveries that arrive together may be merged, as with any signal).
 * Replaces a previous handler for signo on this hub. Never switches.
 * Returns 0; -EINVAL (SIGKILL, SIGSTOP, or out of range); -errno from signalfd. */
GROVE_API int grove_signal_handle(int signo, void (*handler)(int signo, void *arg), void *arg);
/* Stops handling signo on this hub and restores the calling OS thread's mask as it was
 * before grove_signal_handle (unblocked unless it was blocked already; a delivery still
 * pending then gets the signal's normal disposition). Never switches (except to wait for
 * the reader service thread when the last handler goes). Returns 0, or -ENOENT if not
 * handled. */
GROVE_API int grove_signal_unhandle(int signo);

#ifdef __cplusplus
}
#endif
#endif
