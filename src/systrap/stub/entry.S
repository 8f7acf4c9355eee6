/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The systrap stub's stackless code: the export table, the source stub's loop, a new stub's set-up,
 * the syscall thread's loop and a new stub thread's set-up. None of it touches memory an application
 * can write except the request page (read-only in the stub) and, before any application code exists in
 * the address space, the control page. %rbx always holds the stub base B.
 */
#include "../layout.h"

#define SYS_MMAP 9
#define SYS_MUNMAP 11
#define SYS_RT_SIGRETURN 15
#define SYS_RT_SIGPROCMASK 14
#define SYS_CLONE 56
#define SYS_EXIT_GROUP 231
#define SYS_GETPPID 110
#define SYS_SIGALTSTACK 131
#define SYS_PRCTL 157
#define SYS_FUTEX 202
#define SYS_SECCOMP 317
#define SYS_MSEAL 462
#define CLONE_VM 0x100
#define CLONE_FS 0x200
#define CLONE_FILES 0x400
#define CLONE_SIGHAND 0x800
#define CLONE_PARENT 0x8000
#define CLONE_THREAD 0x10000
#define CLONE_SYSVSEM 0x40000
#define ST_CLONE_PROCESS (CLONE_FILES | CLONE_PARENT)
#define ST_CLONE_THREAD (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)
#define REQ (ST_SHM_OFF + ST_REQ_FOFF)
#define CTL (ST_SHM_OFF + ST_CTL_FOFF)
#define GLB ST_GLOBALS_OFF
#define TASK_SIZE 0x7ffffffff000

	.section .text.entry, "ax"
	.globl st_base
	.hidden st_base
st_base:
	.long ST_MAGIC
	.long st_handler - st_base
	.long st_restorer - st_base
	.long st_source_entry - st_base
	.long st_first_trap - st_base
	.long st_code_end - st_base
	.long st_patched_entry - st_base
	.balign 16

/* The restorer of every handler. */
st_restorer:
	mov	$SYS_RT_SIGRETURN, %eax
	syscall
	ud2

/*
 * The source stub, entered with every signal blocked and the process filter installed: drop every
 * mapping outside the stub window, seal code and globals, then serve ST_OP_NEWSTUB requests.
 */
st_source_entry:
	lea	st_base(%rip), %rbx
	mov	$SYS_MUNMAP, %eax
	xor	%edi, %edi
	mov	%rbx, %rsi
	syscall
	mov	GLB+ST_G_ALT_OFF(%rbx), %rdi
	add	$(ST_MAX_THREADS * ST_ALT_SIZE + ST_TRAMP_AREA), %rdi
	add	%rbx, %rdi			/* end of the window (after the trampolines) */
	mov	$TASK_SIZE, %rsi
	sub	%rdi, %rsi
	mov	$SYS_MUNMAP, %eax
	syscall
	movslq	GLB+ST_G_PATCH_FD(%rbx), %r8	/* the patch pointer table, read-only, low */
	test	%r8, %r8
	js	1f
	mov	$ST_PTAB_ADDR, %edi
	mov	$ST_PTAB_SIZE, %esi
	mov	$1, %edx			/* PROT_READ */
	mov	$0x11, %r10d			/* MAP_SHARED | MAP_FIXED */
	xor	%r9d, %r9d
	mov	$SYS_MMAP, %eax
	syscall
	cmp	%rdi, %rax
	jne	9f
1:	mov	$SYS_MSEAL, %eax		/* fails harmlessly (ENOSYS) on kernels before 6.10 */
	mov	%rbx, %rdi
	mov	$ST_SHM_OFF, %esi
	xor	%edx, %edx
	syscall
