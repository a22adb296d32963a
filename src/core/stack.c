/* Green-thread stacks.
 *
 * A stack of a page or more is its own mmap with a PROT_NONE guard page below it; the
 * grove__thread (and, for the ucontext backend, its ucontext_t) sits at the top, so a new
 * idle thread touches a single page. Freed stacks go to a per-hub LIFO cache by size, so
 * spawn normally costs no syscall.
 *
 * Each guarded stack costs two memory mappings, and the kernel caps a process at
 * vm.max_map_count (65530 by default). Past half of that, and for stacks smaller than a
 * page (GROVE_STACK_SMALL), stacks are carved from shared slabs with no guard page; those
 * carry a canary (their lowest bytes must stay zero), checked every time the thread
 * switches out.
 * Either way an overflow ends the process with a message naming the green thread, from a
 * SIGSEGV handler that runs on an alternate signal stack.
 */
#include "core/hub.h"

#ifdef GROVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GROVE_HAVE_VALGRIND 1
#endif
#endif

#define DEFAULT_STACK ((size_t)64 * 1024)
#define SLAB_STACKS 64
#define CACHE_MAX 1024
#define CANARY_BYTES 32
#define ALTSTACK_SIZE ((size_t)64 * 1024)

static _Atomic size_t g_default_stack;
static _Atomic long g_guarded_budget = -1; /* guarded stacks we may still map */
static size_t g_page;

typedef struct slab {
    struct slab *next;
    void *base;
    size_t len;
} slab;

static size_t page_size(void)
{
    if (!g_page)
        g_page = (size_t)sysconf(_SC_PAGESIZE);
    return g_page;
}

/* LeakSanitizer scans thread stacks and heap blocks, not our mappings: without help, memory
 * that only a parked green thread points to is reported as leaked. Every stack mapping is
 * a root region while it exists. Weak references: a no-op unless a sanitizer runtime is
 * loaded (also when a non-sanitized libgrove runs inside an ASan program). */
extern void __lsan_register_root_region(const void *p, size_t size) __attribute__((weak));
extern void __lsan_unregister_root_region(const void *p, size_t size) __attribute__((weak));

static void roots_add(const void *p, size_t n)
{
    if (__lsan_register_root_region)
        __lsan_register_root_region(p, n);
}

static void roots_del(const void *p, size_t n)
{
    if (__lsan_unregister_root_region)
        __lsan_unregister_root_region(p, n);
}

/* Unmaps a guarded stack (its first page is the guard, never a root). */
static void unmap_guarded(void *base, size_t len)
{
    roots_del((char *)base + page_size(), len - page_size());
    munmap(base, len);
}

/* to is a power of two (64 or the page size): a mask, not a division, on the spawn path. */
static size_t round_up(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }

static size_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return 0;
    if (*end == 'k' || *end == 'K')
        v *= 1024;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024;
    return (size_t)v;
}

size_t grove_stack_size_default(void)
{
    size_t s = atomic_load_explicit(&g_default_stack, memory_order_relaxed);
    if (s)
        return s;
    s = DEFAULT_STACK;
    const char *env = getenv("GROVE_STACK_SIZE");
    if (env) {
        size_t v = parse_size(env);
        if (v >= GROVE_STACK_MIN && v <= ((size_t)1 << 30))
            s = v;
    }
    atomic_store_explicit(&g_default_stack, s, memory_order_relaxed);
    return s;
}

int grove_stack_size_set(size_t bytes)
{
    if (bytes < GROVE_STACK_MIN || bytes > ((size_t)1 << 30))
        return -EINVAL;
    atomic_store_explicit(&g_default_stack, bytes, memory_order_relaxed);
    return 0;
}

int grove_stack_size_set_local(size_t bytes)
{
    if (bytes && (bytes < GROVE_STACK_MIN || bytes > ((size_t)1 << 30)))
        return -EINVAL;
    grove__hub *h = grove__hub_get();
    if (!h)
        return -errno;
    h->stack_default = bytes;
    return 0;
}

size_t grove__stack_size_for_hub(grove__hub *h)
{
    return h->stack_default ? h->stack_default : grove_stack_size_default();
}

static long guarded_budget(void)
{
    long b = atomic_load_explicit(&g_guarded_budget, memory_order_relaxed);
    if (b >= 0)
        return b;
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 65530;
        fclose(f);
    }
    b = max / 2 - 4096;
    if (b < 0)
        b = 0;
    long expect = -1;
    atomic_compare_exchange_strong(&g_guarded_budget, &expect, b);
    return atomic_load(&g_guarded_budget);
}

