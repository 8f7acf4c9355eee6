// SPDX-License-Identifier: Apache-2.0
// The sentry's jail: the processes it runs in and the namespaces it gives itself (issue 11).
//
//   caller   (cvisor, or a program calling sentry_run) forwards the signals sent to it to the sentry
//    └─ keeper   (only when not started by root: root's caller does this itself, a fork less) becomes
//        │       root of a user namespace of its own, makes the jail's user namespace and a pid
//        │       namespace, waits for the sentry, gives up its capabilities
//        └─ sentry   pid 1 of the new pid namespace; new mount, network, IPC, UTS and cgroup namespaces;
//                    builds its mount view (view.c) and pivots into it, joins the jail's user namespace
//                    as its uid 0 (an unprivileged host identity), then drops every capability
//                    (confine.c) and runs the sandbox; its stubs are born in all of that.
//
// Identity. Started by root, the jail's user namespace maps its id 0 to the host's 65534 (nobody,
// nogroup) and every other host id to itself except 0, which it leaves unmapped: the sentry reads and
// writes the host's files as nobody would, so root-only files (/etc/shadow) stay closed even to a
// compromised sentry; its --rw directories are idmapped mounts (view.c) on which host root's files are
// the jail's own and what it creates is root's on the disk, as when root writes there natively. Started by
// another user, id 0 is that user and nothing else is mapped (what an unprivileged user namespace
// allows). stat results are given back in host ids (ids.c), the program's credentials are the caller's.
//
// Ending. When the sentry (pid 1) dies, the kernel kills every process of its pid namespace: no stub
// outlives it, whatever killed it. The keeper dies with the caller (PR_SET_PDEATHSIG) and the sentry with
// its parent, so a SIGKILLed cvisor leaves nothing running; the private /tmp and /dev/shm are tmpfs of
// the sentry's mount namespace and vanish with it.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../sentry.h"

#define JAIL_ID 65534u /* the host uid and gid of a sentry started by root */

/* Messages to the caller on the report pipe: the sentry's host pid, how sentry_main() returned, how
 * the sentry process ended (the keeper's word, when it died without returning). */
struct report {
	char tag; /* 'P', 'R', 'W'; 'S': the first process stopped (job control: cvisor stops too) */
	int val;
};

static void say(int fd, char tag, int val)
{
	struct report r = { tag, val };
	ssize_t n = write(fd, &r, sizeof(r));
	(void)n;
}

void jail_report_stop(const struct launch *L, int sig)
{
	if (L && L->report_fd >= 0)
		say(L->report_fd, 'S', sig);
}

/* The first process stopped with @sig: stop as natively it would have (the shell that started us
 * sees "Stopped" and the signal; its SIGCONT reaches the sentry too, in our process group). */
static void stop_like(int sig)
{
	if (sig == SIGSTOP || sig < 1 || sig > 64) {
		raise(SIGSTOP);
		return;
	}
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigaction(sig, &dfl, &old);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	pthread_sigmask(SIG_BLOCK, &one, NULL);
	sigaction(sig, &old, NULL);
}

static int write_text(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int ret = n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

/* The holder of the new user namespace: says whether it made it, then waits to be killed. */
static int userns_holder(void *arg)
{
	char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
	ssize_t n = write(*(int *)arg, &c, 1);
	(void)n;
	for (;;)
		pause();
	return 0;
}

/*
 * The jail's user namespace: a short-lived child unshares it, this process writes its maps and keeps
 * a descriptor of it (the sentry joins it with setns once its mounts are built). An fd, or -errno.
 */

static int make_userns(bool root)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		return -errno;
	/* It shares our memory (nothing to copy: a fork costs a millisecond on a shadow-paging VM). */
	static char stack[16384] __attribute__((aligned(16)));
	pid_t z = clone(userns_holder, stack + sizeof(stack), CLONE_VM | SIGCHLD, &sync[1]);
	if (z < 0) {
		int e = errno;
		close(sync[0]);
		close(sync[1]);
		return -e;
	}
	close(sync[1]);
	char c = 0;
	ssize_t n = read(sync[0], &c, 1);
	close(sync[0]);
	int ret = n == 1 && c == 'u' ? 0 : -EPERM;
	char dir[32];
	snprintf(dir, sizeof(dir), "/proc/%d", (int)z);
	int d = ret == 0 ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (ret == 0 && d < 0)
		ret = -errno;
	if (ret == 0) {
		/* Root: 0 is nobody on the host, every other id itself, the host's 0 unmapped. A user: 0 is
		 * the user (the keeper's own namespace has mapped 0 to the caller already). */
		char map[128];
		if (root)
			snprintf(map, sizeof(map), "0 %u 1\n1 1 %u\n%u %u %u\n", JAIL_ID, JAIL_ID - 1, JAIL_ID + 1,
				 JAIL_ID + 1, 0xffffffffu - (JAIL_ID + 1));
		else
			snprintf(map, sizeof(map), "0 0 1\n");
		if ((ret = write_text(d, "uid_map", map)) == 0)
			ret = write_text(d, "gid_map", map);
	}
	int ns = ret == 0 ? openat(d, "ns/user", O_RDONLY | O_CLOEXEC) : -1;
	if (ret == 0 && ns < 0)
		ret = -errno;
	if (d >= 0)
		close(d);
	kill(z, SIGKILL);
	while (waitpid(z, NULL, 0) < 0 && errno == EINTR)
		;
	return ret < 0 ? ret : ns;
}

