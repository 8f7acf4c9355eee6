// SPDX-License-Identifier: Apache-2.0
// Platform tests of syscall-site patching (where caps.patches_syscalls): a patched site keeps every
// register, flag and vector exactly; sites patched while many threads run them never lose or change a
// syscall; restarts, interrupts, own gs bases and bad stacks all behave as on the signal path.
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include "as_util.h"

GUEST_BLOB(g_patch_loop);
GUEST_BLOB(g_patch_seq);
GUEST_BLOB(g_patch_dyn);
GUEST_BLOB(g_patch_xor);
extern const uint8_t g_patch_loop_site_end[], g_patch_loop_after[];
extern const uint8_t g_patch_xor_site[], g_patch_xor_after[];

#define LOOP_AFTER (GUEST_CODE_ADDR + (uint64_t)(g_patch_loop_after - g_patch_loop_start))
#define XOR_SITE (GUEST_CODE_ADDR + (uint64_t)(g_patch_xor_site - g_patch_xor_start))
#define XOR_AFTER (GUEST_CODE_ADDR + (uint64_t)(g_patch_xor_after - g_patch_xor_start))
#define XOR_PAD (XOR_SITE + 13) /* the padding after its `ret` */
#define X_XMM(i) (160 + 16 * (i))

static void need_patching(const struct guest *g, const char *platform)
{
	if (!g->caps.patches_syscalls)
		SKIP("%s does not patch syscall sites", platform);
}

/* Run once; expect syscall @nr and return the exit. */
static struct cv_exit run_nr(struct guest *g, uint64_t nr)
{
	struct cv_exit e = guest_run(g);
	if (e.reason != CV_EXIT_SYSCALL || g->st->regs.orig_rax != nr)
		HARNESS_FAIL(1, "expected syscall %#llx: reason %d signal %d nr %#llx rip %#llx", (unsigned long long)nr,
			     e.reason, e.info.si_signo, (unsigned long long)g->st->regs.orig_rax,
			     (unsigned long long)g->st->regs.rip);
	return e;
}

static void set_xmm(struct cv_ctx *c, int i, uint64_t lo, uint64_t hi)
{
	struct cv_cpu_state *st = cv_ctx_state(c);
	ASSERT_OK(cv_ctx_pull_full_state(c));
	memcpy(st->xsave + X_XMM(i), &lo, 8);
	memcpy(st->xsave + X_XMM(i) + 8, &hi, 8);
	uint64_t bv;
	memcpy(&bv, st->xsave + 512, 8);
	bv |= 1ull << CV_XFEATURE_SSE;
	memcpy(st->xsave + 512, &bv, 8);
	ASSERT_OK(cv_ctx_full_state_changed(c));
}

/* The first run reports the site as patchable; patching it twice is fine. */
static void patch_loop_site(struct guest *g)
{
	struct cv_exit e = run_nr(g, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHABLE);
	EXPECT_EQ(g->st->regs.rip, LOOP_AFTER);
	ASSERT_OK(cv_as_patch_syscall(g->as, g->st->regs.rip));
	ASSERT_OK(cv_as_patch_syscall(g->as, g->st->regs.rip));
	EXPECT_EQ(g->code[LOOP_AFTER - 7 - GUEST_CODE_ADDR], 0xff); /* the application sees the jump */
}

/* g_patch_loop with its site patched; skips where the platform does not patch. */
static void patched_loop_guest(struct guest *g, const char *platform)
{
	guest_setup(g, platform, g_patch_loop_start, g_patch_loop_end);
	need_patching(g, platform);
	patch_loop_site(g);
}

