/* SPDX-License-Identifier: Apache-2.0 */
/* The sentry: a user-space kernel on top of libcvisor's public API (processes, memory, fds, syscalls). */
#ifndef CVISOR_SENTRY_H
#define CVISOR_SENTRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <cvisor/cvisor.h>

#define SENTRY_PATH_MAX 4096

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; newer than this build's headers */
#endif
#define SENTRY_MAX_MOUNTS 32 /* a container's mounts (struct sentry_mount) */
#define POLICY_MAX_MOUNTS (35 + SENTRY_MAX_MOUNTS)

struct sentry_bind {
	const char *path;     /* host directory, visible at the same path in the sandbox */
	bool rw;
	bool as_root;         /* read-only with the caller's ownership (--ro-as-root): root-only files readable */
};

/* A mount an OCI bundle asks for (tools/oci_config.c): made by the kernel in the sentry's view, at
 * @dest inside the root (view.c), before the pivot; the sandbox's walks cross it like any mount. */
struct sentry_mount {
	const char *src;      /* host file or directory to bind; NULL: a tmpfs of the sandbox's own */
	const char *dest;     /* absolute sandbox path (made in the root's overlay if missing) */
	bool rw;
	const char *data;     /* tmpfs options (size=, mode=, nr_inodes=) or NULL */
};

struct sentry_opts {
	const char *platform; /* NULL: best usable */
	bool trace;           /* strace-like line per syscall on stderr */
	bool stats;           /* a table of syscall counts and times on stderr at exit */
	bool no_patch;        /* never patch syscall sites (systrap) */
	bool net;             /* --net: IPv4/IPv6/route-netlink sockets on the host's network */
	bool netns_made;      /* without --net: the caller already made the network namespace of the
			       * sandbox's own, and the jail makes no other (OCI create: the engine's hooks
			       * set it up through the container process's /proc/PID/ns/net) */
	const char *root;     /* host directory shown as "/" (NULL: the host's root), read-only */
	const char *cwd;      /* initial working directory in the sandbox (NULL: the caller's) */
	struct sentry_bind binds[32]; /* --ro / --rw */
	int n_binds;
	bool no_confine;      /* --unsafe-no-confine: the sentry in the caller's process, namespaces, privileges */
	/* A container (the OCI runtime, tools/oci_*.c, docs/oci.md); all of it needs the jail. */
	bool oci;             /* /tmp is the root's own, not a private tmpfs; the first process is an init */
	const char *overlay;  /* host directory holding upper/ and work/: the root becomes an overlay of
			       * @root (never written) under upper/ (copy-up); NULL: the root read-only */
	bool root_ro;         /* with @overlay: read-only once the mounts' points are made */
	const struct sentry_mount *mounts;
	int n_mounts;
	const char *hostname; /* the UTS namespace's name */
	bool set_creds;       /* the first process runs as uid/gid/groups below, not as the caller */
	uint32_t uid, gid;
	const uint32_t *groups;
	int ngroups;
	bool set_caps;        /* its capabilities (effective = permitted) are @caps, not all-or-none */
	uint64_t caps;
	bool no_new_privs;
	uint32_t rlimits_set; /* bit per RLIMIT_*: the first process starts with rlimits[i] */
	struct rlimit rlimits[RLIM_NLIMITS];
	/* The network sysctls a container may set (OCI linux.sysctl): the lowest port that needs no
	 * CAP_NET_BIND_SERVICE in the sandbox (set_unpriv_port; else 1024), and who may open ICMP echo
	 * sockets (written into the sentry's own network namespace; NULL: the kernel's default). */
	bool set_unpriv_port;
	int unpriv_port_start;
	const char *ping_group_range;
	/* Resource limits (--memory, --pids; OCI linux.resources): the bytes of the sandbox's memory (its
	 * memory file: anonymous and private memory, copies on write) and the tasks alive at once; 0: none. */
	uint64_t mem_limit;
	uint32_t pids_limit;
	uint64_t shm_size;    /* OCI: the engine's /dev/shm size (a tmpfs's size=, a bind's tmpfs); 0: none */
	bool proc_for_caller; /* the caller has a private mount namespace of its own: the sentry mounts a procfs
			       * of its pid namespace on the caller's /proc (jail.c; what `podman top` reads) */
	bool control;         /* @control_fd: a listening socket of the runtime's control channel (control.c) */
	int control_fd;
	/* Confined, at the first process's end: say its status and end without freeing anything, every
	 * task killed by the kernel with the sentry's pid namespace (cvisor run; run.c). Else, and always
	 * with --stats or a control channel, every task is stopped and everything freed first (which also
	 * checks that every memory had its last user: the tests' default). */
	bool quick_exit;
};

/*
 * What the caller's process hands to the sentry (jail.c): the program, where it starts, who it runs as,
 * and whether the sentry is confined (its own namespaces and mount view, view.c; ids translated).
 */
struct launch {
	int prog_fd;                  /* the program, opened by the caller; -1: by name through the policy */
	int device_fd;                /* the platform's device (/dev/kvm), opened by the caller, or -1 */
	char exe[4096];               /* /proc/self/exe of the first process */
	char cwd[SENTRY_PATH_MAX];    /* its working directory, a sandbox path */
	uint32_t uid[3], gid[3];      /* the caller's ids: the sandbox's credentials */
	uint32_t groups[64];
	int ngroups;
	bool confined;                /* in the jail: the policy's host paths are the view's (view.c) */
	bool private_net;             /* the jail's network namespace has its loopback up */
	/* Ids the kernel reports inside the jail's user namespace, as the program must see them: the
	 * jail's own id 0 is the caller's, the overflow id a host id the namespace does not map. */
	uint32_t self_uid, self_gid, unmapped_uid, unmapped_gid, overflow_uid, overflow_gid;
	int ids_fd; /* not started by root: a socket to the caller, which says whose a file is (ids.c) */
	uint64_t ignored; /* the signals the caller ignores: the program starts ignoring them too */
	int report_fd;    /* confined: the pipe to the caller (jail.c), else -1 */
	bool own_session; /* no terminal anywhere: the sentry takes a session of its own (jail.c) */
	uint64_t hwcap;   /* the host kernel's AT_HWCAP (its leaf-1 EDX less what it turned off), or 0 */
};

struct mountpt {
	char spath[SENTRY_PATH_MAX]; /* where the sandbox sees it */
	char hpath[SENTRY_PATH_MAX]; /* the host directory */
	int fd;                      /* O_PATH fd of the host directory */
	bool rw;
	bool on_procfs;              /* the host directory is on procfs (everything below is refused) */
	bool nodev;                  /* ... on a host mount where no device node opens (MS_NODEV) */
	uint64_t dev;                /* st_dev of the host directory */
};

struct policy {
	struct mountpt m[POLICY_MAX_MOUNTS];
	int n;
	char tmpdir[64];             /* host directory behind the private /tmp */
	char shmdir[64];             /* ... and behind the private /dev/shm */
};

/* The kernel's struct sigaction for rt_sigaction on x86-64. */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

/* A host file mapped shared into the address space itself (MAP_SHARED of a regular file): one
 * reference per VMA using it; the fd is the sentry's own copy, for installing the VMA again. */
struct hostmap {
	int fd;
	int refs;             /* atomic */
	uint64_t dev, ino;    /* the file's identity: shared futexes in it are keyed by it */
	int8_t sealed;        /* strcache.c: 1 the sandbox cannot change the file, 0 it may, -1 not asked */
	bool priv;            /* made for private mappings (their fd is only read): any of the file's may use it */
	bool noexec;          /* its mount refuses PROT_EXEC, or not known (mm_defer.c holds such installs back
			       * only without exec: the host's refusal must show as mmap's error) */
};

/* One mapping of application memory. It lives in the memory file (private file mappings are copies),
 * except a MAP_SHARED file mapping, which maps the host file itself. */
struct vma {
	uint64_t start, end;
	uint64_t mf_off;      /* memory-file offset of start (host file offset if @host) */
	struct hostmap *host; /* MAP_SHARED file mapping, else NULL */
	unsigned access;      /* CV_ACCESS_* */
	bool shared;          /* MAP_SHARED anonymous */
	bool cow;             /* private, but its pages may be shared (file cache, fork): installed without
			       * write access, copied on the first write (mm_cow.c) */
	bool file;            /* a private copy of a file (MADV_DONTNEED keeps its contents) */
	uint8_t fork;         /* VMA_FORK_*: what a fork() gives the child (madvise) */
	uint8_t special;      /* VMA_VDSO, VMA_VVAR (mm/vdso.c), else 0 */
	bool lazy;            /* private anonymous memory not populated yet: no memory-file pages, nothing
			       * installed; the first access faults and populates it (mm_fault) */
	bool bus;             /* (lazy too) past the end of the file a private writable mapping copies:
			       * never populated, an access is SIGBUS as in Linux (mm_set_bus) */
};

#define VMA_VDSO 1 /* the vDSO's image: copy-on-write memory-file pages every process shares */
#define VMA_VVAR 2 /* its data page: read-only, never writable or executable (mprotect: EACCES) */

#define VMA_FORK_COPY 0   /* the child gets the memory (shared or copy-on-write) */
#define VMA_FORK_NONE 1   /* MADV_DONTFORK: the child has no mapping there */
#define VMA_FORK_WIPE 2   /* MADV_WIPEONFORK: the child gets zeroes */

struct mm_pin;

/* A signalfd (sigfd.c): the application's descriptor is the read end of a host pipe. */
struct sigfd {
	uint64_t ino;          /* the pipe's inode: what identifies the signalfd behind any dup */
	int wr;                /* the sentry's write end: a byte in the pipe makes the fd ready */
	uint64_t mask;         /* signals it reads (s->lock) */
	struct sigfd *next;
};

struct mm {
	struct vma *v;        /* sorted, non-overlapping */
	size_t n, cap;
	struct mm_pin *pins;  /* pins the sentry writes through, in progress (fork copies their pages now) */
	uint64_t brk_start, brk;
	uint64_t mmap_base;   /* top-down allocation starts below this */
	uint64_t stack_start; /* the initial stack's mapping (RLIMIT_DATA does not count it) */
	uint64_t patch_hits[64]; /* patchable syscall sites seen, by hash: (rip << 16) | hits (mm_patch_wanted) */
	uint64_t patch_traps;    /* patchable traps seen (mm_patch_wanted: no patching while young) */
	bool deferring;       /* installs are held back in defer[] (an image being loaded: mm_defer_installs) */
	bool defer_ok;        /* in an mmap: an install into a range with nothing installed may wait (mm_defer.c) */
	struct cv_as_mapping *defer; /* installs held back, in order */
	struct hostmap **defer_host; /* each one's own reference: its host file, or NULL: its memory-file pages */
	size_t ndefer, defer_cap;    /* (ndefer: atomic, changed under the vm's lock) */
	uint64_t flushes;            /* batches of held-back installs made (atomic) */
	struct mm_kept *kept; /* references of a batch that failed and could not be undone: kept to the end */
};

struct mm_kept {
	struct hostmap *host; /* or NULL: memory-file pages [off, off+len) */
	uint64_t off, len;
	struct mm_kept *next;
};

/* A string read from a private read-only file mapping (strcache.c). */
struct strc_ent {
	uint64_t addr, foff, dev, ino; /* where, and what backed it */
	uint64_t when;                 /* CLOCK_MONOTONIC_COARSE ns of the read (+1); 0: empty */
	uint8_t len;
	char s[47];
};
#define STRC_SLOTS 4

/* A memory: the memory map, the platform address space it is installed in and the lock that guards
 * them. Each process has its own, except that clone(CLONE_VM) without CLONE_THREAD gives the child its
 * parent's (two processes, one memory, as Linux's shared mm): every write, mmap, munmap, mprotect and
 * brk of one is the other's too, until one of them execs (it gets a new memory) or ends. Freed with its
 * last user (vm_put): the address space, and with it the backend's stub, lives as long as that. */
