/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The systrap stub's memory layout and shared-memory protocol, included by both the freestanding stub
 * (src/systrap/stub/) and the library. Everything here is checked at compile time on both sides.
 *
 * A stub window of ST_WINDOW_SIZE bytes sits at a random page-aligned base B in the top TiB of the user
 * range, at the same address in the sentry (code and globals only) and in every stub process:
 *
 *   B + ST_CODE_OFF     stub code (the flat blob)                      R-X, sealed
 *   B + ST_GLOBALS_OFF  struct st_globals + seccomp programs           R--, sealed
 *   B + ST_SHM_OFF      the address space's shared file (see below)    request page R--, rest RW
 *   B + ST_ALT_OFF      per stub thread: 32 KiB alternate signal stack  RW, private
 *   after the stacks    patch trampolines (the platform's patch file)  R-X
 *   ST_PTAB_ADDR        patch pointer table (the same file), low in the user range   R--
 *
 * The shared file of an address space (a memfd, mapped RW in the sentry at any address):
 *
 *   ST_REQ_FOFF     struct st_request: what the syscall thread is to run (read-only in the stub)
 *   ST_CTL_FOFF     struct st_control: queue counters, spin budgets, setup handshake
 *   ST_QUEUE_FOFF   ring of ST_QUEUE_LEN context numbers (1-based, 0 = empty)
 *   ST_THREAD_FOFF  one struct st_thread page per stub thread
 *   ST_SLOT_FOFF    one struct st_slot (header + XSAVE area) per context, slot_size bytes each
 *
 * Every RW byte of the shared file and of the alternate stacks can be written by any application
 * thread of the address space. The stub treats it as its own (the damage stays inside the address
 * space); the sentry reads each value once and validates it.
 */
#ifndef CVISOR_SYSTRAP_LAYOUT_H
#define CVISOR_SYSTRAP_LAYOUT_H

#ifndef __ASSEMBLER__
#include <stdint.h>
#endif

#define ST_PAGE 4096

#define ST_CPUID_MAX 256        /* CPUID policy entries the stub can answer from (st_globals) */
#define ST_CPUID_SIGNIFICANT 1u /* st_cpuid.flags: the subleaf matters (CV_CPUID_SIGNIFICANT_INDEX) */
#define ST_CODE_OFF 0x0
#define ST_CODE_MAX 0x4000     /* the blob must fit here (checked at platform open) */
#define ST_GLOBALS_OFF 0x4000
#define ST_GLOBALS_SIZE 0x4000
#define ST_SHM_OFF 0x8000

#define ST_REQ_FOFF 0x0
#define ST_CTL_FOFF 0x1000
#define ST_QUEUE_FOFF 0x2000
#define ST_QUEUE_LEN 4096        /* >= ST_MAX_CTX: a context is queued at most once */
#define ST_THREAD_FOFF 0x10000
#define ST_MAX_THREADS 256
#define ST_SLOT_FOFF 0x200000  /* after ST_THREAD_FOFF + ST_MAX_THREADS pages */
#define ST_MAX_CTX 4096
#define ST_SLOT_XSAVE_OFF 1024   /* 64-byte aligned XSAVE area inside a slot */
#define ST_SLOT_STATE_OFF 384    /* struct st_slot.state: a cache line of its own */
#define ST_SLOT_MAX 16384      /* largest slot (XSAVE area up to 15 KiB) */

#define ST_ALT_SIZE 0x8000     /* per-thread alternate stack, naturally aligned */
#define ST_ALT_OFF(slot_span) (ST_SHM_OFF + (((uint64_t)(slot_span) + ST_ALT_SIZE - 1) & ~(uint64_t)(ST_ALT_SIZE - 1)))

/*
 * Syscall-site patching: a site `b8 imm32 0f 05` (mov $nr,%eax; syscall) becomes `ff 24 25 abs32`, a
 * jump through pointer k of the table at ST_PTAB_ADDR to trampoline k. The table's address has 0x06
 * (invalid in 64-bit mode) in its third byte, which lands on the old syscall's first byte, so a thread
 * between the two instructions while the site changes takes a SIGILL instead of running a mix.
 */
#define ST_PTAB_ADDR 0x60000
#define ST_PTAB_SIZE 0x10000       /* ST_PTAB_SIZE / 8 sites */
#define ST_PATCH_SITES (ST_PTAB_SIZE / 8)
#define ST_TRAMP_SIZE 32           /* bytes per trampoline */
#define ST_TRAMP_AREA (ST_PATCH_SITES * ST_TRAMP_SIZE)
#define ST_PXBUF 0x3000            /* patched path: XSAVE buffer at the top of the alternate stack */

/* The syscall the syscall thread makes to hand back a result and wait for the next request: a
 * number no kernel uses, turned into a seccomp user notification by its own filter. */
#define ST_DOORBELL_NR 1000
/* A stub thread of a one-thread address space with nothing to run rings the same doorbell to park
 * (args: ST_PARK, its index, a context it claimed meanwhile or 0); the sentry's answer is the context
 * to run (1-based), 0 to look at the queue again, or negative to sleep on the queue as before. */
#define ST_PARK 0x5041524bu /* "PARK" */
#define ST_PARK_AWAY 0x10000 /* in the answer with a context: woken on another CPU than the sentry's */

/* struct st_request.op */
#define ST_OP_SYSCALL 1   /* run syscall nr with args (mmap/mprotect/munmap only: the sentry's own) */
#define ST_OP_THREAD 2    /* create stub thread number args[0] */
#define ST_OP_NEWSTUB 3   /* source stub only: clone a new stub that maps the shared file args[0] */
#define ST_OP_BATCH 4     /* run batch[0..nr) in order (mmap/mprotect/munmap only), stopping at the first error */
#define ST_BATCH_MAX 64   /* entries of one batch */

#define ST_MAGIC 0x43565354 /* "CVST" */

/* Field offsets the stub's assembly uses (checked against the structs below). */
#define ST_G_SENTRY_PID 4
#define ST_G_CODE_SIZE 16
#define ST_G_SHM_SIZE 24
#define ST_G_ALT_OFF 32
#define ST_G_SUD 52
#define ST_G_ZERO_MASK 56
#define ST_G_FULL_MASK 64
#define ST_G_ALT 72
#define ST_G_ALT_STRIDE 24
#define ST_G_NOTIF_PROG 6216
#define ST_G_THREAD_PROG 6232
#define ST_G_THREADS 6888          /* struct st_globals.threads */
#define ST_G_ALT_BASE 6896
#define ST_G_XMASK 6904
#define ST_G_PATCH_FD 6912
#define ST_G_TRAMP 6920

/* struct st_thread: the patched path's register file, a kernel ucontext (see handler.c) */
#define ST_T_SELF 0
#define ST_T_KICK 48
#define ST_T_UC 512
#define ST_T_MC (ST_T_UC + 40)
#define ST_MC_R8 (ST_T_MC + 0)
#define ST_MC_R9 (ST_T_MC + 8)
#define ST_MC_R10 (ST_T_MC + 16)
#define ST_MC_R11 (ST_T_MC + 24)
#define ST_MC_R12 (ST_T_MC + 32)
#define ST_MC_R13 (ST_T_MC + 40)
#define ST_MC_R14 (ST_T_MC + 48)
#define ST_MC_R15 (ST_T_MC + 56)
#define ST_MC_RDI (ST_T_MC + 64)
#define ST_MC_RSI (ST_T_MC + 72)
#define ST_MC_RBP (ST_T_MC + 80)
#define ST_MC_RBX (ST_T_MC + 88)
#define ST_MC_RDX (ST_T_MC + 96)
#define ST_MC_RAX (ST_T_MC + 104)
#define ST_MC_RCX (ST_T_MC + 112)
#define ST_MC_RSP (ST_T_MC + 120)
#define ST_MC_RIP (ST_T_MC + 128)
#define ST_MC_EFLAGS (ST_T_MC + 136)
#define ST_MC_FPSTATE (ST_T_MC + 184)
#define ST_R_OP 0
#define ST_R_SEQ 4
#define ST_R_NR 8
#define ST_R_ARGS 16
#define ST_R_BATCH 64
#define ST_R_BATCH_STRIDE 56
#define ST_CTL_READY 0
#define ST_CTL_LISTENER 4

#ifndef __ASSEMBLER__

/* struct st_thread.state */
#define ST_T_INIT 1u       /* created, has not entered the handler yet */
#define ST_T_RUN 2u        /* inside the handler or running a context */

/* struct st_thread.mailbox */
#define ST_MB_NONE 0u      /* the thread does not poll: queue contexts for it */
#define ST_MB_POLL 0xffffffffu /* the thread polls: the sentry may put a context number here instead */

/* struct st_slot.state */
#define ST_C_IDLE 0u       /* with the sentry */
#define ST_C_QUEUED 1u     /* in the queue */
#define ST_C_RUNNING 2u    /* taken by a stub thread */
#define ST_C_EXITED 3u     /* back: reason and registers are valid */

/* struct st_slot.reason */
#define ST_R_SYSCALL 1u
#define ST_R_SIGNAL 2u
#define ST_R_INTERRUPT 3u
#define ST_R_STUBERR 4u    /* the stub found its own state corrupted */

/* struct st_slot.flags (written by the stub with an exit) */
#define ST_F_COMPAT 1u     /* 32-bit syscall (si_arch was AUDIT_ARCH_I386) */
#define ST_F_VSYSCALL 2u   /* trapped in the vsyscall page */
#define ST_F_PF 4u         /* err holds a page-fault error code */
#define ST_F_PATCHED 8u    /* the syscall came through a patched site */

/* At offset 0 of the blob: where its entry points are (offsets from B). */
struct st_exports {
	uint32_t magic;
	uint32_t handler;          /* the signal handler */
	uint32_t restorer;         /* rt_sigreturn */
	uint32_t source_entry;     /* where the source stub starts, all signals blocked, filter installed */
	uint32_t first_trap;       /* the ud2 a new stub thread enters its handler through */
	uint32_t code_end;         /* end of the blob */
	uint32_t patched_entry;    /* where patch trampolines jump */
};

/* Read-only configuration, written by the sentry before the source stub is forked. */
struct st_globals {
	uint32_t magic;
	uint32_t sentry_pid;
	uint64_t base;             /* B */
	uint64_t code_size;        /* bytes of stub code at B (the seccomp "stub code" range) */
	uint64_t shm_size;         /* bytes of the shared file */
	uint64_t alt_off;          /* ST_ALT_OFF(...) */
	uint32_t slot_size;
	uint32_t fp_size;          /* XSAVE bytes copied between signal frames and slots */
	uint32_t fsgsbase;         /* rdfsbase & co. usable */
	uint32_t sud;              /* syscall user dispatch usable */
	uint64_t zero_mask;        /* an all-clear signal mask */
	uint64_t full_mask;        /* an all-set signal mask */
	struct {                   /* sigaltstack arguments of thread i (a stack_t) */
		uint64_t sp;
		int32_t flags, pad;
		uint64_t size;
	} alt[ST_MAX_THREADS];
	struct { uint16_t len; uint16_t pad[3]; uint64_t filter; } notif_prog, thread_prog; /* sock_fprog */
	uint64_t notif_filter[16];
	uint64_t thread_filter[64];
	uint64_t threads;          /* stub address of thread page 0 */
	uint64_t alt_base;         /* stub address of alternate stack 0 */
	uint64_t xmask;            /* XSAVE feature mask of the patched path */
	int32_t patch_fd;          /* the patch file (source stub maps the table), -1: no patching */
	uint32_t rdtscp;           /* rdtscp usable: a polling thread says on which CPU (st_thread.cpu) */
	uint64_t tramp;            /* stub address of trampoline 0 */
	/* The platform's CPUID policy when the source was forked (where CPUID faults): a stub thread
	 * answers an application's CPUID from it without a trip to the sentry while the address space's
	 * request page says the policy is still this one (st_request.cpuid_local). */
	uint32_t cpuid_n;          /* entries, sorted by (leaf, subleaf); 0: never answered here */
	uint32_t pkeys;            /* protection keys are on: reading an execute-only page needs PKRU 0 */
	struct st_cpuid {
		uint32_t leaf, subleaf, flags, eax, ebx, ecx, edx;
	} cpuid[ST_CPUID_MAX];
};

/* What the sentry asks the syscall thread to do; read-only in the stub. */
struct st_request {
	uint32_t op;
	uint32_t seq;              /* source stub only: bumped by the sentry for each request */
	uint64_t nr;               /* ST_OP_BATCH: the number of entries */
	uint64_t args[6];
	struct {
		uint64_t nr;
		uint64_t args[6];
	} batch[ST_BATCH_MAX];     /* ST_OP_BATCH */
	uint32_t cpuid_local;      /* 1: st_globals.cpuid is the platform's policy (the sentry clears it) */
};

#define ST_CACHELINE 64
/* A poller that saw this much time pass between two looks lost its CPU for more than an interrupt
 * (10-30 us each on a PVM guest, and no gap over 200 us on an idle one; a runnable thread that takes
 * the CPU keeps it for milliseconds). */
#define ST_PREEMPT_LONG_US 250

struct st_control {
	/* setup handshake, written by a new stub before any application code exists */
	uint32_t ready;            /* new stub: 1 when set up; source stub: seq of the last request done */
	int32_t listener;          /* new stub: its notification fd; source stub: the new stub's pid */
	uint8_t pad0[ST_CACHELINE - 8];
	/* the queue: entries are written by the sentry, claimed by stub threads */
	uint32_t q_seq;            /* bumped by the sentry after each enqueue; stub threads sleep on it */
	uint32_t q_sleepers;       /* stub threads in (or about to be in) FUTEX_WAIT on q_seq */
	uint32_t q_head;           /* next ring position to claim (stub threads) */
	uint32_t q_tail;           /* ring positions written so far (sentry) */
	uint32_t q_spinners;       /* stub threads polling the queue (they take what is queued: no wake-up) */
	uint8_t pad1[ST_CACHELINE - 20];
	/* seldom written: apart from the queue, which pollers watch (a write here would make them miss) */
	uint64_t stub_spin_ns;     /* how long a stub thread polls the queue before sleeping (sentry-set) */
	uint64_t tsc_per_us;       /* for the stub's spin timing (sentry-set) */
	uint32_t stub_preempts;    /* bumped by a polling stub thread that found it had lost its CPU */
	uint32_t stub_preempts_long; /* ... for ST_PREEMPT_LONG_US or more (another thread had it) */
	uint32_t park_ok;          /* 1: a stub thread with nothing to run parks on the doorbell (sentry) */
	uint8_t pad2[ST_CACHELINE - 28];
};

/* One stub thread's own page (found from its alternate stack's address). */
struct st_thread {
	uint64_t self;             /* stub address of this page */
	uint32_t index;
	uint32_t state;            /* ST_T_* */
	uint32_t ctx;              /* 1-based slot whose registers are in the current signal frame, 0 none */
	uint32_t wake_slot;        /* 1-based slot whose sleeping sentry thread it wakes in next_context */
	uint64_t cur_fs, cur_gs;   /* fs/gs base installed in this thread */
	uint64_t err_line;         /* stub self-check that failed (debugging) */
	uint32_t kick_pending;     /* a kick came while the patched path ran stub code */
	uint32_t parked;           /* 1 from just before it rings the doorbell to park until answered */
	uint32_t must_ring;        /* it gave back a context the sentry waits for on the listener */
	uint32_t here;             /* its context came from a park's answer that put it on the sentry's CPU */
	/* Its own cache line: the sentry hands a context straight to a polling thread here, with no
	 * queue in between (ST_MB_*, or the 1-based context handed over), and reads the CPU it polls on
	 * (1-based; 0: not known). */
	uint32_t mailbox;
	uint32_t cpu;
	uint8_t pad4[ST_T_UC - 72];
	uint64_t uc[64];           /* the patched path's register file (struct k_ucontext) */
};

/*
 * One context's slot. Registers use the kernel's user_regs_struct order (= struct cv_regs). The state
 * word, which the sentry polls, has a cache line of its own: a stub thread writes the registers and
 * the rest first without the poller taking their lines back between its stores, then the state.
 */
struct st_slot {
	uint32_t interrupt;        /* the sentry wants the context back */
	uint32_t thread;           /* 1-based stub thread running it, 0 none */
	uint32_t reason;           /* ST_R_* */
	uint32_t flags;            /* ST_F_* */
	uint32_t fp_dirty;         /* the sentry rewrote the XSAVE area: load it */
	uint32_t last_thread;      /* 1-based stub thread that saved the XSAVE area last */
	uint64_t err, trapno;      /* from the signal frame */
	uint64_t regs[27];         /* struct cv_regs */
	uint8_t siginfo[128];      /* ST_R_SIGNAL, ST_R_INTERRUPT */
	uint32_t state;            /* ST_C_* (futex word) */
	uint32_t sentry_waits;     /* 1: the sentry sleeps on state (wake it); 2: on the listener (park) */
	uint8_t pad2[ST_CACHELINE - 8];
};

/* Compile-time layout checks shared by the stub and the library. */
#define ST_CHECK(c) _Static_assert(c, #c)
ST_CHECK(sizeof(struct st_globals) <= ST_GLOBALS_SIZE);
ST_CHECK(sizeof(struct st_request) <= ST_PAGE);
ST_CHECK(sizeof(struct st_control) == 3 * ST_CACHELINE);
ST_CHECK(ST_QUEUE_FOFF + ST_QUEUE_LEN * 4 <= ST_THREAD_FOFF);
ST_CHECK(ST_THREAD_FOFF + ST_MAX_THREADS * ST_PAGE <= ST_SLOT_FOFF);
ST_CHECK(sizeof(struct st_slot) <= ST_SLOT_XSAVE_OFF);
ST_CHECK(sizeof(struct st_thread) <= ST_PAGE);
ST_CHECK(__builtin_offsetof(struct st_thread, self) == ST_T_SELF);
ST_CHECK(__builtin_offsetof(struct st_thread, kick_pending) == ST_T_KICK);
ST_CHECK(__builtin_offsetof(struct st_thread, uc) == ST_T_UC);
ST_CHECK(__builtin_offsetof(struct st_thread, mailbox) == ST_CACHELINE);
ST_CHECK(__builtin_offsetof(struct st_globals, threads) == ST_G_THREADS);
ST_CHECK(__builtin_offsetof(struct st_globals, alt_base) == ST_G_ALT_BASE);
ST_CHECK(__builtin_offsetof(struct st_globals, xmask) == ST_G_XMASK);
ST_CHECK(__builtin_offsetof(struct st_globals, patch_fd) == ST_G_PATCH_FD);
ST_CHECK(__builtin_offsetof(struct st_globals, tramp) == ST_G_TRAMP);
ST_CHECK(((ST_PTAB_ADDR >> 16) & 0xff) == 0x06 && ST_PTAB_ADDR + ST_PTAB_SIZE <= 0x70000);
ST_CHECK(ST_TRAMP_AREA % ST_PAGE == 0);
ST_CHECK(ST_QUEUE_LEN >= ST_MAX_CTX && (ST_QUEUE_LEN & (ST_QUEUE_LEN - 1)) == 0);
ST_CHECK(__builtin_offsetof(struct st_slot, regs) % 8 == 0);
ST_CHECK(__builtin_offsetof(struct st_slot, state) == ST_SLOT_STATE_OFF && ST_SLOT_STATE_OFF % ST_CACHELINE == 0);
#define ST_OFF(t, f, v) ST_CHECK(__builtin_offsetof(struct t, f) == (v))
ST_OFF(st_globals, sentry_pid, ST_G_SENTRY_PID);
ST_OFF(st_globals, code_size, ST_G_CODE_SIZE);
ST_OFF(st_globals, shm_size, ST_G_SHM_SIZE);
ST_OFF(st_globals, alt_off, ST_G_ALT_OFF);
ST_OFF(st_globals, sud, ST_G_SUD);
ST_OFF(st_globals, zero_mask, ST_G_ZERO_MASK);
ST_OFF(st_globals, full_mask, ST_G_FULL_MASK);
ST_OFF(st_globals, alt, ST_G_ALT);
ST_CHECK(sizeof(((struct st_globals *)0)->alt[0]) == ST_G_ALT_STRIDE);
ST_OFF(st_globals, notif_prog, ST_G_NOTIF_PROG);
ST_OFF(st_globals, thread_prog, ST_G_THREAD_PROG);
ST_OFF(st_request, op, ST_R_OP);
ST_OFF(st_request, seq, ST_R_SEQ);
ST_OFF(st_request, nr, ST_R_NR);
ST_OFF(st_request, args, ST_R_ARGS);
ST_OFF(st_request, batch, ST_R_BATCH);
ST_CHECK(sizeof(((struct st_request *)0)->batch[0]) == ST_R_BATCH_STRIDE);
ST_OFF(st_control, ready, ST_CTL_READY);
ST_OFF(st_control, listener, ST_CTL_LISTENER);

#endif /* __ASSEMBLER__ */

#endif