PLATFORM_TEST(patch_keeps_registers_flags_and_vectors)
{
	struct guest g;
	patched_loop_guest(&g, platform);
	/* Every GPR a distinct value, arithmetic flags set, a red zone the patched path must not touch. */
	struct cv_regs *r = &g.st->regs;
	uint64_t *gp[] = { &r->rdx, &r->rsi, &r->rdi, &r->rbp, &r->r8, &r->r9, &r->r10, &r->r12, &r->r13, &r->r14, &r->r15 };
	for (size_t i = 0; i < sizeof(gp) / sizeof(gp[0]); i++)
		*gp[i] = 0x1111111111111111ull * (i + 1) ^ 0x0123456789abcdefull;
	r->eflags = 0x202 | 0x8d5; /* CF PF AF ZF SF OF */
	r->rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 0x100;
	uint8_t *red = g.stack + GUEST_STACK_SIZE - 0x100 - 128;
	for (int i = 0; i < 128; i++)
		red[i] = (uint8_t)(0xa5 ^ i);
	uint64_t saved[sizeof(gp) / sizeof(gp[0])];
	for (size_t i = 0; i < sizeof(gp) / sizeof(gp[0]); i++)
		saved[i] = *gp[i];
	uint64_t rsp = r->rsp;
	set_xmm(g.ctx, 0, 1000, 0x5555);
	set_xmm(g.ctx, 1, 1, 0);
	set_xmm(g.ctx, 7, 0xdeadbeefcafef00dull, 0x0badc0de12345678ull);
	/* Every wider component the platform carries gets a pattern too (ymm/zmm halves, k, zmm16+). */
	static const unsigned wide[] = { CV_XFEATURE_AVX, CV_XFEATURE_OPMASK, CV_XFEATURE_ZMM_HI256,
					 CV_XFEATURE_HI16_ZMM };
	uint8_t want_wide[4][1024];
	struct cv_xsave_component wc[4];
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	for (int i = 0; i < 4; i++) {
		wc[i].size = 0;
		if (!(g.caps.xfeatures & (1ull << wide[i])))
			continue;
		ASSERT_OK(cv_xsave_component(wide[i], &wc[i]));
		ASSERT_LE(wc[i].size, sizeof(want_wide[i]));
		for (uint32_t b = 0; b < wc[i].size; b++)
			want_wide[i][b] = (uint8_t)(b * 7 + i * 31 + 1);
		memcpy(g.st->xsave + wc[i].offset, want_wide[i], wc[i].size);
		uint64_t bv;
		memcpy(&bv, g.st->xsave + 512, 8);
		bv |= 1ull << wide[i];
		memcpy(g.st->xsave + 512, &bv, 8);
	}
	ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
	for (int round = 0; round < 2000; round++) {
		struct cv_exit e = run_nr(&g, 0x600);
		ASSERT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
		ASSERT_EQ(r->rip, LOOP_AFTER);
		ASSERT_EQ(r->rcx, r->rip);
		ASSERT_EQ(r->r11, r->eflags);
		ASSERT_EQ(r->eflags & 0x8d5, 0x8d5u);
		ASSERT_EQ(r->rsp, rsp);
		ASSERT_EQ(r->rbx, 1001 + (uint64_t)round); /* xmm0 as the guest saw it, after its paddq */
		for (size_t i = 0; i < sizeof(gp) / sizeof(gp[0]); i++)
			ASSERT_EQ(*gp[i], saved[i]);
		r->rax = (uint64_t)round;
	}
	for (int i = 0; i < 128; i++)
		ASSERT_EQ(red[i], (uint8_t)(0xa5 ^ i));
	/* The vector registers came through every round trip exactly. */
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	uint64_t v[2];
	memcpy(v, g.st->xsave + X_XMM(7), 16);
	EXPECT_EQ(v[0], 0xdeadbeefcafef00dull);
	EXPECT_EQ(v[1], 0x0badc0de12345678ull);
	for (int i = 0; i < 4; i++)
		if (wc[i].size)
			EXPECT_EQ(memcmp(g.st->xsave + wc[i].offset, want_wide[i], wc[i].size), 0);
	memcpy(v, g.st->xsave + X_XMM(0), 16);
	EXPECT_EQ(v[0], 3000); /* 2000 rounds of paddq */
	EXPECT_EQ(v[1], 0x5555);
	guest_teardown(&g);
}

/*
 * Two contexts take turns through one patched site, so one stub thread runs one after the other: each
 * must get back its own vector registers every time (systrap's stub copies a patched call's XSAVE
 * state into the context's slot and reloads the other context's from its slot), and both must read
 * back exactly at the end.
 */