/* Cache colouring. Guarded stacks are mapped one after another at a fixed stride, so
 * without an offset every thread record would sit at the same offset in its page and
 * compete for the same few L1/L2 cache sets: a spawn batch of 1000 threads then misses
 * on every record. The record of a guarded stack is moved down from the top of its
 * mapping by one of COLOURS cache-line offsets, picked from the mapping's address (so
 * a cached stack keeps its colour). COLOURS * 64 bytes stays well inside the top page,
 * so an idle thread still touches a single page; the space is reserved in the size.
 * 16 colours (1 KiB) rather than 32: with 2 KiB, a third of grove-http's idle connection
 * threads reached into a second page (the request path's frames sit below the record),
 * and spawn measured the same with either. */
#define COLOURS 16
static size_t colour_of(const void *base)
{
    uintptr_t pg = (uintptr_t)base >> 12;
    return (size_t)(((pg * 0x9E3779B97F4A7C15ull) >> 59) % COLOURS) * 64;
}

/* The thread record starts on a cache line at the top of its stack, so its first line
 * holds the fields every switch reads (sp, runq, hub, state...). */
#define REC_SIZE ((sizeof(grove__thread) + 63) & ~(size_t)63)
static inline grove__thread *rec_of_top(void *top) { return (grove__thread *)((char *)top - REC_SIZE); }
static inline char *top_of_rec(grove__thread *t) { return (char *)t + REC_SIZE; }

/* Bytes at the top of every stack for the thread record (and the ucontext below it). */
static size_t header_size(void) { return REC_SIZE + round_up(GROVE__CTX_EXTRA, 64); }

static grove__thread *init_header(void *top, void *lo, void *map_base, size_t map_len, size_t cls)
{
    size_t hs = header_size();
#ifdef GROVE_ASAN
    /* A recycled stack still carries the shadow poison of its last thread's frames (it
     * never returned from them): clear it, or ASan reports false use-after-scope. */
    __asan_unpoison_memory_region(lo, (size_t)((char *)top - (char *)lo));
#endif
    grove__thread *t = rec_of_top(top);
    /* Cache line by cache line: a constant-size memset becomes a few vector stores, where
     * one variable-size memset was inlined as `rep stos`, slow to start on short runs
     * (a fifth of spawn's time in the profile). */
    for (char *c = (char *)top - hs; c < (char *)top; c += 64)
        memset(c, 0, 64);
    t->stack_lo = lo;
    t->stack_hi = (char *)top - hs;
    t->stack_size = cls;
    t->map_base = map_base;
    t->map_len = map_len;
    if (GROVE__CTX_EXTRA)
        t->ctx_impl = (char *)top - hs;
    if (!map_base || map_len == 0) {
        t->small_stack = 1; /* unguarded: canary instead (see grove__stack_check_canary) */
    }
#ifdef GROVE_HAVE_VALGRIND
    t->vg_stack_id = VALGRIND_STACK_REGISTER(lo, t->stack_hi);
#endif
    return t;
}

static inline void cache_push(grove__stack_cache *c, grove__list *n)
{
    n->next = c->free;
    c->free = n;
    c->n++;
}

static inline grove__list *cache_pop(grove__stack_cache *c)
{
    grove__list *n = c->free;
    if (n) {
        c->free = n->next;
        c->n--;
    }
    return n;
}

/* Unmaps the cached stacks of a guarded class and frees its slot. */
static void cache_evict(grove__stack_cache *c)
{
    grove__list *n;
    while ((n = cache_pop(c))) {
        grove__thread *t = grove__container_of(n, grove__thread, runq);
        unmap_guarded(t->map_base, t->map_len);
        atomic_fetch_add_explicit(&g_guarded_budget, 1, memory_order_relaxed);
    }
    c->size = 0;
    c->n = 0;
}

/* The cache of a class. With create, a missing class takes a free slot; when none is free
 * and the class is a slab one (whose stacks can only live on a free list), a guarded
 * class (a mere cache) is evicted for it, so any number of distinct sizes can be
 * spawned. NULL if there is no room (a guarded stack is then simply unmapped). */
