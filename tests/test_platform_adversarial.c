// SPDX-License-Identifier: Apache-2.0
// Platform tests: an application that tries what only a kernel may do — privileged instructions,
// every software interrupt, the kernel half of the address space, the trap and alignment-check flags,
// a non-canonical jump, a syscall with a wild stack pointer — gets exactly the signal the same bytes
// get when run natively on this host (signal, si_code, si_addr, rip), and its context goes on working
// afterwards. On kvm this is the backend's own ring 0 being attacked (issue 13's adversarial list); on
// ptrace and systrap it checks that nothing of the host's answer is lost or confused on the way.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include "guestlib.h"

GUEST_BLOB(g_fault);
extern const uint8_t g_fault_ret[], g_fault_ret_end[];

#define PAGE 4096ull
#define CODE (GUEST_DATA_ADDR + 0x300000)    /* the bytes under test; ud2 at +32 */
#define RET_CODE (GUEST_DATA_ADDR + 0x310000) /* mov $0x601,%eax; syscall: the context still works */
#define KADDR 0xffff800000000000ull          /* the kernel half (kvm's ring-0 area lives here) */
#define NONCANON 0x0000800000000000ull
#define RBX_MARK 0x1122334455667788ull
#define EFLAGS_TF 0x100ull
#define EFLAGS_AC 0x40000ull

struct outcome {
	int signo, code;
	int64_t addr; /* si_addr, as an offset from CODE when it falls in the code page */
	int64_t rip;  /* offset from CODE */
};

#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

static inline NO_SANITIZE int64_t rel(uint64_t a)
{
	return a >= CODE && a < CODE + PAGE ? (int64_t)(a - CODE) : (int64_t)a;
}

static int report_fd = -1;
static const char *current_platform;

/* Uninstrumented: under the sanitizers nothing may run before AC is cleared (a misaligned access of
 * their runtime would be a second SIGBUS). */
static NO_SANITIZE void native_handler(int sig, siginfo_t *si, void *uc_)
{
	/* Linux keeps the application's AC in the handler: clear it before anything is misaligned. */
	__asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" : : : "memory", "cc");
	const ucontext_t *uc = uc_;
	struct outcome o = { .signo = sig, .code = si->si_code, .addr = rel((uint64_t)si->si_addr),
			     .rip = rel((uint64_t)uc->uc_mcontext.gregs[REG_RIP]) };
	if (write(report_fd, &o, sizeof(o)) < 0)
		_exit(2);
	_exit(0);
}

/* The bytes run natively in a child, with the registers the guest gets: rax = KADDR, rdx = 0x60. */
static struct outcome native(const char *name, const uint8_t *bytes, size_t n)
{
	int p[2];
	struct outcome o = { 0 };
	ASSERT_EQ(pipe(p), 0);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		report_fd = p[1];
		uint8_t *c = mmap((void *)CODE, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		static uint64_t stack[512];
		struct sigaction sa = { .sa_sigaction = native_handler, .sa_flags = SA_SIGINFO | SA_ONSTACK };
		static uint8_t alt[65536];
		stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
		if (c != (void *)CODE || sigaltstack(&ss, NULL) < 0)
			_exit(3);
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				sigaction(s, &sa, NULL);
		memset(c, 0x90, 64);
		memcpy(c, bytes, n);
		memcpy(c + 32, "\x0f\x0b", 2);
		__asm__ volatile("mov %0, %%rsp; mov %1, %%rax; mov $0x60, %%edx; jmp *%2"
				 : : "D"(&stack[510]), "S"(KADDR), "c"(c) : "memory");
		__builtin_unreachable();
	}
	close(p[1]);
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ssize_t got = read(p[0], &o, sizeof(o));
	close(p[0]);
	if (got != (ssize_t)sizeof(o))
		HARNESS_FAIL(1, "%s: the native run reported nothing (status %#x)", name, status);
	return o;
}

/* The same bytes in the guest; then the context must still run a syscall with its registers. */
static struct outcome boxed(struct guest *g, uint8_t *code, const uint8_t *bytes, size_t n, bool *syscall_exit)
{
	memset(code, 0x90, 64);
	memcpy(code, bytes, n);
	memcpy(code + 32, "\x0f\x0b", 2);
	g->st->regs.rip = CODE;
	g->st->regs.rax = KADDR;
	g->st->regs.rdx = 0x60;
	g->st->regs.rbx = RBX_MARK;
	g->st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 64;
	struct cv_exit e = guest_run(g);
	struct outcome o = { .rip = rel(g->st->regs.rip) };
	*syscall_exit = e.reason == CV_EXIT_SYSCALL;
	if (e.reason == CV_EXIT_SIGNAL) {
		o.signo = e.info.si_signo;
		o.code = e.info.si_code;
		o.addr = rel((uint64_t)e.info.si_addr);
	} else if (!*syscall_exit) {
		HARNESS_FAIL(0, "exit reason %d", e.reason);
	}
	/* Whatever happened, the context goes on: the flags the app set are cleared as a handler would. */
	g->st->regs.eflags &= ~(EFLAGS_TF | EFLAGS_AC);
	g->st->regs.rip = RET_CODE;
	g->st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 64;
	EXPECT_EQ(guest_run_syscall(g), 0x601);
	if (o.signo && o.rip == 0) /* stopped at the first instruction: nothing of the app's ran */
		EXPECT_EQ(g->st->regs.rbx, RBX_MARK);
	return o;
}