PLATFORM_TEST(patch_two_contexts_keep_their_vectors)
{
	struct guest g;
	patched_loop_guest(&g, platform);
	struct cv_ctx *c[2] = { g.ctx, new_ctx(&g, 0, GUEST_CODE_ADDR) };
	const uint64_t start[2] = { 1000, 500000 }, step[2] = { 1, 7 };
	for (int k = 0; k < 2; k++) {
		set_xmm(c[k], 0, start[k], 0x1111 * (k + 1));
		set_xmm(c[k], 1, step[k], 0);
		set_xmm(c[k], 5, 0xfeedfacecafe0000ull + (uint64_t)k, 0x5ca1ab1e00000000ull + (uint64_t)k);
	}
	uint64_t seen[2] = { 0, 0 };
	for (int round = 0; round < 1000; round++)
		for (int k = 0; k < 2; k++) {
			run_expect_syscall(c[k], g.as, 0x600);
			struct cv_regs *r = &cv_ctx_state(c[k])->regs;
			/* g.ctx resumes after the site (paddq first); the new one starts before it */
			uint64_t want = start[k] + step[k] * (seen[k] + (k == 0 ? 1 : 0));
			ASSERT_EQ(r->rbx, want);
			seen[k]++;
			r->rax = 0;
		}
	for (int k = 0; k < 2; k++) {
		ASSERT_OK(cv_ctx_pull_full_state(c[k]));
		uint64_t v[2];
		memcpy(v, cv_ctx_state(c[k])->xsave + X_XMM(5), 16);
		EXPECT_EQ(v[0], 0xfeedfacecafe0000ull + (uint64_t)k);
		EXPECT_EQ(v[1], 0x5ca1ab1e00000000ull + (uint64_t)k);
		memcpy(v, cv_ctx_state(c[k])->xsave + X_XMM(0), 16);
		EXPECT_EQ(v[1], 0x1111u * (unsigned)(k + 1));
	}
	ASSERT_OK(cv_ctx_release(c[1]));
	guest_teardown(&g);
}

