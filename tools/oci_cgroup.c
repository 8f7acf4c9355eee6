// SPDX-License-Identifier: Apache-2.0
// CPU limits through the host's cgroups (linux.resources.cpu: shares, quota, period), where the host
// lets the runtime make one: the container's process (and with it the sentry, its threads and every
// stub) goes into linux.cgroupsPath (or /cvisor/ID) before it starts. Memory and tasks are the
// sentry's own (sentry_opts.mem_limit, pids_limit: exact, by the sandbox's own counts); the CPU is
// the host's to share. cgroup v2 (cpu.max, cpu.weight) or v1's cpu controller (cpu.cfs_quota_us,
// cpu.cfs_period_us, cpu.shares). The directory made is kept in ROOT/ID/cgroup and removed at delete.
#include <errno.h>
#include <fcntl.h>
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
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
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

int oci_cgroup_enter(json_t *cpu, const char *cgroups_path, const struct oci_state *st)
{
	json_int_t shares = json_integer_value(json_object_get(cpu, "shares"));
	json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
	json_int_t period = json_integer_value(json_object_get(cpu, "period"));
	if (shares <= 0 && quota <= 0 && period <= 0)
		return 0;
	char rel[PATH_MAX], dir[PATH_MAX + 32], v[64], pid[32];
	relative_path(cgroups_path, st->id, rel, sizeof(rel));
	size_t rl = strlen(rel);
	if (strstr(rel, "/../") || strstr(rel, "/./") || strstr(rel, "//") ||
	    (rl >= 3 && strcmp(rel + rl - 3, "/..") == 0) || (rl >= 2 && strcmp(rel + rl - 2, "/.") == 0)) {
		oci_error("linux.cgroupsPath %s: not a plain path", cgroups_path);
		return -1;
	}
	struct statfs sf;
	bool v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
	snprintf(dir, sizeof(dir), "%s%s", v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu", rel);
	int ret = mkdirs(dir);
	if (ret == 0 && v2) {
		if (quota > 0 || period > 0) {
			snprintf(v, sizeof(v), quota > 0 ? "%lld %lld" : "max %lld", quota > 0 ? (long long)quota : (long long)(period > 0 ? period : 100000),
				 (long long)(period > 0 ? period : 100000));
			ret = write_file(dir, "cpu.max", v);
		}
		if (ret == 0 && shares > 0) { /* the kernel's conversion of v1 shares to v2 weights */
			snprintf(v, sizeof(v), "%lld", 1 + ((long long)(shares < 2 ? 2 : shares) - 2) * 9999 / 262142);
			ret = write_file(dir, "cpu.weight", v);
		}
	} else if (ret == 0) {
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
	}
	snprintf(pid, sizeof(pid), "%d", st->pid);
	if (ret == 0)
		ret = write_file(dir, "cgroup.procs", pid);
	if (ret < 0) {
		rmdir(dir);
		oci_warn("linux.resources.cpu is not enforced: the host's cgroup %s: %s", dir, strerror(-ret));
		return 0;
	}
	char rec[PATH_MAX + 16];
	snprintf(rec, sizeof(rec), "%s/cgroup", st->dir);
	FILE *f = fopen(rec, "we");
	if (f) {
		fprintf(f, "%s\n", dir);
		fclose(f);
	}
	return 0;
}

void oci_cgroup_remove(const struct oci_state *st)
{
	char rec[PATH_MAX + 16], dir[PATH_MAX + 32];
	snprintf(rec, sizeof(rec), "%s/cgroup", st->dir);
	FILE *f = fopen(rec, "re");
	if (f && fgets(dir, sizeof(dir), f)) {
		dir[strcspn(dir, "\n")] = 0;
		if (strncmp(dir, "/sys/fs/cgroup/", 15) == 0)
			rmdir(dir); /* empty once the container's processes are gone */
	}
	if (f)
		fclose(f);
}
