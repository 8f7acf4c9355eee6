// SPDX-License-Identifier: Apache-2.0
// Platform tests: the full CPU state (every GPR, flags, fs/gs base, x87, SSE, AVX, AVX-512) set by the
// sentry reaches the guest, is computed with there, and comes back exactly, across syscalls and faults.
#include <signal.h>
#include "guestlib.h"

GUEST_BLOB(g_state_sse);
GUEST_BLOB(g_state_avx);
GUEST_BLOB(g_state_avx512);
/* Offsets of: after exit 2, exit 3 (ud2), exit 4 (the faulting load), after exit 5. */
extern const uint64_t g_state_sse_offs[4], g_state_avx_offs[4], g_state_avx512_offs[4];

#define STATE_FAULT_ADDR 0x20000000ull /* as in guest_state.S */
#define FEAT(f) (1ull << (f))

/* The legacy (FXSAVE) area and the XSAVE header. */
#define X_FCW 0
#define X_FSW 2
#define X_FTW 4
#define X_MXCSR 24
#define X_ST(i) (32 + 16 * (i))
#define X_XMM(i) (160 + 16 * (i))
#define X_XSTATE_BV 512

#define EFLAGS_CHECKED 0xed5 /* CF PF AF ZF SF IF DF OF */
#define FSW_CHECKED 0x38ff   /* exception flags, SF, ES and TOP; not the condition codes */
#define FSW_PE 0x20          /* preset: the divisions are inexact and the flag is sticky */

/* Everything the test controls, independent of the XSAVE layout. */
struct vstate {
	struct cv_regs regs;
	uint16_t fcw, fsw;
	uint8_t ftw;
	uint32_t mxcsr;
	uint8_t st[8][10];
	uint8_t vec[32][64]; /* zmm0-31; xmm is bytes 0-15, ymm 0-31 */
	uint64_t k[8];
};

struct have {
	bool avx, avx512;
};

static const struct {
	const char *name;
	size_t off;
} gprs[] = {
#define R(n) { #n, offsetof(struct cv_regs, n) }
	R(rax), R(rbx), R(rcx), R(rdx), R(rsi), R(rdi), R(rbp), R(rsp),
	R(r8),  R(r9),  R(r10), R(r11), R(r12), R(r13), R(r14), R(r15),
#undef R
};

