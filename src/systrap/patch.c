// SPDX-License-Identifier: Apache-2.0
// systrap's syscall-site patching: a `mov $nr,%eax; syscall` that trapped becomes a jump through the
// platform's pointer table to a trampoline that enters the stub without a signal (docs/systrap.md).
//
// Sites, trampolines and pointers belong to the platform, not to an address space: every stub maps
// the same patch file, so a patched page means the same thing in every address space it is mapped
// into (after a fork, say). Slots are never reused; when the table is full, nothing more is patched.
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include "systrap/systrap_internal.h"

static const uint8_t site_insn[2] = { 0x0f, 0x05 };
/* glibc's syscall(3) ends `mov 0x8(%rsp),%r9; syscall`: a site whose number is the program's rax. */
static const uint8_t dyn_insn[5] = { 0x4c, 0x8b, 0x4c, 0x24, 0x08 };
#define DYN_NR 0x10000u /* the site table's number for such a site */
/* glibc's read(2) (single-threaded path) is `xor %eax,%eax; syscall` — 4 bytes, too few for the jump —
 * then `cmp $-4096,%rax; ja err; ret` and the alignment padding before the next block. */
static const uint8_t xor_insn[4] = { 0x31, 0xc0, 0x0f, 0x05 };
static const uint8_t xor_tail[6] = { 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff };
#define XOR_NR 0x10001u /* the site table's number for such a site (a read: rax 0) */
#define XOR_PAD_MIN 9   /* padding bytes needed: a 2-byte jump over the 7-byte jump */
#define TRAP_BYTE 0x06  /* invalid in 64-bit mode: a thread that meets it traps (SIGILL) */

static uint32_t site_hash(uint64_t addr)
{
	return (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 50) & (ST_PATCH_HASH - 1);
}

/* The trampolines int3 everywhere until used: written into the file, not through a mapping (a fault
 * for each fresh page costs ~10 us on a VM; this is one call). */
static int fill_int3(int fd)
{
	uint8_t page[4096];
	struct iovec iov[64];
	memset(page, 0xcc, sizeof(page));
	for (uint64_t off = 0; off < ST_TRAMP_AREA;) {
		int n = 0;
		for (; n < 64 && off + (uint64_t)n * sizeof(page) < ST_TRAMP_AREA; n++)
			iov[n] = (struct iovec){ page, sizeof(page) };
		ssize_t w = pwritev(fd, iov, n, (off_t)(ST_PTAB_SIZE + off));
		if (w <= 0)
			return -1;
		off += (uint64_t)w;
	}
	return 0;
}

int st_patch_setup(struct st_platform *sp)
{
	sp->patch_fd = -1;
	if (!sp->patching)
		return 0;
	size_t size = ST_PTAB_SIZE + ST_TRAMP_AREA;
	int fd = memfd_create("cvisor-systrap-patch", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || fill_int3(fd) < 0)
		goto off;
	/* populated at once: touching each fresh page of it costs a fault (~10 us a page on a VM) */
	sp->patch_rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (sp->patch_rw == MAP_FAILED)
		goto off;
	/* The trampolines, R-X at the end of the window (stubs inherit it; the table they map themselves). */
	if (mmap((void *)(sp->base + sp->tramp_off), ST_TRAMP_AREA, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
		 fd, ST_PTAB_SIZE) == MAP_FAILED) {
		munmap(sp->patch_rw, size);
		goto off;
	}
	sp->patch_fd = fd;
	return 0;
off:
	if (fd >= 0)
		close(fd);
	sp->patch_rw = NULL;
	sp->patching = false;
	cv_log(CV_LOG_WARN, "systrap: no patch file, syscall-site patching is off");
	return 0;
}

void st_patch_teardown(struct st_platform *sp)
{
	if (sp->patch_rw)
		munmap(sp->patch_rw, ST_PTAB_SIZE + ST_TRAMP_AREA);
	if (sp->patch_fd >= 0)
		close(sp->patch_fd);
	sp->patch_rw = NULL;
	sp->patch_fd = -1;
}

