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
	uint64_t ret = addr + 7;
	int32_t rel = (int32_t)((int64_t)(sp->base + sp->ex->patched_entry) - (int64_t)(tramp + 20));
	uint8_t *t = sp->patch_rw + ST_PTAB_SIZE + (uint64_t)k * ST_TRAMP_SIZE;
	if (nr == DYN_NR) {
		memcpy(t, dyn_insn, 5); /* the displaced mov 0x8(%rsp),%r9; rax already holds the number */
	} else {
		t[0] = 0xb8; /* mov $nr, %eax */
		memcpy(t + 1, &nr, 4);
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

static bool site_shape_ok(const struct cv_as *as, uint64_t rip)
{
	uint64_t site = rip - 7;
	return rip >= as->p->caps.min_user_addr + 7 && rip < as->p->caps.max_user_addr &&
	       (site & ~(uint64_t)(PAGE_SIZE - 1)) == ((rip - 1) & ~(uint64_t)(PAGE_SIZE - 1));
}

bool st_patch_candidate(struct st_as *sas, struct cv_as *as, uint64_t rip, uint64_t nr)
{
	if (!sas->sp->patching || nr > 0xffff || !site_shape_ok(as, rip))
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
	bool ok = as_read_raw(as, rip - 7, b, 7) == 7 && (site_bytes_ok(b, nr) || site_dyn(b));
	atomic_store_explicit(e, rip << 17 | (uint64_t)ok << 16 | nr, memory_order_relaxed);
	if (g)
		atomic_store_explicit(g, tag | ok, memory_order_relaxed);
	return ok;
}

int st_as_patch_syscall(struct cv_as *as, uint64_t rip)
{
	struct st_as *sas = as->priv;
	struct st_platform *sp = sas->sp;
	if (!sp->patching)
		return -EOPNOTSUPP;
	if (atomic_load(&sas->dead))
		return -CV_EASDEAD;
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

bool st_patch_sigill(struct st_platform *sp, struct cv_as *as, struct cv_regs *r)
{
	if (!sp->patching || r->cs != CV_USER_CS || r->rip < 5)
		return false;
	if (dyn_site_trap(sp, as, r))
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
