// SPDX-License-Identifier: Apache-2.0
// kvm backend vCPUs: a pool the switching host threads draw from (a thread keeps the one it used
// last), CPU tables per vCPU (GDT, TSS, ring-0 stack), CPUID from the platform's policy, XSAVE state
// kept in the vCPU until another context needs it, kicks (immediate_exit and a signal only KVM_RUN
// takes), and translation shootdowns after an unmap.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/stat.h>
#include "arch/x86_64/arch.h"
#include "core/maptable.h"
#include "kvm/kvm_internal.h"

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_TSC_AUX 0xc0000103

#define EFLAGS_USER 0x240dd5ull /* CF PF AF ZF SF TF DF OF AC ID: what user code may hold */
#define EFLAGS_FIXED 0x202ull   /* IF and the always-one bit */

static pthread_once_t sig_once = PTHREAD_ONCE_INIT;
static int kick_signal;

static void pick_signal(void)
{
	kick_signal = SIGRTMAX - 1; /* blocked in switching threads; only KVM_RUN ever takes it */
}

static uint64_t vcpu_page(const struct kvm_vcpu *v, int which)
{
	return KP_VCPU0 + 2ull * (uint64_t)v->index + (uint64_t)which;
}

/* GDT (Linux's selector numbers) and TSS in the vCPU's first page; RSP0 at the top of its stack page. */
static void fill_tables(struct kvm_vcpu *v)
{
	struct kvm_plat *kp = v->kp;
	uint64_t *gdt = kvm_karea_page(kp, (unsigned)vcpu_page(v, 0));
	memset(gdt, 0, KVM_PAGE);
	gdt[KSEL_CS >> 3] = 0x00af9b000000ffffull;
	gdt[KSEL_DS >> 3] = 0x00cf93000000ffffull;
	gdt[CV_USER32_CS >> 3] = 0x00cffb000000ffffull;
	gdt[CV_USER_DS >> 3] = 0x00cff3000000ffffull;
	gdt[CV_USER_CS >> 3] = 0x00affb000000ffffull;
	uint64_t tss_va = KVM_KBASE + vcpu_page(v, 0) * KVM_PAGE + 0x800;
	gdt[KSEL_TSS >> 3] = 0x67 | (tss_va & 0xffffff) << 16 | 0x89ull << 40 | ((tss_va >> 24) & 0xff) << 56;
	gdt[(KSEL_TSS >> 3) + 1] = tss_va >> 32;
	uint8_t *tss = (uint8_t *)gdt + 0x800;
	uint64_t rsp0 = KVM_KBASE + (vcpu_page(v, 1) + 1) * KVM_PAGE;
	memcpy(tss + 4, &rsp0, 8);
	uint16_t iomap = 0x68; /* past the limit: no I/O bitmap */
	memcpy(tss + 102, &iomap, 2);
}

/* Fill the IDT: interrupt gates to the stubs; user code may reach int3 (and int $0x80 where the host
 * runs it); every other vector from user code raises #GP, as on Linux. */
int kvm_vcpu_setup_tables(struct kvm_plat *kp)
{
	uint64_t *idt = kvm_karea_page(kp, KP_IDT);
	for (int vec = 0; vec < 256; vec++) {
		uint64_t target = KVM_KBASE + KP_STUBS * KVM_PAGE + (uint64_t)vec * KVM_STUB_SIZE;
		unsigned dpl = vec == 3 || vec == 4 || (vec == 0x80 && kp->int80) ? 3 : 0;
		idt[2 * vec] = (target & 0xffff) | (uint64_t)KSEL_CS << 16 | (uint64_t)(0x8e | dpl << 5) << 40 |
			       ((target >> 16) & 0xffff) << 48;
		idt[2 * vec + 1] = target >> 32;
	}
	return 0;
}

static struct kvm_segment seg(uint16_t sel, bool code, bool l, unsigned dpl)
{
	struct kvm_segment s = { .base = 0, .limit = 0xffffffff, .selector = sel, .present = 1, .dpl = (uint8_t)dpl,
				 .s = 1, .g = 1 };
	s.type = code ? 0xb : 0x3;
	s.l = l;
	s.db = !l;
	return s;
}

static const struct x86_cpuid_policy *current_policy(struct cv_platform *p)
{
	struct cv_cpuid_entry e;
	if (!atomic_load(&p->cpuid))
		platform_cpuid(p, 0, 0, &e); /* builds the default */
	return atomic_load(&p->cpuid);
}

/* KVM's CPUID table for @pol: the policy's entries, with KVM's flags for leaves indexed by subleaf. */
static struct kvm_cpuid2 *cpuid_table(struct kvm_plat *kp, const struct x86_cpuid_policy *pol)
{
	size_t n = 0;
	const struct cv_cpuid_entry *e = pol ? x86_cpuid_policy_entries(pol, &n) : NULL;
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + (n + 1) * sizeof(t->entries[0]));
	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *k = &t->entries[t->nent++];
		k->function = e[i].leaf;
		k->index = e[i].subleaf;
		k->eax = e[i].eax;
		k->ebx = e[i].ebx;
		k->ecx = e[i].ecx;
		k->edx = e[i].edx;
		if (e[i].flags & CV_CPUID_SIGNIFICANT_INDEX)
			k->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	}
	(void)kp;
	return t;
}

static bool table_bit(const struct kvm_cpuid2 *t, uint32_t leaf, int reg, int bit)
{
	for (uint32_t i = 0; i < t->nent; i++) {
		const struct kvm_cpuid_entry2 *k = &t->entries[i];
		if (k->function == leaf && k->index == 0) {
			uint32_t r[4] = { k->eax, k->ebx, k->ecx, k->edx };
			return r[reg] >> bit & 1;
		}
	}
	return false;
}

