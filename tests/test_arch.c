// SPDX-License-Identifier: Apache-2.0
// Tests of the x86-64 support module: XSAVE layout and images, CPUID policies, fault decoding.
#include <asm/prctl.h>
#include <cpuid.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "arch/x86_64/arch.h"

#define BIT(n) (1ull << (n))

static uint64_t xcr0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static struct cv_cpuid_entry host(uint32_t leaf, uint32_t sub)
{
	unsigned a, b, c, d;
	__cpuid_count(leaf, sub, a, b, c, d);
	return (struct cv_cpuid_entry){ .leaf = leaf, .subleaf = sub, .eax = a, .ebx = b, .ecx = c, .edx = d };
}

static bool host_is_amd(void)
{
	struct cv_cpuid_entry e = host(0, 0);
	return e.ebx == 0x68747541 && e.edx == 0x69746e65 && e.ecx == 0x444d4163; /* "AuthenticAMD" */
}

/* ---- XSAVE ---- */

TEST(arch_xsave_layout_matches_cpuid)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	ASSERT_TRUE(l == x86_xsave_layout());
	if (!l->has_xsave)
		SKIP("no OSXSAVE on this host");
	EXPECT_EQ(l->xfeatures, xcr0() & X86_XFEATURES_ALLOWED);
	EXPECT_EQ(l->comp[0].offset, 0);
	EXPECT_EQ(l->comp[0].size, 160);
	EXPECT_EQ(l->comp[1].offset, 160);
	EXPECT_EQ(l->comp[1].size, 256);
	uint32_t size = 576;
	for (unsigned i = 2; i < 32; i++) {
		if (!(l->xfeatures & BIT(i))) {
			EXPECT_EQ(l->comp[i].size, 0);
			continue;
		}
		struct cv_cpuid_entry e = host(0xd, i);
		EXPECT_EQ(l->comp[i].size, e.eax);
		EXPECT_EQ(l->comp[i].offset, e.ebx);
		if (e.eax + e.ebx > size)
			size = e.eax + e.ebx;
	}
	EXPECT_EQ(l->size, size);
	EXPECT_GE(l->host_size, l->size);
	EXPECT_EQ(l->has_xsaveopt, (host(0xd, 1).eax & 1) != 0);
	EXPECT_EQ(l->has_xsavec, (host(0xd, 1).eax & 2) != 0);
	/* AVX-512 hosts (such as the EPYC this was written on) get all three AVX-512 components. */
	if (host(7, 0).ebx & BIT(16)) {
		uint64_t avx512 = BIT(CV_XFEATURE_OPMASK) | BIT(CV_XFEATURE_ZMM_HI256) | BIT(CV_XFEATURE_HI16_ZMM);
		EXPECT_EQ(l->xfeatures & avx512, avx512);
	}
	if ((xcr0() & X86_XFEATURES_ALLOWED) == 0xe7 && host_is_amd())
		EXPECT_EQ(l->size, 2432);
}

TEST(arch_xsave_never_amx_or_pkru)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	EXPECT_EQ(l->xfeatures & ~X86_XFEATURES_ALLOWED, 0);
	unsigned excluded[] = { CV_XFEATURE_PKRU, 17, 18, 3, 4 };
	for (size_t i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++) {
		EXPECT_EQ(l->xfeatures & BIT(excluded[i]), 0);
		EXPECT_EQ(l->comp[excluded[i]].size, 0);
		EXPECT_EQ(l->comp[excluded[i]].offset, 0);
	}
}

TEST(arch_xsave_component_api)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	struct cv_xsave_component c;
	EXPECT_EQ(cv_xsave_component(0, NULL), -EINVAL);
	EXPECT_EQ(cv_xsave_component(64, &c), -EINVAL);
	EXPECT_EQ(cv_xsave_component(1000, &c), -EINVAL);
	EXPECT_EQ(cv_xsave_component(17, &c), -ENOENT);
	EXPECT_EQ(cv_xsave_component(18, &c), -ENOENT);
	EXPECT_EQ(cv_xsave_component(CV_XFEATURE_PKRU, &c), -ENOENT);
	EXPECT_EQ(cv_xsave_component(40, &c), -ENOENT);
	EXPECT_EQ(cv_xsave_component(63, &c), -ENOENT);
	ASSERT_OK(cv_xsave_component(CV_XFEATURE_SSE, &c));
	EXPECT_EQ(c.offset, 160);
	EXPECT_EQ(c.size, 256);
	for (unsigned i = 0; i < 32; i++) {
		int ret = cv_xsave_component(i, &c);
		if (l->xfeatures & BIT(i)) {
			EXPECT_EQ(ret, 0);
			EXPECT_EQ(c.offset, l->comp[i].offset);
			EXPECT_EQ(c.size, l->comp[i].size);
			EXPECT_LE(c.offset + c.size, l->size);
		} else {
			EXPECT_EQ(ret, -ENOENT);
		}
	}
}

