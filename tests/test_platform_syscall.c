// SPDX-License-Identifier: Apache-2.0
// Platform tests: every syscall number and every syscall-like instruction form traps to the sentry,
// never to the host, and the result the sentry sets is what the guest sees.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "guestlib.h"

GUEST_BLOB(g_sysnr);
GUEST_BLOB(g_int80);
GUEST_BLOB(g_compat);
GUEST_BLOB(g_vsys);
GUEST_BLOB(g_escape);
extern const uint8_t g_int80_forged[], g_int80_sysenter[], g_int80_after_sysenter[];
extern const uint8_t g_compat_syscall[], g_compat_after_syscall[], g_compat_sysenter[],
	g_compat_after_sysenter[];
extern const uint8_t g_vsys_ret1[], g_vsys_ret2[], g_vsys_ret3[];

/* Guest address of a label inside a blob. */
#define AT(label, blob) (GUEST_CODE_ADDR + (uint64_t)((label) - (blob##_start)))

#define I386_MKDIR 39
#define I386_GETPID 20
#define NR_GETTIMEOFDAY 96
#define NR_TIME 201
#define NR_GETCPU 309
#define VSYSCALL_BASE 0xffffffffff600000ull

PLATFORM_TEST(syscall_every_number_traps)
{
	/* Past the table, the x32 bit, 32-bit all-ones, and values only a 64-bit rax can hold. */
	static const uint64_t extra[] = {
		512, 513, 1000, 0x40000000 | 1, 0x40000000 | 39, 0x40000000 | 512, 0x7fffffff, 0x80000000,
		0xffffffff, 0x100000027ull, 0xffffffff00000001ull, (uint64_t)-1, (uint64_t)-2,
	};
	const size_t total = 512 + sizeof(extra) / sizeof(extra[0]);
	struct guest g;
	guest_setup(&g, platform, g_sysnr_start, g_sysnr_end);
	g.st->regs.r12 = 0;
	for (size_t i = 0; i < total; i++) {
		uint64_t nr = i < 512 ? i : extra[i - 512];
		struct cv_exit e = guest_run(&g);
		if (e.reason != CV_EXIT_SYSCALL)
			HARNESS_FAIL(1, "syscall %#llx: exit reason %d signal %d code %d at rip %#llx", (unsigned long long)nr,
				     e.reason, e.info.si_signo, e.info.si_code, (unsigned long long)g.st->regs.rip);
		if (g.st->regs.orig_rax != nr)
			HARNESS_FAIL(1, "syscall %#llx reported as %#llx%s", (unsigned long long)nr,
				     (unsigned long long)g.st->regs.orig_rax,
				     g.st->regs.orig_rax == 0xbad ? " (the guest saw a wrong result)" : "");
		EXPECT_EQ(e.syscall_flags & ~CV_SYSCALL_PATCHABLE, 0); /* a 64-bit syscall */
		EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR + 5); /* mov %r12,%rax; syscall */
		/* Whatever the sentry answers must reach the guest exactly: it compares with r13. */
		uint64_t result = (nr + 1) * 0x9e3779b97f4a7c15ull;
		g.st->regs.rax = result;
		g.st->regs.r13 = result;
		g.st->regs.r12 = i + 1 < 512 ? i + 1 : i + 1 < total ? extra[i + 1 - 512] : 0;
	}
	/* The last result went through the guest's compare too. */
	ASSERT_EQ(guest_run_syscall(&g), 0);
	guest_teardown(&g);
}

/* A fresh host path /tmp/cvisor-@tag-PID (removed if it exists), also copied to guest memory at @data + @at. */
static void plant_path(char *data, size_t at, char *host, size_t len, const char *tag)
{
	snprintf(host, len, "/tmp/cvisor-%s-%d", tag, (int)getpid());
	rmdir(host);
	unlink(host);
	strcpy(data + at, host);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

PLATFORM_TEST(syscall_int80_traps)
{
	struct guest g;
	guest_setup(&g, platform, g_int80_start, g_int80_end);
	char *data = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	char dir[64];
	plant_path(data, 0, dir, sizeof(dir), "int80");
	g.st->regs.rbx = GUEST_DATA_ADDR;

	/* int $0x80 mkdir: a 32-bit syscall with the i386 number and arguments, or a SIGSEGV. */
	struct cv_exit e = guest_run(&g);
	if (g.caps.compat_syscalls) {
		ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
		EXPECT_EQ(e.syscall_flags, CV_SYSCALL_COMPAT);
		ASSERT_EQ(g.st->regs.orig_rax, I386_MKDIR);
		EXPECT_EQ(g.st->regs.rbx, GUEST_DATA_ADDR);
		EXPECT_EQ(g.st->regs.rcx, 0755);
		EXPECT_EQ(g.st->regs.cs, CV_USER_CS); /* it came from 64-bit code */
		EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR + 12); /* after the int $0x80 */
		g.st->regs.rax = (uint64_t)-EROFS;
		ASSERT_EQ(guest_run_syscall(&g), 0x500);
		EXPECT_EQ(g.st->regs.rdi, (uint64_t)-EROFS); /* our result reached the guest */
	} else {
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		ASSERT_EQ(e.info.si_signo, SIGSEGV);
		EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR + 10);
		g.st->regs.rip += 2;
		ASSERT_EQ(guest_run_syscall(&g), 0x500);
	}
	EXPECT_FALSE(exists(dir));

	/* A plain 64-bit syscall is not flagged. */
	g.st->regs.rip = AT(g_int80_after_sysenter, g_int80);
	e = guest_run(&g);
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(g.st->regs.orig_rax, 0x502);
	EXPECT_EQ(e.syscall_flags & ~CV_SYSCALL_PATCHABLE, 0); /* a 64-bit syscall */
	guest_teardown(&g);
}

