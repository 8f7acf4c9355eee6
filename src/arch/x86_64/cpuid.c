// SPDX-License-Identifier: Apache-2.0
// CPUID policies: the default one derived from the host (minus what the platform does not save),
// caller-supplied tables, lookup, and the CPUID-faulting probe.
#include <asm/prctl.h>
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"
#include "arch/x86_64/arch.h"

struct x86_cpuid_policy {
	size_t n;
	struct cv_cpuid_entry e[]; /* sorted by (leaf, subleaf); no two match the same leaf/subleaf */
};

/* ---- table helpers ---- */

static int cmp_entry(const void *a, const void *b)
{
	const struct cv_cpuid_entry *x = a, *y = b;
	if (x->leaf != y->leaf)
		return x->leaf < y->leaf ? -1 : 1;
	if (x->subleaf != y->subleaf)
		return x->subleaf < y->subleaf ? -1 : 1;
	return 0;
}

static struct x86_cpuid_policy *policy_alloc(size_t n)
{
	struct x86_cpuid_policy *p = malloc(sizeof(*p) + n * sizeof(p->e[0]));
	if (p)
		p->n = n;
	return p;
}

/* Index of the first entry >= (leaf, subleaf). */
static size_t lower_bound(const struct x86_cpuid_policy *p, uint32_t leaf, uint32_t subleaf)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cv_cpuid_entry *m = &p->e[mid];
		if (m->leaf < leaf || (m->leaf == leaf && m->subleaf < subleaf))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int x86_cpuid_policy_new(const struct cv_cpuid_entry *e, size_t n, struct x86_cpuid_policy **out)
{
	if (!out || (n > 0 && !e) || n > X86_CPUID_MAX_ENTRIES)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (e[i].flags & ~CV_CPUID_SIGNIFICANT_INDEX)
			return -EINVAL;
	struct x86_cpuid_policy *p = policy_alloc(n);
	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p->e, e, n * sizeof(*e));
	/* A leaf-wide entry answers every subleaf: store it at subleaf 0 so it sorts first in its leaf. */
	for (size_t i = 0; i < n; i++)
		if (!(p->e[i].flags & CV_CPUID_SIGNIFICANT_INDEX))
			p->e[i].subleaf = 0;
	if (n > 1)
		qsort(p->e, n, sizeof(p->e[0]), cmp_entry);
	/*
	 * After sorting, the entries of one leaf are adjacent, so a leaf-wide entry that shares its leaf
	 * with anything, or two entries for the same subleaf, always show up as an adjacent pair.
	 */
	for (size_t i = 1; i < n; i++) {
		const struct cv_cpuid_entry *a = &p->e[i - 1], *b = &p->e[i];
		if (a->leaf == b->leaf &&
		    (a->subleaf == b->subleaf || !(a->flags & CV_CPUID_SIGNIFICANT_INDEX) ||
		     !(b->flags & CV_CPUID_SIGNIFICANT_INDEX))) {
			free(p);
			return -EINVAL;
		}
	}
	*out = p;
	return 0;
}

void x86_cpuid_policy_lookup(const struct x86_cpuid_policy *p, uint32_t leaf, uint32_t subleaf,
			     struct cv_cpuid_entry *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->leaf = leaf;
	out->subleaf = subleaf;
	if (!p)
		return;
	/* A leaf-wide entry sits at subleaf 0, the first place of its leaf. */
	size_t i = lower_bound(p, leaf, 0);
	if (i < p->n && p->e[i].leaf == leaf && !(p->e[i].flags & CV_CPUID_SIGNIFICANT_INDEX))
		goto found;
	i = lower_bound(p, leaf, subleaf);
	if (i < p->n && p->e[i].leaf == leaf && p->e[i].subleaf == subleaf)
		goto found;
	return;
found:
	out->flags = p->e[i].flags;
	out->eax = p->e[i].eax;
	out->ebx = p->e[i].ebx;
	out->ecx = p->e[i].ecx;
	out->edx = p->e[i].edx;
}

const struct cv_cpuid_entry *x86_cpuid_policy_entries(const struct x86_cpuid_policy *p, size_t *n)
{
	*n = p ? p->n : 0;
	return p && p->n ? p->e : NULL;
}

void x86_cpuid_policy_free(struct x86_cpuid_policy *p)
{
	free(p);
}

/* ---- the default policy ---- */