/* The bytes 1..4 a half-written site loads into eax (its mov's immediate is then the jump's). */
static uint32_t patch_imm(uint32_t k)
{
	uint32_t ptr = (uint32_t)(ST_PTAB_ADDR + 8ull * k);
	return 0x2524u | (ptr & 0xffffu) << 16;
}

static int site_find(const struct st_platform *sp, uint64_t addr, int64_t nr)
{
	for (uint32_t h = site_hash(addr);; h = (h + 1) & (ST_PATCH_HASH - 1)) {
		int32_t k = sp->patch_hash[h] - 1;
		if (k < 0)
			return -1;
		if (sp->patch_site[k].addr == addr && (nr < 0 || sp->patch_site[k].nr == nr))
			return k;
	}
}

/* A new slot for site @addr: trampoline first, then the pointer to it. Caller holds patch_lock. */
static int site_add(struct st_platform *sp, uint64_t addr, uint32_t nr)
{
	if (sp->patch_n >= ST_PATCH_SITES)
		return -ENOSPC;
	uint32_t k = sp->patch_n++;
	uint64_t tramp = sp->base + sp->tramp_off + (uint64_t)k * ST_TRAMP_SIZE;
	uint64_t ret = addr + (nr == XOR_NR ? 4 : 7);
	int32_t rel = (int32_t)((int64_t)(sp->base + sp->ex->patched_entry) - (int64_t)(tramp + 20));
	uint8_t *t = sp->patch_rw + ST_PTAB_SIZE + (uint64_t)k * ST_TRAMP_SIZE;
	if (nr == DYN_NR) {
		memcpy(t, dyn_insn, 5); /* the displaced mov 0x8(%rsp),%r9; rax already holds the number */
	} else {
		uint32_t imm = nr == XOR_NR ? 0 : nr;
		t[0] = 0xb8; /* mov $nr, %eax (for the xor: the same eax; the flags are the cmp's after) */
		memcpy(t + 1, &imm, 4);
	}
	t[5] = 0x48; /* movabs $ret, %rcx */
	t[6] = 0xb9;
	memcpy(t + 7, &ret, 8);
	t[15] = 0xe9; /* jmp st_patched_entry */
	memcpy(t + 16, &rel, 4);
	__atomic_store_n((uint64_t *)sp->patch_rw + k, tramp, __ATOMIC_RELEASE);
	sp->patch_site[k].addr = addr;
	sp->patch_site[k].nr = nr;
	uint32_t h = site_hash(addr);
	while (sp->patch_hash[h] != 0)
		h = (h + 1) & (ST_PATCH_HASH - 1);
	sp->patch_hash[h] = (int32_t)k + 1;
	return (int)k;
}

/* Is the syscall that just returned to @rip with number @nr a patchable `mov $nr,%eax; syscall`? */
static bool site_bytes_ok(const uint8_t b[7], uint64_t nr)
{
	uint32_t imm;
	memcpy(&imm, b + 1, 4);
	return b[0] == 0xb8 && imm == nr && b[5] == site_insn[0] && b[6] == site_insn[1];
}

static bool site_dyn(const uint8_t b[7])
{
	return memcmp(b, dyn_insn, 5) == 0 && b[5] == site_insn[0] && b[6] == site_insn[1];
}

/* Is [@p, @p + @n) alignment padding: nops only (90, or 0f 1f with a zero address, 66/2e prefixed)? */
static bool all_nops(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && j - i < 14 && (p[j] == 0x66 || p[j] == 0x2e))
			j++;
		if (j < n && p[j] == 0x90) {
			i = j + 1;
			continue;
		}
		if (j + 2 >= n || p[j] != 0x0f || p[j + 1] != 0x1f)
			return false;
		unsigned m = p[j + 2], mod = m >> 6, rm = m & 7;
		if ((m & 0x38) || mod == 3 || (mod == 0 && rm == 5))
			return false;
		size_t k = j + 3, disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
		if (rm == 4 && (k >= n || p[k++] != 0))
			return false;
		for (size_t d = 0; d < disp; d++)
			if (k + d >= n || p[k + d] != 0)
				return false;
		i = k + disp;
	}
	return true;
}