static grove__stack_cache *cache_for(grove__hub *h, size_t cls, int create)
{
    grove__stack_cache *empty = NULL, *guarded = NULL;
    for (int i = 0; i < GROVE__STACK_CACHE_CLASSES; i++) {
        if (h->stacks[i].size == cls)
            return &h->stacks[i];
        if (!h->stacks[i].size && !empty)
            empty = &h->stacks[i];
        if (h->stacks[i].size && !(h->stacks[i].size & 1) && (!guarded || h->stacks[i].n < guarded->n))
            guarded = &h->stacks[i];
    }
    if (create && !empty && (cls & 1) && guarded) {
        cache_evict(guarded);
        empty = guarded;
    }
    if (create && empty) {
        empty->size = cls;
        empty->free = NULL;
        empty->n = 0;
        return empty;
    }
    return NULL;
}

/* A class key: the rounded size, with the low bit set for unguarded (slab) stacks. */
static grove__thread *alloc_slab(grove__hub *h, size_t stride, size_t cls)
{
    grove__stack_cache *c = cache_for(h, cls, 1);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    size_t len = stride * SLAB_STACKS;
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    slab *s = grove__malloc(sizeof *s);
    if (!s) {
        munmap(base, len);
        errno = ENOMEM;
        return NULL;
    }
    roots_add(base, len);
    s->base = base;
    s->len = len;
    s->next = h->slabs;
    h->slabs = s;
    /* The cache list links through the thread record, which we only place on use: keep
     * free slab stacks as bare list nodes at each stack's top. */
    for (size_t i = 1; i < SLAB_STACKS; i++) {
        grove__list *n = (grove__list *)((char *)base + (i + 1) * stride - sizeof(grove__list));
        cache_push(c, n);
    }
    char *top = (char *)base + stride;
    return init_header(top, base, NULL, 0, cls);
}

grove__thread *grove__stack_alloc(grove__hub *h, size_t size)
{
    if (grove__unlikely(grove__fault_alloc())) { /* a stack counts as an allocation */
        errno = ENOMEM;
        return NULL;
    }
    size_t page = page_size();
    size_t hs = header_size();
    if (size < GROVE_STACK_MIN)
        size = GROVE_STACK_MIN;
#ifdef GROVE_ASAN
    /* ASan's redzones make frames several times larger: small stacks would overflow. */
    if (size < (size_t)32 * 1024)
        size = (size_t)32 * 1024;
#endif
    int small = size < page;
    if (small) {
        /* Small sizes come in powers of two, so few slab classes serve every request. */
        size_t q = GROVE_STACK_MIN;
        while (q < size)
            q *= 2;
        if (q < page)
            size = q;
    }
    long budget = small ? 0 : guarded_budget();
    int guarded = !small && budget > 0;
    size_t usable = small ? round_up(size + hs, 64) : round_up(size + hs + (guarded ? COLOURS * 64 : 0), page);
    size_t cls = usable | (guarded ? 0 : 1);

    grove__stack_cache *c = cache_for(h, cls, 0);
    if (c && c->n) {
        grove__list *n = cache_pop(c);
        if (!guarded) {
            char *top = (char *)n + sizeof(grove__list);
            return init_header(top, top - usable, NULL, 0, cls);
        }
        grove__thread *t = grove__container_of(n, grove__thread, runq);
        char *top = top_of_rec(t);
        return init_header(top, (char *)t->map_base + page, t->map_base, t->map_len, cls);
    }
    if (!guarded)
        return alloc_slab(h, usable, cls);

    size_t len = usable + page;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, page, PROT_NONE) != 0) {
        int e = errno;
        munmap(base, len);
        if (e == ENOMEM) { /* out of mappings: fall back to a slab stack */
            atomic_store(&g_guarded_budget, 0);
            usable = round_up(size + hs, page);
            return alloc_slab(h, usable, usable | 1);
        }
        errno = e;
        return NULL;
    }
    atomic_fetch_sub_explicit(&g_guarded_budget, 1, memory_order_relaxed);
    roots_add(base + page, len - page);
    return init_header(base + len - colour_of(base), base + page, base, len, cls);
}

int grove__stack_can_cache(grove__hub *h, const grove__thread *t)
{
    if (t->small_stack)
        return 1; /* slab stacks always go back to their free list */
    grove__stack_cache *c = cache_for(h, t->stack_size, 1);
    return c && c->n < CACHE_MAX;
}

