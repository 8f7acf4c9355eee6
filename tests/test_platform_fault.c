// SPDX-License-Identifier: Apache-2.0
// Platform tests: faults come back with the right signal, si_code, si_addr and access type, and the
// sentry can resolve them (demand paging, growing a file) and resume the faulting instruction.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include "guestlib.h"

GUEST_BLOB(g_fault);
extern const uint8_t g_fault_load[], g_fault_store[], g_fault_rmw[], g_fault_push[], g_fault_stos[],
	g_fault_exec[], g_fault_div0[], g_fault_div0_insn[], g_fault_ud2[], g_fault_int3[],
	g_fault_after_int3[], g_fault_divss[], g_fault_hlt[], g_fault_int41[], g_fault_ret[],
	g_fault_ret_end[];

#define AT(label) (GUEST_CODE_ADDR + (uint64_t)((label) - g_fault_start))
#define PAGE 4096ull
#define PAGE_ADDR (GUEST_DATA_ADDR + 0x100000) /* data pages the tests map and unmap */
#define CODE_ADDR (GUEST_DATA_ADDR + 0x200000) /* code pages the tests map and unmap */
#define STORED 0x5a5a5a5a5a5a5a5aull         /* what the store entries write (rsi) */

static void enter(struct guest *g, const uint8_t *label, uint64_t rdi)
{
	g->st->regs.rip = AT(label);
	g->st->regs.rdi = rdi;
	g->st->regs.rsi = STORED;
	g->st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE;
}

static const char *access_name(unsigned a)
{
	return a == CV_ACCESS_READ ? "read" : a == CV_ACCESS_WRITE ? "write" : a == CV_ACCESS_EXEC ? "exec" : "?";
}

/* Run; expect @signo with @code at @addr, access @access, rip at @rip. */
static struct cv_exit expect_fault(struct guest *g, int signo, int code, uint64_t addr, unsigned access,
				   uint64_t rip)
{
	struct cv_exit e = guest_run_signal(g, signo);
	EXPECT_EQ(e.info.si_code, code);
	EXPECT_EQ((uint64_t)e.info.si_addr, addr);
	if (e.access != access)
		HARNESS_FAIL(0, "fault at %#llx: access %s (%u), want %s", (unsigned long long)addr,
			     access_name(e.access), e.access, access_name(access));
	EXPECT_EQ(e.fault_flags & CV_FAULT_ACCESS_GUESSED, 0);
	EXPECT_EQ(g->st->regs.rip, rip);
	return e;
}

static struct cv_exit expect_segv(struct guest *g, int code, uint64_t addr, unsigned access, uint64_t rip)
{
	return expect_fault(g, SIGSEGV, code, addr, access, rip);
}

/* A page of code at @addr whose entry is g_fault_ret (marker 0x601), mapped with @access. */
static uint64_t map_ret_page(struct guest *g, uint64_t addr, unsigned access)
{
	uint64_t off;
	uint8_t *c = guest_map_anon(g, addr, PAGE, access, &off);
	memcpy(c, g_fault_ret, (size_t)(g_fault_ret_end - g_fault_ret));
	return off;
}