static uint64_t *gpr(struct cv_regs *r, size_t i)
{
	return (uint64_t *)(void *)((uint8_t *)r + gprs[i].off);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Per generation: x87 precision/rounding and SSE rounding change, so each result differs from the last. */
static const uint16_t fcw_of[5] = { 0, 0x007f /* single, nearest */, 0x027f /* double */,
				    0x037f /* extended */, 0x087f /* single, up */ };
static const uint32_t mxcsr_of[5] = { 0, 0x7f80 | FSW_PE /* toward zero */, 0x5f80 | FSW_PE /* up */,
				      0x3f80 | FSW_PE /* down */, 0x1f80 | FSW_PE /* nearest */ };
static const uint64_t eflags_of[5] = { 0, 0x8d5, 0x801, 0x044, 0x090 }; /* | IF and bit 1 */

static uint64_t fs_base_of(unsigned gen)
{
	return GUEST_DATA_ADDR + 0x100 * gen;
}
static uint64_t gs_base_of(unsigned gen)
{
	return GUEST_DATA_ADDR + 0x800 + 0x100 * gen;
}
static uint64_t fs_val(unsigned gen)
{
	return mix(0xf5000 + gen);
}
static uint64_t gs_val(unsigned gen)
{
	return mix(0x65000 + gen);
}

/* x87 ST0 / ST1 of the computation, and the reference result computed on the host the same way. */
static void ld80(uint8_t out[10], long double v)
{
	memcpy(out, &v, 10);
}

static void ref_fdiv(uint16_t fcw, const uint8_t a[10], const uint8_t b[10], uint8_t out[10])
{
	uint16_t saved;
	__asm__ volatile("fnstcw %[saved]\n\t"
			 "fldcw %[fcw]\n\t"
			 "fldt %[b]\n\t"
			 "fldt %[a]\n\t"
			 "fdiv %%st(1), %%st\n\t"
			 "fstpt %[out]\n\t"
			 "fstp %%st(0)\n\t"
			 "fldcw %[saved]"
			 : [out] "=m"(*(uint8_t(*)[10])out), [saved] "+m"(saved)
			 : [fcw] "m"(fcw), [a] "m"(*(const uint8_t(*)[10])a), [b] "m"(*(const uint8_t(*)[10])b));
}

static uint32_t ref_divss(uint32_t mxcsr, uint32_t a, uint32_t b)
{
	uint32_t saved, r;
	float fa, fb;
	memcpy(&fa, &a, 4);
	memcpy(&fb, &b, 4);
	__asm__ volatile("stmxcsr %[saved]\n\t"
			 "ldmxcsr %[m]\n\t"
			 "divss %[b], %[a]\n\t"
			 "ldmxcsr %[saved]"
			 : [a] "+x"(fa), [saved] "+m"(saved)
			 : [b] "x"(fb), [m] "m"(mxcsr));
	memcpy(&r, &fa, 4);
	return r;
}

static uint8_t *comp(struct guest *g, unsigned feature)
{
	struct cv_xsave_component c;
	ASSERT_OK(cv_xsave_component(feature, &c));
	ASSERT_LE(c.offset + c.size, g->st->xsave_size);
	return (uint8_t *)g->st->xsave + c.offset;
}

/* Generation @gen of the state: every register gets a value no earlier generation had. */
static void gen_state(struct guest *g, unsigned gen, struct vstate *v)
{
	memset(v, 0, sizeof(*v));
	v->regs = g->st->regs; /* rip, cs, ss and the selectors stay as they are */
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		*gpr(&v->regs, i) = mix(gen * 100 + i);
	v->regs.rsp = 0x00005a5a5a5a0008ull + 0x1000 * gen; /* canonical, unmapped: the guest needs no stack */
	v->regs.eflags = eflags_of[gen] | 0x202;
	v->regs.fs_base = fs_base_of(gen);
	v->regs.gs_base = gs_base_of(gen);
	v->fcw = fcw_of[gen];
	v->fsw = FSW_PE; /* TOP 0: ST(i) is physical register i */
	v->ftw = 0xff;
	v->mxcsr = mxcsr_of[gen];
	ld80(v->st[0], 1.0L);
	ld80(v->st[1], 3.0L);
	for (unsigned i = 2; i < 8; i++)
		for (unsigned b = 0; b < 10; b++)
			v->st[i][b] = (uint8_t)mix(gen * 1000 + i * 10 + b);
	for (unsigned r = 0; r < 32; r++)
		for (unsigned b = 0; b < 64; b += 8) {
			uint64_t x = mix(gen * 100000 + r * 100 + b);
			memcpy(&v->vec[r][b], &x, 8);
		}
	for (unsigned lane = 0; lane < 4; lane++) {
		uint32_t one = 0x3f800000, three = 0x40400000;
		memcpy(&v->vec[13][4 * lane], &one, 4);
		memcpy(&v->vec[14][4 * lane], &three, 4);
	}
	for (unsigned k = 0; k < 8; k++)
		v->k[k] = mix(gen * 7000 + k);
}

static void write_state(struct guest *g, const struct have *h, const struct vstate *v)
{
	ASSERT_OK(cv_ctx_pull_full_state(g->ctx));
	struct cv_regs *r = &g->st->regs;
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		*gpr(r, i) = *gpr((struct cv_regs *)&v->regs, i);
	r->rip = v->regs.rip;
	r->eflags = v->regs.eflags;
	r->fs_base = v->regs.fs_base;
	r->gs_base = v->regs.gs_base;
	uint8_t *xs = g->st->xsave;
	memcpy(xs + X_FCW, &v->fcw, 2);
	memcpy(xs + X_FSW, &v->fsw, 2);
	xs[X_FTW] = v->ftw;
	memcpy(xs + X_MXCSR, &v->mxcsr, 4);
	for (unsigned i = 0; i < 8; i++) {
		memset(xs + X_ST(i), 0, 16);
		memcpy(xs + X_ST(i), v->st[i], 10);
	}
	for (unsigned i = 0; i < 16; i++)
		memcpy(xs + X_XMM(i), v->vec[i], 16);
	uint64_t bv;
	memcpy(&bv, xs + X_XSTATE_BV, 8);
	bv |= FEAT(CV_XFEATURE_X87) | FEAT(CV_XFEATURE_SSE);
	if (h->avx) {
		for (unsigned i = 0; i < 16; i++)
			memcpy(comp(g, CV_XFEATURE_AVX) + 16 * i, v->vec[i] + 16, 16);
		bv |= FEAT(CV_XFEATURE_AVX);
	}
	if (h->avx512) {
		for (unsigned i = 0; i < 16; i++)
			memcpy(comp(g, CV_XFEATURE_ZMM_HI256) + 32 * i, v->vec[i] + 32, 32);
		for (unsigned i = 16; i < 32; i++)
			memcpy(comp(g, CV_XFEATURE_HI16_ZMM) + 64 * (i - 16), v->vec[i], 64);
		memcpy(comp(g, CV_XFEATURE_OPMASK), v->k, 64);
		bv |= FEAT(CV_XFEATURE_OPMASK) | FEAT(CV_XFEATURE_ZMM_HI256) | FEAT(CV_XFEATURE_HI16_ZMM);
	}
	memcpy(xs + X_XSTATE_BV, &bv, 8);
	ASSERT_OK(cv_ctx_full_state_changed(g->ctx));
}

static void read_state(struct guest *g, const struct have *h, struct vstate *v)
{
	memset(v, 0, sizeof(*v));
	ASSERT_OK(cv_ctx_pull_full_state(g->ctx));
	v->regs = g->st->regs;
	const uint8_t *xs = g->st->xsave;
	uint64_t bv;
	memcpy(&bv, xs + X_XSTATE_BV, 8);
	/* Every component we use holds non-initial values, so it must be marked in use. */
	EXPECT_EQ(bv & 3, 3);
	memcpy(&v->fcw, xs + X_FCW, 2);
	memcpy(&v->fsw, xs + X_FSW, 2);
	v->ftw = xs[X_FTW];
	memcpy(&v->mxcsr, xs + X_MXCSR, 4);
	for (unsigned i = 0; i < 8; i++)
		memcpy(v->st[i], xs + X_ST(i), 10);
	for (unsigned i = 0; i < 16; i++)
		memcpy(v->vec[i], xs + X_XMM(i), 16);
	if (h->avx) {
		EXPECT_TRUE(bv & FEAT(CV_XFEATURE_AVX));
		for (unsigned i = 0; i < 16; i++)
			memcpy(v->vec[i] + 16, comp(g, CV_XFEATURE_AVX) + 16 * i, 16);
	}
	if (h->avx512) {
		EXPECT_EQ(bv & 0xe0, 0xe0);
		for (unsigned i = 0; i < 16; i++)
			memcpy(v->vec[i] + 32, comp(g, CV_XFEATURE_ZMM_HI256) + 32 * i, 32);
		for (unsigned i = 16; i < 32; i++)
			memcpy(v->vec[i], comp(g, CV_XFEATURE_HI16_ZMM) + 64 * (i - 16), 64);
		memcpy(v->k, comp(g, CV_XFEATURE_OPMASK), 64);
	}
}

/* What PHASE in guest_state.S does to the state of generation @gen. */
static void apply_phase(struct vstate *v, unsigned gen, int level)
{
	v->regs.rbx = v->regs.rax;
	v->regs.r9 = v->regs.r8;
	v->regs.r14 = fs_val(gen);
	v->regs.r15 = gs_val(gen);
	ref_fdiv(v->fcw, v->st[0], v->st[1], v->st[0]);
	memcpy(v->vec[15], v->vec[13], 16);
	uint32_t a, b, q;
	memcpy(&a, v->vec[13], 4);
	memcpy(&b, v->vec[14], 4);
	q = ref_divss(v->mxcsr, a, b);
	memcpy(v->vec[15], &q, 4);
	if (level == 1) {
		memcpy(v->vec[4], v->vec[3], 16);
	} else if (level == 2) {
		memcpy(v->vec[4], v->vec[3], 32);
		memset(v->vec[4] + 32, 0, 32); /* VEX.256 zeroes the rest of the ZMM register */
	} else {
		memcpy(v->vec[4], v->vec[3], 64);
		memcpy(v->vec[18], v->vec[17], 64);
		v->k[2] = v->k[1];
	}
}

static void dump_bytes(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "    %s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", p[i]);
	fprintf(stderr, "\n");
}