/*
 * A read site of glibc's shape whose syscall ends at @rip: `xor %eax,%eax; syscall` at rip - 4, then
 * `cmp $-4096,%rax; ja err; ret` and the alignment padding up to the next 16-byte boundary, all in
 * one page; the padding, at least XOR_PAD_MIN bytes, in *@pad and *@padlen. The bytes from the site to
 * the boundary in @b (the site's own 4 and the padding are the caller's to judge).
 */
#define XOR_SPAN 32
static bool xor_layout(struct cv_as *as, uint64_t rip, uint8_t b[XOR_SPAN], uint64_t *pad, uint32_t *padlen)
{
	uint64_t site = rip - 4, page = site & ~(uint64_t)(PAGE_SIZE - 1);
	uint64_t start = site + 13, end = (start + 15) & ~15ull;
	if (rip < as->p->caps.min_user_addr + 4 || end > as->p->caps.max_user_addr ||
	    end - page > PAGE_SIZE || end - start < XOR_PAD_MIN ||
	    as_read_raw(as, site, b, end - site) != (long)(end - site))
		return false;
	if (memcmp(b + 4, xor_tail, sizeof(xor_tail)) != 0 || b[10] != 0x77 || b[12] != 0xc3)
		return false;
	*pad = start;
	*padlen = (uint32_t)(end - start);
	return true;
}

/* An unpatched read site of that shape, its padding still nops? */
static bool xor_candidate(struct cv_as *as, uint64_t rip)
{
	uint8_t b[XOR_SPAN];
	uint64_t pad;
	uint32_t padlen;
	return xor_layout(as, rip, b, &pad, &padlen) && memcmp(b, xor_insn, sizeof(xor_insn)) == 0 &&
	       all_nops(b + 13, padlen);
}

static bool site_shape_ok(const struct cv_as *as, uint64_t rip)
{
	uint64_t site = rip - 7;
	return rip >= as->p->caps.min_user_addr + 7 && rip < as->p->caps.max_user_addr &&
	       (site & ~(uint64_t)(PAGE_SIZE - 1)) == ((rip - 1) & ~(uint64_t)(PAGE_SIZE - 1));
}

bool st_patch_candidate(struct st_as *sas, struct cv_as *as, uint64_t rip, uint64_t nr)
{
	bool shape = site_shape_ok(as, rip);
	if (!sas->sp->patching || nr > 0xffff || (!shape && nr != 0))
		return false;
	_Atomic uint64_t *e = &sas->site_cache[(rip ^ rip >> 8) & (ST_SITE_CACHE - 1)];
	uint64_t v = atomic_load_explicit(e, memory_order_relaxed);
	if (v >> 17 == rip && (v & 0xffff) == nr)
		return (v >> 16) & 1;
	/* A site in a host file (code mapped from a program or library) was likely looked at already in
	 * another process of the same program: the verdict on its file position saves a pread. Only a
	 * hint either way, as this whole answer is (cv_as_patch_syscall() checks the bytes again): a file
	 * rewritten in place since costs a missed or a refused patch, never a wrong one. */
	uint64_t key[3], tag = 0;
	_Atomic uint64_t *g = NULL;
	if (as_file_position(as, rip - 7, 7, key)) {
		uint64_t h = key[0] * 0x9e3779b97f4a7c15ull;
		h = (h ^ key[1] ^ h >> 29) * 0xbf58476d1ce4e5b9ull;
		h = (h ^ key[2] ^ h >> 31) * 0x94d049bb133111ebull;
		h = (h ^ nr ^ h >> 32) * 0x9e3779b97f4a7c15ull;
		tag = (h & ~3ull) | 2;
		g = &sas->sp->site_verdicts[(h >> 40) & (ST_SITE_VERDICTS - 1)];
		uint64_t gv = atomic_load_explicit(g, memory_order_relaxed);
		if ((gv & ~1ull) == tag) {
			atomic_store_explicit(e, rip << 17 | (gv & 1) << 16 | nr, memory_order_relaxed);
			return gv & 1;
		}
	}
	uint8_t b[7];
	bool ok = (shape && as_read_raw(as, rip - 7, b, 7) == 7 && (site_bytes_ok(b, nr) || site_dyn(b))) ||
		  (nr == 0 && xor_candidate(as, rip));
	atomic_store_explicit(e, rip << 17 | (uint64_t)ok << 16 | nr, memory_order_relaxed);
	if (g)
		atomic_store_explicit(g, tag | ok, memory_order_relaxed);
	return ok;
}