1:	mov	REQ+ST_R_SEQ(%rbx), %eax
	cmp	CTL+ST_CTL_READY(%rbx), %eax
	jne	2f
	mov	%eax, %edx			/* futex(&req.seq, FUTEX_WAIT, seq, NULL) */
	lea	REQ+ST_R_SEQ(%rbx), %rdi
	xor	%esi, %esi
	xor	%r10d, %r10d
	mov	$SYS_FUTEX, %eax
	syscall
	jmp	1b
2:	mov	%eax, %r12d
	mov	REQ+ST_R_ARGS(%rbx), %r13	/* the new address space's shared file */
	mov	$-22, %rax
	cmpl	$ST_OP_NEWSTUB, REQ+ST_R_OP(%rbx)
	jne	3f
	mov	$ST_CLONE_PROCESS, %edi		/* exit signal 0: waited for with __WALL */
	xor	%esi, %esi
	xor	%edx, %edx
	xor	%r10d, %r10d
	xor	%r8d, %r8d
	mov	$SYS_CLONE, %eax
	syscall
	test	%rax, %rax
	jz	st_new_stub
3:	mov	%eax, CTL+ST_CTL_LISTENER(%rbx)
	mov	%r12d, CTL+ST_CTL_READY(%rbx)
	lea	CTL+ST_CTL_READY(%rbx), %rdi	/* futex(&ctl.ready, FUTEX_WAKE, 1) */
	mov	$1, %esi
	mov	$1, %edx
	mov	$SYS_FUTEX, %eax
	syscall
	jmp	1b

/*
 * A new stub (address space), %r13 = its shared file. Map it (the request page read-only), map the
 * alternate stacks, arm PR_SET_PDEATHSIG and check the sentry is still the parent, then install the
 * notification filter and report its fd. From here on the sentry talks to us only through it.
 */
st_new_stub:
	lea	ST_SHM_OFF(%rbx), %rdi
	mov	$ST_PAGE, %esi
	mov	$1, %edx			/* PROT_READ */
	mov	$0x11, %r10d			/* MAP_SHARED | MAP_FIXED */
	mov	%r13, %r8
	xor	%r9d, %r9d
	mov	$SYS_MMAP, %eax
	syscall
	cmp	%rdi, %rax
	jne	9f
	lea	ST_SHM_OFF+ST_PAGE(%rbx), %rdi
	mov	GLB+ST_G_SHM_SIZE(%rbx), %rsi
	sub	$ST_PAGE, %rsi
	mov	$3, %edx			/* PROT_READ | PROT_WRITE */
	mov	$0x11, %r10d
	mov	%r13, %r8
	mov	$ST_PAGE, %r9d
	mov	$SYS_MMAP, %eax
	syscall
	cmp	%rdi, %rax
	jne	9f
	mov	GLB+ST_G_ALT_OFF(%rbx), %rdi
	add	%rbx, %rdi
	mov	$(ST_MAX_THREADS * ST_ALT_SIZE), %esi
	mov	$3, %edx
	mov	$0x4032, %r10d			/* MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE */
	mov	$-1, %r8
	xor	%r9d, %r9d
	mov	$SYS_MMAP, %eax
	syscall
	cmp	%rdi, %rax
	jne	9f
	mov	$SYS_PRCTL, %eax		/* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	mov	$1, %edi
	mov	$9, %esi
	syscall
	mov	$SYS_GETPPID, %eax
	syscall
	cmp	GLB+ST_G_SENTRY_PID(%rbx), %eax
	jne	9f
	mov	$SYS_MSEAL, %eax		/* the request page stays read-only */
	lea	ST_SHM_OFF(%rbx), %rdi
	mov	$ST_PAGE, %esi
	xor	%edx, %edx
	syscall
	mov	$SYS_SECCOMP, %eax		/* SECCOMP_SET_MODE_FILTER, FLAG_NEW_LISTENER */
	mov	$1, %edi
	mov	$8, %esi
	lea	GLB+ST_G_NOTIF_PROG(%rbx), %rdx
	syscall
	mov	%eax, CTL+ST_CTL_LISTENER(%rbx)
	movl	$1, CTL+ST_CTL_READY(%rbx)
	lea	CTL+ST_CTL_READY(%rbx), %rdi
	mov	$1, %esi
	mov	$1, %edx
	mov	$SYS_FUTEX, %eax
	syscall
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	jmp	st_sys_loop
9:	mov	$SYS_EXIT_GROUP, %eax
	mov	$3, %edi
	syscall
	ud2

