/* Portable context switch on ucontext (makecontext/swapcontext), forced with
 * -DGROVE_CTX_PORTABLE=ON and used on architectures without an asm switch. Slower
 * (swapcontext saves the signal mask with a syscall) but needs nothing from the CPU.
 * The ucontext_t lives just below the grove__thread at the top of the stack. */
#include "core/hub.h"

#include <ucontext.h>

static void trampoline(unsigned hi, unsigned lo, unsigned ehi, unsigned elo)
{
    grove__thread *t = (grove__thread *)(((uintptr_t)hi << 32) | lo);
    void (*entry)(grove__thread *) = (void (*)(grove__thread *))(((uintptr_t)ehi << 32) | elo);
    entry(t);
    abort();
}

void grove__ctx_make(grove__thread *t, void (*entry)(grove__thread *))
{
    ucontext_t *uc = t->ctx_impl;
    getcontext(uc);
    uc->uc_stack.ss_sp = t->stack_lo;
    uc->uc_stack.ss_size = (size_t)((char *)t->stack_hi - (char *)t->stack_lo);
    uc->uc_link = NULL;
    uintptr_t p = (uintptr_t)t, e = (uintptr_t)entry;
    makecontext(uc, (void (*)(void))trampoline, 4, (unsigned)(p >> 32), (unsigned)p, (unsigned)(e >> 32), (unsigned)e);
}

void grove__ctx_switch(grove__thread *from, grove__thread *to) { swapcontext(from->ctx_impl, to->ctx_impl); }
