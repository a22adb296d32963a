/* Builds the first frame of a new green thread for the asm switches (x86_64.S,
 * aarch64.S): the registers the switch pops on its first entry carry the entry function
 * and its argument to grove__ctx_trampoline. Compiled into the asm builds only. */
#include "core/hub.h"

#if defined(GROVE_CTX_ASM)
void grove__ctx_trampoline(void);

void grove__ctx_make(grove__thread *t, void (*entry)(grove__thread *))
{
    uintptr_t top = (uintptr_t)t->stack_hi & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Popped in order: r15 r14 r13 r12 rbx rbp, then ret to the trampoline. After that
     * ret, rsp = top - 16, 16-byte aligned for the trampoline's call. */
    void **sp = (void **)(top - 72);
    sp[0] = 0;             /* r15 */
    sp[1] = 0;             /* r14 */
    sp[2] = t;             /* r13: argument */
    sp[3] = (void *)entry; /* r12: entry */
    sp[4] = 0;             /* rbx */
    sp[5] = 0;             /* rbp */
    sp[6] = (void *)grove__ctx_trampoline;
    sp[7] = 0;
    sp[8] = 0;
    t->sp = sp;
#elif defined(__aarch64__)
    void **sp = (void **)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (void *)entry;                  /* x19 */
    sp[1] = t;                              /* x20 */
    sp[11] = (void *)grove__ctx_trampoline; /* x30 */
    t->sp = sp;
#else
#error "no asm context switch for this architecture"
#endif
}
#endif