/* A syscall the sentry restarts (rip back by 2, at the patched site's 0x06) is made again, with rax. */
PLATFORM_TEST(patch_restarted_syscall)
{
	struct guest g;
	patched_loop_guest(&g, platform);
	struct cv_exit e = run_nr(&g, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	g.st->regs.rip -= 2;
	g.st->regs.rax = 0x600; /* -ERESTARTSYS style: the same call again */
	e = run_nr(&g, 0x600);
	EXPECT_EQ(g.st->regs.rip, LOOP_AFTER);
	g.st->regs.rip -= 2;
	g.st->regs.rax = 219; /* restart_syscall */
	e = run_nr(&g, 219);
	EXPECT_EQ(g.st->regs.rip, LOOP_AFTER);
	EXPECT_EQ(g.st->regs.rcx, LOOP_AFTER);
	e = run_nr(&g, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	guest_teardown(&g);
}

/* With a gs base of its own, or a stack it cannot write, the patched site still reports the syscall. */
PLATFORM_TEST(patch_own_gs_base_and_bad_stack)
{
	struct guest g;
	patched_loop_guest(&g, platform);
	g.st->regs.gs_base = GUEST_DATA_ADDR;
	g.st->regs.r15 = 0x15;
	struct cv_exit e = run_nr(&g, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	EXPECT_EQ(g.st->regs.gs_base, GUEST_DATA_ADDR);
	EXPECT_EQ(g.st->regs.rip, LOOP_AFTER);
	EXPECT_EQ(g.st->regs.r15, 0x15);
	/* The patched path reads its thread page through gs: a gs base with nothing mapped there, and one
	 * whose first word holds garbage, are the application's own too. */
	static const uint64_t own_gs[] = { 0x5a5a5a5a0000ull, GUEST_STACK_ADDR };
	uint64_t garbage = 0x70001234ull;
	memcpy(g.stack, &garbage, sizeof(garbage));
	for (unsigned i = 0; i < 2; i++) {
		g.st->regs.gs_base = own_gs[i];
		e = run_nr(&g, 0x600);
		EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
		EXPECT_EQ(g.st->regs.gs_base, own_gs[i]);
		EXPECT_EQ(g.st->regs.rip, LOOP_AFTER);
		EXPECT_EQ(g.st->regs.r15, 0x15);
	}
	g.st->regs.gs_base = 0;
	g.st->regs.rsp = 0x5a5a5a5a0000ull; /* unmapped */
	e = run_nr(&g, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	EXPECT_EQ(g.st->regs.rsp, 0x5a5a5a5a0000ull);
	EXPECT_EQ(g.st->regs.rip, LOOP_AFTER);
	EXPECT_EQ(g.st->regs.gs_base, 0);
	g.st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE;
	e = run_nr(&g, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	guest_teardown(&g);
}

/* Bad requests change nothing: not a site, a site in a plain file, a platform that does not patch. */
PLATFORM_TEST(patch_refuses_what_it_cannot_do)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_loop_start, g_patch_loop_end);
	EXPECT_EQ(cv_as_patch_syscall(NULL, LOOP_AFTER), -EINVAL);
	if (!g.caps.patches_syscalls) {
		EXPECT_EQ(cv_as_patch_syscall(g.as, LOOP_AFTER), -EOPNOTSUPP);
		guest_teardown(&g);
		return;
	}
	EXPECT_EQ(cv_as_patch_syscall(g.as, LOOP_AFTER + 1), -EINVAL);
	EXPECT_EQ(cv_as_patch_syscall(g.as, GUEST_CODE_ADDR), -EINVAL);
	EXPECT_EQ(cv_as_patch_syscall(g.as, g.caps.max_user_addr + 7), -EINVAL);
	/* The same code from a regular file: never written. */
	char path[] = "/tmp/cvisor-patch-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_TRUE(fd >= 0);
	unlink(path);
	uint8_t page[4096] = { 0 };
	memcpy(page, g_patch_loop_start, (size_t)(g_patch_loop_end - g_patch_loop_start));
	ASSERT_EQ(pwrite(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	ASSERT_OK(cv_as_map(g.as, GUEST_DATA_ADDR, fd, 0, 4096, CV_ACCESS_READ | CV_ACCESS_EXEC, false));
	uint64_t file_after = GUEST_DATA_ADDR + (LOOP_AFTER - GUEST_CODE_ADDR);
	EXPECT_EQ(cv_as_patch_syscall(g.as, file_after), -EFAULT);
	uint8_t back[4096];
	ASSERT_EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	EXPECT_EQ(memcmp(back, page, sizeof(page)), 0);
	close(fd);
	/* Nothing of the guest's own code changed either. */
	EXPECT_EQ(memcmp(g.code, g_patch_loop_start, (size_t)(g_patch_loop_end - g_patch_loop_start)), 0);
	guest_teardown(&g);
}

struct seq_worker {
	struct guest *g;
	struct cv_ctx *ctx;
	uint64_t r9;          /* g_patch_dyn: what every syscall must see in r9 (0: not checked) */
	int rounds;
	int patched_exits;
	int failed;
	pthread_t t;
};

/* Switch @c in until it makes a syscall: 0; 1 when the switch fails, 2 for any other exit. */
static int next_syscall(struct cv_ctx *c, struct cv_as *as, struct cv_exit *e)
{
	do
		if (cv_ctx_switch(c, as, e) < 0)
			return 1;
	while (e->reason == CV_EXIT_INTERRUPT);
	if (e->reason == CV_EXIT_SYSCALL)
		return 0;
	fprintf(stderr, "  unexpected exit %d signo %d code %d addr %#llx rip %#llx\n", (int)e->reason,
		(int)e->info.si_signo, (int)e->info.si_code, (unsigned long long)(uintptr_t)e->info.si_addr,
		(unsigned long long)cv_ctx_state(c)->regs.rip);
	return 2;
}

/* Run g_patch_seq to its end, patching each site the first time it is offered. */
static void *seq_main(void *arg)
{
	struct seq_worker *w = arg;
	struct cv_cpu_state *st = cv_ctx_state(w->ctx);
	uint64_t want = 0x601;
	int rounds = 0;
	for (;;) {
		struct cv_exit e;
		if ((w->failed = next_syscall(w->ctx, w->g->as, &e)) != 0)
			return NULL;
		uint64_t nr = st->regs.orig_rax;
		if (nr == 0x60f)
			break;
		if (nr != want || (w->r9 && st->regs.r9 != w->r9)) {
			w->failed = 3;
			return NULL;
		}
		if (e.syscall_flags & CV_SYSCALL_PATCHED)
			w->patched_exits++;
		if ((e.syscall_flags & CV_SYSCALL_PATCHABLE) && cv_as_patch_syscall(w->g->as, st->regs.rip) < 0) {
			w->failed = 4;
			return NULL;
		}
		want = want == 0x604 ? 0x601 : want + 1;
		if (nr == 0x604)
			rounds++;
	}
	if (rounds != w->rounds || st->regs.r13 != (uint64_t)w->rounds)
		w->failed = 5;
	return NULL;
}

/* Eight threads run four sites while the first thread to see each one patches it; @dyn: sites of
 * syscall(3)'s shape, `mov 0x8(%rsp),%r9; syscall`, whose r9 each thread checks. */
static void race_sites(const char *platform, bool dyn)
{
	struct guest g;
	guest_setup(&g, platform, dyn ? g_patch_dyn_start : g_patch_seq_start, dyn ? g_patch_dyn_end : g_patch_seq_end);
	need_patching(&g, platform);
	struct seq_worker w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (struct seq_worker){ .g = &g, .rounds = 3000 };
		w[i].ctx = i == 0 ? g.ctx : new_ctx(&g, 0, GUEST_CODE_ADDR);
		cv_ctx_state(w[i].ctx)->regs.rip = GUEST_CODE_ADDR;
		cv_ctx_state(w[i].ctx)->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 0x1000 * (uint64_t)i;
		cv_ctx_state(w[i].ctx)->regs.r12 = (uint64_t)w[i].rounds;
		cv_ctx_state(w[i].ctx)->regs.r13 = 0;
		if (dyn) { /* the word above each thread's return address */
			cv_ctx_state(w[i].ctx)->regs.rsp -= 64;
			w[i].r9 = 0x1111111111111111ull * (uint64_t)(i + 1);
			ASSERT_EQ(cv_as_copy_out(g.as, cv_ctx_state(w[i].ctx)->regs.rsp + 8, &w[i].r9, 8), 8);
		}
	}
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(pthread_create(&w[i].t, NULL, seq_main, &w[i]), 0);
	int patched = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		EXPECT_EQ(w[i].failed, 0);
		patched += w[i].patched_exits;
	}
	EXPECT_GT(patched, 8 * 3000 * 4 / 2); /* most calls took the patched path */
	for (int i = 1; i < 8; i++)
		cv_ctx_release(w[i].ctx);
	guest_teardown(&g);
}

PLATFORM_TEST(patch_sites_while_threads_run_them)
{
	race_sites(platform, false);
}

PLATFORM_TEST(patch_syscall3_sites_while_threads_run_them)
{
	race_sites(platform, true);
}

/* A thread that meets a syscall(3) site while it is being patched (its first byte already the trap
 * byte) makes the site's syscall after the displaced `mov 0x8(%rsp),%r9`; a trap byte anywhere else
 * stays the program's SIGILL. */
PLATFORM_TEST(patch_syscall3_site_half_written)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_dyn_start, g_patch_dyn_end);
	need_patching(&g, platform);
	uint64_t marker = 0x5a5a123412345a5aull;
	g.st->regs.rsp -= 64;
	ASSERT_EQ(cv_as_copy_out(g.as, g.st->regs.rsp + 8, &marker, 8), 8);
	g.st->regs.r12 = 1000;
	struct cv_exit e = run_nr(&g, 0x601);
	ASSERT_TRUE(e.syscall_flags & CV_SYSCALL_PATCHABLE);
	uint64_t site = g.st->regs.rip - 7;
	ASSERT_OK(cv_as_patch_syscall(g.as, g.st->regs.rip));
	EXPECT_EQ(g.code[site - GUEST_CODE_ADDR], 0xff); /* jmp *ptr */
	/* Back to the site's start with the first byte as a half-way patch leaves it. */
	g.code[site - GUEST_CODE_ADDR] = 0x06;
	g.st->regs.rip = site;
	g.st->regs.rax = 0x601;
	g.st->regs.r9 = 0;
	e = run_nr(&g, 0x601);
	EXPECT_EQ(g.st->regs.r9, marker);
	EXPECT_EQ(g.st->regs.rip, site + 7);
	g.code[site - GUEST_CODE_ADDR] = 0xff;
	run_nr(&g, 0x602); /* and on from there */
	/* The trap byte where no site is: the program's own illegal instruction. */
	g.code[site - GUEST_CODE_ADDR - 5] = 0x06; /* the mov $0x601 before the site */
	g.st->regs.rip = site - 5;
	e = guest_run(&g);
	EXPECT_EQ(e.reason, CV_EXIT_SIGNAL);
	EXPECT_EQ(e.info.si_signo, SIGILL);
	guest_teardown(&g);
}

/* What g_patch_xor's read-shaped function returns for a syscall result @v: -1 for an error. */
static uint64_t xor_ret(uint64_t v)
{
	return v > (uint64_t)-4096 ? (uint64_t)-1 : v;
}

/*
 * glibc's read(2) site, `xor %eax,%eax; syscall` and then `cmp $-4096,%rax; ja; ret` and alignment
 * padding, is patched through a jump put in the padding: calls come back at the `cmp` with rcx and r11
 * as a syscall leaves them and the error check sees each result; the syscall and the `cmp` keep their
 * bytes, so a restart makes the real syscall; a thread meeting the half-written site's trap byte makes
 * its read; code that falls into the padding still skips to its end.
 */
PLATFORM_TEST(patch_read_site)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_xor_start, g_patch_xor_end);
	need_patching(&g, platform);
	struct cv_regs *r = &g.st->regs;
	r->r12 = 1000000;
	struct cv_exit e = run_nr(&g, 0);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHABLE);
	EXPECT_EQ(r->rip, XOR_AFTER);
	ASSERT_OK(cv_as_patch_syscall(g.as, r->rip));
	ASSERT_OK(cv_as_patch_syscall(g.as, r->rip));
	const uint8_t *site = g.code + (XOR_SITE - GUEST_CODE_ADDR);
	EXPECT_EQ(site[0], 0xeb);
	EXPECT_EQ(memcmp(site + 2, "\x0f\x05\x48\x3d\x00\xf0\xff\xff\x77", 9), 0);
	EXPECT_EQ(site[13], 0xeb); /* the padding: a jump over the jump */
	uint64_t v = 7;
	r->rax = v;
	for (uint64_t i = 1; i <= 1000; i++) {
		e = run_nr(&g, 0);
		ASSERT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
		ASSERT_EQ(r->rip, XOR_AFTER);
		ASSERT_EQ(r->rcx, r->rip);
		ASSERT_EQ(r->r11, r->eflags);
		ASSERT_EQ(r->rbx, xor_ret(v));
		ASSERT_EQ(r->r13, i);
		v = i % 3 ? i * 1000 : (uint64_t)-EIO;
		r->rax = v;
	}
	/* A restart: rip back by 2 is the syscall itself, still there (the signal path) */
	r->rip -= 2;
	r->rax = 0;
	e = run_nr(&g, 0);
	EXPECT_EQ(e.syscall_flags & CV_SYSCALL_PATCHED, 0u);
	EXPECT_EQ(r->rip, XOR_AFTER);
	r->rip -= 2;
	r->rax = 219; /* restart_syscall */
	run_nr(&g, 219);
	EXPECT_EQ(r->rip, XOR_AFTER);
	r->rax = 5;
	e = run_nr(&g, 0);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	EXPECT_EQ(r->rbx, 5u);
	/* The site's first byte as the patch leaves it half-way: the read all the same (eax 0, as the
	 * xor makes it), returning after the syscall. */
	g.code[XOR_SITE - GUEST_CODE_ADDR] = 0x06;
	r->rip = XOR_SITE;
	r->rax = 0x1234;
	e = run_nr(&g, 0);
	EXPECT_EQ(r->rip, XOR_AFTER);
	EXPECT_EQ(r->rcx, XOR_AFTER);
	g.code[XOR_SITE - GUEST_CODE_ADDR] = 0xeb;
	/* Into the padding's start: on to its end (the error path: -1) */
	r->rip = XOR_PAD;
	e = run_nr(&g, 0);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	EXPECT_EQ(r->rbx, (uint64_t)-1);
	guest_teardown(&g);
}

