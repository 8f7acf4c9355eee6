/* SPDX-License-Identifier: Apache-2.0 */
/* Library-internal definitions: common object layouts, the backend ops table, logging, helpers. */
#ifndef CVISOR_INTERNAL_H
#define CVISOR_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/user.h>
#include <cvisor/cvisor.h>

/* sys/user.h has its own PAGE_MASK (the complement of ours): take it first, then replace both. */
#undef PAGE_SIZE
#undef PAGE_MASK
#define PAGE_SIZE 4096ull
#define PAGE_MASK (PAGE_SIZE - 1)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define page_aligned(x) ((((uint64_t)(x)) & PAGE_MASK) == 0)

/* Retry a call while it fails with EINTR (bubblewrap/crun TEMP_FAILURE_RETRY). */
#define RETRY_EINTR(expr)                                                                              \
	({                                                                                             \
		long __r;                                                                              \
		do                                                                                     \
			__r = (long)(expr);                                                            \
		while (__r == -1 && errno == EINTR);                                                   \
		__r;                                                                                   \
	})

/* ---- logging (src/core/log.c) ---- */
void cv_log(enum cv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool cv_log_enabled(enum cv_log_level level);
#define cv_debug(fmt, ...)                                                                             \
	do {                                                                                           \
		if (cv_log_enabled(CV_LOG_DEBUG))                                                      \
			cv_log(CV_LOG_DEBUG, "%s:%d: " fmt, __func__, __LINE__, ##__VA_ARGS__);        \
	} while (0)

/* ---- objects ---- */
#define CV_MAGIC_PLATFORM 0x43565046u /* "CVPF" */
#define CV_MAGIC_AS 0x43564153u       /* "CVAS" */
#define CV_MAGIC_CTX 0x43564358u      /* "CVCX" */
#define CV_MAGIC_DEAD 0xdeadbeefu

struct cv_platform_ops;
struct x86_cpuid_policy;

#define CV_SLOT_CHUNKS 256
#define CV_SLOTS_PER_CHUNK 256

struct cv_platform {
	uint32_t magic;
	const struct cv_platform_ops *ops;
	struct cv_platform_caps caps;
	unsigned flags;
	int device_fd;                      /* the caller's open device (CV_PLATFORM_DEVICE_FD), else -1 */
	pthread_mutex_t lock;               /* guards slot allocation and cpuid policy swaps */
	struct x86_cpuid_policy *_Atomic cpuid; /* current policy (replaced wholesale, freed at close) */
	struct x86_cpuid_policy **old_cpuid; /* retired while switches may still read them */
	size_t n_old_cpuid;
	atomic_int n_as;
	atomic_int n_ctx;
	/*
	 * Kick slots: one word per context saying where it runs (backend-defined, 0 = not running), so
	 * cv_platform_preempt_all() can walk them from a signal handler without locks. Chunks are
	 * allocated on demand and freed only at close.
	 */
	_Atomic uint64_t *_Atomic slot_chunks[CV_SLOT_CHUNKS];
	uint8_t *slot_used;                 /* bitmap, guarded by lock */
	void *priv;                         /* backend state */
};

/* One mapping of an address space, kept by the common layer for AS IO and instruction fetches. */
struct as_mapping {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	unsigned access;
	bool maywrite;       /* mapped through an fd open for writing: the host lets it become writable */
	struct as_fdref *ref;/* the backing file, shared by pieces of a split mapping */
};

/* A file mapped into an address space: one per distinct file (by inode) and address space. */
struct as_fdref {
	int fd;              /* private dup (O_CLOEXEC): the file stays reachable whatever the caller does */
	int refs;            /* mapping-table entries using it (guarded by the address space's lock) */
	uint64_t dev, ino;
	bool memfile;        /* a cv_memfile's memfd: accessed through its mapping while it is open */
	bool rdwr;           /* fd was opened O_RDWR (AS IO can write through it) */
	struct as_fdref *next;
};

struct cv_as {
	uint32_t magic;
	struct cv_platform *p;
	pthread_mutex_t lock;      /* guards the mapping table */
	struct as_mapping *maps;   /* sorted, non-overlapping */
	size_t n_maps, cap_maps;
	struct as_fdref *files;    /* files the table refers to */
	atomic_int running;        /* contexts currently running in it */
	atomic_bool dead;
	void *priv;
};

struct cv_ctx {
	uint32_t magic;
	struct cv_platform *p;
	unsigned flags;
	struct cv_cpu_state state;
	atomic_int busy;           /* a switch is in progress */
	atomic_int irq_pending;    /* cv_ctx_interrupt() since the last switch returned */
	bool fp_changed;           /* sentry rewrote state.xsave */
	int slot;                  /* kick slot index */
	_Atomic uint64_t *run_word;/* kick target while running (backend-defined), else 0 */
	void *priv;
};

/*
 * A backend. The common layer validates every argument and handle before calling in, keeps the
 * address-space mapping table, and serialises nothing else: backends do their own locking.
 */
struct cv_platform_ops {
	const char *name;
	/* cv_platform_host_syscalls(): what the backend's code running in the caller's threads calls */
	const int *host_syscalls;
	int n_host_syscalls;
	struct cv_platform_requirements req;
	/* Optional: read what the backend must know of the host while the caller can still see it
	 * (cv_platform_requirements(), called before a caller confines itself; probe and open too). */
	void (*prepare)(void);
	/* 0 if usable here, else -errno with a reason in why. */
	int (*probe)(char *why, size_t whylen);
	/* Fill p->caps (except xsave fields, set by the core) and p->priv. */
	int (*open)(struct cv_platform *p);
	void (*close)(struct cv_platform *p);
	int (*as_new)(struct cv_as *as);
	int (*as_map)(struct cv_as *as, uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access,
		      bool precommit);
	/* Optional: several as_map()s in order, stopping at the first failure (its error returned);
	 * *done = how many succeeded. At most AS_MAP_MANY_MAX; arguments already checked. Where
	 * @protect_only[i] (only with as_protect), m[i] is as_protect() of its range to its access. */
	int (*as_map_many)(struct cv_as *as, const struct cv_as_mapping *m, const bool *protect_only, size_t n,
			   size_t *done);
	/* Optional: change the access of [addr, addr+len), which is mapped without a hole, keeping the
	 * pages (and the host's page tables) in place; as_map() of the same file range does the same by
	 * replacing the mapping. The core calls it for an as_map() that only changes the access. */
	int (*as_protect)(struct cv_as *as, uint64_t addr, uint64_t len, unsigned access);
	int (*as_unmap)(struct cv_as *as, uint64_t addr, uint64_t len);
	void (*as_release)(struct cv_as *as);
	int (*as_prefork)(struct cv_as *as);
	int (*as_postfork)(struct cv_as *as);
	int (*as_patch_syscall)(struct cv_as *as, uint64_t rip);
	int (*ctx_new)(struct cv_ctx *ctx);
	void (*ctx_release)(struct cv_ctx *ctx);
	int (*ctx_switch)(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit);
	/*
	 * Make the context running at kick target @target (a run_word value) leave application code
	 * soon. Async-signal-safe; may hit a context that already stopped (spurious interrupts are ok).
	 */
	void (*kick)(struct cv_platform *p, uint64_t target);
	/* Optional: the CPUID policy was replaced (cv_platform_set_cpuid); a backend that answers CPUID
	 * from a copy of it stops. */
	void (*cpuid_changed)(struct cv_platform *p);
	int (*ctx_pull)(struct cv_ctx *ctx);
	int (*ctx_sleep)(struct cv_ctx *ctx);
	void (*ctx_idle)(struct cv_ctx *ctx); /* optional: cv_ctx_idle()'s hint */
};

extern const struct cv_platform_ops cv_ptrace_ops;
extern const struct cv_platform_ops cv_systrap_ops;
extern const struct cv_platform_ops cv_kvm_ops;

/* ---- common helpers (src/core) ---- */
bool platform_valid(const struct cv_platform *p);
bool as_valid(const struct cv_as *as);
bool ctx_valid(const struct cv_ctx *ctx);

/*
 * Read application memory through the mapping table, ignoring access bits (for instruction fetches
 * of exec-only code). Returns bytes read (possibly short), or -EFAULT if none.
 */
long as_read_raw(struct cv_as *as, uint64_t addr, void *dst, size_t len);
/* Is [addr, addr+len) inside one mapping of a file that is not a memory file? Then true, with the
 * file's device and inode and the range's offset in it in @key. */
bool as_file_position(struct cv_as *as, uint64_t addr, size_t len, uint64_t key[3]);
/* Write application memory ignoring access bits, only where a memory file backs it (patched code).
 * Returns bytes written, or -EFAULT if a page of the range is not memory-file backed. */
long as_write_memfile(struct cv_as *as, uint64_t addr, const void *src, size_t len);
/* Map the page at @addr again, as the mapping table has it: the host takes the old page-table entry
 * away, and every CPU running the address space's threads gets a TLB-shootdown interrupt, whose
 * return serializes it (no instruction fetched before it survives). 0 or -errno. */
int as_serialize_page(struct cv_as *as, uint64_t addr);

int platform_slot_alloc(struct cv_platform *p, _Atomic uint64_t **word);
void platform_slot_free(struct cv_platform *p, int slot);

/* The current CPUID policy of a platform, for backend emulation. */
void platform_cpuid(struct cv_platform *p, uint32_t leaf, uint32_t subleaf, struct cv_cpuid_entry *out);

/* ---- memfile registry (src/memfile), used by AS IO for direct access ---- */
/*
 * If @fd is the fd of a live cv_memfile, store its caller-side mapping base and current size and
 * return true. The mapping stays valid until that memfile is closed.
 */
bool memfile_lookup_fd(int fd, void **base, uint64_t *size);
/*
 * The live cv_memfile whose memfd is inode @ino on device @dev, with its mapping and current size;
 * it cannot be unmapped (cv_memfile_close waits) until memfile_release(). NULL if none.
 */
struct cv_memfile *memfile_acquire_ino(uint64_t dev, uint64_t ino, void **base, uint64_t *size);
void memfile_release(struct cv_memfile *mf);
/* The size of a memory file's caller-side reservation (its largest possible size). */
uint64_t memfile_max_size(const struct cv_memfile *mf);
/*
 * Fences: pages of @mf freed while a fence is up are never punched out, hence never handed out again,
 * until every fence that was up when they were freed is down. A platform raises one over each memory
 * file an address space maps when it lets that address space's stub end after its release returns (the
 * caller frees the pages next; a stub may still run what the application left queued), and lowers it
 * once the stub is gone. The caller holds a memfile_acquire_ino() reference meanwhile. Up returns the
 * fence's number, 0 if out of memory.
 */
uint64_t memfile_fence_up(struct cv_memfile *mf);
void memfile_fence_down(struct cv_memfile *mf, uint64_t fence);

/* A fence over each memory file address space @as maps (as.c), for a platform that ends its stub after
 * the release returns; NULL if it could not raise them all (then none is up). as_fences_down lowers
 * them and frees the set (NULL: nothing). */
struct as_fences;
struct as_fences *as_fences_up(struct cv_as *as);
void as_fences_down(struct as_fences *f);

/* ---- host helpers (src/core/host.c) ---- */
int host_membarrier_probe(void);  /* 0 if a global membarrier is available */
int host_membarrier(void);
int host_gettid(void);

/* ---- stub-process backends (src/core/stubhost.c) ---- */
uint64_t host_mmap_min_addr(void); /* vm.mmap_min_addr, page aligned, at least one page */
/* Run @fn(@arg) in a child that shares this process's memory, and wait for it: a vfork, so nothing of
 * the address space is copied (a fork's copy costs a millisecond and more on a VM, for each probe of a
 * sentry's start). The child has copies of the signal actions and fds; @fn makes raw system calls only
 * and reports through @arg (an exit status is lost where the host ignores SIGCHLD). False if no child
 * could be made. */
bool host_try_in_child(int (*fn)(void *), void *arg);
/* Such a child's functions: not instrumented by AddressSanitizer, whose bookkeeping is the parent's. */
#define CV_CHILD_FN __attribute__((no_sanitize_address))
/* What the host allows, tried once in one child (host_try_in_child) and remembered. */
struct host_probes {
	bool cpuid_faulting; /* arch_prctl(ARCH_SET_CPUID, 0) works */
	bool listener;       /* a seccomp filter with a user-notification listener can be installed */
	bool int80;          /* the kernel runs int $0x80 (ia32 emulation) */
};
const struct host_probes *host_probes(void);
bool host_runs_int80(void);        /* host_probes()->int80 */
bool host_has_vsyscall(void);      /* the kernel maps the legacy vsyscall page (not vsyscall=none) */
bool host_umip_on(void);            /* the kernel keeps CR4.UMIP (sgdt faults in user mode), tried in a child */
/* An injected mmap's result: 0 if it landed at @addr, else the errno worth passing on, or -EIO. */
int stub_mmap_result(long res, uint64_t addr);
#define AS_MAP_MANY_MAX 32 /* mappings per as_map_many() call */
/* The arguments of mmap(MAP_SHARED | MAP_FIXED [| MAP_POPULATE]) for cv_as_map(). */
void stub_mmap_args(uint64_t args[6], uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access,
		    bool precommit);
int stub_munmap_result(long res); /* an injected munmap's result as cv_as_unmap() returns it */
/* The arguments of mprotect() for as_protect(), and its result as cv_as_map() returns it. */
void stub_mprotect_args(uint64_t args[6], uint64_t addr, uint64_t len, unsigned access);
int stub_mprotect_result(long res);
/* Under CPUID faulting: answer a cpuid at rip from the policy and step over it; false if none. */
bool stub_emulate_cpuid(struct cv_ctx *ctx, struct cv_as *as, struct cv_regs *r);
/*
 * A 32-bit syscall that did not come from an int $0x80 (the two bytes before rip are not cd 80): a
 * syscall or sysenter in 32-bit code. The kernel has already replaced its return address with its own
 * vDSO landing pad, so it cannot be resumed; turn @exit into the SIGILL that documents this.
 */
bool stub_compat_insn_lost(struct cv_as *as, const struct cv_regs *r, struct cv_exit *exit);

/* Classic BPF for seccomp filters. */
#define SF_LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define SF_JEQ(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf))
#define SF_JGE(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (jt), (jf))
#define SF_JGT(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (k), (jt), (jf))
#define SF_RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define SD_NR offsetof(struct seccomp_data, nr)
#define SD_ARCH offsetof(struct seccomp_data, arch)
#define SD_IP_LO offsetof(struct seccomp_data, instruction_pointer)
#define SD_IP_HI (SD_IP_LO + 4)
#define SD_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define SD_ARG_HI(i) (SD_ARG_LO(i) + 4)

#endif