struct vm {
	/* Recursive: the memory manager's slow paths (copy-on-write) take it from callers that hold it
	 * (most syscalls) and from callers that do not (blocking ones, signal delivery). It guards the
	 * mm, and the fd tables of the processes using this memory (one lock per process before). */
	pthread_mutex_t lock;
	struct cv_as *as;
	struct mm mm;
	int users;            /* processes using it (atomic) */
	struct strc_ent strc[STRC_SLOTS]; /* under lock */
	unsigned strc_next;
	struct shm_att *shm_att; /* the SysV segments attached here (mm/sysvshm.c; under lock) */
};

#define SENTRY_MAX_FDS 4096
#define STATS_BUCKETS 16 /* < 1 us, 1-2 us, 2-4 us, ... , >= 16 ms */

/* A process's credentials as the sandbox sees them (creds.c): real, effective, saved and filesystem
 * user and group ids and the supplementary groups. The sandbox's root (effective uid 0) holds every
 * capability in its own world; the host never sees these ids (the sentry is one host identity). */
struct creds {
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	uint32_t groups[64];
	int ngroups;
	uint64_t cap_eff, cap_prm; /* capget/capset: all of them for the sandbox's root at first */
};
#define CRED_ALL_CAPS ((1ull << 41) - 1) /* CAP_CHOWN .. CAP_CHECKPOINT_RESTORE (40) */

/* snprintf(@dst, @cap, "%s", @src) without the formatting, for hot paths: cut to fit, terminated. */
static inline void str_set(char *dst, size_t cap, const char *src)
{
	size_t l = strlen(src);
	if (l >= cap)
		l = cap - 1;
	memmove(dst, src, l);
	dst[l] = 0;
}

static inline bool cred_root(const struct creds *c)
{
	return c->uid[1] == 0;
}

struct process {
	struct sentry *s;
	/* Its memory (shared with other processes after clone(CLONE_VM)); it changes only at execve, under
	 * the old one's lock and s->lock, so another process may look at it under either. */
	struct vm *vm;
	int fds[SENTRY_MAX_FDS]; /* application fd -> host fd, -1 if closed */
	uint8_t cloexec[SENTRY_MAX_FDS];
	/* fs/walk.c: the identity (statx) of the directory fds lately walked from. An open file's never
	 * changes: an entry ends only when its fd closes (fd_close bumps its generation before the host close). */
	struct fdid { int fd, h; uint64_t gen; struct statx sx; } fdid[4];
	unsigned fdid_next;
	/* fs.c: the file type and device of fds lately read or written (fd_kind), by fd, the same way. */
	struct fdkind { int fd, h; uint64_t gen; uint32_t mode; uint64_t rdev, dev; } fdkind[8];
	/* fs.c: the walk's stat of files lately opened from a read-only mount, for the fstat that
	 * follows an open (fd_seed_put): taken by the first fstat, within FD_SEED_NS of the open. */
	struct fdseed { int fd, h; uint64_t gen, at; struct stat st; } fdseed[2];
	unsigned fdseed_next;
	/* fs/walk.c: the canonical sandbox path of directories lately opened from a read-only mount, by
	 * fd the same way (fd_dirpath_put at the open, copied to a duplicate): what a walk from the fd asks
	 * spcache.c or the host otherwise; forgotten as spcache.c forgets (its generation, its 1 s). */
	struct fdpath { int fd, h; uint64_t gen, spc_gen, at, dev, ino; uint32_t mode; char sp[240]; } fdpath[8];
	unsigned fdpath_next;
	/* Generations for the caches above: an entry holds both as fd_gen_of() gives them at its making.
	 * fd_gens[fd] is bumped when that fd closes (fd_close, before the number can be reused); fd_gen,
	 * for every fd, when a host fd's close was put off for a holder that may have remembered it under
	 * the new value (fd_release). Per fd: find and fts close fds all the time, and a close of one fd
	 * must not make the process forget the identity of every other (statx, kind). */
	uint64_t fd_gen;
	uint32_t fd_gens[SENTRY_MAX_FDS];
	pthread_mutex_t fdid_lock; /* fdid[], fdkind[], fdseed[], fdpath[] */
	const char *exe;         /* absolute path of the program, for /proc/self/exe */
	char cwd[SENTRY_PATH_MAX];
	char exe_buf[4096];
	char *args, *env;        /* argv and envp strings, NUL-separated, for /proc/PID/cmdline, environ */
	size_t args_len, env_len;
	int pid;
	int pgid, sid;           /* process group and session (s->lock) */
	int exit_status;         /* wait(2) encoding once exited, else -1 */
	int exit_signal;         /* what its parent gets at its end: clone's low byte (0: none; not SIGCHLD:
				  * a "clone" child, which only __WCLONE or __WALL waits for) */
	int parent_tid;          /* the thread that made it (__WNOTHREAD waits only for its own) */
	/* Under s->lock: */
	struct process *parent;  /* NULL once the parent is gone */
	struct process *next;    /* s->procs */
	bool zombie;             /* exited, not yet waited for */
	bool exit_done;          /* its ending thread is done with it (process_settle) */
	bool reaped;             /* reaped before that: its ending thread frees it */
	int children_settling;   /* children reaped before their end settled (their peaks are to come) */
	struct task *tasks;      /* its threads, live or exited */
	int live_tasks;
	bool group_exit;         /* exit_group or a fatal signal: every task stops */
	struct task *exec_task;  /* a thread in execve: every other task stops */
	struct fd_ref *held;     /* host fds in use by unlocked syscalls (lock) */
	struct sigfd *sigfds;    /* its signalfds (s->lock) */
	struct ksigaction actions[64];
	/* Interval timers by ITIMER_* (s->lock): when the next signal is due, 0 off — REAL in
	 * CLOCK_MONOTONIC ns, VIRTUAL and PROF in the process's CPU ns (cputime.c) — and the interval. */
	uint64_t itimer_due[3];
	uint64_t itimer_every[3];
	uint64_t cpu_seen;       /* the highest process CPU time reported: it never goes back (atomic) */
	uint64_t xcpu_sent;      /* RLIMIT_CPU: seconds of CPU time up to which SIGXCPU was sent (s->lock) */
	mode_t umask;            /* the sentry applies it to what it creates (the host's umask applies too) */
	struct rlimit rlim[RLIM_NLIMITS]; /* setrlimit/prlimit64 store them; only RLIMIT_NOFILE is enforced */
	int nice;                /* the nice value its first task starts with (the caller's for the first) */
	int ioprio;              /* ioprio_set stores it (sysmore.c) */
	struct creds cred;       /* the process's ids (creds.c), the caller's at first */
	struct ptimer *ptimers;  /* POSIX timers by id (ptimer.c; s->lock) */
	int n_ptimers;
	bool dumpable, no_new_privs, subreaper; /* prctl: stored and reported */
	/* Job control (jobctl.c; s->lock): the signal that stopped it (0: running), and a stop or a
	 * continue its parent's wait has not yet reported. */
	int stop_sig;
	bool stop_report, cont_report;
	unsigned stop_seq;       /* counts its stops (a tracee reports each once) */
	int remote_users;        /* process_vm_readv/writev copying now: it is not reaped meanwhile */
	uint64_t auxv[64];       /* the auxiliary vector it was started with, for /proc/PID/auxv */
	size_t auxv_len;         /* bytes */
	bool has_procmem;        /* it opened a /proc/PID/mem (procmem.c; inherited with the fds) */
	dev_t ctty;              /* its controlling terminal if a sandbox pty (ptyjob.c; s->lock), else 0 */
	/* A vfork child (CLONE_VFORK; process.c): the task blocked in the clone until it execs or ends
	 * (s->lock; NULL once released or given up). With CLONE_VM it runs in the parent's memory. */
	struct task *vfork_waiter;
	uint32_t persona;        /* personality(2): stored (ADDR_NO_RANDOMIZE changes nothing here) */
	uint64_t run_ns;         /* time its tasks spent switched into application code (atomic) */
	uint64_t child_run_ns;   /* the same for its reaped children and theirs (s->lock) */
	uint64_t sys_ns;         /* time the sentry spent on its syscalls, waits left out (atomic) */
	uint64_t child_sys_ns;   /* the same for its reaped children and theirs (s->lock) */
	uint64_t rss_hwm;        /* its peak resident bytes as last measured (mm_rss_peak) */
	uint64_t child_maxrss;   /* the largest peak of its reaped children and theirs (s->lock) */
};

/* ptrace (ptrace.c, ptrace_req.c): a task's tracer and the stop it is in; under s->lock. */
enum { PT_STOP_SIGNAL = 1, PT_STOP_SYSCALL_ENTRY, PT_STOP_SYSCALL_EXIT, PT_STOP_EVENT, PT_STOP_GROUP };
struct task_ptrace {
	struct process *tracer;  /* NULL: not traced */
	bool seized;             /* PTRACE_SEIZE (else TRACEME or ATTACH) */
	bool stopped;            /* in a ptrace-stop: the tracer may look at it and resume it */
	bool reported;           /* the tracer's wait has seen this stop */
	bool listening;          /* PTRACE_LISTEN: stays stopped; SIGCONT traps it again */
	bool trap_notify;        /* SIGCONT came while it was stopped (seized): LISTEN traps again at once */
	bool interrupt;          /* PTRACE_INTERRUPT, or an auto-attached child's first stop, is due */
	bool syscalls;           /* resumed with PTRACE_SYSCALL: stops at syscall entry and exit */
	bool step;               /* resumed with PTRACE_SINGLESTEP (the trap flag is set) */
	bool fp_changed;         /* the tracer wrote its XSAVE state */
	bool exit_reported;      /* the tracer's wait has seen it end */
	uint32_t options;        /* PTRACE_O_* */
	int kind;                /* PT_STOP_* */
	int status;              /* the stop as wait reports it */
	int resume_sig;          /* the signal the tracer resumed it with */
	int busy;                /* tracer requests reading or writing its state now: it stays stopped */
	int pending_event;       /* PTRACE_EVENT_* of the syscall in progress (fork, vfork, clone) */
	uint64_t pending_msg;
	uint64_t msg;            /* PTRACE_GETEVENTMSG */
	unsigned stop_seq;       /* the group stop it last reported (process.stop_seq) */
	siginfo_t info;          /* a signal-delivery-stop's signal (GETSIGINFO, SETSIGINFO) */
};

struct task {
	struct process *proc;
	struct cv_ctx *ctx;
	struct cv_cpu_state *st;
	int tid;
	uint64_t clear_child_tid;
	uint64_t set_child_tid;  /* a fork's CLONE_CHILD_SETTID word, written at the child's first run */
	uint64_t robust_head;    /* set_robust_list: walked when the task ends (futex.c) */
	struct task *next;       /* proc->tasks (s->lock) */
	bool exited;
	bool vfork_done;         /* its vfork child exec'd or ended (s->lock; process.c) */
	int exit_code;           /* wait status this task ended with */
	bool ends_group;         /* it ended the whole process */
	uint64_t blocked;        /* signal mask */
	uint64_t pending;        /* queued signals (s->lock) */
	siginfo_t pinfo[64];
	uint64_t altstack_sp, altstack_size;
	uint64_t saved_mask;     /* rt_sigsuspend: the mask to restore */
	bool has_saved_mask;
	/* SA_RESTART (signal.c): the syscall a signal interrupted (nr + 1, 0 if none or not restartable),
	 * the handler frames whose sigreturn restarts it, and a restart due now. */
	uint64_t interrupted_nr;
	struct { uint64_t frame, nr; } restarts[4];
	int n_restarts;
	bool restart_now;
	int wake_fd;             /* eventfd: signalled when the task must leave a host wait */
	uint64_t run_start;      /* CLOCK_MONOTONIC ns it last switched into application code, 0 if not
				  * there now (atomic) */
	uint64_t run_ns;         /* its time in application code before that (atomic) */
	uint64_t cpu_seen;       /* the highest thread CPU time reported (atomic) */
	uint64_t sys_ns;         /* the sentry's time on its syscalls, waits left out (atomic) */
	uint64_t blocked_ns;     /* time it spent waiting in the sentry (its own thread only) */
	uint64_t block_start;
	bool sleeping;           /* between cpu_block_begin and _end: /proc shows it sleeping (atomic) */
	struct task_ptrace pt;
	uint64_t stale_addr;     /* the last stale fault mm_fault() saw, and how often in a row */
	int stale_repeats;       /* (with no batch of held-back installs made meanwhile: stale_gen) */
	uint64_t stale_gen;
	uint64_t real_blocked;   /* rt_sigtimedwait: the mask it lowered for the wait (such signals queue) */
	char comm[16];           /* prctl(PR_SET_NAME); "" until set: the program's name */
	int pdeathsig;           /* prctl(PR_SET_PDEATHSIG): queued to it when the parent process exits */
	int sched_policy;        /* sched_setscheduler: stored (SCHED_OTHER, BATCH or IDLE) */
	int nice;                /* setpriority/sched_setattr store it, per thread as Linux's; host threads keep theirs */
	bool has_affinity;       /* sched_setaffinity stored @affinity; else the sandbox's CPUs */
	uint64_t affinity[16];
};

