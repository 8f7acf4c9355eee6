// SPDX-License-Identifier: Apache-2.0
// A compromised sentry (issue 11): the test takes the place of an exploit that runs code of its choice
// inside the sentry at the worst moment — the sentry fully set up and confined, the untrusted program
// about to load — through sentry_test_confined(), which only this test binary defines (the last test
// checks that cvisor holds none of it). From there it tries what an attacker would: the host
// syscalls that must be impossible, the host's files, devices, processes, network and terminal.
// Every attempt must fail: stopped by the sentry's own seccomp filter (caught here with a SIGSYS
// handler, as an attacker could: the syscall never ran), or refused by the kernel because the jail
// leaves nothing to reach. Arguments are harmless, so a missing layer shows as a line, not damage.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include "harness.h"
#include "sandbox_run.h"

static pid_t test_pid;     /* this process: outside the sentry's pid namespace */
static int host_port;      /* a TCP listener of this process on the host's 127.0.0.1 */
static char host_mark[48]; /* a file the attacker tries to leave in the host's /tmp */
static char host_socks[2][64]; /* named unix sockets of the host: in /tmp and /run */
static char abstract_name[64];   /* an abstract unix socket of the host (its name without the NUL) */
static volatile sig_atomic_t trapped = -1;
static void (*attack_fn)(void);

void sentry_test_confined(void)
{
	if (attack_fn)
		attack_fn();
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	trapped = si->si_syscall;
}

static void line(const char *what, bool blocked, const char *how)
{
	dprintf(1, "attack %s: %s (%s)\n", what, blocked ? "blocked" : "ESCAPED", how);
}

/* A syscall only the seccomp filter can stop (its arguments fail harmlessly if it reached the kernel). */
static void must_trap(const char *what, long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	trapped = -1;
	errno = 0;
	long r = syscall(nr, a0, a1, a2, a3, a4, a5);
	if (r == 0 && nr == SYS_clone)
		_exit(0); /* a fork got through: the child must not go on */
	bool stopped = trapped == nr;
	line(what, stopped, stopped ? "seccomp" : r < 0 ? strerror(errno) : "it ran");
}

/* A syscall the filter allows, which the jail must make fail with @want (or @want2, if not 0). */
static void must_fail2(const char *what, long r, int want, int want2)
{
	int e = errno;
	line(what, r < 0 && (e == want || (want2 && e == want2)), r < 0 ? strerror(e) : "it worked");
}

static void must_fail(const char *what, long r, int want)
{
	must_fail2(what, r, want, 0);
}