static uint64_t table_xcr0(const struct kvm_cpuid2 *t)
{
	for (uint32_t i = 0; i < t->nent; i++)
		if (t->entries[i].function == 0xd && t->entries[i].index == 0)
			return t->entries[i].eax | (uint64_t)t->entries[i].edx << 32;
	return 3;
}

static void vcpu_destroy(struct kvm_vcpu *v)
{
	if (v->run)
		munmap(v->run, v->kp->run_size);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* A new vCPU in slot @index for the current CPUID policy (kp->lock held). */
static int vcpu_create(struct kvm_plat *kp, int index, struct kvm_vcpu **out)
{
	if (kp->next_vcpu_id >= kp->max_vcpu_id)
		return -EAGAIN;
	struct kvm_vcpu *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->kp = kp;
	v->index = index;
	v->fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	int ret = -EIO;
	v->id = kp->next_vcpu_id++;
	v->fd = ioctl(kp->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->id);
	if (v->fd < 0) {
		ret = errno == EINVAL || errno == EEXIST ? -EAGAIN : -errno;
		goto fail;
	}
	v->run = mmap(NULL, kp->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		ret = -ENOMEM;
		goto fail;
	}
	const struct x86_cpuid_policy *pol = current_policy(kp->p);
	struct kvm_cpuid2 *t = cpuid_table(kp, pol);
	if (!t) {
		ret = -ENOMEM;
		goto fail;
	}
	v->cpuid_from = pol;
	bool xsave = table_bit(t, 1, 2, 26);
	/* UMIP as the host kernel keeps it: sgdt/sidt/smsw/sldt/str then fault as they do natively */
	bool fsgs = table_bit(t, 7, 1, 0), umip = table_bit(t, 7, 2, 2) && kp->umip;
	uint64_t xcr0 = (kp->xcr0 & table_xcr0(t)) | 3;
	if (ioctl(v->fd, KVM_SET_CPUID2, t) < 0) {
		cv_debug("kvm: KVM_SET_CPUID2: %s", strerror(errno));
		free(t);
		goto fail;
	}
	free(t);
	fill_tables(v);
	union {
		struct kvm_msrs h;
		uint8_t b[sizeof(struct kvm_msrs) + 5 * sizeof(struct kvm_msr_entry)];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.h.nmsrs = 5;
	struct kvm_msr_entry *me = (struct kvm_msr_entry *)(msrs.b + sizeof(struct kvm_msrs));
	me[0] = (struct kvm_msr_entry){ .index = MSR_STAR, .data = (uint64_t)KSEL_CS << 32 | (uint64_t)(CV_USER32_CS) << 48 };
	me[1] = (struct kvm_msr_entry){ .index = MSR_LSTAR, .data = KVM_LSTAR };
	me[2] = (struct kvm_msr_entry){ .index = MSR_CSTAR, .data = KVM_CSTAR };
	me[3] = (struct kvm_msr_entry){ .index = MSR_SFMASK, .data = 0x47700 }; /* TF IF DF IOPL NT AC */
	me[4] = (struct kvm_msr_entry){ .index = MSR_TSC_AUX, .data = 0 };
	if (ioctl(v->fd, KVM_SET_MSRS, &msrs.h) != 5) {
		cv_debug("kvm: KVM_SET_MSRS: %s", strerror(errno));
		goto fail;
	}
	struct kvm_sregs sr;
	if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		goto fail;
	sr.cr0 = 0x80050033; /* PG AM WP NE ET MP PE */
	sr.cr4 = 0x20 | 0x200 | 0x400 | (xsave ? 0x40000 : 0) | (fsgs ? 0x10000 : 0) | (umip ? 0x800 : 0);
	sr.efer = 0xd01; /* NXE LMA LME SCE */
	sr.cs = seg(KSEL_CS, true, true, 0);
	sr.ss = sr.ds = sr.es = sr.fs = sr.gs = seg(KSEL_DS, false, false, 0);
	sr.gdt.base = KVM_KBASE + vcpu_page(v, 0) * KVM_PAGE;
	sr.gdt.limit = 16 * 8 - 1;
	sr.idt.base = KVM_KBASE + KP_IDT * KVM_PAGE;
	sr.idt.limit = 256 * 16 - 1;
	sr.tr = (struct kvm_segment){ .base = sr.gdt.base + 0x800, .limit = 0x67, .selector = KSEL_TSS, .type = 11,
				      .present = 1 };
	sr.ldt = (struct kvm_segment){ .unusable = 1 };
	sr.cr3 = KP_PDPT * KVM_PAGE; /* replaced at the first switch */
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0) {
		cv_debug("kvm: KVM_SET_SREGS: %s", strerror(errno));
		goto fail;
	}
	if (xsave) {
		struct kvm_xcrs x = { .nr_xcrs = 1, .xcrs[0] = { .xcr = 0, .value = xcr0 } };
		if (ioctl(v->fd, KVM_SET_XCRS, &x) < 0) {
			cv_debug("kvm: KVM_SET_XCRS %#llx: %s", (unsigned long long)xcr0, strerror(errno));
			goto fail;
		}
	}
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	v->run->s.regs.sregs = sr; /* what the first switch edits (KVM fills it only after a run) */
	*out = v;
	return 0;
fail:
	if (ret == -EIO)
		cv_debug("kvm: vCPU %d set-up failed", v->id);
	vcpu_destroy(v);
	return ret;
}

void kvm_vcpus_fini(struct kvm_plat *kp)
{
	for (int i = 0; i < kp->n_vcpus; i++)
		if (kp->vcpus[i])
			vcpu_destroy(kp->vcpus[i]);
	kp->n_vcpus = 0;
	while (kp->retired) {
		struct kvm_vcpu *v = kp->retired;
		kp->retired = v->next_retired;
		vcpu_destroy(v);
	}
}

static int fp_evict(struct kvm_vcpu *v);

static __thread struct kvm_vcpu *tl_last;
static __thread const struct kvm_plat *tl_plat;
static __thread bool tl_blocked;

/* The vCPUs: made at open, a fixed pool (KVM never frees a vCPU before its VM, nor reuses an id). */
int kvm_vcpus_init(struct kvm_plat *kp)
{
	pthread_once(&sig_once, pick_signal);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus > 2 ? 2 * (int)cpus : 4;
	if (want > kp->max_vcpus)
		want = kp->max_vcpus;
	pthread_mutex_lock(&kp->lock);
	int ret = 0;
	while (kp->n_vcpus < want) {
		struct kvm_vcpu *v;
		ret = vcpu_create(kp, kp->n_vcpus, &v);
		if (ret < 0)
			break;
		kp->vcpus[kp->n_vcpus++] = v;
	}
	pthread_mutex_unlock(&kp->lock);
	return kp->n_vcpus ? 0 : ret < 0 ? ret : -EIO;
}

/*
 * A vCPU for this thread, locked: the one it used last if free, else any free one, else wait. A
 * waiter that waits a time slice kicks a running vCPU, whose thread then gives it up (time-sharing
 * when more threads run guest code than there are vCPUs). One made for an older CPUID policy is
 * replaced first (KVM fixes CPUID at a vCPU's first run).
 */
static int vcpu_acquire(struct kvm_plat *kp, struct kvm_vcpu **out)
{
	const struct x86_cpuid_policy *pol = current_policy(kp->p);
	struct kvm_vcpu *v = tl_plat == kp ? tl_last : NULL;
	if (v && v->cpuid_from == pol && !atomic_load(&kp->waiters) && pthread_mutex_trylock(&v->lock) == 0) {
		*out = v;
		return 0;
	}
	pthread_mutex_lock(&kp->lock);
	for (int round = 0;; round++) {
		for (int i = 0; i < kp->n_vcpus; i++) {
			v = kp->vcpus[i];
			if (pthread_mutex_trylock(&v->lock) != 0)
				continue;
			if (v->cpuid_from != pol) {
				struct kvm_vcpu *nv;
				if (vcpu_create(kp, i, &nv) < 0) {
					pthread_mutex_unlock(&v->lock);
					continue;
				}
				fp_evict(v); /* its context's state goes with it */
				close(v->fd); /* the kvm_run mapping stays: a late kick may still write to it */
				v->fd = -1;
				v->retired = true;
				v->next_retired = kp->retired;
				kp->retired = v;
				pthread_mutex_unlock(&v->lock);
				pthread_mutex_lock(&nv->lock);
				__atomic_store_n(&kp->vcpus[i], nv, __ATOMIC_RELEASE);
				v = nv;
			}
			pthread_mutex_unlock(&kp->lock);
			tl_last = v;
			tl_plat = kp;
			*out = v;
			return 0;
		}
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += 10 * 1000 * 1000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		atomic_fetch_add(&kp->waiters, 1);
		int w = pthread_cond_timedwait(&kp->vcpu_freed, &kp->lock, &dl);
		atomic_fetch_sub(&kp->waiters, 1);
		if (w == ETIMEDOUT) { /* a slice passed: ask one running vCPU to make room */
			struct kvm_vcpu *victim = kp->vcpus[(unsigned)round % (unsigned)kp->n_vcpus];
			int tid = atomic_load(&victim->tid);
			if (tid) {
				__atomic_store_n(&victim->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
				syscall(SYS_tgkill, getpid(), tid, kick_signal);
			}
		}
	}
}

static void vcpu_release(struct kvm_plat *kp, struct kvm_vcpu *v)
{
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_lock(&kp->lock);
	pthread_cond_signal(&kp->vcpu_freed);
	pthread_mutex_unlock(&kp->lock);
}

int kvm_ctx_new(struct cv_ctx *ctx)
{
	ctx->priv = calloc(1, sizeof(struct kvm_ctx));
	return ctx->priv ? 0 : -ENOMEM;
}

/* Save the XSAVE state vCPU @v holds into its owner's state (v->lock held). */
static int fp_evict(struct kvm_vcpu *v)
{
	struct cv_ctx *o = v->fp_owner;
	if (!o)
		return 0;
	struct kvm_xsave xs;
	int ret = 0;
	if (ioctl(v->fd, KVM_GET_XSAVE, &xs) < 0) {
		ret = -EIO;
	} else {
		uint32_t n = o->state.xsave_size < sizeof(xs.region) ? o->state.xsave_size : sizeof(xs.region);
		memcpy(o->state.xsave, xs.region, n);
	}
	struct kvm_ctx *kc = o->priv;
	__atomic_store_n(&kc->fp_vcpu, NULL, __ATOMIC_RELEASE);
	v->fp_owner = NULL;
	return ret;
}

/*
 * Get @ctx's XSAVE state out of the vCPU holding it. Waits without holding any vCPU: a vCPU another
 * thread holds is either about to evict its old owner (every switch does before it runs anything) or
 * already has, so the wait is short and cannot close a cycle.
 */
static struct kvm_vcpu *lock_fp_holder(struct kvm_ctx *kc)
{
	for (;;) {
		struct kvm_vcpu *v = __atomic_load_n(&kc->fp_vcpu, __ATOMIC_ACQUIRE);
		if (!v || pthread_mutex_trylock(&v->lock) == 0)
			return v;
		sched_yield();
	}
}

int kvm_ctx_pull(struct cv_ctx *ctx)
{
	struct kvm_vcpu *v = lock_fp_holder(ctx->priv);
	if (!v)
		return 0;
	int ret = v->fp_owner == ctx ? fp_evict(v) : 0;
	pthread_mutex_unlock(&v->lock);
	return ret;
}

void kvm_ctx_release(struct cv_ctx *ctx)
{
	struct kvm_ctx *kc = ctx->priv;
	struct kvm_vcpu *v = lock_fp_holder(kc);
	if (v) {
		if (v->fp_owner == ctx) {
			v->fp_owner = NULL;
			kc->fp_vcpu = NULL;
		}
		pthread_mutex_unlock(&v->lock);
	}
	free(kc);
	ctx->priv = NULL;
}

void kvm_kick(struct cv_platform *p, uint64_t target)
{
	struct kvm_plat *kp = kvm_plat(p);
	int idx = (int)(target & 0xffff) - 1;
	if (idx < 0 || idx >= KVM_MAX_VCPUS)
		return;
	struct kvm_vcpu *v = __atomic_load_n(&kp->vcpus[idx], __ATOMIC_ACQUIRE);
	int tid = (int)(target >> 32);
	if (!v || !tid)
		return;
	atomic_store(&v->kicked, 1); /* an interrupt exit, even where none is pending (preempt_all) */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_tgkill, getpid(), tid, kick_signal);
}

void kvm_shootdown(struct kvm_plat *kp, struct cv_as *as)
{
	kvm_zap(kp); /* first: a vCPU kicked below must not come back to a stale shadow */
	for (int i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *v = __atomic_load_n(&kp->vcpus[i], __ATOMIC_ACQUIRE);
		if (!v || atomic_load(&v->cur_as) != as || !atomic_load(&v->in_guest))
			continue;
		uint64_t runs = atomic_load(&v->runs);
		int tid = atomic_load(&v->tid);
		if (!tid)
			continue;
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_tgkill, getpid(), tid, kick_signal);
		/* only guest mode matters: a thread out of it (maybe waiting for the lock our caller
		 * holds) reads the new generation before it enters again */
		while (atomic_load(&v->in_guest) && atomic_load(&v->runs) == runs)
			sched_yield();
	}
}