/*
 * An int $0x80 whose rcx/r11 look exactly like a 64-bit syscall's (rcx = the next rip, r11 = rflags) is
 * still a 32-bit syscall. Told apart wrongly, the sentry would run 64-bit syscall 20 (writev) with
 * 64-bit arguments: the application would choose the ABI its syscall is judged by.
 */
PLATFORM_TEST(syscall_int80_with_syscall_like_rcx_r11)
{
	struct guest g;
	guest_setup(&g, platform, g_int80_start, g_int80_end);
	g.st->regs.rip = AT(g_int80_forged, g_int80);
	struct cv_exit e = guest_run(&g);
	if (!g.caps.compat_syscalls) {
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		ASSERT_EQ(e.info.si_signo, SIGSEGV);
		guest_teardown(&g);
		return;
	}
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(g.st->regs.orig_rax, I386_GETPID);
	EXPECT_EQ(g.st->regs.rcx, g.st->regs.rip); /* the disguise is in place */
	EXPECT_EQ(g.st->regs.r11, g.st->regs.eflags);
	if (e.syscall_flags != CV_SYSCALL_COMPAT)
		HARNESS_FAIL(0, "int $0x80 with rcx == rip and r11 == rflags reported with syscall_flags %#x, "
				"not as a 32-bit syscall", e.syscall_flags);
	g.st->regs.rax = 4321;
	ASSERT_EQ(guest_run_syscall(&g), 0x501);
	EXPECT_EQ(g.st->regs.rdi, 4321);
	guest_teardown(&g);
}

/* Is @addr inside this (the sentry's) process's vDSO? */
static bool in_host_vdso(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	ASSERT_TRUE(f != NULL);
	char line[512];
	bool in = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &a, &b) == 2)
			in |= addr >= a && addr < b;
	}
	fclose(f);
	return in;
}

/* A syscall exit must leave rip at the application's next instruction, never at a host address. */
static void expect_rip_after(struct guest *g, uint64_t want, const char *what)
{
	uint64_t rip = g->st->regs.rip;
	if (rip != want)
		HARNESS_FAIL(0, "%s reported at rip %#llx, not after the instruction (%#llx)%s", what,
			     (unsigned long long)rip, (unsigned long long)want,
			     in_host_vdso(rip) ? ": inside the sentry's own [vdso]"
			     : rip >= g->caps.max_user_addr ? ": outside the application's range" : "");
}

PLATFORM_TEST(syscall_sysenter_traps)
{
	struct guest g;
	guest_setup(&g, platform, g_int80_start, g_int80_end);
	char *data = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	char dir[64];
	plant_path(data, 0, dir, sizeof(dir), "sysenter");
	g.st->regs.rbx = GUEST_DATA_ADDR;
	g.st->regs.rsp -= 64; /* a readable stack, as a vDSO caller would have */

	/* sysenter from 64-bit code with i386 mkdir loaded: #UD on AMD (SIGILL); never the host's syscall. */
	g.st->regs.rip = AT(g_int80_sysenter, g_int80);
	struct cv_exit e = guest_run(&g);
	if (e.reason == CV_EXIT_SIGNAL) {
		EXPECT_TRUE(e.info.si_signo == SIGILL || e.info.si_signo == SIGSEGV);
		EXPECT_EQ(g.st->regs.rip, AT(g_int80_after_sysenter, g_int80) - 2); /* at the sysenter */
	} else {
		ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
		EXPECT_EQ(e.syscall_flags, CV_SYSCALL_COMPAT);
		EXPECT_EQ(g.st->regs.orig_rax, I386_MKDIR);
		expect_rip_after(&g, AT(g_int80_after_sysenter, g_int80), "sysenter");
	}
	EXPECT_FALSE(exists(dir));
	guest_teardown(&g);
}

