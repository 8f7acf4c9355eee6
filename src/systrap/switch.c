// SPDX-License-Identifier: Apache-2.0
// The systrap switch: put a context in its slot, hand it to a polling stub thread or queue it, wait
// (spinning first when that pays) until it comes back, and read what came back once, validating it.
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "arch/x86_64/arch.h"
#include "systrap/systrap_internal.h"

#define SPIN_MAX_NS 200000ull /* never spin longer than this on either side */
#define WAIT_SLICE_NS 100000000 /* futex wait slices while a context runs */
#define QUEUED_GIVE_UP 30       /* slices a context may stay queued before the queue counts as broken */
#define IRQ_GIVE_UP 30        /* slices an interrupted context may take to come back (3 s) */
#define PREEMPT_GAP_US 30     /* a poller that saw this much time pass between two looks lost its CPU */
#define QUEUED_SPIN_US 30     /* a context no stub thread took within this waits for a CPU: stop polling */
#define HANDED_SPIN_US 5      /* the same for one handed to a polling stub thread (taken within 1 us) */
#define MOVE_EVERY_NS 10000000ull /* move_off_cpu() at most this often per context */
#define BUSY_MIN_NS 1000000ull  /* polling cut for this long after a poller lost its CPU, */
#define BUSY_MAX_NS 32000000ull /* doubling up to this while it keeps happening */
#define BUSY_SPIN_NS 50000ull   /* the sentry's spin meanwhile (the stub threads' is 0) */
#define HARD_MEMORY_NS 4000000ull  /* a preemption this soon after a real one counts as real */
#define HERE_ROUNDS 64           /* quick round trips with a parked stub thread before polling again, */
#define LOOP_STREAK 256          /* or, past this many switches without a blocking wait (a syscall loop), */
#define LOOP_HERE_ROUNDS 2       /* this many (after a poller lost its CPU) */

static uint64_t ticks_to_ns(const struct st_platform *sp, uint64_t ticks)
{
	return ticks * 1000 / sp->tsc_per_us;
}

static void ewma(uint64_t *avg, uint64_t sample)
{
	*avg = *avg ? (*avg * 7 + sample) / 8 : sample;
}

/* Copy the slot's XSAVE area into the context (bind_lock held). */
static void pull_from_slot(struct cv_ctx *ctx, struct st_ctx *sc)
{
	const uint8_t *src = (const uint8_t *)st_slot(sc->sas, sc->slot) + ST_SLOT_XSAVE_OFF;
	uint32_t n = ctx->state.xsave_size < sc->sas->sp->fp_size ? ctx->state.xsave_size : sc->sas->sp->fp_size;
	memcpy(ctx->state.xsave, src, n);
	if (n >= X86_XSAVE_MIN_SIZE) {
		uint64_t *hdr = (uint64_t *)((uint8_t *)ctx->state.xsave + X86_XSAVE_HEADER_OFFSET);
		hdr[0] &= x86_xsave_layout()->xfeatures; /* XSTATE_BV: only what we restore */
		hdr[1] = 0;                              /* XCOMP_BV: standard format */
	}
	sc->fp_in_slot = false;
}

void st_ctx_unbind(struct cv_ctx *ctx, bool keep_state)
{
	struct st_ctx *sc = ctx->priv;
	if (!sc || !sc->sas)
		return;
	if (keep_state && sc->fp_in_slot)
		pull_from_slot(ctx, sc);
	sc->fp_in_slot = false;
	sc->sas->slot_ctx[sc->slot] = NULL;
	__atomic_store_n(&sc->sas->nbound, sc->sas->nbound - 1, __ATOMIC_RELAXED);
	sc->sas = NULL;
	sc->slot = 0;
}

int st_ctx_pull(struct cv_ctx *ctx)
{
	struct st_ctx *sc = ctx->priv;
	if (!sc->fp_in_slot)
		return 0;
	struct st_platform *sp = st_platform(ctx->p);
	pthread_mutex_lock(&sp->bind_lock);
	if (sc->fp_in_slot && sc->sas)
		pull_from_slot(ctx, sc);
	pthread_mutex_unlock(&sp->bind_lock);
	return 0;
}