/*
 * The syscall thread: report the last result (%r12, and for a batch the number of entries done, %r13)
 * through the doorbell, which blocks until the sentry answers the notification with a new request in
 * the (read-only) request page.
 */
st_sys_loop:
	mov	$ST_DOORBELL_NR, %eax
	mov	%r12, %rdi
	mov	%r13, %rsi
	syscall
	xor	%r13d, %r13d
	mov	REQ+ST_R_OP(%rbx), %eax
	cmp	$ST_OP_BATCH, %eax
	je	st_batch
	cmp	$ST_OP_SYSCALL, %eax
	jne	1f
	mov	REQ+ST_R_ARGS(%rbx), %rdi
	mov	REQ+ST_R_ARGS+8(%rbx), %rsi
	mov	REQ+ST_R_ARGS+16(%rbx), %rdx
	mov	REQ+ST_R_ARGS+24(%rbx), %r10
	mov	REQ+ST_R_ARGS+32(%rbx), %r8
	mov	REQ+ST_R_ARGS+40(%rbx), %r9
	mov	REQ+ST_R_NR(%rbx), %rax
	syscall
	mov	%rax, %r12
	jmp	st_sys_loop
1:	mov	$-22, %r12
	cmp	$ST_OP_THREAD, %eax
	jne	st_sys_loop
	mov	REQ+ST_R_ARGS(%rbx), %r14
	cmp	$ST_MAX_THREADS, %r14
	jae	st_sys_loop
	mov	$ST_CLONE_THREAD, %edi
	xor	%esi, %esi
	xor	%edx, %edx
	xor	%r10d, %r10d
	xor	%r8d, %r8d
	mov	$SYS_CLONE, %eax
	syscall
	test	%rax, %rax
	jz	st_thread_init
	mov	%rax, %r12
	jmp	st_sys_loop

/* A batch: entries in order until one fails (-4095..-1); %r12 its result or the last one's. */
st_batch:
	mov	$-22, %r12
	mov	REQ+ST_R_NR(%rbx), %r14
	cmp	$ST_BATCH_MAX, %r14
	ja	st_sys_loop
	lea	REQ+ST_R_BATCH(%rbx), %r15
1:	cmp	%r14, %r13
	jae	st_sys_loop
	mov	8(%r15), %rdi
	mov	16(%r15), %rsi
	mov	24(%r15), %rdx
	mov	32(%r15), %r10
	mov	40(%r15), %r8
	mov	48(%r15), %r9
	mov	(%r15), %rax
	syscall
	mov	%rax, %r12
	cmp	$-4095, %rax
	jae	st_sys_loop
	inc	%r13
	add	$ST_R_BATCH_STRIDE, %r15
	jmp	1b

/*
 * A new stub thread, %r14 = its number: its alternate stack, syscall user dispatch, signals
 * unblocked, then its own (narrower) filter; then it enters the handler through a ud2.
 */
st_thread_init:
	imul	$ST_G_ALT_STRIDE, %r14, %rdi
	lea	GLB+ST_G_ALT(%rbx,%rdi), %rdi
	xor	%esi, %esi
	mov	$SYS_SIGALTSTACK, %eax
	syscall
	test	%rax, %rax
	jnz	9b
	cmpl	$0, GLB+ST_G_SUD(%rbx)
	je	1f
	mov	$SYS_PRCTL, %eax		/* PR_SET_SYSCALL_USER_DISPATCH, ON, B, code size, NULL */
	mov	$59, %edi
	mov	$1, %esi
	mov	%rbx, %rdx
	mov	GLB+ST_G_CODE_SIZE(%rbx), %r10
	xor	%r8d, %r8d
	syscall
	test	%rax, %rax
	jnz	9b