/* Compare everything the test controls; report every difference, then fail if there was one. */
static void compare(const struct have *h, const struct vstate *want, const struct vstate *got,
		    const char *where)
{
	int bad = 0;
#define DIFF(...)                                                                                      \
	do {                                                                                           \
		fprintf(stderr, "  %s: ", where);                                                      \
		fprintf(stderr, __VA_ARGS__);                                                          \
		fprintf(stderr, "\n");                                                                 \
		bad++;                                                                                 \
	} while (0)
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++) {
		uint64_t w = *gpr((struct cv_regs *)&want->regs, i), o = *gpr((struct cv_regs *)&got->regs, i);
		if (w != o)
			DIFF("%s is %#llx, want %#llx", gprs[i].name, (unsigned long long)o, (unsigned long long)w);
	}
	if (got->regs.rip != want->regs.rip)
		DIFF("rip is %#llx, want %#llx", (unsigned long long)got->regs.rip,
		     (unsigned long long)want->regs.rip);
	if ((got->regs.eflags ^ want->regs.eflags) & EFLAGS_CHECKED)
		DIFF("eflags is %#llx, want %#llx", (unsigned long long)got->regs.eflags,
		     (unsigned long long)want->regs.eflags);
	if (got->regs.fs_base != want->regs.fs_base || got->regs.gs_base != want->regs.gs_base)
		DIFF("fs_base/gs_base are %#llx/%#llx", (unsigned long long)got->regs.fs_base,
		     (unsigned long long)got->regs.gs_base);
	if (got->regs.cs != CV_USER_CS || got->regs.ss != CV_USER_DS)
		DIFF("cs/ss are %#llx/%#llx", (unsigned long long)got->regs.cs, (unsigned long long)got->regs.ss);
	if (got->fcw != want->fcw)
		DIFF("FCW is %#x, want %#x", got->fcw, want->fcw);
	if ((got->fsw ^ want->fsw) & FSW_CHECKED)
		DIFF("FSW is %#x, want %#x", got->fsw, want->fsw);
	if (got->ftw != want->ftw)
		DIFF("FTW is %#x, want %#x", got->ftw, want->ftw);
	if (got->mxcsr != want->mxcsr)
		DIFF("MXCSR is %#x, want %#x", got->mxcsr, want->mxcsr);
	for (unsigned i = 0; i < 8; i++)
		if (memcmp(got->st[i], want->st[i], 10)) {
			DIFF("ST%u differs", i);
			dump_bytes("got ", got->st[i], 10);
			dump_bytes("want", want->st[i], 10);
		}
	for (unsigned r = 0; r < 32; r++) {
		size_t n = r >= 16 ? (h->avx512 ? 64 : 0) : h->avx512 ? 64 : h->avx ? 32 : 16;
		if (n && memcmp(got->vec[r], want->vec[r], n)) {
			DIFF("%s%u differs", n == 64 ? "zmm" : n == 32 ? "ymm" : "xmm", r);
			dump_bytes("got ", got->vec[r], n);
			dump_bytes("want", want->vec[r], n);
		}
	}
	if (h->avx512)
		for (unsigned k = 0; k < 8; k++)
			if (got->k[k] != want->k[k])
				DIFF("k%u is %#llx, want %#llx", k, (unsigned long long)got->k[k],
				     (unsigned long long)want->k[k]);
