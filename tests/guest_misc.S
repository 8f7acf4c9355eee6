/* SPDX-License-Identifier: Apache-2.0 */
/* Guest code for the interrupt, migration and CPUID platform tests. */
#define BLOB(name) .globl name##_start, name##_end; name##_start:
#define END(name) name##_end:
#define ENTRY(name) .globl name; name:

	.text

/*
 * Tell the sentry we run (store 1 at (rdi)), then spin in `1: jmp 1b` until the sentry makes
 * (rdi + 8) non-zero, which only it can notice in an interrupt; then leave with marker 0x700.
 */
BLOB(g_spin)
	movl	$1, (%rdi)
ENTRY(g_spin_loop)
1:	cmpl	$0, 8(%rdi)
	jne	2f
	jmp	1b
2:	mov	$0x700, %eax
	syscall
	ud2
END(g_spin)

/*
 * Keep FPU and SSE values across syscalls: each round adds xmm1 to xmm0 (paddq) and ST1 to ST0
 * (fadd), then reports xmm0's low quadword in rdi and ST0 as an integer in rsi (through the stack),
 * with marker 0x710. The sentry sets them once; only the platform carries them from round to round.
 */
BLOB(g_accum)
1:	paddq	%xmm1, %xmm0
	fadd	%st(1), %st
	movq	%xmm0, %rdi
	fld	%st(0)
	fistpq	-16(%rsp)
	mov	-16(%rsp), %rsi
	mov	$0x710, %eax
	syscall
	jmp	1b
END(g_accum)

/* cpuid with eax/ecx as the sentry set them; the results go back with marker 0x720. */
BLOB(g_cpuid)
	cpuid
	mov	%ecx, %r9d		/* syscall clobbers rcx with the return address */
	mov	$0x720, %r8d
	xchg	%rax, %r8
	syscall
	ud2
END(g_cpuid)

	.section .note.GNU-stack, "", @progbits
