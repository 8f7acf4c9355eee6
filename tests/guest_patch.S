/* SPDX-License-Identifier: Apache-2.0 */
/* Guest code for the syscall-site patching tests: loops over `mov $nr,%eax; syscall` sites. */
#define BLOB(name) .globl name##_start, name##_end; name##_start:
#define END(name) name##_end:
#define ENTRY(name) .globl name; name:

	.text

/* The end of a round (r13 counts them, r12 says how many are left; label 1 starts one), then 0x60f. */
.macro ROUNDS_THEN_END
	inc	%r13
	dec	%r12
	jnz	1b
	mov	$0x60f, %eax
	syscall
	ud2
.endm

/*
 * Forever: report xmm0's low quadword in rbx, syscall 0x600, then add xmm1 to xmm0. Nothing else
 * is touched, so every other register must come back as the sentry left it.
 */
BLOB(g_patch_loop)
1:	movq	%xmm0, %rbx
	mov	$0x600, %eax
ENTRY(g_patch_loop_site_end)
	syscall
ENTRY(g_patch_loop_after)
	paddq	%xmm1, %xmm0
	jmp	1b
END(g_patch_loop)

/*
 * r12 rounds of four sites in a row (0x601 to 0x604), r13 counting the rounds done, then 0x60f.
 * Many threads run it while the sites are patched; each must see the exact sequence.
 */
BLOB(g_patch_seq)
1:	mov	$0x601, %eax
	syscall
	mov	$0x602, %eax
	syscall
	mov	$0x603, %eax
	syscall
	mov	$0x604, %eax
	syscall
	ROUNDS_THEN_END
END(g_patch_seq)

/*
 * The same with glibc's syscall(3) ending, `mov 0x8(%rsp),%r9; syscall`: the number is in rax
 * already, and r9 must come back as the word above the return address.
 */
BLOB(g_patch_dyn)
1:	mov	$0x601, %eax
	mov	0x8(%rsp), %r9
	syscall
	mov	$0x602, %eax
	mov	0x8(%rsp), %r9
	syscall
	mov	$0x603, %eax
	mov	0x8(%rsp), %r9
	syscall
	mov	$0x604, %eax
	mov	0x8(%rsp), %r9
	syscall
	ROUNDS_THEN_END
END(g_patch_dyn)


/*
 * r12 rounds of a call to a function of glibc's read(2) shape (`xor %eax,%eax; syscall; cmp
 * $-4096,%rax; ja err; ret`, then alignment padding; the error path returns -1), each round leaving
 * what it returned in rbx and counting in r13; then 0x60f.
 */
	.p2align 4
BLOB(g_patch_xor)
1:	call	2f
	mov	%rax, %rbx
	ROUNDS_THEN_END
	.p2align 4
2:	.byte	0x0f, 0x1f, 0x80, 0, 0, 0, 0	/* 9 bytes before the site, as in glibc's read */
	.byte	0x66, 0x90
ENTRY(g_patch_xor_site)
	xor	%eax, %eax
	syscall
ENTRY(g_patch_xor_after)
	cmp	$-4096, %rax
	ja	3f
	ret
	.p2align 4
3:	mov	$-1, %rax
	ret
END(g_patch_xor)

/*
 * Tamper guests. g_tamper: fill [rdi, rdi + rsi) with rdx, syscall 0x620, rotate rdx, again.
 * g_tamper_race: fill the same range with rdx over and over without ever trapping.
 */
BLOB(g_tamper)
1:	mov	%rdi, %r8
	mov	%rsi, %r9
2:	mov	%rdx, (%r8)
	add	$8, %r8
	sub	$8, %r9
	ja	2b
	mov	$0x620, %eax
	syscall
	rol	$13, %rdx
	jmp	1b
END(g_tamper)

BLOB(g_tamper_race)
1:	mov	%rdi, %r8
	mov	%rsi, %r9
2:	mov	%rdx, (%r8)
	add	$8, %r8
	sub	$8, %r9
	ja	2b
	not	%rdx
	jmp	1b
END(g_tamper_race)

/*
 * g_plant: queue a context's slot behind the sentry's back, as any application can (the queue is in
 * its address space): rdi = &control->q_tail, rsi = the ring, edx = the slot, r10 = the ring's index
 * mask; then trap (0x622). g_loiter: trap once (0x623), then count at (r8) forever — what a planted
 * slot holding that trap's registers runs when a stub thread takes it.
 */
BLOB(g_plant)
	mov	(%rdi), %ecx
	mov	%ecx, %r9d
	and	%r10d, %r9d
	mov	%edx, (%rsi,%r9,4)
	inc	%ecx
	mov	%ecx, (%rdi)
	mov	$0x622, %eax
	syscall
	ud2
END(g_plant)

BLOB(g_loiter)
	mov	$0x623, %eax
	syscall
1:	incq	(%r8)
	jmp	1b
END(g_loiter)

	.section .note.GNU-stack, "", @progbits
