/* Green-local storage (gevent.local, eventlet's corolocal): keys made process-wide, values
 * kept per green thread in a small array indexed by the key's slot, destructors run when
 * the thread finishes.
 *
 * A key is its slot number plus a generation, so a value stored under a deleted key is
 * never seen through a new key that reuses the slot (as glibc does for pthread keys).
 */
#include "core/hub.h"

#include <pthread.h>

#define SLOT_BITS 10
#define MAX_KEYS (1u << SLOT_BITS)
#define SLOT_OF(k) ((k) & (MAX_KEYS - 1))

struct grove__local {
    void *value;
    grove_local_key key; /* the key it was stored under */
};

static struct {
    _Atomic grove_local_key key; /* 0: free slot */
    void (*_Atomic dtor)(void *);
} g_keys[MAX_KEYS];
static uint32_t g_gen = 1;
static pthread_mutex_t g_keys_lock = PTHREAD_MUTEX_INITIALIZER;

int grove_local_key_create(grove_local_key *key, void (*dtor)(void *value))
{
    if (!key)
        return -EINVAL;
    pthread_mutex_lock(&g_keys_lock);
    for (uint32_t i = 0; i < MAX_KEYS; i++) {
        if (atomic_load_explicit(&g_keys[i].key, memory_order_relaxed) == 0) {
            uint32_t gen = g_gen++ & ((1u << (32 - SLOT_BITS)) - 1);
            if (gen == 0)
                gen = g_gen++;
            grove_local_key k = (gen << SLOT_BITS) | i;
            atomic_store_explicit(&g_keys[i].dtor, dtor, memory_order_relaxed);
            atomic_store_explicit(&g_keys[i].key, k, memory_order_release);
            pthread_mutex_unlock(&g_keys_lock);
            *key = k;
            return 0;
        }
    }
    pthread_mutex_unlock(&g_keys_lock);
    return -EAGAIN;
}

static int live(grove_local_key key)
{
    return key != 0 && atomic_load_explicit(&g_keys[SLOT_OF(key)].key, memory_order_acquire) == key;
}

int grove_local_key_delete(grove_local_key key)
{
    pthread_mutex_lock(&g_keys_lock);
    int ok = live(key);
    if (ok)
        atomic_store_explicit(&g_keys[SLOT_OF(key)].key, 0, memory_order_release);
    pthread_mutex_unlock(&g_keys_lock);
    return ok ? 0 : -EINVAL;
}

int grove_local_set(grove_local_key key, void *value)
{
    if (!live(key))
        return -EINVAL;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -ENOMEM;
    grove__thread *t = h->current;
    uint32_t slot = SLOT_OF(key);
    if (slot >= t->nlocals) {
        if (!value)
            return 0; /* unset anyway */
        uint32_t n = t->nlocals ? t->nlocals : 4;
        while (n <= slot)
            n *= 2;
        struct grove__local *v = grove__realloc(t->locals, n * sizeof *v);
        if (!v)
            return -ENOMEM;
        memset(v + t->nlocals, 0, (n - t->nlocals) * sizeof *v);
        t->locals = v;
        t->nlocals = n;
    }
    t->locals[slot].value = value;
    t->locals[slot].key = key;
    return 0;
}

void *grove_local_get(grove_local_key key)
{
    grove__hub *h = grove__tls_hub;
    if (!h || !key)
        return NULL;
    grove__thread *t = h->current;
    uint32_t slot = SLOT_OF(key);
    if (slot >= t->nlocals || t->locals[slot].key != key || !live(key))
        return NULL;
    return t->locals[slot].value;
}

void grove__local_finish(grove__thread *t)
{
    /* Destructors may store new values: a few passes, as pthreads do. */
    for (int pass = 0; pass < 4; pass++) {
        int ran = 0;
        for (uint32_t i = 0; i < t->nlocals; i++) {
            struct grove__local *e = &t->locals[i];
            void *v = e->value;
            if (!v)
                continue;
            e->value = NULL;
            if (!live(e->key))
                continue; /* the key was deleted: no destructor, as with pthreads */
            void (*dtor)(void *) = atomic_load_explicit(&g_keys[i].dtor, memory_order_relaxed);
            if (dtor) {
                dtor(v);
                ran = 1;
            }
        }
        if (!ran)
            break;
    }
    free(t->locals);
    t->locals = NULL;
    t->nlocals = 0;
}