/* Not that shape (no `ret` after the check: the padding may be code), or nothing but the xor site
 * itself: not offered, refused, nothing written. */
PLATFORM_TEST(patch_read_site_refused)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_xor_start, g_patch_xor_end);
	need_patching(&g, platform);
	g.code[XOR_SITE + 12 - GUEST_CODE_ADDR] = 0x90; /* the ret */
	uint8_t before[256];
	memcpy(before, g.code, sizeof(before));
	g.st->regs.r12 = 10;
	struct cv_exit e = run_nr(&g, 0);
	EXPECT_EQ(e.syscall_flags, 0u);
	EXPECT_EQ(cv_as_patch_syscall(g.as, g.st->regs.rip), -EINVAL);
	EXPECT_EQ(memcmp(before, g.code, sizeof(before)), 0);
	guest_teardown(&g);
}

struct xor_worker {
	struct guest *g;
	struct cv_ctx *ctx;
	int rounds, patched_exits, failed;
	pthread_t t;
};

/* Run g_patch_xor to its end, answering each read with a value of its own and checking what the
 * function returned for the one before; patching the site the first time it is offered. */
static void *xor_main(void *arg)
{
	struct xor_worker *w = arg;
	struct cv_cpu_state *st = cv_ctx_state(w->ctx);
	uint64_t v = 0, calls = 0;
	for (;;) {
		struct cv_exit e;
		if ((w->failed = next_syscall(w->ctx, w->g->as, &e)) != 0)
			return NULL;
		if (st->regs.orig_rax == 0x60f)
			break;
		if (st->regs.orig_rax != 0 || st->regs.rip != XOR_AFTER || st->regs.r13 != calls ||
		    (calls && st->regs.rbx != xor_ret(v))) {
			w->failed = 3;
			return NULL;
		}
		if (e.syscall_flags & CV_SYSCALL_PATCHED)
			w->patched_exits++;
		bool offered = e.syscall_flags & CV_SYSCALL_PATCHABLE;
		if (offered && cv_as_patch_syscall(w->g->as, st->regs.rip) < 0) {
			w->failed = 4;
			return NULL;
		}
		calls++;
		v = calls % 5 ? (uint64_t)w->rounds * calls : (uint64_t)-EAGAIN;
		st->regs.rax = v;
	}
	if (calls != (uint64_t)w->rounds || st->regs.r13 != calls || st->regs.rbx != xor_ret(v))
		w->failed = 5;
	return NULL;
}