struct futex_waiter {
	const void *key;         /* with addr: its memory (struct vm) or a shared file's token; never dereferenced */
	uint64_t addr;
	uint32_t bitset;
	bool woken;
	pthread_cond_t cond;
	struct futex_waiter *next;
};

struct fc_entry;

#define UNIX_NAMES_MAX 64 /* unix socket names bound at once that netns.c can give back */

struct owner {
	uint64_t dev, ino;       /* a file the sandbox chowned (fs/owners.c) */
	uint32_t uid, gid;       /* ... and the owner it gave it */
};

struct procmem_ent {
	uint64_t dev, ino;       /* the memfd behind the application's fd */
	int pid;                 /* whose memory it is */
};
#define PROCMEM_MAX 64

/* A pseudo-terminal of the sandbox that is a session's controlling terminal (ptyjob.c). */
struct ptyjob {
	dev_t rdev;  /* the slave's device */
	int sid, fg; /* the session it controls, its foreground group */
};
#define PTYJOB_MAX 32

struct sentry {
	struct sentry_opts opts;
	int live_vms;                 /* memories not freed yet (vm.c; atomic): 0 once every process is */
	/* Ended processes' memories (those no other process uses) being let go of after their parents were
	 * told (process_settle): begun and done, under lock; an allocation that finds no room waits for
	 * those begun before it. */
	uint64_t releases_begun, releases_done;
	struct procmem_ent procmem[PROCMEM_MAX]; /* open /proc/PID/mem files, the oldest reused (lock) */
	unsigned n_procmem;
	pthread_mutex_t owners_lock; /* the owners the sandbox gave files (fs/owners.c) */
	struct owner *owners;        /* sorted by device and inode */
	size_t n_owners, cap_owners;
	struct uc_ent *uc;            /* unix sockets' credentials (net/unixcred.c) */
	size_t uc_n, uc_cap;
	uint64_t uc_clock;
	pthread_mutex_t fa_lock;      /* O_ASYNC, F_SETOWN, F_SETSIG and F_NOTIFY records (fs/fasync.c) */
	struct fasync *fa_list;
	unsigned fa_n;                /* records: 0 keeps every hook to one load */
	uint64_t fa_next_id;
	int fa_ep;                    /* the watching thread's epoll set: each record's two sets, */
	int fa_stop, fa_inotify;      /* its stop eventfd and its inotify instance */
	pthread_t fa_thread;
	bool fa_running;
	const struct launch *L;  /* the program, the caller's identity, and whether the sentry is confined */
	bool private_net;        /* in a network namespace of its own (netns.c): loopback only */
	int unpriv_port_start;   /* ports below need CAP_NET_BIND_SERVICE in the sandbox (1024) */
	struct {
		char host[109], app[109];
	} unames[UNIX_NAMES_MAX]; /* the magic name a socket was bound by, and the program's name */
	unsigned n_unames, next_uname;
	char proc_dir[64];             /* host directory for /proc listings (procfs.c), "" if none */
	pthread_mutex_t spc_lock;      /* sandbox paths of directories by inode (spcache.c) */
	struct spc_ent *spc;
	uint64_t spc_gen;              /* bumped when the sandbox renames or removes a directory (from 1) */
	struct lnc_ent *lnc;           /* symlinks by sandbox path (linkcache.c), under spc_lock */
	uint64_t lnc_gen;              /* bumped when the sandbox renames or removes a link or directory */
	/* File systems by device (fs.c fd_on_sysfs), under spc_lock: the sentry's mount namespace is its
	 * own, so a device names one file system for the whole run. */
	struct devfs { uint64_t dev; bool used, maps; long type; } devfs[8]; /* maps: a private mapping
									   * from it was installed */
	unsigned devfs_next;
	struct nlc_ent *nlc;           /* names that are not links (linkcache.c: notlink_*), under spc_lock */
	uint64_t nlc_gen;              /* (atomic) bumped when the sandbox removes or renames anything */
	struct dvc_ent *dvc;           /* device nodes by sandbox path (devcache.c), under spc_lock */
	pthread_mutex_t fc_lock;       /* the file cache (filecache.c) */
	struct fc_entry *fc;
	uint64_t fc_bytes;
	struct cv_platform *p;
	struct cv_platform_caps caps;
	struct cv_memfile *mf;
	pthread_mutex_t shm_lock;      /* SysV shared memory, the sandbox's IPC namespace (mm/sysvshm.c) */
	struct shm_seg *shm;           /* SHM_SLOTS segments, allocated at the first shmget */
	uint32_t shm_seq;
	struct vdso *vdso;             /* the vDSO's pages and clock (vdso/vclock.c) */
	pthread_mutex_t lock;    /* process table */
	pthread_cond_t changed;  /* a process exited or a host thread ended */
	struct process *procs;
	int next_pid;
	int host_threads;        /* task threads besides the caller's (idle ones too) */
	struct idle_thread *idle; /* task threads waiting for a next task (process.c; lock) */
	int n_idle;
	bool shutting_down;      /* the first process exited: everything else is being killed */
	/* The control channel (control.c): its accept thread and stop eventfd, the connections being
	 * served, whether it is ending; paused: no task enters application code (lock; read atomically). */
	pthread_t ctl_thread;
	bool ctl_running, ctl_stopping, paused;
	int ctl_stop, ctl_workers;
	pthread_t timer;         /* fires ITIMER_REAL timers (timer.c) */
	bool timer_running, timer_stop;
	pthread_cond_t timer_cond; /* with lock: a timer changed */
	pthread_mutex_t futex_lock;
	struct futex_waiter *futex_waiters;
	struct sem_set **sem;          /* SysV semaphore sets by slot (kernel/sysvsem.c; under futex_lock) */
	struct sem_undo *sem_undos;    /* every process's SEM_UNDO adjustments */
	uint32_t sem_seq;
	long sem_used;                 /* semaphores in all sets */
	struct msg_q **msq;            /* SysV message queues by slot (kernel/sysvmsg.c; under futex_lock) */
	uint32_t msq_seq;
	struct policy pol;
	uint64_t cpus[16];       /* the CPUs the sentry may run on at start: the default affinity */
	/* By host fd: how many more sandbox fd slots than one hold it (fork shares the parent's host fds
	 * rather than dup them: the sandbox's processes together stay within the sentry's RLIMIT_NOFILE;
	 * fs.c fd_share, fd_close). NULL: every slot has a host fd of its own. */
	uint32_t *fd_shares;
	/* By host fd: added to an epoll (fs.c fd_own_host): its duplicates get host fds of their own, as
	 * the host's interest list is keyed by fd; cleared when it closes. With fd_shares. */
	uint8_t *fd_keyed;
	size_t n_fd_shares;
	struct rlimit nofile;    /* the caller's RLIMIT_NOFILE, the first process's (the sentry raises its own) */
	dev_t stdio_rdev[3];     /* the devices of the caller's stdin/out/err (its terminal), or 0 */
	int fg_pgrp;             /* the foreground process group of that terminal (jobctl.c; lock) */
	char uts_host[65], uts_domain[65]; /* sethostname/setdomainname: the sandbox's names (lock) */
	bool uts_host_set, uts_domain_set;
	struct ptyjob ptyjobs[PTYJOB_MAX]; /* the sandbox's ptys that control a session (ptyjob.c; lock) */
	unsigned n_ptyjobs;
	/* A socket of the sandbox got SO_RCVLOWAT (atomic): a receive that takes what is there without
	 * waiting first (net.c, syscalls.c) could then return less than that mark, so none does. */
	bool rcvlowat_set;
	/* --stats, per syscall number (0..511; 512 collects the rest): updated atomically by every task */
	uint64_t st_count[513], st_handle_ns[513], st_switch_ns[513];
	uint64_t st_faults, st_cow_faults, st_demand_faults, st_interrupts;
	uint64_t st_switch_hist[STATS_BUCKETS], st_handle_hist[STATS_BUCKETS]; /* log2 of microseconds */
};

void stats_print(struct sentry *s);

/* Run PROG (argv[0], already resolved to a path) to completion; returns its wait status, or -errno
 * after printing one line saying what went wrong. */
int sentry_run(const struct sentry_opts *opts, const char *path, char *const argv[], char *const envp[]);

/* struct sched_attr (linux/sched/types.h, which clashes with <sched.h>), as far as sched_getattr
 * fills it. */
struct sched_attr_v1 {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};
#define SCHED_ATTR_SIZE_VER0 48

/* The host fd behind application fd @fd of @pr, or -1. */
static inline int app_host_fd(const struct process *pr, uint64_t fd)
{
	return fd < SENTRY_MAX_FDS ? pr->fds[fd] : -1;
}

#define SIG_UNBLOCKABLE ((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)))

/* trace.c: --trace lines */
void trace_syscall(struct task *t, uint64_t nr, const uint64_t args[6], long ret);
/* systable.c: the name of syscall @nr or NULL */
const char *syscall_name(uint64_t nr);

/* procfs.c: the sandbox's own /proc */
/* Keep argv/envp for /proc/PID/cmdline and environ (replacing earlier ones); -ENOMEM. */
int process_set_args(struct process *pr, char *const argv[], char *const envp[]);
int process_copy_args(struct process *to, const struct process *from);
/* @full (normalised) is under /proc: open it (*ret: an fd or -errno) and return true; else false. */
bool procfs_open(struct process *self, const char *full, uint64_t flags, long *ret);
/* The same, giving the host fd (*hfd, or -errno) instead of installing it. */
bool procfs_open_host(struct process *self, const char *full, uint64_t flags, long *hfd);
/* policy.c: remove host directory @dir and everything below it (not following links) */
void remove_tree(const char *dir);
/* Is host path @host one of the /proc listing directories (or below one)? Then its sandbox path. */
bool procfs_host_path(const struct sentry *s, const char *host, char *out, size_t cap);
/* Remove the /proc listing directories process @pr opened (when it is freed). */
void procfs_release(struct process *pr);
/* @full is under /proc: a host fd for stat and the like (*hfd, or -errno) and true; else false. */
bool procfs_lookup(struct process *self, const char *full, bool nofollow, long *hfd);
/* The target of a /proc symlink (exe, cwd, fd/N): true with *len or -errno in *len, else false. */
bool procfs_readlink(struct process *self, const char *full, char *out, size_t cap, long *len);
/* policy.c: the sandbox path of host fd @hfd of @pr (or its pipe:/socket: name); length or -errno */
long fs_fd_path(struct process *pr, int hfd, char *out, size_t cap);