/* Drain a kick that is pending for this thread (it is blocked outside KVM_RUN). */
static void drain_kick(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, kick_signal);
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&s, NULL, &zero) > 0)
		;
}

/*
 * The kick signal is blocked in a switching thread, and KVM_RUN runs with the thread's own mask less
 * that signal (KVM_SET_SIGNAL_MASK, set on the vCPU when another thread's mask was there): a kick
 * interrupts only KVM_RUN and never runs a handler, while the caller's own signals (and their
 * handlers, which may call cv_ctx_interrupt()) reach the thread in the guest as anywhere else. The
 * mask is the one the thread had at its first switch.
 */
static __thread uint64_t tl_run_mask;

static void block_kick(void)
{
	if (tl_blocked)
		return;
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, kick_signal);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	uint64_t m = 0;
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(&old, sig) == 1)
			m |= 1ull << (sig - 1);
	tl_run_mask = m & ~(1ull << (kick_signal - 1));
	tl_blocked = true;
}

static int set_run_mask(struct kvm_vcpu *v)
{
	if (v->run_mask_set && v->run_mask == tl_run_mask)
		return 0;
	union {
		struct kvm_signal_mask h;
		uint8_t b[sizeof(struct kvm_signal_mask) + 8];
	} sm;
	sm.h.len = 8;
	memcpy(sm.b + sizeof(struct kvm_signal_mask), &tl_run_mask, 8);
	if (ioctl(v->fd, KVM_SET_SIGNAL_MASK, &sm.h) < 0)
		return -EIO;
	v->run_mask = tl_run_mask;
	v->run_mask_set = true;
	return 0;
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* The vCPU's registers and segments for running @ctx's application state in @as. */
static int load_state(struct kvm_vcpu *v, struct cv_ctx *ctx, struct cv_as *as)
{
	const struct cv_regs *r = &ctx->state.regs;
	if (!canonical(r->fs_base) || !canonical(r->gs_base) || r->fs_base >= (1ull << 47) ||
	    r->gs_base >= (1ull << 47))
		return -EINVAL;
	struct kvm_regs *g = &v->run->s.regs.regs;
	g->rax = r->rax;
	g->rbx = r->rbx;
	g->rcx = r->rcx;
	g->rdx = r->rdx;
	g->rsi = r->rsi;
	g->rdi = r->rdi;
	g->rsp = r->rsp;
	g->rbp = r->rbp;
	g->r8 = r->r8;
	g->r9 = r->r9;
	g->r10 = r->r10;
	g->r11 = r->r11;
	g->r12 = r->r12;
	g->r13 = r->r13;
	g->r14 = r->r14;
	g->r15 = r->r15;
	g->rip = r->rip;
	g->rflags = (r->eflags & EFLAGS_USER) | EFLAGS_FIXED;
	struct kvm_sregs *s = &v->run->s.regs.sregs;
	bool compat = r->cs == CV_USER32_CS;
	s->cs = seg(compat ? CV_USER32_CS : CV_USER_CS, true, !compat, 3);
	s->ss = seg(CV_USER_DS, false, false, 3);
	struct kvm_segment null = { .unusable = 1 };
	s->ds = s->es = null;
	s->fs = null;
	s->fs.base = r->fs_base;
	s->gs = null;
	s->gs.base = r->gs_base;
	struct kvm_as *ka = as->priv;
	uint64_t gen = atomic_load(&ka->gen);
	if ((v->last_serial == ka->serial && v->last_gen != gen) ||
	    (v->last_serial != ka->serial && v->last_pml4 == ka->pml4))
		v->cr3_flip ^= 0x8; /* a CR3 that differs from the last makes KVM flush the guest's TLB */
	s->cr3 = ka->pml4 | v->cr3_flip;
	v->last_serial = ka->serial;
	v->last_gen = gen;
	v->last_pml4 = ka->pml4;
	v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	return 0;
}

/* Application registers back from the vCPU (rsp, rip and rflags as given). */
static void save_regs(struct kvm_vcpu *v, struct cv_ctx *ctx, uint64_t rip, uint64_t rsp, uint64_t rflags, uint64_t cs)
{
	const struct kvm_regs *g = &v->run->s.regs.regs;
	struct cv_regs *r = &ctx->state.regs;
	r->rax = g->rax;
	r->rbx = g->rbx;
	r->rcx = g->rcx;
	r->rdx = g->rdx;
	r->rsi = g->rsi;
	r->rdi = g->rdi;
	r->rbp = g->rbp;
	r->r8 = g->r8;
	r->r9 = g->r9;
	r->r10 = g->r10;
	r->r11 = g->r11;
	r->r12 = g->r12;
	r->r13 = g->r13;
	r->r14 = g->r14;
	r->r15 = g->r15;
	r->rip = rip;
	r->rsp = rsp;
	r->eflags = rflags;
	r->cs = (cs & 0xffff) == CV_USER32_CS ? CV_USER32_CS : CV_USER_CS; /* 32-bit code or 64-bit */
	const struct kvm_sregs *s = &v->run->s.regs.sregs;
	r->fs_base = s->fs.base;
	r->gs_base = s->gs.base;
}

static void set_signal(struct cv_exit *exit, int sig, int code, uint64_t addr)
{
	exit->reason = CV_EXIT_SIGNAL;
	exit->info.si_signo = sig;
	exit->info.si_code = code;
	exit->info.si_addr = (void *)(uintptr_t)addr;
}

#define VSYSCALL_ADDR 0xffffffffff600000ull

/* The si_code of a floating-point exception, from the unmasked flags raised (Linux's order). */
static int fpu_code(const uint8_t *xsave, bool simd)
{
	uint16_t cwd, swd;
	uint32_t mxcsr;
	memcpy(&cwd, xsave, 2);
	memcpy(&swd, xsave + 2, 2);
	memcpy(&mxcsr, xsave + 24, 4);
	unsigned err = simd ? (mxcsr & 0x3f) & ~((mxcsr >> 7) & 0x3f) : (swd & ~cwd) & 0x3f;
	if (err & 0x01)
		return FPE_FLTINV;
	if (err & 0x04)
		return FPE_FLTDIV;
	if (err & 0x08)
		return FPE_FLTOVF;
	if (err & 0x12)
		return FPE_FLTUND;
	if (err & 0x20)
		return FPE_FLTRES;
	return 0;
}

/*
 * A page fault on a page the tables lack: is it mapped after all? An inaccessible mapping is an
 * access error (as Linux says for PROT_NONE); a file page left out because it lay past the end of the
 * file is mapped now if the file has grown (1: run again), else SIGBUS, as Linux.
 */
static int absent_page(struct cv_ctx *ctx, struct cv_as *as, uint64_t addr, int *sig, int *code)
{
	int ret = 0;
	struct kvm_ctx *kc = ctx->priv;
	pthread_mutex_lock(&as->lock);
	const struct as_mapping *m = maptable_find(as, addr);
	if (m && m->access && kvm_pte_present(as, addr)) {
		/* mapped, yet the vCPU saw nothing: a shadow page KVM built before the host's write (shadow
		 * paging only). Drop the shadows and run again, once per address. */
		if (kc->zapped_at != addr + 1 && kvm_plat(as->p)->shadow) {
			kc->zapped_at = addr + 1;
			pthread_mutex_unlock(&as->lock);
			kvm_zap(kvm_plat(as->p));
			return 1;
		}
	} else if (m && !m->access) {
		*code = SEGV_ACCERR;
	} else if (m && !m->ref->memfile) {
		uint64_t page = addr & ~(KVM_PAGE - 1);
		uint64_t off = m->offset + (page - m->start);
		struct stat st;
		if (fstat(m->ref->fd, &st) == 0 && off < (((uint64_t)st.st_size + KVM_PAGE - 1) & ~(KVM_PAGE - 1)))
			ret = kvm_as_map(as, page, m->ref->fd, off, KVM_PAGE, m->access, false) == 0 ? 1 : -ENOMEM;
		else
			*sig = SIGBUS, *code = BUS_ADRERR;
	}
	pthread_mutex_unlock(&as->lock);
	return ret;
}

/*
 * PVM: a ring-3 syscall jumps to LSTAR without entering ring 0; it is the syscall if the two bytes
 * before RCX are one (an application that jumps there itself only makes a syscall request of its own).
 */
static bool pvm_syscall(struct cv_as *as, struct cv_regs *r, struct cv_exit *exit)
{
	uint8_t insn[2];
	if (as_read_raw(as, r->rcx - 2, insn, 2) != 2 || insn[0] != 0x0f || insn[1] != 0x05)
		return false;
	r->rip = r->rcx;
	r->eflags = r->r11; /* the flags as the syscall found them, not the fault's (masked, RF) */
	r->orig_rax = r->rax;
	exit->reason = CV_EXIT_SYSCALL;
	return true;
}

/* An exception (vector @vec) the application took: its frame is on the vCPU's ring-0 stack. */
static int exception_exit(struct kvm_vcpu *v, struct cv_ctx *ctx, struct cv_as *as, int vec, struct cv_exit *exit)
{
	bool has_err = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30;
	const uint64_t *top = (const uint64_t *)((uint8_t *)kvm_karea_page(v->kp, (unsigned)vcpu_page(v, 1)) + KVM_PAGE);
	const uint64_t *f = top - 5; /* rip cs rflags rsp ss */
	uint64_t err = has_err ? f[-1] : 0;
	if ((f[1] & 3) != 3) {
		cv_debug("kvm: exception %d in ring 0 at %#llx (error %#llx)", vec, (unsigned long long)f[0],
			 (unsigned long long)err);
		return -EIO;
	}
	uint64_t rip = f[0], rflags = f[2], rsp = f[3];
	save_regs(v, ctx, rip, rsp, rflags, f[1]);
	struct cv_regs *r = &ctx->state.regs;
	uint64_t cr2 = v->run->s.regs.sregs.cr2;
	switch (vec) {
	case 0:
		set_signal(exit, SIGFPE, FPE_INTDIV, rip);
		break;
	case 1:
		set_signal(exit, SIGTRAP, (rflags & 0x100) ? TRAP_TRACE : TRAP_BRKPT, rip);
		break;
	case 3:
	case 4:
		set_signal(exit, vec == 3 ? SIGTRAP : SIGSEGV, SI_KERNEL, 0);
		break;
	case 6: {
		/* PVM delivers a software `int N` as #UD at the instruction, whatever the gate. `cd NN` is
		 * never #UD on hardware: give what the gate gives there (an application rewriting the bytes
		 * meanwhile only picks which of these answers it gets). */
		uint8_t b[2];
		if (as_read_raw(as, rip, b, 2) == 2 && b[0] == 0xcd) {
			r->eflags &= ~0x10000ull; /* RF: a fault's, not the int's */
			if (b[1] == 0x80 && v->kp->int80) {
				r->rip = rip + 2;
				r->orig_rax = r->rax;
				exit->reason = CV_EXIT_SYSCALL;
				exit->syscall_flags = CV_SYSCALL_COMPAT;
			} else if (b[1] == 3 || b[1] == 4) { /* user gates: traps, reported after it */
				r->rip = rip + 2;
				set_signal(exit, b[1] == 3 ? SIGTRAP : SIGSEGV, SI_KERNEL, 0);
			} else {
				set_signal(exit, SIGSEGV, SI_KERNEL, 0); /* #GP at the int, as Linux reports it */
			}
			break;
		}
		set_signal(exit, SIGILL, ILL_ILLOPN, rip);
		break;
	}
	case 16:
	case 19: {
		/* the state is in @v, whose lock we hold (kvm_ctx_pull() would wait for it forever) */
		int ret = v->fp_owner == ctx ? fp_evict(v) : 0;
		if (ret < 0)
			return ret;
		set_signal(exit, SIGFPE, fpu_code(ctx->state.xsave, vec == 19), rip);
		break;
	}
	case 17:
		set_signal(exit, SIGBUS, BUS_ADRALN, 0); /* Linux gives no address for #AC */
		break;
	case 11:
	case 12:
		set_signal(exit, SIGBUS, SI_KERNEL, 0);
		break;
	case 13:
		if (rip == KVM_LSTAR && v->kp->pvm && pvm_syscall(as, r, exit))
			return 0; /* PVM at times lets ring 3 fetch the entry page: its hlt is the #GP */
		if (err == 0 && v->kp->pvm) { /* PVM: some `int N` come as #GP(0) after the instruction */
			uint8_t b[2];
			if (as_read_raw(as, rip - 2, b, 2) == 2 && b[0] == 0xcd && b[1] != 3 && b[1] != 4 && b[1] != 0x80) {
				r->rip = rip - 2;
				r->eflags &= ~0x10000ull;
			}
		} else if ((err & 3) == 2) { /* a software `int N` at a gate the application may not use */
			/* Linux's rip is the int instruction, as hardware reports it with error code N*8+2.
			 * QEMU's emulated SVM (kvm-tcg) gives N*16+2 and the next instruction: accept both. */
			uint8_t b[2];
			uint64_t n8 = err >> 3, n16 = err >> 4;
			bool at = as_read_raw(as, rip, b, 2) == 2 && b[0] == 0xcd && (b[1] == n8 || b[1] == n16);
			if (!at && as_read_raw(as, rip - 2, b, 2) == 2 && b[0] == 0xcd && (b[1] == n8 || b[1] == n16))
				r->rip = rip - 2;
		}
		set_signal(exit, SIGSEGV, SI_KERNEL, 0);
		break;
	case 14: {
		if (rip == KVM_LSTAR && (err & 0x10) && pvm_syscall(as, r, exit))
			return 0;
		struct kvm_ctx *kc = ctx->priv;
		if (v->kp->pvm && (err & 0x10) && (cr2 == KVM_LSTAR || cr2 == KVM_CSTAR) && rip != cr2 &&
		    kc->stray_at != rip + 1) {
			/* PVM, rarely, while signals interrupt a busy loop (measured 2026-12-06: ~1 run in 50
			 * of tests/progs/timers.c): an instruction fetch fault at the entry page framed at an
			 * application address that fetched nothing of the kind. The frame holds the context
			 * as it stood: run on from it, once per address (a real fault there comes back). */
			kc->stray_at = rip + 1;
			return 1;
		}
		uint8_t sc[2];
		if ((rip == KVM_CSTAR && (err & 0x10)) ||
		    (v->kp->pvm && !(err & 4) && as_read_raw(as, r->rcx - 2, sc, 2) == 2 && sc[0] == 0x0f && sc[1] == 0x05)) {
			/* PVM: a syscall in 32-bit code, jumped to CSTAR in ring 3, or failed in its own
			 * delivery (a supervisor-mode fault, which nothing of ours in ring 0 makes; the frame
			 * is not the syscall's): reported as decode_exit does on hardware */
			r->rip = r->rcx;
			r->eflags = r->r11;
			r->cs = CV_USER32_CS;
			set_signal(exit, SIGILL, ILL_ILLOPN, 0);
			return 0;
		}
		if ((err & 0x10) && v->kp->vsyscall && (cr2 == VSYSCALL_ADDR || cr2 == VSYSCALL_ADDR + 0x400 || cr2 == VSYSCALL_ADDR + 0x800) &&
		    rip == cr2) {
			uint64_t ret_addr;
			if (as_read_raw(as, rsp, &ret_addr, 8) == 8) {
				static const int nr[] = { 96, 201, 309 }; /* gettimeofday, time, getcpu */
				r->orig_rax = (uint64_t)nr[(cr2 - VSYSCALL_ADDR) >> 10];
				r->rip = ret_addr;
				r->rsp = rsp + 8;
				exit->reason = CV_EXIT_SYSCALL;
				exit->syscall_flags = CV_SYSCALL_VSYSCALL;
				return 0;
			}
		}
		/* The kernel half (the backend's ring-0 area): nothing of the application's is there, so
		 * SEGV_MAPERR as Linux reports a user access to kernel addresses, present page or not. */
		int sig = SIGSEGV, code = (err & 1) && cr2 < KVM_KBASE ? SEGV_ACCERR : SEGV_MAPERR;
		if (!(err & 1)) {
			int r2 = absent_page(ctx, as, cr2, &sig, &code);
			if (r2)
				return r2;
		}
		set_signal(exit, sig, code, cr2);
		exit->access = (err & 0x10) ? CV_ACCESS_EXEC : (err & 2) ? CV_ACCESS_WRITE : CV_ACCESS_READ;
		break;
	}
	default:
		if (vec == 0x80 && v->kp->int80) { /* through its user gate: the host runs 32-bit syscalls */
			r->orig_rax = r->rax;
			exit->reason = CV_EXIT_SYSCALL;
			exit->syscall_flags = CV_SYSCALL_COMPAT;
			break;
		}
		uint8_t b[2];
		if (vec < 256 && as_read_raw(as, rip - 2, b, 2) == 2 && b[0] == 0xcd && b[1] == vec) {
			/* PVM delivers some software `int N` (N a reserved exception vector) through vector
			 * N, after the instruction: Linux's #GP reports it at the int */
			r->rip = rip - 2;
			r->eflags &= ~0x10000ull;
		} else if (vec == 2 || vec == 8 || vec == 18) {
			cv_debug("kvm: vector %d from the application", vec);
			return -EIO;
		}
		set_signal(exit, SIGSEGV, SI_KERNEL, 0);
		break;
	}
	return 0;
}

/*
 * Did KVM come back (a kick, a signal) with an exception of the application's taken but not yet
 * delivered into the guest's ring 0? It stays in the vCPU across KVM_SET_REGS/SREGS: the next context
 * run there would get it — another thread's page fault, its CR2 and all, reported as this one's
 * (kvm.as_threads_many_contexts_one_as under load, about 1 run in 40 with two spinning host
 * processes). Such an exit goes back in first, so that this context's handler takes it.
 */
static bool exception_undelivered(struct kvm_vcpu *v)
{
	struct kvm_vcpu_events ev;
	return ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == 0 && (ev.exception.injected || ev.exception.pending);
}

/*
 * The vCPU stopped in ring 0 at (or just after) a stub's hlt: what the application did. A kick can
 * stop it between an exception's delivery and the hlt, hence "at or just after".
 */
static int decode_exit(struct kvm_vcpu *v, struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit)
{
	const struct kvm_regs *g = &v->run->s.regs.regs;
	uint64_t stubs = KVM_KBASE + KP_STUBS * KVM_PAGE;
	if (g->rip >= stubs && g->rip < stubs + KVM_PAGE)
		return exception_exit(v, ctx, as, (int)((g->rip - stubs) / KVM_STUB_SIZE), exit);
	if (g->rip - KVM_LSTAR < 2) { /* syscall entered ring 0 (hardware-style virtualization) */
		save_regs(v, ctx, g->rcx, g->rsp, g->r11, CV_USER_CS);
		ctx->state.regs.orig_rax = g->rax;
		exit->reason = CV_EXIT_SYSCALL;
		return 0;
	}
	if (g->rip - KVM_CSTAR < 2) { /* a syscall in 32-bit code: reported as the other backends do */
		save_regs(v, ctx, g->rcx, g->rsp, g->r11, CV_USER32_CS);
		set_signal(exit, SIGILL, ILL_ILLOPN, 0);
		return 0;
	}
	cv_debug("kvm: ring 0 stopped at %#llx", (unsigned long long)g->rip);
	return -EIO;
}

/* Put @ctx's XSAVE state into @v (held): evict @v's old owner first, then fetch ours from wherever. */
static int fp_load(struct kvm_vcpu *v, struct cv_ctx *ctx)
{
	struct kvm_ctx *kc = ctx->priv;
	if (v->fp_owner == ctx && !ctx->fp_changed)
		return 0;
	int ret = v->fp_owner != ctx ? fp_evict(v) : 0;
	if (ret < 0)
		return ret;
	if (!ctx->fp_changed && v->fp_owner != ctx) {
		/* another vCPU holds it: as kvm_ctx_pull (we hold @v, but evicted it already) */
		struct kvm_vcpu *o = lock_fp_holder(kc);
		if (o) {
			ret = o->fp_owner == ctx ? fp_evict(o) : 0;
			pthread_mutex_unlock(&o->lock);
			if (ret < 0)
				return ret;
		}
	}
	struct kvm_xsave xs;
	memset(&xs, 0, sizeof(xs));
	uint32_t n = ctx->state.xsave_size < sizeof(xs.region) ? ctx->state.xsave_size : sizeof(xs.region);
	memcpy(xs.region, ctx->state.xsave, n);
	if (ioctl(v->fd, KVM_SET_XSAVE, &xs) < 0)
		return errno == EINVAL ? -EINVAL : -EIO;
	v->fp_owner = ctx;
	__atomic_store_n(&kc->fp_vcpu, v, __ATOMIC_RELEASE);
	ctx->fp_changed = false;
	return 0;
}

int kvm_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit)
{
	struct kvm_plat *kp = kvm_plat(ctx->p);
	pthread_once(&sig_once, pick_signal);
	block_kick();
	struct kvm_vcpu *v = NULL;
again:;
	int ret = vcpu_acquire(kp, &v);
	if (ret < 0)
		return ret == -EAGAIN ? -EIO : ret;
	ret = fp_load(v, ctx);
	if (ret == 0)
		ret = set_run_mask(v);
	if (ret < 0)
		goto out;
	uint64_t rip = ctx->state.regs.rip;
	if (!canonical(rip) || rip >= (1ull << 47)) {
		set_signal(exit, SIGSEGV, SI_KERNEL, 0); /* Linux's return to user mode faults alike */
		goto out;
	}
	int tid = host_gettid();
	atomic_store(&v->tid, tid);
	atomic_store(&v->cur_as, as);
	atomic_store(ctx->run_word, (uint64_t)(uint32_t)tid << 32 | (uint64_t)(v->index + 1));
	bool deliver = false; /* exception_undelivered(): run before anything else */
	for (;;) {
		/* in guest mode from here (before the generation is read: pairs with kvm_shootdown) */
		atomic_store(&v->in_guest, 1);
		ret = load_state(v, ctx, as);
		if (ret < 0 || (!deliver && atomic_exchange(&ctx->irq_pending, 0))) {
			atomic_store(&v->in_guest, 0);
			if (ret == 0)
				exit->reason = CV_EXIT_INTERRUPT;
			break;
		}
		deliver = false;
		int r = ioctl(v->fd, KVM_RUN, 0);
		int err = errno;
		atomic_store(&v->in_guest, 0);
		atomic_fetch_add(&v->runs, 1);
		if ((r < 0 && (err == EINTR || err == EAGAIN)) || (r == 0 && v->run->exit_reason == KVM_EXIT_INTR)) {
			/* a kick or a shootdown: where did it leave the application? */
			__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			drain_kick();
			const struct kvm_regs *g = &v->run->s.regs.regs;
			if ((v->run->s.regs.sregs.cs.selector & 3) != 3) {
				ret = decode_exit(v, ctx, as, exit); /* it had trapped already */
				if (ret == 1) {
					ret = 0;
					continue;
				}
				break;
			}
			save_regs(v, ctx, g->rip, g->rsp, g->rflags, v->run->s.regs.sregs.cs.selector);
			if (g->rip == KVM_LSTAR && kp->pvm && pvm_syscall(as, &ctx->state.regs, exit))
				break; /* caught between PVM's jump to LSTAR and its fault there: the syscall */
			if (exception_undelivered(v)) {
				deliver = true;
				continue;
			}
			if (atomic_exchange(&v->kicked, 0)) { /* cv_ctx_interrupt() or preempt_all */
				atomic_store(&ctx->irq_pending, 0);
				exit->reason = CV_EXIT_INTERRUPT;
				break;
			}
			if (atomic_load(&kp->waiters) && !atomic_load(&ctx->irq_pending)) {
				ret = 2; /* another thread waits for a vCPU: give this one up for a while */
				break;
			}
			continue; /* an interrupt request is seen at the top; a shootdown's flush too */
		}
		if (r < 0 && err == EFAULT && (v->run->s.regs.sregs.cs.selector & 3) == 3) {
			/* the host could not back a page the tables map (a mapped file shrank): as Linux */
			const struct kvm_regs *g = &v->run->s.regs.regs;
			save_regs(v, ctx, g->rip, g->rsp, g->rflags, v->run->s.regs.sregs.cs.selector);
			set_signal(exit, SIGBUS, BUS_ADRERR, 0);
			ret = 0;
			break;
		}
		if (r < 0) {
			cv_debug("kvm: KVM_RUN: %s", strerror(err));
			ret = -EIO;
			break;
		}
		if (v->run->exit_reason == KVM_EXIT_HLT) {
			ret = decode_exit(v, ctx, as, exit);
			if (ret == 1) {
				ret = 0;
				continue; /* the fault is resolved: run on */
			}
			break;
		}
		cv_debug("kvm: exit reason %u at %#llx", v->run->exit_reason, (unsigned long long)v->run->s.regs.regs.rip);
		ret = -EIO;
		break;
	}
	if (ret == 0 && exit->reason != CV_EXIT_SIGNAL)
		((struct kvm_ctx *)ctx->priv)->zapped_at = ((struct kvm_ctx *)ctx->priv)->stray_at = 0;
	atomic_store(ctx->run_word, 0);
	atomic_store(&v->cur_as, NULL);
	atomic_store(&v->tid, 0);
out:
	vcpu_release(kp, v);
	if (ret == 2) { /* let a waiter take it before we ask again */
		struct timespec pause = { 0, 200 * 1000 };
		nanosleep(&pause, NULL);
		goto again;
	}
	return ret;
}
