/* The handle table: what a grove_thread * names (see "Handles" in core/thread.h).
 *
 * Chunks of slots are allocated on demand and never freed, so an old handle can always be
 * checked without a lock, even after its hub is gone. A hub owns the chunks it took and
 * keeps their free slots on a list of its own, so a spawn pops a slot and a release pushes
 * one back without a lock; this file's mutex is taken only to hand a chunk to a hub (once
 * per GROVE__SLOT_CHUNK threads a hub has alive at once) and to take a gone hub's chunks
 * back. Taking them back bumps every slot's generation: the threads a hub left behind
 * (never joined) become stale handles, and a later hub reuses the slots.
 */
#include "core/hub.h"

#include <pthread.h>

grove__slot_chunk *_Atomic grove__slot_dir[GROVE__SLOT_DIR];

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t g_nchunks;                 /* directory entries in use (under g_mu) */
static grove__slot_chunk *g_free_chunks; /* chunks no hub owns (under g_mu) */

/* Gives chunk c to h: every slot goes on h's free list, lowest index first out. Other
 * hubs' lookups may read c->owner meanwhile (they see it is not theirs), never a slot. */
static void chunk_take(grove__hub *h, grove__slot_chunk *c)
{
    atomic_store_explicit(&c->owner, h, memory_order_relaxed);
    c->next = h->slot_chunks;
    h->slot_chunks = c;
    for (size_t i = GROVE__SLOT_CHUNK; i-- > 0;) {
        c->slot[i].u.next = h->slot_free;
        h->slot_free = &c->slot[i];
    }
}

/* Takes c back from its owner: every handle into it goes stale. */
static void chunk_give_back(grove__slot_chunk *c)
{
    atomic_store_explicit(&c->owner, GROVE__SLOT_NO_OWNER, memory_order_relaxed);
    for (size_t i = 0; i < GROVE__SLOT_CHUNK; i++) {
        c->slot[i].handle += GROVE__HANDLE_GEN_ONE;
        c->slot[i].u.next = NULL;
    }
    c->next = g_free_chunks;
    g_free_chunks = c;
}

int grove__handle_refill(grove__hub *h)
{
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    grove__slot_chunk *c = g_free_chunks;
    if (c) {
        g_free_chunks = c->next;
        chunk_take(h, c);
    } else if (g_nchunks < GROVE__SLOT_DIR && (c = grove__calloc(1, sizeof *c)) != NULL) {
        for (size_t i = 0; i < GROVE__SLOT_CHUNK; i++)
            c->slot[i].handle = g_nchunks * GROVE__SLOT_CHUNK + i + 1; /* generation 0 */
        chunk_take(h, c);
        /* Published once, complete, and never changed: lookups load it without the lock. */
        atomic_store_explicit(&grove__slot_dir[g_nchunks++], c, memory_order_release);
    } else {
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void grove__handle_hub_gone(grove__hub *h)
{
    pthread_mutex_lock(&g_mu);
    grove__slot_chunk *c = h->slot_chunks;
    while (c) {
        grove__slot_chunk *next = c->next;
        chunk_give_back(c);
        c = next;
    }
    h->slot_chunks = NULL;
    h->slot_free = NULL;
    pthread_mutex_unlock(&g_mu);
}

void grove__handle_fork_prepare(void) { pthread_mutex_lock(&g_mu); }
void grove__handle_fork_parent(void) { pthread_mutex_unlock(&g_mu); }

/* Only the forking OS thread exists in the child: the other hubs are forgotten and never
 * destroyed, so their chunks are taken back here (their threads' handles go stale). */
void grove__handle_fork_child(grove__hub *survivor)
{
    pthread_mutex_init(&g_mu, NULL);
    for (size_t i = 0; i < g_nchunks; i++) {
        grove__slot_chunk *c = atomic_load_explicit(&grove__slot_dir[i], memory_order_relaxed);
        grove__hub *owner = atomic_load_explicit(&c->owner, memory_order_relaxed);
        if (owner != GROVE__SLOT_NO_OWNER && owner != survivor)
            chunk_give_back(c);
    }
}
