// SPDX-License-Identifier: Apache-2.0
// The OCI runtime's verbs (tools/oci_*.c) on a bundle made here from busybox-static: the built cvisor
// binary driven as an engine drives it, this test process being the subreaper that inherits the
// container's process (as conmon is) and takes its exit status.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "sandbox_run.h"

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
	char *argv[16] = { "cvisor", "--root", e->state };
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
	EXPECT_EQ(CV(&e, NULL, "kill", "c3", "STOP"), 1); /* not deliverable yet: refused, not misapplied */
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
	char hooks[1200];
	snprintf(mounts, sizeof(mounts), "{ \"destination\": \"/vol\", \"type\": \"bind\", \"source\": \"%s\" }", e.vol);
	snprintf(hooks, sizeof(hooks),
		 "\"hooks\": { \"prestart\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %s/prestart.json\"] } ],"
		 " \"poststart\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %s/poststart.json\"], \"timeout\": 10 } ],"
		 " \"poststop\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %s/poststop.json; exit 3\"] } ] },"
		 " \"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"mount\" } ],"
		 " \"sysctl\": { \"net.ipv4.ip_unprivileged_port_start\": \"0\", \"net.ipv4.ping_group_range\": \"0 2147483647\" } }",
		 e.dir, e.dir, e.dir);
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
	ASSERT_EQ(CV(&e, NULL, "start", "c6"), 0);
	EXPECT_EQ(reap(pid), 0);
	char *out = read_text(e.out);
	EXPECT_TEXT(out, "written by the engine\nimage\nnew\n");
	free(out);
	snprintf(p, sizeof(p), "%s/poststart.json", e.dir);
	state = read_text(p);
	EXPECT_TRUE(strstr(state, "\"status\":\"running\"") != NULL);
	free(state);
	/* Neither the engine's layers nor the image got the container's write. */
	snprintf(p, sizeof(p), "%s/etc/new", eup);
	EXPECT_NE(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/etc/new", lower);
	EXPECT_NE(access(p, F_OK), 0);
	ASSERT_EQ(CV(&e, NULL, "delete", "c6"), 0); /* a failing poststop only warns */
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
	ASSERT_EQ(CV(&e, NULL, "start", "c8"), 0);
	EXPECT_EQ(reap(pid), 2); /* busybox sh gives up at the fork the limit refuses */
	ASSERT_EQ(CV(&e, NULL, "delete", "c8"), 0);
	char *out = read_text(e.out);
	EXPECT_TRUE(strstr(out, "can't fork") != NULL || strstr(out, "Cannot fork") != NULL || strstr(out, "Resource temporarily") != NULL);
	if (harness_failures)
		fprintf(stderr, "  output: %s\n", out);
	free(out);
	EXPECT_NE(access(dir, F_OK), 0); /* removed at delete */
	*strrchr(dir, '/') = 0;
	rmdir(dir);
	EXPECT_EQ(count_entries(e.state), 0);
	oci_cleanup(&e);
}

/* podman itself driving the built cvisor (tests/oci/podman.sh: private storage and containers.conf,
 * a local image): run to exit, stdin, -t, -e/-w/-u, volumes, the writable root, 127, exec, pause,
 * top, stop, kill -s, rm -f. */
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
		if (used + l < sizeof(all)) {
			memcpy(all + used, line, l + 1);
			used += l;
		}
	}
	int st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		HARNESS_FAIL(0, "tests/oci/podman.sh: status %#x\n%s", st, all);
}