void grove__stack_free(grove__hub *h, grove__thread *t)
{
#ifdef GROVE_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(t->vg_stack_id);
#endif
    grove__stack_cache *c = cache_for(h, t->stack_size, 1);
    if (t->small_stack) {
        GROVE_ASSERT(c); /* the class was created when the slab was */
        char *top = top_of_rec(t);
        grove__list *n = (grove__list *)(top - sizeof(grove__list));
        cache_push(c, n);
        return;
    }
    if (c && c->n < CACHE_MAX) {
        cache_push(c, &t->runq);
        return;
    }
    unmap_guarded(t->map_base, t->map_len);
    atomic_fetch_add_explicit(&g_guarded_budget, 1, memory_order_relaxed);
}

void grove__stack_cache_drain(grove__hub *h)
{
    for (int i = 0; i < GROVE__STACK_CACHE_CLASSES; i++) {
        grove__stack_cache *c = &h->stacks[i];
        if (!c->size || (c->size & 1))
            continue;
        cache_evict(c);
    }
    slab *s = h->slabs;
    while (s) {
        slab *next = s->next;
        roots_del(s->base, s->len);
        munmap(s->base, s->len);
        free(s);
        s = next;
    }
    h->slabs = NULL;
}

/* ---- Overflow detection --------------------------------------------------------- */

static void say(const char *s) { (void)grove__sys_write_raw(2, s, strlen(s)); }

static void say_num(uint64_t v)
{
    char buf[24];
    int i = (int)sizeof buf;
    buf[--i] = 0;
    do
        buf[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    say(buf + i);
}

static _Noreturn void report_overflow(const grove__thread *t, const char *how)
{
    say("grove: stack overflow in green thread '");
    if (t->name[0]) {
        say(t->name);
    } else { /* named lazily: print the name grove_thread_name would give */
        say("thread-");
        say_num(t->id);
    }
    say("' (id ");
    say_num(t->id);
    say(", stack ");
    say_num((uint64_t)((char *)t->stack_hi - (char *)t->stack_lo));
    say(" bytes): ");
    say(how);
    say("; raise its stack size (grove_spawn_attr.stack_size or GROVE_STACK_SIZE)\n");
    grove__sys_signal_default(SIGABRT);
    abort();
}

/* The canary of an unguarded stack is its lowest CANARY_BYTES, which must stay zero: a
 * thread that reached them has overflowed (so a cached stack always has them zero, and a
 * fresh slab is zero). Zero needs no write at spawn, and reading a never-touched page maps
 * the shared zero page, which is not counted in RSS: an idle thread with a large slab
 * stack still costs one page, not two. An overflow that writes only zeros there goes
 * unnoticed; that is the price of having no guard page. */
void grove__stack_check_canary(grove__thread *t)
{
    const uint64_t *c = t->stack_lo;
    uint64_t v = 0;
    for (size_t i = 0; i < CANARY_BYTES / sizeof *c; i++)
        v |= c[i];
    if (v)
        report_overflow(t, "the bottom of its stack (no guard page) was overwritten");
}

static struct sigaction g_old_segv, g_old_bus;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    grove__hub *h = grove__tls_hub;
    grove__thread *t = h ? h->current : NULL;
    if (t && !t->is_main) {
        char *a = si->si_addr;
        size_t page = page_size();
        if (!t->small_stack && t->map_base && a >= (char *)t->map_base && a < (char *)t->map_base + page)
            report_overflow(t, "hit the guard page");
        if (t->small_stack && a < (char *)t->stack_lo && a >= (char *)t->stack_lo - 64 * 1024)
            report_overflow(t, "ran below the stack");
    }
    /* Not ours: hand it to whoever was there before, or to the default action. */
    struct sigaction *old = sig == SIGSEGV ? &g_old_segv : &g_old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    grove__sys_signal_default(sig); /* returning re-runs the faulting access */
}

static pthread_once_t g_handler_once = PTHREAD_ONCE_INIT;

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    grove__sys_sigaction(SIGSEGV, &sa, &g_old_segv);
    grove__sys_sigaction(SIGBUS, &sa, &g_old_bus);
}

void grove__stack_install_overflow_handler(void)
{
    if (getenv("GROVE_NO_SEGV_HANDLER"))
        return;
    pthread_once(&g_handler_once, install_handler);
}

void grove__stack_thread_init(void)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp)
        return; /* the program (or a sanitizer) already set one */
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        munmap(p, ALTSTACK_SIZE);
}