static void attack(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO }, old;
	sigaction(SIGSYS, &sa, &old);
	/* Host syscalls a sandbox has no business making, each of which must be impossible. */
	must_trap("execve", SYS_execve, (long)"/nonexistent/cvisor", 0, 0, 0, 0, 0);
	must_trap("execveat", SYS_execveat, -1, (long)"", 0, 0, 0x1000, 0);
	must_trap("mount", SYS_mount, 0, 0, 0, 0, 0, 0);
	must_trap("umount2", SYS_umount2, (long)"/nonexistent", 0, 0, 0, 0, 0);
	must_trap("pivot_root", SYS_pivot_root, 0, 0, 0, 0, 0, 0);
	must_trap("chroot", SYS_chroot, (long)"/nonexistent", 0, 0, 0, 0, 0);
	must_trap("unshare", SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0, 0);
	must_trap("setns", SYS_setns, -1, 0, 0, 0, 0, 0);
	must_trap("bpf", SYS_bpf, -1, 0, 0, 0, 0, 0);
	must_trap("io_uring_setup", SYS_io_uring_setup, 0, 0, 0, 0, 0, 0);
	must_trap("kexec_load", SYS_kexec_load, 0, 0, 0, -1, 0, 0);
	must_trap("init_module", SYS_init_module, 0, 0, 0, 0, 0, 0);
	must_trap("finit_module", SYS_finit_module, -1, 0, 0, 0, 0, 0);
	must_trap("delete_module", SYS_delete_module, 0, 0, 0, 0, 0, 0);
	must_trap("keyctl", SYS_keyctl, -1, 0, 0, 0, 0, 0);
	must_trap("add_key", SYS_add_key, 0, 0, 0, 0, 0, 0);
	must_trap("perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0, 0);
	must_trap("open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0, 0, 0, 0);
	must_trap("name_to_handle_at", SYS_name_to_handle_at, -1, 0, 0, 0, 0, 0);
	must_trap("process_vm_readv", SYS_process_vm_readv, 0, 0, 0, 0, 0, 0);
	must_trap("process_vm_writev", SYS_process_vm_writev, 0, 0, 0, 0, 0, 0);
	must_trap("userfaultfd", SYS_userfaultfd, -1, 0, 0, 0, 0, 0);
	must_trap("setresuid", SYS_setresuid, 0, 0, 0, 0, 0, 0);
	must_trap("setuid", SYS_setuid, 0, 0, 0, 0, 0, 0);
	must_trap("capset", SYS_capset, 0, 0, 0, 0, 0, 0);
	must_trap("fork", SYS_clone, SIGCHLD, 0, 0, 0, 0, 0);
	must_trap("clone-newuser-thread", SYS_clone, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWUSER, 0, 0, 0, 0, 0);
	must_trap("mmap-exec", SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must_trap("mprotect-exec", SYS_mprotect, 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0);
	must_trap("socket-packet", SYS_socket, AF_PACKET, SOCK_RAW, 0, 0, 0, 0);
	must_trap("socket-netlink-audit", SYS_socket, AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */, 0, 0, 0);
	must_trap("ioctl-tiocsti", SYS_ioctl, 0, TIOCSTI, (long)"x", 0, 0, 0);
	/* The ptrace backend's sentry may ptrace, but only what its pid namespace holds: its stubs. */
	trapped = -1;
	long r = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, test_pid, 0, 0);
	int e = errno;
	line("ptrace-caller", trapped == SYS_ptrace || (r < 0 && e == ESRCH),
	     trapped == SYS_ptrace ? "seccomp" : r < 0 ? strerror(e) : "it ran");

	/* Host files: the root is the jail's; the host's tree is read-only, as nobody (root) or the caller. */
	must_fail("open-host-etc-shadow", open("/etc/shadow", O_RDONLY | O_CLOEXEC), ENOENT);
	must_fail("open-sandbox-etc-shadow", open("/root/etc/shadow", O_RDONLY | O_CLOEXEC), EACCES);
	must_fail2("write-etc-passwd", open("/root/etc/passwd", O_WRONLY | O_CLOEXEC), EACCES, EROFS);
	must_fail("mkdir-in-root", mkdir("/root/cvisor-escape", 0700), EROFS);
	must_fail("open-dev-kmsg", open("/root/dev/kmsg", O_RDONLY | O_CLOEXEC), ENOENT);
	must_fail("open-proc-sys", open("/proc/sys/kernel/hostname", O_RDONLY | O_CLOEXEC), ENOENT);
	char path[80];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)test_pid);
	must_fail("open-caller-environ", open(path, O_RDONLY | O_CLOEXEC), ENOENT);
	/* The jail's /tmp is its own: a file there is nowhere on the host. */
	snprintf(path, sizeof(path), "/tmp/%s", host_mark);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	/* Processes: only the sentry's own pid namespace. */
	must_fail("kill-caller", kill(test_pid, 0), ESRCH);
	/* Network: the host's loopback is not this one. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)host_port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	must_fail("connect-host-loopback", s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof(a)), ECONNREFUSED);
	if (s >= 0)
		close(s);
	a.sin_addr.s_addr = inet_addr("192.0.2.1"); /* TEST-NET-1: any address off this machine */
	a.sin_port = htons(80);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	must_fail("connect-outside", s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof(a)), ENETUNREACH);
	if (s >= 0)
		close(s);
	/* Host services' unix sockets, even world-writable ones: neither named nor abstract. */
	static const char *const sock_names[] = { "unix-host-tmp", "unix-host-run" };
	for (int i = 0; i < 2; i++) {
		struct sockaddr_un u = { .sun_family = AF_UNIX };
		memcpy(u.sun_path, "/root", 5); /* where the host's tree is */
		memcpy(u.sun_path + 5, host_socks[i], strlen(host_socks[i]) + 1);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		must_fail(sock_names[i], s < 0 ? -1 : connect(s, (struct sockaddr *)&u, sizeof(u)), ENOENT);
		if (s >= 0)
			close(s);
	}
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	size_t len = strlen(abstract_name);
	memcpy(u.sun_path + 1, abstract_name, len);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	must_fail("unix-host-abstract", s < 0 ? -1 : connect(s, (struct sockaddr *)&u, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)),
		  ECONNREFUSED);
	if (s >= 0)
		close(s);
	/* Capabilities: none left to use. */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	bool none = syscall(SYS_capget, &hdr, data) == 0 && !data[0].effective && !data[1].effective &&
		    !data[0].permitted && !data[1].permitted;
	line("capabilities", none, none ? "none" : "some left");
	sigaction(SIGSYS, &old, NULL);
}

