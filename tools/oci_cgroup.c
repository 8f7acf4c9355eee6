// SPDX-License-Identifier: Apache-2.0
// The container in the host's cgroups: its process (and with it the sentry, its threads and every
// stub) joins linux.cgroupsPath (or /cvisor/ID when only CPU limits are asked) in every hierarchy the
// host has — v2's, or each v1 controller, as runc does — before it starts, so that engines' statistics
// and the host's accounting see the sandbox. CPU limits (linux.resources.cpu: shares, quota, period)
// go there too: cgroup v2 (cpu.max, cpu.weight) or v1's cpu controller (cpu.cfs_quota_us,
// cpu.cfs_period_us, cpu.shares) and cpusets. Memory and tasks are limited by the sentry itself
// (sentry_opts.mem_limit, pids_limit: exact, by the sandbox's own counts); the memory cgroup gets only a
// backstop above that (memory_backstop). The directories joined are kept in ROOT/ID/cgroup; those
// create made are emptied and removed at delete, those that were there already are left alone.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include "oci.h"

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, value, strlen(value));
	int e = errno;
	close(fd);
	return w == (ssize_t)strlen(value) ? 0 : -(w < 0 ? e : EIO);
}

/* mkdir -p: 1 if it made @path itself, 0 if that was there already, or -errno. */
static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int r = mkdir(path, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(path, 0755) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/* linux.cgroupsPath as a path below the hierarchy: "/a/b" as is, systemd's "slice:prefix:name" as
 * "/slice/prefix-name.scope" (no systemd here to ask). */
static void relative_path(const char *cg, const char *id, char *out, size_t len)
{
	const char *c1 = cg ? strchr(cg, ':') : NULL, *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!cg || !cg[0])
		snprintf(out, len, "/cvisor/%s", id);
	else if (c2)
		snprintf(out, len, "/%.*s/%.*s-%s.scope", (int)(c1 - cg), cg, (int)(c2 - c1 - 1), c1 + 1, c2 + 1);
	else
		snprintf(out, len, "%s%s", cg[0] == '/' ? "" : "/", cg);
}

/* v1's cpuset: a new group has no CPUs and no memory nodes (unless its parent clones them), and no
 * task can join it; each level made takes its parent's, as runc does. */
static void cpuset_fill(const char *dir)
{
	char parent[PATH_MAX + 32], v[4096];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (!slash || strcmp(parent, "/sys/fs/cgroup/cpuset") == 0)
		return;
	*slash = 0;
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, v, sizeof(v) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n != 1 || v[0] != '\n') /* set already (or unreadable: leave it) */
			continue;
		cpuset_fill(parent);
		snprintf(path, sizeof(path), "%s/%s", parent, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, v, sizeof(v) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			v[n] = 0;
			write_file(dir, files[i], v);
		}
	}
}

/* CPU limits into @dir (v2's cpu.max and cpu.weight, or v1's cpu controller): 0 or -errno. */
static int cpu_limits(const char *dir, bool v2, json_int_t shares, json_int_t quota, json_int_t period)
{
	char v[64];
	int ret = 0;
	if (v2) {
		if (quota > 0 || period > 0) {
			long long p = period > 0 ? (long long)period : 100000;
			if (quota > 0)
				snprintf(v, sizeof(v), "%lld %lld", (long long)quota, p);
			else
				snprintf(v, sizeof(v), "max %lld", p);
			ret = write_file(dir, "cpu.max", v);
		}
		if (ret == 0 && shares > 0) { /* the kernel's conversion of v1 shares to v2 weights */
			long long sh = shares < 2 ? 2 : (long long)shares;
			snprintf(v, sizeof(v), "%lld", 1 + (sh - 2) * 9999 / 262142);
			ret = write_file(dir, "cpu.weight", v);
		}
		return ret;
	}
	if (period > 0) {
		snprintf(v, sizeof(v), "%lld", (long long)period);
		ret = write_file(dir, "cpu.cfs_period_us", v);
	}
	if (ret == 0 && quota > 0) {
		snprintf(v, sizeof(v), "%lld", (long long)quota);
		ret = write_file(dir, "cpu.cfs_quota_us", v);
	}
	if (ret == 0 && shares > 0) {
		snprintf(v, sizeof(v), "%lld", (long long)shares);
		ret = write_file(dir, "cpu.shares", v);
	}
	return ret;
}

