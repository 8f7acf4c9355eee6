// SPDX-License-Identifier: Apache-2.0
// Platform tests of the stub process itself: it holds nothing but its code, is seccomp-filtered, lives
// in a process group of its own in the caller's session, and its own syscall instructions give the
// application no way out.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "as_util.h"

/*
 * Mappings of /proc/PID/maps other than [vsyscall]: how many lie below @limit (the application's
 * range) and how many of those below @low (under the range: they must be read-only data), and how
 * many executable ones above it (the first goes to start/end/perms).
 */
struct stub_map_counts {
	int below, under, under_writable_or_exec, exec_above, writable_exec;
	uint64_t start, end;
	char perms[8];
};

static struct stub_map_counts stub_maps(int pid, uint64_t low, uint64_t limit)
{
	struct stub_map_counts c = { 0 };
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[vsyscall]"))
			continue;
		unsigned long long s, e;
		char p[8];
		if (sscanf(line, "%llx-%llx %7s", &s, &e, p) != 3)
			continue;
		if (e <= low) {
			c.under++;
			if (p[1] == 'w' || p[2] == 'x')
				c.under_writable_or_exec++;
			continue;
		}
		if (s < limit) {
			c.below++;
			continue;
		}
		if (p[2] == 'x' && c.exec_above++ == 0) {
			c.start = s;
			c.end = e;
			strcpy(c.perms, p);
		}
		if (p[1] == 'w' && p[2] == 'x')
			c.writable_exec++;
	}
	fclose(f);
	return c;
}

static void status_field(int pid, const char *key, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	ASSERT_TRUE(f != NULL);
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			snprintf(out, len, "%s", line + strlen(key) + 1 + strspn(line + strlen(key) + 1, " \t"));
			out[strcspn(out, "\n")] = 0;
		}
	fclose(f);
}

/* The first line of a small file, or -1. */
static int read_small(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = fgets(out, (int)len, f) ? (int)strlen(out) : -1;
	fclose(f);
	return n;
}

PLATFORM_TEST(stub_holds_only_its_code_and_is_filtered)
{
	struct cv_platform *p;
	struct cv_platform_caps caps;
	struct cv_as *as;
	ASSERT_OK(cv_platform_open(platform, NULL, &p));
	ASSERT_OK(cv_platform_caps(p, &caps));
	int pid = as_new_find_stub(p, &as);
	/* Nothing in the application's range; under it at most the read-only patch table; code above it
	 * (the stub, and its patch trampolines where it patches), never writable. */
	struct stub_map_counts c = stub_maps(pid, caps.min_user_addr, caps.max_user_addr);
	EXPECT_EQ(c.below, 0);
	EXPECT_EQ(c.under, caps.patches_syscalls ? 1 : 0);
	EXPECT_EQ(c.under_writable_or_exec, 0);
	EXPECT_EQ(c.exec_above, caps.patches_syscalls ? 2 : 1);
	EXPECT_EQ(c.writable_exec, 0);
	EXPECT_EQ(strcmp(c.perms, "r-xp"), 0);
	if (strcmp(platform, "ptrace") == 0)
		EXPECT_EQ(c.end - c.start, 4096); /* ptrace stubs hold their code page and nothing else */

	char v[64];
	status_field(pid, "Seccomp", v, sizeof(v));
	EXPECT_EQ(strcmp(v, "2"), 0); /* filter mode */
	status_field(pid, "NoNewPrivs", v, sizeof(v));
	EXPECT_EQ(strcmp(v, "1"), 0);
	/* Terminal signals for our process group never reach it; it is scheduled with us (autogroup). */
	EXPECT_NE(getpgid(pid), getpgid(0));
	EXPECT_EQ(getsid(pid), getsid(0));
	char mine[64], its[64];
	if (read_small("/proc/self/autogroup", mine, sizeof(mine)) > 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/autogroup", pid);
		ASSERT_GT(read_small(path, its, sizeof(its)), 0);
		EXPECT_EQ(strcmp(mine, its), 0);
	}

	/* A mapping shows up there, and nothing else. */
	struct cv_memfile *mf;
	uint64_t off;
	ASSERT_OK(cv_memfile_new(NULL, &mf));
	ASSERT_OK(cv_memfile_alloc(mf, 4096, 0, &off));
	ASSERT_OK(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(mf), off, 4096, CV_ACCESS_READ, false));
	c = stub_maps(pid, caps.min_user_addr, caps.max_user_addr);
	EXPECT_EQ(c.below, 1);
	ASSERT_OK(cv_as_release(as));
	cv_memfile_close(mf);
	ASSERT_OK(cv_platform_close(p));
}

/* jmp *%r12 */
static const uint8_t jump_r12[] = { 0x41, 0xff, 0xe4 };

/*
 * What the application asks of a stub `syscall` instruction it jumps to: mkdir(dir) (a host syscall
 * the sentry never makes for it), or mprotect of its read-only page to read-write (systrap's syscall
 * thread may make mprotect from the stub code, for the sentry: a stub thread, where the application
 * runs, must not — it would write memory shared copy-on-write with another process). A stub whose
 * filter let it through would usually crash in the code after the instruction, taking the evidence
 * with it: test_systrap_filters.c checks the filters' verdicts themselves.
 */
enum attack { ATTACK_MKDIR, ATTACK_MPROTECT };

static void arm(struct guest *g, enum attack a, const char *dir)
{
	if (a == ATTACK_MKDIR)
		strcpy(guest_map_anon(g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL), dir);
	else
		guest_map_anon(g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ, NULL);
}