/* Eight threads go round the read site while the first to see it offered patches it. */
PLATFORM_TEST(patch_read_site_while_threads_run_it)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_xor_start, g_patch_xor_end);
	need_patching(&g, platform);
	struct xor_worker w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (struct xor_worker){ .g = &g, .rounds = 3000 + i };
		w[i].ctx = i == 0 ? g.ctx : new_ctx(&g, 0, GUEST_CODE_ADDR);
		cv_ctx_state(w[i].ctx)->regs.rip = GUEST_CODE_ADDR;
		cv_ctx_state(w[i].ctx)->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 0x1000 * (uint64_t)i;
		cv_ctx_state(w[i].ctx)->regs.r12 = (uint64_t)w[i].rounds;
		cv_ctx_state(w[i].ctx)->regs.r13 = 0;
	}
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(pthread_create(&w[i].t, NULL, xor_main, &w[i]), 0);
	int patched = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		EXPECT_EQ(w[i].failed, 0);
		patched += w[i].patched_exits;
	}
	EXPECT_GT(patched, 8 * 3000 / 2); /* most calls took the patched path */
	for (int i = 1; i < 8; i++)
		cv_ctx_release(w[i].ctx);
	guest_teardown(&g);
}

struct kicker {
	struct guest *g;
	atomic_bool stop;
	atomic_long progress; /* syscall exits seen */
	pthread_t t;
};

