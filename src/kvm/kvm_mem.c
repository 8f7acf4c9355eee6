// SPDX-License-Identifier: Apache-2.0
// kvm backend memory: the kernel area, page-table pages, guest-physical windows onto files, and the
// page tables of each address space (built here, walked by the guest's MMU).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kvm/kvm_internal.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
#define TABLE_FLAGS (PTE_P | PTE_W | PTE_U | PTE_A) /* upper levels: the leaf decides */

static int set_slot(struct kvm_plat *kp, uint32_t slot, uint64_t gpa, uint64_t size, void *host, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

void *kvm_karea_page(struct kvm_plat *kp, unsigned page)
{
	return kp->karea + (uint64_t)page * KVM_PAGE;
}

/* The host view of page-table page @gpa. */
static uint64_t *pt_host(struct kvm_plat *kp, uint64_t gpa)
{
	uint64_t rel = gpa - KVM_PT_BASE;
	return (uint64_t *)(kp->pt_chunks[rel / KVM_PT_CHUNK] + rel % KVM_PT_CHUNK);
}

/* A zeroed page-table page (kp->lock held), or 0 when out of memory or guest-physical room. */
static uint64_t pt_alloc_locked(struct kvm_plat *kp)
{
	if (kp->n_pt_free == 0) {
		uint64_t gpa = KVM_PT_BASE + kp->n_pt_chunks * KVM_PT_CHUNK;
		if (gpa + KVM_PT_CHUNK > KVM_PT_LIMIT)
			return 0;
		size_t npages = KVM_PT_CHUNK / KVM_PAGE;
		size_t all = (kp->n_pt_chunks + 1) * npages; /* every page may come back to the list */
		if (kp->cap_pt_free < all) {
			uint64_t *f = realloc(kp->pt_free, all * sizeof(*f));
			if (!f)
				return 0;
			kp->pt_free = f;
			kp->cap_pt_free = all;
		}
		uint8_t **c = realloc(kp->pt_chunks, (kp->n_pt_chunks + 1) * sizeof(*c));
		if (!c)
			return 0;
		kp->pt_chunks = c;
		void *host = mmap(NULL, KVM_PT_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (host == MAP_FAILED)
			return 0;
		if (set_slot(kp, kp->next_slot, gpa, KVM_PT_CHUNK, host, 0) < 0) {
			munmap(host, KVM_PT_CHUNK);
			return 0;
		}
		kp->next_slot++;
		c[kp->n_pt_chunks++] = host;
		for (size_t i = npages; i-- > 0;)
			kp->pt_free[kp->n_pt_free++] = gpa + i * KVM_PAGE;
	}
	uint64_t gpa = kp->pt_free[--kp->n_pt_free];
	memset(pt_host(kp, gpa), 0, KVM_PAGE);
	return gpa;
}

static uint64_t pt_alloc(struct kvm_plat *kp)
{
	pthread_mutex_lock(&kp->lock);
	uint64_t gpa = pt_alloc_locked(kp);
	pthread_mutex_unlock(&kp->lock);
	return gpa;
}

static void pt_free_locked(struct kvm_plat *kp, uint64_t gpa)
{
	kp->pt_free[kp->n_pt_free++] = gpa; /* room: every page came from a chunk the array covers */
}

/* Kernel area: IDT, stubs, the kernel half's tables; vCPU pages are filled by kvm_vcpu.c. */
int kvm_mem_init(struct kvm_plat *kp)
{
	kp->karea = mmap(NULL, KVM_KAREA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (kp->karea == MAP_FAILED) {
		kp->karea = NULL;
		return -ENOMEM;
	}
	int ret = set_slot(kp, 0, 0, KVM_KAREA_SIZE, kp->karea, 0);
	if (ret < 0)
		return ret;
	kp->next_slot = 2; /* 0: the kernel area, 1: the zap page */
	kp->zap_page = mmap(NULL, KVM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (kp->zap_page == MAP_FAILED) {
		kp->zap_page = NULL;
		return -ENOMEM;
	}
	ret = set_slot(kp, 1, KVM_ZAP_GPA, KVM_PAGE, kp->zap_page, 0);
	if (ret < 0)
		return ret;
	memset(kvm_karea_page(kp, KP_STUBS), 0xf4, KVM_PAGE); /* hlt everywhere */
	memset(kvm_karea_page(kp, KP_ENTRY), 0xf4, KVM_PAGE);
	uint64_t *pdpt = kvm_karea_page(kp, KP_PDPT), *pd = kvm_karea_page(kp, KP_PD);
	pdpt[0] = KP_PD * KVM_PAGE | PTE_P | PTE_W | PTE_A;
	pd[0] = KP_PT * KVM_PAGE | PTE_P | PTE_W | PTE_A;
	uint64_t *pt = kvm_karea_page(kp, KP_PT);
	pt[KP_IDT] = KP_IDT * KVM_PAGE | PTE_P | PTE_A | PTE_NX;
	pt[KP_STUBS] = KP_STUBS * KVM_PAGE | PTE_P | PTE_A;
	pt[KP_ENTRY] = KP_ENTRY * KVM_PAGE | PTE_P | PTE_A;
	for (unsigned pg = KP_VCPU0; pg < KVM_KAREA_SIZE / KVM_PAGE; pg++)
		pt[pg] = (uint64_t)pg * KVM_PAGE | PTE_P | PTE_W | PTE_A | PTE_D | PTE_NX;
	return 0;
}

void kvm_zap(struct kvm_plat *kp)
{
	if (!kp->shadow)
		return;
	pthread_mutex_lock(&kp->lock);
	if (set_slot(kp, 1, KVM_ZAP_GPA, 0, kp->zap_page, 0) < 0 ||
	    set_slot(kp, 1, KVM_ZAP_GPA, KVM_PAGE, kp->zap_page, 0) < 0)
		cv_debug("kvm: the zap slot could not be reloaded: %s", strerror(errno));
	pthread_mutex_unlock(&kp->lock);
}

void kvm_mem_fini(struct kvm_plat *kp)
{
	for (struct kvm_window *w = kp->windows, *next; w; w = next) {
		next = w->next;
		munmap(w->host, w->size);
		free(w);
	}
	kp->windows = NULL;
	for (size_t i = 0; i < kp->n_pt_chunks; i++)
		munmap(kp->pt_chunks[i], KVM_PT_CHUNK);
	free(kp->pt_chunks);
	free(kp->pt_free);
	if (kp->karea)
		munmap(kp->karea, KVM_KAREA_SIZE);
	if (kp->zap_page)
		munmap(kp->zap_page, KVM_PAGE);
}

/* ---- windows ---- */

/* The lowest guest-physical range of @size at @align above KVM_WIN_BASE that no window uses
 * (kp->lock held): windows come and go, their room is used again. */
static uint64_t gpa_fit(struct kvm_plat *kp, uint64_t size, uint64_t align)
{
	uint64_t at = KVM_WIN_BASE;
	for (bool moved = true; moved;) {
		moved = false;
		at = (at + align - 1) & ~(align - 1);
		for (struct kvm_window *w = kp->windows; w; w = w->next)
			if (at < w->gpa + w->size && w->gpa < at + size) {
				at = w->gpa + w->size;
				moved = true;
				break;
			}
	}
	return at;
}

/* The window holding page @off of the file (@dev, @ino), made if needed (kp->lock held). For a memory
 * file it spans the whole reservation; for another file, [@off, @off + @len) of a host mapping. */
static struct kvm_window *window_get_locked(struct kvm_plat *kp, int fd, uint64_t dev, uint64_t ino, uint64_t off,
					    uint64_t len, bool write, int *err)
{
	for (struct kvm_window *w = kp->windows; w; w = w->next) {
		if (w->dev != dev || w->ino != ino)
			continue;
		if (w->memfile && (w->writable || !write))
			return w;
		if (off >= w->off && off + len <= w->off + w->size && (w->writable || !write))
			return w;
	}
	struct kvm_window *w = calloc(1, sizeof(*w));
	if (!w) {
		*err = -ENOMEM;
		return NULL;
	}
	w->dev = dev;
	w->ino = ino;
	void *base;
	uint64_t size;
	uint32_t flags = 0;
	/* A memory file's window spans its whole reservation (any offset it hands out); another
	 * file's, the range asked for. Either way the mapping is our own, so the file stays alive and
	 * its owner may close or unmap it whenever it likes. */
	struct cv_memfile *mf = memfile_acquire_ino(dev, ino, &base, &size);
	if (mf) {
		w->memfile = true;
		w->off = 0;
		w->size = memfile_max_size(mf);
		memfile_release(mf);
	} else {
		w->off = off;
		w->size = len;
	}
	int fl = fcntl(fd, F_GETFL);
	w->writable = fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
	w->host = mmap(NULL, w->size, PROT_READ | (w->writable ? PROT_WRITE : 0), MAP_SHARED | MAP_NORESERVE, fd,
		       (off_t)w->off);
	if (w->host == MAP_FAILED) {
		*err = errno == EACCES ? -EACCES : errno == ENODEV ? -ENODEV : -ENOMEM;
		free(w);
		return NULL;
	}
	if (!w->writable)
		flags = KVM_MEM_READONLY;
	uint64_t align = w->memfile ? (1ull << 30) : (2ull << 20);
	w->gpa = gpa_fit(kp, w->size, align);
	int ret = -ENOMEM;
	uint32_t slot = kp->n_free_slots ? kp->free_slots[--kp->n_free_slots] : kp->next_slot++;
	if (w->gpa + w->size <= (1ull << kp->phys_bits))
		ret = set_slot(kp, slot, w->gpa, w->size, w->host, flags);
	if (ret < 0)
		kp->free_slots[kp->n_free_slots++] = slot;
	if (ret < 0) {
		munmap(w->host, w->size);
		free(w);
		*err = ret == -EEXIST || ret == -EINVAL ? -ENOMEM : ret;
		return NULL;
	}
	w->slot = slot;
	w->next = kp->windows;
	kp->windows = w;
	return w;
}

/* The window a leaf's frame @gpa lies in (kp->lock held). */
static struct kvm_window *window_of_locked(struct kvm_plat *kp, uint64_t gpa)
{
	for (struct kvm_window *w = kp->windows; w; w = w->next)
		if (gpa >= w->gpa && gpa < w->gpa + w->size)
			return w;
	return NULL;
}

/* Drop windows no page table points into any more (kp->lock held; after any shootdown). Their
 * slots are deleted; a memory file's reservation is given back to it. */
static void windows_trim_locked(struct kvm_plat *kp)
{
	for (struct kvm_window **pw = &kp->windows; *pw;) {
		struct kvm_window *w = *pw;
		if (w->pages) {
			pw = &w->next;
			continue;
		}
		set_slot(kp, w->slot, w->gpa, 0, w->host, 0);
		munmap(w->host, w->size);
		if (kp->n_free_slots < KVM_FREE_SLOTS)
			kp->free_slots[kp->n_free_slots++] = w->slot;
		*pw = w->next;
		free(w);
	}
}

/* ---- page tables ---- */

static uint64_t leaf_bits(unsigned access)
{
	uint64_t v = PTE_P | PTE_U | PTE_A;
	if (access & CV_ACCESS_WRITE)
		v |= PTE_W | PTE_D;
	if (!(access & CV_ACCESS_EXEC))
		v |= PTE_NX;
	return v;
}

/* The PTE slot of @addr in @pml4, allocating tables on the way; NULL without memory. */
static uint64_t *pte_slot(struct kvm_plat *kp, uint64_t pml4, uint64_t addr)
{
	uint64_t table = pml4;
	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t *e = pt_host(kp, table) + ((addr >> shift) & 511);
		if (!(*e & PTE_P)) {
			uint64_t g = pt_alloc(kp);
			if (!g)
				return NULL;
			__atomic_store_n(e, g | TABLE_FLAGS, __ATOMIC_RELEASE);
		}
		table = *e & PTE_ADDR;
	}
	return pt_host(kp, table) + ((addr >> 12) & 511);
}

/*
 * Clear the leaves of [@addr, @end) under @table (a table of level @shift: 39 = PML4), skipping
 * absent subtrees whole; count what each window loses in its pages. Returns the number of present
 * leaves cleared. kp->lock held.
 */
static uint64_t clear_range(struct kvm_plat *kp, uint64_t table, int shift, uint64_t addr, uint64_t end)
{
	uint64_t cleared = 0;
	uint64_t span = 1ull << shift;
	while (addr < end) {
		uint64_t next = (addr & ~(span - 1)) + span;
		if (next > end || next == 0)
			next = end;
		uint64_t *e = pt_host(kp, table) + ((addr >> shift) & 511);
		uint64_t v = *e;
		if (v & PTE_P) {
			if (shift == 12) {
				__atomic_store_n(e, 0, __ATOMIC_RELEASE);
				struct kvm_window *w = window_of_locked(kp, v & PTE_ADDR);
				if (w)
					w->pages--;
				cleared++;
			} else {
				cleared += clear_range(kp, v & PTE_ADDR, shift - 9, addr, next);
			}
		}
		addr = next;
	}
	return cleared;
}

/* Free the tables under @table (level @shift) and @table itself (kp->lock held). Leaves must be clear
 * of window pages already (or the windows are going anyway). */
static void free_tables(struct kvm_plat *kp, uint64_t table, int shift, bool top)
{
	if (shift > 12) {
		uint64_t *t = pt_host(kp, table);
		for (int i = 0; i < (top ? 256 : 512); i++)
			if (t[i] & PTE_P)
				free_tables(kp, t[i] & PTE_ADDR, shift - 9, false);
	}
	pt_free_locked(kp, table);
}

bool kvm_pte_present(struct cv_as *as, uint64_t addr)
{
	struct kvm_as *ka = as->priv;
	uint64_t table = ka->pml4;
	for (int shift = 39; shift >= 12; shift -= 9) {
		uint64_t e = __atomic_load_n(pt_host(ka->kp, table) + ((addr >> shift) & 511), __ATOMIC_ACQUIRE);
		if (!(e & PTE_P))
			return false;
		table = e & PTE_ADDR;
	}
	return true;
}

int kvm_as_new(struct cv_as *as)
{
	struct kvm_plat *kp = kvm_plat(as->p);
	struct kvm_as *ka = calloc(1, sizeof(*ka));
	if (!ka)
		return -ENOMEM;
	ka->kp = kp;
	ka->pml4 = pt_alloc(kp);
	if (!ka->pml4) {
		free(ka);
		return -ENOMEM;
	}
	/* the kernel half: supervisor-only, the same in every address space */
	pt_host(kp, ka->pml4)[256] = KP_PDPT * KVM_PAGE | PTE_P | PTE_W | PTE_A;
	static _Atomic uint64_t serial;
	ka->serial = atomic_fetch_add(&serial, 1) + 1;
	as->priv = ka;
	return 0;
}

int kvm_as_unmap(struct cv_as *as, uint64_t addr, uint64_t len)
{
	struct kvm_as *ka = as->priv;
	struct kvm_plat *kp = ka->kp;
	pthread_mutex_lock(&kp->lock);
	uint64_t n = clear_range(kp, ka->pml4, 39, addr, addr + len);
	pthread_mutex_unlock(&kp->lock);
	if (n) {
		atomic_fetch_add(&ka->gen, 1);
		kvm_shootdown(kp, as);
		pthread_mutex_lock(&kp->lock);
		windows_trim_locked(kp);
		pthread_mutex_unlock(&kp->lock);
	}
	return 0;
}

int kvm_as_map(struct cv_as *as, uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access, bool precommit)
{
	struct kvm_as *ka = as->priv;
	struct kvm_plat *kp = ka->kp;
	if (!access)
		return kvm_as_unmap(as, addr, len);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -EBADF;
	int ret = 0;
	pthread_mutex_lock(&kp->lock);
	struct kvm_window *w = window_get_locked(kp, fd, st.st_dev, st.st_ino, off, len, access & CV_ACCESS_WRITE, &ret);
	if (!w) {
		pthread_mutex_unlock(&kp->lock);
		return ret;
	}
	uint64_t base = w->gpa + (off - w->off);
	uint64_t bits = leaf_bits(access);
	uint64_t maplen = len;
	if (!w->memfile) { /* pages past the end of the file stay out: their faults give SIGBUS */
		uint64_t eof = ((uint64_t)st.st_size + KVM_PAGE - 1) & ~(KVM_PAGE - 1);
		maplen = off >= eof ? 0 : eof - off < len ? eof - off : len;
	}
	w->pages++; /* held while we work unlocked: nothing trims it */
	pthread_mutex_unlock(&kp->lock);
	if (maplen < len)
		ret = kvm_as_unmap(as, addr + maplen, len - maplen);
	/* Each entry is replaced in one store, so a thread running meanwhile sees the old page or the
	 * new one, never a hole; the replaced ones are counted out of their windows after. */
	uint64_t done = 0, replaced = 0;
	bool narrowed = false;
	uint64_t *old = calloc(maplen / KVM_PAGE + 1, sizeof(*old));
	for (; old && ret == 0 && done < maplen; done += KVM_PAGE) {
		uint64_t *e = pte_slot(kp, ka->pml4, addr + done);
		if (!e)
			break;
		uint64_t was = __atomic_exchange_n(e, (base + done) | bits, __ATOMIC_ACQ_REL);
		if (was & PTE_P) {
			old[replaced++] = was;
			if ((was & PTE_ADDR) != base + done || ((was & PTE_W) && !(bits & PTE_W)) ||
			    (!(was & PTE_NX) && (bits & PTE_NX)))
				narrowed = true;
		}
	}
	if (precommit && done) /* fault the memory in on the host now */
		madvise((uint8_t *)w->host + (off - w->off), done, (access & CV_ACCESS_WRITE) && w->writable ? 23 : 22);
	pthread_mutex_lock(&kp->lock);
	w->pages += done / KVM_PAGE;
	w->pages--;
	for (uint64_t i = 0; i < replaced; i++) {
		struct kvm_window *ow = window_of_locked(kp, old[i] & PTE_ADDR);
		if (ow)
			ow->pages--;
	}
	pthread_mutex_unlock(&kp->lock);
	free(old);
	if (narrowed) {
		atomic_fetch_add(&ka->gen, 1);
		kvm_shootdown(kp, as);
	}
	if (replaced) {
		pthread_mutex_lock(&kp->lock);
		windows_trim_locked(kp);
		pthread_mutex_unlock(&kp->lock);
	}
	if (ret == 0 && done < maplen) {
		kvm_as_unmap(as, addr, len);
		return -ENOMEM;
	}
	return ret;
}

void kvm_as_release(struct cv_as *as)
{
	struct kvm_as *ka = as->priv;
	if (!ka)
		return;
	struct kvm_plat *kp = ka->kp;
	pthread_mutex_lock(&kp->lock);
	uint64_t n = clear_range(kp, ka->pml4, 39, 0, 1ull << 47);
	pthread_mutex_unlock(&kp->lock);
	if (n)
		atomic_fetch_add(&ka->gen, 1);
	kvm_shootdown(kp, as); /* nothing runs it (the common layer checked); vCPUs forget it */
	pthread_mutex_lock(&kp->lock);
	free_tables(kp, ka->pml4, 39, true);
	windows_trim_locked(kp);
	pthread_mutex_unlock(&kp->lock);
	free(ka);
	as->priv = NULL;
}