/* The attacker without a SIGSYS handler of its own: the filter ends the sentry, saying why. */
static void attack_and_die(void)
{
	syscall(SYS_mount, 0, 0, 0, 0, 0);
	dprintf(1, "attack mount: ESCAPED (the sentry went on)\n");
}

static int listen_on_host_loopback(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(s, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(s, 1), 0);
	socklen_t len = sizeof(a);
	ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
	host_port = ntohs(a.sin_port);
	return s;
}

/* A world-writable unix socket of the host listening at @path (or, if @path is NULL, the abstract one). */
static int host_unix_socket(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(s, 0);
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(u);
	if (path) {
		snprintf(u.sun_path, sizeof(u.sun_path), "%s", path);
	} else {
		size_t n = strlen(abstract_name);
		memcpy(u.sun_path + 1, abstract_name, n);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	}
	ASSERT_EQ(bind(s, (struct sockaddr *)&u, len), 0);
	if (path)
		ASSERT_EQ(chmod(path, 0777), 0);
	ASSERT_EQ(listen(s, 1), 0);
	return s;
}

/* Nothing reached listener @s: no connection waits to be accepted. */
static void expect_untouched(int s, const char *what)
{
	fcntl(s, F_SETFL, O_NONBLOCK);
	int c = accept(s, NULL, NULL);
	if (c >= 0) {
		HARNESS_FAIL(0, "the host's %s listener was reached", what);
		close(c);
	}
	close(s);
}

