// SPDX-License-Identifier: Apache-2.0
// `create` and `start`. create checks the bundle, makes the state directory and forks the container's
// process, which waits on ROOT/ID/exec.fifo; create writes the pid file and exits, so the engine's
// monitor (conmon, a shim: subreapers) inherits that process and takes its exit status as the
// container's. start opens the fifo: the process wakes, runs the sentry (sentry_run, confined exactly
// as cvisor run) and exits with the program's status, 128+N if a signal N killed it.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include "oci.h"
#include "../sentry/control.h"

/* Send pty master @fd over the engine's console socket (runc's protocol: one SCM_RIGHTS message). */
static int send_console(const char *sock_path, int fd)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (s < 0 || strlen(sock_path) >= sizeof(a.sun_path)) {
		if (s >= 0)
			close(s);
		return -ENAMETOOLONG;
	}
	strcpy(a.sun_path, sock_path);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	char name[] = "/dev/ptmx";
	struct iovec iov = { name, sizeof(name) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = { 0 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	int ret = sendmsg(s, &m, 0) < 0 ? -errno : 0;
	close(s);
	return ret;
}

/* A new pty whose master went to the console socket: its slave, or -1 after oci_error(). */
int oci_make_console(const char *sock_path)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		oci_error("cannot make a terminal: %s", strerror(errno));
		if (master >= 0)
			close(master);
		return -1;
	}
	const char *name = ptsname(master);
	int slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	int ret = slave < 0 ? -errno : send_console(sock_path, master);
	close(master);
	if (ret < 0) {
		oci_error("console socket %s: %s", sock_path, strerror(-ret));
		if (slave >= 0)
			close(slave);
		return -1;
	}
	return slave;
}

