// SPDX-License-Identifier: Apache-2.0
// Platform tests: faults come back with the right signal, si_code, si_addr and access type, and the
// sentry can resolve them (demand paging) and resume.
#include <sys/mman.h>
#include <unistd.h>
#include "guestlib.h"

GUEST_BLOB(g_fault);
extern const uint8_t g_fault_load[], g_fault_store[], g_fault_exec[], g_fault_div0[], g_fault_ud2[],
	g_fault_int3[], g_fault_ret[];

#define AT(label) (GUEST_CODE_ADDR + (uint64_t)((label) - g_fault_start))
#define PAGE_ADDR (GUEST_DATA_ADDR + 0x100000)

static void enter(struct guest *g, const uint8_t *label, uint64_t rdi)
{
	g->st->regs.rip = AT(label);
	g->st->regs.rdi = rdi;
	g->st->regs.rsi = 0x5a5a5a5a5a5a5a5aull;
}

static void expect_fault(struct cv_exit e, int code, uint64_t addr, unsigned access)
{
	ASSERT_EQ(e.info.si_signo, SIGSEGV);
	EXPECT_EQ(e.info.si_code, code);
	EXPECT_EQ((uint64_t)e.info.si_addr, addr);
	EXPECT_EQ(e.access, access);
	EXPECT_EQ(e.fault_flags & CV_FAULT_ACCESS_GUESSED, 0);
}

PLATFORM_TEST(fault_unmapped_then_demand_paged)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	uint64_t a = PAGE_ADDR + 0x18;

	/* Read of an unmapped page; map it and the load completes. */
	enter(&g, g_fault_load, a);
	struct cv_exit e = guest_run_signal(&g, SIGSEGV);
	expect_fault(e, SEGV_MAPERR, a, CV_ACCESS_READ);
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_load));
	uint64_t *page = guest_map_anon(&g, PAGE_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	page[3] = 0x123456789abcdefull;
	ASSERT_EQ(guest_run_syscall(&g), 600);
	EXPECT_EQ(g.st->regs.rbx, 0x123456789abcdefull);

	/* Write to an unmapped page. */
	ASSERT_OK(cv_as_unmap(g.as, PAGE_ADDR, 4096));
	enter(&g, g_fault_store, a);
	e = guest_run_signal(&g, SIGSEGV);
	expect_fault(e, SEGV_MAPERR, a, CV_ACCESS_WRITE);
	page = guest_map_anon(&g, PAGE_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	ASSERT_EQ(guest_run_syscall(&g), 600);
	EXPECT_EQ(page[3], 0x5a5a5a5a5a5a5a5aull);

	/* Execute an unmapped page; map code there and the jump lands. */
	uint64_t code = PAGE_ADDR + 0x200000;
	enter(&g, g_fault_exec, code);
	e = guest_run_signal(&g, SIGSEGV);
	expect_fault(e, SEGV_MAPERR, code, CV_ACCESS_EXEC);
	EXPECT_EQ(g.st->regs.rip, code);
	uint8_t *c = guest_map_anon(&g, code, 4096, CV_ACCESS_READ | CV_ACCESS_EXEC, NULL);
	memcpy(c, g_fault_ret, 16);
	ASSERT_EQ(guest_run_syscall(&g), 601);
	guest_teardown(&g);
}

PLATFORM_TEST(fault_protected_pages)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	uint64_t a = PAGE_ADDR + 0x40;

	guest_map_anon(&g, PAGE_ADDR, 4096, 0, NULL); /* no access at all */
	enter(&g, g_fault_load, a);
	expect_fault(guest_run_signal(&g, SIGSEGV), SEGV_ACCERR, a, CV_ACCESS_READ);

	uint64_t off;
	guest_map_anon(&g, PAGE_ADDR, 4096, CV_ACCESS_READ, &off); /* read-only */
	enter(&g, g_fault_load, a);
	ASSERT_EQ(guest_run_syscall(&g), 600);
	enter(&g, g_fault_store, a);
	expect_fault(guest_run_signal(&g, SIGSEGV), SEGV_ACCERR, a, CV_ACCESS_WRITE);
	/* Upgrade the same memory to read-write and the store completes. */
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, cv_memfile_fd(g.mf), off, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE,
			    false));
	ASSERT_EQ(guest_run_syscall(&g), 600);

	/* Readable but not executable code. */
	uint64_t code = PAGE_ADDR + 0x200000;
	uint8_t *c = guest_map_anon(&g, code, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, &off);
	memcpy(c, g_fault_ret, 16);
	enter(&g, g_fault_exec, code);
	expect_fault(guest_run_signal(&g, SIGSEGV), SEGV_ACCERR, code, CV_ACCESS_EXEC);
	ASSERT_OK(cv_as_map(g.as, code, cv_memfile_fd(g.mf), off, 4096, CV_ACCESS_READ | CV_ACCESS_EXEC, false));
	ASSERT_EQ(guest_run_syscall(&g), 601);
	guest_teardown(&g);
}

PLATFORM_TEST(fault_cpu_exceptions)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);

	enter(&g, g_fault_div0, 0);
	struct cv_exit e = guest_run_signal(&g, SIGFPE);
	EXPECT_EQ(e.info.si_code, FPE_INTDIV);
	EXPECT_EQ((uint64_t)e.info.si_addr, g.st->regs.rip);
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_div0) + 9); /* at the div, after xor/mov/xor */

	enter(&g, g_fault_ud2, 0);
	e = guest_run_signal(&g, SIGILL);
	EXPECT_EQ(e.info.si_code, ILL_ILLOPN);
	EXPECT_EQ((uint64_t)e.info.si_addr, AT(g_fault_ud2));
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_ud2));

	enter(&g, g_fault_int3, 0);
	e = guest_run_signal(&g, SIGTRAP);
	EXPECT_EQ(g.st->regs.rip, AT(g_fault_int3) + 1); /* traps report the next instruction */
	ASSERT_EQ(guest_run_syscall(&g), 600);             /* and resuming continues after it */
	guest_teardown(&g);
}

PLATFORM_TEST(fault_sigbus_beyond_file_end)
{
	struct guest g;
	guest_setup(&g, platform, g_fault_start, g_fault_end);
	int fd = memfd_create("cvisor-test-bus", MFD_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, 4096), 0);
	ASSERT_OK(cv_as_map(g.as, PAGE_ADDR, fd, 0, 8192, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	close(fd); /* the mapping keeps the file */

	enter(&g, g_fault_load, PAGE_ADDR + 8);
	ASSERT_EQ(guest_run_syscall(&g), 600);
	enter(&g, g_fault_load, PAGE_ADDR + 4096 + 8);
	struct cv_exit e = guest_run_signal(&g, SIGBUS);
	EXPECT_EQ(e.info.si_code, BUS_ADRERR);
	EXPECT_EQ((uint64_t)e.info.si_addr, PAGE_ADDR + 4096 + 8);
	EXPECT_EQ(e.access, CV_ACCESS_READ);
	enter(&g, g_fault_store, PAGE_ADDR + 4096 + 16);
	e = guest_run_signal(&g, SIGBUS);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	guest_teardown(&g);
}