static void put32(uint8_t *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }

TEST(arch_xsave_init_and_validate)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	size_t size = (l->size + 63) & ~63u;
	uint8_t *img = aligned_alloc(64, size), *bad = aligned_alloc(64, size);
	ASSERT_TRUE(img && bad);
	memset(img, 0xa5, size);
	x86_xsave_init_image(img, l->size);
	uint16_t fcw;
	uint32_t mxcsr;
	uint64_t bv, xcomp;
	memcpy(&fcw, img, 2);
	memcpy(&mxcsr, img + 24, 4);
	memcpy(&bv, img + 512, 8);
	memcpy(&xcomp, img + 520, 8);
	EXPECT_EQ(fcw, 0x37f);
	EXPECT_EQ(mxcsr, 0x1f80);
	EXPECT_EQ(bv, 3);
	EXPECT_EQ(xcomp, 0);
	size_t nonzero = 0;
	for (size_t i = 0; i < l->size; i++)
		nonzero += img[i] != 0;
	EXPECT_EQ(nonzero, 2 + 2 + 1); /* 7f 03 | 80 1f | 03 */
	EXPECT_EQ(x86_xsave_validate(img, l->size), 0);
	x86_xsave_init_image(NULL, 100); /* no-op */

	/* The image really is loadable: XRSTOR it on this CPU, then save again and compare MXCSR. */
	if (l->has_xsave) {
		uint32_t lo = (uint32_t)l->xfeatures, hi = (uint32_t)(l->xfeatures >> 32);
		memcpy(bad, img, l->size);
		__asm__ volatile("xrstor64 %0" : : "m"(*bad), "a"(lo), "d"(hi));
		memset(bad, 0, size);
		__asm__ volatile("xsave64 %0" : "+m"(*bad) : "a"(lo), "d"(hi));
		memcpy(&mxcsr, bad + 24, 4);
		EXPECT_EQ(mxcsr, 0x1f80);
	}

	EXPECT_EQ(x86_xsave_validate(NULL, l->size), -EINVAL);
	EXPECT_EQ(x86_xsave_validate(img, l->size - 1), -EINVAL);
	EXPECT_EQ(x86_xsave_validate(img, 0), -EINVAL);

	/* MXCSR bit 31 is reserved on every CPU. */
	memcpy(bad, img, l->size);
	put32(bad, 24, 0x80001f80);
	EXPECT_EQ(x86_xsave_validate(bad, l->size), -EINVAL);
	if (!(l->mxcsr_mask & BIT(6))) { /* DAZ unsupported: bit 6 is reserved too */
		put32(bad, 24, 0x1fc0);
		EXPECT_EQ(x86_xsave_validate(bad, l->size), -EINVAL);
	}
	put32(bad, 24, 0x1f80 & l->mxcsr_mask);
	EXPECT_EQ(x86_xsave_validate(bad, l->size), 0);
	if (!l->has_xsave)
		return;

	/* XSTATE_BV: any enabled component is fine, anything else is not. */
	put64(bad, 512, l->xfeatures);
	EXPECT_EQ(x86_xsave_validate(bad, l->size), 0);
	uint64_t stray[] = { BIT(CV_XFEATURE_PKRU), BIT(17), BIT(18), BIT(63), BIT(3) };
	for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++) {
		put64(bad, 512, 3 | stray[i]);
		EXPECT_EQ(x86_xsave_validate(bad, l->size), -EINVAL);
	}
	put64(bad, 512, 3);
	put64(bad, 520, BIT(63) | 3); /* compacted format */
	EXPECT_EQ(x86_xsave_validate(bad, l->size), -EINVAL);
	put64(bad, 520, 0);
	for (size_t off = 528; off < 576; off += 7) {
		bad[off] = 1;
		EXPECT_EQ(x86_xsave_validate(bad, l->size), -EINVAL);
		bad[off] = 0;
	}
	EXPECT_EQ(x86_xsave_validate(bad, l->size), 0);
	/* Bytes 464..511 are software-available: the CPU ignores them. */
	bad[500] = 0xff;
	EXPECT_EQ(x86_xsave_validate(bad, l->size), 0);
	free(img);
	free(bad);
}