/* Give the context a slot in @sas, moving its state out of any previous one (bind_lock held). */
static int bind(struct cv_ctx *ctx, struct st_ctx *sc, struct st_as *sas)
{
	if (sc->sas)
		st_ctx_unbind(ctx, true);
	uint32_t n = 0;
	for (uint32_t i = 0; i < ST_MAX_CTX; i++) {
		uint32_t c = (sas->slot_hint + i) % ST_MAX_CTX + 1;
		if (!sas->slot_ctx[c]) {
			n = c;
			break;
		}
	}
	if (!n)
		return -EAGAIN;
	sas->slot_hint = n % ST_MAX_CTX;
	sas->slot_ctx[n] = ctx;
	__atomic_store_n(&sas->nbound, sas->nbound + 1, __ATOMIC_RELAXED);
	sc->sas = sas;
	sc->slot = n;
	sc->last_thread = 0;
	ctx->fp_changed = true; /* the new slot needs the XSAVE state */
	struct st_slot *s = st_slot(sas, n);
	memset(s, 0, sizeof(*s));
	return 0;
}

void st_kick(struct cv_platform *p, uint64_t target)
{
	struct st_platform *sp = st_platform(p);
	int saved = errno;
	atomic_fetch_add(&sp->kickers, 1);
	uint64_t idx = (target >> 32) - 1;
	uint32_t n = (uint32_t)target;
	struct st_as *sas = idx < ST_AS_TABLE ? atomic_load(&sp->as_table[idx]) : NULL;
	if (sas && n >= 1 && n <= ST_MAX_CTX) {
		struct st_slot *s = st_slot(sas, n);
		__atomic_store_n(&s->interrupt, 1, __ATOMIC_SEQ_CST);
		uint32_t th = __atomic_load_n(&s->thread, __ATOMIC_SEQ_CST);
		if (th >= 1 && th <= (uint32_t)atomic_load(&sas->nthreads))
			syscall(SYS_tgkill, sas->pid, sas->tids[th - 1], ST_KICK_SIGNAL);
	}
	atomic_fetch_sub(&sp->kickers, 1);
	errno = saved;
}

/*
 * A poller (a sentry thread here, or a stub thread) lost its CPU: the machine is busy, and polling
 * takes the CPU from the very thread it waits for. Polling is cut for a while: 1 ms, doubled while it
 * keeps happening right after each quiet period, up to 32 ms; then full polling is tried again. How
 * far depends on how long the poller was away (@hard: ST_PREEMPT_LONG_US or more, another thread had
 * its CPU; less, an interrupt, which on this VM costs 10-30 us and comes ~40 times a second even when
 * idle): spin_budget().
 */
static void note_preempted(struct st_platform *sp, bool hard)
{
	uint64_t now = st_rdtsc(), until = atomic_load(&sp->busy_until);
	if (now < atomic_load(&sp->hard_until) + HARD_MEMORY_NS * sp->tsc_per_us / 1000)
		hard = true; /* soon after a real one: the machine is still busy */
	if (now < until) {
		if (hard && atomic_load(&sp->hard_until) < until)
			atomic_store(&sp->hard_until, until);
		return;
	}
	uint64_t b = atomic_load(&sp->busy_ticks), min = BUSY_MIN_NS * sp->tsc_per_us / 1000;
	if (b < min || now - until > b)
		b = min; /* the last busy period is long past: start over */
	else if (2 * b <= BUSY_MAX_NS * sp->tsc_per_us / 1000)
		b *= 2;
	atomic_store(&sp->busy_ticks, b);
	atomic_store(&sp->busy_until, now + b);
	if (hard)
		atomic_store(&sp->hard_until, now + b);
}

/*
 * Spin budgets: only with a CPU to spare, and only when the other side usually answers quickly.
 * After a poller lost its CPU to another thread (hard_until) nobody polls: a hand-off is two futex
 * wake-ups (~27 us on this VM), and the CPUs go to whoever the machine is busy with. After it lost it
 * to an interrupt only (busy_until), one side polls: the stub threads, which would poll through the
 * sentry's whole handling of each call, not at all; the sentry up to BUSY_SPIN_NS, which catches a
 * context that comes straight back (a burst of quick calls: a vfork child's 120 sigactions before its
 * exec) and saves one of the two wake-ups of its hand-off. (Both sides polling there took the CPUs the
 * rest of the work needed; one side polling also after a real preemption made getpid 2x slower with
 * two host processes spinning: bench/load.sh.) Counting also the contexts the sentry is handling
 * (not in a blocking wait) instead of those in a switch made a two-thread futex ping-pong 2x slower
 * and the fork+exec loops no faster (2026-12-07).
 */
