/* The queue family: FIFO, LIFO and priority; unbounded, bounded and rendezvous.
 *
 * Items move in three ways, always without losing one:
 * - a put that finds a getter waiting (the queue is then empty) hands the item to it
 *   directly (grove__wake carries it), so the getter owns it even if it is killed before
 *   it runs again;
 * - a put that cannot store waits as a putter holding its item in its waiter; a get or a
 *   resize that makes room moves that item into the queue (or to the getter) and wakes it;
 * - an interrupted (killed, timed-out) putter or getter is unlinked by the hub before any
 *   item reaches it, so its put stored nothing and its get took nothing.
 * Storage is a growable array used as a ring (FIFO), a stack (LIFO) or a binary heap
 * ordered by (cmp, insertion sequence) so equal priorities come out FIFO.
 */
#include "sync/sync.h"

struct grove_queue_entry_ {
    void *item;
    uint64_t seq;
};
typedef struct grove_queue_entry_ entry;

int grove_queue_init(grove_queue *q, int kind, long maxsize, int (*cmp)(const void *, const void *))
{
    if (!q || kind < GROVE_QUEUE_FIFO || kind > GROVE_QUEUE_PRIORITY || (kind == GROVE_QUEUE_PRIORITY && !cmp))
        return -EINVAL;
    memset(q, 0, sizeof *q);
    grove__list_init(WL(&q->getters_));
    grove__list_init(WL(&q->putters_));
    grove__list_init(WL(&q->joiners_));
    q->kind_ = kind;
    q->maxsize_ = maxsize < 0 ? -1 : maxsize;
    q->cmp_ = cmp;
    return 0;
}

int grove_queue_destroy(grove_queue *q)
{
    if (!q)
        return -EINVAL;
    if (!grove__list_empty(WL(&q->getters_)) || !grove__list_empty(WL(&q->putters_)) ||
        !grove__list_empty(WL(&q->joiners_)))
        return -EBUSY;
    free(q->v_);
    q->v_ = NULL;
    q->cap_ = q->n_ = q->head_ = 0;
    return 0;
}

static int before(const grove_queue *q, const entry *a, const entry *b)
{
    int c = q->cmp_(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int grow(grove_queue *q)
{
    size_t cap = q->cap_ ? q->cap_ * 2 : 16;
    entry *v = grove__malloc(cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < q->n_; i++) /* unroll the ring */
        v[i] = q->v_[(q->head_ + i) % (q->cap_ ? q->cap_ : 1)];
    free(q->v_);
    q->v_ = v;
    q->cap_ = cap;
    q->head_ = 0;
    return 0;
}

static int store(grove_queue *q, void *item)
{
    if (q->n_ == q->cap_ && grow(q) < 0)
        return -ENOMEM;
    entry e = {item, q->seq_++};
    if (q->kind_ == GROVE_QUEUE_FIFO) {
        q->v_[(q->head_ + q->n_) % q->cap_] = e;
    } else if (q->kind_ == GROVE_QUEUE_LIFO) {
        q->v_[q->n_] = e;
    } else {
        size_t i = q->n_;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!before(q, &e, &q->v_[p]))
                break;
            q->v_[i] = q->v_[p];
            i = p;
        }
        q->v_[i] = e;
    }
    q->n_++;
    return 0;
}

static void *take(grove_queue *q)
{
    void *item;
    if (q->kind_ == GROVE_QUEUE_FIFO) {
        item = q->v_[q->head_].item;
        q->head_ = (q->head_ + 1) % q->cap_;
        q->n_--;
    } else if (q->kind_ == GROVE_QUEUE_LIFO) {
        item = q->v_[--q->n_].item;
    } else {
        item = q->v_[0].item;
        entry last = q->v_[--q->n_];
        size_t i = 0, n = q->n_;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && before(q, &q->v_[c + 1], &q->v_[c]))
                c++;
            if (!before(q, &q->v_[c], &last))
                break;
            q->v_[i] = q->v_[c];
            i = c;
        }
        if (n)
            q->v_[i] = last;
    }
    return item;
}

static int has_room(const grove_queue *q) { return q->maxsize_ < 0 || q->n_ < (size_t)q->maxsize_; }

