/* Allocation as Grove's own code does it: libc's allocator, through wrappers that fault
 * injection builds (GROVE_FAULT) can make fail at the Nth call. */
#ifndef GROVE_BASE_ALLOC_H
#define GROVE_BASE_ALLOC_H

#include "base/compiler.h"

#include <stdlib.h>

#ifdef GROVE_FAULT
/* Counts an allocation made some other way (a stack); 1 if it is to fail. */
GROVE_HIDDEN int grove__fault_alloc(void);
GROVE_HIDDEN void *grove__malloc(size_t n);
GROVE_HIDDEN void *grove__calloc(size_t n, size_t size);
GROVE_HIDDEN void *grove__realloc(void *p, size_t n);
#else
#define grove__fault_alloc() 0
static inline void *grove__malloc(size_t n) { return malloc(n); }
static inline void *grove__calloc(size_t n, size_t size) { return calloc(n, size); }
static inline void *grove__realloc(void *p, size_t n) { return realloc(p, n); }
#endif
static inline void grove__free(void *p) { free(p); }
#include <string.h>
static inline char *grove__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = grove__malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

#endif