/*
 * Patch the read site whose syscall ends at @rip (patch_lock held). Its 4 bytes cannot hold the 7-byte
 * jump, so the jump goes into the padding after the `ret` that follows (nobody runs padding), behind a
 * 2-byte jump over it for a thread that did fall in there, and the site's `xor %eax,%eax` becomes a
 * 2-byte jump to it. The `syscall` and everything after stay as they were: a restart (rip - 2) makes
 * the real syscall, a return comes back to the `cmp`. The order: the padding, byte 0 := 0x06 (a
 * thread arriving at the site traps: st_patch_sigill makes its read), every CPU running the address
 * space serialized (none still holds the old padding or the old first byte), byte 1, serialized
 * again, byte 0 := `eb`.
 */
static int patch_xor(struct st_platform *sp, struct cv_as *as, uint64_t rip)
{
	uint64_t site = rip - 4, pad;
	uint32_t padlen;
	uint8_t b[XOR_SPAN];
	if (!xor_layout(as, rip, b, &pad, &padlen))
		return -EINVAL;
	uint8_t rel = (uint8_t)(pad + 2 - (site + 2));
	int k = site_find(sp, site, XOR_NR);
	if (k >= 0)
		return b[0] == 0xeb && b[1] == rel ? 0 : -EINVAL; /* done, or a write failed: leave it */
	if (memcmp(b, xor_insn, sizeof(xor_insn)) != 0 || !all_nops(b + 13, padlen))
		return -EINVAL;
	if (as_write_memfile(as, pad, b + 13, 1) != 1) /* (the same byte: is it memory-file backed?) */
		return -EFAULT; /* no: never written */
	k = site_add(sp, site, XOR_NR);
	if (k < 0)
		return k;
	uint32_t ptr = (uint32_t)(ST_PTAB_ADDR + 8ull * (uint32_t)k);
	const uint8_t jmp[XOR_PAD_MIN] = { 0xeb, (uint8_t)(padlen - 2), 0xff, 0x24, 0x25, (uint8_t)ptr,
					   (uint8_t)(ptr >> 8), (uint8_t)(ptr >> 16), (uint8_t)(ptr >> 24) };
	static const uint8_t trap = TRAP_BYTE, short_jmp = 0xeb;
	if (as_write_memfile(as, pad + 2, jmp + 2, 7) != 7 || as_write_memfile(as, pad, jmp, 2) != 2 ||
	    as_write_memfile(as, site, &trap, 1) != 1 || as_serialize_page(as, site) < 0 ||
	    as_write_memfile(as, site + 1, &rel, 1) != 1 || as_serialize_page(as, site) < 0 ||
	    as_write_memfile(as, site, &short_jmp, 1) != 1)
		return -EFAULT;
	return 0;
}