1:	mov	$SYS_RT_SIGPROCMASK, %eax	/* SIG_SETMASK, nothing blocked */
	mov	$2, %edi
	lea	GLB+ST_G_ZERO_MASK(%rbx), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	mov	$SYS_SECCOMP, %eax
	mov	$1, %edi
	xor	%esi, %esi
	lea	GLB+ST_G_THREAD_PROG(%rbx), %rdx
	syscall
	test	%rax, %rax
	jnz	9b
	/* The patched path's pages, faulted in now (a stub thread is made before its address space is
	 * used, in the pool: off the application's path) rather than at its first patched call, which cost
	 * a fork child ~170 us more than the signal path: the XSAVE buffer and the stack below it in this
	 * thread's alternate stack (the first trap's frame takes only its top), and the first page of the
	 * patch table and of the trampolines (a fork does not copy shared file mappings' page tables). */
	imul	$ST_G_ALT_STRIDE, %r14, %rdi
	mov	GLB+ST_G_ALT(%rbx,%rdi), %rdi	/* its ss_sp */
	orb	$0, ST_ALT_SIZE-ST_PXBUF(%rdi)
	orb	$0, ST_ALT_SIZE-ST_PXBUF-1(%rdi)
	orb	$0, ST_ALT_SIZE-ST_PXBUF-1-ST_PAGE(%rdi)
	cmpl	$0, GLB+ST_G_PATCH_FD(%rbx)
	jl	1f
	mov	$ST_PTAB_ADDR, %edi
	mov	(%rdi), %rax
	mov	GLB+ST_G_TRAMP(%rbx), %rdi
	mov	(%rdi), %rax
1:	xor	%eax, %eax
	.globl st_first_trap
	.hidden st_first_trap
st_first_trap:
	ud2

/*
 * The patched path. Trampoline k jumps here with %eax = its syscall number and %rcx = the address after
 * its site; every other register is the application's, except r11, which a syscall clobbers anyway.
 * It finds its thread page through the gs base (the stub keeps it there while a context with no gs base
 * of its own runs: the page's first word is its own address; a gs-relative load needs no FSGSBASE),
 * stores the registers into the page's register file, moves to the thread's alternate
 * stack, saves the FPU state, lets st_patched() hand the context over and take the next one, and
 * resumes that without a signal frame. Until the stack switch it uses only 8 bytes below the
 * application's red zone; the handler turns any trap on the way into an ordinary syscall report.
 */
	.globl st_patched_entry, st_patched_pushf, st_patched_gsload, st_patched_slow
	.globl st_patched_resume, st_patched_resume_end, st_patched_resume_trap
	.hidden st_patched_entry, st_patched_pushf, st_patched_gsload, st_patched_slow
	.hidden st_patched_resume, st_patched_resume_end, st_patched_resume_trap
st_patched_entry:
	lea	-128(%rsp), %rsp
st_patched_pushf:
	pushfq