/* @noncanon: an access to a non-canonical address, which hardware reports as #GP (SIGSEGV, SI_KERNEL)
 * but an emulator such as QEMU's TCG (kvm-tcg's host) as a page fault: either answer is Linux's. */
static void check_as(struct guest *g, uint8_t *code, const char *name, const uint8_t *bytes, size_t n, bool noncanon)
{
	struct outcome want = native(name, bytes, n);
	bool sys;
	struct outcome got = boxed(g, code, bytes, n, &sys);
	if (sys && bytes[0] == 0xcd && bytes[1] == 0x80)
		return; /* int $0x80: offered to the caller as a 32-bit syscall (include/cvisor/ctx.h) */
	if (bytes[0] == 0xcd && bytes[1] == 0x1a && strcmp(current_platform, "kvm") == 0 &&
	    access("/sys/module/kvm_pvm", F_OK) == 0 && !sys && got.signo == SIGILL && got.rip == 32) {
		/* PVM (measured 2026-12-06) runs int $0x1a from ring 3 as if it were not there: no exit
		 * at all, the context runs on to the ud2 after it. Nothing reaches the host; docs/kvm.md. */
		printf("  int $0x1a: PVM does not deliver it (the context ran on to the next fault)\n");
		return;
	}
	if (noncanon && !sys && got.signo == SIGSEGV && got.code == SI_KERNEL && got.addr == 0 && got.rip == want.rip)
		return;
	if (sys || got.signo != want.signo || got.code != want.code || got.addr != want.addr || got.rip != want.rip)
		HARNESS_FAIL(0, "%s: native signal %d code %#x addr %#llx rip +%lld; %s: %s signal %d code %#x addr %#llx rip +%lld",
			     name, want.signo, want.code, (unsigned long long)want.addr, (long long)want.rip, current_platform,
			     sys ? "a syscall exit," : "", got.signo, got.code, (unsigned long long)got.addr, (long long)got.rip);
}

static void check(struct guest *g, uint8_t *code, const char *name, const uint8_t *bytes, size_t n)
{
	check_as(g, code, name, bytes, n, false);
}

#define CHECK(name, lit) check(&g, code, name, (const uint8_t *)(lit), sizeof(lit) - 1)
#define CHECK_NONCANON(name, lit) check_as(&g, code, name, (const uint8_t *)(lit), sizeof(lit) - 1, true)

static void setup(struct guest *g, const char *platform, uint8_t **code)
{
	current_platform = platform;
	guest_setup(g, platform, g_fault_start, g_fault_end);
	*code = guest_map_anon(g, CODE, PAGE, CV_ACCESS_READ | CV_ACCESS_EXEC, NULL);
	uint8_t *ret = guest_map_anon(g, RET_CODE, PAGE, CV_ACCESS_READ | CV_ACCESS_EXEC, NULL);
	memcpy(ret, g_fault_ret, (size_t)(g_fault_ret_end - g_fault_ret));
}

PLATFORM_TEST(adversarial_privileged_instructions)
{
	struct guest g;
	uint8_t *code;
	setup(&g, platform, &code);
	CHECK("hlt", "\xf4");
	CHECK("cli", "\xfa");
	CHECK("sti", "\xfb");
	CHECK("lidt (%rax)", "\x0f\x01\x18");
	CHECK("lgdt (%rax)", "\x0f\x01\x10");
	CHECK("mov %rax,%cr3", "\x0f\x22\xd8");
	CHECK("mov %cr3,%rax", "\x0f\x20\xd8");
	CHECK("mov %rax,%cr0", "\x0f\x22\xc0");
	CHECK("in $0x60,%al", "\xe4\x60");
	CHECK("out %al,$0x80", "\xe6\x80");
	CHECK("in (%dx),%al", "\xec");
	CHECK("out %al,(%dx)", "\xee");
	CHECK("rdmsr", "\x0f\x32");
	CHECK("wrmsr", "\x0f\x30");
	CHECK("invlpg (%rax)", "\x0f\x01\x38");
	CHECK("clts", "\x0f\x06");
	CHECK("mov %rax,%dr7", "\x0f\x23\xf8");
	CHECK("swapgs", "\x0f\x01\xf8");
	CHECK("sysretq", "\x48\x0f\x07");
	CHECK("wbinvd", "\x0f\x09");
	CHECK("ltr %ax", "\x0f\x00\xd8");
	CHECK("lldt %ax", "\x0f\x00\xd0");
	CHECK("lmsw %ax", "\x0f\x01\xf0");
	CHECK("sgdt (%rax)", "\x0f\x01\x00"); /* UMIP or not, as the host */
	CHECK("sidt (%rax)", "\x0f\x01\x08");
	guest_teardown(&g);
}

