/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kvm backend, "exit per trap": application threads run in guest ring 3 of one VM on page tables
 * this backend builds; every syscall, exception and interrupt of theirs ends in a guest `hlt` at a
 * per-vector stub, which exits KVM_RUN to the host thread that switched the context. Guest ring 0
 * runs nothing else.
 *
 * Guest-physical layout:
 *   [0, 2 MiB)           the kernel area (slot 0): IDT, the stubs, the kernel half's page tables,
 *                        then per vCPU a GDT+TSS page and a ring-0 stack page
 *   [2 MiB, 1 GiB)       page-table pages, in 2 MiB chunks (one memory slot each)
 *   [1 GiB, ...)         windows onto files: a memory file's whole reservation (one slot), or a
 *                        host mapping of another file's range (one slot each)
 * Guest-virtual: the application half as the sentry maps it; the kernel area at KVM_KBASE
 * (PML4 entry 256), supervisor-only; nothing else.
 */
#ifndef CV_KVM_INTERNAL_H
#define CV_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "internal.h"

#define KVM_PAGE 4096ull
#define KVM_KAREA_SIZE (2ull << 20)
#define KVM_PT_BASE (2ull << 20)
#define KVM_PT_CHUNK (2ull << 20)
#define KVM_PT_LIMIT ((1ull << 30) - (2ull << 20)) /* the last 2 MiB: the zap slot's page */
#define KVM_ZAP_GPA ((1ull << 30) - KVM_PAGE)
#define KVM_WIN_BASE (1ull << 30)
#define KVM_KBASE 0xffff800000000000ull
#define KVM_FREE_SLOTS 64

/* Kernel-area pages (page index within the area). */
#define KP_IDT 0
#define KP_STUBS 1      /* 256 vectors x 16 bytes */
#define KP_ENTRY 2      /* syscall (LSTAR) and compat syscall (CSTAR) entries */
#define KP_PDPT 3       /* kernel half: PDPT -> PD -> PT, one of each (2 MiB) */
#define KP_PD 4
#define KP_PT 5
#define KP_VCPU0 8      /* per vCPU: GDT+TSS page, then the ring-0 stack page */
#define KVM_MAX_VCPUS ((int)((KVM_KAREA_SIZE / KVM_PAGE - KP_VCPU0) / 2))

#define KVM_STUB_SIZE 16
#define KVM_LSTAR (KVM_KBASE + KP_ENTRY * KVM_PAGE)
#define KVM_CSTAR (KVM_LSTAR + 64)

/* GDT selectors, as Linux numbers them (user code/data are the ones cv_cpu_state carries). */
#define KSEL_CS 0x10
#define KSEL_DS 0x18
#define KSEL_TSS 0x40

/* A guest-physical window onto a file. */
struct kvm_window {
	uint64_t gpa, size;     /* [gpa, gpa+size) */
	void *host;             /* our own shared mapping of the file, which the slot points at */
	uint32_t slot;
	bool memfile;           /* a memory file's: spans its whole reservation */
	bool writable;          /* the slot may be written (else KVM_MEM_READONLY) */
	uint64_t dev, ino;      /* the file */
	uint64_t off;           /* file offset at gpa */
	uint64_t pages;         /* page-table entries pointing into it, over all address spaces */
	struct kvm_window *next;
};

struct kvm_vcpu;

struct kvm_plat {
	struct cv_platform *p;
	int kvm_fd, vm_fd;
	size_t run_size;
	bool int80;             /* int $0x80 reaches the sentry as a 32-bit syscall (as on the host) */
	bool vsyscall;          /* the host maps the vsyscall page: calls into it are emulated, else SIGSEGV */
	bool umip;              /* the host kernel keeps CR4.UMIP: so does the guest (where the policy has it) */
	uint64_t xcr0;
	uint32_t phys_bits;
	bool pvm;               /* the host's KVM is PVM (guest ring 0 emulated; its own trap quirks) */
	bool shadow;            /* KVM shadows the guest's page tables (PVM, npt/ept off): see kvm_zap() */
	void *zap_page;

