/* Timers: a binary min-heap of pointers, ordered by deadline and then by insertion
 * sequence, so timers with equal deadlines fire in the order they were added. Each timer
 * records its index, which makes removal O(log n). The array grows by doubling and never
 * shrinks, so a steady state allocates nothing. */
#include "core/hub.h"

static inline int before(const grove__timer *a, const grove__timer *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->seq < b->seq;
}

static inline void place(grove__heap *hp, size_t i, grove__timer *tm)
{
    hp->v[i] = tm;
    tm->idx = i;
}

static void sift_up(grove__heap *hp, size_t i)
{
    grove__timer *tm = hp->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(tm, hp->v[parent]))
            break;
        place(hp, i, hp->v[parent]);
        i = parent;
    }
    place(hp, i, tm);
}

static void sift_down(grove__heap *hp, size_t i)
{
    grove__timer *tm = hp->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= hp->n)
            break;
        if (c + 1 < hp->n && before(hp->v[c + 1], hp->v[c]))
            c++;
        if (!before(hp->v[c], tm))
            break;
        place(hp, i, hp->v[c]);
        i = c;
    }
    place(hp, i, tm);
}

int grove__heap_push(grove__heap *hp, grove__timer *tm)
{
    if (hp->n == hp->cap) {
        size_t cap = hp->cap ? hp->cap * 2 : 64;
        grove__timer **v = grove__realloc(hp->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        hp->v = v;
        hp->cap = cap;
    }
    hp->v[hp->n] = tm;
    tm->idx = hp->n++;
    sift_up(hp, tm->idx);
    return 0;
}

void grove__heap_remove(grove__heap *hp, grove__timer *tm)
{
    size_t i = tm->idx;
    GROVE_ASSERT(i < hp->n && hp->v[i] == tm);
    tm->idx = GROVE__TIMER_IDLE;
    grove__timer *last = hp->v[--hp->n];
    if (i == hp->n)
        return;
    place(hp, i, last);
    if (i > 0 && before(last, hp->v[(i - 1) / 2]))
        sift_up(hp, i);
    else
        sift_down(hp, i);
}

void grove__heap_free(grove__heap *hp)
{
    free(hp->v);
    hp->v = NULL;
    hp->n = hp->cap = 0;
}

int grove__timer_add(grove__hub *h, grove__timer *tm, int64_t deadline, void (*cb)(grove__timer *))
{
    GROVE_ASSERT(tm->idx == GROVE__TIMER_IDLE);
    tm->deadline = deadline;
    tm->seq = h->timer_seq++;
    tm->cb = cb;
    return grove__heap_push(&h->timers, tm);
}

void grove__timer_del(grove__hub *h, grove__timer *tm)
{
    if (tm->idx != GROVE__TIMER_IDLE)
        grove__heap_remove(&h->timers, tm);
}

void grove__heap_filter(grove__heap *hp, int (*drop)(grove__timer *tm, void *ctx), void *ctx)
{
    size_t k = 0;
    for (size_t i = 0; i < hp->n; i++)
        if (!drop(hp->v[i], ctx))
            hp->v[k++] = hp->v[i]; /* a dropped timer is never touched again */
    if (k == hp->n)
        return;
    hp->n = k;
    for (size_t i = 0; i < k; i++)
        hp->v[i]->idx = i;
    for (size_t i = k / 2; i-- > 0;)
        sift_down(hp, i);
}