int st_as_patch_syscall(struct cv_as *as, uint64_t rip)
{
	struct st_as *sas = as->priv;
	struct st_platform *sp = sas->sp;
	if (!sp->patching)
		return -EOPNOTSUPP;
	if (atomic_load(&sas->dead))
		return -CV_EASDEAD;
	uint8_t x[4];
	if (as_read_raw(as, rip - 4, x, 4) == 4 && x[2] == site_insn[0] && x[3] == site_insn[1] &&
	    (memcmp(x, xor_insn, 2) == 0 || x[0] == 0xeb || x[0] == TRAP_BYTE)) {
		pthread_mutex_lock(&sp->patch_lock); /* (a mov site ends `xx 00 0f 05`: never these) */
		int r = patch_xor(sp, as, rip);
		pthread_mutex_unlock(&sp->patch_lock);
		return r;
	}
	if (!site_shape_ok(as, rip))
		return -EINVAL;
	uint64_t site = rip - 7;
	uint8_t b[7];
	int ret = 0;
	pthread_mutex_lock(&sp->patch_lock);
	if (as_read_raw(as, site, b, 7) != 7) {
		ret = -EINVAL;
		goto out;
	}
	uint32_t nr;
	memcpy(&nr, b + 1, 4);
	if (b[0] == 0xff && b[1] == 0x24 && b[2] == 0x25) {
		uint32_t ptr;
		memcpy(&ptr, b + 3, 4);
		uint64_t k = (ptr - ST_PTAB_ADDR) / 8;
		if (ptr >= ST_PTAB_ADDR && ptr % 8 == 0 && k < sp->patch_n && sp->patch_site[k].addr == site)
			goto out; /* already patched */
		ret = -EINVAL;
		goto out;
	}
	bool dyn = site_dyn(b);
	if (!dyn && (!site_bytes_ok(b, nr) || nr > 0xffff)) {
		ret = -EINVAL;
		goto out;
	}
	if (dyn)
		nr = DYN_NR;
	int k = site_find(sp, site, nr);
	if (k < 0)
		k = site_add(sp, site, nr);
	if (k < 0) {
		ret = k;
		goto out;
	}
	/* Order matters: the syscall opcode first (0x06: a thread past the mov now faults), then the
	 * middle (the site still starts with b8: a 5-byte mov, then the 0x06), then the jump's opcode. */
	uint32_t ptr = (uint32_t)(ST_PTAB_ADDR + 8ull * (uint32_t)k);
	uint8_t jmp[7] = { 0xff, 0x24, 0x25, (uint8_t)ptr, (uint8_t)(ptr >> 8), (uint8_t)(ptr >> 16), (uint8_t)(ptr >> 24) };
	if (as_write_memfile(as, site + 5, jmp + 5, 1) != 1) {
		ret = -EFAULT; /* not memory-file backed: never written */
		goto out;
	}
	/* A syscall(3) site's first instruction is no harmless mov $imm: the first byte traps before the
	 * middle changes (st_patch_sigill runs the displaced mov for a thread that meets it). A thread on
	 * another CPU may have fetched the old first byte and not yet the rest (the site can straddle a
	 * fetch block): it would decode the old opcode with the new bytes, another instruction. So, as
	 * Linux's text_poke_bp, every CPU running this address space is serialized after the trap byte
	 * and after the middle (a remap of the page: its TLB shootdown interrupts them). */
	static const uint8_t trap = TRAP_BYTE;
	if ((dyn && (as_write_memfile(as, site, &trap, 1) != 1 || as_serialize_page(as, site) < 0)) ||
	    as_write_memfile(as, site + 1, jmp + 1, 4) != 4 || as_write_memfile(as, site + 6, jmp + 6, 1) != 1 ||
	    (dyn && as_serialize_page(as, site) < 0) || as_write_memfile(as, site, jmp, 1) != 1)
		ret = -EFAULT;
out:
	pthread_mutex_unlock(&sp->patch_lock);
	return ret;
}

/* Is @site a syscall(3) site in the table (patch_lock held)? */
static bool dyn_site_known(const struct st_platform *sp, uint64_t site)
{
	for (uint32_t h = site_hash(site);; h = (h + 1) & (ST_PATCH_HASH - 1)) {
		int32_t k = sp->patch_hash[h] - 1;
		if (k < 0)
			return false;
		if (sp->patch_site[k].addr == site && sp->patch_site[k].nr == DYN_NR)
			return true;
	}
}