	pthread_mutex_t lock;   /* slots, windows, page-table pages, vCPU list */
	pthread_cond_t vcpu_freed;
	atomic_int waiters;     /* threads waiting for a free vCPU */
	uint8_t *karea;         /* host view of the kernel area */
	uint32_t next_slot;
	uint32_t free_slots[64]; /* slot ids of deleted windows, used again */
	uint32_t n_free_slots;
	struct kvm_window *windows;
	uint8_t **pt_chunks;    /* host views of page-table chunks, by (gpa - KVM_PT_BASE) / KVM_PT_CHUNK */
	size_t n_pt_chunks;
	uint64_t *pt_free;      /* free page-table pages (gpa) */
	size_t n_pt_free, cap_pt_free;

	struct kvm_vcpu *vcpus[KVM_MAX_VCPUS];
	int n_vcpus, max_vcpus;
	int next_vcpu_id;       /* KVM vCPU ids are never reused */
	int max_vcpu_id;
	struct kvm_vcpu *retired;           /* replaced vCPUs, freed at close */
};

/* Per address space. */
struct kvm_as {
	struct kvm_plat *kp;
	uint64_t pml4;          /* gpa */
	uint64_t serial;        /* unique over the platform's life (a freed PML4 page is reused) */
	_Atomic uint64_t gen;   /* bumped when a translation is removed or narrowed */
};

struct kvm_vcpu {
	struct kvm_plat *kp;
	int index, fd, id;
	struct kvm_run *run;
	pthread_mutex_t lock;           /* held while a host thread uses it */
	_Atomic int tid;                /* host thread in KVM_RUN on it, 0 if none */
	_Atomic uint64_t runs;          /* KVM_RUN returns so far */
	atomic_int in_guest;            /* in KVM_RUN, or about to enter it */
	atomic_int kicked;              /* kvm_kick() since its last interrupt exit */
	struct cv_as *_Atomic cur_as;   /* the address space it runs, while it does */
	const struct x86_cpuid_policy *cpuid_from;
	struct cv_ctx *fp_owner;        /* whose XSAVE state the vCPU holds (guarded by lock) */
	uint64_t last_serial, last_gen; /* translations it may cache: this address space's */
	uint64_t last_pml4;
	uint64_t cr3_flip;              /* toggled (PWT) to make KVM drop the guest's TLB */
	bool retired;                   /* made for an older CPUID policy */
	bool run_mask_set;
	uint64_t run_mask;              /* signals blocked in KVM_RUN (a thread's mask less the kick) */
	struct kvm_vcpu *next_retired;
};

struct kvm_ctx {
	struct kvm_vcpu *fp_vcpu;       /* holds this context's XSAVE state, or NULL (under its lock) */
	struct kvm_vcpu *last;          /* the vCPU it ran on last (a hint) */
	uint64_t zapped_at;             /* the fault address a shadow zap was last retried for, + 1 */
	uint64_t stray_at;              /* the rip a stray PVM entry fault was last run on from, + 1 */
};

static inline struct kvm_plat *kvm_plat(struct cv_platform *p)
{
	return p->priv;
}

/* kvm_mem.c */
int kvm_mem_init(struct kvm_plat *kp);
void kvm_mem_fini(struct kvm_plat *kp);
void *kvm_karea_page(struct kvm_plat *kp, unsigned page);
int kvm_as_new(struct cv_as *as);
int kvm_as_map(struct cv_as *as, uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access, bool precommit);
int kvm_as_unmap(struct cv_as *as, uint64_t addr, uint64_t len);
void kvm_as_release(struct cv_as *as);
/* Does @as's table map @addr (as->lock held, or a racy answer)? */
bool kvm_pte_present(struct cv_as *as, uint64_t addr);

/* kvm_vcpu.c */
int kvm_vcpu_setup_tables(struct kvm_plat *kp);
int kvm_vcpus_init(struct kvm_plat *kp);
void kvm_vcpus_fini(struct kvm_plat *kp);
int kvm_ctx_new(struct cv_ctx *ctx);
void kvm_ctx_release(struct cv_ctx *ctx);
int kvm_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit);
void kvm_kick(struct cv_platform *p, uint64_t target);
int kvm_ctx_pull(struct cv_ctx *ctx);
/* Make every vCPU running @as leave the guest and drop its cached translations before it goes on. */
void kvm_shootdown(struct kvm_plat *kp, struct cv_as *as);
/* Under shadow paging, make KVM drop every shadow page (it never sees the host's writes to guest page
 * tables): delete and re-add a one-page slot no guest touches (x86 KVM zaps all shadows then). */
void kvm_zap(struct kvm_plat *kp);

#endif
