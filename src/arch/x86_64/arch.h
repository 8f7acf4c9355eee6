/* SPDX-License-Identifier: Apache-2.0 */
/* x86-64 support shared by all backends: XSAVE layout, CPUID policy and fault access decoding. */
#ifndef CVISOR_ARCH_X86_64_H
#define CVISOR_ARCH_X86_64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cvisor/cpu.h>

/* ---- XSAVE (xsave.c) ---- */

/* Offsets of the fixed parts of a standard-format XSAVE area. */
#define X86_XSAVE_FCW_OFFSET 0          /* x87 control word (u16) */
#define X86_XSAVE_MXCSR_OFFSET 24       /* MXCSR (u32) */
#define X86_XSAVE_MXCSR_MASK_OFFSET 28  /* MXCSR_MASK as written by FXSAVE (u32) */
#define X86_XSAVE_LEGACY_SIZE 512       /* FXSAVE region */
#define X86_XSAVE_HEADER_OFFSET 512     /* XSTATE_BV (u64), then XCOMP_BV (u64), then reserved */
#define X86_XSAVE_XCOMP_BV_OFFSET 520
#define X86_XSAVE_HEADER_SIZE 64
#define X86_XSAVE_MIN_SIZE (X86_XSAVE_LEGACY_SIZE + X86_XSAVE_HEADER_SIZE)

#define X86_FCW_INIT 0x37fu
#define X86_MXCSR_INIT 0x1f80u
#define X86_MXCSR_MASK_DEFAULT 0xffbfu /* architectural mask when FXSAVE reports 0 */

/* The XSAVE components the platforms save and restore: x87, SSE, AVX and AVX-512 (see xsave.c). */
#define X86_XFEATURES_ALLOWED                                                                         \
	((1ull << CV_XFEATURE_X87) | (1ull << CV_XFEATURE_SSE) | (1ull << CV_XFEATURE_AVX) |          \
	 (1ull << CV_XFEATURE_OPMASK) | (1ull << CV_XFEATURE_ZMM_HI256) |                             \
	 (1ull << CV_XFEATURE_HI16_ZMM))

struct x86_xsave_layout {
	uint64_t xfeatures;  /* components saved/restored: XCR0 & X86_XFEATURES_ALLOWED (x87|SSE without XSAVE) */
	uint32_t size;       /* bytes of a standard-format buffer holding xfeatures (>= 576) */
	uint32_t host_size;  /* CPUID.(0xD,0):ECX, the most any XSAVE* on this CPU can write (>= size) */
	uint32_t mxcsr_mask; /* MXCSR bits the CPU accepts (FXSAVE's MXCSR_MASK, or 0xffbf) */
	struct cv_xsave_component comp[32]; /* offset/size of each component in xfeatures, else zero */
	bool has_xsave;      /* XSAVE/XRSTOR usable (CPUID.1:ECX.OSXSAVE); else FXSAVE format only */
	bool has_xsaveopt;
	bool has_xsavec;
};

/*
 * The XSAVE layout of this machine, computed once from CPUID leaf 0xD, XCR0 and an FXSAVE of the
 * current state. Never NULL; the result is immutable and valid for the life of the process.
 */
const struct x86_xsave_layout *x86_xsave_layout(void);

/*
 * Write the initial FPU state into the standard-format buffer @buf of @size bytes (normally
 * x86_xsave_layout()->size, 64-byte aligned): all zero except FCW 0x37f, MXCSR 0x1f80 and XSTATE_BV =
 * x87|SSE (every other component in its init state), XCOMP_BV 0. Fields that do not fit in @size are
 * skipped. NULL @buf is a no-op.
 */
void x86_xsave_init_image(void *buf, size_t size);

/*
 * Check a standard-format image before it is loaded with XRSTOR/FXRSTOR (or handed to the kernel):
 * returns 0, or -EINVAL when @buf is NULL, @size is smaller than x86_xsave_layout()->size, MXCSR has
 * bits outside the CPU's MXCSR_MASK, XSTATE_BV has bits outside the layout's xfeatures, XCOMP_BV is
 * nonzero (compacted format) or the reserved header bytes 528..575 are nonzero.
 */
int x86_xsave_validate(const void *buf, size_t size);

/* ---- CPUID (cpuid.c) ---- */