#define LEAF_EXT_BASE 0x80000000u
#define MAX_LEAVES_PER_RANGE 0x100u /* a buggy hypervisor may report an absurd maximum leaf */
#define MAX_SUBLEAVES 64u

/* Bits the default policy hides. */
#define CPUID7_0_ECX_PKU (1u << 3)
#define CPUID7_0_ECX_OSPKE (1u << 4)
#define CPUID7_0_EDX_AMX_BF16 (1u << 22)
#define CPUID7_0_EDX_AMX_TILE (1u << 24)
#define CPUID7_0_EDX_AMX_INT8 (1u << 25)
#define CPUID7_1_EAX_AMX_FP16 (1u << 21)
#define CPUID7_1_EDX_AMX_COMPLEX (1u << 8)
/* CPUID.(0xD,1):EAX: XSAVEOPT, XSAVEC, XGETBV with ECX=1, XSAVES. Bit 4 (XFD) only serves AMX. */
#define CPUID_D1_EAX_KEEP 0xfu
#define XSAVE_COMPACT_ALIGN64 (1u << 1) /* CPUID.(0xD,i):ECX bit 1 */

/* How the sub-leaves of a leaf are enumerated. */
enum subleaf_rule {
	SUB_NONE,       /* not indexed */
	SUB_MAX_IN_EAX, /* sub-leaf 0 EAX is the highest valid sub-leaf (7, 0x14, 0x17, 0x18, 0x1D) */
	SUB_CACHE,      /* until the cache type EAX[4:0] is 0 (4, 0x8000001D) */
	SUB_TOPOLOGY,   /* until the level type ECX[15:8] is 0 (0xB, 0x1F, 0x80000026) */
	SUB_SCAN,       /* 0..63, dropping all-zero sub-leaves above 0 (0xD, 0xF, 0x10, 0x12, 0x1E, 0x80000020) */
};

static enum subleaf_rule subleaf_rule(uint32_t leaf)
{
	switch (leaf) {
	case 0x7:
	case 0x14:
	case 0x17:
	case 0x18:
	case 0x1d:
		return SUB_MAX_IN_EAX;
	case 0x4:
	case 0x8000001d:
		return SUB_CACHE;
	case 0xb:
	case 0x1f:
	case 0x80000026:
		return SUB_TOPOLOGY;
	case 0xd:
	case 0xf:
	case 0x10:
	case 0x12:
	case 0x1e:
	case 0x80000020:
		return SUB_SCAN;
	default:
		return SUB_NONE;
	}
}

struct builder {
	struct cv_cpuid_entry *e;
	size_t n, cap;
	bool oom;
};

static void add_entry(struct builder *b, const struct cv_cpuid_entry *e)
{
	if (b->oom || b->n == X86_CPUID_MAX_ENTRIES)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		struct cv_cpuid_entry *grown = realloc(b->e, cap * sizeof(*grown));
		if (!grown) {
			b->oom = true;
			return;
		}
		b->e = grown;
		b->cap = cap;
	}
	b->e[b->n++] = *e;
}

static void host_cpuid(uint32_t leaf, uint32_t subleaf, struct cv_cpuid_entry *e)
{
	unsigned a, b, c, d;
	__cpuid_count(leaf, subleaf, a, b, c, d);
	*e = (struct cv_cpuid_entry){ .leaf = leaf, .subleaf = subleaf, .eax = a, .ebx = b, .ecx = c, .edx = d };
}

/*
 * The sub-leaves of a SUB_SCAN leaf that can be non-zero, as sub-leaf 0 (@e0) lists them: the others
 * are reserved and read as zeroes, and each CPUID is a VM exit under a hypervisor (~5.5 us on this
 * VM; reading all 64 of six leaves was 1.8 ms of every platform's start).
 */
static uint64_t scan_mask(uint32_t leaf, const struct cv_cpuid_entry *e0)
{
	switch (leaf) {
	case 0xd: { /* XSAVE: a sub-leaf per component, user (XCR0) or supervisor (XSS) */
		struct cv_cpuid_entry e1;
		host_cpuid(0xd, 1, &e1);
		return 3 | e0->eax | (uint64_t)e0->edx << 32 | e1.ecx | (uint64_t)e1.edx << 32;
	}
	case 0xf:          /* RDT monitoring: EDX bit n, resource type n */
		return 1 | e0->edx;
	case 0x10:         /* RDT allocation: EBX bit n, resource n */
	case 0x80000020:   /* AMD PQoS: EBX bit n, feature n */
		return 1 | e0->ebx;
	case 0x1e:         /* AMX: left out of every policy */
		return 1;
	default:           /* 0x12 (SGX): enumerated by type; read all unless sub-leaf 0 says none */
		return e0->eax | e0->ebx | e0->ecx | e0->edx ? ~0ull : 1;
	}
}