st_patched_gsload:			/* faults if the gs base is the application's own: see the handler */
	mov	%gs:ST_T_SELF, %r11
	sub	st_base+GLB+ST_G_THREADS(%rip), %r11
	cmp	$(ST_MAX_THREADS * ST_PAGE), %r11
	jae	st_patched_slow
	test	$(ST_PAGE - 1), %r11d
	jnz	st_patched_slow
	add	st_base+GLB+ST_G_THREADS(%rip), %r11
	popq	ST_MC_EFLAGS(%r11)
	lea	128(%rsp), %rsp
	mov	%rsp, ST_MC_RSP(%r11)
	mov	%rcx, ST_MC_RIP(%r11)
	mov	%rax, ST_MC_RAX(%r11)
	mov	%rbx, ST_MC_RBX(%r11)
	mov	%rdx, ST_MC_RDX(%r11)
	mov	%rsi, ST_MC_RSI(%r11)
	mov	%rdi, ST_MC_RDI(%r11)
	mov	%rbp, ST_MC_RBP(%r11)
	mov	%r8, ST_MC_R8(%r11)
	mov	%r9, ST_MC_R9(%r11)
	mov	%r10, ST_MC_R10(%r11)
	mov	%r12, ST_MC_R12(%r11)
	mov	%r13, ST_MC_R13(%r11)
	mov	%r14, ST_MC_R14(%r11)
	mov	%r15, ST_MC_R15(%r11)
	mov	%r11, %rbx			/* the thread page from here on */
	mov	%r11, %rsp			/* its alternate stack has the same index */
	sub	st_base+GLB+ST_G_THREADS(%rip), %rsp
	shl	$3, %rsp			/* ST_ALT_SIZE / ST_PAGE */
	add	st_base+GLB+ST_G_ALT_BASE(%rip), %rsp
	add	$(ST_ALT_SIZE - ST_PXBUF), %rsp
	mov	%rsp, %r12			/* the XSAVE buffer, 64-byte aligned; the stack grows below */
	mov	%rsp, ST_MC_FPSTATE(%rbx)
	xor	%eax, %eax			/* XSAVE writes only XSTATE_BV of the header */
	mov	%rax, 520(%r12)
	mov	%rax, 528(%r12)
	mov	%rax, 536(%r12)
	mov	%rax, 544(%r12)
	mov	%rax, 552(%r12)
	mov	%rax, 560(%r12)
	mov	%rax, 568(%r12)
	mov	st_base+GLB+ST_G_XMASK(%rip), %eax
	mov	st_base+GLB+ST_G_XMASK+4(%rip), %edx
	xsave64	(%r12)
	mov	%rbx, %rdi
	call	st_patched
	test	$2, %eax
	jnz	st_patched_resume_trap
	test	$1, %eax
	jz	st_patched_resume
	mov	st_base+GLB+ST_G_XMASK(%rip), %eax
	mov	st_base+GLB+ST_G_XMASK+4(%rip), %edx
	xrstor64 (%r12)
/* From here to st_patched_resume_end a kick is the resumed context's: the handler takes its
 * registers from the thread page. */
st_patched_resume:
	cmpl	$0, ST_T_KICK(%rbx)
	jne	st_patched_resume_trap
	pushq	ST_MC_EFLAGS(%rbx)
	popfq
	mov	ST_MC_RAX(%rbx), %rax
	mov	ST_MC_RCX(%rbx), %rcx
	mov	ST_MC_RDX(%rbx), %rdx
	mov	ST_MC_RSI(%rbx), %rsi
	mov	ST_MC_RDI(%rbx), %rdi
	mov	ST_MC_RBP(%rbx), %rbp
	mov	ST_MC_R8(%rbx), %r8
	mov	ST_MC_R9(%rbx), %r9
	mov	ST_MC_R10(%rbx), %r10
	mov	ST_MC_R11(%rbx), %r11
	mov	ST_MC_R12(%rbx), %r12
	mov	ST_MC_R13(%rbx), %r13
	mov	ST_MC_R14(%rbx), %r14
	mov	ST_MC_R15(%rbx), %r15
	mov	ST_MC_RSP(%rbx), %rsp
	mov	ST_MC_RBX(%rbx), %rbx
	jmp	*%gs:ST_MC_RIP
st_patched_resume_end:
/* The gs base is not a thread page (the application set its own): the handler reports the syscall. */
st_patched_slow:
	ud2
/* Resume through a signal frame (another gs base, compat mode, TF, sentry-written FPU state, a kick). */
st_patched_resume_trap:
	ud2

	.section .note.GNU-stack, "", @progbits
