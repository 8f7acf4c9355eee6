// SPDX-License-Identifier: Apache-2.0
// The sandbox's own /proc. /proc/self, /proc/thread-self and /proc/PID (for the sandbox's processes)
// describe sandboxed processes, never the sentry: cmdline, environ, comm, status, stat, statm and maps
// are generated from the sentry's own records, exe, cwd and fd/N are links into the sandbox's tree. A few
// system-wide files (cpuinfo, meminfo, version, uptime, loadavg, stat, filesystems and some of
// /proc/sys/kernel) are copies of the host's, which describe the machine, not the sentry. Everything
// else under /proc is refused. Files are sealed memfds: read-only, with the content of the moment
// they were opened. A directory listing is a small directory built at open in a host directory the
// sandbox never sees, kept per opening process and removed with it.
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "../sentry.h"

static char *join(char *const v[], size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; v && v[i]; i++)
		n += strlen(v[i]) + 1;
	char *b = malloc(n ? n : 1);
	if (!b)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; v && v[i]; i++) {
		size_t l = strlen(v[i]) + 1;
		memcpy(b + o, v[i], l);
		o += l;
	}
	*len = n;
	return b;
}

int process_set_args(struct process *pr, char *const argv[], char *const envp[])
{
	size_t al = 0, el = 0;
	char *a = join(argv, &al), *e = join(envp, &el);
	if (!a || !e) {
		free(a);
		free(e);
		return -ENOMEM;
	}
	/* /proc/PID/cmdline of another process reads these under s->lock (execve holds no other lock). */
	pthread_mutex_lock(&pr->s->lock);
	char *old_a = pr->args, *old_e = pr->env;
	pr->args = a, pr->args_len = al;
	pr->env = e, pr->env_len = el;
	pthread_mutex_unlock(&pr->s->lock);
	free(old_a);
	free(old_e);
	return 0;
}

int process_copy_args(struct process *to, const struct process *from)
{
	to->args = malloc(from->args_len ? from->args_len : 1);
	to->env = malloc(from->env_len ? from->env_len : 1);
	if (!to->args || !to->env)
		return -ENOMEM;
	memcpy(to->args, from->args ? from->args : "", from->args_len);
	memcpy(to->env, from->env ? from->env : "", from->env_len);
	to->args_len = from->args_len;
	to->env_len = from->env_len;
	return 0;
}

/* A growing text buffer. */
struct text {
	char *b;
	size_t n, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->n + n > t->cap) {
		size_t cap = (t->n + n) * 2 + 256;
		char *b = realloc(t->b, cap);
		if (!b)
			return;
		t->b = b, t->cap = cap;
	}
	memcpy(t->b + t->n, s, n);
	t->n += n;
}