/* ---- CPUID policy ---- */

TEST(arch_cpuid_default_matches_host)
{
	struct x86_cpuid_policy *p;
	ASSERT_OK(x86_cpuid_policy_default(&p));
	struct cv_cpuid_entry e, h = host(0, 0);
	x86_cpuid_policy_lookup(p, 0, 0, &e);
	EXPECT_EQ(e.eax, h.eax);
	EXPECT_EQ(e.ebx, h.ebx);
	EXPECT_EQ(e.ecx, h.ecx);
	EXPECT_EQ(e.edx, h.edx);
	/* Leaf 1 is not indexed: any subleaf gives the same answer. EBX[31:24] is the current APIC ID. */
	h = host(1, 0);
	x86_cpuid_policy_lookup(p, 1, 7, &e);
	EXPECT_EQ(e.leaf, 1);
	EXPECT_EQ(e.subleaf, 7);
	EXPECT_EQ(e.flags, 0);
	EXPECT_EQ(e.eax, h.eax);
	EXPECT_EQ(e.ebx & 0x00ffffff, h.ebx & 0x00ffffff);
	EXPECT_EQ(e.ecx, h.ecx); /* hypervisor bit and OSXSAVE kept */
	EXPECT_EQ(e.edx, h.edx);
	/* Extended leaves are there too. */
	h = host(0x80000000, 0);
	x86_cpuid_policy_lookup(p, 0x80000000, 0, &e);
	EXPECT_EQ(e.eax, h.eax);
	/* Leaf 4 (or 0x8000001D on AMD) is indexed. */
	uint32_t cache_leaf = host_is_amd() ? 0x8000001d : 4;
	uint32_t range_max = host(cache_leaf & 0x80000000, 0).eax;
	if (cache_leaf <= range_max && (host(cache_leaf, 1).eax & 0x1f)) { /* CPUs (or emulators) may lack it */
		x86_cpuid_policy_lookup(p, cache_leaf, 1, &e);
		EXPECT_EQ(e.flags, CV_CPUID_SIGNIFICANT_INDEX);
		EXPECT_EQ(e.eax, host(cache_leaf, 1).eax);
		x86_cpuid_policy_lookup(p, cache_leaf, 1000, &e);
		EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
	}

	size_t n;
	const struct cv_cpuid_entry *all = x86_cpuid_policy_entries(p, &n);
	ASSERT_TRUE(all && n > 4 && n <= X86_CPUID_MAX_ENTRIES);
	for (size_t i = 1; i < n; i++)
		EXPECT_TRUE(all[i - 1].leaf < all[i].leaf ||
			    (all[i - 1].leaf == all[i].leaf && all[i - 1].subleaf < all[i].subleaf));
	x86_cpuid_policy_free(p);
}

TEST(arch_cpuid_default_hides_amx_pkru)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	struct x86_cpuid_policy *p;
	ASSERT_OK(x86_cpuid_policy_default(&p));
	struct cv_cpuid_entry e, h = host(7, 0);
	x86_cpuid_policy_lookup(p, 7, 0, &e);
	EXPECT_EQ(e.flags, CV_CPUID_SIGNIFICANT_INDEX);
	EXPECT_EQ(e.ecx & (BIT(3) | BIT(4)), 0);
	EXPECT_EQ(e.edx & (BIT(22) | BIT(24) | BIT(25)), 0);
	EXPECT_EQ(e.ebx, h.ebx); /* AVX-512 and friends stay */
	EXPECT_EQ(e.ecx, h.ecx & ~(uint32_t)(BIT(3) | BIT(4)));
	EXPECT_EQ(e.edx, h.edx & ~(uint32_t)(BIT(22) | BIT(24) | BIT(25)));
	x86_cpuid_policy_lookup(p, 0x1d, 0, &e);
	EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
	x86_cpuid_policy_lookup(p, 0x1e, 0, &e);
	EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
	if (!l->has_xsave) {
		x86_cpuid_policy_free(p);
		SKIP("no XSAVE");
	}

	/* Leaf 0xD describes exactly the platform's layout. */
	x86_cpuid_policy_lookup(p, 0xd, 0, &e);
	EXPECT_EQ(((uint64_t)e.edx << 32) | e.eax, l->xfeatures);
	EXPECT_EQ(e.ebx, l->size);
	EXPECT_EQ(e.ecx, l->size);
	EXPECT_EQ(e.eax & (BIT(9) | BIT(17) | BIT(18)), 0);
	x86_cpuid_policy_lookup(p, 0xd, 1, &e);
	EXPECT_EQ(e.eax & ~0xfu, 0);
	EXPECT_EQ(e.ecx | e.edx, 0);
	EXPECT_LE(e.ebx, l->size);
	EXPECT_GE(e.ebx, 576);
	for (unsigned i = 2; i < 64; i++) {
		x86_cpuid_policy_lookup(p, 0xd, i, &e);
		if (i < 32 && (l->xfeatures & BIT(i))) {
			EXPECT_EQ(e.eax, l->comp[i].size);
			EXPECT_EQ(e.ebx, l->comp[i].offset);
		} else {
			EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
		}
	}
	x86_cpuid_policy_free(p);
}