#undef DIFF
	if (bad)
		HARNESS_FAIL(1, "%s: %d differences in the CPU state", where, bad);
}

/* At a syscall exit: rax is undefined, rcx/r11 are what `syscall` leaves (Linux: rip and rflags). */
static void syscall_exit_fixup(struct vstate *want, const struct vstate *got)
{
	EXPECT_EQ(got->regs.rcx, got->regs.rip);
	EXPECT_EQ(got->regs.r11, got->regs.eflags);
	want->regs.rax = got->regs.rax;
	want->regs.rcx = want->regs.rip;
	want->regs.r11 = got->regs.eflags;
}

/* Exit through a syscall that must be @nr, and came through a patched site if @patched. */
static void run_syscall(struct guest *g, uint64_t nr, bool patched)
{
	struct cv_exit e = guest_run(g);
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	ASSERT_EQ(g->st->regs.orig_rax, nr);
	if (patched)
		EXPECT_TRUE(e.syscall_flags & CV_SYSCALL_PATCHED);
}

/* Patch every `mov $nr,%eax; syscall` of the guest's code; returns how many. */
static int patch_sites(struct guest *g, const uint8_t *start, const uint8_t *end)
{
	int n = 0;
	for (size_t i = 0; i + 7 <= (size_t)(end - start); i++)
		if (start[i] == 0xb8 && start[i + 5] == 0x0f && start[i + 6] == 0x05 &&
		    cv_as_patch_syscall(g->as, GUEST_CODE_ADDR + i + 7) == 0)
			n++;
	return n;
}

