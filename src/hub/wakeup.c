/* Cross-thread wake-up: other OS threads hand callbacks to a hub through a locked inbox
 * and an eventfd registered with the hub's epoll. The eventfd is written only when the
 * inbox goes from empty to non-empty, so a burst of posts costs one wake-up. */
#include "core/internal.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct post {
    struct post *next;
    void (*fn)(void *);
    void *arg;
} post;

struct grove__inbox {
    pthread_mutex_t mu;
    post *head, **tail;
    int efd;
};

int grove__wakeup_init(grove__hub *h)
{
    if (h->inbox)
        return 0;
    struct grove__inbox *in = calloc(1, sizeof *in);
    if (!in)
        return -ENOMEM;
    in->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->efd < 0) {
        int e = errno;
        free(in);
        return -e;
    }
    pthread_mutex_init(&in->mu, NULL);
    in->tail = &in->head;
    int rc = grove__poller_add_wakeup(h, in->efd);
    if (rc < 0) {
        close(in->efd);
        free(in);
        return rc;
    }
    h->inbox = in;
    return 0;
}

int grove__hub_post(grove__hub *h, void (*fn)(void *), void *arg)
{
    struct grove__inbox *in = h->inbox;   /* created by the hub before anyone posts */
    GROVE_ASSERT(in != NULL);
    post *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&in->mu);
    int was_empty = in->head == NULL;
    *in->tail = p;
    in->tail = &p->next;
    pthread_mutex_unlock(&in->mu);
    if (was_empty) {
        uint64_t one = 1;
        (void)!write(in->efd, &one, sizeof one);
    }
    return 0;
}

void grove__wakeup_drain(grove__hub *h)
{
    struct grove__inbox *in = h->inbox;
    uint64_t v;
    (void)!read(in->efd, &v, sizeof v);
    pthread_mutex_lock(&in->mu);
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
    close(in->efd);
    pthread_mutex_destroy(&in->mu);
    free(in);
    h->inbox = NULL;
}
