// SPDX-License-Identifier: Apache-2.0
// The sentry's own confinement, seen from the host while a program runs: every thread of the sentry
// (and of its keeper) and every stub process it made has no_new_privs and no capability at all; the sentry is in
// user, mount, pid, IPC, UTS, cgroup and (without --net) network namespaces of its own, runs as the
// host's nobody when started by root, and its root directory is the jail, not the host's.
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "sandbox_run.h"


/* Check one thread's /proc status file; false if it is gone. */
static bool thread_confined(const char *status_path)
{
	FILE *f = fopen(status_path, "re");
	if (!f)
		return false;
	char line[256];
	int seen = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		char key[32];
		if (sscanf(line, "%31[^:]:%llx", key, &v) != 2)
			continue;
		if (strcmp(key, "CapEff") == 0 || strcmp(key, "CapPrm") == 0 || strcmp(key, "CapBnd") == 0) {
			if (v)
				HARNESS_FAIL(0, "%s: %s %#llx", status_path, key, v);
			seen++;
		} else if (strcmp(key, "CapAmb") == 0 || strcmp(key, "CapInh") == 0) {
			EXPECT_EQ(v, 0);
			seen++;
		} else if (strcmp(key, "NoNewPrivs") == 0) {
			if (v != 1)
				HARNESS_FAIL(0, "%s: no_new_privs not set", status_path);
			seen++;
		}
	}
	fclose(f);
	EXPECT_EQ(seen, 6);
	return true;
}

/* Every thread of @pid and, through the children lists, of its descendants; how many were checked. */
static int check_tree(pid_t pid)
{
	char path[384];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, e->d_name);
		n += thread_confined(path);
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		FILE *c = fopen(path, "re");
		for (int child; c && fscanf(c, "%d", &child) == 1;)
			n += check_tree(child);
		if (c)
			fclose(c);
	}
	closedir(d);
	return n;
}

/* The only child of @pid (0 if none). */
static pid_t only_child(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *c = fopen(path, "re");
	int child = 0;
	if (c) {
		if (fscanf(c, "%d", &child) != 1)
			child = 0;
		fclose(c);
	}
	return child;
}

/* The "Uid:" line of /proc/@pid/status: the four ids (real, effective, saved, fs). */
static void host_uids(pid_t pid, unsigned ids[4])
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %u %u %u %u", &ids[0], &ids[1], &ids[2], &ids[3]) == 4)
			break;
	fclose(f);
}

PLATFORM_TEST(run_sentry_gives_up_privileges)
{
	char *const argv[] = { "sh", "-c", "echo ready; exec sleep 5", NULL };
	struct sentry_opts opts = { .platform = platform };
	int out;
	pid_t pid = start_boxed(&opts, "/bin/sh", argv, &out);
	/* Started by root, the sentry is our child's child; otherwise a keeper is between them (jail.c). */
	pid_t first = only_child(pid), sentry = getuid() == 0 ? first : first ? only_child(first) : 0;
	ASSERT_GT(sentry, 0);
	static const char *const own_ns[] = { "user", "mnt", "pid", "ipc", "uts", "cgroup", "net" }; /* net: without --net */
	for (size_t i = 0; i < sizeof(own_ns) / sizeof(own_ns[0]); i++) {
		char mine[64], its[64];
		struct stat a, b;
		snprintf(mine, sizeof(mine), "/proc/self/ns/%s", own_ns[i]);
		snprintf(its, sizeof(its), "/proc/%d/ns/%s", (int)sentry, own_ns[i]);
		if (stat(mine, &a) == 0 && stat(its, &b) == 0 && a.st_ino == b.st_ino)
			HARNESS_FAIL(0, "the sentry shares the host's %s namespace", own_ns[i]);
	}
	unsigned ids[4] = { 1, 1, 1, 1 };
	host_uids(sentry, ids);
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(ids[i], getuid() == 0 ? 65534u : getuid());
	/* Its root is the jail: the sandbox's tree under root/, nothing of the host's beside it. */
	char jail[64];
	struct stat st;
	snprintf(jail, sizeof(jail), "/proc/%d/root/root/etc", (int)sentry);
	if (getuid() == 0) { /* only root may look through another user's root link */
		EXPECT_EQ(stat(jail, &st), 0);
		snprintf(jail, sizeof(jail), "/proc/%d/root/etc", (int)sentry);
		EXPECT_NE(stat(jail, &st), 0);
	}
	int checked = check_tree(first);
	EXPECT_GE(checked, 2); /* the sentry's threads (and any keeper) and at least the program's stub */
	kill(pid, SIGTERM);
	struct outcome o;
	collect(out, &o);
	free(o.out);
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
}