/* The start of the first mapping of a child of ours (a stub) that @want accepts, or 0. */
static uint64_t child_mapping(bool (*want)(uint64_t start, uint64_t end, const char *line, uint64_t arg), uint64_t arg)
{
	int kids[256], n = list_children(kids, 256);
	for (int i = 0; i < n; i++) {
		char path[64], line[256];
		snprintf(path, sizeof(path), "/proc/%d/maps", kids[i]);
		FILE *f = fopen(path, "re");
		uint64_t found = 0;
		while (f && !found && fgets(line, sizeof(line), f)) {
			unsigned long long a, b;
			if (sscanf(line, "%llx-%llx", &a, &b) == 2 && want(a, b, line, arg))
				found = a;
		}
		if (f)
			fclose(f);
		if (found)
			return found;
	}
	return 0;
}

/* Permissions of a maps line ("rwxp"), or "" */
static const char *perms_of(const char *line)
{
	const char *p = strchr(line, ' ');
	return p ? p + 1 : "";
}

/* Stub code: executable, above the application's range @arg. */
static bool is_stub_code(uint64_t start, uint64_t end, const char *line, uint64_t arg)
{
	(void)end;
	return start >= arg && perms_of(line)[2] == 'x' && !strstr(line, "vsyscall");
}

/* The page at @arg, writable or executable. */
static bool is_wx_at(uint64_t start, uint64_t end, const char *line, uint64_t arg)
{
	const char *p = perms_of(line);
	return start <= arg && arg < end && (p[1] == 'w' || p[2] == 'x');
}

/* Jump to every `syscall` instruction of the stub page @code (at @stub) with attack @a loaded. */
static void jump_to_each_syscall(struct guest *g, const char *platform, const uint8_t *code, uint64_t stub,
				 enum attack a, const char *dir)
{
	const long nr = a == ATTACK_MKDIR ? 83 : 10;
	arm(g, a, dir);
	int tried = 0, killed = 0;
	for (int i = 0; i + 1 < 4096; i++) {
		if (code[i] != 0x0f || code[i + 1] != 0x05)
			continue;
		tried++;
		g->st->regs.rip = GUEST_CODE_ADDR;
		g->st->regs.r12 = stub + (uint64_t)i;
		g->st->regs.rax = (uint64_t)nr;
		g->st->regs.rdi = GUEST_DATA_ADDR;
		g->st->regs.rsi = a == ATTACK_MKDIR ? 0755 : 4096;
		g->st->regs.rdx = PROT_READ | PROT_WRITE;
		struct cv_exit ex;
		memset(&ex, 0, sizeof(ex));
		int r = cv_ctx_switch(g->ctx, g->as, &ex);
		if (r == -CV_EASDEAD || r == -CV_ETAMPERED) {
			/* The stub's filter killed it (systrap): the application loses its address space. */
			killed++;
			guest_teardown(g);
			guest_setup(g, platform, jump_r12, jump_r12 + sizeof(jump_r12));
			arm(g, a, dir);
		} else if (strcmp(platform, "ptrace") == 0 || ex.reason == CV_EXIT_SYSCALL) {
			ASSERT_OK(r);
			ASSERT_EQ(ex.reason, CV_EXIT_SYSCALL); /* the sentry sees it, as from anywhere else */
			ASSERT_EQ(g->st->regs.orig_rax, nr);
		} else {
			/* 0f 05 inside a longer instruction of the handler's code: whatever it decodes to */
			ASSERT_OK(r);
			ASSERT_EQ(ex.reason, CV_EXIT_SIGNAL);
		}
		struct stat st;
		ASSERT_TRUE(stat(dir, &st) < 0 && errno == ENOENT);
		if (a == ATTACK_MPROTECT)
			ASSERT_EQ(child_mapping(is_wx_at, GUEST_DATA_ADDR), 0);
	}
	if (strcmp(platform, "ptrace") == 0)
		EXPECT_EQ(killed, 0);
	EXPECT_GE(tried, 3);
}

PLATFORM_TEST(stub_code_is_no_way_out)
{
	struct guest g;
	guest_setup(&g, platform, jump_r12, jump_r12 + sizeof(jump_r12));
	/* Find the stub page the way an attacker could: readable code above the application's range. */
	int kids[256];
	int n = list_children(kids, 256);
	uint64_t stub = child_mapping(is_stub_code, g.caps.max_user_addr);
	if (!stub)
		SKIP("%s has no stub code in the application's address space", platform);

	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/cvz%d", (int)getpid() % 100000);
	rmdir(dir);
	uint8_t code[4096];
	char mem[64];
	FILE *m = NULL;
	for (int i = 0; i < n && !m; i++) { /* any stub of this platform has the same page */
		snprintf(mem, sizeof(mem), "/proc/%d/mem", kids[i]);
		m = fopen(mem, "re");
		if (m && (fseeko(m, (off_t)stub, SEEK_SET) != 0 || fread(code, 1, 4096, m) != 4096)) {
			fclose(m);
			m = NULL;
		}
	}
	ASSERT_TRUE(m != NULL);
	fclose(m);
	/* (The same guest for both: a ptrace stub's page lies at an address of its own.) */
	jump_to_each_syscall(&g, platform, code, stub, ATTACK_MKDIR, dir);
	jump_to_each_syscall(&g, platform, code, stub, ATTACK_MPROTECT, dir);
	guest_teardown(&g);
}
