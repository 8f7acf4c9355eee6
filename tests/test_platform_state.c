// SPDX-License-Identifier: Apache-2.0
// Platform tests: the full CPU state (GPRs, flags, fs/gs base, x87/SSE/AVX/AVX-512) round-trips through
// the guest across a syscall and a fault, in both directions.
#include "guestlib.h"

GUEST_BLOB(g_state_sse);
GUEST_BLOB(g_state_avx512);

#define XSTATE_BV 512
#define XMM(i) (160 + 16 * (i))
#define FEAT(f) (1ull << (f))

static uint8_t pat(unsigned reg, unsigned byte, unsigned gen)
{
	return (uint8_t)(reg * 37 + byte * 11 + gen * 101 + 1);
}

static uint8_t *comp(struct guest *g, unsigned feature)
{
	struct cv_xsave_component c;
	ASSERT_OK(cv_xsave_component(feature, &c));
	return (uint8_t *)g->st->xsave + c.offset;
}

static bool has_avx512(const struct guest *g)
{
	uint64_t need = FEAT(CV_XFEATURE_OPMASK) | FEAT(CV_XFEATURE_ZMM_HI256) | FEAT(CV_XFEATURE_HI16_ZMM);
	return (g->caps.xfeatures & need) == need;
}

/* Fill registers reg's bytes [0, 64) of a ZMM (or 16 of an XMM) with generation gen's pattern. */
static void set_vec(struct guest *g, unsigned reg, unsigned gen, bool avx512)
{
	uint8_t *xs = g->st->xsave;
	for (unsigned b = 0; b < 64; b++) {
		uint8_t v = pat(reg, b, gen);
		if (reg < 16 && b < 16)
			xs[XMM(reg) + b] = v;
		else if (reg < 16 && b < 32 && (g->caps.xfeatures & FEAT(CV_XFEATURE_AVX)))
			comp(g, CV_XFEATURE_AVX)[16 * reg + b - 16] = v;
		else if (reg < 16 && b >= 32 && avx512)
			comp(g, CV_XFEATURE_ZMM_HI256)[32 * reg + b - 32] = v;
		else if (reg >= 16 && avx512)
			comp(g, CV_XFEATURE_HI16_ZMM)[64 * (reg - 16) + b] = v;
	}
}

static void check_vec(struct guest *g, unsigned reg, unsigned want_reg, unsigned gen, bool avx512)
{
	const uint8_t *xs = g->st->xsave;
	for (unsigned b = 0; b < (avx512 ? 64u : 16u); b++) {
		uint8_t want = pat(want_reg, b, gen), got;
		if (reg < 16 && b < 16)
			got = xs[XMM(reg) + b];
		else if (reg < 16 && b < 32)
			got = comp(g, CV_XFEATURE_AVX)[16 * reg + b - 16];
		else if (reg < 16)
			got = comp(g, CV_XFEATURE_ZMM_HI256)[32 * reg + b - 32];
		else
			got = comp(g, CV_XFEATURE_HI16_ZMM)[64 * (reg - 16) + b];
		if (got != want)
			HARNESS_FAIL(1, "vector reg %u byte %u: %#x, want %#x (reg %u gen %u)", reg, b, got, want,
				     want_reg, gen);
	}
}

static void set_state(struct guest *g, unsigned gen, bool avx512)
{
	uint64_t *r = (uint64_t *)&g->st->regs;
	uint64_t rip = g->st->regs.rip, rsp = g->st->regs.rsp, cs = g->st->regs.cs, ss = g->st->regs.ss;
	for (unsigned i = 0; i < sizeof(g->st->regs) / 8; i++)
		r[i] = 0x1111111111111111ull * (i + 1) + gen;
	g->st->regs.rip = rip;
	g->st->regs.rsp = rsp;
	g->st->regs.cs = cs;
	g->st->regs.ss = ss;
	g->st->regs.ds = g->st->regs.es = g->st->regs.fs = g->st->regs.gs = 0;
	g->st->regs.eflags = 0x202 | 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800; /* CF PF AF ZF SF OF */
	g->st->regs.fs_base = GUEST_DATA_ADDR;
	g->st->regs.gs_base = GUEST_DATA_ADDR + 0x100;
	uint8_t *xs = g->st->xsave;
	*(uint16_t *)(void *)xs = 0x027f;                 /* FCW: a non-default precision */
	*(uint32_t *)(void *)(xs + 24) = 0x1f80 | 0x6000; /* MXCSR: round toward zero */
	for (unsigned b = 0; b < 10; b++)
		xs[32 + b] = pat(40, b, gen);             /* ST0 / MM0 */
	for (unsigned reg = 0; reg < (avx512 ? 32u : 16u); reg++)
		set_vec(g, reg, gen, avx512);
	if (avx512)
		for (unsigned k = 0; k < 8; k++)
			*(uint64_t *)(void *)(comp(g, CV_XFEATURE_OPMASK) + 8 * k) = 0x0101010101010101ull * (k + 1) + gen;
	*(uint64_t *)(void *)(xs + XSTATE_BV) |= g->caps.xfeatures & (FEAT(0) | FEAT(1) | FEAT(2) | (avx512 ? 0xe0 : 0));
	ASSERT_OK(cv_ctx_full_state_changed(g->ctx));
}