PLATFORM_TEST(run_compromised_sentry_reaches_nothing)
{
	test_pid = getpid();
	snprintf(host_mark, sizeof(host_mark), "cvisor-compromised-%d", (int)test_pid);
	int l = listen_on_host_loopback();
	static const char *const dirs[] = { "/tmp", "/run" };
	int socks[3];
	char dir_of[2][48];
	for (int i = 0; i < 2; i++) {
		snprintf(dir_of[i], sizeof(dir_of[i]), "%s/cvisor-compromised-%d", dirs[i], (int)test_pid);
		snprintf(host_socks[i], sizeof(host_socks[i]), "%s/s", dir_of[i]);
		if (mkdir(dir_of[i], 0755) < 0) { /* /run is root's: another user has no socket there */
			ASSERT_EQ(errno, EACCES);
			socks[i] = -1;
			continue;
		}
		socks[i] = host_unix_socket(host_socks[i]);
	}
	snprintf(abstract_name, sizeof(abstract_name), "cvisor-compromised-%d", (int)test_pid);
	socks[2] = host_unix_socket(NULL);
	attack_fn = attack;
	char *const argv[] = { "echo", "the sandbox still runs", NULL };
	struct sentry_opts opts = { .platform = platform };
	struct outcome o;
	run_boxed(&opts, "/bin/echo", argv, &o);
	attack_fn = NULL;
	expect_untouched(l, "loopback");
	for (int i = 0; i < 3; i++)
		if (socks[i] >= 0)
			expect_untouched(socks[i], i < 2 ? host_socks[i] : "abstract unix");
	for (int i = 0; i < 2; i++) {
		unlink(host_socks[i]);
		rmdir(dir_of[i]);
	}
	static const char *const attacks[] = {
		"execve", "execveat", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf",
		"io_uring_setup", "kexec_load", "init_module", "finit_module", "delete_module", "keyctl", "add_key",
		"perf_event_open", "open_by_handle_at", "name_to_handle_at", "process_vm_readv", "process_vm_writev",
		"userfaultfd", "setresuid", "setuid", "capset", "fork", "clone-newuser-thread", "mmap-exec",
		"mprotect-exec", "socket-packet", "socket-netlink-audit", "ioctl-tiocsti", "open-host-etc-shadow",
		"open-sandbox-etc-shadow", "write-etc-passwd", "mkdir-in-root", "open-dev-kmsg", "open-proc-sys",
		"open-caller-environ", "kill-caller", "connect-host-loopback", "connect-outside", "unix-host-tmp",
		"unix-host-run", "unix-host-abstract", "capabilities",
	};
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		char want[96];
		snprintf(want, sizeof(want), "attack %s: blocked", attacks[i]);
		if (!strstr(o.out, want))
			HARNESS_FAIL(0, "%s not blocked", attacks[i]);
	}
	/* ptrace is the one the ptrace backend needs: there the pid namespace stops it (ESRCH). */
	if (strcmp(platform, "ptrace") == 0)
		EXPECT_TRUE(strstr(o.out, "attack ptrace-caller: blocked (No such process)") != NULL);
	else
		EXPECT_TRUE(strstr(o.out, "attack ptrace-caller: blocked (seccomp)") != NULL);
	EXPECT_TRUE(strstr(o.out, "ESCAPED") == NULL);
	char host_path[96];
	snprintf(host_path, sizeof(host_path), "/tmp/%s", host_mark);
	EXPECT_NE(access(host_path, F_OK), 0);
	EXPECT_TRUE(strstr(o.out, "the sandbox still runs\n") != NULL);
	EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
	if (harness_failures)
		fprintf(stderr, "  output:\n%s\n", o.out);
	free(o.out);
}

PLATFORM_TEST(run_compromised_sentry_dies_at_a_forbidden_syscall)
{
	attack_fn = attack_and_die;
	char *const argv[] = { "echo", "must not run", NULL };
	struct sentry_opts opts = { .platform = platform };
	struct outcome o;
	run_boxed(&opts, "/bin/echo", argv, &o);
	attack_fn = NULL;
	EXPECT_TRUE(strstr(o.out, "seccomp filter stopped host syscall mount") != NULL);
	EXPECT_TRUE(strstr(o.out, "the sentry was killed by signal 31") != NULL);
	EXPECT_TRUE(strstr(o.out, "must not run") == NULL);
	EXPECT_TRUE(strstr(o.out, "ESCAPED") == NULL);
	EXPECT_FALSE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
	if (harness_failures)
		fprintf(stderr, "  output:\n%s\n", o.out);
	free(o.out);
}

/* The attacker's entry point is in this test binary only: cvisor itself holds none of its code. */
TEST(cvisor_binary_has_no_test_attack_code)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 16);
	ASSERT_GT(n, 0);
	self[n] = 0;
	char *slash = strrchr(self, '/');
	ASSERT_TRUE(slash != NULL);
	strcpy(slash + 1, "cvisor");
	int fd = open(self, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP("%s: %s", self, strerror(errno));
	struct stat st;
	ASSERT_EQ(fstat(fd, &st), 0);
	char *bin = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(bin != MAP_FAILED);
	static const char marker[] = "attack %s: %s (%s)";
	EXPECT_TRUE(memmem(bin, (size_t)st.st_size, marker, sizeof(marker) - 1) == NULL);
	/* while this binary, which has the attacker, does contain it */
	EXPECT_TRUE(strstr(marker, "attack") != NULL);
	munmap(bin, (size_t)st.st_size);
	close(fd);
}