static uint64_t spin_budget(struct st_platform *sp, uint64_t expected_ns, bool stub)
{
	if (sp->ncpu < 2 || atomic_load(&sp->in_switch) >= sp->ncpu || expected_ns > SPIN_MAX_NS)
		return 0;
	uint64_t b = 2 * expected_ns + 2000, max = SPIN_MAX_NS, now = st_rdtsc();
	if (now < atomic_load(&sp->hard_until))
		return 0;
	if (now < atomic_load(&sp->busy_until))
		max = stub ? 0 : BUSY_SPIN_NS;
	return b > max ? max : b;
}

static void enqueue(struct st_as *sas, struct st_slot *s, uint32_t n)
{
	pthread_mutex_lock(&sas->q_lock);
	__atomic_store_n(&s->state, ST_C_QUEUED, __ATOMIC_RELEASE);
	uint32_t t = sas->q_tail++;
	__atomic_store_n(&sas->ring[t & (ST_QUEUE_LEN - 1)], n, __ATOMIC_RELEASE);
	__atomic_store_n(&sas->ctl->q_tail, sas->q_tail, __ATOMIC_RELEASE);
	__atomic_fetch_add(&sas->ctl->q_seq, 1, __ATOMIC_SEQ_CST);
	/* a polling stub thread takes it (it counts as a sleeper before it stops polling) */
	bool wake = __atomic_load_n(&sas->ctl->q_sleepers, __ATOMIC_SEQ_CST) != 0 &&
		    __atomic_load_n(&sas->ctl->q_spinners, __ATOMIC_SEQ_CST) == 0;
	pthread_mutex_unlock(&sas->q_lock);
	if (wake)
		st_futex(&sas->ctl->q_seq, FUTEX_WAKE, 1, NULL);
}

/*
 * Hand context @n straight to the stub thread that gave it back last, if that thread polls (its
 * mailbox says ST_MB_POLL): the thread watches one cache line of its own, where the queue would cost
 * it a miss on each of the queue's counters, its ring entry and its claim, one after the other (a
 * patched getpid's round trip takes ~0.85 of the queue's on this VM). The slot names the thread
 * first, as a stub thread claiming from the queue does: a kick reading it then signals the right
 * thread (the locked exchange orders the store before the handover on x86). False: queue it.
 */