/* A thread met the trap byte at the start of a syscall(3) site being patched: do what the site did,
 * `mov 0x8(%rsp),%r9` (on a stack it cannot read, the program's own fault is its SIGILL), then the
 * syscall with its rax. The patch may be finished by now (its byte is the jump's again): a known
 * site's first byte faults for no other reason. */
static bool dyn_site_trap(struct st_platform *sp, struct cv_as *as, struct cv_regs *r)
{
	uint8_t b;
	uint64_t v;
	if (as_read_raw(as, r->rip, &b, 1) != 1 || (b != TRAP_BYTE && b != 0xff))
		return false;
	pthread_mutex_lock(&sp->patch_lock);
	bool known = dyn_site_known(sp, r->rip);
	pthread_mutex_unlock(&sp->patch_lock);
	if (!known || as_read_raw(as, r->rsp + 8, &v, 8) != 8)
		return false;
	r->r9 = v;
	r->orig_rax = r->rax;
	r->rip += 7;
	r->rcx = r->rip;
	r->r11 = r->eflags;
	return true;
}

/* A thread met the trap byte at the start of a read site being patched: make its read (eax 0, as its
 * `xor` would have), returning after the syscall — also when the patch finished before the sentry
 * looked (the byte is `eb` again: a registered site's start faults for no other reason). */
static bool xor_site_trap(struct st_platform *sp, struct cv_as *as, struct cv_regs *r)
{
	uint8_t b;
	if (as_read_raw(as, r->rip, &b, 1) != 1 || (b != TRAP_BYTE && b != 0xeb))
		return false;
	pthread_mutex_lock(&sp->patch_lock);
	bool known = site_find(sp, r->rip, XOR_NR) >= 0;
	pthread_mutex_unlock(&sp->patch_lock);
	if (!known)
		return false;
	r->rax = r->orig_rax = 0;
	r->rip += 4;
	r->rcx = r->rip;
	r->r11 = r->eflags;
	return true;
}

bool st_patch_sigill(struct st_platform *sp, struct cv_as *as, struct cv_regs *r)
{
	if (!sp->patching || r->cs != CV_USER_CS || r->rip < 5)
		return false;
	if (dyn_site_trap(sp, as, r) || xor_site_trap(sp, as, r))
		return true;
	uint64_t site = r->rip - 5;
	uint8_t b[6];
	if (as_read_raw(as, site, b, 6) != 6 || b[5] != TRAP_BYTE || /* (also the finished jump's byte 5) */
	    (b[0] != 0xb8 && b[0] != 0xff && b[0] != dyn_insn[0] && b[0] != TRAP_BYTE))
		return false;
	bool found = false;
	pthread_mutex_lock(&sp->patch_lock);
	for (uint32_t h = site_hash(site);; h = (h + 1) & (ST_PATCH_HASH - 1)) {
		int32_t k = sp->patch_hash[h] - 1;
		if (k < 0)
			break;
		if (sp->patch_site[k].addr != site)
			continue;
		found = true;
		if (sp->patch_site[k].nr != DYN_NR && r->rax == patch_imm((uint32_t)k)) /* the half-written mov */
			r->rax = sp->patch_site[k].nr;
	}
	pthread_mutex_unlock(&sp->patch_lock);
	if (!found)
		return false;
	/* The syscall this thread was about to make with its rax (a restart, or past the old mov). */
	r->orig_rax = r->rax;
	r->rip += 2;
	r->rcx = r->rip;
	r->r11 = r->eflags;
	return true;
}

int st_as_prefork(struct cv_as *as)
{
	struct st_as *sas = as->priv;
	pthread_mutex_lock(&sas->sp->patch_lock); /* a fork never copies a half-written site */
	return 0;
}

int st_as_postfork(struct cv_as *as)
{
	struct st_as *sas = as->priv;
	pthread_mutex_unlock(&sas->sp->patch_lock);
	return 0;
}