PLATFORM_TEST(fault_unmapped_then_demand_paged)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	uint64_t a = PAGE_ADDR + 0x18;

	/* Read of an unmapped page; map it and the load completes. */
	enter(&g, g_fault_load, a);
	expect_segv(&g, SEGV_MAPERR, a, CV_ACCESS_READ, AT(g_fault_load));
	uint64_t *page = guest_map_anon(&g, PAGE_ADDR, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	page[3] = 0x123456789abcdefull;
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(g.st->regs.rbx, 0x123456789abcdefull);

	/* Write to an unmapped page; the store completes into the new page. */
	ASSERT_OK(cv_as_unmap(g.as, PAGE_ADDR, PAGE));
	enter(&g, g_fault_store, a);
	expect_segv(&g, SEGV_MAPERR, a, CV_ACCESS_WRITE, AT(g_fault_store));
	page = guest_map_anon(&g, PAGE_ADDR, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(page[3], STORED);

	/* Jump to an unmapped page; map code there and the jump lands. */
	enter(&g, g_fault_exec, CODE_ADDR);
	expect_segv(&g, SEGV_MAPERR, CODE_ADDR, CV_ACCESS_EXEC, CODE_ADDR);
	map_ret_page(&g, CODE_ADDR, CV_ACCESS_READ | CV_ACCESS_EXEC);
	ASSERT_EQ(guest_run_syscall(&g), 0x601);
	EXPECT_EQ(g.st->regs.rip, CODE_ADDR + 7); /* mov $0x601,%eax; syscall */
	guest_teardown(&g);
}

PLATFORM_TEST(fault_protected_pages)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	uint64_t a = PAGE_ADDR + 0x40, off;
	const int fd = cv_memfile_fd(g.mf);

	/* No access at all: read, write and exec all fault with ACCERR. */
	uint64_t *page = guest_map_anon(&g, PAGE_ADDR, PAGE, 0, &off);
	page[8] = 77;
	enter(&g, g_fault_load, a);
	expect_segv(&g, SEGV_ACCERR, a, CV_ACCESS_READ, AT(g_fault_load));
	enter(&g, g_fault_store, a);
	expect_segv(&g, SEGV_ACCERR, a, CV_ACCESS_WRITE, AT(g_fault_store));
	map_ret_page(&g, CODE_ADDR, 0);
	enter(&g, g_fault_exec, CODE_ADDR);
	expect_segv(&g, SEGV_ACCERR, CODE_ADDR, CV_ACCESS_EXEC, CODE_ADDR);

	/* Read-only: reads work, plain and read-modify-write stores fault. */
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, fd, off, PAGE, CV_ACCESS_READ, false));
	enter(&g, g_fault_load, a);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(g.st->regs.rbx, 77);
	enter(&g, g_fault_store, a);
	expect_segv(&g, SEGV_ACCERR, a, CV_ACCESS_WRITE, AT(g_fault_store));
	/* Upgrade the same memory to read-write and the store completes. */
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, fd, off, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(page[8], STORED);
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, fd, off, PAGE, CV_ACCESS_READ, false));
	enter(&g, g_fault_rmw, a);
	expect_segv(&g, SEGV_ACCERR, a, CV_ACCESS_WRITE, AT(g_fault_rmw));
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, fd, off, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(page[8], STORED + 1);

	/* Code in pages without EXEC (read-only, read-write) does not run; with EXEC it does. */
	off = map_ret_page(&g, CODE_ADDR, CV_ACCESS_READ);
	enter(&g, g_fault_exec, CODE_ADDR);
	expect_segv(&g, SEGV_ACCERR, CODE_ADDR, CV_ACCESS_EXEC, CODE_ADDR);
	ASSERT_OK(cv_as_map(g.as, CODE_ADDR, fd, off, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	expect_segv(&g, SEGV_ACCERR, CODE_ADDR, CV_ACCESS_EXEC, CODE_ADDR);
	ASSERT_OK(cv_as_map(g.as, CODE_ADDR, fd, off, PAGE, CV_ACCESS_READ | CV_ACCESS_EXEC, false));
	ASSERT_EQ(guest_run_syscall(&g), 0x601);

	/* The guest's own code is not writable. */
	enter(&g, g_fault_store, AT(g_fault_ud2));
	expect_segv(&g, SEGV_ACCERR, AT(g_fault_ud2), CV_ACCESS_WRITE, AT(g_fault_store));
	guest_teardown(&g);
}

PLATFORM_TEST(fault_access_of_implicit_and_split_accesses)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	const uint64_t next = PAGE_ADDR + PAGE;
	uint8_t *p0 = guest_map_anon(&g, PAGE_ADDR, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);

	/* A push onto an unmapped stack page: an implicit write at rsp - 8. */
	enter(&g, g_fault_push, 0);
	g.st->regs.rsp = next + PAGE;
	expect_segv(&g, SEGV_MAPERR, next + PAGE - 8, CV_ACCESS_WRITE, AT(g_fault_push));
	uint64_t *p1 = guest_map_anon(&g, next, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(p1[511], STORED);
	EXPECT_EQ(g.st->regs.rsp, next + PAGE - 8);
	ASSERT_OK(cv_as_unmap(g.as, next, PAGE));

	/* A load split across the end of a mapped page: the fault is at the first byte of the next. */
	memcpy(p0 + PAGE - 4, "\x11\x22\x33\x44", 4);
	enter(&g, g_fault_load, next - 4);
	expect_segv(&g, SEGV_MAPERR, next, CV_ACCESS_READ, AT(g_fault_load));
	p1 = guest_map_anon(&g, next, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	memcpy(p1, "\x55\x66\x77\x88", 4);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(g.st->regs.rbx, 0x8877665544332211ull);
	ASSERT_OK(cv_as_unmap(g.as, next, PAGE));

	/* rep stosb running off the end of a mapped page: resumed, it finishes where it stopped. */
	enter(&g, g_fault_stos, PAGE_ADDR + PAGE - 96);
	g.st->regs.rcx = 200;
	g.st->regs.rsi = 0xa5;
	expect_segv(&g, SEGV_MAPERR, next, CV_ACCESS_WRITE, AT(g_fault_stos) + 2);
	EXPECT_LE(g.st->regs.rdi, next);
	EXPECT_EQ(g.st->regs.rdi + g.st->regs.rcx, PAGE_ADDR + PAGE - 96 + 200);
	p1 = guest_map_anon(&g, next, PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	EXPECT_EQ(g.st->regs.rdi, PAGE_ADDR + PAGE - 96 + 200); /* rcx is the syscall's now */
	for (int i = 0; i < 200; i++)
		if ((i < 96 ? p0[PAGE - 96 + (size_t)i] : ((uint8_t *)p1)[i - 96]) != 0xa5)
			HARNESS_FAIL(1, "byte %d of the rep stosb was not stored", i);
	EXPECT_EQ(((uint8_t *)p1)[104], 0);

	/* An instruction whose last bytes are on an unmapped page: an instruction fetch fault there. */
	static const uint8_t movabs[10] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }; /* mov $imm64,%rax */
	uint8_t *c0 = guest_map_anon(&g, CODE_ADDR, PAGE, CV_ACCESS_READ | CV_ACCESS_EXEC, NULL);
	memcpy(c0 + PAGE - 4, movabs, 4);
	enter(&g, g_fault_exec, CODE_ADDR + PAGE - 4);
	struct cv_exit e = guest_run_signal(&g, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_MAPERR);
	EXPECT_EQ((uint64_t)e.info.si_addr, CODE_ADDR + PAGE);
	EXPECT_EQ(g.st->regs.rip, CODE_ADDR + PAGE - 4);
	if (e.access != CV_ACCESS_EXEC && !(e.fault_flags & CV_FAULT_ACCESS_GUESSED))
		HARNESS_FAIL(0, "fetch fault on the second page of an instruction reported as %s access, "
				"not exec and not flagged guessed", access_name(e.access));
	uint8_t *c1 = guest_map_anon(&g, CODE_ADDR + PAGE, PAGE, CV_ACCESS_READ | CV_ACCESS_EXEC, NULL);
	memcpy(c1, movabs + 4, 6);
	memcpy(c1 + 6, "\x48\x89\xc3", 3); /* mov %rax,%rbx */
	memcpy(c1 + 9, g_fault_ret, (size_t)(g_fault_ret_end - g_fault_ret));
	ASSERT_EQ(guest_run_syscall(&g), 0x601);
	EXPECT_EQ(g.st->regs.rbx, 0x0807060504030201ull);
	guest_teardown(&g);
}

PLATFORM_TEST(fault_cpu_exceptions)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);

	/* Integer divide by zero: at the div. */
	enter(&g, g_fault_div0, 0);
	struct cv_exit e = guest_run_signal(&g, SIGFPE);
	EXPECT_EQ(e.info.si_code, FPE_INTDIV);
	EXPECT_EQ((uint64_t)e.info.si_addr, AT(g_fault_div0_insn));
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_div0_insn));

	/* ud2. */
	enter(&g, g_fault_ud2, 0);
	e = guest_run_signal(&g, SIGILL);
	EXPECT_EQ(e.info.si_code, ILL_ILLOPN);
	EXPECT_EQ((uint64_t)e.info.si_addr, AT(g_fault_ud2));
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_ud2));

	/* int3 is a trap: rip is after it, and resuming continues there. */
	enter(&g, g_fault_int3, 0);
	guest_run_signal(&g, SIGTRAP);
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_after_int3));
	ASSERT_EQ(guest_run_syscall(&g), 0x600);

	/* SSE divide by zero with the exception unmasked in MXCSR: SIGFPE at the divss. */
	enter(&g, g_fault_divss, 0);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	uint8_t *xs = g.st->xsave;
	uint32_t mxcsr = 0x1f80 & ~0x200u; /* ZM clear */
	uint32_t one = 0x3f800000, zero = 0;
	memcpy(xs + 24, &mxcsr, 4);
	memcpy(xs + 160, &one, 4);
	memcpy(xs + 176, &zero, 4);
	xs[512] |= 2; /* XSTATE_BV: SSE */
	ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
	e = guest_run_signal(&g, SIGFPE);
	EXPECT_EQ(e.info.si_code, FPE_FLTDIV);
	EXPECT_EQ((uint64_t)e.info.si_addr, AT(g_fault_divss));
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_divss));
	/* The sentry masks it again (and clears the flag) and the division completes to +inf. */
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	memcpy(&mxcsr, xs + 24, 4);
	EXPECT_TRUE(mxcsr & 0x4); /* ZE raised */
	mxcsr = 0x1f80;
	memcpy(xs + 24, &mxcsr, 4);
	ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	uint32_t q;
	memcpy(&q, xs + 160, 4);
	EXPECT_EQ(q, 0x7f800000);

	/* Privileged and unknown interrupt instructions: SIGSEGV from the kernel, at the instruction. */
	enter(&g, g_fault_hlt, 0);
	e = guest_run_signal(&g, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SI_KERNEL);
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_hlt));
	enter(&g, g_fault_int41, 0);
	e = guest_run_signal(&g, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SI_KERNEL);
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_int41));
	guest_teardown(&g);
}