static bool hand_over(struct st_as *sas, struct st_ctx *sc, struct st_slot *s, uint32_t n, bool *same_cpu)
{
	uint32_t th = sc->last_thread;
	if (th == 0 || th > (uint32_t)atomic_load(&sas->nthreads))
		return false;
	struct st_thread *page = st_thread_page(sas, th - 1);
	uint32_t *mb = &page->mailbox;
	if (__atomic_load_n(mb, __ATOMIC_RELAXED) != ST_MB_POLL)
		return false;
	__atomic_store_n(&s->thread, th, __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, ST_C_QUEUED, __ATOMIC_RELEASE);
	uint32_t poll = ST_MB_POLL;
	if (__atomic_compare_exchange_n(mb, &poll, n, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		/* A poller on this thread's CPU polls only once this thread stops: it woke this one,
		 * which took the CPU from it (post() in the stub). */
		uint32_t cpu = __atomic_load_n(&page->cpu, __ATOMIC_RELAXED);
		*same_cpu = cpu != 0 && (int)cpu == sched_getcpu() + 1;
		return true;
	}
	__atomic_store_n(&s->thread, 0, __ATOMIC_RELAXED); /* it stopped polling meanwhile */
	return false;
}

/*
 * The address space's one stub thread parks on the doorbell when it has nothing to run (listener.c):
 * hand it context @n by answering its notification, which puts it on this thread's CPU. False: it is
 * not parked (it polls, sleeps on the queue, or runs), or the address space has more threads.
 */
static bool hand_parked(struct st_as *sas, struct st_slot *s, uint32_t n, bool here)
{
	if (!atomic_load(&sas->park_on))
		return false;
	const uint32_t *parked_word = &st_thread_page(sas, 0)->parked;
	if (!__atomic_load_n(parked_word, __ATOMIC_SEQ_CST) && !atomic_load(&sas->park_have))
		return false;
	bool handed = st_channel_lock(sas) == 0 && st_unpark_locked(sas, s, n, here);
	st_channel_unlock(sas);
	return handed;
}

/*
 * Queued: if the one stub thread parked meanwhile (parked, then a last look at the queue, which
 * may have come before the entry), it looks again at the sentry's answer. With more stub threads,
 * none may stay parked: a thread that gave back a context a sentry thread listened for rings the
 * doorbell to wake it, and if the address space got a second stub thread meanwhile (or the sentry
 * thread saw the context back before the ring and stopped listening), nobody receives that ring —
 * the thread would sleep there for good while contexts wait in the queue (a stopped and continued
 * two-thread process on a busy machine: its context queued for seconds, the address space taken
 * for tampered). Those are answered here, so they sleep on the queue.
 */
static void unpark_for_queue(struct st_as *sas)
{
	if (!sas->sync)
		return;
	if (atomic_load(&sas->nthreads) != 1) {
		if (!atomic_load(&sas->park_stray) && !atomic_load(&sas->park_have))
			return;
		if (st_channel_lock(sas) == 0)
			st_release_parked_locked(sas);
		st_channel_unlock(sas);
		return;
	}
	if (!__atomic_load_n(&st_thread_page(sas, 0)->parked, __ATOMIC_SEQ_CST))
		return;
	if (st_channel_lock(sas) == 0)
		st_unpark_locked(sas, NULL, 0, true);
	st_channel_unlock(sas);
}

/*
 * Waiting on the listener instead of the slot's futex: the stub thread that gives the context back
 * then rings the doorbell to park (sentry_waits 2), which wakes this thread on that CPU. Only as the
 * listener's receiver (inj_lock, taken without waiting) while the syscall thread waits for a request,
 * in a one-thread address space. True: taken (inj_lock held).
 */
static bool listen_for_exit(struct st_as *sas)
{
	if (!atomic_load(&sas->park_on) || pthread_mutex_trylock(&sas->inj_lock) != 0)
		return false;
	if (sas->have_notif && !atomic_load(&sas->dead)) {
		atomic_store(&sas->rx_waiting, true);
		if (!atomic_load(&sas->rx_want)) /* (after rx_waiting: a thread that wants it nudges) */
			return true;
		atomic_store(&sas->rx_waiting, false);
	}
	pthread_mutex_unlock(&sas->inj_lock);
	return false;
}

/*
 * This thread handed a context to a polling stub thread on its own CPU (the scheduler woke it there,
 * where the stub thread had just run the application: it keeps the threads that wake each other
 * together, and this VM's packs them onto as few vCPUs as it can even while another is idle). While
 * the machine has a CPU to spare, move to another CPU: the stub thread gets this one at once, and
 * both can poll from then on (~25 us here, two affinity changes; the mask is the thread's own again
 * right after, and the scheduler may pull it back at a later wake-up, so at most every MOVE_EVERY_NS).
 * True: moved.
 */
static bool move_off_cpu(struct st_platform *sp, struct st_ctx *sc)
{
	uint64_t now = st_rdtsc();
	if (now - sc->moved_tsc < MOVE_EVERY_NS * sp->tsc_per_us / 1000)
		return false;
	sc->moved_tsc = now;
	cpu_set_t all, other;
	int cpu = sched_getcpu();
	if (cpu < 0 || sched_getaffinity(0, sizeof(all), &all) < 0)
		return false;
	other = all;
	CPU_CLR(cpu, &other);
	if (CPU_COUNT(&other) == 0 || sched_setaffinity(0, sizeof(other), &other) < 0)
		return false;
	sched_setaffinity(0, sizeof(all), &all);
	return sched_getcpu() != cpu;
}

/* Wait until the slot's context is back; 0, or the address space's error. */
static int wait_exit(struct cv_ctx *ctx, struct st_as *sas, struct st_slot *s, uint64_t spin_ns, bool listen,
		     bool handed)
{
	uint64_t t0 = st_rdtsc(), last = t0, limit = spin_ns * sas->sp->tsc_per_us / 1000;
	uint64_t gap = PREEMPT_GAP_US * sas->sp->tsc_per_us;
	uint64_t queued_max = (handed ? HANDED_SPIN_US : QUEUED_SPIN_US) * sas->sp->tsc_per_us;
	while (last - t0 < limit) {
		uint32_t v = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (v == ST_C_EXITED)
			return 0;
		if (v != ST_C_QUEUED && v != ST_C_RUNNING)
			return st_mark_dead(sas, true); /* the application wrote it */
		if (v == ST_C_QUEUED && last - t0 > queued_max)
			break; /* its stub thread is likely woken on this very CPU, behind this loop */
		__builtin_ia32_pause();
		uint64_t now = st_rdtsc();
		if (now - last > gap) {
			note_preempted(sas->sp, now - last >= ST_PREEMPT_LONG_US * sas->sp->tsc_per_us);
			break;
		}
		last = now;
	}
	listen = listen && listen_for_exit(sas);
	if (listen && !atomic_load(&sas->park_stray))
		atomic_store(&sas->park_stray, true); /* (see unpark_for_queue) */
	__atomic_store_n(&s->sentry_waits, listen ? 2 : 1, __ATOMIC_SEQ_CST);
	int slices = 0, queued = 0, ret = 0;
	for (;;) {
		uint32_t v = __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);
		if (v == ST_C_EXITED)
			break;
		if (v != ST_C_QUEUED && v != ST_C_RUNNING) {
			ret = st_mark_dead(sas, true); /* the application wrote it */
			break;
		}
		if (atomic_load(&sas->dead)) {
			ret = st_mark_dead(sas, false);
			break;
		}
		bool timed_out;
		if (listen && atomic_load(&sas->rx_want)) {
			/* Another thread needs the listener: wait on the futex. A stub thread that saw 2
			 * rings all the same, after its EXITED, which the check above then sees. */
			__atomic_store_n(&s->sentry_waits, 1, __ATOMIC_SEQ_CST);
			atomic_store(&sas->rx_waiting, false);
			pthread_mutex_unlock(&sas->inj_lock);
			listen = false;
			continue;
		} else if (listen) {
			int r = st_rx(sas, WAIT_SLICE_NS / 1000, true);
			if (r < 0 || r == ST_RX_DOORBELL) { /* (the syscall thread rang unasked) */
				ret = r < 0 ? r : st_mark_dead(sas, true);
				break;
			}
			timed_out = r == ST_RX_TIMEOUT;
			/* a park while the context waits in the queue (it was queued after a ring that
			 * did not come in time): the thread looks again */
			if ((r == ST_RX_PARK || timed_out) && atomic_load(&sas->park_have) &&
			    __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == ST_C_QUEUED)
				st_unpark_locked(sas, NULL, 0, true);
		} else {
			struct timespec ts = { 0, WAIT_SLICE_NS };
			timed_out = st_futex(&s->state, FUTEX_WAIT, v, &ts) < 0 && errno == ETIMEDOUT;
		}
		bool stuck = timed_out && __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == ST_C_QUEUED &&
			     atomic_load(&sas->active) <= atomic_load(&sas->nthreads);
		if (stuck && !listen)
			unpark_for_queue(sas); /* (the same, where another thread receives) */
		queued = stuck ? queued + 1 : 0;
		if (queued >= QUEUED_GIVE_UP) {
			/* With a stub thread for every active context, a queued one is taken within
			 * microseconds: one still queued after seconds was lost from a queue the application
			 * overwrote. */
			cv_log(CV_LOG_ERROR, "systrap: stub %d never took a queued context", sas->pid);
			ret = st_mark_dead(sas, true);
			break;
		}
		if (timed_out && atomic_load(&ctx->irq_pending)) {
			/* Asked back but not returning: a stub thread with its signals blocked, or a lost
			 * context. Remind it, and give up on the address space after a while. */
			st_kick(ctx->p, atomic_load(ctx->run_word));
			if (++slices >= IRQ_GIVE_UP) {
				cv_log(CV_LOG_ERROR, "systrap: stub %d does not return an interrupted context", sas->pid);
				ret = st_mark_dead(sas, true);
				break;
			}
		}
	}
	__atomic_store_n(&s->sentry_waits, 0, __ATOMIC_RELAXED);
	if (listen) {
		atomic_store(&sas->rx_waiting, false);
		pthread_mutex_unlock(&sas->inj_lock);
	}
	return ret;
}

