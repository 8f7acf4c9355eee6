// SPDX-License-Identifier: Apache-2.0
// The systrap stub's signal handler: freestanding (no libc), general registers only.
//
// Every trap of application code (a syscall through seccomp or syscall user dispatch, a fault, the
// sentry's kick) lands here on the thread's alternate stack. The handler saves the trapped context
// into its slot, hands it to the sentry, takes the next queued context (maybe another application
// thread's), writes it into the signal frame and returns, so rt_sigreturn resumes that one.
#include <stdbool.h>
#include "../layout.h"

typedef uint64_t u64;
typedef uint32_t u32;
typedef uint8_t u8;

#define SIGILL 4
#define SIGTRAP 5
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11
#define SIGCHLD 17
#define SIGSYS 31
#define SI_KERNEL 0x80
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define EINTR_ 4
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#define AUDIT_ARCH_I386 0x40000003u
#define VSYSCALL_PAGE 0xffffffffff600000ull
#define XSAVE_SW_OFF 464
#define XSAVE_SW_END 512

/* The kernel's x86-64 signal frame (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h). */
struct k_sigcontext {
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	u64 err, trapno, oldmask, cr2;
	u64 fpstate;
	u64 reserved1[8];
};
struct k_ucontext {
	u64 uc_flags;
	u64 uc_link;
	u64 ss_sp;
	u64 ss_flags_size[2];
	struct k_sigcontext mc;
	u64 uc_sigmask;
};

_Static_assert(ST_T_MC - ST_T_UC == __builtin_offsetof(struct k_ucontext, mc), "patched register file");
_Static_assert(ST_MC_RIP - ST_T_MC == __builtin_offsetof(struct k_sigcontext, rip), "patched register file");
_Static_assert(ST_MC_EFLAGS - ST_T_MC == __builtin_offsetof(struct k_sigcontext, eflags), "patched register file");
_Static_assert(ST_MC_FPSTATE - ST_T_MC == __builtin_offsetof(struct k_sigcontext, fpstate), "patched register file");
_Static_assert(ST_MC_R15 - ST_T_MC == __builtin_offsetof(struct k_sigcontext, r15), "patched register file");
_Static_assert(ST_MC_RBX - ST_T_MC == __builtin_offsetof(struct k_sigcontext, rbx), "patched register file");
_Static_assert(sizeof(struct k_ucontext) <= sizeof(((struct st_thread *)0)->uc), "patched register file");

#define HIDDEN __attribute__((visibility("hidden")))
/* Not const: the window it starts holds the writable thread pages and slots, and a compiler may drop
 * stores through a pointer derived from a const object (clang did: thread state never left INIT). */
extern u8 st_base[] HIDDEN;
extern const u8 st_code_end[] HIDDEN, st_first_trap[] HIDDEN;
extern const u8 st_patched_pushf[] HIDDEN, st_patched_gsload[] HIDDEN, st_patched_slow[] HIDDEN;
extern const u8 st_patched_resume[] HIDDEN;
extern const u8 st_patched_resume_end[] HIDDEN, st_patched_resume_trap[] HIDDEN;
void st_handler(int sig, u8 *info, struct k_ucontext *uc) HIDDEN;
u32 st_patched(struct st_thread *t) HIDDEN;

#define SIG_PATCHED 0 /* save_and_post(): a syscall that came through a patched site */
#define USER_CS 0x33
#define EFLAGS_TF 0x100

static inline long sys2(long nr, long a, long b)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

