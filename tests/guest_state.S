/* SPDX-License-Identifier: Apache-2.0 */
/* Guest code for the CPU-state round-trip tests: the same computation, run at three vector levels
 * (1 SSE, 2 AVX, 3 AVX-512), between five exits: syscall, syscall, ud2, a page fault, syscall. */

#define STATE_FAULT_ADDR 0x20000000

/*
 * One computation with the values the sentry set: a GPR copy, the syscall result (rax), fs- and
 * gs-relative loads, an x87 division (rounded by FCW), an SSE division (rounded by MXCSR), and vector
 * (and mask) register copies. No flags change, no stack is used (rsp holds a pattern).
 */
.macro PHASE level
	mov	%rax, %rbx
	mov	%r8, %r9
	mov	%fs:0, %r14
	mov	%gs:8, %r15
	fdiv	%st(1), %st
	movaps	%xmm13, %xmm15
	divss	%xmm14, %xmm15
.if \level == 1
	movdqa	%xmm3, %xmm4
.elseif \level == 2
	vmovdqa	%ymm3, %ymm4
.else
	vmovdqa64 %zmm3, %zmm4
	vmovdqa64 %zmm17, %zmm18
	kmovq	%k1, %k2
.endif
.endm

/*
 * NAME_start..NAME_end, and NAME_offs: the offsets of the instruction after exit 2 (a syscall), of the
 * ud2 (exit 3), of the faulting load (exit 4) and of the instruction after exit 5 (a syscall).
 */
.macro STATE name, level
	.text
	.globl	\name\()_start, \name\()_end
\name\()_start:
	syscall				/* exit 1: nothing computed yet */
	PHASE	\level
	mov	$0x1002, %eax
	syscall				/* exit 2 */
.L\name\()_e2:
	PHASE	\level
.L\name\()_e3:
	ud2				/* exit 3; the sentry resumes after it */
	PHASE	\level
.L\name\()_e4:
	mov	STATE_FAULT_ADDR, %r12	/* exit 4 (unmapped); the sentry maps it and resumes here */
	PHASE	\level
	mov	$0x1005, %eax
	syscall				/* exit 5 */
.L\name\()_e5:
	ud2
\name\()_end:
	.section .rodata
	.balign	8
	.globl	\name\()_offs
\name\()_offs:
	.quad	.L\name\()_e2 - \name\()_start, .L\name\()_e3 - \name\()_start
	.quad	.L\name\()_e4 - \name\()_start, .L\name\()_e5 - \name\()_start
.endm

	STATE	g_state_sse, 1
	STATE	g_state_avx, 2
	STATE	g_state_avx512, 3

	.section .note.GNU-stack, "", @progbits