/* process.c: process groups and sessions (kill and wait4 use them too) */
long do_setpgid(struct task *t, int64_t pid, int64_t pgid);
long do_getpgid(struct task *t, int64_t pid, bool session);
long do_setsid(struct task *t);

/* fs.c: host fds in use by a syscall that runs without the process lock (IO that may block). A
 * close, dup2 or close_range of the application fd meanwhile leaves the host fd open until the last
 * user is done, so the number is never reused under it (it could name a sentry file by then). */
struct fd_ref {
	int h;
	bool closing;
	struct fd_ref *next;   /* process.held */
};
/* The host fd behind application fd @fd, held until fd_release(); -1 if none. */
int fd_hold(struct process *pr, uint64_t fd, struct fd_ref *ref);
void fd_release(struct process *pr, struct fd_ref *ref);
/* Evaluate @call with @h the held host fd of application fd @fd of task @t's process; -EBADF if none. */
#define WITH_HOST_FD(t, fd, h, call)                                                                   \
	({                                                                                             \
		struct fd_ref ref_;                                                                    \
		int h = fd_hold((t)->proc, (fd), &ref_);                                               \
		long r_ = h < 0 ? -EBADF : (call);                                                     \
		if (h >= 0)                                                                            \
			fd_release((t)->proc, &ref_);                                                  \
		r_;                                                                                    \
	})
/* The file type (S_IFMT bits) and device number of application fd @fd, held host fd @h: an fstat the
 * first time, then remembered while the fd stays open (neither changes for an open file). 0 or -errno. */
int fd_kind(struct process *pr, int64_t fd, int h, uint32_t *mode, uint64_t *rdev);
/* Is app fd @fd (host fd @h; @fd -1: unknown) on a sysfs? Its device as fd_kind knows it, the file
 * system as s->devfs remembers it; else fstatfs. */
bool fd_on_sysfs(struct process *pr, int64_t fd, int h);
/* The type (statfs f_type) of the file system of device @dev, where host fd @h lies: as s->devfs
 * remembers it, else fstatfs. -1 if that fails. */
long fs_type_of_dev(struct sentry *s, uint64_t dev, int h);
/* Has a private mapping of a file of device @dev been installed (the host maps its files)? Said by
 * fs_dev_mapped(), once one has been: mm_defer.c holds back only installs the host will make. */
bool fs_dev_maps(struct sentry *s, uint64_t dev);
void fs_dev_mapped(struct sentry *s, uint64_t dev);
/* Close host fd @h, app fd @fd's, of the application's table (pr->vm->lock held): now, or when its last
 * user is done. */
void fd_close(struct process *pr, int64_t fd, int h);
/* The generation of app fd @fd's cache entries (fd_kind, fd_statx, fd_seed_*, fd_on_sysfs). */
static inline uint64_t fd_gen_of(struct process *pr, int64_t fd)
{
	uint64_t g = __atomic_load_n(&pr->fd_gen, __ATOMIC_ACQUIRE) << 32;
	return fd >= 0 && fd < SENTRY_MAX_FDS ? g | __atomic_load_n(&pr->fd_gens[fd], __ATOMIC_ACQUIRE) : g;
}
/* App fd @fd (host fd @h) was just opened, by a walk that saw @st of the file in a read-only mount:
 * the fstat that follows may take it (fd_seed_take), and read/write know its kind (fd_kind). */
void fd_seed_put(struct process *pr, int64_t fd, int h, const struct stat *st);
/* fstat of app fd @fd, host fd @h: true with *@st from fd_seed_put's if this is the first since the
 * open and soon after it. */
bool fd_seed_take(struct process *pr, int64_t fd, int h, struct stat *st);
/* Let one more fd slot hold host fd @h (a fork's copy, dup, dup2, F_DUPFD): true, or false where it
 * needs a dup. */
bool fd_share(struct sentry *s, int h);
/* The host fd of app fd @fd (pr->lock held), first made its own (a host dup) if another fd of the
 * process shares it: for what the host keys by fd, as epoll's interest list (natively two duplicates
 * are two entries). -EBADF or -errno. */
int fd_own_host(struct process *pr, uint64_t fd);
/* fs.c: install host fd @h at the lowest free application fd (closing @h when there is none) */
long fd_install(struct process *pr, int h, bool cloexec);

/* confine.c: no_new_privs and all capabilities but file access dropped, from the calling thread on
 * (call it before any thread exists); 0, or -errno with a line in @err. */
int confine_privileges(bool jailed, char *err, size_t errlen);
/* jail.c: run the sentry in a process of its own, confined; returns what sentry_main() returned. */
int jail_run(const struct sentry_opts *opts, struct launch *L, const char *path, char *const argv[], char *const envp[]);
int sentry_main(const struct sentry_opts *opts, const struct launch *L, const char *path, char *const argv[],
		char *const envp[]);
/* The first process stopped: tell the caller, which stops too (jail.c). */
void jail_report_stop(const struct launch *L, int sig);
/* view.c: build the sentry's mount namespace (the sandbox's view and nothing else) and pivot into it. */
/* Called once the sentry is fully confined, before the program's first byte is read. Defined only in
 * the test binary (tests/test_compromised.c plays a compromised sentry there); in cvisor the weak
 * reference stays unresolved, a constant NULL, and no call happens. */
void sentry_test_confined(void) __attribute__((weak));
int seccomp_confine(const struct cv_platform *p, char *err, size_t errlen);
int procfs_fd_link_mode(struct process *self, const char *full);
void procfs_keep_host_files(void);
int view_build(const struct sentry_opts *opts, int idmap_userns, char *err, size_t errlen);
/* The ids of a struct stat / statx the program sees (ids.c). */
void ids_report(const struct sentry *s, int h, uint32_t *uid, uint32_t *gid);
/* Does ids_report need the object's fd for these ids (an owner the jail cannot name)? */
bool ids_need_fd(const struct sentry *s, uint32_t uid, uint32_t gid);
/* fs/owners.c: the owner the sandbox gave file (@dev, @ino) with chown, if it did (into *@uid, *@gid);
 * record one; forget one (its last link removed); free the table at the end. */
void owners_get(struct sentry *s, uint64_t dev, uint64_t ino, uint32_t *uid, uint32_t *gid);
int owners_set(struct sentry *s, uint64_t dev, uint64_t ino, uint32_t uid, uint32_t gid);
void owners_forget(struct sentry *s, uint64_t dev, uint64_t ino);
void owners_free(struct sentry *s);
void ids_serve(int sock);

/* netns.c: the sandbox's own network namespace (without --net), and unix socket names */
void net_setup(struct sentry *s);
/* Bring this network namespace's loopback up; whether it is. */
bool net_loopback_up(void);
/* Before confinement, in the sandbox's network namespace: in one of the sentry's own (@own) the
 * sentry may bind any port (the sandbox's rule is checked at bind); in one joined (an engine's), the
 * container's ip_unprivileged_port_start if set; in both its ping_group_range. */
void net_private_sysctls(const struct sentry_opts *opts, bool own);
/* jail/layers.c: the layers of the overlayfs mounted at @mount_point (an engine's container root),
 * "upper:lower1:lower2..." as host paths (malloc'ed), or NULL if it is no overlay. */
char *overlay_layers(const char *mount_point);
/* ... and its upper directory alone (a host path, malloc'ed), or NULL. */
char *overlay_upper(const char *mount_point);
/* A socket address for the host: the application's, with a unix pathname turned into a magic name of
 * an fd the walk opened (@hold, closed by host_addr_done() after the call). */
struct host_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int hold;
	bool abs_new; /* an abstract name under --net that this bind named first (netns.c) */
};
long unix_addr_in(struct process *pr, struct host_addr *ha, bool bind);
/* After a unix bind without a name (autobind): under --net, the kernel's name is the sandbox's. */
void unix_autobound(struct sentry *s, int h);
/* A unix bind to (rewritten) address @ha failed: an abstract name it named first is forgotten. */
void unix_abstract_unbound(struct sentry *s, const struct host_addr *ha);
/* unixcred.c: SO_PEERCRED and SCM_CREDENTIALS as the sandbox's (see the file). Host socket @h was
 * made (socket, socketpair) or accepted from listener @lh, bound (socket file @name in @dir, or an
 * abstract name), listens, connected (to socket file @file, an O_PATH fd, or abstract @sun), sent a
 * message (with SCM_CREDENTIALS @given, else NULL; to a name, or @file -1 and @sun NULL). */
struct ucred;
struct sockaddr_un;
void uc_created(struct process *pr, int h);
void uc_pair(struct process *pr, int a, int b);
void uc_bound(struct process *pr, int h, int dir, const char *name, const struct sockaddr_un *sun, socklen_t len);
void uc_listen(struct process *pr, int h);
void uc_connected(struct process *pr, int h, int file, const struct sockaddr_un *sun, socklen_t len);
void uc_unconnected(struct process *pr, int h, int file, const struct sockaddr_un *sun, socklen_t len);
void uc_accepted(struct process *pr, int lh, int nh);
void uc_sent(struct process *pr, int h, const struct ucred *given, int file, const struct sockaddr_un *sun, socklen_t len);
/* SO_PEERCRED of @h; the credentials a message received on @h carries (SO_PASSCRED). */
void uc_peercred(struct process *pr, int h, struct ucred *out);
void uc_received(struct process *pr, int h, struct ucred *out);
/* May @pr send SCM_CREDENTIALS @c (Linux's scm_check_creds)? 0, -EPERM, -ESRCH, -EINVAL. */
long uc_check(struct process *pr, const struct ucred *c);
void uc_free(struct sentry *s);
/* A unix address from the host, as the application must see it (its own bound names). */
void unix_addr_out(struct sentry *s, struct sockaddr_storage *ss, socklen_t *len);
void host_addr_done(struct host_addr *ha);

/* net.c: sockets (IPv4/IPv6/netlink-route only with --net; unix sockets only unnamed) */
long sys_socket(struct task *t, uint64_t domain, uint64_t type, uint64_t proto);
long sys_socketpair(struct task *t, uint64_t domain, uint64_t type, uint64_t proto, uint64_t usv);
long sys_bind(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t len);
long sys_connect(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t len);
long sys_listen(struct task *t, uint64_t fd, uint64_t backlog);
long sys_accept4(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t ulen, uint64_t flags);
long sys_sockname(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t ulen, bool peer);
long sys_sockopt(struct task *t, uint64_t fd, uint64_t level, uint64_t name, uint64_t uval, uint64_t len, bool set);
long sys_shutdown(struct task *t, uint64_t fd, uint64_t how);
long sys_sendto(struct task *t, uint64_t fd, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t alen);
long sys_recvfrom(struct task *t, uint64_t fd, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t ulen);
long sys_msg(struct task *t, uint64_t fd, uint64_t umsg, uint64_t flags, bool send);

/* cputime.c: CPU time = time switched into application code (the sentry's own is not counted) */
void cpu_enter(struct task *t, uint64_t now);
void cpu_leave(struct task *t, uint64_t now);
uint64_t task_cpu_ns(struct task *t, uint64_t now);
/* s->lock held; @running (if non-NULL) gets the number of its tasks in application code now. */
uint64_t process_cpu_ns(struct process *pr, uint64_t now, int *running);
/* Around a wait in the sentry (a blocked syscall uses no CPU; the platform is told its context idles,
 * cv_ctx_idle); and after handling a syscall that took @handled_ns of wall time, of which the waits are
 * not system time. */
void cpu_block_begin(struct task *t);
void cpu_block_end(struct task *t);
void cpu_syscall_done(struct task *t, uint64_t handled_ns, uint64_t blocked_before);
/* clock_gettime/clock_getres for CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID: true if @clk is one. */
bool cpu_clock(struct task *t, uint64_t clk, struct timespec *ts);