/* An unprivileged caller first maps itself to 0 in a user namespace of its own, where it may make the rest. */
static int become_root_of_own_userns(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER) < 0)
		return -errno;
	char map[64];
	int ret = write_text(AT_FDCWD, "/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (ret == 0)
		ret = write_text(AT_FDCWD, "/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (ret == 0)
		ret = write_text(AT_FDCWD, "/proc/self/gid_map", map);
	return ret;
}

/* Close every descriptor but those in @keep (sorted, ascending). */
static void close_others(const int *keep, int n)
{
	unsigned from = 0;
	for (int i = 0; i < n; i++) {
		if (keep[i] < 0)
			continue;
		if ((unsigned)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0u, 0);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The sentry process: pid 1 of its pid namespace. Never returns. */
static void sentry_process(const struct sentry_opts *opts, struct launch *L, int userns, int report, bool root,
			   int caller_pidfd, const char *path, char *const argv[], char *const envp[])
{
	char err[600] = "";
	int ret = 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (L->own_session)
		setsid(); /* before any stub: they are born in it */
	if (caller_pidfd >= 0) { /* did the caller die before that took hold? */
		struct pollfd p = { .fd = caller_pidfd, .events = POLLIN };
		if (poll(&p, 1, 0) != 0)
			_exit(0);
	}
	int keep[] = { 0, 1, 2, L->prog_fd, userns, report, L->ids_fd, caller_pidfd, L->device_fd,
		       opts->control ? opts->control_fd : -1 };
	qsort(keep, sizeof(keep) / sizeof(keep[0]), sizeof(int), cmp_int);
	close_others(keep, sizeof(keep) / sizeof(keep[0])); /* nothing of the caller's but stdio */
	/* Still in the caller's mount namespace (a private one, made for this) and already in the new pid
	 * namespace: a procfs of it on the caller's /proc shows whoever looks there through the caller
	 * (an engine's `top` joins the container process's mount namespace) the sandbox's host processes,
	 * the sentry and its stubs, and nothing else of the host. Root only; else it fails, harmlessly. */
	if (opts->proc_for_caller)
		mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	int new_net = opts->net || opts->netns_made ? 0 : CLONE_NEWNET; /* (OCI create may have made it) */
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | new_net) < 0) {
		ret = -errno;
		snprintf(err, sizeof(err), "cannot make the sentry's namespaces: %s", strerror(errno));
		goto out;
	}
	if (!opts->net && (L->private_net = net_loopback_up()))
		net_private_sysctls(opts, true);
	if (opts->hostname && sethostname(opts->hostname, strlen(opts->hostname)) < 0) { /* our own UTS namespace */
		ret = -errno;
		snprintf(err, sizeof(err), "cannot set the hostname %s: %s", opts->hostname, strerror(errno));
		goto out;
	}
	procfs_keep_host_files(); /* before the host's /proc goes out of view */
	if ((ret = view_build(opts, root ? userns : -1, err, sizeof(err))) < 0)
		goto out;
	/* Now the jail's identity: uid and gid 0 of its user namespace, the host's nobody for root. */
	if (setns(userns, CLONE_NEWUSER) < 0) {
		ret = -errno;
		snprintf(err, sizeof(err), "cannot join the jail's user namespace: %s", strerror(errno));
		goto out;
	}
	close(userns);
	if (setresgid(0, 0, 0) < 0 || (setgroups(0, NULL) < 0 && errno != EPERM) || setresuid(0, 0, 0) < 0) {
		ret = -errno;
		snprintf(err, sizeof(err), "cannot take the jail's identity: %s", strerror(errno));
		goto out;
	}
	/* A change of uid made the process undumpable: its /proc files would be root's, out of its reach. */
	prctl(PR_SET_DUMPABLE, 1);
	/* ... and, started by root (host uid 0 -> 65534, and the fsuid changes of view.c), it cleared the
	 * parent-death signal: armed again, or a SIGKILLed caller would leave the sentry and its program
	 * running. The caller may have died in between: its pidfd says. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (caller_pidfd >= 0) {
		struct pollfd p = { .fd = caller_pidfd, .events = POLLIN };
		if (poll(&p, 1, 0) != 0)
			_exit(0);
		close(caller_pidfd);
	}
	L->confined = true;
	L->self_uid = root ? 0 : L->uid[1];
	L->self_gid = root ? 0 : L->gid[1];
	L->unmapped_uid = root ? 0 : L->overflow_uid;
	L->unmapped_gid = root ? 0 : L->overflow_gid;
	L->report_fd = report;
	ret = sentry_main(opts, L, path, argv, envp);
out:
	if (err[0])
		fprintf(stderr, "cvisor: %s\n", err);
	fflush(NULL);
	say(report, 'R', ret);
	_exit(0);
}

/* The keeper: makes the namespaces the sentry is born in, waits for it, says how it ended. Never returns. */
static void keeper_process(const struct sentry_opts *opts, struct launch *L, int report, pid_t caller,
			   const char *path, char *const argv[], char *const envp[])
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != caller)
		_exit(0);
	bool root = geteuid() == 0;
	int ret = root ? 0 : become_root_of_own_userns();
	const char *what = "a user namespace";
	int userns = ret < 0 ? ret : make_userns(root);
	if (userns >= 0 && unshare(CLONE_NEWPID) < 0) {
		userns = -errno;
		what = "a pid namespace";
	}
	if (userns < 0) {
		fprintf(stderr, "cvisor: cannot make %s for the sentry: %s (--unsafe-no-confine runs without)\n", what,
			strerror(-userns));
		say(report, 'R', userns);
		_exit(0);
	}
	fflush(NULL);
	pid_t s = fork();
	if (s == 0)
		sentry_process(opts, L, userns, report, root, -1, path, argv, envp);
	close(userns);
	char err[200];
	if (s > 0 && confine_privileges(true, err, sizeof(err)) < 0) /* it only waits from now on */
		fprintf(stderr, "cvisor: keeper: %s\n", err);
	if (s < 0) {
		fprintf(stderr, "cvisor: cannot start the sentry: %s\n", strerror(errno));
		say(report, 'R', -errno);
		_exit(0);
	}
	say(report, 'P', (int)s);
	int st = 0;
	while (waitpid(s, &st, 0) < 0 && errno == EINTR)
		;
	say(report, 'W', st);
	_exit(0);
}