/* Moves blocked putters' items into the queue while there is room. */
static void admit_putters(grove_queue *q)
{
    grove__waiter *w;
    while (has_room(q) && (w = first_waiter(WL(&q->putters_)))) {
        if (store(q, w->value) < 0)
            return;       /* out of memory: they keep waiting */
        q->unfinished_++; /* counted when the item enters, not when its putter resumes */
        grove__wake(w, 0, NULL);
    }
}

static int put(grove_queue *q, void *item, int wait)
{
    if (!q)
        return -EINVAL;
    if (q->closed_)
        return -EPIPE;
    grove__waiter *g = first_waiter(WL(&q->getters_));
    if (g) {
        q->unfinished_++;
        grove__wake(g, 0, item); /* the queue is empty: hand it over */
        return 0;
    }
    if (has_room(q)) {
        int rc = store(q, item);
        if (rc == 0)
            q->unfinished_++;
        return rc;
    }
    if (!wait)
        return -EAGAIN;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    grove__waiter w;
    grove__waiter_init(&w);
    w.value = item; /* taken from here by whoever makes room */
    int rc = grove__check(grove__running(h));
    if (rc)
        return rc;
    grove__list_push(WL(&q->putters_), &w.link);
    return grove__park(&w, "queue put"); /* 0: taken, and counted by the taker */
}

int grove_queue_put(grove_queue *q, void *item) { return put(q, item, 1); }
int grove_queue_try_put(grove_queue *q, void *item) { return put(q, item, 0); }

static int get(grove_queue *q, void **item, int wait)
{
    if (!q)
        return -EINVAL;
    void *it;
    if (q->n_) {
        it = take(q);
        admit_putters(q);
    } else {
        grove__waiter *p = first_waiter(WL(&q->putters_));
        if (p) { /* rendezvous (or shrunk to 0): take straight from the putter */
            it = p->value;
            q->unfinished_++; /* before a task_done for it can come */
            grove__wake(p, 0, NULL);
        } else if (q->closed_) {
            return -EPIPE;
        } else if (!wait) {
            return -EAGAIN;
        } else {
            int rc = sync_wait(WL(&q->getters_), "queue get", &it);
            if (rc < 0)
                return rc;
        }
    }
    if (item)
        *item = it;
    return 0;
}

int grove_queue_get(grove_queue *q, void **item) { return get(q, item, 1); }
int grove_queue_try_get(grove_queue *q, void **item) { return get(q, item, 0); }

size_t grove_queue_size(const grove_queue *q) { return q ? q->n_ : 0; }
size_t grove_queue_getting(const grove_queue *q) { return q ? grove__list_count(WL_C(&q->getters_)) : 0; }
size_t grove_queue_putting(const grove_queue *q) { return q ? grove__list_count(WL_C(&q->putters_)) : 0; }

int grove_queue_resize(grove_queue *q, long maxsize)
{
    if (!q)
        return -EINVAL;
    q->maxsize_ = maxsize < 0 ? -1 : maxsize;
    /* With getters waiting the queue is empty, and with a rendezvous putter waiting no
     * getter is: growing only ever moves putters' items into storage. */
    admit_putters(q);
    return 0;
}

int grove_queue_close(grove_queue *q)
{
    if (!q)
        return -EINVAL;
    q->closed_ = 1;
    grove__wake_all(WL(&q->putters_), -EPIPE, NULL);
    grove__wake_all(WL(&q->getters_), -EPIPE, NULL); /* they only wait when it is empty */
    return 0;
}

int grove_queue_task_done(grove_queue *q)
{
    if (!q || q->unfinished_ == 0)
        return -EINVAL;
    if (--q->unfinished_ == 0)
        grove__wake_all(WL(&q->joiners_), 0, NULL);
    return 0;
}

int grove_queue_join(grove_queue *q)
{
    if (!q)
        return -EINVAL;
    while (q->unfinished_) {
        int rc = sync_wait(WL(&q->joiners_), "queue join", NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int grove_chan_init(grove_chan *ch) { return grove_queue_init(ch, GROVE_QUEUE_FIFO, GROVE_QUEUE_RENDEZVOUS, NULL); }
int grove_chan_send(grove_chan *ch, void *item) { return grove_queue_put(ch, item); }
int grove_chan_recv(grove_chan *ch, void **item) { return grove_queue_get(ch, item); }
int grove_chan_close(grove_chan *ch) { return grove_queue_close(ch); }
int grove_chan_destroy(grove_chan *ch) { return grove_queue_destroy(ch); }