/* sigfd.c: signalfd */
long sys_signalfd(struct task *t, int64_t fd, uint64_t umask, uint64_t size, uint64_t flags);
/* Is host fd @h a signalfd of @p? One load when the process has none. */
bool sigfd_is(struct process *p, int h);
long sigfd_read(struct task *t, int h, uint64_t buf, uint64_t len);
/* A signal was queued for @p (s->lock held): its signalfds that read it become ready. */
void sigfd_signalled(struct process *p);
void sigfd_fork(struct process *parent, struct process *child); /* s->lock held */
void sigfd_free(struct process *p);

/* timer.c: alarm, setitimer, getitimer (REAL, VIRTUAL and PROF) */
int timer_start(struct sentry *s);
void timer_stop(struct sentry *s);
long sys_setitimer(struct task *t, uint64_t which, uint64_t unew, uint64_t uold);
long sys_getitimer(struct task *t, uint64_t which, uint64_t ucur);
long sys_alarm(struct task *t, uint64_t secs);
/* signal.c: queue a process-directed signal to @p (s->lock held; the caller calls futex_wake_all after). */
void sig_process_locked(struct process *p, int sig, const siginfo_t *info);

/* jobctl.c: job-control stops. Is @sig one of the stop signals? */
bool jobctl_is_stop(int sig);
/* Signal @sig is being generated for @p (s->lock held): SIGCONT resumes it, a stop signal discards a
 * pending SIGCONT (and SIGCONT pending stops). */
void jobctl_generated(struct process *p, int sig);
/* Task @t took stop signal @sig with the default action: stop its process (true), or discard the
 * signal (an orphaned group, for all but SIGSTOP: false). */
bool jobctl_stop(struct task *t, int sig);
/* Before a read (or a write) of host fd @h at its position by @t: a background process reading the
 * caller's terminal (writing it, with TOSTOP) gets SIGTTIN (SIGTTOU) — -EINTR, the call restarts
 * after the stop — or -EIO; 0 to go ahead. */
long jobctl_tty_access(struct task *t, int h, bool wr);
/* TIOCGPGRP and TIOCSPGRP on the caller's terminal. */
long jobctl_tty_pgrp(struct process *pr, int64_t pgrp, bool set);
/* @t changes its controlling terminal @h (tcsetpgrp, tcsetattr): from a background group SIGTTOU
 * stops it first (-EINTR; -EIO when its group is orphaned; 0 when it ignores or blocks SIGTTOU),
 * Linux's tty_check_change. 0 from the foreground or for another file. */
long jobctl_tty_change(struct task *t, int h);
/* ptyjob.c: the sandbox's ptys as controlling terminals. Answer a terminal ioctl (TIOCSCTTY,
 * TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID) on host fd @h if it is one: true and *@ret. */
bool ptyjob_ioctl(struct process *pr, int h, uint64_t req, uint64_t arg, long *ret);
/* @pr opened host fd @h with open(2) @flags: a session leader without a terminal takes a free pty
 * slave opened without O_NOCTTY, as Linux's tty_open. */
void ptyjob_opened(struct process *pr, int h, uint64_t flags);
/* The foreground group of @h if it is @pr's controlling sandbox pty, else -1. */
long ptyjob_fg(struct process *pr, int h);
/* @len bytes at @buf were written to host fd @h: a pty master's ^C, ^\ or ^Z signals. */
void ptyjob_input(struct task *t, int h, uint64_t buf, uint64_t len);
/* Session leader @pr ends: its terminal's foreground group gets SIGHUP, the session none (s->lock). */
void ptyjob_leader_gone(struct process *pr);
/* Wait while @t's process is stopped, until SIGCONT, SIGKILL or the end of the process or sandbox. */
void jobctl_park(struct task *t);

/* ptrace.c: the tracee side (stops); ptrace_req.c: the requests */
long sys_ptrace(struct task *t, uint64_t req, int64_t pid, uint64_t addr, uint64_t data);
long sys_process_vm(struct task *t, int64_t pid, uint64_t ulocal, uint64_t nlocal, uint64_t uremote,
		    uint64_t nremote, uint64_t flags, bool write);
/* May @tracer trace (or read the memory of) @p? As Linux in a user namespace: the same ids (and @p
 * dumpable), or the tracer holds CAP_SYS_PTRACE (the sandbox's root). */
bool ptrace_may_access(const struct process *tracer, const struct process *p);
/* The process of thread @tid, if @t may read its memory, kept from being freed until ptrace_unpin();
 * else NULL and -ESRCH/-EPERM in *@err. */
struct process *ptrace_pin(struct task *t, int64_t tid, long *err);
void ptrace_unpin(struct process *p);
/* Copy @len bytes between @self's memory at @local and @p's at @remote (@write: into @p; @force: past
 * its protection, copy-on-write kept). Bytes copied up to the first fault, or -EFAULT. */
long remote_copy(struct process *self, struct process *p, uint64_t local, uint64_t remote, size_t len, bool write,
		 bool force);
/* procmem.c: /proc/PID/mem. Open it (true, *@hfd a host fd or -errno) if @rel names one. */
bool procmem_open(struct process *self, const char *rel, long *hfd);
/* Is host fd @h a /proc/PID/mem of @pr's? Then read or write it (@off < 0: at the fd's position). */
bool procmem_is(struct process *pr, int h, int *pid);
long procmem_rw(struct task *t, int h, int pid, uint64_t buf, uint64_t len, bool wr, int64_t off);
/* Signal-delivery-stop for the signal in *@info: the signal to deliver instead (0: none), *@info
 * updated to it. */
int ptrace_signal_stop(struct task *t, siginfo_t *info);
/* Group-stop and PTRACE_INTERRUPT stops due for traced @t; whether it stopped. */
bool ptrace_pending_stops(struct task *t);
/* Around a syscall of traced @t: the entry stop, then events, the exit stop and a single step's end
 * (@ends: exit or exit_group, which only gets PTRACE_EVENT_EXIT). */
void ptrace_syscall_entry(struct task *t);
int ptrace_syscall_exit(struct task *t, uint64_t nr, bool ends);
/* @child of traced @t was made by clone flags @flags: auto-attach it if the options say (before it runs). */
void ptrace_fork(struct task *t, struct task *child, uint64_t flags);
/* wait4/waitid of tracer @pr (s->lock held): a stop or end of a tracee to report — 1 with *@tid and
 * *@status, 0 if it has tracees but none to report, -1 if it has none. */
int ptrace_wait(struct process *pr, int64_t pid, int64_t group, bool nowait, int *tid, int *status);
/* SIGCHLD to the parent of @pr, which ended (s->lock held). */
void process_notify_exit(struct process *pr);
/* Has zombie @c a tracer other than its parent that has not seen it end (its parent waits)? */
bool ptrace_holds_zombie(const struct process *c);
bool ptrace_exit_reportable(const struct task *o);
/* Tracer @tr ended (s->lock held): its tracees go on untraced (PTRACE_O_EXITKILL: killed). */
void ptrace_tracer_gone(struct process *tr);
/* SIGCONT for @p (s->lock held): its seized, stopped tracees trap again (now, or at PTRACE_LISTEN). */
void ptrace_sigcont(struct process *p);
void ptrace_retrap(struct task *o);

/* After kicking tasks (s->lock held on entry and exit): broadcast s->changed, wake futex waiters, then
 * wait on s->changed for up to @ms milliseconds. */
void nudge_and_wait(struct sentry *s, int ms);

/* wait.c: host waits a signal interrupts */
/* Make @t look at its signals: interrupt its application code and any host wait it is in. */
void task_kick(struct task *t);
/* Wait until host fd @fd has @events (poll bits) or the task must return -EINTR (a deliverable signal,
 * the end of its process or of the sandbox). @timeout_ms < 0: no limit. 1 ready, 0 timeout, -errno. */
long host_wait(struct task *t, int fd, short events, int timeout_ms);
/* Before a read or write that may block on @fd (pipe, socket, terminal, FIFO opened blocking): wait for
 * it interruptibly. 0 to go ahead, 1 to go ahead without a wait (the file is O_NONBLOCK), -EINTR, -EBADF
 * (the wrong direction), -EAGAIN (a socket's timeout ran out). */
long host_wait_io(struct task *t, int fd, bool wr);
/* A socket's SO_SNDTIMEO (@send) or SO_RCVTIMEO in milliseconds, -1 for none (or not a socket): a
 * blocking call waits that long, then fails with EAGAIN, as Linux's. */
int sock_timeout_ms(int fd, bool send);
long sys_poll(struct task *t, uint64_t ufds, uint64_t nfds, int64_t timeout_ms, uint64_t umask, bool has_mask);
long sys_ppoll(struct task *t, uint64_t ufds, uint64_t nfds, uint64_t uts, uint64_t umask, uint64_t masksize);
long sys_select(struct task *t, uint64_t nfds, uint64_t r, uint64_t w, uint64_t e, int64_t timeout_ms,
		uint64_t umask, bool has_mask);
long sys_pselect6(struct task *t, uint64_t nfds, uint64_t r, uint64_t w, uint64_t e, uint64_t uts, uint64_t usig);
long sys_oldselect(struct task *t, uint64_t nfds, uint64_t r, uint64_t w, uint64_t e, uint64_t utv);
long sys_epoll_ctl(struct task *t, uint64_t epfd, uint64_t op, uint64_t fd, uint64_t uev);
long sys_epoll_wait(struct task *t, uint64_t epfd, uint64_t uevs, uint64_t max, int64_t timeout_ms, uint64_t umask,
		    uint64_t masksize);

/* filecache.c: read-only private file mappings share one memory-file copy per file range */
/* A reference to memory-file pages holding [foff, foff+len) of host file @fd (zero past its end). */
int fc_get(struct sentry *s, int fd, uint64_t foff, uint64_t len, uint64_t *mf_off);
void fc_destroy(struct sentry *s);

/* mm.c */
/* Map [addr, addr+len) privately and read-only from file @fd (@st its stat, or NULL) at @foff: the
 * host file itself (copy-on-write), or the file cache's copy. */
int mm_map_file_ro(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, int fd,
		   const struct stat *st, uint64_t foff, uint64_t *out);
/* mm_defer.c. While an image is loaded into a fresh address space nothing else uses: hold installs back
 * and make them in batches (cv_as_map_many) at mm_end_defer(), which returns the batch's error. An
 * application's mmap may hold installs back too (mm->defer_ok): mm_flush_installs() makes them, before
 * anything else of the process's could see the difference (any other syscall, a fault, the sentry's
 * accesses, any other change of the address space). 0, -ENOMEM or -EACCES. */
void mm_defer_installs(struct process *pr);
int mm_flush_installs(struct process *pr);
/* A fork child's installs (@n mappings, @hosts[k] the host file of m[k] or NULL), held back for its
 * own thread to make when it first runs: the parent's clone does not wait for the child's stub. False:
 * not held back (the caller installs them). */
bool mm_defer_fork(struct process *child, const struct cv_as_mapping *m, struct hostmap *const *hosts,
		   size_t n);
int mm_end_defer(struct process *pr);
/* Forget what is held back and kept, releasing its references (a memory no process uses any more, or
 * whose address space is emptied as a whole). */
void mm_drop_deferred(struct sentry *s, struct mm *mm);
int mm_map_anon(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		uint64_t *out);
int mm_unmap(struct process *pr, uint64_t addr, uint64_t len);
/* Map host regular file @fd (the application's; @st its stat) shared at [addr, addr+len) from @foff, so
 * that writes reach the file and other mappings of it: -errno (EACCES: the fd's mode forbids @access). */
int mm_map_host(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, int fd,
		const struct stat *st, uint64_t foff, uint64_t *out);
/* May host file @fd (the application's) be mapped into the address space itself? A regular file, not
 * on a pseudo file system, whose "files" may be device registers or kernel state. @st: its stat. */