/*
 * The hierarchies to join: v2's one, or on a v1 (or hybrid) host each mounted hierarchy under
 * /sys/fs/cgroup — every controller, systemd's named one and the hybrid's unified one — as runc joins
 * them, so that an engine's statistics (docker stats: memory, pids, CPU time) and the host's
 * accounting see the sandbox. Up to @max, into @out (names under /sys/fs/cgroup, "" for v2's root).
 */
static int hierarchies(char (*out)[64], int max, bool *v2)
{
	struct statfs sf;
	*v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
	if (*v2) {
		out[0][0] = 0;
		return 1;
	}
	DIR *d = opendir("/sys/fs/cgroup");
	int n = 0;
	for (struct dirent *e; d && n < max && (e = readdir(d));) {
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", e->d_name);
		/* ("cpu,cpuacct"-style names are links to a mount listed once) */
		if (e->d_name[0] == '.' || strlen(e->d_name) >= 64 || lstat(path, &st) < 0 ||
		    !S_ISDIR(st.st_mode) || statfs(path, &sf) < 0)
			continue;
		if (sf.f_type != CGROUP_SUPER_MAGIC && sf.f_type != CGROUP2_SUPER_MAGIC)
			continue;
		snprintf(out[n++], 64, "%s", e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

/* linux.resources.cpu's cpus and mems into cpuset directory @dir (v1's cpuset controller, or v2's
 * with the cpuset controller on): 0 or -errno. */
static int cpuset_limits(const char *dir, const char *cpus, const char *mems)
{
	int ret = 0;
	if (cpus && cpus[0])
		ret = write_file(dir, "cpuset.cpus", cpus);
	if (ret == 0 && mems && mems[0])
		ret = write_file(dir, "cpuset.mems", mems);
	return ret;
}

/*
 * Under a memory limit, the container's memory cgroup gets a backstop: twice the limit (the memory
 * file, and the private tmpfs that share one budget of the limit: view.c) and 256 MiB for the sentry,
 * its stubs and what the kernel keeps for them (page tables, pipe and socket buffers). The sentry's own
 * limit is what programs meet (ENOMEM, ENOSPC); this one only ever ends a sandbox whose host-side
 * memory grew past any of that — the kernel's OOM killer inside the container's cgroup, never the
 * host's processes.
 */
#define BACKSTOP_EXTRA (256ull << 20)

static int memory_backstop(const char *dir, bool v2, uint64_t mem_limit)
{
	char v[32], path[PATH_MAX + 128];
	const char *file = v2 ? "memory.max" : "memory.limit_in_bytes";
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (access(path, F_OK) != 0)
		return 0; /* v2 without the memory controller here */
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(2 * mem_limit + BACKSTOP_EXTRA));
	return write_file(dir, file, v);
}

int oci_cgroup_enter(json_t *cpu, uint64_t mem_limit, const char *cgroups_path, const struct oci_state *st)
{
	json_int_t shares = json_integer_value(json_object_get(cpu, "shares"));
	json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
	json_int_t period = json_integer_value(json_object_get(cpu, "period"));
	const char *cpus = json_string_value(json_object_get(cpu, "cpus"));
	const char *mems = json_string_value(json_object_get(cpu, "mems"));
	bool sets = (cpus && cpus[0]) || (mems && mems[0]);
	bool limits = shares > 0 || quota > 0 || period > 0;
	if (!limits && !sets && (!cgroups_path || !cgroups_path[0]))
		return 0; /* nothing asked: no cgroup made */
	char rel[PATH_MAX], pid[32];
	relative_path(cgroups_path, st->id, rel, sizeof(rel));
	size_t rl = strlen(rel);
	if (strstr(rel, "/../") || strstr(rel, "/./") || strstr(rel, "//") ||
	    (rl >= 3 && strcmp(rel + rl - 3, "/..") == 0) || (rl >= 2 && strcmp(rel + rl - 2, "/.") == 0)) {
		oci_error("linux.cgroupsPath %s: not a plain path", cgroups_path);
		return -1;
	}
	char names[32][64], rec[PATH_MAX + 16];
	bool v2, cpu_done = false, cpuset_done = false;
	int n = hierarchies(names, 32, &v2);
	snprintf(pid, sizeof(pid), "%d", st->pid);
	snprintf(rec, sizeof(rec), "%s/cgroup", st->dir);
	FILE *f = fopen(rec, "we");
	for (int i = 0; i < n; i++) {
		char dir[PATH_MAX + 96];
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s%s%s", names[i][0] ? "/" : "", names[i], rel);
		bool cpu_here = v2 || strcmp(names[i], "cpu") == 0 || strncmp(names[i], "cpu,", 4) == 0;
		int made = mkdirs(dir), ret = made < 0 ? made : 0;
		bool cpuset_here = strcmp(names[i], "cpuset") == 0;
		if (ret == 0 && cpuset_here)
			cpuset_fill(dir);
		if (ret == 0 && cpu_here && limits)
			ret = cpu_limits(dir, v2, shares, quota, period);
		if (ret == 0 && sets && (cpuset_here || v2) && cpuset_limits(dir, cpus, mems) == 0)
			cpuset_done = true;
		if (ret == 0 && made == 1 && mem_limit && (v2 || strcmp(names[i], "memory") == 0) &&
		    memory_backstop(dir, v2, mem_limit) < 0)
			oci_warn("the host's memory cgroup %s takes no backstop limit", dir);
		if (ret == 0)
			ret = write_file(dir, "cgroup.procs", pid);
		if (ret < 0) {
			if (made == 1)
				rmdir(dir);
			continue; /* a host that keeps us out: only the CPU limits are missed (below) */
		}
		cpu_done |= cpu_here;
		/* One made here is the container's alone: delete ends what is left in it and removes it. One
		 * that was there (a cgroupsPath naming a shared group, even "/") is only joined: "=DIR". */
		if (f)
			fprintf(f, "%s%s\n", made == 1 ? "" : "=", dir);
	}
	if (f)
		fclose(f);
	if (limits && !cpu_done)
		oci_warn("linux.resources.cpu is not enforced: no writable cpu cgroup for %s", rel);
	if (sets && !cpuset_done)
		oci_warn("linux.resources.cpu.cpus/mems are not enforced: no writable cpuset cgroup for %s",
			 rel);
	return 0;
}

int oci_cgroup_update(json_t *cpu, const struct oci_state *st)
{
	json_int_t shares = json_integer_value(json_object_get(cpu, "shares"));
	json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
	json_int_t period = json_integer_value(json_object_get(cpu, "period"));
	if (shares <= 0 && quota <= 0 && period <= 0)
		return 0;
	char rec[PATH_MAX + 16], dir[PATH_MAX + 96], probe[PATH_MAX + 128];
	snprintf(rec, sizeof(rec), "%s/cgroup", st->dir);
	FILE *f = fopen(rec, "re");
	int ret = -ENOENT;
	while (f && ret == -ENOENT && fgets(dir, sizeof(dir), f)) {
		dir[strcspn(dir, "\n")] = 0;
		if (dir[0] == '=') /* joined, not made: its limits are set all the same, as at create */
			memmove(dir, dir + 1, strlen(dir));
		struct statfs sf;
		bool v2 = statfs(dir, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
		snprintf(probe, sizeof(probe), "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
		if (strncmp(dir, "/sys/fs/cgroup/", 15) == 0 && access(probe, F_OK) == 0)
			ret = cpu_limits(dir, v2, shares, quota, period);
	}
	if (f)
		fclose(f);
	return ret;
}

/* SIGKILL every process left in cgroup @dir: whether it had any. */
static bool kill_left(const char *dir)
{
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	bool any = false;
	for (int pid; f && fscanf(f, "%d", &pid) == 1;)
		if (pid > 1) {
			kill(pid, SIGKILL);
			any = true;
		}
	if (f)
		fclose(f);
	return any;
}

void oci_cgroup_remove(const struct oci_state *st)
{
	char rec[PATH_MAX + 16], dir[PATH_MAX + 96];
	snprintf(rec, sizeof(rec), "%s/cgroup", st->dir);
	FILE *f = fopen(rec, "re");
	while (f && fgets(dir, sizeof(dir), f)) {
		dir[strcspn(dir, "\n")] = 0;
		if (strncmp(dir, "/sys/fs/cgroup/", 15) != 0 || strstr(dir, "/../"))
			continue; /* (also "=DIR": joined, not made — never emptied nor removed) */
		/* Empty once the container's processes are gone; a stub or the sentry may still be on its way
		 * out (or, orphaned, wait for its reaper) when delete comes right after a kill: whatever is
		 * left there is the container's, ended as runc ends it, and the removal retried for up to 2 s. */
		for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 200; tries++) {
			kill_left(dir);
			usleep(10000);
		}
	}
	if (f)
		fclose(f);
}