PLATFORM_TEST(fault_sigbus_beyond_file_end)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	int fd = memfd_create("cvisor-test-bus", MFD_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, (off_t)PAGE), 0);
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, fd, 0, 2 * PAGE, CV_ACCESS_READ | CV_ACCESS_WRITE, false));

	enter(&g, g_fault_load, PAGE_ADDR + 8);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	enter(&g, g_fault_load, PAGE_ADDR + PAGE + 8);
	expect_fault(&g, SIGBUS, BUS_ADRERR, PAGE_ADDR + PAGE + 8, CV_ACCESS_READ, AT(g_fault_load));
	enter(&g, g_fault_store, PAGE_ADDR + PAGE + 16);
	expect_fault(&g, SIGBUS, BUS_ADRERR, PAGE_ADDR + PAGE + 16, CV_ACCESS_WRITE, AT(g_fault_store));

	/* Grow the file under the mapping and the store completes into it. */
	ASSERT_EQ(ftruncate(fd, (off_t)(2 * PAGE)), 0);
	ASSERT_EQ(guest_run_syscall(&g), 0x600);
	uint64_t v = 0;
	ASSERT_EQ(pread(fd, &v, 8, (off_t)(PAGE + 16)), 8);
	EXPECT_EQ(v, STORED);
	close(fd);
	guest_teardown(&g);
}
