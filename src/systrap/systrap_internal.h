/* SPDX-License-Identifier: Apache-2.0 */
/* Private state of the systrap backend (see docs/systrap.md and src/systrap/layout.h). */
#ifndef CVISOR_SYSTRAP_INTERNAL_H
#define CVISOR_SYSTRAP_INTERNAL_H

#include "internal.h"
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include "systrap/layout.h"

/* Linux 6.6 (older headers lack them) */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

extern const uint8_t cv_systrap_blob[], cv_systrap_blob_end[];

#define ST_TASK_SIZE 0x7ffffffff000ull
#define ST_WINDOW_LO 0x7f0000000000ull /* stub windows live in the top TiB; applications below it */
#define ST_AS_TABLE 4096               /* address spaces alive at once (kick lookup table) */
#define ST_KICK_SIGNAL SIGCHLD
#define ST_PATCH_HASH (2 * ST_PATCH_SITES) /* open addressing over site addresses */
#define ST_POOL_READY 2                    /* CV_PLATFORM_STUB_POOL: address spaces kept prepared */
#define ST_SITE_CACHE 256                  /* per address space: syscall sites already looked at */
#define ST_SITE_VERDICTS 4096              /* per platform: verdicts on sites in host files, by file position */

struct st_as;

struct st_platform {
	uint64_t base;                  /* B: the stub window, same address in the sentry and all stubs */
	uint64_t window_size;
	struct st_globals *g;           /* the sentry's (writable until the source forks) copy */
	const struct st_exports *ex;
	uint32_t slot_size, fp_size;
	uint64_t shm_size, alt_off;
	int sentry_pid;
	int ncpu;
	bool cpuid_faulting;
	atomic_bool cpuid_local;        /* the stubs answer CPUID from the globals' table (stubproc.c) */
	uint64_t tsc_per_us;

	/* the source stub and its channel (B + ST_SHM_OFF, a private memfd) */
	int source_pid;
	struct st_request *src_req;
	struct st_control *src_ctl;
	uint32_t src_seq;
	pthread_mutex_t source_lock;

	/* the monitor thread: parent of every stub (PR_SET_PDEATHSIG) and watcher of their deaths */
	pthread_t monitor;
	bool monitor_running;
	int epfd, evfd;
	pthread_mutex_t lock;           /* guards as_list and as_table slot allocation */
	struct st_as *as_list;
	struct st_as *_Atomic as_table[ST_AS_TABLE];
	atomic_int kickers;             /* kicks in flight (release waits for them) */
	pthread_mutex_t bind_lock;      /* context <-> slot bindings */
	atomic_int in_switch;           /* contexts in cv_ctx_switch() on this platform */
	_Atomic uint64_t busy_until;    /* TSC: only the sentry polls, briefly, before this (a poller lost its CPU) */
	_Atomic uint64_t hard_until;    /* TSC: nobody polls before this (... for ST_PREEMPT_LONG_US or more) */
	/* EWMA per syscall number (512: any larger): the sentry's time between a context's exit for it
	 * and its next entry, in us. A stub thread does not poll on after one that usually takes longer
	 * than it would poll (wait4, execve, a blocking read): switch.c. */
	_Atomic uint32_t nr_gap_us[513];
	_Atomic uint64_t busy_ticks;    /* length of the last such period */

	/* the stub pool (stubpool.c, CV_PLATFORM_STUB_POOL) */
	bool pool_on;
	bool pool_stop;
	bool pool_failed;               /* the last preparation failed: wait for the next take */
	int pool_n;
	unsigned pool_takes;            /* address spaces asked for: one is prepared before the first, the pool fills from the second on */
	struct st_as *pool[ST_POOL_READY]; /* prepared, not yet an address space's */
	struct st_as *pool_dying;       /* released, stub killed: to reap (linked by next) */
	pthread_t pool_thread;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;

	/* syscall-site patching (patch.c) */
	bool patching;
	int patch_fd;
	uint8_t *patch_rw;              /* the patch file: pointer table, then trampolines */
	uint64_t tramp_off;             /* trampolines at B + tramp_off */
	pthread_mutex_t patch_lock;
	uint32_t patch_n;
	struct { uint64_t addr; uint32_t nr; } patch_site[ST_PATCH_SITES];
	int32_t patch_hash[ST_PATCH_HASH]; /* site index + 1; 0: empty (the zeroed allocation is the empty table) */
	/* Is the site at this position of this host file patchable for this number? A hash of the four
	 * with bit 1 set and the verdict in bit 0; 0: empty. Shared by every address space: each process
	 * of the same program traps at the same sites, and reading a site from a host file is a pread. */
	_Atomic uint64_t site_verdicts[ST_SITE_VERDICTS];
};