/* An interrupt every ~50 us, but none before the context made a syscall since the last one: at a fixed
 * rate, a machine busy enough that a switch takes longer than the interval to get the context running
 * would have every switch return the interrupt and the loop never end (seen once in CI: the 30 s
 * alarm; with a hog on the same CPU 110k interrupts against 80k exits, idle 2-6k). */
static void *kick_main(void *arg)
{
	struct kicker *k = arg;
	while (!atomic_load(&k->stop)) {
		long seen = atomic_load(&k->progress);
		cv_ctx_interrupt(k->g->ctx);
		usleep(50);
		while (!atomic_load(&k->stop) && atomic_load(&k->progress) == seen)
			usleep(50);
	}
	return NULL;
}

/* Interrupts keep arriving while the context goes round a patched site: none is lost, none breaks it. */
PLATFORM_TEST(patch_interrupted_often)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_seq_start, g_patch_seq_end);
	need_patching(&g, platform);
	struct kicker k = { .g = &g };
	const uint64_t rounds = 8000; /* 32,000 patched round trips */
	g.st->regs.r12 = rounds;
	ASSERT_EQ(pthread_create(&k.t, NULL, kick_main, &k), 0);
	uint64_t want = 0x601;
	int interrupts = 0, patched = 0;
	for (;;) {
		struct cv_exit e = guest_run(&g);
		if (e.reason == CV_EXIT_INTERRUPT) {
			interrupts++;
			if (!(g.st->regs.rip >= GUEST_CODE_ADDR && g.st->regs.rip < GUEST_CODE_ADDR + 0x100))
				HARNESS_FAIL(1, "interrupted at %#llx, outside the guest code", (unsigned long long)g.st->regs.rip);
			continue;
		}
		ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
		atomic_fetch_add(&k.progress, 1);
		if (g.st->regs.orig_rax == 0x60f)
			break;
		ASSERT_EQ(g.st->regs.orig_rax, want);
		if (e.syscall_flags & CV_SYSCALL_PATCHABLE)
			ASSERT_OK(cv_as_patch_syscall(g.as, g.st->regs.rip));
		patched += (e.syscall_flags & CV_SYSCALL_PATCHED) != 0;
		want = want == 0x604 ? 0x601 : want + 1;
	}
	atomic_store(&k.stop, true);
	pthread_join(k.t, NULL);
	EXPECT_EQ(g.st->regs.r13, rounds);
	EXPECT_GT(interrupts, 0);
	EXPECT_GT(patched, 0);
	guest_teardown(&g);
}

