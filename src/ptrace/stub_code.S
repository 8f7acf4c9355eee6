/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ptrace stub: the only code a stub process holds. It is copied to one page at the top of the
 * user range, is position independent, and needs no stack. Every syscall a stub ever makes on the
 * host is issued from one of the `syscall` instructions here (the seccomp filter pins them to this
 * page); application syscalls are intercepted by PTRACE_SYSEMU before seccomp would see them.
 */
	.section .rodata, "a"
	.balign 64
	.globl cv_ptrace_stub_start, cv_ptrace_stub_end
	.globl cv_ptrace_stub_park, cv_ptrace_stub_inject, cv_ptrace_stub_clone
cv_ptrace_stub_start:

/* Untraced idle loop: an idle stub thread (or a stub process's first thread) waits here forever. */
cv_ptrace_stub_park:
	mov	$34, %eax		/* pause */
	syscall
	jmp	cv_ptrace_stub_park

/* An injected syscall: the tracer loads rax and the arguments, and regains control at the int3. */
cv_ptrace_stub_inject:
	syscall
	int3

/*
 * An injected clone. The parent traps at the int3 with the child's id in rax. A new process
 * (r14 != 0) arms PR_SET_PDEATHSIG, which fork clears, then checks that the sentry (pid in r15) is
 * still its parent, so a sentry that died meanwhile cannot leave it behind; a new thread parks.
 */
cv_ptrace_stub_clone:
	syscall
	test	%rax, %rax
	jz	1f
	int3
1:	test	%r14, %r14
	jz	cv_ptrace_stub_park
	mov	$157, %eax		/* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	mov	$1, %edi
	mov	$9, %esi
	syscall
	mov	$110, %eax		/* getppid */
	syscall
	cmp	%r15, %rax
	je	cv_ptrace_stub_park
	mov	$231, %eax		/* exit_group(1) */
	mov	$1, %edi
	syscall
	ud2
cv_ptrace_stub_end:

	.section .note.GNU-stack, "", @progbits