/* One stub process. */
struct st_as {
	struct st_platform *sp;
	struct cv_as *as;
	int pid, pidfd, listener;
	int table_index;
	uint8_t *shm;                   /* the sentry's mapping of the shared file */
	struct st_request *req;
	struct st_control *ctl;
	uint32_t *ring;
	pthread_mutex_t inj_lock;       /* the listener's one receiver; the syscall thread's one request */
	uint64_t notif_id;
	bool have_notif;
	long rx_result, rx_done;        /* the syscall thread's last doorbell arguments */
	bool sync;                      /* the listener wakes on the current CPU: stub threads may park */
	atomic_bool park_on;            /* they do (one stub thread, one context bound): ctl->park_ok */
	int nudge_fd;                   /* eventfd: asks a thread waiting on the listener for inj_lock */
	atomic_bool rx_waiting;         /* a sentry thread holds inj_lock, waiting on the listener */
	atomic_int rx_want;             /* threads waiting for inj_lock */
	atomic_bool park_have;          /* park_id: stub thread 0's park, not answered yet (inj_lock) */
	atomic_bool park_stray;         /* a sentry thread listened for a context: its stub thread may
					 * park with nobody to answer once the address space has more */
	uint64_t park_id;
	int park_pid;
	pthread_mutex_t thread_lock;    /* adding stub threads */
	int tids[ST_MAX_THREADS];
	atomic_int nthreads;
	pthread_mutex_t q_lock;         /* enqueue */
	uint32_t q_tail;
	atomic_int active;              /* contexts queued or running in this address space */
	struct cv_ctx *slot_ctx[ST_MAX_CTX + 1]; /* 1-based (bind_lock) */
	uint32_t nbound;                /* contexts with a slot here (bind_lock) */
	uint32_t slot_hint;
	atomic_bool dead;
	atomic_bool tampered;
	atomic_uint stub_preempts;      /* ctl->stub_preempts last seen */
	atomic_uint stub_preempts_long; /* ctl->stub_preempts_long last seen */
	_Atomic uint64_t gap_ns;        /* EWMA: sentry time between a context's exit and its next entry */
	_Atomic uint64_t site_cache[ST_SITE_CACHE]; /* rip << 17 | patchable << 16 | nr */
	struct as_fences *fences;       /* released with the pool: its memory files' fences, down once it is reaped */
	struct st_as *next;
};

struct st_ctx {
	struct st_as *sas;              /* where the context has a slot (bind_lock), or NULL */
	uint32_t slot;                  /* 1-based */
	bool fp_in_slot;                /* the slot holds newer XSAVE state than ctx->state.xsave */
	bool fp_lost;
	uint64_t exit_tsc;              /* when the last switch returned */
	uint32_t exit_nr;               /* the syscall it returned for (0-512), or ST_NO_NR */
	uint64_t run_ns;                /* EWMA: time in the application per switch */
	uint32_t here_rounds;           /* quick round trips in a row with a parked stub thread on this CPU */
	uint32_t streak;                /* switches since its last blocking wait (cv_ctx_idle) */
	uint32_t last_thread;           /* 1-based stub thread that gave it back last (a hint), 0 none */
	uint64_t moved_tsc;             /* when its sentry thread last moved off a stub thread's CPU */
	uint64_t last_fault_addr, last_fault_ip;
};

#define ST_NO_NR 0xffffffffu

void st_cpuid_changed(struct cv_platform *p);

static inline struct st_platform *st_platform(struct cv_platform *p)
{
	return p->priv;
}

static inline struct st_slot *st_slot(const struct st_as *sas, uint32_t n)
{
	return (struct st_slot *)(sas->shm + ST_SLOT_FOFF + (uint64_t)(n - 1) * sas->sp->slot_size);
}

static inline struct st_thread *st_thread_page(const struct st_as *sas, uint32_t i)
{
	return (struct st_thread *)(sas->shm + ST_THREAD_FOFF + (uint64_t)i * ST_PAGE);
}

