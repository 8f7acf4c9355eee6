// SPDX-License-Identifier: Apache-2.0
// The exit-per-trap floor on this /dev/kvm, with no cvisor code: one vCPU runs a ring-3 `syscall`,
// which reaches a ring-0 `hlt` at LSTAR (hardware) or faults fetching the supervisor-only LSTAR page
// into a `hlt` stub (PVM); KVM_RUN returns; the host puts RIP back on the syscall (sync regs) and runs
// again. Prints the mean round trip in ns. `bench/kvm_floor.sh` sets it beside `cvisor bench --platform
// kvm`'s getpid. Build: gcc -O2 -o kvm_floor bench/kvm_floor.c
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM (4u << 20)
#define KBASE 0xffff800000000000ull
#define P 1ull
#define W 2ull
#define U 4ull

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static int fail(const char *what)
{
	fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
	return 1;
}

static struct kvm_segment seg(uint16_t sel, int code, int dpl)
{
	struct kvm_segment s = { .limit = 0xffffffff, .selector = sel, .present = 1, .dpl = (uint8_t)dpl, .s = 1, .g = 1 };
	s.type = code ? 0xb : 0x3;
	s.l = code;
	s.db = !code;
	return s;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	if (n < 1) {
		fprintf(stderr, "usage: kvm_floor [N > 0]\n");
		return 2;
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = { .slot = 0, .memory_size = MEM, .userspace_addr = (uintptr_t)mem };
	if (mem == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail("memory");
	/* pages: 0 PML4, 1 PDPT(user), 2 PD(user), 3 PT(user), 4 PDPT(kernel), 5 PD(kernel), 6 PT(kernel),
	 * 7 IDT, 8 GDT+TSS, 9 ring-0 stack, 10 stubs (hlt), 11 user code at 0x400000 */
	uint64_t *pt = (uint64_t *)mem;
	pt[0] = 0x1000 | P | W | U;
	pt[256] = 0x4000 | P | W;
	pt[512 + 0] = 0x2000 | P | W | U;
	pt[1024 + 2] = 0x3000 | P | W | U;            /* 0x400000 */
	pt[1536 + 0] = 0xb000 | P | U;                /* user code, executable */
	pt[2048 + 0] = 0x5000 | P | W;
	pt[2560 + 0] = 0x6000 | P | W;
	for (int i = 7; i <= 10; i++)
		pt[3072 + i] = (uint64_t)i * 0x1000 | P | W; /* kernel va KBASE + i*4K */
	memset(mem + 0xa000, 0xf4, 0x1000);
	uint64_t stub = KBASE + 0xa000, lstar = KBASE + 0xa800;
	uint64_t *idt = (uint64_t *)(mem + 0x7000);
	for (int v = 0; v < 256; v++) {
		idt[2 * v] = (stub & 0xffff) | 0x10ull << 16 | 0x8eull << 40 | ((stub >> 16) & 0xffff) << 48;
		idt[2 * v + 1] = stub >> 32;
	}
	uint64_t *gdt = (uint64_t *)(mem + 0x8000);
	gdt[2] = 0x00af9b000000ffffull;
	gdt[3] = 0x00cf93000000ffffull;
	gdt[4] = 0x00cffb000000ffffull;
	gdt[5] = 0x00cff3000000ffffull;
	gdt[6] = 0x00affb000000ffffull;
	uint64_t tss = KBASE + 0x8800, rsp0 = KBASE + 0xa000;
	gdt[8] = 0x67 | (tss & 0xffffff) << 16 | 0x89ull << 40 | ((tss >> 24) & 0xff) << 56;
	gdt[9] = tss >> 32;
	memcpy(mem + 0x8800 + 4, &rsp0, 8);
	static const uint8_t code[] = { 0x0f, 0x05, 0xeb, 0xfc }; /* syscall; jmp back */
	memcpy(mem + 0xb000, code, sizeof(code));

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	long rs = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || rs <= 0)
		return fail("vCPU");
	struct kvm_run *run = mmap(NULL, (size_t)rs, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("kvm_run");
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[3];
	} msrs = { .h.nmsrs = 3 };
	msrs.e[0] = (struct kvm_msr_entry){ .index = 0xc0000081, .data = 0x10ull << 32 | 0x23ull << 48 };
	msrs.e[1] = (struct kvm_msr_entry){ .index = 0xc0000082, .data = lstar };
	msrs.e[2] = (struct kvm_msr_entry){ .index = 0xc0000084, .data = 0x47700 };
	if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 3)
		return fail("KVM_SET_MSRS");
	struct kvm_sregs sr;
	if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0)
		return fail("KVM_GET_SREGS");
	sr.cr0 = 0x80050033;
	sr.cr4 = 0x20 | 0x200 | 0x400;
	sr.efer = 0xd01;
	sr.cr3 = 0;
	sr.cs = seg(0x33, 1, 3);
	sr.ss = seg(0x2b, 0, 3);
	sr.ds = sr.es = sr.fs = sr.gs = (struct kvm_segment){ .unusable = 1 };
	sr.gdt.base = KBASE + 0x8000;
	sr.gdt.limit = 127;
	sr.idt.base = KBASE + 0x7000;
	sr.idt.limit = 4095;
	sr.tr = (struct kvm_segment){ .base = tss, .limit = 0x67, .selector = 0x40, .type = 11, .present = 1 };
	sr.ldt = (struct kvm_segment){ .unusable = 1 };
	if (ioctl(vcpu, KVM_SET_SREGS, &sr) < 0)
		return fail("KVM_SET_SREGS");
	run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	run->s.regs.sregs = sr;
	unsigned long long t0 = 0;
	for (int pass = 0; pass < 2; pass++) { /* a warm-up tenth, then the measured run */
		long m = pass ? n : n / 10 + 1;
		t0 = now_ns();
		for (long i = 0; i < m; i++) {
			run->s.regs.regs.rip = 0x400000;
			run->s.regs.regs.rflags = 0x202;
			run->s.regs.regs.rsp = 0x400ff0;
			run->s.regs.sregs.cs = sr.cs;
			run->s.regs.sregs.ss = sr.ss;
			run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
			if (ioctl(vcpu, KVM_RUN, 0) < 0)
				return fail("KVM_RUN");
			if (run->exit_reason != KVM_EXIT_HLT) {
				fprintf(stderr, "kvm_floor: exit reason %u at %#llx\n", run->exit_reason,
					(unsigned long long)run->s.regs.regs.rip);
				return 1;
			}
		}
	}
	printf("%llu\n", (now_ns() - t0) / (unsigned long long)n);
	return 0;
}