/* cvisor run by an unprivileged user keeps working: no namespaces to make, no capabilities to drop. */
PLATFORM_TEST(run_as_unprivileged_user)
{
	if (getuid() != 0)
		SKIP("not root: cannot switch to an unprivileged user here");
	if (access("/bin/busybox", X_OK) != 0)
		SKIP("/bin/busybox not installed");
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		struct cv_platform_requirements req;
		if (cv_platform_requirements(platform, &req) == 0 && req.device && access(req.device, R_OK | W_OK) != 0)
			_exit(3); /* nobody may not open the backend's device (/dev/kvm is root's) */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); /* as an execve of cvisor by that user leaves it */
		char *const argv[] = { "busybox", "sh", "-c", "id -u; echo written > /tmp/f && cat /tmp/f; cat /etc/shadow", NULL };
		struct sentry_opts opts = { .platform = platform };
		struct outcome o;
		run_boxed(&opts, "/bin/busybox", argv, &o);
		static const char want[] = "65534\nwritten\n";
		bool ok = o.len >= sizeof(want) - 1 && memcmp(o.out, want, sizeof(want) - 1) == 0 &&
			  memmem(o.out, o.len, "Permission denied", 17) && WIFEXITED(o.status) && WEXITSTATUS(o.status) == 1;
		if (!ok)
			fprintf(stderr, "  as nobody (status %#x): %.400s\n", o.status, o.out);
		_exit(ok ? 0 : 1);
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		SKIP("nobody cannot open this platform's device");
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Started by root, the sandbox reads host files as nobody: a root-only file stays closed under --ro and
 * opens under --ro-as-root (an idmapped read-only mount), which still refuses writes. */
PLATFORM_TEST(run_ro_as_root_grants_root_only_files)
{
	if (getuid() != 0)
		SKIP("not root: nothing is closed to the sandbox that is open to the caller");
	if (access("/bin/busybox", X_OK) != 0)
		SKIP("/bin/busybox not installed");
	char dir[] = "/var/tmp/cvisor-asroot-XXXXXX", file[64];
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(file, sizeof(file), "%s/secret", dir);
	FILE *f = fopen(file, "we");
	ASSERT_TRUE(f != NULL);
	fputs("the secret\n", f);
	fclose(f);
	ASSERT_EQ(chmod(file, 0600), 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cat %s; echo more >> %s; touch %s/new", file, file, dir);
	char *const argv[] = { "busybox", "sh", "-c", cmd, NULL };
	for (int as_root = 0; as_root < 2; as_root++) {
		struct sentry_opts opts = { .platform = platform, .n_binds = 1 };
		opts.binds[0] = (struct sentry_bind){ dir, false, as_root != 0 };
		struct outcome o;
		run_boxed(&opts, "/bin/busybox", argv, &o);
		bool read_it = memmem(o.out, o.len, "the secret", 10) != NULL;
		if (read_it != (as_root != 0))
			HARNESS_FAIL(0, "%s: %.300s", as_root ? "--ro-as-root could not read" : "--ro read a root-only file", o.out);
		if (!memmem(o.out, o.len, as_root ? "Read-only file system" : "Permission denied", as_root ? 21 : 17))
			HARNESS_FAIL(0, "%s: a write was not refused: %.300s", as_root ? "--ro-as-root" : "--ro", o.out);
		free(o.out);
	}
	struct stat st;
	char extra[80];
	snprintf(extra, sizeof(extra), "%s/new", dir);
	EXPECT_NE(stat(extra, &st), 0);
	EXPECT_TRUE(stat(file, &st) == 0 && st.st_size == 11);
	unlink(file);
	rmdir(dir);
}