__attribute__((format(printf, 2, 3))) static void putf(struct text *t, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(t, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* The sandbox process @pid ("self" for the caller's), or NULL; s->lock held. */
static struct process *target(struct process *self, const char *who)
{
	if (strcmp(who, "self") == 0 || strcmp(who, "thread-self") == 0)
		return self;
	char *end;
	long pid = strtol(who, &end, 10);
	if (*end || end == who || pid <= 0)
		return NULL;
	for (struct process *p = self->s->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int live_threads(const struct process *p)
{
	int n = 0;
	for (const struct task *o = p->tasks; o; o = o->next)
		n += !o->exited;
	return n;
}

const char *task_comm(const struct task *t)
{
	return t->comm[0] ? t->comm : base_name(t->proc->exe ? t->proc->exe : "?");
}

const char *process_comm(const struct process *p)
{
	for (const struct task *o = p->tasks; o; o = o->next)
		if (o->tid == p->pid)
			return task_comm(o);
	return base_name(p->exe ? p->exe : "?");
}

/* Generate /proc/PID/@file of @p into @out (s->lock held); false if there is no such file. */
/* The file system type of host directory fd @fd, by name, as /proc/mounts shows it. */
static const char *fs_type(int fd)
{
	static const struct { long magic; const char *name; } known[] = {
		{ EXT4_SUPER_MAGIC, "ext4" }, { TMPFS_MAGIC, "tmpfs" }, { OVERLAYFS_SUPER_MAGIC, "overlay" },
		{ BTRFS_SUPER_MAGIC, "btrfs" }, { XFS_SUPER_MAGIC, "xfs" }, { NFS_SUPER_MAGIC, "nfs" },
		{ 0x01021997 /* V9FS */, "9p" }, { 0x6a656a63 /* virtiofs (FUSE) */, "fuse" }, { SQUASHFS_MAGIC, "squashfs" },
	};
	struct statfs fs;
	if (fstatfs(fd, &fs) == 0)
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if ((long)fs.f_type == known[i].magic)
				return known[i].name;
	return "unknown";
}

/* /proc/PID/mounts (or mountinfo): the sandbox's own mount points, never the host's table. */
static void mount_table(const struct policy *pol, bool info, struct text *out)
{
	for (int i = 0; i < pol->n; i++) {
		const struct mountpt *m = &pol->m[i];
		const char *mode = m->rw ? "rw" : "ro";
		struct stat st;
		if (fstat(m->fd, &st) < 0)
			continue;
		if (info)
			putf(out, "%d %d %u:%u / %s %s - %s cvisor %s\n", 100 + i, i ? 100 : 1, major(st.st_dev),
			     minor(st.st_dev), m->spath, mode, fs_type(m->fd), mode);
		else
			putf(out, "cvisor %s %s %s 0 0\n", m->spath, fs_type(m->fd), mode);
	}
}

/* Its state letter: Z exited, T stopped, S every thread (@tid: that thread alone, as a task/TID file
 * says) waiting in the sentry, else R (s->lock held). */
static char process_state(const struct process *p, int tid)
{
	if (p->zombie)
		return 'Z';
	if (p->stop_sig)
		return 'T';
	for (const struct task *t = p->tasks; t; t = t->next)
		if (!t->exited && t->pt.stopped && (!tid || t->tid == tid))
			return 't'; /* tracing stop */
	for (const struct task *t = p->tasks; t; t = t->next)
		if (!t->exited && !__atomic_load_n(&t->sleeping, __ATOMIC_RELAXED) && (!tid || t->tid == tid))
			return 'R';
	return 'S';
}

/* A CPU mask as Linux's status shows it: hex in 32-bit groups, most significant first, as wide as the
 * machine's CPU count (@hex); and as a list of ranges (@list). */
static void put_cpumask(struct text *out, const uint64_t mask[16], bool hex)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	int ncpu = n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
	if (hex) {
		for (int g = (ncpu - 1) / 32; g >= 0; g--) {
			uint32_t w = (uint32_t)(mask[g / 2] >> (32 * (g % 2)));
			int digits = g == (ncpu - 1) / 32 ? ((ncpu - 1) % 32) / 4 + 1 : 8;
			putf(out, "%0*x%s", digits, w, g ? "," : "");
		}
		return;
	}
	const char *sep = "";
	for (int i = 0; i < ncpu; i++) {
		if (!(mask[i / 64] >> (i % 64) & 1))
			continue;
		int j = i;
		while (j + 1 < ncpu && (mask[(j + 1) / 64] >> ((j + 1) % 64) & 1))
			j++;
		if (j > i)
			putf(out, "%s%d-%d", sep, i, j);
		else
			putf(out, "%s%d", sep, i);
		sep = ",";
		i = j;
	}
}

/* status, after the signals: capabilities (the bounding set: what the sandbox's root was given), the
 * no_new_privs bit, no seccomp filter of the application's own (seccomp(2) is refused), and the CPUs
 * the main thread may run on. */
static void status_creds_cpus(struct process *p, const struct task *lead, struct text *out)
{
	const struct creds *c = &p->cred;
	const struct sentry_opts *o = &p->s->opts;
	uint64_t bnd = o->set_caps ? o->caps & CRED_ALL_CAPS : CRED_ALL_CAPS;
	putf(out, "CapInh:\t%016llx\nCapPrm:\t%016llx\nCapEff:\t%016llx\n", 0ull,
	     (unsigned long long)c->cap_prm, (unsigned long long)c->cap_eff);
	putf(out, "CapBnd:\t%016llx\nCapAmb:\t%016llx\n", (unsigned long long)bnd, 0ull);
	putf(out, "NoNewPrivs:\t%d\nSeccomp:\t0\nSeccomp_filters:\t0\n", p->no_new_privs ? 1 : 0);
	const uint64_t *mask = lead && lead->has_affinity ? lead->affinity : p->s->cpus;
	putf(out, "Cpus_allowed:\t");
	put_cpumask(out, mask, true);
	putf(out, "\nCpus_allowed_list:\t");
	put_cpumask(out, mask, false);
	putf(out, "\n");
}

/* File @file of process @p (@tid: of its thread @tid, under task/; else 0). */
static bool process_file(struct process *p, int tid, const char *file, struct text *out, bool own)
{
	int ppid = p->parent ? p->parent->pid : 0;
	char state = process_state(p, tid);
	if (strcmp(file, "auxv") == 0) {
		put(out, (const char *)p->auxv, p->auxv_len);
	} else if (strcmp(file, "cmdline") == 0) {
		put(out, p->args ? p->args : "", p->args_len);
	} else if (strcmp(file, "environ") == 0) {
		put(out, p->env ? p->env : "", p->env_len);
	} else if (strcmp(file, "comm") == 0) {
		putf(out, "%.15s\n", process_comm(p));
	} else if (strcmp(file, "status") == 0) {
		putf(out, "Name:\t%.15s\nUmask:\t%04o\nState:\t%c (%s)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\n",
		     process_comm(p), (unsigned)p->umask, state, state == 'Z' ? "zombie" : state == 'T' ? "stopped" : state == 't' ? "tracing stop" : state == 'S' ? "sleeping" : "running", p->pid, tid ? tid : p->pid, ppid);
		const struct creds *c = &p->cred;
		struct task *leader = NULL;
		for (struct task *o = p->tasks; o; o = o->next)
			if (o->tid == p->pid)
				leader = o;
		putf(out, "TracerPid:\t%d\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t%d\nGroups:\t",
		     leader && leader->pt.tracer ? leader->pt.tracer->pid : 0, (int)c->uid[0], (int)c->uid[1], (int)c->uid[2], (int)c->uid[3], (int)c->gid[0], (int)c->gid[1],
		     (int)c->gid[2], (int)c->gid[3], SENTRY_MAX_FDS);
		for (int i = 0; i < c->ngroups; i++)
			putf(out, "%d ", (int)c->groups[i]);
		putf(out, "\n");
		/* One pid namespace as the sandbox sees it: a single level each */
		putf(out, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", p->pid,
		     tid ? tid : p->pid, p->pgid, p->sid);
		/* Memory: another process's VMAs change under its own lock, which is taken only if free
		 * (never waited for under the process table's: the lock order is the other way) */
		bool mem = !p->zombie && (own || pthread_mutex_trylock(&p->vm->lock) == 0);
		uint64_t size = 0, rss = mem ? mm_rss_peak(p) : 0;
		for (size_t i = 0; mem && i < p->vm->mm.n; i++)
			size += p->vm->mm.v[i].end - p->vm->mm.v[i].start;
		if (mem && !own)
			pthread_mutex_unlock(&p->vm->lock);
		if (mem)
			putf(out, "VmPeak:\t%8llu kB\nVmSize:\t%8llu kB\nVmHWM:\t%8llu kB\nVmRSS:\t%8llu kB\n",
			     (unsigned long long)(size / 1024), (unsigned long long)(size / 1024),
			     (unsigned long long)(p->rss_hwm / 1024), (unsigned long long)(rss / 1024));
		putf(out, "Threads:\t%d\n", live_threads(p));
		/* Signals: the main thread's pending and blocked sets, the process's dispositions */
		const struct task *lead = NULL;
		for (const struct task *o = p->zombie ? NULL : p->tasks; o; o = o->next)
			if (!lead || o->tid == p->pid)
				lead = o;
		uint64_t ign = 0, cgt = 0;
		for (int i = 0; i < 64; i++)
			if (p->actions[i].handler == (uint64_t)SIG_IGN)
				ign |= 1ull << i;
			else if (p->actions[i].handler != (uint64_t)SIG_DFL)
				cgt |= 1ull << i;
		putf(out, "SigQ:\t%d/%llu\nSigPnd:\t%016llx\nShdPnd:\t%016llx\nSigBlk:\t%016llx\nSigIgn:\t%016llx\nSigCgt:\t%016llx\n",
		     lead ? __builtin_popcountll(lead->pending) : 0, (unsigned long long)p->rlim[RLIMIT_SIGPENDING].rlim_cur,
		     (unsigned long long)(lead ? lead->pending : 0), 0ull, (unsigned long long)(lead ? lead->blocked : 0),
		     (unsigned long long)ign, (unsigned long long)cgt);
		status_creds_cpus(p, lead, out);
	} else if (strcmp(file, "stat") == 0) {
		/* utime, stime and the children's in clock ticks (cputime.c), as ps and top read them */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
		uint64_t ut = process_cpu_ns(p, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec, NULL) / tick;
		int nice = p->nice; /* the thread's (task/TID/stat) or the main thread's */
		for (const struct task *o = p->zombie ? NULL : p->tasks; o; o = o->next)
			if (o->tid == (tid ? tid : p->pid))
				nice = o->nice;
		putf(out,
		     "%d (%.15s) %c %d %d %d 0 -1 0 0 0 0 0 %llu %llu %llu %llu 20 %d %d 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 "
		     "0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		     tid ? tid : p->pid, process_comm(p), state, ppid, p->pgid, p->sid, (unsigned long long)ut,
		     (unsigned long long)(__atomic_load_n(&p->sys_ns, __ATOMIC_RELAXED) / tick),
		     (unsigned long long)(p->child_run_ns / tick), (unsigned long long)(p->child_sys_ns / tick), nice,
		     live_threads(p));
	} else if (strcmp(file, "statm") == 0) {
		uint64_t pages = 0;
		for (size_t i = 0; i < p->vm->mm.n; i++)
			pages += (p->vm->mm.v[i].end - p->vm->mm.v[i].start) / 4096;
		putf(out, "%llu %llu 0 0 0 0 0\n", (unsigned long long)pages, (unsigned long long)(mm_rss(p) / 4096));
	} else if (strcmp(file, "mounts") == 0 || strcmp(file, "mountinfo") == 0) {
		mount_table(&p->s->pol, strcmp(file, "mountinfo") == 0, out);
	} else if (strcmp(file, "maps") == 0) {
		for (size_t i = 0; i < p->vm->mm.n; i++) {
			const struct vma *v = &p->vm->mm.v[i];
			uint64_t end = v->end;
			/* One line per mapping, however copy-on-write has split its backing. */
			while (i + 1 < p->vm->mm.n && p->vm->mm.v[i + 1].start == end && p->vm->mm.v[i + 1].access == v->access &&
			       p->vm->mm.v[i + 1].shared == v->shared && p->vm->mm.v[i + 1].special == v->special)
				end = p->vm->mm.v[++i].end;
			const char *name = vdso_vma_name(v);
			size_t at = out->n;
			putf(out, "%08llx-%08llx %c%c%c%c 00000000 00:00 0", (unsigned long long)v->start,
				       (unsigned long long)end, (v->access & CV_ACCESS_READ) ? 'r' : '-',
				       (v->access & CV_ACCESS_WRITE) ? 'w' : '-', (v->access & CV_ACCESS_EXEC) ? 'x' : '-',
				       v->shared ? 's' : 'p');
			if (name) /* Linux pads the name to column 74 */
				putf(out, "%*s%s", out->n - at < 73 ? (int)(73 - (out->n - at)) : 1, "", name);
			putf(out, "\n");
		}
	} else {
		return false;
	}
	return true;
}

/* System-wide files copied from the host's /proc (they describe the machine). */
static const char *const host_files[] = { "cpuinfo", "meminfo", "version", "uptime", "loadavg", "stat",
					  "filesystems", "sys/kernel/osrelease", "sys/kernel/ostype",
					  "sys/kernel/pid_max", "sys/kernel/ngroups_max", "sys/vm/overcommit_memory" };

#define N_HOST_FILES (sizeof(host_files) / sizeof(host_files[0]))
static int host_fds[N_HOST_FILES];
static bool host_fds_kept;

/* Open the host files now, while the host's /proc is in view (the jail's /proc shows only pids). */
void procfs_keep_host_files(void)
{
	for (size_t i = 0; i < N_HOST_FILES; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/proc/%s", host_files[i]);
		host_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
	}
	host_fds_kept = true;
}

static bool host_file(const char *rel, struct text *out)
{
	for (size_t i = 0; i < N_HOST_FILES; i++)
		if (strcmp(rel, host_files[i]) == 0) {
			char path[128];
			snprintf(path, sizeof(path), "/proc/%s", rel);
			int fd = host_fds_kept ? host_fds[i] : open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return false;
			char b[4096];
			ssize_t n;
			off_t at = 0;
			while ((n = pread(fd, b, sizeof(b), at)) > 0) /* from the start each time: a fresh copy */
				put(out, b, (size_t)n), at += n;
			if (!host_fds_kept)
				close(fd);
			return true;
		}
	return false;
}

/* A sealed, read-only memfd holding @out. */
static long sealed(const struct text *out)
{
	int fd = memfd_create("cvisor-proc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < out->n) {
		ssize_t w = write(fd, out->b + done, out->n - done);
		if (w <= 0) {
			close(fd);
			return -EIO;
		}
		done += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	return fd;
}

/* The entries of a /proc directory (NULL if @rel is not one), written into a fresh host directory. */
static const char *const pid_files[] = { "cmdline", "comm", "environ", "maps", "mountinfo", "mounts", "stat",
					 "statm", "status" };

static int listing(struct process *self, const char *rel)
{
	struct sentry *s = self->s;
	static unsigned long serial;
	char dir[SENTRY_PATH_MAX], path[SENTRY_PATH_MAX + 64];
	/* Under a directory of the opening process, removed when it is freed (procfs_release). */
	snprintf(dir, sizeof(dir), "%s/%d", s->proc_dir, self->pid);
	if (!s->proc_dir[0] || (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return -EACCES;
	snprintf(dir, sizeof(dir), "%s/%d/%lu", s->proc_dir, self->pid, __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED));
	if (mkdir(dir, 0555 | S_IWUSR) < 0)
		return -EACCES;
	char who[32] = "";
	const char *slash = strchr(rel, '/');
	if (rel[0]) {
		size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
		if (n >= sizeof(who))
			return -ENOENT;
		memcpy(who, rel, n);
		who[n] = 0;
	}
	pthread_mutex_lock(&s->lock);
	struct process *p = rel[0] ? target(self, who) : NULL;
	int ret = 0;
	/* What the directory is, for a descriptor of it to name (readlink, *at() calls): "/proc/PID/..." */
	char what[SENTRY_PATH_MAX];
	if (p)
		snprintf(what, sizeof(what), "/proc/%d%s", p->pid, slash ? slash : "");
	else
		snprintf(what, sizeof(what), "/proc");
	snprintf(path, sizeof(path), "%s.path", dir);
	int wf = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0400);
	if (wf < 0 || write(wf, what, strlen(what)) != (ssize_t)strlen(what))
		ret = -EIO;
	if (wf >= 0)
		close(wf);
	if (!rel[0]) { /* /proc itself */
		for (struct process *q = s->procs; q; q = q->next) {
			snprintf(path, sizeof(path), "%s/%d", dir, q->pid);
			mkdir(path, 0555);
		}
		snprintf(path, sizeof(path), "%s/self", dir);
		mkdir(path, 0555);
		snprintf(path, sizeof(path), "%s/thread-self", dir);
		mkdir(path, 0555);
		for (size_t i = 0; i < sizeof(host_files) / sizeof(host_files[0]); i++)
			if (!strchr(host_files[i], '/')) {
				snprintf(path, sizeof(path), "%s/%s", dir, host_files[i]);
				close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444));
			}
	} else if (p && !slash) { /* /proc/PID */
		for (size_t i = 0; i < sizeof(pid_files) / sizeof(pid_files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, pid_files[i]);
			close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444));
		}
		static const char *const links[] = { "exe", "cwd" };
		for (size_t i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, links[i]);
			if (symlink(i ? p->cwd : (p->exe ? p->exe : "/"), path) < 0)
				ret = -EIO;
		}
		snprintf(path, sizeof(path), "%s/fd", dir);
		mkdir(path, 0555);
	} else if (p && strcmp(slash + 1, "fd") == 0) { /* /proc/PID/fd */
		for (int fd = 0; fd < SENTRY_MAX_FDS; fd++)
			if (p->fds[fd] >= 0) {
				char target_path[SENTRY_PATH_MAX];
				long n = fs_fd_path(p, p->fds[fd], target_path, sizeof(target_path));
				snprintf(path, sizeof(path), "%s/%d", dir, fd);
				if (symlink(n > 0 ? target_path : "?", path) < 0)
					ret = -EIO;
			}
		/* Its own listing holds a descriptor too, the lowest free one (this open takes it). */
		for (int fd = 0; p == self && fd < fd_limit(p); fd++)
			if (p->fds[fd] < 0) {
				char target_path[64];
				snprintf(target_path, sizeof(target_path), "/proc/%d/fd", p->pid);
				snprintf(path, sizeof(path), "%s/%d", dir, fd);
				if (symlink(target_path, path) < 0)
					ret = -EIO;
				break;
			}
	} else {
		ret = -ENOENT;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		return ret;
	chmod(dir, 0555);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A host fd for /proc path @rel: a listing directory, or a sealed memfd with a file's content. */
static long procfs_fd(struct process *self, const char *rel, uint64_t flags)
{
	long d = listing(self, rel);
	if (d >= 0 || d == -EIO)
		return d;
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	struct text out = { 0 };
	if (strcmp(rel, "mounts") == 0) /* a link to self/mounts in Linux */
		rel = "self/mounts";
	bool found = host_file(rel, &out);
	if (!found) {
		char who[32];
		const char *slash = strchr(rel, '/');
		if (slash && (size_t)(slash - rel) < sizeof(who)) {
			memcpy(who, rel, (size_t)(slash - rel));
			who[slash - rel] = 0;
			struct sentry *s = self->s;
			pthread_mutex_lock(&s->lock);
			struct process *p = target(self, who);
			/* Another process's memory map changes under its own lock: listed when that lock is free
			 * (a debugger reads its stopped tracee's maps to find the vDSO), never waited for. */
			const char *file = slash + 1;
			int tid = 0;
			if (strncmp(file, "task/", 5) == 0 && strchr(file + 5, '/')) { /* a thread's: mostly its process's */
				tid = atoi(file + 5);
				file = strchr(file + 5, '/') + 1;
			}
			bool own_mm = strcmp(file, "maps") == 0 || strcmp(file, "statm") == 0;
			bool other = p && own_mm && p != self, locked = other && pthread_mutex_trylock(&p->vm->lock) == 0;
			found = p && (!other || locked) && process_file(p, tid, file, &out, p == self);
			if (locked)
				pthread_mutex_unlock(&p->vm->lock);
			pthread_mutex_unlock(&s->lock);
		}
	}
	long ret = found ? sealed(&out) : -EACCES;
	free(out.b);
	return ret;
}

static const char *proc_rel(const char *full)
{
	if (strncmp(full, "/proc", 5) != 0 || (full[5] != '/' && full[5] != 0))
		return NULL;
	return full[5] ? full + 6 : "";
}

bool procfs_host_path(const struct sentry *s, const char *host, char *out, size_t cap)
{
	size_t pl = strlen(s->proc_dir);
	if (!s->proc_dir[0] || strncmp(host, s->proc_dir, pl) != 0 || host[pl] != '/')
		return false;
	/* proc_dir/PID/SERIAL[/rest]: the listing's own name is in proc_dir/PID/SERIAL.path */
	const char *serial = strchr(host + pl + 1, '/');
	if (!serial)
		return false;
	const char *rest = strchr(serial + 1, '/');
	size_t dl = rest ? (size_t)(rest - host) : strlen(host);
	char file[SENTRY_PATH_MAX + 8], what[SENTRY_PATH_MAX];
	snprintf(file, sizeof(file), "%.*s.path", (int)dl, host);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, what, sizeof(what) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	what[n] = 0;
	snprintf(out, cap, "%s%s", what, rest ? rest : "");
	return true;
}

void procfs_release(struct process *pr)
{
	if (!pr->s->proc_dir[0])
		return;
	char dir[SENTRY_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/%d", pr->s->proc_dir, pr->pid);
	remove_tree(dir);
}

bool procfs_open_host(struct process *self, const char *full, uint64_t flags, long *hfd)
{
	const char *rel = proc_rel(full);
	if (!rel)
		return false;
	if (procmem_open(self, rel, hfd))
		return true;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		*hfd = -EACCES;
	else
		*hfd = procfs_fd(self, rel, flags);
	return true;
}

bool procfs_open(struct process *self, const char *full, uint64_t flags, long *ret)
{
	if (!procfs_open_host(self, full, flags, ret))
		return false;
	if (*ret >= 0)
		*ret = fd_install(self, (int)*ret, flags & O_CLOEXEC);
	return true;
}

bool procfs_lookup(struct process *self, const char *full, bool nofollow, long *hfd)
{
	const char *rel = proc_rel(full);
	if (!rel)
		return false;
	char target_path[SENTRY_PATH_MAX];
	long n;
	if (procfs_readlink(self, full, target_path, sizeof(target_path), &n) && n > 0) {
		/* A link (exe, cwd, fd/N): itself, as a symlink in a fresh directory, or what it names. */
		target_path[n] = 0;
		if (!nofollow) {
			*hfd = target_path[0] != '/' ? -ENOENT : fs_lookup(self, AT_FDCWD, target_path, false);
			return true;
		}
		/* Linux reports 64 as the size of an fd link: this link is only stat'ed (readlink asks
		 * procfs_readlink), so its text may be padded with slashes to that size. */
		const char *fdl = strstr(full, "/fd/");
		while (fdl && strchr(fdl + 4, '/'))
			fdl = strstr(fdl + 1, "/fd/");
		for (; fdl && n < 64 && (size_t)n + 1 < sizeof(target_path); n++)
			target_path[n] = '/', target_path[n + 1] = 0;
		static unsigned long serial;
		char path[SENTRY_PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/l%lu", self->s->proc_dir, __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED));
		if (!self->s->proc_dir[0] || symlink(target_path, path) < 0) {
			*hfd = -EACCES;
			return true;
		}
		int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		unlink(path);
		*hfd = fd < 0 ? -errno : fd;
		return true;
	}
	*hfd = procfs_fd(self, rel, 0);
	return true;
}

bool procfs_readlink(struct process *self, const char *full, char *out, size_t cap, long *len)
{
	if (strncmp(full, "/proc/", 6) != 0)
		return false;
	const char *rel = full + 6, *slash = strchr(rel, '/');
	char who[32];
	if (!slash || (size_t)(slash - rel) >= sizeof(who))
		return false;
	memcpy(who, rel, (size_t)(slash - rel));
	who[slash - rel] = 0;
	const char *file = slash + 1;
	struct sentry *s = self->s;
	pthread_mutex_lock(&s->lock);
	struct process *p = target(self, who);
	*len = -ENOENT;
	if (p && strcmp(file, "exe") == 0 && p->exe) {
		*len = snprintf(out, cap, "%s", p->exe);
	} else if (p && strcmp(file, "cwd") == 0) {
		*len = snprintf(out, cap, "%s", p->cwd);
	} else if (p && strncmp(file, "fd/", 3) == 0) {
		char *end;
		long fd = strtol(file + 3, &end, 10);
		if (!*end && end != file + 3 && fd >= 0 && fd < SENTRY_MAX_FDS && p->fds[fd] >= 0)
			*len = fs_fd_path(p, p->fds[fd], out, cap);
	} else if (!p) {
		pthread_mutex_unlock(&s->lock);
		return strcmp(who, "self") == 0 || strspn(who, "0123456789") == strlen(who);
	} else {
		*len = -EINVAL; /* not a link */
	}
	pthread_mutex_unlock(&s->lock);
	if (*len >= (long)cap)
		*len = (long)cap - 1;
	return true;
}

/* The permission bits Linux gives the link /proc/PID/fd/N itself: r-x for an fd open for reading, -wx
 * for writing, nothing for O_PATH (owner only). -1 if @full is no such link. */
int procfs_fd_link_mode(struct process *self, const char *full)
{
	char target_path[SENTRY_PATH_MAX];
	long n;
	if (strncmp(full, "/proc/", 6) != 0 || !strstr(full, "/fd/") ||
	    !procfs_readlink(self, full, target_path, sizeof(target_path), &n) || n < 0)
		return -1;
	const char *num = strrchr(full, '/') + 1;
	char *end;
	long fd = strtol(num, &end, 10);
	if (*end || end == num || fd < 0 || fd >= SENTRY_MAX_FDS)
		return -1;
	int h = __atomic_load_n(&self->fds[fd], __ATOMIC_RELAXED);
	int fl = h >= 0 ? fcntl(h, F_GETFL) : -1;
	if (strncmp(full, "/proc/self/", 11) != 0 && strncmp(full, "/proc/thread-self/", 18) != 0)
		return 0500; /* another process's fds: its access mode is not ours to know cheaply */
	if (fl < 0 || (fl & O_PATH))
		return 0;
	int acc = fl & O_ACCMODE;
	return (acc == O_RDONLY ? 0500 : acc == O_WRONLY ? 0300 : 0700);
}