bool mm_mappable_file(struct sentry *s, int fd, const struct stat *st);
/* Is [addr, addr+len) free of mappings (MAP_FIXED_NOREPLACE)? */
bool mm_is_free(struct process *pr, uint64_t addr, uint64_t len);
/* The VMA starting at @addr holds a private copy of a file (MADV_DONTNEED keeps its contents). */
void mm_set_file(struct process *pr, uint64_t addr);
/* [start, end) of a private file copy lies past the file's end: its pages go, an access is SIGBUS. */
int mm_set_bus(struct process *pr, uint64_t start, uint64_t end);
int mm_protect(struct process *pr, uint64_t addr, uint64_t len, unsigned access);
/* mremap(2) and madvise(2) with Linux's arguments and errors; mremap returns the address or -errno. */
long mm_remap(struct process *pr, uint64_t old, uint64_t old_len, uint64_t new_len, uint64_t flags,
	      uint64_t new_addr);
int mm_advise(struct process *pr, uint64_t addr, uint64_t len, uint64_t advice);
/* A SIGSEGV at @addr with @access (CV_ACCESS_*): MM_FAULT_REAL, or the mapping allows the access and
 * the application should retry it — MM_FAULT_COPIED (a write to copy-on-write memory, now the
 * process's own) or MM_FAULT_STALE (the fault raced another thread changing the mapping; the page was
 * installed again). */
enum { MM_FAULT_REAL, MM_FAULT_COPIED, MM_FAULT_STALE, MM_FAULT_OOM /* no memory for the copy */,
       MM_FAULT_POPULATED /* its first access: populated */, MM_FAULT_BUS /* past a file's end: SIGBUS */,
       MM_FAULT_FLUSHED /* in a mapping whose install an mmap held back: made now (mm_defer.c) */ };
int mm_fault(struct process *pr, uint64_t addr, unsigned access);
/* Is @addr inside a mapping (a real SIGSEGV there is SEGV_ACCERR, else SEGV_MAPERR)? */
bool mm_mapped(struct process *pr, uint64_t addr);
/* Populate the unpopulated memory in [addr, addr+len) now (MAP_POPULATE, mlock, the sentry's own
 * accesses): 1 if anything was populated, 0 if nothing needed it, -ENOMEM. */
int mm_populate(struct process *pr, uint64_t addr, uint64_t len);
uint64_t mm_brk(struct process *pr, uint64_t want);
/* Copy to/from application memory with the application's permissions; 0 or -EFAULT. */
int mm_copy_in(struct process *pr, uint64_t addr, void *dst, size_t len);
int mm_copy_out(struct process *pr, uint64_t addr, const void *src, size_t len);
/*
 * Pin application memory [addr, addr+len) that one mapping with @access (CV_ACCESS_*) holds, for host
 * IO straight into or out of it: *@pin gets the sentry's pointer, and the pages stay allocated until
 * mm_unpin() even if the application unmaps them meanwhile. 0 or -EFAULT (then use the copy path).
 */
struct mm_pin {
	void *ptr;
	uint64_t off, len;     /* the memory-file pages held */
	uint64_t start, end;   /* application addresses, for a pin the sentry writes through */
	bool writes;
	struct mm_pin *next;   /* mm.pins */
};
int mm_pin(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin);
void mm_unpin(struct process *pr, struct mm_pin *pin);
/* Give the page holding @addr its own memory if it shares a copy-on-write one (before code in it is
 * patched: a patched site jumps back to its own address, which differs between processes). */
int mm_own_page(struct process *pr, uint64_t addr);
bool mm_patch_wanted(struct mm *mm, uint64_t rip);
/* RLIMIT_AS: may the process map @add more bytes (at @addr with MAP_FIXED, else 0: what it replaces
 * there does not count)? pr->vm->lock held. */
bool mm_as_allows(struct process *pr, uint64_t addr, uint64_t add);
/* RLIMIT_DATA: the same for private writable mappings (the break, data, anonymous; not the stack). */
bool mm_data_allows(struct process *pr, uint64_t addr, uint64_t add);
/* May the application write the page holding @addr (its mapping's protection)? */
bool mm_writable(struct process *pr, uint64_t addr);
/* Is @addr in a MAP_SHARED mapping? Then *@file and *@off name the page wherever it is mapped: 0 and
 * its memory-file offset, or (for a host file) a token of the file (odd, never a process pointer) and
 * the file offset mixed with the device. */
bool mm_shared_offset(struct process *pr, uint64_t addr, uintptr_t *file, uint64_t *off);
int mm_pin_locked(struct process *pr, uint64_t addr, size_t len, struct mm_pin *pin); /* pr->vm->lock held */
/* Write bytes regardless of protection (loader, stack setup). 0 or -EFAULT. */
int mm_poke(struct process *pr, uint64_t addr, const void *src, size_t len);
/* What [addr, addr+len) holds, read from its backing (memory file or host file) without the address
 * space: unmapped and untouched parts read as zeros. 0 or -EFAULT. */
int mm_peek(struct process *pr, uint64_t addr, void *dst, size_t len);
/* Read a NUL-terminated string of at most max bytes (including the NUL). Length or -EFAULT/-ENAMETOOLONG. */
long mm_strncpy_in(struct process *pr, uint64_t addr, char *dst, size_t max);

/* vdso/vclock.c: the vDSO image and its data page (in the memory file), the clock published there */
struct vdso;
/* After the memory file is made, before the sentry confines itself (it may start a thread). */
int vdso_start(struct sentry *s);
void vdso_stop(struct sentry *s);
/* Memory-file offsets of the data page and the image (held by the sentry until vdso_stop). */
void vdso_pages(struct sentry *s, uint64_t *vvar_off, uint64_t *img_off, uint64_t *img_len);
/* Clock @clk from the page, as the vDSO reads it: false if the page cannot answer (then the host's). */
bool vclock_now(struct sentry *s, uint32_t clk, struct timespec *ts);
/* A task set its CPU affinity: the vDSO's getcpu makes the syscall from now on. */
void vdso_affinity_set(struct sentry *s);
/* mm/vdso.c: map the data page and the image into @pr (at exec); the image's address in *@ehdr. */
int vdso_map(struct process *pr, uint64_t *ehdr);
/* mprotect to @access on [addr, end) that Linux refuses (the data page writable or executable)? */
bool vdso_refuses(const struct mm *mm, uint64_t addr, uint64_t end, unsigned access);
/* "[vdso]", "[vvar]" or NULL: the name /proc/PID/maps gives @v. */
const char *vdso_vma_name(const struct vma *v);

/* loader.c */
int load_elf(struct process *pr, const char *file, const char *path, char *const argv[], char *const envp[],
	     uint64_t *entry, uint64_t *sp, char *err, size_t errlen);

/* policy.c */
int policy_init(struct sentry *s, char *err, size_t errlen);
void policy_destroy(struct sentry *s);
/* Lexically normalise @path (relative to @cwd) into @out (SENTRY_PATH_MAX bytes). */
int policy_normalize(const char *cwd, const char *path, char *out);
/* The mount whose host directory holds host path @host (the longest), its length in *len; or NULL. */
const struct mountpt *policy_host_mount(const struct policy *pol, const char *host, size_t *len);
/* The sandbox path of host fd @hfd of @pr (SENTRY_PATH_MAX bytes at @out); 0 or -EBADF. */
int fs_fd_spath(struct process *pr, int hfd, char *out);

/* strcache.c: a string the application passes from a read-only file mapping of a file it cannot change
 * (glibc's "" for fstat, its built-in paths), remembered by address. */
bool strcache_get(struct process *pr, uint64_t addr, char *dst, size_t max, long *ret); /* as mm_strncpy_in's */
void strcache_put(struct process *pr, uint64_t addr, const char *str, size_t len);

/* spcache.c: the sandbox path of a directory by (device, inode, mount id) from statx, remembered
 * until the sandbox renames or removes a directory, or for 1 s (host-side renames). */
struct statx;
int spcache_get(struct sentry *s, const struct statx *sx, char *sp); /* 0: found, in sp */
uint64_t spcache_gen(struct sentry *s); /* read before asking the host, handed to spcache_put */
void spcache_put(struct sentry *s, const struct statx *sx, uint64_t gen, const char *sp);
void spcache_moved(struct sentry *s); /* a directory was renamed or removed */
void spcache_free(struct sentry *s);

/* linkcache.c: symlinks the walk followed, by canonical sandbox path, remembered until the sandbox
 * renames anything or removes a link or directory, or for 1 s (host-side changes). */
uint64_t linkcache_gen(struct sentry *s); /* read when a walk begins, handed to linkcache_put */
void linkcache_put(struct sentry *s, uint64_t gen, const char *link, const char *target);
void linkcache_changed(struct sentry *s);
/* @path (relative to canonical @cwd) with every known link on the way replaced by its target (the last
 * component too if @follow_last), canonical, in @out: 1; 0 if no known link is on it (or it has ".."). */
int linkcache_rewrite(struct sentry *s, const char *cwd, const char *path, bool follow_last, char *out, size_t cap);
void linkcache_free(struct sentry *s);
/* Canonical sandbox paths that name something other than a link (readlink's EINVAL), remembered until
 * the sandbox removes or renames anything (notlink_changed), or for 1 s. notlink_gen() is read
 * before the walk whose answer notlink_put() keeps; notlink_known() takes @path as walk_path would
 * from canonical @cwd (no "..", no trailing slash), only for a walk without search checks. */
uint64_t notlink_gen(struct sentry *s);
void notlink_put(struct sentry *s, uint64_t gen, const char *spath);
bool notlink_known(struct sentry *s, const char *cwd, const char *path);
void notlink_changed(struct sentry *s);

/* walk.c: path resolution with Linux's semantics; the host kernel never resolves a component the
 * sentry did not (docs/paths.md). */
#define WALK_FOLLOW 1 /* follow a symlink in the last component (a trailing slash always does) */
#define WALK_PARENT 2 /* the last component may be missing: then fd is -1 and dir + name say where;
		       * without WALK_FOLLOW a trailing slash does not follow (unlink("link/") as Linux) */
#define WALK_SLASH 4  /* with WALK_PARENT: a trailing slash follows a last symlink (open, link's old name) */
#define WALK_OPENS 8  /* a lookup for open(2): an existing regular file or directory of a read-only mount may
		       * come back unopened (fd -1, st and the path known; walk_reopen() opens it) */
/* openat2's RESOLVE_* rules, relative to the starting directory */
#define WALK_NO_SYMLINKS 0x10   /* any symlink: -ELOOP */
#define WALK_NO_MAGICLINKS 0x20 /* a /proc magic link: -ELOOP */
#define WALK_NO_XDEV 0x40       /* crossing a mount: -EXDEV */
#define WALK_BENEATH 0x80       /* leaving the starting directory ("..", absolute paths or links): -EXDEV */
#define WALK_IN_ROOT 0x100      /* the starting directory is "/" for this walk */
#define WALK_READS 0x200        /* with WALK_OPENS: the open only reads (O_RDONLY, no O_TRUNC) */
#define WALK_RESOLVE (WALK_NO_SYMLINKS | WALK_NO_MAGICLINKS | WALK_NO_XDEV | WALK_BENEATH | WALK_IN_ROOT)
enum { WALK_LAST_NORM, WALK_LAST_DOT, WALK_LAST_DOTDOT, WALK_LAST_ROOT };
struct walk {
	int fd;          /* O_PATH fd of the object; -1: it does not exist (WALK_PARENT only) */
	int dir;         /* O_PATH fd of the directory holding entry @name; -1 when the object has no
			  * entry of its own to act on: a mount point, "/", "." or ".." */
	struct stat st;  /* the object's, when fd >= 0 */
	char name[256];  /* the last component */
	int last;        /* WALK_LAST_*: what the last component was */
	bool slash;      /* the path ended in '/' */
	bool mount;      /* the object is a mount point (or "/") */
	bool rw;         /* the object (or the entry to be made) is in a read-write mount */
	const struct mountpt *mnt; /* ... that mount */
	bool proc;       /* in the sandbox's /proc: @spath names it for procfs.c; fd and dir are -1 */
	bool unopened;   /* WALK_OPENS: the object exists (st, from a stat the host resolved) but fd is -1:
			  * walk_reopen() gives -ELOOP or -EXDEV when a link or a host mount is on the way; on
			  * any failure the caller walks again without WALK_OPENS */
	bool untyped;    /* ... and st is not even known (WALK_READS in a nodev mount): the open says what
			  * it is (open_untyped() in fs.c); -ENOENT from it is the answer */
	char spath[SENTRY_PATH_MAX]; /* canonical sandbox path of the object */
};
/* Resolve @path relative to application fd @dirfd (or AT_FDCWD) of @pr. 0 or -errno; on success the
 * caller owns w's fds (walk_done()). A lookup (no WALK_PARENT) fails with -ENOENT when the object
 * does not exist and -ENOTDIR when a trailing slash names a non-directory. */
