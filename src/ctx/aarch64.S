/* Context switch for AArch64 (AAPCS64).
 *
 * grove__ctx_switch(grove__thread *from, grove__thread *to): saves x19-x30 and d8-d15
 * (the callee-saved state) on the running stack, stores sp in from->sp (the first field
 * of struct grove__thread), loads to->sp, restores the same registers and returns
 * through x30. FPCR is shared by the green threads of an OS thread.
 */
    .text
    .globl grove__ctx_switch
    .hidden grove__ctx_switch
    .type grove__ctx_switch, %function
    .p2align 4
grove__ctx_switch:
    .cfi_startproc
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    ret
    .cfi_endproc
    .size grove__ctx_switch, .-grove__ctx_switch

/* First code a new green thread runs: x19 = entry function, x20 = its argument. */
    .globl grove__ctx_trampoline
    .hidden grove__ctx_trampoline
    .type grove__ctx_trampoline, %function
    .p2align 4
grove__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size grove__ctx_trampoline, .-grove__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