TEST(arch_cpuid_custom_policy)
{
	const struct cv_cpuid_entry tab[] = {
		{ .leaf = 7, .subleaf = 1, .flags = CV_CPUID_SIGNIFICANT_INDEX, .eax = 71 },
		{ .leaf = 0x80000000, .eax = 0x80000008 },
		{ .leaf = 0, .subleaf = 99, .eax = 7, .ebx = 1, .ecx = 2, .edx = 3 }, /* subleaf ignored */
		{ .leaf = 7, .subleaf = 0, .flags = CV_CPUID_SIGNIFICANT_INDEX, .eax = 1, .ebx = 70 },
		{ .leaf = 0xffffffff, .subleaf = 0xffffffff, .flags = CV_CPUID_SIGNIFICANT_INDEX, .edx = 9 },
	};
	struct x86_cpuid_policy *p;
	ASSERT_OK(x86_cpuid_policy_new(tab, 5, &p));
	struct cv_cpuid_entry e;
	x86_cpuid_policy_lookup(p, 0, 12345, &e);
	EXPECT_EQ(e.leaf, 0);
	EXPECT_EQ(e.subleaf, 12345);
	EXPECT_EQ(e.flags, 0);
	EXPECT_EQ(e.eax, 7);
	EXPECT_EQ(e.edx, 3);
	x86_cpuid_policy_lookup(p, 7, 0, &e);
	EXPECT_EQ(e.ebx, 70);
	EXPECT_EQ(e.flags, CV_CPUID_SIGNIFICANT_INDEX);
	x86_cpuid_policy_lookup(p, 7, 1, &e);
	EXPECT_EQ(e.eax, 71);
	x86_cpuid_policy_lookup(p, 0xffffffff, 0xffffffff, &e);
	EXPECT_EQ(e.edx, 9);
	x86_cpuid_policy_lookup(p, 0x80000000, 3, &e);
	EXPECT_EQ(e.eax, 0x80000008);
	/* Not found: zeroes, with the query echoed. */
	const uint32_t missing[][2] = { { 7, 2 }, { 1, 0 }, { 0x80000001, 0 }, { 0xffffffff, 0 }, { 6, 6 } };
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		memset(&e, 0xff, sizeof(e));
		x86_cpuid_policy_lookup(p, missing[i][0], missing[i][1], &e);
		EXPECT_EQ(e.leaf, missing[i][0]);
		EXPECT_EQ(e.subleaf, missing[i][1]);
		EXPECT_EQ(e.flags | e.eax | e.ebx | e.ecx | e.edx, 0);
	}
	size_t n;
	const struct cv_cpuid_entry *all = x86_cpuid_policy_entries(p, &n);
	ASSERT_EQ(n, 5);
	EXPECT_EQ(all[0].leaf, 0);
	EXPECT_EQ(all[0].subleaf, 0);
	EXPECT_EQ(all[4].leaf, 0xffffffff);
	x86_cpuid_policy_free(p);

	/* Empty and NULL policies answer zeroes. */
	ASSERT_OK(x86_cpuid_policy_new(NULL, 0, &p));
	x86_cpuid_policy_lookup(p, 0, 0, &e);
	EXPECT_EQ(e.eax, 0);
	EXPECT_TRUE(x86_cpuid_policy_entries(p, &n) == NULL && n == 0);
	x86_cpuid_policy_free(p);
	x86_cpuid_policy_lookup(NULL, 1, 2, &e);
	EXPECT_EQ(e.leaf, 1);
	EXPECT_EQ(e.subleaf, 2);
	EXPECT_EQ(e.eax, 0);
	x86_cpuid_policy_free(NULL);
}

