/* SPDX-License-Identifier: Apache-2.0 */
/* Guest code for the syscall platform tests: every syscall number and every syscall-like instruction
 * form (int $0x80, sysenter, 32-bit code, the vsyscall page), and real host-side-effect attempts.
 * Position independent; the sentry enters at NAME_start or at an ENTRY label. syscall clobbers rcx/r11.
 * Marker syscalls (numbers 0x5xx) tell the sentry where the guest is; 0xbad means the guest saw a wrong
 * value. */
#define BLOB(name) .globl name##_start, name##_end; name##_start:
#define END(name) name##_end:
#define ENTRY(name) .globl name; name:

	.text

/*
 * Every syscall number. The sentry keeps r12 = the number to use next and r13 = the result it promised
 * for the previous one; a result that did not reach the guest intact ends in syscall 0xbad.
 */
BLOB(g_sysnr)
1:	mov	%r12, %rax
	syscall
	cmp	%r13, %rax
	je	1b
	mov	$0xbad, %eax
	syscall
	ud2
END(g_sysnr)

/*
 * 32-bit syscalls from 64-bit code. rbx points at a path in guest memory (i386 mkdir(ebx, ecx) = 39).
 *   int $0x80 mkdir               -> marker 0x500 with the result in rdi
 *   int $0x80 getpid (20) with rcx/r11 forged to look like a 64-bit syscall's -> marker 0x501, rdi
 *   sysenter mkdir                -> marker 0x502 (if it ever continues)
 */
BLOB(g_int80)
	mov	$39, %eax
	mov	$0755, %ecx
	int	$0x80
	mov	%rax, %rdi
	mov	$0x500, %eax
	syscall
ENTRY(g_int80_forged)
	lea	1f(%rip), %rcx		/* exactly what `syscall` would leave in rcx and r11 */
	pushfq
	pop	%r11
	mov	$20, %eax
	int	$0x80
1:	mov	%rax, %rdi
	mov	$0x501, %eax
	syscall
ENTRY(g_int80_sysenter)
	mov	$39, %eax
	mov	$0755, %ecx
	sysenter
ENTRY(g_int80_after_sysenter)
	mov	$0x502, %eax
	syscall
	ud2
END(g_int80)

/*
 * 32-bit compatibility mode: far-return to cs 0x23, make syscalls there with int $0x80 (getpid),
 * syscall (AMD: a compat syscall; Intel: #UD; skipped if int $0x80 returned 1) and sysenter (AMD: #UD;
 * Intel: a compat syscall), then far-return to cs 0x33 and make a 64-bit syscall (0x512, with the
 * int $0x80 result in rdi). Needs code and stack below 4 GiB.
 */
BLOB(g_compat)
	lea	1f(%rip), %rax
	push	$0x23
	push	%rax
	lretq
	.code32
1:	mov	$20, %eax
	int	$0x80			/* -> compat syscall 20 */
	mov	%eax, %ebx
	cmp	$1, %eax		/* the sentry returned 1: skip the syscall instruction */
	je	g_compat_after_syscall
	push	%ebp			/* the kernel reads ebp from (esp), as the vDSO leaves it */
	mov	$0x510, %eax
ENTRY(g_compat_syscall)
	syscall				/* -> compat syscall 0x510 (AMD) or SIGILL (Intel) */
ENTRY(g_compat_after_syscall)
	mov	$0x511, %eax
ENTRY(g_compat_sysenter)
	sysenter			/* -> SIGILL (AMD) or compat syscall 0x511 (Intel) */
ENTRY(g_compat_after_sysenter)
	push	$0x33
	call	2f
2:	pop	%eax
	add	$(3f - 2b), %eax
	push	%eax
	lret
	.code64
3:	mov	%rbx, %rdi
	mov	$0x512, %eax
	syscall				/* a 64-bit syscall again */
	ud2
END(g_compat)

/*
 * The legacy vsyscall page: gettimeofday, time and getcpu, each result kept (rbx, rbp, r12), then a
 * marker 0x520; then a call to a misaligned address inside the page (the kernel answers SIGSEGV).
 */
BLOB(g_vsys)
	mov	$0xffffffffff600000, %rax
	call	*%rax
ENTRY(g_vsys_ret1)
	mov	%rax, %rbx
	mov	$0xffffffffff600400, %rax
	call	*%rax
ENTRY(g_vsys_ret2)
	mov	%rax, %rbp
	mov	$0xffffffffff600800, %rax
	call	*%rax
ENTRY(g_vsys_ret3)
	mov	%rax, %r12
	mov	$0x520, %eax
	syscall
	mov	$0xffffffffff600100, %rax
	call	*%rax
	mov	$0xbad, %eax
	syscall
	ud2
END(g_vsys)

/*
 * Host side effects, each attempted for real with pointers into guest memory (rbx: path at +0, a
 * directory at +64, an existing host file at +128, a new name for it at +192; r12: a pid):
 * open(O_CREAT|O_WRONLY), write, mkdir, unlink, rename, kill(SIGKILL), exit_group, then marker 0x530.
 * Every result must be what the sentry returned: rdi collects them OR-ed together.
 */
BLOB(g_escape)
	xor	%r13d, %r13d
	mov	$2, %eax		/* open(path, O_CREAT|O_WRONLY, 0644) */
	mov	%rbx, %rdi
	mov	$0101, %esi
	mov	$0644, %edx
	syscall
	or	%rax, %r13
	mov	%rax, %rdi		/* write(fd, path, 4) */
	mov	$1, %eax
	mov	%rbx, %rsi
	mov	$4, %edx
	syscall
	or	%rax, %r13
	mov	$83, %eax		/* mkdir(dir, 0755) */
	lea	64(%rbx), %rdi
	mov	$0755, %esi
	syscall
	or	%rax, %r13
	mov	$87, %eax		/* unlink(existing) */
	lea	128(%rbx), %rdi
	syscall
	or	%rax, %r13
	mov	$82, %eax		/* rename(existing, new) */
	lea	128(%rbx), %rdi
	lea	192(%rbx), %rsi
	syscall
	or	%rax, %r13
	mov	$62, %eax		/* kill(r12, SIGKILL) */
	mov	%r12, %rdi
	mov	$9, %esi
	syscall
	or	%rax, %r13
	mov	$231, %eax		/* exit_group(3) */
	mov	$3, %edi
	syscall
	or	%rax, %r13
	mov	%r13, %rdi
	mov	$0x530, %eax
	syscall
	ud2
END(g_escape)

	.section .note.GNU-stack, "", @progbits
