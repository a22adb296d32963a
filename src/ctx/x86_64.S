/* Context switch for x86-64 (System V ABI).
 *
 * grove__ctx_switch(grove__thread *from, grove__thread *to): saves the callee-saved
 * integer registers on the running stack, stores the stack pointer in from->sp (the
 * first field of struct grove__thread), loads to->sp and pops the same registers.
 * MXCSR and the x87 control word are deliberately not saved: the floating-point
 * environment belongs to the OS thread and is shared by its green threads (as in Go).
 * Everything else is caller-saved, so the C compiler has already spilled it.
 */
    .text
    .globl grove__ctx_switch
    .hidden grove__ctx_switch
    .type grove__ctx_switch, @function
    .p2align 4
grove__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size grove__ctx_switch, .-grove__ctx_switch

/* First code a new green thread runs: r12 = entry function, r13 = its argument.
 * The frame is the outermost one: debuggers stop unwinding here. */
    .globl grove__ctx_trampoline
    .hidden grove__ctx_trampoline
    .type grove__ctx_trampoline, @function
    .p2align 4
grove__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r13, %rdi
    call *%r12
    ud2
    .cfi_endproc
    .size grove__ctx_trampoline, .-grove__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