TEST(arch_cpuid_policy_errors)
{
	struct x86_cpuid_policy *p = (struct x86_cpuid_policy *)0x1;
	const unsigned SIG = CV_CPUID_SIGNIFICANT_INDEX;
	struct cv_cpuid_entry one = { .leaf = 1 };
	EXPECT_EQ(x86_cpuid_policy_new(NULL, 1, &p), -EINVAL);
	EXPECT_EQ(x86_cpuid_policy_new(&one, 1, NULL), -EINVAL);
	EXPECT_EQ(x86_cpuid_policy_default(NULL), -EINVAL);
	struct cv_cpuid_entry *big = calloc(4097, sizeof(*big));
	ASSERT_TRUE(big);
	for (uint32_t i = 0; i < 4097; i++)
		big[i].leaf = i;
	EXPECT_EQ(x86_cpuid_policy_new(big, 4097, &p), -EINVAL);
	ASSERT_OK(x86_cpuid_policy_new(big, 4096, &p)); /* the limit itself is fine */
	x86_cpuid_policy_free(p);
	p = (struct x86_cpuid_policy *)0x1;
	free(big);

	const struct cv_cpuid_entry cases[][2] = {
		{ { .leaf = 1, .flags = 2 }, { .leaf = 2 } },                         /* unknown flag */
		{ { .leaf = 1, .flags = 0x80000000u }, { .leaf = 2 } },              /* unknown flag */
		{ { .leaf = 1 }, { .leaf = 1 } },                                     /* duplicate leaf */
		{ { .leaf = 1, .subleaf = 3 }, { .leaf = 1, .subleaf = 4 } },        /* both leaf-wide */
		{ { .leaf = 4, .subleaf = 2, .flags = SIG }, { .leaf = 4, .subleaf = 2, .flags = SIG } },
		{ { .leaf = 4, .subleaf = 2, .flags = SIG }, { .leaf = 4 } },        /* leaf-wide + indexed */
		{ { .leaf = 4, .subleaf = 0, .flags = SIG }, { .leaf = 4, .subleaf = 5 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT_EQ(x86_cpuid_policy_new(cases[i], 2, &p), -EINVAL);
		EXPECT_TRUE(p == (struct x86_cpuid_policy *)0x1); /* untouched on error */
	}
	const struct cv_cpuid_entry fine[] = { { .leaf = 4, .subleaf = 2, .flags = SIG },
					       { .leaf = 4, .subleaf = 3, .flags = SIG },
					       { .leaf = 5, .subleaf = 2, .flags = SIG } };
	ASSERT_OK(x86_cpuid_policy_new(fine, 3, &p));
	x86_cpuid_policy_free(p);
}

TEST(arch_cpuid_faulting_probe)
{
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0L) == 0 ? 0 : 1);
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	bool direct = WEXITSTATUS(st) == 0;
	EXPECT_EQ(x86_cpuid_faulting_supported(), direct);
	EXPECT_EQ(x86_cpuid_faulting_supported(), direct); /* cached */
	/* The probe never touches our own setting: CPUID still executes natively. */
	EXPECT_EQ(syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0L), 1);
	fprintf(stderr, "  cpuid faulting %savailable here\n", direct ? "" : "not ");
}

TEST(arch_insn_is_cpuid)
{
	EXPECT_TRUE(x86_insn_is_cpuid((const uint8_t *)"\x0f\xa2", 2));
	EXPECT_TRUE(x86_insn_is_cpuid((const uint8_t *)"\x0f\xa2\x90", 3));
	EXPECT_FALSE(x86_insn_is_cpuid((const uint8_t *)"\x0f\xa2", 1));
	EXPECT_FALSE(x86_insn_is_cpuid(NULL, 2));
	EXPECT_FALSE(x86_insn_is_cpuid((const uint8_t *)"\x66\x0f\xa2", 3));
	EXPECT_FALSE(x86_insn_is_cpuid((const uint8_t *)"\x48\x0f\xa2", 3));
	EXPECT_FALSE(x86_insn_is_cpuid((const uint8_t *)"\xf3\x0f\xa2", 3));
	EXPECT_FALSE(x86_insn_is_cpuid((const uint8_t *)"\x0f\x05", 2)); /* syscall */
	EXPECT_FALSE(x86_insn_is_cpuid((const uint8_t *)"\x0f\x0b", 2)); /* ud2 */
}