int walk_path(struct process *pr, int64_t dirfd, const char *path, int flags, struct walk *w);
void walk_done(struct walk *w);
/* devcache.c: what the walk found for a device node under /dev (a host bind mount: the walk's slow
 * path), by canonical sandbox path; forgotten with linkcache.c's generation and after 1 s. */
/* @gen: linkcache_gen() at the walk's start. */
void devcache_put(struct sentry *s, uint64_t gen, const struct walk *w);
/* True: *@w is the walk's answer for @sp, its fds the caller's own. */
bool devcache_get(struct sentry *s, const char *sp, struct walk *w);
void devcache_free(struct sentry *s);
/* fstatat(@dirfd, @name) of one plain name in a directory the application holds, as the host's own
 * fstatat(dir, name, AT_SYMLINK_NOFOLLOW) — one component, never followed — where the policy has
 * nothing to say about the name (no mount, /proc, hidden /sys, host mount crossed; the sandbox's root).
 * 0 with *st, -errno, or 1: take the walk. */
int walk_stat_name(struct process *pr, int64_t dirfd, const char *name, bool follow, struct stat *st);
/* App fd @fd (host fd @h) was just opened as directory @st at canonical sandbox path @sp, from a
 * read-only mount: a walk from the fd starts there without asking (fdpath[]). */
void fd_dirpath_put(struct process *pr, int64_t fd, int h, const struct stat *st, const char *sp);
/* App fd @to (host fd @toh) is a duplicate of @from (host fd @fromh): what fdpath[] knows of one, of both. */
void fd_dirpath_dup(struct process *pr, int64_t from, int fromh, int64_t to, int toh);
/* getdents64 on host fd @h: what /sys may show of a directory (walk.c hides the rest). Bytes or -errno. */
long fs_getdents(struct process *pr, int64_t fd, int h, char *buf, size_t len);
/* Open the walked object (or create entry dir/name) with open(2) @flags: never following a symlink
 * (one swapped in since the walk gives ELOOP), never leaving the directory. A host fd or -errno. */
int walk_reopen(const struct walk *w, uint64_t flags, uint64_t mode);

/* fs.c: path syscalls through the policy (their entry points: systable.h). An O_PATH host fd for @path (the sandbox's /proc included), following a last symlink unless
 * @nofollow; or -errno. */
int fs_lookup(struct process *pr, int64_t dirfd, const char *path, bool nofollow);
/* open(2) of @path through the walk, without the device and FIFO rules of openat: a host fd or -errno
 * (loading programs and interpreters). */
int fs_open(struct process *pr, int64_t dirfd, const char *path, uint64_t flags);
/* The same, and (if not NULL) the file's canonical sandbox path, links resolved, into @canon
 * (SENTRY_PATH_MAX bytes; left alone for a file of the sandbox's /proc). */
int fs_open_canon(struct process *pr, int64_t dirfd, const char *path, uint64_t flags, char *canon);

/* fs_change.c: the path calls that change the file system */
long fs_mknod(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t mode, bool is_dir);
long fs_symlink(struct process *pr, uint64_t utarget, int64_t dirfd, uint64_t upath);
long fs_unlink(struct process *pr, int64_t dirfd, uint64_t upath, bool rmdir);
long fs_rename(struct process *pr, int64_t od, uint64_t op, int64_t nd, uint64_t np, uint64_t flags);
long fs_link(struct process *pr, int64_t od, uint64_t op, int64_t nd, uint64_t np, uint64_t flags);
long fs_chmod(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t mode, uint64_t flags);
/* chmod of host object @dirfd/@name (@name "": @dirfd itself, an O_PATH fd allowed), never through a
 * symbolic link (EOPNOTSUPP for a link): fchmodat2, or on kernels without it (before 6.6) through the
 * object's /proc/self/fd link. 0 or -errno. */
int fs_chmod_nofollow(int dirfd, const char *name, mode_t mode);
long fs_chown(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t uid, uint64_t gid, uint64_t flags);
long fs_utimes(struct process *pr, int64_t dirfd, uint64_t upath, const struct timespec *ts, uint64_t flags);
long fs_truncate(struct process *pr, uint64_t upath, int64_t len);

/* process.c */
/* A new process, child of @parent (NULL: the first), using memory @vm (clone(CLONE_VM) without
 * CLONE_THREAD: one more user of it) or a new one if NULL. NULL if out of memory or address spaces. */
struct process *process_new(struct sentry *s, struct process *parent, struct vm *vm);
void process_free(struct process *pr);
struct task *task_new(struct process *pr);
/* Run @t on a host thread of its own (task_loop, then task_exit); false if none could be made. */
bool start_task(struct sentry *s, struct task *t);
void idle_threads_end(struct sentry *s); /* the sandbox ends: idle task threads too (lock held) */
/* control.c: the runtime's control channel (opts.control): exec, kill, pause, resume, ps */
void control_start(struct sentry *s);
void control_stop(struct sentry *s);   /* before shutdown_all: its workers are done after it */
void control_park(struct task *t);     /* while the sandbox is paused */
/* Run a task until its process exits; returns the wait status. */
int task_loop(struct task *t);
/* Task @t ended (status in t->exit_code; t->ends_group for exit_group or a fatal signal). When it
 * was the process's last task the process becomes a zombie. */
void task_exit(struct task *t);
/* Wait until @pr is a zombie. */
void process_wait_zombie(struct process *pr);
/* Wait until the peaks of @pr's reaped children are all counted (s->lock held; getrusage). */
void process_wait_children_settled(struct process *pr);
long do_futex(struct task *t, uint64_t uaddr, uint64_t op, uint64_t val, uint64_t utime, uint64_t uaddr2,
	      uint64_t val3);
/* The task's robust futexes, as it ends: each it held is marked FUTEX_OWNER_DIED, a waiter woken. */
void futex_robust_exit(struct task *t);
void futex_wake_all(struct sentry *s);
long do_fork(struct task *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid, uint64_t tls);
/* vfork child @c execs (its point of no return) or ends: its parent goes on (process.c). */
void vfork_release(struct process *c);
long do_clone3(struct task *t, uint64_t uargs, uint64_t size);
long do_execveat(struct task *t, int64_t dirfd, uint64_t upath, uint64_t uargv, uint64_t uenvp, uint64_t flags);
long do_wait4(struct task *t, int64_t pid, uint64_t ustatus, uint64_t options);
long do_waitid(struct task *t, uint64_t idtype, uint64_t id, uint64_t uinfo, uint64_t options, uint64_t uru);
/* vm.c: a memory's life. vm_new: an empty map in a new address space, one user (NULL if out of
 * memory, or the platform has no address space to give). vm_get: one more process uses @vm. vm_put:
 * one fewer; the last frees what its map holds, the address space (the backend's stub with it) and
 * @vm. vm_lock: lock the memory of another process @pr, which may execve meanwhile (its vm changes);
 * returns the vm now locked, which the caller unlocks. */
struct vm *vm_new(struct sentry *s);
/* vm_new_bare: the same without an address space yet (execve's image, built with its installs held
 * back: it takes the old image's address space past the point of no return). */
struct vm *vm_new_bare(struct sentry *s);
void vm_get(struct vm *vm);
void vm_put(struct sentry *s, struct vm *vm);
struct vm *vm_lock(struct process *pr);
/* Memory-file pages for a process's memory (cv_memfile_alloc): with no room (the memory limit), first
 * waits (up to 200 ms) for ended processes' memories being let go of (process_settle), as Linux frees a
 * process's memory before its parent can see it gone. 0 or -ENOMEM. */
int vm_alloc_pages(struct sentry *s, uint64_t len, uint64_t *off);
/* vm_alloc_pages(), but 1 when the pages are warm (CV_ALLOC_REPORT_WARM): committed and zeroed already,
 * so that installing them precommitted costs no memory. */
int vm_alloc_pages_warm(struct sentry *s, uint64_t len, uint64_t *off);
/* Let go of everything @vm maps and its address space, now, for an ended process's memory nobody else
 * uses; what stays is an empty map until the last vm_put. */
void vm_empty(struct sentry *s, struct vm *vm);

/* mm_cow.c: the child's memory at fork(): shared memory shared, private memory copy-on-write on both
 * sides (the parent's pr->vm->lock held). 0 or -ENOMEM. */
int mm_fork(struct process *parent, struct process *child);
/* mm/sysvshm.c: the SysV segments attached in a memory. A fork's child inherits its parent's
 * (shm_fork: the parent's memory locked); a memory's go with it (shm_vm_release, from vm_put). */
int shm_fork(struct process *parent, struct process *child);
void shm_vm_release(struct sentry *s, struct vm *vm);
void shm_free(struct sentry *s); /* at the sentry's end: the namespace's segments */
/* kernel/sysvsem.c: a process's SEM_UNDO adjustments applied at its end; the sets at the sentry's. */
void sem_process_end(struct process *pr);
void sem_free(struct sentry *s);
void msq_free(struct sentry *s); /* kernel/sysvmsg.c: the message queues, at the sentry's end */
/* Resident bytes of @pr's memory: what its private and shared-anonymous mappings hold in the memory
 * file (pages never touched are holes; a host file's shared mapping is not counted). mm_rss_peak also
 * raises pr->rss_hwm, which getrusage's ru_maxrss and VmHWM report; measured at those queries, large
 * munmaps and the end. The VMA table must be stable (the process lock or its end). */
uint64_t mm_rss(const struct process *pr);
uint64_t mm_rss_peak(struct process *pr);

/* signal.c */
long sig_action(struct task *t, uint64_t sig, uint64_t uact, uint64_t uold, uint64_t size);
long sig_procmask(struct task *t, uint64_t how, uint64_t uset, uint64_t uold, uint64_t size);
long sig_altstack(struct task *t, uint64_t uss, uint64_t uold);
/* Queue @sig for task @t and make it notice (interrupt its context, wake its waits). */
void sig_queue(struct task *t, int sig, const siginfo_t *info);
/* kill/tgkill/tkill: pid > 0 one process, -1 all but the caller, 0 or < -1 all (one process group);
 * tid > 0 one thread. */
int sig_kill(struct task *t, int64_t pid, int64_t tid, uint64_t sig, int code);
/* The same with a given siginfo. */
int sig_send(struct task *t, int64_t pid, int64_t tid, uint64_t sig, const siginfo_t *info);
/* sig_queue with s->lock held (the caller calls futex_wake_all after unlocking). */
void sig_queue_locked(struct task *t, int sig, const siginfo_t *info);
long sig_queueinfo(struct task *t, int64_t pid, int64_t tid, uint64_t sig, uint64_t uinfo);
long sig_timedwait(struct task *t, uint64_t uset, uint64_t uinfo, uint64_t uts, uint64_t size);
/* rt_sigreturn: restore what the frame at rsp saved; returns the restored rax, or -EFAULT. */
/* Was syscall @nr (args @a) interrupted in a way SA_RESTART restarts (Linux's -ERESTARTSYS)? */
bool sig_restartable(uint64_t nr, const uint64_t a[6]);
long sig_return(struct task *t);
/* Before resuming t: deliver a pending unblocked signal. 0, or the signal that kills the process. */
int sig_deliver(struct task *t);
/* A synchronous fault: run its handler, or return the signal that kills the process. */
int sig_fault(struct task *t, const siginfo_t *info);
bool sig_interrupting(struct task *t);
long sig_sleep(struct task *t, const struct timespec *deadline);
/* sig_sleep for @ns nanoseconds: 0, or -EINTR (a retry loop's interruptible pause). */
long sig_nap(struct task *t, long ns);
long sig_suspend(struct task *t, uint64_t umask, uint64_t size);
void sig_restore_suspend_mask(struct task *t);

