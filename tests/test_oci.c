// SPDX-License-Identifier: Apache-2.0
// The OCI runtime's verbs (tools/oci_*.c) on a bundle made here from busybox-static: the built cvisor
// binary driven as an engine drives it, this test process being the subreaper that inherits the
// container's process (as conmon is) and takes its exit status.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "sandbox_run.h"
#include "../sentry/control.h"

extern char **environ;

#define CVISOR BUILD_DIR "/cvisor"

/* Text equality, printing both sides when they differ. */
#define EXPECT_TEXT(got, want)                                                                         \
	do {                                                                                           \
		if (strcmp((got), (want)) != 0)                                                        \
			HARNESS_FAIL(0, "got \"%s\", want \"%s\"", (got), (want));                     \
	} while (0)

struct oci_env {
	char dir[64];       /* everything of the test: bundle/, state/, vol/, out */
	char bundle[128], root[128], rootfs[160], state[128], vol[128], out[128];
};

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	ASSERT_TRUE(f != NULL);
	fputs(text, f);
	ASSERT_EQ(fclose(f), 0);
}

static char *read_text(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strdup("");
	struct outcome o;
	collect(fd, &o);
	return o.out;
}

/* A busybox-static rootfs (bin/ with a few applets, etc/motd "image") in a fresh directory. */
static void oci_setup(struct oci_env *e)
{
	if (access("/bin/busybox", X_OK) != 0)
		SKIP("no /bin/busybox (busybox-static)");
	snprintf(e->dir, sizeof(e->dir), "/var/tmp/cvisor-oci-XXXXXX");
	ASSERT_TRUE(mkdtemp(e->dir) != NULL);
	chmod(e->dir, 0755);
	snprintf(e->bundle, sizeof(e->bundle), "%s/bundle", e->dir);
	snprintf(e->rootfs, sizeof(e->rootfs), "%s/rootfs", e->bundle);
	snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
	snprintf(e->vol, sizeof(e->vol), "%s/vol", e->dir);
	snprintf(e->out, sizeof(e->out), "%s/out", e->dir);
	char p[256];
	ASSERT_EQ(mkdir(e->bundle, 0755), 0);
	ASSERT_EQ(mkdir(e->rootfs, 0755), 0);
	ASSERT_EQ(mkdir(e->vol, 0755), 0);
	snprintf(p, sizeof(p), "%s/bin", e->rootfs);
	ASSERT_EQ(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc", e->rootfs);
	ASSERT_EQ(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/bin/busybox", e->rootfs);
	copy_file("/bin/busybox", p, 0755);
	static const char *const applets[] = { "sh", "cat", "echo", "id", "sleep", "hostname", "pwd", "ls", "kill" };
	for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
		snprintf(p, sizeof(p), "%s/bin/%s", e->rootfs, applets[i]);
		ASSERT_EQ(symlink("busybox", p), 0);
	}
	snprintf(p, sizeof(p), "%s/etc/motd", e->rootfs);
	write_text(p, "image\n");
	snprintf(p, sizeof(p), "%s/v", e->vol);
	write_text(p, "volume\n");
	/* The container's process is orphaned when create exits: we take it, as conmon does. */
	ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

static void oci_cleanup(struct oci_env *e)
{
	remove_tree(e->dir);
}

/* config.json: process.args @args (a JSON array), extra @mounts (JSON objects, comma-separated) and
 * @more top-level members ("" for none). */
static void oci_config(struct oci_env *e, const char *args, const char *mounts, const char *user, const char *more)
{
	char path[256], *text;
	snprintf(path, sizeof(path), "%s/config.json", e->bundle);
	ASSERT_TRUE(asprintf(&text,
			     "{ \"ociVersion\": \"1.0.2\",\n"
			     "  \"process\": { \"args\": %s, \"env\": [\"PATH=/bin\", \"GREETING=hello\"], \"cwd\": \"/etc\",\n"
			     "               \"user\": %s, \"noNewPrivileges\": true,\n"
			     "               \"rlimits\": [ { \"type\": \"RLIMIT_NOFILE\", \"hard\": 512, \"soft\": 256 } ] },\n"
			     "  \"root\": { \"path\": \"rootfs\" },\n"
			     "  \"hostname\": \"boxname\",\n"
			     "  \"mounts\": [ { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
			     "              { \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\",\n"
			     "                \"options\": [\"newinstance\", \"ptmxmode=0666\"] } %s%s ],\n"
			     "  \"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"mount\" } ] }\n"
			     "  %s%s }\n",
			     args, user ? user : "{ \"uid\": 0, \"gid\": 0 }", mounts[0] ? "," : "", mounts, more[0] ? "," : "",
			     more) > 0);
	write_text(path, text);
	free(text);
}

/* Run cvisor --root STATE ARGS...: its exit status; stdout and stderr into *out (may be NULL). The
 * container's output goes to e->out (create's stdout: the container keeps it open). */
static int cvisor(struct oci_env *e, char **out, const char *const *args)
{
	char *argv[24] = { "cvisor", "--root", e->state };
	int n = 3;
	for (; args[n - 3]; n++)
		argv[n] = (char *)args[n - 3];
	argv[n] = NULL;
	bool create = strcmp(args[0], "create") == 0;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	struct stat before = { 0 };
	stat(e->out, &before);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (create)
		posix_spawn_file_actions_addopen(&fa, 1, e->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	else
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, create ? 1 : p[1], 2);
	pid_t pid;
	ASSERT_EQ(posix_spawn(&pid, CVISOR, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	struct outcome o;
	collect(p[0], &o);
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (create) { /* what create itself said: the file's new part */
		free(o.out);
		char *all = read_text(e->out);
		o.out = strdup(all + (strlen(all) >= (size_t)before.st_size ? before.st_size : 0));
		free(all);
	}
	if (out)
		*out = o.out;
	else
		free(o.out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CV(e, out, ...) cvisor(e, out, (const char *const[]){ __VA_ARGS__, NULL })

static int read_pid(const char *file)
{
	char *t = read_text(file);
	int pid = atoi(t);
	free(t);
	return pid;
}

/* The container's status as our child: exit code, or 128+N. */
static int reap(int pid)
{
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool state_says(struct oci_env *e, const char *id, const char *status)
{
	char *out, want[64];
	int ret = CV(e, &out, "state", id);
	snprintf(want, sizeof(want), "\"status\": \"%s\"", status);
	bool ok = ret == 0 && strstr(out, want);
	if (!ok)
		fprintf(stderr, "  state %s: %d %s\n", id, ret, out);
	free(out);
	return ok;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* delete @id: nothing of it is left under --root; then the test's files go. */
static void oci_finish(struct oci_env *e, const char *id)
{
	ASSERT_EQ(CV(e, NULL, "delete", id), 0);
	EXPECT_EQ(count_entries(e->state), 0);
	oci_cleanup(e);
}

/* create, state, start, the exit status through the subreaper, delete: the runc sequence conmon uses. */
TEST_TIMEOUT(run_oci_lifecycle, 60)
{
	struct oci_env e;
	oci_setup(&e);
	oci_config(&e, "[\"sh\", \"-c\", \"echo $GREETING from $(pwd) on $(hostname); ulimit -n; exit 3\"]", "", NULL, "");
	char pidf[160];
	snprintf(pidf, sizeof(pidf), "%s/pid", e.dir);
	ASSERT_EQ(CV(&e, NULL, "create", "--bundle", e.bundle, "--pid-file", pidf, "c1"), 0);
	int pid = read_pid(pidf);
	ASSERT_GT(pid, 0);
	EXPECT_TRUE(state_says(&e, "c1", "created"));
	char *out;
	ASSERT_EQ(CV(&e, &out, "state", "c1"), 0);
	char want[64];
	snprintf(want, sizeof(want), "\"pid\": %d", pid);
	EXPECT_TRUE(strstr(out, want) != NULL);
	free(out);
	ASSERT_EQ(CV(&e, NULL, "start", "c1"), 0);
	EXPECT_EQ(reap(pid), 3);
	EXPECT_TRUE(state_says(&e, "c1", "stopped"));
	out = read_text(e.out);
	EXPECT_TEXT(out, "hello from /etc on boxname\n256\n");
	free(out);
	EXPECT_EQ(CV(&e, NULL, "start", "c1"), 1); /* stopped: no second start */
	oci_finish(&e, "c1");
}

/* Binds at other destinations (a file over the image's, a directory the image lacks), read-only and
 * writable; a writable root whose writes go to the container's upper directory, never the image. */
TEST_TIMEOUT(run_oci_mounts_and_writable_root, 60)
{
	struct oci_env e;
	oci_setup(&e);
	char mounts[1024], hosts[160], pidf[160];
	snprintf(hosts, sizeof(hosts), "%s/hosts", e.dir);
	write_text(hosts, "127.0.0.1 from-the-host\n");
	snprintf(mounts, sizeof(mounts),
		 "{ \"destination\": \"/etc/motd\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [\"rbind\", \"ro\"] },"
		 "{ \"destination\": \"/data/rw\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [\"rbind\", \"rw\"] },"
		 "{ \"destination\": \"/data/ro\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [\"bind\", \"ro\"] },"
		 "{ \"destination\": \"/scratch\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"size=1m\"] }",
		 hosts, e.vol, e.vol);
	oci_config(&e,
		   "[\"sh\", \"-c\", \"cat /etc/motd; echo x > /etc/motd || echo motd-ro; cat /data/rw/v; echo w > /data/rw/w;"
		   " echo y > /data/ro/y || echo vol-ro; echo new > /etc/new; cat /etc/new; echo s > /scratch/s; cat /scratch/s;"
		   " echo t > /tmp/t; cat /tmp/t; id\"]",
		   mounts, "{ \"uid\": 0, \"gid\": 0, \"additionalGids\": [10, 20] }", "");
	snprintf(pidf, sizeof(pidf), "%s/pid", e.dir);
	ASSERT_EQ(CV(&e, NULL, "create", "--bundle", e.bundle, "--pid-file", pidf, "c2"), 0);
	int pid = read_pid(pidf);
	ASSERT_EQ(CV(&e, NULL, "start", "c2"), 0);
	EXPECT_EQ(reap(pid), 0);
	char *out = read_text(e.out);
	EXPECT_TRUE(strstr(out, "127.0.0.1 from-the-host\n") == out);
	EXPECT_TRUE(strstr(out, "motd-ro\n") != NULL);
	EXPECT_TRUE(strstr(out, "volume\n") != NULL);
	EXPECT_TRUE(strstr(out, "vol-ro\n") != NULL);
	EXPECT_TRUE(strstr(out, "new\ns\nt\nuid=0 gid=0 groups=10,20\n") != NULL);
	if (harness_failures)
		fprintf(stderr, "  output:\n%s", out);
	free(out);
	/* The writable volume got the file; the read-only one and the image did not. */
	char p[256];
	snprintf(p, sizeof(p), "%s/w", e.vol);
	out = read_text(p);
	EXPECT_TEXT(out, "w\n");
	free(out);
	snprintf(p, sizeof(p), "%s/y", e.vol);
	EXPECT_NE(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/etc/new", e.rootfs);
	EXPECT_NE(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/data", e.rootfs); /* mount points were made in the upper directory */
	EXPECT_NE(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/etc/motd", e.rootfs);
	out = read_text(p);
	EXPECT_TEXT(out, "image\n");
	free(out);
	snprintf(p, sizeof(p), "%s/c2/overlay/upper/etc/new", e.state);
	EXPECT_EQ(access(p, F_OK), 0); /* the copy-up is the container's, until delete */
	oci_finish(&e, "c2");
}

/* The first process is the sandbox's init: signals with the default action from inside are ignored
 * (SIGKILL included); a handler it installed runs. Sent from outside by kill, SIGKILL ends it. (Not
 * SIGINT from inside: busybox sh -c catches it itself and exits 130, natively as well.) */
TEST_TIMEOUT(run_oci_init_signals, 60)
{
	struct oci_env e;
	oci_setup(&e);
	char mounts[256], fifo[160];
	snprintf(fifo, sizeof(fifo), "%s/ready", e.vol);
	ASSERT_EQ(mkfifo(fifo, 0666), 0);
	snprintf(mounts, sizeof(mounts), "{ \"destination\": \"/vol\", \"type\": \"bind\", \"source\": \"%s\" }", e.vol);
	oci_config(&e,
		   "[\"sh\", \"-c\", \"kill -TERM $$; kill -HUP $$; kill -USR2 $$; kill -KILL $$; echo survived;"
		   " trap 'echo trapped' USR1; kill -USR1 $$; echo ready > /vol/ready; exec sleep 1000\"]",
		   mounts, NULL, "");
	char pidf[160];
	snprintf(pidf, sizeof(pidf), "%s/pid", e.dir);
	ASSERT_EQ(CV(&e, NULL, "create", "--bundle", e.bundle, "--pid-file", pidf, "c3"), 0);
	int pid = read_pid(pidf);
	ASSERT_EQ(CV(&e, NULL, "start", "c3"), 0);
	char *ready = read_text(fifo); /* blocks until the program is past its own kills */
	EXPECT_TEXT(ready, "ready\n");
	free(ready);
	/* "ready" comes before the exec of sleep: wait for it (a stop before the exec is sh's, and the
	 * check below names sleep). */
	for (bool slept = false; !slept;) {
		char *ps;
		EXPECT_EQ(CV(&e, &ps, "ps", "c3"), 0);
		slept = strstr(ps, "sleep 1000\n") != NULL;
		free(ps);
	}
	/* SIGSTOP from outside stops pid 1 (the control channel, si_pid 0), SIGCONT lets it go on; the
	 * container's process itself goes on waiting (its monitor must see it end, not stop). */
	EXPECT_EQ(CV(&e, NULL, "kill", "c3", "STOP"), 0);
	for (bool stopped = false; !stopped;) { /* the signal is queued: the stop follows (the timeout bounds it) */
		char *ps;
		EXPECT_EQ(CV(&e, &ps, "ps", "c3"), 0);
		stopped = strstr(ps, "\n1       0       0       T    sleep 1000\n") != NULL;
		free(ps);
	}
	EXPECT_EQ(CV(&e, NULL, "kill", "c3", "CONT"), 0);
	EXPECT_TRUE(state_says(&e, "c3", "running"));
	ASSERT_EQ(CV(&e, NULL, "kill", "c3", "KILL"), 0);
	EXPECT_EQ(reap(pid), 128 + SIGKILL);
	char *out = read_text(e.out);
	EXPECT_TRUE(strncmp(out, "survived\ntrapped\n", 17) == 0);
	if (harness_failures)
		fprintf(stderr, "  output:\n%s", out);
	free(out);
	EXPECT_EQ(CV(&e, NULL, "kill", "c3", "KILL"), 1); /* stopped */
	oci_finish(&e, "c3");
}

/* One line, a non-zero status and nothing left behind for each mistake an engine or a user can make. */
static void expect_error(const char *what, int ret, char *out, const char *needle)
{
	EXPECT_NE(ret, 0);
	size_t lines = 0;
	for (char *q = out; *q; q++)
		lines += *q == '\n';
	if (ret == 0 || lines != 1 || !strstr(out, needle))
		HARNESS_FAIL(0, "%s: status %d, want one line with \"%s\", got: %s", what, ret, needle, out);
	free(out);
}

#define EXPECT_ERR(what, needle, ...)                                                                  \
	do {                                                                                           \
		char *o_;                                                                              \
		int r_ = CV(&e, &o_, __VA_ARGS__);                                                     \
		expect_error(what, r_, o_, needle);                                                    \
	} while (0)

TEST_TIMEOUT(run_oci_bad_input, 90)
{
	struct oci_env e;
	oci_setup(&e);
	char cfg[256];
	int tmp0 = count_entries("/tmp");
	snprintf(cfg, sizeof(cfg), "%s/config.json", e.bundle);
	EXPECT_ERR("missing config.json", "config.json: No such file", "create", "-b", e.bundle, "x");
	write_text(cfg, "{ \"ociVersion\": \"1.0.2\", \"process\": {");
	EXPECT_ERR("malformed config.json", "config.json: line", "create", "-b", e.bundle, "x");
	oci_config(&e, "[\"sh\"]", "", NULL, "\"solaris\": {}");
	EXPECT_ERR("unsupported field", "solaris is not supported", "create", "-b", e.bundle, "x");
	oci_config(&e, "[\"sh\"]", "{ \"destination\": \"/x\", \"type\": \"nfs\", \"source\": \"h:/x\" }", NULL, "");
	EXPECT_ERR("unsupported mount", "type nfs is not supported", "create", "-b", e.bundle, "x");
	oci_config(&e, "[\"no-such-program\"]", "", NULL, "");
	EXPECT_ERR("missing program", "executable file not found", "create", "-b", e.bundle, "x");
	EXPECT_ERR("bad id", "invalid container id", "create", "-b", e.bundle, "../x");
	EXPECT_EQ(count_entries(e.state), 0);
	EXPECT_ERR("unknown container", "nope does not exist", "state", "nope");
	EXPECT_ERR("unknown container", "nope does not exist", "start", "nope");
	EXPECT_ERR("unknown container", "nope does not exist", "kill", "nope", "KILL");
	EXPECT_ERR("unknown container", "nope does not exist", "delete", "nope");
	oci_config(&e, "[\"sleep\", \"1000\"]", "", NULL, "");
	char pidf[160];
	snprintf(pidf, sizeof(pidf), "%s/pid", e.dir);
	ASSERT_EQ(CV(&e, NULL, "create", "-b", e.bundle, "--pid-file", pidf, "c4"), 0);
	int pid = read_pid(pidf);
	EXPECT_ERR("double create", "c4 already exists", "create", "-b", e.bundle, "c4");
	EXPECT_TRUE(state_says(&e, "c4", "created")); /* the failed create left the first one alone */
	ASSERT_EQ(CV(&e, NULL, "start", "c4"), 0);
	EXPECT_ERR("double start", "that is running", "start", "c4");
	EXPECT_ERR("delete while running", "not stopped: running", "delete", "c4");
	EXPECT_TRUE(state_says(&e, "c4", "running"));
	ASSERT_EQ(CV(&e, NULL, "delete", "--force", "c4"), 0);
	EXPECT_EQ(reap(pid), 128 + SIGKILL);
	EXPECT_EQ(count_entries(e.state), 0);
	/* A created container that is never started is deleted (killed) without --force, as runc does. */
	ASSERT_EQ(CV(&e, NULL, "create", "-b", e.bundle, "--pid-file", pidf, "c5"), 0);
	pid = read_pid(pidf);
	ASSERT_EQ(CV(&e, NULL, "delete", "c5"), 0);
	EXPECT_EQ(reap(pid), 128 + SIGKILL);
	EXPECT_EQ(count_entries(e.state), 0);
	EXPECT_EQ(count_entries("/tmp"), tmp0);
	oci_cleanup(&e);
}

/* config.json without its standard "linux" member (@std): @more then gives its own. */
static void replace_linux(struct oci_env *e, const char *std)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/config.json", e->bundle);
	char *text = read_text(path), *at = strstr(text, std);
	ASSERT_TRUE(at != NULL);
	memmove(at, at + strlen(std), strlen(at + strlen(std)) + 1);
	char *comma = strstr(at, ",");
	if (comma)
		*comma = ' '; /* the one that followed it */
	write_text(path, text);
	free(text);
}

/* What Docker and containerd hand over: the root as an overlayfs mount of the engine's (which cannot
 * be idmapped: the sentry stacks its layers under its own upper directory), lifecycle hooks with the
 * state on stdin (prestart at create, poststart after start, poststop at delete; a failing prestart
 * fails create and leaves nothing), and the network sysctls engines set. */
TEST_TIMEOUT(run_oci_engine_root_hooks_sysctls, 90)
{
	if (getuid() != 0)
		SKIP("mounting the engine's overlay root needs root");
	static const char std_linux[] =
		"\"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"mount\" } ] }";
	struct oci_env e;
	oci_setup(&e);
	char lower[160], eup[160], ework[160], p[256], mounts[256];
	snprintf(lower, sizeof(lower), "%s/lower", e.dir);
	snprintf(eup, sizeof(eup), "%s/engine-upper", e.dir);
	snprintf(ework, sizeof(ework), "%s/engine-work", e.dir);
	ASSERT_EQ(rename(e.rootfs, lower), 0);
	ASSERT_EQ(mkdir(e.rootfs, 0755), 0);
	ASSERT_EQ(mkdir(eup, 0755), 0);
	ASSERT_EQ(mkdir(ework, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc", eup);
	ASSERT_EQ(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc/engine", eup);
	write_text(p, "written by the engine\n");
	char opts[800];
	snprintf(opts, sizeof(opts), "mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s", lower, eup, ework,
		 e.rootfs);
	if (system(opts) != 0) {
		oci_cleanup(&e);
		SKIP("cannot mount an overlay here");
	}
	char hooks[1600];
	snprintf(mounts, sizeof(mounts), "{ \"destination\": \"/vol\", \"type\": \"bind\", \"source\": \"%s\" }", e.vol);
	snprintf(hooks, sizeof(hooks),
		 "\"hooks\": { \"prestart\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", "
		 "\"cat > %s/prestart.json; "
		 "readlink /proc/$(awk -F'pid.:' '{ print $2 + 0 }' %s/prestart.json)/ns/net "
		 "> %s/prestart.netns\"] } ],"
		 " \"poststart\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %s/poststart.json\"], \"timeout\": 10 } ],"
		 " \"poststop\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %s/poststop.json; exit 3\"] } ] },"
		 " \"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"mount\" } ],"
		 " \"sysctl\": { \"net.ipv4.ip_unprivileged_port_start\": \"0\", \"net.ipv4.ping_group_range\": \"0 2147483647\" } }",
		 e.dir, e.dir, e.dir, e.dir, e.dir);
	oci_config(&e, "[\"sh\", \"-c\", \"cat /etc/engine /etc/motd; echo new > /etc/new; cat /etc/new; echo done > /vol/done\"]",
		   mounts, NULL, hooks);
	replace_linux(&e, std_linux);
	char pidf[160];
	snprintf(pidf, sizeof(pidf), "%s/pid", e.dir);
	char *cmsg;
	int cr = CV(&e, &cmsg, "create", "--bundle", e.bundle, "--pid-file", pidf, "c6");
	if (cr != 0)
		fprintf(stderr, "  create: %s", cmsg);
	free(cmsg);
	ASSERT_EQ(cr, 0);
	int pid = read_pid(pidf);
	snprintf(p, sizeof(p), "%s/prestart.json", e.dir);
	char *state = read_text(p), want[64];
	snprintf(want, sizeof(want), "\"pid\":%d", pid);
	EXPECT_TRUE(strstr(state, want) != NULL && strstr(state, "\"id\":\"c6\"") != NULL);
	free(state);
	/* The hook saw the container's own network namespace through its pid, not the host's: Docker's
	 * hook sets up that namespace (interfaces, disable_ipv6), which must never be ours. */
	char host_net[64] = "", *hook_net;
	ASSERT_TRUE(readlink("/proc/self/ns/net", host_net, sizeof(host_net) - 1) > 0);
	snprintf(p, sizeof(p), "%s/prestart.netns", e.dir);
	hook_net = read_text(p);
	EXPECT_TRUE(strncmp(hook_net, "net:[", 5) == 0);
	EXPECT_TRUE(strncmp(hook_net, host_net, strlen(host_net)) != 0);
	free(hook_net);
	ASSERT_EQ(CV(&e, NULL, "start", "c6"), 0);
	EXPECT_EQ(reap(pid), 0);
	char *out = read_text(e.out);
	EXPECT_TEXT(out, "written by the engine\nimage\nnew\n");
	free(out);
	snprintf(p, sizeof(p), "%s/poststart.json", e.dir);
	state = read_text(p);
	EXPECT_TRUE(strstr(state, "\"status\":\"running\"") != NULL);
	free(state);
	/* Neither the engine's layers nor the image got the container's write: it is beside the engine's
	 * upper directory (on the engine's storage, not under --root), and gone at delete. */
	snprintf(p, sizeof(p), "%s/etc/new", eup);
	EXPECT_NE(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/etc/new", lower);
	EXPECT_NE(access(p, F_OK), 0);
	struct statfs sf;
	long fs = statfs(e.dir, &sf) == 0 ? (long)sf.f_type : 0;
	bool beside = fs == EXT4_SUPER_MAGIC || fs == XFS_SUPER_MAGIC || fs == BTRFS_SUPER_MAGIC;
	snprintf(p, sizeof(p), "%s/cvisor-c6/upper/etc/new", e.dir);
	EXPECT_EQ(access(p, F_OK) == 0, beside);
	ASSERT_EQ(CV(&e, NULL, "delete", "c6"), 0); /* a failing poststop only warns */
	snprintf(p, sizeof(p), "%s/cvisor-c6", e.dir);
	EXPECT_NE(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/poststop.json", e.dir);
	state = read_text(p);
	EXPECT_TRUE(strstr(state, "\"status\":\"stopped\"") != NULL);
	free(state);
	EXPECT_EQ(count_entries(e.state), 0);

	/* A prestart hook that fails: create fails, its process is gone, nothing is left. */
	snprintf(hooks, sizeof(hooks), "\"hooks\": { \"prestart\": [ { \"path\": \"/bin/false\" } ] }");
	oci_config(&e, "[\"sleep\", \"1000\"]", "", NULL, hooks);
	char *msg;
	EXPECT_EQ(CV(&e, &msg, "create", "--bundle", e.bundle, "c7"), 1);
	EXPECT_TRUE(strstr(msg, "prestart hook #0 (/bin/false) failed: exit status 1") != NULL);
	free(msg);
	EXPECT_EQ(count_entries(e.state), 0);
	EXPECT_EQ(waitpid(-1, NULL, WNOHANG), -1); /* no child left: it was killed and reaped */
	snprintf(hooks, sizeof(hooks), "\"hooks\": { \"startContainer\": [ { \"path\": \"/bin/true\" } ] }");
	oci_config(&e, "[\"sh\"]", "", NULL, hooks);
	EXPECT_ERR("startContainer hook", "hooks.startContainer: not supported", "create", "-b", e.bundle, "x");
	oci_config(&e, "[\"sh\"]", "", NULL, "\"linux\": { \"sysctl\": { \"kernel.shmmax\": \"1\" } }");
	replace_linux(&e, std_linux);
	EXPECT_ERR("a host sysctl", "linux.sysctl: kernel.shmmax is not supported", "create", "-b", e.bundle, "x");
	EXPECT_EQ(count_entries(e.state), 0);
	snprintf(opts, sizeof(opts), "umount %s", e.rootfs);
	EXPECT_EQ(system(opts), 0);
	oci_cleanup(&e);
}

/* Create container @id, `sleep 1000` in linux.cgroupsPath @cg (not started): its process's pid. */
static int create_sleeper_in(struct oci_env *e, const char *cg, const char *id, const char *pidf)
{
	char more[512];
	snprintf(more, sizeof(more),
		 "\"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, "
		 "{ \"type\": \"mount\" } ], \"cgroupsPath\": \"%s\" }", cg);
	oci_config(e, "[\"sleep\", \"1000\"]", "", NULL, more);
	replace_linux(e, "\"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, "
			 "{ \"type\": \"mount\" } ] }");
	const char *const args[] = { "create", "--bundle", e->bundle, "--pid-file", pidf, id, NULL };
	ASSERT_EQ(cvisor(e, NULL, args), 0);
	return read_pid(pidf);
}

/* linux.resources: cpu through the host's cgroup (the container's process, and so the sentry and its
 * stubs, in linux.cgroupsPath with the quota; removed at delete), pids by the sentry's own count. */
TEST_TIMEOUT(run_oci_resources, 60)
{
	if (getuid() != 0)
		SKIP("making a host cgroup needs root");
	struct oci_env e;
	oci_setup(&e);
	char more[512], cg[128], file[320];
	snprintf(cg, sizeof(cg), "/cvisor-test-%d/c8", getpid());
	snprintf(more, sizeof(more),
		 "\"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"mount\" } ],"
		 " \"cgroupsPath\": \"%s\", \"resources\": { \"cpu\": { \"quota\": 50000, \"period\": 100000 },"
		 " \"pids\": { \"limit\": 3 }, \"memory\": { \"limit\": 67108864 } } }", cg);
	oci_config(&e, "[\"sh\", \"-c\", \"sleep 100 & sleep 100 & sleep 100 & exec sleep 1000\"]", "", NULL, more);
	static const char std_linux[] =
		"\"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"mount\" } ] }";
	replace_linux(&e, std_linux);
	struct statfs sf;
	bool v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
	char dir[256];
	snprintf(dir, sizeof(dir), "%s%s", v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu", cg);
	char pidf[160];
	snprintf(pidf, sizeof(pidf), "%s/pid", e.dir);
	ASSERT_EQ(CV(&e, NULL, "create", "--bundle", e.bundle, "--pid-file", pidf, "c8"), 0);
	int pid = read_pid(pidf);
	if (access(dir, F_OK) != 0) { /* the host did not let us (create warned) */
		CV(&e, NULL, "delete", "--force", "c8");
		reap(pid);
		oci_cleanup(&e);
		SKIP("no writable cpu cgroup here");
	}
	snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
	char *procs = read_text(file), want[32];
	snprintf(want, sizeof(want), "%d\n", pid);
	EXPECT_TRUE(strstr(procs, want) != NULL);
	free(procs);
	snprintf(file, sizeof(file), "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
	char *quota = read_text(file);
	EXPECT_TEXT(quota, v2 ? "50000 100000\n" : "50000\n");
	free(quota);
	/* In every hierarchy, as runc: on v1 the memory and pids controllers too (docker stats reads them) */
	static const char *const others[] = { "memory", "pids", "cpuset" };
	for (size_t i = 0; !v2 && i < sizeof(others) / sizeof(others[0]); i++) {
		snprintf(file, sizeof(file), "/sys/fs/cgroup/%s", others[i]);
		if (access(file, W_OK) != 0)
			continue;
		snprintf(file, sizeof(file), "/sys/fs/cgroup/%s%s/cgroup.procs", others[i], cg);
		procs = read_text(file);
		EXPECT_TRUE(strstr(procs, want) != NULL);
		free(procs);
	}
	/* Under the 64 MiB memory limit, the host's memory cgroup has its backstop: 2 x 64 MiB + 256 MiB */
	snprintf(file, sizeof(file), "%s%s/%s", v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory", cg,
		 v2 ? "memory.max" : "memory.limit_in_bytes");
	if (access(file, F_OK) == 0) {
		char *lim = read_text(file);
		EXPECT_TEXT(lim, "402653184\n");
		free(lim);
	}
	/* update (docker update --cpus, containerd's shim): CPU limits change, the sentry's own do not */
	ASSERT_EQ(CV(&e, NULL, "update", "--cpu-quota", "20000", "c8"), 0);
	snprintf(file, sizeof(file), "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
	quota = read_text(file);
	EXPECT_TEXT(quota, v2 ? "20000 100000\n" : "20000\n");
	free(quota);
	char resf[300];
	snprintf(resf, sizeof(resf), "%s/resources.json", e.dir);
	write_text(resf, "{ \"cpu\": { \"quota\": 30000, \"period\": 100000 }, "
			 "\"memory\": { \"limit\": 67108864 }, \"pids\": { \"limit\": 3 }, "
			 "\"blockIO\": {} }");
	ASSERT_EQ(CV(&e, NULL, "update", "--resources", resf, "c8"), 0); /* the same memory and pids: fine */
	quota = read_text(file);
	EXPECT_TEXT(quota, v2 ? "30000 100000\n" : "30000\n");
	free(quota);
	EXPECT_ERR("update of the memory limit", "memory.limit cannot change while the container runs",
		   "update", "--memory", "1000000", "c8");
	EXPECT_ERR("update of an unknown option", "unknown option '--bogus'", "update", "--bogus", "1", "c8");
	EXPECT_ERR("update of no container", "container nosuch does not exist", "update", "--cpu-quota", "1",
		   "nosuch");
	ASSERT_EQ(CV(&e, NULL, "start", "c8"), 0);
	EXPECT_EQ(reap(pid), 2); /* busybox sh gives up at the fork the limit refuses */
	ASSERT_EQ(CV(&e, NULL, "delete", "c8"), 0);
	char *out = read_text(e.out);
	EXPECT_TRUE(strstr(out, "can't fork") != NULL || strstr(out, "Cannot fork") != NULL || strstr(out, "Resource temporarily") != NULL);
	if (harness_failures)
		fprintf(stderr, "  output: %s\n", out);
	free(out);
	EXPECT_NE(access(dir, F_OK), 0); /* removed at delete */
	snprintf(file, sizeof(file), "/sys/fs/cgroup/memory%s", cg);
	EXPECT_NE(access(file, F_OK), 0);

	/* A cgroupsPath and no limits: joined all the same (an engine's statistics), left at delete. */
	char cg2[128];
	snprintf(cg2, sizeof(cg2), "/cvisor-test-%d/c10", getpid());
	pid = create_sleeper_in(&e, cg2, "c10", pidf);
	const char *hier = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
	snprintf(file, sizeof(file), "%s%s/cgroup.procs", hier, cg2);
	procs = read_text(file);
	snprintf(want, sizeof(want), "%d\n", pid);
	EXPECT_TRUE(strstr(procs, want) != NULL);
	free(procs);
	ASSERT_EQ(CV(&e, NULL, "delete", "--force", "c10"), 0);
	reap(pid);
	*strrchr(file, '/') = 0;
	EXPECT_NE(access(file, F_OK), 0);

	/* A cgroupsPath naming a group that was there already, with a process of someone else's in it: only
	 * joined — delete neither kills that process nor removes the group. */
	char shared[256];
	snprintf(cg2, sizeof(cg2), "/cvisor-test-%d/shared", getpid());
	snprintf(shared, sizeof(shared), "%s%s", hier, cg2);
	ASSERT_EQ(mkdir(shared, 0755), 0);
	int other = fork();
	if (other == 0) {
		pause();
		_exit(0);
	}
	snprintf(file, sizeof(file), "%s/cgroup.procs", shared);
	char num[32];
	snprintf(num, sizeof(num), "%d", other);
	write_text(file, num);
	pid = create_sleeper_in(&e, cg2, "c12", pidf);
	ASSERT_EQ(CV(&e, NULL, "delete", "--force", "c12"), 0);
	reap(pid);
	EXPECT_EQ(waitpid(other, NULL, WNOHANG), 0); /* still alive */
	EXPECT_EQ(access(shared, F_OK), 0);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	EXPECT_EQ(rmdir(shared), 0);

	/* The engine's /dev/shm size (podman's tmpfs size=, Docker's --shm-size) is the sandbox's; a
	 * cpuset (docker --cpuset-cpus) is the host cgroup's, and so the sandbox's CPUs. */
	snprintf(cg2, sizeof(cg2), "/cvisor-test-%d/c11", getpid());
	snprintf(more, sizeof(more),
		 "\"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, "
		 "{ \"type\": \"mount\" } ], \"cgroupsPath\": \"%s\", "
		 "\"resources\": { \"cpu\": { \"cpus\": \"0\" } } }",
		 cg2);
	oci_config(&e, "[\"sh\", \"-c\", \"df -k /dev/shm | tail -1; "
		   "grep Cpus_allowed_list /proc/self/status\"]",
		   "{ \"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\","
		   " \"options\": [\"nosuid\", \"size=8m\"] }", NULL, more);
	replace_linux(&e, std_linux);
	ASSERT_EQ(CV(&e, NULL, "create", "--bundle", e.bundle, "--pid-file", pidf, "c11"), 0);
	pid = read_pid(pidf);
	hier = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpuset";
	snprintf(file, sizeof(file), "%s%s/cpuset.cpus", hier, cg2);
	bool cpuset = access(file, F_OK) == 0;
	if (cpuset) {
		char *cpus = read_text(file);
		EXPECT_TEXT(cpus, "0\n");
		free(cpus);
	}
	ASSERT_EQ(CV(&e, NULL, "start", "c11"), 0);
	EXPECT_EQ(reap(pid), 0);
	ASSERT_EQ(CV(&e, NULL, "delete", "c11"), 0);
	out = read_text(e.out);
	EXPECT_TRUE(strstr(out, " 8192 ") != NULL);
	if (cpuset)
		EXPECT_TRUE(strstr(out, "Cpus_allowed_list:\t0\n") != NULL);
	free(out);
	/* The parent each hierarchy got */
	static const char *const names[] = {
		"", "/blkio", "/cpu", "/cpuacct", "/cpuset", "/devices", "/freezer", "/hugetlb", "/memory",
		"/misc", "/net_cls", "/net_prio", "/perf_event", "/pids", "/rdma", "/systemd", "/unified",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(file, sizeof(file), "/sys/fs/cgroup%s/cvisor-test-%d", names[i], getpid());
		rmdir(file);
	}
	/* A cgroupsPath that climbs out of where it names: refused before anything is made. */
	snprintf(more, sizeof(more),
		 "\"linux\": { \"cgroupsPath\": \"/cvisor-test/..\", \"resources\": { \"cpu\": { \"quota\": 50000 } } }");
	oci_config(&e, "[\"sh\"]", "", NULL, more);
	replace_linux(&e, std_linux);
	EXPECT_ERR("a cgroupsPath with ..", "not a plain path", "create", "-b", e.bundle, "c9");
	EXPECT_EQ(count_entries(e.state), 0);
	oci_cleanup(&e);
}

/* podman itself driving the built cvisor (tests/oci/podman.sh: private storage and containers.conf,
 * a local image): run to exit, stdin, -t, -e/-w/-u, volumes, the writable root, 127, exec, pause,
 * top, stop, kill -s, rm -f; its start-up figure (cvisor and runc) is printed, not checked. */
TEST_TIMEOUT(run_oci_podman, 240)
{
	if (getuid() != 0)
		SKIP("podman as root only here");
	if (access("/usr/bin/podman", X_OK) != 0)
		SKIP("podman is not installed");
	if (access("/bin/busybox", X_OK) != 0)
		SKIP("no /bin/busybox (busybox-static)");
	if (strstr(BUILD_DIR, "asan"))
		SKIP("podman drives the plain build (the sanitizer pass checks the verbs themselves)");
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "bash %s/../tests/oci/podman.sh %s/cvisor 2>&1", BUILD_DIR, BUILD_DIR);
	FILE *p = popen(cmd, "r");
	ASSERT_TRUE(p != NULL);
	char line[512], all[16384] = "";
	size_t used = 0;
	while (fgets(line, sizeof(line), p)) {
		size_t l = strlen(line);
		if (strncmp(line, "INFO ", 5) == 0)
			fprintf(stderr, "  %s", line + 5); /* the start-up figure: shown, never checked */
		if (used + l < sizeof(all)) {
			memcpy(all + used, line, l + 1);
			used += l;
		}
	}
	int st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		HARNESS_FAIL(0, "tests/oci/podman.sh: status %#x\n%s", st, all);
}

/* A running container of `sleep 1000` (pid 1) with /vol bound: its create/start done, pid in *@pid. */
static void oci_start_sleeper(struct oci_env *e, const char *id, int *pid)
{
	char mounts[256], pidf[160];
	snprintf(mounts, sizeof(mounts), "{ \"destination\": \"/vol\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [\"rw\"] }",
		 e->vol);
	oci_config(e, "[\"sleep\", \"1000\"]", mounts, NULL, "");
	snprintf(pidf, sizeof(pidf), "%s/pid", e->dir);
	ASSERT_EQ(CV(e, NULL, "create", "--bundle", e->bundle, "--pid-file", pidf, id), 0);
	*pid = read_pid(pidf);
	ASSERT_EQ(CV(e, NULL, "start", id), 0);
}

/* exec: a new process in the running sandbox (pid 1 still running), its output and exit status, the
 * credentials, cwd and env of process.json or of the command line; --detach with the pid file of a
 * host process that ends with the exec'd one's status (we are its subreaper, as conmon is). */
TEST_TIMEOUT(run_oci_exec, 90)
{
	struct oci_env e;
	oci_setup(&e);
	int pid;
	oci_start_sleeper(&e, "c6", &pid);
	char proc[160], epid[160], *out;
	snprintf(proc, sizeof(proc), "%s/process.json", e.dir);
	write_text(proc, "{ \"args\": [\"sh\", \"-c\", \"echo exec $GREETING in $(pwd) as $(id -u):$(id -g) ppid $PPID;"
			 " ulimit -n; exit 5\"], \"env\": [\"PATH=/bin\", \"GREETING=hi\"], \"cwd\": \"/bin\","
			 " \"user\": { \"uid\": 1000, \"gid\": 1000 },"
			 " \"rlimits\": [ { \"type\": \"RLIMIT_NOFILE\", \"hard\": 100, \"soft\": 99 } ] }");
	EXPECT_EQ(CV(&e, &out, "exec", "--process", proc, "c6"), 5);
	EXPECT_TEXT(out, "exec hi in /bin as 1000:1000 ppid 0\n99\n");
	free(out);
	/* The command line form: the container's process as the base, --env, --cwd, --user over it. */
	EXPECT_EQ(CV(&e, &out, "exec", "--cwd", "/vol", "--env", "GREETING=yo", "-e", "X=1", "--user", "7:8", "c6", "sh",
		     "-c", "echo $GREETING $X $(pwd) $(id -u):$(id -g); cat v; echo w > /vol/w || echo not-root; exit 0"),
		  0);
	EXPECT_TRUE(strstr(out, "yo 1 /vol 7:8\nvolume\n") == out && strstr(out, "not-root\n")); /* /vol is root's 0755 */
	free(out);
	/* It sees the same sandbox: pid 1 in its /proc, the file it wrote in the volume. */
	EXPECT_EQ(CV(&e, &out, "exec", "c6", "sh", "-c", "echo w > /vol/w; cat /proc/1/cmdline /vol/w"), 0);
	EXPECT_EQ(memcmp(out, "sleep\0" "1000\0w\n", 13), 0);
	free(out);
	/* --detach: the pid file names a host process that ends with the exec'd process's status. */
	snprintf(epid, sizeof(epid), "%s/epid", e.dir);
	EXPECT_EQ(CV(&e, NULL, "exec", "--detach", "--pid-file", epid, "c6", "sh", "-c", "exit 7"), 0);
	int w = read_pid(epid);
	ASSERT_GT(w, 0);
	EXPECT_EQ(reap(w), 7);
	/* A signal's death: 128+N. */
	EXPECT_EQ(CV(&e, NULL, "exec", "c6", "sh", "-c", "kill -USR1 $$"), 128 + SIGUSR1);
	/* Without --detach, the signals exec gets go on to the process (runc's exec forwards them). */
	char fifo[160];
	snprintf(fifo, sizeof(fifo), "%s/ready", e.vol);
	ASSERT_EQ(mkfifo(fifo, 0666), 0);
	char *xargv[] = { "cvisor", "--root", e.state, "exec", "c6", "sh", "-c",
			  "trap 'exit 4' USR1; echo ready > /vol/ready; while :; do sleep 1; done", NULL };
	pid_t x;
	ASSERT_EQ(posix_spawn(&x, CVISOR, NULL, NULL, xargv, environ), 0);
	char *ready = read_text(fifo); /* blocks until the trap is set */
	EXPECT_TEXT(ready, "ready\n");
	free(ready);
	ASSERT_EQ(kill(x, SIGUSR1), 0);
	EXPECT_EQ(reap(x), 4);
	/* --tty: the pty's master comes over the console socket (runc's protocol); the process's output
	 * is read there, its status is exec's. */
	char csock[160];
	snprintf(csock, sizeof(csock), "%s/console.sock", e.dir);
	struct sockaddr_un ca = { .sun_family = AF_UNIX };
	snprintf(ca.sun_path, sizeof(ca.sun_path), "%.90s", csock);
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(bind(ls, (struct sockaddr *)&ca, sizeof(ca)), 0);
	ASSERT_EQ(listen(ls, 1), 0);
	char *targv[] = { "cvisor", "--root", e.state, "exec", "--tty", "--console-socket", csock, "c6", "sh", "-c",
			  "read x; echo got $x; exit 6", NULL };
	ASSERT_EQ(posix_spawn(&x, CVISOR, NULL, NULL, targv, environ), 0);
	int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_GE(cs, 0);
	char name[64];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cu;
	struct iovec ciov = { name, sizeof(name) };
	struct msghdr cm = { .msg_iov = &ciov, .msg_iovlen = 1, .msg_control = cu.b, .msg_controllen = sizeof(cu.b) };
	ASSERT_GT(recvmsg(cs, &cm, MSG_CMSG_CLOEXEC), 0);
	int master;
	memcpy(&master, CMSG_DATA(CMSG_FIRSTHDR(&cm)), sizeof(int));
	close(cs);
	close(ls);
	ASSERT_EQ(write(master, "abc\n", 4), 4);
	EXPECT_EQ(reap(x), 6);
	char tbuf[256];
	ssize_t tn = read(master, tbuf, sizeof(tbuf) - 1); /* the echo of our line, then its output */
	ASSERT_GT(tn, 0);
	tbuf[tn] = 0;
	EXPECT_TRUE(strstr(tbuf, "got abc\r\n") != NULL);
	close(master);
	EXPECT_ERR("missing program", "exec: \"nosuch\": executable file not found in $PATH", "exec", "c6", "nosuch");
	EXPECT_ERR("bad cwd", "chdir to cwd (\"/nope\")", "exec", "--cwd", "/nope", "c6", "true");
	EXPECT_ERR("no command", "give --process FILE or the command", "exec", "c6");
	EXPECT_ERR("unknown container", "nope does not exist", "exec", "nope", "true");
	EXPECT_TRUE(state_says(&e, "c6", "running")); /* pid 1 went on through all of it */
	ASSERT_EQ(CV(&e, NULL, "kill", "c6", "KILL"), 0);
	EXPECT_EQ(reap(pid), 128 + SIGKILL);
	EXPECT_ERR("exec into a stopped container", "cannot exec in a stopped container", "exec", "c6", "true");
	EXPECT_ERR("ps of a stopped container", "c6 is not running", "ps", "c6");
	oci_finish(&e, "c6");
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* pause/resume (no instruction of any process runs while paused), ps, kill --all. */
TEST_TIMEOUT(run_oci_pause_ps_kill_all, 90)
{
	struct oci_env e;
	oci_setup(&e);
	int pid;
	oci_start_sleeper(&e, "c7", &pid);
	char epid[160], grow[160], *out;
	snprintf(epid, sizeof(epid), "%s/epid", e.dir);
	snprintf(grow, sizeof(grow), "%s/grow", e.vol);
	EXPECT_EQ(CV(&e, NULL, "exec", "--detach", "--pid-file", epid, "c7", "sh", "-c",
		     "exec > /dev/null 2>&1; while :; do echo x; done > /vol/grow"),
		  0); /* the shell lets go of our pipe: CV() reads it to its end */
	int w = read_pid(epid);
	while (file_size(grow) < 100) /* it runs */
		sched_yield();
	ASSERT_EQ(CV(&e, NULL, "pause", "c7"), 0);
	EXPECT_TRUE(state_says(&e, "c7", "paused"));
	long a = file_size(grow);
	EXPECT_ERR("exec while paused", "cannot exec in a paused container", "exec", "c7", "true");
	EXPECT_ERR("pause twice", "c7 is paused, not running", "pause", "c7");
	EXPECT_EQ(CV(&e, &out, "ps", "c7"), 0); /* the sentry answers while its processes are paused */
	EXPECT_TRUE(strstr(out, "1       0       0       R    sleep 1000\n") != NULL);
	EXPECT_TRUE(strstr(out, "0       0       R    sh -c exec > /dev/null 2>&1; while :; do echo x; done > /vol/grow\n") != NULL);
	free(out);
	EXPECT_EQ(file_size(grow), a); /* nothing ran meanwhile */
	ASSERT_EQ(CV(&e, NULL, "resume", "c7"), 0);
	EXPECT_TRUE(state_says(&e, "c7", "running"));
	EXPECT_ERR("resume a running one", "c7 is running, not paused", "resume", "c7");
	while (file_size(grow) == a) /* it runs again */
		sched_yield();
	/* ps --format json: host pids, the container's process first */
	EXPECT_EQ(CV(&e, &out, "ps", "--format", "json", "c7"), 0);
	char want[32];
	snprintf(want, sizeof(want), "[%d,", pid);
	EXPECT_TRUE(strncmp(out, want, strlen(want)) == 0);
	free(out);
	/* kill --all TERM: the exec'd shell dies of it; pid 1 (no handler: init) does not. */
	ASSERT_EQ(CV(&e, NULL, "kill", "--all", "c7", "TERM"), 0);
	EXPECT_EQ(reap(w), 128 + SIGTERM);
	EXPECT_TRUE(state_says(&e, "c7", "running"));
	/* delete --force of a paused container */
	ASSERT_EQ(CV(&e, NULL, "pause", "c7"), 0);
	EXPECT_ERR("delete while paused", "not stopped: paused", "delete", "c7");
	ASSERT_EQ(CV(&e, NULL, "delete", "--force", "c7"), 0);
	EXPECT_EQ(reap(pid), 128 + SIGKILL);
	EXPECT_EQ(count_entries(e.state), 0);
	oci_cleanup(&e);
}

/* The control socket given garbage: an error reply, never a crash; the sandbox answers afterwards. */
TEST_TIMEOUT(run_oci_control_bad_requests, 60)
{
	struct oci_env e;
	oci_setup(&e);
	int pid;
	oci_start_sleeper(&e, "c8", &pid);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ASSERT_LT(strlen(e.state), sizeof(sa.sun_path) - 16);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.80s/c8/" CTL_SOCKET, e.state);
	struct ctl_req bad[4] = { { .magic = 1 }, { .magic = CTL_MAGIC, .op = 99 },
				  { .magic = CTL_MAGIC, .op = CTL_KILL, .sig = 65 },
				  { .magic = CTL_MAGIC, .op = CTL_EXEC, .nargs = 1000000, .nfds = 3 } };
	size_t lens[4] = { sizeof(bad[0]), sizeof(bad[1]), sizeof(bad[2]), sizeof(bad[3]) };
	for (int i = 0; i < 5; i++) {
		int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		ASSERT_EQ(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
		if (i == 4) { /* a short message, with a stray descriptor */
			char b[3] = "ab";
			int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			union {
				char b[CMSG_SPACE(sizeof(int))];
				struct cmsghdr align;
			} u = { 0 };
			struct iovec iov = { b, sizeof(b) };
			struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
			struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &fd, sizeof(int));
			ASSERT_EQ(sendmsg(c, &m, 0), (ssize_t)sizeof(b));
			close(fd);
		} else {
			ASSERT_EQ(send(c, &bad[i], lens[i], 0), (ssize_t)lens[i]);
		}
		struct ctl_reply r;
		EXPECT_EQ(recv(c, &r, sizeof(r), 0), (ssize_t)sizeof(r));
		EXPECT_EQ(r.kind, CTL_ERROR);
		close(c);
	}
	char *out;
	EXPECT_EQ(CV(&e, &out, "exec", "c8", "echo", "still here"), 0);
	EXPECT_TEXT(out, "still here\n");
	free(out);
	ASSERT_EQ(CV(&e, NULL, "kill", "c8", "KILL"), 0);
	EXPECT_EQ(reap(pid), 128 + SIGKILL);
	oci_finish(&e, "c8");
}
