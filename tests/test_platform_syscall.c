// SPDX-License-Identifier: Apache-2.0
// Platform tests: every syscall number and instruction form traps to the sentry, never to the host.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "guestlib.h"

GUEST_BLOB(g_sysnr);
GUEST_BLOB(g_int80);
GUEST_BLOB(g_vsys);
GUEST_BLOB(g_escape);
extern const uint8_t g_int80_sysenter[];

#define OFF(label, blob) ((uint64_t)((label) - (blob##_start)))

PLATFORM_TEST(syscall_every_number_traps)
{
	static const uint64_t extra[] = { 512, 513, 1000, 0x40000000 | 1, 0x40000000 | 39, 0x7fffffff,
					  0xffffffff, 0x100000027ull, (uint64_t)-1 };
	struct guest g;
	guest_setup(&g, platform, g_sysnr_start, g_sysnr_end);
	size_t total = 512 + sizeof(extra) / sizeof(extra[0]);
	g.st->regs.r12 = 0;
	g.st->regs.r13 = 0;
	for (size_t i = 0; i < total; i++) {
		uint64_t nr = i < 512 ? i : extra[i - 512];
		/* The first switch enters the loop; later ones resume after the previous syscall. */
		g.st->regs.r12 = nr;
		if (i == 0)
			g.st->regs.r13 = ~0ull; /* unused before the first compare */
		long got = guest_run_syscall(&g);
		ASSERT_NE(got, 0xbad);
		if ((uint64_t)got != nr)
			HARNESS_FAIL(1, "syscall %#llx reported as %#llx", (unsigned long long)nr,
				     (unsigned long long)got);
		/* The result the sentry hands back must reach the guest exactly. */
		uint64_t result = nr * 0x9e3779b97f4a7c15ull;
		g.st->regs.rax = result;
		g.st->regs.r13 = result;
		g.st->regs.r12 = i + 1 < total ? (i + 1 < 512 ? i + 1 : extra[i + 1 - 512]) : 0;
	}
	guest_teardown(&g);
}

PLATFORM_TEST(syscall_int80_and_sysenter_trap)
{
	struct guest g;
	guest_setup(&g, platform, g_int80_start, g_int80_end);
	struct cv_exit e = guest_run(&g);
	if (g.caps.compat_syscalls) {
		ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
		ASSERT_TRUE(e.syscall_flags & CV_SYSCALL_COMPAT);
		ASSERT_EQ(g.st->regs.orig_rax, 20);
		g.st->regs.rax = 4242;
		ASSERT_EQ(guest_run_syscall(&g), 500);
		ASSERT_EQ(e.syscall_flags & CV_SYSCALL_VSYSCALL, 0);
	} else {
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		ASSERT_EQ(e.info.si_signo, SIGSEGV);
	}
	/* A plain 64-bit syscall is not flagged compat. */
	ASSERT_EQ(guest_run(&g).syscall_flags & CV_SYSCALL_COMPAT, 0);

	g.st->regs.rip = GUEST_CODE_ADDR + OFF(g_int80_sysenter, g_int80);
	e = guest_run(&g);
	if (e.reason == CV_EXIT_SIGNAL) {
		ASSERT_TRUE(e.info.si_signo == SIGILL || e.info.si_signo == SIGSEGV);
	} else {
		ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
		ASSERT_TRUE(e.syscall_flags & CV_SYSCALL_COMPAT);
	}
	guest_teardown(&g);
}

PLATFORM_TEST(syscall_vsyscall_page_traps)
{
	struct guest g;
	guest_setup(&g, platform, g_vsys_start, g_vsys_end);
	struct cv_exit e = guest_run(&g);
	if (e.reason == CV_EXIT_SIGNAL) {
		/* vsyscall=none hosts fault instead; the call still never reaches the host. */
		ASSERT_EQ(e.info.si_signo, SIGSEGV);
		ASSERT_EQ((uint64_t)e.info.si_addr, 0xffffffffff600000ull);
	} else {
		ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
		ASSERT_TRUE(e.syscall_flags & CV_SYSCALL_VSYSCALL);
		ASSERT_EQ(g.st->regs.orig_rax, 96); /* gettimeofday */
		g.st->regs.rax = 77;
		ASSERT_EQ(guest_run_syscall(&g), 502);
		ASSERT_EQ(g.st->regs.rdi, 77); /* the guest continued after its call with our result */
	}
	guest_teardown(&g);
}

PLATFORM_TEST(syscall_no_host_side_effects)
{
	struct guest g;
	guest_setup(&g, platform, g_escape_start, g_escape_end);
	char path[64], dir[64];
	snprintf(path, sizeof(path), "/tmp/cvx%d", (int)getpid() % 100000);
	snprintf(dir, sizeof(dir), "/tmp/cvy%d", (int)getpid() % 100000);
	char *data = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	strcpy(data, path);
	strcpy(data + 16, dir);
	unlink(path);
	rmdir(dir);
	g.st->regs.rbx = GUEST_DATA_ADDR;
	g.st->regs.r12 = (uint64_t)getpid();
	static const long expect[] = { 2, 1, 83, 62, 231, 503 };
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		ASSERT_EQ(guest_run_syscall(&g), expect[i]);
		g.st->regs.rax = (uint64_t)-ENOSYS;
	}
	struct stat st;
	EXPECT_TRUE(stat(path, &st) < 0 && errno == ENOENT);
	EXPECT_TRUE(stat(dir, &st) < 0 && errno == ENOENT);
	guest_teardown(&g); /* and we are still alive: the kill never happened */
}