/*
 * @patch: the guest's syscall sites are patched first. Its state (a gs base of its own, no stack)
 * sends every patched call down the fallbacks, so those must keep the whole state too.
 */
static void state_round_trip(const char *platform, int level, bool patch)
{
	static const struct {
		const uint8_t *start, *end;
		const uint64_t *offs;
	} blobs[] = {
		{ 0 },
		{ g_state_sse_start, g_state_sse_end, g_state_sse_offs },
		{ g_state_avx_start, g_state_avx_end, g_state_avx_offs },
		{ g_state_avx512_start, g_state_avx512_end, g_state_avx512_offs },
	};
	struct guest g;
	guest_setup(&g, platform, blobs[level].start, blobs[level].end);
	const uint64_t *offs = blobs[level].offs;
	struct have h = {
		.avx = g.caps.xfeatures & FEAT(CV_XFEATURE_AVX),
		.avx512 = (g.caps.xfeatures & 0xe0) == 0xe0,
	};
	if (level == 2 && !h.avx)
		SKIP("no AVX on this CPU");
	if (level == 3 && !h.avx512)
		SKIP("no AVX-512 on this CPU");
	if (patch && !g.caps.patches_syscalls)
		SKIP("%s does not patch syscall sites", platform);
	if (patch)
		ASSERT_EQ(patch_sites(&g, blobs[level].start, blobs[level].end), 2);
	uint8_t *data = guest_map_anon(&g, GUEST_DATA_ADDR, 0x2000, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	for (unsigned gen = 1; gen <= 4; gen++) {
		uint64_t f = fs_val(gen), s = gs_val(gen);
		memcpy(data + (fs_base_of(gen) - GUEST_DATA_ADDR), &f, 8);
		memcpy(data + (gs_base_of(gen) - GUEST_DATA_ADDR) + 8, &s, 8);
	}
	struct vstate want, got;

	/* Exit 1, a syscall before any computation: everything is as the sentry set it. */
	gen_state(&g, 1, &want);
	write_state(&g, &h, &want);
	ASSERT_EQ((uint64_t)guest_run_syscall(&g), want.regs.rax);
	read_state(&g, &h, &got);
	want.regs.rip = GUEST_CODE_ADDR + 2;
	syscall_exit_fixup(&want, &got);
	compare(&h, &want, &got, "exit 1 (syscall)");

	/* Only rax changes (the syscall result): the lazily held state must stay as it was. */
	uint64_t result = mix(0x5e5);
	g.st->regs.rax = result;
	want.regs.rax = result;
	apply_phase(&want, 1, level);
	run_syscall(&g, 0x1002, patch);
	read_state(&g, &h, &got);
	EXPECT_EQ(got.regs.rbx, result); /* the guest computed with our result */
	want.regs.rip = GUEST_CODE_ADDR + offs[0];
	syscall_exit_fixup(&want, &got);
	compare(&h, &want, &got, "exit 2 (syscall)");

	/* The sentry replaces the whole state; exit 3 is a ud2 fault. */
	gen_state(&g, 2, &want);
	write_state(&g, &h, &want);
	struct cv_exit e = guest_run_signal(&g, SIGILL);
	EXPECT_EQ(e.info.si_code, ILL_ILLOPN);
	EXPECT_EQ((uint64_t)e.info.si_addr, GUEST_CODE_ADDR + offs[1]);
	read_state(&g, &h, &got);
	apply_phase(&want, 2, level);
	want.regs.rip = GUEST_CODE_ADDR + offs[1];
	compare(&h, &want, &got, "exit 3 (ud2)");

	/* Resume after the ud2 with another whole new state; exit 4 is a page fault. */
	gen_state(&g, 3, &want);
	want.regs.rip = GUEST_CODE_ADDR + offs[1] + 2;
	write_state(&g, &h, &want);
	e = guest_run_signal(&g, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_MAPERR);
	EXPECT_EQ((uint64_t)e.info.si_addr, STATE_FAULT_ADDR);
	EXPECT_EQ(e.access, CV_ACCESS_READ);
	read_state(&g, &h, &got);
	apply_phase(&want, 3, level);
	want.regs.rip = GUEST_CODE_ADDR + offs[2];
	compare(&h, &want, &got, "exit 4 (page fault)");

	/* Map the page and change the state once more; the load completes and exit 5 is a syscall. */
	uint64_t *page = guest_map_anon(&g, STATE_FAULT_ADDR, 4096, CV_ACCESS_READ, NULL);
	page[0] = mix(0xfa17);
	gen_state(&g, 4, &want);
	write_state(&g, &h, &want);
	run_syscall(&g, 0x1005, patch);
	read_state(&g, &h, &got);
	apply_phase(&want, 4, level);
	want.regs.r12 = page[0];
	want.regs.rip = GUEST_CODE_ADDR + offs[3];
	syscall_exit_fixup(&want, &got);
	compare(&h, &want, &got, "exit 5 (syscall after the resolved fault)");
	guest_teardown(&g);
}

PLATFORM_TEST(state_round_trip_sse)
{
	state_round_trip(platform, 1, false);
}

PLATFORM_TEST(state_round_trip_avx)
{
	state_round_trip(platform, 2, false);
}

PLATFORM_TEST(state_round_trip_avx512)
{
	state_round_trip(platform, 3, false);
}

PLATFORM_TEST(state_round_trip_patched_sse)
{
	state_round_trip(platform, 1, true);
}

PLATFORM_TEST(state_round_trip_patched_avx512)
{
	state_round_trip(platform, 3, true);
}

/* The reference computations really do depend on FCW and MXCSR (else the test would prove nothing). */
TEST(state_reference_results_differ)
{
	uint8_t one[10], three[10], r[5][10];
	ld80(one, 1.0L);
	ld80(three, 3.0L);
	for (unsigned gen = 1; gen <= 4; gen++) {
		ref_fdiv(fcw_of[gen], one, three, r[gen]);
		if (gen > 1)
			EXPECT_NE(memcmp(r[gen], r[gen - 1], 10), 0);
		uint32_t q = ref_divss(mxcsr_of[gen], 0x3f800000, 0x40400000);
		EXPECT_EQ(q, gen % 2 ? 0x3eaaaaaa : 0x3eaaaaab);
	}
	long double third;
	memcpy(&third, r[3], 10);
	EXPECT_TRUE(third == 1.0L / 3.0L);
}
