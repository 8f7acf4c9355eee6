/* SPDX-License-Identifier: Apache-2.0 */
/* Guest code for the platform tests of syscalls, CPU state, faults and interrupts. Position independent;
 * the sentry enters at NAME_start or at a label's offset from it. rcx/r11 are clobbered by syscall. */
	.text
#define BLOB(name) .globl name##_start, name##_end; name##_start:
#define END(name) name##_end:
#define ENTRY(name) .globl name; name:

/* Every syscall number: r12 = number to use, r13 = the result the sentry promises. 0xbad on mismatch. */
BLOB(g_sysnr)
1:	mov	%r12, %rax
	syscall
	cmp	%r13, %rax
	je	1b
	mov	$0xbad, %eax
	syscall
	ud2
END(g_sysnr)

/* int $0x80 (i386 getpid), then sysenter, each followed by a marker syscall 500. */
BLOB(g_int80)
	mov	$20, %eax
	int	$0x80
	mov	$500, %eax
	syscall
ENTRY(g_int80_sysenter)
	mov	$20, %eax
	sysenter
	mov	$501, %eax
	syscall
	ud2
END(g_int80)

/* Legacy vsyscall gettimeofday, then report its result (rax) in rdi with syscall 502. */
BLOB(g_vsys)
	xor	%edi, %edi
	xor	%esi, %esi
	mov	$0xffffffffff600000, %rax
	call	*%rax
	mov	%rax, %rdi
	mov	$502, %eax
	syscall
	ud2
END(g_vsys)

/* Host side effects, each attempted for real: open(O_CREAT), write, mkdir, kill, exit_group.
 * rbx points at a path in guest memory; r12 holds a pid to kill. */
BLOB(g_escape)
	mov	$2, %eax		/* open(path, O_CREAT|O_WRONLY, 0644) */
	mov	%rbx, %rdi
	mov	$0101, %esi
	mov	$0644, %edx
	syscall
	mov	%rax, %rdi		/* write(fd, path, 4) */
	mov	$1, %eax
	mov	%rbx, %rsi
	mov	$4, %edx
	syscall
	mov	$83, %eax		/* mkdir(path2, 0755) */
	lea	16(%rbx), %rdi
	mov	$0755, %esi
	syscall
	mov	$62, %eax		/* kill(r12, SIGKILL) */
	mov	%r12, %rdi
	mov	$9, %esi
	syscall
	mov	$231, %eax		/* exit_group(3) */
	mov	$3, %edi
	syscall
	mov	$503, %eax
	syscall
	ud2
END(g_escape)

/* CPU state round trip (SSE): trap; compute copies; trap; compute with what the sentry changed; fault. */
BLOB(g_state_sse)
	syscall
	mov	%r8, %r9
	mov	%fs:0, %r14
	mov	%gs:8, %r15
	movups	%xmm3, %xmm4
	syscall
	mov	%r8, %r10
	movups	%xmm3, %xmm5
	ud2
END(g_state_sse)

/* The same with AVX-512: zmm3 -> zmm4, zmm17 -> zmm18, k1 -> k2; then zmm3 -> zmm6, k1 -> k3. */
BLOB(g_state_avx512)
	syscall
	mov	%r8, %r9
	mov	%fs:0, %r14
	mov	%gs:8, %r15
	movups	%xmm3, %xmm4
	vmovdqu64 %zmm3, %zmm4
	vmovdqu64 %zmm17, %zmm18
	kmovq	%k1, %k2
	syscall
	mov	%r8, %r10
	vmovdqu64 %zmm3, %zmm6
	kmovq	%k1, %k3
	ud2
END(g_state_avx512)

/* Faults: the sentry enters at each label with rdi = address; each ends in marker syscall 600. */
BLOB(g_fault)
ENTRY(g_fault_load)
	mov	(%rdi), %rbx
	mov	$600, %eax
	syscall
	ud2
ENTRY(g_fault_store)
	mov	%rsi, (%rdi)
	mov	$600, %eax
	syscall
	ud2
ENTRY(g_fault_exec)
	jmp	*%rdi
ENTRY(g_fault_div0)
	xor	%ebx, %ebx
	mov	$1, %eax
	xor	%edx, %edx
	div	%ebx
	ud2
ENTRY(g_fault_ud2)
	ud2
ENTRY(g_fault_int3)
	int3
	mov	$600, %eax
	syscall
	ud2
ENTRY(g_fault_ret)		/* the exec target: return via a marker */
	mov	$601, %eax
	syscall
	ud2
END(g_fault)

/* Spin forever (for interrupts); or keep an XMM value across syscalls (for migration). */
BLOB(g_spin)
1:	jmp	1b
END(g_spin)

BLOB(g_migrate)
	syscall
	movups	%xmm0, %xmm1
	syscall
	movups	%xmm1, %xmm2
	syscall
	ud2
END(g_migrate)

/* cpuid with eax/ecx set by the sentry, results reported by a marker syscall 700. */
BLOB(g_cpuid)
	cpuid
	mov	$700, %eax
	syscall
	ud2
END(g_cpuid)

	.section .note.GNU-stack, "", @progbits
