/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark guest: r12 times `mov $39,%eax; syscall` (getpid, the exact pattern patching targets),
 * then exit(0). r12 survives syscalls (rcx and r11 do not). */
	.text
	.globl bench_guest_start, bench_guest_end
bench_guest_start:
1:	mov	$39, %eax
	syscall
	dec	%r12
	jnz	1b
	mov	$60, %eax
	xor	%edi, %edi
	syscall
	ud2
bench_guest_end:

	.section .note.GNU-stack, "", @progbits