/* The container's process after fork. Never returns. */
static void container_process(struct oci_config *c, const char *fifo, int ready, int console, int netns)
{
	setsid(); /* its own session: the engine's terminal and process group are not the sandbox's */
	if (console >= 0) {
		ioctl(console, TIOCSCTTY, 0);
		for (int i = 0; i < 3; i++)
			dup2(console, i);
		close(console);
	}
	if (c->has_oom_score_adj) {
		FILE *f = fopen("/proc/self/oom_score_adj", "we");
		if (f) {
			fprintf(f, "%d\n", c->oom_score_adj);
			fclose(f);
		}
	}
	/* The network namespace is joined, or a new one made, before create returns: the engine's
	 * prestart hooks set it up through /proc/PID/ns/net, as with runc (Docker's moves its interfaces
	 * there and sets its sysctls, disable_ipv6 among them: made later, by the sentry, they went to the
	 * host's namespace). The container's sysctls go there: the sentry binds for the sandbox, which
	 * checks the privileged ports itself. */
	if (netns >= 0 && setns(netns, CLONE_NEWNET) < 0) {
		fprintf(stderr, "cvisor: cannot join the network namespace %s: %s\n", c->netns, strerror(errno));
		_exit(126);
	}
	if (netns < 0 && !c->opts.net) /* if this fails (no privilege), the jail makes it at start */
		c->opts.netns_made = unshare(CLONE_NEWNET) == 0;
	if (netns >= 0) {
		close(netns);
		net_private_sysctls(&c->opts, false);
	}
	char ok = 'R';
	ssize_t w = write(ready, &ok, 1);
	(void)w;
	close(ready);
	/* Blocks until start opens the fifo for reading. */
	int fd;
	while ((fd = open(fifo, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (fd < 0)
		_exit(126);
	char zero = '0';
	w = write(fd, &zero, 1);
	close(fd);
	/* A mount namespace of its own, nothing propagating back to the host: the sentry puts a procfs of
	 * its pid namespace on our /proc (jail.c), so an engine looking at the container's processes
	 * through ours (podman top joins our mount namespace) sees the sandbox's, not the host's. */
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		c->opts.proc_for_caller = true;
	int st = sentry_run(&c->opts, c->prog, c->argv, c->env);
	if (st < 0)
		_exit(st == -ENOENT ? 127 : 126);
	if (WIFSIGNALED(st) || (st & 0x7f))
		_exit(128 + (st & 0x7f));
	_exit(WEXITSTATUS(st));
}

int oci_write_pid_file(const char *path, int pid)
{
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d", pid);
	int ret = fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static int mkdir_p(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/*
 * Where the root's copy-ups go (upper/ and work/). Beside the engine's own writable layer when the
 * root is an engine's overlay on a file system that idmapped mounts work on (ext4, xfs, btrfs):
 * DIR/cvisor-ID next to its upper directory DIR/diff (Docker, podman) or DIR/fs (containerd), on the
 * engine's storage, where runc's writes go, and removed with the layer's directory when the engine
 * removes the container (and by delete before). Else ROOT/ID/overlay. Engines keep --root on /run,
 * a tmpfs on most hosts: a container writing a large file there would fill the host's /run. ROOT/ID/
 * overlay is then a link to the place (delete follows it). 0 or -errno.
 */
static int overlay_dir(const struct oci_config *c, const struct oci_state *st, char *ovl, size_t len)
{
	char real[PATH_MAX], link[PATH_MAX + 16];
	char *upper = realpath(c->rootfs, real) ? overlay_upper(real) : NULL;
	char *slash = upper ? strrchr(upper, '/') : NULL;
	struct statfs sf;
	snprintf(link, sizeof(link), "%s/overlay", st->dir);
	if (slash && slash != upper) {
		*slash = 0;
		bool idmappable = statfs(upper, &sf) == 0 && (sf.f_type == EXT4_SUPER_MAGIC ||
				  sf.f_type == XFS_SUPER_MAGIC || sf.f_type == BTRFS_SUPER_MAGIC);
		int n = snprintf(ovl, len, "%s/cvisor-%s", upper, st->id);
		if (idmappable && n > 0 && (size_t)n < len && mkdir(ovl, 0700) == 0) {
			free(upper);
			if (symlink(ovl, link) == 0)
				return 0;
			int e = errno;
			rmdir(ovl);
			return -e;
		}
	}
	free(upper);
	snprintf(ovl, len, "%s", link);
	return mkdir(ovl, 0700) < 0 ? -errno : 0;
}

int oci_create(int argc, char **argv)
{
	const char *bundle = ".", *pid_file = NULL, *console_sock = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const char *val = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
		const char **slot = NULL;
		if (strncmp(a, "--bundle", n) == 0 && n == 8)
			slot = &bundle;
		else if (strncmp(a, "-b", n) == 0 && n == 2)
			slot = &bundle;
		else if (strncmp(a, "--pid-file", n) == 0 && n == 10)
			slot = &pid_file;
		else if (strncmp(a, "--console-socket", n) == 0 && n == 16)
			slot = &console_sock;
		else if (strcmp(a, "--no-pivot") == 0 || strcmp(a, "--no-new-keyring") == 0)
			continue; /* runc's: the sentry always pivots, and keyrings are not the sandbox's */
		if (!slot || !val) {
			oci_error("create: %s option '%s'", slot ? "missing value for" : "unknown", a);
			return 1;
		}
		*slot = val;
		if (!eq)
			i++;
	}
	if (i >= argc) {
		oci_error("create: no container id given");
		return 1;
	}
	if (i + 1 < argc) {
		oci_error("create: unexpected argument '%s'", argv[i + 1]);
		return 1;
	}
	const char *id = argv[i];
	if (oci_check_id(id) < 0)
		return 1;
	struct oci_config c;
	if (oci_config_load(bundle, &c) < 0) {
		oci_config_free(&c);
		return 1;
	}
	if (c.terminal && !console_sock) {
		oci_error("create: process.terminal is set but no --console-socket was given");
		oci_config_free(&c);
		return 1;
	}
	int netns = -1;
	if (c.netns[0] && (netns = open(c.netns, O_RDONLY | O_CLOEXEC)) < 0) {
		oci_error("network namespace %s: %s", c.netns, strerror(errno));
		oci_config_free(&c);
		return 1;
	}
	struct oci_state st = { 0 };
	snprintf(st.id, sizeof(st.id), "%s", id);
	snprintf(st.dir, sizeof(st.dir), "%s/%s", oci_g.root, id);
	snprintf(st.bundle, sizeof(st.bundle), "%s", c.bundle);
	snprintf(st.rootfs, sizeof(st.rootfs), "%s", c.rootfs);
	json_t *ann = json_object_get(c.doc, "annotations");
	st.annotations = json_is_object(ann) ? json_incref(ann) : NULL;
	int ret = mkdir_p(oci_g.root, 0711);
	if (ret < 0) {
		oci_error("--root %s: %s", oci_g.root, strerror(-ret));
		goto out_free;
	}
	if (mkdir(st.dir, 0700) < 0) {
		ret = -errno;
		if (errno == EEXIST)
			oci_error("container %s already exists", id);
		else
			oci_error("%s: %s", st.dir, strerror(errno));
		goto out_free;
	}
	/* From here on a failure removes what it made. The lock keeps other verbs out meanwhile (and
	 * state.json, written last, tells them the container exists). */
	int lock = open(st.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		ret = -errno;
		oci_error("%s: %s", st.dir, strerror(errno));
		goto out_remove;
	}
	char ovl[PATH_MAX + 16], upper[PATH_MAX + 32], work[PATH_MAX + 32], fifo[PATH_MAX + 16];
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", st.dir);
	if ((ret = overlay_dir(&c, &st, ovl, sizeof(ovl))) < 0) {
		oci_error("%s: %s", ovl, strerror(-ret));
		goto out_remove;
	}
	snprintf(upper, sizeof(upper), "%s/upper", ovl);
	snprintf(work, sizeof(work), "%s/work", ovl);
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 || mkfifo(fifo, 0600) < 0) {
		ret = -errno;
		oci_error("%s: %s", st.dir, strerror(errno));
		goto out_remove;
	}
	c.opts.overlay = ovl;
	/* The control channel (sentry/control.h): listening from now on, served once the sentry runs; a
	 * name under the locked directory's fd, whatever the length of --root. */
	char sock[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sock, sizeof(sock), "/proc/self/fd/%d/" CTL_SOCKET, lock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int ctl = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ctl < 0 || bind(ctl, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ctl, 16) < 0) {
		ret = -errno;
		oci_error("%s/" CTL_SOCKET ": %s", st.dir, strerror(errno));
		if (ctl >= 0)
			close(ctl);
		goto out_remove;
	}
	c.opts.control = true;
	c.opts.control_fd = ctl;
	int console = c.terminal ? oci_make_console(console_sock) : -1;
	if (c.terminal && console < 0) {
		ret = -EIO;
		close(ctl);
		goto out_remove;
	}
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		ret = -errno;
		oci_error("pipe: %s", strerror(errno));
		close(ctl);
		goto out_remove;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(lock);
		container_process(&c, fifo, ready[1], console, netns);
	}
	close(ready[1]);
	close(ctl);
	if (console >= 0)
		close(console);
	char ok = 0;
	if (pid < 0 || read(ready[0], &ok, 1) != 1 || ok != 'R') {
		ret = -EIO;
		oci_error("the container's process did not start: %s", pid < 0 ? strerror(errno) : "it exited");
		close(ready[0]);
		goto out_remove;
	}
	close(ready[0]);
	st.pid = pid;
	st.start_time = oci_proc_start_time(pid);
	time_t now = time(NULL);
	struct tm tm;
	strftime(st.created, sizeof(st.created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	json_t *lnx = json_object_get(c.doc, "linux");
	if (oci_cgroup_enter(json_object_get(json_object_get(lnx, "resources"), "cpu"), c.opts.mem_limit,
			     json_string_value(json_object_get(lnx, "cgroupsPath")), &st) < 0) {
		ret = -EIO;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out_remove;
	}
	json_t *hooks = json_object_get(c.doc, "hooks");
	if (oci_hooks_run(hooks, "prestart", &st, "created") < 0 || oci_hooks_run(hooks, "createRuntime", &st, "creating") < 0 ||
	    oci_hooks_run(hooks, "createContainer", &st, "creating") < 0) {
		ret = -EIO;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out_remove;
	}
	if ((ret = oci_hooks_save(&st, hooks)) < 0 || (ret = oci_state_save(&st)) < 0 ||
	    (pid_file && (ret = oci_write_pid_file(pid_file, pid)) < 0)) {
		oci_error("cannot record the container's state: %s", strerror(-ret));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out_remove;
	}
	close(lock);
	ret = 0;
	goto out_free;
out_remove:
	if (lock >= 0)
		close(lock);
	oci_state_remove(&st);
out_free:
	if (netns >= 0)
		close(netns);
	oci_state_free(&st);
	oci_config_free(&c);
	return ret < 0 ? 1 : 0;
}

int oci_start(int argc, char **argv)
{
	if (argc != 2) {
		oci_error(argc < 2 ? "start: no container id given" : "start: unexpected argument '%s'", argv[argc - 1]);
		return 1;
	}
	struct oci_state st;
	int lock = oci_state_open(argv[1], &st);
	if (lock < 0)
		return 1;
	enum oci_status s = oci_status(&st);
	int ret = 1;
	if (s != OCI_CREATED) {
		oci_error("cannot start a container that is %s", oci_status_name(s));
		goto out;
	}
	char fifo[PATH_MAX + 16];
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", st.dir);
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int pfd = (int)syscall(SYS_pidfd_open, st.pid, 0);
	if (fd < 0 || pfd < 0) {
		oci_error("start %s: %s", st.id, strerror(errno));
		goto out_close;
	}
	/* Its process writes one byte once it has the fifo open, or dies. */
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		char b;
		if ((p[0].revents & POLLIN) && read(fd, &b, 1) == 1) {
			ret = 0;
			break;
		}
		if (p[1].revents) {
			oci_error("container %s exited before it started", st.id);
			break;
		}
	}
	if (ret == 0) {
		unlink(fifo); /* running from now on */
		json_t *hooks = oci_hooks_load(&st);
		oci_hooks_run(hooks, "poststart", &st, "running");
		if (hooks)
			json_decref(hooks);
	}
out_close:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
out:
	oci_state_free(&st);
	close(lock);
	return ret;
}