/* A CPUID policy: an immutable, sorted table of struct cv_cpuid_entry. */
struct x86_cpuid_policy;

/* Maximum number of entries of a policy. */
#define X86_CPUID_MAX_ENTRIES 4096

/*
 * Build the default policy from the host CPUID, masked so applications see only what the platform
 * saves: AMX and PKU/OSPKE hidden, leaf 0xD describing exactly x86_xsave_layout(); the hypervisor
 * bit and OSXSAVE are kept. Returns 0 and stores a new policy in *@out; -EINVAL (@out NULL);
 * -ENOMEM.
 */
int x86_cpuid_policy_default(struct x86_cpuid_policy **out);

/*
 * Build a policy from @n caller entries (copied, then sorted). An entry without
 * CV_CPUID_SIGNIFICANT_INDEX matches every subleaf of its leaf (its subleaf field is ignored).
 * Returns 0 and stores the policy in *@out; -EINVAL (@out NULL, @e NULL with @n > 0,
 * @n > X86_CPUID_MAX_ENTRIES, flags other than CV_CPUID_SIGNIFICANT_INDEX, or two entries matching
 * the same leaf/subleaf); -ENOMEM. @n == 0 gives an empty policy (every lookup returns zeroes).
 */
int x86_cpuid_policy_new(const struct cv_cpuid_entry *e, size_t n, struct x86_cpuid_policy **out);

/*
 * What CPUID(@leaf, @subleaf) returns under @p: the matching entry, or all zeroes when nothing
 * matches (or @p is NULL). Either way out->leaf and out->subleaf are the queried values; out->flags
 * is the matching entry's flags (0 when not found). Lock-free, O(log n).
 */
void x86_cpuid_policy_lookup(const struct x86_cpuid_policy *p, uint32_t leaf, uint32_t subleaf,
			     struct cv_cpuid_entry *out);

/*
 * The sorted entries of @p (by leaf, then subleaf) and their count in *@n, e.g. for KVM_SET_CPUID2.
 * Valid until x86_cpuid_policy_free(). NULL with *@n = 0 for an empty or NULL policy.
 */
const struct cv_cpuid_entry *x86_cpuid_policy_entries(const struct x86_cpuid_policy *p, size_t *n);

/* Free a policy. NULL is a no-op. */
void x86_cpuid_policy_free(struct x86_cpuid_policy *p);

/*
 * Whether this host can make CPUID fault for a task (arch_prctl(ARCH_SET_CPUID, 0)). Probed once, in
 * a forked child, so the calling process's own setting never changes. Thread-safe.
 */
bool x86_cpuid_faulting_supported(void);
bool x86_cpuid_default_is_host(void);

/* Whether @insn (@len bytes available) starts with CPUID: exactly 0F A2, no prefixes. */
bool x86_insn_is_cpuid(const uint8_t *insn, size_t len);

/* ---- instruction decoding (decode.c) ---- */

/* Longest x86 instruction. */
#define X86_MAX_INSN_LEN 15

/*
 * Decide what kind of access made the instruction at regs->rip fault at @fault_addr.
 * @insn holds the @len (<= 15, fewer if a page ended, 0 if nothing could be fetched) bytes at
 * regs->rip; the instruction is decoded in 64-bit mode, or 32-bit compatibility mode when
 * regs->cs == CV_USER32_CS.
 *
 * Stores CV_ACCESS_EXEC when @len is 0 or @fault_addr lies inside the instruction itself (fetch
 * fault); otherwise CV_ACCESS_WRITE or CV_ACCESS_READ from the memory operands (explicit and
 * implicit) whose address range covers @fault_addr, then whose pages overlap its page, with writes
 * (including read-modify-write and conditional writes) winning over reads.
 * Returns 0; -ENOENT when no memory operand of the instruction explains the fault; -EINVAL when the
 * bytes do not decode (or NULL arguments).
 */
int x86_decode_access(const uint8_t *insn, size_t len, const struct cv_regs *regs, uint64_t fault_addr,
		      unsigned *access);

/*
 * Length of the instruction at @insn (@len bytes available), decoded in 64-bit mode or, with @compat,
 * 32-bit compatibility mode. Returns 1..15, or -EINVAL if it does not decode within @len bytes.
 */
int x86_insn_length(const uint8_t *insn, size_t len, bool compat);

#endif
