/* Internal: the green pool's record, shared by pool.c and pile.c. */
#ifndef GROVE_POOL_INTERNAL_H
#define GROVE_POOL_INTERNAL_H

#include "core/thread.h"

#include "grove/pool.h"

struct grove_pool {
    size_t size;
    size_t running;
    grove__list spawners; /* waiting for a slot */
    grove__list idle;     /* waitall */
};

#endif
