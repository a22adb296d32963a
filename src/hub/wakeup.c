/* Cross-thread wake-up: other OS threads hand callbacks to a hub through a locked inbox
 * and an eventfd registered with the hub's epoll. The eventfd is written only when the
 * inbox goes from empty to non-empty, so a burst of posts costs one wake-up.
 *
 * The inbox can outlive its hub: a tpool job may still be running on a pool thread when
 * the OS thread that owns the hub exits. Holders (grove__inbox_hold) keep the inbox alive;
 * once the hub is gone, posts are refused (-ESHUTDOWN) and what was still queued is
 * handed to each post's discard callback, so the poster can clean up instead of touching
 * a freed hub. */
#include "core/hub.h"
#include "hub/fd.h"
#include "hub/wakeup.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct post {
    struct post *next;
    void (*fn)(void *);
    void (*discard)(void *);
    void *arg;
} post;

struct grove__inbox {
    pthread_mutex_t mu;
    post *head, **tail;
    int efd;
    int closed;                     /* the hub is gone */
    size_t holds;                   /* the hub's own hold + one per grove__inbox_hold */
    struct grove__inbox *abandoned; /* next inbox a fork child left behind */
};

/* Inboxes abandoned in fork children: still referenced from here, so leak checkers see
 * them as the parent's memory they are, not as leaks. */
static struct grove__inbox *g_abandoned;

int grove__wakeup_init(grove__hub *h)
{
    if (h->inbox)
        return 0;
    struct grove__inbox *in = grove__calloc(1, sizeof *in);
    if (!in)
        return -ENOMEM;
    in->efd = (int)GROVE__SCF(-EMFILE, SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC, 0, 0, 0, 0);
    if (in->efd < 0) {
        int rc = in->efd;
        grove__free(in);
        return rc;
    }
    pthread_mutex_init(&in->mu, NULL);
    in->tail = &in->head;
    in->holds = 1;
    int rc = grove__fd_add_wakeup(h, in->efd);
    if (rc < 0) {
        grove__sys_close(in->efd);
        pthread_mutex_destroy(&in->mu);
        free(in);
        return rc;
    }
    h->inbox = in;
    return 0;
}

grove__inbox *grove__inbox_hold(grove__hub *h)
{
    int rc = grove__wakeup_init(h);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    grove__inbox *in = h->inbox;
    pthread_mutex_lock(&in->mu);
    in->holds++;
    pthread_mutex_unlock(&in->mu);
    return in;
}

static void inbox_free(grove__inbox *in)
{
    pthread_mutex_destroy(&in->mu);
    free(in);
}

void grove__inbox_release(grove__inbox *in)
{
    pthread_mutex_lock(&in->mu);
    GROVE_ASSERT(in->holds > 0);
    int last = --in->holds == 0;
    pthread_mutex_unlock(&in->mu);
    if (last)
        inbox_free(in);
}

int grove__inbox_post(grove__inbox *in, void (*fn)(void *), void (*discard)(void *), void *arg)
{
    post *p = grove__malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->next = NULL;
    p->fn = fn;
    p->discard = discard;
    p->arg = arg;
    pthread_mutex_lock(&in->mu);
    if (in->closed) {
        pthread_mutex_unlock(&in->mu);
        free(p);
        return -ESHUTDOWN;
    }
    int was_empty = in->head == NULL;
    *in->tail = p;
    in->tail = &p->next;
    /* Written under the lock: the hub closes efd only after taking it and marking the
     * inbox closed. */
    if (was_empty) {
        uint64_t one = 1;
        /* An eventfd write cannot fail here (the counter never nears overflow), so this
         * is no fault injection point: a lost wake-up would hang the hub. */
        (void)grove__sys_write_raw(in->efd, &one, sizeof one);
    }
    pthread_mutex_unlock(&in->mu);
    return 0;
}

int grove__hub_post(grove__hub *h, void (*fn)(void *), void *arg)
{
    GROVE_ASSERT(h->inbox != NULL); /* created by the hub before anyone posts */
    return grove__inbox_post(h->inbox, fn, NULL, arg);
}

void grove__wakeup_drain(grove__hub *h)
{
    struct grove__inbox *in = h->inbox;
    uint64_t v;
    pthread_mutex_lock(&in->mu);
    (void)GROVE__SC(SYS_read, in->efd, &v, sizeof v, 0, 0, 0);
    post *p = in->head;
    in->head = NULL;
    in->tail = &in->head;
    pthread_mutex_unlock(&in->mu);
    while (p) {
        post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

void grove__wakeup_close(grove__hub *h)
{
    struct grove__inbox *in = h->inbox;
    if (!in)
        return;
    h->inbox = NULL;
    pthread_mutex_lock(&in->mu);
    in->closed = 1;
    post *p = in->head;
    in->head = NULL;
    in->tail = &in->head;
    grove__sys_close(in->efd);
    in->efd = -1;
    pthread_mutex_unlock(&in->mu);
    /* Posts that never ran: their waiters belong to green threads abandoned with the hub. */
    while (p) {
        post *next = p->next;
        if (p->discard)
            p->discard(p->arg);
        free(p);
        p = next;
    }
    grove__inbox_release(in); /* the hub's own hold */
}

void grove__wakeup_after_fork(grove__hub *h)
{
    struct grove__inbox *in = h->inbox;
    if (!in)
        return;
    /* Its lock may have been held by a thread that does not exist here, and its eventfd
     * is the parent's too: drop the child's copy of the fd and leave the rest alone. */
    grove__sys_close(in->efd);
    in->abandoned = g_abandoned;
    g_abandoned = in;
    h->inbox = NULL;
}
