// SPDX-License-Identifier: Apache-2.0
// XSAVE area layout of this CPU (from CPUID leaf 0xD and XCR0), the initial FPU image, and checks of
// application-supplied images before they reach XRSTOR.
#include <cpuid.h>
#include <string.h>
#include "internal.h"
#include "arch/x86_64/arch.h"

/*
 * Which components the platforms save and restore, and why the others are left out:
 *
 *   x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM   saved: ordinary user state on every current CPU.
 *   PKRU (9)                  excluded: protection keys are managed by the sentry (the stubs' PKRU
 *                             decides what the sentry itself can touch), and PKU is hidden from
 *                             applications by the CPUID policy.
 *   AMX TILECFG/TILEDATA (17, 18)  excluded: Linux only lets a process use AMX after
 *                             arch_prctl(ARCH_REQ_XCOMP_PERM), arms XFD so the first use traps, and
 *                             TILEDATA alone is 8 KiB per thread; gVisor hides AMX for the same
 *                             reasons (gVisor issues #9750, #9896).
 *   MPX (3, 4)                excluded: removed from Linux (5.6), never in XCR0 on current kernels.
 *   supervisor components     (PT, CET, HDC, LBR, ...) live in IA32_XSS, not XCR0, and are not
 *                             application state.
 *   anything newer            excluded until someone checks what it needs.
 *
 * X86_XFEATURES_ALLOWED (arch.h) lists the saved ones; XCR0 is intersected with it.
 */

#define CPUID1_ECX_XSAVE (1u << 26)
#define CPUID1_ECX_OSXSAVE (1u << 27)
#define CPUID_D1_EAX_XSAVEOPT (1u << 0)
#define CPUID_D1_EAX_XSAVEC (1u << 1)
#define CPUID_LEAF_XSAVE 0xdu

/*
 * The legacy (FXSAVE) region is fixed by the architecture and CPUID does not describe it: the x87
 * state runs from 0 up to the XMM registers at 160 (MXCSR at 24 sits inside it but belongs to SSE),
 * and XMM0-15 take 256 bytes from 160.
 */
#define X87_OFFSET 0u
#define X87_SIZE 160u
#define SSE_OFFSET 160u
#define SSE_SIZE 256u

static struct x86_xsave_layout layout;
static pthread_once_t layout_once = PTHREAD_ONCE_INIT;

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* MXCSR_MASK of this CPU, from an FXSAVE of the current state (the CPU fills the field in). */
static uint32_t probe_mxcsr_mask(void)
{
	struct {
		uint8_t b[X86_XSAVE_LEGACY_SIZE];
	} __attribute__((aligned(16))) fx;
	memset(&fx, 0, sizeof(fx));
	__asm__ volatile("fxsave64 %0" : "=m"(fx));
	uint32_t mask;
	memcpy(&mask, fx.b + X86_XSAVE_MXCSR_MASK_OFFSET, sizeof(mask));
	/* A zero mask means a CPU older than the field; the SDM says to assume 0xffbf then. */
	return mask ? mask : X86_MXCSR_MASK_DEFAULT;
}

static void compute_layout(void)
{
	struct x86_xsave_layout *l = &layout;
	unsigned a, b, c, d;

	l->mxcsr_mask = probe_mxcsr_mask();
	l->xfeatures = (1ull << CV_XFEATURE_X87) | (1ull << CV_XFEATURE_SSE);
	l->comp[CV_XFEATURE_X87] = (struct cv_xsave_component){ X87_OFFSET, X87_SIZE };
	l->comp[CV_XFEATURE_SSE] = (struct cv_xsave_component){ SSE_OFFSET, SSE_SIZE };
	l->size = X86_XSAVE_MIN_SIZE;
	l->host_size = X86_XSAVE_MIN_SIZE;

	/*
	 * XGETBV faults unless the OS set CR4.OSXSAVE, which CPUID.1:ECX.OSXSAVE mirrors. Without it the
	 * platforms use the FXSAVE format; the buffer keeps the 64-byte header so its size stays >= 576.
	 */
	__cpuid(0, a, b, c, d);
	uint32_t max_leaf = a;
	__cpuid(1, a, b, c, d);
	if (!(c & CPUID1_ECX_XSAVE) || !(c & CPUID1_ECX_OSXSAVE) || max_leaf < CPUID_LEAF_XSAVE)
		return;
	l->has_xsave = true;
	l->xfeatures = xgetbv0() & X86_XFEATURES_ALLOWED;
	/* x87 and SSE are always in XCR0 (bit 0 cannot be cleared); insist anyway. */
	l->xfeatures |= (1ull << CV_XFEATURE_X87) | (1ull << CV_XFEATURE_SSE);

	__cpuid_count(CPUID_LEAF_XSAVE, 0, a, b, c, d);
	l->host_size = c > X86_XSAVE_MIN_SIZE ? c : X86_XSAVE_MIN_SIZE;
	__cpuid_count(CPUID_LEAF_XSAVE, 1, a, b, c, d);
	l->has_xsaveopt = a & CPUID_D1_EAX_XSAVEOPT;
	l->has_xsavec = a & CPUID_D1_EAX_XSAVEC;

	uint32_t size = X86_XSAVE_MIN_SIZE;
	for (unsigned i = 2; i < 32; i++) {
		if (!(l->xfeatures & (1ull << i)))
			continue;
		/* Sub-leaf i: EAX = size, EBX = offset in the standard format. */
		__cpuid_count(CPUID_LEAF_XSAVE, i, a, b, c, d);
		if (a == 0 || b < X86_XSAVE_MIN_SIZE) {
			/* Enabled in XCR0 but not described: do not pretend to save it. */
			cv_log(CV_LOG_WARN, "xsave: CPUID.(0xD,%u) reports size %u offset %u; component ignored", i, a,
			       b);
			l->xfeatures &= ~(1ull << i);
			continue;
		}
		l->comp[i] = (struct cv_xsave_component){ b, a };
		if (a + b > size)
			size = a + b;
	}
	l->size = size;
	if (l->host_size < size)
		l->host_size = size;
}