TEST(arch_insn_length)
{
	static const struct {
		const char *b;
		size_t avail;
		bool compat;
		int len;
	} t[] = {
		{ "\x0f\xa2", 2, false, 2 },                                   /* cpuid */
		{ "\x0f\x05", 15, false, 2 },                                  /* syscall */
		{ "\xcd\x80", 2, true, 2 },                                    /* int $0x80 */
		{ "\x90", 1, false, 1 },
		{ "\x48\xb8\x01\x02\x03\x04\x05\x06\x07\x08", 10, false, 10 }, /* movabs rax, imm64 */
		{ "\xb8\x01\x02\x03\x04", 5, true, 5 },                        /* mov eax, imm32 */
		{ "\x64\x48\x8b\x04\x25\x28\x00\x00\x00", 9, false, 9 },       /* mov rax, fs:0x28 */
		{ "\x62\xf1\xfe\x48\x7f\x0b", 6, false, 6 },                   /* vmovdqu64 [rbx], zmm1 */
		{ "\x48\xb8\x01\x02", 4, false, -EINVAL },                     /* truncated */
		{ "\x06", 1, false, -EINVAL },                                 /* push es: invalid in 64-bit */
		{ "\x06", 1, true, 1 },                                        /* but fine in compat mode */
		{ "\x48", 1, false, -EINVAL },                                 /* lone REX */
		{ "", 0, false, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = x86_insn_length((const uint8_t *)t[i].b, t[i].avail, t[i].compat);
		if (got != t[i].len)
			HARNESS_FAIL(0, "case %zu: length %d, want %d", i, got, t[i].len);
	}
	EXPECT_EQ(x86_insn_length(NULL, 5, false), -EINVAL);
	/* 15 bytes of prefixes + opcode exceed the architectural limit. */
	uint8_t longi[16];
	memset(longi, 0x66, sizeof(longi));
	longi[15] = 0x90;
	EXPECT_EQ(x86_insn_length(longi, sizeof(longi), false), -EINVAL);
}

/* ---- fault decoding ---- */

#define RIP 0x400000ull
#define D 0x10000000ull    /* a data page */
#define SP 0x7fff0100ull   /* a stack pointer */
#define FSB 0x7f0000001000ull
#define GSB 0x7f0000200000ull
#define R CV_ACCESS_READ
#define W CV_ACCESS_WRITE
#define X CV_ACCESS_EXEC
#define I(s) s, sizeof(s) - 1

struct decode_case {
	const char *name;
	const char *insn;
	size_t len;
	struct cv_regs regs;    /* rip defaults to RIP, rsp to SP, cs to CV_USER_CS */
	uint64_t fault;
	int ret;                /* expected return */
	unsigned access;        /* expected access when ret == 0 */
};

static const struct decode_case decode_cases[] = {
	{ "mov load", I("\x48\x8b\x03"), { .rbx = D }, D, 0, R },
	{ "mov store", I("\x48\x89\x03"), { .rbx = D }, D, 0, W },
	{ "mov store disp, fault mid-operand", I("\x48\x89\x43\x08"), { .rbx = D }, D + 12, 0, W },
	{ "mov load base+index*8", I("\x48\x8b\x04\xcb"), { .rbx = D, .rcx = 3 }, D + 24, 0, R },
	{ "add to memory (rmw)", I("\x01\x03"), { .rbx = D }, D, 0, W },
	{ "cmp with memory", I("\x39\x03"), { .rbx = D }, D + 3, 0, R },
	{ "push", I("\x50"), { 0 }, SP - 8, 0, W },
	{ "push across page", I("\x50"), { .rsp = 0x7fff0000 }, 0x7ffefff8, 0, W },
	{ "pop", I("\x58"), { 0 }, SP, 0, R },
	{ "call rel32", I("\xe8\xfb\x00\x00\x00"), { 0 }, SP - 8, 0, W },
	{ "ret", I("\xc3"), { 0 }, SP, 0, R },
	{ "leave", I("\xc9"), { .rbp = SP + 0x40 }, SP + 0x40, 0, R },
	{ "enter", I("\xc8\x10\x00\x00"), { 0 }, SP - 8, 0, W },
	{ "enter with nesting level 2", I("\xc8\x10\x00\x02"), { .rbp = SP + 0x80 }, SP - 24, 0, W },
	{ "bts, register bit offset", I("\x48\x0f\xab\x03"), { .rbx = D, .rax = 0x1000 * 8 + 5 }, D + 0x1000, 0, W },
	{ "bt, negative bit offset", I("\x48\x0f\xa3\x03"), { .rbx = D, .rax = -8ull }, D - 8, 0, R },
	{ "bt 32-bit, immediate offset", I("\x0f\xba\x23\x21"), { .rbx = D }, D + 2, 0, R },
	{ "xlat", I("\xd7"), { .rbx = D + 0xff0, .rax = 0x20 }, D + 0x1010, 0, R },
	{ "push mem: source", I("\xff\x33"), { .rbx = D }, D, 0, R },
	{ "push mem: stack", I("\xff\x33"), { .rbx = D }, SP - 8, 0, W },
	{ "pop [rsp]: address after pop", I("\x8f\x04\x24"), { 0 }, SP + 8, 0, W },
	{ "call [rbx]: pointer", I("\xff\x13"), { .rbx = D }, D + 4, 0, R },
	{ "movsb: source", I("\xa4"), { .rsi = D, .rdi = D + 0x5000 }, D, 0, R },
	{ "movsb: destination", I("\xa4"), { .rsi = D, .rdi = D + 0x5000 }, D + 0x5000, 0, W },
	{ "rep stosq", I("\xf3\x48\xab"), { .rdi = D, .rcx = 100 }, D, 0, W },
	{ "rep stosq, fault ahead", I("\xf3\x48\xab"), { .rdi = D + 0xfc0, .rcx = 100 }, D + 0x1000, 0, W },
	{ "rep movsb backwards", I("\xf3\xa4"), { .rsi = D + 0x2008, .rdi = D + 0x8000, .rcx = 64, .eflags = 0x400 },
	  D + 0x1ff8, 0, R },
	{ "lodsb", I("\xac"), { .rsi = D }, D, 0, R },
	{ "xchg", I("\x48\x87\x03"), { .rbx = D }, D, 0, W },
	{ "lock cmpxchg", I("\xf0\x48\x0f\xb1\x0b"), { .rbx = D }, D, 0, W },
	{ "cmpxchg16b high half", I("\x48\x0f\xc7\x0b"), { .rbx = D }, D + 8, 0, W },
	{ "fxsave", I("\x0f\xae\x03"), { .rbx = D }, D + 0x100, 0, W },
	{ "fxrstor", I("\x0f\xae\x0b"), { .rbx = D }, D + 0x1f0, 0, R },
	{ "xsave beyond legacy+header", I("\x0f\xae\x23"), { .rbx = D + 0xd80 }, D + 0x1000, 0, W },
	{ "xrstor", I("\x0f\xae\x2b"), { .rbx = D }, D + 0x400, 0, R },
	{ "vmovdqu64 zmm store", I("\x62\xf1\xfe\x48\x7f\x0b"), { .rbx = D }, D + 0x30, 0, W },
	{ "vmovdqu64 zmm load", I("\x62\xf1\xfe\x48\x6f\x0b"), { .rbx = D }, D + 0x3f, 0, R },
	{ "vmovdqu64 masked store", I("\x62\xf1\xfe\x49\x7f\x0b"), { .rbx = D + 0xfe0 }, D + 0x1000, 0, W },
	{ "maskmovdqu", I("\x66\x0f\xf7\xca"), { .rdi = D }, D, 0, W },
	{ "vpgatherdd (addresses unknown)", I("\x62\xf2\x7d\x49\x90\x0c\x90"), { .rax = D }, D + 0x123456, 0, R },
	{ "vpscatterdd (addresses unknown)", I("\x62\xf2\x7d\x49\xa0\x0c\x90"), { .rax = D }, D + 0x123456, 0, W },
	{ "fs-relative load", I("\x64\x48\x8b\x04\x25\x28\x00\x00\x00"), { .fs_base = FSB }, FSB + 0x28, 0, R },
	{ "gs-relative store", I("\x65\x89\x08"), { .gs_base = GSB, .rax = 0x10 }, GSB + 0x10, 0, W },
	{ "rip-relative load", I("\x48\x8b\x05\x00\x01\x00\x00"), { 0 }, RIP + 7 + 0x100, 0, R },
	{ "addr32 load", I("\x67\x8b\x06"), { .rsi = 0xffffffff00001000ull }, 0x1000, 0, R },
	{ "page-crossing store, second page", I("\x48\x89\x18"), { .rax = D + 0xffc }, D + 0x1000, 0, W },
	{ "same page, not exact", I("\x8b\x03"), { .rbx = D }, D + 0x800, 0, R },
	{ "fault at rip", I("\x48\x8b\x03"), { .rbx = D }, RIP, 0, X },
	{ "fault inside instruction", I("\x48\x8b\x05\x00\x01\x00\x00"), { .rip = D + 0xffe }, D + 0x1000, 0, X },
	{ "instruction cut by page end", I("\x48\x8b"), { .rip = D + 0xffe }, D + 0x1000, 0, X },
	{ "jmp to unmapped target", NULL, 0, { .rip = D + 0x1234 }, D + 0x1234, 0, X },
	{ "target not executable", I("\x00\x00"), { .rip = D }, D, 0, X },
	{ "compat mov load", I("\x8b\x03"), { .cs = CV_USER32_CS, .rbx = 0x08048000 }, 0x08048000, 0, R },
	{ "compat mov store", I("\x89\x43\x04"), { .cs = CV_USER32_CS, .rbx = 0x08048000 }, 0x08048004, 0, W },
	{ "compat push", I("\x50"), { .cs = CV_USER32_CS, .rsp = 0xffffd000 }, 0xffffcffc, 0, W },
	{ "compat push es (invalid in 64-bit)", I("\x06"), { .cs = CV_USER32_CS, .rsp = 0xffffd000 }, 0xffffcffe,
	  0, W },
	{ "far from the operand", I("\x48\x8b\x03"), { .rbx = D }, D + 0x50000, -ENOENT, 0 },
	{ "no memory operand", I("\x90"), { 0 }, D, -ENOENT, 0 },
	{ "lea does not access memory", I("\x48\x8d\x43\x08"), { .rbx = D }, D + 8, -ENOENT, 0 },
	{ "movsb, both on the fault page", I("\xa4"), { .rsi = D, .rdi = D + 0x800 }, D + 0x400, -ENOENT, 0 },
	{ "invalid opcode", I("\x06"), { 0 }, D, -EINVAL, 0 },
	{ "truncated, fault elsewhere", I("\x48\x8b"), { 0 }, D, -EINVAL, 0 },
};

TEST(arch_decode_table)
{
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		struct cv_regs regs = c->regs;
		if (!regs.rip)
			regs.rip = RIP;
		if (!regs.rsp)
			regs.rsp = SP;
		if (!regs.cs)
			regs.cs = CV_USER_CS;
		unsigned access = 0xdead;
		int ret = x86_decode_access((const uint8_t *)c->insn, c->len, &regs, c->fault, &access);
		if (ret != c->ret)
			HARNESS_FAIL(0, "%s: returned %d, want %d", c->name, ret, c->ret);
		else if (ret == 0 && access != c->access)
			HARNESS_FAIL(0, "%s: access %u, want %u", c->name, access, c->access);
	}
	EXPECT_GE(sizeof(decode_cases) / sizeof(decode_cases[0]), 30);
}

TEST(arch_decode_bad_args)
{
	struct cv_regs regs = { .rip = RIP, .cs = CV_USER_CS };
	unsigned access;
	EXPECT_EQ(x86_decode_access((const uint8_t *)"\x90", 1, NULL, D, &access), -EINVAL);
	EXPECT_EQ(x86_decode_access((const uint8_t *)"\x90", 1, &regs, D, NULL), -EINVAL);
	EXPECT_EQ(x86_decode_access(NULL, 3, &regs, D, &access), -EINVAL);
	/* More than 15 bytes is fine: only the first 15 matter. */
	uint8_t buf[32];
	memset(buf, 0x90, sizeof(buf));
	memcpy(buf, "\x48\x89\x03", 3);
	regs.rbx = D;
	ASSERT_OK(x86_decode_access(buf, sizeof(buf), &regs, D, &access));
	EXPECT_EQ(access, CV_ACCESS_WRITE);
}
