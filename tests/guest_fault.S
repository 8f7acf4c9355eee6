/* SPDX-License-Identifier: Apache-2.0 */
/* Guest code for the fault platform tests: the sentry enters at an ENTRY label with rdi = an address
 * (rsi = a value to store); each entry that can complete ends in marker syscall 0x600. */
#define BLOB(name) .globl name##_start, name##_end; name##_start:
#define END(name) name##_end:
#define ENTRY(name) .globl name; name:

	.text
BLOB(g_fault)
ENTRY(g_fault_load)			/* READ */
	mov	(%rdi), %rbx
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_store)			/* WRITE */
	mov	%rsi, (%rdi)
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_rmw)			/* read-modify-write: WRITE on a read-only page */
	addq	$1, (%rdi)
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_push)			/* implicit stack write at rsp - 8 */
	push	%rsi
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_stos)			/* rep stosb of rcx bytes of al at rdi */
	mov	%esi, %eax
	rep stosb
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_exec)			/* EXEC at rdi */
	jmp	*%rdi
ENTRY(g_fault_div0)
	xor	%ebx, %ebx
	mov	$1, %eax
	xor	%edx, %edx
ENTRY(g_fault_div0_insn)
	div	%ebx
	ud2
ENTRY(g_fault_ud2)
	ud2
ENTRY(g_fault_int3)
	int3
ENTRY(g_fault_after_int3)
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_divss)			/* SSE divide by zero: xmm0 / xmm1 */
	divss	%xmm1, %xmm0
	mov	$0x600, %eax
	syscall
	ud2
ENTRY(g_fault_hlt)			/* privileged: #GP */
	hlt
	ud2
ENTRY(g_fault_int41)			/* a software interrupt the kernel does not offer: #GP */
	int	$0x41
	ud2
ENTRY(g_fault_ret)			/* copied to other pages as an exec target: marker 0x601 */
	mov	$0x601, %eax
	syscall
	ud2
ENTRY(g_fault_ret_end)
END(g_fault)

	.section .note.GNU-stack, "", @progbits