PLATFORM_TEST(adversarial_every_software_interrupt)
{
	struct guest g;
	uint8_t *code;
	setup(&g, platform, &code);
	for (int v = 0; v < 256; v++) {
		uint8_t b[2] = { 0xcd, (uint8_t)v };
		char name[16];
		snprintf(name, sizeof(name), "int $%#x", v);
		check(&g, code, name, b, 2);
	}
	CHECK("int1 (icebp)", "\xf1");
	CHECK("int3", "\xcc");
	guest_teardown(&g);
}

PLATFORM_TEST(adversarial_kernel_half_and_wild_addresses)
{
	struct guest g;
	uint8_t *code;
	setup(&g, platform, &code);
	CHECK("load from the kernel half", "\x48\x8b\x00");
	CHECK("store to the kernel half", "\x48\x89\x00");
	CHECK("jump into the kernel half", "\xff\xe0");
	CHECK("load from the top page", "\x48\xc7\xc0\x00\xf0\xff\xff\x48\x8b\x00"); /* mov $-4096,%rax; mov (%rax),%rax */
	CHECK_NONCANON("jump to a non-canonical address", "\x48\xb8\x00\x00\x00\x00\x00\x80\x00\x00\xff\xe0");
	CHECK_NONCANON("load from a non-canonical address", "\x48\xb8\x00\x00\x00\x00\x00\x80\x00\x00\x48\x8b\x00");
	CHECK("trap flag set by the application", "\x9c\x48\x81\x0c\x24\x00\x01\x00\x00\x9d\x90\x90");
	CHECK("alignment check set by the application",
	      "\x9c\x48\x81\x0c\x24\x00\x00\x04\x00\x9d\x48\x8b\x44\x24\x01"); /* misaligned load: SIGBUS */
	guest_teardown(&g);
}

/* A syscall with a stack pointer in the kernel half, 0 or the top page: the entry uses no application
 * stack, the exit reports the registers as they were, and the app resumes with them. A non-canonical
 * one is SIGSEGV (natively the kernel cannot return to it), and the context works again once fixed. */
PLATFORM_TEST(adversarial_syscall_with_wild_stack)
{
	struct guest g;
	uint8_t *code;
	setup(&g, platform, &code);
	static const uint8_t sys[] = "\xb8\x02\x06\x00\x00\x0f\x05\xb8\x01\x06\x00\x00\x0f\x05"; /* 0x602, then 0x601 */
	memcpy(code, sys, sizeof(sys) - 1);
	g.st->regs.rip = CODE;
	g.st->regs.rsp = NONCANON;
	struct cv_exit e = guest_run(&g);
	/* Natively SIGSEGV (the kernel cannot return to that stack pointer); kvm needs no stack to
	 * return and may report the syscall with the stack pointer intact. */
	if (e.reason == CV_EXIT_SYSCALL)
		EXPECT_TRUE(g.st->regs.orig_rax == 0x602 && g.st->regs.rsp == NONCANON);
	else
		EXPECT_TRUE(e.reason == CV_EXIT_SIGNAL && e.info.si_signo == SIGSEGV);
	g.st->regs.rip = CODE;
	g.st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE;
	EXPECT_EQ(guest_run_syscall(&g), 0x602);
	const uint64_t wild[] = { KADDR, KADDR + 0x1000, 0, 8, 0xfffffffffffff000ull };
	for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
		memcpy(code, sys, sizeof(sys) - 1);
		g.st->regs.rip = CODE;
		g.st->regs.rsp = wild[i];
		g.st->regs.rbx = RBX_MARK;
		EXPECT_EQ(guest_run_syscall(&g), 0x602);
		EXPECT_EQ(g.st->regs.rsp, wild[i]);
		EXPECT_EQ(g.st->regs.rip, CODE + 7);
		EXPECT_EQ(guest_run_syscall(&g), 0x601);
		EXPECT_EQ(g.st->regs.rsp, wild[i]);
		EXPECT_EQ(g.st->regs.rbx, RBX_MARK);
	}
	guest_teardown(&g);
}