/* Every GPR except those in skip[] must still hold set_state(gen)'s value. */
static void check_gprs(struct guest *g, unsigned gen, const size_t *skip, size_t nskip)
{
	const uint64_t *r = (const uint64_t *)&g->st->regs;
	static const size_t fixed[] = { offsetof(struct cv_regs, rip), offsetof(struct cv_regs, rsp),
					offsetof(struct cv_regs, cs), offsetof(struct cv_regs, ss),
					offsetof(struct cv_regs, eflags), offsetof(struct cv_regs, fs_base),
					offsetof(struct cv_regs, gs_base), offsetof(struct cv_regs, orig_rax),
					offsetof(struct cv_regs, ds), offsetof(struct cv_regs, es),
					offsetof(struct cv_regs, fs), offsetof(struct cv_regs, gs) };
	for (size_t i = 0; i < sizeof(g->st->regs) / 8; i++) {
		bool skipped = false;
		for (size_t j = 0; j < sizeof(fixed) / sizeof(fixed[0]); j++)
			skipped |= fixed[j] == i * 8;
		for (size_t j = 0; j < nskip; j++)
			skipped |= skip[j] == i * 8;
		if (!skipped && r[i] != 0x1111111111111111ull * (i + 1) + gen)
			HARNESS_FAIL(1, "register at offset %zu: %#llx", i * 8, (unsigned long long)r[i]);
	}
	EXPECT_EQ(g->st->regs.fs_base, GUEST_DATA_ADDR);
	EXPECT_EQ(g->st->regs.gs_base, GUEST_DATA_ADDR + 0x100);
	EXPECT_EQ(g->st->regs.eflags & 0x8d5, 0x8d5); /* CF PF AF ZF SF OF survived */
}

static void state_round_trip(const char *platform, bool want_avx512)
{
	struct guest g;
	guest_setup(&g, platform, want_avx512 ? g_state_avx512_start : g_state_sse_start,
		    want_avx512 ? g_state_avx512_end : g_state_sse_end);
	if (want_avx512 && !has_avx512(&g))
		SKIP("no AVX-512 on this CPU");
	bool avx512 = want_avx512;
	uint64_t *data = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	data[0] = 0xf5f5f5f5f5f5f5f5ull;     /* read through fs:0 */
	data[0x108 / 8] = 0x6767676767676767ull; /* read through gs:8 */
	uint64_t entry = g.st->regs.rip;
	set_state(&g, 1, avx512);

	/* Exit 1 (syscall): everything the sentry set is what the guest had. */
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	ASSERT_EQ(g.st->regs.rip, entry + 2);
	ASSERT_EQ(g.st->regs.rcx, g.st->regs.rip); /* syscall's own clobbers, as Linux defines them */
	ASSERT_EQ(g.st->regs.r11, g.st->regs.eflags);
	static const size_t skip1[] = { offsetof(struct cv_regs, rax), offsetof(struct cv_regs, rcx),
					 offsetof(struct cv_regs, r11) };
	check_gprs(&g, 1, skip1, 3);
	const uint8_t *xs = g.st->xsave;
	EXPECT_EQ(*(const uint16_t *)(const void *)xs, 0x027f);
	EXPECT_EQ(*(const uint32_t *)(const void *)(xs + 24), 0x7f80);
	for (unsigned b = 0; b < 10; b++)
		EXPECT_EQ(xs[32 + b], pat(40, b, 1));
	for (unsigned reg = 0; reg < (avx512 ? 32u : 16u); reg++)
		check_vec(&g, reg, reg, 1, avx512);

	/* Exit 2 (syscall): the guest's copies prove it computed with our values. */
	uint64_t r8 = g.st->regs.r8;
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	EXPECT_EQ(g.st->regs.r9, r8);
	EXPECT_EQ(g.st->regs.r14, 0xf5f5f5f5f5f5f5f5ull);
	EXPECT_EQ(g.st->regs.r15, 0x6767676767676767ull);
	check_vec(&g, 4, 3, 1, avx512);
	if (avx512) {
		check_vec(&g, 18, 17, 1, true);
		const uint8_t *k = comp(&g, CV_XFEATURE_OPMASK);
		EXPECT_EQ(*(const uint64_t *)(const void *)(k + 16), *(const uint64_t *)(const void *)(k + 8));
	}

	/* The sentry changes the state; exit 3 (a fault) shows the guest used the new values. */
	set_state(&g, 2, avx512);
	struct cv_exit e = guest_run_signal(&g, SIGILL);
	ASSERT_EQ((uint64_t)e.info.si_addr, g.st->regs.rip);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	static const size_t skip3[] = { offsetof(struct cv_regs, r10) };
	check_gprs(&g, 2, skip3, 1);
	EXPECT_EQ(g.st->regs.r10, g.st->regs.r8);
	if (avx512) {
		check_vec(&g, 6, 3, 2, true);
		check_vec(&g, 17, 17, 2, true);
		const uint8_t *k = comp(&g, CV_XFEATURE_OPMASK);
		EXPECT_EQ(*(const uint64_t *)(const void *)(k + 24), 0x0202020202020202ull + 2);
	} else {
		check_vec(&g, 5, 3, 2, false);
		check_vec(&g, 3, 3, 2, false);
	}

	/* After the fault, a new state set by the sentry reaches the guest and comes back intact. */
	set_state(&g, 3, avx512);
	g.st->regs.rip = entry; /* back to the first syscall */
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	check_gprs(&g, 3, skip1, 3);
	for (unsigned reg = 0; reg < (avx512 ? 32u : 16u); reg++)
		check_vec(&g, reg, reg, 3, avx512);
	guest_teardown(&g);
}

PLATFORM_TEST(state_round_trip_sse)
{
	state_round_trip(platform, false);
}

PLATFORM_TEST(state_round_trip_avx512)
{
	state_round_trip(platform, true);
}
