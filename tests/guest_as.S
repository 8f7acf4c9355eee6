// SPDX-License-Identifier: Apache-2.0
// Guest code blobs for the address-space, AS-IO, thread and leak tests (position-independent).
//
// Every blob reports through a `syscall` with a number of 1000 and up, which no backend executes:
// the sentry answers it. `syscall` clobbers rcx and r11, so no blob keeps state there.

	.text

// gas_rw: one memory operation per syscall, selected by rdx, then syscall 1000 and start over.
//   rdx = 0: rsi = 64-bit load from (rdi)
//   rdx = 1: 64-bit store of rsi to (rdi)
//   rdx = 2: jump to rdi (an instruction fetch)
//   rdx = 3: rsi = 64-bit load from (rdi), then 64-bit store of r8 to (r9)
	.globl gas_rw_start, gas_rw_end, gas_rw_load
gas_rw_start:
.Lrw:
	cmp $1, %rdx
	je 1f
	cmp $2, %rdx
	je 2f
gas_rw_load:
	mov (%rdi), %rsi
	cmp $3, %rdx
	jne 3f
	mov %r8, (%r9)
	jmp 3f
1:	mov %rsi, (%rdi)
	jmp 3f
2:	jmp *%rdi
3:	mov $1000, %eax
	syscall
	jmp .Lrw
gas_rw_end:

// gas_xadd: r12 times `lock xaddl` +1 to the 32-bit word at (rdi), with a syscall 1001 every 1024
// increments (so the host sees it running), then syscall 1002 and start over.
	.globl gas_xadd_start, gas_xadd_end
gas_xadd_start:
.Lxadd:
	mov $1, %ebx
	lock xaddl %ebx, (%rdi)
	dec %r12
	jz 2f
	test $1023, %r12
	jnz .Lxadd
	mov $1001, %eax
	syscall
	jmp .Lxadd
2:	mov $1002, %eax
	syscall
	jmp .Lxadd
gas_xadd_end:

// gas_cas: like gas_xadd, but each increment is a `lock cmpxchgl` retry loop on the word at (rdi).
	.globl gas_cas_start, gas_cas_end
gas_cas_start:
.Lcas:
	movl (%rdi), %eax
1:	lea 1(%rax), %ebx
	lock cmpxchgl %ebx, (%rdi)
	jnz 1b
	dec %r12
	jz 2f
	test $1023, %r12
	jnz .Lcas
	mov $1001, %eax
	syscall
	jmp .Lcas
2:	mov $1002, %eax
	syscall
	jmp .Lcas
gas_cas_end:

// gas_lock: like gas_xadd, but each increment is a plain load, add and store of the word at (rsi)
// under a spin lock at (rdi) taken with `xchgl` (1 = held) and released with a plain store of 0.
	.globl gas_lock_start, gas_lock_end
gas_lock_start:
.Llock:
	mov $1, %eax
	xchgl %eax, (%rdi)
	test %eax, %eax
	jz 1f
	pause
	jmp .Llock
1:	movl (%rsi), %ebx
	inc %ebx
	movl %ebx, (%rsi)
	movl $0, (%rdi)
	dec %r12
	jz 2f
	test $1023, %r12
	jnz .Llock
	mov $1001, %eax
	syscall
	jmp .Llock
2:	mov $1002, %eax
	syscall
	jmp .Llock
gas_lock_end:

// gas_count: r12 = id, r13 = counter (starts where the sentry left it), r14 = last counter.
// Each round: counter++, syscall 1003 with rdi = id, rsi = counter, rdx = the value the previous
// syscall returned (rax). When the counter reaches r14: syscall 1004 with the same arguments.
	.globl gas_count_start, gas_count_end
gas_count_start:
.Lcount:
	xor %eax, %eax
1:	mov %rax, %rdx
	inc %r13
	mov %r12, %rdi
	mov %r13, %rsi
	cmp %r14, %r13
	jae 2f
	mov $1003, %eax
	syscall
	jmp 1b
2:	mov $1004, %eax
	syscall
	jmp .Lcount
gas_count_end:

// gas_spin: store 1 to the 32-bit word at (rdi) (so the host knows it runs), then spin forever.
	.globl gas_spin_start, gas_spin_end
gas_spin_start:
	movl $1, (%rdi)
1:	pause
	jmp 1b
gas_spin_end:

// gas_sys: syscall 1005 with rdi = rsi + 1, forever.
	.globl gas_sys_start, gas_sys_end
gas_sys_start:
.Lsys:
	lea 1(%rsi), %rdi
	mov $1005, %eax
	syscall
	jmp .Lsys
gas_sys_end:

// gas_fpu: xmm0 (low quadword) += 1, then syscall 1006 with rdi = the new value, forever. The counter
// lives only in xmm0, so it survives only if the context's XSAVE state does.
	.globl gas_fpu_start, gas_fpu_end
gas_fpu_start:
.Lfpu:
	movq %xmm0, %rdi
	inc %rdi
	movq %rdi, %xmm0
	mov $1006, %eax
	syscall
	jmp .Lfpu
gas_fpu_end:

// gas_poll: count iterations in the 64-bit word at (r8) and load the 64-bit word at (rdi) until it
// differs from r12; then r12 = rsi = the new value, syscall 1007, and poll again.
	.globl gas_poll_start, gas_poll_end
gas_poll_start:
.Lpoll:
	incq (%r8)
	mov (%rdi), %rsi
	cmp %rsi, %r12
	je .Lpoll
	mov %rsi, %r12
	mov $1007, %eax
	syscall
	jmp .Lpoll
gas_poll_end:

	.section .note.GNU-stack,"",@progbits
