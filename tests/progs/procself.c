// SPDX-License-Identifier: Apache-2.0
// Guest program: /proc/self as programs read it — status, stat, cmdline, comm, maps, exe, cwd, fd links
// — /proc/cpuinfo and /proc/self/auxv's AT_HWCAP (CPUID leaf 1's EDX). Prints relations to what the
// program knows about itself, so the output is the same natively and in the sandbox (where /proc
// describes the sandboxed program, never the sentry).
#define _GNU_SOURCE
#include <cpuid.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[1 << 16];

static ssize_t slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = 0, r;
	while ((r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	return n;
}

/* The value after "\nNAME:\t" in buf (the status just read), or NULL. */
static const char *field(const char *name)
{
	static char key[64];
	snprintf(key, sizeof(key), "\n%s:\t", name);
	const char *at = strstr(buf, key);
	return at ? at + strlen(key) : NULL;
}

/* status's credentials, no_new_privs and CPUs against what the syscalls say (both must agree). */
static void status_agrees(void)
{
	const char *v = field("NSpid");
	printf("status NSpid is our pid: %d\n", v && atoi(v) == getpid());
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int capget_ok = syscall(SYS_capget, &hdr, d) == 0;
	unsigned long long eff = ((unsigned long long)d[1].effective << 32) | d[0].effective;
	unsigned long long prm = ((unsigned long long)d[1].permitted << 32) | d[0].permitted;
	v = field("CapEff");
	printf("status CapEff is capget's: %d\n", capget_ok && v && strtoull(v, NULL, 16) == eff);
	v = field("CapPrm");
	printf("status CapPrm is capget's: %d\n", capget_ok && v && strtoull(v, NULL, 16) == prm);
	printf("status has CapInh, CapBnd, CapAmb, Seccomp: %d\n",
	       field("CapInh") && field("CapBnd") && field("CapAmb") && field("Seccomp"));
	v = field("NoNewPrivs");
	printf("status NoNewPrivs is prctl's: %d\n", v && atoi(v) == prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	cpu_set_t set;
	char list[256] = "";
	size_t len = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int i = 0; i < CPU_SETSIZE && len < sizeof(list) - 16; i++) {
			if (!CPU_ISSET(i, &set))
				continue;
			int j = i;
			while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, &set))
				j++;
			const char *sep = len ? "," : "";
			if (j > i)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d-%d", sep, i, j);
			else
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", sep, i);
			i = j;
		}
	v = field("Cpus_allowed_list");
	printf("status Cpus_allowed_list is sched_getaffinity's: %d\n",
	       v && len && strncmp(v, list, len) == 0 && v[len] == '\n' && field("Cpus_allowed"));
}

int main(int argc, char **argv)
{
	(void)argc;
	char want[64];
	slurp("/proc/self/status");
	snprintf(want, sizeof(want), "\nPid:\t%d\n", getpid());
	printf("status has our pid: %d\n", strstr(buf, want) != NULL);
	snprintf(want, sizeof(want), "\nPPid:\t%d\n", getppid());
	printf("status has our parent: %d\n", strstr(buf, want) != NULL);
	printf("status names us: %d\n", strncmp(buf, "Name:\tprocself\n", 15) == 0);
	status_agrees();
	slurp("/proc/self/stat");
	printf("stat starts with pid and comm: %d\n", atoi(buf) == getpid() && strstr(buf, " (procself) ") != NULL);
	ssize_t n = slurp("/proc/self/cmdline");
	printf("cmdline is argv: %d\n", n > 0 && strcmp(buf, argv[0]) == 0 && strcmp(buf + strlen(buf) + 1, "x y") == 0);
	slurp("/proc/self/comm");
	printf("comm: %s", buf);
	slurp("/proc/self/maps");
	char self_addr[32];
	unsigned long code = (unsigned long)&main, stack = (unsigned long)&n, lo, hi;
	int has_code = 0, has_stack = 0;
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
		char perms[5];
		if (sscanf(l, "%lx-%lx %4s", &lo, &hi, perms) == 3) {
			has_code |= code >= lo && code < hi && perms[2] == 'x';
			has_stack |= stack >= lo && stack < hi && perms[1] == 'w';
		}
		if (!strchr(l, '\n'))
			break;
	}
	(void)self_addr;
	printf("maps holds our code and stack: %d %d\n", has_code, has_stack);
	char link[PATH_MAX], real[PATH_MAX];
	ssize_t ln = readlink("/proc/self/exe", link, sizeof(link) - 1);
	link[ln > 0 ? ln : 0] = 0;
	printf("exe link names us: %d\n", ln > 0 && strcmp(link + strlen(link) - 8, "procself") == 0);
	ln = readlink("/proc/self/cwd", link, sizeof(link) - 1);
	link[ln > 0 ? ln : 0] = 0;
	printf("cwd link is getcwd: %d\n", ln > 0 && getcwd(real, sizeof(real)) && strcmp(link, real) == 0);
	int fd = open("/etc/hostname", O_RDONLY);
	snprintf(want, sizeof(want), "/proc/self/fd/%d", fd);
	ln = readlink(want, link, sizeof(link) - 1);
	link[ln > 0 ? ln : 0] = 0;
	printf("fd link: %s\n", link);
	int p[2];
	if (pipe(p) == 0) {
		snprintf(want, sizeof(want), "/proc/self/fd/%d", p[0]);
		ln = readlink(want, link, sizeof(link) - 1);
		printf("pipe link: %d\n", ln > 5 && strncmp(link, "pipe:", 5) == 0);
	}
	int listed = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		listed += strcmp(e->d_name, "2") == 0;
	if (d)
		closedir(d);
	printf("fd 2 listed in /proc/self/fd: %d\n", listed);
	struct stat sst;
	printf("/proc/self is a directory: %d\n", stat("/proc/self", &sst) == 0 && S_ISDIR(sst.st_mode));
	printf("/proc/self/exe is a link: %d\n", lstat("/proc/self/exe", &sst) == 0 && S_ISLNK(sst.st_mode));
	slurp("/proc/cpuinfo");
	printf("cpuinfo: %d\n", strstr(buf, "processor") != NULL);
	n = slurp("/proc/self/auxv");
	uint64_t hwcap = 0, kv[2];
	for (ssize_t at = 0; at + 16 <= n; at += 16) {
		memcpy(kv, buf + at, sizeof(kv));
		if (kv[0] == 16) /* AT_HWCAP */
			hwcap = kv[1];
	}
	unsigned eax, ebx, ecx, edx;
	__cpuid(1, eax, ebx, ecx, edx);
	/* The kernel's: CPUID's bits less the ones it turned off (MTRR in some VMs), the same inside. */
	printf("AT_HWCAP %#llx, within CPUID leaf 1's EDX: %d\n", (unsigned long long)hwcap,
	       hwcap != 0 && (hwcap & ~(uint64_t)edx) == 0 && (eax | ebx | ecx) != 0);
	snprintf(want, sizeof(want), "/proc/%d/status", getpid());
	slurp(want);
	printf("/proc/PID is self: %d\n", strstr(buf, "\nPid:") != NULL);
	return 0;
}
