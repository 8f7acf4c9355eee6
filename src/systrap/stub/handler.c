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
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
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

extern const u8 st_base[] __attribute__((visibility("hidden")));
extern const u8 st_first_trap[] __attribute__((visibility("hidden")));
void st_handler(int sig, u8 *info, struct k_ucontext *uc) __attribute__((visibility("hidden")));

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
			(t)->err_line = __LINE__;                                                      \
		__builtin_trap();                                                                      \
	} while (0)

static inline const struct st_globals *globals(void)
{
	return (const struct st_globals *)(st_base + ST_GLOBALS_OFF);
}

static inline u8 *shm(void)
{
	return (u8 *)st_base + ST_SHM_OFF;
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
	r[23] = r[24] = r[25] = r[26] = 0;
	u32 flags = 0, reason;
	if (sig == SIGSYS) {
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
	copy(s->siginfo, info, sizeof(s->siginfo));
	if (mc->fpstate)
		copy((u8 *)s + ST_SLOT_XSAVE_OFF, (const void *)mc->fpstate, g->fp_size);
	s->last_thread = t->index + 1;
	s->reason = reason;
	s->flags = flags;
	s->thread = 0;
	s->fp_dirty = 0;
	__atomic_store_n(&s->state, ST_C_EXITED, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->sentry_waits, __ATOMIC_SEQ_CST))
		sys4(202, (long)&s->state, FUTEX_WAKE, 1, 0);
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

/* The next context to run: poll for the sentry's spin budget, then sleep on the queue. */
static u32 next_context(struct st_control *ctl)
{
	u32 *ring = (u32 *)(shm() + ST_QUEUE_FOFF);
	u64 spin = LOAD(&ctl->stub_spin_ns);
	u64 tpu = LOAD(&ctl->tsc_per_us);
	if (spin > 1000000)
		spin = 1000000;
	u64 deadline = rdtsc() + spin * tpu / 1000;
	for (;;) {
		u32 seq = LOAD(&ctl->q_seq);
		u32 n = try_claim(ctl, ring);
		if (n)
			return n;
		if (rdtsc() < deadline) {
			__builtin_ia32_pause();
			continue;
		}
		__atomic_fetch_add(&ctl->q_sleepers, 1, __ATOMIC_SEQ_CST);
		n = try_claim(ctl, ring);
		if (!n && __atomic_load_n(&ctl->q_seq, __ATOMIC_SEQ_CST) == seq)
			sys4(202, (long)&ctl->q_seq, FUTEX_WAIT, seq, 0);
		__atomic_fetch_sub(&ctl->q_sleepers, 1, __ATOMIC_SEQ_CST);
		if (n)
			return n;
		deadline = 0;
	}
}

/* Write context @n into the signal frame, which holds context @frame_ctx's state. */
static void install(const struct st_globals *g, struct st_thread *t, u32 n, u32 frame_ctx, struct k_ucontext *uc)
{
	struct st_slot *s = slot_of(g, n);
	struct k_sigcontext *mc = &uc->mc;
	const u64 *r = s->regs;
	mc->r15 = r[0], mc->r14 = r[1], mc->r13 = r[2], mc->r12 = r[3], mc->rbp = r[4], mc->rbx = r[5];
	mc->r11 = r[6], mc->r10 = r[7], mc->r9 = r[8], mc->r8 = r[9], mc->rax = r[10], mc->rcx = r[11];
	mc->rdx = r[12], mc->rsi = r[13], mc->rdi = r[14], mc->rip = r[16];
	mc->cs = (uint16_t)r[17], mc->eflags = r[18], mc->rsp = r[19], mc->ss = (uint16_t)r[20];
	u64 fs = r[21], gs = r[22];
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
	if (mc->fpstate && (n != frame_ctx || s->fp_dirty || s->last_thread != t->index + 1)) {
		u8 *dst = (u8 *)mc->fpstate;
		const u8 *src = (const u8 *)s + ST_SLOT_XSAVE_OFF;
		copy(dst, src, XSAVE_SW_OFF);
		if (g->fp_size > XSAVE_SW_END)
			copy(dst + XSAVE_SW_END, src + XSAVE_SW_END, g->fp_size - XSAVE_SW_END);
	}
	uc->uc_sigmask = 0;
	t->ctx = n;
}

void st_handler(int sig, u8 *info, struct k_ucontext *uc)
{
	const struct st_globals *g = globals();
	u64 alt = (u64)st_base + g->alt_off;
	u64 sp = (u64)__builtin_frame_address(0);
	if (sp < alt || sp >= alt + (u64)ST_MAX_THREADS * ST_ALT_SIZE)
		DIE((struct st_thread *)0);
	u32 idx = (u32)((sp - alt) / ST_ALT_SIZE);
	struct st_thread *t = (struct st_thread *)(shm() + ST_THREAD_FOFF + (u64)idx * ST_PAGE);
	if (t->self != (u64)t || t->index != idx)
		DIE(t);
	struct st_control *ctl = (struct st_control *)(shm() + ST_CTL_FOFF);
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
	} else {
		u32 cur = t->ctx;
		if (t->state != ST_T_RUN || cur == 0 || cur > ST_MAX_CTX)
			DIE(t);
		save_and_post(g, t, cur, sig, info, uc);
		frame_ctx = cur;
	}
	t->ctx = 0;
	for (;;) {
		u32 n = next_context(ctl);
		if (n > ST_MAX_CTX)
			DIE(t);
		struct st_slot *s = slot_of(g, n);
		__atomic_store_n(&s->thread, idx + 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&s->interrupt, __ATOMIC_SEQ_CST)) {
			s->reason = ST_R_INTERRUPT;
			s->flags = 0;
			s->thread = 0;
			__atomic_store_n(&s->state, ST_C_EXITED, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&s->sentry_waits, __ATOMIC_SEQ_CST))
				sys4(202, (long)&s->state, FUTEX_WAKE, 1, 0);
			continue;
		}
		STORE(&s->state, ST_C_RUNNING);
		install(g, t, n, frame_ctx, uc);
		return;
	}
}