/* After an application fork the child's copy of a patched page works in the child's address space. */
PLATFORM_TEST(patch_survives_fork_copy)
{
	struct guest g;
	patched_loop_guest(&g, platform);
	ASSERT_OK(cv_as_prefork(g.as));
	struct cv_as *child;
	ASSERT_OK(cv_as_new(g.p, &child));
	void *copy;
	uint64_t off = mf_alloc(&g, 4096, &copy);
	memcpy(copy, g.code, 4096);
	ASSERT_OK(cv_as_map(child, GUEST_CODE_ADDR, cv_memfile_fd(g.mf), off, 4096, CV_ACCESS_READ | CV_ACCESS_EXEC, false));
	ASSERT_OK(cv_as_postfork(g.as));
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	cv_ctx_state(c)->regs.rsp = 0; /* the patched path falls back without a stack, still patched */
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(c, child, &e));
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(cv_ctx_state(c)->regs.orig_rax, 0x600);
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	ASSERT_OK(cv_ctx_switch(c, child, &e));
	EXPECT_EQ(e.syscall_flags, CV_SYSCALL_PATCHED);
	cv_ctx_release(c);
	ASSERT_OK(cv_as_release(child));
	guest_teardown(&g);
}

/* One context in a new address space of @g's platform whose code page is host file @fd; runs it once
 * with rax @rax and expects syscall 0x600. Returns the exit's flags; the context and space in *@c, *@as. */
static unsigned run_file_code(struct guest *g, int fd, uint64_t rax, struct cv_ctx **c, struct cv_as **as)
{
	ASSERT_OK(cv_as_new(g->p, as));
	ASSERT_OK(cv_as_map(*as, GUEST_CODE_ADDR, fd, 0, 4096, CV_ACCESS_READ | CV_ACCESS_EXEC, false));
	*c = new_ctx(g, 0, LOOP_AFTER - 7); /* its `mov $0x600,%eax; syscall` */
	cv_ctx_state(*c)->regs.rax = rax;
	cv_ctx_state(*c)->regs.rsp = 0; /* (a trapped syscall needs none) */
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(*c, *as, &e));
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(cv_ctx_state(*c)->regs.orig_rax, 0x600);
	EXPECT_EQ(cv_ctx_state(*c)->regs.rip, LOOP_AFTER);
	return e.syscall_flags;
}

/* Whether a site in a host file is patchable is remembered by its place in the file, for every
 * address space of the platform (each process of a program traps at the same sites): a second one
 * gets the same answer. The file rewritten in place makes that answer stale: it is only a hint, and
 * the patch itself, which reads the site again, refuses what is no longer a patchable site. */
PLATFORM_TEST(patch_site_verdict_by_file_position)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_loop_start, g_patch_loop_end);
	need_patching(&g, platform);
	char path[] = "/tmp/cvisor-site-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_EQ(pwrite(fd, g.code, 4096, 0), 4096);
	struct cv_ctx *c[3];
	struct cv_as *as[3];
	EXPECT_EQ(run_file_code(&g, fd, 0, &c[0], &as[0]), CV_SYSCALL_PATCHABLE);
	EXPECT_EQ(run_file_code(&g, fd, 0, &c[1], &as[1]), CV_SYSCALL_PATCHABLE);
	/* `mov $0x600,%eax` becomes five nops: the syscall's number is now the context's rax */
	static const uint8_t nops[5] = { 0x90, 0x90, 0x90, 0x90, 0x90 };
	uint64_t site = LOOP_AFTER - 7 - GUEST_CODE_ADDR;
	ASSERT_EQ(pwrite(fd, nops, 5, (off_t)site), 5);
	unsigned flags = run_file_code(&g, fd, 0x600, &c[2], &as[2]);
	EXPECT_EQ(flags & ~CV_SYSCALL_PATCHABLE, 0u);
	if (flags & CV_SYSCALL_PATCHABLE) /* the stale hint: the patch is refused, nothing written */
		EXPECT_EQ(cv_as_patch_syscall(as[2], LOOP_AFTER), -EINVAL);
	uint8_t now[5];
	ASSERT_EQ(cv_as_copy_in(as[2], GUEST_CODE_ADDR + site, now, 5), 5);
	EXPECT_EQ(memcmp(now, nops, 5), 0);
	/* and it still traps as before */
	struct cv_exit e;
	cv_ctx_state(c[2])->regs.rip = GUEST_CODE_ADDR + site;
	cv_ctx_state(c[2])->regs.rax = 0x600;
	ASSERT_OK(cv_ctx_switch(c[2], as[2], &e));
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(e.syscall_flags & CV_SYSCALL_PATCHED, 0u);
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(cv_ctx_release(c[i]));
		ASSERT_OK(cv_as_release(as[i]));
	}
	close(fd);
	guest_teardown(&g);
}