const struct x86_xsave_layout *x86_xsave_layout(void)
{
	pthread_once(&layout_once, compute_layout);
	return &layout;
}

void x86_xsave_init_image(void *buf, size_t size)
{
	if (!buf)
		return;
	uint8_t *p = buf;
	memset(p, 0, size);
	uint16_t fcw = X86_FCW_INIT;
	uint32_t mxcsr = X86_MXCSR_INIT;
	uint64_t xstate_bv = (1ull << CV_XFEATURE_X87) | (1ull << CV_XFEATURE_SSE);
	if (size >= X86_XSAVE_FCW_OFFSET + sizeof(fcw))
		memcpy(p + X86_XSAVE_FCW_OFFSET, &fcw, sizeof(fcw));
	if (size >= X86_XSAVE_MXCSR_OFFSET + sizeof(mxcsr))
		memcpy(p + X86_XSAVE_MXCSR_OFFSET, &mxcsr, sizeof(mxcsr));
	/*
	 * XSTATE_BV = x87|SSE makes XRSTOR load FCW and MXCSR from the image and put every other
	 * component (AVX, AVX-512) into its init state. FXRSTOR ignores the header.
	 */
	if (size >= X86_XSAVE_HEADER_OFFSET + sizeof(xstate_bv))
		memcpy(p + X86_XSAVE_HEADER_OFFSET, &xstate_bv, sizeof(xstate_bv));
}

int x86_xsave_validate(const void *buf, size_t size)
{
	const struct x86_xsave_layout *l = x86_xsave_layout();
	const uint8_t *p = buf;
	if (!p || size < l->size)
		return -EINVAL;

	/*
	 * XRSTOR (with SSE or AVX requested) and FXRSTOR raise #GP when MXCSR has a bit set outside
	 * MXCSR_MASK, whatever XSTATE_BV says, so check it unconditionally.
	 */
	uint32_t mxcsr;
	memcpy(&mxcsr, p + X86_XSAVE_MXCSR_OFFSET, sizeof(mxcsr));
	if (mxcsr & ~l->mxcsr_mask)
		return -EINVAL;
	if (!l->has_xsave)
		return 0; /* FXRSTOR ignores everything from byte 464 on */

	/*
	 * Standard-format XRSTOR #GPs on XCOMP_BV != 0 without a CPU that supports compaction, on
	 * XCOMP_BV bit 63 clear otherwise, and on any nonzero byte in 528..575; the kernel refuses the
	 * same images (and bits of XSTATE_BV it does not support) for ptrace and sigreturn. We only ever
	 * load standard images holding our own components, so the rule is simply: all zero from 520.
	 */
	uint64_t xstate_bv;
	memcpy(&xstate_bv, p + X86_XSAVE_HEADER_OFFSET, sizeof(xstate_bv));
	if (xstate_bv & ~l->xfeatures)
		return -EINVAL;
	for (size_t i = X86_XSAVE_XCOMP_BV_OFFSET; i < X86_XSAVE_MIN_SIZE; i++)
		if (p[i])
			return -EINVAL;
	return 0;
}

CV_API int cv_xsave_component(unsigned feature, struct cv_xsave_component *out)
{
	/* Features are XCR0 bit numbers: 0..63 are meaningful, only the allowed ones can be present. */
	if (!out || feature >= 64)
		return -EINVAL;
	const struct x86_xsave_layout *l = x86_xsave_layout();
	if (feature >= ARRAY_SIZE(l->comp) || !(l->xfeatures & (1ull << feature)))
		return -ENOENT;
	*out = l->comp[feature];
	return 0;
}