/* sysinfo.c: attributes kept per process or task, never applied to the sentry's threads */
long sys_prctl(struct task *t, uint64_t op, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
/* sched_{get,set}scheduler, sched_{get,set}param, sched_get_priority_{max,min}, sched_rr_get_interval */
long sys_sched(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);
/* ptimer.c: POSIX timers */
struct ptimer;
bool ptimers_fire(struct process *p, uint64_t mono, uint64_t *next); /* s->lock held, as timer.c's */
void ptimers_clear(struct process *p);                              /* execve, exit */
long sys_timer_create(struct task *t, uint64_t clock, uint64_t usev, uint64_t uid);
long sys_timer_settime(struct task *t, uint64_t id, uint64_t flags, uint64_t unew, uint64_t uold);
long sys_timer_gettime(struct task *t, uint64_t id, uint64_t ucur);
long sys_timer_getoverrun(struct task *t, uint64_t id);
long sys_timer_delete(struct task *t, uint64_t id);
/* pidfd.c */
long sys_pidfd_open(struct task *t, uint64_t pid, uint64_t flags);
long sys_pidfd_send_signal(struct task *t, uint64_t fd, uint64_t sig, uint64_t uinfo, uint64_t flags);
long pidfd_waitid_pid(struct process *pr, uint64_t fd);
void pidfd_process_ended(struct process *pr); /* s->lock held */
/* RLIMIT_FSIZE: a write of *@len at @off (-1: the file position) to host fd @h is cut at the limit;
 * at or past it, SIGXFSZ and -EFBIG. fsize_size: a file @now long made @size long (truncate, fallocate): only growth is held to it, as Linux. */
long fsize_write(struct process *pr, int h, int64_t off, uint64_t *len);
long fsize_size(struct process *pr, uint64_t size, uint64_t now);
long sys_fadvise(struct task *t, uint64_t fd, int64_t off, int64_t len, uint64_t advice);
long sys_ioprio(struct task *t, bool set, uint64_t which, uint64_t who, uint64_t prio);
long sys_sched_attr(struct task *t, bool set, uint64_t pid, uint64_t uattr, uint64_t size_or_flags, uint64_t flags);
long sys_getdents_old(struct task *t, uint64_t fd, uint64_t ubuf, uint64_t count);
long sys_clock_settime(struct task *t, uint64_t clk, uint64_t uts);
long sys_settimeofday(struct task *t, uint64_t utv, uint64_t utz);
long sys_get_robust_list(struct task *t, uint64_t pid, uint64_t uhead, uint64_t ulen);
long sys_affinity(struct task *t, bool set, uint64_t pid, uint64_t len, uint64_t umask);
long sys_getcpu(struct task *t, uint64_t ucpu, uint64_t unode);
long sys_priority(struct task *t, bool set, uint64_t which, uint64_t who, int64_t nice);
long sys_prlimit(struct task *t, uint64_t pid, uint64_t res, uint64_t unew, uint64_t uold);
/* A new process's limits: the parent's, or the sentry's own (RLIMIT_NOFILE within the fd table). */
void rlimits_init(struct process *pr, const struct process *parent);
long sys_times(struct task *t, uint64_t ubuf);
long sys_getrusage(struct task *t, int64_t who, uint64_t uru);
long sys_sysinfo(struct task *t, uint64_t uinfo);
/* May clock @clk be read from the host? (Never a CPU clock named by a host pid.) */
bool clock_allowed(uint64_t clk);
/* A CPU clock by id, as glibc's clock_getcpuclockid/pthread_getcpuclockid make them (~id << 3 |
 * thread << 2 | type) with the sandbox's ids: 0 and *@ts, or -EINVAL. */
long cpu_clock_by_id(struct task *t, uint64_t clk, struct timespec *ts);
long sys_clock_getres(struct task *t, uint64_t clk, uint64_t ures);
long sys_personality(struct task *t, uint64_t persona);
/* creds.c: SysV IPC objects' owner, creator and mode, and the checks on them (Linux's ipcperms() with
 * @flag's low 9 bits asked; owner, creator or CAP_SYS_ADMIN for IPC_SET and IPC_RMID). */
struct ipc_ids {
	uint32_t uid, gid, cuid, cgid, mode;
};
bool ipc_allowed(const struct process *pr, const struct ipc_ids *o, unsigned flag);
bool ipc_owner(const struct process *pr, const struct ipc_ids *o);
struct ipc_perm;
void ipc_perm_fill(struct ipc_perm *p, int32_t key, const struct ipc_ids *o, uint32_t seq, unsigned flags);
int ipc_set_perm(struct ipc_ids *o, const struct ipc_perm *p);
/* creds.c: fixed credentials, no capabilities; the umask */
long sys_ids(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);
long sys_setgroups(struct task *t, uint64_t size, uint64_t ulist);
long sys_getgroups(struct task *t, uint64_t size, uint64_t ulist);
long sys_capability(struct task *t, bool set, uint64_t uhdr, uint64_t udata);
long sys_umask(struct task *t, uint64_t mask);
/* procfs.c: a task's name (prctl PR_SET_NAME, else the program's); the process's is its main task's.
 * s->lock held. */
const char *task_comm(const struct task *t);
const char *process_comm(const struct process *p);

/* The lowest application fd number RLIMIT_NOFILE forbids. */
static inline int fd_limit(const struct process *pr)
{
	uint64_t cur = __atomic_load_n(&pr->rlim[RLIMIT_NOFILE].rlim_cur, __ATOMIC_RELAXED);
	return cur < SENTRY_MAX_FDS ? (int)cur : SENTRY_MAX_FDS;
}

/* vmaquery.c: mincore, msync, mlock, mlock2, munlock, mlockall, munlockall (pr->vm->lock held) */
long vma_query_syscall(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);

/* fileio.c: fd syscalls on the application's host fds */
/* read/write (off < 0) or pread/pwrite of at most 64 KiB of app fd @fd; bytes or -errno. */
long sys_rw(struct task *t, uint64_t fd, uint64_t buf, uint64_t len, bool wr, int64_t off);
/* readv/writev (off < 0: the file position), preadv/pwritev and their v2 forms (RWF_* @flags). */
long io_vec(struct task *t, uint64_t fd, uint64_t iov, uint64_t cnt, int64_t off, bool wr, uint64_t flags);
/* ftruncate, fsync, fdatasync, syncfs, fallocate, timerfd_settime, timerfd_gettime (args @a). */
long io_fd_syscall(struct task *t, uint64_t nr, const uint64_t a[6]);
long io_sync(struct task *t);
long io_flock(struct task *t, uint64_t fd, uint64_t op);
/* sendfile, copy_file_range, splice, tee (args @a). */
long io_copy(struct task *t, uint64_t nr, const uint64_t a[6]);
long io_close_range(struct task *t, uint64_t first, uint64_t last, uint64_t flags);
long io_memfd_create(struct task *t, uint64_t uname, uint64_t flags);
/* fs.c: inotify through the policy */
long fs_inotify_init(struct task *t, uint64_t flags);
long fs_inotify_add_watch(struct task *t, uint64_t fd, uint64_t upath, uint64_t mask);
long io_timerfd_create(struct task *t, uint64_t clk, uint64_t flags);
/* fs.c: the mount holding the file behind host fd @h (by its host path), or NULL; is it read-write? */
const struct mountpt *fs_fd_mount(struct process *pr, int h);
bool fs_fd_writable(struct process *pr, int h);
/* perm.c: access checks by the sandbox's credentials (see the file). MAY_* as Linux's. */
#define MAY_EXEC 1
#define MAY_WRITE 2
#define MAY_READ 4
/* Does @pr pass every mode-bit check but execution (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH)? */
bool perm_overrides(const struct process *pr);
/* The owner of host object @h (@st) as the sandbox sees it (ids.c, then owners.c). */
void perm_owner(struct process *pr, int h, const struct stat *st, uint32_t *uid, uint32_t *gid);
/* Linux's generic_permission for @mask on @h (@st) with @pr's fs ids, groups and capabilities; the
 * _real form as access(2) asks (real ids); _fd stats @h itself. 0 or -EACCES. */
long perm_check(struct process *pr, int h, const struct stat *st, int mask);
long perm_check_real(struct process *pr, int h, const struct stat *st, int mask);
long perm_check_fd(struct process *pr, int h, int mask);
/* Owner of @h, or CAP_FOWNER (chmod, utimes with times, Linux's inode_owner_or_capable)? */
bool perm_owner_or_capable(struct process *pr, int h, const struct stat *st);
/* May entry @h (@st) of directory @dirh be removed or renamed away: write and search on the directory
 * (-EACCES) and, if it is sticky, owning the file or the directory or CAP_FOWNER (-EPERM)? */
long perm_may_delete(struct process *pr, int dirh, int h, const struct stat *st);
/* May an entry be made in directory @dirh (write and search)? 0 or -EACCES. */
long perm_may_create(struct process *pr, int dirh);
/* chmod keeps S_ISGID: CAP_FSETID, or a member of the file's group. */
bool perm_keeps_setgid(struct process *pr, int h, const struct stat *st);
/* @pr just made @h in directory @dirh: its owner is the maker's fs ids (the directory's group if it
 * is setgid), recorded where the host's owner reads differently. */
void perm_created(struct process *pr, int dirh, int h);

/* fasync.c: signal-driven I/O and F_NOTIFY, per open file description (see the file). Host fd @d is
 * a new copy of @h (a dup, fork's copy); host fd @h of a sandbox fd is being closed. */
void fasync_dup(struct sentry *s, int h, int d);
void fasync_closed(struct sentry *s, int h);
/* Is O_ASYNC armed on @h's description (F_GETFL)? Arm or disarm it through sandbox fd @fd. */
bool fasync_armed(struct sentry *s, int h);
long fasync_set_async(struct process *pr, int fd, int h, bool on);
/* F_SETOWN(_EX): @type F_OWNER_*, @id a sandbox id or 0; -EINVAL, -ESRCH. F_GETOWN(_EX). */
long fasync_setown(struct process *pr, int h, int type, int id);
void fasync_getown(struct process *pr, int h, int *type, int *id);
long fasync_setsig(struct process *pr, int h, uint64_t sig);
long fasync_getsig(struct process *pr, int h);
/* F_NOTIFY with DN_* @mask on directory @h (sandbox fd @fd): -ENOTDIR, -ENOMEM. */
long fasync_notify(struct process *pr, int fd, int h, uint32_t mask);
/* End the watching thread and free the records (the sandbox is gone). */
void fasync_stop(struct sentry *s);
/* A dup of host fd @h at 3 or above, close-on-exec, that keeps its signal-driven I/O record. */
int host_dup(struct sentry *s, int h);

/* ioctl.c */
long sys_ioctl(struct task *t, uint64_t fd, uint64_t req, uint64_t arg);
/* fileio.c: fcntl record locks (F_GETLK, F_SETLK(W) and the OFD forms) */
long io_lock(struct task *t, uint64_t fd, uint64_t cmd, uint64_t uarg);

/* systable.c */
/* Handle the syscall in t's registers; returns 1 if the task ended (see task.exit_code). */
int do_syscall(struct task *t, const struct cv_exit *ex);

#endif
