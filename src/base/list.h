/* Intrusive doubly linked lists (circular, with a head node), as libuv's queue.h. */
#ifndef GROVE_BASE_LIST_H
#define GROVE_BASE_LIST_H

#include <stddef.h>

typedef struct grove__list {
    struct grove__list *next, *prev;
} grove__list;

static inline void grove__list_init(grove__list *h) { h->next = h->prev = h; }
static inline int grove__list_empty(const grove__list *h) { return h->next == h; }
static inline int grove__list_linked(const grove__list *n) { return n->next != NULL; }
static inline void grove__list_push(grove__list *h, grove__list *n) /* at the tail */
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
static inline void grove__list_push_front(grove__list *h, grove__list *n)
{
    n->next = h->next;
    n->prev = h;
    h->next->prev = n;
    h->next = n;
}
static inline void grove__list_remove(grove__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}
static inline grove__list *grove__list_pop(grove__list *h) /* from the head, or NULL */
{
    grove__list *n = h->next;
    if (n == h)
        return NULL;
    grove__list_remove(n);
    return n;
}
/* Pops the head without clearing its links (for the run queue, whose links nobody tests). */
static inline grove__list *grove__list_pop_fast(grove__list *h)
{
    grove__list *n = h->next;
    if (n == h)
        return NULL;
    h->next = n->next;
    n->next->prev = h;
    return n;
}
static inline size_t grove__list_count(const grove__list *h)
{
    size_t n = 0;
    for (const grove__list *p = h->next; p != h; p = p->next)
        n++;
    return n;
}

#endif