static void add_leaf(struct builder *b, uint32_t leaf)
{
	struct cv_cpuid_entry e;
	enum subleaf_rule rule = subleaf_rule(leaf);
	host_cpuid(leaf, 0, &e);
	if (rule == SUB_NONE) {
		add_entry(b, &e);
		return;
	}
	uint32_t last = MAX_SUBLEAVES - 1;
	if (rule == SUB_MAX_IN_EAX && e.eax < last)
		last = e.eax;
	uint64_t scan = rule == SUB_SCAN ? scan_mask(leaf, &e) : ~0ull;
	for (uint32_t sub = 0; sub <= last; sub++) {
		if (!(scan >> sub & 1))
			continue;
		if (sub)
			host_cpuid(leaf, sub, &e);
		e.flags = CV_CPUID_SIGNIFICANT_INDEX;
		/* Terminators are left out: a missing sub-leaf reads as zeroes, which ends these lists. */
		if (rule == SUB_CACHE && (e.eax & 0x1f) == 0)
			break;
		if (rule == SUB_TOPOLOGY && (e.ecx & 0xff00) == 0)
			break;
		if (rule == SUB_SCAN && sub && !(e.eax | e.ebx | e.ecx | e.edx))
			continue;
		add_entry(b, &e);
	}
}

/* Size of the compacted XSAVE area holding the layout's components (what CPUID.(0xD,1):EBX reports). */
static uint32_t compacted_size(const struct x86_xsave_layout *l)
{
	uint32_t size = X86_XSAVE_MIN_SIZE;
	for (unsigned i = 2; i < ARRAY_SIZE(l->comp); i++) {
		if (!(l->xfeatures & (1ull << i)))
			continue;
		unsigned a, b, c, d;
		__cpuid_count(0xd, i, a, b, c, d);
		if (c & XSAVE_COMPACT_ALIGN64)
			size = (size + 63) & ~63u;
		size += l->comp[i].size;
	}
	return size;
}

/*
 * Mask one host entry so applications only see what the platform saves and restores. Returns false
 * if the entry must be dropped altogether.
 *
 * The platform cannot stop an application from executing XGETBV (which shows the host XCR0) or an
 * instruction the CPU supports; the policy only keeps well-behaved code, which checks CPUID first,
 * away from state that would be lost on a context switch. Leaf 0xD reports exactly the platform's
 * components, so an application that uses the masks and sizes from leaf 0xD stays within its buffer.
 */
static bool mask_entry(struct cv_cpuid_entry *e, const struct x86_xsave_layout *l, uint32_t compacted)
{
	switch (e->leaf) {
	case 0x7:
		if (e->subleaf == 0) {
			/* PKRU is the sentry's (see xsave.c); AMX is never enabled for applications. */
			e->ecx &= ~(CPUID7_0_ECX_PKU | CPUID7_0_ECX_OSPKE);
			e->edx &= ~(CPUID7_0_EDX_AMX_BF16 | CPUID7_0_EDX_AMX_TILE | CPUID7_0_EDX_AMX_INT8);
		} else if (e->subleaf == 1) {
			e->eax &= ~CPUID7_1_EAX_AMX_FP16;
			e->edx &= ~CPUID7_1_EDX_AMX_COMPLEX;
		}
		return true;
	case 0xd:
		if (!l->has_xsave)
			return false;
		if (e->subleaf == 0) {
			/* Supported components and the sizes for them (EBX: enabled ones, ECX: all). */
			e->eax = (uint32_t)l->xfeatures;
			e->edx = (uint32_t)(l->xfeatures >> 32);
			e->ebx = l->size;
			e->ecx = l->size;
		} else if (e->subleaf == 1) {
			/* Supervisor components (IA32_XSS) are not application state: hide them. */
			e->eax &= CPUID_D1_EAX_KEEP;
			e->ebx = compacted;
			e->ecx = 0;
			e->edx = 0;
		} else if (e->subleaf >= 64 || !(l->xfeatures & (1ull << e->subleaf))) {
			return false; /* AMX (17, 18), PKRU (9), supervisor and unknown components */
		}
		return true;
	case 0x1d: /* AMX tile palettes */
	case 0x1e: /* AMX TMUL */
		return false;
	default:
		return true;
	}
}

