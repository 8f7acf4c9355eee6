/* SPDX-License-Identifier: Apache-2.0 */
/* x86-64 CPU state of an application thread and the CPUID policy presented to applications. */
#ifndef CVISOR_CPU_H
#define CVISOR_CPU_H

#include <cvisor/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * General registers, in exactly the layout of the kernel's `struct user_regs_struct` (sys/user.h), so a
 * pointer to one may be cast to the other. fs_base/gs_base are the thread's FS/GS bases. cs/ss/ds/es/fs/gs
 * are selectors; the platform forces cs/ss to the 64-bit user selectors on every switch, except that an
 * application may itself have entered 32-bit compatibility mode (cs = 0x23).
 */
struct cv_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	uint64_t rax, rcx, rdx, rsi, rdi, orig_rax;
	uint64_t rip, cs, eflags, rsp, ss;
	uint64_t fs_base, gs_base;
	uint64_t ds, es, fs, gs;
};

#define CV_USER_CS 0x33   /* 64-bit user code selector */
#define CV_USER32_CS 0x23 /* 32-bit compatibility-mode code selector */
#define CV_USER_DS 0x2b   /* user data/stack selector */

/* XSAVE state components (bit numbers of XCR0 / XSTATE_BV). */
enum cv_xfeature {
	CV_XFEATURE_X87 = 0,
	CV_XFEATURE_SSE = 1,
	CV_XFEATURE_AVX = 2,      /* upper halves of YMM0-15 */
	CV_XFEATURE_OPMASK = 5,   /* AVX-512 k0-k7 */
	CV_XFEATURE_ZMM_HI256 = 6,/* upper halves of ZMM0-15 */
	CV_XFEATURE_HI16_ZMM = 7, /* ZMM16-31 */
	CV_XFEATURE_PKRU = 9,
};

/*
 * The full CPU state of one application thread, owned by its context (see cv_ctx_state()).
 *
 * @regs is always current after cv_ctx_switch() returns. @xsave is a 64-byte aligned buffer of
 * @xsave_size bytes in the standard (non-compacted) XSAVE format, holding x87, SSE, AVX and AVX-512 state
 * where the CPU has them (AMX is never enabled for applications). It is transferred lazily: it is current
 * only after cv_ctx_pull_full_state(); after writing it, call cv_ctx_full_state_changed().
 */
struct cv_cpu_state {
	struct cv_regs regs;
	void *xsave;
	uint32_t xsave_size;
	uint32_t reserved;
	uint64_t xfeatures; /* XSAVE components this buffer may hold (bit mask of cv_xfeature) */
};

/* Location of one XSAVE component inside a standard-format buffer. */
struct cv_xsave_component {
	uint32_t offset;
	uint32_t size;
};

/*
 * Where component @feature lives in the XSAVE buffers of this process's platforms.
 * Returns 0, -EINVAL if @feature is out of range or @out is NULL, -ENOENT if the CPU lacks it or the
 * platform does not enable it (AMX components always give -ENOENT).
 */
CV_API int cv_xsave_component(unsigned feature, struct cv_xsave_component *out);

/* One CPUID result. Matching is on @leaf, and on @subleaf when CV_CPUID_SIGNIFICANT_INDEX is set. */
struct cv_cpuid_entry {
	uint32_t leaf;
	uint32_t subleaf;
	uint32_t flags;
	uint32_t eax, ebx, ecx, edx;
};
#define CV_CPUID_SIGNIFICANT_INDEX 1u

#ifdef __cplusplus
}
#endif
#endif
