// SPDX-License-Identifier: Apache-2.0
// Instruction decoding with Zydis: what kind of access (read, write, fetch) made an instruction fault,
// and instruction lengths for backends that skip emulated instructions.
#include <string.h>
#include <Zydis/Zydis.h>
#include "internal.h"
#include "arch/x86_64/arch.h"

/*
 * Why decode at all: ptrace reports a SIGSEGV's address but not the page-fault error code, so the
 * access type has to be recovered from the instruction. The rules, in order:
 *
 *  1. Fetch faults. If nothing could be read at rip, or the fault address is inside the instruction's
 *     own bytes, the CPU failed to fetch it (a jump to an unmapped or non-executable page faults with
 *     rip == the target). A data access to the instruction's own bytes would look the same; it needs
 *     self-modifying code aimed at the very instruction running, and we call it a fetch.
 *  2. Exact match. Every memory operand, explicit or implicit (stack pushes and pops, string
 *     operands, XSAVE areas, masked stores), gives a byte range [start, start+size). If the fault
 *     address is in a written one (write, conditional write, read-modify-write) the access was a
 *     write: the CPU reports read-modify-write accesses as writes, and when a read and a write of the
 *     same instruction cover the same byte, the read succeeding and the write failing is the only
 *     order that makes a read-only page fault. Otherwise a covering read operand means a read.
 *  3. Page match. Faults are per page, and the CPU may report an address inside the operand that is
 *     not where the registers say the access starts (a page-crossing access faults at the start of
 *     the second page; fast string operations run ahead of rsi/rdi). So an operand whose pages
 *     overlap the fault page explains the fault, provided all such operands agree on the kind.
 *  4. Unknown addresses. Gather/scatter addresses depend on vector registers we do not have. If no
 *     known operand explains the fault and the instruction has such operands, and all its memory
 *     accesses are of one kind, that kind it is.
 *  Otherwise the fault is not explained by the instruction (stale registers, an asynchronous fault):
 *  -ENOENT, and the backend reports a guessed access type.
 */

#define EFLAGS_DF (1ull << 10)

struct memop {
	uint64_t start, size; /* byte range [start, start+size) */
	bool write;
	bool known;           /* false: the address could not be computed (VSIB, MIB) */
};

static const ZydisRegister gpr64[16] = {
	ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RBX,
	ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
	ZYDIS_REGISTER_R8,  ZYDIS_REGISTER_R9,  ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11,
	ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R14, ZYDIS_REGISTER_R15,
};

static void init_decoder(ZydisDecoder *d, bool compat)
{
	/* Init only fails on invalid enum values; these are constants. */
	if (compat)
		ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
	else
		ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
}

/* Register values for address computation: the general registers in all widths used for addressing. */
static void fill_context(ZydisRegisterContext *ctx, const struct cv_regs *r)
{
	const uint64_t v[16] = { r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
				 r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15 };
	memset(ctx, 0, sizeof(*ctx));
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		ZydisRegister id = gpr64[i];
		ctx->values[id] = v[i];
		ctx->values[ZydisRegisterEncode(ZYDIS_REGCLASS_GPR32, (ZyanU8)i)] = (uint32_t)v[i];
		ctx->values[ZydisRegisterEncode(ZYDIS_REGCLASS_GPR16, (ZyanU8)i)] = (uint16_t)v[i];
	}
	ctx->values[ZYDIS_REGISTER_RIP] = r->rip;
	ctx->values[ZYDIS_REGISTER_EIP] = (uint32_t)r->rip;
}

static bool is_stack_pointer(ZydisRegister reg)
{
	return reg == ZYDIS_REGISTER_RSP || reg == ZYDIS_REGISTER_ESP || reg == ZYDIS_REGISTER_SP;
}

static bool is_xsave_family(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_XSAVE:
	case ZYDIS_MNEMONIC_XSAVE64:
	case ZYDIS_MNEMONIC_XSAVEC:
	case ZYDIS_MNEMONIC_XSAVEC64:
	case ZYDIS_MNEMONIC_XSAVEOPT:
	case ZYDIS_MNEMONIC_XSAVEOPT64:
	case ZYDIS_MNEMONIC_XSAVES:
	case ZYDIS_MNEMONIC_XSAVES64:
	case ZYDIS_MNEMONIC_XRSTOR:
	case ZYDIS_MNEMONIC_XRSTOR64:
	case ZYDIS_MNEMONIC_XRSTORS:
	case ZYDIS_MNEMONIC_XRSTORS64:
		return true;
	default:
		return false;
	}
}