int x86_cpuid_policy_default(struct x86_cpuid_policy **out)
{
	if (!out)
		return -EINVAL;
	const struct x86_xsave_layout *l = x86_xsave_layout();
	struct builder b = { 0 };
	uint32_t ranges[] = { 0, LEAF_EXT_BASE };
	for (size_t r = 0; r < ARRAY_SIZE(ranges); r++) {
		unsigned max, ebx, ecx, edx;
		__cpuid(ranges[r], max, ebx, ecx, edx);
		/* Extended leaves exist only if leaf 0x80000000 reports a maximum in their range. */
		if (max < ranges[r] || max - ranges[r] >= 0x10000000u)
			continue;
		uint32_t last = max;
		if (last - ranges[r] >= MAX_LEAVES_PER_RANGE)
			last = ranges[r] + MAX_LEAVES_PER_RANGE - 1;
		for (uint32_t leaf = ranges[r]; leaf <= last; leaf++)
			add_leaf(&b, leaf);
	}
	if (b.oom) {
		free(b.e);
		return -ENOMEM;
	}

	uint32_t compacted = compacted_size(l);
	size_t kept = 0;
	for (size_t i = 0; i < b.n; i++)
		if (mask_entry(&b.e[i], l, compacted))
			b.e[kept++] = b.e[i];

	struct x86_cpuid_policy *p = policy_alloc(kept);
	if (!p) {
		free(b.e);
		return -ENOMEM;
	}
	if (kept)
		memcpy(p->e, b.e, kept * sizeof(p->e[0]));
	free(b.e);
	/* Enumeration order is already sorted; sort anyway so lookup never depends on it. */
	qsort(p->e, p->n, sizeof(p->e[0]), cmp_entry);
	*out = p;
	return 0;
}

/* ---- CPUID faulting ---- */

/*
 * Whether the default policy answers an application as the host's CPUID does in everything it can act
 * on: nothing hidden (no protection keys, no AMX, no XFD) and the user part of the XSAVE leaf (0xD
 * sub-leaf 0) the platform's layout. What the policy still changes then is ring 0's alone (the
 * supervisor components of 0xD sub-leaf 1 and above) and the all-zero answer past a topology leaf's
 * last level, whose ECX[7:0] the host echoes: CPUID faulting would only cost (CV_PLATFORM_CPUID_
 * FAULTING_IF_NEEDED).
 */
bool x86_cpuid_default_is_host(void)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	unsigned a, b, c, d;
	if (!l->has_xsave || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	if ((c & (CPUID7_0_ECX_PKU | CPUID7_0_ECX_OSPKE)) ||
	    (d & (CPUID7_0_EDX_AMX_BF16 | CPUID7_0_EDX_AMX_TILE | CPUID7_0_EDX_AMX_INT8)))
		return false;
	if (a >= 1) {
		__cpuid_count(7, 1, a, b, c, d);
		if ((a & CPUID7_1_EAX_AMX_FP16) || (d & CPUID7_1_EDX_AMX_COMPLEX))
			return false;
	}
	__cpuid_count(0xd, 0, a, b, c, d);
	if ((a | (uint64_t)d << 32) != l->xfeatures || b != l->size || c != l->size)
		return false;
	__cpuid_count(0xd, 1, a, b, c, d);
	return (a & ~CPUID_D1_EAX_KEEP) == 0;
}

/* arch_prctl(ARCH_SET_CPUID, 0) turns on CPUID faulting for the calling thread, and there is no way to
 * ask "would it work?" without doing it: the host probes' child tries (src/core/stubhost.c). */
bool x86_cpuid_faulting_supported(void)
{
	return host_probes()->cpuid_faulting;
}

bool x86_insn_is_cpuid(const uint8_t *insn, size_t len)
{
	/*
	 * Strictly 0F A2. Prefixes do not change what CPUID does, but an emulator that also skips them must
	 * agree with the CPU on instruction length and validity (e.g. LOCK CPUID is #UD); the backends
	 * only emulate the plain two-byte form and let anything else fault normally.
	 */
	return insn && len >= 2 && insn[0] == 0x0f && insn[1] == 0xa2;
}