/*
 * Root needs no keeper (which costs a fork): the caller makes the jail's user namespace, forks the
 * sentry into a new pid namespace and puts its own later children back in its pid namespace. The
 * sentry's pid, or -errno.
 */
static pid_t spawn_as_root(const struct sentry_opts *opts, struct launch *L, int report, const char *path,
			   char *const argv[], char *const envp[])
{
	int back = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
	int caller = (int)syscall(SYS_pidfd_open, getpid(), 0);
	int userns = back < 0 || caller < 0 ? -errno : make_userns(true);
	const char *what = "a user namespace";
	pid_t s = userns;
	if (userns >= 0 && unshare(CLONE_NEWPID) < 0)
		s = -errno, what = "a pid namespace";
	if (s >= 0) {
		fflush(NULL);
		s = fork();
		if (s == 0)
			sentry_process(opts, L, userns, report, true, caller, path, argv, envp);
		s = s < 0 ? -errno : s;
		if (setns(back, CLONE_NEWPID) < 0) /* not expected for root: it is our own pid namespace */
			fprintf(stderr, "cvisor: cannot return to the caller's pid namespace: %s\n", strerror(errno));
	}
	if (s < 0)
		fprintf(stderr, "cvisor: cannot make %s for the sentry: %s (--unsafe-no-confine runs without)\n", what,
			strerror(-s));
	int fds[] = { back, caller, userns };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return s;
}

static uint32_t read_id(const char *file)
{
	unsigned v = 65534;
	FILE *f = fopen(file, "re");
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 65534;
		fclose(f);
	}
	return v;
}

/* Has this process a controlling terminal? (/proc/self/stat's tty_nr, 0 when not; unreadable: say yes,
 * the side that changes nothing.) */
static bool has_ctty(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	const char *rp = strrchr(buf, ')');
	int tty = 1;
	if (!rp || sscanf(rp, ") %*c %*d %*d %*d %d", &tty) != 1)
		return true;
	return tty != 0;
}