static uint64_t segment_base(ZydisRegister seg, const struct cv_regs *r)
{
	/* In 64-bit and compatibility mode only FS and GS have bases that matter. */
	if (seg == ZYDIS_REGISTER_FS)
		return r->fs_base;
	if (seg == ZYDIS_REGISTER_GS)
		return r->gs_base;
	return 0;
}

static uint64_t address_mask(ZyanU8 width)
{
	return width == 16 ? 0xffffu : width == 32 ? 0xffffffffu : ~0ull;
}

/* The second immediate of ENTER imm16, imm8: the nesting level. */
static unsigned enter_level(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops)
{
	unsigned seen = 0;
	for (unsigned i = 0; i < in->operand_count; i++)
		if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && seen++ == 1)
			return (unsigned)(ops[i].imm.value.u & 31);
	return 0;
}

static int64_t sign_extend(uint64_t v, unsigned bits)
{
	return bits >= 64 ? (int64_t)v : (int64_t)(v << (64 - bits)) >> (64 - bits);
}

/*
 * BT/BTS/BTR/BTC with a register bit offset address memory relative to the operand: the signed
 * offset selects the operand-sized word at ea + (offset / width) * (width / 8), possibly far away.
 */
static uint64_t bit_test_displacement(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
				      const ZydisDecodedOperand *op, const ZydisRegisterContext *ctx)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_BT:
	case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC:
		break;
	default:
		return 0;
	}
	unsigned bits = op->size;
	if (op != &ops[0] || in->operand_count < 2 || ops[1].type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    (bits != 16 && bits != 32 && bits != 64))
		return 0;
	unsigned shift = bits == 16 ? 4 : bits == 32 ? 5 : 6;
	int64_t offset = sign_extend(ctx->values[ops[1].reg.value], bits);
	return (uint64_t)((offset >> shift) * (int64_t)(bits / 8));
}

/*
 * Turn one Zydis memory operand into a byte range. Returns false if the operand does not access
 * memory (LEA-style address generation, hint NOPs).
 */
static bool operand_range(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
			  const ZydisDecodedOperand *op, const ZydisRegisterContext *ctx,
			  const struct cv_regs *regs, bool compat, struct memop *m)
{
	if (op->mem.type == ZYDIS_MEMOP_TYPE_AGEN || !(op->actions & (ZYDIS_OPERAND_ACTION_MASK_READ |
								       ZYDIS_OPERAND_ACTION_MASK_WRITE)))
		return false;
	m->write = op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
	m->size = op->size / 8 ? op->size / 8 : 1;
	m->known = false;
	/* VSIB (gather/scatter) indexes are vector registers; MIB (MPX bound tables) is opaque. */
	if (op->mem.type != ZYDIS_MEMOP_TYPE_MEM)
		return true;
	ZyanU64 ea;
	if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddressEx(in, op, regs->rip, ctx, &ea)))
		return true;
	m->known = true;
	m->start = ea + bit_test_displacement(in, ops, op, ctx);
	/* XLAT reads [rbx + al]; Zydis shows only the base. */
	if (in->mnemonic == ZYDIS_MNEMONIC_XLAT)
		m->start = (m->start + (uint8_t)regs->rax) & address_mask(in->address_width);

	/*
	 * XSAVE-family operands: Zydis sizes them as the legacy region plus header; what they touch
	 * depends on XCR0 and the requested mask, at most the CPU's full XSAVE size.
	 */
	if (is_xsave_family(in->mnemonic) && m->size < x86_xsave_layout()->host_size)
		m->size = x86_xsave_layout()->host_size;

	/*
	 * Stack pushes (PUSH, CALL, PUSHF, ENTER, PUSHA, ...) appear as a hidden write to [rsp] but store
	 * below it; ENTER with a nesting level also copies that many frame pointers. Pops and RET read
	 * at [rsp], as decoded.
	 */
	if (op->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN && is_stack_pointer(op->mem.base) && m->write) {
		if (in->mnemonic == ZYDIS_MNEMONIC_ENTER)
			m->size *= 1 + enter_level(in, ops);
		m->start -= m->size;
	}
	/* POP to memory addressed through rsp computes the address after rsp is incremented. */
	if (in->mnemonic == ZYDIS_MNEMONIC_POP && op->visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT &&
	    is_stack_pointer(op->mem.base))
		m->start += m->size;

	/*
	 * REP string operations: the registers point at the current element, but the CPU may fault on a
	 * later element of the same run (fast strings). Cover up to a page of the remaining count in
	 * the direction given by EFLAGS.DF.
	 */
	if (in->meta.category == ZYDIS_CATEGORY_STRINGOP &&
	    (in->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE))) {
		uint64_t count = regs->rcx & address_mask(in->address_width);
		if (count > PAGE_SIZE)
			count = PAGE_SIZE;
		uint64_t ext = count > 1 ? (count - 1) * m->size : 0;
		if (ext > PAGE_SIZE)
			ext = PAGE_SIZE;
		if (regs->eflags & EFLAGS_DF)
			m->start -= ext;
		m->size += ext;
	}

	m->start += segment_base(op->mem.segment, regs);
	if (compat)
		m->start &= 0xffffffffu; /* linear addresses wrap at 4 GiB in compatibility mode */
	return true;
}