/*
 * Can a process of this host run 32-bit code at all? A child far-jumps to a ud2 through cs 0x23: SIGILL
 * means it got there; SIGSEGV means the host has no 32-bit user code segment (a PVM guest kernel, for one).
 */
static bool host_has_user32_cs(void)
{
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would report the expected fault */
		signal(SIGILL, SIG_DFL);
		uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (page == MAP_FAILED)
			_exit(1);
		page[0] = 0x0f, page[1] = 0x0b; /* ud2 */
		static struct __attribute__((packed)) { uint32_t off; uint16_t sel; } target;
		target.off = (uint32_t)(uintptr_t)page;
		target.sel = CV_USER32_CS;
		__asm__ volatile("ljmpl *%0" : : "m"(target) : "memory");
		_exit(1);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGILL;
}

/* Run g_compat into 32-bit code up to its int $0x80, which must be a compat syscall from cs 0x23. */
static bool compat_enter(struct guest *g, const char *platform)
{
	guest_setup(g, platform, g_compat_start, g_compat_end);
	struct cv_exit e = guest_run(g);
	if (!host_has_user32_cs()) {
		/* The far jump into 32-bit code faults natively here; under cvisor it must fault the same way. */
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		EXPECT_EQ(e.info.si_signo, SIGSEGV);
		EXPECT_EQ(g->st->regs.cs, CV_USER_CS);
		guest_teardown(g);
		SKIP("this host has no 32-bit user code segment (a far jump to cs 0x23 faults natively)");
	}
	EXPECT_EQ(g->st->regs.cs, CV_USER32_CS);
	if (!g->caps.compat_syscalls) {
		/* No 32-bit syscalls on this host: int $0x80 in 32-bit code must fault, not run. */
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		EXPECT_EQ(e.info.si_signo, SIGSEGV);
		return false;
	}
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_COMPAT);
	EXPECT_EQ(g->st->regs.orig_rax, I386_GETPID);
	return true;
}

/* After sysenter in 32-bit code: back to 64-bit mode, a plain syscall with rdi = @rdi. */
static void compat_leave(struct guest *g, uint64_t rdi)
{
	struct cv_exit e = guest_run(g);
	if (e.reason == CV_EXIT_SYSCALL) {
		EXPECT_EQ(e.syscall_flags, CV_SYSCALL_COMPAT);
		EXPECT_EQ(g->st->regs.orig_rax, 0x511);
		expect_rip_after(g, AT(g_compat_after_sysenter, g_compat), "sysenter in 32-bit code");
	} else {
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		EXPECT_TRUE(e.info.si_signo == SIGILL || e.info.si_signo == SIGSEGV);
		EXPECT_EQ(g->st->regs.rip, AT(g_compat_sysenter, g_compat));
	}
	EXPECT_EQ(g->st->regs.cs, CV_USER32_CS);
	g->st->regs.rip = AT(g_compat_after_sysenter, g_compat);
	e = guest_run(g);
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(e.syscall_flags & ~CV_SYSCALL_PATCHABLE, 0); /* a 64-bit syscall */
	EXPECT_EQ(g->st->regs.orig_rax, 0x512);
	EXPECT_EQ(g->st->regs.cs, CV_USER_CS);
	EXPECT_EQ(g->st->regs.rdi, rdi);
}

PLATFORM_TEST(syscall_compat_mode_int80_and_sysenter)
{
	struct guest g;
	if (compat_enter(&g, platform)) {
		g.st->regs.rax = 1; /* the guest skips its syscall instruction */
		compat_leave(&g, 1);
	}
	guest_teardown(&g);
}

/*
 * `syscall` in 32-bit code. Intel: #UD (SIGILL at the instruction). AMD: the kernel's 32-bit fast path,
 * which discards the return address; cvisor reports SIGILL with si_addr NULL rather than resuming at the
 * kernel's landing pad (or leaking where the sentry's vDSO is). Either way the sentry can step over it.
 */
PLATFORM_TEST(syscall_compat_mode_syscall_insn)
{
	struct guest g;
	if (!compat_enter(&g, platform)) {
		guest_teardown(&g);
		return;
	}
	g.st->regs.rax = 1234;
	struct cv_exit e = guest_run(&g);
	ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
	EXPECT_EQ(e.info.si_signo, SIGILL);
	EXPECT_EQ(e.info.si_code, ILL_ILLOPN);
	if (e.info.si_addr != NULL)
		EXPECT_EQ(g.st->regs.rip, AT(g_compat_syscall, g_compat));
	EXPECT_EQ(g.st->regs.rbx, 1234); /* the int $0x80 result reached the 32-bit code */
	EXPECT_EQ(g.st->regs.cs, CV_USER32_CS);
	g.st->regs.rip = AT(g_compat_after_syscall, g_compat);
	compat_leave(&g, 1234);
	guest_teardown(&g);
}