int jail_run(const struct sentry_opts *opts, struct launch *L, const char *path, char *const argv[], char *const envp[])
{
	/* With no terminal anywhere (none on stdio, no controlling one) there is no job control to keep:
	 * the sentry and its stubs take a session of their own, as runsc's sandbox and an OCI container
	 * do. With autogroups (kernel.sched_autogroup_enabled, Debian's default) a session is a
	 * scheduling group, so the sandbox no longer shares one with the caller's other processes: on a
	 * busy machine its hand-offs no longer wait behind them (docs/systrap.md, "Busy machines"). What
	 * reached the sentry through our process group we then forward: SIGCONT, and what the kernel
	 * sends. A caller that leads a session of its own (an OCI create) keeps the sentry in it. On a
	 * terminal the sentry stays in our session and process group: the host's job control (^Z, bg, a
	 * background read) works on it directly. */
	L->own_session = !isatty(0) && !isatty(1) && !isatty(2) && !has_ctty() && getsid(0) != getpid();
	L->overflow_uid = read_id("/proc/sys/kernel/overflowuid");
	L->overflow_gid = read_id("/proc/sys/kernel/overflowgid");
	sigset_t fwd, old;
	sigemptyset(&fwd);
	/* SIGTSTP too: a terminal's ^Z goes to the sandbox's foreground job, and we stop only when the
	 * first process does ('S'), so that a shell inside keeps its own job control. */
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2, SIGTSTP };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&fwd, sigs[i]);
	if (L->own_session)
		sigaddset(&fwd, SIGCONT); /* (blocked, it still continues us) */
	pthread_sigmask(SIG_BLOCK, &fwd, &old); /* the keeper and the sentry inherit the mask */
	int sfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0) {
		int e = errno;
		if (sfd >= 0)
			close(sfd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -e;
	}
	/* k: our child, the keeper or (started by root) the sentry itself */
	pid_t caller = getpid(), k;
	bool direct = geteuid() == 0;
	int ids[2] = { -1, -1 };
	if (direct) {
		k = spawn_as_root(opts, L, rep[1], path, argv, envp);
	} else {
		/* The sentry will ask us whose a file is (ids.c): its namespace maps no one but the caller. */
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ids) == 0)
			L->ids_fd = ids[1];
		fflush(NULL);
		k = fork();
		if (k == 0) {
			close(rep[0]);
			if (sfd >= 0)
				close(sfd);
			if (ids[0] >= 0)
				close(ids[0]);
			keeper_process(opts, L, rep[1], caller, path, argv, envp);
		}
		if (ids[1] >= 0)
			close(ids[1]);
		L->ids_fd = -1;
	}
	close(rep[1]);
	int ret = k < 0 ? (direct ? k : -errno) : -EIO, wstatus = -1;
	int sentry_pidfd = direct && k > 0 ? (int)syscall(SYS_pidfd_open, k, 0) : -1;
	bool returned = false;
	while (k > 0) {
		struct pollfd p[3] = { { .fd = rep[0], .events = POLLIN }, { .fd = sfd, .events = POLLIN },
				       { .fd = ids[0], .events = POLLIN } }; /* poll skips the negative fds */
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sfd >= 0 && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				/* A terminal's signals (SI_KERNEL) reached the sentry already, in our
				 * process group (unless it has a session of its own). */
				if ((L->own_session || si.ssi_code != SI_KERNEL) && sentry_pidfd >= 0)
					syscall(SYS_pidfd_send_signal, sentry_pidfd, (int)si.ssi_signo, NULL, 0);
		}
		if (p[2].revents & POLLIN)
			ids_serve(ids[0]);
		if (!p[0].revents)
			continue;
		struct report r;
		if (read(rep[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
			break; /* EOF: the keeper and the sentry are gone */
		if (r.tag == 'P')
			sentry_pidfd = (int)syscall(SYS_pidfd_open, (pid_t)r.val, 0);
		else if (r.tag == 'R')
			returned = true, ret = r.val;
		else if (r.tag == 'W')
			wstatus = r.val;
		else if (r.tag == 'S')
			stop_like(r.val);
	}
	close(rep[0]);
	if (ids[0] >= 0)
		close(ids[0]);
	if (sentry_pidfd >= 0)
		close(sentry_pidfd);
	int st = 0;
	while (k > 0 && waitpid(k, &st, 0) < 0 && errno == EINTR)
		;
	if (direct && k > 0)
		wstatus = st;
	if (!returned && wstatus != -1 && WIFSIGNALED(wstatus))
		fprintf(stderr, "cvisor: the sentry was killed by signal %d (%s)\n", WTERMSIG(wstatus),
			strsignal(WTERMSIG(wstatus)));
	if (sfd >= 0) { /* what is still pending was for the sentry, not for us */
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(sfd);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}