static bool covers(const struct memop *m, uint64_t addr)
{
	return addr - m->start < m->size; /* unsigned: also correct when the range wraps */
}

static bool same_pages(const struct memop *m, uint64_t addr)
{
	uint64_t first = m->start & ~PAGE_MASK;
	uint64_t last = (m->start + m->size - 1) & ~PAGE_MASK;
	return (addr & ~PAGE_MASK) - first <= last - first;
}

int x86_decode_access(const uint8_t *insn, size_t len, const struct cv_regs *regs, uint64_t fault_addr,
		      unsigned *access)
{
	if (!regs || !access || (!insn && len))
		return -EINVAL;
	/* Rule 1: nothing to decode, or the very first byte: the fetch failed. */
	if (len == 0 || fault_addr == regs->rip) {
		*access = CV_ACCESS_EXEC;
		return 0;
	}
	if (len > X86_MAX_INSN_LEN)
		len = X86_MAX_INSN_LEN;

	bool compat = regs->cs == CV_USER32_CS;
	ZydisDecoder dec;
	ZydisDecodedInstruction in;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	init_decoder(&dec, compat);
	ZyanStatus st = ZydisDecoderDecodeFull(&dec, insn, len, &in, ops);
	if (!ZYAN_SUCCESS(st)) {
		/*
		 * The bytes ran out (the backend stopped at an unreadable page) and the fault is where
		 * the rest of the instruction would be: the fetch of that part faulted.
		 */
		uint64_t off = fault_addr - regs->rip;
		if (st == ZYDIS_STATUS_NO_MORE_DATA && off >= len && off < X86_MAX_INSN_LEN) {
			*access = CV_ACCESS_EXEC;
			return 0;
		}
		return -EINVAL;
	}
	if (fault_addr - regs->rip < in.length) {
		*access = CV_ACCESS_EXEC;
		return 0;
	}

	ZydisRegisterContext ctx;
	fill_context(&ctx, regs);
	unsigned exact = 0, page = 0, kinds = 0;
	bool unknown = false;
	for (unsigned i = 0; i < in.operand_count; i++) {
		struct memop m;
		if (ops[i].type != ZYDIS_OPERAND_TYPE_MEMORY ||
		    !operand_range(&in, ops, &ops[i], &ctx, regs, compat, &m))
			continue;
		unsigned kind = m.write ? CV_ACCESS_WRITE : CV_ACCESS_READ;
		kinds |= kind;
		if (!m.known) {
			unknown = true;
			continue;
		}
		if (covers(&m, fault_addr))
			exact |= kind;
		if (same_pages(&m, fault_addr))
			page |= kind;
	}

	/* Rule 2: exact match, writes first. */
	if (exact) {
		*access = exact & CV_ACCESS_WRITE ? CV_ACCESS_WRITE : CV_ACCESS_READ;
		return 0;
	}
	/* Rule 3: page match, only if unambiguous. */
	if (page == CV_ACCESS_WRITE || page == CV_ACCESS_READ) {
		*access = page;
		return 0;
	}
	/* Rule 4: operands with unknown addresses, all of one kind. */
	if (!page && unknown && (kinds == CV_ACCESS_WRITE || kinds == CV_ACCESS_READ)) {
		*access = kinds;
		return 0;
	}
	return -ENOENT;
}

int x86_insn_length(const uint8_t *insn, size_t len, bool compat)
{
	if (!insn || len == 0)
		return -EINVAL;
	if (len > X86_MAX_INSN_LEN)
		len = X86_MAX_INSN_LEN;
	ZydisDecoder dec;
	ZydisDecodedInstruction in;
	init_decoder(&dec, compat);
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, insn, len, &in)))
		return -EINVAL;
	return in.length;
}