static inline long sys4(long nr, long a, long b, long c, long d)
{
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* The CPU this thread runs on, 1-based (Linux keeps the CPU number in TSC_AUX's low 12 bits); 0: not
 * known. */
static inline u32 this_cpu(const struct st_globals *g)
{
	u32 lo, hi, aux = 0;
	if (!g->rdtscp)
		return 0;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return (aux & 0xfff) + 1;
}

static inline void copy(void *dst, const void *src, u64 n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A broken invariant: leave a trace and crash the whole stub (every signal is blocked here, so the
 * kernel kills the process), which the sentry reports as a dead address space. */
#define DIE(t)                                                                                         \
	do {                                                                                           \
		if (t)                                                                                 \
			*(volatile u64 *)&(t)->err_line = __LINE__;                                    \
		__asm__ volatile("ud2" : : : "memory"); /* one per site: never merged */               \
		__builtin_unreachable();                                                               \
	} while (0)

static inline const struct st_globals *globals(void)
{
	return (const struct st_globals *)(st_base + ST_GLOBALS_OFF);
}

static inline u8 *shm(void)
{
	return st_base + ST_SHM_OFF;
}

static inline struct st_slot *slot_of(const struct st_globals *g, u32 n)
{
	return (struct st_slot *)(shm() + ST_SLOT_FOFF + (u64)(n - 1) * g->slot_size);
}

static u64 get_fs(const struct st_globals *g, struct st_thread *t)
{
	u64 v = t->cur_fs;
	if (g->fsgsbase)
		__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}

static u64 get_gs(const struct st_globals *g, struct st_thread *t)
{
	u64 v = t->cur_gs;
	if (g->fsgsbase)
		__asm__ volatile("rdgsbase %0" : "=r"(v));
	return v;
}

/* Give context @n back to the sentry with @reason. A sentry that waits on the listener for it is
 * woken by the doorbell this thread then rings to park, one that sleeps on the slot's futex once this
 * thread polls for its next context (both in next_context, which always follows): a sentry thread
 * woken onto this thread's CPU runs at once, and finding this thread's mailbox offered it hands the
 * next context there and gives the CPU back, where it would otherwise queue it and wait. */
static void post(struct st_thread *t, struct st_slot *s, u32 n, u32 reason, u32 flags)
{
	s->reason = reason;
	s->flags = flags;
	s->thread = 0;
	__atomic_store_n(&s->state, ST_C_EXITED, __ATOMIC_SEQ_CST);
	u32 w = __atomic_load_n(&s->sentry_waits, __ATOMIC_SEQ_CST);
	if (w == 2)
		t->must_ring = 1;
	else if (w)
		t->wake_slot = n;
}

static void wake_sentry(const struct st_globals *g, struct st_thread *t)
{
	u32 n = t->wake_slot;
	if (!n)
		return;
	t->wake_slot = 0;
	if (n <= ST_MAX_CTX)
		sys4(202, (long)&slot_of(g, n)->state, FUTEX_WAKE, 1, 0);
}

/* Save the trapped context @n from the signal frame into its slot and give it to the sentry. */
static void save_and_post(const struct st_globals *g, struct st_thread *t, u32 n, int sig, const u8 *info,
			  struct k_ucontext *uc)
{
	struct st_slot *s = slot_of(g, n);
	struct k_sigcontext *mc = &uc->mc;
	u64 *r = s->regs;
	r[0] = mc->r15, r[1] = mc->r14, r[2] = mc->r13, r[3] = mc->r12, r[4] = mc->rbp, r[5] = mc->rbx;
	r[6] = mc->r11, r[7] = mc->r10, r[8] = mc->r9, r[9] = mc->r8, r[10] = mc->rax, r[11] = mc->rcx;
	r[12] = mc->rdx, r[13] = mc->rsi, r[14] = mc->rdi, r[15] = (u64)-1, r[16] = mc->rip;
	r[17] = mc->cs, r[18] = mc->eflags, r[19] = mc->rsp, r[20] = mc->ss;
	r[21] = t->cur_fs = get_fs(g, t);
	r[22] = t->cur_gs = get_gs(g, t);
	if (g->patch_fd >= 0 && r[22] == (u64)t)
		r[22] = 0; /* the stub's own: the context has none */
	r[23] = r[24] = r[25] = r[26] = 0;
	u32 flags = 0, reason;
	if (sig == SIG_PATCHED) {
		reason = ST_R_SYSCALL;
		r[15] = mc->rax;
		flags |= ST_F_PATCHED;
	} else if (sig == SIGSYS) {
		reason = ST_R_SYSCALL;
		/* The kernel rolled rax back to the full number; the vsyscall page's number is in si_syscall. */
		r[15] = mc->rax;
		if (*(const u32 *)(info + 28) == AUDIT_ARCH_I386)         /* si_arch */
			flags |= ST_F_COMPAT;
		if ((*(const u64 *)(info + 16) & ~0xfffull) == VSYSCALL_PAGE) { /* si_call_addr */
			flags |= ST_F_VSYSCALL;
			r[15] = (u64)(long)*(const int *)(info + 24); /* si_syscall */
		}
	} else if (sig == SIGCHLD) {
		reason = ST_R_INTERRUPT;
	} else {
		reason = ST_R_SIGNAL;
		if (mc->trapno == 14)
			flags |= ST_F_PF;
	}
	s->err = mc->err;
	s->trapno = mc->trapno;
	if (info) /* (the patched path has none: a syscall's report needs none) */
		copy(s->siginfo, info, sizeof(s->siginfo));
	if (mc->fpstate)
		copy((u8 *)s + ST_SLOT_XSAVE_OFF, (const void *)mc->fpstate, g->fp_size);
	s->last_thread = t->index + 1;
	t->kick_pending = 0;
	s->fp_dirty = 0;
	post(t, s, n, reason, flags);
}

/* Claim the queue's head entry, or 0 if the queue is empty. */
static u32 try_claim(struct st_control *ctl, u32 *ring)
{
	for (;;) {
		u32 h = LOAD(&ctl->q_head);
		if (h == LOAD(&ctl->q_tail))
			return 0;
		u32 *e = &ring[h & (ST_QUEUE_LEN - 1)];
		u32 v = LOAD(e);
		if (v && __atomic_compare_exchange_n(e, &v, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			__atomic_compare_exchange_n(&ctl->q_head, &h, h + 1, false, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
			return v;
		}
		if (!v) /* claimed by another thread that has not moved the head yet: help it */
			__atomic_compare_exchange_n(&ctl->q_head, &h, h + 1, false, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
		__builtin_ia32_pause();
	}
}

/* A polling thread that saw this much time pass between two looks at the queue lost its CPU. */
#define PREEMPT_GAP_US 30

/* Withdraw this thread's mailbox offer: 0, or the context the sentry handed over meanwhile. */
static u32 withdraw(u32 *mb)
{
	u32 v = ST_MB_POLL;
	if (__atomic_compare_exchange_n(mb, &v, ST_MB_NONE, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return 0;
	return v == ST_MB_POLL ? 0 : v; /* (ST_MB_NONE: the application wrote it; nothing to take) */
}

/*
 * The next context to run: poll for the sentry's spin budget, then sleep on the queue. A poller counts
 * in q_spinners, so the sentry does not wake a sleeper for what it will take, and offers its mailbox:
 * the sentry may hand it a context there directly, one cache line changing hands instead of the
 * queue's counters and ring (each a cross-CPU miss, one after the other). It withdraws the offer
 * before it takes from the queue or stops polling; a failed withdrawal means the sentry was first, and
 * the handed context is its. One that finds it lost its CPU while polling (the machine is busy:
 * polling takes the CPU from whoever would queue the next context) says so in stub_preempts and
 * sleeps at once.
 */
static u32 next_context(const struct st_globals *g, struct st_control *ctl, struct st_thread *th)
{
	u32 *ring = (u32 *)(shm() + ST_QUEUE_FOFF);
	u32 *mb = &th->mailbox;
	/* No polling where the sentry waits on the listener, nor on the sentry's own CPU (a park's
	 * answer put this thread there): it would only keep the sentry from that CPU. */
	bool must = th->must_ring != 0, no_park = false;
	u64 spin = must || th->here ? 0 : LOAD(&ctl->stub_spin_ns);
	if (must) /* (cleared only when set: the sentry reads parked on this line) */
		th->must_ring = 0;
	if (th->here)
		th->here = 0;
	u64 tpu = LOAD(&ctl->tsc_per_us);
	if (spin > 1000000)
		spin = 1000000;
	if (tpu > 1000000)
		tpu = 1000000;
	u64 now = rdtsc(), deadline = now + spin * tpu / 1000, gap = PREEMPT_GAP_US * tpu;
	bool spinning = spin != 0, offered = false;
	if (spinning) {
		__atomic_fetch_add(&ctl->q_spinners, 1, __ATOMIC_SEQ_CST);
		th->cpu = this_cpu(g);
		STORE(mb, ST_MB_POLL);
		offered = true;
	}
	wake_sentry(g, th);
	u32 n = 0;
	for (;;) {
		u32 seq = LOAD(&ctl->q_seq);
		if (offered) {
			u32 m = LOAD(mb);
			if (m != ST_MB_POLL) {
				offered = false; /* handed over (or the application wrote it) */
				if (m != ST_MB_NONE) {
					n = m;
					break;
				}
			}
		}
		if (LOAD(&ctl->q_head) != LOAD(&ctl->q_tail)) {
			if (offered) {
				offered = false;
				if ((n = withdraw(mb)) != 0)
					break;
			}
			if ((n = try_claim(ctl, ring)) != 0)
				break;
		}
		if (spinning) {
			u64 t = rdtsc();
			if (t - now > gap) {
				if (t - now >= ST_PREEMPT_LONG_US * tpu)
					__atomic_fetch_add(&ctl->stub_preempts_long, 1, __ATOMIC_RELAXED);
				__atomic_fetch_add(&ctl->stub_preempts, 1, __ATOMIC_RELAXED);
				deadline = 0;
			}
			now = t;
			if (t < deadline && LOAD(&ctl->stub_spin_ns)) { /* (0: the sentry will be long) */
				if (!offered) {
					th->cpu = this_cpu(g);
					STORE(mb, ST_MB_POLL);
					offered = true;
				}
				__builtin_ia32_pause();
				continue;
			}
			if (offered) {
				offered = false;
				if ((n = withdraw(mb)) != 0)
					break;
			}
		}
		if (must || (!no_park && LOAD(&ctl->park_ok))) {
			/* Park on the doorbell: the sentry's answer puts this thread on its own CPU. Parked
			 * first, then a last look at the queue (the sentry queues, then looks at parked). */
			__atomic_store_n(&th->parked, 1, __ATOMIC_SEQ_CST);
			if (spinning) {
				__atomic_fetch_sub(&ctl->q_spinners, 1, __ATOMIC_SEQ_CST);
				spinning = false;
			}
			u32 claimed = try_claim(ctl, ring);
			if (!must && (claimed || !__atomic_load_n(&ctl->park_ok, __ATOMIC_SEQ_CST))) {
				__atomic_store_n(&th->parked, 0, __ATOMIC_SEQ_CST);
				if ((n = claimed) != 0)
					break;
				no_park = true;
				continue;
			}
			must = false; /* (a sentry waiting on the listener answers a claim at once) */
			long r;
			do /* a kick on the patched path (signals open) withdraws the notification: again */
				r = sys4(ST_DOORBELL_NR, ST_PARK, th->index, claimed, 0);
			while (r == -EINTR_ || (r <= -512 && r >= -516)); /* (-ERESTART*) */
			__atomic_store_n(&th->parked, 0, __ATOMIC_SEQ_CST);
			if ((n = claimed) != 0)
				break;
			long handed = r & ~(long)ST_PARK_AWAY;
			if (r > 0 && handed >= 1 && handed <= ST_MAX_CTX) {
				n = (u32)handed;
				th->here = !(r & ST_PARK_AWAY);
				break;
			}
			no_park = r < 0;
			continue;
		}
		/* a sleeper before no longer a poller: the sentry never sees neither */
		__atomic_fetch_add(&ctl->q_sleepers, 1, __ATOMIC_SEQ_CST);
		if (spinning) {
			__atomic_fetch_sub(&ctl->q_spinners, 1, __ATOMIC_SEQ_CST);
			spinning = false;
		}
		n = try_claim(ctl, ring);
		if (!n && __atomic_load_n(&ctl->q_seq, __ATOMIC_SEQ_CST) == seq)
			sys4(202, (long)&ctl->q_seq, FUTEX_WAIT, seq, 0);
		__atomic_fetch_sub(&ctl->q_sleepers, 1, __ATOMIC_SEQ_CST);
		if (n)
			break;
	}
	if (spinning)
		__atomic_fetch_sub(&ctl->q_spinners, 1, __ATOMIC_SEQ_CST);
	/* More is queued than this thread takes, and the sentry may have counted on a poller for it:
	 * pass it on to a sleeper unless another thread polls. */
	if (LOAD(&ctl->q_head) != LOAD(&ctl->q_tail) && __atomic_load_n(&ctl->q_spinners, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&ctl->q_sleepers, __ATOMIC_SEQ_CST) != 0)
		sys4(202, (long)&ctl->q_seq, FUTEX_WAKE, 1, 0);
	return n;
}

/* Write context @n into the signal frame, which holds context @frame_ctx's state. Returns 0, or
 * INSTALL_FP if the frame's XSAVE area was rewritten (INSTALL_FP_SENTRY: with state the sentry wrote). */
#define INSTALL_FP 1u
#define INSTALL_FP_SENTRY 2u
static u32 install(const struct st_globals *g, struct st_thread *t, u32 n, u32 frame_ctx, struct k_ucontext *uc)
{
	struct st_slot *s = slot_of(g, n);
	struct k_sigcontext *mc = &uc->mc;
	const u64 *r = s->regs;
	mc->r15 = r[0], mc->r14 = r[1], mc->r13 = r[2], mc->r12 = r[3], mc->rbp = r[4], mc->rbx = r[5];
	mc->r11 = r[6], mc->r10 = r[7], mc->r9 = r[8], mc->r8 = r[9], mc->rax = r[10], mc->rcx = r[11];
	mc->rdx = r[12], mc->rsi = r[13], mc->rdi = r[14], mc->rip = r[16];
	mc->cs = (uint16_t)r[17], mc->eflags = r[18], mc->rsp = r[19], mc->ss = (uint16_t)r[20];
	u64 fs = r[21], gs = r[22];
	if (gs == 0 && g->patch_fd >= 0)
		gs = (u64)t; /* where the patched path finds its thread page */
	if (fs != t->cur_fs) {
		if (g->fsgsbase)
			__asm__ volatile("wrfsbase %0" : : "r"(fs));
		else if (sys2(158, ARCH_SET_FS, (long)fs) != 0)
			fs = get_fs(g, t);
		t->cur_fs = fs;
	}
	if (gs != t->cur_gs) {
		if (g->fsgsbase)
			__asm__ volatile("wrgsbase %0" : : "r"(gs));
		else if (sys2(158, ARCH_SET_GS, (long)gs) != 0)
			gs = get_gs(g, t);
		t->cur_gs = gs;
	}
	/* The frame's XSAVE area holds frame_ctx's state as this thread saw it last: reload unless
	 * that is still n's current state. The kernel's software-reserved words stay as they are. */
	u32 ret = 0;
	if (mc->fpstate && (n != frame_ctx || s->fp_dirty || s->last_thread != t->index + 1)) {
		u8 *dst = (u8 *)mc->fpstate;
		const u8 *src = (const u8 *)s + ST_SLOT_XSAVE_OFF;
		ret = s->fp_dirty ? INSTALL_FP | INSTALL_FP_SENTRY : INSTALL_FP;
		copy(dst, src, XSAVE_SW_OFF);
		if (g->fp_size > XSAVE_SW_END)
			copy(dst + XSAVE_SW_END, src + XSAVE_SW_END, g->fp_size - XSAVE_SW_END);
	}
	uc->uc_sigmask = 0;
	t->ctx = n;
	return ret;
}

/* Hand this thread the next runnable context and install it into @uc. */
static u32 run_next(const struct st_globals *g, struct st_thread *t, u32 frame_ctx, struct k_ucontext *uc)
{
	struct st_control *ctl = (struct st_control *)(shm() + ST_CTL_FOFF);
	t->ctx = 0;
	for (;;) {
		u32 n = next_context(g, ctl, t);
		if (n > ST_MAX_CTX)
			DIE(t);
		struct st_slot *s = slot_of(g, n);
		/* A context handed over through the mailbox names its thread already (the sentry wrote it
		 * before the handover, which orders it before this check of the interrupt flag). */
		if (LOAD(&s->thread) != t->index + 1)
			__atomic_store_n(&s->thread, t->index + 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&s->interrupt, __ATOMIC_SEQ_CST)) {
			post(t, s, n, ST_R_INTERRUPT, 0);
			continue;
		}
		STORE(&s->state, ST_C_RUNNING);
		return install(g, t, n, frame_ctx, uc);
	}
}

/* The policy's answer for @leaf/@subleaf, as x86_cpuid_policy_lookup() gives it: a leaf-wide entry
 * (at subleaf 0, first of its leaf), else the exact one; NULL: none (zeroes). */
static const struct st_cpuid *cpuid_entry(const struct st_globals *g, u32 leaf, u32 subleaf)
{
	u32 n = g->cpuid_n, lo = 0, hi = n;
	while (lo < hi) { /* the first entry >= (leaf, 0) */
		u32 mid = lo + (hi - lo) / 2;
		if (g->cpuid[mid].leaf < leaf)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (u32 i = lo; i < n && g->cpuid[i].leaf == leaf; i++) {
		const struct st_cpuid *e = &g->cpuid[i];
		if (i == lo && !(e->flags & ST_CPUID_SIGNIFICANT))
			return e;
		if (e->subleaf == subleaf)
			return e;
		if (e->subleaf > subleaf)
			break;
	}
	return (const struct st_cpuid *)0;
}

/*
 * A CPUID that faulted (CPUID faulting: #GP(0) at the instruction), answered here from the policy in
 * the globals while the address space's request page says it is still the platform's, without a trip
 * to the sentry: glibc's start-up runs dozens of them in every exec. Anything else that is not exactly
 * that — another #GP, a prefixed CPUID, 32-bit code, a single step (TF), a policy changed since —
 * goes to the sentry as before, which answers the same. The bytes at rip were just fetched as an
 * instruction, so they are mapped; only another thread of the application unmapping them at this very
 * moment makes the read fault, which ends the stub (signals are blocked here) as any tampering does.
 */
static bool cpuid_here(const struct st_globals *g, const u8 *info, struct k_ucontext *uc)
{
	struct k_sigcontext *mc = &uc->mc;
	const struct st_request *rq = (const struct st_request *)(shm() + ST_REQ_FOFF);
	if (!g->cpuid_n || !LOAD(&rq->cpuid_local) || mc->trapno != 13 || mc->err != 0 || mc->cs != USER_CS ||
	    (mc->eflags & EFLAGS_TF) || *(const int *)(info + 8) != SI_KERNEL)
		return false;
	u64 rip = mc->rip;
	if (rip >= (u64)st_base || rip + 2 > (u64)st_base) /* (canonical, below the window) */
		return false;
	u32 pkru = 0;
	if (g->pkeys) { /* the kernel's default PKRU in a handler: an execute-only page is unreadable */
		__asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(pkru) : "c"(0) : "rdx"); /* rdpkru */
		__asm__ volatile(".byte 0x0f, 0x01, 0xef" : : "a"(0), "c"(0), "d"(0) : "memory"); /* wrpkru */
	}
	const volatile u8 *insn = (const volatile u8 *)rip;
	bool is_cpuid = insn[0] == 0x0f && insn[1] == 0xa2;
	if (g->pkeys)
		__asm__ volatile(".byte 0x0f, 0x01, 0xef" : : "a"(pkru), "c"(0), "d"(0) : "memory");
	if (!is_cpuid)
		return false;
	const struct st_cpuid *e = cpuid_entry(g, (u32)mc->rax, (u32)mc->rcx);
	mc->rax = e ? e->eax : 0;
	mc->rbx = e ? e->ebx : 0;
	mc->rcx = e ? e->ecx : 0;
	mc->rdx = e ? e->edx : 0;
	mc->rip = rip + 2;
	return true;
}

/* The thread page a trap on alternate stack @sp belongs to (checked). */
static struct st_thread *thread_of(const struct st_globals *g, u64 sp)
{
	u64 alt = (u64)st_base + g->alt_off;
	if (sp < alt || sp >= alt + (u64)ST_MAX_THREADS * ST_ALT_SIZE)
		DIE((struct st_thread *)0);
	u32 idx = (u32)((sp - alt) / ST_ALT_SIZE);
	struct st_thread *t = (struct st_thread *)(shm() + ST_THREAD_FOFF + (u64)idx * ST_PAGE);
	if (t->self != (u64)t || t->index != idx)
		DIE(t);
	return t;
}

/* The context this running thread holds (checked). */
static u32 current_ctx(struct st_thread *t)
{
	u32 cur = t->ctx;
	if (t->state != ST_T_RUN || cur == 0 || cur > ST_MAX_CTX)
		DIE(t);
	return cur;
}

/*
 * The patched path (entry.S): the trapped registers are in t->uc, the FPU state in the buffer its
 * fpstate points to. Returns 1 if the buffer must be loaded, 2 to resume through a signal frame.
 */
u32 st_patched(struct st_thread *t)
{
	const struct st_globals *g = globals();
	if (thread_of(g, (u64)__builtin_frame_address(0)) != t)
		DIE(t);
	u32 cur = current_ctx(t);
	struct k_ucontext *uc = (struct k_ucontext *)t->uc;
	uc->mc.r11 = uc->mc.eflags; /* what syscall leaves in rcx and r11 */
	uc->mc.rcx = uc->mc.rip;
	uc->mc.cs = USER_CS;
	uc->mc.err = uc->mc.trapno = 0;
	save_and_post(g, t, cur, SIG_PATCHED, (const u8 *)0, uc);
	u32 fp = run_next(g, t, cur, uc);
	if ((fp & INSTALL_FP_SENTRY) || uc->mc.cs != USER_CS || (uc->mc.eflags & EFLAGS_TF) ||
	    t->cur_gs != (u64)t || t->kick_pending)
		return 2;
	return fp & INSTALL_FP;
}

/* A trap on the patched path before the stack switch: report the syscall as if made at the site. */
static void patched_syscall_frame(struct k_ucontext *uc, bool pushed)
{
	struct k_sigcontext *mc = &uc->mc;
	if (pushed) {
		mc->eflags = *(const u64 *)mc->rsp;
		mc->rsp += 8;
	}
	mc->rsp += 128;
	mc->rip = mc->rcx;
	mc->r11 = mc->eflags;
}

/* The registers the patched path was resuming, from the thread page, into the signal frame. */
static void patched_resume_frame(struct st_thread *t, struct k_ucontext *uc)
{
	const struct k_ucontext *p = (const struct k_ucontext *)t->uc;
	u64 fpstate = uc->mc.fpstate;
	uint16_t cs = uc->mc.cs, ss = uc->mc.ss;
	copy(&uc->mc, &p->mc, __builtin_offsetof(struct k_sigcontext, cs));
	uc->mc.cs = cs, uc->mc.ss = ss;
	uc->mc.fpstate = fpstate;
}

void st_handler(int sig, u8 *info, struct k_ucontext *uc)
{
	const struct st_globals *g = globals();
	struct st_thread *t = thread_of(g, (u64)__builtin_frame_address(0));
	u32 frame_ctx = 0;
	if (t->state == ST_T_INIT) {
		if (sig != SIGILL || uc->mc.rip != (u64)st_first_trap)
			DIE(t);
		t->state = ST_T_RUN;
		t->cur_fs = 0;
		t->cur_gs = 0;
		if (g->fsgsbase) {
			t->cur_fs = get_fs(g, t);
			t->cur_gs = get_gs(g, t);
		}
		run_next(g, t, 0, uc);
		return;
	}
	u64 rip = uc->mc.rip;
	bool in_stub = rip >= (u64)st_base && rip < (u64)st_code_end;
	bool in_resume = rip >= (u64)st_patched_resume && rip < (u64)st_patched_resume_end;
	bool in_tramp = g->tramp && rip >= g->tramp && rip - g->tramp < ST_TRAMP_AREA;
	if ((in_stub || in_tramp) && sig == SIGCHLD && !in_resume) {
		/* A kick while the patched path hands over (maybe holding no context), or on the way
		 * to it through a trampoline (never report the trampoline's rip): seen before the next
		 * context resumes. */
		t->kick_pending = 1;
		return;
	}
	u32 cur = current_ctx(t);
	if (sig == SIGSEGV && !in_stub && !in_tramp && cpuid_here(g, info, uc))
		return; /* the same context runs on */
	if (in_stub) {
		/* The stub's own code was running: the patched path (nothing else runs unblocked). */
		if (sig == SIGCHLD) {
			patched_resume_frame(t, uc);
		} else if ((sig == SIGSEGV || sig == SIGBUS) && rip == (u64)st_patched_pushf) {
			patched_syscall_frame(uc, false);
			sig = SIG_PATCHED;
			info = (u8 *)0;
		} else if ((sig == SIGILL && rip == (u64)st_patched_slow) ||
			   ((sig == SIGSEGV || sig == SIGBUS) && rip == (u64)st_patched_gsload)) {
			/* Not through a thread page: the context's own gs base (unmapped there, or holding
			 * something else) — the ordinary syscall report. */
			patched_syscall_frame(uc, true);
			sig = SIG_PATCHED;
			info = (u8 *)0;
		} else if (sig == SIGILL && rip == (u64)st_patched_resume_trap) {
			u32 kick = t->kick_pending;
			install(g, t, cur, 0, uc);
			if (!kick)
				return;
			sig = SIGCHLD;
		} else {
			DIE(t);
		}
	}
	save_and_post(g, t, cur, sig, info, uc);
	frame_ctx = cur;
	run_next(g, t, frame_ctx, uc);
}
