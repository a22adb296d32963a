/* Internal helpers shared by the sync primitives. */
#ifndef GROVE_SYNC_INTERNAL_H
#define GROVE_SYNC_INTERNAL_H

#include "core/thread.h"

_Static_assert(sizeof(grove_wlist_) == sizeof(grove__list), "grove_wlist_ layout");

/* The public wait-list head seen as Grove's internal list. */
#define WL(p) ((grove__list *)(void *)(p))
#define WL_C(p) ((const grove__list *)(const void *)(p))

/* Parks the caller on list l (tail); see grove__wait_on. */
static inline int sync_wait(grove__list *l, const char *what, void **value) { return grove__wait_on(l, what, value); }

static inline grove__waiter *first_waiter(grove__list *l)
{
    return grove__list_empty(l) ? NULL : grove__container_of(l->next, grove__waiter, link);
}

#endif