/* Fill exit->access for a SIGSEGV/SIGBUS: the page-fault error code when there is one. */
static void fault_access(struct st_ctx *sc, struct cv_as *as, const struct st_slot *hdr, struct cv_exit *exit)
{
	const struct cv_regs *r = (const struct cv_regs *)hdr->regs;
	uint64_t addr = (uint64_t)exit->info.si_addr;
	unsigned access;
	if (hdr->flags & ST_F_PF) {
		access = (hdr->err & 0x10) ? CV_ACCESS_EXEC : (hdr->err & 2) ? CV_ACCESS_WRITE : CV_ACCESS_READ;
	} else {
		uint8_t insn[15];
		long n = as_read_raw(as, r->rip, insn, sizeof(insn));
		if (x86_decode_access(insn, n > 0 ? (size_t)n : 0, r, addr, &access) < 0) {
			access = addr == r->rip ? CV_ACCESS_EXEC : CV_ACCESS_READ;
			exit->fault_flags |= CV_FAULT_ACCESS_GUESSED;
		}
	}
	exit->access = access;
	sc->last_fault_addr = addr;
	sc->last_fault_ip = r->rip;
}

static bool signal_expected(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP;
}

int st_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit)
{
	struct st_as *sas = as->priv;
	struct st_platform *sp = sas->sp;
	struct st_ctx *sc = ctx->priv;
	struct cv_regs *regs = &ctx->state.regs;
	if (atomic_load(&sas->dead))
		return st_mark_dead(sas, false);
	if (regs->fs_base >= ST_TASK_SIZE || regs->gs_base >= ST_TASK_SIZE)
		return -EINVAL;
	if (sc->sas != sas) {
		pthread_mutex_lock(&sp->bind_lock);
		int ret = bind(ctx, sc, sas);
		pthread_mutex_unlock(&sp->bind_lock);
		if (ret < 0)
			return ret;
	}
	uint32_t n = sc->slot;
	struct st_slot *s = st_slot(sas, n);

	atomic_store(ctx->run_word, ((uint64_t)(sas->table_index + 1) << 32) | n);
	/* (cleared only when set: a store would take the slot's line from the stub thread that reads it) */
	if (__atomic_load_n(&s->interrupt, __ATOMIC_SEQ_CST))
		__atomic_store_n(&s->interrupt, 0, __ATOMIC_SEQ_CST);
	if (atomic_exchange(&ctx->irq_pending, 0)) {
		atomic_store(ctx->run_word, 0);
		sc->exit_nr = ST_NO_NR;
		exit->reason = CV_EXIT_INTERRUPT;
		return 0;
	}
	int active = atomic_fetch_add(&sas->active, 1) + 1;
	atomic_fetch_add(&sp->in_switch, 1);
	int ret = 0;
	if (active > atomic_load(&sas->nthreads) && atomic_load(&sas->nthreads) < (int)ST_MAX_THREADS) {
		ret = st_thread_add(sas, active); /* every running context has a stub thread to run on */
		if (ret == -CV_EASDEAD || ret == -CV_ETAMPERED)
			goto out;
		ret = 0;
	}
	if (sc->exit_tsc) {
		uint64_t gap = ticks_to_ns(sp, st_rdtsc() - sc->exit_tsc), g = atomic_load(&sas->gap_ns);
		ewma(&g, gap);
		atomic_store(&sas->gap_ns, g);
		if (sc->exit_nr != ST_NO_NR) { /* (racy updates between threads only blur an estimate) */
			uint64_t us = gap / 1000 > 100000 ? 100000 : gap / 1000, avg = atomic_load(&sp->nr_gap_us[sc->exit_nr]);
			ewma(&avg, us ? us : 1);
			atomic_store(&sp->nr_gap_us[sc->exit_nr], (uint32_t)avg);
		}
	}
	/* Parking (listener.c) only with one stub thread and one context bound (not a vfork child's or a
	 * thread's beside it: one of them would find the thread on the other's CPU), and not in a syscall
	 * loop (LOOP_STREAK switches without a blocking wait). Parked, both halves of a hand-off share one
	 * CPU; on a busy machine that CPU is shared with whatever else runs there, and a loop got half of
	 * it: a patched getpid under two spinning host processes took 40-55 us (runsc: 15-19) where, not
	 * parked and moved off the stub thread's CPU, it polls across two CPUs again: 3.8-5.8 us (2026-12-08,
	 * a VM whose own kernel runs under PVM: a process switch ~6 us, a parked round trip ~22 us). Short
	 * processes (a shell's children) keep parking: it is what makes their few calls cheap. */
	bool park = sas->sync && atomic_load(&sas->nthreads) == 1 &&
		    __atomic_load_n(&sas->nbound, __ATOMIC_RELAXED) == 1 && sc->streak <= LOOP_STREAK;
	if (park != atomic_load(&sas->park_on)) {
		atomic_store(&sas->park_on, park);
		__atomic_store_n(&sas->ctl->park_ok, park, __ATOMIC_SEQ_CST);
		if (!park)
			unpark_for_queue(sas); /* parked: it looks at the queue, then sleeps there */
		if (!park && sc->streak > LOOP_STREAK)
			move_off_cpu(sp, sc); /* (the last parked round trip left both on this CPU) */
	}
	/* a stub thread that lost its CPU while polling says so (a hint: it can only stop the polling) */
	uint32_t pre = __atomic_load_n(&sas->ctl->stub_preempts, __ATOMIC_RELAXED);
	if (pre != atomic_load(&sas->stub_preempts)) {
		uint32_t hard = __atomic_load_n(&sas->ctl->stub_preempts_long, __ATOMIC_RELAXED);
		atomic_store(&sas->stub_preempts, pre);
		note_preempted(sp, atomic_exchange(&sas->stub_preempts_long, hard) != hard);
	}
	uint64_t stub_spin = spin_budget(sp, 0, true) ? SPIN_MAX_NS : 0; /* (written only when it changes) */
	if (__atomic_load_n(&sas->ctl->stub_spin_ns, __ATOMIC_RELAXED) != stub_spin)
		__atomic_store_n(&sas->ctl->stub_spin_ns, stub_spin, __ATOMIC_RELAXED);

	struct st_slot hdr;
	for (;;) {
		struct cv_regs r = *regs;
		r.cs = regs->cs == CV_USER32_CS ? CV_USER32_CS : CV_USER_CS;
		r.ss = CV_USER_DS;
		r.ds = r.es = r.fs = r.gs = 0;
		r.orig_rax = (uint64_t)-1;
		memcpy(s->regs, &r, sizeof(r));
		if (ctx->fp_changed) {
			memcpy((uint8_t *)s + ST_SLOT_XSAVE_OFF, ctx->state.xsave, sp->fp_size);
			s->fp_dirty = 1;
			ctx->fp_changed = false;
			sc->fp_in_slot = false;
		}
		uint64_t t0 = st_rdtsc();
		/* A parked stub thread is woken on this CPU, where it runs while this thread waits on the
		 * listener for it: two same-CPU switches a round trip, and one CPU. Both polling on two
		 * CPUs is quicker still for quick round trips (a patched getpid 0.5 against ~8 us here):
		 * after HERE_ROUNDS of them in a row with no blocking wait (st_ctx_idle()) and CPUs to
		 * spare, it is woken where the scheduler likes, and polling resumes as after a futex
		 * wake-up. A short-lived process (a shell's child: a few dozen calls, then exec or exit)
		 * would pay that wake-up and the polling on a CPU the others need, and never win it back
		 * (busybox's 200 fork+exec 0.37 -> 0.35 s against 16 rounds, echo|cat 0.47 -> 0.43); a
		 * syscall loop that lost its polling to a hiccup takes it back after LOOP_HERE_ROUNDS. */
		uint64_t spin = spin_budget(sp, sc->run_ns, false);
		if (sc->streak < UINT32_MAX)
			sc->streak++;
		uint32_t rounds = sc->streak > LOOP_STREAK ? LOOP_HERE_ROUNDS : HERE_ROUNDS;
		bool quick = spin && stub_spin, away = quick && sc->here_rounds >= rounds;
		bool parked = false, same_cpu = false; /* (a poller is not parked: its mailbox first) */
		bool handed = hand_over(sas, sc, s, n, &same_cpu);
		if (!handed && !(parked = hand_parked(sas, s, n, !away))) {
			enqueue(sas, s, n);
			unpark_for_queue(sas);
		}
		bool here = parked && !away;
		if (same_cpu && spin && move_off_cpu(sp, sc))
			same_cpu = false;
		if (here || same_cpu)
			spin = 0;
		sc->here_rounds = here ? sc->here_rounds + 1 : 0; /* (st_ctx_idle() clears it too) */
		ret = wait_exit(ctx, sas, s, spin, here, handed);
		if (ret < 0)
			goto out;
		/* read once, validated below; the siginfo only when it means something */
		memcpy(&hdr, s, offsetof(struct st_slot, siginfo));
		if (hdr.reason == ST_R_SIGNAL)
			memcpy(hdr.siginfo, s->siginfo, sizeof(hdr.siginfo));
		sc->last_thread = hdr.last_thread; /* (only a hint: checked at use) */
		ewma(&sc->run_ns, ticks_to_ns(sp, st_rdtsc() - t0));
		sc->fp_in_slot = true;
		memcpy(regs, hdr.regs, sizeof(*regs));
		if (hdr.reason == ST_R_SIGNAL && sp->cpuid_faulting) {
			siginfo_t si;
			memcpy(&si, hdr.siginfo, sizeof(si));
			if (si.si_signo == SIGSEGV && si.si_code == SI_KERNEL && stub_emulate_cpuid(ctx, as, regs))
				continue;
		}
		break;
	}
	if (hdr.thread != 0) { /* a stub thread still claims it: the protocol was broken */
		ret = st_mark_dead(sas, true);
		goto out;
	}
	switch (hdr.reason) {
	case ST_R_SYSCALL:
		exit->reason = CV_EXIT_SYSCALL;
		sc->exit_nr = regs->orig_rax < 512 ? (uint32_t)regs->orig_rax : 512;
		/* The stub thread that handed it back polls for the next context: not after a call that
		 * usually keeps the sentry longer than the poll would last (a parent's wait4 across a
		 * child's whole fork+exec took a CPU the child needed), when the address space has ever run
		 * one context at a time (with more, another thread's context may come any moment: a futex
		 * ping-pong's waits are long, its hand-offs quick). The next switch sets it again. */
		if (atomic_load(&sas->nthreads) == 1 && atomic_load(&sp->nr_gap_us[sc->exit_nr]) > SPIN_MAX_NS / 1000)
			__atomic_store_n(&sas->ctl->stub_spin_ns, 0, __ATOMIC_RELAXED);
		if (hdr.flags & ST_F_COMPAT) {
			if (!stub_compat_insn_lost(as, regs, exit))
				exit->syscall_flags |= CV_SYSCALL_COMPAT;
		} else if (hdr.flags & ST_F_VSYSCALL) {
			exit->syscall_flags |= CV_SYSCALL_VSYSCALL;
		} else if (hdr.flags & ST_F_PATCHED) {
			exit->syscall_flags |= CV_SYSCALL_PATCHED;
		} else if (st_patch_candidate(sas, as, regs->rip, regs->orig_rax)) {
			exit->syscall_flags |= CV_SYSCALL_PATCHABLE;
		}
		break;
	case ST_R_INTERRUPT:
		exit->reason = CV_EXIT_INTERRUPT;
		atomic_store(&ctx->irq_pending, 0);
		break;
	case ST_R_SIGNAL:
		memcpy(&exit->info, hdr.siginfo, sizeof(exit->info));
		if (!signal_expected(exit->info.si_signo)) {
			ret = st_mark_dead(sas, true);
			goto out;
		}
		if (exit->info.si_signo == SIGILL && st_patch_sigill(sp, as, regs)) {
			exit->reason = CV_EXIT_SYSCALL; /* it raced a patch, or restarted at a patched site */
			break;
		}
		exit->reason = CV_EXIT_SIGNAL;
		if ((exit->info.si_signo == SIGSEGV || exit->info.si_signo == SIGBUS) && exit->info.si_code != SI_KERNEL)
			fault_access(sc, as, &hdr, exit);
		break;
	default:
		ret = st_mark_dead(sas, true);
		goto out;
	}
out:
	if (ret < 0 || exit->reason != CV_EXIT_SYSCALL)
		sc->exit_nr = ST_NO_NR;
	sc->exit_tsc = st_rdtsc();
	atomic_fetch_sub(&sas->active, 1);
	atomic_fetch_sub(&sp->in_switch, 1);
	atomic_store(ctx->run_word, 0);
	return ret;
}