/* Is the legacy vsyscall page mapped in this (host) process? Then applications have it too. */
static bool host_has_vsyscall(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	ASSERT_TRUE(f != NULL);
	char line[512];
	bool found = false;
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "[vsyscall]") != NULL;
	fclose(f);
	return found;
}

/* One vsyscall: a syscall exit flagged VSYSCALL, with rip/rsp already back at the caller. */
static void expect_vsyscall(struct guest *g, uint64_t nr, uint64_t ret_rip, uint64_t result)
{
	struct cv_exit e = guest_run(g);
	if (e.reason != CV_EXIT_SYSCALL)
		HARNESS_FAIL(1, "vsyscall %llu: exit reason %d, signal %d, rip %#llx", (unsigned long long)nr,
			     e.reason, e.info.si_signo, (unsigned long long)g->st->regs.rip);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_VSYSCALL);
	EXPECT_EQ(g->st->regs.orig_rax, nr);
	EXPECT_EQ(g->st->regs.rip, ret_rip);
	EXPECT_EQ(g->st->regs.rsp, GUEST_STACK_ADDR + GUEST_STACK_SIZE); /* the return address popped */
	EXPECT_EQ(g->st->regs.rdi, GUEST_DATA_ADDR); /* arguments as the caller passed them */
	g->st->regs.rax = result;
}

PLATFORM_TEST(syscall_vsyscall_page_traps)
{
	struct guest g;
	guest_setup(&g, platform, g_vsys_start, g_vsys_end);
	guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	g.st->regs.rdi = GUEST_DATA_ADDR;
	g.st->regs.rsi = 0;
	if (!host_has_vsyscall()) {
		/* vsyscall=none: the call faults; it still never reaches the host. */
		struct cv_exit e = guest_run_signal(&g, SIGSEGV);
		EXPECT_EQ((uint64_t)e.info.si_addr, VSYSCALL_BASE);
		guest_teardown(&g);
		return;
	}
	expect_vsyscall(&g, NR_GETTIMEOFDAY, AT(g_vsys_ret1, g_vsys), 0);
	expect_vsyscall(&g, NR_TIME, AT(g_vsys_ret2, g_vsys), 1700000000);
	expect_vsyscall(&g, NR_GETCPU, AT(g_vsys_ret3, g_vsys), (uint64_t)-EFAULT);
	ASSERT_EQ(guest_run_syscall(&g), 0x520);
	EXPECT_EQ(g.st->regs.rbx, 0);
	EXPECT_EQ(g.st->regs.rbp, 1700000000);
	EXPECT_EQ(g.st->regs.r12, (uint64_t)-EFAULT);

	/* A call into the page that is not an entry point: the kernel refuses it with SIGSEGV. */
	struct cv_exit e = guest_run(&g);
	ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
	EXPECT_EQ(e.info.si_signo, SIGSEGV);
	EXPECT_EQ(g.st->regs.rip, VSYSCALL_BASE + 0x100);
	guest_teardown(&g);
}

PLATFORM_TEST(syscall_no_host_side_effects)
{
	struct guest g;
	guest_setup(&g, platform, g_escape_start, g_escape_end);
	char *data = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	char file[64], dir[64], existing[64], renamed[64];
	plant_path(data, 0, file, sizeof(file), "file");
	plant_path(data, 64, dir, sizeof(dir), "dir");
	plant_path(data, 128, existing, sizeof(existing), "existing");
	plant_path(data, 192, renamed, sizeof(renamed), "renamed");
	int fd = open(existing, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0);
	close(fd);
	g.st->regs.rbx = GUEST_DATA_ADDR;
	g.st->regs.r12 = (uint64_t)getpid(); /* kill(the test itself, SIGKILL) */

	static const long expect[] = { 2 /* open */,  1 /* write */, 83 /* mkdir */, 87 /* unlink */,
				       82 /* rename */, 62 /* kill */, 231 /* exit_group */ };
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		ASSERT_EQ(guest_run_syscall(&g), expect[i]);
		if (i == 0) {
			EXPECT_EQ(g.st->regs.rdi, GUEST_DATA_ADDR);
			EXPECT_EQ(g.st->regs.rsi, 0101);
			EXPECT_EQ(g.st->regs.rdx, 0644);
		}
		g.st->regs.rax = (uint64_t)-ENOSYS;
	}
	ASSERT_EQ(guest_run_syscall(&g), 0x530); /* and it was still running after exit_group */
	EXPECT_EQ(g.st->regs.rdi, (uint64_t)-ENOSYS); /* every result was ours */

	EXPECT_FALSE(exists(file));
	EXPECT_FALSE(exists(dir));
	EXPECT_TRUE(exists(existing));
	EXPECT_FALSE(exists(renamed));
	unlink(existing);
	guest_teardown(&g); /* and this process is alive: the kill never happened */
}