static inline uint64_t st_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

long st_futex(void *addr, int op, uint32_t val, const struct timespec *ts);

/* ---- listener.c ---- */
enum { ST_RX_DOORBELL = 1, ST_RX_PARK, ST_RX_NONE, ST_RX_TIMEOUT };
/* Receive and sort one notification (inj_lock held), waiting up to @timeout_us (-1: no limit; with
 * @nudgeable, a write to nudge_fd ends the wait too): ST_RX_*, or the address space's error. */
int st_rx(struct st_as *sas, int64_t timeout_us, bool nudgeable);
/* Take inj_lock once the syscall thread waits for a request (the caller unlocks in any case). */
int st_channel_lock(struct st_as *sas);
void st_channel_unlock(struct st_as *sas);
/* inj_lock held: answer parked stub thread 0 with context @n of slot @s (named its thread, queued
 * state), or with 0 (look at the queue); @here: woken on this CPU (else where the scheduler likes).
 * Waits for a ring it said is coming. False: nothing parked. */
bool st_unpark_locked(struct st_as *sas, struct st_slot *s, uint32_t n, bool here);
/* inj_lock held, more than one stub thread: answer every thread parked on the doorbell (a park
 * kept from when there was one, rings nobody receives) so that it sleeps on the queue instead. */
void st_release_parked_locked(struct st_as *sas);

/* ---- stubproc.c ---- */
int st_stub_setup(struct cv_platform *p);
void st_stub_teardown(struct cv_platform *p);
int st_as_create(struct st_platform *sp, struct st_as *sas);
/* Kill the stub now (its end is reaped by st_as_destroy()). */
void st_as_kill(struct st_as *sas);
void st_as_destroy(struct st_as *sas);
/* Run syscall @nr in the stub through its syscall thread; result in *@ret. */
int st_inject(struct st_as *sas, uint32_t op, long nr, const uint64_t args[6], long *ret);
/* Run @n (<= ST_BATCH_MAX) syscalls in order, stopping at the first that fails: *@done of them
 * succeeded; *@ret is the result of the last one run. */
int st_inject_batch(struct st_as *sas, const long *nr, const uint64_t (*args)[6], size_t n, long *ret, size_t *done);
/* Add a stub thread if fewer than @want exist; 0 or -errno. */
int st_thread_add(struct st_as *sas, int want);
int st_mark_dead(struct st_as *sas, bool tampered);

/* ---- systrap.c ---- */
/* A new stub with its first stub thread, not yet registered: NULL and *@err on failure. */
struct st_as *st_sas_prepare(struct st_platform *sp, int *err);
/* Destroy and free one (killed, or never registered). */
void st_sas_free(struct st_as *sas);

/* ---- stubpool.c ---- */
int st_pool_start(struct st_platform *sp);
void st_pool_stop(struct st_platform *sp);       /* ends every prepared and released stub */
struct st_as *st_pool_take(struct st_platform *sp); /* a prepared, live stub, or NULL */
bool st_pool_reap(struct st_platform *sp, struct st_as *sas); /* false: not pooling, destroy it yourself */

/* ---- patch.c ---- */
int st_patch_setup(struct st_platform *sp);   /* after the window exists; turns patching off on failure */
void st_patch_teardown(struct st_platform *sp);
/* Could the syscall that returned to @rip with number @nr be patched (cached per address space)? */
bool st_patch_candidate(struct st_as *sas, struct cv_as *as, uint64_t rip, uint64_t nr);
/* A SIGILL at a patched site's 0x06: turn *@r into the syscall it was making; false if not one. */
bool st_patch_sigill(struct st_platform *sp, struct cv_as *as, struct cv_regs *r);
int st_as_patch_syscall(struct cv_as *as, uint64_t rip);
int st_as_prefork(struct cv_as *as);
int st_as_postfork(struct cv_as *as);

/* ---- filter.c ---- */
int st_build_filters(struct st_globals *g, uint64_t base, uint64_t code_size, struct sock_fprog *process_prog,
		     void *process_buf, size_t process_max);

/* ---- switch.c ---- */
int st_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit);
void st_kick(struct cv_platform *p, uint64_t target);
int st_ctx_pull(struct cv_ctx *ctx);
void st_ctx_unbind(struct cv_ctx *ctx, bool keep_state);

#endif
